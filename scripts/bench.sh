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
# (e2e_eps is the batch phase's end-to-end rate: insert + process + update of every event).
set -euo pipefail
cd "$(dirname "$0")/.."
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

# loadgen MODE CONCURRENCY BASE → its SUMMARY json
loadgen() {
  ./target/release/examples/loadgen --base-url "$3" --mode "$1" --concurrency "$2" --duration "$DURATION" \
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
  env "${env[@]}" ./target/release/pulseboard-server > "$WORK/server-$mode-$2.log" 2>&1 &
  server=$!; PIDS+=("$server")
  if [[ $mode == production ]]; then
    env "${env[@]}" ./target/release/pulseboard-worker > "$WORK/worker-$mode-$2.log" 2>&1 &
    worker=$!; PIDS+=("$worker")
  fi
  wait_http "$base"
  local single batch
  single=$(loadgen single "$CONCURRENCY" "$base")
  batch=$(loadgen batch "$BATCH_CONCURRENCY" "$base")
  echo "RESULT mode=$mode run=$2 single_eps=$(field "$single" accepted_events_per_s) p50_ms=$(field "$single" p50_ms)" \
       "p99_ms=$(field "$single" p99_ms) single_e2e_eps=$(field "$single" e2e_events_per_s)" \
       "batch_eps=$(field "$batch" accepted_events_per_s) batch_p99_ms=$(field "$batch" p99_ms)" \
       "e2e_eps=$(field "$batch" e2e_events_per_s) errors=$(field "$single" errors)/$(field "$batch" errors)" \
       "server_rss_mb=$(peak_rss_mb "$server") worker_rss_mb=$( [[ -n $worker ]] && peak_rss_mb "$worker" || echo in-server)"
  kill "$server" ${worker:+"$worker"} 2>/dev/null || true
  wait "$server" ${worker:+"$worker"} 2>/dev/null || true
  # Dropped at once: autovacuum cleaning a finished run's rows would load the next run.
  if [[ $mode == production ]]; then psql "$PULSEBOARD_TEST_DATABASE_URL" -qc "DROP DATABASE $db WITH (FORCE)"; fi
}

log "building release binaries"
cargo build --release -q -p pulseboard-server -p pulseboard-worker
cargo build --release -q -p pulseboard --example loadgen
start_services
log "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
for run in $(seq 1 "$RUNS"); do
  for mode in $MODES; do run_mode "$mode" "$run"; done
done
