//! The key columns' strings as dense ids, so that folding a row hashes no
//! string and allocates nothing. A column that arrives as dictionary
//! codes is resolved once per dictionary entry (the reader hands every
//! batch of a column chunk the same dictionary). A plain string column
//! (workload names, pod UIDs: nearly one per row) is resolved per row, and
//! looking each up in a table of every pod was most of the work: but hour
//! after hour a cluster writes the same pods in the same order, so each row
//! is first compared with the previous file's rows after the one the
//! previous row matched ([`Alignment`]); only a row that matches none (a
//! pod that came) is looked up. A match compares the strings themselves, so
//! the ids are the same whatever order the files come in; only the speed
//! depends on it.

use rustc_hash::FxHashMap;

use crate::store::read::{Dictionary, StringIds, Text};

/// One string column of successive batches, resolved to ids.
#[derive(Debug, Default)]
pub(super) struct Column {
    pub(super) ids: StringIds,
    /// The last dictionary and the ids of its values.
    dictionary: Option<(Dictionary, Vec<usize>)>,
    /// The previous file's plain strings and ids, by row.
    previous: Rows,
    /// This file's, so far.
    current: Rows,
    /// Where this file's rows stand against the previous file's.
    alignment: Alignment,
}

/// Rows of the previous file a row is compared with, from the one after the
/// last match: rows that went since are skipped over.
const LOOK_AHEAD: usize = 8;

/// Where a file's rows stand against the previous file's, row for row: the
/// row after the last match is compared first, then a few more. A row that
/// matches none (one that came) is looked up and leaves the place as it is;
/// when rows stop matching for longer than rows come and go one by one (a
/// file in another order, a long run of rows that went), the previous
/// file's rows are indexed by id once, and the place is found from the
/// looked-up id.
#[derive(Debug, Default)]
pub(super) struct Alignment {
    /// The row of the previous file the next row is compared with first.
    next: usize,
    /// Rows since the last match.
    missed: usize,
    /// The previous file's first row of each id, once made.
    rows_of: Option<FxHashMap<usize, usize>>,
}

impl Alignment {
    pub(super) fn next_file(&mut self) {
        *self = Alignment::default();
    }

    /// The row among the next [`LOOK_AHEAD`] of the previous file's
    /// `previous_rows` that `equal` accepts, taken as this row's match.
    pub(super) fn find(
        &mut self,
        previous_rows: usize,
        mut equal: impl FnMut(usize) -> bool,
    ) -> Option<usize> {
        let end = (self.next + LOOK_AHEAD).min(previous_rows);
        let found = (self.next..end).find(|at| equal(*at));
        match found {
            Some(at) => {
                self.next = at + 1;
                self.missed = 0;
            }
            None => self.missed += 1,
        }
        found
    }

    /// After a row that matched none was looked up as `id`: when the place
    /// is lost, goes on after the previous file's row with that id
    /// (`previous_ids` gives the previous file's ids in row order).
    pub(super) fn resync<I: Iterator<Item = usize>>(
        &mut self,
        id: usize,
        previous_ids: impl FnOnce() -> I,
    ) {
        if self.missed <= LOOK_AHEAD {
            return;
        }
        let rows_of = self.rows_of.get_or_insert_with(|| {
            let mut rows_of = FxHashMap::default();
            for (row, id) in previous_ids().enumerate() {
                rows_of.entry(id).or_insert(row);
            }
            rows_of
        });
        if let Some(row) = rows_of.get(&id) {
            self.next = row + 1;
            self.missed = 0;
        }
    }
}

/// The id of a row not recorded.
const NO_ID: usize = usize::MAX;

/// A file's plain strings, one after another, and their rows' ids.
#[derive(Debug, Default)]
struct Rows {
    bytes: Vec<u8>,
    /// Where each row's string ends in `bytes`.
    ends: Vec<usize>,
    ids: Vec<usize>,
}

impl Rows {
    /// The string (as bytes) and id at row `row` of the file.
    fn get(&self, row: usize) -> Option<(&[u8], usize)> {
        let id = *self.ids.get(row).filter(|id| **id != NO_ID)?;
        let start = match row {
            0 => 0,
            _ => *self.ends.get(row - 1)?,
        };
        Some((self.bytes.get(start..*self.ends.get(row)?)?, id))
    }

    fn push(&mut self, text: &str, id: usize) {
        self.bytes.extend_from_slice(text.as_bytes());
        self.ends.push(self.bytes.len());
        self.ids.push(id);
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
        self.ids.clear();
    }
}

impl Column {
    /// Starts the next file: the one so far becomes the previous.
    pub(super) fn next_file(&mut self) {
        // The buffers of the file before last are reused (no regrowing).
        std::mem::swap(&mut self.previous, &mut self.current);
        self.current.clear();
        self.alignment.next_file();
    }

