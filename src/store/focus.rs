//! The FOCUS 1.3 cost-and-usage file kubetally exports: its columns, their
//! types, and how rows become Parquet or CSV that is published whole.
//!
//! This module knows the file, not what goes in it: [`FocusRow`] is the
//! record a FOCUS exporter fills ([`crate::focus`] holds every rule of what
//! each column says), and [`COLUMNS`] lays it out in the specification's
//! column order, then kubetally's `x_` columns. Prices are in the billing
//! currency, so the `PricingCurrency*` columns repeat the billing ones. A
//! column kubetally never
//! fills (commitment discounts, capacity reservations) is still written, as
//! nulls of its type, so a reader sees all 65 FOCUS 1.3 columns.
//!
//! Publishing is the dataset's: every file is written under a staging name
//! and renamed into place (or sent in one PUT) only once every file of the
//! export has been encoded, so a failure leaves nothing half-written.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};

use arrow::array::{
    ArrayRef, Decimal128Builder, RecordBatch, StringBuilder, TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, Utc};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use super::object::ObjectTarget;
use super::target::Target;
use crate::model::fixed::{Fixed, SCALE};

/// The folder of `kubetally query`'s `focus` table inside a dataset:
/// `kubetally export focus -o <dataset>/focus` puts the export there.
pub const TABLE: &str = "focus";

/// The partition column of a directory export: `billing_period=YYYY-MM`.
pub const PARTITION: &str = "billing_period";

/// Rows encoded per Parquet row group (and per flush of a CSV buffer).
const ROWS_PER_GROUP: usize = 64 * 1024;

/// Long text nobody filters a range of: written without statistics, as
/// are [`UNIQUE_COLUMNS`].
const UNSORTED_TEXT_COLUMNS: [&str; 5] = [
    "ChargeDescription",
    "AllocatedTags",
    "ResourceId",
    "ResourceName",
    "x_SplitOriginId",
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
    Text(&'a str),
    Decimal(Fixed),
    DateTime(DateTime<Utc>),
}

impl<'a> From<&'a Text> for Cell<'a> {
    fn from(value: &'a Text) -> Cell<'a> {
        value.as_deref().map_or(Cell::Null, Cell::Text)
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

/// One FOCUS cost-and-usage row: every column kubetally can fill. A field
/// left `None` is written as null.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FocusRow {
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
    pub billed_cost: Option<Fixed>,
    pub effective_cost: Option<Fixed>,
    pub list_cost: Option<Fixed>,
    pub contracted_cost: Option<Fixed>,
    pub list_unit_price: Option<Fixed>,
    pub contracted_unit_price: Option<Fixed>,
    pub pricing_category: Text,
    pub pricing_quantity: Option<Fixed>,
    pub pricing_unit: Text,
    pub billing_currency: Text,
    pub consumed_quantity: Option<Fixed>,
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
    pub allocated_method_details: Text,
    pub allocated_resource_id: Text,
    pub allocated_resource_name: Text,
    pub allocated_tags: Text,
    pub tags: Text,
    pub x_split_origin_id: Text,
    pub x_split_origin_cost: Option<Fixed>,
    pub x_tenant: Text,
    pub x_cluster_name: Text,
    pub x_node_pool: Text,
    pub x_cost_basis: Text,
    pub x_price_source: Text,
}

/// One column of the file: its name, type, and where a row keeps it.
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    value: fn(&FocusRow) -> Cell<'_>,
}

impl Column {
    /// `row`'s value of this column.
    pub fn value<'a>(&self, row: &'a FocusRow) -> Cell<'a> {
        (self.value)(row)
    }
}

fn null(_: &FocusRow) -> Cell<'_> {
    Cell::Null
}

fn time(value: Option<DateTime<Utc>>) -> Cell<'static> {
    value.map_or(Cell::Null, Cell::DateTime)
}

