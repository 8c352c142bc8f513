//! The collector's books: open hours, the samples joined into them, and
//! restart/OOM tracking. Synchronous and free of I/O, so it is tested
//! directly and the async loop stays thin.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rustc_hash::FxHashMap;

use super::resources::ResourceTrack;
use super::stats::Stats;
use crate::allocate::{
    Events, HourBook, HourRows, NodePoint, PodVersion, ResourceHour, Sample, SampleContext,
    SampleRuns, TenantRules, hour_of, resource_costs, tenant_of, window_hour,
};
use crate::cluster::{Inventory, SlimPod};
use crate::model::units::millicores;
use crate::pricing::PriceBook;
use crate::source::metrics::{NodeUsage, PodUsage};
use crate::store::wal::TickLog;

type ContainerKey = (Arc<str>, Arc<str>);

/// What the ledger remembers of one container between ticks.
#[derive(Debug)]
struct KnownContainer {
    name: Arc<str>,
    /// The join its samples share; rebuilt when the pod object changes.
    context: Option<Arc<SampleContext>>,
    /// Newest sample time: a metrics window seen twice (an interval shorter
    /// than metrics-server's resolution, a replayed log) counts once.
    newest: Option<DateTime<Utc>>,
    /// Restart count and last OOM kill when the pod was last seen.
    status: Option<(u32, Option<DateTime<Utc>>)>,
    /// Where its context's run last was in an open hour's samples
    /// ([`SampleRuns::push_hinted`]).
    run: usize,
}

/// What the ledger remembers of one pod, keyed by UID.
#[derive(Debug, Default)]
struct KnownPod {
    /// The pod object the contexts were built from. The inventory replaces
    /// the `Arc` on every change, so pointer equality says "unchanged"; it
    /// is held, not just its address, so the address cannot be reused.
    pod: Option<Arc<SlimPod>>,
    containers: Vec<KnownContainer>,
    /// The versions it is billed by in the open hours, oldest first; the
    /// source of every pod-hour the ledger closes, so a pod deleted from the
    /// API is still billed, and after a crash, from the write-ahead log.
    versions: Vec<PodVersion>,
    /// The hour of the write-ahead log file that holds the newest version:
    /// a version logged into a later hour's file brings the one before it
    /// along, so each hour's log bills its pods on its own after earlier
    /// hours' logs are discarded.
    logged_hour: Option<DateTime<Utc>>,
    /// The tick that last saw it in the inventory.
    tick: u64,
}

impl KnownPod {
    /// When the pod was last known to run: its newest sample, else when
    /// its newest version was seen.
    fn last_seen(&self) -> Option<DateTime<Utc>> {
        self.containers
            .iter()
            .filter_map(|c| c.newest)
            .max()
            .or_else(|| self.versions.last().map(|v| v.since))
    }

    fn container(&mut self, name: &Arc<str>) -> &mut KnownContainer {
        let index = match self.containers.iter().position(|c| c.name == *name) {
            Some(index) => index,
            None => {
                self.containers.push(KnownContainer {
                    name: name.clone(),
                    context: None,
                    newest: None,
                    status: None,
                    run: usize::MAX,
                });
                self.containers.len() - 1
            }
        };
        &mut self.containers[index]
    }
}

/// Open hours and what is needed to close them.
#[derive(Debug, Default)]
pub struct Ledger {
    open: BTreeMap<DateTime<Utc>, HourBook>,
    /// Per pod UID. Hashed with FxHash: at 150,000 pods the lookups of a
    /// tick are a measurable share of its CPU with std's SipHash, and the
    /// keys come from the API server, not from an attacker.
    pods: FxHashMap<Arc<str>, KnownPod>,
    ticks: u64,
    /// Sample contexts in the last hour closed: the next hour's book starts
    /// with room for that many.
    last_hour_contexts: usize,
    /// Hours already published: samples for them are late.
    closed_before: Option<DateTime<Utc>>,
    pub first_sample: Option<DateTime<Utc>>,
    /// The newest sample's time: where an open hour's bill ends.
    pub last_sample: Option<DateTime<Utc>>,
    /// What the current tick added, for the write-ahead log and `/metrics`.
    tick: TickLog,
    /// Usage of pods the inventory did not hold (or not yet on a node) when
    /// it came: a pod's ADDED event can arrive a moment after metrics-server
    /// already reports it, so its first sample waits to be joined instead of
    /// being dropped.
    unjoined: Vec<Waiting>,
    /// How long usage waits for its pod, and an hour for such usage.
    pub patience: Patience,
    /// The hour whose close waits for such usage, and since when.
    held: Option<(DateTime<Utc>, std::time::Instant)>,
    /// Disks and load balancers over the open hours.
    resources: ResourceTrack,
}

