#!/usr/bin/env python3
"""One twin in two places (examples/society/distributed): its fast half at
the tank on an edge broker, its slow half in the cloud on a central broker,
the bridge between the brokers degraded by the link proxy.

    run_distributed.py DTWIN MOSQUITTO MOSQUITTO_SUB OPENSSL SOURCE_DIR WORKDIR

The edge twin (edge.json) estimates the tank's level from its sensor (a CSV
log replayed at its own pace), runs the pump's loop at 50 Hz on that
estimate, publishes its level group (at most once per 0.25 s, after a
measurement: every 0.3 s with its 10 Hz sensor) and takes the drain
valve's opening from the cloud (`bus.accept`), writing each one it applies to
its valve's log (a csvlog sink). The cloud twin (cloud.json) reads that group
through a `twin` source, decides the valve's opening every 0.5 s and sends it
back through a `twin` sink; its latency rule (max_data_age 1.5 s) holds the
safe opening while the edge's belief is too old. Both run as
`dtwin run --realtime`. The brokers and the bridge are those of
run_bridged_twins.py (the shipped examples/bridge/edge.conf, TLS with the
edge's certificate); the bridge's TCP connection runs through
tests/tools/linkproxy.py, so that only the link between the sites fails.

The phases, each started by a command to the proxy (waiting for its `ok`)
and ended by events (lines on the brokers' notification streams or the
twins' stderr, messages counted on each broker, rows in the twins' output
files), never by a duration alone; every wait is bounded (WAIT s, failing
with what was awaited):

1. normal: beliefs reach the cloud, its decisions reach the edge and are
   applied and acked;
2. latency: 300 ms added each way;
3. throttled: the link carries, each way, THROTTLE times the bytes a second
   it carried up in the normal phase (a link barely wider than its
   traffic: messages wait for their turn);
4. cut: the link reset and refused: the bridge drops, the cloud's belief
   goes stale and its latency rule engages; then up again (the bridge comes
   back by itself, restart_timeout 2 30);
5. stall: the link carries nothing and keeps its connection: beliefs and
   commands wait in the proxy and arrive late after up;
6. up: as normal; then the edge stops, its "stopped" crosses the bridge
   behind its last belief, and the cloud stops.

Then the twins' own outputs are checked, each on its own time base (never a
wall-clock duration):

(a) the edge never waited on the cloud: its cycles (one pump command each,
    its --commands file) go on through every phase, the longest interval
    between two of them well below the cut as the cloud saw it (its longest
    time without a belief, from its flight log); its own connection held
    (one connect, nothing unsent); its own latency rule never engaged after
    the start;
(b) the cloud's view of the edge aged: the age of each belief the cloud
    fused (its flight log: the time of the step that fused it less the
    belief's time of validity, which the cloud's estimated clock maps onto
    its own time base) is larger under the added latency, by half of it at
    least, than in the normal phase; through the cut and the stall it fused
    nothing for longer than its latency rule allows, and that rule held the
    safe state (its --commands file); never under the latency or the
    throttle. A phase's span on the cloud's time base is that of the
    commands it published meanwhile, counted on the central broker;
(c) everything resumed after each outage: fresh beliefs released the safe
    state, the cloud's decisions reached the edge again and were acked, the
    edge applied them (its valve log; each value one the cloud sent);
(d) every message is accounted for: beliefs the edge published = received
    + lost at the cloud, exactly; commands the cloud's sink was given =
    published + refused by reason, and published = acked (applied or
    failed) + given up (missing, denied, failed PUBACK) + still pending;
    every ack the edge published read by the cloud and ended somewhere;
    every belief received offered to the cloud's estimate and fused,
    refused or superseded (a newer one came before its step).
"""

import json
import math
import os
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # the modules below are in the source tree: leave it clean
import run_bridged_twins as bt  # noqa: E402  (same directory: brokers, certificates, helpers)

linkproxy = bt.linkproxy
fail = bt.fail

