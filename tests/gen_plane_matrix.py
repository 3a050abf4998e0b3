#!/usr/bin/env python3
"""Generates the plane-matrix test from the public headers (python3 standard
library only).

Every DT_API function in include/dtwin/*.h whose first parameter is a
`dt_plane *` (or `const dt_plane *`) must carry a tag in its doc comment,
`@plane data|control|mgmt|any`, and return int (a status). Every DT_API
function whose first parameter is a `dt_twin *` (or `const dt_twin *`) must
have a row in docs/security.md's table "Reachable through the raw twin
pointer", whose second column says what it does once the planes are taken:
`works`, `NULL` (an accessor that gives nothing), or a status code such as
`DT_EPLANE`. A row naming no such function is stale and fails too. Every
tagged plane function must also be listed in the row of its plane of the
table right under "## Planes" (data, control, management, any), and that
table may list nothing else: the table a reader picks a plane from.

The generated C test loads tests/data/planes/twin.json, takes the planes,
and calls each plane function through each of the three handles with
synthesized arguments (zeros, an empty string, zeroed buffers, NULL for
callbacks): through the wrong plane it must return DT_EPLANE and count it
(plane_refused + 1), through its own (or for `any`, every) plane anything
but DT_EPLANE and no count. Each raw function whose row says `NULL` or a
status is called on the partitioned twin and must give that, counted in
raw_refused (a row saying `works` is not called: the destructor is one).
Functions of headers outside the umbrella dtwin/dtwin.h (the libuv driver)
need their row but are not called.

A missing tag or row does not break the build: the generated test then
prints each finding, naming the function, and fails.

Usage: gen_plane_matrix.py --include DIR --security FILE --out FILE.c
       gen_plane_matrix.py --include DIR --security FILE --check
       gen_plane_matrix.py --self-test
"""
import argparse
import os
import re
import sys
import tempfile

TABLE_TITLE = "Reachable through the raw twin pointer"
PLANES = ["data", "control", "mgmt"]
PLANE_CONST = {"data": "DT_PLANE_DATA", "control": "DT_PLANE_CONTROL", "mgmt": "DT_PLANE_MGMT"}
# Strings named so get an id of tests/data/planes/twin.json, so that the
# calls through the right plane go past the lookup.
KNOWN_IDS = {"source_id": '"sensor"', "sink_id": '"actuator"', "controller_id": '"level"',
             "native": '"level"'}
FIRST_PLANE = re.compile(r"^(const\s+)?dt_plane\s*\*")
FIRST_TWIN = re.compile(r"^(const\s+)?dt_twin\s*\*")


def split_params(text):
    """Splits a parameter list at the commas outside parentheses."""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def strip_comments(decl):
    return re.sub(r"/\*.*?\*/", " ", decl, flags=re.S)


def parse_header(path, text):
    """The DT_API functions of a header: dicts with name, ret, params, doc."""
    funcs = []
    for m in re.finditer(r"\bDT_API\b", text):
        start = m.end()
        # the declaration: up to the parenthesis that closes the parameters
        open_at = text.find("(", start)
        if open_at < 0:
            continue
        depth, i = 0, open_at
        while i < len(text):
            if text[i] == "(":
                depth += 1
            elif text[i] == ")":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        head = strip_comments(text[start:open_at]).split()
        if not head:
            continue
        name = head[-1].lstrip("*")
        ret = " ".join(head[:-1]) + ("*" * (len(head[-1]) - len(name)))
        params = split_params(" ".join(strip_comments(text[open_at + 1:i]).split()))
        # the doc comment that ends right before the declaration
        before = text[:m.start()].rstrip()
        doc = ""
        if before.endswith("*/"):
            begin = before.rfind("/**")
            if begin >= 0 and "*/" not in before[begin:-2]:
                doc = before[begin:]
        funcs.append({"name": name, "ret": ret.strip(), "params": params, "doc": doc,
                      "header": os.path.basename(path)})
    return funcs


def read_table(security_text):
    """The rows of the raw-pointer table: {name: after}."""
    rows, inside = {}, False
    for line in security_text.splitlines():
        if line.startswith("#"):
            inside = TABLE_TITLE in line
            continue
        if not inside or not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3:
            continue
        m = re.match(r"^`(dt_\w+)`$", cells[0])
        if m:
            rows[m.group(1)] = cells[1].strip("`")
    return rows


PLANE_ROWS = {"data": "data", "control": "control", "management": "mgmt", "any": "any"}


def read_plane_table(security_text):
    """The first table under "## Planes": {function name: plane}."""
    rows, inside, seen_table = {}, False, False
    for line in security_text.splitlines():
        if line.startswith("#"):
            if seen_table:
                break
            inside = line.strip() == "## Planes"
            continue
        if not inside:
            continue
        if not line.startswith("|"):
            if seen_table:
                break
            continue
        seen_table = True
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0] in PLANE_ROWS:
            for name in re.findall(r"`(dt_\w+)`", cells[-1]):
                rows[name] = PLANE_ROWS[cells[0]]
    return rows


