//! The collector: watch the cluster, sample the metrics API every interval,
//! close hours as sample time passes them, price them and publish them.
//!
//! The API server failing (errors, cut watches, 410 Gone, metrics.k8s.io
//! down) never ends the loop: watches back off and re-list, a failed metrics
//! list is a counted gap, and the next tick goes on. Neither does the disk
//! failing (full, read-only): a tick the write-ahead log refuses waits in a
//! [`backlog::Backlog`] and an hour the dataset refuses waits in the
//! [`publisher`]; both are retried, one ERROR an episode ([`health`]),
//! `/readyz` not ready meanwhile. Closed hours are published on a task of
//! their own, so a slow or refused publish never delays a sample.

pub mod backlog;
pub mod event;
pub mod health;
pub mod leader;
pub mod ledger;
mod publisher;
pub mod resources;
pub mod stats;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use kube::Client;
use tokio::sync::watch as signal;
use tracing::info;

use backlog::{Log, SharedLog};
use health::{Episode, WriteTarget};
use publisher::Publisher;

pub use event::Event;
pub use leader::{LeaderConfig, Leadership};
pub use ledger::Ledger;
pub use stats::Stats;

use crate::allocate::{HourRows, HourSamples, SHARED, Sample, TenantRules};
use crate::cluster::{Inventory, SharedInventory, lock};
use crate::pricing::PriceBook;
use crate::source::metrics;
use crate::source::watch::{self, OnError};
use crate::store::wal::{TickLog, Wal, WalError};
use crate::store::{ArrowError, Dataset, DatasetError};

/// When to stop on its own.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StopAfter {
    /// After this many metrics samples (ticks with data).
    pub samples: Option<u64>,
    /// After this much sample time.
    pub duration: Option<Duration>,
}

/// How to collect.
pub struct CollectConfig {
    pub dataset: Dataset,
    /// Real time between metrics polls.
    pub interval: std::time::Duration,
    pub stop: StopAfter,
    pub write_samples: bool,
    pub tenants: TenantRules,
    pub prices: Arc<PriceBook>,
    /// Where the write-ahead log of the open hours lives; none: no log (a
    /// crash loses the open hour).
    pub wal_dir: Option<std::path::PathBuf>,
    /// Compete for a Lease and sample and write only while holding it
    /// (`--leader-elect`); none: always lead.
    pub leader: Option<LeaderConfig>,
    /// Bounds on each metrics.k8s.io response (size, time); a response
    /// beyond them is a gap, not an out-of-memory or a stuck loop.
    pub metrics_limits: metrics::Limits,
}

/// Why the collector stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// At shutdown only: while running, a refused hour is retried.
    #[error("publishing the hour starting {hour} (its samples stay in the write-ahead log)")]
    Publish {
        hour: DateTime<Utc>,
        #[source]
        cause: DatasetError,
    },
    #[error("opening the write-ahead log")]
    Wal(#[from] WalError),
    #[error("building the {table} rows of the hour starting {hour}")]
    Rows {
        table: &'static str,
        hour: DateTime<Utc>,
        #[source]
        cause: ArrowError,
    },
    #[error("the publishing task failed")]
    PublisherFailed(#[source] tokio::task::JoinError),
}

/// What a run produced, for the demo and the logs.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Summary {
    pub hours_published: u64,
    pub samples: u64,
    pub first_sample: Option<DateTime<Utc>>,
    pub last_sample: Option<DateTime<Utc>>,
    /// Cost by tenant (`__shared__` included), USD.
    pub cost_by_tenant: BTreeMap<String, f64>,
    pub node_cost_usd: f64,
    pub idle_cost_usd: f64,
    /// Disks, load balancers and the cluster fee by `resources.kind`, USD.
    pub resource_cost_usd: BTreeMap<String, f64>,
    /// What GKE Autopilot billed for pods (rows priced `autopilot…`), USD;
    /// part of `cost_by_tenant`, and not of `node_cost_usd`.
    pub autopilot_cost_usd: f64,
    pub errors: BTreeMap<String, u64>,
}

