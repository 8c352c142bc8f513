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
use super::shape::{Aggregate, Key, MAX_KEYS, Plan, aggregate_column, key_column};
use super::totals::{Numbers, Totals};
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
    let mut merged = Part::new(plan);
    for part in parts {
        merged.add(part?)?;
    }
    frame(plan, &merged)
}

fn folds(plan: &Plan) -> Vec<super::shape::Fold> {
    plan.aggregates.iter().map(|a| a.fold).collect()
}

/// A group key's value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum KeyValue {
    Text(Arc<str>),
    Day(i32),
}

/// Groups by their key values, in order of first appearance, and their
/// aggregates.
#[derive(Debug)]
struct Part {
    index: FxHashMap<Vec<KeyValue>, usize>,
    keys: Vec<Vec<KeyValue>>,
    totals: Totals,
}

impl Part {
    fn new(plan: &Plan) -> Part {
        Part {
            index: FxHashMap::default(),
            keys: Vec::new(),
            totals: Totals::new(folds(plan)),
        }
    }

    /// Adds `other`'s groups; `None` when it read a column as another type.
    fn add(&mut self, other: Part) -> Option<()> {
        self.totals.merge_numbers(&other.totals)?;
        for (from, key) in other.keys.into_iter().enumerate() {
            let into = match self.index.get(&key) {
                Some(slot) => *slot,
                None => {
                    let slot = self.keys.len();
                    self.index.insert(key.clone(), slot);
                    self.keys.push(key);
                    self.totals.push_group();
                    slot
                }
            };
            self.totals.merge(into, &other.totals, from);
        }
        Some(())
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
    /// The aggregates, each with its condition.
    aggregates: Vec<(&'a Aggregate, Option<Check>)>,
    filter: Option<Check>,
    strings: Vec<StringIds>,
    clusters: StringIds,
    /// Per string column: the last dictionary seen and its codes' ids.
    dictionaries: Vec<Option<(Dictionary, Vec<u32>)>>,
    ids: Vec<Vec<u32>>,
    groups: FxHashMap<GroupKey, u32>,
    keys: Vec<GroupKey>,
    totals: Totals,
    /// The batch's runs of one group: rows `start..end`, group (a buffer
    /// kept between batches).
    runs: Vec<(usize, usize, u32)>,
    /// The key's string column when it is the only one.
    single: Option<usize>,
    /// With [`Worker::single`]: the group of each string id in the current
    /// file (whose cluster and day are the key's other parts), so a run
    /// costs an index, not a hash. `resources` changes tenant almost every
    /// row: ~4 M runs in a 150,000-pod week.
    by_id: Vec<u32>,
}

impl<'a> Worker<'a> {
    fn new(plan: &'a Plan) -> Worker<'a> {
        let aggregates = plan
            .aggregates
            .iter()
            .map(|aggregate| (aggregate, aggregate.when.as_ref().map(Check::new)))
            .collect();
        let columns = plan.strings.len();
        Worker {
            plan,
            aggregates,
            filter: plan.filter.as_ref().map(Check::new),
            strings: (0..columns).map(|_| StringIds::default()).collect(),
            clusters: StringIds::default(),
            dictionaries: vec![None; columns],
            ids: vec![Vec::new(); columns],
            groups: FxHashMap::default(),
            keys: Vec::new(),
            totals: Totals::new(folds(plan)),
            runs: Vec::new(),
            single: {
                let mut texts = plan.keys.iter().filter_map(|k| match k {
                    Key::Text(column) => Some(*column),
                    _ => None,
                });
                match (texts.next(), texts.next()) {
                    (Some(column), None) => Some(column),
                    _ => None,
                }
            },
            by_id: Vec::new(),
        }
    }

    /// Adds the file's rows; `None` when it is not what the fold reads.
    fn file(&mut self, file: &Path, cluster: &str, day: NaiveDate) -> Option<()> {
        let plan = self.plan;
        let mut names: Vec<&str> = plan.strings.iter().map(String::as_str).collect();
        let coded = names.clone();
        names.extend(self.aggregates.iter().map(|(a, _)| a.column.as_str()));
        names.extend(plan.times.iter().map(|t| t.column.as_str()));
        let select = Select::columns(&names).coded(&coded).batch_rows(BATCH_ROWS);
        let cluster = u32::try_from(self.clusters.id(cluster)).ok()?;
        let day = i32::try_from(day.signed_duration_since(NaiveDate::default()).num_days()).ok()?;
        self.by_id.clear();
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
        let mut kept = match &mut self.filter {
            Some(filter) => filter.mask(&self.ids, rows, &self.strings),
            None => Vec::new(),
        };
        for bound in &self.plan.times {
            let times = columns.millis(&bound.column).ok()?;
            if times.null_count() > 0 {
                return None;
            }
            if kept.is_empty() {
                kept = vec![true; rows];
            }
            for (keep, millis) in kept.iter_mut().zip(times.values()) {
                *keep &= bound.holds(*millis);
            }
        }
        let mut values = Vec::with_capacity(self.aggregates.len());
        for (at, (aggregate, _)) in self.aggregates.iter().enumerate() {
            let numbers = numbers(columns, &aggregate.column, &kept)?;
            self.totals.expect(at, numbers.number())?;
            values.push(numbers);
        }
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
            let group = self.group_of(*row, cluster, day)?;
            // The run ends where the next one starts or at the first
            // dropped row after it.
            let next = changed.get(at + 1).copied().unwrap_or(rows);
            let end = if kept.is_empty() {
                next
            } else {
                (*row..next).find(|r| !kept[*r]).unwrap_or(next)
            };
            runs.push((*row, end, group));
        }
        for (at, ((_, when), column)) in self.aggregates.iter_mut().zip(&values).enumerate() {
            let counted = match when {
                Some(when) => when.mask(&self.ids, rows, &self.strings),
                None => Vec::new(),
            };
            self.totals.add_runs(at, *column, &counted, &runs);
        }
        self.runs = runs;
        Some(())
    }

    /// The group of a batch's `row` in a file of `cluster` and `day`.
    fn group_of(&mut self, row: usize, cluster: u32, day: i32) -> Option<u32> {
        let single = self.single.map(|column| self.ids[column][row] as usize);
        if let Some(group) = single
            .and_then(|id| self.by_id.get(id).copied())
            .filter(|g| *g != NO_GROUP)
        {
            return Some(group);
        }
        let mut key: GroupKey = [0; MAX_KEYS];
        for (slot, part) in key.iter_mut().zip(&self.plan.keys) {
            *slot = match part {
                Key::Text(column) => self.ids[*column][row],
                Key::Cluster => cluster,
                Key::Date => day.cast_unsigned(),
            };
        }
        let group = self.group(key)?;
        if let Some(id) = single {
            if id >= self.by_id.len() {
                self.by_id.resize(id + 1, NO_GROUP);
            }
            self.by_id[id] = group;
        }
        Some(group)
    }

    /// The group of `key`, numbering it if it is new.
    fn group(&mut self, key: GroupKey) -> Option<u32> {
        if let Some(group) = self.groups.get(&key) {
            return Some(*group);
        }
        let group = u32::try_from(self.keys.len())
            .ok()
            .filter(|g| *g != NO_GROUP)?;
        self.groups.insert(key, group);
        self.keys.push(key);
        self.totals.push_group();
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
                let codes = codes.codes();
                // Every code checked once, then each row is an index.
                let (least, most) = codes
                    .iter()
                    .fold((0, 0), |(l, m), c| (l.min(*c), m.max(*c)));
                if !codes.is_empty() && (least < 0 || map.len() <= usize::try_from(most).ok()?) {
                    return None;
                }
                ids.extend(codes.iter().map(|code| map[*code as usize]));
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
        let mut index = FxHashMap::default();
        let mut keys = Vec::with_capacity(self.keys.len());
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
            index.insert(values.clone(), at);
            keys.push(values);
        }
        Part {
            index,
            keys,
            totals: self.totals,
        }
    }
}

/// A batch's column of numbers (floats or 64-bit integers); `None` when
/// it is neither, or a row `kept` (all, when empty) holds a null: SQL's
/// aggregates skip nulls, which the fold does not track.
fn numbers<'a>(columns: &Columns<'a>, name: &str, kept: &[bool]) -> Option<Numbers<'a>> {
    let no_kept_null = |null_count: usize, is_null: &dyn Fn(usize) -> bool| {
        null_count == 0
            || (0..columns.rows()).all(|row| kept.get(row) == Some(&false) || !is_null(row))
    };
    if let Ok(floats) = columns.floats(name) {
        return no_kept_null(floats.null_count(), &|row| floats.is_null(row))
            .then(|| Numbers::Float(floats.values()));
    }
    let ints = columns.int64s(name).ok()?;
    no_kept_null(ints.null_count(), &|row| ints.is_null(row)).then(|| Numbers::Int(ints.values()))
}

