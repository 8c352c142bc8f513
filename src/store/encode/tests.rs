//! The dictionary path against arrow-rs's own writer: same values read
//! back, same chunk statistics, a column index that bounds every page.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, DictionaryArray, Int32Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Int32Type, Schema};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData};
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use proptest::prelude::*;

use super::*;

/// Strings that make truncation and ordering matter: duplicates under two
/// keys, a prefix of another, longer than 64 bytes, multi-byte characters
/// at the truncation point, the largest code point.
fn pool() -> Vec<String> {
    vec![
        "default".into(),
        "default".into(),
        "kube-system".into(),
        String::new(),
        "a".repeat(70),
        format!("{}é{}", "b".repeat(63), "z"),
        format!("{}\u{10FFFF}\u{10FFFF}", "c".repeat(62)),
        "Zürich".into(),
        "unused".into(),
    ]
}

fn column(keys: &[Option<i32>]) -> DictionaryArray<Int32Type> {
    DictionaryArray::try_new(
        Int32Array::from(keys.to_vec()),
        Arc::new(StringArray::from(pool())),
    )
    .unwrap()
}

fn properties(statistics: EnabledStatistics, page_rows: usize) -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap()))
        .set_dictionary_enabled(true)
        .set_statistics_enabled(statistics)
        .set_data_page_row_count_limit(page_rows)
        .build()
}

fn batch(keys: &[Option<i32>], nullable: bool) -> RecordBatch {
    let dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let schema = Schema::new(vec![
        Field::new("name", dictionary, nullable),
        Field::new("n", DataType::Int64, false),
    ]);
    let n = Int64Array::from_iter_values(0..keys.len() as i64);
    let columns: Vec<ArrayRef> = vec![Arc::new(column(keys)), Arc::new(n)];
    RecordBatch::try_new(Arc::new(schema), columns).unwrap()
}

fn ours(batch: &RecordBatch, properties: WriterProperties) -> Bytes {
    let encoder = RowGroupEncoder::new(batch.schema(), properties).unwrap();
    let mut file = encoder.file(Vec::new()).unwrap();
    encoder.encode(batch).unwrap().append_to(&mut file).unwrap();
    Bytes::from(file.into_inner().unwrap())
}

fn arrow_rs(batch: &RecordBatch, properties: WriterProperties) -> Bytes {
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), Some(properties)).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
    Bytes::from(out)
}

/// The file's first column as strings, and its metadata with page indexes.
fn read(file: &Bytes) -> (Vec<Option<String>>, Arc<ParquetMetaData>) {
    let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
    let builder =
        ParquetRecordBatchReaderBuilder::try_new_with_options(file.clone(), options).unwrap();
    let metadata = Arc::clone(builder.metadata());
    let mut strings = Vec::new();
    for batch in builder.build().unwrap() {
        let batch = batch.unwrap();
        let column = arrow::compute::cast(batch.column(0), &DataType::Utf8).unwrap();
        strings.extend(
            column
                .as_string::<i32>()
                .iter()
                .map(|s| s.map(str::to_owned)),
        );
    }
    (strings, metadata)
}

fn check(keys: &[Option<i32>], nullable: bool, statistics: EnabledStatistics, page_rows: usize) {
    let batch = batch(keys, nullable);
    let properties = || properties(statistics, page_rows);
    let (our_values, our_metadata) = read(&ours(&batch, properties()));
    let (their_values, their_metadata) = read(&arrow_rs(&batch, properties()));
    assert_eq!(our_values, their_values);
    let ours = our_metadata.row_group(0).column(0);
    let theirs = their_metadata.row_group(0).column(0);
    assert_eq!(ours.statistics(), theirs.statistics());
    assert_eq!(ours.num_values(), theirs.num_values());
    // The chunk was ours, not arrow-rs's.
    let encoder = RowGroupEncoder::new(batch.schema(), properties()).unwrap();
    let descr = encoder.schema.column(0);
    let keys = dictionary::writable(batch.column(0).as_ref(), &descr, &encoder.properties).unwrap();
    let chunk = dictionary::encode(keys, &descr, &encoder.properties).unwrap();
    assert!(chunk.is_some());

    // Every page's index entry bounds the rows it holds.
    let page_index = our_metadata.page_index().unwrap();
    let pages = &page_index.offset_index(0, 0).unwrap().page_locations;
    let index = page_index.column_index(0, 0);
    let firsts: Vec<usize> = pages.iter().map(|p| p.first_row_index as usize).collect();
    assert_eq!(
        firsts,
        (0..keys.len()).step_by(page_rows).collect::<Vec<_>>()
    );
    match (statistics, index) {
        (EnabledStatistics::Page, Some(ColumnIndexMetaData::BYTE_ARRAY(index))) => {
            for (page, &first) in firsts.iter().enumerate() {
                let rows = &our_values[first..keys.len().min(first + page_rows)];
                let nulls = rows.iter().filter(|v| v.is_none()).count();
                assert_eq!(index.null_count(page), Some(nulls as i64));
                let present: Vec<&[u8]> = rows.iter().flatten().map(|s| s.as_bytes()).collect();
                if present.is_empty() {
                    assert!(index.is_null_page(page));
                    continue;
                }
                let min = index.min_value(page).unwrap();
                let max = index.max_value(page).unwrap();
                assert!(
                    present.iter().all(|v| min <= *v && *v <= max),
                    "page {page}"
                );
                assert!(min.len() <= 64 && max.len() <= 64);
            }
        }
        (EnabledStatistics::Page, other) => panic!("no column index: {other:?}"),
        (_, index) => assert!(index.is_none()),
    }
}

