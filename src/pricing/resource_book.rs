//! Resource prices indexed for lookup: what a disk, a load balancer, a
//! cluster fee or an Autopilot pod costs per hour, and where that price came
//! from.
//!
//! Unlike a node, a resource with no row has no sensible default (a disk
//! type's price varies sixfold), so a missing price is a [`MissingPrice`]
//! for the caller to report, never a silent zero. A region the catalog lacks
//! falls back to the provider's reference region, flagged as for nodes.

use std::collections::HashMap;

use chrono::NaiveDate;

use crate::model::Provider;

use super::book::{PriceSource, reference_region};
use super::catalog::RowOrigin;
use super::resources::{Measure, ResourceKey, ResourceKind, ResourceRow, ResourceUnit};
use super::volume::{CloudDisk, DiskClass, azure_disk_tier};

/// How many zonal replicas a GCE regional persistent disk keeps, and so the
/// factor on the zonal price (`shared/reference/billing.md` §f: regional
/// pd-standard/balanced/ssd are exactly twice the zonal prices).
pub const REGIONAL_PD_REPLICAS: f64 = 2.0;

/// One resource price: a USD rate per unit and its provenance.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourcePrice {
    pub usd: f64,
    pub unit: ResourceUnit,
    /// The row's SKU (`pd-balanced`, `P10_LRS`, `clb`, `standard`, …).
    pub sku: String,
    /// The region whose row was used (differs from the asked one on fallback;
    /// the asked region for a row that prices every region).
    pub priced_region: String,
    pub price_source: PriceSource,
    pub as_of: Option<NaiveDate>,
    /// The row's source text.
    pub source: String,
}

impl ResourcePrice {
    /// The price of `quantity` units (GiB, disks, vCPUs, …) for one hour.
    pub fn hourly_usd(&self, quantity: f64) -> f64 {
        self.usd * quantity / self.unit.hours()
    }
}

/// A resource kubetally cannot price, said in one line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MissingPrice {
    #[error("no {kind} price for {provider} {sku}{spot} in {region}; add a row to a --pricing file", spot = if *.spot { " (spot)" } else { "" }, region = if .region.is_empty() { "any region" } else { .region.as_str() })]
    NoRow {
        kind: ResourceKind,
        provider: String,
        region: String,
        sku: String,
        spot: bool,
    },
    #[error("volume of {driver:?} cannot be priced: {reason}")]
    UnclassifiedVolume { driver: String, reason: String },
    #[error("azure disk {sku} of {size_gib} GiB is larger than its largest size tier")]
    NoAzureTier { sku: String, size_gib: f64 },
}

/// What a volume costs per hour.
#[derive(Debug, Clone, PartialEq)]
pub enum VolumeCost {
    /// Space on the node's disk: nothing beyond the node's price.
    NodeLocal,
    /// A cloud disk.
    Priced {
        hourly_usd: f64,
        price: ResourcePrice,
        /// How the row became this disk's price, for display
        /// (`tier P10_LRS holds 100 GiB`, `regional-pd: 2 × zonal`).
        adjustments: Vec<String>,
    },
}

/// The three Autopilot rates of a compute class; each may be missing alone
/// (the sources give no spot ephemeral-storage rate, for instance).
#[derive(Debug, Clone, PartialEq)]
pub struct AutopilotRates {
    pub vcpu_hour: Result<ResourcePrice, MissingPrice>,
    pub memory_gib_hour: Result<ResourcePrice, MissingPrice>,
    pub ephemeral_gib_hour: Result<ResourcePrice, MissingPrice>,
}

/// Resource rows indexed by key; later rows (user files) replace earlier ones.
#[derive(Debug, Default)]
pub struct ResourcePrices {
    index: HashMap<ResourceKey, ResourceRow>,
}

impl ResourcePrices {
    /// The rows in order, each replacing any earlier row with its key.
    pub fn new(rows: impl IntoIterator<Item = ResourceRow>) -> ResourcePrices {
        let mut prices = ResourcePrices::default();
        prices.extend(rows);
        prices
    }

    /// Adds rows, replacing those with the same key.
    pub fn extend(&mut self, rows: impl IntoIterator<Item = ResourceRow>) {
        for row in rows {
            self.index.insert(row.key(), row);
        }
    }

