#!/usr/bin/env python3
"""Runs every tbbpipe command with --json on real files and checks each document against
docs/tbbpipe-output.schema.json, plus the rules docs/JSON.md states that a schema cannot:
pure ASCII output, exact bytes of a non-UTF-8 name in *_hex, one meaning of ratio, totals that
add up, failed files listed with their status and message.
Usage: json_schema_check.py TBBPIPE SCHEMA.   Exit 77 (skipped) without python3-jsonschema."""
import json
import os
import subprocess
import sys
import tempfile

try:
    import jsonschema
except ImportError:
    print("json_schema_check: python3-jsonschema is not installed: skipped")
    sys.exit(77)

tbbpipe, schema_path = sys.argv[1], sys.argv[2]
with open(schema_path) as f:
    schema = json.load(f)
validator = jsonschema.Draft202012Validator(schema)
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def run(args, expect_code, cwd):
    p = subprocess.run([tbbpipe] + args, cwd=cwd, capture_output=True)
    label = "tbbpipe " + " ".join(a if isinstance(a, str) else repr(a) for a in args)
    check(p.returncode == expect_code, f"{label}: exit {p.returncode}, expected {expect_code}: {p.stderr!r}")
    out = p.stdout
    check(all(b < 0x80 for b in out), f"{label}: output is not pure ASCII")
    lines = out.splitlines()
    check(len(lines) == 1, f"{label}: expected one line of JSON, got {len(lines)}")
    doc = json.loads(out)
    for error in validator.iter_errors(doc):
        failures.append(f"{label}: schema: {error.json_path}: {error.message}")
    check(doc["exit_code"] == p.returncode, f"{label}: exit_code {doc['exit_code']} != {p.returncode}")
    files = doc["files"]
    t = doc["totals"]
    check(t["files"] == len(files), f"{label}: totals.files")
    check(t["failed"] == sum(1 for f in files if f["status"] != "ok"), f"{label}: totals.failed")
    check(t["ok"] + t["failed"] == t["files"], f"{label}: totals.ok")
    for f in files:
        if f.get("ratio") is not None:
            check(abs(f["ratio"] - f["container_bytes"] / f["original_bytes"]) < 1e-9,
                  f"{label}: ratio is container / original")
    return doc


with tempfile.TemporaryDirectory() as d:
    odd = b"x\xffy"  # not UTF-8
    data = os.urandom(200000) + bytes(300000)
    for name in (b"a", odd):
        with open(os.path.join(d.encode(), name), "wb") as f:
            f.write(data)
    os.mkdir(os.path.join(d, "tree"))
    for i in range(3):
        with open(os.path.join(d, "tree", f"t{i}"), "wb") as f:
            f.write(data[: 1000 * (i + 1)])

    doc = run(["keygen", "--json", "-o", "k"], 0, d)
    check(doc["command"] == "keygen" and doc["files"][0]["path"] == "k", "keygen: names the key")
    doc = run(["keygen", "--json", "-o", "k"], 1, d)
    check(doc["files"][0]["status"] == "already exists", "keygen: exists")

    doc = run(["pack", "--json", "--key-file", "k", "a", odd, "missing"], 1, d)
    check(doc["command"] == "pack", "pack: command")
    by_path = {f["path"]: f for f in doc["files"]}
    check(by_path["missing"]["status"] == "not found" and by_path["missing"]["error"],
          "pack: the failed file is listed with its status and message")
    odd_entry = [f for f in doc["files"] if f.get("path_hex") == odd.hex()]
    check(len(odd_entry) == 1, "pack: the non-UTF-8 name carries its exact bytes in path_hex")
    check(odd_entry and odd_entry[0]["path"] == "x\ufffdy", "pack: invalid bytes become U+FFFD")
    check(odd_entry and odd_entry[0]["output_hex"] == (odd + b".tbp").hex(), "pack: output_hex")
    check(by_path["a"]["original_bytes"] == len(data), "pack: original_bytes")
    check(os.path.getsize(os.path.join(d, "a.tbp")) == by_path["a"]["container_bytes"],
          "pack: container_bytes is the container's size")
    check(doc["totals"]["original_bytes"] == 2 * len(data), "pack: totals.original_bytes")
    hist = [k for k, v in doc["metrics"].items() if isinstance(v, dict) and "p99" in v]
    check(len(hist) > 0, "pack: histograms in metrics")

    doc = run(["verify", "--json", "-q", "--metrics-listen", "127.0.0.1:0", "--key-file", "k", "a.tbp"], 0, d)
    check(doc.get("metrics_url", "").startswith("http://127.0.0.1:") and
          not doc["metrics_url"].startswith("http://127.0.0.1:0/"),
          "--metrics-listen :0: the URL with the port chosen is in the document")
    doc = run(["verify", "--json", "--key-file", "k", "a.tbp", odd + b".tbp"], 0, d)
    check(all(f["output"] is None for f in doc["files"]), "verify: no output")
    check(all(f["original_bytes"] == len(data) for f in doc["files"]), "verify: original_bytes")
    doc = run(["unpack", "--json", "--key-file", "k", "-o", "back", "a.tbp"], 0, d)
    check(doc["files"][0]["container_bytes"] == os.path.getsize(os.path.join(d, "a.tbp")),
          "unpack: container_bytes is what it read")

    doc = run(["pack", "--json", "--key-file", "k", "-r", "tree", "--output-dir", "packed"], 0, d)
    check(len(doc["sets"]) == 1 and doc["sets"][0]["manifest"], "pack -r: the set and its manifest")
    os.remove(os.path.join(d, "packed", "t1.tbp"))
    doc = run(["verify", "--json", "--key-file", "k", "-r", "packed"], 3, d)
    check(doc["sets"][0]["missing"] == [{"path": "t1.tbp"}], "verify -r: the missing container")

    doc = run(["info", "--json", "--key-file", "k", "a.tbp", odd + b".tbp", "nope.tbp"], 1, d)
    files = doc["files"]
    check(files[0]["container"]["authenticated"], "info: authenticated with the key")
    check(files[0]["container"]["chunk_sizes"]["largest"] <= files[0]["container"]["largest_chunk_bytes"],
          "info: real chunk sizes within the header's bound")
    check(files[1]["container"].get("name_hex") == odd.hex(), "info: name_hex of a non-UTF-8 stored name")
    check(files[2]["status"] == "not found", "info: the failed file is listed")
    doc = run(["info", "--json", "a.tbp"], 0, d)
    check(not doc["files"][0]["container"]["authenticated"] and doc["files"][0]["original_bytes"] is None,
          "info without the key: the header only")

    import socket
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    doc = run(["verify", "--json", "--metrics-listen", f"127.0.0.1:{busy.getsockname()[1]}",
               "--key-file", "k", "a.tbp"], 1, d)
    check(doc["error"] and "cannot listen" in doc["error"] and doc["files"] == [],
          "a run that cannot start is a document too (exit 1)")
    busy.close()
    doc = run(["pack", "--json", "--bogus", "a"], 2, d)
    check(doc["error"] and doc["files"] == [], "a refused command line is a document too")
    doc = run(["unpack", "--json", "a.tbp", "-o", "x"], 2, d)
    check(doc["files"][0]["status"] == "invalid argument", "unpack without the key: exit 2, listed")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("json_schema_check: every document matches the schema and the rules")
