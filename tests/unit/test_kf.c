/* The filter core and latency physics against closed forms. Tolerances are
 * stated per check (rel = relative to the expected value). */
#include <stdlib.h>

#include "test_util.h"

#include "alloc_counter.h"
#include "dtwin/dtwin.h"

static void test_chi2_quantiles(void **state)
{
    (void)state;
    const double ps[] = {0.5, 0.9, 0.95, 0.99, 0.999, 0.999999};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        double p = ps[i], q;
        /* k = 1: P = erf(sqrt(x/2)); k = 2: 1 - e^{-x/2};
         * k = 3: erf(sqrt(x/2)) - sqrt(2x/pi) e^{-x/2}; k = 4: 1 - e^{-x/2}(1 + x/2) */
        assert_int_equal(dt_chi2_quantile(p, 1, &q), 0);
        assert_close(erf(sqrt(q / 2)), p, 1e-13, 0);
        assert_int_equal(dt_chi2_quantile(p, 2, &q), 0);
        assert_close(q, -2 * log(1 - p), 1e-12, 0);
        assert_int_equal(dt_chi2_quantile(p, 3, &q), 0);
        assert_close(erf(sqrt(q / 2)) - sqrt(2 * q / 3.14159265358979323846) * exp(-q / 2), p,
                     1e-13, 0);
        assert_int_equal(dt_chi2_quantile(p, 4, &q), 0);
        assert_close(1 - exp(-q / 2) * (1 + q / 2), p, 1e-13, 0);
    }
    double q;
    assert_int_equal(dt_chi2_quantile(0.95, 1, &q), 0);
    assert_close(q, 3.841458820694124, 1e-12, 0); /* published table value */
    assert_int_equal(dt_chi2_quantile(0.999, 32, &q), 0);
    assert_close(dt_chi2_cdf(q, 32), 0.999, 1e-12, 0);
    assert_int_equal(dt_chi2_quantile(1.0, 1, &q), DT_EINVAL);
    assert_int_equal(dt_chi2_quantile(0.5, 0, &q), DT_EINVAL);
}

static dt_kf *mk(size_t n, size_t p)
{
    dt_kf *kf = NULL;
    assert_int_equal(dt_kf_create(n, p, NULL, &kf), 0);
    return kf;
}

static void test_scalar_update_by_hand(void **state)
{
    (void)state;
    dt_kf *kf = mk(1, 0);
    double x = 0, P = 4, h = 1;
    assert_int_equal(dt_kf_set_state(kf, &x, &P), 0);
    dt_kf_result r;
    /* s = 5, k = 0.8: x = 1.6, P = (1 - 0.8)^2 4 + 0.64 = 0.8 */
    assert_int_equal(dt_kf_update_scalar(kf, &h, 2.0, 1.0, 0, &r), 0);
    assert_close(dt_kf_state(kf)[0], 1.6, 1e-15, 0);
    assert_close(dt_kf_cov(kf)[0], 0.8, 1e-15, 0);
    assert_close(r.nis, 4.0 / 5.0, 1e-15, 0);
    assert_close(r.s, 5.0, 0, 0);
    dt_kf_destroy(kf);
}

static void test_scalar_equals_vector_update(void **state)
{
    (void)state;
    const double x0[3] = {1, -2, 0.5};
    const double P0[9] = {2, 0.3, 0.1, 0.3, 1.5, -0.2, 0.1, -0.2, 0.8};
    const double h[3] = {0.7, -1.1, 2.0};
    dt_kf *a = mk(3, 0), *b = mk(3, 0);
    dt_kf_set_state(a, x0, P0);
    dt_kf_set_state(b, x0, P0);
    double r = 0.3;
    assert_int_equal(dt_kf_update_scalar(a, h, 1.25, r, 0, NULL), 0);
    double z = 1.25;
    assert_int_equal(dt_kf_update(b, 1, &z, h, &r, 0, NULL), 0);
    assert_mat_close(3, 1, dt_kf_state(a), dt_kf_state(b), 1e-14, 1e-15);
    assert_mat_close(3, 3, dt_kf_cov(a), dt_kf_cov(b), 1e-13, 1e-15);
    /* and both equal the textbook P - K S K' */
    double Ph[3], s = r;
    for (int i = 0; i < 3; i++) {
        Ph[i] = 0;
        for (int j = 0; j < 3; j++)
            Ph[i] += P0[i * 3 + j] * h[j];
        s += h[i] * Ph[i];
    }
    double want[9];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            want[i * 3 + j] = P0[i * 3 + j] - Ph[i] * Ph[j] / s;
    assert_mat_close(3, 3, dt_kf_cov(a), want, 1e-13, 1e-15);
    dt_kf_destroy(a);
    dt_kf_destroy(b);
}

static void test_vector_update_two_sensors(void **state)
{
    (void)state;
    /* Two independent direct measurements of a 2-state with diagonal P:
     * each state updates alone: x_i = x_i + p_i/(p_i + r_i) (z_i - x_i). */
    dt_kf *kf = mk(2, 0);
    const double x0[2] = {0, 10}, P0[4] = {4, 0, 0, 9};
    dt_kf_set_state(kf, x0, P0);
    const double H[4] = {1, 0, 0, 1}, R[4] = {1, 0, 0, 3}, z[2] = {5, 4};
    dt_kf_result res;
    assert_int_equal(dt_kf_update(kf, 2, z, H, R, 0, &res), 0);
    assert_close(dt_kf_state(kf)[0], 4.0, 1e-14, 0);  /* 0 + 0.8 * 5 */
    assert_close(dt_kf_state(kf)[1], 5.5, 1e-14, 0);  /* 10 + 0.75 * -6 */
    assert_close(dt_kf_cov(kf)[0], 0.8, 1e-14, 0);
    assert_close(dt_kf_cov(kf)[3], 2.25, 1e-14, 0);
    assert_close(dt_kf_cov(kf)[1], 0.0, 0, 1e-15);
    assert_close(res.nis, 25.0 / 5 + 36.0 / 12, 1e-14, 0);
    dt_kf_destroy(kf);
}

static void test_failures_leave_belief_unchanged(void **state)
{
    (void)state;
    dt_kf *kf = mk(2, 0);
    const double x0[2] = {1, 2}, P0[4] = {1, 0, 0, 1};
    dt_kf_set_state(kf, x0, P0);
    /* S = H P H' + R = 1 - 5 < 0: not positive definite. */
    const double H[2] = {1, 0}, R[1] = {-5}, z[1] = {3};
    assert_int_equal(dt_kf_update(kf, 1, z, H, R, 0, NULL), DT_ENUMERIC);
    assert_mat_close(2, 1, dt_kf_state(kf), x0, 0, 0);
    assert_mat_close(2, 2, dt_kf_cov(kf), P0, 0, 0);
    /* Indefinite 2 x 2 S. */
    const double H2[4] = {1, 0, 0, 1}, R2[4] = {0, 3, 3, 0}, z2[2] = {0, 0};
    assert_int_equal(dt_kf_update(kf, 2, z2, H2, R2, 0, NULL), DT_ENUMERIC);
    assert_mat_close(2, 2, dt_kf_cov(kf), P0, 0, 0);
    /* Gated: a 10-sigma innovation against a 0.999 gate. */
    double g;
    dt_chi2_quantile(0.999, 1, &g);
    dt_kf_result r;
    const double h[2] = {1, 0};
    assert_int_equal(dt_kf_update_scalar(kf, h, 1 + 10 * sqrt(2.0), 1.0, g, &r), 0);
    assert_true(r.gated);
    assert_close(r.nis, 100.0, 1e-12, 0);
    assert_mat_close(2, 1, dt_kf_state(kf), x0, 0, 0);
    /* Bad arguments. */
    assert_int_equal(dt_kf_update_scalar(kf, h, NAN, 1.0, 0, NULL), DT_EINVAL);
    assert_int_equal(dt_kf_update_scalar(kf, h, 1, -1.0, 0, NULL), DT_EINVAL);
    const double asym[4] = {1, 0.5, 0.4, 1};
    assert_int_equal(dt_kf_set_state(kf, x0, asym), DT_EINVAL);
    assert_int_equal(dt_kf_predict(kf, 0.1), DT_EINVAL); /* no process model */
    dt_kf_destroy(kf);
}