    /// Every effective row, sorted by key.
    pub fn rows(&self) -> Vec<&ResourceRow> {
        let mut rows: Vec<&ResourceRow> = self.index.values().collect();
        rows.sort_by_key(|row| row.key());
        rows
    }

    /// Whether a row with this key exists.
    pub fn contains(&self, key: &ResourceKey) -> bool {
        self.index.contains_key(key)
    }

    /// The price of one GiB-month or one disk-month of a disk type (`sku`):
    /// `pd-balanced`, `gp3`, an Azure tier `P10_LRS` or `PremiumV2_LRS`.
    ///
    /// # Errors
    ///
    /// [`MissingPrice::NoRow`] when neither the region, a region-wide row nor
    /// the reference region prices it.
    pub fn disk(
        &self,
        provider: &Provider,
        region: &str,
        disk_type: &str,
    ) -> Result<ResourcePrice, MissingPrice> {
        self.find(ResourceKind::Disk, provider, region, disk_type, false, None)
    }

    /// The hourly price of a load balancer kind: GCP `forwarding_rule`,
    /// AWS `clb` / `alb` / `nlb`, Azure `standard`.
    ///
    /// # Errors
    ///
    /// [`MissingPrice::NoRow`] as for [`ResourcePrices::disk`].
    pub fn load_balancer(
        &self,
        provider: &Provider,
        region: &str,
        kind: &str,
    ) -> Result<ResourcePrice, MissingPrice> {
        self.find(
            ResourceKind::LoadBalancer,
            provider,
            region,
            kind,
            false,
            None,
        )
    }

    /// The hourly management fee of a cluster tier: GKE and EKS `standard`,
    /// EKS `extended_support`, AKS `free` / `standard`.
    ///
    /// # Errors
    ///
    /// [`MissingPrice::NoRow`] as for [`ResourcePrices::disk`].
    pub fn cluster_fee(
        &self,
        provider: &Provider,
        region: &str,
        tier: &str,
    ) -> Result<ResourcePrice, MissingPrice> {
        self.find(
            ResourceKind::ClusterFee,
            provider,
            region,
            tier,
            false,
            None,
        )
    }

    /// The Autopilot rates of a compute class (`general-purpose`,
    /// `balanced`, …) in a region, spot or not. A spot rate is never stood in
    /// for by an on-demand one, nor the reverse.
    pub fn autopilot(&self, region: &str, class: &str, spot: bool) -> AutopilotRates {
        let rate = |unit| {
            self.find(
                ResourceKind::Autopilot,
                &Provider::Gcp,
                region,
                class,
                spot,
                Some(unit),
            )
        };
        AutopilotRates {
            vcpu_hour: rate(ResourceUnit::VcpuHour),
            memory_gib_hour: rate(ResourceUnit::GibHour),
            ephemeral_gib_hour: rate(ResourceUnit::EphemeralGibHour),
        }
    }

    /// What a classified volume of `size_gib` costs per hour in `region`:
    /// nothing for node-local volumes; for Azure's tiered SKUs the price of
    /// the tier that holds the size; ×[`REGIONAL_PD_REPLICAS`] for GCE
    /// regional disks.
    ///
    /// # Errors
    ///
    /// [`MissingPrice`] for an unclassified volume, an Azure disk beyond the
    /// largest tier, or a disk type without a row.
    pub fn volume(
        &self,
        class: &DiskClass,
        region: &str,
        size_gib: f64,
    ) -> Result<VolumeCost, MissingPrice> {
        let disk: &CloudDisk = match class {
            DiskClass::NodeLocal => return Ok(VolumeCost::NodeLocal),
            DiskClass::Unknown { driver, reason } => {
                return Err(MissingPrice::UnclassifiedVolume {
                    driver: driver.clone(),
                    reason: reason.clone(),
                });
            }
            DiskClass::Cloud(disk) => disk,
        };
        let mut adjustments = Vec::new();
        let sku = match (&disk.provider, azure_disk_tier(&disk.disk_type, size_gib)) {
            (Provider::Azure, Some(tier)) => {
                adjustments.push(format!("tier {tier} holds {size_gib} GiB"));
                tier
            }
            (Provider::Azure, None) if is_azure_tiered(&disk.disk_type) => {
                return Err(MissingPrice::NoAzureTier {
                    sku: disk.disk_type.clone(),
                    size_gib,
                });
            }
            _ => disk.disk_type.clone(),
        };
        let price = self.disk(&disk.provider, region, &sku)?;
        let quantity = match price.unit {
            ResourceUnit::DiskMonth => 1.0,
            _ => size_gib,
        };
        let mut hourly_usd = price.hourly_usd(quantity);
        if disk.regional {
            hourly_usd *= REGIONAL_PD_REPLICAS;
            adjustments.push(format!("regional: {REGIONAL_PD_REPLICAS} × zonal price"));
        }
        Ok(VolumeCost::Priced {
            hourly_usd,
            price,
            adjustments,
        })
    }

