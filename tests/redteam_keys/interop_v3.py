#!/usr/bin/env python3
"""A version 3 sender and command receiver written from docs/wire.md alone,
against `dtwin run --realtime --record` (red team of authenticated frames).

Checks: the page's known answer; 60 authenticated sample frames all accepted
(frames_ok 60, samples accepted 60); every command datagram of the keyed sink
verifies under the sink's key (header, length, MAC); no 8 consecutive bytes
of either key, raw or in hex, in the twin's output or its flight log.

    tests/redteam_keys/interop_v3.py BUILD/tools/dtwin/dtwin
"""
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def mac(key, data):
    return hashlib.blake2b(data, digest_size=16, key=key).digest()


def known_answer():
    f = struct.pack("<IBBHIIHH", 0x4E575444, 3, 1, 0, 7, 5, 1, 3)
    f += struct.pack("<IIqdd", 1, 1, 1700000000123456789, 2.5, 0.01)
    return mac(bytes(range(32)), f).hex() == "4bbc23494e7b085849d93c4a3f3f7da0"


def main():
    dtwin = os.path.abspath(sys.argv[1])
    problems = [] if known_answer() else ["known answer"]
    with tempfile.TemporaryDirectory() as work:
        keys = os.path.join(work, "keys")
        os.mkdir(keys, 0o700)
        for name in ("plc", "drive"):
            subprocess.run([dtwin, "keygen", keys, name], check=True, stdout=subprocess.DEVNULL)
        key = open(os.path.join(keys, "plc.key"), "rb").read()
        dkey = open(os.path.join(keys, "drive.key"), "rb").read()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rx.bind(("127.0.0.1", 0))
        rx.setblocking(False)
        desc = json.load(open(os.path.join(ROOT, "tests/data/wire/udp_loop.json")))
        desc["keys"] = {"dir": "keys"}
        os.mkdir(os.path.join(work, "state"), 0o700)
        desc["sources"][0].update({"auth": "mac", "key": "plc", "port": port,
                                   "replay_state": "state/plc.replay"})
        desc["sinks"][0].update({"auth": "mac", "key": "drive", "port": rx.getsockname()[1],
                                 "replay_state": "state/drive.epoch"})
        path = os.path.join(work, "loop.json")
        json.dump(desc, open(path, "w"))
        log = os.path.join(work, "flight.log")
        tw = subprocess.Popen([dtwin, "run", "--realtime", "--duration", "4", "--json",
                               "--record", log, path],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(0.5)
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        good = bad = 0
        for seq in range(60):
            f = struct.pack("<IBBHIIHH", 0x4E575444, 3, 1, 0, 7, seq, 1, 4)
            f += struct.pack("<IIqdd", 1, 1, time.time_ns(), 2500.0, 100.0)
            tx.sendto(f + mac(key, f), ("127.0.0.1", port))
            time.sleep(0.05)
            while True:
                try:
                    d = rx.recv(65536)
                except BlockingIOError:
                    break
                _, ver, typ, _, sid, _, cnt, _ = struct.unpack_from("<IBBHIIHH", d)
                if (ver == 3 and typ == 2 and sid == 9 and len(d) == 20 + 40 * cnt + 16
                        and mac(dkey, d[:-16]) == d[-16:]):
                    good += 1
                else:
                    bad += 1
        out, err = tw.communicate(timeout=60)
        j = json.loads(out)
        c = j["adapters"]["sources"][0]["counters"]
        print("frames_ok", c["frames_ok"], "samples accepted", j["samples"]["accepted"],
              "commands verified", good, "bad", bad)
        if c["frames_ok"] != 60 or good == 0 or bad != 0:
            problems.append("interop")
        blobs = out + err + open(log, "rb").read()
        for k in (key, dkey):
            for i in range(0, 25):
                if k[i:i + 8] in blobs or k[i:i + 8].hex().encode() in blobs:
                    problems.append("key bytes in the output or flight log")
    print("problems:", problems or "none")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
