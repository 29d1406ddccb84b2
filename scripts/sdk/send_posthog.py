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
import os
import uuid

import sender

SDK = "posthog-python"


os.environ.pop("POSTHOG_CAPTURE_MODE", None)
try:
    from posthog import Posthog
    from posthog.version import VERSION
except ImportError as e:
    sender.reexec_in_venv(SDK, e)


def main():
    ap = sender.arguments(__doc__.split("\n")[0], key_help="PostHog project API key (phc_...)")
    a = ap.parse_args()
    report = sender.Report(SDK, VERSION, "posthog", a.timeout)
    errors, sent = report.errors, report.sent

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
    report.finish()


if __name__ == "__main__":
    main()
