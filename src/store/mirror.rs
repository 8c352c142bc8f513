//! A local copy of a dataset that lives in object storage, for readers that
//! only read local files.
//!
//! `kubetally query` reads an `s3://`, `gs://` or `az://` dataset by
//! mirroring its table files into a cache directory with the same hive paths
//! (`<table>/cluster=<c>/date=<d>/part-….parquet`) and scanning that. The
//! alternative, polars' own cloud readers, needs polars' cloud features: a
//! second object_store version and about twenty minutes more build, for a
//! reader that would then also need its own credentials setup. Mirroring
//! reuses the collector's object store client, its environment-based
//! credentials and its retry policy, and a second query over the same data
//! downloads only what changed.
//!
//! A file is downloaded again when its size or modification time differs
//! from the cached copy (a republished hour keeps its name but not its
//! bytes); a cached file the store no longer lists is removed, so a smaller
//! republish never leaves rows behind twice.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStoreExt};

use super::dataset::write_atomically;
use super::object::ObjectTarget;
use super::partition;

/// Downloads at once: enough to hide request latency, few enough to stay
/// polite to a shared bucket.
const CONCURRENT_DOWNLOADS: usize = 8;

/// What a mirror run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MirrorSummary {
    /// Table files the store lists.
    pub files: usize,
    /// Files fetched because the cache lacked them or held another version.
    pub downloaded: usize,
    /// Bytes fetched.
    pub bytes: u64,
    /// Cached files removed because the store no longer has them.
    pub removed: usize,
}

/// Why the mirror could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    // object_store's errors print their own causes: no `#[source]`, or a
    // chain would print them twice.
    #[error("listing {location}: {cause}")]
    List {
        location: String,
        cause: object_store::Error,
    },
    #[error("downloading {location}: {cause}")]
    Get {
        location: String,
        cause: object_store::Error,
    },
    #[error("writing the cached copy {path}")]
    Io {
        path: PathBuf,
        #[source]
        cause: std::io::Error,
    },
    #[error("writing the cached copy of {location}")]
    Write {
        location: String,
        #[source]
        cause: Box<super::DatasetError>,
    },
}

/// Brings `into` up to date with the files of `tables` under `target`.
///
/// Only table files are copied (`<table>/cluster=…/date=…/*.parquet`, not
/// hidden or `_`-prefixed names): the collector's `_wal` folder and
/// anything else under the prefix stay behind.
///
/// # Errors
///
/// [`MirrorError`] naming the listing, object or local file that failed;
/// what was downloaded before the failure stays in the cache.
pub async fn mirror(
    target: &ObjectTarget,
    tables: &[&str],
    into: &Path,
) -> Result<MirrorSummary, MirrorError> {
    let mut summary = MirrorSummary::default();
    for table in tables {
        let listed = table_files(target, table).await?;
        summary.files += listed.len();
        let mut wanted = BTreeSet::new();
        let mut stale = Vec::new();
        for (relative, meta) in listed {
            let local = relative
                .split('/')
                .fold(into.to_owned(), |path, part| path.join(part));
            if !is_current(&local, &meta) {
                stale.push((local.clone(), meta));
            }
            wanted.insert(local);
        }
        let fetched: Vec<u64> = futures_util::stream::iter(stale)
            .map(|(local, meta)| download(target, meta, local))
            .buffer_unordered(CONCURRENT_DOWNLOADS)
            .try_collect()
            .await?;
        summary.downloaded += fetched.len();
        summary.bytes += fetched.iter().sum::<u64>();
        summary.removed += remove_unlisted(&into.join(table), &wanted)?;
    }
    Ok(summary)
}

/// The table's files, as (path relative to the dataset root, metadata).
async fn table_files(
    target: &ObjectTarget,
    table: &str,
) -> Result<Vec<(String, ObjectMeta)>, MirrorError> {
    let dir = target.key([table]);
    let listed: Vec<ObjectMeta> = target
        .store()
        .list(Some(&dir))
        .try_collect()
        .await
        .map_err(|cause| MirrorError::List {
            location: target.display(table),
            cause,
        })?;
    let prefix = target.prefix().as_ref();
    Ok(listed
        .into_iter()
        .filter_map(|meta| {
            let full = meta.location.as_ref();
            let relative = if prefix.is_empty() {
                full
            } else {
                full.strip_prefix(prefix)?.strip_prefix('/')?
            };
            let relative = relative.to_owned();
            is_table_file(&relative, table).then_some((relative, meta))
        })
        .collect())
}

/// Whether `relative` is `<table>/cluster=…/date=…/<name>.parquet` with a
/// visible name: what the collector publishes, not its temporary files.
fn is_table_file(relative: &str, table: &str) -> bool {
    let parts: Vec<&str> = relative.split('/').collect();
    matches!(
        parts.as_slice(),
        [t, cluster, date, name]
            if *t == table
                && partition::cluster(cluster).is_some()
                && partition::date(date).is_some()
                && partition::is_published(name)
    )
}