/// The open hour `hour`'s book, begun with room for `expected` sample
/// contexts (the hour before's count, so its table is not rebuilt as the
/// hour fills).
fn open_book(
    open: &mut BTreeMap<DateTime<Utc>, HourBook>,
    hour: DateTime<Utc>,
    expected: usize,
) -> &mut HourBook {
    open.entry(hour).or_insert_with(|| HourBook {
        samples: SampleRuns::with_contexts(expected),
        ..HourBook::default()
    })
}

/// Usage waiting for its pod.
#[derive(Debug)]
struct Waiting {
    usage: PodUsage,
    /// Ticks it may still wait.
    chances: u8,
    since: std::time::Instant,
}

/// How long the ledger waits for watch events in flight. A watch that lags
/// by more than a few ticks is rare on a real cluster but common on the
/// simulator's fast clock (a tick every few milliseconds) when the machine
/// is loaded, so each wait is at least some wall time as well as some ticks.
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    /// Ticks a pod's usage waits for the pod (and its owner) to reach the
    /// inventory: an hour at the default one-minute interval...
    pub ticks: u8,
    /// ...and at least this long: 60 fast-clock ticks pass in a fraction
    /// of a second.
    pub wall: std::time::Duration,
    /// How long an hour that is over stays open while usage of it waits:
    /// on a real cluster the next tick comes later than this and closes
    /// the hour; on the fast clock, many ticks pass within it.
    pub hold: std::time::Duration,
}

impl Default for Patience {
    fn default() -> Patience {
        Patience {
            ticks: 60,
            wall: std::time::Duration::from_secs(5),
            hold: std::time::Duration::from_secs(5),
        }
    }
}

impl Waiting {
    /// Whether it may wait another tick: ticks left, or not waited long.
    fn may_wait(&self, patience: &Patience) -> bool {
        self.chances > 0 || self.since.elapsed() < patience.wall
    }

    fn one_tick_later(mut self) -> Waiting {
        self.chances = self.chances.saturating_sub(1);
        self
    }
}

impl Ledger {
    fn book(&mut self, hour: DateTime<Utc>) -> &mut HourBook {
        open_book(&mut self.open, hour, self.last_hour_contexts)
    }

    /// Takes one tick's metrics: joins them with the inventory into samples,
    /// records restarts and OOM kills, and returns the hours that the new
    /// samples show are over.
    pub fn ingest(
        &mut self,
        pods: Vec<PodUsage>,
        nodes: Vec<NodeUsage>,
        inventory: &mut Inventory,
        rules: &TenantRules,
        book: &PriceBook,
        stats: &Stats,
    ) -> Vec<HourRows> {
        let Some(now) = pods
            .iter()
            .map(|p| p.timestamp)
            .chain(nodes.iter().map(|n| n.timestamp))
            .max()
        else {
            return Vec::new();
        };
        inventory.clock = Some(inventory.clock.map_or(now, |c| c.max(now)));
        self.track_pods(inventory, now);
        let log_hour = self.log_hour(now);
        self.resources
            .observe(inventory, now, log_hour, &mut self.tick.resources);
        let (arrived, patience) = (std::time::Instant::now(), self.patience);
        let had_pods = !pods.is_empty();
        let fresh = pods.into_iter().map(|usage| Waiting {
            usage,
            chances: patience.ticks,
            since: arrived,
        });
        let (seen_pods, samples) = self.join(fresh, inventory, rules, stats, true);
        let running = inventory
            .pods()
            .filter(|p| p.node.is_some() && p.phase == crate::cluster::Phase::Running)
            .count() as u64;
        Stats::add(
            &stats.pods_without_metrics,
            running.saturating_sub(seen_pods),
        );
        Stats::add(&stats.samples, samples);
        for node in nodes {
            let hour = window_hour(node.timestamp, node.window_seconds);
            if self.closed_before.is_some_and(|c| hour < c) {
                continue;
            }
            let name: Arc<str> = Arc::from(node.name.as_str());
            let point = NodePoint {
                cpu_cores: node.cpu_cores,
                memory_bytes: node.memory_bytes,
            };
            self.add_node_point(hour, name.clone(), point);
            self.tick.nodes.push((hour, name, point));
        }
        // The bill runs until the newest recorded sample (`record` moves
        // it), as a replay of the log does: a node's metrics window may end
        // one scrape after the pods' when the two lists straddle it, and
        // counting it would bill time no sample covers. Only a tick with
        // no pod at all moves it, so a cluster of idle nodes still closes.
        if !had_pods {
            self.last_sample = Some(self.last_sample.map_or(now, |l| l.max(now)));
        }
        // An hour is over once a sample of a later hour arrived.
        let current = hour_of(now - Duration::seconds(1));
        let due: Vec<DateTime<Utc>> = self.open.range(..current).map(|(h, _)| *h).collect();
        let mut closed = Vec::new();
        for hour in due {
            if self.holds(hour, inventory) {
                break;
            }
            if let Some(book_of_hour) = self.open.remove(&hour) {
                self.last_hour_contexts = book_of_hour.samples.contexts();
                let resources = self.resources.take(hour);
                closed.push(close_hour(
                    (hour, hour + Duration::hours(1)),
                    book_of_hour,
                    &resources,
                    &self.versions(),
                    (inventory, book, rules),
                ));
            }
            self.closed_before = Some(hour + Duration::hours(1));
        }
        if let Some(oldest) = self.open.keys().next().copied().or(self.closed_before) {
            self.forget_before(oldest);
            self.resources.forget_before(oldest);
            inventory.forget_retired(oldest);
        }
        closed
    }

