#!/bin/sh
# usage: run.sh SOURCE_DIR BUILD_DIR WORK_DIR C_COMPILER SANITIZE(ON|OFF|"") [WITH_UV(ON|OFF)]
#
# Runs the README's install and build commands exactly as printed: every
# fenced block preceded by the marker
#     <!-- test: install.consumer -->
# is run, in document order, in one bash session (set -eu), and a block marked
#     <!-- test: install.consumer file=PATH -->
# is saved as PATH, as the README tells the reader to. So README and test
# cannot drift: change the commands in README.md and this test runs the new ones.
# A marker with `needs=uv` (before any file=) is for the libuv driver: run
# when BUILD_DIR was built with it (WITH_UV, default ON), skipped otherwise.
#
# They run in WORK_DIR/ws, a stand-in for the reader's checkout (the Makefile
# and examples/ of SOURCE_DIR, build/ = BUILD_DIR), with HOME=WORK_DIR/home
# (so $HOME/... prefixes land in the scratch directory), without
# LD_LIBRARY_PATH, PKG_CONFIG_PATH or CMAKE_PREFIX_PATH: whatever the programs
# need, the README must say. BUILD_DIR was built before ctest ran, so make's
# `build` step is taken as done (make -o build); `make install` then installs
# BUILD_DIR as it does for the reader.
#
# With SANITIZE on, the library is instrumented, so every program linked with
# it must be too: `cc` and CMake's compiler are C_COMPILER with the sanitizer
# flags added.
#
# After the README's blocks, checks beyond them, reaching the installed tree
# only through the package (pkg-config dtwin, find_package(dtwin)), never
# through library file names: the static targets, static links from
# pkg-config --static, the manual page; and that a build without the libuv
# driver installs none of it.
set -eu
src=$1; build=$2; work=$3; cc=$4; sanitize=${5:-OFF}; with_uv=${6:-ON}
case $with_uv in ON | on | 1 | TRUE | true | YES | yes) with_uv=1 ;; *) with_uv=0 ;; esac
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$src" && pwd)
build=$(cd "$build" && pwd)

rm -rf "$work"
mkdir -p "$work/ws" "$work/home" "$work/bin"
work=$(cd "$work" && pwd)
ln -s "$src/Makefile" "$work/ws/Makefile"
ln -s "$src/examples" "$work/ws/examples"
ln -s "$build" "$work/ws/build"

# ---- the README's marked blocks, as one script
script=$work/readme.sh
files=$work/readme-files
awk -v files="$files" -v with_uv="$with_uv" '
  function q(s) { gsub(/\047/, "\047\\\047\047", s); return "\047" s "\047" }
  /^<!-- test: install.consumer( needs=uv)?( file=[^ ]+)? -->$/ {
    file = ""
    if (match($0, /file=[^ ]+/)) file = substr($0, RSTART + 5, RLENGTH - 5)
    skip = $0 ~ / needs=uv/ && !with_uv
    want = 1; next
  }
  want && skip && /^```/ { want = 0; skipping = 1; next }
  skipping && /^```/ { skipping = 0; next }
  skipping { next }
  want && /^```/ {
    want = 0; inblock = 1; n++
    if (file != "") {
      print file >> files
      printf "mkdir -p \"$(dirname %s)\"\ncat > %s <<'\''README_BLOCK_END'\''\n", q(file), q(file)
    } else {
      printf "# ---- README block %d\n", n
    }
    next
  }
  inblock && /^```/ {
    inblock = 0
    if (file != "") print "README_BLOCK_END"
    next
  }
  inblock { print; next }
  want && NF { print "README.md: a test marker not followed by a fenced block: " $0 > "/dev/stderr"; exit 2 }
  END { if (n == 0) { print "README.md: no block marked <!-- test: install.consumer -->" > "/dev/stderr"; exit 2 } }
' "$src/README.md" >"$script.body"

{
  echo 'set -eu'
  echo '# the build is the one under test, already made: make install only installs it'
  echo 'make() { command make -o build "$@"; }'
  echo 'set -x'
  cat "$script.body"
  echo 'set +x'
  # ---- beyond the README: through the package only
  echo 'echo "== beyond the README"'
  cat <<'EOF'
libdir=$(pkg-config --variable=libdir dtwin)
prefix=$(pkg-config --variable=prefix dtwin)
echo "dtwin $(pkg-config --modversion dtwin) in $prefix"
case ${LD_LIBRARY_PATH-unset} in unset) ;; *) echo "LD_LIBRARY_PATH is set"; exit 1 ;; esac
EOF
} >"$script"

# The CMake projects the README saves: built once more against the static
# targets (dtwin::dtwin_static, dtwin::uv_static; their dependencies come from
# the package: cJSON, libuv, m, threads).
if [ -s "$files" ]; then
  while read -r f; do
    case $f in */CMakeLists.txt) ;; *) continue ;; esac
    d=$(dirname "$f")
    st=static-$(basename "$d")
    cat >>"$script" <<EOF
