#!/usr/bin/env bash
# Builds the release binary. On x86_64/aarch64 Linux (glibc) it is linked statically and
# non-PIE: that removes the dynamic relocations of the embedded time-zone tables and cuts idle
# RSS from about 9.0 to 5.6 MiB (research/stack.md §11). Elsewhere it is a normal release build.
#
# Usage: scripts/release.sh [extra cargo args]   → prints the path of the binary.
# The static flags are passed with an explicit --target so that they do not reach build
# scripts and proc macros (which must stay dynamic).
set -euo pipefail
cd "$(dirname "$0")/.."

host=$(rustc -vV | sed -n 's/^host: //p')
case "$host" in
  x86_64-unknown-linux-gnu|aarch64-unknown-linux-gnu)
    RUSTFLAGS="${RUSTFLAGS:-} -C relocation-model=static -C target-feature=+crt-static" \
      cargo build --release --locked --target "$host" "$@" >&2
    bin="target/$host/release/husky"
    ;;
  *)
    cargo build --release --locked "$@" >&2
    bin="target/release/husky"
    ;;
esac
echo "$bin"
