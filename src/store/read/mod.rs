//! Reading the dataset back: the one place outside the writer that touches
//! its files. [`files`] finds a table's files with partition pruning;
//! [`open`] streams one file's row groups as [`Batch`]es of only the
//! columns a caller [`Select`]s, which it reads through typed, borrowed
//! views ([`Columns`]) — so `recommend` and the report fold plain slices
//! and never import arrow or parquet.
//!
//! The shape is set by the passes that go around polars (`recommend`'s
//! history, the report's facts), where speed is the point: only the
//! columns asked for are decoded, a batch at a time, nothing is copied out
//! of arrow's buffers, and a low-cardinality string column can be read as
//! dictionary codes ([`Select::coded`]). The files declare their strings as
//! strings (see [`super::reader_schema`]); read as an Arrow dictionary
//! instead (a schema hint), Parquet's dictionary pages stay as they are, so
//! a string is resolved once per dictionary entry, not per row, and rows
//! compare by code.

mod error;
pub mod files;
mod ids;
#[cfg(test)]
pub(crate) mod testing;
mod view;

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, BooleanArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowPredicateFn, ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder, RowFilter,
};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::statistics::Statistics;
use parquet::schema::types::SchemaDescriptor;

pub use error::ReadError;
use error::file_error;
pub use files::{Filter, TableFile, clusters, files};
pub use ids::StringIds;
pub use view::{Bools, Codes, Columns, Dictionary, List, Strings, Text, Values};

/// What to read of a file. Built as a constant by each reader:
/// `Select::columns(&[col::A, col::B]).coded(&[col::A])`.
#[derive(Debug, Clone, Copy)]
pub struct Select<'a> {
    columns: &'a [&'a str],
    coded: &'a [&'a str],
    leaves: &'a [(&'a str, &'a str)],
    present: &'a [&'a str],
    batch_rows: Option<usize>,
}

impl<'a> Select<'a> {
    /// The top-level `columns`, whole; a column the file lacks (an older
    /// writer's) is not read, and [`Columns::has`] says so.
    pub const fn columns(columns: &'a [&'a str]) -> Select<'a> {
        Select {
            columns,
            coded: &[],
            leaves: &[],
            present: &[],
            batch_rows: None,
        }
    }

    /// The string columns to read as dictionary codes ([`Text::Coded`]):
    /// worth it where a file has few distinct values, not where nearly
    /// every row has its own (those fall back to plain pages, which arrow
    /// would have to make a dictionary of again).
    pub const fn coded(self, coded: &'a [&'a str]) -> Select<'a> {
        Select { coded, ..self }
    }

    /// Also (list, field): only that field of a list-of-structs column,
    /// not its other fields.
    pub const fn leaves(self, leaves: &'a [(&'a str, &'a str)]) -> Select<'a> {
        Select { leaves, ..self }
    }

    /// Only the rows where at least one of `columns` holds a value; the
    /// row groups whose statistics say they hold none are not decoded, and
    /// the other columns are decoded only for the rows kept. A column the
    /// file lacks holds no value.
    pub const fn present(self, columns: &'a [&'a str]) -> Select<'a> {
        Select {
            present: columns,
            ..self
        }
    }

    /// Rows per batch (arrow-rs's default, 1024, otherwise).
    pub const fn batch_rows(self, rows: usize) -> Select<'a> {
        Select {
            batch_rows: Some(rows),
            ..self
        }
    }

    fn reads(&self, parts: &[String]) -> bool {
        let Some(top) = parts.first() else {
            return false;
        };
        self.columns.contains(&top.as_str())
            || (parts.len() > 1
                && parts.last().is_some_and(|leaf| {
                    self.leaves
                        .iter()
                        .any(|(list, field)| list == top && field == leaf)
                }))
    }
}

/// One decoded batch of a file.
#[derive(Debug, Clone)]
pub struct Batch {
    batch: RecordBatch,
    path: Arc<str>,
}

impl Batch {
    pub fn rows(&self) -> usize {
        self.batch.num_rows()
    }

    /// The file, as errors name it.
    pub fn path(&self) -> &Arc<str> {
        &self.path
    }

