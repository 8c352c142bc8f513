//! Publishing closed hours on a task of their own.
//!
//! An hour's publish encodes four or five Parquet files, fsyncs them (or
//! PUTs them to an object store) and renames them into place: tenths of a
//! second on a local disk, seconds against a slow bucket, forever against a
//! full one. Done on the sampling task it delayed the next metrics poll by
//! that long — a sample gap at every hour's end (the soak test counted 98 in
//! a week at 2,400x). Here the sampler hands a closed hour over and goes on;
//! the publisher publishes the hours in the order they closed, retries a
//! refused one every interval (the older hours first, so a reader never
//! sees a later hour without an earlier one) and tells the sampler which
//! hours are out, so their write-ahead log can go.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::info;

use super::health::WriteTarget;
use super::{CollectError, Event, Stats, Summary, write_failed, write_succeeded};
use crate::allocate::HourRows;
use crate::store::Dataset;

/// What the sampler asks of the publisher.
enum Command {
    /// Publish this closed hour after those already waiting.
    Publish(HourRows),
    /// Forget the hours waiting (another replica leads now and publishes
    /// them); answers with their starts, whose log is to be dropped.
    Drop(oneshot::Sender<BTreeSet<DateTime<Utc>>>),
}

/// The sampler's end of the publisher task.
pub(super) struct Publisher {
    commands: mpsc::UnboundedSender<Command>,
    published: mpsc::UnboundedReceiver<DateTime<Utc>>,
    task: JoinHandle<Result<Summary, CollectError>>,
}

/// What the task needs of the collector's configuration.
pub(super) struct Target {
    pub dataset: Dataset,
    pub write_samples: bool,
    /// How long a refused hour waits before its next try.
    pub retry: std::time::Duration,
}

impl Publisher {
    pub(super) fn spawn(target: Target, stats: Arc<Stats>) -> Publisher {
        let (commands, inbox) = mpsc::unbounded_channel();
        let (outbox, published) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(target, stats, inbox, outbox));
        Publisher {
            commands,
            published,
            task,
        }
    }

    /// Queues closed hours, in the order they closed.
    pub(super) fn send(&self, hours: impl IntoIterator<Item = HourRows>) {
        for hour in hours {
            // The task ends only when this sender is dropped or it fails
            // for good; `finish` reports that failure.
            let _ = self.commands.send(Command::Publish(hour));
        }
    }

    /// The full hours published since the last call: their log can go.
    pub(super) fn published(&mut self) -> Vec<DateTime<Utc>> {
        let mut hours = Vec::new();
        while let Ok(hour) = self.published.try_recv() {
            hours.push(hour);
        }
        hours
    }

    /// Whether the task has ended before [`Publisher::finish`]: it failed
    /// for good, and `finish` says why.
    pub(super) fn stopped(&self) -> bool {
        self.task.is_finished()
    }

    /// Drops the hours waiting and returns their starts. An hour being
    /// published at that moment is published still.
    pub(super) async fn drop_waiting(&self) -> BTreeSet<DateTime<Utc>> {
        let (reply, answer) = oneshot::channel();
        if self.commands.send(Command::Drop(reply)).is_err() {
            return BTreeSet::new();
        }
        answer.await.unwrap_or_default()
    }

    /// Publishes what waits, one last try each, and ends the task: the
    /// run's summary of what it published and the full hours published
    /// since the last [`Publisher::published`].
    ///
    /// # Errors
    ///
    /// [`CollectError::Publish`] when the dataset still refuses an hour: it
    /// and the later ones stay in the write-ahead log for the next start.
    pub(super) async fn finish(self) -> (Result<Summary, CollectError>, Vec<DateTime<Utc>>) {
        let Publisher {
            commands,
            mut published,
            task,
        } = self;
        drop(commands);
        let result = match task.await {
            Ok(result) => result,
            Err(join) => Err(CollectError::PublisherFailed(join)),
        };
        let mut hours = Vec::new();
        while let Ok(hour) = published.try_recv() {
            hours.push(hour);
        }
        (result, hours)
    }
}

