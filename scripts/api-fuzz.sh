#!/usr/bin/env bash
# Fuzzes the live API against its contract: schemathesis (PyPI) generates requests for every
# operation of schema/openapi.yaml and sends them to a real daemon; it fails on any 5xx, any
# status or content type the document does not list, and any body that does not match it.
#
#   scripts/api-fuzz.sh [--examples N]     (default 30 per operation; HUSKY_BIN: the binary)
#
# /api/daemon/stop is left out (it would end the run); everything else is exercised, with
# bearer auth on so that 401 and 403 are in play too.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

examples=30
while [ $# -gt 0 ]; do
    case "$1" in
        --examples) examples="$2"; shift 2 ;;
        *) echo "usage: $0 [--examples N]" >&2; exit 2 ;;
    esac
done

SCHEMATHESIS=4.32.5
if ! python3 -m schemathesis.cli --version 2>/dev/null | grep -q "$SCHEMATHESIS"; then
    python3 -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS"
fi
bin="${HUSKY_BIN:-}"
if [ -z "$bin" ]; then
    cargo build --locked --quiet
    bin="${CARGO_TARGET_DIR:-target}/debug/husky"
fi

dir="$(mktemp -d)"
stop() {
    "$bin" -c "$dir/husky.yaml" stop --force >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap stop EXIT
cat > "$dir/husky.yaml" <<'YAML'
version: "1"
jobs:
  hello:
    description: prints and captures an output
    frequency: manual
    command: "echo hello; echo rows=3"
    tags: [demo]
    output:
      rows: "regex:rows=(\\d+)"
  after-hello:
    description: runs after hello
    frequency: after:hello
    command: "echo rows {{ outputs.hello.rows }}"
  hourly:
    description: a schedule that is not due during the run
    frequency: every:1h
    command: "true"
    tags: [demo, prod]
YAML
printf 'fuzz-admin\nfuzz-viewer viewer\n' > "$dir/tokens"
cat > "$dir/huskyd.yaml" <<'YAML'
auth:
  type: bearer
  bearer:
    token_file: tokens
YAML
"$bin" -c "$dir/husky.yaml" start
"$bin" -c "$dir/husky.yaml" run hello --wait >/dev/null
addr="$(cat "$dir/.husky/api.addr")"

python3 -m schemathesis.cli run schema/openapi.yaml \
    --url "http://$addr" \
    --header "Authorization: Bearer fuzz-admin" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --exclude-path /api/daemon/stop \
    --max-examples "$examples" \
    --seed 20261123 \
    --workers 1 \
    --request-timeout 10 \
    --suppress-health-check all \
    --no-shrink
