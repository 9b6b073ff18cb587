#!/usr/bin/env bash
# Installs the C library of Ergon into a prefix:
#
#   PREFIX/lib/libergon.so.A.M.P      shared library (the canonical artifact): A is the ABI
#                                     version (ERGON_ABI_VERSION, also its SONAME libergon.so.A),
#                                     M.P the crate's minor and patch version
#   PREFIX/lib/libergon.so.A          link to it: what programs linked against ABI A load
#   PREFIX/lib/libergon.so            link to it: what `-lergon` finds at link time
#   PREFIX/lib/libergon.a             static library (link with -lpthread -ldl -lm)
#   PREFIX/include/ergon.h            the C header
#   PREFIX/include/ergon.hpp          the header-only C++17 wrapper
#   PREFIX/lib/pkgconfig/ergon.pc     for `pkg-config --cflags --libs ergon`
#   PREFIX/lib/cmake/ergon/           ergonConfig.cmake and ergonConfigVersion.cmake, for
#                                     `find_package(ergon A CONFIG)` (A the ABI version; the
#                                     package version is A.M.P), from the templates in cmake/
#
# Usage: scripts/install.sh PREFIX [--profile release|debug] [--libs-from DIR]
#
#   --profile P     build with `cargo build -p ergon-ffi` in profile P (default release) and
#                   install target/<P>/ (honours CARGO_TARGET_DIR)
#   --libs-from D   do not build: copy libergon.so and libergon.a from D (e.g. target/debug)
#
# Consumers: PKG_CONFIG_PATH=PREFIX/lib/pkgconfig cc app.c $(pkg-config --cflags --libs ergon)
# and, unless PREFIX/lib is on the loader's path, -Wl,-rpath,PREFIX/lib (or LD_LIBRARY_PATH).
# To link statically: cc app.c $(pkg-config --cflags ergon) PREFIX/lib/libergon.a \
#   -lpthread -ldl -lm
# With CMake: find_package(ergon A CONFIG REQUIRED) and target_link_libraries(app ergon::ergon)
# (or ergon::ergon_static), with -DCMAKE_PREFIX_PATH=PREFIX; see examples/cpp.
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
    exit 2
}

repo="$(cd "$(dirname "$0")/.." && pwd)"
prefix=""
profile="release"
libs_from=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --profile)
            [[ $# -ge 2 ]] || usage
            profile="$2"
            shift 2
            ;;
        --profile=*)
            profile="${1#--profile=}"
            shift
            ;;
        --libs-from)
            [[ $# -ge 2 ]] || usage
            libs_from="$2"
            shift 2
            ;;
        --libs-from=*)
            libs_from="${1#--libs-from=}"
            shift
            ;;
        -h | --help)
            usage
            ;;
        -*)
            echo "install.sh: unknown option $1" >&2
            usage
            ;;
        *)
            [[ -z "$prefix" ]] || usage
            prefix="$1"
            shift
            ;;
    esac
done
[[ -n "$prefix" ]] || usage

case "$profile" in
    release) cargo_flags=(--release) ;;
    debug) cargo_flags=() ;;
    *)
        echo "install.sh: --profile must be release or debug, not '$profile'" >&2
        exit 2
        ;;
esac

if [[ -z "$libs_from" ]]; then
    (cd "$repo" && cargo build -p ergon-ffi --locked "${cargo_flags[@]}")
    libs_from="${CARGO_TARGET_DIR:-$repo/target}/$profile"
fi
for lib in libergon.so libergon.a; do
    if [[ ! -f "$libs_from/$lib" ]]; then
        echo "install.sh: $libs_from/$lib not found" >&2
        exit 1
    fi
done

version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$repo/Cargo.toml" | head -n 1)"
[[ "$version" =~ ^[0-9]+\.([0-9]+)\.([0-9]+) ]] || {
    echo "install.sh: no MAJOR.MINOR.PATCH version in Cargo.toml" >&2
    exit 1
}
minor_patch="${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"
abi="$(sed -n 's/^#define ERGON_ABI_VERSION \([0-9]*\)$/\1/p' "$repo/include/ergon.h")"
[[ -n "$abi" ]] || { echo "install.sh: no ERGON_ABI_VERSION in include/ergon.h" >&2; exit 1; }
soname="libergon.so.$abi"
# The library must carry the SONAME its links are named after (ffi/build.rs sets it).
if command -v readelf >/dev/null 2>&1; then
    found="$(readelf -d "$libs_from/libergon.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')"
    if [[ "$found" != "$soname" ]]; then
        echo "install.sh: $libs_from/libergon.so has SONAME '${found}', expected $soname" >&2
        exit 1
    fi
fi

mkdir -p "$prefix"
prefix="$(cd "$prefix" && pwd)"
install -d "$prefix/lib/pkgconfig" "$prefix/lib/cmake/ergon" "$prefix/include"
install -m 0755 "$libs_from/libergon.so" "$prefix/lib/$soname.$minor_patch"
ln -sfn "$soname.$minor_patch" "$prefix/lib/$soname"
ln -sfn "$soname" "$prefix/lib/libergon.so"
install -m 0644 "$libs_from/libergon.a" "$prefix/lib/libergon.a"
install -m 0644 "$repo/include/ergon.h" "$prefix/include/ergon.h"
install -m 0644 "$repo/bindings/cpp/ergon.hpp" "$prefix/include/ergon.hpp"

cat >"$prefix/lib/pkgconfig/ergon.pc" <<EOF
prefix=$prefix
exec_prefix=\${prefix}
libdir=\${exec_prefix}/lib
includedir=\${prefix}/include

Name: ergon
Description: Ergon: energy/time frontiers for large-model training (C ABI)
Version: $version
Libs: -L\${libdir} -lergon
Libs.private: -lpthread -ldl -lm
Cflags: -I\${includedir}
EOF

# The CMake package: its version is <ABI>.<minor>.<patch> (the installed file's), so that
# CMake's same-major-version rule compares ABI versions; ergonConfigVersion.cmake.in explains.
# Pointer size from the library's ELF class (byte 4: 1 is 32-bit, 2 is 64-bit), so that a
# build of the other width is told so by find_package instead of failing to link.
case "$(od -An -t u1 -j 4 -N 1 "$libs_from/libergon.so" | tr -d ' ')" in
    1) sizeof_void_p=4 ;;
    2) sizeof_void_p=8 ;;
    *)
        echo "install.sh: $libs_from/libergon.so is not an ELF library" >&2
        exit 1
        ;;
esac
for file in ergonConfig.cmake ergonConfigVersion.cmake; do
    sed -e "s/@ERGON_PACKAGE_VERSION@/$abi.$minor_patch/g" \
        -e "s/@ERGON_ABI_VERSION@/$abi/g" \
        -e "s/@ERGON_CRATE_VERSION@/$version/g" \
        -e "s/@ERGON_LIBRARY_FILE@/$soname.$minor_patch/g" \
        -e "s/@ERGON_SONAME@/$soname/g" \
        -e "s/@ERGON_SIZEOF_VOID_P@/$sizeof_void_p/g" \
        "$repo/cmake/$file.in" >"$prefix/lib/cmake/ergon/$file"
    if grep -q '@ERGON_[A-Z_]*@' "$prefix/lib/cmake/ergon/$file"; then
        echo "install.sh: cmake/$file.in has a placeholder install.sh does not fill" >&2
        exit 1
    fi
done

echo "installed ergon $version (ABI $abi, $soname, CMake package $abi.$minor_patch) into $prefix"
