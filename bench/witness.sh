#!/usr/bin/env bash
# The cost of witnessing on ingest: single-event ingest (64 connections) with two local witnesses
# (`warrant witness serve`) cosigning every checkpoint, against the same run without witnesses. Reports the
# checkpoints signed and cosigned per second and wrk's latency distribution for both.
# Usage: bench/witness.sh [seconds per run, default 15] [checkpoint interval ms, default 50]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-15}"
interval="${2:-50}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release -p warrant -q
bin=target/release/warrant
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
python3 bench/make_events.py 1 > "$work/single.json"

# Start `warrant serve` on $1 (a data directory); sets url and WARRANT_TOKEN.
serve() {
  "$bin" --data "$1" serve --listen 127.0.0.1:0 --checkpoint-interval-ms "$interval" --monitor-interval-s 0 > "$1/server.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do grep -q "listening on" "$1/server.out" 2>/dev/null && break; sleep 0.1; done
  url=$(sed -n 's/^warrant listening on \([^ ]*\).*/\1/p' "$1/server.out")
  local admin
  admin=$(sed -n 's/^created admin token.*: //p' "$1/server.out")
  WARRANT_TOKEN=$(curl -sf -H "Authorization: Bearer $admin" -d '{"name":"bench","role":"agent","agents":["support-agent","onboarding-agent","bench-agent"]}' "$url/v1/tokens" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  export WARRANT_TOKEN
}

# Checkpoints in $1's database signed after seq 0, and those carrying $2 cosignature lines or more.
count() {
  python3 - "$1/warrant.db" "$2" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = db.execute("SELECT cosignatures FROM checkpoints").fetchall()
need = int(sys.argv[2])
print(len(rows), sum(1 for (c,) in rows if len([l for l in c.split("\n") if l]) >= need))
PY
}

echo "== without witnesses: single events, 64 connections, ${seconds}s, a checkpoint every ${interval} ms"
mkdir "$work/plain"
serve "$work/plain"
WRK_BODY="$work/single.json" wrk -t2 -c64 -d"${seconds}s" --latency -s bench/body.lua "$url/v1/events" | tee "$work/plain.out"
read -r signed _ < <(count "$work/plain" 1)
echo "checkpoints signed: $signed ($(python3 -c "print(f'{$signed/$seconds:.1f}')")/s)"

echo "== with two witnesses cosigning every checkpoint"
mkdir "$work/witnessed"
log_key=$("$bin" --data "$work/witnessed" log key | tail -1)
for name in w1 w2; do
  vkey=$("$bin" witness keygen --name "bench.example/$name" --key "$work/$name.key")
  "$bin" witness serve --key "$work/$name.key" --log "$log_key" --listen 127.0.0.1:0 --state "$work/$name.db" > "$work/$name.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do grep -q "listening on" "$work/$name.out" 2>/dev/null && break; sleep 0.1; done
  witness_url=$(sed -n 's/.* listening on \(.*\)$/\1/p' "$work/$name.out")
  printf 'kind: Witness\nid: %s\nurl: %s\nkey: %s\n---\n' "$name" "$witness_url" "$vkey" >> "$work/witnesses.yaml"
done
"$bin" --data "$work/witnessed" apply -f "$work/witnesses.yaml" > /dev/null
serve "$work/witnessed"
WRK_BODY="$work/single.json" wrk -t2 -c64 -d"${seconds}s" --latency -s bench/body.lua "$url/v1/events" | tee "$work/witnessed.out"
sleep 1
curl -sf "$url/healthz"
read -r signed cosigned < <(count "$work/witnessed" 2)
echo "checkpoints signed: $signed ($(python3 -c "print(f'{$signed/$seconds:.1f}')")/s), cosigned by both witnesses: $cosigned ($(python3 -c "print(f'{$cosigned/$seconds:.1f}')")/s)"
for run in plain witnessed; do
  echo "$run: $(awk '/Requests\/sec/ {print $2 " req/s"}' "$work/$run.out"), $(grep '^percentiles:' "$work/$run.out")"
done
