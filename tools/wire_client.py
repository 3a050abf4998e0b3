#!/usr/bin/env python3
"""A client of dtwin's UDP wire format, written from docs/wire.md alone.

It sends sample frames to a twin's UDP source and receives, decodes and
verifies the command frames of a twin's UDP sink. Python standard library
only: the frame is struct-packed little-endian, its CRC is zlib's crc32, and
the MAC of authenticated (version 3) frames is hashlib's keyed BLAKE2b.

    wire_client.py send --to 127.0.0.1:5010 --source-id 7 --key keys/plc.key --sample 1=2500

    wire_client.py send --to 127.0.0.1:5010 --source-id 7 --sample 1=2500 --rate 20
    wire_client.py recv --listen 127.0.0.1:5020 --expect-source-id 9
    wire_client.py run  --to 127.0.0.1:5010 --listen 127.0.0.1:0 --source-id 7 \\
                        --sample 1=2500 --until-commands 50 --json

Timestamps: `t_source` is on the sender's clock (here Unix time by default).
The twin can only use it when its source maps that clock, which for an
independent sender means `"clock": {"mode": "estimate"}` in the source's
description (docs/wire.md, "Time").
"""

import argparse
import hashlib
import json
import os
import select
import socket
import struct
import sys
import time
import zlib

MAGIC = 0x4E575444  # b"DTWN" read as a little-endian u32
T_SAMPLES, T_COMMANDS = 1, 2
# header: magic u32, version u8, type u8, flags u16, source_id u32, seq u32,
#         count u16, epoch (version 2) / reserved (version 1) u16
HEADER = struct.Struct("<IBBHIIHH")
# sample record: channel u32, flags u32, t_source i64, value f64, variance f64
SAMPLE = struct.Struct("<IIqdd")
# command record: channel u32, flags u32, seq u64, t_issued i64, t_deadline i64, value f64
COMMAND = struct.Struct("<IIQqqd")
TRAILER = struct.Struct("<I")  # CRC-32 of every byte before it (versions 1 and 2)
MAC_SIZE = 16  # version 3: keyed BLAKE2b-128 of every byte before it
KEY_SIZE = 32
MAX_DATAGRAM = 65507
MAX_SAMPLES = (MAX_DATAGRAM - HEADER.size - TRAILER.size) // SAMPLE.size  # 2046
MAX_COMMANDS = (MAX_DATAGRAM - HEADER.size - TRAILER.size) // COMMAND.size  # 1637
MAX_SAMPLES_AUTH = (MAX_DATAGRAM - HEADER.size - MAC_SIZE) // SAMPLE.size  # 2045
MAX_COMMANDS_AUTH = (MAX_DATAGRAM - HEADER.size - MAC_SIZE) // COMMAND.size  # 1636
F_VARIANCE, F_UNCERTAIN = 0x1, 0x2
U16, U32, U64 = 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF
I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1


class WireError(Exception):
    """A datagram that is not a valid frame; `reason` is the page's counter name."""

    def __init__(self, reason, detail=""):
        super().__init__(reason + (": " + detail if detail else ""))
        self.reason, self.detail = reason, detail


def crc32(data):
    """CRC-32 as the page specifies it (IEEE 802.3, reflected 0xEDB88320,
    init and final xor 0xFFFFFFFF): exactly zlib's crc32."""
    return zlib.crc32(data) & U32


def mac(key, data):
    """The version 3 trailer: keyed BLAKE2b with a 16-byte digest (libsodium's
    crypto_generichash with a key)."""
    return hashlib.blake2b(data, digest_size=MAC_SIZE, key=key).digest()


def read_key(path):
    """A key file as dtwin's key store keeps it: exactly 32 raw bytes, a
    regular file readable by its owner only."""
    st = os.stat(path)
    if st.st_mode & 0o077:
        raise SystemExit("wire_client: %s: mode %04o lets others read it; chmod 600 it"
                         % (path, st.st_mode & 0o7777))
    with open(path, "rb") as f:
        key = f.read(KEY_SIZE + 1)
    if len(key) != KEY_SIZE:
        raise SystemExit("wire_client: %s: holds %d bytes, a key is exactly %d raw bytes"
                         % (path, len(key), KEY_SIZE))
    return key


def seal(out, version, key):
    if version == 3:
        out += mac(key, bytes(out))
    else:
        out += TRAILER.pack(crc32(out))
    return bytes(out)


