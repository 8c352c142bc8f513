//! Matching a bill's lines to what the dataset metered, period by period.
//!
//! Every line ends in exactly one bucket, decided in this order:
//!
//! 1. not additive (an AWS EKS split row: its parent instance's own lines
//!    bill the same money) → counted, never summed;
//! 2. outside the periods the dataset metered → counted as outside;
//! 3. its resource is a metered resource of that period (by [`Key`]) →
//!    matched to it (a GCP node's line to its cpu, memory or gpu part);
//! 4. a managed cluster fee line of this cluster → matched to the metered
//!    cluster fee;
//! 5. the cluster's (by [`Scope`]), or a resource metered in another
//!    period → the cluster's unallocated cost, by service and SKU;
//! 6. anything else → another cluster's or project's line: ignored.
//!
//! So Σ effective of matched and unallocated rows is the effective cost of
//! the cluster's lines in the periods reconciled, to the cent.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::keys::{self, Key, Part};
use super::period::Granularity;
use super::scope::Scope;
use crate::bill::{Bill, Cloud, LineView};
use crate::model::metered::{Metered, MeteredCost, MeteredKind};
use crate::store::ReconciliationRow;

/// The metered resources of one period, summed over its hours.
#[derive(Debug)]
struct Group {
    kind: MeteredKind,
    period: i64,
    resource_id: String,
    provider_id: String,
    provider: String,
    zone: String,
    cost: MeteredCost,
}

/// Sums of the bill lines of one row.
#[derive(Debug, Default)]
struct Sum {
    billed: f64,
    effective: f64,
    list: f64,
    list_known: bool,
    lines: i64,
    service: Option<String>,
    sku: Option<String>,
    currency: Option<String>,
    resource: Option<String>,
}

impl Sum {
    fn add(&mut self, line: &LineView<'_>) {
        self.billed += line.line.billed_cost;
        self.effective += line.line.effective_cost;
        if let Some(list) = line.line.list_cost {
            self.list += list;
            self.list_known = true;
        }
        self.lines += 1;
        same(&mut self.service, line.service());
        same(&mut self.sku, line.sku_description());
        same(&mut self.currency, line.currency());
        same(&mut self.resource, line.resource_id());
    }
}

/// Keeps `text` while every line agrees on it, empty once two differ.
fn same(kept: &mut Option<String>, text: &str) {
    match kept {
        None => *kept = Some(text.to_owned()),
        Some(value) if value != text => value.clear(),
        Some(_) => {}
    }
}

/// How many lines went where.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Counts {
    /// Every line read.
    pub lines: usize,
    pub matched: usize,
    pub unallocated: usize,
    /// Lines of other clusters or projects.
    pub ignored: usize,
    /// Lines outside the periods the dataset metered.
    pub outside: usize,
    /// AWS EKS split rows: shares of lines already counted.
    pub split: usize,
    /// Σ effective and billed cost of the matched and unallocated lines.
    pub matched_effective: f64,
    pub matched_billed: f64,
    pub unallocated_effective: f64,
    pub unallocated_billed: f64,
}

/// A reconciliation's rows and its counts.
#[derive(Debug)]
pub struct Matched {
    pub granularity: Granularity,
    pub rows: Vec<ReconciliationRow>,
    pub counts: Counts,
}

