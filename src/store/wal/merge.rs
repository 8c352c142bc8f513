//! A closed hour's `samples` table merged from its tick files.
//!
//! Each tick's samples of an hour are logged sorted by [`sample_key`], in
//! batches of a few thousand rows. The hour's table is the merge of those
//! ~60 sorted runs: one batch of each file is decoded at a time, so the
//! merge holds a few tens of MB however many samples the hour has, and the
//! collector can drop the hour's samples from memory as soon as its bill is
//! made (docs/performance.md, issue 21).
//!
//! The rows are the ones the ledger kept, in the same order: the log holds
//! every sample the ledger took of the hour (the caller checks the count,
//! [`super::Wal::sorted_samples`]), and a container's samples are in time
//! order in both.

use std::collections::VecDeque;
use std::fs::File;
use std::io::BufReader;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arrow::array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::error::ArrowError;
use arrow::ipc::reader::StreamReader;

use super::{cpu_millicores, floats, ints, millis, strings, time};
use crate::allocate::{Sample, SampleContext, SampleKey};
use crate::store::rows::samples_batch;
use crate::store::schema::col;

/// An hour's `samples` rows as the log holds them, made a row group at a
/// time for [`crate::store::Dataset::publish_rows`].
pub struct LoggedSamples {
    files: Vec<PathBuf>,
    count: usize,
    /// The merge under way and how many rows it has given. The dataset asks
    /// for the rows front to back; a range anywhere else (a retried
    /// publish) starts the merge over.
    state: Mutex<Option<(Box<Merge>, usize)>>,
}

impl std::fmt::Debug for LoggedSamples {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoggedSamples")
            .field("files", &self.files)
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

impl LoggedSamples {
    /// The merge of `files` (the hour's tick files, in the order they were
    /// written), which hold `count` samples.
    pub(super) fn new(files: Vec<PathBuf>, count: usize) -> LoggedSamples {
        LoggedSamples {
            files,
            count,
            state: Mutex::new(None),
        }
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The samples at `range`, in table order.
    ///
    /// # Errors
    ///
    /// [`ArrowError::IoError`] naming the file that could not be read, or
    /// the log's folder when it holds fewer samples than the hour's count
    /// (a file removed or cut since). Either is worth a retry, which starts
    /// the merge over.
    pub fn samples(&self, range: Range<usize>) -> Result<Vec<Sample>, ArrowError> {
        let mut state = match self.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let (mut merge, at) = match state.take() {
            Some((merge, at)) if at == range.start => (merge, at),
            _ => {
                let mut merge = Box::new(Merge::open(&self.files)?);
                merge.skip(range.start);
                (merge, range.start)
            }
        };
        let rows = merge.take(range.len());
        if let Some(error) = merge.error.take() {
            return Err(error);
        }
        if rows.len() < range.len() {
            let folder = self
                .files
                .first()
                .and_then(|f| f.parent())
                .map(|d| d.display().to_string())
                .unwrap_or_default();
            let cause = std::io::Error::other(format!(
                "the log ran out at row {} of the hour's {} samples",
                at + rows.len(),
                self.count
            ));
            return Err(ArrowError::IoError(folder, cause));
        }
        *state = Some((merge, at + rows.len()));
        Ok(rows)
    }
}

impl crate::store::Rows for LoggedSamples {
    fn num_rows(&self) -> usize {
        self.count
    }

    fn batch(&self, range: Range<usize>) -> Result<RecordBatch, ArrowError> {
        samples_batch(&self.samples(range)?)
    }
}

/// One decoded batch of logged samples: what the merge reads a row at a
/// time, and what a replay makes samples of.
pub(super) struct Chunk {
    ts: Vec<i64>,
    window: Float64Array,
    /// namespace, pod, pod UID, container, node, workload kind, workload
    /// name, tenant.
    text: [StringArray; 8],
    cpu_request: Float64Array,
    cpu_limit: Float64Array,
    cpu_usage: Vec<i64>,
    memory_request: Int64Array,
    memory_limit: Int64Array,
    memory_usage: Int64Array,
}

impl Chunk {
    pub(super) fn of(batch: &RecordBatch) -> Result<Chunk, ArrowError> {
        let text = [
            col::NAMESPACE,
            col::POD,
            col::POD_UID,
            col::CONTAINER,
            col::NODE,
            col::WORKLOAD_KIND,
            col::WORKLOAD_NAME,
            col::TENANT,
        ]
        .map(|name| strings(batch, name));
        let [a, b, c, d, e, f, g, h] = text;
        Ok(Chunk {
            ts: millis(batch, col::TS)?,
            window: floats(batch, col::WINDOW_SECONDS)?,
            text: [a?, b?, c?, d?, e?, f?, g?, h?],
            cpu_request: floats(batch, col::CPU_REQUEST_CORES)?,
            cpu_limit: floats(batch, col::CPU_LIMIT_CORES)?,
            cpu_usage: cpu_millicores(batch)?,
            memory_request: ints(batch, col::MEMORY_REQUEST_BYTES)?,
            memory_limit: ints(batch, col::MEMORY_LIMIT_BYTES)?,
            memory_usage: ints(batch, col::MEMORY_USAGE_BYTES)?,
        })
    }

