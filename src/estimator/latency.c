/* Covariance growth without data, and the first time it breaks a bound: the
 * search both latency budgets use (dt_latency_budget from one covariance,
 * dt_periodic_budget from every posterior of the sensors' cycle).
 *
 * The bound's metric after tau without data is linear in the starting
 * covariance: metric(F P F' + Qd) = <F' W F, P> + metric(Qd), F = e^{A tau}.
 * So every starting covariance is checked at every point of a search for
 * n^2 flops, and what the search has to get right is where to look: doubling
 * tau finds *a* crossing (or an upper end) but an oscillating metric can
 * cross between doubling points (poles -0.01 +- 7.8j crossed at 0.155 s while
 * every 2^k ns probe passed), so the first crossing is searched on a grid
 * fine against the model's fastest time scale, over [0, the doubling's
 * crossing], or, when doubling finds none, up to a time after which no
 * crossing can happen (the certificate below). */
#include <math.h>
#include <string.h>

#include "dtwin/estimator.h"
#include "dtwin/linalg.h"
#include "../linalg/la_internal.h"
#include "latency_internal.h"

/* M = F' W F for the bound (W = diag(w), or w w' for the quadratic form). */
static void weight_after(size_t n, const dt_bound *b, const double *F, double *M, double *t)
{
    if (b->quadratic) {
        for (size_t j = 0; j < n; j++) { /* (F' w)_j */
            double v = 0;
            for (size_t i = 0; i < n; i++)
                v += F[i * n + j] * b->w[i];
            t[j] = v;
        }
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++)
                M[i * n + j] = t[i] * t[j];
        return;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double v = 0;
            for (size_t k = 0; k < n; k++)
                v += F[k * n + i] * b->w[k] * F[k * n + j];
            M[i * n + j] = v;
        }
}

static double inner(size_t n, const double *M, const double *P)
{
    double v = 0;
    for (size_t i = 0; i < n * n; i++)
        v += M[i] * P[i];
    return v;
}

/* The crossing of the bound by P left without data, bisected on (lo, hi]
 * (the metric is over the limit at hi) to 1e-7 relative; t: n x n, w:
 * DT_COV_AFTER_WORK(n). A covariance that overflows breaks the bound. */
static int bisect(size_t n, const double *A, const double *Q, const dt_bound *b,
                  const double *P, double lo, double hi, double *t, double *w, double *tau)
{
    while (hi - lo > 1e-7 * hi) {
        double mid = 0.5 * (lo + hi);
        int rc = dt_cov_after(n, A, Q, P, mid, t, w);
        double mv = rc == DT_OK ? dt_bound_metric(n, b, t) : INFINITY;
        if (rc != DT_OK && rc != DT_ERANGE)
            return rc;
        if (!isfinite(mv) || mv > b->limit)
            hi = mid;
        else
            lo = mid;
    }
    *tau = lo;
    return DT_OK;
}

/* The metric of P left without data for tau (INFINITY when it overflows). */
static double metric_after(size_t n, const double *A, const double *Q, const dt_bound *b,
                           const double *P, double tau, double *t, double *w)
{
    int rc = dt_cov_after(n, A, Q, P, tau, t, w);
    return rc == DT_OK ? dt_bound_metric(n, b, t) : INFINITY;
}

/* The search's work limits: grid steps, and evaluations of dt_cov_after in
 * the refinement of humps (a hump that grazes the bound every half period
 * cost 85 000 evaluations, 48 s at n = 32: found by a red-team pass). When
 * one is reached the search stops on the safe side: the budget is the time
 * it has verified, flagged as limited. */
typedef struct effort {
    double steps_left, evals_left;
    int limited;
} effort;

/* An upper estimate of the top of a hump sampled at x0 < x1 < x2 (y1 the
 * highest): the vertex of the parabola through the three, plus as much again
 * for what a parabola misses (a sampled sine's top is within 1e-3 of it at
 * this grid); the drop to the lower neighbour (a parabola's top is at most a
 * quarter of it above y1) if the three are not concave. */
static double hump_top(double x0, double x1, double x2, double y0, double y1, double y2)
{
    double d1 = x1 - x0, d2 = x2 - x1;
    double c = ((y2 - y1) / d2 - (y1 - y0) / d1) / (d1 + d2); /* p''/2 */
    if (!(c < 0))
        return y1 + (y1 - fmin(y0, y2));
    double slope = (y1 - y0) / d1 + c * d1; /* p'(x1) */
    return y1 - 2 * slope * slope / (4 * c);
}

