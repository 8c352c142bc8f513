//! Right-sizing as patches a platform engineer applies as they are: one
//! strategic-merge patch per workload, with `apiVersion`, `kind` and
//! `metadata` so that both `kubectl patch --patch-file` and a kustomize
//! `patches:` entry find their target.
//!
//! Containers are matched by name (strategic merge's key for `containers`
//! and `initContainers`), so a patch only touches the resources it names.
//! A limit the strategy drops (kubetally and KRR set no CPU limit) is
//! written as `null`, which deletes it. Undecided recommendations and those
//! that change nothing are left out. Jobs and naked Pods get no patch: their
//! pod templates are immutable, so the comment says where to make the change.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::{Map, Value, json};

use super::rightsize::{Recommendation, RequestsAndLimits};

/// Where a kind keeps its pod template, and its API version; `None` when
/// the template cannot be patched in place.
fn template_path(kind: &str) -> Option<(&'static str, &'static [&'static str])> {
    const POD_SPEC: &[&str] = &["spec", "template", "spec"];
    match kind {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => Some(("apps/v1", POD_SPEC)),
        "CronJob" => Some((
            "batch/v1",
            &["spec", "jobTemplate", "spec", "template", "spec"],
        )),
        _ => None,
    }
}

/// A CPU quantity as Kubernetes writes it: whole cores or millicores.
pub fn cpu_quantity(cores: f64) -> String {
    let millis = (cores * 1000.0).round() as i64;
    if millis % 1000 == 0 {
        (millis / 1000).to_string()
    } else {
        format!("{millis}m")
    }
}

/// A memory quantity in the largest binary unit that keeps it exact.
pub fn memory_quantity(bytes: f64) -> String {
    let bytes = bytes.ceil() as i64;
    for (suffix, unit) in [("Gi", 1_i64 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)] {
        if bytes != 0 && bytes % unit == 0 {
            return format!("{}{suffix}", bytes / unit);
        }
    }
    bytes.to_string()
}

/// The `resources` change of one container: a value for what changes, `null`
/// for what the recommendation removes, nothing for what stays.
fn resources_change(
    current: &RequestsAndLimits,
    recommended: &RequestsAndLimits,
) -> Map<String, Value> {
    let (c, r) = (current, recommended);
    let mut change = Map::new();
    for (section, fields) in [
        (
            "requests",
            [
                (
                    "cpu",
                    c.cpu_request_cores,
                    r.cpu_request_cores,
                    cpu_quantity as fn(f64) -> String,
                ),
                (
                    "memory",
                    c.memory_request_bytes,
                    r.memory_request_bytes,
                    memory_quantity,
                ),
            ],
        ),
        (
            "limits",
            [
                (
                    "cpu",
                    c.cpu_limit_cores,
                    r.cpu_limit_cores,
                    cpu_quantity as fn(f64) -> String,
                ),
                (
                    "memory",
                    c.memory_limit_bytes,
                    r.memory_limit_bytes,
                    memory_quantity,
                ),
            ],
        ),
    ] {
        let mut map = Map::new();
        for (name, now, new, format) in fields {
            match (now, new) {
                (Some(now), Some(new)) if format(now) == format(new) => {}
                (_, Some(new)) => {
                    map.insert(name.to_owned(), Value::String(format(new)));
                }
                (Some(_), None) => {
                    map.insert(name.to_owned(), Value::Null);
                }
                (None, None) => {}
            }
        }
        if !map.is_empty() {
            change.insert(section.to_owned(), Value::Object(map));
        }
    }
    change
}

fn describe(
    name: &str,
    current: Option<f64>,
    new: Option<f64>,
    format: fn(f64) -> String,
) -> Option<String> {
    let show = |v: Option<f64>| v.map_or_else(|| "unset".to_owned(), format);
    (show(current) != show(new)).then(|| format!("{name} {} → {}", show(current), show(new)))
}

fn summary(r: &Recommendation) -> String {
    let (c, n) = (&r.current, &r.recommended);
    let parts: Vec<String> = [
        describe(
            "cpu request",
            c.cpu_request_cores,
            n.cpu_request_cores,
            cpu_quantity,
        ),
        describe(
            "cpu limit",
            c.cpu_limit_cores,
            n.cpu_limit_cores,
            cpu_quantity,
        ),
        describe(
            "memory request",
            c.memory_request_bytes,
            n.memory_request_bytes,
            memory_quantity,
        ),
        describe(
            "memory limit",
            c.memory_limit_bytes,
            n.memory_limit_bytes,
            memory_quantity,
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    parts.join(", ")
}

/// The patches of `recommendations` as one multi-document YAML stream,
/// largest savings first; a comment heads each with what it changes, the
/// money, and the command that applies it.
///
/// # Errors
///
/// The YAML serializer's, which cannot fail on the JSON values built here.
pub fn yaml(recommendations: &[Recommendation]) -> Result<String, serde_norway::Error> {
    type Workload<'a> = (&'a str, &'a str, &'a str);
    let mut workloads: BTreeMap<Workload, Vec<&Recommendation>> = BTreeMap::new();
    for r in recommendations.iter().filter(|r| !r.undecided) {
        if !resources_change(&r.current, &r.recommended).is_empty() {
            workloads
                .entry((&r.namespace, &r.workload_kind, &r.workload_name))
                .or_default()
                .push(r);
        }
    }
    let mut ordered: Vec<(Workload, Vec<&Recommendation>, f64)> = workloads
        .into_iter()
        .map(|(key, rows)| {
            let savings = rows.iter().map(|r| r.monthly_savings_usd).sum();
            (key, rows, savings)
        })
        .collect();
    ordered.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| a.0.cmp(&b.0)));

    let mut out = String::new();
    for ((namespace, kind, name), rows, savings) in ordered {
        if !out.is_empty() {
            out.push_str("---\n");
        }
        let _ = writeln!(
            out,
            "# {namespace}/{kind}/{name}: {savings:.2} USD/month ({})",
            rows[0].strategy
        );
        for r in &rows {
            let _ = writeln!(
                out,
                "#   {}: {} ({} confidence)",
                r.container,
                summary(r),
                r.confidence
            );
        }
        let Some((api_version, path)) = template_path(kind) else {
            let _ = writeln!(
                out,
                "# No patch: a {kind}'s pod template cannot change in place; change it where the {kind} is made."
            );
            continue;
        };
        let _ = writeln!(
            out,
            "# kubectl patch {} {name} -n {namespace} --type strategic --patch-file FILE",
            kind.to_lowercase()
        );
        let mut lists: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
        for r in &rows {
            let list = if r.init_container {
                "initContainers"
            } else {
                "containers"
            };
            lists.entry(list).or_default().push(json!({
                "name": r.container,
                "resources": resources_change(&r.current, &r.recommended),
            }));
        }
        let mut pod_spec = Value::Object(
            lists
                .into_iter()
                .map(|(list, containers)| (list.to_owned(), Value::Array(containers)))
                .collect(),
        );
        for key in path.iter().skip(1).rev() {
            pod_spec = json!({ *key: pod_spec });
        }
        let document = json!({
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {"name": name, "namespace": namespace},
            "spec": pod_spec,
        });
        out.push_str(&serde_norway::to_string(&document)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::rightsize::Evidence;
    use super::*;
    use crate::model::units::MIB;

    fn recommendation(
        kind: &str,
        container: &str,
        now: RequestsAndLimits,
        new: RequestsAndLimits,
    ) -> Recommendation {
        Recommendation {
            namespace: "shop".into(),
            workload_kind: kind.into(),
            workload_name: "web".into(),
            container: container.into(),
            strategy: "kubetally",
            current: now,
            recommended: new,
            monthly_savings_usd: 12.5,
            confidence: "high",
            reason: "kubetally rule".into(),
            undecided: false,
            init_container: false,
            evidence: Evidence {
                window_hours: 336,
                samples: 20_160,
                cpu_p50_cores: 0.1,
                cpu_p90_cores: 0.2,
                cpu_p95_cores: 0.25,
                cpu_max_cores: Some(0.4),
                memory_max_bytes: Some(200.0 * MIB),
                oom_kills: 0,
                restarts: 0,
                hpa_metrics: Vec::new(),
                average_pods: 3.0,
            },
        }
    }

    fn sized(cpu: f64, cpu_limit: Option<f64>, memory_mib: f64) -> RequestsAndLimits {
        RequestsAndLimits {
            cpu_request_cores: Some(cpu),
            cpu_limit_cores: cpu_limit,
            memory_request_bytes: Some(memory_mib * MIB),
            memory_limit_bytes: Some(memory_mib * MIB),
        }
    }

    fn parse(text: &str) -> Value {
        serde_norway::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn quantities_are_written_as_kubernetes_writes_them() {
        assert_eq!(cpu_quantity(0.25), "250m");
        assert_eq!(cpu_quantity(2.0), "2");
        assert_eq!(cpu_quantity(0.0104), "10m");
        assert_eq!(memory_quantity(256.0 * MIB), "256Mi");
        assert_eq!(memory_quantity(2.0 * 1024.0 * MIB), "2Gi");
        assert_eq!(memory_quantity(3072.0), "3Ki");
        assert_eq!(memory_quantity(1536.0), "1536");
        assert_eq!(memory_quantity(1000.5), "1001");
    }

    #[test]
    fn a_deployment_patch_sets_what_changes_and_deletes_a_dropped_limit() {
        let r = recommendation(
            "Deployment",
            "app",
            sized(0.5, Some(1.0), 512.0),
            sized(0.12, None, 512.0),
        );
        let text = yaml(&[r]).unwrap_or_else(|e| panic!("{e}"));
        let value = parse(&text);
        assert_eq!(value["apiVersion"], "apps/v1");
        assert_eq!(value["metadata"]["namespace"], "shop");
        let container = &value["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["name"], "app");
        assert_eq!(container["resources"]["requests"]["cpu"], "120m");
        assert!(container["resources"]["limits"]["cpu"].is_null());
        assert!(
            container["resources"]["limits"]
                .as_object()
                .is_some_and(|l| l.contains_key("cpu")),
            "the limit is deleted with an explicit null: {text}"
        );
        assert!(
            container["resources"]["requests"].get("memory").is_none(),
            "unchanged: {text}"
        );
        assert!(
            text.starts_with("# shop/Deployment/web: 12.50 USD/month (kubetally)"),
            "{text}"
        );
    }

    #[test]
    fn cronjobs_patch_the_job_template_and_sidecars_go_under_init_containers() {
        let mut sidecar = recommendation(
            "CronJob",
            "proxy",
            sized(0.2, None, 128.0),
            sized(0.05, None, 128.0),
        );
        sidecar.init_container = true;
        let app = recommendation(
            "CronJob",
            "app",
            sized(1.0, None, 1024.0),
            sized(0.5, None, 600.0),
        );
        let value = parse(&yaml(&[sidecar, app]).unwrap_or_else(|e| panic!("{e}")));
        let pod = &value["spec"]["jobTemplate"]["spec"]["template"]["spec"];
        assert_eq!(value["apiVersion"], "batch/v1");
        assert_eq!(pod["containers"][0]["name"], "app");
        assert_eq!(
            pod["containers"][0]["resources"]["requests"]["memory"],
            "600Mi"
        );
        assert_eq!(pod["initContainers"][0]["name"], "proxy");
        assert_eq!(
            pod["initContainers"][0]["resources"]["requests"]["cpu"],
            "50m"
        );
    }

    #[test]
    fn undecided_unchanged_and_immutable_workloads_get_no_patch() {
        let mut undecided = recommendation(
            "Deployment",
            "a",
            sized(1.0, None, 64.0),
            sized(0.1, None, 64.0),
        );
        undecided.undecided = true;
        let same = recommendation(
            "StatefulSet",
            "b",
            sized(1.0, None, 64.0),
            sized(1.0, None, 64.0),
        );
        assert_eq!(
            yaml(&[undecided, same]).unwrap_or_else(|e| panic!("{e}")),
            ""
        );
        let job = recommendation("Job", "c", sized(1.0, None, 64.0), sized(0.1, None, 64.0));
        let text = yaml(&[job]).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            text.contains("No patch: a Job's pod template cannot change in place"),
            "{text}"
        );
        assert!(!text.contains("apiVersion"), "{text}");
    }

    #[test]
    fn workloads_come_largest_savings_first_one_document_each() {
        let mut small = recommendation(
            "Deployment",
            "app",
            sized(0.5, None, 64.0),
            sized(0.4, None, 64.0),
        );
        small.workload_name = "small".into();
        small.monthly_savings_usd = 1.0;
        let mut big = small.clone();
        big.workload_name = "big".into();
        big.monthly_savings_usd = 90.0;
        let mut big_sidecar = big.clone();
        big_sidecar.container = "log".into();
        let text = yaml(&[small, big, big_sidecar]).unwrap_or_else(|e| panic!("{e}"));
        let documents: Vec<&str> = text.split("---\n").collect();
        assert_eq!(documents.len(), 2, "{text}");
        assert!(
            documents[0].starts_with("# shop/Deployment/big: 180.00 USD/month"),
            "{text}"
        );
        assert_eq!(
            parse(documents[0])["spec"]["template"]["spec"]["containers"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
    }
}
