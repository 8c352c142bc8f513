//! The pricing catalog file: CSV rows of unit or machine prices, validated.
//!
//! The same format serves the catalog embedded in the binary and the user's
//! `--pricing FILE`, so a user can copy any embedded row, change it, and get
//! exactly the override they expect. Problems are reported by the shared
//! reader in `table`, with their line and column.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;

pub use super::table::{CatalogError, CatalogProblem};
use super::table::{Fields, RowProblems, TableSpec, read_table};

/// The columns of a catalog file, in the order kubetally writes them.
pub const COLUMNS: [&str; 12] = [
    "provider",
    "region",
    "machine_family",
    "machine_type",
    "capacity_type",
    "vcpu_hour_usd",
    "memory_gib_hour_usd",
    "gpu_type",
    "gpu_hour_usd",
    "instance_hour_usd",
    "as_of",
    "source",
];

/// Columns a catalog may leave out of its header entirely.
const OPTIONAL_COLUMNS: [&str; 4] = ["gpu_type", "gpu_hour_usd", "instance_hour_usd", "source"];

/// The price list a row belongs to.
///
/// On-demand, spot and preemptible are how nodes are bought; the committed-use
/// tiers are named discounts that replace on-demand prices when configured
/// (`--commitment cud_1y`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PriceTier {
    OnDemand,
    Spot,
    Preemptible,
    CommittedOneYear,
    CommittedThreeYears,
}

impl PriceTier {
    /// The tier's name in the `capacity_type` column.
    pub fn as_str(self) -> &'static str {
        match self {
            PriceTier::OnDemand => "on_demand",
            PriceTier::Spot => "spot",
            PriceTier::Preemptible => "preemptible",
            PriceTier::CommittedOneYear => "cud_1y",
            PriceTier::CommittedThreeYears => "cud_3y",
        }
    }
}

impl fmt::Display for PriceTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PriceTier {
    type Err = String;

    fn from_str(s: &str) -> Result<PriceTier, String> {
        match s {
            "on_demand" => Ok(PriceTier::OnDemand),
            "spot" => Ok(PriceTier::Spot),
            "preemptible" => Ok(PriceTier::Preemptible),
            "cud_1y" => Ok(PriceTier::CommittedOneYear),
            "cud_3y" => Ok(PriceTier::CommittedThreeYears),
            _ => Err(format!(
                "unknown capacity type {s:?} (expected on_demand, spot, preemptible, cud_1y or cud_3y)"
            )),
        }
    }
}

/// What a row prices.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RowPrice {
    /// Per vCPU-hour and per GiB-hour: a family-wide (or provider-wide) rate.
    Units {
        vcpu_hour_usd: f64,
        memory_gib_hour_usd: f64,
    },
    /// A whole machine type per hour (AWS, Azure, GCP C2/T2D).
    Instance { instance_hour_usd: f64 },
    /// One GPU per hour.
    Gpu { gpu_hour_usd: f64 },
}

/// One validated catalog row.
///
/// Empty `region`, `machine_family` and `machine_type` are wildcards: a row
/// with an empty region prices every region of its provider, one with an empty
/// family every family. Names are kept lowercase except machine types, which
/// keep the provider's spelling (`Standard_D4s_v5`).
#[derive(Debug, Clone, PartialEq)]
pub struct PriceRow {
    pub provider: String,
    pub region: String,
    pub machine_family: String,
    pub machine_type: String,
    pub tier: PriceTier,
    pub gpu_type: String,
    pub price: RowPrice,
    /// The date the price was read from its source; `None` when the source is undated.
    pub as_of: Option<NaiveDate>,
    pub source: String,
    /// Where the row came from, for messages: `embedded` or the file path.
    pub origin: RowOrigin,
    /// 1-based line in its file.
    pub line: usize,
}

/// Whether a row ships in the binary or came from the user's `--pricing` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowOrigin {
    Embedded,
    User,
}

/// The identity of a row: two rows with the same key price the same thing.
pub type RowKey = (String, String, String, String, PriceTier, String);

impl PriceRow {
    /// The identity that must be unique within one file.
    pub fn key(&self) -> RowKey {
        (
            self.provider.clone(),
            self.region.clone(),
            self.machine_family.clone(),
            self.machine_type.clone(),
            self.tier,
            self.gpu_type.clone(),
        )
    }
}

/// Parses and validates catalog CSV text.
///
/// `origin` names the file in messages.
///
/// # Errors
///
/// [`CatalogError`] listing every problem: a missing header column, a bad
/// number, an unknown capacity type, a row without a price, a bad date, a
/// duplicate key.
pub fn parse_catalog(
    text: &str,
    origin: &str,
    row_origin: RowOrigin,
) -> Result<Vec<PriceRow>, CatalogError> {
    let spec = TableSpec {
        columns: &COLUMNS,
        optional: &OPTIONAL_COLUMNS,
        key_description: "provider, region, machine_family, machine_type, capacity_type and gpu_type",
    };
    read_table(text, origin, &spec, parse_row(row_origin), PriceRow::key)
}

