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
"$node" "$here/client.mjs" "http://127.0.0.1:$PORT/v1" tiny-llama