/// The task: publishes the oldest waiting hour until the sampler hangs up,
/// then gives each remaining hour one last try.
async fn run(
    target: Target,
    stats: Arc<Stats>,
    mut inbox: mpsc::UnboundedReceiver<Command>,
    outbox: mpsc::UnboundedSender<DateTime<Utc>>,
) -> Result<Summary, CollectError> {
    let mut summary = Summary::default();
    let mut waiting: VecDeque<Arc<HourRows>> = VecDeque::new();
    // Set while the front hour waits for its next try.
    let mut retry_at: Option<tokio::time::Instant> = None;
    loop {
        let command = if waiting.is_empty() || retry_at.is_some() {
            // Nothing to publish, or the front hour was refused: wait for
            // the sampler, or for the retry.
            let retry = async {
                match retry_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                command = inbox.recv() => match command {
                    Some(command) => Some(command),
                    None => break,
                },
                () = retry => {
                    retry_at = None;
                    None
                }
            }
        } else {
            // Take what arrived before publishing the next hour, so a drop
            // is not kept waiting behind a backlog.
            match inbox.try_recv() {
                Ok(command) => Some(command),
                Err(mpsc::error::TryRecvError::Empty) => None,
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            }
        };
        match command {
            Some(Command::Publish(hour)) => {
                waiting.push_back(Arc::new(hour));
                continue;
            }
            Some(Command::Drop(reply)) => {
                let hours = waiting.drain(..).map(|hour| hour.start).collect();
                retry_at = None;
                let _ = reply.send(hours);
                continue;
            }
            None => {}
        }
        let Some(hour) = waiting.front().cloned() else {
            continue;
        };
        match publish(&target, &stats, hour.clone(), &mut summary).await {
            Ok(()) => {
                write_succeeded(&stats, WriteTarget::Dataset);
                waiting.pop_front();
                if hour.partial_until.is_none() {
                    let _ = outbox.send(hour.start);
                }
            }
            Err(CollectError::Publish { hour, cause }) => {
                retry_at = Some(tokio::time::Instant::now() + target.retry);
                write_failed(&stats, WriteTarget::Dataset, || Event::PublishFailed {
                    hour,
                    source: cause,
                });
            }
            Err(other) => return Err(other),
        }
    }
    // The sampler has hung up (shutdown): one last try each, oldest first.
    while let Some(hour) = waiting.pop_front() {
        publish(&target, &stats, hour.clone(), &mut summary).await?;
        if hour.partial_until.is_none() {
            let _ = outbox.send(hour.start);
        }
    }
    Ok(summary)
}

/// The batches of one hour, built off the async threads.
struct Batches {
    allocation: arrow::record_batch::RecordBatch,
    nodes: arrow::record_batch::RecordBatch,
    workloads: arrow::record_batch::RecordBatch,
    resources: arrow::record_batch::RecordBatch,
    samples: Option<arrow::record_batch::RecordBatch>,
}

impl Batches {
    fn build(hour: &HourRows, write_samples: bool) -> Result<Batches, CollectError> {
        use crate::store::{
            allocation_batch, nodes_batch, resources_batch, samples_batch, workloads_batch,
        };
        let rows_error = |table| super::rows_error(table, hour.start);
        Ok(Batches {
            allocation: allocation_batch(&hour.allocation).map_err(rows_error("allocation"))?,
            nodes: nodes_batch(&hour.nodes).map_err(rows_error("nodes"))?,
            workloads: workloads_batch(&hour.workloads).map_err(rows_error("workloads"))?,
            resources: resources_batch(&hour.resources).map_err(rows_error("resources"))?,
            samples: if write_samples {
                Some(samples_batch(&hour.samples).map_err(rows_error("samples"))?)
            } else {
                None
            },
        })
    }
}

