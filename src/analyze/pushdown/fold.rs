//! A [`Plan`]'s rows, computed from the table's files on Parquet's
//! dictionary codes ([`crate::store::read`]): a row's key is a few small
//! ids, compared with the previous row's (the collector writes rows sorted,
//! so keys come in runs) and hashed only where they change, and a
//! condition is evaluated once per distinct string, not once per row.
//!
//! [`fold`] gives up (`None`) on anything it does not read exactly as
//! polars would: a column missing from a file or of another type, a null
//! (polars' `SUM` of nulls and null group keys are not folded here), a
//! cluster folder name polars would decode. The caller then runs the SQL.
//!
//! Sums are deterministic for a given thread count: each thread takes a
//! contiguous run of files in order and the threads' sums are added in
//! thread order. They may differ from polars' in the last bits (another
//! order of the same additions).

use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use polars::prelude::{Column, DataFrame, DataType, IntoColumn, NamedFrom, Series};
use rustc_hash::FxHashMap;

use super::cond::Cond;
use super::shape::{Key, MAX_KEYS, Output, Plan};
use crate::store::read::{self, Codes, Columns, Dictionary, Select, StringIds, TableFile, Text};

/// Rows per decoded batch.
const BATCH_ROWS: usize = 16_384;

/// A group's key while reading: one id per [`Plan::keys`] entry.
type GroupKey = [u32; MAX_KEYS];

/// Past the last group number.
const NO_GROUP: u32 = u32::MAX;

