//! The metrics API (`metrics.k8s.io/v1beta1`): PodMetrics and NodeMetrics as
//! metrics-server serves them.
//!
//! Sample time is the item's `timestamp` (the end of its `window`), never the
//! collector's clock.

use chrono::{DateTime, Utc};
use kube::Client;
use serde::Deserialize;

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
    #[error("{path}: item {item}: window {window:?} is not a duration")]
    Window {
        path: &'static str,
        item: String,
        window: String,
    },
}

pub const POD_METRICS_PATH: &str = "/apis/metrics.k8s.io/v1beta1/pods";
pub const NODE_METRICS_PATH: &str = "/apis/metrics.k8s.io/v1beta1/nodes";

async fn list<T: serde::de::DeserializeOwned>(
    client: &Client,
    path: &'static str,
) -> Result<Vec<T>, MetricsError> {
    let request =
        http::Request::get(path)
            .body(Vec::new())
            .map_err(|error| MetricsError::Request {
                path,
                cause: kube::Error::HttpError(error),
            })?;
    let list: List<T> = client
        .request(request)
        .await
        .map_err(|cause| MetricsError::Request { path, cause })?;
    Ok(list.items)
}

/// Every pod's latest usage sample.
///
/// # Errors
///
/// [`MetricsError`] when the API answers with an error or an unreadable item.
pub async fn pod_usage(client: &Client) -> Result<Vec<PodUsage>, MetricsError> {
    let items: Vec<RawPodMetrics> = list(client, POD_METRICS_PATH).await?;
    items
        .into_iter()
        .map(|item| {
            let window_seconds =
                go_duration_seconds(&item.window).ok_or_else(|| MetricsError::Window {
                    path: POD_METRICS_PATH,
                    item: format!("{}/{}", item.metadata.namespace, item.metadata.name),
                    window: item.window.clone(),
                })?;
            Ok(PodUsage {
                namespace: item.metadata.namespace,
                name: item.metadata.name,
                timestamp: item.timestamp,
                window_seconds,
                containers: item
                    .containers
                    .into_iter()
                    .map(|c| ContainerUsage {
                        name: c.name,
                        cpu_cores: c.usage.cpu.as_cores(),
                        memory_bytes: c.usage.memory.as_bytes(),
                    })
                    .collect(),
            })
        })
        .collect()
}

/// Every node's latest usage sample.
///
/// # Errors
///
/// [`MetricsError`] when the API answers with an error or an unreadable item.
pub async fn node_usage(client: &Client) -> Result<Vec<NodeUsage>, MetricsError> {
    let items: Vec<RawNodeMetrics> = list(client, NODE_METRICS_PATH).await?;
    items
        .into_iter()
        .map(|item| {
            let window_seconds =
                go_duration_seconds(&item.window).ok_or_else(|| MetricsError::Window {
                    path: NODE_METRICS_PATH,
                    item: item.metadata.name.clone(),
                    window: item.window.clone(),
                })?;
            Ok(NodeUsage {
                name: item.metadata.name,
                timestamp: item.timestamp,
                window_seconds,
                cpu_cores: item.usage.cpu.as_cores(),
                memory_bytes: item.usage.memory.as_bytes(),
            })
        })
        .collect()
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
