//! `kubetally pricing show|validate`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use comfy_table::{Table, presets};
use serde_json::json;

use crate::model::{CapacityType, Provider};
use crate::pricing::{
    self, COLUMNS, HOURS_PER_MONTH, NodeClass, PriceBook, PriceRow, PricingFile, PricingOptions,
    RESOURCE_COLUMNS, ResourceKind, ResourceRow, RowPrice, SustainedUse, reference_region,
};

/// `kubetally pricing --help`: one example of each subcommand.
const PRICING_EXAMPLES: &str = "\
Examples:
  kubetally pricing show --provider gcp --region europe-west1 --family n2d
  kubetally pricing show --machine-type e2-standard-4 --region us-central1 --format json
  kubetally pricing show --resources --kind disk --provider aws
  kubetally pricing validate prices.csv";

#[derive(Debug, Args)]
#[command(after_help = PRICING_EXAMPLES)]
pub struct PricingArgs {
    #[command(subcommand)]
    pub command: PricingCommand,
}

#[derive(Debug, Subcommand)]
pub enum PricingCommand {
    /// List catalog rows, or price one machine type with --machine-type.
    Show(Box<ShowArgs>),
    /// Check a pricing CSV file; exit 2 with one line per problem.
    Validate(ValidateArgs),
}

/// Flags that build the price book; shared by every command that prices nodes.
#[derive(Debug, Clone, Args)]
pub struct PricingFlags {
    /// Pricing CSV whose rows override or extend the embedded prices: machine
    /// rows (catalog columns) or resource rows (a `kind` column). Repeatable;
    /// a later file's row replaces an earlier one with the same key.
    #[arg(long, value_name = "FILE")]
    pub pricing: Vec<PathBuf>,
    /// Percent off on-demand and committed prices: PERCENT, or FAMILY=PERCENT (repeatable).
    #[arg(long, value_name = "[FAMILY=]PERCENT")]
    pub discount: Vec<String>,
    /// Price on-demand nodes at a committed-use tier: cud_1y, cud_3y, or FAMILY=TIER (repeatable).
    #[arg(long, value_name = "[FAMILY=]TIER")]
    pub commitment: Vec<String>,
    /// Assume GCE sustained-use discounts: none (list prices) or full-month.
    #[arg(long, value_name = "MODE", default_value = "none")]
    pub sustained_use: SustainedUse,
    /// On-demand USD per vCPU-hour for nodes no catalog row prices.
    #[arg(long, value_name = "USD")]
    pub default_vcpu_hour_usd: Option<f64>,
    /// On-demand USD per GiB-hour for nodes no catalog row prices.
    #[arg(long, value_name = "USD")]
    pub default_memory_gib_hour_usd: Option<f64>,
    /// The cluster management fee tier (a `cluster_fee` row's sku:
    /// standard, extended_support, free, …) or `none`. Default: GKE and EKS
    /// standard, AKS free.
    #[arg(long, value_name = "TIER")]
    pub cluster_tier: Option<String>,
}

impl PricingFlags {
    /// Builds the price book these flags describe.
    ///
    /// # Errors
    ///
    /// An unreadable or invalid pricing file (naming its first problem), or a
    /// bad discount, commitment or rate.
    pub fn build(&self) -> anyhow::Result<PriceBook> {
        self.build_billed(pricing::Billing::Auto)
    }

