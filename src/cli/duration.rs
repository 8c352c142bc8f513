//! Durations on the command line: `500ms`, `30s`, `15m`, `24h`, `7d`, or a
//! sum of them (`1h30m`).

/// Milliseconds in `text`.
fn millis(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not a duration (examples: 500ms, 30s, 15m, 24h, 7d)");
    if text.is_empty() {
        return Err(bad());
    }
    let mut total: i64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let value: i64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(bad()),
        };
        total = value
            .checked_mul(scale)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// A positive duration of simulated or sample time.
///
/// # Errors
///
/// A message naming the text when it is not a positive duration.
pub fn parse_duration(text: &str) -> Result<chrono::Duration, String> {
    match millis(text)? {
        0 => Err(format!("{text:?} must be longer than zero")),
        ms => Ok(chrono::Duration::milliseconds(ms)),
    }
}

/// A duration of real time.
///
/// # Errors
///
/// A message naming the text when it is not a duration.
pub fn parse_std_duration(text: &str) -> Result<std::time::Duration, String> {
    Ok(std::time::Duration::from_millis(
        u64::try_from(millis(text)?).unwrap_or(0),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_units_and_sums() {
        assert_eq!(millis("500ms"), Ok(500));
        assert_eq!(millis("30s"), Ok(30_000));
        assert_eq!(millis("1h30m"), Ok(5_400_000));
        assert_eq!(millis("7d"), Ok(604_800_000));
        for bad in ["", "s", "10", "1.5h", "3w", "-1s"] {
            let Err(message) = millis(bad) else {
                panic!("accepted {bad:?}");
            };
            assert!(message.contains("is not a duration"), "{message}");
        }
        assert!(parse_duration("0s").is_err());
    }
}
