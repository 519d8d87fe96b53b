#!/usr/bin/env bash
# The served /openapi.json validates with a standard OpenAPI validator.
set -euo pipefail
bin="$1"; node="$2"; validator="$3"
. "$(dirname "$0")/start_agora.sh"
start_agora "$bin"
curl -sf "http://127.0.0.1:$PORT/openapi.json" >"$DATA/openapi.json"
"$node" "$validator" "$DATA/openapi.json"
