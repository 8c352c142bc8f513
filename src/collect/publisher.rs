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
//! sees a later hour without an earlier one) and drops a published hour's
//! write-ahead log at once. It publishes only while this replica leads: a
//! replica that has lost the lease holds its hours until the sampler drops
//! them (the new leader publishes them).

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::watch as signal;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::info;

use super::backlog::{self, SharedLog};
use super::health::WriteTarget;
use super::{CollectError, Event, Leadership, Stats, Summary, write_failed, write_succeeded};
use crate::allocate::{HourRows, HourSamples};
use crate::store::Dataset;

/// What the sampler asks of the publisher.
enum Command {
    /// Publish this closed hour after those already waiting.
    Publish(HourRows),
    /// Forget the hours waiting (another replica leads now and publishes
    /// them); answers with their starts, whose log is to be dropped.
    Drop(oneshot::Sender<BTreeSet<DateTime<Utc>>>),
    /// Answer once no hour waits, or the front one was refused or may not
    /// be published now (it is retried later).
    Settle(oneshot::Sender<()>),
}

/// The sampler's end of the publisher task.
pub(super) struct Publisher {
    commands: mpsc::UnboundedSender<Command>,
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
    /// Starts the task. `log` is the collector's write-ahead log, whose
    /// entries of an hour go once it is published; `leadership` says
    /// whether this replica may publish.
    pub(super) fn spawn(
        target: Target,
        stats: Arc<Stats>,
        log: SharedLog,
        leadership: signal::Receiver<Leadership>,
    ) -> Publisher {
        let (commands, inbox) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(target, stats, log, leadership, inbox));
        Publisher { commands, task }
    }

    /// Queues closed hours, in the order they closed.
    pub(super) fn send(&self, hours: impl IntoIterator<Item = HourRows>) {
        for hour in hours {
            // The task ends only when this sender is dropped or it fails
            // for good; `finish` reports that failure.
            let _ = self.commands.send(Command::Publish(hour));
        }
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

    /// Returns once every hour queued before has had its try: published,
    /// or refused and waiting for its retry (or for the lease).
    ///
    /// At shutdown the open hour is closed only after this: its rows, built
    /// beside an hour still being published, were the collector's peak
    /// memory (docs/performance.md, issue 21). The publisher takes the
    /// hours one at a time anyway, so the exit is no later.
    pub(super) async fn settle(&self) {
        let (reply, answer) = oneshot::channel();
        if self.commands.send(Command::Settle(reply)).is_ok() {
            // An error is the task's end, which `finish` reports.
            let _ = answer.await;
        }
    }

    /// Publishes what waits, one last try each, and ends the task: the
    /// run's summary of what it published.
    ///
    /// # Errors
    ///
    /// [`CollectError::Publish`] when the dataset still refuses an hour: it
    /// and the later ones stay in the write-ahead log for the next start.
    /// [`CollectError::Rows`] when the task had already failed for good.
    pub(super) async fn finish(self) -> Result<Summary, CollectError> {
        let Publisher { commands, task } = self;
        drop(commands);
        match task.await {
            Ok(result) => result,
            Err(join) => Err(CollectError::PublisherFailed(join)),
        }
    }
}

