#!/usr/bin/env python3
"""Reference values for test_linalg's hard-case tests (issue classes 3 and 4):
Van Loan pairs (Ad, Qd) and first crossings of a covariance bound, computed
at 80 significant digits with mpmath 1.3 from the eigendecomposition of A, a
route independent of the library's (balanced Pade / Taylor series and exact
doublings; a grid scan and bisection).

    python3 tests/data/ref/gen_refs.py      # rewrites the two .txt files here

Every input is a double (written with repr, read back exactly by strtod), so
each reference is the exact answer for the inputs the test passes, rounded to
20 digits. For a diagonalizable A = V diag(l) V^-1:

    e^{A t}   = V diag(e^{l t}) V^-1
    Qd(t)     = V [Qt_kl (e^{(l_k + l_l) t} - 1) / (l_k + l_l)] V^T,
                Qt = V^-1 Q V^-T
    P(t)      = e^{A t} P0 e^{A' t} + Qd(t)

and a bound's metric (sum_i w_i P_ii, or w' P w) is an exponential sum
m(t) = c + b t + sum g_kl e^{(l_k + l_l) t}. Its first crossing of the limit
is found by a scan fine against the fastest oscillation and decay (in
floating point, only to locate), then every sign change of m - limit and
every local maximum of m is refined in mpmath; the scan ends where the
exponential terms' envelope can no longer reach the limit.
"""
import cmath
import math
import os
import sys

import mpmath
from mpmath import mp

mp.dps = 80
HERE = os.path.dirname(os.path.abspath(__file__))


def mat(rows):
    return mp.matrix([[mp.mpf(float(x)) for x in r] for r in rows])


def eig(A):
    ev, V = mp.eig(A)
    n = A.rows
    for i in range(n):
        for j in range(i):
            if abs(ev[i] - ev[j]) < mp.mpf(10) ** -30 * (1 + abs(ev[i])):
                sys.exit("repeated eigenvalue: the eigendecomposition route needs distinct ones")
    return ev, V, mp.inverse(V)


def phi(s, t):
    """(e^{s t} - 1) / s, t when s = 0."""
    return t if s == 0 else mp.expm1(s * t) / s


def vanloan(A, Q, t):
    n = A.rows
    ev, V, Vi = eig(A)
    Qt = Vi * Q * Vi.T
    D = mp.diag([mp.exp(l * t) for l in ev])
    X = mp.matrix(n, n)
    for k in range(n):
        for l in range(n):
            X[k, l] = Qt[k, l] * phi(ev[k] + ev[l], t)
    Ad = V * D * Vi
    Qd = V * X * V.T
    return [[mp.re(Ad[i, j]) for j in range(n)] for i in range(n)], \
           [[mp.re(Qd[i, j]) for j in range(n)] for i in range(n)]


class Metric:
    """m(t) = c + b t + sum_k g_k e^{s_k t} for a bound on P(t)."""

    def __init__(self, A, Q, P0, w, quadratic):
        n = A.rows
        ev, V, Vi = eig(A)
        P0t = Vi * P0 * Vi.T
        Qt = Vi * Q * Vi.T
        # metric(V X V^T) = sum_kl X_kl cw_kl
        if quadratic:
            u = [sum(w[i] * V[i, k] for i in range(n)) for k in range(n)]
            cw = [[u[k] * u[l] for l in range(n)] for k in range(n)]
        else:
            cw = [[sum(w[i] * V[i, k] * V[i, l] for i in range(n)) for l in range(n)]
                  for k in range(n)]
        self.c, self.b, self.terms = mp.mpf(0), mp.mpf(0), []
        for k in range(n):
            for l in range(n):
                s = ev[k] + ev[l]
                a = P0t[k, l] * cw[k][l]
                q = Qt[k, l] * cw[k][l]
                if s == 0:
                    self.c += mp.re(a)
                    self.b += mp.re(q)
                else:
                    self.terms.append((s, a + q / s))
                    self.c -= mp.re(q / s)
        self.fterms = [(complex(s), complex(g)) for s, g in self.terms]
        self.fc, self.fb = float(self.c), float(self.b)

    def __call__(self, t):  # exact
        t = mp.mpf(t)
        return self.c + self.b * t + mp.re(sum(g * mp.exp(s * t) for s, g in self.terms))

    def d(self, t):
        t = mp.mpf(t)
        return self.b + mp.re(sum(g * s * mp.exp(s * t) for s, g in self.terms))

    def f(self, t):  # floating point, for locating only
        return self.fc + self.fb * t + sum(g * cmath.exp(s * t) for s, g in self.fterms).real

    def fd(self, t):
        return self.fb + sum(g * s * cmath.exp(s * t) for s, g in self.fterms).real


