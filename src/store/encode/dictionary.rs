//! A string column chunk written from its Arrow dictionary's own keys.
//!
//! arrow-rs (60) writes a `Dictionary(Int32, Utf8)` column by looking every
//! row's string up again in a hash table of its own (a hash and a `memcmp`
//! per cell) and comparing it with the page's minimum and maximum: three
//! quarters of the collector's Parquet time, and the largest part of a FOCUS
//! export's (perf; docs/performance.md). The keys already say which rows
//! share a string, so here each distinct key is looked up once and a row
//! costs an array index.
//!
//! What is written is what arrow-rs writes for the same column with the same
//! settings: a `PLAIN` dictionary page of the strings in order of first
//! appearance, `RLE_DICTIONARY` data pages (format v1) of at most the
//! configured rows and bytes, the levels `RLE`, chunk statistics truncated
//! the same way, the offset index and, with page statistics, the column
//! index. Not written: the level histograms and unencoded-size statistics
//! (optional in the format; no engine we test reads them). Anything this
//! does not cover is left to arrow-rs ([`encode`] returns `None`).

use std::collections::HashMap;

use arrow::array::{Array, AsArray, DictionaryArray};
use arrow::datatypes::{DataType, Int32Type};
use parquet::basic::{BoundaryOrder, ConvertedType, LogicalType, Type};
use parquet::data_type::ByteArray;
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::ColumnIndexBuilder;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::file::writer::TrackedWrite;
use parquet::schema::types::ColumnDescPtr;

use super::pages::{ColumnChunk, Pages, dictionary_data_pages, dictionary_metadata};

/// The column as a dictionary this module writes, or `None` when the column
/// or the settings ask for something only arrow-rs does (nesting, format v2
/// pages, bloom filters, page header statistics, content-defined chunking,
/// nulls in a required column).
pub(super) fn writable<'a>(
    array: &'a dyn Array,
    descr: &ColumnDescPtr,
    properties: &WriterProperties,
) -> Option<&'a DictionaryArray<Int32Type>> {
    let path = descr.path();
    let utf8 = descr.logical_type_ref() == Some(&LogicalType::String)
        || descr.converted_type() == ConvertedType::UTF8;
    let dictionary = array.as_dictionary_opt::<Int32Type>()?;
    let fits = utf8
        && descr.physical_type() == Type::BYTE_ARRAY
        && descr.max_rep_level() == 0
        && descr.max_def_level() <= 1
        && (descr.max_def_level() == 1 || dictionary.null_count() == 0)
        && *dictionary.values().data_type() == DataType::Utf8
        && dictionary.values().null_count() == 0
        && properties.writer_version() == WriterVersion::PARQUET_1_0
        && properties.dictionary_enabled(path)
        && properties.bloom_filter_properties(path).is_none()
        && !properties.write_page_header_statistics(path)
        && properties.content_defined_chunking().is_none();
    fits.then_some(dictionary)
}

/// The distinct strings of a column chunk in order of first appearance, and
/// each non-null row's index into them.
struct Interned<'a> {
    strings: Vec<&'a str>,
    ids: Vec<u32>,
}

fn intern<'a>(array: &'a DictionaryArray<Int32Type>) -> Result<Interned<'a>> {
    let values = array
        .values()
        .as_string_opt::<i32>()
        .ok_or_else(|| ParquetError::General("a dictionary of other values than strings".into()))?;
    let keys = array.keys().values();
    // Per key of the Arrow dictionary, its id here (`u32::MAX`: not seen).
    // Two keys may hold the same string; the file's dictionary has it once.
    let mut slot = vec![u32::MAX; values.len()];
    let mut by_text: HashMap<&str, u32> = HashMap::new();
    let mut strings = Vec::new();
    let mut ids = Vec::with_capacity(array.len() - array.null_count());
    let mut last: Option<(i32, u32)> = None;
    let mut push = |key: i32| -> Result<()> {
        let id = match last {
            Some((k, id)) if k == key => id,
            _ => {
                let index = usize::try_from(key)
                    .ok()
                    .filter(|&i| i < slot.len())
                    .ok_or_else(|| {
                        ParquetError::General(format!("dictionary key {key} out of range"))
                    })?;
                if slot[index] == u32::MAX {
                    let text = values.value(index);
                    let next = u32::try_from(strings.len()).map_err(|_| {
                        ParquetError::General("more than 2^32 distinct strings".into())
                    })?;
                    slot[index] = *by_text.entry(text).or_insert_with(|| {
                        strings.push(text);
                        next
                    });
                }
                slot[index]
            }
        };
        last = Some((key, id));
        ids.push(id);
        Ok(())
    };
    match array.nulls() {
        Some(nulls) => {
            for row in nulls.valid_indices() {
                push(keys[row])?;
            }
        }
        None => {
            for &key in keys {
                push(key)?;
            }
        }
    }
    Ok(Interned { strings, ids })
}

/// Truncation as arrow-rs does it for UTF-8 statistics: `(bytes, exact)`.
fn truncated_min(text: &str, length: Option<usize>) -> (Vec<u8>, bool) {
    length
        .filter(|&l| text.len() > l)
        .and_then(|l| (1..=l).rfind(|&at| text.is_char_boundary(at)))
        .map(|at| (text.as_bytes()[..at].to_vec(), false))
        .unwrap_or_else(|| (text.as_bytes().to_vec(), true))
}

