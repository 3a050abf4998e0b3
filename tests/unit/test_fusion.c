/* Remote beliefs (dtwin/fusion.h): ageing against the Kalman filter's own
 * prediction and a 1-D closed form; covariance intersection against closed
 * forms, a brute-force search over w and a Monte Carlo run; the information
 * sum; and refusals. Tolerances are stated at each check. */
#include <float.h>
#include <stdint.h>
#include <stdlib.h>

#include "test_util.h"

#include "dtwin/dtwin.h"

#define NMAX DT_FUSION_MAX
static double age_work[DT_BELIEF_AGE_WORK(NMAX)];
static double ci_work[DT_CI_WORK(NMAX)];
static double fu_work[DT_FUSE_WORK(NMAX)];
static double cu_work[DT_CI_UPDATE_WORK(NMAX, NMAX)];

/* ---- helpers: plain loops, independent of the library's factorizations ---- */

/* Inverse and log|det| of an n x n matrix by Gauss-Jordan elimination with
 * partial pivoting. Returns 0 when singular. */
static int gj_inverse(size_t n, const double *A, double *inv, double *logdet)
{
    double M[6 * 12];
    size_t w = 2 * n;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < w; j++)
            M[i * w + j] = j < n ? A[i * n + j] : (j - n == i ? 1.0 : 0.0);
    double ld = 0;
    for (size_t c = 0; c < n; c++) {
        size_t p = c;
        for (size_t r = c + 1; r < n; r++)
            if (fabs(M[r * w + c]) > fabs(M[p * w + c]))
                p = r;
        if (M[p * w + c] == 0)
            return 0;
        for (size_t j = 0; j < w; j++) {
            double t = M[c * w + j];
            M[c * w + j] = M[p * w + j];
            M[p * w + j] = t;
        }
        double piv = M[c * w + c];
        ld += log(fabs(piv));
        for (size_t j = 0; j < w; j++)
            M[c * w + j] /= piv;
        for (size_t r = 0; r < n; r++)
            if (r != c) {
                double f = M[r * w + c];
                for (size_t j = 0; j < w; j++)
                    M[r * w + j] -= f * M[c * w + j];
            }
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            inv[i * n + j] = M[i * w + n + j];
    if (logdet)
        *logdet = ld;
    return 1;
}

/* The CI objective at w by definition, from Ia = Pa^-1 and Ib = Pb^-1:
 * P(w) = (w Ia + (1 - w) Ib)^-1; trace(P) or log det(P) (monotone in det P).
 * Also P(w) in P (may be NULL). */
static double ci_objective(size_t n, const double *Ia, const double *Ib, double w, int det,
                           double *P)
{
    double Y[36], Z[36], ld;
    for (size_t i = 0; i < n * n; i++)
        Y[i] = w * Ia[i] + (1 - w) * Ib[i];
    assert_true(gj_inverse(n, Y, Z, &ld));
    if (P)
        memcpy(P, Z, n * n * sizeof *Z);
    if (det)
        return -ld;
    double t = 0;
    for (size_t i = 0; i < n; i++)
        t += Z[i * n + i];
    return t;
}

/* A symmetric positive definite matrix from a seed: M M' + d I. */
static void spd(size_t n, double seed, double d, double *P)
{
    double M[36];
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            M[i * n + j] = sin(seed * (double)(3 * i + 7 * j + 1)) * (1.0 + 0.5 * (double)i);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double s = i == j ? d : 0;
            for (size_t k = 0; k < n; k++)
                s += M[i * n + k] * M[j * n + k];
            P[i * n + j] = s;
        }
    /* exactly symmetric */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            P[i * n + j] = P[j * n + i];
}

/* ---- ageing ---- */

enum { STABLE, UNSTABLE, OSCILLATING };
static const char *const kind_name[] = {"stable", "unstable", "oscillating"};

/* Test models of n states: a stable lower-triangular chain; the same with two
 * growing modes (0.15/s and 0.05/s: x' grows by e^15 over 100 s); and
 * lightly damped oscillators (1, 2, 3 rad/s, damping ratio 0.01) coupled in
 * a chain, with a first-order lag for the odd state. */
static void model(int kind, size_t n, double *A, double *Q)
{
    memset(A, 0, n * n * sizeof *A);
    if (kind == OSCILLATING) {
        size_t i = 0;
        for (int k = 1; i + 1 < n; i += 2, k++) {
            double w = (double)k;
            A[i * n + i + 1] = 1.0;
            A[(i + 1) * n + i] = -w * w;
            A[(i + 1) * n + i + 1] = -2 * 0.01 * w;
            if (i > 0)
                A[(i + 1) * n + i - 2] = 0.1; /* driven by the previous position */
        }
        if (i < n) {
            A[i * n + i] = -0.3;
            if (i > 0)
                A[i * n + i - 2] = 0.2;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            A[i * n + i] = -(0.5 + 0.3 * (double)i);
            if (i > 0)
                A[i * n + i - 1] = 0.8;
        }
        A[n * n - 1] = -0.05; /* a slow mode */
        if (kind == UNSTABLE) {
            A[0] = 0.15;
            A[n + 1] = 0.05;
        }
    }
    double G[36];
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            G[i * n + j] = j <= i ? 0.1 / (1.0 + (double)(i - j)) : 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0;
            for (size_t k = 0; k < n; k++)
                s += G[i * n + k] * G[j * n + k];
            Q[i * n + j] = s;
        }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            Q[i * n + j] = Q[j * n + i];
}

/* dt_belief_age equals dt_kf_peek (the filter's prediction, no input, same
 * continuous model) for every model, size 2..6 and dt from 1 ms to 100 s.
 * Tolerance 1e-12 relative to each entry's scale: |x_i - x_kf_i| <= 1e-12
 * (|x_kf_i| + sqrt(P_kf_ii)), |P_ij - P_kf_ij| <= 1e-12 sqrt(P_kf_ii P_kf_jj). */
static void test_age_matches_kf_predict(void **state)
{
    (void)state;
    static const double dts[] = {1e-3, 1e-2, 0.1, 1, 10, 100};
    double worst = 0;
    for (int kind = STABLE; kind <= OSCILLATING; kind++)
        for (size_t n = 2; n <= 6; n++) {
            double A[36], Q[36], P[36], x[6];
            model(kind, n, A, Q);
            spd(n, 0.37 + (double)n, 0.1, P);
            for (size_t i = 0; i < n; i++)
                x[i] = 1.0 - 0.3 * (double)i;
            dt_kf *kf;
            assert_int_equal(dt_kf_create(n, 0, NULL, &kf), DT_OK);
            assert_int_equal(dt_kf_set_continuous(kf, A, NULL, Q), DT_OK);
            assert_int_equal(dt_kf_set_state(kf, x, P), DT_OK);
            double kworst = 0;
            for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++) {
                double xk[6], Pk[36], xo[6], Po[36];
                assert_int_equal(dt_kf_peek(kf, dts[d], xk, Pk), DT_OK);
                assert_int_equal(dt_belief_age(n, x, P, A, Q, dts[d], xo, Po, age_work), DT_OK);
                for (size_t i = 0; i < n; i++) {
                    double sc = fabs(xk[i]) + sqrt(Pk[i * n + i]);
                    kworst = fmax(kworst, fabs(xo[i] - xk[i]) / sc);
                    assert_close(xo[i], xk[i], 0, 1e-12 * sc);
                    for (size_t j = 0; j < n; j++) {
                        double sp = sqrt(Pk[i * n + i] * Pk[j * n + j]);
                        kworst = fmax(kworst, fabs(Po[i * n + j] - Pk[i * n + j]) / sp);
                        assert_close(Po[i * n + j], Pk[i * n + j], 0, 1e-12 * sp);
                        assert_true(Po[i * n + j] == Po[j * n + i]); /* symmetric */
                    }
                }
            }
            dt_kf_destroy(kf);
            print_message("age vs kf predict: %-11s n=%zu: largest scaled difference %.2e\n",
                          kind_name[kind], n, kworst);
            worst = fmax(worst, kworst);
        }
    print_message("age vs kf predict: overall %.2e (tolerance 1e-12)\n", worst);
}

