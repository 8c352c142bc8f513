//! The metrics API (`metrics.k8s.io/v1beta1`): PodMetrics and NodeMetrics as
//! metrics-server serves them.
//!
//! Sample time is the item's `timestamp` (the end of its `window`), never the
//! collector's clock.
//!
//! These are raw requests (metrics.k8s.io has no k8s-openapi types), so the
//! bounds a typed client would not need are ours: a response is read up to
//! [`Limits::max_body_bytes`] and for at most [`Limits::timeout`], a list of
//! the wrong kind is refused, and an item whose usage is outside
//! [`super::bounds`] is skipped, never billed.

use chrono::{DateTime, Utc};
use kube::Client;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::model::Quantity;

#[derive(Debug, Clone, Deserialize)]
struct ItemMeta {
    name: String,
    #[serde(default)]
    namespace: String,
}

#[derive(Debug, Clone, Deserialize)]
struct Usage {
    cpu: Quantity,
    memory: Quantity,
}

/// A container as metrics-server writes it; decoded straight into a
/// [`ContainerUsage`], so a list of 150,000 pods is not held twice over
/// (as read, then as used) at each tick.
#[derive(Debug, Clone, Deserialize)]
struct RawContainer {
    name: String,
    usage: Usage,
}

impl From<RawContainer> for ContainerUsage {
    fn from(raw: RawContainer) -> ContainerUsage {
        ContainerUsage {
            name: raw.name,
            cpu_cores: raw.usage.cpu.as_cores(),
            memory_bytes: raw.usage.memory.as_bytes(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
struct RawPodMetrics {
    metadata: ItemMeta,
    timestamp: DateTime<Utc>,
    window: WindowText,
    #[serde(default)]
    containers: Vec<ContainerUsage>,
}

#[derive(Debug, Clone, Deserialize)]
struct RawNodeMetrics {
    metadata: ItemMeta,
    timestamp: DateTime<Utc>,
    window: WindowText,
    usage: Usage,
}

/// A `window` read as its seconds, or why it is unusable: parsed from the
/// text as the deserializer lends it, so no String per item and tick.
#[derive(Debug, Clone)]
struct WindowText(Result<f64, String>);

impl<'de> Deserialize<'de> for WindowText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<WindowText, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = WindowText;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a duration string")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<WindowText, E> {
                Ok(WindowText(window_seconds(text)))
            }
        }
        deserializer.deserialize_str(Text)
    }
}

#[derive(Debug, Clone, Deserialize)]
struct List<T> {
    /// Absent in some hand-written bodies; when present it must match.
    #[serde(default)]
    kind: Option<String>,
    items: Vec<T>,
}

/// Bounds on one raw metrics request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A body longer than this is refused (the tick is a gap). The default,
    /// 256 MiB, is about three times a PodMetrics list of 150,000 pods
    /// (~600 bytes an item): a proxy streaming garbage cannot exhaust memory.
    pub max_body_bytes: u64,
    /// A response not complete within this is abandoned (the tick is a
    /// gap). The default, 45 s, stays under the default 60 s interval, so a
    /// slow-drip server costs one tick, not all the next ones.
    pub timeout: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body_bytes: 256 << 20,
            timeout: std::time::Duration::from_secs(45),
        }
    }
}

/// One container's usage in one metrics window.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(from = "RawContainer")]
pub struct ContainerUsage {
    pub name: String,
    pub cpu_cores: f64,
    pub memory_bytes: i64,
}

/// A pod's usage sample.
#[derive(Debug, Clone, PartialEq)]
pub struct PodUsage {
    pub namespace: String,
    pub name: String,
    /// End of the window.
    pub timestamp: DateTime<Utc>,
    pub window_seconds: f64,
    pub containers: Vec<ContainerUsage>,
}

/// A node's usage sample.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeUsage {
    pub name: String,
    pub timestamp: DateTime<Utc>,
    pub window_seconds: f64,
    pub cpu_cores: f64,
    pub memory_bytes: i64,
}