impl Summary {
    /// Adds a published hour's costs.
    fn add(&mut self, hour: &HourRows) {
        // A partial hour published earlier is replaced, so count it once.
        if hour.partial_until.is_none() {
            self.hours_published += 1;
        }
        for row in &hour.allocation {
            *self
                .cost_by_tenant
                .entry(row.tenant.to_string())
                .or_default() += row.total_cost_usd();
            if row
                .price_source
                .starts_with(crate::allocate::autopilot::PRICE_SOURCE)
            {
                self.autopilot_cost_usd += row.total_cost_usd();
            }
        }
        for node in &hour.nodes {
            self.node_cost_usd += node.total_cost_usd();
            self.idle_cost_usd += node.idle_cost_usd();
        }
        for row in &hour.resources {
            *self
                .cost_by_tenant
                .entry(row.tenant.to_string())
                .or_default() += row.cost_usd;
            *self
                .resource_cost_usd
                .entry(row.kind.to_owned())
                .or_default() += row.cost_usd;
        }
    }
}

/// The open hours, their write-ahead log, the ticks it refused and the
/// closed hours being published.
struct Books<'a> {
    ledger: &'a mut Ledger,
    /// Shared with the publisher, which drops a published hour's entries.
    log: &'a SharedLog,
    publisher: &'a mut Publisher,
}

impl Books<'_> {
    /// Hands closed hours to the publisher. An hour whose samples the
    /// write-ahead log holds, every one, drops them here: its `samples`
    /// table is merged from the log, and the ~160 MB an hour of 150,000 pods
    /// keeps are not held while the hour is published.
    fn publish(&mut self, mut hours: Vec<HourRows>) {
        if let Some(wal) = &backlog::lock(self.log).wal {
            for hour in &mut hours {
                if let HourSamples::Kept(samples) = &hour.samples
                    && let Some(logged) = wal.sorted_samples(hour.start, samples.len())
                {
                    hour.samples = HourSamples::Logged(logged);
                }
            }
        }
        self.publisher.send(hours);
    }

    /// Forgets the open hours, the closed hours not yet published and their
    /// log: another replica publishes them.
    async fn drop_open_hours(&mut self, collector: &Collector, why: &str) {
        let mut hours: std::collections::BTreeSet<DateTime<Utc>> =
            self.ledger.open_hours().into_iter().collect();
        hours.extend(self.publisher.drop_waiting().await);
        let mut log = backlog::lock(self.log);
        hours.extend(log.backlog.hours());
        log.backlog = backlog::Backlog::default();
        if !hours.is_empty() {
            info!(
                hours = hours.len(),
                "{why}: dropping the open hours; the other leader publishes them."
            );
        }
        *self.ledger = Ledger::default();
        if let Err(source) = log.forget(&hours) {
            Event::HandedOverWalDiscardFailed {
                hours: hours.len(),
                source,
            }
            .emit(&collector.stats);
        }
    }
}

/// A running collector's shared state (for `/metrics` and `/readyz`).
pub struct Collector {
    pub inventory: SharedInventory,
    pub stats: Arc<Stats>,
    /// The newest tick's samples, joined and attributed.
    pub latest: Arc<Mutex<Vec<Sample>>>,
}

impl Default for Collector {
    fn default() -> Collector {
        Collector {
            inventory: Arc::new(Mutex::new(Inventory::default())),
            stats: Arc::new(Stats::default()),
            latest: Arc::new(Mutex::new(Vec::new())),
        }
    }
}

