//! `kubetally mcp` over stdio, spoken to as any MCP client would: JSON-RPC
//! lines on the real binary's stdin and stdout. Every tool is called on the
//! small demo's dataset; its numbers are compared with `report --format
//! json` and `query --format json`; bad input gets structured errors and the
//! server keeps answering; and a server restricted to one tenant never
//! returns another tenant's name or figure. (tests/mcp_client.py does the
//! same with the Python SDK's client, and .ci/run with the MCP Inspector.)

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{kubetally, small_demo};

/// A running `kubetally mcp` and its reply lines.
struct Client {
    child: Child,
    stdin: ChildStdin,
    replies: Receiver<Value>,
    next_id: u64,
}

impl Client {
    /// Starts the server with `args` after `mcp` and initialises the session.
    fn start(args: &[&str]) -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kubetally"))
            .arg("mcp")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (send, replies) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let value: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not JSON from the server ({e}): {line}"));
                if send.send(value).is_err() {
                    break;
                }
            }
        });
        let mut client = Client {
            child,
            stdin,
            replies,
            next_id: 1,
        };
        let init = client.request(
            "initialize",
            json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "tests/mcp.rs", "version": "1"}
            }),
        );
        assert_eq!(init["result"]["serverInfo"]["name"], "kubetally", "{init}");
        client.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        client
    }

    fn send(&mut self, message: Value) {
        writeln!(self.stdin, "{message}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Sends a request and waits for its reply (a JSON-RPC result or error).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let reply = self
                .replies
                .recv_timeout(Duration::from_secs(180))
                .unwrap_or_else(|e| panic!("no reply to {method} ({e})"));
            if reply["id"] == json!(id) {
                return reply;
            }
        }
    }

    /// Calls a tool; the `result` (with `isError` when it failed).
    fn call(&mut self, tool: &str, arguments: Value) -> Value {
        let reply = self.request("tools/call", json!({"name": tool, "arguments": arguments}));
        assert!(reply.get("error").is_none(), "{tool}: {reply}");
        reply["result"].clone()
    }

    /// Calls a tool that must succeed; its structured content.
    fn ok(&mut self, tool: &str, arguments: Value) -> Value {
        let result = self.call(tool, arguments.clone());
        assert_ne!(
            result["isError"],
            json!(true),
            "{tool} {arguments}: {result}"
        );
        let structured = result["structuredContent"].clone();
        assert!(structured.is_object(), "{tool}: {result}");
        // The text content carries the same JSON, for clients that read text only.
        let text: Value =
            serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap();
        assert_eq!(text, structured, "{tool}");
        structured
    }

    /// Calls a tool that must fail; its error's kind and message.
    fn refused(&mut self, tool: &str, arguments: Value) -> (String, String) {
        let result = self.call(tool, arguments.clone());
        assert_eq!(
            result["isError"],
            json!(true),
            "{tool} {arguments}: {result}"
        );
        let body: Value =
            serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap();
        let kind = body["error"]["kind"].as_str().unwrap().to_owned();
        let message = body["error"]["message"].as_str().unwrap().to_owned();
        (kind, message)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn demo() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    small_demo(&data);
    let data = data.to_str().unwrap().to_owned();
    (dir, data)
}

/// Asserts two results are the same but for the last bits of floats: the
/// report sums in parallel, so two runs may round differently.
fn assert_same(left: &Value, right: &Value, path: &str) {
    match (left, right) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            assert!(
                (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0),
                "{path}: {a} vs {b}"
            );
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{path}: lengths");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_same(x, y, &format!("{path}[{i}]"));
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            let keys = |m: &serde_json::Map<String, Value>| m.keys().cloned().collect::<Vec<_>>();
            assert_eq!(keys(a), keys(b), "{path}: keys");
            for (key, x) in a {
                assert_same(x, &b[key], &format!("{path}.{key}"));
            }
        }
        _ => assert_eq!(left, right, "{path}"),
    }
}

fn json_of(args: &[&str]) -> Value {
    serde_json::from_slice(&kubetally(args)).unwrap()
}

const TOOLS: [&str; 8] = [
    "cost_breakdown",
    "cost_change",
    "describe_table",
    "explain_allocation",
    "list_tables",
    "query",
    "recommendations",
    "reconciliation",
];

