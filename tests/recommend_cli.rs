//! `kubetally recommend backtest` as a user runs it: a trace file in,
//! a table or JSON out; bad input is one line and exit code 2.

use std::process::Command;

fn kubetally(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kubetally"))
        .args(args)
        .output()
        .unwrap()
}

/// Two days of a Bitbrains-format VM at 5 minutes: 2 cores provisioned,
/// using 0.5 core; 8 GiB provisioned, using 1 GiB.
fn bitbrains_file(dir: &std::path::Path) -> std::path::PathBuf {
    let mut text = String::from(
        "Timestamp [ms];\tCPU cores;\tCPU capacity provisioned [MHZ];\tCPU usage [MHZ];\tCPU usage [%];\tMemory capacity provisioned [KB];\tMemory usage [KB];\tDisk read throughput [KB/s];\tDisk write throughput [KB/s];\tNetwork received throughput [KB/s];\tNetwork transmitted throughput [KB/s]\n",
    );
    for i in 0..576 {
        text.push_str(&format!(
            "{};\t2;\t5200.0;\t1300.0;\t25.0;\t8388608.0;\t1048576.0;\t0;\t0;\t0;\t0\n",
            1_375_308_176 + i * 300
        ));
    }
    let path = dir.join("7.csv");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn backtest_scores_every_strategy_on_a_trace() {
    let dir = tempfile::tempdir().unwrap();
    let trace = bitbrains_file(dir.path());
    let trace = trace.to_string_lossy();
    let output = kubetally(&[
        "recommend",
        "backtest",
        "--trace",
        &trace,
        "--format",
        "json",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let rows = value["series"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 3);
    for row in &rows {
        for key in [
            "strategy",
            "series",
            "savings_fraction",
            "cpu_risk",
            "memory_risk",
            "undecided",
        ] {
            assert!(row.get(key).is_some(), "{key} missing in {row}");
        }
        // Constant usage far below what is provisioned: every strategy saves, none risks.
        assert!(
            row["savings_fraction"].as_f64().unwrap_or_default() > 0.5,
            "{row}"
        );
        assert_eq!(row["memory_risk"].as_f64(), Some(0.0));
    }
    let table = kubetally(&[
        "recommend",
        "backtest",
        "--trace",
        &trace,
        "--strategy",
        "kubetally",
    ]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("| kubetally "), "{text}");
    assert!(!text.contains("krr-simple"), "{text}");
}

#[test]
fn backtest_bad_input_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "who,what\n1,2\n").unwrap();
    let bad = bad.to_string_lossy().into_owned();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let empty = empty.to_string_lossy().into_owned();
    for (args, expected) in [
        (
            vec!["--trace", bad.as_str()],
            "bad.csv: the first line is not a format",
        ),
        (vec!["--trace", empty.as_str()], "no trace files"),
        (vec!["--trace", "/no/such/place"], "/no/such/place"),
        (vec!["--trace", bad.as_str(), "--train", "soon"], "--train"),
        (
            vec!["--trace", bad.as_str(), "--strategy", "magic"],
            "magic",
        ),
    ] {
        let mut all = vec!["recommend", "backtest"];
        all.extend(args.iter().copied());
        let output = kubetally(&all);
        assert_eq!(output.status.code(), Some(2), "{all:?}");
        // The error is the first line; clap adds "For more information,
        // try '--help'." after a flag it refuses.
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr.lines().next().unwrap_or_default();
        assert!(first.contains(expected), "{all:?}: {stderr}");
        assert!(
            stderr.trim().lines().count() == 1 || stderr.contains("try '--help'"),
            "{all:?}: {stderr}"
        );
    }
}

/// The collector's hand-written cluster for 70 minutes, then `kubetally
/// recommend`: api-1 requests 1 core and uses 0.5 → VPA's 587m (the bucket
/// ending at 0.511135 cores, + 15 %); its memory limit is its 1 GiB peak ×
/// 1.3; KRR has too few samples to decide.
#[tokio::test(flavor = "multi_thread")]
async fn recommend_sizes_the_scenario_from_the_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    crate::collect::collect(&out, chrono::Duration::minutes(70)).await;
    let data = out.to_string_lossy().into_owned();
    let run = |strategy: &str| {
        let output = kubetally(&[
            "recommend",
            "--data",
            &data,
            "--strategy",
            strategy,
            "--format",
            "json",
        ]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        value["rightsizing"].as_array().cloned().unwrap_or_default()
    };
    let api = |rows: &[serde_json::Value]| {
        rows.iter()
            .find(|r| r["workload_name"] == "api" && r["container"] == "api")
            .cloned()
            .unwrap_or_else(|| panic!("no api row in {rows:?}"))
    };
    let ours = api(&run("kubetally"));
    assert_eq!(
        ours["recommended"]["cpu_request_cores"].as_f64(),
        Some(0.587)
    );
    assert_eq!(
        ours["recommended"]["cpu_limit_cores"],
        serde_json::Value::Null
    );
    assert_eq!(
        ours["recommended"]["memory_limit_bytes"].as_f64(),
        Some(1332.0 * 1024.0 * 1024.0)
    );
    assert!(
        ours["monthly_savings_usd"].as_f64().unwrap_or_default() > 0.0,
        "{ours}"
    );
    assert_eq!(ours["current"]["cpu_request_cores"].as_f64(), Some(1.0));
    assert_eq!(ours["undecided"], false);
    let vpa = api(&run("vpa"));
    assert_eq!(
        vpa["recommended"]["cpu_request_cores"].as_f64(),
        Some(0.587)
    );
    let krr = api(&run("krr-simple"));
    assert_eq!(krr["undecided"], true);
    assert!(
        krr["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("not enough data"),
        "{krr}"
    );
    // Spot: the naked pod fails S1, every check is named; machine families
    // list the on-demand pools.
    let output = kubetally(&["recommend", "--data", &data, "--format", "json"]);
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let spot = value["spot"].as_array().cloned().unwrap_or_default();
    let naked = spot
        .iter()
        .find(|s| s["workload_name"] == "exp-1")
        .unwrap_or_else(|| panic!("no exp-1 in {spot:?}"));
    assert_eq!(naked["eligible"], false);
    let checks = naked["checks"].as_array().cloned().unwrap_or_default();
    assert_eq!(checks.len(), 13);
    // Facts the collector gathers for the checks no anchor makes: a
    // Deployment's resolved maxUnavailable (S5), a CronJob's retries and run
    // times (S9), the observed start-to-Ready time (K2).
    let verdict = |workload: &str, id: &str| {
        let item = spot
            .iter()
            .find(|s| s["workload_name"] == workload)
            .unwrap_or_else(|| panic!("no {workload} in {spot:?}"));
        item["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["id"] == id))
            .cloned()
            .unwrap_or_else(|| panic!("no {id} in {item}"))
    };
    // One replica, default 25 % maxUnavailable → 0 may go: (1 − 0) / 1 = 1.00.
    let s5 = verdict("api", "S5");
    assert_eq!(s5["verdict"], "fail", "{s5}");
    assert!(
        s5["reason"].as_str().unwrap_or_default().contains("= 1.00"),
        "{s5}"
    );
    let s9 = verdict("nightly", "S9");
    assert_ne!(s9["verdict"], "unknown", "{s9}");
    let k2 = verdict("nightly", "K2");
    assert_eq!(k2["verdict"], "pass", "{k2}");
    assert!(
        k2["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("ready in 5 s"),
        "{k2}"
    );
    assert!(
        checks
            .iter()
            .any(|c| c["id"] == "S1" && c["verdict"] == "fail"),
        "{naked}"
    );
    let families = value["machine_family"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!families.is_empty(), "{value}");
    written_recommendations_are_a_table(&data, &value);
    backtest_on_the_dataset(&data);
    crate::recommend_read::any_row_order_reads_the_same(&out);
    // Bad input: one line, exit 2.
    for (args, expected) in [
        (vec!["--data", "/no/such/dataset"], "/no/such/dataset"),
        (
            vec!["--data", &data, "--cluster", "other"],
            "--cluster other: not in",
        ),
        (
            vec!["--data", &data, "--last", "0d"],
            "must be longer than zero",
        ),
        (
            vec!["--data", &data, "--write", "--namespace", "shop"],
            "--namespace",
        ),
    ] {
        let mut all = vec!["recommend"];
        all.extend(args.iter().copied());
        let output = kubetally(&all);
        assert_eq!(output.status.code(), Some(2), "{all:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.lines().next().unwrap_or_default().contains(expected),
            "{all:?}: {stderr}"
        );
    }
}

/// `backtest --data`: every workload container's raw samples are a series,
/// trained on the first 65 of the 70 minutes (folded into hourly rows as
/// the dataset's are) and scored on the rest.
fn backtest_on_the_dataset(data: &str) {
    let output = kubetally(&[
        "recommend",
        "backtest",
        "--data",
        data,
        "--train",
        "65m",
        "--test",
        "5m",
        "--format",
        "json",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let rows = value["series"].as_array().cloned().unwrap_or_default();
    let api: Vec<&serde_json::Value> = rows
        .iter()
        .filter(|r| r["series"] == "shop/Deployment/api/api")
        .collect();
    assert_eq!(api.len(), 3, "one row per strategy: {rows:?}");
    let ours = api
        .iter()
        .find(|r| r["strategy"] == "kubetally")
        .unwrap_or_else(|| panic!("{api:?}"));
    // 1 core requested, 0.5 used, steady: about 40 % of the CPU money saved, no risk.
    assert!(
        ours["savings_fraction"].as_f64().unwrap_or_default() > 0.2,
        "{ours}"
    );
    assert_eq!(ours["memory_risk"].as_f64(), Some(0.0), "{ours}");
    assert_eq!(ours["cpu_risk"].as_f64(), Some(0.0), "{ours}");
    for (args, expected) in [
        (vec!["--data", "/no/such/dataset"], "/no/such/dataset"),
        (vec!["--data", data, "--trace", data], "cannot be used with"),
        (
            vec!["--data", data, "--cluster", "other"],
            "--cluster other: not in",
        ),
    ] {
        let mut all = vec!["recommend", "backtest"];
        all.extend(args.iter().copied());
        let output = kubetally(&all);
        assert_eq!(output.status.code(), Some(2), "{all:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.lines().next().unwrap_or_default().contains(expected),
            "{all:?}: {stderr}"
        );
    }
}

/// `--write` publishes the run as the `recommendations` table, which
/// `kubetally query` reads like any other; a second run the same day
/// replaces the first instead of adding to it.
fn written_recommendations_are_a_table(data: &str, plan: &serde_json::Value) {
    for _ in 0..2 {
        let output = kubetally(&["recommend", "--data", data, "--write", "--format", "json"]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let output = kubetally(&[
        "query",
        "--data",
        data,
        "--format",
        "json",
        "SELECT kind, action, namespace, workload_name, container, cluster, strategy, \
         recommended_cpu_request_cores, recommended_memory_limit_bytes, monthly_savings_usd \
         FROM recommendations ORDER BY kind, namespace, workload_name, container, node_pool",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    let count = |kind: &str| rows.iter().filter(|r| r["kind"] == kind).count();
    let length = |key: &str| plan[key].as_array().map_or(0, Vec::len);
    assert_eq!(count("rightsizing"), length("rightsizing"), "{rows:?}");
    assert_eq!(count("spot"), length("spot"), "{rows:?}");
    assert_eq!(
        count("machine_family"),
        length("machine_family"),
        "{rows:?}"
    );
    let api = rows
        .iter()
        .find(|r| {
            r["kind"] == "rightsizing" && r["workload_name"] == "api" && r["container"] == "api"
        })
        .unwrap_or_else(|| panic!("no api row in {rows:?}"));
    assert_eq!(api["action"], "resize");
    assert_eq!(api["cluster"], "test");
    assert_eq!(api["strategy"], "kubetally");
    assert_eq!(api["recommended_cpu_request_cores"].as_f64(), Some(0.587));
    assert_eq!(
        api["recommended_memory_limit_bytes"].as_f64(),
        Some(1332.0 * 1024.0 * 1024.0)
    );
}

/// `--format yaml` as a user applies it: each patch, applied by the real
/// kubectl (`patch --local`) to the workload as the API server returns it,
/// and by kustomize (`kubectl kustomize`), yields exactly the recommended
/// requests and limits, and the workload is otherwise unchanged.
#[tokio::test(flavor = "multi_thread")]
async fn yaml_patches_apply_with_kubectl_and_kustomize() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let server = crate::support::start(&crate::collect::scenario_config()).await;
    crate::collect::collect_from(&server, &out, chrono::Duration::minutes(70)).await;
    let Some(kubectl) = crate::sim::Kubectl::new(&server, dir.path()) else {
        crate::support::stop(server).await;
        return;
    };
    let data = out.to_string_lossy().into_owned();
    let recommend = |format: &str| {
        let output = kubetally(&["recommend", "--data", &data, "--format", format]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let plan: serde_json::Value = serde_json::from_str(&recommend("json")).unwrap();
    let patches = recommend("yaml");

    let kustomize = dir.path().join("kustomize");
    std::fs::create_dir(&kustomize).unwrap();
    let mut resources = Vec::new();
    let mut patched = 0;
    for document in patches.split("---\n") {
        let patch: serde_json::Value =
            serde_norway::from_str(document).unwrap_or_else(|e| panic!("{e}\n{document}"));
        if patch.is_null() {
            continue; // a workload that cannot be patched: comments only
        }
        let (kind, name, namespace) = (
            patch["kind"].as_str().unwrap_or_default(),
            patch["metadata"]["name"].as_str().unwrap_or_default(),
            patch["metadata"]["namespace"].as_str().unwrap_or_default(),
        );
        let live = kubectl.run(&["get", kind, name, "-n", namespace, "-o", "yaml"]);
        let manifest = kustomize.join(format!("{namespace}-{name}.yaml"));
        std::fs::write(&manifest, &live).unwrap();
        let patch_file = dir.path().join("patch.yaml");
        std::fs::write(&patch_file, document).unwrap();
        let applied = kubectl.run(&[
            "patch",
            "--local",
            "-f",
            &manifest.to_string_lossy(),
            "--type",
            "strategic",
            "--patch-file",
            &patch_file.to_string_lossy(),
            "-o",
            "json",
        ]);
        let applied: serde_json::Value = serde_json::from_str(&applied).unwrap();
        let before: serde_json::Value = serde_norway::from_str(&live).unwrap();
        assert_recommended(&plan, &before, &applied, kind, name, namespace);
        resources.push(
            manifest
                .file_name()
                .map(|n| n.to_string_lossy().into_owned()),
        );
        patched += 1;
    }
    assert!(
        patched >= 2,
        "too few patches to prove anything:\n{patches}"
    );

    // The same stream as one kustomize `patches:` file.
    std::fs::write(kustomize.join("patches.yaml"), &patches).unwrap();
    let listed: Vec<String> = resources
        .into_iter()
        .flatten()
        .map(|r| format!("- {r}"))
        .collect();
    std::fs::write(
        kustomize.join("kustomization.yaml"),
        format!(
            "resources:\n{}\npatches:\n- path: patches.yaml\n",
            listed.join("\n")
        ),
    )
    .unwrap();
    let built = kubectl.run(&["kustomize", &kustomize.to_string_lossy()]);
    let mut checked = 0;
    for document in built.split("---\n") {
        let object: serde_json::Value = serde_norway::from_str(document).unwrap();
        let (kind, name, namespace) = (
            object["kind"].as_str().unwrap_or_default(),
            object["metadata"]["name"].as_str().unwrap_or_default(),
            object["metadata"]["namespace"].as_str().unwrap_or_default(),
        );
        let live = kubectl.run(&["get", kind, name, "-n", namespace, "-o", "json"]);
        let before: serde_json::Value = serde_json::from_str(&live).unwrap();
        assert_recommended(&plan, &before, &object, kind, name, namespace);
        checked += 1;
    }
    assert_eq!(checked, patched, "{built}");
    crate::support::stop(server).await;
}

/// The pod spec of a workload object, wherever its kind keeps it.
fn pod_spec(object: &serde_json::Value) -> &serde_json::Value {
    let spec = &object["spec"];
    if spec.get("jobTemplate").is_some() {
        &spec["jobTemplate"]["spec"]["template"]["spec"]
    } else {
        &spec["template"]["spec"]
    }
}

fn quantity(value: &serde_json::Value) -> Option<f64> {
    let text = value.as_str()?;
    kubetally::model::Quantity::parse(text)
        .ok()
        .map(|q| q.as_cores())
}

/// Every container of `after` has the plan's recommended resources (or,
/// without a decided recommendation, those of `before`); nothing else moved.
fn assert_recommended(
    plan: &serde_json::Value,
    before: &serde_json::Value,
    after: &serde_json::Value,
    kind: &str,
    name: &str,
    namespace: &str,
) {
    let rows = plan["rightsizing"].as_array().cloned().unwrap_or_default();
    for list in ["containers", "initContainers"] {
        let old = pod_spec(before)[list]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let new = pod_spec(after)[list]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            old.len(),
            new.len(),
            "{kind}/{name}: {list} added or removed\n{before}\n{after}"
        );
        for (old, new) in old.iter().zip(&new) {
            assert_eq!(old["image"], new["image"], "{kind}/{name}");
            let container = new["name"].as_str().unwrap_or_default();
            let row = rows.iter().find(|r| {
                r["workload_kind"] == kind
                    && r["workload_name"] == name
                    && r["namespace"] == namespace
                    && r["container"] == container
                    && r["undecided"] == false
            });
            let Some(row) = row else {
                assert_eq!(
                    old["resources"], new["resources"],
                    "{kind}/{name}/{container}"
                );
                continue;
            };
            for (section, resource, field, scale) in [
                ("requests", "cpu", "cpu_request_cores", 1000.0),
                ("limits", "cpu", "cpu_limit_cores", 1000.0),
                ("requests", "memory", "memory_request_bytes", 1.0),
                ("limits", "memory", "memory_limit_bytes", 1.0),
            ] {
                let got = quantity(&new["resources"][section][resource]);
                let want = row["recommended"][field].as_f64();
                let round = |v: Option<f64>| v.map(|v| (v * scale).round() as i64);
                assert_eq!(
                    round(got),
                    round(want.map(|w| if scale == 1.0 { w.ceil() } else { w })),
                    "{kind}/{name}/{container} {section}.{resource}: {new}"
                );
            }
        }
    }
}
