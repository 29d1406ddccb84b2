#!/usr/bin/env bash
# The HTTP load benchmark: release binaries, real PostgreSQL + Redis (started like the tests'),
# examples/loadgen as the client, everything on this machine.
#
#   scripts/bench.sh            # production mode then embedded mode, one run each
#   RUNS=3 scripts/bench.sh     # three runs per mode (BENCHMARKS.md quotes the medians)
#   DURATION=20 CONCURRENCY=64 BATCH_CONCURRENCY=16 MODES=embedded scripts/bench.sh
#
# Per mode it runs: single-event POSTs at CONCURRENCY for DURATION s, then batch POSTs of 100
# events; each waits until every accepted event is final. It prints one line per mode:
#   RESULT mode=… single_eps=… p50_ms=… p99_ms=… batch_eps=… e2e_eps=… server_rss_mb=… worker_rss_mb=…
#          single_cpu_us=… batch_cpu_us=…
# and, before and after the runs, a SPEED line: a fixed Python loop's time, the machine's speed.
# (e2e_eps is the batch phase's end-to-end rate: insert + process + update of every event;
# *_cpu_us is each process's CPU time over the phase, load and drain, per accepted event:
# pg/server/worker/redis/loadgen, where the time goes; the server's share includes the
# phase's 8 registrations and 8 logins: 16 argon2 hashes, ≈ 0.4 s of CPU in all).
# SERVER_BIN_DIR=dir and LOADGEN=path run other builds, for A/B comparisons.
set -euo pipefail
cd "$(dirname "$0")/.."
SERVER_BIN_DIR=${SERVER_BIN_DIR:-./target/release} LOADGEN=${LOADGEN:-./target/release/examples/loadgen}
MODES=${MODES:-production embedded} RUNS=${RUNS:-1} DURATION=${DURATION:-20} CONCURRENCY=${CONCURRENCY:-64} BATCH_CONCURRENCY=${BATCH_CONCURRENCY:-16}
WORK=$(mktemp -d /tmp/pulseboard-bench.XXXXXX)
PIDS=()

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

# phase MODE CONCURRENCY BASE SERVER_PID WORKER_PID → SUMMARY json, then the CPU per event
phase() {
  local before after lg
  before="$(pg_ticks) $(ticks "$4") $(ticks "$5") $(redis_ticks)"
  lg=$( { TIMEFORMAT='%U %S'; time loadgen "$1" "$2" "$3" > "$WORK/summary"; } 2>&1 )
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

# loadgen MODE CONCURRENCY BASE → its SUMMARY json
loadgen() {
  "$LOADGEN" --base-url "$3" --mode "$1" --concurrency "$2" --duration "$DURATION" \
    --batch-size 100 2>>"$WORK/loadgen.log" | sed -n 's/^SUMMARY //p'
}

field() { python3 -c 'import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print("%.1f" % v if isinstance(v,(int,float)) else v)' "$1" "$2"; }

run_mode() {  # run_mode production|embedded RUN
  local mode=$1 port base server worker="" env=()
  port=$(free_port) base="http://127.0.0.1:$port"
  env=(PULSEBOARD_BIND="127.0.0.1:$port" RUST_LOG=warn PULSEBOARD_MAX_BACKLOG_EVENTS=10000000)
  if [[ $mode == production ]]; then
    local db="pulseboard_bench_$2_$$"
    psql "$PULSEBOARD_TEST_DATABASE_URL" -qc "CREATE DATABASE $db" >/dev/null
    env+=(DATABASE_URL="${PULSEBOARD_TEST_DATABASE_URL%/*}/$db" REDIS_URL="$PULSEBOARD_TEST_REDIS_URL"
          PULSEBOARD_REDIS_QUEUE="bench_$2_$$" PULSEBOARD_JWT_SECRET=bench-secret-0123456789-0123456789-0123)
  else
    env+=(PULSEBOARD_DATA_DIR="$WORK/data-$2")
  fi
  env "${env[@]}" "$SERVER_BIN_DIR/pulseboard-server" > "$WORK/server-$mode-$2.log" 2>&1 &
  server=$!; PIDS+=("$server")
  if [[ $mode == production ]]; then
    env "${env[@]}" "$SERVER_BIN_DIR/pulseboard-worker" > "$WORK/worker-$mode-$2.log" 2>&1 &
    worker=$!; PIDS+=("$worker")
  fi
  wait_http "$base"
  local single batch single_cpu batch_cpu
  { read -r single; read -r single_cpu; } < <(phase single "$CONCURRENCY" "$base" "$server" "$worker")
  { read -r batch; read -r batch_cpu; } < <(phase batch "$BATCH_CONCURRENCY" "$base" "$server" "$worker")
  echo "RESULT mode=$mode run=$2 single_eps=$(field "$single" accepted_events_per_s) p50_ms=$(field "$single" p50_ms)" \
       "p99_ms=$(field "$single" p99_ms) single_e2e_eps=$(field "$single" e2e_events_per_s)" \
       "batch_eps=$(field "$batch" accepted_events_per_s) batch_p99_ms=$(field "$batch" p99_ms)" \
       "e2e_eps=$(field "$batch" e2e_events_per_s) errors=$(field "$single" errors)/$(field "$batch" errors)" \
       "server_rss_mb=$(peak_rss_mb "$server") worker_rss_mb=$( [[ -n $worker ]] && peak_rss_mb "$worker" || echo in-server)" \
       "single_cpu_us=$single_cpu batch_cpu_us=$batch_cpu"
  kill "$server" ${worker:+"$worker"} 2>/dev/null || true
  wait "$server" ${worker:+"$worker"} 2>/dev/null || true
  # Dropped at once: autovacuum cleaning a finished run's rows would load the next run.
  if [[ $mode == production ]]; then psql "$PULSEBOARD_TEST_DATABASE_URL" -qc "DROP DATABASE $db WITH (FORCE)"; fi
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
  for mode in $MODES; do run_mode "$mode" "$run"; done
done
echo "SPEED after: python 10M-step loop $(speed_reference) s"
