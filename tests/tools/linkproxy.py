#!/usr/bin/env python3
"""A TCP proxy that degrades its link on command, for tests (the kernel's
netem is not available everywhere; this runs as any user, standard library
only).

    linkproxy.py [--bind ADDR] [--port N] [--control N] [--no-stdin] [--seed N]
                 TARGET

Listens on ADDR:N (default 127.0.0.1, port 0: a free one) and prints
`listening PORT` on stdout; with --control, also listens for command
connections on that port (0: a free one) and prints `control PORT`. Each
connection accepted is forwarded to TARGET (HOST:PORT, or PORT on
127.0.0.1), both ways, with TCP_NODELAY on both sockets. A direction is
`c2s` (from the connecting client to the target) or `s2c` (back); DIR below
is one of them or `both` (the default).

Commands, one per line, on stdin (answered on stdout) or on a control
connection (answered there); each is answered with one line `ok ...` (its
words, defaults filled in) once it holds, or `error ...`:

  delay MS [JITTER_MS] [DIR]  added one-way latency: every byte read from
                           then on is held MS ms (plus a uniform 0..JITTER_MS,
                           never reordered) before it is written on
  rate BPS [BURST] [DIR]   throttle to BPS bytes per second, a token bucket
                           of BURST bytes (default 20 ms of the rate, at
                           least 1: a message waits its size / BPS, as on a
                           slow line); 0 lifts it
  stall [DIR]              carry nothing, keep the connections: what arrives
                           is held (read on up to 4 MiB per direction, then
                           left in the kernel's buffers) until `up`
  cut [rst|fin]            an outage: every connection is closed (RST, the
                           default, or FIN) and what it held dropped; a new
                           one is accepted and closed at once (the listener
                           stays bound, so no other program takes its port)
  lose P [DIR]             drop whole MQTT PUBLISH packets of QoS 0, each
                           with probability P (0..1; 0 ends it), drawn
                           from the seeded random numbers (--seed); see
                           below
  up [DIR]                 back to normal: no delay, no rate, not stalled,
                           no loss (held bytes go on at once, in order);
                           ends a cut
  stats                    one JSON line of counters, then `ok stats`
  quit                     shut down (as EOF on stdin and SIGTERM do)

The counters: `connections` (accepted and connected to the target), `open`,
`refused` (closed at once: during a cut, or the target refused), `cut`
(connections closed by cuts), and per direction `received` (bytes read),
`forwarded` (written on), `held` (read, not yet written) and `dropped`
(discarded by a cut or a failed connection): received = forwarded + held +
dropped (the bytes of the packets `lose` drops are counted in `dropped`
too). `link` shows the settings.

MQTT loss: each connection whose first byte from the client is an MQTT
CONNECT packet's (0x10) is followed packet by packet in both directions
(the fixed header's type byte and its remaining-length varint; no
payload is inspected), so that `lose` removes only whole packets and never
splits or corrupts one; other packets, and PUBLISH packets of QoS 1 or 2
(their sender would wait for the acknowledgement), always pass. A
connection that does not start with CONNECT (TLS, say), or whose stream
stops parsing (a remaining length longer than 4 bytes), is carried
unparsed and loses nothing (counted `mqtt_unparsed`). Counters:
`lost_publish` per direction (packets dropped by `lose`).

Shutdown (EOF on stdin unless --no-stdin, `quit`, SIGTERM, SIGINT) closes
every socket and exits 0.

A test script imports this file for `Child`, which runs it as a child
process and waits for each command's answer (a bounded wait).
"""

import argparse
import collections
import json
import os
import queue
import random
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

HOLD_MAX = 4 << 20  # bytes held per direction of a connection before reading pauses
DIRS = ("c2s", "s2c")


def say(f, line):
    f.write(line + "\n")
    f.flush()


