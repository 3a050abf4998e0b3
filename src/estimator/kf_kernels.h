/* Hot kernels of the filter, written once with the dimension as a parameter
 * and instantiated with constant n (kf.c selects the instance at creation),
 * so the compiler unrolls and vectorizes them for the sizes in use.
 *
 * Loops are ordered so the innermost one streams a contiguous row with no
 * floating-point reduction: vectorizing them needs no reassociation, so
 * results do not depend on the instruction set. */
#ifndef DTWIN_SRC_KF_KERNELS_H
#define DTWIN_SRC_KF_KERNELS_H

#include <math.h>
#include <stddef.h>

#if defined(__GNUC__) || defined(__clang__)
#define KF_INLINE static inline __attribute__((always_inline))
#else
#define KF_INLINE static inline
#endif

/* Copies the upper triangle of P into the lower. */
KF_INLINE void kf_mirror(size_t n, double *restrict P)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            P[j * n + i] = P[i * n + j];
}

/* Pn = Ad P Ad' + Qd (upper triangle computed, mirrored); T is n x n scratch,
 * AdT = Ad'. Returns the sum of Pn's diagonal and upper triangle: not finite
 * iff some entry is not finite (NaN and infinities propagate through sums). */
KF_INLINE double kf_predict_cov(size_t n, const double *restrict Ad, const double *restrict AdT,
                                const double *restrict P, const double *restrict Qd,
                                double *restrict T, double *restrict Pn)
{
    for (size_t i = 0; i < n; i++) {
        double *t = T + i * n;
        for (size_t j = 0; j < n; j++)
            t[j] = 0;
        for (size_t k = 0; k < n; k++) {
            double a = Ad[i * n + k];
            const double *p = P + k * n;
            for (size_t j = 0; j < n; j++)
                t[j] += a * p[j];
        }
    }
    double chk = 0;
    for (size_t i = 0; i < n; i++) {
        double *row = Pn + i * n;
        for (size_t j = i; j < n; j++)
            row[j] = Qd[i * n + j];
        for (size_t k = 0; k < n; k++) {
            double t = T[i * n + k];
            const double *at = AdT + k * n;
            for (size_t j = i; j < n; j++)
                row[j] += t * at[j];
        }
        for (size_t j = i; j < n; j++)
            chk += row[j];
    }
    kf_mirror(n, Pn);
    return chk;
}

/* The binary64 scalar update (kf_scalar_joseph) is kept when every posterior
 * variance d_i lies in [DT__KF_TRUST (1 + w) P_ii, P_ii], w = (sum |h_j|)
 * (sum P_jj |h_j|) / s. Its rounding error is below about 3 (n + 2) 2^-53
 * (1 + w) sqrt(P_ii P_jj) when P is positive semi-definite (|P_ij| <=
 * sqrt(P_ii P_jj) bounds each term; w bounds the cancellation in h P h'), so
 * a kept variance is positive and each kept entry is within about
 * 3 (n + 2) 2^-26 of sqrt(d_i d_j) of the exact posterior's. Anything else
 * (a negative or grown variance, a reduction by more than ~1e8 / (1 + w) in
 * one update) goes to the double-double evaluation below. */
#define DT__KF_TRUST 0x1p-27

/* Whether the binary64 update can be kept (see DT__KF_TRUST): every
 * variance d within [fl(thr P_ii), P_ii], thr = DT__KF_TRUST (s + sum|h_j|
 * sum P_jj |h_j|) / s. O(n). dt_kf_batch makes the same decision across
 * filters as the signs of d - fl(thr P_ii) and P_ii - d (a difference of
 * doubles is negative exactly when the first is smaller). NaN is not kept. */
KF_INLINE int kf_trusted(size_t n, const double *restrict P, const double *restrict Pn,
                         double thr)
{
    for (size_t i = 0; i < n; i++) {
        double d = Pn[i * n + i], p = P[i * n + i];
        if (!(d >= thr * p && d <= p))
            return 0;
    }
    return 1;
}

