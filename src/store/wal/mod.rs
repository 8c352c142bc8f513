//! The write-ahead log of the open hours: every tick's samples, node usage
//! and container events are appended (Arrow IPC stream, fsync per tick)
//! before anything else happens with them, so a `kill -9` at any moment
//! loses no sample already logged. On start the collector replays it; an
//! hour's log is deleted only once the full hour is published, so a replay
//! can only republish an hour (same file names: it replaces), never add to it.
//!
//! Layout: `<dir>/<cluster>/<YYYY-MM-DDTHH>.<writer>.<kind>.<segment>.arrow`.
//! An IPC stream cannot be reopened for appending, so each process start
//! writes new segments beside the ones it replayed.
//!
//! Each tick's samples go to a file of their own (`ticksamples`), sorted as
//! the `samples` table is and in small batches: a closed hour's table is
//! then merged from those sorted runs ([`merge`]) a row group at a time,
//! so the collector need not keep the hour's samples until it is published.
//! (Logs written before kept an hour's samples in one unsorted `samples`
//! stream; they still replay, and such an hour is published from memory.)

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, AsArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    StringBuilder, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use chrono::{DateTime, NaiveDateTime, Utc};

use super::rows::samples_batch;
use crate::allocate::{
    Events, NodePoint, PodVersion, ResourceVersion, Sample, SampleContext, SampleKey, sample_key,
};
use crate::cluster::{BilledKind, Interner, SlimPod};
use crate::model::units::millicores;

/// The log's folder inside the dataset folder when none is given: the
/// `_` keeps it out of every table's files (readers skip `_`-names).
pub const DEFAULT_DIR: &str = "_wal";

pub mod merge;

/// Pod versions per batch of the log's pod part.
const POD_BATCH_ROWS: usize = 4096;

/// Samples per batch of a tick's sorted file: what a merge of an hour's
/// ~60 tick files holds of each at a time (~300 KB decoded).
const SAMPLE_BATCH_ROWS: usize = 2048;

/// Why the log could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("write-ahead log {path}")]
    Io {
        path: PathBuf,
        #[source]
        cause: std::io::Error,
    },
    #[error("write-ahead log {path}")]
    Arrow {
        path: PathBuf,
        #[source]
        cause: ArrowError,
    },
    #[error("write-ahead log {path}: a disk or load balancer record")]
    Resource {
        path: PathBuf,
        #[source]
        cause: serde_json::Error,
    },
    #[error("write-ahead log {path}: a pod record")]
    Pod {
        path: PathBuf,
        #[source]
        cause: serde_json::Error,
    },
}

impl WalError {
    /// The file or folder the error is about.
    pub fn path(&self) -> &Path {
        match self {
            WalError::Io { path, .. }
            | WalError::Arrow { path, .. }
            | WalError::Resource { path, .. }
            | WalError::Pod { path, .. } => path,
        }
    }
}

/// What one tick adds to the log.
#[derive(Debug, Default)]
pub struct TickLog {
    pub samples: Vec<Sample>,
    pub nodes: Vec<NodeEntry>,
    pub events: Vec<EventEntry>,
    /// New versions of what pods are billed by: their lifetimes, granted
    /// requests, node, owner and labels, so a pod deleted from the API
    /// before a crash is still billed after it.
    pub pods: Vec<PodEntry>,
    /// New versions of disks and load balancers, and each hour's first
    /// sight of every live one.
    pub resources: Vec<ResourceEntry>,
}

impl TickLog {
    /// Whether it holds nothing to log.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
            && self.nodes.is_empty()
            && self.events.is_empty()
            && self.pods.is_empty()
            && self.resources.is_empty()
    }

    /// Drops what belongs to `hours`. A tick the log refused and that waits
    /// to be logged must lose its part of an hour published meanwhile:
    /// logged after the publish, it would make a restart republish that
    /// part of the hour over the whole.
    pub fn forget(&mut self, hours: &BTreeSet<DateTime<Utc>>) {
        self.samples.retain(|s| !hours.contains(&s.hour()));
        self.nodes.retain(|(hour, ..)| !hours.contains(hour));
        self.events.retain(|(hour, ..)| !hours.contains(hour));
        self.pods.retain(|(hour, _)| !hours.contains(hour));
        self.resources.retain(|(hour, ..)| !hours.contains(hour));
    }
}