/* 1-D: x' = e^{a dt} x, P' = e^{2 a dt} P + q (e^{2 a dt} - 1) / (2 a), and
 * P + q dt for a = 0; to 1e-13 relative. (e^{2 a dt} - 1 by expm1, so the
 * reference keeps its digits for small a dt.) */
static void test_age_closed_form_1d(void **state)
{
    (void)state;
    static const double as[] = {-0.7, -1e-6, 0.0, 1e-6, 0.3};
    static const double dts[] = {1e-3, 0.5, 3, 100};
    const double x = 2.5, P = 1.5, q = 0.2;
    double worst = 0;
    for (size_t i = 0; i < sizeof as / sizeof as[0]; i++)
        for (size_t j = 0; j < sizeof dts / sizeof dts[0]; j++) {
            double a = as[i], dt = dts[j], xo, Po;
            assert_int_equal(dt_belief_age(1, &x, &P, &a, &q, dt, &xo, &Po, age_work), DT_OK);
            double e2 = exp(2 * a * dt);
            double xw = exp(a * dt) * x;
            double Pw = a == 0 ? P + q * dt : e2 * P + q * expm1(2 * a * dt) / (2 * a);
            worst = fmax(worst, fmax(fabs(xo - xw) / fabs(xw), fabs(Po - Pw) / Pw));
            assert_close(xo, xw, 1e-13, 0);
            assert_close(Po, Pw, 1e-13, 0);
        }
    print_message("age 1-D closed form: largest relative error %.2e (tolerance 1e-13)\n", worst);
}

/* dt = 0 returns the input bit for bit; the outputs may alias the inputs. */
static void test_age_zero_dt_and_aliasing(void **state)
{
    (void)state;
    double A[9], Q[9], P[9], x[3] = {1, -2, 3}, xo[3], Po[9];
    model(OSCILLATING, 3, A, Q);
    spd(3, 0.9, 0.2, P);
    assert_int_equal(dt_belief_age(3, x, P, A, Q, 0.0, xo, Po, age_work), DT_OK);
    assert_memory_equal(xo, x, sizeof x);
    assert_memory_equal(Po, P, sizeof P);
    /* in place: the same numbers as into other arrays */
    assert_int_equal(dt_belief_age(3, x, P, A, Q, 0.7, xo, Po, age_work), DT_OK);
    assert_int_equal(dt_belief_age(3, x, P, A, Q, 0.7, x, P, age_work), DT_OK);
    assert_memory_equal(xo, x, sizeof x);
    assert_memory_equal(Po, P, sizeof P);
}

/* Every refusal leaves the outputs untouched (sentinel values). */
static void expect_age_refused(size_t n, const double *x, const double *P, const double *A,
                               const double *Q, double dt, int want)
{
    double xo[4], Po[16];
    for (size_t i = 0; i < 16; i++)
        Po[i] = 12345.0;
    for (size_t i = 0; i < 4; i++)
        xo[i] = -777.0;
    assert_int_equal(dt_belief_age(n, x, P, A, Q, dt, xo, Po, age_work), want);
    for (size_t i = 0; i < 16; i++)
        assert_true(Po[i] == 12345.0);
    for (size_t i = 0; i < 4; i++)
        assert_true(xo[i] == -777.0);
}

static void test_age_refuses_bad_input(void **state)
{
    (void)state;
    double A[4] = {-1, 0.5, 0, -2}, Q[4] = {0.1, 0, 0, 0.2}, P[4] = {1, 0.2, 0.2, 2};
    double x[2] = {1, 2};
    double b[4];
    expect_age_refused(0, x, P, A, Q, 1, DT_EINVAL);
    expect_age_refused(NMAX + 1, x, P, A, Q, 1, DT_EINVAL);
    expect_age_refused(2, NULL, P, A, Q, 1, DT_EINVAL);
    assert_int_equal(dt_belief_age(2, x, P, A, Q, 1, x, P, NULL), DT_EINVAL);
    expect_age_refused(2, x, P, A, Q, -1e-9, DT_EINVAL);
    expect_age_refused(2, x, P, A, Q, NAN, DT_EINVAL);
    expect_age_refused(2, x, P, A, Q, INFINITY, DT_EINVAL);
    const double bad[] = {NAN, INFINITY, -INFINITY};
    for (size_t k = 0; k < 3; k++)
        for (size_t i = 0; i < 4; i++) {
            double xb[2] = {x[0], x[1]};
            if (i < 2) {
                xb[i] = bad[k];
                expect_age_refused(2, xb, P, A, Q, 1, DT_ENUMERIC);
            }
            memcpy(b, P, sizeof b);
            b[i] = bad[k];
            expect_age_refused(2, x, b, A, Q, 1, DT_ENUMERIC);
            memcpy(b, A, sizeof b);
            b[i] = bad[k];
            expect_age_refused(2, x, P, b, Q, 1, DT_ENUMERIC);
            memcpy(b, Q, sizeof b);
            b[i] = bad[k];
            expect_age_refused(2, x, P, A, b, 1, DT_ENUMERIC);
        }
    const double nonsym[4] = {1, 0.2, 0.3, 2}, indef[4] = {1, 2, 2, 1};
    const double negvar[4] = {-1, 0, 0, 2}, zero_row[4] = {0, 0.1, 0.1, 2};
    expect_age_refused(2, x, nonsym, A, Q, 1, DT_ENUMERIC);
    expect_age_refused(2, x, indef, A, Q, 1, DT_ENUMERIC);
    expect_age_refused(2, x, negvar, A, Q, 1, DT_ENUMERIC);
    expect_age_refused(2, x, zero_row, A, Q, 1, DT_ENUMERIC);
    expect_age_refused(2, x, P, A, nonsym, 1, DT_ENUMERIC);
    expect_age_refused(2, x, P, A, indef, 1, DT_ENUMERIC);
    /* refused even at dt = 0, where nothing is computed */
    expect_age_refused(2, x, indef, A, Q, 0, DT_ENUMERIC);
    /* Phi overflows: a growing mode of 10/s over 100 s (e^1000) */
    const double grow[4] = {10, 0, 0, -1};
    expect_age_refused(2, x, P, grow, Q, 100, DT_ERANGE);
    /* Phi is finite (e^10) but Phi x is not */
    const double slow[4] = {1, 0, 0, -1}, xbig[2] = {1e307, 0};
    expect_age_refused(2, xbig, P, slow, Q, 10, DT_ERANGE);
    /* P' overflows while x' does not */
    const double Pbig[4] = {1e300, 0, 0, 1};
    expect_age_refused(2, x, Pbig, slow, Q, 10, DT_ERANGE);

    /* accepted: a zero covariance (perfect knowledge), a zero variance with
     * its row zero, a zero Q (deterministic ageing), tiny and huge scales */
    const double Z[4] = {0}, zrow[4] = {0, 0, 0, 2};
    double xo[2], Po[4];
    assert_int_equal(dt_belief_age(2, x, Z, A, Z, 1, xo, Po, age_work), DT_OK);
    for (size_t i = 0; i < 4; i++)
        assert_true(Po[i] == 0);
    assert_int_equal(dt_belief_age(2, x, zrow, A, Q, 1, xo, Po, age_work), DT_OK);
    const double s[] = {1e-150, 1e150};
    for (size_t k = 0; k < 2; k++) {
        double Ps[4], Qs[4], Pr[4], xr[2];
        for (size_t i = 0; i < 4; i++) {
            Ps[i] = P[i] * s[k];
            Qs[i] = Q[i] * s[k];
        }
        assert_int_equal(dt_belief_age(2, x, P, A, Q, 2.0, xr, Pr, age_work), DT_OK);
        assert_int_equal(dt_belief_age(2, x, Ps, A, Qs, 2.0, xo, Po, age_work), DT_OK);
        for (size_t i = 0; i < 4; i++)
            assert_close(Po[i], Pr[i] * s[k], 1e-14, 0);
        assert_memory_equal(xo, xr, sizeof xo);
    }
}

