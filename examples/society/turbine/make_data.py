#!/usr/bin/env python3
"""Writes the sensor logs of examples/society/turbine (deterministic: a fixed seed).

A 20 s run of a small gas turbine taking a load step at t = 8 s: the shaft slows
briefly and its governor brings it back, the compressor's discharge pressure and
the turbine inlet temperature rise with the fuel. Each sensor has its own rate and
noise, and the three logs are not sampled at the same instants.

usage: make_data.py [DIR]   (default: this script's directory)
"""
import math
import os
import random
import sys


def truth(t):
    """(p2 kPa, t2 K, t4 degC, speed rpm) at time t."""
    step = 0.0 if t < 8 else 1.0 - math.exp(-(t - 8) / 1.5)
    dip = 0.0 if t < 8 else (t - 8) * math.exp(-(t - 8) / 0.8)
    p2 = 1180.0 + 60.0 * step
    t2 = 640.0 + 12.0 * step
    t4 = 1090.0 + 85.0 * step
    speed = 12000.0 - 140.0 * dip
    return p2, t2, t4, speed


def write(path, header, rows):
    with open(path, "w", encoding="ascii") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join(r) + "\n")


def main(argv):
    out = argv[1] if len(argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    rng = random.Random(20240611)
    rows = []
    for k in range(200):  # compressor: 10 Hz, from 0.1 s
        t = 0.1 * (k + 1)
        p2, t2, _, _ = truth(t)
        rows.append(["%.3f" % t, "%.2f" % (p2 + rng.gauss(0, 3.0)),
                     "%.2f" % (t2 + rng.gauss(0, 1.5))])
    write(os.path.join(out, "compressor.csv"), ["time", "p2_kpa", "t2_k"], rows)
    rows = []
    for k in range(100):  # combustor: 5 Hz thermocouple, from 0.13 s
        t = 0.13 + 0.2 * k
        t4 = truth(t)[2]
        rows.append(["%.3f" % t, "%.1f" % (t4 + rng.gauss(0, 5.0))])
    write(os.path.join(out, "combustor.csv"), ["time", "tit_c"], rows)
    rows = []
    for k in range(400):  # shaft: 20 Hz tachometer, from 0.025 s
        t = 0.025 + 0.05 * k
        n = truth(t)[3]
        rows.append(["%.3f" % t, "%.1f" % (n + rng.gauss(0, 2.0))])
    write(os.path.join(out, "shaft.csv"), ["time", "speed_rpm"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