WAIT = 60  # seconds per event: only a hung run gets near it (the bridge retries within 30 s)
DELAY_MS = 300  # added one-way latency of the latency phase
THROTTLE = 1.3  # the throttled link's rate, times what the link carried up in the normal phase
REALM = "plant"
EDGE, CLOUD = "tank1-edge", "tank1-cloud"
PREFIX = "dt/v1/%s/%s/" % (REALM, EDGE)
BELIEF_TOPIC = PREFIX + "b/level"
ACK_TOPIC = PREFIX + "ack/" + CLOUD
CMD_TOPIC = PREFIX + "cmd/valve.opening_cmd/" + CLOUD
SAFE_BIT, SENT_BIT = 0x20, 0x01
MAX_DATA_AGE = 1.5  # the cloud's dispatcher.max_data_age (cloud.json)
CLOUD_PERIOD = 0.5  # its loop period


def wait_for(what, cond, procs=()):
    deadline = time.monotonic() + WAIT
    while not cond():
        for p in procs:
            if p.p.poll() is not None:
                fail("%s ended (exit %s) while waiting for %s: %s"
                     % (p.name, p.p.returncode, what, p.err()))
        if time.monotonic() > deadline:
            fail("timed out (%d s) waiting for %s" % (WAIT, what))
        time.sleep(0.02)
    print("ok: " + what, flush=True)


class Watch:
    """mosquitto_sub on a broker, one line per message: "topic payload"
    (-v) or "topic length" (binary payloads)."""

    def __init__(self, exe, d, name, port, topics, binary=False):
        self.name = name
        self.path = os.path.join(d, name + ".out")
        cmd = [exe, "-h", "127.0.0.1", "-p", str(port), "-i", "dtt-" + name]
        cmd += ["-F", "%t %l"] if binary else ["-v"]
        for t in topics:
            cmd += ["-t", t]
        self.p = bt.spawn(cmd, stdout=open(self.path, "w"), stderr=subprocess.STDOUT)

    def err(self):
        return self.text()[-2000:]

    def text(self):
        with open(self.path, errors="replace") as f:
            return f.read()

    def count(self, line_start):
        return sum(1 for l in self.text().splitlines() if l.startswith(line_start))

    def stop(self):
        self.p.terminate()
        self.p.wait()


class Twin:
    """dtwin run --realtime --json with its estimates and commands files
    (and a flight log)."""

    def __init__(self, dtwin, desc, d, name, record=False):
        self.name = name
        base = os.path.join(d, name)
        self.err_path, self.out_path = base + ".err", base + ".out"
        self.est_path, self.cmd_path = base + ".estimates.csv", base + ".commands.csv"
        self.log_path = base + ".flight" if record else None
        cmd = [dtwin, "run", "--realtime", "--duration", "900", "--json",
               "--estimates", self.est_path, "--commands", self.cmd_path]
        if record:
            cmd += ["--record", self.log_path]
        self.p = bt.spawn(cmd + [desc], stdout=open(self.out_path, "w"),
                          stderr=open(self.err_path, "w"), cwd=d)

    def err(self):
        with open(self.err_path, errors="replace") as f:
            return f.read()

    def count(self, text):
        return self.err().count(text)

    def rows(self, path=None):
        try:
            with open(path or self.cmd_path) as f:
                return sum(1 for _ in f) - 1
        except OSError:
            return 0

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                self.p.kill()
                fail("%s did not stop on SIGTERM" % self.name)
        with open(self.out_path) as f:
            lines = f.read().strip().splitlines()
        if not lines:
            fail("%s printed no summary: %s" % (self.name, self.err()))
        return json.loads(lines[-1])


def csv_rows(path):
    try:
        with open(path) as f:
            return [l.rstrip("\n").split(",") for l in f if l.strip()]
    except OSError:
        return []


