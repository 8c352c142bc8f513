//! The right-sizing strategies, on one container's usage series.
//!
//! - `vpa`: the VPA recommender ([`super::vpa`]) fed every sample: request =
//!   its target; limits keep the current limit/request ratio, which for the
//!   traces (no limits known) means memory limit = request and no CPU limit.
//! - `krr-simple`: Robusta KRR's default: CPU request = p95 of usage
//!   (Prometheus' `quantile_over_time` interpolation), no CPU limit; memory
//!   request = limit = max × 1.15; rounded up to 1m / 1 MiB, floors 10m /
//!   100 MiB; "not enough data" under 100 points.
//! - `kubetally`: the CPU request as VPA sizes it (decayed p90 + 15 %, which
//!   held CPU contention lowest on the backtest); no CPU limit (a CPU limit
//!   throttles a container that could have used idle cycles); the memory
//!   request at VPA's decayed p90 of daily peaks without its 15 % margin,
//!   and the margin in the memory *limit* instead: the highest working set seen × 1.3, never
//!   below the request. An OOM kill is what users of VPA and KRR complain
//!   about most after applying a recommendation, and it is the limit, not
//!   the request, that decides one; the request is what the bill and the
//!   scheduler see. Memory requests are rounded up to 1 MiB with a 100 MiB
//!   floor (KRR's).
//!   Undecided under an hour of history or 30 samples (half an hour at
//!   metrics-server's one a minute): below that there is no peak to limit
//!   memory from. (KRR wants 100 points; on the backtest that left a fifth
//!   of the GenAI pods unsized for no fewer OOMs.)

use chrono::Duration;

use super::trace::Point;
use super::vpa;

const MIB: f64 = 1024.0 * 1024.0;

/// Which rule sizes a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Strategy {
    Kubetally,
    Vpa,
    #[value(name = "krr-simple")]
    KrrSimple,
}

impl Strategy {
    pub const ALL: [Strategy; 3] = [Strategy::Kubetally, Strategy::Vpa, Strategy::KrrSimple];

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Kubetally => "kubetally",
            Strategy::Vpa => "vpa",
            Strategy::KrrSimple => "krr-simple",
        }
    }
}

/// Requests and limits; `None` is "unset" (for a resource the series does
/// not have, or a limit the strategy leaves off).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sizing {
    pub cpu_request_cores: Option<f64>,
    pub cpu_limit_cores: Option<f64>,
    pub memory_request_bytes: Option<f64>,
    pub memory_limit_bytes: Option<f64>,
}

/// Why a strategy would not size a container: said, never guessed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undecided {
    /// Fewer samples than the strategy needs.
    NotEnoughData { points: usize, needed: usize },
    /// Less history than the strategy needs.
    TooShort { hours: i64, needed: i64 },
}

impl std::fmt::Display for Undecided {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Undecided::NotEnoughData { points, needed } => {
                write!(f, "not enough data: {points} samples, {needed} needed")
            }
            Undecided::TooShort { hours, needed } => {
                write!(f, "history too short: {hours} h, {needed} h needed")
            }
        }
    }
}

/// KRR's minimum number of points.
const KRR_POINTS: usize = 100;

/// What `strategy` recommends from `points` (sorted by time).
pub fn size(strategy: Strategy, points: &[Point]) -> Result<Sizing, Undecided> {
    match strategy {
        Strategy::Vpa => vpa_sizing(points).ok_or(Undecided::NotEnoughData {
            points: 0,
            needed: 1,
        }),
        Strategy::KrrSimple => krr_simple(points),
        Strategy::Kubetally => kubetally(points),
    }
}