/* ---- covariance intersection: closed forms ---- */

/* 1-D: P(w) = 1 / (w / a + (1 - w) / b) is monotone in w, so CI keeps the
 * smaller variance: w = 1 when Pa < Pb, w = 0 when Pb < Pa, exactly (x, P)
 * of that belief. Equal variances: P(w) = Pa for every w; w = 1/2 and x the
 * midpoint. Both criteria. */
static void test_ci_1d_picks_smaller_variance(void **state)
{
    (void)state;
    for (dt_ci_criterion crit = DT_CI_TRACE; crit <= DT_CI_DET; crit++) {
        double xa = 1.0, Pa = 2.0, xb = 4.0, Pb = 3.0, x, P, w = -1;
        assert_int_equal(dt_ci_fuse(1, &xa, &Pa, &xb, &Pb, crit, &x, &P, &w, ci_work), DT_OK);
        assert_true(w == 1.0 && x == xa && P == Pa);
        assert_int_equal(dt_ci_fuse(1, &xb, &Pb, &xa, &Pa, crit, &x, &P, &w, ci_work), DT_OK);
        assert_true(w == 0.0 && x == xa && P == Pa);
        /* a variance only 1 ulp smaller still wins */
        double Pc = nextafter(Pa, 0);
        assert_int_equal(dt_ci_fuse(1, &xb, &Pc, &xa, &Pa, crit, &x, &P, &w, ci_work), DT_OK);
        assert_true(P <= Pa);
        assert_close(P, Pa, 1e-15, 0);
        /* equal variances */
        assert_int_equal(dt_ci_fuse(1, &xa, &Pa, &xb, &Pa, crit, &x, &P, &w, ci_work), DT_OK);
        assert_true(w == 0.5 && x == 2.5 && P == Pa);
        assert_int_equal(dt_ci_fuse(1, &xb, &Pa, &xa, &Pa, crit, &x, &P, &w, ci_work), DT_OK);
        assert_true(w == 0.5 && x == 2.5 && P == Pa);
        /* omega may be NULL */
        assert_int_equal(dt_ci_fuse(1, &xa, &Pa, &xb, &Pb, crit, &x, &P, NULL, ci_work), DT_OK);
    }
}

/* Diagonal Pa = diag(a), Pb = diag(b) in 2-D: P(w)_ii = a_i b_i / (a_i + w d_i),
 * d = b - a. det: d/dw sum_i log(a_i + w d_i) = 0 gives
 * w* = -(d1 a2 + d2 a1) / (2 d1 d2); trace: a1 b1 d1 / (a1 + w d1)^2 =
 * -a2 b2 d2 / (a2 + w d2)^2 gives, with r1 = sqrt(a1 b1 d1), r2 =
 * sqrt(-a2 b2 d2), w* = (r2 a1 - r1 a2) / (r1 d2 - r2 d1). For a = (1, 3),
 * b = (4, 1): 7/12 and 0.5563. w to 1e-11, P to 1e-11 relative, x to
 * 1e-14 of its definition at the w returned. */
static void test_ci_diagonal_analytic(void **state)
{
    (void)state;
    const double a1 = 1, a2 = 3, b1 = 4, b2 = 1, d1 = b1 - a1, d2 = b2 - a2;
    const double Pa[4] = {a1, 0, 0, a2}, Pb[4] = {b1, 0, 0, b2};
    const double xa[2] = {0.5, -1}, xb[2] = {1.5, 2};
    double r1 = sqrt(a1 * b1 * d1), r2 = sqrt(-a2 * b2 * d2);
    const double want[2] = {(r2 * a1 - r1 * a2) / (r1 * d2 - r2 * d1),
                            -(d1 * a2 + d2 * a1) / (2 * d1 * d2)};
    for (dt_ci_criterion crit = DT_CI_TRACE; crit <= DT_CI_DET; crit++) {
        double x[2], P[4], w;
        assert_int_equal(dt_ci_fuse(2, xa, Pa, xb, Pb, crit, x, P, &w, ci_work), DT_OK);
        print_message("ci diagonal %s: w = %.15f, analytic %.15f, |diff| %.1e (tolerance 1e-11)\n",
                      crit == DT_CI_DET ? "det  " : "trace", w, want[crit], fabs(w - want[crit]));
        assert_close(w, want[crit], 0, 1e-11);
        double ws = want[crit];
        double p1 = a1 * b1 / (a1 + ws * d1), p2 = a2 * b2 / (a2 + ws * d2);
        assert_close(P[0], p1, 1e-11, 0);
        assert_close(P[3], p2, 1e-11, 0);
        assert_true(P[1] == 0 && P[2] == 0);
        /* x_i = p_i (w xa_i / a_i + (1 - w) xb_i / b_i) at the w returned */
        assert_close(x[0], P[0] * (w * xa[0] / a1 + (1 - w) * xb[0] / b1), 1e-14, 0);
        assert_close(x[1], P[3] * (w * xa[1] / a2 + (1 - w) * xb[1] / b2), 1e-14, 0);
    }
}

/* ---- covariance intersection against a brute-force search ---- */

/* For several pairs in 2..6 dimensions: the objective computed by definition
 * (Gauss-Jordan inverses, no Cholesky) on a grid of 1e5 + 1 points over
 * [0, 1], then refined twice on 2001 points around the best one (spacing
 * 1e-5, then 1e-8, then 1e-11). Checks: the library's objective at its w
 * is no worse than the grid's best to 1e-12 relative (of |f| + 1: the
 * grid's own evaluations by Gauss-Jordan carry rounding of ~1e-14); w agrees to 1e-6
 * (where the objective is curved: its second difference is positive; the
 * objective determines w only to about sqrt(eps) relative); and (x, P) equal
 * the definition at the library's w to 1e-12 relative to the scale. */
