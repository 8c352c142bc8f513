//! The summary `kubetally reconcile` prints: where the bill's lines went,
//! the match rate, what was metered but not billed, and list against
//! billed against effective cost.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Utc};

use super::matching::{Counts, Matched};
use super::period::Granularity;
use crate::bill::Bill;

/// One bill file read.
#[derive(Debug, Clone, PartialEq)]
pub struct FileRead {
    pub name: String,
    pub format: &'static str,
    pub lines: usize,
}

/// What a reconciliation found, for people.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub cluster: String,
    pub files: Vec<FileRead>,
    pub granularity: Granularity,
    pub counts: Counts,
    /// Periods with lines of the cluster, and the first and last.
    pub periods: usize,
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    /// Σ list cost of the metered resources of those periods (USD).
    pub list_usd: f64,
    /// Σ list cost of the metered rows matched to lines (USD).
    pub matched_list_usd: f64,
    /// Metered resources (kind, id) with a period the bill does not name,
    /// and their list cost there.
    pub not_billed: Vec<(String, String)>,
    pub not_billed_list_usd: f64,
}

impl Summary {
    pub fn new(cluster: &str, bill: &Bill, matched: &Matched) -> Summary {
        let files = bill
            .files
            .iter()
            .map(|f| FileRead {
                name: f.name.clone(),
                format: f.format.as_str(),
                lines: f.lines.len(),
            })
            .collect();
        let periods: BTreeSet<DateTime<Utc>> = matched.rows.iter().map(|r| r.start_time).collect();
        let mut not_billed = BTreeSet::new();
        let (mut list, mut matched_list, mut not_billed_list) = (0.0, 0.0, 0.0);
        for row in &matched.rows {
            let cost = row.list_cost_usd.unwrap_or(0.0);
            list += cost;
            match row.status {
                "matched" => matched_list += cost,
                "not_billed" => {
                    not_billed_list += cost;
                    not_billed.insert((row.kind.to_owned(), row.resource_id.clone()));
                }
                _ => {}
            }
        }
        Summary {
            cluster: cluster.to_owned(),
            files,
            granularity: matched.granularity,
            counts: matched.counts,
            periods: periods.len(),
            first: periods.first().copied(),
            last: periods.last().copied(),
            list_usd: list,
            matched_list_usd: matched_list,
            not_billed: not_billed.into_iter().collect(),
            not_billed_list_usd: not_billed_list,
        }
    }

    /// The share of the cluster's effective cost matched to metered
    /// resources; `None` when the bill holds none of the cluster's cost.
    pub fn match_rate(&self) -> Option<f64> {
        let c = &self.counts;
        let total = c.matched_effective + c.unallocated_effective;
        (total.abs() > f64::EPSILON).then(|| c.matched_effective / total)
    }

    /// Σ effective cost of the cluster's lines: matched + unallocated.
    pub fn effective_total(&self) -> f64 {
        self.counts.matched_effective + self.counts.unallocated_effective
    }

    /// Whether nothing of the bill was the cluster's.
    pub fn is_empty(&self) -> bool {
        self.counts.matched == 0 && self.counts.unallocated == 0
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counts;
        writeln!(f, "Bill files:")?;
        for file in &self.files {
            writeln!(f, "  {}  {}  {} lines", file.name, file.format, file.lines)?;
        }
        writeln!(
            f,
            "Lines: {} read; {} matched, {} unallocated (the cluster's, no metered resource), \
             {} ignored (other clusters or projects), {} outside the dataset's periods, \
             {} EKS split rows not added",
            c.lines, c.matched, c.unallocated, c.ignored, c.outside, c.split
        )?;
        if self.is_empty() {
            return writeln!(
                f,
                "0 lines matched: no line of the bill is cluster {}'s in a period the dataset \
                 metered (another cluster, project or period?). Nothing written.",
                self.cluster
            );
        }
        if let (Some(first), Some(last)) = (self.first, self.last) {
            writeln!(
                f,
                "Periods: {} {} ({} to {} UTC)",
                self.periods,
                self.granularity.as_str(),
                first.format("%Y-%m-%d %H:%M"),
                (last + chrono::Duration::seconds(self.granularity.seconds()))
                    .format("%Y-%m-%d %H:%M"),
            )?;
        }
        match self.match_rate() {
            Some(rate) => writeln!(
                f,
                "Match rate: {:.1} % of the cluster's effective cost is matched to metered resources",
                rate * 100.0
            )?,
            None => writeln!(f, "Match rate: - (the cluster's lines cost nothing)")?,
        }
        if self.not_billed.is_empty() {
            writeln!(f, "Metered but absent from the bill: none")?;
        } else {
            let shown: Vec<String> = self
                .not_billed
                .iter()
                .take(5)
                .map(|(kind, id)| format!("{kind} {id}"))
                .collect();
            let more = self.not_billed.len().saturating_sub(shown.len());
            writeln!(
                f,
                "Metered but absent from the bill: {} resource{}, list {:.2} USD ({}{})",
                self.not_billed.len(),
                if self.not_billed.len() == 1 { "" } else { "s" },
                self.not_billed_list_usd,
                shown.join(", "),
                if more > 0 {
                    format!(", {more} more")
                } else {
                    String::new()
                }
            )?;
        }
        writeln!(f, "Cost             list (USD)       billed    effective")?;
        writeln!(
            f,
            "  matched     {:>14.2} {:>12.2} {:>12.2}",
            self.matched_list_usd, c.matched_billed, c.matched_effective
        )?;
        writeln!(
            f,
            "  unallocated {:>14} {:>12.2} {:>12.2}",
            "-", c.unallocated_billed, c.unallocated_effective
        )?;
        writeln!(
            f,
            "  cluster     {:>14.2} {:>12.2} {:>12.2}",
            self.list_usd,
            c.matched_billed + c.unallocated_billed,
            self.effective_total()
        )
    }
}
