/* Covariance growth without data, and the latency budget it implies. */
#include <math.h>
#include <string.h>

#include "dtwin/estimator.h"
#include "dtwin/linalg.h"

#define TAU_MIN 1e-9
#define TAU_MAX 1e9

/* P = Ad P0 Ad' + Qd, with t (n x n) scratch. */
static void grow(size_t n, const double *Ad, const double *Qd, const double *P0, double *P,
                 double *t)
{
    dt_mat_mul(n, n, n, Ad, P0, t);
    dt_mat_mul_bt(n, n, n, t, Ad, P);
    dt_mat_add(n, n, P, Qd, P);
    dt_mat_symmetrize(n, P);
}

int dt_cov_after(size_t n, const double *A, const double *Q, const double *P0, double tau,
                 double *P, double *work)
{
    if (n < 1 || n > DT_LA_MAX || !A || !Q || !P0 || !P || !work || !(tau >= 0) ||
        !isfinite(tau))
        return DT_EINVAL;
    double *Ad = work, *Qd = Ad + n * n, *t = Qd + n * n, *vw = t + n * n;
    int rc = dt_vanloan(n, A, Q, tau, Ad, Qd, vw);
    if (rc != DT_OK)
        return rc;
    grow(n, Ad, Qd, P0, P, t);
    return DT_OK;
}

double dt_bound_metric(size_t n, const dt_bound *b, const double *P)
{
    double s = 0;
    if (b->quadratic) {
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++)
                s += b->w[i] * P[i * n + j] * b->w[j];
    } else {
        for (size_t i = 0; i < n; i++)
            s += b->w[i] * P[i * n + i];
    }
    return s;
}

int dt_latency_budget(size_t n, const double *A, const double *Q, const double *P0,
                      const dt_bound *b, double *tau_max, double *work)
{
    if (n < 1 || n > DT_LA_MAX || !A || !Q || !P0 || !b || !b->w || !tau_max || !work ||
        !(b->limit > 0) || !isfinite(b->limit))
        return DT_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(b->w[i]) || (!b->quadratic && b->w[i] < 0))
            return DT_EINVAL;
    size_t nn = n * n;
    /* work: Ad Qd P t A2 Q2 (6 n^2), then Van Loan's scratch; the bisection
     * reuses everything after P for dt_cov_after's own work. */
    double *Ad = work, *Qd = Ad + nn, *P = Qd + nn, *t = P + nn, *A2 = t + nn, *Q2 = A2 + nn,
           *vw = Q2 + nn;
    if (dt_bound_metric(n, b, P0) > b->limit) {
        *tau_max = 0;
        return DT_OK;
    }
    /* Doubling: from (Ad, Qd) at tau, (Ad^2, Qd + Ad Qd Ad') is exact at 2 tau. */
    int rc = dt_vanloan(n, A, Q, TAU_MIN, Ad, Qd, vw);
    if (rc != DT_OK)
        return rc;
    double lo = 0, hi = -1;
    double tau = TAU_MIN;
    for (int k = 0; tau <= TAU_MAX && k < 80; k++, tau *= 2) { /* 1 ns .. 1e9 s: 60 doublings */
        grow(n, Ad, Qd, P0, P, t);
        double mtr = dt_bound_metric(n, b, P);
        if (!isfinite(mtr) || mtr > b->limit) {
            hi = tau;
            break;
        }
        lo = tau;
        dt_mat_mul(n, n, n, Ad, Ad, A2);
        grow(n, Ad, Qd, Qd, Q2, t);
        memcpy(Ad, A2, nn * sizeof *Ad);
        memcpy(Qd, Q2, nn * sizeof *Qd);
        if (!isfinite(dt_mat_norm1(n, n, Qd))) {
            hi = 2 * tau;
            break;
        }
    }
    if (hi < 0) {
        *tau_max = INFINITY;
        return DT_OK;
    }
    /* Bisection on [lo, hi] with a fresh Van Loan at each point. */
    while (hi - lo > 1e-7 * hi) {
        double mid = 0.5 * (lo + hi);
        rc = dt_cov_after(n, A, Q, P0, mid, P, t);
        double mtr = rc == DT_OK ? dt_bound_metric(n, b, P) : INFINITY;
        if (rc != DT_OK && rc != DT_ERANGE)
            return rc;
        if (!isfinite(mtr) || mtr > b->limit)
            hi = mid;
        else
            lo = mid;
    }
    *tau_max = lo;
    return DT_OK;
}

/* ---- the periodic steady state the filter reaches with its sensors ---- */

static uint64_t gcd64(uint64_t a, uint64_t b)
{
    while (b != 0) {
        uint64_t r = a % b;
        a = b;
        b = r;
    }
    return a;
}

/* Scalar update of the covariance alone, Joseph form expanded:
 * P' = (I - k h') P (I - k h')' + r k k' = P - k a' - a k' + s k k', a = P h,
 * s = h' a + r, k = a / s; symmetric by construction. */