    /// Builds the price book these flags describe, billing compute as
    /// `billing` says (`collect --billing`).
    ///
    /// # Errors
    ///
    /// As [`PricingFlags::build`].
    pub fn build_billed(&self, billing: pricing::Billing) -> anyhow::Result<PriceBook> {
        let mut options = PricingOptions {
            sustained_use: self.sustained_use,
            cluster_tier: self.cluster_tier.clone(),
            billing,
            ..PricingOptions::default()
        };
        for spec in &self.discount {
            options.add_discount(spec).map_err(anyhow::Error::msg)?;
        }
        for spec in &self.commitment {
            options.add_commitment(spec).map_err(anyhow::Error::msg)?;
        }
        for (flag, value, slot) in [
            (
                "--default-vcpu-hour-usd",
                self.default_vcpu_hour_usd,
                &mut options.default_rates.vcpu_hour_usd,
            ),
            (
                "--default-memory-gib-hour-usd",
                self.default_memory_gib_hour_usd,
                &mut options.default_rates.memory_gib_hour_usd,
            ),
        ] {
            if let Some(value) = value {
                if !(value.is_finite() && value > 0.0) {
                    bail!("{flag} {value}: expected a positive price");
                }
                *slot = value;
            }
        }
        let (mut machine_rows, mut resource_rows) = (Vec::new(), Vec::new());
        for path in &self.pricing {
            let text = read_pricing_text(path)?;
            match pricing::parse_pricing_file(&text, &path.display().to_string())? {
                PricingFile::Machines(rows) => machine_rows.extend(rows),
                PricingFile::Resources(rows) => resource_rows.extend(rows),
            }
        }
        let book = PriceBook::new(machine_rows, options)?.with_resource_rows(resource_rows);
        check_cluster_tier(&book)?;
        Ok(book)
    }
}

