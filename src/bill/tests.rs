//! The readers on small hand-written bills, one rule per test; the real
//! samples are read in `tests/bill_exports.rs`.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Array, ListArray, RecordBatch, StringArray, StructArray,
    TimestampMicrosecondArray,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Fields, Schema};
use proptest::prelude::*;

use super::*;

fn read(name: &str, text: &str) -> Result<Bill, BillError> {
    let mut bill = Bill::default();
    bill.read_bytes(name, text.as_bytes().to_vec(), FormatChoice::Auto)?;
    Ok(bill)
}

const FOCUS: &str = "\
ProviderName,SubAccountId,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,ChargeClass,BilledCost,EffectiveCost,ListCost,BillingCurrency,ResourceId,ResourceName,ServiceName,SkuId,ChargeDescription,RegionId,AvailabilityZone,ConsumedQuantity,ConsumedUnit,Tags,x_SkuDetails,AllocatedMethodId,AllocatedResourceId
Microsoft,sub-1,2024-09-01T00:00:00Z,2024-09-01T01:00:00Z,Usage,,0.10,0.07,0.12,USD,/subscriptions/s/resourcegroups/mc_rg/providers/microsoft.compute/virtualmachinescalesets/aks-pool-1-vmss,aks-pool-1-vmss,Virtual Machines,DZH318Z0BQ4L,D4s v5,eastus,1,1,Hours,\"{\"\"aks-managed-cluster-name\"\":\"\"c1\"\",\"\"flag\"\":true}\",\"{\"\"VMName\"\":\"\"aks-pool-1-vmss_3\"\"}\",,
Google Cloud,p-1,2024-09-01T00:00:00Z,2024-09-01T01:00:00Z,Usage,,0.5,0.4,,USD,//compute.googleapis.com/projects/p/instances/host,host,Compute Engine,S1,e2,us-east1,,1,Hours,,,split-even,//container.googleapis.com/workloads/checkout
AWS,111,2024-09-01T00:00:00Z,2024-09-01T01:00:00Z,Usage,Correction,-0.2,-0.2,,USD,i-1,,AmazonEC2,,,us-east-1,,,,,,,
";

#[test]
fn focus_lines_keep_costs_tags_vm_instance_and_allocation() {
    let bill = read("f.csv", FOCUS).unwrap();
    assert_eq!(bill.files[0].format, Format::Focus);
    let azure = bill.view(0);
    assert_eq!(azure.cloud(), Cloud::Azure);
    assert_eq!(azure.start().to_rfc3339(), "2024-09-01T00:00:00+00:00");
    assert_eq!(azure.line.end_unix_s - azure.line.start_unix_s, 3600);
    assert_eq!(
        (azure.line.billed_cost, azure.line.effective_cost),
        (0.10, 0.07)
    );
    assert_eq!(azure.line.list_cost, Some(0.12));
    assert_eq!(azure.vm_instance(), "aks-pool-1-vmss_3");
    assert_eq!(azure.label("aks-managed-cluster-name"), Some("c1"));
    assert_eq!(azure.label("flag"), Some("true"));
    assert_eq!(
        (azure.zone(), azure.region(), azure.account()),
        ("1", "eastus", "sub-1")
    );
    assert_eq!(
        (azure.line.usage_quantity, azure.usage_unit()),
        (1.0, "Hours")
    );

    let gcp = bill.view(1);
    assert_eq!(gcp.cloud(), Cloud::Gcp);
    let Split::Allocated { resource, method } = gcp.split() else {
        panic!("not allocated: {:?}", gcp.split());
    };
    assert_eq!(
        bill.str(resource),
        "//container.googleapis.com/workloads/checkout"
    );
    assert_eq!(bill.str(method), "split-even");
    assert!(gcp.is_additive());

    let correction = bill.view(2);
    assert_eq!(correction.charge_type(), "Usage/Correction");
    assert_eq!(correction.line.list_cost, None);
    let totals = bill.totals(0..3);
    assert!((totals.billed_cost - 0.4).abs() < 1e-12);
}