def flight_beliefs(path, source):
    """The remote beliefs of one source a twin fused, from its flight log
    (docs/cli.md, FLIGHT LOG), in order: [(now, t)] in seconds, the time of
    the step that fused it (record 2) and the belief's time of validity
    (record 8), both on the twin's time base."""
    with open(path, "rb") as f:
        b = f.read()
    if b[:8] != b"DTWREC01":
        fail("%s: not a flight log" % path)
    out, i, now = [], 24, None
    size = {1: 8, 2: 8, 4: 40, 5: 4, 6: 40, 7: 40, 9: 4}
    while i < len(b):
        kind = b[i]
        i += 1
        if kind in (1, 2):  # START, STEP: i64 now
            now = struct.unpack_from("<q", b, i)[0] * 1e-9
        if kind == 3:  # SAMPLES: u32 source, u32 n, n x 40 bytes
            n = struct.unpack_from("<II", b, i)[1]
            i += 8 + 40 * n
        elif kind == 8:  # BELIEF: u32 source, n, m, mode, i64 t, t_data, arrival; x P A Q; m x 24
            src, n, m, _, _, t_data = struct.unpack_from("<IIIIqq", b, i)
            if src == source:  # the age of the data behind it, at the fusing step
                out.append((now, t_data * 1e-9))
            i += 40 + 8 * (n + 3 * n * n) + 24 * m
        elif kind in size:
            i += size[kind]
        else:
            fail("%s: record type %d at byte %d is not one of docs/cli.md's FLIGHT LOG"
                 % (path, kind, i - 1))
    return out


