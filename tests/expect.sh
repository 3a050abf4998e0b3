#!/bin/sh
# usage: expect.sh EXIT_CODE REGEX -- command...
# Runs the command; passes when it exits with EXIT_CODE and its combined
# output matches the extended regular expression REGEX.
want=$1; pattern=$2; shift 2
[ "$1" = "--" ] && shift
out=$("$@" 2>&1); got=$?
printf '%s\n' "$out"
if [ "$got" -ne "$want" ]; then
  echo "expect.sh: exit code $got, wanted $want" >&2; exit 1
fi
if ! printf '%s\n' "$out" | grep -Eq -- "$pattern"; then
  echo "expect.sh: output does not match /$pattern/" >&2; exit 1
fi
exit 0
