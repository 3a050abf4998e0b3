/* linalg against closed forms. Tolerances are stated at each check; "rel"
 * is relative to the expected value, "abs" is an absolute floor used where
 * the expected value is (near) zero. */
#include <float.h>
#include <stdlib.h>

#include "test_util.h"

#include "dtwin/dtwin.h"

static double expm_work[DT_EXPM_WORK(2 * DT_LA_MAX)];
static double vl_work[DT_VANLOAN_WORK(DT_LA_MAX)];

static void test_mul_transpose_abat(void **state)
{
    (void)state;
    const double A[6] = {1, 2, 3, 4, 5, 6};       /* 2 x 3 */
    const double B[6] = {7, 8, 9, 10, 11, 12};    /* 3 x 2 */
    double C[4], T[6], D[4];
    assert_int_equal(dt_mat_mul(2, 3, 2, A, B, C), 0);
    const double want[4] = {58, 64, 139, 154};
    assert_mat_close(2, 2, C, want, 0, 0);
    assert_int_equal(dt_mat_transpose(3, 2, B, T), 0); /* T = B' (2 x 3) */
    assert_int_equal(dt_mat_mul_bt(2, 3, 2, A, T, D), 0); /* A (B')' = A B */
    assert_mat_close(2, 2, D, want, 0, 0);

    const double h[2] = {1, 2}, P[4] = {2, 1, 1, 3};
    double s[1], w[DT_ABAT_WORK(2, 1)];
    assert_int_equal(dt_mat_abat(2, 1, h, P, s, w), 0);
    assert_close(s[0], 18.0, 0, 0); /* [1 2] P [1 2]' by hand */

    double S[4];
    assert_int_equal(dt_mat_add(2, 2, C, want, S), 0);
    assert_close(S[3], 308, 0, 0);
    assert_int_equal(dt_mat_sub(2, 2, S, want, S), 0);
    assert_mat_close(2, 2, S, want, 0, 0);
    assert_int_equal(dt_mat_scale(2, 2, 0.5, S, S), 0);
    assert_close(S[0], 29, 0, 0);
    assert_close(dt_mat_norm1(2, 3, A), 9.0, 0, 0);
}

static void test_dimension_checks(void **state)
{
    (void)state;
    double a[4] = {0}, b[4] = {0}, c[4] = {0};
    assert_int_equal(dt_mat_mul(0, 2, 2, a, b, c), DT_EINVAL);
    assert_int_equal(dt_mat_mul(2, 2, DT_LA_MAX + 1, a, b, c), DT_EINVAL);
    assert_int_equal(dt_mat_mul(2, 2, 2, NULL, b, c), DT_EINVAL);
    assert_int_equal(dt_chol(DT_LA_MAX + 1, a, c), DT_EINVAL);
    assert_int_equal(dt_expm(2 * DT_LA_MAX + 1, a, c, expm_work), DT_EINVAL);
    assert_int_equal(dt_vanloan(DT_LA_MAX + 1, a, b, 0.1, c, c, vl_work), DT_EINVAL);
    assert_int_equal(dt_joseph(2, 0, a, b, c, c, vl_work), DT_EINVAL);
    assert_close(dt_mat_norm1(0, 1, a), -1.0, 0, 0);
}

static void test_cholesky_known_factor(void **state)
{
    (void)state;
    /* Classic example with an integer factor. */
    const double A[9] = {4, 12, -16, 12, 37, -43, -16, -43, 98};
    const double Lwant[9] = {2, 0, 0, 6, 1, 0, -8, 5, 3};
    double L[9];
    assert_int_equal(dt_chol(3, A, L), 0);
    assert_mat_close(3, 3, L, Lwant, 1e-15, 1e-15);

    /* Solve A x = b with b = A [1 2 3]'. */
    const double b[3] = {4 + 24 - 48, 12 + 74 - 129, -16 - 86 + 294};
    double x[3];
    assert_int_equal(dt_chol_solve(3, 1, L, b, x), 0);
    const double xw[3] = {1, 2, 3};
    assert_mat_close(3, 1, x, xw, 1e-12, 1e-12);

    /* In place (L aliases A) and solve in place (X aliases B). */
    double Ai[9];
    memcpy(Ai, A, sizeof Ai);
    assert_int_equal(dt_chol(3, Ai, Ai), 0);
    assert_mat_close(3, 3, Ai, Lwant, 1e-15, 1e-15);
    double bx[3];
    memcpy(bx, b, sizeof bx);
    assert_int_equal(dt_chol_solve(3, 1, Ai, bx, bx), 0);
    assert_mat_close(3, 1, bx, xw, 1e-12, 1e-12);
}

