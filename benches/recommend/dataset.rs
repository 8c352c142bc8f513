//! The benchmark dataset: days of hourly `allocation`, `nodes` and
//! `workloads` files of a cluster with hundreds of thousands of workload
//! containers, made once and kept in a cache folder.
//!
//! A recommendation is per workload container (namespace, workload kind,
//! workload name, container), and the simulator's workloads run hundreds of
//! pods each: collecting a bigger cluster gives more pods, not more workload
//! containers. So one hour of the simulator is collected for real
//! (`benches/common/collect_hour.rs`) and its pods are relabelled: every pod
//! becomes the only pod of its own workload (`api` → `api-0`, `api-1`, …,
//! with a `workloads` row each, copied from its workload's), and whole
//! nodes with their pods are copied (node, pod and pod UID suffixed `-c1`,
//! `-c2`, …; namespaces and tenants kept) until the hour holds the wanted
//! number of distinct workload containers. One pod per workload keeps rows
//! at one per container and hour, so the disk holds the row count the
//! container count needs and no more (~100 M rows for 300,000 containers
//! over 14 days).
//!
//! That hour is replayed into every hour of the window with its times
//! moved. So that the recommender's decaying histograms and memory windows
//! see days that differ, every usage column of a replayed row is scaled by
//! a usage factor (the simulator's diurnal curve, 0.6–1.3, lower at the
//! weekend, its phase moved by a few hours per copy), the CPU and memory
//! histograms moved by as many 5 % buckets and the CPU sketch by as many
//! 2 % buckets; memory moves half as much as CPU. `*_usd` columns are scaled by the analysis dataset's hourly price
//! factor. Requests, limits, OOM kills and restarts are the collected
//! hour's. Pods are replaced: each pod gets a new UID and a new name suffix
//! every 24–168 hours (its own period and phase, ~1 % of pods an hour), so
//! a workload container sees several pods over the window, and a file's
//! rows (in the collector's order: namespace, workload, container, pod)
//! are not the previous hour's row for row. A workload's `workloads` row
//! has its pod's startup time in the hour the pod started and its run time
//! in the hour it ended, none in the other hours. What the replay does not
//! have is workload churn: the same workloads run all window.
//!
//! The files are written by the collector's writer (`allocation_batch`,
//! `nodes_batch`, `workloads_batch` and `Dataset::publish`), in the layout
//! the collector publishes, and kept with a `VERSION` marker
//! (`collect_hour::cached`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use kubetally::allocate::{AllocationRow, HourRows, NodeRow, WorkloadRow, sort_allocation};
use kubetally::model::histogram::{CPU_BUCKETS, Histogram, MEMORY_BUCKETS};
use kubetally::model::sketch::{self, Sketch};
use kubetally::sim::epoch;
use kubetally::store::schema::{ALLOCATION, NODES, Table, WORKLOADS};
use kubetally::store::{Dataset, Target, allocation_batch, nodes_batch, workloads_batch};

use super::collect_hour::{
    cached, collect_hour, current_thread_runtime, day_level, folder_bytes, is_weekend,
    mark_complete, price_factor, spec,
};
use super::fail;

/// Bump when what is generated changes: a cached dataset of another version
/// is made again.
const VERSION: &str = "recommend-dataset v5";
/// The `cluster=` partition.
pub const CLUSTER: &str = "sim";
/// Hours the diurnal phase of one copy of the nodes is behind the previous.
const PHASE_HOURS_PER_COPY: i64 = 5;
/// Pods are replaced every `MIN_POD_HOURS` to `MIN_POD_HOURS + POD_HOURS_SPREAD - 1` hours.
const MIN_POD_HOURS: i64 = 24;
const POD_HOURS_SPREAD: i64 = 145;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    /// Pods of the simulated cluster whose hour is collected.
    pub pods: usize,
    /// Distinct workload containers wanted (at least).
    pub containers: usize,
    /// Days of hourly files, from the simulator's epoch (2026-11-02).
    pub days: i64,
}

/// A generated dataset and what it holds.
pub struct Generated {
    pub root: PathBuf,
    /// The `VERSION` file's text: sizes, rows, bytes, how long it took.
    pub summary: String,
}