const GCP_JSON: &str = r#"{"billing_account_id":"A","service":{"id":"6F81-5844-456A","description":"Compute Engine"},"sku":{"id":"CF4E-A0C7-E3BF","description":"E2 Instance Core running in Americas"},"usage_start_time":"2024-09-01 00:00:00 UTC","usage_end_time":"2024-09-01 01:00:00 UTC","project":{"id":"proj","number":"123"},"labels":[{"key":"goog-k8s-cluster-name","value":"c1"}],"system_labels":[{"key":"compute.googleapis.com/cores","value":"4"}],"location":{"location":"us-central1","region":"us-central1","zone":"us-central1-a"},"cost":0.1,"currency":"USD","usage":{"amount":14400,"unit":"seconds"},"credits":[{"name":"Sustained Usage Discount","amount":-0.02,"type":"SUSTAINED_USAGE_DISCOUNT"},{"name":"CUD","amount":-0.03,"type":"COMMITTED_USAGE_DISCOUNT"}],"invoice":{"month":"202409"},"cost_type":"regular","resource":{"name":"projects/123/instances/gke-c1-pool-1-abcd","global_name":"//compute.googleapis.com/projects/123/zones/us-central1-a/instances/987"},"cost_at_list":0.11}
{"service":{"description":"Compute Engine"},"sku":{"id":"X","description":"Commitment v1: E2 Cpu in Americas for 1 Year"},"usage_start_time":"2024-09-01T00:00:00Z","usage_end_time":"2024-09-01T01:00:00Z","cost":1.0,"currency":"USD","credits":[],"cost_type":"regular"}
"#;

#[test]
fn gcp_effective_cost_is_cost_plus_credits_kept_by_type() {
    let bill = read("export.jsonl", GCP_JSON).unwrap();
    assert_eq!(bill.files[0].format, Format::Gcp);
    let core = bill.view(0);
    assert_eq!(core.service(), "Compute Engine");
    assert_eq!(core.sku_id(), "CF4E-A0C7-E3BF");
    assert_eq!(core.account(), "proj");
    assert_eq!(core.zone(), "us-central1-a");
    assert_eq!(
        core.resource_name(),
        "projects/123/instances/gke-c1-pool-1-abcd"
    );
    assert!(core.resource_id().starts_with("//compute.googleapis.com/"));
    assert_eq!(core.label("goog-k8s-cluster-name"), Some("c1"));
    assert_eq!(core.label("compute.googleapis.com/cores"), Some("4"));
    assert_eq!(core.line.billed_cost, 0.1);
    assert!((core.line.effective_cost - 0.05).abs() < 1e-12);
    assert_eq!(core.credit(CreditKind::SustainedUsageDiscount), -0.02);
    assert_eq!(core.credit(CreditKind::CommittedUsageDiscount), -0.03);
    assert_eq!(core.line.list_cost, Some(0.11));
    assert_eq!(core.category(), ChargeCategory::Usage);
    assert_eq!(bill.view(1).category(), ChargeCategory::Purchase);
}

/// GCP's export as BigQuery writes Parquet: records as structs, labels and
/// credits as lists of structs, timestamps typed.
fn gcp_parquet() -> Vec<u8> {
    let text = |values: &[&str]| -> ArrayRef { Arc::new(StringArray::from(values.to_vec())) };
    let record = |names: &[&str], columns: Vec<ArrayRef>| -> ArrayRef {
        let fields: Fields = names
            .iter()
            .zip(&columns)
            .map(|(n, c)| Field::new(*n, c.data_type().clone(), true))
            .collect();
        Arc::new(StructArray::new(fields, columns, None))
    };
    let credit_fields: Fields = vec![
        Field::new("name", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
        Field::new("type", DataType::Utf8, true),
    ]
    .into();
    let credit_values = StructArray::new(
        credit_fields.clone(),
        vec![
            text(&["SUD", "CUD"]),
            Arc::new(Float64Array::from(vec![-0.25, -0.5])),
            text(&["SUSTAINED_USAGE_DISCOUNT", "COMMITTED_USAGE_DISCOUNT"]),
        ],
        None,
    );
    let credits: ArrayRef = Arc::new(ListArray::new(
        Arc::new(Field::new("item", DataType::Struct(credit_fields), true)),
        OffsetBuffer::from_lengths([2, 0]),
        Arc::new(credit_values),
        None,
    ));
    let label_fields: Fields = vec![
        Field::new("key", DataType::Utf8, true),
        Field::new("value", DataType::Utf8, true),
    ]
    .into();
    let labels: ArrayRef = Arc::new(ListArray::new(
        Arc::new(Field::new(
            "item",
            DataType::Struct(label_fields.clone()),
            true,
        )),
        OffsetBuffer::from_lengths([1, 0]),
        Arc::new(StructArray::new(
            label_fields,
            vec![text(&["goog-k8s-cluster-name"]), text(&["c1"])],
            None,
        )),
        None,
    ));
    let time = |values: Vec<i64>| -> ArrayRef {
        Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC"))
    };
    let hour = 1_725_148_800_000_000; // 2024-09-01T00:00:00Z in µs
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "service",
            record(
                &["id", "description"],
                vec![
                    text(&["S", "S"]),
                    text(&["Compute Engine", "Compute Engine"]),
                ],
            ),
        ),
        (
            "sku",
            record(
                &["id", "description"],
                vec![
                    text(&["K1", "K2"]),
                    text(&["E2 Instance Core", "E2 Instance Ram"]),
                ],
            ),
        ),
        ("usage_start_time", time(vec![hour, hour])),
        (
            "usage_end_time",
            time(vec![hour + 3_600_000_000, hour + 3_600_000_000]),
        ),
        ("labels", labels),
        ("cost", Arc::new(Float64Array::from(vec![2.0, 1.0]))),
        ("currency", text(&["USD", "USD"])),
        ("credits", credits),
        (
            "resource",
            record(
                &["name"],
                vec![text(&[
                    "projects/1/instances/n1",
                    "projects/1/instances/n1",
                ])],
            ),
        ),
    ];
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(n, c)| Field::new(*n, c.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_new(
        schema.clone(),
        columns.into_iter().map(|(_, c)| c).collect(),
    )
    .unwrap();
    let mut out = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut out, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    out
}

