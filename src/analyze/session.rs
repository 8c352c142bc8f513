//! A local dataset opened for SQL: each table a lazy Parquet scan in a
//! polars `SQLContext`.
//!
//! The files are listed by [`crate::store::read::files`], not globbed by
//! polars, for two reasons: only what the collector publishes is read
//! (`<table>/cluster=…/date=…/*.parquet` with a visible name — never the
//! `_wal` folder or a `.part-….tmp` being written), and the hive columns are
//! parsed only below the table folder, so
//! a root such as `/data/env=prod/kubetally` does not grow an `env` column.
//! `cluster` (string) and `date` (date) are declared, not inferred, so they
//! have the types DuckDB, Spark and BigQuery give them, and a filter on them
//! skips whole files before any is opened.

use std::path::{Path, PathBuf};

use polars::prelude::{
    CastColumnsPolicy, DataFrame, DataType, DslBuilder, Engine, ExtraColumnsPolicy, Field,
    HiveOptions, IdxSize, IntoLazy, LazyFrame, MissingColumnsPolicy, ParallelStrategy,
    ParquetOptions, PlRefPath, ScanSources, Schema, UnifiedScanArgs,
};
use polars::sql::SQLContext;

use super::AnalyzeError;
use crate::reconcile::{CostBasis, Factors};
use crate::store::focus;
use crate::store::read::{self, Filter, TableFile};

/// One table's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableFiles {
    pub name: &'static str,
    /// Newest partition first: polars takes a scan's schema from its first
    /// file, and columns are added to the tables over time (never
    /// renamed), so the newest file has them all and older files read the
    /// missing ones as nulls.
    pub files: Vec<TableFile>,
}

/// A dataset opened for SQL.
pub struct Session {
    context: SQLContext,
    root: PathBuf,
    tables: Vec<TableFiles>,
    /// Every statement [`Session::query`] was given, in order.
    statements: Vec<String>,
    /// How many of them were [`Session::record`]ed, not run.
    recorded: usize,
    /// The bill's prices the cost tables are re-priced at (none: list).
    factors: Factors,
    /// The tables SQL reads as their files are, whose grouped sums
    /// [`super::pushdown`] may compute: not those re-priced or filtered to
    /// a tenant.
    pushdown: Vec<&'static str>,
    pushdown_on: bool,
    /// How many `SELECT`s [`super::pushdown`] computed so far.
    pushed: usize,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("root", &self.root)
            .field("tables", &self.tables)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Opens the dataset under `root`, registering every table that has
    /// files. A missing table is no error (the collector may run with
    /// `--no-samples`, and a dataset written before a table existed lacks
    /// it): it is registered as an empty table of its columns where it can
    /// be (see [`empty`]), so a query reading it (the report, the bundled
    /// queries on `resources`) sees no rows rather than fails. Nothing is
    /// read yet but the first file's footer of each table.
    ///
    /// # Errors
    ///
    /// [`AnalyzeError::NoDataset`] when `root` is not a directory or holds no
    /// table files; [`AnalyzeError::Scan`] when a table's files cannot be
    /// listed or set up for reading.
    pub fn open(root: &Path) -> Result<Session, AnalyzeError> {
        let no_dataset = |reason: &str| AnalyzeError::NoDataset {
            location: root.display().to_string(),
            reason: reason.to_owned(),
        };
        if !root.is_dir() {
            return Err(no_dataset("no such directory"));
        }
        let mut tables = Vec::new();
        for table in &crate::store::schema::TABLES {
            let mut files = read::files(root, table.name, &Filter::default()).map_err(|e| {
                AnalyzeError::Scan {
                    table: table.name,
                    message: e.to_string(),
                }
            })?;
            files.reverse();
            if !files.is_empty() {
                tables.push(TableFiles {
                    name: table.name,
                    files,
                });
            }
        }
        if tables.is_empty() {
            return Err(no_dataset(
                "no table files (expected allocation/, nodes/, samples/ or workloads/ \
                 holding cluster=…/date=…/*.parquet)",
            ));
        }
        let context = SQLContext::new();
        for table in &tables {
            context.register(table.name, scan(root, table)?);
        }
        if let Some(export) = scan_focus(root)? {
            context.register(focus::TABLE, export);
        }
        for table in &crate::store::schema::TABLES {
            if !tables.iter().any(|t| t.name == table.name)
                && let Some(empty) = empty(table)
            {
                context.register(table.name, empty);
            }
        }
        let pushdown = tables.iter().map(|t| t.name).collect();
        Ok(Session {
            context,
            root: root.to_owned(),
            tables,
            statements: Vec::new(),
            recorded: 0,
            factors: Factors::default(),
            pushdown,
            pushdown_on: true,
            pushed: 0,
        })
    }