def collect(include_dir, security_text, umbrella_names=None):
    """The plane and twin functions and the findings (a list of messages)."""
    findings, planes, twins = [], [], []
    headers = sorted(f for f in os.listdir(include_dir) if f.endswith(".h"))
    if umbrella_names is None:
        umbrella = os.path.join(include_dir, "dtwin.h")
        umbrella_names = set()
        if os.path.exists(umbrella):
            with open(umbrella, encoding="utf-8") as f:
                umbrella_names = set(re.findall(r'#include "dtwin/(\w+\.h)"', f.read()))
            umbrella_names.add("dtwin.h")
    for h in headers:
        path = os.path.join(include_dir, h)
        with open(path, encoding="utf-8") as f:
            for fn in parse_header(path, f.read()):
                first = fn["params"][0] if fn["params"] else ""
                fn["callable"] = h in umbrella_names
                if FIRST_PLANE.match(first):
                    tag = re.search(r"@plane\s+(\w+)", fn["doc"])
                    if tag is None:
                        findings.append("%s (%s): takes a plane handle and its comment has no "
                                        "@plane tag (data, control, mgmt or any)" % (fn["name"], h))
                        continue
                    if tag.group(1) not in PLANES + ["any"]:
                        findings.append("%s (%s): @plane %s is not data, control, mgmt or any"
                                        % (fn["name"], h, tag.group(1)))
                        continue
                    if fn["ret"] != "int":
                        findings.append("%s (%s): a plane entry point returns a status (int), "
                                        "not %s" % (fn["name"], h, fn["ret"]))
                        continue
                    fn["plane"] = tag.group(1)
                    planes.append(fn)
                elif FIRST_TWIN.match(first):
                    twins.append(fn)
    listed = read_plane_table(security_text)
    for fn in planes:
        if listed.get(fn["name"]) != fn["plane"]:
            findings.append("%s (%s): @plane %s, and the table under \"## Planes\" in "
                            "docs/security.md %s" % (fn["name"], fn["header"], fn["plane"],
                            "lists it under %s" % listed[fn["name"]] if fn["name"] in listed
                            else "does not list it"))
    for name in sorted(set(listed) - {fn["name"] for fn in planes}):
        findings.append("%s: listed in the table under \"## Planes\" in docs/security.md, and "
                        "no tagged plane function has that name" % name)
    rows = read_table(security_text)
    names = {fn["name"] for fn in twins}
    for fn in twins:
        after = rows.get(fn["name"])
        if after is None:
            findings.append("%s (%s): takes the raw twin pointer and has no row in "
                            "docs/security.md's table \"%s\""
                            % (fn["name"], fn["header"], TABLE_TITLE))
        elif after not in ("works", "NULL") and not re.match(r"^DT_E[A-Z]+$", after):
            findings.append("%s: the table says \"%s\" (works, NULL or a status code)"
                            % (fn["name"], after))
        else:
            fn["after"] = after
    for name in sorted(set(rows) - names):
        findings.append("%s: a row of docs/security.md's table \"%s\" names no DT_API function "
                        "taking a dt_twin" % (name, TABLE_TITLE))
    return planes, [fn for fn in twins if "after" in fn], findings


def c_arg(param, index):
    """A synthesized argument for a parameter declaration: a callback NULL, a
    string empty, another pointer its own zeroed buffer, a number 0."""
    p = param.strip()
    if p == "...":
        return None
    if "(*" in p or re.search(r"\b\w+_fn\b", p):
        return "NULL"  # a callback: never called through a zero
    m = re.match(r"^const\s+char\s*\*\s*(\w*)$", p)
    if m:
        return KNOWN_IDS.get(m.group(1), '""')
    if "[" in p:  # an array parameter: a pointer to its element type
        typ = re.sub(r"\s*\b\w+\s*\[.*\]$", "", p) + " *"
        return "(%s)(void *)dtm_buf[%d]" % (typ, index)
    if "*" in p:
        return "(%s)(void *)dtm_buf[%d]" % (p[:p.rfind("*") + 1], index)
    typ = re.sub(r"\s+\w+$", "", p)
    return "(%s)0" % typ