/// Why a metrics list failed.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("listing {path}")]
    Request {
        path: &'static str,
        #[source]
        cause: kube::Error,
    },
    #[error("{path}: the response is not a list: {cause}")]
    Body {
        path: &'static str,
        #[source]
        cause: serde_json::Error,
    },
    #[error("{path}: reading the response")]
    Read {
        path: &'static str,
        #[source]
        cause: std::io::Error,
    },
    #[error("{path}: the response is longer than {limit} bytes")]
    TooLarge { path: &'static str, limit: u64 },
    #[error("{path}: no complete response within {} s", after.as_secs_f64())]
    TimedOut {
        path: &'static str,
        after: std::time::Duration,
    },
    #[error("{path}: the response is not UTF-8")]
    NotUtf8 { path: &'static str },
    #[error("{path}: the response is a {kind}, not a {expected}")]
    WrongKind {
        path: &'static str,
        kind: String,
        expected: &'static str,
    },
}

/// An item of a metrics list that could not be used: the rest of the list
/// is; this one is counted and logged, never billed.
#[derive(Debug, Clone, PartialEq)]
pub struct SkippedItem {
    pub path: &'static str,
    /// `namespace/name`, or its position when it has no readable name.
    pub item: String,
    pub reason: String,
}

impl std::fmt::Display for SkippedItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: item {}: {}", self.path, self.item, self.reason)
    }
}

/// The usable items of one metrics list, and the ones skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed<T> {
    pub items: Vec<T>,
    pub skipped: Vec<SkippedItem>,
}

pub const POD_METRICS_PATH: &str = "/apis/metrics.k8s.io/v1beta1/pods";
pub const NODE_METRICS_PATH: &str = "/apis/metrics.k8s.io/v1beta1/nodes";

