//! Fault injection (`kubetally sim serve --faults SPEC`): the simulator
//! misbehaves the way a real API server under load or upgrade does, so the
//! collector's retries, relists and gaps can be tested against real HTTP.
//!
//! The one decision that shapes this module: every random choice is a pure
//! function of the cluster seed, the request's arrival number and the kind of
//! fault, never of a shared generator's state. So a seed reproduces a run's
//! faults given the same request order, and changing the spec mid-run (tests
//! do, through [`Sim::set_faults`]) does not shift later draws.
//!
//! The grammar is documented on [`FaultSpec`] and in `docs/faults.md`.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Sim;

/// The rule names, in the order [`FaultSpec`] displays them.
const RULE_NAMES: &str = "list, get, watch, metrics, write, cut, gone, slow, metrics-down";

/// Which faults the simulated API server injects; the default injects none.
///
/// Parsed from comma-separated rules, each at most once:
///
/// | rule | effect |
/// | --- | --- |
/// | `list=P[:CODE]`, `get=P[:CODE]`, `watch=P[:CODE]` | a fraction P of such requests (metrics.k8s.io excluded) is answered with HTTP CODE |
/// | `metrics=P[:CODE]` | the same for every metrics.k8s.io request |
/// | `write=P[:CODE]` | the same for POST, PUT, PATCH and DELETE |
/// | `cut=DURATION` | every watch stream is aborted mid-stream after DURATION of real time |
/// | `gone=P` | a fraction P of watches from a resourceVersion get `410 Expired` |
/// | `slow=P:DURATION` | a fraction P of requests waits DURATION before being answered |
/// | `metrics-down=DURATION/PERIOD` | metrics.k8s.io answers 503 during the first DURATION of every PERIOD of simulated time |
///
/// P is a percentage (`5%`) or a fraction (`0.05`), kept to a millionth;
/// CODE is 500, 503 (the default) or 429; durations are whole numbers of
/// `ms`, `s`, `m` or `h`. Discovery, `/version`, `/openapi` and health
/// endpoints are never faulted, so kubectl can always discover.
///
/// ```
/// use kubetally::sim::FaultSpec;
///
/// let spec: FaultSpec = "list=5%,cut=20s,metrics-down=10m/6h".parse()?;
/// assert_eq!(spec.to_string(), "list=5%:503,cut=20s,metrics-down=10m/6h");
/// # Ok::<(), kubetally::sim::FaultSpecError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultSpec {
    /// List requests (GET on a collection, not a watch).
    pub list: Option<ErrorFault>,
    /// GET of one object.
    pub get: Option<ErrorFault>,
    /// Watch requests, refused before the stream starts.
    pub watch: Option<ErrorFault>,
    /// Every metrics.k8s.io request.
    pub metrics: Option<ErrorFault>,
    /// POST, PUT, PATCH and DELETE.
    pub write: Option<ErrorFault>,
    /// Real time after which every watch stream is aborted.
    pub cut: Option<Duration>,
    /// Share of watches from a resourceVersion answered as if it were compacted.
    pub gone: Option<Rate>,
    /// Share of requests delayed, and by how much.
    pub slow: Option<SlowFault>,
    /// A recurring outage of metrics.k8s.io, in simulated time.
    pub metrics_down: Option<Outage>,
}

impl FaultSpec {
    /// Whether this spec injects nothing.
    pub fn is_empty(&self) -> bool {
        *self == FaultSpec::default()
    }
}

/// A share of requests answered with an error status instead of their result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorFault {
    pub rate: Rate,
    pub code: FaultCode,
}

/// A share of requests delayed before they are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlowFault {
    pub rate: Rate,
    pub delay: Duration,
}

/// Down for the first `down` of every `period`, counted from the simulated
/// epoch; `down <= period`, both more than zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    pub down: Duration,
    pub period: Duration,
}

