//! Shared GPUs: how many physical GPUs a node has, and what fraction of one
//! each device a container requests holds.
//!
//! A node is billed for its physical GPUs, yet a device plugin may advertise
//! more devices than that: time-slicing hands out `replicas` devices per GPU
//! (NVIDIA's device plugin, GKE time-sharing), and MIG cuts a GPU into
//! instances of a few compute slices each (`nvidia.com/mig-3g.20gb` holds 3
//! of an A100's 7). The one decision that shapes this module: **a device's
//! share is the fraction of a physical GPU it holds** — 1/replicas of a
//! time-sliced GPU, g/slices of a MIG-partitioned one — so a node's GPU cost
//! splits over its devices in proportion to what each can use, and what no
//! container holds (a free replica, an unused or stranded MIG slice) is the
//! node's idle GPU cost. The rules and their sources are in
//! `docs/cost-model.md` ("GPU slices").
//!
//! The counts come from what the device plugin and gpu-feature-discovery
//! (GFD) publish on the node: `nvidia.com/gpu.count` (physical GPUs, except
//! under the MIG `single` strategy, where it counts MIG devices),
//! `nvidia.com/gpu.replicas`, GKE's
//! `cloud.google.com/gke-max-shared-clients-per-gpu`, and the advertised
//! capacity. A label that does not parse is a [`GpuLabelError`] for the
//! caller to count; the node is then read from what remains, never dropped.

use std::collections::BTreeMap;

/// Extended resources a whole (or time-sliced) GPU is requested by:
/// NVIDIA's, NVIDIA's renamed time-sliced replicas (`renameByDefault`) and AMD's.
pub const GPU_DEVICES: [&str; 3] = ["nvidia.com/gpu", "nvidia.com/gpu.shared", "amd.com/gpu"];

/// The prefix of MIG devices under the `mixed` strategy: `nvidia.com/mig-1g.5gb`.
pub const MIG_PREFIX: &str = "nvidia.com/mig-";

/// Compute slices of an A100 or H100 (and H200, B200): "up to seven
/// instances" in NVIDIA's MIG user guide, whose profiles are named
/// `<g>g.<memory>gb` for g of the 7 slices.
pub const MIG_SLICES_PER_GPU: u32 = 7;

/// Compute slices of an A30, whose profiles are 1g.6gb, 2g.12gb and 4g.24gb
/// (NVIDIA MIG user guide, "A30 MIG profiles").
pub const A30_MIG_SLICES: u32 = 4;

/// Node labels read, as GFD and GKE spell them.
pub mod labels {
    pub const GPU_COUNT: &str = "nvidia.com/gpu.count";
    pub const GPU_REPLICAS: &str = "nvidia.com/gpu.replicas";
    pub const GPU_PRODUCT: &str = "nvidia.com/gpu.product";
    pub const MIG_STRATEGY: &str = "nvidia.com/mig.strategy";
    pub const GPU_SLICES_GI: &str = "nvidia.com/gpu.slices.gi";
    pub const GKE_MAX_SHARED_CLIENTS: &str = "cloud.google.com/gke-max-shared-clients-per-gpu";
}

/// A GPU label whose value kubetally cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("label {label}={value:?} is not a positive whole number; {fallback}")]
pub struct GpuLabelError {
    pub label: &'static str,
    pub value: String,
    /// What was used instead, in words.
    pub fallback: &'static str,
}

/// A node's GPUs as billing sees them.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct NodeGpus {
    /// Physical GPUs: what the node is priced for.
    pub physical: u32,
    pub sharing: GpuSharing,
}

/// How a node's GPUs are handed out to containers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GpuSharing {
    /// The fraction of a physical GPU one whole-GPU device
    /// ([`GPU_DEVICES`]) holds: 1, or 1/replicas when time-sliced, or
    /// g/slices under the MIG `single` strategy.
    pub device_share: f64,
    /// Compute slices of one of the node's GPUs, for MIG devices.
    pub mig_slices_per_gpu: u32,
}