    /// The row for a resource: a user's row for `region` or region-wide,
    /// then an embedded one for `region` or region-wide, then the provider's
    /// reference region (flagged `region_fallback`). `unit` picks
    /// one of an Autopilot class's rates; other kinds have one row per SKU.
    fn find(
        &self,
        kind: ResourceKind,
        provider: &Provider,
        region: &str,
        sku: &str,
        spot: bool,
        unit: Option<ResourceUnit>,
    ) -> Result<ResourcePrice, MissingPrice> {
        let region = region.to_ascii_lowercase();
        let measure = unit.map_or(Measure::Whole, ResourceUnit::measure);
        let lookup = |region: &str| {
            self.index.get(&(
                kind,
                provider.as_str().to_owned(),
                region.to_owned(),
                sku.to_ascii_lowercase(),
                spot,
                measure,
            ))
        };
        // A user's row beats the embedded one even when the user's prices
        // every region and the embedded one this region: a contract price
        // is meant everywhere it is written.
        let rows: Vec<&ResourceRow> = [region.as_str(), ""]
            .into_iter()
            .filter_map(lookup)
            .collect();
        let own = rows
            .iter()
            .find(|row| row.origin == RowOrigin::User)
            .or(rows.first())
            .map(|row| (*row, PriceSource::from(row.origin), region.clone()));
        let found = own.or_else(|| {
            let reference = reference_region(provider).filter(|r| *r != region)?;
            lookup(reference).map(|row| (row, PriceSource::RegionFallback, reference.to_owned()))
        });
        match found {
            Some((row, price_source, priced_region)) => Ok(ResourcePrice {
                usd: row.usd,
                unit: row.unit,
                sku: row.sku.clone(),
                priced_region,
                price_source,
                as_of: row.as_of,
                source: row.source.clone(),
            }),
            None => Err(MissingPrice::NoRow {
                kind,
                provider: provider.as_str().to_owned(),
                region,
                sku: sku.to_owned(),
                spot,
            }),
        }
    }
}

