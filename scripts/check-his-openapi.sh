#!/usr/bin/env bash
# Checks a HIS gateway against docs/his-gateway.openapi.yaml with an
# independent tool (schemathesis): status codes, content types and response
# bodies must match the document for generated valid and invalid requests.
#
#   scripts/check-his-openapi.sh [BASE_URL]     a running gateway (default http://127.0.0.1:8701)
#   scripts/check-his-openapi.sh --start-sim    build and start `kiosk his-sim`, check it, stop it
#
# Headers come from HIS_TOKEN (demo), HIS_HOSPITAL (H0001), HIS_KIOSK (K01).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${KIOSK_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/kiosk-venv}
st_version=4.32.5
if ! "$venv/bin/st" --version 2>/dev/null | grep -q "$st_version"; then
  echo "check-his-openapi: installing schemathesis $st_version into $venv"
  python3 -m venv "$venv" || { echo "python3 venv support is missing (apt-get install python3-venv)" >&2; exit 1; }
  "$venv/bin/pip" install -q "schemathesis==$st_version"
fi

url=${1:-http://127.0.0.1:8701}
if [ "${1:-}" = "--start-sim" ]; then
  cargo build --quiet --locked --bin kiosk
  tmp=$(mktemp -d)
  port=${HIS_SIM_PORT:-18701}
  target/debug/kiosk his-sim --listen "127.0.0.1:$port" --db "$tmp/his.db" --token "${HIS_TOKEN:-demo}" >"$tmp/sim.log" 2>&1 &
  sim=$!
  trap 'kill $sim 2>/dev/null; rm -rf "$tmp"' EXIT
  url="http://127.0.0.1:$port"
  for _ in $(seq 100); do
    curl -fsS -o /dev/null -H "Authorization: Bearer ${HIS_TOKEN:-demo}" -H "X-Hospital-Id: ${HIS_HOSPITAL:-H0001}" \
      -H "X-Kiosk-Id: ${HIS_KIOSK:-K01}" "$url/v1/ping" && break
    sleep 0.1
  done
fi

"$venv/bin/st" run docs/his-gateway.openapi.yaml --url "$url" \
  -H "Authorization: Bearer ${HIS_TOKEN:-demo}" -H "X-Hospital-Id: ${HIS_HOSPITAL:-H0001}" -H "X-Kiosk-Id: ${HIS_KIOSK:-K01}" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "${ST_MAX_EXAMPLES:-20}" --seed 1 --workers 2 --no-shrink