    pub(super) fn len(&self) -> usize {
        self.ts.len()
    }

    fn key(&self, row: usize) -> SampleKey<'_> {
        let t = &self.text;
        (
            [
                t[0].value(row),
                t[1].value(row),
                t[2].value(row),
                t[3].value(row),
            ],
            self.ts[row],
        )
    }

    /// Row `row` as a sample, sharing `last`'s context when it was joined
    /// to the same (then `last` is its context). Unless `another` says the
    /// row is of another container than `last`, only the rest of the join
    /// is compared.
    fn sample(&self, row: usize, last: &mut Option<Arc<SampleContext>>, another: bool) -> Sample {
        let context = match last {
            Some(context) if !another && self.joined_as(row, context) => context.clone(),
            _ => {
                // Text shared with the last context where it is the same.
                let like = last.as_deref().map(|c| {
                    [
                        &c.namespace,
                        &c.pod,
                        &c.pod_uid,
                        &c.container,
                        &c.node,
                        &c.workload_kind,
                        &c.workload_name,
                        &c.tenant,
                    ]
                    .map(Arc::clone)
                });
                let context = Arc::new(self.context(row, |k, value| match &like {
                    Some(like) if *like[k] == *value => like[k].clone(),
                    _ => Arc::from(value),
                }));
                *last = Some(context.clone());
                context
            }
        };
        self.sample_of(row, context)
    }

    /// Row `row` as a sample of `context`.
    pub(super) fn sample_of(&self, row: usize, context: Arc<SampleContext>) -> Sample {
        Sample {
            ts: time(self.ts[row]),
            window_seconds: self.window.value(row),
            context,
            cpu_usage_millicores: self.cpu_usage[row],
            memory_usage_bytes: self.memory_usage.value(row),
        }
    }

    /// Whether row `row` of `context`'s container was joined as `context`:
    /// the same node, workload, tenant, requests and limits.
    fn joined_as(&self, row: usize, context: &SampleContext) -> bool {
        let c = context;
        let text = [&c.node, &c.workload_kind, &c.workload_name, &c.tenant];
        self.text[4..]
            .iter()
            .zip(text)
            .all(|(column, value)| column.value(row) == &**value)
            && optional_f(&self.cpu_request, row) == c.cpu_request_cores
            && optional_f(&self.cpu_limit, row) == c.cpu_limit_cores
            && optional_i(&self.memory_request, row) == c.memory_request_bytes
            && optional_i(&self.memory_limit, row) == c.memory_limit_bytes
    }

