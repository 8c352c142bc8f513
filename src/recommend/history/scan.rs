//! The decoding half of [`super::read`]: `allocation` files opened in
//! order, decoded, and every row's workload container, pod and placement
//! resolved to dense ids, on a thread of its own while the caller folds the
//! batches it already has. The fold then indexes vectors instead of hashing
//! strings, and the two halves share the machine's cores.
//!
//! The low-cardinality key columns are read as dictionary codes
//! ([`crate::store::read::Select::coded`]): a string is resolved once per
//! dictionary entry, not per row.

use std::sync::Arc;
use std::sync::mpsc::SyncSender;

use rustc_hash::FxHashMap;

use super::HistoryError;
use super::intern::{Alignment, Column};
use crate::store::read::{self, Batch, Select, TableFile};
use crate::store::schema::col;

/// Rows per decoded batch.
const BATCH_ROWS: usize = 8192;

/// The key columns, in the order of [`Scanner::columns`].
pub(super) const KEY_COLUMNS: [&str; 10] = [
    col::NAMESPACE,
    col::WORKLOAD_KIND,
    col::WORKLOAD_NAME,
    col::CONTAINER,
    col::POD_UID,
    col::PROVIDER,
    col::REGION,
    col::MACHINE_FAMILY,
    col::MACHINE_TYPE,
    col::CAPACITY_TYPE,
];
const NAMESPACE: usize = 0;
const POD_UID: usize = 4;
const PLACEMENT: usize = 5;

/// Key columns with nearly one value per row: workload names and pod
/// UIDs. Their dictionaries outgrow Parquet's dictionary page and fall back
/// to plain pages, which arrow-rs would have to make a dictionary of again,
/// so they are read as strings; the other key columns, with few distinct
/// values in a file, as dictionaries.
const PLAIN_COLUMNS: [&str; 2] = [col::WORKLOAD_NAME, col::POD_UID];

/// One decoded batch and its rows' ids.
pub(super) struct Resolved {
    /// The file, as errors name it.
    pub(super) path: Arc<str>,
    pub(super) batch: Batch,
    /// Per row: the workload container ([`Scanner::containers`]).
    pub(super) container: Vec<usize>,
    /// Per row: the (workload container, pod) whose memory window it feeds.
    pub(super) pod: Vec<usize>,
    /// Per row: where it ran ([`Scanner::placements`]).
    pub(super) placement: Vec<usize>,
}

/// What the ids stand for.
#[derive(Debug, Default)]
pub(super) struct Scanner {
    /// The [`KEY_COLUMNS`].
    pub(super) columns: [Column; 10],
    /// Workload containers by id: (namespace, kind, name, container) ids.
    pub(super) containers: Vec<[usize; 4]>,
    container_ids: FxHashMap<[usize; 4], usize>,
    pod_ids: FxHashMap<(usize, usize), usize>,
    /// Placements by id: (provider, region, family, type, capacity) ids.
    pub(super) placements: Vec<[usize; 5]>,
    placement_ids: FxHashMap<[usize; 5], usize>,
    /// Per key column, the batch's ids.
    scratch: [Vec<usize>; 10],
    /// The previous file's rows: a row whose key ids equal the row after
    /// the one the previous row matched resolves as that row did, without a
    /// lookup (the comparison [`super::intern`] makes of strings, made of
    /// the ids).
    previous: Memo,
    current: Memo,
    /// Where this file's rows stand against the previous file's (by
    /// (workload container, pod) id).
    alignment: Alignment,
}

/// A file's rows: their key column ids and what they resolved to.
#[derive(Debug, Default)]
struct Memo {
    parts: Vec<[usize; 10]>,
    /// (workload container, pod, placement) per row.
    ids: Vec<[usize; 3]>,
}