/// (the hour whose file holds it, kind, id, version)
pub type ResourceEntry = (DateTime<Utc>, BilledKind, Arc<str>, ResourceVersion);

/// How a [`ResourceEntry`] is written: JSON, like a pod.
#[derive(serde::Serialize, serde::Deserialize)]
struct ResourceRecord {
    kind: BilledKind,
    id: Arc<str>,
    version: ResourceVersion,
}

/// (the hour whose file holds it, version)
pub type PodEntry = (DateTime<Utc>, PodVersion);

/// (hour, node, usage)
pub type NodeEntry = (DateTime<Utc>, Arc<str>, NodePoint);
/// (hour, pod uid, container, events)
pub type EventEntry = (DateTime<Utc>, Arc<str>, Arc<str>, Events);

/// One log file of this writer.
struct LogFile {
    hour: DateTime<Utc>,
    part: Part,
    segment: u32,
    path: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    /// An hour's samples in the order they came (logs of earlier versions).
    Samples,
    Nodes,
    Events,
    Pods,
    Resources,
    /// One tick's samples of an hour, sorted as the `samples` table.
    TickSamples,
}

impl Part {
    fn name(self) -> &'static str {
        match self {
            Part::Samples => "samples",
            Part::Nodes => "nodes",
            Part::Events => "events",
            Part::Pods => "pods",
            Part::Resources => "resources",
            Part::TickSamples => "ticksamples",
        }
    }

    fn from_name(name: &str) -> Option<Part> {
        match name {
            "samples" => Some(Part::Samples),
            "nodes" => Some(Part::Nodes),
            "events" => Some(Part::Events),
            "pods" => Some(Part::Pods),
            "resources" => Some(Part::Resources),
            "ticksamples" => Some(Part::TickSamples),
            _ => None,
        }
    }
}

fn node_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(
            "hour",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new("node", DataType::Utf8, false),
        Field::new("cpu_cores", DataType::Float64, false),
        Field::new("memory_bytes", DataType::Int64, false),
    ]))
}

fn event_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(
            "hour",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new("pod_uid", DataType::Utf8, false),
        Field::new("container", DataType::Utf8, false),
        Field::new("restarts", DataType::Int32, false),
        Field::new("oom_kills", DataType::Int32, false),
    ]))
}

/// A pod version: when it took effect, and the pod as JSON (its fields
/// change more often than a log's schema should).
fn pod_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(
            "hour",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new(
            "since",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new("pod", DataType::Utf8, false),
    ]))
}

/// A disk or load balancer version as JSON, in the file of its hour.
fn resource_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(
            "hour",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new("entry", DataType::Utf8, false),
    ]))
}

/// An open hour segment being appended to.
struct Segment {
    path: PathBuf,
    writer: StreamWriter<BufWriter<File>>,
    /// Bytes synced to disk after the last complete tick: where a failed
    /// append cuts the file back to.
    durable: u64,
}

/// The log of one collector (cluster and writer).
pub struct Wal {
    dir: PathBuf,
    writer: String,
    segment: u32,
    open: BTreeMap<(DateTime<Utc>, Part), Segment>,
    /// The segments the append in progress wrote to, and their durable
    /// length before it (0: created by it).
    touched: Vec<((DateTime<Utc>, Part), u64)>,
    /// Samples the log holds of each hour: counted as ticks are appended
    /// and as a replay reads the files (so a cell: replaying only reads).
    logged: RefCell<BTreeMap<DateTime<Utc>, Logged>>,
}

/// What the log holds of one hour's samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Logged {
    rows: usize,
    /// Some are in a log of an earlier version, unsorted.
    unsorted: bool,
}

/// Everything a replay found.
#[derive(Debug, Default)]
pub struct Replay {
    pub log: TickLog,
    /// Segments whose tail was cut by a crash (their complete batches are kept).
    pub truncated: Vec<PathBuf>,
}

fn hour_key(hour: DateTime<Utc>) -> String {
    hour.format("%Y-%m-%dT%H").to_string()
}

