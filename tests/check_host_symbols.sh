#!/bin/sh
# The adapter host names no adapter: the objects of the host, the registry,
# the description module (its config views) and the libuv driver reference no
# built-in kind's symbol;
# builtins.c, the one place that registers them, does (so the pattern is
# known to match).
# usage: check_host_symbols.sh OBJECT...
set -u
pattern='dt__(memory|csv|csvlog|udp|sim)_|dt_(memory|csvlog|udp)_|dt__sim_register'
status=0
seen_builtins=0
# CMake hands the object list over as one ;-separated argument
objects=$(printf '%s\n' "$@" | tr ';' '\n')
for o in $objects; do
  case "$o" in
    */host.c.o|*/host_ctx.c.o|*/host_config.c.o|*/registry.c.o|*/config.c.o|*/desc.c.o|\
    */uv_driver.c.o)
      bad=$(nm -u "$o" | grep -E "$pattern")
      if [ -n "$bad" ]; then
        echo "FAIL ${o##*/} references built-in adapters:"; echo "$bad"; status=1
      else
        echo "ok   ${o##*/} references no built-in adapter"
      fi ;;
    */builtins.c.o)
      seen_builtins=1
      nm -u "$o" | grep -Eq "$pattern" || { echo "FAIL builtins.c.o names no built-in: pattern broken?"; status=1; } ;;
  esac
done
[ "$seen_builtins" -eq 1 ] || { echo "FAIL builtins.c.o not among the objects"; status=1; }
exit $status