    /// Each row's id, in `ids` (cleared first), for a batch of the current
    /// file whose first row is `first_row`. A null is the empty string.
    pub(super) fn resolve(&mut self, text: Text<'_>, first_row: usize, ids: &mut Vec<usize>) {
        ids.clear();
        ids.reserve(match text {
            Text::Plain(strings) => strings.len(),
            Text::Coded(codes) => codes.codes().len(),
        });
        let strings = match text {
            Text::Plain(strings) => strings,
            Text::Coded(codes) => {
                let dictionary = codes.dictionary();
                let seen = self
                    .dictionary
                    .as_ref()
                    .is_some_and(|(seen, _)| *seen == dictionary);
                if !seen {
                    let values = codes.values();
                    let resolved = (0..values.len())
                        .map(|i| self.ids.id(values.get(i)))
                        .collect();
                    self.dictionary = Some((dictionary, resolved));
                }
                let empty = self.ids.id("");
                let resolved = self.dictionary.as_ref().map_or(&[][..], |(_, r)| r);
                ids.extend((0..codes.codes().len()).map(|row| {
                    codes
                        .code(row)
                        .and_then(|code| resolved.get(code))
                        .copied()
                        .unwrap_or(empty)
                }));
                return;
            }
        };
        // Rows of the file this column did not see as strings (none, as a
        // file's column has one type) are never compared with.
        if self.current.ids.len() > first_row {
            self.current.clear();
        }
        while self.current.ids.len() < first_row {
            self.current.push("", NO_ID);
        }
        let mut last: Option<(&str, usize)> = None;
        for row in 0..strings.len() {
            let text = strings.get(row);
            let previous = &self.previous;
            let matched = self
                .alignment
                .find(previous.ids.len(), |at| {
                    previous
                        .get(at)
                        .is_some_and(|(then, _)| then == text.as_bytes())
                })
                .and_then(|at| previous.get(at))
                .map(|(_, id)| id);
            let id = match matched {
                Some(id) => id,
                None => {
                    let id = match last {
                        Some((before, id)) if before == text => id,
                        _ => self.ids.id(text),
                    };
                    let previous = &self.previous;
                    self.alignment.resync(id, || previous.ids.iter().copied());
                    id
                }
            };
            last = Some((text, id));
            ids.push(id);
            self.current.push(text, id);
        }
    }
}

#[cfg(test)]
mod tests {
    /// A file against the previous one: "b" went, "x" came, the rest kept
    /// their order; then a file that lost a long run of rows.
    #[test]
    fn rows_are_matched_past_rows_that_went_and_came() {
        let previous = ["a", "b", "c", "d", "e"];
        let mut alignment = super::Alignment::default();
        let mut matched = Vec::new();
        for row in ["a", "c", "x", "d", "e"] {
            matched.push(alignment.find(previous.len(), |at| previous[at] == row));
        }
        assert_eq!(matched, [Some(0), Some(2), None, Some(3), Some(4)]);

        // Rows 6 to 29 went: past the look-ahead, the place is found by id.
        let previous: Vec<usize> = (0..40).collect();
        let mut alignment = super::Alignment::default();
        let mut matched = Vec::new();
        for row in (0..6).chain(30..40) {
            if alignment
                .find(previous.len(), |at| previous[at] == row)
                .is_some()
            {
                matched.push(row);
            } else {
                alignment.resync(row, || previous.iter().copied());
            }
        }
        assert_eq!(matched, [0, 1, 2, 3, 4, 5, 39]);
    }

    use super::*;
    use crate::store::read::testing;

    #[test]
    fn a_dictionary_and_plain_strings_give_the_same_ids() {
        let mut column = Column::default();
        let mut ids = Vec::new();
        let plain = testing::plain("x", &[Some("b"), Some("a"), None, Some("b")]);
        column.resolve(text(&plain), 0, &mut ids);
        assert_eq!(ids, [0, 1, 2, 0]);
        let coded = testing::coded(
            "x",
            &["a", "c", "b"],
            &[&[Some(2), None, Some(1), Some(0)], &[Some(1), Some(1)]],
        );
        column.resolve(text(&coded[0]), 0, &mut ids);
        assert_eq!(ids, [0, 2, 3, 1]);
        // The same dictionary again: resolved from the cache.
        column.resolve(text(&coded[1]), 0, &mut ids);
        assert_eq!(ids, [3, 3]);
        assert_eq!(column.ids.name(3), "c");
        assert_eq!(column.ids.name(2), "");
        assert_eq!(column.ids.name(99), "");
    }

    fn text(batch: &crate::store::read::Batch) -> Text<'_> {
        batch.columns().text("x").unwrap_or_else(|e| panic!("{e}"))
    }
}
