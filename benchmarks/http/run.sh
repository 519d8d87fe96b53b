#!/usr/bin/env bash
# HTTP benchmark: agora against nginx serving a static file of the same size as agora's
# response, driven by wrk, in the same run on the same machine. Prints a markdown table.
#   benchmarks/http/run.sh [seconds=10] [connections=64] [wrk_threads=1]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-10}"; conns="${2:-64}"; wthreads="${3:-1}"
for tool in wrk nginx curl; do
  command -v "$tool" >/dev/null || { echo "install $tool (Debian packages wrk, nginx-light, curl)" >&2; exit 2; }
done

cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DAGORA_WITH_TORCH=OFF -DAGORA_BUILD_TESTS=OFF >/dev/null
cmake --build build-bench --target agora >/dev/null

work="$(mktemp -d)"
cleanup() { kill "${agora_pid:-}" "${nginx_pid:-}" 2>/dev/null || true; sleep 0.3; rm -rf "$work"; }
trap cleanup EXIT

bench_email=bench-admin@example.com bench_password='benchmark admin password'
AGORA_MODULES_CUSTOMERS_ADMIN_EMAIL=$bench_email AGORA_MODULES_CUSTOMERS_ADMIN_PASSWORD=$bench_password \
  ./build-bench/src/agora serve --port 0 --data-dir "$work/db" --config /dev/null --log-level warn \
  --set server.io_threads="${AGORA_IO_THREADS:-0}" >"$work/agora.log" 2>&1 &
agora_pid=$!
for _ in $(seq 1 100); do
  port="$(grep -o 'listening on 127.0.0.1:[0-9]*' "$work/agora.log" | sed 's/.*://' || true)"
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "${port:-}" ] || { cat "$work/agora.log"; echo "agora did not start" >&2; exit 1; }

token="$(curl -sf -X POST -H 'Content-Type: application/json' \
  -d "{\"email\":\"$bench_email\",\"password\":\"$bench_password\"}" "http://127.0.0.1:$port/v1/auth/login" |
  sed 's/.*"access_token":"\([^"]*\)".*/\1/')"
product="$(curl -sf -X POST -H 'Content-Type: application/json' -H "Authorization: Bearer $token" \
  -d '{"sku":"BENCH-1","name":"Benchmark lamp","description":"A lamp used by the HTTP benchmark.","price":{"amount":4999,"currency":"EUR"}}' \
  "http://127.0.0.1:$port/v1/products")"
id="$(echo "$product" | grep -o '"id":"prod_[^"]*"' | head -1 | cut -d'"' -f4)"

mkdir -p "$work/www"
# nginx's workers run as an unprivileged user when started as root: let them read.
chmod 755 "$work" "$work/www"
curl -sf "http://127.0.0.1:$port/v1/products/$id" >"$work/www/product.json"
curl -sf "http://127.0.0.1:$port/healthz" >"$work/www/healthz.json"

nport=$((port + 1))
while (echo >/dev/tcp/127.0.0.1/$nport) 2>/dev/null; do nport=$((nport + 1)); done
cat >"$work/nginx.conf" <<CONF
worker_processes auto;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  default_type application/json;
  client_body_temp_path $work/nginx-tmp;
  server {
    listen 127.0.0.1:$nport;
    root $work/www;
  }
}
CONF
nginx -c "$work/nginx.conf" -p "$work" &
nginx_pid=$!
sleep 0.5

measure() {  # url -> "req/s p50_ms p99_ms"
  wrk -t"$wthreads" -c"$conns" -d"${secs}s" --latency "$1" >"$work/wrk.txt" 2>&1
  local rps p50 p99
  rps="$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")"
  p50="$(awk '$1=="50%" {print $2}' "$work/wrk.txt")"
  p99="$(awk '$1=="99%" {print $2}' "$work/wrk.txt")"
  if grep -q 'Non-2xx' "$work/wrk.txt"; then echo "non-2xx answers in $1; the figures would be meaningless" >&2; cat "$work/wrk.txt" >&2; exit 1; fi
  echo "$rps $(to_ms "$p50") $(to_ms "$p99")"
}
to_ms() {  # wrk prints 1.23ms / 456.00us / 1.20s
  local v="$1"
  case "$v" in
    *us) echo "$v" | sed 's/us//' | awk '{printf "%.3f", $1/1000}' ;;
    *ms) echo "$v" | sed 's/ms//' | awk '{printf "%.3f", $1}' ;;
    *s) echo "$v" | sed 's/s//' | awk '{printf "%.3f", $1*1000}' ;;
    *) echo "$v" ;;
  esac
}

# Warm both up.
wrk -t1 -c8 -d1s "http://127.0.0.1:$port/v1/products/$id" >/dev/null
wrk -t1 -c8 -d1s "http://127.0.0.1:$nport/product.json" >/dev/null

read -r a_prod a_prod50 a_prod99 <<<"$(measure "http://127.0.0.1:$port/v1/products/$id")"
read -r n_prod n_prod50 n_prod99 <<<"$(measure "http://127.0.0.1:$nport/product.json")"
read -r a_h a_h50 a_h99 <<<"$(measure "http://127.0.0.1:$port/healthz")"
read -r n_h n_h50 n_h99 <<<"$(measure "http://127.0.0.1:$nport/healthz.json")"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo
echo "HTTP, $(nproc) cores, wrk -t$wthreads -c$conns -d${secs}s, response sizes: product $(wc -c <"$work/www/product.json") B, healthz $(wc -c <"$work/www/healthz.json") B"
echo
echo "| route | agora req/s | p50 ms | p99 ms | nginx req/s | p50 ms | p99 ms | agora/nginx | target |"
echo "|---|---|---|---|---|---|---|---|---|"
echo "| GET /v1/products/{id} | $a_prod | $a_prod50 | $a_prod99 | $n_prod | $n_prod50 | $n_prod99 | $(ratio "$a_prod" "$n_prod") | ≥ 0.5 |"
echo "| GET /healthz | $a_h | $a_h50 | $a_h99 | $n_h | $n_h50 | $n_h99 | $(ratio "$a_h" "$n_h") | ≥ 0.8 |"
