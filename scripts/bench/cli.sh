#!/usr/bin/env bash
# Whole-process benchmarks of the daemon and the CLI (release build), against ARCHITECTURE.md §8:
#
#   1. status  `husky status` against a daemon with 100 jobs      median < 10 ms     (hyperfine)
#   2. start   `husky start` until the API answers                 median < 200 ms    (hyperfine;
#              every run starts from a stopped daemon and an empty data directory)
#   3. idle    the daemon with 100 jobs, none due for hours         RSS < 8 MiB and
#              (/proc/PID/status VmRSS sampled over a minute after   CPU < 0.05 s/min
#              a warm-up; utime + stime over the same minute)
#   4. runs    1,000 manual runs of `true`, end to end              ≥ 200 runs/s
#              (POST /api/jobs/burst/run × 1000 over the unix socket, one connection per
#              request as the CLI makes; the clock runs from the first POST until every run's
#              row is final in the database; a fresh daemon per round)
#
# The 100 jobs: 99 `daily` jobs whose time is about 12 hours away (scheduled, never due during
# the benchmark) and one `manual` job `burst` (`command: "true"`, `concurrency: allow`,
# `retries: 0`) for measurement 4. The TCP listener is on a free loopback port.
#
# Usage: scripts/bench/cli.sh [--no-build] [--static]
#   --no-build   use the binary already built
#   --static     measure the binary of scripts/release.sh (static, non-PIE on x86_64/aarch64
#                Linux) instead of `cargo build --release --locked`
# Environment: HUSKY_BIN (a binary to measure; implies --no-build), STATUS_RUNS (200),
#   START_RUNS (20), IDLE_WARMUP (10 s), IDLE_SECONDS (60), IDLE_ROUNDS (1), BURST_RUNS (1000),
#   BURST_ROUNDS (3).
#
# Needs hyperfine (`apt-get install hyperfine`, `cargo install hyperfine`) and python3 (the helper
# scripts/bench/cli_client.py: the unix-socket client, /proc sampling, statistics). It installs
# nothing. Every daemon it started is stopped on exit, failure included.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

build=1
static=0
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    --static) static=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "cli.sh: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done

command -v hyperfine >/dev/null 2>&1 || {
  echo "cli.sh: hyperfine is missing; install it (apt-get install -y hyperfine, or cargo install hyperfine) and run again" >&2
  exit 1
}
command -v python3 >/dev/null 2>&1 || { echo "cli.sh: python3 is missing" >&2; exit 1; }

STATUS_RUNS=${STATUS_RUNS:-200}
START_RUNS=${START_RUNS:-20}
IDLE_WARMUP=${IDLE_WARMUP:-10}
IDLE_SECONDS=${IDLE_SECONDS:-60}
IDLE_ROUNDS=${IDLE_ROUNDS:-1}
BURST_RUNS=${BURST_RUNS:-1000}
BURST_ROUNDS=${BURST_ROUNDS:-3}
helper="$root/scripts/bench/cli_client.py"

if [[ -n "${HUSKY_BIN:-}" ]]; then
  bin=$HUSKY_BIN
elif [[ $static == 1 ]]; then
  [[ $build == 1 ]] && scripts/release.sh >/dev/null
  # release.sh builds with --target on the hosts it links statically, plainly elsewhere.
  host=$(rustc -vV | sed -n 's/^host: //p')
  bin="${CARGO_TARGET_DIR:-$root/target}/$host/release/husky"
  [[ -x "$bin" ]] || bin="${CARGO_TARGET_DIR:-$root/target}/release/husky"
else
  [[ $build == 1 ]] && cargo build --release --locked >&2
  bin="${CARGO_TARGET_DIR:-$root/target}/release/husky"
