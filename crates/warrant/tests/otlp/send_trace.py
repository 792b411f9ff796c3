#!/usr/bin/env python3
"""Sends one agent scenario to an OTLP/HTTP trace receiver with the real OpenTelemetry Python SDK.

    send_trace.py --endpoint http://127.0.0.1:PORT/v1/traces --token TOKEN \
                  --encoding {protobuf,gzip,json} [--tag STRING] [--processor {batch,simple}]

protobuf and gzip go through the SDK's own OTLPSpanExporter. The Python SDK has no OTLP/JSON
exporter, so json encodes the spans with the SDK's own encoder and turns the protobuf message into
OTLP/JSON as the spec asks (camelCase names, lowercase-hex ids, enums as integers).

Two traces: the onboarding agent's (trace_id) and the notify agent's (linked_trace_id), whose root
links to the queue-welcome span of the first. Prints one JSON object with the ids on stdout; exits
non-zero if any export failed (logs go to stderr).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import logging
import os
import sys
import threading
import time
import urllib.parse
from collections.abc import Sequence

from google.protobuf.json_format import MessageToDict
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import Link, SpanKind

# 8 spans in the onboarding trace, 2 in the notify trace.
EXPECTED_SPANS = 10
TIMEOUT_S = 10.0

log = logging.getLogger("send_trace")


class OTLPJSONSpanExporter(SpanExporter):
    """OTLP/HTTP with the JSON encoding: the SDK's protobuf message, rendered per the OTLP/JSON spec."""

    def __init__(self, endpoint: str, headers: dict[str, str], timeout: float = TIMEOUT_S):
        self._url = urllib.parse.urlsplit(endpoint)
        if self._url.scheme not in ("http", "https"):
            raise ValueError(f"unsupported endpoint scheme: {endpoint}")
        self._headers = dict(headers)
        self._timeout = timeout

    @staticmethod
    def to_json(spans: Sequence[ReadableSpan]) -> dict:
        body = MessageToDict(
            encode_spans(spans),
            preserving_proto_field_name=False,  # lowerCamelCase keys
            use_integers_for_enums=True,  # the spec: enums as integers, e.g. "kind": 3
        )
        # json_format writes bytes fields as base64; OTLP/JSON wants trace and span ids as hex.
        for resource_spans in body.get("resourceSpans", []):
            for scope_spans in resource_spans.get("scopeSpans", []):
                for span in scope_spans.get("spans", []):
                    _hex_ids(span, ("traceId", "spanId", "parentSpanId"))
                    for link in span.get("links", []):
                        _hex_ids(link, ("traceId", "spanId"))
        return body

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        data = json.dumps(self.to_json(spans), separators=(",", ":")).encode()
        conn_cls = http.client.HTTPSConnection if self._url.scheme == "https" else http.client.HTTPConnection
        conn = conn_cls(self._url.hostname, self._url.port, timeout=self._timeout)
        path = self._url.path or "/"
        if self._url.query:
            path += "?" + self._url.query
        try:
            conn.request("POST", path, body=data, headers={**self._headers, "Content-Type": "application/json"})
            resp = conn.getresponse()
            answer = resp.read()
        except OSError as error:
            log.error("JSON export to %s failed: %s", self._url.geturl(), error)
            return SpanExportResult.FAILURE
        finally:
            conn.close()
        if not 200 <= resp.status < 300:
            log.error("JSON export got HTTP %s %s: %s", resp.status, resp.reason, answer[:500].decode("utf-8", "replace"))
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _hex_ids(obj: dict, keys: Sequence[str]) -> None:
    for key in keys:
        if obj.get(key):
            obj[key] = base64.b64decode(obj[key]).hex()


class RecordingExporter(SpanExporter):
    """Wraps an exporter and records every batch's result, so a failed export fails the script."""

    def __init__(self, inner: SpanExporter):
        self._inner = inner
        self._lock = threading.Lock()
        self.batches: list[tuple[int, SpanExportResult]] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self._inner.export(spans)
        except Exception:  # the processors swallow exceptions: record them as failures
            log.exception("exporter raised")
            result = SpanExportResult.FAILURE
        with self._lock:
            self.batches.append((len(spans), result))
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


