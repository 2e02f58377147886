#!/usr/bin/env python3
"""Notifier benchmark: a burst of failing runs, each notifying a local webhook receiver.

Measures, on a release build (HUSKY_BIN, default target/release/husky):
  1. the engine is never held up by notifications: runs/s of N failing runs that notify,
     against N failing runs that do not (both to the final row in the database);
  2. delivery: the time until every one of the N webhooks has arrived and every alert row is
     `delivered`, and the latency from a run's final row to its webhook (p50, p99);
  3. nothing lost: N requests received, N rows delivered, each with one attempt.

The receiver answers 200 after RECEIVER_DELAY_MS (default 5 ms, a quick remote endpoint).

Usage: scripts/bench/notify.py [N]   (N default 500; HUSKY_BIN, RECEIVER_DELAY_MS)
Needs only python3. Builds nothing: run `cargo build --release --locked` first.
"""

import http.server
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_client import burst as run_burst  # noqa: E402  (the burst of cli.sh)

def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    binary = os.environ.get("HUSKY_BIN") or os.path.join(root, "target", "release", "husky")
    delay = float(os.environ.get("RECEIVER_DELAY_MS", "5")) / 1000
    if not os.access(binary, os.X_OK):
        raise SystemExit(f"notify.py: no binary at {binary}; run cargo build --release --locked")

    got = {}
    lock = threading.Lock()

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            time.sleep(delay)
            run = json.loads(body).get("run_id")
            with lock:
                got[run] = time.time()
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"

    with tempfile.TemporaryDirectory(prefix="husky-bench-notify.") as tmp:
        yaml = os.path.join(tmp, "husky.yaml")
        with open(yaml, "w") as f:
            f.write(
                'version: "1"\njobs:\n'
                f"  loud:\n    description: fails and notifies\n    frequency: manual\n"
                f'    command: "exit 1"\n    concurrency: allow\n    notify:\n      on_failure: webhook:{url}\n'
                "  quiet:\n    description: fails silently\n    frequency: manual\n"
                '    command: "exit 1"\n    concurrency: allow\n    on_failure: ignore\n'
            )
        with open(os.path.join(tmp, "huskyd.yaml"), "w") as f:
            f.write('api:\n  addr: "127.0.0.1:0"\n')
        data = os.path.join(tmp, ".husky")
        subprocess.run([binary, "start", "-c", yaml, "-d", data], check=True, stdout=subprocess.DEVNULL)
        try:
            sock, db = os.path.join(data, "husky.sock"), os.path.join(data, "husky.db")
            quiet = run_burst(sock, db, "quiet", n)["runs_per_s"]
            t0 = time.time()
            loud = run_burst(sock, db, "loud", n)["runs_per_s"]
            con = sqlite3.connect("file:" + db + "?mode=ro", uri=True, timeout=5)
            while True:
                delivered = con.execute(
                    "SELECT count(*) FROM alerts WHERE status = 'delivered'"
                ).fetchone()[0]
                if delivered >= n:
                    break
                if time.time() - t0 > 600:
                    raise SystemExit(f"only {delivered} of {n} alerts delivered after 600 s")
                time.sleep(0.01)
            all_delivered = time.time() - t0
            ended = dict(
                con.execute(
                    "SELECT id, finished_at FROM job_runs WHERE job_name = 'loud'"
                ).fetchall()
            )
            attempts = con.execute("SELECT max(attempts), count(*) FROM alerts").fetchone()
            con.close()
            lat = sorted(
                (got[r] - parse(ended[r])) * 1000 for r in got if r in ended and ended[r]
            )
            pct = lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))], 1)
            print(
                json.dumps(
                    {
                        "runs": n,
                        "quiet_runs_per_s": quiet,
                        "notifying_runs_per_s": loud,
                        "all_delivered_s": round(all_delivered, 2),
                        "deliveries_per_s": round(n / all_delivered, 1),
                        "latency_ms_p50": pct(0.5),
                        "latency_ms_p99": pct(0.99),
                        "received": len(got),
                        "alert_rows": attempts[1],
                        "max_attempts": attempts[0],
                    },
                    indent=2,
                )
            )
        finally:
            subprocess.run([binary, "stop", "-c", yaml, "-d", data], stdout=subprocess.DEVNULL)
            server.shutdown()


def parse(ts):
    """A stored timestamp (2026-12-06T10:00:00.123Z) as seconds since the epoch."""
    from datetime import datetime, timezone

    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


if __name__ == "__main__":
    main()
