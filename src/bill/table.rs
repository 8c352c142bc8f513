//! Containers: CSV (optionally gzipped), JSON lines or arrays, and Parquet,
//! all seen by the format readers as one thing — a header and rows of text
//! cells.
//!
//! Text is the common ground because CSV, the most common container of
//! bills, is text: a Parquet column is cast to text per batch and nested
//! values (GCP's `labels`, CUR 2.0's `resource_tags` map) become JSON, the
//! shape a JSON-lines export writes them in. Records (GCP's `service`,
//! `sku`…) are flattened to dotted names (`service.description`), which is
//! how BigQuery writes them to CSV, so one header lookup serves every
//! container.

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray};
use arrow::datatypes::{DataType, Field, Fields};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use bytes::Bytes;
use flate2::read::MultiGzDecoder;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::file::reader::ChunkReader;
use rustc_hash::FxHashMap;
use serde_json::Value;

use super::error::BillError;

/// A file's column names, and the key each is looked up by.
#[derive(Debug, Default)]
pub(crate) struct Header {
    /// The names as written (a UTF-8 byte-order mark removed).
    pub names: Vec<String>,
    index: FxHashMap<String, usize>,
}

/// The lookup key of a column name: lower case, without a byte-order mark,
/// and for Azure's localised headers (`Kategorie der Verbrauchseinheit
/// (MeterCategory)`) the English name in brackets.
pub(crate) fn column_key(name: &str) -> String {
    let name = name.trim_start_matches('\u{feff}').trim();
    let name = match (name.rfind(" ("), name.ends_with(')')) {
        (Some(open), true) => &name[open + 2..name.len() - 1],
        _ => name,
    };
    name.to_ascii_lowercase()
}

impl Header {
    pub(crate) fn new(names: Vec<String>) -> Header {
        let names: Vec<String> = names
            .into_iter()
            .map(|n| n.trim_start_matches('\u{feff}').to_owned())
            .collect();
        let mut index = FxHashMap::default();
        for (i, name) in names.iter().enumerate() {
            index.entry(column_key(name)).or_insert(i);
        }
        Header { names, index }
    }

    /// The column whose key is `key` (already lower case).
    pub(crate) fn find(&self, key: &str) -> Option<usize> {
        self.index.get(key).copied()
    }

    /// The first of `keys` the file has.
    pub(crate) fn find_any(&self, keys: &[&str]) -> Option<usize> {
        keys.iter().find_map(|k| self.find(k))
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    /// The first few names, for an error message.
    pub(crate) fn preview(&self) -> String {
        let mut text = self
            .names
            .iter()
            .take(8)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        if self.names.len() > 8 {
            text.push_str(", …");
        }
        text
    }
}

/// A cursor over a file's rows.
pub(crate) trait Records {
    fn header(&self) -> &Header;
    /// Moves to the next row; `false` at the end.
    fn advance(&mut self) -> Result<bool, BillError>;
    /// The current row's cell in column `col`; `None` when empty or a null
    /// (`NULL`, `null`: FOCUS samples write nulls as text).
    fn cell(&self, col: usize) -> Option<&str>;
    /// The current row's line (CSV, JSON lines) or record number (JSON
    /// array, Parquet).
    fn line(&self) -> u64;
}

fn non_null(text: &str) -> Option<&str> {
    match text {
        "" | "NULL" | "null" => None,
        _ => Some(text),
    }
}

/// Where a bill's bytes come from.
pub(crate) enum Input<'a> {
    Path(&'a Path),
    Bytes(Bytes),
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const PARQUET_MAGIC: &[u8] = b"PAR1";

/// Opens `input`, recognising the container by its first bytes (gzip,
/// Parquet, JSON) and reading anything else as CSV.
pub(crate) fn open<'a>(name: &str, input: Input<'a>) -> Result<Box<dyn Records + 'a>, BillError> {
    let read_failed = |source| BillError::ReadFailed {
        file: name.to_owned(),
        source,
    };
    let mut reader: Box<dyn BufRead + 'a> = match &input {
        Input::Path(path) => Box::new(BufReader::new(File::open(path).map_err(read_failed)?)),
        Input::Bytes(bytes) => Box::new(Cursor::new(bytes.clone())),
    };
    let mut gzipped = false;
    if reader
        .fill_buf()
        .map_err(read_failed)?
        .starts_with(GZIP_MAGIC)
    {
        reader = Box::new(BufReader::new(MultiGzDecoder::new(reader)));
        gzipped = true;
    }
    let head = reader.fill_buf().map_err(read_failed)?;
    if head.starts_with(PARQUET_MAGIC) {
        return match (input, gzipped) {
            (Input::Path(path), false) => {
                parquet_records(name, File::open(path).map_err(read_failed)?)
            }
            (Input::Bytes(bytes), false) => parquet_records(name, bytes),
            (_, true) => {
                let mut all = Vec::new();
                reader.read_to_end(&mut all).map_err(read_failed)?;
                parquet_records(name, Bytes::from(all))
            }
        };
    }
    match head.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') | Some(b'[') => json_records(name, reader),
        _ => csv_records(name, reader),
    }
}