impl Wal {
    /// Opens (creating) the log directory of `cluster` under `dir`.
    ///
    /// # Errors
    ///
    /// [`WalError::Io`] when the directory cannot be created or listed.
    pub fn open(dir: &Path, cluster: &str, writer: &str) -> Result<Wal, WalError> {
        let dir = dir.join(cluster);
        fs::create_dir_all(&dir).map_err(|cause| WalError::Io {
            path: dir.clone(),
            cause,
        })?;
        let mut wal = Wal {
            dir,
            writer: writer.to_owned(),
            segment: 0,
            open: BTreeMap::new(),
            touched: Vec::new(),
            logged: RefCell::default(),
        };
        wal.segment = wal
            .files()?
            .iter()
            .map(|f| f.segment + 1)
            .max()
            .unwrap_or(0);
        Ok(wal)
    }

    /// This writer's log files, oldest first.
    fn files(&self) -> Result<Vec<LogFile>, WalError> {
        let entries = fs::read_dir(&self.dir).map_err(|cause| WalError::Io {
            path: self.dir.clone(),
            cause,
        })?;
        let mut files = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let parts: Vec<&str> = name.split('.').collect();
            let [hour, writer, part, segment, "arrow"] = parts.as_slice() else {
                continue;
            };
            if *writer != self.writer {
                continue;
            }
            let (Ok(hour), Some(part), Ok(segment)) = (
                NaiveDateTime::parse_from_str(&format!("{hour}:00"), "%Y-%m-%dT%H:%M"),
                Part::from_name(part),
                segment.parse::<u32>(),
            ) else {
                continue;
            };
            files.push(LogFile {
                hour: hour.and_utc(),
                part,
                segment,
                path,
            });
        }
        files.sort_by_key(|f| (f.hour, f.part, f.segment));
        Ok(files)
    }

    /// Bytes the log holds on disk.
    pub fn bytes(&self) -> u64 {
        self.files()
            .map(|files| {
                files
                    .iter()
                    .filter_map(|f| fs::metadata(&f.path).ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Reads back everything logged and not yet discarded.
    ///
    /// # Errors
    ///
    /// [`WalError`] when a file cannot be opened; a segment cut short by a
    /// crash is read up to its last complete batch and reported in
    /// [`Replay::truncated`].
    pub fn replay(&self) -> Result<Replay, WalError> {
        let mut replay = Replay::default();
        let mut interner = Interner::default();
        let mut logged: BTreeMap<DateTime<Utc>, Logged> = BTreeMap::new();
        for LogFile {
            hour, part, path, ..
        } in self.files()?
        {
            let file = File::open(&path).map_err(|cause| WalError::Io {
                path: path.clone(),
                cause,
            })?;
            let reader = match StreamReader::try_new(std::io::BufReader::new(file), None) {
                Ok(reader) => reader,
                // Not even a schema: the crash came before the first batch.
                Err(_) => {
                    replay.truncated.push(path);
                    continue;
                }
            };
            for batch in reader {
                let Ok(batch) = batch else {
                    replay.truncated.push(path.clone());
                    break;
                };
                let arrow = |cause| WalError::Arrow {
                    path: path.clone(),
                    cause,
                };
                match part {
                    Part::Samples | Part::TickSamples => {
                        let entry = logged.entry(hour).or_default();
                        entry.rows += batch.num_rows();
                        entry.unsorted |= part == Part::Samples;
                        replay
                            .log
                            .samples
                            .extend(samples_from(&batch, &mut interner).map_err(arrow)?);
                    }
                    Part::Nodes => replay
                        .log
                        .nodes
                        .extend(nodes_from(&batch, &mut interner).map_err(arrow)?),
                    Part::Events => replay
                        .log
                        .events
                        .extend(events_from(&batch, &mut interner).map_err(arrow)?),
                    Part::Pods => replay.log.pods.extend(pods_from(&batch, &path)?),
                    Part::Resources => replay.log.resources.extend(resources_from(&batch, &path)?),
                }
            }
        }
        self.logged.replace(logged);
        Ok(replay)
    }

    /// The `samples` rows of `hour` merged from its tick files, when the log
    /// holds exactly `count` of them, all sorted: the ledger's count of the
    /// hour, so none waits in memory for the log (a tick the log refused)
    /// and the hour can be published from the log alone.
    pub fn sorted_samples(
        &self,
        hour: DateTime<Utc>,
        count: usize,
    ) -> Option<merge::LoggedSamples> {
        let logged = self.logged.borrow().get(&hour).copied().unwrap_or_default();
        if logged.unsorted || logged.rows != count {
            return None;
        }
        let files = self
            .files()
            .ok()?
            .into_iter()
            .filter(|f| f.hour == hour && f.part == Part::TickSamples)
            .map(|f| f.path)
            .collect();
        Some(merge::LoggedSamples::new(files, count))
    }

    fn segment(&mut self, hour: DateTime<Utc>, part: Part) -> Result<&mut Segment, WalError> {
        if !self.open.contains_key(&(hour, part)) {
            let path = self.dir.join(format!(
                "{}.{}.{}.{:06}.arrow",
                hour_key(hour),
                self.writer,
                part.name(),
                self.segment
            ));
            let schema = match part {
                Part::Samples | Part::TickSamples => crate::store::schema::SAMPLES.schema(),
                Part::Nodes => node_schema(),
                Part::Events => event_schema(),
                Part::Pods => pod_schema(),
                Part::Resources => resource_schema(),
            };
            let file = File::create(&path).map_err(|cause| WalError::Io {
                path: path.clone(),
                cause,
            })?;
            let writer = StreamWriter::try_new(BufWriter::new(file), &schema).map_err(|cause| {
                WalError::Arrow {
                    path: path.clone(),
                    cause,
                }
            })?;
            self.open.insert(
                (hour, part),
                Segment {
                    path,
                    writer,
                    durable: 0,
                },
            );
        }
        self.open
            .get_mut(&(hour, part))
            .ok_or_else(|| WalError::Io {
                path: PathBuf::new(),
                cause: std::io::Error::other("segment vanished"),
            })
    }

    fn write(
        &mut self,
        hour: DateTime<Utc>,
        part: Part,
        batch: &RecordBatch,
    ) -> Result<(), WalError> {
        let before = self.open.get(&(hour, part)).map_or(0, |s| s.durable);
        if !self.touched.iter().any(|(key, _)| *key == (hour, part)) {
            self.touched.push(((hour, part), before));
        }
        let segment = self.segment(hour, part)?;
        let path = segment.path.clone();
        segment
            .writer
            .write(batch)
            .and_then(|()| segment.writer.flush())
            .map_err(|cause| WalError::Arrow {
                path: path.clone(),
                cause,
            })?;
        let file = segment.writer.get_ref().get_ref();
        file.sync_data()
            .and_then(|()| file.metadata())
            .map(|metadata| segment.durable = metadata.len())
            .map_err(|cause| WalError::Io { path, cause })
    }

    /// Appends one tick and syncs it to disk before returning. A tick is
    /// logged whole or not at all: when a write fails (a full disk), every
    /// file this append wrote to is cut back to its last complete tick, so
    /// the caller can append the same tick again later without logging any
    /// of it twice, and a replay never meets a torn record.
    ///
    /// # Errors
    ///
    /// [`WalError`] naming the file that could not be written.
    pub fn append(&mut self, tick: &TickLog) -> Result<(), WalError> {
        self.touched.clear();
        let appended = self.append_parts(tick);
        if appended.is_err() {
            self.roll_back();
        } else {
            self.close_tick_samples(tick);
        }
        self.touched.clear();
        appended
    }

    /// After a tick is logged: its samples' files are complete (the next
    /// tick's go to new ones) and count for their hours.
    fn close_tick_samples(&mut self, tick: &TickLog) {
        if tick.samples.is_empty() {
            return;
        }
        self.open.retain(|(_, part), _| *part != Part::TickSamples);
        self.segment = self.segment.saturating_add(1);
        let mut logged = self.logged.borrow_mut();
        for sample in &tick.samples {
            logged.entry(sample.hour()).or_default().rows += 1;
        }
    }

    /// Cuts the files of a failed append back to where they were before it
    /// and closes them; the next append opens new segments. Truncating needs
    /// no free space. If even that fails, replay reads the file to its last
    /// complete record and reports it.
    fn roll_back(&mut self) {
        for (key, durable) in std::mem::take(&mut self.touched) {
            let Some(segment) = self.open.remove(&key) else {
                continue;
            };
            let Segment { path, writer, .. } = segment;
            // Dropping may flush buffered bytes; they are cut below.
            drop(writer);
            let _ = if durable == 0 {
                fs::remove_file(&path)
            } else {
                fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|file| {
                        file.set_len(durable)?;
                        file.sync_data()
                    })
            };
        }
        // A segment's name cannot be reused: the cut file keeps it.
        self.segment = self.segment.saturating_add(1);
    }

    fn append_parts(&mut self, tick: &TickLog) -> Result<(), WalError> {
        let mut samples: BTreeMap<DateTime<Utc>, Vec<&Sample>> = BTreeMap::new();
        for sample in &tick.samples {
            samples.entry(sample.hour()).or_default().push(sample);
        }
        for (hour, rows) in samples {
            // Keys made once, not at every comparison. (Key, time) is unique
            // in a tick: the ledger takes no sample of a container at a time
            // it has, so an unstable sort is the same as a stable one.
            let mut keyed: Vec<(SampleKey, &Sample)> =
                rows.into_iter().map(|s| (sample_key(s), s)).collect();
            keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            for chunk in keyed.chunks(SAMPLE_BATCH_ROWS) {
                let chunk: Vec<Sample> = chunk.iter().map(|(_, s)| Sample::clone(s)).collect();
                let batch = samples_batch(&chunk).map_err(|cause| WalError::Arrow {
                    path: self.dir.clone(),
                    cause,
                })?;
                self.write(hour, Part::TickSamples, &batch)?;
            }
        }
        let mut nodes: BTreeMap<DateTime<Utc>, Vec<&NodeEntry>> = BTreeMap::new();
        for node in &tick.nodes {
            nodes.entry(node.0).or_default().push(node);
        }
        for (hour, rows) in nodes {
            let columns: Vec<ArrayRef> = vec![
                Arc::new(TimestampMillisecondArray::from_iter_values(
                    rows.iter().map(|r| r.0.timestamp_millis()),
                )),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &*r.1))),
                Arc::new(Float64Array::from_iter_values(
                    rows.iter().map(|r| r.2.cpu_cores),
                )),
                Arc::new(Int64Array::from_iter_values(
                    rows.iter().map(|r| r.2.memory_bytes),
                )),
            ];
            let batch =
                RecordBatch::try_new(node_schema(), columns).map_err(|cause| WalError::Arrow {
                    path: self.dir.clone(),
                    cause,
                })?;
            self.write(hour, Part::Nodes, &batch)?;
        }
        let mut events: BTreeMap<DateTime<Utc>, Vec<_>> = BTreeMap::new();
        for event in &tick.events {
            events.entry(event.0).or_default().push(event);
        }
        for (hour, rows) in events {
            let count = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
            let columns: Vec<ArrayRef> = vec![
                Arc::new(TimestampMillisecondArray::from_iter_values(
                    rows.iter().map(|r| r.0.timestamp_millis()),
                )),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &*r.1))),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &*r.2))),
                Arc::new(Int32Array::from_iter_values(
                    rows.iter().map(|r| count(r.3.restarts)),
                )),
                Arc::new(Int32Array::from_iter_values(
                    rows.iter().map(|r| count(r.3.oom_kills)),
                )),
            ];
            let batch =
                RecordBatch::try_new(event_schema(), columns).map_err(|cause| WalError::Arrow {
                    path: self.dir.clone(),
                    cause,
                })?;
            self.write(hour, Part::Events, &batch)?;
        }
        let mut pods: BTreeMap<DateTime<Utc>, Vec<&PodEntry>> = BTreeMap::new();
        for entry in &tick.pods {
            pods.entry(entry.0).or_default().push(entry);
        }
        for (hour, rows) in pods {
            // A batch per few thousand pods: the first tick logs every pod
            // (~700 bytes of JSON each, 100 MB at 150,000 pods), and one
            // batch held it twice over (the strings, then the array).
            for rows in rows.chunks(POD_BATCH_ROWS) {
                let mut json = StringBuilder::with_capacity(rows.len(), rows.len() * 768);
                let mut buffer = Vec::with_capacity(1024);
                for (_, version) in rows {
                    buffer.clear();
                    serde_json::to_writer(&mut buffer, &*version.pod).map_err(|cause| {
                        WalError::Pod {
                            path: self.dir.clone(),
                            cause,
                        }
                    })?;
                    // serde_json writes UTF-8.
                    json.append_value(String::from_utf8_lossy(&buffer));
                }
                let columns: Vec<ArrayRef> = vec![
                    Arc::new(TimestampMillisecondArray::from_iter_values(
                        rows.iter().map(|r| r.0.timestamp_millis()),
                    )),
                    Arc::new(TimestampMillisecondArray::from_iter_values(
                        rows.iter().map(|r| r.1.since.timestamp_millis()),
                    )),
                    Arc::new(json.finish()),
                ];
                let batch = RecordBatch::try_new(pod_schema(), columns).map_err(|cause| {
                    WalError::Arrow {
                        path: self.dir.clone(),
                        cause,
                    }
                })?;
                self.write(hour, Part::Pods, &batch)?;
            }
        }
        let mut resources: BTreeMap<DateTime<Utc>, Vec<String>> = BTreeMap::new();
        for (hour, kind, id, version) in &tick.resources {
            let record = ResourceRecord {
                kind: *kind,
                id: id.clone(),
                version: version.clone(),
            };
            let json = serde_json::to_string(&record).map_err(|cause| WalError::Resource {
                path: self.dir.clone(),
                cause,
            })?;
            resources.entry(*hour).or_default().push(json);
        }
        for (hour, json) in resources {
            let columns: Vec<ArrayRef> = vec![
                Arc::new(TimestampMillisecondArray::from_iter_values(
                    json.iter().map(|_| hour.timestamp_millis()),
                )),
                Arc::new(StringArray::from_iter_values(json)),
            ];
            let batch = RecordBatch::try_new(resource_schema(), columns).map_err(|cause| {
                WalError::Arrow {
                    path: self.dir.clone(),
                    cause,
                }
            })?;
            self.write(hour, Part::Resources, &batch)?;
        }
        Ok(())
    }

    /// Forgets the hours now published in full: closes and deletes their files.
    ///
    /// # Errors
    ///
    /// [`WalError::Io`] when a file cannot be deleted.
    pub fn discard(&mut self, hours: &BTreeSet<DateTime<Utc>>) -> Result<(), WalError> {
        self.open.retain(|(hour, _), _| !hours.contains(hour));
        self.logged
            .borrow_mut()
            .retain(|hour, _| !hours.contains(hour));
        for LogFile { hour, path, .. } in self.files()? {
            if hours.contains(&hour) {
                fs::remove_file(&path).map_err(|cause| WalError::Io { path, cause })?;
            }
        }
        Ok(())
    }
}

