//! Which load balancer a Service of type LoadBalancer is, in the terms its
//! price row uses, and the cluster fee tier a cluster pays by default.

use std::collections::BTreeMap;

use crate::model::Provider;

/// The `sku` of the `load_balancer` row a Service's balancer is priced by.
///
/// - GCP: every Service load balancer is a forwarding rule (`forwarding_rule`;
///   the catalog's cheaper rate beyond a project's fifth rule is not applied:
///   kubetally does not see the project's other rules).
/// - AWS: the in-tree controller provisions a Classic Load Balancer (`clb`);
///   the AWS Load Balancer Controller (`loadBalancerClass:
///   service.k8s.aws/nlb`, or `aws-load-balancer-type: external`/`nlb`/`nlb-ip`)
///   a Network Load Balancer (`nlb`).
/// - Azure: the Standard load balancer AKS uses (`standard`).
pub fn balancer_sku(
    provider: &Provider,
    class: Option<&str>,
    annotations: &BTreeMap<String, String>,
) -> &'static str {
    match provider {
        Provider::Aws => {
            let kind = annotations
                .get("service.beta.kubernetes.io/aws-load-balancer-type")
                .map(|t| t.to_ascii_lowercase());
            let nlb = class == Some("service.k8s.aws/nlb")
                || matches!(kind.as_deref(), Some("nlb" | "nlb-ip" | "external"));
            if nlb { "nlb" } else { "clb" }
        }
        Provider::Azure => "standard",
        _ => "forwarding_rule",
    }
}

/// The provider an ingress address names, when it names one: AWS balancers
/// have `*.elb.<region>.amazonaws.com` hostnames; an IP says nothing.
pub fn provider_of_ingress(address: &str) -> Option<Provider> {
    let host = address.to_ascii_lowercase();
    if host.ends_with(".amazonaws.com") && host.contains(".elb.") {
        return Some(Provider::Aws);
    }
    if host.ends_with(".cloudapp.azure.com") {
        return Some(Provider::Azure);
    }
    None
}

/// The region an AWS balancer's hostname names (`….elb.us-east-1.amazonaws.com`).
pub fn region_of_ingress(address: &str) -> Option<String> {
    let host = address.to_ascii_lowercase();
    let rest = host.strip_suffix(".amazonaws.com")?;
    let region = rest.rsplit('.').next()?;
    (region != "elb" && !region.is_empty()).then(|| region.to_owned())
}

/// The cluster management fee tier a cluster pays unless told otherwise
/// (`--cluster-tier`): GKE and EKS charge their standard fee; AKS's default
/// tier is Free; other providers: none known.
pub fn default_cluster_tier(provider: &Provider) -> Option<&'static str> {
    match provider {
        Provider::Gcp | Provider::Aws => Some("standard"),
        Provider::Azure => Some("free"),
        Provider::Other(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_aws_controller_makes_an_nlb_and_the_in_tree_one_a_clb() {
        let none = BTreeMap::new();
        assert_eq!(balancer_sku(&Provider::Aws, None, &none), "clb");
        assert_eq!(
            balancer_sku(&Provider::Aws, Some("service.k8s.aws/nlb"), &none),
            "nlb"
        );
        let annotated = BTreeMap::from([(
            "service.beta.kubernetes.io/aws-load-balancer-type".to_owned(),
            "NLB".to_owned(),
        )]);
        assert_eq!(balancer_sku(&Provider::Aws, None, &annotated), "nlb");
        assert_eq!(
            balancer_sku(&Provider::Gcp, None, &annotated),
            "forwarding_rule"
        );
        assert_eq!(balancer_sku(&Provider::Azure, None, &none), "standard");
    }

    #[test]
    fn an_elb_hostname_names_its_provider_and_region() {
        let host = "k8s-shop-web-0123456789.elb.us-east-1.amazonaws.com";
        assert_eq!(provider_of_ingress(host), Some(Provider::Aws));
        assert_eq!(region_of_ingress(host).as_deref(), Some("us-east-1"));
        assert_eq!(provider_of_ingress("34.118.10.20"), None);
        assert_eq!(region_of_ingress("34.118.10.20"), None);
        assert_eq!(region_of_ingress("x.elb.amazonaws.com"), None);
    }
}
