//! A decimal column chunk written straight from its Arrow `i128`s.
//!
//! arrow-rs (60) writes a `Decimal128` column stored as
//! `FIXED_LEN_BYTE_ARRAY` by copying every value into one buffer and then
//! cutting it into a reference-counted `Bytes` per value (an atomic
//! increment and decrement each): 7 % of a FOCUS export's time, whose
//! costs and quantities are seven such columns of ~80 M rows a week
//! (perf; docs/performance.md). Here each page's values are copied once
//! into the page's body.
//!
//! What is written is what arrow-rs writes for a column without a
//! dictionary or statistics: `PLAIN` data pages (format v1) of at most the
//! configured rows and bytes, each value big-endian in the column's byte
//! width, the levels `RLE`, and the offset index. Any other settings
//! (a dictionary, statistics, bloom filters, format v2 pages, ...) are left
//! to arrow-rs ([`writable`] returns `None`), and so is an empty column.

use std::sync::Arc;

use arrow::array::{Array, AsArray, Decimal128Array};
use arrow::datatypes::Decimal128Type;
use parquet::basic::{Encoding, EncodingMask, LogicalType, PageType, Type};
use parquet::errors::Result;
use parquet::file::metadata::{ColumnChunkMetaData, PageEncodingStats};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::file::writer::TrackedWrite;
use parquet::schema::types::ColumnDescPtr;

use super::pages::{ColumnChunk, Pages, definition_levels};

/// The column as decimals this module writes, or `None` when the column or
/// the settings ask for something only arrow-rs does.
pub(super) fn writable<'a>(
    array: &'a dyn Array,
    descr: &ColumnDescPtr,
    properties: &WriterProperties,
) -> Option<&'a Decimal128Array> {
    let path = descr.path();
    let decimals = array.as_primitive_opt::<Decimal128Type>()?;
    let decimal = matches!(descr.logical_type_ref(), Some(LogicalType::Decimal { .. }));
    let fits = decimal
        && !decimals.is_empty()
        && descr.physical_type() == Type::FIXED_LEN_BYTE_ARRAY
        && (1..=16).contains(&descr.type_length())
        && descr.max_rep_level() == 0
        && descr.max_def_level() <= 1
        && (descr.max_def_level() == 1 || decimals.null_count() == 0)
        && properties.writer_version() == WriterVersion::PARQUET_1_0
        && !properties.dictionary_enabled(path)
        && properties.statistics_enabled(path) == EnabledStatistics::None
        && properties.bloom_filter_properties(path).is_none()
        && !properties.write_page_header_statistics(path)
        && properties.content_defined_chunking().is_none();
    fits.then_some(decimals)
}

/// Encodes `array` as one column chunk of `PLAIN` pages.
///
/// # Errors
///
/// Compression fails, or the chunk's metadata is refused (a defect).
pub(super) fn encode(
    array: &Decimal128Array,
    descr: &ColumnDescPtr,
    properties: &WriterProperties,
) -> Result<ColumnChunk> {
    let path = descr.path();
    // `writable` checked 1..=16.
    let width = usize::try_from(descr.type_length()).unwrap_or(16).min(16);
    let nullable = descr.max_def_level() == 1;
    let by_size = (properties.column_data_page_size_limit(path) / width).max(1);
    let page_rows = properties
        .column_data_page_row_count_limit(path)
        .min(by_size)
        .max(1);

    let compression = properties.compression(path);
    let mut sink = TrackedWrite::new(Vec::new());
    let mut pages = Pages::new(&mut sink, compression, !properties.offset_index_disabled())?;
    let values = array.values();
    let mut body = Vec::with_capacity(page_rows * width + 64);
    for start in (0..array.len()).step_by(page_rows) {
        let rows = start..array.len().min(start + page_rows);
        body.clear();
        if nullable {
            body.extend_from_slice(&definition_levels(array.nulls(), rows.clone()));
        }
        let mut put = |value: i128| body.extend_from_slice(&value.to_be_bytes()[16 - width..]);
        match array.nulls() {
            Some(nulls) => {
                for row in rows.clone().filter(|&row| nulls.is_valid(row)) {
                    put(values[row]);
                }
            }
            None => values[rows.clone()].iter().for_each(|&value| put(value)),
        }
        pages.data(Encoding::PLAIN, rows.len(), &body)?;
    }
    let written = pages.close()?;

    let metadata = ColumnChunkMetaData::builder(Arc::clone(descr))
        .set_compression(compression)
        .set_encodings_mask(EncodingMask::new_from_encodings(
            [Encoding::PLAIN, Encoding::RLE].iter(),
        ))
        .set_page_encoding_stats(vec![PageEncodingStats {
            page_type: PageType::DATA_PAGE,
            encoding: Encoding::PLAIN,
            count: written.data_pages as i32,
        }])
        .set_total_compressed_size(written.compressed)
        .set_total_uncompressed_size(written.uncompressed)
        .set_num_values(array.len() as i64)
        .set_data_page_offset(written.first_data_page)
        .build()?;
    ColumnChunk::new(sink, array.len(), metadata, None, written.offset_index)
}
