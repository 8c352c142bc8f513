//! The price book: every catalog row indexed for lookup, plus the configured
//! discounts, turned into a price per node-hour.
//!
//! Lookup never fails. A node whose machine type, family or region has no row
//! is still priced — from the provider's reference region, else from its
//! capacity at the default rates — and the answer says so in `price_source`,
//! because a meter that silently bills zero is worse than one that bills a
//! flagged estimate.

use std::collections::HashMap;

use chrono::NaiveDate;

use crate::model::{CapacityType, Provider};

use super::catalog::{PriceRow, PriceTier, RowOrigin, RowPrice, parse_catalog};
use super::classify::NodeClass;
use super::options::{PricingOptions, SustainedUse};
use super::resource_book::ResourcePrices;
use super::resources::{ResourceRow, parse_resources};
use super::shapes::ShapeTable;

/// The catalog shipped in the binary.
const EMBEDDED_CATALOG: &str = include_str!("data/catalog.csv");

/// The resource prices shipped in the binary (disks, load balancers, fees, Autopilot).
const EMBEDDED_RESOURCES: &str = include_str!("data/resources.csv");

/// Hours in a billing month, as GCP, AWS and Azure price calculators count them.
pub const HOURS_PER_MONTH: f64 = 730.0;

/// Where a node's price came from: the `price_source` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PriceSource {
    /// A row of the embedded catalog for the node's own region.
    Catalog,
    /// A row of the user's `--pricing` file.
    User,
    /// A catalog row of the provider's reference region, because the node's
    /// region has none.
    RegionFallback,
    /// No row at all: the node's capacity at the default rates.
    Default,
}

impl PriceSource {
    /// The value written to `price_source` columns.
    pub fn as_str(self) -> &'static str {
        match self {
            PriceSource::Catalog => "catalog",
            PriceSource::User => "user",
            PriceSource::RegionFallback => "region_fallback",
            PriceSource::Default => "default",
        }
    }
}

/// A node's price per hour, split into the parts containers are charged for.
#[derive(Debug, Clone, PartialEq)]
pub struct NodePrice {
    /// vCPUs of the machine (the shape if known, else the node's capacity).
    pub vcpus: f64,
    /// vCPUs billed (below `vcpus` for shared-core types).
    pub billed_vcpus: f64,
    pub memory_gib: f64,
    pub gpus: u32,
    pub cpu_hourly_usd: f64,
    pub memory_hourly_usd: f64,
    pub gpu_hourly_usd: f64,
    /// The price list used: a commitment tier replaces on-demand when configured.
    pub tier: PriceTier,
    /// The region whose prices were used (differs from the node's on fallback).
    pub priced_region: String,
    pub price_source: PriceSource,
    pub as_of: Option<NaiveDate>,
    /// The catalog row's source text, or a description of the default rate.
    pub source: String,
    /// Discounts applied on top of the row, for display (`sustained-use 30%`).
    pub adjustments: Vec<String>,
}

impl NodePrice {
    /// The whole node per hour.
    pub fn total_hourly_usd(&self) -> f64 {
        self.cpu_hourly_usd + self.memory_hourly_usd + self.gpu_hourly_usd
    }

    /// The price of one vCPU of capacity for an hour: what a container
    /// requesting one core is charged.
    pub fn cpu_core_hour_usd(&self) -> f64 {
        per_unit(self.cpu_hourly_usd, self.vcpus)
    }

    /// The price of one GiB of memory for an hour.
    pub fn memory_gib_hour_usd(&self) -> f64 {
        per_unit(self.memory_hourly_usd, self.memory_gib)
    }
}

fn per_unit(total: f64, units: f64) -> f64 {
    if units > 0.0 { total / units } else { 0.0 }
}

/// The region whose prices stand in for a region the catalog lacks.
pub fn reference_region(provider: &Provider) -> Option<&'static str> {
    match provider {
        Provider::Gcp => Some("us-central1"),
        Provider::Aws => Some("us-east-1"),
        Provider::Azure => Some("eastus"),
        Provider::Other(_) => None,
    }
}