fn strings(batch: &RecordBatch, name: &str) -> Result<StringArray, ArrowError> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| ArrowError::SchemaError(format!("no column {name}")))?;
    let plain = arrow::compute::cast(column, &DataType::Utf8)?;
    Ok(plain.as_string::<i32>().clone())
}

fn millis(batch: &RecordBatch, name: &str) -> Result<Vec<i64>, ArrowError> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| ArrowError::SchemaError(format!("no column {name}")))?;
    let plain = arrow::compute::cast(column, &DataType::Int64)?;
    Ok(plain.as_primitive::<Int64Type>().values().to_vec())
}

fn floats(batch: &RecordBatch, name: &str) -> Result<Float64Array, ArrowError> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| ArrowError::SchemaError(format!("no column {name}")))?;
    Ok(column.as_primitive::<Float64Type>().clone())
}

fn ints(batch: &RecordBatch, name: &str) -> Result<Int64Array, ArrowError> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| ArrowError::SchemaError(format!("no column {name}")))?;
    let plain = arrow::compute::cast(column, &DataType::Int64)?;
    Ok(plain.as_primitive::<Int64Type>().clone())
}

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default()
}

fn samples_from(batch: &RecordBatch, interner: &mut Interner) -> Result<Vec<Sample>, ArrowError> {
    let chunk = merge::Chunk::of(batch)?;
    // Samples of one container share one context, as the ledger's do.
    let mut contexts: HashMap<(Arc<str>, Arc<str>), Arc<SampleContext>> = HashMap::new();
    Ok((0..chunk.len())
        .map(|row| {
            let context = chunk.context(row, |_, value| interner.get(value));
            let key = (context.pod_uid.clone(), context.container.clone());
            let shared = match contexts.get(&key) {
                Some(known) if **known == context => known.clone(),
                _ => {
                    let new = Arc::new(context);
                    contexts.insert(key, new.clone());
                    new
                }
            };
            chunk.sample_of(row, shared)
        })
        .collect())
}