def emit(planes, twins, findings):
    out = []
    w = out.append
    w("/* Generated by tests/gen_plane_matrix.py from the public headers and")
    w(" * docs/security.md: do not edit. */")
    w("#include <stdio.h>")
    w("#include <stdlib.h>")
    w("#include <string.h>")
    w("")
    w('#include "dtwin/dtwin.h"')
    w("")
    w("static _Alignas(16) unsigned char dtm_buf[8][65536];")
    w("static int dtm_failures;")
    w("")
    w("static void dtm_clear(void) { memset(dtm_buf, 0, sizeof dtm_buf); }")
    w("")
    w("static uint64_t dtm_refused(const dt_plane *p)")
    w("{")
    w("    dt_plane_stats s;")
    w("    return dt_plane_stats_get(p, &s) == DT_OK ? s.plane_refused : (uint64_t)-1;")
    w("}")
    w("")
    w("static uint64_t dtm_raw(const dt_plane *p)")
    w("{")
    w("    dt_plane_stats s;")
    w("    return dt_plane_stats_get(p, &s) == DT_OK ? s.raw_refused : (uint64_t)-1;")
    w("}")
    w("")
    w("static void dtm_check(const char *fn, const char *plane, int want_plane, int rc,")
    w("                      uint64_t before, uint64_t after)")
    w("{")
    w("    if (want_plane && (rc != DT_EPLANE || after != before + 1)) {")
    w('        printf("FAIL %s through the %s plane: %s, refusals %llu -> %llu (want DT_EPLANE, "')
    w('               "counted)\\n", fn, plane, dt_err_name(rc), (unsigned long long)before,')
    w("               (unsigned long long)after);")
    w("        dtm_failures++;")
    w("    } else if (!want_plane && (rc == DT_EPLANE || after != before)) {")
    w('        printf("FAIL %s through the %s plane: %s, refusals %llu -> %llu (want its own "')
    w('               "plane to take it)\\n", fn, plane, dt_err_name(rc),')
    w("               (unsigned long long)before, (unsigned long long)after);")
    w("        dtm_failures++;")
    w("    } else {")
    w('        printf("ok %s through the %s plane: %s\\n", fn, plane,')
    w('               rc > 0 ? "a value" : dt_err_name(rc));')
    w("    }")
    w("}")
    w("")
    w("int main(void)")
    w("{")
    for f in findings:
        w('    printf("FAIL %s\\n", "%s");' % ("%s", f.replace("\\", "\\\\").replace('"', '\\"')))
        w("    dtm_failures++;")
    w("    dt_twin_options o = DT_TWIN_OPTIONS_INIT;")
    w("    o.logger = dt_logger_silent();")
    w("    dt_twin *twin = NULL;")
    w("    dt_diag d;")
    w('    if (dt_twin_load_file(DTT_SOURCE_DIR "/tests/data/planes/twin.json", &o, &twin, &d) != DT_OK) {')
    w('        printf("FAIL loading tests/data/planes/twin.json: %s\\n", d.message);')
    w("        return 1;")
    w("    }")
    w("    dt_planes pl;")
    w("    if (dt_twin_planes(twin, &pl) != DT_OK) {")
    w('        printf("FAIL dt_twin_planes\\n");')
    w("        return 1;")
    w("    }")
    w("    dt_plane *by_kind[3] = {pl.data, pl.control, pl.mgmt};")
    w('    static const char *const kind_name[3] = {"data", "control", "mgmt"};')
    w("    int rc;")
    w("    uint64_t before;")
    for fn in planes:
        if not fn["callable"]:
            continue
        args = [c_arg(p, i) for i, p in enumerate(fn["params"][1:]) if p != "void"]
        if None in args:
            continue
        call = "%s(by_kind[k]%s)" % (fn["name"], "".join(", " + a for a in args))
        w("    for (int k = 0; k < 3; k++) {")
        w("        dtm_clear();")
        w("        before = dtm_refused(by_kind[k]);")
        w("        rc = %s;" % call)
        if fn["plane"] == "any":
            w('        dtm_check("%s", kind_name[k], 0, rc, before, dtm_refused(by_kind[k]));'
              % fn["name"])
        else:
            w('        dtm_check("%s", kind_name[k], by_kind[k] != pl.%s, rc, before, '
              "dtm_refused(by_kind[k]));" % (fn["name"], fn["plane"]))
        w("    }")
    for fn in twins:
        if not fn["callable"] or fn["after"] == "works":
            continue
        args = [c_arg(p, i) for i, p in enumerate(fn["params"][1:]) if p != "void"]
        if None in args:
            continue
        call = "%s(twin%s)" % (fn["name"], "".join(", " + a for a in args))
        w("    dtm_clear();")
        w("    before = dtm_raw(pl.mgmt);")
        if fn["after"] == "NULL":
            w("    if ((%s) != NULL || dtm_raw(pl.mgmt) != before + 1) {" % call)
            w('        printf("FAIL %s on the partitioned twin: want NULL, counted\\n");'
              % fn["name"])
            w("        dtm_failures++;")
            w("    } else {")
            w('        printf("ok %s on the partitioned twin: NULL\\n");' % fn["name"])
            w("    }")
        else:
            w("    rc = %s;" % call)
            w("    if (rc != %s || dtm_raw(pl.mgmt) != before + 1) {" % fn["after"])
            w('        printf("FAIL %s on the partitioned twin: %%s, want %s, counted\\n", '
              "dt_err_name(rc));" % (fn["name"], fn["after"]))
            w("        dtm_failures++;")
            w("    } else {")
            w('        printf("ok %s on the partitioned twin: %s\\n");' % (fn["name"], fn["after"]))
            w("    }")
    w("    dt_twin_destroy(twin);")
    w('    printf("%%d plane functions, %%d raw twin functions, %%d failures\\n", %d, %d, '
      "dtm_failures);" % (len(planes), len(twins)))
    w("    return dtm_failures ? 1 : 0;")
    w("}")
    return "\n".join(out) + "\n"