class Shape:
    """What one direction of the link does to its bytes."""

    def __init__(self):
        self.delay = 0.0  # s
        self.jitter = 0.0  # s
        self.rate = 0  # bytes per second, 0 = unlimited
        self.burst = 0  # the bucket's bytes, 0: 20 ms of the rate
        self.stalled = False
        self.loss = 0.0  # probability of dropping a QoS 0 PUBLISH (MQTT only)
        self.tokens = 0.0
        self.t_fill = time.monotonic()

    def capacity(self):
        return float(self.burst) if self.burst else max(1.0, self.rate / 50.0)

    def refill(self, now):
        if self.rate:
            self.tokens = min(self.capacity(), self.tokens + (now - self.t_fill) * self.rate)
        self.t_fill = now

    def normal(self):
        self.delay, self.jitter, self.rate, self.burst, self.stalled = 0.0, 0.0, 0, 0, False
        self.loss = 0.0

    def describe(self):
        return {"delay_ms": self.delay * 1e3, "jitter_ms": self.jitter * 1e3,
                "rate": self.rate, "burst": self.capacity() if self.rate else 0,
                "stalled": self.stalled, "loss": self.loss}


class Flow:
    """One direction of one connection: bytes read from src, waiting for
    their release time (queue), then for the rate and the socket (ready)."""

    def __init__(self, name, src, dst):
        self.name, self.src, self.dst = name, src, dst
        self.queue = collections.deque()  # [release time, bytes]
        self.ready = bytearray()
        self.last_release = 0.0
        self.eof = False  # src closed its side: shut dst's once all is written
        self.done = False
        self.blocked = False  # dst's buffer was full: wait for it to be writable
        # MQTT framing (lose): where the stream is in its current packet
        self.p_state = "type"  # "type", "len" (the varint), "body"
        self.p_left = 0  # body bytes still to come
        self.p_len, self.p_mult, self.p_nlen = 0, 1, 0
        self.p_drop = False  # the current packet is being dropped

    def held(self):
        return len(self.ready) + sum(len(c[1]) for c in self.queue)


class Conn:
    def __init__(self, client, server):
        self.socks = (client, server)
        self.flows = {"c2s": Flow("c2s", client, server), "s2c": Flow("s2c", server, client)}
        self.mqtt = None  # None: not known yet; True: followed packet by packet


def mqtt_filter(conn, f, data, loss, rng):
    """Follows f's MQTT packets through data; returns (the bytes to carry
    on, PUBLISH packets dropped, bytes dropped). A dropped packet's bytes are
    left out whole, its header included: the decision is taken on its first
    byte, so nothing before it has been carried on."""
    out = bytearray()
    lost = nbytes = 0
    i, n = 0, len(data)
    while i < n:
        if conn.mqtt is False:
            out += data[i:]
            break
        if f.p_state == "type":
            b = data[i]
            f.p_drop = (b >> 4) == 3 and (b >> 1) & 3 == 0 and loss > 0 and rng.random() < loss
            lost += f.p_drop
            f.p_state, f.p_len, f.p_mult, f.p_nlen = "len", 0, 1, 0
        elif f.p_state == "len":
            b = data[i]
            f.p_len += (b & 0x7F) * f.p_mult
            f.p_mult *= 128
            f.p_nlen += 1
            if b & 0x80 and f.p_nlen == 4:  # a fifth length byte: not MQTT after all
                conn.mqtt = False
            elif not b & 0x80:
                f.p_left = f.p_len
                f.p_state = "body" if f.p_len else "type"
        else:
            k = min(f.p_left, n - i)
            if f.p_drop:
                nbytes += k
            else:
                out += data[i:i + k]
            f.p_left -= k
            i += k
            if f.p_left == 0:
                f.p_state = "type"
            continue
        if f.p_drop:
            nbytes += 1
        else:
            out.append(data[i])
        i += 1
    return bytes(out), lost, nbytes