impl Outage {
    /// Whether the outage is on at simulated time `now`.
    pub fn is_down_at(&self, now: DateTime<Utc>) -> bool {
        let elapsed_ms = (now - super::epoch()).num_milliseconds();
        let period_ms = millis(self.period);
        period_ms > 0 && elapsed_ms.rem_euclid(period_ms) < millis(self.down)
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The error statuses a fault can answer with: those a real API server sends
/// when it is overloaded, restarting or broken, and that clients must retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultCode {
    /// 500 InternalError.
    InternalError,
    /// 503 ServiceUnavailable, with `Retry-After: 1`.
    ServiceUnavailable,
    /// 429 TooManyRequests, with `Retry-After: 1` (API priority and fairness).
    TooManyRequests,
}

impl FaultCode {
    /// The HTTP status code.
    pub fn code(self) -> u16 {
        match self {
            FaultCode::InternalError => 500,
            FaultCode::ServiceUnavailable => 503,
            FaultCode::TooManyRequests => 429,
        }
    }

    /// The `reason` of the `Status` body.
    pub fn reason(self) -> &'static str {
        match self {
            FaultCode::InternalError => "InternalError",
            FaultCode::ServiceUnavailable => "ServiceUnavailable",
            FaultCode::TooManyRequests => "TooManyRequests",
        }
    }

    /// The `message` of the `Status` body, as the real server words it.
    pub fn message(self) -> &'static str {
        match self {
            FaultCode::InternalError => {
                "Internal error occurred: fault injected by the simulator (--faults)"
            }
            FaultCode::ServiceUnavailable => "the server is currently unable to handle the request",
            FaultCode::TooManyRequests => "Too many requests, please try again later.",
        }
    }

    /// Seconds the client is told to wait (`Retry-After`), when the real server sends it.
    pub fn retry_after_seconds(self) -> Option<u32> {
        match self {
            FaultCode::InternalError => None,
            FaultCode::ServiceUnavailable | FaultCode::TooManyRequests => Some(1),
        }
    }
}

/// A probability, kept in parts per million so that it prints and parses back exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rate(u32);

impl Rate {
    const SCALE: u32 = 1_000_000;
    /// Every request.
    pub const ALWAYS: Rate = Rate(Rate::SCALE);

    /// The rate `parts` in a million, `None` above a million.
    pub fn per_million(parts: u32) -> Option<Rate> {
        (parts <= Rate::SCALE).then_some(Rate(parts))
    }

    /// Whether a uniform draw in `0..1_000_000` falls under this rate.
    fn admits(self, draw: u32) -> bool {
        draw < self.0
    }
}

/// A rule that could not be parsed: `fault rule "RULE": PROBLEM`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fault rule {rule:?}: {problem}")]
pub struct FaultSpecError {
    /// The rule as written (trimmed).
    pub rule: String,
    pub problem: FaultProblem,
}

/// What is wrong with one rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultProblem {
    #[error("the rule is empty (two commas in a row, or one at the end?)")]
    Empty,
    #[error("expected NAME=VALUE")]
    NoValue,
    #[error("unknown rule {0:?}; the rules are {RULE_NAMES}")]
    UnknownRule(String),
    #[error("{0:?} may appear only once")]
    Duplicate(String),
    #[error("expected {0}")]
    Shape(&'static str),
    #[error("the rate {0:?} is not a number like 5% or 0.05")]
    BadRate(String),
    #[error("the rate must be between 0% and 100%")]
    RateOutOfRange,
    #[error("the status code {0:?} is not one of 500, 503 or 429")]
    BadCode(String),
    #[error("the duration {0:?} is not a whole number followed by ms, s, m or h")]
    BadDuration(String),
    #[error("the duration must be more than zero")]
    ZeroDuration,
    #[error("the outage {down} is longer than its period {period}")]
    OutageLongerThanPeriod { down: String, period: String },
}

impl FromStr for FaultSpec {
    type Err = FaultSpecError;