struct CsvRecords<'a> {
    file: String,
    header: Header,
    reader: csv::Reader<Box<dyn BufRead + 'a>>,
    record: csv::StringRecord,
}

fn csv_error(file: &str, error: csv::Error) -> BillError {
    let line = error.position().map_or(0, |p| p.line());
    if !error.is_io_error() {
        return BillError::MalformedRecord {
            file: file.to_owned(),
            line,
            source: Box::new(error),
        };
    }
    match error.into_kind() {
        csv::ErrorKind::Io(source) => BillError::ReadFailed {
            file: file.to_owned(),
            source,
        },
        kind => BillError::MalformedRecord {
            file: file.to_owned(),
            line,
            source: format!("{kind:?}").into(),
        },
    }
}

fn csv_records<'a>(
    name: &str,
    input: Box<dyn BufRead + 'a>,
) -> Result<Box<dyn Records + 'a>, BillError> {
    // Flexible: exports (and OpenCost's Azure fixtures) leave out trailing
    // empty cells; a row with more cells than the header is refused below.
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let names = reader.headers().map_err(|e| csv_error(name, e))?;
    if names.is_empty() || (names.len() == 1 && names[0].is_empty()) {
        return Err(BillError::Empty {
            file: name.to_owned(),
        });
    }
    let header = Header::new(names.iter().map(str::to_owned).collect());
    Ok(Box::new(CsvRecords {
        file: name.to_owned(),
        header,
        reader,
        record: csv::StringRecord::new(),
    }))
}

impl Records for CsvRecords<'_> {
    fn header(&self) -> &Header {
        &self.header
    }

    fn advance(&mut self) -> Result<bool, BillError> {
        let more = self
            .reader
            .read_record(&mut self.record)
            .map_err(|e| csv_error(&self.file, e))?;
        if more && self.record.len() > self.header.names.len() {
            return Err(BillError::MalformedRecord {
                file: self.file.clone(),
                line: self.line(),
                source: format!(
                    "{} cells where the header has {} columns",
                    self.record.len(),
                    self.header.names.len()
                )
                .into(),
            });
        }
        Ok(more)
    }

    fn cell(&self, col: usize) -> Option<&str> {
        self.record.get(col).and_then(non_null)
    }

    fn line(&self) -> u64 {
        self.record.position().map_or(0, |p| p.line())
    }
}

/// Flattens a JSON record into `(dotted name, text)` cells: objects give
/// their own JSON text and each member's; arrays stay JSON text.
fn flatten_json(prefix: &str, value: &Value, out: &mut Vec<(String, Option<String>)>) {
    let text = match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(_) | Value::Object(_) => Some(value.to_string()),
    };
    if !prefix.is_empty() {
        out.push((prefix.to_owned(), text));
    }
    if let Value::Object(members) = value {
        for (key, member) in members {
            let name = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            flatten_json(&name, member, out);
        }
    }
}

enum JsonSource<'a> {
    Lines(Box<dyn BufRead + 'a>),
    Records(std::vec::IntoIter<Value>),
}

struct JsonRecords<'a> {
    file: String,
    header: Header,
    source: JsonSource<'a>,
    line: u64,
    /// The first record, read to learn the header, not yet handed out.
    pending: Option<Value>,
    cells: Vec<Option<String>>,
    scratch: Vec<(String, Option<String>)>,
}

