//! The Markdown rendering: for chat and email. Long group lists are cut at
//! [`cells::MAX_GROUPS`] lines with one line summing the rest (CSV and JSON
//! carry every line).

use std::fmt::Write;

use super::cells::{self, Table};
use super::model::Report;
use super::numbers::{change, change_pct, hours, pct, usd};

/// What the basis charges, in words.
pub fn basis_words(report: &Report) -> &'static str {
    match report.basis {
        super::Basis::Max => "max(request, usage)",
        super::Basis::Request => "requests",
        super::Basis::Usage => "usage",
    }
}

/// Which dollars: `list prices`, `the bill's effective cost`…
pub fn cost_words(report: &Report) -> String {
    match report.cost.basis.as_str() {
        "list" => "list prices".to_owned(),
        basis => format!("the bill's {basis} cost"),
    }
}

/// `2026-11-09 05:00 to 2026-11-16 05:00 UTC`.
pub fn period_words(report: &Report) -> String {
    format!(
        "{} to {} UTC",
        report.period.start.format("%Y-%m-%d %H:%M"),
        report.period.end.format("%Y-%m-%d %H:%M")
    )
}

/// A table cell: pipes escaped.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

pub fn render(report: &Report) -> String {
    let mut md = String::new();
    let _ = write_all(report, &mut md);
    md
}

fn write_all(r: &Report, md: &mut String) -> std::fmt::Result {
    match &r.tenant {
        Some(tenant) => writeln!(md, "# Cost report for tenant {}", cell(tenant))?,
        None => writeln!(md, "# Cost report")?,
    }
    writeln!(md)?;
    writeln!(
        md,
        "{} ({} hours) · clusters: {} · by {} · basis: {} · cost: {} · shared spread: {} · idle spread: {}",
        period_words(r),
        r.period.hours(),
        r.clusters.join(", "),
        r.group_by,
        basis_words(r),
        cost_words(r),
        r.share_shared.name(),
        r.share_idle.name()
    )?;
    total(r, md)?;
    groups(r, md)?;
    shared_idle(r, md)?;
    reconciliation(r, md)?;
    waste(r, md)?;
    unused_volumes(r, md)?;
    pools(r, md)?;
    quality(r, md)?;
    savings(r, md)
}

fn savings(r: &Report, md: &mut String) -> std::fmt::Result {
    writeln!(md, "\n## Savings found\n\n{}", cells::savings_intro(r))?;
    if let Some(s) = &r.savings {
        writeln!(md)?;
        table(md, &cells::savings_totals(s))?;
        if !s.top.is_empty() {
            writeln!(md)?;
            table(md, &cells::savings_top(s))?;
        }
    }
    Ok(())
}

fn total(r: &Report, md: &mut String) -> std::fmt::Result {
    writeln!(md, "\n## Total cost\n")?;
    let what = if r.tenant.is_some() {
        "charged to the tenant"
    } else {
        "what the cluster cost (nodes, disks, load balancers, the cluster fee)"
    };
    write!(md, "**{}** {what}", usd(r.total_cost_usd))?;
    match r.previous_total_cost_usd {
        Some(before) => writeln!(
            md,
            "; {} ({}) against the previous {} hours ({}).",
            change(r.total_cost_usd - before),
            change_pct(r.total_cost_usd, Some(before)),
            r.period.hours(),
            usd(before)
        )?,
        None => writeln!(md, "; no data in the previous {} hours.", r.period.hours())?,
    }
    writeln!(md, "\n| day | cost | change |\n|---|---:|---:|")?;
    let mut before: Option<f64> = None;
    for day in &r.days {
        let delta = before.map_or_else(|| "".into(), |b| change(day.total_cost_usd - b));
        writeln!(
            md,
            "| {} | {} | {delta} |",
            day.date,
            usd(day.total_cost_usd)
        )?;
        before = Some(day.total_cost_usd);
    }
    Ok(())
}

fn groups(r: &Report, md: &mut String) -> std::fmt::Result {
    writeln!(md, "\n## Cost by {}\n", r.group_by)?;
    table(md, &cells::groups(r))
}

/// A Markdown table, numbers right-aligned, pipes escaped.
fn table(md: &mut String, t: &Table) -> std::fmt::Result {
    let line = |cells: &[String]| {
        let cells: Vec<String> = cells.iter().map(|c| cell(c)).collect();
        format!("| {} |", cells.join(" | "))
    };
    writeln!(md, "{}", line(&t.header))?;
    let rule: Vec<&str> = t
        .numeric
        .iter()
        .map(|&n| if n { "---:" } else { "---" })
        .collect();
    writeln!(md, "|{}|", rule.join("|"))?;
    for row in &t.rows {
        writeln!(md, "{}", line(row))?;
    }
    Ok(())
}

