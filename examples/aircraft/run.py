#!/usr/bin/env python3
"""examples/aircraft: the edge twin on board and the cloud twin on the
ground, through a satellite-like link, with their self-checks.

    run.py AIRCRAFT OUTDIR

AIRCRAFT is the example's program (build/examples/aircraft) or a build
directory holding it. Standard library only; needs mosquitto, mosquitto_sub,
mosquitto_pub and openssl on the PATH (or in /usr/sbin). Writes its plot
files into OUTDIR (aircraft_edge.csv, aircraft_cloud.csv,
aircraft_advisories.csv, aircraft_phases.csv; `gnuplot -e "out='OUTDIR'"
examples/aircraft/plot.gp` draws them) and everything else (brokers'
logs, the twins' outputs, the maintenance log) into OUTDIR/aircraft-work.

The aircraft's broker is bridged to the ground broker with the shipped
examples/bridge/edge.conf (TLS, the edge's certificate), the bridge's TCP
connection running through tests/tools/linkproxy.py, which plays the
satellite link. The edge (`aircraft edge`) connects to the aircraft's broker,
the cloud (`aircraft cloud`) to the ground's. The phases, each started by a
command to the proxy and ended by events (lines on the brokers' streams,
counters the twins print, never a duration alone; every wait bounded):

1. satellite: 300 ms one way plus up to 150 ms of jitter, both ways: beliefs
   reach the cloud, advisories reach the edge and are written to its
   maintenance log; a forged elevator command published on the ground is
   dropped by the edge (its contract accepts only the advisory);
2. throttled: the same, and the link carries THROTTLE times what it carried
   up in phase 1;
3. cut: connections reset and refused: the bridge drops, the beliefs in
   flight and those published meanwhile are lost (QoS 0), the cloud's
   belief ages; then the satellite link again, the bridge reconnects by
   itself;
4. stall: the link carries nothing and keeps its connection: the cloud's
   advisories wait in the proxy past their validity (3 s) and are refused
   as expired when they reach the edge;
5. recovered: the satellite link again; then the edge stops, its "stopped"
   crosses the bridge, and the cloud stops.

The self-checks, each on the twins' own time bases (the phases' bounds are
mapped onto them from CLOCK_MONOTONIC, which both processes print the
origin of):

- edge loop: every frame ran (frames = its time / period, one elevator
  command each, rows at k x period without a gap), never the safe state
  after its first frame, the pitch-rate tracking error during the cut as
  small as at the same point of the pilot's pattern before it (within
  x1.5), and its largest lag behind its schedule far below the cut as the
  cloud lived it (a fifth at most: an edge that waited on the link would
  lag by the whole outage);
- cloud estimate: at the end the true margin and rate lie within the
  estimate's 95 % band, the rate's std has shrunk to half or less of what it
  was 5 s after the first belief, the belief's age grows with the cloud's
  time through the cut (slope 1 +- 5 %) and every belief published is
  received or counted lost (at least one lost in the cut);
- advisories: the edge's contract accepts nothing but the advisory, the
  forged elevator command was dropped, at least one advisory expired after
  the stall, and none was applied after its validity (every row of the
  maintenance log is one the dispatcher sent within its deadline).
"""

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # the modules below are in the source tree: leave it clean
HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "bus"))
import run_bridged_twins as bt  # noqa: E402  (brokers, certificates, the link proxy)
from run_distributed import Watch  # noqa: E402  (mosquitto_sub, text or binary payloads)

linkproxy = bt.linkproxy
fail = bt.fail

WAIT = 60  # s per event: only a hung run gets near it (the bridge retries within 30 s)
SAT = "delay 300 150"  # the satellite link: one way, plus a uniform 0..150 ms
THROTTLE = 1.3
REALM, EDGE, CLOUD = "fleet", "ac1-edge", "ac1-cloud"
PREFIX = "dt/v1/%s/%s/" % (REALM, EDGE)
BELIEF_TOPIC = PREFIX + "b/health"
CMD_TOPIC = PREFIX + "cmd/eng.inspect_within/" + CLOUD
ACK_TOPIC = PREFIX + "ack/" + CLOUD
FORGED_TOPIC = PREFIX + "cmd/ac.elevator_cmd/ground-intruder"
ADVISORY = "eng.inspect_within"
VALIDITY = 3.0  # s: the cloud's dispatcher.deadline (cloud.json)
PATTERN = 8.0  # s: the pilot's pitch-rate pattern repeats (airframe.c)
MARGIN0, RATE = 45.0, -0.3  # the engine's truth (airframe.c)
SENT, REMOTE = 0x01, 0x3000


