#!/usr/bin/env python3
"""`kubetally mcp` driven by a client we did not write: the Python MCP SDK's
ClientSession (PyPI `mcp`), over stdio and over streamable HTTP.

Usage: python3 tests/mcp_client.py KUBETALLY DATA

Lists the tools and calls every one against DATA (a demo dataset); checks
that cost_breakdown equals `kubetally report --format json` and query equals
`kubetally query --format json` (floats to 1e-9: the report sums in
parallel), that a write statement and an unknown table are structured
errors, and that a server started with --tenant returns that tenant's
report only. Exit 0 when all pass, 1 on a failure, 3 (SKIP) when the `mcp`
package cannot be imported.
"""

import asyncio
import json
import socket
import subprocess
import sys
import time

try:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client
    from mcp.client.streamable_http import streamable_http_client
except ImportError as error:  # pragma: no cover - the SKIP path
    print(f"SKIP: the Python `mcp` package cannot be imported: {error}", file=sys.stderr)
    sys.exit(3)

TOOLS = {
    "cost_breakdown",
    "cost_change",
    "describe_table",
    "explain_allocation",
    "list_tables",
    "query",
    "recommendations",
    "reconciliation",
}
SQL = (
    "SELECT tenant, namespace, SUM(total_cost_usd) AS usd FROM allocation "
    "GROUP BY tenant, namespace ORDER BY usd DESC, namespace"
)


def field(obj, snake, camel):
    """A model field by its Python name (SDK 2.x) or its wire name (1.x)."""
    return getattr(obj, snake) if hasattr(obj, snake) else getattr(obj, camel)


