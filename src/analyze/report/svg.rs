//! Inline SVG charts for the HTML report: plain shapes and text, no script,
//! no fonts or images to fetch, so the page renders offline and prints.
//! Inline `<svg>` in HTML needs no namespace URL, so the page holds no
//! `http://` reference at all.

use std::fmt::Write;

use super::numbers::{pct, usd};

/// Series colours (colour-blind-safe Okabe–Ito, then greys for "other").
pub const PALETTE: [&str; 9] = [
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
    "#999999",
];

/// Text escaped for XML and HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One stacked series: a name, its colour and a value per column.
pub struct Series {
    pub name: String,
    pub color: &'static str,
    pub values: Vec<f64>,
}

/// Stacked columns (one per label) with a legend below.
pub fn stacked_columns(title: &str, labels: &[String], series: &[Series]) -> String {
    let (width, height, left, top, bottom) = (760.0, 260.0, 70.0, 20.0, 40.0);
    let legend_rows = series.len().div_ceil(3);
    let total_height = height + 22.0 * legend_rows as f64 + 10.0;
    let totals: Vec<f64> = (0..labels.len())
        .map(|i| series.iter().map(|s| s.values[i].max(0.0)).sum())
        .collect();
    let max = totals.iter().copied().fold(0.0, f64::max).max(0.01);
    let plot_height = height - top - bottom;
    let step = (width - left - 10.0) / labels.len().max(1) as f64;
    let bar = step * 0.7;
    let mut svg = open(title, width, total_height);
    axis(&mut svg, left, top, plot_height, width, max);
    for (i, label) in labels.iter().enumerate() {
        let x = left + step * i as f64 + (step - bar) / 2.0;
        let mut y = top + plot_height;
        for s in series {
            let h = s.values[i].max(0.0) / max * plot_height;
            if h > 0.0 {
                y -= h;
                let _ = write!(
                    svg,
                    r#"<rect x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{h:.1}" fill="{}"><title>{} {}: {}</title></rect>"#,
                    s.color,
                    escape(label),
                    escape(&s.name),
                    usd(s.values[i])
                );
            }
        }
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text>"#,
            x + bar / 2.0,
            top + plot_height + 16.0,
            escape(label)
        );
    }
    for (i, s) in series.iter().enumerate() {
        let x = left + (i % 3) as f64 * 230.0;
        let y = height + 22.0 * (i / 3) as f64;
        let _ = write!(
            svg,
            r#"<rect x="{x:.1}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{y:.1}" font-size="12">{}</text>"#,
            y - 10.0,
            s.color,
            x + 18.0,
            escape(&truncate(&s.name, 30))
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Horizontal bars, one per label, the value printed at the bar's end.
/// `percent` prints values as percentages of 100 instead of dollars.
pub fn bars(title: &str, rows: &[(String, f64)], percent: bool) -> String {
    let (width, left, row_height) = (760.0, 220.0, 24.0);
    let height = row_height * rows.len() as f64 + 20.0;
    let max = if percent {
        100.0
    } else {
        rows.iter().map(|r| r.1).fold(0.0, f64::max).max(0.01)
    };
    let span = width - left - 110.0;
    let mut svg = open(title, width, height);
    for (i, (label, value)) in rows.iter().enumerate() {
        let y = 10.0 + row_height * i as f64;
        let w = (value.max(0.0) / max * span).max(0.0);
        let text = if percent { pct(*value) } else { usd(*value) };
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="end">{}</text><rect x="{left}" y="{y:.1}" width="{w:.1}" height="{:.1}" fill="{}"/><text x="{:.1}" y="{:.1}" font-size="12">{}</text>"#,
            left - 8.0,
            y + 14.0,
            escape(&truncate(label, 32)),
            row_height - 6.0,
            PALETTE[0],
            left + w + 6.0,
            y + 14.0,
            text
        );
    }
    svg.push_str("</svg>");
    svg
}

fn open(title: &str, width: f64, height: f64) -> String {
    format!(
        r#"<svg role="img" viewBox="0 0 {width} {height:.0}" width="100%" aria-label="{0}"><title>{0}</title>"#,
        escape(title)
    )
}

fn axis(svg: &mut String, left: f64, top: f64, plot_height: f64, width: f64, max: f64) {
    for tick in 0..=4 {
        let value = max * f64::from(tick) / 4.0;
        let y = top + plot_height - plot_height * f64::from(tick) / 4.0;
        let _ = write!(
            svg,
            r##"<line x1="{left}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
            width - 10.0,
            left - 6.0,
            y + 4.0,
            usd(value)
        );
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(max - 1).collect();
        cut.push('…');
        cut
    }
}
