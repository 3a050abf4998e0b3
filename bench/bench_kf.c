/* Estimator benchmarks (issue 4): predict + update per step at (n, m) sizes,
 * against a textbook C filter and an Eigen fixed-size filter run in the same
 * process on the same data, checked to agree. */
#include "bench_util.h"

#include <math.h>
#include <string.h>

#include "dtwin/dtwin.h"

#define NMAX 24
#define MMAX 8

#ifdef DTWIN_BENCH_EIGEN
double dt_bench_eigen(int n, int m, const double *F, const double *Q, const double *H,
                      const double *R, const double *x0, const double *P0, const double *z,
                      int steps, int form, double *xout);
#endif

typedef struct problem {
    int n, m;
    double A[NMAX * NMAX], Qc[NMAX * NMAX], F[NMAX * NMAX], Q[NMAX * NMAX];
    double H[MMAX * NMAX], R[MMAX * MMAX], x0[NMAX], P0[NMAX * NMAX];
    double dt;
} problem;

/* A chain of damped oscillators (position/velocity pairs) with light coupling;
 * the first m states are measured with a little cross-talk. */
static void setup(problem *p, int n, int m)
{
    memset(p, 0, sizeof *p);
    p->n = n;
    p->m = m;
    p->dt = 0.01;
    for (int i = 0; i + 1 < n; i += 2) {
        p->A[i * n + i + 1] = 1;
        p->A[(i + 1) * n + i] = -(1.0 + 0.3 * i);
        p->A[(i + 1) * n + i + 1] = -0.2;
        if (i + 2 < n)
            p->A[(i + 1) * n + i + 2] = 0.05;
    }
    if (n % 2)
        p->A[(n - 1) * n + n - 1] = -0.5;
    for (int i = 0; i < n; i++) {
        p->Qc[i * n + i] = i % 2 ? 0.1 : 0.001;
        p->P0[i * n + i] = 1.0;
        p->x0[i] = 0.1 * i;
    }
    for (int j = 0; j < m; j++) {
        p->H[j * n + j] = 1.0;
        p->H[j * n + (j + 1) % n] = 0.1;
        p->R[j * m + j] = 0.01 * (1 + j);
    }
    static double w[DT_VANLOAN_WORK(NMAX)];
    dt_vanloan((size_t)n, p->A, p->Qc, p->dt, p->F, p->Q, w);
}

/* ---- textbook: explicit inverse, separate temporaries ---- */

static void tb_invert(int m, const double *S, double *Si)
{
    double a[MMAX * 2 * MMAX];
    for (int i = 0; i < m; i++)
        for (int j = 0; j < 2 * m; j++)
            a[i * 2 * m + j] = j < m ? S[i * m + j] : (j - m == i);
    for (int c = 0; c < m; c++) {
        int piv = c;
        for (int r = c + 1; r < m; r++)
            if (fabs(a[r * 2 * m + c]) > fabs(a[piv * 2 * m + c]))
                piv = r;
        for (int j = 0; j < 2 * m; j++) {
            double t = a[c * 2 * m + j];
            a[c * 2 * m + j] = a[piv * 2 * m + j];
            a[piv * 2 * m + j] = t;
        }
        double d = a[c * 2 * m + c];
        for (int j = 0; j < 2 * m; j++)
            a[c * 2 * m + j] /= d;
        for (int r = 0; r < m; r++)
            if (r != c) {
                double f = a[r * 2 * m + c];
                for (int j = 0; j < 2 * m; j++)
                    a[r * 2 * m + j] -= f * a[c * 2 * m + j];
            }
    }
    for (int i = 0; i < m; i++)
        for (int j = 0; j < m; j++)
            Si[i * m + j] = a[i * 2 * m + m + j];
}

static void mm(int n, int k, int m, const double *A, const double *B, double *C)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++) {
            double s = 0;
            for (int p = 0; p < k; p++)
                s += A[i * k + p] * B[p * m + j];
            C[i * m + j] = s;
        }
}

static void tr(int n, int m, const double *A, double *T)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++)
            T[j * n + i] = A[i * m + j];
}