def tool(name):
    for d in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/sbin", "/sbin"]:
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    fail("%s not found (scripts/install-deps.sh installs it)" % name)


def wait_for(what, cond, procs=()):
    deadline = time.monotonic() + WAIT
    while not cond():
        for p in procs:
            if p.p.poll() is not None:
                fail("%s ended (exit %s) while waiting for %s: %s"
                     % (p.name, p.p.returncode, what, p.err()[-3000:]))
        if time.monotonic() > deadline:
            fail("timed out (%d s) waiting for %s" % (WAIT, what))
        time.sleep(0.02)
    print("ok: " + what, flush=True)


class Twin:
    """One role of the aircraft program; its progress lines on stdout."""

    def __init__(self, exe, role, desc, work):
        self.name = role
        self.out_path = os.path.join(work, role + ".out")
        self.err_path = os.path.join(work, role + ".err")
        self.p = bt.spawn([exe, role, desc, work], stdout=open(self.out_path, "w"),
                          stderr=open(self.err_path, "w"), cwd=work)

    def text(self):
        with open(self.out_path, errors="replace") as f:
            return f.read()

    def err(self):
        with open(self.err_path, errors="replace") as f:
            return f.read()

    def origin(self):
        for l in self.text().splitlines():
            if l.startswith("origin_ns "):
                return int(l.split()[1])
        return None

    def progress(self, key):
        """The newest value of one key of the progress lines (0 before any)."""
        v = 0.0
        for l in self.text().splitlines():
            if l.startswith("progress "):
                for kv in l.split()[1:]:
                    k, _, x = kv.partition("=")
                    if k == key:
                        v = float(x)
        return v

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                self.p.kill()
                fail("%s did not stop on SIGTERM" % self.name)
        if self.p.returncode != 0:
            fail("%s exited %d: %s" % (self.name, self.p.returncode, self.err()[-3000:]))
        text = self.text()
        i = text.find("summary ")
        if i < 0:
            fail("%s printed no summary: %s" % (self.name, self.err()[-3000:]))
        return json.loads(text[i + len("summary "):])


def read_csv(path):
    with open(path) as f:
        head = f.readline().rstrip("\n").split(",")
        return [dict(zip(head, l.rstrip("\n").split(","))) for l in f if l.strip()]


def rms(xs):
    return math.sqrt(sum(x * x for x in xs) / len(xs)) if xs else float("nan")


def start(work, exe):
    """Brokers, link, watches and both twins, as run_bridged_twins.py starts
    its brokers and bridge."""
    mosquitto, sub = tool("mosquitto"), tool("mosquitto_sub")
    bt.make_certs(tool("openssl"), work)
    br = bt.start_bridged(mosquitto, SRC, work, "ground", "aircraft")
    ground, onboard, link, c_port, e_port = br.central, br.edge, br.uplink, br.c_port, br.e_port
    brokers = [ground, onboard]
    wc = Watch(sub, work, "watch-ground", c_port,
               [bt.LINK_TOPIC, "dt/v1/%s/+/$state" % REALM, "dt/v1/%s/+/$contract" % REALM])
    wcb = Watch(sub, work, "watch-ground-msgs", c_port, [BELIEF_TOPIC, CMD_TOPIC, ACK_TOPIC],
                True)
    we = Watch(sub, work, "watch-aircraft", e_port, [bt.LINK_TOPIC])
    watches = [wc, wcb, we]
    up = bt.LINK_TOPIC + " 1"
    wait_for("the bridge is up (ground)", lambda: wc.count(up) >= 1, brokers + watches)
    wait_for("the bridge is up (aircraft)", lambda: we.count(up) >= 1, brokers + watches)

    descs = {}
    for role, port in (("edge", e_port), ("cloud", c_port)):
        with open(os.path.join(HERE, role + ".json")) as f:
            d = json.load(f)
        d["bus"]["broker"]["port"] = port
        descs[role] = os.path.join(work, role + ".json")
        with open(descs[role], "w") as f:
            json.dump(d, f, indent=1)
    # the cloud first: subscribed before the edge's first belief (number 1)
    cloud = Twin(exe, "cloud", descs["cloud"], work)
    wait_for("the cloud is connected and subscribed",
             lambda: wc.count('dt/v1/%s/%s/$state {"state":"ready"' % (REALM, CLOUD)) >= 1,
             brokers + watches + [cloud])
    edge = Twin(exe, "edge", descs["edge"], work)
    procs = brokers + watches + [cloud, edge]
    wait_for("the edge's ready crossed the bridge",
             lambda: wc.count('dt/v1/%s/%s/$state {"state":"ready"' % (REALM, EDGE)) >= 1, procs)
    return dict(ground=ground, onboard=onboard, link=link, wc=wc, wcb=wcb, we=we,
                watches=watches, cloud=cloud, edge=edge, procs=procs, c_port=c_port)


