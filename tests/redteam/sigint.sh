#!/bin/sh
# usage: sigint.sh DTWIN DESCRIPTION WORKDIR
# Starts `dtwin run --realtime`, waits until it handles SIGINT (its SigCgt
# mask in /proc), lets it step a little, interrupts it, and prints its output,
# the number of estimate rows written and its exit code. Stops only the pid
# it started.
dtwin=$1 desc=$2 work=$3
est=$work/sigint_est.csv
rm -f "$est"
"$dtwin" run --realtime --duration 600 --estimates "$est" "$desc" &
pid=$!
n=0
while [ $n -lt 600 ]; do
  mask=$(awk '/^SigCgt:/ {print $2}' /proc/$pid/status 2>/dev/null)
  [ -n "$mask" ] && [ $((0x$mask & 2)) -ne 0 ] && break
  sleep 0.1
  n=$((n + 1))
done
sleep 0.5
kill -INT $pid
wait $pid
rc=$?
echo "rows $(($(wc -l < "$est") - 1))"
exit $rc
