//! Machine families: a node pool's capacity priced on the other families the
//! catalog has in the same region, at *effective* prices — E2 lists ~31 %
//! under N1, but an N1 node that runs the whole month gets 30 % off as a
//! sustained-use discount, so list prices alone mislead.
//!
//! Families priced by whole machine types only (C2, T2D, other clouds'
//! instances) are left out: the same capacity has no price there without
//! choosing a machine type. A pool whose CPU is busy most of the time is
//! flagged when it runs on E2: E2 shares physical cores and is the family
//! Google sizes for cost, not sustained throughput.

use crate::pricing::{HOURS_PER_MONTH, PriceBook, PriceRow, PriceTier, RowPrice};

/// What is known of one node pool over the window.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolFacts {
    pub name: String,
    pub provider: String,
    pub region: String,
    pub family: String,
    /// Average vCPUs and GiB the pool held.
    pub vcpus: f64,
    pub memory_gib: f64,
    /// Share of the month an average node of the pool ran (0..=1): the
    /// sustained-use discount grows with it.
    pub month_fraction: f64,
    /// What the pool cost per hour as billed (the dataset's `nodes` rows).
    pub hourly_usd: f64,
    /// CPU used ÷ CPU held over the window.
    pub cpu_utilisation: f64,
}

/// The pool priced on one family.
#[derive(Debug, Clone, PartialEq)]
pub struct FamilyPrice {
    pub family: String,
    pub list_hourly_usd: f64,
    /// After the sustained-use discount the pool's runtime earns.
    pub effective_hourly_usd: f64,
    pub sustained_use_percent: f64,
    /// Against the pool's current cost, per month of 730 hours.
    pub monthly_savings_usd: f64,
}

/// The comparison for one pool.
#[derive(Debug, Clone, PartialEq)]
pub struct FamilyComparison {
    pub pool: String,
    pub current_family: String,
    /// Cheapest first.
    pub options: Vec<FamilyPrice>,
    /// Set when sustained CPU use suggests a faster family than the current.
    pub needs_faster: Option<String>,
}

/// CPU utilisation above which a pool counts as CPU-bound.
const BUSY_CPU: f64 = 0.8;

/// GCE's sustained-use schedule: the price of each quarter of the month as a
/// share of the base price (`shared/pricing/pricing_notes.md` §4.1).
fn sud_schedule(family: &str) -> Option<[f64; 4]> {
    match family {
        "n1" => Some([1.0, 0.8, 0.6, 0.4]),
        "n2" | "n2d" | "c2" => Some([1.0, 0.8678, 0.733, 0.6]),
        _ => None,
    }
}

/// The average share of the base price paid by a VM running `fraction` of
/// the month (1.0 for families without sustained-use discounts).
pub fn sud_multiplier(family: &str, fraction: f64) -> f64 {
    let Some(schedule) = sud_schedule(family) else {
        return 1.0;
    };
    let fraction = fraction.clamp(0.0, 1.0);
    if fraction == 0.0 {
        return 1.0;
    }
    let mut paid = 0.0;
    for (quarter, rate) in schedule.iter().enumerate() {
        let start = quarter as f64 * 0.25;
        let used = (fraction - start).clamp(0.0, 0.25);
        paid += used * rate;
    }
    paid / fraction
}

/// Unit rates of every family in `region` (on-demand), from the catalog.
fn family_rates<'a>(rows: &'a [PriceRow], provider: &str, region: &str) -> Vec<&'a PriceRow> {
    let mut found: Vec<&PriceRow> = rows
        .iter()
        .filter(|r| {
            r.provider == provider
                && r.region == region
                && r.tier == PriceTier::OnDemand
                && r.machine_type.is_empty()
                && !r.machine_family.is_empty()
                && matches!(r.price, RowPrice::Units { .. })
        })
        .collect();
    // A user row for a family wins over the embedded one.
    found.sort_by(|a, b| {
        (
            &a.machine_family,
            a.origin != crate::pricing::RowOrigin::User,
        )
            .cmp(&(
                &b.machine_family,
                b.origin != crate::pricing::RowOrigin::User,
            ))
    });
    found.dedup_by(|a, b| a.machine_family == b.machine_family);
    found
}