def encode_samples(source_id, seq, records, version=2, epoch=0, key=None):
    """A sample frame. records: (channel, flags, t_source_ns, value, variance).
    Version 3 (authenticated) needs the link's key."""
    if not 1 <= source_id <= U32:
        raise ValueError("source_id must be in 1..2^32-1")
    if not 0 <= seq <= U32:
        raise ValueError("seq must be in 0..2^32-1")
    if version not in (1, 2, 3):
        raise ValueError("version must be 1, 2 or 3")
    if (version == 3) != (key is not None):
        raise ValueError("version 3, and only it, takes a key")
    if version == 1 and epoch != 0:
        raise ValueError("version 1 has no epoch (bytes 18..19 must be 0)")
    if not 0 <= epoch <= U16:
        raise ValueError("epoch must be in 0..65535")
    limit = MAX_SAMPLES_AUTH if version == 3 else MAX_SAMPLES
    if not 1 <= len(records) <= limit:
        raise ValueError("a frame holds 1..%d sample records" % limit)
    out = bytearray(HEADER.pack(MAGIC, version, T_SAMPLES, 0, source_id, seq, len(records), epoch))
    for channel, flags, t_source, value, variance in records:
        if not 0 <= channel <= U32:
            raise ValueError("channel must be in 0..2^32-1")
        if flags & ~(F_VARIANCE | F_UNCERTAIN):
            raise ValueError("sample flags: only bits 0 and 1 are defined")
        if not I64_MIN <= t_source <= I64_MAX:
            raise ValueError("t_source must fit an int64")
        out += SAMPLE.pack(channel, flags, t_source, value, variance)
    return seal(out, version, key)


def encode_commands(source_id, seq, records, version=1, epoch=0, key=None):
    """A command frame (what a sink sends; for tests of receivers).
    records: (channel, flags, seq, t_issued, t_deadline, value)."""
    if version == 1 and epoch != 0:
        raise ValueError("version 1 has no epoch")
    if (version == 3) != (key is not None):
        raise ValueError("version 3, and only it, takes a key")
    limit = MAX_COMMANDS_AUTH if version == 3 else MAX_COMMANDS
    if not 1 <= len(records) <= limit:
        raise ValueError("a frame holds 1..%d command records" % limit)
    out = bytearray(HEADER.pack(MAGIC, version, T_COMMANDS, 0, source_id, seq, len(records), epoch))
    for r in records:
        out += COMMAND.pack(*r)
    return seal(out, version, key)


def decode_header(data):
    """Checks 2 to 11 of the page, in its order (every header field and the
    length against count, not the CRC): returns the header as a dict version,
    type, source_id, seq, count, epoch. Raises WireError(reason)."""
    n = len(data)
    if n < HEADER.size + TRAILER.size:
        raise WireError("short", "%d bytes" % n)
    magic, version, typ, flags, source_id, seq, count, epoch = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise WireError("bad_magic", "0x%08X" % magic)
    if version not in (1, 2, 3):
        raise WireError("bad_version", str(version))
    auth = version == 3
    if typ == T_SAMPLES:
        rec, limit = SAMPLE, MAX_SAMPLES_AUTH if auth else MAX_SAMPLES
    elif typ == T_COMMANDS:
        rec, limit = COMMAND, MAX_COMMANDS_AUTH if auth else MAX_COMMANDS
    else:
        raise WireError("bad_type", str(typ))
    if flags != 0:
        raise WireError("bad_flags", "0x%04X" % flags)
    if version == 1 and epoch != 0:
        raise WireError("bad_reserved", str(epoch))
    if count == 0:
        raise WireError("empty")
    if count > limit:
        raise WireError("too_many", str(count))
    want = HEADER.size + count * rec.size + (MAC_SIZE if auth else TRAILER.size)
    if n < want:
        raise WireError("truncated", "%d bytes, %d records need %d" % (n, count, want))
    if n > want:
        raise WireError("trailing", "%d bytes, %d records need %d" % (n, count, want))
    return {"version": version, "type": typ, "source_id": source_id, "seq": seq,
            "count": count, "epoch": epoch}


def check_crc(data):
    """The CRC check, last (it reads the whole frame). Raises WireError."""
    (crc,) = TRAILER.unpack_from(data, len(data) - TRAILER.size)
    if crc != crc32(data[: len(data) - TRAILER.size]):
        raise WireError("bad_crc", "stored 0x%08X" % crc)