SELF_HEADER_OK = """
/** Pushes. @plane data */
DT_API int dt_x_push(dt_plane *p, const char *id, double v);
/** Reads its counters. @plane any */
DT_API int dt_x_stats(const dt_plane *p, size_t *n);
/** A getter. */
DT_API const char *dt_twin_x(const dt_twin *twin);
"""
SELF_HEADER_BAD = SELF_HEADER_OK + """
/** Forgot its plane. */
DT_API int dt_x_untagged(dt_plane *p, int a);
/** Returns no status. @plane control */
DT_API void dt_x_void(dt_plane *p);
/** New and not in the table. */
DT_API int dt_twin_y(dt_twin *twin, const dt_command *cmd);
"""
SELF_TABLE = """## Planes
| plane | may | entry points |
|---|---|---|
| data | push | `dt_x_push` |
| any | counters | `dt_x_stats` |

### %s
| entry point | after | why |
|---|---|---|
| `dt_twin_x` | works | read-only |
""" % TABLE_TITLE


def self_test():
    ok = True
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "x.h"), "w", encoding="utf-8") as f:
            f.write(SELF_HEADER_OK)
        planes, twins, findings = collect(d, SELF_TABLE, {"x.h"})
        if findings or [fn["plane"] for fn in planes] != ["data", "any"] or len(twins) != 1:
            print("FAIL a tagged header and a complete table gave %s" % findings)
            ok = False
        src = emit(planes, twins, findings)
        if "dt_x_push(by_kind[k], \"\", (double)0)" not in src or \
                "(size_t *)(void *)dtm_buf[0]" not in src:
            print("FAIL the generated calls:\n" + src)
            ok = False
        planes, twins, findings = collect(d, SELF_TABLE + "| `dt_twin_gone` | works | x |\n",
                                          {"x.h"})
        if len(findings) != 1 or "dt_twin_gone" not in findings[0]:
            print("FAIL a stale row gave %s" % findings)
            ok = False
        planes, twins, findings = collect(d, SELF_TABLE.replace("`dt_x_stats`", ""), {"x.h"})
        if len(findings) != 1 or not findings[0].startswith("dt_x_stats "):
            print("FAIL a plane function missing from the planes table gave %s" % findings)
            ok = False
        with open(os.path.join(d, "x.h"), "w", encoding="utf-8") as f:
            f.write(SELF_HEADER_BAD)
        planes, twins, findings = collect(d, SELF_TABLE, {"x.h"})
        for name in ("dt_x_untagged", "dt_x_void", "dt_twin_y"):
            if not any(fd.startswith(name + " ") for fd in findings):
                print("FAIL %s not named among the findings %s" % (name, findings))
                ok = False
        src = emit(planes, twins, findings)
        if src.count("dtm_failures++;\n") < 3 or "dt_x_untagged" not in src:
            print("FAIL the generated test does not fail on the findings")
            ok = False
    print("self-test %s" % ("ok" if ok else "FAILED"))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--include")
    ap.add_argument("--security")
    ap.add_argument("--out")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--self-test", action="store_true")
    a = ap.parse_args()
    if a.self_test:
        return self_test()
    if not a.include or not a.security or not (a.out or a.check):
        ap.error("--include, --security and --out or --check")
    with open(a.security, encoding="utf-8") as f:
        planes, twins, findings = collect(a.include, f.read())
    for fd in findings:
        print("FAIL " + fd, file=sys.stderr if a.out else sys.stdout)
    if a.check:
        print("%d plane functions, %d raw twin functions, %d findings"
              % (len(planes), len(twins), len(findings)))
        return 1 if findings else 0
    text = emit(planes, twins, findings)
    old = None
    if os.path.exists(a.out):
        with open(a.out, encoding="utf-8") as f:
            old = f.read()
    if old != text:  # unchanged: no rebuild
        with open(a.out, "w", encoding="utf-8") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