fn json_records<'a>(
    name: &str,
    mut input: Box<dyn BufRead + 'a>,
) -> Result<Box<dyn Records + 'a>, BillError> {
    let read_failed = |source| BillError::ReadFailed {
        file: name.to_owned(),
        source,
    };
    // JSON lines if the first non-blank line is a whole value; otherwise
    // the file is one document (an array of records, or one object).
    let mut first = String::new();
    let mut line = 0;
    loop {
        first.clear();
        line += 1;
        if input.read_line(&mut first).map_err(read_failed)? == 0 || !first.trim().is_empty() {
            break;
        }
    }
    let (source, pending, line) = match serde_json::from_str::<Value>(&first) {
        Ok(value @ Value::Object(_)) => (JsonSource::Lines(input), value, line),
        _ => {
            let mut all = first.clone().into_bytes();
            input.read_to_end(&mut all).map_err(read_failed)?;
            let document: Value =
                serde_json::from_slice(&all).map_err(|e| BillError::MalformedRecord {
                    file: name.to_owned(),
                    line: e.line() as u64 + line - 1,
                    source: Box::new(e),
                })?;
            let mut records = match document {
                Value::Array(items) => items.into_iter(),
                other => vec![other].into_iter(),
            };
            let Some(first) = records.next() else {
                return Err(BillError::Empty {
                    file: name.to_owned(),
                });
            };
            (JsonSource::Records(records), first, 1)
        }
    };
    let mut scratch = Vec::new();
    flatten_json("", &pending, &mut scratch);
    let header = Header::new(scratch.iter().map(|(k, _)| k.clone()).collect());
    Ok(Box::new(JsonRecords {
        file: name.to_owned(),
        header,
        source,
        line: line.saturating_sub(1),
        pending: Some(pending),
        cells: Vec::new(),
        scratch,
    }))
}

impl JsonRecords<'_> {
    fn next_value(&mut self) -> Result<Option<Value>, BillError> {
        if let Some(value) = self.pending.take() {
            self.line += 1;
            return Ok(Some(value));
        }
        match &mut self.source {
            JsonSource::Records(records) => {
                self.line += 1;
                Ok(records.next())
            }
            JsonSource::Lines(input) => {
                let mut text = String::new();
                loop {
                    text.clear();
                    self.line += 1;
                    let read =
                        input
                            .read_line(&mut text)
                            .map_err(|source| BillError::ReadFailed {
                                file: self.file.clone(),
                                source,
                            })?;
                    if read == 0 {
                        return Ok(None);
                    }
                    if !text.trim().is_empty() {
                        break;
                    }
                }
                serde_json::from_str(&text)
                    .map(Some)
                    .map_err(|e| BillError::MalformedRecord {
                        file: self.file.clone(),
                        line: self.line,
                        source: Box::new(e),
                    })
            }
        }
    }
}

impl Records for JsonRecords<'_> {
    fn header(&self) -> &Header {
        &self.header
    }

    fn advance(&mut self) -> Result<bool, BillError> {
        let Some(value) = self.next_value()? else {
            return Ok(false);
        };
        if !value.is_object() {
            return Err(BillError::MalformedRecord {
                file: self.file.clone(),
                line: self.line,
                source: "a record is not a JSON object".into(),
            });
        }
        self.scratch.clear();
        flatten_json("", &value, &mut self.scratch);
        self.cells.clear();
        self.cells.resize(self.header.names.len(), None);
        for (name, text) in self.scratch.drain(..) {
            if let Some(col) = self.header.find(&column_key(&name)) {
                self.cells[col] = text;
            }
        }
        Ok(true)
    }

    fn cell(&self, col: usize) -> Option<&str> {
        self.cells.get(col)?.as_deref().and_then(non_null)
    }

    fn line(&self) -> u64 {
        self.line
    }
}

/// How to get one flattened column out of a record batch: the path of
/// struct children from a top-level column.
struct Leaf {
    path: Vec<usize>,
}

struct ParquetRecords {
    file: String,
    header: Header,
    leaves: Vec<Leaf>,
    reader: ParquetRecordBatchReader,
    columns: Vec<StringArray>,
    row: usize,
    rows: usize,
    /// Rows of the batches before the current one.
    done: u64,
}