impl Collector {
    /// Runs until `shutdown` resolves or the stop condition is met, then
    /// publishes everything, including the open hour as a partial hour.
    ///
    /// # Errors
    ///
    /// [`CollectError`] when an hour cannot be published (the local disk or
    /// object store refuses it); what was published before stays.
    pub async fn run(
        &self,
        client: Client,
        config: &CollectConfig,
        shutdown: impl Future<Output = ()>,
    ) -> Result<Summary, CollectError> {
        let stats = self.stats.clone();
        let on_error: OnError = Arc::new(move |error| Event::from(error).emit(&stats));
        let mut ledger = Ledger::default();
        let wal = match &config.wal_dir {
            Some(dir) => Some(Wal::open(
                dir,
                &config.dataset.cluster,
                &config.dataset.writer,
            )?),
            None => None,
        };
        if let Some(wal) = &wal {
            let replay = wal.replay()?;
            for path in &replay.truncated {
                Event::WalTruncated { path: path.clone() }.emit(&self.stats);
            }
            if !replay.log.samples.is_empty() {
                info!(
                    samples = replay.log.samples.len(),
                    "replaying the write-ahead log"
                );
            }
            ledger.replay(replay.log, &self.stats);
        }
        let watchers = watch::spawn_all(&client, &self.inventory, &on_error);
        let (leadership_tx, mut leadership) = signal::channel(Leadership {
            leading: config.leader.is_none(),
            took_over: false,
        });
        let (stop_electing, electing) = signal::channel(false);
        let elector = config.leader.clone().map(|leader| {
            Stats::set(&self.stats.leader_election, 1);
            tokio::spawn(leader::elect(
                client.clone(),
                leader,
                leadership_tx,
                electing,
                self.stats.clone(),
            ))
        });
        if elector.is_none() {
            Stats::set(&self.stats.leader, 1);
        }
        let log: SharedLog = Arc::new(Mutex::new(Log {
            wal,
            backlog: backlog::Backlog::default(),
        }));
        let mut publisher = Publisher::spawn(
            publisher::Target {
                dataset: config.dataset.clone(),
                write_samples: config.write_samples,
                retry: config.interval,
            },
            self.stats.clone(),
            log.clone(),
            leadership.clone(),
        );
        let mut shutdown = std::pin::pin!(shutdown);
        let mut books = Books {
            ledger: &mut ledger,
            log: &log,
            publisher: &mut publisher,
        };
        self.sample_until_stopped(&client, config, &mut books, &mut leadership, &mut shutdown)
            .await;
        let leading = leadership.borrow().leading;
        // A publisher that failed for good ended the run: nothing more to
        // join or publish, `finish` says why.
        let publishing = !books.publisher.stopped();
        if leading && publishing {
            self.last_joins(config, &mut books).await;
        }
        for watcher in watchers {
            watcher.abort();
        }
        if leading && publishing {
            // The hours closed before first, then the open one: not both
            // hours' rows at once.
            books.publisher.settle().await;
            self.close_open_hours(config, &mut books);
        } else {
            books.publisher.drop_waiting().await;
        }
        // Every open hour, the last one partial, after the hours waiting.
        let published = publisher.finish().await;
        // Release the lease only after the open hour is published, so the
        // next leader's publish of that hour comes after (and replaces) ours.
        let _ = stop_electing.send(true);
        if let Some(elector) = elector
            && let Err(source) = elector.await
        {
            Event::ElectionTaskFailed { source }.emit(&self.stats);
        }
        let mut summary = published?;
        summary.samples = Stats::get(&self.stats.samples);
        summary.first_sample = ledger.first_sample;
        summary.last_sample = ledger.last_sample;
        summary.errors = self.stats.errors();
        Ok(summary)
    }