static void test_cholesky_rejects_non_pd(void **state)
{
    (void)state;
    const double indefinite[4] = {1, 2, 2, 1};
    const double singular[4] = {1, 1, 1, 1};
    const double nan_m[4] = {NAN, 0, 0, 1};
    double L[4] = {7, 7, 7, 7};
    double keep[4];
    memcpy(keep, indefinite, sizeof keep);
    assert_int_equal(dt_chol(2, indefinite, L), DT_ENUMERIC);
    assert_memory_equal(indefinite, keep, sizeof keep); /* input untouched */
    assert_int_equal(dt_chol(2, singular, L), DT_ENUMERIC);
    assert_int_equal(dt_chol(2, nan_m, L), DT_ENUMERIC);
    const double zero_diag[4] = {0, 0, 0, 1};
    double x[2], b[2] = {1, 1};
    assert_int_equal(dt_chol_solve(2, 1, zero_diag, b, x), DT_ENUMERIC);
}

static void test_joseph_scalar_by_hand(void **state)
{
    (void)state;
    /* Any gain: P+ = (1 - k h)^2 p + k^2 r = 0.49 * 2 + 0.01 * 0.5. */
    double P[1] = {2.0};
    const double K[1] = {0.1}, H[1] = {3.0}, R[1] = {0.5};
    double w[DT_JOSEPH_WORK(1, 1)];
    assert_int_equal(dt_joseph(1, 1, P, K, H, R, w), 0);
    assert_close(P[0], 0.985, 1e-15, 0);
}

static void test_joseph_optimal_gain_matches_simple_form(void **state)
{
    (void)state;
    /* With the optimal gain K = P H' S^-1, Joseph equals (I - K H) P. */
    double P[4] = {2.0, 0.5, 0.5, 1.0};
    const double H[2] = {1.0, 0.0}, R[1] = {0.25};
    const double S = 2.25;
    const double K[2] = {2.0 / S, 0.5 / S};
    const double simple[4] = {2.0 - K[0] * 2.0, 0.5 - K[0] * 0.5,
                              0.5 - K[1] * 2.0, 1.0 - K[1] * 0.5};
    double w[DT_JOSEPH_WORK(2, 1)];
    assert_int_equal(dt_joseph(2, 1, P, K, H, R, w), 0);
    assert_mat_close(2, 2, P, simple, 1e-14, 1e-15);
    assert_true(P[1] == P[2]); /* exactly symmetric */
}

static void test_expm_zero_and_diagonal(void **state)
{
    (void)state;
    double Z[9] = {0}, E[9], I[9];
    dt_mat_identity(3, I);
    assert_int_equal(dt_expm(3, Z, E, expm_work), 0);
    assert_mat_close(3, 3, E, I, 0, 0);

    /* Diagonal entries across every Pade degree and the scaling branch. */
    const double d[] = {-1e-3, 0.1, -0.9, 1.9, 4.0, -7.5, 20.0};
    for (size_t k = 0; k < sizeof d / sizeof d[0]; k++) {
        double D[4] = {d[k], 0, 0, -0.5 * d[k]};
        double want[4] = {exp(d[k]), 0, 0, exp(-0.5 * d[k])};
        assert_int_equal(dt_expm(2, D, E, expm_work), 0);
        assert_mat_close(2, 2, E, want, 1e-13, 0); /* rel 1e-13 */
    }
}

static void test_expm_rotation_generator(void **state)
{
    (void)state;
    const double angles[] = {0.01, 0.2, 0.9, 2.0, 5.0, 13.0, 100.0};
    for (size_t k = 0; k < sizeof angles / sizeof angles[0]; k++) {
        double w = angles[k];
        double G[4] = {0, -w, w, 0}, E[4];
        double want[4] = {cos(w), -sin(w), sin(w), cos(w)};
        assert_int_equal(dt_expm(2, G, E, expm_work), 0);
        /* Entries are bounded by 1: absolute 1e-12 for angles up to 13 rad,
         * 1e-11 at 100 rad where 6 squarings amplify rounding. */
        assert_mat_close(2, 2, E, want, 0, w > 20 ? 1e-11 : 1e-12);
    }
}

static void test_expm_nilpotent_and_jordan(void **state)
{
    (void)state;
    /* N strictly upper triangular: e^N = I + N + N^2/2 exactly. */
    const double a = 2.0, b = -1.0, c = 3.0;
    double N[9] = {0, a, b, 0, 0, c, 0, 0, 0}, E[9];
    const double want[9] = {1, a, b + a * c / 2, 0, 1, c, 0, 0, 1};
    assert_int_equal(dt_expm(3, N, E, expm_work), 0);
    assert_mat_close(3, 3, E, want, 1e-13, 1e-14);

    /* Jordan block: e^[[l,1],[0,l]] = e^l [[1,1],[0,1]]. */
    const double l = -3.0;
    double J[4] = {l, 1, 0, l}, Ej[4];
    const double jw[4] = {exp(l), exp(l), 0, exp(l)};
    assert_int_equal(dt_expm(2, J, Ej, expm_work), 0);
    assert_mat_close(2, 2, Ej, jw, 1e-13, 1e-16);
}