def check_trailer(data, version, key=None):
    """The CRC (versions 1 and 2) or, in constant time, the MAC under key
    (version 3; without a key it cannot verify: bad_mac). Raises WireError."""
    if version != 3:
        check_crc(data)
    elif key is None or not hmac_compare(mac(key, data[: len(data) - MAC_SIZE]),
                                         data[len(data) - MAC_SIZE:]):
        raise WireError("bad_mac")


def hmac_compare(a, b):
    import hmac  # noqa: E402 (the standard library's constant-time comparison)
    return hmac.compare_digest(a, b)


def records_of(data, header):
    rec = SAMPLE if header["type"] == T_SAMPLES else COMMAND
    return [rec.unpack_from(data, HEADER.size + i * rec.size) for i in range(header["count"])]


def decode(data, key=None):
    """A whole frame checked (header, length, CRC or MAC): returns (header,
    records), records as tuples in the encoders' order. Raises WireError(reason)."""
    header = decode_header(data)
    check_trailer(data, header["version"], key)
    return header, records_of(data, header)


# ---- command line ----


def endpoint(text):
    """HOST:PORT, [V6]:PORT -> (family, host, port)."""
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
    else:
        host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError("expected HOST:PORT or [IPV6]:PORT, got %r" % text)
    return (socket.AF_INET6 if ":" in host else socket.AF_INET, host, int(port))


def sample_spec(text):
    """CHANNEL=VALUE or CHANNEL=VALUE:VARIANCE."""
    try:
        ch, _, rest = text.partition("=")
        value, _, var = rest.partition(":")
        channel = int(ch)
        if not 0 <= channel <= U32:
            raise ValueError
        return channel, float(value), (float(var) if var else None)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "expected CHANNEL=VALUE[:VARIANCE] (channel 0..2^32-1), got %r" % text)


def time_spec(text):
    if text in ("unix", "monotonic"):
        return text
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected unix, monotonic or integer nanoseconds")
    if not I64_MIN <= v <= I64_MAX:
        raise argparse.ArgumentTypeError("nanoseconds must fit an int64")
    return v


def bounded_int(lo, hi):
    def parse(text):
        try:
            v = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError("expected an integer")
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError("must be in %d..%d" % (lo, hi))
        return v
    return parse