#[test]
fn mcp_serves_every_tool_with_the_cli_numbers() {
    let (_dir, data) = demo();
    let mut client = Client::start(&["--data", &data]);

    let tools = client.request("tools/list", json!({}));
    let mut names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| {
            assert_eq!(tool["inputSchema"]["type"], "object", "{tool}");
            assert_eq!(tool["outputSchema"]["type"], "object", "{tool}");
            assert_eq!(tool["annotations"]["readOnlyHint"], true, "{tool}");
            assert!(tool["description"].as_str().unwrap().len() > 80, "{tool}");
            tool["name"].as_str().unwrap()
        })
        .collect();
    names.sort_unstable();
    assert_eq!(names, TOOLS);

    // cost_breakdown is the report, figure for figure.
    let report = client.ok("cost_breakdown", json!({}));
    assert_same(
        &report,
        &json_of(&["report", "--data", &data, "--format", "json"]),
        "report",
    );
    let by_workload = client.ok(
        "cost_breakdown",
        json!({"by": "namespace", "window": {"last_hours": 2}, "basis": "request"}),
    );
    assert_same(
        &by_workload,
        &json_of(&[
            "report",
            "--data",
            &data,
            "--format",
            "json",
            "--by",
            "namespace",
            "--last",
            "2h",
            "--basis",
            "request",
        ]),
        "report --by namespace",
    );

    // query is `kubetally query --format json`.
    let sql = "SELECT tenant, namespace, SUM(total_cost_usd) AS usd FROM allocation \
               GROUP BY tenant, namespace ORDER BY usd DESC, namespace";
    let rows = client.ok("query", json!({"sql": sql, "max_rows": 1000}));
    let cli = json_of(&["query", "--data", &data, "--format", "json", sql]);
    assert_same(&rows["rows"], &cli, "query");
    assert_eq!(rows["truncated"], false);
    assert_eq!(rows["columns"], json!(["tenant", "namespace", "usd"]));
    let capped = client.ok("query", json!({"sql": sql, "max_rows": 2}));
    assert_eq!(capped["row_count"], 2);
    assert_eq!(capped["truncated"], true);
    let bundled = client.ok(
        "query",
        json!({"name": "chargeback_by_tenant", "params": {"from": "2026-01-01", "to": "2027-01-01"}}),
    );
    assert!(bundled["row_count"].as_u64().unwrap() > 0, "{bundled}");

    let tables = client.ok("list_tables", json!({}));
    assert!(
        tables["tables"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "allocation" && t["queryable"] == true && t["files"] != 0)
    );
    let described = client.ok("describe_table", json!({"table": "allocation"}));
    let cost = described["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "total_cost_usd")
        .unwrap()
        .clone();
    assert_eq!(cost["unit"], "USD");

    let change = client.ok("cost_change", json!({"by": "namespace"}));
    assert_same(
        &change["after_total_usd"],
        &report["total_cost_usd"],
        "change",
    );
    assert!(!change["movers"].as_array().unwrap().is_empty(), "{change}");
    let halves = client.ok(
        "cost_change",
        json!({"before": {"last_hours": 1, "to": null}, "after": {"last_hours": 2}, "by": "workload"}),
    );
    assert!(halves["movers"][0]["why"].as_array().is_some(), "{halves}");

    let recommended = client.ok("recommendations", json!({}));
    let cli = json_of(&["recommend", "--data", &data, "--format", "json"]);
    assert_eq!(recommended["rightsizing"].as_array().unwrap().len(), {
        cli["rightsizing"].as_array().unwrap().len().min(20)
    });
    assert_eq!(recommended["cluster"], cli["cluster"]);

    // explain_allocation: the costliest workload's line is the report's.
    let workloads = client.ok("cost_breakdown", json!({"by": "workload"}));
    let line = workloads["groups"][0].clone();
    let name = line["name"].as_str().unwrap();
    let explained = client.ok("explain_allocation", json!({"workload": name}));
    assert_same(&explained["line"], &line, "line");
    let compute = explained["compute"]["total_usd"].as_f64().unwrap();
    let reported = line["compute_cost_usd"].as_f64().unwrap();
    assert!((compute - reported).abs() < 1e-6, "{compute} vs {reported}");
    assert_eq!(explained["formula"].as_array().unwrap().len(), 5);

    let bill = client.ok("reconciliation", json!({}));
    assert_eq!(bill["available"], false);

    let resources = client.request("resources/list", json!({}));
    let uris: Vec<&str> = resources["result"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap())
        .collect();
    assert!(uris.contains(&"kubetally://schema"), "{uris:?}");
    assert!(
        uris.contains(&"kubetally://queries/top_waste_workloads"),
        "{uris:?}"
    );
    let schema = client.request("resources/read", json!({"uri": "kubetally://schema"}));
    let text = schema["result"]["contents"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("# Dataset schema"));
    let prompts = client.request("prompts/list", json!({}));
    assert_eq!(prompts["result"]["prompts"].as_array().unwrap().len(), 2);
    let review = client.request(
        "prompts/get",
        json!({"name": "weekly_cost_review", "arguments": {"focus": "acme"}}),
    );
    let text = review["result"]["messages"][0]["content"]["text"]
        .as_str()
        .unwrap();
    assert!(
        text.contains("cost_breakdown") && text.contains("acme"),
        "{text}"
    );
}