/// Decodes the `columns` of `files` in order, sending each batch with
/// its ids; stops at the first error (sent too) or when the receiver hangs
/// up. Returns what the ids stand for.
pub(super) fn scan(
    files: &[TableFile],
    columns: &[&str],
    send: &SyncSender<Result<Resolved, HistoryError>>,
) -> Scanner {
    // The key columns but the plain ones as dictionary codes.
    let coded: Vec<&str> = KEY_COLUMNS
        .into_iter()
        .filter(|name| !PLAIN_COLUMNS.contains(name))
        .collect();
    let select = Select::columns(columns)
        .coded(&coded)
        .batch_rows(BATCH_ROWS);
    let mut scanner = Scanner::default();
    for file in files {
        let reader = match read::open(&file.path, &select) {
            Ok(reader) => reader,
            Err(error) => {
                let _ = send.send(Err(error.into()));
                return scanner;
            }
        };
        scanner.next_file();
        for batch in reader {
            let resolved = batch
                .map_err(HistoryError::from)
                .and_then(|batch| scanner.resolve(batch));
            let failed = resolved.is_err();
            if send.send(resolved).is_err() || failed {
                return scanner;
            }
        }
    }
    scanner
}

impl Scanner {
    fn next_file(&mut self) {
        for column in &mut self.columns {
            column.next_file();
        }
        // The buffers of the file before last are reused (no regrowing).
        std::mem::swap(&mut self.previous, &mut self.current);
        self.current.parts.clear();
        self.current.ids.clear();
        self.alignment.next_file();
    }

    fn resolve(&mut self, batch: Batch) -> Result<Resolved, HistoryError> {
        let first_row = self.current.ids.len();
        let columns = batch.columns();
        for ((name, column), ids) in KEY_COLUMNS
            .iter()
            .zip(&mut self.columns)
            .zip(&mut self.scratch)
        {
            column.resolve(columns.text(name)?, first_row, ids);
        }
        let rows = batch.rows();
        let mut resolved = Resolved {
            path: batch.path().clone(),
            batch,
            container: Vec::with_capacity(rows),
            pod: Vec::with_capacity(rows),
            placement: Vec::with_capacity(rows),
        };
        let scratch = std::mem::take(&mut self.scratch);
        let part = |column: usize, row: usize| scratch[column][row];
        for row in 0..rows {
            let parts: [usize; 10] = std::array::from_fn(|column| part(column, row));
            let previous = &self.previous;
            let matched = self
                .alignment
                .find(previous.parts.len(), |at| previous.parts[at] == parts)
                .and_then(|at| previous.ids.get(at).copied());
            let [container, pod, placement] = match matched {
                Some(ids) => ids,
                None => {
                    let ids = self.look_up(&parts);
                    let previous = &self.previous;
                    self.alignment
                        .resync(ids[1], || previous.ids.iter().map(|ids| ids[1]));
                    ids
                }
            };
            resolved.container.push(container);
            resolved.pod.push(pod);
            resolved.placement.push(placement);
            self.current.parts.push(parts);
            self.current.ids.push([container, pod, placement]);
        }
        self.scratch = scratch;
        Ok(resolved)
    }

    /// The (workload container, pod, placement) ids of a row's key parts,
    /// given now if new.
    fn look_up(&mut self, parts: &[usize; 10]) -> [usize; 3] {
        let key: [usize; 4] = std::array::from_fn(|i| parts[NAMESPACE + i]);
        let next = self.containers.len();
        let container = *self.container_ids.entry(key).or_insert(next);
        if container == next {
            self.containers.push(key);
        }
        let next = self.pod_ids.len();
        let pod = *self
            .pod_ids
            .entry((container, parts[POD_UID]))
            .or_insert(next);
        let place: [usize; 5] = std::array::from_fn(|i| parts[PLACEMENT + i]);
        let next = self.placements.len();
        let placement = *self.placement_ids.entry(place).or_insert(next);
        if placement == next {
            self.placements.push(place);
        }
        [container, pod, placement]
    }

    /// The strings of key column `column` for `id`.
    pub(super) fn name(&self, column: usize, id: usize) -> &str {
        self.columns[column].ids.name(id)
    }
}