/* The peak of the metric of P left without data on [a, c] (fa, fc: the
 * metric there; a hump inside), by golden sections until it breaks the bound,
 * or its estimated top (hump_top) stays below it, or to 1e-9 of c: a peak
 * that grazes the bound between grid points breaks it too (sampled 20 times
 * per radian, a sine's top is seen 1e-3 low). Its time in *at. */
static double peak(size_t n, const double *A, const double *Q, const dt_bound *b,
                   const double *P, double a, double c, double fa, double fc, double *t,
                   double *w, double *at, effort *ef)
{
    const double g = 0.6180339887498949;
    double x1 = c - g * (c - a), x2 = a + g * (c - a);
    double f1 = metric_after(n, A, Q, b, P, x1, t, w), f2 = metric_after(n, A, Q, b, P, x2, t, w);
    ef->evals_left -= 2;
    while (c - a > 1e-9 * c && f1 <= b->limit && f2 <= b->limit) {
        double top = f1 >= f2 ? hump_top(a, x1, x2, fa, f1, f2) : hump_top(x1, x2, c, f1, f2, fc);
        if (top <= b->limit)
            break; /* cannot reach it */
        if (ef->evals_left <= 0) {
            ef->limited = 1; /* undecided: taken as broken from a on */
            *at = a;
            return INFINITY;
        }
        ef->evals_left -= 1;
        if (f1 < f2) {
            a = x1;
            fa = f1;
            x1 = x2;
            f1 = f2;
            x2 = a + g * (c - a);
            f2 = metric_after(n, A, Q, b, P, x2, t, w);
        } else {
            c = x2;
            fc = f2;
            x2 = x1;
            f2 = f1;
            x1 = c - g * (c - a);
            f1 = metric_after(n, A, Q, b, P, x1, t, w);
        }
    }
    *at = f1 >= f2 ? x1 : x2;
    return fmax(f1, f2);
}

/* The same for a hump in the first step, from the metric y0 and its slope
 * s0 at 0 and y1 at h: the parabola through them, when its top is inside. */
static double start_top(double h, double y0, double s0, double y1)
{
    double c = (y1 - y0 - s0 * h) / (h * h);
    if (!(s0 > 0) || !(c < 0) || -s0 / (2 * c) >= h)
        return -INFINITY; /* no top inside: the next step sees it */
    return y0 - 2 * s0 * s0 / (4 * c);
}

/* The grid of the scan: steps h0 2^j, fine (h0) at the start where a fast
 * mode moves, then growing with t (at most t / 64: without oscillation the
 * metric is a sum of exponentials and polynomials, whose features at t are a
 * fair fraction of t wide, like a hump t^d e^{-a t}), never beyond hosc
 * (1/20 of the fastest oscillation's time scale). A stiff model (a =
 * -1e6/s next to -1e-3/s) needs 2e3 steps to 800 s instead of 3e11. */
typedef struct grid {
    double h0, hosc, H;
} grid;

/* May the step h double at time t? */
static int may_double(const grid *g, double h, double t)
{
    return 2 * h <= g->hosc && 128 * h <= t;
}

/* The earliest tau in [0, H] at which any posterior breaks the bound, on the
 * grid, refined by bisection; also whether one breaks it before its next
 * update. -1: none in [0, H]. The metric needs only the rows of F_t = e^{A t}
 * that the bound weights: G = W^(1/2)-rows of F_t (r of them), G_{t+h} = G_t
 * F(h), metric(F_t P F_t') = sum_r w_r g_r' P g_r, and metric(Qd(t + h)) =
 * metric(Qd(t)) + sum_r w_r g_r' Qd(h) g_r: r n^2 per posterior and step.
 * w: 6 n^2 + n + DT_COV_AFTER_WORK(n) doubles. */
