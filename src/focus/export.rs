//! One export: the dataset's node-hours, container-hours and
//! resource-hours in a window to FOCUS rows, made and encoded on every
//! core and written in the dataset's order.
//!
//! The window is cut into units of whole hours of one cluster's day (an
//! hour's files, or several small hours together; a whole day when its
//! files do not name their hours). Each thread takes the next unit, reads
//! it, splits its charges into row groups and encodes them; this thread
//! only appends the encoded groups to the file, unit after unit, so the
//! file is the same whatever the number of threads.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use chrono::NaiveDate;
use rustc_hash::FxHashMap;

use super::charges::{self, Context, Rows};
use super::cost::Pricing;
use super::input::{self, ContainerHour, Window};
use crate::model::fixed::Fixed;
use crate::store::focus::{
    ChargeCells, EncodedGroup, FocusBatch, FocusFileError, FocusWriter, GroupEncoder, LineCells,
};
use crate::store::read::{self, Filter, ReadError, TableFile};

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("reading the dataset")]
    Read(#[from] ReadError),
    #[error("writing the export")]
    Write(#[from] FocusFileError),
    #[error("no node, container or resource hours in {window}: nothing to export")]
    Empty { window: String },
}

/// What to export.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub root: &'a Path,
    /// The hours to export; `days` the UTC days that hold them (both ends
    /// included), to prune partitions.
    pub window: Window,
    pub days: (Option<NaiveDate>, Option<NaiveDate>),
    /// BillingAccountId; the cluster's name when not given.
    pub billing_account: Option<&'a str>,
    pub pricing: &'a Pricing,
    /// How the window is named in messages.
    pub window_name: String,
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub rows: usize,
    /// Σ BilledCost and Σ EffectiveCost over the rows.
    pub billed: Fixed,
    pub effective: Fixed,
}

impl Summary {
    fn add(&mut self, other: &Summary) {
        self.rows += other.rows;
        self.billed += other.billed;
        self.effective += other.effective;
    }
}

/// Allocation bytes a unit gathers before it stands alone: an hour of a
/// large cluster is a unit of its own, a small cluster's day one unit (and
/// so one row group, not 24 small ones). ~48 bytes per allocation row and
/// ~2.4 FOCUS rows per allocation row: ~2 row groups.
const UNIT_BYTES: u64 = 4 << 20;

/// The files of some whole hours of one cluster's day.
#[derive(Debug, Default)]
struct Unit {
    cluster: String,
    date: NaiveDate,
    nodes: Vec<TableFile>,
    allocation: Vec<TableFile>,
    resources: Vec<TableFile>,
}

impl Unit {
    fn bytes(&self) -> u64 {
        self.allocation.iter().map(TableFile::bytes).sum()
    }

    fn absorb(&mut self, other: Unit) {
        self.nodes.extend(other.nodes);
        self.allocation.extend(other.allocation);
        self.resources.extend(other.resources);
    }
}

/// The units of the days `days` of the dataset at `root`, in the order
/// their rows are written: by cluster, day and hour; consecutive hours
/// gathered until they hold `unit_bytes` of `allocation`.
fn units(
    root: &Path,
    days: (Option<NaiveDate>, Option<NaiveDate>),
    unit_bytes: u64,
) -> Result<Vec<Unit>, ReadError> {
    let filter = Filter {
        cluster: None,
        from: days.0,
        to: days.1,
    };
    // (cluster, day) → hour (None: the file does not say) → the unit.
    let mut days: BTreeMap<(String, NaiveDate), BTreeMap<Option<u32>, Unit>> = BTreeMap::new();
    for (table, pick) in [
        (
            "nodes",
            (|u: &mut Unit| &mut u.nodes) as fn(&mut Unit) -> &mut Vec<TableFile>,
        ),
        ("allocation", |u: &mut Unit| &mut u.allocation),
        ("resources", |u: &mut Unit| &mut u.resources),
    ] {
        for file in read::files(root, table, &filter)? {
            let unit = days
                .entry((file.cluster.clone(), file.date))
                .or_default()
                .entry(file.hour())
                .or_insert_with(|| Unit {
                    cluster: file.cluster.clone(),
                    date: file.date,
                    ..Unit::default()
                });
            pick(unit).push(file);
        }
    }
    let mut units = Vec::new();
    for (_, hours) in days {
        // A file that does not name its hour may hold any: the day is one unit.
        if hours.contains_key(&None) {
            let mut whole: Option<Unit> = None;
            for (_, unit) in hours {
                match &mut whole {
                    Some(whole) => whole.absorb(unit),
                    None => whole = Some(unit),
                }
            }
            units.extend(whole);
            continue;
        }
        let mut open: Option<(Unit, u64)> = None;
        for (_, unit) in hours {
            let bytes = unit.bytes();
            open = match open {
                Some((mut gathering, so_far)) if so_far < unit_bytes => {
                    gathering.absorb(unit);
                    Some((gathering, so_far + bytes))
                }
                Some((done, _)) => {
                    units.push(done);
                    Some((unit, bytes))
                }
                None => Some((unit, bytes)),
            };
        }
        units.extend(open.map(|(unit, _)| unit));
    }
    Ok(units)
}

