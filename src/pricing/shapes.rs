//! Machine-type shapes: how many vCPUs and GiB a machine type has, and how many
//! vCPUs the cloud bills.
//!
//! The billed count matters for GCE's shared-core types: the API reports
//! e2-micro as 2 vCPUs, but Google bills it as 0.25 vCPU. Pricing it at 2 × the
//! E2 rate overstates it 5.6× (see `src/pricing/data/SOURCES.md`).

use std::collections::HashMap;

/// The size of a machine type.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineShape {
    pub machine_family: String,
    pub vcpus: f64,
    /// vCPUs the provider bills; below `vcpus` only for shared-core types.
    pub billed_vcpus: f64,
    pub memory_gib: f64,
}

/// Known machine types, by provider and name.
#[derive(Debug, Clone, Default)]
pub struct ShapeTable {
    shapes: HashMap<(String, String), MachineShape>,
}

/// The shapes shipped in the binary.
const EMBEDDED_SHAPES: &str = include_str!("data/machine_types.csv");

#[derive(Debug, serde::Deserialize)]
struct ShapeRecord {
    provider: String,
    machine_type: String,
    machine_family: String,
    vcpus: f64,
    memory_gib: f64,
    billed_vcpus: f64,
}

impl ShapeTable {
    /// The embedded table of machine shapes.
    ///
    /// # Errors
    ///
    /// A message naming the line when the embedded file is malformed, which a
    /// unit test rules out for every build.
    pub fn embedded() -> Result<ShapeTable, String> {
        let mut shapes = HashMap::new();
        let mut reader = csv::Reader::from_reader(EMBEDDED_SHAPES.as_bytes());
        for (index, record) in reader.deserialize::<ShapeRecord>().enumerate() {
            let record = record.map_err(|error| {
                format!("embedded machine_types.csv line {}: {error}", index + 2)
            })?;
            shapes.insert(
                (record.provider, record.machine_type),
                MachineShape {
                    machine_family: record.machine_family,
                    vcpus: record.vcpus,
                    billed_vcpus: record.billed_vcpus,
                    memory_gib: record.memory_gib,
                },
            );
        }
        Ok(ShapeTable { shapes })
    }

    /// The shape of `machine_type`, from the table or, for GCE custom types
    /// (`custom-4-16384`, `n2-custom-8-32768`, `e2-custom-4-8192-ext`), from its name.
    pub fn get(&self, provider: &str, machine_type: &str) -> Option<MachineShape> {
        if let Some(shape) = self
            .shapes
            .get(&(provider.to_owned(), machine_type.to_owned()))
        {
            return Some(shape.clone());
        }
        if provider == "gcp" {
            return gce_custom_shape(machine_type);
        }
        None
    }

    /// Every known machine type of a provider, sorted by name.
    pub fn machine_types(&self, provider: &str) -> Vec<(&str, &MachineShape)> {
        let mut found: Vec<_> = self
            .shapes
            .iter()
            .filter(|((p, _), _)| p == provider)
            .map(|((_, name), shape)| (name.as_str(), shape))
            .collect();
        found.sort_by(|a, b| a.0.cmp(b.0));
        found
    }
}

/// Parses a GCE custom machine type name: `[FAMILY-]custom-VCPUS-MEMORY_MIB[-ext]`.
/// Without a family prefix the type is N1, as GCE defines it.
pub fn gce_custom_shape(machine_type: &str) -> Option<MachineShape> {
    let name = machine_type.strip_suffix("-ext").unwrap_or(machine_type);
    let (family, rest) = match name.split_once("-custom-") {
        Some((family, rest)) => (family, rest),
        None => ("n1", name.strip_prefix("custom-")?),
    };
    let (vcpus, memory_mib) = rest.split_once('-')?;
    let vcpus: u32 = vcpus.parse().ok()?;
    let memory_mib: u32 = memory_mib.parse().ok()?;
    if vcpus == 0 || memory_mib == 0 || family.is_empty() {
        return None;
    }
    Some(MachineShape {
        machine_family: family.to_ascii_lowercase(),
        vcpus: f64::from(vcpus),
        billed_vcpus: f64::from(vcpus),
        memory_gib: f64::from(memory_mib) / 1024.0,
    })
}

