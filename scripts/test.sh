#!/usr/bin/env bash
# Start throwaway PostgreSQL + Redis servers on free loopback ports, run the test
# suite against them, and tear everything down on exit (success, failure or Ctrl-C).
#
#   scripts/test.sh [extra cargo test args]   e.g. scripts/test.sh -p pulseboard-core
#   scripts/test.sh --services-only           start services, print `export ...` lines
#                                             (also in target/test-services.env), wait until killed
#
# Exported to the tests (DATABASE_URL / REDIS_URL are deliberately NOT exported: sqlx's
# compile-time macros would pick them up and make the build depend on a live server):
#   PULSEBOARD_TEST_DATABASE_URL  postgres://postgres@127.0.0.1:<port>/postgres
#   PULSEBOARD_TEST_REDIS_URL     redis://127.0.0.1:<port>/
#   PULSEBOARD_TEST_PG_BIN, PULSEBOARD_TEST_PG_DATA, PULSEBOARD_TEST_PG_PORT, PULSEBOARD_TEST_REDIS_PORT
#   PULSEBOARD_TEST_PG_START_CMD  full command line that (re)starts PostgreSQL, for `bash -c`
#   PULSEBOARD_TEST_SDK_DIR       real analytics SDKs (venv/, node_modules/) from scripts/sdk/install.sh
#
# Simulating a database outage from a test (all settings live in postgresql.conf, so a
# restart comes back on the same port/socket). As root (CI) the script used:
#   stop:  runuser -u postgres -- $PULSEBOARD_TEST_PG_BIN/pg_ctl -D $PULSEBOARD_TEST_PG_DATA stop -m fast
#   start: runuser -u postgres -- $PULSEBOARD_TEST_PG_BIN/pg_ctl -D $PULSEBOARD_TEST_PG_DATA -l <tmp>/postgres.log -w -t 30 start
# As a normal user the same commands without the `runuser -u postgres --` prefix.
# Easiest: `bash -c "$PULSEBOARD_TEST_PG_START_CMD"` (it blocks until the server accepts connections).
set -euo pipefail

START_TIME=$SECONDS
cd "$(dirname "$0")/.." && REPO_ROOT=$PWD
TMP_DIR="" PG_BIN="" PG_DATA="" PG_PORT="" REDIS_PORT="" PG_STARTED="" REDIS_STARTED="" ENV_FILE="" SLEEP_PID=""

