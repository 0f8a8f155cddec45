#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs every test suite with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
TBBPIPE_TEST_TOOLS=1 scripts/setup.sh build
cd build
ctest --output-on-failure -j"$(nproc)" --timeout 600