/// Whether the cached copy has the object's size and modification time.
fn is_current(local: &Path, meta: &ObjectMeta) -> bool {
    let Ok(cached) = std::fs::metadata(local) else {
        return false;
    };
    let same_time = cached
        .modified()
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .is_some_and(|t| t.as_secs() == unix_seconds(meta));
    cached.len() == meta.size && same_time
}

fn unix_seconds(meta: &ObjectMeta) -> u64 {
    u64::try_from(meta.last_modified.timestamp()).unwrap_or(0)
}

/// Fetches one object into its cached path; returns the bytes fetched.
async fn download(
    target: &ObjectTarget,
    meta: ObjectMeta,
    local: PathBuf,
) -> Result<u64, MirrorError> {
    let location = target.display(
        meta.location
            .as_ref()
            .strip_prefix(target.prefix().as_ref())
            .unwrap_or(meta.location.as_ref())
            .trim_start_matches('/'),
    );
    let get = |cause| MirrorError::Get {
        location: location.clone(),
        cause,
    };
    let key: &ObjectPath = &meta.location;
    let bytes = target
        .store()
        .get(key)
        .await
        .map_err(get)?
        .bytes()
        .await
        .map_err(get)?;
    let modified = SystemTime::UNIX_EPOCH + Duration::from_secs(unix_seconds(&meta));
    tokio::task::spawn_blocking(move || -> Result<u64, MirrorError> {
        if let Some(dir) = local.parent() {
            std::fs::create_dir_all(dir).map_err(|cause| MirrorError::Io {
                path: dir.to_owned(),
                cause,
            })?;
        }
        write_atomically(&local, &bytes).map_err(|cause| MirrorError::Write {
            location: location.clone(),
            cause: Box::new(cause),
        })?;
        // The object's time, so the next run can tell this copy is current.
        std::fs::File::options()
            .write(true)
            .open(&local)
            .and_then(|file| file.set_modified(modified))
            .map_err(|cause| MirrorError::Io {
                path: local.clone(),
                cause,
            })?;
        Ok(bytes.len() as u64)
    })
    .await
    .map_err(|join| MirrorError::Io {
        path: PathBuf::new(),
        cause: std::io::Error::other(join.to_string()),
    })?
}

/// Removes cached `.parquet` files under `dir` that are not in `wanted`.
fn remove_unlisted(dir: &Path, wanted: &BTreeSet<PathBuf>) -> Result<usize, MirrorError> {
    let mut removed = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") && !wanted.contains(&path) {
                std::fs::remove_file(&path).map_err(|cause| MirrorError::Io {
                    path: path.clone(),
                    cause,
                })?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use object_store::PutPayload;
    use object_store::memory::InMemory;

    use super::*;

    const FILE: &str = "allocation/cluster=c/date=2026-11-02/part-00-0-0000.parquet";

    fn target() -> ObjectTarget {
        ObjectTarget::new(
            "mem://bucket/root",
            Arc::new(InMemory::new()),
            ObjectPath::from("root"),
        )
    }

    async fn put(target: &ObjectTarget, relative: &str, bytes: &'static [u8]) {
        target
            .store()
            .put(
                &target.key(relative.split('/')),
                PutPayload::from_static(bytes),
            )
            .await
            .unwrap();
    }

    #[test]
    fn only_published_table_files_are_mirrored() {
        assert!(is_table_file(FILE, "allocation"));
        assert!(!is_table_file(FILE, "nodes"));
        assert!(!is_table_file(
            "allocation/cluster=c/date=2026-11-02/.part-00-0-0000.parquet.tmp",
            "allocation"
        ));
        assert!(!is_table_file("_wal/c/x.arrow", "allocation"));
        assert!(!is_table_file("allocation/readme.parquet", "allocation"));
    }

    #[tokio::test]
    async fn a_second_run_downloads_nothing_and_drops_what_the_store_dropped() {
        let target = target();
        put(&target, FILE, b"one").await;
        put(&target, "_wal/c/0.arrow", b"log").await;
        let cache = tempfile::tempdir().unwrap();

        let first = mirror(&target, &["allocation", "nodes"], cache.path())
            .await
            .unwrap();
        assert_eq!((first.files, first.downloaded, first.bytes), (1, 1, 3));
        let local = cache.path().join(FILE);
        assert_eq!(std::fs::read(&local).ok().as_deref(), Some(&b"one"[..]));
        assert!(!cache.path().join("_wal").exists());

        let second = mirror(&target, &["allocation"], cache.path())
            .await
            .unwrap();
        assert_eq!(second.downloaded, 0, "{second:?}");

        target
            .store()
            .delete(&target.key(FILE.split('/')))
            .await
            .unwrap();
        let third = mirror(&target, &["allocation"], cache.path())
            .await
            .unwrap();
        assert_eq!((third.files, third.removed), (0, 1));
        assert!(!local.exists());
    }
}
