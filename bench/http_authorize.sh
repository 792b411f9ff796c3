#!/usr/bin/env bash
# Policy decisions over HTTP with wrk: 32 connections asking POST /v1/authorize for the demo bank's support
# agent (a granted read, in a session). Each answer is sent after its policy_decision event is durable.
# Usage: bench/http_authorize.sh [seconds, default 15]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-15}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release -p warrant -q
bin=target/release/warrant
data=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$data"' EXIT
"$bin" --data "$data" demo --no-serve > /dev/null
"$bin" --data "$data" serve --listen 127.0.0.1:0 > "$data/server.out" 2>&1 &
server=$!
for _ in $(seq 100); do grep -q "listening on" "$data/server.out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^warrant listening on \([^ ]*\).*/\1/p' "$data/server.out")
admin=$(sed -n 's/^created admin token.*: //p' "$data/server.out")
export WARRANT_TOKEN=$(curl -sf -H "Authorization: Bearer $admin" -d '{"name":"bench","role":"agent"}' "$url/v1/tokens" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
echo '{"agent": "support-agent", "tool": "crm-read", "session": "bench", "args": {"customer_id": "c-1"}}' > "$data/call.json"
echo "== POST /v1/authorize: 32 connections, ${seconds}s"
WRK_BODY="$data/call.json" wrk -t2 -c32 -d"${seconds}s" --latency -s bench/body.lua "$url/v1/authorize"
kill -TERM $server; wait $server || true
"$bin" --data "$data" verify
