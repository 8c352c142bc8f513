//! Which `workloads` rows [`super::read_templates`] needs: the newest row of
//! each workload and of each workload container wins, so files are read
//! newest first and a row whose keys all came in a newer file is skipped.
//! Hour after hour a cluster writes the same workloads in the same order,
//! so most rows equal the row after the one the previous row matched in the
//! newer file (or one a few rows on, past workloads that went): that is
//! checked on the keys' bytes alone, before any lookup; the other rows are
//! looked up in what the newer files gave.

use std::path::Path;

use arrow::array::{Array, AsArray, ListArray, RecordBatch};
use arrow::datatypes::DataType;
use parquet::arrow::ProjectionMask;

use super::{ContainerKey, HistoryError, Templates, file_error, reader_builder, strings, typed};

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
    /// The key columns of `file` (`shown` names it in errors).
    pub(super) fn read(file: &Path, shown: &str) -> Result<Keys, HistoryError> {
        let bad = file_error(shown);
        let builder = reader_builder(file, shown)?;
        let schema = builder.parquet_schema();
        let wanted: Vec<usize> = (0..schema.num_columns())
            .filter(|i| {
                let parts = schema.column(*i).path().parts().to_vec();
                match parts.first().map(String::as_str) {
                    Some("namespace" | "workload_kind" | "workload_name") => parts.len() == 1,
                    Some("containers") => parts.last().is_some_and(|p| p == "name"),
                    _ => false,
                }
            })
            .collect();
        let mask = ProjectionMask::leaves(schema, wanted);
        let reader = builder
            .with_projection(mask)
            .build()
            .map_err(|e| bad(e.to_string()))?;
        let mut keys = Keys::default();
        for batch in reader {
            let batch = batch.map_err(|e| bad(e.to_string()))?;
            keys.push_batch(&batch, shown)?;
        }
        Ok(keys)
    }

    fn push_batch(&mut self, batch: &RecordBatch, path: &str) -> Result<(), HistoryError> {
        let namespace = strings(batch, "namespace", path)?;
        let kind = strings(batch, "workload_kind", path)?;
        let name = strings(batch, "workload_name", path)?;
        let containers: ListArray = typed(batch, "containers", path)?;
        let names = containers
            .values()
            .as_struct_opt()
            .and_then(|s| s.column_by_name("name"))
            .and_then(|names| arrow::compute::cast(names, &DataType::Utf8).ok())
            .ok_or_else(|| HistoryError::File {
                path: path.to_owned(),
                message: "containers has no names".into(),
            })?;
        let names = names.as_string::<i32>();
        let offsets = containers.value_offsets();
        for row in 0..batch.num_rows() {
            for text in [namespace.value(row), kind.value(row), name.value(row)] {
                self.push(text);
            }
            let from = offsets.get(row).and_then(|o| usize::try_from(*o).ok());
            let to = offsets.get(row + 1).and_then(|o| usize::try_from(*o).ok());
            for i in from.unwrap_or(0)..to.unwrap_or(0).min(names.len()) {
                self.push(names.value(i));
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
