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
import logging
import sys

import sender

# --sdk → (package, module, logger); chosen before the import below.
SDKS = {
    "segment": ("segment-analytics-python", "segment.analytics", "segment"),
    "rudder": ("rudder-sdk-python", "rudderstack.analytics", "rudderstack"),
}
FLAVOUR = sys.argv[sys.argv.index("--sdk") + 1] if "--sdk" in sys.argv[:-1] else "segment"
if FLAVOUR not in SDKS:
    sys.exit(f"--sdk must be one of {', '.join(SDKS)}")
SDK, MODULE, LOGGER = SDKS[FLAVOUR]


try:
    import importlib

    analytics = importlib.import_module(MODULE)
    VERSION = importlib.import_module(MODULE + ".version").VERSION
except ImportError as e:
    sender.reexec_in_venv(SDK, e)


def main():
    ap = sender.arguments(__doc__.split("\n")[0])
    ap.add_argument("--sdk", choices=sorted(SDKS), default="segment")
    a = ap.parse_args()
    report = sender.Report(SDK, VERSION, LOGGER, a.timeout)
    errors, sent = report.errors, report.sent
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
    report.finish()


if __name__ == "__main__":
    main()
