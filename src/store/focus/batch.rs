//! One row group of an export as the exporter makes it, column by column.
//!
//! A split charge's rows repeat ~55 of its 72 columns, so a charge's
//! values are taken once ([`FocusBatch::charge`]) and each of its rows
//! ([`FocusBatch::line`]) adds only a key to them. Shared text is kept as
//! keys into the batch's values, found by the `Arc`'s address rather than
//! by hashing the text: the batch holds a clone of every value it keys, so
//! no address is reused while it lives. The batch becomes an Arrow record
//! batch of [`memory_schema`] (dictionaries), which Parquet stores exactly
//! as the file's plain `UTF8` columns.

use std::io::Write;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Decimal128Array, DictionaryArray, Int32Array, RecordBatch, StringArray,
    StringBuilder, TimestampMillisecondArray, new_null_array,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::Int32Type;
use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;

use super::{
    COLUMNS, Cell, ChargeCells, Column, FocusFileError, Kind, LineCells, ROWS_PER_GROUP, Source,
    data_type, is_keyed, memory_schema,
};
use crate::model::fixed::{Fixed, SCALE};

/// A charge's value of one column, repeated in each of its rows.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Null,
    Key(i32),
    Decimal(i128),
    Time(i64),
}

/// Shared text as keys into the values, `-1` for null.
#[derive(Default)]
struct Keyed {
    keys: Vec<i32>,
    values: Vec<Arc<str>>,
    /// Key by the address of the value's text.
    seen: FxHashMap<usize, i32>,
    /// The last address keyed and its key: consecutive charges mostly
    /// repeat a column's value (the same provider, account, region), so
    /// most lookups end here.
    last: Option<(usize, i32)>,
}

impl Keyed {
    fn key(&mut self, text: &Arc<str>) -> i32 {
        let address = Arc::as_ptr(text).cast::<u8>() as usize;
        if let Some((last, key)) = self.last
            && last == address
        {
            return key;
        }
        let key = match self.seen.get(&address) {
            Some(&key) => key,
            None => {
                let key = self.add(Arc::clone(text));
                self.seen.insert(address, key);
                key
            }
        };
        self.last = Some((address, key));
        key
    }

    fn add(&mut self, text: Arc<str>) -> i32 {
        // A batch has ~64 Ki rows: its values never reach i32::MAX.
        let key = i32::try_from(self.values.len()).unwrap_or(i32::MAX);
        self.values.push(text);
        key
    }

    /// The key of a cell's text, `-1` for null.
    fn key_of(&mut self, cell: Cell<'_>) -> i32 {
        match cell {
            Cell::Shared(text) => self.key(text),
            Cell::Text(text) => self.add(Arc::from(text)),
            _ => -1,
        }
    }

    fn finish(self) -> Result<ArrayRef, FocusFileError> {
        let Keyed {
            mut keys,
            mut values,
            ..
        } = self;
        let nulls = keys.iter().any(|k| *k < 0).then(|| {
            let valid: Vec<bool> = keys.iter().map(|k| *k >= 0).collect();
            NullBuffer::from(valid)
        });
        for key in &mut keys {
            *key = (*key).max(0);
        }
        if values.is_empty() {
            values.push(Arc::from(""));
        }
        let keys = Int32Array::new(keys.into(), nulls);
        let values = StringArray::from_iter_values(values.iter().map(|v| &**v));
        let array = DictionaryArray::<Int32Type>::try_new(keys, Arc::new(values))
            .map_err(|e| FocusFileError::Encode(e.to_string()))?;
        Ok(Arc::new(array))
    }
}

/// A column's values so far.
enum Builder {
    Null,
    Keyed(Keyed),
    Plain(StringBuilder),
    Decimal(Vec<i128>, Vec<bool>),
    Time(Vec<i64>, Vec<bool>),
}

impl Builder {
    /// Sized for a full row group, so no column grows (and copies
    /// itself) while the batch fills.
    fn new(column: &Column) -> Builder {
        let rows = ROWS_PER_GROUP + ROWS_PER_GROUP / 16;
        match column.kind {
            _ if matches!(column.source, Source::Null) => Builder::Null,
            Kind::Decimal => Builder::Decimal(Vec::with_capacity(rows), Vec::with_capacity(rows)),
            Kind::DateTime => Builder::Time(Vec::with_capacity(rows), Vec::with_capacity(rows)),
            Kind::Text | Kind::Json if is_keyed(column) => Builder::Keyed(Keyed {
                keys: Vec::with_capacity(rows),
                ..Keyed::default()
            }),
            // What a row holds on average in a 150,000-pod export (183
            // bytes of AllocatedMethodDetails, 40-46 of a consumer's id or
            // name), with room: a builder that outgrows its capacity copies
            // all it holds (~12 MB a row group for the details).
            Kind::Json => Builder::Plain(StringBuilder::with_capacity(rows, rows * 224)),
            Kind::Text => Builder::Plain(StringBuilder::with_capacity(rows, rows * 64)),
        }
    }

