#!/usr/bin/env python3
"""Two twins through two bridged mosquitto brokers, the bridge failing
(docs/deploy.md, "(b) An edge mosquitto bridged to a central broker").

    run_bridged_twins.py DTWIN MOSQUITTO MOSQUITTO_SUB OPENSSL SOURCE_DIR WORKDIR

The publisher twin (examples/bus/tank.json) is connected to an edge broker,
the reader twin (examples/bus/site.json) to a central broker. The edge runs
the shipped examples/bridge/edge.conf, its placeholders replaced and every
other line as shipped (as tests/unit/broker_fixture.h does): the bridge over
TLS with the edge's client certificate (CN edge-test), the central broker's
ACL for it the one docs/deploy.md shows. Certificates are made by the test
with the openssl command.

The bridge's TCP connection runs through the project's link proxy
(tests/tools/linkproxy.py), the uplink between the site and the central
broker, so that only the bridge fails: both twins keep their own connections
all along. Two failures of the uplink, the two ways a WAN link fails:

1. cut: the proxy resets the bridge's connection and each new one at once
   (a firewall resetting, the central broker's host unreachable). The edge
   sees the link drop at once ("0" on $SYS/broker/connection/edge-test/state
   on both brokers) and drops the QoS 0 beliefs it cannot forward; the
   bridge retries by itself (restart_timeout 2 30) and comes back once the
   proxy carries again;
2. stall: the proxy stops carrying bytes both ways but keeps the connection
   (a link that went silent: no reset). The edge cannot tell before its
   keepalive (30 s, 1.5 x that on the central side): the beliefs published
   meanwhile wait in the proxy and are delivered, late and in order, when
   the link carries again.

Each step waits for an event (a line in a broker's notification stream or a
twin's stderr, rows in a twin's output files), never for a duration. While
the uplink is down the reader's source goes stale and its latency rule
holds the safe state, and the publisher keeps stepping and publishing. At
the end the twins' own files and JSON summaries are checked, on their own
time bases (never on wall-clock durations):

- every belief the publisher published is, at the reader, received or
  counted lost by sequence number: published == messages + lost, exactly;
  lost >= 1 (the cut); nothing duplicate, unconfirmed, of a stale epoch or
  of an unknown contract; the publisher was never reported lost (its own
  connection held), it stopped cleanly;
- the publisher never waited: one connection, nothing unsent, its
  posteriors continue through both outages without a gap;
- the reader's commands (its --commands file, on its time base): safe-state
  spans at the start, at the cut and at the stall (each lasting until the
  source went stale: at least 1 s of its time; shorter ones, a belief late
  on a loaded machine, are let pass) and after the publisher stopped, each
  released by fresh beliefs but the last; no
  belief row inside the cut's span (those beliefs were lost); the stall's
  held beliefs, delivered late together, superseded by the newest (at
  least 10 counted), which is fused at its own time of validity and not
  taken as fresh (the span lasted until the link carried again).
"""

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # the module below is in the source tree: leave it clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import linkproxy  # noqa: E402  (tests/tools/linkproxy.py)

WAIT = 120  # seconds: only a hung run gets near it (the bridge retries up to 30 s apart)
EDGE_NAME = "edge-test"
LINK_TOPIC = "$SYS/broker/connection/%s/state" % EDGE_NAME
SAFE_BIT = 0x20  # DT_DISP_SAFE_STATE in the --commands file's decision column
LONG_SPAN = 1.0  # s of reader time; an outage's lasts until the source went stale: 2 - 0.5 s


STARTED = []  # every process started here: none outlives a failing run


def cleanup():
    for p in STARTED:
        if p.poll() is None:
            p.kill()
            p.wait()


atexit.register(cleanup)


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def proxy(link, cmd):
    """A command to the link proxy, answered (its bounded wait) or failed."""
    try:
        return link.command(cmd)
    except RuntimeError as e:
        fail(str(e))


def spawn(cmd, **kw):
    p = subprocess.Popen(cmd, **kw)
    STARTED.append(p)
    return p


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def wait_for(what, cond, procs=()):
    deadline = time.monotonic() + WAIT
    while not cond():
        for p in procs:
            if p.p.poll() is not None:
                fail("%s ended (exit %s) while waiting for %s: %s"
                     % (p.name, p.p.returncode, what, p.err()))
        if time.monotonic() > deadline:
            fail("timed out waiting for " + what)
        time.sleep(0.02)
    print("ok: " + what, flush=True)


def run(cmd, cwd):
    r = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        fail("%s failed: %s" % (" ".join(cmd), r.stdout.decode(errors="replace")))


