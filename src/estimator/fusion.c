/* Remote beliefs: ageing a belief under its sender's continuous model, and
 * fusing two beliefs of one state (covariance intersection, or the
 * independent information sum). Pure functions on the caller's scratch; only
 * linalg underneath. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "dtwin/error.h"
#include "dtwin/fusion.h"
#include "dtwin/linalg.h"
#include "../linalg/la_internal.h"

static int finite_all(size_t cnt, const double *v)
{
    for (size_t i = 0; i < cnt; i++)
        if (!isfinite(v[i]))
            return 0;
    return 1;
}

/* Positive semi-definite to rounding: the correlation matrix
 * C = D^-1/2 M D^-1/2 (D = diag(M)) plus 4 (n + 1) eps I has a Cholesky
 * factor. A zero variance needs a zero row (any covariance with it makes M
 * indefinite); the scaling keeps variances of 1e-150 next to 1e+150 apart
 * from the test. C uses n^2 doubles of scratch. M finite and symmetric. */
static int psd(size_t n, const double *M, double *C)
{
    const double tau = 4.0 * (double)(n + 1) * DBL_EPSILON;
    for (size_t i = 0; i < n; i++)
        if (!(M[i * n + i] >= 0))
            return 0;
    for (size_t i = 0; i < n; i++) {
        double si = sqrt(M[i * n + i]);
        for (size_t j = 0; j < n; j++) {
            double sj = sqrt(M[j * n + j]), m = M[i * n + j];
            if (i == j)
                C[i * n + j] = 1.0 + tau;
            else if (si == 0 || sj == 0) {
                if (m != 0)
                    return 0;
                C[i * n + j] = 0;
            } else
                C[i * n + j] = m / si / sj; /* two divisions: si sj may overflow */
        }
    }
    return dt_chol(n, C, C) == DT_OK;
}

/* Cholesky factor of a covariance that must be positive definite to working
 * precision: dt_chol, and then every pivot L_ii^2 above 4 (n + 1) eps of
 * the diagonal entry A_ii it came from. A singular matrix (a correlation of
 * exactly 1) can otherwise pass with a pivot made of rounding, and its
 * inverse would be rounding error times 1e16. L may alias A. */
static int pd_factor(size_t n, const double *A, double *L)
{
    double diag[DT_FUSION_MAX];
    for (size_t i = 0; i < n; i++)
        diag[i] = A[i * n + i];
    if (dt_chol(n, A, L) != DT_OK)
        return DT_ENUMERIC;
    const double tau = 4.0 * (double)(n + 1) * DBL_EPSILON;
    for (size_t i = 0; i < n; i++)
        if (!(L[i * n + i] * L[i * n + i] > tau * diag[i]))
            return DT_ENUMERIC;
    return DT_OK;
}

/* ---- ageing ---- */

int dt_belief_age(size_t n, const double *x, const double *P, const double *A,
                  const double *Q, double dt, double *x_out, double *P_out, double *work)
{
    if (n < 1 || n > DT_FUSION_MAX || !x || !P || !A || !Q || !x_out || !P_out || !work)
        return DT_EINVAL;
    if (!(dt >= 0) || !isfinite(dt))
        return DT_EINVAL;
    size_t nn = n * n;
    if (!finite_all(n, x) || !finite_all(nn, P) || !finite_all(nn, A) || !finite_all(nn, Q))
        return DT_ENUMERIC;
    double *Phi = work, *Qd = Phi + nn, *T = Qd + nn, *Pn = T + nn, *xn = Pn + nn;
    double *vw = xn + n;
    if (!dt__symmetric(n, P) || !dt__symmetric(n, Q) || !psd(n, P, T) || !psd(n, Q, T))
        return DT_ENUMERIC;
    if (dt == 0) {
        memmove(x_out, x, n * sizeof *x);
        memmove(P_out, P, nn * sizeof *P);
        return DT_OK;
    }
    int rc = dt_vanloan(n, A, Q, dt, Phi, Qd, vw);
    if (rc != DT_OK)
        return rc; /* DT_ERANGE: Phi or Qd overflows */
    /* The filter's order (kf_predict_cov): T = Phi P, then Pn = Qd + T Phi'
     * on the upper triangle, mirrored. */
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t j = 0; j < n; j++)
            s += Phi[i * n + j] * x[j];
        xn[i] = s;
    }
    dt__mul(n, n, n, Phi, P, T);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i; j < n; j++) {
            double s = Qd[i * n + j];
            for (size_t k = 0; k < n; k++)
                s += T[i * n + k] * Phi[j * n + k];
            Pn[i * n + j] = Pn[j * n + i] = s;
        }
    if (!finite_all(n, xn) || !finite_all(nn, Pn))
        return DT_ERANGE;
    /* A variance that rounding left negative is 0 to the accuracy there is,
     * and so are its covariances (dt_kf_predict's rule). */
    for (size_t i = 0; i < n; i++)
        if (Pn[i * n + i] < 0)
            for (size_t j = 0; j < n; j++)
                Pn[i * n + j] = Pn[j * n + i] = 0;
    memcpy(x_out, xn, n * sizeof *xn);
    memcpy(P_out, Pn, nn * sizeof *Pn);
    return DT_OK;
}

