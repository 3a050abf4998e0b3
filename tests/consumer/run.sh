#!/bin/sh
# usage: run.sh SOURCE_DIR BUILD_DIR WORK_DIR C_COMPILER SANITIZE(ON|OFF|"")
#
# Runs the README's install and build commands exactly as printed: every
# fenced block preceded by the marker
#     <!-- test: install.consumer -->
# is run, in document order, in one bash session (set -eu), and a block marked
#     <!-- test: install.consumer file=PATH -->
# is saved as PATH, as the README tells the reader to. So README and test
# cannot drift: change the commands in README.md and this test runs the new ones.
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
# through library file names: the static target, a static link from
# pkg-config --static, the manual page.
set -eu
src=$1; build=$2; work=$3; cc=$4; sanitize=${5:-OFF}
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
awk -v files="$files" '
  function q(s) { gsub(/\047/, "\047\\\047\047", s); return "\047" s "\047" }
  /^<!-- test: install.consumer( file=[^ ]+)? -->$/ {
    file = ""
    if (match($0, /file=[^ ]+/)) file = substr($0, RSTART + 5, RLENGTH - 5)
    want = 1; next
  }
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

# The CMake project the README saves: built once more against the static
# target (its dependencies come from the package: cJSON, libuv, m, threads).
if [ -s "$files" ]; then
  while read -r f; do
    case $f in */CMakeLists.txt) ;; *) continue ;; esac
    d=$(dirname "$f")
    cat >>"$script" <<EOF
echo "== $f with dtwin::dtwin_static"
mkdir -p static-app
sed 's/dtwin::dtwin\([ )]\)/dtwin::dtwin_static\1/' '$f' >static-app/CMakeLists.txt
grep -q 'dtwin::dtwin_static' static-app/CMakeLists.txt
cp '$d'/*.c static-app/
cmake -S static-app -B static-app/build -DCMAKE_PREFIX_PATH="\$prefix" >static-app.log
cmake --build static-app/build >>static-app.log
for exe in static-app/build/*; do
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
