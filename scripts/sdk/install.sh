#!/usr/bin/env bash
# Install the real analytics SDKs (pinned in requirements.txt / package-lock.json beside this
# script) that the protocol-compatibility tests send through:
#
#   scripts/sdk/install.sh <dest-dir>      e.g. scripts/sdk/install.sh target/sdk-clients
#
# creates <dest>/venv (python3 -m venv, requirements.txt installed), <dest>/node_modules
# (`npm ci` of package.json + package-lock.json copied into <dest>), and <dest>/contract-venv
# (contract-requirements.txt: schemathesis, the outside reader of /openapi.json; a venv of its
# own, since its pins and the SDKs' need not agree). Idempotent: skips all work when
# <dest>/.stamp holds the sha256 of requirements.txt + package.json + package-lock.json and both
# installs are present. Missing Debian packages (python3, python3-venv, nodejs, npm) are installed
# with apt-get when running as root. Quiet on success; on failure prints the install log.
set -euo pipefail

log() { echo "install.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $# -eq 1 && -n $1 ]] || die "usage: $0 <dest-dir>"
SRC=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1" && DEST=$(cd "$1" && pwd)
INPUTS=("$SRC/requirements.txt" "$SRC/contract-requirements.txt" "$SRC/package.json" "$SRC/package-lock.json")
WANT=$(cat "${INPUTS[@]}" | sha256sum | cut -d' ' -f1)

is_current() {
  [[ -f $DEST/.stamp && $(<"$DEST/.stamp") == "$WANT" && -x $DEST/venv/bin/python && -d $DEST/node_modules &&
     -x $DEST/contract-venv/bin/schemathesis ]]
}
is_current && exit 0

# One installer at a time per dest (parallel test runs); the winner's work satisfies the others.
exec 9>"$DEST/.install.lock"
flock 9
is_current && exit 0

py_ok() {  # usable for `python3 -m venv` with pip (Debian splits venv/ensurepip into python3-venv)
  command -v "$1" >/dev/null 2>&1 &&
    "$1" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 9))' >/dev/null 2>&1
}
pick_python() {
  PY=""
  local c
  for c in python3 /usr/bin/python3; do if py_ok "$c"; then PY=$c; return; fi; done
}
node_major() { node -e 'console.log(process.versions.node.split(".")[0])' 2>/dev/null || echo 0; }

ensure_packages() {
  local missing=()
  pick_python
  [[ -n $PY ]] || missing+=(python3 python3-venv)
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  if (( ${#missing[@]} > 0 )); then
    [[ $EUID -eq 0 ]] || die "missing Debian packages and not root; install them: sudo apt-get install ${missing[*]}"
    log "installing ${missing[*]} via apt-get (missing on this machine)"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
    pick_python
    [[ -n $PY ]] || die "no python3 with a working venv module even after installing python3-venv"
    command -v npm >/dev/null 2>&1 || die "npm still missing after apt-get install"
  fi
  (( $(node_major) >= 18 )) || die "node $(node --version 2>/dev/null) is too old: the SDKs need node >= 18 (20 recommended)"
}

ensure_packages
LOG=$DEST/install.log
: >"$LOG"
fail() { cat "$LOG" >&2; die "$* (log above, also in $LOG)"; }
rm -f "$DEST/.stamp"

rm -rf "$DEST/venv"
"$PY" -m venv "$DEST/venv" >>"$LOG" 2>&1 || fail "$PY -m venv $DEST/venv failed"
"$DEST/venv/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$SRC/requirements.txt" >>"$LOG" 2>&1 ||
  fail "pip install -r $SRC/requirements.txt failed"

rm -rf "$DEST/contract-venv"
"$PY" -m venv "$DEST/contract-venv" >>"$LOG" 2>&1 || fail "$PY -m venv $DEST/contract-venv failed"
"$DEST/contract-venv/bin/python" -m pip install --disable-pip-version-check --no-input -q \
  -r "$SRC/contract-requirements.txt" >>"$LOG" 2>&1 || fail "pip install -r $SRC/contract-requirements.txt failed"

cp "$SRC/package.json" "$SRC/package-lock.json" "$DEST/"
# --ignore-scripts: nothing the senders use needs an install script (the only ones are core-js's
# banner and msgpackr-extract's optional native build for rudder-sdk-node's unused Redis queue).
(cd "$DEST" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >>"$LOG" 2>&1 || fail "npm ci in $DEST failed"

echo "$WANT" >"$DEST/.stamp"