fn parquet_records<'a, R: ChunkReader + 'static>(
    name: &str,
    input: R,
) -> Result<Box<dyn Records + 'a>, BillError> {
    let malformed = |source: parquet::errors::ParquetError| BillError::MalformedRecord {
        file: name.to_owned(),
        line: 0,
        source: Box::new(source),
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(input).map_err(malformed)?;
    let mut names = Vec::new();
    let mut leaves = Vec::new();
    flatten_fields(
        "",
        builder.schema().fields(),
        &mut Vec::new(),
        &mut names,
        &mut leaves,
    );
    let reader = builder.with_batch_size(8192).build().map_err(malformed)?;
    Ok(Box::new(ParquetRecords {
        file: name.to_owned(),
        header: Header::new(names),
        leaves,
        reader,
        columns: Vec::new(),
        row: 0,
        rows: 0,
        done: 0,
    }))
}

fn flatten_fields(
    prefix: &str,
    fields: &Fields,
    path: &mut Vec<usize>,
    names: &mut Vec<String>,
    leaves: &mut Vec<Leaf>,
) {
    for (i, field) in fields.iter().enumerate() {
        let name = if prefix.is_empty() {
            field.name().clone()
        } else {
            format!("{prefix}.{}", field.name())
        };
        path.push(i);
        if let DataType::Struct(children) = field.data_type() {
            flatten_fields(&name, children, path, names, leaves);
        } else {
            names.push(name);
            leaves.push(Leaf { path: path.clone() });
        }
        path.pop();
    }
}

/// A column as text: scalars cast, nested values (lists, maps) as JSON.
fn as_text(array: &ArrayRef) -> Result<StringArray, arrow::error::ArrowError> {
    match array.data_type() {
        DataType::List(_) | DataType::LargeList(_) | DataType::Map(_, _) | DataType::Struct(_) => {
            Ok((0..array.len())
                .map(|i| (!array.is_null(i)).then(|| json_of(array.as_ref(), i).to_string()))
                .collect())
        }
        // Epoch values are UTC whatever the zone says; dropping the zone
        // (not converting: arrow without chrono-tz knows no named zones)
        // writes them as UTC wall time.
        DataType::Timestamp(unit, Some(_)) => {
            let data = array
                .to_data()
                .into_builder()
                .data_type(DataType::Timestamp(*unit, None))
                .build()?;
            as_text(&arrow::array::make_array(data))
        }
        _ => {
            let text = arrow::compute::cast(array, &DataType::Utf8)?;
            Ok(text.as_string::<i32>().clone())
        }
    }
}

/// One value of a nested column as JSON.
fn json_of(array: &dyn Array, i: usize) -> Value {
    if array.is_null(i) {
        return Value::Null;
    }
    match array.data_type() {
        DataType::Struct(fields) => {
            let s = array.as_struct();
            Value::Object(
                fields
                    .iter()
                    .zip(s.columns())
                    .map(|(f, c): (&Arc<Field>, &ArrayRef)| {
                        (f.name().clone(), json_of(c.as_ref(), i))
                    })
                    .collect(),
            )
        }
        DataType::List(_) => {
            let values = array.as_list::<i32>().value(i);
            Value::Array(
                (0..values.len())
                    .map(|j| json_of(values.as_ref(), j))
                    .collect(),
            )
        }
        DataType::LargeList(_) => {
            let values = array.as_list::<i64>().value(i);
            Value::Array(
                (0..values.len())
                    .map(|j| json_of(values.as_ref(), j))
                    .collect(),
            )
        }
        DataType::Map(_, _) => {
            let map = array.as_map();
            let entries = map.value(i);
            let (keys, values) = (entries.column(0), entries.column(1));
            Value::Object(
                (0..entries.len())
                    .map(|j| {
                        let key = match json_of(keys.as_ref(), j) {
                            Value::String(s) => s,
                            other => other.to_string(),
                        };
                        (key, json_of(values.as_ref(), j))
                    })
                    .collect(),
            )
        }
        DataType::Boolean => Value::Bool(array.as_boolean().value(i)),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            Value::String(display(array, i))
        }
        _ => {
            let text = display(array, i);
            serde_json::from_str::<serde_json::Number>(&text)
                .map(Value::Number)
                .unwrap_or(Value::String(text))
        }
    }
}