/// CPU usage in millicores; logs written before the column was an integer
/// hold `cpu_usage_cores` as a float.
fn cpu_millicores(batch: &RecordBatch) -> Result<Vec<i64>, ArrowError> {
    use crate::store::schema::col;
    if batch.column_by_name(col::CPU_USAGE_MILLICORES).is_some() {
        return Ok(ints(batch, col::CPU_USAGE_MILLICORES)?.values().to_vec());
    }
    let cores = floats(batch, "cpu_usage_cores")?;
    Ok(cores.values().iter().map(|c| millicores(*c)).collect())
}

fn nodes_from(batch: &RecordBatch, interner: &mut Interner) -> Result<Vec<NodeEntry>, ArrowError> {
    let hour = millis(batch, "hour")?;
    let node = strings(batch, "node")?;
    let cpu = floats(batch, "cpu_cores")?;
    let memory = ints(batch, "memory_bytes")?;
    Ok((0..batch.num_rows())
        .map(|i| {
            (
                time(hour[i]),
                interner.get(node.value(i)),
                NodePoint {
                    cpu_cores: cpu.value(i),
                    memory_bytes: memory.value(i),
                },
            )
        })
        .collect())
}

fn events_from(
    batch: &RecordBatch,
    interner: &mut Interner,
) -> Result<Vec<EventEntry>, ArrowError> {
    let hour = millis(batch, "hour")?;
    let uid = strings(batch, "pod_uid")?;
    let container = strings(batch, "container")?;
    let restarts = ints(batch, "restarts")?;
    let ooms = ints(batch, "oom_kills")?;
    let count = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
    Ok((0..batch.num_rows())
        .map(|i| {
            (
                time(hour[i]),
                interner.get(uid.value(i)),
                interner.get(container.value(i)),
                Events {
                    restarts: count(restarts.value(i)),
                    oom_kills: count(ooms.value(i)),
                },
            )
        })
        .collect())
}

