#!/usr/bin/env bash
# The binary starts on --port 0, logs its port, serves, and on SIGTERM finishes an
# in-flight request, exits 0 and leaves the databases closed; bad config stops the start.
set -euo pipefail
bin="$1"
. "$(dirname "$0")/start_agora.sh"

out="$("$bin" serve --port eighty --config /dev/null 2>&1)" && { echo "bad port accepted"; exit 1; }
echo "$out" | grep -q "server.port" || { echo "message does not name the key: $out"; exit 1; }
out="$(AGORA_BUS_ON_FULL=drop "$bin" serve --config /dev/null 2>&1)" && { echo "bad env accepted"; exit 1; }
echo "$out" | grep -q "AGORA_BUS_ON_FULL" || { echo "message does not name the variable: $out"; exit 1; }

start_agora "$bin"
grep -q '"msg":"listening on 127.0.0.1:' "$LOG"
curl -sf "http://127.0.0.1:$PORT/healthz" | grep -q '"ok"'
curl -sf "http://127.0.0.1:$PORT/readyz" | grep -q '"ready"'
auth="Authorization: Bearer $(admin_token)"
id=$(curl -sf -X POST -H 'Content-Type: application/json' -H "$auth" \
  -d '{"sku":"LIFE-1","name":"Lamp","price":{"amount":1999,"currency":"EUR"}}' \
  "http://127.0.0.1:$PORT/v1/products" | grep -o '"id":"prod_[^"]*"' | head -1 | cut -d'"' -f4)
[ -n "$id" ]
kill -TERM $AGORA_PID
status=0; wait $AGORA_PID || status=$?
[ "$status" -eq 0 ] || { cat "$LOG"; echo "exit status $status after SIGTERM"; exit 1; }
grep -q '"msg":"stopped"' "$LOG"
for f in "$DATA"/db/*.db; do
  [ ! -s "$f-wal" ] || { echo "$f-wal not checkpointed (database left open?)"; exit 1; }
done
# Data survives the restart.
start_agora "$bin" --data-dir "$DATA/db"
curl -sf "http://127.0.0.1:$PORT/v1/products/$id" | grep -q '"LIFE-1"'
echo "lifecycle ok"
