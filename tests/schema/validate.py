#!/usr/bin/env python3
"""Checks docs/schema/dtwin.schema.json against the descriptions and the loader.

usage: validate.py shipped ROOT
       validate.py broken ROOT [--dtwin PATH --workdir DIR]
       validate.py keys ROOT
       validate.py units ROOT UNITS_DUMP

shipped  the schema is a valid draft 2020-12 schema, and every twin description the
         project ships (examples, tests/data/good, the fuzz corpora, the ```json blocks
         of docs/*.md that are descriptions or sections of one) validates.
broken   every case of tests/schema/broken.json fails with the expected error and with
         nothing else: its "fix" makes it valid again. With --dtwin, the loader refuses
         each case too (`dtwin check`, or `dtwin run` for what only an adapter checks
         when it opens) with the expected message, and accepts the fixed document.
keys     the keys, adapter kinds and controller kinds the schema knows are those the C
         loader accepts (read from its key tables and its registry).
units    the schema's unit patterns accept exactly the symbols dt_unit_parse() accepts,
         quantity by quantity (UNITS_DUMP prints the class dt_unit_parse() gives each
         symbol read from stdin).

Exit status 0 when every check passes, 1 otherwise; the message names the file, the JSON
path and what was expected.
"""
import copy
import glob
import json
import os
import re
import subprocess
import sys

try:
    from jsonschema import Draft202012Validator
except ImportError:  # pragma: no cover
    sys.exit("validate.py: python3-jsonschema is missing (scripts/install-deps.sh installs it)")

SCHEMA = "docs/schema/dtwin.schema.json"
# Keys the schema may document before the C loader reads them (none now).
PENDING = set()

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL " + msg)