/* Scalar update core (see kf.c for the Joseph order): given a = P h', s and
 * k = a / s, writes Pn = (P - k a') - g k' + r k k' with g = (P - k a') h',
 * upper triangle mirrored. Returns a finiteness checksum as above, or NaN
 * when the result is not to be trusted (kf_trusted with thr). */
KF_INLINE double kf_scalar_joseph(size_t n, const double *restrict P, const double *restrict h,
                                  const double *restrict a, const double *restrict k, double r,
                                  double thr, double *restrict g, double *restrict Pn)
{
    /* g = sum_j (P[:, j] - k a_j) h_j, with P[:, j] = P[j, :] (symmetric). */
    for (size_t i = 0; i < n; i++)
        g[i] = 0;
    for (size_t j = 0; j < n; j++) {
        double hj = h[j], aj = a[j];
        const double *p = P + j * n;
        for (size_t i = 0; i < n; i++)
            g[i] += (p[i] - k[i] * aj) * hj;
    }
    double chk = 0;
    for (size_t i = 0; i < n; i++) {
        double ki = k[i], gi = g[i], rki = r * k[i];
        const double *p = P + i * n;
        double *row = Pn + i * n;
        for (size_t j = i; j < n; j++)
            row[j] = (p[j] - ki * a[j]) - gi * k[j] + rki * k[j];
        for (size_t j = i; j < n; j++)
            chk += row[j];
    }
    kf_mirror(n, Pn);
    return kf_trusted(n, P, Pn, thr) ? chk : NAN;
}

/* a = P h' (P symmetric: accumulate rows), returns h a. */
KF_INLINE double kf_ph(size_t n, const double *restrict P, const double *restrict h,
                       double *restrict a)
{
    for (size_t i = 0; i < n; i++)
        a[i] = 0;
    for (size_t j = 0; j < n; j++) {
        double hj = h[j];
        const double *p = P + j * n;
        for (size_t i = 0; i < n; i++)
            a[i] += p[i] * hj;
    }
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += h[i] * a[i];
    return s;
}

/* Scratch doubles of the double-double scalar update. */
#define DT__KF_DD_WORK(n) (6 * (size_t)(n) + 2)

/* The scalar update of kf_scalar_joseph in double-double arithmetic (about
 * 2^-104 per operation), for the updates the binary64 one cannot be trusted
 * with. dt__kf_dd_gain computes a = P h', s = h a + r and k = a / s into dd
 * and returns s rounded (not > 0: the update cannot be applied).
 * dt__kf_dd_update then writes k rounded and Pn = M - g k' + r k k' (the
 * Joseph order above), rounded once, with 0 <= Pn_ii <= P_ii enforced: a
 * variance above its prior (only its last bit can be) is set to the prior, a
 * negative one (a prior that is not positive semi-definite, or an exact 0
 * rounded below it) to 0 with its covariances. Returns a finiteness checksum
 * as the kernels. */
double dt__kf_dd_gain(size_t n, const double *P, const double *h, double r, double *dd);
double dt__kf_dd_update(size_t n, const double *P, const double *h, double r, double *dd,
                        double *k, double *Pn);

typedef double (*dt__kf_predict_fn)(const double *Ad, const double *AdT, const double *P,
                                    const double *Qd, double *T, double *Pn);
typedef double (*dt__kf_joseph_fn)(const double *P, const double *h, const double *a,
                                   const double *k, double r, double thr, double *g,
                                   double *Pn);
typedef double (*dt__kf_ph_fn)(const double *P, const double *h, double *a);

typedef struct dt__kf_kernel_set {
    size_t n;
    dt__kf_predict_fn predict;
    dt__kf_joseph_fn joseph;
    dt__kf_ph_fn ph;
} dt__kf_kernel_set;

/* The instance for n, or NULL (then the generic code runs). */
const dt__kf_kernel_set *dt__kf_kernels_for(size_t n);

/* kf.c: the linear model's A and B (n x n, n x p; F and G when discrete):
 * 0 continuous, 1 discrete, -1 none (no model yet, or nonlinear). */
struct dt_kf;
int dt__kf_matrices(const struct dt_kf *kf, const double **A, const double **B, size_t *p);

#endif
