//! Azure cost details (EA, MCA and pay-as-you-go exports, actual or
//! amortised), with their header variants: PascalCase, camelCase, older
//! pay-as-you-go names (`UsageDateTime`, `PreTaxCost`, `InstanceId`) and
//! localised headers with the English name in brackets.
//!
//! An actual and an amortised file have the same columns, so the cost
//! column is split by each row's own charge type and pricing model:
//! commitment purchases are billed but not effective (the amortised view
//! spreads them over usage); usage covered by a reservation or savings plan
//! and unused commitment are effective but not billed. An actual file then
//! sums to the invoice in `billed`, an amortised file to the amortised
//! total in `effective`; read one of the two per period, not both.

use serde_json::Value;

use super::Bill;
use super::error::BillError;
use super::format::Format;
use super::line::{ChargeCategory, Cloud, Meter, Resource, Split};
use super::row::{Parsed, Row, required_column};
use super::table::Header;

const SECONDS_PER_DAY: i64 = 86_400;

pub(crate) struct Columns {
    date: usize,
    cost: usize,
    account: Option<usize>,
    resource_id: Option<usize>,
    resource_name: Option<usize>,
    service: Option<usize>,
    sku_id: Option<usize>,
    sku_description: Option<usize>,
    region: Option<usize>,
    zone: Option<usize>,
    quantity: Option<usize>,
    unit: Option<usize>,
    currency: Option<usize>,
    charge_type: Option<usize>,
    pricing_model: Option<usize>,
    payg_cost: Option<usize>,
    payg_price: Option<usize>,
    tags: Option<usize>,
    additional_info: Option<usize>,
}

impl Columns {
    pub(crate) fn resolve(header: &Header, file: &str) -> Result<Columns, BillError> {
        let need = |keys: &[&'static str]| required_column(header, file, Format::Azure, keys);
        Ok(Columns {
            date: need(&["date", "usagedatetime"])?,
            cost: need(&["costinbillingcurrency", "cost", "pretaxcost"])?,
            account: header.find_any(&["subscriptionid", "subscriptionguid"]),
            resource_id: header.find_any(&["resourceid", "instanceid", "instancename"]),
            resource_name: header.find("resourcename"),
            service: header.find("metercategory"),
            sku_id: header.find("meterid"),
            sku_description: header.find_any(&["productname", "product", "metername"]),
            region: header.find("resourcelocation"),
            zone: header.find("availabilityzone"),
            quantity: header.find_any(&["quantity", "usagequantity"]),
            unit: header.find("unitofmeasure"),
            currency: header.find_any(&["billingcurrency", "billingcurrencycode", "currency"]),
            charge_type: header.find("chargetype"),
            pricing_model: header.find("pricingmodel"),
            payg_cost: header.find("paygcostinbillingcurrency"),
            payg_price: header.find("paygprice"),
            tags: header.find("tags"),
            additional_info: header.find("additionalinfo"),
        })
    }

    pub(crate) fn read(
        &self,
        row: &Row,
        bill: &mut Bill,
        labels: &mut Vec<(String, String)>,
    ) -> Result<(), BillError> {
        let charge_type = row.text_or_empty(self.charge_type);
        let committed = matches!(
            row.text_or_empty(self.pricing_model),
            "Reservation" | "SavingsPlan"
        );
        let category = match charge_type {
            "Usage" | "UnusedReservation" | "UnusedSavingsPlan" | "" => ChargeCategory::Usage,
            "Purchase" => ChargeCategory::Purchase,
            "Refund" => ChargeCategory::Credit,
            "Tax" => ChargeCategory::Tax,
            _ => ChargeCategory::Adjustment,
        };
        let cost = row.cost(Some(self.cost))?;
        let (billed, effective) = match charge_type {
            "Purchase" if committed => (cost, 0.0),
            "Usage" if committed => (0.0, cost),
            "UnusedReservation" | "UnusedSavingsPlan" => (0.0, cost),
            _ => (cost, cost),
        };
        let quantity = row.number(self.quantity)?.unwrap_or(0.0);
        let list = match row.number(self.payg_cost)? {
            Some(payg) => Some(payg),
            None => row.number(self.payg_price)?.map(|price| price * quantity),
        };
        let vm_instance = match row.json(self.additional_info)? {
            Some(Value::Object(info)) => info
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("vmname"))
                .and_then(|(_, v)| v.as_str())
                .map(|name| bill.intern(name))
                .unwrap_or_default(),
            _ => Default::default(),
        };
        labels.clear();
        row.labels(self.tags, labels)?;
        let start = row.timestamp(self.date)?;
        let meter = Meter {
            cloud: Cloud::Azure,
            category,
            charge_type: bill.intern(charge_type),
            account: bill.intern(row.text_or_empty(self.account)),
            service: bill.intern(row.text_or_empty(self.service)),
            sku_id: bill.intern(row.text_or_empty(self.sku_id)),
            sku_description: bill.intern(row.text_or_empty(self.sku_description)),
            region: bill.intern(row.text_or_empty(self.region)),
            zone: bill.intern(row.text_or_empty(self.zone)),
            usage_unit: bill.intern(row.text_or_empty(self.unit)),
            currency: bill.intern(row.text_or_empty(self.currency)),
        };
        let resource = Resource {
            id: bill.intern(row.text_or_empty(self.resource_id)),
            name: bill.intern(row.text_or_empty(self.resource_name)),
            vm_instance,
            labels: bill.intern_labels(labels),
            split: Split::None,
        };
        Parsed {
            start_unix_s: start,
            // Cost details are daily.
            end_unix_s: start + SECONDS_PER_DAY,
            meter,
            resource,
            usage_quantity: quantity,
            billed_cost: billed,
            effective_cost: effective,
            list_cost: list,
            credits: Vec::new(),
            split_costs: None,
        }
        .push(bill, row, self.date)
    }
}
