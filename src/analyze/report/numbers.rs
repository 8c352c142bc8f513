//! How figures are printed: dollars to the cent with thousands separators,
//! percentages to one decimal, hours to one decimal. Rounding happens here
//! only, so reports are stable and the model keeps full precision.

/// `$1,234.56`; `-$3.10`; never `-$0.00`.
pub fn usd(value: f64) -> String {
    let text = grouped(value, 2);
    match text.strip_prefix('-') {
        Some(positive) => format!("-${positive}"),
        None => format!("${text}"),
    }
}

/// A signed change: `+$1.20`, `-$0.35`, `$0.00`.
pub fn change(value: f64) -> String {
    let text = usd(value);
    if text.starts_with('-') || text == "$0.00" {
        text
    } else {
        format!("+{text}")
    }
}

/// `12.3%`.
pub fn pct(value: f64) -> String {
    let value = (value * 10.0).round() / 10.0;
    format!("{:.1}%", if value == 0.0 { 0.0 } else { value })
}

/// A change in percent of `before`, or `new` when there was nothing before.
pub fn change_pct(now: f64, before: Option<f64>) -> String {
    match before {
        Some(before) if before.abs() >= 0.005 => {
            let value = 100.0 * (now - before) / before;
            let text = pct(value);
            if text.starts_with('-') || text == "0.0%" {
                text
            } else {
                format!("+{text}")
            }
        }
        Some(_) | None => "new".into(),
    }
}

/// `1,234.5`.
pub fn hours(value: f64) -> String {
    grouped(value, 1)
}

/// `value` rounded to `decimals`, thousands separated, never `-0`.
fn grouped(value: f64, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, value.abs());
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let mut out = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(fraction);
    }
    let zero = text.bytes().all(|b| b == b'0' || b == b'.');
    if value < 0.0 && !zero {
        format!("-{out}")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_round_to_the_cent_with_separators() {
        assert_eq!(usd(1234.567), "$1,234.57");
        assert_eq!(usd(-0.001), "$0.00");
        assert_eq!(usd(-3.1), "-$3.10");
        assert_eq!(usd(1_000_000.0), "$1,000,000.00");
        assert_eq!(change(0.5), "+$0.50");
        assert_eq!(hours(1234.56), "1,234.6");
        assert_eq!(pct(-0.01), "0.0%");
        assert_eq!(change_pct(11.0, Some(10.0)), "+10.0%");
        assert_eq!(change_pct(1.0, None), "new");
    }
}
