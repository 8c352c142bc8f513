//! A `--pricing` file of either format, told apart by its header.
//!
//! Users keep machine prices and resource prices (disks, load balancers,
//! fees, Autopilot) in separate files and pass `--pricing` once for each;
//! recognising the format by its columns spares them a flag per format.

use super::catalog::{PriceRow, RowOrigin, parse_catalog};
use super::resources::{ResourceRow, is_resource_file, parse_resources};
use super::table::CatalogError;

/// The validated rows of one pricing file.
#[derive(Debug, Clone, PartialEq)]
pub enum PricingFile {
    /// Machine, family and GPU prices (the `catalog.csv` columns).
    Machines(Vec<PriceRow>),
    /// Disk, load balancer, cluster fee and Autopilot prices (the `resources.csv` columns).
    Resources(Vec<ResourceRow>),
}

/// Parses a user's pricing file: a resource file when its header has a
/// `kind` column, else a machine catalog (whose missing columns are then
/// reported).
///
/// # Errors
///
/// [`CatalogError`] with every problem of the file, by line and column.
pub fn parse_pricing_file(text: &str, origin: &str) -> Result<PricingFile, CatalogError> {
    if is_resource_file(text) {
        parse_resources(text, origin, RowOrigin::User).map(PricingFile::Resources)
    } else {
        parse_catalog(text, origin, RowOrigin::User).map(PricingFile::Machines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_decides_the_format() {
        let resources = parse_pricing_file(
            "kind,provider,region,sku,unit,usd,as_of\ndisk,gcp,,pd-ssd,gib_month,0.2,\n",
            "r.csv",
        );
        assert!(matches!(resources, Ok(PricingFile::Resources(rows)) if rows.len() == 1));
        let machines = parse_pricing_file(
            "provider,region,machine_family,machine_type,capacity_type,vcpu_hour_usd,memory_gib_hour_usd,as_of\n\
             onprem,,,,on_demand,0.02,0.003,\n",
            "m.csv",
        );
        assert!(matches!(machines, Ok(PricingFile::Machines(rows)) if rows.len() == 1));
        let neither = parse_pricing_file("provider,region\ngcp,x\n", "x.csv")
            .expect_err("a header of neither format");
        assert!(
            neither
                .problems
                .iter()
                .any(|p| p.column.as_deref() == Some("capacity_type"))
        );
    }
}
