#!/usr/bin/env bash
# Builds and runs tests/embed/project as an outside project would.
#   build_example.sh subdirectory <cmake> <generator> <compiler> <build type> <agora source> <work dir>
#   build_example.sh package      <cmake> <generator> <compiler> <build type> <agora source> <work dir> <agora build>
# subdirectory: the project adds agora's source folder (built here without libtorch, only
#   what agora_app needs; the work dir is kept so a rerun is incremental).
# package: agora's build is installed into <work dir>/prefix, then the project finds it.
set -euo pipefail
mode=$1 cmake=$2 generator=$3 compiler=$4 build_type=$5 source=$6 work=$7
project="$(cd "$(dirname "$0")" && pwd)/project"
jobs=2
started=$SECONDS

case "$mode" in
  subdirectory)
    nice "$cmake" -S "$project" -B "$work" -G "$generator" -DCMAKE_CXX_COMPILER="$compiler" \
      -DCMAKE_BUILD_TYPE="$build_type" -DAGORA_SOURCE_DIR="$source" -DAGORA_WITH_TORCH=OFF >"$work.configure.log" 2>&1 \
      || { cat "$work.configure.log"; exit 1; }
    nice "$cmake" --build "$work" --target embed_example -j "$jobs"
    ;;
  package)
    agora_build=$8
    nice "$cmake" --build "$agora_build" --target agora agora_app -j "$jobs"
    rm -rf "$work"
    mkdir -p "$work"
    "$cmake" --install "$agora_build" --prefix "$work/prefix" >"$work/install.log"
    nice "$cmake" -S "$project" -B "$work/build" -G "$generator" -DCMAKE_CXX_COMPILER="$compiler" \
      -DCMAKE_BUILD_TYPE="$build_type" -DCMAKE_PREFIX_PATH="$work/prefix" >"$work/configure.log" 2>&1 \
      || { cat "$work/configure.log"; exit 1; }
    nice "$cmake" --build "$work/build" -j "$jobs"
    work="$work/build"
    ;;
  *)
    echo "usage: $0 subdirectory|package ..." >&2
    exit 2
    ;;
esac
echo "embed ($mode): configured and built in $((SECONDS - started)) s"
"$work/embed_example"