/// Rows indexed by what they price. Later inserts (user rows) replace earlier ones.
#[derive(Debug, Default)]
struct Index {
    /// (provider, region, machine_type, tier)
    machine_types: HashMap<(String, String, String, PriceTier), PriceRow>,
    /// (provider, region, family, tier); family "" is provider-wide.
    families: HashMap<(String, String, String, PriceTier), PriceRow>,
    /// (provider, region, gpu_type, tier)
    gpus: HashMap<(String, String, String, PriceTier), PriceRow>,
}

impl Index {
    fn insert(&mut self, row: PriceRow) {
        let (provider, region, tier) = (row.provider.clone(), row.region.clone(), row.tier);
        match row.price {
            RowPrice::Gpu { .. } => {
                self.gpus
                    .insert((provider, region, row.gpu_type.clone(), tier), row);
            }
            _ if !row.machine_type.is_empty() => {
                self.machine_types
                    .insert((provider, region, row.machine_type.clone(), tier), row);
            }
            _ => {
                self.families
                    .insert((provider, region, row.machine_family.clone(), tier), row);
            }
        }
    }
}

/// The embedded catalog plus the user's overrides, with the options that
/// adjust them, ready to price nodes.
#[derive(Debug)]
pub struct PriceBook {
    index: Index,
    rows: Vec<PriceRow>,
    shapes: ShapeTable,
    options: PricingOptions,
    resources: ResourcePrices,
}