def main():
    if len(sys.argv) != 7:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    dtwin, mosquitto, mosquitto_sub, openssl, src, work = sys.argv[1:]
    shutil.rmtree(work, ignore_errors=True)  # a previous run's files would be read as this one's
    os.makedirs(work)
    os.chmod(work, 0o755)
    bt.make_certs(openssl, work)

    # the central broker (the cloud's plain listener, the bridge's TLS one)
    # and the edge broker (the shipped bridge file, its address the proxy's),
    # as in run_bridged_twins.py
    br = bt.start_bridged(mosquitto, src, work)
    central, edge_broker, link, c_port, e_port = br.central, br.edge, br.uplink, br.c_port, br.e_port

    def proxy(cmd):
        print("proxy: " + cmd, flush=True)
        return bt.proxy(link, cmd)

    brokers = [central, edge_broker]
    # the link's state and the twins' $state as the central broker has them;
    # beliefs and acks that crossed the bridge up, the cloud's commands; on
    # the edge: the link's state, the edge's beliefs, and the cloud's
    # commands that crossed down
    wc = Watch(mosquitto_sub, work, "watch-central", c_port, [bt.LINK_TOPIC, "dt/v1/%s/+/$state" % REALM])
    wcb = Watch(mosquitto_sub, work, "watch-central-msgs", c_port,
                [BELIEF_TOPIC, ACK_TOPIC, CMD_TOPIC], True)
    we = Watch(mosquitto_sub, work, "watch-edge", e_port, [bt.LINK_TOPIC])
    web = Watch(mosquitto_sub, work, "watch-edge-msgs", e_port, [BELIEF_TOPIC, CMD_TOPIC], True)
    watches = [wc, wcb, we, web]
    up, down = bt.LINK_TOPIC + " 1", bt.LINK_TOPIC + " 0"
    wait_for("the bridge is up (central)", lambda: wc.count(up) >= 1, brokers + watches)
    wait_for("the bridge is up (edge)", lambda: we.count(up) >= 1, brokers + watches)

    # the examples' descriptions, with this run's ports and files: the edge
    # replays a long log (a slow wave around 2.3 m, so that the cloud's
    # decisions change, and a little noise) and writes its valve's log into
    # the work directory
    csv = os.path.join(work, "level.csv")
    with open(csv, "w") as f:
        f.write("time,level_m\n")
        for k in range(20000):  # 2000 s at 10 Hz: longer than any run
            t = k * 0.1
            level = 2.3 + 0.05 * math.sin(2 * math.pi * t / 300) + 0.002 * ((k * 7) % 5 - 2)
            f.write("%.1f,%.5f\n" % (t, level))
    descs = {}
    for name, port in (("edge", e_port), ("cloud", c_port)):
        with open(os.path.join(src, "examples", "society", "distributed", name + ".json")) as f:
            d = json.load(f)
        d["bus"]["broker"]["port"] = port
        if name == "edge":
            d["sources"][0]["file"] = csv
            d["sinks"][0]["file"] = os.path.join(work, "valve.csv")
        descs[name] = os.path.join(work, name + ".json")
        with open(descs[name], "w") as f:
            json.dump(d, f, indent=1)
    valve_log = os.path.join(work, "valve.csv")

    # the cloud first: its subscriptions are made before the edge's first
    # belief (sequence number 1), so that none is missed unseen
    cloud = Twin(dtwin, descs["cloud"], work, "cloud", record=True)
    wait_for("the cloud is connected and subscribed",
             lambda: wc.count('dt/v1/%s/%s/$state {"state":"ready"' % (REALM, CLOUD)) >= 1,
             brokers + watches + [cloud])
    edge = Twin(dtwin, descs["edge"], work, "edge")
    procs = brokers + watches + [cloud, edge]
    wait_for("the edge's ready crossed the bridge",
             lambda: wc.count('dt/v1/%s/%s/$state {"state":"ready"' % (REALM, EDGE)) >= 1, procs)

    def beliefs_central():
        return wcb.count(BELIEF_TOPIC + " ")

    def acks_central():
        return wcb.count(ACK_TOPIC + " ")

    def cmds_central():
        return wcb.count(CMD_TOPIC + " ")

    def beliefs_edge():
        return web.count(BELIEF_TOPIC + " ")

    def applied():
        """The valve's openings the edge applied (its csvlog's value column)."""
        return [float(r[4]) for r in csv_rows(valve_log)[1:] if len(r) > 4]

    def flowing(name, n_bel=12, n_acks=3, fresh=True):
        """Beliefs reach the cloud, acks come back, the edge applies the
        cloud's decisions (a non-zero opening: the cloud out of its safe
        state), counted from now."""
        b0, a0, k0 = beliefs_central(), acks_central(), len(applied())
        wait_for("%s: %d beliefs reach the cloud's broker" % (name, n_bel),
                 lambda: beliefs_central() >= b0 + n_bel, procs)
        wait_for("%s: %d acks of the cloud's decisions come back" % (name, n_acks),
                 lambda: acks_central() >= a0 + n_acks, procs)
        if fresh:
            wait_for("%s: the edge applies a decision of the cloud (not its safe value)" % name,
                     lambda: any(v > 0 for v in applied()[k0:]), procs)

    def edge_runs(name, n_bel=12, n_cycles=150):
        b0, c0 = beliefs_edge(), edge.rows()
        wait_for("%s: the edge keeps publishing (%d beliefs on its broker)" % (name, n_bel),
                 lambda: beliefs_edge() >= b0 + n_bel, procs)
        wait_for("%s: the edge keeps cycling (%d cycles)" % (name, n_cycles),
                 lambda: edge.rows() >= c0 + n_cycles, procs)

    # phase -> (first, end) index of the commands the cloud published during
    # it (counted on the central broker): its span on the cloud's time base
    marks = {}

    def mark(name, first):
        marks[name] = (first, cmds_central())

    # 1. normal
    flowing("normal", n_bel=20)
    m = cmds_central()
    st0, w0 = json.loads(proxy("stats")[-1]), time.monotonic()
    flowing("normal", n_bel=12)
    st1, w1 = json.loads(proxy("stats")[-1]), time.monotonic()
    mark("normal", m)
    # the throttled phase's rate: what the link carried up meanwhile (a
    # parameter of the test, measured on the wall clock; nothing asserted on it)
    carried = {d: (st1["forwarded"][d] - st0["forwarded"][d]) / (w1 - w0) for d in ("c2s", "s2c")}
    rate = max(200, int(THROTTLE * carried["c2s"]))
    print("the link carried %.0f B/s up and %.0f B/s down in the normal phase; throttled to %d"
          % (carried["c2s"], carried["s2c"], rate), flush=True)

    # 2. latency: the cloud's view of the edge ages by the added delay
    proxy("delay %d" % DELAY_MS)
    m = cmds_central()
    flowing("latency")
    edge_runs("latency")
    mark("latency", m)
    proxy("up")

    # 3. throttled
    proxy("rate %d" % rate)
    m = cmds_central()
    flowing("throttled")
    edge_runs("throttled")
    mark("throttled", m)
    proxy("up")

    def outage(kind, cut):
        safe0, stale0 = cloud.count("safe state:"), cloud.count("is stale")
        downs, e_downs, ups = wc.count(down), we.count(down), wc.count(up)
        m = cmds_central()
        proxy(kind)
        if cut:
            wait_for("%s: the edge publishes the link's 0 on its side" % kind,
                     lambda: we.count(down) > e_downs, procs)
            wait_for("%s: the central broker publishes the bridge's will (link 0)" % kind,
                     lambda: wc.count(down) > downs, procs)
        wait_for("%s: the cloud's source goes stale" % kind,
                 lambda: cloud.count("is stale") > stale0, procs)
        wait_for("%s: the cloud's latency rule engages the safe state" % kind,
                 lambda: cloud.count("safe state:") > safe0, procs)
        edge_runs(kind)
        if not cut and (wc.count(down) > downs or we.count(down) > e_downs):
            fail("%s: the bridge was dropped during the stall (keepalive 30 s ran out?)" % kind)
        proxy("up")
        if cut:
            wait_for("%s: the bridge is back by itself (link 1)" % kind,
                     lambda: wc.count(up) > ups, procs)
        flowing(kind + ", up again")
        mark(kind, m)

    # 4. cut, 5. stall
    outage("cut", True)
    outage("stall", False)
    # 6. up: as normal
    m = cmds_central()
    flowing("up")
    edge_runs("up")
    mark("up", m)

    # the edge stops; its "stopped" crosses the bridge behind its last
    # belief, and the cloud's source going stale after it says the cloud
    # has read everything that came before
    stale0 = cloud.count("is stale")
    e = edge.stop()
    wait_for("the edge's stopped state crossed the bridge",
             lambda: wc.count('dt/v1/%s/%s/$state {"state":"stopped"' % (REALM, EDGE)) >= 1,
             [cloud, wc])
    wait_for("the cloud's source goes stale after the edge's last belief",
             lambda: cloud.count("is stale") > stale0, [cloud])
    c = cloud.stop()
    link_stats = json.loads(bt.proxy(link, "stats")[-1])
    link.close()
    for w in watches:
        w.stop()
    edge_broker.kill()
    central.kill()
    print("edge: " + json.dumps(e), flush=True)
    print("cloud: " + json.dumps(c), flush=True)
    print("link: " + json.dumps(link_stats), flush=True)
    check(e, c, edge, cloud, marks, applied())
    return 0