/// Exports the window into `writer` (which publishes nothing itself).
///
/// # Errors
///
/// [`ExportError::Read`] naming a file that cannot be read,
/// [`ExportError::Write`] when a row group cannot be encoded or staged,
/// and [`ExportError::Empty`] when the window holds no hours at all.
pub fn export(request: &Request<'_>, writer: &mut FocusWriter) -> Result<Summary, ExportError> {
    let units = units(request.root, request.days, UNIT_BYTES)?;
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(units.len())
        .max(1);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let summary = std::thread::scope(|scope| {
        // A few encoded groups may wait for their turn; a thread that runs
        // ahead blocks here.
        let (sender, receiver) = mpsc::sync_channel::<Message>(threads * 4);
        for _ in 0..threads {
            let mut worker = Worker {
                request,
                encoder: writer.encoder(),
                sender: sender.clone(),
                stop: &stop,
                memo: charges::Memo::default(),
                day: None,
                containers: Vec::new(),
            };
            let (units, next) = (&units, &next);
            scope.spawn(move || {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(unit) = units.get(index) else {
                        break;
                    };
                    if let Err(error) = worker.unit(index, unit) {
                        let _ = worker.sender.send(Message::Failed(error));
                        break;
                    }
                }
            });
        }
        drop(sender);
        let written = write_in_order(receiver, writer);
        // On an error the threads stop at their next node-hour.
        stop.store(true, Ordering::Relaxed);
        written
    })?;
    if summary.rows == 0 {
        return Err(ExportError::Empty {
            window: request.window_name.clone(),
        });
    }
    Ok(summary)
}

/// What an exporting thread reports.
enum Message {
    /// The `seq`th row group of unit `unit`.
    Group {
        unit: usize,
        seq: usize,
        group: EncodedGroup,
    },
    /// Unit `unit` is done: `groups` row groups, and what they hold.
    Done {
        unit: usize,
        groups: usize,
        summary: Summary,
    },
    Failed(ExportError),
}

/// Appends the threads' row groups to the file, unit after unit and each
/// unit's in order, whatever order they arrive in.
fn write_in_order(
    receiver: mpsc::Receiver<Message>,
    writer: &mut FocusWriter,
) -> Result<Summary, ExportError> {
    let mut summary = Summary::default();
    let (mut unit, mut seq) = (0, 0);
    let mut waiting: BTreeMap<(usize, usize), EncodedGroup> = BTreeMap::new();
    let mut done: HashMap<usize, (usize, Summary)> = HashMap::new();
    for message in receiver {
        match message {
            Message::Group {
                unit: of,
                seq: at,
                group,
            } => {
                waiting.insert((of, at), group);
            }
            Message::Done {
                unit: of,
                groups,
                summary,
            } => {
                done.insert(of, (groups, summary));
            }
            Message::Failed(error) => return Err(error),
        }
        loop {
            if let Some(group) = waiting.remove(&(unit, seq)) {
                writer.append(group)?;
                seq += 1;
                continue;
            }
            match done.remove(&unit) {
                Some((groups, of_unit)) if groups == seq => {
                    summary.add(&of_unit);
                    unit += 1;
                    seq = 0;
                }
                Some(not_yet) => {
                    done.insert(unit, not_yet);
                    break;
                }
                None => break,
            }
        }
    }
    Ok(summary)
}

/// One exporting thread.
struct Worker<'a> {
    request: &'a Request<'a>,
    encoder: GroupEncoder,
    sender: mpsc::SyncSender<Message>,
    stop: &'a AtomicBool,
    /// Kept from unit to unit of a day: most of a container's hours are
    /// in the units one thread takes one after another.
    memo: charges::Memo,
    /// The cluster and day `memo` is of.
    day: Option<(String, NaiveDate)>,
    /// The unit's container-hours, in a vector kept from unit to unit.
    containers: Vec<ContainerHour>,
}

/// A unit's rows, in batches of a row group.
#[derive(Default)]
struct Out {
    batch: FocusBatch,
    full: Vec<FocusBatch>,
    summary: Summary,
}

impl Rows for Out {
    fn charge(&mut self, charge: &ChargeCells) {
        if !self.batch.takes(charge) {
            self.full.push(std::mem::take(&mut self.batch));
        }
        self.batch.charge(charge);
    }

