//! Which parts of a statement the fold can compute: a `SELECT` of group
//! keys and aggregates straight from one dataset table, and the statement
//! rewritten to read those from a registered frame instead.
//!
//! The shape is checked on sqlparser's tree of the statement (the parser
//! and options polars-sql itself uses, so both read the same statement),
//! and anything not listed here is left to polars:
//!
//! - `FROM <table> [AS a]`, one dataset table, no join, and no CTE of the
//!   statement named like it;
//! - `WHERE` (optional): `AND`ed comparisons of `date` with a `'YYYY-MM-DD'`
//!   literal, `cluster = '…'`, and conditions on string columns ([`Cond`]);
//! - `GROUP BY` up to eight columns: string columns, `cluster`, `date`;
//! - each output: a group column (aliased or not), or a named expression
//!   reading columns only through `SUM(x)`, `MIN(x)`, `MAX(x)` or
//!   `SUM(CASE WHEN <cond> THEN x ELSE 0 END)`, with literals, operators
//!   and [`SCALAR_FUNCTIONS`] around them ([`Swap`]), at least one
//!   aggregate in all;
//! - nothing else: no `HAVING`, `DISTINCT`, window, and, where the
//!   `SELECT` is a query's whole body, no `ORDER BY`, `LIMIT` or `OFFSET`.
//!
//! Whether the named columns exist and have those types is the fold's to
//! find out (from the files); a statement it cannot serve runs unchanged.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use chrono::NaiveDate;
use sqlparser::ast::{
    BinaryOperator, CaseWhen, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr,
    Ident, ObjectName, ObjectNamePart, Query, Select, SelectItem, SetExpr, Statement, TableFactor,
    UnaryOperator, Value, Visit, VisitMut, Visitor, VisitorMut,
};

use super::cond::Cond;

/// Most group keys the fold keeps in its fixed-size key.
pub(super) const MAX_KEYS: usize = 8;

/// A group key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Key {
    /// A string column: an index into [`Plan::strings`].
    Text(usize),
    /// The `cluster=` partition.
    Cluster,
    /// The `date=` partition.
    Date,
}

/// What an aggregate computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fold {
    Sum,
    Min,
    Max,
}

/// One aggregate: `SUM(column)` (or of `CASE WHEN when THEN column ELSE 0
/// END`), `MIN(column)`, `MAX(column)`; a float or integer column.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Aggregate {
    pub fold: Fold,
    pub column: String,
    pub when: Option<Cond>,
}

/// The frame column of group key `i`.
pub(super) fn key_column(i: usize) -> String {
    format!("__k{i}")
}

/// The frame column of aggregate `i`.
pub(super) fn aggregate_column(i: usize) -> String {
    format!("__a{i}")
}

/// One `SELECT` the fold computes.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Plan {
    pub table: String,
    /// The string columns read (keys and conditions), in first use order.
    pub strings: Vec<String>,
    /// The group keys: frame columns [`key_column`]`(i)`.
    pub keys: Vec<Key>,
    /// The aggregates: frame columns [`aggregate_column`]`(i)`.
    pub aggregates: Vec<Aggregate>,
    /// The `SELECT`'s items over the frame: each as written, its keys and
    /// aggregates read from the frame's columns (so polars still types and
    /// names every output, and computes what is around the aggregates).
    pub projection: Vec<SelectItem>,
    /// The days read, both included (open when `None`).
    pub first_day: Option<NaiveDate>,
    pub last_day: Option<NaiveDate>,
    pub cluster: Option<String>,
    /// Rows kept (all when `None`).
    pub filter: Option<Cond>,
    /// Rows kept by time: each a timestamp column against an instant.
    pub times: Vec<TimeBound>,
}

/// `column <op> 'YYYY-MM-DD[ HH:MM:SS]'` on a millisecond timestamp
/// column, the literal read as UTC (the dataset's zone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TimeBound {
    pub column: String,
    pub op: BinaryOperator,
    pub millis: i64,
}

