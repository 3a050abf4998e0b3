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