    /// The batch's columns, to read through typed views.
    pub fn columns(&self) -> Columns<'_> {
        Columns::new(
            &self.path,
            self.batch.schema_ref().fields(),
            self.batch.columns(),
            self.batch.num_rows(),
        )
    }

    /// The batch with only the rows whose `keep` is true.
    ///
    /// # Errors
    ///
    /// [`ReadError::File`] when `keep` is not one flag per row.
    pub fn keep(&self, keep: &[bool]) -> Result<Batch, ReadError> {
        let bad = file_error(&self.path);
        if keep.len() != self.rows() {
            return Err(bad(format!(
                "{} rows to keep or drop in a batch of {}",
                keep.len(),
                self.rows()
            )));
        }
        let mask = BooleanArray::from(keep.to_vec());
        let batch = arrow::compute::filter_record_batch(&self.batch, &mask)
            .map_err(|e| bad(e.to_string()))?;
        Ok(Batch {
            batch,
            path: self.path.clone(),
        })
    }
}

/// The batches of one file, in row order.
pub struct Reader {
    rows: Option<ParquetRecordBatchReader>,
    path: Arc<str>,
}

impl Iterator for Reader {
    type Item = Result<Batch, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        let batch = self.rows.as_mut()?.next()?;
        Some(
            batch
                .and_then(plain_strings)
                .map(|batch| Batch {
                    batch,
                    path: self.path.clone(),
                })
                .map_err(|e| file_error(&self.path)(e.to_string())),
        )
    }
}

/// Why `file` cannot be read as Parquet at all (no footer, not Parquet,
/// unreadable), or none: for naming the culprit when an engine that reads
/// many files at once reports only that one of them is bad.
pub fn unreadable(file: &Path) -> Option<String> {
    let handle = match std::fs::File::open(file) {
        Ok(handle) => handle,
        Err(error) => return Some(error.to_string()),
    };
    ArrowReaderMetadata::load(&handle, ArrowReaderOptions::new())
        .err()
        .map(|error| error.to_string())
}

/// Opens `file` to read what `select` asks for.
///
/// # Errors
///
/// [`ReadError::File`] naming the file when it cannot be opened or is not
/// Parquet (a decoding error later is the [`Reader`]'s, naming it too).
pub fn open(file: &Path, select: &Select<'_>) -> Result<Reader, ReadError> {
    let path: Arc<str> = Arc::from(file.display().to_string());
    let bad = file_error(&path);
    let handle = std::fs::File::open(file).map_err(|e| bad(e.to_string()))?;
    let plain = ArrowReaderMetadata::load(&handle, ArrowReaderOptions::new())
        .map_err(|e| bad(e.to_string()))?;
    let metadata = hinted(plain.schema(), select.coded)
        .and_then(|schema| {
            let options = ArrowReaderOptions::new().with_schema(schema);
            ArrowReaderMetadata::try_new(plain.metadata().clone(), options).ok()
        })
        .unwrap_or(plain);
    let mut builder = ParquetRecordBatchReaderBuilder::new_with_metadata(handle, metadata);
    let schema = builder.parquet_schema();
    let wanted =
        (0..schema.num_columns()).filter(|i| select.reads(schema.column(*i).path().parts()));
    let mask = ProjectionMask::leaves(schema, wanted.collect::<Vec<_>>());
    if !select.present.is_empty() {
        let present: Vec<usize> = select
            .present
            .iter()
            .filter_map(|name| top_level(schema, name))
            .collect();
        let groups = groups_with_values(builder.metadata(), &present);
        if groups.is_empty() {
            return Ok(Reader {
                rows: None,
                path: path.clone(),
            });
        }
        let values = ProjectionMask::leaves(schema, present);
        let some = ArrowPredicateFn::new(values, |batch: RecordBatch| {
            let mut any = BooleanArray::from(vec![false; batch.num_rows()]);
            for column in batch.columns() {
                any = arrow::compute::or(&any, &arrow::compute::is_not_null(column.as_ref())?)?;
            }
            Ok(any)
        });
        builder = builder
            .with_row_groups(groups)
            .with_row_filter(RowFilter::new(vec![Box::new(some)]));
    }
    if let Some(rows) = select.batch_rows {
        builder = builder.with_batch_size(rows);
    }
    let rows = builder
        .with_projection(mask)
        .build()
        .map_err(|e| bad(e.to_string()))?;
    Ok(Reader {
        rows: Some(rows),
        path: path.clone(),
    })
}

