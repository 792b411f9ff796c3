#!/usr/bin/env bash
# What notifications cost the gate. 32 connections ask POST /v1/authorize for a call the gate holds (the
# support agent e-mailing an outside address after reading customer data), so every answer creates an
# approval and every approval a notification for the compliance office's receiver (a small Python server on
# loopback that answers 204). Run once with the notifier loop off (--notify-interval-ms 0) and once on: the
# difference in the gate's latency is what notifications cost it; the receiver's count says how many
# deliveries kept up.
# Usage: bench/http_authorize_notify.sh [seconds, default 15]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-15}"
receiver_pid=""
trap 'kill ${server:-} ${receiver_pid:-} 2>/dev/null || true; rm -rf "${data:-}"' EXIT
port_file=$(mktemp)
python3 - "$port_file" <<'PY' &
import http.server, sys, threading
count = 0
lock = threading.Lock()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global count
        self.rfile.read(int(self.headers.get("content-length", 0)))
        with lock:
            count += 1
        self.send_response(204); self.end_headers()
    def do_GET(self):
        body = str(count).encode()
        self.send_response(200); self.send_header("content-length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer.request_queue_size = 256
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
open(sys.argv[1], "w").write(str(server.server_address[1]))
server.serve_forever()
PY
receiver_pid=$!
for _ in $(seq 50); do [ -s "$port_file" ] && break; sleep 0.1; done
receiver="http://127.0.0.1:$(cat "$port_file")"
for interval in 0 500; do
  prepare="demo --no-serve"
  serve_args="--notify-interval-ms $interval"
  source bench/start_server.sh
  echo "bench-secret" > "$data/hook.secret"
  printf 'kind: Notifier\nid: bench\nurl: %s/hook\nsecret_file: %s\ntopics: [approval.requested]\n' \
    "$receiver" "$data/hook.secret" > "$data/notifier.yaml"
  WARRANT_TOKEN="$admin" "$bin" --server "$url" apply -f "$data/notifier.yaml" > /dev/null
  # The demo's own notifier points at the demo's inbox, gone with the demo: only the bench's receiver counts.
  WARRANT_TOKEN="$admin" "$bin" --server "$url" delete notifier compliance-office --reason bench > /dev/null
  curl -sf -H "Authorization: Bearer $WARRANT_TOKEN" -H 'content-type: application/json' \
    -d '{"agent": "support-agent", "tool": "crm-read", "session": "held", "args": {"customer_id": "c-1"}}' \
    "$url/v1/authorize" > /dev/null
  echo '{"agent": "support-agent", "tool": "send-email", "session": "held", "args": {"to": "someone@outside.example", "subject": "s", "body": "b"}}' > "$data/call.json"
  before=$(curl -sf "$receiver/")
  echo "== held calls, notifier loop every ${interval} ms (0: off): 32 connections, ${seconds}s"
  WRK_BODY="$data/call.json" wrk -t2 -c32 -d"${seconds}s" --latency -s bench/body.lua "$url/v1/authorize"
  approvals=$(WARRANT_TOKEN="$admin" "$bin" --server "$url" -o json approvals list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')
  during=$(( $(curl -sf "$receiver/") - before ))
  # Let the queue drain: stop when the count has not grown for 3 s (at most 120 s).
  last=-1; still=0; waited=0
  while [ $still -lt 3 ] && [ $waited -lt 120 ]; do
    sleep 1; waited=$((waited + 1)); now=$(( $(curl -sf "$receiver/") - before ))
    if [ "$now" -eq "$last" ]; then still=$((still + 1)); else still=0; fi; last=$now
  done
  echo "approvals created: $approvals; deliveries received during the run: $during, in all: $last (drained $((waited - 3)) s after the run)"
  kill -TERM $server; wait $server || true
  rm -rf "$data"
done