/* ---- fusion: shared checks ---- */

/* The arguments' numbers: finite, symmetric; then the power of two 2^-e that
 * brings the largest variance of either to [1, 2) (CI and the information
 * sum are equivariant under P -> c P with x unchanged, and a power of two
 * scales exactly), and the scaled copies in Sa, Sb. */
static int fuse_prepare(size_t n, const double *xa, const double *Pa, const double *xb,
                        const double *Pb, double *Sa, double *Sb, int *e)
{
    size_t nn = n * n;
    if (!finite_all(n, xa) || !finite_all(n, xb) || !finite_all(nn, Pa) ||
        !finite_all(nn, Pb))
        return DT_ENUMERIC;
    if (!dt__symmetric(n, Pa) || !dt__symmetric(n, Pb))
        return DT_ENUMERIC;
    double big = 0;
    for (size_t i = 0; i < n; i++)
        big = fmax(big, fmax(Pa[i * n + i], Pb[i * n + i]));
    if (!(big > 0))
        return DT_ENUMERIC; /* no positive variance: not positive definite */
    *e = ilogb(big);
    for (size_t i = 0; i < nn; i++) {
        Sa[i] = ldexp(Pa[i], -*e);
        Sb[i] = ldexp(Pb[i], -*e);
    }
    return DT_OK;
}

/* Inverse of a symmetric positive definite matrix from its factor L:
 * Z = (L L')^-1, symmetrized. */
static int chol_inverse(size_t n, const double *L, double *Z)
{
    (void)dt_mat_identity(n, Z);
    int rc = dt_chol_solve(n, n, L, Z, Z);
    if (rc == DT_OK)
        (void)dt_mat_symmetrize(n, Z);
    return rc;
}

/* ---- covariance intersection ---- */

typedef struct ci_ctx {
    size_t n;
    dt_ci_criterion crit;
    const double *Ia, *Ib; /* scaled information matrices */
    const double *S;       /* |Ia| + |Ib| entrywise: the derivative's error scale */
    double *L, *Z;         /* Cholesky factor of Y(w), and Y(w)^-1 */
} ci_ctx;

/* At w: Y = w Ia + (1 - w) Ib, its inverse Z (= P(w), scaled), and the
 * objective's derivative g with an estimate of its rounding error:
 * det (log det P = -log det Y): g = -tr(Z D); trace: g = -tr(Z D Z), with
 * D = Ia - Ib. The error bound takes |D| <= |Ia| + |Ib| entrywise. */
static int ci_eval(ci_ctx *c, double w, double *g, double *gtol)
{
    size_t n = c->n, nn = n * n;
    for (size_t i = 0; i < nn; i++)
        c->L[i] = w * c->Ia[i] + (1.0 - w) * c->Ib[i];
    if (dt_chol(n, c->L, c->L) != DT_OK || chol_inverse(n, c->L, c->Z) != DT_OK ||
        !finite_all(nn, c->Z))
        return DT_ENUMERIC;
    const double *Z = c->Z;
    double s = 0, err = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double zij = Z[i * n + j];
            if (c->crit == DT_CI_DET) {
                s += zij * (c->Ia[i * n + j] - c->Ib[i * n + j]);
                err += fabs(zij) * c->S[i * n + j];
            } else {
                /* (Z D)_ij and (|Z| S)_ij, then the sum with Z_ji = Z_ij */
                double t = 0, u = 0;
                for (size_t k = 0; k < n; k++) {
                    double zik = Z[i * n + k];
                    t += zik * (c->Ia[k * n + j] - c->Ib[k * n + j]);
                    u += fabs(zik) * c->S[k * n + j];
                }
                s += t * zij;
                err += u * fabs(zij);
            }
        }
    *g = -s;
    *gtol = 8.0 * (double)(n + 2) * DBL_EPSILON * err;
    return isfinite(*g) ? DT_OK : DT_ENUMERIC;
}