def bisect(fn, lo, hi, want_sign_at_hi):
    """The point in (lo, hi] where fn changes sign (fn(hi) has want_sign)."""
    lo, hi = mp.mpf(lo), mp.mpf(hi)
    for _ in range(300):
        mid = (lo + hi) / 2
        if (fn(mid) > 0) == want_sign_at_hi:
            hi = mid
        else:
            lo = mid
        if hi - lo <= mp.mpf(10) ** -40 * hi:
            break
    return hi


def first_crossing(m, limit, t_cap=1e9):
    """The first t >= 0 with m(t) > limit, or None when m stays <= limit."""
    L = mp.mpf(float(limit))
    if m(0) > L:
        return mp.mpf(0)
    fast = max([abs(s) for s, _ in m.fterms] + [0.0])
    osc = max([abs(s.imag) for s, _ in m.fterms] + [0.0])
    growing = m.fb > 0 or any(s.real > 0 for s, _ in m.fterms)
    h0 = 1.0 / (200 * fast) if fast > 0 else 1.0
    hosc = 2 * math.pi / (200 * osc) if osc > 0 else math.inf
    t, h = 0.0, min(h0, hosc)
    fl = float(limit)
    while t < t_cap:
        # past the transients, can anything still cross?
        if not growing and t > 0:
            env = sum(abs(g) * math.exp(s.real * t) for s, g in m.fterms)
            if m.fc + env < fl * (1 - 1e-12) and m.fc < fl:
                return None
        t1 = t + h
        a, b = m.f(t) - fl, m.f(t1) - fl
        if b > 0 or (m.fd(t) > 0 and m.fd(t1) < 0):
            # a sign change, or a local maximum that may poke above: exactly
            if m(t1) > L:
                return bisect(lambda x: m(x) - L, t, t1, True)
            if m.fd(t) > 0 and m.fd(t1) < 0:
                tm = bisect(m.d, t, t1, False)
                if m(tm) > L:
                    return bisect(lambda x: m(x) - L, t, tm, True)
        t = t1
        h = min(hosc, max(h0, t / 2000))
    return None


def num(x):
    return repr(float(x))


def ref(x):
    return mp.nstr(mp.mpf(x), 20, min_fixed=-5, max_fixed=5)


def rows(M):
    return " ".join(num(x) for r in M for x in r)


# ---- the cases ----

def osc(z, w):
    """x'' + 2 z x' + (w^2 + z^2) x = noise: poles -z +- w j."""
    return [[0.0, 1.0], [-(w * w + z * z), -2 * z]]


def scaled(B, d):
    """D B D^-1 with D = diag(d): the same modes, badly scaled entries."""
    n = len(B)
    return [[B[i][j] * d[i] / d[j] for j in range(n)] for i in range(n)]


def scaled_q(Qb, d):
    n = len(Qb)
    return [[Qb[i][j] * d[i] * d[j] for j in range(n)] for i in range(n)]


def diag(v):
    return [[v[i] if i == j else 0.0 for j in range(len(v))] for i in range(len(v))]


def chain6():
    """6 coupled oscillators, the filter's kind of model (test_linalg's series
    test), with steps of ||A dt||_1 = 0.01 .. 8."""
    n = 6
    A = [[0.0] * n for _ in range(n)]
    for i in range(0, n - 1, 2):
        A[i][i + 1] = 1.0
        A[i + 1][i] = -(1.0 + 0.7 * i)
        A[i + 1][i + 1] = -0.3
        if i + 2 < n:
            A[i + 1][i + 2] = 0.2
    Q = diag([0.5 if i % 2 else 0.01 for i in range(n)])
    na = 0.0
    for j in range(n):
        c = 0.0
        for i in range(n):
            c += abs(A[i][j])
        na = max(na, c)
    return A, Q, [t / na for t in [0.01, 0.1, 0.5, 1.0, 2.5, 8.0]]


