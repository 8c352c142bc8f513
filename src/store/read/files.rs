//! A local dataset's tables, clusters and files, found by walking its
//! partition folders, with `cluster` and `date` pruning before any file is
//! opened.
//!
//! Only what the collector publishes is listed:
//! `<root>/<table>/cluster=…/date=…/<published name>` — never the `_wal`
//! folder, a file being written, or a stray file beside the partitions. A
//! dataset in object storage is read through its local mirror
//! ([`crate::store::mirror`]), so this walks local folders only.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::ReadError;
use crate::store::partition;

/// One published file and the partition it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableFile {
    pub path: PathBuf,
    pub cluster: String,
    pub date: NaiveDate,
}

impl TableFile {
    /// The hour of its day the file holds, by its name; `None` when the
    /// name does not say (a file the collector did not write).
    pub fn hour(&self) -> Option<u32> {
        self.path
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(partition::file_hour)
    }

    /// Its size in bytes (0 when it cannot be read: the read says why).
    pub fn bytes(&self) -> u64 {
        fs::metadata(&self.path)
            .map(|m| m.len())
            .unwrap_or_default()
    }
}

/// Which partitions a listing keeps: one cluster or all, and the days from
/// `from` to `to`, both included (open ends when `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub cluster: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl Filter {
    fn keeps_cluster(&self, name: &str) -> bool {
        self.cluster.as_deref().is_none_or(|wanted| wanted == name)
    }

    fn keeps_day(&self, day: NaiveDate) -> bool {
        self.from.is_none_or(|from| day >= from) && self.to.is_none_or(|to| day <= to)
    }
}

/// The `cluster=` partitions of `table` under `root`, sorted; none when the
/// table has no folder.
///
/// # Errors
///
/// [`ReadError::List`] when the table's folder cannot be listed.
pub fn clusters(root: &Path, table: &str) -> Result<Vec<String>, ReadError> {
    let mut names: Vec<String> = subfolders(&root.join(table))?
        .into_iter()
        .filter_map(|(name, _)| partition::cluster(&name).map(str::to_owned))
        .collect();
    names.sort();
    Ok(names)
}

/// The published files of `table` under `root` in `filter`'s partitions,
/// oldest first: by day, then by name (`part-HH-…` sorts by hour), then by
/// path. None when the table has no folder.
///
/// # Errors
///
/// [`ReadError::List`] naming a folder that cannot be listed,
/// [`ReadError::Partition`] naming a `date=` folder that holds no day.
pub fn files(root: &Path, table: &str, filter: &Filter) -> Result<Vec<TableFile>, ReadError> {
    let mut files = Vec::new();
    for (name, cluster_dir) in subfolders(&root.join(table))? {
        let Some(cluster) = partition::cluster(&name).filter(|c| filter.keeps_cluster(c)) else {
            continue;
        };
        for (name, date_dir) in subfolders(&cluster_dir)? {
            let date = match partition::date(&name) {
                None => continue,
                Some(Err(_)) => return Err(ReadError::Partition { folder: date_dir }),
                Some(Ok(date)) if !filter.keeps_day(date) => continue,
                Some(Ok(date)) => date,
            };
            for entry in entries(&date_dir)? {
                let published = entry
                    .file_name()
                    .to_str()
                    .is_some_and(partition::is_published);
                if published && entry.file_type().is_ok_and(|t| t.is_file()) {
                    files.push(TableFile {
                        path: entry.path(),
                        cluster: cluster.to_owned(),
                        date,
                    });
                }
            }
        }
    }
    files.sort_by(|a, b| {
        let key = |f: &TableFile| (f.date, f.path.file_name().map(|n| n.to_owned()));
        key(a).cmp(&key(b)).then_with(|| a.path.cmp(&b.path))
    });
    Ok(files)
}

/// The entries of `dir`; none when it does not exist.
fn entries(dir: &Path) -> Result<Vec<fs::DirEntry>, ReadError> {
    let list = |cause| ReadError::List {
        folder: dir.to_owned(),
        cause,
    };
    match fs::read_dir(dir) {
        Ok(entries) => entries.collect::<Result<_, _>>().map_err(list),
        Err(cause) if cause.kind() == ErrorKind::NotFound => Ok(Vec::new()),
        Err(cause) => Err(list(cause)),
    }
}

