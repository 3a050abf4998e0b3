/* dt_kf_batch: a fleet of identical filters stepped together. Filters are
 * stored in blocks of LANES, structure-of-arrays inside a block (element
 * (i, j) of P for the LANES filters is contiguous), so every inner loop runs
 * across filters: it vectorizes with no floating-point reduction and gives
 * the same arithmetic as one filter (dt_kf's kernels), lane by lane.
 * Compiled at -O3 (CMakeLists.txt). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../platform/internal.h"
#include "dtwin/estimator.h"
#include "../linalg/la_internal.h"
#include "kf_kernels.h"

#define LANES 8

struct dt_kf_batch {
    dt_allocator alloc;
    size_t n, count, blocks;
    double *Ad, *AdT, *Qd; /* shared n x n */
    double *x;             /* blocks x n x LANES */
    double *P;             /* blocks x n x n x LANES */
    double *T, *a, *k, *g, *y, *s; /* one block of scratch */
    double *PA, *PB, *xs;          /* the block's P (twice: ping-pong) and x during a step */
    double *lP, *lPn, *lk, *ldd;   /* one filter's double-double update */
    int has_model;
    double *mem;
};

int dt_kf_batch_create(size_t n, size_t count, const dt_allocator *alloc, dt_kf_batch **out)
{
    if (out == NULL || n < 1 || n > DT_LA_MAX || count < 1 || count > (1u << 20))
        return DT_EINVAL;
    if (alloc == NULL)
        alloc = dt_allocator_default();
    size_t blocks = (count + LANES - 1) / LANES, nn = n * n;
    size_t doubles = 3 * nn + blocks * (n + nn) * LANES + (3 * nn + 5 * n + 1) * LANES +
                     2 * nn + n + DT__KF_DD_WORK(n);
    dt_kf_batch *b = dt__calloc(alloc, 1, sizeof *b);
    double *m = b ? dt__calloc(alloc, doubles, sizeof *m) : NULL;
    if (m == NULL) {
        dt__free(alloc, b);
        return DT_ENOMEM;
    }
    b->alloc = *alloc;
    b->mem = m;
    b->n = n;
    b->count = count;
    b->blocks = blocks;
    b->Ad = m;
    b->AdT = b->Ad + nn;
    b->Qd = b->AdT + nn;
    b->x = b->Qd + nn;
    b->P = b->x + blocks * n * LANES;
    b->T = b->P + blocks * nn * LANES;
    b->PA = b->T + nn * LANES;
    b->PB = b->PA + nn * LANES;
    b->a = b->PB + nn * LANES;
    b->k = b->a + n * LANES;
    b->g = b->k + n * LANES;
    b->y = b->g + n * LANES;
    b->xs = b->y + n * LANES;
    b->s = b->xs + n * LANES;
    b->lP = b->s + LANES;
    b->lPn = b->lP + nn;
    b->lk = b->lPn + nn;
    b->ldd = b->lk + n;
    *out = b;
    return DT_OK;
}

void dt_kf_batch_destroy(dt_kf_batch *b)
{
    if (b == NULL)
        return;
    dt_allocator a = b->alloc;
    dt__free(&a, b->mem);
    dt__free(&a, b);
}

static int finite_all(const double *v, size_t cnt)
{
    for (size_t i = 0; i < cnt; i++)
        if (!isfinite(v[i]))
            return 0;
    return 1;
}

int dt_kf_batch_set_model(dt_kf_batch *b, const double *Ad, const double *Qd)
{
    if (b == NULL || Ad == NULL || Qd == NULL)
        return DT_EINVAL;
    size_t n = b->n;
    if (!finite_all(Ad, n * n) || !finite_all(Qd, n * n) || !dt__symmetric(n, Qd))
        return DT_EINVAL;
    memcpy(b->Ad, Ad, n * n * sizeof *Ad);
    memcpy(b->Qd, Qd, n * n * sizeof *Qd);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            b->AdT[j * n + i] = Ad[i * n + j];
    b->has_model = 1;
    return DT_OK;
}

int dt_kf_batch_set_state(dt_kf_batch *b, size_t i, const double *x, const double *P)
{
    if (b == NULL || x == NULL || P == NULL || i >= b->count)
        return DT_EINVAL;
    size_t n = b->n, blk = i / LANES, l = i % LANES;
    if (!finite_all(x, n) || !finite_all(P, n * n) || !dt__symmetric(n, P))
        return DT_EINVAL;
    for (size_t r = 0; r < n; r++)
        if (P[r * n + r] < 0)
            return DT_EINVAL;
    double *bx = b->x + blk * n * LANES, *bP = b->P + blk * n * n * LANES;
    for (size_t r = 0; r < n; r++)
        bx[r * LANES + l] = x[r];
    for (size_t r = 0; r < n; r++) /* exactly symmetric, as the filter keeps it */
        for (size_t c = r; c < n; c++)
            bP[(r * n + c) * LANES + l] = bP[(c * n + r) * LANES + l] =
                r == c ? P[r * n + c] : 0.5 * (P[r * n + c] + P[c * n + r]);
    return DT_OK;
}

