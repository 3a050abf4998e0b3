/* Van Loan's pair (Ad, Qd) by series with a tail bound, scaling and squaring,
 * on n x n matrices (the block method exponentiates 2n x 2n). Compiled at -O3
 * (CMakeLists.txt) so the inner loops vectorize.
 *
 * With h = dt / 2^s and theta = ||A h||_1 <= 1/2:
 *   Phi(h) = sum_k X_k,  X_0 = I,     X_k = X_{k-1} (A h) / k
 *   Qd(h)  = sum_k Y_k,  Y_0 = Q h,   Y_k = (A h Y_{k-1} + Y_{k-1} (A h)') / (k + 1)
 * (Y_k = L^k(Q) h^{k+1} / (k+1)! with L(X) = A X + X A'). Since
 * ||X_{k+j}|| <= ||X_k|| (theta / (k+1))^j and ||Y_{k+j}|| <= ||Y_k|| (2 theta /
 * (k+2))^j, the tails after term k are bounded by geometric series; the
 * number of terms is fixed from these bounds before summing. Then, s times,
 * Qd <- Qd + Phi Qd Phi' and Phi <- Phi^2 (exact doubling identities), with
 * Phi kept as Phi - I. A badly scaled A is balanced first (exactly). */
#include <math.h>
#include <string.h>

#include "dtwin/error.h"
#include "dtwin/linalg.h"
#include "la_internal.h"

LA_INLINE double norm1(size_t n, const double *A)
{
    double best = 0;
    for (size_t j = 0; j < n; j++) {
        double s = 0;
        for (size_t i = 0; i < n; i++)
            s += fabs(A[i * n + j]);
        best = s > best ? s : best;
    }
    return best;
}

LA_INLINE int series(size_t n, const double *A, const double *Q, double dt, double *Ad,
                     double *Qd, double *work)
{
    size_t nn = n * n;
    for (size_t i = 0; i < nn; i++)
        if (!isfinite(A[i]) || !isfinite(Q[i]))
            return DT_ENUMERIC;
    double *Ah = work, *X = Ah + nn, *Y = X + nn, *T = Y + nn, *U = T + nn;
    /* Balanced (exactly, powers of two) when rows and columns differ in size:
     * A = D Ab D^-1, Qb = D^-1 Q D^-1, then Ad = D Ad_b D^-1, Qd = D Qd_b D.
     * Entries of 1e12 next to 1e-12 lose 8 digits otherwise; a balanced A
     * costs one read-only pass here. */
    double d[DT_LA_MAX];
    double anorm;
    int bal = !dt__balanced(n, A, &anorm) && dt__balance(n, A, Ah, d);
    const double *Ab = bal ? Ah : A;
    double theta = (bal ? norm1(n, Ab) : anorm) * dt;
    if (!(theta <= 1e300))
        return DT_ERANGE; /* |A dt| overflows: no step count to reach it (a
                             red-team pass found UB in the log2 below) */
    int s = 0;
    if (theta > 0.5) {
        s = (int)ceil(log2(theta / 0.5));
        if (s > 1000)
            return DT_ERANGE;
    }
    double h = ldexp(dt, -s);
    theta = ldexp(theta, -s);
    for (size_t i = 0; i < nn; i++) {
        Ah[i] = Ab[i] * h;
        Y[i] = Q[i] * h;
        X[i] = 0;
    }
    if (bal) /* divisions by powers of two: exact */
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++)
                Y[i * n + j] /= d[i] * d[j];
    for (size_t i = 0; i < n; i++)
        X[i * n + i] = 1;
    /* Ad holds Phi - I (la_internal.h: a slow mode keeps its digits through
     * the doublings), until they switch it to Phi */
    memset(Ad, 0, nn * sizeof *Ad);
    memcpy(Qd, Y, nn * sizeof *Qd);
    /* Terms needed, from the a-priori bounds ||X_k|| <= theta^k / k! and
     * ||Y_k|| <= ||Q h|| (2 theta)^k / (k+1)!: stop at the first K whose
     * geometric tail bounds are below 2^-56 of the sums' lower bounds
     * (||Phi|| >= 2 - e^theta >= 0.35 and, for theta <= 1/2, ||Qd|| >= e^{-2 theta}
     * ||Q h|| / (2 theta + 1) >= ||Q h|| / 6 for positive semi-definite Q). */
    const double eps = 0x1p-56;
    double bx = 1, by = 1; /* the bounds at term k, relative to 1 and ||Q h|| */
    int K = 1;
    for (; K < 60; K++) {
        bx *= theta / K;
        by *= 2 * theta / (K + 1);
        double rx = theta / (K + 1), ry = 2 * theta / (K + 2);
        if (bx * rx / (1 - rx) <= eps * 0.35 && by * ry / (1 - ry) <= eps / 6)
            break;
    }
    for (int k = 1; k <= K; k++) {
        /* X <- X Ah / k;  Y <- (Ah Y + (Ah Y)') / (k + 1)  (Y symmetric) */
        double ik = 1.0 / k, ik1 = 1.0 / (k + 1);
        dt__mul_sq(n, X, Ah, T);
        for (size_t i = 0; i < nn; i++) {
            X[i] = T[i] * ik;
            Ad[i] += X[i];
        }
        dt__mul_sq(n, Ah, Y, T);
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++) {
                Y[i * n + j] = (T[i * n + j] + T[j * n + i]) * ik1;
                Qd[i * n + j] += Y[i * n + j];
            }
    }
    int eform = 1;
    for (int i = 0; i < s; i++)
        eform = dt__vl_double(n, Ad, Qd, T, U, eform);
    if (bal)
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++) {
                Ad[i * n + j] *= d[i] / d[j];
                Qd[i * n + j] *= d[i] * d[j];
            }
    for (size_t i = 0; eform && i < n; i++)
        Ad[i * n + i] += 1;
    for (size_t i = 0; i < nn; i++)
        if (!isfinite(Ad[i]) || !isfinite(Qd[i]))
            return DT_ERANGE;
    return dt_mat_symmetrize(n, Qd);
}

typedef int (*series_fn)(const double *, const double *, double, double *, double *, double *);
#define VL_INSTANCE(N)                                                          \
    static int series_##N(const double *A, const double *Q, double dt, double *Ad, \
                          double *Qd, double *w)                                \
    {                                                                           \
        return series(N, A, Q, dt, Ad, Qd, w);                                  \
    }
VL_INSTANCE(2)
VL_INSTANCE(3)
VL_INSTANCE(4)
VL_INSTANCE(6)
VL_INSTANCE(8)
VL_INSTANCE(12)
VL_INSTANCE(16)
VL_INSTANCE(24)

static series_fn instance(size_t n)
{
    switch (n) {
    case 2: return series_2;
    case 3: return series_3;
    case 4: return series_4;
    case 6: return series_6;
    case 8: return series_8;
    case 12: return series_12;
    case 16: return series_16;
    case 24: return series_24;
    default: return NULL;
    }
}

int dt_vanloan_series(size_t n, const double *A, const double *Q, double dt, double *Ad,
                      double *Qd, double *work)
{
    if (n < 1 || n > DT_LA_MAX || !A || !Q || !Ad || !Qd || !work || !(dt >= 0) ||
        !isfinite(dt))
        return DT_EINVAL;
    series_fn f = instance(n);
    return f ? f(A, Q, dt, Ad, Qd, work) : series(n, A, Q, dt, Ad, Qd, work);
}