log() { echo "test.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Run a command as the `postgres` user when we are root (PostgreSQL refuses to run as root).
as_pg() { if [[ $EUID -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

find_pg_bin() {  # newest /usr/lib/postgresql/<ver>/bin that contains initdb, or empty
  local d
  for d in /usr/lib/postgresql/*/bin; do if [[ -x $d/initdb ]]; then echo "$d"; fi; done | sort -V | tail -n1
}

# The servers the tests run against, plus Chromium for the dashboard's browser test.
ensure_packages() {
  PG_BIN=$(find_pg_bin)
  local missing=()
  [[ -n $PG_BIN ]] || missing+=(postgresql)
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null || missing+=(redis-server)
  [[ -x /usr/bin/chromium ]] || missing+=(chromium)
  (( ${#missing[@]} == 0 )) && return
  [[ $EUID -eq 0 ]] || die "missing Debian packages and not root; install them: sudo apt-get install ${missing[*]}"
  log "installing ${missing[*]} via apt-get (missing on this machine)"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
  PG_BIN=$(find_pg_bin)
  [[ -n $PG_BIN ]] || die "initdb still not found under /usr/lib/postgresql/*/bin after install"
}

free_ports() {  # print N distinct free loopback TCP ports
  if command -v python3 >/dev/null; then
    python3 -c 'import socket,sys
ss=[socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1",0))
print(*[s.getsockname()[1] for s in ss])' "$1"
  else  # fallback: random high ports nobody answers on
    local ports=() p
    while (( ${#ports[@]} < $1 )); do
      p=$(( 20000 + RANDOM % 30000 ))
      [[ " ${ports[*]} " == *" $p "* ]] && continue
      (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || ports+=("$p")
    done
    echo "${ports[@]}"
  fi
}

cleanup() {
  local rc=$?
  set +e  # best effort from here on: one failed step must not skip the others
  trap - EXIT INT TERM HUP
  [[ -n $SLEEP_PID ]] && kill "$SLEEP_PID" 2>/dev/null
  if [[ -n $PG_STARTED && -f $PG_DATA/postmaster.pid ]]; then  # a test may have stopped it already
    (cd "$TMP_DIR" && as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" stop -m immediate -w >/dev/null 2>&1) ||
      log "warning: pg_ctl stop failed"
  fi
  if [[ -n $REDIS_STARTED ]]; then
    redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    [[ -f $TMP_DIR/redis.pid ]] && kill "$(cat "$TMP_DIR/redis.pid")" 2>/dev/null  # fallback
  fi
  [[ -n $ENV_FILE ]] && rm -f "$ENV_FILE"
  [[ -n $TMP_DIR ]] && rm -rf "$TMP_DIR"
  log "finished with exit code $rc in $(( SECONDS - START_TIME ))s"
  exit "$rc"
}

start_postgres() {
  PG_DATA=$TMP_DIR/pgdata
  # --no-sync only skips the fsync of initdb's own files; the server keeps fsync=on.
  (cd "$TMP_DIR" && as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$TMP_DIR/initdb.log" 2>&1) ||
    { cat "$TMP_DIR/initdb.log" >&2; die "initdb failed"; }
  # Settings go into postgresql.conf (not -o flags) so a plain `pg_ctl start` restores them.
  cat >>"$PG_DATA/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$TMP_DIR'
max_connections = 300
shared_buffers = 128MB
EOF
  # `cd` first: postgres may not be allowed to read the caller's cwd (e.g. /root).
  PG_START_CMD="cd $(printf %q "$TMP_DIR") && "
  if [[ $EUID -eq 0 ]]; then PG_START_CMD+="runuser -u postgres -- "; fi
  PG_START_CMD+="$(printf '%q ' "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$TMP_DIR/postgres.log" -w -t 30)start"
  PG_STARTED=1
  bash -c "$PG_START_CMD" >/dev/null || { cat "$TMP_DIR/postgres.log" >&2; die "pg_ctl start failed"; }
  local i
  for (( i = 0; i < 30; i++ )); do "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && return; sleep 1; done
  cat "$TMP_DIR/postgres.log" >&2 || true
  die "PostgreSQL did not become ready on port $PG_PORT within 30s"
}

start_redis() {
  REDIS_STARTED=1
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --daemonize yes \
    --pidfile "$TMP_DIR/redis.pid" --dir "$TMP_DIR" --logfile "$TMP_DIR/redis.log"
  local i
  for (( i = 0; i < 100; i++ )); do [[ $(redis-cli -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]] && return; sleep 0.1; done
  cat "$TMP_DIR/redis.log" >&2 || true
  die "Redis did not answer PING on port $REDIS_PORT within 10s"
}

main() {
  local services_only=""
  [[ ${1:-} == --services-only ]] && { services_only=1; shift; }
  trap cleanup EXIT
  trap 'exit 130' INT; trap 'exit 143' TERM; trap 'exit 129' HUP  # signals -> exit -> cleanup

  ensure_packages
  TMP_DIR=$(mktemp -d "${TMPDIR:-/tmp}/pulseboard-test.XXXXXX")
  [[ $EUID -eq 0 ]] && chown postgres: "$TMP_DIR"  # postgres needs data dir + socket dir
  read -r PG_PORT REDIS_PORT < <(free_ports 2)
  [[ -n ${REDIS_PORT:-} ]] || die "could not pick free ports"
  start_postgres
  start_redis
  # The real analytics SDKs (Python venv + node_modules) the protocol tests send through; fast when current.
  "$REPO_ROOT/scripts/sdk/install.sh" "$REPO_ROOT/target/sdk-clients" || die "SDK client install failed"

  local exports=(
    "PULSEBOARD_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/postgres"
    "PULSEBOARD_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/"
    "PULSEBOARD_TEST_PG_BIN=$PG_BIN" "PULSEBOARD_TEST_PG_DATA=$PG_DATA" "PULSEBOARD_TEST_PG_PORT=$PG_PORT"
    "PULSEBOARD_TEST_PG_START_CMD=$PG_START_CMD" "PULSEBOARD_TEST_REDIS_PORT=$REDIS_PORT"
    "PULSEBOARD_TEST_SDK_DIR=$REPO_ROOT/target/sdk-clients"
  )
  local e v
  for e in "${exports[@]}"; do export "${e?}"; done

  if [[ -n $services_only ]]; then
    mkdir -p "$REPO_ROOT/target"
    ENV_FILE=$REPO_ROOT/target/test-services.env
    local q="'\\''"  # single-quote the values so the lines can be pasted/sourced as-is
    for e in "${exports[@]}"; do v=${e#*=}; echo "export ${e%%=*}='${v//\'/$q}'"; done | tee "$ENV_FILE"
    log "services running (env also in $ENV_FILE); Ctrl-C / kill $$ to stop and clean up"
    sleep infinity & SLEEP_PID=$!
    wait "$SLEEP_PID"  # `wait` (unlike a foreground sleep) is interrupted by signals
    exit 0
  fi

  local rc=0
  # tests/loadgen.rs runs the load generator as a client; `cargo test` builds examples only as
  # test harnesses, so build the runnable one first.
  cargo build -p pulseboard --example loadgen || rc=$?
  (( rc == 0 )) && { cargo test --workspace --all-targets "$@" || rc=$?; }
  (( rc == 0 )) && { cargo test --workspace --doc || rc=$?; }
  exit "$rc"
}

main "$@"
