#!/bin/sh
# usage: record_replay.sh DTWIN TWIN.json WORKDIR
set -eu
dtwin=$1; twin=$2; work=$3
rm -rf "$work"; mkdir -p "$work"
"$dtwin" run --quiet --record "$work/run.log" --estimates "$work/e1.csv" --commands "$work/c1.csv" "$twin"
"$dtwin" replay --estimates "$work/e2.csv" --commands "$work/c2.csv" "$work/run.log" "$twin"
cmp "$work/e1.csv" "$work/e2.csv"
cmp "$work/c1.csv" "$work/c2.csv"
[ "$(wc -l < "$work/e1.csv")" -gt 100 ] || { echo "too few estimates"; exit 1; }
echo "replay identical: $(wc -l < "$work/e1.csv") estimate rows, $(wc -l < "$work/c1.csv") command rows"