class Proxy:
    def __init__(self, args):
        self.target = args.target
        self.rng = random.Random(args.seed)
        self.shape = {d: Shape() for d in DIRS}
        self.is_cut = False
        self.cut_mode = "rst"
        self.conns = []
        self.n = {"connections": 0, "refused": 0, "cut": 0, "mqtt_unparsed": 0}
        self.lost_publish = {d: 0 for d in DIRS}
        self.bytes = {k: {d: 0 for d in DIRS} for k in ("received", "forwarded", "dropped")}
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((args.bind, args.port))
        self.listener.listen(16)
        self.control = None
        self.controls = {}  # socket -> [input buffer, its answers' file]
        if args.control is not None:
            self.control = socket.socket()
            self.control.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.control.bind(("127.0.0.1", args.control))
            self.control.listen(4)
        self.stdin = None if args.no_stdin else sys.stdin.fileno()
        self.stdin_buf = b""
        self.running = True

    # ---- connections ----

    def accept(self):
        try:
            c, _ = self.listener.accept()
        except OSError:
            return
        if self.is_cut:
            self.n["refused"] += 1
            self.close_sock(c, self.cut_mode == "rst")
            return
        try:
            s = socket.create_connection(self.target, timeout=2)
        except OSError:
            self.n["refused"] += 1
            self.close_sock(c, True)
            return
        for x in (c, s):
            x.setblocking(False)
            x.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.n["connections"] += 1
        self.conns.append(Conn(c, s))

    @staticmethod
    def close_sock(s, reset):
        try:
            if reset:  # SO_LINGER 0: close sends a RST
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()

    def drop(self, conn, reset):
        for f in conn.flows.values():
            self.bytes["dropped"][f.name] += f.held()
            f.queue.clear()
            f.ready.clear()
            f.done = True
        for s in conn.socks:
            self.close_sock(s, reset)
        if conn in self.conns:
            self.conns.remove(conn)

    def read(self, conn, f, now):
        try:
            data = f.src.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            self.drop(conn, True)  # a reset on one side resets the other
            return
        if not data:
            f.eof = True
            return
        self.bytes["received"][f.name] += len(data)
        sh = self.shape[f.name]
        if conn.mqtt is None and f.name == "c2s":
            conn.mqtt = data[0] == 0x10  # CONNECT
            self.n["mqtt_unparsed"] += not conn.mqtt
        if conn.mqtt:
            data, lost, nbytes = mqtt_filter(conn, f, data, sh.loss, self.rng)
            if conn.mqtt is False:
                self.n["mqtt_unparsed"] += 1
            self.lost_publish[f.name] += lost
            self.bytes["dropped"][f.name] += nbytes
            if not data:
                return
        if sh.delay == 0 and sh.jitter == 0 and not f.queue:
            f.ready += data
            return
        t = now + sh.delay + (self.rng.uniform(0, sh.jitter) if sh.jitter else 0.0)
        t = max(t, f.last_release)  # in order, whatever the jitter
        f.last_release = t
        f.queue.append([t, data])

    def write(self, conn, f, now):
        """Writes what the shape lets through; returns the time it wants to
        be called again (None: when the socket is writable (f.blocked) or
        never)."""
        f.blocked = False
        while f.queue and f.queue[0][0] <= now:
            f.ready += f.queue.popleft()[1]
        sh = self.shape[f.name]
        wake = f.queue[0][0] if f.queue else None
        if not f.ready or sh.stalled:
            if f.eof and not f.ready and not f.queue and not f.done:
                try:
                    f.dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                f.done = True
            return wake
        n = len(f.ready)
        if sh.rate:
            sh.refill(now)
            want = min(n, sh.capacity())
            if sh.tokens < want:
                t = now + (want - sh.tokens) / sh.rate
                return t if wake is None else min(t, wake)
            n = min(n, int(sh.tokens))
        try:
            sent = f.dst.send(f.ready[:n])
        except BlockingIOError:
            sent = 0
        except OSError:
            self.drop(conn, True)
            return None
        del f.ready[:sent]
        self.bytes["forwarded"][f.name] += sent
        f.blocked = sent < n
        if sh.rate:
            sh.tokens -= sent
            if f.ready and not f.blocked:  # the bucket is empty: its refill
                t = now + min(len(f.ready), sh.capacity()) / sh.rate
                wake = t if wake is None else min(t, wake)
        elif f.ready and not f.blocked:
            wake = now  # more to write at once
        return wake

    # ---- commands ----

    def stats(self):
        held = {d: sum(c.flows[d].held() for c in self.conns) for d in DIRS}
        return json.dumps({
            "connections": self.n["connections"], "open": len(self.conns),
            "refused": self.n["refused"], "cut": self.n["cut"],
            "mqtt_unparsed": self.n["mqtt_unparsed"], "lost_publish": self.lost_publish,
            "received": self.bytes["received"], "forwarded": self.bytes["forwarded"],
            "held": held, "dropped": self.bytes["dropped"],
            "link": {"cut": self.is_cut, "c2s": self.shape["c2s"].describe(),
                     "s2c": self.shape["s2c"].describe()}}, sort_keys=True)

    def command(self, line, out):
        w = line.split()
        if not w:
            return
        try:
            self.run_command(w, out)
        except (ValueError, IndexError) as e:
            say(out, "error %s: %s" % (" ".join(w), e))

    @staticmethod
    def dirs(w, i):
        if len(w) > i + 1:
            raise ValueError("too many words")
        d = w[i] if len(w) > i else "both"
        if d not in ("c2s", "s2c", "both"):
            raise ValueError("direction %r: c2s, s2c or both" % d)
        return d, DIRS if d == "both" else (d,)

    @staticmethod
    def number(s, what):
        v = float(s)
        if not v >= 0 or v == float("inf"):
            raise ValueError("%s %r: a number >= 0" % (what, s))
        return v

    def run_command(self, w, out):
        cmd, now = w[0], time.monotonic()
        if cmd == "delay":
            ms = self.number(w[1], "delay")
            jit = 0.0
            rest = 2
            if len(w) > 2 and w[2] not in ("c2s", "s2c", "both"):
                jit, rest = self.number(w[2], "jitter"), 3
            name, ds = self.dirs(w, rest)
            for d in ds:
                self.shape[d].delay, self.shape[d].jitter = ms / 1e3, jit / 1e3
            say(out, "ok delay %g %g %s" % (ms, jit, name))
        elif cmd == "rate":
            bps = self.number(w[1], "rate")
            burst, rest = 0, 2
            if len(w) > 2 and w[2] not in ("c2s", "s2c", "both"):
                burst, rest = int(self.number(w[2], "burst")), 3
                if burst < 1:
                    raise ValueError("burst %r: at least 1 byte" % w[2])
            name, ds = self.dirs(w, rest)
            for d in ds:
                sh = self.shape[d]
                sh.refill(now)
                sh.rate, sh.burst = int(bps), burst
                sh.tokens = min(sh.tokens, sh.capacity())
            cap = self.shape[ds[0]].capacity()
            say(out, "ok rate %d %d %s" % (int(bps), cap if bps else 0, name))
        elif cmd == "lose":
            p = self.number(w[1], "loss")
            if p > 1:
                raise ValueError("loss %r: a probability, 0..1" % w[1])
            name, ds = self.dirs(w, 2)
            for d in ds:
                self.shape[d].loss = p
            say(out, "ok lose %g %s" % (p, name))
        elif cmd == "stall":
            name, ds = self.dirs(w, 1)
            for d in ds:
                self.shape[d].stalled = True
            say(out, "ok stall %s" % name)
        elif cmd == "cut":
            if len(w) > 2 or (len(w) == 2 and w[1] not in ("rst", "fin")):
                raise ValueError("cut [rst|fin]")
            self.cut_mode = w[1] if len(w) == 2 else "rst"
            self.is_cut = True
            n = len(self.conns)
            for c in list(self.conns):
                self.drop(c, self.cut_mode == "rst")
            self.n["cut"] += n
            say(out, "ok cut %s %d" % (self.cut_mode, n))
        elif cmd == "up":
            name, ds = self.dirs(w, 1)
            for d in ds:
                self.shape[d].normal()
            for c in self.conns:  # what waited goes on now, in order
                for d in ds:
                    for chunk in c.flows[d].queue:
                        chunk[0] = now
                    c.flows[d].last_release = now
            self.is_cut = False
            say(out, "ok up %s" % name)
        elif cmd == "stats":
            if len(w) > 1:
                raise ValueError("no arguments")
            say(out, self.stats())
            say(out, "ok stats")
        elif cmd == "quit":
            self.running = False
            say(out, "ok quit")
        else:
            raise ValueError("unknown command (delay, rate, lose, stall, cut, up, stats, quit)")

    def lines(self, buf, data, out):
        buf += data
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            self.command(line.decode(errors="replace"), out)
        return buf

    # ---- the loop ----

    def run(self):
        while self.running:
            now = time.monotonic()
            wake = now + 1.0
            rd, wr = [self.listener], []
            if self.control is not None:
                rd.append(self.control)
            rd += list(self.controls)
            if self.stdin is not None:
                rd.append(self.stdin)
            for c in list(self.conns):
                for f in c.flows.values():
                    if c not in self.conns:
                        break
                    t = self.write(c, f, now)
                    if t is not None:
                        wake = min(wake, t)
                if c not in self.conns:
                    continue
                if all(f.done for f in c.flows.values()):
                    for s in c.socks:
                        s.close()
                    self.conns.remove(c)
                    continue
                for f in c.flows.values():
                    if not f.eof and f.held() < HOLD_MAX:
                        rd.append(f.src)
                    if f.blocked:
                        wr.append(f.dst)
            r, _, _ = select.select(rd, wr, [], max(0.0, wake - time.monotonic()))
            now = time.monotonic()
            for s in r:
                if s is self.listener:
                    self.accept()
                elif s is self.control:
                    try:
                        cs, _ = self.control.accept()
                        self.controls[cs] = [b"", cs.makefile("w", buffering=1)]
                    except OSError:
                        pass
                elif s in self.controls:
                    try:
                        data = s.recv(4096)
                    except OSError:
                        data = b""
                    if not data:
                        self.controls.pop(s)[1].close()
                        s.close()
                    else:
                        ctl = self.controls[s]
                        try:
                            ctl[0] = self.lines(ctl[0], data, ctl[1])
                        except OSError:  # it went away before its answer
                            self.controls.pop(s)
                            s.close()
                elif s == self.stdin:
                    data = os.read(self.stdin, 4096)
                    if not data:
                        self.running = False
                    else:
                        self.stdin_buf = self.lines(self.stdin_buf, data, sys.stdout)
                else:
                    for c in list(self.conns):
                        for f in c.flows.values():
                            if f.src is s and c in self.conns:
                                self.read(c, f, now)

    def close(self):
        for c in list(self.conns):
            self.drop(c, False)
        for s in list(self.controls) + [self.listener, self.control]:
            if s is not None:
                s.close()