/// Prices `pool` on every family of its region.
pub fn compare(book: &PriceBook, pool: &PoolFacts) -> FamilyComparison {
    let mut options: Vec<FamilyPrice> = family_rates(book.rows(), &pool.provider, &pool.region)
        .into_iter()
        .filter_map(|row| match row.price {
            RowPrice::Units {
                vcpu_hour_usd,
                memory_gib_hour_usd,
            } => {
                let list = pool.vcpus * vcpu_hour_usd + pool.memory_gib * memory_gib_hour_usd;
                let multiplier = sud_multiplier(&row.machine_family, pool.month_fraction);
                let effective = list * multiplier;
                Some(FamilyPrice {
                    family: row.machine_family.clone(),
                    list_hourly_usd: list,
                    effective_hourly_usd: effective,
                    sustained_use_percent: 100.0 * (1.0 - multiplier),
                    monthly_savings_usd: (pool.hourly_usd - effective) * HOURS_PER_MONTH,
                })
            }
            _ => None,
        })
        .collect();
    options.sort_by(|a, b| a.effective_hourly_usd.total_cmp(&b.effective_hourly_usd));
    let needs_faster = (pool.family == "e2" && pool.cpu_utilisation > BUSY_CPU).then(|| {
        format!(
            "CPU {:.0} % busy on E2 (shared cores): a dedicated-core family (n2, n2d, c3, n4) may be needed",
            100.0 * pool.cpu_utilisation
        )
    });
    FamilyComparison {
        pool: pool.name.clone(),
        current_family: pool.family.clone(),
        options,
        needs_faster,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::PricingOptions;

    fn book() -> PriceBook {
        PriceBook::new(Vec::new(), PricingOptions::default()).unwrap()
    }

    fn n1_pool(month_fraction: f64) -> PoolFacts {
        PoolFacts {
            name: "default-pool".into(),
            provider: "gcp".into(),
            region: "us-central1".into(),
            family: "n1".into(),
            vcpus: 40.0,
            memory_gib: 150.0,
            month_fraction,
            hourly_usd: 40.0 * 0.031611 + 150.0 * 0.004237,
            cpu_utilisation: 0.3,
        }
    }

    #[test]
    fn sustained_use_follows_googles_quarters() {
        assert_eq!(sud_multiplier("e2", 1.0), 1.0);
        assert!((sud_multiplier("n1", 1.0) - 0.7).abs() < 1e-12);
        assert!((sud_multiplier("n1", 0.25) - 1.0).abs() < 1e-12);
        assert!((sud_multiplier("n1", 0.5) - 0.9).abs() < 1e-12);
        assert!((sud_multiplier("n2", 1.0) - 0.8002).abs() < 1e-4);
    }

    #[test]
    fn e2_beats_n1_at_list_price_but_the_gap_narrows_with_a_full_month() {
        let book = book();
        let part = compare(&book, &n1_pool(0.2));
        let full = compare(&book, &n1_pool(1.0));
        let price = |c: &FamilyComparison, f: &str| {
            c.options
                .iter()
                .find(|o| o.family == f)
                .map(|o| o.effective_hourly_usd)
                .unwrap_or_else(|| panic!("no {f} in {:?}", c.options))
        };
        // At list price E2 is ~31 % under N1.
        let ratio = price(&part, "e2") / price(&part, "n1");
        assert!((0.64..0.74).contains(&ratio), "{ratio}");
        // A full month of N1 earns 30 % off: E2's edge is nearly gone.
        let ratio = price(&full, "e2") / price(&full, "n1");
        assert!(ratio > 0.95, "{ratio}");
        assert!(
            full.options
                .windows(2)
                .all(|w| w[0].effective_hourly_usd <= w[1].effective_hourly_usd)
        );
        // Savings are against what the pool costs now, per 730-hour month.
        let e2 = full
            .options
            .iter()
            .find(|o| o.family == "e2")
            .map(|o| o.monthly_savings_usd);
        let expected = (n1_pool(1.0).hourly_usd - price(&full, "e2")) * 730.0;
        assert!((e2.unwrap_or_default() - expected).abs() < 1e-9);
    }

    #[test]
    fn a_busy_e2_pool_is_flagged() {
        let mut pool = n1_pool(1.0);
        pool.family = "e2".into();
        pool.cpu_utilisation = 0.92;
        let comparison = compare(&book(), &pool);
        assert!(comparison.needs_faster.unwrap_or_default().contains("92 %"));
        pool.cpu_utilisation = 0.5;
        assert!(compare(&book(), &pool).needs_faster.is_none());
    }
}