    /// The context of row `row`, its text made by `text` from each column's
    /// index (in [`Chunk::text`]'s order) and value.
    pub(super) fn context(
        &self,
        row: usize,
        mut text: impl FnMut(usize, &str) -> Arc<str>,
    ) -> SampleContext {
        let mut column = |k: usize| text(k, self.text[k].value(row));
        SampleContext {
            namespace: column(0),
            pod: column(1),
            pod_uid: column(2),
            container: column(3),
            node: column(4),
            workload_kind: column(5),
            workload_name: column(6),
            tenant: column(7),
            cpu_request_cores: optional_f(&self.cpu_request, row),
            cpu_limit_cores: optional_f(&self.cpu_limit, row),
            memory_request_bytes: optional_i(&self.memory_request, row),
            memory_limit_bytes: optional_i(&self.memory_limit, row),
        }
    }
}

fn optional_f(array: &Float64Array, row: usize) -> Option<f64> {
    (!array.is_null(row)).then(|| array.value(row))
}

fn optional_i(array: &Int64Array, row: usize) -> Option<i64> {
    (!array.is_null(row)).then(|| array.value(row))
}

/// A tick file read a batch at a time.
struct Cursor {
    path: PathBuf,
    reader: Option<StreamReader<BufReader<File>>>,
    chunk: Chunk,
    row: usize,
}

impl Cursor {
    /// The file's first row, or None when it has none.
    fn open(path: &PathBuf) -> Result<Option<Cursor>, ArrowError> {
        let file = File::open(path)
            .map_err(|cause| ArrowError::IoError(path.display().to_string(), cause))?;
        // A file cut before its schema holds nothing (replay reads it so too).
        let Ok(reader) = StreamReader::try_new(BufReader::new(file), None) else {
            return Ok(None);
        };
        let mut cursor = Cursor {
            path: path.clone(),
            reader: Some(reader),
            chunk: Chunk::of(&RecordBatch::new_empty(
                crate::store::schema::SAMPLES.schema(),
            ))?,
            row: 0,
        };
        Ok(cursor.load()?.then_some(cursor))
    }

    /// Reads the next non-empty batch; false at the end of the file. A
    /// batch cut short by a crash ends the file, as it ends the replay.
    fn load(&mut self) -> Result<bool, ArrowError> {
        while let Some(reader) = &mut self.reader {
            match reader.next() {
                Some(Ok(batch)) if batch.num_rows() > 0 => {
                    self.chunk = Chunk::of(&batch).map_err(|cause| {
                        ArrowError::IoError(
                            self.path.display().to_string(),
                            std::io::Error::other(cause.to_string()),
                        )
                    })?;
                    self.row = 0;
                    return Ok(true);
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => self.reader = None,
            }
        }
        Ok(false)
    }

    fn key(&self) -> SampleKey<'_> {
        self.chunk.key(self.row)
    }

    /// Moves past the current row; false once the file is done.
    fn advance(&mut self) -> Result<bool, ArrowError> {
        self.row += 1;
        if self.row < self.chunk.len() {
            return Ok(true);
        }
        self.load()
    }
}

/// The merge of an hour's tick files.
///
/// A container has at most a sample or two in each tick file, and the same
/// containers come in every file, so the merge goes a container at a time:
/// the least container among the files' current rows, then that
/// container's rows from every file, put in time order. That is ~60
/// comparisons of a container's name per container, where a heap of the
/// files compared ~12 per sample, and most of the merge's time.
struct Merge {
    /// The files with rows left, in the order they were written.
    cursors: Vec<Cursor>,
    /// Samples gathered and not yet taken, in table order.
    pending: VecDeque<Sample>,
    /// The container being gathered: namespace, pod, pod UID, container.
    container: [String; 4],
    /// The context of the last sample made: a container's rows come
    /// together and share it, as the ledger's do.
    last: Option<Arc<SampleContext>>,
    /// Why the merge stopped early, for the caller to report.
    error: Option<ArrowError>,
}

impl Merge {
    fn open(files: &[PathBuf]) -> Result<Merge, ArrowError> {
        let mut cursors = Vec::with_capacity(files.len());
        for path in files {
            if let Some(cursor) = Cursor::open(path)? {
                cursors.push(cursor);
            }
        }
        Ok(Merge {
            cursors,
            pending: VecDeque::new(),
            container: Default::default(),
            last: None,
            error: None,
        })
    }

    /// Moves the next container's samples from every file to `pending`;
    /// false when no file has rows left.
    fn gather(&mut self) -> bool {
        let Merge {
            cursors,
            pending,
            container,
            last,
            error,
        } = self;
        let Some(least) = cursors.iter().map(|c| c.key().0).min() else {
            return false;
        };
        for (slot, text) in container.iter_mut().zip(least) {
            slot.clear();
            slot.push_str(text);
        }
        // The first row of another container makes a context of its own
        // (sharing the text it has in common with the last one).
        let mut another = last.as_ref().is_none_or(|c| {
            [&*c.namespace, &*c.pod, &*c.pod_uid, &*c.container]
                != container.each_ref().map(String::as_str)
        });
        let start = pending.len();
        let mut at = 0;
        while at < cursors.len() {
            let cursor = &mut cursors[at];
            let mut live = true;
            while live && cursor.key().0 == container.each_ref().map(String::as_str) {
                pending.push_back(cursor.chunk.sample(cursor.row, last, another));
                another = false;
                match cursor.advance() {
                    Ok(more) => live = more,
                    Err(cause) => {
                        *error = Some(cause);
                        cursors.clear();
                        return false;
                    }
                }
            }
            if live {
                at += 1;
            } else {
                cursors.remove(at);
            }
        }
        // Each file's rows are in time order and the files in the order
        // they were logged; a stable sort keeps that order for equal times.
        pending.make_contiguous()[start..].sort_by_key(|sample| sample.ts);
        true
    }

