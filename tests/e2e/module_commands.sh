#!/usr/bin/env bash
# Module commands through the real binary: `agora help` lists them; `agora catalog stats`
# reads the store a served session wrote, with settings from flags or the environment;
# an unknown module or command, a missing command and bad arguments exit 2 with a message.
set -euo pipefail
bin="$1"
. "$(dirname "$0")/start_agora.sh"

fail() { echo "$*"; exit 1; }

help="$("$bin" help)"
for want in "agora serve" "agora settings" "agora config" "agora catalog stats \[--json\]  *Print the counts" \
            "agora catalog reindex  *Rebuild"; do
  echo "$help" | grep -q "$want" || fail "help does not list '$want': $help"
done

start_agora "$bin"
base="http://127.0.0.1:$PORT"
auth="Authorization: Bearer $(admin_token)"
curl -sf -X POST -H 'Content-Type: application/json' -H "$auth" -d '{"name":"Lamps"}' "$base/v1/categories" >/dev/null
for sku in CMD-1 CMD-2; do
  curl -sf -X POST -H 'Content-Type: application/json' -H "$auth" \
    -d "{\"sku\":\"$sku\",\"name\":\"Lamp $sku\",\"price\":{\"amount\":500,\"currency\":\"EUR\"}}" \
    "$base/v1/products" >"$DATA/$sku.json"
done
id=$(grep -o '"id":"prod_[^"]*"' "$DATA/CMD-2.json" | head -1 | cut -d'"' -f4)
curl -sf -X PATCH -H 'Content-Type: application/json' -H "$auth" -d '{"status":"archived"}' "$base/v1/products/$id" >/dev/null
kill -TERM $AGORA_PID
wait $AGORA_PID

expected=$'products: 2\n  active: 1\n  archived: 1\ncategories: 1'
out="$("$bin" catalog stats --data-dir "$DATA/db" --config /dev/null 2>"$DATA/err")"
[ "$out" = "$expected" ] || fail "stats printed: $out"
[ ! -s "$DATA/err" ] || fail "stats wrote to stderr: $(cat "$DATA/err")"
out="$(AGORA_DATA_DIR="$DATA/db" "$bin" catalog stats --json --config /dev/null)"
[ "$out" = '{"categories":1,"products":{"active":1,"archived":1,"total":2}}' ] || fail "stats --json printed: $out"

refused() {  # refused WANTED_TEXT ARGS...: exit status 2 and WANTED_TEXT on stderr
  local want="$1"; shift
  local rc=0
  "$bin" "$@" --data-dir "$DATA/db" --config /dev/null >"$DATA/out" 2>"$DATA/err" || rc=$?
  [ "$rc" -eq 2 ] || fail "agora $* exited $rc, not 2"
  grep -q -- "$want" "$DATA/err" || fail "agora $* said: $(cat "$DATA/err")"
  [ ! -s "$DATA/out" ] || fail "agora $* wrote to stdout: $(cat "$DATA/out")"
}
refused "unknown command 'nosuch'" nosuch stats
refused "agora catalog: unknown command 'nosuch' (it has: stats, reindex, import)" catalog nosuch
refused "which command?" catalog
refused "usage: agora catalog stats \[--json\]" catalog stats --yaml
refused "unexpected argument 'extra'" catalog stats extra
refused "modules.catalog.page_limit_max" catalog stats --set modules.catalog.page_limit_max=0
echo "module commands ok"
