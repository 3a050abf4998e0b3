/* Size-specialized instances of the filter kernels (kf_kernels.h). This file
 * is compiled at -O3 (CMakeLists.txt): at -O2 GCC keeps these constant-trip
 * loops rolled and scalar, at -O3 it unrolls and vectorizes them. */
#include "kf_kernels.h"

/* Instances of the kernels for the sizes twins use most; other sizes run the
 * same code with n as a run-time value. */
#define KF_INSTANCE(N)                                                         \
    static double predict_##N(const double *Ad, const double *AdT, const double *P,  \
                              const double *Qd, double *T, double *Pn)        \
    {                                                                          \
        return kf_predict_cov(N, Ad, AdT, P, Qd, T, Pn);                       \
    }                                                                          \
    static double joseph_##N(const double *P, const double *h, const double *a,  \
                             const double *k, double r, double thr, double *g, \
                             double *Pn)                                       \
    {                                                                          \
        return kf_scalar_joseph(N, P, h, a, k, r, thr, g, Pn);                 \
    }                                                                          \
    static double ph_##N(const double *P, const double *h, double *a)          \
    {                                                                          \
        return kf_ph(N, P, h, a);                                              \
    }
KF_INSTANCE(1)
KF_INSTANCE(2)
KF_INSTANCE(3)
KF_INSTANCE(4)
KF_INSTANCE(5)
KF_INSTANCE(6)
KF_INSTANCE(7)
KF_INSTANCE(8)
KF_INSTANCE(9)
KF_INSTANCE(10)
KF_INSTANCE(12)
KF_INSTANCE(16)
KF_INSTANCE(24)
KF_INSTANCE(27)
KF_INSTANCE(32)

#define KS(N) {N, predict_##N, joseph_##N, ph_##N}
static const dt__kf_kernel_set kernels[] = {KS(1), KS(2),  KS(3),  KS(4),  KS(5),
                                     KS(6), KS(7),  KS(8),  KS(9),  KS(10),
                                     KS(12), KS(16), KS(24), KS(27), KS(32)};



const dt__kf_kernel_set *dt__kf_kernels_for(size_t n)
{
    for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++)
        if (kernels[i].n == n)
            return &kernels[i];
    return NULL;
}

/* ---- double-double fallback of the scalar update ----
 * A value is hi + lo with |lo| <= ulp(hi) / 2. Two-sum and the fma-based
 * two-product are exact (Knuth; Dekker), so each operation below is accurate
 * to about 2^-104 relative to its operands; this file is built without
 * -ffast-math, which would reassociate them away. */

typedef struct kf_dd {
    double hi, lo;
} kf_dd;

static kf_dd dd_two_sum(double a, double b)
{
    double s = a + b, v = s - a;
    kf_dd r = {s, (a - (s - v)) + (b - v)};
    return r;
}

static kf_dd dd_fast_sum(double a, double b) /* |a| >= |b| or a == 0 */
{
    double s = a + b;
    kf_dd r = {s, b - (s - a)};
    return r;
}

static kf_dd dd_add(kf_dd x, kf_dd y)
{
    kf_dd s = dd_two_sum(x.hi, y.hi), t = dd_two_sum(x.lo, y.lo);
    s.lo += t.hi;
    s = dd_fast_sum(s.hi, s.lo);
    s.lo += t.lo;
    return dd_fast_sum(s.hi, s.lo);
}

static kf_dd dd_neg(kf_dd x)
{
    kf_dd r = {-x.hi, -x.lo};
    return r;
}

static kf_dd dd_prod(double a, double b)
{
    double p = a * b;
    kf_dd r = {p, fma(a, b, -p)};
    return r;
}

static kf_dd dd_mul_d(kf_dd x, double b)
{
    kf_dd p = dd_prod(x.hi, b);
    return dd_fast_sum(p.hi, p.lo + x.lo * b);
}

static kf_dd dd_mul(kf_dd x, kf_dd y)
{
    kf_dd p = dd_prod(x.hi, y.hi);
    return dd_fast_sum(p.hi, p.lo + (x.hi * y.lo + x.lo * y.hi));
}

static kf_dd dd_div(kf_dd x, kf_dd y)
{
    double q1 = x.hi / y.hi;
    kf_dd r = dd_add(x, dd_neg(dd_mul_d(y, q1)));
    double q2 = r.hi / y.hi;
    r = dd_add(r, dd_neg(dd_mul_d(y, q2)));
    kf_dd q = dd_fast_sum(q1, q2), q3 = {r.hi / y.hi, 0};
    return dd_add(q, q3);
}

static kf_dd dd_get(const double *v, size_t i)
{
    kf_dd r = {v[2 * i], v[2 * i + 1]};
    return r;
}

static void dd_put(double *v, size_t i, kf_dd x)
{
    v[2 * i] = x.hi;
    v[2 * i + 1] = x.lo;
}

/* dd layout: a (2n), k (2n), g (2n), s (2). */
double dt__kf_dd_gain(size_t n, const double *P, const double *h, double r, double *dd)
{
    double *a = dd, *k = dd + 2 * n, *sv = dd + 6 * n;
    kf_dd s = {r, 0};
    for (size_t i = 0; i < n; i++) {
        kf_dd ai = {0, 0};
        for (size_t j = 0; j < n; j++)
            ai = dd_add(ai, dd_prod(P[i * n + j], h[j]));
        dd_put(a, i, ai);
        s = dd_add(s, dd_mul_d(ai, h[i]));
    }
    dd_put(sv, 0, s);
    if (!(s.hi > 0) || !isfinite(s.hi))
        return s.hi;
    for (size_t i = 0; i < n; i++)
        dd_put(k, i, dd_div(dd_get(a, i), s));
    return s.hi;
}

/* Row i of M = P - k a' (P symmetric), element j. */
static kf_dd dd_m(const double *P, size_t n, const double *a, const double *k, size_t i, size_t j)
{
    return dd_add(dd_neg(dd_mul(dd_get(k, i), dd_get(a, j))), (kf_dd){P[i * n + j], 0});
}

double dt__kf_dd_update(size_t n, const double *P, const double *h, double r, double *dd,
                        double *k, double *Pn)
{
    const double *a = dd, *kk = dd + 2 * n;
    double *g = dd + 4 * n;
    for (size_t i = 0; i < n; i++) {
        kf_dd gi = {0, 0};
        for (size_t j = 0; j < n; j++)
            gi = dd_add(gi, dd_mul_d(dd_m(P, n, a, kk, i, j), h[j]));
        dd_put(g, i, gi);
        k[i] = kk[2 * i] + kk[2 * i + 1];
    }
    for (size_t i = 0; i < n; i++) {
        kf_dd ki = dd_get(kk, i), gi = dd_get(g, i), rki = dd_mul_d(ki, r);
        for (size_t j = i; j < n; j++) {
            kf_dd kj = dd_get(kk, j);
            kf_dd v = dd_add(dd_m(P, n, a, kk, i, j), dd_neg(dd_mul(gi, kj)));
            v = dd_add(v, dd_mul(rki, kj));
            Pn[i * n + j] = v.hi + v.lo;
        }
    }
    kf_mirror(n, Pn);
    for (size_t i = 0; i < n; i++) {
        double d = Pn[i * n + i], p = P[i * n + i];
        if (d > p)
            Pn[i * n + i] = p;
        else if (d < 0)
            for (size_t j = 0; j < n; j++)
                Pn[i * n + j] = Pn[j * n + i] = 0;
    }
    double chk = 0;
    for (size_t i = 0; i < n * n; i++)
        chk += Pn[i];
    return chk;
}
