#!/usr/bin/env bash
# Property-based API check: schemathesis (PyPI) generates requests from
# /api/v1/openapi.json against `vigil demo` (the platform plus simulated cameras) and
# fails on any 5xx or any response that contradicts the document. Bounded: a few hundred
# examples, well under three minutes. Called from .ci/run; needs `schemathesis` on PATH.
#
# Authentication is on, as in the field: the script logs in as the admin (password from
# the environment below), creates an API key through the API and sends it with every
# request, so the checks reach the handlers instead of stopping at 401.
# The run must not destroy its own credentials. Of the operations that could:
# - DELETE /api/v1/api-keys/{id} (revoke) and DELETE /api/v1/users/{id} (deleting the admin
#   takes its keys along) stay in the run, but hooks.py drops the generated cases whose id
#   is the key in use or its user, so every other id is still checked;
# - POST /api/v1/logout ends only the session of a cookie, and schemathesis sends none:
#   the login cookie stays with curl here.
# After the run the key must still work, or the run is void and fails.
set -euo pipefail
cd "$(dirname "$0")/../.."

command -v schemathesis >/dev/null || { echo "schemathesis not installed (pip install schemathesis)"; exit 1; }
cargo build -p vigil --locked --quiet
work=$(mktemp -d)
http_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sip_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export VIGIL_HTTP__LISTEN="127.0.0.1:${http_port}" VIGIL_SIP__LISTEN="127.0.0.1:${sip_port}"
export VIGIL_DATABASE__URL="sqlite://${work}/vigil.db" VIGIL_MEDIA__BIND_IP=127.0.0.1
admin_password="schemathesis-$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
export VIGIL_AUTH__ENABLED=true VIGIL_AUTH__ADMIN_PASSWORD="$admin_password"
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

# Credentials: log in (the cookie stays in curl's jar), create a key with that session.
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
# The password goes on stdin, not on a command line that ps shows.
login=$(printf '{"user": "admin", "password": "%s"}' "$admin_password" |
  curl -fsS -c "${work}/cookies" -H 'content-type: application/json' -d @- "${base}/api/v1/login")
created=$(curl -fsS -b "${work}/cookies" -H 'content-type: application/json' \
  -d '{"name": "schemathesis"}' "${base}/api/v1/api-keys")
key=$(json "['key']" <<<"$created")
VIGIL_ST_KEY_ID=$(json "['id']" <<<"$created")
VIGIL_ST_USER_ID=$(json "['user']['id']" <<<"$login")
export VIGIL_ST_KEY_ID VIGIL_ST_USER_ID
export SCHEMATHESIS_HOOKS="$PWD/tests/schemathesis/hooks.py"
key_works() { curl -fsS -o /dev/null -H "Authorization: Bearer ${key}" "${base}/api/v1/api-keys"; }
key_works
# The event stream never ends: leave it out (tests/catalog.rs covers it).
# Run from the temp dir: schemathesis keeps its example database in ./.schemathesis.
(cd "$work" && timeout 170 schemathesis run "${base}/api/v1/openapi.json" \
  -H "Authorization: Bearer ${key}" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --exclude-path /api/v1/events \
  --max-examples 25 \
  --request-timeout 15 \
  --seed 7 \
  ${SCHEMATHESIS_ARGS:-}) || { echo "== vigil log (tail)"; tail -50 "${work}/vigil.log"; exit 1; }
key_works || { echo "the run revoked or deleted its own credentials: its results are void"; exit 1; }

# What the handlers answered, from vigil's own counters (schemathesis prints no status
# totals). A 401/403 anywhere but a failed login means a request did not get past auth.
curl -fsS "${base}/metrics" | python3 -c '
import collections, re, sys
by_class, refused = collections.Counter(), collections.Counter()
for line in sys.stdin:
    m = re.match(r"vigil_http_requests_total\{method=\"(\w+)\",route=\"([^\"]*)\",status=\"(\d+)\"\} (\d+)", line)
    if not m:
        continue
    method, route, status, n = m.group(1), m.group(2), m.group(3), int(m.group(4))
    by_class[status[0] + "xx"] += n
    if status in ("401", "403") and (method, route) != ("POST", "/api/v1/login"):
        refused[f"{method} {route} {status}"] += n
print("responses by status class:", dict(sorted(by_class.items())))
if refused:
    sys.exit(f"refused by auth despite the key: {dict(refused)}")
'