/// The dataset of `size`: the cached one when complete, else made now
/// (minutes at 300,000 containers).
pub fn ensure(size: Size, cache: &Path) -> Generated {
    let root = cache.join(format!(
        "recommend-{}-{}-{}d",
        size.pods, size.containers, size.days
    ));
    if let Some(summary) = cached(&root, VERSION) {
        return Generated { root, summary };
    }
    let started = Instant::now();
    let (hour, collect) = collect_hour(size.pods);
    let expand_started = Instant::now();
    let expanded = expand(&hour, size.containers);
    let expand = expand_started.elapsed();
    let replay_started = Instant::now();
    let written = replay(&root, &expanded, size.days);
    let summary = format!(
        "{VERSION}\ncollected: {} pods, {} nodes, cluster={CLUSTER}: {} allocation, {} nodes, {} workloads rows in {:.1} s\n\
         expanded hour: {} copies of the nodes, {} nodes, {} pods, {} workloads, {} distinct workload containers ({:.1} s)\n\
         {} days of hourly rows from {}\n{written}\nreplayed and written in {:.1} s; {:.1} s in all\n",
        size.pods,
        spec(size.pods).nodes,
        hour.allocation.len(),
        hour.nodes.len(),
        hour.workloads.len(),
        collect.as_secs_f64(),
        expanded.copies,
        expanded.nodes.len(),
        expanded.pods,
        expanded.workloads.len(),
        expanded.containers,
        expand.as_secs_f64(),
        size.days,
        epoch().date_naive(),
        replay_started.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64(),
    );
    mark_complete(&root, &summary);
    Generated { root, summary }
}

/// The relabelled hour.
struct Expanded {
    allocation: Vec<AllocationRow>,
    /// The copy each allocation row belongs to.
    allocation_copy: Vec<i64>,
    /// The pod (numbered in the expanded hour) of each allocation row.
    allocation_pod: Vec<i64>,
    nodes: Vec<NodeRow>,
    node_copy: Vec<i64>,
    workloads: Vec<WorkloadRow>,
    /// The pod (numbered as in `allocation_pod`) of each workload.
    workload_pod: Vec<i64>,
    copies: i64,
    pods: usize,
    containers: usize,
}

/// (namespace, kind, name).
type Workload = (Arc<str>, Arc<str>, Arc<str>);

fn suffixed(text: &str, copy: i64) -> Arc<str> {
    if copy == 0 {
        Arc::from(text)
    } else {
        Arc::from(format!("{text}-c{copy}"))
    }
}

