//! The HTTP endpoints over real TCP: a collector's shared state filled by
//! hand, served on a free port, read with a raw HTTP/1.1 request.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use kubetally::allocate::{Sample, SampleContext};
use kubetally::cluster::{
    Collection, ContainerResources, Phase, SlimContainer, SlimNode, SlimPod, lock,
};
use kubetally::collect::{Collector, Stats};
use kubetally::model::units::millicores;
use kubetally::model::{NodeFacts, Quantity};
use kubetally::pricing::{PriceBook, PricingOptions, classify};
use kubetally::serve::{ServeError, ServeState, bind, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

fn node(name: &str, labels: &[(&str, &str)], gpus: u32) -> SlimNode {
    SlimNode {
        facts: NodeFacts {
            name: name.to_owned(),
            provider_id: Some(format!("gce://proj/us-central1-a/{name}")),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
            cpu_capacity: Quantity::from_cores(4.0),
            memory_capacity: Quantity::from_bytes(16 << 30),
            gpu_capacity: gpus,
            gpu_sharing: Default::default(),
        },
        allocatable_cpu_cores: 3.92,
        allocatable_memory_bytes: 14 << 30,
        created: None,
        deleted: None,
    }
}

fn nodes() -> Vec<SlimNode> {
    vec![
        node(
            "n-e2",
            &[
                ("node.kubernetes.io/instance-type", "e2-standard-4"),
                ("topology.kubernetes.io/region", "us-central1"),
                ("kubernetes.io/arch", "amd64"),
            ],
            0,
        ),
        node(
            "n-gpu",
            &[
                ("node.kubernetes.io/instance-type", "n1-standard-4"),
                ("topology.kubernetes.io/region", "us-central1"),
                ("cloud.google.com/gke-accelerator", "nvidia-tesla-t4"),
                ("cloud.google.com/gke-spot", "true"),
            ],
            2,
        ),
    ]
}

fn gpu_pod() -> SlimPod {
    SlimPod {
        uid: "uid-train".into(),
        namespace: "ml".into(),
        name: "train-0".into(),
        node: Some("n-gpu".into()),
        labels: Arc::new([]),
        owner: None,
        phase: Phase::Running,
        started: None,
        ended: None,
        ready_at: None,
        containers: vec![SlimContainer {
            name: "trainer".into(),
            resources: ContainerResources {
                gpus: 1,
                ..ContainerResources::default()
            },
            restarts: 0,
            last_oom_kill: None,
        }],
        ..SlimPod::default()
    }
}

#[allow(clippy::too_many_arguments)]
fn sample(
    namespace: &str,
    pod: &str,
    container: &str,
    node: &str,
    cpu_request_cores: Option<f64>,
    cpu_usage_cores: f64,
    memory_request_bytes: Option<i64>,
    memory_usage_bytes: i64,
) -> Sample {
    Sample {
        ts: Utc
            .timestamp_opt(1_900_000_000, 0)
            .single()
            .unwrap_or_else(|| panic!("timestamp")),
        window_seconds: 30.0,
        context: std::sync::Arc::new(SampleContext {
            namespace: namespace.into(),
            pod: pod.into(),
            pod_uid: format!("uid-{pod}").into(),
            container: container.into(),
            node: node.into(),
            workload_kind: "Pod".into(),
            workload_name: pod.into(),
            tenant: "acme".into(),
            cpu_request_cores,
            cpu_limit_cores: None,
            memory_request_bytes,
            memory_limit_bytes: None,
        }),
        cpu_usage_millicores: millicores(cpu_usage_cores),
        memory_usage_bytes,
    }
}

/// Every collection completes a first list holding `nodes` and `pods`.
fn sync(collector: &Collector, nodes: Vec<SlimNode>, pods: Vec<SlimPod>) {
    let mut inventory = lock(&collector.inventory);
    for collection in Collection::ALL {
        inventory.relist_begin(collection);
    }
    for node in nodes {
        inventory.apply_node(node);
    }
    for pod in pods {
        inventory.apply_pod(pod);
    }
    for collection in Collection::ALL {
        inventory.relist_done(collection);
    }
}

fn price_book() -> Arc<PriceBook> {
    Arc::new(PriceBook::new(Vec::new(), PricingOptions::default()).unwrap())
}

struct Running {
    addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), ServeError>>,
}

impl Running {
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match tokio::time::timeout(Duration::from_secs(5), self.task).await {
            Ok(Ok(result)) => result.unwrap_or_else(|error| panic!("{error:#}")),
            Ok(Err(join)) => panic!("server task: {join}"),
            Err(_) => panic!("server did not stop"),
        }
    }
}

async fn start(state: ServeState) -> Running {
    let listener = bind(([127, 0, 0, 1], 0).into()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown: std::pin::Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async {
        let _ = stopped.await;
    });
    let task = tokio::spawn(serve(listener, state, shutdown));
    Running {
        addr,
        stop: Some(stop),
        task,
    }
}

