//! FOCUS 1.0–1.3 cost and usage: `BilledCost` is billed, `EffectiveCost`
//! effective, both as the provider computed them.

use super::Bill;
use super::error::{BillError, Problem};
use super::format::Format;
use super::line::{ChargeCategory, Cloud, Meter, Resource, Split};
use super::row::{Parsed, Row, required_column};
use super::table::Header;

pub(crate) struct Columns {
    start: usize,
    end: usize,
    billed: usize,
    effective: usize,
    category: usize,
    class: Option<usize>,
    provider: Option<usize>,
    account: Option<usize>,
    resource_id: Option<usize>,
    resource_name: Option<usize>,
    service: Option<usize>,
    sku_id: Option<usize>,
    description: Option<usize>,
    region: Option<usize>,
    zone: Option<usize>,
    consumed_quantity: Option<usize>,
    consumed_unit: Option<usize>,
    pricing_quantity: Option<usize>,
    pricing_unit: Option<usize>,
    list: Option<usize>,
    currency: Option<usize>,
    tags: Option<usize>,
    sku_details: Option<usize>,
    allocated_resource: Option<usize>,
    allocated_method: Option<usize>,
}

impl Columns {
    pub(crate) fn resolve(header: &Header, file: &str) -> Result<Columns, BillError> {
        let need = |keys: &[&'static str]| required_column(header, file, Format::Focus, keys);
        Ok(Columns {
            start: need(&["chargeperiodstart"])?,
            end: need(&["chargeperiodend"])?,
            billed: need(&["billedcost"])?,
            effective: need(&["effectivecost"])?,
            category: need(&["chargecategory"])?,
            class: header.find("chargeclass"),
            // FOCUS 1.4 drops ProviderName for ServiceProviderName.
            provider: header.find_any(&["providername", "serviceprovidername"]),
            account: header.find("subaccountid"),
            resource_id: header.find("resourceid"),
            resource_name: header.find("resourcename"),
            service: header.find("servicename"),
            sku_id: header.find("skuid"),
            description: header.find("chargedescription"),
            region: header.find_any(&["regionid", "region"]),
            zone: header.find("availabilityzone"),
            consumed_quantity: header.find("consumedquantity"),
            consumed_unit: header.find("consumedunit"),
            pricing_quantity: header.find("pricingquantity"),
            pricing_unit: header.find("pricingunit"),
            list: header.find("listcost"),
            currency: header.find("billingcurrency"),
            tags: header.find("tags"),
            sku_details: header.find("x_skudetails"),
            allocated_resource: header.find("allocatedresourceid"),
            allocated_method: header.find("allocatedmethodid"),
        })
    }

    pub(crate) fn read(
        &self,
        row: &Row,
        bill: &mut Bill,
        labels: &mut Vec<(String, String)>,
    ) -> Result<(), BillError> {
        let category_text = row.required(self.category)?;
        let category = ChargeCategory::from_focus(category_text)
            .ok_or_else(|| row.error(self.category, Problem::UnknownValue))?;
        let charge_type = match row.text(self.class) {
            Some(class) => bill.intern(&format!("{category_text}/{class}")),
            None => bill.intern(category_text),
        };
        let (quantity, unit) = match row.number(self.consumed_quantity)? {
            Some(q) => (q, row.text_or_empty(self.consumed_unit)),
            None => (
                row.number(self.pricing_quantity)?.unwrap_or(0.0),
                row.text_or_empty(self.pricing_unit),
            ),
        };
        let vm_instance = match row.json(self.sku_details)? {
            Some(details) => details
                .get("VMName")
                .or_else(|| details.get("VmName"))
                .and_then(|v| v.as_str())
                .map(|name| bill.intern(name))
                .unwrap_or_default(),
            None => Default::default(),
        };
        labels.clear();
        row.labels(self.tags, labels)?;
        let split = match row.text(self.allocated_method) {
            Some(method) => Split::Allocated {
                resource: bill.intern(row.text_or_empty(self.allocated_resource)),
                method: bill.intern(method),
            },
            None => Split::None,
        };
        let meter = Meter {
            cloud: row
                .text(self.provider)
                .map_or(Cloud::Other, Cloud::from_provider_name),
            category,
            charge_type,
            account: bill.intern(row.text_or_empty(self.account)),
            service: bill.intern(row.text_or_empty(self.service)),
            sku_id: bill.intern(row.text_or_empty(self.sku_id)),
            sku_description: bill.intern(row.text_or_empty(self.description)),
            region: bill.intern(row.text_or_empty(self.region)),
            zone: bill.intern(row.text_or_empty(self.zone)),
            usage_unit: bill.intern(unit),
            currency: bill.intern(row.text_or_empty(self.currency)),
        };
        let resource = Resource {
            id: bill.intern(row.text_or_empty(self.resource_id)),
            name: bill.intern(row.text_or_empty(self.resource_name)),
            vm_instance,
            labels: bill.intern_labels(labels),
            split,
        };
        Parsed {
            start_unix_s: row.timestamp(self.start)?,
            end_unix_s: row.timestamp(self.end)?,
            meter,
            resource,
            usage_quantity: quantity,
            billed_cost: row.cost(Some(self.billed))?,
            effective_cost: row.cost(Some(self.effective))?,
            list_cost: row.number(self.list)?,
            credits: Vec::new(),
            split_costs: None,
        }
        .push(bill, row, self.end)
    }
}