#[test]
fn a_dictionary_column_reads_back_with_arrow_rs_statistics() {
    let keys: Vec<Option<i32>> = (0..1000).map(|i| Some((i / 37) % 8)).collect();
    for statistics in [
        EnabledStatistics::None,
        EnabledStatistics::Chunk,
        EnabledStatistics::Page,
    ] {
        check(&keys, false, statistics, 20_000);
        check(&keys, false, statistics, 64);
    }
}

#[test]
fn nulls_are_levels_and_an_all_null_page_is_a_null_page() {
    let keys: Vec<Option<i32>> = (0..300)
        .map(|i| (!(100..180).contains(&i) && i % 7 != 3).then_some(i % 8))
        .collect();
    check(&keys, true, EnabledStatistics::Page, 40);
}

#[test]
fn a_column_only_arrow_rs_writes_is_left_to_it() {
    let descr = |batch: &RecordBatch| {
        let encoder =
            RowGroupEncoder::new(batch.schema(), properties(EnabledStatistics::Page, 10)).unwrap();
        encoder.schema.column(0)
    };
    let properties = properties(EnabledStatistics::Page, 10);
    // No value at all: arrow-rs writes its empty dictionary.
    let empty = batch(&[None, None], true);
    let keys = dictionary::writable(empty.column(0).as_ref(), &descr(&empty), &properties).unwrap();
    assert!(
        dictionary::encode(keys, &descr(&empty), &properties)
            .unwrap()
            .is_none()
    );
    let (values, _) = read(&ours(&empty, properties.clone()));
    assert_eq!(values, vec![None, None]);
    // Format v2 pages are arrow-rs's.
    let v2 = WriterProperties::builder()
        .set_writer_version(parquet::file::properties::WriterVersion::PARQUET_2_0)
        .build();
    let some = batch(&[Some(1)], false);
    assert!(dictionary::writable(some.column(0).as_ref(), &descr(&some), &v2).is_none());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_column_reads_back_the_same(
        keys in prop::collection::vec(prop::option::weighted(0.9, 0..9i32), 1..400),
        page_rows in 1usize..50,
        page_statistics in any::<bool>(),
    ) {
        let statistics = if page_statistics { EnabledStatistics::Page } else { EnabledStatistics::Chunk };
        if keys.iter().any(Option::is_some) {
            check(&keys, true, statistics, page_rows);
        }
        let required: Vec<Option<i32>> = keys.iter().map(|k| Some(k.unwrap_or(0))).collect();
        check(&required, false, statistics, page_rows);
    }
}

/// A decimal column as the FOCUS export writes its costs (no dictionary)
/// and its unit prices (a dictionary): no statistics.
fn decimal_properties(page_rows: usize, dictionary: bool) -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap()))
        .set_dictionary_enabled(dictionary)
        .set_statistics_enabled(EnabledStatistics::None)
        .set_data_page_row_count_limit(page_rows)
        .build()
}

fn decimal_batch(values: &[Option<i128>], precision: u8, nullable: bool) -> RecordBatch {
    let decimals = arrow::array::Decimal128Array::from(values.to_vec())
        .with_precision_and_scale(precision, 12)
        .unwrap();
    let schema = Schema::new(vec![
        Field::new("cost", DataType::Decimal128(precision, 12), nullable),
        Field::new("n", DataType::Int64, false),
    ]);
    let n = Int64Array::from_iter_values(0..values.len() as i64);
    RecordBatch::try_new(Arc::new(schema), vec![Arc::new(decimals), Arc::new(n)]).unwrap()
}

/// The file's columns read back.
fn read_back(file: &Bytes) -> Vec<RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(file.clone())
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Whether the batch's decimal column would be ours (`Some`) and
/// written by us (`Some(true)`), under `properties`.
fn decimal_chunk_is_ours(batch: &RecordBatch, properties: &WriterProperties) -> Option<bool> {
    let encoder = RowGroupEncoder::new(batch.schema(), properties.clone()).unwrap();
    let descr = encoder.schema.column(0);
    let decimals = decimal::writable(batch.column(0).as_ref(), &descr, properties)?;
    Some(
        decimal::encode(decimals, &descr, properties)
            .unwrap()
            .is_some(),
    )
}