static void test_predict_scalar_closed_form(void **state)
{
    (void)state;
    const double as[] = {-0.8, 0.0, 0.3};
    for (size_t i = 0; i < 3; i++) {
        double a = as[i], b = 2.0, q = 0.5, u = 1.5, dt = 0.25;
        dt_kf *kf = mk(1, 1);
        assert_int_equal(dt_kf_set_continuous(kf, &a, &b, &q), 0);
        double x = 3, P = 0.7;
        dt_kf_set_state(kf, &x, &P);
        dt_kf_set_input(kf, &u);
        assert_int_equal(dt_kf_predict(kf, dt), 0);
        double e = exp(a * dt);
        double bd = a == 0 ? b * dt : b * expm1(a * dt) / a;
        double qd = a == 0 ? q * dt : q * expm1(2 * a * dt) / (2 * a);
        assert_close(dt_kf_state(kf)[0], e * x + bd * u, 1e-13, 0);
        assert_close(dt_kf_cov(kf)[0], e * e * P + qd, 1e-13, 0);
        /* Same dt again: served from the cache. */
        assert_int_equal(dt_kf_predict(kf, dt), 0);
        dt_kf_stats st;
        dt_kf_stats_get(kf, &st);
        assert_int_equal(st.discretizations, 1);
        assert_int_equal(st.cache_hits, 1);
        dt_kf_destroy(kf);
    }
}

static void test_no_allocation_after_create(void **state)
{
    (void)state;
    dtt_counter c = {0};
    dt_allocator al = dtt_allocator(&c);
    dt_kf *kf;
    assert_int_equal(dt_kf_create(6, 1, &al, &kf), 0);
    long calls = c.calls;
    double A[36] = {0}, B[6] = {0, 0, 0, 0, 0, 1}, Q[36] = {0}, x[6] = {0}, P[36] = {0};
    for (int i = 0; i < 5; i++)
        A[i * 6 + i + 1] = 1;
    for (int i = 0; i < 6; i++) {
        Q[i * 7] = 0.01;
        P[i * 7] = 1;
    }
    dt_kf_set_continuous(kf, A, B, Q);
    dt_kf_set_state(kf, x, P);
    double h[6] = {1, 0, 0, 0, 0, 0}, H[12] = {1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0},
           R[4] = {1, 0, 0, 1}, z[2] = {0.1, 0.2};
    for (int k = 0; k < 1000; k++) {
        dt_kf_predict(kf, k % 3 ? 0.01 : 0.02);
        dt_kf_update_scalar(kf, h, 0.1, 1.0, 0, NULL);
        dt_kf_update(kf, 2, z, H, R, 0, NULL);
    }
    assert_int_equal(c.calls, calls);
    dt_kf_destroy(kf);
    assert_int_equal(c.live, 0);
}

/* EKF process callback: here a linear map, so it must match the discrete KF. */
static const double Fm[4] = {1, 0.1, 0, 0.95};
static int linear_f(void *user, const double *x, const double *u, double dt, double *xn,
                    double *F)
{
    (void)user, (void)u, (void)dt;
    xn[0] = Fm[0] * x[0] + Fm[1] * x[1];
    xn[1] = Fm[2] * x[0] + Fm[3] * x[1];
    memcpy(F, Fm, sizeof Fm);
    return 0;
}

static void test_nonlinear_process_matches_linear(void **state)
{
    (void)state;
    const double Qc[4] = {0.02, 0, 0, 0.4}, dt = 0.1;
    const double Qd[4] = {0.02 * dt, 0, 0, 0.4 * dt};
    const double x0[2] = {1, -1}, P0[4] = {0.5, 0.1, 0.1, 0.3}, h[2] = {1, 0};
    dt_kf *a = mk(2, 0), *b = mk(2, 0);
    assert_int_equal(dt_kf_set_nonlinear(a, linear_f, NULL, Qc), 0);
    assert_int_equal(dt_kf_set_discrete(b, Fm, NULL, Qd), 0);
    dt_kf_set_state(a, x0, P0);
    dt_kf_set_state(b, x0, P0);
    for (int k = 0; k < 50; k++) {
        assert_int_equal(dt_kf_predict(a, dt), 0);
        assert_int_equal(dt_kf_predict(b, dt), 0);
        dt_kf_update_scalar(a, h, sin(0.1 * k), 0.2, 0, NULL);
        dt_kf_update_scalar(b, h, sin(0.1 * k), 0.2, 0, NULL);
    }
    assert_mat_close(2, 1, dt_kf_state(a), dt_kf_state(b), 1e-13, 1e-15);
    assert_mat_close(2, 2, dt_kf_cov(a), dt_kf_cov(b), 1e-13, 1e-15);
    dt_kf_destroy(a);
    dt_kf_destroy(b);
}

static void test_batch_equals_single_filters(void **state)
{
    (void)state;
    /* 19 filters (two full blocks of 8 and a partial one) of a 6-state model,
     * 3 measurements per step, each with its own data: the batch must give
     * each filter's result to 1e-12. */
    enum { N = 6, M = 3, F = 19, STEPS = 300 };
    double A[N * N] = {0}, Q[N * N] = {0}, Ad[N * N], Qd[N * N], H[M * N] = {0}, r[M];
    for (int i = 0; i + 1 < N; i += 2) {
        A[i * N + i + 1] = 1;
        A[(i + 1) * N + i] = -1.0 - i;
        A[(i + 1) * N + i + 1] = -0.1;
    }
    for (int i = 0; i < N; i++)
        Q[i * N + i] = 0.05;
    for (int j = 0; j < M; j++) {
        H[j * N + 2 * j] = 1;
        H[j * N + (2 * j + 1) % N] = 0.2;
        r[j] = 0.01 * (j + 1);
    }
    static double w[DT_VANLOAN_SERIES_WORK(N)];
    assert_int_equal(dt_vanloan_series(N, A, Q, 0.02, Ad, Qd, w), 0);
    dt_kf_batch *b;
    assert_int_equal(dt_kf_batch_create(N, F, NULL, &b), 0);
    assert_int_equal(dt_kf_batch_set_model(b, Ad, Qd), 0);
    dt_kf *kf[F];
    double P0[N * N] = {0};
    for (int i = 0; i < N; i++)
        P0[i * N + i] = 1;
    for (int f = 0; f < F; f++) {
        double x0[N];
        for (int i = 0; i < N; i++)
            x0[i] = 0.1 * f - 0.05 * i;
        kf[f] = mk(N, 0);
        dt_kf_set_discrete(kf[f], Ad, NULL, Qd);
        dt_kf_set_state(kf[f], x0, P0);
        assert_int_equal(dt_kf_batch_set_state(b, (size_t)f, x0, P0), 0);
    }
    double z[F * M];
    for (int k = 0; k < STEPS; k++) {
        for (int f = 0; f < F; f++)
            for (int j = 0; j < M; j++)
                z[f * M + j] = sin(0.01 * k * (f + 1) + j);
        assert_int_equal(dt_kf_batch_step(b, M, H, r, z), 0);
        for (int f = 0; f < F; f++) {
            dt_kf_predict(kf[f], 0.02);
            for (int j = 0; j < M; j++)
                dt_kf_update_scalar(kf[f], H + j * N, z[f * M + j], r[j], 0, NULL);
        }
    }
    for (int f = 0; f < F; f++) {
        double x[N], P[N * N];
        assert_int_equal(dt_kf_batch_get_state(b, (size_t)f, x, P), 0);
        assert_mat_close(N, 1, x, dt_kf_state(kf[f]), 1e-12, 1e-14);
        assert_mat_close(N, N, P, dt_kf_cov(kf[f]), 1e-12, 1e-14);
        dt_kf_destroy(kf[f]);
    }
    assert_int_equal(dt_kf_batch_set_state(b, F, P0, P0), DT_EINVAL);
    dt_kf_batch_destroy(b);
}