def positive(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a number")
    if not v > 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return v


class Out:
    """Human lines on stdout, or one JSON object per line with --json."""

    def __init__(self, as_json, quiet):
        self.json, self.quiet = as_json, quiet

    def event(self, kind, text, **fields):
        if self.quiet and kind != "listening":  # the port is needed even when quiet
            return
        if self.json:
            print(json.dumps(dict(event=kind, **fields)), flush=True)
        else:
            print(text, flush=True)

    def summary(self, s):
        if self.json:
            print(json.dumps(dict(event="summary", **s)), flush=True)
        else:
            print("summary: " + ", ".join("%s=%s" % kv for kv in s.items()), flush=True)


class Sender:
    """Frames of samples: seq +1 per frame (mod 2^32), t_source on the chosen clock."""

    def __init__(self, args):
        self.source_id = args.source_id
        self.samples = args.sample
        self.uncertain = args.uncertain
        self.clock = args.time
        self.period_ns = int(round(1e9 / args.rate))
        self.frames = 0
        self.records = 0
        self.errors = 0
        has_epoch = args.state is not None or args.epoch is not None
        self.key = read_key(args.key) if args.key else None
        self.version = args.version
        if self.key is not None:  # a key: authenticated frames, nothing else
            if self.version not in (None, 3):
                raise SystemExit("wire_client: --key sends version 3 frames (drop --version)")
            self.version = 3
        elif self.version == 3:
            raise SystemExit("wire_client: version 3 frames need --key")
        if self.version is None:  # auto: version 2 when there is an epoch to send
            self.version = 2 if has_epoch else 1
        if self.version == 1 and has_epoch:
            raise SystemExit("wire_client: version 1 frames carry no epoch (drop --epoch/--state)")
        self.epoch = 0
        if args.state is not None:
            self.epoch = next_epoch(args.state, wrap=self.key is None)
        elif args.epoch is not None:
            self.epoch = args.epoch
        self.seq = args.seq
        self.first_seq = args.seq

    def t_source(self):
        if self.clock == "unix":
            return time.time_ns()
        if self.clock == "monotonic":
            return time.monotonic_ns()
        return self.clock + self.frames * self.period_ns  # explicit: start + k periods

    def frame(self):
        t = self.t_source()
        recs = []
        for channel, value, var in self.samples:
            flags = (F_VARIANCE if var is not None else 0) | (F_UNCERTAIN if self.uncertain else 0)
            recs.append((channel, flags, t, value, var if var is not None else 0.0))
        return encode_samples(self.source_id, self.seq, recs, self.version, self.epoch,
                              self.key), t

    def send(self, sock, dest, out):
        data, t = self.frame()
        try:
            sock.sendto(data, dest)
        except OSError as e:  # e.g. ECONNREFUSED reported for an earlier datagram
            self.errors += 1
            out.event("send_error", "send error: %s" % e, error=str(e))
        out.event("sent", "sent seq=%d epoch=%d t_source=%d records=%d" % (
            self.seq, self.epoch, t, len(self.samples)), seq=self.seq, epoch=self.epoch,
            t_source=t, records=len(self.samples))
        self.frames += 1
        self.records += len(self.samples)
        self.seq = (self.seq + 1) & U32

    def stats(self):
        return {"frames_sent": self.frames, "records_sent": self.records,
                "send_errors": self.errors, "version": self.version, "epoch": self.epoch,
                "first_seq": self.first_seq, "next_seq": self.seq}


def next_epoch(path, wrap=True):
    """The boot counter of the page: +1 (mod 2^16) at every start, kept in a
    file; written before the first frame so a crash still advances it. A
    keyed source orders epochs without wrapping (wrap=False): after 65535
    the key is used up."""
    epoch = 0
    try:
        with open(path) as f:
            epoch = int(json.load(f)["epoch"]) + 1
        if not wrap and epoch > U16:
            raise SystemExit("wire_client: %s: epoch 65535 was the last under this key "
                             "(a keyed source does not wrap epochs): rotate the key, then "
                             "delete the state file" % path)
        epoch &= U16
    except FileNotFoundError:
        pass
    except (ValueError, KeyError, TypeError) as e:
        raise SystemExit("wire_client: %s: not a state file ({\"epoch\": N}): %s" % (path, e))
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"epoch": epoch}, f)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())  # durable before the first frame, as the page asks
    os.replace(tmp, path)
    return epoch


