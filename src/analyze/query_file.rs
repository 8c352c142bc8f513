//! A SQL file of the query library: its header, its parameters and the
//! changes other engines need.
//!
//! ```sql
//! -- name: idle_by_node_pool
//! -- description: Idle cost by node pool for a period.
//! -- params: from=1970-01-01, to=9999-12-31
//! -- bigquery: strftime(date, '%G-W%V') => FORMAT_DATE('%G-W%V', date)
//! SELECT … WHERE date >= DATE '{{from}}' AND date < DATE '{{to}}'
//! ```
//!
//! Parameters are `{{name}}` placeholders, replaced as text before the SQL
//! reaches an engine. That syntax was chosen because every engine's file can
//! carry it unchanged: it is not SQL anywhere, so no engine reads it as
//! something else (`:name` is a named parameter in Spark, a cast in DuckDB
//! (`::`) and part of every time literal), and every templating tool a
//! warehouse is driven with (dbt/Jinja, Airflow, `sed`) fills it. Because
//! the substitution is textual, a value may only hold characters that
//! cannot end a literal or start a statement; the SQL quotes it itself
//! (`DATE '{{from}}'`, `'{{label}}'`).
//!
//! `-- <engine>: FROM => TO` lines name the one textual change an engine
//! needs; [`QueryFile::render_for`] applies them, so the changed text is what
//! the cross-engine tests run. A `-- <engine>:` line without `=>` is a note.

use std::collections::BTreeMap;

/// Engines a header line can address with a change or a note.
pub const ENGINES: [&str; 5] = ["polars", "duckdb", "spark", "bigquery", "trino"];

/// A parsed SQL file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryFile {
    /// `-- name:`; none for ad hoc SQL.
    pub name: Option<String>,
    /// `-- description:`, continuation lines joined by spaces.
    pub description: Option<String>,
    /// `-- params:`, in the order declared.
    pub params: Vec<Param>,
    /// `-- <engine>: FROM => TO` lines.
    pub changes: Vec<EngineChange>,
    /// `-- <engine>: text` lines without `=>`.
    pub notes: Vec<(String, String)>,
    header: String,
    body: String,
}

/// A declared parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    /// The value used when none is given; none: the caller must give one.
    pub default: Option<String>,
}

/// A textual change one engine needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineChange {
    pub engine: String,
    pub from: String,
    pub to: String,
}

/// Why a SQL file or its parameters were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryFileError {
    #[error("line {line}: {message}")]
    BadHeader { line: usize, message: String },
    #[error("--param {text}: expected NAME=VALUE")]
    BadParam { text: String },
    #[error(
        "--param {name}={value}: a value may hold letters, digits, spaces and . _ - : / @ + only (the SQL quotes it itself)"
    )]
    BadParamValue { name: String, value: String },
    #[error("--param {name}={value}: expected {kind} like its default {default}")]
    WrongKind {
        name: String,
        value: String,
        kind: &'static str,
        default: String,
    },
    #[error("--param {name}: the query has no parameter {name} ({known})")]
    UnknownParam { name: String, known: String },
    #[error("the query needs --param {name}=VALUE (it has no default)")]
    MissingParam { name: String },
    #[error(
        "{{{{{text}}}}}: expected a placeholder {{{{name}}}} with a name of letters, digits and _"
    )]
    BadPlaceholder { text: String },
    #[error("-- {engine}: {from:?} does not occur in the SQL")]
    ChangeNotFound { engine: String, from: String },
}