/// The embedded data failed to load: a build defect, ruled out by unit tests.
#[derive(Debug, thiserror::Error)]
pub enum PriceBookError {
    #[error("embedded pricing catalog is invalid")]
    EmbeddedCatalog(#[source] super::catalog::CatalogError),
    #[error("embedded resource prices are invalid")]
    EmbeddedResources(#[source] super::catalog::CatalogError),
    #[error("embedded machine types are invalid: {0}")]
    EmbeddedShapes(String),
}

impl PriceBook {
    /// A price book from the embedded catalog, then `user_rows` (from
    /// `--pricing`) overriding rows with the same key or adding new ones.
    ///
    /// # Errors
    ///
    /// [`PriceBookError`] only if the embedded data is malformed.
    pub fn new(
        user_rows: Vec<PriceRow>,
        options: PricingOptions,
    ) -> Result<PriceBook, PriceBookError> {
        let embedded = parse_catalog(EMBEDDED_CATALOG, "embedded catalog", RowOrigin::Embedded)
            .map_err(PriceBookError::EmbeddedCatalog)?;
        let shapes = ShapeTable::embedded().map_err(PriceBookError::EmbeddedShapes)?;
        let resources = parse_resources(
            EMBEDDED_RESOURCES,
            "embedded resource prices",
            RowOrigin::Embedded,
        )
        .map_err(PriceBookError::EmbeddedResources)?;
        let mut index = Index::default();
        let mut rows: HashMap<_, PriceRow> = HashMap::new();
        for row in embedded.into_iter().chain(user_rows) {
            index.insert(row.clone());
            rows.insert(row.key(), row);
        }
        let mut rows: Vec<PriceRow> = rows.into_values().collect();
        rows.sort_by_key(PriceRow::key);
        Ok(PriceBook {
            index,
            rows,
            shapes,
            options,
            resources: ResourcePrices::new(resources),
        })
    }

    /// The book with `user_rows` (from `--pricing` resource files, in order)
    /// overriding embedded resource rows with the same key or adding new ones.
    pub fn with_resource_rows(mut self, user_rows: Vec<ResourceRow>) -> PriceBook {
        self.resources.extend(user_rows);
        self
    }

    /// What disks, load balancers, cluster fees and Autopilot pods cost.
    pub fn resources(&self) -> &ResourcePrices {
        &self.resources
    }

    /// Every effective row (embedded rows replaced by user rows with the same key), sorted.
    pub fn rows(&self) -> &[PriceRow] {
        &self.rows
    }

    /// The machine shapes the book knows.
    pub fn shapes(&self) -> &ShapeTable {
        &self.shapes
    }

    /// The options the book applies.
    pub fn options(&self) -> &PricingOptions {
        &self.options
    }

    /// The price of a classified node per hour.
    pub fn price(&self, node: &NodeClass) -> NodePrice {
        let provider = node.provider.as_str();
        let shape = self.shapes.get(provider, &node.machine_type);
        let family = if node.machine_family.is_empty() {
            shape
                .as_ref()
                .map(|s| s.machine_family.clone())
                .unwrap_or_default()
        } else {
            node.machine_family.clone()
        };
        let (vcpus, billed_vcpus, memory_gib) = match &shape {
            Some(shape) => (shape.vcpus, shape.billed_vcpus, shape.memory_gib),
            None => (node.vcpus, node.vcpus, node.memory_gib),
        };
        let tiers = self.tiers(node.capacity_type, &family);
        let found = self.find_machine_row(
            provider,
            &node.region,
            &node.machine_type,
            &family,
            &tiers,
            &node.provider,
        );
        // A machine price already includes the GPUs the machine type comes with.
        let instance_priced = matches!(
            &found,
            Some(Found {
                row: PriceRow {
                    price: RowPrice::Instance { .. },
                    ..
                },
                ..
            })
        );
        let defaults = &self.options.default_rates;
        let spot_like = node.capacity_type != CapacityType::OnDemand;
        let mut price = match found {
            Some(Found {
                row,
                region,
                source,
            }) => {
                let (cpu, memory, bundled_gpu) = match row.price {
                    RowPrice::Units {
                        vcpu_hour_usd,
                        memory_gib_hour_usd,
                    } => (
                        billed_vcpus * vcpu_hour_usd,
                        memory_gib * memory_gib_hour_usd,
                        0.0,
                    ),
                    RowPrice::Instance { instance_hour_usd } => defaults.split_instance_price(
                        instance_hour_usd,
                        billed_vcpus,
                        memory_gib,
                        node.gpus,
                    ),
                    RowPrice::Gpu { .. } => (0.0, 0.0, 0.0),
                };
                NodePrice {
                    vcpus,
                    billed_vcpus,
                    memory_gib,
                    gpus: node.gpus,
                    cpu_hourly_usd: cpu,
                    memory_hourly_usd: memory,
                    gpu_hourly_usd: bundled_gpu,
                    tier: row.tier,
                    priced_region: region,
                    price_source: source,
                    as_of: row.as_of,
                    source: row.source.clone(),
                    adjustments: Vec::new(),
                }
            }
            None => NodePrice {
                vcpus,
                billed_vcpus,
                memory_gib,
                gpus: node.gpus,
                cpu_hourly_usd: billed_vcpus * defaults.vcpu_hour_usd(spot_like),
                memory_hourly_usd: memory_gib * defaults.memory_gib_hour_usd(spot_like),
                gpu_hourly_usd: 0.0,
                tier: tiers[tiers.len() - 1],
                priced_region: node.region.clone(),
                price_source: PriceSource::Default,
                as_of: None,
                source: defaults.description(spot_like),
                adjustments: Vec::new(),
            },
        };
        if node.gpus > 0 && !instance_priced {
            self.add_gpu_price(&mut price, node, &tiers);
        }
        self.apply_adjustments(&mut price, &node.provider, &family);
        price
    }

    /// Price lists to try, best first.
    fn tiers(&self, capacity: CapacityType, family: &str) -> Vec<PriceTier> {
        match capacity {
            CapacityType::Spot => vec![PriceTier::Spot],
            CapacityType::Preemptible => vec![PriceTier::Preemptible, PriceTier::Spot],
            CapacityType::OnDemand => match self.options.commitment_for(family) {
                Some(tier) => vec![tier, PriceTier::OnDemand],
                None => vec![PriceTier::OnDemand],
            },
        }
    }

    fn find_machine_row(
        &self,
        provider: &str,
        region: &str,
        machine_type: &str,
        family: &str,
        tiers: &[PriceTier],
        provider_kind: &Provider,
    ) -> Option<Found<'_>> {
        let lookup = |region: &str| {
            for region in [region, ""] {
                for &tier in tiers {
                    let key = |name: &str| {
                        (
                            provider.to_owned(),
                            region.to_owned(),
                            name.to_owned(),
                            tier,
                        )
                    };
                    let row = (!machine_type.is_empty())
                        .then(|| self.index.machine_types.get(&key(machine_type)))
                        .flatten()
                        .or_else(|| {
                            (!family.is_empty())
                                .then(|| self.index.families.get(&key(family)))
                                .flatten()
                        })
                        .or_else(|| self.index.families.get(&key("")));
                    if let Some(row) = row {
                        return Some(row);
                    }
                }
            }
            None
        };
        if let Some(row) = lookup(region) {
            return Some(Found {
                row,
                region: if row.region.is_empty() {
                    region.to_owned()
                } else {
                    row.region.clone()
                },
                source: PriceSource::from(row.origin),
            });
        }
        let reference = reference_region(provider_kind).filter(|reference| *reference != region)?;
        lookup(reference).map(|row| Found {
            row,
            region: reference.to_owned(),
            source: PriceSource::RegionFallback,
        })
    }

    fn add_gpu_price(&self, price: &mut NodePrice, node: &NodeClass, tiers: &[PriceTier]) {
        let provider = node.provider.as_str();
        let regions = [
            Some(node.region.as_str()),
            Some(""),
            reference_region(&node.provider),
        ];
        let found = regions
            .iter()
            .flatten()
            .enumerate()
            .find_map(|(attempt, region)| {
                tiers.iter().find_map(|&tier| {
                    self.index
                        .gpus
                        .get(&(
                            provider.to_owned(),
                            region.to_string(),
                            node.gpu_type.clone(),
                            tier,
                        ))
                        .map(|row| (attempt, row))
                })
            });
        let gpus = f64::from(node.gpus);
        match found {
            Some((
                attempt,
                PriceRow {
                    price: RowPrice::Gpu { gpu_hour_usd },
                    ..
                },
            )) => {
                price.gpu_hourly_usd += gpus * gpu_hour_usd;
                if attempt == 2 {
                    price.price_source = price.price_source.max(PriceSource::RegionFallback);
                }
            }
            _ => {
                let spot_like = node.capacity_type != CapacityType::OnDemand;
                price.gpu_hourly_usd += gpus * self.options.default_rates.gpu_hour_usd(spot_like);
                price.price_source = PriceSource::Default;
            }
        }
    }

    fn apply_adjustments(&self, price: &mut NodePrice, provider: &Provider, family: &str) {
        if !matches!(
            price.tier,
            PriceTier::OnDemand | PriceTier::CommittedOneYear | PriceTier::CommittedThreeYears
        ) {
            return;
        }
        if price.tier == PriceTier::OnDemand
            && self.options.sustained_use == SustainedUse::FullMonth
            && *provider == Provider::Gcp
            && let Some(percent) = sustained_use_percent(family)
        {
            scale(price, 1.0 - percent / 100.0);
            price
                .adjustments
                .push(format!("sustained-use discount {percent}% (full month)"));
        }
        let discount = self.options.discount_percent_for(family);
        if discount > 0.0 {
            scale(price, 1.0 - discount / 100.0);
            price.adjustments.push(format!("discount {discount}%"));
        }
    }
}

fn scale(price: &mut NodePrice, factor: f64) {
    price.cpu_hourly_usd *= factor;
    price.memory_hourly_usd *= factor;
    price.gpu_hourly_usd *= factor;
}

/// The GCE sustained-use discount of a VM that runs the whole month
/// (`shared/pricing/pricing_notes.md` §4.1): 30% for N1, 20% for N2, N2D and C2,
/// none for the other families.
pub fn sustained_use_percent(family: &str) -> Option<f64> {
    match family {
        "n1" => Some(30.0),
        "n2" | "n2d" | "c2" => Some(20.0),
        _ => None,
    }
}

struct Found<'a> {
    row: &'a PriceRow,
    region: String,
    source: PriceSource,
}

