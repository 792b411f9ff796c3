#!/usr/bin/env bash
# Evidence bundle export at scale: a data directory of N events (default 1,000,000, ingested through the
# CLI in batches), then `warrant evidence export` of the whole period to a .tar.gz and `warrant verify` of
# it, each under /usr/bin/time for the wall time and the peak resident memory.
# Usage: bench/export.sh [events]
set -euo pipefail
cd "$(dirname "$0")/.."
events="${1:-1000000}"
data="$(mktemp -d)"
trap 'rm -rf "$data"' EXIT
cargo build --release --quiet -p warrant
bin=target/release/warrant
python3 - "$events" > "$data/events.ndjson" <<'PY'
import json, sys
from datetime import datetime, timedelta, timezone
count = int(sys.argv[1])
start = datetime.now(timezone.utc) - timedelta(days=30)
for n in range(count):
    time = (start + timedelta(seconds=n * 30 * 86400 / count)).isoformat()
    kind = ("decision", "tool_call", "llm_call")[n % 3]
    attrs = {"decision": {"name": "verification_path", "outcome": "standard" if n % 7 else "enhanced"},
             "tool_call": {"tool": "kyc-lookup", "latency_ms": 42},
             "llm_call": {"model": "gpt-4.1", "input_tokens": 812, "output_tokens": 96, "latency_ms": 930}}[kind]
    event = {"time": time, "agent": f"agent-{n % 20}", "kind": kind, "trace_id": f"{n // 8 + 1:032x}",
             "span_id": f"{n + 1:016x}", "attrs": attrs}
    if kind == "tool_call":
        event["content"] = {"args": {"customer_id": f"c-{n}"}}
    print(json.dumps(event))
PY
echo "== ingest $events events"
/usr/bin/time -f "ingest: %e s, peak RSS %M KiB" "$bin" --data "$data/d" ingest "$data/events.ndjson" --batch 5000 >/dev/null
from=$(date -u -d '40 days ago' +%F); to=$(date -u -d 'tomorrow' +%F)
echo "== export"
/usr/bin/time -f "export: %e s, peak RSS %M KiB" "$bin" --data "$data/d" evidence export --from "$from" --to "$to" --out "$data/bundle.tar.gz" >/dev/null
ls -la "$data/bundle.tar.gz" | awk '{print "bundle size: " $5 " bytes"}'
echo "== verify"
key=$("$bin" --data "$data/d" log key)
/usr/bin/time -f "verify: %e s, peak RSS %M KiB" "$bin" verify "$data/bundle.tar.gz" --key "$key"
