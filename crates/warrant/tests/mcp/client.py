#!/usr/bin/env python3
"""A scripted MCP client (the official Python SDK's `mcp.Client`) for warrant's MCP gateway tests.

    client.py --stdio "COMMAND LINE" [options] [STEPS]
    client.py --http URL [--header K=V ...] [options] [STEPS]

options:
    --protocol VERSION   a handshake-era version (2024-11-05 ... 2025-11-25, or any other string to see
                         the server's counter-offer) is offered in `initialize`; a modern version
                         (2026-07-28) is probed with `server/discover`, with no fallback; `auto` (the
                         default) is the SDK's own policy: discover first, fall back to initialize.
    --timeout SECONDS    per-request read timeout (default 30)
    --elicit ACTION      declare the elicitation capability and answer every elicitation/create with
                         ACTION (accept, decline or cancel); --elicit-content JSON gives accept's content
    --notifications      print each server notification as {"notification": {...}}

STEPS is a file holding a JSON array (default: stdin), e.g.
    [{"op": "list_tools"},
     {"op": "call_tool", "name": "x", "arguments": {...}, "meta": {"warrant/session": "s1"}},
     {"op": "read_resource", "uri": "crm://customers/c123"},
     {"op": "list_resources"}, {"op": "ping"}, {"op": "sleep", "ms": 100},
     {"op": "signal", "path": "/tmp/x"}, {"op": "wait_file", "path": "/tmp/y", "timeout_ms": 60000}]

Output, one JSON object per line on stdout:
    {"protocolVersion": ..., "era": "handshake"|"modern", "serverInfo": {...}|null, "capabilities": {...}}
then one line per step:
    list_tools     {"op": "list_tools", "tools": [{"name", "description"}, ...]}
    call_tool      {"op": "call_tool", "isError": bool, "content": [texts], "structured": ...}
    read_resource  {"op": "read_resource", "contents": [{"uri", "text"}]}
    list_resources {"op": "list_resources", "resources": [uri, ...]}
    ping / sleep / signal / wait_file   {"op": ...}
    a JSON-RPC error, any step: {"op": ..., "error": {"code": int, "message": str, "data"?: ...}}
    anything else raised:       {"op": ..., "exception": {"type": str, "message": str}}
and, interleaved, {"elicitation": params} for each elicitation/create received.
The script keeps going after a failed step. Exit 0, unless connecting failed: then {"fatal": "..."}, exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from typing import Any

import anyio
import httpx2
import mcp.client.client as sdk_client
import mcp.client.session as sdk_session
import mcp_types as types
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()


def choose_protocol(protocol: str) -> str:
    """Point the SDK at `protocol`, returning the connect mode for `mcp.Client`.

    The SDK (mcp 2.3.0) has no parameter for the version its `initialize` offers: `ClientSession.initialize`
    reads the module global `mcp.client.session.LATEST_HANDSHAKE_VERSION`, so that is patched. For the modern
    era `mode="auto"` would silently fall back to `initialize`, so `negotiate_auto` is replaced by a strict
    `server/discover` (which reads `LATEST_MODERN_VERSION`, also patched).
    """
    if protocol == "auto":
        return "auto"
    if protocol in MODERN_PROTOCOL_VERSIONS:
        sdk_session.LATEST_MODERN_VERSION = protocol

        async def discover_only(session: sdk_session.ClientSession) -> None:
            await session.discover()

        sdk_client.negotiate_auto = discover_only
        return "auto"
    sdk_session.LATEST_HANDSHAKE_VERSION = protocol
    return "legacy"


def error_of(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, MCPError):
        err: dict[str, Any] = {"code": exc.code, "message": exc.message}
        if exc.data is not None:
            err["data"] = exc.data
        return {"error": err}
    return {"exception": {"type": type(exc).__name__, "message": str(exc)}}


def texts(content: list[Any]) -> list[Any]:
    out: list[Any] = []
    for block in content:
        if isinstance(block, types.TextContent):
            out.append(block.text)
        else:
            out.append(block.model_dump(by_alias=True, mode="json", exclude_none=True))
    return out


async def run_step(client: Client, step: dict[str, Any]) -> dict[str, Any]:
    op = step.get("op")
    meta = step.get("meta")
    if op == "list_tools":
        result = await client.list_tools(meta=meta)
        return {"tools": [{"name": t.name, "description": t.description} for t in result.tools]}
    if op == "call_tool":
        result = await client.call_tool(step["name"], step.get("arguments") or {}, meta=meta)
        return {"isError": bool(result.is_error), "content": texts(result.content), "structured": result.structured_content}
    if op == "read_resource":
        result = await client.read_resource(step["uri"], meta=meta)
        contents = []
        for c in result.contents:
            item: dict[str, Any] = {"uri": str(c.uri)}
            if isinstance(c, types.TextResourceContents):
                item["text"] = c.text
            else:
                item["blob"] = c.blob
            contents.append(item)
        return {"contents": contents}
    if op == "list_resources":
        result = await client.list_resources(meta=meta)
        return {"resources": [str(r.uri) for r in result.resources]}
    if op == "ping":
        await client.session.send_ping(meta=meta)
        return {}
    if op == "sleep":
        await anyio.sleep(float(step.get("ms", 0)) / 1000)
        return {}
    if op == "wait_file":
        # The test does something between two steps (approves a call, stops a server) and then creates
        # the file; the script goes on when it appears.
        deadline = anyio.current_time() + float(step.get("timeout_ms", 60000)) / 1000
        while not os.path.exists(step["path"]):
            if anyio.current_time() > deadline:
                raise TimeoutError(f"{step['path']} did not appear")
            await anyio.sleep(0.02)
        return {}
    if op == "signal":
        # Tell the test this point is reached: create the file.
        open(step["path"], "w").close()
        return {}
    raise ValueError(f"unknown op {op!r}")


async def run(args: argparse.Namespace, steps: list[dict[str, Any]]) -> int:
    mode = choose_protocol(args.protocol)

    elicitation_callback = None
    if args.elicit:
        content = json.loads(args.elicit_content) if args.elicit_content else None

        async def on_elicit(_ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
            emit({"elicitation": params.model_dump(by_alias=True, mode="json", exclude_none=True)})
            return types.ElicitResult(action=args.elicit, content=content if args.elicit == "accept" else None)

        elicitation_callback = on_elicit

    message_handler = None
    if args.notifications:

        async def on_message(message: Any) -> None:
            if isinstance(message, types.ServerNotification):
                emit({"notification": message.model_dump(by_alias=True, mode="json", exclude_none=True)})

        message_handler = on_message

    http_client: httpx2.AsyncClient | None = None
    if args.stdio:
        argv = shlex.split(args.stdio)
        # The SDK passes the child only HOME/PATH/...; the tests steer the server through its environment.
        server: Any = StdioServerParameters(command=argv[0], args=argv[1:], env=dict(os.environ))
    else:
        headers = dict(h.split("=", 1) for h in args.header)
        http_client = httpx2.AsyncClient(
            headers=headers, timeout=httpx2.Timeout(30.0, read=300.0), trust_env=False
        )
        server = streamable_http_client(args.http, http_client=http_client)

    client = Client(
        server,
        mode=mode,
        read_timeout_seconds=args.timeout,
        cache=None,  # every step reaches the wire
        client_info=types.Implementation(name="warrant-test-client", version="1.0.0"),
        elicitation_callback=elicitation_callback,
        message_handler=message_handler,
    )
    try:
        if http_client is not None:
            await http_client.__aenter__()
        try:
            await client.__aenter__()
        except BaseException as exc:  # noqa: BLE001 - any connect failure is fatal
            emit({"fatal": f"{type(exc).__name__}: {exc}" + (f" {error_of(exc)}" if isinstance(exc, MCPError) else "")})
            return 2
        session = client.session
        caps = session.server_capabilities
        info = client.server_info
        emit(
            {
                "protocolVersion": client.protocol_version,
                "era": "modern" if session.discover_result is not None else "handshake",
                "serverInfo": info.model_dump(by_alias=True, mode="json", exclude_none=True) if info else None,
                "capabilities": caps.model_dump(by_alias=True, mode="json", exclude_none=True) if caps else None,
            }
        )
        for step in steps:
            line: dict[str, Any] = {"op": step.get("op")}
            try:
                line.update(await run_step(client, step))
            except Exception as exc:  # noqa: BLE001 - report and keep going
                line.update(error_of(exc))
            emit(line)
        try:
            await client.__aexit__(None, None, None)
        except Exception as exc:  # noqa: BLE001 - a dirty shutdown is not the script's result
            print(f"client: shutdown: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 0
    finally:
        if http_client is not None:
            await http_client.__aexit__(None, None, None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--stdio", metavar="COMMAND")
    target.add_argument("--http", metavar="URL")
    parser.add_argument("--header", action="append", default=[], metavar="K=V")
    parser.add_argument("--protocol", default="auto")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--elicit", choices=["accept", "decline", "cancel"])
    parser.add_argument("--elicit-content")
    parser.add_argument("--notifications", action="store_true")
    parser.add_argument("steps", nargs="?", default="-")
    args = parser.parse_args()

    raw = sys.stdin.read() if args.steps == "-" else open(args.steps, encoding="utf-8").read()
    steps = json.loads(raw) if raw.strip() else []
    if not isinstance(steps, list):
        emit({"fatal": "steps must be a JSON array"})
        return 2
    return anyio.run(run, args, steps)


if __name__ == "__main__":
    sys.exit(main())