/// The parser of one catalog row whose [`PriceRow::origin`] is `origin`.
fn parse_row(origin: RowOrigin) -> impl Fn(&Fields<'_>, &mut RowProblems<'_>) -> Option<PriceRow> {
    move |fields, problems| parse_price_row(fields, origin, problems)
}

fn parse_price_row(
    fields: &Fields<'_>,
    origin: RowOrigin,
    problems: &mut RowProblems<'_>,
) -> Option<PriceRow> {
    let provider = fields.get("provider").to_ascii_lowercase();
    if provider.is_empty() {
        problems.add(
            "provider",
            "empty: every row names its provider (gcp, aws, azure, …)".to_owned(),
        );
    }
    let tier = match fields.get("capacity_type").parse::<PriceTier>() {
        Ok(tier) => Some(tier),
        Err(message) => {
            problems.add("capacity_type", message);
            None
        }
    };
    let vcpu = problems.price("vcpu_hour_usd", fields.get("vcpu_hour_usd"));
    let memory = problems.price("memory_gib_hour_usd", fields.get("memory_gib_hour_usd"));
    let gpu = problems.price("gpu_hour_usd", fields.get("gpu_hour_usd"));
    let instance = problems.price("instance_hour_usd", fields.get("instance_hour_usd"));
    let gpu_type = fields.get("gpu_type").to_ascii_lowercase();
    let machine_type = fields.get("machine_type").to_owned();
    let as_of = problems.date("as_of", fields.get("as_of"));
    if problems.found {
        return None;
    }
    let price = match (vcpu, memory, instance, gpu, gpu_type.is_empty()) {
        (Some(vcpu_hour_usd), Some(memory_gib_hour_usd), None, None, true) => RowPrice::Units {
            vcpu_hour_usd,
            memory_gib_hour_usd,
        },
        (None, None, Some(instance_hour_usd), None, true) if !machine_type.is_empty() => {
            RowPrice::Instance { instance_hour_usd }
        }
        (None, None, Some(_), None, true) => {
            problems.add(
                "machine_type",
                "empty: instance_hour_usd prices one machine type, name it".to_owned(),
            );
            return None;
        }
        (None, None, None, Some(gpu_hour_usd), false) => RowPrice::Gpu { gpu_hour_usd },
        (Some(_), None, None, None, true) => {
            problems.add(
                "memory_gib_hour_usd",
                "empty while vcpu_hour_usd is given: a unit rate needs both".to_owned(),
            );
            return None;
        }
        (None, Some(_), None, None, true) => {
            problems.add(
                "vcpu_hour_usd",
                "empty while memory_gib_hour_usd is given: a unit rate needs both".to_owned(),
            );
            return None;
        }
        (None, None, None, None, false) => {
            problems.add("gpu_hour_usd", "empty while gpu_type is given".to_owned());
            return None;
        }
        (None, None, None, Some(_), true) => {
            problems.add("gpu_type", "empty while gpu_hour_usd is given".to_owned());
            return None;
        }
        (None, None, None, None, true) => {
            problems.add(
                "vcpu_hour_usd",
                "no price: give vcpu_hour_usd and memory_gib_hour_usd, or instance_hour_usd, or gpu_type and gpu_hour_usd".to_owned(),
            );
            return None;
        }
        _ => {
            problems.add(
                "instance_hour_usd",
                "more than one kind of price: a row holds unit rates, an instance price or a GPU price, not several".to_owned(),
            );
            return None;
        }
    };
    Some(PriceRow {
        provider,
        region: fields.get("region").to_ascii_lowercase(),
        machine_family: fields.get("machine_family").to_ascii_lowercase(),
        machine_type,
        tier: tier?,
        gpu_type,
        price,
        as_of,
        source: fields.get("source").to_owned(),
        origin,
        line: fields.line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "provider,region,machine_family,machine_type,capacity_type,vcpu_hour_usd,memory_gib_hour_usd,gpu_type,gpu_hour_usd,instance_hour_usd,as_of,source\n";

    fn problems(body: &str) -> Vec<String> {
        match parse_catalog(&format!("{HEADER}{body}"), "test.csv", RowOrigin::User) {
            Ok(rows) => panic!("expected problems, got {} rows", rows.len()),
            Err(error) => error.problems.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn parses_unit_instance_and_gpu_rows() -> Result<(), CatalogError> {
        let rows = parse_catalog(
            &format!(
                "{HEADER}gcp,us-central1,E2,,on_demand,0.021811,0.002923,,,,2025-01-01,docs\n\
                 aws,us-east-1,m5,m5.large,spot,,,,,0.0322,,snapshot\n\
                 gcp,us-central1,,,on_demand,,,nvidia-tesla-t4,0.35,,,x\n"
            ),
            "test.csv",
            RowOrigin::User,
        )?;
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].machine_family, "e2");
        assert_eq!(
            rows[0].price,
            RowPrice::Units {
                vcpu_hour_usd: 0.021811,
                memory_gib_hour_usd: 0.002923
            }
        );
        assert_eq!(
            rows[1].price,
            RowPrice::Instance {
                instance_hour_usd: 0.0322
            }
        );
        assert_eq!(rows[1].as_of, None);
        assert_eq!(rows[2].price, RowPrice::Gpu { gpu_hour_usd: 0.35 });
        assert_eq!(rows[2].line, 4);
        Ok(())
    }

    #[test]
    fn bad_number_names_line_and_column() {
        assert_eq!(
            problems(
                "gcp,us-central1,e2,,on_demand,0.02,0.003,,,,,\ngcp,us-east1,e2,,on_demand,abc,0.003,,,,,\n"
            ),
            vec![r#"line 3, column vcpu_hour_usd: bad number "abc""#]
        );
        assert_eq!(
            problems("gcp,us-east1,e2,,on_demand,-1,0.003,,,,,\n"),
            vec![
                r#"line 2, column vcpu_hour_usd: bad number "-1": a price is finite and not negative"#
            ]
        );
    }

    #[test]
    fn unknown_capacity_type_and_bad_date_are_named() {
        let found = problems("gcp,us-east1,e2,,reserved,0.02,0.003,,,,2025-13-01,\n");
        assert_eq!(found.len(), 2);
        assert!(
            found[0]
                .starts_with("line 2, column capacity_type: unknown capacity type \"reserved\"")
        );
        assert!(found[1].starts_with("line 2, column as_of: bad date \"2025-13-01\""));
    }

    #[test]
    fn duplicate_keys_point_at_the_first_line() {
        assert_eq!(
            problems(
                "gcp,us-east1,e2,,spot,0.02,0.003,,,,,\ngcp,US-EAST1,E2,,spot,0.03,0.004,,,,,\n"
            ),
            vec![
                "line 3: duplicate key (same provider, region, machine_family, machine_type, capacity_type and gpu_type as line 2)"
            ]
        );
    }

    #[test]
    fn missing_header_columns_are_each_named() {
        let error = parse_catalog("provider,region\ngcp,us\n", "x.csv", RowOrigin::User)
            .expect_err("header lacks columns");
        let columns: Vec<_> = error
            .problems
            .iter()
            .filter_map(|p| p.column.clone())
            .collect();
        assert_eq!(
            columns,
            [
                "machine_family",
                "machine_type",
                "capacity_type",
                "vcpu_hour_usd",
                "memory_gib_hour_usd",
                "as_of"
            ]
        );
        assert!(error.problems.iter().all(|p| p.line == 1));
    }

    #[test]
    fn rows_without_a_price_or_with_half_a_price_are_rejected() {
        assert_eq!(
            problems("gcp,us-east1,e2,,spot,0.02,,,,,,\n"),
            vec![
                "line 2, column memory_gib_hour_usd: empty while vcpu_hour_usd is given: a unit rate needs both"
            ]
        );
        assert_eq!(problems("gcp,us-east1,e2,,spot,,,,,,,\n").len(), 1);
        assert_eq!(
            problems("aws,us-east-1,m5,,on_demand,,,,,0.1,,\n"),
            vec![
                "line 2, column machine_type: empty: instance_hour_usd prices one machine type, name it"
            ]
        );
        assert_eq!(
            problems("gcp,us-east1,e2,,spot,0.02,0.003,,,0.1,,\n").len(),
            1
        );
    }

    #[test]
    fn ragged_rows_are_reported_with_their_line() {
        let found = problems("gcp,us-east1,e2,,spot,0.02,0.003\n");
        assert_eq!(found, vec!["line 2: 7 fields where the header has 12"]);
    }

    #[test]
    fn optional_columns_may_be_absent() -> Result<(), CatalogError> {
        let rows = parse_catalog(
            "provider,region,machine_family,machine_type,capacity_type,vcpu_hour_usd,memory_gib_hour_usd,as_of\n\
             onprem,,,,on_demand,0.02,0.003,\n",
            "x.csv",
            RowOrigin::User,
        )?;
        assert_eq!(rows[0].provider, "onprem");
        assert_eq!(rows[0].region, "");
        Ok(())
    }
}
