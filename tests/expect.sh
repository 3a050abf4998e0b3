#!/bin/sh
# usage: expect.sh EXIT_CODE REGEX [REGEX ...] -- command...
# Runs the command; passes when it exits with EXIT_CODE and, for every REGEX,
# some line of its combined output matches it (extended regular expression).
want=$1; shift
n=0
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  n=$((n + 1)); eval "pat_$n=\$1"; shift
done
[ "${1:-}" = "--" ] || { echo "expect.sh: missing -- before the command" >&2; exit 2; }
shift
out=$("$@" 2>&1); got=$?
printf '%s\n' "$out"
if [ "$got" -ne "$want" ]; then
  echo "expect.sh: exit code $got, wanted $want" >&2; exit 1
fi
i=1
while [ $i -le $n ]; do
  eval "pat=\$pat_$i"
  if ! printf '%s\n' "$out" | grep -Eq -- "$pat"; then
    echo "expect.sh: no output line matches /$pat/" >&2; exit 1
  fi
  i=$((i + 1))
done
exit 0