int dt_kf_batch_get_state(const dt_kf_batch *b, size_t i, double *x, double *P)
{
    if (b == NULL || i >= b->count)
        return DT_EINVAL;
    size_t n = b->n, blk = i / LANES, l = i % LANES;
    const double *bx = b->x + blk * n * LANES, *bP = b->P + blk * n * n * LANES;
    for (size_t r = 0; x != NULL && r < n; r++)
        x[r] = bx[r * LANES + l];
    for (size_t r = 0; P != NULL && r < n * n; r++)
        P[r] = bP[r * LANES + l];
    return DT_OK;
}

#if defined(__GNUC__) || defined(__clang__)
#define KB_INLINE static inline __attribute__((always_inline))
#else
#define KB_INLINE static inline
#endif

/* The sign bit set iff v is infinite or NaN (exponent field all ones). */
static inline uint64_t kf_nonfinite(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return (u & 0x7FF0000000000000u) + 0x0010000000000000u;
}

/* Variance i of lane l set to 0 with its covariances (a predicted variance
 * that rounding made negative; see dt_kf's clear_negative_variances). */
static void zero_lane_state(size_t n, double *P, size_t i, size_t l)
{
    for (size_t j = 0; j < n; j++)
        P[(i * n + j) * LANES + l] = P[(j * n + i) * LANES + l] = 0;
}

/* Lane l of one scalar update that the binary64 result cannot be trusted
 * with (kf_trusted): the double-double update of dt_kf from the lane's prior
 * (P, x) into Pn (upper triangle) and xn (innovation y). Returns 0, or -1
 * when the innovation variance is not positive. */
static int lane_fallback(size_t n, dt_kf_batch *b, const double *P, double *Pn, const double *x,
                         double *xn, const double *h, double r, double y, size_t l)
{
    for (size_t i = 0; i < n * n; i++)
        b->lP[i] = P[i * LANES + l];
    double sd = dt__kf_dd_gain(n, b->lP, h, r, b->ldd);
    if (!(sd > 0 && sd <= DBL_MAX))
        return -1;
    dt__kf_dd_update(n, b->lP, h, r, b->ldd, b->lk, b->lPn);
    for (size_t i = 0; i < n; i++) {
        xn[i * LANES + l] = x[i * LANES + l] + b->lk[i] * y;
        for (size_t j = i; j < n; j++)
            Pn[(i * n + j) * LANES + l] = b->lPn[i * n + j];
    }
    return 0;
}

/* The lanes of one scalar update whose binary64 result (Pn, xn) is not kept
 * (neg: see step_block) are recomputed in double-double from their prior
 * (P, x). Returns the lanes that failed (s not positive). */
static unsigned fallback_lanes(size_t n, dt_kf_batch *b, const double *P, double *Pn,
                               const double *x, double *xn, const double *h, double r,
                               const double *yv, const double *neg, unsigned bad)
{
    const double *s = b->s;
    unsigned failed = 0;
    for (size_t l = 0; l < LANES; l++)
        if (!(s[l] > 0 && s[l] <= DBL_MAX && neg[l] == 0) && !(bad >> l & 1u) &&
            lane_fallback(n, b, P, Pn, x, xn, h, r, yv[l], l) != 0)
            failed |= 1u << l;
    return failed;
}

/* One block: predict, then m scalar updates (the Joseph order of dt_kf, with
 * its check and double-double fallback, lane by lane: each lane takes the
 * path its single filter would). The step runs on scratch, ping-ponging
 * between two copies of x (xs, y) and of P (PA, PB) so that no update copies
 * its result back, and is copied to the block at the end except for the
 * lanes that failed (an innovation variance not positive, or a non-finite
 * value): those keep the state they had. Returns their mask. */
