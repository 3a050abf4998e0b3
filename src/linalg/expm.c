#include <float.h>
#include <math.h>
#include <string.h>

#include "dtwin/error.h"
#include "dtwin/linalg.h"
#include "la_internal.h"

/* Pade coefficients b_0..b_m of the [m/m] approximant to e^x and the largest
 * ||A||_1 for which each degree meets double precision backward error
 * (Higham 2005, Table 2.3 and eq. 2.5). */
static const double pade3[] = {120.0, 60.0, 12.0, 1.0};
static const double pade5[] = {30240.0, 15120.0, 3360.0, 420.0, 30.0, 1.0};
static const double pade7[] = {17297280.0, 8648640.0, 1995840.0, 277200.0,
                               25200.0,    1512.0,    56.0,      1.0};
static const double pade9[] = {17643225600.0, 8821612800.0, 2075673600.0,
                               302702400.0,   30270240.0,   2162160.0,
                               110880.0,      3960.0,       90.0,
                               1.0};
static const double pade13[] = {64764752532480000.0,
                                32382376266240000.0,
                                7771770303897600.0,
                                1187353796428800.0,
                                129060195264000.0,
                                10559470521600.0,
                                670442572800.0,
                                33522128640.0,
                                1323241920.0,
                                40840800.0,
                                960960.0,
                                16380.0,
                                182.0,
                                1.0};
static const double theta[] = {1.495585217958292e-2, 2.539398330063230e-1,
                               9.504178996162932e-1, 2.097847961257068e0,
                               5.371920351148152e0};

/* Solves M X = R (n x n each) by Gaussian elimination with partial pivoting,
 * destroying M and R; X may not alias them. */
static int solve_lu(size_t n, double *M, double *R, double *X)
{
    for (size_t c = 0; c < n; c++) {
        size_t piv = c;
        double best = fabs(M[c * n + c]);
        for (size_t r = c + 1; r < n; r++)
            if (fabs(M[r * n + c]) > best) {
                best = fabs(M[r * n + c]);
                piv = r;
            }
        if (!(best > 0.0) || !isfinite(best))
            return DT_ENUMERIC;
        if (piv != c)
            for (size_t j = 0; j < n; j++) {
                double t = M[c * n + j];
                M[c * n + j] = M[piv * n + j];
                M[piv * n + j] = t;
                t = R[c * n + j];
                R[c * n + j] = R[piv * n + j];
                R[piv * n + j] = t;
            }
        double d = M[c * n + c];
        for (size_t r = c + 1; r < n; r++) {
            double f = M[r * n + c] / d;
            if (f == 0.0)
                continue;
            for (size_t j = c; j < n; j++)
                M[r * n + j] -= f * M[c * n + j];
            for (size_t j = 0; j < n; j++)
                R[r * n + j] -= f * R[c * n + j];
        }
    }
    for (size_t j = 0; j < n; j++)
        for (size_t r = n; r-- > 0;) {
            double s = R[r * n + j];
            for (size_t k = r + 1; k < n; k++)
                s -= M[r * n + k] * X[k * n + j];
            X[r * n + j] = s / M[r * n + r];
        }
    return DT_OK;
}

/* acc += c * M over n*n entries. */
static void axpy(size_t nn, double c, const double *M, double *acc)
{
    for (size_t i = 0; i < nn; i++)
        acc[i] += c * M[i];
}

static void add_diag(size_t n, double c, double *M)
{
    for (size_t i = 0; i < n; i++)
        M[i * n + i] += c;
}

/* The Pade approximant's parts for A / 2^squarings (r = (V - U)^-1 (V + U)),
 * in work: U at 4 n^2, V at 5 n^2 (dt_expm's layout, DT_EXPM_WORK). */