echo "== $f with the static targets"
mkdir -p $st
sed 's/dtwin::\(dtwin\|uv\)\([ )]\)/dtwin::\1_static\2/g' '$f' >$st/CMakeLists.txt
grep -q 'dtwin::[a-z]*_static' $st/CMakeLists.txt
cp '$d'/*.c $st/
cmake -S $st -B $st/build -DCMAKE_PREFIX_PATH="\$prefix" >$st.log
cmake --build $st/build >>$st.log
for exe in $st/build/*; do
  [ -f "\$exe" ] && [ -x "\$exe" ] || continue
  if readelf -d "\$exe" | grep -q 'NEEDED.*libdtwin'; then echo "\$exe: linked to the shared library"; exit 1; fi
  "\$exe" examples/tank/twin.json
done
EOF
  done <"$files"
fi

# pkg-config --static: the archive with exactly what Libs.private and
# Requires.private add (libdtwin.a chosen by -Bstatic, the rest shared).
cat >>"$script" <<EOF
echo "== pkg-config --static"
cc -o consumer_static_pc '$here/main.c' \$(pkg-config --cflags dtwin) -Wl,--as-needed \\
  \$(pkg-config --libs-only-L dtwin) -Wl,-Bstatic \$(pkg-config --libs-only-l dtwin) -Wl,-Bdynamic \\
  \$(pkg-config --static --libs dtwin)
if readelf -d consumer_static_pc | grep -q 'NEEDED.*libdtwin'; then
  echo "consumer_static_pc: linked to the shared library"; exit 1
fi
./consumer_static_pc
EOF

# The libuv driver through its package, dtwin-uv: linked shared, then with
# the static archives the package names (libuv itself stays shared). Without
# it, nothing of it is installed and the CMake component is refused.
if [ "$with_uv" = 1 ]; then
  cat >>"$script" <<EOF
echo "== pkg-config dtwin-uv"
cc -o consumer_uv '$here/uv_main.c' \$(pkg-config --cflags --libs dtwin-uv) \\
  -Wl,-rpath,"\$libdir"
./consumer_uv
echo "== pkg-config --static dtwin-uv"
ours=\$(for l in \$(pkg-config --libs-only-l dtwin-uv); do case \$l in -ldtwin*) printf '%s ' "\$l" ;; esac; done)
cc -o consumer_uv_static '$here/uv_main.c' \$(pkg-config --cflags dtwin-uv) -Wl,--as-needed \\
  \$(pkg-config --libs-only-L dtwin-uv) -Wl,-Bstatic \$ours -Wl,-Bdynamic \\
  \$(pkg-config --static --libs dtwin-uv)
if readelf -d consumer_uv_static | grep -q 'NEEDED.*libdtwin'; then
  echo "consumer_uv_static: linked to a shared dtwin library"; exit 1
fi
./consumer_uv_static
EOF
else
  cat >>"$script" <<'EOF'
echo "== built without the libuv driver"
if pkg-config --exists dtwin-uv; then echo "dtwin-uv.pc installed"; exit 1; fi
test ! -e "$prefix/include/dtwin/uv.h"
for f in "$libdir"/libdtwin_uv*; do
  if [ -e "$f" ]; then echo "$f installed"; exit 1; fi
done
if readelf -d "$libdir/libdtwin.so" | grep -q 'NEEDED.*libuv'; then
  echo "libdtwin.so needs libuv"; exit 1
fi
mkdir -p want-uv
printf 'cmake_minimum_required(VERSION 3.16)\nproject(want_uv C)\nfind_package(dtwin CONFIG REQUIRED COMPONENTS uv)\n' >want-uv/CMakeLists.txt
if cmake -S want-uv -B want-uv/build -DCMAKE_PREFIX_PATH="$prefix" >want-uv.log 2>&1; then
  echo "find_package(dtwin COMPONENTS uv) succeeded without the driver"; exit 1
fi
grep -q "built without its libuv driver" want-uv.log
EOF
fi

# The manual page: installed where man finds it through PATH.
cat >>"$script" <<'EOF'
echo "== manual page"
test -s "$prefix/share/man/man1/dtwin.1"
if command -v man >/dev/null 2>&1; then
  page=$(man -w dtwin)
  [ "$page" = "$prefix/share/man/man1/dtwin.1" ] || { echo "man -w dtwin: $page"; exit 1; }
fi
test -s "$prefix/share/doc/dtwin/cli.md"
EOF

# ---- the environment the reader's shell would have
sflags=""
case $sanitize in ON | on | 1 | TRUE | true | YES | yes) sflags="-fsanitize=address,undefined" ;; esac
if [ -n "$sflags" ]; then
  # instrumented library: instrumented programs (README's `cc` and CMake's)
  printf '#!/bin/sh\nexec %s %s "$@"\n' "$cc" "$sflags" >"$work/bin/cc"
  chmod +x "$work/bin/cc"
  export CC="$work/bin/cc"
  PATH=$work/bin:$PATH
fi
unset LD_LIBRARY_PATH PKG_CONFIG_PATH CMAKE_PREFIX_PATH MAKEFLAGS MFLAGS MAKELEVEL \
  DESTDIR CFLAGS LDFLAGS 2>/dev/null || true
export HOME="$work/home" PATH

cd "$work/ws"
bash "$script"
echo "consumer: ok"