    /// Before the last publish: usage of the last ticks that waits for its
    /// pod gets the watches' last events (as long as [`ledger::Patience::wall`]),
    /// then joins what it can; its samples are logged like a tick's.
    async fn last_joins(&self, config: &CollectConfig, books: &mut Books<'_>) {
        let ledger = &mut *books.ledger;
        let give_up = std::time::Instant::now() + ledger.patience.wall;
        let waits = |ledger: &Ledger| {
            ledger.waits_for_pods(DateTime::<Utc>::MAX_UTC, &lock(&self.inventory))
        };
        while waits(ledger) && std::time::Instant::now() < give_up {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            let inventory = lock(&self.inventory);
            ledger.join_waiting(&inventory, &config.tenants, &self.stats, false);
        }
        ledger.join_waiting(&lock(&self.inventory), &config.tenants, &self.stats, true);
        let tick = ledger.take_tick();
        // Without samples, an empty tick: it logs nothing itself but gives
        // the ticks the log refused earlier a last try, so a restart does
        // not republish the partial hour with fewer samples than this
        // process publishes.
        let tick = if tick.samples.is_empty() {
            TickLog::default()
        } else {
            tick
        };
        self.write_ahead(books, tick);
    }

    /// Logs the waiting ticks, oldest first, then `tick`; what the log
    /// refuses waits in the backlog. Returns `tick`'s samples.
    fn write_ahead(&self, books: &mut Books<'_>, tick: TickLog) -> Vec<crate::allocate::Sample> {
        let mut log = backlog::lock(books.log);
        let Log { wal, backlog } = &mut *log;
        let Some(wal) = wal.as_mut() else {
            return tick.samples;
        };
        let mut failure = None;
        while let Some(waiting) = backlog.unlogged.front() {
            match wal.append(waiting) {
                Ok(()) => {
                    backlog.unlogged.pop_front();
                }
                Err(source) => {
                    failure = Some(source);
                    break;
                }
            }
        }
        let appended = match failure {
            Some(source) => Err(source),
            None => wal.append(&tick),
        };
        let samples = match appended {
            Ok(()) => {
                write_succeeded(&self.stats, WriteTarget::Wal);
                tick.samples
            }
            Err(source) => {
                write_failed(&self.stats, WriteTarget::Wal, || Event::WalAppendFailed {
                    source,
                });
                let samples = tick.samples.clone();
                backlog.unlogged.push_back(tick);
                samples
            }
        };
        Stats::set(&self.stats.wal_bytes, wal.bytes());
        samples
    }

    /// Hands the open hours to the publisher, the last one as a partial
    /// hour (its log stays: a restart republishes it whole).
    fn close_open_hours(&self, config: &CollectConfig, books: &mut Books<'_>) {
        if let Some(until) = books.ledger.last_sample {
            let rows = {
                let inventory = lock(&self.inventory);
                books
                    .ledger
                    .flush(until, &inventory, &config.prices, &config.tenants)
            };
            books.publish(rows);
        }
    }

