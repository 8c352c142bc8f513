//! One export: the dataset's node-hours, container-hours and
//! resource-hours in a window, a day of one cluster at a time, to FOCUS
//! rows handed to a [`FocusWriter`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use chrono::NaiveDate;

use super::charges::{self, Context};
use super::cost::Pricing;
use super::input::{self, ContainerHour, Window};
use crate::model::fixed::Fixed;
use crate::store::focus::{FocusFileError, FocusRow, FocusWriter};
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

/// Exports the window into `writer` (which publishes nothing itself).
///
/// # Errors
///
/// [`ExportError::Read`] naming a file that cannot be read,
/// [`ExportError::Write`] when a row cannot be staged, and
/// [`ExportError::Empty`] when the window holds no hours at all.
pub fn export(request: &Request<'_>, writer: &mut FocusWriter) -> Result<Summary, ExportError> {
    let filter = Filter {
        cluster: None,
        from: request.days.0,
        to: request.days.1,
    };
    let by_day = |table: &str| -> Result<BTreeMap<(String, NaiveDate), Vec<TableFile>>, ReadError> {
        let mut days: BTreeMap<(String, NaiveDate), Vec<TableFile>> = BTreeMap::new();
        for file in read::files(request.root, table, &filter)? {
            days.entry((file.cluster.clone(), file.date))
                .or_default()
                .push(file);
        }
        Ok(days)
    };
    let nodes = by_day("nodes")?;
    let allocation = by_day("allocation")?;
    let resources = by_day("resources")?;
    let keys: BTreeSet<&(String, NaiveDate)> = nodes
        .keys()
        .chain(allocation.keys())
        .chain(resources.keys())
        .collect();
    let mut sink = Sink {
        writer,
        summary: Summary::default(),
        rows: Vec::new(),
    };
    let none = Vec::new();
    for key in keys {
        let cluster = key.0.as_str();
        let ctx = Context {
            cluster,
            billing_account: request.billing_account.unwrap_or(cluster),
            billing_account_given: request.billing_account.is_some(),
            pricing: request.pricing,
        };
        day(
            &ctx,
            request.window,
            nodes.get(key).unwrap_or(&none),
            allocation.get(key).unwrap_or(&none),
            resources.get(key).unwrap_or(&none),
            &mut sink,
        )?;
    }
    let summary = sink.summary;
    if summary.rows == 0 {
        return Err(ExportError::Empty {
            window: request.window_name.clone(),
        });
    }
    Ok(summary)
}

/// Where rows go: made a node-hour (or resource-hour) at a time, then
/// handed to the writer, so no more than one node-hour's rows wait in
/// memory (a day of the 150,000-pod cluster is ~10 M rows).
struct Sink<'w> {
    writer: &'w mut FocusWriter,
    summary: Summary,
    rows: Vec<FocusRow>,
}

impl Sink<'_> {
    fn flush(&mut self) -> Result<(), FocusFileError> {
        for row in self.rows.drain(..) {
            self.summary.rows += 1;
            self.summary.billed += row.billed_cost.unwrap_or_default();
            self.summary.effective += row.effective_cost.unwrap_or_default();
            self.writer.push(row)?;
        }
        Ok(())
    }
}

/// The rows of one cluster's day, into `sink`.
fn day(
    ctx: &Context<'_>,
    window: Window,
    nodes: &[TableFile],
    allocation: &[TableFile],
    resources: &[TableFile],
    sink: &mut Sink<'_>,
) -> Result<(), ExportError> {
    let mut containers: HashMap<(String, i64), Vec<ContainerHour>> = HashMap::new();
    for file in allocation {
        for row in input::allocation(&file.path, window)? {
            let key = (row.node.clone(), row.start.timestamp_millis());
            containers.entry(key).or_default().push(row);
        }
    }
    let mut node_hours = Vec::new();
    for file in nodes {
        node_hours.extend(input::nodes(&file.path, window)?);
    }
    node_hours.sort_by(|a, b| (a.start, &a.node).cmp(&(b.start, &b.node)));
    let mut identities = charges::Identities::default();
    for node in &node_hours {
        let key = (node.node.clone(), node.start.timestamp_millis());
        let ran = containers.remove(&key).unwrap_or_default();
        // On GKE Autopilot Google bills pods, not nodes: nothing to split.
        if node.price_source == "autopilot" {
            for c in &ran {
                charges::lone_container(ctx, c, &mut sink.rows);
            }
        } else {
            let on_node: Vec<&ContainerHour> = ran.iter().collect();
            charges::node_hour(ctx, node, &on_node, &mut identities, &mut sink.rows);
        }
        sink.flush()?;
    }
    let mut lone: Vec<ContainerHour> = containers.into_values().flatten().collect();
    lone.sort_by(|a, b| (a.start, &a.node, &a.pod_uid).cmp(&(b.start, &b.node, &b.pod_uid)));
    for c in &lone {
        charges::lone_container(ctx, c, &mut sink.rows);
        sink.flush()?;
    }
    for file in resources {
        for r in input::resources(&file.path, window)? {
            charges::resource_hour(ctx, &r, &mut sink.rows);
            sink.flush()?;
        }
    }
    Ok(())
}
