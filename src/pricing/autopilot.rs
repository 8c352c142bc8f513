//! GKE Autopilot: what a pod is billed for, which is its requests rounded to
//! what Autopilot provisions, not the node it lands on.
//!
//! Google's pricing page (`shared/pricing/pricing_notes.md` §5) says CPU is
//! requested "in ¼-vCPU steps, with 1–6.5 GB memory per vCPU, and requests
//! are rounded up". It leaves open the minimum, the unit of the ratio and
//! the order of the adjustments; the choices made here, in one place:
//!
//! - the rule is applied to the pod's total requests (Autopilot provisions
//!   pods, not containers);
//! - CPU: at least 0.25 vCPU, rounded up to a multiple of 0.25;
//! - memory: at least 0.5 GiB; the ratio is read as GiB per vCPU;
//! - too little memory for the CPU (under 1 GiB per vCPU) raises memory to
//!   1 GiB per vCPU; too much (over 6.5 GiB per vCPU) raises CPU to
//!   memory / 6.5, again rounded up to 0.25 — Autopilot only ever rounds up;
//! - memory itself is not stepped, and ephemeral storage is billed as
//!   requested (the sources give no step or minimum for either);
//! - these rules are general-purpose's; other compute classes (Balanced,
//!   Scale-Out, …) have their own ratios the sources do not give, so their
//!   requests are billed as made and [`BilledRequests::rule`] says so.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::model::NodeFacts;

/// How the cluster's compute is billed (`--billing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Billing {
    /// Autopilot when the nodes say so ([`is_autopilot_node`]), else by node.
    #[default]
    Auto,
    /// By node: what the node VMs cost, split over their containers.
    Nodes,
    /// GKE Autopilot: each pod by its rounded requests at its compute
    /// class's rates; nodes cost nothing.
    Autopilot,
}

impl Billing {
    /// Whether pods are billed as Autopilot bills them, given the nodes of
    /// the hour (consulted only in [`Billing::Auto`]).
    pub fn is_autopilot<'a>(self, mut nodes: impl Iterator<Item = &'a NodeFacts>) -> bool {
        match self {
            Billing::Nodes => false,
            Billing::Autopilot => true,
            Billing::Auto => nodes.any(is_autopilot_node),
        }
    }
}

impl FromStr for Billing {
    type Err = String;

    fn from_str(s: &str) -> Result<Billing, String> {
        match s {
            "auto" => Ok(Billing::Auto),
            "nodes" => Ok(Billing::Nodes),
            "autopilot" => Ok(Billing::Autopilot),
            _ => Err(format!(
                "--billing {s:?}: expected auto, nodes or autopilot"
            )),
        }
    }
}

impl fmt::Display for Billing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Billing::Auto => "auto",
            Billing::Nodes => "nodes",
            Billing::Autopilot => "autopilot",
        })
    }
}

/// The prefix of the names GKE gives Autopilot nodes
/// (`gk3-<cluster>-<pool>-<hash>-<suffix>`; Standard nodes are `gke-…`).
pub const AUTOPILOT_NODE_PREFIX: &str = "gk3-";

/// Whether a node is one of GKE Autopilot's: a GCE node named `gk3-…`.
///
/// The name is the one signal that tells Autopilot from Standard: the
/// labels Autopilot nodes carry (`cloud.google.com/compute-class`,
/// `cloud.google.com/gke-provisioning`, `…/machine-family`) also appear on
/// Standard nodes that use custom compute classes or Spot VMs, while every
/// Autopilot node is named `gk3-` (public write-ups of Autopilot clusters
/// and the tools that detect Autopilot by it), and a cluster is Autopilot
/// or Standard as a whole. A node name alone could be a coincidence on
/// another cloud, so the provider must be GCE (or unknown).
pub fn is_autopilot_node(node: &NodeFacts) -> bool {
    let on_gce = node
        .provider_id
        .as_deref()
        .is_none_or(|id| id.starts_with("gce://"));
    on_gce && node.name.starts_with(AUTOPILOT_NODE_PREFIX)
}

/// Namespaces whose pods Autopilot does not bill: GKE's own.
///
/// Google's pricing page says "you are not charged for system Pods"; the
/// system pods are those in the namespaces GKE manages, which Autopilot
/// does not let users deploy into: `kube-system`, the Managed Service for
/// Prometheus namespaces (`gke-gmp-system`, `gmp-system`, `gmp-public`) and
/// every `gke-managed-*` namespace (`gke-managed-system`,
/// `gke-managed-cim`, `gke-managed-filestorecsi`, …).
pub fn is_system_namespace(namespace: &str) -> bool {
    matches!(
        namespace,
        "kube-system" | "gke-gmp-system" | "gmp-system" | "gmp-public"
    ) || namespace.starts_with("gke-managed-")
}

