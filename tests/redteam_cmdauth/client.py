#!/usr/bin/env python3
"""A client of signed command records written from docs/security.md ("The
record" and the belief token's hashes) alone, with Python's standard library:
it rebuilds the records the C encoder made (tests/redteam_cmdauth/encode.c)
byte for byte and verifies them: a MAC record (keyed BLAKE2b-128), and an
Ed25519 record carrying a belief token (RFC 8032's reference verification,
slow but enough for two signatures). A bit flipped anywhere fails.

Usage: client.py ENCODE_EXECUTABLE"""
import hashlib
import struct
import subprocess
import sys

# ---- Ed25519 verification, RFC 8032 section 5.1 (reference arithmetic) ----
Q = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, Q - 2, Q) % Q
SQRT_M1 = pow(2, (Q - 1) // 4, Q)


def _recover_x(y, sign):
    xx = (y * y - 1) * pow(D * y * y + 1, Q - 2, Q) % Q
    x = pow(xx, (Q + 3) // 8, Q)
    if (x * x - xx) % Q:
        x = x * SQRT_M1 % Q
    if (x * x - xx) % Q or (x == 0 and sign):
        return None
    return Q - x if x & 1 != sign else x


def _add(p, q):
    a = (p[1] - p[0]) * (q[1] - q[0]) % Q
    b = (p[1] + p[0]) * (q[1] + q[0]) % Q
    c = 2 * p[3] * q[3] * D % Q
    d = 2 * p[2] * q[2] % Q
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % Q, g * h % Q, f * g % Q, e * h % Q)


def _mul(s, p):
    r = (0, 1, 1, 0)
    while s:
        if s & 1:
            r = _add(r, p)
        p = _add(p, p)
        s >>= 1
    return r


def _point(b):
    y = int.from_bytes(b, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    x = _recover_x(y, sign) if y < Q else None
    return None if x is None else (x, y, 1, x * y % Q)


_BY = 4 * pow(5, Q - 2, Q) % Q
_BASE = _point(_BY.to_bytes(32, "little"))


def ed25519_verify(pk, msg, sig):
    a, r = _point(pk), _point(sig[:32])
    s = int.from_bytes(sig[32:], "little")
    if a is None or r is None or s >= L:
        return False
    h = int.from_bytes(hashlib.sha512(sig[:32] + pk + msg).digest(), "little") % L
    lhs, rhs = _mul(s, _BASE), _add(r, _mul(h, a))
    return (lhs[0] * rhs[2] - rhs[0] * lhs[2]) % Q == 0 and \
        (lhs[1] * rhs[2] - rhs[1] * lhs[2]) % Q == 0


# ---- the record, from docs/security.md ----
MAGIC = 0x43535444
LIMIT = (1 << 62) - 1


def fingerprint_pk(pk):
    return hashlib.blake2b(pk, digest_size=8, key=b"dtwin key id v1").digest()


def fingerprint_mac(key):
    return hashlib.blake2b(b"dtwin key id v1", digest_size=8, key=key).digest()


def address(twin, signal):
    t, s = twin.encode(), signal.encode()
    return hashlib.blake2b(b"dtwin command address v1" + struct.pack("<II", len(t), len(s)) +
                           t + s, digest_size=16).digest()


def digest(x, p):
    b = b"dtwin belief digest v1" + struct.pack("<II", len(x), 1 if p else 0)
    b += struct.pack("<%dd" % len(x), *x)
    if p:
        b += struct.pack("<%dd" % len(p), *p)
    return hashlib.blake2b(b, digest_size=16).digest()


def token_message(est_id, t_data, seq, dig):
    return b"dtwin belief token v1".ljust(24, b"\0") + est_id + struct.pack("<qQ", t_data, seq) + dig


def body(alg, issuer, epoch, seq, t_issued, t_deadline, value, token=b""):
    b = struct.pack("<IBBH", MAGIC, 1, alg, 1 if token else 0) + issuer + address("plant", "valve")
    return b + struct.pack("<IIQqqd", epoch, 0, seq, t_issued, t_deadline, value) + token


def verify(rec, mac_key=None, pk=None, est_pk=None):
    """The checks of "What the twin checks" that need no state: format, tag, token."""
    magic, version, alg, flags = struct.unpack_from("<IBBH", rec)
    if magic != MAGIC or version != 1 or alg not in (1, 2) or flags & ~1:
        return False
    n = 72 + (104 if flags & 1 else 0)
    if len(rec) != n + (64 if alg == 1 else 16) or struct.unpack_from("<I", rec, 36)[0] != 0:
        return False
    if alg == 2:
        ok = hashlib.blake2b(rec[:n], digest_size=16, key=mac_key).digest() == rec[n:]
    else:
        ok = ed25519_verify(pk, rec[:n], rec[n:])
    if ok and flags & 1:
        t = rec[72:176]
        t_data, seq = struct.unpack_from("<qQ", t, 8)
        ok = t[:8] == fingerprint_pk(est_pk) and \
            ed25519_verify(est_pk, token_message(t[:8], t_data, seq, t[24:40]), t[40:104])
    return ok


def main():
    out = subprocess.run([sys.argv[1]], check=True, capture_output=True, text=True).stdout
    got = dict(line.split(" ", 1) for line in out.splitlines())
    key = bytes.fromhex(got["mac_key"])
    pk, est_pk = bytes.fromhex(got["planner_pk"]), bytes.fromhex(got["est_pk"])
    fails = 0

    def check(what, cond):
        nonlocal fails
        print("%s %s" % ("ok" if cond else "FAIL", what))
        fails += 0 if cond else 1

    check("MAC key fingerprint", fingerprint_mac(key).hex() == got["mac_id"])
    check("planner key fingerprint", fingerprint_pk(pk).hex() == got["planner_id"])
    check("estimator key fingerprint", fingerprint_pk(est_pk).hex() == got["est_id"])
    mine = body(2, fingerprint_mac(key), 2**32 - 1, 2**64 - 1, -LIMIT, LIMIT, -0.375)
    mine += hashlib.blake2b(mine, digest_size=16, key=key).digest()
    check("MAC record (88 bytes) byte for byte", mine.hex() == got["mac_record"] and len(mine) == 88)
    theirs = bytes.fromhex(got["signed_record"])
    dig = digest([1.5, -2.0], [1, 0.1, 0.1, 2])
    tok_head = fingerprint_pk(est_pk) + struct.pack("<qQ", -7, 42) + dig
    mine = body(1, fingerprint_pk(pk), 3, 99, -LIMIT, -LIMIT + 500000000, 0.125,
                tok_head + theirs[72 + 40:72 + 104])
    check("Ed25519 record with a token (240 bytes): every signed byte",
          len(theirs) == 240 and mine == theirs[:176])
    check("MAC record verifies", verify(bytes.fromhex(got["mac_record"]), mac_key=key))
    check("Ed25519 record and its token verify", verify(theirs, pk=pk, est_pk=est_pk))
    for bit in (0, 8 * 64, 8 * 100, 8 * 200):  # magic, value, token, signature
        flipped = bytearray(theirs)
        flipped[bit // 8] ^= 1 << (bit % 8)
        check("bit %d flipped: refused" % bit, not verify(bytes(flipped), pk=pk, est_pk=est_pk))
    print("client: %d failure(s)" % fails)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