impl TimeBound {
    pub(super) fn holds(&self, millis: i64) -> bool {
        match self.op {
            BinaryOperator::Gt => millis > self.millis,
            BinaryOperator::GtEq => millis >= self.millis,
            BinaryOperator::Lt => millis < self.millis,
            BinaryOperator::LtEq => millis <= self.millis,
            _ => false,
        }
    }
}

/// A statement with the `SELECT`s the fold computes replaced by
/// `SELECT * FROM <frame>`.
#[derive(Debug)]
pub(super) struct Rewritten {
    pub sql: String,
    /// Each replaced `SELECT`'s frame name and plan.
    pub plans: Vec<(String, Plan)>,
}

/// `sql` with every `SELECT` of the shape above over one of `tables`
/// replaced; `None` when there is none (or the SQL does not parse here:
/// polars then says why).
pub(super) fn rewrite(sql: &str, tables: &[&str], prefix: &str) -> Option<Rewritten> {
    let mut statements = crate::analyze::dialect::parse(sql).ok()?;
    let [Statement::Query(query)] = statements.as_mut_slice() else {
        return None;
    };
    let mut ctes = CteNames::default();
    let _ = Visit::visit(&**query, &mut ctes);
    let tables: Vec<&str> = tables
        .iter()
        .copied()
        .filter(|t| !ctes.0.contains(*t))
        .collect();
    let mut found = Found {
        tables: &tables,
        prefix,
        plans: Vec::new(),
    };
    found.query(query);
    if found.plans.is_empty() {
        return None;
    }
    Some(Rewritten {
        sql: query.to_string(),
        plans: found.plans,
    })
}

/// Every name a `WITH` of the statement defines, at any depth.
#[derive(Default)]
struct CteNames(BTreeSet<String>);

impl Visitor for CteNames {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.0.insert(cte.alias.name.value.clone());
            }
        }
        ControlFlow::Continue(())
    }
}

struct Found<'a> {
    tables: &'a [&'a str],
    prefix: &'a str,
    plans: Vec<(String, Plan)>,
}

impl Found<'_> {
    fn query(&mut self, query: &mut Query) {
        if let Some(with) = &mut query.with {
            for cte in &mut with.cte_tables {
                self.query(&mut cte.query);
            }
        }
        let whole = query.order_by.is_none()
            && query.limit_clause.is_none()
            && query.fetch.is_none()
            && query.pipe_operators.is_empty();
        self.body(&mut query.body, whole);
    }

    /// `alone`: the body is a query's whole result, with no `ORDER BY` or
    /// `LIMIT` that could name what the replacement no longer has.
    fn body(&mut self, body: &mut SetExpr, alone: bool) {
        match body {
            SetExpr::Select(select) => {
                if alone && let Some(plan) = plan(select, self.tables) {
                    let name = format!("{}{}", self.prefix, self.plans.len());
                    if let Some(replacement) = replacement(&name, &plan) {
                        *body = replacement;
                        self.plans.push((name, plan));
                        return;
                    }
                }
                for from in &mut select.from {
                    self.factor(&mut from.relation);
                    for join in &mut from.joins {
                        self.factor(&mut join.relation);
                    }
                }
            }
            SetExpr::SetOperation { left, right, .. } => {
                self.body(left, true);
                self.body(right, true);
            }
            SetExpr::Query(query) => self.query(query),
            _ => {}
        }
    }

    fn factor(&mut self, factor: &mut TableFactor) {
        match factor {
            TableFactor::Derived { subquery, .. } => self.query(subquery),
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => {
                self.factor(&mut table_with_joins.relation);
                for join in &mut table_with_joins.joins {
                    self.factor(&mut join.relation);
                }
            }
            _ => {}
        }
    }
}

/// The body that reads `plan`'s rows from frame `name`: its projection
/// over `FROM name`.
fn replacement(name: &str, plan: &Plan) -> Option<SetExpr> {
    let sql = format!("SELECT * FROM {name}");
    let mut statements = crate::analyze::dialect::parse(&sql).ok()?;
    let Statement::Query(query) = statements.pop()? else {
        return None;
    };
    let mut body = *query.body;
    let SetExpr::Select(select) = &mut body else {
        return None;
    };
    select.projection.clone_from(&plan.projection);
    Some(body)
}