/// VPA's state after every sample of `points`, and which resources they had.
fn vpa_state(points: &[Point]) -> Option<(vpa::Aggregate, bool, bool)> {
    if points.is_empty() {
        return None;
    }
    let config = vpa::Config::default();
    let mut aggregate = vpa::Aggregate::new(&config);
    let mut container = vpa::Container::default();
    let (mut has_cpu, mut has_memory) = (false, false);
    for point in points {
        if let Some(cores) = point.cpu_cores {
            has_cpu |= container.add_cpu_sample(&mut aggregate, point.time, cores.max(0.0));
        }
        if let Some(bytes) = point.memory_bytes {
            has_memory |= container.add_memory_sample(
                &config,
                &mut aggregate,
                point.time,
                vpa::amount(bytes),
                false,
            );
        }
    }
    if !has_cpu {
        // Confidence counts CPU samples only: a memory-only series gets it
        // from its memory samples' times instead.
        if let (Some(first), Some(last)) = (points.first(), points.last()) {
            aggregate.count_samples(first.time, last.time, points.len() as u64);
        }
    }
    Some((aggregate, has_cpu, has_memory))
}

fn vpa_sizing(points: &[Point]) -> Option<Sizing> {
    let (aggregate, has_cpu, has_memory) = vpa_state(points)?;
    let target = vpa::recommend(&vpa::Config::default(), &[&aggregate])
        .first()?
        .target;
    let memory = has_memory.then_some(target.memory_bytes as f64);
    Some(Sizing {
        cpu_request_cores: has_cpu.then_some(target.cpu_millicores as f64 / 1000.0),
        cpu_limit_cores: None,
        memory_request_bytes: memory,
        memory_limit_bytes: memory,
    })
}

/// Prometheus' `quantile_over_time`: linear interpolation between the
/// order statistics at rank φ × (n − 1).
fn prometheus_quantile(values: &mut [f64], phi: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = phi * (values.len() - 1) as f64;
    let below = rank.floor() as usize;
    let above = (below + 1).min(values.len() - 1);
    let weight = rank - below as f64;
    Some(values[below] * (1.0 - weight) + values[above] * weight)
}

fn krr_simple(points: &[Point]) -> Result<Sizing, Undecided> {
    if points.len() < KRR_POINTS {
        return Err(Undecided::NotEnoughData {
            points: points.len(),
            needed: KRR_POINTS,
        });
    }
    let mut cpu: Vec<f64> = points.iter().filter_map(|p| p.cpu_cores).collect();
    let cpu = prometheus_quantile(&mut cpu, 0.95)
        .map(|cores| ((cores * 1000.0).ceil() / 1000.0).max(0.010));
    let memory = points
        .iter()
        .filter_map(|p| p.memory_bytes)
        .reduce(f64::max)
        .map(|max| ((max * 1.15 / MIB).ceil() * MIB).max(100.0 * MIB));
    Ok(Sizing {
        cpu_request_cores: cpu,
        cpu_limit_cores: None,
        memory_request_bytes: memory,
        memory_limit_bytes: memory,
    })
}

/// kubetally's memory limit headroom over the highest working set seen.
const MEMORY_LIMIT_HEADROOM: f64 = 1.3;

/// kubetally's minimum samples and history.
const KUBETALLY_POINTS: usize = 10;

