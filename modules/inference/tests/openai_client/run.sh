#!/usr/bin/env bash
# run.sh AGORA MAKE_MODEL NODE: a test model, agora serving it, the openai client against it.
set -euo pipefail
bin="$1"; make_model="$2"; node="$3"
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../../../../tests/e2e/start_agora.sh"
models="$(mktemp -d)"
"$make_model" "$models/tiny-llama"
start_agora "$bin" --model "$models/tiny-llama" --log-level warn
trap 'kill -9 $AGORA_PID 2>/dev/null || true; rm -rf "$DATA" "$models"' EXIT
# An API key with the inference scope, as an application would hold one.
key="$(curl -sf -X POST -H 'Content-Type: application/json' -H "Authorization: Bearer $(admin_token)" \
  -d '{"name":"openai client test","scopes":["inference"]}' "http://127.0.0.1:$PORT/v1/api-keys" |
  sed 's/.*"key":"\([^"]*\)".*/\1/')"
[ -n "$key" ]
"$node" "$here/client.mjs" "http://127.0.0.1:$PORT/v1" tiny-llama "$key"
