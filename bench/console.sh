#!/usr/bin/env bash
# Console page latency: every page requested 50 times in a row by one signed-in person (curl), on the demo
# data, and optionally on a bigger log. Prints p50, p95 and p99 per page (budget: p95 <= 200 ms).
# Usage: bench/console.sh [events to add, default 0]   e.g. bench/console.sh 1000000
# The added events are decisions and tool calls of the demo's onboarding agent spread over 30 days, plus
# one 5,000-step trail (trace 0123...), ingested before the server starts.
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-0}"
rounds="${ROUNDS:-50}"
trap 'kill ${server:-} 2>/dev/null || true; rm -rf "${data:-}"' EXIT

cargo build --release -p warrant -q
bin=target/release/warrant
data=$(mktemp -d)
"$bin" --data "$data" demo --no-serve > /dev/null
python3 - "$data/events.ndjson" "$extra" <<'PY'
import json, sys, random, datetime
path, extra = sys.argv[1], int(sys.argv[2])
now = datetime.datetime.now(datetime.timezone.utc)
random.seed(7)
with open(path, "w") as out:
    trace = "0123456789abcdef0123456789abcdef"
    for i in range(5000):
        t = now - datetime.timedelta(minutes=30) + datetime.timedelta(milliseconds=i * 10)
        out.write(json.dumps({"time": t.isoformat().replace("+00:00", "Z"), "agent": "onboarding-agent",
            "kind": "tool_call" if i % 2 else "decision", "trace_id": trace, "span_id": "%016x" % (i + 1),
            "parent_span_id": None if i == 0 else "%016x" % 1,
            "attrs": {"tool": "kyc-lookup", "name": "verification_path", "outcome": "standard",
                      "segment": {"client_value": "low"}}}) + "\n")
    for i in range(extra):
        t = now - datetime.timedelta(seconds=random.randint(0, 30 * 86400))
        out.write(json.dumps({"time": t.isoformat().replace("+00:00", "Z"), "agent": "onboarding-agent",
            "kind": "decision" if i % 3 == 0 else "tool_call", "trace_id": "%032x" % (i // 10 + 1),
            "span_id": "%016x" % (i + 1),
            "attrs": {"tool": "crm-read", "name": "verification_path",
                      "outcome": random.choice(["standard", "enhanced", "expedited"]),
                      "segment": {"client_value": random.choice(["high", "low"])}}}) + "\n")
PY
"$bin" --data "$data" ingest "$data/events.ndjson" > /dev/null
"$bin" --data "$data" serve --listen 127.0.0.1:0 --monitor-interval-s 0 > "$data/server.out" 2>&1 &
server=$!
for _ in $(seq 200); do grep -q "listening on" "$data/server.out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^warrant listening on \([^ ]*\).*/\1/p' "$data/server.out")
admin=$(sed -n 's/^created admin token.*: //p' "$data/server.out")
curl -sf -c "$data/jar" -o /dev/null -d "token=$admin&next=/" "$url/login"
incident=$(curl -sf -H "Authorization: Bearer $admin" "$url/v1/incidents" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')
echo "== console pages: $(( $(WARRANT_TOKEN="$admin" "$bin" --server "$url" -o json log checkpoint 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])' || echo 0) )) events in the log (the demo plus $extra and a 5,000-step trail), $rounds requests each"
printf '%-34s %8s %8s %8s\n' page p50_ms p95_ms p99_ms
for page in / /approvals /approvals/inbox /agents /agents/onboarding-agent "/trails/0123456789abcdef0123456789abcdef" \
            /monitoring /incidents "/incidents/$incident" /risks /compliance /evidence "/compliance?csv=soa" /events/100; do
  for _ in $(seq "$rounds"); do
    curl -s -b "$data/jar" -o /dev/null -w '%{http_code} %{time_total}\n' "$url$page"
  done | python3 -c '
import sys
rows = [line.split() for line in sys.stdin]
bad = [code for code, _ in rows if code != "200"]
times = sorted(float(t) * 1000 for _, t in rows)
q = lambda p: times[min(len(times) - 1, int(round(p * (len(times) - 1))))]
print("%-34s %8.1f %8.1f %8.1f%s" % (sys.argv[1], q(0.5), q(0.95), q(0.99), "  (non-200: %d)" % len(bad) if bad else ""))
' "$page"
done
