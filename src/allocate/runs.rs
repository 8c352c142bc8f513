//! The open hour's samples, kept compact until the hour closes.
//!
//! An hour at 150,000 pods is ~11 M samples. As a `Vec<Sample>` that was
//! 48 bytes a sample (556 MiB, and up to twice that while the vector grew),
//! then a sort of the whole vector at the close. Here each sample context (a
//! container while its pod object does not change) keeps one run: its
//! samples in arrival order, each stored as the difference from the one
//! before, as varints (`integer-encoding`). Minute after minute the time
//! moves by the same step, the window and request do not move and usage
//! moves a little, so a sample takes ~9 bytes. Nothing is rounded: every
//! sample decodes to exactly what was pushed, so the bill and the `samples`
//! table are what they were.
//!
//! Closing sorts the runs (a few hundred thousand contexts), not the
//! samples: [`SampleRuns::sorted`] puts them in the order the files keep, by
//! (namespace, pod, pod UID, container), then first appearance, then time.

use std::ops::Range;
use std::sync::Arc;

use chrono::DateTime;
use integer_encoding::VarInt;
use rustc_hash::FxHashMap;

use super::hour::{Sample, SampleContext};

/// One sample's values as stored: the time split into seconds and
/// nanoseconds, the window as its bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Point {
    secs: i64,
    nanos: u32,
    window_bits: u64,
    cpu: i64,
    memory: i64,
}

impl Point {
    fn of(sample: &Sample) -> Point {
        Point {
            secs: sample.ts.timestamp(),
            nanos: sample.ts.timestamp_subsec_nanos(),
            window_bits: sample.window_seconds.to_bits(),
            cpu: sample.cpu_usage_millicores,
            memory: sample.memory_usage_bytes,
        }
    }

    /// Appends `self` as its difference from `before`. Differences wrap, so
    /// any `i64` round-trips.
    fn encode(&self, before: &Point, bytes: &mut Vec<u8>) {
        let mut buffer = [0_u8; 5 * 10];
        let mut at = 0;
        at += self
            .secs
            .wrapping_sub(before.secs)
            .encode_var(&mut buffer[at..]);
        at += self.nanos.encode_var(&mut buffer[at..]);
        at += (self.window_bits ^ before.window_bits).encode_var(&mut buffer[at..]);
        at += self
            .cpu
            .wrapping_sub(before.cpu)
            .encode_var(&mut buffer[at..]);
        at += self
            .memory
            .wrapping_sub(before.memory)
            .encode_var(&mut buffer[at..]);
        // Grow by half, not double: the runs are most of the open hour, and
        // a doubled buffer is on average a third empty.
        if bytes.capacity() - bytes.len() < at {
            bytes.reserve_exact((bytes.len() / 2).max(at * 4));
        }
        bytes.extend_from_slice(&buffer[..at]);
    }

    /// The point after `before` stored at the front of `bytes`, and how many
    /// bytes it took; None past the end.
    fn decode(before: &Point, bytes: &[u8]) -> Option<(Point, usize)> {
        let mut at = 0;
        let next = |at: &mut usize| -> Option<u64> {
            let (value, read) = u64::decode_var(bytes.get(*at..)?)?;
            *at += read;
            Some(value)
        };
        // Signed fields were written as zigzag varints: read them the same way.
        let signed = |bytes: &[u8], at: &mut usize| -> Option<i64> {
            let (value, read) = i64::decode_var(bytes.get(*at..)?)?;
            *at += read;
            Some(value)
        };
        let secs = before.secs.wrapping_add(signed(bytes, &mut at)?);
        let nanos = u32::try_from(next(&mut at)?).ok()?;
        let window_bits = before.window_bits ^ next(&mut at)?;
        let cpu = before.cpu.wrapping_add(signed(bytes, &mut at)?);
        let memory = before.memory.wrapping_add(signed(bytes, &mut at)?);
        Some((
            Point {
                secs,
                nanos,
                window_bits,
                cpu,
                memory,
            },
            at,
        ))
    }

