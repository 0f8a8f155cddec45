#!/usr/bin/env bash
# tbbpipe-mpi against the single-process CLI on the same 2 cores: 2 ranks x 1 thread against
# 1 process x 2 threads, for 1 GiB of files, for 20,000 small files, and for one 1 GiB file split
# across the ranks into one container; with mpirun's own start-up measured apart, so each ratio
# is shown with it and without it. Paired, shuffled rounds (perf/paired.py), medians.
#
# Usage: perf/mpi_bench.sh BUILD_DIR WORK_DIR [ROUNDS]
#   BUILD_DIR  a Release build with apps/tbbpipe, apps/tbbpipe-mpi and apps/tbbpipe-datagen
#   WORK_DIR   where outputs and made data go (use /dev/shm/...: the inputs and outputs are then
#              on tmpfs, as in docs/PERFORMANCE.md's small-file table)
#   ROUNDS     counted rounds per table (default 7; one warm-up round more)
# Data: WORK_DIR/files is /work/bench/mixed.tar (1 GiB of /usr/share + /usr/lib) extracted; the
# small files are /dev/shm/small/in (20,000 files). Either is made with tbbpipe-datagen when
# missing (1 GiB or 260 MB of its mixed data cut into files of lognormal sizes).
# Needs mpirun (Open MPI) and python3. Takes about 10 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
(($# >= 2)) || { sed -n '7,11p' "$0" >&2; exit 2; }
build="$(cd "$1" && pwd)"
work="$2"
rounds="${3:-7}"

T="$build/apps/tbbpipe"
M="$build/apps/tbbpipe-mpi"
G="$build/apps/tbbpipe-datagen"
for tool in "$T" "$M" "$G"; do
    [[ -x $tool ]] || { echo "mpi_bench: $tool missing (build $build first)" >&2; exit 2; }
done
for tool in mpirun python3 tar; do
    command -v "$tool" >/dev/null || { echo "mpi_bench: $tool is not installed" >&2; exit 2; }
done
# Open MPI refuses to start as root without these; harmless otherwise.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MR="mpirun --oversubscribe"

mkdir -p "$work"
work="$(cd "$work" && pwd)"
cd "$work"
tables="$work/tables"   # each table's Markdown, read again by the summary at the end
json="$work/json"       # the --json documents of the timed runs that print one
rm -rf "$tables" "$json" && mkdir -p "$tables" "$json"

# Cuts standard input into files of lognormal sizes (median MEDIAN bytes) under DIR.
cut_files() {
    python3 - "$@" <<'EOF'
import math, os, random, sys
out, median, sigma = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
rng = random.Random(7)
src = sys.stdin.buffer
n = 0
while True:
    size = max(1, min(64 << 20, int(math.exp(rng.gauss(math.log(median), sigma)))))
    data = src.read(size)
    if not data:
        break
    d = os.path.join(out, f"d{n // 1000:03d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"file-{n:06d}.bin"), "wb") as f:
        f.write(data)
    n += 1
print(f"mpi_bench: {n} files in {out}", file=sys.stderr)
EOF
}

# 1 GiB as one file: the tar of system files when this machine has it.
big=/work/bench/mixed.tar
if [[ ! -s $big ]]; then
    big="$work/mixed.bin"
    [[ -s $big ]] || { echo "mpi_bench: writing $big" >&2; "$G" --size 1G -o "$big"; }
fi
# 1 GiB of files: the tar extracted (it is cut at 1 GiB, so tar ends with an error), else datagen.
if [[ ! -d files ]]; then
    mkdir -p files.tmp
    if [[ $big == /work/bench/mixed.tar ]]; then
        echo "mpi_bench: extracting $big into $work/files" >&2
        tar -xf "$big" -C files.tmp 2>/dev/null || true
    else
        "$G" --size 1G --seed 2 -o - | cut_files files.tmp 16384 1.6
    fi
    mv files.tmp files
fi
# 20,000 small files (about 13 KiB each).
small=/dev/shm/small/in
if [[ ! -d $small ]]; then
    mkdir -p "$small.tmp"
    "$G" --size 260M --seed 3 -o - | python3 -c '
import os, sys
out = sys.argv[1]; data = sys.stdin.buffer.read(); n = 20000; step = len(data) // n
for i in range(n):
    with open(os.path.join(out, f"file-{i:04d}.bin"), "wb") as f:
        f.write(data[i * step:(i + 1) * step if i < n - 1 else len(data)])
' "$small.tmp"
    mv "$small.tmp" "$small"
fi
[[ -s K ]] || "$T" keygen -q -o K

nfiles() { find "$1" -type f | wc -l; }
mib() { du -sb "$1" | awk '{printf "%.0f", $1 / 1048576}'; }

# paired TABLE_NAME [paired.py arguments...]: the table on stdout and in $tables/NAME.md.
paired() {
    local name=$1
    shift
    python3 "$repo/perf/paired.py" --rounds "$rounds" "$@" 2>"$tables/$name.err" \
        | tee "$tables/$name.md" || { cat "$tables/$name.err" >&2; exit 1; }
}
# A --json run's document, one file per run (the warm-up's is the oldest, left out later).
to_json() { echo "> \"\$(mktemp -p $json $1.XXXXXX)\""; }

echo "# tbbpipe-mpi against tbbpipe, $(date -u '+%F %H:%M') UTC"
echo
echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))," \
    "$(free -g | awk '/Mem:/{print $2}') GiB, Linux $(uname -r); load average at the start:" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
echo "tbbpipe: $("$T" --version | head -1), binaries in $build (source tree HEAD" \
    "$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?'); the build's own commit is" \
    "not recorded); $(mpirun --version | head -1)"
echo "command: perf/mpi_bench.sh $* (ROUNDS=$rounds)"
echo "data: files = $work/files ($(nfiles files) files, $(mib files) MiB, from $big);" \
    "small = $small ($(nfiles "$small") files, $(mib "$small") MiB); one file = $big" \
    "($(stat -c %s "$big") bytes); inputs page-cached by the warm-up round, outputs to $work/out" \
    "(tmpfs when WORK_DIR is on /dev/shm), emptied before every timed run; key file K"
echo
echo "Open MPI binds each rank to one core by default when -np <= 2 (-np 1: core 0 only, so" \
    "-T 2 runs two threads on one core; -np 2: a core each); \`--bind-to none\` lines lift that."
echo
echo "Every mpirun line is \`$MR -np N $M ...\`; its wall time includes launching the ranks," \
    "MPI_Init and MPI_Finalize. A \`--json\` line is the same command printing its JSON document:" \
    "its \`totals.seconds\` is rank 0's wall time from after MPI_Init to its report (the run" \
    "without mpirun's start-up)."
echo

# --- mpirun start-up -------------------------------------------------------------------------
paired startup --title "start-up: mpirun and MPI_Init/MPI_Finalize, nothing else" \
    "tbbpipe --version (no MPI)=$T --version" \
    "mpirun -np 1 /bin/true (launch only)=$MR -np 1 /bin/true" \
    "mpirun -np 2 /bin/true (launch only)=$MR -np 2 /bin/true" \
    "mpirun -np 1 tbbpipe-mpi --version=$MR -np 1 $M --version" \
    "mpirun -np 2 tbbpipe-mpi --version=$MR -np 2 $M --version" \
    "mpirun -np 4 tbbpipe-mpi --version=$MR -np 4 $M --version"
echo

# --- 1 GiB of files --------------------------------------------------------------------------
common="--key-file K --no-fsync -q -f"
paired files --title "1 GiB of files ($(nfiles files) files, tmpfs), one output per file" \
    --before "rm -rf $work/out" \
    "tbbpipe -T 2 (1 process x 2 threads)=$T pack -r files --output-dir out -T 2 $common" \
    "mpirun -np 2 tbbpipe-mpi -T 1 (2 ranks x 1 thread)=$MR -np 2 $M pack -r files --output-dir out -T 1 $common" \
    "mpirun -np 1 tbbpipe-mpi -T 2 (1 rank x 2 threads; bound to 1 core)=$MR -np 1 $M pack -r files --output-dir out -T 2 $common" \
    "mpirun --bind-to none -np 1 tbbpipe-mpi -T 2=$MR --bind-to none -np 1 $M pack -r files --output-dir out -T 2 $common" \
    "tbbpipe -T 2 --json=$T pack -r files --output-dir out -T 2 $common --json $(to_json files-single)" \
    "mpirun -np 2 -T 1 --json=$MR -np 2 $M pack -r files --output-dir out -T 1 $common --json $(to_json files-np2)"
echo

# --- 20,000 small files ----------------------------------------------------------------------
paired small --title "20,000 small files ($(mib "$small") MiB, tmpfs), one output per file" \
    --before "rm -rf $work/out" \
    "tbbpipe -T 2 (1 process x 2 threads)=$T pack -r $small --output-dir out -T 2 $common" \
    "mpirun -np 2 tbbpipe-mpi -T 1 (2 ranks x 1 thread)=$MR -np 2 $M pack -r $small --output-dir out -T 1 $common" \
    "mpirun -np 1 tbbpipe-mpi -T 2 (1 rank x 2 threads; bound to 1 core)=$MR -np 1 $M pack -r $small --output-dir out -T 2 $common" \
    "mpirun --bind-to none -np 1 tbbpipe-mpi -T 2=$MR --bind-to none -np 1 $M pack -r $small --output-dir out -T 2 $common" \
    "tbbpipe -T 2 --json=$T pack -r $small --output-dir out -T 2 $common --json $(to_json small-single)" \
    "mpirun -np 2 -T 1 --json=$MR -np 2 $M pack -r $small --output-dir out -T 1 $common --json $(to_json small-np2)" \
    "mpirun -np 2 -T 1 --json --batch-files 1=$MR -np 2 $M pack -r $small --output-dir out -T 1 $common --batch-files 1 --json $(to_json small-bf1)"
echo

# --- one 1 GiB file split across the ranks ---------------------------------------------------
one="-o out/m.tbp --key-file K --no-fsync -f -q --chunk-size 1M"
paired split --title "one 1 GiB file ($(basename "$big")) into one container, 1 MiB chunks" \
    --before "rm -rf $work/out && mkdir -p $work/out" \
    "tbbpipe -T 2 (1 process x 2 threads)=$T pack $big $one -T 2" \
    "mpirun -np 2 -T 1 --split-size 256M (2 ranks x 1 thread)=$MR -np 2 $M pack $big $one -T 1 --split-size 256M" \
    "mpirun -np 2 -T 2 --split-size 256M (2 ranks x 2 threads)=$MR -np 2 $M pack $big $one -T 2 --split-size 256M" \
    "mpirun -np 1 -T 2 (1 rank, not split; bound to 1 core)=$MR -np 1 $M pack $big $one -T 2 --split-size off" \
    "mpirun --bind-to none -np 1 -T 2 (not split)=$MR --bind-to none -np 1 $M pack $big $one -T 2 --split-size off" \
    "tbbpipe -T 2 --json=$T pack $big $one -T 2 --json $(to_json split-single)" \
    "mpirun -np 2 -T 1 --split-size 256M --json=$MR -np 2 $M pack $big $one -T 1 --split-size 256M --json $(to_json split-np2)"
echo
rm -rf "$work/out"

# --- the targets, from the tables above and the --json documents -----------------------------
python3 - "$tables" "$json" <<'EOF'
import glob, json, os, re, statistics, sys
tables, jdir = sys.argv[1], sys.argv[2]

def walls(name):
    rows = {}
    for line in open(os.path.join(tables, name + ".md")):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and re.fullmatch(r"[0-9.]+", cells[1]):
            rows[cells[0]] = float(cells[1])
    return rows

def docs(prefix):
    paths = sorted(glob.glob(os.path.join(jdir, prefix + ".*")), key=os.path.getmtime)[1:]
    return [json.load(open(p)) for p in paths]  # the oldest is the warm-up round's

def med(xs):
    return statistics.median(xs) if xs else float("nan")

st = walls("startup")
up = {n: st[f"mpirun -np {n} tbbpipe-mpi --version"] for n in (1, 2, 4)}
print("### start-up and coordination\n")
print("| figure | median |")
print("| --- | ---: |")
for n in (1, 2, 4):
    print(f"| `mpirun -np {n} tbbpipe-mpi --version` wall | {up[n]:.3f} s |")
print(f"| of which launch only (`mpirun -np 2 /bin/true`) | {st['mpirun -np 2 /bin/true (launch only)']:.3f} s |")

bf1, dflt = docs("small-bf1"), docs("small-np2")
sm = walls("small")
b1 = med([d["distributed"]["batches"] for d in bf1])
b0 = med([d["distributed"]["batches"] for d in dflt])
t1 = med([d["totals"]["seconds"] for d in bf1])
t0 = med([d["totals"]["seconds"] for d in dflt])
if b1 > b0:
    per = (t1 - t0) / (b1 - b0) * 1e6
    per_wall = (sm["mpirun -np 2 -T 1 --json --batch-files 1"] -
                sm["mpirun -np 2 -T 1 --json"]) / (b1 - b0) * 1e6
    print(f"| batches for 20,000 files: default / `--batch-files 1` | {b0:.0f} / {b1:.0f} |")
    print(f"| cost per batch (totals.seconds difference / extra batches) | {per:.1f} us |")
    print(f"| cost per batch (wall difference / extra batches) | {per_wall:.1f} us |")
for label, ds in (("default", dflt), ("--batch-files 1", bf1)):
    for r in (0, 1):
        rows = [d["distributed"]["per_rank"][r] for d in ds]
        print(f"| 20,000 files, {label}, rank {r}: messages sent, wait s, busy s | "
              f"{med([x['messages_sent'] for x in rows]):.0f}, "
              f"{med([x['wait_seconds'] for x in rows]):.3f}, "
              f"{med([x['busy_seconds'] for x in rows]):.3f} |")
for name, label in (("files", "1 GiB of files"), ("split", "one 1 GiB file, split")):
    for r in (0, 1):
        rows = [d["distributed"]["per_rank"][r] for d in docs(f"{name}-np2")]
        print(f"| {label}, 2 ranks x 1, rank {r}: messages sent, wait s, busy s | "
              f"{med([x['messages_sent'] for x in rows]):.0f}, "
              f"{med([x['wait_seconds'] for x in rows]):.3f}, "
              f"{med([x['busy_seconds'] for x in rows]):.3f} |")

print("\n### the targets: 2 ranks x 1 thread >= 0.9 of 1 process x 2 threads' throughput\n")
print("Throughput ratio = single-process time / MPI time (1.00: as fast). \"with start-up\": "
      "the wall times of the plain lines. \"start-up subtracted\": the MPI line's wall minus "
      "`mpirun -np 2 tbbpipe-mpi --version`'s. \"in-process\": `totals.seconds` of the --json "
      "lines (tbbpipe's and rank 0's; no process start, no MPI_Init).\n")
print("| case | tbbpipe -T 2 s | mpirun -np 2 -T 1 s | with start-up | start-up subtracted | in-process (--json) | target 0.9 |")
print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
for name, label, mline in (
        ("files", "1 GiB of files", "mpirun -np 2 tbbpipe-mpi -T 1 (2 ranks x 1 thread)"),
        ("small", "20,000 small files", "mpirun -np 2 tbbpipe-mpi -T 1 (2 ranks x 1 thread)"),
        ("split", "one 1 GiB file split", "mpirun -np 2 -T 1 --split-size 256M (2 ranks x 1 thread)")):
    w = walls(name)
    single = w["tbbpipe -T 2 (1 process x 2 threads)"]
    mpi = w[mline]
    js = med([d["totals"]["seconds"] for d in docs(f"{name}-single")])
    jm = med([d["totals"]["seconds"] for d in docs(f"{name}-np2")])
    r_with, r_sub, r_in = single / mpi, single / (mpi - up[2]), js / jm
    verdict = ("met" if r_with >= 0.9 else
               "met without start-up only" if max(r_sub, r_in) >= 0.9 else "not met")
    print(f"| {label} | {single:.3f} | {mpi:.3f} | {r_with:.2f} | {r_sub:.2f} | "
          f"{r_in:.2f} ({js:.3f} vs {jm:.3f} s) | {verdict} |")
EOF
