//! Real usage traces read as container series for the backtest
//! (`kubetally recommend backtest --trace FILE…`): the formats of
//! `shared/traces/` (see its SOURCES.md), gzip or not, recognised by their
//! first line.
//!
//! - **Bitbrains GWA-T-12** (`Timestamp [ms];\tCPU cores;\t…`): one VM per
//!   file; CPU usage MHz ÷ MHz per core = cores, memory KB × 1024 = bytes;
//!   the provisioned cores and memory are the current request. The
//!   timestamps are Unix seconds despite the header.
//! - **Alibaba cluster-trace-v2018 `machine_usage`** (no header,
//!   `m_<id>,<seconds>,<cpu %>,<mem %>,…`): one series per machine; 96
//!   cores (every machine of the subset, from `machine_meta`), memory in
//!   normalised units where the machine is 100 — priced as 3.84 GiB a unit,
//!   E2's 4 GiB per vCPU on 96 vCPUs (an assumption, stated in the backtest
//!   report). Time starts at 2018-01-01 (the trace is relative).
//! - **Alibaba GenTD26 `pod_memory_util_anon`** (`value,timestamp_anon,
//!   container_ip`): one memory-only series per pod, in fractions of the
//!   pod's limit, taken as 1 GiB so the fraction is the share of it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use chrono::{DateTime, Utc};

use crate::model::units::GIB;

/// Alibaba 2018: every machine of the subset has 96 cores.
const ALIBABA_2018_CORES: f64 = 96.0;
/// Alibaba 2018 memory: 100 normalised units priced as 384 GiB.
const ALIBABA_2018_UNIT_BYTES: f64 = 3.84 * GIB;
/// 2018-01-01T00:00:00Z, the origin given to Alibaba 2018's relative times.
const ALIBABA_2018_ORIGIN: i64 = 1_514_764_800;

/// One usage sample; a missing resource is `None`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub time: DateTime<Utc>,
    pub cpu_cores: Option<f64>,
    pub memory_bytes: Option<f64>,
}

/// A container's usage over time, with what it has now.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// `file` or `file#id`.
    pub name: String,
    /// Sorted by time.
    pub points: Vec<Point>,
    pub cpu_request_cores: Option<f64>,
    pub memory_request_bytes: Option<f64>,
}

/// Why a trace file could not be read: one line naming the file and line.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("{path}: {cause}")]
    Io {
        path: String,
        #[source]
        cause: std::io::Error,
    },
    #[error(
        "{path}: the first line is not a format kubetally knows (Bitbrains GWA-T-12, Alibaba 2018 machine_usage, Alibaba GenTD26 pod_memory_util_anon)"
    )]
    UnknownFormat { path: String },
    #[error("{path}:{line}: {message}")]
    Line {
        path: String,
        line: usize,
        message: String,
    },
}

/// Reads every series in `path`.
///
/// # Errors
///
/// [`TraceError`] for an unreadable file, an unknown format or a bad line.
pub fn read(path: &Path) -> Result<Vec<Series>, TraceError> {
    let shown = path.display().to_string();
    let io = |cause| TraceError::Io {
        path: shown.clone(),
        cause,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut lines = BufReader::new(reader).lines();
    let first = match lines.next() {
        Some(line) => line.map_err(io)?,
        None => return Err(TraceError::UnknownFormat { path: shown }),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".gz").to_owned())
        .unwrap_or_else(|| shown.clone());
    let body = lines.map(|line| line.map_err(io));
    if first.starts_with("Timestamp [ms]") {
        bitbrains(&shown, &name, body).map(|s| vec![s])
    } else if first.trim() == "value,timestamp_anon,container_ip" {
        genai_pods(&shown, &name, body)
    } else if first.starts_with("m_") {
        alibaba_machines(&shown, &name, std::iter::once(Ok(first)).chain(body))
    } else {
        Err(TraceError::UnknownFormat { path: shown })
    }
}