static void test_expm_inverse_identity(void **state)
{
    (void)state;
    /* expm(A) expm(-A) = I for a dense non-normal 5 x 5 matrix. */
    enum { N = 5 };
    double A[N * N], mA[N * N], E1[N * N], E2[N * N], P[N * N], I[N * N];
    unsigned s = 12345u;
    for (int i = 0; i < N * N; i++) {
        s = s * 1103515245u + 12345u;
        A[i] = ((double)(s >> 8 & 0xFFFF) / 65535.0 - 0.5) * 1.6;
        mA[i] = -A[i];
    }
    assert_int_equal(dt_expm(N, A, E1, expm_work), 0);
    assert_int_equal(dt_expm(N, mA, E2, expm_work), 0);
    assert_int_equal(dt_mat_mul(N, N, N, E1, E2, P), 0);
    dt_mat_identity(N, I);
    assert_mat_close(N, N, P, I, 0, 1e-12);
}

static void test_expm_failures(void **state)
{
    (void)state;
    double A[4] = {NAN, 0, 0, 1}, E[4];
    assert_int_equal(dt_expm(2, A, E, expm_work), DT_ENUMERIC);
    double big[4] = {1e6, 0, 0, 1};
    assert_int_equal(dt_expm(2, big, E, expm_work), DT_ERANGE);
    double inf[4] = {INFINITY, 0, 0, 0};
    assert_int_equal(dt_expm(2, inf, E, expm_work), DT_ENUMERIC);
}

static void test_expm_largest_block(void **state)
{
    (void)state;
    /* 64 x 64 (Van Loan's block at n = 32): a diagonal with known exp. */
    enum { N = 2 * DT_LA_MAX };
    static double A[N * N], E[N * N];
    memset(A, 0, sizeof A);
    for (int i = 0; i < N; i++)
        A[i * N + i] = -2.0 + 4.0 * i / (N - 1);
    assert_int_equal(dt_expm(N, A, E, expm_work), 0);
    for (int i = 0; i < N; i++)
        assert_close(E[i * N + i], exp(A[i * N + i]), 1e-13, 0);
}

static void test_vanloan_scalar_closed_form(void **state)
{
    (void)state;
    const double q = 2.0, dt = 0.5;
    const double as[] = {-0.7, -1e-9, 0.0, 0.4, 3.0};
    for (size_t k = 0; k < sizeof as / sizeof as[0]; k++) {
        double a = as[k], Ad, Qd;
        assert_int_equal(dt_vanloan(1, &a, &q, dt, &Ad, &Qd, vl_work), 0);
        double qd = a == 0.0 ? q * dt : q * expm1(2 * a * dt) / (2 * a);
        assert_close(Ad, exp(a * dt), 1e-13, 0);
        assert_close(Qd, qd, 1e-12, 0); /* rel 1e-12 */
    }
}

static void test_vanloan_double_integrator(void **state)
{
    (void)state;
    const double q = 0.3, dt = 0.2;
    const double A[4] = {0, 1, 0, 0}, Q[4] = {0, 0, 0, q};
    double Ad[4], Qd[4];
    assert_int_equal(dt_vanloan(2, A, Q, dt, Ad, Qd, vl_work), 0);
    const double adw[4] = {1, dt, 0, 1};
    const double qdw[4] = {q * dt * dt * dt / 3, q * dt * dt / 2,
                           q * dt * dt / 2, q * dt};
    assert_mat_close(2, 2, Ad, adw, 1e-14, 1e-15);
    assert_mat_close(2, 2, Qd, qdw, 1e-12, 0);
}

static void test_vanloan_oscillator(void **state)
{
    (void)state;
    /* x'' = -w^2 x + noise: e^{As} column 2 = [sin(ws)/w, cos(ws)]. */
    const double w = 3.0, q = 0.8, T = 0.7;
    const double A[4] = {0, 1, -w * w, 0}, Q[4] = {0, 0, 0, q};
    double Ad[4], Qd[4];
    assert_int_equal(dt_vanloan(2, A, Q, T, Ad, Qd, vl_work), 0);
    const double adw[4] = {cos(w * T), sin(w * T) / w, -w * sin(w * T),
                           cos(w * T)};
    double s2 = T / 2 - sin(2 * w * T) / (4 * w);
    double c2 = T / 2 + sin(2 * w * T) / (4 * w);
    double sc = sin(w * T) * sin(w * T) / (2 * w);
    const double qdw[4] = {q * s2 / (w * w), q * sc / w, q * sc / w, q * c2};
    assert_mat_close(2, 2, Ad, adw, 1e-13, 1e-14);
    assert_mat_close(2, 2, Qd, qdw, 1e-12, 1e-15);
    assert_true(Qd[1] == Qd[2]);
}

