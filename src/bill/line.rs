//! The normalised bill: one line type for every export, and the tables its
//! ids point into.
//!
//! A line is 72 bytes of numbers and ids. What repeats from hour to hour —
//! the SKU, service, region, account, unit, currency (a [`Meter`]) and the
//! resource with its labels (a [`Resource`]) — is interned once per bill, so
//! a month of a 5,000-node cluster's hourly bill (≈ 7 M lines) holds about
//! 500 MB of lines plus a few MB of tables.

use std::ops::Range;

use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;

use super::format::Format;
use super::strings::{Strings, Sym};

/// The cloud that issued a charge, as far as the export says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cloud {
    Gcp,
    Aws,
    Azure,
    /// Any other provider of a FOCUS export (Oracle, a SaaS vendor…).
    Other,
}

impl Cloud {
    /// The cloud a FOCUS `ProviderName` (or `ServiceProviderName`) names.
    pub fn from_provider_name(name: &str) -> Cloud {
        let lower = name.to_ascii_lowercase();
        if lower.contains("google") || lower == "gcp" {
            Cloud::Gcp
        } else if lower.contains("amazon") || lower == "aws" {
            Cloud::Aws
        } else if lower.contains("microsoft") || lower.contains("azure") {
            Cloud::Azure
        } else {
            Cloud::Other
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Cloud::Gcp => "gcp",
            Cloud::Aws => "aws",
            Cloud::Azure => "azure",
            Cloud::Other => "other",
        }
    }
}

/// FOCUS's five kinds of charge; every export's own line types map here
/// (the original stays in [`Meter::charge_type`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChargeCategory {
    Usage,
    Purchase,
    Tax,
    Credit,
    Adjustment,
}

impl ChargeCategory {
    /// The category FOCUS spells `name` (case-insensitive).
    pub fn from_focus(name: &str) -> Option<ChargeCategory> {
        Some(match name.to_ascii_lowercase().as_str() {
            "usage" => ChargeCategory::Usage,
            "purchase" => ChargeCategory::Purchase,
            "tax" => ChargeCategory::Tax,
            "credit" => ChargeCategory::Credit,
            "adjustment" => ChargeCategory::Adjustment,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ChargeCategory::Usage => "Usage",
            ChargeCategory::Purchase => "Purchase",
            ChargeCategory::Tax => "Tax",
            ChargeCategory::Credit => "Credit",
            ChargeCategory::Adjustment => "Adjustment",
        }
    }
}

/// What a line is billed for, apart from the resource: interned per bill
/// because a month repeats each combination thousands of times.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Meter {
    pub cloud: Cloud,
    pub category: ChargeCategory,
    /// The export's own line type: FOCUS `ChargeCategory`/`ChargeClass`,
    /// GCP `cost_type`, AWS `line_item_line_item_type`, Azure `ChargeType`.
    pub charge_type: Sym,
    /// The project (GCP `project.id`), account (AWS
    /// `line_item_usage_account_id`) or subscription (Azure), FOCUS `SubAccountId`.
    pub account: Sym,
    /// GCP `service.description`, AWS `line_item_product_code`, Azure
    /// `MeterCategory`, FOCUS `ServiceName`.
    pub service: Sym,
    /// GCP `sku.id`, AWS `line_item_usage_type` (`BoxUsage:m5.xlarge`: CUR
    /// lines carry no SKU id of their own), Azure `MeterId`, FOCUS `SkuId`.
    pub sku_id: Sym,
    /// GCP `sku.description`, AWS `line_item_line_item_description`, Azure
    /// `ProductName` (else `MeterName`), FOCUS `ChargeDescription`.
    pub sku_description: Sym,
    pub region: Sym,
    pub zone: Sym,
    pub usage_unit: Sym,
    pub currency: Sym,
}

/// How a line relates to other lines that bill the same money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Split {
    /// An ordinary charge.
    #[default]
    None,
    /// An AWS CUR EKS split cost allocation row (`split_line_item_*`): a
    /// pod's share of `parent` (the node's `i-…`), whose own instance rows
    /// stay in the bill. Never add it to totals: [`BillLine`]'s costs are the
    /// row's (zero) line-item costs and the split figures are in
    /// [`Bill::split_costs`].
    EksPod { parent: Sym },
    /// A FOCUS 1.3 allocated row: a share of the charge of the origin
    /// `ResourceId`, allocated to `resource` (null on the unallocated
    /// remainder). The origin charge is not repeated, so these rows add up.
    Allocated { resource: Sym, method: Sym },
}

