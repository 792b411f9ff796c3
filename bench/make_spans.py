"""Write an OTLP/HTTP protobuf ExportTraceServiceRequest of N agent spans, plus FILE.offsets for bench/otlp.lua.

Each trace is 10 spans: an invoke_agent root with chat and execute_tool children (OpenTelemetry GenAI
conventions), starting now, with millisecond durations. The server de-duplicates spans by (trace id, span id),
so wrk rewrites the trace ids of every request: FILE.offsets lists where each 16-byte trace id sits in the
serialized body, one "offset trace_index" line per span. The template's trace ids are a marker followed by the
trace index, found by scanning the body and checked by re-parsing it with other ids written in.
Usage: python3 bench/make_spans.py --spans 1000 --out FILE
"""
import argparse
import json
import random
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

SPANS_PER_TRACE = 10
MARKER = bytes.fromhex("9e3779b97f4a7c15") + b"WTID"  # 12 bytes; the last 4 are the trace index


def attr(key, value):
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def trace_spans(index, trace_id, start_ns, count, rng):
    """The spans of one trace: the root, then chat and execute_tool spans in turn, one after the other."""
    conversation = f"conv-{index:05d}"
    root_id = rng.randbytes(8)
    children = []
    now = start_ns + 2_000_000  # the first child starts 2 ms into the root
    for n in range(count - 1):
        span_id = rng.randbytes(8)
        if n % 2 == 0:
            duration = rng.randint(600, 1800) * 1_000_000
            question = f"Customer c-{index * 10 + n} asks why the card payment of 2026-11-{n + 1:02d} was declined."
            messages = json.dumps([
                {"role": "system", "parts": [{"type": "text", "content": "You are the bank's support agent."}]},
                {"role": "user", "parts": [{"type": "text", "content": question}]},
            ])
            children.append(Span(
                trace_id=trace_id, span_id=span_id, parent_span_id=root_id, name="chat gpt-4.1",
                kind=Span.SPAN_KIND_CLIENT, start_time_unix_nano=now, end_time_unix_nano=now + duration,
                attributes=[
                    attr("gen_ai.operation.name", "chat"),
                    attr("gen_ai.provider.name", "openai"),
                    attr("gen_ai.request.model", "gpt-4.1"),
                    attr("gen_ai.usage.input_tokens", rng.randint(400, 2400)),
                    attr("gen_ai.usage.output_tokens", rng.randint(20, 300)),
                    attr("gen_ai.input.messages", messages),
                ]))
        else:
            duration = rng.randint(20, 150) * 1_000_000
            customer = f"c-{index * 10 + n}"
            result = json.dumps({"customer_id": customer, "segment": "retail", "status": "active",
                                 "open_cases": rng.randint(0, 3), "risk": "low"})
            children.append(Span(
                trace_id=trace_id, span_id=span_id, parent_span_id=root_id, name="execute_tool lookup-crm",
                kind=Span.SPAN_KIND_INTERNAL, start_time_unix_nano=now, end_time_unix_nano=now + duration,
                attributes=[
                    attr("gen_ai.operation.name", "execute_tool"),
                    attr("gen_ai.tool.name", "lookup-crm"),
                    attr("gen_ai.tool.call.id", f"call_{rng.randbytes(6).hex()}"),
                    attr("gen_ai.tool.call.arguments", json.dumps({"customer_id": customer})),
                    attr("gen_ai.tool.call.result", result),
                ]))
        now += duration + rng.randint(1, 5) * 1_000_000
    root = Span(
        trace_id=trace_id, span_id=root_id, name="invoke_agent bench-agent", kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=start_ns, end_time_unix_nano=now + 1_000_000,
        attributes=[
            attr("gen_ai.operation.name", "invoke_agent"),
            attr("gen_ai.agent.id", "bench-agent"),
            attr("gen_ai.agent.name", "bench-agent"),
            attr("gen_ai.conversation.id", conversation),
        ])
    return [root] + children


def build(spans):
    rng = random.Random(spans)
    traces = (spans + SPANS_PER_TRACE - 1) // SPANS_PER_TRACE
    now = time.time_ns()
    scope = ScopeSpans(scope=InstrumentationScope(name="warrant-bench", version="1"))
    for index in range(traces):
        count = min(SPANS_PER_TRACE, spans - index * SPANS_PER_TRACE)
        # Traces started over the last minute, the later ones later.
        start = now - (traces - index) * 60_000_000_000 // traces
        scope.spans.extend(trace_spans(index, MARKER + index.to_bytes(4, "big"), start, count, rng))
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=Resource(attributes=[attr("service.name", "bench")]), scope_spans=[scope])])


def find_slots(body, traces):
    """(offset, trace index) of every trace id in the serialized body, found by scanning for the marker."""
    slots = []
    at = body.find(MARKER)
    while at >= 0:
        index = int.from_bytes(body[at + len(MARKER):at + 16], "big")
        # Span.trace_id is field 1, length-delimited: tag 0x0a, length 16.
        assert body[at - 2:at] == b"\x0a\x10" and index < traces, f"stray marker at {at}"
        slots.append((at, index))
        at = body.find(MARKER, at + 16)
    return slots


def check(body, slots, request):
    """Write random ids into the slots, re-parse, and expect every span to carry its trace's new id."""
    fresh = {index: random.randbytes(16) for _, index in slots}
    patched = bytearray(body)
    for offset, index in slots:
        patched[offset:offset + 16] = fresh[index]
    parsed = ExportTraceServiceRequest.FromString(bytes(patched))
    spans = [span for rs in parsed.resource_spans for ss in rs.scope_spans for span in ss.spans]
    assert len(spans) == len(slots), (len(spans), len(slots))
    for n, span in enumerate(spans):
        assert span.trace_id == fresh[n // SPANS_PER_TRACE], f"span {n}: trace id not where the offsets say"
    # Only the trace ids changed.
    for span, template in zip(spans, (s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans)):
        span.trace_id = template.trace_id
    assert parsed == request


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1000, help="spans in the request (10 per trace)")
    parser.add_argument("--out", required=True, help="body file; the offsets go to OUT.offsets")
    args = parser.parse_args()
    assert args.spans > 0
    request = build(args.spans)
    body = request.SerializeToString()
    slots = find_slots(body, (args.spans + SPANS_PER_TRACE - 1) // SPANS_PER_TRACE)
    assert len(slots) == args.spans, f"found {len(slots)} trace ids for {args.spans} spans"
    check(body, slots, request)
    with open(args.out, "wb") as out:
        out.write(body)
    with open(args.out + ".offsets", "w") as out:
        out.writelines(f"{offset} {index}\n" for offset, index in slots)
    traces = len({index for _, index in slots})
    print(f"{args.out}: {args.spans} spans in {traces} traces, {len(body)} bytes")


if __name__ == "__main__":
    main()