/* 2^-40: the bisection's bracket on w. */
#define CI_STEPS 40

/* The search of dt_ci_fuse on ctx c: the w in [0, 1] where the convex
 * objective's derivative changes sign. lo_open: Y(0) may be singular (the
 * observation does not see every state): its objective is then infinite
 * and w = 0 is never the minimum. The objective is convex, its derivative
 * increasing: an endpoint is the minimum when the derivative points out of
 * [0, 1] there. */
static int ci_search(ci_ctx *c, int lo_open, double *w_out)
{
    double g, gtol;
    int rc = ci_eval(c, 0.0, &g, &gtol);
    if (rc != DT_OK && !lo_open)
        return rc;
    if (rc == DT_OK && g > gtol) {
        *w_out = 0.0;
        return DT_OK;
    }
    double glo = rc == DT_OK ? g : -INFINITY; /* Y(0) singular: the objective infinite */
    if ((rc = ci_eval(c, 1.0, &g, &gtol)) != DT_OK)
        return rc;
    if (g < -gtol) {
        *w_out = 1.0;
        return DT_OK;
    }
    /* The derivative's root, bracketed in [lo, hi] (g(lo) < 0 < g(hi)), by
     * regula falsi with the Illinois step (the end kept twice has its g
     * halved, so the bracket shrinks from both sides): superlinear on the
     * smooth derivative, a few evaluations where bisection takes 40; a
     * bisection step whenever the secant leaves the bracket or an end is
     * not finite. Stops where the derivative is zero to its rounding, or
     * the bracket is below 2^-40. */
    double lo = 0.0, hi = 1.0, ghi = g, w = 0.5;
    int kept = 0; /* the end kept by the last step: -1 lo, +1 hi */
    for (int k = 0; k < 2 * CI_STEPS; k++) {
        w = isfinite(glo) && isfinite(ghi) && ghi > glo ? lo + (hi - lo) * (-glo / (ghi - glo))
                                                        : 0.5 * (lo + hi);
        if (!(w > lo && w < hi))
            w = 0.5 * (lo + hi);
        if ((rc = ci_eval(c, w, &g, &gtol)) != DT_OK)
            return rc;
        if (fabs(g) <= gtol)
            break;
        if (g > 0) {
            hi = w;
            ghi = g;
            if (kept == -1)
                glo *= 0.5;
            kept = -1;
        } else {
            lo = w;
            glo = g;
            if (kept == 1)
                ghi *= 0.5;
            kept = 1;
        }
        if (hi - lo <= 0x1p-40) {
            w = 0.5 * (lo + hi);
            break;
        }
    }
    *w_out = w;
    return DT_OK;
}

