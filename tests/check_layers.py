#!/usr/bin/env python3
"""Checks dtwin's dependency rules on the sources and on the built objects
(python3 standard library and binutils' nm).

Rules (docs/architecture.md, "Dependency rules"):
  twin_uv_no_adapter_kind   src/twin/ and src/uv/ name no built-in adapter kind
                            ("memory", "csv", "csvlog", "udp", "sim" as string
                            literals; "memory" is also the twin's own section,
                            the memory budget, which src/twin/budget.c reads) and
                            their objects reference no adapter-specific symbol
                            (dt__udp_*, dt__csv_*, dt__csvlog_*, dt__sim_*,
                            dt__memory_*, dt_udp_*, dt_csvlog_*, dt_memory_*).
  model_no_section          src/model/ names no section of an upper layer
                            ("sources", "sinks", "estimator", "controllers",
                            "dispatcher", "latency", "loop", "analytics",
                            "memory" as string literals).
  control_no_adapter_host   src/control/ includes no header of src/adapters/, and
                            its objects use no symbol that the adapters' objects
                            define, except the public dt_config_* readers.
  platform_no_upper         src/platform/ headers include only platform headers
                            and the system's, and declare no dt__twin_,
                            dt__ingest_, dt__est_ or dt__io_ symbol; platform's
                            objects reference none either.
  file_size                 no file in src/ is over 650 lines.
  core_no_uv_cjson          the core library's objects reference no uv_ symbol,
                            and no cJSON_ symbol outside the description module
                            (CJSON_ALLOWED below).

Usage: check_layers.py SOURCE_DIR BUILD_DIR [--rule NAME]... [--objects LIST]
       check_layers.py --self-test
LIST is the core's and the uv driver's object files, ';'- or
space-separated (CMake's $<TARGET_OBJECTS:...>); without it the objects are
found under BUILD_DIR/CMakeFiles/{dtwin_objects,dtwin_uv_objects}.dir.
Prints one line per finding, "FAIL rule: file: offending name", "ok rule" for
a rule that holds, and exits 1 if any checked rule fails.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

ADAPTER_KINDS = ["memory", "csv", "csvlog", "udp", "sim"]
ADAPTER_SYMBOL = re.compile(r"^dt__(udp|csv|csvlog|sim|memory)_|^dt_(udp|csvlog|memory|sim|csv)_")
# "memory" is also a section of the twin description that the twin itself
# owns (the memory budget): the file that registers it and the one that
# reads it may name it.
KIND_LITERAL_ALLOWED = {("src/twin/budget.c", "memory"), ("src/twin/twin_load.c", "memory")}
MODEL_SECTIONS = ["sources", "sinks", "estimator", "controllers", "dispatcher", "latency",
                  "loop", "analytics", "memory"]
PLATFORM_PUBLIC = {"dtwin/error.h", "dtwin/time.h", "dtwin/alloc.h", "dtwin/log.h",
                   "dtwin/version.h", "dtwin/export.h"}
UPPER_INTERNAL = re.compile(r"\bdt__(twin|ingest|est|io)_\w*")
MAX_LINES = 650
# The description module owns cJSON: every layer reads its section through
# the dt_config views.
CJSON_ALLOWED = ["src/desc/"]

RULES = ["twin_uv_no_adapter_kind", "model_no_section", "control_no_adapter_host",
         "platform_no_upper", "file_size", "core_no_uv_cjson"]


# ---- C sources: comments out, string literals and includes kept ----

def strip_c(text):
    """Returns (code, literals): code with comments blanked (newlines kept,
    so line numbers stay) and string literal contents replaced by spaces; and
    the string literals as (line, content). Character literals are kept in
    code (they are short and hold no quote that matters)."""
    out = []
    lits = []
    i, n, line = 0, len(text), 1
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            out.append(c)
            i += 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            chunk = text[i:j]
            line += chunk.count("\n")
            out.append(re.sub(r"[^\n]", " ", chunk))
            i = j
        elif c == "'":
            j = i + 1
            while j < n and text[j] != "'":
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif c == '"':
            j = i + 1
            buf = []
            while j < n and text[j] != '"' and text[j] != "\n":
                if text[j] == "\\" and j + 1 < n:
                    buf.append(text[j:j + 2])
                    j += 2
                else:
                    buf.append(text[j])
                    j += 1
            lits.append((line, "".join(buf)))
            out.append('"' + " " * (j - i - 1) + '"')
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out), lits


INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def c_files(src, sub, exts=(".c", ".h")):
    d = os.path.join(src, sub)
    if not os.path.isdir(d):
        return []
    return sorted(os.path.join(sub, f) for f in os.listdir(d) if f.endswith(exts))


def read(src, rel):
    with open(os.path.join(src, rel), encoding="utf-8", errors="replace") as f:
        return f.read()


def includes(text):
    """(line, kind, name) of each #include of text (kind '<' or '"')."""
    rows = strip_c(text)[0].splitlines()
    res = []
    for m in INCLUDE.finditer(text):
        ln = text.count("\n", 0, m.start()) + 1
        # an #include inside a comment is blank in code
        if rows[ln - 1].strip().startswith("#"):
            res.append((ln, m.group(1), m.group(2)))
    return res


