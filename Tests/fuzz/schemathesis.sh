#!/usr/bin/env bash
# Fuzzes every Client-Server operation of the bundled spec (all methods, generated bodies)
# with schemathesis from PyPI against a real `axon serve` on loopback, and fails on any
# server error (5xx) or if the server stops answering. The server runs with
# outbound_enabled: false, so no generated server name or URL makes it contact another host,
# and with long polls capped at 2 s so generated timeouts cannot stall the run.
#
#   Tests/fuzz/schemathesis.sh [max examples per operation]    (AXON_BIN: the axon binary)
set -euo pipefail
cd "$(dirname "$0")/../.."
examples=${1:-${AXON_FUZZ_EXAMPLES:-8}}
axon=${AXON_BIN:-$(swift build --show-bin-path)/axon}
# The bundled spec lives beside the project (../shared), not in it; a checkout elsewhere
# names it with AXON_FUZZ_SPEC.
spec=""
for candidate in "${AXON_FUZZ_SPEC:-}" ../shared/matrix-spec/bundled/client-server-openapi.json \
  /work/shared/matrix-spec/bundled/client-server-openapi.json; do
  if [ -n "$candidate" ] && [ -f "$candidate" ]; then spec=$candidate; break; fi
done
if [ -z "$spec" ]; then
  echo "fuzz: SKIPPED: the bundled client-server OpenAPI file was not found (set AXON_FUZZ_SPEC)" >&2
  exit 0
fi

if [ ! -x .venv-fuzz/bin/st ]; then
  python3 -m venv .venv-fuzz
  .venv-fuzz/bin/pip install --quiet --disable-pip-version-check 'schemathesis>=4,<5'
fi

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
AXON_OUTBOUND_ENABLED=false AXON_ALLOW_GUEST_ACCESS=true AXON_MAX_LONG_POLL_SECONDS=2 "$axon" serve --data-dir "$work/data" --port "$port" \
  --enable-registration --no-rate-limits --bcrypt-cost 4 > "$work/server.log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -fs "$base/_matrix/client/versions" >/dev/null && break; sleep 0.1; done

token=$(curl -fs -X POST "$base/_matrix/client/v3/register" -H 'Content-Type: application/json' \
  -d '{"username":"fuzzer","password":"fuzz fuzz fuzz","auth":{"type":"m.login.dummy"}}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
# A room and an event give generated requests something real to hit now and then.
curl -fs -X POST "$base/_matrix/client/v3/createRoom" -H "Authorization: Bearer $token" -d '{"preset":"public_chat"}' >/dev/null

# Operations that end the fuzzer's own session are left out; everything else is called.
status=0
.venv-fuzz/bin/st run "$spec" --url "$base" -H "Authorization: Bearer $token" \
  --checks not_a_server_error --max-examples "$examples" --seed 1 --workers 2 --phases examples,coverage,fuzzing \
  --exclude-path-regex '/logout|/account/deactivate|/account/password$' --request-timeout 30 \
  --suppress-health-check all --report junit --report-junit-path "$work/junit.xml" --no-shrink || status=$?

cases=$(python3 - "$work/junit.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
print(sum(int(s.get("tests", 0)) for s in suites))
PY
)
if ! curl -fs "$base/_matrix/client/versions" >/dev/null; then
  echo "fuzz: the server stopped answering" >&2
  tail -50 "$work/server.log" >&2
  exit 1
fi
# Every 500 the server answers is logged as "request failed"; there must be none.
failures=$(grep -c "request failed" "$work/server.log" || true)
echo "fuzz: schemathesis exit $status over $cases operations; server alive; $failures internal errors logged"
if [ "$failures" != 0 ]; then
  grep "request failed" "$work/server.log" | head -20 >&2
  exit 1
fi
exit "$status"
