#!/usr/bin/env bash
# Regenerates the fuzz seed corpus (tests/fuzz/corpus/): real containers for every cipher x
# compression pair, packed by the tbbpipe CLI from tiny inputs (0 B, 1 B, 5 KB, 20 KB in 4 KiB
# chunks), and a few with a stage list (--stages with deflate). Encrypted seeds use the fuzzers' fixed key file (bytes 0x01..0x20), so the fuzzers
# can open them and mutate past the header. No passphrase seeds: every fuzz iteration on one
# would run scrypt (>= 2^14), which would drop the executions per second by orders of magnitude.
# Seeds have no .tbp suffix because .gitignore ignores *.tbp. Every run gives different bytes
# (random file keys, nonces and a random run in the 20 KB input); the coverage stays the same.
# Usage: tests/fuzz/make_corpus.sh [path/to/tbbpipe]   (default: build/apps/tbbpipe)
set -euo pipefail

cli="${1:-$(dirname "$0")/../../build/apps/tbbpipe}"
[[ -x "$cli" ]] || { echo "make_corpus: $cli is not an executable tbbpipe (build it first)" >&2; exit 1; }
cli="$(cd "$(dirname "$cli")" && pwd)/$(basename "$cli")"  # absolute, before the cd below
cd "$(dirname "$0")"
unset TBBPIPE_PASSPHRASE  # would turn on passphrase encryption for the "none" seeds

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The fixed key the fuzzers use (tests/fuzz/fuzz_support.hpp, fuzz_key()).
printf "$(printf '\\x%02x' $(seq 1 32))" >"$work/key"
chmod 600 "$work/key"
[[ $(stat -c %s "$work/key") == 32 ]] || { echo "make_corpus: key file is not 32 bytes" >&2; exit 1; }

# Inputs: text-like data that lz4 shrinks; the 20 KB one has a random 4 KiB run in its middle so
# one of its five chunks is stored raw (the compressed and the raw record paths both get seeds).
text() {
    local s=""
    while ((${#s} < $1)); do s+=$'tbbpipe flow graph chunk token limiter sequencer\n'; done
    printf "%s" "${s:0:$1}"
}
: >"$work/empty"
printf 'x' >"$work/one"
text 5000 >"$work/5k"
{ text 8192; head -c 4096 /dev/urandom; text 8192; } >"$work/20k"

mkdir -p corpus
rm -f corpus/seed-*
for cipher in none aes-256-gcm chacha20-poly1305; do
    key_args=() cipher_args=()
    [[ $cipher != none ]] && key_args=(--key-file "$work/key") cipher_args=(--cipher "$cipher")
    for compress in none lz4 lz4hc; do
        for input in empty one 5k 20k; do
            chunk_args=()
            [[ $input == 20k ]] && chunk_args=(--chunk-size 4K)
            out="corpus/seed-$cipher-$compress-$input"
            "$cli" pack -q --no-fsync --compress "$compress" "${key_args[@]}" "${cipher_args[@]}" "${chunk_args[@]}" \
                -o "$out" "$work/$input"
            "$cli" verify -q "${key_args[@]}" "$out"
        done
    done
done
# Containers with a stage list (deflate is a registered stage): plain and encrypted, the
# registered stage either side of the compression.
for spec in deflate,lz4 lz4,deflate,aes-256-gcm; do
    key_args=()
    [[ $spec == *aes* ]] && key_args=(--key-file "$work/key")
    for input in one 20k; do
        out="corpus/seed-stages-${spec//,/-}-$input"
        "$cli" pack -q --no-fsync --stages "$spec" "${key_args[@]}" --chunk-size 4K -o "$out" "$work/$input"
        "$cli" verify -q "${key_args[@]}" "$out"
    done
done
# Set manifests (.tbbpipe.manifest at the root of a packed tree): plain and encrypted, so the
# manifest fuzzer starts from real ones (container and body).
mkdir -p "$work/tree-src/sub"
cp "$work/one" "$work/5k" "$work/tree-src/" && cp "$work/20k" "$work/tree-src/sub/"
for cipher in none aes-256-gcm; do
    key_args=()
    [[ $cipher != none ]] && key_args=(--key-file "$work/key")
    rm -rf "$work/tree"
    "$cli" pack -q --no-fsync "${key_args[@]}" -r "$work/tree-src" --output-dir "$work/tree"
    cp "$work/tree/.tbbpipe.manifest" "corpus/seed-manifest-$cipher"
done

echo "make_corpus: $(ls corpus | wc -l) seeds, $(du -cb corpus/seed-* | tail -n1 | cut -f1) bytes"