    /// A charge's cell as the slot its rows repeat.
    fn slot(&mut self, cell: Cell<'_>) -> Slot {
        match (self, cell) {
            (Builder::Keyed(keyed), cell) => Slot::Key(keyed.key_of(cell)),
            (_, Cell::Decimal(value)) => Slot::Decimal(value.units()),
            (_, Cell::DateTime(time)) => Slot::Time(time.timestamp_millis()),
            _ => Slot::Null,
        }
    }

    /// `rows` more rows of a charge's `slot`.
    fn fill(&mut self, slot: Slot, rows: usize) {
        fn repeat<T: Copy>(values: &mut Vec<T>, value: T, rows: usize) {
            values.resize(values.len() + rows, value);
        }
        match (self, slot) {
            (Builder::Null, _) => {}
            (Builder::Keyed(keyed), Slot::Key(key)) => repeat(&mut keyed.keys, key, rows),
            (Builder::Keyed(keyed), _) => repeat(&mut keyed.keys, -1, rows),
            (Builder::Decimal(values, valid), slot) => {
                let value = match slot {
                    Slot::Decimal(value) => Some(value),
                    _ => None,
                };
                repeat(values, value.unwrap_or_default(), rows);
                repeat(valid, value.is_some(), rows);
            }
            (Builder::Time(values, valid), slot) => {
                let value = match slot {
                    Slot::Time(value) => Some(value),
                    _ => None,
                };
                repeat(values, value.unwrap_or_default(), rows);
                repeat(valid, value.is_some(), rows);
            }
            (Builder::Plain(builder), _) => builder.append_nulls(rows),
        }
    }

    fn push(&mut self, cell: Cell<'_>) {
        match (self, cell) {
            (Builder::Plain(builder), Cell::Text(text)) => builder.append_value(text),
            (Builder::Plain(builder), Cell::Shared(text)) => builder.append_value(&**text),
            (Builder::Plain(builder), _) => builder.append_null(),
            (Builder::Keyed(keyed), cell) => {
                let key = keyed.key_of(cell);
                keyed.keys.push(key);
            }
            (builder, cell) => {
                let slot = builder.slot(cell);
                builder.fill(slot, 1);
            }
        }
    }

    fn finish(self, column: &Column, rows: usize) -> Result<ArrayRef, FocusFileError> {
        let nulls = |valid: Vec<bool>| (!valid.iter().all(|v| *v)).then(|| NullBuffer::from(valid));
        Ok(match self {
            Builder::Null => new_null_array(&data_type(column.kind), rows),
            Builder::Keyed(keyed) => keyed.finish()?,
            Builder::Plain(mut builder) => Arc::new(builder.finish()),
            Builder::Decimal(values, valid) => Arc::new(
                Decimal128Array::new(values.into(), nulls(valid))
                    .with_precision_and_scale(38, SCALE as i8)
                    .map_err(|e| FocusFileError::Encode(e.to_string()))?,
            ),
            Builder::Time(values, valid) => Arc::new(
                TimestampMillisecondArray::new(values.into(), nulls(valid)).with_timezone("UTC"),
            ),
        })
    }
}

/// The rows of one row group, column by column.
pub struct FocusBatch {
    /// BillingPeriodStart of its rows, once it has a charge: a batch
    /// belongs to one billing period's file.
    period: Option<Option<DateTime<Utc>>>,
    rows: usize,
    builders: Vec<Builder>,
    /// The last charge's slots, by column (null for a row's own columns).
    charge: Vec<Slot>,
    /// Rows of the last charge whose charge columns are not filled yet:
    /// they are filled a charge at a time, not a cell at a time.
    unfilled: usize,
}

impl Default for FocusBatch {
    fn default() -> Self {
        FocusBatch {
            period: None,
            rows: 0,
            builders: COLUMNS.iter().map(Builder::new).collect(),
            charge: vec![Slot::Null; COLUMNS.len()],
            unfilled: 0,
        }
    }
}

impl FocusBatch {
    /// Rows so far.
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// BillingPeriodStart of the batch's rows; `None` until it has a charge.
    pub fn period(&self) -> Option<Option<DateTime<Utc>>> {
        self.period
    }

