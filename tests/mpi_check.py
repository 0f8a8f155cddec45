#!/usr/bin/env python3
"""tbbpipe-mpi under mpirun, one case per ctest entry (tests/CMakeLists.txt).

Usage: mpi_check.py TBBPIPE TBBPIPE_MPI CASE

The ranks run on this machine (mpirun --oversubscribe -np K, K = 1..4). Open MPI refuses to run
as root unless told; the two variables that allow it are set here, for these runs only.
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TBBPIPE, TBBPIPE_MPI, CASE = sys.argv[1], sys.argv[2], sys.argv[3]

ENV = dict(os.environ)
ENV.update({"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"})
ENV.pop("TBBPIPE_PASSPHRASE", None)
if "ASAN_OPTIONS" in ENV:
    # Open MPI leaks at MPI_Finalize from MCA components it has already unloaded: LeakSanitizer
    # reports them as "<unknown module>", which no suppression can name. Memory errors are still
    # caught; the library's leaks are the other suites' to find.
    ENV["ASAN_OPTIONS"] += ":detect_leaks=0"
# The signal case: a rank signalled by mpirun gets this long after SIGTERM to clean up (Open
# MPI's default is 1 s). Not for the others: mpirun also waits this long after any rank exits
# non-zero.
SIGNAL_ENV = dict(ENV, OMPI_MCA_odls_base_sigkill_timeout="10")


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def mpirun(ranks, *args, check=None, env=None):
    cmd = ["mpirun", "--oversubscribe", "-np", str(ranks), TBBPIPE_MPI, *map(str, args)]
    start = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env or ENV, timeout=300)
    took = time.monotonic() - start
    if took > 20:  # a slow run is worth seeing even when it passes
        print(f"note: {took:.1f} s: {' '.join(cmd)}")
    if check is not None and r.returncode != check:
        fail(f"{' '.join(cmd)}: exit {r.returncode}, expected {check}\n{r.stdout}\n{r.stderr}")
    return r


def single(*args, check=0):
    cmd = [TBBPIPE, *map(str, args)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300)
    if check is not None and r.returncode != check:
        fail(f"{' '.join(cmd)}: exit {r.returncode}, expected {check}\n{r.stderr}")
    return r


def pseudo_random(n, seed):
    """Bytes that compress a little, like real data, made fast."""
    out = bytearray()
    x = seed * 2654435761 % (1 << 32) or 1
    word = bytearray()
    while len(out) < n:
        x = (x * 1103515245 + 12345) % (1 << 31)
        word = x.to_bytes(4, "little") * (1 + x % 3)
        out += word + b"tbbpipe "[: x % 8]
    return bytes(out[:n])


def make_tree(root: Path, big=3 << 20):
    """Many small files, a tree, empty and tiny files, and one file to split."""
    for i in range(40):
        d = root / ("a" if i % 3 else "b/c")
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:02}").write_bytes(pseudo_random(500 + 2311 * i, i))
    (root / "empty").write_bytes(b"")
    (root / "tiny").write_bytes(b"x")
    (root / "big").write_bytes(pseudo_random(big, 99))


def files_below(root: Path):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def same_trees(a: Path, b: Path, skip=()):
    fa = [f for f in files_below(a) if f not in skip]
    fb = [f for f in files_below(b) if f not in skip]
    if fa != fb:
        fail(f"{a} and {b} hold different files:\n{fa}\n{fb}")
    for f in fa:
        if (a / f).read_bytes() != (b / f).read_bytes():
            fail(f"{a / f} and {b / f} differ")


def temporaries(root: Path):
    return [p for p in root.rglob("*") if ".tbbpipe-" in p.name]


def run_json(r):
    try:
        return json.loads(r.stdout)
    except json.JSONDecodeError:
        fail(f"not one JSON document:\n{r.stdout}\n{r.stderr}")


def case_identical(tmp: Path):
    """Outputs do not depend on the number of ranks, and tbbpipe reads them (and back)."""
    make_tree(tmp / "in")
    common = ["--chunk-size", "64K", "--split-size", "1M", "--batch-files", "4", "-q"]
    single("pack", "-r", tmp / "in", "--output-dir", tmp / "ref", "--chunk-size", "64K", "-q")
    for n in (1, 2, 3, 4):
        out = tmp / f"out{n}"
        mpirun(n, "pack", "-r", tmp / "in", "--output-dir", out, *common, check=0)
        # The manifest records when it was made: equal in content, not in bytes.
        same_trees(tmp / "ref", out, skip={".tbbpipe.manifest"})
        single("verify", "-r", out, "-q")
        back = tmp / f"back{n}"
        mpirun(n, "unpack", "-r", out, "--output-dir", back, "--split-size", "1M", "-q", check=0)
        same_trees(tmp / "in", back)
        r = mpirun(n, "verify", "-r", tmp / "ref", "--split-size", "1M", "--json", check=0)
        d = run_json(r)
        if d["distributed"]["ranks"] != n or d["totals"]["ok"] != len(files_below(tmp / "in")):
            fail(f"verify with {n} ranks: {d['distributed']} {d['totals']}")
        if d["distributed"]["split_files"] != 1 or not d["sets"] or not d["sets"][0]["manifest"]:
            fail(f"verify with {n} ranks: split files or set wrong: {d['sets']}")
    # The split file was split: with 4 ranks every rank had a part of it.
    r = mpirun(4, "verify", tmp / "ref" / "big.tbp", "--split-size", "1M", "--json", check=0)
    rows = run_json(r)["distributed"]["per_rank"]
    if any(row["files"] != 1 or row["bytes_in"] == 0 for row in rows):
        fail(f"a 4-way split left a rank without a part: {rows}")
    # Not launched by mpirun: one rank.
    subprocess.run([TBBPIPE_MPI, "pack", "-r", tmp / "in", "--output-dir", tmp / "solo", *common],
                   check=True, env=ENV, timeout=300)
    same_trees(tmp / "ref", tmp / "solo", skip={".tbbpipe.manifest"})


def case_encrypted(tmp: Path):
    """Key file and passphrase: round trips, tbbpipe verifies, one derivation per rank."""
    make_tree(tmp / "in")
    single("keygen", "-o", tmp / "k")
    mpirun(3, "pack", "-r", tmp / "in", "--output-dir", tmp / "e", "--key-file", tmp / "k",
           "--split-size", "1M", "--batch-files", "4", "-q", check=0)
    single("verify", "-r", tmp / "e", "--key-file", tmp / "k", "-q")
    single("unpack", "-r", tmp / "e", "--output-dir", tmp / "eb", "--key-file", tmp / "k", "-q")
    same_trees(tmp / "in", tmp / "eb")
    pw = tmp / "pw"
    pw.write_text("correct horse battery staple\n")
    pw.chmod(0o600)
    for n, command in ((2, "pack"), (3, "verify"), (2, "unpack")):
        args = {"pack": ["-r", tmp / "in", "--output-dir", tmp / "p", "--scrypt-log2n", "14"],
                "verify": ["-r", tmp / "p"],
                "unpack": ["-r", tmp / "p", "--output-dir", tmp / "pb"]}[command]
        r = mpirun(n, command, *args, "--passphrase-file", pw, "--split-size", "1M",
                   "--batch-files", "4", "--json", check=0)
        for row in run_json(r)["distributed"]["per_rank"]:
            if row["key_derivations"] > 1:
                fail(f"{command}: rank {row['rank']} derived {row['key_derivations']} keys")
    same_trees(tmp / "in", tmp / "pb")
    single("verify", "-r", tmp / "p", "--passphrase-file", pw, "-q")
    # A wrong key: integrity failure (3) from every container, reported by rank 0.
    single("keygen", "-o", tmp / "k2")
    r = mpirun(2, "verify", "-r", tmp / "e", "--key-file", tmp / "k2", "--split-size", "1M")
    if r.returncode != 3:
        fail(f"wrong key: exit {r.returncode}\n{r.stderr}")


def case_failures(tmp: Path):
    """A corrupt container and a missing input: each reported once, by name; the rest done."""
    make_tree(tmp / "in")
    mpirun(2, "pack", "-r", tmp / "in", "--output-dir", tmp / "c", "--split-size", "1M", "-q",
           check=0)
    victim = tmp / "c" / "a" / "f04.tbp"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    big = tmp / "c" / "big.tbp"  # split across ranks: damage in the middle part
    data = bytearray(big.read_bytes())
    data[len(data) // 2] ^= 0xFF
    big.write_bytes(bytes(data))
    r = mpirun(3, "unpack", "-r", tmp / "c", "--output-dir", tmp / "u", "--split-size", "1M",
               "--batch-files", "3")
    if r.returncode != 3:
        fail(f"corrupt containers: exit {r.returncode}, expected 3\n{r.stderr}")
    for name in ("f04.tbp", "big.tbp"):
        said = [line for line in r.stderr.splitlines() if name in line]
        if len(said) != 1:
            fail(f"{name} reported {len(said)} times:\n{r.stderr}")
    restored = files_below(tmp / "u")
    expected = [f for f in files_below(tmp / "in") if f not in ("a/f04", "big")]
    if restored != expected:
        fail(f"restored {restored}, expected {expected}")
    if temporaries(tmp / "u"):
        fail(f"temporaries left: {temporaries(tmp / 'u')}")
    same_trees(tmp / "in", tmp / "u", skip={"a/f04", "big"})
    # A split container replaced by another of the same name under the same key (an older
    # version, say): its set's manifest tells them apart, split or not.
    (tmp / "v2").mkdir()
    (tmp / "v2" / "big").write_bytes(pseudo_random(3 << 20, 7))
    single("pack", tmp / "v2" / "big", "-o", tmp / "c" / "big.tbp", "-f", "-q")
    r = mpirun(2, "verify", "-r", tmp / "c", "--split-size", "1M", "-q")
    said = [line for line in r.stderr.splitlines() if "big.tbp" in line]
    if r.returncode != 3 or len(said) != 1 or "manifest" not in said[0]:
        fail(f"a replaced split container: exit {r.returncode}\n{r.stderr}")
    # A missing input named explicitly: exit 1, once; the other file is packed.
    r = mpirun(2, "pack", tmp / "in" / "tiny", tmp / "in" / "nothing", "--output-dir", tmp / "m")
    if r.returncode != 1 or r.stderr.count("nothing") != 1:
        fail(f"missing input: exit {r.returncode}\n{r.stderr}")
    if not (tmp / "m" / "tiny.tbp").exists():
        fail("the good file was not packed")
    # Thousands of failures in batches of 64: results and batches (each above MPI's eager limit)
    # cross between ranks at once, which once deadlocked two blocking sends.
    garbage = tmp / "garbage"
    garbage.mkdir()
    for i in range(3000):
        (garbage / f"x{i:04}.tbp").write_bytes(b"not a container, " * 4)
    for _ in range(3):
        r = mpirun(2, "verify", "-r", garbage, "-T", "1", "-q", "--batch-files", "64")
        if r.returncode != 3 or r.stderr.count("x0042.tbp") != 1:
            fail(f"3000 bad containers: exit {r.returncode}\n{r.stderr[-2000:]}")
    # info and keygen run on rank 0; a key rank 0 cannot read ends every rank (exit 2).
    r = mpirun(2, "info", "--key-file", tmp / "no-such-key", victim)
    if r.returncode != 2 or r.stderr.count("no-such-key") != 1:
        fail(f"info with a missing key: exit {r.returncode}\n{r.stderr}")
    # Refused command lines: exit 2, said once.
    r = mpirun(2, "pack", "--bogus", tmp / "in")
    if r.returncode != 2 or r.stderr.count("bogus") != 1:
        fail(f"bad option: exit {r.returncode}\n{r.stderr}")
    r = mpirun(2, "pack", "-p", tmp / "in" / "tiny")
    if r.returncode != 2 or "passphrase-file" not in r.stderr:
        fail(f"-p with 2 ranks: exit {r.returncode}\n{r.stderr}")


def interrupt(tmp: Path, name, send):
    """Starts a run big enough to be stopped, stops it once outputs are being written."""
    out = tmp / name
    p = subprocess.Popen(["mpirun", "--oversubscribe", "-np", "2", TBBPIPE_MPI, "pack", "-r",
                          tmp / "in", "--output-dir", out, "--split-size", "32M", "-q",
                          "--memory-limit", "16M"], env=SIGNAL_ENV, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not (out.exists() and temporaries(out)):
        time.sleep(0.01)
    if p.poll() is not None:
        fail(f"{name}: the run ended before it could be interrupted")
    send(p)
    _, err = p.communicate(timeout=120)
    if temporaries(out):
        fail(f"{name}: temporaries left: {temporaries(out)}")
    for container in out.rglob("*.tbp"):  # what was committed is whole
        single("verify", container, "-q")
    return p.returncode, err


def case_signal(tmp: Path):
    """SIGTERM or SIGINT mid-run: every rank stops, removes its temporaries, exits 130."""
    (tmp / "in").mkdir()
    for i in range(4):
        (tmp / "in" / f"big{i}").write_bytes(pseudo_random(48 << 20, i))
    for i in range(200):
        (tmp / "in" / f"small{i:03}").write_bytes(pseudo_random(20000, i))

    def to_ranks(p):  # as a batch system's signal reaches the ranks
        ranks = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True)
        for pid in ranks.stdout.split():
            os.kill(int(pid), signal.SIGTERM)

    code, err = interrupt(tmp, "ranks", to_ranks)
    if code != 130:
        fail(f"SIGTERM to the ranks: exit {code}, expected 130\n{err}")
    # mpirun interrupted itself forwards the signal; it then exits 1 whatever the ranks say.
    code, err = interrupt(tmp, "mpirun", lambda p: p.send_signal(signal.SIGINT))
    if code == 0:
        fail(f"SIGINT to mpirun: exit 0\n{err}")


def case_budgets(tmp: Path):
    """Budgets hold per rank; --json has every rank's observed maxima; metrics per rank."""
    make_tree(tmp / "in", big=8 << 20)
    r = mpirun(2, "pack", "-r", tmp / "in", "--output-dir", tmp / "o", "-T", "1",
               "--io-tokens", "1", "--memory-limit", "6M", "--chunk-size", "256K",
               "--split-size", "2M", "--batch-files", "5", "--json",
               "--metrics-file", tmp / "m.prom", check=0)
    d = run_json(r)
    rows = d["distributed"]["per_rank"]
    if len(rows) != 2 or sum(row["files"] for row in rows) < d["totals"]["files"]:
        fail(f"per-rank rows: {rows}")
    for row in rows:
        if (row["cpu_tokens"] != 1 or row["max_transforms_in_flight"] > 1 or
                row["max_reads_in_flight"] > 1 or row["memory_limit_bytes"] != 6 << 20 or
                row["max_chunks_in_flight"] > row["chunk_tokens"] or
                row["tokens_outstanding"] != 0 or row["max_transforms_in_flight"] < 1):
            fail(f"rank {row['rank']} broke its budget: {row}")
        if row["batches"] < 1:
            fail(f"rank {row['rank']} ran no batch: {rows}")
    for rank in (0, 1):
        text = (tmp / f"m.rank{rank}.prom").read_text()
        if f'rank="{rank}"' not in text or "tbbpipe_chunks_total" not in text:
            fail(f"metrics file of rank {rank}:\n{text[:500]}")


CASES = {"identical": case_identical, "encrypted": case_encrypted,
         "failures": case_failures, "signal": case_signal, "budgets": case_budgets}

if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="tbbpipe-mpi-", dir="/dev/shm"
                                     if os.path.isdir("/dev/shm") else None) as d:
        CASES[CASE](Path(d))
    print("ok")
