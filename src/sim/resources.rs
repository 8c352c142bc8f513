//! The resource types the simulated API server serves, and their discovery
//! documents (`/api`, `/apis`, `/api/v1`, `/apis/<group>/<version>`).
//!
//! One table drives routing, storage and discovery, so a resource kubectl can
//! discover is always one the server can list and watch.

use serde_json::{Value, json};

/// One served resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Resource {
    /// API group; empty for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// The plural name in URLs (`pods`).
    pub plural: &'static str,
    pub singular: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    /// Whether clients may write it (leases); everything else is read-only.
    pub writable: bool,
}

impl Resource {
    /// `v1` or `apps/v1`, as in `apiVersion`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The verbs discovery advertises.
    pub fn verbs(&self) -> &'static [&'static str] {
        if self.writable {
            &[
                "create", "delete", "get", "list", "patch", "update", "watch",
            ]
        } else if self.group == METRICS_GROUP {
            &["get", "list"]
        } else {
            &["get", "list", "watch"]
        }
    }
}

/// The group metrics-server registers.
pub const METRICS_GROUP: &str = "metrics.k8s.io";

const fn r(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    singular: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
) -> Resource {
    Resource {
        group,
        version,
        kind,
        plural,
        singular,
        namespaced,
        short_names,
        writable: false,
    }
}

pub const PODS: Resource = r("", "v1", "Pod", "pods", "pod", true, &["po"]);
pub const NODES: Resource = r("", "v1", "Node", "nodes", "node", false, &["no"]);
pub const NAMESPACES: Resource = r(
    "",
    "v1",
    "Namespace",
    "namespaces",
    "namespace",
    false,
    &["ns"],
);
pub const REPLICASETS: Resource = r(
    "apps",
    "v1",
    "ReplicaSet",
    "replicasets",
    "replicaset",
    true,
    &["rs"],
);
pub const DEPLOYMENTS: Resource = r(
    "apps",
    "v1",
    "Deployment",
    "deployments",
    "deployment",
    true,
    &["deploy"],
);
pub const STATEFULSETS: Resource = r(
    "apps",
    "v1",
    "StatefulSet",
    "statefulsets",
    "statefulset",
    true,
    &["sts"],
);
pub const DAEMONSETS: Resource = r(
    "apps",
    "v1",
    "DaemonSet",
    "daemonsets",
    "daemonset",
    true,
    &["ds"],
);
pub const JOBS: Resource = r("batch", "v1", "Job", "jobs", "job", true, &[]);
pub const CRONJOBS: Resource = r(
    "batch",
    "v1",
    "CronJob",
    "cronjobs",
    "cronjob",
    true,
    &["cj"],
);
pub const PDBS: Resource = r(
    "policy",
    "v1",
    "PodDisruptionBudget",
    "poddisruptionbudgets",
    "poddisruptionbudget",
    true,
    &["pdb"],
);
pub const HPAS: Resource = r(
    "autoscaling",
    "v2",
    "HorizontalPodAutoscaler",
    "horizontalpodautoscalers",
    "horizontalpodautoscaler",
    true,
    &["hpa"],
);
pub const LEASES: Resource = Resource {
    writable: true,
    ..r(
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        "lease",
        true,
        &[],
    )
};
pub const SERVICES: Resource = r("", "v1", "Service", "services", "service", true, &["svc"]);
pub const PERSISTENT_VOLUMES: Resource = r(
    "",
    "v1",
    "PersistentVolume",
    "persistentvolumes",
    "persistentvolume",
    false,
    &["pv"],
);
pub const PERSISTENT_VOLUME_CLAIMS: Resource = r(
    "",
    "v1",
    "PersistentVolumeClaim",
    "persistentvolumeclaims",
    "persistentvolumeclaim",
    true,
    &["pvc"],
);
pub const STORAGE_CLASSES: Resource = r(
    "storage.k8s.io",
    "v1",
    "StorageClass",
    "storageclasses",
    "storageclass",
    false,
    &["sc"],
);
pub const POD_METRICS: Resource = r(
    METRICS_GROUP,
    "v1beta1",
    "PodMetrics",
    "pods",
    "",
    true,
    &[],
);
pub const NODE_METRICS: Resource = r(
    METRICS_GROUP,
    "v1beta1",
    "NodeMetrics",
    "nodes",
    "",
    false,
    &[],
);

/// Every served resource.
pub const ALL: [Resource; 18] = [
    PODS,
    NODES,
    NAMESPACES,
    SERVICES,
    PERSISTENT_VOLUMES,
    PERSISTENT_VOLUME_CLAIMS,
    REPLICASETS,
    DEPLOYMENTS,
    STATEFULSETS,
    DAEMONSETS,
    JOBS,
    CRONJOBS,
    PDBS,
    HPAS,
    STORAGE_CLASSES,
    LEASES,
    POD_METRICS,
    NODE_METRICS,
];

/// The resource served at `group/version/plural`.
pub fn find(group: &str, version: &str, plural: &str) -> Option<Resource> {
    ALL.into_iter()
        .find(|res| res.group == group && res.version == version && res.plural == plural)
}

