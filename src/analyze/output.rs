//! Writing a result: a Markdown table for people, CSV, JSON or Parquet for
//! machines.
//!
//! The table is Markdown (as `kubetally pricing show` prints) so it pastes
//! into chat and issues as is; numbers are right-aligned and floats shown
//! with at most six decimals. CSV, JSON and Parquet carry full precision.
//! CSV cells are text, so a list or struct (such as `labels`) goes into its
//! cell as the JSON that `--format json` writes for it.

use std::io::Write;

use comfy_table::{CellAlignment, Table, presets};
use polars::error::{PolarsError, PolarsResult};
use polars::prelude::{
    AnyValue, Column, CsvWriter, DataFrame, JsonFormat, JsonWriter, ParquetWriter, SerWriter,
};

use super::AnalyzeError;

/// How a result is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultFormat {
    /// A Markdown table.
    Table,
    /// CSV with a header line.
    Csv,
    /// A JSON array of row objects.
    Json,
    /// A Parquet file (zstd).
    Parquet,
}

impl ResultFormat {
    /// The format's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            ResultFormat::Table => "table",
            ResultFormat::Csv => "csv",
            ResultFormat::Json => "json",
            ResultFormat::Parquet => "parquet",
        }
    }
}

/// Writes `frame` to `out` in `format`.
///
/// # Errors
///
/// [`AnalyzeError::Write`]: the output failed, or polars could not encode a
/// value.
pub fn write(
    frame: &mut DataFrame,
    format: ResultFormat,
    out: &mut dyn Write,
) -> Result<(), AnalyzeError> {
    let failed = |message: String| AnalyzeError::Write {
        format: format.name(),
        message,
    };
    let polars_failed = |cause: PolarsError| failed(super::session::one_line(&cause.to_string()));
    match format {
        ResultFormat::Table => {
            let text = table(frame).map_err(polars_failed)?;
            writeln!(out, "{text}").map_err(|e| io_failed(format, e))
        }
        ResultFormat::Csv => {
            let mut flat = nested_as_json(frame).map_err(polars_failed)?;
            CsvWriter::new(out).finish(&mut flat).map_err(polars_failed)
        }
        ResultFormat::Json => {
            JsonWriter::new(&mut *out)
                .with_json_format(JsonFormat::Json)
                .finish(frame)
                .map_err(polars_failed)?;
            writeln!(out).map_err(|e| io_failed(format, e))
        }
        ResultFormat::Parquet => ParquetWriter::new(out)
            .finish(frame)
            .map(|_| ())
            .map_err(polars_failed),
    }
}

/// An output error keeps its `io::Error` as the source, so a closed pipe
/// (`| head`) is recognised and is no failure.
fn io_failed(format: ResultFormat, cause: std::io::Error) -> AnalyzeError {
    AnalyzeError::Output {
        format: format.name(),
        cause,
    }
}

/// The frame with each list or struct column replaced by its values as JSON
/// text, which a CSV cell can hold: `[{"key":"app","value":"api"}]`.
///
/// The text is what `--format json` writes for the value (polars' own JSON
/// writer, fields in schema order), so both formats agree; a null stays an
/// empty cell, as in the other columns.
fn nested_as_json(frame: &DataFrame) -> PolarsResult<DataFrame> {
    let mut flat = frame.clone();
    for column in frame.columns().iter().filter(|c| c.dtype().is_nested()) {
        flat.replace(column.name(), json_text(frame, column)?)?;
    }
    Ok(flat)
}

/// One column of `frame` as JSON text, a row per cell.
fn json_text(frame: &DataFrame, column: &Column) -> PolarsResult<Column> {
    let name = column.name();
    let mut lines = Vec::new();
    JsonWriter::new(&mut lines)
        .with_json_format(JsonFormat::JsonLines)
        .finish(&mut frame.select([name.as_str()])?)?;
    let encoding =
        |cause: String| PolarsError::ComputeError(format!("column {name}: {cause}").into());
    let text = String::from_utf8(lines).map_err(|e| encoding(e.to_string()))?;
    let cells = text
        .lines()
        .map(|line| {
            let mut row: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(line).map_err(|e| encoding(e.to_string()))?;
            Ok(match row.remove(name.as_str()) {
                None | Some(serde_json::Value::Null) => None,
                Some(value) => Some(value.to_string()),
            })
        })
        .collect::<PolarsResult<Vec<Option<String>>>>()?;
    Ok(Column::new(name.clone(), cells))
}