static void cov_update(size_t n, double *P, const double *h, double r, double *a)
{
    double s = r;
    for (size_t i = 0; i < n; i++) {
        double v = 0;
        for (size_t j = 0; j < n; j++)
            v += P[i * n + j] * h[j];
        a[i] = v;
        s += h[i] * v;
    }
    if (!(s > 0) || !isfinite(s))
        return; /* nothing observed (h'Ph + r = 0): no information */
    for (size_t i = 0; i < n; i++) {
        double ki = a[i] / s;
        for (size_t j = 0; j < n; j++) {
            double kj = a[j] / s;
            P[i * n + j] += -ki * a[j] - a[i] * kj + s * ki * kj;
        }
    }
}

int dt_cov_periodic(size_t n, const double *A, const double *Q, const double *P0,
                    const dt_periodic_meas *rows, size_t m, const dt_bound *b, double *worst,
                    double *metric, double *work)
{
    if (n < 1 || n > DT_LA_MAX || !A || !Q || !P0 || !b || !b->w || !worst || !metric ||
        !work || (m > 0 && !rows) || m > DT_PERIODIC_MAX_ROWS)
        return DT_EINVAL;
    if (m == 0)
        return DT_EEMPTY;
    /* Periods on an integer grid: the step is their greatest common divisor,
     * coarsened (each period rounded up: fewer updates, a larger covariance,
     * a shorter budget) so that the longest period takes at most
     * DT_PERIODIC_MAX_STEPS steps. */
    uint64_t g = 0, tmax = 0;
    for (size_t j = 0; j < m; j++) {
        double p = rows[j].period_s;
        if (!(p >= 1e-9 && p <= 86400) || !(rows[j].r >= 0) || !isfinite(rows[j].r) ||
            rows[j].h == NULL)
            return DT_EINVAL;
        for (size_t i = 0; i < n; i++)
            if (!isfinite(rows[j].h[i]))
                return DT_EINVAL;
        uint64_t ns = (uint64_t)llround(p * 1e9);
        g = gcd64(g, ns);
        tmax = ns > tmax ? ns : tmax;
    }
    if (g == 0)
        return DT_EINVAL; /* unreachable: m >= 1 and every period >= 1 ns */
    if (tmax / g > DT_PERIODIC_MAX_STEPS)
        g = (tmax + DT_PERIODIC_MAX_STEPS - 1) / DT_PERIODIC_MAX_STEPS;
    uint64_t kmax = 0, lcm = 1, every[DT_PERIODIC_MAX_ROWS];
    for (size_t j = 0; j < m; j++) {
        uint64_t k = ((uint64_t)llround(rows[j].period_s * 1e9) + g - 1) / g;
        every[j] = k;
        kmax = k > kmax ? k : kmax;
        if (lcm <= 65536)
            lcm = lcm / gcd64(lcm, k) * k;
    }
    /* One cycle of the pattern when it is short, else 16 longest periods. */
    uint64_t win = lcm <= 65536 ? lcm : 16 * kmax;
    size_t nn = n * n;
    double *Ad = work, *Qd = Ad + nn, *P = Qd + nn, *t = P + nn, *a = t + nn, *vw = a + nn;
    int rc = dt_vanloan(n, A, Q, (double)g * 1e-9, Ad, Qd, vw);
    if (rc != DT_OK)
        return rc;
    memcpy(P, P0, nn * sizeof *P);
    /* the work is bounded: about 3e8 flops at most, whatever the periods */
    double per_step = 2.0 * (double)(n * nn) + (double)(m * nn) * 3.0;
    uint64_t max_steps = (uint64_t)(3e8 / per_step);
    if (max_steps < 8 * win)
        max_steps = 8 * win;
    double prev = -1, cur = -1;
    for (uint64_t s = 1; s <= max_steps; s++) {
        grow(n, Ad, Qd, P, P, t); /* grow reads P0 before writing P: t holds Ad P */
        int updated = 0;
        for (size_t j = 0; j < m; j++) {
            if (s % every[j] == 0) {
                cov_update(n, P, rows[j].h, rows[j].r, a);
                updated = 1;
            }
        }
        dt_mat_symmetrize(n, P);
        if (updated) {
            double v = dt_bound_metric(n, b, P);
            if (!isfinite(v))
                return DT_ERANGE;
            if (v > cur) {
                cur = v;
                memcpy(worst, P, nn * sizeof *P);
            }
        }
        if (s % win == 0) {
            if (cur >= 0 && prev >= 0 && fabs(cur - prev) <= 1e-9 * cur) {
                *metric = cur;
                return DT_OK;
            }
            if (s + win > max_steps) {
                /* not settled in the allowed work: still growing means no
                 * steady state in the bound's direction; shrinking (from a
                 * large P0) leaves an upper bound, which is on the safe side */
                if (cur > prev * (1 + 1e-6))
                    return DT_ERANGE;
                *metric = cur;
                return DT_OK;
            }
            prev = cur;
            cur = -1;
        }
    }
    *metric = prev;
    return prev >= 0 ? DT_OK : DT_ERANGE;
}