    /// Whether `charge`'s rows belong in this batch: it is not full, and
    /// they are of its billing period.
    pub fn takes(&self, charge: &ChargeCells) -> bool {
        self.rows < ROWS_PER_GROUP
            && self
                .period
                .is_none_or(|period| period == charge.billing_period_start)
    }

    /// Starts a charge: the rows that follow repeat its columns.
    pub fn charge(&mut self, charge: &ChargeCells) {
        self.fill();
        self.period.get_or_insert(charge.billing_period_start);
        for ((column, builder), slot) in
            COLUMNS.iter().zip(&mut self.builders).zip(&mut self.charge)
        {
            if let Source::Charge(value) = column.source {
                *slot = builder.slot(value(charge));
            }
        }
    }

    /// A row of the last charge.
    pub fn line(&mut self, line: &LineCells<'_>) {
        self.rows += 1;
        self.unfilled += 1;
        for (column, builder) in COLUMNS.iter().zip(&mut self.builders) {
            if let Source::Line(value) = column.source {
                builder.push(value(line));
            }
        }
    }

    /// The last charge's columns for its rows so far.
    fn fill(&mut self) {
        let rows = std::mem::take(&mut self.unfilled);
        if rows == 0 {
            return;
        }
        for ((column, builder), slot) in COLUMNS.iter().zip(&mut self.builders).zip(&self.charge) {
            if let Source::Charge(_) = column.source {
                builder.fill(*slot, rows);
            }
        }
    }

    /// The rows as a record batch of [`memory_schema`].
    ///
    /// # Errors
    ///
    /// [`FocusFileError::Encode`] if arrow refuses a column (a defect).
    pub fn finish(mut self) -> Result<RecordBatch, FocusFileError> {
        self.fill();
        let rows = self.rows;
        let arrays: Vec<ArrayRef> = COLUMNS
            .iter()
            .zip(self.builders)
            .map(|(column, builder)| builder.finish(column, rows))
            .collect::<Result<_, _>>()?;
        RecordBatch::try_new(memory_schema(), arrays)
            .map_err(|e| FocusFileError::Encode(e.to_string()))
    }
}

