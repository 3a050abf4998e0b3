#!/bin/sh
# The `make demo` experience: installs what is missing (Debian packages),
# builds what the demo runs, runs the examples end to end and plots them. It prints each example's self-checks and key figures, every warning or
# error an example logged, and where the outputs are; everything else goes to
# log files, shown in full when a step fails.
# usage: scripts/demo.sh [BUILD_DIR [OUT_DIR]]   (default build, out)
# JOBS: parallel build jobs (default: the number of CPUs); CMAKE_ARGS: extra
# arguments when the build directory is configured here.
set -u
cd "$(dirname "$0")/.." || exit 1
build=${1:-build}
out=${2:-out}
logs=$out/logs
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
mkdir -p "$logs" || exit 1
fail=0

# step NAME LOG CMD...: runs a preparation step into LOG; on failure shows LOG and stops
step() {
  name=$1 log=$2
  shift 2
  if ! "$@" >"$log" 2>&1; then
    printf 'demo: %s failed; its output (%s):\n' "$name" "$log"
    cat "$log"
    exit 1
  fi
}

step "installing the dependencies" "$logs/deps.log" scripts/install-deps.sh gnuplot-nox
# shellcheck disable=SC2086 # CMAKE_ARGS: several arguments, as the Makefile passes them
[ -f "$build/CMakeCache.txt" ] ||
  step "configuring the build" "$logs/configure.log" \
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo ${CMAKE_ARGS:-}
step "building" "$logs/build.log" \
  cmake --build "$build" -j "$jobs" --target power_grid turbine dtwin_cli aircraft platoon
echo "demo: dependencies and build ready (logs in $logs/)"

section() { printf '\n== %s\n' "$1"; }
# run NAME PATTERN CMD...: stdout to LOGS/NAME.out, stderr to LOGS/NAME.err;
# shows the stdout lines matching PATTERN and every stderr line (the examples
# log only warnings and errors there)
run() {
  name=$1 pattern=$2
  shift 2
  if "$@" >"$logs/$name.out" 2>"$logs/$name.err"; then rc=0; else rc=$?; fail=1; fi
  grep -E "$pattern" "$logs/$name.out" | sed 's/^/  /'
  n=$(wc -l <"$logs/$name.err")
  if [ "$n" -gt 0 ]; then
    echo "  warnings and errors it logged ($n, $logs/$name.err):"
    head -n 30 "$logs/$name.err" | sed 's/^/    /'
    [ "$n" -le 30 ] || echo "    ... $((n - 30)) more in $logs/$name.err"
  fi
  if [ "$rc" -ne 0 ]; then
    echo "  FAILED with exit code $rc; its full output ($logs/$name.out):"
    sed 's/^/    /' "$logs/$name.out"
  fi
}

section "1/5 power grid: IEEE 14-bus, Newton-Raphson power flow, 27-state EKF twin, voltage control"
run power_grid '^self-check|^  divergence monitor|^  after the load step \(|^    ' \
  "$build/examples/power_grid" examples/power_grid/case14.json "$out"

section "2/5 gas turbine: delay margin, the simulated loop around it, and the twin's safe state"
run turbine '^self-check|^delay margin|^simulated onset|^twin, sensor' \
  "$build/examples/turbine" examples/turbine/twin.json "$out"

section "3/5 tank: CSV replay -> KF -> PID -> dispatcher through the dtwin CLI (--strict)"
run tank '.' "$build/tools/dtwin/dtwin" run --strict --estimates "$out/tank_estimates.csv" \
  --commands "$out/tank_commands.csv" examples/tank/twin.json
[ "$rc" -ne 0 ] || echo "  self-check (--strict: no sample lost or refused, never in the safe state): PASS"

section "4/5 aircraft: edge twin at 200 Hz on board, cloud prognosis over a satellite link (two brokers, a degrading link)"
run aircraft '^self-check|^edge: |^cloud: |^advisories: ' \
  python3 examples/aircraft/run.py "$build/examples/aircraft" "$out"

section "5/5 truck platoon: four twins share beliefs over V2V; delay and loss raised stage by stage"
mosq=$(command -v mosquitto || echo /usr/sbin/mosquitto)
run platoon '^self-check|^stage |^d[0-9]|^f[0-9]' \
  python3 examples/platoon/run.py "$build/examples/platoon" "$mosq" "$out"

section "outputs in $out/"
if command -v gnuplot >/dev/null 2>&1; then
  : >"$logs/plots.log"
  for gp in examples/power_grid/plot.gp examples/turbine/plot.gp examples/tank/plot.gp \
    examples/aircraft/plot.gp examples/platoon/plot.gp; do
    gnuplot -e "out='$out'" "$gp" >>"$logs/plots.log" 2>&1 || fail=1
  done
  if [ -s "$logs/plots.log" ]; then
    echo "  gnuplot complained ($logs/plots.log):"
    sed 's/^/    /' "$logs/plots.log"
  fi
else
  echo "  gnuplot not found: CSV traces only"
  fail=1
fi
for kind in png csv; do
  files=""
  for f in "$out"/*."$kind"; do
    [ -e "$f" ] && files="$files ${f##*/}"
  done
  printf '  %-6s %s\n' "$kind" "${files# }"
done
printf '  %-6s %s\n' logs "$logs/ (the build, the dependencies, each example's full output)"

if [ "$fail" -eq 0 ]; then
  printf '\ndemo: every example ran and passed its self-checks\n'
else
  printf '\ndemo: FAILED (see above and %s/)\n' "$logs"
fi
exit "$fail"
