//! `kubetally reconcile`: match a cloud bill's lines to what the dataset
//! metered, print what was found, and publish the `reconciliation` table.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::bill::{Bill, FormatChoice};
use crate::reconcile::{self, BillFilter, Scope, metered};
use crate::store::schema::RECONCILIATION;
use crate::store::{Dataset, ObjectTarget, ReconciliationRun, Target, reconciliation_batch};

const EXAMPLES: &str = "\
Examples:
  # GCP's detailed export of the month, against the dataset it paid for
  kubetally reconcile --data /tmp/data --bill gcp_billing_export_2026_11.csv.gz
  # Several files of one period; lines labelled team=platform are the cluster's too
  kubetally reconcile --data s3://bucket/kubetally --bill cur-1.parquet cur-2.parquet \\
    --bill-format aws-cur2 --bill-filter team=platform
  # The simulator's bill of its own cluster, 30 % off the e2 family
  kubetally sim bill --data /tmp/data --format focus --discount e2=30 --egress-usd 12 -o /tmp/bill.csv
  kubetally reconcile --data /tmp/data --bill /tmp/bill.csv";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct ReconcileArgs {
    #[command(flatten)]
    pub dataset: super::data::DataFlags,
    /// Billing exports: FOCUS 1.0–1.3, GCP detailed usage cost, AWS CUR 2.0
    /// (or legacy), Azure cost details; CSV, CSV.gz, JSON lines or Parquet.
    /// Give every file of a period in one run: a run replaces the
    /// reconciliation of each UTC day it covers. A file, or an object's URL
    /// (`s3://bucket/key`, `gs://…`, `az://…`; credentials from the
    /// environment, as for --data).
    #[arg(long, value_name = "PATH|URL", num_args = 1.., required = true)]
    pub bill: Vec<String>,
    /// The export, or `auto` to recognise each file by its columns.
    #[arg(long, value_name = "FORMAT", default_value = "auto")]
    pub bill_format: FormatChoice,
    /// Bill lines with this label are the cluster's too (beyond the cluster
    /// labels the clouds set: goog-k8s-cluster-name, aws:eks:cluster-name,
    /// aks-managed-cluster-name, valued by the cluster's name).
    #[arg(long, value_name = "KEY=VALUE")]
    pub bill_filter: Vec<BillFilter>,
    /// The dataset's cluster (its `cluster=` partition), when it holds
    /// several; also the name its cluster labels are compared with.
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,
}

pub fn run(args: ReconcileArgs) -> anyhow::Result<ExitCode> {
    let root = args.dataset.root()?;
    let cluster = metered::cluster(&root, args.cluster.as_deref())
        .with_context(|| format!("--data {}", args.dataset.data))?;
    let mut bill = Bill::default();
    for location in &args.bill {
        // A bill error names the file, line and column itself.
        match Target::parse(location).with_context(|| format!("--bill {location}"))? {
            Target::Local(path) => bill.read_path(&path, args.bill_format)?,
            Target::Object(object) => {
                let bytes = fetch(&object).with_context(|| format!("--bill {location}"))?;
                bill.read_bytes(location, bytes, args.bill_format)?
            }
        };
    }
    let metered =
        metered::read(&root, &cluster).with_context(|| format!("--data {}", args.dataset.data))?;
    let scope = Scope::new(&cluster, &args.bill_filter);
    let reconciliation = reconcile::reconcile(&bill, &metered, &scope);
    print!("{}", reconciliation.summary);
    if reconciliation.summary.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let names = &args.bill;
    let written = publish(
        &args.dataset.data,
        &cluster,
        &names.join(","),
        &reconciliation,
    )?;
    println!(
        "Wrote {} rows to {} file{} of the reconciliation table ({})",
        reconciliation.rows.len(),
        written.len(),
        if written.len() == 1 { "" } else { "s" },
        written.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

/// Publishes the reconciliation, one file per UTC day of its periods:
/// `reconciliation/cluster=<c>/date=<d>/part-00-reconcile-0000.parquet`,
/// so reconciling a day again replaces that file.
fn publish(
    data: &str,
    cluster: &str,
    bill: &str,
    reconciliation: &reconcile::Reconciliation,
) -> anyhow::Result<Vec<String>> {
    let dataset = Dataset {
        target: Target::parse(data).context("--data")?,
        cluster: cluster.to_owned(),
        writer: "reconcile".to_owned(),
    };
    let run = ReconciliationRun {
        generated_at: chrono::Utc::now(),
        bill,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut written = Vec::new();
    for (date, rows) in reconciliation.by_date() {
        let batch = reconciliation_batch(&run, &rows)?;
        let day = date.and_time(chrono::NaiveTime::MIN).and_utc();
        written.extend(runtime.block_on(dataset.publish(&RECONCILIATION, day, &batch))?);
    }
    Ok(written)
}

/// An object's bytes, on a runtime of its own (the command is otherwise
/// synchronous).
fn fetch(object: &ObjectTarget) -> anyhow::Result<bytes::Bytes> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    Ok(runtime.block_on(object.fetch())?)
}
