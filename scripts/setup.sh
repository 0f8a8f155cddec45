#!/usr/bin/env bash
# Installs whatever tbbpipe needs that is missing (Debian 12, as root or with sudo) and builds it.
# Usage: scripts/setup.sh [build-dir] [extra cmake args...]
# TBBPIPE_TEST_TOOLS=1 also installs what only the tests use: promtool (Debian's prometheus), the
# Pushgateway, a JSON Schema checker, lintian and dpkg-dev for the package test.
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir="${1:-build}"
shift || true

scripts/install-packages.sh g++ cmake make pkg-config libtbb-dev liblz4-dev libcrypto++-dev \
    libxxhash-dev libboost-program-options-dev libgtest-dev libbenchmark-dev \
    nlohmann-json3-dev libcpp-httplib-dev help2man libopenmpi-dev openmpi-bin \
    gnuplot-nox zstd lz4 pigz age  # tbbpipe-lab plots and the peers it (and perf/) compares with

# Test-only tools: best effort, so a problem there cannot stop the build (the test that needs
# promtool then says it skipped).
if [[ "${TBBPIPE_TEST_TOOLS:-0}" == 1 ]]; then
    scripts/install-packages.sh prometheus prometheus-pushgateway python3-jsonschema lintian \
        dpkg-dev file ||
        echo "setup: warning: could not install the test tools; the tests that need them skip" >&2
fi

echo "setup: building in $build_dir (log: $build_dir/build.log)"
mkdir -p "$build_dir"
if ! { cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release "$@" &&
       cmake --build "$build_dir" -j"$(nproc)"; } >"$build_dir/build.log" 2>&1; then
    tail -n 60 "$build_dir/build.log"
    echo "setup: build failed (full log: $build_dir/build.log)" >&2
    exit 1
fi
