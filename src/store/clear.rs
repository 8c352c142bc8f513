//! Emptying a folder of a dataset, and of nothing else: what a rerun of the
//! demo does before it collects again, so its summary is the dataset's.

use std::path::{Path, PathBuf};

use super::schema::TABLES;
use super::wal::DEFAULT_DIR;

/// Why a folder was not emptied.
#[derive(Debug, thiserror::Error)]
pub enum ClearError {
    #[error("{}: listing the folder", path.display())]
    List {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: holds {name} which is not part of a kubetally dataset; choose an empty or new folder", path.display())]
    Foreign { path: PathBuf, name: String },
    #[error("removing {}", path.display())]
    Remove {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Removes `dir`'s tables, its write-ahead log and the `also` names (files
/// the caller wrote beside them). A folder holding anything else is refused
/// before anything is removed; a missing folder is empty. Returns whether
/// something was removed.
///
/// # Errors
///
/// [`ClearError`] naming the folder, the foreign entry or what could not go.
pub fn clear_dataset(dir: &Path, also: &[&str]) -> Result<bool, ClearError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(false);
    };
    let names: Vec<std::ffi::OsString> = entries
        .map(|entry| entry.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(|source| ClearError::List {
            path: dir.to_owned(),
            source,
        })?;
    let owned = |name: &std::ffi::OsString| {
        TABLES.iter().any(|t| *name == *t.name)
            || *name == *DEFAULT_DIR
            || also.iter().any(|a| *name == **a)
    };
    if let Some(other) = names.iter().find(|n| !owned(n)) {
        return Err(ClearError::Foreign {
            path: dir.to_owned(),
            name: other.to_string_lossy().into_owned(),
        });
    }
    for name in &names {
        let path = dir.join(name);
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(|source| ClearError::Remove { path, source })?;
    }
    Ok(!names.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dataset_folder_is_emptied_and_a_foreign_one_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for sub in ["allocation/cluster=a", "_wal/a", "samples"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        std::fs::write(root.join("report.html"), "x").unwrap();
        assert!(clear_dataset(root, &["report.html"]).unwrap());
        assert_eq!(std::fs::read_dir(root).map(Iterator::count).ok(), Some(0));
        assert!(!clear_dataset(&root.join("missing"), &[]).unwrap());

        std::fs::create_dir_all(root.join("nodes")).unwrap();
        std::fs::write(root.join("thesis.tex"), "x").unwrap();
        let refused = clear_dataset(root, &[]).err().map(|e| e.to_string());
        assert!(
            refused.as_deref().is_some_and(|e| e.contains("thesis.tex")),
            "{refused:?}"
        );
        assert!(root.join("nodes").exists(), "nothing removed when refused");
    }
}
