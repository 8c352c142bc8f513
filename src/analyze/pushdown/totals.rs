//! Each group's running aggregates (`SUM`, `MIN`, `MAX`) of float or
//! integer columns, added a run of rows at a time, merged across threads,
//! and made into the frame's columns with the types polars gives them
//! (`SUM`, `MIN` and `MAX` of a Float64 column are Float64, of an Int64
//! column Int64).

use polars::prelude::{NamedFrom, Series};

use super::shape::Fold;

/// A column's number type, as the files have it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Number {
    Float,
    Int,
}

/// A batch's values of one column.
#[derive(Clone, Copy)]
pub(super) enum Numbers<'a> {
    Float(&'a [f64]),
    Int(&'a [i64]),
}

impl Numbers<'_> {
    pub(super) fn number(&self) -> Number {
        match self {
            Numbers::Float(_) => Number::Float,
            Numbers::Int(_) => Number::Int,
        }
    }
}

/// The aggregates of every group: `width` per group, in plan order.
#[derive(Debug, Clone)]
pub(super) struct Totals {
    folds: Vec<Fold>,
    /// Each aggregate's column type, once a batch has shown it.
    numbers: Vec<Option<Number>>,
    floats: Vec<f64>,
    ints: Vec<i64>,
}

impl Totals {
    pub(super) fn new(folds: Vec<Fold>) -> Totals {
        Totals {
            numbers: vec![None; folds.len()],
            folds,
            floats: Vec::new(),
            ints: Vec::new(),
        }
    }

    fn width(&self) -> usize {
        self.folds.len()
    }

    /// Adds a group with nothing added yet.
    pub(super) fn push_group(&mut self) {
        for fold in &self.folds {
            let (float, int) = match fold {
                Fold::Sum => (0.0, 0),
                Fold::Min => (f64::INFINITY, i64::MAX),
                Fold::Max => (f64::NEG_INFINITY, i64::MIN),
            };
            self.floats.push(float);
            self.ints.push(int);
        }
    }

    /// Notes that aggregate `at` reads `number`s; `None` when an earlier
    /// batch read it as another type (files of different writers).
    pub(super) fn expect(&mut self, at: usize, number: Number) -> Option<()> {
        match self.numbers.get(at)? {
            Some(seen) if *seen != number => None,
            _ => {
                self.numbers[at] = Some(number);
                Some(())
            }
        }
    }

    /// Adds each run `(start, end, group)` of a batch's `values` (those
    /// whose `counted` is true, when it is not empty) to aggregate `at` of
    /// its group, a run at a time: the same additions in the same order as
    /// [`Totals::add`] of each run, chosen once for the batch.
    pub(super) fn add_runs(
        &mut self,
        at: usize,
        values: Numbers<'_>,
        counted: &[bool],
        runs: &[(usize, usize, u32)],
    ) {
        let width = self.width();
        match (self.folds[at], values) {
            (Fold::Sum, Numbers::Float(values)) if counted.is_empty() => {
                for (start, end, group) in runs {
                    self.floats[*group as usize * width + at] += sum(&values[*start..*end]);
                }
            }
            (Fold::Sum, Numbers::Float(values)) => {
                for (start, end, group) in runs {
                    self.floats[*group as usize * width + at] +=
                        sum_where(&values[*start..*end], &counted[*start..*end]);
                }
            }
            _ => {
                for (start, end, group) in runs {
                    let run = match values {
                        Numbers::Float(values) => Numbers::Float(&values[*start..*end]),
                        Numbers::Int(values) => Numbers::Int(&values[*start..*end]),
                    };
                    let counted = counted.get(*start..*end).unwrap_or_default();
                    self.add(*group as usize, at, run, counted);
                }
            }
        }
    }

    /// Adds `values` (those whose `counted` is true, when it is not empty)
    /// to aggregate `at` of `group`.
    pub(super) fn add(&mut self, group: usize, at: usize, values: Numbers<'_>, counted: &[bool]) {
        let slot = group * self.width() + at;
        match (self.folds[at], values) {
            (Fold::Sum, Numbers::Float(values)) => {
                self.floats[slot] += if counted.is_empty() {
                    sum(values)
                } else {
                    sum_where(values, counted)
                };
            }
            (Fold::Sum, Numbers::Int(values)) => {
                let total = values
                    .iter()
                    .enumerate()
                    .filter(|(row, _)| counted.get(*row) != Some(&false))
                    .fold(0_i64, |total, (_, value)| total.wrapping_add(*value));
                self.ints[slot] = self.ints[slot].wrapping_add(total);
            }
            (Fold::Min, Numbers::Float(values)) => {
                self.floats[slot] = values.iter().copied().fold(self.floats[slot], f64::min);
            }
            (Fold::Max, Numbers::Float(values)) => {
                self.floats[slot] = values.iter().copied().fold(self.floats[slot], f64::max);
            }
            (Fold::Min, Numbers::Int(values)) => {
                self.ints[slot] = values.iter().copied().fold(self.ints[slot], i64::min);
            }
            (Fold::Max, Numbers::Int(values)) => {
                self.ints[slot] = values.iter().copied().fold(self.ints[slot], i64::max);
            }
        }
    }

