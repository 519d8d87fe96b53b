#!/usr/bin/env bash
# The CPU engine against llama.cpp, an anchor nobody here wrote: agora_engine_bench runs
# and keeps its random-weight model, then llama.cpp (node-llama-cpp's prebuilt CPU build)
# runs the same model, converted to GGUF float32, with the same prompt, decode steps,
# batches and threads. Prints both tables and agora / llama.cpp per row.
# Options as run.sh: --prompt N (128), --steps N (32), --repeats N (3), --layers N, --hidden N.
# Needs Node.js and npm; the first run installs node-llama-cpp (and its linux-x64 build,
# about 700 MB) into modules/inference/tools/llamacpp_reference/node_modules.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${root}/build-bench-engine"
tool="${root}/modules/inference/tools/llamacpp_reference"
cmake -S "${root}" -B "${build}" -G Ninja -DCMAKE_BUILD_TYPE=Release -DAGORA_WITH_TORCH=ON \
  -DAGORA_BUILD_TESTS=OFF >/dev/null
cmake --build "${build}" --target agora_engine_bench -j"${JOBS:-2}" >/dev/null
if [ ! -d "${tool}/node_modules/node-llama-cpp" ]; then
  # Not `npm ci`: node-llama-cpp lists a prebuilt package per platform as optional, and
  # the lock holds only those published for Linux, so ci calls it out of sync. install
  # keeps the lock's pinned versions, skips the optional ones and leaves the lock as it is.
  (cd "${tool}" && npm install --no-save --omit=optional --no-audit --no-fund >&2)
fi
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
"${build}/benchmarks/inference/agora_engine_bench" --save "${work}/model" "$@" | tee "${work}/agora.md"
node "${root}/benchmarks/inference/llamacpp.mjs" --model "${work}/model" --agora "${work}/agora.md" "$@"
