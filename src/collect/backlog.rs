//! What the collector could not log yet: ticks the write-ahead log refused.
//!
//! They are retried every tick, oldest first, so a full disk costs no
//! samples once space returns: the ledger has already counted an unlogged
//! tick. (Closed hours the dataset refuses wait in the publisher, and an
//! hour's log is only deleted after its publish.) What a crash would lose
//! meanwhile is the unlogged ticks (the ERROR that started the episode says
//! so).

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use crate::store::wal::{TickLog, Wal, WalError};

/// The write-ahead log and the ticks it refused, shared by the sampler,
/// which appends, and the publisher, which drops an hour's entries the
/// moment the hour is published: with nothing in between, a restart never
/// replays a published hour from a log that lacks some of its ticks and
/// republishes it with fewer samples.
#[derive(Default)]
pub struct Log {
    /// None: collecting without a log.
    pub wal: Option<Wal>,
    pub backlog: Backlog,
}

/// [`Log`] behind its lock.
pub type SharedLog = Arc<Mutex<Log>>;

/// The log, whoever held it last having panicked or not (its state is
/// whole between calls).
pub fn lock(log: &SharedLog) -> MutexGuard<'_, Log> {
    match log.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Log {
    /// Forgets the entries of `hours`, which are published (or another
    /// replica publishes them).
    ///
    /// # Errors
    ///
    /// [`WalError`] when a log file cannot be removed; the backlog has
    /// forgotten them anyway.
    pub fn forget(&mut self, hours: &BTreeSet<DateTime<Utc>>) -> Result<(), WalError> {
        for tick in &mut self.backlog.unlogged {
            tick.forget(hours);
        }
        self.backlog.unlogged.retain(|tick| !tick.is_empty());
        match self.wal.as_mut() {
            Some(wal) => wal.discard(hours),
            None => Ok(()),
        }
    }
}

/// The ticks waiting for the write-ahead log's disk.
#[derive(Default)]
pub struct Backlog {
    /// Ticks in the order they were sampled.
    pub unlogged: VecDeque<TickLog>,
}

impl Backlog {
    /// The hours it holds log entries of.
    pub fn hours(&self) -> BTreeSet<DateTime<Utc>> {
        let mut hours = BTreeSet::new();
        for tick in &self.unlogged {
            hours.extend(tick.samples.iter().map(|s| s.hour()));
            hours.extend(tick.nodes.iter().map(|(hour, ..)| *hour));
        }
        hours
    }
}
