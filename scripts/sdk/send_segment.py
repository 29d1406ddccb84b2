#!/usr/bin/env python3
"""Send a fixed set of messages through the real segment-analytics-python SDK, or with
`--sdk rudder` through rudder-sdk-python (a fork with the same API; see requirements.txt).

    <sdk-dir>/venv/bin/python scripts/sdk/send_segment.py --host http://127.0.0.1:PORT --write-key KEY --run-id RUN [--sdk rudder]

Only host and write key are configured; everything else is the SDK's default (batching consumer
thread, 10 retries; Segment sends plain JSON, RudderStack gzip). Sends 3 `track` "sdk_event"
{"n": i, "run": RUN}, one `identify` {"plan": "pro"} and one `page` "Home", all with userId
"user-RUN" and messageId "RUN-<segment|rudder>-<i>" (i = 0..4), flushes and prints ONE JSON line
on stdout:
    {"sdk": ..., "version": ..., "sent": [{"message_id", "type", "event_name"}...], "errors": [...],
     "log_errors": [...]}
"errors" = what the SDK reported as lost (its on_error callback), plus timeout/exceptions;
"log_errors" = the SDK's ERROR log lines, which include attempts that a retry later fixed.
Exit 0 only if "errors" is empty; 1 on delivery errors, 124 on the hard timeout.
SDK log output goes to stderr (--verbose for debug logging).
If run by a Python without the SDK, re-executes itself with $PULSEBOARD_TEST_SDK_DIR/venv/bin/python
(default <repo>/target/sdk-clients), so `python3 scripts/sdk/<this>.py ...` works too.
"""
import argparse
import json
import logging
import os
import sys
import threading

# --sdk → (package, module, logger); chosen before the import below.
SDKS = {
    "segment": ("segment-analytics-python", "segment.analytics", "segment"),
    "rudder": ("rudder-sdk-python", "rudderstack.analytics", "rudderstack"),
}
FLAVOUR = sys.argv[sys.argv.index("--sdk") + 1] if "--sdk" in sys.argv[:-1] else "segment"
if FLAVOUR not in SDKS:
    sys.exit(f"--sdk must be one of {', '.join(SDKS)}")
SDK, MODULE, LOGGER = SDKS[FLAVOUR]


def reexec_in_venv(exc):
    """Not run by the SDK venv's Python: re-exec with $PULSEBOARD_TEST_SDK_DIR (else <repo>/target/sdk-clients)/venv."""
    sdk_dir = os.environ.get("PULSEBOARD_TEST_SDK_DIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "target", "sdk-clients")
    venv = os.path.realpath(os.path.join(sdk_dir, "venv"))
    venv_py = os.path.join(venv, "bin", "python")
    if os.path.exists(venv_py) and os.path.realpath(sys.prefix) != venv:
        os.execv(venv_py, [venv_py] + sys.argv)
    sys.exit(f"{SDK} not importable ({exc}); run scripts/sdk/install.sh <sdk-dir> and use <sdk-dir>/venv/bin/python or set PULSEBOARD_TEST_SDK_DIR")


try:
    import importlib

    analytics = importlib.import_module(MODULE)
    VERSION = importlib.import_module(MODULE + ".version").VERSION
except ImportError as e:
    reexec_in_venv(e)


class ErrorLog(logging.Handler):
    """Keeps the SDK's ERROR log lines (also logged for attempts that a retry later fixes)."""

    def __init__(self, lines):
        super().__init__(logging.ERROR)
        self.lines = lines

    def emit(self, record):
        self.lines.append(record.getMessage())
        print(f"{record.name}: {record.levelname}: {record.getMessage()}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", required=True)
    ap.add_argument("--write-key", required=True)
    ap.add_argument("--run-id", required=True)
    ap.add_argument("--timeout", type=float, default=30.0, help="hard timeout in seconds (default 30)")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--sdk", choices=sorted(SDKS), default="segment")
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

    logging.getLogger(LOGGER).addHandler(ErrorLog(log_errors))
    if a.verbose:
        logging.basicConfig(stream=sys.stderr, level=logging.DEBUG)

    def on_error(exc, batch):
        errors.append(f"on_error: {exc!r} ({len(batch)} messages)")

    client = analytics.Client(a.write_key, host=a.host, on_error=on_error, debug=a.verbose)
    user, run, n = f"user-{a.run_id}", a.run_id, 0

    def mid():
        nonlocal n
        m = f"{run}-{FLAVOUR}-{n}"
        n += 1
        return m

    for i in range(3):
        m = mid()
        client.track(user_id=user, event="sdk_event", properties={"n": i, "run": run}, message_id=m)
        sent.append({"message_id": m, "type": "track", "event_name": "sdk_event"})
    m = mid()
    client.identify(user_id=user, traits={"plan": "pro"}, message_id=m)
    sent.append({"message_id": m, "type": "identify", "event_name": None})
    m = mid()
    client.page(user_id=user, name="Home", message_id=m)
    sent.append({"message_id": m, "type": "page", "event_name": "Home"})

    try:
        client.shutdown()  # flush() (waits for the queue to drain, retries included) + join the consumer
    except Exception as e:  # noqa: BLE001
        errors.append(f"shutdown: {e!r}")
    done.set()
    report(1 if errors else 0)


if __name__ == "__main__":
    main()
