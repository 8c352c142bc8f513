//! Grouped sums computed beside polars (`analyze::pushdown`): a speed
//! path, so every statement must return what polars returns running it
//! whole — the same columns, types and rows, sums equal but for their last
//! bits — and the statements it does not know must run whole.

use kubetally::analyze::{self, Session};
use polars::prelude::{AnyValue, DataFrame, DataType};

use crate::query::dataset;

/// `sql` run with the pushdown and without: both frames, and how many
/// `SELECT`s the pushdown computed.
fn both_ways(sql: &str) -> (DataFrame, DataFrame, usize) {
    let mut pushed = Session::open(dataset()).unwrap();
    let with = pushed.query(sql).unwrap_or_else(|e| panic!("{e}\n{sql}"));
    let mut whole = Session::open(dataset()).unwrap();
    whole.set_pushdown(false);
    let without = whole.query(sql).unwrap();
    assert_eq!(whole.pushed(), 0);
    (with, without, pushed.pushed())
}

/// Panics unless the frames have the same columns, types and rows, in any
/// order (a query without `ORDER BY` has none), floats compared to nine
/// significant digits.
fn assert_same(with: &DataFrame, without: &DataFrame, case: &str) {
    assert_eq!(with.schema(), without.schema(), "{case}: schema");
    let (a, b) = (rows(with), rows(without));
    assert_eq!(a.len(), b.len(), "{case}: rows");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y, "{case}");
    }
}