int dt_ci_fuse(size_t n, const double *xa, const double *Pa, const double *xb,
               const double *Pb, dt_ci_criterion criterion, double *x_out, double *P_out,
               double *omega, double *work)
{
    if (n < 1 || n > DT_FUSION_MAX || !xa || !Pa || !xb || !Pb || !x_out || !P_out || !work)
        return DT_EINVAL;
    if (criterion != DT_CI_TRACE && criterion != DT_CI_DET)
        return DT_EINVAL;
    size_t nn = n * n;
    double *La = work, *Lb = La + nn, *Ia = Lb + nn, *Ib = Ia + nn, *S = Ib + nn;
    double *L = S + nn, *Z = L + nn, *T = Z + nn, *d = T + nn, *v = d + n, *xn = v + n;
    int e, rc = fuse_prepare(n, xa, Pa, xb, Pb, La, Lb, &e);
    if (rc != DT_OK)
        return rc;
    if (pd_factor(n, La, La) != DT_OK || pd_factor(n, Lb, Lb) != DT_OK)
        return DT_ENUMERIC;
    int same = 1;
    for (size_t i = 0; i < nn && same; i++)
        same = Pa[i] == Pb[i];
    double w;
    if (same) {
        /* P(w) = Pa for every w: the objective is flat; the midpoint is
         * the choice that favours neither belief. */
        for (size_t i = 0; i < n; i++)
            xn[i] = 0.5 * xa[i] + 0.5 * xb[i];
        memcpy(x_out, xn, n * sizeof *xn);
        memmove(P_out, Pa, nn * sizeof *Pa);
        if (omega != NULL)
            *omega = 0.5;
        return DT_OK;
    }
    if (chol_inverse(n, La, Ia) != DT_OK || chol_inverse(n, Lb, Ib) != DT_OK ||
        !finite_all(nn, Ia) || !finite_all(nn, Ib))
        return DT_ENUMERIC;
    for (size_t i = 0; i < nn; i++)
        S[i] = fabs(Ia[i]) + fabs(Ib[i]);
    ci_ctx c = {n, criterion, Ia, Ib, S, L, Z};
    double g, gtol;
    if ((rc = ci_search(&c, 0, &w)) != DT_OK)
        return rc;
    if (w == 0.0 || w == 1.0) {
        const double *xs = w == 1.0 ? xa : xb, *Ps = w == 1.0 ? Pa : Pb;
        memcpy(xn, xs, n * sizeof *xn);
        memcpy(T, Ps, nn * sizeof *T);
    } else {
        if ((rc = ci_eval(&c, w, &g, &gtol)) != DT_OK)
            return rc;
        /* x = P (w Ia xa + (1 - w) Ib xb) = xa + (1 - w) P Ib (xb - xa)
         * = xb + w P Ia (xa - xb): a correction from the nearer belief, so
         * large x with small differences keep their digits and no
         * information vector (Ia xa, which may overflow) is formed. */
        int from_a = w >= 0.5;
        for (size_t i = 0; i < n; i++)
            d[i] = from_a ? xb[i] - xa[i] : xa[i] - xb[i];
        if (dt_chol_solve(n, 1, from_a ? Lb : La, d, v) != DT_OK)
            return DT_ENUMERIC;
        double f = from_a ? 1.0 - w : w;
        for (size_t i = 0; i < n; i++) {
            double s = 0;
            for (size_t j = 0; j < n; j++)
                s += Z[i * n + j] * v[j];
            xn[i] = (from_a ? xa[i] : xb[i]) + f * s; /* Z v: the scalings cancel */
        }
        for (size_t i = 0; i < nn; i++)
            T[i] = ldexp(Z[i], e);
    }
    if (!finite_all(n, xn) || !finite_all(nn, T))
        return DT_ERANGE;
    memcpy(x_out, xn, n * sizeof *xn);
    memcpy(P_out, T, nn * sizeof *T);
    if (omega != NULL)
        *omega = w;
    return DT_OK;
}

/* ---- independent fusion ---- */

int dt_fuse_independent(size_t n, const double *xa, const double *Pa, const double *xb,
                        const double *Pb, double *x_out, double *P_out, double *work)
{
    if (n < 1 || n > DT_FUSION_MAX || !xa || !Pa || !xb || !Pb || !x_out || !P_out || !work)
        return DT_EINVAL;
    size_t nn = n * n;
    double *Sa = work, *Sb = Sa + nn, *L = Sb + nn, *K = L + nn, *jw = K + nn;
    double *d = jw + DT_JOSEPH_WORK(n, n), *xn = d + n;
    int e, rc = fuse_prepare(n, xa, Pa, xb, Pb, Sa, Sb, &e);
    if (rc != DT_OK)
        return rc;
    if (pd_factor(n, Sa, L) != DT_OK || pd_factor(n, Sb, L) != DT_OK)
        return DT_ENUMERIC;
    /* K = Pa (Pa + Pb)^-1 = ((Pa + Pb)^-1 Pa)' */
    for (size_t i = 0; i < nn; i++)
        L[i] = Sa[i] + Sb[i];
    if (dt_chol(n, L, L) != DT_OK || dt_chol_solve(n, n, L, Sa, K) != DT_OK)
        return DT_ENUMERIC;
    (void)dt_mat_transpose(n, n, K, L);
    for (size_t i = 0; i < n; i++)
        d[i] = xb[i] - xa[i];
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t j = 0; j < n; j++)
            s += L[i * n + j] * d[j];
        xn[i] = xa[i] + s;
    }
    /* Joseph form with H = I, R = Pb: on Sa in place */
    (void)dt_mat_identity(n, K);
    (void)dt_joseph(n, n, Sa, L, K, Sb, jw);
    for (size_t i = 0; i < nn; i++)
        Sa[i] = ldexp(Sa[i], e);
    if (!finite_all(n, xn) || !finite_all(nn, Sa))
        return DT_ERANGE;
    memcpy(x_out, xn, n * sizeof *xn);
    memcpy(P_out, Sa, nn * sizeof *Sa);
    return DT_OK;
}

