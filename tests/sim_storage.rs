//! Disks and load balancers of the simulated cluster, as the real kubectl
//! and the kube client's typed watchers see them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Service};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, ListParams};
use kube::runtime::watcher;
use kubetally::sim::{ClusterSpec, SimConfig};

use crate::sim::Kubectl;
use crate::support::{client, runtime, start, stop};

fn config() -> SimConfig {
    SimConfig {
        cluster: ClusterSpec {
            seed: 3,
            gpu_nodes: true,
            ..ClusterSpec::default()
        },
        // Paused: the test moves the clock itself.
        speed: 0.0,
        ..SimConfig::default()
    }
}

#[test]
fn kubectl_gets_volumes_claims_classes_and_services() {
    let runtime = runtime();
    let server = runtime.block_on(start(&config()));
    let dir = tempfile::tempdir().unwrap();
    let Some(kubectl) = Kubectl::new(&server, dir.path()) else {
        return;
    };
    let listed = kubectl.run(&["get", "pv,pvc,sc,svc", "-A"]);
    for needle in [
        "persistentvolume/pvc-",
        "persistentvolume/local-pv-",
        "persistentvolumeclaim/data-postgres-0",
        "persistentvolumeclaim/uploads",
        "storageclass.storage.k8s.io/standard-rwo",
        "storageclass.storage.k8s.io/gp3",
        "storageclass.storage.k8s.io/managed-csi",
        "service/api-public",
        "service/ingress-nginx-controller",
    ] {
        assert!(listed.contains(needle), "no {needle} in:\n{listed}");
    }
    let phases = kubectl.run(&[
        "get",
        "pvc",
        "-A",
        "-o",
        "jsonpath={range .items[*]}{.status.phase}{\"\\n\"}{end}",
    ]);
    assert!(phases.lines().any(|p| p == "Bound"), "{phases}");
    assert!(phases.lines().any(|p| p == "Pending"), "{phases}");
    let claim = kubectl.run(&["get", "pvc", "-n", "acme", "data-postgres-0", "-o", "yaml"]);
    for needle in ["volumeName: pvc-", "phase: Bound", "storage: 20Gi"] {
        assert!(claim.contains(needle), "no {needle} in:\n{claim}");
    }
    let handles = kubectl.run(&[
        "get",
        "pv",
        "-o",
        "jsonpath={range .items[*]}{.spec.csi.volumeHandle}{\"\\n\"}{end}",
    ]);
    assert!(
        handles
            .lines()
            .any(|h| h.starts_with("projects/kubetally-sim/zones/")),
        "{handles}"
    );
    assert!(handles.lines().any(|h| h.starts_with("vol-0")), "{handles}");
    let wide = kubectl.run(&["get", "svc", "-n", "stark", "-o", "wide"]);
    assert!(wide.contains("api-public"), "{wide}");
    let ingress = kubectl.run(&[
        "get",
        "svc",
        "-n",
        "stark",
        "api-public",
        "-o",
        "jsonpath={.status.loadBalancer.ingress[0].hostname}",
    ]);
    assert!(
        ingress.ends_with(".elb.us-east-1.amazonaws.com"),
        "{ingress}"
    );
    // GPU nodes: a MIG node advertising slices, a time-sliced node more
    // GPUs than it has, and the pods asking for them.
    let gpus = kubectl.run(&[
        "get",
        "nodes",
        "-l",
        "nvidia.com/gpu.present=true",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.status.allocatable}{\"\\n\"}{end}",
    ]);
    assert_eq!(gpus.lines().count(), 2, "{gpus}");
    assert!(gpus.contains("\"nvidia.com/mig-1g.5gb\":\"2\""), "{gpus}");
    assert!(gpus.contains("\"nvidia.com/gpu\":\"4\""), "{gpus}");
    let shared = kubectl.run(&[
        "get",
        "pods",
        "-A",
        "--field-selector=spec.nodeName=gke-gpu-l4-shared-00000",
        "--no-headers",
    ]);
    assert_eq!(shared.lines().count(), 3, "{shared}");
    runtime.block_on(stop(server));
}

