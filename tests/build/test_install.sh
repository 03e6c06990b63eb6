#!/usr/bin/env bash
# Tests the installed artefacts: `cmake --install` into a temporary prefix, then the README's
# echo server is built against it twice, through pkg-config (shared library, SONAME checked)
# and through the CMake package (find_package(weft)), and the public symbols are only weft_*.
set -euo pipefail
# (no `grep -q` after a pipe: it exits at the first match, the writer gets SIGPIPE, and pipefail
# turns that into a spurious failure)
BUILD=$1 SRC=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$BUILD" --prefix "$tmp/prefix" >/dev/null
sed -n '/^```c$/,/^```$/p' "$SRC/README.md" | sed '1d;$d' > "$tmp/echo.c"
[ -s "$tmp/echo.c" ] || { echo "no C example in README.md"; exit 1; }
export PKG_CONFIG_PATH=$tmp/prefix/lib/pkgconfig
for d in lib lib64 lib/x86_64-linux-gnu; do [ -d "$tmp/prefix/$d/pkgconfig" ] && PKG_CONFIG_PATH=$tmp/prefix/$d/pkgconfig; done
libdir=$(pkg-config --variable=libdir weft)
cc -std=c11 -Wall -Wextra -Werror "$tmp/echo.c" $(pkg-config --cflags --libs weft) -Wl,-rpath,"$libdir" -o "$tmp/echo"
ldd "$tmp/echo" | grep "libweft.so.0 => $libdir" >/dev/null || { echo "not linked to the installed libweft.so.0"; exit 1; }
objdump -p "$libdir/libweft.so" | grep 'SONAME *libweft.so.0' >/dev/null || { echo "no SONAME"; exit 1; }
if nm -D --defined-only "$libdir/libweft.so" | awk '{print $3}' | grep -v '^weft_' | grep -v '^$' >/dev/null; then
  echo "libweft.so exports names outside weft_*:"; nm -D --defined-only "$libdir/libweft.so" | grep -v ' weft_' | head -20 || true; exit 1
fi
if nm -D --defined-only "$libdir/libweft.so" | grep ' weft__' >/dev/null; then echo "internal weft__ names exported"; exit 1; fi
mkdir "$tmp/cm"
cat > "$tmp/cm/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.18)
project(echo C)
find_package(weft REQUIRED)
add_executable(echo $tmp/echo.c)
target_link_libraries(echo weft::weft)
CM
cmake -S "$tmp/cm" -B "$tmp/cm/b" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cm/b" >/dev/null
[ -x "$tmp/prefix/bin/weft" ] || { echo "weft binary not installed"; exit 1; }
echo "install ok: $libdir"