/// The shortest string above every string starting with `text`'s first
/// `length` bytes (its last character incremented), or `text` itself.
fn truncated_max(text: &str, length: Option<usize>) -> (Vec<u8>, bool) {
    let incremented = |l: usize| {
        let at = (l.saturating_sub(3)..=l).rfind(|&at| text.is_char_boundary(at))?;
        let prefix = text.get(..at)?;
        prefix.char_indices().rev().find_map(|(i, c)| {
            let next = char::from_u32(c as u32 + 1).filter(|n| n.len_utf8() == c.len_utf8())?;
            let mut bytes = prefix.as_bytes()[..i].to_vec();
            let mut buffer = [0; 4];
            bytes.extend_from_slice(next.encode_utf8(&mut buffer).as_bytes());
            Some(bytes)
        })
    };
    length
        .filter(|&l| text.len() > l)
        .and_then(incremented)
        .map(|bytes| (bytes, false))
        .unwrap_or_else(|| (text.as_bytes().to_vec(), true))
}

/// Encodes `array` as one column chunk, or `None` when its dictionary would
/// pass the dictionary page limit or it has no value (arrow-rs then falls
/// back to plain pages, or writes the empty dictionary its own way).
pub(super) fn encode(
    array: &DictionaryArray<Int32Type>,
    descr: &ColumnDescPtr,
    properties: &WriterProperties,
) -> Result<Option<ColumnChunk>> {
    let path = descr.path();
    let Interned { strings, ids } = intern(array)?;
    let dictionary_bytes: usize = strings.iter().map(|s| 4 + s.len()).sum();
    if ids.is_empty() || dictionary_bytes > properties.column_dictionary_page_size_limit(path) {
        return Ok(None);
    }
    let statistics = properties.statistics_enabled(path);
    // Each string's place in byte order: page minimums and maximums are
    // then integer comparisons.
    let mut sorted: Vec<u32> = (0..strings.len() as u32).collect();
    sorted.sort_unstable_by(|&a, &b| {
        strings[a as usize]
            .as_bytes()
            .cmp(strings[b as usize].as_bytes())
    });
    let mut rank = vec![0u32; strings.len()];
    for (place, &id) in sorted.iter().enumerate() {
        rank[id as usize] = place as u32;
    }

    let compression = properties.compression(path);
    let mut sink = TrackedWrite::new(Vec::new());
    let mut pages = Pages::new(&mut sink, compression, !properties.offset_index_disabled())?;

    let mut plain = Vec::with_capacity(dictionary_bytes);
    for text in &strings {
        plain.extend_from_slice(&(text.len() as u32).to_le_bytes());
        plain.extend_from_slice(text.as_bytes());
    }
    pages.dictionary(strings.len() as u32, &plain)?;
    drop(plain);

    let mut column_index =
        (statistics == EnabledStatistics::Page).then(|| ColumnIndexBuilder::new(Type::BYTE_ARRAY));
    let (mut ascending, mut descending) = (true, true);
    let mut last_page: Option<(u32, u32)> = None;
    let column = (&ids[..], strings.len(), array.nulls(), array.len());
    dictionary_data_pages(&mut pages, descr, properties, column, |nulls, page_ids| {
        let Some(index) = column_index.as_mut() else {
            return;
        };
        let mut ranks = page_ids.iter().map(|&id| rank[id as usize]);
        let Some(first) = ranks.next() else {
            index.append(true, Vec::new(), Vec::new(), nulls, None);
            return;
        };
        let (lowest, highest) =
            ranks.fold((first, first), |(low, high), r| (low.min(r), high.max(r)));
        if let Some((low, high)) = last_page {
            ascending &= low <= lowest && high <= highest;
            descending &= low >= lowest && high >= highest;
        }
        last_page = Some((lowest, highest));
        let truncate = properties.column_index_truncate_length();
        let (min, _) = truncated_min(strings[sorted[lowest as usize] as usize], truncate);
        let (max, _) = truncated_max(strings[sorted[highest as usize] as usize], truncate);
        index.append(false, min, max, nulls, None);
    })?;
    let written = pages.close()?;

    let mut metadata = dictionary_metadata(descr, properties, &written, array.len());
    if statistics != EnabledStatistics::None {
        let truncate = properties.statistics_truncate_length();
        let (min, min_exact) = truncated_min(strings[sorted[0] as usize], truncate);
        let (max, max_exact) = truncated_max(strings[sorted[sorted.len() - 1] as usize], truncate);
        let chunk = ValueStatistics::<ByteArray>::new(
            Some(ByteArray::from(min)),
            Some(ByteArray::from(max)),
            None,
            Some(array.null_count() as u64),
            false,
        )
        .with_min_is_exact(min_exact)
        .with_max_is_exact(max_exact);
        metadata = metadata.set_statistics(Statistics::ByteArray(chunk));
    }
    let metadata = metadata.build()?;
    let column_index = match column_index {
        Some(mut index) => {
            index.set_boundary_order(match (ascending, descending) {
                (true, _) => BoundaryOrder::ASCENDING,
                (false, true) => BoundaryOrder::DESCENDING,
                (false, false) => BoundaryOrder::UNORDERED,
            });
            Some(index.build()?)
        }
        None => None,
    };
    ColumnChunk::new(
        sink,
        array.len(),
        metadata,
        column_index,
        written.offset_index,
    )
    .map(Some)
}
