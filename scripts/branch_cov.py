#!/usr/bin/env python3
"""Branch coverage of named C functions from a gcovr JSON report.
usage: branch_cov.py COVERAGE.json FILE FUNCTION [FUNCTION ...]
Prints one line per function and a total; lists the lines with branches not
taken; exits 1 unless every branch in them was taken."""
import json
import re
import sys


def span(path, func):
    lines = open(path).read().split("\n")
    for i, l in enumerate(lines):
        if re.match(r"^(static\s+)?[\w\s\*]+\b%s\(" % re.escape(func), l):
            for j in range(i + 1, len(lines)):
                if lines[j] == "}":
                    return i + 1, j + 1
    sys.exit("branch_cov: no function %s in %s" % (func, path))


def main():
    report, path, funcs = sys.argv[1], sys.argv[2], sys.argv[3:]
    data = json.load(open(report))
    entry = next(f for f in data["files"] if f["file"].endswith(path))
    total = taken = 0
    for func in funcs:
        lo, hi = span(path, func)
        n = t = 0
        missed = []
        for line in entry["lines"]:
            if lo <= line["line_number"] <= hi:
                for b in line["branches"]:
                    n += 1
                    if b["count"] > 0:
                        t += 1
                    elif line["line_number"] not in missed:
                        missed.append(line["line_number"])
        total += n
        taken += t
        print("%s %s(): branches %d of %d taken%s" % (path, func, t, n,
              "" if t == n else "; not taken on lines " + ", ".join(map(str, missed))))
    pct = 100.0 * taken / total if total else 100.0
    print("safety branches: %.1f%% (%d out of %d)" % (pct, taken, total))
    return 0 if taken == total else 1


if __name__ == "__main__":
    sys.exit(main())
