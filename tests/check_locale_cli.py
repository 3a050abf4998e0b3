#!/usr/bin/env python3
"""`dtwin run --json --estimates F` in a locale with a decimal comma writes what
it writes in the C locale: the JSON parses (numbers with '.'), and both the
JSON and the estimates CSV are the same, byte for byte.

Usage: check_locale_cli.py DTWIN DESCRIPTION WORK_DIR LOCPATH
The comma locale is de_DE.UTF-8 under LOCPATH (made by localedef for the
tests); without it the check is skipped (exit 0 with a note)."""
import json
import os
import subprocess
import sys


def run(dtwin, desc, work, env, tag):
    est = os.path.join(work, "estimates-%s.csv" % tag)
    out = subprocess.run([dtwin, "run", "--json", "--estimates", est, desc], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if out.returncode != 0:
        sys.exit("%s: dtwin run exited %d: %s" % (tag, out.returncode, out.stderr.decode()))
    with open(est, "rb") as f:
        return out.stdout, f.read()


def main():
    dtwin, desc, work, locpath = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    if not os.path.isdir(os.path.join(locpath, "de_DE.UTF-8")):
        print("no de_DE.UTF-8 under %s: skipped" % locpath)
        return 0
    base = {k: v for k, v in os.environ.items() if not k.startswith("LC_") and k != "LANG"}
    c_json, c_csv = run(dtwin, desc, work, dict(base, LC_ALL="C"), "c")
    comma_env = dict(base, LC_ALL="de_DE.UTF-8", LANG="de_DE.UTF-8", LOCPATH=locpath)
    d_json, d_csv = run(dtwin, desc, work, comma_env, "comma")
    doc = json.loads(d_json)  # a "59,9" would not parse, or parse as two members
    if not isinstance(doc.get("t_end_s"), float):
        sys.exit("t_end_s is not a fractional number: %r" % doc.get("t_end_s"))
    if d_json != c_json:
        sys.exit("--json differs between the C locale and de_DE.UTF-8")
    if d_csv != c_csv:
        sys.exit("--estimates differs between the C locale and de_DE.UTF-8")
    if b"," not in c_csv.splitlines()[1] or b"." not in c_csv.splitlines()[1]:
        sys.exit("no fractional estimates to compare")
    print("--json and --estimates are the same in de_DE.UTF-8 (%d and %d bytes)"
          % (len(d_json), len(d_csv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
