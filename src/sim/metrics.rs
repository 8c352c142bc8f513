//! Usage on the simulated clock, served as metrics-server serves it
//! (`metrics.k8s.io/v1beta1` PodMetrics and NodeMetrics).
//!
//! Usage is a pure function of (seed, container, simulated time), so every
//! reader at the same simulated instant sees the same numbers and a seed
//! reproduces a week of usage exactly.

use std::collections::HashMap;
use std::time::Instant;

use chrono::{DateTime, Duration, SecondsFormat, Timelike, Utc};
use serde_json::{Value, json};

use super::cluster::{ClusterModel, ContainerModel, UsageProfile};

/// metrics-server's resolution: a new sample every 15 s, averaged over 30 s here.
pub const SCRAPE_SECONDS: i64 = 15;
pub const WINDOW_SECONDS: i64 = 30;

/// The simulated clock: `speed` simulated seconds per real second from `start`.
///
/// The speed can change while it runs (tests pause it to compare a cache
/// with a cluster that has stopped moving); time never jumps back.
#[derive(Debug)]
pub struct SimClock {
    anchor: std::sync::Mutex<Anchor>,
}

#[derive(Debug, Clone, Copy)]
struct Anchor {
    simulated: DateTime<Utc>,
    real: Instant,
    speed: f64,
}

impl Anchor {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = self.real.elapsed().as_secs_f64() * self.speed;
        self.simulated + Duration::milliseconds((elapsed * 1000.0) as i64)
    }
}

impl SimClock {
    pub fn new(start: DateTime<Utc>, speed: f64) -> SimClock {
        SimClock {
            anchor: std::sync::Mutex::new(Anchor {
                simulated: start,
                real: Instant::now(),
                speed,
            }),
        }
    }

