//! `--data` and `--cache-dir`, shared by the commands that read a dataset
//! (`query`, `report`, `recommend`, `mcp`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use crate::store::Target;

/// Where the dataset is.
#[derive(Debug, Clone, Args)]
pub struct DataFlags {
    /// The dataset: a directory, or s3://, gs://, az:// (mirrored to a local cache).
    #[arg(
        long,
        value_name = "DIR|URL",
        env = "KUBETALLY_DATA",
        default_value = "."
    )]
    pub data: String,
    /// Where an object store dataset is cached [default: $XDG_CACHE_HOME or
    /// ~/.cache, /kubetally/datasets/<url>].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

impl DataFlags {
    /// The local directory to read: `--data` itself, or the cache an object
    /// store dataset is mirrored into (`--cache-dir`, else the default cache).
    pub fn root(&self) -> anyhow::Result<PathBuf> {
        let object = match Target::parse(&self.data).context("--data")? {
            Target::Local(root) => return Ok(root),
            Target::Object(object) => object,
        };
        mirror(&object, self.cache_dir.as_deref())
    }
}

#[cfg(not(feature = "analyze"))]
fn mirror(
    object: &crate::store::object::ObjectTarget,
    _: Option<&Path>,
) -> anyhow::Result<PathBuf> {
    anyhow::bail!(
        "--data {}: object stores need the analysis build (the default features)",
        object.url()
    )
}

#[cfg(feature = "analyze")]
/// Mirrors an object store dataset into its cache and returns the cache.
fn mirror(
    object: &crate::store::object::ObjectTarget,
    cache_dir: Option<&Path>,
) -> anyhow::Result<PathBuf> {
    let cache = match cache_dir {
        Some(dir) => dir.to_owned(),
        None => default_cache(object.url())?,
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let tables: Vec<&str> = crate::store::schema::TABLES.map(|t| t.name).to_vec();
    let summary = runtime
        .block_on(crate::store::mirror::mirror(object, &tables, &cache))
        .with_context(|| {
            format!(
                "--data {}: mirroring into {}",
                object.url(),
                cache.display()
            )
        })?;
    if summary.downloaded > 0 || summary.removed > 0 {
        eprintln!(
            "kubetally: {}: {} files, {} downloaded ({} bytes), {} removed; cached in {}",
            object.url(),
            summary.files,
            summary.downloaded,
            summary.bytes,
            summary.removed,
            cache.display()
        );
    }
    Ok(cache)
}

#[cfg(feature = "analyze")]
/// `$XDG_CACHE_HOME/kubetally/datasets/<url as a folder name>`, else under
/// `~/.cache`.
fn default_cache(url: &str) -> anyhow::Result<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
        .context("no $XDG_CACHE_HOME or $HOME for the dataset cache: give --cache-dir DIR")?;
    let folder: String = url
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(base.join("kubetally").join("datasets").join(folder))
}
