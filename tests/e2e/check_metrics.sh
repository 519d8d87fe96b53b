#!/usr/bin/env bash
# /metrics after some traffic is accepted by promtool.
set -euo pipefail
bin="$1"; promtool="$2"
. "$(dirname "$0")/start_agora.sh"
start_agora "$bin"
curl -s "http://127.0.0.1:$PORT/healthz" >/dev/null
curl -s "http://127.0.0.1:$PORT/nowhere" >/dev/null
curl -s -X POST -H 'Content-Type: application/json' -H "Authorization: Bearer $(admin_token)" -d '{"sku":"M-1","name":"x","price":{"amount":1,"currency":"EUR"}}' \
  "http://127.0.0.1:$PORT/v1/products" >/dev/null
sleep 0.3
curl -sf "http://127.0.0.1:$PORT/metrics" >"$DATA/metrics.txt"
for name in agora_http_requests_total agora_http_request_duration_seconds agora_bus_requests_total \
            agora_store_transaction_duration_seconds agora_outbox_published_total; do
  grep -q "^$name" "$DATA/metrics.txt" || { echo "missing $name"; exit 1; }
done
"$promtool" check metrics <"$DATA/metrics.txt"
echo "metrics ok"
