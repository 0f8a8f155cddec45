#!/usr/bin/env bash
# The hot-path tables of docs/PERFORMANCE.md, measured again: the tbbpipe CLI at this commit
# against the peer pipelines and against tbbpipe-plain (the same kernels in a bare
# tbb::parallel_pipeline) on the same data, in paired rounds (perf/paired.py), medians.
#
# Usage: perf/hotpath.sh [BUILD_DIR] [WORK_DIR] [ROUNDS] [TABLE...]
#   BUILD_DIR  a Release build with the benchmarks (default build, as scripts/setup.sh makes)
#   WORK_DIR   where the data lives, on a disk (default /var/tmp/tbbpipe-hotpath); the small-file
#              tables use /dev/shm
#   ROUNDS     counted rounds per table (default 7; one warm-up round more)
#   TABLE      any of: pack unpack pack64k hashes small realfiles (default: all)
# Needs python3, zstd and age (apt-get install zstd age). Takes about 5 minutes on 2 cores.
# Outputs go to /dev/null unless a table says otherwise; inputs are page-cached by the warm-up.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
work="${2:-/var/tmp/tbbpipe-hotpath}"
rounds="${3:-7}"
shift $(($# < 3 ? $# : 3))
tables=("$@")
((${#tables[@]})) || tables=(pack unpack pack64k hashes small realfiles)

build="$(cd "$build" 2>/dev/null && pwd || echo "$build")"  # absolute: we cd to WORK_DIR below
T="$build/apps/tbbpipe"
P="$build/perf/tbbpipe-plain"
LAB="$build/apps/tbbpipe-lab"
for tool in "$T" "$P" "$LAB"; do
    [[ -x $tool ]] || { echo "hotpath: $tool missing (build $build first)" >&2; exit 2; }
done
for tool in zstd age age-keygen python3; do
    command -v "$tool" >/dev/null || { echo "hotpath: $tool is not installed" >&2; exit 2; }
done
mkdir -p "$work"
cd "$work"

# 1 GiB of real mixed system files: a tar of /usr/share and /usr/lib, cut at 1 GiB.
if [[ ! -s mixed.tar ]]; then
    echo "hotpath: writing $work/mixed.tar" >&2
    (tar -cf - /usr/share /usr/lib 2>/dev/null || true) | head -c 1G > mixed.tar
fi
[[ -s k.key ]] || "$T" keygen -q -o k.key
[[ -s age.id ]] || age-keygen -o age.id 2>/dev/null
recipient=$(age-keygen -y age.id)

# Prepared inputs for the unpack lines (rewritten each time: they belong to this commit).
"$T" pack -q -f --key-file k.key -o mixed.tar.tbp mixed.tar
"$P" pack --key-file k.key mixed.tar mixed.plain
zstd -1 -T0 -q -c mixed.tar | age -r "$recipient" > mixed.tar.zst.age

machine() {
    echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))," \
        "$(free -g | awk '/Mem:/{print $2}') GiB, Linux $(uname -r)"
    echo "tbbpipe: $("$T" --version) at $(git -C "$OLDPWD" rev-parse --short HEAD 2>/dev/null || echo '?');" \
        "$(zstd --version | head -1 | sed 's/\*//g' | xargs); age $(age --version)"
    echo "data: $(stat -c %s mixed.tar) bytes of /usr/share + /usr/lib (tar), page-cached"
}
paired() { python3 "$OLDPWD/perf/paired.py" --rounds "$rounds" "$@" 2>/dev/null; }

echo "# hot path, $(date -u +%F)"
machine
echo
for table in "${tables[@]}"; do
    case "$table" in
        pack)
            paired --title "pack 1 GiB with a key file, output to /dev/null" \
                "tbbpipe pack=$T pack -q --key-file k.key -c mixed.tar > /dev/null" \
                "tbbpipe-plain pack=$P pack --key-file k.key mixed.tar -" \
                "zstd -1 -T0 | age=zstd -1 -T0 -q -c mixed.tar | age -r $recipient > /dev/null"
            ;;
        unpack)
            paired --title "unpack 1 GiB with a key file, output to /dev/null" \
                "tbbpipe unpack=$T unpack -q --key-file k.key -c mixed.tar.tbp > /dev/null" \
                "tbbpipe-plain unpack=$P unpack --key-file k.key mixed.plain -" \
                "age -d | zstd -d=age -d -i age.id mixed.tar.zst.age | zstd -d -q -c > /dev/null"
            ;;
        pack64k)
            paired --title "pack 1 GiB in 64 KiB chunks, output to /dev/null" \
                "tbbpipe pack --chunk-size 64K=$T pack -q --key-file k.key --chunk-size 64K -c mixed.tar > /dev/null" \
                "tbbpipe-plain pack --chunk-size 65536=$P pack --key-file k.key --chunk-size 65536 mixed.tar -"
            ;;
        hashes)
            for h in sha256 none; do
                "$T" pack -q -f --key-file k.key --hash "$h" -o "mixed.$h.tbp" mixed.tar
            done
            paired --title "the chunk digest: pack 1 GiB with a key file, output to /dev/null" \
                "--hash xxh3 (default)=$T pack -q --key-file k.key --hash xxh3 -c mixed.tar > /dev/null" \
                "--hash sha256=$T pack -q --key-file k.key --hash sha256 -c mixed.tar > /dev/null" \
                "--hash none=$T pack -q --key-file k.key --hash none -c mixed.tar > /dev/null"
            echo
            paired --title "the chunk digest: unpack 1 GiB with a key file, output to /dev/null" \
                "xxh3 (default)=$T unpack -q --key-file k.key -c mixed.tar.tbp > /dev/null" \
                "sha256=$T unpack -q --key-file k.key -c mixed.sha256.tbp > /dev/null" \
                "none=$T unpack -q --key-file k.key -c mixed.none.tbp > /dev/null"
            ;;
        small)
            # 20,000 files, lognormal sizes around 11 KiB, on tmpfs in and out.
            shm=/dev/shm/tbbpipe-hotpath
            if [[ ! -d $shm/in ]]; then
                rm -rf "$shm" && mkdir -p "$shm/in"
                "$LAB" generate -q --data total=220MiB,files=20000 --out "$shm/lab" >/dev/null
                mv "$shm"/lab/file-* "$shm/in/" && rm -rf "$shm/lab"
            fi
            paired --title "20,000 small files (220 MiB, tmpfs), key file, one output per file" \
                --before "rm -rf $shm/out*" \
                "tbbpipe pack --no-fsync=$T pack -q --key-file k.key --no-fsync -r $shm/in --output-dir $shm/out1" \
                "tbbpipe pack (durable)=$T pack -q --key-file k.key -r $shm/in --output-dir $shm/out2" \
                "zstd -1 -T0 -r=zstd -1 -T0 -q -r $shm/in --output-dir-mirror $shm/out3"
            ;;
        realfiles)
            # Outputs to a real file on this disk: page-cache writes, fresh pages every run.
            paired --title "unpack 1 GiB into a file on disk (--no-fsync), and cp of the same bytes" \
                --before "rm -f out.*" \
                "tbbpipe unpack -o file=$T unpack -q --no-fsync --key-file k.key -o out.1 mixed.tar.tbp" \
                "tbbpipe-plain unpack > file=$P unpack --key-file k.key mixed.plain out.2" \
                "age -d | zstd -d > file=age -d -i age.id mixed.tar.zst.age | zstd -d -q -o out.3" \
                "cp=cp mixed.tar out.4"
            rm -f out.*
            ;;
        *) echo "hotpath: unknown table $table" >&2; exit 2 ;;
    esac
    echo
done