/// Matches `bill` to `metered` for the cluster `scope` names.
pub fn reconcile(bill: &Bill, metered: &[Metered], scope: &Scope) -> Matched {
    let granularity = Granularity::of(bill);
    let index = Index::build(metered, granularity);
    let mut counts = Counts::default();
    let mut matched: BTreeMap<(usize, Part), Sum> = BTreeMap::new();
    let mut unallocated: BTreeMap<(i64, String, String), (Sum, Cloud)> = BTreeMap::new();
    let mut covered: HashSet<i64> = HashSet::new();
    for line in bill.iter() {
        counts.lines += 1;
        if !line.is_additive() {
            counts.split += 1;
            continue;
        }
        let period = granularity.period(line.line.start_unix_s);
        if !index.periods.contains(&period) {
            counts.outside += 1;
            continue;
        }
        let target = index.find(&line, period).or_else(|| {
            let fee = keys::is_cluster_fee(&line) && (scope.contains(&line) || scope.names(&line));
            fee.then(|| index.fees.get(&period).copied()).flatten()
        });
        if let Some(group) = target {
            let part = part_of(&index.groups[group], &line);
            matched.entry((group, part)).or_default().add(&line);
            covered.insert(period);
            counts.matched += 1;
            counts.matched_effective += line.line.effective_cost;
            counts.matched_billed += line.line.billed_cost;
        } else if scope.contains(&line) || index.knows(&line) {
            let key = (
                period,
                line.service().to_owned(),
                line.sku_description().to_owned(),
            );
            let entry = unallocated
                .entry(key)
                .or_insert_with(|| (Sum::default(), line.cloud()));
            entry.0.add(&line);
            covered.insert(period);
            counts.unallocated += 1;
            counts.unallocated_effective += line.line.effective_cost;
            counts.unallocated_billed += line.line.billed_cost;
        } else {
            counts.ignored += 1;
        }
    }
    let mut rows = metered_rows(&index, &matched, &covered, granularity);
    rows.extend(
        unallocated
            .into_iter()
            .map(|((period, _, _), (sum, cloud))| {
                let resource = sum.resource.clone().unwrap_or_default();
                row(
                    &Head {
                        period,
                        granularity,
                        status: "unallocated",
                        kind: "unallocated",
                        part: "",
                        resource_id: "",
                        provider_resource_id: &resource,
                        provider: cloud.as_str(),
                    },
                    None,
                    &sum,
                )
            }),
    );
    rows.sort_by(|a, b| {
        (
            a.start_time,
            a.kind,
            &a.resource_id,
            a.part,
            &a.service,
            &a.sku,
        )
            .cmp(&(
                b.start_time,
                b.kind,
                &b.resource_id,
                b.part,
                &b.service,
                &b.sku,
            ))
    });
    Matched {
        granularity,
        rows,
        counts,
    }
}

/// The part of `group` a matched line bills: GCP bills a VM's cores, RAM
/// and GPUs in separate lines; everything else bills a resource whole.
fn part_of(group: &Group, line: &LineView<'_>) -> Part {
    if group.kind == MeteredKind::Node && line.cloud() == Cloud::Gcp {
        keys::gcp_part(line.sku_description()).unwrap_or(Part::Other)
    } else {
        Part::All
    }
}

/// The rows of every metered group of a period the bill covers: matched
/// with their lines, or not billed.
fn metered_rows(
    index: &Index,
    matched: &BTreeMap<(usize, Part), Sum>,
    covered: &HashSet<i64>,
    granularity: Granularity,
) -> Vec<ReconciliationRow> {
    let mut rows = Vec::new();
    let none = Sum::default();
    for (at, group) in index.groups.iter().enumerate() {
        if !covered.contains(&group.period) {
            continue;
        }
        let head = |status: &'static str, part: Part| Head {
            period: group.period,
            granularity,
            status,
            kind: group.kind.as_str(),
            part: part.as_str(),
            resource_id: &group.resource_id,
            provider_resource_id: &group.provider_id,
            provider: &group.provider,
        };
        let lines = |part: Part| matched.get(&(at, part));
        let split = [Part::Cpu, Part::Memory, Part::Gpu]
            .iter()
            .any(|p| lines(*p).is_some());
        if !split {
            // One row for the whole resource; lines of a GCP VM that name
            // no part are then its whole cost too.
            let mut sum = Sum::default();
            for part in [Part::All, Part::Other] {
                if let Some(s) = lines(part) {
                    merge(&mut sum, s);
                }
            }
            let status = if sum.lines > 0 {
                "matched"
            } else {
                "not_billed"
            };
            rows.push(row(
                &head(status, Part::All),
                Some(group.cost.total_usd()),
                &sum,
            ));
            continue;
        }
        let parts = [
            (Part::Cpu, group.cost.cpu_usd),
            (Part::Memory, group.cost.memory_usd),
            (Part::Gpu, group.cost.gpu_usd),
            (Part::All, group.cost.other_usd),
            (Part::Other, 0.0),
        ];
        for (part, list) in parts {
            let sum = lines(part).unwrap_or(&none);
            if sum.lines == 0 && list <= 0.0 {
                continue;
            }
            let status = if sum.lines > 0 {
                "matched"
            } else {
                "not_billed"
            };
            rows.push(row(&head(status, part), Some(list), sum));
        }
    }
    rows
}

fn merge(into: &mut Sum, from: &Sum) {
    into.billed += from.billed;
    into.effective += from.effective;
    into.list += from.list;
    into.list_known |= from.list_known;
    into.lines += from.lines;
    for (kept, text) in [
        (&mut into.service, &from.service),
        (&mut into.sku, &from.sku),
        (&mut into.currency, &from.currency),
        (&mut into.resource, &from.resource),
    ] {
        if let Some(text) = text {
            same(kept, text);
        }
    }
}

