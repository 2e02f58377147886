#!/usr/bin/env python3
"""Helpers of scripts/bench/cli.sh (standard library only).

  cli_client.py burst SOCK DB JOB N [DEADLINE_S]
      POSTs /api/jobs/JOB/run N times over the daemon's unix socket (one connection per
      request, as the CLI does), then polls the database (read-only) until every created run's
      row is final. Prints one JSON object: runs, trigger_s, total_s, runs_per_s, statuses.
      The clock starts before the first POST and stops when the last row is final.

  cli_client.py idle PID SECONDS [INTERVAL_S]
      Samples /proc/PID over SECONDS: VmRSS (median and max, KiB), PSS and its anonymous and
      file parts (smaps_rollup, at the end), threads, and the CPU time used (utime + stime)
      over the window. Prints one JSON object.

  cli_client.py hyperfine FILE...
      Reads hyperfine --export-json files and prints, per command, the median, min, max and
      the number of runs in milliseconds (one JSON object per file).
"""

import http.client
import json
import os
import socket
import sqlite3
import statistics
import sys
import time

FINAL = ("SUCCESS", "FAILED", "CANCELLED", "SKIPPED")


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


def post(sock, path, body):
    conn = UnixConnection(sock)
    try:
        data = json.dumps(body).encode()
        conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        text = resp.read()
        if resp.status != 202:
            raise SystemExit(f"POST {path}: HTTP {resp.status}: {text[:200]!r}")
        return json.loads(text)
    finally:
        conn.close()


def burst(sock, db, job, n, deadline_s=120.0):
    """Posts n runs of job and waits until every row is final: the timings and statuses."""
    n = int(n)
    deadline_s = float(deadline_s)
    ids = []
    t0 = time.monotonic()
    for _ in range(n):
        answer = post(sock, f"/api/jobs/{job}/run", {"reason": "bench"})
        ids.extend(r["run_id"] for r in answer.get("runs", []))
    t_trigger = time.monotonic() - t0
    if len(ids) != n:
        raise SystemExit(f"expected {n} runs, the daemon created {len(ids)}")
    lo, hi = min(ids), max(ids)
    uri = "file:" + os.path.abspath(db) + "?mode=ro"
    con = sqlite3.connect(uri, uri=True, timeout=5)
    marks = ",".join("?" * len(FINAL))
    query = (
        "SELECT count(*) FROM job_runs WHERE id BETWEEN ? AND ? AND job_name = ? "
        f"AND status IN ({marks})"
    )
    done = 0
    while True:
        done = con.execute(query, (lo, hi, job, *FINAL)).fetchone()[0]
        elapsed = time.monotonic() - t0
        if done >= n:
            break
        if elapsed > deadline_s:
            raise SystemExit(f"deadline: only {done} of {n} runs final after {elapsed:.1f} s")
        time.sleep(0.005)
    total = time.monotonic() - t0
    statuses = dict(
        con.execute(
            "SELECT status, count(*) FROM job_runs WHERE id BETWEEN ? AND ? AND job_name = ? "
            "GROUP BY status",
            (lo, hi, job),
        ).fetchall()
    )
    con.close()
    return {
        "runs": n,
        "trigger_s": round(t_trigger, 4),
        "total_s": round(total, 4),
        "runs_per_s": round(n / total, 1),
        "statuses": statuses,
    }


def status_fields(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def kib(text):
    return int(text.split()[0])


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    # The command name may contain spaces: the fields after it start past the last ')'.
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


def rollup(pid):
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                out[parts[0][:-1]] = int(parts[1])
    return out


def idle(pid, seconds, interval=2.0):
    try:
        _idle(pid, seconds, interval)
    except (OSError, KeyError, ValueError):
        raise SystemExit(f"idle: process {pid} is gone")


def _idle(pid, seconds, interval):
    seconds, interval = float(seconds), float(interval)
    hz = os.sysconf("SC_CLK_TCK")
    rss = []
    t0 = time.monotonic()
    c0 = cpu_ticks(pid)
    while True:
        rss.append(kib(status_fields(pid)["VmRSS"]))
        left = seconds - (time.monotonic() - t0)
        if left <= 0:
            break
        time.sleep(min(interval, left))
    c1 = cpu_ticks(pid)
    elapsed = time.monotonic() - t0
    st = status_fields(pid)
    r = rollup(pid)
    print(
        json.dumps(
            {
                "seconds": round(elapsed, 1),
                "samples": len(rss),
                "rss_kib_median": statistics.median(rss),
                "rss_kib_max": max(rss),
                "rss_anon_kib": kib(st["RssAnon"]),
                "rss_file_kib": kib(st["RssFile"]),
                "pss_kib": r.get("Pss"),
                "pss_anon_kib": r.get("Pss_Anon"),
                "pss_file_kib": r.get("Pss_File"),
                "threads": int(st["Threads"]),
                "cpu_s": (c1 - c0) / hz,
                "cpu_s_per_min": round((c1 - c0) / hz * 60.0 / elapsed, 4),
            }
        )
    )


def hyperfine(*files):
    for path in files:
        with open(path) as f:
            data = json.load(f)
        for r in data["results"]:
            times = r["times"]
            print(
                json.dumps(
                    {
                        "command": r["command"],
                        "runs": len(times),
                        "median_ms": round(statistics.median(times) * 1000, 2),
                        "min_ms": round(min(times) * 1000, 2),
                        "max_ms": round(max(times) * 1000, 2),
                    }
                )
            )


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "burst" and len(args) in (4, 5):
        print(json.dumps(burst(*args)))
    elif cmd == "idle" and len(args) in (2, 3):
        idle(*args)
    elif cmd == "hyperfine" and args:
        hyperfine(*args)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
