#!/usr/bin/env bash
# The main job on a built-in default: set up, generate a 256 MiB mixed sample, make a key, pack it
# encrypted, verify, unpack, compare, and print the summary and the container's info.
# Usage: scripts/demo.sh [size]   (default 256M)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build

size="${1:-256M}"
work="$(mktemp -d "${TMPDIR:-/tmp}/tbbpipe-demo.XXXXXX")"
trap 'rm -rf "$work"' EXIT
bin=build/apps/tbbpipe

echo "== generating a $size mixed sample (text, binary records, random bytes)"
build/apps/tbbpipe-datagen --size "$size" -o "$work/sample.bin"
echo "== keygen"
"$bin" keygen -o "$work/demo.key"
echo "== pack (lz4 + AES-256-GCM, all cores; -vv shows the engine's budgets)"
"$bin" pack -vv --key-file "$work/demo.key" "$work/sample.bin"
echo "== verify"
"$bin" verify --key-file "$work/demo.key" "$work/sample.bin.tbp"
echo "== unpack"
"$bin" unpack --key-file "$work/demo.key" -o "$work/restored.bin" "$work/sample.bin.tbp"
cmp "$work/sample.bin" "$work/restored.bin"
echo "== restored file is byte-identical"
echo "== info"
"$bin" info --key-file "$work/demo.key" "$work/sample.bin.tbp"
echo "== summary (--json)"
"$bin" verify --json --key-file "$work/demo.key" "$work/sample.bin.tbp"
