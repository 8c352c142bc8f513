//! What goes wrong in the collector, as typed events.
//!
//! Every failure the collector survives is an [`Event`]; the site that sees
//! it calls [`Event::emit`], which logs it once (fields first, then a
//! sentence saying what it costs) and counts it in
//! `kubetally_errors_total{kind}`. So the level, the kind and the wording of
//! each failure are decided here, in one match, and nowhere else. Following
//! vector's internal-events idiom, ERROR is kept for data loss and for what
//! needs an operator; everything the collector recovers from by itself is a
//! WARN.
//!
//! A failure that stops the collector (an hour it cannot publish) is not an
//! event: it is the error `Collector::run` returns, reported once by the
//! binary.

use std::borrow::Cow;
use std::error::Error;
use std::fmt;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use kube::runtime::watcher;
use tracing::Level;

use super::leader::LeaseError;
use super::stats::Stats;
use crate::cluster::Collection;
use crate::model::gpu::GpuLabelError;
use crate::pricing::MissingPrice;
use crate::source::SourceError;
use crate::source::metrics::{MetricsError, SkippedItem};
use crate::source::watch::WatchError;
use crate::store::DatasetError;
use crate::store::wal::WalError;

/// `tracing`'s macros need their level at compile time; this picks the
/// macro for a level known at run time.
macro_rules! log {
    ($level:expr, $($rest:tt)+) => {
        match $level {
            Level::ERROR => tracing::error!($($rest)+),
            Level::WARN => tracing::warn!($($rest)+),
            _ => tracing::info!($($rest)+),
        }
    };
}

/// Something that went wrong in the collector and did not stop it.
#[derive(Debug)]
pub enum Event {
    /// metrics.k8s.io's pod list failed: the tick is a gap.
    MetricsFailed { source: MetricsError },
    /// metrics.k8s.io's node list failed: node usage has a gap.
    NodeMetricsFailed { source: MetricsError },
    /// Items of a metrics list were unusable (malformed, negative, no
    /// name): skipped, the rest of the tick used. One event a list, counted
    /// once per item.
    MetricsItemsSkipped { skipped: Vec<SkippedItem> },
    /// A watch failed; it backs off and re-lists.
    WatchFailed {
        collection: Collection,
        source: watcher::Error,
    },
    /// A pod or node without a uid, namespace or name, or with a request
    /// beyond any machine: skipped, never billed.
    ObjectSkipped {
        collection: Collection,
        object: String,
        reason: String,
    },
    /// A node's capacity does not parse; it is priced from its machine type.
    NodeCapacityUnparsed { node: String, source: SourceError },
    /// An Autopilot rate the catalog lacks: the hour's pods of that class
    /// were billed at a stand-in rate (their `price_source` says which).
    AutopilotRateMissing {
        hour: DateTime<Utc>,
        source: MissingPrice,
    },
    /// A node's GPU label does not parse; its GPUs are read around it.
    NodeGpuLabelUnparsed { node: String, source: GpuLabelError },
    /// The write-ahead log refused a tick (a full disk): sampling goes on
    /// in memory and the unlogged ticks are retried every tick. Emitted once
    /// an episode ([`super::health::WriteHealth`]), not once a tick.
    WalAppendFailed { source: WalError },
    /// The dataset refused an hour (a full disk, an object store down): it
    /// stays in memory and in the write-ahead log and is retried every
    /// tick. Emitted once an episode.
    PublishFailed {
        hour: DateTime<Utc>,
        source: DatasetError,
    },
    /// The write-ahead log ended in a batch cut by a crash; that batch is lost.
    WalTruncated { path: PathBuf },
    /// A published hour's log could not be deleted; a restart republishes
    /// the hour (replacing it).
    WalDiscardFailed {
        hour: DateTime<Utc>,
        source: WalError,
    },
    /// The log of open hours another leader publishes could not be deleted.
    HandedOverWalDiscardFailed { hours: usize, source: WalError },
    /// Acquiring or renewing the lease failed; it is retried.
    LeaseFailed { source: LeaseError },
    /// Another replica holds the lease now: this one stops sampling.
    LeaseLost { identity: String },
    /// Releasing the lease at shutdown failed: a follower takes over once
    /// it expires.
    LeaseReleaseFailed { source: LeaseError },
    /// The leader election task ended abnormally (it panicked).
    ElectionTaskFailed { source: tokio::task::JoinError },
}

