//! Re-pricing at what the bill says was paid: the one reading of the
//! `reconciliation` table that the report, the queries and the FOCUS export
//! all apply (`--cost list|effective|billed`).
//!
//! Every rule of re-pricing lives here:
//!
//! - A metered resource-hour inside a period the bill covers is priced at
//!   its list cost × its row's factor (effective or billed ÷ list); a GCP
//!   node's cpu, memory and gpu parts each by their own row. Summed over the
//!   period's hours that is the bill's figure for the resource exactly.
//! - Metered but `not_billed` (factor 0): the bill did not charge it, so it
//!   costs nothing at the bill's prices.
//! - A resource or hour the bill does not cover keeps its list cost (no
//!   factor), and callers say how much of the period that is.
//! - The bill's money no list dollar carries — `unallocated` rows (egress,
//!   NAT, snapshots…) and matched lines of a resource kubetally priced at 0
//!   (a GCP VM's lines of no part, an Autopilot node) — is the cluster's
//!   [`Unallocated`] cost, so lines + idle + shared + unallocated is the
//!   bill's total.
//! - A bill not in US dollars has no factors (kubetally's list prices are
//!   USD): re-pricing is refused rather than mixing currencies.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::store::read::{self, Filter, ReadError, Select};
use crate::store::schema::{RECONCILIATION, col};

/// `--cost`: which dollars a command shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CostBasis {
    /// Catalog list prices, as the collector priced them.
    List,
    /// What was paid with discounts, credits and amortised commitments:
    /// the bill's effective cost.
    Effective,
    /// What the invoice charged: the bill's billed cost.
    Billed,
}

impl CostBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            CostBasis::List => "list",
            CostBasis::Effective => "effective",
            CostBasis::Billed => "billed",
        }
    }

    /// Parses `--cost`.
    ///
    /// # Errors
    ///
    /// The value, and the ones that exist.
    pub fn parse(text: &str) -> Result<CostBasis, String> {
        match text {
            "list" => Ok(CostBasis::List),
            "effective" => Ok(CostBasis::Effective),
            "billed" => Ok(CostBasis::Billed),
            other => Err(format!(
                "unknown cost basis {other:?}: expected list, effective or billed"
            )),
        }
    }
}

/// Why the bill's prices cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum FactorsError {
    #[error(
        "--cost {basis}: no reconciliation in {}: run kubetally reconcile first, or use --cost list",
        dir.display()
    )]
    NoReconciliation { basis: &'static str, dir: PathBuf },
    #[error(
        "--cost {basis}: the bill reconciled in {} is in {currency}, and kubetally's prices are US dollars: use --cost list",
        dir.display()
    )]
    Currency {
        basis: &'static str,
        dir: PathBuf,
        currency: String,
    },
    #[error("reading the reconciliation in {}", dir.display())]
    Read {
        dir: PathBuf,
        #[source]
        cause: ReadError,
    },
}

/// The factors of one resource in one period, by part. A resource billed
/// whole (every cloud but a GCP VM) has the same factor in every part.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PartFactors {
    pub cpu: f64,
    pub memory: f64,
    pub gpu: f64,
    /// The resource's whole cost: Σ paid ÷ Σ list over its parts (for a
    /// node billed in parts, the blend of its parts at their list costs).
    pub whole: f64,
}

impl PartFactors {
    fn all(factor: f64) -> PartFactors {
        PartFactors {
            cpu: factor,
            memory: factor,
            gpu: factor,
            whole: factor,
        }
    }
}

/// The bill's money of one period no metered list dollar carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Unallocated {
    pub cluster: String,
    /// Start and end of the period, unix milliseconds.
    pub start_ms: i64,
    pub end_ms: i64,
    pub service: String,
    pub sku: String,
    pub cost: f64,
}

/// One period of one resource.
#[derive(Debug, Clone, Copy)]
struct Span {
    start_ms: i64,
    end_ms: i64,
    factors: PartFactors,
}

/// A resource's parts of one period, while reading.
#[derive(Debug, Default, Clone, Copy)]
struct Parts {
    cpu: Option<f64>,
    memory: Option<f64>,
    gpu: Option<f64>,
    all: Option<f64>,
    list: f64,
    paid: f64,
}

