//! Which `workloads` rows [`super::read_templates`] needs: the newest row of
//! each workload and of each workload container wins, so files are read
//! newest first and a row whose keys all came in a newer file is skipped.
//! Hour after hour a cluster writes the same workloads in the same order,
//! so most rows equal the row after the one the previous row matched in the
//! newer file (or one a few rows on, past workloads that went): that is
//! checked on the keys' bytes alone, before any lookup; the other rows are
//! looked up in what the newer files gave.

use std::path::Path;

use super::{ContainerKey, HistoryError, Templates};
use crate::store::read::{self, Columns, Select};
use crate::store::schema::col;

/// The key columns, and of the containers only their names.
const KEYS: Select<'static> =
    Select::columns(&[col::NAMESPACE, col::WORKLOAD_KIND, col::WORKLOAD_NAME])
        .leaves(&[(col::CONTAINERS, col::NAME)]);

/// Rows of the newer file a row is compared with, from the one after the
/// last match: workloads that went since are skipped over.
const LOOK_AHEAD: usize = 8;

/// The key columns of one `workloads` file, row by row: namespace, kind,
/// name and the names of the template's containers, each prefixed by its
/// length, one row after another.
#[derive(Debug, Default)]
pub(super) struct Keys {
    bytes: Vec<u8>,
    /// Where each row's keys end in `bytes`.
    ends: Vec<usize>,
}

impl Keys {
    /// The key columns of `file`.
    pub(super) fn read(file: &Path) -> Result<Keys, HistoryError> {
        let mut keys = Keys::default();
        for batch in read::open(file, &KEYS)? {
            keys.push_batch(batch?.columns())?;
        }
        Ok(keys)
    }

    fn push_batch(&mut self, batch: Columns<'_>) -> Result<(), HistoryError> {
        let namespace = batch.text(col::NAMESPACE)?;
        let kind = batch.text(col::WORKLOAD_KIND)?;
        let name = batch.text(col::WORKLOAD_NAME)?;
        let containers = batch.list(col::CONTAINERS)?;
        let names = containers.fields()?.text(col::NAME)?;
        for row in 0..batch.rows() {
            for text in [namespace.get(row), kind.get(row), name.get(row)] {
                self.push(text);
            }
            for i in containers.range(row) {
                self.push(names.get(i));
            }
            self.ends.push(self.bytes.len());
        }
        Ok(())
    }

    fn push(&mut self, text: &str) {
        self.bytes.extend_from_slice(&text.len().to_le_bytes());
        self.bytes.extend_from_slice(text.as_bytes());
    }

    pub(super) fn rows(&self) -> usize {
        self.ends.len()
    }

    /// Row `row`'s keys as bytes, to compare with another file's.
    pub(super) fn row(&self, row: usize) -> Option<&[u8]> {
        let end = *self.ends.get(row)?;
        let start = match row {
            0 => 0,
            _ => *self.ends.get(row - 1)?,
        };
        self.bytes.get(start..end)
    }

    /// Row `row`'s strings: namespace, kind, name, then container names.
    fn fields(&self, row: usize) -> Vec<&str> {
        let mut fields = Vec::new();
        let mut rest = self.row(row).unwrap_or_default();
        const LEN: usize = usize::BITS as usize / 8;
        while rest.len() >= LEN {
            let (len, tail) = rest.split_at(LEN);
            let len = len
                .try_into()
                .map(usize::from_le_bytes)
                .unwrap_or(usize::MAX);
            let Some((text, tail)) = tail.split_at_checked(len) else {
                break;
            };
            fields.push(std::str::from_utf8(text).unwrap_or_default());
            rest = tail;
        }
        fields
    }

    /// Per row, whether it has a workload or a workload container that
    /// `templates` (what the files newer than this one gave) lacks; `newer`
    /// is the keys of the file just newer.
    pub(super) fn needed(&self, newer: &Keys, templates: &Templates) -> Vec<bool> {
        let mut next = 0;
        (0..self.rows())
            .map(|row| {
                let keys = self.row(row);
                let equal = (next..next + LOOK_AHEAD).find(|at| newer.row(*at) == keys);
                match equal {
                    Some(at) => {
                        next = at + 1;
                        false
                    }
                    None => self.is_new(row, templates),
                }
            })
            .collect()
    }

    /// Whether row `row` has a workload or a workload container that
    /// `templates` lacks.
    fn is_new(&self, row: usize, templates: &Templates) -> bool {
        let fields = self.fields(row);
        let [namespace, kind, name, containers @ ..] = fields.as_slice() else {
            return true;
        };
        let workload = (
            (*namespace).to_owned(),
            (*kind).to_owned(),
            (*name).to_owned(),
        );
        if !templates.workloads.contains_key(&workload) {
            return true;
        }
        let (namespace, workload_kind, workload_name) = workload;
        let mut key = ContainerKey {
            namespace,
            workload_kind,
            workload_name,
            container: String::new(),
        };
        containers.iter().any(|container| {
            (*container).clone_into(&mut key.container);
            !templates.containers.contains_key(&key)
        })
    }
}
