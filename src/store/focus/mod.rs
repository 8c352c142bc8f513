//! The FOCUS 1.3 cost-and-usage file kubetally exports: its columns, their
//! types, and how rows become Parquet or CSV that is published whole.
//!
//! This module knows the file, not what goes in it: an exporter
//! ([`crate::focus`] holds every rule of what each column says) hands it
//! charges, each a [`ChargeCells`] (the columns every row of a split
//! charge shares) followed by its rows' [`LineCells`] (costs, quantity and
//! who consumed it). [`COLUMNS`] lays them out in the specification's
//! column order, then kubetally's `x_` columns. Prices are in the billing
//! currency, so the `PricingCurrency*` columns repeat the billing ones. A
//! column kubetally never fills (commitment discounts, capacity
//! reservations) is still written, as nulls of its type, so a reader sees
//! all 65 FOCUS 1.3 columns.
//!
//! The split between a charge and its lines is what makes an export of
//! ~80 M rows fast: [`batch::FocusBatch`] keeps a charge's text once and
//! each row as a key to it, and [`writer::GroupEncoder`] turns a batch into
//! an encoded row group on whichever thread made it, so the export's
//! threads share the encoding ([`writer`]).
//!
//! Publishing is the dataset's: every file is written under a staging name
//! and renamed into place (or sent in one PUT) only once every file of the
//! export has been encoded, so a failure leaves nothing half-written.

pub mod batch;
pub mod writer;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, Utc};

use crate::model::fixed::{Fixed, SCALE};

pub use batch::FocusBatch;
pub use writer::{Destination, EncodedGroup, FocusWriter, GroupEncoder};

/// The folder of `kubetally query`'s `focus` table inside a dataset:
/// `kubetally export focus -o <dataset>/focus` puts the export there.
pub const TABLE: &str = "focus";

/// The partition column of a directory export: `billing_period=YYYY-MM`.
pub const PARTITION: &str = "billing_period";

/// Rows per Parquet row group (and per CSV chunk): a batch is encoded once
/// it holds this many (plus the rest of the charge it is in).
pub const ROWS_PER_GROUP: usize = 64 * 1024;

/// The columns written with Parquet statistics: those a warehouse filters
/// FOCUS rows on (the periods, which the export writes in order, so row
/// groups prune well; the account, provider, service, region, cluster and
/// tenant). Every other column's min/max would prune no query and cost a
/// comparison per value (5 % of an export's time on text alone); on
/// decimals they also cost memory (`writer::properties`).
const STATISTICS_COLUMNS: [&str; 12] = [
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "BillingAccountId",
    "SubAccountId",
    "ProviderName",
    "ServiceName",
    "ServiceCategory",
    "RegionId",
    "x_ClusterName",
    "x_Tenant",
];

/// Columns whose values rarely repeat within a row group (each allocated
/// row's costs, quantities, ratio and consumer), written without a
/// dictionary.
const UNIQUE_COLUMNS: [&str; 10] = [
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "PricingQuantity",
    "ConsumedQuantity",
    "PricingCurrencyEffectiveCost",
    "AllocatedMethodDetails",
    "AllocatedResourceId",
    "AllocatedResourceName",
];

/// Column names that writers, queries and tests name.
pub mod col {
    pub const BILLED_COST: &str = "BilledCost";
    pub const EFFECTIVE_COST: &str = "EffectiveCost";
    pub const LIST_COST: &str = "ListCost";
    pub const CONTRACTED_COST: &str = "ContractedCost";
    pub const PRICING_QUANTITY: &str = "PricingQuantity";
    pub const CONSUMED_QUANTITY: &str = "ConsumedQuantity";
    pub const ALLOCATED_METHOD_ID: &str = "AllocatedMethodId";
    pub const ALLOCATED_METHOD_DETAILS: &str = "AllocatedMethodDetails";
    pub const ALLOCATED_RESOURCE_ID: &str = "AllocatedResourceId";
    pub const ALLOCATED_TAGS: &str = "AllocatedTags";
    pub const CHARGE_PERIOD_START: &str = "ChargePeriodStart";
    pub const RESOURCE_ID: &str = "ResourceId";
    pub const SPLIT_ORIGIN_ID: &str = "x_SplitOriginId";
    pub const SPLIT_ORIGIN_COST: &str = "x_SplitOriginCost";
    pub const TENANT: &str = "x_Tenant";
}