#[test]
fn gcp_parquet_with_nested_records_reads_like_its_csv() {
    let mut bill = Bill::default();
    let file = bill
        .read_bytes("export.parquet", gcp_parquet(), FormatChoice::Auto)
        .unwrap()
        .clone();
    assert_eq!((file.format, file.lines.len()), (Format::Gcp, 2));
    let core = bill.view(0);
    assert_eq!(core.sku_description(), "E2 Instance Core");
    assert_eq!(core.start().to_rfc3339(), "2024-09-01T00:00:00+00:00");
    assert_eq!(core.line.end_unix_s - core.line.start_unix_s, 3600);
    assert_eq!(core.label("goog-k8s-cluster-name"), Some("c1"));
    assert_eq!(core.resource_id(), "projects/1/instances/n1");
    assert_eq!(core.credit(CreditKind::CommittedUsageDiscount), -0.5);
    let totals = bill.totals(file.lines);
    assert_eq!((totals.billed_cost, totals.effective_cost), (3.0, 2.25));
}

const CUR2: &str = "\
line_item_line_item_type,line_item_usage_start_date,line_item_usage_end_date,line_item_usage_account_id,line_item_product_code,line_item_usage_type,line_item_operation,line_item_resource_id,line_item_availability_zone,product_region_code,line_item_usage_amount,pricing_unit,line_item_currency_code,line_item_unblended_cost,pricing_public_on_demand_cost,reservation_effective_cost,reservation_reservation_a_r_n,reservation_unused_amortized_upfront_fee_for_billing_period,reservation_unused_recurring_fee,savings_plan_savings_plan_effective_cost,savings_plan_total_commitment_to_date,savings_plan_used_commitment,split_line_item_parent_resource_id,split_line_item_split_usage_ratio,split_line_item_split_cost,split_line_item_unused_cost,resource_tags
Usage,2024-09-01T00:00:00Z,2024-09-01T01:00:00Z,111,AmazonEC2,USE2-BoxUsage:m5.xlarge,RunInstances,i-0abc,us-east-2a,us-east-2,1,Hrs,USD,0.192,0.192,,,,,,,,,,,,\"{\"\"user_team\"\":\"\"shop\"\",\"\"aws:eks:cluster-name\"\":\"\"c1\"\"}\"
Usage,2024-09-01T00:00:00Z,2024-09-01T01:00:00Z,111,AmazonEC2,USE2-EKS-EC2-vCPU-Hours,EKSPod-EC2,arn:aws:eks:us-east-2:111:pod/c1/shop/web-1/uid-1,us-east-2a,us-east-2,1,vCPU-Hours,USD,0,,,,,,,,,i-0abc,0.25,0.03,0.01,
DiscountedUsage,2024-09-01T00:00:00Z,2024-09-01T01:00:00Z,111,AmazonEC2,BoxUsage:m5.large,RunInstances,i-0r,us-east-1a,us-east-1,1,Hrs,USD,0,0.096,0.06,arn:ri,,,,,,,,,,
RIFee,2024-09-01T00:00:00Z,2024-10-01T00:00:00Z,111,AmazonEC2,HeavyUsage:m5.large,RunInstances,,,,720,Hrs,USD,20,,,arn:ri,1.5,2.5,,,,,,,,
Fee,2024-09-01T00:00:00Z,2024-10-01T00:00:00Z,111,AmazonEC2,,,,,,1,,USD,500,,,arn:ri,,,,,,,,,,
SavingsPlanCoveredUsage,2024-09-01T00:00:00Z,2024-09-01T01:00:00Z,111,AmazonEC2,BoxUsage:c5.large,RunInstances,i-0s,,,1,Hrs,USD,0.085,0.085,,,,,0.05,,,,,,,
SavingsPlanNegation,2024-09-01T00:00:00Z,2024-09-01T01:00:00Z,111,AmazonEC2,BoxUsage:c5.large,RunInstances,i-0s,,,1,Hrs,USD,-0.085,,,,,,,,,,,,,
SavingsPlanRecurringFee,2024-09-01T00:00:00Z,2024-09-01T01:00:00Z,111,ComputeSavingsPlans,ComputeSP:1yrNoUpfront,,,,,1,,USD,0.06,,,,,,,0.06,0.05,,,,,
Tax,2024-09-01T00:00:00Z,2024-10-01T00:00:00Z,111,AmazonEC2,,,,,,,,USD,1.2,,,,,,,,,,,,,
";