KB_INLINE unsigned step_block(size_t n, dt_kf_batch *b, double *x, double *P, const double *z,
                              size_t zstride, size_t lanes, size_t m, const double *H,
                              const double *r)
{
    double *T = b->T, *a = b->a, *k = b->k, *g = b->g, *s = b->s;
    double *cur = b->PA, *nxt = b->PB, *xs = b->xs, *xn = b->y;
    unsigned bad = 0;
    /* xs = Ad x */
    for (size_t i = 0; i < n; i++) {
        double acc[LANES] = {0};
        for (size_t j = 0; j < n; j++) {
            double c = b->Ad[i * n + j];
            for (size_t l = 0; l < LANES; l++)
                acc[l] += c * x[j * LANES + l];
        }
        memcpy(xs + i * LANES, acc, sizeof acc);
    }
    /* T = Ad P, then cur = T Ad' + Qd (upper triangle, mirrored) */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double acc[LANES] = {0};
            for (size_t q = 0; q < n; q++) {
                double c = b->Ad[i * n + q];
                const double *p = P + (q * n + j) * LANES;
                for (size_t l = 0; l < LANES; l++)
                    acc[l] += c * p[l];
            }
            memcpy(T + (i * n + j) * LANES, acc, sizeof acc);
        }
    for (size_t i = 0; i < n; i++)
        for (size_t j = i; j < n; j++) {
            double acc[LANES];
            for (size_t l = 0; l < LANES; l++)
                acc[l] = b->Qd[i * n + j];
            for (size_t q = 0; q < n; q++) {
                double c = b->AdT[q * n + j];
                const double *t = T + (i * n + q) * LANES;
                for (size_t l = 0; l < LANES; l++)
                    acc[l] += t[l] * c;
            }
            memcpy(cur + (i * n + j) * LANES, acc, sizeof acc);
            memcpy(cur + (j * n + i) * LANES, acc, sizeof acc);
        }
    for (size_t i = 0; i < n; i++)
        for (size_t l = 0; l < LANES; l++)
            if (cur[(i * n + i) * LANES + l] < 0)
                zero_lane_state(n, cur, i, l);
    /* scalar updates, from cur into nxt */
    for (size_t row = 0; row < m; row++) {
        const double *h = H + row * n;
        double rr = r[row];
        /* a = P h', s = h a + r, y = z - h x */
        for (size_t i = 0; i < n * LANES; i++)
            a[i] = 0;
        for (size_t j = 0; j < n; j++) {
            double hj = h[j];
            for (size_t i = 0; i < n; i++) {
                const double *p = cur + (j * n + i) * LANES;
                for (size_t l = 0; l < LANES; l++)
                    a[i * LANES + l] += p[l] * hj;
            }
        }
        /* same operations, in the same order, as dt_kf for one filter */
        double yv[LANES], hx[LANES] = {0}, w2[LANES] = {0}, h1 = 0;
        for (size_t l = 0; l < LANES; l++)
            s[l] = 0;
        for (size_t i = 0; i < n; i++) {
            double ah = fabs(h[i]);
            h1 += ah;
            for (size_t l = 0; l < LANES; l++) {
                s[l] += h[i] * a[i * LANES + l];
                hx[l] += h[i] * xs[i * LANES + l];
                w2[l] += ah * cur[(i * n + i) * LANES + l];
            }
        }
        for (size_t l = 0; l < LANES; l++) {
            s[l] = rr + s[l];
            /* idle lanes of the last block see z = 0 (and are never reported) */
            yv[l] = (l < lanes ? z[l * zstride + row] : 0) - hx[l];
        }
        for (size_t i = 0; i < n; i++)
            for (size_t l = 0; l < LANES; l++) {
                k[i * LANES + l] = a[i * LANES + l] / s[l];
                xn[i * LANES + l] = xs[i * LANES + l] + k[i * LANES + l] * yv[l];
            }
        /* g = sum_j (P[:, j] - k a_j) h_j */
        for (size_t i = 0; i < n * LANES; i++)
            g[i] = 0;
        for (size_t j = 0; j < n; j++) {
            double hj = h[j];
            for (size_t i = 0; i < n; i++) {
                const double *p = cur + (j * n + i) * LANES;
                for (size_t l = 0; l < LANES; l++)
                    g[i * LANES + l] +=
                        (p[l] - k[i * LANES + l] * a[j * LANES + l]) * hj;
            }
        }
        double thr[LANES], neg[LANES] = {0};
        for (size_t l = 0; l < LANES; l++)
            thr[l] = DT__KF_TRUST * (s[l] + h1 * w2[l]) / s[l];
        for (size_t i = 0; i < n; i++)
            for (size_t j = i; j < n; j++) {
                const double *p = cur + (i * n + j) * LANES;
                double *o = nxt + (i * n + j) * LANES;
                for (size_t l = 0; l < LANES; l++) {
                    double ki = k[i * LANES + l], kj = k[j * LANES + l];
                    double v = (p[l] - ki * a[j * LANES + l]) - g[i * LANES + l] * kj +
                               rr * ki * kj;
                    o[l] = v;
                    /* dt_kf's check (kf_trusted) on each variance as it is
                     * computed (j == i is resolved at compile time in the
                     * instances): v - |v| is 2v for v < 0 and 0 otherwise,
                     * so neg stays 0 exactly when every d - thr p and p - d
                     * is >= 0 (and becomes NaN with them) */
                    if (j == i) {
                        double t = v - thr[l] * p[l], u = p[l] - v;
                        neg[l] += (t - fabs(t)) + (u - fabs(u));
                    }
                }
            }
        bad |= fallback_lanes(n, b, cur, nxt, xs, xn, h, rr, yv, neg, bad);
        for (size_t i = 0; i < n; i++) /* mirror */
            for (size_t j = i + 1; j < n; j++)
                memcpy(nxt + (j * n + i) * LANES, nxt + (i * n + j) * LANES,
                       LANES * sizeof *nxt);
        double *t = cur;
        cur = nxt;
        nxt = t;
        t = xs;
        xs = xn;
        xn = t;
    }
    /* nothing non-finite is kept (integer operations: no FP add chains) */
    uint64_t inf[LANES] = {0};
    for (size_t i = 0; i < n; i++) {
        for (size_t l = 0; l < LANES; l++)
            inf[l] |= kf_nonfinite(xs[i * LANES + l]);
        for (size_t j = i; j < n; j++)
            for (size_t l = 0; l < LANES; l++)
                inf[l] |= kf_nonfinite(cur[(i * n + j) * LANES + l]);
    }
    for (size_t l = 0; l < LANES; l++)
        if (inf[l] >> 63)
            bad |= 1u << l;
    if (bad == 0) {
        memcpy(x, xs, n * LANES * sizeof *x);
        memcpy(P, cur, n * n * LANES * sizeof *P);
        return 0;
    }
    for (size_t l = 0; l < LANES; l++)
        if (!(bad >> l & 1u)) {
            for (size_t i = 0; i < n; i++)
                x[i * LANES + l] = xs[i * LANES + l];
            for (size_t i = 0; i < n * n; i++)
                P[i * LANES + l] = cur[i * LANES + l];
        }
    return lanes < LANES ? bad & ((1u << lanes) - 1u) : bad;
}