fn number(path: &str, line: usize, field: Option<&str>, what: &str) -> Result<f64, TraceError> {
    let bad = |message: String| TraceError::Line {
        path: path.to_owned(),
        line,
        message,
    };
    let text = field
        .map(str::trim)
        .ok_or_else(|| bad(format!("no {what} column")))?;
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| bad(format!("{what} {text:?} is not a number")))
}

fn time(path: &str, line: usize, seconds: f64) -> Result<DateTime<Utc>, TraceError> {
    DateTime::<Utc>::from_timestamp_millis((seconds * 1000.0) as i64).ok_or_else(|| {
        TraceError::Line {
            path: path.to_owned(),
            line,
            message: format!("time {seconds} is out of range"),
        }
    })
}

fn bitbrains(
    path: &str,
    name: &str,
    lines: impl Iterator<Item = Result<String, TraceError>>,
) -> Result<Series, TraceError> {
    let mut points = Vec::new();
    let mut cores_seen: BTreeMap<i64, usize> = BTreeMap::new();
    let mut memory_seen: BTreeMap<i64, usize> = BTreeMap::new();
    for (index, line) in lines.enumerate() {
        let line_no = index + 2;
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(';').collect();
        let field = |i: usize| fields.get(i).copied();
        let seconds = number(path, line_no, field(0), "timestamp")?;
        let cores = number(path, line_no, field(1), "CPU cores")?;
        let capacity_mhz = number(path, line_no, field(2), "CPU capacity")?;
        let usage_mhz = number(path, line_no, field(3), "CPU usage")?;
        let memory_kb = number(path, line_no, field(5), "memory capacity")?;
        let usage_kb = number(path, line_no, field(6), "memory usage")?;
        // Degenerate rows (no cores, no capacity) say nothing about usage.
        if cores <= 0.0 || capacity_mhz <= 0.0 {
            continue;
        }
        *cores_seen.entry(cores as i64).or_default() += 1;
        *memory_seen.entry(memory_kb as i64).or_default() += 1;
        points.push(Point {
            time: time(path, line_no, seconds)?,
            cpu_cores: Some(usage_mhz / (capacity_mhz / cores)),
            memory_bytes: Some(usage_kb * 1024.0),
        });
    }
    points.sort_by_key(|p| p.time);
    points.dedup_by_key(|p| p.time);
    let mode = |seen: &BTreeMap<i64, usize>| {
        seen.iter()
            .max_by_key(|(value, count)| (**count, **value))
            .map(|(value, _)| *value as f64)
    };
    Ok(Series {
        name: name.to_owned(),
        points,
        cpu_request_cores: mode(&cores_seen),
        memory_request_bytes: mode(&memory_seen).map(|kb| kb * 1024.0),
    })
}

fn alibaba_machines(
    path: &str,
    name: &str,
    lines: impl Iterator<Item = Result<String, TraceError>>,
) -> Result<Vec<Series>, TraceError> {
    let mut machines: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    for (index, line) in lines.enumerate() {
        let line_no = index + 1;
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        let field = |i: usize| fields.get(i).copied();
        let machine = field(0).unwrap_or_default().to_owned();
        let seconds = number(path, line_no, field(1), "time_stamp")?;
        let cpu = number(path, line_no, field(2), "cpu_util_percent")?;
        let memory = number(path, line_no, field(3), "mem_util_percent")?;
        machines.entry(machine).or_default().push(Point {
            time: time(path, line_no, ALIBABA_2018_ORIGIN as f64 + seconds)?,
            cpu_cores: Some(cpu / 100.0 * ALIBABA_2018_CORES),
            memory_bytes: Some(memory * ALIBABA_2018_UNIT_BYTES),
        });
    }
    Ok(machines
        .into_iter()
        .map(|(machine, mut points)| {
            points.sort_by_key(|p| p.time);
            points.dedup_by_key(|p| p.time);
            Series {
                name: format!("{name}#{machine}"),
                points,
                cpu_request_cores: Some(ALIBABA_2018_CORES),
                memory_request_bytes: Some(100.0 * ALIBABA_2018_UNIT_BYTES),
            }
        })
        .collect())
}

