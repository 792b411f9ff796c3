#!/usr/bin/env bash
# OTLP/HTTP trace ingest with wrk: POST /v1/traces with protobuf bodies of 1,000 and of 100 agent spans (10 per
# trace), every request with fresh trace ids (bench/otlp.lua). Starts a release server on a fresh data directory
# and prints the growth of the log after each run. The bodies come from bench/make_spans.py, which needs
# opentelemetry-proto: target/pyenv (made by .ci/setup) or a python3 that has it.
# Usage: bench/http_otlp.sh [seconds per run, default 20]; WRK_THREADS (2) and WRK_CONNECTIONS (16) override.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
threads="${WRK_THREADS:-2}"
connections="${WRK_CONNECTIONS:-16}"
py=python3
if [ -x target/pyenv/bin/python ]; then py=target/pyenv/bin/python; fi
"$py" -c 'import opentelemetry.proto.trace.v1.trace_pb2' 2>/dev/null \
  || { echo "$py lacks opentelemetry-proto: run .ci/setup (it makes target/pyenv)" >&2; exit 1; }
trap 'kill ${server:-} 2>/dev/null || true; rm -rf "${data:-}"' EXIT
source bench/start_server.sh

log_size() { curl -sf "$url/metrics" | awk '/^warrant_log_size/ {print $2}'; }

for spans in 1000 100; do
  "$py" bench/make_spans.py --spans "$spans" --out "$data/spans-$spans.pb"
  echo "== $spans spans per request: $(stat -c %s "$data/spans-$spans.pb") bytes of protobuf," \
    "$threads threads, $connections connections, ${seconds}s"
  before=$(log_size)
  OTLP_BODY="$data/spans-$spans.pb" wrk -t"$threads" -c"$connections" -d"${seconds}s" --timeout 10s --latency \
    -s bench/otlp.lua "$url/v1/traces" | tee "$data/otlp-$spans.out"
  sleep 1 # requests still in flight when wrk stopped finish committing
  after=$(log_size)
  accepted=$(awk '/^otlp: .* spans accepted/ {print $2}' "$data/otlp-$spans.out")
  python3 -c "print(f'log grew by {$after - $before:,} events ({$before:,} -> {$after:,}),' \
    f' {($after - $before) / max($accepted, 1):.2f} per accepted span')"
done
kill -TERM $server; wait $server || true
"$bin" --data "$data" verify
