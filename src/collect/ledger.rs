//! The collector's books: open hours, the samples joined into them, and
//! restart/OOM tracking. Synchronous and free of I/O, so it is tested
//! directly and the async loop stays thin.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::stats::Stats;
use crate::allocate::{
    Events, HourBook, HourRows, NodePoint, Sample, TenantRules, hour_of, tenant_of,
};
use crate::pricing::PriceBook;
use crate::source::Inventory;
use crate::source::metrics::{NodeUsage, PodUsage};
use crate::store::wal::TickLog;

type ContainerKey = (Arc<str>, Arc<str>);

/// Open hours and what is needed to close them.
#[derive(Debug, Default)]
pub struct Ledger {
    open: BTreeMap<DateTime<Utc>, HourBook>,
    /// Last seen (restart count, last OOM kill) per container.
    seen: HashMap<ContainerKey, (u32, Option<DateTime<Utc>>)>,
    /// Hours already published: samples for them are late.
    closed_before: Option<DateTime<Utc>>,
    pub first_sample: Option<DateTime<Utc>>,
    pub last_sample: Option<DateTime<Utc>>,
    /// What the current tick added, for the write-ahead log and `/metrics`.
    tick: TickLog,
    /// Newest sample time per container: a metrics window seen twice (an
    /// interval shorter than metrics-server's resolution, a replayed log)
    /// counts once.
    newest: HashMap<ContainerKey, DateTime<Utc>>,
}

impl Ledger {
    fn book(&mut self, hour: DateTime<Utc>) -> &mut HourBook {
        self.open.entry(hour).or_default()
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
        self.track_restarts(inventory, now);
        let mut seen_pods = 0_u64;
        let mut samples = 0_u64;
        for usage in pods {
            let Some(pod) = inventory
                .pod_by_name(&usage.namespace, &usage.name)
                .cloned()
            else {
                Stats::add(&stats.metrics_without_pod, 1);
                continue;
            };
            let Some(node) = pod.node.clone() else {
                Stats::add(&stats.metrics_without_pod, 1);
                continue;
            };
            seen_pods += 1;
            let workload = inventory.workload_of(&pod);
            let tenant: Arc<str> = Arc::from(tenant_of(rules, inventory, &pod));
            let workload_kind: Arc<str> = Arc::from(workload.kind.as_str());
            for container in usage.containers {
                let Some(spec) = pod.containers.iter().find(|c| *c.name == container.name) else {
                    Stats::add(&stats.metrics_without_pod, 1);
                    continue;
                };
                let sample = Sample {
                    ts: usage.timestamp,
                    window_seconds: usage.window_seconds,
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
                    cpu_usage_cores: container.cpu_cores,
                    memory_request_bytes: spec.resources.memory_request_bytes,
                    memory_limit_bytes: spec.resources.memory_limit_bytes,
                    memory_usage_bytes: container.memory_bytes,
                };
                if self.record(sample.clone(), stats) {
                    self.tick.samples.push(sample);
                    samples += 1;
                }
            }
        }
        let running = inventory
            .pods()
            .filter(|p| p.node.is_some() && p.phase == crate::source::pod::Phase::Running)
            .count() as u64;
        Stats::add(
            &stats.pods_without_metrics,
            running.saturating_sub(seen_pods),
        );
        Stats::add(&stats.samples, samples);
        for node in nodes {
            let middle =
                node.timestamp - Duration::milliseconds((node.window_seconds * 500.0) as i64);
            let hour = hour_of(middle);
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
        self.last_sample = Some(self.last_sample.map_or(now, |l| l.max(now)));
        // An hour is over once a sample of a later hour arrived.
        let current = hour_of(now - Duration::seconds(1));
        let due: Vec<DateTime<Utc>> = self.open.range(..current).map(|(h, _)| *h).collect();
        let mut closed = Vec::new();
        for hour in due {
            if let Some(book_of_hour) = self.open.remove(&hour) {
                closed.push(book_of_hour.close(
                    hour,
                    hour + Duration::hours(1),
                    inventory,
                    book,
                    rules,
                ));
            }
            self.closed_before = Some(hour + Duration::hours(1));
        }
        if let Some(oldest) = self.open.keys().next().copied().or(self.closed_before) {
            inventory.forget_retired(oldest);
        }
        closed
    }

    /// Adds a sample (from a tick or a replayed write-ahead log); false
    /// when it is late or already known.
    pub fn record(&mut self, sample: Sample, stats: &Stats) -> bool {
        let hour = sample.hour();
        if self.closed_before.is_some_and(|c| hour < c) {
            Stats::add(&stats.late_samples, 1);
            return false;
        }
        let key = (sample.pod_uid.clone(), sample.container.clone());
        if self
            .newest
            .get(&key)
            .is_some_and(|newest| *newest >= sample.ts)
        {
            return false;
        }
        self.newest.insert(key, sample.ts);
        self.first_sample = Some(self.first_sample.map_or(sample.ts, |f| f.min(sample.ts)));
        self.last_sample = Some(self.last_sample.map_or(sample.ts, |l| l.max(sample.ts)));
        self.book(hour).samples.push(sample);
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
    }

    fn track_restarts(&mut self, inventory: &Inventory, now: DateTime<Utc>) {
        let mut events: Vec<(DateTime<Utc>, ContainerKey, Events)> = Vec::new();
        for pod in inventory.pods() {
            for container in &pod.containers {
                let key = (pod.uid.clone(), container.name.clone());
                let current = (container.restarts, container.last_oom_kill);
                let Some(previous) = self.seen.insert(key.clone(), current) else {
                    continue;
                };
                let restarts = current.0.saturating_sub(previous.0);
                let oom = current.1.is_some() && current.1 != previous.1;
                if restarts > 0 || oom {
                    let at = if oom { current.1.unwrap_or(now) } else { now };
                    events.push((
                        at,
                        key,
                        Events {
                            restarts,
                            oom_kills: u32::from(oom),
                        },
                    ));
                }
            }
        }
        for (at, key, new) in events {
            let hour = hour_of(at);
            let hour = self.closed_before.map_or(hour, |c| hour.max(c));
            self.add_events(hour, key.clone(), new);
            self.tick.events.push((hour, key.0, key.1, new));
        }
        let live: std::collections::HashSet<&str> = inventory.pods().map(|p| &*p.uid).collect();
        self.seen.retain(|(uid, _), _| live.contains(&**uid));
        self.newest.retain(|(uid, _), _| live.contains(&**uid));
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
        std::mem::take(&mut self.open)
            .into_iter()
            .map(|(hour, hour_book)| hour_book.close(hour, until, inventory, book, rules))
            .collect()
    }

    /// Hours still open.
    pub fn open_hours(&self) -> Vec<DateTime<Utc>> {
        self.open.keys().copied().collect()
    }
}
