#!/usr/bin/env bash
# Runs the concurrency suites (engine, batch, file events, metrics, library API) under
# ThreadSanitizer.
#
# Debian's libtbb.so is not built with TSan, and TSan cannot see synchronisation it did not
# instrument: every message oneTBB hands from one thread to another would show as a race. So this
# builds oneTBB 2021.8 itself, from Debian's own source tarball (checksum pinned), with
# TBB_SANITIZE=thread (~15 s), and links the suites against it. With that, no suppressions are
# needed (tests/tsan.supp explains the one kind that would be, for an uninstrumented oneTBB).
# Usage: scripts/tsan.sh [build-dir]   (default build-tsan)
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
build_dir="${1:-build-tsan}"
mkdir -p "$build_dir"
build_dir="$(cd "$build_dir" && pwd)"

scripts/install-packages.sh g++ cmake make pkg-config curl xz-utils libtbb-dev liblz4-dev \
    libcrypto++-dev libxxhash-dev libboost-program-options-dev libgtest-dev

tbb_version=2021.8.0
tbb_tarball="onetbb_${tbb_version}.orig.tar.xz"
tbb_sha256=7e9111b8bb59c8800bf6d0b06afe7b0891937443d2dae1ee1101c8e2ede6a7ef
tbb_prefix="$build_dir/onetbb-tsan"
if [[ ! -f "$tbb_prefix/lib/cmake/TBB/TBBConfig.cmake" ]]; then
    echo "tsan: building oneTBB $tbb_version with ThreadSanitizer (log: $build_dir/onetbb.log)"
    [[ -f "$build_dir/$tbb_tarball" ]] ||
        curl -sSfL -o "$build_dir/$tbb_tarball" \
            "http://deb.debian.org/debian/pool/main/o/onetbb/$tbb_tarball"
    echo "$tbb_sha256  $build_dir/$tbb_tarball" | sha256sum -c --quiet
    rm -rf "$build_dir/onetbb-src" && mkdir -p "$build_dir/onetbb-src"
    tar xf "$build_dir/$tbb_tarball" -C "$build_dir/onetbb-src" --strip-components=1
    {
        cmake -S "$build_dir/onetbb-src" -B "$build_dir/onetbb-build" \
            -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTBB_TEST=OFF -DTBB_SANITIZE=thread \
            -DTBBMALLOC_BUILD=OFF -DTBB_STRICT=OFF -DCMAKE_INSTALL_PREFIX="$tbb_prefix" &&
            cmake --build "$build_dir/onetbb-build" -j"$(nproc)" &&
            cmake --install "$build_dir/onetbb-build"
    } >"$build_dir/onetbb.log" 2>&1 || { tail -n 40 "$build_dir/onetbb.log"; exit 1; }
fi

suites=(engine_test batch_test file_events_test metrics_test api_test)
echo "tsan: building ${suites[*]} (log: $build_dir/build.log)"
{
    cmake -S . -B "$build_dir/suites" -DCMAKE_BUILD_TYPE=Debug -DTBBPIPE_SANITIZE=thread \
        -DTBBPIPE_BUILD_PERF=OFF -DTBB_DIR="$tbb_prefix/lib/cmake/TBB" &&
        cmake --build "$build_dir/suites" -j"$(nproc)" --target "${suites[@]}"
} >"$build_dir/build.log" 2>&1 || { tail -n 60 "$build_dir/build.log"; exit 1; }

export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$repo/tests/tsan.supp"
export LD_LIBRARY_PATH="$tbb_prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
cd "$build_dir/suites"
# Only the suites above were built; the others' placeholders (*_NOT_BUILT), the examples (built
# by the main suite) and the script tests that run the programs (json_schema, completion_bash:
# the programs are not built here) are skipped.
ctest --output-on-failure -j"$(nproc)" --timeout 900 \
    -E '_NOT_BUILT|^example_|^json_schema$|^completion_bash$|^mpi_'