fn shared_idle(r: &Report, md: &mut String) -> std::fmt::Result {
    let s = &r.shared_idle;
    writeln!(md, "\n## Shared and idle cost\n")?;
    let rule = |name: &str| match name {
        "proportional" => "in proportion to each line's compute cost, per cluster and day",
        "even" => "in equal parts over the lines present, per cluster and day",
        _ => "not spread",
    };
    match (
        s.shared_cost_usd,
        s.shared_containers_usd,
        s.shared_resources,
    ) {
        (Some(all), Some(containers), Some(resources)) => writeln!(
            md,
            "- Shared (tenant `__shared__`): {} — shared namespaces' containers {}, shared disks {}, shared load balancers {}, cluster fee {} — spread {}: {}; left unshared: {}.",
            usd(all),
            usd(containers),
            usd(resources.storage_usd),
            usd(resources.network_usd),
            usd(resources.fee_usd),
            rule(r.share_shared.name()),
            usd(s.shared_spread_usd),
            usd(s.shared_unshared_usd)
        )?,
        _ => writeln!(
            md,
            "- Shared cost (shared namespaces, shared disks and load balancers, the cluster fee) charged to this tenant ({}): {}.",
            rule(r.share_shared.name()),
            usd(s.shared_spread_usd)
        )?,
    }
    match s.idle_cost_usd {
        Some(all) => writeln!(
            md,
            "- Idle (node cost no container was charged for under the {} basis): {} — spread {}: {}; left unshared: {}.",
            basis_words(r),
            usd(all),
            rule(r.share_idle.name()),
            usd(s.idle_spread_usd),
            usd(s.idle_unshared_usd)
        ),
        None => writeln!(
            md,
            "- Idle cost charged to this tenant ({}): {}.",
            rule(r.share_idle.name()),
            usd(s.idle_spread_usd)
        ),
    }
}

fn reconciliation(r: &Report, md: &mut String) -> std::fmt::Result {
    writeln!(md, "\n## Reconciliation\n")?;
    for line in reconciliation_lines(r) {
        writeln!(md, "{line}")?;
    }
    Ok(())
}

/// The reconciliation in words, one paragraph per line (`**` marks bold):
/// what the cluster paid for (not in a tenant's report), then where it
/// went. Shared by the HTML rendering.
pub fn reconciliation_lines(r: &Report) -> Vec<String> {
    let c = &r.reconciliation;
    let mut lines = Vec::new();
    let repriced = r.cost.basis != "list";
    if let Some(cluster) = &c.cluster {
        let unallocated = if repriced {
            format!(
                " + the bill's unallocated lines {}",
                usd(cluster.unallocated_usd)
            )
        } else {
            String::new()
        };
        lines.push(format!(
            "nodes {} + disks {} + load balancers {} + cluster fee {}{unallocated} = cluster cost **{}**.",
            usd(cluster.nodes_usd),
            usd(cluster.disks_usd),
            usd(cluster.load_balancers_usd),
            usd(cluster.cluster_fee_usd),
            usd(cluster.total_usd)
        ));
        lines.push(String::new());
    }
    let charged = c.compute_cost_usd + c.storage_cost_usd + c.network_cost_usd;
    let whom = match (r.tenant.is_some(), r.group_by.as_str()) {
        (true, _) => "charged to the tenant",
        (false, "tenant") => "charged to tenants",
        (false, "namespace") => "charged to namespaces",
        (false, "workload") => "charged to workloads",
        (false, _) => "charged to the lines",
    };
    let unallocated = if repriced && c.cluster.is_some() {
        format!(" + unallocated {}", usd(c.unallocated_cost_usd))
    } else {
        String::new()
    };
    lines.push(format!(
        "{whom} {} (compute {} + storage {} + load balancers {}) + shared {} + idle {}{unallocated} = **{}**; {} **{}**; difference {}.",
        usd(charged),
        usd(c.compute_cost_usd),
        usd(c.storage_cost_usd),
        usd(c.network_cost_usd),
        usd(c.shared_cost_usd),
        usd(c.idle_cost_usd),
        usd(c.sum_usd),
        c.expected_label,
        usd(c.expected_usd),
        usd(c.difference_usd)
    ));
    lines.extend(bill_lines(r));
    lines
}

