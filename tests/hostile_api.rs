//! A hostile API server (issue 22, item 5): a small axum server on loopback
//! that answers what a broken proxy or a corrupt object store would. Each
//! case must end in a counted, named error or a skipped item, never a
//! crash, a hang or a billed absurdity.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::Uri;
use axum::routing::get;
use kubetally::cluster::{Inventory, lock};
use kubetally::source::metrics::{Limits, MetricsError, POD_METRICS_PATH, pod_usage_within};
use kubetally::source::watch::{self, OnError, WatchError};

/// Serves `router` on a free loopback port; a client pointed at it.
async fn serve(router: Router) -> kube::Client {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let config = kube::Config::new(format!("http://{addr}").parse().unwrap());
    kube::Client::try_from(config).unwrap()
}

/// A server whose pod metrics answer is `body`.
async fn metrics_server(body: impl Fn() -> Body + Clone + Send + Sync + 'static) -> kube::Client {
    serve(Router::new().route(POD_METRICS_PATH, get(move || async move { body() }))).await
}

const SMALL: Limits = Limits {
    max_body_bytes: 64 * 1024,
    timeout: Duration::from_secs(2),
};

fn pod_item(name: &str, cpu: &str) -> String {
    format!(
        r#"{{"metadata": {{"name": "{name}", "namespace": "shop"}}, "timestamp": "2026-11-02T00:01:00Z", "window": "30s",
           "containers": [{{"name": "app", "usage": {{"cpu": "{cpu}", "memory": "1Mi"}}}}]}}"#
    )
}

