#!/usr/bin/env python3
"""Two twins in two processes on a real mosquitto (examples/bus: tank1
publishes its level belief, site reads it through a "twin" source).

    run_two_twins.py DTWIN MOSQUITTO EXAMPLES_DIR WORKDIR

The test starts the broker on a free loopback port and both twins with
`dtwin run --realtime --json`, then, each step waiting for an event (rows in
the site's --estimates file, a line on its stderr), never for a duration:

1. the site's estimator follows tank1's belief;
2. the broker is killed (SIGKILL) and restarted on the same port: both twins
   reconnect by themselves, the site's latency rule engages while nothing
   arrives (safe state) and its estimator is updated again after;
3. tank1 is killed (SIGKILL): the broker sends its last will at once and the
   site reports it lost; a new tank1 process (a new, higher epoch) is read
   again;
4. tank1 is frozen (SIGSTOP): the broker sends the will once the keepalive
   (5 s) has run out (mosquitto checks about 1.5 x keepalive), and the site
   reports it lost; it is resumed (SIGCONT) and stopped.

At the end the site's JSON summary is checked: connects and disconnects of
its link, peers lost, safe-state entries, no unaccounted sample, no
contract trouble.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

WAIT = 90  # seconds: only a hung run gets near it


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


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


class Broker:
    def __init__(self, exe, work, port):
        self.exe, self.port, self.p = exe, port, None
        self.conf = os.path.join(work, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "log_dest stderr\nsys_interval 0\n" % port)
        os.chmod(self.conf, 0o644)  # a broker started as root reads it as user mosquitto
        self.log = open(os.path.join(work, "broker.log"), "a")

    def start(self):
        self.p = subprocess.Popen([self.exe, "-c", self.conf], stdout=self.log,
                                  stderr=self.log)
        deadline = time.monotonic() + WAIT
        while not accepts(self.port):
            if self.p.poll() is not None or time.monotonic() > deadline:
                fail("mosquitto did not start (see broker.log)")
            time.sleep(0.02)

    def kill(self):
        self.p.kill()
        self.p.wait()


class Twin:
    """dtwin run --realtime --json; stderr is read as it comes."""

    def __init__(self, dtwin, desc, work, name, extra=()):
        self.name = name
        self.err_path = os.path.join(work, name + ".err")
        self.out_path = os.path.join(work, name + ".out")
        self.est_path = os.path.join(work, name + ".estimates.csv")
        cmd = [dtwin, "run", "--realtime", "--duration", "900", "--json"] + list(extra) + [desc]
        self.p = subprocess.Popen(cmd, stdout=open(self.out_path, "w"),
                                  stderr=open(self.err_path, "w"), cwd=work)

    def err(self):
        with open(self.err_path) as f:
            return f.read()

    def rows(self):
        try:
            with open(self.est_path) as f:
                return sum(1 for _ in f)
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


def wait_for(what, cond, twins=()):
    deadline = time.monotonic() + WAIT
    while not cond():
        for t in twins:
            if t.p.poll() is not None:
                fail("%s ended (exit %s) while waiting for %s: %s"
                     % (t.name, t.p.returncode, what, t.err()))
        if time.monotonic() > deadline:
            fail("timed out waiting for " + what)
        time.sleep(0.02)
    print("ok: " + what, flush=True)


def main():
    if len(sys.argv) != 5:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    dtwin, mosquitto, examples, work = sys.argv[1:]
    shutil.rmtree(work, ignore_errors=True)  # a previous run's files would be read as this one's
    os.makedirs(work, exist_ok=True)
    os.chmod(work, 0o755)
    port = free_port()
    # the examples' descriptions, on this port; tank1 replays a long log
    csv = os.path.join(work, "level.csv")
    with open(csv, "w") as f:
        f.write("time,level_m\n")
        for k in range(20000):  # 2000 s at 10 Hz: longer than any run
            f.write("%.1f,%.5f\n" % (k * 0.1, 2.0 + 0.001 * (k % 7)))
    descs = {}
    for name in ("tank", "site"):
        with open(os.path.join(examples, "bus", name + ".json")) as f:
            d = json.load(f)
        d["bus"]["broker"]["port"] = port
        if name == "tank":
            d["sources"][0]["file"] = csv
        descs[name] = os.path.join(work, name + ".json")
        with open(descs[name], "w") as f:
            json.dump(d, f, indent=1)

    broker = Broker(mosquitto, work, port)
    broker.start()
    site = Twin(dtwin, descs["site"], work, "site", ["--estimates", "site.estimates.csv"])
    tank = Twin(dtwin, descs["tank"], work, "tank1")
    twins = [site, tank]

    # 1. beliefs flow into the site's estimator
    wait_for("the site's estimator follows tank1 (50 updates)", lambda: site.rows() > 50, twins)

    # 2. the broker killed and restarted
    broker.kill()
    wait_for("the site's connection notices the broker is gone",
             lambda: "cannot connect to" in site.err(), twins)
    wait_for("the site's latency rule engages while the broker is down",
             lambda: site.err().count("safe state:") >= 2, twins)
    broker.start()
    n = site.rows()
    wait_for("beliefs flow again after the broker's restart (50 more updates)",
             lambda: site.rows() > n + 50, twins)

    # 3. tank1 killed: the will at once; a new process is read again
    tank.p.kill()
    tank.p.wait()
    wait_for("the site reports tank1 lost (SIGKILL)",
             lambda: site.err().count("tank1: lost (epoch") >= 1, [site])
    tank = Twin(dtwin, descs["tank"], work, "tank1b")
    n = site.rows()
    wait_for("a restarted tank1 (a new epoch) is read again", lambda: site.rows() > n + 50,
             [site, tank])

    # 4. tank1 frozen: the will after the keepalive ran out
    tank.p.send_signal(signal.SIGSTOP)
    wait_for("the site reports tank1 lost (SIGSTOP, after the keepalive)",
             lambda: site.err().count("tank1: lost (epoch") >= 2, [site])
    tank.p.send_signal(signal.SIGCONT)
    tank.stop()

    s = site.stop()
    broker.kill()
    print("site: " + json.dumps(s), flush=True)
    link = s["adapters"]["links"][0]["counters"]
    src = s["adapters"]["sources"][0]["counters"]
    if link["mqtt.connects"] < 2 or link["mqtt.disconnects"] < 1:
        fail("the site's link did not reconnect after the broker restart: %s" % link)
    if src["peer_lost"] < 2:
        fail("the site counted %d lost peers, wanted 2 (SIGKILL, SIGSTOP)" % src["peer_lost"])
    if src["unknown_contract"] or src["contract_refused"] or src["bad_message"]:
        fail("contract or message trouble: %s" % src)
    if s["safe_entries"] < 1:
        fail("the latency rule never engaged")
    if s["samples"]["unaccounted"]:
        fail("samples unaccounted: %s" % s["samples"])
    print("ok: %d beliefs read, link connects %d, peers lost %d, safe-state entries %d"
          % (src["beliefs_offered"], link["mqtt.connects"], src["peer_lost"], s["safe_entries"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
