//! Readiness: the caches are synced, samples keep coming and the writes
//! (write-ahead log, dataset) succeed.
//!
//! Sample time comes from the metrics API, whose clock may be simulated and
//! run faster than real time, so "recent" cannot compare a sample's time
//! with the wall clock. Instead [`SampleProgress`] remembers when, in real
//! time, the newest sample time last changed, and readiness fails when that
//! was longer ago than a limit (three intervals and thirty seconds by
//! default).

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When the newest sample time last advanced, in real time.
///
/// It learns of a change when it is asked ([`SampleProgress::silent_for`],
/// on every `/readyz` and `/metrics` request), so a change is dated at most
/// one probe late: readiness errs on the side of ready by a probe period.
#[derive(Debug)]
pub struct SampleProgress {
    seen: Mutex<Seen>,
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    sample_seconds: u64,
    since: Instant,
}

impl SampleProgress {
    /// No sample yet, as of `now`.
    pub fn new(now: Instant) -> SampleProgress {
        SampleProgress {
            seen: Mutex::new(Seen {
                sample_seconds: 0,
                since: now,
            }),
        }
    }

    /// Starts the silence over at `now`: a follower (leader election) takes
    /// no samples, and its silence must not count once it leads.
    pub fn restart(&self, sample_seconds: u64, now: Instant) {
        let mut seen = match self.seen.lock() {
            Ok(seen) => seen,
            Err(poisoned) => poisoned.into_inner(),
        };
        *seen = Seen {
            sample_seconds,
            since: now,
        };
    }

    /// How long, at `now`, the newest sample time has stayed
    /// `sample_seconds` (0 means no sample yet: then the time since start).
    pub fn silent_for(&self, sample_seconds: u64, now: Instant) -> Duration {
        let mut seen = match self.seen.lock() {
            Ok(seen) => seen,
            Err(poisoned) => poisoned.into_inner(),
        };
        if seen.sample_seconds != sample_seconds {
            *seen = Seen {
                sample_seconds,
                since: now,
            };
        }
        now.saturating_duration_since(seen.since)
    }
}

/// Why the collector is not ready: the one line `/readyz` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReady {
    /// These watched collections have not completed their first list.
    NotSynced(Vec<&'static str>),
    /// The newest sample time has not changed for `silent` (limit `limit`).
    NoRecentSample { silent: Duration, limit: Duration },
    /// No sample since start, `silent` ago.
    NoSampleYet { silent: Duration, limit: Duration },
    /// The write-ahead log or the dataset refuses writes (a full disk): the
    /// collector samples into memory and retries; the reason names the path.
    WriteFailing(String),
}

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotReady::NotSynced(collections) => {
                write!(f, "caches not synced: {}", collections.join(", "))
            }
            NotReady::NoRecentSample { silent, limit } => write!(
                f,
                "no sample for {} s (limit {} s)",
                silent.as_secs(),
                limit.as_secs()
            ),
            NotReady::NoSampleYet { silent, limit } => write!(
                f,
                "no sample in the {} s since start (limit {} s)",
                silent.as_secs(),
                limit.as_secs()
            ),
            NotReady::WriteFailing(reason) => f.write_str(reason),
        }
    }
}

/// What readiness is decided from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// The watched collections that have not completed their first list.
    pub unsynced: Vec<&'static str>,
    pub have_sample: bool,
    /// How long the newest sample time has not changed, in real time.
    pub silent: Duration,
    /// Why a write fails now, if one does ([`crate::collect::health`]).
    pub write_failing: Option<String>,
}

/// Decides readiness. Before the first sample the collector is given
/// `limit` from start, as it samples right after its caches sync. A failing
/// write comes before silence: it is what an operator must fix.
///
/// # Errors
///
/// [`NotReady`] with the first reason that applies.
pub fn check(observed: Observed, limit: Duration) -> Result<(), NotReady> {
    let Observed {
        unsynced,
        have_sample,
        silent,
        write_failing,
    } = observed;
    if !unsynced.is_empty() {
        return Err(NotReady::NotSynced(unsynced));
    }
    if let Some(reason) = write_failing {
        return Err(NotReady::WriteFailing(reason));
    }
    if silent > limit {
        return Err(if have_sample {
            NotReady::NoRecentSample { silent, limit }
        } else {
            NotReady::NoSampleYet { silent, limit }
        });
    }
    Ok(())
}

/// The default silence limit for an `interval`: three intervals and 30 s.
pub fn silence_limit(interval: Duration) -> Duration {
    interval
        .saturating_mul(3)
        .saturating_add(Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn silence_is_measured_from_the_last_change_in_real_time() {
        let t0 = Instant::now();
        let progress = SampleProgress::new(t0);
        assert_eq!(progress.silent_for(0, t0 + 5 * SECOND), 5 * SECOND);
        // A sample time far ahead of the wall clock (a fast simulation) is
        // a change like any other.
        assert_eq!(
            progress.silent_for(9_000_000_000, t0 + 10 * SECOND),
            Duration::ZERO
        );
        assert_eq!(
            progress.silent_for(9_000_000_000, t0 + 70 * SECOND),
            60 * SECOND
        );
        assert_eq!(
            progress.silent_for(9_000_000_060, t0 + 71 * SECOND),
            Duration::ZERO
        );
    }

    fn observed(unsynced: Vec<&'static str>, have_sample: bool, silent: Duration) -> Observed {
        Observed {
            unsynced,
            have_sample,
            silent,
            write_failing: None,
        }
    }

    #[test]
    fn unsynced_caches_come_first_and_are_named() {
        let reason = check(observed(vec!["pods", "nodes"], false, 999 * SECOND), SECOND);
        assert_eq!(
            reason.map_err(|r| r.to_string()),
            Err("caches not synced: pods, nodes".to_owned())
        );
    }

    #[test]
    fn a_silent_sampler_is_not_ready_past_the_limit() {
        let limit = silence_limit(60 * SECOND);
        assert_eq!(limit, 210 * SECOND);
        assert_eq!(check(observed(vec![], true, 210 * SECOND), limit), Ok(()));
        assert_eq!(
            check(observed(vec![], true, 215 * SECOND), limit).map_err(|r| r.to_string()),
            Err("no sample for 215 s (limit 210 s)".to_owned())
        );
        assert_eq!(
            check(observed(vec![], false, 215 * SECOND), limit).map_err(|r| r.to_string()),
            Err("no sample in the 215 s since start (limit 210 s)".to_owned())
        );
    }

    #[test]
    fn synced_is_ready_before_the_first_sample_within_the_limit() {
        assert_eq!(
            check(observed(vec![], false, 3 * SECOND), 40 * SECOND),
            Ok(())
        );
    }

    #[test]
    fn a_failing_write_is_not_ready_and_says_why() {
        let failing = Observed {
            write_failing: Some("dataset failing: writing /data/x: No space left".into()),
            ..observed(vec![], true, SECOND)
        };
        assert_eq!(
            check(failing, 40 * SECOND).map_err(|r| r.to_string()),
            Err("dataset failing: writing /data/x: No space left".to_owned())
        );
    }
}