    fn anchor(&self) -> Anchor {
        match self.anchor.lock() {
            Ok(anchor) => *anchor,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }

    /// The current simulated time.
    pub fn now(&self) -> DateTime<Utc> {
        self.anchor().now()
    }

    /// Simulated seconds per real second from now on; 0 pauses the clock.
    pub fn set_speed(&self, speed: f64) {
        let mut anchor = match self.anchor.lock() {
            Ok(anchor) => anchor,
            Err(poisoned) => poisoned.into_inner(),
        };
        *anchor = Anchor {
            simulated: anchor.now(),
            real: Instant::now(),
            speed: speed.max(0.0),
        };
    }

    /// Moves the clock `by` forward at once (the fast clock's step: a
    /// paused clock advanced by each metrics poll).
    pub fn advance(&self, by: Duration) {
        let mut anchor = match self.anchor.lock() {
            Ok(anchor) => anchor,
            Err(poisoned) => poisoned.into_inner(),
        };
        *anchor = Anchor {
            simulated: anchor.now() + by.max(Duration::zero()),
            real: Instant::now(),
            speed: anchor.speed,
        };
    }

    /// Real time until the simulated clock reads `at` (zero when it has;
    /// an hour when the clock is paused).
    pub fn real_until(&self, at: DateTime<Utc>) -> std::time::Duration {
        let anchor = self.anchor();
        let ahead = (at - anchor.now()).num_milliseconds().max(0) as f64 / 1000.0;
        if anchor.speed <= 0.0 {
            return std::time::Duration::from_secs(3600);
        }
        std::time::Duration::from_secs_f64(ahead / anchor.speed)
    }

    /// The end of the newest metrics window: now, rounded down to a scrape.
    pub fn last_scrape(&self) -> DateTime<Utc> {
        let now = self.now();
        let seconds = now.timestamp() - now.timestamp().rem_euclid(SCRAPE_SECONDS);
        DateTime::<Utc>::from_timestamp(seconds, 0).unwrap_or(now)
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Deterministic noise in [-1, 1) for a container at a scrape.
fn noise(seed: u64, jitter: f64, scrape: i64) -> f64 {
    let bits = mix(seed ^ jitter.to_bits() ^ (scrape as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    (bits >> 11) as f64 / (1_u64 << 52) as f64 - 1.0
}

/// Traffic over the day in [0, 1]: trough at 03:00 UTC, peak at 15:00.
pub fn day_level(time: DateTime<Utc>) -> f64 {
    let hour = f64::from(time.hour()) + f64::from(time.minute()) / 60.0;
    0.5 - 0.5 * ((hour - 3.0) / 24.0 * std::f64::consts::TAU).cos()
}

/// CPU cores and memory bytes a container uses at `time`.
pub fn usage(seed: u64, container: &ContainerModel, time: DateTime<Utc>) -> (f64, f64) {
    if let UsageProfile::Constant {
        cpu_cores,
        memory_bytes,
    } = container.profile
    {
        return (cpu_cores, memory_bytes);
    }
    let scrape = time.timestamp() / SCRAPE_SECONDS;
    let day = day_level(time);
    let level = match container.profile {
        UsageProfile::Diurnal => 0.1 + 0.8 * day,
        UsageProfile::OverProvisioned => 0.08 + 0.2 * container.jitter,
        UsageProfile::RightSized => 0.55 + 0.3 * container.jitter,
        UsageProfile::UnderProvisioned => 1.1 + 0.5 * container.jitter,
        UsageProfile::Idle => 0.01,
        UsageProfile::Leak => 0.3 + 0.2 * container.jitter,
        UsageProfile::Batch | UsageProfile::Constant { .. } => 0.85,
    };
    let (cpu_basis, memory_basis) = container.usage_basis();
    let wobble = 1.0 + 0.15 * noise(seed, container.jitter, scrape);
    let cpu = (cpu_basis * level * wobble).max(0.0005);
    let memory_level = match container.profile {
        UsageProfile::UnderProvisioned => 1.1 + 0.3 * container.jitter,
        UsageProfile::Idle => 0.2,
        UsageProfile::Batch | UsageProfile::Constant { .. } => 0.6,
        UsageProfile::Leak => {
            // From a third of the limit to just under it when the kill comes.
            let limit = container
                .resources
                .memory_limit_bytes
                .unwrap_or(memory_basis);
            let period = container.leak_period().num_seconds().max(1) as f64;
            let age = (time - container.started)
                .num_seconds()
                .clamp(0, period as i64) as f64;
            (0.33 + 0.66 * age / period) * limit / memory_basis
        }
        _ => 0.4 + 0.4 * container.jitter,
    };
    let memory =
        memory_basis * memory_level * (1.0 + 0.005 * noise(seed ^ 1, container.jitter, scrape));
    (cpu, memory.max(1_048_576.0))
}

/// `123456789n`, as metrics-server writes CPU.
fn cpu_text(cores: f64) -> String {
    format!("{}n", (cores * 1e9).round() as u64)
}

/// `30794804Ki`, as metrics-server writes memory.
fn memory_text(bytes: f64) -> String {
    format!("{}Ki", (bytes / 1024.0).round() as u64)
}

fn stamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// PodMetrics of every running pod (of `namespace`, when given).
pub fn pod_metrics(
    model: &ClusterModel,
    seed: u64,
    clock: &SimClock,
    namespace: Option<&str>,
) -> Vec<(String, String, Value)> {
    let at = clock.last_scrape();
    model
        .pods
        .values()
        .filter(|pod| namespace.is_none_or(|ns| pod.namespace == ns))
        .map(|pod| {
            let containers: Vec<Value> = pod
                .containers
                .iter()
                .map(|c| {
                    let (cpu, memory) = usage(seed, c, at);
                    json!({"name": c.name, "usage": {"cpu": cpu_text(cpu), "memory": memory_text(memory)}})
                })
                .collect();
            let value = json!({
                "kind": "PodMetrics",
                "apiVersion": "metrics.k8s.io/v1beta1",
                "metadata": {"name": pod.name, "namespace": pod.namespace, "labels": pod.labels, "creationTimestamp": stamp(clock.now())},
                "timestamp": stamp(at),
                "window": format!("{WINDOW_SECONDS}s"),
                "containers": containers
            });
            (pod.namespace.clone(), pod.name.clone(), value)
        })
        .collect()
}

/// NodeMetrics of every node: its pods' usage plus the system's own.
pub fn node_metrics(
    model: &ClusterModel,
    seed: u64,
    clock: &SimClock,
) -> Vec<(String, String, Value)> {
    let at = clock.last_scrape();
    let mut totals: HashMap<&str, (f64, f64)> = model
        .nodes
        .iter()
        .map(|n| (n.as_str(), (0.12, 6.0e8)))
        .collect();
    for pod in model.pods.values() {
        if let Some(total) = totals.get_mut(pod.node.as_str()) {
            for container in &pod.containers {
                let (cpu, memory) = usage(seed, container, at);
                total.0 += cpu;
                total.1 += memory;
            }
        }
    }
    model
        .nodes
        .iter()
        .map(|node| {
            let (cpu, memory) = totals.get(node.as_str()).copied().unwrap_or_default();
            let value = json!({
                "kind": "NodeMetrics",
                "apiVersion": "metrics.k8s.io/v1beta1",
                "metadata": {"name": node, "labels": {}, "creationTimestamp": stamp(clock.now())},
                "timestamp": stamp(at),
                "window": format!("{WINDOW_SECONDS}s"),
                "usage": {"cpu": cpu_text(cpu), "memory": memory_text(memory)}
            });
            (String::new(), node.clone(), value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Quantity;

    fn model(profile: UsageProfile) -> ContainerModel {
        ContainerModel {
            jitter: 0.5,
            ..ContainerModel::new("app", 1.0, 1024.0, profile)
        }
    }

    #[test]
    fn usage_follows_the_profile_and_is_reproducible() {
        let noon = super::super::cluster::epoch() + Duration::hours(15);
        let night = super::super::cluster::epoch() + Duration::hours(3);
        let diurnal = model(UsageProfile::Diurnal);
        assert!(usage(1, &diurnal, noon).0 > 3.0 * usage(1, &diurnal, night).0);
        assert_eq!(usage(1, &diurnal, noon), usage(1, &diurnal, noon));
        assert!(usage(1, &model(UsageProfile::UnderProvisioned), noon).0 > 1.0);
        assert!(usage(1, &model(UsageProfile::OverProvisioned), noon).0 < 0.3);
    }

    #[test]
    fn quantities_are_formatted_as_metrics_server_does()
    -> Result<(), crate::model::ParseQuantityError> {
        assert_eq!(cpu_text(0.123456789), "123456789n");
        assert_eq!(memory_text(31_533_879_296.0), "30794804Ki");
        assert_eq!(Quantity::parse(&cpu_text(0.25))?.as_cores(), 0.25);
        Ok(())
    }
}