/// The plan of `select` when it has the module's shape.
fn plan(select: &Select, tables: &[&str]) -> Option<Plan> {
    if select.distinct.is_some()
        || select.top.is_some()
        || select.into.is_some()
        || select.exclude.is_some()
        || select.select_modifiers.is_some()
        || !select.lateral_views.is_empty()
        || select.prewhere.is_some()
        || !select.connect_by.is_empty()
        || !select.cluster_by.is_empty()
        || !select.distribute_by.is_empty()
        || !select.sort_by.is_empty()
        || select.having.is_some()
        || !select.named_window.is_empty()
        || select.qualify.is_some()
        || select.value_table_mode.is_some()
    {
        return None;
    }
    let [from] = select.from.as_slice() else {
        return None;
    };
    if !from.joins.is_empty() {
        return None;
    }
    let TableFactor::Table {
        name,
        alias,
        args: None,
        with_hints,
        version: None,
        with_ordinality: false,
        partitions,
        json_path: None,
        sample: None,
        index_hints,
    } = &from.relation
    else {
        return None;
    };
    if !with_hints.is_empty() || !partitions.is_empty() || !index_hints.is_empty() {
        return None;
    }
    let table = single(name)?;
    if !tables.contains(&table.as_str()) {
        return None;
    }
    if alias.as_ref().is_some_and(|a| !a.columns.is_empty()) {
        return None;
    }
    let mut names = Names {
        qualifiers: [
            Some(table.clone()),
            alias.as_ref().map(|a| a.name.value.clone()),
        ],
        strings: Vec::new(),
    };
    let GroupByExpr::Expressions(group_by, modifiers) = &select.group_by else {
        return None;
    };
    if group_by.len() > MAX_KEYS || !modifiers.is_empty() {
        return None;
    }
    let mut key_columns = Vec::new();
    let mut keys = Vec::new();
    for expr in group_by {
        let column = names.column(expr)?;
        if key_columns.contains(&column) {
            return None;
        }
        keys.push(match column.as_str() {
            "cluster" => Key::Cluster,
            "date" => Key::Date,
            _ => Key::Text(names.string(&column)),
        });
        key_columns.push(column);
    }
    let mut aggregates = Vec::new();
    let mut projection = Vec::new();
    for item in &select.projection {
        let (expr, alias) = match item {
            SelectItem::UnnamedExpr(expr) => (expr, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.clone())),
            _ => return None,
        };
        if let Some(column) = names.column(expr) {
            let key = key_columns.iter().position(|k| *k == column)?;
            let name = alias.unwrap_or_else(|| Ident::with_quote('"', column));
            // `SELECT namespace AS tenant … GROUP BY tenant` would make the
            // output name another group column's.
            let clash = key_columns
                .iter()
                .enumerate()
                .any(|(i, k)| i != key && *k == name.value);
            if clash || name.value.starts_with("__") {
                return None;
            }
            projection.push(SelectItem::ExprWithAlias {
                expr: frame_column(&key_column(key)),
                alias: name,
            });
            continue;
        }
        // Anything else is named, and read over the frame: its aggregates
        // and group columns become the frame's columns.
        let alias = alias?;
        let mut over = expr.clone();
        let mut swap = Swap {
            names: &mut names,
            keys: &key_columns,
            aggregates: &mut aggregates,
            refused: false,
        };
        let _ = VisitMut::visit(&mut over, &mut swap);
        if swap.refused || alias.value.starts_with("__") {
            return None;
        }
        projection.push(SelectItem::ExprWithAlias { expr: over, alias });
    }
    // A SELECT of keys and literals alone has nothing to fold.
    if aggregates.is_empty() {
        return None;
    }
    let mut plan = Plan {
        table,
        strings: Vec::new(),
        keys,
        aggregates,
        projection,
        first_day: None,
        last_day: None,
        cluster: None,
        filter: None,
        times: Vec::new(),
    };
    if let Some(selection) = &select.selection {
        let mut conjuncts = Vec::new();
        split_and(selection, &mut conjuncts);
        for conjunct in conjuncts {
            if !partition_filter(conjunct, &names, &mut plan)? {
                if let Some(bound) = names.time_bound(conjunct) {
                    plan.times.push(bound);
                    continue;
                }
                let cond = names.cond(conjunct)?;
                plan.filter = Some(match plan.filter.take() {
                    None => cond,
                    Some(before) => Cond::And(Box::new(before), Box::new(cond)),
                });
            }
        }
    }
    let names_seen = std::mem::take(&mut names.strings);
    plan.strings = names_seen;
    Some(plan)
}

