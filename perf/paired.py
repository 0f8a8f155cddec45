#!/usr/bin/env python3
"""Times several commands in paired rounds and prints medians and same-run ratios.

Usage: paired.py [--rounds N] [--title T] [--before CMD] NAME=COMMAND [NAME=COMMAND ...]

Each round runs every command once (in a shuffled order after the first round, so a busy
minute on a shared machine spreads over all of them); the first round is a warm-up and is not
counted. A command is a bash script run with pipefail, so a failing stage of a pipeline fails the
run. --before runs (untimed) before every timed command: the place to empty an output folder.
Wall time is measured around the child; user and system time and peak RSS come from wait4, so
they cover the whole pipeline. Ratios compare each line with the first: `first/this` wall time,
i.e. how many times faster the first line is.

Prints a Markdown table on stdout; exits 1 if any run failed (its stderr is shown).
"""
import argparse
import os
import random
import statistics
import subprocess
import sys
import time


def run_once(script):
    start = time.monotonic()
    proc = subprocess.Popen(["bash", "-c", "set -o pipefail\n" + script],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"exit {proc.returncode}: {err.decode(errors='replace').strip()}")
    return wall, usage.ru_utime, usage.ru_stime, usage.ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5, help="counted rounds (default 5)")
    ap.add_argument("--title", default="")
    ap.add_argument("--before", default="", help="untimed script before every run")
    ap.add_argument("--seed", type=int, default=1, help="shuffle seed")
    ap.add_argument("lines", nargs="+", metavar="NAME=COMMAND")
    args = ap.parse_args()
    lines = []
    for text in args.lines:
        name, sep, script = text.partition("=")
        if not sep or not script:
            ap.error(f"not NAME=COMMAND: {text!r}")
        lines.append((name, script))

    rng = random.Random(args.seed)
    samples = {name: [] for name, _ in lines}
    for round_no in range(args.rounds + 1):
        order = list(lines)
        if round_no > 0:
            rng.shuffle(order)
        for name, script in order:
            if args.before:
                subprocess.run(["bash", "-c", args.before], check=True)
            try:
                sample = run_once(script)
            except RuntimeError as e:
                print(f"paired.py: {name}: {e}", file=sys.stderr)
                return 1
            if round_no > 0:
                samples[name].append(sample)
        print(f"paired.py: round {round_no}/{args.rounds} done", file=sys.stderr)

    first = statistics.median(s[0] for s in samples[lines[0][0]])
    if args.title:
        print(f"### {args.title}\n")
    print(f"medians of {args.rounds} paired rounds (after one warm-up round)\n")
    print("| line | wall s | user s | sys s | peak RSS MiB | "
          f"{lines[0][0]} is ... faster |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, script in lines:
        s = samples[name]
        wall = statistics.median(x[0] for x in s)
        user = statistics.median(x[1] for x in s)
        sys_t = statistics.median(x[2] for x in s)
        rss = max(x[3] for x in s)
        ratio = wall / first if first > 0 else float("nan")
        print(f"| {name} | {wall:.3f} | {user:.2f} | {sys_t:.2f} | {rss:.1f} | {ratio:.2f}x |")
    print("\n(min..max wall s: " + "; ".join(
        f"{name} {min(x[0] for x in samples[name]):.3f}..{max(x[0] for x in samples[name]):.3f}"
        for name, _ in lines) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