    /// Parses the grammar above; an empty or blank string is no faults.
    ///
    /// # Errors
    ///
    /// [`FaultSpecError`] naming the first bad rule and what is wrong with it.
    fn from_str(text: &str) -> Result<FaultSpec, FaultSpecError> {
        let mut spec = FaultSpec::default();
        if text.trim().is_empty() {
            return Ok(spec);
        }
        let mut seen: Vec<&str> = Vec::new();
        for rule in text.split(',').map(str::trim) {
            let fail = |problem| FaultSpecError {
                rule: rule.to_owned(),
                problem,
            };
            if rule.is_empty() {
                return Err(fail(FaultProblem::Empty));
            }
            let (name, value) = rule
                .split_once('=')
                .map(|(name, value)| (name.trim(), value.trim()))
                .ok_or_else(|| fail(FaultProblem::NoValue))?;
            if seen.contains(&name) {
                return Err(fail(FaultProblem::Duplicate(name.to_owned())));
            }
            match name {
                "list" => spec.list = Some(error_fault(value).map_err(fail)?),
                "get" => spec.get = Some(error_fault(value).map_err(fail)?),
                "watch" => spec.watch = Some(error_fault(value).map_err(fail)?),
                "metrics" => spec.metrics = Some(error_fault(value).map_err(fail)?),
                "write" => spec.write = Some(error_fault(value).map_err(fail)?),
                "cut" => spec.cut = Some(duration(value).map_err(fail)?),
                "gone" => spec.gone = Some(rate(value).map_err(fail)?),
                "slow" => spec.slow = Some(slow_fault(value).map_err(fail)?),
                "metrics-down" => spec.metrics_down = Some(outage(value).map_err(fail)?),
                _ => return Err(fail(FaultProblem::UnknownRule(name.to_owned()))),
            }
            seen.push(name);
        }
        Ok(spec)
    }
}

fn error_fault(value: &str) -> Result<ErrorFault, FaultProblem> {
    let (rate_text, code_text) = match value.split_once(':') {
        Some((rate_text, code_text)) => (rate_text, Some(code_text.trim())),
        None => (value, None),
    };
    let code = match code_text {
        None => FaultCode::ServiceUnavailable,
        Some("500") => FaultCode::InternalError,
        Some("503") => FaultCode::ServiceUnavailable,
        Some("429") => FaultCode::TooManyRequests,
        Some(other) => return Err(FaultProblem::BadCode(other.to_owned())),
    };
    Ok(ErrorFault {
        rate: rate(rate_text)?,
        code,
    })
}

fn slow_fault(value: &str) -> Result<SlowFault, FaultProblem> {
    let (rate_text, delay_text) = value
        .split_once(':')
        .ok_or(FaultProblem::Shape("slow=RATE:DURATION, e.g. slow=10%:2s"))?;
    Ok(SlowFault {
        rate: rate(rate_text)?,
        delay: duration(delay_text)?,
    })
}

fn outage(value: &str) -> Result<Outage, FaultProblem> {
    let (down_text, period_text) = value.split_once('/').ok_or(FaultProblem::Shape(
        "metrics-down=DURATION/PERIOD, e.g. metrics-down=10m/6h",
    ))?;
    let outage = Outage {
        down: duration(down_text)?,
        period: duration(period_text)?,
    };
    if outage.down > outage.period {
        return Err(FaultProblem::OutageLongerThanPeriod {
            down: DurationText(outage.down).to_string(),
            period: DurationText(outage.period).to_string(),
        });
    }
    Ok(outage)
}

/// `5%`, `12.5%` or `0.05`, rounded to a millionth.
fn rate(text: &str) -> Result<Rate, FaultProblem> {
    let text = text.trim();
    let bad = || FaultProblem::BadRate(text.to_owned());
    let (number, per_unit) = match text.strip_suffix('%') {
        Some(percent) => (percent.trim(), 100.0),
        None => (text, 1.0),
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    if !value.is_finite() {
        return Err(bad());
    }
    if !(0.0..=per_unit).contains(&value) {
        return Err(FaultProblem::RateOutOfRange);
    }
    // In range, so the product is in 0..=1e6 and the cast cannot truncate.
    Ok(Rate(
        (value / per_unit * f64::from(Rate::SCALE)).round() as u32
    ))
}

/// `500ms`, `30s`, `10m`, `2h`; more than zero.
fn duration(text: &str) -> Result<Duration, FaultProblem> {
    let text = text.trim();
    let bad = || FaultProblem::BadDuration(text.to_owned());
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let number: u64 = text[..digits].parse().map_err(|_| bad())?;
    let unit_ms: u64 = match &text[digits..] {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(bad()),
    };
    let ms = number.checked_mul(unit_ms).ok_or_else(bad)?;
    if ms == 0 {
        return Err(FaultProblem::ZeroDuration);
    }
    Ok(Duration::from_millis(ms))
}

/// Prints a duration in the largest unit that divides it exactly.
struct DurationText(Duration);

impl fmt::Display for DurationText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        match ms {
            0 => write!(f, "0s"),
            _ if ms.is_multiple_of(3_600_000) => write!(f, "{}h", ms / 3_600_000),
            _ if ms.is_multiple_of(60_000) => write!(f, "{}m", ms / 60_000),
            _ if ms.is_multiple_of(1_000) => write!(f, "{}s", ms / 1_000),
            _ => write!(f, "{ms}ms"),
        }
    }
}

