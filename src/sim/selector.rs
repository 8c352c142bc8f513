//! Label and field selectors, as the API server parses and applies them.

use std::collections::BTreeMap;

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Exists(String),
    NotExists(String),
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

/// A parsed `labelSelector`; all requirements must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

/// A selector that does not parse; the message is the API server's kind of
/// one-line explanation and goes back to the client as a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unable to parse requirement {requirement:?}: {reason}")]
pub struct SelectorError {
    pub requirement: String,
    pub reason: &'static str,
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 316
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn valid_value(value: &str) -> bool {
    value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Splits on commas that are not inside parentheses.
fn split_top_level(text: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0_i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

impl LabelSelector {
    /// Parses `app=web,tier!=db,env in (prod,staging),!canary,team`.
    ///
    /// # Errors
    ///
    /// [`SelectorError`] naming the requirement that is malformed.
    pub fn parse(text: &str) -> Result<LabelSelector, SelectorError> {
        let mut requirements = Vec::new();
        if text.trim().is_empty() {
            return Ok(LabelSelector { requirements });
        }
        for raw in split_top_level(text) {
            let part = raw.trim();
            let error = |reason| SelectorError {
                requirement: part.to_owned(),
                reason,
            };
            let requirement = if let Some(key) = part.strip_prefix('!') {
                Requirement::NotExists(key.trim().to_owned())
            } else if let Some((key, value)) = part.split_once("!=") {
                Requirement::NotEquals(key.trim().to_owned(), value.trim().to_owned())
            } else if let Some((key, value)) =
                part.split_once("==").or_else(|| part.split_once('='))
            {
                Requirement::Equals(key.trim().to_owned(), value.trim().to_owned())
            } else if let Some((key, rest)) = split_set_operator(part, " notin ") {
                Requirement::NotIn(
                    key,
                    parse_set(&rest).ok_or_else(|| error("expected a set like (a,b)"))?,
                )
            } else if let Some((key, rest)) = split_set_operator(part, " in ") {
                Requirement::In(
                    key,
                    parse_set(&rest).ok_or_else(|| error("expected a set like (a,b)"))?,
                )
            } else {
                Requirement::Exists(part.to_owned())
            };
            let (key, values): (&str, Vec<&str>) = match &requirement {
                Requirement::Exists(k) | Requirement::NotExists(k) => (k, vec![]),
                Requirement::Equals(k, v) | Requirement::NotEquals(k, v) => (k, vec![v.as_str()]),
                Requirement::In(k, vs) | Requirement::NotIn(k, vs) => {
                    (k, vs.iter().map(String::as_str).collect())
                }
            };
            if !valid_key(key) {
                return Err(error("invalid label key"));
            }
            if !values.iter().all(|v| valid_value(v)) {
                return Err(error("invalid label value"));
            }
            requirements.push(requirement);
        }
        Ok(LabelSelector { requirements })
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements
            .iter()
            .all(|requirement| match requirement {
                Requirement::Exists(key) => labels.contains_key(key),
                Requirement::NotExists(key) => !labels.contains_key(key),
                Requirement::Equals(key, value) => labels.get(key) == Some(value),
                Requirement::NotEquals(key, value) => labels.get(key) != Some(value),
                Requirement::In(key, values) => labels.get(key).is_some_and(|v| values.contains(v)),
                Requirement::NotIn(key, values) => {
                    labels.get(key).is_none_or(|v| !values.contains(v))
                }
            })
    }

    /// Whether the selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

fn split_set_operator(part: &str, operator: &str) -> Option<(String, String)> {
    part.split_once(operator)
        .map(|(key, rest)| (key.trim().to_owned(), rest.trim().to_owned()))
}

fn parse_set(text: &str) -> Option<Vec<String>> {
    let inner = text.strip_prefix('(')?.strip_suffix(')')?;
    Some(inner.split(',').map(|v| v.trim().to_owned()).collect())
}

/// Fields every resource can be selected by, and the ones specific to pods.
pub const FIELD_NAME: &str = "metadata.name";
pub const FIELD_NAMESPACE: &str = "metadata.namespace";
pub const FIELD_NODE_NAME: &str = "spec.nodeName";
pub const FIELD_PHASE: &str = "status.phase";

/// A parsed `fieldSelector`: `metadata.name=x,spec.nodeName!=y`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<(String, bool, String)>,
}

impl FieldSelector {
    /// Parses a field selector over the fields in `supported`.
    ///
    /// # Errors
    ///
    /// [`SelectorError`] for a term without an operator or an unsupported field.
    pub fn parse(text: &str, supported: &[&str]) -> Result<FieldSelector, SelectorError> {
        let mut terms = Vec::new();
        if text.trim().is_empty() {
            return Ok(FieldSelector { terms });
        }
        for raw in text.split(',') {
            let part = raw.trim();
            let (field, equal, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                (f, true, v)
            } else {
                return Err(SelectorError {
                    requirement: part.to_owned(),
                    reason: "expected field=value or field!=value",
                });
            };
            let field = field.trim();
            if !supported.contains(&field) {
                return Err(SelectorError {
                    requirement: part.to_owned(),
                    reason: "field label not supported",
                });
            }
            terms.push((field.to_owned(), equal, value.trim().to_owned()));
        }
        Ok(FieldSelector { terms })
    }

    /// Whether an object with these field values matches.
    pub fn matches(&self, field: impl Fn(&str) -> String) -> bool {
        self.terms
            .iter()
            .all(|(name, equal, value)| (field(name) == *value) == *equal)
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn label_selectors_support_every_operator() -> Result<(), SelectorError> {
        let web = labels(&[("app", "web"), ("env", "prod"), ("team", "a")]);
        for (selector, expected) in [
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("env in (prod, staging)", true),
            ("env notin (prod)", false),
            ("team", true),
            ("!team", false),
            ("!canary", true),
            ("app=web,env in (dev),team", false),
            ("missing notin (x)", true),
        ] {
            assert_eq!(
                LabelSelector::parse(selector)?.matches(&web),
                expected,
                "{selector}"
            );
        }
        Ok(())
    }

    #[test]
    fn bad_label_selectors_name_the_requirement() {
        for bad in ["app=we b", "env in prod", "=x", "a b", "app=web,"] {
            let error = LabelSelector::parse(bad).expect_err(bad);
            assert!(
                !error.requirement.is_empty() || bad.ends_with(','),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn field_selectors_match_and_reject_unsupported_fields() -> Result<(), SelectorError> {
        let supported = [FIELD_NAME, FIELD_NODE_NAME];
        let selector = FieldSelector::parse("spec.nodeName=n1,metadata.name!=x", &supported)?;
        assert!(selector.matches(|f| if f == FIELD_NODE_NAME {
            "n1".into()
        } else {
            "y".into()
        }));
        assert!(!selector.matches(|_| "x".into()));
        let error =
            FieldSelector::parse("status.podIP=1.2.3.4", &supported).expect_err("unsupported");
        assert_eq!(error.reason, "field label not supported");
        assert!(FieldSelector::parse("metadata.name", &supported).is_err());
        Ok(())
    }
}