#[test]
fn aws_eks_split_rows_are_marked_and_never_added_to_their_instance() {
    let bill = read("cur.csv", CUR2).unwrap();
    assert_eq!(bill.files[0].format, Format::AwsCur2);
    let node = bill.view(0);
    assert_eq!(node.resource_id(), "i-0abc");
    assert_eq!(node.sku_id(), "USE2-BoxUsage:m5.xlarge");
    assert_eq!(node.label("aws:eks:cluster-name"), Some("c1"));
    assert_eq!(node.label("user_team"), Some("shop"));
    assert_eq!(node.zone(), "us-east-2a");
    let pod = bill.view(1);
    let Split::EksPod { parent } = pod.split() else {
        panic!("not a split row: {:?}", pod.split());
    };
    assert_eq!(bill.str(parent), "i-0abc");
    assert!(!pod.is_additive());
    let costs = pod.split_costs().unwrap();
    assert_eq!(
        (costs.split_cost, costs.unused_cost, costs.split_usage_ratio),
        (0.03, 0.01, 0.25)
    );
    assert_eq!(bill.view(0).split_costs(), None);
    assert_eq!(bill.totals(0..2).lines, 1);
}

#[test]
fn aws_effective_cost_is_the_amortised_cost() {
    let bill = read("cur.csv", CUR2).unwrap();
    let effective: Vec<(&str, f64, f64)> = bill
        .iter()
        .map(|l| (l.charge_type(), l.line.billed_cost, l.line.effective_cost))
        .collect();
    assert_eq!(
        effective[2..],
        [
            ("DiscountedUsage", 0.0, 0.06),
            ("RIFee", 20.0, 4.0),
            ("Fee", 500.0, 0.0),
            ("SavingsPlanCoveredUsage", 0.085, 0.05),
            ("SavingsPlanNegation", -0.085, 0.0),
            ("SavingsPlanRecurringFee", 0.06, 0.06 - 0.05),
            ("Tax", 1.2, 1.2),
        ]
    );
    let categories: Vec<ChargeCategory> = bill.iter().map(|l| l.category()).collect();
    assert_eq!(categories[4], ChargeCategory::Purchase);
    assert_eq!(categories[6], ChargeCategory::Credit);
    assert_eq!(categories[8], ChargeCategory::Tax);
}

const AZURE: &str = "\
SubscriptionId,Date,MeterCategory,MeterId,ProductName,ResourceLocation,Quantity,UnitOfMeasure,CostInBillingCurrency,PayGPrice,BillingCurrencyCode,ResourceId,ResourceName,ChargeType,PricingModel,Tags,AdditionalInfo
s1,09/22/2023,Virtual Machines,m1,D2 v2,EastUS,8,1 Hour,0.49,0.146,USD,/subscriptions/s1/resourceGroups/MC_rg/providers/Microsoft.Compute/virtualMachineScaleSets/aks-agentpool-1-vmss,aks-agentpool-1-vmss,Usage,Reservation,\"\"\"aks-managed-cluster-name\"\": \"\"c1\"\"\",\"{\"\"VMName\"\":\"\"aks-agentpool-1-vmss_1\"\"}\"
s1,09/22/2023,Bandwidth,m2,Data Transfer Out,EastUS,1,1 GB,0.02,0.02,USD,/subscriptions/s1/x,x,Usage,OnDemand,,\"{\"\"VmName\"\":\"\"aks-agentpool-1-vmss_0\"\"}\"
s1,09/21/2023,Virtual Machines,m3,Reserved VM,uksouth,1,1 Hour,3.25,0,USD,,,Purchase,Reservation,,
";