impl Default for GpuSharing {
    /// Not shared: a device is a whole GPU.
    fn default() -> GpuSharing {
        GpuSharing {
            device_share: 1.0,
            mig_slices_per_gpu: MIG_SLICES_PER_GPU,
        }
    }
}

impl GpuSharing {
    /// The physical GPUs a container holds on this node: `devices` whole or
    /// time-sliced GPU devices and `mig_slices` MIG compute slices (see
    /// [`mig_slices`]).
    pub fn share(&self, devices: u32, mig_slices: u32) -> f64 {
        f64::from(devices) * self.device_share
            + f64::from(mig_slices) / f64::from(self.mig_slices_per_gpu.max(1))
    }
}

/// The compute slices a MIG device of `resource` holds: `g` of
/// `nvidia.com/mig-<g>g.<memory>gb` (media-extension suffixes such as
/// `+me` allowed), `c` of a compute-instance profile
/// `nvidia.com/mig-<c>c.<g>g.<memory>gb`; `None` for anything else.
pub fn mig_slices(resource: &str) -> Option<u32> {
    let profile = resource.strip_prefix(MIG_PREFIX)?;
    let mut parts = profile.split('.');
    let first = parts.next()?;
    let count = |part: &str, unit: char| {
        part.strip_suffix(unit)
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| *n > 0)
    };
    if let Some(compute) = count(first, 'c') {
        let gpu_instance = count(parts.next()?, 'g')?;
        return (compute <= gpu_instance).then_some(compute);
    }
    count(first, 'g')
}

/// The compute slices of one GPU of a product (`NVIDIA-A30`, `A100-SXM4-40GB`).
fn slices_of_product(product: &str) -> u32 {
    if product.to_ascii_uppercase().contains("A30") {
        A30_MIG_SLICES
    } else {
        MIG_SLICES_PER_GPU
    }
}