fi
[[ -x "$bin" ]] || { echo "cli.sh: no binary at $bin (build it, or drop --no-build)" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/husky-bench-cli.XXXXXX")
yaml="$tmp/husky.yaml"
data="$tmp/data"

# Stops the daemon of $data (if any) and waits until its process is gone.
cat >"$tmp/reset.sh" <<EOF
#!/bin/sh
# Stops the benchmark's daemon (waiting until its process has exited) and clears its data.
pid=\$(cat "$data/husky.pid" 2>/dev/null || true)
if [ -n "\$pid" ] && kill -0 "\$pid" 2>/dev/null; then
  "$bin" stop -c "$yaml" -d "$data" >/dev/null 2>&1 || kill "\$pid" 2>/dev/null || true
  i=0
  while kill -0 "\$pid" 2>/dev/null; do
    i=\$((i + 1))
    if [ \$i -gt 1000 ]; then kill -KILL "\$pid" 2>/dev/null || true; break; fi
    sleep 0.01
  done
fi
rm -rf "$data"
EOF
chmod +x "$tmp/reset.sh"

cleanup() {
  "$tmp/reset.sh" || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 99 daily jobs about 12 hours away, one manual job for the burst.
hour=$(( (10#$(date +%H) + 12) % 24 ))
{
  echo 'version: "1"'
  echo 'jobs:'
  for i in $(seq 1 99); do
    printf '  job%03d:\n    description: benchmark job %d\n    frequency: daily\n' "$i" "$i"
    printf '    time: "%02d%02d"\n    command: "true"\n' "$hour" $(( i % 60 ))
  done
  printf '  burst:\n    description: the runs of the throughput benchmark\n'
  printf '    frequency: manual\n    command: "true"\n    concurrency: allow\n    retries: 0\n'
} >"$yaml"
printf 'api:\n  addr: "127.0.0.1:0"\n' >"$tmp/huskyd.yaml"
"$bin" validate -c "$yaml" >/dev/null

start() { "$bin" start -c "$yaml" -d "$data" >/dev/null; }
# Runs a long step in the background and waits for it, so that a signal reaches the traps (and
# stops the daemon) at once instead of after the step; its output goes to the file $1.
step() { local out=$1; shift; "$@" >"$out" & wait $!; }
daemon_pid() { cat "$data/husky.pid"; }
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
median() { python3 -c 'import statistics,sys; print(round(statistics.median(map(float, sys.argv[1:])), 4))' "$@"; }

echo "binary: $bin ($(stat -c %s "$bin") bytes)" >&2
echo "machine: $(nproc) CPUs; other load on the machine shows in the spread" >&2

# 1. status
"$tmp/reset.sh"
start
hyperfine -N --warmup 20 --runs "$STATUS_RUNS" --export-json "$tmp/status.json" \
  "$bin status -c $yaml -d $data" >&2
status=$(python3 "$helper" hyperfine "$tmp/status.json")

# 2. start (prepare: stop and clear; cleanup: stop the last one)
hyperfine -N --runs "$START_RUNS" --prepare "$tmp/reset.sh" --cleanup "$tmp/reset.sh" \
  --export-json "$tmp/start.json" "$bin start -c $yaml -d $data" >&2
startup=$(python3 "$helper" hyperfine "$tmp/start.json")

# 3. idle: a fresh daemon, left alone
idle=()
for round in $(seq 1 "$IDLE_ROUNDS"); do
  "$tmp/reset.sh"
  start
  step /dev/null sleep "$IDLE_WARMUP"
  echo "idle round $round: sampling pid $(daemon_pid) for ${IDLE_SECONDS} s" >&2
  step "$tmp/idle.json" python3 "$helper" idle "$(daemon_pid)" "$IDLE_SECONDS"
  idle+=("$(cat "$tmp/idle.json")")
  echo "  ${idle[-1]}" >&2
done

# 4. runs: a fresh daemon per round
burst=()
for round in $(seq 1 "$BURST_ROUNDS"); do
  "$tmp/reset.sh"
  start
  step "$tmp/burst.json" python3 "$helper" burst "$data/husky.sock" "$data/husky.db" burst "$BURST_RUNS"
  burst+=("$(cat "$tmp/burst.json")")
  echo "runs round $round: ${burst[-1]}" >&2
done
"$tmp/reset.sh"

rss=(); cpu=(); pss=(); for r in "${idle[@]}"; do
  rss+=("$(field "$r" rss_kib_median)"); cpu+=("$(field "$r" cpu_s_per_min)"); pss+=("$(field "$r" pss_kib)")
done
rate=(); for r in "${burst[@]}"; do rate+=("$(field "$r" runs_per_s)"); done
rss_mib=$(python3 -c "print(round($(median "${rss[@]}") / 1024, 2))")
pss_mib=$(python3 -c "print(round($(median "${pss[@]}") / 1024, 2))")
cpu_med=$(median "${cpu[@]}")
rate_med=$(median "${rate[@]}")
spread() { python3 -c 'import sys; v=[float(x) for x in sys.argv[1:]]; print(f"{min(v):g}-{max(v):g}")' "$@"; }
verdict() { python3 -c "print('ok' if $1 else 'MISSED')"; }

echo
printf '%-34s %-16s %-24s %-10s %s\n' measurement median 'spread (min-max)' target verdict
printf '%-34s %-16s %-24s %-10s %s\n' "status, 100 jobs (${STATUS_RUNS} runs)" \
  "$(field "$status" median_ms) ms" "$(field "$status" min_ms)-$(field "$status" max_ms) ms" \
  '< 10 ms' "$(verdict "$(field "$status" median_ms) < 10")"
printf '%-34s %-16s %-24s %-10s %s\n' "start to ready (${START_RUNS} runs)" \
  "$(field "$startup" median_ms) ms" "$(field "$startup" min_ms)-$(field "$startup" max_ms) ms" \
  '< 200 ms' "$(verdict "$(field "$startup" median_ms) < 200")"
printf '%-34s %-16s %-24s %-10s %s\n' "idle RSS (${IDLE_ROUNDS}x${IDLE_SECONDS} s)" \
  "$rss_mib MiB" "$(spread "${rss[@]}") KiB" '< 8 MiB' "$(verdict "$rss_mib < 8")"
printf '%-34s %-16s %-24s %-10s %s\n' "idle PSS (information)" "$pss_mib MiB" \
  "$(spread "${pss[@]}") KiB" '' ''
printf '%-34s %-16s %-24s %-10s %s\n' "idle CPU (${IDLE_ROUNDS}x${IDLE_SECONDS} s)" \
  "$cpu_med s/min" "$(spread "${cpu[@]}") s/min" '< 0.05' "$(verdict "$cpu_med < 0.05")"
printf '%-34s %-16s %-24s %-10s %s\n' "${BURST_RUNS} runs of true (${BURST_ROUNDS} rounds)" \
  "$rate_med runs/s" "$(spread "${rate[@]}") runs/s" '>= 200/s' "$(verdict "$rate_med >= 200")"