    fn skip(&mut self, rows: usize) {
        let mut skipped = 0;
        while skipped < rows {
            if self.pending.is_empty() && !self.gather() {
                return;
            }
            let n = self.pending.len().min(rows - skipped);
            self.pending.drain(..n);
            skipped += n;
        }
    }

    /// The next `rows` samples (fewer at the end, or on an error).
    fn take(&mut self, rows: usize) -> Vec<Sample> {
        let mut samples = Vec::with_capacity(rows);
        while samples.len() < rows {
            if self.pending.is_empty() && !self.gather() {
                break;
            }
            let n = self.pending.len().min(rows - samples.len());
            samples.extend(self.pending.drain(..n));
        }
        samples
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::allocate::{SampleRuns, window_hour};
    use crate::store::Rows;
    use crate::store::wal::{TickLog, Wal};
    use chrono::{DateTime, Duration, Utc};

    fn context(pod: usize, container: &str, request: f64) -> Arc<SampleContext> {
        Arc::new(SampleContext {
            namespace: Arc::from(if pod.is_multiple_of(2) {
                "shop"
            } else {
                "blog"
            }),
            pod: Arc::from(format!("web-{}", pod / 2)),
            pod_uid: Arc::from(format!("uid-{pod:05}")),
            container: Arc::from(container),
            node: Arc::from(format!("node-{}", pod % 7)),
            workload_kind: Arc::from("Deployment"),
            workload_name: Arc::from("web"),
            tenant: Arc::from(if pod.is_multiple_of(3) {
                "acme"
            } else {
                "globex"
            }),
            cpu_request_cores: Some(request),
            cpu_limit_cores: pod.is_multiple_of(4).then_some(2.0),
            memory_request_bytes: Some(1 << 28),
            memory_limit_bytes: None,
        })
    }

    /// Ticks `first..first + minutes` of `pods` pods with two containers
    /// each: pods named alike in two namespaces, every fifth pod's request
    /// changed from the fourth tick (a new context mid-hour), every seventh
    /// pod starting late, and the list in a different order at every tick,
    /// as metrics-server's can be.
    fn ticks(pods: usize, first: i64, minutes: i64) -> Vec<Vec<Sample>> {
        let mut contexts: Vec<(usize, Arc<SampleContext>)> = Vec::new();
        for pod in 0..pods {
            for container in ["app", "sidecar"] {
                contexts.push((pod, context(pod, container, 0.5)));
            }
        }
        let mut order: Vec<usize> = (0..contexts.len()).collect();
        let mut seed = 7_u64;
        (0..minutes)
            .map(|tick| {
                // A Fisher-Yates shuffle from a fixed LCG.
                for i in (1..order.len()).rev() {
                    seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    order.swap(i, (seed >> 33) as usize % (i + 1));
                }
                if tick == 3 {
                    for (pod, shared) in contexts.iter_mut().filter(|(pod, _)| pod % 5 == 0) {
                        *shared = context(*pod, &shared.container.clone(), 1.0);
                    }
                }
                let ts = crate::sim::epoch() + Duration::minutes(first + tick);
                order
                    .iter()
                    .map(|&i| &contexts[i])
                    .filter(|(pod, _)| pod % 7 != 0 || tick >= 5)
                    .map(|(pod, shared)| Sample {
                        ts,
                        window_seconds: 30.0,
                        context: shared.clone(),
                        cpu_usage_millicores: (tick * 37 + *pod as i64 * 11) % 900,
                        memory_usage_bytes: (1 << 27) + tick * 4096 + *pod as i64,
                    })
                    .collect()
            })
            .collect()
    }

    /// Each hour's samples as the ledger keeps them.
    fn kept(ticks: &[Vec<Sample>]) -> BTreeMap<DateTime<Utc>, SampleRuns> {
        let mut hours: BTreeMap<DateTime<Utc>, SampleRuns> = BTreeMap::new();
        for sample in ticks.iter().flatten() {
            hours
                .entry(window_hour(sample.ts, sample.window_seconds))
                .or_default()
                .push(sample);
        }
        hours
    }

    /// The log of `ticks`, one append each.
    fn logged(dir: &std::path::Path, ticks: &[Vec<Sample>]) -> Wal {
        let mut wal = Wal::open(dir, "c", "w").unwrap();
        for samples in ticks {
            let tick = TickLog {
                samples: samples.clone(),
                ..TickLog::default()
            };
            wal.append(&tick).unwrap();
        }
        wal
    }

    #[test]
    fn the_samples_table_merged_from_the_log_is_the_one_kept_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        // 1,500 pods: 3,000 samples a tick, more than a batch of a tick file;
        // minutes 50-61 make two hours.
        let ticks = ticks(1500, 50, 12);
        let wal = logged(dir.path(), &ticks);
        let hours = kept(&ticks);
        assert_eq!(hours.len(), 2);
        for (hour, runs) in hours {
            let kept = runs.sorted();
            let logged = wal
                .sorted_samples(hour, kept.len())
                .expect("the log holds every sample of the hour");
            // Row groups front to back as the dataset asks for them, in two
            // sizes (the second starts the merge over), then one in the middle.
            let len = kept.len();
            for size in [1000, len] {
                for start in (0..len).step_by(size) {
                    let range = start..(start + size).min(len);
                    assert_eq!(
                        logged.batch(range.clone()).unwrap(),
                        samples_batch(&kept.slice(range.clone())).unwrap(),
                        "hour {hour}, rows {range:?}"
                    );
                }
            }
            let middle = len / 3..len / 3 + 500;
            assert_eq!(logged.samples(middle.clone()).unwrap(), kept.slice(middle));
            assert!(
                logged.samples(len - 10..len + 1).is_err(),
                "asked for more than the log holds"
            );
            assert!(
                wal.sorted_samples(hour, len + 1).is_none(),
                "a sample the log lacks (a tick it refused) keeps the hour in memory"
            );
        }
    }

