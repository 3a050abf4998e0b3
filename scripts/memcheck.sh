#!/bin/sh
# make memcheck: the unit tests and the examples under valgrind memcheck. Any
# error, and any leak (definite, indirect or possible), fails the run.
# usage: scripts/memcheck.sh BUILD_DIR
set -u
build=$1
log=$build/memcheck
mkdir -p "$log"
vg="valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible --track-origins=yes"
fail=0
total=0

check() {
  name=$1; shift
  total=$((total + 1))
  start=$(date +%s)
  # CMocka prints its own results; valgrind's report goes to the log file
  if $vg --log-file="$log/$name.vg" "$@" >"$log/$name.out" 2>&1; then
    echo "memcheck: $name: clean ($(($(date +%s) - start)) s)"
  else
    echo "memcheck: $name: FAILED (exit $?; $log/$name.vg, $log/$name.out)"
    fail=$((fail + 1))
  fi
}

for t in "$build"/tests/test_*; do
  n=${t##*/}
  case "$n" in *tsan*) continue ;; esac # ThreadSanitizer binary: not for valgrind
  [ -x "$t" ] || continue
  # the unit tests find their data relative to the source tree
  check "$n" "$t"
done
out=$build/memcheck/out
mkdir -p "$out"
check power_grid "$build/examples/power_grid" examples/power_grid/case14.json "$out"
check power_grid_solve30 "$build/examples/power_grid" --solve examples/power_grid/case30.json
check turbine "$build/examples/turbine" examples/turbine/twin.json "$out"
check tank "$build/tools/dtwin/dtwin" run --quiet --estimates "$out/tank_e.csv" examples/tank/twin.json
# every loss path of the summary, the JSON and all three output files
check dirty "$build/tools/dtwin/dtwin" run --json --estimates "$out/dirty_e.csv" \
  --covariance "$out/dirty_p.csv" --commands "$out/dirty_c.csv" tests/data/cli/dirty.json
check check_tank "$build/tools/dtwin/dtwin" check examples/tank/twin.json
check hello_twin "$build/examples/hello_twin/hello_twin" --fast examples/hello_twin/twin.json

echo "memcheck: $((total - fail)) of $total programs clean (no errors, no leaks)"
[ "$fail" -eq 0 ]
