#!/usr/bin/env python3
"""Loopback latency of one API route and the daemon's memory under that load.

    api.py URL PID [--requests N] [--clients C] [--token T]

Each client keeps one HTTP/1.1 connection open and sends N/C sequential GETs of URL; every
response is read whole and must be 200. Prints the latency percentiles over all requests, the
throughput, the daemon's CPU time per request (from /proc/PID/stat: stable on a busy machine,
where latencies are not), and its VmRSS/VmHWM (from /proc/PID/status) before and after.
"""
import argparse
import os
import http.client
import statistics
import threading
import time
import urllib.parse


def rss(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024.0
    return out


def cpu(pid):
    """The daemon's user + system CPU seconds so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def client(url, n, token, times, errors):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    path = u.path + (f"?{u.query}" if u.query else "")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    mine = []
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        body = r.read()
        mine.append(time.perf_counter() - t0)
        if r.status != 200 or not body:
            errors.append(r.status)
    conn.close()
    times.extend(mine)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("pid", type=int)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=1)
    ap.add_argument("--token", default="")
    a = ap.parse_args()
    before = rss(a.pid)
    # Warm-up: the reader connection, page cache, allocator.
    client(a.url, 50, a.token, [], [])
    times, errors = [], []
    per = a.requests // a.clients
    threads = [threading.Thread(target=client, args=(a.url, per, a.token, times, errors)) for _ in range(a.clients)]
    t0 = time.perf_counter()
    cpu0 = cpu(a.pid)
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    cpu_ms = (cpu(a.pid) - cpu0) * 1000 / max(1, per * a.clients)
    after = rss(a.pid)
    if errors:
        raise SystemExit(f"{len(errors)} requests failed: {sorted(set(errors))}")
    times.sort()
    q = statistics.quantiles(times, n=100)
    ms = lambda s: f"{s * 1000:.2f} ms"
    print(f"{a.clients} client(s), {len(times)} requests in {wall:.2f} s ({len(times) / wall:.0f}/s)")
    print(f"  p50 {ms(q[49])}  p90 {ms(q[89])}  p99 {ms(q[98])}  max {ms(times[-1])}; daemon CPU {cpu_ms:.2f} ms per request")
    print(f"  RSS {before['VmRSS']:.2f} MiB before, {after['VmRSS']:.2f} MiB after; peak (VmHWM) {after['VmHWM']:.2f} MiB")


if __name__ == "__main__":
    main()
