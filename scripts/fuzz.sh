#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan; tests/fuzz/) and runs each one for a while on
# a fresh copy of the seed corpus. Exits 1 if any target finds a crash, a leak, a sanitizer
# report, a timeout or an out-of-memory; the input that did it is kept in the target's run folder.
# Usage: scripts/fuzz.sh [seconds-per-target]   (default 60)
# TBBPIPE_FUZZ_BUILD_DIR: build folder (default build-fuzz). Installs clang and libclang-rt-14-dev
# (Debian 12, as root or with sudo) when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "usage: scripts/fuzz.sh [seconds-per-target]" >&2; exit 2; }
build_dir="${TBBPIPE_FUZZ_BUILD_DIR:-build-fuzz}"
targets=(container_reader_fuzz unpack_fuzz manifest_fuzz)

scripts/install-packages.sh clang libclang-rt-14-dev cmake make pkg-config libtbb-dev liblz4-dev \
    libcrypto++-dev libxxhash-dev libboost-program-options-dev

echo "fuzz: building in $build_dir (log: $build_dir/build.log)"
mkdir -p "$build_dir"
if ! { CC=clang CXX=clang++ cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
           -DTBBPIPE_BUILD_FUZZERS=ON -DTBBPIPE_BUILD_TESTS=OFF -DTBBPIPE_BUILD_PERF=OFF \
           -DTBBPIPE_SANITIZE=address,undefined &&
       cmake --build "$build_dir" -j"$(nproc)" --target "${targets[@]}"; } >"$build_dir/build.log" 2>&1; then
    tail -n 60 "$build_dir/build.log"
    echo "fuzz: build failed (full log: $build_dir/build.log)" >&2
    exit 1
fi

# halt_on_error: a UBSan report in anything built recoverable must still stop the run.
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
# glibc's per-thread dlerror buffer, left by oneTBB's probe of optional libraries (tests/lsan.supp).
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}"
failed=0
for target in "${targets[@]}"; do
    run_dir="$build_dir/fuzz-run/$target"
    rm -rf "$run_dir"
    mkdir -p "$run_dir/corpus"
    cp tests/fuzz/corpus/* "$run_dir/corpus/"  # the committed seeds stay as they are
    echo "fuzz: $target for ${seconds}s (log: $run_dir/fuzz.log)"
    status=0
    "$build_dir/tests/fuzz/$target" "$run_dir/corpus" -dict=tests/fuzz/container.dict \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$run_dir/" >"$run_dir/fuzz.log" 2>&1 || status=$?
    # The last status line (#runs DONE cov: ft: corp: exec/s: rss:) and the run count.
    grep -E '^#[0-9]+' "$run_dir/fuzz.log" | tail -n 1 | sed "s/^/fuzz: $target: /" || true
    grep -E '^Done [0-9]+ runs' "$run_dir/fuzz.log" | sed "s/^/fuzz: $target: /" || true
    if ((status != 0)); then
        failed=1
        grep -E -A 30 '^==[0-9]+==ERROR|runtime error|invariant broken|deadly signal|Test unit written' \
            "$run_dir/fuzz.log" | head -n 60 || true
        echo "fuzz: $target FAILED (exit $status); input saved under $run_dir/ (crash-*, leak-*," \
             "timeout-*, oom-*); reproduce: $build_dir/tests/fuzz/$target <that file>" >&2
    fi
done
exit "$failed"