/// The subfolders of `dir` with UTF-8 names, as (name, path).
fn subfolders(dir: &Path) -> Result<Vec<(String, PathBuf)>, ReadError> {
    Ok(entries(dir)?
        .into_iter()
        .filter(|entry| entry.path().is_dir())
        .filter_map(|entry| Some((entry.file_name().into_string().ok()?, entry.path())))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder holding empty files at `relative` paths.
    fn dataset(relative: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for name in relative {
            let path = dir.path().join(name);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).unwrap();
            }
            fs::write(path, b"").unwrap();
        }
        dir
    }

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn names(root: &Path, files: &[TableFile]) -> Vec<String> {
        files
            .iter()
            .filter_map(|f| f.path.strip_prefix(root).ok())
            .map(|p| p.display().to_string())
            .collect()
    }

    #[test]
    fn lists_published_files_oldest_first_and_nothing_else() {
        let dir = dataset(&[
            "nodes/cluster=a/date=2026-11-03/part-01-0-0000.parquet",
            "nodes/cluster=a/date=2026-11-02/part-00-0-0000.parquet",
            "nodes/cluster=a/date=2026-11-03/part-00-0-0000.parquet",
            "nodes/cluster=a/date=2026-11-03/.part-02-0-0000.parquet.tmp",
            "nodes/cluster=a/date=2026-11-03/_SUCCESS",
            "nodes/cluster=a/stray.parquet",
            "nodes/_temporary/date=2026-11-03/part-00-0-0000.parquet",
            "_wal/a/0.arrow",
        ]);
        let files = files(dir.path(), "nodes", &Filter::default()).unwrap();
        assert_eq!(
            names(dir.path(), &files),
            [
                "nodes/cluster=a/date=2026-11-02/part-00-0-0000.parquet",
                "nodes/cluster=a/date=2026-11-03/part-00-0-0000.parquet",
                "nodes/cluster=a/date=2026-11-03/part-01-0-0000.parquet",
            ]
        );
        assert_eq!(
            (files[0].cluster.as_str(), files[0].date),
            ("a", day("2026-11-02"))
        );
    }

    #[test]
    fn prunes_by_cluster_and_days_before_opening_anything() {
        let dir = dataset(&[
            "allocation/cluster=a/date=2026-11-01/part-00-0-0000.parquet",
            "allocation/cluster=a/date=2026-11-02/part-00-0-0000.parquet",
            "allocation/cluster=a/date=2026-11-03/part-00-0-0000.parquet",
            "allocation/cluster=b/date=2026-11-02/part-00-0-0000.parquet",
        ]);
        let filter = Filter {
            cluster: Some("a".into()),
            from: Some(day("2026-11-02")),
            to: Some(day("2026-11-02")),
        };
        let kept = files(dir.path(), "allocation", &filter).unwrap();
        assert_eq!(
            names(dir.path(), &kept),
            ["allocation/cluster=a/date=2026-11-02/part-00-0-0000.parquet"]
        );
        let since = Filter {
            from: Some(day("2026-11-02")),
            ..Filter::default()
        };
        let kept = files(dir.path(), "allocation", &since).unwrap();
        assert_eq!(kept.len(), 3, "both clusters from the 2nd on");
        assert_eq!(clusters(dir.path(), "allocation").unwrap(), ["a", "b"]);
        assert!(files(dir.path(), "samples", &Filter::default()).is_ok_and(|f| f.is_empty()));
    }

    #[test]
    fn a_date_folder_that_holds_no_day_is_an_error_naming_it() {
        let dir = dataset(&["nodes/cluster=a/date=2026-13-45/part-00-0-0000.parquet"]);
        let error = files(dir.path(), "nodes", &Filter::default())
            .map(|_| ())
            .map_err(|e| e.to_string());
        let folder = dir.path().join("nodes/cluster=a/date=2026-13-45");
        assert_eq!(
            error,
            Err(format!(
                "{}: not a partition folder (expected date=YYYY-MM-DD)",
                folder.display()
            ))
        );
    }
}
