#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dtwin/error.h"
#include "dtwin/linalg.h"
#include "la_internal.h"

#define DIM_OK(d) ((d) >= 1 && (d) <= DT_LA_MAX)

void dt__mul(size_t n, size_t k, size_t m, const double *A, const double *B,
             double *C)
{
    dt__mul_in(n, k, m, A, B, C);
}

int dt_mat_mul(size_t n, size_t k, size_t m, const double *A, const double *B,
               double *C)
{
    if (!DIM_OK(n) || !DIM_OK(k) || !DIM_OK(m) || !A || !B || !C)
        return DT_EINVAL;
    dt__mul(n, k, m, A, B, C);
    return DT_OK;
}

int dt_mat_mul_bt(size_t n, size_t k, size_t m, const double *A,
                  const double *B, double *C)
{
    if (!DIM_OK(n) || !DIM_OK(k) || !DIM_OK(m) || !A || !B || !C)
        return DT_EINVAL;
    for (size_t i = 0; i < n; i++) {
        const double *a = A + i * k;
        for (size_t j = 0; j < m; j++) {
            const double *b = B + j * k;
            double s = 0.0;
            for (size_t p = 0; p < k; p++)
                s += a[p] * b[p];
            C[i * m + j] = s;
        }
    }
    return DT_OK;
}

int dt_mat_add(size_t n, size_t m, const double *A, const double *B, double *C)
{
    if (!DIM_OK(n) || !DIM_OK(m) || !A || !B || !C)
        return DT_EINVAL;
    for (size_t i = 0; i < n * m; i++)
        C[i] = A[i] + B[i];
    return DT_OK;
}

int dt_mat_sub(size_t n, size_t m, const double *A, const double *B, double *C)
{
    if (!DIM_OK(n) || !DIM_OK(m) || !A || !B || !C)
        return DT_EINVAL;
    for (size_t i = 0; i < n * m; i++)
        C[i] = A[i] - B[i];
    return DT_OK;
}

int dt_mat_scale(size_t n, size_t m, double s, const double *A, double *C)
{
    if (!DIM_OK(n) || !DIM_OK(m) || !A || !C)
        return DT_EINVAL;
    for (size_t i = 0; i < n * m; i++)
        C[i] = s * A[i];
    return DT_OK;
}

int dt_mat_transpose(size_t n, size_t m, const double *A, double *C)
{
    if (!DIM_OK(n) || !DIM_OK(m) || !A || !C)
        return DT_EINVAL;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m; j++)
            C[j * n + i] = A[i * m + j];
    return DT_OK;
}

int dt_mat_identity(size_t n, double *A)
{
    if (!DIM_OK(n) || !A)
        return DT_EINVAL;
    memset(A, 0, n * n * sizeof *A);
    for (size_t i = 0; i < n; i++)
        A[i * n + i] = 1.0;
    return DT_OK;
}

int dt_mat_symmetrize(size_t n, double *A)
{
    if (!DIM_OK(n) || !A)
        return DT_EINVAL;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            double s = 0.5 * (A[i * n + j] + A[j * n + i]);
            A[i * n + j] = s;
            A[j * n + i] = s;
        }
    return DT_OK;
}

double dt_mat_norm1(size_t n, size_t m, const double *A)
{
    /* Accepts up to 2 * DT_LA_MAX rows/columns because dt_expm uses it on
     * Van Loan blocks. */
    if (n < 1 || m < 1 || n > 2 * DT_LA_MAX || m > 2 * DT_LA_MAX || !A)
        return -1.0;
    double best = 0.0;
    for (size_t j = 0; j < m; j++) {
        double s = 0.0;
        for (size_t i = 0; i < n; i++)
            s += fabs(A[i * m + j]);
        if (s > best || isnan(s))
            best = s;
    }
    return best;
}

int dt_mat_abat(size_t n, size_t m, const double *A, const double *B,
                double *C, double *work)
{
    if (!DIM_OK(n) || !DIM_OK(m) || !A || !B || !C || !work)
        return DT_EINVAL;
    /* work = A B (m x n); C = work A'. */
    (void)dt_mat_mul(m, n, n, A, B, work);
    (void)dt_mat_mul_bt(m, n, m, work, A, C);
    return DT_OK;
}