/// A `--cluster-tier` no `cluster_fee` row has is a typo, not a free
/// cluster: said at start-up rather than as unpriced rows every hour.
fn check_cluster_tier(book: &PriceBook) -> anyhow::Result<()> {
    let Some(tier) = book.options().cluster_tier.as_deref() else {
        return Ok(());
    };
    let tiers: std::collections::BTreeSet<&str> = book
        .resources()
        .rows()
        .into_iter()
        .filter(|row| row.kind == pricing::ResourceKind::ClusterFee)
        .map(|row| row.sku.as_str())
        .collect();
    if tier != "none" && !tiers.iter().any(|known| known.eq_ignore_ascii_case(tier)) {
        bail!(
            "--cluster-tier {tier}: no cluster_fee row has this tier (known: {}, or none); add one with --pricing",
            tiers.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

fn read_pricing_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("reading pricing file {}", path.display()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PricingFormat {
    Table,
    Json,
    Csv,
}

const SHOW_EXAMPLES: &str = "\
Examples:
  # The catalog rows of one machine family in one region
  kubetally pricing show --provider gcp --region europe-west1 --family n2d
  # One machine type's hourly price, at spot rates
  kubetally pricing show --machine-type n2-standard-8 --region us-west1 --capacity spot
  # Your own rows and a 20% discount, as the collector would price them
  kubetally pricing show --machine-type e2-standard-4 --pricing prices.csv --discount 20";

#[derive(Debug, Args)]
#[command(after_help = SHOW_EXAMPLES)]
pub struct ShowArgs {
    /// Only rows of this provider (gcp, aws, azure, …).
    #[arg(long)]
    pub provider: Option<String>,
    /// Only rows of this region (wildcard rows included).
    #[arg(long)]
    pub region: Option<String>,
    /// Only rows of this machine family (e2, n2d, m5, …).
    #[arg(long)]
    pub family: Option<String>,
    /// Price this machine type instead of listing rows.
    #[arg(long, value_name = "TYPE")]
    pub machine_type: Option<String>,
    /// List resource prices (disks, load balancers, cluster fees, Autopilot) instead of machine rows.
    #[arg(long, conflicts_with_all = ["machine_type", "family"])]
    pub resources: bool,
    /// Only resource rows of this kind: disk, load_balancer, cluster_fee or autopilot (implies --resources).
    #[arg(long, value_parser = parse_kind, conflicts_with_all = ["machine_type", "family"])]
    pub kind: Option<ResourceKind>,
    /// Capacity type to price the machine type at.
    #[arg(long, value_name = "TYPE", default_value = "on_demand", value_parser = parse_capacity)]
    pub capacity: CapacityType,
    /// vCPUs of a machine type the catalog does not know.
    #[arg(long)]
    pub vcpus: Option<f64>,
    /// Memory (GiB) of a machine type the catalog does not know.
    #[arg(long)]
    pub memory_gib: Option<f64>,
    /// GPUs attached to the machine.
    #[arg(long, default_value_t = 0)]
    pub gpus: u32,
    /// GPU model (nvidia-tesla-t4, nvidia-l4, …).
    #[arg(long, value_name = "TYPE", default_value = "")]
    pub gpu_type: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: PricingFormat,
    #[command(flatten)]
    pub pricing: PricingFlags,
}

fn parse_kind(text: &str) -> Result<ResourceKind, String> {
    text.to_ascii_lowercase().parse()
}

fn parse_capacity(text: &str) -> Result<CapacityType, String> {
    text.parse()
        .map_err(|error: crate::model::UnknownName| error.to_string())
}

const VALIDATE_EXAMPLES: &str = "\
Examples:
  # Start from the effective catalog (same columns), edit, then check
  kubetally pricing show --format csv > prices.csv
  kubetally pricing validate prices.csv
  # The same for disks, load balancers, cluster fees and Autopilot
  kubetally pricing show --resources --format csv > resources.csv
  kubetally pricing validate resources.csv";

#[derive(Debug, Args)]
#[command(after_help = VALIDATE_EXAMPLES)]
pub struct ValidateArgs {
    /// The pricing CSV file to check (machine or resource prices, by its header).
    pub file: PathBuf,
}

pub fn run(args: PricingArgs) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match args.command {
        PricingCommand::Show(show) => {
            let book = show.pricing.build()?;
            match &show.machine_type {
                Some(machine_type) => show_machine(&mut out, &book, &show, machine_type)?,
                None if show.resources || show.kind.is_some() => {
                    show_resource_rows(&mut out, &book, &show)?
                }
                None => show_rows(&mut out, &book, &show)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        PricingCommand::Validate(validate) => self::validate(&mut out, &validate.file),
    }
}

/// The provider a bare machine-type name belongs to, by naming convention.
fn provider_of_machine_type(machine_type: &str) -> Provider {
    if machine_type.starts_with("Standard_") {
        Provider::Azure
    } else if machine_type.contains('.') {
        Provider::Aws
    } else {
        Provider::Gcp
    }
}

fn show_machine(
    out: &mut impl Write,
    book: &PriceBook,
    show: &ShowArgs,
    machine_type: &str,
) -> anyhow::Result<()> {
    let provider = show.provider.as_deref().map_or_else(
        || provider_of_machine_type(machine_type),
        Provider::from_name,
    );
    let region = match (&show.region, reference_region(&provider)) {
        (Some(region), _) => region.to_ascii_lowercase(),
        (None, Some(reference)) => reference.to_owned(),
        (None, None) => bail!("--region is required for provider {provider}"),
    };
    let shape = book.shapes().get(provider.as_str(), machine_type);
    let (vcpus, memory_gib) = match (&shape, show.vcpus, show.memory_gib) {
        (_, Some(vcpus), Some(memory_gib)) => (vcpus, memory_gib),
        (Some(shape), _, _) => (shape.vcpus, shape.memory_gib),
        (None, _, _) => bail!(
            "unknown machine type {machine_type:?} for provider {provider}: give --vcpus and --memory-gib to price it at the default rate"
        ),
    };
    let class = NodeClass {
        machine_family: pricing::family_from_name(provider.as_str(), machine_type)
            .or_else(|| shape.as_ref().map(|s| s.machine_family.clone()))
            .unwrap_or_default(),
        provider,
        region,
        zone: String::new(),
        machine_type: machine_type.to_owned(),
        capacity_type: show.capacity,
        gpu_type: show.gpu_type.to_ascii_lowercase(),
        vcpus,
        memory_gib,
        gpus: show.gpus,
    };
    let price = book.price(&class);
    let total = price.total_hourly_usd();
    let report = json!({
        "provider": class.provider.as_str(),
        "machine_type": class.machine_type,
        "machine_family": class.machine_family,
        "region": class.region,
        "priced_region": price.priced_region,
        "capacity_type": class.capacity_type.as_str(),
        "price_tier": price.tier.as_str(),
        "vcpus": price.vcpus,
        "billed_vcpus": price.billed_vcpus,
        "memory_gib": price.memory_gib,
        "gpus": price.gpus,
        "hourly_usd": total,
        "cpu_hourly_usd": price.cpu_hourly_usd,
        "memory_hourly_usd": price.memory_hourly_usd,
        "gpu_hourly_usd": price.gpu_hourly_usd,
        "cpu_core_hour_usd": price.cpu_core_hour_usd(),
        "memory_gib_hour_usd": price.memory_gib_hour_usd(),
        "monthly_usd": total * HOURS_PER_MONTH,
        "price_source": price.price_source.as_str(),
        "as_of": price.as_of.map(|date| date.to_string()),
        "source": price.source,
        "adjustments": price.adjustments,
    });
    match show.format {
        PricingFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        PricingFormat::Table | PricingFormat::Csv => {
            let Some(fields) = report.as_object() else {
                bail!("internal: price report is not an object")
            };
            if show.format == PricingFormat::Csv {
                let mut writer = csv::Writer::from_writer(out);
                writer.write_record(fields.keys())?;
                writer.write_record(fields.values().map(plain))?;
                writer.flush()?;
            } else {
                let mut table = Table::new();
                table.load_preset(presets::NOTHING);
                for (key, value) in fields {
                    table.add_row(vec![key.clone(), plain(value)]);
                }
                writeln!(out, "{table}")?;
            }
        }
    }
    Ok(())
}

fn plain(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Null => String::new(),
        serde_json::Value::Array(items) => items.iter().map(plain).collect::<Vec<_>>().join("; "),
        other => other.to_string(),
    }
}

fn show_rows(out: &mut impl Write, book: &PriceBook, show: &ShowArgs) -> anyhow::Result<()> {
    let rows: Vec<&PriceRow> = book
        .rows()
        .iter()
        .filter(|row| in_place(show, &row.provider, &row.region))
        .filter(|row| {
            show.family
                .as_ref()
                .is_none_or(|f| f.eq_ignore_ascii_case(&row.machine_family))
        })
        .collect();
    let cells = |row: &PriceRow| -> [String; 12] {
        let (vcpu, memory, gpu, instance) = match row.price {
            RowPrice::Units {
                vcpu_hour_usd,
                memory_gib_hour_usd,
            } => (Some(vcpu_hour_usd), Some(memory_gib_hour_usd), None, None),
            RowPrice::Instance { instance_hour_usd } => (None, None, None, Some(instance_hour_usd)),
            RowPrice::Gpu { gpu_hour_usd } => (None, None, Some(gpu_hour_usd), None),
        };
        let number = |value: Option<f64>| value.map(|v| v.to_string()).unwrap_or_default();
        [
            row.provider.clone(),
            row.region.clone(),
            row.machine_family.clone(),
            row.machine_type.clone(),
            row.tier.to_string(),
            number(vcpu),
            number(memory),
            row.gpu_type.clone(),
            number(gpu),
            number(instance),
            row.as_of.map(|d| d.to_string()).unwrap_or_default(),
            row.source.clone(),
        ]
    };
    let cells: Vec<Vec<String>> = rows.into_iter().map(|row| cells(row).to_vec()).collect();
    write_rows(out, show.format, &COLUMNS, &cells)
}

/// Lists the effective resource rows, filtered by provider, region and kind.
fn show_resource_rows(
    out: &mut impl Write,
    book: &PriceBook,
    show: &ShowArgs,
) -> anyhow::Result<()> {
    let cells: Vec<Vec<String>> = book
        .resources()
        .rows()
        .into_iter()
        .filter(|row| in_place(show, &row.provider, &row.region))
        .filter(|row| show.kind.is_none_or(|kind| row.kind == kind))
        .map(|row: &ResourceRow| {
            vec![
                row.kind.to_string(),
                row.provider.clone(),
                row.region.clone(),
                row.sku.clone(),
                row.capacity_type().to_owned(),
                row.unit.to_string(),
                row.usd.to_string(),
                row.as_of.map(|d| d.to_string()).unwrap_or_default(),
                row.source.clone(),
            ]
        })
        .collect();
    write_rows(out, show.format, &RESOURCE_COLUMNS, &cells)
}

/// Whether a row of `provider` and `region` passes `--provider` and
/// `--region`; a row for every region (empty) passes any `--region`.
fn in_place(show: &ShowArgs, provider: &str, region: &str) -> bool {
    show.provider
        .as_ref()
        .is_none_or(|p| p.eq_ignore_ascii_case(provider))
        && show
            .region
            .as_ref()
            .is_none_or(|r| region.is_empty() || r.eq_ignore_ascii_case(region))
}

/// Writes rows of `columns` as CSV (a valid `--pricing` file), JSON objects
/// or a table; the table leaves out the long last column, `source`.
fn write_rows(
    out: &mut impl Write,
    format: PricingFormat,
    columns: &[&str],
    rows: &[Vec<String>],
) -> anyhow::Result<()> {
    match format {
        PricingFormat::Csv => {
            let mut writer = csv::Writer::from_writer(out);
            writer.write_record(columns)?;
            for row in rows {
                writer.write_record(row)?;
            }
            writer.flush()?;
        }
        PricingFormat::Json => {
            let items: Vec<_> = rows
                .iter()
                .map(|row| {
                    columns
                        .iter()
                        .zip(row)
                        .map(|(key, value)| {
                            (key.to_string(), serde_json::Value::String(value.clone()))
                        })
                        .collect::<serde_json::Map<_, _>>()
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&items)?)?;
        }
        PricingFormat::Table => {
            let shown = columns.len() - 1;
            let mut table = Table::new();
            table.load_preset(presets::ASCII_MARKDOWN);
            // The source column is long; the table shows what a reader scans for.
            table.set_header(&columns[..shown]);
            for row in rows {
                table.add_row(row[..shown].to_vec());
            }
            writeln!(out, "{table}")?;
            writeln!(
                out,
                "{} rows; prices in USD. `--format csv` adds each row's source.",
                rows.len()
            )?;
        }
    }
    Ok(())
}

fn validate(out: &mut impl Write, file: &Path) -> anyhow::Result<ExitCode> {
    let text = read_pricing_text(file)?;
    let name = file.display().to_string();
    let embedded = PriceBook::new(Vec::new(), PricingOptions::default())?;
    match pricing::parse_pricing_file(&text, &name) {
        Ok(PricingFile::Machines(rows)) => {
            let count = |wanted: fn(&RowPrice) -> bool| {
                rows.iter().filter(|row| wanted(&row.price)).count()
            };
            let keys: std::collections::HashSet<_> =
                embedded.rows().iter().map(PriceRow::key).collect();
            let overrides = rows.iter().filter(|row| keys.contains(&row.key())).count();
            writeln!(
                out,
                "{name}: OK, {} rows ({} unit rates, {} machine types, {} GPU rates) for {}; {overrides} override embedded rows, {} add new ones.",
                rows.len(),
                count(|p| matches!(p, RowPrice::Units { .. })),
                count(|p| matches!(p, RowPrice::Instance { .. })),
                count(|p| matches!(p, RowPrice::Gpu { .. })),
                providers(rows.iter().map(|row| row.provider.as_str())),
                rows.len() - overrides,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Ok(PricingFile::Resources(rows)) => {
            let overrides = rows
                .iter()
                .filter(|row| embedded.resources().contains(&row.key()))
                .count();
            let kinds: Vec<String> = ResourceKind::ALL
                .into_iter()
                .map(|kind| {
                    let count = rows.iter().filter(|row| row.kind == kind).count();
                    format!("{count} {kind}")
                })
                .collect();
            writeln!(
                out,
                "{name}: OK, {} resource rows ({}) for {}; {overrides} override embedded rows, {} add new ones.",
                rows.len(),
                kinds.join(", "),
                providers(rows.iter().map(|row| row.provider.as_str())),
                rows.len() - overrides,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            let mut err = std::io::stderr().lock();
            for problem in &error.problems {
                writeln!(err, "{name}: {problem}")?;
            }
            writeln!(
                err,
                "{name}: {} problem(s); nothing was loaded.",
                error.problems.len()
            )?;
            Ok(ExitCode::from(2))
        }
    }
}

/// The distinct providers of a file's rows, sorted, for a summary line.
fn providers<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let mut names: Vec<&str> = names.collect();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        "no provider".to_owned()
    } else {
        names.join(", ")
    }
}