D2, D3 = [1e6, 1e-6], [1e6, 1.0, 1e-6]
A6, Q6, DT6 = chain6()
VANLOAN = [
    ("chain6", A6, Q6, [1.0] * 6, DT6),
    # name, A, Q, the scaling d that makes A well scaled (D^-1 A D), dts
    ("badly_scaled_2", scaled([[-1.0, 2.0], [-1.5, -3.0]], D2),
     scaled_q([[1.0, 0.2], [0.2, 0.5]], D2), D2, [0.7, 5.0]),
    ("badly_scaled_3", scaled([[-0.5, 3.0, 0.0], [-3.0, -0.5, 1.0], [0.2, 0.0, -2.0]], D3),
     scaled_q([[1.0, 0.0, 0.1], [0.0, 2.0, 0.0], [0.1, 0.0, 0.3]], D3), D3, [0.3, 4.0]),
    ("stiff_coupled", [[-1e6, 1e3], [0.5, -1e-3]], [[1.0, 0.0], [0.0, 1e-3]], [1.0, 1.0],
     [1e-3, 10.0, 1000.0]),
    ("stiff_oscillator", [[-1e6, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, -60.8401, -0.02]],
     diag([1.0, 0.0, 0.5]), [1.0, 1.0, 1.0], [0.05, 100.0]),
    ("stiff_diag_12", diag([-1e12, -0.5]), [[1.0, 0.3], [0.3, 2.0]], [1.0, 1.0],
     [1e-9, 2.0, 1e4]),
    ("growing", [[0.5, 1.0], [0.0, -2.0]], [[0.1, 0.0], [0.0, 1.0]], [1.0, 1.0], [1.0, 100.0]),
]

def graze(A, Q, P0, w, quad, rel):
    """A limit rel below the metric's first local maximum: crossed only within
    a window about sqrt(rel) of the oscillation's period wide."""
    m = Metric(mat(A), mat(Q), mat(P0), [mp.mpf(float(x)) for x in w], quad)
    osc = max(abs(s.imag) for s, _ in m.fterms)
    h, t = 2 * math.pi / (400 * osc), 0.0
    while not (m.fd(t) > 0 and m.fd(t + h) <= 0):
        t += h
    return float(m(bisect(m.d, t, t + h, False)) * (1 - rel))


BUDGETS = [
    # name, A, Q, P0, w, quadratic, limit
    # the oscillator: poles -0.01 +- 7.8j, bound var(x0) <= 0.873;
    # every 2^k ns probe passes, the first crossing is near 0.155 s
    ("osc_issue", osc(0.01, 7.8), [[0.0, 0.0], [0.0, 0.02]], diag([0.001, 60.5]),
     [1.0, 0.0], 0, 0.873),
    # the same with the steady state above the limit: the doubling's crossing
    # is late, the first one is an early peak
    ("osc_above", osc(0.05, 3.0), [[0.0, 0.0], [0.0, 4.0]], diag([0.0, 15.0]),
     [1.0, 0.0], 0, 1.4),
    # a later peak crosses first: the velocity's variance rises at first
    ("osc_velocity", osc(0.02, 12.0), [[0.0, 0.0], [0.0, 1.0]], [[2.0, 0.0], [0.0, 0.0]],
     [0.0, 1.0], 0, 250.0),
    # a quadratic form across an oscillator with a correlated start
    ("osc_quadratic", osc(0.03, 5.0), [[0.0, 0.0], [0.0, 0.2]], [[0.5, 1.2], [1.2, 9.0]],
     [1.0, 0.3], 1, 2.12),
    # two oscillators (5 and 5.3 rad/s) out of phase: their sum's variance
    # grows with the beat, crossing near 9 s, between the 2^k ns probes
    ("beats", [[0.0, 1.0, 0.0, 0.0], [-25.0, -0.01, 0.0, 0.0],
               [0.0, 0.0, 0.0, 1.0], [0.0, 0.0, -28.09, -0.01]],
     diag([0.0, 0.001, 0.0, 0.001]),
     [[0.3, 0.0, -0.3, 0.0], [0.0, 0.0, 0.0, 0.0], [-0.3, 0.0, 0.3, 0.0], [0.0, 0.0, 0.0, 0.0]],
     [1.0, 0.0, 1.0, 0.0], 1, 0.9),
    # undamped, no noise: the metric is periodic (no certificate)
    ("undamped", osc(0.0, 2.0), diag([0.0, 0.0]), diag([0.2, 4.0]), [1.0, 0.0], 0, 0.9),
    # a non-normal hump that comes back down below the limit
    ("hump", [[-0.5, 20.0], [0.0, -0.6]], diag([0.0, 0.01]), diag([0.01, 1.0]),
     [1.0, 0.0], 0, 150.0),
    # the first peak grazes the limit (1e-7 above it, for 8e-5 s)
    ("osc_graze", osc(0.01, 7.8), [[0.0, 0.0], [0.0, 0.02]], diag([0.001, 60.5]),
     [1.0, 0.0], 0, graze(osc(0.01, 7.8), [[0.0, 0.0], [0.0, 0.02]], diag([0.001, 60.5]),
                          [1.0, 0.0], 0, 1e-7)),
    # never crossed: the oscillator's peak stays 1 % below the limit
    ("osc_never", osc(0.01, 7.8), [[0.0, 0.0], [0.0, 0.02]], diag([0.001, 60.5]),
     [1.0, 0.0], 0, 1.005),
    # class 4: stiff. A = diag(-1e6, -1e-3), trace <= 400: 804.72 s
    ("stiff_diag", diag([-1e6, -1e-3]), diag([1.0, 1.0]), diag([0.0, 0.0]),
     [1.0, 1.0], 0, 400.0),
    # the tank with a fast decoupled state (-10/s, -1e12/s): its level budget
    # from the tank's P0 is the tank's own
    ("tank", [[0.0, 0.000111], [0.0, -0.01]], diag([1e-8, 0.5]), diag([1e-4, 4.0]),
     [1.0, 0.0], 0, 0.0025),
    ("tank_fast10", [[0.0, 0.000111, 0.0], [0.0, -0.01, 0.0], [0.0, 0.0, -10.0]],
     diag([1e-8, 0.5, 1.0]), diag([1e-4, 4.0, 1.0]), [1.0, 0.0, 0.0], 0, 0.0025),
    ("tank_fast1e12", [[0.0, 0.000111, 0.0], [0.0, -0.01, 0.0], [0.0, 0.0, -1e12]],
     diag([1e-8, 0.5, 1.0]), diag([1e-4, 4.0, 1.0]), [1.0, 0.0, 0.0], 0, 0.0025),
    # stiff and coupled, the bound on the slow state
    ("stiff_coupled", [[-1e6, 1e3], [0.5, -1e-3]], diag([1.0, 1e-3]), diag([0.0, 0.1]),
     [0.0, 1.0], 0, 0.5),
    # stiff next to a lightly damped oscillator, bound on the oscillator
    ("stiff_osc", [[-1e6, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, -60.8401, -0.02]],
     diag([1.0, 0.0, 0.02]), diag([0.0, 0.001, 60.5]), [0.0, 1.0, 0.0], 0, 0.873),
    # badly scaled (entries 1e12 and 1e-12): an oscillator in odd units
    ("badly_scaled_osc", scaled(osc(0.05, 3.0), [1e6, 1e-6]),
     scaled_q([[0.0, 0.0], [0.0, 4.0]], [1e6, 1e-6]), scaled_q(diag([0.0, 15.0]), [1e6, 1e-6]),
     [1e-12, 0.0], 0, 1.4),
]


