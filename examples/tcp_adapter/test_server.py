#!/usr/bin/env python3
"""A local test server for examples/tcp_adapter (the tcp_lines adapter).

It plays a PLC gateway (readings as "<name> <value> <time>" lines) and a burner
(setpoints as "<name> <value> <seq>", answered "ok <seq> <applied>") on two
free loopback ports, runs the host program against them, and checks every
counter the program prints against what was sent. Counts and values only:
nothing here depends on how fast the machine is.

  test_server.py HOST_PROGRAM TWIN.json                  the exchange
  test_server.py --config-errors HOST_PROGRAM TWIN.json  refusals of bad descriptions

The readings' times are seconds on CLOCK_MONOTONIC (Python's time.monotonic),
the clock the host program steps the twin on: both run on this machine.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

TIMEOUT = 30.0  # seconds any one wait may take before the test fails
STEP = 0.01  # the readings' period, seconds
Q, R, X0, P0 = 0.05, 0.04, 50.0, 100.0  # the description's filter: random walk, noise 0.2^2


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))  # a free port, chosen by the kernel
    s.listen(4)
    s.settimeout(TIMEOUT)
    return s


def description(path, data_port, cmd_port, edit=None):
    with open(path) as f:
        d = json.load(f)
    d["sources"][0]["port"] = data_port
    d["sinks"][0]["port"] = cmd_port
    if edit:
        edit(d)
    fd, name = tempfile.mkstemp(suffix=".json", prefix="tcp_adapter_")
    with os.fdopen(fd, "w") as f:
        json.dump(d, f, indent=1)
    return name


class Burner(threading.Thread):
    """Accepts the sink's connection; applies each setpoint to 100 W and says so."""

    def __init__(self, sock):
        super().__init__(daemon=True)
        self.sock, self.got, self.error = sock, [], None
        self.cond = threading.Condition()

    def run(self):
        try:
            conn, _ = self.sock.accept()
            conn.settimeout(None)
            buf = b""
            while True:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    name, value, seq = line.decode().split()
                    applied = round(float(value) / 100.0) * 100.0
                    with self.cond:
                        self.got.append((name, float(value), int(seq), applied))
                        self.cond.notify_all()
                    conn.sendall(b"ok %s %.17g\n" % (seq.encode(), applied))
        except Exception as e:  # reported by the main thread
            self.error = e

    def wait_for(self, n):
        with self.cond:
            self.cond.wait_for(lambda: len(self.got) >= n, TIMEOUT)
            return list(self.got)


def value(k):
    return 60.0 + 0.1 * ((7 * k) % 5 - 2)  # 59.8 .. 60.2 degC, within the gate


