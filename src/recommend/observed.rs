//! What the window showed of each workload's pods, for the spot checks no
//! anchor makes: the longest pod run (a Job's run time, S9) and the slowest
//! start-to-Ready (K2). Unlike the template facts, where the newest row
//! wins, these are maxima over every hour of the window, so every
//! `workloads` file is read — five columns of it, only the row groups whose
//! statistics say they hold a value, and the workload's names only for the
//! rows that do (a row filter on the two times).

use std::collections::BTreeMap;
use std::path::Path;

use super::history::{HistoryError, NamedWorkload, Scope, for_each_batch};
use super::spot::WorkloadFacts;
use crate::store::read::{Batch, Select};
use crate::store::schema::col;

const RUN: &str = col::POD_RUN_MAX_SECONDS;
const STARTUP: &str = col::STARTUP_MAX_SECONDS;

/// The workload's names and the two times, only where one is set. A file
/// written before these columns existed has no such row: nothing observed.
const SELECT: Select<'static> = Select::columns(&[
    col::NAMESPACE,
    col::WORKLOAD_KIND,
    col::WORKLOAD_NAME,
    RUN,
    STARTUP,
])
.present(&[RUN, STARTUP]);

/// The slowest run and startup of one workload over the window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Times {
    pub longest_run_seconds: Option<f64>,
    pub slowest_startup_seconds: Option<f64>,
}

fn most(slot: &mut Option<f64>, value: f64) {
    *slot = Some(slot.map_or(value, |s| s.max(value)));
}

/// Every workload's [`Times`] in `scope`.
///
/// # Errors
///
/// [`HistoryError`] naming a file that cannot be read.
pub fn read(root: &Path, scope: &Scope) -> Result<BTreeMap<NamedWorkload, Times>, HistoryError> {
    let mut times = BTreeMap::new();
    for_each_batch(root, "workloads", scope, &SELECT, |batch| {
        fold(batch, &mut times)
    })?;
    Ok(times)
}

/// Sets the facts' run and startup times from `times`.
pub fn apply(
    times: &BTreeMap<NamedWorkload, Times>,
    facts: &mut BTreeMap<NamedWorkload, WorkloadFacts>,
) {
    for (key, seen) in times {
        if let Some(facts) = facts.get_mut(key) {
            facts.job_longest_run_seconds = seen.longest_run_seconds;
            facts.startup_seconds = seen.slowest_startup_seconds;
        }
    }
}

fn fold(batch: &Batch, times: &mut BTreeMap<NamedWorkload, Times>) -> Result<(), HistoryError> {
    let batch = batch.columns();
    if !(batch.has(RUN) && batch.has(STARTUP)) {
        return Ok(());
    }
    let namespace = batch.text(col::NAMESPACE)?;
    let kind = batch.text(col::WORKLOAD_KIND)?;
    let name = batch.text(col::WORKLOAD_NAME)?;
    let (run, startup) = (batch.floats(RUN)?, batch.floats(STARTUP)?);
    for row in 0..batch.rows() {
        let (run, startup) = (run.get(row), startup.get(row));
        if run.is_none() && startup.is_none() {
            continue;
        }
        let entry = times
            .entry((
                namespace.get(row).to_owned(),
                kind.get(row).to_owned(),
                name.get(row).to_owned(),
            ))
            .or_default();
        if let Some(run) = run {
            most(&mut entry.longest_run_seconds, run);
        }
        if let Some(startup) = startup {
            most(&mut entry.slowest_startup_seconds, startup);
        }
    }
    Ok(())
}