/* ---- non-finite callback results (tracker issue, class 2) ---- */

/* An EKF process callback that can be told to write NaN or infinity into
 * x_next or F, or to return a positive value, while reporting success. */
typedef struct bad_f {
    int mode; /* 0 good, 1 NaN x_next, 2 Inf x_next, 3 NaN F, 4 Inf F, 5 returns 1 */
    int calls;
} bad_f;

static int bad_process(void *user, const double *x, const double *u, double dt, double *xn,
                       double *F)
{
    (void)u;
    bad_f *b = user;
    b->calls++;
    linear_f(NULL, x, NULL, dt, xn, F);
    switch (b->mode) {
    case 1: xn[1] = NAN; break;
    case 2: xn[0] = INFINITY; break;
    case 3: F[2] = NAN; break;
    case 4: F[3] = -INFINITY; break;
    case 5: return 1;
    default: break;
    }
    return 0;
}

static void assert_bits_equal(size_t cnt, const double *a, const double *b)
{
    assert_memory_equal(a, b, cnt * sizeof *a);
}

static void test_ekf_nonfinite_callback_refused(void **state)
{
    (void)state;
    const double Qc[4] = {0.02, 0, 0, 0.4}, x0[2] = {1, -1}, P0[4] = {0.5, 0.1, 0.1, 0.3};
    const double h[2] = {1, 0};
    bad_f bf = {0, 0};
    dt_kf *kf = mk(2, 0);
    assert_int_equal(dt_kf_set_nonlinear(kf, bad_process, &bf, Qc), 0);
    assert_int_equal(dt_kf_set_state(kf, x0, P0), 0);
    for (int mode = 1; mode <= 5; mode++) {
        bf.mode = mode;
        double xp[2], Pp[4];
        /* the header's rule: a failed call leaves x and P unchanged */
        int rc = dt_kf_predict(kf, 0.1);
        assert_true(rc < 0);
        if (mode < 5)
            assert_int_equal(rc, DT_ENUMERIC);
        assert_bits_equal(2, dt_kf_state(kf), x0);
        assert_bits_equal(4, dt_kf_cov(kf), P0);
        /* a peek goes through the same callback */
        assert_true(dt_kf_peek(kf, 0.1, xp, Pp) < 0);
        assert_bits_equal(2, dt_kf_state(kf), x0);
        assert_bits_equal(4, dt_kf_cov(kf), P0);
    }
    /* and the filter still works: a good step, then an update */
    bf.mode = 0;
    assert_int_equal(dt_kf_predict(kf, 0.1), 0);
    assert_int_equal(dt_kf_update_scalar(kf, h, 0.9, 0.2, 0, NULL), 0);
    for (int i = 0; i < 4; i++)
        assert_true(isfinite(dt_kf_cov(kf)[i]));
    assert_true(isfinite(dt_kf_state(kf)[0]) && isfinite(dt_kf_state(kf)[1]));
    dt_kf_destroy(kf);
}

/* A measurement callback returning a positive value is refused too. */
static int positive_h(void *user, const double *x, double *hx, double *grad)
{
    (void)user;
    *hx = x[0];
    grad[0] = 1;
    grad[1] = 0;
    return 2;
}

static void test_ekf_measurement_positive_return_refused(void **state)
{
    (void)state;
    const double x0[2] = {1, -1}, P0[4] = {0.5, 0.1, 0.1, 0.3};
    dt_kf *kf = mk(2, 0);
    dt_kf_set_state(kf, x0, P0);
    assert_true(dt_kf_update_nonlinear(kf, positive_h, NULL, 1.0, 0.1, 0, NULL) < 0);
    assert_bits_equal(2, dt_kf_state(kf), x0);
    assert_bits_equal(4, dt_kf_cov(kf), P0);
    dt_kf_destroy(kf);
}

static void test_batch_nonfinite_refused(void **state)
{
    (void)state;
    enum { N = 4, F = 11 };
    double Ad[N * N] = {0}, Qd[N * N] = {0}, P0[N * N] = {0}, x0[N] = {1, 2, 3, 4};
    for (int i = 0; i < N; i++) {
        Ad[i * N + i] = 1;
        Qd[i * N + i] = 0.01;
        P0[i * N + i] = 1;
    }
    Ad[1] = 0.1;
    const double H[N] = {1, 0, 0.5, 0}, r1[1] = {0.1};
    dt_kf_batch *b;
    assert_int_equal(dt_kf_batch_create(N, F, NULL, &b), 0);
    double z[F];
    for (int f = 0; f < F; f++)
        z[f] = 0.1 * f;
    /* no model yet */
    assert_int_equal(dt_kf_batch_step(b, 1, H, r1, z), DT_EINVAL);
    double badQ[N * N];
    memcpy(badQ, Qd, sizeof badQ);
    badQ[1] = 0.5; /* not symmetric */
    assert_int_equal(dt_kf_batch_set_model(b, Ad, badQ), DT_EINVAL);
    assert_int_equal(dt_kf_batch_set_model(b, Ad, Qd), 0);
    /* states: non-finite, not symmetric, a negative variance */
    double bad[N * N];
    memcpy(bad, P0, sizeof bad);
    bad[5] = NAN;
    assert_int_equal(dt_kf_batch_set_state(b, 0, x0, bad), DT_EINVAL);
    bad[5] = -1;
    assert_int_equal(dt_kf_batch_set_state(b, 0, x0, bad), DT_EINVAL);
    bad[5] = 1;
    bad[1] = 0.3;
    assert_int_equal(dt_kf_batch_set_state(b, 0, x0, bad), DT_EINVAL);
    double xbad[N] = {1, NAN, 0, 0};
    assert_int_equal(dt_kf_batch_set_state(b, 0, xbad, P0), DT_EINVAL);
    for (size_t f = 0; f < F; f++)
        assert_int_equal(dt_kf_batch_set_state(b, f, x0, P0), 0);
    /* non-finite data or rows, negative variance: refused, nothing stepped */
    double xs[F][N], Ps[F][N * N];
    for (size_t f = 0; f < F; f++)
        dt_kf_batch_get_state(b, f, xs[f], Ps[f]);
    z[7] = NAN;
    assert_int_equal(dt_kf_batch_step(b, 1, H, r1, z), DT_EINVAL);
    z[7] = 0.7;
    const double Hn[N] = {1, INFINITY, 0, 0}, rneg[1] = {-1}, rnan[1] = {NAN};
    assert_int_equal(dt_kf_batch_step(b, 1, Hn, r1, z), DT_EINVAL);
    assert_int_equal(dt_kf_batch_step(b, 1, H, rneg, z), DT_EINVAL);
    assert_int_equal(dt_kf_batch_step(b, 1, H, rnan, z), DT_EINVAL);
    for (size_t f = 0; f < F; f++) {
        double x[N], P[N * N];
        dt_kf_batch_get_state(b, f, x, P);
        assert_bits_equal(N, x, xs[f]);
        assert_bits_equal(N * N, P, Ps[f]);
    }
    /* One filter whose innovation variance is 0 (no uncertainty, r = 0, a
     * zero transition): DT_ENUMERIC, that filter unchanged, the others
     * stepped as single filters. */
    double Pz[N * N] = {0};
    dt_kf_batch_set_state(b, 9, x0, Pz);
    double Adz[N * N] = {0}, Qz[N * N] = {0}, r0[1] = {0};
    Qz[15] = 1; /* the measured states 0 and 2 get no process noise */
    memcpy(Adz, Ad, sizeof Adz);
    assert_int_equal(dt_kf_batch_set_model(b, Adz, Qz), 0);
    dt_kf *one = mk(N, 0);
    dt_kf_set_discrete(one, Adz, NULL, Qz);
    dt_kf_set_state(one, x0, P0);
    assert_int_equal(dt_kf_batch_step(b, 1, H, r0, z), DT_ENUMERIC);
    double x[N], P[N * N];
    dt_kf_batch_get_state(b, 9, x, P);
    assert_bits_equal(N, x, x0);
    assert_bits_equal(N * N, P, Pz);
    assert_int_equal(dt_kf_predict(one, 1), 0);
    assert_int_equal(dt_kf_update_scalar(one, H, z[3], 0, 0, NULL), 0);
    dt_kf_batch_get_state(b, 3, x, P);
    assert_mat_close(N, 1, x, dt_kf_state(one), 1e-12, 1e-14);
    assert_mat_close(N, N, P, dt_kf_cov(one), 1e-12, 1e-14);
    dt_kf_destroy(one);
    dt_kf_batch_destroy(b);
}