/// What the reconciled bill says of the period (nothing at list prices).
fn bill_lines(r: &Report) -> Vec<String> {
    let n = &r.cost;
    if n.basis == "list" {
        return Vec::new();
    }
    let mut lines = vec![String::new()];
    lines.push(format!(
        "At the bill's {} cost: the bill covers {} of the period's {} cluster-hours; the rest stay at list prices.",
        n.basis, n.hours_billed, n.hours
    ));
    if let Some(total) = n.bill_total_usd {
        let rate = n.match_rate_pct.map_or_else(|| "no".to_owned(), pct);
        lines.push(String::new());
        lines.push(format!(
            "The bill's total for the cluster in those hours: **{}**, {rate} of it matched to metered resources; {} metered resource-periods are not on the bill ({} at list).",
            usd(total),
            n.not_billed_resources,
            usd(n.not_billed_list_usd)
        ));
    }
    for line in n.unallocated.iter().take(5) {
        lines.push(String::new());
        lines.push(format!(
            "Unallocated: {} {} — {}.",
            if line.service.is_empty() {
                "(several services)"
            } else {
                &line.service
            },
            if line.sku.is_empty() {
                "(several SKUs)".to_owned()
            } else {
                format!("· {}", line.sku)
            },
            usd(line.cost_usd)
        ));
    }
    lines
}

fn waste(r: &Report, md: &mut String) -> std::fmt::Result {
    writeln!(md, "\n## Top waste: requested, not used\n")?;
    if r.waste.is_empty() {
        return writeln!(md, "No workload requested more than it used.");
    }
    table(md, &cells::waste(r))?;
    writeln!(
        md,
        "\nWaste prices requested-but-unused core-hours and GiB-hours at each hour's node prices."
    )
}

/// The title of the unused-disks section.
pub const UNUSED_VOLUMES: &str = "Unmounted and released volumes";

/// What the unused-disks section lists, in words.
pub fn unused_volumes_intro(r: &Report) -> String {
    let total: f64 = r.unused_volumes.iter().map(|v| v.cost_usd).sum();
    if r.unused_volumes.is_empty() {
        return if r.tenant.is_some() {
            "Every disk the tenant's claims hold was mounted by a pod.".to_owned()
        } else {
            "Every disk was mounted by a pod.".to_owned()
        };
    }
    let who = if r.tenant.is_some() {
        "Disks of the tenant's claims that no pod mounted"
    } else {
        "Disks no pod mounted"
    };
    format!(
        "{who}: {} over the period. `unmounted` disks are charged to their claim's tenant \
         (waste: delete the claim or mount it); `released`, `available`, `failed` and `pending` \
         disks no claim holds are cluster overhead, in the shared cost.",
        usd(total)
    )
}

fn unused_volumes(r: &Report, md: &mut String) -> std::fmt::Result {
    writeln!(md, "\n## {UNUSED_VOLUMES}\n")?;
    writeln!(md, "{}", unused_volumes_intro(r))?;
    if !r.unused_volumes.is_empty() {
        writeln!(md)?;
        table(md, &cells::unused_volumes(r))?;
    }
    Ok(())
}

fn pools(r: &Report, md: &mut String) -> std::fmt::Result {
    writeln!(md, "\n## Machine pools\n")?;
    table(md, &cells::pools(r))
}

fn quality(r: &Report, md: &mut String) -> std::fmt::Result {
    let q = &r.quality;
    writeln!(md, "\n## Data quality\n")?;
    match (q.sample_coverage_pct, q.samples_per_hour) {
        (Some(coverage), Some(per_hour)) => writeln!(
            md,
            "- Usage samples: {} of those expected at {per_hour} per hour, over {} container-hours.",
            pct(coverage),
            q.container_hours
        )?,
        _ => writeln!(
            md,
            "- Usage samples: no fully sampled container-hour to compare with ({} container-hours).",
            q.container_hours
        )?,
    }
    writeln!(
        md,
        "- Container-hours without any usage sample (charged their requests): {}.",
        q.unsampled_container_hours
    )?;
    let per_cluster = |list: &[(String, u64)]| {
        if list.is_empty() {
            "none".to_owned()
        } else {
            list.iter()
                .map(|(cluster, n)| format!("{cluster}: {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    writeln!(
        md,
        "- Hours without data (collector down or not yet deployed): {}.",
        per_cluster(&q.missing_hours)
    )?;
    writeln!(
        md,
        "- Hours written partially (collector stopped or restarted inside them): {}.",
        per_cluster(&q.partial_hours)
    )?;
    if q.unpriced_nodes.is_empty() {
        writeln!(md, "- Unpriced nodes (default rate): none.")?;
    } else {
        let nodes: Vec<String> = q
            .unpriced_nodes
            .iter()
            .map(|n| {
                format!(
                    "{} ({}, {}, {} h, {})",
                    n.node,
                    n.cluster,
                    if n.machine_type.is_empty() {
                        "no machine type"
                    } else {
                        &n.machine_type
                    },
                    hours(n.node_hours),
                    usd(n.cost_usd)
                )
            })
            .collect();
        writeln!(
            md,
            "- Unpriced nodes (unknown machine type, priced at the default rate): {}.",
            nodes.join("; ")
        )?;
    }
    Ok(())
}
