#!/usr/bin/env bash
# The HTTP load benchmark: release binaries, real PostgreSQL + Redis (started like the tests'),
# examples/loadgen as the client, everything on this machine.
#
#   scripts/bench.sh            # production mode then embedded mode, one run each
#   RUNS=3 scripts/bench.sh     # three runs per mode (BENCHMARKS.md quotes the medians)
#   DURATION=20 CONCURRENCY=64 BATCH_CONCURRENCY=16 MODES=embedded scripts/bench.sh
#   MODES=ceiling scripts/bench.sh   # what the HTTP exchange alone allows on this machine (below)
#   MODES=poison scripts/bench.sh    # healthy clients' rate beside a client sending refused input
#   MODES=retention scripts/bench.sh # single-event p99 while 1,000,000 old events are purged
#   MODES=dashboard scripts/bench.sh # one dashboard refresh over 1,000,000 events, both stores
#   MODES=flood scripts/bench.sh     # a normal sender's latency beside one flooding past its rate
#   MODES=latency scripts/bench.sh   # single-event latency at steady rates, both modes (oha)
#
# Per mode it runs: single-event POSTs at CONCURRENCY for DURATION s, then three batch phases
# of 100 events per request, in an order that rotates from run to run: native batches, the same
# with a message_id on every event, and Segment's `/v1/batch` (gzip, write key, a messageId on
# every message, as the SDKs send); each waits until every accepted event is final. It prints
# one line per mode:
#   RESULT mode=… single_eps=… p50_ms=… p99_ms=… batch_eps=… e2e_eps=… server_rss_mb=… worker_rss_mb=…
#          single_cpu_us=… batch_cpu_us=… batch_mid_eps=… batch_mid_cpu_us=… segment_eps=…
#          segment_cpu_us=…
# and, before and after the runs, a SPEED line: a fixed Python loop's time, the machine's speed.
# (e2e_eps is the batch phase's end-to-end rate: insert + process + update of every event;
# *_cpu_us is each process's CPU time over the phase, load and drain, per accepted event:
# pg/server/worker/redis/loadgen, where the time goes; the server's share includes the
# phase's 8 registrations and 8 logins: 16 argon2 hashes, ≈ 0.4 s of CPU in all).
# SERVER_BIN_DIR=dir and LOADGEN=path run other builds, for A/B comparisons.
#
# The ceiling mode measures the HTTP exchange without the load generator's costs: wrk (two
# threads, CONCURRENCY connections, DURATION s; installed with apt-get when missing) against the
# production server, three ways: valid single-event POSTs (202, stored and queued), the same
# POST with an empty event_name (422, answered before any I/O: HTTP, JWT, JSON parsing and
# validation only), and GET /health. It prints
#   CEILING run=… valid_rps=… rejected_rps=… health_rps=… valid_server_us=… rejected_server_us=…
#           valid_idle_pct=… rejected_idle_pct=…
# (*_server_us: the server's CPU per request; *_idle_pct: the machine's idle CPU meanwhile).
#
# The poison mode measures what a hostile client costs everyone else (production mode):
# single-event POSTs from CONCURRENCY clients alone, then again while 8 more connections send
# events the API must refuse (U+0000 in event_name, `loadgen --poison`). It prints
#   POISON run=… alone_eps=… poisoned_eps=… ratio=… poison_rps=…
# (ratio: the healthy clients' accepted events/s with the poison over without; each phase waits
# until its accepted events are final, so neither inherits the other's backlog).
#
# The latency mode offers single-event POSTs at steady rates (LATENCY_RATES, default 2000 and
# 5000 a second) for LATENCY_DURATION s (default 30) from 64 connections, with oha (installed
# with cargo when missing), latency counted from each request's scheduled send time (it corrects
# for coordinated omission), the worker processing meanwhile; production then embedded mode.
# After each rate it waits until no event is left unfinished. One line per mode and rate:
#   LATENCY mode=… run=… rate=… achieved_rps=… p50_ms=… p99_ms=… p999_ms=… non_202=…
#           drain_s=… cpu_us=pg:…/server:…/worker:…/redis:… total_cpu_us=…
# (drain_s: seconds from the end of the load until the backlog was empty, 0 if it kept up;
# cpu_us: each process's CPU per accepted event over the load and the drain, oha excluded.)
#
# The flood mode measures what a sender flooding past its rate costs another sender (production
# mode, each sender limited to FLOOD_RATE events/s, burst the same): the normal sender posts
# single events at a steady 200/s for DURATION s (oha, latency from each request's scheduled
# time), alone and then while the flooder sends batches of 100 events from 32 connections as
# fast as it is answered, most of them 429. It prints
#   FLOOD run=… alone_p50_ms=… alone_p99_ms=… flooded_p50_ms=… flooded_p99_ms=… ratio=…
#         flood_rps=… flood_429_pct=… normal_errors=…
set -euo pipefail
cd "$(dirname "$0")/.."
SERVER_BIN_DIR=${SERVER_BIN_DIR:-./target/release} LOADGEN=${LOADGEN:-./target/release/examples/loadgen}
MODES=${MODES:-production embedded} RUNS=${RUNS:-1} DURATION=${DURATION:-20} CONCURRENCY=${CONCURRENCY:-64} BATCH_CONCURRENCY=${BATCH_CONCURRENCY:-16}
WORK=$(mktemp -d /tmp/pulseboard-bench.XXXXXX)
OPERATOR_TOKEN=bench-operator-token
PIDS=()
EXTRA_ENV=()  # more server and worker settings, for one mode

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

