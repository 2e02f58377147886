#!/usr/bin/env bash
# Loopback benchmark of the API (release build), against issue 8's budget:
#
#   GET /api/jobs with 1,000 jobs: p99 < 5 ms, one keep-alive client (then 4 at once), and the
#   daemon's RSS under that load (VmRSS before/after, VmHWM).
#
# The 1,000 jobs are `daily` jobs whose time is about 12 hours away (never due during the
# benchmark), with a description and two tags each, plus one that has run once (so job state
# rows exist). Bearer auth is on, as it would be on a LAN.
#
# Usage: scripts/bench/api.sh [--no-build]
# Environment: HUSKY_BIN (a binary to measure; implies --no-build), REQUESTS (2000).
# Needs python3 (scripts/bench/api.py). Installs nothing; stops its daemon on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
build=1
[[ "${1:-}" == "--no-build" ]] && build=0
REQUESTS=${REQUESTS:-2000}
if [[ -n "${HUSKY_BIN:-}" ]]; then
  bin=$HUSKY_BIN
else
  [[ $build == 1 ]] && cargo build --release --locked --quiet
  bin="${CARGO_TARGET_DIR:-$root/target}/release/husky"
fi

dir=$(mktemp -d)
cleanup() { "$bin" -c "$dir/husky.yaml" stop --force >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT INT TERM

at=$(date -u -d '+12 hours' +%H%M)
{
  echo 'version: "1"'
  echo 'jobs:'
  echo '  ran-once:'
  echo '    description: has a run'
  echo '    frequency: manual'
  echo '    command: "echo hi"'
  for i in $(seq 1 999); do
    printf '  job-%04d:\n    description: nightly job %d\n    frequency: daily\n    time: "%s"\n    timezone: UTC\n    command: "true"\n    tags: [bench, group-%d]\n' "$i" "$i" "$at" $((i % 10))
  done
} > "$dir/husky.yaml"
echo "bench-token" > "$dir/tokens"
printf 'api:\n  addr: 127.0.0.1:0\nauth:\n  type: bearer\n  bearer:\n    token_file: tokens\n' > "$dir/huskyd.yaml"

"$bin" -c "$dir/husky.yaml" start >/dev/null
"$bin" -c "$dir/husky.yaml" run ran-once --wait >/dev/null
addr=$(cat "$dir/.husky/api.addr")
pid=$(cat "$dir/.husky/husky.pid")
echo "husky $("$bin" --version 2>/dev/null || true) at $addr (pid $pid), 1000 jobs"
python3 "$root/scripts/bench/api.py" "http://$addr/api/jobs" "$pid" --requests "$REQUESTS" --clients 1 --token bench-token
python3 "$root/scripts/bench/api.py" "http://$addr/api/jobs" "$pid" --requests "$REQUESTS" --clients 4 --token bench-token
python3 "$root/scripts/bench/api.py" "http://$addr/api/status" "$pid" --requests "$REQUESTS" --clients 1 --token bench-token
