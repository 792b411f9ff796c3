#!/usr/bin/env bash
# HTTP ingest benchmark with wrk: batched (1,000 events per request) and single events (64 connections).
# Starts a release server on a fresh data directory; every answer is sent after the durable commit.
# Usage: bench/http_ingest.sh [seconds per run, default 15]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-15}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release -p warrant -q
bin=target/release/warrant
data=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$data"' EXIT
"$bin" --data "$data" serve --listen 127.0.0.1:0 > "$data/server.out" 2>&1 &
server=$!
for _ in $(seq 100); do grep -q "listening on" "$data/server.out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^warrant listening on \([^ ]*\).*/\1/p' "$data/server.out")
admin=$(sed -n 's/^created admin token.*: //p' "$data/server.out")
export WARRANT_TOKEN=$(curl -sf -H "Authorization: Bearer $admin" -d '{"name":"bench","role":"agent"}' "$url/v1/tokens" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
python3 bench/make_events.py 1000 > "$data/batch.json"
python3 bench/make_events.py 1 > "$data/single.json"

echo "== batched: 1,000 events per request, 4 connections, ${seconds}s"
WRK_BODY="$data/batch.json" wrk -t1 -c4 -d"${seconds}s" --latency -s bench/body.lua "$url/v1/events" | tee "$data/batch.out"
rps=$(awk '/Requests\/sec/ {print $2}' "$data/batch.out")
python3 -c "print(f'batched ingest: {float(\"$rps\") * 1000:,.0f} events/s')"

echo "== single events: 64 connections, ${seconds}s"
WRK_BODY="$data/single.json" wrk -t2 -c64 -d"${seconds}s" --latency -s bench/body.lua "$url/v1/events" | tee "$data/single.out"
echo "log size: $(curl -sf "$url/metrics" | awk '/^warrant_log_size/ {print $2}') events"
kill -TERM $server; wait $server || true
"$bin" --data "$data" verify
