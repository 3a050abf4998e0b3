#!/usr/bin/env python3
"""Converts a MATPOWER case file (version 2, .m) into the JSON case format of
examples/power_grid (bus, gen and branch arrays of objects, MATPOWER's column
names, powers in MW/MVAr, impedances in per unit on baseMVA).

Usage: tools/matpower2json.py CASE.m > CASE.json
Reads only the numeric matrices mpc.baseMVA, mpc.bus, mpc.gen and mpc.branch."""
import json
import re
import sys

BUS = ["bus_i", "type", "Pd", "Qd", "Gs", "Bs", "area", "Vm", "Va", "baseKV", "zone",
       "Vmax", "Vmin"]
GEN = ["bus", "Pg", "Qg", "Qmax", "Qmin", "Vg", "mBase", "status", "Pmax", "Pmin"]
BRANCH = ["fbus", "tbus", "r", "x", "b", "rateA", "rateB", "rateC", "ratio", "angle",
          "status", "angmin", "angmax"]


def number(s):
    v = float(s)
    return int(v) if v.is_integer() and "." not in s and "e" not in s.lower() else v


def matrix(text, name, cols):
    m = re.search(r"mpc\." + name + r"\s*=\s*\[(.*?)\];", text, re.S)
    if m is None:
        sys.exit("matpower2json: no mpc.%s matrix" % name)
    rows = []
    for line in m.group(1).splitlines():
        line = line.split("%")[0].strip().rstrip(";").strip()
        if not line:
            continue
        vals = line.replace(",", " ").split()
        if len(vals) < len(cols):
            sys.exit("matpower2json: mpc.%s row with %d columns, %d needed"
                     % (name, len(vals), len(cols)))
        rows.append({c: number(v) for c, v in zip(cols, vals)})
    return rows


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    text = open(sys.argv[1]).read()
    base = re.search(r"mpc\.baseMVA\s*=\s*([0-9.eE+-]+)", text)
    if base is None:
        sys.exit("matpower2json: no mpc.baseMVA")
    case = {
        "source": "converted from %s by tools/matpower2json.py" % sys.argv[1].split("/")[-1],
        "baseMVA": float(base.group(1)),
        "bus": matrix(text, "bus", BUS),
        "gen": matrix(text, "gen", GEN),
        "branch": matrix(text, "branch", BRANCH),
    }
    json.dump(case, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