static int scan(size_t n, const double *A, const double *Q, const dt_bound *b, size_t np,
                const double *posts, const double *gap_after, const grid *g, double *tau,
                int *between, effort *ef, double *w)
{
    size_t nn = n * n, r = 0;
    double *E = w, *F = E + nn, *Qd = F + nn, *G = Qd + nn, *Gn = G + nn, *t = Gn + nn,
           *wt = t + nn, *vw = wt + n;
    /* the weighted rows: each state with a weight, or the quadratic form's c */
    if (b->quadratic) {
        memcpy(G, b->w, n * sizeof *G);
        wt[r++] = 1;
    } else {
        for (size_t i = 0; i < n; i++)
            if (b->w[i] != 0) {
                memset(G + r * n, 0, n * sizeof *G);
                G[r * n + i] = 1;
                wt[r++] = b->w[i];
            }
    }
    double h = g->h0, at = 0, before = 0, q = 0;
    int eform;
    int rc = dt__vanloan_x(n, A, Q, h, E, Qd, &eform, vw);
    if (rc != DT_OK)
        return rc;
    *tau = -1;
    *between = 0;
    /* each posterior's metric at the last two grid points, for its humps,
     * and its slope at 0, metric(A P + P A' + Q), for a hump in the first
     * step */
    double m1[DT_PERIODIC_POSTS], m2[DT_PERIODIC_POSTS], d0[DT_PERIODIC_POSTS];
    for (size_t i = 0; i < np; i++) {
        m1[i] = dt_bound_metric(n, b, posts + i * nn);
        m2[i] = -INFINITY;
        dt_mat_mul(n, n, n, A, posts + i * nn, t);
        d0[i] = 2 * dt_bound_metric(n, b, t) + dt_bound_metric(n, b, Q);
    }
    for (int fresh = 1; at < g->H;) {
        if (may_double(g, h, at)) { /* (E, Qd) at 2 h, exactly */
            eform = dt__vl_double(n, E, Qd, t, Gn, eform);
            h *= 2;
            fresh = 1;
            continue;
        }
        if (fresh) { /* F = e^{A h} */
            memcpy(F, E, nn * sizeof *F);
            for (size_t i = 0; eform && i < n; i++)
                F[i * n + i] += 1;
            if (!isfinite(dt_mat_norm1(n, n, F)) || !isfinite(dt_mat_norm1(n, n, Qd)))
                return DT_ERANGE;
            fresh = 0;
        }
        for (size_t j = 0; j < r; j++) { /* q += metric(F_t Qd(h) F_t') */
            dt_mat_mul(n, n, 1, Qd, G + j * n, t);
            double v = 0;
            for (size_t c = 0; c < n; c++)
                v += G[j * n + c] * t[c];
            q += wt[j] * v;
        }
        dt_mat_mul(r, n, n, G, F, Gn); /* G_{t+h} = G_t F(h) */
        memcpy(G, Gn, r * n * sizeof *G);
        double lo = at, lo2 = before;
        if (--ef->steps_left < 0) {
            /* verified up to here and no further: the budget, on the safe
             * side (a grid coarser than the oscillation would alias it) */
            ef->limited = 1;
            *tau = at;
            return DT_OK;
        }
        before = at;
        at += h;
        for (size_t i = 0; i < np; i++) {
            const double *P = posts + i * nn;
            double v = q;
            for (size_t j = 0; j < r; j++) {
                dt_mat_mul(n, n, 1, P, G + j * n, t);
                double x = 0;
                for (size_t c = 0; c < n; c++)
                    x += G[j * n + c] * t[c];
                v += wt[j] * x;
            }
            double u1 = m1[i], u2 = m2[i], top = lo;
            m2[i] = u1;
            m1[i] = v;
            if (isfinite(v) && v <= b->limit) {
                /* a hump at the last grid point (or, in the first step, one
                 * the slope at 0 points to) whose top may reach the bound:
                 * its peak */
                double est = !isfinite(u2)           ? start_top(at - lo, u1, d0[i], v)
                             : u1 >= u2 && u1 >= v ? hump_top(lo2, lo, at, u2, u1, v)
                                                   : -INFINITY;
                double fa = isfinite(u2) ? u2 : u1;
                if (isfinite(u2))
                    lo = lo2;
                if (!(est > b->limit) ||
                    !(peak(n, A, Q, b, P, lo, at, fa, v, t, vw, &top, ef) > b->limit))
                    continue;
            } else {
                top = at;
            }
            /* over the bound at top: the first crossing is in (lo, top],
             * bisected; every such posterior, the earliest counts (a hump
             * left undecided by the work limit counts from lo) */
            double first = lo;
            if (top > lo) {
                rc = bisect(n, A, Q, b, P, lo, top, t, vw, &first);
                if (rc != DT_OK)
                    return rc;
            }
            if (*tau < 0 || first < *tau)
                *tau = first;
            if (gap_after != NULL && first < gap_after[i])
                *between = 1;
        }
        if (*tau >= 0)
            return DT_OK;
    }
    return DT_OK;
}