#[tokio::test]
async fn a_huge_metrics_response_is_refused_at_the_limit() {
    let client = metrics_server(|| {
        let filler = " ".repeat(4 << 20);
        Body::from(format!(
            r#"{{"kind": "PodMetricsList", "items": [{filler}]}}"#
        ))
    })
    .await;
    let error = pod_usage_within(&client, &SMALL).await.unwrap_err();
    assert!(
        matches!(error, MetricsError::TooLarge { limit: 65536, .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "/apis/metrics.k8s.io/v1beta1/pods: the response is longer than 65536 bytes"
    );
}

#[tokio::test]
async fn a_slow_drip_metrics_response_is_abandoned_at_the_timeout() {
    let client = metrics_server(|| {
        // A byte every 100 ms, forever: each read makes progress, the
        // response never completes.
        let drip = futures_util::stream::unfold(0_u64, |n| async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let byte = if n == 0 { "{" } else { " " };
            Some((Ok::<_, std::io::Error>(byte), n + 1))
        });
        Body::from_stream(drip)
    })
    .await;
    let started = Instant::now();
    let error = pod_usage_within(&client, &SMALL).await.unwrap_err();
    let took = started.elapsed();
    assert!(matches!(error, MetricsError::TimedOut { .. }), "{error:?}");
    assert!(
        took >= SMALL.timeout && took < SMALL.timeout + Duration::from_secs(5),
        "abandoned at the timeout: {took:?}"
    );
}

#[tokio::test]
async fn malformed_json_is_an_error_naming_the_path() {
    let client =
        metrics_server(|| Body::from(r#"{"kind": "PodMetricsList", "items": [{"metadata": "#))
            .await;
    let error = pod_usage_within(&client, &SMALL).await.unwrap_err();
    assert!(matches!(error, MetricsError::Body { .. }), "{error:?}");
    assert!(error.to_string().starts_with(POD_METRICS_PATH), "{error}");
}

#[tokio::test]
async fn a_list_of_the_wrong_kind_is_refused() {
    let client = metrics_server(|| {
        Body::from(format!(
            r#"{{"kind": "NodeMetricsList", "items": [{}]}}"#,
            pod_item("api-1", "1")
        ))
    })
    .await;
    let error = pod_usage_within(&client, &SMALL).await.unwrap_err();
    assert!(matches!(error, MetricsError::WrongKind { .. }), "{error:?}");
}

#[tokio::test]
async fn quantities_out_of_range_skip_their_item_and_keep_the_rest() {
    let client = metrics_server(|| {
        Body::from(format!(
            r#"{{"kind": "PodMetricsList", "items": [{}, {}, {}, {}]}}"#,
            pod_item("ok", "250m"),
            pod_item("negative", "-3"),
            pod_item("absurd", "1e15"),
            pod_item("not-a-number", "NaN"),
        ))
    })
    .await;
    let listed = pod_usage_within(&client, &SMALL).await.unwrap();
    let billed: Vec<&str> = listed.items.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(billed, ["ok"]);
    let skipped: Vec<&str> = listed.skipped.iter().map(|s| s.item.as_str()).collect();
    assert_eq!(
        skipped,
        ["shop/not-a-number", "shop/negative", "shop/absurd"],
        "{listed:?}"
    );
}

/// A list answer of `items` for any collection, and watches that stay open
/// and silent.
fn lists(pods: String, nodes: String) -> Router {
    let answer = move |uri: Uri| {
        let (pods, nodes) = (pods.clone(), nodes.clone());
        async move {
            if uri.query().is_some_and(|q| q.contains("watch=true")) {
                return Body::from_stream(futures_util::stream::pending::<
                    Result<&'static str, std::io::Error>,
                >());
            }
            let items = match uri.path() {
                "/api/v1/pods" => pods,
                "/api/v1/nodes" => nodes,
                _ => String::new(),
            };
            Body::from(format!(
                r#"{{"kind": "List", "apiVersion": "v1", "metadata": {{"resourceVersion": "1"}}, "items": [{items}]}}"#
            ))
        }
    };
    Router::new().fallback(get(answer))
}

fn pod(uid: Option<&str>, namespace: Option<&str>, name: &str, cpu: &str) -> String {
    let mut meta = serde_json::json!({"name": name});
    if let Some(uid) = uid {
        meta["uid"] = uid.into();
    }
    if let Some(namespace) = namespace {
        meta["namespace"] = namespace.into();
    }
    serde_json::json!({
        "metadata": meta,
        "spec": {"nodeName": "n1", "containers": [{"name": "app", "resources": {"requests": {"cpu": cpu, "memory": "1Gi"}}}]},
        "status": {"phase": "Running", "startTime": "2026-11-02T00:00:00Z"}
    })
    .to_string()
}

fn node(uid: Option<&str>, name: &str) -> String {
    let mut meta = serde_json::json!({"name": name});
    if let Some(uid) = uid {
        meta["uid"] = uid.into();
    }
    serde_json::json!({
        "metadata": meta,
        "status": {"capacity": {"cpu": "4", "memory": "16Gi"}}
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn pods_and_nodes_without_uid_or_namespace_or_with_absurd_requests_are_skipped_and_counted() {
    let pods = [
        pod(Some("u1"), Some("shop"), "good", "500m"),
        pod(None, Some("shop"), "no-uid", "500m"),
        pod(Some("u3"), None, "no-namespace", "500m"),
        pod(Some("u4"), Some("shop"), "absurd", "1e9"),
    ]
    .join(",");
    let nodes = [node(Some("n1-uid"), "n1"), node(None, "n2")].join(",");
    let client = serve(lists(pods, nodes)).await;
    let inventory = Arc::new(Mutex::new(Inventory::default()));
    let errors: Arc<Mutex<Vec<String>>> = Arc::default();
    let on_error: OnError = {
        let errors = errors.clone();
        Arc::new(move |error: WatchError| {
            if let WatchError::Unusable { .. } = &error {
                errors.lock().unwrap().push(error.to_string());
            }
        })
    };
    let tasks = watch::spawn_all(&client, &inventory, &on_error);
    let give_up = Instant::now() + Duration::from_secs(20);
    while errors.lock().unwrap().len() < 4 && Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for task in tasks {
        task.abort();
    }
    let mut errors = errors.lock().unwrap().clone();
    errors.sort();
    assert_eq!(
        errors,
        [
            "nodes n2: no uid",
            "pods no-namespace: no namespace",
            "pods shop/absurd: container app's cpu 1000000000 cores is beyond any machine (limit 100000)",
            "pods shop/no-uid: no uid",
        ]
    );
    let inventory = lock(&inventory);
    assert_eq!(inventory.pod_count(), 1, "only the good pod is kept");
    assert!(inventory.node("n1").is_some() && inventory.node("n2").is_none());
}