fn resources_from(batch: &RecordBatch, path: &Path) -> Result<Vec<ResourceEntry>, WalError> {
    let hour = millis(batch, "hour").map_err(|cause| WalError::Arrow {
        path: path.to_owned(),
        cause,
    })?;
    let entry = strings(batch, "entry").map_err(|cause| WalError::Arrow {
        path: path.to_owned(),
        cause,
    })?;
    (0..batch.num_rows())
        .map(|i| {
            let record: ResourceRecord =
                serde_json::from_str(entry.value(i)).map_err(|cause| WalError::Resource {
                    path: path.to_owned(),
                    cause,
                })?;
            Ok((time(hour[i]), record.kind, record.id, record.version))
        })
        .collect()
}

fn pods_from(batch: &RecordBatch, path: &Path) -> Result<Vec<PodEntry>, WalError> {
    let arrow = |cause| WalError::Arrow {
        path: path.to_owned(),
        cause,
    };
    let hour = millis(batch, "hour").map_err(arrow)?;
    let since = millis(batch, "since").map_err(arrow)?;
    let pod = strings(batch, "pod").map_err(arrow)?;
    (0..batch.num_rows())
        .map(|i| {
            let pod: SlimPod =
                serde_json::from_str(pod.value(i)).map_err(|cause| WalError::Pod {
                    path: path.to_owned(),
                    cause,
                })?;
            Ok((
                time(hour[i]),
                PodVersion {
                    since: time(since[i]),
                    pod: Arc::new(pod),
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn sample(minute: i64) -> Sample {
        Sample {
            ts: crate::sim::epoch() + Duration::minutes(minute),
            window_seconds: 30.0,
            context: Arc::new(SampleContext {
                namespace: "shop".into(),
                pod: "api-1".into(),
                pod_uid: "uid-1".into(),
                container: "app".into(),
                node: "n1".into(),
                workload_kind: "Deployment".into(),
                workload_name: "api".into(),
                tenant: "acme".into(),
                cpu_request_cores: Some(0.5),
                cpu_limit_cores: None,
                memory_request_bytes: Some(1 << 30),
                memory_limit_bytes: None,
            }),
            cpu_usage_millicores: 250,
            memory_usage_bytes: 1 << 20,
        }
    }

    /// A tick's node usage, `minute` as its CPU: each tick's samples have a
    /// file of their own, but an hour's node usage is one segment.
    fn node_tick(minute: i64) -> TickLog {
        let point = NodePoint {
            cpu_cores: minute as f64,
            memory_bytes: 1 << 30,
        };
        TickLog {
            nodes: vec![(crate::sim::epoch(), Arc::from("n1"), point)],
            ..TickLog::default()
        }
    }

    fn node_minutes(replay: &Replay) -> Vec<i64> {
        replay
            .log
            .nodes
            .iter()
            .map(|(_, _, point)| point.cpu_cores as i64)
            .collect()
    }

    #[test]
    fn a_record_torn_in_the_middle_keeps_what_came_before_and_reports_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), "c", "w").unwrap();
        let mut ends = Vec::new();
        for minute in 1..=3 {
            wal.append(&node_tick(minute)).unwrap();
            let file = wal.files().unwrap().remove(0).path;
            ends.push(std::fs::metadata(&file).unwrap().len() as usize);
        }
        drop(wal);
        let wal = Wal::open(dir.path(), "c", "w").unwrap();
        let file = wal.files().unwrap().remove(0).path;
        let mut bytes = std::fs::read(&file).unwrap();
        // Garble the second tick's record past its first bytes, as a disk
        // that lost a sector would; the third is intact after it.
        for byte in &mut bytes[ends[0] + 8..ends[1] - 8] {
            *byte = 0xff;
        }
        std::fs::write(&file, &bytes).unwrap();

        let replay = wal.replay().unwrap();
        let minutes = node_minutes(&replay);
        assert!(
            minutes.first() == Some(&1) && minutes.len() < 3,
            "what came before the torn record, and nothing after it: {minutes:?}"
        );
        assert_eq!(replay.truncated, vec![file]);

        // A new segment written after the torn one is read in full, and so
        // is a tick's samples file.
        let mut wal = Wal::open(dir.path(), "c", "w").unwrap();
        let mut tick = node_tick(4);
        tick.samples = vec![sample(4)];
        wal.append(&tick).unwrap();
        let replay = wal.replay().unwrap();
        assert!(node_minutes(&replay).contains(&4));
        assert_eq!(replay.log.samples, vec![sample(4)]);
    }

    #[test]
    fn a_tick_logging_more_pods_than_a_batch_replays_every_one_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), "c", "w").unwrap();
        let hour = crate::sim::epoch();
        let pods: Vec<PodEntry> = (0..POD_BATCH_ROWS * 2 + 3)
            .map(|i| {
                let pod = SlimPod {
                    uid: format!("uid-{i}").into(),
                    name: format!("pod-{i}").into(),
                    ..SlimPod::default()
                };
                let since = hour + chrono::Duration::seconds(i as i64);
                (
                    hour,
                    PodVersion {
                        since,
                        pod: Arc::new(pod),
                    },
                )
            })
            .collect();
        let tick = TickLog {
            pods: pods.clone(),
            ..TickLog::default()
        };
        wal.append(&tick).unwrap();
        let replayed = wal.replay().unwrap().log.pods;
        assert_eq!(replayed, pods);
    }
}
