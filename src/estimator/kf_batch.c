/* dt_kf_batch: a fleet of identical filters stepped together. Filters are
 * stored in blocks of LANES, structure-of-arrays inside a block (element
 * (i, j) of P for the LANES filters is contiguous), so every inner loop runs
 * across filters: it vectorizes with no floating-point reduction and gives
 * the same arithmetic as one filter (dt_kf's kernels), lane by lane.
 * Compiled at -O3 (CMakeLists.txt). */
#include <math.h>
#include <string.h>

#include "../platform/internal.h"
#include "dtwin/estimator.h"

#define LANES 8

struct dt_kf_batch {
    dt_allocator alloc;
    size_t n, count, blocks;
    double *Ad, *AdT, *Qd; /* shared n x n */
    double *x;             /* blocks x n x LANES */
    double *P;             /* blocks x n x n x LANES */
    double *T, *a, *k, *g, *Pn, *y, *s; /* one block of scratch */
    double *mem;
};

int dt_kf_batch_create(size_t n, size_t count, const dt_allocator *alloc, dt_kf_batch **out)
{
    if (out == NULL || n < 1 || n > DT_LA_MAX || count < 1 || count > (1u << 20))
        return DT_EINVAL;
    if (alloc == NULL)
        alloc = dt_allocator_default();
    size_t blocks = (count + LANES - 1) / LANES, nn = n * n;
    size_t doubles = 3 * nn + blocks * (n + nn) * LANES + (2 * nn + 4 * n + 2) * LANES;
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
    b->Pn = b->T + nn * LANES;
    b->a = b->Pn + nn * LANES;
    b->k = b->a + n * LANES;
    b->g = b->k + n * LANES;
    b->y = b->g + n * LANES;
    b->s = b->y + n * LANES;
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

int dt_kf_batch_set_model(dt_kf_batch *b, const double *Ad, const double *Qd)
{
    if (b == NULL || Ad == NULL || Qd == NULL)
        return DT_EINVAL;
    size_t n = b->n;
    for (size_t i = 0; i < n * n; i++)
        if (!isfinite(Ad[i]) || !isfinite(Qd[i]))
            return DT_EINVAL;
    memcpy(b->Ad, Ad, n * n * sizeof *Ad);
    memcpy(b->Qd, Qd, n * n * sizeof *Qd);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            b->AdT[j * n + i] = Ad[i * n + j];
    return DT_OK;
}

int dt_kf_batch_set_state(dt_kf_batch *b, size_t i, const double *x, const double *P)
{
    if (b == NULL || x == NULL || P == NULL || i >= b->count)
        return DT_EINVAL;
    size_t n = b->n, blk = i / LANES, l = i % LANES;
    double *bx = b->x + blk * n * LANES, *bP = b->P + blk * n * n * LANES;
    for (size_t r = 0; r < n; r++)
        bx[r * LANES + l] = x[r];
    for (size_t r = 0; r < n * n; r++)
        bP[r * LANES + l] = P[r];
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

/* One block: predict, then m scalar updates (the Joseph order of dt_kf). */
KB_INLINE void step_block(size_t n, dt_kf_batch *b, double *x, double *P, const double *z,
                          size_t zstride, size_t lanes, size_t m, const double *H,
                          const double *r)
{
    double *T = b->T, *Pn = b->Pn, *a = b->a, *k = b->k, *g = b->g, *y = b->y, *s = b->s;
    /* x <- Ad x */
    for (size_t i = 0; i < n; i++) {
        double acc[LANES] = {0};
        for (size_t j = 0; j < n; j++) {
            double c = b->Ad[i * n + j];
            for (size_t l = 0; l < LANES; l++)
                acc[l] += c * x[j * LANES + l];
        }
        memcpy(y + i * LANES, acc, sizeof acc);
    }
    memcpy(x, y, n * LANES * sizeof *x);
    /* T = Ad P, then P <- T Ad' + Qd (upper triangle, mirrored) */
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
            memcpy(P + (i * n + j) * LANES, acc, sizeof acc);
            memcpy(P + (j * n + i) * LANES, acc, sizeof acc);
        }
    /* scalar updates */
    for (size_t row = 0; row < m; row++) {
        const double *h = H + row * n;
        double rr = r[row];
        /* a = P h', s = h a + r, y = z - h x */
        for (size_t i = 0; i < n * LANES; i++)
            a[i] = 0;
        for (size_t j = 0; j < n; j++) {
            double hj = h[j];
            for (size_t i = 0; i < n; i++) {
                const double *p = P + (j * n + i) * LANES;
                for (size_t l = 0; l < LANES; l++)
                    a[i * LANES + l] += p[l] * hj;
            }
        }
        /* same operations, in the same order, as dt_kf for one filter */
        double yv[LANES], hx[LANES] = {0};
        for (size_t l = 0; l < LANES; l++)
            s[l] = 0;
        for (size_t i = 0; i < n; i++)
            for (size_t l = 0; l < LANES; l++) {
                s[l] += h[i] * a[i * LANES + l];
                hx[l] += h[i] * x[i * LANES + l];
            }
        for (size_t l = 0; l < LANES; l++) {
            s[l] = rr + s[l];
            /* idle lanes of the last block see z = 0 and stay finite */
            yv[l] = (l < lanes ? z[l * zstride + row] : 0) - hx[l];
        }
        for (size_t i = 0; i < n; i++)
            for (size_t l = 0; l < LANES; l++) {
                k[i * LANES + l] = a[i * LANES + l] / s[l];
                x[i * LANES + l] += k[i * LANES + l] * yv[l];
            }
        /* g = sum_j (P[:, j] - k a_j) h_j */
        for (size_t i = 0; i < n * LANES; i++)
            g[i] = 0;
        for (size_t j = 0; j < n; j++) {
            double hj = h[j];
            for (size_t i = 0; i < n; i++) {
                const double *p = P + (j * n + i) * LANES;
                for (size_t l = 0; l < LANES; l++)
                    g[i * LANES + l] +=
                        (p[l] - k[i * LANES + l] * a[j * LANES + l]) * hj;
            }
        }
        for (size_t i = 0; i < n; i++)
            for (size_t j = i; j < n; j++) {
                const double *p = P + (i * n + j) * LANES;
                double *o = Pn + (i * n + j) * LANES;
                for (size_t l = 0; l < LANES; l++) {
                    double ki = k[i * LANES + l], kj = k[j * LANES + l];
                    o[l] = (p[l] - ki * a[j * LANES + l]) - g[i * LANES + l] * kj +
                           rr * ki * kj;
                }
            }
        for (size_t i = 0; i < n; i++)
            for (size_t j = i; j < n; j++) {
                memcpy(P + (i * n + j) * LANES, Pn + (i * n + j) * LANES,
                       LANES * sizeof *P);
                memcpy(P + (j * n + i) * LANES, Pn + (i * n + j) * LANES,
                       LANES * sizeof *P);
            }
    }
}

/* Every block of the fleet, with n a constant in the instances below. */
KB_INLINE void step_all(size_t n, dt_kf_batch *b, size_t m, const double *H, const double *r,
                        const double *z)
{
    for (size_t blk = 0; blk < b->blocks; blk++) {
        size_t first = blk * LANES;
        size_t lanes = b->count - first < LANES ? b->count - first : LANES;
        step_block(n, b, b->x + blk * n * LANES, b->P + blk * n * n * LANES, z + first * m, m,
                   lanes, m, H, r);
    }
}

#define KB_INSTANCE(N)                                                          \
    static void step_##N(dt_kf_batch *b, size_t m, const double *H, const double *r, \
                         const double *z)                                       \
    {                                                                           \
        step_all(N, b, m, H, r, z);                                             \
    }
KB_INSTANCE(4)
KB_INSTANCE(6)
KB_INSTANCE(8)
KB_INSTANCE(12)
KB_INSTANCE(16)
KB_INSTANCE(24)

static void step_generic(dt_kf_batch *b, size_t m, const double *H, const double *r,
                         const double *z)
{
    step_all(b->n, b, m, H, r, z);
}

int dt_kf_batch_step(dt_kf_batch *b, size_t m, const double *H, const double *r,
                     const double *z)
{
    if (b == NULL || H == NULL || r == NULL || z == NULL || m > DT_LA_MAX)
        return DT_EINVAL;
    switch (b->n) {
    case 4: step_4(b, m, H, r, z); break;
    case 6: step_6(b, m, H, r, z); break;
    case 8: step_8(b, m, H, r, z); break;
    case 12: step_12(b, m, H, r, z); break;
    case 16: step_16(b, m, H, r, z); break;
    case 24: step_24(b, m, H, r, z); break;
    default: step_generic(b, m, H, r, z); break;
    }
    return DT_OK;
}