static int pade_uv(size_t n, const double *A, double *work, int *squarings_out)
{
    size_t nn = n * n;
    double *A2 = work, *A4 = A2 + nn, *A6 = A4 + nn, *A8 = A6 + nn;
    double *U = A8 + nn, *V = U + nn, *T = V + nn;
    double norm = dt_mat_norm1(n, n, A);

    /* Low degrees: no scaling needed. U = A * sum_odd b_j A^(j-1),
     * V = sum_even b_j A^j. */
    const double *b = NULL;
    int degree = 0;
    if (norm <= theta[0]) {
        b = pade3;
        degree = 3;
    } else if (norm <= theta[1]) {
        b = pade5;
        degree = 5;
    } else if (norm <= theta[2]) {
        b = pade7;
        degree = 7;
    } else if (norm <= theta[3]) {
        b = pade9;
        degree = 9;
    }

    int squarings = 0;
    if (degree != 0) {
        dt__mul(n, n, n, A, A, A2);
        if (degree >= 5)
            dt__mul(n, n, n, A2, A2, A4);
        if (degree >= 7)
            dt__mul(n, n, n, A4, A2, A6);
        if (degree >= 9)
            dt__mul(n, n, n, A4, A4, A8);
        const double *pw[] = {NULL, A2, A4, A6, A8};
        memset(T, 0, nn * sizeof *T);
        memset(V, 0, nn * sizeof *V);
        add_diag(n, b[1], T);
        add_diag(n, b[0], V);
        for (int j = 2; j <= degree; j += 2) {
            axpy(nn, b[j + 1], pw[j / 2], T);
            axpy(nn, b[j], pw[j / 2], V);
        }
        dt__mul(n, n, n, A, T, U);
    } else {
        /* Scale so ||A / 2^s||_1 <= theta_13, then degree 13. */
        double r = norm / theta[4];
        squarings = (int)ceil(log2(r));
        if (squarings < 0)
            squarings = 0;
        /* e^A overflows long before 2^1024 squarings matter; beyond ~1100 the
         * scaling itself loses all meaning. */
        if (squarings > 1100 || !isfinite(norm))
            return DT_ERANGE;
        double sc = ldexp(1.0, -squarings);
        for (size_t i = 0; i < nn; i++)
            A8[i] = sc * A[i]; /* A8 holds the scaled A here. */
        const double *As = A8;
        dt__mul(n, n, n, As, As, A2);
        dt__mul(n, n, n, A2, A2, A4);
        dt__mul(n, n, n, A4, A2, A6);
        const double *c = pade13;
        /* U = As [A6 (c13 A6 + c11 A4 + c9 A2) + c7 A6 + c5 A4 + c3 A2 + c1 I] */
        for (size_t i = 0; i < nn; i++)
            T[i] = c[13] * A6[i] + c[11] * A4[i] + c[9] * A2[i];
        dt__mul(n, n, n, A6, T, U);
        axpy(nn, c[7], A6, U);
        axpy(nn, c[5], A4, U);
        axpy(nn, c[3], A2, U);
        add_diag(n, c[1], U);
        dt__mul(n, n, n, As, U, T);
        /* V = A6 (c12 A6 + c10 A4 + c8 A2) + c6 A6 + c4 A4 + c2 A2 + c0 I */
        for (size_t i = 0; i < nn; i++)
            U[i] = c[12] * A6[i] + c[10] * A4[i] + c[8] * A2[i];
        dt__mul(n, n, n, A6, U, V);
        axpy(nn, c[6], A6, V);
        axpy(nn, c[4], A4, V);
        axpy(nn, c[2], A2, V);
        add_diag(n, c[0], V);
        memcpy(U, T, nn * sizeof *U);
    }
    *squarings_out = squarings;
    return DT_OK;
}

int dt_expm(size_t n, const double *A, double *E, double *work)
{
    if (n < 1 || n > 2 * DT_LA_MAX || !A || !E || !work)
        return DT_EINVAL;
    size_t nn = n * n;
    for (size_t i = 0; i < nn; i++)
        if (!isfinite(A[i]))
            return DT_ENUMERIC;
    double *A2 = work, *A4 = A2 + nn, *U = A4 + 3 * nn, *V = U + nn, *T = V + nn;
    int squarings;
    int rc = pade_uv(n, A, work, &squarings);
    if (rc != DT_OK)
        return rc;
    /* (V - U) E = (V + U). */
    for (size_t i = 0; i < nn; i++) {
        double u = U[i], v = V[i];
        A2[i] = v - u;
        A4[i] = v + u;
    }
    rc = solve_lu(n, A2, A4, E);
    if (rc != DT_OK)
        return rc;
    for (int s = 0; s < squarings; s++) {
        dt__mul(n, n, n, E, E, T);
        memcpy(E, T, nn * sizeof *E);
    }
    for (size_t i = 0; i < nn; i++)
        if (!isfinite(E[i]))
            return DT_ERANGE;
    return DT_OK;
}

/* E = e^A - I for ||A||_1 <= theta_13 (no squaring), as 2 (V - U)^-1 U:
 * r(A) - I without forming r(A), so an entry of e^A near 1 keeps the digits
 * of its distance from 1 (e^{-1e-3 h} - 1 for h = 1e-6 s would keep only 7). */
static int expm1_short(size_t n, const double *A, double *E, double *work)
{
    size_t nn = n * n;
    double *A2 = work, *A4 = A2 + nn, *U = A4 + 3 * nn, *V = U + nn;
    int squarings;
    int rc = pade_uv(n, A, work, &squarings);
    if (rc != DT_OK || squarings != 0)
        return rc != DT_OK ? rc : DT_ERANGE; /* callers keep ||A|| small */
    for (size_t i = 0; i < nn; i++) {
        A2[i] = V[i] - U[i];
        A4[i] = 2 * U[i];
    }
    return solve_lu(n, A2, A4, E);
}

static int finite_all(size_t nn, const double *M)
{
    for (size_t i = 0; i < nn; i++)
        if (!isfinite(M[i]))
            return 0;
    return 1;
}

