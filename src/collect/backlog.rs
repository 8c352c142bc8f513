//! What the collector could not log yet: ticks the write-ahead log refused.
//!
//! They are retried every tick, oldest first, so a full disk costs no
//! samples once space returns: the ledger has already counted an unlogged
//! tick. (Closed hours the dataset refuses wait in the publisher, and an
//! hour's log is only deleted after its publish.) What a crash would lose
//! meanwhile is the unlogged ticks (the ERROR that started the episode says
//! so).

use std::collections::{BTreeSet, VecDeque};

use chrono::{DateTime, Utc};

use crate::store::wal::TickLog;

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

    /// Drops the unlogged part of an hour now published.
    pub fn published(&mut self, hour: DateTime<Utc>) {
        let hours = BTreeSet::from([hour]);
        for tick in &mut self.unlogged {
            tick.forget(&hours);
        }
        self.unlogged.retain(|tick| !tick.is_empty());
    }
}
