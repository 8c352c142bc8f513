//! Spreading shared and idle cost over groups: pure arithmetic on one
//! bucket (a cluster's UTC day) at a time.
//!
//! Buckets are small on purpose: idle cost of a cluster on a day is spread
//! over the groups that ran there that day, not over a tenant that only ran
//! in another cluster or week. Whatever the rules, a bucket's lines add up
//! to its cost (nodes and the shared resources; a line's own disks and
//! load balancers are its own) by construction: what cannot be spread (rule
//! `none`, or no group to spread over) is returned as the unshared remainder.
//!
//! Shared cost is one amount spread by one rule: the shared namespaces'
//! containers and the cluster's overhead resources (disks no claim holds,
//! shared namespaces' disks and load balancers, the cluster fee) alike.

use super::options::{ShareIdle, ShareShared};

/// One group's compute in a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Compute {
    pub cpu_core_hours: f64,
    pub memory_gib_hours: f64,
    pub cost_usd: f64,
}

/// A bucket: its groups' compute, the shared namespaces' compute, the
/// shared resources' cost and what its nodes cost.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Bucket {
    pub groups: Vec<Compute>,
    pub shared: Compute,
    /// Resources of tenant `__shared__` (overhead disks and balancers, the
    /// fee): shared cost beside the shared containers', not node cost.
    pub shared_resources_usd: f64,
    pub node_cost_usd: f64,
}

impl Bucket {
    /// Everything shared: the shared containers and the shared resources.
    pub fn shared_usd(&self) -> f64 {
        self.shared.cost_usd + self.shared_resources_usd
    }
}

/// What each group of a bucket is charged on top of its compute, and what
/// stays unshared.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Split {
    /// Per group, in the bucket's order: (shared, idle) USD.
    pub charges: Vec<(f64, f64)>,
    pub unshared_shared_usd: f64,
    pub unshared_idle_usd: f64,
    /// Node cost − every container's cost under the basis.
    pub idle_usd: f64,
}

/// Spreads `bucket`'s shared and idle cost by the rules.
///
/// Proportional weights are each group's compute cost over the groups'
/// total (a line's disks and balancers do not weigh: what is shared is
/// mostly the cost of running pods); with no compute cost to weigh by (or
/// no group for `even`), the amount stays unshared rather than vanish.
pub fn spread(bucket: &Bucket, share_shared: ShareShared, share_idle: ShareIdle) -> Split {
    let compute: f64 = bucket.groups.iter().map(|g| g.cost_usd).sum();
    let idle = bucket.node_cost_usd - compute - bucket.shared.cost_usd;
    let proportional = || -> Option<Vec<f64>> {
        (compute > 0.0).then(|| bucket.groups.iter().map(|g| g.cost_usd / compute).collect())
    };
    let even = || -> Option<Vec<f64>> {
        let n = bucket.groups.len();
        (n > 0).then(|| vec![1.0 / n as f64; n])
    };
    let shared_weights = match share_shared {
        ShareShared::Proportional => proportional(),
        ShareShared::Even => even(),
        ShareShared::None => None,
    };
    let idle_weights = match share_idle {
        ShareIdle::Proportional => proportional(),
        ShareIdle::None => None,
    };
    let mut split = Split {
        charges: vec![(0.0, 0.0); bucket.groups.len()],
        idle_usd: idle,
        ..Split::default()
    };
    let shared = bucket.shared_usd();
    match shared_weights {
        Some(weights) => {
            for (charge, w) in split.charges.iter_mut().zip(weights) {
                charge.0 = shared * w;
            }
        }
        None => split.unshared_shared_usd = shared,
    }
    match idle_weights {
        Some(weights) => {
            for (charge, w) in split.charges.iter_mut().zip(weights) {
                charge.1 = idle * w;
            }
        }
        None => split.unshared_idle_usd = idle,
    }
    split
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(cost_usd: f64) -> Compute {
        Compute {
            cost_usd,
            ..Compute::default()
        }
    }

    fn bucket() -> Bucket {
        Bucket {
            groups: vec![usd(3.0), usd(1.0)],
            shared: usd(2.0),
            shared_resources_usd: 0.0,
            node_cost_usd: 10.0,
        }
    }

    fn total(bucket: &Bucket, split: &Split) -> f64 {
        let groups: f64 = bucket.groups.iter().map(|g| g.cost_usd).sum();
        let charges: f64 = split.charges.iter().map(|(s, i)| s + i).sum();
        groups + charges + split.unshared_shared_usd + split.unshared_idle_usd
    }

    #[test]
    fn shared_resources_are_spread_with_shared_namespaces_and_are_not_idle() {
        let b = Bucket {
            shared_resources_usd: 4.0,
            ..bucket()
        };
        for shared in [ShareShared::Proportional, ShareShared::Even] {
            let split = spread(&b, shared, ShareIdle::Proportional);
            assert_eq!(split.idle_usd, 4.0, "{shared:?}");
            let spread: f64 = split.charges.iter().map(|(s, _)| s).sum();
            assert_eq!(spread, 6.0, "{shared:?}");
            assert_eq!(total(&b, &split), 14.0, "{shared:?}");
        }
        let split = spread(&b, ShareShared::Proportional, ShareIdle::Proportional);
        assert_eq!(split.charges, vec![(4.5, 3.0), (1.5, 1.0)]);
        let kept = spread(&b, ShareShared::None, ShareIdle::Proportional);
        assert_eq!(kept.unshared_shared_usd, 6.0);
    }

    #[test]
    fn proportional_sharing_follows_compute_cost() {
        let b = bucket();
        let split = spread(&b, ShareShared::Proportional, ShareIdle::Proportional);
        assert_eq!(split.idle_usd, 4.0);
        assert_eq!(split.charges, vec![(1.5, 3.0), (0.5, 1.0)]);
        assert_eq!(total(&b, &split), 10.0);
    }

    #[test]
    fn even_sharing_splits_shared_equally_and_none_keeps_idle_unshared() {
        let b = bucket();
        let split = spread(&b, ShareShared::Even, ShareIdle::None);
        assert_eq!(split.charges, vec![(1.0, 0.0), (1.0, 0.0)]);
        assert_eq!(split.unshared_idle_usd, 4.0);
        assert_eq!(total(&b, &split), 10.0);
    }

    #[test]
    fn a_bucket_without_groups_keeps_everything_unshared() {
        let b = Bucket {
            groups: Vec::new(),
            shared: usd(2.0),
            shared_resources_usd: 0.0,
            node_cost_usd: 5.0,
        };
        for shared in [
            ShareShared::Proportional,
            ShareShared::Even,
            ShareShared::None,
        ] {
            let split = spread(&b, shared, ShareIdle::Proportional);
            assert_eq!(split.unshared_shared_usd, 2.0);
            assert_eq!(split.unshared_idle_usd, 3.0);
            assert_eq!(total(&b, &split), 5.0);
        }
    }
}
