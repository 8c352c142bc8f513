//! The simulator's injected faults (`--faults`) as the real kube client sees them.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::watcher;
use kubetally::sim::{ClusterSpec, FaultSpec, SimConfig, SimServer};
use serde_json::json;

use crate::support::{client, kube_config, start, stop, synced_reflector};

fn config(faults: &str) -> SimConfig {
    SimConfig {
        cluster: ClusterSpec {
            nodes: 5,
            pods: 40,
            seed: 7,
            ..ClusterSpec::default()
        },
        faults: faults
            .parse()
            .unwrap_or_else(|error| panic!("{faults}: {error}")),
        ..SimConfig::default()
    }
}

fn faults(text: &str) -> FaultSpec {
    text.parse()
        .unwrap_or_else(|error| panic!("{text}: {error}"))
}

/// A client that shows every error status as the server sent it.
fn client_without_retries(server: &SimServer) -> kube::Client {
    let mut config = kube_config(server);
    config.default_retry = false;
    kube::Client::try_from(config).unwrap()
}

/// GETs a collection; the error is the server's Status.
async fn get_collection(client: &kube::Client, path: &str) -> Result<String, kube::Error> {
    let request = kube::core::Request::new(path)
        .list(&ListParams::default().limit(1))
        .unwrap_or_else(|error| panic!("{path}: {error}"));
    client.request_text(request).await
}