impl QueryFile {
    /// Parses a file: header lines are the leading `--` comment lines.
    ///
    /// # Errors
    ///
    /// [`QueryFileError::BadHeader`] for a malformed `-- params:` line,
    /// [`QueryFileError::ChangeNotFound`] for an engine change whose text the
    /// SQL does not contain.
    pub fn parse(text: &str) -> Result<QueryFile, QueryFileError> {
        let mut file = QueryFile {
            name: None,
            description: None,
            params: Vec::new(),
            changes: Vec::new(),
            notes: Vec::new(),
            header: String::new(),
            body: String::new(),
        };
        let mut header_end = 0;
        // The key a continuation line (`--   more`) extends.
        let mut continuing: Option<&str> = None;
        for (index, line) in text.split_inclusive('\n').enumerate() {
            let trimmed = line.trim();
            if trimmed.is_empty() && header_end == 0 {
                header_end += line.len();
                continue;
            }
            let Some(comment) = trimmed.strip_prefix("--") else {
                break;
            };
            header_end += line.len();
            let number = index + 1;
            if let Some(rest) = comment.strip_prefix("  ").filter(|r| !r.trim().is_empty())
                && continuing == Some("description")
            {
                if let Some(description) = &mut file.description {
                    description.push(' ');
                    description.push_str(rest.trim());
                }
                continue;
            }
            continuing = None;
            let Some((key, value)) = comment.trim().split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key {
                "name" => file.name = Some(value.to_owned()),
                "description" => {
                    file.description = Some(value.to_owned());
                    continuing = Some("description");
                }
                "params" => file.params = parse_params(value, number)?,
                engine if ENGINES.contains(&engine) => match value.split_once("=>") {
                    Some((from, to)) => file.changes.push(EngineChange {
                        engine: engine.to_owned(),
                        from: from.trim().to_owned(),
                        to: to.trim().to_owned(),
                    }),
                    None => file.notes.push((engine.to_owned(), value.to_owned())),
                },
                _ => {}
            }
        }
        file.header = text[..header_end].to_owned();
        file.body = text[header_end..].to_owned();
        for change in &file.changes {
            if change.from.is_empty() || !file.body.contains(&change.from) {
                return Err(QueryFileError::ChangeNotFound {
                    engine: change.engine.clone(),
                    from: change.from.clone(),
                });
            }
        }
        Ok(file)
    }

    /// The SQL for the embedded engine with `values` (`NAME=VALUE` pairs)
    /// over the declared defaults.
    ///
    /// # Errors
    ///
    /// [`QueryFileError`] for a malformed, unknown or unsafe value, a
    /// placeholder without a value, or a malformed placeholder.
    pub fn render(&self, values: &[(String, String)]) -> Result<String, QueryFileError> {
        self.render_for("polars", values)
    }

    /// The SQL for `engine`, with its changes applied, then `values`
    /// substituted as in [`QueryFile::render`].
    ///
    /// # Errors
    ///
    /// As [`QueryFile::render`].
    pub fn render_for(
        &self,
        engine: &str,
        values: &[(String, String)],
    ) -> Result<String, QueryFileError> {
        let mut body = self.body.clone();
        for change in self.changes.iter().filter(|c| c.engine == engine) {
            body = body.replace(&change.from, &change.to);
        }
        let used = placeholders(&body)?;
        let mut resolved: BTreeMap<&str, &str> = self
            .params
            .iter()
            .filter_map(|p| Some((p.name.as_str(), p.default.as_deref()?)))
            .collect();
        for (name, value) in values {
            let declared = self.params.iter().any(|p| &p.name == name);
            if !declared && !used.iter().any(|u| u == name) {
                return Err(QueryFileError::UnknownParam {
                    name: name.clone(),
                    known: self.known_params(),
                });
            }
            check_value(name, value)?;
            if let Some(default) = self
                .params
                .iter()
                .find(|p| &p.name == name)
                .and_then(|p| p.default.as_deref())
            {
                check_kind(name, value, default)?;
            }
            resolved.insert(name, value);
        }
        let mut sql = self.header.clone();
        let mut rest = body.as_str();
        while let Some(start) = rest.find("{{") {
            let (before, after) = rest.split_at(start);
            sql.push_str(before);
            let end = after.find("}}").unwrap_or(after.len());
            let name = after[2..end].trim();
            let value = resolved
                .get(name)
                .ok_or_else(|| QueryFileError::MissingParam {
                    name: name.to_owned(),
                })?;
            sql.push_str(value);
            rest = &after[(end + 2).min(after.len())..];
        }
        sql.push_str(rest);
        Ok(sql)
    }