/// A node's GPUs from its labels and its advertised capacity (resource name
/// → whole devices), with every label that had to be ignored.
///
/// - physical GPUs: `nvidia.com/gpu.count`; under the MIG `single` strategy
///   (where that label counts MIG devices) the devices divided by how many
///   fit on one GPU; without the label, the advertised devices divided by
///   the replicas, plus the GPUs the MIG devices fill;
/// - a whole-GPU device's share: 1 / `nvidia.com/gpu.replicas`, else 1 / GKE's
///   max-shared-clients-per-gpu, else physical / advertised when the node
///   advertises more devices than it has GPUs, else 1.
pub fn node_gpus(
    node_labels: &BTreeMap<String, String>,
    capacity: &[(&str, u32)],
) -> (NodeGpus, Vec<GpuLabelError>) {
    let mut problems = Vec::new();
    let mut number = |label: &'static str, fallback: &'static str| -> Option<u32> {
        let value = node_labels.get(label)?;
        match value.trim().parse::<u32>() {
            Ok(n) if n > 0 => Some(n),
            // Zero GPUs is a fact, not an error; zero replicas is not.
            Ok(0) if label == labels::GPU_COUNT => Some(0),
            _ => {
                problems.push(GpuLabelError {
                    label,
                    value: value.clone(),
                    fallback,
                });
                None
            }
        }
    };
    let product = node_labels
        .get(labels::GPU_PRODUCT)
        .map(String::as_str)
        .unwrap_or_default();
    let slices = slices_of_product(product);
    let advertised: u32 = capacity
        .iter()
        .filter(|(resource, _)| GPU_DEVICES.contains(resource))
        .map(|(_, n)| *n)
        .sum();
    let mig_slices_advertised: u32 = capacity
        .iter()
        .filter_map(|(resource, n)| mig_slices(resource).map(|g| g * n))
        .sum();
    let single_mig = node_labels
        .get(labels::MIG_STRATEGY)
        .is_some_and(|s| s == "single")
        && advertised > 0;
    if single_mig {
        let per_device = number(
            labels::GPU_SLICES_GI,
            "read the slices from the product name, else one",
        )
        .or_else(|| {
            let (_, profile) = product.rsplit_once("-MIG-")?;
            mig_slices(&format!("{MIG_PREFIX}{profile}"))
        })
        .unwrap_or(1)
        .min(slices);
        let per_gpu = (slices / per_device).max(1);
        return (
            NodeGpus {
                physical: advertised.div_ceil(per_gpu),
                sharing: GpuSharing {
                    device_share: f64::from(per_device) / f64::from(slices),
                    mig_slices_per_gpu: slices,
                },
            },
            problems,
        );
    }
    let count = number(labels::GPU_COUNT, "counted the advertised devices instead");
    let replicas = number(
        labels::GPU_REPLICAS,
        "read GKE's shared clients, else the advertised devices per GPU",
    )
    .or_else(|| {
        number(
            labels::GKE_MAX_SHARED_CLIENTS,
            "read the advertised devices per GPU instead",
        )
    });
    let physical = count.unwrap_or_else(|| {
        advertised.div_ceil(replicas.unwrap_or(1)) + mig_slices_advertised.div_ceil(slices)
    });
    let device_share = match replicas {
        Some(replicas) => 1.0 / f64::from(replicas),
        None if physical > 0 && advertised > physical && mig_slices_advertised == 0 => {
            f64::from(physical) / f64::from(advertised)
        }
        None => 1.0,
    };
    (
        NodeGpus {
            physical,
            sharing: GpuSharing {
                device_share,
                mig_slices_per_gpu: slices,
            },
        },
        problems,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_plain_gpu_node_has_what_it_advertises_and_a_device_is_a_gpu() {
        let (gpus, problems) = node_gpus(&labels(&[]), &[("nvidia.com/gpu", 2)]);
        assert_eq!((gpus.physical, gpus.sharing.device_share), (2, 1.0));
        assert!(problems.is_empty());
        assert_eq!(gpus.sharing.share(1, 0), 1.0);
    }

    #[test]
    fn a_time_sliced_node_is_priced_for_its_physical_gpus_and_a_replica_holds_a_quarter() {
        let gfd = labels(&[
            (labels::GPU_COUNT, "1"),
            (labels::GPU_REPLICAS, "4"),
            (labels::GPU_PRODUCT, "NVIDIA-L4-SHARED"),
        ]);
        let (gpus, problems) = node_gpus(&gfd, &[("nvidia.com/gpu", 4)]);
        assert_eq!((gpus.physical, gpus.sharing.device_share), (1, 0.25));
        assert!(problems.is_empty());
        // GKE's label alone, and the renamed resource, say the same.
        let gke = labels(&[(labels::GKE_MAX_SHARED_CLIENTS, "4")]);
        let (gpus, _) = node_gpus(&gke, &[("nvidia.com/gpu.shared", 8)]);
        assert_eq!((gpus.physical, gpus.sharing.device_share), (2, 0.25));
        // No replicas label, but more devices than GPUs.
        let count_only = labels(&[(labels::GPU_COUNT, "2")]);
        let (gpus, _) = node_gpus(&count_only, &[("nvidia.com/gpu", 8)]);
        assert_eq!((gpus.physical, gpus.sharing.device_share), (2, 0.25));
    }

    #[test]
    fn a_mig_slice_holds_its_compute_slices_of_seven() {
        assert_eq!(mig_slices("nvidia.com/mig-1g.5gb"), Some(1));
        assert_eq!(mig_slices("nvidia.com/mig-3g.20gb"), Some(3));
        assert_eq!(mig_slices("nvidia.com/mig-1g.10gb+me"), Some(1));
        assert_eq!(mig_slices("nvidia.com/mig-1c.3g.20gb"), Some(1));
        assert_eq!(mig_slices("nvidia.com/mig-xg.5gb"), None);
        assert_eq!(mig_slices("nvidia.com/gpu"), None);
        let mixed = labels(&[
            (labels::MIG_STRATEGY, "mixed"),
            (labels::GPU_COUNT, "1"),
            (labels::GPU_PRODUCT, "NVIDIA-A100-SXM4-40GB"),
        ]);
        let capacity = [
            ("nvidia.com/gpu", 0),
            ("nvidia.com/mig-1g.5gb", 2),
            ("nvidia.com/mig-2g.10gb", 1),
            ("nvidia.com/mig-3g.20gb", 1),
        ];
        let (gpus, problems) = node_gpus(&mixed, &capacity);
        assert_eq!(gpus.physical, 1);
        assert!(problems.is_empty());
        assert_eq!(gpus.sharing.share(0, 1), 1.0 / 7.0);
        assert_eq!(gpus.sharing.share(0, 3), 3.0 / 7.0);
        // Without gpu.count, the slices advertised fill one GPU.
        let (gpus, _) = node_gpus(&labels(&[]), &capacity);
        assert_eq!(gpus.physical, 1);
        // An A30 has four slices.
        let a30 = labels(&[
            (labels::GPU_PRODUCT, "NVIDIA-A30"),
            (labels::GPU_COUNT, "1"),
        ]);
        assert_eq!(node_gpus(&a30, &[]).0.sharing.share(0, 1), 0.25);
    }

    #[test]
    fn under_the_single_strategy_the_count_is_of_mig_devices_not_gpus() {
        // 8 A100s, each cut into 7 1g.5gb devices.
        let single = labels(&[
            (labels::MIG_STRATEGY, "single"),
            (labels::GPU_COUNT, "56"),
            (labels::GPU_PRODUCT, "A100-SXM4-40GB-MIG-1g.5gb"),
            (labels::GPU_SLICES_GI, "1"),
        ]);
        let (gpus, _) = node_gpus(&single, &[("nvidia.com/gpu", 56)]);
        assert_eq!((gpus.physical, gpus.sharing.share(1, 0)), (8, 1.0 / 7.0));
        // Two 3g.20gb per GPU, told by the product name alone: 16 devices, 8 GPUs.
        let single = labels(&[
            (labels::MIG_STRATEGY, "single"),
            (labels::GPU_PRODUCT, "A100-SXM4-40GB-MIG-3g.20gb"),
        ]);
        let (gpus, _) = node_gpus(&single, &[("nvidia.com/gpu", 16)]);
        assert_eq!((gpus.physical, gpus.sharing.share(1, 0)), (8, 3.0 / 7.0));
    }

    #[test]
    fn bad_labels_are_reported_and_the_node_is_read_from_what_remains() {
        let bad = labels(&[
            (labels::GPU_COUNT, "one"),
            (labels::GPU_REPLICAS, "four"),
            (labels::GKE_MAX_SHARED_CLIENTS, "0"),
        ]);
        let (gpus, problems) = node_gpus(&bad, &[("nvidia.com/gpu", 4)]);
        // Nothing says how the 4 devices are shared: 4 GPUs, as before.
        assert_eq!((gpus.physical, gpus.sharing.device_share), (4, 1.0));
        let named: Vec<&str> = problems.iter().map(|p| p.label).collect();
        assert_eq!(
            named,
            [
                labels::GPU_COUNT,
                labels::GPU_REPLICAS,
                labels::GKE_MAX_SHARED_CLIENTS
            ]
        );
        assert_eq!(
            problems[1].to_string(),
            "label nvidia.com/gpu.replicas=\"four\" is not a positive whole number; \
             read GKE's shared clients, else the advertised devices per GPU"
        );
        // A bad replicas label with a good count: devices per GPU.
        let half = labels(&[(labels::GPU_COUNT, "1"), (labels::GPU_REPLICAS, "x")]);
        let (gpus, problems) = node_gpus(&half, &[("nvidia.com/gpu", 4)]);
        assert_eq!(
            (gpus.physical, gpus.sharing.device_share, problems.len()),
            (1, 0.25, 1)
        );
    }
}