/// The frame: the keys' columns, then the aggregates', named as the
/// rewritten `SELECT` reads them. A `SELECT` without `GROUP BY` has one
/// row even over no rows, its aggregates null, as SQL's (and polars').
/// `None` when no file showed an aggregate's column type.
fn frame(plan: &Plan, part: &Part) -> Option<DataFrame> {
    let global_of_nothing = plan.keys.is_empty() && part.keys.is_empty();
    let groups = if global_of_nothing {
        1
    } else {
        part.keys.len()
    };
    let mut columns: Vec<Column> = Vec::with_capacity(plan.keys.len() + plan.aggregates.len());
    for (at, key) in plan.keys.iter().enumerate() {
        let name = key_column(at);
        let series = match key {
            Key::Date => {
                let days: Vec<i32> = part
                    .keys
                    .iter()
                    .map(|k| match k.get(at) {
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
                    .map(|k| match k.get(at) {
                        Some(KeyValue::Text(text)) => Some(&**text),
                        _ => None,
                    })
                    .collect::<Option<_>>()?;
                Series::new(name.as_str().into(), texts)
            }
        };
        columns.push(series.into_column());
    }
    for at in 0..plan.aggregates.len() {
        let series = part
            .totals
            .column(at, &aggregate_column(at), groups, global_of_nothing)?;
        columns.push(series.into_column());
    }
    DataFrame::new(groups, columns).ok()
}
