#!/usr/bin/env bash
# Builds the Debian packages from this build tree (cpack -G DEB, cmake/package.cmake) and checks
# them as `apt install ./tbbpipe_*.deb` on Debian 12 would meet them:
#   * dpkg-deb -I: tbbpipe's Depends (from dpkg-shlibdeps) name oneTBB, lz4, Crypto++ and
#     Boost.Program_options, with the control fields lintian wants; tbbpipe-dev depends on the
#     -dev packages a consumer of the static library links;
#   * dpkg-deb -c: tbbpipe holds the programs, both man pages, the completion (the repository's
#     file, under both program names), copyright and changelog, and no development files;
#     tbbpipe-dev holds exactly the public headers, the library, the CMake package and tbbpipe.pc;
#   * lintian, when installed: no error (E:) in either package; warnings are allowed;
#   * the packaged programs, run from an extracted copy (dpkg-deb -x): --version, a pack/unpack
#     round trip of a small file (unencrypted and with a key from the packaged keygen), byte for
#     byte, and tbbpipe-lab --help; the man pages carry the sections help2man cannot make.
# Exits 77 (ctest: skipped) when a tool it needs is missing: cpack, dpkg-deb, dpkg-shlibdeps, or
# help2man at configure time (no man pages were built).
# Usage: tests/package_check.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build="$1"
src="$2"

skip() {
    echo "package check: skipped: $*"
    exit 77
}
fail() {
    echo "package check: $*" >&2
    exit 1
}
for tool in cpack dpkg-deb dpkg-shlibdeps; do
    command -v "$tool" >/dev/null || skip "$tool not found (apt-get install dpkg-dev)"
done
[[ -f "$build/CPackConfig.cmake" ]] || skip "no CPackConfig.cmake in $build (a fuzzing build?)"
[[ -f "$build/man/tbbpipe.1.gz" ]] || skip "no man pages were built (help2man missing at configure)"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# -B: the packages and CPack's staging go to the scratch folder, not into the build tree.
cpack -G DEB --config "$build/CPackConfig.cmake" -B "$scratch/out" >"$scratch/cpack.log" 2>&1 ||
    { cat "$scratch/cpack.log" >&2; fail "cpack -G DEB failed"; }