/* Largest eigenvalue of a symmetric S, bounded above by Gershgorin's discs. */
static double eig_upper(size_t n, const double *S)
{
    double g = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double r = S[i * n + i];
        for (size_t j = 0; j < n; j++)
            if (j != i)
                r += fabs(S[i * n + j]);
        g = r > g ? r : g;
    }
    return g;
}

/* 1 + the number of doublings of 1 ns the search tries: up to 1.15e9 s. */
#define DOUBLINGS 61

/* The model's time scales, in the coordinates z = D^-1 x where A is balanced
 * (Ab = D^-1 A D, an exact similarity: no mode changes): ||Ab||_1 >= every
 * |lambda| (the fastest mode), and Bendixson's bound ||(Ab - Ab') / 2||_1 >=
 * every |Im lambda| (the fastest oscillation; 0 for a symmetric or diagonal,
 * e.g. stiff, A). A companion form x'' = -w^2 x has ||A||_1 = w^2, its
 * balanced form w. */
typedef struct scales {
    double d[DT_LA_MAX], speed, osc;
} scales;

static void time_scales(size_t n, const double *A, double *M, scales *sc)
{
    for (size_t i = 0; i < n; i++)
        sc->d[i] = 1;
    const double *Ab = dt__balance(n, A, M, sc->d) ? M : A;
    sc->speed = dt_mat_norm1(n, n, Ab);
    sc->osc = 0;
    for (size_t j = 0; j < n; j++) {
        double c = 0;
        for (size_t i = 0; i < n; i++)
            c += fabs(Ab[i * n + j] - Ab[j * n + i]) / 2;
        sc->osc = fmax(sc->osc, c);
    }
}

/* The certificate. For t = T + s, s >= 0, and a posterior P, in the
 * balanced coordinates (P_z = D^-1 P D^-1, A_z = Ab, W_z = D W D):
 *   metric(P(t)) = <Z(t), P_z> + metric(Qd(t)),  Z(t) = e^{Ab't} W_z e^{Ab t},
 * so metric(P(t)) <= lambda_max(P_z) phi(t) + q_inf with phi(t) = tr Z(t)
 * and q_inf = metric(Qd(infinity)). Each term of phi is |e^{Ab't} v|^2, whose
 * derivative is at most 2 mu times itself, mu = max(0, lambda_max((Ab +
 * Ab') / 2)); hence phi(T + s) <= phi(T) + 2 mu int_T^inf phi = phi(T) + 2 mu
 * (y_inf - y(T)), with y(t) = int_0^t phi = metric(the noise integral of
 * Q = D^2). Where
 *   q_inf + lambda_max(P_z) (phi(T) + 2 mu (y_inf - y(T))) <= limit
 * no crossing happens after T, whatever the modes (oscillating, non-normal,
 * stiff). It needs only what the bound sees to settle (phi vanishes by
 * 1e9 s), not the whole model (the tank's level integrates, its inflow bound
 * still gets one). Balanced, mu is about the fastest mode's rate (an
 * oscillator's companion form has mu = w^2 / 2 unbalanced). The doubling
 * gives phi, y and q at 2^k ns; T is the first such point where it holds, or
 * -1. S: n x n scratch. */
static double certify(size_t n, const double *A, const scales *sc, const dt_bound *b,
                      size_t np, const double *posts, const double *phi, const double *y,
                      double q_inf, double y_inf, double phi_inf, double *S)
{
    if (!(phi_inf <= 1e-30 * phi[0]) || !isfinite(q_inf) || !isfinite(y_inf))
        return -1; /* what the bound sees has not settled by 1e9 s */
    const double *d = sc->d;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            S[i * n + j] = 0.5 * (A[i * n + j] * d[j] / d[i] + A[j * n + i] * d[i] / d[j]);
    double mu = fmax(0, eig_upper(n, S)), lam = 0;
    for (size_t k = 0; k < np; k++) {
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++)
                S[i * n + j] = posts[k * n * n + i * n + j] / (d[i] * d[j]);
        lam = fmax(lam, eig_upper(n, S));
    }
    /* q_inf and y_inf are the values at 1.15e9 s: the margin covers what
     * they still lack, and the rounding of the doubling */
    double room = b->limit * (1 - 1e-9) - q_inf * (1 + 1e-9);
    double tau = 1e-9;
    for (int k = 0; k < DOUBLINGS; k++, tau *= 2)
        if (lam * (phi[k] + 2 * mu * fmax(0, y_inf - y[k])) <= room)
            return tau;
    return -1;
}