def check(e, c, edge, cloud, marks, applied):
    el = e["adapters"]["links"][0]["counters"]
    cl = c["adapters"]["links"][0]["counters"]
    src = c["adapters"]["sources"][0]["counters"]
    sink = c["adapters"]["sinks"][0]

    # ---- (a) the edge never waited on the cloud ----
    if el["mqtt.connects"] != 1 or el["mqtt.disconnects"] != 0:
        fail("the edge's own connection should have held all along: %s" % el)
    for k in ("bus.beliefs_unsent", "bus.acks_unsent", "mqtt.not_connected",
              "mqtt.publish_errors"):
        if el.get(k, 0):
            fail("edge: %s = %d: something was not sent on its own connection" % (k, el[k]))
    if cl["mqtt.connects"] != 1 or cl["mqtt.disconnects"] != 0:
        fail("the cloud's own connection should have held all along: %s" % cl)
    ecmd = csv_rows(edge.cmd_path)[1:]
    cycles = [float(r[0]) for r in ecmd if r[2] == "pump.speed_cmd"]
    gaps = [b - a for a, b in zip(cycles, cycles[1:])]
    gap = max(gaps)
    first_free = next(i for i, r in enumerate(ecmd) if not int(r[5]) & SAFE_BIT)
    late_safe = [r for r in ecmd[first_free:] if int(r[5]) & SAFE_BIT]
    if late_safe:
        fail("the edge's own latency rule engaged after its start (its data is local): %s"
             % late_safe[:3])

    # the cloud's flight log: each belief it fused, with the step that fused
    # it; its age then is what the cloud's latency rule saw
    fused = flight_beliefs(cloud.log_path, 0)
    rb = c["remote_beliefs"]
    if len(fused) != rb["fused"] + rb["kept"] + rb["refused"]:
        fail("the cloud fused %d beliefs, kept %d and refused %d, its flight log holds %d"
             % (rb["fused"], rb["kept"], rb["refused"], len(fused)))
    steps = [now for now, _ in fused]
    age = [now - t for now, t in fused]
    # each phase's span on the cloud's time base: from the first command it
    # published in the phase to the last
    ccmd = csv_rows(cloud.cmd_path)[1:]
    sent = [float(r[0]) for r in ccmd if int(r[5]) & SENT_BIT]

    def span(name):
        a, b = marks[name]
        return sent[min(a, len(sent) - 1)], sent[min(b, len(sent)) - 1]

    def ages(name, settle=2 * CLOUD_PERIOD):
        t0, t1 = span(name)  # the first steps may fuse what was sent before
        return [x for st, x in zip(steps, age) if t0 + settle <= st <= t1]

    med = {}
    for k in ("normal", "latency", "throttled", "up"):
        if len(ages(k)) < 3:
            fail("%s: %d beliefs fused in %.2f..%.2f s of the cloud's time, wanted 3 or more"
                 % (k, len(ages(k)), *span(k)))
        med[k] = statistics.median(ages(k))
    # the outages: the cloud's longest time without a fused belief across each
    blind = {}
    for k in ("cut", "stall"):
        t0, t1 = span(k)
        i = max((j for j in range(1, len(steps)) if t0 <= steps[j] and steps[j - 1] <= t1),
                key=lambda j: steps[j] - steps[j - 1], default=None)
        if i is None:
            fail("%s: no belief fused around %.2f..%.2f s of the cloud's time" % (k, t0, t1))
        blind[k] = (steps[i - 1], steps[i])
    cut_len = blind["cut"][1] - blind["cut"][0]
    print("edge: %d cycles, longest interval %.3f s of its time; the cloud's longest time "
          "without a belief across the cut %.3f s, across the stall %.3f s of its time"
          % (len(cycles), gap, cut_len, blind["stall"][1] - blind["stall"][0]), flush=True)
    if gap >= cut_len / 2:
        fail("the edge's longest cycle interval %.3f s is not well below the cut's %.3f s"
             % (gap, cut_len))

    # ---- (b) the cloud's view aged, and its latency rule held ----
    print("cloud: median age of the beliefs it fused, at the step that fused them: %s"
          % ", ".join("%s %.3f s" % kv for kv in med.items()), flush=True)
    if med["latency"] - med["normal"] < DELAY_MS / 2e3:
        fail("the added %d ms did not age the cloud's view: median %.3f s against %.3f s"
             % (DELAY_MS, med["latency"], med["normal"]))
    spans = bt.safe_spans(ccmd)
    print("cloud safe-state spans (s of its time): %s"
          % ", ".join("%.2f..%.2f" % sp for sp in spans), flush=True)
    for k in ("cut", "stall"):
        t0, t1 = blind[k]
        if t1 - t0 <= MAX_DATA_AGE + CLOUD_PERIOD:
            fail("%s: the cloud went without a belief for %.3f s only" % (k, t1 - t0))
        # (the step that fused the first belief after it decided with it)
        inside = [r for r in ccmd
                  if t0 + MAX_DATA_AGE + CLOUD_PERIOD < float(r[0]) < t1 - CLOUD_PERIOD / 2]
        if not inside or any(not int(r[5]) & SAFE_BIT for r in inside):
            fail("%s: the cloud's commands between %.2f and %.2f s (blind since %.2f s) "
                 "should all hold the safe state: %s"
                 % (k, t0 + MAX_DATA_AGE + CLOUD_PERIOD, t1, t0, inside))
        # released by fresh beliefs after it
        after = [r for r in ccmd if float(r[0]) > t1 + CLOUD_PERIOD]
        if not after or int(after[0][5]) & SAFE_BIT:
            fail("%s: the safe state was not released after the link came back" % k)
    for k in ("latency", "throttled"):
        t0, t1 = span(k)
        held = [r for r in ccmd if t0 <= float(r[0]) <= t1 and int(r[5]) & SAFE_BIT]
        if held:
            fail("%s: the cloud held its safe state at %s s" % (k, [r[0] for r in held]))

    # ---- (c) decisions reached the edge and were applied ----
    sent = [float(r[3]) for r in ccmd if int(r[5]) & SENT_BIT]
    strays = [v for v in applied if not any(abs(v - s) <= 1e-9 * max(1, abs(s)) for s in sent)]
    if strays:
        fail("the edge applied openings the cloud never sent: %s" % strays[:5])
    ec = el
    if ec["bus.cmd_submitted"] < 10 or sink["counters"]["acks_applied"] < 10:
        fail("too few decisions crossed: edge took %d, cloud's acks applied %d"
             % (ec["bus.cmd_submitted"], sink["counters"]["acks_applied"]))

    # ---- (d) every message accounted for ----
    published = el["bus.beliefs_published"]
    for k in ("duplicate", "stale_epoch", "unknown_contract", "contract_refused",
              "bad_message", "peer_lost"):
        if src[k]:
            fail("cloud: %s = %d, wanted 0: %s" % (k, src[k], src))
    if src["peer_stopped"] != 1:
        fail("cloud: the edge's clean stop not seen: %s" % src)
    if published != src["messages"] + src["lost"]:
        fail("beliefs: published %d != received %d + lost %d"
             % (published, src["messages"], src["lost"]))
    if src["lost"] < 1:
        fail("no belief counted lost, though the edge dropped those of the cut")
    s = sink["counters"]
    given = sink["applied"]
    refused = sum(s[k] for k in ("not_connected", "publish_errors", "expired", "pending_full",
                                 "not_encodable"))
    if given != s["published"] + refused:
        fail("commands: the sink was given %d != published %d + refused %d: %s"
             % (given, s["published"], refused, s))
    ended = sum(s[k] for k in ("acks_applied", "acks_failed", "ack_missing", "denied",
                               "puback_failed", "pending"))
    if s["published"] != ended:
        fail("commands: published %d != acked %d + failed %d + missing %d + denied %d + "
             "PUBACK failed %d + pending %d"
             % (s["published"], s["acks_applied"], s["acks_failed"], s["ack_missing"],
                s["denied"], s["puback_failed"], s["pending"]))
    # each ack the edge published came back to the cloud (QoS 1, queued by
    # the bridge during the cut), and each one read ended somewhere
    read = s["ack_messages"]
    outcomes = sum(s[k] for k in ("acks_applied", "acks_failed", "ack_unknown", "ack_duplicate",
                                  "ack_retained", "ack_stale_epoch", "ack_future_epoch",
                                  "ack_seq_jump", "ack_malformed"))
    if el["bus.acks_published"] + s["ack_duplicate"] != read or read != outcomes:
        fail("acks: the edge published %d, the cloud read %d (%d duplicate) and accounted "
             "for %d: %s" % (el["bus.acks_published"], read, s["ack_duplicate"], outcomes, s))
    # each belief received was offered to the twin (or refused for its
    # time), and each offered one fused, refused or superseded by a newer
    # one before the cloud's next step (it steps every 0.5 s)
    if src["messages"] != rb["offered"] + rb["time_refused"] + src["unconfirmed"]:
        fail("cloud: received %d beliefs != offered %d + refused for their time %d + "
             "unconfirmed %d" % (src["messages"], rb["offered"], rb["time_refused"],
                                 src["unconfirmed"]))
    if rb["offered"] != rb["fused"] + rb["kept"] + rb["refused"] + rb["superseded"]:
        fail("cloud: remote beliefs offered %d != fused %d + kept %d + refused %d + "
             "superseded %d" % (rb["offered"], rb["fused"], rb["kept"], rb["refused"],
                                rb["superseded"]))
    if c["samples"]["unaccounted"] or e["samples"]["unaccounted"]:
        fail("samples unaccounted: cloud %s, edge %s" % (c["samples"], e["samples"]))
    print("cloud: remote beliefs offered %d = fused %d + refused %d + superseded %d"
          % (rb["offered"], rb["fused"], rb["refused"], rb["superseded"]), flush=True)
    print("ok: beliefs published %d = received %d + lost %d; commands given %d = published "
          "%d + refused %d; published = acked %d (applied %d, failed %d) + missing %d + "
          "pending %d; the edge took %d commands (%d expired on the way), applied %d; acks "
          "published %d + redelivered %d = read %d (%d too late for their command)"
          % (published, src["messages"], src["lost"], given, s["published"], refused,
             s["acks_applied"] + s["acks_failed"], s["acks_applied"], s["acks_failed"],
             s["ack_missing"], s["pending"], ec["bus.cmd_records"],
             ec.get("bus.cmd_expired", 0), len(applied), el["bus.acks_published"],
             s["ack_duplicate"], read, s["ack_unknown"]), flush=True)


if __name__ == "__main__":
    sys.exit(main())
