//! AWS Cost and Usage Reports: CUR 2.0 (snake_case columns, also how
//! Athena names legacy CUR) and legacy CUR (`lineItem/UsageStartDate`).
//!
//! Billed is `line_item_unblended_cost`. Effective is AWS's amortised cost
//! (the formula of AWS's "amortized cost" documentation and CUDOS): covered
//! usage at its reservation or savings-plan effective cost, the unused part
//! of a commitment on its fee line, upfront fees and negations zero.
//!
//! EKS split cost allocation rows (`split_line_item_parent_resource_id`
//! set) describe a pod's share of an instance whose own rows stay in the
//! report; they are marked [`Split::EksPod`] so nobody adds them twice.

use super::Bill;
use super::error::BillError;
use super::format::Format;
use super::line::{ChargeCategory, Cloud, Meter, Resource, Split, SplitCosts};
use super::row::{Parsed, Row, required_column};
use super::table::{Header, column_key};

/// A column's key in CUR 2.0 and in legacy CUR.
type Names = (&'static str, &'static str);

const START: Names = ("line_item_usage_start_date", "lineitem/usagestartdate");
const END: Names = ("line_item_usage_end_date", "lineitem/usageenddate");
const LINE_TYPE: Names = ("line_item_line_item_type", "lineitem/lineitemtype");
const UNBLENDED: Names = ("line_item_unblended_cost", "lineitem/unblendedcost");
const RESOURCE: Names = ("line_item_resource_id", "lineitem/resourceid");
const PRODUCT: Names = ("line_item_product_code", "lineitem/productcode");
const USAGE_TYPE: Names = ("line_item_usage_type", "lineitem/usagetype");
const DESCRIPTION: Names = (
    "line_item_line_item_description",
    "lineitem/lineitemdescription",
);
const ZONE: Names = ("line_item_availability_zone", "lineitem/availabilityzone");
const REGION_CODE: Names = ("product_region_code", "product/regioncode");
const REGION: Names = ("product_region", "product/region");
const ACCOUNT: Names = ("line_item_usage_account_id", "lineitem/usageaccountid");
const AMOUNT: Names = ("line_item_usage_amount", "lineitem/usageamount");
const UNIT: Names = ("pricing_unit", "pricing/unit");
const CURRENCY: Names = ("line_item_currency_code", "lineitem/currencycode");
const PUBLIC_COST: Names = (
    "pricing_public_on_demand_cost",
    "pricing/publicondemandcost",
);
const RI_EFFECTIVE: Names = ("reservation_effective_cost", "reservation/effectivecost");
const RI_UNUSED_UPFRONT: Names = (
    "reservation_unused_amortized_upfront_fee_for_billing_period",
    "reservation/unusedamortizedupfrontfeeforbillingperiod",
);
const RI_UNUSED_RECURRING: Names = (
    "reservation_unused_recurring_fee",
    "reservation/unusedrecurringfee",
);
const RI_ARN: Names = (
    "reservation_reservation_a_r_n",
    "reservation/reservationarn",
);
const SP_EFFECTIVE: Names = (
    "savings_plan_savings_plan_effective_cost",
    "savingsplan/savingsplaneffectivecost",
);
const SP_COMMITMENT: Names = (
    "savings_plan_total_commitment_to_date",
    "savingsplan/totalcommitmenttodate",
);
const SP_USED: Names = ("savings_plan_used_commitment", "savingsplan/usedcommitment");
const SPLIT_PARENT: Names = (
    "split_line_item_parent_resource_id",
    "splitlineitem/parentresourceid",
);
const SPLIT_RATIO: Names = (
    "split_line_item_split_usage_ratio",
    "splitlineitem/splitusageratio",
);
const SPLIT_COST: Names = ("split_line_item_split_cost", "splitlineitem/splitcost");
const UNUSED_COST: Names = ("split_line_item_unused_cost", "splitlineitem/unusedcost");
const NET_SPLIT_COST: Names = (
    "split_line_item_net_split_cost",
    "splitlineitem/netsplitcost",
);
const NET_UNUSED_COST: Names = (
    "split_line_item_net_unused_cost",
    "splitlineitem/netunusedcost",
);
/// CUR 2.0's tag map column (JSON text in CSV, a map in Parquet).
const TAG_MAP: &str = "resource_tags";
/// Prefixes of one-column-per-tag exports: legacy CUR, and CUR as Athena names it.
const TAG_PREFIXES: [&str; 2] = ["resourceTags/", "resource_tags_"];