    /// Opens the dataset under `root` with its dollars at `cost`: list
    /// prices, or the bill's (`reconcile::factors`), where `None` is the
    /// default — effective where the dataset holds a reconciliation, list
    /// otherwise. [`Session::factors`] says which it is.
    ///
    /// # Errors
    ///
    /// As [`Session::open`]; [`AnalyzeError::Cost`] when the bill's prices
    /// were asked for and cannot be had.
    pub fn open_priced(root: &Path, cost: Option<CostBasis>) -> Result<Session, AnalyzeError> {
        let mut session = Session::open(root)?;
        let factors = Factors::open(root, cost)?;
        if factors.repricing() {
            session.factors = factors;
            for table in ["allocation", "nodes", "resources"] {
                if let Some(frame) = session.priced_frame(table)? {
                    session.context.register(table, frame);
                }
                session.pushdown.retain(|name| *name != table);
            }
        }
        Ok(session)
    }

    /// The bill's prices the cost tables read at ([`Factors::basis`] says
    /// which; list when nothing is re-priced).
    pub fn factors(&self) -> &Factors {
        &self.factors
    }

    /// `table`'s frame: its files (or an empty stand-in), re-priced at the
    /// session's [`Factors`] when it has dollars and they re-price.
    fn priced_frame(&self, table: &str) -> Result<Option<LazyFrame>, AnalyzeError> {
        let frame = match self.tables.iter().find(|t| t.name == table) {
            Some(files) => scan(&self.root, files)?,
            None => match crate::store::schema::TABLES
                .iter()
                .find(|t| t.name == table)
                .and_then(empty)
            {
                Some(frame) => frame,
                None => return Ok(None),
            },
        };
        if !self.factors.repricing() {
            return Ok(Some(frame));
        }
        let hours = super::reprice::frame(&self.factors)?;
        Ok(Some(
            super::reprice::table(table, frame.clone(), hours).unwrap_or(frame),
        ))
    }

    /// The tables registered, with their files.
    pub fn tables(&self) -> &[TableFiles] {
        &self.tables
    }

    /// The dataset's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every statement [`Session::query`] was given or [`Session::record`]
    /// noted, in order, as given.
    /// `benches/analysis` hands what `kubetally report` ran to DuckDB, so
    /// the two engines are compared on exactly the same SQL.
    pub fn statements(&self) -> &[String] {
        &self.statements
    }

    /// Notes a statement whose rows were computed another way (the
    /// report's facts, `report::scan`), so [`Session::statements`] still
    /// lists what the command computed, as SQL.
    pub fn record(&mut self, sql: String) {
        self.statements.push(sql);
        self.recorded += 1;
    }

    /// How many of [`Session::statements`] were [`Session::record`]ed
    /// rather than run by polars.
    pub fn recorded(&self) -> usize {
        self.recorded
    }

    /// Runs one SQL statement and collects its rows with polars' streaming
    /// engine (stack-notes: 3× faster than the in-memory one on dataset scans).
    /// A bare `cluster` after a comma is quoted first (see `dialect`).
    ///
    /// # Errors
    ///
    /// [`AnalyzeError::Sql`] for SQL polars refuses (syntax, an unknown
    /// table, column or function) or a failure while running it, as one line.
    pub fn query(&mut self, sql: &str) -> Result<DataFrame, AnalyzeError> {
        self.run(sql, None)
    }