/// The re-pricing of a dataset at the bill's prices (or at list: no
/// factors at all).
#[derive(Debug, Default)]
pub struct Factors {
    basis: Option<CostBasis>,
    /// (cluster, kind, resource id) → its periods, sorted by start.
    spans: HashMap<(String, String, String), Vec<Span>>,
    /// cluster → the periods the bill covers, sorted by start.
    covered: HashMap<String, Vec<(i64, i64)>>,
    unallocated: Vec<Unallocated>,
    /// Σ the bill's cost (the basis's) per cluster and period start:
    /// what the cluster paid in each period the bill covers.
    paid: BTreeMap<(String, i64), f64>,
    /// Σ the list cost of `not_billed` rows per cluster and period start.
    not_billed: BTreeMap<(String, i64), (u64, f64)>,
}

/// What re-pricing a window found, for a report to print.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Coverage {
    /// Σ the bill's cost of the cluster's lines in the window.
    pub bill_total: f64,
    /// Of it, on metered resources (the match rate's numerator).
    pub matched: f64,
    /// Metered resources the bill did not name, and their list cost.
    pub not_billed: u64,
    pub not_billed_list: f64,
}

const SELECT: Select<'static> = Select::columns(&[
    col::START_TIME,
    col::END_TIME,
    col::STATUS,
    col::KIND,
    col::PART,
    col::RESOURCE_ID,
    col::SERVICE,
    col::SKU,
    col::CURRENCY,
    col::LIST_COST_USD,
    col::BILLED_COST,
    col::EFFECTIVE_COST,
    col::BILLED_FACTOR,
    col::EFFECTIVE_FACTOR,
]);

impl Factors {
    /// The factors of the dataset at `root` for `wanted`; `None` asks for
    /// the default — the bill's effective cost where a reconciliation
    /// exists, list otherwise.
    ///
    /// # Errors
    ///
    /// [`FactorsError::NoReconciliation`] for an explicit `effective` or
    /// `billed` without a reconciliation table, [`FactorsError::Currency`]
    /// for a bill not in US dollars (the default falls back to list
    /// there: the caller says so through [`Factors::basis`]),
    /// [`FactorsError::Read`] when the table cannot be read.
    pub fn open(root: &Path, wanted: Option<CostBasis>) -> Result<Factors, FactorsError> {
        let basis = match wanted {
            Some(CostBasis::List) => return Ok(Factors::default()),
            Some(basis) => basis,
            None => CostBasis::Effective,
        };
        let read_error = |cause| FactorsError::Read {
            dir: root.to_owned(),
            cause,
        };
        let files =
            read::files(root, RECONCILIATION.name, &Filter::default()).map_err(read_error)?;
        if files.is_empty() {
            return match wanted {
                None => Ok(Factors::default()),
                Some(_) => Err(FactorsError::NoReconciliation {
                    basis: basis.as_str(),
                    dir: root.to_owned(),
                }),
            };
        }
        let mut factors = Factors {
            basis: Some(basis),
            ..Factors::default()
        };
        let mut parts: BTreeMap<Key, Parts> = BTreeMap::new();
        for file in &files {
            for batch in read::open(&file.path, &SELECT).map_err(read_error)? {
                let batch = batch.map_err(read_error)?;
                let rows = read_rows(&batch.columns(), &file.cluster, basis).map_err(read_error)?;
                for row in rows {
                    if let Some(currency) = row.foreign_currency() {
                        if wanted.is_none() {
                            return Ok(Factors::default());
                        }
                        return Err(FactorsError::Currency {
                            basis: basis.as_str(),
                            dir: root.to_owned(),
                            currency,
                        });
                    }
                    factors.add(row, &mut parts);
                }
            }
        }
        factors.finish(parts);
        Ok(factors)
    }

    /// The basis the factors re-price at: `None` is list (no reconciliation,
    /// or `--cost list`).
    pub fn basis(&self) -> CostBasis {
        self.basis.unwrap_or(CostBasis::List)
    }

    /// Whether anything is re-priced.
    pub fn repricing(&self) -> bool {
        self.basis.is_some()
    }

    /// The factors of the resource `kind`/`id` of `cluster` for the hour
    /// starting at `hour_ms`; `None` where the bill does not cover it
    /// (the list cost stands).
    pub fn of(&self, cluster: &str, kind: &str, id: &str, hour_ms: i64) -> Option<PartFactors> {
        if self.spans.is_empty() {
            // List prices: no key to build.
            return None;
        }
        let spans = self
            .spans
            .get(&(cluster.to_owned(), kind.to_owned(), id.to_owned()))?;
        let at = spans.partition_point(|s| s.start_ms <= hour_ms);
        let span = spans.get(at.checked_sub(1)?)?;
        (hour_ms < span.end_ms).then_some(span.factors)
    }