pub(crate) struct Columns {
    start: usize,
    end: usize,
    line_type: usize,
    unblended: usize,
    resource: Option<usize>,
    product: Option<usize>,
    usage_type: Option<usize>,
    description: Option<usize>,
    zone: Option<usize>,
    region: Option<usize>,
    account: Option<usize>,
    amount: Option<usize>,
    unit: Option<usize>,
    currency: Option<usize>,
    public_cost: Option<usize>,
    ri_effective: Option<usize>,
    ri_unused_upfront: Option<usize>,
    ri_unused_recurring: Option<usize>,
    ri_arn: Option<usize>,
    sp_effective: Option<usize>,
    sp_commitment: Option<usize>,
    sp_used: Option<usize>,
    split_parent: Option<usize>,
    split_ratio: Option<usize>,
    split_cost: Option<usize>,
    unused_cost: Option<usize>,
    net_split_cost: Option<usize>,
    net_unused_cost: Option<usize>,
    tag_map: Option<usize>,
    /// One-column tags: (column, tag key).
    tag_columns: Vec<(usize, String)>,
}

impl Columns {
    pub(crate) fn resolve(
        header: &Header,
        file: &str,
        format: Format,
    ) -> Result<Columns, BillError> {
        let pick = |names: Names| match format {
            Format::AwsCurLegacy => names.1,
            _ => names.0,
        };
        let find = |names: Names| header.find(pick(names));
        let need = |names: Names| required_column(header, file, format, &[pick(names)]);
        let tag_columns = header
            .names
            .iter()
            .enumerate()
            .filter(|(_, name)| column_key(name) != TAG_MAP)
            .filter_map(|(i, name)| {
                TAG_PREFIXES
                    .iter()
                    .find_map(|p| name.strip_prefix(p))
                    .map(|key| (i, key.to_owned()))
            })
            .collect();
        Ok(Columns {
            start: need(START)?,
            end: need(END)?,
            line_type: need(LINE_TYPE)?,
            unblended: need(UNBLENDED)?,
            resource: find(RESOURCE),
            product: find(PRODUCT),
            usage_type: find(USAGE_TYPE),
            description: find(DESCRIPTION),
            zone: find(ZONE),
            region: find(REGION_CODE).or_else(|| find(REGION)),
            account: find(ACCOUNT),
            amount: find(AMOUNT),
            unit: find(UNIT),
            currency: find(CURRENCY),
            public_cost: find(PUBLIC_COST),
            ri_effective: find(RI_EFFECTIVE),
            ri_unused_upfront: find(RI_UNUSED_UPFRONT),
            ri_unused_recurring: find(RI_UNUSED_RECURRING),
            ri_arn: find(RI_ARN),
            sp_effective: find(SP_EFFECTIVE),
            sp_commitment: find(SP_COMMITMENT),
            sp_used: find(SP_USED),
            split_parent: find(SPLIT_PARENT),
            split_ratio: find(SPLIT_RATIO),
            split_cost: find(SPLIT_COST),
            unused_cost: find(UNUSED_COST),
            net_split_cost: find(NET_SPLIT_COST),
            net_unused_cost: find(NET_UNUSED_COST),
            tag_map: match format {
                Format::AwsCurLegacy => None,
                _ => header.find(TAG_MAP),
            },
            tag_columns,
        })
    }

