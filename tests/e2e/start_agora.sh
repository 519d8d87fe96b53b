# Sourced by the e2e scripts: start_agora BINARY [flags] starts agora on a free port with a
# temporary data dir and a first admin (ADMIN_EMAIL, ADMIN_PASSWORD; a cheap password hash
# cost), sets AGORA_PID, PORT, DATA and LOG, and stops it on exit. admin_token prints an
# access token of that admin.
ADMIN_EMAIL=admin@agora.test
ADMIN_PASSWORD=script-admin-password
start_agora() {
  local bin="$1"; shift
  DATA="$(mktemp -d)"
  LOG="$DATA/agora.log"
  AGORA_MODULES_CUSTOMERS_ADMIN_EMAIL="$ADMIN_EMAIL" AGORA_MODULES_CUSTOMERS_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
  AGORA_MODULES_CUSTOMERS_PASSWORD_MEMORY_KIB=64 AGORA_MODULES_CUSTOMERS_PASSWORD_ITERATIONS=1 \
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

admin_token() {
  curl -sf -X POST -H 'Content-Type: application/json' \
    -d "{\"email\":\"$ADMIN_EMAIL\",\"password\":\"$ADMIN_PASSWORD\"}" \
    "http://127.0.0.1:$PORT/v1/auth/login" | sed 's/.*"access_token":"\([^"]*\)".*/\1/'
}
