//! The resource price file: what a cluster pays for besides its nodes —
//! disks, load balancers, the cluster management fee and GKE Autopilot pods.
//!
//! These prices have other keys and units than machine prices (a disk is
//! priced per GiB-month by type, a load balancer per hour, an Autopilot pod
//! per requested vCPU-hour), so they live in a second CSV format rather than
//! in extra columns of the machine catalog that most rows would leave empty.
//! A file's header tells the two apart: a header with a `kind` column is a
//! resource file (see [`is_resource_header`]). The same format serves the
//! embedded `data/resources.csv` and a user's `--pricing FILE`.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;

use super::book::HOURS_PER_MONTH;
use super::catalog::RowOrigin;
use super::table::{CatalogError, Fields, RowProblems, TableSpec, header_columns, read_table};

/// The columns of a resource price file, in the order kubetally writes them.
pub const RESOURCE_COLUMNS: [&str; 9] = [
    "kind",
    "provider",
    "region",
    "sku",
    "capacity_type",
    "unit",
    "usd",
    "as_of",
    "source",
];

/// Columns a resource file may leave out of its header entirely.
const OPTIONAL_RESOURCE_COLUMNS: [&str; 2] = ["capacity_type", "source"];

/// Whether a header (its column names) is a resource price file's rather than
/// a machine catalog's: it names a `kind` column, which the machine catalog
/// never has.
pub fn is_resource_header<S: AsRef<str>>(columns: &[S]) -> bool {
    columns.iter().any(|column| column.as_ref() == "kind")
}

/// Whether `text` is a resource price file, by its header.
pub fn is_resource_file(text: &str) -> bool {
    header_columns(text).is_some_and(|columns| is_resource_header(&columns))
}

/// What a resource row prices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceKind {
    /// A persistent disk, by type (`pd-balanced`, `gp3`, Azure tier `P10_LRS`).
    Disk,
    /// A load balancer or forwarding rule, by kind (`clb`, `forwarding_rule`).
    LoadBalancer,
    /// The managed control plane, by tier (`standard`, `extended_support`).
    ClusterFee,
    /// A GKE Autopilot pod's requested resources, by compute class.
    Autopilot,
}

impl ResourceKind {
    /// Every kind, in file order.
    pub const ALL: [ResourceKind; 4] = [
        ResourceKind::Disk,
        ResourceKind::LoadBalancer,
        ResourceKind::ClusterFee,
        ResourceKind::Autopilot,
    ];

    /// The kind's name in the `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Disk => "disk",
            ResourceKind::LoadBalancer => "load_balancer",
            ResourceKind::ClusterFee => "cluster_fee",
            ResourceKind::Autopilot => "autopilot",
        }
    }

    /// The units a row of this kind may be priced in.
    pub fn units(self) -> &'static [ResourceUnit] {
        match self {
            ResourceKind::Disk => &[ResourceUnit::GibMonth, ResourceUnit::DiskMonth],
            ResourceKind::LoadBalancer | ResourceKind::ClusterFee => &[ResourceUnit::Hour],
            ResourceKind::Autopilot => &[
                ResourceUnit::VcpuHour,
                ResourceUnit::GibHour,
                ResourceUnit::EphemeralGibHour,
            ],
        }
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ResourceKind {
    type Err = String;

    fn from_str(s: &str) -> Result<ResourceKind, String> {
        ResourceKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown kind {s:?} (expected disk, load_balancer, cluster_fee or autopilot)"
                )
            })
    }
}

/// What one `usd` of a row buys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceUnit {
    /// One GiB of provisioned disk for a month.
    GibMonth,
    /// One whole disk for a month (Azure's size tiers).
    DiskMonth,
    /// One load balancer or cluster for an hour.
    Hour,
    /// One requested vCPU for an hour.
    VcpuHour,
    /// One requested GiB of memory for an hour.
    GibHour,
    /// One requested GiB of ephemeral storage for an hour.
    EphemeralGibHour,
}

impl ResourceUnit {
    const ALL: [ResourceUnit; 6] = [
        ResourceUnit::GibMonth,
        ResourceUnit::DiskMonth,
        ResourceUnit::Hour,
        ResourceUnit::VcpuHour,
        ResourceUnit::GibHour,
        ResourceUnit::EphemeralGibHour,
    ];