/// The plan's rows as a frame, or `None` when the files are not what the
/// fold reads (see the module doc).
pub(super) fn fold(plan: &Plan, files: &[TableFile], threads: usize) -> Option<DataFrame> {
    let first = plan.first_day;
    let last = plan.last_day;
    let mut wanted = Vec::new();
    for file in files {
        if file.cluster.contains('%') {
            return None;
        }
        let kept = first.is_none_or(|d| file.date >= d)
            && last.is_none_or(|d| file.date <= d)
            && plan.cluster.as_ref().is_none_or(|c| *c == file.cluster);
        if kept {
            wanted.push(file);
        }
    }
    let threads = threads.clamp(1, wanted.len().max(1));
    let chunk = wanted.len().div_ceil(threads).max(1);
    let parts: Vec<Option<Part>> = std::thread::scope(|scope| {
        let workers: Vec<_> = wanted
            .chunks(chunk)
            .map(|files| {
                scope.spawn(move || {
                    let mut worker = Worker::new(plan);
                    for file in files {
                        worker.file(&file.path, &file.cluster, file.date)?;
                    }
                    Some(worker.finish())
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().ok().flatten())
            .collect()
    });
    let mut merged = Part::default();
    for part in parts {
        merged.add(part?, sums_of(plan));
    }
    frame(plan, &merged)
}

fn sums_of(plan: &Plan) -> usize {
    plan.outputs
        .iter()
        .filter(|o| matches!(o, Output::Sum { .. }))
        .count()
}

/// A group key's value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum KeyValue {
    Text(Arc<str>),
    Day(i32),
}

/// Groups by their key values, in order of first appearance, and their sums.
#[derive(Debug, Default)]
struct Part {
    index: FxHashMap<Vec<KeyValue>, usize>,
    keys: Vec<Vec<KeyValue>>,
    sums: Vec<f64>,
}

impl Part {
    fn add(&mut self, other: Part, width: usize) {
        for (key, sums) in other.keys.into_iter().zip(other.sums.chunks(width.max(1))) {
            let slot = match self.index.get(&key) {
                Some(slot) => *slot,
                None => {
                    let slot = self.keys.len();
                    self.index.insert(key.clone(), slot);
                    self.keys.push(key);
                    self.sums.resize(self.sums.len() + width, 0.0);
                    slot
                }
            };
            for (into, more) in self.sums[slot * width..].iter_mut().zip(sums) {
                *into += more;
            }
        }
    }
}

/// A condition with its answers cached by the id of the one string column
/// it reads (evaluated per row when it reads several).
struct Check {
    cond: Cond,
    column: Option<usize>,
    /// Per string id: 0 not yet known, 1 false, 2 true.
    known: Vec<u8>,
}

impl Check {
    fn new(cond: &Cond) -> Check {
        let mut columns = Vec::new();
        cond.columns(&mut columns);
        columns.dedup();
        Check {
            cond: cond.clone(),
            column: match columns.as_slice() {
                [one] => Some(*one),
                _ => None,
            },
            known: Vec::new(),
        }
    }

    /// Whether each of the batch's `rows` meets it.
    fn mask(&mut self, ids: &[Vec<u32>], rows: usize, strings: &[StringIds]) -> Vec<bool> {
        let Some(column) = self.column else {
            return (0..rows).map(|row| self.holds(ids, row, strings)).collect();
        };
        ids[column]
            .iter()
            .enumerate()
            .map(|(row, id)| {
                let known = self.known.get(*id as usize).copied().unwrap_or(0);
                if known == 0 {
                    self.holds(ids, row, strings)
                } else {
                    known == 2
                }
            })
            .collect()
    }

    fn holds(&mut self, ids: &[Vec<u32>], row: usize, strings: &[StringIds]) -> bool {
        let text = |column: usize| strings[column].name(ids[column][row] as usize);
        let Some(column) = self.column else {
            return self.cond.holds(&text);
        };
        let id = ids[column][row] as usize;
        if id >= self.known.len() {
            self.known.resize(id + 1, 0);
        }
        if self.known[id] == 0 {
            self.known[id] = if self.cond.holds(&text) { 2 } else { 1 };
        }
        self.known[id] == 2
    }
}

/// One thread's groups, keyed by ids of the strings it has seen.
struct Worker<'a> {
    plan: &'a Plan,
    /// The float columns summed, in output order, and each one's condition.
    sums: Vec<(&'a str, Option<Check>)>,
    filter: Option<Check>,
    strings: Vec<StringIds>,
    clusters: StringIds,
    /// Per string column: the last dictionary seen and its codes' ids.
    dictionaries: Vec<Option<(Dictionary, Vec<u32>)>>,
    ids: Vec<Vec<u32>>,
    groups: FxHashMap<GroupKey, u32>,
    keys: Vec<GroupKey>,
    totals: Vec<f64>,
    /// The batch's runs of one group: rows `start..end`, group (a buffer
    /// kept between batches).
    runs: Vec<(usize, usize, u32)>,
}

impl<'a> Worker<'a> {
    fn new(plan: &'a Plan) -> Worker<'a> {
        let sums = plan
            .outputs
            .iter()
            .filter_map(|output| match output {
                Output::Sum { column, when, .. } => {
                    Some((column.as_str(), when.as_ref().map(Check::new)))
                }
                Output::Key { .. } | Output::Literal(_) => None,
            })
            .collect();
        let columns = plan.strings.len();
        Worker {
            plan,
            sums,
            filter: plan.filter.as_ref().map(Check::new),
            strings: (0..columns).map(|_| StringIds::default()).collect(),
            clusters: StringIds::default(),
            dictionaries: vec![None; columns],
            ids: vec![Vec::new(); columns],
            groups: FxHashMap::default(),
            keys: Vec::new(),
            totals: Vec::new(),
            runs: Vec::new(),
        }
    }

    /// Adds the file's rows; `None` when it is not what the fold reads.
    fn file(&mut self, file: &Path, cluster: &str, day: NaiveDate) -> Option<()> {
        let plan = self.plan;
        let mut names: Vec<&str> = plan.strings.iter().map(String::as_str).collect();
        let coded = names.clone();
        names.extend(self.sums.iter().map(|(column, _)| *column));
        let select = Select::columns(&names).coded(&coded).batch_rows(BATCH_ROWS);
        let cluster = u32::try_from(self.clusters.id(cluster)).ok()?;
        let day = i32::try_from(day.signed_duration_since(NaiveDate::default()).num_days()).ok()?;
        for batch in read::open(file, &select).ok()? {
            let batch = batch.ok()?;
            self.batch(&batch.columns(), cluster, day)?;
        }
        Some(())
    }

    fn batch(&mut self, columns: &Columns<'_>, cluster: u32, day: i32) -> Option<()> {
        let rows = columns.rows();
        for column in 0..self.plan.strings.len() {
            self.string_ids(columns, column)?;
        }
        let mut values = Vec::with_capacity(self.sums.len());
        for (column, _) in &self.sums {
            let floats = columns.floats(column).ok()?;
            if floats.null_count() > 0 {
                return None;
            }
            values.push(floats.values());
        }
        let width = self.sums.len();
        let kept = match &mut self.filter {
            Some(filter) => filter.mask(&self.ids, rows, &self.strings),
            None => Vec::new(),
        };
        // Runs of rows of one group (the filter's rows left out), found by
        // comparing a row's key codes with the last kept row's and hashing
        // only where they change; then each sum a run at a time.
        let mut runs = std::mem::take(&mut self.runs);
        runs.clear();
        // Where a run starts: the first row, a row whose key codes differ
        // from the row before, and the filter's edges; a column at a time.
        let mut starts = vec![true; rows.min(1)];
        starts.resize(rows, false);
        for key in &self.plan.keys {
            if let Key::Text(column) = key {
                let ids = &self.ids[*column];
                for ((start, id), before) in starts.iter_mut().skip(1).zip(&ids[1..]).zip(ids) {
                    *start |= id != before;
                }
            }
        }
        if !kept.is_empty() {
            for ((start, now), before) in starts.iter_mut().skip(1).zip(&kept[1..]).zip(&kept) {
                *start |= now != before;
            }
        }
        let changed: Vec<usize> = (0..rows)
            .filter(|row| starts[*row] && kept.get(*row) != Some(&false))
            .collect();
        for (at, row) in changed.iter().enumerate() {
            let mut key: GroupKey = [0; MAX_KEYS];
            for (slot, part) in key.iter_mut().zip(&self.plan.keys) {
                *slot = match part {
                    Key::Text(column) => self.ids[*column][*row],
                    Key::Cluster => cluster,
                    Key::Date => day.cast_unsigned(),
                };
            }
            let group = self.group(key, width)?;
            // The run ends where the next one starts or at the first
            // dropped row after it.
            let next = changed.get(at + 1).copied().unwrap_or(rows);
            let end = (*row..next)
                .find(|r| kept.get(*r) == Some(&false))
                .unwrap_or(next);
            runs.push((*row, end, group));
        }
        for (at, ((_, when), column)) in self.sums.iter_mut().zip(&values).enumerate() {
            let counted = match when {
                Some(when) => when.mask(&self.ids, rows, &self.strings),
                None => Vec::new(),
            };
            for (start, end, group) in &runs {
                let total = if counted.is_empty() {
                    sum(&column[*start..*end])
                } else {
                    sum_where(&column[*start..*end], &counted[*start..*end])
                };
                self.totals[*group as usize * width + at] += total;
            }
        }
        self.runs = runs;
        Some(())
    }

    /// The group of `key`, numbering it if it is new.
    fn group(&mut self, key: GroupKey, width: usize) -> Option<u32> {
        if let Some(group) = self.groups.get(&key) {
            return Some(*group);
        }
        let group = u32::try_from(self.keys.len())
            .ok()
            .filter(|g| *g != NO_GROUP)?;
        self.groups.insert(key, group);
        self.keys.push(key);
        self.totals.resize(self.totals.len() + width, 0.0);
        Some(group)
    }

    /// Fills `ids[column]` with each row's string id; `None` on a null or
    /// a column that is not strings.
    fn string_ids(&mut self, columns: &Columns<'_>, column: usize) -> Option<()> {
        let text = columns.text(&self.plan.strings[column]).ok()?;
        let mut ids = std::mem::take(&mut self.ids[column]);
        ids.clear();
        match text {
            Text::Coded(codes) => {
                if codes.null_count() > 0 {
                    return None;
                }
                let map = self.dictionary(column, &codes)?;
                for code in codes.codes() {
                    ids.push(*map.get(usize::try_from(*code).ok()?)?);
                }
            }
            Text::Plain(strings) => {
                if strings.null_count() > 0 {
                    return None;
                }
                for row in 0..columns.rows() {
                    ids.push(u32::try_from(self.strings[column].id(strings.get(row))).ok()?);
                }
            }
        }
        self.ids[column] = ids;
        Some(())
    }

    /// The string ids of a batch's dictionary entries, made once per
    /// dictionary (the batches of one column chunk share it).
    fn dictionary(&mut self, column: usize, codes: &Codes<'_>) -> Option<&[u32]> {
        let dictionary = codes.dictionary();
        let known = self.dictionaries[column]
            .as_ref()
            .is_some_and(|(seen, _)| *seen == dictionary);
        if !known {
            let values = codes.values();
            let ids = (0..values.len())
                .map(|at| u32::try_from(self.strings[column].id(values.get(at))).ok())
                .collect::<Option<Vec<u32>>>()?;
            self.dictionaries[column] = Some((dictionary, ids));
        }
        self.dictionaries[column]
            .as_ref()
            .map(|(_, ids)| ids.as_slice())
    }

    /// The groups with their key values.
    fn finish(self) -> Part {
        let mut part = Part::default();
        let width = self.sums.len();
        for (at, key) in self.keys.iter().enumerate() {
            let values: Vec<KeyValue> = self
                .plan
                .keys
                .iter()
                .zip(key)
                .map(|(kind, id)| match kind {
                    Key::Text(column) => {
                        KeyValue::Text(Arc::from(self.strings[*column].name(*id as usize)))
                    }
                    Key::Cluster => KeyValue::Text(Arc::from(self.clusters.name(*id as usize))),
                    Key::Date => KeyValue::Day(id.cast_signed()),
                })
                .collect();
            part.index.insert(values.clone(), at);
            part.keys.push(values);
            part.sums
                .extend_from_slice(&self.totals[at * width..(at + 1) * width]);
        }
        part
    }
}

/// The sum of `values`, in four lanes: a run's additions do not wait on
/// each other (a single running total is one float addition's latency per
/// row).
fn sum(values: &[f64]) -> f64 {
    let mut lanes = [0.0; 4];
    let chunks = values.chunks_exact(4);
    let rest: f64 = chunks.remainder().iter().sum();
    for chunk in chunks {
        for (lane, value) in lanes.iter_mut().zip(chunk) {
            *lane += value;
        }
    }
    (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]) + rest
}

/// [`sum`] of the `values` whose `counted` is true.
fn sum_where(values: &[f64], counted: &[bool]) -> f64 {
    let mut lanes = [0.0; 4];
    let chunks = values.chunks_exact(4).zip(counted.chunks_exact(4));
    let rest: f64 = values[values.len() / 4 * 4..]
        .iter()
        .zip(&counted[counted.len() / 4 * 4..])
        .map(|(value, counted)| if *counted { *value } else { 0.0 })
        .sum();
    for (chunk, counted) in chunks {
        for ((lane, value), counted) in lanes.iter_mut().zip(chunk).zip(counted) {
            *lane += if *counted { *value } else { 0.0 };
        }
    }
    (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]) + rest
}

/// The frame of the plan's outputs (its literals are polars' to add).
/// A `SELECT` without `GROUP BY` has one row even over no rows, its sums
/// null, as SQL's (and polars') `SUM` of nothing.
fn frame(plan: &Plan, part: &Part) -> Option<DataFrame> {
    let width = sums_of(plan);
    if plan.keys.is_empty() && part.keys.is_empty() {
        let columns = plan
            .outputs
            .iter()
            .filter_map(|output| match output {
                Output::Sum { name, .. } => {
                    Some(Series::new(name.as_str().into(), [None::<f64>]).into_column())
                }
                Output::Key { .. } | Output::Literal(_) => None,
            })
            .collect();
        return DataFrame::new(1, columns).ok();
    }
    let mut columns: Vec<Column> = Vec::with_capacity(plan.outputs.len());
    let mut sum = 0;
    for output in &plan.outputs {
        let series = match output {
            Output::Literal(_) => continue,
            Output::Key { name, key } => match plan.keys.get(*key)? {
                Key::Date => {
                    let days: Vec<i32> = part
                        .keys
                        .iter()
                        .map(|k| match k.get(*key) {
                            Some(KeyValue::Day(day)) => Some(*day),
                            _ => None,
                        })
                        .collect::<Option<_>>()?;
                    Series::new(name.as_str().into(), days)
                        .cast(&DataType::Date)
                        .ok()?
                }
                Key::Text(_) | Key::Cluster => {
                    let texts: Vec<&str> = part
                        .keys
                        .iter()
                        .map(|k| match k.get(*key) {
                            Some(KeyValue::Text(text)) => Some(&**text),
                            _ => None,
                        })
                        .collect::<Option<_>>()?;
                    Series::new(name.as_str().into(), texts)
                }
            },
            Output::Sum { name, .. } => {
                let at = sum;
                sum += 1;
                let totals: Vec<f64> = (0..part.keys.len())
                    .map(|group| part.sums[group * width + at])
                    .collect();
                Series::new(name.as_str().into(), totals)
            }
        };
        columns.push(series.into_column());
    }
    DataFrame::new(part.keys.len(), columns).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_sums_add_every_value_once_and_only_the_counted_ones() {
        for n in [0, 1, 3, 4, 5, 8, 11] {
            let values: Vec<f64> = (0..n).map(|i| f64::from(i) + 0.5).collect();
            let counted: Vec<bool> = (0..n).map(|i| i % 3 != 1).collect();
            let expected: f64 = values.iter().sum();
            let expected_where: f64 = values
                .iter()
                .zip(&counted)
                .filter(|(_, c)| **c)
                .map(|(v, _)| v)
                .sum();
            assert_eq!(sum(&values), expected, "{n} values");
            assert_eq!(sum_where(&values, &counted), expected_where, "{n} values");
        }
    }
}
