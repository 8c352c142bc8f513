//! `kubetally query`: SQL over the dataset with the embedded engine.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{ArgGroup, Args, ValueEnum};

use super::data::DataFlags;
use crate::analyze::{self, QueryFile, ResultFormat, Session};

const EXAMPLES: &str = "\
Examples:
  kubetally query --list
  kubetally query --data /tmp/data -n chargeback_by_tenant -p from=2026-11-01 -p to=2026-12-01
  kubetally query --data /tmp/data --format csv \\
    'SELECT namespace, SUM(total_cost_usd) AS usd FROM allocation GROUP BY namespace'";

#[derive(Debug, Args)]
#[command(
    group(ArgGroup::new("what").required(true).args(["sql", "file", "name", "list"])),
    after_help = EXAMPLES
)]
pub struct QueryArgs {
    /// SQL to run over the tables samples, allocation, nodes, workloads.
    #[arg(value_name = "SQL")]
    pub sql: Option<String>,
    /// Run the SQL in FILE (a `-- params:` header declares its parameters).
    #[arg(short = 'f', long, value_name = "FILE.sql")]
    pub file: Option<PathBuf>,
    /// Run the bundled query NAME (see --list).
    #[arg(short = 'n', long, value_name = "NAME")]
    pub name: Option<String>,
    /// List the bundled queries with their descriptions and parameters.
    #[arg(long)]
    pub list: bool,
    #[command(flatten)]
    pub dataset: DataFlags,
    #[command(flatten)]
    pub cost: super::cost::CostFlag,
    /// A value for a `{{NAME}}` placeholder of the SQL (repeatable).
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// How the rows are written.
    #[arg(long, value_enum, default_value_t = ResultFormatArg::Table)]
    pub format: ResultFormatArg,
    /// Write the rows to FILE instead of standard output.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print the SQL as ENGINE runs it (parameters filled, its one-line
    /// changes applied) instead of running it: polars, duckdb, spark,
    /// bigquery, trino.
    #[arg(long, value_name = "ENGINE", num_args = 0..=1, default_missing_value = "polars")]
    pub print_sql: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ResultFormatArg {
    Table,
    Csv,
    Json,
    Parquet,
}

impl From<ResultFormatArg> for ResultFormat {
    fn from(format: ResultFormatArg) -> ResultFormat {
        match format {
            ResultFormatArg::Table => ResultFormat::Table,
            ResultFormatArg::Csv => ResultFormat::Csv,
            ResultFormatArg::Json => ResultFormat::Json,
            ResultFormatArg::Parquet => ResultFormat::Parquet,
        }
    }
}

pub fn run(args: QueryArgs) -> anyhow::Result<ExitCode> {
    if args.list {
        list()?;
        return Ok(ExitCode::SUCCESS);
    }
    let query = load(&args)?;
    let params = args
        .params
        .iter()
        .map(|text| analyze::parse_param(text))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(engine) = &args.print_sql {
        if !analyze::ENGINES.contains(&engine.as_str()) {
            bail!(
                "--print-sql {engine}: unknown engine (expected one of {})",
                analyze::ENGINES.join(", ")
            );
        }
        print!("{}", query.render_for(engine, &params)?);
        return Ok(ExitCode::SUCCESS);
    }
    let sql = query.render(&params)?;
    let format = ResultFormat::from(args.format);
    if format == ResultFormat::Parquet && args.output.is_none() && std::io::stdout().is_terminal() {
        bail!("--format parquet writes binary: give -o FILE or redirect standard output");
    }
    let cost = args.cost.basis()?;
    let root = args.dataset.root()?;
    let mut session = Session::open_priced(&root, cost)?;
    if session.factors().repricing() {
        eprintln!(
            "kubetally: dollars at the reconciled bill's {} cost (--cost list for list prices)",
            session.factors().basis().as_str()
        );
    }
    let mut frame = session.query(&sql)?;
    match &args.output {
        Some(path) => {
            let mut file = std::fs::File::create(path)
                .with_context(|| format!("-o {}: cannot create the file", path.display()))?;
            analyze::write(&mut frame, format, &mut file)?;
            file.flush()
                .with_context(|| format!("-o {}: writing", path.display()))?;
        }
        None => {
            let mut out = std::io::stdout().lock();
            analyze::write(&mut frame, format, &mut out)?;
            out.flush().context("writing to standard output")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The SQL file the flags name: inline, from a file, or bundled.
fn load(args: &QueryArgs) -> anyhow::Result<QueryFile> {
    if let Some(name) = &args.name {
        return Ok(analyze::find(name)?.query);
    }
    if let Some(path) = &args.file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("-f {}: cannot read the file", path.display()))?;
        return QueryFile::parse(&text).with_context(|| format!("-f {}", path.display()));
    }
    let sql = args.sql.as_deref().unwrap_or_default();
    Ok(QueryFile::parse(sql)?)
}

/// Prints the bundled queries: name, description, parameters.
fn list() -> anyhow::Result<()> {
    let queries = analyze::bundled()?;
    let width = queries.iter().map(|q| q.name().len()).max().unwrap_or(0);
    let mut out = std::io::stdout().lock();
    for bundled in &queries {
        let description = bundled.query.description.as_deref().unwrap_or_default();
        writeln!(out, "{:<width$}  {description}", bundled.name())?;
        let params = bundled.query.params_summary();
        if !params.is_empty() {
            writeln!(out, "{:<width$}  params: {params}", "")?;
        }
    }
    out.flush()?;
    Ok(())
}