impl fmt::Display for Rate {
    /// A percentage with as many decimals as needed: `5%`, `12.5%`, `0.0001%`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / 10_000;
        let fraction = self.0 % 10_000;
        if fraction == 0 {
            write!(f, "{whole}%")
        } else {
            let decimals = format!("{fraction:04}");
            write!(f, "{whole}.{}%", decimals.trim_end_matches('0'))
        }
    }
}

impl fmt::Display for ErrorFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.rate, self.code.code())
    }
}

impl fmt::Display for FaultSpec {
    /// The canonical form: every rule in a fixed order, codes spelled out,
    /// rates as percentages; the empty string for no faults.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rules: Vec<String> = Vec::new();
        let errors = [
            ("list", self.list),
            ("get", self.get),
            ("watch", self.watch),
            ("metrics", self.metrics),
            ("write", self.write),
        ];
        for (name, fault) in errors {
            if let Some(fault) = fault {
                rules.push(format!("{name}={fault}"));
            }
        }
        if let Some(cut) = self.cut {
            rules.push(format!("cut={}", DurationText(cut)));
        }
        if let Some(gone) = self.gone {
            rules.push(format!("gone={gone}"));
        }
        if let Some(slow) = self.slow {
            rules.push(format!("slow={}:{}", slow.rate, DurationText(slow.delay)));
        }
        if let Some(outage) = self.metrics_down {
            rules.push(format!(
                "metrics-down={}/{}",
                DurationText(outage.down),
                DurationText(outage.period)
            ));
        }
        f.write_str(&rules.join(","))
    }
}

/// How many faults of each kind were injected since the simulator started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    pub list: u64,
    pub get: u64,
    pub watch: u64,
    pub metrics: u64,
    pub write: u64,
    /// Watch streams aborted by `cut`.
    pub cut: u64,
    /// Watches answered 410 Expired by `gone`.
    pub gone: u64,
    /// Requests delayed by `slow`.
    pub slow: u64,
    /// metrics.k8s.io requests refused during a `metrics-down` outage.
    pub metrics_down: u64,
}

/// The kinds of fault: each has a counter and its own stream of draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    List,
    Get,
    Watch,
    Metrics,
    Write,
    Cut,
    Gone,
    Slow,
    MetricsDown,
}

const KINDS: usize = 9;

/// Injected-fault counters, shared with the watch streams that count cuts.
#[derive(Debug, Default)]
struct Counters([AtomicU64; KINDS]);

impl Counters {
    fn record(&self, kind: Kind) {
        self.0[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self, kind: Kind) -> u64 {
        self.0[kind as usize].load(Ordering::Relaxed)
    }
}

/// What a request is, as far as faults go; requests with none (discovery,
/// version, health) are never faulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    List,
    Get,
    /// A watch; `from_version` is its resourceVersion when neither empty nor "0".
    Watch {
        from_version: Option<u64>,
    },
    Metrics,
    Write,
}

/// The arrival number of a faultable request: the input of its draws.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ticket(u64);

/// What to do with a request after its delay.
#[derive(Debug)]
pub(super) enum Verdict {
    /// Answer normally; a watch is cut when `cut` says.
    Serve { cut: Option<WatchCut> },
    /// Answer with this error status instead.
    Fail(FaultCode),
    /// Answer the watch as if its resourceVersion were compacted.
    Gone { requested: u64 },
}

/// When to abort a watch stream, and where to count it.
#[derive(Debug)]
pub(super) struct WatchCut {
    pub(super) after: Duration,
    counters: Arc<Counters>,
}

impl WatchCut {
    /// Counts the cut; the stream calls this as it aborts.
    pub(super) fn record(&self) {
        self.counters.record(Kind::Cut);
    }
}

/// The simulator's fault state: the spec in force, the request counter the
/// draws come from, and what was injected.
#[derive(Debug)]
pub struct Faults {
    spec: RwLock<FaultSpec>,
    seed: u64,
    requests: AtomicU64,
    counters: Arc<Counters>,
}

impl Faults {
    /// Faults drawn from `seed`, starting with `spec`.
    pub fn new(spec: FaultSpec, seed: u64) -> Faults {
        Faults {
            spec: RwLock::new(spec),
            seed,
            requests: AtomicU64::new(0),
            counters: Arc::default(),
        }
    }