def main():
    head = ("# Generated by tests/data/ref/gen_refs.py with mpmath %s at %d digits"
            " (eigendecomposition of A); do not edit, rerun it.\n" % (mpmath.__version__, mp.dps))
    with open(os.path.join(HERE, "vanloan_ref.txt"), "w") as f:
        f.write(head)
        f.write("# case <name> <n> <dt>, then A, Q (inputs, exact doubles), d (the\n"
                "# scaling D = diag(d) with D^-1 A D well scaled, for measuring errors) and\n"
                "# the references Ad = e^{A dt}, Qd = int_0^dt e^{As} Q e^{A's} ds, row-major\n")
        for name, A, Q, d, dts in VANLOAN:
            n = len(A)
            for dt in dts:
                Ad, Qd = vanloan(mat(A), mat(Q), mp.mpf(dt))
                f.write("case %s %d %s\nA %s\nQ %s\nd %s\nAd %s\nQd %s\n" % (
                    name, n, num(dt), rows(A), rows(Q), " ".join(num(x) for x in d),
                    " ".join(ref(x) for r in Ad for x in r),
                    " ".join(ref(x) for r in Qd for x in r)))
    with open(os.path.join(HERE, "budget_ref.txt"), "w") as f:
        f.write(head)
        f.write("# case <name> <n>, then A, Q, P0, w (inputs, exact doubles), quadratic,\n"
                "# limit and the reference tau: the first time the bound's metric of\n"
                "# P(tau) = e^{A tau} P0 e^{A' tau} + int_0^tau e^{As} Q e^{A's} ds\n"
                "# exceeds limit (inf: never)\n")
        for name, A, Q, P0, w, quad, limit in BUDGETS:
            n = len(A)
            m = Metric(mat(A), mat(Q), mat(P0), [mp.mpf(float(x)) for x in w], quad)
            tau = first_crossing(m, limit)
            print("%-18s tau = %s" % (name, "inf" if tau is None else mp.nstr(tau, 12)))
            f.write("case %s %d\nA %s\nQ %s\nP0 %s\nw %s\nquadratic %d\nlimit %s\ntau %s\n" % (
                name, n, rows(A), rows(Q), rows(P0), " ".join(num(x) for x in w), quad,
                num(limit), "inf" if tau is None else ref(tau)))


if __name__ == "__main__":
    main()