/* Every block of the fleet, with n a constant in the instances below.
 * Returns the number of filters that failed. */
KB_INLINE size_t step_all(size_t n, dt_kf_batch *b, size_t m, const double *H, const double *r,
                          const double *z)
{
    size_t failed = 0;
    for (size_t blk = 0; blk < b->blocks; blk++) {
        size_t first = blk * LANES;
        size_t lanes = b->count - first < LANES ? b->count - first : LANES;
        failed += step_block(n, b, b->x + blk * n * LANES, b->P + blk * n * n * LANES,
                             z + first * m, m, lanes, m, H, r) != 0;
    }
    return failed;
}

#define KB_INSTANCE(N)                                                          \
    static size_t step_##N(dt_kf_batch *b, size_t m, const double *H, const double *r, \
                           const double *z)                                     \
    {                                                                           \
        return step_all(N, b, m, H, r, z);                                      \
    }
KB_INSTANCE(4)
KB_INSTANCE(6)
KB_INSTANCE(8)
KB_INSTANCE(12)
KB_INSTANCE(16)
KB_INSTANCE(24)

static size_t step_generic(dt_kf_batch *b, size_t m, const double *H, const double *r,
                           const double *z)
{
    return step_all(b->n, b, m, H, r, z);
}

int dt_kf_batch_step(dt_kf_batch *b, size_t m, const double *H, const double *r,
                     const double *z)
{
    if (b == NULL || H == NULL || r == NULL || z == NULL || m > DT_LA_MAX || !b->has_model ||
        !finite_all(H, m * b->n) || !finite_all(z, m * b->count))
        return DT_EINVAL;
    for (size_t j = 0; j < m; j++)
        if (!(r[j] >= 0) || !isfinite(r[j]))
            return DT_EINVAL;
    size_t failed;
    switch (b->n) {
    case 4: failed = step_4(b, m, H, r, z); break;
    case 6: failed = step_6(b, m, H, r, z); break;
    case 8: failed = step_8(b, m, H, r, z); break;
    case 12: failed = step_12(b, m, H, r, z); break;
    case 16: failed = step_16(b, m, H, r, z); break;
    case 24: failed = step_24(b, m, H, r, z); break;
    default: failed = step_generic(b, m, H, r, z); break;
    }
    return failed ? DT_ENUMERIC : DT_OK;
}
