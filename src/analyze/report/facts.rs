//! The facts: what the report knows of `allocation`, summed per (period,
//! cluster, day, tenant, group, workload) — a few thousand rows even at
//! 150,000 pods. Read by the report's own pass ([`scan`]) where it can,
//! else by polars running `Fragments::facts`; both give the same rows.

use chrono::NaiveDate;

use super::ReportError;
use super::frame::run;
use super::options::{By, FactsReader, Options};
use super::scan::{self, Sampling, Scanned};
use super::spread::Compute;
use super::sql::Fragments;
use crate::analyze::{AnalyzeError, Session};

/// The step's name in errors.
const READING: &str = "reading the allocation";

/// The report's one scan of `allocation` (see `Fragments::facts`), read once.
pub(super) struct Facts {
    pub current: Vec<bool>,
    pub cluster: Vec<String>,
    pub day: Vec<NaiveDate>,
    pub tenant: Vec<String>,
    /// The group of each row under `--by`.
    pub group: Vec<String>,
    pub namespace: Vec<String>,
    pub kind: Vec<String>,
    pub name: Vec<String>,
    pub compute: Vec<Compute>,
    pub cpu_request: Vec<f64>,
    pub cpu_usage: Vec<f64>,
    pub memory_request: Vec<f64>,
    pub memory_usage: Vec<f64>,
    pub waste_usd: Vec<f64>,
    /// The period's sample counts, when the scan counted them on the way
    /// (else `Fragments::sampling` is run for them).
    pub sampling: Option<Sampling>,
}

impl Facts {
    /// The facts of `fragments`' period and basis, grouped as `by` asks.
    pub(super) fn read(
        session: &mut Session,
        fragments: &Fragments,
        options: &Options,
        on_file: super::OnFile<'_>,
    ) -> Result<Facts, ReportError> {
        let by = &options.by;
        let files = session
            .tables()
            .iter()
            .find(|table| table.name == "allocation")
            .map(|table| table.files.clone());
        // The pass reads the files' list dollars: at the bill's prices
        // (`Session::open_priced`) only the re-priced tables have them.
        let repriced = session.factors().repricing();
        if let (Some(files), FactsReader::Scan, false, false) =
            (files, options.facts, matches!(by, By::Label(_)), repriced)
        {
            let period = fragments.period();
            let tenant = options.tenant.as_deref();
            let scanned = scan::scan(
                &files,
                &period,
                options.basis,
                tenant,
                crate::analyze::threads(),
                on_file,
            )
            .map_err(|message| ReportError::Query {
                step: READING,
                cause: AnalyzeError::Scan {
                    table: "allocation",
                    message,
                },
            })?;
            if let Some(rows) = scanned {
                session.record(fragments.facts());
                session.record(fragments.sampling());
                return Ok(Facts::scanned(rows, by));
            }
        }
        let rows = run(session, READING, &fragments.facts())?;
        let (tenant, namespace) = (rows.strings("tenant")?, rows.strings("namespace")?);
        let (kind, name) = (rows.strings("kind")?, rows.strings("name")?);
        let group = match by {
            By::Tenant => tenant.clone(),
            By::Namespace => namespace.clone(),
            By::Workload => (0..rows.len())
                .map(|i| format!("{}/{}/{}", namespace[i], kind[i], name[i]))
                .collect(),
            By::Label(_) => rows.strings("grp")?,
        };
        let cpu = rows.f64s("cpu_core_hours")?;
        let memory = rows.f64s("memory_gib_hours")?;
        let usd = rows.f64s("cost_usd")?;
        Ok(Facts {
            current: rows.i64s("cur")?.into_iter().map(|c| c == 1).collect(),
            cluster: rows.strings("cl")?,
            day: rows.dates("d")?,
            tenant,
            group,
            namespace,
            kind,
            name,
            compute: (0..rows.len())
                .map(|i| Compute {
                    cpu_core_hours: cpu[i],
                    memory_gib_hours: memory[i],
                    cost_usd: usd[i],
                })
                .collect(),
            cpu_request: rows.f64s("cpu_request")?,
            cpu_usage: rows.f64s("cpu_usage")?,
            memory_request: rows.f64s("memory_request")?,
            memory_usage: rows.f64s("memory_usage")?,
            waste_usd: rows.f64s("waste_usd")?,
            sampling: None,
        })
    }

    pub(super) fn len(&self) -> usize {
        self.current.len()
    }

    fn scanned(scanned: Scanned, by: &By) -> Facts {
        let rows = scanned.facts;
        let mut facts = Facts {
            current: Vec::with_capacity(rows.len()),
            cluster: Vec::with_capacity(rows.len()),
            day: Vec::with_capacity(rows.len()),
            tenant: Vec::with_capacity(rows.len()),
            group: Vec::with_capacity(rows.len()),
            namespace: Vec::with_capacity(rows.len()),
            kind: Vec::with_capacity(rows.len()),
            name: Vec::with_capacity(rows.len()),
            compute: Vec::with_capacity(rows.len()),
            cpu_request: Vec::with_capacity(rows.len()),
            cpu_usage: Vec::with_capacity(rows.len()),
            memory_request: Vec::with_capacity(rows.len()),
            memory_usage: Vec::with_capacity(rows.len()),
            waste_usd: Vec::with_capacity(rows.len()),
            sampling: Some(scanned.sampling),
        };
        for (key, sums) in rows {
            facts.group.push(match by {
                By::Namespace => key.namespace.clone(),
                By::Workload => format!("{}/{}/{}", key.namespace, key.kind, key.name),
                // The scan serves no label grouping (`read`).
                By::Tenant | By::Label(_) => key.tenant.clone(),
            });
            facts.current.push(key.current);
            facts.cluster.push(key.cluster);
            facts.day.push(key.day);
            facts.tenant.push(key.tenant);
            facts.namespace.push(key.namespace);
            facts.kind.push(key.kind);
            facts.name.push(key.name);
            facts.compute.push(Compute {
                cpu_core_hours: sums[0],
                memory_gib_hours: sums[1],
                cost_usd: sums[2],
            });
            facts.cpu_request.push(sums[3]);
            facts.cpu_usage.push(sums[4]);
            facts.memory_request.push(sums[5]);
            facts.memory_usage.push(sums[6]);
            facts.waste_usd.push(sums[7]);
        }
        facts
    }
}