/// A column's FOCUS data type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// String.
    Text,
    /// Decimal: Parquet `DECIMAL(38, 12)`, CSV plain decimal notation.
    Decimal,
    /// Date/Time: UTC, millisecond timestamps; CSV `YYYY-MM-DDTHH:mm:ssZ`.
    DateTime,
    /// JSON object, serialized as a string.
    Json,
}

/// One value of a row, borrowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Null,
    /// Text shared by many rows (a charge's, a consumer's).
    Shared(&'a Arc<str>),
    /// Text of this row alone.
    Text(&'a str),
    Decimal(Fixed),
    DateTime(DateTime<Utc>),
}

impl<'a> From<&'a Text> for Cell<'a> {
    fn from(value: &'a Text) -> Cell<'a> {
        value.as_ref().map_or(Cell::Null, Cell::Shared)
    }
}

impl<'a> From<Option<&'a Arc<str>>> for Cell<'a> {
    fn from(value: Option<&'a Arc<str>>) -> Cell<'a> {
        value.map_or(Cell::Null, Cell::Shared)
    }
}

impl From<Option<Fixed>> for Cell<'_> {
    fn from(value: Option<Fixed>) -> Self {
        value.map_or(Cell::Null, Cell::Decimal)
    }
}

/// A text cell: shared, because the rows split from one charge repeat most
/// of its columns, and a clone of an `Arc<str>` is a counter, not a copy
/// (an export of a 150,000-pod week is ~80 M rows of 50 text columns).
pub type Text = Option<Arc<str>>;

/// The columns every row of one charge shares: all but its rows' costs,
/// quantity and consumer ([`LineCells`]). A field left `None` is null.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChargeCells {
    pub provider_name: Text,
    pub publisher_name: Text,
    pub service_provider_name: Text,
    pub host_provider_name: Text,
    pub invoice_issuer_name: Text,
    pub billing_account_id: Text,
    pub billing_account_name: Text,
    pub billing_account_type: Text,
    pub sub_account_id: Text,
    pub sub_account_name: Text,
    pub sub_account_type: Text,
    pub billing_period_start: Option<DateTime<Utc>>,
    pub billing_period_end: Option<DateTime<Utc>>,
    pub charge_period_start: Option<DateTime<Utc>>,
    pub charge_period_end: Option<DateTime<Utc>>,
    pub charge_category: Text,
    pub charge_description: Text,
    pub charge_frequency: Text,
    pub list_unit_price: Option<Fixed>,
    pub contracted_unit_price: Option<Fixed>,
    pub pricing_category: Text,
    pub pricing_unit: Text,
    pub billing_currency: Text,
    pub consumed_unit: Text,
    pub service_name: Text,
    pub service_category: Text,
    pub service_subcategory: Text,
    pub sku_id: Text,
    pub sku_meter: Text,
    pub resource_id: Text,
    pub resource_name: Text,
    pub resource_type: Text,
    pub region_id: Text,
    pub availability_zone: Text,
    pub allocated_method_id: Text,
    pub tags: Text,
    pub x_split_origin_id: Text,
    pub x_split_origin_cost: Option<Fixed>,
    pub x_cluster_name: Text,
    pub x_node_pool: Text,
    pub x_cost_basis: Text,
    pub x_price_source: Text,
}

/// One row of a charge: its costs, its quantity (PricingQuantity =
/// ConsumedQuantity) and, for an allocated row, who consumed it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LineCells<'a> {
    pub billed_cost: Fixed,
    pub effective_cost: Fixed,
    pub list_cost: Fixed,
    pub contracted_cost: Fixed,
    pub quantity: Fixed,
    pub allocated_method_details: Option<&'a str>,
    pub allocated_resource_id: Option<&'a Arc<str>>,
    pub allocated_resource_name: Option<&'a Arc<str>>,
    pub allocated_tags: Option<&'a Arc<str>>,
    pub x_tenant: Option<&'a Arc<str>>,
}

