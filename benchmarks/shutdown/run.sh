#!/usr/bin/env bash
# SIGTERM under load: starts the real binary, drives creates (each one an outbox event)
# from parallel curl loops, sends SIGTERM mid-load and times the exit. Prints one row per
# run and the spread. Usage: benchmarks/shutdown/run.sh BINARY [runs] [clients] [load secs]
set -euo pipefail
bin="$1"; runs="${2:-10}"; clients="${3:-8}"; load="${4:-2}"
. "$(dirname "$0")/../../tests/e2e/start_agora.sh"

times=()
echo "| run | exit status | SIGTERM → exit (s) | creates answered |"
echo "|---|---|---|---|"
for run in $(seq 1 "$runs"); do
  start_agora "$bin" --log-level warn
  auth="Authorization: Bearer $(admin_token)"
  loaders=()
  for c in $(seq 1 "$clients"); do
    (
      i=0
      while :; do
        i=$((i + 1))
        curl -s -o /dev/null -w '%{http_code}\n' -X POST -H 'Content-Type: application/json' -H "$auth" \
          -d "{\"sku\":\"SD-$run-$c-$i\",\"name\":\"Load\",\"price\":{\"amount\":100,\"currency\":\"EUR\"}}" \
          "http://127.0.0.1:$PORT/v1/products" || true
      done
    ) >"$DATA/load-$c.log" 2>/dev/null &
    loaders+=($!)
  done
  sleep "$load"
  t0=$(date +%s.%N)
  kill -TERM "$AGORA_PID"
  status=0; wait "$AGORA_PID" || status=$?
  t1=$(date +%s.%N)
  for p in "${loaders[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  answered=$(cat "$DATA"/load-*.log | grep -c '^201$' || true)
  took=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  times+=("$took")
  printf '| %d | %d | %.3f | %s |\n' "$run" "$status" "$took" "$answered"
  kill -9 "$AGORA_PID" 2>/dev/null || true
  rm -rf "$DATA"
  trap - EXIT
done
printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "\nmin %.3f s, median %.3f s, max %.3f s over %d runs\n", a[1], a[int((NR+1)/2)], a[NR], NR}'