log() { echo "bench.sh: $*" >&2; }

start_services() {
  rm -f target/test-services.env
  scripts/test.sh --services-only > "$WORK/services.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 120); do [[ -s target/test-services.env ]] && break; sleep 0.5; done
  [[ -s target/test-services.env ]] || { cat "$WORK/services.log"; exit 1; }
  # shellcheck disable=SC1091
  source target/test-services.env
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_http() { for _ in $(seq 1 200); do curl -fs "$1/health" >/dev/null && return; sleep 0.1; done; log "server did not start"; exit 1; }

peak_rss_mb() { awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$1/status" 2>/dev/null || echo 0; }

# CPU time used so far, in ticks of 1/100 s: by process $1, by PostgreSQL (postmaster and
# backends), by Redis. 0 when the process is not found.
ticks() { [[ -n $1 ]] && awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
pg_ticks() {
  local main total=0
  main=$(head -1 "${PULSEBOARD_TEST_PG_DATA:-/nonexistent}/postmaster.pid" 2>/dev/null) || { echo 0; return; }
  for pid in $main $(pgrep -P "$main"); do total=$((total + $(ticks "$pid"))); done
  echo $total
}
redis_ticks() { ticks "$(redis-cli -p "${PULSEBOARD_TEST_REDIS_PORT:-0}" info server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p')"; }

# phase MODE CONCURRENCY BASE SERVER_PID WORKER_PID [LOADGEN ARG…] → SUMMARY json, then the
# CPU per event
phase() {
  local before after lg
  before="$(pg_ticks) $(ticks "$4") $(ticks "$5") $(redis_ticks)"
  lg=$( { TIMEFORMAT='%U %S'; time loadgen "$1" "$2" "$3" "${@:6}" > "$WORK/summary"; } 2>&1 )
  after="$(pg_ticks) $(ticks "$4") $(ticks "$5") $(redis_ticks)"
  cat "$WORK/summary"
  python3 - "$(cat "$WORK/summary")" "$before" "$after" "$lg" <<'PY'
import json, sys
events = max(json.loads(sys.argv[1])["accepted_events"], 1)
used = [b - a for a, b in zip(map(int, sys.argv[2].split()), map(int, sys.argv[3].split()))]
loadgen = sum(map(float, sys.argv[4].split())) * 100
names = ["pg", "server", "worker", "redis", "loadgen"]
print("/".join(f"{n}:{t * 10000 / events:.0f}" for n, t in zip(names, used + [loadgen])))
PY
}

# loadgen MODE CONCURRENCY BASE [EXTRA ARG…] → its SUMMARY json
loadgen() {
  "$LOADGEN" --base-url "$3" --mode "$1" --concurrency "$2" --duration "$DURATION" \
    --batch-size 100 "${@:4}" 2>>"$WORK/loadgen.log" | sed -n 's/^SUMMARY //p'
}

field() { python3 -c 'import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print("%.1f" % v if isinstance(v,(int,float)) else v)' "$1" "$2"; }

# start_processes production|embedded RUN NAME: a fresh database (production) and the release
# server (and worker) on a free port. Sets BASE, SERVER, WORKER ("" in embedded mode) and DB.
start_processes() {
  local mode=$1 port env=()
  port=$(free_port) BASE="http://127.0.0.1:$port" WORKER="" DB=""
  env=(PULSEBOARD_BIND="127.0.0.1:$port" RUST_LOG=warn PULSEBOARD_MAX_BACKLOG_EVENTS=10000000
       PULSEBOARD_OPERATOR_TOKEN="$OPERATOR_TOKEN")
  if [[ $mode == production ]]; then
    DB="pulseboard_$3_$2_$$"
    psql "$PULSEBOARD_TEST_DATABASE_URL" -qc "CREATE DATABASE $DB" >/dev/null
    env+=(DATABASE_URL="${PULSEBOARD_TEST_DATABASE_URL%/*}/$DB" REDIS_URL="$PULSEBOARD_TEST_REDIS_URL"
          PULSEBOARD_REDIS_QUEUE="$3_$2_$$" PULSEBOARD_JWT_SECRET=bench-secret-0123456789-0123456789-0123
          # The load comes from a few users: measure the server's capacity, not one sender's share.
          PULSEBOARD_SENDER_EVENTS_PER_SEC=0)
  else
    env+=(PULSEBOARD_DATA_DIR="$WORK/data-$2")
  fi
  env+=("${EXTRA_ENV[@]}")
  env "${env[@]}" "$SERVER_BIN_DIR/pulseboard-server" > "$WORK/server-$3-$mode-$2.log" 2>&1 &
  SERVER=$!; PIDS+=("$SERVER")
  WORKER_ENV=("${env[@]}")
  if [[ $mode == production ]]; then
    env "${env[@]}" "$SERVER_BIN_DIR/pulseboard-worker" > "$WORK/worker-$3-$mode-$2.log" 2>&1 &
    WORKER=$!; PIDS+=("$WORKER")
  fi
  wait_http "$BASE"
}

# Stops what start_processes started. The database is dropped at once: autovacuum cleaning a
# finished run's rows would load the next run.
stop_processes() {
  kill "$SERVER" ${WORKER:+"$WORKER"} 2>/dev/null || true
  wait "$SERVER" ${WORKER:+"$WORKER"} 2>/dev/null || true
  if [[ -n $DB ]]; then psql "$PULSEBOARD_TEST_DATABASE_URL" -qc "DROP DATABASE $DB WITH (FORCE)"; fi
}

run_mode() {  # run_mode production|embedded RUN
  local mode=$1 base server worker
  start_processes "$mode" "$2" bench
  base=$BASE server=$SERVER worker=$WORKER
  local single batch single_cpu batch_cpu batch_mid batch_mid_cpu segment segment_cpu
  { read -r single; read -r single_cpu; } < <(phase single "$CONCURRENCY" "$base" "$server" "$worker")
  # Later phases run on a bigger table: each run starts the three batch phases (native without
  # ids, native with ids, Segment protocol) at a different one, so the medians of three runs
  # favour none of them.
  local order=(batch batch_mid segment) i kind
  for (( i = 0; i < 3; i++ )); do
    kind=${order[$(( ($2 + i) % 3 ))]}
    case $kind in
      batch) { read -r batch; read -r batch_cpu; } < <(phase batch "$BATCH_CONCURRENCY" "$base" "$server" "$worker") ;;
      batch_mid) { read -r batch_mid; read -r batch_mid_cpu; } < <(phase batch "$BATCH_CONCURRENCY" "$base" "$server" "$worker" --message-ids) ;;
      segment) { read -r segment; read -r segment_cpu; } < <(phase segment "$BATCH_CONCURRENCY" "$base" "$server" "$worker") ;;
    esac
  done
  echo "RESULT mode=$mode run=$2 single_eps=$(field "$single" accepted_events_per_s) p50_ms=$(field "$single" p50_ms)" \
       "p99_ms=$(field "$single" p99_ms) single_e2e_eps=$(field "$single" e2e_events_per_s)" \
       "batch_eps=$(field "$batch" accepted_events_per_s) batch_p99_ms=$(field "$batch" p99_ms)" \
       "e2e_eps=$(field "$batch" e2e_events_per_s) errors=$(field "$single" errors)/$(field "$batch" errors)" \
       "server_rss_mb=$(peak_rss_mb "$server") worker_rss_mb=$( [[ -n $worker ]] && peak_rss_mb "$worker" || echo in-server)" \
       "single_cpu_us=$single_cpu batch_cpu_us=$batch_cpu" \
       "batch_mid_eps=$(field "$batch_mid" accepted_events_per_s) batch_mid_cpu_us=$batch_mid_cpu" \
       "segment_eps=$(field "$segment" accepted_events_per_s) segment_cpu_us=$segment_cpu" \
       "segment_errors=$(field "$segment" errors)"
  stop_processes
}