/// Publishes one hour's tables, `allocation` last (a reader that sees an
/// hour's allocation sees its nodes), and adds it to the summary.
async fn publish(
    target: &Target,
    stats: &Stats,
    hour: Arc<HourRows>,
    summary: &mut Summary,
) -> Result<(), CollectError> {
    use crate::store::schema::{ALLOCATION, NODES, RESOURCES, SAMPLES, WORKLOADS};
    let start = hour.start;
    let write_samples = target.write_samples;
    let rows = hour.clone();
    let batches = tokio::task::spawn_blocking(move || Batches::build(&rows, write_samples))
        .await
        .map_err(CollectError::PublisherFailed)??;
    let publish_error = |cause| CollectError::Publish { hour: start, cause };
    let dataset = &target.dataset;
    if let Some(samples) = &batches.samples {
        dataset
            .publish(&SAMPLES, start, samples)
            .await
            .map_err(publish_error)?;
    }
    for (table, batch) in [
        (&NODES, &batches.nodes),
        (&WORKLOADS, &batches.workloads),
        (&RESOURCES, &batches.resources),
        (&ALLOCATION, &batches.allocation),
    ] {
        dataset
            .publish(table, start, batch)
            .await
            .map_err(publish_error)?;
    }
    Stats::add(&stats.hours_published, 1);
    Stats::set(
        &stats.last_publish_seconds,
        Utc::now().timestamp().max(0) as u64,
    );
    let unpriced = hour
        .nodes
        .iter()
        .filter(|n| n.price_source == "default")
        .count();
    Stats::set(&stats.unpriced_nodes, unpriced as u64);
    for missing in &hour.missing_prices {
        Event::AutopilotRateMissing {
            hour: start,
            source: missing.clone(),
        }
        .emit(stats);
    }
    summary.add(&hour);
    info!(
        hour = %start,
        partial = hour.partial_until.is_some(),
        allocation_rows = hour.allocation.len(),
        node_rows = hour.nodes.len(),
        resource_rows = hour.resources.len(),
        samples = hour.samples.len(),
        "published"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Target as Place;
    use chrono::TimeZone;

    fn hour(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, h, 0, 0)
            .single()
            .unwrap_or_default()
    }

    fn rows(start: DateTime<Utc>, partial: bool) -> HourRows {
        HourRows {
            start,
            partial_until: partial.then(|| start + chrono::Duration::minutes(20)),
            ..HourRows::default()
        }
    }

    fn publisher(root: std::path::PathBuf, stats: &Arc<Stats>) -> Publisher {
        Publisher::spawn(
            Target {
                dataset: Dataset {
                    target: Place::Local(root),
                    cluster: "c".into(),
                    writer: "w".into(),
                },
                write_samples: true,
                retry: std::time::Duration::from_millis(10),
            },
            stats.clone(),
        )
    }

    #[tokio::test]
    async fn hours_go_out_in_order_and_only_full_ones_release_their_log() {
        let dir = tempfile::tempdir().expect("temp dir");
        let stats = Arc::new(Stats::default());
        let publisher = publisher(dir.path().to_owned(), &stats);
        publisher.send([
            rows(hour(1), false),
            rows(hour(2), false),
            rows(hour(3), true),
        ]);
        let (summary, released) = publisher.finish().await;
        let summary = summary.expect("published");
        assert_eq!(
            summary.hours_published, 2,
            "the partial hour is not counted"
        );
        assert_eq!(released, vec![hour(1), hour(2)]);
        assert_eq!(Stats::get(&stats.hours_published), 3);
        let written = dir.path().join("allocation/cluster=c/date=2026-03-01");
        assert_eq!(std::fs::read_dir(written).expect("partition").count(), 3);
    }

    #[tokio::test]
    async fn a_refused_hour_is_retried_and_a_drop_hands_back_what_waits() {
        let dir = tempfile::tempdir().expect("temp dir");
        // A file where the dataset's folder should be: every publish fails.
        let root = dir.path().join("dataset");
        std::fs::write(&root, b"not a folder").expect("file");
        let stats = Arc::new(Stats::default());
        let mut publisher = publisher(root.clone(), &stats);
        publisher.send([rows(hour(1), false), rows(hour(2), false)]);
        // Refused, retried every 10 ms, one episode.
        while stats.writes.failing().is_none() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(publisher.published().is_empty());
        assert!(
            !publisher.stopped(),
            "a refused publish does not end the task"
        );
        let dropped = publisher.drop_waiting().await;
        assert_eq!(dropped, BTreeSet::from([hour(1), hour(2)]));
        let (summary, released) = publisher.finish().await;
        assert_eq!(summary.expect("nothing left to fail").hours_published, 0);
        assert!(released.is_empty());
    }

    #[tokio::test]
    async fn an_hour_still_refused_at_the_end_is_the_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("dataset");
        std::fs::write(&root, b"not a folder").expect("file");
        let stats = Arc::new(Stats::default());
        let publisher = publisher(root, &stats);
        publisher.send([rows(hour(4), false)]);
        let (summary, released) = publisher.finish().await;
        assert!(
            matches!(summary, Err(CollectError::Publish { hour: h, .. }) if h == hour(4)),
            "{summary:?}"
        );
        assert!(released.is_empty());
    }
}