/// A status code, the headers (lowercase names) and the body.
struct Reply {
    status: u16,
    headers: String,
    body: String,
}

async fn get(addr: std::net::SocketAddr, path: &str) -> Reply {
    let mut stream = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|error| panic!("connect {addr}: {error}"));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .unwrap_or_else(|error| panic!("write: {error}"));
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .unwrap_or_else(|_| panic!("GET {path}: no reply in 10 s"))
        .unwrap_or_else(|error| panic!("read: {error}"));
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {raw:?}"));
    let (status_line, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("status line {status_line:?}"));
    Reply {
        status,
        headers: headers.to_ascii_lowercase(),
        body: body.to_owned(),
    }
}

/// The value of the one series starting with `selector` (name and labels).
fn value(metrics: &str, selector: &str) -> f64 {
    let lines: Vec<&str> = metrics
        .lines()
        .filter(|line| line.starts_with(selector))
        .collect();
    assert_eq!(lines.len(), 1, "series {selector} in\n{metrics}");
    lines[0]
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("value of {}", lines[0]))
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_serves_opencost_prices_and_allocations() {
    let collector = Collector::default();
    sync(&collector, nodes(), vec![gpu_pod()]);
    if let Ok(mut latest) = collector.latest.lock() {
        *latest = vec![
            // Usage below request: the request counts.
            sample(
                "shop",
                "api-1",
                "api",
                "n-e2",
                Some(1.0),
                0.25,
                Some(2 << 30),
                1 << 30,
            ),
            // Usage above request, memory without request: usage counts.
            sample("web", "hog-1", "hog", "n-e2", Some(0.5), 1.5, None, 3 << 30),
            sample(
                "ml",
                "train-0",
                "trainer",
                "n-gpu",
                Some(2.0),
                1.0,
                Some(1 << 30),
                1 << 29,
            ),
        ];
    }
    Stats::add(&collector.stats.samples, 3);
    Stats::set(&collector.stats.last_sample_seconds, 1_900_000_000);
    collector.stats.error("metrics");
    let prices = price_book();
    let server = start(ServeState::new(
        &collector,
        prices.clone(),
        "test",
        Duration::from_secs(60),
    ))
    .await;

    let reply = get(server.addr, "/metrics").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply
            .headers
            .contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
        "{}",
        reply.headers
    );
    let metrics = reply.body;

    let e2 = {
        let inventory = lock(&collector.inventory);
        let node = inventory
            .node("n-e2")
            .unwrap_or_else(|| panic!("n-e2 in inventory"));
        prices.price(&classify(&node.facts))
    };
    let e2_labels = "{instance=\"n-e2\",node=\"n-e2\",instance_type=\"e2-standard-4\",\
                     region=\"us-central1\",provider_id=\"gce://proj/us-central1-a/n-e2\",arch=\"amd64\"}";
    assert!(e2.total_hourly_usd() > 0.0);
    assert_eq!(
        value(&metrics, &format!("node_total_hourly_cost{e2_labels}")),
        e2.total_hourly_usd()
    );
    assert_eq!(
        value(&metrics, &format!("node_cpu_hourly_cost{e2_labels}")),
        e2.cpu_core_hour_usd()
    );
    assert_eq!(
        value(&metrics, &format!("node_ram_hourly_cost{e2_labels}")),
        e2.memory_gib_hour_usd()
    );
    assert_eq!(
        value(&metrics, &format!("kubecost_node_is_spot{e2_labels}")),
        0.0
    );
    assert_eq!(value(&metrics, &format!("node_gpu_count{e2_labels}")), 0.0);

    let gpu = {
        let inventory = lock(&collector.inventory);
        let node = inventory
            .node("n-gpu")
            .unwrap_or_else(|| panic!("n-gpu in inventory"));
        prices.price(&classify(&node.facts))
    };
    assert!(gpu.gpu_hourly_usd > 0.0);
    assert_eq!(value(&metrics, "node_gpu_count{instance=\"n-gpu\""), 2.0);
    assert_eq!(
        value(&metrics, "node_gpu_hourly_cost{instance=\"n-gpu\""),
        gpu.gpu_hourly_usd / 2.0
    );
    assert_eq!(
        value(&metrics, "kubecost_node_is_spot{instance=\"n-gpu\""),
        1.0
    );

    let container = |ns: &str, pod: &str, c: &str, node: &str| {
        format!(
            "{{namespace=\"{ns}\",pod=\"{pod}\",container=\"{c}\",instance=\"{node}\",node=\"{node}\"}}"
        )
    };
    let api = container("shop", "api-1", "api", "n-e2");
    let hog = container("web", "hog-1", "hog", "n-e2");
    let trainer = container("ml", "train-0", "trainer", "n-gpu");
    assert_eq!(
        value(&metrics, &format!("container_cpu_allocation{api}")),
        1.0
    );
    assert_eq!(
        value(&metrics, &format!("container_cpu_allocation{hog}")),
        1.5
    );
    assert_eq!(
        value(&metrics, &format!("container_memory_allocation_bytes{api}")),
        (2_i64 << 30) as f64
    );
    assert_eq!(
        value(&metrics, &format!("container_memory_allocation_bytes{hog}")),
        (3_i64 << 30) as f64
    );
    assert_eq!(
        value(&metrics, &format!("container_gpu_allocation{trainer}")),
        1.0
    );
    assert!(!metrics.contains(&format!("container_gpu_allocation{api}")));

    assert_eq!(value(&metrics, "kubetally_samples_total "), 3.0);
    assert_eq!(
        value(&metrics, "kubetally_errors_total{kind=\"metrics\"}"),
        1.0
    );
    assert_eq!(
        value(&metrics, "kubetally_last_sample_timestamp_seconds "),
        1_900_000_000.0
    );
    assert_eq!(value(&metrics, "kubetally_unpriced_nodes "), 0.0);
    assert_eq!(value(&metrics, "kubetally_cache_nodes "), 2.0);
    assert_eq!(value(&metrics, "kubetally_cache_pods "), 1.0);
    assert_eq!(
        value(&metrics, "kubetally_info{cluster=\"test\",version="),
        1.0
    );
    for family in [
        "node_total_hourly_cost",
        "container_cpu_allocation",
        "kubetally_samples_total",
    ] {
        assert_eq!(
            metrics.matches(&format!("# TYPE {family} ")).count(),
            1,
            "{family}"
        );
    }

    let missing = get(server.addr, "/nope").await;
    assert_eq!(missing.status, 404);
    server.stop().await;
}