/// Whole nodes of `hour`, copy after copy, each pod its own workload, until
/// `containers` distinct workload containers run.
fn expand(hour: &HourRows, containers: usize) -> Expanded {
    let mut nodes: Vec<&NodeRow> = hour.nodes.iter().collect();
    nodes.sort_by(|a, b| a.node.cmp(&b.node));
    let mut on_node: HashMap<&str, Vec<&AllocationRow>> = HashMap::new();
    for row in &hour.allocation {
        on_node.entry(&row.node).or_default().push(row);
    }
    let templates: HashMap<(&str, &str, &str), &WorkloadRow> = hour
        .workloads
        .iter()
        .map(|w| ((&*w.namespace, w.kind, &*w.name), w))
        .collect();
    if nodes.iter().all(|n| !on_node.contains_key(&*n.node)) {
        fail("the collected hour ran no containers");
    }
    let mut out = Expanded {
        allocation: Vec::new(),
        allocation_copy: Vec::new(),
        allocation_pod: Vec::new(),
        nodes: Vec::new(),
        node_copy: Vec::new(),
        workloads: Vec::new(),
        workload_pod: Vec::new(),
        copies: 0,
        pods: 0,
        containers: 0,
    };
    // Sub-workloads made of each workload so far: the next one's number.
    let mut made: HashMap<Workload, usize> = HashMap::new();
    let mut keys: BTreeSet<(Workload, Arc<str>)> = BTreeSet::new();
    let mut copy = 0;
    'copies: loop {
        for node in &nodes {
            if keys.len() >= containers {
                break 'copies;
            }
            out.nodes.push(NodeRow {
                node: suffixed(&node.node, copy),
                ..(*node).clone()
            });
            out.node_copy.push(copy);
            // The node's rows by pod, in row order (a pod's containers are adjacent).
            let mut pods: BTreeMap<&str, Vec<&AllocationRow>> = BTreeMap::new();
            for row in on_node.get(&*node.node).into_iter().flatten() {
                pods.entry(&row.pod_uid).or_default().push(row);
            }
            for rows in pods.values() {
                let first = rows[0];
                let workload = (
                    first.namespace.clone(),
                    first.workload_kind.clone(),
                    first.workload_name.clone(),
                );
                let number = made.entry(workload).or_default();
                let name: Arc<str> = Arc::from(format!("{}-{number}", first.workload_name));
                *number += 1;
                out.pods += 1;
                for row in rows {
                    out.allocation.push(AllocationRow {
                        node: suffixed(&row.node, copy),
                        workload_name: name.clone(),
                        pod: suffixed(&row.pod, copy),
                        pod_uid: suffixed(&row.pod_uid, copy),
                        ..(*row).clone()
                    });
                    out.allocation_copy.push(copy);
                    out.allocation_pod
                        .push(i64::try_from(out.pods).unwrap_or(0));
                    keys.insert((
                        (
                            row.namespace.clone(),
                            row.workload_kind.clone(),
                            name.clone(),
                        ),
                        row.container.clone(),
                    ));
                }
                let template = templates.get(&(
                    &*first.namespace,
                    &*first.workload_kind,
                    &*first.workload_name,
                ));
                if let Some(template) = template {
                    out.workloads.push(WorkloadRow {
                        name: name.clone(),
                        replicas: template.replicas.map(|_| 1),
                        pod_count: 1,
                        ..(*template).clone()
                    });
                    out.workload_pod.push(i64::try_from(out.pods).unwrap_or(0));
                }
            }
        }
        copy += 1;
    }
    // The collector's order of `workloads` rows, each row's pod with it.
    let mut order: Vec<usize> = (0..out.workloads.len()).collect();
    order.sort_by(|a, b| {
        let key = |w: &WorkloadRow| (w.namespace.clone(), w.kind, w.name.clone());
        key(&out.workloads[*a]).cmp(&key(&out.workloads[*b]))
    });
    out.workloads = order.iter().map(|i| out.workloads[*i].clone()).collect();
    out.workload_pod = order.iter().map(|i| out.workload_pod[*i]).collect();
    out.copies = out.node_copy.last().map_or(0, |c| c + 1);
    out.containers = keys.len();
    out
}

/// The usage factor of the hour `at` for copy `copy`: the diurnal curve
/// between 0.6 and 1.3 (its phase moved by the copy), times 0.85 at the
/// weekend.
fn usage_factor(at: DateTime<Utc>, copy: i64) -> f64 {
    let at = at - TimeDelta::hours(copy * PHASE_HOURS_PER_COPY);
    (0.6 + 0.7 * day_level(at)) * if is_weekend(at) { 0.85 } else { 1.0 }
}

/// `histogram` with every bucket but the first moved by as many buckets as
/// scaling by `factor` moves a value (5 % buckets), within the scheme.
fn moved(histogram: &Histogram, factor: f64, buckets: i32) -> Histogram {
    let shift = (factor.ln() / 1.05_f64.ln()).round() as i32;
    let mut out = Histogram::default();
    for (bucket, weight) in histogram.entries() {
        let bucket = if bucket == 0 {
            0
        } else {
            (bucket + shift).clamp(1, buckets - 1)
        };
        out.insert(bucket, weight);
    }
    out
}

/// `cpu` with every bucket but bucket 0 (the zeros) moved by as many
/// buckets as scaling by `factor` moves a value.
fn moved_sketch(cpu: &Sketch, factor: f64) -> Sketch {
    let shift = (factor.ln() / sketch::GAMMA.ln()).round() as i64;
    let mut out = Sketch::default();
    for (k, count) in cpu.entries() {
        let k = if k == 0 {
            0
        } else {
            u32::try_from((i64::from(k) + shift).max(1)).unwrap_or(u32::MAX)
        };
        out.insert(k, count);
    }
    out
}

/// Pod `pod`'s hours between replacements, and how far into the first
/// period it is at the collected hour.
fn replacement_period(pod: i64) -> (i64, i64) {
    let period = MIN_POD_HOURS + pod.wrapping_mul(7919).rem_euclid(POD_HOURS_SPREAD);
    (period, pod.rem_euclid(period))
}