static void test_vanloan_edge_steps(void **state)
{
    (void)state;
    const double A[4] = {-1, 2, 0, -3}, Q[4] = {1, 0, 0, 1};
    double Ad[4], Qd[4], I[4];
    dt_mat_identity(2, I);
    assert_int_equal(dt_vanloan(2, A, Q, 0.0, Ad, Qd, vl_work), 0);
    assert_mat_close(2, 2, Ad, I, 0, 0);
    const double zero[4] = {0};
    assert_mat_close(2, 2, Qd, zero, 0, 0);
    assert_int_equal(dt_vanloan(2, A, Q, -0.1, Ad, Qd, vl_work), DT_EINVAL);
    assert_int_equal(dt_vanloan(2, A, Q, NAN, Ad, Qd, vl_work), DT_EINVAL);
}

/* ---- hard cases (issue classes 3 and 4): stiff, badly scaled, overflowing,
 * oscillating. References: closed forms here, and the files in tests/data/ref,
 * computed at 80 digits with mpmath from A's eigendecomposition by
 * tests/data/ref/gen_refs.py (a route independent of the library's). ---- */

enum { RN = 6, RCASES = 40 };
typedef struct ref_case {
    char name[48];
    size_t n;
    int quadratic;
    double dt, limit, tau;
    double A[RN * RN], Q[RN * RN], P0[RN * RN], Ad[RN * RN], Qd[RN * RN], w[RN], d[RN];
} ref_case;

/* Reads every case of tests/data/ref/<file>: "case <name> <n> [dt]", then
 * "<key> values..." lines; returns how many. */
static size_t read_refs(const char *file, ref_case *c)
{
    char path[512], line[4096];
    snprintf(path, sizeof path, "%s/tests/data/ref/%s", DTT_SOURCE_DIR, file);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t k = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        char key[16], *p = line, *end;
        int used = 0;
        if (line[0] == '#' || sscanf(line, "%15s %n", key, &used) != 1)
            continue;
        p += used;
        if (strcmp(key, "case") == 0) {
            assert_true(k < RCASES);
            memset(&c[k], 0, sizeof c[k]);
            unsigned n = 0;
            assert_true(sscanf(p, "%47s %u %lf", c[k].name, &n, &c[k].dt) >= 2);
            assert_true(n >= 1 && n <= RN);
            c[k++].n = n;
            continue;
        }
        assert_true(k > 0);
        ref_case *r = &c[k - 1];
        if (strcmp(key, "quadratic") == 0) {
            r->quadratic = atoi(p);
            continue;
        }
        /* each key: where its values go and how many (n x n, n or 1) */
        const struct { const char *key; double *dst; size_t len; } keys[] = {
            {"A", r->A, r->n * r->n},   {"Q", r->Q, r->n * r->n}, {"P0", r->P0, r->n * r->n},
            {"Ad", r->Ad, r->n * r->n}, {"Qd", r->Qd, r->n * r->n}, {"w", r->w, r->n},
            {"d", r->d, r->n},          {"limit", &r->limit, 1},  {"tau", &r->tau, 1}};
        size_t kk = 0;
        while (kk < sizeof keys / sizeof keys[0] && strcmp(key, keys[kk].key) != 0)
            kk++;
        assert_true(kk < sizeof keys / sizeof keys[0]);
        for (size_t i = 0; i < keys[kk].len; i++, p = end) {
            keys[kk].dst[i] = strtod(p, &end); /* "inf" reads as INFINITY */
            assert_true(end != p);
        }
    }
    fclose(f);
    assert_true(k > 0);
    return k;
}

/* The largest error of X (n x n) against ref, in the coordinates where the
 * model is well scaled (D = diag(d) from the data, D^-1 A D balanced): over
 * |D^-1 (X - ref) D| for Ad (similar), |D^-1 (X - ref) D^-1| for Qd
 * (congruent), relative to the same of ref. */
static double scaled_err(size_t n, const double *X, const double *ref, const double *d, int ad)
{
    double err = 0, scale = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double f = ad ? d[j] / d[i] : 1 / (d[i] * d[j]);
            err = fmax(err, fabs(X[i * n + j] - ref[i * n + j]) * f);
            scale = fmax(scale, fabs(ref[i * n + j]) * f);
        }
    return err == 0 ? 0 : err / scale; /* all decayed to 0 (underflow) */
}

