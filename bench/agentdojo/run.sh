#!/usr/bin/env bash
# Replay AgentDojo's ground-truth tool calls through warrant's gate and print, per suite, how many benign
# sessions were flagged and how many injected sessions were caught (and by a rule naming the injected value).
# Each suite runs on its own fresh data directory (one organisation per log) with the manifests in
# bench/agentdojo/manifests/. Usage: bench/agentdojo/run.sh [suite ...]   (default: all four)
set -euo pipefail
cd "$(dirname "$0")/../.."
suites=("${@:-workspace travel banking slack}")
read -r -a suites <<< "${suites[*]}"
bash bench/agentdojo/setup.sh
python=target/agentdojo-venv/bin/python
sessions=target/agentdojo/sessions.jsonl
[ -s "$sessions" ] || { mkdir -p target/agentdojo; "$python" bench/agentdojo/export.py --out "$sessions"; }
cargo build --release -p warrant -q
bin=target/release/warrant
work=$(mktemp -d)
trap 'kill ${server:-} 2>/dev/null || true; rm -rf "$work"' EXIT
for suite in "${suites[@]}"; do
  data="$work/$suite"
  "$bin" --data "$data" apply -f "bench/agentdojo/manifests/$suite.yaml" > /dev/null
  "$bin" --data "$data" serve --listen 127.0.0.1:0 --monitor-interval-s 0 --notify-interval-ms 0 > "$work/$suite.out" 2>&1 &
  server=$!
  for _ in $(seq 100); do grep -q "listening on" "$work/$suite.out" 2>/dev/null && break; sleep 0.1; done
  url=$(sed -n 's/^warrant listening on \([^ ]*\).*/\1/p' "$work/$suite.out")
  admin=$(sed -n 's/^created admin token.*: //p' "$work/$suite.out")
  python3 -c 'import json,sys; [sys.stdout.write(l) for l in open(sys.argv[1]) if json.loads(l)["suite"] == sys.argv[2]]' \
    "$sessions" "$suite" > "$work/$suite.jsonl"
  "$python" bench/agentdojo/replay.py --server "$url" --token "$admin" --sessions "$work/$suite.jsonl" \
    --json "target/agentdojo/$suite-decisions.json" | tail -n +3 | head -1 >> "$work/table"
  kill "$server"; wait "$server" 2>/dev/null || true
done
echo "| suite | benign | flagged | injected | caught | naming the value | goals with no calls |"
echo "|---|---|---|---|---|---|---|"
cat "$work/table"