fn genai_pods(
    path: &str,
    name: &str,
    lines: impl Iterator<Item = Result<String, TraceError>>,
) -> Result<Vec<Series>, TraceError> {
    let mut pods: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    for (index, line) in lines.enumerate() {
        let line_no = index + 2;
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        let field = |i: usize| fields.get(i).copied();
        let value = number(path, line_no, field(0), "value")?;
        let seconds = number(path, line_no, field(1), "timestamp_anon")?;
        let pod = field(2).unwrap_or_default().trim().to_owned();
        pods.entry(pod).or_default().push(Point {
            time: time(path, line_no, seconds)?,
            cpu_cores: None,
            memory_bytes: Some(value.max(0.0) * GIB),
        });
    }
    Ok(pods
        .into_iter()
        .map(|(pod, mut points)| {
            points.sort_by_key(|p| p.time);
            points.dedup_by_key(|p| p.time);
            Series {
                name: format!("{name}#{}", &pod[..pod.len().min(12)]),
                points,
                cpu_request_cores: None,
                memory_request_bytes: Some(GIB),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn file(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        let mut out = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{e}"));
        out.write_all(text.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        path
    }

    const BITBRAINS: &str = "Timestamp [ms];\tCPU cores;\tCPU capacity provisioned [MHZ];\tCPU usage [MHZ];\tCPU usage [%];\tMemory capacity provisioned [KB];\tMemory usage [KB];\tDisk read throughput [KB/s];\tDisk write throughput [KB/s];\tNetwork received throughput [KB/s];\tNetwork transmitted throughput [KB/s]\n1375308176;\t2;\t5200.0;\t1300.0;\t25.0;\t8388608.0;\t1048576.0;\t0;\t0;\t0;\t0\n1375308476;\t2;\t5200.0;\t2600.0;\t50.0;\t8388608.0;\t2097152.0;\t0;\t0;\t0;\t0\n";

    #[test]
    fn reads_bitbrains_in_cores_and_bytes() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let series = read(&file(dir.path(), "1.csv", BITBRAINS)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(series.len(), 1);
        let s = &series[0];
        assert_eq!(s.cpu_request_cores, Some(2.0));
        assert_eq!(s.memory_request_bytes, Some(8.0 * GIB));
        assert_eq!(s.points[0].cpu_cores, Some(0.5));
        assert_eq!(s.points[1].memory_bytes, Some(2.0 * GIB));
        assert_eq!(s.points[0].time.timestamp(), 1_375_308_176);
    }

    #[test]
    fn reads_alibaba_machines_and_genai_pods_as_several_series() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let machines = "m_1,0,50,90,,,1,1,5\nm_1,60,25,91,,,1,1,5\nm_2,0,10,80,,,1,1,5\n";
        let series = read(&file(dir.path(), "machine_usage.csv", machines))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].points[0].cpu_cores, Some(48.0));
        let pods = "value,timestamp_anon,container_ip\n0.5,1662858720.0,aa\n0.25,1662858720.0,bb\n0.75,1662858777.0,aa\n";
        let series = read(&file(dir.path(), "pods.csv", pods)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].points.len(), 2);
        assert_eq!(series[0].points[1].memory_bytes, Some(0.75 * GIB));
        assert_eq!(series[0].points[0].cpu_cores, None);
    }

    #[test]
    fn bad_input_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let text = BITBRAINS.replace("2600.0", "lots");
        let error = read(&file(dir.path(), "bad.csv", &text))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("bad.csv:3: CPU usage \"lots\""), "{error}");
        let error = read(&file(dir.path(), "x.csv", "hello\n"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("x.csv: the first line"), "{error}");
        let error = read(&dir.path().join("missing.csv"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("missing.csv"), "{error}");
    }
}