    /// Every hour of every resource the bill covers, with its factors: what
    /// a SQL engine joins to re-price whole tables. Each item is (cluster,
    /// kind, resource id, hour start in unix ms, factors).
    pub fn hours(&self) -> impl Iterator<Item = (&str, &str, &str, i64, PartFactors)> {
        self.spans.iter().flat_map(|((cluster, kind, id), spans)| {
            spans.iter().flat_map(move |span| {
                (span.start_ms..span.end_ms)
                    .step_by(HOUR_MS as usize)
                    .map(move |hour| {
                        (
                            cluster.as_str(),
                            kind.as_str(),
                            id.as_str(),
                            hour,
                            span.factors,
                        )
                    })
            })
        })
    }

    /// Whether the bill covers `cluster`'s hour starting at `hour_ms`.
    pub fn covers(&self, cluster: &str, hour_ms: i64) -> bool {
        self.covered.get(cluster).is_some_and(|periods| {
            let at = periods.partition_point(|p| p.0 <= hour_ms);
            at.checked_sub(1)
                .and_then(|i| periods.get(i))
                .is_some_and(|p| hour_ms < p.1)
        })
    }

    /// The cluster's unallocated bill money in periods starting in
    /// `[from_ms, to_ms)`.
    pub fn unallocated(&self, from_ms: i64, to_ms: i64) -> impl Iterator<Item = &Unallocated> {
        self.unallocated
            .iter()
            .filter(move |u| u.start_ms >= from_ms && u.start_ms < to_ms)
    }

    /// What the bill says of periods starting in `[from_ms, to_ms)`.
    pub fn coverage(&self, from_ms: i64, to_ms: i64) -> Coverage {
        let within = |start: i64| start >= from_ms && start < to_ms;
        let bill_total: f64 = self
            .paid
            .iter()
            .filter(|((_, start), _)| within(*start))
            .map(|(_, cost)| cost)
            .sum();
        let unallocated: f64 = self.unallocated(from_ms, to_ms).map(|u| u.cost).sum();
        let (not_billed, not_billed_list) = self
            .not_billed
            .iter()
            .filter(|((_, start), _)| within(*start))
            .fold((0, 0.0), |(n, usd), (_, (m, list))| (n + m, usd + list));
        Coverage {
            bill_total,
            matched: bill_total - unallocated,
            not_billed,
            not_billed_list,
        }
    }

    fn add(&mut self, row: Row, parts: &mut BTreeMap<Key, Parts>) {
        *self
            .paid
            .entry((row.cluster.clone(), row.start_ms))
            .or_default() += row.paid;
        let periods = self.covered.entry(row.cluster.clone()).or_default();
        if !periods.contains(&(row.start_ms, row.end_ms)) {
            periods.push((row.start_ms, row.end_ms));
        }
        if row.status == UNALLOCATED {
            self.unallocated.push(row.unallocated());
            return;
        }
        if row.status == NOT_BILLED && row.list > 0.0 {
            let n = self
                .not_billed
                .entry((row.cluster.clone(), row.start_ms))
                .or_default();
            n.0 += 1;
            n.1 += row.list;
        }
        // Not billed: the bill charged nothing for it (reconcile leaves
        // its factor null; it is 0).
        let factor = match row.status.as_str() {
            NOT_BILLED => Some(0.0),
            _ => row.factor,
        };
        let Some(factor) = factor.filter(|_| row.list > 0.0) else {
            // Bill money on a resource kubetally priced at 0 (or a row
            // with nothing on either side): the cluster's, unallocated.
            if row.paid != 0.0 {
                self.unallocated.push(row.unallocated());
            }
            return;
        };
        let key = Key {
            cluster: row.cluster.clone(),
            kind: row.kind.clone(),
            id: row.resource_id.clone(),
            start_ms: row.start_ms,
            end_ms: row.end_ms,
        };
        let entry = parts.entry(key).or_default();
        entry.list += row.list;
        entry.paid += row.paid;
        match row.part.as_str() {
            "cpu" => entry.cpu = Some(factor),
            "memory" => entry.memory = Some(factor),
            "gpu" => entry.gpu = Some(factor),
            _ => entry.all = Some(factor),
        }
    }