static ref_case refs[RCASES];

/* The series, the filter's path, on its kind of model: 6 coupled oscillators,
 * steps with ||A dt||_1 from 0.01 to 8 (reference: tests/data/ref, "chain6");
 * relative to the largest entry, 1e-13. */
static void test_vanloan_series_against_reference(void **state)
{
    (void)state;
    static double w[DT_VANLOAN_SERIES_WORK(RN)];
    size_t k = read_refs("vanloan_ref.txt", refs), seen = 0;
    for (size_t i = 0; i < k; i++) {
        if (strcmp(refs[i].name, "chain6") != 0)
            continue;
        const ref_case *c = &refs[i];
        double Ad[RN * RN], Qd[RN * RN];
        assert_int_equal(dt_vanloan_series(c->n, c->A, c->Q, c->dt, Ad, Qd, w), 0);
        double ea = scaled_err(c->n, Ad, c->Ad, c->d, 1), eq = scaled_err(c->n, Qd, c->Qd, c->d, 0);
        print_message("||A dt|| = %-8.3g series: Ad %.1e Qd %.1e\n",
                      c->dt * dt_mat_norm1(c->n, c->n, c->A), ea, eq);
        assert_true(ea <= 1e-13 && eq <= 1e-13);
        seen++;
    }
    assert_int_equal(seen, 6);
    /* the scalar closed forms as for dt_vanloan */
    const double as[] = {-0.7, 0.0, 0.4, 3.0};
    for (size_t j = 0; j < 4; j++) {
        double a = as[j], q = 2.0, Ad, Qd;
        assert_int_equal(dt_vanloan_series(1, &a, &q, 0.5, &Ad, &Qd, w), 0);
        assert_close(Ad, exp(a * 0.5), 1e-13, 0);
        assert_close(Qd, a == 0 ? q * 0.5 : q * expm1(a) / (2 * a), 1e-13, 0);
    }
    double a = NAN, q = 1, Ad, Qd;
    assert_int_equal(dt_vanloan_series(1, &a, &q, 0.5, &Ad, &Qd, w), DT_ENUMERIC);
    a = 1;
    assert_int_equal(dt_vanloan_series(1, &a, &q, -0.5, &Ad, &Qd, w), DT_EINVAL);
}

/* Van Loan on a stiff diagonal model against the closed forms, every step from
 * 1 ms to 1e4 s: the old block exponential of [[-A, Q], [0, A']] overflowed
 * its e^{+1e6 tau} block from 1 ms (DT_ERANGE for a stable model), and the
 * doublings of e^{a h} = 1 - 1e-12 cost the slow mode 7 digits. */
static void test_vanloan_stiff_closed_form(void **state)
{
    (void)state;
    static double w[DT_VANLOAN_WORK(2)], cw[DT_COV_AFTER_WORK(2)];
    const double a[][2] = {{-1e6, -1e-3}, {-1e12, -0.5}, {-10, -1e-4}};
    const double q[2] = {1.0, 3.0}, c = 0.4; /* Q = [[1, c], [c, 3]] */
    for (size_t m = 0; m < 3; m++)
        for (double dt = 1e-3; dt < 2e4; dt *= 3.1) {
            const double A[4] = {a[m][0], 0, 0, a[m][1]}, Q[4] = {q[0], c, c, q[1]};
            const double P0[4] = {0.5, 0, 0, 2};
            double ad[2], qd[4], P[4];
            for (int i = 0; i < 2; i++) {
                ad[i] = exp(a[m][i] * dt);
                qd[3 * i] = -q[i] * expm1(2 * a[m][i] * dt) / (-2 * a[m][i]);
            }
            qd[1] = qd[2] = -c * expm1((a[m][0] + a[m][1]) * dt) / -(a[m][0] + a[m][1]);
            for (int series = 0; series < 2; series++) {
                double Ad[4], Qd[4];
                int rc = series ? dt_vanloan_series(2, A, Q, dt, Ad, Qd, w)
                                : dt_vanloan(2, A, Q, dt, Ad, Qd, w);
                assert_int_equal(rc, DT_OK);
                /* rel 1e-13 and abs 1e-15 (of ||Ad|| = 1: a mode decayed to
                 * 1e-12 next to one that has not is accurate absolutely) */
                assert_close(Ad[0], ad[0], 1e-13, 1e-15);
                assert_close(Ad[3], ad[1], 1e-13, 1e-15);
                assert_true(Ad[1] == 0 && Ad[2] == 0);
                assert_mat_close(2, 2, Qd, qd, 1e-13, 0);
            }
            /* the covariance after dt: Ad P0 Ad' + Qd */
            assert_int_equal(dt_cov_after(2, A, Q, P0, dt, P, cw), DT_OK);
            assert_close(P[0], ad[0] * ad[0] * 0.5 + qd[0], 1e-13, 0);
            assert_close(P[3], ad[1] * ad[1] * 2 + qd[3], 1e-13, 0);
            assert_close(P[1], qd[1], 1e-13, 0);
        }
}