def fly(s):
    """The phases; returns {phase: (start_ns, end_ns)} on CLOCK_MONOTONIC and
    the counters seen around the stall."""
    link, wc, wcb, we = s["link"], s["wc"], s["wcb"], s["we"]
    cloud, edge, procs = s["cloud"], s["edge"], s["procs"]
    up, down = bt.LINK_TOPIC + " 1", bt.LINK_TOPIC + " 0"

    def proxy(cmd):
        return bt.proxy(link, cmd)

    def beliefs_ground():
        return wcb.count(BELIEF_TOPIC + " ")

    def advisories_ground():
        return wcb.count(CMD_TOPIC + " ")

    def flowing(name, n_bel=6, n_fused=4, n_applied=2):
        b0, f0, a0 = beliefs_ground(), cloud.progress("fused"), edge.progress("applied")
        wait_for("%s: %d beliefs reach the ground broker" % (name, n_bel),
                 lambda: beliefs_ground() >= b0 + n_bel, procs)
        wait_for("%s: the cloud fuses %d of them" % (name, n_fused),
                 lambda: cloud.progress("fused") >= f0 + n_fused, procs)
        wait_for("%s: %d advisories applied on board (maintenance log)" % (name, n_applied),
                 lambda: edge.progress("applied") >= a0 + n_applied, procs)

    phases = {}
    t = time.monotonic_ns()
    # 1. satellite; a forged elevator command from the ground is dropped
    proxy(SAT)
    flowing("satellite", n_bel=8, n_fused=6, n_applied=3)
    st0, w0 = bt.proxy(link, "stats"), time.monotonic()
    forged = subprocess.run([tool("mosquitto_pub"), "-h", "127.0.0.1", "-p", str(s["c_port"]),
                             "-q", "1", "-t", FORGED_TOPIC, "-m", "elevator -20 deg"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=WAIT)
    if forged.returncode != 0:
        fail("mosquitto_pub: %s" % forged.stdout.decode(errors="replace"))
    wait_for("satellite: the edge drops the forged elevator command (not in its accept)",
             lambda: edge.progress("cmd_not_accepted") >= 1, procs)
    flowing("satellite", n_bel=6, n_fused=4, n_applied=2)
    st1, w1 = bt.proxy(link, "stats"), time.monotonic()
    phases["satellite"] = (t, time.monotonic_ns())
    st0, st1 = json.loads(st0[-1]), json.loads(st1[-1])
    rate = max(200, int(THROTTLE * (st1["forwarded"]["c2s"] - st0["forwarded"]["c2s"]) / (w1 - w0)))
    print("the link carried %.0f B/s up in the satellite phase; throttled to %d B/s"
          % ((st1["forwarded"]["c2s"] - st0["forwarded"]["c2s"]) / (w1 - w0), rate), flush=True)

    # 2. throttled
    t = time.monotonic_ns()
    proxy("rate %d" % rate)
    flowing("throttled")
    phases["throttled"] = (t, time.monotonic_ns())

    # 3. cut: the beliefs in flight and those published meanwhile are lost
    t = time.monotonic_ns()
    downs, e_downs, ups = wc.count(down), we.count(down), wc.count(up)
    f0 = edge.progress("frames")
    proxy("cut")
    wait_for("cut: the aircraft's broker publishes the link's 0",
             lambda: we.count(down) > e_downs, procs)
    wait_for("cut: the ground broker publishes the bridge's will (link 0)",
             lambda: wc.count(down) > downs, procs)
    wait_for("cut: the cloud's belief is 4 s old (its time)",
             lambda: cloud.progress("age") >= 4.0, procs)
    wait_for("cut: the edge ran 800 more frames (its time: 4 s)",
             lambda: edge.progress("frames") >= f0 + 800, procs)
    phases["cut"] = (t, time.monotonic_ns())
    t = time.monotonic_ns()
    proxy("up")
    proxy(SAT)
    wait_for("cut: the bridge is back by itself (link 1)", lambda: wc.count(up) > ups, procs)
    flowing("cut, up again")
    phases["reconnect"] = (t, time.monotonic_ns())

    # 4. stall: advisories held past their validity
    t = time.monotonic_ns()
    exp0 = edge.progress("cmd_expired")
    a0 = advisories_ground()
    downs, e_downs = wc.count(down), we.count(down)
    proxy("stall")
    held = int(VALIDITY) + 3
    wait_for("stall: the cloud publishes %d advisories (held in the link, the first "
             "then older than its %.0f s validity)" % (held, VALIDITY),
             lambda: advisories_ground() >= a0 + held, procs)
    if we.count(down) > e_downs or wc.count(down) > downs:
        fail("stall: the bridge was dropped (keepalive 30 s ran out?)")
    phases["stall"] = (t, time.monotonic_ns())
    t = time.monotonic_ns()
    proxy("up")
    proxy(SAT)
    wait_for("stall: the edge refuses the late advisories as expired (bus.cmd_expired)",
             lambda: edge.progress("cmd_expired") > exp0, procs)
    flowing("stall, up again")
    phases["release"] = (t, time.monotonic_ns())
    exp1 = edge.progress("cmd_expired")

    # 5. recovered
    t = time.monotonic_ns()
    flowing("recovered", n_bel=8, n_fused=6, n_applied=3)
    phases["recovered"] = (t, time.monotonic_ns())
    return phases, (exp0, exp1)


def main():
    if len(sys.argv) != 3:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    exe, out = sys.argv[1:]
    if os.path.isdir(exe):
        exe = os.path.join(exe, "examples", "aircraft")
    if not os.access(exe, os.X_OK):
        fail("%s is not the aircraft program" % exe)
    exe = os.path.abspath(exe)
    os.makedirs(out, exist_ok=True)
    work = os.path.join(os.path.abspath(out), "aircraft-work")
    shutil.rmtree(work, ignore_errors=True)  # a previous run's files would be read as this one's
    os.makedirs(work)
    os.chmod(work, 0o755)

    s = start(work, exe)
    phases, expired = fly(s)
    cloud, edge, wc = s["cloud"], s["edge"], s["wc"]
    stale0 = cloud.err().count("is stale")
    e = edge.stop()
    wait_for("the edge's stopped state crossed the bridge",
             lambda: wc.count('dt/v1/%s/%s/$state {"state":"stopped"' % (REALM, EDGE)) >= 1,
             [cloud, wc])
    wait_for("the cloud's source goes stale after the edge's last belief",
             lambda: cloud.err().count("is stale") > stale0, [cloud])
    c = cloud.stop()
    s["link"].close()
    for w in s["watches"]:
        w.stop()
    s["onboard"].kill()
    s["ground"].kill()
    ok = check(e, c, edge, cloud, phases, expired, work, out, wc)
    return 0 if ok else 1


def check(e, c, edge, cloud, phases, expired, work, out, wc):
    o_e, o_c = edge.origin(), cloud.origin()
    offset = (o_c - o_e) * 1e-9  # cloud time + offset = edge time (one machine, one clock)
    te = {k: ((a - o_e) * 1e-9, (b - o_e) * 1e-9) for k, (a, b) in phases.items()}
    tc = {k: ((a - o_c) * 1e-9, (b - o_c) * 1e-9) for k, (a, b) in phases.items()}
    period = e["period_s"]
    rows = [{k: float(v) for k, v in r.items()} for r in read_csv(os.path.join(work, "aircraft_edge.csv"))]
    crows = [{k: float(v) for k, v in r.items()} for r in read_csv(os.path.join(work, "aircraft_cloud.csv"))]
    eadv = [{k: float(v) for k, v in r.items()} for r in read_csv(os.path.join(work, "edge_advisories.csv"))]
    cadv = [{k: float(v) for k, v in r.items()} for r in read_csv(os.path.join(work, "cloud_advisories.csv"))]
    maint = read_csv(os.path.join(work, "maintenance.csv"))
    el, src = e["link"], c["sources"]["edge"]
    results = {}

    # ---- the cloud's blind spans: the longest time without a fused belief across each outage
    fused_at = [r["t_s"] for a, r in zip(crows, crows[1:]) if r["fused"] > a["fused"]]

    def blind(name):
        a, b = tc[name]
        gaps = [(x, y) for x, y in zip(fused_at, fused_at[1:]) if x <= b and y >= a]
        if not gaps:
            fail("%s: no belief fused around %.2f..%.2f s of the cloud's time" % (name, a, b))
        return max(gaps, key=lambda g: g[1] - g[0])

    cut0, cut1 = blind("cut")
    cut_len = cut1 - cut0

    # ---- (1) the edge loop ----
    why = []
    frames = int(e["frames"])
    if len(rows) != frames or e["cycles"] != frames:
        why.append("frames %d, rows %d, cycles %d" % (frames, len(rows), e["cycles"]))
    gaps = [k for k, r in enumerate(rows) if abs(r["t_s"] - (k + 1) * period) > 1e-6]
    if gaps:
        why.append("%d rows off the frame time base (first at row %d)" % (len(gaps), gaps[0]))
    # one elevator command per frame; the start-up safe state (first frame)
    # adds the dispatcher's own safe command to the law's (replaced) one
    free = int(e["first_free_frame"])
    odd = [k for k, r in enumerate(rows) if r["cmds"] != 1 and not (k + 1 < free and r["cmds"] == 2)]
    if odd or e["frames_not_one_command"] > e["safe_entries"] or e["pitch_law_runs"] != frames:
        why.append("%d frames without exactly one elevator command (first at row %s); pitch law "
                   "ran %d times" % (len(odd), odd[:1], e["pitch_law_runs"]))
    elev = e["sinks"]["elevator"]["applied"]
    if elev != frames + e["safe_entries"]:
        why.append("the elevator got %d commands for %d frames and %d safe-state entries"
                   % (elev, frames, e["safe_entries"]))
    if e["safe_frames_after_start"] or e["safe_entries"] > 1 or e["first_free_frame"] > 2:
        why.append("safe state after the start: %d frames, %d entries, first free frame %d"
                   % (e["safe_frames_after_start"], e["safe_entries"], e["first_free_frame"]))
    err = [r["q"] - r["q_ref"] for r in rows]
    a, b = te["cut"]
    base_from = te["satellite"][0]
    n_per = int(round(PATTERN / period))
    cut_e, base_e = [], []
    for i, r in enumerate(rows):
        if a <= r["t_s"] < b:
            j = i - n_per * int(math.ceil((r["t_s"] - a) / PATTERN + 1e-9))
            if j >= 0 and rows[j]["t_s"] >= base_from:
                cut_e.append(err[i])
                base_e.append(err[j])
    sat = [err[i] for i, r in enumerate(rows) if te["satellite"][0] <= r["t_s"] < te["satellite"][1]]
    ratio = rms(cut_e) / rms(base_e) if base_e else float("inf")
    if len(cut_e) < 400 or not ratio <= 1.5:
        why.append("tracking during the cut: RMS %.4f deg/s over %d frames against %.4f at the "
                   "same points of the pattern before it (ratio %.2f, wanted <= 1.5)"
                   % (rms(cut_e), len(cut_e), rms(base_e), ratio))
    lags = sorted(r["lag_s"] for r in rows)
    max_lag = lags[-1]
    if not max_lag < cut_len / 5:
        why.append("largest lag %.3f s is not far below the cut (%.3f s)" % (max_lag, cut_len))
    print("edge: %d frames of %.0f ms = %.3f s of its time, one elevator command each; safe "
          "state only in its first frame (%d entry); pitch-rate error RMS %.3f deg/s in the "
          "satellite phase, %.3f during the cut against %.3f at the same points of the "
          "pattern before it (ratio %.2f); lag behind its schedule p50 %.2f ms, p99 %.2f ms, "
          "max %.2f ms, against %.2f s without a belief at the cloud across the cut"
          % (frames, period * 1e3, frames * period, e["safe_entries"], rms(sat), rms(cut_e),
             rms(base_e), ratio, lags[len(lags) // 2] * 1e3, lags[int(0.99 * (len(lags) - 1))] * 1e3,
             max_lag * 1e3, cut_len), flush=True)
    results["edge loop"] = why

    # ---- (2) the cloud's estimate ----
    why = []
    t_end = e["t_end_s"]
    last = [r for r in crows if r["t_s"] + offset <= t_end]
    if not last:
        fail("no cloud cycle before the edge stopped")
    end = last[-1]
    m_true = MARGIN0 + RATE * (end["t_s"] + offset)
    if not abs(end["margin_est"] - m_true) <= 1.96 * end["margin_std"]:
        why.append("the margin %.3f +- %.3f K (1.96 sigma) misses the truth %.3f K"
                   % (end["margin_est"], 1.96 * end["margin_std"], m_true))
    if not abs(end["rate_est"] - RATE) <= 1.96 * end["rate_std"]:
        why.append("the rate %.4f +- %.4f K/s misses the truth %.4f"
                   % (end["rate_est"], 1.96 * end["rate_std"], RATE))
    first = next(r for r in crows if r["fused"] >= 1)
    early = next(r for r in crows if r["t_s"] >= first["t_s"] + 5.0)
    if not end["rate_std"] <= 0.5 * early["rate_std"]:
        why.append("the rate's std did not shrink: %.4f 5 s after the first belief, %.4f at the "
                   "end" % (early["rate_std"], end["rate_std"]))
    inside = [r for r in crows if cut0 < r["t_s"] < cut1]
    if len(inside) < 10:
        why.append("only %d cloud cycles inside the cut's blind span" % len(inside))
        slope = float("nan")
    else:
        mt = sum(r["t_s"] for r in inside) / len(inside)
        ma = sum(r["belief_age_s"] for r in inside) / len(inside)
        slope = (sum((r["t_s"] - mt) * (r["belief_age_s"] - ma) for r in inside)
                 / sum((r["t_s"] - mt) ** 2 for r in inside))
        if not abs(slope - 1) <= 0.05:
            why.append("the belief's age grew %.3f s per second of the cloud's time through "
                       "the cut, wanted 1 +- 5 %%" % slope)
        if not inside[-1]["belief_age_s"] >= cut_len - 1.0:
            why.append("the age reached %.2f s only, across a blind span of %.2f s"
                       % (inside[-1]["belief_age_s"], cut_len))
    published = el["bus.beliefs_published"]
    if published != src["messages"] + src["lost"] or src["lost"] < 1:
        why.append("beliefs: published %d, received %d, lost %d (wanted published = received "
                   "+ lost, lost >= 1)" % (published, src["messages"], src["lost"]))
    age_max = max((r["belief_age_s"] for r in inside), default=float("nan"))
    print("cloud: at %.2f s (edge time) margin %.2f +- %.2f K (95 %%) against %.2f K true, rate "
          "%.4f +- %.4f K/s against %.4f (std %.4f 5 s after the first belief, %.4f at the "
          "end); RUL %.0f +- %.0f FH, advisory (lower 95 %% bound) %.0f FH, true %.0f FH"
          % (end["t_s"] + offset, end["margin_est"], 1.96 * end["margin_std"], m_true,
             end["rate_est"], 1.96 * end["rate_std"], RATE, early["rate_std"], end["rate_std"],
             end["rul_fh"], end["rul_std_fh"], end["rul_lb_fh"],
             (m_true - 10.0) / -RATE * 100.0), flush=True)
    print("cloud: across the cut no belief for %.2f s of its time; its age grew %.3f s per s to "
          "%.2f s; beliefs published %d = received %d + lost %d; fused %d, superseded %d"
          % (cut_len, slope, age_max, published, src["messages"], src["lost"],
             c["remote_beliefs"]["fused"], c["remote_beliefs"]["superseded"]), flush=True)
    results["cloud estimate"] = why

    # ---- (3) advisories ----
    why = []
    accepts = [x["signal"] for x in (e.get("contract") or {}).get("accept", [])]
    if accepts != [ADVISORY]:
        why.append("the edge's contract accepts %s, wanted only %s" % (accepts, ADVISORY))
    if el.get("bus.cmd_not_accepted", 0) < 1:
        why.append("the forged elevator command was not counted bus.cmd_not_accepted")
    remote = [r for r in eadv if int(r["origin"]) == REMOTE]
    if any(int(r["origin"]) not in (REMOTE, 0x2000) for r in eadv):
        why.append("an advisory on board came from neither the ground nor the safe state")
    sent = [r for r in eadv if int(r["decision"]) & SENT]
    late = [r for r in sent if r["t_s"] > r["t_deadline_s"] + 1e-9]
    if late or e["advisories_applied_late"]:
        why.append("%d advisories applied after their validity: %s" % (len(late), late[:3]))
    if len(maint) != len(sent) or e["sinks"]["maintenance_log"]["applied"] != len(sent):
        why.append("the maintenance log has %d rows for %d advisories sent"
                   % (len(maint), len(sent)))
    values = {round(r["value_h"], 3) for r in cadv if int(r["decision"]) & SENT}
    strays = [r for r in remote if round(r["value_h"], 3) not in values]
    if strays:
        why.append("advisories applied that the cloud never sent: %s" % strays[:3])
    exp0, exp1 = expired
    if not (exp1 > exp0 and el.get("bus.cmd_expired", 0) >= 1):
        why.append("no advisory expired after the stall (bus.cmd_expired %d before, %d after)"
                   % (exp0, exp1))
    sk = c["sinks"]["to_edge"]["counters"]
    print("advisories: the cloud sent %d (published %d), the edge took %d, applied %d (each "
          "within its %.0f s validity), refused %d as expired after the stall; the forged "
          "elevator command: dropped (bus.cmd_not_accepted %d); the edge accepts %s only"
          % (c["advisories_sent"], sk["published"], el.get("bus.cmd_records", 0),
             len([r for r in remote if int(r["decision"]) & SENT]), VALIDITY,
             el.get("bus.cmd_expired", 0), el.get("bus.cmd_not_accepted", 0),
             ",".join(accepts)), flush=True)
    results["advisories"] = why

    write_plot_files(out, work, rows, crows, eadv, cadv, te, offset)
    ok = True
    for name, why in results.items():
        for w in why:
            print("%s: %s" % (name, w), flush=True)
        print("self-check %s: %s" % (name, "FAIL" if why else "PASS"), flush=True)
        ok = ok and not why
    return ok


def write_plot_files(out, work, rows, crows, eadv, cadv, te, offset):
    shutil.copy(os.path.join(work, "aircraft_edge.csv"), os.path.join(out, "aircraft_edge.csv"))
    with open(os.path.join(out, "aircraft_cloud.csv"), "w") as f:
        f.write("t_edge_s,margin_true,margin_est,margin_std,rate_est,rate_std,rul_true_fh,"
                "rul_fh,rul_std_fh,rul_lb_fh,belief_age_s\n")
        for r in crows:
            t = r["t_s"] + offset
            m = MARGIN0 + RATE * t
            if r["fused"] < 1:
                continue  # nothing known of the aircraft yet
            v = [t, m, r["margin_est"], r["margin_std"], r["rate_est"], r["rate_std"],
                 (m - 10.0) / -RATE * 100.0, r["rul_fh"], r["rul_std_fh"], r["rul_lb_fh"],
                 r["belief_age_s"]]
            f.write(",".join("%.5g" % x if math.isfinite(x) else "NaN" for x in v) + "\n")
    with open(os.path.join(out, "aircraft_advisories.csv"), "w") as f:
        f.write("t_edge_s,value_h,on_board\n")
        for r in cadv:
            if int(r["decision"]) & SENT and int(r["origin"]) != 0x2000:
                f.write("%.3f,%.1f,0\n" % (r["t_s"] + offset, r["value_h"]))
        for r in eadv:
            if int(r["decision"]) & SENT and int(r["origin"]) == REMOTE:
                f.write("%.3f,%.1f,1\n" % (r["t_s"], r["value_h"]))
    # the link's state through the run: 0 bridged, no added delay; 1 the
    # satellite link; 2 throttled; 3 cut; 4 stalled
    with open(os.path.join(out, "aircraft_phases.csv"), "w") as f:
        f.write("state,phase,start_edge_s,end_edge_s\n")
        f.write("0,start,0.000,%.3f\n" % te["satellite"][0])
        for k, state in (("satellite", 1), ("throttled", 2), ("cut", 3), ("reconnect", 1),
                         ("stall", 4), ("release", 1), ("recovered", 1)):
            f.write("%d,%s,%.3f,%.3f\n" % (state, k, te[k][0], te[k][1]))


if __name__ == "__main__":
    sys.exit(main())