    /// Joins usage with its pods into samples: first what waited from
    /// earlier ticks, then `fresh`. Usage whose pod (or its owner) is not in
    /// the inventory waits while [`Patience`] allows and `may_wait`, else is
    /// counted as without a pod. Returns (pods seen, samples recorded).
    fn join(
        &mut self,
        fresh: impl Iterator<Item = Waiting>,
        inventory: &Inventory,
        rules: &TenantRules,
        stats: &Stats,
        may_wait: bool,
    ) -> (u64, u64) {
        let (mut seen_pods, mut samples) = (0_u64, 0_u64);
        let mut contexts: Vec<Arc<SampleContext>> = Vec::new();
        let patience = self.patience;
        let waited = std::mem::take(&mut self.unjoined);
        let mut unjoined = Vec::new();
        for waiting in waited.into_iter().chain(fresh) {
            let pod = inventory
                .pod_by_name(&waiting.usage.namespace, &waiting.usage.name)
                .filter(|pod| pod.node.is_some());
            // A pod whose ReplicaSet or Job has not arrived waits too, so
            // its samples name its workload, not the ReplicaSet or Job.
            // (A version already joined had its owner then: no lookup of
            // the owners per pod and tick.)
            let ready = pod.is_some_and(|pod| {
                self.pods
                    .get(&pod.uid)
                    .and_then(|known| known.pod.as_ref())
                    .is_some_and(|joined| Arc::ptr_eq(joined, pod))
                    || inventory.owner_known(pod)
            });
            if !ready && may_wait && waiting.may_wait(&patience) {
                unjoined.push(waiting.one_tick_later());
                continue;
            }
            let usage = waiting.usage;
            let Some(pod) = pod else {
                Stats::add(&stats.metrics_without_pod, 1);
                continue;
            };
            seen_pods += 1;
            contexts.clear();
            self.contexts_of(pod, inventory, rules, &mut contexts);
            for container in usage.containers {
                let Some(context) = contexts.iter().find(|c| *c.container == container.name) else {
                    Stats::add(&stats.metrics_without_pod, 1);
                    continue;
                };
                let sample = Sample {
                    ts: usage.timestamp,
                    window_seconds: usage.window_seconds,
                    context: context.clone(),
                    cpu_usage_millicores: millicores(container.cpu_cores),
                    memory_usage_bytes: container.memory_bytes,
                };
                if self.record(sample.clone(), stats) {
                    self.tick.samples.push(sample);
                    samples += 1;
                }
            }
        }
        self.unjoined = unjoined;
        (seen_pods, samples)
    }

    /// Whether usage of an hour up to `until` waits for a pod that may yet
    /// arrive: not one the watch saw deleted (metrics-server reports a pod a
    /// moment after its deletion; no event is coming for that usage).
    pub fn waits_for_pods(&self, until: DateTime<Utc>, inventory: &Inventory) -> bool {
        self.unjoined.iter().any(|Waiting { usage, .. }| {
            window_hour(usage.timestamp, usage.window_seconds) <= until
                && !inventory.deleted_lately(&usage.namespace, &usage.name)
        })
    }

    /// Another chance for waiting usage without a new tick (at shutdown,
    /// while the watches may still deliver); `last` joins what it can and
    /// gives up on the rest. The samples go into the current tick's log.
    pub fn join_waiting(
        &mut self,
        inventory: &Inventory,
        rules: &TenantRules,
        stats: &Stats,
        last: bool,
    ) {
        let (_, samples) = self.join(std::iter::empty(), inventory, rules, stats, !last);
        Stats::add(&stats.samples, samples);
    }

