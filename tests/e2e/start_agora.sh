# Sourced by the e2e scripts: start_agora BINARY [flags] starts agora on a free port with a
# temporary data dir, sets AGORA_PID, PORT, DATA and LOG, and stops it on exit.
start_agora() {
  local bin="$1"; shift
  DATA="$(mktemp -d)"
  LOG="$DATA/agora.log"
  "$bin" serve --port 0 --data-dir "$DATA/db" --config /dev/null "$@" >"$LOG" 2>&1 &
  AGORA_PID=$!
  trap 'kill -9 $AGORA_PID 2>/dev/null || true; rm -rf "$DATA"' EXIT
  for _ in $(seq 1 300); do
    PORT="$(grep -o 'listening on 127.0.0.1:[0-9]*' "$LOG" | head -1 | sed 's/.*://')" || true
    [ -n "${PORT:-}" ] && return 0
    kill -0 $AGORA_PID 2>/dev/null || { cat "$LOG"; echo "agora exited during start" >&2; return 1; }
    sleep 0.1
  done
  cat "$LOG"; echo "agora did not start" >&2; return 1
}