/* A second certificate, for what never settles (an undamped oscillation):
 * when the balanced A's symmetric part is negative semi-definite, |e^{Ab t}|
 * <= 1 for every t, so metric(P(t)) <= lambda_max(P_z) tr(W_z) + q(t), and
 * q(t) <= q(1.15e9 s) for a PSD Q: below the limit there, never broken (to
 * 1.15e9 s, like the doubling). S: n x n scratch. */
static int contractive(size_t n, const double *A, const scales *sc, const dt_bound *b,
                       size_t np, const double *posts, double q_end, double *S)
{
    const double *d = sc->d;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            S[i * n + j] = 0.5 * (A[i * n + j] * d[j] / d[i] + A[j * n + i] * d[i] / d[j]);
    if (!(eig_upper(n, S) <= 0))
        return 0;
    double lam = 0, trw = 0;
    for (size_t k = 0; k < np; k++) {
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++)
                S[i * n + j] = posts[k * n * n + i * n + j] / (d[i] * d[j]);
        lam = fmax(lam, eig_upper(n, S));
    }
    for (size_t i = 0; i < n; i++)
        trw += b->quadratic ? b->w[i] * b->w[i] * d[i] * d[i] : b->w[i] * d[i] * d[i];
    return lam * trw + q_end * (1 + 1e-9) <= b->limit * (1 - 1e-9);
}

