//! The Prometheus text exposition format, version 0.0.4: what `/metrics`
//! writes, and nothing else of Prometheus.
//!
//! A family is opened once ([`Exposition::family`] writes its `# HELP` and
//! `# TYPE` lines) and its samples follow it before the next family starts,
//! because the format requires every line of a metric to form one group.

use std::fmt::Write;

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric family's type, as `# TYPE` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// A family's name, type, label names and help text: the contract that
/// `docs/metrics.md` documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FamilySpec {
    pub name: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

/// A text exposition being written.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
    opened: Vec<&'static str>,
}

impl Exposition {
    /// An empty exposition with room for `bytes`.
    pub fn with_capacity(bytes: usize) -> Exposition {
        Exposition {
            out: String::with_capacity(bytes),
            opened: Vec::new(),
        }
    }

    /// Starts `spec`'s family: its `# HELP` and `# TYPE` lines, then the
    /// returned writer's samples.
    ///
    /// Each family is opened once per exposition; opening one twice is a
    /// defect of the caller (checked in debug builds and by the tests).
    pub fn family(&mut self, spec: &FamilySpec) -> Family<'_> {
        debug_assert!(
            !self.opened.contains(&spec.name),
            "metric family {} opened twice",
            spec.name
        );
        self.opened.push(spec.name);
        self.out.push_str("# HELP ");
        self.out.push_str(spec.name);
        self.out.push(' ');
        escape_help(&mut self.out, spec.help);
        self.out.push('\n');
        self.out.push_str("# TYPE ");
        self.out.push_str(spec.name);
        self.out.push(' ');
        self.out.push_str(spec.kind.as_str());
        self.out.push('\n');
        Family {
            out: &mut self.out,
            spec: *spec,
        }
    }

    /// The text written so far.
    pub fn finish(self) -> String {
        self.out
    }
}

/// The sample lines of one family.
pub struct Family<'a> {
    out: &'a mut String,
    spec: FamilySpec,
}

impl Family<'_> {
    /// One sample; `values` are the label values in the order of the
    /// family's label names.
    pub fn sample(&mut self, values: &[&str], value: f64) {
        debug_assert_eq!(
            values.len(),
            self.spec.labels.len(),
            "label values of {}",
            self.spec.name
        );
        self.out.push_str(self.spec.name);
        if !self.spec.labels.is_empty() {
            self.out.push('{');
            for (i, (name, value)) in self.spec.labels.iter().zip(values).enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(name);
                self.out.push_str("=\"");
                escape_label_value(self.out, value);
                self.out.push('"');
            }
            self.out.push('}');
        }
        self.out.push(' ');
        write_value(self.out, value);
        self.out.push('\n');
    }

    /// A sample of a counter or gauge held as an integer.
    pub fn count(&mut self, values: &[&str], value: u64) {
        self.sample(values, value as f64);
    }
}

/// Label values escape backslash, double quote and line feed.
fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Help text escapes backslash and line feed (a quote stays as it is).
fn escape_help(out: &mut String, help: &str) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Values as Go's `ParseFloat` reads them: `NaN`, `+Inf`, `-Inf`, else
/// the shortest decimal that round-trips.
fn write_value(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        // Writing to a String cannot fail.
        let _ = write!(out, "{value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE_COST: FamilySpec = FamilySpec {
        name: "node_cost",
        kind: Kind::Gauge,
        labels: &["node", "region"],
        help: "What a node costs.",
    };

    const TICKS: FamilySpec = FamilySpec {
        name: "ticks_total",
        kind: Kind::Counter,
        labels: &[],
        help: "Ticks.",
    };

    #[test]
    fn writes_help_and_type_once_then_every_sample_of_the_family() {
        let mut text = Exposition::default();
        let mut family = text.family(&NODE_COST);
        family.sample(&["a", "us-central1"], 0.25);
        family.sample(&["b", "us-east1"], 1.5);
        text.family(&TICKS).count(&[], 42);
        assert_eq!(
            text.finish(),
            "# HELP node_cost What a node costs.\n\
             # TYPE node_cost gauge\n\
             node_cost{node=\"a\",region=\"us-central1\"} 0.25\n\
             node_cost{node=\"b\",region=\"us-east1\"} 1.5\n\
             # HELP ticks_total Ticks.\n\
             # TYPE ticks_total counter\n\
             ticks_total 42\n"
        );
    }

    #[test]
    fn escapes_backslash_quote_and_newline_in_label_values() {
        let mut text = Exposition::default();
        text.family(&NODE_COST)
            .sample(&["we\\ird \"node\"\nname", "ünï"], 1.0);
        let out = text.finish();
        assert!(
            out.contains(r#"node_cost{node="we\\ird \"node\"\nname",region="ünï"} 1"#),
            "{out}"
        );
    }

    #[test]
    fn escapes_backslash_and_newline_in_help_but_not_quotes() {
        let spec = FamilySpec {
            help: "a \\ \"b\"\nc",
            ..TICKS
        };
        let mut text = Exposition::default();
        text.family(&spec);
        assert_eq!(
            text.finish(),
            "# HELP ticks_total a \\\\ \"b\"\\nc\n# TYPE ticks_total counter\n"
        );
    }

    #[test]
    fn writes_special_floats_as_prometheus_spells_them() {
        let mut out = String::new();
        for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.5, 1e21, 3.0] {
            write_value(&mut out, value);
            out.push(' ');
        }
        assert_eq!(out, "NaN +Inf -Inf -0.5 1000000000000000000000 3 ");
    }

    #[test]
    fn a_family_without_samples_has_only_its_header() {
        let mut text = Exposition::default();
        text.family(&TICKS);
        assert_eq!(
            text.finish(),
            "# HELP ticks_total Ticks.\n# TYPE ticks_total counter\n"
        );
    }

    #[test]
    #[should_panic(expected = "opened twice")]
    #[cfg(debug_assertions)]
    fn opening_a_family_twice_is_caught() {
        let mut text = Exposition::default();
        text.family(&TICKS);
        text.family(&TICKS);
    }
}
