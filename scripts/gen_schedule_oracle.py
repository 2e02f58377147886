#!/usr/bin/env python3
"""Independent test oracle for husky's schedule computation.

Generates ``tests/fixtures/schedule_oracle.json``: for a set of
(zone, frequency, time, from) cases, the next fires computed from first
principles with Python's ``zoneinfo`` and the IANA data shipped in the PyPI
``tzdata`` package.  No code or tables are shared with the Rust implementation.

How to run (from the repository root)::

    pip install tzdata==2026.5 && PYTHONTZPATH= python3 scripts/gen_schedule_oracle.py

Only the standard library plus the pinned ``tzdata`` package (IANA 2026e) is
used; system zone files are never consulted (``PYTHONTZPATH`` is emptied and
``zoneinfo.reset_tzpath(to=[])`` is called).  The output is byte-for-byte
deterministic: no randomness, sorted iteration, fixed formatting.

Rules implemented
-----------------
A job has a ``frequency``, an optional ``time`` (HHMM, 24h) and an IANA zone.

Calendar frequencies -- ``daily``, ``weekly`` (Mondays), ``monthly`` (the 1st),
``weekdays`` (Mon-Fri), ``weekends`` (Sat+Sun), ``on:[day, ...]`` (lowercase
English day names): one slot per matching local date at ``time``.

* wall time exists once                -> fire at it, note null
* wall time in a gap (does not exist)  -> interpret it with the UTC offset in
  force *before* the transition (= shifted forward by the gap), note
  ``"dst_gap_shifted"``.  A local date that does not exist at all (Pacific/Apia
  2011-12-30) is handled the same way.
* wall time occurs twice (overlap)     -> fire once, at the earlier
  occurrence, note ``"dst_overlap_first"``.
* two slots on the same UTC instant    -> one fire, carrying the note of the
  earlier local date's slot.

Interval frequencies -- ``hourly`` (= ``every:1h``) and ``every:<d>`` with a
Go-style duration 0 < d < 24h: slots are the local wall times ``00:00 + k*d``
(k >= 0, k*d < 24h) of every local date, i.e. the sequence restarts at each
local midnight.

* wall time exists once   -> fire, note null
* wall time in a gap      -> skipped (no fire)
* wall time in an overlap -> fires at both occurrences, notes
  ``"dst_overlap_first"`` / ``"dst_overlap_second"``.
* same UTC instant twice  -> one fire.

``manual`` and ``after:<job>`` never fire (empty fire list).

"Next fires after F" = the fires whose UTC instant is strictly greater than
F, in increasing order; each case lists the next 4 (0 for manual/after).

Gaps and overlaps are detected by checking the zone's actual UTC offsets
(round-tripping candidate offsets through UTC), so base-offset changes are
treated exactly like DST changes.  Transitions are enumerated by scanning the
UTC offset every 30 minutes from 1999 to 2040 and bisecting to the second.
Every slot is additionally cross-checked against zoneinfo's PEP 495
``fold=0`` / ``fold=1`` semantics.

Case selection: from-instants at T-1s, T and T+1s of every UTC-offset
transition T in 2000-01-01..2037-12-31 of every chosen zone (plus instants
just before overlaps begin), each paired with a few deterministically rotated
frequency/time combos (calendar times chosen inside the gap/overlap, interval
frequencies, others); local leap-day and month-end instants with calendar
frequencies; and one case per frequency form per zone.
"""

import os

os.environ["PYTHONTZPATH"] = ""

import bisect  # noqa: E402
import hashlib  # noqa: E402
import importlib.metadata  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import zoneinfo  # noqa: E402
from datetime import date, datetime, timedelta, timezone  # noqa: E402

zoneinfo.reset_tzpath(to=[])

REQUIRED_TZDATA = "2026.5"
try:
    _tzdata_version = importlib.metadata.version("tzdata")
except importlib.metadata.PackageNotFoundError:
    _tzdata_version = None
