#!/usr/bin/env python3
"""linkproxy.py's `lose`: whole MQTT PUBLISH packets of QoS 0 dropped, the
others carried intact, every drop counted.

    test_linkproxy_lose.py MOSQUITTO

Starts mosquitto on a free loopback port and linkproxy.py in front of it. A
subscriber connects to the broker directly, a publisher through the proxy
(a minimal MQTT 3.1.1 client in this file: nothing to install). With
`lose 0.3 c2s` the publisher sends 1500 QoS 0 messages of sizes that need
1, 2 and 3 remaining-length bytes, written in chunks that split packets
anywhere, and 40 QoS 1 messages among them. Checks: every QoS 1 message
arrives; every QoS 0 message arrives whole or not at all (its payload
carries its number and a checksum); arrived + lost_publish = sent; the lost
fraction is within 6 standard deviations of 0.3; the proxy's byte counters
balance. Then `lose 0`: nothing is lost; and a connection that does not
start with CONNECT is carried unparsed (counted `mqtt_unparsed`). Every wait
is bounded; the broker and the proxy are stopped on every path.
"""

import hashlib
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import linkproxy  # noqa: E402

WAIT = 20


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def packet(first, body):
    return bytes([first]) + varint(len(body)) + body


def mqstr(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


class Client:
    """Just enough MQTT 3.1.1: connect, subscribe, publish, read packets."""

    def __init__(self, port, cid):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        body = mqstr("MQTT") + bytes([4, 2]) + struct.pack(">H", 60) + mqstr(cid)
        self.s.sendall(packet(0x10, body))
        t, _ = self.read_packet()
        if t >> 4 != 2:
            raise RuntimeError("no CONNACK (packet type %d)" % (t >> 4))

    def read_packet(self):
        """(first byte, body) of the next packet; a bounded wait."""
        while True:
            if len(self.buf) >= 2:
                n, mult, i = 0, 1, 1
                while i < len(self.buf) and i <= 4:
                    b = self.buf[i]
                    n += (b & 0x7F) * mult
                    mult *= 128
                    i += 1
                    if not b & 0x80:
                        if len(self.buf) >= i + n:
                            p = self.buf[0], self.buf[i:i + n]
                            self.buf = self.buf[i + n:]
                            return p
                        break
            data = self.s.recv(65536)
            if not data:
                raise RuntimeError("the connection closed")
            self.buf += data

    def subscribe(self, topic):
        self.s.sendall(packet(0x82, struct.pack(">H", 1) + mqstr(topic) + bytes([1])))
        t, _ = self.read_packet()
        if t >> 4 != 9:
            raise RuntimeError("no SUBACK")

    def close(self):
        try:
            self.s.sendall(bytes([0xE0, 0]))
        except OSError:
            pass
        self.s.close()


def payload(seq, size):
    body = struct.pack(">I", seq) + bytes((seq + k) % 251 for k in range(size))
    return body + hashlib.sha256(body).digest()[:8]


def intact(p):
    return len(p) >= 12 and hashlib.sha256(p[:-8]).digest()[:8] == p[-8:]


def publish_all(pub, msgs, rng):
    """Writes the messages as one stream in chunks cut anywhere."""
    stream = bytearray()
    for topic, p, qos, mid in msgs:
        body = mqstr(topic) + (struct.pack(">H", mid) if qos else b"") + p
        stream += packet(0x30 | (qos << 1), body)
    i = 0
    while i < len(stream):
        k = rng.randint(1, 3000)
        pub.s.sendall(stream[i:i + k])
        i += k
        if rng.random() < 0.2:
            time.sleep(0.002)  # let the proxy read the pieces apart


def collect(sub, want_end):
    """Reads until the QoS 1 message `want_end` arrives; returns the
    payloads of topic t/0 (QoS 0) and t/1 (QoS 1) seen."""
    got0, got1 = [], []
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        first, body = sub.read_packet()
        if first >> 4 != 3:
            continue
        qos = (first >> 1) & 3
        tl = struct.unpack(">H", body[:2])[0]
        topic = body[2:2 + tl].decode()
        rest = body[2 + tl:]
        if qos:
            mid = rest[:2]
            rest = rest[2:]
            sub.s.sendall(packet(0x40, mid))  # PUBACK
        if topic == "t/end":
            if rest == want_end:
                return got0, got1
            continue
        (got1 if topic == "t/1" else got0).append(rest)
    raise RuntimeError("the end marker did not arrive within %d s" % WAIT)


def run_round(proxy, broker_port, loss, n0, n1, seed, tag):
    rng = random.Random(seed)
    sub = Client(broker_port, "sub-" + tag)
    sub.subscribe("t/#")
    pub = Client(proxy.port, "pub-" + tag)
    proxy.command("lose %g c2s" % loss)
    before = proxy.stats()["lost_publish"]["c2s"]
    sizes = [5, 120, 200, 20000]  # 1, 2, 2 and 3 remaining-length bytes
    msgs, mid = [], 1
    for k in range(n0):
        msgs.append(("t/0", payload(k, rng.choice(sizes)), 0, 0))
        if k % (n0 // n1) == 0 and mid <= n1:
            msgs.append(("t/1", payload(100000 + mid, 50), 1, mid))
            mid += 1
    publish_all(pub, msgs, rng)
    end = ("end-" + tag).encode()
    pub.s.sendall(packet(0x32, mqstr("t/end") + struct.pack(">H", 60000) + end))
    got0, got1 = collect(sub, end)
    pub.close()
    sub.close()
    lost = proxy.stats()["lost_publish"]["c2s"] - before
    bad = [p for p in got0 + got1 if not intact(p)]
    seqs = [struct.unpack(">I", p[:4])[0] for p in got0]
    print("lose %g: sent %d QoS 0, arrived %d, lost_publish %d (%.3f); QoS 1 sent %d, arrived %d; "
          "damaged %d" % (loss, n0, len(got0), lost, lost / n0, mid - 1, len(got1), len(bad)))
    ok = True
    if bad:
        print("FAIL: %d payloads damaged" % len(bad))
        ok = False
    if len(got1) != mid - 1:
        print("FAIL: a QoS 1 message was lost")
        ok = False
    if len(got0) + lost != n0 or len(set(seqs)) != len(seqs) or seqs != sorted(seqs):
        print("FAIL: arrived + lost_publish != sent, or repeats, or out of order")
        ok = False
    sd = (loss * (1 - loss) / n0) ** 0.5
    if abs(lost / n0 - loss) > 6 * sd + 1e-9:
        print("FAIL: lost fraction %.3f, expected %.3f +- %.3f" % (lost / n0, loss, 6 * sd))
        ok = False
    return ok


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    d = tempfile.mkdtemp(prefix="lp-lose-")
    broker = proxy = None
    ok = False
    try:
        port = free_port()
        conf = os.path.join(d, "m.conf")
        with open(conf, "w") as f:
            f.write("persistence false\nlog_dest none\nset_tcp_nodelay true\n"
                    "listener %d 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\n" % port)
        broker = subprocess.Popen([sys.argv[1], "-c", conf], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + WAIT
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or broker.poll() is not None:
                    raise RuntimeError("mosquitto did not listen on %d within %d s" % (port, WAIT))
                time.sleep(0.05)
        proxy = linkproxy.Child(str(port), extra=["--seed", "7"], wait=WAIT)
        ok = run_round(proxy, port, 0.3, 1500, 40, 1, "a")
        ok = run_round(proxy, port, 0.0, 300, 10, 2, "b") and ok
        # not MQTT: carried as it is, counted
        raw = socket.create_connection(("127.0.0.1", proxy.port), timeout=WAIT)
        raw.sendall(b"\x16\x03\x01hello")
        time.sleep(0.2)
        raw.close()
        st = proxy.stats()
        bal = all(st["received"][x] == st["forwarded"][x] + st["held"][x] + st["dropped"][x]
                  for x in ("c2s", "s2c"))
        print("stats: lost_publish %s, mqtt_unparsed %d, balanced %s"
              % (st["lost_publish"], st["mqtt_unparsed"], bal))
        if st["mqtt_unparsed"] != 1 or not bal:
            print("FAIL: counters")
            ok = False
    finally:
        if proxy is not None:
            proxy.close()
        if broker is not None:
            broker.terminate()
            try:
                broker.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                broker.kill()
                broker.wait()
        shutil.rmtree(d, ignore_errors=True)
    print("linkproxy lose: %s" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
