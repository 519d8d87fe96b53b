#!/usr/bin/env bash
# Builds agora_store_bench in Release (its own build dir) and prints its markdown table.
# usage: benchmarks/store/run.sh [data dir on the disk to measure] [ms per cell]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${root}/build-bench"
cmake -S "${root}" -B "${build}" -G Ninja -DCMAKE_BUILD_TYPE=Release -DAGORA_WITH_TORCH=OFF \
  -DAGORA_BUILD_TESTS=OFF >/dev/null
cmake --build "${build}" --target agora_store_bench -j"${JOBS:-2}" >/dev/null
data="${1:-${build}/store-bench-data}"
echo "data dir: ${data} ($(df -T "$(dirname "${data}")" | awk 'NR==2 {print $2}'))"
"${build}/benchmarks/store/agora_store_bench" "${data}" "${2:-2000}"
