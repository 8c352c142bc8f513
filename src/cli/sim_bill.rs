//! `kubetally sim bill`: the bill a dataset's cluster would get, written by
//! `sim::bill` from what the dataset metered (read by `reconcile`, which
//! `sim` may not import, so the two meet here).

use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::reconcile::metered;
use crate::sim::bill::{BillSpec, Export, write_bill};

const EXAMPLES: &str = "\
Examples:
  # A FOCUS bill of the demo cluster: e2 30 % off, 12 USD of internet egress
  kubetally sim bill --data /tmp/data --format focus --discount e2=30 --egress-usd 12 -o /tmp/bill.csv
  # GCP's detailed export: a committed-use discount on e2, sustained use on n1
  kubetally sim bill --data /tmp/data --format gcp --discount e2=30 --sustained-use n1=20 -o /tmp/gcp.csv
  kubetally reconcile --data /tmp/data --bill /tmp/gcp.csv";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BillFormat {
    Focus,
    Gcp,
    #[value(name = "aws-cur2")]
    AwsCur2,
    Azure,
}

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct BillArgs {
    #[command(flatten)]
    pub dataset: super::data::DataFlags,
    /// The dataset's cluster, when it holds several; the bill labels its
    /// resources with this name.
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,
    /// The export to write: FOCUS holds every cloud's resources, the others
    /// only their own cloud's.
    #[arg(long, value_enum)]
    pub format: BillFormat,
    /// A discount off list on a machine family (`e2`), a resource sku
    /// (`pd-balanced`) or a kind (`disk`, `load_balancer`, `cluster_fee`):
    /// GCP committed-use credits, AWS savings plans, a negotiated price on
    /// Azure and in FOCUS.
    #[arg(long, value_name = "FAMILY=PCT")]
    pub discount: Vec<Rate>,
    /// GCP sustained-use credits on a family (other formats add it to the
    /// family's discount).
    #[arg(long, value_name = "FAMILY=PCT")]
    pub sustained_use: Vec<Rate>,
    /// One internet egress line of this many USD, labelled as the
    /// cluster's: a cost kubetally does not meter.
    #[arg(long, value_name = "USD", default_value_t = 0.0)]
    pub egress_usd: f64,
    /// Where to write the bill (CSV).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub out: PathBuf,
}

/// `FAMILY=PCT`: a percentage off list for a family.
#[derive(Debug, Clone, PartialEq)]
pub struct Rate {
    pub family: String,
    pub fraction: f64,
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (family, pct) = text
            .split_once('=')
            .ok_or_else(|| format!("{text:?} is not FAMILY=PCT"))?;
        let pct: f64 = pct
            .trim()
            .trim_end_matches('%')
            .parse()
            .map_err(|_| format!("{text:?}: {pct:?} is not a percentage"))?;
        if family.is_empty() || !(0.0..=100.0).contains(&pct) {
            return Err(format!("{text:?}: expected a family and 0 to 100 percent"));
        }
        Ok(Rate {
            family: family.to_owned(),
            fraction: pct / 100.0,
        })
    }
}

pub fn run(args: BillArgs) -> anyhow::Result<ExitCode> {
    if !(args.egress_usd.is_finite() && args.egress_usd >= 0.0) {
        anyhow::bail!("--egress-usd {}: expected 0 or more", args.egress_usd);
    }
    let root = args.dataset.root()?;
    let cluster = metered::cluster(&root, args.cluster.as_deref())
        .with_context(|| format!("--data {}", args.dataset.data))?;
    let metered =
        metered::read(&root, &cluster).with_context(|| format!("--data {}", args.dataset.data))?;
    let pairs = |rates: &[Rate]| -> Vec<(String, f64)> {
        rates
            .iter()
            .map(|r| (r.family.clone(), r.fraction))
            .collect()
    };
    let spec = BillSpec {
        export: match args.format {
            BillFormat::Focus => Export::Focus,
            BillFormat::Gcp => Export::Gcp,
            BillFormat::AwsCur2 => Export::AwsCur2,
            BillFormat::Azure => Export::Azure,
        },
        cluster: cluster.clone(),
        discounts: pairs(&args.discount),
        sustained: pairs(&args.sustained_use),
        egress_usd: args.egress_usd,
    };
    let file = std::fs::File::create(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let lines = write_bill(&metered, &spec, std::io::BufWriter::new(file))
        .with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "kubetally sim bill: {lines} lines of cluster {cluster}'s bill written to {}",
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_is_a_family_and_a_percentage() {
        let rate: Rate = "e2=30".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rate.family, "e2");
        assert!((rate.fraction - 0.3).abs() < 1e-12);
        assert!("e2=30%".parse::<Rate>().is_ok());
        assert!("e2=130".parse::<Rate>().is_err());
        assert!("e2".parse::<Rate>().is_err());
        assert!("=5".parse::<Rate>().is_err());
    }
}