int dt__first_crossing(size_t n, const double *A, const double *Q, const dt_bound *b, size_t np,
                       const double *posts, const double *gap_after, double *tau,
                       int *between, int *limited, double *work)
{
    size_t nn = n * n;
    double *E = work, *F = E + nn, *Qt = F + nn, *Yt = Qt + nn, *M = Yt + nn, *t = M + nn,
           *vw = t + nn + n;
    *tau = INFINITY;
    *between = 0;
    *limited = 0;
    /* Doubling tau (1 ns .. 1.15e9 s, exact doubling of F = e^{A tau} and of
     * the noise integrals of Q and of D^2) over every posterior: an upper end
     * for the first crossing, and phi, y, q for the certificate. */
    double phi[DOUBLINGS] = {0}, y[DOUBLINGS] = {0}, hi = -1, s = 1e-9;
    size_t i_hi = 0;
    int eform = 1;
    scales sc;
    time_scales(n, A, M, &sc);
    memset(M, 0, nn * sizeof *M); /* D^2, the certificate's noise */
    for (size_t i = 0; i < n; i++)
        M[i * n + i] = sc.d[i] * sc.d[i];
    int rc = dt__vanloan_x(n, A, M, s, E, Yt, &eform, vw);
    if (rc == DT_OK)
        rc = dt__vanloan_x(n, A, Q, s, E, Qt, &eform, vw);
    if (rc == DT_ERANGE)
        hi = s; /* a mode so fast it overflows within 1 ns */
    else if (rc != DT_OK)
        return rc;
    for (int k = 0; hi < 0 && k < DOUBLINGS; k++, s *= 2) {
        memcpy(F, E, nn * sizeof *F); /* F = e^{A s} */
        for (size_t i = 0; eform && i < n; i++)
            F[i * n + i] += 1;
        weight_after(n, b, F, M, t);
        double q = dt_bound_metric(n, b, Qt);
        for (size_t i = 0; i < np && hi < 0; i++) {
            double v = inner(n, M, posts + i * nn) + q;
            if (!isfinite(v) || v > b->limit) {
                hi = s;
                i_hi = i;
            }
        }
        phi[k] = 0; /* tr(D F' W F D) */
        for (size_t i = 0; i < n; i++)
            phi[k] += M[i * n + i] * sc.d[i] * sc.d[i];
        y[k] = dt_bound_metric(n, b, Yt);
        eform = dt__vl_form(n, E, eform);
        dt__vl_double_q(n, E, Qt, t, M, eform);
        dt__vl_double_q(n, E, Yt, t, M, eform);
        dt__vl_double_x(n, E, t, eform);
        if (hi < 0 && !isfinite(dt_mat_norm1(n, n, Qt)))
            hi = 2 * s;
    }
    /* The first crossing lies in [0, hi]. Without one, in [0, the
     * certificate's T]; without a certificate either (what the bound sees
     * keeps oscillating, or settles slower than 1e9 s), 1000 time constants
     * of the fastest mode are scanned, which catches an undamped oscillation
     * within its first periods. With A = 0 the metric is linear in tau:
     * doubling is exact. */
    double speed = sc.speed, osc = sc.osc, H = hi;
    if (hi < 0) {
        memcpy(F, E, nn * sizeof *F);
        for (size_t i = 0; eform && i < n; i++)
            F[i * n + i] += 1;
        weight_after(n, b, F, M, t);
        double phi_inf = 0;
        for (size_t i = 0; i < n; i++)
            phi_inf += M[i * n + i] * sc.d[i] * sc.d[i];
        H = certify(n, A, &sc, b, np, posts, phi, y, dt_bound_metric(n, b, Qt),
                    dt_bound_metric(n, b, Yt), phi_inf, t);
        /* without one: never broken when the model cannot grow what the
         * bound sees; else the whole range the doubling covered is scanned
         * (an undamped oscillation next to a fast stable state crossed at
         * 4.5 s after the 1 s that 1000 time constants of the fast state
         * covered: found by a red-team pass) */
        if (H < 0 && speed > 0)
            H = contractive(n, A, &sc, b, np, posts, dt_bound_metric(n, b, Qt), t)
                    ? 0
                    : ldexp(1e-9, DOUBLINGS - 1);
        else if (H < 0)
            H = 0;
    }
    if (H > 0) {
        /* fine at 1/20 of the fastest time scale and never coarser than
         * 1/20 of the fastest oscillation (a coarser grid aliases it: a work
         * limit that coarsened it reported 998 s for a first crossing at
         * 153 s), within about 3e8 flops and 1e6 steps; the grid grows with
         * tau where nothing oscillates. Where the steps run out, the budget
         * is the time verified. */
        grid g = {speed > 0 ? 0.05 / speed : H / 64, osc > 0 ? 0.05 / osc : INFINITY, H};
        g.h0 = fmin(g.h0, g.hosc);
        double r = 0; /* the rows the bound weights (scan) */
        for (size_t i = 0; !b->quadratic && i < n; i++)
            r += b->w[i] != 0;
        r = b->quadratic ? 1 : r;
        double per = (double)(np + 2) * r * (double)nn;
        effort ef = {fmax(256.0, fmin(1e6, 3e8 / per)),
                     fmin(1e4, fmax(64.0, 3e8 / (60.0 * (double)(n * nn)))), 0};
        double first;
        int btw;
        rc = scan(n, A, Q, b, np, posts, gap_after, &g, &first, &btw, &ef, work);
        if (rc != DT_OK && rc != DT_ERANGE)
            return rc;
        *limited = ef.limited;
        if (rc == DT_OK && first >= 0) {
            *tau = first;
            *between = btw;
            return DT_OK;
        }
    }
    if (hi < 0)
        return DT_OK; /* never broken */
    /* doubling saw posterior i_hi cross at hi, the scan only reached just
     * below it (rounding) or could not run: bisect the last stretch */
    double lo;
    rc = bisect(n, A, Q, b, posts + i_hi * nn, H > 0 ? H * (1 - 1.0 / 64) : 0.5 * hi, hi, t,
                vw, &lo);
    if (rc != DT_OK)
        return rc;
    *tau = lo;
    *between = gap_after != NULL && lo < gap_after[i_hi];
    return DT_OK;
}

int dt_latency_budget(size_t n, const double *A, const double *Q, const double *P0,
                      const dt_bound *b, double *tau_max, double *work)
{
    if (n < 1 || n > DT_LA_MAX || !A || !Q || !P0 || !b || !b->w || !tau_max || !work ||
        !(b->limit > 0) || !isfinite(b->limit) || !dt__finite_n(n * n, A) ||
        !dt__finite_n(n * n, Q) || !dt__finite_n(n * n, P0) || !dt__finite_n(n, b->w))
        return DT_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!b->quadratic && b->w[i] < 0)
            return DT_EINVAL;
    if (dt_bound_metric(n, b, P0) > b->limit) {
        *tau_max = 0;
        return DT_OK;
    }
    if (!dt__psd(n, Q, work))
        return DT_EINVAL;
    int between, limited;
    return dt__first_crossing(n, A, Q, b, 1, P0, NULL, tau_max, &between, &limited, work);
}