    fn finish(&mut self, parts: BTreeMap<Key, Parts>) {
        for (key, p) in parts {
            let whole = if p.list > 0.0 { p.paid / p.list } else { 0.0 };
            let factors = match p.all {
                // A resource billed whole.
                Some(all) if p.cpu.is_none() && p.memory.is_none() && p.gpu.is_none() => {
                    PartFactors::all(all)
                }
                // A GCP VM: a part without a row of its own was not billed
                // (reconcile writes a row for every part with a list cost).
                _ => PartFactors {
                    cpu: p.cpu.unwrap_or(0.0),
                    memory: p.memory.unwrap_or(0.0),
                    gpu: p.gpu.unwrap_or(0.0),
                    whole,
                },
            };
            self.spans
                .entry((key.cluster, key.kind, key.id))
                .or_default()
                .push(Span {
                    start_ms: key.start_ms,
                    end_ms: key.end_ms,
                    factors,
                });
        }
        for spans in self.spans.values_mut() {
            spans.sort_by_key(|s| s.start_ms);
        }
        for periods in self.covered.values_mut() {
            periods.sort_unstable();
        }
        self.unallocated
            .sort_by(|a, b| (&a.cluster, a.start_ms).cmp(&(&b.cluster, b.start_ms)));
    }
}

const HOUR_MS: i64 = 3_600_000;
const UNALLOCATED: &str = "unallocated";
const NOT_BILLED: &str = "not_billed";

/// A resource's period, while reading.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    cluster: String,
    kind: String,
    id: String,
    start_ms: i64,
    end_ms: i64,
}

/// One reconciliation row, as re-pricing reads it.
#[derive(Debug)]
struct Row {
    cluster: String,
    start_ms: i64,
    end_ms: i64,
    status: String,
    kind: String,
    part: String,
    resource_id: String,
    service: String,
    sku: String,
    currency: String,
    list: f64,
    /// The basis's cost: effective or billed.
    paid: f64,
    factor: Option<f64>,
}

impl Row {
    /// The row's currency when it is money in another currency than USD.
    fn foreign_currency(&self) -> Option<String> {
        let usd = self.currency.is_empty() || self.currency.eq_ignore_ascii_case("USD");
        (!usd && self.paid != 0.0).then(|| self.currency.clone())
    }

    fn unallocated(&self) -> Unallocated {
        Unallocated {
            cluster: self.cluster.clone(),
            start_ms: self.start_ms,
            end_ms: self.end_ms,
            service: self.service.clone(),
            sku: self.sku.clone(),
            cost: self.paid,
        }
    }
}

fn read_rows(
    batch: &read::Columns<'_>,
    cluster: &str,
    basis: CostBasis,
) -> Result<Vec<Row>, ReadError> {
    let start = batch.millis(col::START_TIME)?;
    let end = batch.millis(col::END_TIME)?;
    let status = batch.text(col::STATUS)?;
    let kind = batch.text(col::KIND)?;
    let part = batch.text(col::PART)?;
    let id = batch.text(col::RESOURCE_ID)?;
    let service = batch.text(col::SERVICE)?;
    let sku = batch.text(col::SKU)?;
    let currency = batch.text(col::CURRENCY)?;
    let list = batch.floats(col::LIST_COST_USD)?;
    let (paid, factor) = match basis {
        CostBasis::Billed => (
            batch.floats(col::BILLED_COST)?,
            batch.floats(col::BILLED_FACTOR)?,
        ),
        _ => (
            batch.floats(col::EFFECTIVE_COST)?,
            batch.floats(col::EFFECTIVE_FACTOR)?,
        ),
    };
    Ok((0..batch.rows())
        .filter_map(|row| {
            let start_ms = start.get(row)?;
            let end_ms = end.get(row)?;
            Some(Row {
                cluster: cluster.to_owned(),
                start_ms,
                end_ms,
                status: status.get(row).to_owned(),
                kind: kind.get(row).to_owned(),
                part: part.get(row).to_owned(),
                resource_id: id.get(row).to_owned(),
                service: service.get(row).to_owned(),
                sku: sku.get(row).to_owned(),
                currency: currency.get(row).to_owned(),
                list: list.get(row).filter(|v| v.is_finite()).unwrap_or(0.0),
                paid: paid.get(row).filter(|v| v.is_finite()).unwrap_or(0.0),
                factor: factor.get(row).filter(|v| v.is_finite()),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests;
