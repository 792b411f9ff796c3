#!/usr/bin/env bash
# SQLite and PostgreSQL side by side, in one run, on this machine: batched ingest (1,000 events per request),
# single-event ingest at 64 connections, gate decisions over HTTP at 32 connections, then single-event ingest
# through two servers on one PostgreSQL database against one, and through two logs of one deployment (one
# server, each log its own schema and lock); and a raw binary COPY of the same event and
# content rows, for the ratio. Every answer is sent after the durable commit on both backends.
# Usage: bench/postgres.sh [seconds per run, default 10]
# Needs a PostgreSQL server the benchmark may create databases on: WARRANT_BENCH_POSTGRES (an admin URL,
# default postgres://warrant:warrant@localhost/postgres, the role .ci/run creates).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
admin="${WARRANT_BENCH_POSTGRES:-postgres://warrant:warrant@localhost/postgres}"
base="${admin%/*}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release -p warrant -q
bin=target/release/warrant
work=$(mktemp -d)
servers=()
cleanup() {
    for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for db in $(psql "$admin" -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'warrant_bench_%'"); do
        psql "$admin" -qc "DROP DATABASE $db WITH (FORCE)"
    done
    rm -rf "$work"
}
trap cleanup EXIT
python3 bench/make_events.py 1000 > "$work/batch.json"
python3 bench/make_events.py 1 > "$work/single.json"
echo '{"agent": "support-agent", "tool": "crm-read", "session": "bench", "args": {"customer_id": "c-1"}}' \
    > "$work/call.json"

# A fresh database on the server: its URL.
fresh_database() {
    local name="warrant_bench_$(date +%s%N)"
    psql "$admin" -qc "CREATE DATABASE $name"
    echo "$base/$name"
}

# start DIR [--database URL]: a release server on data directory DIR; sets $url and $admin_token.
start() {
    local dir=$1
    shift
    mkdir -p "$dir"
    "$bin" --data "$dir" "$@" serve --listen 127.0.0.1:0 > "$dir/server.out" 2>&1 &
    servers+=($!)
    for _ in $(seq 200); do grep -q "listening on" "$dir/server.out" 2>/dev/null && break; sleep 0.1; done
    url=$(sed -n 's/^warrant listening on \([^ ]*\).*/\1/p' "$dir/server.out")
    local token
    token=$(sed -n 's/^created admin token.*: //p' "$dir/server.out")
    if [ -n "$token" ]; then admin_token=$token; fi
}

agent_token() {
    curl -sf -H "Authorization: Bearer $admin_token" \
        -d "{\"name\":\"bench-$RANDOM\",\"role\":\"agent\",\"agents\":[\"support-agent\",\"onboarding-agent\",\"bench-agent\"]}" \
        "$1/v1/tokens" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}

# run NAME BODY CONNECTIONS PATH URL: one wrk run, its line in the table.
run() {
    local name=$1 body=$2 connections=$3 path=$4 target=$5 threads=2
    [ "$connections" -lt 4 ] && threads=1
    WRK_BODY="$body" wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency -s bench/body.lua \
        "$target$path" > "$work/wrk.out"
    local rps percentiles
    if grep -q "Non-2xx" "$work/wrk.out"; then
        echo "$name: some answers were not 200:" >&2
        grep "Non-2xx" "$work/wrk.out" >&2
    fi
    rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out")
    percentiles=$(sed -n 's/^percentiles: //p' "$work/wrk.out")
    printf '%-44s %12s req/s   %s\n' "$name" "$rps" "$percentiles"
}

# pair NAME LABEL_A URL_A TOKEN_A LABEL_B URL_B TOKEN_B: single events through two streams of 32 connections at
# once; the sum of their rates and each one's percentiles.
pair() {
    local name=$1
    WARRANT_TOKEN=$4 WRK_BODY="$work/single.json" wrk -t1 -c32 -d"${seconds}s" --latency -s bench/body.lua \
        "$3/v1/events" > "$work/a.out" &
    local first_wrk=$!
    WARRANT_TOKEN=$7 WRK_BODY="$work/single.json" wrk -t1 -c32 -d"${seconds}s" --latency -s bench/body.lua \
        "$6/v1/events" > "$work/b.out"
    wait "$first_wrk"
    local a b
    a=$(awk '/Requests\/sec/ {print $2}' "$work/a.out")
    b=$(awk '/Requests\/sec/ {print $2}' "$work/b.out")
    printf '%-44s %12.0f req/s   %s: %s | %s: %s\n' "$name" "$(python3 -c "print($a + $b)")" \
        "$2" "$(sed -n 's/^percentiles: //p' "$work/a.out")" "$5" "$(sed -n 's/^percentiles: //p' "$work/b.out")"
}

for backend in sqlite postgres; do
    echo "=== $backend"
    database=()
    [ "$backend" = postgres ] && database=(--database "$(fresh_database)")
    dir="$work/$backend"
    mkdir -p "$dir"
    "$bin" --data "$dir" "${database[@]}" demo --no-serve > /dev/null
    start "$dir" "${database[@]}"
    WARRANT_TOKEN=$(agent_token "$url")
    export WARRANT_TOKEN
    run "batched ingest (1,000 events/request, 4 conn)" "$work/batch.json" 4 /v1/events "$url"
    run "single-event ingest (64 conn)" "$work/single.json" 64 /v1/events "$url"
    run "POST /v1/authorize (32 conn)" "$work/call.json" 32 /v1/authorize "$url"
    echo "log size: $(curl -sf "$url/metrics" | awk '/^warrant_log_size/ {print $2}') events"
done

echo "=== PostgreSQL: two servers on one database against one"
pg_url=$(fresh_database)
one="$work/pg-one"
start "$one" --database "$pg_url"
WARRANT_TOKEN=$(agent_token "$url")
export WARRANT_TOKEN
run "one server, single events (64 conn)" "$work/single.json" 64 /v1/events "$url"
two="$work/pg-two"
mkdir -p "$two"
cp "$one/log.key" "$one/database" "$two/"
first_url=$url
start "$two"
second_url=$url
pair "two servers, single events (32 + 32 conn)" first "$first_url" "$WARRANT_TOKEN" second "$second_url" \
    "$WARRANT_TOKEN"
"$bin" --data "$one" verify > /dev/null && echo "the two servers' log verifies"

echo "=== PostgreSQL: two logs of one deployment on the first server (each log sequenced by its own lock)"
url=$first_url
first_token=$WARRANT_TOKEN
admin_token=$(curl -sf -H "Authorization: Bearer $admin_token" -d '{"id":"second"}' "$url/v1/logs" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["admin"]["token"])')
second_token=$(agent_token "$url")  # the second log's admin token makes it there: a token finds its log
pair "two logs, single events (32 + 32 conn)" "first log" "$url" "$first_token" "second log" "$url" \
    "$second_token"
"$bin" --data "$one" --log-id second verify > /dev/null && echo "the second log verifies on its own"

echo "=== raw binary COPY of the same event and content rows (PostgreSQL alone)"
psql "$pg_url" -qc "\\copy (SELECT * FROM content ORDER BY seq, field) TO '$work/content.bin' (FORMAT binary)"
psql "$pg_url" -qc "\\copy (SELECT * FROM events ORDER BY seq) TO '$work/events.bin' (FORMAT binary)"
rows=$(psql "$pg_url" -Atc "SELECT count(*) FROM events")
psql "$pg_url" -q <<'SQL'
CREATE TABLE raw_events (LIKE events INCLUDING ALL);
CREATE TABLE raw_content (LIKE content INCLUDING ALL);
SQL
start_ns=$(date +%s%N)
psql "$pg_url" -q -c "BEGIN" -c "\\copy raw_events FROM '$work/events.bin' (FORMAT binary)" \
    -c "\\copy raw_content FROM '$work/content.bin' (FORMAT binary)" -c "COMMIT"
end_ns=$(date +%s%N)
python3 -c "rows=$rows; s=($end_ns-$start_ns)/1e9; print(f'raw COPY: {rows:,} events with their content in {s:.2f} s = {rows/s:,.0f} events/s (one transaction, synchronous_commit on)')"