/// The task: publishes the oldest waiting hour until the sampler hangs up,
/// then gives each remaining hour one last try.
async fn run(
    target: Target,
    stats: Arc<Stats>,
    log: SharedLog,
    mut leadership: signal::Receiver<Leadership>,
    mut inbox: mpsc::UnboundedReceiver<Command>,
) -> Result<Summary, CollectError> {
    let mut summary = Summary::default();
    let mut waiting: VecDeque<Waiting> = VecDeque::new();
    // Set while the front hour waits for its next try.
    let mut retry_at: Option<tokio::time::Instant> = None;
    // Without an elector the sender is gone and the replica always leads.
    let mut leadership_open = true;
    let mut settling: Vec<oneshot::Sender<()>> = Vec::new();
    loop {
        let leading = leadership.borrow_and_update().leading;
        let idle = waiting.is_empty() || retry_at.is_some() || !leading;
        if idle {
            for reply in settling.drain(..) {
                let _ = reply.send(());
            }
        }
        let command = if idle {
            // Nothing to publish, the front hour was refused, or another
            // replica leads: wait for the sampler, the retry or the lease.
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
                changed = leadership.changed(), if leadership_open && !leading => {
                    leadership_open = changed.is_ok();
                    continue;
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
                waiting.push_back(Waiting::new(hour, target.write_samples));
                continue;
            }
            Some(Command::Drop(reply)) => {
                let hours = waiting.drain(..).map(|w| w.hour.start).collect();
                retry_at = None;
                let _ = reply.send(hours);
                continue;
            }
            Some(Command::Settle(reply)) => {
                settling.push(reply);
                continue;
            }
            None => {}
        }
        if !leadership.borrow().leading {
            continue;
        }
        let Some(front) = waiting.front_mut() else {
            continue;
        };
        match publish(&target, &stats, front, &mut summary).await {
            Ok(()) => {
                write_succeeded(&stats, WriteTarget::Dataset);
                if let Some(done) = waiting.pop_front() {
                    forget_logged(&log, &stats, &done.hour);
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
    // The sampler has hung up (shutdown; it dropped what this replica may
    // not publish): one last try each, oldest first.
    while let Some(mut hour) = waiting.pop_front() {
        publish(&target, &stats, &mut hour, &mut summary).await?;
        forget_logged(&log, &stats, &hour.hour);
    }
    Ok(summary)
}

/// A closed hour waiting for its publish.
struct Waiting {
    hour: Arc<HourRows>,
    /// How many `samples` rows are published (or none are to be): its
    /// samples are freed then, before the other tables are made, and a
    /// retry of a later table does not write them again. At 150,000 pods
    /// they are ~160 MB, held beside the `allocation` table's batch at the
    /// collector's peak (docs/performance.md, issue 21).
    samples_out: Option<usize>,
    /// Where the `samples` rows are read from, for the log.
    samples_from: &'static str,
}

impl Waiting {
    fn new(hour: HourRows, write_samples: bool) -> Waiting {
        let samples_from = match hour.samples {
            HourSamples::Kept(_) => "memory",
            HourSamples::Logged(_) => "write-ahead log",
        };
        let mut waiting = Waiting {
            hour: Arc::new(hour),
            samples_out: None,
            samples_from,
        };
        if !write_samples {
            waiting.free_samples();
        }
        waiting
    }

    /// Records the hour's samples as out and frees them.
    fn free_samples(&mut self) {
        self.samples_out = Some(self.hour.samples.len());
        // The tables' rows hold the hour only while they are published.
        if let Some(hour) = Arc::get_mut(&mut self.hour) {
            hour.samples = HourSamples::default();
        }
    }
}

/// Drops a published full hour from the write-ahead log (a partial hour's
/// log stays: the next start completes the hour).
fn forget_logged(log: &SharedLog, stats: &Stats, hour: &HourRows) {
    if hour.partial_until.is_some() {
        return;
    }
    let hours = BTreeSet::from([hour.start]);
    if let Err(source) = backlog::lock(log).forget(&hours) {
        Event::WalDiscardFailed {
            hour: hour.start,
            source,
        }
        .emit(stats);
    }
}

/// Publishes one hour's tables, `allocation` last (a reader that sees an
/// hour's allocation sees its nodes), and adds it to the summary.
async fn publish(
    target: &Target,
    stats: &Stats,
    waiting: &mut Waiting,
    summary: &mut Summary,
) -> Result<(), CollectError> {
    use crate::store::schema::{ALLOCATION, NODES, RESOURCES, SAMPLES, WORKLOADS};
    let start = waiting.hour.start;
    use crate::store::{HourPart, HourTable};
    // Rows that do not fit their table are a defect, not worth a retry.
    let publish_error = |cause| match cause {
        crate::store::DatasetError::Rows { table, cause } => CollectError::Rows {
            table,
            hour: start,
            cause,
        },
        cause => CollectError::Publish { hour: start, cause },
    };
    // Each table is made and encoded a row group at a time (off the async
    // threads): the hour is never whole as Arrow rows.
    if waiting.samples_out.is_none() {
        let rows = Arc::new(HourTable {
            hour: waiting.hour.clone(),
            table: HourPart::Samples,
        });
        target
            .dataset
            .publish_rows(&SAMPLES, start, rows)
            .await
            .map_err(publish_error)?;
        waiting.free_samples();
    }
    for (table, part) in [
        (&NODES, HourPart::Nodes),
        (&WORKLOADS, HourPart::Workloads),
        (&RESOURCES, HourPart::Resources),
        (&ALLOCATION, HourPart::Allocation),
    ] {
        let rows = Arc::new(HourTable {
            hour: waiting.hour.clone(),
            table: part,
        });
        target
            .dataset
            .publish_rows(table, start, rows)
            .await
            .map_err(publish_error)?;
    }
    let hour = &waiting.hour;
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
    summary.add(hour);
    info!(
        hour = %start,
        partial = hour.partial_until.is_some(),
        allocation_rows = hour.allocation.len(),
        node_rows = hour.nodes.len(),
        resource_rows = hour.resources.len(),
        samples = waiting.samples_out.unwrap_or_default(),
        samples_from = waiting.samples_from,
        "published"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::backlog::Log;
    use crate::store::Target as Place;
    use chrono::TimeZone;
    use std::time::Duration;

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

    fn publisher(
        root: std::path::PathBuf,
        stats: &Arc<Stats>,
        leading: bool,
    ) -> (Publisher, signal::Sender<Leadership>) {
        let (lease, leadership) = signal::channel(Leadership {
            leading,
            took_over: false,
        });
        let publisher = Publisher::spawn(
            Target {
                dataset: Dataset {
                    target: Place::Local(root),
                    cluster: "c".into(),
                    writer: "w".into(),
                },
                write_samples: true,
                retry: Duration::from_millis(10),
            },
            stats.clone(),
            Arc::new(std::sync::Mutex::new(Log::default())),
            leadership,
        );
        (publisher, lease)
    }

    /// Waits (at most 20 s) until `done`.
    async fn until(what: &str, done: impl Fn() -> bool) {
        let waited = tokio::time::timeout(Duration::from_secs(20), async {
            while !done() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        assert!(waited.is_ok(), "waited 20 s for {what}");
    }

    /// A dataset root every publish fails at: a file where its folder
    /// should be.
    fn blocked(dir: &tempfile::TempDir) -> std::path::PathBuf {
        let root = dir.path().join("dataset");
        std::fs::write(&root, b"not a folder").expect("file");
        root
    }

    /// Space returns: the root can be a folder.
    fn unblock(root: &std::path::Path) {
        std::fs::remove_file(root).expect("remove");
        std::fs::create_dir(root).expect("folder");
    }

    /// A publisher whose dataset has refused hours 1 and 2.
    struct Refused {
        root: std::path::PathBuf,
        stats: Arc<Stats>,
        publisher: Publisher,
        _lease: signal::Sender<Leadership>,
    }

    async fn two_hours_refused(dir: &tempfile::TempDir) -> Refused {
        let root = blocked(dir);
        let stats = Arc::new(Stats::default());
        let (publisher, _lease) = publisher(root.clone(), &stats, true);
        publisher.send([rows(hour(1), false), rows(hour(2), false)]);
        until("the refusal", || stats.writes.failing().is_some()).await;
        Refused {
            root,
            stats,
            publisher,
            _lease,
        }
    }

    fn files(root: &std::path::Path) -> usize {
        std::fs::read_dir(root.join("allocation/cluster=c/date=2026-03-01"))
            .map_or(0, Iterator::count)
    }

    #[tokio::test]
    async fn hours_go_out_in_order_and_a_partial_hour_is_not_counted() {
        let dir = tempfile::tempdir().expect("temp dir");
        let stats = Arc::new(Stats::default());
        let (publisher, _lease) = publisher(dir.path().to_owned(), &stats, true);
        publisher.send([
            rows(hour(1), false),
            rows(hour(2), false),
            rows(hour(3), true),
        ]);
        let summary = publisher.finish().await.expect("published");
        assert_eq!(
            summary.hours_published, 2,
            "the partial hour is not counted"
        );
        assert_eq!(Stats::get(&stats.hours_published), 3);
        assert_eq!(files(dir.path()), 3);
    }

    #[tokio::test]
    async fn a_refused_hour_is_retried_until_it_goes_out() {
        let dir = tempfile::tempdir().expect("temp dir");
        let refused = two_hours_refused(&dir).await;
        let (root, stats, publisher) = (&refused.root, &refused.stats, refused.publisher);
        assert!(
            !publisher.stopped(),
            "a refused publish does not end the task"
        );
        assert_eq!(Stats::get(&stats.hours_published), 0);
        // The retries alone publish both, oldest first.
        unblock(root);
        until("both hours", || Stats::get(&stats.hours_published) == 2).await;
        assert!(stats.writes.failing().is_none(), "the episode ended");
        let summary = publisher.finish().await.expect("published");
        assert_eq!(summary.hours_published, 2);
        assert_eq!(files(root), 2);
    }

    #[tokio::test]
    async fn settling_waits_for_the_hours_queued_before_but_not_for_a_refused_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let stats = Arc::new(Stats::default());
        let (publisher, _lease) = publisher(dir.path().to_owned(), &stats, true);
        publisher.send([rows(hour(1), false), rows(hour(2), false)]);
        publisher.settle().await;
        assert_eq!(
            Stats::get(&stats.hours_published),
            2,
            "settled before both hours were published"
        );
        publisher.finish().await.expect("published");

        // A refused hour waits for its retry; settling does not wait with it.
        let blocked_dir = tempfile::tempdir().expect("temp dir");
        let refused = two_hours_refused(&blocked_dir).await;
        let settled =
            tokio::time::timeout(Duration::from_secs(20), refused.publisher.settle()).await;
        assert!(settled.is_ok(), "settling waited for a refused hour");
        assert_eq!(Stats::get(&refused.stats.hours_published), 0);
    }

    /// Three samples of one container in the hour starting `start`.
    fn three_samples(start: DateTime<Utc>) -> crate::allocate::SortedSamples {
        use crate::allocate::runs::test_context;
        use crate::allocate::{Sample, SampleRuns};
        let context = test_context("ns", "p", "c");
        (1..=3)
            .map(|minute| Sample {
                ts: start + chrono::Duration::minutes(minute),
                window_seconds: 30.0,
                context: context.clone(),
                cpu_usage_millicores: 100 * minute,
                memory_usage_bytes: 1 << 20,
            })
            .collect::<SampleRuns>()
            .sorted()
    }

    /// Rows in the `samples` files of 2026-03-01.
    fn samples_rows(root: &std::path::Path) -> i64 {
        let dir = root.join("samples/cluster=c/date=2026-03-01");
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|entry| {
                        let file = std::fs::File::open(entry.path()).expect("open");
                        parquet::file::reader::SerializedFileReader::new(file)
                            .map(|reader| {
                                use parquet::file::reader::FileReader;
                                reader.metadata().file_metadata().num_rows()
                            })
                            .expect("a Parquet file")
                    })
                    .sum()
            })
            .unwrap_or(0)
    }

    #[tokio::test]
    async fn samples_out_are_freed_and_a_retry_of_a_later_table_keeps_them() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("dataset");
        std::fs::create_dir(&root).expect("folder");
        // The `nodes` table is refused: a file where its folder goes.
        std::fs::write(root.join("nodes"), b"not a folder").expect("file");
        let stats = Arc::new(Stats::default());
        let (publisher, _lease) = publisher(root.clone(), &stats, true);
        let mut closed = rows(hour(1), false);
        closed.samples = HourSamples::Kept(three_samples(hour(1)));
        publisher.send([closed]);
        until("the refusal", || stats.writes.failing().is_some()).await;
        assert_eq!(samples_rows(&root), 3, "the samples went out first");
        std::fs::remove_file(root.join("nodes")).expect("remove");
        until("the hour", || Stats::get(&stats.hours_published) == 1).await;
        publisher.finish().await.expect("published");
        assert_eq!(
            samples_rows(&root),
            3,
            "the retry wrote the freed samples again, empty"
        );

        let mut waiting = Waiting::new(rows(hour(2), false), true);
        Arc::get_mut(&mut waiting.hour).expect("one owner").samples =
            HourSamples::Kept(three_samples(hour(2)));
        waiting.free_samples();
        assert_eq!(waiting.samples_out, Some(3));
        assert!(waiting.hour.samples.is_empty(), "the samples were kept");
        let unwritten = Waiting::new(rows(hour(3), false), false);
        assert_eq!(unwritten.samples_out, Some(0), "not to be written");
    }

    #[tokio::test]
    async fn a_drop_hands_back_what_waits_and_nothing_is_published() {
        let dir = tempfile::tempdir().expect("temp dir");
        let refused = two_hours_refused(&dir).await;
        let (root, publisher) = (&refused.root, refused.publisher);
        let dropped = publisher.drop_waiting().await;
        assert_eq!(dropped, BTreeSet::from([hour(1), hour(2)]));
        unblock(root);
        let summary = publisher.finish().await.expect("nothing left to fail");
        assert_eq!(summary.hours_published, 0);
        assert_eq!(files(root), 0);
    }

    #[tokio::test]
    async fn a_replica_that_does_not_lead_holds_its_hours() {
        let dir = tempfile::tempdir().expect("temp dir");
        let stats = Arc::new(Stats::default());
        let (publisher, lease) = publisher(dir.path().to_owned(), &stats, false);
        publisher.send([rows(hour(1), false)]);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(files(dir.path()), 0, "published without the lease");
        lease
            .send(Leadership {
                leading: true,
                took_over: false,
            })
            .expect("the publisher listens");
        until("the hour", || Stats::get(&stats.hours_published) == 1).await;
        assert_eq!(
            publisher.finish().await.expect("published").hours_published,
            1
        );
    }

    #[tokio::test]
    async fn an_hour_still_refused_at_the_end_is_the_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let stats = Arc::new(Stats::default());
        let (publisher, _lease) = publisher(blocked(&dir), &stats, true);
        publisher.send([rows(hour(4), false)]);
        let summary = publisher.finish().await;
        assert!(
            matches!(summary, Err(CollectError::Publish { hour: h, .. }) if h == hour(4)),
            "{summary:?}"
        );
    }
}