/* ---- ill-conditioned priors (tracker issue, class 5) ---- */

/* A prediction can round a variance below 0 too: P = fl(v v') is exactly
 * PSD (P00 P11 - P01^2 >= 0 checked in rationals when the values were
 * chosen), the first row of F is (v1, -v0), nearly orthogonal to v, and
 * there is no process noise, so the exact predicted P00 = 2.72e-16 is below
 * its rounding error; before the fix it came out as -2.03e-16. */
static void test_predict_variance_never_negative(void **state)
{
    (void)state;
    const double v0 = 1.9519158092343885, v1 = 1.7234529760045303;
    const double P[4] = {3.8099753263391376, 3.3640351103352977, 3.3640351103352977,
                         2.970290160498872};
    const double F[4] = {v1, -v0, 0, 1}, Qd[4] = {0}, x[2] = {1, 2};
    const double scale = 0x1p-50 * (P[0] + P[3]) * (v0 * v0 + v1 * v1); /* rounding level */
    dt_kf *kf = mk(2, 0);
    assert_int_equal(dt_kf_set_discrete(kf, F, NULL, Qd), 0);
    assert_int_equal(dt_kf_set_state(kf, x, P), 0);
    double xp[2], Pp[4];
    assert_int_equal(dt_kf_peek(kf, 1.0, xp, Pp), 0);
    assert_true(Pp[0] >= 0);
    assert_close(Pp[0], 2.7231504208299453e-16, 0, scale);
    assert_int_equal(dt_kf_predict(kf, 1.0), 0);
    const double *Pn = dt_kf_cov(kf);
    assert_true(Pn[0] >= 0 && Pn[3] >= 0);
    assert_true(Pn[1] * Pn[1] <= Pn[0] * Pn[3]); /* a zero variance has no covariance */
    assert_memory_equal(Pn, Pp, sizeof Pp);      /* the peek saw the same */
    /* the fleet predicts with the same arithmetic */
    dt_kf_batch *b;
    assert_int_equal(dt_kf_batch_create(2, 1, NULL, &b), 0);
    assert_int_equal(dt_kf_batch_set_model(b, F, Qd), 0);
    assert_int_equal(dt_kf_batch_set_state(b, 0, x, P), 0);
    assert_int_equal(dt_kf_batch_step(b, 0, F, Qd, x), 0);
    double xb[2], Pb[4];
    assert_int_equal(dt_kf_batch_get_state(b, 0, xb, Pb), 0);
    assert_memory_equal(Pb, Pn, sizeof Pb);
    dt_kf_batch_destroy(b);
    dt_kf_destroy(kf);
}


/* Reference posteriors computed offline at 80 digits (tests/data/kf/). */
#define KF_REF_NMAX 11
typedef struct kf_ref {
    const char *name;
    size_t n;
    double z, r;
    double x[KF_REF_NMAX], P[KF_REF_NMAX * KF_REF_NMAX], h[KF_REF_NMAX];
    double x_post[KF_REF_NMAX], P_post[KF_REF_NMAX * KF_REF_NMAX];
} kf_ref;

static const kf_ref kf_refs[] = {
#include "../data/kf/scalar_ref.inc"
};

/* The guarantee of the scalar update: exactly symmetric, every variance in
 * [0, prior]. */
static void assert_posterior_shape(size_t n, const double *prior, const double *P,
                                   const char *what)
{
    for (size_t i = 0; i < n; i++) {
        double d = P[i * n + i];
        if (!(d >= 0 && d <= prior[i * n + i])) {
            print_error("%s: variance %zu = %.17g, prior %.17g\n", what, i, d, prior[i * n + i]);
            fail();
        }
        for (size_t j = 0; j < i; j++)
            if (memcmp(&P[i * n + j], &P[j * n + i], sizeof *P) != 0) {
                print_error("%s: P[%zu][%zu] != P[%zu][%zu]\n", what, i, j, j, i);
                fail();
            }
    }
}

/* Every entry against a reference, relative to the reference's own scale:
 * |P_ij - ref_ij| <= rel sqrt(ref_ii ref_jj) + abs sqrt(prior_ii prior_jj). */
static double posterior_error(size_t n, const double *P, const double *ref, const double *prior,
                              double rel, double abs_)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double tol = rel * sqrt(ref[i * n + i] * ref[j * n + j]) +
                         abs_ * sqrt(prior[i * n + i] * prior[j * n + j]);
            double e = fabs(P[i * n + j] - ref[i * n + j]);
            worst = fmax(worst, e / tol);
        }
    return worst; /* <= 1: within tolerance */
}

typedef struct lin_h {
    size_t n;
    const double *h;
} lin_h;

static int linear_h(void *user, const double *x, double *hx, double *grad)
{
    const lin_h *l = user;
    double s = 0;
    for (size_t i = 0; i < l->n; i++) {
        s += l->h[i] * x[i];
        grad[i] = l->h[i];
    }
    *hx = s;
    return 0;
}

/* Tolerances: every entry of P+ to 1e-9 of the posterior's own scale
 * sqrt(P+_ii P+_jj), not of the prior's (which would be 1e12 against 4e-18 in
 * the case). Measured: at most 7e-11 (illcond_n2_2, double-double
 * path; the case 7e-12), 6e-16 on the well-conditioned cases, exact
 * zeros for r = 0. x+ to 1e-9 of |x| (a state of 1e6 with a posterior sd
 * of 4e-10 is not representable closer than its last bit) plus 1e-4 of its
 * posterior sd (the innovation z - h x is rounded in binary64). */
