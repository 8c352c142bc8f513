//! What the column chunks kubetally encodes itself ([`super::dictionary`],
//! [`super::decimal`]) share: format v1 definition levels, pages compressed
//! and written into the chunk's own buffer, and the chunk as the row group
//! appends it.

use std::ops::Range;
use std::sync::Arc;

use arrow::buffer::NullBuffer;
use bytes::Bytes;
use parquet::basic::{Compression, Encoding, EncodingMask, PageType};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::compression::{Codec, CodecOptionsBuilder, create_codec};
use parquet::encodings::rle::RleEncoder;
use parquet::errors::Result;
use parquet::file::metadata::{
    ColumnChunkMetaData, ColumnChunkMetaDataBuilder, OffsetIndexBuilder, PageEncodingStats,
};
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::page_index::offset_index::OffsetIndexMetaData;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;

/// An encoded column chunk: its bytes (offsets relative to their start)
/// and what the row group records about it.
pub(super) struct ColumnChunk {
    pub bytes: Bytes,
    pub close: ColumnCloseResult,
}

impl ColumnChunk {
    /// The chunk of `rows` rows whose pages `sink` holds.
    ///
    /// # Errors
    ///
    /// The sink's buffer cannot be taken (it never fails for a `Vec`).
    pub fn new(
        sink: TrackedWrite<Vec<u8>>,
        rows: usize,
        metadata: ColumnChunkMetaData,
        column_index: Option<ColumnIndexMetaData>,
        offset_index: Option<OffsetIndexMetaData>,
    ) -> Result<ColumnChunk> {
        let bytes_written = sink.bytes_written() as u64;
        Ok(ColumnChunk {
            bytes: Bytes::from(sink.into_inner()?),
            close: ColumnCloseResult {
                bytes_written,
                rows_written: rows as u64,
                metadata,
                bloom_filter: None,
                column_index,
                offset_index,
            },
        })
    }
}

/// Puts `count` copies of `value`, without a call per copy once the encoder
/// is in a run.
fn put_run(encoder: &mut RleEncoder, value: u64, count: usize) {
    let mut left = count;
    while left > 0 {
        if encoder.is_accumulating_rle(value) {
            encoder.extend_run(left);
            return;
        }
        encoder.put(value);
        left -= 1;
    }
}

/// A page's definition levels as format v1 stores them: a little-endian
/// length, then the RLE/bit-packed levels (1 for a value, 0 for a null),
/// for the column's `rows` (`nulls`: the whole column's validity).
pub(super) fn definition_levels(nulls: Option<&NullBuffer>, rows: Range<usize>) -> Vec<u8> {
    let mut encoder = RleEncoder::new_from_buf(1, vec![0; 4]);
    match nulls {
        Some(nulls) => {
            let page = nulls.inner().slice(rows.start, rows.len());
            let mut row = 0;
            for (start, end) in page.set_slices() {
                put_run(&mut encoder, 0, start - row);
                put_run(&mut encoder, 1, end - start);
                row = end;
            }
            put_run(&mut encoder, 0, rows.len() - row);
        }
        None => put_run(&mut encoder, 1, rows.len()),
    }
    let mut levels = encoder.consume();
    let length = (levels.len() - 4) as u32;
    levels[..4].copy_from_slice(&length.to_le_bytes());
    levels
}

/// Where a chunk's pages go and what their specs add up to.
pub(super) struct Pages<'a> {
    writer: SerializedPageWriter<'a, Vec<u8>>,
    codec: Option<Box<dyn Codec>>,
    written: Written,
    offsets: Option<OffsetIndexBuilder>,
}

/// What a chunk's pages added up to.
#[derive(Default)]
pub(super) struct Written {
    pub compressed: i64,
    pub uncompressed: i64,
    /// The first data page's offset in the chunk (0 when it has none).
    pub first_data_page: i64,
    pub data_pages: usize,
    pub offset_index: Option<OffsetIndexMetaData>,
}

impl<'a> Pages<'a> {
    /// Pages written to `sink`, compressed with `compression`, with an
    /// offset index of its data pages when `offset_index`.
    ///
    /// # Errors
    ///
    /// The codec is not built into this parquet.
    pub fn new(
        sink: &'a mut TrackedWrite<Vec<u8>>,
        compression: Compression,
        offset_index: bool,
    ) -> Result<Self> {
        Ok(Pages {
            writer: SerializedPageWriter::new(sink),
            codec: create_codec(compression, &CodecOptionsBuilder::default().build())?,
            written: Written::default(),
            offsets: offset_index.then(OffsetIndexBuilder::new),
        })
    }

    /// Writes a dictionary page of `entries` `PLAIN` values.
    ///
    /// # Errors
    ///
    /// Compression or the page header fails.
    pub fn dictionary(&mut self, entries: u32, body: &[u8]) -> Result<()> {
        let page = |buf| Page::DictionaryPage {
            buf,
            num_values: entries,
            encoding: Encoding::PLAIN,
            is_sorted: false,
        };
        self.write(page, body)
    }

    /// Writes a format v1 data page of `rows` rows, its values in
    /// `encoding` and its levels `RLE`, and notes it in the offset index.
    ///
    /// # Errors
    ///
    /// Compression or the page header fails.
    pub fn data(&mut self, encoding: Encoding, rows: usize, body: &[u8]) -> Result<()> {
        let page = |buf| Page::DataPage {
            buf,
            num_values: rows as u32,
            encoding,
            def_level_encoding: Encoding::RLE,
            rep_level_encoding: Encoding::RLE,
            statistics: None,
        };
        self.write(page, body)?;
        if let Some(offsets) = self.offsets.as_mut() {
            offsets.append_row_count(rows as i64);
        }
        Ok(())
    }