    /// The spec in force.
    pub fn spec(&self) -> FaultSpec {
        *self.spec.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the spec; requests already past their checks are not affected.
    pub fn set(&self, spec: FaultSpec) {
        *self.spec.write().unwrap_or_else(PoisonError::into_inner) = spec;
    }

    /// The faults injected so far.
    pub fn counts(&self) -> FaultCounts {
        let c = &self.counters;
        FaultCounts {
            list: c.get(Kind::List),
            get: c.get(Kind::Get),
            watch: c.get(Kind::Watch),
            metrics: c.get(Kind::Metrics),
            write: c.get(Kind::Write),
            cut: c.get(Kind::Cut),
            gone: c.get(Kind::Gone),
            slow: c.get(Kind::Slow),
            metrics_down: c.get(Kind::MetricsDown),
        }
    }

    /// Numbers a faultable request as it arrives.
    pub(super) fn admit(&self) -> Ticket {
        Ticket(self.requests.fetch_add(1, Ordering::Relaxed))
    }

    /// How long to hold the request before answering it, if `slow` picks it.
    pub(super) fn delay(&self, ticket: Ticket) -> Option<Duration> {
        let slow = self.spec().slow?;
        self.hits(slow.rate, ticket, Kind::Slow).then(|| {
            self.counters.record(Kind::Slow);
            slow.delay
        })
    }

    /// Whether and how the request fails, at simulated time `now`.
    pub(super) fn verdict(&self, ticket: Ticket, target: Target, now: DateTime<Utc>) -> Verdict {
        let spec = self.spec();
        if target == Target::Metrics && spec.metrics_down.is_some_and(|o| o.is_down_at(now)) {
            self.counters.record(Kind::MetricsDown);
            return Verdict::Fail(FaultCode::ServiceUnavailable);
        }
        let (rule, kind) = match target {
            Target::List => (spec.list, Kind::List),
            Target::Get => (spec.get, Kind::Get),
            Target::Watch { .. } => (spec.watch, Kind::Watch),
            Target::Metrics => (spec.metrics, Kind::Metrics),
            Target::Write => (spec.write, Kind::Write),
        };
        if let Some(rule) = rule
            && self.hits(rule.rate, ticket, kind)
        {
            self.counters.record(kind);
            return Verdict::Fail(rule.code);
        }
        let Target::Watch { from_version } = target else {
            return Verdict::Serve { cut: None };
        };
        if let (Some(requested), Some(gone)) = (from_version, spec.gone)
            && self.hits(gone, ticket, Kind::Gone)
        {
            self.counters.record(Kind::Gone);
            return Verdict::Gone { requested };
        }
        Verdict::Serve {
            cut: spec.cut.map(|after| WatchCut {
                after,
                counters: self.counters.clone(),
            }),
        }
    }

    fn hits(&self, rate: Rate, ticket: Ticket, kind: Kind) -> bool {
        rate.admits(draw(self.seed, ticket.0, kind))
    }
}

impl Sim {
    /// Replaces the faults the server injects (tests turn them on and off mid-run).
    pub fn set_faults(&self, spec: FaultSpec) {
        self.faults.set(spec);
    }

