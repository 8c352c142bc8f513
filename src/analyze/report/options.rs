//! What a report is asked for: grouping, charge basis, sharing rules, period
//! and scope, as validated values (the command line parses into these).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

/// How cost lines are grouped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum By {
    Tenant,
    Namespace,
    /// `namespace/kind/name` of the owning workload.
    Workload,
    /// The value of one pod label; pods without it form one `(none)` group.
    Label(String),
}

impl By {
    /// Parses `tenant`, `namespace`, `workload` or `label:KEY`.
    ///
    /// # Errors
    ///
    /// A message naming the text when it is none of those.
    pub fn parse(text: &str) -> Result<By, String> {
        match text {
            "tenant" => Ok(By::Tenant),
            "namespace" => Ok(By::Namespace),
            "workload" => Ok(By::Workload),
            _ => match text.strip_prefix("label:") {
                Some(key) if !key.is_empty() => Ok(By::Label(key.to_owned())),
                _ => Err(format!(
                    "{text:?}: expected tenant, namespace, workload or label:KEY"
                )),
            },
        }
    }

    /// The column name of the group in tables and CSV: `tenant`,
    /// `namespace`, `workload`, `label_<KEY>`.
    pub fn column(&self) -> String {
        match self {
            By::Tenant => "tenant".into(),
            By::Namespace => "namespace".into(),
            By::Workload => "workload".into(),
            By::Label(key) => format!("label_{key}"),
        }
    }

    /// As given on the command line.
    pub fn flag(&self) -> String {
        match self {
            By::Label(key) => format!("label:{key}"),
            other => other.column(),
        }
    }
}

/// What a container is charged for, per resource and hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// max(request, usage): the allocation table's billed cost (OpenCost).
    Max,
    /// Requests only (GKE cost allocation).
    Request,
    /// Usage only.
    Usage,
}

impl Basis {
    pub fn name(self) -> &'static str {
        match self {
            Basis::Max => "max",
            Basis::Request => "request",
            Basis::Usage => "usage",
        }
    }
}

/// How idle cost (node cost no container was charged under the basis) is spread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShareIdle {
    /// In proportion to each group's compute cost.
    Proportional,
    /// Not spread: one unshared remainder line.
    None,
}

/// How the cost of shared namespaces (tenant `__shared__`) is spread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShareShared {
    /// In proportion to each group's compute cost.
    Proportional,
    /// In equal parts over the groups present.
    Even,
    /// Not spread: one unshared remainder line.
    None,
}

impl ShareIdle {
    pub fn name(self) -> &'static str {
        match self {
            ShareIdle::Proportional => "proportional",
            ShareIdle::None => "none",
        }
    }
}

impl ShareShared {
    pub fn name(self) -> &'static str {
        match self {
            ShareShared::Proportional => "proportional",
            ShareShared::Even => "even",
            ShareShared::None => "none",
        }
    }
}

/// The period asked for, before the dataset says where its data ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Window {
    /// The last `days` complete UTC days of data: ending at the midnight at
    /// or before the end of the newest hour, so a day still being collected
    /// is left for next week's report. A dataset without one complete day
    /// falls back to the `days` ending at the end of its newest hour.
    FullDays { days: u32 },
    /// The `length` ending at `to` (midnight UTC), or at the end of the
    /// newest hour in the dataset.
    Last {
        length: chrono::Duration,
        to: Option<NaiveDate>,
    },
    /// `from` (inclusive) to `to` (exclusive), UTC days; without `to`, up to
    /// the end of the newest hour in the dataset.
    Range {
        from: NaiveDate,
        to: Option<NaiveDate>,
    },
}

impl Default for Window {
    /// The last full week of data: seven whole UTC days, ending where the
    /// data ends (design.md: windows follow the dataset, not the wall clock).
    fn default() -> Window {
        Window::FullDays { days: 7 }
    }
}

/// Everything a report is asked for.
#[derive(Debug, Clone)]
pub struct Options {
    pub window: Window,
    pub by: By,
    pub basis: Basis,
    pub share_idle: ShareIdle,
    pub share_shared: ShareShared,
    /// Only this tenant's lines (a tenant's own invoice).
    pub tenant: Option<String>,
    /// How many waste lines to show.
    pub top_waste: usize,
    /// How the sums over `allocation` are read.
    pub facts: FactsReader,
}

/// How the report reads its sums over `allocation`. Both ways give the
/// same figures (tests/report.rs holds them to it); the choice exists for
/// that test and for comparing the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FactsReader {
    /// The report's own pass over the files (`report::scan`) where the files
    /// allow it and the grouping is not by label; else the SQL.
    #[default]
    Scan,
    /// polars running the SQL (`sql::Fragments::facts`).
    Sql,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            window: Window::default(),
            by: By::Tenant,
            basis: Basis::Max,
            share_idle: ShareIdle::Proportional,
            share_shared: ShareShared::Proportional,
            tenant: None,
            top_waste: 10,
            facts: FactsReader::Scan,
        }
    }
}

