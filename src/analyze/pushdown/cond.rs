//! Conditions on string columns (`WHERE tenant <> '__shared__'`, `CASE WHEN
//! price_source LIKE 'autopilot%'`), as the pushed-down fold evaluates
//! them: each comparison once per distinct string, never per row.

/// A condition on string columns: comparisons with literals, combined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Cond {
    /// `column = 'value'` (`negated`: `<>`).
    Equals {
        column: usize,
        value: String,
        negated: bool,
    },
    /// `column IN ('a', 'b')` (`negated`: `NOT IN`).
    In {
        column: usize,
        values: Vec<String>,
        negated: bool,
    },
    /// `column LIKE 'pattern'` (`negated`: `NOT LIKE`), SQL's `%` and `_`.
    Like {
        column: usize,
        pattern: String,
        negated: bool,
    },
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
}

impl Cond {
    /// Whether a row whose string columns are `text(column)` meets it.
    pub(super) fn holds<'t>(&self, text: &impl Fn(usize) -> &'t str) -> bool {
        match self {
            Cond::Equals {
                column,
                value,
                negated,
            } => (text(*column) == value) != *negated,
            Cond::In {
                column,
                values,
                negated,
            } => values.iter().any(|v| v == text(*column)) != *negated,
            Cond::Like {
                column,
                pattern,
                negated,
            } => like(text(*column), pattern) != *negated,
            Cond::And(a, b) => a.holds(text) && b.holds(text),
            Cond::Or(a, b) => a.holds(text) || b.holds(text),
            Cond::Not(a) => !a.holds(text),
        }
    }

    /// The string columns it reads (indices into the plan's columns).
    pub(super) fn columns(&self, into: &mut Vec<usize>) {
        match self {
            Cond::Equals { column, .. } | Cond::In { column, .. } | Cond::Like { column, .. } => {
                into.push(*column);
            }
            Cond::And(a, b) | Cond::Or(a, b) => {
                a.columns(into);
                b.columns(into);
            }
            Cond::Not(a) => a.columns(into),
        }
    }
}

/// SQL `LIKE` without an escape character: `%` any run of characters, `_`
/// one character, everything else itself, case-sensitive (as polars, which
/// turns the pattern into an anchored regular expression).
pub(super) fn like(text: &str, pattern: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let pattern: Vec<char> = pattern.chars().collect();
    // Greedy match with backtracking to the last `%`: linear for the
    // patterns queries use, never exponential.
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('%') => {
                star = Some((p, t));
                p += 1;
            }
            Some('_') => {
                t += 1;
                p += 1;
            }
            Some(c) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == '%')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_matches_as_sql_does() {
        for (text, pattern, expected) in [
            ("autopilot-general", "autopilot%", true),
            ("autopilot", "autopilot%", true),
            ("catalog", "autopilot%", false),
            ("", "%", true),
            ("", "_", false),
            ("ab", "a_", true),
            ("abc", "a_", false),
            ("xaybz", "%a%b%", true),
            ("xaybz", "%b%a%", false),
            ("mississippi", "%iss%pi", true),
            ("é", "_", true),
            ("Autopilot", "autopilot%", false),
            ("a%b", "a%b", true),
        ] {
            assert_eq!(like(text, pattern), expected, "{text:?} LIKE {pattern:?}");
        }
    }

    #[test]
    fn conditions_combine_and_negate() {
        let texts = ["t1", "autopilot-x"];
        let text = |column: usize| texts[column];
        let shared = Cond::Equals {
            column: 0,
            value: "t1".into(),
            negated: false,
        };
        let autopilot = Cond::Like {
            column: 1,
            pattern: "autopilot%".into(),
            negated: true,
        };
        assert!(shared.holds(&text));
        assert!(!autopilot.holds(&text));
        assert!(!Cond::And(Box::new(shared.clone()), Box::new(autopilot.clone())).holds(&text));
        assert!(Cond::Or(Box::new(shared.clone()), Box::new(autopilot.clone())).holds(&text));
        assert!(Cond::Not(Box::new(autopilot)).holds(&text));
        let listed = Cond::In {
            column: 0,
            values: vec!["t2".into(), "t1".into()],
            negated: true,
        };
        assert!(!listed.holds(&text));
    }
}