/// The family of a machine type by the provider's naming convention:
/// `e2-standard-4` → `e2`, `custom-4-16384` → `n1`, `m5.large` → `m5`,
/// `Standard_D4s_v5` → `ds_v5`.
pub fn family_from_name(provider: &str, machine_type: &str) -> Option<String> {
    let family = match provider {
        "gcp" => {
            let head = machine_type.split('-').next()?;
            if head == "custom" { "n1" } else { head }.to_owned()
        }
        "aws" => machine_type.split('.').next()?.to_owned(),
        "azure" => {
            let name = machine_type
                .strip_prefix("Standard_")
                .unwrap_or(machine_type);
            let (series, version) = match name.split_once('_') {
                Some((series, version)) => (series, Some(version)),
                None => (name, None),
            };
            let letters: String = series.chars().filter(|c| !c.is_ascii_digit()).collect();
            match version {
                Some(version) => format!("{letters}_{version}"),
                None => letters,
            }
        }
        _ => return None,
    };
    (!family.is_empty()).then(|| family.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_shapes_load_and_know_shared_core_billing() -> Result<(), String> {
        let table = ShapeTable::embedded()?;
        let micro = table.get("gcp", "e2-micro").ok_or("e2-micro missing")?;
        assert_eq!(
            (micro.vcpus, micro.billed_vcpus, micro.memory_gib),
            (2.0, 0.25, 1.0)
        );
        let n1 = table
            .get("gcp", "n1-standard-4")
            .ok_or("n1-standard-4 missing")?;
        assert_eq!(
            (n1.vcpus, n1.memory_gib, n1.machine_family.as_str()),
            (4.0, 15.0, "n1")
        );
        assert!(table.get("aws", "m5.large").is_some());
        assert!(table.get("azure", "Standard_D4s_v5").is_some());
        assert!(table.get("gcp", "m5.large").is_none());
        Ok(())
    }

    #[test]
    fn gce_custom_types_are_understood_from_their_name() {
        let n1 = gce_custom_shape("custom-4-16384");
        assert_eq!(
            n1.map(|s| (s.machine_family, s.vcpus, s.memory_gib)),
            Some(("n1".into(), 4.0, 16.0))
        );
        let n2 = gce_custom_shape("n2-custom-8-32768");
        assert_eq!(
            n2.map(|s| (s.machine_family, s.vcpus, s.memory_gib)),
            Some(("n2".into(), 8.0, 32.0))
        );
        let e2 = gce_custom_shape("e2-custom-4-8192-ext");
        assert_eq!(
            e2.map(|s| (s.machine_family, s.vcpus, s.memory_gib)),
            Some(("e2".into(), 4.0, 8.0))
        );
        for bad in [
            "custom-4",
            "custom-x-1024",
            "n2-custom-0-1024",
            "e2-standard-4",
            "-custom-2-2048",
        ] {
            assert_eq!(gce_custom_shape(bad), None, "{bad}");
        }
    }

    #[test]
    fn families_follow_each_providers_naming() {
        assert_eq!(
            family_from_name("gcp", "e2-standard-4").as_deref(),
            Some("e2")
        );
        assert_eq!(
            family_from_name("gcp", "custom-4-16384").as_deref(),
            Some("n1")
        );
        assert_eq!(
            family_from_name("aws", "m6i.xlarge").as_deref(),
            Some("m6i")
        );
        assert_eq!(
            family_from_name("azure", "Standard_D4as_v5").as_deref(),
            Some("das_v5")
        );
        assert_eq!(
            family_from_name("azure", "Standard_D4s_v3").as_deref(),
            Some("ds_v3")
        );
        assert_eq!(family_from_name("onprem", "big-box"), None);
    }
}
