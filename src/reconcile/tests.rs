//! Reconciling simulated bills (`sim::bill`) and hand-written lines against
//! hand-made metered resources.

use super::*;
use crate::bill::FormatChoice;
use crate::model::metered::{MeteredCost, MeteredKind};
use crate::sim::bill::{BillSpec, Export, write_bill};

const HOUR: i64 = 1_793_577_600; // 2026-11-02T00:00:00Z

fn node(name: &str, provider_id: &str, provider: &str, family: &str, hour: i64) -> Metered {
    Metered {
        kind: MeteredKind::Node,
        hour_unix_s: HOUR + hour * 3600,
        resource_id: name.to_owned(),
        resource_name: name.to_owned(),
        provider_id: provider_id.to_owned(),
        provider: provider.to_owned(),
        region: "us-central1".to_owned(),
        zone: String::new(),
        family: family.to_owned(),
        running_seconds: 3600.0,
        size_gib: None,
        cost: MeteredCost {
            cpu_usd: 0.2,
            memory_usd: 0.1,
            gpu_usd: 0.0,
            other_usd: 0.0,
        },
    }
}

fn resource(kind: MeteredKind, id: &str, handle: &str, family: &str, usd: f64) -> Metered {
    Metered {
        kind,
        resource_id: id.to_owned(),
        resource_name: id.to_owned(),
        provider_id: handle.to_owned(),
        family: family.to_owned(),
        size_gib: Some(100.0),
        cost: MeteredCost {
            other_usd: usd,
            ..MeteredCost::default()
        },
        ..node(id, "", "gcp", family, 0)
    }
}

fn gcp_cluster() -> Vec<Metered> {
    let mut metered = Vec::new();
    for hour in 0..2 {
        metered.push(node(
            "gke-a",
            "gce://proj/us-central1-a/gke-a",
            "gcp",
            "e2",
            hour,
        ));
        metered.push(node(
            "gke-b",
            "gce://proj/us-central1-b/gke-b",
            "gcp",
            "n2",
            hour,
        ));
    }
    metered.push(resource(
        MeteredKind::Disk,
        "pvc-1",
        "projects/proj/zones/us-central1-a/disks/pvc-1",
        "pd-balanced",
        0.01,
    ));
    metered.push(resource(
        MeteredKind::LoadBalancer,
        "0740bfd3-489b-4642-a07c-e281219b7ac2",
        "34.1.2.3",
        "forwarding_rule",
        0.025,
    ));
    metered.push(resource(
        MeteredKind::ClusterFee,
        "cluster_fee",
        "",
        "standard",
        0.1,
    ));
    metered
}

fn spec(export: Export) -> BillSpec {
    BillSpec {
        export,
        cluster: "prod".into(),
        discounts: vec![("e2".into(), 0.3)],
        sustained: vec![("n2".into(), 0.2)],
        egress_usd: 5.0,
    }
}

fn bill_of(metered: &[Metered], spec: &BillSpec) -> Bill {
    let mut bytes = Vec::new();
    write_bill(metered, spec, &mut bytes).unwrap();
    let mut bill = Bill::default();
    bill.read_bytes("sim.csv", bytes, FormatChoice::Auto)
        .unwrap();
    bill
}