/// Where a column's values come from.
#[derive(Clone, Copy)]
pub enum Source {
    /// Never filled: null in every row.
    Null,
    /// The charge's: the same in all its rows.
    Charge(fn(&ChargeCells) -> Cell<'_>),
    /// Each row's own.
    Line(for<'a> fn(&'a LineCells<'a>) -> Cell<'a>),
}

/// One column of the file: its name, type, and where a row keeps it.
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub source: Source,
    /// Text made anew for each row ([`Cell::Text`]), kept as plain
    /// strings; other text is shared and kept as a dictionary.
    pub plain: bool,
}

impl Column {
    /// The column's value in a row of `charge`.
    pub fn value<'a>(&self, charge: &'a ChargeCells, line: &'a LineCells<'a>) -> Cell<'a> {
        match self.source {
            Source::Null => Cell::Null,
            Source::Charge(value) => value(charge),
            Source::Line(value) => value(line),
        }
    }
}

fn time(value: Option<DateTime<Utc>>) -> Cell<'static> {
    value.map_or(Cell::Null, Cell::DateTime)
}

macro_rules! column {
    ($name:literal, $kind:ident, null) => {
        Column {
            name: $name,
            kind: Kind::$kind,
            source: Source::Null,
            plain: false,
        }
    };
    ($name:literal, Decimal, line $field:ident) => {
        Column {
            name: $name,
            kind: Kind::Decimal,
            source: Source::Line(|line| Cell::Decimal(line.$field)),
            plain: false,
        }
    };
    ($name:literal, $kind:ident, line_text $field:ident) => {
        Column {
            name: $name,
            kind: Kind::$kind,
            source: Source::Line(|line| line.$field.map_or(Cell::Null, Cell::Text)),
            plain: true,
        }
    };
    ($name:literal, $kind:ident, line $field:ident) => {
        Column {
            name: $name,
            kind: Kind::$kind,
            source: Source::Line(|line| Cell::from(line.$field)),
            plain: false,
        }
    };
    ($name:literal, DateTime, $field:ident) => {
        Column {
            name: $name,
            kind: Kind::DateTime,
            source: Source::Charge(|charge| time(charge.$field)),
            plain: false,
        }
    };
    ($name:literal, Decimal, $field:ident) => {
        Column {
            name: $name,
            kind: Kind::Decimal,
            source: Source::Charge(|charge| Cell::from(charge.$field)),
            plain: false,
        }
    };
    ($name:literal, $kind:ident, $field:ident) => {
        Column {
            name: $name,
            kind: Kind::$kind,
            source: Source::Charge(|charge| Cell::from(&charge.$field)),
            plain: false,
        }
    };
}

