#!/usr/bin/env python3
"""`dtwin run --realtime` with mqtt devices, against a real broker.

usage: mqtt_cli.py DTWIN DESCRIPTION WORKDIR

Starts mosquitto on a free loopback port (a generated configuration in WORKDIR), writes
a copy of DESCRIPTION with that port, plays its devices with the mosquitto clients
(mosquitto_pub -l publishes a line per message: the thermometer's numbers, now and then
a malformed one, and the hygrometer's JSON with an RFC 3339 time of the Unix clock; the
heater's commands are read back with mosquitto_sub), runs `dtwin run --realtime --json
--duration 3`, and checks what the twin counted and what the heater received. Nothing is
timed: how many samples or commands fit in the run is not asserted, only that they came
and were what they should be. Exit status 0 when every check passes.
"""
import datetime
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accepts(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_for(cond, what, tries=3000):
    """A bound that turns a hang into a failure, not a timing."""
    for _ in range(tries):
        if cond():
            return
        time.sleep(0.01)
    sys.exit("mqtt_cli: %s did not happen" % what)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    dtwin, desc_path, work = sys.argv[1:]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    os.chmod(work, 0o755)  # a broker started as root reads it as the user mosquitto
    port = free_port()
    conf = os.path.join(work, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
                "log_dest stderr\n" % port)
    os.chmod(conf, 0o644)
    broker_bin = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    procs = []
    failures = []
    try:
        broker = subprocess.Popen([broker_bin, "-c", conf],
                                  stdout=open(os.path.join(work, "broker.log"), "w"),
                                  stderr=subprocess.STDOUT)
        procs.append(broker)
        wait_for(lambda: accepts(port) or broker.poll() is not None, "the broker listening")
        if broker.poll() is not None:
            sys.exit("mqtt_cli: mosquitto exited (%s/broker.log)" % work)

        with open(desc_path) as f:
            desc = json.load(f)
        desc["bus"]["broker"]["port"] = port
        run_desc = os.path.join(work, "twin.json")
        with open(run_desc, "w") as f:
            json.dump(desc, f, indent=1)

        # the heater: reads its commands (topic and payload per line)
        sub_out = open(os.path.join(work, "commands.txt"), "w")
        sub = subprocess.Popen(["mosquitto_sub", "-p", str(port), "-q", "1", "-v",
                                "-t", "site/heater/set"], stdout=sub_out,
                               stderr=subprocess.STDOUT)
        procs.append(sub)
        # the thermometer and the hygrometer: a message per line written
        thermo = subprocess.Popen(["mosquitto_pub", "-p", str(port), "-q", "1", "-l",
                                   "-t", "site/room1/temp"], stdin=subprocess.PIPE,
                                  text=True)
        hygro = subprocess.Popen(["mosquitto_pub", "-p", str(port), "-q", "1", "-l",
                                  "-t", "site/room1/hygro"], stdin=subprocess.PIPE, text=True)
        procs += [thermo, hygro]
        stop = threading.Event()

        def devices():
            k = 0
            while not stop.is_set():
                k += 1
                thermo.stdin.write("abc\n" if k % 10 == 0 else "20.5\n")
                now = datetime.datetime.now(datetime.timezone.utc)
                hygro.stdin.write(json.dumps({"rh": 45.5, "ts": now.isoformat()}) + "\n")
                thermo.stdin.flush()
                hygro.stdin.flush()
                stop.wait(0.05)

        feeder = threading.Thread(target=devices)
        feeder.start()
        try:
            run = subprocess.run([dtwin, "run", "--realtime", "--json", "--duration", "3",
                                  run_desc], capture_output=True, text=True, timeout=100)
        finally:
            stop.set()
            feeder.join()
        print(run.stderr, file=sys.stderr)
        if run.returncode != 0:
            sys.exit("mqtt_cli: dtwin run exited %d:\n%s" % (run.returncode, run.stdout))
        out = json.loads(run.stdout)
        print(json.dumps(out["adapters"], indent=1))

        def counters(role, ident):
            for a in out["adapters"][role]:
                if a["id"] == ident:
                    return a["counters"]
            failures.append("no %s %s in the output" % (role, ident))
            return {}

        def check(ok, what):
            print("%s %s" % ("ok  " if ok else "FAIL", what))
            if not ok:
                failures.append(what)

        th = counters("sources", "thermometer")
        hy = counters("sources", "hygrometer")
        he = counters("sinks", "heater")
        check(th.get("samples", 0) >= 1, "thermometer: samples taken")
        check(th.get("not_number", 0) >= 1 and th.get("messages", 0) == th.get("samples", 0) +
              th.get("not_number", 0), "thermometer: each message a sample or not_number")
        check(hy.get("samples", 0) >= 1, "hygrometer: samples with their RFC 3339 time")
        check(out["samples"]["rejected"]["future"] == 0, "no sample mapped into the future")
        check(out["estimator"]["updates"] >= 1, "estimator updated")
        check(he.get("published", 0) >= 1, "heater: commands published")

        # the heater's reader got them, written by the template
        sub.send_signal(signal.SIGTERM)
        sub.wait(timeout=30)
        sub_out.close()
        with open(os.path.join(work, "commands.txt")) as f:
            lines = [ln.rstrip("\n") for ln in f if ln.strip()]
        print("heater received %d commands, first %r" % (len(lines), lines[:1]))
        form = re.compile(r'^site/heater/set \{"power":-?[0-9.e+-]+,"seq":[1-9][0-9]*\}$')
        check(len(lines) >= 1, "heater: commands received")
        check(all(form.match(ln) for ln in lines), "heater: every command in the template's form")
        seqs = [int(re.search(r'"seq":(\d+)', ln).group(1)) for ln in lines]
        check(seqs == sorted(seqs) and len(set(seqs)) == len(seqs),
              "heater: sequence numbers increasing, none twice")
        check(len(lines) <= he.get("published", 0), "heater: no more than published")
    finally:
        for p in procs:
            if p.poll() is None:
                if p.stdin is not None:
                    p.stdin.close()
                p.terminate()
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
    if failures:
        sys.exit("mqtt_cli: %d check(s) failed" % len(failures))
    shutil.rmtree(work, ignore_errors=True)
    print("mqtt_cli: PASS")


if __name__ == "__main__":
    main()
