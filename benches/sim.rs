//! Benchmarks of the simulated API server, the load generator of every
//! collector benchmark: if it is slow, collector figures measure it instead.
//!
//! - `sim/generate_10k`: generating a 10,000-pod cluster (startup cost).
//! - `sim/list_page_500`: one `GET /api/v1/pods?limit=500` page over HTTP from
//!   a 10,000-pod cluster, body read as text (server plus HTTP, no decoding).
//! - `sim/list_all_kube`: the whole pod list paginated by 500 through the kube
//!   client into typed `Pod`s, as a collector's initial list does.
//! - `sim/watch_1000_events`: 1,000 pod writes reaching an open watch as typed
//!   events through the kube client.
//! - `sim/pod_metrics`: one metrics.k8s.io PodMetrics list of 10,000 pods.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use kubetally::sim::etcd::Etcd;
use kubetally::sim::resources::PODS;
use kubetally::sim::{ClusterSpec, Sim, SimConfig, SimServer};
use serde_json::json;

const PODS_IN_BENCH: usize = 10_000;

fn config() -> SimConfig {
    SimConfig {
        cluster: ClusterSpec {
            nodes: 400,
            pods: PODS_IN_BENCH,
            seed: 1,
            ..ClusterSpec::default()
        },
        // A paused clock: the cluster does not change under the benchmark.
        speed: 0.0,
        ..SimConfig::default()
    }
}

fn client(server: &SimServer) -> kube::Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let url = server.url().parse().unwrap_or_else(|e| panic!("{e}"));
    kube::Client::try_from(kube::Config::new(url)).unwrap_or_else(|e| panic!("{e}"))
}

/// A GET whose body is read as text, not decoded: server and HTTP cost only.
async fn get_text(client: &kube::Client, path: &str) -> String {
    let request = http::Request::get(path)
        .body(Vec::new())
        .unwrap_or_else(|e| panic!("{e}"));
    client
        .request_text(request)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

fn sim(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let mut group = c.benchmark_group("sim");
    group.sample_size(10);

    group.throughput(Throughput::Elements(PODS_IN_BENCH as u64));
    group.bench_function("generate_10k", |b| {
        b.iter(|| black_box(Sim::new(&config()).unwrap_or_else(|e| panic!("{e}"))))
    });

    let listen = "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}"));
    let server = runtime
        .block_on(SimServer::start(&config(), listen))
        .unwrap_or_else(|e| panic!("{e}"));
    // kube's client spawns its buffer task: it must be built inside the runtime.
    let _entered = runtime.enter();
    let client = client(&server);

    group.throughput(Throughput::Elements(500));
    group.bench_function("list_page_500", |b| {
        b.iter(|| black_box(runtime.block_on(get_text(&client, "/api/v1/pods?limit=500"))))
    });

    group.throughput(Throughput::Elements(PODS_IN_BENCH as u64));
    let pods: Api<Pod> = Api::all(client.clone());
    group.bench_function("list_all_kube", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let mut params = ListParams::default().limit(500);
                let mut count = 0;
                loop {
                    let page = pods.list(&params).await.unwrap_or_else(|e| panic!("{e}"));
                    count += page.items.len();
                    match page.metadata.continue_ {
                        Some(token) if !token.is_empty() => params = params.continue_token(&token),
                        _ => break,
                    }
                }
                assert_eq!(count, PODS_IN_BENCH);
            })
        })
    });

    group.throughput(Throughput::Elements(PODS_IN_BENCH as u64));
    group.bench_function("pod_metrics", |b| {
        b.iter(|| {
            black_box(runtime.block_on(get_text(&client, "/apis/metrics.k8s.io/v1beta1/pods")))
        })
    });

    const EVENTS: usize = 1000;
    group.throughput(Throughput::Elements(EVENTS as u64));
    let watched: Api<Pod> = Api::namespaced(client.clone(), "bench");
    let store: &Etcd = &server.sim.store;
    let mut round = 0_u64;
    group.bench_function(BenchmarkId::new("watch_events", EVENTS), |b| {
        b.iter(|| {
            round += 1;
            runtime.block_on(async {
                let version = store.resource_version().to_string();
                let mut stream = watched
                    .watch(&WatchParams::default().timeout(60), &version)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"))
                    .boxed();
                for index in 0..EVENTS {
                    let pod = json!({"metadata": {"name": format!("p-{round}-{index}"), "namespace": "bench"}, "spec": {"containers": []}, "status": {"phase": "Pending"}});
                    store.put(PODS, pod).unwrap_or_else(|e| panic!("{e}"));
                }
                let mut received = 0;
                while let Some(event) = stream.try_next().await.unwrap_or_else(|e| panic!("{e}")) {
                    if matches!(event, WatchEvent::Added(_)) {
                        received += 1;
                        if received == EVENTS {
                            break;
                        }
                    }
                }
            })
        })
    });
    group.finish();
    let _ = runtime.block_on(server.stop());
}

criterion_group!(benches, sim);
criterion_main!(benches);
