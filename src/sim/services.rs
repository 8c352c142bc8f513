//! Services of the simulated cluster: a ClusterIP Service in front of every
//! Deployment, a headless one for every StatefulSet, and LoadBalancer
//! Services whose cloud load balancers cost money: the ingress controller's
//! and the public APIs of a few tenants, one of them on AWS (a hostname, as
//! the AWS Load Balancer Controller reports an NLB) and one still waiting
//! for its load balancer (no ingress yet).
//!
//! Services are written once at the epoch and never change: what a bill
//! needs of them is their type and whether a load balancer exists. Addresses
//! come from counters, not draws, so they take nothing from the seed's streams.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::etcd::{Etcd, EtcdError};
use super::objects::timestamp;
use super::resources::{DEPLOYMENTS, SERVICES, STATEFULSETS};
use super::selector::{FieldSelector, LabelSelector};

/// Who provides a LoadBalancer Service's load balancer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balancer {
    /// GKE's L4 load balancer: an IP address.
    Gcp,
    /// An AWS NLB: a DNS name.
    Aws,
    /// Not provisioned yet: no ingress.
    Pending,
}

/// The LoadBalancer Services: (namespace, name, selected app, balancer).
pub const LOAD_BALANCERS: [(&str, &str, &str, Balancer); 5] = [
    (
        "ingress",
        "ingress-nginx-controller",
        "ingress-nginx-controller",
        Balancer::Gcp,
    ),
    ("acme", "api-public", "api", Balancer::Gcp),
    ("globex", "api-public", "api", Balancer::Gcp),
    ("stark", "api-public", "api", Balancer::Aws),
    ("wonka", "api-public", "api", Balancer::Pending),
];

/// Hands out cluster IPs and node ports in order, as the allocators would.
#[derive(Debug, Default)]
struct Addresses {
    next: u32,
}

impl Addresses {
    fn take(&mut self) -> (String, u32) {
        self.next += 1;
        let n = self.next;
        (
            format!("10.96.{}.{}", n / 250, 10 + n % 250),
            30_000 + n * 37 % 2_000,
        )
    }
}

