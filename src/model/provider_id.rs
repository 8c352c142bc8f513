//! A node's `spec.providerID`, read once for everything that names the VM
//! as its cloud's bill does (the FOCUS export's ResourceId, reconciliation's
//! matching keys): `gce://PROJECT/ZONE/NAME`, `aws:///ZONE/i-…`,
//! `azure:///subscriptions/…`.

/// The VM a providerID names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instance<'a> {
    Gce {
        project: &'a str,
        zone: &'a str,
        name: &'a str,
    },
    /// The EC2 instance id (`i-…`).
    Aws { id: &'a str },
    /// The ARM resource id, lower-cased as Azure's exports write it, without
    /// a trailing `/`.
    Azure { arm: String },
}

impl<'a> Instance<'a> {
    /// The instance `provider_id` names, or none for another form (kind,
    /// bare metal, a malformed id).
    pub fn parse(provider_id: &'a str) -> Option<Instance<'a>> {
        if let Some(rest) = provider_id.strip_prefix("gce://") {
            let parts: Vec<&str> = rest.split('/').collect();
            return match parts.as_slice() {
                [project, zone, name] if !name.is_empty() => Some(Instance::Gce {
                    project,
                    zone,
                    name,
                }),
                _ => None,
            };
        }
        if let Some(rest) = provider_id.strip_prefix("aws://") {
            return rest
                .rsplit('/')
                .next()
                .filter(|id| id.starts_with("i-"))
                .map(|id| Instance::Aws { id });
        }
        if let Some(rest) = provider_id.strip_prefix("azure://") {
            let arm = rest.to_ascii_lowercase();
            let arm = arm.trim_end_matches('/');
            return arm.starts_with("/subscriptions/").then(|| Instance::Azure {
                arm: arm.to_owned(),
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_clouds_provider_id_names_its_vm_and_others_name_nothing() {
        assert_eq!(
            Instance::parse("gce://proj/us-central1-a/gke-n-1"),
            Some(Instance::Gce {
                project: "proj",
                zone: "us-central1-a",
                name: "gke-n-1"
            })
        );
        assert_eq!(
            Instance::parse("aws:///us-east-1a/i-0abc"),
            Some(Instance::Aws { id: "i-0abc" })
        );
        assert_eq!(
            Instance::parse("azure:///subscriptions/S/resourceGroups/RG/providers/Microsoft.Compute/virtualMachines/VM/"),
            Some(Instance::Azure {
                arm: "/subscriptions/s/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm".into()
            })
        );
        for other in [
            "kind://docker/n1",
            "gce://proj/n1",
            "aws:///us-east-1a/",
            "",
        ] {
            assert_eq!(Instance::parse(other), None, "{other}");
        }
    }
}