impl From<WatchError> for Event {
    fn from(error: WatchError) -> Event {
        match error {
            WatchError::Failed { collection, cause } => Event::WatchFailed {
                collection,
                source: cause,
            },
            WatchError::NodeCapacityUnparsed { node, cause } => Event::NodeCapacityUnparsed {
                node,
                source: cause,
            },
            WatchError::NodeGpuLabel { node, cause } => Event::NodeGpuLabelUnparsed {
                node,
                source: cause,
            },
            WatchError::Unusable {
                collection,
                object,
                reason,
            } => Event::ObjectSkipped {
                collection,
                object,
                reason,
            },
        }
    }
}

impl Event {
    /// The `kind` label it counts under in `kubetally_errors_total`. These
    /// values are what alerts select on: keep them stable (`docs/metrics.md`
    /// lists them).
    pub fn kind(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Event::MetricsFailed { .. } => "metrics",
            Event::NodeMetricsFailed { .. } => "node_metrics",
            Event::MetricsItemsSkipped { .. } => "metrics_item",
            Event::WatchFailed { collection, .. } => {
                return Cow::Owned(format!("watch_{}", collection.as_str()));
            }
            Event::ObjectSkipped { .. } => "object",
            Event::NodeCapacityUnparsed { .. } => "node_capacity",
            Event::NodeGpuLabelUnparsed { .. } => "node_gpu_label",
            Event::AutopilotRateMissing { .. } => "autopilot_rate",
            Event::WalAppendFailed { .. }
            | Event::WalDiscardFailed { .. }
            | Event::HandedOverWalDiscardFailed { .. } => "wal",
            Event::WalTruncated { .. } => "wal_truncated",
            Event::PublishFailed { .. } => "publish",
            Event::LeaseFailed { .. } => "lease",
            Event::LeaseLost { .. } => "lease_lost",
            Event::LeaseReleaseFailed { .. } => "lease_release",
            Event::ElectionTaskFailed { .. } => "leader_election",
        })
    }

    /// ERROR when samples are lost, WARN when the collector recovers.
    pub fn level(&self) -> Level {
        match self {
            Event::WalAppendFailed { .. }
            | Event::WalTruncated { .. }
            | Event::PublishFailed { .. } => Level::ERROR,
            Event::MetricsFailed { .. }
            | Event::NodeMetricsFailed { .. }
            | Event::MetricsItemsSkipped { .. }
            | Event::WatchFailed { .. }
            | Event::ObjectSkipped { .. }
            | Event::NodeCapacityUnparsed { .. }
            | Event::NodeGpuLabelUnparsed { .. }
            | Event::AutopilotRateMissing { .. }
            | Event::WalDiscardFailed { .. }
            | Event::HandedOverWalDiscardFailed { .. }
            | Event::LeaseFailed { .. }
            | Event::LeaseLost { .. }
            | Event::LeaseReleaseFailed { .. }
            | Event::ElectionTaskFailed { .. } => Level::WARN,
        }
    }

    /// Logs it once at its [`level`](Event::level) and counts it under its
    /// [`kind`](Event::kind).
    pub fn emit(self, stats: &Stats) {
        let kind = self.kind();
        let level = self.level();
        match &self {
            Event::MetricsFailed { source } => log!(
                level,
                %kind,
                error = %Causes(source),
                "metrics.k8s.io failed; this tick is a gap."
            ),
            Event::NodeMetricsFailed { source } => log!(
                level,
                %kind,
                error = %Causes(source),
                "Node metrics failed; node usage has a gap."
            ),
            Event::MetricsItemsSkipped { skipped } => log!(
                level,
                %kind,
                items = skipped.len(),
                first = %skipped.first().map(ToString::to_string).unwrap_or_default(),
                "Unusable metrics items skipped; the rest of the tick is used."
            ),
            Event::WatchFailed { collection, source } => log!(
                level,
                %kind,
                collection = collection.as_str(),
                error = %Causes(source),
                "Watch failed; backing off and re-listing."
            ),
            Event::ObjectSkipped {
                collection,
                object,
                reason,
            } => log!(
                level,
                %kind,
                collection = collection.as_str(),
                %object,
                %reason,
                "An object the collector cannot use was skipped; it is not billed."
            ),
            Event::NodeCapacityUnparsed { node, source } => log!(
                level,
                %kind,
                %node,
                error = %Causes(source),
                "Node capacity does not parse; pricing the node from its machine type alone."
            ),
            Event::AutopilotRateMissing { hour, source } => log!(
                level,
                %kind,
                %hour,
                error = %Causes(source),
                "An Autopilot rate is missing; its pods are billed at the general-purpose rate, or at nothing when that is missing too."
            ),
            Event::NodeGpuLabelUnparsed { node, source } => log!(
                level,
                %kind,
                %node,
                error = %Causes(source),
                "A GPU label of the node does not parse; counting its GPUs from the rest."
            ),
            Event::WalAppendFailed { source } => log!(
                level,
                %kind,
                path = %source.path().display(),
                error = %Causes(source),
                "Could not write the write-ahead log; sampling goes on in memory and the log is retried every tick (a crash before it succeeds loses the unlogged ticks). Not logged again until it recovers."
            ),
            Event::PublishFailed { hour, source } => log!(
                level,
                %kind,
                %hour,
                path = %source.location(),
                error = %Causes(source),
                "Could not publish an hour; it is kept in memory and in the write-ahead log and retried every interval, sampling goes on. Not logged again until a publish succeeds."
            ),
            Event::WalTruncated { path } => log!(
                level,
                %kind,
                path = %path.display(),
                "The write-ahead log ends in a batch cut by a crash; that batch is lost, the complete ones are kept."
            ),
            Event::WalDiscardFailed { hour, source } => log!(
                level,
                %kind,
                %hour,
                error = %Causes(source),
                "Could not delete a published hour's log; a restart republishes it (replacing, not adding)."
            ),
            Event::HandedOverWalDiscardFailed { hours, source } => log!(
                level,
                %kind,
                hours,
                error = %Causes(source),
                "Could not delete the log of hours another replica publishes."
            ),
            Event::LeaseFailed { source } => log!(
                level,
                %kind,
                error = %Causes(source),
                "Could not acquire or renew the lease; retrying."
            ),
            Event::LeaseLost { identity } => log!(
                level,
                %kind,
                %identity,
                "Lost the lease; following."
            ),
            Event::LeaseReleaseFailed { source } => log!(
                level,
                %kind,
                error = %Causes(source),
                "Could not release the lease; a follower takes over when it expires."
            ),
            Event::ElectionTaskFailed { source } => log!(
                level,
                %kind,
                error = %Causes(source),
                "The leader election task failed."
            ),
        }
        let count = match &self {
            Event::MetricsItemsSkipped { skipped } => skipped.len() as u64,
            _ => 1,
        };
        stats.errors_of(&kind, count);
    }
}

