//! `kubetally pricing` as a user runs it: the real binary, real files.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn kubetally(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubetally"))
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("running kubetally: {error}"))
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn price(args: &[&str]) -> Value {
    let mut all = vec!["pricing", "show", "--format", "json"];
    all.extend_from_slice(args);
    serde_json::from_str(&stdout(&kubetally(&all))).unwrap_or_else(|error| panic!("json: {error}"))
}

fn number(value: &Value, key: &str) -> f64 {
    value[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {value}"))
}

#[test]
fn prices_the_machine_types_the_issue_names() {
    let cases = [
        (
            &["--machine-type", "e2-standard-4", "--region", "us-central1"][..],
            0.1340,
        ),
        (
            &["--machine-type", "n1-standard-4", "--region", "us-central1"][..],
            0.1900,
        ),
        (
            &["--machine-type", "e2-micro", "--region", "us-central1"][..],
            0.00838,
        ),
        (
            &[
                "--machine-type",
                "e2-standard-4",
                "--region",
                "us-central1",
                "--capacity",
                "spot",
            ][..],
            0.0804,
        ),
    ];
    for (args, expected) in cases {
        let json = price(args);
        let hourly = number(&json, "hourly_usd");
        assert!(
            (hourly - expected).abs() < 0.00005,
            "{args:?}: {hourly} vs {expected}"
        );
        assert!((number(&json, "monthly_usd") - hourly * 730.0).abs() < 1e-9);
        assert!(
            (number(&json, "cpu_hourly_usd") + number(&json, "memory_hourly_usd") - hourly).abs()
                < 1e-12
        );
        for key in [
            "machine_type",
            "region",
            "capacity_type",
            "vcpus",
            "memory_gib",
            "price_source",
            "as_of",
        ] {
            assert!(!json[key].is_null(), "{key} missing");
        }
        assert_eq!(json["price_source"], "catalog");
        assert_eq!(json["as_of"], "2026-07-30");
    }
    let micro = price(&["--machine-type", "e2-micro", "--region", "us-central1"]);
    assert_eq!(
        (number(&micro, "vcpus"), number(&micro, "billed_vcpus")),
        (2.0, 0.25)
    );
}

#[test]
fn unknown_machine_types_need_a_shape_and_then_get_the_flagged_default() {
    let output = kubetally(&[
        "pricing",
        "show",
        "--machine-type",
        "z9-mega-4",
        "--region",
        "us-central1",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.contains("z9-mega-4") && message.contains("--vcpus"),
        "{message}"
    );
    let json = price(&[
        "--machine-type",
        "z9-mega-4",
        "--vcpus",
        "4",
        "--memory-gib",
        "16",
    ]);
    assert_eq!(json["price_source"], "default");
    assert!(number(&json, "hourly_usd") > 0.0);
}

#[test]
fn validate_names_the_line_and_column_of_each_problem() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("prices.csv");
    std::fs::write(
        &bad,
        "provider,region,machine_family,machine_type,capacity_type,vcpu_hour_usd,memory_gib_hour_usd,as_of,source\n\
         gcp,us-central1,e2,,on_demand,0.02,0.003,2026-11-01,sheet\n\
         gcp,us-east1,e2,,on_demand,0.02x,0.003,2026-11-01,sheet\n\
         gcp,us-east1,n2,,reserved,0.03,0.004,2026-11-01,sheet\n\
         gcp,us-central1,E2,,on_demand,0.02,0.003,2026-11-01,sheet\n",
    )
    .unwrap();
    let output = kubetally(&["pricing", "validate", path(&bad)]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines.len(), 4, "{message}");
    assert!(
        lines[0].ends_with(r#"prices.csv: line 3, column vcpu_hour_usd: bad number "0.02x""#),
        "{message}"
    );
    assert!(
        lines[1].contains("line 4, column capacity_type: unknown capacity type \"reserved\""),
        "{message}"
    );
    assert!(
        lines[2].contains("line 5: duplicate key") && lines[2].contains("line 2"),
        "{message}"
    );

    let missing_header = dir.path().join("no-header.csv");
    std::fs::write(&missing_header, "provider,region\ngcp,us-central1\n").unwrap();
    let output = kubetally(&["pricing", "validate", path(&missing_header)]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("line 1, column capacity_type: missing from the header"));
}

#[test]
fn a_bad_pricing_file_stops_show_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("prices.csv");
    std::fs::write(
        &bad,
        "provider,region,machine_family,machine_type,capacity_type,vcpu_hour_usd,memory_gib_hour_usd,as_of\n\
         gcp,us-central1,e2,,on_demand,0.02,0.003,\n\
         gcp,us-central1,n2,,on_demand,abc,0.003,\n",
    )
    .unwrap();
    let output = kubetally(&["pricing", "show", "--pricing", path(&bad)]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.contains("line 3, column vcpu_hour_usd"),
        "{message}"
    );

    let output = kubetally(&["pricing", "validate", path(&dir.path().join("absent.csv"))]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).starts_with("error: reading pricing file"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn user_rows_override_the_embedded_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("negotiated.csv");
    std::fs::write(
        &file,
        "provider,region,machine_family,machine_type,capacity_type,vcpu_hour_usd,memory_gib_hour_usd,as_of,source\n\
         gcp,us-central1,e2,,on_demand,0.02,0.002,2026-11-01,contract 2026\n",
    )
    .unwrap();
    let output = kubetally(&["pricing", "validate", path(&file)]);
    assert!(stdout(&output).contains(
        "OK, 1 rows (1 unit rates, 0 machine types, 0 GPU rates) for gcp; 1 override embedded rows"
    ));
    let json = price(&["--machine-type", "e2-standard-4", "--pricing", path(&file)]);
    assert_eq!(json["price_source"], "user");
    assert!((number(&json, "hourly_usd") - (4.0 * 0.02 + 16.0 * 0.002)).abs() < 1e-12);
    let discounted = price(&["--machine-type", "e2-standard-4", "--discount", "e2=10"]);
    assert!((number(&discounted, "hourly_usd") - 0.13402284 * 0.9).abs() < 1e-9);
}

#[test]
fn the_exported_catalog_is_a_valid_pricing_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalog.csv");
    std::fs::write(
        &file,
        stdout(&kubetally(&["pricing", "show", "--format", "csv"])),
    )
    .unwrap();
    let summary = stdout(&kubetally(&["pricing", "validate", path(&file)]));
    assert!(summary.contains("for aws, azure, gcp;"), "{summary}");
    assert!(summary.contains(" 0 add new ones"), "{summary}");
}

#[test]
fn show_lists_a_family_as_a_readable_table() {
    let output = stdout(&kubetally(&[
        "pricing",
        "show",
        "--provider",
        "gcp",
        "--region",
        "us-central1",
        "--family",
        "e2",
    ]));
    insta::assert_snapshot!(output);
}

const RESOURCE_HEADER: &str = "kind,provider,region,sku,capacity_type,unit,usd,as_of,source\n";

#[test]
fn validate_checks_resource_files_by_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("resources.csv");
    std::fs::write(
        &bad,
        format!(
            "{RESOURCE_HEADER}disk,gcp,us-central1,pd-ssd,,gib_month,0.2,2026-11-01,sheet\n\
             disk,gcp,us-east1,pd-ssd,,gib_month,-0.2,,sheet\n\
             volume,gcp,us-east1,pd-ssd,,gib_month,0.2,,sheet\n\
             load_balancer,aws,us-east-1,nlb,,gib_month,0.0225,,sheet\n\
             disk,gcp,us-central1,PD-SSD,,gib_month,0.3,,sheet\n"
        ),
    )
    .unwrap();
    let output = kubetally(&["pricing", "validate", path(&bad)]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines.len(), 5, "{message}");
    assert!(
        lines[0].ends_with(
            r#"resources.csv: line 3, column usd: bad number "-0.2": a price is finite and not negative"#
        ),
        "{message}"
    );
    assert!(
        lines[1].contains(r#"line 4, column kind: unknown kind "volume""#),
        "{message}"
    );
    assert!(
        lines[2].contains("line 5, column unit: gib_month does not fit kind load_balancer"),
        "{message}"
    );
    assert!(
        lines[3].contains("line 6: duplicate key") && lines[3].contains("line 2"),
        "{message}"
    );

    let missing = dir.path().join("missing.csv");
    std::fs::write(&missing, "kind,provider,sku,usd\ndisk,gcp,pd-ssd,0.1\n").unwrap();
    let output = kubetally(&["pricing", "validate", path(&missing)]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("line 1, column unit: missing from the header"));

    let binary = dir.path().join("binary.csv");
    std::fs::write(&binary, b"kind,provider\n\xff\xfe,gcp\n").unwrap();
    let output = kubetally(&["pricing", "validate", path(&binary)]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.contains("reading pricing file") && message.contains("UTF-8"),
        "{message}"
    );
}

#[test]
fn resource_rows_override_the_embedded_ones_and_show_lists_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("contract.csv");
    std::fs::write(
        &file,
        format!(
            "{RESOURCE_HEADER}disk,gcp,us-central1,pd-ssd,,gib_month,0.15,2026-11-01,contract 2026\n\
             load_balancer,aws,us-east-1,gwlb,,hour,0.0125,2026-11-01,contract 2026\n"
        ),
    )
    .unwrap();
    let summary = stdout(&kubetally(&["pricing", "validate", path(&file)]));
    assert!(
        summary.contains(
            "OK, 2 resource rows (1 disk, 1 load_balancer, 0 cluster_fee, 0 autopilot) for aws, gcp; 1 override embedded rows, 1 add new ones."
        ),
        "{summary}"
    );
    let shown = |extra: &[&str]| -> Value {
        let mut args = vec!["pricing", "show", "--format", "json", "--resources"];
        args.extend_from_slice(extra);
        serde_json::from_str(&stdout(&kubetally(&args))).unwrap()
    };
    let rows = shown(&[
        "--kind",
        "disk",
        "--provider",
        "gcp",
        "--region",
        "us-central1",
        "--pricing",
        path(&file),
    ]);
    let rows = rows.as_array().unwrap_or_else(|| panic!("not an array"));
    let ssd: Vec<_> = rows.iter().filter(|row| row["sku"] == "pd-ssd").collect();
    assert_eq!(ssd.len(), 1, "{rows:?}");
    assert_eq!(
        (&ssd[0]["usd"], &ssd[0]["source"]),
        (&Value::from("0.15"), &Value::from("contract 2026"))
    );
    assert!(
        rows.iter()
            .all(|row| row["kind"] == "disk" && row["provider"] == "gcp")
    );
    // Two --pricing files: machine rows and resource rows together.
    let machines = dir.path().join("machines.csv");
    std::fs::write(
        &machines,
        "provider,region,machine_family,machine_type,capacity_type,vcpu_hour_usd,memory_gib_hour_usd,as_of\n\
         gcp,us-central1,e2,,on_demand,0.02,0.002,\n",
    )
    .unwrap();
    let json = price(&[
        "--machine-type",
        "e2-standard-4",
        "--pricing",
        path(&file),
        "--pricing",
        path(&machines),
    ]);
    assert_eq!(json["price_source"], "user");
    let gwlb = shown(&[
        "--kind",
        "load_balancer",
        "--provider",
        "aws",
        "--pricing",
        path(&file),
        "--pricing",
        path(&machines),
    ]);
    assert!(
        gwlb.as_array()
            .is_some_and(|rows| rows.iter().any(|row| row["sku"] == "gwlb")),
        "{gwlb}"
    );
}