fn factors(rec: &Reconciliation, id: &str) -> Vec<(String, Option<f64>)> {
    rec.rows
        .iter()
        .filter(|r| r.resource_id == id)
        .map(|r| (r.part.to_owned(), r.effective_factor))
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn gcp_core_and_ram_lines_go_to_the_nodes_parts_at_the_discounted_factor() {
    let metered = gcp_cluster();
    let bill = bill_of(&metered, &spec(Export::Gcp));
    let rec = reconcile(&bill, &metered, &Scope::new("prod", &[]));
    for (part, factor) in factors(&rec, "gke-a") {
        assert!(["cpu", "memory"].contains(&part.as_str()), "{part}");
        assert!(close(factor.unwrap(), 0.7), "{part} {factor:?}");
    }
    for (_, factor) in factors(&rec, "gke-b") {
        assert!(close(factor.unwrap(), 0.8), "{factor:?}");
    }
    assert_eq!(
        factors(&rec, "gke-a").len(),
        4,
        "two parts in each of two hours"
    );
    for id in [
        "pvc-1",
        "0740bfd3-489b-4642-a07c-e281219b7ac2",
        "cluster_fee",
    ] {
        let rows: Vec<_> = rec.rows.iter().filter(|r| r.resource_id == id).collect();
        assert_eq!(rows.len(), 1, "{id}: metered in hour 0 only");
        assert_eq!(rows[0].status, "matched", "{id}");
        assert!(close(rows[0].effective_factor.unwrap(), 1.0), "{id}");
    }
}

#[test]
fn matched_and_unallocated_add_up_to_the_bills_effective_total_and_egress_is_unallocated() {
    let metered = gcp_cluster();
    for export in [Export::Gcp, Export::Focus] {
        let bill = bill_of(&metered, &spec(export));
        let rec = reconcile(&bill, &metered, &Scope::new("prod", &[]));
        let total = bill.totals(0..bill.lines.len()).effective_cost;
        let rows: f64 = rec.rows.iter().map(|r| r.effective_cost).sum();
        assert!(close(rows, total), "{export:?}: {rows} vs {total}");
        assert!(close(rec.summary.effective_total(), total));
        let unallocated: Vec<_> = rec
            .rows
            .iter()
            .filter(|r| r.status == "unallocated")
            .collect();
        assert_eq!(unallocated.len(), 1, "{export:?}");
        assert!(unallocated[0].sku.contains("Internet Data Transfer Out"));
        assert!(close(unallocated[0].effective_cost, 5.0));
        assert_eq!(rec.summary.counts.ignored, 0);
        assert!(
            rec.summary.not_billed.is_empty(),
            "{:?}",
            rec.summary.not_billed
        );
    }
}

#[test]
fn lines_of_another_cluster_are_ignored_unless_a_bill_filter_claims_them() {
    let metered = gcp_cluster();
    let bill = bill_of(&metered, &spec(Export::Gcp));
    let other = reconcile(&bill, &metered[..0], &Scope::new("prod", &[]));
    assert!(
        other.summary.is_empty(),
        "nothing metered: every line is outside"
    );
    let elsewhere = bill_of(
        &metered,
        &BillSpec {
            cluster: "staging".into(),
            ..spec(Export::Gcp)
        },
    );
    let rec = reconcile(&elsewhere, &metered, &Scope::new("prod", &[]));
    // The nodes, disk and balancer are named in the bill, so they still
    // match; staging's fee and egress lines are not prod's.
    assert_eq!(rec.summary.counts.ignored, 2);
    assert!(rec.rows.iter().all(|r| r.status != "unallocated"));
    let filter: BillFilter = "goog-k8s-cluster-name=staging".parse().unwrap();
    let claimed = reconcile(&elsewhere, &metered, &Scope::new("prod", &[filter]));
    assert_eq!(claimed.summary.counts.ignored, 0);
    assert_eq!(claimed.summary.counts.unallocated, 1);
}

#[test]
fn a_bill_of_another_period_matches_nothing() {
    let metered = gcp_cluster();
    let later: Vec<Metered> = metered
        .iter()
        .map(|m| Metered {
            hour_unix_s: m.hour_unix_s + 30 * 86_400,
            ..m.clone()
        })
        .collect();
    let bill = bill_of(&later, &spec(Export::Gcp));
    let rec = reconcile(&bill, &metered, &Scope::new("prod", &[]));
    assert!(rec.summary.is_empty());
    assert!(rec.rows.is_empty());
    assert_eq!(rec.summary.counts.outside, rec.summary.counts.lines);
    assert!(rec.summary.to_string().contains("0 lines matched"));
}

#[test]
fn aws_savings_plan_lines_match_instances_and_eks_split_rows_are_not_added() {
    let metered = vec![
        node("ip-1", "aws:///us-east-1a/i-0abc", "aws", "m5", 0),
        node("ip-2", "aws:///us-east-1b/i-0def", "aws", "c5", 0),
    ];
    let mut bytes = Vec::new();
    write_bill(&metered, &spec(Export::AwsCur2), &mut bytes).unwrap();
    let mut bill = Bill::default();
    bill.read_bytes("cur.csv", bytes, FormatChoice::Auto)
        .unwrap();
    let split = "line_item_usage_start_date,line_item_usage_end_date,line_item_line_item_type,\
line_item_unblended_cost,line_item_resource_id,split_line_item_parent_resource_id,\
split_line_item_split_cost,split_line_item_unused_cost\n\
2026-11-02T00:00:00Z,2026-11-02T01:00:00Z,Usage,0,arn:aws:eks:us-east-1:1:pod/prod/ns/p/u,i-0abc,0.1,0.05\n";
    bill.read_bytes("split.csv", split.as_bytes().to_vec(), FormatChoice::Auto)
        .unwrap();
    let rec = reconcile(&bill, &metered, &Scope::new("prod", &[]));
    assert_eq!(rec.summary.counts.split, 1);
    let ip1: Vec<_> = rec
        .rows
        .iter()
        .filter(|r| r.resource_id == "ip-1")
        .collect();
    assert_eq!(ip1.len(), 1);
    assert_eq!(ip1[0].part, "all");
    assert_eq!(
        ip1[0].matched_lines, 1,
        "no discount on m5 here: one Usage line"
    );
    let with_plan = {
        let spec = BillSpec {
            discounts: vec![("m5".into(), 0.3)],
            ..self::spec(Export::AwsCur2)
        };
        let mut bytes = Vec::new();
        write_bill(&metered, &spec, &mut bytes).unwrap();
        let mut bill = Bill::default();
        bill.read_bytes("cur.csv", bytes, FormatChoice::Auto)
            .unwrap();
        reconcile(&bill, &metered, &Scope::new("prod", &[]))
    };
    let ip1 = with_plan
        .rows
        .iter()
        .find(|r| r.resource_id == "ip-1")
        .unwrap();
    assert_eq!(ip1.matched_lines, 2, "covered usage and its negation");
    assert!(close(ip1.effective_factor.unwrap(), 0.7));
    assert!(
        close(ip1.billed_factor.unwrap(), 0.0),
        "the plan's fee is billed, not the usage"
    );
}

#[test]
fn azure_scale_set_instances_match_by_vm_name_per_day() {
    let id = "azure:///subscriptions/S/resourceGroups/MC_rg/providers/Microsoft.Compute/virtualMachineScaleSets/aks-pool-vmss/virtualMachines/";
    let metered: Vec<Metered> = (0..3)
        .flat_map(|hour| {
            [
                node("aks-0", &format!("{id}0"), "azure", "Dsv5", hour),
                node("aks-1", &format!("{id}1"), "azure", "Esv5", hour),
            ]
        })
        .collect();
    let spec = BillSpec {
        discounts: vec![("Dsv5".into(), 0.3)],
        sustained: Vec::new(),
        ..spec(Export::Azure)
    };
    let bill = bill_of(&metered, &spec);
    let rec = reconcile(&bill, &metered, &Scope::new("prod", &[]));
    assert_eq!(rec.summary.granularity, Granularity::Day);
    let aks0 = rec.rows.iter().find(|r| r.resource_id == "aks-0").unwrap();
    assert!(
        close(aks0.list_cost_usd.unwrap(), 0.9),
        "three hours in the day"
    );
    assert!(close(aks0.effective_factor.unwrap(), 0.7));
    let aks1 = rec.rows.iter().find(|r| r.resource_id == "aks-1").unwrap();
    assert!(close(aks1.effective_factor.unwrap(), 1.0));
    assert_eq!(rec.summary.counts.unallocated, 1, "the egress line");
}

#[test]
fn rows_are_published_per_date_of_their_period() {
    let metered = gcp_cluster();
    let bill = bill_of(&metered, &spec(Export::Gcp));
    let rec = reconcile(&bill, &metered, &Scope::new("prod", &[]));
    let dates = rec.by_date();
    assert_eq!(dates.len(), 1);
    assert_eq!(dates[0].1.len(), rec.rows.len());
}
