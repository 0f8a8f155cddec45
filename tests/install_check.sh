#!/usr/bin/env bash
# Installs this build into a scratch prefix and uses it as an outside project would:
#   * the installed include tree holds exactly the public headers (include/tbbpipe/), nothing of
#     the library's inside, and none of them includes anything but standard and tbbpipe/ headers;
#   * with find_package(tbbpipe), a consumer that sets no C++ standard builds the README's
#     smallest program and every program in examples/ (tbbpipe::tbbpipe carries C++20), and runs
#     them;
#   * with pkg-config alone, the same programs build and run.
# Usage: tests/install_check.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build="$1"
src="$2"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
prefix="$scratch/prefix"

cmake --install "$build" --prefix "$prefix" >/dev/null
test -x "$prefix/bin/tbbpipe"

# The installed headers are the public ones, all of them and only them.
diff <(cd "$src/include" && find tbbpipe -type f | sort) \
     <(cd "$prefix/include" && find . -type f | sed 's|^\./||' | sort) ||
    { echo "install check: the installed include tree is not include/tbbpipe/" >&2; exit 1; }
if grep -rhE '^[[:space:]]*#[[:space:]]*include' "$prefix/include" |
       grep -vE '#[[:space:]]*include[[:space:]]*(<[a-z_0-9]+>|"tbbpipe/[a-z_0-9]+\.hpp")'; then
    echo "install check: an installed header includes something that is not public" >&2
    exit 1
fi

# The README's smallest program, exactly as the README shows it (the first C++ block).
consumer="$scratch/consumer"
mkdir -p "$consumer"
awk '/^```cpp$/ { inside = 1; next } inside && /^```$/ { exit } inside { print }' \
    "$src/README.md" > "$consumer/readme_smallest.cpp"
grep -q 'int main' "$consumer/readme_smallest.cpp" ||
    { echo "install check: no C++ program found in README.md" >&2; exit 1; }
cp "$src"/examples/*.cpp "$consumer/"
programs=()
for f in "$consumer"/*.cpp; do programs+=("$(basename "$f" .cpp)"); done

# find_package, with no CMAKE_CXX_STANDARD anywhere in the consumer.
{
    echo 'cmake_minimum_required(VERSION 3.20)'
    echo 'project(consumer LANGUAGES CXX)'
    echo 'find_package(tbbpipe REQUIRED)'
    for p in "${programs[@]}"; do
        echo "add_executable($p $p.cpp)"
        echo "target_link_libraries($p PRIVATE tbbpipe::tbbpipe)"
    done
} > "$consumer/CMakeLists.txt"
cmake -S "$consumer" -B "$scratch/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$scratch/cmake-build" -j"$(nproc)" >/dev/null

# pkg-config alone.
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
mkdir -p "$scratch/pc-build"
for p in "${programs[@]}"; do
    # shellcheck disable=SC2046
    g++ -O1 -o "$scratch/pc-build/$p" "$consumer/$p.cpp" $(pkg-config --cflags --libs tbbpipe)
done

# Run what was built both ways (pack_folder needs a folder to pack).
mkdir -p "$scratch/data/in/sub"
seq 1 20000 > "$scratch/data/in/a.txt"
seq 5 30000 > "$scratch/data/in/sub/b.txt"
for dir in cmake-build pc-build; do
    for p in "${programs[@]}"; do
        if [[ "$p" == pack_folder ]]; then
            rm -rf "$scratch/data/out"
            "$scratch/$dir/$p" "$scratch/data/in" "$scratch/data/out" >/dev/null
            test -s "$scratch/data/out/sub/b.txt.tbp"
        else
            "$scratch/$dir/$p" >/dev/null
        fi
    done
done
"$prefix/bin/tbbpipe" --version
echo "install check: public headers only; ${#programs[@]} programs built and ran with" \
     "find_package (no C++ standard set) and with pkg-config"
