#!/usr/bin/env python3
"""Checks the project's documentation (python3 standard library only).

1. Every ```json fenced block in README.md, docs/*.md, CHANGELOG.md and
   CONTRIBUTING.md parses with json.loads, as written: a reader pastes it.
   A block that shows part of an object (one or more "key": value members,
   as a section of a twin description) says so in its info string,
   ```json fragment, and must parse once wrapped in { }.
2. A block that is a whole twin description (an object with the top-level
   "dtwin" key) passes `dtwin check` (the CLI given with --dtwin).
3. Neither those files nor anything under examples/ refers to the
   developers' own machines or trackers: no "../shared", no "/work/", no
   tracker numbers ("issue 4", "#12").
4. A link to a heading of the same Markdown page names the page
   ([x](page.md#anchor), not [x](#anchor)): the API reference (Doxygen,
   make docs) cannot resolve the short form.

Usage: check_docs.py --root SOURCE_DIR [--dtwin PATH_TO_dtwin]
       check_docs.py --self-test [--dtwin PATH_TO_dtwin]
Prints one line per failure, FILE:LINE: reason, and exits 1 if there is any.
Without --dtwin, rule 2 is skipped (and said so).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

DOC_FILES = ["README.md", "CHANGELOG.md", "CONTRIBUTING.md"]

# References users do not have. A tracker number is "issue 4", "issues #4",
# "ticket 9", "PR 12", "pull request 3" anywhere, or "#12" on its own in prose
# and comments: not inside a word or an identifier (the semantic id
# "0173-1#02-AAB713#005"), a quoted string (a colour "#969696", an expected
# output "command #1"), an inline code span or a fenced code block (program
# output).
FORBIDDEN = [
    (re.compile(r"\.\./shared\b"), 'refers to "../shared"'),
    (re.compile(r"/work/"), 'refers to "/work/"'),
    (re.compile(r"\b(?:issues?|tickets?|pull requests?)\s*#?\d+\b", re.IGNORECASE),
     "refers to a tracker number"),
    (re.compile(r"\bPRs?\s*#?\d+\b"), "refers to a tracker number"),
]
BARE_NUMBER = re.compile(r"(?<![\w#&/])#\d+(?![\w-])")
QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
CODE_SPAN = re.compile(r"(`+).*?\1")
SELF_LINK = re.compile(r"\]\(#[^)\s]+\)")

FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})\s*([^`]*)$")


def fenced_blocks(text):
    """(first line number of the content, info string, content) per block."""
    blocks = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info = m.group(2), m.group(3).strip()
        start = i + 1
        j = start
        while j < len(lines):
            c = re.match(r"^ {0,3}(`{3,}|~{3,})\s*$", lines[j])
            if c and c.group(1)[0] == fence[0] and len(c.group(1)) >= len(fence):
                break
            j += 1
        blocks.append((start + 1, info, "\n".join(lines[start:j])))
        i = j + 1
    return blocks


def is_twin(doc):
    return isinstance(doc, dict) and "dtwin" in doc


def check_json_block(path, line, info, body, dtwin, failures, tmpdir):
    words = info.split()
    if not words or words[0].lower() != "json":
        return
    fragment = "fragment" in words[1:]
    text = "{\n" + body + "\n}" if fragment else body
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        at = line + e.lineno - (2 if fragment else 1)
        hint = ""
        if not fragment:
            try:
                json.loads("{\n" + body + "\n}")
                hint = ' (it reads as members of an object: mark the block "```json fragment")'
            except json.JSONDecodeError:
                pass
        what = "json fragment" if fragment else "json block"
        failures.append("%s:%d: %s is not valid JSON: %s%s" % (path, max(at, line), what,
                                                                e.msg, hint))
        return
    if fragment or not is_twin(doc):
        return
    if dtwin is None:
        print("%s:%d: a twin description; dtwin check skipped (no --dtwin)" % (path, line))
        return
    f = os.path.join(tmpdir, "block_%d.json" % len(os.listdir(tmpdir)))
    with open(f, "w", encoding="utf-8") as out:
        out.write(body)
    r = subprocess.run([dtwin, "check", "--quiet", f], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    if r.returncode != 0:
        msg = " ".join(r.stdout.replace(f, "BLOCK").split())
        failures.append("%s:%d: twin description fails dtwin check (exit %d): %s"
                        % (path, line, r.returncode, msg))


def check_references(path, text, failures, code_lines=()):
    """code_lines: line numbers inside fenced code blocks (Markdown)."""
    md = path.endswith(".md")
    for n, ln in enumerate(text.split("\n"), 1):
        for rx, why in FORBIDDEN:
            m = rx.search(ln)
            if m:
                failures.append("%s:%d: %s: %s" % (path, n, why, m.group(0)))
        if n in code_lines:
            continue
        if md:
            m = SELF_LINK.search(CODE_SPAN.sub("", ln))
            if m:
                failures.append("%s:%d: a link within the page must name it (%s.md#...): %s"
                                % (path, n, os.path.basename(path)[:-3], m.group(0)))
        prose = QUOTED.sub("", CODE_SPAN.sub("", ln) if md else ln)
        m = BARE_NUMBER.search(prose)
        if m:
            failures.append("%s:%d: refers to a tracker number: %s" % (path, n, m.group(0)))


def doc_paths(root):
    paths = [p for p in DOC_FILES if os.path.isfile(os.path.join(root, p))]
    ddir = os.path.join(root, "docs")
    if os.path.isdir(ddir):
        paths += sorted("docs/" + f for f in os.listdir(ddir) if f.endswith(".md"))
    return paths


def example_paths(root):
    out = []
    base = os.path.join(root, "examples")
    for d, dirs, files in os.walk(base):
        dirs.sort()
        for f in sorted(files):
            out.append(os.path.relpath(os.path.join(d, f), root))
    return out


def read_text(root, rel):
    try:
        with open(os.path.join(root, rel), encoding="utf-8") as f:
            return f.read()
    except UnicodeDecodeError:
        return None  # binary (an image): nothing to read


def check(root, dtwin):
    failures = []
    with tempfile.TemporaryDirectory(prefix="check_docs_") as tmpdir:
        for rel in doc_paths(root):
            text = read_text(root, rel)
            if text is None:
                continue
            code = set()
            for line, info, body in fenced_blocks(text):
                check_json_block(rel, line, info, body, dtwin, failures, tmpdir)
                code.update(range(line, line + body.count("\n") + 1))
            check_references(rel, text, failures, code)
    for rel in example_paths(root):
        text = read_text(root, rel)
        if text is not None:
            check_references(rel, text, failures)
    return failures


def self_test(dtwin):
    """The checker finds what it should, and nothing else, in a planted tree."""
    twin_ok = ('{ "dtwin": 1, "name": "t", "assets": [ { "id": "p" } ],\n'
               '  "signals": [ { "id": "y", "asset": "p", "quantity": "length",'
               ' "unit": "m", "role": "measured" } ] }')
    twin_bad = twin_ok.replace('"m"', '"mm2x"')
    good = "\n".join([
        "# Good", "```json", '{ "a": [1, 2] }', "```",
        "```json fragment", '"loop": { "period": 0.1 },', '"x": 1', "```",
        "```json", twin_ok, "```",
        "```c", "#include <x.h>", "```json", "not json inside a C block", "```",
        "Semantic id 0173-1#02-AAB713#005, colour #1f77b4, C# 7, a #define.",
        "```", "relay: command #1 heater.power = 2.000 kW", "```",
        'Prints `command #2`; plots in "#969696".', ""])
    bad = "\n".join([
        "# Bad", "```json", '{ "a": 1, // comment', "}", "```",
        "```json", '"loop": { "period": 0.1 }', "```",
        "```json fragment", '{ "x": 1 }', "```",
        "```json", twin_bad, "```",
        "See ../shared/STYLE.md and /work/main, fixed in issue 4 and #12 (PR 7).",
        "See [below](#a-heading).", ""])
    want = [
        ("docs/bad.md", 3, "json block is not valid JSON"),
        ("docs/bad.md", 7, "mark the block"),
        ("docs/bad.md", 10, "json fragment is not valid JSON"),
        ("docs/bad.md", 16, 'refers to "../shared"'),
        ("docs/bad.md", 16, 'refers to "/work/"'),
        ("docs/bad.md", 16, "tracker number: issue 4"),
        ("docs/bad.md", 16, "tracker number: PR 7"),
        ("docs/bad.md", 16, "tracker number: #12"),
        ("docs/bad.md", 17, "a link within the page must name it (bad.md#...)"),
        ("examples/x/notes.txt", 2, "tracker number: Issue 9"),
        ("examples/x/CMakeLists.txt", 3, "tracker number: #7"),
    ]
    if dtwin is not None:
        want.append(("docs/bad.md", 13, "fails dtwin check"))
    with tempfile.TemporaryDirectory(prefix="check_docs_self_") as root:
        os.makedirs(os.path.join(root, "docs"))
        os.makedirs(os.path.join(root, "examples", "x"))
        for name, text in (("docs/good.md", good), ("docs/bad.md", bad),
                           ("README.md", "# Readme\n"),
                           ("examples/x/notes.txt", "ok\nsee Issue 9\n"),
                           ("examples/x/CMakeLists.txt",
                            'add_test(NAME t COMMAND expect "^command #1 sent$")\n'
                            'plot "a" lc rgb "#969696"\n/* see #7 */\n'),
                           ("examples/x/data.bin", None)):
            mode = "wb" if text is None else "w"
            with open(os.path.join(root, name), mode) as f:
                f.write(b"\xff\xfe#12 /work/" if text is None else text)
        got = check(root, dtwin)
    ok = True
    for f, line, frag in want:
        hit = [g for g in got if g.startswith("%s:%d:" % (f, line)) and frag in g]
        if not hit:
            print("self-test: missed %s:%d: ...%s..." % (f, line, frag))
            ok = False
    for g in got:
        if not any(g.startswith("%s:%d:" % (f, line)) and frag in g for f, line, frag in want):
            print("self-test: unexpected: " + g)
            ok = False
    print("self-test: %s (%d findings)" % ("ok" if ok else "FAILED", len(got)))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."))
    ap.add_argument("--dtwin", help="the dtwin CLI, to check whole twin descriptions")
    ap.add_argument("--self-test", action="store_true",
                    help="check the checker on a planted tree")
    a = ap.parse_args()
    if a.dtwin is not None and not os.access(a.dtwin, os.X_OK):
        print("check_docs: --dtwin %s is not an executable" % a.dtwin)
        return 2
    if a.self_test:
        return self_test(a.dtwin)
    failures = check(os.path.abspath(a.root), a.dtwin)
    for f in failures:
        print(f)
    print("check_docs: %d problem%s" % (len(failures), "" if len(failures) == 1 else "s"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