    /// Whether `hour`, which is over, stays open a moment longer: usage of it
    /// still waits for a pod that may yet arrive (not one the watch saw
    /// deleted), for less than [`Patience::hold`].
    fn holds(&mut self, hour: DateTime<Utc>, inventory: &Inventory) -> bool {
        if !self.waits_for_pods(hour, inventory) {
            self.held = None;
            return false;
        }
        let since = match self.held {
            Some((held, since)) if held == hour => since,
            _ => {
                let now = std::time::Instant::now();
                self.held = Some((hour, now));
                now
            }
        };
        since.elapsed() < self.patience.hold
    }

    /// The contexts of `pod`'s containers, built once per version of the pod.
    fn contexts_of(
        &mut self,
        pod: &Arc<SlimPod>,
        inventory: &Inventory,
        rules: &TenantRules,
        out: &mut Vec<Arc<SampleContext>>,
    ) {
        let known = self.pods.entry(pod.uid.clone()).or_default();
        let (Some(node), fresh) = (
            &pod.node,
            known.pod.as_ref().is_some_and(|p| Arc::ptr_eq(p, pod)),
        ) else {
            return;
        };
        if fresh
            && pod.containers.iter().all(|c| {
                known
                    .containers
                    .iter()
                    .any(|k| k.name == c.name && k.context.is_some())
            })
        {
            for spec in &pod.containers {
                if let Some(context) = known
                    .containers
                    .iter()
                    .find(|k| k.name == spec.name)
                    .and_then(|k| k.context.clone())
                {
                    out.push(context);
                }
            }
            return;
        }
        let workload = inventory.workload_of(pod);
        let tenant: Arc<str> = Arc::from(tenant_of(rules, inventory, pod));
        let workload_kind: Arc<str> = Arc::from(workload.kind.as_str());
        for spec in &pod.containers {
            let context = SampleContext {
                namespace: pod.namespace.clone(),
                pod: pod.name.clone(),
                pod_uid: pod.uid.clone(),
                container: spec.name.clone(),
                node: node.clone(),
                workload_kind: workload_kind.clone(),
                workload_name: workload.name.clone(),
                tenant: tenant.clone(),
                cpu_request_cores: spec.resources.cpu_request_cores,
                cpu_limit_cores: spec.resources.cpu_limit_cores,
                memory_request_bytes: spec.resources.memory_request_bytes,
                memory_limit_bytes: spec.resources.memory_limit_bytes,
            };
            let known_container = known.container(&spec.name);
            // An unchanged join keeps its Arc: samples of one container
            // then compare by pointer when the hour is sorted.
            let shared = match &known_container.context {
                Some(old) if **old == context => old.clone(),
                _ => Arc::new(context),
            };
            known_container.context = Some(shared.clone());
            out.push(shared);
        }
        known.pod = Some(pod.clone());
    }

    /// Every pod's versions, for closing an hour.
    fn versions(&self) -> Vec<&[PodVersion]> {
        self.pods
            .values()
            .filter(|known| !known.versions.is_empty())
            .map(|known| known.versions.as_slice())
            .collect()
    }

    /// Forgets what no open hour needs: pods that ended before `before` and
    /// are gone from the API, and versions superseded before it.
    fn forget_before(&mut self, before: DateTime<Utc>) {
        let tick = self.ticks;
        self.pods.retain(|_, known| {
            if known.tick == tick {
                // The newest version that began before `before` still
                // bills the start of the open hours; older ones bill nothing.
                let keep_from = known
                    .versions
                    .iter()
                    .skip(1)
                    .rposition(|v| v.since <= before)
                    .map_or(0, |i| i + 1);
                known.versions.drain(..keep_from);
                return true;
            }
            known
                .versions
                .last()
                .is_some_and(|v| v.pod.ended.is_none_or(|ended| ended >= before))
        });
    }

    /// Adds a sample (from a tick or a replayed write-ahead log); false
    /// when it is late or already known.
    pub fn record(&mut self, sample: Sample, stats: &Stats) -> bool {
        let hour = sample.hour();
        if self.closed_before.is_some_and(|c| hour < c) {
            Stats::add(&stats.late_samples, 1);
            return false;
        }
        let context = &sample.context;
        let known = match self.pods.get_mut(&*context.pod_uid) {
            Some(known) => known,
            None => self.pods.entry(context.pod_uid.clone()).or_default(),
        };
        let container = known.container(&context.container);
        if container.newest.is_some_and(|newest| newest >= sample.ts) {
            return false;
        }
        container.newest = Some(sample.ts);
        open_book(&mut self.open, hour, self.last_hour_contexts)
            .samples
            .push_hinted(&sample, &mut container.run);
        self.first_sample = Some(self.first_sample.map_or(sample.ts, |f| f.min(sample.ts)));
        self.last_sample = Some(self.last_sample.map_or(sample.ts, |l| l.max(sample.ts)));
        true
    }

