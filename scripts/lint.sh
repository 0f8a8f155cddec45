#!/usr/bin/env bash
# Checks the C++ files changed since BASE (default: the previous commit) with clang-format
# (.clang-format) and clang-tidy (.clang-tidy: bugprone-*, performance-*). Needs a configured
# build folder for compile_commands.json (default build/, made by scripts/setup.sh).
# Usage: scripts/lint.sh [BASE] [build-dir]      Exit 1 on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
base="${1:-HEAD~1}"
build_dir="${2:-build}"
scripts/install-packages.sh clang-format clang-tidy

if git rev-parse -q --verify "$base^{commit}" >/dev/null; then
    mapfile -t files < <(git diff --name-only --diff-filter=d "$base" -- '*.cpp' '*.hpp')
else
    echo "lint: $base is not a commit here (shallow clone?): checking every file"
    mapfile -t files < <(git ls-files '*.cpp' '*.hpp')
fi
((${#files[@]})) || { echo "lint: no C++ file changed since $base"; exit 0; }
[[ -f "$build_dir/compile_commands.json" ]] ||
    cmake -S . -B "$build_dir" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null

echo "lint: clang-format on ${#files[@]} file(s)"
clang-format --dry-run --Werror "${files[@]}"

# clang-tidy reads translation units: a changed header is checked through its .cpp, if any.
units=()
for f in "${files[@]}"; do
    case "$f" in
        *.hpp) [[ -f "${f%.hpp}.cpp" ]] && units+=("${f%.hpp}.cpp") ;;
        tests/fuzz/*) ;;  # built only with clang + libFuzzer, not in compile_commands.json
        *) units+=("$f") ;;
    esac
done
mapfile -t units < <(printf '%s\n' "${units[@]}" | sort -u)
((${#units[@]})) || exit 0
echo "lint: clang-tidy on ${#units[@]} file(s)"
status=0
printf '%s\n' "${units[@]}" |
    xargs -P "$(nproc)" -n 4 clang-tidy -p "$build_dir" --quiet >"$build_dir/tidy.log" 2>&1 ||
    status=$?
grep -v -E '^[0-9]+ warnings? (and [0-9]+ errors? )?generated' "$build_dir/tidy.log" || true
if ((status)); then
    echo "lint: clang-tidy found problems (above; full log $build_dir/tidy.log)" >&2
    exit 1
fi
echo "lint: clean"