def exchange(prog, twin):
    data, cmd = listener(), listener()
    path = description(twin, data.getsockname()[1], cmd.getsockname()[1])
    burner = Burner(cmd)
    burner.start()
    host = subprocess.Popen([prog, path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = []
    reader = threading.Thread(target=lambda: out.append(host.stdout.read()), daemon=True)
    reader.start()
    sent = []  # (time text, value) of every reading that must reach the estimator

    def reading(conn, k, end=b"\n"):
        t = t_base + STEP * k
        # sent a little after its time, so it is never ahead of the twin's clock
        time.sleep(max(0.0, t + 0.02 - time.monotonic()))
        text = b"%.6f" % t
        conn.sendall(b"TT101 %.17g %s%s" % (value(k), text, end))
        sent.append((float(text), value(k)))

    try:
        conn, _ = data.accept()  # the adapter connects once the twin runs
        t_base = time.monotonic()
        for k in range(0, 10):
            reading(conn, k)
        conn.sendall(b"TT101 abc 1.0\n")  # malformed: the value is not a number
        for k in range(10, 13):
            reading(conn, k)
        conn.sendall(b"TT101 61.0\n")  # malformed: two fields
        conn.sendall(b"XX999 1.0 %.6f\n" % (t_base + 0.12))  # unmapped
        for k in range(13, 17):
            reading(conn, k)
        conn.sendall(b"TT101 nan %.6f\n" % (t_base + 0.16))  # malformed: not finite
        reading(conn, 17, b"\r\n")  # CRLF is a line end too
        conn.sendall(b"A" * 1000 + b"\n")  # malformed: longer than max_line
        for k in range(18, 20):
            reading(conn, k)
        conn.sendall(b"TT101 60.1")  # malformed: cut off by the disconnect
        conn.close()

        conn, _ = data.accept()  # the adapter reconnects
        data.close()  # no third connection
        conn.sendall(b"\n")  # malformed: an empty line
        for k in range(20, 30):
            reading(conn, k)
        conn.sendall(b"TT101 61.0 1e300\n")  # malformed: the time is out of range
        conn.sendall(b"TT101 900.0 %.6f\n" % (t_base + 0.29))  # ingest: above 400 degC
        for k in range(30, 40):
            reading(conn, k)
        conn.shutdown(socket.SHUT_WR)  # no more readings ...
        conn.settimeout(TIMEOUT)
        while conn.recv(4096):  # ... and once the adapter has read them all, it closes
            pass
        conn.close()
        got = burner.wait_for(4)  # the safe value at start-up, then three setpoints
        host.send_signal(signal.SIGTERM)
        code = host.wait(TIMEOUT)
    except Exception as e:
        host.kill()
        host.wait()
        reader.join(TIMEOUT)
        sys.stdout.write(out[0].decode() if out else "")
        fail("%s: %s" % (type(e).__name__, e))
    finally:
        os.unlink(path)
    reader.join(TIMEOUT)
    text = out[0].decode() if out else ""
    sys.stdout.write(text)
    if burner.error:
        fail("burner: %s" % burner.error)
    if code != 0:
        fail("the host program exited with %d" % code)
    return text, sent, got


def expect_line(text, pattern):
    m = re.search(pattern, text, re.M)
    if not m:
        fail("no line matches /%s/" % pattern)
    return m


def check_exchange(prog, twin):
    text, sent, got = exchange(prog, twin)
    # 40 readings, the out-of-limits one (pushed, refused by ingest), 7
    # malformed records and 1 unmapped: 49 records.
    expect_line(text, r"^source plc: records 49, pushed 41, malformed 7, unmapped 1, ring full 0; "
                      r"connects 2, disconnects 2$")
    expect_line(text, r"^ingest: accepted 40, rejected out of limits 1, rejected other 0$")
    m = expect_line(text, r"^estimator: updates 40, gated 0; boiler.temp_est = (\S+) degC$")
    # The scalar filter by hand: predict by Q dt, update with noise R.
    x, p, t = X0, P0, sent[0][0]
    for tk, z in sent:
        p += Q * (tk - t)
        t = tk
        k = p / (p + R)
        x += k * (z - x)
        p *= 1 - k
    if abs(float(m.group(1)) - x) > 2e-6:
        fail("estimate %s degC, computed %.6f" % (m.group(1), x))
    print("estimate: %s degC printed, %.6f computed from the %d readings sent"
          % (m.group(1), x, len(sent)))
    expect_line(text, r"^sink burner: queued 4, sent 4, acked 4, refused 0, expired 0, "
                      r"bad replies 0, reports 4$")
    expect_line(text, r"^dispatcher: commands 4, sent 4, clamped 1, sink errors 0, "
                      r"safe-state entries 1, unconfirmed 0$")
    expect_line(text, r"^burner.power: desired 432.109 kW, reported 432.100 kW, confirmed$")
    # What the burner received, in its unit (W): the safe value, then the
    # setpoints (600 kW clamped to the 500 kW limit), in sequence order.
    values = [v for _, v, _, _ in got]
    seqs = [s for _, _, s, _ in got]
    names = [n for n, _, _, _ in got]
    if names != ["burner_W"] * 4 or values != [0.0, 123456.0, 500000.0, 432109.0]:
        fail("the burner received %s" % got)
    if seqs != sorted(seqs) or len(set(seqs)) != 4:
        fail("sequence numbers out of order: %s" % seqs)
    print("burner received (W): %s, applied %s" % (values, [a for _, _, _, a in got]))
    print("tcp_adapter exchange: PASS")


def check_config_errors(prog, twin):
    cases = [
        (lambda d: d["sources"][0].update(port=70000),
         "sources[0]: port: 70000 is not an integer in [1, 65535]"),
        (lambda d: d["sources"][0].update(host="plc.local"),
         'sources[0]: host: "plc.local" is not a numeric IPv4 or IPv6 address'),
        (lambda d: d["sources"][0].update(max_line="long"),
         'sources[0]: max_line: "long" is not a number'),
        (lambda d: d["sources"][0].pop("port"),
         "sources[0]: port: required, an integer in [1, 65535]"),
        (lambda d: d["sinks"][0].update(queue=48),
         "sinks[0]: queue: 48 is not a power of two"),
        (lambda d: d["sinks"][0].update(hold=0),
         "sinks[0]: hold: 0 is not a number in [0.001, 3600]"),
        (lambda d: d["sinks"][0]["mapping"][0].update(channel=3, native=None)
         or d["sinks"][0]["mapping"][0].pop("native"),
         "sinks[0]: mapping[0]: map a native name, not a channel"),
    ]
    for edit, want in cases:
        path = description(twin, 9, 9, edit)
        try:
            r = subprocess.run([prog, path], capture_output=True, text=True, timeout=TIMEOUT)
        finally:
            os.unlink(path)
        if r.returncode != 2 or want not in r.stderr:
            fail("wanted exit 2 and %r, got %d: %s" % (want, r.returncode, r.stderr.strip()))
        print("refused: " + r.stderr.strip().split(": ", 1)[1])
    print("tcp_adapter config errors: PASS")


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) == 3 and args[0] == "--config-errors":
        check_config_errors(args[1], args[2])
    elif len(args) == 2:
        check_exchange(args[0], args[1])
    else:
        sys.exit(__doc__)