class Child:
    """linkproxy.py as a child process of a test, commanded on its stdin.
    command() waits (at most `wait` seconds) for the answer and returns the
    lines printed before it; an `error` answer, an exit or a timeout raise
    RuntimeError with what it printed."""

    def __init__(self, target, extra=(), wait=60, python=sys.executable):
        self.wait = wait
        self.p = subprocess.Popen([python, os.path.abspath(__file__)] + list(extra) + [target],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  bufsize=1)
        self.out = queue.Queue()
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()
        self.port = int(self.line("the listening port").split()[1])

    def read(self):
        for line in self.p.stdout:
            self.out.put(line.rstrip("\n"))
        self.out.put(None)

    def line(self, what):
        try:
            line = self.out.get(timeout=self.wait)
        except queue.Empty:
            raise RuntimeError("linkproxy: no answer within %d s waiting for %s"
                               % (self.wait, what))
        if line is None:
            raise RuntimeError("linkproxy: ended (exit %s) waiting for %s"
                               % (self.p.wait(), what))
        return line

    def command(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        before = []
        while True:
            line = self.line("the answer to %r" % cmd)
            if line.startswith("ok"):
                return before
            if line.startswith("error"):
                raise RuntimeError("linkproxy: %r: %s" % (cmd, line))
            before.append(line)

    def stats(self):
        return json.loads(self.command("stats")[-1])

    def close(self):
        if self.p.poll() is None:
            self.p.stdin.close()  # EOF: a clean shutdown
            try:
                self.p.wait(timeout=self.wait)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.reader.join()
        return self.p.returncode


def target(s):
    host, _, port = s.rpartition(":")
    return (host or "127.0.0.1", int(port))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--control", type=int, default=None)
    ap.add_argument("--no-stdin", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("target", type=target)
    args = ap.parse_args()

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    p = Proxy(args)
    try:
        say(sys.stdout, "listening %d" % p.listener.getsockname()[1])
        if p.control is not None:
            say(sys.stdout, "control %d" % p.control.getsockname()[1])
        p.run()
    except BrokenPipeError:
        pass  # whoever read our answers is gone
    finally:
        p.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