    /// The faults injected since the simulator started.
    pub fn fault_counts(&self) -> FaultCounts {
        self.faults.counts()
    }
}

/// A uniform draw in `0..1_000_000` for one kind of fault of one request.
fn draw(seed: u64, request: u64, kind: Kind) -> u32 {
    const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;
    let salt = (kind as u64 + 1).wrapping_mul(0xd6e8_feb8_6659_fd93);
    let bits = mix(seed ^ mix(request.wrapping_mul(GOLDEN) ^ salt));
    // The remainder is below a million, so it fits.
    (bits % u64::from(Rate::SCALE)) as u32
}

/// The SplitMix64 finaliser: a cheap, well-spread bijection of u64.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<FaultSpec, FaultSpecError> {
        text.parse()
    }

    fn error_of(text: &str) -> String {
        match parse(text) {
            Ok(spec) => panic!("{text:?} parsed as {spec:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn parses_every_rule_of_the_documented_example() -> Result<(), FaultSpecError> {
        let spec =
            parse("list=5%:503,metrics=10%:429,cut=20s,gone=30%,slow=10%:2s,metrics-down=10m/6h")?;
        let percent = |p: u32| Rate::per_million(p * 10_000);
        assert_eq!(
            spec.list,
            Some(ErrorFault {
                rate: Rate(50_000),
                code: FaultCode::ServiceUnavailable
            })
        );
        assert_eq!(
            spec.metrics.map(|f| (Some(f.rate), f.code)),
            Some((percent(10), FaultCode::TooManyRequests))
        );
        assert_eq!(spec.cut, Some(Duration::from_secs(20)));
        assert_eq!(spec.gone, percent(30));
        assert_eq!(
            spec.slow,
            Some(SlowFault {
                rate: Rate(100_000),
                delay: Duration::from_secs(2)
            })
        );
        assert_eq!(
            spec.metrics_down,
            Some(Outage {
                down: Duration::from_secs(600),
                period: Duration::from_secs(6 * 3600)
            })
        );
        assert_eq!((spec.get, spec.watch, spec.write), (None, None, None));
        Ok(())
    }

    #[test]
    fn rates_read_as_percentages_or_fractions_and_codes_default_to_503()
    -> Result<(), FaultSpecError> {
        let spec = parse(" get=0.05 , watch=100%:500, write=0%:429 ,gone=12.5%,slow=1:500ms")?;
        assert_eq!(
            spec.get,
            Some(ErrorFault {
                rate: Rate(50_000),
                code: FaultCode::ServiceUnavailable
            })
        );
        assert_eq!(
            spec.watch,
            Some(ErrorFault {
                rate: Rate::ALWAYS,
                code: FaultCode::InternalError
            })
        );
        assert_eq!(spec.write.map(|f| f.rate), Some(Rate(0)));
        assert_eq!(spec.gone, Some(Rate(125_000)));
        assert_eq!(spec.slow.map(|s| s.delay), Some(Duration::from_millis(500)));
        Ok(())
    }

    #[test]
    fn display_round_trips_through_the_parser() -> Result<(), FaultSpecError> {
        for text in [
            "",
            "list=5%:503,metrics=10%:429,cut=20s,gone=30%,slow=10%:2s,metrics-down=10m/6h",
            "get=0.0001%:500,watch=100%:503,write=33.3333%:429",
            "cut=1500ms,metrics-down=2h/2h",
            "slow=0%:90m",
        ] {
            let spec = parse(text)?;
            assert_eq!(spec.to_string(), text);
            assert_eq!(parse(&spec.to_string())?, spec);
        }
        assert_eq!(
            parse("list=0.05,cut=120s")?.to_string(),
            "list=5%:503,cut=2m"
        );
        assert!(parse("  ")?.is_empty());
        Ok(())
    }

    #[test]
    fn each_kind_of_bad_rule_gets_a_one_line_error_naming_it() {
        let cases = [
            (
                "list=150%",
                r#"fault rule "list=150%": the rate must be between 0% and 100%"#,
            ),
            (
                "gone=1.5",
                r#"fault rule "gone=1.5": the rate must be between 0% and 100%"#,
            ),
            (
                "get=lots",
                r#"fault rule "get=lots": the rate "lots" is not a number like 5% or 0.05"#,
            ),
            (
                "list=5%:404",
                r#"fault rule "list=5%:404": the status code "404" is not one of 500, 503 or 429"#,
            ),
            (
                "cut=20",
                r#"fault rule "cut=20": the duration "20" is not a whole number followed by ms, s, m or h"#,
            ),
            (
                "slow=10%:2d",
                r#"fault rule "slow=10%:2d": the duration "2d" is not a whole number followed by ms, s, m or h"#,
            ),
            (
                "cut=0s",
                r#"fault rule "cut=0s": the duration must be more than zero"#,
            ),
            (
                "bogus=1",
                r#"fault rule "bogus=1": unknown rule "bogus"; the rules are list, get, watch, metrics, write, cut, gone, slow, metrics-down"#,
            ),
            (
                "list=1%,cut=1s,list=2%",
                r#"fault rule "list=2%": "list" may appear only once"#,
            ),
            (
                "list=1%,,cut=1s",
                r#"fault rule "": the rule is empty (two commas in a row, or one at the end?)"#,
            ),
            (
                "cut=1s,",
                r#"fault rule "": the rule is empty (two commas in a row, or one at the end?)"#,
            ),
            ("slow", r#"fault rule "slow": expected NAME=VALUE"#),
            (
                "slow=10%",
                r#"fault rule "slow=10%": expected slow=RATE:DURATION, e.g. slow=10%:2s"#,
            ),
            (
                "metrics-down=10m",
                r#"fault rule "metrics-down=10m": expected metrics-down=DURATION/PERIOD, e.g. metrics-down=10m/6h"#,
            ),
            (
                "metrics-down=7h/6h",
                r#"fault rule "metrics-down=7h/6h": the outage 7h is longer than its period 6h"#,
            ),
        ];
        for (text, expected) in cases {
            let error = error_of(text);
            assert_eq!(error, expected);
            assert!(!error.contains('\n'), "{error}");
        }
    }

    #[test]
    fn an_outage_covers_the_start_of_every_period_of_simulated_time() {
        let outage = Outage {
            down: Duration::from_secs(600),
            period: Duration::from_secs(6 * 3600),
        };
        let at = |seconds: i64| super::super::epoch() + chrono::Duration::seconds(seconds);
        assert!(outage.is_down_at(at(0)));
        assert!(outage.is_down_at(at(599)));
        assert!(!outage.is_down_at(at(600)));
        assert!(!outage.is_down_at(at(6 * 3600 - 1)));
        assert!(outage.is_down_at(at(6 * 3600 + 10)));
        assert!(!outage.is_down_at(at(-1)));
    }

    #[test]
    fn draws_repeat_for_a_seed_and_follow_the_rate() -> Result<(), FaultSpecError> {
        let spec = parse("list=30%,gone=50%,cut=1s")?;
        let outcomes = |seed: u64| -> Vec<&'static str> {
            let faults = Faults::new(spec, seed);
            (0..2_000)
                .map(|i| {
                    let target = if i % 2 == 0 {
                        Target::List
                    } else {
                        Target::Watch {
                            from_version: Some(7),
                        }
                    };
                    let ticket = faults.admit();
                    match faults.verdict(ticket, target, super::super::epoch()) {
                        Verdict::Serve { .. } => "serve",
                        Verdict::Fail(_) => "fail",
                        Verdict::Gone { .. } => "gone",
                    }
                })
                .collect()
        };
        let first = outcomes(3);
        assert_eq!(first, outcomes(3));
        assert_ne!(first, outcomes(4));
        let failed_lists = first.iter().step_by(2).filter(|v| **v == "fail").count();
        let gone = first
            .iter()
            .skip(1)
            .step_by(2)
            .filter(|v| **v == "gone")
            .count();
        assert!(
            (240..=360).contains(&failed_lists),
            "{failed_lists} of 1000 lists failed"
        );
        // A watch the list rule never touches: half of them are gone.
        assert!(
            (420..=580).contains(&gone),
            "{gone} of 1000 watches were gone"
        );
        Ok(())
    }

    #[test]
    fn counts_what_was_injected_and_never_faults_under_an_empty_spec() {
        let faults = Faults::new(FaultSpec::default(), 1);
        for _ in 0..100 {
            let ticket = faults.admit();
            assert!(faults.delay(ticket).is_none());
            assert!(matches!(
                faults.verdict(ticket, Target::Metrics, super::super::epoch()),
                Verdict::Serve { cut: None }
            ));
        }
        assert_eq!(faults.counts(), FaultCounts::default());
        faults.set(FaultSpec {
            metrics_down: Some(Outage {
                down: Duration::from_secs(60),
                period: Duration::from_secs(120),
            }),
            write: Some(ErrorFault {
                rate: Rate::ALWAYS,
                code: FaultCode::InternalError,
            }),
            ..FaultSpec::default()
        });
        let ticket = faults.admit();
        assert!(matches!(
            faults.verdict(ticket, Target::Metrics, super::super::epoch()),
            Verdict::Fail(FaultCode::ServiceUnavailable)
        ));
        assert!(matches!(
            faults.verdict(ticket, Target::Write, super::super::epoch()),
            Verdict::Fail(FaultCode::InternalError)
        ));
        assert!(matches!(
            faults.verdict(ticket, Target::List, super::super::epoch()),
            Verdict::Serve { cut: None }
        ));
        let counts = faults.counts();
        assert_eq!((counts.metrics_down, counts.write, counts.list), (1, 1, 0));
    }
}
