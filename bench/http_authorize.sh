#!/usr/bin/env bash
# Policy decisions over HTTP with wrk: 32 connections asking POST /v1/authorize for the demo bank's support
# agent (a granted read, in a session). Each answer is sent after its policy_decision event is durable.
# Usage: bench/http_authorize.sh [seconds, default 15]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-15}"
trap 'kill ${server:-} 2>/dev/null || true; rm -rf "${data:-}"' EXIT
prepare="demo --no-serve"
source bench/start_server.sh
echo '{"agent": "support-agent", "tool": "crm-read", "session": "bench", "args": {"customer_id": "c-1"}}' > "$data/call.json"
echo "== POST /v1/authorize: 32 connections, ${seconds}s"
WRK_BODY="$data/call.json" wrk -t2 -c32 -d"${seconds}s" --latency -s bench/body.lua "$url/v1/authorize"
python3 bench/write_times.py "$url"
kill -TERM $server; wait $server || true
"$bin" --data "$data" verify
