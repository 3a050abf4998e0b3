#!/usr/bin/env python3
"""Reference posteriors for dt_kf_update_scalar (tests/unit/test_kf.c).

Writes scalar_ref.inc next to this file:  python3 gen_scalar_ref.py > scalar_ref.inc
(the scalar update's cases, and with KF_REF_VECTOR defined a few for the
vector update with two correlated measurements).

Each case is a prior (x, P), a measurement row h, a value z and a variance r.
The prior is built in binary64 (Python floats), printed exactly (shortest
round-trip repr), and checked positive definite at 80 digits. The posterior
    s = h P h' + r,  k = P h' / s,  x+ = x + k (z - h x),  P+ = P - k (P h')'
is evaluated with mpmath at 80 significant digits from those exact binary64
inputs and printed correctly rounded to binary64. Only mpmath and the standard
library are used (no numpy); the random numbers come from splitmix64 below, so
the output does not depend on Python's random module.

The ill-conditioned cases are the family of the tracker issue: states whose
standard deviations are 1e6 or 1e-6, correlations whose matrix has condition
1e14, r from 1e-20 up, and a random row h. Among them, the generator keeps
cases for which the scalar update as of commit 0eca406 (emulated below with
the same binary64 operations in the same order) gave a negative variance, so
each of them failed before the fix.
"""
import math
import sys

import mpmath as mp

mp.mp.dps = 80
MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.s = seed & MASK

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & MASK
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def uniform(self):  # (0, 1)
        return ((self.next() >> 11) + 0.5) * 2.0**-53

    def gauss(self):  # Box-Muller
        return math.sqrt(-2 * math.log(self.uniform())) * math.cos(2 * math.pi * self.uniform())


def correlated(rng, n, cond):
    """Q diag(lam) Q' with lam log-spaced from 1 to 1/cond, Q orthonormal (Gram-Schmidt)."""
    Q = []
    while len(Q) < n:
        v = [rng.gauss() for _ in range(n)]
        for q in Q:
            d = sum(v[i] * q[i] for i in range(n))
            v = [v[i] - d * q[i] for i in range(n)]
        nv = math.sqrt(sum(t * t for t in v))
        Q.append([t / nv for t in v])
    lam = [cond ** (-i / (n - 1)) for i in range(n)] if n > 1 else [1.0]
    return [[sum(Q[k][i] * lam[k] * Q[k][j] for k in range(n)) for j in range(n)] for i in range(n)]


def scaled_prior(C, d):
    n = len(d)
    P = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i, n):
            P[i][j] = P[j][i] = C[i][j] * d[i] * d[j]
    return P


def old_scalar_update(P, h, r):
    """The covariance of dt_kf_update_scalar at commit 0eca406: binary64, same order."""
    n = len(h)
    a = [0.0] * n
    for j in range(n):
        for i in range(n):
            a[i] += P[j][i] * h[j]
    s = 0.0
    for i in range(n):
        s += h[i] * a[i]
    s = r + s
    k = [a[i] / s for i in range(n)]
    g = [0.0] * n
    for j in range(n):
        for i in range(n):
            g[i] += (P[j][i] - k[i] * a[j]) * h[j]
    Pn = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i, n):
            Pn[i][j] = Pn[j][i] = (P[i][j] - k[i] * a[j]) - g[i] * k[j] + r * k[i] * k[j]
    return Pn


def exact(x, P, h, z, r):
    n = len(h)
    Pm = [[mp.mpf(v) for v in row] for row in P]
    hm = [mp.mpf(v) for v in h]
    a = [mp.fsum(Pm[i][j] * hm[j] for j in range(n)) for i in range(n)]
    s = mp.mpf(r) + mp.fsum(hm[i] * a[i] for i in range(n))
    y = mp.mpf(z) - mp.fsum(hm[i] * mp.mpf(x[i]) for i in range(n))
    xp = [mp.mpf(x[i]) + a[i] / s * y for i in range(n)]
    Pp = [[Pm[i][j] - a[i] * a[j] / s for j in range(n)] for i in range(n)]
    return xp, Pp


def exact_vector(x, P, H, z, R):
    """x+ and P+ = P - P H' S^-1 H P for m = 2, S = H P H' + R (80 digits)."""
    n = len(x)
    Pm = [[mp.mpf(v) for v in row] for row in P]
    Hm = [[mp.mpf(v) for v in row] for row in H]
    PH = [[mp.fsum(Pm[i][j] * Hm[q][j] for j in range(n)) for q in range(2)] for i in range(n)]
    S = mp.matrix([[mp.mpf(R[q][t]) + mp.fsum(Hm[q][i] * PH[i][t] for i in range(n))
                    for t in range(2)] for q in range(2)])
    Si = S ** -1
    K = [[mp.fsum(PH[i][t] * Si[t, q] for t in range(2)) for q in range(2)] for i in range(n)]
    y = [mp.mpf(z[q]) - mp.fsum(Hm[q][i] * mp.mpf(x[i]) for i in range(n)) for q in range(2)]
    xp = [mp.mpf(x[i]) + mp.fsum(K[i][q] * y[q] for q in range(2)) for i in range(n)]
    Pp = [[Pm[i][j] - mp.fsum(K[i][q] * PH[j][q] for q in range(2)) for j in range(n)]
          for i in range(n)]
    return xp, Pp