class Receiver:
    """Decodes and verifies command datagrams (docs/wire.md: one command per
    datagram from a dtwin sink; header seq from 0, +1 per datagram)."""

    def __init__(self, args):
        self.expect_id = args.expect_source_id
        self.key = read_key(args.key) if args.key else None
        self.datagrams = 0
        self.commands = 0  # valid command datagrams
        self.records = 0
        self.rejected = {}
        self.first_hseq = None
        self.last_hseq = None
        self.hseq_gaps = 0       # datagrams missing between two received ones
        self.hseq_backwards = 0  # a header seq not after the previous one
        self.last_rseq = None
        self.rseq_backwards = 0  # a record seq not after the previous one
        self.validity = None     # [min, max] of t_deadline - t_issued, ns
        self.offset = None       # min over commands of arrival - t_issued (ns)
        self.late = 0            # arrived after t_deadline, mapped with that offset
        self.last_value = {}

    def reject(self, reason, out, detail):
        self.rejected[reason] = self.rejected.get(reason, 0) + 1
        out.event("rejected", "rejected: %s%s" % (reason, " (%s)" % detail if detail else ""),
                  reason=reason, detail=detail)

    def take(self, data, addr, arrival_ns, out):
        self.datagrams += 1
        # the page's order: header and length, type, source_id, then the CRC
        try:
            h = decode_header(data)
            if h["type"] != T_COMMANDS:
                raise WireError("wrong_type", "type %d" % h["type"])
            if self.expect_id is not None and h["source_id"] != self.expect_id:
                raise WireError("wrong_source", "source_id %d" % h["source_id"])
            if self.key is not None and h["version"] != 3:
                raise WireError("unauthenticated", "version %d" % h["version"])
            check_trailer(data, h["version"], self.key)
        except WireError as e:
            self.reject(e.reason, out, e.detail)
            return
        recs = records_of(data, h)
        if any(r[1] != 0 for r in recs):
            self.reject("bad_records", out, "command flags must be 0")
            return
        self.commands += 1
        hs = h["seq"]
        if self.first_hseq is None:
            self.first_hseq = hs
        else:
            ahead = (hs - self.last_hseq) & U32
            if ahead == 0 or ahead >= 1 << 31:
                self.hseq_backwards += 1
            else:
                self.hseq_gaps += ahead - 1
        self.last_hseq = hs
        for channel, _flags, seq, issued, deadline, value in recs:
            self.records += 1
            if self.last_rseq is not None and seq <= self.last_rseq:
                self.rseq_backwards += 1
            self.last_rseq = seq
            life = deadline - issued
            if self.validity is None:
                self.validity = [life, life]
            else:
                self.validity = [min(self.validity[0], life), max(self.validity[1], life)]
            # The deadline is on the twin's time base, not ours: map it with the
            # smallest (arrival - issued) seen, the least delayed command.
            d = arrival_ns - issued
            self.offset = d if self.offset is None else min(self.offset, d)
            late = arrival_ns - self.offset > deadline
            self.late += late
            self.last_value[str(channel)] = value
            out.event("command", "command from %s:%d id=%d hseq=%d v%d: channel=%d seq=%d "
                      "t_issued=%.6f s deadline=+%.3f s value=%.17g%s" % (
                          addr[0], addr[1], h["source_id"], hs, h["version"], channel, seq,
                          issued / 1e9, life / 1e9, value, " LATE" if late else ""),
                      source_id=h["source_id"], header_seq=hs, version=h["version"],
                      channel=channel, seq=seq, t_issued=issued, t_deadline=deadline,
                      value=value, late=bool(late))

    def stats(self):
        return {"datagrams": self.datagrams, "commands": self.commands,
                "command_records": self.records, "rejected": self.rejected,
                "header_seq_first": self.first_hseq, "header_seq_last": self.last_hseq,
                "header_seq_gaps": self.hseq_gaps, "header_seq_backwards": self.hseq_backwards,
                "record_seq_last": self.last_rseq, "record_seq_backwards": self.rseq_backwards,
                "deadline_minus_issued_ns": self.validity, "late": self.late,
                "last_value": self.last_value}


def open_socket(family, host, port):
    s = socket.socket(family, socket.SOCK_DGRAM)
    try:
        s.bind((host, port))
    except OSError as e:
        raise SystemExit("wire_client: cannot bind %s:%d: %s" % (host, port, e))
    return s


def main_loop(args, out):
    sender = Sender(args) if args.cmd in ("send", "run") else None
    receiver = Receiver(args) if args.cmd in ("recv", "run") else None
    if args.cmd == "send":
        fam, host, port = args.to
        sock = open_socket(fam, args.bind or ("::" if fam == socket.AF_INET6 else "0.0.0.0"), 0)
    else:
        fam, host, port = args.listen
        sock = open_socket(fam, host, port)
        bound = sock.getsockname()
        out.event("listening", "listening on %s:%d" % (bound[0], bound[1]),
                  host=bound[0], port=bound[1])
    dest = (args.to[1], args.to[2]) if sender else None
    if sender and args.to[0] != sock.family:
        raise SystemExit("wire_client: --to and --listen must be of the same address family")

    start = time.monotonic()
    stop_at = start + args.duration if getattr(args, "duration", None) else None
    timeout_at = start + args.timeout if getattr(args, "timeout", None) else None
    next_send = start
    want_frames = getattr(args, "count", None) if sender else None
    want_cmds = args.until_commands if args.cmd == "run" else getattr(args, "count", None)
    if sender and want_frames is None and stop_at is None and not (args.cmd == "run" and want_cmds):
        want_frames = 1
    reached = True
    while True:
        now = time.monotonic()
        if sender and want_frames is not None and sender.frames >= want_frames:
            if args.cmd == "send":
                break
        if receiver and want_cmds is not None and receiver.commands >= want_cmds:
            break
        if stop_at is not None and now >= stop_at:
            break
        if timeout_at is not None and now >= timeout_at:
            reached = want_cmds is None or receiver is None or receiver.commands >= want_cmds
            break
        sending = sender and (want_frames is None or sender.frames < want_frames)
        if sending and getattr(args, "wait_for_command", False) and receiver.commands == 0:
            sending = False
            next_send = now
        if sending and now >= next_send:
            sender.send(sock, dest, out)
            next_send += 1.0 / args.rate
            if next_send < now:  # fell behind (a stalled machine): no burst
                next_send = now
            continue
        wake = [t for t in (next_send if sending else None, stop_at, timeout_at) if t is not None]
        wait = max(0.0, min(wake) - now) if wake else None
        if receiver is None:
            time.sleep(wait if wait is not None else 0)
            continue
        ready, _, _ = select.select([sock], [], [], wait)
        if ready:
            try:
                data, addr = sock.recvfrom(65536)
            except OSError as e:  # ICMP errors of earlier sends surface here
                if sender:
                    sender.errors += 1
                out.event("socket_error", "socket error: %s" % e, error=str(e))
                continue
            receiver.take(data, addr, time.time_ns(), out)
    sock.close()
    summary = {}
    if sender:
        summary.update(sender.stats())
    if receiver:
        summary.update(receiver.stats())
    summary["complete"] = reached
    out.summary(summary)
    return 0 if reached else 1