#[tokio::test(flavor = "multi_thread")]
async fn typed_clients_read_the_new_kinds_and_a_claim_watch_sees_one_made_and_deleted() {
    let server = start(&config()).await;
    let client = client(&server);
    let classes: Api<StorageClass> = Api::all(client.clone());
    let classes = classes.list(&ListParams::default()).await.unwrap();
    assert!(
        classes
            .items
            .iter()
            .any(|c| c.provisioner == "pd.csi.storage.gke.io")
    );
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let volumes = volumes.list(&ListParams::default()).await.unwrap();
    assert!(volumes.items.iter().any(|v| {
        v.spec
            .as_ref()
            .and_then(|s| s.csi.as_ref())
            .is_some_and(|csi| csi.driver == "ebs.csi.aws.com")
    }));
    let services: Api<Service> = Api::all(client.clone());
    let balancers = services
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|s| s.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer"))
        .count();
    assert_eq!(balancers, 5);

    let claims: Api<PersistentVolumeClaim> = Api::all(client);
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = seen.clone();
    let task = tokio::spawn(
        watcher(claims, watcher::Config::default()).for_each(move |event| {
            let line = match event {
                Ok(watcher::Event::Apply(claim)) => format!(
                    "apply {} {}",
                    claim.metadata.name.unwrap_or_default(),
                    claim.status.and_then(|s| s.phase).unwrap_or_default()
                ),
                Ok(watcher::Event::Delete(claim)) => {
                    format!("delete {}", claim.metadata.name.unwrap_or_default())
                }
                _ => String::new(),
            };
            if let Ok(mut seen) = sink.lock() {
                seen.push(line);
            }
            async {}
        }),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let done = |seen: &[String]| {
        seen.iter()
            .any(|l| l.starts_with("apply export-") && l.ends_with("Bound"))
            && seen.iter().any(|l| l.starts_with("delete export-"))
    };
    for _ in 0..16 {
        server.sim.clock.advance(chrono::Duration::hours(6));
        server.sim.catch_up().unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        if done(&seen.lock().unwrap()) {
            break;
        }
    }
    task.abort();
    let seen = seen.lock().unwrap().clone();
    assert!(done(&seen), "{seen:#?}");
    stop(server).await;
}

#[test]
fn kubectl_sees_autopilot_nodes_and_pods_selecting_their_compute_class() {
    let runtime = runtime();
    let config = SimConfig {
        cluster: ClusterSpec {
            autopilot: true,
            ..ClusterSpec::default()
        },
        ..config()
    };
    let server = runtime.block_on(start(&config));
    let dir = tempfile::tempdir().unwrap();
    let Some(kubectl) = Kubectl::new(&server, dir.path()) else {
        return;
    };
    let nodes = kubectl.run(&[
        "get",
        "nodes",
        "-L",
        "cloud.google.com/compute-class,cloud.google.com/gke-provisioning",
        "--no-headers",
    ]);
    assert_eq!(nodes.lines().count(), 20, "{nodes}");
    assert!(
        nodes.lines().all(|l| l.starts_with("gk3-kubetally-sim-")),
        "{nodes}"
    );
    for class in ["Balanced", "Scale-Out", "autopilot-spot", "spot"] {
        assert!(nodes.contains(class), "no {class} in:\n{nodes}");
    }
    let selectors = kubectl.run(&[
        "get",
        "pods",
        "-A",
        "-o",
        "jsonpath={range .items[*]}{.spec.nodeSelector}{\"\\n\"}{end}",
    ]);
    for selector in [
        "{\"cloud.google.com/compute-class\":\"Scale-Out\"}",
        "{\"cloud.google.com/compute-class\":\"Balanced\"}",
        "{\"cloud.google.com/gke-spot\":\"true\"}",
    ] {
        assert!(selectors.lines().any(|l| l == selector), "no {selector}");
    }
    let system = kubectl.run(&["get", "ds", "-n", "kube-system", "--no-headers"]);
    assert!(system.contains("gke-metadata-server"), "{system}");
    runtime.block_on(stop(server));
}
