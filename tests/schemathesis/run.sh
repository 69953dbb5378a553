#!/usr/bin/env bash
# Property-based API check: schemathesis (PyPI) generates requests from
# /api/v1/openapi.json against `vigil demo` (the platform plus simulated cameras) and
# fails on any 5xx or any response that contradicts the document. Bounded: a few hundred
# examples, well under three minutes. Called from .ci/run; needs `schemathesis` on PATH.
set -euo pipefail
cd "$(dirname "$0")/../.."

command -v schemathesis >/dev/null || { echo "schemathesis not installed (pip install schemathesis)"; exit 1; }
cargo build -p vigil --locked --quiet
work=$(mktemp -d)
http_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sip_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export VIGIL_HTTP__LISTEN="127.0.0.1:${http_port}" VIGIL_SIP__LISTEN="127.0.0.1:${sip_port}"
export VIGIL_DATABASE__URL="sqlite://${work}/vigil.db" VIGIL_MEDIA__BIND_IP=127.0.0.1
# Live sessions of the simulated cameras must not wait long when a check stops one early.
export VIGIL_MEDIA__INVITE_TIMEOUT=3
./target/debug/vigil demo --devices 2 --channels 2 >"${work}/vigil.log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
base="http://127.0.0.1:${http_port}"
for _ in $(seq 100); do
  curl -fsS "${base}/api/v1/health" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "${base}/api/v1/health"; echo
# The event stream never ends: leave it out (tests/catalog.rs covers it).
# Run from the temp dir: schemathesis keeps its example database in ./.schemathesis.
(cd "$work" && timeout 170 schemathesis run "${base}/api/v1/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --exclude-path /api/v1/events \
  --max-examples 25 \
  --request-timeout 15 \
  --seed 7 \
  ${SCHEMATHESIS_ARGS:-}) || { echo "== vigil log (tail)"; tail -50 "${work}/vigil.log"; exit 1; }
