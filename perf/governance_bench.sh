#!/usr/bin/env bash
# Governance benchmarks: many files, fair scheduling, I/O depth (docs/PERFORMANCE.md, section
# "Governance: many files, fair scheduling, I/O depth").
#
#   bash perf/governance_bench.sh           # full: 20,000 files, 2 GiB + 500 x 1 MiB, 1 GiB sweep;
#                                           # 5 reps; ~17 minutes on the 2-core VM, < 5 GB scratch
#   bash perf/governance_bench.sh quick     # 2,000 files, 256 MiB + 100 x 1 MiB, 256 MiB; 3 reps, ~1.5 min
#   bash perf/governance_bench.sh full --sections mixed --reps 7   # extra args go to the driver
#
# Environment: GOV_DIR (scratch, default /tmp/gov-bench; datasets are deleted at the end unless
# --keep-data), BUILD_DIR (default build-rel; built here if a binary is missing).
# Results: $GOV_DIR/results/summary.md and results.json. Cold-cache points need root (they write
# /proc/sys/vm/drop_caches before every run); without it they are skipped and said so.
# Peers: zstd (required), /usr/bin/time (package "time"), diff.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$here/build-rel}
mode=${1:-full}
[ $# -gt 0 ] && shift

case "$mode" in
    quick) mode_args=(--quick) ;;
    full) mode_args=() ;;
    *) echo "usage: $0 [quick|full] [driver options]" >&2; exit 2 ;;
esac

if [ ! -x "$build/apps/tbbpipe" ] || [ ! -x "$build/apps/tbbpipe-lab" ] ||
   [ ! -x "$build/apps/tbbpipe-datagen" ]; then
    cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release
    cmake --build "$build" -j2 --target tbbpipe tbbpipe-datagen tbbpipe-lab
fi

echo "governance bench: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(zstd --version)" >&2
echo "tbbpipe: $("$build/apps/tbbpipe" --version 2>&1 | head -1), commit $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo '?')" >&2

exec python3 "$here/perf/governance_bench.py" --build "$build" --dir "${GOV_DIR:-/tmp/gov-bench}" \
    "${mode_args[@]}" "$@"
