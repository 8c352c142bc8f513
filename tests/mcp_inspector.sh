#!/usr/bin/env bash
# `kubetally mcp` driven by the MCP Inspector's CLI mode (npm
# @modelcontextprotocol/inspector, `--cli`), a client we did not write:
# tools/list must name the eight tools, every tool is called once and must
# answer without isError, a write statement must come back as an isError
# result, and the resources and prompts must list.
#
# Usage: tests/mcp_inspector.sh INSPECTOR_DIR KUBETALLY DATA
#   INSPECTOR_DIR  a directory where `npm install --prefix INSPECTOR_DIR
#                  @modelcontextprotocol/inspector` ran (npx runs it from there)
set -euo pipefail
inspector_dir=$1 kubetally=$2 data=$3

inspect() {
  # The Inspector validates results against the tools' output schemas and
  # warns on stderr about schemars' integer formats (uint64): noise, dropped.
  npx --prefix "$inspector_dir" --no-install mcp-inspector --cli \
    "$kubetally" mcp --data "$data" "$@" 2> >(grep -v 'unknown format' >&2)
}

tools=$(inspect --method tools/list | python3 -c '
import json, sys
print(" ".join(sorted(t["name"] for t in json.load(sys.stdin)["tools"])))')
expected="cost_breakdown cost_change describe_table explain_allocation list_tables query recommendations reconciliation"
if [ "$tools" != "$expected" ]; then
  echo "FAIL tools/list: $tools" >&2
  exit 1
fi
echo "  tools/list: $tools"

# The costliest workload, for explain_allocation.
workload=$(inspect --method tools/call --tool-name cost_breakdown --tool-arg by=workload \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["structuredContent"]["groups"][0]["name"])')

call() {
  local tool=$1 want=$2
  shift 2
  local args=()
  for arg in "$@"; do args+=(--tool-arg "$arg"); done
  inspect --method tools/call --tool-name "$tool" "${args[@]}" | python3 -c '
import json, sys
tool, want = sys.argv[1], sys.argv[2]
result = json.load(sys.stdin)
failed = bool(result.get("isError"))
if want == "ok" and (failed or "structuredContent" not in result):
    sys.exit(f"FAIL {tool}: {result}")
if want == "error" and not failed:
    sys.exit(f"FAIL {tool} should be an error: {result}")
text = result["content"][0]["text"]
mark = "isError " if failed else ""
print(f"  tools/call {tool}: {mark}{text[:90]}…")
' "$tool" "$want"
}

call list_tables ok
call describe_table ok table=allocation
call query ok "sql=SELECT tenant, SUM(total_cost_usd) AS usd FROM allocation GROUP BY tenant ORDER BY usd DESC" max_rows=5
call cost_breakdown ok by=namespace 'window={"last_hours": 2}'
call cost_change ok by=tenant top=3
call recommendations ok top=3
call explain_allocation ok "workload=$workload"
call reconciliation ok
call query error "sql=DROP TABLE allocation"

resources=$(inspect --method resources/list | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["resources"]))')
prompts=$(inspect --method prompts/list | python3 -c 'import json, sys; print(" ".join(p["name"] for p in json.load(sys.stdin)["prompts"]))')
echo "  resources/list: $resources resources; prompts/list: $prompts"
echo "mcp_inspector.sh: the Inspector called every tool"