impl From<RowOrigin> for PriceSource {
    /// An embedded row is `catalog`, a `--pricing` row `user`.
    fn from(origin: RowOrigin) -> PriceSource {
        match origin {
            RowOrigin::Embedded => PriceSource::Catalog,
            RowOrigin::User => PriceSource::User,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::catalog::parse_catalog;

    const HEADER: &str = "provider,region,machine_family,machine_type,capacity_type,vcpu_hour_usd,memory_gib_hour_usd,gpu_type,gpu_hour_usd,instance_hour_usd,as_of,source\n";

    fn gcp(machine_type: &str, region: &str, capacity_type: CapacityType) -> NodeClass {
        NodeClass {
            provider: Provider::Gcp,
            region: region.into(),
            zone: String::new(),
            machine_type: machine_type.into(),
            machine_family: super::super::shapes::family_from_name("gcp", machine_type)
                .unwrap_or_default(),
            capacity_type,
            gpu_type: String::new(),
            vcpus: 4.0,
            memory_gib: 16.0,
            gpus: 0,
        }
    }

    fn book(user_csv: &str, options: PricingOptions) -> PriceBook {
        let rows = parse_catalog(&format!("{HEADER}{user_csv}"), "user.csv", RowOrigin::User)
            .unwrap_or_else(|error| panic!("{error}"));
        PriceBook::new(rows, options).unwrap_or_else(|error| panic!("{error}"))
    }

    fn close(actual: f64, expected: f64) {
        assert!((actual - expected).abs() < 1e-9, "{actual} != {expected}");
    }

    #[test]
    fn prices_families_by_unit_rates_and_shared_core_types_by_billed_vcpus() {
        let book = book("", PricingOptions::default());
        let e2 = book.price(&gcp("e2-standard-4", "us-central1", CapacityType::OnDemand));
        close(e2.total_hourly_usd(), 4.0 * 0.02181159 + 16.0 * 0.00292353);
        assert_eq!(e2.price_source, PriceSource::Catalog);
        let micro = book.price(&gcp("e2-micro", "us-central1", CapacityType::OnDemand));
        close(micro.total_hourly_usd(), 0.0083764275);
        // Containers are charged per core of capacity: 2 vCPUs share the 0.25 billed.
        close(micro.cpu_core_hour_usd(), 0.25 * 0.02181159 / 2.0);
        let custom = book.price(&gcp(
            "n2-custom-8-32768",
            "us-central1",
            CapacityType::OnDemand,
        ));
        close(custom.total_hourly_usd(), 8.0 * 0.031611 + 32.0 * 0.004237);
    }

    #[test]
    fn preemptible_is_priced_as_spot() {
        let book = book("", PricingOptions::default());
        let spot = book.price(&gcp("e2-standard-4", "us-central1", CapacityType::Spot));
        let preemptible = book.price(&gcp(
            "e2-standard-4",
            "us-central1",
            CapacityType::Preemptible,
        ));
        close(spot.total_hourly_usd(), 0.080424);
        close(preemptible.total_hourly_usd(), spot.total_hourly_usd());
        assert_eq!(preemptible.tier, PriceTier::Spot);
    }

    #[test]
    fn machine_type_rows_split_by_the_default_ratio_and_add_up() {
        let book = book("", PricingOptions::default());
        let c2 = book.price(&gcp("c2-standard-4", "us-central1", CapacityType::OnDemand));
        close(c2.total_hourly_usd(), 0.208808);
        close(
            c2.cpu_hourly_usd / c2.memory_hourly_usd,
            4.0 * 0.031611 / (16.0 * 0.004237),
        );
    }

    #[test]
    fn unknown_region_falls_back_to_the_reference_region_and_says_so() {
        let book = book("", PricingOptions::default());
        let price = book.price(&gcp("e2-standard-4", "us-west1", CapacityType::OnDemand));
        assert_eq!(price.price_source, PriceSource::RegionFallback);
        assert_eq!(price.priced_region, "us-central1");
        close(price.total_hourly_usd(), 0.13402284);
    }

    #[test]
    fn unknown_machine_type_is_priced_from_capacity_at_the_default_rate_never_zero() {
        let book = book("", PricingOptions::default());
        let mut node = gcp("z9-mega-4", "us-central1", CapacityType::OnDemand);
        node.machine_family = "z9".into();
        let price = book.price(&node);
        assert_eq!(price.price_source, PriceSource::Default);
        close(price.total_hourly_usd(), 4.0 * 0.031611 + 16.0 * 0.004237);
        let bare = NodeClass {
            provider: Provider::Other("unknown".into()),
            machine_type: String::new(),
            machine_family: String::new(),
            region: String::new(),
            ..node
        };
        assert!(book.price(&bare).total_hourly_usd() > 0.0);
    }

    #[test]
    fn user_rows_override_embedded_rows_and_extend_the_catalog() {
        let book = book(
            "gcp,us-central1,e2,,on_demand,0.02,0.002,,,,2026-11-01,negotiated\n\
             onprem,,,,on_demand,0.01,0.001,,,,,finance sheet\n",
            PricingOptions::default(),
        );
        let e2 = book.price(&gcp("e2-standard-4", "us-central1", CapacityType::OnDemand));
        assert_eq!(e2.price_source, PriceSource::User);
        close(e2.total_hourly_usd(), 4.0 * 0.02 + 16.0 * 0.002);
        let metal = NodeClass {
            provider: Provider::Other("onprem".into()),
            machine_type: "r640".into(),
            machine_family: String::new(),
            region: "dc1".into(),
            ..gcp("", "", CapacityType::OnDemand)
        };
        let price = book.price(&metal);
        assert_eq!(
            (price.price_source, price.priced_region.as_str()),
            (PriceSource::User, "dc1")
        );
        close(price.total_hourly_usd(), 4.0 * 0.01 + 16.0 * 0.001);
    }

    #[test]
    fn commitments_discounts_and_sustained_use_adjust_on_demand_but_not_spot() {
        let mut options = PricingOptions {
            sustained_use: SustainedUse::FullMonth,
            ..PricingOptions::default()
        };
        options.add_discount("10").unwrap_or_else(|e| panic!("{e}"));
        options
            .add_commitment("e2=cud_1y")
            .unwrap_or_else(|e| panic!("{e}"));
        let book = book("", options);
        let n1 = book.price(&gcp("n1-standard-4", "us-central1", CapacityType::OnDemand));
        close(n1.total_hourly_usd(), 0.189999 * 0.7 * 0.9);
        assert_eq!(n1.adjustments.len(), 2);
        let e2 = book.price(&gcp("e2-standard-4", "us-central1", CapacityType::OnDemand));
        assert_eq!(e2.tier, PriceTier::CommittedOneYear);
        assert!(e2.total_hourly_usd() < 0.13402284 * 0.9 * 0.7);
        let spot = book.price(&gcp("n1-standard-4", "us-central1", CapacityType::Spot));
        assert!(spot.adjustments.is_empty());
    }

    #[test]
    fn gpus_add_their_catalog_price_or_a_flagged_default() {
        let book = book("", PricingOptions::default());
        let mut node = gcp("n1-standard-4", "us-central1", CapacityType::OnDemand);
        node.gpus = 2;
        node.gpu_type = "nvidia-tesla-t4".into();
        let price = book.price(&node);
        close(price.gpu_hourly_usd, 0.70);
        assert_eq!(price.price_source, PriceSource::Catalog);
        node.gpu_type = "nvidia-h999".into();
        let price = book.price(&node);
        assert_eq!(price.price_source, PriceSource::Default);
        close(price.gpu_hourly_usd, 2.0 * 0.95);
    }

    #[test]
    fn embedded_catalog_has_every_family_the_issue_names() {
        let book = book("", PricingOptions::default());
        for family in ["e2", "n1", "n2", "n2d", "c2", "c2d", "c3", "t2d", "n4"] {
            for tier in [
                PriceTier::OnDemand,
                PriceTier::Spot,
                PriceTier::CommittedOneYear,
                PriceTier::CommittedThreeYears,
            ] {
                assert!(
                    book.rows().iter().any(|r| r.provider == "gcp"
                        && r.machine_family == family
                        && r.tier == tier),
                    "{family} {tier}"
                );
            }
        }
        for gpu in [
            "nvidia-tesla-t4",
            "nvidia-l4",
            "nvidia-tesla-v100",
            "nvidia-tesla-p100",
            "nvidia-tesla-a100",
        ] {
            assert!(book.rows().iter().any(|r| r.gpu_type == gpu), "{gpu}");
        }
        assert!(
            book.rows()
                .iter()
                .all(|r| r.origin == RowOrigin::Embedded && !r.source.is_empty())
        );
    }
}