fn check_decimals(
    values: &[Option<i128>],
    precision: u8,
    nullable: bool,
    page_rows: usize,
    dictionary: bool,
) {
    let batch = decimal_batch(values, precision, nullable);
    let properties = || decimal_properties(page_rows, dictionary);
    assert_eq!(decimal_chunk_is_ours(&batch, &properties()), Some(true));
    let ours = ours(&batch, properties());
    let theirs = arrow_rs(&batch, properties());
    let ours_read = arrow::compute::concat_batches(&batch.schema(), &read_back(&ours)).unwrap();
    let theirs_read = arrow::compute::concat_batches(&batch.schema(), &read_back(&theirs)).unwrap();
    assert_eq!(ours_read, batch);
    assert_eq!(ours_read, theirs_read);
    // Pages of at most `page_rows` rows, found by the offset index.
    let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required);
    let indexed = ParquetRecordBatchReaderBuilder::try_new_with_options(ours, options).unwrap();
    let metadata = indexed.metadata();
    let chunk = metadata.row_group(0).column(0);
    assert_eq!(chunk.num_values(), values.len() as i64);
    assert!(chunk.statistics().is_none());
    assert_eq!(chunk.dictionary_page_offset().is_some(), dictionary);
    let page_index = metadata.page_index().unwrap();
    let pages = &page_index.offset_index(0, 0).unwrap().page_locations;
    let firsts: Vec<i64> = pages.iter().map(|p| p.first_row_index).collect();
    assert_eq!(
        firsts,
        (0..values.len() as i64)
            .step_by(page_rows)
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_decimal_column_reads_back_as_arrow_rs_writes_it() {
    let values: Vec<Option<i128>> = (0..1000_i128)
        .map(|i| Some((i - 500) * 1_000_000_007 + i128::from(i % 3 == 0) * 10_i128.pow(30)))
        .collect();
    let nullable: Vec<Option<i128>> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (!(100..180).contains(&i) && i % 7 != 3).then_some(v.unwrap_or(0)))
        .collect();
    // Precision 20 is 9 bytes a value.
    let small: Vec<Option<i128>> = values
        .iter()
        .map(|v| v.map(|v| v % 10_i128.pow(19)))
        .collect();
    // Unit prices: a few values in runs.
    let repeated: Vec<Option<i128>> = (0..1000_i128).map(|i| Some((i / 37) % 5 - 2)).collect();
    for dictionary in [false, true] {
        check_decimals(&values, 38, false, 20_000, dictionary);
        check_decimals(&values, 38, false, 64, dictionary);
        check_decimals(&nullable, 38, true, 40, dictionary);
        check_decimals(&small, 20, true, 33, dictionary);
        check_decimals(&repeated, 38, false, 100, dictionary);
    }
}

#[test]
fn a_decimal_column_arrow_rs_must_write_is_left_to_it() {
    let batch = decimal_batch(&[Some(1), None, Some(-2)], 38, true);
    let statistics = WriterProperties::builder()
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .build();
    assert_eq!(decimal_chunk_is_ours(&batch, &statistics), None);
    // Nulls only, and a dictionary past its page limit (3 × 16 bytes).
    let nulls = decimal_batch(&[None, None], 38, true);
    let small_dictionary = WriterProperties::builder()
        .set_statistics_enabled(EnabledStatistics::None)
        .set_dictionary_page_size_limit(40)
        .build();
    assert_eq!(
        decimal_chunk_is_ours(&nulls, &small_dictionary),
        Some(false)
    );
    assert_eq!(decimal_chunk_is_ours(&batch, &small_dictionary), Some(true));
    let wide = decimal_batch(&[Some(1), Some(2), Some(3), Some(1)], 38, true);
    assert_eq!(decimal_chunk_is_ours(&wide, &small_dictionary), Some(false));
    for (batch, properties) in [
        (&batch, statistics),
        (&nulls, small_dictionary.clone()),
        (&wide, small_dictionary),
    ] {
        assert_eq!(&read_back(&ours(batch, properties))[0], batch);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_decimal_column_reads_back_the_same(
        values in prop::collection::vec(prop::option::weighted(0.9, -10_i128.pow(37)..10_i128.pow(37)), 1..400),
        repeats in 1usize..20,
        page_rows in 1usize..50,
        dictionary in any::<bool>(),
    ) {
        // Runs of equal values, as a charge's rows repeat its prices.
        let values: Vec<Option<i128>> = values.iter().flat_map(|v| std::iter::repeat_n(*v, repeats)).collect();
        if values.iter().any(Option::is_some) {
            check_decimals(&values, 38, true, page_rows, dictionary);
        }
        let required: Vec<Option<i128>> = values.iter().map(|v| Some(v.unwrap_or(0))).collect();
        check_decimals(&required, 38, false, page_rows, dictionary);
    }
}