    /// The parameters as `name=default, …`, for listings.
    pub fn params_summary(&self) -> String {
        self.params
            .iter()
            .map(|p| match &p.default {
                Some(default) => format!("{}={default}", p.name),
                None => p.name.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn known_params(&self) -> String {
        if self.params.is_empty() {
            "it takes none".to_owned()
        } else {
            let names: Vec<&str> = self.params.iter().map(|p| p.name.as_str()).collect();
            format!("it takes: {}", names.join(", "))
        }
    }
}

/// Splits `NAME=VALUE` as given to `--param`.
///
/// # Errors
///
/// [`QueryFileError::BadParam`] without `=` or with a name that is not an
/// identifier.
pub fn parse_param(text: &str) -> Result<(String, String), QueryFileError> {
    let bad = || QueryFileError::BadParam {
        text: text.to_owned(),
    };
    let (name, value) = text.split_once('=').ok_or_else(bad)?;
    let name = name.trim();
    if !is_identifier(name) {
        return Err(bad());
    }
    Ok((name.to_owned(), value.to_owned()))
}

fn parse_params(value: &str, line: usize) -> Result<Vec<Param>, QueryFileError> {
    let mut params = Vec::new();
    for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (name, default) = match item.split_once('=') {
            Some((name, default)) => (name.trim(), Some(default.trim().to_owned())),
            None => (item, None),
        };
        if !is_identifier(name) {
            return Err(QueryFileError::BadHeader {
                line,
                message: format!("-- params: {item:?} is not NAME or NAME=DEFAULT"),
            });
        }
        if let Some(default) = &default {
            check_value(name, default).map_err(|e| QueryFileError::BadHeader {
                line,
                message: e.to_string(),
            })?;
        }
        params.push(Param {
            name: name.to_owned(),
            default,
        });
    }
    Ok(params)
}

/// The names of the `{{name}}` placeholders in `sql`.
fn placeholders(sql: &str) -> Result<Vec<String>, QueryFileError> {
    let mut names = Vec::new();
    let mut rest = sql;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(QueryFileError::BadPlaceholder {
                text: after.lines().next().unwrap_or_default().to_owned(),
            });
        };
        let name = after[..end].trim();
        if !is_identifier(name) {
            return Err(QueryFileError::BadPlaceholder {
                text: after[..end].to_owned(),
            });
        }
        names.push(name.to_owned());
        rest = &after[end + 2..];
    }
    Ok(names)
}

/// A value must be of its default's kind: a date for a date, an integer for
/// an integer, so `--param from=2026-13-45` is refused here with its name
/// rather than by the engine as "cannot compare date to string".
fn check_kind(name: &str, value: &str, default: &str) -> Result<(), QueryFileError> {
    let is_date = |text: &str| chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok();
    let is_integer = |text: &str| text.parse::<i64>().is_ok();
    let kind = if is_date(default) && !is_date(value) {
        Some("a date YYYY-MM-DD")
    } else if is_integer(default) && !is_integer(value) {
        Some("an integer")
    } else {
        None
    };
    match kind {
        Some(kind) => Err(QueryFileError::WrongKind {
            name: name.to_owned(),
            value: value.to_owned(),
            kind,
            default: default.to_owned(),
        }),
        None => Ok(()),
    }
}

