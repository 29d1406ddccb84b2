"""What the Python senders share: re-running in the SDK venv, the common arguments, the SDK's
error log, the hard timeout and the one JSON line of the report. See send_segment.py,
send_posthog.py."""
import argparse
import json
import logging
import os
import sys
import threading


def reexec_in_venv(sdk, exc):
    """Not run by the SDK venv's Python: re-exec with $PULSEBOARD_TEST_SDK_DIR (else <repo>/target/sdk-clients)/venv."""
    sdk_dir = os.environ.get("PULSEBOARD_TEST_SDK_DIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "target", "sdk-clients")
    venv = os.path.realpath(os.path.join(sdk_dir, "venv"))
    venv_py = os.path.join(venv, "bin", "python")
    if os.path.exists(venv_py) and os.path.realpath(sys.prefix) != venv:
        os.execv(venv_py, [venv_py] + sys.argv)
    sys.exit(f"{sdk} not importable ({exc}); run scripts/sdk/install.sh <sdk-dir> and use <sdk-dir>/venv/bin/python or set PULSEBOARD_TEST_SDK_DIR")


def arguments(description, key_help=None):
    """A parser with the arguments every sender takes."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--host", required=True)
    ap.add_argument("--write-key", required=True, help=key_help)
    ap.add_argument("--run-id", required=True)
    ap.add_argument("--timeout", type=float, default=30.0, help="hard timeout in seconds (default 30)")
    ap.add_argument("--verbose", action="store_true")
    return ap


class ErrorLog(logging.Handler):
    """Keeps the SDK's ERROR log lines (also logged for attempts that a retry later fixes)."""

    def __init__(self, lines):
        super().__init__(logging.ERROR)
        self.lines = lines

    def emit(self, record):
        self.lines.append(record.getMessage())
        print(f"{record.name}: {record.levelname}: {record.getMessage()}", file=sys.stderr)


class Report:
    """What a sender sent and what went wrong; `finish()` prints it as one JSON line and exits.
    Past `timeout` seconds it finishes by itself with exit code 124."""

    def __init__(self, sdk, version, logger, timeout):
        self.sdk, self.version = sdk, version
        self.sent, self.errors, self.log_errors = [], [], []
        self._lock, self._done = threading.Lock(), threading.Event()
        logging.getLogger(logger).addHandler(ErrorLog(self.log_errors))
        threading.Thread(target=self._watchdog, args=(timeout,), daemon=True).start()

    def _watchdog(self, timeout):
        if not self._done.wait(timeout):
            self.errors.append(f"timeout: not delivered within {timeout:g}s")
            self._print_and_exit(124)

    def finish(self):
        self._done.set()
        self._print_and_exit(1 if self.errors else 0)

    def _print_and_exit(self, rc):
        with self._lock:
            line = {"sdk": self.sdk, "version": self.version, "sent": self.sent, "errors": self.errors, "log_errors": self.log_errors}
            print(json.dumps(line), flush=True)
        os._exit(rc)
