//! The bundled queries: `queries/*.sql`, compiled into the binary so
//! `kubetally query -n NAME` needs no files next to it.
//!
//! `include_str!` needs each file named here; a test fails when a file in
//! `queries/` is missing from [`FILES`], so a new query cannot be forgotten.

use super::AnalyzeError;
use super::query_file::QueryFile;

/// Every file of `queries/`, by file name, with its text.
pub const FILES: [(&str, &str); 10] = [
    (
        "chargeback_by_tenant.sql",
        include_str!("../../queries/chargeback_by_tenant.sql"),
    ),
    (
        "weekly_cost_by_namespace.sql",
        include_str!("../../queries/weekly_cost_by_namespace.sql"),
    ),
    (
        "daily_cost_trend.sql",
        include_str!("../../queries/daily_cost_trend.sql"),
    ),
    (
        "idle_cost_by_node_pool.sql",
        include_str!("../../queries/idle_cost_by_node_pool.sql"),
    ),
    (
        "top_waste_workloads.sql",
        include_str!("../../queries/top_waste_workloads.sql"),
    ),
    (
        "cost_by_label.sql",
        include_str!("../../queries/cost_by_label.sql"),
    ),
    (
        "storage_waste.sql",
        include_str!("../../queries/storage_waste.sql"),
    ),
    (
        "unpriced_nodes.sql",
        include_str!("../../queries/unpriced_nodes.sql"),
    ),
    (
        "gke_usage_metering.sql",
        include_str!("../../queries/gke_usage_metering.sql"),
    ),
    (
        "focus_chargeback_by_tenant.sql",
        include_str!("../../queries/focus_chargeback_by_tenant.sql"),
    ),
];

/// A bundled query: its file name and parsed text.
#[derive(Debug, Clone)]
pub struct Bundled {
    pub file: &'static str,
    pub query: QueryFile,
    /// The file as shipped (header comments included).
    pub text: &'static str,
}

impl Bundled {
    /// The `-- name:`, or the file name without `.sql`.
    pub fn name(&self) -> &str {
        self.query
            .name
            .as_deref()
            .unwrap_or_else(|| self.file.trim_end_matches(".sql"))
    }
}

/// Every bundled query, in [`FILES`] order.
///
/// # Errors
///
/// [`AnalyzeError::BadBundled`] if a file's header does not parse (a test
/// keeps this from shipping).
pub fn bundled() -> Result<Vec<Bundled>, AnalyzeError> {
    FILES
        .iter()
        .map(|(file, text)| {
            QueryFile::parse(text)
                .map(|query| Bundled { file, query, text })
                .map_err(|cause| AnalyzeError::BadBundled { file, cause })
        })
        .collect()
}

/// The bundled query named `name` (its `-- name:` or file name).
///
/// # Errors
///
/// [`AnalyzeError::UnknownQuery`] listing the names there are.
pub fn find(name: &str) -> Result<Bundled, AnalyzeError> {
    let all = bundled()?;
    let known = all.iter().map(Bundled::name).collect::<Vec<_>>().join(", ");
    all.iter()
        .find(|b| b.name() == name || b.file == name)
        .cloned()
        .ok_or_else(|| AnalyzeError::UnknownQuery {
            name: name.to_owned(),
            known,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_in_queries_is_bundled_and_parses_with_a_full_header() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/queries");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".sql"))
            .collect();
        on_disk.sort();
        let mut listed: Vec<String> = FILES.iter().map(|(f, _)| (*f).to_owned()).collect();
        listed.sort();
        assert_eq!(listed, on_disk, "library::FILES and queries/ differ");
        for bundled in bundled().unwrap_or_else(|e| panic!("{e:#}")) {
            let query = &bundled.query;
            assert_eq!(
                Some(bundled.file.trim_end_matches(".sql")),
                query.name.as_deref(),
                "-- name: matches the file name"
            );
            assert!(
                query.description.is_some(),
                "{}: -- description:",
                bundled.file
            );
            assert!(
                query.params.iter().all(|p| p.default.is_some()),
                "{}: every bundled parameter has a default",
                bundled.file
            );
            query
                .render(&[])
                .unwrap_or_else(|e| panic!("{}: {e}", bundled.file));
        }
    }

    #[test]
    fn an_unknown_name_lists_the_known_ones() {
        let error = find("nope").map(|_| ()).map_err(|e| e.to_string());
        assert!(
            error
                .as_ref()
                .is_err_and(|e| e.contains("chargeback_by_tenant")),
            "{error:?}"
        );
    }
}