/// The frame as a Markdown table.
fn table(frame: &DataFrame) -> polars::error::PolarsResult<String> {
    let mut table = Table::new();
    table.load_preset(presets::ASCII_MARKDOWN);
    let columns = frame.columns();
    table.set_header(columns.iter().map(|c| c.name().as_str()));
    for row in 0..frame.height() {
        let mut cells = Vec::with_capacity(columns.len());
        for column in columns {
            cells.push(cell(&column.get(row)?));
        }
        table.add_row(cells);
    }
    for (index, column) in columns.iter().enumerate() {
        if column.dtype().is_primitive_numeric()
            && let Some(column) = table.column_mut(index)
        {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    Ok(table.to_string())
}

/// One value as a table cell: nulls empty, strings bare, floats short.
fn cell(value: &AnyValue<'_>) -> String {
    match value {
        AnyValue::Null => String::new(),
        AnyValue::Float64(v) => float(*v),
        AnyValue::Float32(v) => float(f64::from(*v)),
        other => match other.get_str() {
            Some(text) => text.to_owned(),
            None => other.to_string(),
        },
    }
}

/// At most six decimals, trailing zeros dropped: `12.5`, `0.000123`, `3`.
fn float(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let text = format!("{value:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use polars::prelude::{IntoColumn, IntoSeries, NamedFrom, Series, StructChunked};

    use super::*;

    fn frame() -> DataFrame {
        let columns: Vec<Column> = vec![
            Series::new("tenant".into(), ["acme", "globex"]).into_column(),
            Series::new("cost_usd".into(), [12.5, 0.000_123_4]).into_column(),
            Series::new("pods".into(), [Some(3i64), None]).into_column(),
        ];
        DataFrame::new_infer_height(columns).unwrap_or_else(|e| panic!("{e}"))
    }

    fn written(format: ResultFormat) -> String {
        let mut out = Vec::new();
        write(&mut frame(), format, &mut out).unwrap_or_else(|e| panic!("{e}"));
        String::from_utf8(out).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_table_is_markdown_with_short_right_aligned_numbers() {
        insta::assert_snapshot!(written(ResultFormat::Table), @r"
        | tenant | cost_usd | pods |
        |--------|----------|------|
        | acme   |     12.5 |    3 |
        | globex | 0.000123 |      |
        ");
    }

    #[test]
    fn csv_and_json_keep_full_precision() {
        assert_eq!(
            written(ResultFormat::Csv),
            "tenant,cost_usd,pods\nacme,12.5,3\nglobex,0.0001234,\n"
        );
        assert_eq!(
            written(ResultFormat::Json),
            "[{\"tenant\":\"acme\",\"cost_usd\":12.5,\"pods\":3},{\"tenant\":\"globex\",\"cost_usd\":0.0001234,\"pods\":null}]\n"
        );
    }

    #[test]
    fn csv_writes_lists_and_structs_as_json_text_and_nulls_as_empty_cells() {
        let tags = Series::new(
            "tags".into(),
            [Some(Series::new("".into(), ["a", "b\"c"])), None],
        );
        let usage = StructChunked::from_series(
            "usage".into(),
            2,
            [
                Series::new("unit".into(), ["seconds", "bytes"]),
                Series::new("amount".into(), [3600.0, 0.5]),
            ]
            .iter(),
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .into_series();
        let mut frame = DataFrame::new_infer_height(vec![
            Series::new("pod".into(), ["api-0", "web-0"]).into_column(),
            tags.into_column(),
            usage.into_column(),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let mut out = Vec::new();
        write(&mut frame, ResultFormat::Csv, &mut out).unwrap_or_else(|e| panic!("{e}"));
        insta::assert_snapshot!(String::from_utf8_lossy(&out), @r#"
        pod,tags,usage
        api-0,"[""a"",""b\""c""]","{""unit"":""seconds"",""amount"":3600.0}"
        web-0,,"{""unit"":""bytes"",""amount"":0.5}"
        "#);
    }
}
