#!/usr/bin/env python3
"""The truck platoon's runner and self-check.

    run.py PLATOON MOSQUITTO OUTDIR [--stages NAME,...] [--parallel N]

Starts mosquitto on a free loopback port, then for each link stage a
tests/tools/linkproxy.py in front of it and the host `platoon` (every
truck's connection goes through that stage's proxy; the host tells the
proxy, on its control port, to add the stage's delay and loss to what the
trucks publish once the platoon has formed). Stages run N at a time
(default 4), each with its own realm. Reads the hosts' `stage` lines,
writes OUTDIR/platoon_summary.csv, prints the figures and the self-check
lines, and exits 1 when a check fails. Every wait is bounded; the broker,
the proxies and the hosts are stopped on every path.
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "tools"))
import linkproxy  # noqa: E402

WAIT = 30
HOST_WAIT = 120  # one stage runs 17 s of platoon time, paced in real time
# name, added one-way delay (ms) on what the trucks publish, QoS 0 loss (%),
# the followers' gap policy ("age": the time gap grows with the belief's age
# and falls back past the budget; "fixed": 0.6 s whatever the age, the
# comparison for string stability)
STAGES = [("d0", 0, 0, "age"), ("d50", 50, 0, "age"), ("d100", 100, 0, "age"),
          ("d200", 200, 0, "age"), ("d400", 400, 0, "age"), ("d100l10", 100, 10, "age"),
          ("d100l30", 100, 30, "age"), ("f0", 0, 0, "fixed"), ("f200", 200, 0, "fixed"),
          ("f400", 400, 0, "fixed")]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start_broker(binary, d):
    for _ in range(5):
        port = free_port()
        conf = os.path.join(d, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write("persistence false\nlog_dest none\nsys_interval 0\nset_tcp_nodelay true\n"
                    "listener %d 127.0.0.1\nallow_anonymous true\n" % port)
        p = subprocess.Popen([binary, "-c", conf], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and p.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return p, port
            except OSError:
                time.sleep(0.05)
        stop(p)
    raise RuntimeError("mosquitto did not listen on a free port within %d s (5 tries)" % WAIT)


def stop(p):
    if p is not None and p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def parse_stage(line):
    w = line.split()
    d = {"name": w[1]}
    for kv in w[2:]:
        k, _, v = kv.partition("=")
        d[k] = float(v)
    return d


def run_wave(platoon, port, stages, out, seed):
    """Runs the stages at once; returns {name: figures} and their offset lines."""
    procs, proxies, res, offsets = [], [], {}, []
    try:
        for name, delay, loss, policy in stages:
            px = linkproxy.Child(str(port), extra=["--control", "0", "--seed", str(seed)], wait=WAIT)
            proxies.append(px)
            control = int(px.line("the control port").split()[1])
            cmd = [platoon, "--port", str(px.port), "--control", str(control), "--delay",
                   str(delay), "--loss", str(loss), "--policy", policy, "--stage", name, "--out", out, "--seed",
                   str(seed)]
            procs.append((name, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                 text=True)))
        deadline = time.monotonic() + HOST_WAIT
        for name, p in procs:
            try:
                so, se = p.communicate(timeout=max(1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise RuntimeError("stage %s: the host did not finish within %d s" % (name, HOST_WAIT))
            if p.returncode != 0:
                raise RuntimeError("stage %s: the host exited %d: %s" % (name, p.returncode, se.strip()))
            for line in so.splitlines():
                if line.startswith("stage "):
                    res[name] = parse_stage(line)
                elif line.startswith("offset "):
                    offsets.append(line)
            if name not in res:
                raise RuntimeError("stage %s: no figures in its output" % name)
        for px, (name, _, _, _) in zip(proxies, stages):
            st = px.stats()
            res[name]["lost_publish"] = st["lost_publish"]["c2s"]
    finally:
        for _, p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for px in proxies:
            px.close()
    return res, offsets


def check(name, ok, figures):
    print("self-check %s: %s (%s)" % (name, "PASS" if ok else "FAIL", figures))
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("platoon")
    ap.add_argument("mosquitto")
    ap.add_argument("outdir")
    ap.add_argument("--stages", default=",".join(s[0] for s in STAGES))
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    want = a.stages.split(",")
    stages = [s for s in STAGES if s[0] in want]
    if len(stages) != len(want) or not 1 <= a.parallel <= 8:
        print("run.py: stages are %s; --parallel 1..8" % ",".join(s[0] for s in STAGES))
        return 2
    os.makedirs(a.outdir, exist_ok=True)
    d = tempfile.mkdtemp(prefix="platoon-")
    broker = None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        broker, port = start_broker(a.mosquitto, d)
        res, offsets = {}, []
        for i in range(0, len(stages), a.parallel):
            r, o = run_wave(a.platoon, port, stages[i:i + a.parallel], a.outdir, a.seed)
            res.update(r)
            offsets += o
    except RuntimeError as e:
        print("run.py: %s" % e)
        return 1
    finally:
        stop(broker)
        shutil.rmtree(d, ignore_errors=True)
    return report(stages, res, offsets, a.outdir)


def report(stages, res, offsets, outdir):
    for line in offsets:
        print(line)
    cols = ["fixed", "delay_ms", "loss_pct", "lead_time_s", "last_fused_s", "last_own_s", "min_gap_m",
            "age1", "age2", "age3", "h1", "h2", "h3", "fallback_frames1", "fallback_frames2",
            "fallback_frames3", "fallback_entries3", "amp1", "amp2", "amp3", "amp_a1", "amp_a2", "amp_a3", "lost_publish",
            "fused_hazard_nees_dec", "fused_hazard_nees_dec_hi", "fused_hazard_nees_in95",
            "lww_hazard_nees_dec", "lww_hazard_nees_in95", "fused_hazard_rms_a",
            "lww_hazard_rms_a", "fused_hazard_rms_v", "lww_hazard_rms_v", "fused_pred_nees_dec", "fused_pred_nees_dec_hi",
            "fused_pred_nees_in95", "lww_pred_nees_dec", "lww_pred_nees_in95", "fused_pred_rms_a",
            "lww_pred_rms_a", "fused_pred_rms_v", "lww_pred_rms_v", "late_frames", "paused_s", "age_max"]
    with open(os.path.join(outdir, "platoon_summary.csv"), "w") as f:
        f.write("stage," + ",".join(cols) + "\n")
        for name, _, _, _ in stages:
            f.write(name + "," + ",".join("%g" % res[name].get(c, float("nan")) for c in cols) + "\n")
    print("stage     delay loss  lead_time  min_gap  age3   h3    fallback3  amp1  amp2  amp3  "
          "amp_a1 amp_a2 amp_a3 lost")
    for name, _, _, _ in stages:
        r = res[name]
        print("%-9s %5.0f %4.0f  %8.3f  %7.2f  %5.3f  %5.3f  %5d  %5.2f %5.2f %5.2f  %5.2f  %5.2f  "
              "%5.2f  %d"
              % (name, r["delay_ms"], r["loss_pct"], r["lead_time_s"], r["min_gap_m"], r["age3"],
                 r["h3"], r["fallback_frames3"], r["amp1"], r["amp2"], r["amp3"], r["amp_a1"],
                 r["amp_a2"], r["amp_a3"], r["lost_publish"]))
    ok = True
    # (a) lead time, on the nominal link
    r0 = res.get("d0") or res[stages[0][0]]
    ok &= check("lead time", r0["lead_time_s"] >= 0.2,
                "last truck: fused hazard deceleration below -2 m/s2 %.2f s after the obstacle "
                "brakes, its own sensors' predecessor deceleration %.2f s: %.2f s earlier"
                % (r0["last_fused_s"], r0["last_own_s"], r0["lead_time_s"]))
    # (b) consistency, and the error against last-writer-wins of the same
    # messages, at every stage: the fused estimate's NEES (mean over samples
    # 1 s apart) is not above the 97.5 % chi-square bound of its sample count
    # (the band the assertion rests on) and at least 80 % of the frames' NEES
    # are within the 95 % region (a floor, not the band: right after a
    # stage's delay step the estimated clocks absorb part of the added transit
    # and beliefs look a little younger than they are, which a loaded host
    # makes last longer; one loaded run saw 88 % there, unloaded runs 97 to
    # 100 %; last-writer-wins has 10 to 72 %); LWW's
    # mean NEES is above that bound (it claims the sender's covariance for a
    # value that has aged); the fused speed error is below 0.8 x LWW's (the
    # acceleration errors are printed: ageing keeps a random-walk
    # acceleration, so they differ only by what each filter blends in)
    c_ok = True
    figs = []
    for name, _, _, _ in stages:
        r = res[name]
        for g in ("hazard", "pred"):
            f = lambda k: r["%s_%s_%s" % (k.split(":")[0], g, k.split(":")[1])]
            g_ok = (f("fused:nees_dec") <= f("fused:nees_dec_hi") and f("fused:nees_in95") >= 0.8
                    and f("lww:nees_dec") > f("fused:nees_dec_hi")
                    and f("fused:rms_v") < 0.8 * f("lww:rms_v"))
            c_ok &= g_ok
            figs.append("%s %s: fused NEES %.2f (bound %.2f, %.1f %% of frames in the 95 %% region), "
                        "rms v %.3f a %.3f; LWW NEES %.1f (%.1f %%), rms v %.3f a %.3f%s"
                        % (name, g, f("fused:nees_dec"), f("fused:nees_dec_hi"),
                           100 * f("fused:nees_in95"), f("fused:rms_v"), f("fused:rms_a"),
                           f("lww:nees_dec"), 100 * f("lww:nees_in95"), f("lww:rms_v"),
                           f("lww:rms_a"), "" if g_ok else " <- FAIL"))
    ok &= check("consistency", c_ok, "; ".join(figs))
    # (c) the gap policy over the stages: along the loss-free stages 200 ms
    # apart (0, 200, 400 ms) the last truck's mean belief age and
    # its mean time gap both grow (lossy stages are printed: their ages
    # come in bursts, and the time gap falls slower than it rises); no gap
    # below the standstill distance in any stage; every stage where a belief
    # went past the budget counts fallback frames; the lossy stages lost
    # messages
    aged = [r for r in res.values() if not r["fixed"]]
    d_stages = sorted([r for r in aged if r["loss_pct"] == 0], key=lambda r: r["delay_ms"])
    steps = [r for r in d_stages if r["delay_ms"] in (0, 200, 400)]
    grows = len(steps) >= 2 and all(b["age3"] > a["age3"] and b["h3"] > a["h3"]
                                    for a, b in zip(steps, steps[1:]))
    min_gap = min(r["min_gap_m"] for r in res.values())
    d_safe = r0["d_safe_m"]
    for r in aged:
        r["fallback"] = sum(r["fallback_frames%d" % i] for i in (1, 2, 3))
    old = [r for r in aged if r["age_max"] > 0.35]
    falls = all(r["fallback"] > 0 for r in old)
    lossy = [r for r in aged if r["loss_pct"] > 0]
    ok &= check("gap policy", grows and min_gap >= d_safe and falls and len(old) > 0
                and all(r["lost_publish"] > 0 for r in lossy),
                "last truck's mean belief age -> time gap: %s (growing along %s); min gap "
                "%.2f m (standstill %.1f m); stages with beliefs past the 0.35 s budget %d, "
                "fallback frames (trucks 1-3) %s; QoS 0 beliefs lost by the proxy %s"
                % (", ".join("%s %.3f s -> %.3f s" % (r["name"], r["age3"], r["h3"])
                             for r in sorted(aged, key=lambda r: r["age3"])),
                   " < ".join(r["name"] for r in steps), min_gap, d_safe, len(old),
                   ", ".join("%s %d" % (r["name"], r["fallback"]) for r in old),
                   ", ".join("%s %d" % (r["name"], r["lost_publish"]) for r in lossy)))
    def amp(r):
        return max(r["amp1"], r["amp2"], r["amp3"])
    fixed = sorted([r for r in res.values() if r["fixed"]], key=lambda r: r["delay_ms"])
    stable = [r["delay_ms"] for r in d_stages if amp(r) <= 1.0]
    ok &= check("string stability", 0 in stable,
                "largest ||e_i|| / ||e_i-1|| (speed errors, trucks 1-3): age policy %s; fixed "
                "0.6 s gap %s; string stable with the age policy at delays %s ms"
                % (", ".join("%g ms %.2f" % (r["delay_ms"], amp(r)) for r in d_stages),
                   ", ".join("%g ms %.2f" % (r["delay_ms"], amp(r)) for r in fixed) or "not run",
                   ", ".join("%g" % x for x in stable)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