/// Each row as text, sorted.
fn rows(frame: &DataFrame) -> Vec<String> {
    let mut rows: Vec<String> = (0..frame.height())
        .map(|row| {
            frame
                .columns()
                .iter()
                .map(|column| match column.get(row).unwrap() {
                    AnyValue::Float64(x) => format!("{x:.8e}"),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn every_bundled_query_returns_what_polars_returns_whole() {
    let mut pushed_somewhere = Vec::new();
    for bundled in analyze::bundled().unwrap() {
        let name = bundled.name().to_owned();
        for params in [
            vec![],
            vec![
                ("from".to_owned(), "2026-11-03".to_owned()),
                ("to".to_owned(), "2026-11-05".to_owned()),
            ],
        ] {
            let declared: Vec<(String, String)> = params
                .into_iter()
                .filter(|(p, _)| bundled.query.params.iter().any(|d| d.name == *p))
                .collect();
            let sql = bundled.query.render(&declared).unwrap();
            let (with, without, pushed) = both_ways(&sql);
            assert!(
                without.height() > 0 || name.contains("unpriced") || name.contains("focus"),
                "{name}: no rows to compare"
            );
            assert_same(&with, &without, &name);
            if pushed > 0 {
                pushed_somewhere.push(name.clone());
            }
        }
    }
    for name in ["chargeback_by_tenant", "weekly_cost_by_namespace"] {
        assert!(
            pushed_somewhere.iter().any(|n| n == name),
            "{name} was not computed beside polars: {pushed_somewhere:?}"
        );
    }
}

#[test]
fn conditions_aliases_and_partitions_fold_as_polars_reads_them() {
    for sql in [
        "SELECT * FROM (SELECT tenant AS who, SUM(total_cost_usd) AS usd FROM allocation GROUP BY tenant) AS t ORDER BY who",
        "WITH d AS (SELECT a.cluster, date, namespace, \
         SUM(CASE WHEN price_source LIKE '%demand%' THEN cpu_cost_usd ELSE 0 END) AS od, \
         SUM(memory_cost_usd) AS mem FROM allocation AS a \
         WHERE date > '2026-11-02' AND date <= '2026-11-04' AND namespace NOT IN ('kube-system') AND cluster = 'test' \
         GROUP BY date, a.cluster, namespace) SELECT * FROM d ORDER BY date, namespace",
        "SELECT * FROM (SELECT node, SUM(idle_cost_usd) AS idle FROM nodes WHERE NOT (node = 'x' OR node LIKE 'zz_') GROUP BY node) AS n ORDER BY node",
        "SELECT tenant, SUM(CASE WHEN tenant <> '__shared__' AND (container = 'app' OR container LIKE 'w%') THEN total_cost_usd ELSE 0.0 END) AS usd \
         FROM allocation GROUP BY tenant",
        "SELECT namespace, SUM(total_cost_usd) AS usd FROM allocation WHERE namespace = 'none' GROUP BY namespace",
        // MIN and MAX, integer sums, and what polars computes around them
        // (the report's unused volumes).
        "SELECT rc.cluster AS cl, rc.resource_name AS volume, rc.state AS state, \
         MAX(rc.size_gib) AS size_gib, SUM(rc.running_seconds) / 3600 AS hours, SUM(rc.cost_usd) AS cost_usd \
         FROM resources AS rc WHERE rc.kind = 'disk' AND rc.state <> 'mounted' \
         GROUP BY rc.cluster, rc.resource_name, rc.state",
        "SELECT node, MIN(running_seconds) AS least, MAX(total_cost_usd) AS most, SUM(running_seconds) AS seconds, \
         100 * SUM(idle_cost_usd) / NULLIF(SUM(total_cost_usd), 0) AS idle_pct, node || '/' AS tag FROM nodes GROUP BY node",
        // One string key whose values come back again and again in a file
        // (as the chargeback's `owned` tenants do at scale), with a filter
        // and conditions.
        "SELECT node, SUM(total_cost_usd) AS usd, \
         SUM(CASE WHEN price_source LIKE '%spot%' THEN cpu_cost_usd ELSE 0 END) AS spot \
         FROM allocation WHERE namespace <> 'kube-system' GROUP BY node",
        "SELECT tenant, SUM(CASE WHEN kind = 'disk' THEN cost_usd ELSE 0 END) AS disk, \
         SUM(running_seconds) AS seconds FROM resources WHERE kind <> 'cluster_fee' AND state <> 'mounted' GROUP BY tenant",
        // A bare `, cluster` (quoted before polars, and before the fold, parse it).
        "SELECT * FROM (SELECT node, cluster, SUM(idle_cost_usd) AS idle FROM nodes GROUP BY node, cluster) AS n",
        // Rows kept by their hour (the report's window), the literal read as UTC.
        "SELECT tenant, SUM(total_cost_usd) AS usd FROM allocation \
         WHERE start_time >= '2026-11-02 01:00:00' AND start_time < '2026-11-03' AND tenant <> '__shared__' \
         GROUP BY tenant",
        // No GROUP BY: one row, of nulls over no rows; literals typed by polars.
        "SELECT SUM(idle_cost_usd) AS idle, 0 AS disk, CAST(NULL AS DOUBLE) AS none, 'x' AS tag FROM nodes",
        "SELECT SUM(idle_cost_usd) AS idle, 0 AS disk FROM nodes WHERE node = 'none' \
         UNION ALL SELECT 1.5 AS idle, 2 AS disk",
    ] {
        let (with, without, pushed) = both_ways(sql);
        assert_same(&with, &without, sql);
        assert_eq!(pushed, 1, "not computed beside polars: {sql}");
    }
}

#[test]
fn statements_of_another_shape_run_whole() {
    for sql in [
        // An aggregate without a name, HAVING, DISTINCT, a join, ORDER BY
        // on the grouped SELECT itself, a sum of an expression, a count.
        "SELECT tenant, SUM(total_cost_usd) FROM allocation GROUP BY tenant",
        "SELECT tenant, SUM(total_cost_usd) AS usd FROM allocation GROUP BY tenant HAVING SUM(total_cost_usd) > 0",
        "SELECT DISTINCT tenant, SUM(total_cost_usd) AS usd FROM allocation GROUP BY tenant",
        "SELECT a.tenant, SUM(a.total_cost_usd) AS usd FROM allocation AS a JOIN nodes AS n ON a.node = n.node GROUP BY a.tenant",
        "SELECT tenant, SUM(total_cost_usd) AS usd FROM allocation GROUP BY tenant ORDER BY usd DESC",
        "SELECT tenant, SUM(total_cost_usd * 2) AS usd FROM allocation GROUP BY tenant",
        "SELECT tenant, COUNT(*) AS n FROM allocation GROUP BY tenant",
        // No file in the window: the fold cannot tell its columns' types.
        "SELECT namespace, SUM(total_cost_usd) AS usd FROM allocation WHERE date = '1999-01-01' GROUP BY namespace",
        // A CTE named like the table it would read.
        "WITH allocation AS (SELECT * FROM nodes) SELECT node, SUM(idle_cost_usd) AS idle FROM allocation GROUP BY node",
        // A column the table does not have, one that is not a string key.
        "SELECT tenant, SUM(no_such_column) AS usd FROM allocation GROUP BY tenant",
        "SELECT sample_count, SUM(total_cost_usd) AS usd FROM allocation GROUP BY sample_count",
    ] {
        let mut session = Session::open(dataset()).unwrap();
        let with = session.query(sql).map_err(|e| e.to_string());
        assert_eq!(session.pushed(), 0, "computed beside polars: {sql}");
        let mut whole = Session::open(dataset()).unwrap();
        whole.set_pushdown(false);
        let without = whole.query(sql).map_err(|e| e.to_string());
        match (with, without) {
            (Ok(_), Ok(_)) => {}
            (Err(a), Err(b)) => assert_eq!(a, b, "{sql}"),
            (a, b) => panic!("{sql}: {a:?} vs {b:?}"),
        }
    }
}

#[test]
fn a_tenants_session_is_never_folded() {
    let sql = "SELECT namespace, SUM(total_cost_usd) AS usd FROM allocation GROUP BY namespace";
    let mut session = Session::open(dataset()).unwrap();
    let tenant = session
        .query("SELECT tenant FROM allocation WHERE tenant <> '__shared__' LIMIT 1")
        .unwrap()
        .column("tenant")
        .unwrap()
        .str()
        .unwrap()
        .get(0)
        .unwrap()
        .to_owned();
    session.restrict_to_tenant(&tenant).unwrap();
    let rows = session.query(sql).unwrap();
    assert_eq!(session.pushed(), 0);
    let mut whole = Session::open(dataset()).unwrap();
    whole.set_pushdown(false);
    let filtered = whole
        .query(&format!(
            "SELECT namespace, SUM(total_cost_usd) AS usd FROM allocation WHERE tenant = '{tenant}' GROUP BY namespace"
        ))
        .unwrap();
    assert_eq!(rows.height(), filtered.height());
    assert_eq!(rows.column("usd").unwrap().dtype(), &DataType::Float64);
}
