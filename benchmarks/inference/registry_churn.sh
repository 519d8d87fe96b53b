#!/usr/bin/env bash
# Loads and unloads models at run time and prints, after each cycle, the server's
# resident memory (VmRSS) and the line count of /metrics: an unloaded model must leave
# nothing behind, so both should come back to the same level cycle after cycle.
# Usage: registry_churn.sh [--models N (100)] [--cycles N (3)] [--requests]
#   --requests: one deterministic chat completion per model before it is unloaded.
# Uses the agora and agora-make-test-model binaries of ${BUILD:-build}.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${BUILD:-${root}/build}"
models=100 cycles=3 requests=0
while [ $# -gt 0 ]; do
  case "$1" in
    --models) models="$2"; shift 2 ;;
    --cycles) cycles="$2"; shift 2 ;;
    --requests) requests=1; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "registry_churn.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
work="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "${pid}" ]; then kill "${pid}" 2>/dev/null || true; wait "${pid}" 2>/dev/null || true; fi
  rm -rf "${work}"
}
trap cleanup EXIT
"${build}/modules/inference/agora-make-test-model" "${work}/tiny" >/dev/null
port_file="${work}/log"
admin_email=churn-admin@example.com admin_password='registry churn admin password'
AGORA_MODULES_CUSTOMERS_ADMIN_EMAIL=$admin_email AGORA_MODULES_CUSTOMERS_ADMIN_PASSWORD=$admin_password \
  "${build}/src/agora" serve --port 0 --data-dir "${work}/data" --model "${work}/tiny" --log-level warn \
  >"${port_file}" 2>&1 &
pid=$!
port=""
for _ in $(seq 1 600); do
  port="$(grep -o '"port":[0-9]*' "${port_file}" | head -1 | cut -d: -f2 || true)"
  [ -n "${port}" ] && curl -fsS "http://127.0.0.1:${port}/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
[ -n "${port}" ] || { echo "agora did not start" >&2; cat "${port_file}" >&2; exit 1; }
base="http://127.0.0.1:${port}"
token="$(curl -fsS -X POST "${base}/v1/auth/login" -H 'Content-Type: application/json' \
  -d "{\"email\": \"${admin_email}\", \"password\": \"${admin_password}\"}" | sed 's/.*"access_token":"\([^"]*\)".*/\1/')"
auth="Authorization: Bearer ${token}"
rss_mb() { awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/${pid}/status"; }
metric_lines() { curl -fsS "${base}/metrics" | wc -l; }
echo "| cycle | models loaded and unloaded | RSS (MB) | /metrics lines |"
echo "|---|---|---|---|"
echo "| start | 0 | $(rss_mb) | $(metric_lines) |"
for cycle in $(seq 1 "${cycles}"); do
  for i in $(seq 1 "${models}"); do
    curl -fsS -o /dev/null -X POST "${base}/v1/models" -H "${auth}" -H 'Content-Type: application/json' \
      -d "{\"path\": \"${work}/tiny\", \"name\": \"m${i}\"}"
    if [ "${requests}" = 1 ]; then
      curl -fsS -o /dev/null -X POST "${base}/v1/chat/completions" -H "${auth}" -H 'Content-Type: application/json' \
        -d "{\"model\": \"m${i}\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 4, \"temperature\": 0}"
    fi
  done
  loaded_lines="$(metric_lines)"
  for i in $(seq 1 "${models}"); do curl -fsS -o /dev/null -X DELETE -H "${auth}" "${base}/v1/models/m${i}"; done
  # Unloads finish on the loader thread after their answers: wait for the last series.
  for _ in $(seq 1 200); do
    curl -fsS "${base}/metrics" | grep -q 'model="m[0-9]' || break
    sleep 0.05
  done
  echo "| ${cycle} | ${models} (${loaded_lines} lines while loaded) | $(rss_mb) | $(metric_lines) |"
done
