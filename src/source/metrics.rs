//! The metrics API (`metrics.k8s.io/v1beta1`): PodMetrics and NodeMetrics as
//! metrics-server serves them.
//!
//! Sample time is the item's `timestamp` (the end of its `window`), never the
//! collector's clock.

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

#[derive(Debug, Clone, Deserialize)]
struct RawContainer {
    name: String,
    usage: Usage,
}

#[derive(Debug, Clone, Deserialize)]
struct RawPodMetrics {
    metadata: ItemMeta,
    timestamp: DateTime<Utc>,
    window: String,
    #[serde(default)]
    containers: Vec<RawContainer>,
}

#[derive(Debug, Clone, Deserialize)]
struct RawNodeMetrics {
    metadata: ItemMeta,
    timestamp: DateTime<Utc>,
    window: String,
    usage: Usage,
}

#[derive(Debug, Clone, Deserialize)]
struct List<T> {
    items: Vec<T>,
}

/// One container's usage in one metrics window.
#[derive(Debug, Clone, PartialEq)]
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

async fn fetch(client: &Client, path: &'static str) -> Result<String, MetricsError> {
    let request =
        http::Request::get(path)
            .body(Vec::new())
            .map_err(|error| MetricsError::Request {
                path,
                cause: kube::Error::HttpError(error),
            })?;
    client
        .request_text(request)
        .await
        .map_err(|cause| MetricsError::Request { path, cause })
}

/// The items of a list body. The whole list decodes in one pass when every
/// item is well formed (every tick of a healthy cluster); otherwise item by
/// item, so one malformed item (a bad quantity, no name) is skipped instead
/// of making the whole tick a gap.
fn decode<T: DeserializeOwned>(
    path: &'static str,
    body: &str,
) -> Result<(Vec<T>, Vec<SkippedItem>), MetricsError> {
    if let Ok(list) = serde_json::from_str::<List<T>>(body) {
        return Ok((list.items, Vec::new()));
    }
    let raw: List<Box<RawValue>> =
        serde_json::from_str(body).map_err(|cause| MetricsError::Body { path, cause })?;
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

/// Usage the API should never report: negative.
fn negative(cpu: &Quantity, memory: &Quantity) -> Option<String> {
    (cpu.as_cores() < 0.0 || memory.as_bytes() < 0).then(|| {
        format!(
            "negative usage (cpu {} cores, memory {} bytes)",
            cpu.as_cores(),
            memory.as_bytes()
        )
    })
}

/// Every pod's latest usage sample.
///
/// # Errors
///
/// [`MetricsError`] when the API answers with an error or a body that is
/// not a list; unusable items are skipped ([`Listed::skipped`]).
pub async fn pod_usage(client: &Client) -> Result<Listed<PodUsage>, MetricsError> {
    pod_usage_from(&fetch(client, POD_METRICS_PATH).await?)
}

/// [`pod_usage`] from a response body.
///
/// # Errors
///
/// [`MetricsError::Body`] when the body is not a list.
pub fn pod_usage_from(body: &str) -> Result<Listed<PodUsage>, MetricsError> {
    let path = POD_METRICS_PATH;
    let (raw, mut skipped) = decode::<RawPodMetrics>(path, body)?;
    let mut items = Vec::with_capacity(raw.len());
    for item in raw {
        let checked = window_seconds(&item.window).and_then(|seconds| {
            match item
                .containers
                .iter()
                .find_map(|c| negative(&c.usage.cpu, &c.usage.memory))
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
            containers: item
                .containers
                .into_iter()
                .map(|c| ContainerUsage {
                    name: c.name,
                    cpu_cores: c.usage.cpu.as_cores(),
                    memory_bytes: c.usage.memory.as_bytes(),
                })
                .collect(),
        });
    }
    Ok(Listed { items, skipped })
}

/// Every node's latest usage sample.
///
/// # Errors
///
/// [`MetricsError`] as for [`pod_usage`].
pub async fn node_usage(client: &Client) -> Result<Listed<NodeUsage>, MetricsError> {
    node_usage_from(&fetch(client, NODE_METRICS_PATH).await?)
}

/// [`node_usage`] from a response body.
///
/// # Errors
///
/// [`MetricsError::Body`] when the body is not a list.
pub fn node_usage_from(body: &str) -> Result<Listed<NodeUsage>, MetricsError> {
    let path = NODE_METRICS_PATH;
    let (raw, mut skipped) = decode::<RawNodeMetrics>(path, body)?;
    let mut items = Vec::with_capacity(raw.len());
    for item in raw {
        let checked = window_seconds(&item.window).and_then(|seconds| {
            match negative(&item.usage.cpu, &item.usage.memory) {
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