/// The largest value of the integer (or timestamp) column `column` in
/// `file`, from its row groups' statistics alone: `None` when they do not
/// say (no such column, no statistics).
///
/// # Errors
///
/// [`ReadError::File`] when the file cannot be opened or is not Parquet.
pub fn max_from_statistics(file: &Path, column: &str) -> Result<Option<i64>, ReadError> {
    let shown = file.display().to_string();
    let bad = file_error(&shown);
    let handle = std::fs::File::open(file).map_err(|e| bad(e.to_string()))?;
    let metadata = ArrowReaderMetadata::load(&handle, ArrowReaderOptions::new())
        .map_err(|e| bad(e.to_string()))?;
    let metadata = metadata.metadata();
    let Some(at) = top_level(metadata.file_metadata().schema_descr(), column) else {
        return Ok(None);
    };
    Ok(metadata
        .row_groups()
        .iter()
        .filter_map(|group| match group.column(at).statistics()? {
            Statistics::Int64(stats) => stats.max_opt().copied(),
            _ => None,
        })
        .max())
}

/// The leaf of the top-level primitive column `name`.
fn top_level(schema: &SchemaDescriptor, name: &str) -> Option<usize> {
    (0..schema.num_columns()).find(|&i| {
        let column = schema.column(i);
        let parts = column.path().parts();
        parts.len() == 1 && parts[0] == name
    })
}

/// The row groups where one of the `leaves` may hold a value: all but
/// those whose statistics count only nulls in each.
fn groups_with_values(metadata: &ParquetMetaData, leaves: &[usize]) -> Vec<usize> {
    metadata
        .row_groups()
        .iter()
        .enumerate()
        .filter(|(_, group)| {
            leaves.iter().any(|&leaf| {
                group
                    .column(leaf)
                    .statistics()
                    .and_then(|s| s.null_count_opt())
                    .is_none_or(|nulls| i64::try_from(nulls).unwrap_or(i64::MAX) < group.num_rows())
            })
        })
        .map(|(i, _)| i)
        .collect()
}

/// `schema` with the string columns named in `coded` made dictionaries;
/// `None` when none is a string.
fn hinted(schema: &SchemaRef, coded: &[&str]) -> Option<SchemaRef> {
    let dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let mut changed = false;
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|field| {
            if *field.data_type() == DataType::Utf8 && coded.contains(&field.name().as_str()) {
                changed = true;
                field.as_ref().clone().with_data_type(dictionary.clone())
            } else {
                field.as_ref().clone()
            }
        })
        .collect();
    changed.then(|| Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())))
}

