#!/usr/bin/env python3
"""Send a fixed set of events through the real posthog Python SDK (see requirements.txt).

    <sdk-dir>/venv/bin/python scripts/sdk/send_posthog.py --host http://127.0.0.1:PORT --write-key KEY --run-id RUN

Only host and project API key are configured; everything else is the SDK's default (batching
consumer thread, no gzip, 3 retries, legacy "v0" capture mode -- POSTHOG_CAPTURE_MODE is removed
from the environment so the wire format cannot be flipped by accident). Sends 3 `capture`
"sdk_event" {"n": i, "run": RUN} and one `set` ($set {"plan": "pro"}; posthog-python 7.x has no
identify()), all with distinct_id "user-RUN". PostHog event ids must be UUIDs, so the explicit
ids are uuid5(NAMESPACE_URL, "pulseboard:RUN-posthog-<i>") (i = 0..3); each is checked against
the uuid the SDK returns. Flushes and prints ONE JSON line on stdout:
    {"sdk": ..., "version": ..., "sent": [{"message_id", "type", "event_name", "label"}...],
     "errors": [...], "log_errors": [...]}
"errors" = what the SDK reported as lost (its on_error callback), plus timeout/exceptions;
"log_errors" = the SDK's ERROR log lines. Exit 0 only if "errors" is empty; 1 on delivery
errors, 124 on the hard timeout. SDK log output goes to stderr (--verbose for debug logging).
If run by a Python without the SDK, re-executes itself with $PULSEBOARD_TEST_SDK_DIR/venv/bin/python
(default <repo>/target/sdk-clients), so `python3 scripts/sdk/<this>.py ...` works too.
"""
import argparse
import json
import logging
import os
import sys
import threading
import uuid

SDK = "posthog-python"


def reexec_in_venv(exc):
    """Not run by the SDK venv's Python: re-exec with $PULSEBOARD_TEST_SDK_DIR (else <repo>/target/sdk-clients)/venv."""
    sdk_dir = os.environ.get("PULSEBOARD_TEST_SDK_DIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "target", "sdk-clients")
    venv = os.path.realpath(os.path.join(sdk_dir, "venv"))
    venv_py = os.path.join(venv, "bin", "python")
    if os.path.exists(venv_py) and os.path.realpath(sys.prefix) != venv:
        os.execv(venv_py, [venv_py] + sys.argv)
    sys.exit(f"{SDK} not importable ({exc}); run scripts/sdk/install.sh <sdk-dir> and use <sdk-dir>/venv/bin/python or set PULSEBOARD_TEST_SDK_DIR")


os.environ.pop("POSTHOG_CAPTURE_MODE", None)
try:
    from posthog import Posthog
    from posthog.version import VERSION
except ImportError as e:
    reexec_in_venv(e)


class ErrorLog(logging.Handler):
    """Keeps the SDK's ERROR log lines."""

    def __init__(self, lines):
        super().__init__(logging.ERROR)
        self.lines = lines

    def emit(self, record):
        self.lines.append(record.getMessage())
        print(f"{record.name}: {record.levelname}: {record.getMessage()}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", required=True)
    ap.add_argument("--write-key", required=True, help="PostHog project API key (phc_...)")
    ap.add_argument("--run-id", required=True)
    ap.add_argument("--timeout", type=float, default=30.0, help="hard timeout in seconds (default 30)")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()

    errors, log_errors, sent, lock = [], [], [], threading.Lock()
    done = threading.Event()

    def report(rc):
        with lock:
            print(json.dumps({"sdk": SDK, "version": VERSION, "sent": sent, "errors": errors, "log_errors": log_errors}), flush=True)
        os._exit(rc)

    def watchdog():
        if not done.wait(a.timeout):
            errors.append(f"timeout: not delivered within {a.timeout:g}s")
            report(124)

    threading.Thread(target=watchdog, daemon=True).start()

    logging.getLogger("posthog").addHandler(ErrorLog(log_errors))

    def on_error(exc, batch):
        errors.append(f"on_error: {exc!r} ({len(batch)} events)")

    client = Posthog(a.write_key, host=a.host, on_error=on_error, debug=a.verbose)
    user, run = f"user-{a.run_id}", a.run_id

    def event_id(i):
        label = f"{run}-posthog-{i}"
        return label, str(uuid.uuid5(uuid.NAMESPACE_URL, "pulseboard:" + label))

    def record(i, typ, name, returned):
        label, eid = event_id(i)
        if returned != eid:
            errors.append(f"SDK did not keep the explicit uuid for {label}: sent {eid}, SDK returned {returned!r}")
        sent.append({"message_id": returned or eid, "type": typ, "event_name": name, "label": label})

    for i in range(3):
        r = client.capture("sdk_event", distinct_id=user, properties={"n": i, "run": run}, uuid=event_id(i)[1])
        record(i, "track", "sdk_event", r)
    r = client.set(distinct_id=user, properties={"plan": "pro"}, uuid=event_id(3)[1])
    record(3, "identify", "$set", r)

    try:
        client.flush(timeout_seconds=None)  # waits for the queue to drain (retries included)
        client.shutdown()
    except Exception as e:  # noqa: BLE001
        errors.append(f"shutdown: {e!r}")
    done.set()
    report(1 if errors else 0)


if __name__ == "__main__":
    main()
