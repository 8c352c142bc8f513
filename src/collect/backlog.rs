//! What the collector could not write yet: ticks the write-ahead log
//! refused and closed hours the dataset refused.
//!
//! Both are retried every tick, oldest first, so a full disk costs neither
//! samples nor hours once space returns: the ledger has already counted an
//! unlogged tick, and an unpublished hour's log is only deleted after its
//! publish. What a crash would lose meanwhile is the unlogged ticks (the
//! ERROR that started the episode says so).

use std::collections::{BTreeSet, VecDeque};

use chrono::{DateTime, Utc};

use crate::allocate::HourRows;
use crate::store::wal::TickLog;

/// The writes waiting for the disk or the object store.
#[derive(Default)]
pub struct Backlog {
    /// Ticks in the order they were sampled.
    pub unlogged: VecDeque<TickLog>,
    /// Closed hours in the order they closed.
    pub unpublished: VecDeque<HourRows>,
}

impl Backlog {
    /// The hours it holds rows or log entries of.
    pub fn hours(&self) -> BTreeSet<DateTime<Utc>> {
        let mut hours: BTreeSet<DateTime<Utc>> =
            self.unpublished.iter().map(|hour| hour.start).collect();
        for tick in &self.unlogged {
            hours.extend(tick.samples.iter().map(|s| s.hour()));
            hours.extend(tick.nodes.iter().map(|(hour, ..)| *hour));
        }
        hours
    }

    /// Drops the unlogged part of an hour now published.
    pub fn published(&mut self, hour: DateTime<Utc>) {
        let hours = BTreeSet::from([hour]);
        for tick in &mut self.unlogged {
            tick.forget(&hours);
        }
        self.unlogged.retain(|tick| !tick.is_empty());
    }
}