    /// The unit's name in the `unit` column.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceUnit::GibMonth => "gib_month",
            ResourceUnit::DiskMonth => "disk_month",
            ResourceUnit::Hour => "hour",
            ResourceUnit::VcpuHour => "vcpu_hour",
            ResourceUnit::GibHour => "gib_hour",
            ResourceUnit::EphemeralGibHour => "ephemeral_gib_hour",
        }
    }

    /// Hours one unit spans: [`HOURS_PER_MONTH`] for monthly units, else 1.
    pub fn hours(self) -> f64 {
        match self {
            ResourceUnit::GibMonth | ResourceUnit::DiskMonth => HOURS_PER_MONTH,
            _ => 1.0,
        }
    }

    /// What the unit measures. Two rows that measure the same thing of the
    /// same SKU price it twice (a disk type per GiB and per disk), so the
    /// measure, not the unit, is part of a row's key.
    pub fn measure(self) -> Measure {
        match self {
            ResourceUnit::GibMonth | ResourceUnit::DiskMonth | ResourceUnit::Hour => Measure::Whole,
            ResourceUnit::VcpuHour => Measure::Cpu,
            ResourceUnit::GibHour => Measure::Memory,
            ResourceUnit::EphemeralGibHour => Measure::Ephemeral,
        }
    }
}

impl fmt::Display for ResourceUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ResourceUnit {
    type Err = String;

    fn from_str(s: &str) -> Result<ResourceUnit, String> {
        ResourceUnit::ALL
            .into_iter()
            .find(|unit| unit.as_str() == s)
            .ok_or_else(|| {
                format!("unknown unit {s:?} (expected gib_month, disk_month, hour, vcpu_hour, gib_hour or ephemeral_gib_hour)")
            })
    }
}

/// What a row's unit measures; see [`ResourceUnit::measure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Measure {
    Whole,
    Cpu,
    Memory,
    Ephemeral,
}

/// One validated resource price row.
///
/// An empty `region` prices every region of its provider. `provider` and
/// `region` are kept lowercase; `sku` keeps the provider's spelling
/// (`Premium_LRS`) and is compared case-insensitively.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceRow {
    pub kind: ResourceKind,
    pub provider: String,
    pub region: String,
    pub sku: String,
    /// Spot price (only Autopilot has one); `capacity_type` `spot`.
    pub spot: bool,
    pub unit: ResourceUnit,
    pub usd: f64,
    /// The date the price was read from its source; `None` when undated.
    pub as_of: Option<NaiveDate>,
    pub source: String,
    pub origin: RowOrigin,
    /// 1-based line in its file.
    pub line: usize,
}

/// The identity of a resource row: two rows with the same key price the same thing.
pub type ResourceKey = (ResourceKind, String, String, String, bool, Measure);

impl ResourceRow {
    /// The identity that must be unique within one file.
    pub fn key(&self) -> ResourceKey {
        (
            self.kind,
            self.provider.clone(),
            self.region.clone(),
            self.sku.to_ascii_lowercase(),
            self.spot,
            self.unit.measure(),
        )
    }

    /// The row's `capacity_type` column: `spot` or `on_demand`.
    pub fn capacity_type(&self) -> &'static str {
        if self.spot { "spot" } else { "on_demand" }
    }
}

/// Parses and validates resource price CSV text; `origin` names the file in messages.
///
/// # Errors
///
/// [`CatalogError`] listing every problem: a missing header column, an
/// unknown kind or unit, a unit that does not fit the kind, a bad or
/// negative number, a bad date, a duplicate key.
pub fn parse_resources(
    text: &str,
    origin: &str,
    row_origin: RowOrigin,
) -> Result<Vec<ResourceRow>, CatalogError> {
    let spec = TableSpec {
        columns: &RESOURCE_COLUMNS,
        optional: &OPTIONAL_RESOURCE_COLUMNS,
        key_description: "kind, provider, region, sku, capacity_type and measured quantity",
    };
    read_table(
        text,
        origin,
        &spec,
        move |fields, problems| parse_resource_row(fields, row_origin, problems),
        ResourceRow::key,
    )
}

