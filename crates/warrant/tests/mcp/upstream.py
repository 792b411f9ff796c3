#!/usr/bin/env python3
"""A real MCP server (the official Python SDK's MCPServer) playing the upstream behind warrant's MCP gateway.

    upstream.py stdio
    upstream.py http --port N [--json-response] [--stateless]

`http` serves Streamable HTTP at http://127.0.0.1:N/mcp. The SDK answers every protocol version it knows:
the initialize handshake for 2024-11-05, 2025-03-26, 2025-06-18 and 2025-11-25 (a request for anything
else is answered with 2025-11-25), and the stateless 2026-07-28 era (server/discover plus the per-request
`_meta` envelope) on the same endpoint / pipe. `--json-response` makes handshake-era POSTs answer with
application/json instead of an SSE stream; `--stateless` issues no Mcp-Session-Id.

Tools: lookup_customer(customer_id), send_email(to, subject, body), search_kb(query), echo(text) (which
sends a log notification, notifications/message, before it answers).
lookup_customer("missing") answers a JSON-RPC error (-32602); lookup_customer("broken") a result with
isError: true. Any unknown tool name is also answered isError: true (the SDK's choice), not a JSON-RPC error.
Resource: crm://customers/c123.

Environment knobs:
    UPSTREAM_SEND_EMAIL_DESCRIPTION  replaces send_email's description (a tool-poisoning rug pull)
    UPSTREAM_DIE_AFTER=N             os._exit(1) when the N-th tools/call arrives, before answering it
    UPSTREAM_EXTRA_TOOL=name         adds one more (undeclared) tool with that name; it echoes its arguments
    UPSTREAM_RECORD=path             appends one JSON line per inbound request/notification:
                                     {"method", "params", "headers"} (headers only over HTTP)
    UPSTREAM_NAME                    the server name in serverInfo (default "crm-upstream")

Logs go to stderr only: in stdio mode stdout is the protocol.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

log = logging.getLogger("upstream")

SEND_EMAIL_DESCRIPTION = "Send an email to one recipient."


class Observer:
    """Context-tier middleware: sees every inbound request and notification before validation or dispatch."""

    def __init__(self, die_after: int | None, record_path: str | None) -> None:
        self.die_after = die_after
        self.record_path = record_path
        self.calls = 0
        self.lock = threading.Lock()

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        params = dict(ctx.params) if ctx.params else None
        log.info("%s %s (protocol %s)", ctx.method, json.dumps(params, default=str)[:500], ctx.protocol_version)
        if self.record_path:
            headers = getattr(ctx.request, "headers", None)
            line = {
                "method": ctx.method,
                "params": params,
                "headers": dict(headers) if headers is not None else None,
            }
            with self.lock, open(self.record_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(line, default=str) + "\n")
        if ctx.method == "tools/call":
            self.calls += 1
            if self.die_after is not None and self.calls >= self.die_after:
                log.warning("UPSTREAM_DIE_AFTER=%d reached: exiting hard", self.die_after)
                sys.stderr.flush()
                os._exit(1)
        return await call_next(ctx)


def build_server() -> MCPServer:
    die_after = os.environ.get("UPSTREAM_DIE_AFTER")
    observer = Observer(int(die_after) if die_after else None, os.environ.get("UPSTREAM_RECORD") or None)
    mcp = MCPServer(
        os.environ.get("UPSTREAM_NAME", "crm-upstream"),
        version="1.0.0",
        instructions="A fake CRM used by warrant's MCP gateway tests.",
        middleware=[observer],
        log_level="INFO",
    )

    @mcp.tool(description="Look up a customer record by id.")
    def lookup_customer(customer_id: str) -> str:
        if customer_id == "missing":
            raise MCPError(code=INVALID_PARAMS, message="no customer with id 'missing'")
        if customer_id == "broken":
            raise RuntimeError("the CRM database is down")
        record = {
            "id": customer_id,
            "name": f"Customer {customer_id}",
            "email": f"{customer_id}@example.com",
            "tier": "gold",
        }
        return json.dumps(record)

    @mcp.tool(
        description=os.environ.get("UPSTREAM_SEND_EMAIL_DESCRIPTION") or SEND_EMAIL_DESCRIPTION
    )
    def send_email(to: str, subject: str, body: str) -> str:
        return f"sent to {to}"

    @mcp.tool(description="Search the knowledge base.")
    def search_kb(query: str) -> str:
        return f"3 articles match {query!r}: refunds, shipping, returns"

    @mcp.tool(description="Return the text unchanged.")
    async def echo(text: str, ctx: Context) -> str:
        # A log notification sent while the call is open: the gateway relays it to the host.
        await ctx.info(f"echoing {len(text)} characters")
        return text

    extra = os.environ.get("UPSTREAM_EXTRA_TOOL")
    if extra:

        def extra_tool(payload: str = "") -> str:
            return f"{extra} ran with {payload!r}"

        mcp.add_tool(extra_tool, name=extra, description=f"An extra tool named {extra}.")

    @mcp.resource("crm://customers/c123", name="customer-c123", mime_type="application/json")
    def customer_c123() -> str:
        return json.dumps({"id": "c123", "name": "Customer c123", "email": "c123@example.com"})

    return mcp


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="transport", required=True)
    sub.add_parser("stdio")
    http = sub.add_parser("http")
    http.add_argument("--port", type=int, required=True)
    http.add_argument("--host", default="127.0.0.1")
    http.add_argument("--json-response", action="store_true")
    http.add_argument("--stateless", action="store_true")
    args = parser.parse_args()

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="upstream: %(name)s %(message)s", force=True)
    mcp = build_server()

    if args.transport == "stdio":
        mcp.run("stdio")
        return 0

    import anyio
    import uvicorn

    app = mcp.streamable_http_app(
        streamable_http_path="/mcp",
        json_response=args.json_response,
        stateless_http=args.stateless,
        host=args.host,
    )
    # uvicorn's default config logs access lines to stdout; keep everything on stderr.
    log_config = {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        },
    }
    config = uvicorn.Config(app, host=args.host, port=args.port, log_config=log_config, lifespan="on")
    anyio.run(uvicorn.Server(config).serve)
    return 0


if __name__ == "__main__":
    sys.exit(main())
