"""Write a JSON array of N realistic events (decisions, tool calls with content, LLM calls) to stdout, or with
--ndjson one event per line (streamed, for preloading logs of millions)."""
import json
import sys

ndjson = sys.argv[1] == "--ndjson"
count = int(sys.argv[-1])
events = []
for n in range(count):
    trace = f"{n // 8 + 1:032x}"
    span = f"{n + 1:016x}"
    if n % 3 == 0:
        event = {"time": "2026-11-26T09:30:00.123Z", "agent": "onboarding-agent", "kind": "decision",
                 "trace_id": trace, "span_id": span,
                 "attrs": {"name": "verification_path", "outcome": "enhanced" if n % 7 == 0 else "standard",
                           "segment": {"client_value": "high" if n % 5 == 0 else "low"}}}
    elif n % 3 == 1:
        event = {"time": "2026-11-26T09:30:00.456Z", "agent": "onboarding-agent", "kind": "tool_call",
                 "trace_id": trace, "span_id": span, "attrs": {"tool": "kyc-lookup", "latency_ms": 42},
                 "content": {"args": {"customer_id": f"c-{n}"}}}
    else:
        event = {"time": "2026-11-26T09:30:00.789Z", "agent": "onboarding-agent", "kind": "llm_call",
                 "trace_id": trace, "span_id": span,
                 "attrs": {"model": "gpt-4.1", "input_tokens": 812, "output_tokens": 96, "cost_usd": 0.0021,
                           "latency_ms": 930}}
    if ndjson:
        sys.stdout.write(json.dumps(event) + "\n")
    else:
        events.append(event)
if not ndjson:
    json.dump(events if count > 1 else events[0], sys.stdout)
