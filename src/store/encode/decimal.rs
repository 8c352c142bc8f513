//! A decimal column chunk written straight from its Arrow `i128`s.
//!
//! arrow-rs (60) writes a `Decimal128` column stored as
//! `FIXED_LEN_BYTE_ARRAY` by copying every value into one buffer and then
//! cutting it into a reference-counted `Bytes` per value (an atomic
//! increment and decrement each): 6 % of a FOCUS export's time, which has
//! twelve such columns (costs, quantities, unit prices, the origin's cost)
//! of ~86 M rows a week (perf; docs/performance.md). Here each page's
//! values are copied once into the page's body.
//!
//! What is written is what arrow-rs writes for a column without
//! statistics: with a dictionary, a `PLAIN` dictionary page of the values
//! in order of first appearance and `RLE_DICTIONARY` data pages (the
//! export's unit prices and origin costs, which repeat charge after
//! charge); without one, `PLAIN` data pages. Pages are format v1, of at
//! most the configured rows and bytes, each value big-endian in the
//! column's byte width, the levels `RLE`, with the offset index. Any other
//! settings (statistics, bloom filters, format v2 pages, ...) are left to
//! arrow-rs ([`writable`] returns `None`), and so is an empty column, one
//! of nulls only, and a dictionary past the dictionary page limit
//! ([`encode`] returns `None`; arrow-rs then falls back to plain pages).

use std::sync::Arc;

use arrow::array::{Array, AsArray, Decimal128Array};
use arrow::datatypes::Decimal128Type;
use parquet::basic::{Encoding, EncodingMask, LogicalType, PageType, Type};
use parquet::errors::Result;
use parquet::file::metadata::{ColumnChunkMetaData, PageEncodingStats};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::file::writer::TrackedWrite;
use parquet::schema::types::ColumnDescPtr;
use rustc_hash::FxHashMap;

use super::pages::{
    ColumnChunk, Pages, definition_levels, dictionary_data_pages, dictionary_metadata,
};

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
        && properties.statistics_enabled(path) == EnabledStatistics::None
        && properties.bloom_filter_properties(path).is_none()
        && !properties.write_page_header_statistics(path)
        && properties.content_defined_chunking().is_none();
    fits.then_some(decimals)
}

/// Encodes `array` as one column chunk, or `None` for arrow-rs to write.
///
/// # Errors
///
/// Compression fails, or the chunk's metadata is refused (a defect).
pub(super) fn encode(
    array: &Decimal128Array,
    descr: &ColumnDescPtr,
    properties: &WriterProperties,
) -> Result<Option<ColumnChunk>> {
    // `writable` checked 1..=16.
    let width = usize::try_from(descr.type_length()).unwrap_or(16).min(16);
    if properties.dictionary_enabled(descr.path()) {
        dictionary(array, descr, properties, width)
    } else {
        plain(array, descr, properties, width).map(Some)
    }
}

/// `value` as the column stores it: big-endian, in `width` bytes.
fn put(body: &mut Vec<u8>, value: i128, width: usize) {
    body.extend_from_slice(&value.to_be_bytes()[16 - width..]);
}

/// The chunk with a dictionary, or `None` when there is no value or the
/// dictionary passes the dictionary page limit.
fn dictionary(
    array: &Decimal128Array,
    descr: &ColumnDescPtr,
    properties: &WriterProperties,
    width: usize,
) -> Result<Option<ColumnChunk>> {
    let mut entries: Vec<i128> = Vec::new();
    let mut by_value: FxHashMap<i128, u32> = FxHashMap::default();
    let mut ids = Vec::with_capacity(array.len() - array.null_count());
    let mut last: Option<(i128, u32)> = None;
    let mut intern = |value: i128| {
        let id = match last {
            Some((v, id)) if v == value => id,
            _ => *by_value.entry(value).or_insert_with(|| {
                entries.push(value);
                // A chunk has fewer rows than u32::MAX.
                (entries.len() - 1) as u32
            }),
        };
        last = Some((value, id));
        ids.push(id);
    };
    let values = array.values();
    match array.nulls() {
        Some(nulls) => nulls.valid_indices().for_each(|row| intern(values[row])),
        None => values.iter().for_each(|&value| intern(value)),
    }
    let path = descr.path();
    if ids.is_empty() || entries.len() * width > properties.column_dictionary_page_size_limit(path)
    {
        return Ok(None);
    }
    let mut sink = TrackedWrite::new(Vec::new());
    let mut pages = Pages::new(
        &mut sink,
        properties.compression(path),
        !properties.offset_index_disabled(),
    )?;
    let mut plain = Vec::with_capacity(entries.len() * width);
    entries
        .iter()
        .for_each(|&value| put(&mut plain, value, width));
    pages.dictionary(entries.len() as u32, &plain)?;
    let column = (&ids[..], entries.len(), array.nulls(), array.len());
    dictionary_data_pages(&mut pages, descr, properties, column, |_, _| {})?;
    let written = pages.close()?;
    let metadata = dictionary_metadata(descr, properties, &written, array.len()).build()?;
    ColumnChunk::new(sink, array.len(), metadata, None, written.offset_index).map(Some)
}

/// The chunk as `PLAIN` pages.
fn plain(
    array: &Decimal128Array,
    descr: &ColumnDescPtr,
    properties: &WriterProperties,
    width: usize,
) -> Result<ColumnChunk> {
    let path = descr.path();
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
        match array.nulls() {
            Some(nulls) => {
                for row in rows.clone().filter(|&row| nulls.is_valid(row)) {
                    put(&mut body, values[row], width);
                }
            }
            None => values[rows.clone()]
                .iter()
                .for_each(|&value| put(&mut body, value, width)),
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