static double textbook(const problem *p, const double *z, int steps, double *xout)
{
    int n = p->n, m = p->m;
    double x[NMAX], P[NMAX * NMAX], FP[NMAX * NMAX], Ft[NMAX * NMAX], Ht[NMAX * MMAX],
        HP[MMAX * NMAX], S[MMAX * MMAX], Si[MMAX * MMAX], PHt[NMAX * MMAX], K[NMAX * MMAX],
        KH[NMAX * NMAX], IKH[NMAX * NMAX], xn[NMAX], y[MMAX];
    memcpy(x, p->x0, sizeof x);
    memcpy(P, p->P0, sizeof P);
    tr(n, n, p->F, Ft);
    tr(m, n, p->H, Ht);
    double t0 = bench_now();
    for (int k = 0; k < steps; k++) {
        mm(n, n, 1, p->F, x, xn);
        memcpy(x, xn, (size_t)n * sizeof *x);
        mm(n, n, n, p->F, P, FP);
        mm(n, n, n, FP, Ft, P);
        for (int i = 0; i < n * n; i++)
            P[i] += p->Q[i];
        mm(m, n, n, p->H, P, HP);
        mm(m, n, m, HP, Ht, S);
        for (int i = 0; i < m * m; i++)
            S[i] += p->R[i];
        tb_invert(m, S, Si);
        mm(n, n, m, P, Ht, PHt);
        mm(n, m, m, PHt, Si, K);
        mm(m, n, 1, p->H, x, y);
        for (int i = 0; i < m; i++)
            y[i] = z[(size_t)k * (size_t)m + (size_t)i] - y[i];
        mm(n, m, 1, K, y, xn);
        for (int i = 0; i < n; i++)
            x[i] += xn[i];
        mm(n, m, n, K, p->H, KH);
        for (int i = 0; i < n * n; i++)
            IKH[i] = (i % (n + 1) == 0) - KH[i];
        mm(n, n, n, IKH, P, FP);
        memcpy(P, FP, (size_t)(n * n) * sizeof *P);
    }
    double dt = bench_now() - t0;
    memcpy(xout, x, (size_t)n * sizeof *x);
    bench_sink = P[0];
    return dt;
}

static double ours(const problem *p, const double *z, int steps, double *xout)
{
    int n = p->n, m = p->m;
    dt_kf *kf;
    dt_kf_create((size_t)n, 0, NULL, &kf);
    dt_kf_set_continuous(kf, p->A, NULL, p->Qc);
    dt_kf_set_state(kf, p->x0, p->P0);
    double t0 = bench_now();
    for (int k = 0; k < steps; k++) {
        dt_kf_predict(kf, p->dt);
        /* R is diagonal: m sequential scalar updates are the same filter */
        for (int j = 0; j < m; j++)
            dt_kf_update_scalar(kf, p->H + j * n, z[(size_t)k * (size_t)m + (size_t)j],
                                p->R[j * m + j], 0, NULL);
    }
    double dt = bench_now() - t0;
    memcpy(xout, dt_kf_state(kf), (size_t)n * sizeof *xout);
    dt_kf_destroy(kf);
    return dt;
}

/* Nominal FLOPs of one textbook step, the same count for every implementation:
 * F P F' (4 n^3), x (2 n^2), H P (2 m n^2), H P H' (2 m^2 n), S^-1 (m^3),
 * P H' S^-1 (2 n m^2), innovation and gain (4 m n), (I - K H) P (2 n^2 m + 2 n^3). */
static double flops(int n, int m)
{
    double N = n, M = m;
    return 6 * N * N * N + 2 * N * N + 4 * M * N * N + 4 * M * M * N + M * M * M + 4 * M * N;
}

static double rel_diff(int n, const double *a, const double *b)
{
    double d = 0, s = 0;
    for (int i = 0; i < n; i++) {
        d = fmax(d, fabs(a[i] - b[i]));
        s = fmax(s, fabs(b[i]));
    }
    return d / (s > 0 ? s : 1);
}

/* One discretization of the 6-state problem at a new dt each call, scaled so
 * ||A dt||_1 is about `target`; also reports the block method and the
 * largest relative difference between the two. */