    fn line(&mut self, line: &LineCells<'_>) {
        self.summary.rows += 1;
        self.summary.billed += line.billed_cost;
        self.summary.effective += line.effective_cost;
        self.batch.line(line);
    }
}

/// The export stopped elsewhere: this thread has nothing more to do.
struct Stopped;

impl Worker<'_> {
    /// Reads, splits and encodes unit `index`, sending its row groups.
    fn unit(&mut self, index: usize, unit: &Unit) -> Result<(), ExportError> {
        let Worker {
            request,
            encoder,
            sender,
            stop,
            memo,
            day,
            containers,
        } = self;
        let this_day = (unit.cluster.clone(), unit.date);
        if day.as_ref() != Some(&this_day) {
            // A container's identity is reused within a day: the memo
            // stays a day's size.
            *memo = charges::Memo::default();
            *day = Some(this_day);
        }
        let ctx = Context {
            cluster: &unit.cluster,
            billing_account: request.billing_account.unwrap_or(&unit.cluster),
            billing_account_given: request.billing_account.is_some(),
            pricing: request.pricing,
        };
        let mut out = Out::default();
        let mut seq = 0;
        let mut send = |out: &mut Out, last: bool| -> Result<(), ExportError> {
            if last && !out.batch.is_empty() {
                out.full.push(std::mem::take(&mut out.batch));
            }
            for batch in out.full.drain(..) {
                if stop.load(Ordering::Relaxed) {
                    return Err(Stopped.into());
                }
                let group = encoder.encode(batch)?;
                let message = Message::Group {
                    unit: index,
                    seq,
                    group,
                };
                sender.send(message).map_err(|_| Stopped)?;
                seq += 1;
            }
            Ok(())
        };
        rows(
            &ctx,
            request.window,
            unit,
            memo,
            containers,
            &mut out,
            &mut |out| send(out, false),
        )?;
        send(&mut out, true)?;
        let done = Message::Done {
            unit: index,
            groups: seq,
            summary: out.summary,
        };
        sender.send(done).map_err(|_| Stopped)?;
        Ok(())
    }
}

impl From<Stopped> for ExportError {
    /// Only ever reported to a receiver that is gone: never seen.
    fn from(_: Stopped) -> ExportError {
        ExportError::Write(FocusFileError::Encode("the export stopped".into()))
    }
}