#[test]
fn azure_scale_set_lines_name_their_instance_and_split_commitments() {
    let bill = read("azure.csv", AZURE).unwrap();
    assert_eq!(bill.files[0].format, Format::Azure);
    let vm = bill.view(0);
    assert_eq!(vm.vm_instance(), "aks-agentpool-1-vmss_1");
    assert_eq!(vm.label("aks-managed-cluster-name"), Some("c1"));
    assert_eq!(vm.start().to_rfc3339(), "2023-09-22T00:00:00+00:00");
    assert_eq!(vm.line.end_unix_s - vm.line.start_unix_s, 86_400);
    assert_eq!((vm.line.billed_cost, vm.line.effective_cost), (0.0, 0.49));
    assert!((vm.line.list_cost.unwrap() - 8.0 * 0.146).abs() < 1e-12);
    assert_eq!(bill.view(1).vm_instance(), "aks-agentpool-1-vmss_0");
    let purchase = bill.view(2);
    assert_eq!(purchase.category(), ChargeCategory::Purchase);
    assert_eq!(
        (purchase.line.billed_cost, purchase.line.effective_cost),
        (3.25, 0.0)
    );
}

#[test]
fn a_file_of_no_format_names_the_formats_tried() {
    let error = read("notes.csv", "name,age\nann,3\n").unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, BillError::UnknownFormat { .. }), "{text}");
    for format in Format::ALL {
        assert!(text.contains(format.as_str()), "{text}");
    }
    assert!(text.starts_with("notes.csv: "), "{text}");
}

#[test]
fn a_forced_format_names_the_column_it_misses() {
    let mut bill = Bill::default();
    let error = bill
        .read_bytes(
            "b.csv",
            b"BilledCost,ChargePeriodStart\n1,2024-01-01\n".to_vec(),
            FormatChoice::Exactly(Format::Focus),
        )
        .unwrap_err();
    assert_eq!(error.column(), Some("chargeperiodend"));
    assert!(error.to_string().contains("b.csv"), "{error}");
}

#[test]
fn a_bad_number_names_file_line_and_column_and_keeps_nothing() {
    let mut bill = read("f.csv", FOCUS).unwrap();
    let bad = FOCUS.replacen("0.5,0.4", "0.5,zero", 1);
    let error = bill
        .read_bytes("g.csv", bad.into_bytes(), FormatChoice::Auto)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "g.csv:3: column EffectiveCost: not a number: \"zero\""
    );
    assert_eq!(
        (error.line(), error.column()),
        (Some(3), Some("EffectiveCost"))
    );
    assert_eq!((bill.lines.len(), bill.files.len()), (3, 1));
}

#[test]
fn a_bad_date_and_a_backward_period_are_refused() {
    let bad = FOCUS.replacen("2024-09-01T01:00:00Z", "2024-13-01T01:00:00Z", 1);
    let error = read("f.csv", &bad).unwrap_err();
    assert_eq!(
        (error.line(), error.column()),
        (Some(2), Some("ChargePeriodEnd"))
    );
    let backward = FOCUS.replacen("2024-09-01T01:00:00Z", "2024-08-01T01:00:00Z", 1);
    let BillError::BadValue { problem, .. } = read("f.csv", &backward).unwrap_err() else {
        panic!("not a bad value");
    };
    assert_eq!(problem, Problem::EndsBeforeStart);
}

#[test]
fn a_row_longer_than_the_header_is_malformed() {
    let error = read("f.csv", &format!("{FOCUS}{}\n", "x,".repeat(40))).unwrap_err();
    assert!(
        matches!(error, BillError::MalformedRecord { line: 5, .. }),
        "{error:?}"
    );
}

#[test]
fn detect_path_reads_only_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bill.csv");
    std::fs::write(&path, format!("{FOCUS}garbage,\"\n")).unwrap();
    assert_eq!(
        detect_path(&path, FormatChoice::Auto).unwrap(),
        Format::Focus
    );
}

