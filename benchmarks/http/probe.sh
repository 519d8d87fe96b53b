#!/usr/bin/env bash
# The issue #8 hardening probe against the real binary on loopback (see probe.py).
#   benchmarks/http/probe.sh [path/to/agora=build/src/agora] [extra agora flags...]
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="${1:-build/src/agora}"; shift || true
work="$(mktemp -d)"
cleanup() { kill "${agora_pid:-}" 2>/dev/null || true; sleep 0.3; rm -rf "$work"; }
trap cleanup EXIT
ulimit -n 4096
"$bin" serve --port 0 --data-dir "$work/db" --config /dev/null --log-level warn "$@" >"$work/agora.log" 2>&1 &
agora_pid=$!
for _ in $(seq 1 100); do
  port="$(grep -o 'listening on 127.0.0.1:[0-9]*' "$work/agora.log" | sed 's/.*://' || true)"
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "${port:-}" ] || { cat "$work/agora.log"; echo "agora did not start" >&2; exit 1; }
python3 benchmarks/http/probe.py "$port" "$agora_pid" "${PROBE_FLOOD:-1100}"
kill -0 "$agora_pid" && echo "agora still running after the probe"