    /// [`Session::query`], keeping the first `limit` rows only: the limit
    /// is part of the plan, so a large result is never collected whole.
    ///
    /// # Errors
    ///
    /// As [`Session::query`].
    pub fn query_head(&mut self, sql: &str, limit: usize) -> Result<DataFrame, AnalyzeError> {
        self.run(sql, Some(limit))
    }

    /// The names of the tables SQL can read here (registered with files,
    /// as empty stand-ins, or filtered by [`Session::restrict_to_tenant`]).
    pub fn table_names(&self) -> Vec<String> {
        let mut names = self.context.get_tables();
        names.sort();
        names
    }

    /// Restricts the session's SQL to `tenant`'s rows: the tables with a
    /// `tenant` column (`samples`, `allocation`, `resources`, `workloads`)
    /// are registered again filtered to it, and every other table is
    /// dropped, since its rows are no one tenant's (nodes and their cost,
    /// the bill's reconciliation, the FOCUS export) or name every tenant's
    /// workloads without saying whose (`recommendations`). A query then
    /// cannot see another tenant's rows whatever it says.
    ///
    /// Only SQL is restricted: [`Session::tables`] still lists every file,
    /// which the report reads itself, so a restricted session is for SQL
    /// only (the report has its own tenant scope, `Options::tenant`).
    ///
    /// # Errors
    ///
    /// [`AnalyzeError::Scan`] when a table's files cannot be set up again.
    pub fn restrict_to_tenant(&mut self, tenant: &str) -> Result<(), AnalyzeError> {
        use polars::prelude::{col, lit};
        for name in self.context.get_tables() {
            self.context.unregister(&name);
        }
        let tenant_column = crate::store::schema::col::TENANT;
        for table in &crate::store::schema::TABLES {
            if !table.columns.iter().any(|c| c.name == tenant_column) {
                continue;
            }
            let Some(frame) = self.priced_frame(table.name)? else {
                continue;
            };
            let filtered = frame.filter(col(tenant_column).eq(lit(tenant.to_owned())));
            self.context.register(table.name, filtered);
        }
        let kept = self.context.get_tables();
        self.tables.retain(|t| kept.iter().any(|k| k == t.name));
        self.pushdown.clear();
        Ok(())
    }

    /// Whether grouped sums over a table's files may be computed beside
    /// polars ([`super::pushdown`]; on by default, for the tables that
    /// read as their files are). Off, polars runs every statement whole:
    /// for comparing the two, in tests and `benches/analysis`.
    pub fn set_pushdown(&mut self, on: bool) {
        self.pushdown_on = on;
    }

    /// How many `SELECT`s of the statements run so far had their rows
    /// computed beside polars ([`Session::set_pushdown`]).
    pub fn pushed(&self) -> usize {
        self.pushed
    }

    fn run(&mut self, sql: &str, limit: Option<usize>) -> Result<DataFrame, AnalyzeError> {
        self.statements.push(sql.to_owned());
        let tables: Vec<&str> = self.tables.iter().map(|t| t.name).collect();
        let sql_error = |cause: polars::error::PolarsError| {
            let mut message = one_line(&cause.to_string());
            if message.starts_with("relation '") {
                message.push_str(&format!(" (tables here: {})", tables.join(", ")));
            }
            if message.to_ascii_lowercase().contains("parquet")
                && let Some((file, problem)) = unreadable_file(&self.tables)
            {
                message = format!("{file}: {problem}");
            }
            AnalyzeError::Sql { message }
        };
        let sql = super::dialect::quote_cluster(sql);
        let folded: Vec<TableFiles> = self
            .tables
            .iter()
            .filter(|t| self.pushdown_on && self.pushdown.contains(&t.name))
            .cloned()
            .collect();
        let rows = match super::pushdown::prepare(&sql, &folded, super::threads()) {
            Some(prepared) => {
                self.pushed += prepared.frames.len();
                let mut names = Vec::with_capacity(prepared.frames.len());
                for (name, frame) in prepared.frames {
                    self.context.register(&name, frame.lazy());
                    names.push(name);
                }
                let rows = collect(&mut self.context, &prepared.sql, limit);
                for name in &names {
                    self.context.unregister(name);
                }
                // The fold is a speed path: should polars refuse what it
                // made of the statement, the statement as given decides.
                rows.or_else(|_| collect(&mut self.context, &sql, limit))
            }
            None => collect(&mut self.context, &sql, limit),
        };
        rows.map_err(sql_error)
    }
}

