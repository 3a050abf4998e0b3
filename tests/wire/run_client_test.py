#!/usr/bin/env python3
"""A live twin and tools/wire_client.py, which was written from docs/wire.md alone.

    run_client_test.py DTWIN CLIENT TEMPLATE.json WORKDIR {estimate|fixed}

Starts the client first (it binds a free port for the twin's UDP sink and
prints it), writes a copy of the description with that port and a free port
for the UDP source, then starts `dtwin run --realtime --json`. The client
sends samples stamped with Unix time from the first command on, and stops
after a number of verified command datagrams; then the twin is stopped with
SIGTERM and its JSON summary read.

estimate: the source's clock is "estimate", as docs/wire.md recommends for an
  independent sender. The client runs twice with the same boot-counter file
  (a sender restart: epoch + 1, seq from 0 again). Asserts: samples accepted,
  none rejected (the future check among them), the estimator updated, the
  second session's samples accepted but not its first frame (unconfirmed),
  and every command datagram verified (CRC, fields), header seq from 0 and +1
  per datagram, record seq increasing, t_deadline - t_issued = the
  dispatcher's deadline.
fixed: the same with the default fixed clock: every Unix-time sample is
  rejected (the failure the page used to leave unexplained).

Nothing here depends on how fast the machine is: the steps wait for events
(a port printed, commands received) with generous timeouts, and the
assertions are about counts, never rates or durations.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

SOURCE_ID, SINK_ID, CHANNEL, SINK_CHANNEL = 7, 9, 1, 5
DEADLINE_NS = 300000000  # the description's dispatcher.deadline, 0.3 s
COMMANDS_PER_SESSION = 30
CLIENT_TIMEOUT = 120  # seconds; only a hung run gets near it
ATTEMPTS = 5          # fresh ports when the twin's port was taken meanwhile


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_client(client, source_port, listen_port, state):
    cmd = [sys.executable, client, "run", "--to", "127.0.0.1:%d" % source_port,
           "--listen", "127.0.0.1:%d" % listen_port, "--source-id", str(SOURCE_ID),
           "--expect-source-id", str(SINK_ID), "--sample", "%d=1500:100" % CHANNEL,
           "--rate", "20", "--time", "unix", "--state", state, "--wait-for-command",
           "--until-commands", str(COMMANDS_PER_SESSION), "--timeout", str(CLIENT_TIMEOUT),
           "--json", "--quiet"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return p


def client_port(p):
    """The first line a --json client prints names the port it bound."""
    line = p.stdout.readline()
    try:
        ev = json.loads(line)
        assert ev["event"] == "listening"
        return ev["port"]
    except (ValueError, KeyError, AssertionError):
        p.kill()
        fail("client did not report its port: %r %s" % (line, p.stderr.read()))


def finish_client(p, name):
    try:
        out, err = p.communicate(timeout=CLIENT_TIMEOUT + 30)
    except subprocess.TimeoutExpired:
        p.kill()
        fail("%s: the client hung" % name)
    lines = [json.loads(l) for l in out.splitlines() if l.strip()]
    summary = [l for l in lines if l.get("event") == "summary"]
    if p.returncode != 0 or not summary:
        fail("%s: client exit %d, stderr: %s, stdout: %s" % (name, p.returncode, err, out))
    s = summary[-1]
    print("%s: %s" % (name, json.dumps(s)), flush=True)
    return s


def check_commands(s, name, from_start):
    if s["commands"] < COMMANDS_PER_SESSION:
        fail("%s: only %d command datagrams" % (name, s["commands"]))
    if s["rejected"]:
        fail("%s: command datagrams failed verification: %s" % (name, s["rejected"]))
    if s["command_records"] != s["commands"]:
        fail("%s: %d records in %d datagrams (one command per datagram)"
             % (name, s["command_records"], s["commands"]))
    if from_start and s["header_seq_first"] != 0:
        fail("%s: the sink's first datagram has seq %s, not 0" % (name, s["header_seq_first"]))
    # loopback with an idle socket buffer loses nothing: the sink's header seq
    # is +1 per datagram
    if s["header_seq_gaps"] or s["header_seq_backwards"]:
        fail("%s: header seq not +1 per datagram (gaps %d, backwards %d)"
             % (name, s["header_seq_gaps"], s["header_seq_backwards"]))
    if s["record_seq_backwards"]:
        fail("%s: a command seq did not increase" % name)
    if s["deadline_minus_issued_ns"] != [DEADLINE_NS, DEADLINE_NS]:
        fail("%s: t_deadline - t_issued = %s ns, the dispatcher's deadline is %d ns"
             % (name, s["deadline_minus_issued_ns"], DEADLINE_NS))
    if s["send_errors"]:
        fail("%s: %d send errors" % (name, s["send_errors"]))


def main():
    if len(sys.argv) != 6 or sys.argv[5] not in ("estimate", "fixed"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    dtwin, client, template, work, clock = sys.argv[1:]
    os.makedirs(work, exist_ok=True)
    state = os.path.join(work, "boot_counter.json")
    desc_path = os.path.join(work, "twin.json")
    with open(template) as f:
        desc = json.load(f)
    if clock == "fixed":
        del desc["sources"][0]["clock"]  # the default: fixed, offset 0

    for attempt in range(ATTEMPTS):
        if os.path.exists(state):
            os.remove(state)
        source_port = free_udp_port()
        c1 = start_client(client, source_port, 0, state)
        sink_port = client_port(c1)
        desc["sources"][0]["port"] = source_port
        desc["sinks"][0]["port"] = sink_port
        with open(desc_path, "w") as f:
            json.dump(desc, f, indent=1)
        twin = subprocess.Popen([dtwin, "run", "--realtime", "--duration", "600", "--json",
                                 desc_path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        # wait for the first session, watching the twin: if another process took
        # the source port between our probe and the twin's bind, start again
        while c1.poll() is None and twin.poll() is None:
            time.sleep(0.05)
        if twin.poll() is not None:
            out, err = twin.communicate()
            c1.kill()
            c1.communicate()
            if "cannot listen" in err and attempt + 1 < ATTEMPTS:
                print("port %d taken meanwhile, retrying: %s" % (source_port, err.strip()))
                continue
            fail("the twin ended early (exit %d): %s %s" % (twin.returncode, out, err))
        break
    s1 = finish_client(c1, "session 1 (epoch %d)" % 0)
    check_commands(s1, "session 1", from_start=True)
    if s1["epoch"] != 0 or s1["version"] != 2:
        fail("session 1: expected version 2 frames of epoch 0")
    sessions = [s1]
    if clock == "estimate":
        # The sender restarts: a new boot, epoch + 1, seq from 0 again.
        c2 = start_client(client, source_port, sink_port, state)
        client_port(c2)
        s2 = finish_client(c2, "session 2 (a restart)")
        check_commands(s2, "session 2", from_start=False)
        if s2["epoch"] != 1 or s2["first_seq"] != 0:
            fail("session 2: expected epoch 1 from seq 0")
        sessions.append(s2)

    twin.send_signal(signal.SIGTERM)
    try:
        out, err = twin.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        twin.kill()
        fail("the twin did not stop on SIGTERM")
    if twin.returncode != 0:
        fail("dtwin run exit %d: %s %s" % (twin.returncode, out, err))
    try:
        st = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        fail("no JSON summary from dtwin run: %r %s" % (out, err))
    print("twin: " + json.dumps(st), flush=True)
    smp = st["samples"]
    sent = [s["records_sent"] for s in sessions]
    if clock == "fixed":
        rej = smp["rejected"]
        if smp["accepted"] != 0 or rej["future"] == 0 or rej["future"] != rej["total"]:
            fail("with a fixed clock, Unix-time samples should all be rejected (future): %s" % smp)
        print("ok: %d Unix-time samples rejected by a fixed clock as in the future, "
              "%d command datagrams verified" % (rej["future"], s1["commands"]))
        return 0
    if smp["accepted"] == 0 or st["estimator"]["updates"] == 0:
        fail("no sample reached the estimator: %s" % smp)
    if smp["rejected"]["total"] != 0:
        fail("%d samples rejected (%d in the future): %s"
             % (smp["rejected"]["total"], smp["rejected"]["future"], smp))
    # the restart's first frame waits for a second one to confirm it: refused
    src = st["adapters"]["sources"][0]
    udp = src["counters"]
    if (udp["frames_ok"] == 0 or udp["frames_rejected"] != 1 or udp["unconfirmed"] != 1 or
            udp["restarts"] != 1 or src["refused"] != 1):
        fail("the UDP source's counters: %s %s" % (src, udp))
    # Every frame of session 1 was sent while the twin ran (after its first
    # command), so more accepted than session 1 sent means session 2 got in;
    # the first frame after a restart is unconfirmed, never accepted.
    if not sent[0] < smp["accepted"] <= sent[0] + sent[1] - 1:
        fail("accepted %d: wanted more than session 1's %d and at most %d"
             % (smp["accepted"], sent[0], sent[0] + sent[1] - 1))
    if st["commands"]["sent"] == 0:
        fail("the twin sent no command")
    if not any(v > 0 for s in sessions for v in s["last_value"].values()):
        fail("every command was the safe value 0: the samples never reached the controller")
    print("ok: %d of %d samples accepted over a sender restart, %d command datagrams verified"
          % (smp["accepted"], sum(sent), sum(s["commands"] for s in sessions)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
