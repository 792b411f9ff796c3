#!/usr/bin/env bash
# Memory under many proof readers: a release server on the demo data plus N preloaded events, 64 connections
# asking for random events with their inclusion proofs for S seconds; prints wrk's figures and the server's
# RSS every second, during the run and 5 s after it (the issue budget: RSS <= 300 MB).
# Usage: bench/proofs.sh [seconds, default 20] [events to preload, default 1000000]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
extra="${2:-1000000}"
trap 'kill ${server:-} ${sampler:-} 2>/dev/null || true; rm -rf "${data:-}"' EXIT
preload_events="$extra"
prepare="demo --no-serve"
source bench/start_server.sh
echo "== 64 proof readers for ${seconds}s on a log of $size events"
( while kill -0 "$server" 2>/dev/null; do ps -o rss= -p "$server" 2>/dev/null || echo 0; sleep 1; done ) > "$data/rss.txt" &
sampler=$!
WRK_MAX_SEQ="$size" WRK_PATHS="/v1/events/{seq}" WARRANT_TOKEN="$admin" \
  wrk -t2 -c64 -d"${seconds}s" --latency -s bench/get.lua "$url"
sleep 5
kill "$sampler" 2>/dev/null || true
curl -sf "$url/metrics" | grep '^warrant_store_readers'
echo "server RSS every second (MB): $(awk '{printf "%d ", $1 / 1024}' "$data/rss.txt")"