static void vanloan_bench(double target)
{
    problem p;
    setup(&p, 6, 3);
    double nA = dt_mat_norm1(6, 6, p.A);
    static double w1[DT_VANLOAN_SERIES_WORK(6)], w2[DT_VANLOAN_WORK(6)];
    double Ad[36], Qd[36], Ad2[36], Qd2[36];
    const int N = 20000;
    double ts[BENCH_REPS], tb[BENCH_REPS], acc = 0, diff = 0;
    for (int r = 0; r < BENCH_REPS; r++) {
        double t0 = bench_now();
        for (int k = 0; k < N; k++) {
            double dt = target / nA * (1 + 1e-6 * k);
            dt_vanloan_series(6, p.A, p.Qc, dt, Ad, Qd, w1);
            acc += Qd[35];
        }
        ts[r] = (bench_now() - t0) / N * 1e9;
        t0 = bench_now();
        for (int k = 0; k < N / 10; k++) {
            double dt = target / nA * (1 + 1e-6 * k);
            dt_vanloan(6, p.A, p.Qc, dt, Ad2, Qd2, w2);
            acc += Qd2[35];
        }
        tb[r] = (bench_now() - t0) / (N / 10) * 1e9;
    }
    dt_vanloan_series(6, p.A, p.Qc, target / nA, Ad, Qd, w1);
    dt_vanloan(6, p.A, p.Qc, target / nA, Ad2, Qd2, w2);
    double sc = 0;
    for (int i = 0; i < 36; i++) {
        diff = fmax(diff, fmax(fabs(Ad[i] - Ad2[i]), fabs(Qd[i] - Qd2[i])));
        sc = fmax(sc, fmax(fabs(Ad2[i]), fabs(Qd2[i])));
    }
    bench_sink = acc;
    const char *tag = target < 0.5 ? "vanloan.n6" : "vanloan.n6.big";
    char name[64];
    snprintf(name, sizeof name, "%s.ns", tag);
    bench_line(name, bench_median(ts, BENCH_REPS), "ns");
    snprintf(name, sizeof name, "%s.block_ns", tag);
    bench_line(name, bench_median(tb, BENCH_REPS), "ns");
    snprintf(name, sizeof name, "%s.series_vs_block", tag);
    bench_line(name, diff / sc, "max-rel-diff");
}

/* A remote belief's arithmetic: covariance intersection of a 6-state belief
 * with 3 functions of it (dt_ci_update) against the vector Kalman update of
 * the same (dt_kf_update, the baseline, measured in the same run), and the
 * ageing of a 4-state belief over 0.25 s (dt_belief_age, Van Loan). */
static void fuse_bench(void)
{
    problem p;
    setup(&p, 6, 3);
    static double cw[DT_CI_UPDATE_WORK(6, 3)], aw[DT_BELIEF_AGE_WORK(4)];
    double xo[6], Po[36], w, y[3] = {0.3, -0.2, 0.1}, z[3] = {0.3, -0.1, 0.3};
    double A4[16], Q4[16], P4[16], x4[4] = {1, 0, -1, 0.5};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            A4[i * 4 + j] = p.A[i * 6 + j];
            Q4[i * 4 + j] = p.Qc[i * 6 + j];
            P4[i * 4 + j] = p.P0[i * 6 + j];
        }
    dt_kf *kf;
    if (dt_kf_create(6, 0, NULL, &kf) != DT_OK ||
        dt_kf_set_discrete(kf, p.F, NULL, p.Q) != DT_OK)
        return;
    const int N = 20000;
    double tc[BENCH_REPS], tk[BENCH_REPS], ta[BENCH_REPS], acc = 0;
    for (int r = 0; r < BENCH_REPS; r++) {
        double t0 = bench_now();
        for (int k = 0; k < N; k++) {
            y[0] = 0.3 + 1e-6 * k;
            dt_ci_update(6, 3, p.x0, p.P0, p.H, y, p.R, DT_CI_TRACE, xo, Po, &w, cw);
            acc += Po[0] + w;
        }
        tc[r] = (bench_now() - t0) / N * 1e9;
        t0 = bench_now();
        for (int k = 0; k < N; k++) {
            dt_kf_result res;
            dt_kf_set_state(kf, p.x0, p.P0);
            z[0] = 0.3 + 1e-6 * k;
            dt_kf_update(kf, 3, z, p.H, p.R, 0, &res);
            acc += dt_kf_cov(kf)[0];
        }
        tk[r] = (bench_now() - t0) / N * 1e9;
        t0 = bench_now();
        for (int k = 0; k < N; k++) {
            dt_belief_age(4, x4, P4, A4, Q4, 0.25 + 1e-9 * k, xo, Po, aw);
            acc += Po[0];
        }
        ta[r] = (bench_now() - t0) / N * 1e9;
    }
    dt_kf_destroy(kf);
    bench_sink = acc;
    double ci = bench_median(tc, BENCH_REPS), ku = bench_median(tk, BENCH_REPS);
    bench_line("fuse.ci_update.n6m3.ns", ci, "ns");
    bench_line("fuse.kf_update.n6m3.ns", ku, "ns");
    bench_line("fuse.ci_vs_kf_update", ci / ku, "ratio");
    bench_line("fuse.age.n4.ns", bench_median(ta, BENCH_REPS), "ns");
}

