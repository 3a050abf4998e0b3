#!/bin/sh
# usage: check_symbols.sh libdtwin.so libdtwin.a [libdtwin_uv.so libdtwin_uv.a]
# Every symbol a shared library exports starts with dt_; every global symbol
# a static library defines starts with dt_ (public) or dt__ (internal). The
# core (the first pair) needs no libuv: it neither calls a uv_ function nor
# records libuv as a dependency; the driver's shared library uses the core's
# public API only (no dt__ symbol left undefined).
set -u
bad=0
check_pair() {
  so=$1; ar=$2
  exports=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBR]$/ {print $3}')
  [ -n "$exports" ] || { echo "no exported symbols found in $so"; bad=1; return; }
  for s in $exports; do
    case $s in
      dt__*) echo "internal symbol exported from $so: $s"; bad=1 ;;
      dt_*) ;;
      _init|_fini|_edata|_end|__bss_start) ;;
      *) echo "exported symbol without dt_ prefix in $so: $s"; bad=1 ;;
    esac
  done
  globals=$(nm --defined-only "$ar" 2>/dev/null | awk 'NF==3 && $2 ~ /^[TDBRC]$/ {print $3}')
  for s in $globals; do
    case $s in
      dt_*) ;;
      *) echo "global symbol without dt_ prefix in static library $ar: $s"; bad=1 ;;
    esac
  done
  for s in $(nm -D --undefined-only "$so" | awk '{print $NF}'); do
    case $s in
      dt__*) echo "$so needs the internal symbol $s (hidden in the core)"; bad=1 ;;
    esac
  done
  n=$(printf '%s\n' "$exports" | wc -l)
  echo "$so: $n exported symbols checked"
}
check_pair "$1" "$2"
uv=$(nm -D --undefined-only "$1" | awk '$NF ~ /^uv_/ {print $NF}')
[ -z "$uv" ] || { echo "the core calls libuv:" $uv; bad=1; }
uv=$(nm --undefined-only "$2" 2>/dev/null | awk '$NF ~ /^uv_/ {print $NF}' | sort -u)
[ -z "$uv" ] || { echo "the static core calls libuv:" $uv; bad=1; }
if readelf -d "$1" | grep -q 'NEEDED.*libuv'; then
  echo "$1 records libuv as a dependency"; bad=1
fi
if [ $# -ge 4 ]; then
  check_pair "$3" "$4"
fi
exit $bad
