//! How a user adjusts list prices: negotiated discounts, committed-use tiers,
//! sustained-use discounts and the rate for nodes no catalog row prices.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use super::autopilot::Billing;
use super::catalog::PriceTier;

/// Price adjustments, built once from flags and passed to the price book.
#[derive(Debug, Clone, PartialEq)]
pub struct PricingOptions {
    /// Percent off on-demand and committed prices, for every family. Spot and
    /// preemptible prices are market prices and are never discounted.
    pub discount_percent: f64,
    /// Percent off by machine family (`n2` → 15), replacing the global one there.
    pub family_discount_percent: BTreeMap<String, f64>,
    /// Price on-demand nodes of every family at a committed-use tier.
    pub commitment: Option<PriceTier>,
    /// Committed-use tier by family, replacing the global one there.
    pub family_commitment: BTreeMap<String, PriceTier>,
    /// Whether to assume GCE sustained-use discounts. Default: list prices.
    pub sustained_use: SustainedUse,
    /// Rates for nodes that no catalog row prices.
    pub default_rates: DefaultRates,
    /// The cluster management fee tier (`standard`, `extended_support`,
    /// `free`, …, or `none`); unset: the provider's default
    /// ([`super::default_cluster_tier`]).
    pub cluster_tier: Option<String>,
    /// Whether compute is billed by node or, on GKE Autopilot, by pod
    /// request (`--billing`).
    pub billing: Billing,
}

impl Default for PricingOptions {
    /// List prices: no discount, no commitment, no sustained-use discount,
    /// GCP N1 us-central1 rates for unknown nodes, Autopilot billing when
    /// the nodes are Autopilot's.
    fn default() -> PricingOptions {
        PricingOptions {
            discount_percent: 0.0,
            family_discount_percent: BTreeMap::new(),
            commitment: None,
            family_commitment: BTreeMap::new(),
            sustained_use: SustainedUse::ListPrice,
            default_rates: DefaultRates::default(),
            cluster_tier: None,
            billing: Billing::Auto,
        }
    }
}

impl PricingOptions {
    /// The discount that applies to `family`.
    pub fn discount_percent_for(&self, family: &str) -> f64 {
        self.family_discount_percent
            .get(family)
            .copied()
            .unwrap_or(self.discount_percent)
    }

    /// The committed-use tier that applies to `family`, if any.
    pub fn commitment_for(&self, family: &str) -> Option<PriceTier> {
        self.family_commitment
            .get(family)
            .copied()
            .or(self.commitment)
    }

    /// Adds one `--discount` value: `PERCENT` or `FAMILY=PERCENT`.
    ///
    /// # Errors
    ///
    /// A one-line message naming the value when it is not a percent in 0..=100.
    pub fn add_discount(&mut self, spec: &str) -> Result<(), String> {
        let (family, percent) = split_family(spec);
        let value: f64 = percent
            .parse()
            .ok()
            .filter(|p: &f64| (0.0..=100.0).contains(p))
            .ok_or_else(|| format!("--discount {spec:?}: expected PERCENT or FAMILY=PERCENT with a percent from 0 to 100"))?;
        match family {
            Some(family) => {
                self.family_discount_percent.insert(family, value);
            }
            None => self.discount_percent = value,
        }
        Ok(())
    }

    /// Adds one `--commitment` value: `cud_1y`, `cud_3y` or `FAMILY=cud_1y`.
    ///
    /// # Errors
    ///
    /// A one-line message naming the value when it names no committed-use tier.
    pub fn add_commitment(&mut self, spec: &str) -> Result<(), String> {
        let (family, tier) = split_family(spec);
        let tier = match tier.parse::<PriceTier>() {
            Ok(tier @ (PriceTier::CommittedOneYear | PriceTier::CommittedThreeYears)) => tier,
            _ => {
                return Err(format!(
                    "--commitment {spec:?}: expected cud_1y, cud_3y or FAMILY=cud_1y"
                ));
            }
        };
        match family {
            Some(family) => {
                self.family_commitment.insert(family, tier);
            }
            None => self.commitment = Some(tier),
        }
        Ok(())
    }
}

fn split_family(spec: &str) -> (Option<String>, &str) {
    match spec.split_once('=') {
        Some((family, value)) => (Some(family.trim().to_ascii_lowercase()), value.trim()),
        None => (None, spec.trim()),
    }
}

/// Whether prices include GCE's sustained-use discount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SustainedUse {
    /// List prices. Over-states N1 by up to 30% and N2/N2D/C2 by up to 20% for
    /// nodes that run a whole month; exact for every other family and for
    /// nodes that run less than a quarter of the month.
    #[default]
    ListPrice,
    /// Every N1/N2/N2D/C2 on-demand node gets the discount of a full month.
    /// Under-states nodes that autoscaling removes before the month ends.
    FullMonth,
}

impl FromStr for SustainedUse {
    type Err = String;

    fn from_str(s: &str) -> Result<SustainedUse, String> {
        match s {
            "none" | "list" => Ok(SustainedUse::ListPrice),
            "full-month" => Ok(SustainedUse::FullMonth),
            _ => Err(format!(
                "--sustained-use {s:?}: expected none or full-month"
            )),
        }
    }
}

