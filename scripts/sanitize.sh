#!/usr/bin/env bash
# Builds the test suites with ASan + UBSan (Debug) and runs them with CTest.
# Usage: scripts/sanitize.sh [build-dir]   (default build-asan)
# UBSan's vptr check is suppressed inside oneTBB's own headers only (tests/ubsan.supp says why),
# and LeakSanitizer's report of glibc's per-thread dlerror buffer (tests/lsan.supp).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
build_dir="${1:-build-asan}"
TBBPIPE_TEST_TOOLS=1 scripts/setup.sh "$build_dir" -DCMAKE_BUILD_TYPE=Debug \
    -DTBBPIPE_SANITIZE=address,undefined -DTBBPIPE_BUILD_PERF=OFF
cd "$build_dir"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export LSAN_OPTIONS=suppressions=$repo/tests/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:suppressions=$repo/tests/ubsan.supp
ctest --output-on-failure -j"$(nproc)" --timeout 900