/// A frame column, quoted (`"__a0"`).
fn frame_column(name: &str) -> Expr {
    Expr::Identifier(Ident::with_quote('"', name))
}

/// Scalar functions polars may apply to a group's aggregates over the
/// frame: they read one row of it, as they read one group's values.
const SCALAR_FUNCTIONS: [&str; 6] = ["nullif", "coalesce", "round", "abs", "greatest", "least"];

/// Swaps an output expression's aggregates and group columns for frame
/// columns; `refused` when it reads anything else (another column, an
/// aggregate of another shape, a subquery, a function not known to be
/// scalar).
struct Swap<'a> {
    names: &'a mut Names,
    keys: &'a [String],
    aggregates: &'a mut Vec<Aggregate>,
    refused: bool,
}

impl VisitorMut for Swap<'_> {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Some(column) = self.names.column(expr) {
            match self.keys.iter().position(|k| *k == column) {
                Some(key) => *expr = frame_column(&key_column(key)),
                None => self.refused = true,
            }
            return ControlFlow::Continue(());
        }
        if let Some(aggregate) = self.names.aggregate(expr) {
            *expr = frame_column(&aggregate_column(self.aggregates.len()));
            self.aggregates.push(aggregate);
            return ControlFlow::Continue(());
        }
        match expr {
            Expr::Function(function) => {
                let scalar = single(&function.name).is_some_and(|name| {
                    SCALAR_FUNCTIONS.contains(&name.to_ascii_lowercase().as_str())
                });
                if !scalar || function.over.is_some() || function.filter.is_some() {
                    self.refused = true;
                }
            }
            Expr::Identifier(_)
            | Expr::CompoundIdentifier(_)
            | Expr::Subquery(_)
            | Expr::Exists { .. }
            | Expr::InSubquery { .. } => self.refused = true,
            _ => {}
        }
        if self.refused {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

/// The one part of a table name (`allocation`, not `db.allocation`).
fn single(name: &ObjectName) -> Option<String> {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(ident)] => name_of(ident),
        _ => None,
    }
}

/// An identifier's name: unquoted or double-quoted (polars' quoting).
fn name_of(ident: &Ident) -> Option<String> {
    matches!(ident.quote_style, None | Some('"')).then(|| ident.value.clone())
}

fn split_and<'e>(expr: &'e Expr, into: &mut Vec<&'e Expr>) {
    match expr {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            split_and(left, into);
            split_and(right, into);
        }
        Expr::Nested(inner) => split_and(inner, into),
        other => into.push(other),
    }
}