/// The period a report covers, resolved against the dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Period {
    /// Inclusive.
    pub start: DateTime<Utc>,
    /// Exclusive.
    pub end: DateTime<Utc>,
    /// Start of the previous period of the same length (which ends at `start`).
    pub previous_start: DateTime<Utc>,
}

impl Period {
    /// Resolves `window` given the start of the oldest and the end of the
    /// newest hour in the dataset.
    ///
    /// # Errors
    ///
    /// A message when the period is empty or reversed.
    pub fn resolve(
        window: &Window,
        oldest_start: DateTime<Utc>,
        newest_end: DateTime<Utc>,
    ) -> Result<Period, String> {
        let midnight = |day: NaiveDate| day.and_time(chrono::NaiveTime::MIN).and_utc();
        let (start, end) = match window {
            Window::FullDays { days } => {
                let length = chrono::Duration::days((*days).into());
                let end = midnight(newest_end.date_naive());
                let end = if end > oldest_start { end } else { newest_end };
                (end - length, end)
            }
            Window::Last { length, to } => {
                let end = to.map(midnight).unwrap_or(newest_end);
                (end - *length, end)
            }
            Window::Range { from, to } => (midnight(*from), to.map(midnight).unwrap_or(newest_end)),
        };
        if start >= end {
            return Err(format!(
                "the period {} to {} is empty: its start must be before its end",
                start.format("%Y-%m-%d %H:%M"),
                end.format("%Y-%m-%d %H:%M")
            ));
        }
        Ok(Period {
            start,
            end,
            previous_start: start - (end - start),
        })
    }

    /// Hours in the period.
    pub fn hours(&self) -> i64 {
        (self.end - self.start).num_hours()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .unwrap()
    }

    #[test]
    fn the_default_week_is_the_last_seven_complete_days() {
        let oldest = at("2026-10-01T00:00:00Z");
        let period =
            Period::resolve(&Window::default(), oldest, at("2026-11-16T05:00:00Z")).unwrap();
        assert_eq!(period.start, at("2026-11-09T00:00:00Z"));
        assert_eq!(period.end, at("2026-11-16T00:00:00Z"));
        assert_eq!(period.previous_start, at("2026-11-02T00:00:00Z"));
        assert_eq!(period.hours(), 168);
        // A day collected to its last hour counts as complete.
        let whole =
            Period::resolve(&Window::default(), oldest, at("2026-11-17T00:00:00Z")).unwrap();
        assert_eq!(whole.end, at("2026-11-17T00:00:00Z"));
        // Less than a day of data: the week ending at its newest hour.
        let young = Period::resolve(
            &Window::default(),
            at("2026-11-16T01:00:00Z"),
            at("2026-11-16T05:00:00Z"),
        )
        .unwrap();
        assert_eq!(young.end, at("2026-11-16T05:00:00Z"));
    }

    #[test]
    fn last_ends_at_the_newest_hour() {
        let last = Window::Last {
            length: chrono::Duration::days(7),
            to: None,
        };
        let period = Period::resolve(
            &last,
            at("2026-10-01T00:00:00Z"),
            at("2026-11-16T05:00:00Z"),
        )
        .unwrap();
        assert_eq!(period.start, at("2026-11-09T05:00:00Z"));
    }

    #[test]
    fn a_range_is_from_midnight_to_midnight_and_never_reversed() {
        let day = |d: &str| NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap_or_default();
        let newest = at("2026-11-16T05:00:00Z");
        let range = Window::Range {
            from: day("2026-11-09"),
            to: Some(day("2026-11-11")),
        };
        let oldest = at("2026-10-01T00:00:00Z");
        let period = Period::resolve(&range, oldest, newest).unwrap();
        assert_eq!(period.end, at("2026-11-11T00:00:00Z"));
        assert_eq!(period.previous_start, at("2026-11-07T00:00:00Z"));
        let reversed = Window::Range {
            from: day("2026-11-11"),
            to: Some(day("2026-11-11")),
        };
        assert!(Period::resolve(&reversed, oldest, newest).is_err());
    }

    #[test]
    fn by_reads_labels_and_refuses_the_rest() {
        assert_eq!(By::parse("label:team"), Ok(By::Label("team".into())));
        assert_eq!(
            By::parse("label:team").map(|b| b.column()),
            Ok("label_team".into())
        );
        assert!(By::parse("label:").is_err());
        assert!(By::parse("pod").is_err());
    }
}
