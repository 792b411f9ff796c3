# Sourced by the wrk benchmarks: build the release binary, start a server on a fresh data directory (after
# running the command in $prepare, then ingesting the NDJSON file $preload, or $preload_events generated events,
# if set; $serve_args are passed to `warrant serve`) and set $url, $data, $server, $admin (the first admin
# token), $size (the log's size) and an agent token in $WARRANT_TOKEN. The caller's EXIT trap should stop
# $server and remove $data.
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release -p warrant -q
bin=target/release/warrant
data=$(mktemp -d)
if [ -n "${prepare:-}" ]; then "$bin" --data "$data" $prepare > /dev/null; fi
if [ "${preload_events:-0}" -gt 0 ]; then
  preload="$data/preload.ndjson"
  python3 bench/make_events.py --ndjson "$preload_events" > "$preload"
fi
if [ -n "${preload:-}" ]; then "$bin" --data "$data" ingest "$preload" > /dev/null; fi
if [ "${preload_events:-0}" -gt 0 ]; then rm -f "$preload"; fi
"$bin" --data "$data" serve --listen 127.0.0.1:0 ${serve_args:-} > "$data/server.out" 2>&1 &
server=$!
for _ in $(seq 100); do grep -q "listening on" "$data/server.out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^warrant listening on \([^ ]*\).*/\1/p' "$data/server.out")
admin=$(sed -n 's/^created admin token.*: //p' "$data/server.out")
WARRANT_TOKEN=$(curl -sf -H "Authorization: Bearer $admin" -d '{"name":"bench","role":"agent","agents":["support-agent","onboarding-agent","bench-agent"]}' "$url/v1/tokens" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
export WARRANT_TOKEN
size=$(curl -sf "$url/metrics" | awk '/^warrant_log_size/ {print $2}')