def selftest():
    """Known answers from the page: the CRC check value and a round trip."""
    assert crc32(b"123456789") == 0xCBF43926
    f = encode_samples(7, 5, [(1, F_VARIANCE, 1700000000123456789, 2.5, 0.01)], 2, 3)
    assert f[:4] == b"DTWN" and len(f) == 20 + 32 + 4
    h, r = decode(f)
    assert h == {"version": 2, "type": 1, "source_id": 7, "seq": 5, "count": 1, "epoch": 3}
    assert r == [(1, 1, 1700000000123456789, 2.5, 0.01)]
    c = encode_commands(9, 0, [(5, 0, 1, 100, 300, 1234.5)])
    assert len(c) == 20 + 40 + 4 and decode(c)[1][0][2] == 1
    # version 3: the MAC of libsodium's crypto_generichash (keyed BLAKE2b-128),
    # the same known answer as tests/unit/test_udp_auth.c
    key = bytes(range(32))
    a = encode_samples(7, 5, [(1, F_VARIANCE, 1700000000123456789, 2.5, 0.01)], 3, 3, key)
    assert len(a) == 20 + 32 + 16
    assert a[-16:].hex() == "4bbc23494e7b085849d93c4a3f3f7da0", a[-16:].hex()
    assert decode(a, key)[1] == r
    for k in (None, bytes(32)):
        try:
            decode(a, k)
            raise AssertionError("a version 3 frame verified without its key")
        except WireError as e:
            assert e.reason == "bad_mac"
    bad = bytearray(c)
    bad[30] ^= 1
    for data, reason in ((c[:23], "short"), (b"X" + c[1:], "bad_magic"), (bytes(bad), "bad_crc"),
                         (c + b"\0", "trailing"), (c[:-1], "truncated")):
        try:
            decode(data)
            raise AssertionError("accepted a %s frame" % reason)
        except WireError as e:
            assert e.reason == reason, (e.reason, reason)
    print("selftest ok")
    return 0