ensure_wrk() {
  command -v wrk >/dev/null && return
  [[ $EUID -eq 0 ]] || { log "wrk is missing and this is not root; install it: sudo apt-get install wrk"; exit 1; }
  log "installing wrk via apt-get (missing on this machine)"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk >/dev/null
}

# Idle and total CPU ticks of the whole machine so far.
machine_ticks() { awk '/^cpu / {print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }

# wrk_rps URL SERVER_PID [BODY] → "requests/s server-CPU-µs-per-request idle-%"; a POST when BODY
# is set.
wrk_rps() {
  local script="$WORK/wrk.lua" before machine_before out rps
  if [[ -n ${3:-} ]]; then
    printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.headers["Authorization"] = "Bearer %s"\nwrk.body = [[%s]]\n' "$TOKEN" "$3" > "$script"
  else
    : > "$script"
  fi
  before=$(ticks "$2") machine_before=$(machine_ticks)
  out=$(wrk -t2 -c"$CONCURRENCY" -d"${DURATION}s" -s "$script" "$1")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  python3 -c '
import sys
rps, ticks, secs, idle0, total0, idle1, total1 = map(float, sys.argv[1:])
print("%.0f %.1f %.0f" % (rps, ticks * 10000 / (rps * secs), 100 * (idle1 - idle0) / (total1 - total0)))' \
    "$rps" "$(($(ticks "$2") - before))" "$DURATION" $machine_before $(machine_ticks)
}

run_ceiling() {  # run_ceiling RUN
  ensure_wrk
  local base valid rejected health valid_us rejected_us valid_idle rejected_idle
  start_processes production "$1" ceiling
  base=$BASE
  local credentials='{"email":"ceiling@example.com","password":"CeilingPass123!"}'
  curl -fs -XPOST "$base/api/auth/register" -H 'content-type: application/json' -d "$credentials" >/dev/null
  TOKEN=$(curl -fs -XPOST "$base/api/auth/login" -H 'content-type: application/json' -d "$credentials" |
          python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
  local event='"event_type":"page_view","source":"web","session_id":"s-1","payload":{"user_id":"u-1","page":"/home"}'
  read -r valid valid_us valid_idle < <(wrk_rps "$base/api/v1/events" "$SERVER" "{\"event_name\":\"page_view\",$event}")
  read -r rejected rejected_us rejected_idle < <(wrk_rps "$base/api/v1/events" "$SERVER" "{\"event_name\":\"\",$event}")
  read -r health _ _ < <(wrk_rps "$base/health" "$SERVER")
  echo "CEILING run=$1 valid_rps=$valid rejected_rps=$rejected health_rps=$health" \
       "valid_server_us=$valid_us rejected_server_us=$rejected_us" \
       "valid_idle_pct=$valid_idle rejected_idle_pct=$rejected_idle"
  stop_processes
}

# The retention mode: p99 of single-event POSTs while a worker purges 1,000,000 old final events,
# against the p99 on the same table without a purge (production mode). Prints
#   RETENTION run=… calm_p99_ms=… purging_p99_ms=… ratio=… purged=…
run_retention() {  # run_retention RUN
  local calm purging db_url left
  start_processes production "$1" retention
  db_url="${PULSEBOARD_TEST_DATABASE_URL%/*}/$DB"
  psql "$db_url" -q -v ON_ERROR_STOP=1 \
    -c "INSERT INTO users (email, password_hash, created_at) VALUES ('old@example.com', 'x', now())" \
    -c "INSERT INTO events (user_id, task_id, event_name, event_type, payload, properties, status,
          attempts, created_at, updated_at, processed_at)
        SELECT (SELECT id FROM users WHERE email = 'old@example.com'), 'old-' || (g / 100),
               'page_view', 'engagement', '{\"page\": \"/home\", \"duration\": 45}',
               '{\"page\": \"/home\"}', 'processed', 1, now() - interval '30 days',
               now() - interval '30 days', now() - interval '30 days'
        FROM generate_series(1, 1000000) g" \
    -c "VACUUM ANALYZE events"
  calm=$(loadgen single "$CONCURRENCY" "$BASE")
  # The same worker again, now with a retention of one day: it purges from its start.
  kill "$WORKER"; wait "$WORKER" 2>/dev/null || true
  env "${WORKER_ENV[@]}" PULSEBOARD_RETENTION_DAYS=1 "$SERVER_BIN_DIR/pulseboard-worker" \
    > "$WORK/worker-retention-$1.log" 2>&1 &
  WORKER=$!; PIDS+=("$WORKER")
  purging=$(loadgen single "$CONCURRENCY" "$BASE")
  left=$(psql "$db_url" -Atc "SELECT count(*) FROM events e JOIN users u ON u.id = e.user_id WHERE u.email = 'old@example.com'")
  echo "RETENTION run=$1 calm_p99_ms=$(field "$calm" p99_ms) purging_p99_ms=$(field "$purging" p99_ms)" \
       "ratio=$(python3 -c 'import json,sys; a,b=(json.loads(x)["p99_ms"] for x in sys.argv[1:]); print("%.2f" % (b/a))' "$calm" "$purging")" \
       "calm_eps=$(field "$calm" accepted_events_per_s) purging_eps=$(field "$purging" accepted_events_per_s)" \
       "purged=$(( 1000000 - left ))"
  stop_processes
}

# The dashboard mode: 1,000,000 events of the last hour, 0.2 % of them failures (half
# validation errors, half failed), are written straight into the store, then the dashboard's data is fetched 20 times, one after another.
#   DASHBOARD mode=… run=… events=… refresh_p50_ms=… refresh_max_ms=…
DASHBOARD_EVENTS=1000000
run_dashboard() {  # run_dashboard production|embedded RUN
  local times
  start_processes "$1" "$2" dashboard
  if [[ $1 == production ]]; then
    psql "${PULSEBOARD_TEST_DATABASE_URL%/*}/$DB" -q -v ON_ERROR_STOP=1 \
      -c "INSERT INTO users (email, password_hash, created_at) VALUES ('dash@example.com', 'x', now())" \
      -c "INSERT INTO events (user_id, task_id, event_name, event_type, payload, status, attempts,
            created_at, updated_at)
          SELECT 1, 'dash-' || (g / 100), 'page_view', 'engagement', '{\"page\": \"/home\"}',
                 CASE g % 1000 WHEN 0 THEN 'validation_error' WHEN 500 THEN 'failed' ELSE 'processed' END,
                 1, now() - (g % 3600) * interval '1 second', now() - (g % 3600) * interval '1 second'
          FROM generate_series(1, $DASHBOARD_EVENTS) g" \
      -c "VACUUM ANALYZE events"
  else
    python3 - "$WORK/data-$2/pulseboard.db" "$DASHBOARD_EVENTS" <<'PY'
import datetime, sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=30)
now = datetime.datetime.now(datetime.timezone.utc)
stamp = lambda g: (now - datetime.timedelta(seconds=g % 3600)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
status = lambda g: {0: "validation_error", 500: "failed"}.get(g % 1000, "processed")
with db:
    db.execute("INSERT INTO users (email, password_hash, created_at) VALUES ('dash@example.com', 'x', ?)", (stamp(0),))
    db.executemany(
        "INSERT INTO events (user_id, task_id, event_name, event_type, payload, status, attempts, created_at, updated_at)"
        " VALUES (1, ?, 'page_view', 'engagement', '{\"page\": \"/home\"}', ?, 1, ?, ?)",
        ((f"dash-{g // 100}", status(g), stamp(g), stamp(g)) for g in range(1, int(sys.argv[2]) + 1)))
PY
  fi
  times=$(for _ in $(seq 1 20); do
    curl -fs -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $OPERATOR_TOKEN" "$BASE/dashboard/api/overview"
  done)
  echo "DASHBOARD mode=$1 run=$2 events=$DASHBOARD_EVENTS" \
       "$(python3 -c 'import statistics, sys; t = [float(x) * 1000 for x in sys.argv[1].split()]; print("refresh_p50_ms=%.1f refresh_max_ms=%.1f" % (statistics.median(t), max(t)))' "$times")"
  stop_processes
}