fn api_status(error: &kube::Error) -> (u16, String) {
    match error {
        kube::Error::Api(status) => (status.code, status.reason.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn throttled_lists_fail_with_429_and_retry_after_until_the_faults_are_cleared() {
    let server = start(&config("list=100%:429")).await;
    let client = client_without_retries(&server);
    let pods: Api<Pod> = Api::all(client.clone());

    let error = pods
        .list(&ListParams::default())
        .await
        .expect_err("every list is throttled");
    assert_eq!(api_status(&error), (429, "TooManyRequests".to_owned()));
    let kube::Error::Api(status) = &error else {
        panic!("{error:?}");
    };
    assert_eq!(
        status.details.as_ref().map(|d| d.retry_after_seconds),
        Some(1),
        "{status:?}"
    );

    let request = kube::core::Request::new("/api/v1/pods")
        .list(&ListParams::default())
        .unwrap();
    let response = client
        .send(request.map(kube::client::Body::from))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok()),
        Some("1")
    );
    // Discovery is never faulted: kubectl and kube can always find the API.
    client
        .apiserver_version()
        .await
        .unwrap_or_else(|error| panic!("/version: {error}"));

    assert_eq!(server.sim.fault_counts().list, 2);
    server.sim.set_faults(FaultSpec::default());
    let listed = pods
        .list(&ListParams::default())
        .await
        .unwrap_or_else(|error| panic!("after clearing the faults: {error}"));
    assert!(!listed.items.is_empty());
    assert_eq!(server.sim.fault_counts().list, 2);
    stop(server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_down_inside_the_outage_window_and_up_outside_it() {
    // Simulated time starts at the epoch, the first hour of a 2h period.
    let server = start(&config("metrics-down=1h/2h")).await;
    let client = client_without_retries(&server);
    let error = get_collection(&client, "/apis/metrics.k8s.io/v1beta1/pods")
        .await
        .expect_err("metrics are down");
    assert_eq!(api_status(&error), (503, "ServiceUnavailable".to_owned()));
    let error = get_collection(&client, "/apis/metrics.k8s.io/v1beta1/nodes")
        .await
        .expect_err("metrics are down");
    assert_eq!(api_status(&error), (503, "ServiceUnavailable".to_owned()));
    get_collection(&client, "/api/v1/pods")
        .await
        .unwrap_or_else(|error| panic!("pods must stay up during a metrics outage: {error}"));
    assert_eq!(server.sim.fault_counts().metrics_down, 2);

    // A 1ms outage per hour is over once a millisecond of simulated time has passed.
    while server.sim.clock.now() - kubetally::sim::epoch() < chrono::Duration::milliseconds(5) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.sim.set_faults(faults("metrics-down=1ms/1h"));
    let metrics = get_collection(&client, "/apis/metrics.k8s.io/v1beta1/pods")
        .await
        .unwrap_or_else(|error| panic!("metrics must be up outside the window: {error}"));
    assert!(metrics.contains("PodMetricsList"), "{metrics}");
    assert_eq!(server.sim.fault_counts().metrics_down, 2);
    stop(server).await;
}

/// The leases the server holds, as (namespace/name, resourceVersion).
fn versions<'a>(leases: impl IntoIterator<Item = &'a Lease>) -> BTreeMap<String, String> {
    leases
        .into_iter()
        .map(|lease| {
            (
                format!(
                    "{}/{}",
                    lease.metadata.namespace.as_deref().unwrap_or_default(),
                    lease.metadata.name.as_deref().unwrap_or_default()
                ),
                lease.metadata.resource_version.clone().unwrap_or_default(),
            )
        })
        .collect()
}

fn lease(name: &str, holder: &str) -> Lease {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15}
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reflector_stays_in_sync_through_cut_watches_and_expired_versions() {
    let server = start(&config("cut=300ms,gone=50%")).await;
    let client = client(&server);
    let all: Api<Lease> = Api::all(client.clone());
    // Errors (each cut) are dropped; the watcher recovers by itself.
    let (reader, task) = synced_reflector(all.clone(), watcher::Config::default()).await;

    // Changes over about two seconds, so they straddle several cuts.
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    for round in 0..6 {
        for index in 0..3 {
            let name = format!("lease-{round}-{index}");
            leases
                .create(&PostParams::default(), &lease(&name, "a"))
                .await
                .unwrap_or_else(|error| panic!("create {name}: {error}"));
        }
        if round > 0 {
            let previous = format!("lease-{}-0", round - 1);
            let mut changed = leases
                .get(&previous)
                .await
                .unwrap_or_else(|error| panic!("get {previous}: {error}"));
            changed.spec.get_or_insert_default().holder_identity = Some("b".into());
            leases
                .replace(&previous, &PostParams::default(), &changed)
                .await
                .unwrap_or_else(|error| panic!("replace {previous}: {error}"));
            let gone = format!("lease-{}-1", round - 1);
            leases
                .delete(&gone, &DeleteParams::default())
                .await
                .unwrap_or_else(|error| panic!("delete {gone}: {error}"));
        }
        tokio::time::sleep(Duration::from_millis(350)).await;
    }

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let (mut cached, mut listed);
    loop {
        listed = versions(&all.list(&ListParams::default()).await.unwrap().items);
        cached = versions(reader.state().iter().map(|lease| &**lease));
        let counts = server.sim.fault_counts();
        let done = cached == listed && counts.cut > 0 && counts.gone > 0;
        if done || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ours = listed
        .keys()
        .filter(|key| key.starts_with("kube-system/lease-"))
        .count();
    assert_eq!(ours, 6 * 3 - 5, "{listed:?}");
    assert_eq!(
        cached, listed,
        "the reflector's store differs from the server"
    );
    let counts = server.sim.fault_counts();
    assert!(counts.cut > 0, "no watch was cut: {counts:?}");
    assert!(counts.gone > 0, "no watch was answered 410: {counts:?}");
    task.abort();
    stop(server).await;
}

/// A raw HTTP/1.1 watch, read until the server closes the connection.
///
/// kube's client reads an aborted chunked body as a resumable end of the
/// watch, so only the bytes on the wire tell an abort from a clean end: a
/// clean end sends the last chunk, `0\r\n\r\n`.
fn raw_watch(server: &SimServer, query: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(server.addr)
        .unwrap_or_else(|error| panic!("connecting: {error}"));
    // Bounds the test if the server never ends the stream.
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "GET /api/v1/pods?watch=1&{query} HTTP/1.1\r\nHost: sim\r\nConnection: close\r\n\r\n"
    )
    .unwrap_or_else(|error| panic!("writing the request: {error}"));
    let mut received = Vec::new();
    match stream.read_to_end(&mut received) {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(error) => panic!("reading the watch: {error}"),
    }
    String::from_utf8_lossy(&received).into_owned()
}

#[test]
fn a_cut_watch_is_aborted_mid_stream_not_ended_cleanly() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(start(&config("")));
    let clean = raw_watch(&server, "timeoutSeconds=1");
    assert!(clean.starts_with("HTTP/1.1 200"), "{clean}");
    assert!(
        clean.ends_with("\r\n0\r\n\r\n"),
        "a timeout ends cleanly: {clean}"
    );
    assert_eq!(server.sim.fault_counts().cut, 0);

    server.sim.set_faults(faults("cut=200ms"));
    let cut = raw_watch(&server, "timeoutSeconds=30");
    assert!(cut.starts_with("HTTP/1.1 200"), "{cut}");
    assert!(cut.contains("\"type\":\"ADDED\""), "{cut}");
    assert!(
        !cut.ends_with("\r\n0\r\n\r\n"),
        "a cut watch must not end with the last chunk: {cut}"
    );
    assert_eq!(server.sim.fault_counts().cut, 1);
    runtime.block_on(stop(server));
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_requests_are_delayed_but_answered() {
    let server = start(&config("slow=100%:200ms")).await;
    let pods: Api<Pod> = Api::all(client(&server));
    let listed = pods.list(&ListParams::default().limit(5)).await.unwrap();
    assert_eq!(listed.items.len(), 5);
    assert_eq!(server.sim.fault_counts().slow, 1);
    stop(server).await;
}
