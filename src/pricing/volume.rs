//! Volume classification: which cloud disk a StorageClass or a
//! PersistentVolume is, in the terms its price row uses.
//!
//! Every CSI driver and in-tree plugin spells the disk type differently
//! (GCE's `type: pd-ssd`, EBS's `type: gp3`, Azure's `skuName: Premium_LRS`)
//! and defaults differently when the parameter is absent; this is the one
//! place that knows the spellings and the defaults. Parameter keys are
//! compared case-insensitively, as the drivers do.
//!
//! Azure prices Premium SSD, Standard SSD and Standard HDD per disk by size
//! tier, not per GiB: a 100 GiB `Premium_LRS` disk is billed as a P10
//! (128 GiB). [`azure_disk_tier`] picks the smallest tier that holds the
//! disk's size, which is how Azure bills a disk that is not a tier's exact size.

use std::collections::BTreeMap;

use crate::model::Provider;

/// Provisioners and CSI drivers kubetally knows.
pub mod drivers {
    pub const GCE_PD_CSI: &str = "pd.csi.storage.gke.io";
    pub const GCE_PD_IN_TREE: &str = "kubernetes.io/gce-pd";
    pub const AWS_EBS_CSI: &str = "ebs.csi.aws.com";
    pub const AWS_EBS_IN_TREE: &str = "kubernetes.io/aws-ebs";
    pub const AZURE_DISK_CSI: &str = "disk.csi.azure.com";
    pub const AZURE_DISK_IN_TREE: &str = "kubernetes.io/azure-disk";
    /// Statically provisioned local volumes.
    pub const NO_PROVISIONER: &str = "kubernetes.io/no-provisioner";
    /// Rancher's local-path provisioner (kind's default StorageClass).
    pub const LOCAL_PATH: &str = "rancher.io/local-path";
}

/// The StorageClass parameters and volume attributes [`classify_disk`]
/// reads (compared case-insensitively): everything else a volume carries
/// (provisioner identities, fs types) does not move its price, so the
/// collector keeps only these.
pub const DISK_PARAMETERS: [&str; 4] = [TYPE, REPLICATION_TYPE, SKU_NAME, STORAGE_ACCOUNT_TYPE];
const TYPE: &str = "type";
const REPLICATION_TYPE: &str = "replication-type";
const SKU_NAME: &str = "skuName";
const STORAGE_ACCOUNT_TYPE: &str = "storageaccounttype";

/// Whether `key` is one of [`DISK_PARAMETERS`].
pub fn is_disk_parameter(key: &str) -> bool {
    DISK_PARAMETERS
        .iter()
        .any(|known| known.eq_ignore_ascii_case(key))
}

/// The GCE `replication-type` value of a regional persistent disk.
pub const GCE_REGIONAL_PD: &str = "regional-pd";

/// What a volume is, for pricing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskClass {
    /// A cloud disk with a price row of kind `disk`.
    Cloud(CloudDisk),
    /// Space on the node's own disk, already paid for in the node's price.
    NodeLocal,
    /// A provisioner kubetally cannot price; `reason` says why.
    Unknown { driver: String, reason: String },
}

/// A cloud disk: provider, the type its price row is keyed by, and whether
/// it is replicated across zones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudDisk {
    pub provider: Provider,
    /// The provider's type name as the row's `sku`: `pd-balanced`, `gp3`,
    /// `Premium_LRS` (Azure's size tier is picked later, from the size).
    pub disk_type: String,
    /// A GCE regional persistent disk (two zonal replicas, priced ×2).
    pub regional: bool,
    /// Whether the type was given or is the driver's default.
    pub type_from: TypeFrom,
}

/// Where a disk's type came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeFrom {
    /// The StorageClass parameter or PV attribute.
    Parameter,
    /// Absent, so the driver's documented default.
    DriverDefault,
}