/// Groups and their versions, in the order discovery lists them.
fn groups() -> Vec<(&'static str, &'static str)> {
    let mut groups: Vec<(&str, &str)> = Vec::new();
    for res in ALL {
        if !res.group.is_empty() && !groups.contains(&(res.group, res.version)) {
            groups.push((res.group, res.version));
        }
    }
    groups
}

/// `GET /api`: the core group's versions.
pub fn core_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]
    })
}

fn group_json(group: &str, version: &str) -> Value {
    let version = json!({"groupVersion": format!("{group}/{version}"), "version": version});
    json!({"name": group, "versions": [version.clone()], "preferredVersion": version})
}

/// `GET /apis`: every non-core group.
pub fn group_list() -> Value {
    let groups: Vec<Value> = groups()
        .into_iter()
        .map(|(g, v)| group_json(g, v))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /apis/<group>`, or `None` for an unknown group.
pub fn group(name: &str) -> Option<Value> {
    groups()
        .into_iter()
        .find(|(g, _)| *g == name)
        .map(|(g, v)| {
            let mut value = group_json(g, v);
            value["kind"] = json!("APIGroup");
            value["apiVersion"] = json!("v1");
            value
        })
}

/// `GET /api/v1` or `/apis/<group>/<version>`: the resources of one group version.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let resources: Vec<Value> = ALL
        .iter()
        .filter(|res| res.group == group && res.version == version)
        .map(|res| {
            json!({
                "name": res.plural,
                "singularName": res.singular,
                "namespaced": res.namespaced,
                "kind": res.kind,
                "verbs": res.verbs(),
                "shortNames": res.short_names,
            })
        })
        .collect();
    if resources.is_empty() {
        return None;
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}),
    )
}

/// The path of a group version in OpenAPI v3 discovery (`api/v1`, `apis/apps/v1`).
fn openapi_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `GET /openapi/v3`: where each group version's schema document lives.
pub fn openapi_index() -> Value {
    let mut versions = vec![("", "v1")];
    versions.extend(groups());
    let paths: serde_json::Map<String, Value> = versions
        .into_iter()
        .map(|(g, v)| {
            let path = openapi_path(g, v);
            (
                path.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{path}")}),
            )
        })
        .collect();
    json!({"paths": paths})
}

/// `GET /openapi/v3/<path>`: one schema per kind, open to any fields, and
/// the write operations with their `fieldValidation` parameter.
///
/// kubectl downloads these before `create` and `apply`: when the operations
/// declare `fieldValidation` it leaves validation to the server (which here
/// accepts any fields) instead of asking for the OpenAPI v2 schema.
pub fn openapi_document(path: &str) -> Option<Value> {
    let served: Vec<&Resource> = ALL
        .iter()
        .filter(|res| openapi_path(res.group, res.version) == path)
        .collect();
    if served.is_empty() {
        return None;
    }
    let mut schemas = serde_json::Map::new();
    let mut paths = serde_json::Map::new();
    for res in served {
        let gvk = json!([{"group": res.group, "version": res.version, "kind": res.kind}]);
        let name = format!(
            "io.kubetally.sim.{}.{}.{}",
            if res.group.is_empty() {
                "core"
            } else {
                res.group
            },
            res.version,
            res.kind
        );
        schemas.insert(
            name,
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true, "x-kubernetes-group-version-kind": gvk}),
        );
        if !res.writable {
            continue;
        }
        let operation = json!({
            "x-kubernetes-group-version-kind": gvk[0],
            "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}}],
            "responses": {}
        });
        let namespace = if res.namespaced {
            "/namespaces/{namespace}"
        } else {
            ""
        };
        let collection = format!("/{path}{namespace}/{}", res.plural);
        paths.insert(collection.clone(), json!({"post": operation}));
        paths.insert(
            format!("{collection}/{{name}}"),
            json!({"put": operation, "patch": operation}),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": schemas}
    }))
}

/// `GET /version`: Kubernetes 1.33, which the kubectl dispatcher on our machines resolves.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0-kubetally-sim",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_lists_every_group_and_resource() {
        let groups = group_list();
        let names: Vec<&str> = groups["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| g["name"].as_str())
            .collect();
        assert_eq!(
            names,
            [
                "apps",
                "batch",
                "policy",
                "autoscaling",
                "storage.k8s.io",
                "coordination.k8s.io",
                "metrics.k8s.io"
            ]
        );
        let core = resource_list("", "v1").unwrap_or_default();
        assert_eq!(core["resources"].as_array().map(Vec::len), Some(6));
        assert_eq!(
            find("", "v1", "persistentvolumeclaims"),
            Some(PERSISTENT_VOLUME_CLAIMS)
        );
        assert_eq!(
            find("storage.k8s.io", "v1", "storageclasses"),
            Some(STORAGE_CLASSES)
        );
        let leases = resource_list("coordination.k8s.io", "v1").unwrap_or_default();
        assert_eq!(
            leases["resources"][0]["verbs"].as_array().map(Vec::len),
            Some(7)
        );
        assert!(resource_list("apps", "v2").is_none());
        assert_eq!(find("metrics.k8s.io", "v1beta1", "pods"), Some(POD_METRICS));
    }
}