/// The resource a line bills, as the bill names it, with its labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Resource {
    /// The id exactly as the bill writes it: GCP `resource.global_name`
    /// (else `resource.name`), AWS `line_item_resource_id`, Azure
    /// `ResourceId`, FOCUS `ResourceId`.
    pub id: Sym,
    /// GCP `resource.name` (`projects/N/instances/<name>` or a disk name),
    /// Azure `ResourceName`, FOCUS `ResourceName`.
    pub name: Sym,
    /// The VM instance of an Azure scale-set line (`AdditionalInfo.VMName`,
    /// or `VmName` on bandwidth lines; `x_SkuDetails` in FOCUS exports):
    /// AKS nodes bill at scale-set level and only this names the node.
    pub vm_instance: Sym,
    pub labels: LabelSet,
    pub split: Split,
}

/// An interned, key-sorted set of labels or tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct LabelSet(u32);

/// An interned [`Meter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MeterId(u32);

/// An interned [`Resource`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResourceKey(u32);

/// Kinds of GCP credits (`credits.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CreditKind {
    SustainedUsageDiscount,
    CommittedUsageDiscount,
    /// Legacy spend-based committed use discount.
    CommittedUsageDiscountDollarBase,
    /// The new spend-based CUD model's offset of its fee.
    FeeUtilizationOffset,
    Discount,
    FreeTier,
    Promotion,
    ResellerMargin,
    SubscriptionBenefit,
    /// A type this reader does not know, or none given.
    Other,
}

impl CreditKind {
    pub fn from_gcp_type(name: &str) -> CreditKind {
        match name {
            "SUSTAINED_USAGE_DISCOUNT" => CreditKind::SustainedUsageDiscount,
            "COMMITTED_USAGE_DISCOUNT" => CreditKind::CommittedUsageDiscount,
            "COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE" => CreditKind::CommittedUsageDiscountDollarBase,
            "FEE_UTILIZATION_OFFSET" => CreditKind::FeeUtilizationOffset,
            "DISCOUNT" => CreditKind::Discount,
            "FREE_TIER" => CreditKind::FreeTier,
            "PROMOTION" => CreditKind::Promotion,
            "RESELLER_MARGIN" => CreditKind::ResellerMargin,
            "SUBSCRIPTION_BENEFIT" => CreditKind::SubscriptionBenefit,
            _ => CreditKind::Other,
        }
    }
}

/// One credit of a GCP line: negative amounts reduce the line's cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Credit {
    pub kind: CreditKind,
    /// `credits.name` (`Sustained Usage Discount`, a promotion id…).
    pub name: Sym,
    pub amount: f64,
}

/// The credits of one line: a range of [`Bill::credits_of`]'s table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CreditSpan {
    start: u32,
    len: u32,
}

/// The split figures of an AWS EKS split row (`split_line_item_*`), in the
/// bill's currency: the pod's cost is `split_cost + unused_cost`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SplitCosts {
    pub split_usage_ratio: f64,
    pub split_cost: f64,
    pub unused_cost: f64,
    pub net_split_cost: Option<f64>,
    pub net_unused_cost: Option<f64>,
}

/// One charge of a bill.
///
/// Costs are in the meter's currency. `billed_cost` is what the invoice
/// charges for this line; `effective_cost` is the export's own amortised or
/// net notion (docs/billing.md has the column of each format).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BillLine {
    /// Charge period start, inclusive, seconds since the Unix epoch (UTC).
    pub start_unix_s: i64,
    /// Charge period end, exclusive.
    pub end_unix_s: i64,
    pub meter: MeterId,
    pub resource: ResourceKey,
    pub usage_quantity: f64,
    pub billed_cost: f64,
    pub effective_cost: f64,
    /// The cost at list (public on-demand) prices where the export gives it.
    pub list_cost: Option<f64>,
    pub credits: CreditSpan,
}

/// One file read into a [`Bill`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillFile {
    pub name: String,
    pub format: Format,
    /// Its lines in [`Bill::lines`].
    pub lines: Range<usize>,
}

/// Sums of the lines that add up (EKS split rows excluded).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Totals {
    pub lines: usize,
    pub billed_cost: f64,
    pub effective_cost: f64,
    /// Σ list cost over the lines that have one.
    pub list_cost: f64,
}

/// Billing lines read from one or more exports, with the tables their ids
/// point into.
#[derive(Debug, Default)]
pub struct Bill {
    pub lines: Vec<BillLine>,
    pub files: Vec<BillFile>,
    strings: Strings,
    meters: Vec<Meter>,
    meter_ids: FxHashMap<Meter, MeterId>,
    resources: Vec<Resource>,
    resource_ids: FxHashMap<Resource, ResourceKey>,
    label_sets: Vec<Box<[(Sym, Sym)]>>,
    label_set_ids: FxHashMap<Box<[(Sym, Sym)]>, LabelSet>,
    credits: Vec<Credit>,
    /// Split figures of EKS split rows, by line index, in line order.
    splits: Vec<(usize, SplitCosts)>,
}