/// Adds `expr` to the plan's days or cluster when it is a comparison of a
/// partition column with a literal: `Some(true)`; `Some(false)` when it
/// names no partition column (a row condition, then); `None` when it does,
/// in a way the fold does not read.
fn partition_filter(expr: &Expr, names: &Names, plan: &mut Plan) -> Option<bool> {
    let comparison = match expr {
        Expr::BinaryOp { left, op, right } => names
            .column(left)
            .zip(string_literal(right))
            .map(|(column, text)| (column, op, text)),
        _ => None,
    };
    let Some((column, op, text)) =
        comparison.filter(|(column, ..)| column == "date" || column == "cluster")
    else {
        return (!mentions_partition(expr, names)).then_some(false);
    };
    match column.as_str() {
        "date" => {
            let day = NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok()?;
            let (first, last) = match op {
                BinaryOperator::GtEq => (Some(day), None),
                BinaryOperator::Gt => (Some(day.succ_opt()?), None),
                BinaryOperator::Lt => (None, Some(day.pred_opt()?)),
                BinaryOperator::LtEq => (None, Some(day)),
                BinaryOperator::Eq => (Some(day), Some(day)),
                _ => return None,
            };
            if let Some(first) = first {
                plan.first_day = Some(plan.first_day.map_or(first, |d| d.max(first)));
            }
            if let Some(last) = last {
                plan.last_day = Some(plan.last_day.map_or(last, |d| d.min(last)));
            }
            Some(true)
        }
        "cluster" => {
            if *op != BinaryOperator::Eq || plan.cluster.as_ref().is_some_and(|c| *c != text) {
                return None;
            }
            plan.cluster = Some(text);
            Some(true)
        }
        _ => None,
    }
}

/// Whether `expr` reads `cluster` or `date` anywhere.
fn mentions_partition(expr: &Expr, names: &Names) -> bool {
    struct Mentions<'a>(&'a Names, bool);
    impl Visitor for Mentions<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            if let Some(column) = self.0.column(expr)
                && (column == "cluster" || column == "date")
            {
                self.1 = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    let mut mentions = Mentions(names, false);
    let _ = Visit::visit(expr, &mut mentions);
    mentions.1
}

fn string_literal(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Value(value) => match &value.value {
            Value::SingleQuotedString(text) => Some(text.clone()),
            _ => None,
        },
        Expr::Nested(inner) => string_literal(inner),
        _ => None,
    }
}

/// Whether `expr` is the literal 0 (`0`, `0.0`).
fn zero(expr: &Expr) -> bool {
    match expr {
        Expr::Value(value) => match &value.value {
            Value::Number(text, _) => text.parse::<f64>().is_ok_and(|n| n == 0.0),
            _ => false,
        },
        Expr::Nested(inner) => zero(inner),
        _ => false,
    }
}

/// Column names as the `SELECT` reads them, and the string columns its
/// keys and conditions use.
struct Names {
    /// What may qualify a column: the table's name and its alias.
    qualifiers: [Option<String>; 2],
    strings: Vec<String>,
}