macro_rules! column {
    ($name:literal, $kind:ident, null) => {
        Column {
            name: $name,
            kind: Kind::$kind,
            value: null,
        }
    };
    ($name:literal, DateTime, $field:ident) => {
        Column {
            name: $name,
            kind: Kind::DateTime,
            value: |row| time(row.$field),
        }
    };
    ($name:literal, Decimal, $field:ident) => {
        Column {
            name: $name,
            kind: Kind::Decimal,
            value: |row| Cell::from(row.$field),
        }
    };
    ($name:literal, $kind:ident, $field:ident) => {
        Column {
            name: $name,
            kind: Kind::$kind,
            value: |row| Cell::from(&row.$field),
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
    column!("BilledCost", Decimal, billed_cost),
    column!("EffectiveCost", Decimal, effective_cost),
    column!("ListCost", Decimal, list_cost),
    column!("ContractedCost", Decimal, contracted_cost),
    column!("ListUnitPrice", Decimal, list_unit_price),
    column!("ContractedUnitPrice", Decimal, contracted_unit_price),
    column!("PricingCategory", Text, pricing_category),
    column!("PricingQuantity", Decimal, pricing_quantity),
    column!("PricingUnit", Text, pricing_unit),
    column!("PricingCurrency", Text, billing_currency),
    column!(
        "PricingCurrencyContractedUnitPrice",
        Decimal,
        contracted_unit_price
    ),
    column!("PricingCurrencyEffectiveCost", Decimal, effective_cost),
    column!("PricingCurrencyListUnitPrice", Decimal, list_unit_price),
    column!("BillingCurrency", Text, billing_currency),
    column!("ConsumedQuantity", Decimal, consumed_quantity),
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
    column!("AllocatedMethodDetails", Json, allocated_method_details),
    column!("AllocatedResourceId", Text, allocated_resource_id),
    column!("AllocatedResourceName", Text, allocated_resource_name),
    column!("AllocatedTags", Json, allocated_tags),
    column!("Tags", Json, tags),
    column!("x_SplitOriginId", Text, x_split_origin_id),
    column!("x_SplitOriginCost", Decimal, x_split_origin_cost),
    column!("x_Tenant", Text, x_tenant),
    column!("x_ClusterName", Text, x_cluster_name),
    column!("x_NodePool", Text, x_node_pool),
    column!("x_CostBasis", Text, x_cost_basis),
    column!("x_PriceSource", Text, x_price_source),
];

/// How many of [`COLUMNS`] are FOCUS's own (the rest are `x_` columns).
pub const FOCUS_COLUMNS: usize = 65;

/// The Arrow schema of the Parquet file.
pub fn schema() -> SchemaRef {
    let fields: Vec<Field> = COLUMNS
        .iter()
        .map(|column| Field::new(column.name, data_type(column.kind), true))
        .collect();
    Arc::new(Schema::new(fields))
}

fn data_type(kind: Kind) -> DataType {
    match kind {
        Kind::Text | Kind::Json => DataType::Utf8,
        Kind::Decimal => DataType::Decimal128(38, SCALE as i8),
        Kind::DateTime => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
    }
}

/// The rows as one record batch of [`schema`].
///
/// # Errors
///
/// [`FocusFileError::Encode`] if arrow refuses a column (a defect).
pub fn batch(rows: &[FocusRow]) -> Result<RecordBatch, FocusFileError> {
    let arrays: Vec<ArrayRef> = COLUMNS
        .iter()
        .map(|column| array(column, rows))
        .collect::<Result<_, _>>()?;
    RecordBatch::try_new(schema(), arrays).map_err(|e| FocusFileError::Encode(e.to_string()))
}

fn array(column: &Column, rows: &[FocusRow]) -> Result<ArrayRef, FocusFileError> {
    Ok(match column.kind {
        Kind::Text | Kind::Json => {
            let mut builder = StringBuilder::with_capacity(rows.len(), rows.len() * 8);
            for row in rows {
                match column.value(row) {
                    Cell::Text(text) => builder.append_value(text),
                    _ => builder.append_null(),
                }
            }
            Arc::new(builder.finish())
        }
        Kind::Decimal => {
            let mut builder = Decimal128Builder::with_capacity(rows.len());
            for row in rows {
                match column.value(row) {
                    Cell::Decimal(value) => builder.append_value(value.units()),
                    _ => builder.append_null(),
                }
            }
            let array = builder
                .finish()
                .with_precision_and_scale(38, SCALE as i8)
                .map_err(|e| FocusFileError::Encode(e.to_string()))?;
            Arc::new(array)
        }
        Kind::DateTime => {
            let mut builder = TimestampMillisecondBuilder::with_capacity(rows.len());
            for row in rows {
                match column.value(row) {
                    Cell::DateTime(time) => builder.append_value(time.timestamp_millis()),
                    _ => builder.append_null(),
                }
            }
            Arc::new(builder.finish().with_timezone("UTC"))
        }
    })
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

/// Where an export goes: one file, or a folder (prefix) of
/// `billing_period=YYYY-MM/part-0000.<ext>` files.
#[derive(Debug, Clone)]
pub struct Destination {
    target: Target,
    single_file: bool,
    format: Format,
}

impl Destination {
    /// `-o`'s target: a single file when its name ends with `.parquet` or
    /// `.csv`, else a directory (object store prefix) partitioned by billing
    /// period.
    pub fn new(target: Target, format: Format) -> Destination {
        let name = match &target {
            Target::Local(path) => path.display().to_string(),
            Target::Object(object) => object.prefix().to_string(),
        };
        let single_file = name.ends_with(".parquet") || name.ends_with(".csv");
        Destination {
            target,
            single_file,
            format,
        }
    }

    pub fn is_single_file(&self) -> bool {
        self.single_file
    }

    /// Opens a writer, creating the staging place first, so an unwritable
    /// output fails before any data is read.
    ///
    /// # Errors
    ///
    /// [`FocusFileError::Io`] naming the folder that cannot be created or
    /// written.
    pub fn writer(&self) -> Result<FocusWriter, FocusFileError> {
        // Beside the output (same file system, so publishing is a rename),
        // not in it: the output appears only when published.
        let staging = match &self.target {
            Target::Local(path) => path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .join(format!(".kubetally-export-{}", std::process::id())),
            Target::Object(_) => {
                std::env::temp_dir().join(format!("kubetally-export-{}", std::process::id()))
            }
        };
        fs::create_dir_all(&staging).map_err(io(&staging))?;
        Ok(FocusWriter {
            destination: self.clone(),
            staging,
            files: BTreeMap::new(),
            period: None,
            published: false,
        })
    }
}

/// One file being written under the staging folder.
struct Staged {
    path: PathBuf,
    encoder: Worker,
    pending: Vec<FocusRow>,
    rows: usize,
}

/// A staged file's encoder, on a thread of its own: the export makes rows
/// on one core while this one turns the previous row group into Parquet
/// (or CSV), the two halves of an export's time.
struct Worker {
    /// Row groups to encode; at most one waits, so memory stays at three
    /// row groups (one being made, one waiting, one being encoded).
    rows: Option<mpsc::SyncSender<Vec<FocusRow>>>,
    thread: Option<std::thread::JoinHandle<Result<(), FocusFileError>>>,
}

impl Worker {
    fn spawn(mut encoder: Encoder, path: PathBuf) -> Worker {
        let (sender, receiver) = mpsc::sync_channel::<Vec<FocusRow>>(1);
        let thread = std::thread::spawn(move || {
            for rows in receiver {
                encode(&mut encoder, &path, &rows)?;
            }
            finish(encoder, &path)
        });
        Worker {
            rows: Some(sender),
            thread: Some(thread),
        }
    }

    /// Hands a row group over; when the thread has stopped, its error.
    fn send(&mut self, rows: Vec<FocusRow>) -> Result<(), FocusFileError> {
        let sent = self.rows.as_ref().map(|sender| sender.send(rows));
        match sent {
            Some(Ok(())) => Ok(()),
            _ => match self.join() {
                Ok(()) => Err(FocusFileError::Encode("the encoder stopped early".into())),
                Err(error) => Err(error),
            },
        }
    }

    /// Encodes what was sent, closes the file and returns how it went.
    fn join(&mut self) -> Result<(), FocusFileError> {
        self.rows = None;
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(FocusFileError::Encode("the encoder thread panicked".into())),
            None => Ok(()),
        }
    }
}

impl Drop for Worker {
    /// Waits for the thread, so nothing writes to a staged file after the
    /// writer has removed it.
    fn drop(&mut self) {
        let _ = self.join();
    }
}

enum Encoder {
    Parquet(Box<ArrowWriter<fs::File>>),
    Csv(BufWriter<fs::File>),
}

/// Writes an export's rows; nothing is visible at the destination until
/// [`FocusWriter::publish`]. Dropped unpublished, it removes what it staged.
pub struct FocusWriter {
    destination: Destination,
    staging: PathBuf,
    /// By billing period (`YYYY-MM`; `""` for a single file).
    files: BTreeMap<String, Staged>,
    /// The last row's BillingPeriodStart and its `YYYY-MM`.
    period: Option<(Option<DateTime<Utc>>, String)>,
    published: bool,
}

impl FocusWriter {
    /// Adds a row to its billing period's file.
    ///
    /// # Errors
    ///
    /// [`FocusFileError`] when the staged file cannot be created or written.
    pub fn push(&mut self, row: FocusRow) -> Result<(), FocusFileError> {
        let start = if self.destination.single_file {
            None
        } else {
            row.billing_period_start
        };
        // The period's name is formatted when it changes, not per row.
        if self.period.as_ref().is_none_or(|(last, _)| *last != start) {
            let period = start
                .map(|start| start.format("%Y-%m").to_string())
                .unwrap_or_default();
            if !self.files.contains_key(&period) {
                let staged = self.open(&period)?;
                self.files.insert(period.clone(), staged);
            }
            self.period = Some((start, period));
        }
        let Some(staged) = self
            .period
            .as_ref()
            .and_then(|(_, period)| self.files.get_mut(period))
        else {
            return Ok(());
        };
        staged.pending.push(row);
        staged.rows += 1;
        if staged.pending.len() >= ROWS_PER_GROUP {
            flush(staged)?;
        }
        Ok(())
    }

    /// Rows pushed so far.
    pub fn rows(&self) -> usize {
        self.files.values().map(|f| f.rows).sum()
    }

    fn open(&self, period: &str) -> Result<Staged, FocusFileError> {
        let name = if period.is_empty() {
            "export".to_owned()
        } else {
            format!("{PARTITION}={period}")
        };
        let path = self
            .staging
            .join(format!("{name}.{}", self.destination.format.extension()));
        let file = fs::File::create(&path).map_err(io(&path))?;
        let encoder = match self.destination.format {
            Format::Parquet => {
                let properties = WriterProperties::builder()
                    .set_compression(Compression::ZSTD(
                        ZstdLevel::try_new(3).map_err(|e| FocusFileError::Encode(e.to_string()))?,
                    ))
                    .set_dictionary_enabled(true);
                // Near-unique per row: a dictionary would only be tried and
                // abandoned, in every row group.
                let properties = UNIQUE_COLUMNS.iter().fold(properties, |properties, name| {
                    properties.set_column_dictionary_enabled(ColumnPath::from(*name), false)
                });
                // Min/max of free text or per-row amounts prune no query,
                // and cost a comparison per value.
                let properties = UNIQUE_COLUMNS
                    .iter()
                    .chain(&UNSORTED_TEXT_COLUMNS)
                    .fold(properties, |properties, name| {
                        properties.set_column_statistics_enabled(
                            ColumnPath::from(*name),
                            EnabledStatistics::None,
                        )
                    })
                    .build();
                let writer = ArrowWriter::try_new(file, schema(), Some(properties))
                    .map_err(|e| FocusFileError::Encode(e.to_string()))?;
                Encoder::Parquet(Box::new(writer))
            }
            Format::Csv => {
                let mut out = BufWriter::new(file);
                let header: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
                writeln!(out, "{}", header.join(",")).map_err(io(&path))?;
                Encoder::Csv(out)
            }
        };
        Ok(Staged {
            encoder: Worker::spawn(encoder, path.clone()),
            path,
            pending: Vec::new(),
            rows: 0,
        })
    }

    /// Finishes every file and publishes them: renamed into place, or each
    /// sent in one PUT. Returns where they went.
    ///
    /// # Errors
    ///
    /// [`FocusFileError`] when a file cannot be finished, moved or uploaded;
    /// the staged files are removed.
    pub fn publish(mut self) -> Result<Vec<String>, FocusFileError> {
        let files = std::mem::take(&mut self.files);
        let mut finished = Vec::with_capacity(files.len());
        for (period, mut staged) in files {
            flush(&mut staged)?;
            staged.encoder.join()?;
            finished.push((period, staged.path.clone()));
        }
        let extension = self.destination.format.extension();
        let relative = |period: &str| format!("{PARTITION}={period}/part-0000.{extension}");
        let mut written = Vec::with_capacity(finished.len());
        match &self.destination.target {
            Target::Local(root) => {
                for (period, staged) in &finished {
                    let path = if self.destination.single_file {
                        root.clone()
                    } else {
                        let path = root.join(relative(period));
                        if let Some(dir) = path.parent() {
                            fs::create_dir_all(dir).map_err(io(dir))?;
                        }
                        path
                    };
                    fs::rename(staged, &path).map_err(io(&path))?;
                    written.push(path.display().to_string());
                }
            }
            Target::Object(object) => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(FocusFileError::Runtime)?;
                for (period, staged) in &finished {
                    let bytes = fs::read(staged).map_err(io(staged))?;
                    let (key, shown) = if self.destination.single_file {
                        (object.prefix().clone(), object.url().to_owned())
                    } else {
                        let relative = relative(period);
                        let key = object.key(relative.split('/'));
                        (key, object.display(&relative))
                    };
                    runtime
                        .block_on(put(object, &key, bytes))
                        .map_err(|cause| FocusFileError::Put {
                            location: shown.clone(),
                            cause,
                        })?;
                    written.push(shown);
                }
            }
        }
        self.published = true;
        let _ = fs::remove_dir_all(&self.staging);
        Ok(written)
    }
}

async fn put(
    object: &ObjectTarget,
    key: &object_store::path::Path,
    bytes: Vec<u8>,
) -> object_store::Result<()> {
    object.put(key, bytes).await
}

impl Drop for FocusWriter {
    fn drop(&mut self) {
        // Unpublished (an error on the way), or published and already gone.
        if !self.published {
            self.files.clear();
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

/// Hands the rows waiting to the file's encoder.
fn flush(staged: &mut Staged) -> Result<(), FocusFileError> {
    if staged.pending.is_empty() {
        return Ok(());
    }
    let rows = std::mem::replace(&mut staged.pending, Vec::with_capacity(ROWS_PER_GROUP));
    staged.encoder.send(rows)
}

/// Encodes one row group into the file (on the encoder's thread).
fn encode(encoder: &mut Encoder, path: &Path, rows: &[FocusRow]) -> Result<(), FocusFileError> {
    match encoder {
        Encoder::Parquet(writer) => {
            let batch = batch(rows)?;
            writer
                .write(&batch)
                .map_err(|e| FocusFileError::Encode(e.to_string()))?;
        }
        Encoder::Csv(out) => {
            let mut line = String::new();
            for row in rows {
                line.clear();
                csv_line(row, &mut line);
                out.write_all(line.as_bytes()).map_err(io(path))?;
            }
        }
    }
    Ok(())
}

/// Closes the file: the Parquet footer, or the CSV flushed; synced.
fn finish(encoder: Encoder, path: &Path) -> Result<(), FocusFileError> {
    match encoder {
        Encoder::Parquet(writer) => {
            let file = writer
                .into_inner()
                .map_err(|e| FocusFileError::Encode(e.to_string()))?;
            file.sync_all().map_err(io(path))
        }
        Encoder::Csv(mut out) => {
            out.flush().map_err(io(path))?;
            out.get_ref().sync_all().map_err(io(path))
        }
    }
}

/// One row as a CSV line (RFC 4180 quoting; null is an empty field).
fn csv_line(row: &FocusRow, line: &mut String) {
    use std::fmt::Write as _;
    for (i, column) in COLUMNS.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        match column.value(row) {
            Cell::Null => {}
            Cell::Text(text) => {
                if text.contains([',', '"', '\n', '\r']) {
                    line.push('"');
                    line.push_str(&text.replace('"', "\"\""));
                    line.push('"');
                } else {
                    line.push_str(text);
                }
            }
            Cell::Decimal(value) => {
                let _ = write!(line, "{value}");
            }
            Cell::DateTime(time) => {
                let _ = write!(line, "{}", time.format("%Y-%m-%dT%H:%M:%SZ"));
            }
        }
    }
    line.push('\n');
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
    fn the_columns_written_without_a_dictionary_are_columns_of_the_file() {
        for name in UNIQUE_COLUMNS.iter().chain(&UNSORTED_TEXT_COLUMNS) {
            assert!(COLUMNS.iter().any(|c| c.name == *name), "{name}");
        }
    }

    #[test]
    fn a_csv_line_quotes_json_and_leaves_nulls_empty() {
        let row = FocusRow {
            provider_name: Some("Google Cloud".into()),
            billed_cost: Fixed::from_f64(0.125),
            allocated_tags: Some(r#"{"a":"b,c"}"#.into()),
            ..FocusRow::default()
        };
        let mut line = String::new();
        csv_line(&row, &mut line);
        assert!(line.starts_with("Google Cloud,,,,,,"), "{line}");
        assert!(line.contains(r#","{""a"":""b,c""}","#), "{line}");
        assert!(line.contains(",0.125,"), "{line}");
        assert_eq!(line.matches(',').count(), COLUMNS.len() - 1 + 1, "{line}");
    }

    #[test]
    fn rows_encode_as_a_batch_of_the_schema() {
        let rows = vec![FocusRow::default(), FocusRow::default()];
        let batch = batch(&rows).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.num_columns(), COLUMNS.len());
    }
}