/* ---- covariance intersection with a partial observation ---- */

int dt_ci_update(size_t n, size_t m, const double *x, const double *P, const double *H,
                 const double *y, const double *R, dt_ci_criterion criterion, double *x_out,
                 double *P_out, double *omega, double *work)
{
    if (n < 1 || n > DT_FUSION_MAX || m < 1 || m > DT_FUSION_MAX || !x || !P || !H || !y ||
        !R || !x_out || !P_out || !work)
        return DT_EINVAL;
    if (criterion != DT_CI_TRACE && criterion != DT_CI_DET)
        return DT_EINVAL;
    size_t nn = n * n, mm = m * m;
    double *La = work, *Ia = La + nn, *Ib = Ia + nn, *S = Ib + nn, *L = S + nn, *Z = L + nn;
    double *Lr = Z + nn, *W = Lr + mm, *u = W + n * m, *g = u + m, *xn = g + n;
    if (!finite_all(n, x) || !finite_all(nn, P) || !finite_all(n * m, H) || !finite_all(m, y) ||
        !finite_all(mm, R) || !dt__symmetric(n, P) || !dt__symmetric(m, R))
        return DT_ENUMERIC;
    double big = 0;
    for (size_t i = 0; i < n; i++)
        big = fmax(big, P[i * n + i]);
    if (!(big > 0))
        return DT_ENUMERIC;
    int e = ilogb(big);
    /* scaled by 2^-e: Ia = (2^-e P)^-1, Ib = 2^e H' R^-1 H, Y = 2^e Y */
    for (size_t i = 0; i < nn; i++)
        La[i] = ldexp(P[i], -e);
    if (pd_factor(n, La, La) != DT_OK || chol_inverse(n, La, Ia) != DT_OK ||
        !finite_all(nn, Ia))
        return DT_ENUMERIC;
    memcpy(Lr, R, mm * sizeof *R);
    if (pd_factor(m, Lr, Lr) != DT_OK || dt_chol_solve(m, n, Lr, H, W) != DT_OK)
        return DT_ENUMERIC; /* W = R^-1 H */
    for (size_t i = 0; i < n; i++)
        for (size_t j = i; j < n; j++) {
            double s = 0;
            for (size_t k = 0; k < m; k++)
                s += H[k * n + i] * W[k * n + j];
            Ib[i * n + j] = Ib[j * n + i] = ldexp(s, e);
        }
    if (!finite_all(nn, Ib))
        return DT_ERANGE;
    for (size_t i = 0; i < nn; i++)
        S[i] = fabs(Ia[i]) + fabs(Ib[i]);
    ci_ctx c = {n, criterion, Ia, Ib, S, L, Z};
    double w;
    int rc = ci_search(&c, 1, &w);
    if (rc != DT_OK)
        return rc;
    if (w == 1.0) {
        memmove(x_out, x, n * sizeof *x);
        memmove(P_out, P, nn * sizeof *P);
    } else {
        double gd, gtol;
        if ((rc = ci_eval(&c, w, &gd, &gtol)) != DT_OK)
            return rc;
        /* x' = x + (1 - w) P' H' R^-1 y, P' = 2^e Z: g = H' R^-1 y, then
         * Z g scaled by 2^e (one ldexp per entry: Z g alone cannot overflow
         * where the result does not) */
        if (dt_chol_solve(m, 1, Lr, y, u) != DT_OK)
            return DT_ENUMERIC;
        for (size_t i = 0; i < n; i++) {
            double s = 0;
            for (size_t k = 0; k < m; k++)
                s += H[k * n + i] * u[k];
            g[i] = s;
        }
        for (size_t i = 0; i < n; i++) {
            double s = 0;
            for (size_t j = 0; j < n; j++)
                s += Z[i * n + j] * g[j];
            xn[i] = x[i] + (1.0 - w) * ldexp(s, e);
        }
        for (size_t i = 0; i < nn; i++)
            Z[i] = ldexp(Z[i], e);
        if (!finite_all(n, xn) || !finite_all(nn, Z))
            return DT_ERANGE;
        memcpy(x_out, xn, n * sizeof *xn);
        memcpy(P_out, Z, nn * sizeof *Z);
    }
    if (omega != NULL)
        *omega = w;
    return DT_OK;
}