    /// Waits until this replica leads (or shutdown). A replica that stops
    /// leading drops its open hours: the new leader publishes them. One that
    /// takes the lease over from another drops what its log replayed, which
    /// the other leader has published since.
    async fn wait_to_lead(
        &self,
        books: &mut Books<'_>,
        leadership: &mut signal::Receiver<Leadership>,
        led: &mut bool,
        shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> bool {
        loop {
            let now = *leadership.borrow_and_update();
            if now.leading {
                if !*led && now.took_over {
                    books.drop_open_hours(self, "took the lease over").await;
                }
                *led = true;
                return true;
            }
            if *led {
                books.drop_open_hours(self, "lost the lease").await;
                if let Ok(mut latest) = self.latest.lock() {
                    latest.clear();
                }
                *led = false;
            }
            tokio::select! {
                changed = leadership.changed() => {
                    if changed.is_err() {
                        return false;
                    }
                }
                () = shutdown.as_mut() => return false,
            }
        }
    }

    async fn sample_until_stopped(
        &self,
        client: &Client,
        config: &CollectConfig,
        books: &mut Books<'_>,
        leadership: &mut signal::Receiver<Leadership>,
        shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    ) {
        // Wait for the caches to fill before the first sample.
        loop {
            if lock(&self.inventory).is_synced() {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep(std::time::Duration::from_millis(20)) => {}
                () = shutdown.as_mut() => return,
            }
        }
        info!(
            pods = lock(&self.inventory).pod_count(),
            "caches synced; sampling"
        );
        let mut ticker = tokio::time::interval(config.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks_with_data = 0_u64;
        let mut led = false;
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = shutdown.as_mut() => return,
            }
            // A publisher that failed for good (rows it cannot build: a
            // bug) ends the run; `run` reports why.
            if books.publisher.stopped() {
                return;
            }
            if !leadership.borrow().leading || !led {
                if !self
                    .wait_to_lead(books, leadership, &mut led, shutdown)
                    .await
                {
                    return;
                }
                ticker.reset_immediately();
                continue;
            }
            let ledger = &mut *books.ledger;
            let started = std::time::Instant::now();
            let pods = match metrics::pod_usage_within(client, &config.metrics_limits).await {
                Ok(listed) => self.usable(listed),
                Err(source) => {
                    Stats::add(&self.stats.gaps, 1);
                    Event::MetricsFailed { source }.emit(&self.stats);
                    continue;
                }
            };
            let nodes = match metrics::node_usage_within(client, &config.metrics_limits).await {
                Ok(listed) => self.usable(listed),
                Err(source) => {
                    Event::NodeMetricsFailed { source }.emit(&self.stats);
                    Vec::new()
                }
            };
            if pods.is_empty() {
                continue;
            }
            ticks_with_data += 1;
            Stats::add(&self.stats.ticks, 1);
            // Watch events sent before this tick's usage may be waiting for
            // their task: let what is ready run before the join.
            tokio::task::yield_now().await;
            let closed = {
                let mut inventory = lock(&self.inventory);
                ledger.ingest(
                    pods,
                    nodes,
                    &mut inventory,
                    &config.tenants,
                    &config.prices,
                    &self.stats,
                )
            };
            let tick = ledger.take_tick();
            let samples = self.write_ahead(books, tick);
            if let Ok(mut latest) = self.latest.lock() {
                *latest = samples;
            }
            let ledger = &*books.ledger;
            if let Some(last) = ledger.last_sample {
                Stats::set(
                    &self.stats.last_sample_seconds,
                    last.timestamp().max(0) as u64,
                );
            }
            let span = (ledger.first_sample, ledger.last_sample);
            books.publish(closed);
            Stats::set(
                &self.stats.sample_duration_micros,
                u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            );
            let enough_samples = config.stop.samples.is_some_and(|n| ticks_with_data >= n);
            let enough_time = match (config.stop.duration, span.0, span.1) {
                (Some(duration), Some(first), Some(last)) => last - first >= duration,
                _ => false,
            };
            if enough_samples || enough_time {
                return;
            }
        }
    }

    /// A metrics list's usable items; the skipped ones are counted and logged.
    fn usable<T>(&self, listed: metrics::Listed<T>) -> Vec<T> {
        if !listed.skipped.is_empty() {
            Event::MetricsItemsSkipped {
                skipped: listed.skipped,
            }
            .emit(&self.stats);
        }
        listed.items
    }
}

/// Records a failed write; the event is emitted when it starts an episode.
fn write_failed(stats: &Stats, target: WriteTarget, event: impl FnOnce() -> Event) {
    let event = event();
    let reason = match &event {
        Event::WalAppendFailed { source } => event::Causes(source).to_string(),
        Event::PublishFailed { source, .. } => event::Causes(source).to_string(),
        other => other.kind().into_owned(),
    };
    if stats.writes.failed(target, reason) == Episode::Started {
        event.emit(stats);
    }
}

/// Records a successful write; the end of an episode is logged.
fn write_succeeded(stats: &Stats, target: WriteTarget) {
    if stats.writes.succeeded(target) == Episode::Ended {
        info!(
            target = target.as_str(),
            "Writes succeed again; what waited is written."
        );
    }
}

/// `SHARED`, re-exported for summaries.
pub const SHARED_TENANT: &str = SHARED;
