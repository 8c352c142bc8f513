//! GCP's detailed usage cost export, as BigQuery writes it to files: CSV
//! with dotted columns (`service.description`) and repeated records as JSON
//! or Python literals, JSON lines with nested records, or Parquet.
//!
//! `cost` is billed; effective is `cost + Σ credits.amount` (credits are
//! negative), and the credits are kept by type so sustained-use,
//! committed-use and spend-based CUD offsets can be told apart.

use serde_json::Value;

use super::Bill;
use super::error::{BillError, Problem};
use super::format::Format;
use super::line::{ChargeCategory, Cloud, Credit, CreditKind, Meter, Resource, Split};
use super::row::{Parsed, Row, required_column};
use super::table::Header;

pub(crate) struct Columns {
    start: usize,
    end: usize,
    cost: usize,
    currency: Option<usize>,
    cost_type: Option<usize>,
    project: Option<usize>,
    service: Option<usize>,
    sku_id: Option<usize>,
    sku_description: Option<usize>,
    region: Option<usize>,
    zone: Option<usize>,
    usage_amount: Option<usize>,
    usage_unit: Option<usize>,
    credits: Option<usize>,
    labels: Option<usize>,
    system_labels: Option<usize>,
    resource_name: Option<usize>,
    resource_global_name: Option<usize>,
    cost_at_list: Option<usize>,
}

impl Columns {
    pub(crate) fn resolve(header: &Header, file: &str) -> Result<Columns, BillError> {
        let need = |keys: &[&'static str]| required_column(header, file, Format::Gcp, keys);
        Ok(Columns {
            start: need(&["usage_start_time"])?,
            end: need(&["usage_end_time"])?,
            cost: need(&["cost"])?,
            currency: header.find("currency"),
            cost_type: header.find("cost_type"),
            project: header.find("project.id"),
            service: header.find("service.description"),
            sku_id: header.find("sku.id"),
            sku_description: header.find("sku.description"),
            region: header.find_any(&["location.region", "location.location"]),
            zone: header.find("location.zone"),
            usage_amount: header.find("usage.amount"),
            usage_unit: header.find("usage.unit"),
            credits: header.find("credits"),
            labels: header.find("labels"),
            system_labels: header.find("system_labels"),
            resource_name: header.find("resource.name"),
            resource_global_name: header.find("resource.global_name"),
            cost_at_list: header.find("cost_at_list"),
        })
    }

    fn credits(&self, row: &Row, bill: &mut Bill, out: &mut Vec<Credit>) -> Result<(), BillError> {
        let Some(col) = self.credits else {
            return Ok(());
        };
        let items = match row.json(Some(col))? {
            None | Some(Value::Null) => return Ok(()),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(row.error(col, Problem::NotJson)),
        };
        for item in &items {
            let amount = match item.get("amount") {
                Some(Value::Number(n)) => n.as_f64(),
                Some(Value::String(s)) => s.parse().ok(),
                _ => None,
            }
            .ok_or_else(|| row.error(col, Problem::NotANumber))?;
            let text = |key: &str| item.get(key).and_then(Value::as_str).unwrap_or("");
            out.push(Credit {
                kind: CreditKind::from_gcp_type(text("type")),
                name: bill.intern(text("name")),
                amount,
            });
        }
        Ok(())
    }

    pub(crate) fn read(
        &self,
        row: &Row,
        bill: &mut Bill,
        labels: &mut Vec<(String, String)>,
    ) -> Result<(), BillError> {
        let cost_type = row.text_or_empty(self.cost_type);
        let sku_description = row.text_or_empty(self.sku_description);
        let category = match cost_type {
            "tax" => ChargeCategory::Tax,
            "adjustment" | "rounding_error" => ChargeCategory::Adjustment,
            // Spend-based commitments bill their fee as "Commitment v1: …" SKUs.
            _ if sku_description.starts_with("Commitment") => ChargeCategory::Purchase,
            "regular" | "" => ChargeCategory::Usage,
            _ => ChargeCategory::Adjustment,
        };
        let mut credits = Vec::new();
        self.credits(row, bill, &mut credits)?;
        labels.clear();
        row.labels(self.labels, labels)?;
        row.labels(self.system_labels, labels)?;
        let name = row.text_or_empty(self.resource_name);
        let id = row.text(self.resource_global_name).unwrap_or(name);
        let meter = Meter {
            cloud: Cloud::Gcp,
            category,
            charge_type: bill.intern(cost_type),
            account: bill.intern(row.text_or_empty(self.project)),
            service: bill.intern(row.text_or_empty(self.service)),
            sku_id: bill.intern(row.text_or_empty(self.sku_id)),
            sku_description: bill.intern(sku_description),
            region: bill.intern(row.text_or_empty(self.region)),
            zone: bill.intern(row.text_or_empty(self.zone)),
            usage_unit: bill.intern(row.text_or_empty(self.usage_unit)),
            currency: bill.intern(row.text_or_empty(self.currency)),
        };
        let resource = Resource {
            id: bill.intern(id),
            name: bill.intern(name),
            vm_instance: Default::default(),
            labels: bill.intern_labels(labels),
            split: Split::None,
        };
        let cost = row.cost(Some(self.cost))?;
        let credited: f64 = credits.iter().map(|c| c.amount).sum();
        Parsed {
            start_unix_s: row.timestamp(self.start)?,
            end_unix_s: row.timestamp(self.end)?,
            meter,
            resource,
            usage_quantity: row.number(self.usage_amount)?.unwrap_or(0.0),
            billed_cost: cost,
            effective_cost: cost + credited,
            list_cost: row.number(self.cost_at_list)?,
            credits,
            split_costs: None,
        }
        .push(bill, row, self.end)
    }
}
