#!/bin/sh
# usage: readme_program.sh SOURCE_DIR
# The README's "A first program" prints examples/quickstart/quickstart.c: the
# same program line for line (the file's opening comment aside).
set -eu
src=$1
awk '/^## A first program/ { s = 1 } s && /^```c$/ { c = 1; next } c && /^```$/ { exit } c' \
  "$src/README.md" >"${TMPDIR:-/tmp}/readme_program.$$"
trap 'rm -f "${TMPDIR:-/tmp}/readme_program.$$"' EXIT
[ -s "${TMPDIR:-/tmp}/readme_program.$$" ] || { echo "README.md: no C block under '## A first program'"; exit 1; }
awk 'NR == 1 && /^\/\*/ { skip = 1 } skip { if (/\*\//) skip = 0; next } { print }' \
  "$src/examples/quickstart/quickstart.c" | diff -u "${TMPDIR:-/tmp}/readme_program.$$" -
echo "README's first program = examples/quickstart/quickstart.c"