fn kubetally(points: &[Point]) -> Result<Sizing, Undecided> {
    if points.len() < KUBETALLY_POINTS {
        return Err(Undecided::NotEnoughData {
            points: points.len(),
            needed: KUBETALLY_POINTS,
        });
    }
    let span = match (points.first(), points.last()) {
        (Some(first), Some(last)) => last.time - first.time,
        _ => Duration::zero(),
    };
    if span < Duration::hours(1) {
        return Err(Undecided::TooShort {
            hours: span.num_hours(),
            needed: 1,
        });
    }
    let cpu = vpa_sizing(points).and_then(|s| s.cpu_request_cores);
    let memory_request = vpa_state(points)
        .filter(|(_, _, has_memory)| *has_memory)
        .map(|(aggregate, _, _)| {
            let p90 = aggregate.memory_peaks.percentile(0.9);
            ((p90 / MIB).ceil() * MIB).max(100.0 * MIB)
        });
    let peak = points
        .iter()
        .filter_map(|p| p.memory_bytes)
        .reduce(f64::max);
    let memory_limit = match (memory_request, peak) {
        (Some(request), Some(peak)) => {
            Some(((peak * MEMORY_LIMIT_HEADROOM / MIB).ceil() * MIB).max(request))
        }
        (request, _) => request,
    };
    Ok(Sizing {
        cpu_request_cores: cpu,
        cpu_limit_cores: None,
        memory_request_bytes: memory_request,
        memory_limit_bytes: memory_limit,
    })
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn points(minutes: i64, cpu: impl Fn(i64) -> f64, memory: impl Fn(i64) -> f64) -> Vec<Point> {
        let t0 = Utc
            .with_ymd_and_hms(2026, 11, 2, 0, 0, 0)
            .single()
            .unwrap_or_default();
        (0..minutes)
            .map(|m| Point {
                time: t0 + Duration::minutes(m),
                cpu_cores: Some(cpu(m)),
                memory_bytes: Some(memory(m)),
            })
            .collect()
    }

    #[test]
    fn krr_simple_is_p95_and_max_plus_15_percent_rounded_up() {
        // CPU 0.001..=0.200 cores in 200 steps; memory peaks at 1000 MiB.
        let series = points(
            200,
            |m| (m + 1) as f64 / 1000.0,
            |m| if m == 50 { 1000.0 * MIB } else { 200.0 * MIB },
        );
        let sizing = krr_simple(&series).unwrap_or_else(|u| panic!("{u}"));
        // Rank 0.95 × 199 = 189.05 → 0.190 + 0.05 × 0.001 = 0.19005 → 0.191 cores.
        assert_eq!(sizing.cpu_request_cores, Some(0.191));
        assert_eq!(sizing.cpu_limit_cores, None);
        assert_eq!(sizing.memory_request_bytes, Some(1150.0 * MIB));
        assert_eq!(sizing.memory_limit_bytes, sizing.memory_request_bytes);
        // Floors: 10m and 100 MiB.
        let idle = points(200, |_| 0.0001, |_| MIB);
        let sizing = krr_simple(&idle).unwrap_or_else(|u| panic!("{u}"));
        assert_eq!(sizing.cpu_request_cores, Some(0.010));
        assert_eq!(sizing.memory_request_bytes, Some(100.0 * MIB));
        assert_eq!(
            krr_simple(&idle[..99]),
            Err(Undecided::NotEnoughData {
                points: 99,
                needed: 100
            })
        );
    }

    #[test]
    fn kubetally_requests_cpu_like_vpa_and_sizes_memory_from_daily_peaks() {
        // Ten days; day 3 peaks at 2000 MiB, the others at 500..=900 MiB.
        let series = points(
            10 * 1440,
            |_| 0.5,
            |m| match m / 1440 {
                3 if m % 1440 == 100 => 2000.0 * MIB,
                day => (500 + 50 * (day % 9)) as f64 * MIB,
            },
        );
        let ours = kubetally(&series).unwrap_or_else(|u| panic!("{u}"));
        let vpa = vpa_sizing(&series).unwrap_or_default();
        assert_eq!(ours.cpu_request_cores, vpa.cpu_request_cores);
        assert_eq!(ours.cpu_limit_cores, None);
        // VPA's p90 of the decayed daily peaks without the margin: its
        // target ÷ 1.15 (to the MiB and the bucket).
        let request = ours.memory_request_bytes.unwrap_or_default();
        let vpa_memory = vpa.memory_request_bytes.unwrap_or_default();
        assert!(
            (request * 1.15 - vpa_memory).abs() < 1.2 * MIB,
            "{request} vs {vpa_memory}"
        );
        assert_eq!(ours.memory_limit_bytes, Some(2600.0 * MIB));
        assert!(matches!(
            kubetally(&series[..50]),
            Err(Undecided::TooShort { .. })
        ));
    }
}