    fn add_node_point(&mut self, hour: DateTime<Utc>, node: Arc<str>, point: NodePoint) {
        self.book(hour)
            .node_points
            .entry(node)
            .or_default()
            .push(point);
    }

    fn add_events(&mut self, hour: DateTime<Utc>, key: ContainerKey, new: Events) {
        let entry = self.book(hour).events.entry(key).or_default();
        entry.restarts += new.restarts;
        entry.oom_kills += new.oom_kills;
    }

    /// What the last tick added; the caller logs it before publishing.
    pub fn take_tick(&mut self) -> TickLog {
        std::mem::take(&mut self.tick)
    }

    /// Restores what a write-ahead log holds (after a crash or a restart).
    pub fn replay(&mut self, log: TickLog, stats: &Stats) {
        for sample in log.samples {
            self.record(sample, stats);
        }
        for (hour, node, point) in log.nodes {
            self.add_node_point(hour, node, point);
        }
        for (hour, uid, container, events) in log.events {
            self.add_events(hour, (uid, container), events);
        }
        self.resources.replay(log.resources);
        for (hour, version) in log.pods {
            let known = self.pods.entry(version.pod.uid.clone()).or_default();
            known.logged_hour = known.logged_hour.max(Some(hour));
            let at = known.versions.partition_point(|v| v.since <= version.since);
            let logged = known.versions[..at]
                .iter()
                .rev()
                .take_while(|v| v.since == version.since)
                .any(|v| v.pod.bills_like(&version.pod));
            if !logged {
                known.versions.insert(at, version);
            }
        }
    }

    /// The hour whose log file takes what a tick at `now` saw: the hour of
    /// the metrics window ending then, or the oldest still open.
    fn log_hour(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let hour = hour_of(now - Duration::seconds(1));
        self.closed_before.map_or(hour, |c| hour.max(c))
    }

    /// Counts restarts and OOM kills from pods that changed since the last
    /// tick, records each change of what a pod is billed as a new version
    /// (logged), and ends the pods that went away unseen.
    fn track_pods(&mut self, inventory: &mut Inventory, now: DateTime<Utc>) {
        self.ticks += 1;
        let tick = self.ticks;
        let log_hour = self.log_hour(now);
        let retired = inventory.take_retired_pods();
        let mut events: Vec<(DateTime<Utc>, ContainerKey, Events)> = Vec::new();
        for pod in inventory.pods().chain(retired.iter()) {
            let known = match self.pods.get_mut(&*pod.uid) {
                Some(known) => known,
                None => self.pods.entry(pod.uid.clone()).or_default(),
            };
            known.tick = tick;
            if known.pod.as_ref().is_some_and(|p| Arc::ptr_eq(p, pod)) {
                continue;
            }
            for container in &pod.containers {
                let known_container = known.container(&container.name);
                let current = (container.restarts, container.last_oom_kill);
                let Some(previous) = known_container.status.replace(current) else {
                    continue;
                };
                let restarts = current.0.saturating_sub(previous.0);
                let oom = current.1.is_some() && current.1 != previous.1;
                if restarts > 0 || oom {
                    let at = if oom { current.1.unwrap_or(now) } else { now };
                    events.push((
                        at,
                        (pod.uid.clone(), container.name.clone()),
                        Events {
                            restarts,
                            oom_kills: u32::from(oom),
                        },
                    ));
                }
            }
            // The contexts are rebuilt from the new object when sampled.
            known.pod = None;
            Self::add_version(known, pod.clone(), now, log_hour, &mut self.tick.pods);
        }
        // Pods the ledger bills but the synced inventory no longer holds,
        // which never ended: deleted while the collector was down. They
        // ran until they were last seen.
        for known in self.pods.values_mut() {
            let Some(last) = known.versions.last() else {
                continue;
            };
            if known.tick == tick || last.pod.ended.is_some() {
                continue;
            }
            let mut pod = SlimPod::clone(&last.pod);
            pod.ended = known.last_seen();
            Self::add_version(known, Arc::new(pod), now, log_hour, &mut self.tick.pods);
        }
        for (at, key, new) in events {
            let hour = hour_of(at);
            let hour = self.closed_before.map_or(hour, |c| hour.max(c));
            self.add_events(hour, key.clone(), new);
            self.tick.events.push((hour, key.0, key.1, new));
        }
    }