#define REF_REL 1e-9
#define REF_ABS 0.0
#define REF_X_SD 1e-4

static void check_against_ref(const kf_ref *c, const double *x, const double *P,
                              const char *path)
{
    size_t n = c->n;
    char what[96];
    snprintf(what, sizeof what, "%s (%s)", c->name, path);
    assert_posterior_shape(n, c->P, P, what);
    double e = posterior_error(n, P, c->P_post, c->P, REF_REL, REF_ABS);
    if (!(e <= 1)) {
        print_error("%s: P+ off the 80-digit reference by %.3g tolerances\n", what, e);
        for (size_t i = 0; i < n; i++)
            print_error("  P+[%zu][%zu] = %.17g, reference %.17g\n", i, i, P[i * n + i],
                        c->P_post[i * n + i]);
        fail();
    }
    for (size_t i = 0; i < n; i++)
        assert_close(x[i], c->x_post[i], 0,
                     REF_REL * fabs(c->x[i]) + REF_X_SD * sqrt(c->P_post[i * n + i]));
}

static void test_scalar_update_80_digit_references(void **state)
{
    (void)state;
    for (size_t t = 0; t < sizeof kf_refs / sizeof kf_refs[0]; t++) {
        const kf_ref *c = &kf_refs[t];
        size_t n = c->n;
        dt_kf *kf = mk(n, 0);
        /* the scalar update, the path every measurement takes */
        assert_int_equal(dt_kf_set_state(kf, c->x, c->P), 0);
        assert_int_equal(dt_kf_update_scalar(kf, c->h, c->z, c->r, 0, NULL), 0);
        check_against_ref(c, dt_kf_state(kf), dt_kf_cov(kf), "scalar");
        /* the nonlinear update shares it */
        lin_h lh = {n, c->h};
        assert_int_equal(dt_kf_set_state(kf, c->x, c->P), 0);
        assert_int_equal(dt_kf_update_nonlinear(kf, linear_h, &lh, c->z, c->r, 0, NULL), 0);
        check_against_ref(c, dt_kf_state(kf), dt_kf_cov(kf), "nonlinear");
        /* the vector update with m = 1 */
        assert_int_equal(dt_kf_set_state(kf, c->x, c->P), 0);
        assert_int_equal(dt_kf_update(kf, 1, &c->z, c->h, &c->r, 0, NULL), 0);
        check_against_ref(c, dt_kf_state(kf), dt_kf_cov(kf), "vector");
        dt_kf_destroy(kf);
    }
}

/* splitmix64 and Box-Muller, as tests/data/kf/gen_scalar_ref.py. */
typedef struct sweep_rng {
    uint64_t s;
} sweep_rng;

static double rng_uniform(sweep_rng *g)
{
    uint64_t z = (g->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) * 0x1p-53;
}