    /// The amortised cost of a line (AWS's documented formula).
    fn amortised(&self, row: &Row, line_type: &str, unblended: f64) -> Result<f64, BillError> {
        Ok(match line_type {
            "DiscountedUsage" => row.cost(self.ri_effective)?,
            "SavingsPlanCoveredUsage" => row.cost(self.sp_effective)?,
            "SavingsPlanNegation" | "SavingsPlanUpfrontFee" => 0.0,
            "SavingsPlanRecurringFee" => row.cost(self.sp_commitment)? - row.cost(self.sp_used)?,
            "RIFee" => row.cost(self.ri_unused_upfront)? + row.cost(self.ri_unused_recurring)?,
            // The upfront payment of a reservation: spread over its usage.
            "Fee" if row.text(self.ri_arn).is_some() => 0.0,
            _ => unblended,
        })
    }

    pub(crate) fn read(
        &self,
        row: &Row,
        bill: &mut Bill,
        labels: &mut Vec<(String, String)>,
    ) -> Result<(), BillError> {
        let line_type = row.required(self.line_type)?;
        let category = match line_type {
            "Usage" | "DiscountedUsage" | "SavingsPlanCoveredUsage" => ChargeCategory::Usage,
            "Tax" => ChargeCategory::Tax,
            "Credit"
            | "Refund"
            | "EdpDiscount"
            | "PrivateRateDiscount"
            | "BundledDiscount"
            | "Discount"
            | "DistributorDiscount"
            | "SavingsPlanNegation" => ChargeCategory::Credit,
            "Fee" | "RIFee" | "SavingsPlanUpfrontFee" | "SavingsPlanRecurringFee" => {
                ChargeCategory::Purchase
            }
            _ => ChargeCategory::Adjustment,
        };
        labels.clear();
        row.labels(self.tag_map, labels)?;
        for (col, key) in &self.tag_columns {
            if let Some(value) = row.text(Some(*col)) {
                labels.push((key.clone(), value.to_owned()));
            }
        }
        let (split, split_costs) = match row.text(self.split_parent) {
            Some(parent) => (
                Split::EksPod {
                    parent: bill.intern(parent),
                },
                Some(SplitCosts {
                    split_usage_ratio: row.cost(self.split_ratio)?,
                    split_cost: row.cost(self.split_cost)?,
                    unused_cost: row.cost(self.unused_cost)?,
                    net_split_cost: row.number(self.net_split_cost)?,
                    net_unused_cost: row.number(self.net_unused_cost)?,
                }),
            ),
            None => (Split::None, None),
        };
        let meter = Meter {
            cloud: Cloud::Aws,
            category,
            charge_type: bill.intern(line_type),
            account: bill.intern(row.text_or_empty(self.account)),
            service: bill.intern(row.text_or_empty(self.product)),
            sku_id: bill.intern(row.text_or_empty(self.usage_type)),
            sku_description: bill.intern(row.text_or_empty(self.description)),
            region: bill.intern(row.text_or_empty(self.region)),
            zone: bill.intern(row.text_or_empty(self.zone)),
            usage_unit: bill.intern(row.text_or_empty(self.unit)),
            currency: bill.intern(row.text_or_empty(self.currency)),
        };
        let resource = Resource {
            id: bill.intern(row.text_or_empty(self.resource)),
            name: Default::default(),
            vm_instance: Default::default(),
            labels: bill.intern_labels(labels),
            split,
        };
        let unblended = row.cost(Some(self.unblended))?;
        Parsed {
            start_unix_s: row.timestamp(self.start)?,
            end_unix_s: row.timestamp(self.end)?,
            meter,
            resource,
            usage_quantity: row.number(self.amount)?.unwrap_or(0.0),
            billed_cost: unblended,
            effective_cost: self.amortised(row, line_type, unblended)?,
            list_cost: row.number(self.public_cost)?,
            credits: Vec::new(),
            split_costs,
        }
        .push(bill, row, self.end)
    }
}