ensure_oha() {
  command -v oha >/dev/null && return
  log "installing oha 1.16.0 with cargo (missing on this machine; a few minutes)"
  cargo install -q --locked oha --version 1.16.0
}

# oha_json URL TOKEN BODY ARGS… → oha's JSON summary of POSTs of BODY with TOKEN.
oha_json() {
  local url=$1 token=$2 body=$3; shift 3
  oha --no-tui --output-format json -m POST -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' -d "$body" "$@" "$url"
}

# token_for BASE EMAIL → a bearer token of a freshly registered user.
token_for() {
  local credentials="{\"email\":\"$2\",\"password\":\"FloodPass123!\"}"
  curl -fs -XPOST "$1/api/auth/register" -H 'content-type: application/json' -d "$credentials" >/dev/null
  curl -fs -XPOST "$1/api/auth/login" -H 'content-type: application/json' -d "$credentials" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}

FLOOD_RATE=${FLOOD_RATE:-200}
run_flood() {  # run_flood RUN
  ensure_oha
  local normal flooder alone flooded flood flood_pid event batch
  EXTRA_ENV=(PULSEBOARD_SENDER_EVENTS_PER_SEC="$FLOOD_RATE" PULSEBOARD_SENDER_BURST_EVENTS="$FLOOD_RATE")
  start_processes production "$1" flood
  EXTRA_ENV=()
  normal=$(token_for "$BASE" normal@example.com) flooder=$(token_for "$BASE" flooder@example.com)
  event='{"event_name":"page_view","event_type":"engagement","source":"web","session_id":"s-1","payload":{"page":"/home","duration":45}}'
  batch="{\"events\":[$(python3 -c 'import sys; print(",".join([sys.argv[1]] * 100))' "$event")]}"
  alone=$(oha_json "$BASE/api/v1/events" "$normal" "$event" -z "${DURATION}s" -q 200 -c 16 --latency-correction)
  oha_json "$BASE/api/v1/events/batch" "$flooder" "$batch" -z "$(( DURATION + 4 ))s" -c 32 > "$WORK/flood.json" &
  flood_pid=$!
  sleep 2
  flooded=$(oha_json "$BASE/api/v1/events" "$normal" "$event" -z "${DURATION}s" -q 200 -c 16 --latency-correction)
  wait "$flood_pid" || true
  flood=$(cat "$WORK/flood.json")
  python3 - "$1" "$alone" "$flooded" "$flood" <<'PY'
import json, sys
run, alone, flooded, flood = sys.argv[1], *(json.loads(x) for x in sys.argv[2:])
ms = lambda r, p: r["latencyPercentiles"][p] * 1000
codes = flood["statusCodeDistribution"]
total = sum(codes.values())
errors = sum(n for code, n in flooded["statusCodeDistribution"].items() if code != "202")
print("FLOOD run=%s alone_p50_ms=%.1f alone_p99_ms=%.1f flooded_p50_ms=%.1f flooded_p99_ms=%.1f "
      "ratio=%.2f flood_rps=%.0f flood_429_pct=%.1f normal_errors=%d"
      % (run, ms(alone, "p50"), ms(alone, "p99"), ms(flooded, "p50"), ms(flooded, "p99"),
         ms(flooded, "p99") / ms(alone, "p99"), flood["summary"]["requestsPerSec"],
         100 * codes.get("429", 0) / max(total, 1), errors))
PY
  stop_processes
}