def make_certs(openssl, d):
    """A test CA, the central broker's certificate for 127.0.0.1 and the
    edge's client certificate (CN edge-test), as broker_fixture.h makes
    them; world-readable: a broker started as root reads them as the user
    mosquitto."""
    cnf = os.path.join(d, "openssl.cnf")
    with open(cnf, "w") as f:
        f.write("[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n"
                "[ca_ext]\nbasicConstraints = critical,CA:TRUE\n"
                "keyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n"
                "[server_ext]\nbasicConstraints = critical,CA:FALSE\n"
                "keyUsage = critical,digitalSignature\nextendedKeyUsage = serverAuth\n"
                "subjectAltName = IP:127.0.0.1\n"
                "[client_ext]\nbasicConstraints = critical,CA:FALSE\n"
                "keyUsage = critical,digitalSignature\nextendedKeyUsage = clientAuth\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run([openssl, "req", "-x509", "-new"] + ec + ["-keyout", "ca.key", "-out", "ca.crt",
        "-days", "2", "-subj", "/CN=dtt-test-ca", "-config", cnf, "-extensions", "ca_ext"], d)
    for serial, (name, cn, ext) in enumerate([("server", "127.0.0.1", "server_ext"),
                                              (EDGE_NAME, EDGE_NAME, "client_ext")]):
        run([openssl, "req", "-new"] + ec + ["-keyout", name + ".key", "-out", name + ".csr",
            "-subj", "/CN=" + cn, "-config", cnf], d)
        run([openssl, "x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-set_serial", str(serial + 2), "-days", "2", "-extfile", cnf, "-extensions", ext,
             "-out", name + ".crt"], d)
    for f in os.listdir(d):
        os.chmod(os.path.join(d, f), 0o644)