    /// Makes `pod` the newest version of `known` from `now` when it is
    /// billed differently from the one before, and logs it into the file of
    /// `log_hour` (with the one before, when that sits in an older file).
    /// A change that does not move the bill only refreshes the newest one.
    fn add_version(
        known: &mut KnownPod,
        pod: Arc<SlimPod>,
        now: DateTime<Utc>,
        log_hour: DateTime<Utc>,
        log: &mut Vec<(DateTime<Utc>, PodVersion)>,
    ) {
        if let Some(last) = known.versions.last_mut()
            && last.pod.bills_like(&pod)
        {
            last.pod = pod;
            return;
        }
        if let Some(last) = known.versions.last()
            && known.logged_hour.is_some_and(|logged| logged < log_hour)
        {
            log.push((log_hour, last.clone()));
        }
        let version = PodVersion { since: now, pod };
        log.push((log_hour, version.clone()));
        known.versions.push(version);
        known.logged_hour = Some(log_hour);
    }

    /// Closes every open hour at `until` (shutdown, `--duration`): the last
    /// one is partial; publishing the full hour later replaces it.
    pub fn flush(
        &mut self,
        until: DateTime<Utc>,
        inventory: &Inventory,
        book: &PriceBook,
        rules: &TenantRules,
    ) -> Vec<HourRows> {
        let open: Vec<_> = std::mem::take(&mut self.open)
            .into_iter()
            .map(|(hour, hour_book)| (hour, hour_book, self.resources.take(hour)))
            .collect();
        let versions = self.versions();
        open.into_iter()
            .map(|(hour, hour_book, resources)| {
                close_hour(
                    (hour, until),
                    hour_book,
                    &resources,
                    &versions,
                    (inventory, book, rules),
                )
            })
            .collect()
    }

    /// Hours still open.
    pub fn open_hours(&self) -> Vec<DateTime<Utc>> {
        self.open.keys().copied().collect()
    }
}

