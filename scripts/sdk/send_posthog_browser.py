#!/usr/bin/env python3
"""Drive posthog_page.html (real posthog-js in headless Chromium) like the other senders.

    python3 scripts/sdk/send_posthog_browser.py --host http://127.0.0.1:PORT --write-key KEY --run-id RUN

Substitutes the page's placeholders into a temp copy (posthog-js from
<sdk-dir>/node_modules/posthog-js/dist/array.js; <sdk-dir> = --sdk-dir, else $PULSEBOARD_TEST_SDK_DIR,
else <repo>/target/sdk-clients), runs
    /usr/bin/chromium --headless --no-sandbox --disable-gpu --user-data-dir=<tmp>
        --virtual-time-budget=10000 --dump-dom file://<tmp>/page.html
and prints the page's result as ONE JSON line on stdout:
    {"sdk": "posthog-js", "version", "sent": [{"message_id": <event uuid>, "type": "track",
     "event_name": "browser_event"}, x2], "errors": [...], "requests": [{"url", "status"}], "done"}
Exit 0 only if the page finished, both events got a uuid and every request to the host answered 200;
1 otherwise, 124 if Chromium did not finish within --timeout (30 s). Standard library only.
"""
import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SAFE = re.compile(r"^[A-Za-z0-9_.:/@+=-]*$")  # values go into JS string literals in the page


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", required=True)
    ap.add_argument("--write-key", required=True)
    ap.add_argument("--run-id", required=True)
    ap.add_argument("--sdk-dir", default=os.environ.get("PULSEBOARD_TEST_SDK_DIR") or str(HERE.parent.parent / "target" / "sdk-clients"))
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (page, profile, chromium.log) and print its path to stderr")
    a = ap.parse_args()

    result = {"sdk": "posthog-js", "version": None, "sent": [], "errors": [], "requests": [], "done": False}

    def finish(rc, err=None):
        if err:
            result["errors"].append(err)
        print(json.dumps(result), flush=True)
        sys.exit(rc)

    for name in ("host", "write_key", "run_id"):
        if not SAFE.match(getattr(a, name)):
            finish(2, f"--{name.replace('_', '-')} has characters not allowed in the page: {getattr(a, name)!r}")
    lib = Path(a.sdk_dir).resolve() / "node_modules" / "posthog-js" / "dist" / "array.js"
    if not lib.is_file():
        finish(2, f"{lib} not found; run scripts/sdk/install.sh {a.sdk_dir}")

    tmp = tempfile.mkdtemp(prefix="pulseboard-posthog-js.")
    try:
        page = (HERE / "posthog_page.html").read_text()
        for k, v in {"__POSTHOG_JS__": lib.as_uri(), "__API_HOST__": a.host, "__KEY__": a.write_key, "__RUN__": a.run_id}.items():
            page = page.replace(k, v)
        page_path = Path(tmp) / "page.html"
        page_path.write_text(page)
        cmd = [a.chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp}/profile",
               "--virtual-time-budget=10000", "--dump-dom", page_path.as_uri()]
        try:
            with open(Path(tmp) / "chromium.log", "wb") as errlog:
                p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=errlog, timeout=a.timeout)
        except subprocess.TimeoutExpired:
            finish(124, f"timeout: chromium did not finish within {a.timeout:g}s")
        m = re.search(r'<pre id="result">(.*?)</pre>', p.stdout.decode("utf-8", "replace"), re.S)
        if not m:
            finish(1, f"chromium exited {p.returncode} without a result element in the dumped DOM")
        text = html.unescape(m.group(1))
        try:
            result = json.loads(text)
        except ValueError:
            finish(1, f"page did not finish: result element holds {text[:200]!r}")
        ok = result.get("done") and not result.get("errors") and len(result.get("sent", [])) == 2 and all(s.get("message_id") for s in result["sent"])
        if not ok and not result.get("errors"):
            result.setdefault("errors", []).append("page incomplete: not done or an event without uuid")
        finish(0 if ok else 1)
    finally:
        if a.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