/// An error and its causes on one line, each cause once: `watching pods:
/// failed to perform initial object list: ApiError: …`.
///
/// Joining every cause with `: ` is not enough: some libraries (kube's
/// errors) also put their source's text in their own message, so the cause
/// would print twice. A cause whose text the line already holds is left out.
pub struct Causes<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Causes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut line = String::new();
        for cause in std::iter::successors(Some(self.0), |&cause| cause.source()) {
            let text = cause.to_string();
            if line.is_empty() {
                line = text;
            } else if !text.is_empty() && !line.contains(&text) {
                line.push_str(": ");
                line.push_str(&text);
            }
        }
        f.write_str(&line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Quantity;

    fn kube_error() -> kube::Error {
        kube::Error::Api(Box::default())
    }

    fn wal_error() -> WalError {
        WalError::Io {
            path: PathBuf::from("/wal/2026-11-02T00.arrow"),
            cause: std::io::Error::other("disk full"),
        }
    }

    fn lease_error() -> LeaseError {
        LeaseError {
            namespace: "kube-system".into(),
            name: "kubetally".into(),
            cause: kube_error(),
        }
    }

    fn capacity_error() -> SourceError {
        let cause = match Quantity::parse("lots") {
            Err(cause) => cause,
            Ok(quantity) => panic!("\"lots\" parsed as {quantity:?}"),
        };
        SourceError::BadCapacity {
            node: "n1".into(),
            resource: "cpu".into(),
            cause,
        }
    }

    fn join_error() -> tokio::task::JoinError {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let task = tokio::spawn(std::future::pending::<()>());
            task.abort();
            match task.await {
                Err(error) => error,
                Ok(()) => panic!("an aborted task finished"),
            }
        })
    }

    fn metrics_error() -> MetricsError {
        MetricsError::Request {
            path: crate::source::metrics::POD_METRICS_PATH,
            cause: kube_error(),
        }
    }

    /// Every variant with the kind and level it must have.
    fn every_event() -> Vec<(Event, &'static str, Level)> {
        vec![
            (
                Event::MetricsFailed {
                    source: metrics_error(),
                },
                "metrics",
                Level::WARN,
            ),
            (
                Event::NodeMetricsFailed {
                    source: metrics_error(),
                },
                "node_metrics",
                Level::WARN,
            ),
            (
                Event::WatchFailed {
                    collection: Collection::Pods,
                    source: watcher::Error::NoResourceVersion,
                },
                "watch_pods",
                Level::WARN,
            ),
            (
                Event::NodeCapacityUnparsed {
                    node: "n1".into(),
                    source: capacity_error(),
                },
                "node_capacity",
                Level::WARN,
            ),
            (
                Event::ObjectSkipped {
                    collection: Collection::Pods,
                    object: "shop/api-1".into(),
                    reason: "no uid".into(),
                },
                "object",
                Level::WARN,
            ),
            (
                Event::WalAppendFailed {
                    source: wal_error(),
                },
                "wal",
                Level::ERROR,
            ),
            (
                Event::WalTruncated {
                    path: PathBuf::from("/wal/2026-11-02T00.arrow"),
                },
                "wal_truncated",
                Level::ERROR,
            ),
            (
                Event::PublishFailed {
                    hour: DateTime::<Utc>::UNIX_EPOCH,
                    source: DatasetError::Io {
                        path: PathBuf::from("/data/allocation/part-00-0-0000.parquet"),
                        cause: std::io::Error::from_raw_os_error(28),
                    },
                },
                "publish",
                Level::ERROR,
            ),
            (
                Event::WalDiscardFailed {
                    hour: DateTime::<Utc>::UNIX_EPOCH,
                    source: wal_error(),
                },
                "wal",
                Level::WARN,
            ),
            (
                Event::HandedOverWalDiscardFailed {
                    hours: 2,
                    source: wal_error(),
                },
                "wal",
                Level::WARN,
            ),
            (
                Event::LeaseFailed {
                    source: lease_error(),
                },
                "lease",
                Level::WARN,
            ),
            (
                Event::LeaseLost {
                    identity: "pod-a".into(),
                },
                "lease_lost",
                Level::WARN,
            ),
            (
                Event::LeaseReleaseFailed {
                    source: lease_error(),
                },
                "lease_release",
                Level::WARN,
            ),
            (
                Event::ElectionTaskFailed {
                    source: join_error(),
                },
                "leader_election",
                Level::WARN,
            ),
        ]
    }

    #[test]
    fn each_event_has_its_kind_and_level() {
        for (event, kind, level) in every_event() {
            assert_eq!(event.kind(), kind, "{event:?}");
            assert_eq!(event.level(), level, "{event:?}");
        }
    }

    #[test]
    fn only_lost_samples_are_errors() {
        let errors: Vec<Cow<'static, str>> = every_event()
            .iter()
            .filter(|(event, _, _)| event.level() == Level::ERROR)
            .map(|(event, _, _)| event.kind())
            .collect();
        assert_eq!(errors, ["wal", "wal_truncated", "publish"]);
    }

    #[test]
    fn emitting_counts_each_event_under_its_kind() {
        let stats = Stats::default();
        for (event, _, _) in every_event() {
            event.emit(&stats);
        }
        let counted = stats.errors();
        assert_eq!(counted.get("wal"), Some(&3), "{counted:?}");
        assert_eq!(counted.get("watch_pods"), Some(&1), "{counted:?}");
        assert_eq!(counted.get("node_capacity"), Some(&1), "{counted:?}");
        assert_eq!(counted.get("publish"), Some(&1), "{counted:?}");
        assert_eq!(counted.values().sum::<u64>(), 14, "{counted:?}");
    }

    #[test]
    fn a_watch_error_becomes_the_event_of_its_collection() {
        let event = Event::from(WatchError::Failed {
            collection: Collection::Nodes,
            cause: watcher::Error::NoResourceVersion,
        });
        assert_eq!(event.kind(), "watch_nodes");
        let event = Event::from(WatchError::NodeCapacityUnparsed {
            node: "n1".into(),
            cause: capacity_error(),
        });
        assert!(
            matches!(&event, Event::NodeCapacityUnparsed { node, .. } if node == "n1"),
            "{event:?}"
        );
    }
}