    fn sample(&self, context: &Arc<SampleContext>) -> Sample {
        Sample {
            // Every point was made from a valid time, so this never falls back.
            ts: DateTime::from_timestamp(self.secs, self.nanos).unwrap_or_default(),
            window_seconds: f64::from_bits(self.window_bits),
            context: context.clone(),
            cpu_usage_millicores: self.cpu,
            memory_usage_bytes: self.memory,
        }
    }
}

/// Where a sample goes in the `samples` table: by namespace, pod, pod UID
/// and container, then time (at the table's milliseconds). A container's
/// samples come in time order across the contexts it had (the ledger takes
/// none older than the newest), so [`SampleRuns::sorted`]'s order by
/// context and first appearance is this one; the write-ahead log sorts and
/// merges its tick files by it.
pub type SampleKey<'a> = ([&'a str; 4], i64);

pub fn sample_key(sample: &Sample) -> SampleKey<'_> {
    let c = &sample.context;
    (
        [&c.namespace, &c.pod, &c.pod_uid, &c.container],
        sample.ts.timestamp_millis(),
    )
}

/// One context's samples.
#[derive(Debug, Clone)]
struct Run {
    context: Arc<SampleContext>,
    bytes: Vec<u8>,
    count: usize,
    last: Point,
    /// False once a sample came earlier than the one before: decoding then
    /// sorts by time. The ledger takes a container's samples in time order,
    /// so this stays true.
    ordered: bool,
}

impl Run {
    fn samples(&self) -> Vec<Sample> {
        let mut samples = Vec::with_capacity(self.count);
        let (mut before, mut at) = (Point::default(), 0);
        while let Some((point, read)) = Point::decode(&before, &self.bytes[at..]) {
            samples.push(point.sample(&self.context));
            before = point;
            at += read;
        }
        if !self.ordered {
            samples.sort_by_key(|s| s.ts);
        }
        samples
    }
}

/// The samples of an open hour, one run per context in the order the
/// contexts first appeared.
#[derive(Debug, Default)]
pub struct SampleRuns {
    runs: Vec<Run>,
    /// Run by its context's address. The run holds the `Arc`, so the
    /// address cannot be reused while it is a key.
    index: FxHashMap<usize, usize>,
    len: usize,
}

impl SampleRuns {
    /// Room for `contexts` runs: the hour before's count, so the table is
    /// not rebuilt as the hour fills.
    pub fn with_contexts(contexts: usize) -> SampleRuns {
        SampleRuns {
            runs: Vec::with_capacity(contexts),
            index: FxHashMap::with_capacity_and_hasher(contexts, Default::default()),
            len: 0,
        }
    }

    pub fn push(&mut self, sample: &Sample) {
        let mut hint = usize::MAX;
        self.push_hinted(sample, &mut hint);
    }

    /// [`SampleRuns::push`] where `hint` is where the caller last saw this
    /// context's run: the ledger keeps it beside the container, which each
    /// sample already looks up, so a tick's samples skip the hash lookup.
    /// A wrong or stale hint (another hour's runs) is only slower: it is
    /// checked against the run's own context, and set right.
    pub fn push_hinted(&mut self, sample: &Sample, hint: &mut usize) {
        let index = match self.runs.get(*hint) {
            Some(run) if Arc::ptr_eq(&run.context, &sample.context) => *hint,
            _ => self.run_of(sample),
        };
        *hint = index;
        let run = &mut self.runs[index];
        let point = Point::of(sample);
        if run.count > 0 && (point.secs, point.nanos) < (run.last.secs, run.last.nanos) {
            run.ordered = false;
        }
        point.encode(&run.last, &mut run.bytes);
        run.last = point;
        run.count += 1;
        self.len += 1;
    }