def positive_definite(P):
    try:
        mp.cholesky(mp.matrix([[mp.mpf(v) for v in row] for row in P]))
        return True
    except ZeroDivisionError:
        return False
    except ValueError:
        return False


def fmt(v):
    return repr(float(v))


cases = []
vcases = []


def add(name, x, P, h, z, r, note):
    assert positive_definite(P), name
    n = len(x)
    for i in range(n):
        for j in range(n):
            assert P[i][j] == P[j][i]
    xp, Pp = exact(x, P, h, z, r)
    old = old_scalar_update(P, h, r)
    old_min = min(old[i][i] for i in range(n))
    cases.append((name, n, x, P, h, z, r, xp, Pp, note, old_min))


def main():
    # The example, reconstructed (its prior was not given): standard
    # deviations 1e6 and 1e-6, correlation 1 - 2e-14 (condition of the
    # correlation matrix (1 + rho) / (1 - rho) = 1e14), r = 1e-20, and a row
    # chosen so the old update gives P00 = -1.30e-15 against +4.07e-18.
    rho = 1 - 2e-14
    add("issue", [1e6, 1e-6], [[1e12, rho], [rho, 1e-12]], [-0.04957, 5.86],
        -0.04957 * 1e6 + 5.86e-6 + 0.01, 1e-20,
        "the tracker issue's example (reconstructed)")

    rng = SplitMix64(20240611)

    def draw(n, big_states):
        C = correlated(rng, n, 1e14)
        if big_states == "one":
            big = int(rng.uniform() * n)
            d = [1e6 if i == big else 1e-6 for i in range(n)]
        else:
            d = [1e6 if rng.uniform() < 0.5 else 1e-6 for _ in range(n)]
        return scaled_prior(C, d), d, [True] * n

    def keep_failing(n, want, make, note):
        got = 0
        while got < want:
            P, d, measured = make()
            h = [rng.gauss() if measured[i] else 0.0 for i in range(n)]
            r = 10.0 ** (-20 + 10 * rng.uniform())
            x = [d[i] * rng.gauss() for i in range(n)]
            z = sum(h[i] * x[i] for i in range(n)) + math.sqrt(r) * rng.gauss()
            old = old_scalar_update(P, h, r)
            if min(old[i][i] for i in range(n)) >= 0 or not positive_definite(P):
                continue
            got += 1
            sys.stderr.write("n = %d: case %d\n" % (n, got))
            add("illcond_n%d_%d" % (n, got), x, P, h, z, r, note + ", r = %.3g" % r)

    # Standard deviations 1e6 or 1e-6 (n = 2: either; n = 3, 4: one state at
    # 1e6), correlation matrix Q diag(1 .. 1e-14) Q' (condition 1e14).
    keep_failing(2, 2, lambda: draw(2, "mixed"), "sd 1e6 or 1e-6, correlation condition 1e14")
    keep_failing(3, 2, lambda: draw(3, "one"), "sd 1e6 (one state) and 1e-6, correlation condition 1e14")
    keep_failing(4, 1, lambda: draw(4, "one"), "sd 1e6 (one state) and 1e-6, correlation condition 1e14")

    # n = 6 and 11 (a specialized kernel and the generic code): such a pair
    # placed at two random positions among states of a well-conditioned prior
    # (sd 0.5 .. 1.5, correlation condition 1e2), uncoupled from them, and a
    # row on the pair only (the other states' variances would dominate s).
    def embedded(n):
        P2, d2, _ = draw(2, "mixed")
        W = scaled_prior(correlated(rng, n - 2, 1e2), [0.5 + rng.uniform() for _ in range(n - 2)])
        p = int(rng.uniform() * n)
        q = (p + 1 + int(rng.uniform() * (n - 1))) % n
        rest = [i for i in range(n) if i not in (p, q)]
        P = [[0.0] * n for _ in range(n)]
        d = [1.0] * n
        for a, i in enumerate((p, q)):
            d[i] = d2[a]
            for b, j in enumerate((p, q)):
                P[i][j] = P2[a][b]
        for a, i in enumerate(rest):
            for b, j in enumerate(rest):
                P[i][j] = W[a][b]
        return P, d, [i in (p, q) for i in range(n)]

    keep_failing(6, 1, lambda: embedded(6), "an ill-conditioned pair among 4 well-conditioned states")
    keep_failing(11, 1, lambda: embedded(11), "an ill-conditioned pair among 9 well-conditioned states")

    # Well-conditioned priors: every path is accurate here.
    for n in (3, 6):
        C = correlated(rng, n, 1e2)
        d = [0.5 + rng.uniform() for _ in range(n)]
        P = scaled_prior(C, d)
        h = [rng.gauss() for _ in range(n)]
        x = [rng.gauss() for _ in range(n)]
        add("wellcond_n%d" % n, x, P, h, 0.3, 0.1, "correlation condition 1e2, r = 0.1")

    # A perfect measurement (r = 0) of one state of a correlated 3-state prior.
    C = correlated(rng, 3, 1e3)
    P = scaled_prior(C, [2.0, 0.5, 1.0])
    add("perfect_n3", [1.0, -2.0, 0.5], P, [0.0, 1.0, 0.0], -1.5, 0.0,
        "r = 0: the measured state's variance and covariances become 0")

    # Two correlated measurements at once (dt_kf_update, m = 2) on the issue's
    # prior and on two of the n = 3 family's: R's correlation 0.6.
    def addv(name, x, P, H, z, r0, r1, note):
        c = 0.6 * math.sqrt(r0 * r1)
        R = [[r0, c], [c, r1]]
        xp, Pp = exact_vector(x, P, H, z, R)
        vcases.append((name, len(x), x, P, H, z, R, xp, Pp, note))

    addv("vec_issue", [1e6, 1e-6], [[1e12, rho], [rho, 1e-12]],
         [[-0.04957, 5.86], [1.0, 0.0]], [-49569.98999414, 1000000.01], 1e-20, 1e-18,
         "the issue's prior, its row and a direct measurement of state 0")
    for t in range(2):
        P, d, _ = draw(3, "one")
        H = [[rng.gauss() for _ in range(3)] for _ in range(2)]
        x = [d[i] * rng.gauss() for i in range(3)]
        z = [sum(H[q][i] * x[i] for i in range(3)) for q in range(2)]
        addv("vec_n3_%d" % (t + 1), x, P, H, z, 10.0 ** (-20 + 10 * rng.uniform()),
             10.0 ** (-20 + 10 * rng.uniform()), "n = 3 family, random rows")

    out = sys.stdout
    out.write("/* Generated by tests/data/kf/gen_scalar_ref.py (python3 %s, mpmath %s): do not edit.\n"
              % (".".join(map(str, sys.version_info[:3])), mp.__version__))
    out.write(" * Priors are binary64 values printed exactly; the posteriors x+ and P+ were\n"
              " * computed from them with mpmath at 80 significant digits and are printed\n"
              " * correctly rounded to binary64. See the generator for the cases' family.\n"
              " * old_min_var: the smallest variance the scalar update of commit 0eca406\n"
              " * gave (binary64 emulation); negative means that case failed before the fix. */\n")
    out.write("#ifndef KF_REF_VECTOR /* the scalar update's cases */\n")
    for (name, n, x, P, h, z, r, xp, Pp, note, old_min) in cases:
        out.write("/* %s: %s; old_min_var %s */\n" % (name, note, fmt(old_min)))
        out.write("{\"%s\", %d, %s, %s,\n" % (name, n, fmt(z), fmt(r)))
        out.write(" {%s},\n" % ", ".join(fmt(v) for v in x))
        out.write(" {%s},\n" % ", ".join(fmt(v) for row in P for v in row))
        out.write(" {%s},\n" % ", ".join(fmt(v) for v in h))
        out.write(" {%s},\n" % ", ".join(fmt(v) for v in xp))
        out.write(" {%s}},\n" % ", ".join(fmt(v) for row in Pp for v in row))
    out.write("#else /* the vector update's cases: H (2 x n), z (2), R (2 x 2) */\n")
    for (name, n, x, P, H, z, R, xp, Pp, note) in vcases:
        out.write("/* %s: %s */\n" % (name, note))
        out.write("{\"%s\", %d,\n" % (name, n))
        out.write(" {%s},\n" % ", ".join(fmt(v) for v in x))
        out.write(" {%s},\n" % ", ".join(fmt(v) for row in P for v in row))
        out.write(" {%s},\n" % ", ".join(fmt(v) for row in H for v in row))
        out.write(" {%s},\n" % ", ".join(fmt(v) for v in z))
        out.write(" {%s},\n" % ", ".join(fmt(v) for row in R for v in row))
        out.write(" {%s},\n" % ", ".join(fmt(v) for v in xp))
        out.write(" {%s}},\n" % ", ".join(fmt(v) for row in Pp for v in row))
    out.write("#endif\n")


if __name__ == "__main__":
    main()
