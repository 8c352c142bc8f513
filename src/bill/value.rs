//! Cell values as exports write them: numbers, the dozen forms of a date,
//! and the JSON (or, from BigQuery's Python tooling, Python-literal) objects
//! and lists that hold tags, labels and credits.

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use serde_json::Value;

use super::error::Problem;

/// A decimal number (`1.5`, `-5e-06`, `0.0000000072922557592391990000`).
pub(crate) fn number(text: &str) -> Result<f64, Problem> {
    let value: f64 = text.trim().parse().map_err(|_| Problem::NotANumber)?;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(Problem::NotANumber)
    }
}

const NAIVE_FORMATS: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
];

const DATE_FORMATS: &[&str] = &["%Y-%m-%d", "%m/%d/%Y", "%Y%m%d"];

/// A timestamp, as seconds since the Unix epoch. Accepted: RFC 3339
/// (`2024-09-01T00:00:00Z`, `…+00:00`, fractions), the same with a space
/// (`2020-11-09 23:00:00+00:00`, BigQuery's `… UTC`), without a zone (UTC:
/// FOCUS samples, CUR in Athena), and dates alone (`2023-09-21`, Azure's
/// US-ordered `09/21/2023`) at midnight UTC.
pub(crate) fn timestamp(text: &str) -> Result<i64, Problem> {
    let text = text.trim();
    let text = text.strip_suffix(" UTC").unwrap_or(text);
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp());
    }
    if let Ok(t) = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z") {
        return Ok(t.timestamp());
    }
    let naive = text.strip_suffix('Z').unwrap_or(text);
    for format in NAIVE_FORMATS {
        if let Ok(t) = NaiveDateTime::parse_from_str(naive, format) {
            return Ok(t.and_utc().timestamp());
        }
    }
    for format in DATE_FORMATS {
        if let Ok(d) = NaiveDate::parse_from_str(text, format) {
            return Ok(d
                .and_hms_opt(0, 0, 0)
                .unwrap_or_default()
                .and_utc()
                .timestamp());
        }
    }
    Err(Problem::NotADate)
}

/// Rewrites a Python literal (`[{'amount': -5e-06, 'full_name': None}]`, as
/// pandas writes BigQuery's repeated records to CSV) as JSON. Text that is
/// already JSON passes unchanged.
fn python_to_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' => {
                out.push('"');
                while let Some(inner) = chars.next() {
                    match inner {
                        '\\' => {
                            if let Some(escaped) = chars.next() {
                                if escaped == '\'' {
                                    out.push('\'');
                                } else {
                                    out.push('\\');
                                    out.push(escaped);
                                }
                            }
                        }
                        q if q == c => break,
                        '"' => out.push_str("\\\""),
                        other => out.push(other),
                    }
                }
                out.push('"');
            }
            c if c.is_ascii_alphabetic() => {
                let mut word = String::from(c);
                while let Some(&next) = chars.peek() {
                    if !next.is_ascii_alphanumeric() && next != '_' {
                        break;
                    }
                    word.push(next);
                    chars.next();
                }
                out.push_str(match word.as_str() {
                    "None" => "null",
                    "True" => "true",
                    "False" => "false",
                    _ => &word,
                });
            }
            other => out.push(other),
        }
    }
    out
}

/// A JSON value of a cell: JSON, a Python literal, or (Azure's `Tags` and
/// `AdditionalInfo` in some exports) the members of an object without
/// their braces.
pub(crate) fn json(text: &str) -> Result<Value, Problem> {
    let text = text.trim();
    if let Ok(value) = serde_json::from_str(text) {
        return Ok(value);
    }
    if text.starts_with('{') || text.starts_with('[') {
        return serde_json::from_str(&python_to_json(text)).map_err(|_| Problem::NotJson);
    }
    serde_json::from_str(&format!("{{{text}}}")).map_err(|_| Problem::NotJson)
}

/// A JSON value as label text: strings bare, `null` as "", others as JSON
/// (FOCUS writes a tag without value as `true`).
pub(crate) fn label_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The pairs of a tags object (`{"env": "prod"}`) or of a GCP labels list
/// (`[{"key": "env", "value": "prod"}]`).
pub(crate) fn labels(text: &str, out: &mut Vec<(String, String)>) -> Result<(), Problem> {
    match json(text)? {
        Value::Object(members) => {
            out.extend(members.iter().map(|(k, v)| (k.clone(), label_text(v))));
            Ok(())
        }
        Value::Array(items) => {
            for item in &items {
                let (Some(key), value) = (item.get("key"), item.get("value")) else {
                    return Err(Problem::NotJson);
                };
                out.push((label_text(key), value.map(label_text).unwrap_or_default()));
            }
            Ok(())
        }
        Value::Null => Ok(()),
        _ => Err(Problem::NotJson),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_date_form_of_the_samples_is_read_as_utc() {
        let midnight = 1_693_267_200; // 2023-08-29T00:00:00Z
        for text in [
            "2023-08-29T00:00:00Z",
            "2023-08-29T00:00:00.000Z",
            "2023-08-29 00:00:00",
            "2023-08-29 00:00:00.000",
            "2023-08-29 00:00:00+00:00",
            "2023-08-29 02:00:00.000000+02:00",
            "2023-08-29 00:00:00 UTC",
            "2023-08-29",
            "08/29/2023",
            "8/29/2023",
        ] {
            assert_eq!(timestamp(text), Ok(midnight), "{text}");
        }
        assert_eq!(timestamp("2023-02-01T30:00:00Z"), Err(Problem::NotADate));
        assert_eq!(timestamp("yesterday"), Err(Problem::NotADate));
    }

    #[test]
    fn numbers_refuse_text_and_infinities() {
        assert_eq!(number("-5e-06"), Ok(-5e-6));
        assert_eq!(number("1.5x"), Err(Problem::NotANumber));
        assert_eq!(number("inf"), Err(Problem::NotANumber));
        assert_eq!(number("NaN"), Err(Problem::NotANumber));
    }

    #[test]
    fn python_literal_lists_of_credits_read_as_json() {
        let text = "[{'name': 'FreeTrial:Credit-0', 'amount': -5e-06, 'full_name': None, 'type': 'PROMOTION', 'ok': True}]";
        let value = json(text).unwrap();
        assert_eq!(value[0]["amount"], serde_json::json!(-5e-6));
        assert_eq!(value[0]["full_name"], Value::Null);
        assert_eq!(value[0]["ok"], Value::Bool(true));
    }

    #[test]
    fn tags_come_from_objects_lists_and_brace_less_objects() {
        let mut out = Vec::new();
        labels(r#"{"env": "prod", "flag": true}"#, &mut out).unwrap();
        labels(
            r#"[{'key': 'goog-k8s-cluster-name', 'value': 'c1'}]"#,
            &mut out,
        )
        .unwrap();
        labels(r#""a": "1","b": "2""#, &mut out).unwrap();
        let keys: Vec<&str> = out.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["env", "flag", "goog-k8s-cluster-name", "a", "b"]);
        assert_eq!(out[1].1, "true");
        assert!(labels("{not json", &mut out).is_err());
    }
}