fn id_of(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

impl Bill {
    /// The text of an id of this bill.
    pub fn str(&self, sym: Sym) -> &str {
        self.strings.get(sym)
    }

    /// The id of `text` if some line uses it (to filter lines by id
    /// without comparing strings).
    pub fn find(&self, text: &str) -> Option<Sym> {
        self.strings.find(text)
    }

    pub fn meter(&self, id: MeterId) -> &Meter {
        &self.meters[id.0 as usize]
    }

    pub fn resource(&self, key: ResourceKey) -> &Resource {
        &self.resources[key.0 as usize]
    }

    /// The labels of a set, sorted by key, as ids.
    pub fn label_ids(&self, set: LabelSet) -> &[(Sym, Sym)] {
        self.label_sets.get(set.0 as usize).map_or(&[], |s| s)
    }

    /// The credits of a line.
    pub fn credits_of(&self, span: CreditSpan) -> &[Credit] {
        let start = span.start as usize;
        &self.credits[start..start + span.len as usize]
    }

    /// The split figures of line `index` if it is an EKS split row.
    pub fn split_costs(&self, index: usize) -> Option<&SplitCosts> {
        self.splits
            .binary_search_by_key(&index, |(i, _)| *i)
            .ok()
            .map(|at| &self.splits[at].1)
    }

    /// A line with its strings resolved.
    pub fn view(&self, index: usize) -> LineView<'_> {
        LineView {
            bill: self,
            index,
            line: &self.lines[index],
        }
    }

    /// Every line, with its strings resolved.
    pub fn iter(&self) -> impl Iterator<Item = LineView<'_>> {
        (0..self.lines.len()).map(|i| self.view(i))
    }

    /// Sums over `range` of lines, leaving out those that must not be added
    /// ([`LineView::is_additive`]).
    pub fn totals(&self, range: Range<usize>) -> Totals {
        let mut totals = Totals::default();
        for index in range {
            let view = self.view(index);
            if !view.is_additive() {
                continue;
            }
            totals.lines += 1;
            totals.billed_cost += view.line.billed_cost;
            totals.effective_cost += view.line.effective_cost;
            totals.list_cost += view.line.list_cost.unwrap_or(0.0);
        }
        totals
    }

    pub(crate) fn intern(&mut self, text: &str) -> Sym {
        self.strings.intern(text)
    }

    pub(crate) fn intern_meter(&mut self, meter: Meter) -> MeterId {
        if let Some(&id) = self.meter_ids.get(&meter) {
            return id;
        }
        let id = MeterId(id_of(self.meters.len()));
        self.meters.push(meter.clone());
        self.meter_ids.insert(meter, id);
        id
    }

    pub(crate) fn intern_resource(&mut self, resource: Resource) -> ResourceKey {
        if let Some(&id) = self.resource_ids.get(&resource) {
            return id;
        }
        let id = ResourceKey(id_of(self.resources.len()));
        self.resources.push(resource.clone());
        self.resource_ids.insert(resource, id);
        id
    }

    /// Interns a label set given as text pairs (sorted and deduplicated here;
    /// the last value of a repeated key wins).
    pub(crate) fn intern_labels(&mut self, pairs: &[(String, String)]) -> LabelSet {
        let mut ids: Vec<(Sym, Sym)> = pairs
            .iter()
            .map(|(k, v)| (self.strings.intern(k), self.strings.intern(v)))
            .collect();
        if ids.is_empty() {
            return LabelSet::default();
        }
        ids.sort_by(|a, b| self.str(a.0).cmp(self.str(b.0)));
        ids.dedup_by(|later, earlier| {
            if later.0 == earlier.0 {
                earlier.1 = later.1;
                true
            } else {
                false
            }
        });
        let ids = ids.into_boxed_slice();
        if let Some(&set) = self.label_set_ids.get(&ids) {
            return set;
        }
        if self.label_sets.is_empty() {
            // Set 0 is the empty set, so `LabelSet::default()` means "none".
            self.label_sets.push(Box::new([]));
        }
        let set = LabelSet(id_of(self.label_sets.len()));
        self.label_sets.push(ids.clone());
        self.label_set_ids.insert(ids, set);
        set
    }

    pub(crate) fn push_credits(&mut self, credits: &[Credit]) -> CreditSpan {
        if credits.is_empty() {
            return CreditSpan::default();
        }
        let start = id_of(self.credits.len());
        self.credits.extend_from_slice(credits);
        CreditSpan {
            start,
            len: id_of(credits.len()),
        }
    }

    pub(crate) fn push_split(&mut self, costs: SplitCosts) {
        self.splits.push((self.lines.len(), costs));
    }

    /// Forgets lines from `lines` on (a file that failed half-way); the
    /// interned tables keep their entries, which only costs memory.
    pub(crate) fn truncate(&mut self, lines: usize, credits: usize) {
        self.lines.truncate(lines);
        self.credits.truncate(credits);
        self.splits.retain(|(i, _)| *i < lines);
    }

    pub(crate) fn credit_count(&self) -> usize {
        self.credits.len()
    }
}