static void grid_case(size_t n, const double *xa, const double *Pa, const double *xb,
                      const double *Pb, dt_ci_criterion crit, double *worst_f, double *worst_w)
{
    double x[6], P[36], w, Ia[36], Ib[36], ya[6], yb[6];
    assert_int_equal(dt_ci_fuse(n, xa, Pa, xb, Pb, crit, x, P, &w, ci_work), DT_OK);
    assert_true(gj_inverse(n, Pa, Ia, NULL));
    assert_true(gj_inverse(n, Pb, Ib, NULL));
    double best = INFINITY, wbest = 0, lo = 0, span = 1;
    for (int pass = 0; pass < 3; pass++) {
        int pts = pass == 0 ? 100000 : 2000;
        for (int k = 0; k <= pts; k++) {
            double ww = lo + span * (double)k / pts;
            if (ww < 0 || ww > 1)
                continue;
            double f = ci_objective(n, Ia, Ib, ww, crit == DT_CI_DET, NULL);
            if (f < best) {
                best = f;
                wbest = ww;
            }
        }
        span = pass == 0 ? 2e-5 : span * 1e-3;
        lo = wbest - span / 2;
    }
    double Pd[36];
    double f = ci_objective(n, Ia, Ib, w, crit == DT_CI_DET, Pd);
    double scale = fabs(best) + 1;
    *worst_f = fmax(*worst_f, (f - best) / scale);
    assert_true(f <= best + 1e-12 * scale);
    *worst_w = fmax(*worst_w, fabs(w - wbest));
    assert_close(w, wbest, 0, 1e-6);
    /* x by definition at w */
    for (size_t i = 0; i < n; i++) {
        ya[i] = yb[i] = 0;
        for (size_t j = 0; j < n; j++) {
            ya[i] += Ia[i * n + j] * xa[j];
            yb[i] += Ib[i * n + j] * xb[j];
        }
    }
    for (size_t i = 0; i < n; i++) {
        double xi = 0;
        for (size_t j = 0; j < n; j++)
            xi += Pd[i * n + j] * (w * ya[j] + (1 - w) * yb[j]);
        assert_close(x[i], xi, 0, 1e-12 * (fabs(xi) + sqrt(Pd[i * n + i])));
        for (size_t j = 0; j < n; j++)
            assert_close(P[i * n + j], Pd[i * n + j], 0,
                         1e-12 * sqrt(Pd[i * n + i] * Pd[j * n + j]));
    }
}

static void test_ci_against_grid(void **state)
{
    (void)state;
    double wf = 0, ww = 0;
    int cases = 0;
    for (size_t n = 2; n <= 6; n++)
        for (int s = 0; s < 3; s++) {
            double Pa[36], Pb[36], xa[6], xb[6];
            spd(n, 0.3 + 0.11 * (double)s + (double)n, 0.05, Pa);
            spd(n, 1.7 + 0.23 * (double)s + (double)n, 0.05 + 0.3 * (double)s, Pb);
            for (size_t i = 0; i < n; i++) {
                xa[i] = sin(1.0 + (double)i + (double)s);
                xb[i] = cos(2.0 + (double)i * (double)s);
            }
            for (dt_ci_criterion crit = DT_CI_TRACE; crit <= DT_CI_DET; crit++, cases++)
                grid_case(n, xa, Pa, xb, Pb, crit, &wf, &ww);
        }
    /* shapes that make the optimum interior: the same ellipse turned 90 degrees */
    const double Pa[4] = {4, 1, 1, 0.5}, Pb[4] = {0.5, -1, -1, 4}, xa[2] = {1, 0}, xb[2] = {0, 1};
    for (dt_ci_criterion crit = DT_CI_TRACE; crit <= DT_CI_DET; crit++, cases++)
        grid_case(2, xa, Pa, xb, Pb, crit, &wf, &ww);
    print_message("ci vs grid: %d cases, objective excess <= %.1e relative (tolerance 1e-12), "
                  "|w - w_grid| <= %.1e (tolerance 1e-6)\n",
                  cases, wf, ww);
}

/* Identical inputs: x and P equal the input bit for bit (w is 1/2); the
 * same P with different means gives the midpoint. Outputs may alias inputs. */
static void test_ci_identical_and_aliasing(void **state)
{
    (void)state;
    double P[16], x[4] = {1, 2, -3, 1e6}, xo[4], Po[16], w;
    spd(4, 0.77, 0.1, P);
    for (dt_ci_criterion crit = DT_CI_TRACE; crit <= DT_CI_DET; crit++) {
        assert_int_equal(dt_ci_fuse(4, x, P, x, P, crit, xo, Po, &w, ci_work), DT_OK);
        assert_memory_equal(xo, x, sizeof x);
        assert_memory_equal(Po, P, sizeof P);
        assert_true(w == 0.5);
        double fu[4], Pf[16];
        assert_int_equal(dt_fuse_independent(4, x, P, x, P, fu, Pf, fu_work), DT_OK);
        assert_memory_equal(fu, x, sizeof x); /* x + K 0 */
        for (size_t i = 0; i < 16; i++)
            assert_close(Pf[i], P[i] / 2, 0, 1e-14 * sqrt(P[(i / 4) * 5] * P[(i % 4) * 5]));
    }
    /* aliasing: the result lands in xa, Pa */
    double Pb[16], xb[4] = {0, 1, 0, 1e6 + 1}, xr[4], Pr[16], wr;
    spd(4, 1.9, 0.4, Pb);
    assert_int_equal(dt_ci_fuse(4, x, P, xb, Pb, DT_CI_TRACE, xr, Pr, &wr, ci_work), DT_OK);
    assert_int_equal(dt_ci_fuse(4, x, P, xb, Pb, DT_CI_TRACE, x, P, &w, ci_work), DT_OK);
    assert_memory_equal(xr, x, sizeof x);
    assert_memory_equal(Pr, P, sizeof P);
    assert_true(w == wr);
    assert_int_equal(dt_fuse_independent(4, x, P, xb, Pb, xr, Pr, fu_work), DT_OK);
    assert_int_equal(dt_fuse_independent(4, x, P, xb, Pb, xb, Pb, fu_work), DT_OK);
    assert_memory_equal(xr, xb, sizeof xb);
    assert_memory_equal(Pr, Pb, sizeof Pb);
}

/* The information sum against its definition (Gauss-Jordan): 1-D closed
 * form P = a b / (a + b), x = (b xa + a xb) / (a + b); n-D to 1e-12. */
static void test_fuse_independent_definition(void **state)
{
    (void)state;
    double xa = 1, a = 2, xb = 4, b = 6, x, P;
    assert_int_equal(dt_fuse_independent(1, &xa, &a, &xb, &b, &x, &P, fu_work), DT_OK);
    assert_close(P, a * b / (a + b), 1e-15, 0);
    assert_close(x, (b * xa + a * xb) / (a + b), 1e-15, 0);
    for (size_t n = 2; n <= 6; n++) {
        double Pa[36], Pb[36], xa_[6], xb_[6], xo[6], Po[36];
        double Ia[36], Ib[36], Y[36], Pd[36];
        spd(n, 0.5 + (double)n, 0.1, Pa);
        spd(n, 2.5 + (double)n, 0.4, Pb);
        for (size_t i = 0; i < n; i++) {
            xa_[i] = (double)i;
            xb_[i] = 1.0 - (double)i * 0.5;
        }
        assert_int_equal(dt_fuse_independent(n, xa_, Pa, xb_, Pb, xo, Po, fu_work), DT_OK);
        assert_true(gj_inverse(n, Pa, Ia, NULL) && gj_inverse(n, Pb, Ib, NULL));
        for (size_t i = 0; i < n * n; i++)
            Y[i] = Ia[i] + Ib[i];
        assert_true(gj_inverse(n, Y, Pd, NULL));
        for (size_t i = 0; i < n; i++) {
            double s = 0;
            for (size_t j = 0; j < n; j++)
                for (size_t k = 0; k < n; k++)
                    s += Pd[i * n + j] * (Ia[j * n + k] * xa_[k] + Ib[j * n + k] * xb_[k]);
            assert_close(xo[i], s, 0, 1e-12 * (fabs(s) + sqrt(Pd[i * n + i])));
            for (size_t j = 0; j < n; j++) {
                assert_close(Po[i * n + j], Pd[i * n + j], 0,
                             1e-12 * sqrt(Pd[i * n + i] * Pd[j * n + j]));
                assert_true(Po[i * n + j] == Po[j * n + i]);
            }
        }
    }
}

