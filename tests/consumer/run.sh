#!/bin/sh
# usage: run.sh BUILD_DIR WORK_DIR C_COMPILER SANITIZE(ON|OFF|"")
# Installs BUILD_DIR into WORK_DIR/prefix, then builds and runs the consumer
# through find_package(dtwin CONFIG) (shared and static) and through pkg-config.
set -eu
build=$1; work=$2; cc=$3; sanitize=${4:-OFF}
src=$(cd "$(dirname "$0")" && pwd)
flags=""
case $sanitize in ON|on|1|TRUE|true) flags="-fsanitize=address,undefined" ;; esac

rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >"$work/install.log"
pc=$(find "$prefix" -name dtwin.pc | head -n 1)
cfg=$(find "$prefix" -name dtwinConfig.cmake | head -n 1)
[ -n "$pc" ] || { echo "dtwin.pc not installed"; exit 1; }
[ -n "$cfg" ] || { echo "dtwinConfig.cmake not installed"; exit 1; }
libdir=$(dirname "$(dirname "$pc")")

echo "== find_package(dtwin CONFIG)"
cmake -S "$src" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="$flags" >"$work/configure.log"
cmake --build "$work/cmake-build" >"$work/build.log"
"$work/cmake-build/consumer_shared"
"$work/cmake-build/consumer_static"

echo "== pkg-config dtwin"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
pkg-config --modversion dtwin
# shellcheck disable=SC2046
"$cc" $flags -o "$work/consumer_pc" "$src/main.c" $(pkg-config --cflags --libs dtwin)
LD_LIBRARY_PATH="$libdir" "$work/consumer_pc"
echo "consumer: ok"
