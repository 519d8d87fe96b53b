#!/usr/bin/env bash
# Checkout over HTTP through the real binary (Release): shoppers sign up, then each loops
# create a cart → add one or two lines → check out (Idempotency-Key) → read the order
# back, at 64, 256 and 1000 concurrent clients. Run once with orders and inventory at
# synchronous=full (their default) and once at normal, the anchor, in the same run, so
# the ratio is the price of durability. Then GET /v1/products/search?q= over
# SEARCH_PRODUCTS products (100,000 by default).
#   benchmarks/checkout/run.sh [seconds=15] [clients="64 256 1000"]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-15}"; client_counts="${2:-64 256 1000}"
search_products="${SEARCH_PRODUCTS:-100000}"
command -v python3 >/dev/null || { echo "install python3" >&2; exit 2; }

# BENCH_BUILD=DIR uses an already configured build folder (its type is printed).
build="${BENCH_BUILD:-build-bench}"
if [ -z "${BENCH_BUILD:-}" ]; then
  cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DAGORA_WITH_TORCH=OFF -DAGORA_BUILD_TESTS=OFF >/dev/null
fi
cmake --build "$build" --target agora agora_checkout_bench >/dev/null
bench="./$build/benchmarks/checkout/agora_checkout_bench"
agora="./$build/src/agora"
echo "build: $build ($(grep -o 'CMAKE_BUILD_TYPE:STRING=.*' "$build/CMakeCache.txt" | cut -d= -f2)), $(nproc) cores"

work="$(mktemp -d)"
cleanup() { kill "${agora_pid:-}" 2>/dev/null || true; sleep 0.3; rm -rf "$work"; }
trap cleanup EXIT
email=bench-admin@example.com; password='benchmark admin password'

# start_agora DURABILITY: a fresh instance; sets port and agora_pid.
start_agora() {
  rm -rf "$work/db"; : >"$work/agora.log"
  AGORA_MODULES_CUSTOMERS_ADMIN_EMAIL=$email AGORA_MODULES_CUSTOMERS_ADMIN_PASSWORD=$password \
    "$agora" serve --port 0 --data-dir "$work/db" --config /dev/null --log-level warn \
    --set server.io_threads="${AGORA_IO_THREADS:-0}" \
    --set server.max_connections_per_client=4096 \
    --set modules.customers.password_memory_kib=64 --set modules.customers.password_iterations=1 \
    --set modules.customers.login_failures_per_address=100000 \
    --set modules.orders.durability="$1" --set modules.inventory.durability="$1" >"$work/agora.log" 2>&1 &
  agora_pid=$!
  port=""
  for _ in $(seq 1 200); do
    port="$(grep -o 'listening on 127.0.0.1:[0-9]*' "$work/agora.log" | sed 's/.*://' || true)"
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { cat "$work/agora.log"; echo "agora did not start" >&2; exit 1; }
}
stop_agora() { kill "$agora_pid"; wait "$agora_pid" 2>/dev/null || true; }

: >"$work/results"
for durability in full normal; do
  for clients in $client_counts; do
    start_agora "$durability"
    "$bench" setup "$port" "$email" "$password" 50 1000000
    line="$("$bench" run "$port" "$clients" "$secs" 50)"
    echo "$durability $line" | tee -a "$work/results"
    stop_agora
  done
done

# Search over many products, loaded by the catalog's import command before the start.
python3 - "$search_products" >"$work/products.jsonl" <<'PY'
import json, random, sys
random.seed(7)
adj = ["blue", "green", "red", "small", "large", "oak", "steel", "glass", "linen", "wool", "cotton", "matte"]
noun = ["mug", "lamp", "bowl", "desk", "shirt", "chair", "vase", "plate", "scarf", "stool", "jug", "tray"]
for i in range(int(sys.argv[1])):
    name = f"{random.choice(adj)} {random.choice(adj)} {random.choice(noun)} {i}"
    print(json.dumps({"sku": f"SRCH-{i}", "name": name, "price": 100 + i % 5000, "currency": "EUR",
                      "description": f"A {name} for the benchmark"}))
PY
rm -rf "$work/db"
"$agora" catalog import "$work/products.jsonl" --data-dir "$work/db" --config /dev/null >"$work/import.log" 2>&1 ||
  { tail -5 "$work/import.log"; echo "import failed" >&2; exit 1; }
AGORA_MODULES_CUSTOMERS_ADMIN_EMAIL=$email AGORA_MODULES_CUSTOMERS_ADMIN_PASSWORD=$password \
  "$agora" serve --port 0 --data-dir "$work/db" --config /dev/null --log-level warn >"$work/agora.log" 2>&1 &
agora_pid=$!
port=""
for _ in $(seq 1 300); do
  port="$(grep -o 'listening on 127.0.0.1:[0-9]*' "$work/agora.log" | sed 's/.*://' || true)"
  [ -n "$port" ] && break
  sleep 0.1
done
search_line="$("$bench" search "$port" 16 "$secs")"
stop_agora

python3 - "$work/results" "$search_line" "$search_products" <<'PY'
import json, sys
rows = [l.split(" ", 1) for l in open(sys.argv[1]) if l.strip()]
res = {(d, json.loads(j)["clients"]): json.loads(j) for d, j in rows}
print("| clients | durability | checkouts/s | checkout p50 ms | checkout p99 ms | flow p50 ms | flow p99 ms | simple call p95 ms | failed | full/normal |")
print("|---|---|---|---|---|---|---|---|---|---|")
for (d, c), r in sorted(res.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    anchor = res.get(("normal", c))
    ratio = f"{r['checkouts_per_s'] / anchor['checkouts_per_s']:.2f}" if d == "full" and anchor and anchor["checkouts_per_s"] else ""
    print(f"| {c} | {d} | {r['checkouts_per_s']:.0f} | {r['checkout_p50_ms']:.1f} | {r['checkout_p99_ms']:.1f} | "
          f"{r['flow_p50_ms']:.1f} | {r['flow_p99_ms']:.1f} | {r['simple_p95_ms']:.1f} | {r['failed']} | {ratio} |")
s = json.loads(sys.argv[2])
print()
print(f"GET /v1/products/search?q= over {int(sys.argv[3]):,} products, {s['clients']} clients: "
      f"{s['per_s']:.0f} req/s, p50 {s['p50_ms']:.2f} ms, p99 {s['p99_ms']:.2f} ms, errors {s['errors']}")
PY