/* ---- Monte Carlo ---- */

#define PI 3.14159265358979323846
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double uniform(void) /* xorshift64*, in (0, 1) */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    uint64_t r = rng_state * 0x2545F4914F6CDD1Dull;
    return ((double)(r >> 11) + 0.5) / 9007199254740992.0;
}
static double gauss(void) /* Box-Muller */
{
    static int have;
    static double spare;
    if (have) {
        have = 0;
        return spare;
    }
    double u = uniform(), v = uniform(), r = sqrt(-2 * log(u));
    spare = r * sin(2 * PI * v);
    have = 1;
    return r * cos(2 * PI * v);
}
/* e ~ N(0, L L') with L lower triangular. */
static void draw(size_t n, const double *L, double *e)
{
    double z[6];
    for (size_t i = 0; i < n; i++)
        z[i] = gauss();
    for (size_t i = 0; i < n; i++) {
        e[i] = 0;
        for (size_t j = 0; j <= i; j++)
            e[i] += L[i * n + j] * z[j];
    }
}
static double nees(size_t n, const double *e, const double *P)
{
    double L[36], y[6];
    assert_int_equal(dt_chol(n, P, L), DT_OK);
    assert_int_equal(dt_chol_solve(n, 1, L, e, y), DT_OK);
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += e[i] * y[i];
    return s;
}
/* The chi-square quantile for k degrees of freedom by bisection on
 * dt_chi2_cdf (dt_chi2_quantile stops at k = 1000). */
static double chi2_quantile(double p, unsigned k)
{
    double lo = 0, hi = 2.0 * k + 100;
    for (int i = 0; i < 200; i++) {
        double mid = 0.5 * (lo + hi);
        if (dt_chi2_cdf(mid, k) < p)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

/* Two estimates of one 3-D state share a common error c ~ N(0, Pc) and each
 * has its own, ea ~ N(0, Ra), eb ~ N(0, Rb): xa = t + c + ea with the honest
 * Pa = Pc + Ra, xb likewise (each belief consistent on its own; their
 * cross-covariance Pc is known to the test, not to the fusers). N = 2000
 * trials, fixed seed. NEES = e' P^-1 e of the fused error. A consistent
 * estimator's NEES is chi-square(3); the mean of N independent ones is
 * chi-square(3 N) / N, whose 95 % band is [q(0.025, 3N), q(0.975, 3N)] / N
 * (q the chi-square quantile, here by bisection on dt_chi2_cdf; about
 * 3 -+ 1.96 sqrt(6 / N) = [2.89, 3.11]). The independent fusion's mean
 * NEES is above the band (overconfident); covariance intersection's is at
 * most 3 (its P bounds the error's covariance whatever Pc is). */
static void test_monte_carlo_nees(void **state)
{
    (void)state;
    enum { N = 2000 };
    const size_t n = 3;
    const double Pc[9] = {0.5, 0.1, 0, 0.1, 0.5, 0.05, 0, 0.05, 0.5};
    const double Ra[9] = {2.0, 0.2, 0, 0.2, 0.2, 0, 0, 0, 1.0};
    const double Rb[9] = {0.3, 0, 0.05, 0, 1.5, -0.2, 0.05, -0.2, 0.6};
    double Pa[9], Pb[9], Lc[9], La[9], Lb[9];
    for (size_t i = 0; i < 9; i++) {
        Pa[i] = Pc[i] + Ra[i];
        Pb[i] = Pc[i] + Rb[i];
    }
    assert_int_equal(dt_chol(n, Pc, Lc), DT_OK);
    assert_int_equal(dt_chol(n, Ra, La), DT_OK);
    assert_int_equal(dt_chol(n, Rb, Lb), DT_OK);
    rng_state = 0x9E3779B97F4A7C15ull;
    const double t[3] = {10, -5, 0.25};
    double sum_ind = 0, sum_ci[2] = {0, 0}, w_ci[2] = {0, 0};
    for (int k = 0; k < N; k++) {
        double c[3], ea[3], eb[3], xa[3], xb[3], x[3], P[9], e[3];
        draw(n, Lc, c);
        draw(n, La, ea);
        draw(n, Lb, eb);
        for (size_t i = 0; i < n; i++) {
            xa[i] = t[i] + c[i] + ea[i];
            xb[i] = t[i] + c[i] + eb[i];
        }
        assert_int_equal(dt_fuse_independent(n, xa, Pa, xb, Pb, x, P, fu_work), DT_OK);
        for (size_t i = 0; i < n; i++)
            e[i] = x[i] - t[i];
        sum_ind += nees(n, e, P);
        for (dt_ci_criterion crit = DT_CI_TRACE; crit <= DT_CI_DET; crit++) {
            assert_int_equal(dt_ci_fuse(n, xa, Pa, xb, Pb, crit, x, P, &w_ci[crit], ci_work),
                             DT_OK);
            for (size_t i = 0; i < n; i++)
                e[i] = x[i] - t[i];
            sum_ci[crit] += nees(n, e, P);
        }
    }
    /* The expected NEES, tr(P^-1 S), with S the fused error's covariance:
     * e = c + P (wa Ia ea + wb Ib eb), so S = Pc + P (wa^2 Ia Ra Ia + wb^2
     * Ib Rb Ib) P (independent: wa = wb = 1; CI: w, 1 - w). */
    double expect[3];
    for (int f = 0; f < 3; f++) {
        double wa = f == 0 ? 1 : w_ci[f - 1], wb = f == 0 ? 1 : 1 - w_ci[f - 1];
        double xo[3], P[9], Ia[9], Ib[9], M[9], S[9], Pi[9];
        const double z[3] = {0, 0, 0};
        if (f == 0)
            assert_int_equal(dt_fuse_independent(n, z, Pa, z, Pb, xo, P, fu_work), DT_OK);
        else
            assert_int_equal(dt_ci_fuse(n, z, Pa, z, Pb, (dt_ci_criterion)(f - 1), xo, P, NULL, ci_work), DT_OK);
        assert_true(gj_inverse(n, Pa, Ia, NULL) && gj_inverse(n, Pb, Ib, NULL));
        assert_true(gj_inverse(n, P, Pi, NULL));
        for (size_t i = 0; i < n; i++) /* M = wa^2 Ia Ra Ia + wb^2 Ib Rb Ib */
            for (size_t j = 0; j < n; j++) {
                double s = 0;
                for (size_t k = 0; k < n; k++)
                    for (size_t l = 0; l < n; l++)
                        s += wa * wa * Ia[i * n + k] * Ra[k * n + l] * Ia[l * n + j] +
                             wb * wb * Ib[i * n + k] * Rb[k * n + l] * Ib[l * n + j];
                M[i * n + j] = s;
            }
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++) {
                double s = Pc[i * n + j];
                for (size_t k = 0; k < n; k++)
                    for (size_t l = 0; l < n; l++)
                        s += P[i * n + k] * M[k * n + l] * P[l * n + j];
                S[i * n + j] = s;
            }
        expect[f] = 0;
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < n; k++)
                expect[f] += Pi[i * n + k] * S[k * n + i];
    }
    double lo = chi2_quantile(0.025, 3 * N) / N, hi = chi2_quantile(0.975, 3 * N) / N;
    double m_ind = sum_ind / N, m_tr = sum_ci[DT_CI_TRACE] / N, m_det = sum_ci[DT_CI_DET] / N;
    print_message("monte carlo (n = 3, N = %d): 95 %% band of mean NEES [%.4f, %.4f]\n", N, lo,
                  hi);
    print_message("  independent fusion: mean NEES %.3f, expected %.3f (overconfident: above "
                  "the band)\n",
                  m_ind, expect[0]);
    print_message("  CI trace (w = %.4f): mean NEES %.3f, expected %.3f (<= 3)\n",
                  w_ci[DT_CI_TRACE], m_tr, expect[1 + DT_CI_TRACE]);
    print_message("  CI det   (w = %.4f): mean NEES %.3f, expected %.3f (<= 3)\n",
                  w_ci[DT_CI_DET], m_det, expect[1 + DT_CI_DET]);
    assert_true(expect[0] > hi && expect[1] <= 3 && expect[2] <= 3);
    assert_close(lo, 3 - 1.96 * sqrt(6.0 / N), 0, 0.01);
    assert_close(hi, 3 + 1.96 * sqrt(6.0 / N), 0, 0.01);
    assert_true(m_ind > hi);
    assert_true(m_tr <= 3.0 && m_det <= 3.0);
}

