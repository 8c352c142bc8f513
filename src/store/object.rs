//! A dataset in object storage (S3, GCS, Azure Blob) through `object_store`.
//!
//! Object stores have no rename, but a single PUT is atomic: a reader sees the
//! whole object or none of it. So a file is encoded in memory and sent in one
//! PUT under its final, deterministic name (a file holds at most
//! `ROWS_PER_FILE` rows, far below the 5 GiB a single S3 PUT takes); a
//! retried PUT replaces the object it may already have written.

use std::fmt;
use std::sync::Arc;

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

/// A prefix in a bucket or container, with the client that reaches it.
#[derive(Clone)]
pub struct ObjectTarget {
    url: String,
    store: Arc<dyn ObjectStore>,
    prefix: Path,
}

impl fmt::Debug for ObjectTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectTarget")
            .field("url", &self.url)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl ObjectTarget {
    /// A target at `prefix` in `store`; `url` is how messages name it
    /// (`s3://bucket/prefix`). Usually built by
    /// [`Target::parse`](super::Target::parse); this is for stores made
    /// otherwise (an in-memory store in tests).
    pub fn new(url: impl Into<String>, store: Arc<dyn ObjectStore>, prefix: Path) -> ObjectTarget {
        ObjectTarget {
            url: url.into(),
            store,
            prefix,
        }
    }

    /// How messages name the target's root.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The client of the bucket or container.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The root of the dataset inside the bucket.
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    /// The key of `parts` under the prefix (each part one path segment).
    pub fn key<'a>(&self, parts: impl IntoIterator<Item = &'a str>) -> Path {
        parts
            .into_iter()
            .fold(self.prefix.clone(), |key, part| key.join(part))
    }

    /// How messages name `relative` (a `/`-separated path under the root).
    pub fn display(&self, relative: &str) -> String {
        format!("{}/{relative}", self.url.trim_end_matches('/'))
    }

    /// Writes `bytes` to `key` in one PUT (retried by the client).
    pub(crate) async fn put(&self, key: &Path, bytes: Vec<u8>) -> object_store::Result<()> {
        self.store
            .put(key, PutPayload::from(bytes))
            .await
            .map(|_| ())
    }

    /// The names of the objects directly under `dir`.
    pub(crate) async fn names(&self, dir: &Path) -> object_store::Result<Vec<String>> {
        let listing = self.store.list_with_delimiter(Some(dir)).await?;
        Ok(listing
            .objects
            .iter()
            .filter_map(|meta| meta.location.filename().map(str::to_owned))
            .collect())
    }

    /// Deletes `key`; an absent object is no error.
    pub(crate) async fn delete(&self, key: &Path) -> object_store::Result<()> {
        match self.store.delete(key).await {
            Err(object_store::Error::NotFound { .. }) => Ok(()),
            other => other,
        }
    }

    /// The whole object the URL names (its prefix is the object's key):
    /// an input that is not the dataset, a bill export in a bucket.
    ///
    /// # Errors
    ///
    /// The store's error (not found, denied, unreachable), after its retries.
    pub async fn fetch(&self) -> Result<bytes::Bytes, object_store::Error> {
        self.store.get(&self.prefix).await?.bytes().await
    }
}