impl Names {
    /// The column `expr` names (`tenant`, `a.tenant`), if it is one.
    fn column(&self, expr: &Expr) -> Option<String> {
        match expr {
            Expr::Identifier(ident) => name_of(ident),
            Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [qualifier, ident]
                    if self
                        .qualifiers
                        .iter()
                        .flatten()
                        .any(|q| name_of(qualifier).as_deref() == Some(q.as_str())) =>
                {
                    name_of(ident)
                }
                _ => None,
            },
            Expr::Nested(inner) => self.column(inner),
            _ => None,
        }
    }

    /// The index of string column `name`, numbering it on first use.
    fn string(&mut self, name: &str) -> usize {
        if let Some(at) = self.strings.iter().position(|s| s == name) {
            return at;
        }
        self.strings.push(name.to_owned());
        self.strings.len() - 1
    }

    /// A string column of a condition (never a partition column).
    fn text_column(&mut self, expr: &Expr) -> Option<usize> {
        let column = self.column(expr)?;
        if column == "cluster" || column == "date" {
            return None;
        }
        Some(self.string(&column))
    }

    /// `SUM(x)`, `SUM(CASE WHEN c THEN x ELSE 0 END)`, `MIN(x)`, `MAX(x)`.
    fn aggregate(&mut self, expr: &Expr) -> Option<Aggregate> {
        let Expr::Function(function) = expr else {
            return None;
        };
        let fold = match single(&function.name)?.to_ascii_lowercase().as_str() {
            "sum" => Fold::Sum,
            "min" => Fold::Min,
            "max" => Fold::Max,
            _ => return None,
        };
        if function.uses_odbc_syntax
            || !matches!(function.parameters, FunctionArguments::None)
            || function.filter.is_some()
            || function.null_treatment.is_some()
            || function.over.is_some()
            || !function.within_group.is_empty()
        {
            return None;
        }
        let FunctionArguments::List(list) = &function.args else {
            return None;
        };
        let ([FunctionArg::Unnamed(FunctionArgExpr::Expr(argument))], None, true) = (
            list.args.as_slice(),
            &list.duplicate_treatment,
            list.clauses.is_empty(),
        ) else {
            return None;
        };
        let (column, when) = self.summed(argument)?;
        if fold != Fold::Sum && when.is_some() {
            return None;
        }
        Some(Aggregate { fold, column, when })
    }

    fn summed(&mut self, argument: &Expr) -> Option<(String, Option<Cond>)> {
        if let Some(column) = self.column(argument) {
            return (column != "cluster" && column != "date").then_some((column, None));
        }
        match argument {
            Expr::Case {
                operand: None,
                conditions,
                else_result: Some(otherwise),
                ..
            } if zero(otherwise) => {
                let [CaseWhen { condition, result }] = conditions.as_slice() else {
                    return None;
                };
                let column = self.column(result)?;
                if column == "cluster" || column == "date" {
                    return None;
                }
                Some((column, Some(self.cond(condition)?)))
            }
            Expr::Nested(inner) => self.summed(inner),
            _ => None,
        }
    }

    /// `column > | >= | < | <= 'instant'` on a column that is not a
    /// partition column (the fold finds out whether it is a timestamp).
    fn time_bound(&self, expr: &Expr) -> Option<TimeBound> {
        let Expr::BinaryOp { left, op, right } = expr else {
            return None;
        };
        if !matches!(
            op,
            BinaryOperator::Gt | BinaryOperator::GtEq | BinaryOperator::Lt | BinaryOperator::LtEq
        ) {
            return None;
        }
        let column = self
            .column(left)
            .filter(|c| c != "cluster" && c != "date")?;
        let text = string_literal(right)?;
        let instant = chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S")
            .ok()
            .or_else(|| {
                NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                    .ok()
                    .and_then(|day| day.and_hms_opt(0, 0, 0))
            })?;
        Some(TimeBound {
            column,
            op: op.clone(),
            millis: instant.and_utc().timestamp_millis(),
        })
    }

    /// A condition on string columns.
    fn cond(&mut self, expr: &Expr) -> Option<Cond> {
        match expr {
            Expr::Nested(inner) => self.cond(inner),
            Expr::BinaryOp { left, op, right } => match op {
                BinaryOperator::And => Some(Cond::And(
                    Box::new(self.cond(left)?),
                    Box::new(self.cond(right)?),
                )),
                BinaryOperator::Or => Some(Cond::Or(
                    Box::new(self.cond(left)?),
                    Box::new(self.cond(right)?),
                )),
                BinaryOperator::Eq | BinaryOperator::NotEq => {
                    let (column, value) = match (string_literal(left), string_literal(right)) {
                        (None, Some(value)) => (self.text_column(left)?, value),
                        (Some(value), None) => (self.text_column(right)?, value),
                        _ => return None,
                    };
                    Some(Cond::Equals {
                        column,
                        value,
                        negated: *op == BinaryOperator::NotEq,
                    })
                }
                _ => None,
            },
            Expr::UnaryOp {
                op: UnaryOperator::Not,
                expr,
            } => Some(Cond::Not(Box::new(self.cond(expr)?))),
            Expr::Like {
                negated,
                any: false,
                expr,
                pattern,
                escape_char: None,
            } => Some(Cond::Like {
                column: self.text_column(expr)?,
                pattern: string_literal(pattern)?,
                negated: *negated,
            }),
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                let values = list
                    .iter()
                    .map(string_literal)
                    .collect::<Option<Vec<_>>>()?;
                Some(Cond::In {
                    column: self.text_column(expr)?,
                    values,
                    negated: *negated,
                })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLES: [&str; 2] = ["allocation", "nodes"];

    fn rewritten(sql: &str) -> Option<Rewritten> {
        rewrite(sql, &TABLES, "__p")
    }

    #[test]
    fn a_grouped_sum_in_a_cte_is_replaced_and_the_rest_kept() {
        let done = rewritten(
            "WITH c AS (SELECT a.tenant, SUM(total_cost_usd) AS usd, \
             SUM(CASE WHEN price_source LIKE 'autopilot%' THEN total_cost_usd ELSE 0 END) AS pods \
             FROM allocation AS a WHERE date >= '2026-11-02' AND date < '2026-11-09' GROUP BY a.tenant) \
             SELECT tenant, usd FROM c ORDER BY usd DESC",
        )
        .unwrap();
        assert_eq!(
            done.sql,
            "WITH c AS (SELECT \"__k0\" AS \"tenant\", \"__a0\" AS usd, \"__a1\" AS pods FROM __p0) \
             SELECT tenant, usd FROM c ORDER BY usd DESC"
        );
        let [(name, plan)] = done.plans.as_slice() else {
            panic!("{:?}", done.plans);
        };
        assert_eq!(name, "__p0");
        assert_eq!(plan.table, "allocation");
        assert_eq!(plan.strings, ["tenant", "price_source"]);
        assert_eq!(plan.keys, [Key::Text(0)]);
        assert_eq!(plan.first_day, NaiveDate::from_ymd_opt(2026, 11, 2));
        assert_eq!(plan.last_day, NaiveDate::from_ymd_opt(2026, 11, 8));
        assert_eq!(
            plan.aggregates[1],
            Aggregate {
                fold: Fold::Sum,
                column: "total_cost_usd".into(),
                when: Some(Cond::Like {
                    column: 1,
                    pattern: "autopilot%".into(),
                    negated: false
                }),
            }
        );
    }

    #[test]
    fn both_sides_of_a_union_and_a_subquery_in_from_are_replaced() {
        let done = rewritten(
            "SELECT * FROM (SELECT node, SUM(idle_cost_usd) AS x FROM nodes GROUP BY node) AS n \
             UNION ALL SELECT tenant, SUM(total_cost_usd) AS x FROM allocation WHERE cluster = 'c' \
             AND tenant <> '__idle__' GROUP BY tenant ORDER BY x",
        )
        .unwrap();
        assert_eq!(
            done.sql,
            "SELECT * FROM (SELECT \"__k0\" AS \"node\", \"__a0\" AS x FROM __p0) AS n \
             UNION ALL SELECT \"__k0\" AS \"tenant\", \"__a0\" AS x FROM __p1 ORDER BY x"
        );
        assert_eq!(done.plans[1].1.cluster.as_deref(), Some("c"));
        assert!(done.plans[1].1.filter.is_some());
    }

    #[test]
    fn a_global_sum_keeps_its_literals_for_polars() {
        let done = rewritten(
            "SELECT SUM(idle_cost_usd) AS idle, 0 AS disk, CAST(NULL AS DOUBLE) AS none \
             FROM nodes WHERE date >= '2026-11-02'",
        )
        .unwrap();
        assert_eq!(
            done.sql,
            "SELECT \"__a0\" AS idle, 0 AS disk, CAST(NULL AS DOUBLE) AS none FROM __p0"
        );
        assert!(done.plans[0].1.keys.is_empty());
    }

    #[test]
    fn what_surrounds_aggregates_stays_for_polars_over_the_frame() {
        let done = rewritten(
            "SELECT rc.volume, MAX(rc.size_gib) AS size, SUM(rc.running_seconds) / 3600 AS hours, \
             100 * SUM(a) / NULLIF(SUM(b), 0) AS pct, rc.volume || '!' AS loud \
             FROM nodes AS rc GROUP BY rc.volume",
        )
        .unwrap();
        assert_eq!(
            done.sql,
            "SELECT \"__k0\" AS \"volume\", \"__a0\" AS size, \"__a1\" / 3600 AS hours, \
             100 * \"__a2\" / NULLIF(\"__a3\", 0) AS pct, \"__k0\" || '!' AS loud FROM __p0"
        );
        let folds: Vec<Fold> = done.plans[0].1.aggregates.iter().map(|a| a.fold).collect();
        assert_eq!(folds, [Fold::Max, Fold::Sum, Fold::Sum, Fold::Sum]);
    }

    #[test]
    fn other_shapes_are_left_to_polars() {
        for sql in [
            "SELECT tenant, SUM(total_cost_usd) AS usd FROM allocation GROUP BY tenant ORDER BY usd",
            "SELECT tenant, SUM(total_cost_usd) AS usd FROM allocation GROUP BY tenant LIMIT 3",
            "SELECT tenant, SUM(total_cost_usd) FROM allocation GROUP BY tenant",
            "SELECT tenant, AVG(total_cost_usd) AS usd FROM allocation GROUP BY tenant",
            "SELECT tenant, COUNT(*) AS n FROM allocation GROUP BY tenant",
            "SELECT tenant, SUM(total_cost_usd) + cpu_cost_usd AS usd FROM allocation GROUP BY tenant",
            "SELECT tenant, MAX(CASE WHEN tenant = 'a' THEN total_cost_usd ELSE 0 END) AS usd FROM allocation GROUP BY tenant",
            "SELECT tenant, SUM(total_cost_usd) OVER () AS usd FROM allocation GROUP BY tenant",
            "SELECT tenant, SUM(total_cost_usd) / (SELECT 2) AS usd FROM allocation GROUP BY tenant",
            "SELECT tenant, upper(tenant) AS t, SUM(total_cost_usd) AS usd FROM allocation GROUP BY tenant",
            "SELECT tenant, SUM(DISTINCT total_cost_usd) AS usd FROM allocation GROUP BY tenant",
            "SELECT tenant, 0 AS zero FROM allocation GROUP BY tenant",
            "SELECT SUM(total_cost_usd) AS usd, 1 FROM allocation",
            "SELECT tenant, SUM(total_cost_usd) AS usd FROM samples GROUP BY tenant",
            "SELECT tenant, SUM(total_cost_usd) AS usd FROM allocation WHERE date >= '2026-13-01' GROUP BY tenant",
            "SELECT tenant, SUM(total_cost_usd) AS usd FROM allocation WHERE date <> '2026-11-01' GROUP BY tenant",
            "SELECT tenant, SUM(total_cost_usd) AS usd FROM allocation WHERE cluster LIKE 'a%' GROUP BY tenant",
            "SELECT tenant, SUM(total_cost_usd) AS usd FROM allocation WHERE cpu_cost_usd > 0 GROUP BY tenant",
            "SELECT tenant, SUM(CASE WHEN tenant = 'a' THEN total_cost_usd ELSE 1 END) AS usd FROM allocation GROUP BY tenant",
            "SELECT tenant, SUM(CASE WHEN tenant LIKE 'a!%' ESCAPE '!' THEN total_cost_usd ELSE 0 END) AS usd FROM allocation GROUP BY tenant",
            "SELECT namespace AS tenant, tenant AS t, SUM(total_cost_usd) AS usd FROM allocation GROUP BY namespace, tenant",
            "SELECT x.tenant, SUM(total_cost_usd) AS usd FROM allocation AS a GROUP BY x.tenant",
            "SELECT tenant, SUM(total_cost_usd) AS usd FROM allocation, nodes GROUP BY tenant",
            "WITH nodes AS (SELECT 1 AS one) SELECT node, SUM(idle_cost_usd) AS x FROM nodes GROUP BY node",
            "SELECT tenant FROM allocation",
            "DELETE FROM allocation",
            "this is not SQL",
        ] {
            assert!(rewritten(sql).is_none(), "rewritten: {sql}");
        }
    }
}
