#!/bin/sh
# usage: check_symbols.sh libdtwin.so libdtwin.a
# Every symbol the shared library exports starts with dt_; every global symbol
# the static library defines starts with dt_ (public) or dt__ (internal).
set -u
so=$1; ar=$2; bad=0
exports=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBR]$/ {print $3}')
[ -n "$exports" ] || { echo "no exported symbols found in $so"; exit 1; }
for s in $exports; do
  case $s in
    dt__*) echo "internal symbol exported: $s"; bad=1 ;;
    dt_*) ;;
    _init|_fini|_edata|_end|__bss_start) ;;
    *) echo "exported symbol without dt_ prefix: $s"; bad=1 ;;
  esac
done
globals=$(nm --defined-only "$ar" 2>/dev/null | awk 'NF==3 && $2 ~ /^[TDBRC]$/ {print $3}')
for s in $globals; do
  case $s in
    dt_*) ;;
    *) echo "global symbol without dt_ prefix in static library: $s"; bad=1 ;;
  esac
done
n=$(printf '%s\n' "$exports" | wc -l)
echo "$n exported symbols checked"
exit $bad