#[test]
fn the_exported_resource_prices_are_a_valid_pricing_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("resources.csv");
    std::fs::write(
        &file,
        stdout(&kubetally(&[
            "pricing",
            "show",
            "--resources",
            "--format",
            "csv",
        ])),
    )
    .unwrap();
    let summary = stdout(&kubetally(&["pricing", "validate", path(&file)]));
    assert!(summary.contains("for aws, azure, gcp;"), "{summary}");
    assert!(summary.contains(" 0 add new ones"), "{summary}");
    let output = kubetally(&["pricing", "show", "--kind", "volume"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("unknown kind \"volume\""),
        "{}",
        stderr(&output)
    );
}

fn path(path: &Path) -> &str {
    path.to_str()
        .unwrap_or_else(|| panic!("non-UTF-8 temp path"))
}

#[test]
fn an_unknown_cluster_tier_is_one_error_line_and_a_known_one_prices_the_fee() {
    let output = kubetally(&[
        "pricing",
        "show",
        "--resources",
        "--kind",
        "cluster_fee",
        "--cluster-tier",
        "standrad",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.contains("--cluster-tier standrad") && message.contains("extended_support"),
        "{message}"
    );
    for tier in ["extended_support", "none"] {
        let output = kubetally(&[
            "pricing",
            "show",
            "--resources",
            "--kind",
            "cluster_fee",
            "--cluster-tier",
            tier,
        ]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    }
}