# backlog BASE → the server's count of unfinished events (its gauge on /metrics).
backlog() { curl -fs "$1/metrics" | awk '/^pulseboard_backlog_events / {print $2}'; }

LATENCY_RATES=${LATENCY_RATES:-2000 5000} LATENCY_DURATION=${LATENCY_DURATION:-30}
run_latency() {  # run_latency production|embedded RUN
  ensure_oha
  local token event rate before after result started drain
  start_processes "$1" "$2" latency
  token=$(token_for "$BASE" latency@example.com)
  event='{"event_name":"page_view","event_type":"engagement","source":"web","session_id":"s-1","payload":{"page":"/home","duration":45}}'
  for rate in $LATENCY_RATES; do
    before="$(pg_ticks) $(ticks "$SERVER") $(ticks "$WORKER") $(redis_ticks)"
    result=$(oha_json "$BASE/api/v1/events" "$token" "$event" -z "${LATENCY_DURATION}s" -q "$rate" -c 64 --latency-correction)
    started=$SECONDS
    # The backlog gauge is refreshed every second or so: poll until it reads 0.
    for _ in $(seq 1 600); do [[ $(backlog "$BASE") == 0 ]] && break; sleep 0.5; done
    drain=$(( SECONDS - started ))
    after="$(pg_ticks) $(ticks "$SERVER") $(ticks "$WORKER") $(redis_ticks)"
    python3 - "$1" "$2" "$rate" "$result" "$before" "$after" "$drain" <<'PY'
import json, sys
mode, run, rate, result, before, after, drain = sys.argv[1:]
r = json.loads(result)
ms = lambda p: r["latencyPercentiles"][p] * 1000
codes = r["statusCodeDistribution"]
accepted = max(codes.get("202", 0), 1)
used = [b - a for a, b in zip(map(int, before.split()), map(int, after.split()))]
per_event = [t * 10000 / accepted for t in used]
names = ["pg", "server", "worker", "redis"]
print("LATENCY mode=%s run=%s rate=%s achieved_rps=%.0f p50_ms=%.1f p99_ms=%.1f p999_ms=%.1f "
      "non_202=%d drain_s=%s cpu_us=%s total_cpu_us=%.0f"
      % (mode, run, rate, r["summary"]["requestsPerSec"], ms("p50"), ms("p99"), ms("p99.9"),
         sum(n for c, n in codes.items() if c != "202") + sum(r["errorDistribution"].values()),
         drain, "/".join("%s:%.0f" % (n, t) for n, t in zip(names, per_event)), sum(per_event)))
PY
  done
  stop_processes
}