/* A growing mode over a long step: Qd = (e^{2 dt} - 1) / 2 overflows beyond
 * 354.9 s. The old block form returned DT_OK with an infinite covariance for
 * dt in 360..700 s; now DT_ERANGE, never DT_OK with a non-finite output.
 * Below, rel 1e-12: e^{2 dt} itself is conditioned 2 dt eps = 1.6e-13. */
static void test_vanloan_overflow_is_erange(void **state)
{
    (void)state;
    static double w[DT_COV_AFTER_WORK(1)];
    const double a = 1, q = 1, p0 = 0;
    const double dts[] = {1, 100, 300, 354};
    for (size_t i = 0; i < 4; i++) {
        double Ad, Qd, P;
        assert_int_equal(dt_vanloan(1, &a, &q, dts[i], &Ad, &Qd, w), DT_OK);
        assert_close(Ad, exp(dts[i]), 1e-12, 0);
        assert_close(Qd, expm1(2 * dts[i]) / 2, 1e-12, 0);
        assert_int_equal(dt_vanloan_series(1, &a, &q, dts[i], &Ad, &Qd, w), DT_OK);
        assert_close(Qd, expm1(2 * dts[i]) / 2, 1e-12, 0);
        assert_int_equal(dt_cov_after(1, &a, &q, &p0, dts[i], &P, w), DT_OK);
        assert_close(P, expm1(2 * dts[i]) / 2, 1e-12, 0);
    }
    for (double dt = 360; dt <= 700; dt += 20) {
        double Ad, Qd, P;
        assert_int_equal(dt_vanloan(1, &a, &q, dt, &Ad, &Qd, w), DT_ERANGE);
        assert_int_equal(dt_vanloan_series(1, &a, &q, dt, &Ad, &Qd, w), DT_ERANGE);
        assert_int_equal(dt_cov_after(1, &a, &q, &p0, dt, &P, w), DT_ERANGE);
    }
    /* e^{A tau} alone fits (e^{360}) but the covariance does not */
    const double big = 1;
    double P;
    assert_int_equal(dt_cov_after(1, &a, &q, &big, 360, &P, w), DT_ERANGE);
    double nan_p0 = NAN;
    assert_int_equal(dt_cov_after(1, &a, &q, &nan_p0, 1, &P, w), DT_EINVAL);
}

/* Both Van Loan routines against tests/data/ref/vanloan_ref.txt: badly scaled
 * models (entries 1e12 next to 1e-12: unbalanced, both lost 8 digits), stiff
 * ones (coupled, next to an oscillator, -1e12/s) and a growing one. Errors in
 * the well-scaled coordinates, relative to the largest entry, and each
 * variance (Qd's diagonal) relative to itself: 1e-12 (the worst seen, 7e-14,
 * is the oscillator over 780 rad, whose own conditioning is 780 eps). */
static void test_vanloan_references(void **state)
{
    (void)state;
    ref_case *c = refs;
    static double w[DT_VANLOAN_WORK(RN)];
    size_t k = read_refs("vanloan_ref.txt", c);
    for (size_t i = 0; i < k; i++) {
        size_t n = c[i].n;
        const double tol = 1e-12;
        for (int series = 0; series < 2; series++) {
            double Ad[RN * RN], Qd[RN * RN];
            int rc = series ? dt_vanloan_series(n, c[i].A, c[i].Q, c[i].dt, Ad, Qd, w)
                            : dt_vanloan(n, c[i].A, c[i].Q, c[i].dt, Ad, Qd, w);
            double ea = scaled_err(n, Ad, c[i].Ad, c[i].d, 1);
            double eq = scaled_err(n, Qd, c[i].Qd, c[i].d, 0), ev = 0;
            for (size_t j = 0; j < n; j++)
                if (c[i].Qd[j * n + j] != 0)
                    ev = fmax(ev, fabs(Qd[j * n + j] / c[i].Qd[j * n + j] - 1));
            print_message("%-17s dt %-6g %s: Ad %.1e Qd %.1e var %.1e\n", c[i].name, c[i].dt,
                          series ? "series" : "block ", ea, eq, ev);
            assert_int_equal(rc, DT_OK);
            assert_true(ea <= tol && eq <= tol && ev <= tol);
        }
    }
}

