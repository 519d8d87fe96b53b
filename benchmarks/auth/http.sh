#!/usr/bin/env bash
# What authentication costs over HTTP, through the real binary (Release):
#  - login latency at the configured Argon2id cost, a wrong password and an unknown email
#    (the last two must cost the same: no account enumeration by timing);
#  - GET /v1/products/{id} with a bearer token and with an API key against the same route
#    anonymous, driven by wrk in one run, alternating, so the ratio is from one machine state.
#   benchmarks/auth/http.sh [seconds=10] [connections=64] [logins=20]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-10}"; conns="${2:-64}"; logins="${3:-20}"
for tool in wrk curl; do
  command -v "$tool" >/dev/null || { echo "install $tool (Debian packages wrk, curl)" >&2; exit 2; }
done

cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DAGORA_WITH_TORCH=OFF -DAGORA_BUILD_TESTS=OFF >/dev/null
cmake --build build-bench --target agora >/dev/null

work="$(mktemp -d)"
cleanup() { kill "${agora_pid:-}" 2>/dev/null || true; sleep 0.3; rm -rf "$work"; }
trap cleanup EXIT

email=bench-admin@example.com; password='benchmark admin password'
AGORA_MODULES_CUSTOMERS_ADMIN_EMAIL=$email AGORA_MODULES_CUSTOMERS_ADMIN_PASSWORD=$password \
  ./build-bench/src/agora serve --port 0 --data-dir "$work/db" --config /dev/null --log-level warn \
  --set server.io_threads="${AGORA_IO_THREADS:-0}" \
  --set modules.customers.login_failures_per_account=1000 \
  --set modules.customers.login_failures_per_address=100000 >"$work/agora.log" 2>&1 &
agora_pid=$!
for _ in $(seq 1 100); do
  port="$(grep -o 'listening on 127.0.0.1:[0-9]*' "$work/agora.log" | sed 's/.*://' || true)"
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "${port:-}" ] || { cat "$work/agora.log"; echo "agora did not start" >&2; exit 1; }
base="http://127.0.0.1:$port"

login_body() { printf '{"email":"%s","password":"%s"}' "$1" "$2"; }
# login EMAIL PASSWORD -> seconds of one login, its status checked
timed_login() {
  curl -s -o "$work/login.json" -w '%{http_code} %{time_total}\n' -X POST -H 'Content-Type: application/json' \
    -d "$(login_body "$1" "$2")" "$base/v1/auth/login"
}
median_ms() { sort -n | awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.1f", m * 1000}'; }
p90_ms() { sort -n | awk '{a[NR]=$1} END {i = int(NR * 0.9); if (i < 1) i = 1; printf "%.1f", a[i] * 1000}'; }

: >"$work/ok"; : >"$work/wrong"; : >"$work/unknown"
# The three kinds in a new random order each round, so that drift and warm-up hit all alike.
for i in $(seq 1 "$logins"); do
  for kind in $(printf 'ok\nwrong\nunknown\n' | shuf); do
    case "$kind" in
      ok) read -r code t < <(timed_login "$email" "$password"); want=200 ;;
      wrong) read -r code t < <(timed_login "$email" "not the password $i"); want=401 ;;
      unknown) read -r code t < <(timed_login "nobody$i@example.com" "not the password $i"); want=401 ;;
    esac
    [ "$code" = "$want" ] || { echo "$kind login answered $code" >&2; exit 1; }
    echo "$t" >>"$work/$kind"
  done
done
token="$(curl -sf -X POST -H 'Content-Type: application/json' -d "$(login_body "$email" "$password")" "$base/v1/auth/login" |
  sed 's/.*"access_token":"\([^"]*\)".*/\1/')"
key="$(curl -sf -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{"name":"bench","scopes":["account"]}' "$base/v1/api-keys" | sed 's/.*"key":"\([^"]*\)".*/\1/')"
id="$(curl -sf -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{"sku":"BENCH-1","name":"Benchmark lamp","description":"A lamp used by the auth benchmark.","price":{"amount":4999,"currency":"EUR"}}' \
  "$base/v1/products" | grep -o '"id":"prod_[^"]*"' | head -1 | cut -d'"' -f4)"
url="$base/v1/products/$id"
curl -sf -H "Authorization: Bearer $token" "$url" >/dev/null
curl -sf -H "X-API-Key: $key" "$url" >/dev/null

measure() {  # label, then wrk's header arguments -> "req/s p50_ms p99_ms"
  wrk -t1 -c"$conns" -d"${secs}s" --latency "$@" "$url" >"$work/wrk.txt" 2>&1
  if grep -q 'Non-2xx' "$work/wrk.txt"; then echo "non-2xx answers; the figures would be meaningless" >&2; cat "$work/wrk.txt" >&2; exit 1; fi
  local rps p50 p99
  rps="$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")"
  p50="$(awk '$1=="50%" {print $2}' "$work/wrk.txt")"
  p99="$(awk '$1=="99%" {print $2}' "$work/wrk.txt")"
  echo "$rps $p50 $p99"
}
# Alternate the three, twice, and keep each one's better run: the machine's drift hits all.
best() { awk -v a="$1" -v b="$2" 'BEGIN {print (a > b) ? a : b}'; }
declare -A rps p50 p99
for round in 1 2; do
  for mode in public bearer apikey; do
    case "$mode" in
      public) read -r r l h < <(measure) ;;
      bearer) read -r r l h < <(measure -H "Authorization: Bearer $token") ;;
      apikey) read -r r l h < <(measure -H "X-API-Key: $key") ;;
    esac
    if [ -z "${rps[$mode]:-}" ] || [ "$(best "$r" "${rps[$mode]}")" = "$r" ]; then
      rps[$mode]=$r; p50[$mode]=$l; p99[$mode]=$h
    fi
  done
done

echo
echo "| login | median ms | p90 ms |"
echo "|---|---|---|"
echo "| right password (200) | $(median_ms <"$work/ok") | $(p90_ms <"$work/ok") |"
echo "| wrong password (401) | $(median_ms <"$work/wrong") | $(p90_ms <"$work/wrong") |"
echo "| unknown email (401) | $(median_ms <"$work/unknown") | $(p90_ms <"$work/unknown") |"
echo
echo "unknown email / wrong password, medians: $(awk -v u="$(median_ms <"$work/unknown")" -v w="$(median_ms <"$work/wrong")" 'BEGIN {printf "%.2f", u / w}') (1.00: no difference to learn an account from)"
echo
echo "| GET /v1/products/{id} | req/s | p50 | p99 | vs public |"
echo "|---|---|---|---|---|"
for mode in public bearer apikey; do
  cost="$(awk -v a="${rps[public]}" -v b="${rps[$mode]}" 'BEGIN {printf "%+.1f %%", (a / b - 1) * 100}')"
  echo "| $mode | ${rps[$mode]} | ${p50[$mode]} | ${p99[$mode]} | $cost |"
done
echo
echo "(${logins} logins of each kind; wrk -t1 -c${conns} -d${secs}s, best of two alternating rounds; target: bearer cost ≤ 10 %)"