/// Classifies a volume from a StorageClass' provisioner and parameters, or a
/// PV's CSI driver and volume attributes (`volume_handle`: the PV's
/// `spec.csi.volumeHandle`, whose `/regions/` marks a regional GCE disk).
///
/// Never fails: what cannot be priced is [`DiskClass::Unknown`] with a reason.
pub fn classify_disk(
    driver: &str,
    parameters: &BTreeMap<String, String>,
    volume_handle: Option<&str>,
) -> DiskClass {
    let parameter = |names: &[&str]| {
        parameters
            .iter()
            .find(|(key, value)| {
                names.iter().any(|name| key.eq_ignore_ascii_case(name)) && !value.trim().is_empty()
            })
            .map(|(_, value)| value.trim())
    };
    let cloud = |provider, given: Option<&str>, default: &str, regional| {
        DiskClass::Cloud(CloudDisk {
            provider,
            disk_type: given.unwrap_or(default).to_owned(),
            regional,
            type_from: if given.is_some() {
                TypeFrom::Parameter
            } else {
                TypeFrom::DriverDefault
            },
        })
    };
    match driver {
        drivers::GCE_PD_CSI | drivers::GCE_PD_IN_TREE => {
            let regional = parameter(&[REPLICATION_TYPE])
                .is_some_and(|value| value.eq_ignore_ascii_case(GCE_REGIONAL_PD))
                || volume_handle.is_some_and(|handle| handle.contains("/regions/"));
            let given = parameter(&[TYPE]).map(str::to_ascii_lowercase);
            // Both document pd-standard as the default type.
            cloud(Provider::Gcp, given.as_deref(), "pd-standard", regional)
        }
        drivers::AWS_EBS_CSI | drivers::AWS_EBS_IN_TREE => {
            let given = parameter(&[TYPE]).map(str::to_ascii_lowercase);
            // The CSI driver defaults to gp3; the in-tree plugin to gp2.
            let default = if driver == drivers::AWS_EBS_CSI {
                "gp3"
            } else {
                "gp2"
            };
            cloud(Provider::Aws, given.as_deref(), default, false)
        }
        drivers::AZURE_DISK_CSI | drivers::AZURE_DISK_IN_TREE => {
            let given = parameter(&[SKU_NAME, STORAGE_ACCOUNT_TYPE]).map(azure_sku_spelling);
            match (given, driver) {
                (Some(sku), _) => cloud(Provider::Azure, Some(&sku), "", false),
                // The CSI driver documents StandardSSD_LRS as its default.
                (None, drivers::AZURE_DISK_CSI) => {
                    cloud(Provider::Azure, None, "StandardSSD_LRS", false)
                }
                (None, _) => DiskClass::Unknown {
                    driver: driver.to_owned(),
                    reason: "in-tree azure-disk without skuName or storageaccounttype: its default depends on the cloud-provider version".to_owned(),
                },
            }
        }
        drivers::NO_PROVISIONER | drivers::LOCAL_PATH => DiskClass::NodeLocal,
        "" => DiskClass::Unknown {
            driver: String::new(),
            reason: "no provisioner or CSI driver".to_owned(),
        },
        other => DiskClass::Unknown {
            driver: other.to_owned(),
            reason: "not a disk provisioner kubetally prices (GCE PD, AWS EBS, Azure Disk, local)"
                .to_owned(),
        },
    }
}

/// Azure's own spelling of a disk SKU whatever its case (`premium_lrs` →
/// `Premium_LRS`), so rows and messages show one name.
fn azure_sku_spelling(sku: &str) -> String {
    const KNOWN: [&str; 7] = [
        "Standard_LRS",
        "StandardSSD_LRS",
        "StandardSSD_ZRS",
        "Premium_LRS",
        "Premium_ZRS",
        "PremiumV2_LRS",
        "UltraSSD_LRS",
    ];
    KNOWN
        .into_iter()
        .find(|known| known.eq_ignore_ascii_case(sku))
        .map_or_else(|| sku.to_owned(), str::to_owned)
}

/// Azure's size tiers (tier number, largest size in GiB) of Premium SSD (P),
/// Standard SSD (E) and Standard HDD (S): P1 and E1 hold 4 GiB, S4 32 GiB,
/// each next tier doubles, the last holds 32,767 GiB (Azure managed disk
/// types page, learn.microsoft.com/azure/virtual-machines/disks-types).
const AZURE_TIERS: [(u32, f64); 14] = [
    (1, 4.0),
    (2, 8.0),
    (3, 16.0),
    (4, 32.0),
    (6, 64.0),
    (10, 128.0),
    (15, 256.0),
    (20, 512.0),
    (30, 1024.0),
    (40, 2048.0),
    (50, 4096.0),
    (60, 8192.0),
    (70, 16384.0),
    (80, 32767.0),
];