#[test]
fn mcp_answers_bad_input_with_structured_errors_and_keeps_serving() {
    let (_dir, data) = demo();
    let mut client = Client::start(&["--data", &data]);

    let (kind, message) = client.refused("describe_table", json!({"table": "invoices"}));
    assert_eq!(kind, "bad_input");
    assert!(message.contains("allocation, nodes"), "{message}");
    for (sql, says) in [
        ("INSERT INTO nodes VALUES (1)", "read-only"),
        ("DROP TABLE allocation", "read-only"),
        ("SELECT 1; SELECT 2", "exactly one"),
        (
            "SELECT * FROM read_parquet('/etc/passwd')",
            "table function",
        ),
        ("SELECT * FROM invoices", "unknown table"),
        ("SELECT nope FROM allocation", "nope"),
    ] {
        let (kind, message) = client.refused("query", json!({"sql": sql}));
        assert!(message.contains(says), "{sql}: {kind} {message}");
    }
    let (kind, _) = client.refused("query", json!({}));
    assert_eq!(kind, "bad_input");
    let (kind, message) = client.refused("query", json!({"name": "no_such_query"}));
    assert!(message.contains("chargeback_by_tenant"), "{kind} {message}");

    for window in [
        json!({"last_days": 100000}),
        json!({"from": "1900-01-01"}),
        json!({"from": "2026-11-02", "to": "2026-11-01"}),
        json!({"from": "2030-01-01"}),
        json!({"from": "2026-11-01", "last_days": 3}),
        json!({"to": "not a date"}),
    ] {
        let (kind, message) = client.refused("cost_breakdown", json!({"window": window}));
        assert!(
            kind == "bad_input" || kind == "report_failed",
            "{window}: {kind} {message}"
        );
    }
    let (kind, _) = client.refused("cost_breakdown", json!({"by": "pod"}));
    assert_eq!(kind, "bad_input");
    let (_, message) = client.refused("explain_allocation", json!({"workload": "checkout"}));
    assert!(message.contains("namespace/Kind/name"), "{message}");
    let (_, message) = client.refused(
        "explain_allocation",
        json!({"workload": "nowhere/Deployment/nothing"}),
    );
    assert!(message.contains("no cost in the period"), "{message}");
    let (_, message) = client.refused("recommendations", json!({"strategy": "guess"}));
    assert!(message.contains("kubetally, vpa"), "{message}");

    // Arguments of the wrong type and unknown tools are JSON-RPC errors.
    let wrong = client.request(
        "tools/call",
        json!({"name": "cost_breakdown", "arguments": {"window": {"last_days": -3}}}),
    );
    assert!(
        wrong.get("error").is_some() || wrong["result"]["isError"] == true,
        "{wrong}"
    );
    let unknown = client.request(
        "tools/call",
        json!({"name": "drop_everything", "arguments": {}}),
    );
    assert!(unknown.get("error").is_some(), "{unknown}");
    let missing = client.request("resources/read", json!({"uri": "file:///etc/passwd"}));
    assert!(missing.get("error").is_some(), "{missing}");

    // Still serving, and nothing was written to the dataset.
    client.ok("list_tables", json!({}));
    let listing = |dir: &str| {
        let mut files: Vec<String> = walk(std::path::Path::new(dir));
        files.sort();
        files
    };
    let before = listing(&data);
    client.refused(
        "query",
        json!({"sql": "CREATE TABLE x AS SELECT * FROM nodes"}),
    );
    assert_eq!(listing(&data), before);
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

#[test]
fn mcp_restricted_to_a_tenant_never_shows_another_tenants_name_or_figure() {
    let (_dir, data) = demo();
    let full = json_of(&["report", "--data", &data, "--format", "json"]);
    let lines = full["groups"].as_array().unwrap();
    let tenant = lines[0]["name"].as_str().unwrap().to_owned();
    let others: Vec<(String, f64)> = lines[1..]
        .iter()
        .map(|g| {
            (
                g["name"].as_str().unwrap().to_owned(),
                g["total_cost_usd"].as_f64().unwrap(),
            )
        })
        .collect();
    assert!(others.len() >= 3, "{others:?}");
    let namespaces = json_of(&[
        "query",
        "--data",
        &data,
        "--format",
        "json",
        "SELECT DISTINCT tenant, namespace FROM allocation",
    ]);
    let mut client = Client::start(&["--data", &data, "--tenant", &tenant]);

    let mut seen = String::new();
    let mut keep = |value: &Value| seen.push_str(&value.to_string());
    let report = client.ok("cost_breakdown", json!({}));
    assert_eq!(report["groups"].as_array().unwrap().len(), 1);
    assert_eq!(report["groups"][0]["name"], json!(tenant));
    assert_same(
        &report,
        &json_of(&[
            "report", "--data", &data, "--format", "json", "--tenant", &tenant,
        ]),
        "tenant report",
    );
    keep(&report);
    for by in ["namespace", "workload", "label:app"] {
        keep(&client.ok("cost_breakdown", json!({"by": by, "share_shared": "even"})));
    }
    keep(&client.ok("cost_change", json!({"by": "workload"})));
    keep(&client.ok("cost_change", json!({"by": "tenant"})));
    let workloads = client.ok("cost_breakdown", json!({"by": "workload"}));
    let own = workloads["groups"][0]["name"].as_str().unwrap().to_owned();
    keep(&client.ok("explain_allocation", json!({"workload": own})));
    let recommended = client.ok("recommendations", json!({"top": 200}));
    assert!(recommended["machine_family"].as_array().unwrap().is_empty());
    keep(&recommended);
    keep(&client.ok("list_tables", json!({})));
    keep(&client.ok("describe_table", json!({"table": "allocation"})));
    let everything = client.ok(
        "query",
        json!({"sql": "SELECT * FROM allocation", "max_rows": 1000}),
    );
    assert!(everything["row_count"].as_u64().unwrap() > 0);
    keep(&everything);
    let tenants = client.ok(
        "query",
        json!({"sql": "SELECT DISTINCT tenant FROM allocation"}),
    );
    assert_eq!(tenants["rows"], json!([{"tenant": tenant}]));
    keep(&client.ok(
        "query",
        json!({"sql": "SELECT tenant, kind, SUM(cost_usd) AS usd FROM resources GROUP BY tenant, kind"}),
    ));
    // Tables of every tenant's rows are not there; the bill is the cluster's.
    let (_, message) = client.refused("query", json!({"sql": "SELECT * FROM nodes"}));
    assert!(message.contains("unknown table"), "{message}");
    let (kind, _) = client.refused("query", json!({"sql": "SELECT * FROM recommendations"}));
    assert_eq!(kind, "refused");
    // The tables with a tenant column are there, filtered to the tenant.
    for table in ["samples", "workloads", "resources"] {
        let tenants = client.ok(
            "query",
            json!({"sql": format!("SELECT DISTINCT tenant FROM {table}")}),
        );
        for row in tenants["rows"].as_array().unwrap() {
            assert_eq!(row["tenant"], json!(tenant), "{table}");
        }
    }
    keep(&client.ok(
        "query",
        json!({"sql": "SELECT * FROM samples", "max_rows": 1000}),
    ));
    let (kind, _) = client.refused("reconciliation", json!({}));
    assert_eq!(kind, "forbidden");
    // Another tenant's workload is no line of this tenant's.
    let other_namespace = namespaces
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["tenant"] != json!(tenant) && row["tenant"] != "__shared__")
        .map(|row| row["namespace"].as_str().unwrap().to_owned())
        .unwrap();
    let (_, message) = client.refused(
        "explain_allocation",
        json!({"workload": format!("{other_namespace}/Deployment/x")}),
    );
    assert!(message.contains("has no cost"), "{message}");
    // The message repeats the name asked for; the rest must be this tenant's.
    keep(&json!(
        message.replace(&format!("{other_namespace}/Deployment/x"), "")
    ));

    let around = |needle: &str| {
        seen.find(needle).map_or_else(String::new, |at| {
            let start = seen[..at]
                .char_indices()
                .rev()
                .nth(300)
                .map_or(0, |(i, _)| i);
            seen[start..].chars().take(600).collect()
        })
    };
    for (name, usd) in &others {
        for needle in [format!("\"{name}\""), format!("{name}/")] {
            assert!(
                !seen.contains(&needle),
                "tenant {tenant}'s server showed tenant {name}: …{}…",
                around(&needle)
            );
        }
        assert!(
            !seen.contains(&usd.to_string()),
            "tenant {tenant}'s server showed tenant {name}'s total {usd}"
        );
    }
    let own_namespaces: Vec<&str> = namespaces
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["tenant"] == json!(tenant))
        .map(|row| row["namespace"].as_str().unwrap())
        .collect();
    for row in namespaces.as_array().unwrap() {
        let namespace = row["namespace"].as_str().unwrap();
        if row["tenant"] != json!(tenant) && !own_namespaces.contains(&namespace) {
            assert!(
                !seen.contains(&format!("\"{namespace}\"")),
                "tenant {tenant}'s server showed namespace {namespace} of {}",
                row["tenant"]
            );
        }
    }
}