/* ---- refusals and scales ---- */

static void expect_ci_refused(size_t n, const double *xa, const double *Pa, const double *xb,
                              const double *Pb, int crit, int want)
{
    double xo[3], Po[9], w = -5;
    for (size_t i = 0; i < 9; i++)
        Po[i] = 999;
    for (size_t i = 0; i < 3; i++)
        xo[i] = 888;
    assert_int_equal(dt_ci_fuse(n, xa, Pa, xb, Pb, (dt_ci_criterion)crit, xo, Po, &w, ci_work),
                     want);
    assert_true(w == -5);
    for (size_t i = 0; i < 9; i++)
        assert_true(Po[i] == 999);
    for (size_t i = 0; i < 3; i++)
        assert_true(xo[i] == 888);
    if (crit == DT_CI_TRACE) { /* the same inputs to the information sum */
        assert_int_equal(dt_fuse_independent(n, xa, Pa, xb, Pb, xo, Po, fu_work), want);
        for (size_t i = 0; i < 9; i++)
            assert_true(Po[i] == 999);
        for (size_t i = 0; i < 3; i++)
            assert_true(xo[i] == 888);
    }
}

static void test_fuse_refuses_bad_input(void **state)
{
    (void)state;
    double Pa[4] = {2, 0.5, 0.5, 1}, Pb[4] = {1, -0.2, -0.2, 3}, xa[2] = {1, 2}, xb[2] = {0, 1};
    expect_ci_refused(0, xa, Pa, xb, Pb, DT_CI_TRACE, DT_EINVAL);
    expect_ci_refused(NMAX + 1, xa, Pa, xb, Pb, DT_CI_TRACE, DT_EINVAL);
    expect_ci_refused(2, NULL, Pa, xb, Pb, DT_CI_TRACE, DT_EINVAL);
    expect_ci_refused(2, xa, Pa, xb, NULL, DT_CI_TRACE, DT_EINVAL);
    expect_ci_refused(2, xa, Pa, xb, Pb, 2, DT_EINVAL);
    expect_ci_refused(2, xa, Pa, xb, Pb, -1, DT_EINVAL);
    double xo[2], Po[4];
    assert_int_equal(dt_ci_fuse(2, xa, Pa, xb, Pb, DT_CI_DET, xo, Po, NULL, NULL), DT_EINVAL);
    assert_int_equal(dt_fuse_independent(2, xa, Pa, xb, Pb, xo, Po, NULL), DT_EINVAL);
    const double bad[] = {NAN, INFINITY, -INFINITY};
    for (size_t k = 0; k < 3; k++)
        for (size_t i = 0; i < 4; i++)
            for (dt_ci_criterion crit = DT_CI_TRACE; crit <= DT_CI_DET; crit++) {
                double b[4], v[2] = {xa[0], xa[1]};
                if (i < 2) {
                    v[i] = bad[k];
                    expect_ci_refused(2, v, Pa, xb, Pb, (int)crit, DT_ENUMERIC);
                    expect_ci_refused(2, xa, Pa, v, Pb, (int)crit, DT_ENUMERIC);
                }
                memcpy(b, Pa, sizeof b);
                b[i] = bad[k];
                expect_ci_refused(2, xa, b, xb, Pb, (int)crit, DT_ENUMERIC);
                expect_ci_refused(2, xa, Pa, xb, b, (int)crit, DT_ENUMERIC);
            }
    const double nonsym[4] = {2, 0.5, 0.4, 1}, indef[4] = {1, 2, 2, 1};
    const double singular[4] = {1, 1, 1, 1}, zero[4] = {0}, neg[4] = {-1, 0, 0, -2};
    const double *nonpd[] = {nonsym, indef, singular, zero, neg};
    for (size_t k = 0; k < 5; k++)
        for (dt_ci_criterion crit = DT_CI_TRACE; crit <= DT_CI_DET; crit++) {
            expect_ci_refused(2, xa, nonpd[k], xb, Pb, (int)crit, DT_ENUMERIC);
            expect_ci_refused(2, xa, Pa, xb, nonpd[k], (int)crit, DT_ENUMERIC);
            /* both the same bad matrix: the equal-P shortcut checks too */
            expect_ci_refused(2, xa, nonpd[k], xb, nonpd[k], (int)crit, DT_ENUMERIC);
        }
    /* a fused mean that overflows: means of opposite sign near DBL_MAX */
    const double big[2] = {1.7e308, 0}, nbig[2] = {-1.7e308, 0};
    const double Pc[4] = {1, 0, 0, 3}, Pd[4] = {3, 0, 0, 1};
    expect_ci_refused(2, big, Pc, nbig, Pd, DT_CI_TRACE, DT_ERANGE);
    expect_ci_refused(2, big, Pc, nbig, Pd, DT_CI_DET, DT_ERANGE);
}

/* Scales of 1e-150 and 1e+150 (each P multiplied, x unchanged): the same w
 * to 1e-12, P scaled to 1e-12 relative of its scale, x to 1e-12. Far apart
 * scales (Pa ~ 1e-150, Pb ~ 1e+150): w = 1, exactly (xa, Pa); the
 * information sum is Pa to 1e-15 relative. */