impl fmt::Display for SustainedUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SustainedUse::ListPrice => "none",
            SustainedUse::FullMonth => "full-month",
        })
    }
}

/// Rates for nodes no catalog row prices, and the ratio that splits a whole
/// machine's price into CPU and memory.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DefaultRates {
    pub vcpu_hour_usd: f64,
    pub memory_gib_hour_usd: f64,
    pub gpu_hour_usd: f64,
    pub spot_vcpu_hour_usd: f64,
    pub spot_memory_gib_hour_usd: f64,
    pub spot_gpu_hour_usd: f64,
}

impl Default for DefaultRates {
    /// GCP N1 in us-central1, list price as of 2026-07-30 (the embedded
    /// catalog), the same on-demand rates OpenCost uses as its defaults; GPU:
    /// OpenCost's default 0.95 on demand, and the T4-like 60% spot discount.
    fn default() -> DefaultRates {
        DefaultRates {
            vcpu_hour_usd: 0.031611,
            memory_gib_hour_usd: 0.004237,
            gpu_hour_usd: 0.95,
            spot_vcpu_hour_usd: 0.01115,
            spot_memory_gib_hour_usd: 0.001494,
            spot_gpu_hour_usd: 0.38,
        }
    }
}

impl DefaultRates {
    pub(super) fn vcpu_hour_usd(&self, spot: bool) -> f64 {
        if spot {
            self.spot_vcpu_hour_usd
        } else {
            self.vcpu_hour_usd
        }
    }

    pub(super) fn memory_gib_hour_usd(&self, spot: bool) -> f64 {
        if spot {
            self.spot_memory_gib_hour_usd
        } else {
            self.memory_gib_hour_usd
        }
    }

    pub(super) fn gpu_hour_usd(&self, spot: bool) -> f64 {
        if spot {
            self.spot_gpu_hour_usd
        } else {
            self.gpu_hour_usd
        }
    }

    pub(super) fn description(&self, spot: bool) -> String {
        format!(
            "default rate: {} USD per vCPU-hour, {} USD per GiB-hour (no catalog row for this node)",
            self.vcpu_hour_usd(spot),
            self.memory_gib_hour_usd(spot)
        )
    }

    /// Splits a whole machine's hourly price into (CPU, memory, GPU) parts in
    /// proportion to the on-demand default rates, as OpenCost does
    /// (`cpuToRAMRatio = defaultCPU / defaultRAM`). With the default rates this
    /// is GCP's N1/N2 vCPU:GiB price ratio, which is also N2D's to 0.01%: the
    /// split C2 (Intel, like N2) and T2D (AMD, like N2D) would have if Google
    /// published it.
    pub fn split_instance_price(
        &self,
        total: f64,
        vcpus: f64,
        memory_gib: f64,
        gpus: u32,
    ) -> (f64, f64, f64) {
        let cpu_weight = vcpus * self.vcpu_hour_usd;
        let memory_weight = memory_gib * self.memory_gib_hour_usd;
        let gpu_weight = f64::from(gpus) * self.gpu_hour_usd;
        let weight = cpu_weight + memory_weight + gpu_weight;
        if weight <= 0.0 {
            return (total, 0.0, 0.0);
        }
        (
            total * cpu_weight / weight,
            total * memory_weight / weight,
            total * gpu_weight / weight,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discounts_and_commitments_parse_globally_and_by_family() -> Result<(), String> {
        let mut options = PricingOptions::default();
        options.add_discount("10")?;
        options.add_discount("N2=15")?;
        options.add_commitment("cud_1y")?;
        options.add_commitment("e2=cud_3y")?;
        assert_eq!(options.discount_percent_for("e2"), 10.0);
        assert_eq!(options.discount_percent_for("n2"), 15.0);
        assert_eq!(
            options.commitment_for("n1"),
            Some(PriceTier::CommittedOneYear)
        );
        assert_eq!(
            options.commitment_for("e2"),
            Some(PriceTier::CommittedThreeYears)
        );
        Ok(())
    }

    #[test]
    fn bad_discount_and_commitment_values_are_named() {
        let mut options = PricingOptions::default();
        for bad in ["120", "-5", "ten", "n2="] {
            let message = options.add_discount(bad).expect_err(bad);
            assert!(message.contains(&format!("{bad:?}")), "{message}");
        }
        for bad in ["spot", "cud_5y", "n2=on_demand"] {
            let message = options.add_commitment(bad).expect_err(bad);
            assert!(message.contains(&format!("{bad:?}")), "{message}");
        }
    }

    #[test]
    fn instance_prices_split_by_the_default_rate_ratio() {
        let rates = DefaultRates::default();
        let (cpu, memory, gpu) = rates.split_instance_price(0.208808, 4.0, 16.0, 0);
        assert!((cpu + memory + gpu - 0.208808).abs() < 1e-12);
        // N2's own split of a 1 vCPU + 4 GiB bundle: 0.031611 : 4 × 0.004237.
        assert!((cpu / (cpu + memory) - 0.031611 / (0.031611 + 4.0 * 0.004237)).abs() < 1e-12);
        assert_eq!(
            rates.split_instance_price(1.0, 0.0, 0.0, 0),
            (1.0, 0.0, 0.0)
        );
    }
}
