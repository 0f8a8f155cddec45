#!/usr/bin/env bash
# Checks that the library's layers depend one way and that programs use only the public API:
#   include/tbbpipe  standard headers and other tbbpipe/ headers only
#   core             core/, tbbpipe/
#   format           core/, format/, tbbpipe/        (no oneTBB: bytes only)
#   engine           core/, engine/, tbbpipe/        (no lz4, Crypto++ or Boost)
#   jobs             core/, format/, engine/, jobs/, tbbpipe/
#   api              everything of the library
#   apps, examples   tbbpipe/ and their own headers
# Usage: scripts/check_layers.sh [SOURCE_DIR]. Prints each violation; exits 1 if any.
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"
bad=0

# Quoted includes of files under $1 must start with one of the allowed prefixes ($2...).
check_quoted() {
    local dir="$1"
    shift
    local allowed="^($(IFS='|'; echo "$*"))/"
    while IFS=: read -r file line text; do
        local target
        target=$(sed -E 's/.*"([^"]+)".*/\1/' <<<"$text")
        # Same-folder includes ("cli_options.hpp") stay inside the folder.
        [[ "$target" != */* ]] && continue
        if ! [[ "$target" =~ $allowed ]]; then
            echo "$file:$line: includes \"$target\" (allowed: $*)"
            bad=1
        fi
    done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$dir" --include='*.hpp' \
                 --include='*.cpp' || true)
}

# Angle includes of files under $1 must not match the pattern $2.
check_angle() {
    local dir="$1" forbidden="$2" why="$3"
    while IFS= read -r hit; do
        echo "$hit ($why)"
        bad=1
    done < <(grep -rnE "^[[:space:]]*#[[:space:]]*include[[:space:]]*<($forbidden)" "$dir" \
                 --include='*.hpp' --include='*.cpp' || true)
}

check_quoted include/tbbpipe tbbpipe
check_angle include/tbbpipe '[a-z_0-9]+/' "a public header includes only standard headers"
check_quoted core core tbbpipe
check_quoted format core format tbbpipe
check_angle format 'oneapi|tbb' "the format layer is bytes only"
check_quoted engine core engine tbbpipe
check_angle engine 'lz4|cryptopp|boost' "the engine knows nothing of codecs, ciphers or options"
check_quoted jobs core format engine jobs tbbpipe
check_quoted api core format engine jobs api tbbpipe
check_quoted apps tbbpipe cli lab common datagen
check_quoted examples tbbpipe

if ((bad)); then
    echo "check_layers: layering violated" >&2
    exit 1
fi
echo "check_layers: every layer includes only itself, the layers below it and tbbpipe/"
