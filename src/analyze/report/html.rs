//! The HTML rendering: one self-contained page (inline CSS and SVG, no
//! script, nothing fetched) that reads on screen and on paper. Print CSS
//! keeps colours, avoids splitting a chart or a table row across pages.

use std::fmt::Write;

use super::cells::{self, Table};
use super::markdown::{basis_words, period_words};
use super::model::Report;
use super::numbers::{change, change_pct, usd};
use super::svg::{PALETTE, Series, bars, escape, stacked_columns};

/// Groups drawn as their own colour in the daily chart; the rest is "other".
const CHART_GROUPS: usize = 7;

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#1a1a1a;line-height:1.4}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ccc}
.meta{color:#555}.total{font-size:1.4rem}
table{border-collapse:collapse;width:100%;font-size:.9rem;margin:.5rem 0}
th,td{padding:.25rem .5rem;border-bottom:1px solid #e5e5e5;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.recon{background:#f4f8fb;padding:.6rem;border-left:4px solid #0072B2}
svg{max-width:100%;height:auto;font-family:inherit}
@media print{body{margin:0;max-width:none;font-size:10pt}h2{break-after:avoid}
svg,tr,.recon{break-inside:avoid}*{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
";

pub fn render(report: &Report) -> String {
    let mut page = String::new();
    let _ = write_page(report, &mut page);
    page
}

fn write_page(r: &Report, h: &mut String) -> std::fmt::Result {
    let title = match &r.tenant {
        Some(tenant) => format!("Cost report for tenant {tenant}"),
        None => "Cost report".to_owned(),
    };
    write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · {}</title><style>{STYLE}</style></head><body>\n",
        escape(&title),
        escape(&period_words(r))
    )?;
    writeln!(
        h,
        "<h1>{}</h1><p class=\"meta\">{} ({} hours) · clusters: {} · by {} · basis: {} · shared spread: {} · idle spread: {}</p>",
        escape(&title),
        escape(&period_words(r)),
        r.period.hours(),
        escape(&r.clusters.join(", ")),
        escape(&r.group_by),
        basis_words(r),
        r.share_shared.name(),
        r.share_idle.name()
    )?;
    total(r, h)?;
    groups(r, h)?;
    shared_idle(r, h)?;
    h.push_str("<h2>Reconciliation</h2><p class=\"recon\">");
    for line in super::markdown::reconciliation_lines(r) {
        if line.is_empty() {
            h.push_str("<br>");
            continue;
        }
        // `**x**` → <b>x</b>: the bold parts are the odd pieces.
        for (i, piece) in escape(&line).split("**").enumerate() {
            if i % 2 == 1 {
                write!(h, "<b>{piece}</b>")?;
            } else {
                h.push_str(piece);
            }
        }
    }
    h.push_str("</p>\n");
    waste(r, h)?;
    write!(
        h,
        "<h2>{}</h2><p>{}</p>",
        super::markdown::UNUSED_VOLUMES,
        escape(&super::markdown::unused_volumes_intro(r).replace('`', ""))
    )?;
    if !r.unused_volumes.is_empty() {
        table(h, &cells::unused_volumes(r));
    }
    pools(r, h)?;
    h.push_str("<h2>Data quality</h2>");
    // The Markdown list items, as HTML: one wording for both.
    h.push_str("<ul>");
    let markdown = super::markdown::render(r);
    let quality = markdown.split("## Data quality").nth(1).unwrap_or_default();
    for line in quality.lines().filter_map(|l| l.strip_prefix("- ")) {
        write!(h, "<li>{}</li>", escape(&line.replace('`', "")))?;
    }
    h.push_str("</ul>\n");
    write!(
        h,
        "<h2>Savings found</h2><p>{}</p>",
        escape(&cells::savings_intro(r).replace('`', ""))
    )?;
    if let Some(s) = &r.savings {
        table(h, &cells::savings_totals(s));
        if !s.top.is_empty() {
            table(h, &cells::savings_top(s));
        }
    }
    h.push_str("</body></html>\n");
    Ok(())
}

fn total(r: &Report, h: &mut String) -> std::fmt::Result {
    write!(
        h,
        "<h2>Total cost</h2><p class=\"total\"><b>{}</b> ",
        usd(r.total_cost_usd)
    )?;
    match r.previous_total_cost_usd {
        Some(before) => write!(
            h,
            "{} ({}) against the previous period ({})",
            change(r.total_cost_usd - before),
            change_pct(r.total_cost_usd, Some(before)),
            usd(before)
        )?,
        None => h.push_str("(no data in the previous period)"),
    }
    h.push_str("</p>\n");
    let labels: Vec<String> = r
        .days
        .iter()
        .map(|d| d.date.format("%a %m-%d").to_string())
        .collect();
    let mut series: Vec<Series> = r
        .groups
        .iter()
        .take(CHART_GROUPS)
        .enumerate()
        .map(|(i, g)| Series {
            name: g.name.clone(),
            color: PALETTE[i],
            values: r.days.iter().map(|d| d.group_cost_usd[i]).collect(),
        })
        .collect();
    if r.groups.len() > CHART_GROUPS {
        series.push(Series {
            name: "other".into(),
            color: PALETTE[7],
            values: r
                .days
                .iter()
                .map(|d| d.group_cost_usd[CHART_GROUPS..].iter().sum())
                .collect(),
        });
    }
    if r.days.iter().any(|d| d.unshared_cost_usd != 0.0) {
        series.push(Series {
            name: "unshared (shared and idle)".into(),
            color: PALETTE[8],
            values: r.days.iter().map(|d| d.unshared_cost_usd).collect(),
        });
    }
    h.push_str(&stacked_columns(
        &format!("Daily cost by {}", r.group_by),
        &labels,
        &series,
    ));
    h.push_str("\n<table><tr><th>day</th><th class=\"n\">cost</th></tr>");
    for d in &r.days {
        write!(
            h,
            "<tr><td>{}</td><td class=\"n\">{}</td></tr>",
            d.date,
            usd(d.total_cost_usd)
        )?;
    }
    h.push_str("</table>\n");
    Ok(())
}

fn groups(r: &Report, h: &mut String) -> std::fmt::Result {
    write!(h, "<h2>Cost by {}</h2>", escape(&r.group_by))?;
    let rows: Vec<(String, f64)> = r
        .groups
        .iter()
        .take(15)
        .map(|g| (g.name.clone(), g.total_cost_usd))
        .collect();
    h.push_str(&bars(&format!("Cost by {}", r.group_by), &rows, false));
    table(h, &cells::groups(r));
    Ok(())
}

/// An HTML table, numbers right-aligned.
fn table(h: &mut String, t: &Table) {
    let class = |i: usize| if t.numeric[i] { " class=\"n\"" } else { "" };
    h.push_str("\n<table><tr>");
    for (i, name) in t.header.iter().enumerate() {
        h.push_str(&format!("<th{}>{}</th>", class(i), escape(name)));
    }
    h.push_str("</tr>");
    for row in &t.rows {
        h.push_str("<tr>");
        for (i, value) in row.iter().enumerate() {
            h.push_str(&format!("<td{}>{}</td>", class(i), escape(value)));
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>\n");
}

fn shared_idle(r: &Report, h: &mut String) -> std::fmt::Result {
    h.push_str("<h2>Shared and idle cost</h2><ul>");
    let markdown = super::markdown::render(r);
    let section = markdown
        .split("## Shared and idle cost")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .unwrap_or_default();
    for line in section.lines().filter_map(|l| l.strip_prefix("- ")) {
        write!(h, "<li>{}</li>", escape(&line.replace('`', "")))?;
    }
    h.push_str("</ul>\n");
    Ok(())
}

fn waste(r: &Report, h: &mut String) -> std::fmt::Result {
    h.push_str("<h2>Top waste: requested, not used</h2>");
    if r.waste.is_empty() {
        h.push_str("<p>No workload requested more than it used.</p>\n");
        return Ok(());
    }
    table(h, &cells::waste(r));
    Ok(())
}

fn pools(r: &Report, h: &mut String) -> std::fmt::Result {
    h.push_str("<h2>Machine pools</h2>");
    let scoped = r.tenant.is_some();
    if !scoped {
        let rows: Vec<(String, f64)> = r
            .pools
            .iter()
            .filter(|p| p.cost_usd > 0.0)
            .filter_map(|p| {
                let share = cells::idle_share(p)?;
                Some((
                    format!("{} {} {}", p.cluster, p.pool, p.capacity_type),
                    share,
                ))
            })
            .collect();
        h.push_str(&bars("Idle share of each pool's cost", &rows, true));
    }
    table(h, &cells::pools(r));
    Ok(())
}
