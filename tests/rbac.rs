//! The collector's RBAC (deploy/) against what it really calls: the
//! object-storage overlay is rendered with `kubectl kustomize`, the collector
//! runs with leader election against the simulator, and every request the
//! simulator served (its audit log) must be allowed by the ClusterRole or the
//! Role in the collector's namespace — and every rule must be needed.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use kubetally::allocate::TenantRules;
use kubetally::collect::{CollectConfig, Collector, LeaderConfig, StopAfter};
use kubetally::sim::audit::ApiCall;
use kubetally::store::Dataset;
use serde::Deserialize;
use serde_json::Value;

use crate::collect::{SPEED, price_book, scenario_config};
use crate::support::{kube_config, start, stop};

/// The namespace the overlay installs into (and the Lease lives in).
const NAMESPACE: &str = "kubetally";

/// One RBAC policy rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    #[serde(default)]
    api_groups: Vec<String>,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    resource_names: Vec<String>,
    #[serde(default)]
    verbs: Vec<String>,
}

impl Rule {
    fn allows(&self, verb: &str, group: &str, resource: &str, name: Option<&str>) -> bool {
        let names_ok = self.resource_names.is_empty()
            || (matches!(verb, "get" | "update" | "patch" | "delete")
                && name.is_some_and(|n| self.resource_names.iter().any(|r| r == n)));
        self.verbs.iter().any(|v| v == verb)
            && self.api_groups.iter().any(|g| g == group)
            && self.resources.iter().any(|r| r == resource)
            && names_ok
    }
}

/// The overlay's ClusterRole rules and its Role rules (in [`NAMESPACE`]), or
/// why they cannot be read here.
fn rendered_rules() -> Result<(Vec<Rule>, Vec<Rule>), String> {
    let overlay = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/overlays/object-storage");
    let output = std::process::Command::new("kubectl")
        .arg("kustomize")
        .arg(&overlay)
        .output()
        .map_err(|e| format!("kubectl: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "kubectl kustomize {}: {}",
            overlay.display(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut cluster = Vec::new();
    let mut namespaced = Vec::new();
    for document in serde_norway::Deserializer::from_str(&text) {
        let object = Value::deserialize(document).map_err(|e| format!("rendered YAML: {e}"))?;
        let rules = || -> Vec<Rule> { serde_json::from_value(object["rules"].clone()).unwrap() };
        match object["kind"].as_str() {
            Some("ClusterRole") => cluster.extend(rules()),
            Some("Role") => {
                assert_eq!(object["metadata"]["namespace"], NAMESPACE);
                namespaced.extend(rules());
            }
            _ => {}
        }
    }
    Ok((cluster, namespaced))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_collectors_rbac_allows_every_call_it_makes_and_nothing_it_does_not() {
    let (cluster_rules, role_rules) = match rendered_rules() {
        Ok(rules) => rules,
        Err(why) => {
            println!("SKIP: cannot render deploy/ ({why})");
            return;
        }
    };
    assert!(!cluster_rules.is_empty() && !role_rules.is_empty());

    let server = start(&scenario_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let client = kube::Client::try_from(kube_config(&server)).unwrap();
    let mut leader = LeaderConfig::new("kubetally".into(), NAMESPACE.into(), "kubetally-0".into());
    leader.retry_period = std::time::Duration::from_millis(20);
    let config = CollectConfig {
        dataset: Dataset {
            target: kubetally::store::Target::Local(out.clone()),
            cluster: "test".into(),
            writer: "0".into(),
        },
        interval: std::time::Duration::from_secs_f64(60.0 / SPEED),
        // Past an hour, so an hour is closed and published too.
        stop: StopAfter {
            samples: None,
            duration: Some(chrono::Duration::minutes(70)),
        },
        write_samples: true,
        tenants: TenantRules::new(Some("tenant".into())),
        prices: Arc::new(price_book()),
        wal_dir: Some(out.join("_wal")),
        leader: Some(leader),
        metrics_limits: Default::default(),
    };
    let summary = Collector::default()
        .run(client, &config, std::future::pending())
        .await
        .unwrap_or_else(|error| panic!("{error:#}"));
    assert!(summary.hours_published >= 1);
    let calls = server.sim.audit.calls();
    stop(server).await;

    let mut used_cluster: BTreeSet<(String, String, String)> = BTreeSet::new();
    let mut used_role: BTreeSet<String> = BTreeSet::new();
    for call in calls.keys() {
        let (verb, group, resource, namespace, name) = match call {
            ApiCall::Resource {
                verb,
                group,
                resource,
                namespace,
                name,
            } => (verb, group, resource, namespace, name),
            // Discovery is allowed to everyone (system:discovery), but the
            // collector has no use for it: typed clients know their paths.
            ApiCall::NonResource { path } => {
                panic!("the collector called the non-resource URL {path}")
            }
        };
        let by_cluster_role = cluster_rules
            .iter()
            .any(|r| r.allows(verb, group, resource, name.as_deref()));
        let by_role = namespace.as_deref() == Some(NAMESPACE)
            && role_rules
                .iter()
                .any(|r| r.allows(verb, group, resource, name.as_deref()));
        assert!(
            by_cluster_role || by_role,
            "not allowed by deploy/: {verb} {group}/{resource} in {namespace:?} named {name:?}"
        );
        if by_cluster_role {
            used_cluster.insert((verb.to_string(), group.clone(), resource.clone()));
        } else {
            used_role.insert(verb.to_string());
        }
    }
    // Nothing more: every resource granted is listed (and watched, but for
    // metrics.k8s.io, which cannot be watched), every Role verb is used. The
    // ClusterRole's `get` is what issue #8 asks for on watched resources
    // (a re-list may become a get of one object); it is not required here.
    for rule in &cluster_rules {
        for group in &rule.api_groups {
            for resource in &rule.resources {
                for verb in &rule.verbs {
                    if verb == "get" {
                        continue;
                    }
                    assert!(
                        used_cluster.contains(&(verb.clone(), group.clone(), resource.clone())),
                        "the ClusterRole grants {verb} {group}/{resource}, which the collector never does"
                    );
                }
            }
        }
    }
    for rule in &role_rules {
        for verb in &rule.verbs {
            assert!(
                used_role.contains(verb),
                "the Role grants {verb} on leases, which the collector never does"
            );
        }
    }
}