/// Runs `sql` on polars' streaming engine, keeping `limit` rows.
fn collect(
    context: &mut SQLContext,
    sql: &str,
    limit: Option<usize>,
) -> polars::error::PolarsResult<DataFrame> {
    let mut plan = context.execute(sql)?;
    if let Some(limit) = limit {
        plan = plan.limit(IdxSize::try_from(limit).unwrap_or(IdxSize::MAX));
    }
    // One lazy frame collects to one frame: `Multiple` only comes from
    // several sinks, which a SELECT never plans.
    plan.collect_with_engine(Engine::Streaming)
        .map(|result| result.unwrap_single())
}

/// The first file of `tables` that is not readable Parquet, and why:
/// polars says that one of a scan's files is bad, not which.
fn unreadable_file(tables: &[TableFiles]) -> Option<(String, String)> {
    tables.iter().flat_map(|t| &t.files).find_map(|file| {
        read::unreadable(&file.path).map(|problem| (file.path.display().to_string(), problem))
    })
}

/// A lazy scan of one table: its files, with `cluster` and `date` from the
/// folder names below the table's folder.
fn scan(root: &Path, table: &TableFiles) -> Result<LazyFrame, AnalyzeError> {
    let paths: Vec<&Path> = table.files.iter().map(|f| f.path.as_path()).collect();
    let hive = Schema::from_iter([
        Field::new("cluster".into(), DataType::String),
        Field::new("date".into(), DataType::Date),
    ]);
    scan_files(table.name, &root.join(table.name), &paths, hive)
}

/// The `focus` table: `kubetally export focus -o <root>/focus` (docs/focus.md),
/// partitioned by `billing_period` (a string, `YYYY-MM`); `None` when the
/// dataset holds no export.
fn scan_focus(root: &Path) -> Result<Option<LazyFrame>, AnalyzeError> {
    let dir = root.join(focus::TABLE);
    let files = focus::files(&dir).map_err(|e| AnalyzeError::Scan {
        table: focus::TABLE,
        message: e.to_string(),
    })?;
    if files.is_empty() {
        return Ok(None);
    }
    let mut paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    paths.reverse();
    let hive = Schema::from_iter([Field::new(focus::PARTITION.into(), DataType::String)]);
    scan_files(focus::TABLE, &dir, &paths, hive).map(Some)
}

fn scan_files(
    name: &'static str,
    dir: &Path,
    files: &[&Path],
    hive: Schema,
) -> Result<LazyFrame, AnalyzeError> {
    let scan_error = |cause: polars::error::PolarsError| AnalyzeError::Scan {
        table: name,
        message: one_line(&cause.to_string()),
    };
    let dir = PlRefPath::try_from_path(dir).map_err(scan_error)?;
    let paths = files
        .iter()
        .map(|file| PlRefPath::try_from_path(file))
        .collect::<Result<Vec<_>, _>>()
        .map_err(scan_error)?;
    // `ScanArgsParquet` as `LazyFrame::scan_parquet_files` builds it, but
    // for the cast policy, which it fixes at "error on mismatch".
    let args = UnifiedScanArgs {
        hive_options: HiveOptions {
            enabled: Some(true),
            // Parse `k=v` folders only below `<root>/<table>/`.
            hive_start_idx: dir.as_str().len() + 1,
            schema: Some(hive.into()),
            try_parse_dates: true,
        },
        glob: false,
        cache: true,
        // Files of an older writer lack newer columns: read as nulls.
        missing_columns_policy: MissingColumnsPolicy::Insert,
        extra_columns_policy: ExtraColumnsPolicy::Raise,
        // Files written before strings were declared as strings
        // (store::reader_schema) read as Categoricals: cast, not refuse.
        cast_columns_policy: CastColumnsPolicy {
            categorical_to_string: true,
            ..CastColumnsPolicy::ERROR_ON_MISMATCH
        },
        ..UnifiedScanArgs::default()
    };
    let options = ParquetOptions {
        schema: None,
        parallel: ParallelStrategy::default(),
        low_memory: false,
        use_statistics: true,
    };
    let sources = ScanSources::Paths(paths.into_iter().collect());
    let plan = DslBuilder::scan_parquet(sources, options, args).map_err(scan_error)?;
    Ok(plan.build().into())
}

