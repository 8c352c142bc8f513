//! A usage series replayed as the collector would have recorded it: its
//! points rounded to the millicore and the byte as samples are, grouped
//! into clock hours, each hour summarised as its `allocation` row
//! ([`HourUsage`]) and folded by [`History::of_pod`] — so the backtest
//! sizes a trace from exactly what `kubetally recommend` would read.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

use super::history::{History, HourRow};
use super::trace::Point;
use super::vpa;
use crate::model::units::GIB;
use crate::model::usage::HourUsage;

/// One clock hour of a series, as its `allocation` row holds it.
struct Hour {
    start: DateTime<Utc>,
    running_seconds: f64,
    usage: HourUsage,
    histogram: (Vec<i32>, Vec<f64>),
    sketch: (Vec<i32>, Vec<f64>),
}

impl Hour {
    fn new(start: DateTime<Utc>, points: &[Point], interval_seconds: f64) -> Hour {
        // The collector's samples hold whole millicores and bytes.
        let cpu: Vec<f64> = points
            .iter()
            .filter_map(|p| p.cpu_cores)
            .map(|cores| (cores.max(0.0) * 1000.0).round() / 1000.0)
            .collect();
        let memory: Vec<i64> = points
            .iter()
            .filter_map(|p| p.memory_bytes)
            .map(|bytes| bytes.max(0.0).round() as i64)
            .collect();
        let usage = HourUsage::of(&cpu, &memory);
        let histogram = usage.cpu_histogram.entries().unzip();
        // As `store::rows` writes the sketch: bucket as int32, count as float64.
        let sketch = usage
            .cpu_sketch
            .entries()
            .map(|(k, count)| (i32::try_from(k).unwrap_or(i32::MAX), f64::from(count)))
            .unzip();
        Hour {
            start,
            running_seconds: (points.len() as f64 * interval_seconds).min(3600.0),
            usage,
            histogram,
            sketch,
        }
    }

    /// The row, with `cpu_request_cores` and `memory_request_bytes` held
    /// while it ran (unpriced: the backtest prices requests itself).
    fn row(&self, cpu_request_cores: f64, memory_request_bytes: f64) -> HourRow<'_> {
        let hours = self.running_seconds / 3600.0;
        HourRow {
            hour: self.start,
            running_seconds: self.running_seconds,
            sample_count: i32::try_from(self.usage.samples).unwrap_or(i32::MAX),
            cpu_request_core_hours: cpu_request_cores * hours,
            memory_request_gib_hours: memory_request_bytes / GIB * hours,
            cpu_billed_core_hours: 0.0,
            memory_billed_gib_hours: 0.0,
            cpu_cost_usd: 0.0,
            memory_cost_usd: 0.0,
            cpu_usage_max_cores: self.usage.cpu_max_cores,
            memory_usage_max_bytes: self.usage.memory_max_bytes,
            cpu_histogram: (&self.histogram.0, &self.histogram.1),
            cpu_sketch: Some((&self.sketch.0, &self.sketch.1)),
            oom_kills: 0,
            restarts: 0,
        }
    }
}

/// The median time between consecutive points, in seconds (60 with fewer
/// than two points).
fn interval_seconds(points: &[Point]) -> f64 {
    let mut gaps: Vec<i64> = points
        .windows(2)
        .map(|w| (w[1].time - w[0].time).num_milliseconds())
        .collect();
    gaps.sort_unstable();
    gaps.get(gaps.len() / 2)
        .map_or(60.0, |ms| *ms as f64 / 1000.0)
}

/// The history of one pod whose usage was `points` (sorted by time) while
/// it requested `cpu_request_cores` and `memory_request_bytes`.
pub fn history(points: &[Point], cpu_request_cores: f64, memory_request_bytes: f64) -> History {
    let interval = interval_seconds(points);
    let mut hours: Vec<Hour> = Vec::new();
    let mut from = 0;
    while from < points.len() {
        let start = points[from]
            .time
            .duration_trunc(TimeDelta::hours(1))
            .unwrap_or(points[from].time);
        let end = start + TimeDelta::hours(1);
        let until = from + points[from..].partition_point(|p| p.time < end);
        hours.push(Hour::new(start, &points[from..until], interval));
        from = until;
    }
    History::of_pod(
        &vpa::Config::default(),
        hours
            .iter()
            .map(|hour| hour.row(cpu_request_cores, memory_request_bytes)),
    )
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn points(minutes: i64, cpu: f64, memory: f64) -> Vec<Point> {
        let t0 = Utc
            .with_ymd_and_hms(2026, 11, 2, 0, 30, 0)
            .single()
            .unwrap_or_default();
        (0..minutes)
            .map(|m| Point {
                time: t0 + TimeDelta::minutes(m),
                cpu_cores: Some(cpu),
                memory_bytes: Some(memory),
            })
            .collect()
    }

    #[test]
    fn points_fold_hour_by_hour_like_allocation_rows() {
        // 00:30 to 02:29 at one a minute: three clock hours (30 + 60 + 30).
        let history = history(&points(120, 0.2504, GIB), 1.0, 2.0 * GIB);
        assert_eq!(history.samples, 120);
        assert_eq!(
            history.first_hour.map(|h| h.format("%H").to_string()),
            Some("00".into())
        );
        assert_eq!(
            history.last_hour.map(|h| h.format("%H").to_string()),
            Some("02".into())
        );
        // Usage is recorded to the millicore, as the collector does.
        assert_eq!(history.cpu_max_cores, Some(0.25));
        assert_eq!(history.memory_max_bytes, Some(GIB));
        assert_eq!(history.cpu_by_pod.len(), 1);
        assert!(
            (history.pod_hours - 2.0).abs() < 1e-9,
            "{}",
            history.pod_hours
        );
        assert!((history.cpu_request_cores() - 1.0).abs() < 1e-9);
        assert!((history.memory_request_bytes() - 2.0 * GIB).abs() < 1.0);
    }

    #[test]
    fn a_memory_only_series_has_no_cpu_history() {
        let mut series = points(30, 0.0, GIB);
        for p in &mut series {
            p.cpu_cores = None;
        }
        let history = history(&series, 0.0, GIB);
        assert_eq!(history.samples, 30);
        assert!(history.cpu_by_pod.is_empty());
        assert_eq!(history.cpu_max_cores, None);
    }
}