/// A node whose capacity does not parse is kept and counted on `/metrics`
/// under its own kind, next to the other failures.
#[tokio::test(flavor = "multi_thread")]
async fn a_node_whose_capacity_does_not_parse_is_counted_on_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let sim = crate::support::start(&crate::collect::scenario_config()).await;
    sim.sim
        .store
        .put(
            kubetally::sim::resources::NODES,
            serde_json::json!({
                "metadata": {
                    "name": "n-bad",
                    "labels": {"node.kubernetes.io/instance-type": "e2-standard-4"}
                },
                "status": {"capacity": {"cpu": "lots", "memory": "16Gi"}}
            }),
        )
        .unwrap();
    let collector = Collector::default();
    crate::collect::collect_with(&collector, &sim, dir.path(), chrono::Duration::minutes(3)).await;
    crate::support::stop(sim).await;
    let server = start(ServeState::new(
        &collector,
        price_book(),
        "test",
        Duration::from_secs(60),
    ))
    .await;

    let metrics = get(server.addr, "/metrics").await.body;
    server.stop().await;

    assert!(
        value(&metrics, "kubetally_errors_total{kind=\"node_capacity\"}") >= 1.0,
        "{metrics}"
    );
    let inventory = lock(&collector.inventory);
    let node = inventory
        .node("n-bad")
        .unwrap_or_else(|| panic!("n-bad is kept in the inventory"));
    assert_eq!(node.facts.cpu_capacity, Quantity::ZERO);
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_waits_for_synced_caches_and_recent_samples() {
    let collector = Collector::default();
    let state = ServeState::new(&collector, price_book(), "test", Duration::from_secs(60));
    let server = start(state.clone()).await;

    let health = get(server.addr, "/healthz").await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));

    let before = get(server.addr, "/readyz").await;
    assert_eq!(before.status, 503);
    assert_eq!(
        before.body,
        "caches not synced: pods, nodes, namespaces, replicasets, deployments, statefulsets, \
         daemonsets, jobs, cronjobs, horizontalpodautoscalers, poddisruptionbudgets, \
         storageclasses, persistentvolumes, persistentvolumeclaims, services\n"
    );

    sync(&collector, nodes(), Vec::new());
    let after = get(server.addr, "/readyz").await;
    assert_eq!((after.status, after.body.as_str()), (200, "ok\n"));
    Stats::set(&collector.stats.last_sample_seconds, 1_900_000_000);
    let sampled = get(server.addr, "/readyz").await;
    assert_eq!(sampled.status, 200, "{}", sampled.body);
    server.stop().await;

    // The same collector with no patience: a sample time that stops moving
    // fails readiness, whatever that sample time says.
    let impatient = ServeState {
        sample_silence_limit: Duration::ZERO,
        ..state
    };
    let server = start(impatient).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let stale = get(server.addr, "/readyz").await;
    assert_eq!(stale.status, 503);
    assert!(
        stale.body.starts_with("no sample for ") && stale.body.ends_with(" s (limit 0 s)\n"),
        "{}",
        stale.body
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn binding_a_taken_port_names_the_address() {
    let taken = bind(([127, 0, 0, 1], 0).into()).await.unwrap();
    let addr = taken.local_addr().unwrap();
    let error = match bind(addr).await {
        Ok(_) => panic!("bound {addr} twice"),
        Err(error) => error,
    };
    assert!(error.to_string().contains(&addr.to_string()), "{error}");
}