/// A Service object of `kind` (`ClusterIP`, `None` for headless, or
/// `LoadBalancer`) selecting pods of `app`.
pub fn service_object(
    namespace: &str,
    name: &str,
    app: &str,
    kind: &str,
    (cluster_ip, node_port): (String, u32),
    created: DateTime<Utc>,
) -> Value {
    let mut port = json!({"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080});
    let headless = kind == "None";
    let mut spec = json!({
        "type": if headless { "ClusterIP" } else { kind },
        "selector": {"app": app},
        "clusterIP": if headless { "None".to_owned() } else { cluster_ip.clone() },
        "clusterIPs": [if headless { "None".to_owned() } else { cluster_ip }],
        "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
        "internalTrafficPolicy": "Cluster", "sessionAffinity": "None",
    });
    let mut metadata = json!({"name": name, "namespace": namespace, "labels": {"app": app}, "creationTimestamp": timestamp(created)});
    if kind == "LoadBalancer" {
        port["nodePort"] = json!(node_port);
        spec["externalTrafficPolicy"] = json!("Cluster");
        spec["allocateLoadBalancerNodePorts"] = json!(true);
        metadata["finalizers"] = json!(["service.kubernetes.io/load-balancer-cleanup"]);
    }
    if headless {
        port = json!({"name": "postgres", "port": 5432, "protocol": "TCP", "targetPort": 5432});
    }
    spec["ports"] = json!([port]);
    json!({"metadata": metadata, "spec": spec, "status": {"loadBalancer": {}}})
}

/// `status.loadBalancer` once the cloud has provisioned the balancer: an IP
/// on GCP, a hostname on AWS, nothing while pending.
pub fn load_balancer_status(balancer: Balancer, namespace: &str, name: &str, n: u32) -> Value {
    match balancer {
        Balancer::Gcp => {
            json!({"ingress": [{"ip": format!("34.118.{}.{}", 10 + n / 200, 20 + n % 200), "ipMode": "VIP"}]})
        }
        Balancer::Aws => json!({"ingress": [{"hostname": format!(
            "k8s-{namespace}-{name}-{:010x}.elb.us-east-1.amazonaws.com",
            u64::from(n) * 0x9e37_79b9 % 0xff_ffff_ffff
        )}]}),
        Balancer::Pending => json!({}),
    }
}

/// Writes every Service at `now`.
///
/// # Errors
///
/// A [`EtcdError`] if the store refuses an object (a generator defect).
pub fn generate(store: &Etcd, now: DateTime<Utc>) -> Result<usize, EtcdError> {
    let created = now - Duration::days(20);
    let mut addresses = Addresses::default();
    let mut written = 0;
    let everything = LabelSelector::default();
    for (resource, kind) in [(DEPLOYMENTS, "ClusterIP"), (STATEFULSETS, "None")] {
        let page = store.list(
            resource,
            None,
            &everything,
            &FieldSelector::default(),
            None,
            None,
        );
        for workload in page.items {
            let app = workload.value()["metadata"]["labels"]["app"]
                .as_str()
                .unwrap_or(&workload.name)
                .to_owned();
            let service = service_object(
                &workload.namespace,
                &workload.name,
                &app,
                kind,
                addresses.take(),
                created,
            );
            // The ingress controller's own Service is its LoadBalancer below.
            if LOAD_BALANCERS
                .iter()
                .any(|(ns, name, ..)| *ns == workload.namespace && *name == workload.name)
            {
                continue;
            }
            store.put(SERVICES, service)?;
            written += 1;
        }
    }
    for (n, (namespace, name, app, balancer)) in LOAD_BALANCERS.into_iter().enumerate() {
        let mut service = service_object(
            namespace,
            name,
            app,
            "LoadBalancer",
            addresses.take(),
            created,
        );
        if balancer == Balancer::Aws {
            service["metadata"]["annotations"] = json!({
                "service.beta.kubernetes.io/aws-load-balancer-type": "external",
                "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
                "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
            });
            service["spec"]["loadBalancerClass"] = json!("service.k8s.aws/nlb");
        }
        if balancer == Balancer::Pending {
            // Created at the epoch: the cloud has not answered yet.
            service["metadata"]["creationTimestamp"] = json!(timestamp(now));
        }
        service["status"]["loadBalancer"] =
            load_balancer_status(balancer, namespace, name, n as u32);
        store.put(SERVICES, service)?;
        written += 1;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gke_balancer_has_an_ip_an_aws_one_a_hostname_and_a_pending_one_nothing() {
        let gcp = load_balancer_status(Balancer::Gcp, "acme", "api-public", 1);
        assert!(
            gcp["ingress"][0]["ip"]
                .as_str()
                .is_some_and(|ip| ip.starts_with("34."))
        );
        let aws = load_balancer_status(Balancer::Aws, "stark", "api-public", 3);
        let host = aws["ingress"][0]["hostname"].as_str().unwrap_or_default();
        assert!(
            host.starts_with("k8s-stark-api-public-")
                && host.ends_with(".elb.us-east-1.amazonaws.com"),
            "{host}"
        );
        assert_eq!(
            load_balancer_status(Balancer::Pending, "wonka", "api-public", 4),
            json!({})
        );
    }

    #[test]
    fn a_load_balancer_service_has_a_node_port_and_a_headless_one_no_ip() {
        let at = super::super::cluster::epoch();
        let lb = service_object(
            "acme",
            "api-public",
            "api",
            "LoadBalancer",
            ("10.96.0.11".into(), 30_037),
            at,
        );
        assert_eq!(lb["spec"]["type"], "LoadBalancer");
        assert_eq!(lb["spec"]["ports"][0]["nodePort"], 30_037);
        assert_eq!(lb["spec"]["clusterIP"], "10.96.0.11");
        let headless = service_object(
            "acme",
            "postgres",
            "postgres",
            "None",
            ("10.96.0.12".into(), 0),
            at,
        );
        assert_eq!(headless["spec"]["type"], "ClusterIP");
        assert_eq!(headless["spec"]["clusterIP"], "None");
        assert!(headless["spec"]["ports"][0]["nodePort"].is_null());
    }
}
