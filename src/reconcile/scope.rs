//! Which lines of a bill are the cluster's: the one rule deciding whether a
//! line no metered resource claims is the cluster's unallocated cost or
//! another cluster's (or project's) line to ignore.
//!
//! A line is the cluster's when a cluster label the clouds set names the
//! cluster (`goog-k8s-cluster-name`, `aws:eks:cluster-name`,
//! `aks-managed-cluster-name`, the `kubernetes.io/cluster/<name>` tag) or
//! when it carries a label of a `--bill-filter KEY=VALUE`. Label keys are
//! compared normalised (lower case, `user:`/`user_` prefix dropped, `:`,
//! `-`, `/` and `.` as `_`), because CUR 2.0 rewrites tag keys that way.

use std::fmt;
use std::str::FromStr;

use crate::bill::LineView;

/// The labels clouds put on a cluster's resources, valued by its name.
pub const CLUSTER_LABELS: [&str; 4] = [
    "goog-k8s-cluster-name",
    "aws:eks:cluster-name",
    "eks:cluster-name",
    "aks-managed-cluster-name",
];

/// `--bill-filter KEY=VALUE`: lines with this label are the cluster's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillFilter {
    pub key: String,
    pub value: String,
}

impl FromStr for BillFilter {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => Ok(BillFilter {
                key: key.trim().to_owned(),
                value: value.trim().to_owned(),
            }),
            _ => Err(format!("{text:?} is not KEY=VALUE")),
        }
    }
}

impl fmt::Display for BillFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

/// The cluster as its bill names it.
#[derive(Debug, Clone)]
pub struct Scope {
    cluster: String,
    /// `(normalised key, value)` pairs that make a line the cluster's.
    wanted: Vec<(String, String)>,
    /// The normalised `kubernetes.io/cluster/<name>` key.
    owned_tag: String,
}

impl Scope {
    /// The scope of cluster `cluster` (its name on the cloud), widened by
    /// `filters`.
    pub fn new(cluster: &str, filters: &[BillFilter]) -> Scope {
        let mut wanted: Vec<(String, String)> = CLUSTER_LABELS
            .iter()
            .map(|key| (normalise(key), cluster.to_owned()))
            .collect();
        wanted.extend(filters.iter().map(|f| (normalise(&f.key), f.value.clone())));
        Scope {
            cluster: cluster.to_owned(),
            wanted,
            owned_tag: normalise(&format!("kubernetes.io/cluster/{cluster}")),
        }
    }

    /// The cluster's name on the cloud.
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// Whether `line`'s labels make it the cluster's.
    pub fn contains(&self, line: &LineView<'_>) -> bool {
        line.labels().any(|(key, value)| {
            let key = normalise(key);
            key == self.owned_tag || self.wanted.iter().any(|(k, v)| *k == key && v == value)
        })
    }

    /// Whether `line`'s resource is named as the cluster (an EKS cluster's
    /// ARN `…:cluster/<name>`, an AKS `…/managedClusters/<name>`, a GKE
    /// fee line's resource): how a fee line without labels is claimed.
    pub fn names(&self, line: &LineView<'_>) -> bool {
        [line.resource_id(), line.resource_name()]
            .iter()
            .filter_map(|id| super::keys::last_segment(id))
            .any(|name| name.eq_ignore_ascii_case(&self.cluster))
    }
}

/// A label key as compared: lower case, without a `user:`/`user_` prefix,
/// with `:`, `-`, `/` and `.` as `_`.
fn normalise(key: &str) -> String {
    let lower = key.to_ascii_lowercase();
    let bare = lower
        .strip_prefix("user:")
        .or_else(|| lower.strip_prefix("user_"))
        .unwrap_or(&lower);
    bare.chars()
        .map(|c| {
            if matches!(c, ':' | '-' | '/' | '.') {
                '_'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_keys_match_however_an_export_spells_them() {
        assert_eq!(normalise("aws:eks:cluster-name"), "aws_eks_cluster_name");
        assert_eq!(
            normalise("user:aws:eks:cluster-name"),
            "aws_eks_cluster_name"
        );
        assert_eq!(normalise("aws_eks_cluster_name"), "aws_eks_cluster_name");
        assert_eq!(normalise("Goog-K8s-Cluster-Name"), "goog_k8s_cluster_name");
    }

    #[test]
    fn a_bill_filter_is_key_equals_value() {
        assert_eq!(
            "team=platform".parse(),
            Ok(BillFilter {
                key: "team".into(),
                value: "platform".into()
            })
        );
        assert!("=x".parse::<BillFilter>().is_err());
        assert!("novalue".parse::<BillFilter>().is_err());
    }
}
