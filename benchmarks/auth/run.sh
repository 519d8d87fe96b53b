#!/usr/bin/env bash
# Builds agora_jwt_bench in Release (its own build dir), measures the anchor with
# `openssl speed` on the same core, and prints the markdown table.
#   run.sh [seconds per measure, default 3] [core, default 0]
# Each figure, agora's and the anchors', is the best of three: the machine may be shared.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${root}/build-bench-auth"
seconds="${1:-3}"
core="${2:-0}"
cmake -S "${root}" -B "${build}" -G Ninja -DCMAKE_BUILD_TYPE=Release -DAGORA_WITH_TORCH=OFF \
  -DAGORA_BUILD_TESTS=OFF >/dev/null
cmake --build "${build}" --target agora_jwt_bench -j"${JOBS:-2}" >/dev/null

# The last line of `openssl speed` for one algorithm ends "... sign/s verify/s"; the best
# of three runs, as agora_jwt_bench takes the best of three rounds.
speed() {
  for _ in 1 2 3; do
    taskset -c "${core}" openssl speed -seconds "${seconds}" "$1" 2>/dev/null | tail -1 | awk '{print $(NF-1), $NF}'
  done | awk '{ if ($1 > s) s = $1; if ($2 > v) v = $2 } END { print s, v }'
}
read -r ed_sign ed_verify < <(speed ed25519)
read -r rsa_sign rsa_verify < <(speed rsa2048)

echo "Machine: $(nproc) vCPU $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(openssl version | cut -d' ' -f1-2), libsodium $(pkg-config --modversion libsodium); one core (taskset -c ${core}), best of 3 × ${seconds} s (openssl) or 3 × ${seconds}/3 s (agora)."
echo
taskset -c "${core}" "${build}/benchmarks/auth/agora_jwt_bench" "${seconds}" "${ed_sign}" "${ed_verify}" "${rsa_sign}" "${rsa_verify}"