/// Which replacement of pod `pod` runs at the hour `offset` (0: the
/// collected pod; it started `phase` hours before it).
fn replacement(pod: i64, offset: i64) -> i64 {
    let (period, phase) = replacement_period(pod);
    (offset + phase).div_euclid(period)
}

/// A pod's name and UID in its replacement `generation`: the name's last
/// part (the ReplicaSet's random suffix) and the UID made anew.
fn replaced(pod: &str, uid: &str, number: i64, generation: i64) -> (Arc<str>, Arc<str>) {
    if generation == 0 {
        return (Arc::from(pod), Arc::from(uid));
    }
    let base = pod.rsplit_once('-').map_or(pod, |(base, _)| base);
    let hash = (number.wrapping_mul(1_000_003) ^ generation.wrapping_mul(998_244_353))
        .unsigned_abs()
        % 60_466_176; // 36^5
    let suffix: String = (0..5)
        .map(|i| {
            let digit = (hash / 36_u64.pow(i)) % 36;
            char::from_digit(u32::try_from(digit).unwrap_or(0), 36).unwrap_or('x')
        })
        .collect();
    (
        Arc::from(format!("{base}-{suffix}")),
        Arc::from(format!("{uid}-r{generation}")),
    )
}

/// The pods' names and UIDs as of the last hour asked for, per row.
struct Names {
    generation: Vec<i64>,
    names: Vec<(Arc<str>, Arc<str>)>,
}

impl Names {
    fn new(expanded: &Expanded) -> Names {
        Names {
            generation: vec![0; expanded.allocation.len()],
            names: expanded
                .allocation
                .iter()
                .map(|row| (row.pod.clone(), row.pod_uid.clone()))
                .collect(),
        }
    }

    /// Row `row`'s pod name and UID at the hour `offset`.
    fn at(&mut self, expanded: &Expanded, row: usize, offset: i64) -> (Arc<str>, Arc<str>) {
        let pod = expanded.allocation_pod[row];
        let generation = replacement(pod, offset);
        if generation != self.generation[row] {
            let original = &expanded.allocation[row];
            self.names[row] = replaced(&original.pod, &original.pod_uid, pod, generation);
            self.generation[row] = generation;
        }
        self.names[row].clone()
    }
}

/// The expanded hour's allocation rows as the hour `offset` hours after the
/// collected one, in an order like the collector's.
fn allocation_hour(expanded: &Expanded, names: &mut Names, offset: i64) -> Vec<AllocationRow> {
    let moved_by = TimeDelta::hours(offset);
    let start = epoch() + moved_by;
    let price = price_factor(start);
    let factors: Vec<(f64, f64)> = (0..expanded.copies)
        .map(|copy| {
            let cpu = usage_factor(start, copy);
            (cpu, 1.0 + (cpu - 1.0) / 2.0)
        })
        .collect();
    let (cpu_buckets, memory_buckets) = (CPU_BUCKETS.buckets(), MEMORY_BUCKETS.buckets());
    let mut rows: Vec<AllocationRow> = expanded
        .allocation
        .iter()
        .zip(&expanded.allocation_copy)
        .enumerate()
        .map(|(index, (row, copy))| {
            let (cpu, memory) = factors[usize::try_from(*copy).unwrap_or(0)];
            let (pod, pod_uid) = names.at(expanded, index, offset);
            AllocationRow {
                start_time: row.start_time + moved_by,
                end_time: row.end_time + moved_by,
                pod,
                pod_uid,
                cpu_usage_core_hours: row.cpu_usage_core_hours * cpu,
                memory_usage_gib_hours: row.memory_usage_gib_hours * memory,
                cpu_usage_p50_cores: row.cpu_usage_p50_cores.map(|v| v * cpu),
                cpu_usage_p90_cores: row.cpu_usage_p90_cores.map(|v| v * cpu),
                cpu_usage_p95_cores: row.cpu_usage_p95_cores.map(|v| v * cpu),
                cpu_usage_max_cores: row.cpu_usage_max_cores.map(|v| v * cpu),
                memory_usage_max_bytes: row
                    .memory_usage_max_bytes
                    .map(|v| (v as f64 * memory) as i64),
                cpu_histogram: moved(&row.cpu_histogram, cpu, cpu_buckets),
                memory_histogram: moved(&row.memory_histogram, memory, memory_buckets),
                cpu_sketch: moved_sketch(&row.cpu_sketch, cpu),
                cpu_cost_usd: row.cpu_cost_usd * price,
                memory_cost_usd: row.memory_cost_usd * price,
                gpu_cost_usd: row.gpu_cost_usd * price,
                ..row.clone()
            }
        })
        .collect();
    // In the collector's order: a new pod lands among its workload's rows.
    sort_allocation(&mut rows);
    rows
}