def make_exporter(encoding: str, endpoint: str, token: str) -> SpanExporter:
    headers = {"Authorization": f"Bearer {token}"}
    if encoding == "protobuf":
        return OTLPSpanExporter(endpoint=endpoint, headers=headers, timeout=TIMEOUT_S)
    if encoding == "gzip":
        return OTLPSpanExporter(endpoint=endpoint, headers=headers, timeout=TIMEOUT_S, compression=Compression.Gzip)
    if encoding == "json":
        return OTLPJSONSpanExporter(endpoint=endpoint, headers=headers)
    raise ValueError(encoding)


def pause() -> None:
    """A few milliseconds of 'work', so every span has a non-zero duration."""
    time.sleep(0.001 + int.from_bytes(os.urandom(1), "big") % 4 / 1000)


def jstr(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def run_scenario(tracer, session: str, tag: str | None) -> dict:
    def args(**kv) -> str:
        if tag:
            kv["tag"] = tag
        return jstr(kv)

    ids: dict[str, int] = {}

    def remember(name, span):
        ids[name] = span.get_span_context().span_id

    # Trace 1: the onboarding agent.
    with tracer.start_as_current_span(
        "invoke_agent onboarding-agent",
        kind=SpanKind.INTERNAL,
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.id": "onboarding-agent",
            "gen_ai.agent.name": "onboarding-agent",
            "gen_ai.conversation.id": session,
            "gen_ai.provider.name": "openai",
        },
    ) as root:
        remember("invoke_onboarding", root)
        trace_id = root.get_span_context().trace_id
        pause()

        with tracer.start_as_current_span(
            "chat gpt-4.1",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4.1",
                "gen_ai.response.model": "gpt-4.1",
                "gen_ai.provider.name": "openai",
                "gen_ai.usage.input_tokens": 1200,
                "gen_ai.usage.output_tokens": 300,
                "gen_ai.input.messages": jstr(
                    [{"role": "user", "parts": [{"type": "text", "content": "Open an account for client C-1042"}]}]
                ),
                "gen_ai.output.messages": jstr(
                    [
                        {
                            "role": "assistant",
                            "parts": [{"type": "text", "content": "Looking up client C-1042 to choose the verification path."}],
                            "finish_reason": "stop",
                        }
                    ]
                ),
            },
        ) as span:
            remember("chat", span)
            pause()

        with tracer.start_as_current_span(
            "execute_tool lookup-crm",
            kind=SpanKind.INTERNAL,
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "lookup-crm",
                "gen_ai.tool.call.id": "call_1",
                "gen_ai.tool.call.arguments": args(client_id="C-1042"),
                "gen_ai.tool.call.result": jstr({"name": "Jane Roe", "assets_eur": 2500000}),
                "warrant.data.source": "crm",
                "warrant.data.records": 1,
            },
        ) as span:
            remember("lookup_crm", span)
            pause()

        with tracer.start_as_current_span(
            "decide verification_path",
            kind=SpanKind.INTERNAL,
            attributes={
                "warrant.decision.name": "verification_path",
                "warrant.decision.outcome": "enhanced",
                "warrant.decision.segment.client_value": "high",
                "warrant.decision.reason": "assets above 1M EUR",
            },
        ) as span:
            remember("decide", span)
            pause()

        with tracer.start_as_current_span(
            "execute_tool start-kyc",
            kind=SpanKind.INTERNAL,
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "start-kyc",
                "gen_ai.tool.call.id": "call_2",
                "gen_ai.tool.call.arguments": args(client_id="C-1042", path="enhanced"),
            },
        ) as span:
            remember("start_kyc", span)
            pause()
            with tracer.start_as_current_span(
                "invoke_agent kyc-agent",
                kind=SpanKind.INTERNAL,
                attributes={
                    "gen_ai.operation.name": "invoke_agent",
                    "gen_ai.agent.id": "kyc-agent",
                    "gen_ai.agent.name": "kyc-agent",
                },
            ) as kyc:
                remember("invoke_kyc", kyc)
                pause()
                with tracer.start_as_current_span(
                    "execute_tool verify-identity",
                    kind=SpanKind.INTERNAL,
                    attributes={
                        "gen_ai.operation.name": "execute_tool",
                        "gen_ai.tool.name": "verify-identity",
                        "gen_ai.tool.call.id": "call_3",
                        "gen_ai.tool.call.arguments": args(client_id="C-1042", level="enhanced"),
                        "gen_ai.tool.call.result": jstr({"verified": True}),
                    },
                ) as span:
                    remember("verify_identity", span)
                    pause()
                pause()
            pause()

        root.set_attributes(
            {
                "warrant.outcome.name": "account_opened",
                "warrant.outcome.status": "succeeded",
                "warrant.outcome.decision": "verification_path",
            }
        )

        with tracer.start_as_current_span(
            "execute_tool queue-welcome",
            kind=SpanKind.INTERNAL,
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "queue-welcome",
                "gen_ai.tool.call.id": "call_4",
                "gen_ai.tool.call.arguments": args(client_id="C-1042"),
            },
        ) as span:
            remember("queue_welcome", span)
            queue_welcome_ctx = span.get_span_context()
            pause()
        pause()

    # Trace 2: a new root (empty context, so no parent), linked to the queue-welcome span.
    with tracer.start_as_current_span(
        "invoke_agent notify-agent",
        context=Context(),
        kind=SpanKind.INTERNAL,
        links=[Link(queue_welcome_ctx)],
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.id": "notify-agent",
            "gen_ai.agent.name": "notify-agent",
        },
    ) as notify:
        remember("invoke_notify", notify)
        linked_trace_id = notify.get_span_context().trace_id
        pause()
        with tracer.start_as_current_span(
            "execute_tool send-welcome-email",
            kind=SpanKind.INTERNAL,
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "send-welcome-email",
                "gen_ai.tool.call.id": "call_5",
                "gen_ai.tool.call.arguments": args(to="jane@example.com"),
            },
        ) as span:
            remember("send_welcome", span)
            pause()
        pause()

    assert linked_trace_id != trace_id
    return {
        "trace_id": format(trace_id, "032x"),
        "linked_trace_id": format(linked_trace_id, "032x"),
        "session": session,
        "spans": {
            name: format(ids[name], "016x")
            for name in (
                "invoke_onboarding",
                "chat",
                "lookup_crm",
                "decide",
                "start_kyc",
                "invoke_kyc",
                "verify_identity",
                "queue_welcome",
                "invoke_notify",
                "send_welcome",
            )
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True, help="full URL, e.g. http://127.0.0.1:PORT/v1/traces")
    parser.add_argument("--token", required=True, help="sent as 'Authorization: Bearer TOKEN'")
    parser.add_argument("--encoding", required=True, choices=("protobuf", "gzip", "json"))
    parser.add_argument("--tag", help="appended to the session id and to the tool arguments")
    parser.add_argument(
        "--processor",
        choices=("batch", "simple"),
        default="batch",
        help="batch: one export after force_flush (default); simple: one export per span as it ends",
    )
    opts = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="send_trace: %(levelname)s %(name)s: %(message)s")

    session = f"sess-{opts.tag}" if opts.tag else f"sess-{os.urandom(8).hex()}"
    recorder = RecordingExporter(make_exporter(opts.encoding, opts.endpoint, opts.token))
    if opts.processor == "batch":
        processor = BatchSpanProcessor(recorder, max_export_batch_size=512, schedule_delay_millis=60_000)
    else:
        processor = SimpleSpanProcessor(recorder)
    provider = TracerProvider(resource=Resource.create({"service.name": "onboarding-service"}))
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("warrant-e2e.send_trace", "1.0.0")

    ids = run_scenario(tracer, session, opts.tag)

    flushed = provider.force_flush(timeout_millis=int(TIMEOUT_S * 3000))
    provider.shutdown()

    failed = [n for n, result in recorder.batches if result is not SpanExportResult.SUCCESS]
    sent = sum(n for n, result in recorder.batches if result is SpanExportResult.SUCCESS)
    if not flushed:
        log.error("force_flush timed out")
    if failed:
        log.error("%d of %d export(s) failed (%d spans)", len(failed), len(recorder.batches), sum(failed))
    if sent != EXPECTED_SPANS:
        log.error("exported %d spans, expected %d", sent, EXPECTED_SPANS)
    print(json.dumps(ids))
    return 0 if flushed and not failed and sent == EXPECTED_SPANS else 1


if __name__ == "__main__":
    sys.exit(main())