/// The rows of one unit into `out`, handing full batches to `flush` after
/// each node-hour (or resource-hour).
fn rows(
    ctx: &Context<'_>,
    window: Window,
    unit: &Unit,
    memo: &mut charges::Memo,
    containers: &mut Vec<ContainerHour>,
    out: &mut Out,
    flush: &mut dyn FnMut(&mut Out) -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    containers.clear();
    for file in &unit.allocation {
        input::allocation(&file.path, window, &mut memo.pods, containers)?;
    }
    let containers = &*containers;
    // Each (node, hour)'s container-hours, by index, in the files' order.
    let mut by_node: FxHashMap<(&str, i64), Vec<usize>> = FxHashMap::default();
    for (at, c) in containers.iter().enumerate() {
        let key = (&*c.node, c.start.timestamp_millis());
        by_node.entry(key).or_default().push(at);
    }
    let mut node_hours = Vec::new();
    for file in &unit.nodes {
        node_hours.extend(input::nodes(&file.path, window)?);
    }
    node_hours.sort_by(|a, b| (a.start, &a.node).cmp(&(b.start, &b.node)));
    let mut on_node: Vec<&ContainerHour> = Vec::new();
    for node in &node_hours {
        let key = (node.node.as_str(), node.start.timestamp_millis());
        on_node.clear();
        on_node.extend(
            by_node
                .remove(&key)
                .unwrap_or_default()
                .into_iter()
                .map(|at| &containers[at]),
        );
        // On GKE Autopilot Google bills pods, not nodes: nothing to split.
        if node.price_source == "autopilot" {
            for c in &on_node {
                charges::lone_container(ctx, c, memo, out);
            }
        } else {
            charges::node_hour(ctx, node, &on_node, memo, out);
        }
        flush(out)?;
    }
    let mut lone: Vec<&ContainerHour> = by_node
        .into_values()
        .flatten()
        .map(|at| &containers[at])
        .collect();
    lone.sort_by(|a, b| (a.start, &a.node, &a.pod_uid).cmp(&(b.start, &b.node, &b.pod_uid)));
    for c in lone {
        charges::lone_container(ctx, c, memo, out);
        flush(out)?;
    }
    for file in &unit.resources {
        for r in input::resources(&file.path, window)? {
            charges::resource_hour(ctx, &r, memo, out);
            flush(out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::store::Target;
    use crate::store::focus::{Destination, Format};

    /// A dataset of empty-content files of `bytes` bytes each, named as
    /// the collector names them: (table, day, file name).
    fn files(root: &Path, files: &[(&str, &str, &str)], bytes: usize) {
        for (table, day, name) in files {
            let dir = root
                .join(table)
                .join("cluster=c")
                .join(format!("date={day}"));
            fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
            fs::write(dir.join(name), vec![0_u8; bytes]).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    fn hours(unit: &Unit) -> Vec<Option<u32>> {
        let mut hours: Vec<Option<u32>> = unit.allocation.iter().map(TableFile::hour).collect();
        hours.dedup();
        hours
    }

    #[test]
    fn units_are_whole_hours_gathered_until_they_hold_enough() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut listed = Vec::new();
        for hour in ["00", "01", "02", "03", "04"] {
            listed.push((
                "allocation",
                "2026-11-02",
                format!("part-{hour}-w-0000.parquet"),
            ));
            listed.push(("nodes", "2026-11-02", format!("part-{hour}-w-0000.parquet")));
        }
        // Hour 02 in two files (two writers): they are one hour's.
        listed.push((
            "allocation",
            "2026-11-02",
            "part-02-x-0000.parquet".to_owned(),
        ));
        listed.push((
            "allocation",
            "2026-11-03",
            "part-00-w-0000.parquet".to_owned(),
        ));
        let listed: Vec<(&str, &str, &str)> = listed
            .iter()
            .map(|(t, d, n)| (*t, *d, n.as_str()))
            .collect();
        files(dir.path(), &listed, 6);
        let units = units(dir.path(), (None, None), 10).unwrap_or_else(|e| panic!("{e}"));
        let found: Vec<(NaiveDate, Vec<Option<u32>>)> =
            units.iter().map(|u| (u.date, hours(u))).collect();
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 11, d).unwrap_or_default();
        assert_eq!(
            found,
            vec![
                (day(2), vec![Some(0), Some(1)]),
                (day(2), vec![Some(2)]),
                (day(2), vec![Some(3), Some(4)]),
                (day(3), vec![Some(0)]),
            ],
            "6 + 6 bytes reach 10; hour 02's two files (12 bytes) stand alone"
        );
        assert_eq!(units[0].nodes.len(), 2, "a unit's nodes are its hours'");
        assert_eq!(units[1].allocation.len(), 2);
    }

    #[test]
    fn a_day_with_a_file_that_names_no_hour_is_one_unit() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        files(
            dir.path(),
            &[
                ("allocation", "2026-11-02", "part-00-w-0000.parquet"),
                ("allocation", "2026-11-02", "part-05-w-0000.parquet"),
                ("allocation", "2026-11-02", "spark-output.parquet"),
            ],
            100,
        );
        let units = units(dir.path(), (None, None), 10).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(units.len(), 1);
        assert_eq!(units[0].allocation.len(), 3);
    }

    /// A row group of one row whose ResourceId is `id`.
    fn group(encoder: &GroupEncoder, id: &str) -> EncodedGroup {
        let mut batch = FocusBatch::default();
        batch.charge(&ChargeCells {
            resource_id: Some(std::sync::Arc::from(id)),
            ..ChargeCells::default()
        });
        batch.line(&LineCells::default());
        encoder.encode(batch).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn row_groups_are_written_in_unit_order_whatever_order_they_arrive_in() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("out.csv");
        let destination = Destination::new(Target::Local(path.clone()), Format::Csv);
        let mut writer = destination.writer().unwrap_or_else(|e| panic!("{e}"));
        let encoder = writer.encoder();
        let (sender, receiver) = mpsc::sync_channel(16);
        let counted = |rows| Summary {
            rows,
            ..Summary::default()
        };
        let messages = [
            Message::Group {
                unit: 1,
                seq: 0,
                group: group(&encoder, "c"),
            },
            Message::Done {
                unit: 1,
                groups: 1,
                summary: counted(1),
            },
            Message::Group {
                unit: 0,
                seq: 1,
                group: group(&encoder, "b"),
            },
            Message::Done {
                unit: 0,
                groups: 2,
                summary: counted(2),
            },
            Message::Group {
                unit: 0,
                seq: 0,
                group: group(&encoder, "a"),
            },
        ];
        for message in messages {
            sender.send(message).unwrap_or_else(|e| panic!("{e}"));
        }
        drop(sender);
        let summary = write_in_order(receiver, &mut writer).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(summary.rows, 3);
        writer.publish().unwrap_or_else(|e| panic!("{e}"));
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
        let column = crate::store::focus::COLUMNS
            .iter()
            .position(|c| c.name == "ResourceId")
            .unwrap_or_default();
        let ids: Vec<&str> = text
            .lines()
            .skip(1)
            .map(|line| line.split(',').nth(column).unwrap_or("?"))
            .collect();
        assert_eq!(ids, ["a", "b", "c"]);
    }
}