/// The body of `path`, read within `limits`.
async fn fetch(
    client: &Client,
    path: &'static str,
    limits: &Limits,
) -> Result<String, MetricsError> {
    use futures_util::io::AsyncReadExt;
    let request =
        http::Request::get(path)
            .body(Vec::new())
            .map_err(|error| MetricsError::Request {
                path,
                cause: kube::Error::HttpError(error),
            })?;
    let read = async {
        let body = client
            .request_stream(request)
            .await
            .map_err(|cause| MetricsError::Request { path, cause })?;
        let mut bytes = Vec::new();
        // One byte past the limit tells a body at the limit from a longer one.
        body.take(limits.max_body_bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .await
            .map_err(|cause| MetricsError::Read { path, cause })?;
        if bytes.len() as u64 > limits.max_body_bytes {
            return Err(MetricsError::TooLarge {
                path,
                limit: limits.max_body_bytes,
            });
        }
        String::from_utf8(bytes).map_err(|_| MetricsError::NotUtf8 { path })
    };
    tokio::time::timeout(limits.timeout, read)
        .await
        .unwrap_or(Err(MetricsError::TimedOut {
            path,
            after: limits.timeout,
        }))
}

/// The items of a list body. The whole list decodes in one pass when every
/// item is well formed (every tick of a healthy cluster); otherwise item by
/// item, so one malformed item (a bad quantity, no name) is skipped instead
/// of making the whole tick a gap.
fn decode<T: DeserializeOwned>(
    path: &'static str,
    expected: &'static str,
    body: &str,
) -> Result<(Vec<T>, Vec<SkippedItem>), MetricsError> {
    let kind_of = |kind: Option<String>| match kind {
        Some(kind) if kind != expected => Err(MetricsError::WrongKind {
            path,
            kind,
            expected,
        }),
        _ => Ok(()),
    };
    if let Ok(list) = serde_json::from_str::<List<T>>(body) {
        kind_of(list.kind)?;
        return Ok((list.items, Vec::new()));
    }
    let raw: List<Box<RawValue>> =
        serde_json::from_str(body).map_err(|cause| MetricsError::Body { path, cause })?;
    kind_of(raw.kind.clone())?;
    let (mut items, mut skipped) = (Vec::with_capacity(raw.items.len()), Vec::new());
    for (index, item) in raw.items.iter().enumerate() {
        match serde_json::from_str::<T>(item.get()) {
            Ok(item) => items.push(item),
            Err(cause) => skipped.push(SkippedItem {
                path,
                item: item_name(item.get()).unwrap_or_else(|| format!("#{index}")),
                reason: cause.to_string(),
            }),
        }
    }
    Ok((items, skipped))
}

/// `namespace/name` (or `name`) of an item that did not decode, if its
/// metadata still reads.
fn item_name(item: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Named {
        metadata: ItemMeta,
    }
    let named: Named = serde_json::from_str(item).ok()?;
    let meta = named.metadata;
    Some(if meta.namespace.is_empty() {
        meta.name
    } else {
        format!("{}/{}", meta.namespace, meta.name)
    })
}

/// The seconds of a metrics window, or why it is unusable.
fn window_seconds(window: &str) -> Result<f64, String> {
    match go_duration_seconds(window) {
        Some(seconds) if seconds >= 0.0 => Ok(seconds),
        _ => Err(format!("window {window:?} is not a duration")),
    }
}

/// Usage the API should never report: negative, or beyond any machine
/// ([`super::bounds`]).
fn implausible(cpu_cores: f64, memory_bytes: i64) -> Option<String> {
    super::bounds::cpu_problem("usage", cpu_cores)
        .or_else(|| super::bounds::memory_problem("usage", memory_bytes))
}

/// Every pod's latest usage sample.
///
/// # Errors
///
/// [`MetricsError`] when the API answers with an error or a body that is
/// not a list; unusable items are skipped ([`Listed::skipped`]).
pub async fn pod_usage(client: &Client) -> Result<Listed<PodUsage>, MetricsError> {
    pod_usage_within(client, &Limits::default()).await
}

/// [`pod_usage`] read within `limits`.
///
/// # Errors
///
/// As [`pod_usage`], and [`MetricsError::TooLarge`] or
/// [`MetricsError::TimedOut`] past the limits.
pub async fn pod_usage_within(
    client: &Client,
    limits: &Limits,
) -> Result<Listed<PodUsage>, MetricsError> {
    pod_usage_of(fetch(client, POD_METRICS_PATH, limits).await?)
}

/// [`pod_usage`] from a response body.
///
/// # Errors
///
/// [`MetricsError::Body`] when the body is not a list.
pub fn pod_usage_from(body: &str) -> Result<Listed<PodUsage>, MetricsError> {
    let decoded = decode::<RawPodMetrics>(POD_METRICS_PATH, "PodMetricsList", body)?;
    Ok(usable_pods(decoded))
}

/// [`pod_usage_from`] of a body it owns, which goes once decoded: at
/// 150,000 pods the body is ~57 MB and its items ~40 MB.
fn pod_usage_of(body: String) -> Result<Listed<PodUsage>, MetricsError> {
    let decoded = decode::<RawPodMetrics>(POD_METRICS_PATH, "PodMetricsList", &body)?;
    drop(body);
    Ok(usable_pods(decoded))
}

/// The decoded items whose window and usage are usable; the others are
/// added to the skipped.
fn usable_pods((raw, mut skipped): (Vec<RawPodMetrics>, Vec<SkippedItem>)) -> Listed<PodUsage> {
    let path = POD_METRICS_PATH;
    let mut items = Vec::with_capacity(raw.len());
    for item in raw {
        let checked = item.window.0.clone().and_then(|seconds| {
            match item
                .containers
                .iter()
                .find_map(|c| implausible(c.cpu_cores, c.memory_bytes))
            {
                Some(problem) => Err(problem),
                None => Ok(seconds),
            }
        });
        let window_seconds = match checked {
            Ok(seconds) => seconds,
            Err(reason) => {
                skipped.push(SkippedItem {
                    path,
                    item: format!("{}/{}", item.metadata.namespace, item.metadata.name),
                    reason,
                });
                continue;
            }
        };
        items.push(PodUsage {
            window_seconds,
            namespace: item.metadata.namespace,
            name: item.metadata.name,
            timestamp: item.timestamp,
            containers: item.containers,
        });
    }
    Listed { items, skipped }
}

/// Every node's latest usage sample.
///
/// # Errors
///
/// [`MetricsError`] as for [`pod_usage`].
pub async fn node_usage(client: &Client) -> Result<Listed<NodeUsage>, MetricsError> {
    node_usage_within(client, &Limits::default()).await
}

/// [`node_usage`] read within `limits`.
///
/// # Errors
///
/// As [`pod_usage_within`].
pub async fn node_usage_within(
    client: &Client,
    limits: &Limits,
) -> Result<Listed<NodeUsage>, MetricsError> {
    let body = fetch(client, NODE_METRICS_PATH, limits).await?;
    node_usage_from(&body)
}

/// [`node_usage`] from a response body.
///
/// # Errors
///
/// [`MetricsError::Body`] when the body is not a list.
pub fn node_usage_from(body: &str) -> Result<Listed<NodeUsage>, MetricsError> {
    let path = NODE_METRICS_PATH;
    let (raw, mut skipped) = decode::<RawNodeMetrics>(path, "NodeMetricsList", body)?;
    let mut items = Vec::with_capacity(raw.len());
    for item in raw {
        let checked = item.window.0.clone().and_then(|seconds| {
            match implausible(item.usage.cpu.as_cores(), item.usage.memory.as_bytes()) {
                Some(problem) => Err(problem),
                None => Ok(seconds),
            }
        });
        let window_seconds = match checked {
            Ok(seconds) => seconds,
            Err(reason) => {
                skipped.push(SkippedItem {
                    path,
                    item: item.metadata.name,
                    reason,
                });
                continue;
            }
        };
        items.push(NodeUsage {
            window_seconds,
            name: item.metadata.name,
            timestamp: item.timestamp,
            cpu_cores: item.usage.cpu.as_cores(),
            memory_bytes: item.usage.memory.as_bytes(),
        });
    }
    Ok(Listed { items, skipped })
}

/// Seconds in a Go `time.Duration` string as metrics-server writes `window`
/// (`30s`, `1m0s`, `20.5s`, `150ms`).
pub fn go_duration_seconds(text: &str) -> Option<f64> {
    if text == "0" {
        return Some(0.0);
    }
    let mut total = 0.0;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let value: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let units = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..units] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[units..];
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, cpu: &str, window: &str) -> String {
        format!(
            r#"{{"metadata": {{"name": "{name}", "namespace": "shop"}}, "timestamp": "2026-11-02T00:01:00Z", "window": "{window}",
               "containers": [{{"name": "app", "usage": {{"cpu": "{cpu}", "memory": "1Mi"}}}}]}}"#
        )
    }

    #[test]
    fn a_malformed_item_is_skipped_and_named_and_the_rest_of_the_list_is_used() {
        let body = format!(
            r#"{{"kind": "PodMetricsList", "items": [{}, {}, {}, {}, {}]}}"#,
            pod("ok-1", "250m", "30s"),
            pod("bad-quantity", "lots", "30s"),
            pod("bad-window", "1", "forever"),
            pod("negative", "-1", "30s"),
            r#"{"metadata": {}, "containers": []}"#,
        );
        let listed = pod_usage_from(&body).unwrap();
        let names: Vec<&str> = listed.items.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["ok-1"]);
        assert_eq!(listed.items[0].containers[0].cpu_cores, 0.25);
        let skipped: Vec<&str> = listed.skipped.iter().map(|s| s.item.as_str()).collect();
        assert_eq!(
            skipped,
            [
                "shop/bad-quantity",
                "#4",
                "shop/bad-window",
                "shop/negative"
            ]
        );
        assert!(listed.skipped[2].reason.contains("forever"), "{listed:?}");
    }

    #[test]
    fn a_body_that_is_not_a_list_is_an_error_and_a_clean_list_skips_nothing() {
        for body in ["", "<html>502</html>", r#"{"items": 3}"#] {
            assert!(matches!(
                pod_usage_from(body),
                Err(MetricsError::Body { .. })
            ));
        }
        let body = format!(r#"{{"items": [{}]}}"#, pod("ok", "1", "1m0s"));
        let listed = pod_usage_from(&body).unwrap();
        assert_eq!((listed.items.len(), listed.skipped.len()), (1, 0));
        let nodes = node_usage_from(
            r#"{"items": [{"metadata": {"name": "n1"}, "timestamp": "2026-11-02T00:01:00Z", "window": "20s", "usage": {"cpu": "2", "memory": "-5"}}]}"#,
        )
        .unwrap();
        assert_eq!((nodes.items.len(), nodes.skipped.len()), (0, 1));
    }

    #[test]
    fn usage_beyond_any_machine_is_skipped_per_item() {
        let body = format!(
            r#"{{"kind": "PodMetricsList", "items": [{}, {}, {}]}}"#,
            pod("ok", "2", "30s"),
            pod("absurd", "1e12", "30s"),
            pod("huge", "99999999999999999999999Ei", "30s"),
        );
        let listed = pod_usage_from(&body).unwrap();
        let names: Vec<&str> = listed.items.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["ok"]);
        let skipped: Vec<&str> = listed.skipped.iter().map(|s| s.item.as_str()).collect();
        assert_eq!(skipped, ["shop/absurd", "shop/huge"], "{listed:?}");
    }

    #[test]
    fn a_list_of_the_wrong_kind_is_refused() {
        let body = format!(
            r#"{{"kind": "NodeMetricsList", "items": [{}]}}"#,
            pod("ok", "1", "30s")
        );
        let error = pod_usage_from(&body).unwrap_err();
        assert_eq!(
            error.to_string(),
            "/apis/metrics.k8s.io/v1beta1/pods: the response is a NodeMetricsList, not a PodMetricsList"
        );
    }

    #[test]
    fn reads_go_durations() {
        assert_eq!(go_duration_seconds("30s"), Some(30.0));
        assert_eq!(go_duration_seconds("1m0s"), Some(60.0));
        assert_eq!(go_duration_seconds("20.5s"), Some(20.5));
        assert_eq!(go_duration_seconds("150ms"), Some(0.15));
        assert_eq!(go_duration_seconds("1h2m3s"), Some(3723.0));
        for bad in ["", "s", "30", "30x", "1m-2s"] {
            assert_eq!(go_duration_seconds(bad), None, "{bad}");
        }
    }
}