/* dt_latency_budget against tests/data/ref/budget_ref.txt, the first time the
 * bound breaks: oscillators whose crossing falls between the 2^k ns probes
 * (the poles -0.01 +- 7.8j: the old search returned INFINITY against
 * 0.156 s), a beat, an undamped one, a non-normal hump, one never crossed;
 * stiff ones (diag(-1e6, -1e-3): the old 549.8 s against 804.7 s), the tank
 * with a decoupled fast state, badly scaled. Tolerance 1e-6 relative (the
 * bisection stops at 1e-7). */
static void test_latency_budget_references(void **state)
{
    (void)state;
    ref_case *c = refs;
    static double w[DT_LATENCY_WORK(RN)];
    size_t k = read_refs("budget_ref.txt", c);
    for (size_t i = 0; i < k; i++) {
        dt_bound b = {c[i].w, c[i].quadratic, c[i].limit};
        double tau = -1;
        int rc = dt_latency_budget(c[i].n, c[i].A, c[i].Q, c[i].P0, &b, &tau, w);
        print_message("%-17s tau %.12g reference %.12g\n", c[i].name, tau, c[i].tau);
        assert_int_equal(rc, DT_OK);
        if (isinf(c[i].tau))
            assert_true(isinf(tau) && tau > 0);
        else
            assert_close(tau, c[i].tau, 1e-6, 0);
    }
}

/* ---- the budget search, second red-team pass ---- */

/* A random walk next to a lightly damped oscillator at 17143.57 rad/s:
 * metric(t) = t + 990 e^{-2 s t} sin^2(w t), limit 1000, first crossing
 * 153.3466 s (mpmath). A work limit that coarsened the grid to exactly
 * 6 pi / w sampled every hump at sin = 0 and reported 998 s. Now the grid
 * never gets coarser than the oscillation: where the steps run out the
 * budget is the time verified, and the covariance stays under the bound up
 * to it (checked at every top of the oscillation). */
static void test_budget_never_aliases_an_oscillation(void **state)
{
    (void)state;
    enum { N = 3 };
    const double w = 17143.57114553835, s = 5.1e-4;
    double A[N * N] = {0}, Q[N * N] = {0}, P0[N * N] = {0}, wt[N] = {1, 1, 0}, P[N * N];
    A[4] = A[8] = -s;
    A[5] = w;
    A[7] = -w;
    Q[0] = 1;
    P0[8] = 990;
    static double work[DT_LATENCY_WORK(N)];
    dt_bound b = {wt, 0, 1000.0};
    double tau = -1;
    assert_int_equal(dt_latency_budget(N, A, Q, P0, &b, &tau, work), 0);
    assert_true(tau > 0 && tau <= 153.3466);
    const double pi = 3.14159265358979323846;
    for (int k = 0; (k + 0.5) * pi / w <= tau; k++) {
        assert_int_equal(dt_cov_after(N, A, Q, P0, (k + 0.5) * pi / w, P, work), 0);
        assert_true(dt_bound_metric(N, &b, P) <= 1000.0);
    }
}

/* An undamped oscillator the bound sees (no settling: no certificate) next
 * to a decoupled fast stable state: var(x0) = sin^2(0.30121 t) crosses 0.95
 * at asin(sqrt(0.95)) / 0.30121 = 4.466262 s. With the fast state the search
 * covered 1000 of its time constants (1 s) and returned INFINITY. */
static void test_budget_undamped_oscillation_next_to_a_fast_state(void **state)
{
    (void)state;
    const double w = 0.30121, ref = asin(sqrt(0.95)) / w;
    static double work[DT_LATENCY_WORK(3)];
    for (int fast = 0; fast < 2; fast++) {
        double A[9] = {0, w, 0, -w, 0, 0, 0, 0, fast ? -1000.0 : 0.0}, Q[9] = {0},
               P0[9] = {0, 0, 0, 0, 1, 0, 0, 0, 0}, wt[3] = {1, 0, 0};
        dt_bound b = {wt, 0, 0.95};
        double tau = -1;
        assert_int_equal(dt_latency_budget(3, A, Q, P0, &b, &tau, work), 0);
        assert_close(tau, ref, 1e-6, 0);
        /* an amplitude below the bound: never broken, proved (the model
         * cannot grow anything) */
        b.limit = 1.05;
        assert_int_equal(dt_latency_budget(3, A, Q, P0, &b, &tau, work), 0);
        assert_true(isinf(tau));
    }
}

/* A variance that touches the same top every half period, 1e-6 under the
 * limit: every hump needed refining (48 s at n = 32). The refinement has a
 * work limit now; the budget is then the time verified, under the bound. */