def parser():
    p = argparse.ArgumentParser(
        prog="wire_client.py",
        description="Send samples to and receive commands from a dtwin twin over UDP "
                    "(the wire format of docs/wire.md). Standard library only.",
        epilog="The twin's source must map the sender's clock: with Unix-time or monotonic "
               "stamps give it \"clock\": {\"mode\": \"estimate\"} (docs/wire.md, Time). "
               "Exit status: 0 done, 1 --timeout before --until-commands/--count was "
               "reached, 2 usage.")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    def sending(sp):
        sp.add_argument("--to", type=endpoint, required=True, metavar="HOST:PORT",
                        help="the twin's UDP source (its \"bind\" and \"port\")")
        sp.add_argument("--source-id", type=bounded_int(1, U32), required=True,
                        help="our id, the source's \"source_id\" (1..2^32-1)")
        sp.add_argument("--sample", type=sample_spec, action="append", required=True,
                        metavar="CH=VALUE[:VAR]",
                        help="a record per frame: channel (the source mapping's \"channel\"), "
                             "value in the mapping's native unit, optional variance (native "
                             "unit squared; sets the variance flag). Repeat for more channels")
        sp.add_argument("--uncertain", action="store_true",
                        help="set the uncertain-quality flag on every record")
        sp.add_argument("--rate", type=positive, default=10.0, help="frames per second (10)")
        sp.add_argument("--time", type=time_spec, default="unix", metavar="unix|monotonic|NS",
                        help="t_source: Unix time in ns (default), this host's monotonic clock, "
                             "or explicit: NS for the first frame, + 1/rate per frame")
        sp.add_argument("--seq", type=bounded_int(0, U32), default=0,
                        help="seq of the first frame (0); +1 per frame, wraps at 2^32")
        sp.add_argument("--version", type=int, choices=(1, 2, 3), default=None,
                        help="frame version; default 3 with --key, else 2 with --epoch or "
                             "--state, else 1")
        sp.add_argument("--key", metavar="FILE",
                        help="the link's key (32 raw bytes, mode 0600, as dtwin keygen "
                             "writes it): send authenticated version 3 frames, for a source "
                             "with \"auth\": \"mac\"")
        g = sp.add_mutually_exclusive_group()
        g.add_argument("--epoch", type=bounded_int(0, U16), help="version 2 epoch to send")
        g.add_argument("--state", metavar="FILE",
                       help="boot counter file: the epoch is the stored one + 1 (mod 2^16), "
                            "0 when the file does not exist; written before the first frame")

    s = sub.add_parser("send", help="send sample frames",
                       description="Send sample frames at --rate until --count frames "
                                   "(default 1) or --duration seconds.")
    sending(s)
    s.add_argument("--bind", metavar="ADDR", help="local address to send from (any)")
    s.add_argument("--count", type=bounded_int(1, 1 << 62), help="frames to send")
    s.add_argument("--duration", type=positive, help="seconds to send for")
    s.add_argument("--json", action="store_true",
                   help="one JSON object per line (events, then a summary)")
    s.add_argument("--quiet", action="store_true", help="print the summary only")

    def receiving(sp, listen_help):
        sp.add_argument("--listen", type=endpoint, required=True, metavar="HOST:PORT",
                        help=listen_help)
        if not any(a.dest == "key" for a in sp._actions):
            sp.add_argument("--key", metavar="FILE",
                            help="the sink's key (32 raw bytes, mode 0600): accept only "
                                 "version 3 frames whose MAC verifies under it")
        sp.add_argument("--expect-source-id", type=bounded_int(1, U32),
                        help="reject command frames of another source_id (the sink's "
                             "\"source_id\")")
        sp.add_argument("--timeout", type=positive,
                        help="give up after this many seconds (exit 1 if the count was "
                             "not reached)")
        sp.add_argument("--json", action="store_true",
                        help="one JSON object per line (events, then a summary)")
        sp.add_argument("--quiet", action="store_true",
                        help="print only the listening port and the summary")

    r = sub.add_parser("recv", help="receive and verify command frames",
                       description="Receive command datagrams, verify them (length, fields, "
                                   "source_id, CRC or, with --key, MAC) and print each "
                                   "command.")
    receiving(r, "where the twin's UDP sink sends (its \"host\" and \"port\"); port 0 picks "
                 "a free one (printed)")
    r.add_argument("--count", type=bounded_int(1, 1 << 62),
                   help="stop after this many valid command datagrams")
    r.add_argument("--duration", type=positive, help="stop after this many seconds")

    b = sub.add_parser("run", help="send samples and receive commands on one socket",
                       description="Send sample frames from the --listen socket and receive "
                                   "the sink's commands on it, until --until-commands valid "
                                   "commands, --count frames, --duration or --timeout.")
    sending(b)
    receiving(b, "local socket: samples leave from it, commands arrive on it (the sink's "
                 "\"host\"/\"port\"); port 0 picks a free one (printed first)")
    b.add_argument("--until-commands", type=bounded_int(1, 1 << 62),
                   help="stop after this many valid command datagrams")
    b.add_argument("--count", type=bounded_int(1, 1 << 62),
                   help="frames to send (then keep receiving)")
    b.add_argument("--duration", type=positive, help="stop after this many seconds")
    b.add_argument("--wait-for-command", action="store_true",
                   help="send nothing until the first valid command datagram has arrived "
                        "(the twin is up and stepping)")

    sub.add_parser("selftest", help="check the CRC and codec against known answers")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    if args.cmd == "selftest":
        return selftest()
    if args.cmd == "send":
        args.timeout = None
    out = Out(args.json, args.quiet)
    try:
        return main_loop(args, out)
    except ValueError as e:  # e.g. explicit stamps run past int64
        print("wire_client: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
