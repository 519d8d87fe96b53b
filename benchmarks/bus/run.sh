#!/usr/bin/env bash
# Builds agora_bus_bench in Release (its own build dir) and prints its markdown table.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${root}/build-bench"
cmake -S "${root}" -B "${build}" -G Ninja -DCMAKE_BUILD_TYPE=Release -DAGORA_WITH_TORCH=OFF \
  -DAGORA_BUILD_TESTS=OFF >/dev/null
cmake --build "${build}" --target agora_bus_bench -j"${JOBS:-2}" >/dev/null
"${build}/benchmarks/bus/agora_bus_bench" "$@"
