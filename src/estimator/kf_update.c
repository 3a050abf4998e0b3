/* The Kalman filter's vector update: Cholesky gain and Joseph form, with
 * the sequential double-double form when binary64 is not enough. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "../platform/internal.h"
#include "dtwin/linalg.h"
#include "../linalg/la_internal.h"
#include "kf_internal.h"

/* The vector update as m scalar ones: R = L D L' (L unit lower triangular,
 * D >= 0), so the rows L^-1 H with data L^-1 z have independent noise of
 * variances D and applying them one after the other is the same update in
 * exact arithmetic, with NIS the sum of theirs. Each is evaluated in
 * double-double (this path serves the cases binary64 could not). x and P
 * are restored if any fails or the gate (> 0) rejects the sum; res (or
 * NULL) receives the statistics. */
static int update_sequential(dt_kf *kf, size_t m, const double *z, const double *H,
                             const double *R, double gate, dt_kf_result *res)
{
    size_t n = kf->n;
    double *L = kf->L, *D = kf->rw, *Hw = kf->Hw, *zw = kf->zw;
    for (size_t j = 0; j < m; j++) {
        double d = R[j * m + j];
        for (size_t q = 0; q < j; q++)
            d -= L[j * m + q] * L[j * m + q] * D[q];
        if (d < -4.0 * (double)m * DBL_EPSILON * R[j * m + j])
            return DT_ENUMERIC; /* R is not positive semi-definite */
        D[j] = d > 0 ? d : 0;
        for (size_t i = j + 1; i < m; i++) {
            double v = R[i * m + j];
            for (size_t q = 0; q < j; q++)
                v -= L[i * m + q] * L[j * m + q] * D[q];
            /* a zero pivot of a PSD R has a zero column below it */
            if (D[j] == 0 &&
                fabs(v) > 4.0 * (double)m * DBL_EPSILON * sqrt(R[i * m + i] * R[j * m + j]))
                return DT_ENUMERIC;
            L[i * m + j] = D[j] > 0 ? v / D[j] : 0;
        }
    }
    for (size_t j = 0; j < m; j++) {
        zw[j] = z[j];
        memcpy(Hw + j * n, H + j * n, n * sizeof *Hw);
        for (size_t q = 0; q < j; q++) {
            zw[j] -= L[j * m + q] * zw[q];
            for (size_t i = 0; i < n; i++)
                Hw[j * n + i] -= L[j * m + q] * Hw[q * n + i];
        }
    }
    memcpy(kf->bx, kf->x, n * sizeof *kf->x);
    memcpy(kf->bP, kf->P, sq(n) * sizeof *kf->P);
    dt_kf_result one = {0, 0, 0, 0}, sum = {0, 0, 0, 0};
    int rc = DT_OK;
    for (size_t j = 0; j < m && rc == DT_OK; j++) {
        const double *h = Hw + j * n;
        double hx = 0;
        for (size_t i = 0; i < n; i++)
            hx += h[i] * kf->x[i];
        rc = dt__kf_scalar_core(kf, h, zw[j] - hx, D[j], 0, &one, 1);
        sum.nis += one.nis;
    }
    if (m == 1) {
        sum.innovation = one.innovation;
        sum.s = one.s;
    }
    sum.gated = rc == DT_OK && gate > 0 && sum.nis > gate;
    if (rc != DT_OK || sum.gated) {
        memcpy(kf->x, kf->bx, n * sizeof *kf->x);
        memcpy(kf->P, kf->bP, sq(n) * sizeof *kf->P);
    }
    if (res != NULL && rc == DT_OK)
        *res = sum;
    return rc;
}

int dt_kf_update(dt_kf *kf, size_t m, const double *z, const double *H, const double *R,
                 double gate, dt_kf_result *res)
{
    if (kf == NULL || z == NULL || H == NULL || R == NULL || m < 1 || m > MMAX || gate < 0 ||
        !dt__kf_finite_all(z, m) || !dt__kf_finite_all(H, m * kf->n) ||
        !dt__kf_finite_all(R, m * m))
        return DT_EINVAL;
    size_t n = kf->n;
    dt_mat_mul(m, n, n, H, kf->P, kf->HP);    /* H P      (m x n) */
    dt_mat_mul_bt(m, n, m, kf->HP, H, kf->S); /* H P H'   (m x m) */
    for (size_t i = 0; i < m * m; i++)
        kf->S[i] += R[i];
    dt_mat_symmetrize(m, kf->S);
    if (dt_chol(m, kf->S, kf->L) != DT_OK) /* S not PD in binary64: no factor of S needed */
        return update_sequential(kf, m, z, H, R, gate, res);
    for (size_t i = 0; i < m; i++) {
        double hx = 0;
        for (size_t j = 0; j < n; j++)
            hx += H[i * n + j] * kf->x[j];
        kf->y[i] = z[i] - hx;
    }
    dt_chol_solve(m, 1, kf->L, kf->y, kf->w);
    double nis = 0;
    for (size_t i = 0; i < m; i++)
        nis += kf->y[i] * kf->w[i];
    if (res != NULL) {
        res->nis = nis;
        res->innovation = m == 1 ? kf->y[0] : 0;
        res->s = m == 1 ? kf->S[0] : 0;
        res->gated = 0;
    }
    if (gate > 0 && nis > gate) {
        if (res != NULL)
            res->gated = 1;
        return DT_OK;
    }
    /* K' = S^-1 (H P), solved with the factor: no explicit inverse. */
    if (dt_chol_solve(m, n, kf->L, kf->HP, kf->Kt) != DT_OK)
        return DT_ENUMERIC;
    dt_mat_transpose(m, n, kf->Kt, kf->K);
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t j = 0; j < m; j++)
            s += kf->K[i * m + j] * kf->y[j];
        kf->xn[i] = kf->x[i] + s;
    }
    memcpy(kf->Pn, kf->P, sq(n) * sizeof *kf->P);
    dt_joseph(n, m, kf->Pn, kf->K, H, R, kf->jw);
    /* Kept when finite with every variance in [2^-27 (1 + w) P_ii, P_ii], the
     * scalar update's check with w summed over the rows (its error has the
     * same terms, row by row); otherwise the same update as m sequential
     * scalar ones, which keep the variances in [0, P_ii]. */
    if (!dt__kf_finite_all(kf->xn, n) || !dt__kf_finite_all(kf->Pn, sq(n)))
        return DT_ENUMERIC; /* x and P untouched */
    double w = 0;
    for (size_t q = 0; q < m; q++) {
        double h1 = 0, w2 = 0;
        for (size_t j = 0; j < n; j++) {
            double ah = fabs(H[q * n + j]);
            h1 += ah;
            w2 += ah * kf->P[j * n + j];
        }
        w += h1 * w2 / kf->S[q * m + q];
    }
    for (size_t i = 0; i < n; i++) {
        double d = kf->Pn[i * n + i], p = kf->P[i * n + i];
        if (!(d >= DT__KF_TRUST * (1 + w) * p && d <= p))
            return update_sequential(kf, m, z, H, R, 0, NULL); /* gated and res: as above */
    }
    dt__kf_swap(&kf->x, &kf->xn);
    dt__kf_swap(&kf->P, &kf->Pn);
    return DT_OK;
}
