//! Overcommit never overbills: a node-hour's charges for one resource never
//! exceed what that resource of the node cost.
//!
//! Under max(request, usage), one container idling below its request and
//! another bursting above its own can together be charged more CPU than the
//! node has (requests fit the node, bursts use what others leave). The node
//! still costs what it costs, so idle would go negative and tenants would
//! pay more than the node's bill. The rule: requests are what the scheduler
//! reserved and are charged in full; only the parts above request are scaled
//! down, all by one factor, until the charges equal the node's cost. Should
//! the requests alone exceed it (a node whose capacity the API reports
//! wrongly), they are scaled down too, and nothing above them is charged.

/// One container's charge for one resource in one node-hour, in USD.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Charge {
    /// The request integrated over the hour, at the node's unit price.
    pub request_usd: f64,
    /// max(request, usage) integrated, at the node's unit price.
    pub billed_usd: f64,
}

/// Scales `charges` so they add up to at most `cost_usd`; returns the factor
/// each `billed_usd` was multiplied by (1 when nothing changed), in order.
pub fn fit(charges: &[Charge], cost_usd: f64) -> Vec<f64> {
    let billed: f64 = charges.iter().map(|c| c.billed_usd).sum();
    if billed <= cost_usd {
        return vec![1.0; charges.len()];
    }
    let requested: f64 = charges
        .iter()
        .map(|c| c.request_usd.min(c.billed_usd))
        .sum();
    let cost = cost_usd.max(0.0);
    charges
        .iter()
        .map(|charge| {
            if charge.billed_usd <= 0.0 {
                return 1.0;
            }
            let request = charge.request_usd.min(charge.billed_usd);
            let fitted = if requested <= cost {
                let above = billed - requested;
                request + (charge.billed_usd - request) * (cost - requested) / above
            } else {
                request * cost / requested
            };
            fitted / charge.billed_usd
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn apply(charges: &[Charge], cost: f64) -> Vec<f64> {
        fit(charges, cost)
            .iter()
            .zip(charges)
            .map(|(factor, c)| c.billed_usd * factor)
            .collect()
    }

    #[test]
    fn charges_within_the_node_cost_are_left_alone() {
        let charges = [Charge {
            request_usd: 1.0,
            billed_usd: 2.0,
        }];
        assert_eq!(apply(&charges, 2.0), [2.0]);
    }

    #[test]
    fn only_the_parts_above_request_are_scaled_down() {
        // Requests 1 + 1 of a node costing 4; bursts to 3 and 2 would
        // charge 5. The 3 above request shrink to 2 (by 2/3): 2.33 + 1.67.
        let charges = [
            Charge {
                request_usd: 1.0,
                billed_usd: 3.0,
            },
            Charge {
                request_usd: 1.0,
                billed_usd: 2.0,
            },
        ];
        let fitted = apply(&charges, 4.0);
        assert!((fitted[0] - (1.0 + 2.0 * 2.0 / 3.0)).abs() < 1e-12);
        assert!((fitted[1] - (1.0 + 2.0 / 3.0)).abs() < 1e-12);
        assert!((fitted.iter().sum::<f64>() - 4.0).abs() < 1e-12);
    }

    #[test]
    fn requests_beyond_the_node_are_scaled_and_nothing_above_them_is_charged() {
        let charges = [
            Charge {
                request_usd: 3.0,
                billed_usd: 4.0,
            },
            Charge {
                request_usd: 1.0,
                billed_usd: 1.0,
            },
        ];
        assert_eq!(apply(&charges, 2.0), [1.5, 0.5]);
    }

    proptest! {
        /// Σ charges ≤ node cost, idle ≥ 0, nothing charged below zero or
        /// above what max(request, usage) asked, and requests kept in full
        /// whenever they fit.
        #[test]
        fn fitted_charges_never_exceed_the_node_and_keep_fitting_requests(
            parts in prop::collection::vec((0.0..5.0_f64, 0.0..5.0_f64), 0..40),
            cost in 0.0..60.0_f64,
        ) {
            let charges: Vec<Charge> = parts
                .iter()
                .map(|(request, above)| Charge { request_usd: *request, billed_usd: request + above })
                .collect();
            let fitted = apply(&charges, cost);
            let total: f64 = fitted.iter().sum();
            let before: f64 = charges.iter().map(|c| c.billed_usd).sum();
            let idle = cost - total;
            prop_assert!(idle >= -1e-9 * cost.max(1.0), "idle {idle}");
            prop_assert!((total + idle - cost).abs() <= 1e-9 * cost.max(1.0));
            if before <= cost {
                prop_assert!((total - before).abs() <= 1e-12);
            }
            let requested: f64 = charges.iter().map(|c| c.request_usd).sum();
            for (charge, after) in charges.iter().zip(&fitted) {
                prop_assert!(*after >= -1e-12 && *after <= charge.billed_usd + 1e-12);
                if requested <= cost {
                    prop_assert!(*after >= charge.request_usd - 1e-9);
                }
            }
        }
    }
}