fn display(array: &dyn Array, i: usize) -> String {
    ArrayFormatter::try_new(array, &FormatOptions::default())
        .map(|f| f.value(i).to_string())
        .unwrap_or_default()
}

impl Records for ParquetRecords {
    fn header(&self) -> &Header {
        &self.header
    }

    fn advance(&mut self) -> Result<bool, BillError> {
        self.row += 1;
        while self.row >= self.rows {
            let Some(batch) = self.reader.next() else {
                return Ok(false);
            };
            let line = self.done + self.rows as u64 + 1;
            let malformed = |source: arrow::error::ArrowError| BillError::MalformedRecord {
                file: self.file.clone(),
                line,
                source: Box::new(source),
            };
            let batch = batch.map_err(malformed)?;
            let mut columns = Vec::with_capacity(self.leaves.len());
            for leaf in &self.leaves {
                let mut array = batch.column(leaf.path[0]).clone();
                for &child in &leaf.path[1..] {
                    array = array.as_struct().column(child).clone();
                }
                columns.push(as_text(&array).map_err(malformed)?);
            }
            self.done += self.rows as u64;
            self.columns = columns;
            self.rows = batch.num_rows();
            self.row = 0;
        }
        Ok(true)
    }

    fn cell(&self, col: usize) -> Option<&str> {
        let column = self.columns.get(col)?;
        if column.is_null(self.row) {
            return None;
        }
        non_null(column.value(self.row))
    }

    fn line(&self) -> u64 {
        self.done + self.row as u64 + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(name: &str, bytes: &[u8]) -> (Vec<String>, Vec<Vec<Option<String>>>) {
        let mut records = open(name, Input::Bytes(Bytes::copy_from_slice(bytes))).unwrap();
        let names = records.header().names.clone();
        let mut out = Vec::new();
        while records.advance().unwrap() {
            out.push(
                (0..names.len())
                    .map(|c| records.cell(c).map(str::to_owned))
                    .collect(),
            );
        }
        (names, out)
    }

    #[test]
    fn localised_azure_headers_are_found_by_their_english_name() {
        assert_eq!(
            column_key("Kategorie der Verbrauchseinheit (MeterCategory)"),
            "metercategory"
        );
        assert_eq!(column_key("\u{feff}SubscriptionGuid"), "subscriptionguid");
        assert_eq!(column_key("service.description"), "service.description");
    }

    #[test]
    fn csv_nulls_written_as_text_are_nulls() {
        let (names, rows) = rows("a.csv", b"A,B,C\nNULL,,x\n");
        assert_eq!(names, ["A", "B", "C"]);
        assert_eq!(rows, [vec![None, None, Some("x".to_owned())]]);
    }

    #[test]
    fn json_lines_records_are_flattened_to_dotted_names() {
        let text = br#"{"service": {"id": "S", "description": "Compute Engine"}, "labels": [{"key": "a", "value": "b"}], "cost": 1.5}
{"service": {"id": "S2"}, "cost": 2, "extra": 1}
"#;
        let (names, rows) = rows("a.jsonl", text);
        assert_eq!(
            names,
            [
                "service",
                "service.id",
                "service.description",
                "labels",
                "cost"
            ]
        );
        assert_eq!(rows[0][2].as_deref(), Some("Compute Engine"));
        assert_eq!(rows[0][3].as_deref(), Some(r#"[{"key":"a","value":"b"}]"#));
        assert_eq!(rows[1][1].as_deref(), Some("S2"));
        assert_eq!(rows[1][2], None);
        assert_eq!(rows[1][4].as_deref(), Some("2"));
    }

    #[test]
    fn a_json_array_is_a_list_of_records() {
        let (names, rows) = rows("a.json", b"[\n {\"a\": 1},\n {\"a\": 2}\n]");
        assert_eq!(names, ["a"]);
        assert_eq!(rows.len(), 2);
    }

    #[test]
    fn gzip_is_recognised_by_its_magic_bytes() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"A,B\n1,2\n").unwrap();
        let (names, rows) = rows("a.bin", &gz.finish().unwrap());
        assert_eq!(names, ["A", "B"]);
        assert_eq!(rows.len(), 1);
    }
}