/// The cells of every format's sample, to mutate one at a time.
fn samples() -> [(&'static str, &'static str); 3] {
    [
        ("focus.csv", FOCUS),
        ("cur.csv", CUR2),
        ("azure.csv", AZURE),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut bill = Bill::default();
        let _ = bill.read_bytes("fuzz.csv", bytes, FormatChoice::Auto);
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_header_never_panic(
        which in 0..3usize,
        tail in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let (name, text) = samples()[which];
        let header = text.lines().next().unwrap_or_default();
        let mut bytes = format!("{header}\n").into_bytes();
        bytes.extend(tail);
        let mut bill = Bill::default();
        let _ = bill.read_bytes(name, bytes, FormatChoice::Auto);
    }

    /// A mutated cell is either read or refused at its own line and column.
    #[test]
    fn a_mutated_cell_fails_where_it_is(
        which in 0..3usize,
        row_pick in any::<prop::sample::Index>(),
        col_pick in any::<prop::sample::Index>(),
        value in prop_oneof![
            ".{0,12}",
            "[0-9.eE+-]{1,8}",
            "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z?",
            Just("{".to_owned()),
            Just("[{'amount': None}]".to_owned()),
        ],
    ) {
        let (name, text) = samples()[which];
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header = reader.headers().unwrap().clone();
        let mut rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
        let row = row_pick.index(rows.len());
        let col = col_pick.index(header.len());
        let mut cells: Vec<String> = rows[row].iter().map(str::to_owned).collect();
        cells.resize(header.len(), String::new());
        cells[col] = value;
        rows[row] = csv::StringRecord::from(cells);
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(&header).unwrap();
        for record in &rows {
            writer.write_record(record).unwrap();
        }
        let bytes = writer.into_inner().unwrap();
        // The mutated row's first line: header, then one line per earlier row
        // (the samples' cells hold no line breaks).
        let line = row as u64 + 2;
        match Bill::default().read_bytes(name, bytes, FormatChoice::Auto) {
            Ok(_) => {}
            Err(BillError::UnknownFormat { .. }) | Err(BillError::MissingColumn { .. }) => {
                prop_assert!(false, "a cell changed the header");
            }
            Err(BillError::BadValue { line: at, column, .. }) => {
                prop_assert_eq!(at, line);
                // A period checked at its end may blame the start's partner.
                let allowed = [&header[col], "ChargePeriodEnd", "line_item_usage_end_date", "Date"];
                prop_assert!(allowed.contains(&column.as_str()), "{} blamed for {}", column, &header[col]);
            }
            Err(error) => prop_assert!(false, "unexpected {error:?}"),
        }
    }
}

#[test]
fn cur2_parquet_tags_map_becomes_labels() {
    use arrow::array::{MapBuilder, StringBuilder};
    let mut tags = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    tags.keys().append_value("aws:eks:cluster-name");
    tags.values().append_value("c1");
    tags.append(true).unwrap();
    tags.append(false).unwrap();
    let text = |values: &[&str]| -> ArrayRef { Arc::new(StringArray::from(values.to_vec())) };
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("line_item_line_item_type", text(&["Usage", "Usage"])),
        (
            "line_item_usage_start_date",
            Arc::new(TimestampMicrosecondArray::from(vec![0, 0]).with_timezone("UTC")),
        ),
        (
            "line_item_usage_end_date",
            Arc::new(
                TimestampMicrosecondArray::from(vec![3_600_000_000, 3_600_000_000])
                    .with_timezone("UTC"),
            ),
        ),
        (
            "line_item_unblended_cost",
            Arc::new(Float64Array::from(vec![0.5, 0.25])),
        ),
        ("line_item_resource_id", text(&["i-1", "vol-1"])),
        ("resource_tags", Arc::new(tags.finish())),
    ];
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(n, c)| Field::new(*n, c.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_new(
        schema.clone(),
        columns.into_iter().map(|(_, c)| c).collect(),
    )
    .unwrap();
    let mut bytes = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut bytes, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();

    let mut bill = Bill::default();
    let file = bill
        .read_bytes("cur.parquet", bytes, FormatChoice::Auto)
        .unwrap()
        .clone();
    assert_eq!((file.format, file.lines.len()), (Format::AwsCur2, 2));
    assert_eq!(bill.view(0).label("aws:eks:cluster-name"), Some("c1"));
    assert_eq!(bill.view(1).labels().count(), 0);
    assert_eq!(bill.view(1).line.end_unix_s, 3600);
    assert_eq!(bill.totals(file.lines).billed_cost, 0.75);
}