fn parse_resource_row(
    fields: &Fields<'_>,
    origin: RowOrigin,
    problems: &mut RowProblems<'_>,
) -> Option<ResourceRow> {
    let kind = fields
        .get("kind")
        .to_ascii_lowercase()
        .parse::<ResourceKind>()
        .map_err(|message| problems.add("kind", message))
        .ok();
    let provider = problems
        .required(
            "provider",
            fields.get("provider"),
            "every row names its provider (gcp, aws, azure, …)",
        )
        .to_ascii_lowercase();
    let sku = problems
        .required(
            "sku",
            fields.get("sku"),
            "every row names what it prices (pd-balanced, clb, standard, general-purpose, …)",
        )
        .to_owned();
    let unit = fields
        .get("unit")
        .to_ascii_lowercase()
        .parse::<ResourceUnit>()
        .map_err(|message| problems.add("unit", message))
        .ok();
    let spot = match fields.get("capacity_type").to_ascii_lowercase().as_str() {
        "" | "on_demand" => Some(false),
        "spot" => Some(true),
        other => {
            problems.add(
                "capacity_type",
                format!("unknown capacity type {other:?} (expected on_demand or spot, or empty)"),
            );
            None
        }
    };
    let usd_text = problems.required("usd", fields.get("usd"), "every row has a price");
    let usd = problems.price("usd", usd_text);
    let as_of = problems.date("as_of", fields.get("as_of"));
    let (kind, unit, spot, usd) = (kind?, unit?, spot?, usd?);
    if problems.found {
        return None;
    }
    if !kind.units().contains(&unit) {
        let expected: Vec<&str> = kind.units().iter().map(|unit| unit.as_str()).collect();
        problems.add(
            "unit",
            format!(
                "{unit} does not fit kind {kind} (expected {})",
                expected.join(" or ")
            ),
        );
        return None;
    }
    if spot && kind != ResourceKind::Autopilot {
        problems.add(
            "capacity_type",
            format!("spot: only autopilot rows have a spot price, not {kind}"),
        );
        return None;
    }
    if kind == ResourceKind::Autopilot && provider != "gcp" {
        problems.add(
            "provider",
            format!("{provider:?}: autopilot rows are GKE's, provider gcp"),
        );
        return None;
    }
    Some(ResourceRow {
        kind,
        provider,
        region: fields.get("region").to_ascii_lowercase(),
        sku,
        spot,
        unit,
        usd,
        as_of,
        source: fields.get("source").to_owned(),
        origin,
        line: fields.line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "kind,provider,region,sku,capacity_type,unit,usd,as_of,source\n";

    fn parse(body: &str) -> Result<Vec<ResourceRow>, CatalogError> {
        parse_resources(&format!("{HEADER}{body}"), "res.csv", RowOrigin::User)
    }

    fn problems(body: &str) -> Vec<String> {
        match parse(body) {
            Ok(rows) => panic!("expected problems, got {} rows", rows.len()),
            Err(error) => error.problems.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn parses_every_kind_and_keeps_the_sku_spelling() -> Result<(), CatalogError> {
        let rows = parse(
            "disk,GCP,us-central1,pd-balanced,,gib_month,0.1,2026-07-30,cyclenerd\n\
             disk,azure,eastus,P4_LRS,,disk_month,5.27,,focus sample\n\
             load_balancer,aws,us-west-2,clb,,hour,0.025,,sample\n\
             cluster_fee,gcp,,standard,on_demand,hour,0.10,,gke page\n\
             autopilot,gcp,us-central1,general-purpose,spot,vcpu_hour,0.0133,,3p\n\
             autopilot,gcp,us-central1,general-purpose,spot,gib_hour,0.0014767,,3p\n",
        )?;
        assert_eq!(rows.len(), 6);
        assert_eq!(
            (rows[0].kind, rows[0].provider.as_str(), rows[0].usd),
            (ResourceKind::Disk, "gcp", 0.1)
        );
        assert_eq!((rows[1].sku.as_str(), rows[1].line), ("P4_LRS", 3));
        assert_eq!(rows[3].region, "");
        assert!(rows[4].spot && !rows[3].spot);
        assert_eq!(rows[5].unit, ResourceUnit::GibHour);
        Ok(())
    }

    #[test]
    fn capacity_type_and_source_may_be_left_out_of_the_header() -> Result<(), CatalogError> {
        let rows = parse_resources(
            "kind,provider,region,sku,unit,usd,as_of\ndisk,aws,us-east-1,gp3,gib_month,0.08,\n",
            "res.csv",
            RowOrigin::User,
        )?;
        assert_eq!((rows[0].spot, rows[0].source.as_str()), (false, ""));
        Ok(())
    }

    #[test]
    fn bad_and_negative_numbers_name_line_and_column() {
        assert_eq!(
            problems("disk,gcp,us-central1,pd-ssd,,gib_month,0.17x,,\n"),
            vec![r#"line 2, column usd: bad number "0.17x""#]
        );
        assert_eq!(
            problems("disk,gcp,us-central1,pd-ssd,,gib_month,-0.17,,\n"),
            vec![r#"line 2, column usd: bad number "-0.17": a price is finite and not negative"#]
        );
        assert_eq!(
            problems("disk,gcp,us-central1,pd-ssd,,gib_month,,,\n"),
            vec!["line 2, column usd: empty: every row has a price"]
        );
        assert_eq!(
            problems("disk,gcp,us-central1,pd-ssd,,gib_month,NaN,,\n"),
            vec![r#"line 2, column usd: bad number "NaN": a price is finite and not negative"#]
        );
    }

    #[test]
    fn unknown_kinds_units_and_capacity_types_are_named() {
        let found = problems("volume,gcp,us-central1,pd-ssd,reserved,gb_month,0.17,2026-02-30,\n");
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(found[0].starts_with(r#"line 2, column kind: unknown kind "volume""#));
        assert!(found[1].starts_with(r#"line 2, column unit: unknown unit "gb_month""#));
        assert!(
            found[2]
                .starts_with(r#"line 2, column capacity_type: unknown capacity type "reserved""#)
        );
        assert!(found[3].starts_with(r#"line 2, column as_of: bad date "2026-02-30""#));
    }

    #[test]
    fn units_must_fit_the_kind_and_spot_and_autopilot_rules_hold() {
        assert_eq!(
            problems("load_balancer,aws,us-east-1,clb,,gib_month,0.025,,\n"),
            vec!["line 2, column unit: gib_month does not fit kind load_balancer (expected hour)"]
        );
        assert_eq!(
            problems("disk,gcp,us-central1,pd-ssd,spot,gib_month,0.1,,\n"),
            vec![
                "line 2, column capacity_type: spot: only autopilot rows have a spot price, not disk"
            ]
        );
        assert_eq!(
            problems("autopilot,aws,us-east-1,general-purpose,,vcpu_hour,0.04,,\n"),
            vec![r#"line 2, column provider: "aws": autopilot rows are GKE's, provider gcp"#]
        );
        assert_eq!(
            problems("disk,,us-east-1,,,gib_month,0.08,,\n"),
            vec![
                "line 2, column provider: empty: every row names its provider (gcp, aws, azure, …)",
                "line 2, column sku: empty: every row names what it prices (pd-balanced, clb, standard, general-purpose, …)",
            ]
        );
    }

    #[test]
    fn duplicates_compare_sku_case_insensitively_and_the_disk_basis_too() {
        assert_eq!(
            problems(
                "disk,azure,eastus,Premium_LRS,,gib_month,0.1,,\ndisk,azure,eastus,premium_lrs,,disk_month,5,,\n"
            ),
            vec![
                "line 3: duplicate key (same kind, provider, region, sku, capacity_type and measured quantity as line 2)"
            ]
        );
        // Autopilot rows of one class differ by what they measure, and by spot.
        assert!(
            parse(
                "autopilot,gcp,r,gp,,vcpu_hour,1,,\nautopilot,gcp,r,gp,,gib_hour,1,,\nautopilot,gcp,r,gp,spot,vcpu_hour,1,,\n"
            )
            .is_ok()
        );
    }

    #[test]
    fn missing_columns_and_ragged_rows_are_reported() {
        let error = parse_resources(
            "kind,provider,sku\ndisk,gcp,x\n",
            "res.csv",
            RowOrigin::User,
        )
        .expect_err("header lacks columns");
        let missing: Vec<_> = error.problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            missing,
            [
                "line 1, column region: missing from the header",
                "line 1, column unit: missing from the header",
                "line 1, column usd: missing from the header",
                "line 1, column as_of: missing from the header",
            ]
        );
        assert_eq!(
            problems("disk,gcp,us-central1,pd-ssd\n"),
            vec!["line 2: 4 fields where the header has 9"]
        );
    }

    #[test]
    fn a_header_with_a_kind_column_is_a_resource_file() {
        assert!(is_resource_file(HEADER));
        assert!(!is_resource_file(
            "provider,region,machine_family,machine_type,capacity_type\n"
        ));
        assert!(!is_resource_file(""));
    }

    #[test]
    fn monthly_units_span_730_hours() {
        assert_eq!(ResourceUnit::GibMonth.hours(), 730.0);
        assert_eq!(ResourceUnit::DiskMonth.hours(), 730.0);
        assert_eq!(ResourceUnit::VcpuHour.hours(), 1.0);
    }
}
