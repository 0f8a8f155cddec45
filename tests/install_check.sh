#!/usr/bin/env bash
# Installs this build into a scratch prefix, then builds the examples as an outside project
# would: with find_package(tbbpipe), and one of them with pkg-config alone; runs what it built.
# Usage: tests/install_check.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build="$1"
src="$2"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

cmake --install "$build" --prefix "$scratch/prefix" >/dev/null
test -f "$scratch/prefix/bin/tbbpipe"
test -f "$scratch/prefix/include/tbbpipe/tbbpipe.hpp"

cmake -S "$src/examples" -B "$scratch/cmake-consumer" -DCMAKE_PREFIX_PATH="$scratch/prefix" \
    -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$scratch/cmake-consumer" -j"$(nproc)" >/dev/null
"$scratch/cmake-consumer/stream_pack"
"$scratch/cmake-consumer/nonblocking_submit"
"$scratch/cmake-consumer/custom_stage"

export PKG_CONFIG_PATH="$scratch/prefix/lib/pkgconfig"
# shellcheck disable=SC2046
g++ -O1 -o "$scratch/pc_stream_pack" "$src/examples/stream_pack.cpp" \
    $(pkg-config --cflags --libs tbbpipe)
"$scratch/pc_stream_pack"
"$scratch/prefix/bin/tbbpipe" --version
echo "install check: find_package and pkg-config consumers built and ran"
