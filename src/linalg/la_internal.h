/* Unchecked kernels of linalg, shared inside the library (dimensions up to
 * 2 * DT_LA_MAX). */
#ifndef DTWIN_SRC_LA_INTERNAL_H
#define DTWIN_SRC_LA_INTERNAL_H

#include <math.h>
#include <stddef.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define LA_INLINE static inline __attribute__((always_inline))
#else
#define LA_INLINE static inline
#endif

/* C (n x m) = A (n x k) B (k x m); no aliasing. */
void dt__mul(size_t n, size_t k, size_t m, const double *A, const double *B,
             double *C);

/* 1 when no row or column of A (n <= DT_LA_MAX) has an off-diagonal 1-norm
 * more than 16 times the other's: balancing would gain at most a few bits.
 * Also gives ||A||_1 (norm1, may be NULL), from the same pass. Inline, so the
 * callers' constant-n copies unroll it: it runs on every discretization of
 * the filter. */
LA_INLINE int dt__balanced(size_t n, const double *A, double *norm1)
{
    double r[64], c[64];
    for (size_t j = 0; j < n; j++)
        c[j] = 0; /* only n: zeroing all 64 cost 3 % of a 6-state series */
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t j = 0; j < i; j++) {
            double v = fabs(A[i * n + j]);
            s += v;
            c[j] += v;
        }
        for (size_t j = i + 1; j < n; j++) {
            double v = fabs(A[i * n + j]);
            s += v;
            c[j] += v;
        }
        r[i] = s;
    }
    int ok = 1;
    double best = 0;
    for (size_t i = 0; i < n; i++) {
        ok &= !(r[i] > 0 && c[i] > 0 && (c[i] * 16 < r[i] || c[i] > r[i] * 16));
        double col = c[i] + fabs(A[i * n + i]);
        best = col > best ? col : best;
    }
    if (norm1 != NULL)
        *norm1 = best;
    return ok;
}

/* Balancing (n <= DT_LA_MAX): d (n) receives powers of two such that
 * D^-1 A D, D = diag(d), has rows and columns of comparable 1-norm. Returns 0
 * when A needs no scaling (d all ones: use A itself), else 1 with
 * Ab = D^-1 A D. Ab may equal A (in place) but not overlap it otherwise. */
int dt__balance(size_t n, const double *A, double *Ab, double *d);

/* 1 when M (n x n) is symmetric to the tolerance every covariance entry
 * point applies: |m_ij - m_ji| <= 1e-12 (|m_ij| + |m_ji|). */
int dt__symmetric(size_t n, const double *M);

/* C (n x m) = A (n x k) B (k x m), i-p-j order: the inner loop streams a row
 * of B and of C, no reduction. Inlined into callers with constant
 * dimensions (vanloan_series.c) it keeps a row of C in registers. */
LA_INLINE void dt__mul_in(size_t n, size_t k, size_t m, const double *restrict A,
                          const double *restrict B, double *restrict C)
{
    for (size_t i = 0; i < n; i++) {
        double *c = C + i * m;
        for (size_t j = 0; j < m; j++)
            c[j] = 0;
        for (size_t p = 0; p < k; p++) {
            double a = A[i * k + p];
            const double *b = B + p * m;
            for (size_t j = 0; j < m; j++)
                c[j] += a * b[j];
        }
    }
}

/* C = A B, all n x n. */
LA_INLINE void dt__mul_sq(size_t n, const double *restrict A, const double *restrict B,
                          double *restrict C)
{
    dt__mul_in(n, n, n, A, B, C);
}

/* Exact doubling of Van Loan's pair: Qd <- Qd + Ad Qd Ad' (symmetric by
 * construction), Ad <- Ad^2; both add positive semi-definite terms or multiply
 * decaying factors, so a fast stable mode costs only rounding however many
 * doublings follow. X is Ad, or Ad - I while eform: a slow mode on a short
 * step has Ad = 1 - 1e-12, which keeps 4 of its digits, and squaring
 * multiplies that error into its rate (a stiff model lost 1e-7 over 30
 * doublings); Ad - I keeps them all. Noise first (it uses the X of the same
 * step), then X; T, U: n x n scratch. */
LA_INLINE void dt__vl_double_q(size_t n, const double *restrict X, double *restrict Qd,
                               double *restrict T, double *restrict U, int eform)
{
    dt__mul_sq(n, X, Qd, T);
    if (eform)
        for (size_t i = 0; i < n * n; i++)
            T[i] += Qd[i]; /* (I + X) Qd */
    for (size_t r = 0; r < n; r++)
        for (size_t c = r; c < n; c++) {
            double v = Qd[r * n + c] + (eform ? T[r * n + c] : 0.0);
            for (size_t k = 0; k < n; k++)
                v += T[r * n + k] * X[c * n + k];
            U[r * n + c] = v;
            U[c * n + r] = v;
        }
    memcpy(Qd, U, n * n * sizeof *Qd);
}

LA_INLINE void dt__vl_double_x(size_t n, double *restrict X, double *restrict T, int eform)
{
    dt__mul_sq(n, X, X, T);
    for (size_t i = 0; i < n * n; i++)
        X[i] = eform ? 2 * X[i] + T[i] : T[i]; /* (I + X)^2 - I, or X^2 */
}

/* Whether X = Ad - I should become Ad (then converted in place): once
 * ||Ad||_1 < ||Ad - I||_1 / 2 what the step sees has decayed, and Ad's own
 * digits are the ones to keep (Ad - I near -I holds a decayed Ad only to
 * 1e-16 absolutely: e^{-10} would keep 11 digits). Returns the form after. */
LA_INLINE int dt__vl_form(size_t n, double *X, int eform)
{
    if (!eform)
        return 0;
    double nx = 0, na = 0;
    for (size_t j = 0; j < n; j++) {
        double sx = 0, sa = 0;
        for (size_t i = 0; i < n; i++) {
            double v = X[i * n + j];
            sx += fabs(v);
            sa += fabs(i == j ? v + 1 : v);
        }
        nx = sx > nx ? sx : nx;
        na = sa > na ? sa : na;
    }
    if (!(na < 0.5 * nx))
        return 1;
    for (size_t i = 0; i < n; i++)
        X[i * n + i] += 1;
    return 0;
}

LA_INLINE int dt__vl_double(size_t n, double *restrict X, double *restrict Qd,
                            double *restrict T, double *restrict U, int eform)
{
    eform = dt__vl_form(n, X, eform);
    dt__vl_double_q(n, X, Qd, T, U, eform);
    dt__vl_double_x(n, X, T, eform);
    return eform;
}

/* dt_vanloan's pair with X = Ad - I when *eform comes back 1, else X = Ad (see
 * dt__vl_double), for callers that double further themselves. Arguments
 * unchecked but for finiteness (DT_ENUMERIC); DT_ERANGE as dt_vanloan.
 * work: DT_VANLOAN_WORK. */
int dt__vanloan_x(size_t n, const double *A, const double *Q, double dt, double *X,
                  double *Qd, int *eform, double *work);

#endif
