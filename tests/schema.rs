//! The data contract: `docs/schema.md` and `store::schema` say the same thing,
//! and a Parquet file written with the schema reads back with it, in arrow-rs
//! and in polars.
//!
//! After changing a schema, regenerate the column tables of the document with
//! `KUBETALLY_BLESS=1 cargo test --test tests schema::`, then review the diff.

use std::fs::File;
use std::path::PathBuf;

use arrow::record_batch::RecordBatch;
use kubetally::store::schema::{Column, PARTITION_COLUMNS, TABLES};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

fn doc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/schema.md")
}

fn render(columns: &[Column]) -> Vec<String> {
    let mut lines = vec![
        "| column | type | nullable | unit | description |".to_owned(),
        "|---|---|---|---|---|".to_owned(),
    ];
    for column in columns {
        lines.push(format!(
            "| `{}` | {} | {} | {} | {} |",
            column.name,
            column.kind.doc_name(),
            if column.nullable { "yes" } else { "no" },
            column.unit,
            column.doc.replace('|', "\\|"),
        ));
    }
    lines
}

/// Every `<!-- columns: NAME -->` … `<!-- end columns -->` block of the document.
fn blocks() -> Vec<(&'static str, Vec<String>)> {
    let mut blocks = vec![("partition", render(&PARTITION_COLUMNS))];
    blocks.extend(
        TABLES
            .iter()
            .map(|table| (table.name, render(table.columns))),
    );
    blocks
}

fn block_range(lines: &[&str], name: &str) -> (usize, usize) {
    let start_marker = format!("<!-- columns: {name} -->");
    let start = lines
        .iter()
        .position(|line| line.trim() == start_marker)
        .unwrap_or_else(|| panic!("docs/schema.md has no {start_marker} block"));
    let end = lines[start..]
        .iter()
        .position(|line| line.trim() == "<!-- end columns -->")
        .map(|offset| start + offset)
        .unwrap_or_else(|| panic!("docs/schema.md: {start_marker} block is not closed"));
    (start + 1, end)
}

#[test]
fn docs_schema_md_documents_every_column_as_the_code_defines_it() {
    let text = std::fs::read_to_string(doc_path())
        .unwrap_or_else(|error| panic!("docs/schema.md: {error}"));
    if std::env::var_os("KUBETALLY_BLESS").is_some() {
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        for (name, rendered) in blocks() {
            let borrowed: Vec<&str> = lines.iter().map(String::as_str).collect();
            let (start, end) = block_range(&borrowed, name);
            lines.splice(start..end, rendered);
        }
        std::fs::write(doc_path(), lines.join("\n") + "\n").unwrap();
        return;
    }
    let lines: Vec<&str> = text.lines().collect();
    for (name, rendered) in blocks() {
        let (start, end) = block_range(&lines, name);
        let documented = &lines[start..end];
        for (index, expected) in rendered.iter().enumerate() {
            assert_eq!(
                documented.get(index).copied(),
                Some(expected.as_str()),
                "docs/schema.md, {name} table, row {index}: the code says otherwise (KUBETALLY_BLESS=1 regenerates)"
            );
        }
        assert_eq!(
            documented.len(),
            rendered.len(),
            "docs/schema.md, {name}: extra rows"
        );
    }
}

fn write_empty(table: &kubetally::store::schema::Table, dir: &std::path::Path) -> PathBuf {
    let path = dir.join(format!("{}.parquet", table.name));
    let file = File::create(&path).unwrap();
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut writer = ArrowWriter::try_new(file, table.schema(), Some(properties)).unwrap();
    writer
        .write(&RecordBatch::new_empty(table.schema()))
        .unwrap();
    writer.close().unwrap();
    path
}

#[test]
fn parquet_files_read_back_with_the_documented_schema() {
    let dir = tempfile::tempdir().unwrap();
    for table in TABLES {
        let path = write_empty(&table, dir.path());
        let file = File::open(&path).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        let read = reader.schema();
        let expected = table.schema();
        assert_eq!(read.fields(), expected.fields(), "{}", table.name);
        let unit = read.fields()[0].metadata().get("unit").cloned();
        assert_eq!(
            unit.as_deref(),
            Some(table.columns[0].unit),
            "{}: unit metadata lost",
            table.name
        );
    }
}

#[cfg(feature = "analyze")]
#[test]
fn polars_reads_every_table_with_its_columns_and_types() {
    use kubetally::store::schema::Kind;
    use polars::prelude::{DataType, ParquetReader, SerReader, TimeUnit};

    let dir = tempfile::tempdir().unwrap();
    for table in TABLES {
        let path = write_empty(&table, dir.path());
        let file = File::open(&path).unwrap();
        let frame = ParquetReader::new(file)
            .finish()
            .unwrap_or_else(|error| panic!("{}: {error}", table.name));
        let schema = frame.schema();
        let names: Vec<&str> = schema.iter_names().map(|name| name.as_str()).collect();
        let expected: Vec<&str> = table.columns.iter().map(|column| column.name).collect();
        assert_eq!(names, expected, "{}", table.name);
        for column in table.columns {
            let dtype = schema
                .get(column.name)
                .unwrap_or_else(|| panic!("{}", column.name));
            let fits = match column.kind {
                Kind::Timestamp => {
                    matches!(dtype, DataType::Datetime(TimeUnit::Milliseconds, Some(_)))
                }
                Kind::Symbol => matches!(dtype, DataType::Categorical(..) | DataType::String),
                Kind::Float64 => dtype == &DataType::Float64,
                Kind::Int64 => dtype == &DataType::Int64,
                Kind::Int32 => dtype == &DataType::Int32,
                Kind::Boolean => dtype == &DataType::Boolean,
                Kind::KeyValues | Kind::Histogram | Kind::Strings | Kind::Containers => {
                    matches!(dtype, DataType::List(_))
                }
            };
            assert!(
                fits,
                "{}.{}: polars reads {dtype:?}",
                table.name, column.name
            );
        }
    }
}