static double rng_gauss(sweep_rng *g)
{
    double u = rng_uniform(g), v = rng_uniform(g);
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

#define SW_NMAX 16

/* P = D Q diag(1 .. 1/cond) Q' D (Q orthonormal by Gram-Schmidt), upper
 * triangle computed and mirrored; d: the standard deviation scales. */
static void sweep_prior(sweep_rng *g, size_t n, double cond, const double *d, double *P)
{
    double Q[SW_NMAX * SW_NMAX];
    for (size_t k = 0; k < n; k++) {
        double *q = Q + k * n;
        for (;;) {
            for (size_t i = 0; i < n; i++)
                q[i] = rng_gauss(g);
            for (size_t l = 0; l < k; l++) {
                double dot = 0;
                for (size_t i = 0; i < n; i++)
                    dot += q[i] * Q[l * n + i];
                for (size_t i = 0; i < n; i++)
                    q[i] -= dot * Q[l * n + i];
            }
            double nv = 0;
            for (size_t i = 0; i < n; i++)
                nv += q[i] * q[i];
            if (nv > 1e-6) {
                for (size_t i = 0; i < n; i++)
                    q[i] /= sqrt(nv);
                break;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = i; j < n; j++) {
            double c = 0;
            for (size_t k = 0; k < n; k++)
                c += Q[k * n + i] * pow(cond, -(double)k / (double)(n > 1 ? n - 1 : 1)) *
                     Q[k * n + j];
            P[i * n + j] = P[j * n + i] = c * d[i] * d[j];
        }
}

#if defined(__SIZEOF_FLOAT128__)
#define HAVE_F128 1
/* An independent reference in binary128 (113-bit significand, the
 * compiler's software arithmetic): the same Joseph order, which keeps the
 * cancellation error multiplied by (I - k h). */
static void posterior_f128(size_t n, const double *P, const double *h, double r, double *out)
{
    __float128 a[SW_NMAX], k[SW_NMAX], g[SW_NMAX], s = r;
    for (size_t i = 0; i < n; i++) {
        a[i] = 0;
        for (size_t j = 0; j < n; j++)
            a[i] += (__float128)P[i * n + j] * h[j];
        s += h[i] * a[i];
    }
    for (size_t i = 0; i < n; i++)
        k[i] = a[i] / s;
    for (size_t i = 0; i < n; i++) {
        g[i] = 0;
        for (size_t j = 0; j < n; j++)
            g[i] += ((__float128)P[i * n + j] - k[i] * a[j]) * h[j];
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            out[i * n + j] =
                (double)(((__float128)P[i * n + j] - k[i] * a[j]) - g[i] * k[j] + r * k[i] * k[j]);
}
#endif

/* Positive semi-definite to within eps of the correlation scale: Cholesky of
 * D^-1 P D^-1 + eps I (D = sqrt(diag P); zero variances dropped). */
static int psd_within(size_t n, const double *P, double eps)
{
    double C[SW_NMAX * SW_NMAX], L[SW_NMAX * SW_NMAX];
    size_t idx[SW_NMAX], m = 0;
    for (size_t i = 0; i < n; i++)
        if (P[i * n + i] > 0)
            idx[m++] = i;
    for (size_t a = 0; a < m; a++)
        for (size_t b = 0; b < m; b++) {
            size_t i = idx[a], j = idx[b];
            C[a * m + b] = P[i * n + j] / sqrt(P[i * n + i] * P[j * n + j]) + (a == b ? eps : 0);
        }
    for (size_t a = 0; a < m; a++) /* zero variance: its covariances must be 0 */
        for (size_t i = 0; i < n; i++)
            if (P[i * n + i] == 0 && P[i * n + idx[a]] != 0)
                return 0;
    return m == 0 || dt_chol(m, C, L) == DT_OK;
}

/* The sweep of the issue: states whose standard deviations are 1e6 or 1e-6,
 * correlation matrices of condition 1e14, r log-uniform from 1e-20 to 1e-10,
 * random rows. Families: n = 2 with either scale per state; n = 3, 4, 5 with
 * one state at 1e6; n = 6, 8, 11, 16 (kernels and the generic code) with an
 * ill-conditioned pair among well-conditioned states and a row on the pair,
 * or a row on every state. Checked after each update: the shape (symmetric,
 * variances in [0, prior]), PSD to 1e-6 of the correlation scale, agreement
 * with the binary128 reference to 3 (n + 2) 2^-26 of the posterior's scale
 * (the bound the binary64 result is kept under; measured at most 4e-9), the
 * vector path agreeing with the scalar one to twice that, and later updates
 * (each state alone with r = 1e-20, then a new random row) succeeding.
 * Before the fix, 52 of these 1200 first updates gave a negative variance
 * (14 of 150 at n = 3, 12 of 150 at n = 2), and the n = 2 case 0 was
 * already 79 tolerances off the binary128 reference. */
static void test_scalar_update_illconditioned_sweep(void **state)
{
    (void)state;
    static const size_t sizes[] = {2, 3, 4, 5, 6, 8, 11, 16};
    sweep_rng g = {0x5EEDF00Dull};
    int cases = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t n = sizes[si];
        dt_kf *kf = mk(n, 0), *kv = mk(n, 0);
        for (int t = 0; t < 150; t++, cases++) {
            double d[SW_NMAX], P[SW_NMAX * SW_NMAX], x[SW_NMAX], h[SW_NMAX];
            int measured[SW_NMAX];
            if (n <= 5) {
                size_t big = (size_t)(rng_uniform(&g) * (double)n);
                for (size_t i = 0; i < n; i++) {
                    d[i] = (n == 2 ? rng_uniform(&g) < 0.5 : i == big) ? 1e6 : 1e-6;
                    measured[i] = 1;
                }
                sweep_prior(&g, n, 1e14, d, P);
            } else {
                /* a 2 x 2 ill-conditioned pair at p, q in a well-conditioned prior */
                double P2[4], W[SW_NMAX * SW_NMAX], dw[SW_NMAX], d2[2];
                for (int a = 0; a < 2; a++)
                    d2[a] = rng_uniform(&g) < 0.5 ? 1e6 : 1e-6;
                sweep_prior(&g, 2, 1e14, d2, P2);
                for (size_t i = 0; i + 2 < n; i++)
                    dw[i] = 0.5 + rng_uniform(&g);
                sweep_prior(&g, n - 2, 1e2, dw, W);
                size_t p = (size_t)(rng_uniform(&g) * (double)n);
                size_t q = (p + 1 + (size_t)(rng_uniform(&g) * (double)(n - 1))) % n;
                size_t rest[SW_NMAX], nr = 0;
                int pair_only = t % 2 == 0;
                for (size_t i = 0; i < n; i++)
                    if (i != p && i != q)
                        rest[nr++] = i;
                memset(P, 0, sizeof P);
                size_t pq[2] = {p, q};
                for (int a = 0; a < 2; a++) {
                    d[pq[a]] = d2[a];
                    measured[pq[a]] = 1;
                    for (int b = 0; b < 2; b++)
                        P[pq[a] * n + pq[b]] = P2[a * 2 + b];
                }
                for (size_t a = 0; a < nr; a++) {
                    d[rest[a]] = dw[a];
                    measured[rest[a]] = !pair_only;
                    for (size_t b = 0; b < nr; b++)
                        P[rest[a] * n + rest[b]] = W[a * (n - 2) + b];
                }
            }
            for (size_t i = 0; i < n; i++) {
                h[i] = measured[i] ? rng_gauss(&g) : 0;
                x[i] = d[i] * rng_gauss(&g);
            }
            double r = pow(10, -20 + 10 * rng_uniform(&g)), z = 0;
            for (size_t i = 0; i < n; i++)
                z += h[i] * x[i];
            z += sqrt(r) * rng_gauss(&g);
            char what[64];
            snprintf(what, sizeof what, "sweep n = %zu case %d", n, t);
            /* the bound the binary64 path is kept under (kf_kernels.h) */
            double tol = 3.0 * (double)(n + 2) * 0x1p-26;
            assert_int_equal(dt_kf_set_state(kf, x, P), 0);
            assert_int_equal(dt_kf_set_state(kv, x, P), 0);
            assert_int_equal(dt_kf_update_scalar(kf, h, z, r, 0, NULL), 0);
            const double *Ps = dt_kf_cov(kf);
            assert_posterior_shape(n, P, Ps, what);
            if (!psd_within(n, Ps, 1e-6)) {
                print_error("%s: posterior not PSD to 1e-6\n", what);
                fail();
            }
#ifdef HAVE_F128
            double ref[SW_NMAX * SW_NMAX];
            posterior_f128(n, P, h, r, ref);
            double e = posterior_error(n, Ps, ref, P, tol, 0);
            if (!(e <= 1)) {
                print_error("%s: off the binary128 reference by %.3g tolerances\n", what, e);
                fail();
            }
#endif
            /* the vector path on the same inputs agrees */
            assert_int_equal(dt_kf_update(kv, 1, &z, h, &r, 0, NULL), 0);
            assert_posterior_shape(n, P, dt_kf_cov(kv), what);
            double ev = posterior_error(n, dt_kf_cov(kv), Ps, P, 2 * tol, 0);
            if (!(ev <= 1)) {
                print_error("%s: vector and scalar paths differ by %.3g tolerances\n", what, ev);
                fail();
            }
            /* later updates keep succeeding and keep the shape */
            for (size_t i = 0; i < n; i++) {
                double e1[SW_NMAX] = {0}, prior[SW_NMAX * SW_NMAX];
                e1[i] = 1;
                memcpy(prior, dt_kf_cov(kf), n * n * sizeof *prior);
                assert_int_equal(dt_kf_update_scalar(kf, e1, dt_kf_state(kf)[i], 1e-20, 0, NULL),
                                 0);
                assert_posterior_shape(n, prior, dt_kf_cov(kf), what);
            }
            double prior[SW_NMAX * SW_NMAX];
            memcpy(prior, dt_kf_cov(kf), n * n * sizeof *prior);
            for (size_t i = 0; i < n; i++)
                h[i] = rng_gauss(&g);
            assert_int_equal(dt_kf_update_scalar(kf, h, 0.0, pow(10, -20 + 20 * rng_uniform(&g)),
                                                 0, NULL),
                             0);
            assert_posterior_shape(n, prior, dt_kf_cov(kf), what);
        }
        dt_kf_destroy(kf);
        dt_kf_destroy(kv);
    }
    assert_int_equal(cases, 8 * 150);
}

/* dt_kf_update with two correlated measurements: against the 80-digit
 * references (tests/data/kf/) to 1e-9 of the posterior's own scale (measured
 * worst 2e-12, vec_issue; a measured margin, not a bound: when the joint
 * Joseph result is not kept the update is two double-double scalar steps,
 * and the intermediate posterior is rounded to binary64), and on the sweep's
 * priors (n = 2, 3, 4 as there; S = H P H' + R often not positive definite
 * in binary64, which used to be DT_ENUMERIC) every update succeeding with
 * the shape guarantee. */
typedef struct kf_vref {
    const char *name;
    size_t n;
    double x[3], P[9], H[6], z[2], R[4], x_post[3], P_post[9];
} kf_vref;

static const kf_vref kf_vrefs[] = {
#define KF_REF_VECTOR
#include "../data/kf/scalar_ref.inc"
#undef KF_REF_VECTOR
};

static void test_vector_update_illconditioned(void **state)
{
    (void)state;
    for (size_t t = 0; t < sizeof kf_vrefs / sizeof kf_vrefs[0]; t++) {
        const kf_vref *c = &kf_vrefs[t];
        size_t n = c->n;
        dt_kf *kf = mk(n, 0);
        dt_kf_result res;
        assert_int_equal(dt_kf_set_state(kf, c->x, c->P), 0);
        assert_int_equal(dt_kf_update(kf, 2, c->z, c->H, c->R, 0, &res), 0);
        assert_true(!res.gated && res.nis >= 0 && isfinite(res.nis));
        assert_posterior_shape(n, c->P, dt_kf_cov(kf), c->name);
        double e = posterior_error(n, dt_kf_cov(kf), c->P_post, c->P, REF_REL, 0);
        if (!(e <= 1)) {
            print_error("%s: P+ off the 80-digit reference by %.3g tolerances\n", c->name, e);
            fail();
        }
        for (size_t i = 0; i < n; i++)
            assert_close(dt_kf_state(kf)[i], c->x_post[i], 0,
                         REF_REL * fabs(c->x[i]) + REF_X_SD * sqrt(c->P_post[i * n + i]));
        /* a gate below that NIS rejects, whichever path computed it */
        if (res.nis > 0) {
            double nis = res.nis;
            assert_int_equal(dt_kf_set_state(kf, c->x, c->P), 0);
            assert_int_equal(dt_kf_update(kf, 2, c->z, c->H, c->R, nis / 2, &res), 0);
            assert_true(res.gated);
            assert_close(res.nis, nis, 1e-9, 0);
            assert_memory_equal(dt_kf_cov(kf), c->P, n * n * sizeof *c->P);
        }
        dt_kf_destroy(kf);
    }
    sweep_rng g = {0xC0FFEEull};
    for (size_t n = 2; n <= 4; n++) {
        dt_kf *kf = mk(n, 0);
        for (int t = 0; t < 100; t++) {
            double d[SW_NMAX], P[SW_NMAX * SW_NMAX], x[SW_NMAX] = {0}, H[2 * SW_NMAX], z[2];
            size_t big = (size_t)(rng_uniform(&g) * (double)n);
            for (size_t i = 0; i < n; i++)
                d[i] = (n == 2 ? rng_uniform(&g) < 0.5 : i == big) ? 1e6 : 1e-6;
            sweep_prior(&g, n, 1e14, d, P);
            for (size_t i = 0; i < 2 * n; i++)
                H[i] = rng_gauss(&g);
            double r0 = pow(10, -20 + 10 * rng_uniform(&g)), r1 = pow(10, -20 + 10 * rng_uniform(&g));
            double c = 0.9 * (2 * rng_uniform(&g) - 1) * sqrt(r0 * r1);
            const double R[4] = {r0, c, c, r1};
            z[0] = rng_gauss(&g);
            z[1] = rng_gauss(&g);
            char what[64];
            snprintf(what, sizeof what, "vector n = %zu case %d", n, t);
            assert_int_equal(dt_kf_set_state(kf, x, P), 0);
            assert_int_equal(dt_kf_update(kf, 2, z, H, R, 0, NULL), 0);
            assert_posterior_shape(n, P, dt_kf_cov(kf), what);
        }
        dt_kf_destroy(kf);
    }
}

/* The fleet path on the sweep's priors: each filter's result is dt_kf's (the
 * same check and fallback, lane by lane), with the same shape guarantee. An
 * identity transition and no process noise keep each prior as set. */
static void test_batch_illconditioned(void **state)
{
    (void)state;
    static const size_t sizes[] = {2, 6};
    enum { F = 21 };
    sweep_rng g = {0xBA7C4ull};
    for (size_t si = 0; si < 2; si++) {
        size_t n = sizes[si];
        double Ad[SW_NMAX * SW_NMAX] = {0}, Qd[SW_NMAX * SW_NMAX] = {0};
        for (size_t i = 0; i < n; i++)
            Ad[i * n + i] = 1;
        dt_kf_batch *b;
        assert_int_equal(dt_kf_batch_create(n, F, NULL, &b), 0);
        assert_int_equal(dt_kf_batch_set_model(b, Ad, Qd), 0);
        dt_kf *kf = mk(n, 0);
        assert_int_equal(dt_kf_set_discrete(kf, Ad, NULL, Qd), 0);
        for (int round = 0; round < 20; round++) {
            static double P0[F][SW_NMAX * SW_NMAX], x0[F][SW_NMAX];
            double h[SW_NMAX] = {0}, z[F], r = pow(10, -20 + 10 * rng_uniform(&g));
            /* n = 6: the row is on states 1 and 4, the ill-conditioned pair */
            for (size_t i = 0; i < n; i++)
                h[i] = n == 2 || i == 1 || i == 4 ? rng_gauss(&g) : 0;
            for (size_t f = 0; f < F; f++) {
                double d[SW_NMAX], P2[4];
                for (size_t i = 0; i < n; i++)
                    d[i] = 0.5 + rng_uniform(&g);
                for (int a = 0; a < 2; a++)
                    d[n == 2 ? (size_t)a : (size_t)(1 + 3 * a)] =
                        rng_uniform(&g) < 0.5 ? 1e6 : 1e-6;
                if (n == 2) {
                    sweep_prior(&g, 2, 1e14, d, P0[f]);
                } else {
                    sweep_prior(&g, n, 1e2, d, P0[f]);
                    double d2[2] = {d[1], d[4]};
                    sweep_prior(&g, 2, 1e14, d2, P2);
                    for (size_t i = 0; i < n; i++) /* uncouple states 1 and 4 */
                        for (size_t j = 0; j < n; j++)
                            if ((i == 1 || i == 4) != (j == 1 || j == 4))
                                P0[f][i * n + j] = 0;
                    P0[f][1 * n + 1] = P2[0];
                    P0[f][1 * n + 4] = P0[f][4 * n + 1] = P2[1];
                    P0[f][4 * n + 4] = P2[3];
                }
                z[f] = 0;
                for (size_t i = 0; i < n; i++) {
                    x0[f][i] = d[i] * rng_gauss(&g);
                    z[f] += h[i] * x0[f][i];
                }
                assert_int_equal(dt_kf_batch_set_state(b, f, x0[f], P0[f]), 0);
            }
            assert_int_equal(dt_kf_batch_step(b, 1, h, &r, z), 0);
            for (size_t f = 0; f < F; f++) {
                double x[SW_NMAX], P[SW_NMAX * SW_NMAX];
                char what[64];
                snprintf(what, sizeof what, "batch n = %zu round %d filter %zu", n, round, f);
                assert_int_equal(dt_kf_batch_get_state(b, f, x, P), 0);
                assert_posterior_shape(n, P0[f], P, what);
                assert_int_equal(dt_kf_set_state(kf, x0[f], P0[f]), 0);
                assert_int_equal(dt_kf_predict(kf, 1), 0);
                assert_int_equal(dt_kf_update_scalar(kf, h, z[f], r, 0, NULL), 0);
                double e = posterior_error(n, P, dt_kf_cov(kf), P0[f], 1e-12, 0);
                if (!(e <= 1)) {
                    print_error("%s: batch and dt_kf differ by %.3g x 1e-12\n", what, e);
                    fail();
                }
                assert_mat_close(n, 1, x, dt_kf_state(kf), 1e-12, 0);
            }
        }
        dt_kf_destroy(kf);
        dt_kf_batch_destroy(b);
    }
}

/* ---- latency physics ---- */

static double work[DT_LATENCY_WORK(DT_LA_MAX)];

static void test_cov_after_scalar(void **state)
{
    (void)state;
    const double as[] = {-1.5, -1e-7, 0.0, 0.7};
    const double taus[] = {0.0, 0.01, 0.5, 3.0};
    for (size_t i = 0; i < 4; i++)
        for (size_t j = 0; j < 4; j++) {
            double a = as[i], q = 0.2, P0 = 0.05, tau = taus[j], P;
            assert_int_equal(dt_cov_after(1, &a, &q, &P0, tau, &P, work), 0);
            double e2 = exp(2 * a * tau);
            double want = e2 * P0 + (a == 0 ? q * tau : q * expm1(2 * a * tau) / (2 * a));
            assert_close(P, want, 1e-12, 0); /* rel 1e-12 */
        }
}

/* dP/dt = A P + P A' + Q by classical RK4 with a fine step. */
static void rk4_lyap(size_t n, const double *A, const double *Q, const double *P0, double tau,
                     int steps, double *P)
{
    double k[4][64], tmp[64];
    memcpy(P, P0, n * n * sizeof *P);
    double h = tau / steps;
    for (int s = 0; s < steps; s++) {
        for (int stage = 0; stage < 4; stage++) {
            const double *base = P;
            if (stage > 0) {
                double c = stage == 3 ? h : h / 2;
                for (size_t i = 0; i < n * n; i++)
                    tmp[i] = P[i] + c * k[stage - 1][i];
                base = tmp;
            }
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < n; j++) {
                    double v = Q[i * n + j];
                    for (size_t m = 0; m < n; m++)
                        v += A[i * n + m] * base[m * n + j] + base[i * n + m] * A[j * n + m];
                    k[stage][i * n + j] = v;
                }
        }
        for (size_t i = 0; i < n * n; i++)
            P[i] += h / 6 * (k[0][i] + 2 * k[1][i] + 2 * k[2][i] + k[3][i]);
    }
}

static void test_cov_after_vs_integration(void **state)
{
    (void)state;
    /* 2 x 2 damped oscillator, 4 x 4 with an unstable mode and coupling. */
    const double A2[4] = {0, 1, -4, -0.6}, Q2[4] = {0, 0, 0, 0.3}, P02[4] = {0.1, 0.02, 0.02, 0.2};
    const double A4[16] = {-0.5, 1, 0, 0, 0, -0.2, 0.3, 0, 0, 0, 0.1, 1, 0.2, 0, -1, -0.4};
    const double Q4[16] = {0.1, 0, 0, 0, 0, 0.2, 0.05, 0, 0, 0.05, 0.1, 0, 0, 0, 0, 0.3};
    double P04[16] = {0};
    for (int i = 0; i < 4; i++)
        P04[i * 5] = 0.5 + 0.1 * i;
    double P[16], R[16];
    assert_int_equal(dt_cov_after(2, A2, Q2, P02, 2.5, P, work), 0);
    rk4_lyap(2, A2, Q2, P02, 2.5, 20000, R);
    assert_mat_close(2, 2, P, R, 1e-10, 1e-13); /* RK4 error ~1e-14 at this step */
    assert_int_equal(dt_cov_after(4, A4, Q4, P04, 1.7, P, work), 0);
    rk4_lyap(4, A4, Q4, P04, 1.7, 20000, R);
    assert_mat_close(4, 4, P, R, 1e-10, 1e-13);
}

static void test_latency_budget_closed_forms(void **state)
{
    (void)state;
    const double w = 1.0;
    const dt_bound b = {&w, 0, 1.0};
    double q = 0.2, P0 = 0.05, tau;
    /* unstable: e^{2a t}(P0 + c) - c = b with c = q / 2a */
    double a = 0.7, c = q / (2 * a);
    assert_int_equal(dt_latency_budget(1, &a, &q, &P0, &b, &tau, work), 0);
    assert_close(tau, log((1.0 + c) / (P0 + c)) / (2 * a), 1e-6, 0);
    /* a = 0: P0 + q t = b */
    a = 0;
    assert_int_equal(dt_latency_budget(1, &a, &q, &P0, &b, &tau, work), 0);
    assert_close(tau, (1.0 - P0) / q, 1e-6, 0);
    /* stable, steady state q / (2|a|) = 0.1 below the bound: unbounded */
    a = -1.0;
    assert_int_equal(dt_latency_budget(1, &a, &q, &P0, &b, &tau, work), 0);
    assert_true(isinf(tau));
    /* stable, steady state 2 above the bound: the same formula with a < 0 */
    a = -0.05;
    c = q / (2 * a);
    assert_int_equal(dt_latency_budget(1, &a, &q, &P0, &b, &tau, work), 0);
    assert_close(tau, log((1.0 + c) / (P0 + c)) / (2 * a), 1e-6, 0);
    /* already violated */
    double big = 2.0;
    assert_int_equal(dt_latency_budget(1, &a, &q, &big, &b, &tau, work), 0);
    assert_close(tau, 0, 0, 0);
    const dt_bound bad = {&w, 0, 0.0};
    assert_int_equal(dt_latency_budget(1, &a, &q, &P0, &bad, &tau, work), DT_EINVAL);
}

static void test_latency_budget_2x2_bounds(void **state)
{
    (void)state;
    /* Double integrator (position, velocity): P_00(t) = p + 2 c t + v t^2 + q t^3 / 3
     * for P0 = diag(p, v) with c = 0. Bound on the position variance alone. */
    const double A[4] = {0, 1, 0, 0}, Q[4] = {0, 0, 0, 0.3}, P0[4] = {0.01, 0, 0, 0.04};
    const double wpos[2] = {1, 0};
    const dt_bound b = {wpos, 0, 0.5};
    double tau;
    assert_int_equal(dt_latency_budget(2, A, Q, P0, &b, &tau, work), 0);
    double f = 0.01 + 0.04 * tau * tau + 0.3 * tau * tau * tau / 3;
    assert_close(f, 0.5, 2e-6, 0);
    /* The result is the first crossing: slightly earlier still holds. */
    double P[4];
    dt_cov_after(2, A, Q, P0, tau * (1 - 1e-5), P, work);
    assert_true(P[0] <= 0.5);
    /* Trace and a quadratic form c' P c with c = (1, 1). */
    const double ones[2] = {1, 1};
    const dt_bound tr = {ones, 0, 0.5}, qf = {ones, 1, 0.5};
    double t_tr, t_qf;
    assert_int_equal(dt_latency_budget(2, A, Q, P0, &tr, &t_tr, work), 0);
    assert_int_equal(dt_latency_budget(2, A, Q, P0, &qf, &t_qf, work), 0);
    dt_cov_after(2, A, Q, P0, t_tr, P, work);
    assert_close(P[0] + P[3], 0.5, 2e-6, 0);
    dt_cov_after(2, A, Q, P0, t_qf, P, work);
    assert_close(P[0] + 2 * P[1] + P[3], 0.5, 2e-6, 0);
    assert_true(t_tr < tau && t_qf < t_tr);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_chi2_quantiles),
    cmocka_unit_test(test_scalar_update_by_hand),
    cmocka_unit_test(test_scalar_equals_vector_update),
    cmocka_unit_test(test_vector_update_two_sensors),
    cmocka_unit_test(test_failures_leave_belief_unchanged),
    cmocka_unit_test(test_predict_scalar_closed_form),
    cmocka_unit_test(test_no_allocation_after_create),
    cmocka_unit_test(test_nonlinear_process_matches_linear),
    cmocka_unit_test(test_batch_equals_single_filters),
    cmocka_unit_test(test_ekf_nonfinite_callback_refused),
    cmocka_unit_test(test_ekf_measurement_positive_return_refused),
    cmocka_unit_test(test_batch_nonfinite_refused),
    cmocka_unit_test(test_predict_variance_never_negative),
    cmocka_unit_test(test_scalar_update_80_digit_references),
    cmocka_unit_test(test_scalar_update_illconditioned_sweep),
    cmocka_unit_test(test_vector_update_illconditioned),
    cmocka_unit_test(test_batch_illconditioned),
    cmocka_unit_test(test_cov_after_scalar),
    cmocka_unit_test(test_cov_after_vs_integration),
    cmocka_unit_test(test_latency_budget_closed_forms),
    cmocka_unit_test(test_latency_budget_2x2_bounds),
};

DTT_MAIN(tests)