/// The batch with every top-level string column as `Utf8` or
/// `Dictionary(Int32, Utf8)`, the two [`Text`] reads: another writer may
/// have declared large strings, string views or other dictionary keys.
fn plain_strings(batch: RecordBatch) -> Result<RecordBatch, arrow::error::ArrowError> {
    let unusual = |t: &DataType| match t {
        DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(key, value) => {
            matches!(
                **value,
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ) && (**key != DataType::Int32 || **value != DataType::Utf8)
        }
        _ => false,
    };
    if !batch.columns().iter().any(|c| unusual(c.data_type())) {
        return Ok(batch);
    }
    let schema = batch.schema();
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if unusual(column.data_type()) {
            fields.push(field.as_ref().clone().with_data_type(DataType::Utf8));
            columns.push(arrow::compute::cast(column, &DataType::Utf8)?);
        } else {
            fields.push(field.as_ref().clone());
            columns.push(Arc::clone(column));
        }
    }
    let schema = Schema::new_with_metadata(fields, schema.metadata().clone());
    RecordBatch::try_new(Arc::new(schema), columns)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, DictionaryArray, Float64Array, Int64Array, RecordBatch};
    use arrow::datatypes::Int32Type;

    use super::*;
    use crate::store::parquet_bytes;
    use crate::store::read::testing::TABLE;
    use crate::store::schema::col;

    /// A file of four rows: a namespace, a float with nulls, an integer.
    fn file(dir: &Path) -> std::path::PathBuf {
        let namespace: DictionaryArray<Int32Type> = ["a", "b", "a", "a"].into_iter().collect();
        let columns: [(&str, ArrayRef); 3] = [
            (col::NAMESPACE, Arc::new(namespace)),
            (
                col::CPU_USAGE_MAX_CORES,
                Arc::new(Float64Array::from(vec![None, Some(1.5), None, Some(0.5)])),
            ),
            (col::TS, Arc::new(Int64Array::from(vec![10, 40, 20, 30]))),
        ];
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let bytes = parquet_bytes(&TABLE, &batch).unwrap();
        let path = dir.join("part-00-w-0000.parquet");
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn batches(file: &Path, select: &Select<'_>) -> Vec<Batch> {
        open(file, select)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn reads_only_the_columns_selected_strings_as_codes_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let file = file(dir.path());
        let select = Select::columns(&[col::NAMESPACE, col::TS, col::POD]);
        let plain = batches(&file, &select);
        let columns = plain[0].columns();
        assert!(columns.has(col::TS) && !columns.has(col::CPU_USAGE_MAX_CORES));
        assert!(
            !columns.has(col::POD),
            "a column the file lacks is not read"
        );
        assert!(matches!(columns.text(col::NAMESPACE), Ok(Text::Plain(_))));
        let coded = batches(&file, &select.coded(&[col::NAMESPACE]));
        let Ok(Text::Coded(codes)) = coded[0].columns().text(col::NAMESPACE) else {
            panic!("namespace not read as codes");
        };
        let names: Vec<&str> = (0..4)
            .map(|row| codes.values().get(codes.codes()[row] as usize))
            .collect();
        assert_eq!(names, ["a", "b", "a", "a"]);
        let ts = coded[0]
            .columns()
            .int64s(col::TS)
            .map(|v| v.values().to_vec());
        assert_eq!(ts.ok(), Some(vec![10, 40, 20, 30]));
    }

    #[test]
    fn present_keeps_only_rows_with_a_value() {
        let dir = tempfile::tempdir().unwrap();
        let file = file(dir.path());
        let select = Select::columns(&[col::NAMESPACE, col::CPU_USAGE_MAX_CORES])
            .present(&[col::CPU_USAGE_MAX_CORES]);
        let kept = batches(&file, &select);
        let rows: Vec<(String, Option<f64>)> = kept
            .iter()
            .flat_map(|batch| {
                let columns = batch.columns();
                let names = columns.text(col::NAMESPACE).unwrap();
                let max = columns.floats(col::CPU_USAGE_MAX_CORES).unwrap();
                (0..batch.rows())
                    .map(|row| (names.get(row).to_owned(), max.get(row)))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(rows, [("b".into(), Some(1.5)), ("a".into(), Some(0.5))]);
        let absent = Select::columns(&[col::NAMESPACE]).present(&[col::POD]);
        assert!(
            batches(&file, &absent).is_empty(),
            "a missing column holds no value"
        );
    }

    #[test]
    fn statistics_give_a_column_maximum_without_decoding() {
        let dir = tempfile::tempdir().unwrap();
        let file = file(dir.path());
        assert_eq!(max_from_statistics(&file, col::TS).ok(), Some(Some(40)));
        assert_eq!(max_from_statistics(&file, col::POD).ok(), Some(None));
    }

    #[test]
    fn a_column_of_another_type_is_an_error_naming_file_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let file = file(dir.path());
        let read = batches(&file, &Select::columns(&[col::TS]));
        let error = read[0]
            .columns()
            .floats(col::TS)
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert_eq!(
            error,
            Err(format!(
                "{}: column ts is missing or not float64",
                file.display()
            ))
        );
    }

    #[test]
    fn a_corrupt_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("part-00-w-0000.parquet");
        std::fs::write(&file, b"not parquet at all").unwrap();
        let error = open(&file, &Select::columns(&[col::TS]))
            .map(|_| ())
            .map_err(|e| e.to_string());
        let shown = file.display().to_string();
        assert!(
            error
                .as_ref()
                .is_err_and(|e| e.starts_with(&format!("{shown}: "))),
            "{error:?}"
        );
        let missing = open(
            &dir.path().join("gone.parquet"),
            &Select::columns(&[col::TS]),
        );
        assert!(missing.is_err_and(|e| e.to_string().contains("gone.parquet")));
    }
}