static void test_budget_refinement_is_bounded(void **state)
{
    (void)state;
    enum { N = 16 };
    const double s = 1e-4, qinf = 1 / (2 * s);
    static double A[N * N], Q[N * N], P0[N * N], P[N * N], wt[N], work[DT_LATENCY_WORK(N)];
    A[1] = 1;
    A[N] = -1;
    A[0] = A[N + 1] = -s;
    Q[0] = Q[N + 1] = 1;
    for (int i = 2; i < N; i++) {
        A[i * N + i] = -0.5;
        if (i + 1 < N)
            A[i * N + i + 1] = 0.1;
    }
    P0[N + 1] = qinf;
    wt[0] = 1;
    dt_bound b = {wt, 0, qinf * (1 + 1e-6)};
    double tau = -1;
    assert_int_equal(dt_latency_budget(N, A, Q, P0, &b, &tau, work), 0);
    assert_true(tau > 0);
    if (isfinite(tau)) {
        assert_int_equal(dt_cov_after(N, A, Q, P0, tau, P, work), 0);
        assert_true(dt_bound_metric(N, &b, P) <= b.limit);
    }
}

/* ||A dt|| beyond any double: DT_ERANGE, never DT_OK with Ad = I, Qd = 0
 * (the step count's log2 of infinity was undefined behaviour). */
static void test_vanloan_series_norm_overflow(void **state)
{
    (void)state;
    double A[4] = {-1e300, 0, 0, -1}, Q[4] = {1, 0, 0, 1}, Ad[4], Qd[4];
    static double work[DT_VANLOAN_WORK(2) + 64];
    assert_int_equal(dt_vanloan_series(2, A, Q, 1e9, Ad, Qd, work), DT_ERANGE);
    double B[4] = {-1, 0, 0, -1};
    assert_int_equal(dt_vanloan_series(2, B, Q, DBL_MAX, Ad, Qd, work), DT_ERANGE);
}

/* The certificates assume Q positive semi-definite: an indefinite Q is
 * refused (it gave INFINITY where the bound breaks at 0.565 s). */
static void test_budget_refuses_an_indefinite_q(void **state)
{
    (void)state;
    double A[4] = {-0.01, 1, -1, -0.01}, Q[4] = {1, 0, 0, -1}, P0[4] = {0}, wt[2] = {1, 0};
    static double work[DT_LATENCY_WORK(2)];
    dt_bound b = {wt, 0, 0.45};
    double tau = -1;
    assert_int_equal(dt_latency_budget(2, A, Q, P0, &b, &tau, work), DT_EINVAL);
    assert_true(tau == -1);
    double Qa[4] = {1, 0.5, 0.4, 1}; /* not symmetric */
    assert_int_equal(dt_latency_budget(2, A, Qa, P0, &b, &tau, work), DT_EINVAL);
    double Qr[4] = {1, 1, 1, 1}; /* rank 1: fine */
    assert_int_equal(dt_latency_budget(2, A, Qr, P0, &b, &tau, work), DT_OK);
}


static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_mul_transpose_abat),
    cmocka_unit_test(test_dimension_checks),
    cmocka_unit_test(test_cholesky_known_factor),
    cmocka_unit_test(test_cholesky_rejects_non_pd),
    cmocka_unit_test(test_joseph_scalar_by_hand),
    cmocka_unit_test(test_joseph_optimal_gain_matches_simple_form),
    cmocka_unit_test(test_expm_zero_and_diagonal),
    cmocka_unit_test(test_expm_rotation_generator),
    cmocka_unit_test(test_expm_nilpotent_and_jordan),
    cmocka_unit_test(test_expm_inverse_identity),
    cmocka_unit_test(test_expm_failures),
    cmocka_unit_test(test_expm_largest_block),
    cmocka_unit_test(test_vanloan_scalar_closed_form),
    cmocka_unit_test(test_vanloan_double_integrator),
    cmocka_unit_test(test_vanloan_oscillator),
    cmocka_unit_test(test_vanloan_edge_steps),
    cmocka_unit_test(test_vanloan_series_against_reference),
    cmocka_unit_test(test_vanloan_stiff_closed_form),
    cmocka_unit_test(test_vanloan_overflow_is_erange),
    cmocka_unit_test(test_vanloan_references),
    cmocka_unit_test(test_latency_budget_references),
    cmocka_unit_test(test_budget_never_aliases_an_oscillation),
    cmocka_unit_test(test_budget_undamped_oscillation_next_to_a_fast_state),
    cmocka_unit_test(test_budget_refinement_is_bounded),
    cmocka_unit_test(test_vanloan_series_norm_overflow),
    cmocka_unit_test(test_budget_refuses_an_indefinite_q),
};

DTT_MAIN(tests)