# ---- objects ----

def rel_object(path):
    """src/x/y.c for an object .../src/x/y.c.o (CMake's object layout)."""
    p = path.replace(os.sep, "/")
    k = p.rfind("/src/")
    name = p[k + 1:] if k >= 0 else os.path.basename(p)
    return name[:-2] if name.endswith(".o") else name


def nm(path, undefined):
    args = [os.environ.get("NM") or "nm", "-u" if undefined else "--defined-only", path]
    r = subprocess.run(args, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise SystemExit("check_layers: nm failed on %s: %s" % (path, r.stderr.strip()))
    syms = set()
    for ln in r.stdout.splitlines():
        parts = ln.split()
        if not parts:
            continue
        if undefined:
            syms.add(parts[-1])
        elif len(parts) >= 3 and parts[1].isupper():  # global definitions only
            syms.add(parts[2])
    return syms


class Objects:
    def __init__(self, paths):
        self.paths = {}
        for p in paths:
            self.paths.setdefault(rel_object(p), p)
        self._u, self._d = {}, {}

    def under(self, prefix):
        return sorted(k for k in self.paths if k.startswith(prefix))

    def undefined(self, rel):
        if rel not in self._u:
            self._u[rel] = nm(self.paths[rel], True)
        return self._u[rel]

    def defined(self, rel):
        if rel not in self._d:
            self._d[rel] = nm(self.paths[rel], False)
        return self._d[rel]


def find_objects(build):
    found = []
    for target in ("dtwin_objects", "dtwin_uv_objects"):
        d = os.path.join(build, "CMakeFiles", target + ".dir")
        for root, _, files in os.walk(d):
            found += [os.path.join(root, f) for f in files if f.endswith(".o")]
    return found


# ---- the rules: each returns a list of findings "file: name" ----

def rule_twin_uv_no_adapter_kind(src, objs):
    bad = []
    for rel in c_files(src, "src/twin") + c_files(src, "src/uv"):
        _, lits = strip_c(read(src, rel))
        for ln, s in lits:
            if s in ADAPTER_KINDS and (rel, s) not in KIND_LITERAL_ALLOWED:
                bad.append('%s:%d: names the adapter kind "%s"' % (rel, ln, s))
    if not objs.under("src/twin/"):
        bad.append("no object of src/twin/ among the objects (wrong build dir?)")
    for rel in objs.under("src/twin/") + objs.under("src/uv/"):
        for sym in sorted(objs.undefined(rel)):
            if ADAPTER_SYMBOL.search(sym):
                bad.append("%s.o: references the adapter symbol %s" % (rel, sym))
    return bad


def rule_model_no_section(src, objs):
    bad = []
    for rel in c_files(src, "src/model"):
        _, lits = strip_c(read(src, rel))
        for ln, s in lits:
            if s in MODEL_SECTIONS:
                bad.append('%s:%d: names the section "%s" of an upper layer' % (rel, ln, s))
    return bad


def rule_control_no_adapter_host(src, objs):
    bad = []
    for rel in c_files(src, "src/control"):
        for ln, kind, name in includes(read(src, rel)):
            target = os.path.normpath(os.path.join(os.path.dirname(rel), name))
            if kind == '"' and target.replace(os.sep, "/").startswith("src/adapters/"):
                bad.append("%s:%d: includes %s (the adapter host)" % (rel, ln, name))
    adapters = set()
    for rel in objs.under("src/adapters/"):
        adapters |= objs.defined(rel)
    if not objs.under("src/control/") or not adapters:
        bad.append("no object of src/control/ or src/adapters/ among the objects")
    for rel in objs.under("src/control/"):
        for sym in sorted(objs.undefined(rel) & adapters):
            if not sym.startswith("dt_config_"):
                bad.append("%s.o: uses %s, defined by the adapter host" % (rel, sym))
    return bad


def rule_platform_no_upper(src, objs):
    bad = []
    for rel in c_files(src, "src/platform", (".h",)):
        text = read(src, rel)
        for ln, kind, name in includes(text):
            own = os.path.isfile(os.path.join(src, "src/platform", name))
            if kind == '"' and name not in PLATFORM_PUBLIC and not own:
                bad.append("%s:%d: includes %s, not a platform header" % (rel, ln, name))
            if kind == "<" and (name == "uv.h" or name.startswith("cjson/")):
                bad.append("%s:%d: includes <%s>" % (rel, ln, name))
        code, _ = strip_c(text)
        for ln, row in enumerate(code.splitlines(), 1):
            for m in UPPER_INTERNAL.finditer(row):
                bad.append("%s:%d: declares %s, a symbol of an upper layer" % (rel, ln, m.group(0)))
    for rel in objs.under("src/platform/"):
        for sym in sorted(objs.undefined(rel)):
            if UPPER_INTERNAL.match(sym):
                bad.append("%s.o: references %s, a symbol of an upper layer" % (rel, sym))
    return bad


def rule_file_size(src, objs):
    bad = []
    for root, _, files in os.walk(os.path.join(src, "src")):
        for f in sorted(files):
            if not f.endswith((".c", ".h")):
                continue
            p = os.path.join(root, f)
            with open(p, encoding="utf-8", errors="replace") as fh:
                n = sum(1 for _ in fh)
            if n > MAX_LINES:
                bad.append("%s: %d lines (at most %d)" % (os.path.relpath(p, src), n, MAX_LINES))
    return sorted(bad)


def rule_core_no_uv_cjson(src, objs):
    bad = []
    users = []
    core = [r for r in objs.under("src/") if not r.startswith("src/uv/")]
    if not core:
        bad.append("no object of the core library among the objects")
    for rel in core:
        und = objs.undefined(rel)
        for sym in sorted(s for s in und if s.startswith("uv_")):
            bad.append("%s.o: references the libuv symbol %s" % (rel, sym))
        cj = sorted(s for s in und if s.startswith("cJSON_"))
        if cj:
            users.append(rel)
            if not any(rel.startswith(a) for a in CJSON_ALLOWED):
                bad.append("%s.o: references cJSON (%s), outside the description loaders"
                           % (rel, ", ".join(cj[:3]) + (", ..." if len(cj) > 3 else "")))
    print("info core_no_uv_cjson: objects referencing cJSON_: %s" % (", ".join(users) or "none"))
    return bad


def run(src, objs, rules):
    failed = []
    for r in rules:
        bad = globals()["rule_" + r](src, objs)
        if bad:
            failed.append(r)
            for b in bad:
                print("FAIL %s: %s" % (r, b))
        else:
            print("ok   %s" % r)
    return failed


# ---- self-test: a planted tree breaks each rule once ----

PLANTED = {
    "src/twin/t.c": 'static const char *k = "udp"; /* "csv" in a comment is fine */\n'
                    'const char *dt_t(void) { return k; }\n',
    "src/twin/budget.c": 'const char *dt_b(void) { return "memory"; }\n',
    "src/uv/u.c": 'int dt_u(void) { return 0; } // "sim"\n',
    "src/model/m.c": 'const char *dt_m(void) { return "sinks"; }\n'
                     'const char *dt_m2(void) { return "sinks_x"; }\n',
    "src/control/c.c": '#include "../adapters/adapters_internal.h"\n'
                       'int dt__adp(void); int dt_config_get(void);\n'
                       'int dt_c(void) { return dt__adp() + dt_config_get(); }\n',
    "src/adapters/adapters_internal.h": "/* planted */\n",
    "src/adapters/a.c": 'int dt__adp(void) { return 1; }\nint dt_config_get(void) { return 2; }\n'
                        'int dt__udp_x(void) { return 3; }\n',
    "src/platform/internal.h": '#include "dtwin/alloc.h"\n#include "dtwin/sample.h"\n'
                               "struct dt_twin;\nint dt__twin_x(struct dt_twin *t);\n",
    "src/platform/p.c": "int dt__io_y(void);\nint dt_p(void) { return dt__io_y(); }\n",
    "src/estimator/big.c": "int dt_big;\n" + "\n" * 700,
    "src/estimator/e.c": "int cJSON_Parse(void);\nint uv_run(void);\n"
                         "int dt_e(void) { return cJSON_Parse() + uv_run(); }\n",
}
# each rule's findings on the planted tree: a substring of each expected line
EXPECT = {
    "twin_uv_no_adapter_kind": ['src/twin/t.c:1: names the adapter kind "udp"',
                                "src/twin/t.c.o: references the adapter symbol dt__udp_x"],
    "model_no_section": ['src/model/m.c:1: names the section "sinks"'],
    "control_no_adapter_host": ["src/control/c.c:1: includes ../adapters/adapters_internal.h",
                                "src/control/c.c.o: uses dt__adp"],
    "platform_no_upper": ["src/platform/internal.h:2: includes dtwin/sample.h",
                          "src/platform/internal.h:4: declares dt__twin_x",
                          "src/platform/p.c.o: references dt__io_y"],
    "file_size": ["src/estimator/big.c: 701 lines"],
    "core_no_uv_cjson": ["src/estimator/e.c.o: references the libuv symbol uv_run",
                         "src/estimator/e.c.o: references cJSON (cJSON_Parse)"],
}


def self_test():
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        print("self-test: no C compiler")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "s")
        objs = []
        for rel, text in PLANTED.items():
            p = os.path.join(src, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w", encoding="utf-8") as f:
                f.write(text)
        # the twin's object references an adapter symbol
        with open(os.path.join(src, "src/twin/t.c"), "a", encoding="utf-8") as f:
            f.write("int dt__udp_x(void);\nint dt_t2(void) { return dt__udp_x(); }\n")
        for rel in PLANTED:
            if not rel.endswith(".c"):
                continue
            o = os.path.join(tmp, "o", rel + ".o")
            os.makedirs(os.path.dirname(o), exist_ok=True)
            r = subprocess.run([cc, "-c", "-w", os.path.join(src, rel), "-o", o],
                               capture_output=True, text=True, check=False)
            if r.returncode != 0:
                print("self-test: cannot compile %s: %s" % (rel, r.stderr))
                return 1
            objs.append(o)
        o = Objects(objs)
        status = 0
        for rule, wants in EXPECT.items():
            bad = globals()["rule_" + rule](src, o)
            for w in wants:
                if not any(w in b for b in bad):
                    print("self-test FAIL %s: missed %r (found %r)" % (rule, w, bad))
                    status = 1
            if len(bad) != len(wants):
                print("self-test FAIL %s: %d findings, expected %d: %r"
                      % (rule, len(bad), len(wants), bad))
                status = 1
        print("self-test %s" % ("passed" if status == 0 else "failed"))
        return status


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src", nargs="?")
    ap.add_argument("build", nargs="?")
    ap.add_argument("--rule", action="append", choices=RULES)
    ap.add_argument("--objects", default=None)
    ap.add_argument("--self-test", action="store_true")
    a = ap.parse_args()
    if a.self_test:
        return self_test()
    if a.src is None or a.build is None:
        ap.error("SOURCE_DIR and BUILD_DIR are required")
    paths = (re.split(r"[;\s]+", a.objects.strip()) if a.objects else find_objects(a.build))
    paths = [p for p in paths if p]
    if not paths:
        print("FAIL: no object files (build first, or pass --objects)")
        return 1
    failed = run(a.src, Objects(paths), a.rule or RULES)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
