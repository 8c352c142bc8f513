//! Reading a dataset file back with arrow-rs, for the passes that go
//! around polars (`recommend`'s history, the report's facts): some columns,
//! and some string columns as dictionaries.
//!
//! The files declare their strings as strings (see [`super::reader_schema`]);
//! a low-cardinality column read as an Arrow dictionary instead (a schema
//! hint) keeps Parquet's dictionary pages as they are, so a string is
//! resolved once per dictionary entry, not per row, and rows compare by code.

use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};

/// A reader of the `columns` of `file` (top-level names; a column the file
/// lacks is simply not read) in batches of `batch_rows`, the string columns
/// named in `dictionaries` as `Dictionary(Int32, Utf8)`.
///
/// # Errors
///
/// The reason, as text, when the file cannot be opened or is not Parquet.
pub fn open(
    file: &Path,
    columns: &[&str],
    dictionaries: &[&str],
    batch_rows: usize,
) -> Result<ParquetRecordBatchReader, String> {
    let handle = std::fs::File::open(file).map_err(|e| e.to_string())?;
    let plain =
        ArrowReaderMetadata::load(&handle, ArrowReaderOptions::new()).map_err(|e| e.to_string())?;
    let metadata = hinted(plain.schema(), dictionaries)
        .and_then(|schema| {
            let options = ArrowReaderOptions::new().with_schema(schema);
            ArrowReaderMetadata::try_new(plain.metadata().clone(), options).ok()
        })
        .unwrap_or(plain);
    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(handle, metadata);
    let schema = builder.parquet_schema();
    let wanted: Vec<usize> = (0..schema.num_columns())
        .filter(|i| {
            schema
                .column(*i)
                .path()
                .parts()
                .first()
                .is_some_and(|top| columns.contains(&top.as_str()))
        })
        .collect();
    let mask = ProjectionMask::leaves(schema, wanted);
    builder
        .with_projection(mask)
        .with_batch_size(batch_rows)
        .build()
        .map_err(|e| e.to_string())
}

/// `schema` with the string columns named in `dictionaries` made
/// dictionaries; `None` when none is a string.
fn hinted(schema: &SchemaRef, dictionaries: &[&str]) -> Option<SchemaRef> {
    let dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let mut changed = false;
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|field| {
            if *field.data_type() == DataType::Utf8 && dictionaries.contains(&field.name().as_str())
            {
                changed = true;
                field.as_ref().clone().with_data_type(dictionary.clone())
            } else {
                field.as_ref().clone()
            }
        })
        .collect();
    changed.then(|| Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())))
}