/// A column of a finished batch, read back a cell at a time (for CSV).
enum Reader<'a> {
    Null,
    Keyed(&'a Int32Array, &'a StringArray),
    Plain(&'a StringArray),
    Decimal(&'a Decimal128Array),
    Time(&'a TimestampMillisecondArray),
}

impl<'a> Reader<'a> {
    fn new(array: &'a ArrayRef) -> Reader<'a> {
        let any = array.as_any();
        if let Some(dictionary) = any.downcast_ref::<DictionaryArray<Int32Type>>() {
            let values = dictionary.values().as_any().downcast_ref::<StringArray>();
            return values.map_or(Reader::Null, |values| {
                Reader::Keyed(dictionary.keys(), values)
            });
        }
        if let Some(strings) = any.downcast_ref::<StringArray>() {
            return Reader::Plain(strings);
        }
        if let Some(decimals) = any.downcast_ref::<Decimal128Array>() {
            return Reader::Decimal(decimals);
        }
        if let Some(times) = any.downcast_ref::<TimestampMillisecondArray>() {
            return Reader::Time(times);
        }
        Reader::Null
    }

    fn write(&self, row: usize, line: &mut String) {
        use std::fmt::Write as _;
        match self {
            Reader::Null => {}
            Reader::Keyed(keys, values) => {
                if keys.is_valid(row) {
                    let key = usize::try_from(keys.value(row)).unwrap_or_default();
                    quoted(values.value(key), line);
                }
            }
            Reader::Plain(strings) => {
                if strings.is_valid(row) {
                    quoted(strings.value(row), line);
                }
            }
            Reader::Decimal(decimals) => {
                if decimals.is_valid(row) {
                    let _ = write!(line, "{}", Fixed::from_units(decimals.value(row)));
                }
            }
            Reader::Time(times) => {
                if times.is_valid(row) {
                    let time = DateTime::from_timestamp_millis(times.value(row));
                    if let Some(time) = time {
                        let _ = write!(line, "{}", time.format("%Y-%m-%dT%H:%M:%SZ"));
                    }
                }
            }
        }
    }
}

/// RFC 4180 quoting where the text needs it.
fn quoted(text: &str, line: &mut String) {
    if text.contains([',', '"', '\n', '\r']) {
        line.push('"');
        line.push_str(&text.replace('"', "\"\""));
        line.push('"');
    } else {
        line.push_str(text);
    }
}

/// The batch's rows as CSV lines (null is an empty field), appended to `out`.
pub fn csv(batch: &RecordBatch, out: &mut Vec<u8>) {
    let readers: Vec<Reader<'_>> = batch.columns().iter().map(Reader::new).collect();
    let mut line = String::new();
    for row in 0..batch.num_rows() {
        line.clear();
        for (i, reader) in readers.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            reader.write(row, &mut line);
        }
        line.push('\n');
        let _ = out.write_all(line.as_bytes());
    }
}

/// The CSV header line.
pub fn csv_header() -> String {
    let names: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
    format!("{}\n", names.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Option<Arc<str>> {
        Some(Arc::from(s))
    }

    #[test]
    fn a_csv_line_quotes_json_and_leaves_nulls_empty() {
        let charge = ChargeCells {
            provider_name: text("Google Cloud"),
            ..ChargeCells::default()
        };
        let tags: Arc<str> = Arc::from(r#"{"a":"b,c"}"#);
        let mut batch = FocusBatch::default();
        batch.charge(&charge);
        batch.line(&LineCells {
            billed_cost: Fixed::from_f64(0.125).unwrap_or_default(),
            allocated_tags: Some(&tags),
            ..LineCells::default()
        });
        let finished = batch.finish().unwrap_or_else(|e| panic!("{e}"));
        let mut out = Vec::new();
        csv(&finished, &mut out);
        let line = String::from_utf8(out).unwrap_or_default();
        assert!(line.starts_with("Google Cloud,,,,,,"), "{line}");
        assert!(line.contains(r#","{""a"":""b,c""}","#), "{line}");
        assert!(line.contains(",0.125,"), "{line}");
        assert_eq!(line.matches(',').count(), COLUMNS.len() - 1 + 1, "{line}");
    }

    #[test]
    fn rows_repeat_their_charge_and_keep_their_own_cells() {
        let first = ChargeCells {
            resource_id: text("node-a"),
            list_unit_price: Fixed::from_f64(0.5),
            ..ChargeCells::default()
        };
        let second = ChargeCells {
            resource_id: text("node-b"),
            ..ChargeCells::default()
        };
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("pod-a"), Arc::from("pod-b"));
        let mut batch = FocusBatch::default();
        batch.charge(&first);
        for consumer in [&a, &b, &a] {
            batch.line(&LineCells {
                allocated_resource_id: Some(consumer),
                allocated_method_details: Some("{}"),
                ..LineCells::default()
            });
        }
        batch.charge(&second);
        batch.line(&LineCells::default());
        assert_eq!(batch.len(), 4);
        let finished = batch.finish().unwrap_or_else(|e| panic!("{e}"));
        let mut out = Vec::new();
        csv(&finished, &mut out);
        let text = String::from_utf8(out).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let column = |name: &str| COLUMNS.iter().position(|c| c.name == name).unwrap_or(0);
        let cell = |row: usize, name: &str| -> String {
            lines[row]
                .split(',')
                .nth(column(name))
                .unwrap_or("?")
                .to_owned()
        };
        assert_eq!(
            (0..4).map(|r| cell(r, "ResourceId")).collect::<Vec<_>>(),
            ["node-a", "node-a", "node-a", "node-b"]
        );
        assert_eq!(
            (0..4)
                .map(|r| cell(r, "AllocatedResourceId"))
                .collect::<Vec<_>>(),
            ["pod-a", "pod-b", "pod-a", ""]
        );
        assert_eq!(cell(2, "ListUnitPrice"), "0.5");
        assert_eq!(cell(3, "ListUnitPrice"), "", "the second charge has none");
        assert_eq!(cell(3, "AllocatedMethodDetails"), "");
        let keys = finished
            .column(column("AllocatedResourceId"))
            .as_any()
            .downcast_ref::<DictionaryArray<Int32Type>>()
            .map(|d| d.values().len());
        assert_eq!(keys, Some(2), "one value per consumer, not per row");
    }

    #[test]
    fn a_batch_takes_charges_of_its_billing_period_only() {
        let at = |month: u32| {
            chrono::NaiveDate::from_ymd_opt(2026, month, 1)
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        };
        let november = ChargeCells {
            billing_period_start: at(11),
            ..ChargeCells::default()
        };
        let december = ChargeCells {
            billing_period_start: at(12),
            ..ChargeCells::default()
        };
        let mut batch = FocusBatch::default();
        assert!(batch.takes(&december), "an empty batch takes any");
        batch.charge(&november);
        batch.line(&LineCells::default());
        assert!(batch.takes(&november));
        assert!(!batch.takes(&december));
        assert_eq!(batch.period(), Some(at(11)));
    }
}