/* A balanced step for Van Loan's block: ||Ab h|| <= 1 keeps e^{-A h} (the
 * block's top left) within e, whatever the modes; the whole step is then
 * reached by exact doublings, which never form e^{-A dt} (that overflowed for a
 * fast stable mode over a long step, or underflowed for a growing one). */
static int doublings(double norm, double dt)
{
    if (!(norm * dt > 1.0)) /* also zero A or dt */
        return 0;
    int e;
    if (isfinite(norm * dt)) {
        (void)frexp(norm * dt, &e); /* norm dt < 2^e */
        return e;
    }
    int en, ed;
    (void)frexp(norm, &en);
    (void)frexp(dt, &ed);
    return en + ed;
}

int dt__vanloan_x(size_t n, const double *A, const double *Q, double dt, double *X,
                  double *Qd, int *eform, double *work)
{
    size_t N = 2 * n, nn = n * n;
    for (size_t i = 0; i < nn; i++)
        if (!isfinite(A[i]) || !isfinite(Q[i]))
            return DT_ENUMERIC;
    double *M = work, *F = M + N * N, *ew = F + N * N;
    /* Balanced: A = D Ab D^-1 with D = diag(d) of powers of two (exact), so
     * Ad = D Ad_b D^-1 and, with Qb = D^-1 Q D^-1, Qd = D Qd_b D. Ab lives in
     * F until the exponential overwrites it. */
    double d[DT_LA_MAX];
    const double *Ab = dt__balance(n, A, F, d) ? F : A;
    /* both norms: the block's 1-norm takes A' h's columns, A h's rows; <= 2
     * with Q's part is within the Pade degree that needs no squaring */
    double an = dt_mat_norm1(n, n, Ab);
    for (size_t i = 0; i < n; i++) {
        double r = 0.0;
        for (size_t j = 0; j < n; j++)
            r += fabs(Ab[i * n + j]);
        an = fmax(an, r);
    }
    int k = doublings(an, dt);
    double h = ldexp(dt, -k);
    /* M = [[-Ab, Qb], [0, Ab']] h. Then e^M - I = [[., e^{-Ab h} Qd_b],
     * [0, e^{Ab' h} - I]], so X_b = F22' and Qd_b = (I + X_b) F12 (X_b
     * = Ad_b - I, until the doublings may switch it to Ad_b). */
    memset(M, 0, N * N * sizeof *M);
    double qn = 0.0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            M[i * N + j] = -Ab[i * n + j] * h;
            M[i * N + n + j] = Q[i * n + j] / (d[i] * d[j]) * h;
            M[(n + i) * N + n + j] = Ab[j * n + i] * h;
            qn = fmax(qn, fabs(M[i * N + n + j]));
        }
    /* Qd is linear in Q: a large Q is scaled by 2^-sq to ||Q h||_1 <= 1, so
     * its size adds no squaring (nor overflow) to the block. */
    int sq = 0;
    if (qn * (double)n > 1.0)
        (void)frexp(qn * (double)n, &sq);
    for (size_t i = 0; i < n && sq > 0; i++)
        for (size_t j = 0; j < n; j++)
            M[i * N + n + j] = ldexp(M[i * N + n + j], -sq);
    int rc = expm1_short(N, M, F, ew);
    if (rc != DT_OK)
        return rc;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            X[i * n + j] = F[(n + j) * N + n + i];
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double v = F[i * N + n + j];
            for (size_t p = 0; p < n; p++)
                v += X[i * n + p] * F[p * N + n + j];
            Qd[i * n + j] = v;
        }
    (void)dt_mat_symmetrize(n, Qd);
    int ef = 1;
    for (int s = 0; s < k; s++) {
        ef = dt__vl_double(n, X, Qd, M, M + nn, ef);
        if (!finite_all(nn, X) || !finite_all(nn, Qd))
            return DT_ERANGE; /* overflowed: the rest would be NaN work */
    }
    *eform = ef;
    if (Ab != A || sq != 0) {
        int e[DT_LA_MAX];
        for (size_t i = 0; i < n; i++)
            e[i] = ilogb(d[i]);
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++) {
                X[i * n + j] = ldexp(X[i * n + j], e[i] - e[j]);
                Qd[i * n + j] = ldexp(Qd[i * n + j], e[i] + e[j] + sq);
            }
    }
    return finite_all(nn, X) && finite_all(nn, Qd) ? DT_OK : DT_ERANGE;
}

int dt_vanloan(size_t n, const double *A, const double *Q, double dt,
               double *Ad, double *Qd, double *work)
{
    if (n < 1 || n > DT_LA_MAX || !A || !Q || !Ad || !Qd || !work)
        return DT_EINVAL;
    if (!(dt >= 0.0) || !isfinite(dt))
        return DT_EINVAL;
    int eform;
    int rc = dt__vanloan_x(n, A, Q, dt, Ad, Qd, &eform, work);
    for (size_t i = 0; rc == DT_OK && eform && i < n; i++)
        Ad[i * n + i] += 1.0;
    return rc;
}