/// A line of a [`Bill`] with its strings resolved.
#[derive(Debug, Clone, Copy)]
pub struct LineView<'a> {
    pub bill: &'a Bill,
    pub index: usize,
    pub line: &'a BillLine,
}

impl<'a> LineView<'a> {
    pub fn start(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.line.start_unix_s, 0).unwrap_or_default()
    }

    pub fn end(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.line.end_unix_s, 0).unwrap_or_default()
    }

    pub fn meter(&self) -> &'a Meter {
        self.bill.meter(self.line.meter)
    }

    pub fn resource(&self) -> &'a Resource {
        self.bill.resource(self.line.resource)
    }

    pub fn cloud(&self) -> Cloud {
        self.meter().cloud
    }

    pub fn category(&self) -> ChargeCategory {
        self.meter().category
    }

    pub fn charge_type(&self) -> &'a str {
        self.bill.str(self.meter().charge_type)
    }

    pub fn account(&self) -> &'a str {
        self.bill.str(self.meter().account)
    }

    pub fn service(&self) -> &'a str {
        self.bill.str(self.meter().service)
    }

    pub fn sku_id(&self) -> &'a str {
        self.bill.str(self.meter().sku_id)
    }

    pub fn sku_description(&self) -> &'a str {
        self.bill.str(self.meter().sku_description)
    }

    pub fn region(&self) -> &'a str {
        self.bill.str(self.meter().region)
    }

    pub fn zone(&self) -> &'a str {
        self.bill.str(self.meter().zone)
    }

    pub fn usage_unit(&self) -> &'a str {
        self.bill.str(self.meter().usage_unit)
    }

    pub fn currency(&self) -> &'a str {
        self.bill.str(self.meter().currency)
    }

    pub fn resource_id(&self) -> &'a str {
        self.bill.str(self.resource().id)
    }

    pub fn resource_name(&self) -> &'a str {
        self.bill.str(self.resource().name)
    }

    pub fn vm_instance(&self) -> &'a str {
        self.bill.str(self.resource().vm_instance)
    }

    pub fn split(&self) -> Split {
        self.resource().split
    }

    /// The labels (GCP labels and system labels, AWS resource tags, Azure
    /// and FOCUS `Tags`), sorted by key.
    pub fn labels(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let bill = self.bill;
        bill.label_ids(self.resource().labels)
            .iter()
            .map(move |(k, v)| (bill.str(*k), bill.str(*v)))
    }

    /// The value of label `key`.
    pub fn label(&self, key: &str) -> Option<&'a str> {
        self.labels().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    pub fn credits(&self) -> &'a [Credit] {
        self.bill.credits_of(self.line.credits)
    }

    /// Σ credits of one kind (GCP).
    pub fn credit(&self, kind: CreditKind) -> f64 {
        self.credits()
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| c.amount)
            .sum()
    }

    /// The split figures of an EKS split row.
    pub fn split_costs(&self) -> Option<&'a SplitCosts> {
        self.bill.split_costs(self.index)
    }

    /// Whether the line's money is its own: false for EKS split rows, whose
    /// parent instance rows already bill the same money.
    pub fn is_additive(&self) -> bool {
        !matches!(self.split(), Split::EksPod { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_sets_are_sorted_deduplicated_and_shared() {
        let mut bill = Bill::default();
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let a = bill.intern_labels(&pairs(&[("b", "2"), ("a", "1"), ("b", "3")]));
        let b = bill.intern_labels(&pairs(&[("a", "1"), ("b", "3")]));
        assert_eq!(a, b);
        let texts: Vec<(&str, &str)> = bill
            .label_ids(a)
            .iter()
            .map(|(k, v)| (bill.str(*k), bill.str(*v)))
            .collect();
        assert_eq!(texts, [("a", "1"), ("b", "3")]);
        assert_eq!(bill.intern_labels(&[]), LabelSet::default());
        assert!(bill.label_ids(LabelSet::default()).is_empty());
    }

    #[test]
    fn a_line_is_small() {
        assert!(std::mem::size_of::<BillLine>() <= 72);
    }
}