run_poison() {  # run_poison RUN
  local alone poisoned poison_pid poison
  start_processes production "$1" poison
  alone=$(loadgen single "$CONCURRENCY" "$BASE")
  "$LOADGEN" --base-url "$BASE" --concurrency 8 --duration "$DURATION" --poison \
    > "$WORK/poison" 2>>"$WORK/loadgen.log" &
  poison_pid=$!
  poisoned=$(loadgen single "$CONCURRENCY" "$BASE")
  wait "$poison_pid" || true  # every poison request is refused: loadgen reports failure
  poison=$(sed -n 's/^SUMMARY //p' "$WORK/poison")
  echo "POISON run=$1 alone_eps=$(field "$alone" accepted_events_per_s)" \
       "poisoned_eps=$(field "$poisoned" accepted_events_per_s)" \
       "ratio=$(python3 -c 'import json,sys; a,b=(json.loads(x)["accepted_events_per_s"] for x in sys.argv[1:]); print("%.2f" % (b/a))' "$alone" "$poisoned")" \
       "poison_rps=$(python3 -c 'import json,sys; s=json.loads(sys.argv[1]); print("%.0f" % (s["errors"].get("422", 0) / s["duration_s"]))' "$poison")"
  stop_processes
}

log "building release binaries"
cargo build --release -q -p pulseboard-server -p pulseboard-worker
cargo build --release -q -p pulseboard --example loadgen
start_services
# The VM's speed drifts by tens of percent from hour to hour: a fixed CPU-bound loop, timed before
# and after the runs, says how fast the machine was (BENCHMARKS.md quotes it with each set).
speed_reference() {
  python3 -c 'import time; t = time.perf_counter(); s = 0
for i in range(10_000_000): s += i
print("%.2f" % (time.perf_counter() - t))'
}

log "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "SPEED before: python 10M-step loop $(speed_reference) s"
for run in $(seq 1 "$RUNS"); do
  for mode in $MODES; do
    case $mode in
      ceiling) run_ceiling "$run" ;;
      poison) run_poison "$run" ;;
      flood) run_flood "$run" ;;
      latency) run_latency production "$run"; run_latency embedded "$run" ;;
      retention) run_retention "$run" ;;
      dashboard) run_dashboard production "$run"; run_dashboard embedded "$run" ;;
      *) run_mode "$mode" "$run" ;;
    esac
  done
done
echo "SPEED after: python 10M-step loop $(speed_reference) s"