/// The compute class of pods that name none.
pub const GENERAL_PURPOSE: &str = "general-purpose";

/// The pod label (node selector) that picks a compute class.
pub const COMPUTE_CLASS_SELECTOR: &str = "cloud.google.com/compute-class";

/// The pod node selector that asks for Spot capacity.
pub const SPOT_SELECTOR: &str = "cloud.google.com/gke-spot";

/// Smallest CPU a general-purpose pod is billed for, and the CPU step.
pub const CPU_STEP_VCPU: f64 = 0.25;

/// Smallest memory a general-purpose pod is billed for.
pub const MIN_MEMORY_GIB: f64 = 0.5;

/// Memory per vCPU a general-purpose pod is billed within.
pub const MEMORY_GIB_PER_VCPU: (f64, f64) = (1.0, 6.5);

/// A pod's total requests.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PodRequests {
    pub cpu_vcpu: f64,
    pub memory_gib: f64,
    pub ephemeral_gib: f64,
}

/// Which rounding rule produced a [`BilledRequests`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundingRule {
    /// General-purpose: minimums, ¼-vCPU steps and the memory ratio applied.
    GeneralPurpose,
    /// A class whose rules the sources do not give: billed as requested.
    AsRequested,
}

/// What Autopilot bills a pod for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BilledRequests {
    pub cpu_vcpu: f64,
    pub memory_gib: f64,
    pub ephemeral_gib: f64,
    pub rule: RoundingRule,
}

/// The compute class and spot-ness a pod asks for, from its node selector:
/// `cloud.google.com/compute-class` (absent: general-purpose), lowercased as
/// the resource catalog's `sku`, and `cloud.google.com/gke-spot: "true"`.
pub fn pod_class(node_selector: &BTreeMap<String, String>) -> (String, bool) {
    let class = node_selector
        .get(COMPUTE_CLASS_SELECTOR)
        .map(|class| class.trim().to_ascii_lowercase())
        .filter(|class| !class.is_empty())
        .unwrap_or_else(|| GENERAL_PURPOSE.to_owned());
    let spot = node_selector
        .get(SPOT_SELECTOR)
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("true"));
    (class, spot)
}

/// The requests Autopilot bills a pod of `class` for (see the module docs
/// for the rules and where they are our reading of vague sources).
pub fn billed_requests(class: &str, requests: PodRequests) -> BilledRequests {
    let clean = |value: f64| {
        if value.is_finite() {
            value.max(0.0)
        } else {
            0.0
        }
    };
    let ephemeral_gib = clean(requests.ephemeral_gib);
    if !class.eq_ignore_ascii_case(GENERAL_PURPOSE) {
        return BilledRequests {
            cpu_vcpu: clean(requests.cpu_vcpu),
            memory_gib: clean(requests.memory_gib),
            ephemeral_gib,
            rule: RoundingRule::AsRequested,
        };
    }
    let (min_ratio, max_ratio) = MEMORY_GIB_PER_VCPU;
    let mut cpu_vcpu = round_up_to_step(clean(requests.cpu_vcpu).max(CPU_STEP_VCPU));
    let mut memory_gib = clean(requests.memory_gib).max(MIN_MEMORY_GIB);
    if memory_gib < cpu_vcpu * min_ratio {
        memory_gib = cpu_vcpu * min_ratio;
    } else if memory_gib > cpu_vcpu * max_ratio {
        cpu_vcpu = round_up_to_step(memory_gib / max_ratio);
    }
    BilledRequests {
        cpu_vcpu,
        memory_gib,
        ephemeral_gib,
        rule: RoundingRule::GeneralPurpose,
    }
}

/// `value` rounded up to a multiple of [`CPU_STEP_VCPU`]. A request that is
/// a step to within float noise (0.1 + 0.15) stays that step.
fn round_up_to_step(value: f64) -> f64 {
    let steps = value / CPU_STEP_VCPU;
    let nearest = steps.round();
    let steps = if (steps - nearest).abs() < 1e-9 {
        nearest
    } else {
        steps.ceil()
    };
    steps * CPU_STEP_VCPU
}

#[cfg(test)]
mod tests {
    use super::*;

    fn billed(cpu: f64, memory: f64) -> (f64, f64) {
        let b = billed_requests(
            GENERAL_PURPOSE,
            PodRequests {
                cpu_vcpu: cpu,
                memory_gib: memory,
                ephemeral_gib: 0.0,
            },
        );
        (b.cpu_vcpu, b.memory_gib)
    }

    #[test]
    fn cpu_is_rounded_up_to_quarter_vcpus_with_a_quarter_minimum() {
        assert_eq!(billed(0.0, 1.0), (0.25, 1.0));
        assert_eq!(billed(0.1, 1.0), (0.25, 1.0));
        assert_eq!(billed(0.26, 1.0), (0.5, 1.0));
        assert_eq!(billed(0.1 + 0.15, 1.0), (0.25, 1.0));
        assert_eq!(billed(1.0, 4.0), (1.0, 4.0));
    }