/// Whether an Azure SKU is billed per disk by size tier (Premium SSD,
/// Standard SSD, Standard HDD) rather than per GiB.
fn is_azure_tiered(sku: &str) -> bool {
    azure_disk_tier(sku, 1.0).is_some()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::pricing::catalog::RowOrigin;
    use crate::pricing::resources::parse_resources;
    use crate::pricing::volume::{classify_disk, drivers};

    const HEADER: &str = "kind,provider,region,sku,capacity_type,unit,usd,as_of,source\n";

    fn prices(body: &str) -> ResourcePrices {
        let rows =
            parse_resources(&format!("{HEADER}{body}"), "t.csv", RowOrigin::Embedded).unwrap();
        ResourcePrices::new(rows)
    }

    fn close(actual: f64, expected: f64) {
        assert!((actual - expected).abs() < 1e-12, "{actual} != {expected}");
    }

    fn priced(cost: VolumeCost) -> (f64, ResourcePrice, Vec<String>) {
        match cost {
            VolumeCost::Priced {
                hourly_usd,
                price,
                adjustments,
            } => (hourly_usd, price, adjustments),
            VolumeCost::NodeLocal => panic!("expected a priced volume"),
        }
    }

    #[test]
    fn a_users_region_wide_row_beats_the_embedded_row_of_the_region() {
        let mut book = prices("disk,gcp,us-central1,pd-ssd,on_demand,gib_month,0.17,,list\n");
        let user = parse_resources(
            &format!("{HEADER}disk,gcp,,pd-ssd,on_demand,gib_month,0.10,,contract\n"),
            "mine.csv",
            RowOrigin::User,
        )
        .unwrap();
        let before = book.disk(&Provider::Gcp, "us-central1", "pd-ssd").unwrap();
        assert_eq!(before.usd, 0.17);
        book.extend(user);
        let after = book.disk(&Provider::Gcp, "us-central1", "pd-ssd").unwrap();
        assert_eq!((after.usd, after.price_source), (0.10, PriceSource::User));
    }

    #[test]
    fn finds_the_region_then_region_wide_then_the_reference_region() {
        let book = prices(
            "disk,gcp,us-central1,pd-ssd,,gib_month,0.17,2026-07-30,a\n\
             disk,gcp,europe-west1,pd-ssd,,gib_month,0.18,,b\n\
             cluster_fee,gcp,,standard,,hour,0.1,,c\n",
        );
        let own = book.disk(&Provider::Gcp, "europe-west1", "PD-SSD").unwrap();
        assert_eq!(
            (own.usd, own.price_source, own.source.as_str()),
            (0.18, PriceSource::Catalog, "b")
        );
        let fallback = book.disk(&Provider::Gcp, "asia-east1", "pd-ssd").unwrap();
        assert_eq!(
            (fallback.price_source, fallback.priced_region.as_str()),
            (PriceSource::RegionFallback, "us-central1")
        );
        let fee = book
            .cluster_fee(&Provider::Gcp, "asia-east1", "standard")
            .unwrap();
        assert_eq!(
            (fee.price_source, fee.priced_region.as_str()),
            (PriceSource::Catalog, "asia-east1")
        );
        close(fee.hourly_usd(1.0), 0.1);
    }

    #[test]
    fn a_missing_price_is_an_error_that_names_what_is_missing() {
        let book = prices("disk,gcp,us-central1,pd-ssd,,gib_month,0.17,,a\n");
        let missing = book
            .disk(&Provider::Gcp, "us-east1", "hyperdisk-balanced")
            .expect_err("no hyperdisk row");
        assert_eq!(
            missing.to_string(),
            "no disk price for gcp hyperdisk-balanced in us-east1; add a row to a --pricing file"
        );
        let lb = book
            .load_balancer(&Provider::Other("onprem".into()), "", "metallb")
            .expect_err("no row");
        assert!(lb.to_string().contains("in any region"), "{lb}");
    }

    #[test]
    fn disks_cost_their_size_per_month_and_regional_disks_twice() {
        let book = prices("disk,gcp,us-central1,pd-balanced,,gib_month,0.1,,a\n");
        let params = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let zonal = classify_disk(
            drivers::GCE_PD_CSI,
            &params(&[("type", "pd-balanced")]),
            None,
        );
        let (hourly, price, adjustments) =
            priced(book.volume(&zonal, "us-central1", 100.0).unwrap());
        close(hourly, 100.0 * 0.1 / 730.0);
        assert_eq!((price.sku.as_str(), adjustments.len()), ("pd-balanced", 0));
        let regional = classify_disk(
            drivers::GCE_PD_CSI,
            &params(&[("type", "pd-balanced"), ("replication-type", "regional-pd")]),
            None,
        );
        let (hourly, _, adjustments) =
            priced(book.volume(&regional, "us-central1", 100.0).unwrap());
        close(hourly, 2.0 * 100.0 * 0.1 / 730.0);
        assert_eq!(adjustments, ["regional: 2 × zonal price"]);
        assert_eq!(
            book.volume(
                &classify_disk(drivers::NO_PROVISIONER, &params(&[]), None),
                "us-central1",
                100.0
            ),
            Ok(VolumeCost::NodeLocal)
        );
        assert!(matches!(
            book.volume(
                &classify_disk("nfs.csi.k8s.io", &params(&[]), None),
                "us-central1",
                1.0
            ),
            Err(MissingPrice::UnclassifiedVolume { .. })
        ));
    }

    #[test]
    fn azure_tiered_disks_cost_their_tier_per_disk() {
        let book = prices(
            "disk,azure,eastus,P10_LRS,,disk_month,19.71,,a\n\
             disk,azure,eastus,PremiumV2_LRS,,gib_month,0.08,,b\n",
        );
        let disk = |sku: &str| {
            DiskClass::Cloud(CloudDisk {
                provider: Provider::Azure,
                disk_type: sku.into(),
                regional: false,
                type_from: crate::pricing::volume::TypeFrom::Parameter,
            })
        };
        let (hourly, price, adjustments) =
            priced(book.volume(&disk("Premium_LRS"), "eastus", 100.0).unwrap());
        close(hourly, 19.71 / 730.0);
        assert_eq!(price.sku, "P10_LRS");
        assert_eq!(adjustments, ["tier P10_LRS holds 100 GiB"]);
        let (hourly, _, _) = priced(
            book.volume(&disk("PremiumV2_LRS"), "eastus", 100.0)
                .unwrap(),
        );
        close(hourly, 100.0 * 0.08 / 730.0);
        assert!(matches!(
            book.volume(&disk("Premium_LRS"), "eastus", 50000.0),
            Err(MissingPrice::NoAzureTier { .. })
        ));
        assert!(matches!(
            book.volume(&disk("Premium_LRS"), "eastus", 1000.0),
            Err(MissingPrice::NoRow { .. })
        ));
    }

    #[test]
    fn autopilot_spot_rates_never_stand_in_for_on_demand() {
        let book = prices(
            "autopilot,gcp,us-central1,general-purpose,,vcpu_hour,0.0445,,a\n\
             autopilot,gcp,us-central1,general-purpose,,gib_hour,0.0049225,,a\n\
             autopilot,gcp,us-central1,general-purpose,,ephemeral_gib_hour,0.0001389,,a\n\
             autopilot,gcp,us-central1,general-purpose,spot,vcpu_hour,0.0133,,b\n",
        );
        let on_demand = book.autopilot("us-central1", "General-Purpose", false);
        assert_eq!(on_demand.vcpu_hour.map(|p| p.usd), Ok(0.0445));
        assert_eq!(on_demand.ephemeral_gib_hour.map(|p| p.usd), Ok(0.0001389));
        let spot = book.autopilot("us-central1", "general-purpose", true);
        assert_eq!(spot.vcpu_hour.map(|p| p.usd), Ok(0.0133));
        assert!(spot.memory_gib_hour.is_err());
        assert!(
            book.autopilot("us-central1", "scale-out", false)
                .vcpu_hour
                .is_err()
        );
    }

    #[test]
    fn later_rows_replace_earlier_ones_with_the_same_key() {
        let mut book = prices("load_balancer,aws,us-west-2,clb,,hour,0.025,,sample\n");
        let user = parse_resources(
            &format!("{HEADER}load_balancer,aws,us-west-2,CLB,,hour,0.02,,contract\n"),
            "u.csv",
            RowOrigin::User,
        )
        .unwrap();
        book.extend(user);
        let lb = book
            .load_balancer(&Provider::Aws, "us-west-2", "clb")
            .unwrap();
        assert_eq!(
            (lb.usd, lb.price_source, lb.source.as_str()),
            (0.02, PriceSource::User, "contract")
        );
        assert_eq!(book.rows().len(), 1);
    }

    #[test]
    fn the_embedded_prices_cover_every_kind_with_a_dated_or_explained_source() {
        let book =
            crate::pricing::PriceBook::new(Vec::new(), crate::pricing::PricingOptions::default())
                .unwrap();
        let prices = book.resources();
        let usd = |found: Result<ResourcePrice, MissingPrice>| found.map(|p| p.usd).unwrap();
        assert_eq!(
            usd(prices.disk(&Provider::Gcp, "us-central1", "pd-balanced")),
            0.1
        );
        assert_eq!(usd(prices.disk(&Provider::Aws, "us-east-1", "gp3")), 0.08);
        assert_eq!(usd(prices.disk(&Provider::Azure, "eastus", "P4_LRS")), 5.27);
        assert_eq!(
            usd(prices.load_balancer(&Provider::Aws, "us-west-2", "clb")),
            0.025
        );
        assert_eq!(
            usd(prices.cluster_fee(&Provider::Gcp, "europe-west1", "standard")),
            0.1
        );
        assert_eq!(
            usd(prices.cluster_fee(&Provider::Aws, "eu-west-1", "standard")),
            0.1
        );
        let autopilot = prices.autopilot("us-central1", "general-purpose", false);
        assert_eq!(usd(autopilot.vcpu_hour.clone()), 0.0445);
        assert!(
            autopilot
                .vcpu_hour
                .is_ok_and(|p| p.source.starts_with("UNVERIFIED"))
        );
        for kind in ResourceKind::ALL {
            assert!(prices.rows().iter().any(|row| row.kind == kind), "{kind}");
        }
        assert!(
            prices
                .rows()
                .iter()
                .all(|row| row.origin == RowOrigin::Embedded && !row.source.is_empty())
        );
    }
}
