#!/usr/bin/env bash
# HTTP ingest benchmark with wrk: batched (1,000 events per request) and single events (64 connections).
# Starts a release server on a fresh data directory; every answer is sent after the durable commit.
# Usage: bench/http_ingest.sh [seconds per run, default 15]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-15}"
trap 'kill ${server:-} 2>/dev/null || true; rm -rf "${data:-}"' EXIT
source bench/start_server.sh
python3 bench/make_events.py 1000 > "$data/batch.json"
python3 bench/make_events.py 1 > "$data/single.json"

echo "== batched: 1,000 events per request, 4 connections, ${seconds}s"
WRK_BODY="$data/batch.json" wrk -t1 -c4 -d"${seconds}s" --latency -s bench/body.lua "$url/v1/events" | tee "$data/batch.out"
rps=$(awk '/Requests\/sec/ {print $2}' "$data/batch.out")
python3 -c "print(f'batched ingest: {float(\"$rps\") * 1000:,.0f} events/s')"

echo "== single events: 64 connections, ${seconds}s"
WRK_BODY="$data/single.json" wrk -t2 -c64 -d"${seconds}s" --latency -s bench/body.lua "$url/v1/events" | tee "$data/single.out"
echo "log size: $(curl -sf "$url/metrics" | awk '/^warrant_log_size/ {print $2}') events"
python3 bench/write_times.py "$url"
kill -TERM $server; wait $server || true
"$bin" --data "$data" verify