    #[test]
    fn memory_is_raised_to_one_gib_per_vcpu_and_to_the_minimum() {
        assert_eq!(billed(2.0, 0.5), (2.0, 2.0));
        assert_eq!(billed(0.25, 0.1), (0.25, 0.5));
    }

    #[test]
    fn too_much_memory_raises_cpu_to_the_ratio_rounded_up() {
        // 13 GiB needs 2 vCPU at 6.5 GiB per vCPU.
        assert_eq!(billed(0.5, 13.0), (2.0, 13.0));
        // 14 GiB needs 2.15 vCPU, billed as 2.25.
        assert_eq!(billed(0.5, 14.0), (2.25, 14.0));
        assert_eq!(billed(0.25, 1.625), (0.25, 1.625));
    }

    #[test]
    fn billed_never_undercuts_the_request_and_keeps_the_ratio() {
        for cpu in [0.0, 0.1, 0.3, 0.9, 1.7, 4.0, 7.3] {
            for memory in [0.0, 0.2, 0.9, 3.0, 10.0, 40.0] {
                let (b_cpu, b_memory) = billed(cpu, memory);
                assert!(b_cpu >= cpu && b_memory >= memory, "{cpu} {memory}");
                assert_eq!((b_cpu / CPU_STEP_VCPU).fract(), 0.0, "{cpu} {memory}");
                let ratio = b_memory / b_cpu;
                assert!((1.0..=6.5).contains(&ratio), "{cpu} {memory}: {ratio}");
            }
        }
    }

    #[test]
    fn other_classes_and_ephemeral_storage_are_billed_as_requested() {
        let requests = PodRequests {
            cpu_vcpu: 0.1,
            memory_gib: 0.2,
            ephemeral_gib: 1.5,
        };
        let balanced = billed_requests("balanced", requests);
        assert_eq!(
            (balanced.cpu_vcpu, balanced.memory_gib, balanced.rule),
            (0.1, 0.2, RoundingRule::AsRequested)
        );
        let general = billed_requests("General-Purpose", requests);
        assert_eq!(
            (general.ephemeral_gib, general.rule),
            (1.5, RoundingRule::GeneralPurpose)
        );
        assert_eq!(
            billed_requests(
                "balanced",
                PodRequests {
                    cpu_vcpu: f64::NAN,
                    memory_gib: -1.0,
                    ephemeral_gib: 0.0
                }
            )
            .cpu_vcpu,
            0.0
        );
    }

    #[test]
    fn an_autopilot_cluster_is_told_by_its_gk3_node_names() {
        let node = |name: &str, provider_id: Option<&str>| NodeFacts {
            name: name.into(),
            provider_id: provider_id.map(str::to_owned),
            ..NodeFacts::default()
        };
        let autopilot = node(
            "gk3-prod-pool-1-2f8e9c1a-x7k2",
            Some("gce://p/us-central1-a/gk3-prod-pool-1-2f8e9c1a-x7k2"),
        );
        let standard = node("gke-prod-default-pool-5f2a", Some("gce://p/z/n"));
        assert!(is_autopilot_node(&autopilot));
        assert!(!is_autopilot_node(&standard));
        assert!(!is_autopilot_node(&node(
            "gk3-x",
            Some("aws:///us-east-1a/i-1")
        )));
        assert!(Billing::Auto.is_autopilot([&standard, &autopilot].into_iter()));
        assert!(!Billing::Auto.is_autopilot([&standard].into_iter()));
        assert!(!Billing::Nodes.is_autopilot([&autopilot].into_iter()));
        assert!(Billing::Autopilot.is_autopilot(std::iter::empty()));
        assert_eq!("autopilot".parse(), Ok(Billing::Autopilot));
        assert!("pods".parse::<Billing>().is_err());
    }

    #[test]
    fn gke_namespaces_are_system_and_others_are_not() {
        for system in [
            "kube-system",
            "gke-managed-cim",
            "gmp-public",
            "gke-gmp-system",
        ] {
            assert!(is_system_namespace(system), "{system}");
        }
        for user in ["default", "shop", "kube-public", "monitoring"] {
            assert!(!is_system_namespace(user), "{user}");
        }
    }

    #[test]
    fn class_and_spot_come_from_the_node_selector() {
        let selector = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            pod_class(&selector(&[])),
            (GENERAL_PURPOSE.to_owned(), false)
        );
        assert_eq!(
            pod_class(&selector(&[
                (COMPUTE_CLASS_SELECTOR, "Balanced"),
                (SPOT_SELECTOR, "true")
            ])),
            ("balanced".to_owned(), true)
        );
        assert!(!pod_class(&selector(&[(SPOT_SELECTOR, "false")])).1);
    }
}