fn nodes_hour(expanded: &Expanded, offset: i64) -> Vec<NodeRow> {
    let moved_by = TimeDelta::hours(offset);
    let start = epoch() + moved_by;
    let price = price_factor(start);
    expanded
        .nodes
        .iter()
        .zip(&expanded.node_copy)
        .map(|(row, copy)| {
            let cpu = usage_factor(start, *copy);
            NodeRow {
                start_time: row.start_time + moved_by,
                end_time: row.end_time + moved_by,
                cpu_cost_usd: row.cpu_cost_usd * price,
                memory_cost_usd: row.memory_cost_usd * price,
                gpu_cost_usd: row.gpu_cost_usd * price,
                allocated_cost_usd: row.allocated_cost_usd * price,
                cpu_core_hour_usd: row.cpu_core_hour_usd * price,
                memory_gib_hour_usd: row.memory_gib_hour_usd * price,
                cpu_usage_core_hours: row.cpu_usage_core_hours * cpu,
                memory_usage_gib_hours: row.memory_usage_gib_hours * (1.0 + (cpu - 1.0) / 2.0),
                ..row.clone()
            }
        })
        .collect()
}

/// The workloads' rows at the hour `offset`. A pod's startup is seen in the
/// hour it starts, its run in the hour it ends: in the collected hour every
/// pod started; later, only where a pod was replaced.
fn workloads_hour(expanded: &Expanded, offset: i64) -> Vec<WorkloadRow> {
    let moved_by = TimeDelta::hours(offset);
    expanded
        .workloads
        .iter()
        .zip(&expanded.workload_pod)
        .map(|(row, pod)| {
            let ended = replacement(*pod, offset - 1);
            let replaced = offset > 0 && replacement(*pod, offset) != ended;
            let (period, phase) = replacement_period(*pod);
            let ran_hours = offset - (ended * period - phase).max(0);
            WorkloadRow {
                start_time: row.start_time + moved_by,
                end_time: row.end_time + moved_by,
                // The simulator's pods are Ready 5 s after they start.
                startup_max_seconds: match (offset, replaced) {
                    (0, _) => row.startup_max_seconds,
                    (_, true) => row.startup_max_seconds.or(Some(5.0)),
                    _ => None,
                },
                pod_run_max_seconds: replaced.then_some(ran_hours as f64 * 3600.0),
                ..row.clone()
            }
        })
        .collect()
}

/// Writes the expanded hour into every hour of `days` days; returns a line
/// per table with its rows, files and bytes.
fn replay(root: &Path, expanded: &Expanded, days: i64) -> String {
    let dataset = Dataset {
        target: Target::Local(root.to_owned()),
        cluster: CLUSTER.to_owned(),
        writer: "bench".to_owned(),
    };
    let runtime = current_thread_runtime();
    let tables: [&'static Table; 3] = [&ALLOCATION, &NODES, &WORKLOADS];
    let mut totals = [(0u64, 0usize); 3];
    let mut names = Names::new(expanded);
    for offset in 0..days * 24 {
        let start = epoch() + TimeDelta::hours(offset);
        let batches = [
            allocation_batch(&allocation_hour(expanded, &mut names, offset)),
            nodes_batch(&nodes_hour(expanded, offset)),
            workloads_batch(&workloads_hour(expanded, offset)),
        ];
        for ((table, batch), total) in tables.iter().zip(batches).zip(&mut totals) {
            let batch = batch.unwrap_or_else(|e| fail(e));
            total.0 += batch.num_rows() as u64;
            total.1 += runtime
                .block_on(dataset.publish(table, start, &batch))
                .unwrap_or_else(|e| fail(e))
                .len();
        }
    }
    tables
        .iter()
        .zip(totals)
        .map(|(table, (rows, files))| {
            let bytes = folder_bytes(&root.join(table.name));
            format!(
                "{}: {rows} rows, {files} files, {bytes} bytes ({:.1} bytes/row)",
                table.name,
                bytes as f64 / rows.max(1) as f64
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