fn is_identifier(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Refuses a value that could end the literal it is placed in.
fn check_value(name: &str, value: &str) -> Result<(), QueryFileError> {
    let safe = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " _.-:/@+".contains(c));
    if safe {
        Ok(())
    } else {
        Err(QueryFileError::BadParamValue {
            name: name.to_owned(),
            value: value.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "-- name: demo
-- description: A demo query
--   over two lines.
-- params: from=2026-11-01, label
-- spark: UNNEST(labels) AS l => LATERAL VIEW explode(labels) t AS l
-- bigquery: runs as written
SELECT l.value FROM allocation CROSS JOIN UNNEST(labels) AS l
WHERE date >= DATE '{{from}}' AND l.key = '{{ label }}'
";

    fn parsed() -> QueryFile {
        QueryFile::parse(FILE).unwrap()
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn reads_name_description_params_and_engine_lines() {
        let file = parsed();
        assert_eq!(file.name.as_deref(), Some("demo"));
        assert_eq!(
            file.description.as_deref(),
            Some("A demo query over two lines.")
        );
        assert_eq!(file.params_summary(), "from=2026-11-01, label");
        assert_eq!(file.changes.len(), 1);
        assert_eq!(
            file.notes,
            vec![("bigquery".to_owned(), "runs as written".to_owned())]
        );
    }

    #[test]
    fn substitutes_defaults_and_given_values() {
        let sql = parsed()
            .render(&pairs(&[("label", "app.kubernetes.io/name")]))
            .unwrap();
        assert!(
            sql.contains("DATE '2026-11-01' AND l.key = 'app.kubernetes.io/name'"),
            "{sql}"
        );
        assert!(sql.starts_with("-- name: demo\n"), "the header stays");
    }

    #[test]
    fn applies_an_engines_change_before_substituting() {
        let sql = parsed()
            .render_for("spark", &pairs(&[("label", "team")]))
            .unwrap();
        assert!(
            sql.contains("CROSS JOIN LATERAL VIEW explode(labels) t AS l"),
            "{sql}"
        );
    }

    #[test]
    fn a_parameter_without_default_must_be_given() {
        assert_eq!(
            parsed().render(&[]),
            Err(QueryFileError::MissingParam {
                name: "label".into()
            })
        );
    }

    #[test]
    fn refuses_unknown_names_and_values_that_could_escape_the_literal() {
        let file = parsed();
        assert!(matches!(
            file.render(&pairs(&[("label", "x"), ("colour", "red")])),
            Err(QueryFileError::UnknownParam { name, .. }) if name == "colour"
        ));
        assert!(matches!(
            file.render(&pairs(&[("label", "x' OR '1'='1")])),
            Err(QueryFileError::BadParamValue { .. })
        ));
        assert!(matches!(
            parse_param("no-equals-sign"),
            Err(QueryFileError::BadParam { .. })
        ));
    }

    #[test]
    fn a_value_must_have_its_defaults_kind() {
        let file =
            QueryFile::parse("-- params: from=1970-01-01, top=20\nSELECT '{{from}}', {{top}}")
                .unwrap();
        assert_eq!(
            file.render(&pairs(&[("from", "2026-13-45")]))
                .map_err(|e| e.to_string()),
            Err(
                "--param from=2026-13-45: expected a date YYYY-MM-DD like its default 1970-01-01"
                    .into()
            )
        );
        assert!(matches!(
            file.render(&pairs(&[("top", "ten")])),
            Err(QueryFileError::WrongKind { .. })
        ));
        assert!(
            file.render(&pairs(&[("from", "2026-11-09"), ("top", "5")]))
                .is_ok()
        );
    }

    #[test]
    fn ad_hoc_sql_takes_values_for_the_placeholders_it_uses() {
        let file = QueryFile::parse("SELECT * FROM nodes WHERE node = '{{node}}'").unwrap();
        let sql = file.render(&pairs(&[("node", "n-1")])).unwrap();
        assert_eq!(sql, "SELECT * FROM nodes WHERE node = 'n-1'");
    }

    #[test]
    fn an_engine_change_must_match_the_sql() {
        let text = "-- spark: nothing like this => x\nSELECT 1";
        assert!(matches!(
            QueryFile::parse(text),
            Err(QueryFileError::ChangeNotFound { .. })
        ));
    }

    #[test]
    fn a_malformed_placeholder_is_named() {
        let file = QueryFile::parse("SELECT '{{bad name}}'").unwrap();
        assert_eq!(
            file.render(&[]).map_err(|e| e.to_string()),
            Err("{{bad name}}: expected a placeholder {{name}} with a name of letters, digits and _".into())
        );
    }
}
