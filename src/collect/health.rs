//! Whether the collector's writes succeed: the write-ahead log and the
//! dataset, each failing or not.
//!
//! A full disk fails every write until space returns, which may be hours of
//! ticks. The collector keeps sampling into memory and retries each tick, so
//! the failure is an *episode*, not an event per tick: [`WriteHealth`] says
//! when one starts (the caller logs one ERROR naming the path) and when it
//! ends (one INFO), and `/readyz` answers not ready with the reason in
//! between, so an operator sees the one thing to fix.

use std::fmt;
use std::sync::Mutex;

/// What the collector writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteTarget {
    /// The write-ahead log of the open hours.
    Wal,
    /// The dataset's Parquet files (local or object storage).
    Dataset,
}

impl WriteTarget {
    pub fn as_str(self) -> &'static str {
        match self {
            WriteTarget::Wal => "write-ahead log",
            WriteTarget::Dataset => "dataset",
        }
    }

    fn index(self) -> usize {
        match self {
            WriteTarget::Wal => 0,
            WriteTarget::Dataset => 1,
        }
    }
}

impl fmt::Display for WriteTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a write to a target changed its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Episode {
    /// The first failure after success: log it.
    Started,
    /// Another failure of an episode already logged.
    Continues,
    /// The first success after failures: log the recovery.
    Ended,
    /// Another success.
    Healthy,
}

/// The failing targets and why, shared between the collector and `/readyz`.
#[derive(Debug, Default)]
pub struct WriteHealth {
    failing: Mutex<[Option<String>; 2]>,
}

impl WriteHealth {
    fn with<T>(&self, f: impl FnOnce(&mut [Option<String>; 2]) -> T) -> T {
        let mut failing = match self.failing.lock() {
            Ok(failing) => failing,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut failing)
    }

    /// Records a failed write to `target`; `reason` is what `/readyz` shows
    /// (the newest failure's).
    pub fn failed(&self, target: WriteTarget, reason: String) -> Episode {
        self.with(|failing| {
            let slot = &mut failing[target.index()];
            let started = slot.is_none();
            *slot = Some(reason);
            if started {
                Episode::Started
            } else {
                Episode::Continues
            }
        })
    }

    /// Records a successful write to `target`.
    pub fn succeeded(&self, target: WriteTarget) -> Episode {
        self.with(|failing| {
            if failing[target.index()].take().is_some() {
                Episode::Ended
            } else {
                Episode::Healthy
            }
        })
    }

    /// The first failing target's reason: `write-ahead log: <reason>`.
    pub fn failing(&self) -> Option<String> {
        self.with(|failing| {
            [WriteTarget::Wal, WriteTarget::Dataset]
                .into_iter()
                .find_map(|target| {
                    failing[target.index()]
                        .as_ref()
                        .map(|reason| format!("{target} failing: {reason}"))
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_episode_starts_once_and_ends_once() {
        let health = WriteHealth::default();
        assert_eq!(health.succeeded(WriteTarget::Wal), Episode::Healthy);
        assert_eq!(
            health.failed(WriteTarget::Wal, "disk full".into()),
            Episode::Started
        );
        assert_eq!(
            health.failed(WriteTarget::Wal, "still full".into()),
            Episode::Continues
        );
        assert_eq!(
            health.failing().as_deref(),
            Some("write-ahead log failing: still full")
        );
        assert_eq!(health.succeeded(WriteTarget::Wal), Episode::Ended);
        assert_eq!(health.succeeded(WriteTarget::Wal), Episode::Healthy);
        assert_eq!(health.failing(), None);
    }

    #[test]
    fn targets_fail_and_recover_independently() {
        let health = WriteHealth::default();
        health.failed(WriteTarget::Dataset, "quota".into());
        assert_eq!(
            health.failed(WriteTarget::Wal, "full".into()),
            Episode::Started
        );
        assert_eq!(health.succeeded(WriteTarget::Wal), Episode::Ended);
        assert_eq!(health.failing().as_deref(), Some("dataset failing: quota"));
    }
}
