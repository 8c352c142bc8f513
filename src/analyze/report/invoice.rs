//! The CSV rendering: the invoice table, one row per group (a tenant's
//! invoice with `--by tenant`), then the unshared remainder rows
//! (`__shared__`, `__idle__`) so the rows add up to what the cluster cost
//! (nodes, disks, load balancers, the fee).
//! Full precision: this is for machines.

use super::INVOICE_COLUMNS;
use super::model::Report;
use super::options::ShareShared;

/// The tenant column's value of the remainder rows.
pub const UNSHARED_SHARED: &str = "__shared__";
pub const UNSHARED_IDLE: &str = "__idle__";

pub fn render(report: &Report) -> String {
    let mut out = ::csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = INVOICE_COLUMNS.iter().map(|c| (*c).to_owned()).collect();
    header[0] = report.group_by.clone();
    let start = report
        .period
        .start
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let end = report
        .period
        .end
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row = |name: &str, values: [f64; 8]| {
        let mut cells = vec![name.to_owned(), start.clone(), end.clone()];
        cells.extend(values.map(|v| v.to_string()));
        rows.push(cells);
    };
    for g in &report.groups {
        row(
            &g.name,
            [
                g.cpu_core_hours,
                g.memory_gib_hours,
                g.compute_cost_usd,
                g.storage_cost_usd,
                g.network_cost_usd,
                g.shared_cost_usd,
                g.idle_cost_usd,
                g.total_cost_usd,
            ],
        );
    }
    let si = &report.shared_idle;
    if report.tenant.is_none() {
        if si.shared_unshared_usd != 0.0 {
            let (cpu, memory) = if report.share_shared == ShareShared::None {
                (si.shared_cpu_core_hours, si.shared_memory_gib_hours)
            } else {
                (0.0, 0.0)
            };
            let usd = si.shared_unshared_usd;
            row(UNSHARED_SHARED, [cpu, memory, 0.0, 0.0, 0.0, usd, 0.0, usd]);
        }
        if si.idle_unshared_usd != 0.0 {
            let usd = si.idle_unshared_usd;
            row(UNSHARED_IDLE, [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, usd, usd]);
        }
    }
    // Writing to a Vec cannot fail.
    let _ = out.write_record(&header);
    for r in &rows {
        let _ = out.write_record(r);
    }
    let bytes = out.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}
