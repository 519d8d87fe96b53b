#!/usr/bin/env bash
# run.sh AGORA NODE: agora serving EdDSA tokens, then RS256 tokens, each checked by jose.
set -euo pipefail
bin="$1"; node="$2"
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../../e2e/start_agora.sh"
for alg in EdDSA RS256; do
  AGORA_MODULES_CUSTOMERS_TOKEN_ALGORITHM=$alg start_agora "$bin" --log-level warn
  "$node" "$here/check.mjs" "http://127.0.0.1:$PORT" "$ADMIN_EMAIL" "$ADMIN_PASSWORD" "$alg"
  kill -TERM $AGORA_PID
  wait $AGORA_PID || true
  rm -rf "$DATA"
done