/// An empty stand-in for `table`, with its columns and the partition
/// columns, for a dataset that has no files of it. Only a table of flat
/// columns gets one (`samples`, `nodes`, `resources`, `recommendations`):
/// the nested types' fields are defined in `store::schema` as Arrow types,
/// which this module does not import, and the tables that have them
/// (`allocation`, `workloads`) are written from a collector's first hour on.
fn empty(table: &crate::store::schema::Table) -> Option<LazyFrame> {
    use crate::store::schema::Kind;
    use polars::prelude::{IntoLazy, TimeUnit, TimeZone};
    let mut fields = Vec::with_capacity(table.columns.len() + 2);
    for column in table.columns {
        let dtype = match column.kind {
            Kind::Timestamp => DataType::Datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC)),
            Kind::Symbol => DataType::String,
            Kind::Float64 => DataType::Float64,
            Kind::Int64 => DataType::Int64,
            Kind::Int32 => DataType::Int32,
            Kind::Boolean => DataType::Boolean,
            Kind::Strings => DataType::List(Box::new(DataType::String)),
            Kind::KeyValues | Kind::Histogram | Kind::Containers => return None,
        };
        fields.push(Field::new(column.name.into(), dtype));
    }
    fields.push(Field::new("cluster".into(), DataType::String));
    fields.push(Field::new("date".into(), DataType::Date));
    Some(DataFrame::empty_with_schema(&Schema::from_iter(fields)).lazy())
}

/// A polars error as one line: its first paragraph (polars appends the plan
/// it failed in), lines joined.
pub(crate) fn one_line(message: &str) -> String {
    let first = message.split("\n\n").next().unwrap_or(message);
    first
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_without_tables_is_no_dataset() {
        let dir = tempfile::tempdir().unwrap();
        let error = Session::open(dir.path())
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert!(
            error.as_ref().is_err_and(|e| e.contains("no table files")),
            "{error:?}"
        );
        let missing = Session::open(&dir.path().join("nope"))
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert!(
            missing
                .as_ref()
                .is_err_and(|e| e.ends_with("no such directory")),
            "{missing:?}"
        );
    }

    #[test]
    fn a_missing_flat_table_reads_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let partition = dir.path().join("nodes/cluster=c/date=2026-11-02");
        std::fs::create_dir_all(&partition).unwrap();
        let file = partition.join("part-00-x.parquet");
        crate::store::read::testing::write_plain(&file, "node", &[Some("n1")]);
        let mut session = Session::open(dir.path()).unwrap();
        assert!(session.tables().iter().all(|t| t.name != "resources"));
        let frame = session
            .query("SELECT r.cluster, r.tenant, SUM(r.cost_usd) AS usd FROM resources AS r GROUP BY r.cluster, r.tenant")
            .unwrap();
        assert_eq!(frame.height(), 0);
    }

    #[test]
    fn polars_errors_become_one_line() {
        assert_eq!(
            one_line("sql error: no column x\n  hint: check\n\nResolved plan until failure:\n..."),
            "sql error: no column x; hint: check"
        );
    }
}
