#!/usr/bin/env bash
# Builds agora_engine_bench in Release (its own build dir) and prints its markdown table:
# prefill and decode tokens/s of a small random-weight model, with a plain-matmul floor.
# Options: --prompt N (128), --steps N (32), --repeats N (3), --layers N, --hidden N.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${root}/build-bench-engine"
cmake -S "${root}" -B "${build}" -G Ninja -DCMAKE_BUILD_TYPE=Release -DAGORA_WITH_TORCH=ON \
  -DAGORA_BUILD_TESTS=OFF >/dev/null
cmake --build "${build}" --target agora_engine_bench -j"${JOBS:-2}" >/dev/null
"${build}/benchmarks/inference/agora_engine_bench" "$@"