/// The FOCUS 1.3 Cost and Usage columns in the specification's order (the
/// 65 of `columns.mdpp`, as the focus-data-toolkit's 1.3 samples list
/// them), then kubetally's `x_` columns.
pub static COLUMNS: [Column; 72] = [
    column!("ProviderName", Text, provider_name),
    column!("PublisherName", Text, publisher_name),
    column!("ServiceProviderName", Text, service_provider_name),
    column!("HostProviderName", Text, host_provider_name),
    column!("InvoiceIssuerName", Text, invoice_issuer_name),
    column!("InvoiceId", Text, null),
    column!("BillingAccountId", Text, billing_account_id),
    column!("BillingAccountName", Text, billing_account_name),
    column!("BillingAccountType", Text, billing_account_type),
    column!("SubAccountId", Text, sub_account_id),
    column!("SubAccountName", Text, sub_account_name),
    column!("SubAccountType", Text, sub_account_type),
    column!("BillingPeriodStart", DateTime, billing_period_start),
    column!("BillingPeriodEnd", DateTime, billing_period_end),
    column!("ChargePeriodStart", DateTime, charge_period_start),
    column!("ChargePeriodEnd", DateTime, charge_period_end),
    column!("ChargeCategory", Text, charge_category),
    column!("ChargeClass", Text, null),
    column!("ChargeDescription", Text, charge_description),
    column!("ChargeFrequency", Text, charge_frequency),
    column!("BilledCost", Decimal, line billed_cost),
    column!("EffectiveCost", Decimal, line effective_cost),
    column!("ListCost", Decimal, line list_cost),
    column!("ContractedCost", Decimal, line contracted_cost),
    column!("ListUnitPrice", Decimal, list_unit_price),
    column!("ContractedUnitPrice", Decimal, contracted_unit_price),
    column!("PricingCategory", Text, pricing_category),
    column!("PricingQuantity", Decimal, line quantity),
    column!("PricingUnit", Text, pricing_unit),
    column!("PricingCurrency", Text, billing_currency),
    column!(
        "PricingCurrencyContractedUnitPrice",
        Decimal,
        contracted_unit_price
    ),
    column!("PricingCurrencyEffectiveCost", Decimal, line effective_cost),
    column!("PricingCurrencyListUnitPrice", Decimal, list_unit_price),
    column!("BillingCurrency", Text, billing_currency),
    column!("ConsumedQuantity", Decimal, line quantity),
    column!("ConsumedUnit", Text, consumed_unit),
    column!("ServiceName", Text, service_name),
    column!("ServiceCategory", Text, service_category),
    column!("ServiceSubcategory", Text, service_subcategory),
    column!("SkuId", Text, sku_id),
    column!("SkuMeter", Text, sku_meter),
    column!("SkuPriceId", Text, null),
    column!("SkuPriceDetails", Json, null),
    column!("ResourceId", Text, resource_id),
    column!("ResourceName", Text, resource_name),
    column!("ResourceType", Text, resource_type),
    column!("RegionId", Text, region_id),
    column!("RegionName", Text, null),
    column!("AvailabilityZone", Text, availability_zone),
    column!("CommitmentDiscountId", Text, null),
    column!("CommitmentDiscountName", Text, null),
    column!("CommitmentDiscountCategory", Text, null),
    column!("CommitmentDiscountType", Text, null),
    column!("CommitmentDiscountStatus", Text, null),
    column!("CommitmentDiscountQuantity", Decimal, null),
    column!("CommitmentDiscountUnit", Text, null),
    column!("ContractApplied", Json, null),
    column!("CapacityReservationId", Text, null),
    column!("CapacityReservationStatus", Text, null),
    column!("AllocatedMethodId", Text, allocated_method_id),
    column!("AllocatedMethodDetails", Json, line_text allocated_method_details),
    column!("AllocatedResourceId", Text, line allocated_resource_id),
    column!("AllocatedResourceName", Text, line allocated_resource_name),
    column!("AllocatedTags", Json, line allocated_tags),
    column!("Tags", Json, tags),
    column!("x_SplitOriginId", Text, x_split_origin_id),
    column!("x_SplitOriginCost", Decimal, x_split_origin_cost),
    column!("x_Tenant", Text, line x_tenant),
    column!("x_ClusterName", Text, x_cluster_name),
    column!("x_NodePool", Text, x_node_pool),
    column!("x_CostBasis", Text, x_cost_basis),
    column!("x_PriceSource", Text, x_price_source),
];

/// How many of [`COLUMNS`] are FOCUS's own (the rest are `x_` columns).
pub const FOCUS_COLUMNS: usize = 65;

/// The Arrow schema of the file, as readers see it: text is `Utf8`.
pub fn schema() -> SchemaRef {
    let fields: Vec<Field> = COLUMNS
        .iter()
        .map(|column| Field::new(column.name, data_type(column.kind), true))
        .collect();
    Arc::new(Schema::new(fields))
}

/// The Arrow schema of a [`FocusBatch`] in memory: shared text is a
/// `Dictionary(Int32, Utf8)`, which Parquet stores as the same `UTF8`
/// column as a plain string array.
pub(crate) fn memory_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let fields: Vec<Field> = COLUMNS
                .iter()
                .map(|column| {
                    let plain = data_type(column.kind);
                    let data_type = if is_keyed(column) {
                        DataType::Dictionary(Box::new(DataType::Int32), Box::new(plain))
                    } else {
                        plain
                    };
                    Field::new(column.name, data_type, true)
                })
                .collect();
            Arc::new(Schema::new(fields))
        })
        .clone()
}