    /// Adds `other`'s group `from` into this one's group `into`.
    pub(super) fn merge(&mut self, into: usize, other: &Totals, from: usize) {
        let width = self.width();
        for at in 0..width {
            let (to, of) = (into * width + at, from * width + at);
            let (float, int) = (other.floats[of], other.ints[of]);
            match self.folds[at] {
                Fold::Sum => {
                    self.floats[to] += float;
                    self.ints[to] = self.ints[to].wrapping_add(int);
                }
                Fold::Min => {
                    self.floats[to] = self.floats[to].min(float);
                    self.ints[to] = self.ints[to].min(int);
                }
                Fold::Max => {
                    self.floats[to] = self.floats[to].max(float);
                    self.ints[to] = self.ints[to].max(int);
                }
            }
        }
    }

    /// Takes the column types `other` saw; `None` when they disagree.
    pub(super) fn merge_numbers(&mut self, other: &Totals) -> Option<()> {
        for (at, number) in other.numbers.iter().enumerate() {
            if let Some(number) = number {
                self.expect(at, *number)?;
            }
        }
        Some(())
    }

    /// Aggregate `at` of `groups` groups as a column named `name`; all
    /// null when `nulls` (SQL's aggregate of no rows). `None` when no file
    /// showed its type.
    pub(super) fn column(
        &self,
        at: usize,
        name: &str,
        groups: usize,
        nulls: bool,
    ) -> Option<Series> {
        let width = self.width();
        let series = match (self.numbers.get(at).copied()??, nulls) {
            (Number::Float, false) => {
                let values: Vec<f64> = (0..groups).map(|g| self.floats[g * width + at]).collect();
                Series::new(name.into(), values)
            }
            (Number::Int, false) => {
                let values: Vec<i64> = (0..groups).map(|g| self.ints[g * width + at]).collect();
                Series::new(name.into(), values)
            }
            (Number::Float, true) => Series::new(name.into(), vec![None::<f64>; groups]),
            (Number::Int, true) => Series::new(name.into(), vec![None::<i64>; groups]),
        };
        Some(series)
    }
}

/// The sum of `values`, in four lanes: a run's additions do not wait on
/// each other (a single running total is one float addition's latency per
/// row).
pub(super) fn sum(values: &[f64]) -> f64 {
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
pub(super) fn sum_where(values: &[f64], counted: &[bool]) -> f64 {
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

    #[test]
    fn a_batchs_runs_add_up_as_each_run_added_alone() {
        let floats = [1.5, 2.25, -3.0, 4.0, 0.125, 8.0, 1e-3];
        let ints = [3, -1, 4, 1, -5, 9, 2];
        let counted = [true, false, true, true, false, true, true];
        let runs = [(0, 1, 1), (1, 4, 0), (4, 5, 1), (5, 7, 0)];
        let folds = vec![Fold::Sum, Fold::Sum, Fold::Sum, Fold::Min, Fold::Max];
        let mut batched = Totals::new(folds.clone());
        let mut alone = Totals::new(folds);
        for totals in [&mut batched, &mut alone] {
            totals.push_group();
            totals.push_group();
        }
        let columns = [
            (Numbers::Float(&floats), &[][..]),
            (Numbers::Float(&floats), &counted[..]),
            (Numbers::Int(&ints), &counted[..]),
            (Numbers::Float(&floats), &[][..]),
            (Numbers::Int(&ints), &[][..]),
        ];
        for (at, (values, counted)) in columns.into_iter().enumerate() {
            batched.add_runs(at, values, counted, &runs);
            for (start, end, group) in runs {
                let run = match values {
                    Numbers::Float(v) => Numbers::Float(&v[start..end]),
                    Numbers::Int(v) => Numbers::Int(&v[start..end]),
                };
                let counted = counted.get(start..end).unwrap_or_default();
                alone.add(group as usize, at, run, counted);
            }
        }
        assert_eq!(batched.floats, alone.floats);
        assert_eq!(batched.ints, alone.ints);
        // Group 1 holds rows 0 and 4: the plain sum has both, the counted
        // one only row 0.
        assert_eq!(batched.floats[5], 1.625);
        assert_eq!(batched.floats[6], 1.5);
    }

    #[test]
    fn groups_fold_and_merge_by_their_aggregate() {
        let mut a = Totals::new(vec![Fold::Sum, Fold::Min, Fold::Max]);
        let mut b = a.clone();
        for totals in [&mut a, &mut b] {
            totals.push_group();
            for at in 0..3 {
                totals.expect(at, Number::Int).unwrap();
            }
        }
        for at in 0..3 {
            a.add(0, at, Numbers::Int(&[5, -2, 9]), &[]);
            b.add(0, at, Numbers::Int(&[7, 30]), &[true, false]);
        }
        a.merge_numbers(&b).unwrap();
        a.merge(0, &b, 0);
        let column = |at| a.column(at, "x", 1, false).unwrap().i64().unwrap().get(0);
        assert_eq!(
            (column(0), column(1), column(2)),
            (Some(19), Some(-2), Some(30))
        );
        assert!(a.expect(0, Number::Float).is_none());
    }
}
