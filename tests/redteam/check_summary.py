#!/usr/bin/env python3
"""Runs `dtwin run` on a description twice (text and --json) and checks what a
reader of the summary relies on:
  - the --json output parses (python3 json) and has exactly one object;
  - samples: offered = the estimator's parts (or delivered) + refused + dropped
    + pending, and unaccounted is 0;
  - commands: decided = sent + expired + refused by every sink;
  - the text summary's parts add up too, and what it lists "of the sent" is
    at most the number sent (what was altered on its way to the sinks, at
    most what reached them);
  - no sanitizer report, no crash.
usage: check_summary.py DTWIN DESCRIPTION [run options...]"""
import json
import re
import subprocess
import sys


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    for bad in ("runtime error:", "Sanitizer", "AddressSanitizer"):
        if bad in p.stderr:
            sys.exit(f"FAIL: {bad} in stderr of {' '.join(cmd)}:\n{p.stderr}")
    if p.returncode < 0 or p.returncode >= 128:
        sys.exit(f"FAIL: {' '.join(cmd)} crashed ({p.returncode}):\n{p.stderr}")
    return p


def main():
    dtwin, desc, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
    errors = []
    pt = run([dtwin, "run"] + extra + [desc])
    pj = run([dtwin, "run", "--json"] + extra + [desc])
    try:
        j = json.loads(pj.stdout)
    except ValueError as e:
        sys.exit(f"FAIL: --json output does not parse ({e}):\n{pj.stdout}")
    s = j["samples"]
    est = ["applied", "gated", "unmodelled", "too_old", "excluded", "failed", "bad_time"]
    has_est = "delivered (no estimator)" not in pt.stdout
    parts = s["rejected"]["total"] + s["dropped"]["total"] + s["pending"]
    parts += sum(s[k] for k in est) if has_est else s["delivered"]
    if parts != s["offered"] or s["unaccounted"] != 0:
        errors.append(f"json: offered {s['offered']} != parts {parts} "
                      f"(unaccounted {s['unaccounted']})")
    c = j["commands"]
    if c["total"] != c["sent"] + c["expired"] + c["sink_errors"]:
        errors.append(f"json: commands {c['total']} != sent + expired + sink_errors")
    # altered on their way to the sinks (sent or refused there); confirmed if sent
    for k in ("clamped", "rate_limited", "interlocked", "safe_stated"):
        if c[k] > c["sent"] + c["sink_errors"]:
            errors.append(f"json: {c[k]} {k} but only {c['sent'] + c['sink_errors']} "
                          "handed to the sinks")
    if c["unconfirmed"] > c["sent"]:
        errors.append(f"json: {c['unconfirmed']} unconfirmed but only {c['sent']} sent")
    if pt.returncode != pj.returncode:
        errors.append(f"exit codes differ: text {pt.returncode}, json {pj.returncode}")
    m = re.search(r"^samples: (\d+) offered = (.*)$", pt.stdout, re.M)
    if not m:
        errors.append("text: no samples line")
    else:
        nums = [int(x) for x in re.findall(r"(\d+) [a-z]", m.group(2))]
        if sum(nums) != int(m.group(1)):
            errors.append(f"text: {m.group(0)!r}: parts add up to {sum(nums)}")
        if "unaccounted" in m.group(2):
            errors.append(f"text: {m.group(0)!r}")
    m = re.search(r"^commands: (\d+) decided = (\d+) sent \+ (\d+) expired \+ (\d+) refused"
                  r" by every sink(.*)$", pt.stdout, re.M)
    if not m:
        errors.append("text: no commands line")
    else:
        d, sent, exp, ref = (int(m.group(i)) for i in range(1, 5))
        if d != sent + exp + ref:
            errors.append(f"text: {m.group(0)!r} does not add up")
        # "; of the sent: ..." (at most the sent), "; of the sent and refused: ..."
        for whom, parts in re.findall(r"; of the (sent and refused|sent): ([^;]*)", m.group(5)):
            bound = sent + ref if whom != "sent" else sent
            for n, what in re.findall(r"(\d+) ([a-z -]+)", parts):
                if int(n) > bound:
                    errors.append(f"text: {m.group(0)!r}: {n} {what.strip()} of {bound} "
                                  f"{whom}")
    if errors:
        print(pt.stdout)
        print(pt.stderr, file=sys.stderr)
        sys.exit("FAIL:\n  " + "\n  ".join(errors))
    print(f"summary of {desc} adds up (exit {pj.returncode})")


if __name__ == "__main__":
    main()