/// Whether a column's text is kept as keys into the batch's shared values.
fn is_keyed(column: &Column) -> bool {
    matches!(column.kind, Kind::Text | Kind::Json)
        && !column.plain
        && !matches!(column.source, Source::Null)
}

fn data_type(kind: Kind) -> DataType {
    match kind {
        Kind::Text | Kind::Json => DataType::Utf8,
        Kind::Decimal => DataType::Decimal128(38, SCALE as i8),
        Kind::DateTime => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
    }
}

/// File format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Parquet,
    Csv,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::Csv => "csv",
        }
    }
}

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum FocusFileError {
    #[error("writing {path}")]
    Io {
        path: PathBuf,
        #[source]
        cause: std::io::Error,
    },
    #[error("encoding FOCUS rows: {0}")]
    Encode(String),
    // object_store's errors print their own causes: no `#[source]`.
    #[error("uploading {location}: {cause}")]
    Put {
        location: String,
        cause: object_store::Error,
    },
    #[error("starting the runtime for the upload")]
    Runtime(#[source] std::io::Error),
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> FocusFileError + '_ {
    move |cause| FocusFileError::Io {
        path: path.to_owned(),
        cause,
    }
}

/// The published Parquet files of an export folder (`<dir>/billing_period=…/*.parquet`),
/// sorted; none when there is no such folder.
///
/// # Errors
///
/// [`FocusFileError::Io`] when a folder cannot be listed.
pub fn files(dir: &Path) -> Result<Vec<PathBuf>, FocusFileError> {
    let mut found = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(io(dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(&format!("{PARTITION}=")) || !entry.path().is_dir() {
            continue;
        }
        let period = entry.path();
        for file in fs::read_dir(&period).map_err(io(&period))? {
            let file = file.map_err(io(&period))?;
            if super::partition::is_published(&file.file_name().to_string_lossy()) {
                found.push(file.path());
            }
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_has_the_65_focus_columns_then_x_columns() {
        assert_eq!(COLUMNS.len(), FOCUS_COLUMNS + 7);
        assert!(
            COLUMNS[..FOCUS_COLUMNS]
                .iter()
                .all(|c| !c.name.starts_with("x_"))
        );
        assert!(
            COLUMNS[FOCUS_COLUMNS..]
                .iter()
                .all(|c| c.name.starts_with("x_"))
        );
        let mut names: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), COLUMNS.len(), "no column twice");
    }

    #[test]
    fn the_columns_named_in_the_writers_settings_are_columns_of_the_file() {
        for name in UNIQUE_COLUMNS.iter().chain(&STATISTICS_COLUMNS) {
            assert!(COLUMNS.iter().any(|c| c.name == *name), "{name}");
        }
    }

    #[test]
    fn statistics_are_kept_on_no_decimal() {
        for name in STATISTICS_COLUMNS {
            let column = COLUMNS.iter().find(|c| c.name == name);
            assert!(
                column.is_some_and(|c| !matches!(c.kind, Kind::Decimal)),
                "{name}"
            );
        }
    }

    #[test]
    fn in_memory_only_shared_text_is_a_dictionary() {
        let file = schema();
        let memory = memory_schema();
        for (plain, kept) in file.fields().iter().zip(memory.fields()) {
            match kept.data_type() {
                DataType::Dictionary(_, value) => {
                    assert_eq!(value.as_ref(), plain.data_type(), "{}", plain.name());
                }
                other => assert_eq!(other, plain.data_type(), "{}", plain.name()),
            }
        }
        let details = memory
            .field_with_name(col::ALLOCATED_METHOD_DETAILS)
            .map(|f| f.data_type().clone());
        assert_eq!(details.ok(), Some(DataType::Utf8), "made anew per row");
    }
}