/* A fleet of 64 identical filters stepped together; ns per filter-step. */
static double batch_bench(int n, int m)
{
    problem p;
    setup(&p, n, m);
    enum { FLEET = 64 };
    dt_kf_batch *b;
    dt_kf_batch_create((size_t)n, FLEET, NULL, &b);
    dt_kf_batch_set_model(b, p.F, p.Q);
    for (int f = 0; f < FLEET; f++)
        dt_kf_batch_set_state(b, (size_t)f, p.x0, p.P0);
    double r[MMAX], *z = malloc(FLEET * (size_t)m * sizeof *z);
    for (int j = 0; j < m; j++)
        r[j] = p.R[j * m + j];
    int steps = n <= 6 ? 4000 : 1000;
    for (int f = 0; f < FLEET * m; f++)
        z[f] = sin(0.37 * f); /* data outside the timed loop */
    double t0 = bench_now();
    for (int k = 0; k < steps; k++)
        dt_kf_batch_step(b, (size_t)m, p.H, r, z);
    double ns = (bench_now() - t0) / ((double)steps * FLEET) * 1e9;
    free(z);
    dt_kf_batch_destroy(b);
    return ns;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strstr("kf.batch", argv[1]) != NULL) {
        double t6[BENCH_REPS], t12[BENCH_REPS];
        for (int r = 0; r < BENCH_REPS; r++) {
            t6[r] = batch_bench(6, 3);
            t12[r] = batch_bench(12, 6);
        }
        bench_line("kf.batch.n6m3.ns", bench_median(t6, BENCH_REPS), "ns/filter-step");
        bench_line("kf.batch.n12m6.ns", bench_median(t12, BENCH_REPS), "ns/filter-step");
    }
    if (argc < 2 || strstr("fuse", argv[1]) != NULL)
        fuse_bench();
    if (argc < 2 || strstr("vanloan", argv[1]) != NULL) {
        vanloan_bench(0.1);
        vanloan_bench(1.0);
    }
    static const int sizes[][2] = {{4, 2}, {6, 3}, {12, 6}, {24, 8}};
    for (size_t si = 0; si < 4; si++) {
        int n = sizes[si][0], m = sizes[si][1];
        char tag[32], name[64];
        snprintf(tag, sizeof tag, "kf.n%dm%d", n, m);
        if (argc > 1 && strstr(tag, argv[1]) == NULL)
            continue;
        problem p;
        setup(&p, n, m);
        int steps = n <= 6 ? 200000 : n <= 12 ? 50000 : 10000;
        double *z = malloc((size_t)steps * (size_t)m * sizeof *z);
        for (int k = 0; k < steps * m; k++)
            z[k] = sin(0.001 * k) + 0.1 * cos(0.37 * k);
        double xo[NMAX], xt[NMAX], t_o[BENCH_REPS], t_t[BENCH_REPS];
        for (int r = 0; r < BENCH_REPS; r++) {
            t_o[r] = ours(&p, z, steps, xo) / steps * 1e9;
            t_t[r] = textbook(&p, z, steps, xt) / steps * 1e9;
        }
        double ns = bench_median(t_o, BENCH_REPS), tb = bench_median(t_t, BENCH_REPS);
        if (rel_diff(n, xo, xt) > 1e-9)
            fprintf(stderr, "%s: ours and textbook disagree by %g\n", tag, rel_diff(n, xo, xt));
        snprintf(name, sizeof name, "%s.ns", tag);
        bench_line(name, ns, "ns/step");
        snprintf(name, sizeof name, "%s.textbook_speedup", tag);
        bench_line(name, tb / ns, "ratio");
        snprintf(name, sizeof name, "%s.gflops", tag);
        bench_line(name, flops(n, m) / ns, "GFLOP/s");
#ifdef DTWIN_BENCH_EIGEN
        double t_e[2][BENCH_REPS], xe[2][NMAX];
        for (int r = 0; r < BENCH_REPS; r++)
            for (int form = 0; form < 2; form++)
                t_e[form][r] = dt_bench_eigen(n, m, p.F, p.Q, p.H, p.R, p.x0, p.P0, z, steps,
                                              form, xe[form]) /
                               steps * 1e9;
        double inv = bench_median(t_e[0], BENCH_REPS), llt = bench_median(t_e[1], BENCH_REPS);
        for (int form = 0; form < 2; form++)
            if (rel_diff(n, xo, xe[form]) > 1e-9)
                fprintf(stderr, "%s: ours and Eigen (%s) disagree by %g\n", tag,
                        form ? "llt" : "inverse", rel_diff(n, xo, xe[form]));
        snprintf(name, sizeof name, "%s.eigen_ns", tag);
        bench_line(name, fmin(inv, llt), "ns/step");
        snprintf(name, sizeof name, "%s.eigen_ratio", tag);
        bench_line(name, ns / fmin(inv, llt), "ratio");
#endif
        free(z);
    }
    return 0;
}