static void test_fuse_extreme_scales(void **state)
{
    (void)state;
    double Pa[9], Pb[9], xa[3] = {1, -2, 0.5}, xb[3] = {0.3, 0, 2};
    spd(3, 0.41, 0.1, Pa);
    spd(3, 2.2, 0.3, Pb);
    const double s[] = {1e-150, 1e150};
    for (dt_ci_criterion crit = DT_CI_TRACE; crit <= DT_CI_DET; crit++) {
        double x1[3], P1[9], w1, xf1[3], Pf1[9];
        assert_int_equal(dt_ci_fuse(3, xa, Pa, xb, Pb, crit, x1, P1, &w1, ci_work), DT_OK);
        assert_true(w1 > 0 && w1 < 1); /* interior: the scaling is exercised */
        assert_int_equal(dt_fuse_independent(3, xa, Pa, xb, Pb, xf1, Pf1, fu_work), DT_OK);
        for (size_t k = 0; k < 2; k++) {
            double Sa[9], Sb[9], x[3], P[9], w;
            for (size_t i = 0; i < 9; i++) {
                Sa[i] = Pa[i] * s[k];
                Sb[i] = Pb[i] * s[k];
            }
            assert_int_equal(dt_ci_fuse(3, xa, Sa, xb, Sb, crit, x, P, &w, ci_work), DT_OK);
            assert_close(w, w1, 0, 1e-12);
            for (size_t i = 0; i < 3; i++) {
                assert_close(x[i], x1[i], 0, 1e-12 * (fabs(x1[i]) + sqrt(P1[i * 4])));
                for (size_t j = 0; j < 3; j++)
                    assert_close(P[i * 3 + j] / s[k], P1[i * 3 + j], 0,
                                 1e-12 * sqrt(P1[i * 4] * P1[j * 4]));
            }
            assert_int_equal(dt_fuse_independent(3, xa, Sa, xb, Sb, x, P, fu_work), DT_OK);
            for (size_t i = 0; i < 3; i++) {
                assert_close(x[i], xf1[i], 0, 1e-12 * (fabs(xf1[i]) + sqrt(Pf1[i * 4])));
                for (size_t j = 0; j < 3; j++)
                    assert_close(P[i * 3 + j] / s[k], Pf1[i * 3 + j], 0,
                                 1e-12 * sqrt(Pf1[i * 4] * Pf1[j * 4]));
            }
        }
        double Sa[9], Sb[9], x[3], P[9], w;
        for (size_t i = 0; i < 9; i++) {
            Sa[i] = Pa[i] * 1e-150;
            Sb[i] = Pb[i] * 1e150;
        }
        assert_int_equal(dt_ci_fuse(3, xa, Sa, xb, Sb, crit, x, P, &w, ci_work), DT_OK);
        assert_true(w == 1.0);
        assert_memory_equal(x, xa, sizeof x);
        assert_memory_equal(P, Sa, sizeof P);
        assert_int_equal(dt_fuse_independent(3, xa, Sa, xb, Sb, x, P, fu_work), DT_OK);
        for (size_t i = 0; i < 9; i++)
            assert_close(P[i], Sa[i], 0, 1e-15 * sqrt(Sa[(i / 3) * 4] * Sa[(i % 3) * 4]));
        for (size_t i = 0; i < 3; i++)
            assert_close(x[i], xa[i], 1e-15, 0);
    }
}

/* The largest dimension, with scratch of exactly the documented sizes (so
 * the sanitizer build sees any access past them): every function succeeds,
 * CI's P is no wider than either input's trace, and ageing a stable model
 * keeps P symmetric with non-negative variances. */

/* ---- covariance intersection with a partial observation ---- */

/* With H = I, R = Pb and y = xb - xa, dt_ci_update is dt_ci_fuse: same w to
 * 1e-9 (both locate the derivative's zero, in different scalings), x and P
 * to 1e-10 relative to the scale. */
static void test_ci_update_full_equals_fuse(void **state)
{
    (void)state;
    for (size_t n = 1; n <= 6; n++)
        for (int s = 0; s < 3; s++) {
            double Pa[36], Pb[36], xa[6], xb[6], y[6], H[36], x1[6], P1[36], x2[6], P2[36];
            spd(n, 0.4 + 0.13 * (double)s + (double)n, 0.05, Pa);
            spd(n, 1.9 + 0.29 * (double)s + (double)n, 0.05 + 0.4 * (double)s, Pb);
            for (size_t i = 0; i < n; i++) {
                xa[i] = sin(2.0 + (double)i + (double)s);
                xb[i] = cos(1.0 + (double)i * (double)s);
                y[i] = xb[i] - xa[i];
            }
            assert_int_equal(dt_mat_identity(n, H), DT_OK);
            for (dt_ci_criterion c = DT_CI_TRACE; c <= DT_CI_DET; c++) {
                double w1, w2;
                assert_int_equal(dt_ci_fuse(n, xa, Pa, xb, Pb, c, x1, P1, &w1, ci_work), DT_OK);
                assert_int_equal(dt_ci_update(n, n, xa, Pa, H, y, Pb, c, x2, P2, &w2, cu_work),
                                 DT_OK);
                assert_close(w2, w1, 1e-9, 0);
                for (size_t i = 0; i < n; i++) {
                    assert_close(x2[i], x1[i], 0, 1e-10 * (fabs(x1[i]) + sqrt(P1[i * n + i])));
                    for (size_t j = 0; j < n; j++)
                        assert_close(P2[i * n + j], P1[i * n + j], 0,
                                     1e-10 * sqrt(P1[i * n + i] * P1[j * n + j]));
                }
            }
        }
}

/* The objective of the partial update at w, by definition (Gauss-Jordan):
 * P(w) = (w P^-1 + (1 - w) H' R^-1 H)^-1. */
static double cu_objective(size_t n, size_t m, const double *P, const double *H,
                           const double *R, double w, int det, double *Pw)
{
    double Ip[36], Ir[36], Y[36], Z[36], ld;
    assert_true(gj_inverse(n, P, Ip, NULL));
    assert_true(gj_inverse(m, R, Ir, NULL));
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0;
            for (size_t a = 0; a < m; a++)
                for (size_t b = 0; b < m; b++)
                    s += H[a * n + i] * Ir[a * m + b] * H[b * n + j];
            Y[i * n + j] = w * Ip[i * n + j] + (1 - w) * s;
        }
    assert_true(gj_inverse(n, Y, Z, &ld));
    if (Pw)
        memcpy(Pw, Z, n * n * sizeof *Z);
    if (det)
        return -ld;
    double t = 0;
    for (size_t i = 0; i < n; i++)
        t += Z[i * n + i];
    return t;
}

/* m < n functions of the state (rows mixing states, scaled as a unit
 * conversion would): w against a brute-force grid over (0, 1] (10^5 points,
 * refined twice), the objective no worse than the grid's best to 1e-12
 * relative, x and P equal to the definition at the library's w to 1e-10
 * relative to the scale; 0 < w (the unobserved directions keep it off 0). */
