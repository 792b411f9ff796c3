#!/usr/bin/env bash
# Latency under mixed load: four wrk streams at once against one release server on the demo data (plus an
# optional preloaded log), for the same number of seconds:
#   gate     16 connections  POST /v1/authorize (the support agent's granted read, in a session)
#   ingest   16 connections  POST /v1/events, one event each
#   proofs    4 connections  GET /v1/events/{random seq} (the event with its inclusion proof)
#   reports   2 people       each GETs a report at random (monitoring, the SoA, risk, alerts) every 0.5 s
# i.e. many agents deciding and logging, a few people reading the console and reports. Prints each
# stream's throughput and p50/p99/p99.9, and the server's RSS sampled every second.
# Usage: bench/mixed.sh [seconds, default 30] [events to preload, default 0]   e.g. bench/mixed.sh 60 10000000
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
extra="${2:-0}"
trap 'kill ${server:-} ${sampler:-} 2>/dev/null || true; rm -rf "${data:-}"' EXIT
preload_events="$extra"
prepare="demo --no-serve"
source bench/start_server.sh
echo "== mixed load for ${seconds}s on a log of $size events"
echo '{"agent": "support-agent", "tool": "crm-read", "session": "bench", "args": {"customer_id": "c-1"}}' > "$data/call.json"
python3 bench/make_events.py 1 > "$data/single.json"

( while kill -0 "$server" 2>/dev/null; do
    echo "$(date +%s) $(ps -o rss= -p "$server" 2>/dev/null || echo 0)"; sleep 1
  done ) > "$data/rss.txt" &
sampler=$!
WRK_BODY="$data/call.json" wrk -t1 -c16 -d"${seconds}s" -s bench/body.lua "$url/v1/authorize" > "$data/gate.out" &
WRK_BODY="$data/single.json" wrk -t1 -c16 -d"${seconds}s" -s bench/body.lua "$url/v1/events" > "$data/ingest.out" &
WRK_MAX_SEQ="$size" WRK_PATHS="/v1/events/{seq}" WARRANT_TOKEN="$admin" \
  wrk -t1 -c4 -d"${seconds}s" -s bench/get.lua "$url" > "$data/proofs.out" &
for person in 1 2; do
  ( reports=(/v1/monitor /v1/compliance/soa /v1/risk /v1/alerts); end=$((SECONDS + seconds))
    while [ $SECONDS -lt $end ]; do
      curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -H "Authorization: Bearer $admin" \
        "$url${reports[RANDOM % 4]}"
      sleep 0.5
    done ) > "$data/reports.$person" &
done
wait %3 %4 %5 %6 %7
sleep 2
kill "$sampler" 2>/dev/null || true
cat "$data"/reports.[12] | python3 -c '
import sys
rows = [line.split() for line in sys.stdin]
times = sorted(float(t) * 1000 for _, t in rows)
q = lambda p: times[min(len(times) - 1, int(p * len(times)))]
print("Requests/sec: %.2f" % (len(rows) / float(sys.argv[1])))
print("Non-2xx or 3xx responses: %d" % sum(code != "200" for code, _ in rows))
print("percentiles: p50 %.2fms p99 %.2fms p99.9 %.2fms max %.2fms" % (q(0.5), q(0.99), q(0.999), times[-1]))
' "$seconds" > "$data/reports.out"

printf '%-8s %10s %9s %9s %9s %9s %8s\n' stream req/s p50 p99 p99.9 max non-2xx
for stream in gate ingest proofs reports; do
  out="$data/$stream.out"
  rps=$(awk '/Requests\/sec/ {print $2}' "$out")
  bad=$(awk '/Non-2xx/ {print $5}' "$out")
  read -r p50 p99 p999 max < <(sed -n 's/^percentiles: p50 \(.*\) p99 \(.*\) p99.9 \(.*\) max \(.*\)$/\1 \2 \3 \4/p' "$out")
  printf '%-8s %10s %9s %9s %9s %9s %8s\n' "$stream" "$rps" "$p50" "$p99" "$p999" "$max" "${bad:-0}"
done
python3 - "$data/rss.txt" <<'PY'
import sys
rows = [line.split() for line in open(sys.argv[1]) if len(line.split()) == 2]
rss = [int(kib) / 1024 for _, kib in rows]
series = " ".join(f"{mb:.0f}" for mb in rss[::5])
print(f"server RSS (MB): start {rss[0]:.0f}, max {max(rss):.0f}, end {rss[-1]:.0f}; every 5 s: {series}")
PY
echo "log size after: $(curl -sf "$url/metrics" | awk '/^warrant_log_size/ {print $2}') events"
kill -TERM $server; wait $server || true
"$bin" --data "$data" verify > /dev/null && echo "verify: ok"