def cli(kubetally, *args):
    out = subprocess.run([kubetally, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def same(left, right, path="$"):
    """Equal but for the last bits of floats."""
    if isinstance(left, (int, float)) and isinstance(right, (int, float)) \
            and not isinstance(left, bool) and not isinstance(right, bool):
        assert abs(left - right) <= 1e-9 * max(abs(left), abs(right), 1.0), f"{path}: {left} vs {right}"
    elif isinstance(left, dict) and isinstance(right, dict):
        assert list(left) == list(right), f"{path}: keys {list(left)} vs {list(right)}"
        for key in left:
            same(left[key], right[key], f"{path}.{key}")
    elif isinstance(left, list) and isinstance(right, list):
        assert len(left) == len(right), f"{path}: {len(left)} vs {len(right)} items"
        for i, (a, b) in enumerate(zip(left, right)):
            same(a, b, f"{path}[{i}]")
    else:
        assert left == right, f"{path}: {left!r} vs {right!r}"


async def ok(session, tool, arguments):
    result = await session.call_tool(tool, arguments)
    assert not field(result, "is_error", "isError"), f"{tool} {arguments}: {result.content}"
    structured = field(result, "structured_content", "structuredContent")
    assert structured is not None, f"{tool}: no structured content"
    return structured


async def refused(session, tool, arguments):
    result = await session.call_tool(tool, arguments)
    assert field(result, "is_error", "isError"), f"{tool} {arguments} should fail: {result}"
    return json.loads(result.content[0].text)["error"]


async def every_tool(session, kubetally, data):
    listed = await session.list_tools()
    names = {tool.name for tool in listed.tools}
    assert names == TOOLS, names
    for tool in listed.tools:
        schema = field(tool, "output_schema", "outputSchema")
        assert schema and schema.get("type") == "object", tool.name
    print(f"  tools/list: {', '.join(sorted(names))}")

    report = await ok(session, "cost_breakdown", {})
    same(report, cli(kubetally, "report", "--data", data, "--format", "json"))
    by_ns = await ok(session, "cost_breakdown", {"by": "namespace", "window": {"last_hours": 2}})
    same(by_ns, cli(kubetally, "report", "--data", data, "--format", "json",
                    "--by", "namespace", "--last", "2h"))
    print(f"  cost_breakdown = report --format json (total {report['total_cost_usd']:.4f} USD)")

    rows = await ok(session, "query", {"sql": SQL, "max_rows": 1000})
    same(rows["rows"], cli(kubetally, "query", "--data", data, "--format", "json", SQL))
    print(f"  query = query --format json ({rows['row_count']} rows)")

    await ok(session, "list_tables", {})
    described = await ok(session, "describe_table", {"table": "nodes"})
    assert any(c["name"] == "total_cost_usd" and c["unit"] == "USD" for c in described["columns"])
    change = await ok(session, "cost_change", {"by": "namespace"})
    assert change["movers"], change
    workloads = await ok(session, "cost_breakdown", {"by": "workload"})
    workload = workloads["groups"][0]["name"]
    explained = await ok(session, "explain_allocation", {"workload": workload})
    same(explained["line"], workloads["groups"][0])
    advice = await ok(session, "recommendations", {"top": 5})
    assert advice["rightsizing"], advice
    bill = await ok(session, "reconciliation", {})
    assert bill["available"] is False
    print(f"  cost_change, explain_allocation ({workload}), recommendations, reconciliation, "
          "list_tables, describe_table: ok")

    error = await refused(session, "query", {"sql": "DELETE FROM allocation"})
    assert error["kind"] == "refused" and "read-only" in error["message"], error
    error = await refused(session, "describe_table", {"table": "invoices"})
    assert error["kind"] == "bad_input", error
    error = await refused(session, "cost_breakdown", {"window": {"last_days": 99999}})
    assert error["kind"] == "bad_input", error
    print("  a write, an unknown table, an absurd window: structured errors")

    resources = await session.list_resources()
    uris = {str(r.uri) for r in resources.resources}
    assert "kubetally://schema" in uris, uris
    schema = await session.read_resource("kubetally://schema")
    assert schema.contents[0].text.startswith("# Dataset schema")
    prompts = await session.list_prompts()
    assert {p.name for p in prompts.prompts} == {"weekly_cost_review", "find_waste"}
    prompt = await session.get_prompt("find_waste", {"focus": "acme"})
    assert "recommendations" in prompt.messages[0].content.text
    print(f"  resources ({len(uris)}) and prompts: ok")
    return report


async def stdio_session(kubetally, data, check, *extra):
    params = StdioServerParameters(command=kubetally, args=["mcp", "--data", data, *extra])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            return await check(session)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def main(kubetally, data):
    print("stdio:")
    report = await stdio_session(kubetally, data, lambda s: every_tool(s, kubetally, data))

    tenant = report["groups"][0]["name"]
    others = [g["name"] for g in report["groups"][1:]]

    async def restricted(session):
        own = await ok(session, "cost_breakdown", {})
        same(own, cli(kubetally, "report", "--data", data, "--format", "json", "--tenant", tenant))
        rows = await ok(session, "query", {"sql": "SELECT DISTINCT tenant FROM allocation"})
        assert rows["rows"] == [{"tenant": tenant}], rows
        text = json.dumps(own) + json.dumps(rows)
        for other in others:
            assert f'"{other}"' not in text, f"tenant {tenant}'s server showed {other}"

    await stdio_session(kubetally, data, restricted, "--tenant", tenant)
    print(f"stdio --tenant {tenant}: its report only, no other tenant's name")

    port = free_port()
    server = subprocess.Popen(
        [kubetally, "mcp", "--data", data, "--listen", f"127.0.0.1:{port}"],
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        print(f"streamable HTTP (http://127.0.0.1:{port}/mcp):")
        async with streamable_http_client(f"http://127.0.0.1:{port}/mcp") as streams:
            read, write = streams[0], streams[1]
            async with ClientSession(read, write) as session:
                await session.initialize()
                await every_tool(session, kubetally, data)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print("mcp_client.py: every tool answered over stdio and streamable HTTP")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    try:
        asyncio.run(main(sys.argv[1], sys.argv[2]))
    except BaseException as failure:  # an AssertionError, often inside an ExceptionGroup
        import traceback

        traceback.print_exc()
        print(f"FAIL: {failure!r}", file=sys.stderr)
        sys.exit(1)
