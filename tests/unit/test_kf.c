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
    cmocka_unit_test(test_cov_after_scalar),
    cmocka_unit_test(test_cov_after_vs_integration),
    cmocka_unit_test(test_latency_budget_closed_forms),
    cmocka_unit_test(test_latency_budget_2x2_bounds),
};

DTT_MAIN(tests)