class Broker:
    def __init__(self, exe, d, name, text, ports):
        self.exe, self.name, self.ports, self.p = exe, name, ports, None
        self.conf = os.path.join(d, name + ".conf")
        with open(self.conf, "w") as f:
            f.write(text)
        os.chmod(self.conf, 0o644)
        self.log_path = os.path.join(d, name + ".log")
        self.log = open(self.log_path, "a")

    def err(self):
        with open(self.log_path) as f:
            return f.read()[-3000:]

    def start(self):
        self.p = spawn([self.exe, "-c", self.conf], stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + WAIT
        while not all(accepts(p) for p in self.ports):
            if self.p.poll() is not None or time.monotonic() > deadline:
                fail("%s did not start: %s" % (self.name, self.err()))
            time.sleep(0.02)

    def kill(self):
        if self.p is not None and self.p.poll() is None:
            self.p.kill()
            self.p.wait()


class Watch:
    """mosquitto_sub on a broker: one line per message, "topic payload"."""

    def __init__(self, exe, d, name, port, topics):
        self.name = name
        self.path = os.path.join(d, name + ".out")
        cmd = [exe, "-h", "127.0.0.1", "-p", str(port), "-v", "-i", "dtt-" + name]
        for t in topics:
            cmd += ["-t", t]
        self.p = spawn(cmd, stdout=open(self.path, "w"), stderr=subprocess.STDOUT)

    def err(self):
        return self.text()

    def text(self):
        with open(self.path, errors="replace") as f:
            return f.read()

    def count(self, line_start):
        return sum(1 for l in self.text().splitlines() if l.startswith(line_start))

    def stop(self):
        self.p.terminate()
        self.p.wait()


class Twin:
    """dtwin run --realtime --json with its estimates (and commands) files."""

    def __init__(self, dtwin, desc, d, name, commands=False):
        self.name = name
        self.err_path = os.path.join(d, name + ".err")
        self.out_path = os.path.join(d, name + ".out")
        self.est_path = os.path.join(d, name + ".estimates.csv")
        self.cmd_path = os.path.join(d, name + ".commands.csv")
        cmd = [dtwin, "run", "--realtime", "--duration", "900", "--json",
               "--estimates", self.est_path]
        if commands:
            cmd += ["--commands", self.cmd_path]
        self.p = spawn(cmd + [desc], stdout=open(self.out_path, "w"),
                                  stderr=open(self.err_path, "w"), cwd=d)

    def err(self):
        with open(self.err_path) as f:
            return f.read()

    def count(self, text):
        return self.err().count(text)

    def rows(self):
        try:
            with open(self.est_path) as f:
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


def read_csv(path):
    with open(path) as f:
        next(f)
        return [l.rstrip("\n").split(",") for l in f if l.strip()]


def safe_spans(commands):
    """The reader's commands in its time base -> [(first, last)] of each
    run of commands the dispatcher replaced by the safe value."""
    spans, cur = [], None
    for r in commands:
        t, safe = float(r[0]), int(r[5]) & SAFE_BIT
        if safe:
            cur = (cur[0], t) if cur else (t, t)
        elif cur:
            spans.append(cur)
            cur = None
    if cur:
        spans.append(cur)
    return spans


class Bridged:
    """Two brokers, the edge bridged to the central one through the link
    proxy (start_bridged)."""


def start_bridged(mosquitto, src, work, central_name="central", edge_name="edge"):
    """The central broker (a plain listener for its twins, a TLS listener for
    the bridge with the ACL docs/deploy.md gives the edge, keyed on its CN),
    the link proxy in front of that TLS listener (the uplink), and the edge
    broker (a plain listener for its twins, the shipped
    examples/bridge/edge.conf with its placeholders replaced, its address the
    uplink's). Certificates must be in work (make_certs). Returns a Bridged
    with central, edge, uplink, c_port and e_port; fails the run when one
    does not start."""
    br = Bridged()
    br.c_port, c_tls = free_port(), free_port()
    acl = os.path.join(work, central_name + ".acl")
    with open(acl, "w") as f:
        f.write("topic readwrite dt/v1/#\ntopic read $SYS/broker/connection/#\n"
                "user %s\n" % EDGE_NAME +
                "topic write dt/v1/+/+/$state\ntopic write dt/v1/+/+/$contract\n"
                "topic write dt/v1/+/+/ack/#\ntopic write dt/v1/+/+/s/#\n"
                "topic write dt/v1/+/+/b/#\ntopic read dt/v1/+/+/cmd/#\n"
                "topic read dt/v1/+/+/ctl/rebirth\ntopic write %s\n" % LINK_TOPIC)
    os.chmod(acl, 0o644)
    br.central = Broker(mosquitto, work, central_name,
                        "per_listener_settings true\npersistence false\nlog_dest stderr\n"
                        "log_type all\nsys_interval 0\n"
                        "listener %d 127.0.0.1\nallow_anonymous true\nacl_file %s\n"
                        "listener %d 127.0.0.1\ncafile %s/ca.crt\ncertfile %s/server.crt\n"
                        "keyfile %s/server.key\nrequire_certificate true\n"
                        "use_identity_as_username true\nallow_anonymous false\nacl_file %s\n"
                        % (br.c_port, acl, c_tls, work, work, work, acl), [br.c_port, c_tls])
    br.central.start()
    try:
        br.uplink = linkproxy.Child(str(c_tls), wait=WAIT)
    except RuntimeError as e:
        fail(str(e))
    STARTED.append(br.uplink.p)
    with open(os.path.join(src, "examples", "bridge", "edge.conf")) as f:
        bridge = f.read()
    values = {"CENTRAL_HOST": "127.0.0.1", "CENTRAL_PORT": str(br.uplink.port),
              "CA_FILE": os.path.join(work, "ca.crt"), "EDGE_NAME": EDGE_NAME,
              "EDGE_CERT": os.path.join(work, EDGE_NAME + ".crt"),
              "EDGE_KEY": os.path.join(work, EDGE_NAME + ".key")}
    for k, v in values.items():
        bridge = bridge.replace("@%s@" % k, v)
    if "@" in "".join(l for l in bridge.splitlines() if not l.startswith("#")):
        fail("examples/bridge/edge.conf has a placeholder this test does not know")
    br.e_port = free_port()
    br.edge = Broker(mosquitto, work, edge_name,
                     "per_listener_settings true\npersistence false\nlog_dest stderr\n"
                     "log_type all\nsys_interval 0\nlistener %d 127.0.0.1\n"
                     "allow_anonymous true\n%s\n" % (br.e_port, bridge), [br.e_port])
    br.edge.start()
    return br


def main():
    if len(sys.argv) != 7:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    dtwin, mosquitto, mosquitto_sub, openssl, src, work = sys.argv[1:]
    shutil.rmtree(work, ignore_errors=True)  # a previous run's files would be read as this one's
    os.makedirs(work)
    os.chmod(work, 0o755)
    make_certs(openssl, work)

    br = start_bridged(mosquitto, src, work)
    central, edge, uplink, c_port, e_port = br.central, br.edge, br.uplink, br.c_port, br.e_port
    brokers = [central, edge]
    # the link's state as each side publishes it, and the twins' $state
    # as the central broker has them
    wc = Watch(mosquitto_sub, work, "watch-central", c_port, [LINK_TOPIC, "dt/v1/plant/+/$state"])
    we = Watch(mosquitto_sub, work, "watch-edge", e_port, [LINK_TOPIC])
    up, down = LINK_TOPIC + " 1", LINK_TOPIC + " 0"
    wait_for("the bridge is up (central)", lambda: wc.count(up) >= 1, brokers + [wc])
    wait_for("the bridge is up (edge)", lambda: we.count(up) >= 1, brokers + [we])

    # the examples' descriptions: the reader on the central broker, the
    # publisher on the edge, replaying a long log
    csv = os.path.join(work, "level.csv")
    with open(csv, "w") as f:
        f.write("time,level_m\n")
        for k in range(20000):  # 2000 s at 10 Hz: longer than any run
            f.write("%.1f,%.5f\n" % (k * 0.1, 2.0 + 0.001 * (k % 7)))
    descs = {}
    for name, port in (("tank", e_port), ("site", c_port)):
        with open(os.path.join(src, "examples", "bus", name + ".json")) as f:
            d = json.load(f)
        d["bus"]["broker"]["port"] = port
        if name == "tank":
            d["sources"][0]["file"] = csv
        descs[name] = os.path.join(work, name + ".json")
        with open(descs[name], "w") as f:
            json.dump(d, f, indent=1)

    # the reader first: its "ready" on the central broker follows its
    # SUBSCRIBEs on the same connection, so the publisher's first belief
    # (sequence number 1) finds it subscribed
    site = Twin(dtwin, descs["site"], work, "site", commands=True)
    wait_for("the reader is connected and subscribed",
             lambda: wc.count("dt/v1/plant/site/$state {\"state\":\"ready\"") >= 1,
             brokers + [site, wc])
    tank = Twin(dtwin, descs["tank"], work, "tank1")
    procs = brokers + [site, tank, wc, we]

    # 1. beliefs cross the bridge into the reader's estimator
    wait_for("the publisher's ready crossed the bridge",
             lambda: wc.count("dt/v1/plant/tank1/$state {\"state\":\"ready\"") >= 1, procs)
    wait_for("the reader's estimator follows the publisher (50 updates)",
             lambda: site.rows() > 50, procs)

    def outage(kind, start, end, expect_down):
        safe0, stale0 = site.count("safe state:"), site.count("is stale")
        n_tank, downs, e_downs = tank.rows(), wc.count(down), we.count(down)
        start()
        if expect_down:
            wait_for("%s: the edge publishes the link's 0 on its side" % kind,
                     lambda: we.count(down) > e_downs, procs)
            wait_for("%s: the central broker publishes the bridge's will (link 0)" % kind,
                     lambda: wc.count(down) > downs, procs)
        wait_for("%s: the reader's source goes stale" % kind,
                 lambda: site.count("is stale") > stale0, procs)
        wait_for("%s: the reader's latency rule engages the safe state" % kind,
                 lambda: site.count("safe state:") > safe0, procs)
        wait_for("%s: the publisher keeps running (30 more posteriors)" % kind,
                 lambda: tank.rows() > n_tank + 30, procs)
        if not expect_down and (wc.count(down) > downs or we.count(down) > e_downs):
            fail("%s: the bridge was dropped during the stall (keepalive 30 s ran out?)" % kind)
        ups = wc.count(up)
        n = site.rows()
        end()
        if expect_down:
            wait_for("%s: the bridge is back by itself (link 1)" % kind,
                     lambda: wc.count(up) > ups, procs)
        wait_for("%s: beliefs reach the reader's estimator again (30 more updates)" % kind,
                 lambda: site.rows() > n + 30, procs)

    # 2. the uplink cut: the bridge drops, the edge drops what it cannot forward
    outage("cut", lambda: proxy(uplink, "cut"), lambda: proxy(uplink, "up"), True)
    # 3. the uplink silent: the bridge holds, beliefs wait and arrive late
    outage("stall", lambda: proxy(uplink, "stall"), lambda: proxy(uplink, "up"), False)

    # 4. the publisher stops; its "stopped" crosses the bridge behind its
    # last belief, and the reader's source going stale after it says the
    # reader has read everything that came before
    stale0 = site.count("is stale")
    t = tank.stop()
    wait_for("the publisher's stopped state crossed the bridge",
             lambda: wc.count("dt/v1/plant/tank1/$state {\"state\":\"stopped\"") >= 1,
             [site, wc])
    wait_for("the reader's source goes stale after the publisher's last belief",
             lambda: site.count("is stale") > stale0, [site])
    s = site.stop()
    wc.stop()
    we.stop()
    accepted = json.loads(proxy(uplink, "stats")[-1])["connections"]
    uplink.close()
    edge.kill()
    central.kill()

    print("publisher: " + json.dumps(t), flush=True)
    print("reader: " + json.dumps(s), flush=True)
    tl = t["adapters"]["links"][0]["counters"]
    link = s["adapters"]["links"][0]["counters"]
    src_c = s["adapters"]["sources"][0]["counters"]
    published = tl["bus.beliefs_published"]

    # the publisher never waited: one connection held, nothing unsent
    if tl["mqtt.connects"] != 1 or tl["mqtt.disconnects"] != 0 or tl["bus.beliefs_unsent"]:
        fail("the publisher's own connection should have held all along: %s" % tl)
    if link["mqtt.connects"] != 1 or link["mqtt.disconnects"] != 0:
        fail("the reader's own connection should have held all along: %s" % link)
    # its posteriors, on its own time base, continue through both outages
    tpost = [float(r[0]) for r in read_csv(tank.est_path)]
    gap = max(b - a for a, b in zip(tpost, tpost[1:]))
    if gap > 0.5:
        fail("the publisher's posteriors have a gap of %.3f s of its time" % gap)

    # every belief received or counted lost, by sequence number
    for k in ("duplicate", "unconfirmed", "stale_epoch", "unknown_contract",
              "contract_refused", "bad_message", "peer_lost"):
        if src_c[k]:
            fail("reader: %s = %d, wanted 0: %s" % (k, src_c[k], src_c))
    if src_c["peer_stopped"] != 1:
        fail("reader: the publisher's clean stop not seen: %s" % src_c)
    if published != src_c["messages"] + src_c["lost"]:
        fail("published %d != received %d + lost %d" % (published, src_c["messages"],
                                                         src_c["lost"]))
    if src_c["lost"] < 1:
        fail("no belief counted lost, though the edge dropped those of the cut")
    if s["samples"]["unaccounted"]:
        fail("samples unaccounted: %s" % s["samples"])

    # the reader's time base: its safe-state spans and its posteriors
    spans = safe_spans(read_csv(site.cmd_path))
    times = [float(r[0]) for r in read_csv(site.est_path)]
    cmds = read_csv(site.cmd_path)
    print("reader safe-state spans (s of its time): %s"
          % ", ".join("%.2f..%.2f" % sp for sp in spans), flush=True)
    first_cmd, last_cmd = float(cmds[0][0]), float(cmds[-1][0])
    # the first opens the run (no belief yet), the last closes it (the
    # publisher stopped); between them the two outages, each as long as
    # the source took to go stale at least; shorter ones would be a belief
    # late on a loaded machine
    if len(spans) < 4 or spans[0][0] != first_cmd or spans[-1][1] != last_cmd:
        fail("wanted the safe state at the start, at each outage and at the end: %s" % spans)
    long_spans = [sp for sp in spans[1:-1] if sp[1] - sp[0] >= LONG_SPAN]
    if len(long_spans) != 2:
        fail("wanted 2 long safe-state spans between start and end (cut, stall): %s" % spans)
    cut, stall = long_spans
    in_cut = [x for x in times if cut[0] <= x <= cut[1] - 0.5]
    in_stall = [x for x in times if stall[0] <= x <= stall[1] - 0.5]
    if in_cut:
        fail("posteriors inside the cut's span: %s (its beliefs were dropped)" % in_cut)
    # the stall's held beliefs arrive together when the link carries again:
    # the newest is fused at its own time, the others it replaced are counted
    rb = s["remote_beliefs"]
    if rb["superseded"] < 10:
        fail("%d beliefs superseded, wanted the stall's held ones, delivered together and "
             "replaced by the newest (>= 10)" % rb["superseded"])
    if rb["offered"] != rb["fused"] + rb["kept"] + rb["superseded"] + rb["refused"]:
        fail("the reader's beliefs are not accounted for: %s" % rb)
    # the safe state released after each outage, by fresh beliefs
    for name, sp in (("cut", cut), ("stall", stall)):
        after = [r for r in cmds if sp[1] < float(r[0]) < sp[1] + 5]
        if not after or int(after[0][5]) & SAFE_BIT:
            fail("the safe state was not released after the %s" % name)

    est = s["estimator"]
    print("ok: published %d = received %d + lost %d; reader: %d samples dropped too late, "
          "%d applied late, %d too old for the filter; %d posteriors inside the stall's "
          "span (%.2f s of reader time), none inside the cut's (%.2f s); uplink accepted %d "
          "bridge connections"
          % (published, src_c["messages"], src_c["lost"],
             s["samples"]["dropped"]["too_late"], est["late_applied"], est["too_old"],
             len(in_stall), stall[1] - stall[0], cut[1] - cut[0], accepted),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
