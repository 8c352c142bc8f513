//! The simulated API server against real clients: kubectl and the kube crate.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kubetally::sim::resources::PODS;
use kubetally::sim::{ClusterSpec, SimConfig, SimServer};
use serde_json::json;

use crate::support::{client, runtime, start, stop, synced_reflector};

const PODS_IN_TEST: usize = 300;

fn config() -> SimConfig {
    SimConfig {
        cluster: ClusterSpec {
            nodes: 20,
            pods: PODS_IN_TEST,
            seed: 3,
            ..ClusterSpec::default()
        },
        ..SimConfig::default()
    }
}

/// Runs kubectl with a fresh discovery cache against `kubeconfig`.
pub(crate) struct Kubectl {
    kubeconfig: PathBuf,
    cache: tempfile::TempDir,
}

impl Kubectl {
    pub(crate) fn new(server: &SimServer, dir: &Path) -> Option<Kubectl> {
        if Command::new("kubectl")
            .arg("version")
            .arg("--client")
            .output()
            .is_err()
        {
            println!("SKIPPED: kubectl is not installed on this machine");
            return None;
        }
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(&kubeconfig, server.kubeconfig()).unwrap();
        Some(Kubectl {
            kubeconfig,
            cache: tempfile::tempdir().unwrap(),
        })
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("kubectl");
        command
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.cache.path())
            .args(args);
        command
    }

    pub(crate) fn run(&self, args: &[&str]) -> String {
        let output = self
            .command(args)
            .output()
            .unwrap_or_else(|error| panic!("kubectl: {error}"));
        assert!(
            output.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

#[test]
fn kubectl_lists_pages_tops_and_watches_the_simulated_cluster() {
    let runtime = runtime();
    let server = runtime.block_on(start(&config()));
    let dir = tempfile::tempdir().unwrap();
    let Some(kubectl) = Kubectl::new(&server, dir.path()) else {
        return;
    };

    // Chunks smaller than the pod count: kubectl follows the continue tokens.
    let pods = kubectl.run(&["get", "pods", "-A", "--chunk-size=40", "--no-headers"]);
    // Names are unique within a namespace (every tenant has a postgres-0).
    let mut names: Vec<(&str, &str)> = pods
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            Some((fields.next()?, fields.next()?))
        })
        .collect();
    assert_eq!(names.len(), PODS_IN_TEST, "{pods}");
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), PODS_IN_TEST, "a page repeated or skipped pods");

    let nodes = kubectl.run(&["get", "nodes", "-L", "node.kubernetes.io/instance-type"]);
    assert!(
        nodes
            .lines()
            .next()
            .unwrap_or_default()
            .contains("INSTANCE-TYPE"),
        "{nodes}"
    );
    for machine_type in [
        "e2-standard-8",
        "n1-standard-8",
        "n2-standard-16",
        "m5.xlarge",
        "z9-mega-4",
    ] {
        assert!(
            nodes.contains(machine_type),
            "{machine_type} missing:\n{nodes}"
        );
    }

    // metrics-server reports running pods only.
    let running = kubectl.run(&[
        "get",
        "pods",
        "-A",
        "--field-selector=status.phase=Running",
        "--no-headers",
    ]);
    let top_pods = kubectl.run(&["top", "pods", "-A", "--no-headers"]);
    assert_eq!(
        top_pods.lines().count(),
        running.lines().count(),
        "{top_pods}"
    );
    assert!(running.lines().count() > PODS_IN_TEST * 9 / 10, "{running}");
    assert!(
        top_pods
            .lines()
            .all(|line| line.contains('m') && line.contains("Mi")),
        "{top_pods}"
    );
    let top_nodes = kubectl.run(&["top", "nodes", "--no-headers"]);
    assert_eq!(top_nodes.lines().count(), 20, "{top_nodes}");

    // A watch receives the change the cluster makes.
    let mut watch = kubectl
        .command(&[
            "get",
            "pods",
            "-n",
            "acme",
            "-w",
            "--output-watch-events",
            "--no-headers",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let pod = json!({"metadata": {"name": "watched-pod", "namespace": "acme"}, "spec": {"nodeName": "x"}, "status": {"phase": "Pending"}});
    server.sim.store.put(PODS, pod).unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let _ = watch.kill();
    let output = watch.wait_with_output().unwrap();
    let events = String::from_utf8_lossy(&output.stdout);
    assert!(
        events
            .lines()
            .any(|line| line.starts_with("ADDED") && line.contains("watched-pod")),
        "{events}"
    );

    // Leases: create, read back, apply a change.
    let lease = dir.path().join("lease.yaml");
    let manifest = |holder: &str| {
        format!(
            "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: kubetally-leader\n  namespace: kube-system\nspec:\n  holderIdentity: {holder}\n  leaseDurationSeconds: 15\n"
        )
    };
    std::fs::write(&lease, manifest("replica-a")).unwrap();
    let path = lease.to_str().unwrap_or_default();
    kubectl.run(&["create", "-f", path]);
    let holder = |k: &Kubectl| {
        k.run(&[
            "get",
            "lease",
            "-n",
            "kube-system",
            "kubetally-leader",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ])
    };
    assert_eq!(holder(&kubectl), "replica-a");
    std::fs::write(&lease, manifest("replica-b")).unwrap();
    kubectl.run(&["apply", "-f", path]);
    assert_eq!(holder(&kubectl), "replica-b");
    assert!(
        kubectl
            .run(&["get", "leases", "-A"])
            .contains("kubetally-leader")
    );

    runtime.block_on(server.stop()).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn kube_client_lists_with_pagination() {
    let server = start(&config()).await;
    let pods: Api<Pod> = Api::all(client(&server));
    let mut params = ListParams::default().limit(70);
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = pods.list(&params).await.unwrap();
        pages += 1;
        seen.extend(
            page.items
                .iter()
                .filter_map(|pod| pod.metadata.name.clone()),
        );
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => break,
        }
    }
    assert_eq!((seen.len(), pages), (PODS_IN_TEST, 5));
    let nodes: Api<Node> = Api::all(client(&server));
    let spot = nodes
        .list(&ListParams::default().labels("cloud.google.com/gke-spot=true"))
        .await
        .unwrap();
    assert!(!spot.items.is_empty());
    let bad = nodes
        .list(&ListParams::default().labels("a b"))
        .await
        .expect_err("bad selector");
    assert!(
        matches!(bad, kube::Error::Api(ref status) if status.code == 400),
        "{bad:?}"
    );
    stop(server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reflector_stays_in_sync_across_watch_timeouts_and_compaction() {
    let server = start(&config()).await;
    let pods: Api<Pod> = Api::all(client(&server));
    // Short server-side timeouts make the watch end and restart during the test.
    let (reader, task) = synced_reflector(pods, watcher::Config::default().timeout(1)).await;
    assert_eq!(reader.len(), PODS_IN_TEST);

    // Compaction while the reflector watches: every later re-watch (each
    // second here) must still line up, and the change must arrive.
    server.sim.store.compact();
    let pod = json!({"metadata": {"name": "late-pod", "namespace": "acme"}, "spec": {}, "status": {"phase": "Pending"}});
    server.sim.store.put(PODS, pod).unwrap();
    server.sim.store.compact();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while reader.len() != PODS_IN_TEST + 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(reader.len(), PODS_IN_TEST + 1);
    task.abort();
    stop(server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_watch_from_a_compacted_version_gets_410_expired_in_the_stream() {
    use kube::api::{WatchEvent, WatchParams};
    let server = start(&config()).await;
    let pods: Api<Pod> = Api::all(client(&server));
    let version = pods
        .list_metadata(&ListParams::default().limit(1))
        .await
        .unwrap();
    let version = version.metadata.resource_version.unwrap_or_default();
    let pod = json!({"metadata": {"name": "moved", "namespace": "acme"}, "spec": {}, "status": {}});
    server.sim.store.put(PODS, pod).unwrap();
    // Before compaction the missed change is replayed...
    let mut stream = pods
        .watch(&WatchParams::default().timeout(2), &version)
        .await
        .unwrap()
        .boxed();
    match stream.next().await {
        Some(Ok(WatchEvent::Added(pod))) => assert_eq!(pod.metadata.name.as_deref(), Some("moved")),
        other => panic!("expected the missed ADDED event, got {other:?}"),
    }
    // ...after it, the server answers 200 and an ERROR event with a 410 Status.
    server.sim.store.compact();
    let mut stream = pods
        .watch(&WatchParams::default().timeout(2), &version)
        .await
        .unwrap()
        .boxed();
    match stream.next().await {
        Some(Ok(WatchEvent::Error(status))) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"))
        }
        other => panic!("expected a 410 Expired event, got {other:?}"),
    }
    stop(server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lease_updates_with_a_stale_version_conflict() {
    let server = start(&config()).await;
    let leases: Api<Lease> = Api::namespaced(client(&server), "kube-system");
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": "kubetally"},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}
    }))
    .unwrap();
    let created = leases.create(&PostParams::default(), &lease).await.unwrap();
    let again = leases
        .create(&PostParams::default(), &lease)
        .await
        .expect_err("exists");
    assert!(
        matches!(again, kube::Error::Api(ref s) if s.code == 409 && s.reason == "AlreadyExists"),
        "{again:?}"
    );
    let mut first = created.clone();
    first.spec.get_or_insert_default().holder_identity = Some("b".into());
    leases
        .replace("kubetally", &PostParams::default(), &first)
        .await
        .unwrap();
    let mut stale = created;
    stale.spec.get_or_insert_default().holder_identity = Some("c".into());
    let conflict = leases
        .replace("kubetally", &PostParams::default(), &stale)
        .await
        .expect_err("stale");
    assert!(
        matches!(conflict, kube::Error::Api(ref s) if s.code == 409 && s.reason == "Conflict"),
        "{conflict:?}"
    );
    let missing = leases.get("nobody").await.expect_err("missing");
    assert!(
        matches!(missing, kube::Error::Api(ref s) if s.code == 404 && s.reason == "NotFound"),
        "{missing:?}"
    );
    stop(server).await;
}

/// At 7,200 simulated seconds per second, a watcher sees hours of the
/// cluster's life in a few seconds: Job pods that run and finish, leaking
/// containers OOMKilled, and every timestamp on the simulated clock.
#[tokio::test(flavor = "multi_thread")]
async fn watchers_see_the_cluster_live_on_the_simulated_clock() {
    let config = SimConfig {
        speed: 7200.0,
        ..config()
    };
    let server = start(&config).await;
    let pods: Api<Pod> = Api::all(client(&server));
    let (reader, writer) = reflector::store();
    let stream = reflector(writer, watcher(pods.clone(), watcher::Config::default()))
        .applied_objects()
        .boxed();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Pod>::new()));
    let sink = seen.clone();
    let task = tokio::spawn(stream.for_each(move |pod| {
        if let (Ok(pod), Ok(mut seen)) = (pod, sink.lock()) {
            seen.push(pod);
        }
        async {}
    }));
    let epoch = kubetally::sim::epoch();
    let mut finished_job = false;
    let mut oom_killed = false;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let seen = seen.lock().unwrap();
        for pod in seen.iter() {
            let status = pod.status.clone().unwrap_or_default();
            let jobs = pod
                .metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.contains_key("job-name"));
            if jobs && status.phase.as_deref() == Some("Succeeded") {
                let started = status
                    .start_time
                    .map(|t| t.0.as_second())
                    .unwrap_or_default();
                assert!(
                    started >= epoch.timestamp(),
                    "{pod:?} started before the epoch"
                );
                finished_job = true;
            }
            oom_killed |= status
                .container_statuses
                .unwrap_or_default()
                .iter()
                .any(|c| {
                    c.last_state
                        .as_ref()
                        .and_then(|s| s.terminated.as_ref())
                        .is_some_and(|t| t.reason.as_deref() == Some("OOMKilled"))
                        && c.state
                            .as_ref()
                            .and_then(|s| s.running.as_ref())
                            .is_some_and(|r| {
                                r.started_at
                                    .as_ref()
                                    .is_some_and(|t| t.0.as_second() > epoch.timestamp())
                            })
                });
        }
        if finished_job && oom_killed {
            break;
        }
    }
    assert!(finished_job, "no Job pod finished in the watch");
    assert!(
        oom_killed,
        "no container restarted after an OOM kill in the watch"
    );
    // The reflector's cache is the server's state once the cluster stops
    // changing: pause the clock (at 7,200× a loaded machine's reflector may
    // trail a moving cluster by a few events at any instant).
    server.sim.clock.set_speed(0.0);
    let listed = pods.list(&ListParams::default()).await.unwrap();
    let mut synced = false;
    for _ in 0..50 {
        let mut cached: Vec<String> = reader
            .state()
            .iter()
            .map(|p| p.metadata.uid.clone().unwrap_or_default())
            .collect();
        let mut live: Vec<String> = pods
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .map(|p| p.metadata.uid.clone().unwrap_or_default())
            .collect();
        cached.sort();
        live.sort();
        if cached == live {
            synced = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        synced,
        "the reflector never caught up with {} pods",
        listed.items.len()
    );
    task.abort();
    stop(server).await;
}