static void test_ci_update_partial_against_grid(void **state)
{
    (void)state;
    int cases = 0;
    double worst_w = 0;
    for (size_t n = 2; n <= 6; n++)
        for (size_t m = 1; m < n; m++) {
            double P[36], R[36], H[36], y[6], x[6], xo[6], Po[36], w;
            spd(n, 0.7 + (double)n + 0.1 * (double)m, 0.1, P);
            spd(m, 2.3 + (double)m, 0.05, R);
            for (size_t k = 0; k < m; k++)
                for (size_t j = 0; j < n; j++)
                    H[k * n + j] = (j == k ? 100.0 : 0.0) + 3.0 * sin((double)(k * n + j) + 0.5);
            for (size_t i = 0; i < n; i++)
                x[i] = cos((double)i + 0.3);
            for (size_t k = 0; k < m; k++)
                y[k] = 5.0 * sin((double)k + 1.1);
            for (dt_ci_criterion c = DT_CI_TRACE; c <= DT_CI_DET; c++, cases++) {
                int det = c == DT_CI_DET;
                assert_int_equal(dt_ci_update(n, m, x, P, H, y, R, c, xo, Po, &w, cu_work), DT_OK);
                assert_true(w > 0 && w <= 1);
                double best = INFINITY, wbest = 1, lo = 0, span = 1;
                for (int pass = 0; pass < 3; pass++) {
                    int pts = pass == 0 ? 100000 : 2000;
                    for (int k = 0; k <= pts; k++) {
                        double ww = lo + span * (double)k / pts;
                        if (ww <= 0 || ww > 1)
                            continue;
                        double f = cu_objective(n, m, P, H, R, ww, det, NULL);
                        if (f < best) {
                            best = f;
                            wbest = ww;
                        }
                    }
                    span = pass == 0 ? 2e-5 : span * 1e-3;
                    lo = wbest - span / 2;
                }
                double Pd[36];
                double f = cu_objective(n, m, P, H, R, w, det, Pd);
                assert_true(f <= best + 1e-12 * (fabs(best) + 1));
                worst_w = fmax(worst_w, fabs(w - wbest));
                /* x by definition: x + (1 - w) P(w) H' R^-1 y */
                double Ir[36], g[6];
                assert_true(gj_inverse(m, R, Ir, NULL));
                for (size_t i = 0; i < n; i++) {
                    g[i] = 0;
                    for (size_t a = 0; a < m; a++)
                        for (size_t b = 0; b < m; b++)
                            g[i] += H[a * n + i] * Ir[a * m + b] * y[b];
                }
                for (size_t i = 0; i < n; i++) {
                    double xi = x[i];
                    for (size_t j = 0; j < n; j++)
                        xi += (1 - w) * Pd[i * n + j] * g[j];
                    assert_close(xo[i], xi, 0, 1e-10 * (fabs(xi) + sqrt(Pd[i * n + i])));
                    for (size_t j = 0; j < n; j++)
                        assert_close(Po[i * n + j], Pd[i * n + j], 0,
                                     1e-10 * sqrt(Pd[i * n + i] * Pd[j * n + j]));
                }
            }
        }
    print_message("ci update vs grid: %d cases, |w - w_grid| <= %.1e\n", cases, worst_w);
    assert_true(worst_w < 1e-6);
}

/* A remote belief far wider than the local one adds nothing under CI:
 * w = 1 and (x, P) come back bit for bit; bad arguments are refused with
 * the outputs untouched. */
static void test_ci_update_useless_and_refusals(void **state)
{
    (void)state;
    double P[4] = {1, 0.2, 0.2, 2}, H[2] = {1, 0}, R[1] = {1e6}, y[1] = {3}, x[2] = {1, 2};
    double xo[2] = {7, 7}, Po[4] = {7, 7, 7, 7}, w = -1;
    assert_int_equal(dt_ci_update(2, 1, x, P, H, y, R, DT_CI_TRACE, xo, Po, &w, cu_work), DT_OK);
    assert_true(w == 1.0);
    assert_memory_equal(xo, x, sizeof x);
    assert_memory_equal(Po, P, sizeof P);
    double xs[2] = {7, 7};
    double Rn[1] = {-1}, Rz[1] = {0}, yn[1] = {NAN}, Pn[4] = {1, 2, 2, 1};
    assert_int_equal(dt_ci_update(2, 1, x, P, H, y, Rn, DT_CI_TRACE, xs, Po, &w, cu_work),
                     DT_ENUMERIC);
    assert_int_equal(dt_ci_update(2, 1, x, P, H, y, Rz, DT_CI_TRACE, xs, Po, &w, cu_work),
                     DT_ENUMERIC);
    assert_int_equal(dt_ci_update(2, 1, x, P, H, yn, R, DT_CI_TRACE, xs, Po, &w, cu_work),
                     DT_ENUMERIC);
    assert_int_equal(dt_ci_update(2, 1, x, Pn, H, y, R, DT_CI_TRACE, xs, Po, &w, cu_work),
                     DT_ENUMERIC);
    assert_int_equal(dt_ci_update(0, 1, x, P, H, y, R, DT_CI_TRACE, xs, Po, &w, cu_work),
                     DT_EINVAL);
    assert_int_equal(dt_ci_update(2, 0, x, P, H, y, R, DT_CI_TRACE, xs, Po, &w, cu_work),
                     DT_EINVAL);
    assert_int_equal(dt_ci_update(2, 1, x, P, H, y, R, (dt_ci_criterion)7, xs, Po, &w, cu_work),
                     DT_EINVAL);
    assert_true(xs[0] == 7 && xs[1] == 7);
}

static void test_largest_dimension(void **state)
{
    (void)state;
    enum { N = DT_FUSION_MAX };
    static double Pa[N * N], Pb[N * N], A[N * N], Q[N * N], P[N * N], x[N], xb[N], xo[N];
    static double ci[DT_CI_WORK(N)], fu[DT_FUSE_WORK(N)], ag[DT_BELIEF_AGE_WORK(N)];
    for (size_t i = 0; i < N; i++) {
        x[i] = sin((double)i);
        xb[i] = cos((double)i);
        for (size_t j = 0; j < N; j++) {
            /* diagonally dominant, so positive definite */
            double c = 0.5 / (1.0 + fabs((double)i - (double)j));
            Pa[i * N + j] = i == j ? 2.0 + (double)(i % 5) : c;
            Pb[i * N + j] = i == j ? 2.0 + (double)((i + 2) % 7) : -0.4 * c;
            A[i * N + j] = i == j ? -1.0 : (j + 1 == i ? 0.5 : 0);
            Q[i * N + j] = i == j ? 0.1 : 0;
        }
    }
    double ta = 0, tb = 0;
    for (size_t i = 0; i < N; i++) {
        ta += Pa[i * N + i];
        tb += Pb[i * N + i];
    }
    for (dt_ci_criterion crit = DT_CI_TRACE; crit <= DT_CI_DET; crit++) {
        double w, t = 0;
        assert_int_equal(dt_ci_fuse(N, x, Pa, xb, Pb, crit, xo, P, &w, ci), DT_OK);
        for (size_t i = 0; i < N; i++)
            t += P[i * N + i];
        assert_true(w >= 0 && w <= 1);
        if (crit == DT_CI_TRACE)
            assert_true(t <= fmin(ta, tb));
    }
    assert_int_equal(dt_fuse_independent(N, x, Pa, xb, Pb, xo, P, fu), DT_OK);
    assert_int_equal(dt_belief_age(N, x, Pa, A, Q, 3.0, xo, P, ag), DT_OK);
    for (size_t i = 0; i < N; i++) {
        assert_true(P[i * N + i] >= 0);
        for (size_t j = 0; j < N; j++)
            assert_true(P[i * N + j] == P[j * N + i]);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_age_matches_kf_predict),
    cmocka_unit_test(test_age_closed_form_1d),
    cmocka_unit_test(test_age_zero_dt_and_aliasing),
    cmocka_unit_test(test_age_refuses_bad_input),
    cmocka_unit_test(test_ci_1d_picks_smaller_variance),
    cmocka_unit_test(test_ci_diagonal_analytic),
    cmocka_unit_test(test_ci_against_grid),
    cmocka_unit_test(test_ci_identical_and_aliasing),
    cmocka_unit_test(test_fuse_independent_definition),
    cmocka_unit_test(test_monte_carlo_nees),
    cmocka_unit_test(test_fuse_refuses_bad_input),
    cmocka_unit_test(test_fuse_extreme_scales),
    cmocka_unit_test(test_largest_dimension),
    cmocka_unit_test(test_ci_update_full_equals_fuse),
    cmocka_unit_test(test_ci_update_partial_against_grid),
    cmocka_unit_test(test_ci_update_useless_and_refusals),
};

DTT_MAIN(tests)