/// The size tier an Azure disk of `size_gib` is billed as, spelled as its
/// `sku` in the resource catalog: `Premium_LRS` at 100 GiB → `P10_LRS`
/// (Azure's meter "P10 LRS Disk"), `StandardSSD_ZRS` at 5 GiB → `E2_ZRS`,
/// `Standard_LRS` at 10 GiB → `S4_LRS` (Standard HDD starts at S4).
///
/// `None` for SKUs priced per GiB (Premium SSD v2, Ultra Disk) or not
/// tiered, and for sizes beyond the largest tier.
pub fn azure_disk_tier(sku: &str, size_gib: f64) -> Option<String> {
    let (family, redundancy) = sku.split_once('_')?;
    let letter = match family.to_ascii_lowercase().as_str() {
        "premium" => 'P',
        "standardssd" => 'E',
        "standard" => 'S',
        _ => return None,
    };
    let smallest = if letter == 'S' { 4 } else { 1 };
    let (tier, _) = AZURE_TIERS
        .iter()
        .filter(|(tier, _)| *tier >= smallest)
        .find(|(_, holds)| size_gib <= *holds)?;
    Some(format!(
        "{letter}{tier}_{}",
        redundancy.to_ascii_uppercase()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn cloud(class: DiskClass) -> CloudDisk {
        match class {
            DiskClass::Cloud(disk) => disk,
            other => panic!("expected a cloud disk, got {other:?}"),
        }
    }

    #[test]
    fn reads_gce_types_and_regional_replication() {
        let zonal = cloud(classify_disk(
            drivers::GCE_PD_CSI,
            &params(&[("type", "pd-balanced")]),
            None,
        ));
        assert_eq!(
            (zonal.provider, zonal.disk_type.as_str(), zonal.regional),
            (Provider::Gcp, "pd-balanced", false)
        );
        let regional = cloud(classify_disk(
            drivers::GCE_PD_IN_TREE,
            &params(&[("type", "PD-SSD"), ("Replication-Type", "regional-pd")]),
            None,
        ));
        assert_eq!(
            (regional.disk_type.as_str(), regional.regional),
            ("pd-ssd", true)
        );
        let from_handle = cloud(classify_disk(
            drivers::GCE_PD_CSI,
            &params(&[("type", "hyperdisk-balanced")]),
            Some("projects/p/regions/us-central1/disks/pvc-1"),
        ));
        assert!(from_handle.regional);
        let none = cloud(classify_disk(
            drivers::GCE_PD_CSI,
            &params(&[("replication-type", "none")]),
            Some("projects/p/zones/us-central1-a/disks/pvc-1"),
        ));
        assert_eq!(
            (none.disk_type.as_str(), none.regional, none.type_from),
            ("pd-standard", false, TypeFrom::DriverDefault)
        );
    }

    #[test]
    fn ebs_defaults_differ_between_csi_and_in_tree() {
        let csi = cloud(classify_disk(drivers::AWS_EBS_CSI, &params(&[]), None));
        let in_tree = cloud(classify_disk(drivers::AWS_EBS_IN_TREE, &params(&[]), None));
        assert_eq!(
            (csi.disk_type.as_str(), in_tree.disk_type.as_str()),
            ("gp3", "gp2")
        );
        assert_eq!(csi.type_from, TypeFrom::DriverDefault);
        let io2 = cloud(classify_disk(
            drivers::AWS_EBS_CSI,
            &params(&[("type", "io2"), ("iopsPerGB", "50")]),
            None,
        ));
        assert_eq!(
            (io2.provider, io2.disk_type.as_str(), io2.type_from),
            (Provider::Aws, "io2", TypeFrom::Parameter)
        );
    }

    #[test]
    fn azure_sku_is_read_from_either_key_in_any_case() {
        let csi = cloud(classify_disk(
            drivers::AZURE_DISK_CSI,
            &params(&[("skuname", "premium_lrs")]),
            None,
        ));
        assert_eq!(csi.disk_type, "Premium_LRS");
        let in_tree = cloud(classify_disk(
            drivers::AZURE_DISK_IN_TREE,
            &params(&[("storageaccounttype", "Standard_LRS"), ("kind", "Managed")]),
            None,
        ));
        assert_eq!(in_tree.disk_type, "Standard_LRS");
        let default = cloud(classify_disk(drivers::AZURE_DISK_CSI, &params(&[]), None));
        assert_eq!(
            (default.disk_type.as_str(), default.type_from),
            ("StandardSSD_LRS", TypeFrom::DriverDefault)
        );
        assert!(matches!(
            classify_disk(drivers::AZURE_DISK_IN_TREE, &params(&[]), None),
            DiskClass::Unknown { .. }
        ));
    }

    #[test]
    fn local_volumes_are_the_nodes_and_other_drivers_are_unknown() {
        assert_eq!(
            classify_disk(drivers::NO_PROVISIONER, &params(&[]), None),
            DiskClass::NodeLocal
        );
        assert_eq!(
            classify_disk(drivers::LOCAL_PATH, &params(&[]), None),
            DiskClass::NodeLocal
        );
        match classify_disk("efs.csi.aws.com", &params(&[]), None) {
            DiskClass::Unknown { driver, reason } => {
                assert_eq!(driver, "efs.csi.aws.com");
                assert!(reason.contains("not a disk provisioner"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn azure_tier_is_the_smallest_that_holds_the_size() {
        assert_eq!(
            azure_disk_tier("Premium_LRS", 100.0).as_deref(),
            Some("P10_LRS")
        );
        assert_eq!(
            azure_disk_tier("Premium_LRS", 128.0).as_deref(),
            Some("P10_LRS")
        );
        assert_eq!(
            azure_disk_tier("Premium_LRS", 128.5).as_deref(),
            Some("P15_LRS")
        );
        assert_eq!(
            azure_disk_tier("StandardSSD_ZRS", 5.0).as_deref(),
            Some("E2_ZRS")
        );
        assert_eq!(
            azure_disk_tier("Standard_LRS", 10.0).as_deref(),
            Some("S4_LRS")
        );
        assert_eq!(
            azure_disk_tier("premium_lrs", 32767.0).as_deref(),
            Some("P80_LRS")
        );
        assert_eq!(azure_disk_tier("Premium_LRS", 40000.0), None);
        assert_eq!(azure_disk_tier("PremiumV2_LRS", 100.0), None);
        assert_eq!(azure_disk_tier("UltraSSD_LRS", 100.0), None);
        assert_eq!(azure_disk_tier("Premium", 100.0), None);
    }
}