    #[test]
    fn an_hour_with_samples_in_an_older_unsorted_log_is_not_merged() {
        let dir = tempfile::tempdir().unwrap();
        let ticks = ticks(40, 0, 3);
        let hour = crate::sim::epoch();
        drop(logged(dir.path(), &ticks));
        // The first tick's file, named as an earlier version named its log.
        let folder = dir.path().join("c");
        let first = std::fs::read_dir(&folder)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.to_string_lossy().contains(".ticksamples."))
            .min()
            .unwrap();
        let older = first
            .to_string_lossy()
            .replace(".ticksamples.", ".samples.");
        std::fs::rename(&first, older).unwrap();
        let wal = Wal::open(dir.path(), "c", "w").unwrap();
        let replayed = wal.replay().unwrap().log.samples.len();
        assert_eq!(replayed, ticks.iter().map(Vec::len).sum::<usize>());
        assert!(wal.sorted_samples(hour, replayed).is_none());
    }

    #[test]
    fn a_tick_file_cut_by_a_crash_merges_what_the_replay_reads() {
        let dir = tempfile::tempdir().unwrap();
        let ticks = ticks(1500, 0, 3);
        let hour = crate::sim::epoch();
        drop(logged(dir.path(), &ticks));
        let last = std::fs::read_dir(dir.path().join("c"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .max()
            .unwrap();
        let bytes = std::fs::read(&last).unwrap();
        // Past the first of its two batches (2,048 and 952 rows).
        std::fs::write(&last, &bytes[..bytes.len() * 9 / 10]).unwrap();
        let wal = Wal::open(dir.path(), "c", "w").unwrap();
        let replay = wal.replay().unwrap();
        assert_eq!(replay.truncated, vec![last]);
        let replayed = replay.log.samples;
        let all = ticks.iter().map(Vec::len).sum::<usize>();
        assert!(replayed.len() > all - ticks[2].len() && replayed.len() < all);
        let kept = kept(&[replayed]).remove(&hour).unwrap().sorted();
        let logged = wal.sorted_samples(hour, kept.len()).unwrap();
        assert_eq!(logged.samples(0..kept.len()).unwrap(), kept.to_vec());
    }
}