    /// The index of `sample`'s context's run, made if new.
    fn run_of(&mut self, sample: &Sample) -> usize {
        let key = Arc::as_ptr(&sample.context) as usize;
        *self.index.entry(key).or_insert_with(|| {
            self.runs.push(Run {
                context: sample.context.clone(),
                bytes: Vec::new(),
                count: 0,
                last: Point::default(),
                ordered: true,
            });
            self.runs.len() - 1
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Contexts seen.
    pub fn contexts(&self) -> usize {
        self.runs.len()
    }

    /// The runs in the order the `samples` files keep: contexts by
    /// (namespace, pod, pod UID, container), two contexts of one container
    /// (its pod changed) in the order they appeared, which is time order.
    pub fn sorted(self) -> SortedSamples {
        let mut runs: Vec<(usize, Run)> = self.runs.into_iter().enumerate().collect();
        runs.sort_by(|(a, x), (b, y)| {
            let (x, y) = (&x.context, &y.context);
            (&x.namespace, &x.pod, &x.pod_uid, &x.container, a).cmp(&(
                &y.namespace,
                &y.pod,
                &y.pod_uid,
                &y.container,
                b,
            ))
        });
        let mut starts = Vec::with_capacity(runs.len() + 1);
        let mut start = 0;
        let runs: Vec<Run> = runs
            .into_iter()
            .map(|(_, run)| {
                starts.push(start);
                start += run.count;
                run
            })
            .collect();
        starts.push(start);
        SortedSamples { runs, starts }
    }
}

impl FromIterator<Sample> for SampleRuns {
    fn from_iter<I: IntoIterator<Item = Sample>>(samples: I) -> SampleRuns {
        let mut runs = SampleRuns::default();
        for sample in samples {
            runs.push(&sample);
        }
        runs
    }
}

/// A closed hour's samples in file order (see [`SampleRuns::sorted`]).
#[derive(Debug, Default, Clone)]
pub struct SortedSamples {
    runs: Vec<Run>,
    /// Where each run starts among the samples, and the total at the end.
    starts: Vec<usize>,
}

impl SortedSamples {
    pub fn len(&self) -> usize {
        self.starts.last().copied().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the runs hold on the heap (beside the contexts, whose strings
    /// are the inventory's), as the open hour held them.
    pub fn heap_bytes(&self) -> usize {
        self.runs.capacity() * std::mem::size_of::<Run>()
            + self.runs.iter().map(|r| r.bytes.capacity()).sum::<usize>()
    }

    /// Each container's runs, by (pod UID, container): consecutive runs of
    /// one container (its pod changed) are one range.
    pub fn by_container(&self) -> FxHashMap<(&str, &str), Range<usize>> {
        let mut by_container = FxHashMap::default();
        let mut from = 0;
        for index in 1..=self.runs.len() {
            let boundary = index == self.runs.len() || {
                let (next, first) = (&self.runs[index].context, &self.runs[from].context);
                next.pod_uid != first.pod_uid || next.container != first.container
            };
            if boundary {
                let first = &self.runs[from].context;
                by_container.insert((&*first.pod_uid, &*first.container), from..index);
                from = index;
            }
        }
        by_container
    }

    /// The samples of runs `runs` (a range from [`Self::by_container`]).
    pub fn of_runs(&self, runs: Range<usize>) -> Vec<Sample> {
        self.runs
            .get(runs)
            .unwrap_or_default()
            .iter()
            .flat_map(Run::samples)
            .collect()
    }

    /// Samples `rows` (positions in file order), decoded: a file's worth
    /// at a time, so the hour is never whole in memory as rows.
    pub fn slice(&self, rows: Range<usize>) -> Vec<Sample> {
        let rows = rows.start.min(self.len())..rows.end.min(self.len());
        let mut out = Vec::with_capacity(rows.len());
        // The run holding the first row: the last that starts at or before it.
        let first = self
            .starts
            .partition_point(|&s| s <= rows.start)
            .saturating_sub(1);
        for (run, &start) in self.runs.iter().zip(&self.starts).skip(first) {
            if start >= rows.end {
                break;
            }
            let samples = run.samples();
            let from = rows.start.saturating_sub(start);
            let to = (rows.end - start).min(samples.len());
            out.extend(samples.into_iter().take(to).skip(from));
        }
        out
    }

    /// Every sample in file order.
    pub fn to_vec(&self) -> Vec<Sample> {
        self.slice(0..self.len())
    }
}

/// A sample context of one container on node `n1`, for tests.
#[cfg(test)]
pub(crate) fn test_context(namespace: &str, pod: &str, container: &str) -> Arc<SampleContext> {
    Arc::new(SampleContext {
        namespace: namespace.into(),
        pod: pod.into(),
        pod_uid: format!("uid-{pod}").into(),
        container: container.into(),
        node: "n1".into(),
        workload_kind: "Deployment".into(),
        workload_name: "w".into(),
        tenant: "t".into(),
        cpu_request_cores: Some(0.5),
        cpu_limit_cores: None,
        memory_request_bytes: Some(1 << 30),
        memory_limit_bytes: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;

    use super::test_context as context;

    fn sample(context: &Arc<SampleContext>, second: i64, cpu: i64, memory: i64) -> Sample {
        Sample {
            ts: Utc.timestamp_opt(1_700_000_000 + second, 0).unwrap(),
            window_seconds: 30.0,
            context: context.clone(),
            cpu_usage_millicores: cpu,
            memory_usage_bytes: memory,
        }
    }

    /// What `HourBook::close` did before the runs: sort the samples by
    /// (context rank, time), contexts ranked by their key, then first seen.
    fn sorted_as_a_vector(samples: &[Sample]) -> Vec<Sample> {
        let mut first_seen: Vec<*const SampleContext> = Vec::new();
        for s in samples {
            let p = Arc::as_ptr(&s.context);
            if !first_seen.contains(&p) {
                first_seen.push(p);
            }
        }
        let rank = |s: &Sample| {
            let c = &s.context;
            let seen = first_seen
                .iter()
                .position(|p| *p == Arc::as_ptr(c))
                .unwrap();
            (
                c.namespace.clone(),
                c.pod.clone(),
                c.pod_uid.clone(),
                c.container.clone(),
                seen,
                s.ts,
            )
        };
        let mut sorted = samples.to_vec();
        sorted.sort_by_key(rank);
        sorted
    }

    #[test]
    fn runs_come_back_in_file_order_whatever_order_they_came_in() {
        let (b, a, a2) = (
            context("shop", "web-1", "app"),
            context("bank", "api-1", "app"),
            // The same container after its pod changed: a second context.
            context("bank", "api-1", "app"),
        );
        let mut runs = SampleRuns::default();
        let pushed = vec![
            sample(&b, 0, 10, 100),
            sample(&a, 0, 20, 200),
            sample(&b, 60, 11, 90),
            sample(&a2, 60, 25, 250),
        ];
        for s in &pushed {
            runs.push(s);
        }
        let sorted = runs.sorted();
        assert_eq!(sorted.to_vec(), sorted_as_a_vector(&pushed));
        let by = sorted.by_container();
        assert_eq!(
            by.len(),
            2,
            "the two contexts of bank/api-1 are one container"
        );
        assert_eq!(sorted.of_runs(by[&("uid-api-1", "app")].clone()).len(), 2);
    }

    #[test]
    fn a_wrong_or_stale_hint_still_finds_the_contexts_own_run() {
        let (a, b) = (context("ns", "a", "c"), context("ns", "b", "c"));
        let (mut this_hour, mut next_hour) = (SampleRuns::default(), SampleRuns::default());
        let (mut hint_a, mut hint_b) = (usize::MAX, usize::MAX);
        this_hour.push_hinted(&sample(&a, 0, 1, 1), &mut hint_a);
        this_hour.push_hinted(&sample(&b, 0, 2, 2), &mut hint_b);
        assert_eq!((hint_a, hint_b), (0, 1));
        // The next hour sees b first: a's hint (0) now points at b's run.
        next_hour.push_hinted(&sample(&b, 3600, 3, 3), &mut hint_b);
        next_hour.push_hinted(&sample(&a, 3600, 4, 4), &mut hint_a);
        assert_eq!((hint_a, hint_b), (1, 0));
        // Swapped hints are checked against the run's context, not trusted.
        let (mut swapped_a, mut swapped_b) = (hint_b, hint_a);
        next_hour.push_hinted(&sample(&a, 3660, 5, 5), &mut swapped_a);
        next_hour.push_hinted(&sample(&b, 3660, 6, 6), &mut swapped_b);
        assert_eq!(next_hour.contexts(), 2, "no run made twice");
        let cpu_of = |rows: &[Sample], pod: &str| -> Vec<i64> {
            rows.iter()
                .filter(|s| &*s.context.pod == pod)
                .map(|s| s.cpu_usage_millicores)
                .collect()
        };
        let rows = next_hour.sorted().to_vec();
        assert_eq!(cpu_of(&rows, "a"), vec![4, 5]);
        assert_eq!(cpu_of(&rows, "b"), vec![3, 6]);
        assert_eq!(cpu_of(&this_hour.sorted().to_vec(), "a"), vec![1]);
    }

    #[test]
    fn a_slice_is_those_rows_of_the_whole() {
        let contexts: Vec<_> = (0..7)
            .map(|i| context("ns", &format!("p{i}"), "c"))
            .collect();
        let mut runs = SampleRuns::default();
        for minute in 0..5 {
            for (i, c) in contexts.iter().enumerate() {
                if (minute + i) % 3 != 0 {
                    runs.push(&sample(c, minute as i64 * 60, i as i64, 7));
                }
            }
        }
        let sorted = runs.sorted();
        let all = sorted.to_vec();
        assert_eq!(all.len(), sorted.len());
        for from in 0..all.len() {
            for to in from..=all.len() + 2 {
                assert_eq!(sorted.slice(from..to), all[from..to.min(all.len())]);
            }
        }
    }

    proptest! {
        #[test]
        fn every_value_comes_back_exactly(
            values in proptest::collection::vec(
                (0_i64..4_000_000_000, any::<u32>(), any::<f64>(), any::<i64>(), any::<i64>()),
                1..40,
            ),
        ) {
            let c = context("ns", "p", "c");
            let mut runs = SampleRuns::default();
            let mut pushed = Vec::new();
            let mut secs = 0;
            for (step, nanos, window, cpu, memory) in values {
                secs += 1 + step % 1000;
                let sample = Sample {
                    ts: Utc.timestamp_opt(secs, nanos % 1_000_000_000).unwrap(),
                    window_seconds: window,
                    context: c.clone(),
                    cpu_usage_millicores: cpu,
                    memory_usage_bytes: memory,
                };
                runs.push(&sample);
                pushed.push(sample);
            }
            let back = runs.sorted().to_vec();
            prop_assert_eq!(back.len(), pushed.len());
            for (got, want) in back.iter().zip(&pushed) {
                prop_assert_eq!(got.ts, want.ts);
                prop_assert_eq!(got.window_seconds.to_bits(), want.window_seconds.to_bits());
                prop_assert_eq!(got.cpu_usage_millicores, want.cpu_usage_millicores);
                prop_assert_eq!(got.memory_usage_bytes, want.memory_usage_bytes);
            }
        }
    }

    #[test]
    fn samples_out_of_time_order_come_back_sorted() {
        let c = context("ns", "p", "c");
        let mut runs = SampleRuns::default();
        for second in [120, 0, 60] {
            runs.push(&sample(&c, second, second, second));
        }
        let times: Vec<i64> = runs
            .sorted()
            .to_vec()
            .iter()
            .map(|s| s.cpu_usage_millicores)
            .collect();
        assert_eq!(times, [0, 60, 120]);
    }

    #[test]
    fn a_minute_sample_takes_a_few_bytes() {
        let c = context("ns", "p", "c");
        let mut runs = SampleRuns::default();
        for minute in 0..60 {
            runs.push(&sample(
                &c,
                minute * 60,
                250 + minute % 7,
                (300 << 20) + minute * 4096,
            ));
        }
        let bytes = runs.runs[0].bytes.len();
        assert!(bytes <= 60 * 10, "{bytes} bytes for 60 samples");
    }
}