/// What a row says before its sums.
struct Head<'a> {
    period: i64,
    granularity: Granularity,
    status: &'static str,
    kind: &'static str,
    part: &'static str,
    resource_id: &'a str,
    provider_resource_id: &'a str,
    provider: &'a str,
}

fn row(head: &Head<'_>, list: Option<f64>, sum: &Sum) -> ReconciliationRow {
    let time = |s: i64| DateTime::<Utc>::from_timestamp(s, 0).unwrap_or_default();
    let currency = sum.currency.clone().unwrap_or_default();
    // A factor compares the bill with kubetally's USD list prices.
    let usd = currency.is_empty() || currency.eq_ignore_ascii_case("USD");
    let factor = |cost: f64| {
        list.filter(|l| *l > 0.0 && usd && sum.lines > 0)
            .map(|l| cost / l)
    };
    ReconciliationRow {
        start_time: time(head.period),
        end_time: time(head.period + head.granularity.seconds()),
        status: head.status,
        kind: head.kind,
        part: head.part,
        resource_id: head.resource_id.to_owned(),
        provider_resource_id: head.provider_resource_id.to_owned(),
        provider: head.provider.to_owned(),
        service: sum.service.clone().unwrap_or_default(),
        sku: sum.sku.clone().unwrap_or_default(),
        currency,
        list_cost_usd: list,
        billed_cost: sum.billed,
        effective_cost: sum.effective,
        bill_list_cost: sum.list_known.then_some(sum.list),
        matched_lines: sum.lines,
        billed_factor: factor(sum.billed),
        effective_factor: factor(sum.effective),
    }
}

/// The metered side, summed per period and indexed by the keys bills use.
struct Index {
    groups: Vec<Group>,
    /// Groups by key and period.
    by_key: HashMap<(Key, i64), Vec<usize>>,
    /// Every key of any period: a line naming one is the cluster's even in
    /// a period its resource was not metered.
    keys: HashSet<Key>,
    /// The cluster fee's group per period.
    fees: HashMap<i64, usize>,
    /// Periods with anything metered.
    periods: HashSet<i64>,
}

impl Index {
    fn build(metered: &[Metered], granularity: Granularity) -> Index {
        let mut groups: Vec<Group> = Vec::new();
        let mut at: HashMap<(MeteredKind, &str, i64), usize> = HashMap::new();
        let mut index = Index {
            groups: Vec::new(),
            by_key: HashMap::new(),
            keys: HashSet::new(),
            fees: HashMap::new(),
            periods: HashSet::new(),
        };
        for item in metered {
            let period = granularity.period(item.hour_unix_s);
            index.periods.insert(period);
            let slot = *at
                .entry((item.kind, item.resource_id.as_str(), period))
                .or_insert_with(|| {
                    groups.push(Group {
                        kind: item.kind,
                        period,
                        resource_id: item.resource_id.clone(),
                        provider_id: item.provider_id.clone(),
                        provider: item.provider.clone(),
                        zone: keys::metered_zone(item).to_owned(),
                        cost: MeteredCost::default(),
                    });
                    let slot = groups.len() - 1;
                    for key in keys::metered_keys(item) {
                        index.keys.insert(key.clone());
                        index.by_key.entry((key, period)).or_default().push(slot);
                    }
                    if item.kind == MeteredKind::ClusterFee {
                        index.fees.insert(period, slot);
                    }
                    slot
                });
            let cost = &mut groups[slot].cost;
            cost.cpu_usd += item.cost.cpu_usd;
            cost.memory_usd += item.cost.memory_usd;
            cost.gpu_usd += item.cost.gpu_usd;
            cost.other_usd += item.cost.other_usd;
        }
        index.groups = groups;
        index
    }

    /// The metered group of `period` that `line` bills, if any: GCE names
    /// also need the zones to agree where both are known.
    fn find(&self, line: &LineView<'_>, period: i64) -> Option<usize> {
        let zone = line.zone();
        keys::line_keys(line).into_iter().find_map(|key| {
            let zoned = matches!(key, Key::GceInstance(_) | Key::GceDisk(_));
            self.by_key.get(&(key, period))?.iter().copied().find(|&g| {
                let theirs = &self.groups[g].zone;
                !zoned || zone.is_empty() || theirs.is_empty() || theirs == zone
            })
        })
    }

    /// Whether `line` names a resource metered in some period.
    fn knows(&self, line: &LineView<'_>) -> bool {
        keys::line_keys(line).iter().any(|k| self.keys.contains(k))
    }
}