/// Closes the hour starting at `span.0` up to `span.1`: its pods, nodes
/// and workloads from `hour_book`, its disks, load balancers and fee from
/// `resources`.
fn close_hour(
    (start, until): (DateTime<Utc>, DateTime<Utc>),
    hour_book: HourBook,
    resources: &ResourceHour,
    pods: &[&[PodVersion]],
    (inventory, book, rules): (&Inventory, &PriceBook, &TenantRules),
) -> HourRows {
    let mut rows = hour_book.close(start, until, pods, inventory, book, rules);
    rows.resources = resource_costs(start, until, resources, pods, inventory, book, rules);
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{ContainerResources, Phase, SlimContainer};
    use crate::pricing::PricingOptions;
    use crate::source::metrics::ContainerUsage;

    fn pod(cpu_request: f64, restarts: u32) -> SlimPod {
        SlimPod {
            uid: "uid-1".into(),
            namespace: "shop".into(),
            name: "api-1".into(),
            node: Some("n1".into()),
            labels: Arc::new([]),
            owner: None,
            phase: Phase::Running,
            started: Some(crate::sim::epoch()),
            ended: None,
            ready_at: None,
            containers: vec![SlimContainer {
                name: "app".into(),
                resources: ContainerResources {
                    cpu_request_cores: Some(cpu_request),
                    ..ContainerResources::default()
                },
                restarts,
                last_oom_kill: None,
            }],
            ..SlimPod::default()
        }
    }

    fn usage(minute: i64, cpu: f64) -> PodUsage {
        PodUsage {
            namespace: "shop".into(),
            name: "api-1".into(),
            timestamp: crate::sim::epoch() + Duration::minutes(minute),
            window_seconds: 30.0,
            containers: vec![ContainerUsage {
                name: "app".into(),
                cpu_cores: cpu,
                memory_bytes: 1 << 20,
            }],
        }
    }

    #[test]
    fn samples_share_a_context_until_the_pod_changes_and_count_once() {
        let prices = PriceBook::new(Vec::new(), PricingOptions::default()).unwrap();
        let rules = TenantRules::new(None);
        let stats = Stats::default();
        let mut inventory = Inventory::default();
        let mut ledger = Ledger::default();
        inventory.apply_pod(pod(0.5, 0));
        let tick = |ledger: &mut Ledger, inventory: &mut Inventory, usage: PodUsage| {
            ledger.ingest(vec![usage], Vec::new(), inventory, &rules, &prices, &stats);
            ledger.take_tick()
        };
        let first = tick(&mut ledger, &mut inventory, usage(1, 0.2504));
        let second = tick(&mut ledger, &mut inventory, usage(2, 0.2496));
        assert_eq!(first.samples[0].cpu_usage_millicores, 250);
        assert_eq!(second.samples[0].cpu_usage_millicores, 250);
        assert!(Arc::ptr_eq(
            &first.samples[0].context,
            &second.samples[0].context
        ));
        // The same metrics window again (an interval shorter than
        // metrics-server's resolution) is not a new sample.
        assert!(
            tick(&mut ledger, &mut inventory, usage(2, 0.3))
                .samples
                .is_empty()
        );
        // Resized in place, and restarted twice: new requests from now on.
        inventory.apply_pod(pod(1.0, 2));
        let third = tick(&mut ledger, &mut inventory, usage(3, 0.1));
        assert_eq!(third.samples[0].context.cpu_request_cores, Some(1.0));
        assert_eq!(first.samples[0].context.cpu_request_cores, Some(0.5));
        assert_eq!(third.events.len(), 1);
        assert_eq!(third.events[0].3.restarts, 2);
        // The resize is a new version from the tick that saw it, logged
        // with the pod's facts; the restarts alone were not a new version.
        let versions = &ledger.pods["uid-1"].versions;
        assert_eq!(versions.len(), 2);
        assert_eq!(
            versions[1].since,
            crate::sim::epoch() + Duration::minutes(3)
        );
        assert_eq!(third.pods.len(), 1);
        assert_eq!(third.pods[0].1, versions[1]);
        // A pod deleted from the inventory is still billed to its end...
        inventory.delete_pod(pod(1.0, 2));
        let fourth = tick(&mut ledger, &mut inventory, usage(4, 0.1));
        assert_eq!(fourth.pods.len(), 1, "its end is logged");
        assert!(fourth.pods[0].1.pod.ended.is_some());
        // ...and forgotten once the hours it ran in are closed.
        tick(&mut ledger, &mut inventory, usage(125, 0.1));
        assert!(ledger.pods.is_empty());
    }

    fn node_usage(minute: i64) -> NodeUsage {
        NodeUsage {
            name: "node-1".into(),
            timestamp: crate::sim::epoch() + Duration::minutes(minute),
            window_seconds: 30.0,
            cpu_cores: 1.0,
            memory_bytes: 1 << 30,
        }
    }

    #[test]
    fn the_bill_ends_at_the_newest_sample_live_and_replayed_alike() {
        let prices = PriceBook::new(Vec::new(), PricingOptions::default()).unwrap();
        let rules = TenantRules::new(None);
        let stats = Stats::default();
        let mut inventory = Inventory::default();
        inventory.apply_pod(pod(0.5, 0));
        let mut live = Ledger::default();
        // The nodes were listed a scrape after the pods: their window ends
        // 15 s later than any sample's.
        let mut nodes = node_usage(10);
        nodes.timestamp += Duration::seconds(15);
        live.ingest(
            vec![usage(10, 0.2)],
            vec![nodes],
            &mut inventory,
            &rules,
            &prices,
            &stats,
        );
        let end = crate::sim::epoch() + Duration::minutes(10);
        assert_eq!(live.last_sample, Some(end));
        let mut replayed = Ledger::default();
        replayed.replay(live.take_tick(), &stats);
        assert_eq!(replayed.last_sample, live.last_sample);
        // A tick of nodes alone (no pod runs) still moves the end.
        let mut idle = Ledger::default();
        idle.ingest(
            Vec::new(),
            vec![node_usage(10)],
            &mut Inventory::default(),
            &rules,
            &prices,
            &stats,
        );
        assert_eq!(idle.last_sample, Some(end));
    }

    #[test]
    fn an_hour_waits_to_close_for_usage_whose_pod_the_watch_has_not_delivered() {
        let prices = PriceBook::new(Vec::new(), PricingOptions::default()).unwrap();
        let rules = TenantRules::new(None);
        let stats = Stats::default();
        let mut inventory = Inventory::default();
        let mut ledger = Ledger::default();
        let mut tick = |inventory: &mut Inventory, pods: Vec<PodUsage>, minute: i64| {
            ledger.ingest(
                pods,
                vec![node_usage(minute)],
                inventory,
                &rules,
                &prices,
                &stats,
            )
        };
        // 01:00:00 closes hour 0's last window; the pod is not known yet.
        assert!(tick(&mut inventory, vec![usage(60, 0.2)], 60).is_empty());
        // A sample of hour 1 arrives: hour 0 is over, but holds.
        assert!(tick(&mut inventory, Vec::new(), 61).is_empty());
        assert!(tick(&mut inventory, Vec::new(), 62).is_empty());
        // The pod's event arrives: its usage joins, and the hour closes with it.
        inventory.apply_pod(pod(0.5, 0));
        let closed = tick(&mut inventory, Vec::new(), 63);
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].start, crate::sim::epoch());
        assert_eq!(closed[0].samples.len(), 1);
        assert_eq!(Stats::get(&stats.late_samples), 0);
        assert_eq!(Stats::get(&stats.metrics_without_pod), 0);
    }

    #[test]
    fn a_pod_that_never_arrives_holds_its_hour_only_while_its_usage_may_wait() {
        let prices = PriceBook::new(Vec::new(), PricingOptions::default()).unwrap();
        let rules = TenantRules::new(None);
        let stats = Stats::default();
        let mut inventory = Inventory::default();
        let mut ledger = Ledger::default();
        // Ticks alone bound the wait here: the test runs in milliseconds.
        ledger.patience.wall = std::time::Duration::ZERO;
        let mut closed = Vec::new();
        for minute in 60..=60 + i64::from(ledger.patience.ticks) + 1 {
            let pods = if minute == 60 {
                vec![usage(60, 0.2)]
            } else {
                Vec::new()
            };
            closed.extend(ledger.ingest(
                pods,
                vec![node_usage(minute)],
                &mut inventory,
                &rules,
                &prices,
                &stats,
            ));
        }
        assert_eq!(
            closed.len(),
            2,
            "hours 0 and 1 close once the usage gives up"
        );
        assert_eq!(closed[0].start, crate::sim::epoch());
        assert!(closed[0].samples.is_empty());
        assert_eq!(Stats::get(&stats.metrics_without_pod), 1);
    }

    #[test]
    fn usage_waits_some_wall_time_however_fast_the_ticks_come() {
        let prices = PriceBook::new(Vec::new(), PricingOptions::default()).unwrap();
        let rules = TenantRules::new(None);
        let stats = Stats::default();
        let mut inventory = Inventory::default();
        let mut ledger = Ledger::default();
        ledger.patience.ticks = 2;
        let mut tick = |inventory: &mut Inventory, pods: Vec<PodUsage>, minute: i64| {
            let nodes = vec![node_usage(minute)];
            ledger.ingest(pods, nodes, inventory, &rules, &prices, &stats);
            ledger.take_tick().samples.len()
        };
        assert_eq!(tick(&mut inventory, vec![usage(1, 0.2)], 1), 0);
        // Five ticks, more than `ticks`, within a moment of wall time.
        for minute in 2..=6 {
            assert_eq!(tick(&mut inventory, Vec::new(), minute), 0);
        }
        inventory.apply_pod(pod(0.5, 0));
        assert_eq!(tick(&mut inventory, Vec::new(), 7), 1, "still joined");
        assert_eq!(Stats::get(&stats.metrics_without_pod), 0);
    }

    #[test]
    fn a_job_pod_waits_for_its_job_so_its_samples_name_the_cronjob() {
        let prices = PriceBook::new(Vec::new(), PricingOptions::default()).unwrap();
        let rules = TenantRules::new(None);
        let stats = Stats::default();
        let mut inventory = Inventory::default();
        let mut ledger = Ledger::default();
        let mut job_pod = pod(0.5, 0);
        job_pod.owner = Some(crate::cluster::OwnerRef {
            kind: crate::cluster::OwnerKind::Job,
            name: "sync-1".into(),
        });
        inventory.apply_pod(job_pod);
        ledger.ingest(
            vec![usage(1, 0.2)],
            Vec::new(),
            &mut inventory,
            &rules,
            &prices,
            &stats,
        );
        assert!(ledger.take_tick().samples.is_empty(), "waits for the Job");
        let cronjob = crate::cluster::OwnerRef {
            kind: crate::cluster::OwnerKind::CronJob,
            name: "sync".into(),
        };
        inventory.apply_parent(
            "shop",
            crate::cluster::OwnerKind::Job,
            "sync-1",
            Some(cronjob),
        );
        ledger.ingest(
            vec![usage(2, 0.2)],
            Vec::new(),
            &mut inventory,
            &rules,
            &prices,
            &stats,
        );
        let tick = ledger.take_tick();
        assert_eq!(tick.samples.len(), 2, "the waiting sample and this tick's");
        assert!(
            tick.samples
                .iter()
                .all(|s| &*s.context.workload_name == "sync")
        );
    }
}