shopt -s nullglob
debs=("$scratch"/out/tbbpipe_*.deb)
dev_debs=("$scratch"/out/tbbpipe-dev_*.deb)
shopt -u nullglob
[[ ${#debs[@]} -eq 1 && ${#dev_debs[@]} -eq 1 ]] ||
    fail "expected one tbbpipe_*.deb and one tbbpipe-dev_*.deb, got: $(ls "$scratch/out")"
deb="${debs[0]}"
dev_deb="${dev_debs[0]}"

# The control fields.
field() { dpkg-deb -f "$1" "$2"; }
for f in Package Version Architecture Maintainer Description Section Priority Depends; do
    [[ -n "$(field "$deb" "$f")" ]] || fail "$(basename "$deb"): no $f field"
    [[ -n "$(field "$dev_deb" "$f")" ]] || fail "$(basename "$dev_deb"): no $f field"
done
[[ "$(field "$deb" Package)" == tbbpipe ]] || fail "the package is not named tbbpipe"
[[ "$(field "$deb" Version)" == "$(field "$dev_deb" Version)" ]] ||
    fail "tbbpipe and tbbpipe-dev have different versions"
depends="$(field "$deb" Depends)"
for lib in libtbb libc6 liblz4 'libcrypto\+\+' libboost-program-options; do
    grep -qE "(^|, )$lib" <<<"$depends" || fail "tbbpipe's Depends lacks $lib: $depends"
done
dev_depends="$(field "$dev_deb" Depends)"
for lib in libtbb-dev liblz4-dev 'libcrypto\+\+-dev' libxxhash-dev; do
    grep -qE "(^|, )$lib" <<<"$dev_depends" || fail "tbbpipe-dev's Depends lacks $lib: $dev_depends"
done

# The contents. dpkg-deb -c lists "./usr/bin/tbbpipe" in its last column.
dpkg-deb -c "$deb" | awk '{ print $NF }' | sed 's|^\./||' > "$scratch/files"
dpkg-deb -c "$dev_deb" | awk '{ print $NF }' | sed 's|^\./||' > "$scratch/dev-files"
for path in usr/bin/tbbpipe usr/bin/tbbpipe-lab \
            usr/share/man/man1/tbbpipe.1.gz usr/share/man/man1/tbbpipe-lab.1.gz \
            usr/share/bash-completion/completions/tbbpipe \
            usr/share/bash-completion/completions/tbbpipe-lab \
            usr/share/doc/tbbpipe/copyright usr/share/doc/tbbpipe/changelog.Debian.gz; do
    grep -qxF "$path" "$scratch/files" || fail "$(basename "$deb") lacks $path"
done
if grep -E '^usr/(include|lib)/' "$scratch/files"; then
    fail "$(basename "$deb") holds development files (they belong to tbbpipe-dev)"
fi
for path in usr/lib/libtbbpipe.a usr/lib/cmake/tbbpipe/tbbpipeConfig.cmake \
            usr/lib/pkgconfig/tbbpipe.pc usr/share/doc/tbbpipe-dev/copyright \
            usr/share/doc/tbbpipe-dev/changelog.Debian.gz; do
    grep -qxF "$path" "$scratch/dev-files" || fail "$(basename "$dev_deb") lacks $path"
done
diff <(cd "$src/include" && find tbbpipe -type f | sort) \
     <(sed -n 's|^usr/include/||p' "$scratch/dev-files" | grep -v -e '/$' -e '^$' | sort) ||
    fail "tbbpipe-dev's include tree is not include/tbbpipe/"
if grep -E '^usr/bin/' "$scratch/dev-files"; then fail "tbbpipe-dev holds programs"; fi

# lintian: errors fail, warnings are allowed (and shown).
if command -v lintian >/dev/null; then
    lintian --allow-root "$deb" "$dev_deb" > "$scratch/lintian.log" 2>&1 || true
    sed 's/^/lintian: /' "$scratch/lintian.log"
    if grep -q '^E:' "$scratch/lintian.log"; then fail "lintian found errors"; fi
else
    echo "package check: lintian not installed: not run"
fi

# The packaged programs, from an extracted copy (using the system's libraries, which are what
# Depends names).
root="$scratch/root"
dpkg-deb -x "$deb" "$root"
tbbpipe="$root/usr/bin/tbbpipe"
version="$("$tbbpipe" --version)"
[[ "$version" == "tbbpipe "* ]] || fail "the packaged tbbpipe --version said: $version"
echo "package check: packaged $version"
[[ "$("$root/usr/bin/tbbpipe-lab" --help)" == *sweep* ]] ||
    fail "the packaged tbbpipe-lab --help failed"
work="$scratch/work"
mkdir -p "$work"
{ seq 1 50000; head -c 300000 /dev/urandom; } > "$work/sample"
"$tbbpipe" pack -q "$work/sample" -o "$work/sample.tbp"
"$tbbpipe" unpack -q "$work/sample.tbp" -o "$work/plain.out"
cmp "$work/sample" "$work/plain.out" || fail "packaged round trip changed the bytes"
"$tbbpipe" keygen -q -o "$work/my.key"
"$tbbpipe" pack -q --key-file "$work/my.key" "$work/sample" -o "$work/sealed.tbp"
"$tbbpipe" unpack -q --key-file "$work/my.key" "$work/sealed.tbp" -o "$work/sealed.out"
cmp "$work/sample" "$work/sealed.out" || fail "packaged encrypted round trip changed the bytes"

# The man pages: generated from --help (an option name shows it) with the include file's
# sections; the completion is the repository's file.
man_page="$(gzip -dc "$root/usr/share/man/man1/tbbpipe.1.gz")"
for section in NAME SYNOPSIS DESCRIPTION '"EXIT STATUS"' ENVIRONMENT FILES '"SEE ALSO"'; do
    grep -q "^\.SH $section" <<<"$man_page" || fail "tbbpipe(1) has no $section section"
done
grep -q 'key\\-file' <<<"$man_page" || fail "tbbpipe(1) does not list --key-file"
grep -q '^\.SH "SEE ALSO"' <<<"$(gzip -dc "$root/usr/share/man/man1/tbbpipe-lab.1.gz")" ||
    fail "tbbpipe-lab(1) has no SEE ALSO section"
for name in tbbpipe tbbpipe-lab; do
    cmp "$src/completions/tbbpipe.bash" "$root/usr/share/bash-completion/completions/$name" ||
        fail "the packaged completion for $name is not completions/tbbpipe.bash"
done

echo "package check: $(basename "$deb") and $(basename "$dev_deb"): contents, Depends," \
     "lintian (no errors) and a round trip of the packaged binary"