    fn write(&mut self, page: impl FnOnce(Bytes) -> Page, body: &[u8]) -> Result<()> {
        let buf = match &mut self.codec {
            Some(codec) => {
                let mut out = Vec::with_capacity(body.len() / 2 + 64);
                codec.compress(body, &mut out)?;
                Bytes::from(out)
            }
            None => Bytes::copy_from_slice(body),
        };
        let page = page(buf);
        let is_data = page.page_type() == PageType::DATA_PAGE;
        let spec = self
            .writer
            .write_page(CompressedPage::new(page, body.len()))?;
        let written = &mut self.written;
        written.compressed += spec.compressed_size as i64;
        written.uncompressed += spec.uncompressed_size as i64;
        if is_data {
            if written.data_pages == 0 {
                written.first_data_page = spec.offset as i64;
            }
            written.data_pages += 1;
            if let Some(offsets) = self.offsets.as_mut() {
                offsets.append_offset_and_size(spec.offset as i64, spec.compressed_size as i32);
            }
        }
        Ok(())
    }

    /// Flushes the pages into the sink; what they added up to.
    ///
    /// # Errors
    ///
    /// The sink refuses them.
    pub fn close(mut self) -> Result<Written> {
        self.writer.close()?;
        let mut written = self.written;
        written.offset_index = self.offsets.map(OffsetIndexBuilder::build);
        Ok(written)
    }
}

/// Bits an `RLE_DICTIONARY` index takes for `entries` values (arrow-rs's
/// rule: 0 bits for a single value).
fn bit_width(entries: usize) -> u8 {
    let largest = entries.saturating_sub(1) as u64;
    (u64::BITS - largest.leading_zeros()) as u8
}

/// A dictionary-encoded column chunk's data pages: `ids` holds each
/// non-null row's index into a dictionary of `entries` values, for a
/// column of `rows` rows whose validity is `nulls`. A page holds at most
/// the row limit, and no more rows than fit the byte limit at the worst
/// case of the index width (levels included). `each_page` is given each
/// page's null count and ids (for its statistics).
///
/// # Errors
///
/// Compression or a page header fails.
pub(super) fn dictionary_data_pages(
    pages: &mut Pages<'_>,
    descr: &ColumnDescPtr,
    properties: &WriterProperties,
    column: (&[u32], usize, Option<&NullBuffer>, usize),
    mut each_page: impl FnMut(i64, &[u32]),
) -> Result<()> {
    let (ids, entries, nulls, rows) = column;
    let path = descr.path();
    let width = bit_width(entries);
    let nullable = descr.max_def_level() == 1;
    let bits_per_row = usize::from(width) + usize::from(nullable);
    let by_size = (properties.column_data_page_size_limit(path) * 8 / bits_per_row.max(1)).max(1);
    let page_rows = properties
        .column_data_page_row_count_limit(path)
        .min(by_size)
        .max(1);
    let mut value = 0;
    let mut body = Vec::new();
    for start in (0..rows).step_by(page_rows) {
        let page = start..rows.min(start + page_rows);
        body.clear();
        let values = match nulls {
            Some(nulls) => page.len() - nulls.slice(page.start, page.len()).null_count(),
            None => page.len(),
        };
        if nullable {
            body.extend_from_slice(&definition_levels(nulls, page.clone()));
        }
        body.push(width);
        let page_ids = &ids[value..value + values];
        value += values;
        let mut encoder = RleEncoder::new_from_buf(width, std::mem::take(&mut body));
        let mut at = 0;
        while at < page_ids.len() {
            let id = page_ids[at];
            let mut end = at + 1;
            while end < page_ids.len() && page_ids[end] == id {
                end += 1;
            }
            put_run(&mut encoder, u64::from(id), end - at);
            at = end;
        }
        body = encoder.consume();
        pages.data(
            properties.dictionary_data_page_encoding(),
            page.len(),
            &body,
        )?;
        each_page((page.len() - values) as i64, page_ids);
    }
    Ok(())
}

/// The metadata of a dictionary-encoded chunk of `rows` rows, as arrow-rs
/// writes it: a `PLAIN` dictionary page at offset 0, then the data pages.
pub(super) fn dictionary_metadata(
    descr: &ColumnDescPtr,
    properties: &WriterProperties,
    written: &Written,
    rows: usize,
) -> ColumnChunkMetaDataBuilder {
    let encoding = properties.dictionary_data_page_encoding();
    ColumnChunkMetaData::builder(Arc::clone(descr))
        .set_compression(properties.compression(descr.path()))
        .set_encodings_mask(EncodingMask::new_from_encodings(
            [Encoding::PLAIN, Encoding::RLE, encoding].iter(),
        ))
        .set_page_encoding_stats(vec![
            PageEncodingStats {
                page_type: PageType::DICTIONARY_PAGE,
                encoding: Encoding::PLAIN,
                count: 1,
            },
            PageEncodingStats {
                page_type: PageType::DATA_PAGE,
                encoding,
                count: written.data_pages as i32,
            },
        ])
        .set_total_compressed_size(written.compressed)
        .set_total_uncompressed_size(written.uncompressed)
        .set_num_values(rows as i64)
        .set_data_page_offset(written.first_data_page)
        .set_dictionary_page_offset(Some(0))
}