def refs(node, where="#"):
    """(where, $ref) for every $ref of the schema."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                yield where, v
            else:
                yield from refs(v, where + "/" + k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from refs(v, "%s/%d" % (where, i))


def resolve(schema, ref):
    node = schema
    for part in filter(None, ref.lstrip("#").split("/")):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def load_schema(root):
    with open(os.path.join(root, SCHEMA), encoding="utf-8") as f:
        schema = json.load(f)
    Draft202012Validator.check_schema(schema)
    # check_schema does not follow references: a dangling one would only show up as
    # a traceback in the middle of a validation
    for where, ref in refs(schema):
        try:
            if not ref.startswith("#"):
                raise LookupError
            resolve(schema, ref)
        except (LookupError, ValueError, IndexError):
            sys.exit("validate.py: %s: %s at %s leads nowhere" % (SCHEMA, ref, where))
    return schema


def validator(schema):
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def jpath(err):
    return "/".join(str(p) for p in err.absolute_path)


def describe(err):
    return "%s: %s (%s)" % (jpath(err) or "(top)", err.message, err.validator)


# ---------------------------------------------------------------- shipped

def is_description(doc):
    return isinstance(doc, dict) and "dtwin" in doc


def shipped_files(root):
    pats = ["examples/**/*.json", "tests/data/good/*.json", "tests/fuzz/corpus/**/*.json"]
    files = []
    for p in pats:
        files += glob.glob(os.path.join(root, p), recursive=True)
    return sorted(set(files))


def doc_blocks(root, sections):
    """(label, document, whole) for every ```json block of docs/*.md that is a
    description (whole) or an object of some of its sections (a part)."""
    out = []
    for md in sorted(glob.glob(os.path.join(root, "docs", "*.md"))):
        with open(md, encoding="utf-8") as f:
            text = f.read()
        for m in re.finditer(r"^```json\n(.*?)^```", text, re.M | re.S):
            try:
                doc = json.loads(m.group(1))
            except ValueError:
                continue  # snippets that are not JSON documents: not ours to judge
            if not isinstance(doc, dict) or not doc:
                continue
            label = "%s:%d" % (os.path.relpath(md, root), text.count("\n", 0, m.start()) + 1)
            if is_description(doc):
                out.append((label, doc, True))
            elif set(doc) <= sections:
                out.append((label, doc, False))
    return out


def cmd_shipped(root):
    schema = load_schema(root)
    v = validator(schema)
    # a part of a description (some of its sections, as the docs show them) is held to
    # the same rules, less the keys a whole description requires
    part = dict(schema, required=[])
    part.pop("dependentRequired", None)
    vp = validator(part)
    print("ok   %s is a valid draft 2020-12 schema" % SCHEMA)
    n = 0
    items = []
    for path in shipped_files(root):
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except ValueError:
            continue
        if is_description(doc):
            items.append((os.path.relpath(path, root), doc, True))
    items += doc_blocks(root, set(schema["properties"]) - {"dtwin"})
    for label, doc, whole in items:
        errs = sorted((v if whole else vp).iter_errors(doc),
                      key=lambda e: list(map(str, e.absolute_path)))
        if errs:
            for e in errs:
                fail("%s: %s" % (label, describe(e)))
        else:
            print("ok   " + label)
        n += 1
    # the glob must find the examples, or this test proves nothing
    for must in ["examples/tank/twin.json", "examples/turbine/twin.json"]:
        if must not in [item[0] for item in items]:
            fail("%s was not found among the shipped descriptions" % must)
    print("%d descriptions checked" % n)


# ---------------------------------------------------------------- broken

def pointer(path):
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def patch(doc, ops):
    """Applies JSON Patch (RFC 6902) operations written [op, "/pointer", value]:
    add (inserts into an array), replace, remove."""
    doc = copy.deepcopy(doc)
    for op in ops:
        keys = pointer(op[1])
        parent = doc
        for k in keys[:-1]:
            parent = parent[int(k)] if isinstance(parent, list) else parent[k]
        last = keys[-1]
        if isinstance(parent, list):
            last = len(parent) if last == "-" else int(last)
        if op[0] == "remove":
            del parent[last]
        elif op[0] == "add" and isinstance(parent, list):
            parent.insert(last, copy.deepcopy(op[2]))
        elif op[0] in ("add", "replace"):
            parent[last] = copy.deepcopy(op[2])
        else:
            raise ValueError("unknown patch operation %r" % op[0])
    return doc


def related(a, b):
    """Paths on one branch of the tree (one is a prefix of the other)."""
    pa, pb = a.split("/") if a else [], b.split("/") if b else []
    n = min(len(pa), len(pb))
    return pa[:n] == pb[:n]


def run_dtwin(dtwin, mode, path):
    if mode == "check":
        argv = [dtwin, "check", "--quiet", path]
    else:
        argv = [dtwin, "run", "--quiet", "--duration", "0.01", path]
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=60)
    return p.returncode, p.stdout.strip()


def cmd_broken(root, dtwin, workdir):
    v = validator(load_schema(root))
    with open(os.path.join(root, "tests/schema/broken.json"), encoding="utf-8") as f:
        cases = json.load(f)
    listed = set()
    for c in cases:
        rel = c["file"]
        listed.add(rel)
        with open(os.path.join(root, rel), encoding="utf-8") as f:
            doc = json.load(f)
        errs = list(v.iter_errors(doc))
        want = "%s at %s" % (c["keyword"], c["path"] or "(top)")
        if "message" in c:
            want += " /%s/" % c["message"]
        hit = [e for e in errs if jpath(e) == c["path"]
               and re.fullmatch(c["keyword"], e.validator)
               and ("message" not in c or re.search(c["message"], e.message))]
        ok = True
        if not hit:
            fail("%s: expected %s; got %s" % (rel, want, "; ".join(map(describe, errs)) or
                                                 "no error"))
            ok = False
        for e in errs:
            if not related(jpath(e), c["path"]):
                fail("%s: an error besides the expected one: %s" % (rel, describe(e)))
                ok = False
        fixed = patch(doc, c["fix"])
        # the fixed copy is checked from the work directory: a file the original
        # names relative to itself is made absolute (the build tree's depth varies)
        here = os.path.dirname(os.path.join(root, rel))
        for part in ("sources", "sinks"):
            for a in fixed.get(part, []) if isinstance(fixed, dict) else []:
                f = a.get("file") if isinstance(a, dict) else None
                if isinstance(f, str) and not os.path.isabs(f) and \
                        os.path.exists(os.path.join(here, f)):
                    a["file"] = os.path.normpath(os.path.join(here, f))
        for e in v.iter_errors(fixed):
            fail("%s: still invalid once fixed: %s" % (rel, describe(e)))
            ok = False
        if dtwin:
            rc, out = run_dtwin(dtwin, c["dtwin"], os.path.join(root, rel))
            if rc != 1 or not re.search(c["dtwin_error"], out):
                fail("%s: dtwin %s exited %d with %r, expected 1 and /%s/" %
                     (rel, c["dtwin"], rc, out, c["dtwin_error"]))
                ok = False
            # the file a fixed CSV source names, with the time columns both ways
            with open(os.path.join(workdir, "y.csv"), "w", encoding="utf-8") as f:
                f.write("time,t,Y\n0,0,1\n")
            fixed_path = os.path.join(workdir, "fixed_" + os.path.basename(rel))
            with open(fixed_path, "w", encoding="utf-8") as f:
                json.dump(fixed, f, indent=1)
            rc, out = run_dtwin(dtwin, "check", fixed_path)
            if rc != 0:
                fail("%s: dtwin check refuses the fixed document: %s" % (rel, out))
                ok = False
        if ok:
            print("ok   %s: %s" % (rel, describe(hit[0])))
    # every file of tests/data/bad/schema is a case
    for path in sorted(glob.glob(os.path.join(root, "tests/data/bad/schema/*.json"))):
        rel = os.path.relpath(path, root)
        if rel not in listed:
            fail("%s is not listed in tests/schema/broken.json" % rel)
    print("%d broken descriptions checked" % len(cases))


# ---------------------------------------------------------------- keys

def read(root, rel):
    with open(os.path.join(root, rel), encoding="utf-8") as f:
        return f.read()


def c_keys(text, name):
    m = re.search(r"static const char \*const %s\[\]\s*=\s*\{(.*?)\};" % re.escape(name), text,
                  re.S)
    if not m:
        raise LookupError("no key table %s" % name)
    body = m.group(1)
    if not re.search(r"\bNULL\s*$", body.strip()):
        raise LookupError("key table %s does not end in NULL" % name)
    return set(re.findall(r'"((?:[^"\\]|\\.)*)"', body))


def schema_props(schema, ref):
    return set(resolve(schema, ref).get("properties", {}))


def schema_kinds(schema, role):
    """kind -> the keys the kind adds to the common ones. A kind's schema lists the
    common keys as `true` (validated by the common schema, allowed here)."""
    common = schema_props(schema, "#/$defs/%sCommon" % role)
    out = {}
    for rule in schema["$defs"][role]["allOf"]:
        kind = rule["if"]["properties"]["kind"]["const"]
        props = resolve(schema, rule["then"]["$ref"])["properties"]
        allowed = {k for k, v in props.items() if v is True} | (set(props) & common)
        if allowed != common:
            fail("%s kind %s: the schema lets through %s of the common keys %s" %
                 (role, kind, sorted(allowed), sorted(common)))
        out[kind] = set(props) - allowed
    return out


def compare(where, c_set, s_set, section=None):
    missing = c_set - s_set
    extra = {k for k in s_set - c_set if (section, k) not in PENDING}
    if missing:
        fail("%s: the loader accepts %s, the schema does not" % (where, sorted(missing)))
    if extra:
        fail("%s: the schema has %s, the loader does not accept them" % (where, sorted(extra)))
    if not missing and not extra:
        print("ok   %s: %d keys" % (where, len(c_set)))


def cmd_keys(root):
    schema = load_schema(root)
    model = read(root, "src/model/model_load.c")
    twin = read(root, "src/twin/twin_load.c")  # the twin sections' keys
    io = read(root, "src/adapters/host_config.c")
    # the built-in kinds are registered in builtins.c (sim's in sim.c, with its plants)
    registrations = read(root, "src/adapters/builtins.c") + read(root, "src/adapters/sim.c")
    est = read(root, "src/estimator/estimator_json.c")
    bus = read(root, "src/bus/bus_config.c")
    mqtt_eng = read(root, "src/bus/engine_mqtt.c")  # the built-in engine's own keys
    mqtt_src = read(root, "src/bus/mqtt_source.c")
    mqtt_snk = read(root, "src/bus/mqtt_sink.c")
    tables = [
        (mqtt_src, "spec_keys", "#/$defs/mqttPayload", None),
        (mqtt_snk, "entry_keys", "#/$defs/mqttSinkTopic", None),
        (mqtt_snk, "echo_keys", "#/$defs/mqttEcho", None),
        (mqtt_eng, "broker_keys", "#/$defs/busBroker", None),
        (mqtt_eng, "tls_keys", "#/$defs/busTls", None),
        (mqtt_eng, "reconnect_keys", "#/$defs/busReconnect", None),
        (read(root, "src/bus/bus_stream.c"), "stream_keys", "#/$defs/busStream", None),
        (bus, "group_keys", "#/$defs/busBelief", None),
        (model, "asset_keys", "#/$defs/asset", None),
        (model, "signal_keys", "#/$defs/signal", None),
        (model, "limit_keys", "#/$defs/signal/properties/limits", None),
        (model, "noise_keys", "#/$defs/signal/properties/noise", None),
        (twin, "disp_keys", "#/$defs/dispatcher", None),
        (twin, "ilk_keys", "#/$defs/interlock", None),
        (twin, "loop_keys", "#/$defs/loop", None),
        (twin, "ctl_common", "#/$defs/controllerCommon", None),
        (io, "common_keys", "#/$defs/sourceCommon", None),
        (io, "sink_common_keys", "#/$defs/sinkCommon", None),
        (io, "map_keys", "#/$defs/mappingEntry", None),
        (io, "clock_keys", "#/$defs/clock", None),
        (est, "est_keys", "#/$defs/estimator", "estimator"),
        (est, "meas_keys", "#/$defs/measurement", None),
        (est, "bound_keys", "#/$defs/bound", None),
    ]
    for text, name, ref, section in tables:
        compare("%s (%s)" % (name, ref), c_keys(text, name), schema_props(schema, ref), section)
    # the bus section: the layer's keys and the built-in engine's (mqtt_keys)
    compare("bus_keys + mqtt_keys (#/$defs/bus)",
            c_keys(bus, "bus_keys") | c_keys(mqtt_eng, "mqtt_keys"),
            schema_props(schema, "#/$defs/bus"))
    budget = read(root, "src/twin/budget.c")
    compare("memory (src/twin/budget.c)", set(re.findall(r'"(max_bytes)"', budget)),
            schema_props(schema, "#/$defs/memory"))
    # the top level: the model's own keys and the sections the layers register
    # (each layer's dt__section_def table; the union is what the loader accepts)
    sections = set()
    for path in sorted(glob.glob(os.path.join(root, "src/*/*.c"))):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for body in re.findall(r"const dt__section_def dt__\w+_sections\[\]\s*=\s*\{(.*?)\};",
                               text, re.S):
            names = re.findall(r'\{\s*"([^"]+)"', body)
            dup = sections & set(names)
            if dup:
                fail("sections registered twice: %s" % sorted(dup))
            sections |= set(names)
    if not sections:
        fail("no dt__section_def table found under src/")
    compare("root_keys + registered sections (#)", c_keys(model, "root_keys") | sections,
            schema_props(schema, "#"))

    # adapter and controller kinds: the ops tables and what dt_registry_create registers
    # (the mqtt kinds live with the bus, in src/bus/)
    files = sorted(glob.glob(os.path.join(root, "src/adapters/*.c")) +
                   glob.glob(os.path.join(root, "src/bus/*.c")) +
                   [os.path.join(root, "src/control/controllers.c")])
    ops = {}
    texts = {}
    for path in files:
        text = read(root, os.path.relpath(path, root))
        for role, var, kind, keys in re.findall(
                r"const dt_(source|sink|controller)_ops (\w+)\s*=\s*\{\s*DT_\w+_ABI,\s*"
                r"\"([^\"]+)\",\s*[^,]+,\s*(\w+)", text):
            ops[var] = (role, kind, keys)
            texts[var] = text
        # tables written with designated initializers (.kind = "csv", .keys = csv_keys)
        for role, var, body in re.findall(
                r"(?:static )?const dt_(source|sink|controller)_ops (\w+)\s*=\s*\{(\s*\.abi.*?)\};", text,
                re.S):
            kind = re.search(r"\.kind\s*=\s*\"([^\"]+)\"", body)
            keys = re.search(r"\.keys\s*=\s*(\w+)", body)
            if kind:
                ops[var] = (role, kind.group(1), keys.group(1) if keys else "NULL")
                texts[var] = text
    registered = re.findall(r"dt_registry_add_(source|sink|controller)(?:_kind)?\(r,\s*&(\w+)",
                            registrations)
    if not registered:
        fail("src/adapters/builtins.c: dt_registry_create registers nothing (parse failed?)")
    for role in ("source", "sink", "controller"):
        c_kinds = {}
        for r, var in registered:
            if r != role:
                continue
            if var not in ops:
                fail("%s is registered but its table was not found" % var)
                continue
            _, kind, keys = ops[var]
            c_kinds[kind] = set() if keys == "NULL" else c_keys(texts[var], keys)
        s_kinds = schema_kinds(schema, role)
        if set(c_kinds) != set(s_kinds):
            fail("%s kinds: the loader registers %s, the schema knows %s" %
                 (role, sorted(c_kinds), sorted(s_kinds)))
        for kind in sorted(set(c_kinds) & set(s_kinds)):
            compare("%s kind %s" % (role, kind), c_kinds[kind], s_kinds[kind])


# ---------------------------------------------------------------- units

def c_string(lit):
    """The bytes of a C string literal body (\\xHH escapes), as text."""
    raw = re.sub(r"\\x([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), lit)
    return raw.encode("latin-1").decode("utf-8")


def cmd_units(root, dump):
    schema = load_schema(root)
    text = read(root, "src/model/units.c")
    units = re.findall(r'\{"([^"]+)", DT_UC_\w+, [^,]+, [^,]+, [01]\}', text)
    m = re.search(r"prefixes\[\]\s*=\s*\{(.*?)\};", text, re.S)
    prefixes = [c_string(p) for p in re.findall(r'\{"((?:[^"\\]|\\x[0-9A-Fa-f]{2})+)",', m.group(1))]
    classes = re.findall(r'\[DT_UC_\w+\] = "(\w+)"', text)
    if len(units) < 30 or len(prefixes) < 20 or len(classes) < 20:
        fail("src/model/units.c: could not read its tables (%d units, %d prefixes, %d classes)"
             % (len(units), len(prefixes), len(classes)))
        return
    if set(classes) != set(schema["$defs"]["quantity"]["enum"]):
        fail("quantities: the loader has %s, the schema %s" %
             (sorted(classes), sorted(schema["$defs"]["quantity"]["enum"])))
    # every symbol, every prefix on every symbol, two prefixes, and near misses
    cands = set(units) | set(prefixes)
    for p in prefixes:
        for u in units:
            cands.add(p + u)
            cands.add(u + p)
        for q in prefixes:
            cands.add(p + q + "m")
    for a in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789%/.":
        cands.add(a)
        for b in "AghJKmMNsVW":
            cands.add(a + b)
    cands = sorted(cands)
    p = subprocess.run([dump], input="\n".join(cands) + "\n", stdout=subprocess.PIPE,
                       universal_newlines=True, check=True, encoding="utf-8")
    got = dict(line.split("\t") for line in p.stdout.splitlines())
    every = re.compile(schema["$defs"]["unit"]["pattern"])
    rules = {r["if"]["properties"]["quantity"]["const"]:
             re.compile(r["then"]["properties"]["unit"]["pattern"])
             for r in schema["$defs"]["signal"]["allOf"]}
    if set(rules) != set(classes):
        fail("signal units: the schema has unit rules for %s" % sorted(rules))
    bad = 0
    for u in cands:
        cls = got[u]
        if (cls != "-") != bool(every.search(u)):
            fail("unit %r: dt_unit_parse says %s, the schema's unit pattern says %s" %
                 (u, cls, "valid" if every.search(u) else "invalid"))
            bad += 1
        for q, pat in rules.items():
            ok = cls != "-" and cls in (q, "per_unit")
            if ok != bool(pat.search(u)):
                fail("quantity %s, unit %r: the loader %s it, the schema %s it" %
                     (q, u, "accepts" if ok else "refuses",
                      "accepts" if pat.search(u) else "refuses"))
                bad += 1
    print("%s %d symbols x %d quantities agree with dt_unit_parse" %
          ("ok  " if not bad else "FAIL", len(cands), len(rules)))


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    cmd, root = argv[1], os.path.abspath(argv[2])
    if cmd == "shipped":
        cmd_shipped(root)
    elif cmd == "broken":
        dtwin = workdir = None
        rest = argv[3:]
        while rest:
            if rest[0] == "--dtwin" and len(rest) > 1:
                dtwin = rest[1]
            elif rest[0] == "--workdir" and len(rest) > 1:
                workdir = rest[1]
            else:
                sys.exit(__doc__)
            rest = rest[2:]
        if dtwin and not workdir:
            sys.exit("validate.py broken: --dtwin needs --workdir")
        if workdir:
            os.makedirs(workdir, exist_ok=True)
        cmd_broken(root, dtwin, workdir)
    elif cmd == "keys":
        cmd_keys(root)
    elif cmd == "units" and len(argv) == 4:
        cmd_units(root, argv[3])
    else:
        sys.exit(__doc__)
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