if _tzdata_version != REQUIRED_TZDATA:
    sys.exit(
        "error: this oracle needs the PyPI tzdata package version %s (IANA 2026e), "
        "found %r.\n  run: pip install tzdata==%s" % (REQUIRED_TZDATA, _tzdata_version, REQUIRED_TZDATA)
    )

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "tests", "fixtures", "schedule_oracle.json")

DAY = 86400
UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_ORD = date(1970, 1, 1).toordinal()


def ts_utc(y, mo, d, h=0, mi=0, s=0):
    return int((datetime(y, mo, d, h, mi, s, tzinfo=UTC) - EPOCH).total_seconds())


def fmt_utc(ts):
    return (EPOCH + timedelta(seconds=ts)).strftime("%Y-%m-%dT%H:%M:%SZ")


def wall_of(y, mo, d, h=0, mi=0, s=0):
    """Local wall time as seconds since 1970-01-01T00:00 (zone-less)."""
    return (date(y, mo, d).toordinal() - EPOCH_ORD) * DAY + h * 3600 + mi * 60 + s


def wall_date(w):
    return date.fromordinal(EPOCH_ORD + w // DAY)


SCAN_START = ts_utc(1999, 1, 1)
SCAN_END = ts_utc(2040, 1, 1)
SCAN_STEP = 1800
CASE_START = ts_utc(2000, 1, 1)
CASE_END = ts_utc(2037, 12, 31, 23, 59, 59)

ZONES = [
    "UTC",
    "Africa/Cairo",
    "Africa/Casablanca",
    "America/Caracas",
    "America/Havana",
    "America/Mexico_City",
    "America/New_York",
    "America/Nuuk",
    "America/Santiago",
    "America/Sao_Paulo",
    "America/Scoresbysund",
    "America/St_Johns",
    "Antarctica/Troll",
    "Asia/Beirut",
    "Asia/Dhaka",
    "Asia/Gaza",
    "Asia/Kathmandu",
    "Asia/Kolkata",
    "Asia/Pyongyang",
    "Asia/Shanghai",
    "Asia/Tehran",
    "Asia/Tokyo",
    "Australia/Lord_Howe",
    "Australia/Sydney",
    "Europe/Berlin",
    "Europe/Dublin",
    "Europe/Istanbul",
    "Europe/London",
    "Europe/Moscow",
    "Europe/Volgograd",
    "Pacific/Apia",
    "Pacific/Auckland",
    "Pacific/Chatham",
    "Pacific/Fakaofo",
    "Pacific/Norfolk",
]

DAY_NAMES = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


# ---------------------------------------------------------------------------
# Zone model: offsets and transitions, enumerated by scanning utcoffset().
# ---------------------------------------------------------------------------
class Zone:
    def __init__(self, name):
        self.name = name
        self.tz = zoneinfo.ZoneInfo(name)
        self._scan()
        self._cache = {}

    def raw_offset(self, ts):
        return int(datetime.fromtimestamp(ts, self.tz).utcoffset().total_seconds())

    def _scan(self):
        trans = []  # (T, offset_before, offset_after); T = first second of new offset
        prev_ts = SCAN_START
        prev_off = self.raw_offset(prev_ts)
        self.first_offset = prev_off
        ts = SCAN_START + SCAN_STEP
        while ts <= SCAN_END:
            off = self.raw_offset(ts)
            if off != prev_off:
                lo, hi = prev_ts, ts  # offset(lo) == prev_off, offset(hi) != prev_off
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if self.raw_offset(mid) == prev_off:
                        lo = mid
                    else:
                        hi = mid
                after = self.raw_offset(hi)
                assert after == off, (self.name, hi, "two transitions inside one scan step")
                trans.append((hi, prev_off, after))
                prev_off = off
            prev_ts = ts
            ts += SCAN_STEP
        self.transitions = trans
        self.trans_ts = [t[0] for t in trans]
        self.offs = [self.first_offset] + [t[2] for t in trans]
        self.min_off = min(self.offs)
        self.max_off = max(self.offs)

    def offset(self, ts):
        assert SCAN_START <= ts < SCAN_END, (self.name, ts)
        return self.offs[bisect.bisect_right(self.trans_ts, ts)]

    def local(self, ts):
        return ts + self.offset(ts)

    def resolve(self, w):
        """Map a wall time to ('ok', u) | ('overlap', u1, u2) | ('gap', shifted_u)."""
        r = self._cache.get(w)
        if r is not None:
            return r
        lo_i = bisect.bisect_left(self.trans_ts, w - 2 * DAY)
        hi_i = bisect.bisect_right(self.trans_ts, w + 2 * DAY)
        cands = {self.offs[lo_i]}
        for i in range(lo_i, hi_i):
            cands.add(self.transitions[i][2])
        valid = sorted({w - o for o in cands if self.offset(w - o) == o})
        if len(valid) == 1:
            r = ("ok", valid[0])
        elif len(valid) == 2:
            r = ("overlap", valid[0], valid[1])
        elif len(valid) == 0:
            hits = [
                (t, ob, oa)
                for (t, ob, oa) in self.transitions[lo_i:hi_i]
                if oa > ob and t + ob <= w < t + oa
            ]
            assert len(hits) == 1, (self.name, w, hits)
            t, ob, oa = hits[0]
            r = ("gap", w - ob)
        else:
            raise AssertionError((self.name, w, "wall time occurs more than twice", valid))
        self._check_fold(w, r)
        self._cache[w] = r
        return r

    def _check_fold(self, w, r):
        """Cross-check against zoneinfo's own PEP 495 local->UTC mapping."""
        d = wall_date(w)
        s = w % DAY
        naive = datetime(d.year, d.month, d.day, s // 3600, s // 60 % 60, s % 60)
        f0 = int(naive.replace(tzinfo=self.tz, fold=0).timestamp())
        f1 = int(naive.replace(tzinfo=self.tz, fold=1).timestamp())
        if r[0] == "ok":
            assert f0 == f1 == r[1], (self.name, w, r, f0, f1)
        elif r[0] == "overlap":
            assert (f0, f1) == (r[1], r[2]), (self.name, w, r, f0, f1)
        else:
            assert f0 == r[1] and f1 < f0, (self.name, w, r, f0, f1)


# ---------------------------------------------------------------------------
# Frequencies
# ---------------------------------------------------------------------------
_DUR_RE = re.compile(r"(\d+)(h|m|s)")


def parse_duration(text):
    """Go-style duration restricted to integer h/m/s components."""
    pos, total = 0, 0
    assert text, "empty duration"
    while pos < len(text):
        m = _DUR_RE.match(text, pos)
        assert m, "bad duration %r" % text
        total += int(m.group(1)) * {"h": 3600, "m": 60, "s": 1}[m.group(2)]
        pos = m.end()
    assert 0 < total < DAY, text
    return total


def classify(freq):
    """-> ('never',) | ('interval', seconds) | ('calendar', date predicate)."""
    if freq == "manual" or freq.startswith("after:"):
        return ("never",)
    if freq == "hourly":
        return ("interval", 3600)
    if freq.startswith("every:"):
        return ("interval", parse_duration(freq[len("every:"):]))
    if freq == "daily":
        return ("calendar", lambda d: True)
    if freq == "weekly":
        return ("calendar", lambda d: d.weekday() == 0)
    if freq == "monthly":
        return ("calendar", lambda d: d.day == 1)
    if freq == "weekdays":
        return ("calendar", lambda d: d.weekday() < 5)
    if freq == "weekends":
        return ("calendar", lambda d: d.weekday() >= 5)
    m = re.fullmatch(r"on:\[([a-z, ]+)\]", freq)
    if m:
        days = {DAY_NAMES.index(x.strip()) for x in m.group(1).split(",")}
        return ("calendar", lambda d, days=frozenset(days): d.weekday() in days)
    raise ValueError(freq)


def _finish(found, n):
    """found: list of (u, order_key, note). Dedupe equal instants keeping the
    earliest order_key, return the first n as [fmt, note]."""
    found.sort(key=lambda x: (x[0], x[1]))
    out, last = [], None
    for u, _, note in found:
        if u == last:
            continue
        last = u
        out.append((u, note))
    return out[:n]


def _done(found, n, w, zone):
    if len(found) < n:
        return False
    nth = sorted(f[0] for f in found)[n - 1]
    # Any later wall time w' maps to an instant >= w' - max_off.
    return w - zone.max_off > nth


def next_fires(zone, freq, hhmm, frm, n=4):
    kind = classify(freq)
    if kind[0] == "never":
        return []
    found = []
    lower = frm + zone.min_off  # a fire after frm needs wall > frm + min_off
    day0 = lower // DAY
    if kind[0] == "calendar":
        pred = kind[1]
        tod = int(hhmm[:2]) * 3600 + int(hhmm[2:]) * 60
        day = day0 - 1
        while True:
            d = date.fromordinal(EPOCH_ORD + day)
            w = day * DAY + tod
            if pred(d):
                r = zone.resolve(w)
                if r[0] == "ok":
                    u, note = r[1], None
                elif r[0] == "overlap":
                    u, note = r[1], "dst_overlap_first"
                else:
                    u, note = r[1], "dst_gap_shifted"
                if u > frm:
                    found.append((u, w, note))
            if _done(found, n, w, zone):
                break
            day += 1
            assert day < day0 + 400, (zone.name, freq, frm)
    else:
        step = kind[1]
        day = day0
        k = max(0, (lower - day * DAY) // step)
        while True:
            if k * step >= DAY:
                day += 1
                k = 0
            w = day * DAY + k * step
            k += 1
            r = zone.resolve(w)
            if r[0] == "ok":
                if r[1] > frm:
                    found.append((r[1], w, None))
            elif r[0] == "overlap":
                if r[1] > frm:
                    found.append((r[1], w, "dst_overlap_first"))
                if r[2] > frm:
                    found.append((r[2], w, "dst_overlap_second"))
            if _done(found, n, w, zone):
                break
            assert day < day0 + 10, (zone.name, freq, frm)
    return _finish(found, n)


# ---------------------------------------------------------------------------
# Case selection
# ---------------------------------------------------------------------------
CAL_FREQS = [
    "daily",
    "weekly",
    "monthly",
    "weekdays",
    "weekends",
    "on:[tuesday, friday]",
    "on:[monday, wednesday, friday]",
    "on:[sunday]",
    "on:[saturday]",
    "on:[thursday]",
    "on:[sunday, monday]",
    "on:[monday, tuesday, wednesday, thursday, friday, saturday, sunday]",
]
STD_TIMES = [
    "0000", "0030", "0100", "0130", "0159", "0200", "0230", "0245", "0300",
    "0330", "2330", "2359", "0001", "0415", "0900", "1200", "1745", "2200",
]
INTERVAL_FREQS = [
    "hourly", "every:30s", "every:1m", "every:7m", "every:15m", "every:30m",
    "every:45m", "every:90m", "every:1h30m", "every:2h", "every:5h", "every:6h",
    "every:7h", "every:11h", "every:23h", "every:1h", "every:20m", "every:3h",
    "every:4h", "every:12h",
]
NEVER_FREQS = ["manual", "after:build", "after:nightly-backup"]


def hhmm_of(w):
    s = w % DAY
    return "%02d%02d" % (s // 3600, s // 60 % 60)


def day_freqs_for(d, r):
    """Calendar frequencies that include local date d (rotated by r)."""
    wd = d.weekday()
    other = (wd + 1 + (r // 7) % 6) % 7
    opts = ["daily", "weekends" if wd >= 5 else "weekdays", "on:[%s]" % DAY_NAMES[wd],
            "on:[%s, %s]" % tuple(DAY_NAMES[i] for i in sorted({wd, other}))]
    if wd == 0:
        opts.append("weekly")
    if d.day == 1:
        opts.append("monthly")
    return opts[r % len(opts)]


def stable_int(*parts):
    h = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:8], "big")


def build_cases(zone):
    specs = set()  # (freq, time, from)
    rot = [stable_int(zone.name) % 997]

    def nxt():
        rot[0] += 1
        return rot[0]

    all_combos = (
        [(f, t) for f in CAL_FREQS for t in STD_TIMES]
        + [(f, None) for f in INTERVAL_FREQS] * 4
        + [(f, None) for f in NEVER_FREQS]
    )

    # 1. Around every transition in the case range.
    for t, ob, oa in zone.transitions:
        if not (CASE_START <= t - 7200 and t + 1 <= CASE_END):
            continue
        delta = abs(oa - ob)
        lo, hi = t + min(ob, oa), t + max(ob, oa)  # affected local range [lo, hi)
        r = nxt()
        picks = [lo, lo + (hi - lo) // 2, hi - 60, lo, hi]
        w = picks[r % len(picks)]
        w -= w % 60
        a = (day_freqs_for(wall_date(w), r // 5), hhmm_of(w))
        b = (INTERVAL_FREQS[stable_int(zone.name, t) % len(INTERVAL_FREQS)], None)
        c = all_combos[stable_int(zone.name, t, "c") % len(all_combos)]
        specs.add(a + (t - 1,))
        specs.add(b + (t - 1,))
        specs.add(b + (t,))
        specs.add(c + (t + 1,))
        if oa > ob:  # gap: the shifted calendar slot lands in [T, T + gap)
            specs.add(a + (t,))
        else:  # overlap: first occurrences lie in [T - overlap, T)
            specs.add(a + (t - delta - 1,))
            specs.add(b + (t - delta // 2 - 1,))

    # 2. Local leap days and month ends, calendar frequencies.
    walls = []
    for y in (2000, 2023, 2024, 2025, 2028, 2036):
        walls += [wall_of(y, 2, 28, 23, 59, 59), wall_of(y, 3, 1)]
        if y % 4 == 0:
            walls += [wall_of(y, 2, 29, 23, 59, 59)]
        walls += [wall_of(y, 1, 31, 23, 59, 59), wall_of(y, 4, 30, 23, 59, 59),
                  wall_of(y, 12, 31, 23, 59, 59), wall_of(y + 1, 1, 1)]
    me_freqs = ["monthly", "monthly", "monthly", "daily", "weekly", "weekdays",
                "weekends", "on:[sunday]", "on:[tuesday, friday]"]
    for w in walls:
        res = zone.resolve(w)
        frm = res[1]
        r = stable_int(zone.name, w)
        specs.add((me_freqs[r % len(me_freqs)], STD_TIMES[(r >> 8) % len(STD_TIMES)], frm))

    # 3. Every frequency form at least once per zone.
    for f in CAL_FREQS + INTERVAL_FREQS + NEVER_FREQS:
        r = stable_int(zone.name, f, "generic")
        frm = CASE_START + r % (CASE_END - CASE_START)
        t = STD_TIMES[(r >> 40) % len(STD_TIMES)] if classify(f)[0] == "calendar" else None
        specs.add((f, t, frm))

    # 4. The self-check cases of this zone.
    for zname, f, t, frm in PINNED:
        if zname == zone.name:
            specs.add((f, t, frm))

    cases = []
    for f, t, frm in sorted(specs, key=lambda x: (x[2], x[0], x[1] or "")):
        fires = next_fires(zone, f, t, frm)
        cases.append({
            "zone": zone.name,
            "frequency": f,
            "time": t,
            "from": fmt_utc(frm),
            "fires": [[fmt_utc(u), note] for u, note in fires],
        })
    return cases


# ---------------------------------------------------------------------------
# Self-checks of known facts
# ---------------------------------------------------------------------------
PINNED = []  # (zone, freq, time, from) of the self-checks; also emitted as cases


def check(zone, freq, hhmm, frm, expected):
    PINNED.append((zone.name, freq, hhmm, frm))
    got = [[fmt_utc(u), note] for u, note in next_fires(zone, freq, hhmm, frm)]
    exp = [list(e) for e in expected]
    assert got[: len(exp)] == exp and (exp or not got), "self-check failed: %s %s %s %s\n got %s\n exp %s" % (
        zone.name, freq, hhmm, fmt_utc(frm), got, exp)


def self_checks(z):
    ny = z["America/New_York"]
    # Spring forward 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z).
    check(ny, "daily", "0230", ts_utc(2026, 3, 8, 6, 59, 59),
          [("2026-03-08T07:30:00Z", "dst_gap_shifted"), ("2026-03-09T06:30:00Z", None)])
    check(ny, "daily", "0200", ts_utc(2026, 3, 8, 7), [("2026-03-09T06:00:00Z", None)])
    check(ny, "daily", "0200", ts_utc(2026, 3, 8, 6, 59, 59), [("2026-03-08T07:00:00Z", "dst_gap_shifted")])
    check(ny, "every:30m", None, ts_utc(2026, 3, 8, 6, 15),
          [("2026-03-08T06:30:00Z", None), ("2026-03-08T07:00:00Z", None), ("2026-03-08T07:30:00Z", None)])
    # Fall back 2026-11-01 02:00 EDT -> 01:00 EST (06:00Z).
    check(ny, "daily", "0130", ts_utc(2026, 11, 1, 4),
          [("2026-11-01T05:30:00Z", "dst_overlap_first"), ("2026-11-02T06:30:00Z", None)])
    check(ny, "daily", "0130", ts_utc(2026, 11, 1, 5, 30), [("2026-11-02T06:30:00Z", None)])
    check(ny, "every:15m", None, ts_utc(2026, 11, 1, 5, 40),
          [("2026-11-01T05:45:00Z", "dst_overlap_first"), ("2026-11-01T06:00:00Z", "dst_overlap_second"),
           ("2026-11-01T06:15:00Z", "dst_overlap_second"), ("2026-11-01T06:30:00Z", "dst_overlap_second")])
    check(ny, "every:15m", None, ts_utc(2026, 11, 1, 6, 44),
          [("2026-11-01T06:45:00Z", "dst_overlap_second"), ("2026-11-01T07:00:00Z", None)])
    check(ny, "hourly", None, ts_utc(2026, 11, 1, 4, 30),
          [("2026-11-01T05:00:00Z", "dst_overlap_first"), ("2026-11-01T06:00:00Z", "dst_overlap_second"),
           ("2026-11-01T07:00:00Z", None), ("2026-11-01T08:00:00Z", None)])
    check(ny, "weekly", "0900", ts_utc(2026, 3, 8), [("2026-03-09T13:00:00Z", None)])
    check(ny, "monthly", "0000", ts_utc(2026, 1, 31, 12), [("2026-02-01T05:00:00Z", None)])
    check(ny, "manual", None, ts_utc(2026, 1, 1), [])
    check(ny, "after:build", None, ts_utc(2026, 1, 1), [])
    # every:7h restarts at local midnight: 00, 07, 14, 21.
    check(z["UTC"], "every:7h", None, ts_utc(2026, 5, 1, 20),
          [("2026-05-01T21:00:00Z", None), ("2026-05-02T00:00:00Z", None), ("2026-05-02T07:00:00Z", None)])
    check(z["UTC"], "every:30s", None, ts_utc(2026, 5, 1, 23, 59, 29),
          [("2026-05-01T23:59:30Z", None), ("2026-05-02T00:00:00Z", None), ("2026-05-02T00:00:30Z", None)])
    check(z["Asia/Kathmandu"], "daily", "0000", ts_utc(2026, 5, 1),
          [("2026-05-01T18:15:00Z", None)])
    # Apia skipped 2011-12-30 (-10 -> +14 at 2011-12-30T10:00Z).
    apia = z["Pacific/Apia"]
    check(apia, "daily", "0300", ts_utc(2011, 12, 29),
          [("2011-12-29T13:00:00Z", None), ("2011-12-30T13:00:00Z", "dst_gap_shifted"),
           ("2011-12-31T13:00:00Z", None), ("2012-01-01T13:00:00Z", None)])
    check(apia, "on:[friday]", "0300", ts_utc(2011, 12, 29),
          [("2011-12-30T13:00:00Z", "dst_gap_shifted"), ("2012-01-05T13:00:00Z", None)])
    check(apia, "on:[saturday]", "0300", ts_utc(2011, 12, 29),
          [("2011-12-30T13:00:00Z", None), ("2012-01-06T13:00:00Z", None)])
    check(apia, "every:6h", None, ts_utc(2011, 12, 30, 3),
          [("2011-12-30T04:00:00Z", None), ("2011-12-30T10:00:00Z", None), ("2011-12-30T16:00:00Z", None)])
    # Lord Howe: +11 -> +10:30 at 2026-04-05 02:00 local (2026-04-04T15:00Z);
    # +10:30 -> +11 at 2026-10-04 02:00 local (2026-10-03T15:30Z).
    lh = z["Australia/Lord_Howe"]
    check(lh, "every:30m", None, ts_utc(2026, 4, 4, 13, 59, 59),
          [("2026-04-04T14:00:00Z", None), ("2026-04-04T14:30:00Z", "dst_overlap_first"),
           ("2026-04-04T15:00:00Z", "dst_overlap_second"), ("2026-04-04T15:30:00Z", None)])
    check(lh, "every:30m", None, ts_utc(2026, 10, 3, 14, 59, 59),
          [("2026-10-03T15:00:00Z", None), ("2026-10-03T15:30:00Z", None), ("2026-10-03T16:00:00Z", None)])
    check(lh, "daily", "0215", ts_utc(2026, 10, 3, 15),
          [("2026-10-03T15:45:00Z", "dst_gap_shifted"), ("2026-10-04T15:15:00Z", None)])
    check(lh, "daily", "0145", ts_utc(2026, 4, 4, 14),
          [("2026-04-04T14:45:00Z", "dst_overlap_first"), ("2026-04-05T15:15:00Z", None)])
    # Sao Paulo abolished DST in 2019: no transition after 2019-02-17.
    sp = z["America/Sao_Paulo"]
    assert max(sp.trans_ts) < ts_utc(2019, 3, 1), "Sao_Paulo"
    assert all(sp.offset(ts_utc(y, 1, 1)) == -3 * 3600 for y in range(2020, 2038))


def main():
    zones = {name: Zone(name) for name in ZONES}
    self_checks(zones)
    cases = []
    for name in sorted(zones):
        cases += build_cases(zones[name])
    cases.sort(key=lambda c: (c["zone"], c["from"], c["frequency"], c["time"] or ""))
    lines = [json.dumps(c, separators=(",", ":"), ensure_ascii=True) for c in cases]
    text = (
        "{\n"
        '  "generator": "scripts/gen_schedule_oracle.py",\n'
        '  "tzdata": "%s",\n'
        '  "cases": [\n' % REQUIRED_TZDATA
        + ",\n".join("    " + ln for ln in lines)
        + "\n  ]\n}\n"
    )
    parsed = json.loads(text)
    assert len(parsed["cases"]) == len(cases)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="ascii", newline="\n") as fh:
        fh.write(text)
    n_zones = len({c["zone"] for c in cases})
    n_forms = len({c["frequency"] for c in cases})
    print("wrote %s: %d cases, %d zones, %d frequency strings, %d bytes"
          % (os.path.relpath(OUT, REPO), len(cases), n_zones, n_forms, len(text.encode())))


if __name__ == "__main__":
    main()
