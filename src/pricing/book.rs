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
use super::shapes::ShapeTable;

/// The catalog shipped in the binary.
const EMBEDDED_CATALOG: &str = include_str!("data/catalog.csv");

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
                self.gpus.insert((provider, region, row.gpu_type.clone(), tier), row);
            }
            _ if !row.machine_type.is_empty() => {
                self.machine_types.insert((provider, region, row.machine_type.clone(), tier), row);
            }
            _ => {
                self.families.insert((provider, region, row.machine_family.clone(), tier), row);
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
}

/// The embedded data failed to load: a build defect, ruled out by unit tests.
#[derive(Debug, thiserror::Error)]
pub enum PriceBookError {
    #[error("embedded pricing catalog is invalid")]
    EmbeddedCatalog(#[source] super::catalog::CatalogError),
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
    pub fn new(user_rows: Vec<PriceRow>, options: PricingOptions) -> Result<PriceBook, PriceBookError> {
        let embedded = parse_catalog(EMBEDDED_CATALOG, "embedded catalog", RowOrigin::Embedded)
            .map_err(PriceBookError::EmbeddedCatalog)?;
        let shapes = ShapeTable::embedded().map_err(PriceBookError::EmbeddedShapes)?;
        let mut index = Index::default();
        let mut rows: HashMap<_, PriceRow> = HashMap::new();
        for row in embedded.into_iter().chain(user_rows) {
            index.insert(row.clone());
            rows.insert(row.key(), row);
        }
        let mut rows: Vec<PriceRow> = rows.into_values().collect();
        rows.sort_by(|a, b| a.key().cmp(&b.key()));
        Ok(PriceBook {
            index,
            rows,
            shapes,
            options,
        })
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
            shape.as_ref().map(|s| s.machine_family.clone()).unwrap_or_default()
        } else {
            node.machine_family.clone()
        };
        let (vcpus, billed_vcpus, memory_gib) = match &shape {
            Some(shape) => (shape.vcpus, shape.billed_vcpus, shape.memory_gib),
            None => (node.vcpus, node.vcpus, node.memory_gib),
        };
        let tiers = self.tiers(node.capacity_type, &family);
        let found = self.find_machine_row(provider, &node.region, &node.machine_type, &family, &tiers, &node.provider);
        // A machine price already includes the GPUs the machine type comes with.
        let instance_priced = matches!(&found, Some(Found { row: PriceRow { price: RowPrice::Instance { .. }, .. }, .. }));
        let defaults = &self.options.default_rates;
        let spot_like = node.capacity_type != CapacityType::OnDemand;
        let mut price = match found {
            Some(Found { row, region, source }) => {
                let (cpu, memory, bundled_gpu) = match row.price {
                    RowPrice::Units {
                        vcpu_hour_usd,
                        memory_gib_hour_usd,
                    } => (billed_vcpus * vcpu_hour_usd, memory_gib * memory_gib_hour_usd, 0.0),
                    RowPrice::Instance { instance_hour_usd } => {
                        defaults.split_instance_price(instance_hour_usd, billed_vcpus, memory_gib, node.gpus)
                    }
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
                    let key = |name: &str| (provider.to_owned(), region.to_owned(), name.to_owned(), tier);
                    let row = (!machine_type.is_empty())
                        .then(|| self.index.machine_types.get(&key(machine_type)))
                        .flatten()
                        .or_else(|| (!family.is_empty()).then(|| self.index.families.get(&key(family))).flatten())
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
                region: if row.region.is_empty() { region.to_owned() } else { row.region.clone() },
                source: origin_source(row),
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
        let regions = [Some(node.region.as_str()), Some(""), reference_region(&node.provider)];
        let found = regions.iter().flatten().enumerate().find_map(|(attempt, region)| {
            tiers.iter().find_map(|&tier| {
                self.index
                    .gpus
                    .get(&(provider.to_owned(), region.to_string(), node.gpu_type.clone(), tier))
                    .map(|row| (attempt, row))
            })
        });
        let gpus = f64::from(node.gpus);
        match found {
            Some((attempt, PriceRow { price: RowPrice::Gpu { gpu_hour_usd }, .. })) => {
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
        if !matches!(price.tier, PriceTier::OnDemand | PriceTier::CommittedOneYear | PriceTier::CommittedThreeYears) {
            return;
        }
        if price.tier == PriceTier::OnDemand
            && self.options.sustained_use == SustainedUse::FullMonth
            && *provider == Provider::Gcp
        {
            if let Some(percent) = sustained_use_percent(family) {
                scale(price, 1.0 - percent / 100.0);
                price.adjustments.push(format!("sustained-use discount {percent}% (full month)"));
            }
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

fn origin_source(row: &PriceRow) -> PriceSource {
    match row.origin {
        RowOrigin::Embedded => PriceSource::Catalog,
        RowOrigin::User => PriceSource::User,
    }
}
