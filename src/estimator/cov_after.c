/* The covariance left without data (dt_cov_after), a bound's metric on a
 * covariance (dt_bound_metric), and the PSD test the budgets use: the pieces
 * the latency search in latency.c stands on. */
#include <math.h>
#include <string.h>

#include "dtwin/estimator.h"
#include "dtwin/linalg.h"
#include "../linalg/la_internal.h"
#include "latency_internal.h"

/* P = Ad P0 Ad' + Qd, with t (n x n) scratch. */
static void grow(size_t n, const double *Ad, const double *Qd, const double *P0, double *P,
                 double *t)
{
    dt_mat_mul(n, n, n, Ad, P0, t);
    dt_mat_mul_bt(n, n, n, t, Ad, P);
    dt_mat_add(n, n, P, Qd, P);
    dt_mat_symmetrize(n, P);
}

int dt__finite_n(size_t len, const double *v)
{
    for (size_t i = 0; i < len; i++)
        if (!isfinite(v[i]))
            return 0;
    return 1;
}

int dt_cov_after(size_t n, const double *A, const double *Q, const double *P0, double tau,
                 double *P, double *work)
{
    if (n < 1 || n > DT_LA_MAX || !A || !Q || !P0 || !P || !work || !(tau >= 0) ||
        !isfinite(tau) || !dt__finite_n(n * n, A) || !dt__finite_n(n * n, Q) ||
        !dt__finite_n(n * n, P0))
        return DT_EINVAL;
    double *Ad = work, *Qd = Ad + n * n, *t = Qd + n * n, *vw = t + n * n;
    /* dt_vanloan balances, then doubles from a short step: a fast stable mode
     * over a long tau is as fine as a slow one (the block exponential over
     * tau itself overflowed from 1 ms for a = -1e6/s) */
    int rc = dt_vanloan(n, A, Q, tau, Ad, Qd, vw);
    if (rc != DT_OK)
        return rc;
    grow(n, Ad, Qd, P0, P, t);
    return dt__finite_n(n * n, P) ? DT_OK : DT_ERANGE;
}

int dt__psd(size_t n, const double *M, double *S)
{
    if (!dt__symmetric(n, M))
        return 0;
    double scale = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(M[i * n + i] >= 0))
            return 0;
        scale = fmax(scale, M[i * n + i]);
    }
    /* LDL' elimination: pivots may be 0 (a rank-deficient Q) but not below
     * -1e-9 of the largest variance, and a zero pivot's column must vanish */
    const double tol = 1e-9 * scale;
    memcpy(S, M, n * n * sizeof *S);
    for (size_t k = 0; k < n; k++) {
        double d = S[k * n + k];
        if (d < -tol)
            return 0;
        if (d <= tol) {
            for (size_t j = k + 1; j < n; j++) {
                double o = S[j * n + k], sj = S[j * n + j];
                if (o * o > fmax(d, 0) * fmax(sj, 0) + tol * scale)
                    return 0;
            }
            continue;
        }
        for (size_t i = k + 1; i < n; i++) {
            double l = S[i * n + k] / d;
            for (size_t j = k + 1; j < n; j++)
                S[i * n + j] -= l * S[k * n + j];
        }
    }
    return 1;
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