int dt_joseph(size_t n, size_t m, double *P, const double *K, const double *H,
              const double *R, double *work)
{
    if (!DIM_OK(n) || !DIM_OK(m) || !P || !K || !H || !R || !work)
        return DT_EINVAL;
    double *ikh = work;        /* n x n: I - K H */
    double *t = ikh + n * n;   /* n x n: (I - K H) P */
    double *kr = t + n * n;    /* n x m: K R */
    (void)dt_mat_mul(n, m, n, K, H, ikh);
    for (size_t i = 0; i < n * n; i++)
        ikh[i] = -ikh[i];
    for (size_t i = 0; i < n; i++)
        ikh[i * n + i] += 1.0;
    (void)dt_mat_mul(n, n, n, ikh, P, t);
    (void)dt_mat_mul_bt(n, n, n, t, ikh, P);
    (void)dt_mat_mul(n, m, m, K, R, kr);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0.0;
            for (size_t p = 0; p < m; p++)
                s += kr[i * m + p] * K[j * m + p];
            P[i * n + j] += s;
        }
    return dt_mat_symmetrize(n, P);
}

/* Off-diagonal 1-norms of row i and column i. */
static void offdiag_norms(size_t n, const double *A, size_t i, double *r, double *c)
{
    double rs = 0.0, cs = 0.0;
    for (size_t j = 0; j < n; j++)
        if (j != i) {
            rs += fabs(A[i * n + j]);
            cs += fabs(A[j * n + i]);
        }
    *r = rs;
    *c = cs;
}

/* Largest |log2| of a balancing factor: 2^256 covers entries spread over 150
 * decades and keeps D^-1 Q D^-1 (factors up to 2^512) inside a double. */
#define BAL_MAX_EXP 256

int dt__balance(size_t n, const double *A, double *Ab, double *d)
{
    /* The usual A is balanced enough: one read-only pass (dt__balanced). A
     * factor 16 costs a few bits, less than scaling and unscaling would cost
     * the filter's hot path (a 6-state model off by 2.2 was 8 % slower). */
    int need = !dt__balanced(n, A, NULL);
    for (size_t i = 0; i < n; i++)
        d[i] = 1.0;
    if (!need)
        return 0;
    if (Ab != A)
        memcpy(Ab, A, n * n * sizeof *Ab);
    /* Parlett & Reinsch (1969), radix 2, as LAPACK's dgebal without the
     * permutations: scale row i by 1/f and column i by f, f a power of two
     * (exact), while that shrinks the row's plus the column's norm by 5 %. */
    int e[DT_LA_MAX] = {0};
    for (int sweep = 0; sweep < 100; sweep++) {
        int changed = 0;
        for (size_t i = 0; i < n; i++) {
            double r, c;
            offdiag_norms(n, Ab, i, &r, &c);
            if (!(r > 0.0) || !(c > 0.0) || !isfinite(r + c))
                continue;
            double s = c + r, g = r / 2;
            int k = 0;
            while (c < g && k < 2 * BAL_MAX_EXP) {
                c *= 2;
                r /= 2;
                g /= 2;
                k++;
            }
            g = c / 2;
            while (g >= r && k > -2 * BAL_MAX_EXP) {
                c /= 2;
                g /= 2;
                r *= 2;
                k--;
            }
            if (k == 0 || c + r >= 0.95 * s || abs(e[i] + k) > BAL_MAX_EXP)
                continue;
            e[i] += k;
            double f = ldexp(1.0, k), fi = ldexp(1.0, -k);
            for (size_t j = 0; j < n; j++)
                if (j != i) { /* the diagonal keeps its value */
                    Ab[i * n + j] *= fi;
                    Ab[j * n + i] *= f;
                }
            changed = 1;
        }
        if (!changed)
            break;
    }
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        d[i] = ldexp(1.0, e[i]);
        any |= e[i] != 0;
    }
    return any;
}

int dt__symmetric(size_t n, const double *M)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            double a = M[i * n + j], b = M[j * n + i];
            if (fabs(a - b) > 1e-12 * (fabs(a) + fabs(b)) + 1e-300)
                return 0;
        }
    return 1;
}
