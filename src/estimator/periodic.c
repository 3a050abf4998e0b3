/* The periodic steady state the filter reaches with its sensors, and the
 * latency budget that starts from it.
 *
 * The budget is the time, after the last update, until the covariance breaks
 * the bound. Which update is last is not known in advance, so it is the
 * shortest such time over every posterior of one cycle of the sensors'
 * pattern; and an oscillating covariance may cross the bound between two
 * points of a coarse search, so the crossing is searched on a grid fine
 * against the model's fastest time constant. Both searches use that the
 * bound's metric after tau without data is linear in the starting covariance:
 * metric(F P F' + Qd) = <F' W F, P> + metric(Qd), F = e^{A tau}. */
#include <math.h>
#include <string.h>

#include "dtwin/estimator.h"
#include "dtwin/linalg.h"

#define POSTS DT_PERIODIC_POSTS

static uint64_t gcd64(uint64_t a, uint64_t b)
{
    while (b != 0) {
        uint64_t r = a % b;
        a = b;
        b = r;
    }
    return a;
}

/* P <- Ad P Ad' + Qd, t: n x n scratch. */
static void predict(size_t n, const double *Ad, const double *Qd, double *P, double *t)
{
    dt_mat_mul(n, n, n, Ad, P, t);
    dt_mat_mul_bt(n, n, n, t, Ad, P);
    dt_mat_add(n, n, P, Qd, P);
    dt_mat_symmetrize(n, P);
}

/* Scalar update of the covariance alone, Joseph form expanded:
 * P' = (I - k h') P (I - k h')' + r k k' = P - k a' - a k' + s k k', a = P h,
 * s = h' a + r, k = a / s; symmetric by construction. */
static void cov_update(size_t n, double *P, const double *h, double r, double *a)
{
    double s = r;
    for (size_t i = 0; i < n; i++) {
        double v = 0;
        for (size_t j = 0; j < n; j++)
            v += P[i * n + j] * h[j];
        a[i] = v;
        s += h[i] * v;
    }
    if (!(s > 0) || !isfinite(s))
        return; /* nothing observed (h'Ph + r = 0): no information */
    for (size_t i = 0; i < n; i++) {
        double ki = a[i] / s;
        for (size_t j = 0; j < n; j++) {
            double kj = a[j] / s;
            P[i * n + j] += -ki * a[j] - a[i] * kj + s * ki * kj;
        }
    }
}

/* The grid: step g (ns), row j updates every every[j] steps, a cycle of win
 * steps. */
typedef struct grid {
    uint64_t g, win, every[DT_PERIODIC_MAX_ROWS];
} grid;

static int make_grid(size_t n, const dt_periodic_meas *rows, size_t m, grid *gr)
{
    /* Periods on an integer grid: the step is their greatest common divisor,
     * coarsened (each period rounded up: fewer updates, a larger covariance,
     * a shorter budget) so that the longest period takes at most
     * DT_PERIODIC_MAX_STEPS steps. */
    uint64_t g = 0, tmax = 0;
    for (size_t j = 0; j < m; j++) {
        double p = rows[j].period_s;
        if (!(p >= 1e-9 && p <= 86400) || !(rows[j].r >= 0) || !isfinite(rows[j].r) ||
            rows[j].h == NULL)
            return DT_EINVAL;
        for (size_t i = 0; i < n; i++)
            if (!isfinite(rows[j].h[i]))
                return DT_EINVAL;
        uint64_t ns = (uint64_t)llround(p * 1e9);
        g = gcd64(g, ns);
        tmax = ns > tmax ? ns : tmax;
    }
    if (g == 0)
        return DT_EINVAL; /* unreachable: m >= 1 and every period >= 1 ns */
    if (tmax / g > DT_PERIODIC_MAX_STEPS)
        g = (tmax + DT_PERIODIC_MAX_STEPS - 1) / DT_PERIODIC_MAX_STEPS;
    uint64_t kmax = 0, lcm = 1;
    for (size_t j = 0; j < m; j++) {
        uint64_t k = ((uint64_t)llround(rows[j].period_s * 1e9) + g - 1) / g;
        gr->every[j] = k;
        kmax = k > kmax ? k : kmax;
        if (lcm <= 65536)
            lcm = lcm / gcd64(lcm, k) * k;
    }
    /* One cycle of the pattern when it is short, else 16 longest periods. */
    gr->win = lcm <= 65536 ? lcm : 16 * kmax;
    gr->g = g;
    return DT_OK;
}

/* One grid step: predict, then every row due. Returns 1 when a row updated. */
static int step(size_t n, const grid *gr, const dt_periodic_meas *rows, size_t m, uint64_t s,
                const double *Ad, const double *Qd, double *P, double *t, double *a)
{
    predict(n, Ad, Qd, P, t);
    int updated = 0;
    for (size_t j = 0; j < m; j++)
        if (s % gr->every[j] == 0) {
            cov_update(n, P, rows[j].h, rows[j].r, a);
            updated = 1;
        }
    if (updated)
        dt_mat_symmetrize(n, P);
    return updated;
}

/* Runs the recursion from P (in place) until the worst posterior metric of a
 * cycle settles; leaves P at the end of a cycle, the worst posterior in worst. */
static int settle(size_t n, const grid *gr, const dt_periodic_meas *rows, size_t m,
                  const dt_bound *b, const double *Ad, const double *Qd, double *P,
                  double *t, double *a, double *worst, double *metric)
{
    /* the work is bounded: about 3e8 flops at most, whatever the periods */
    double per_step = 2.0 * (double)(n * n * n) + (double)(m * n * n) * 3.0;
    uint64_t max_steps = (uint64_t)(3e8 / per_step);
    if (max_steps < 8 * gr->win)
        max_steps = 8 * gr->win;
    double prev = -1, cur = -1;
    for (uint64_t s = 1; s <= max_steps; s++) {
        if (step(n, gr, rows, m, s, Ad, Qd, P, t, a)) {
            double v = dt_bound_metric(n, b, P);
            if (!isfinite(v))
                return DT_ERANGE;
            if (v > cur) {
                cur = v;
                if (worst != NULL)
                    memcpy(worst, P, n * n * sizeof *P);
            }
        }
        if (s % gr->win == 0) {
            if (cur >= 0 && prev >= 0 && fabs(cur - prev) <= 1e-9 * cur)
                break;
            if (s + gr->win > max_steps) {
                /* not settled in the allowed work: still growing means no
                 * steady state in the bound's direction; shrinking (from a
                 * large P0) leaves an upper bound, which is on the safe side */
                if (cur > prev * (1 + 1e-6))
                    return DT_ERANGE;
                break;
            }
            prev = cur;
            cur = -1;
        }
    }
    if (cur < 0)
        return DT_ERANGE;
    *metric = cur;
    return DT_OK;
}

int dt_cov_periodic(size_t n, const double *A, const double *Q, const double *P0,
                    const dt_periodic_meas *rows, size_t m, const dt_bound *b, double *worst,
                    double *metric, double *work)
{
    if (n < 1 || n > DT_LA_MAX || !A || !Q || !P0 || !b || !b->w || !worst || !metric ||
        !work || (m > 0 && !rows) || m > DT_PERIODIC_MAX_ROWS)
        return DT_EINVAL;
    if (m == 0)
        return DT_EEMPTY;
    grid gr;
    int rc = make_grid(n, rows, m, &gr);
    if (rc != DT_OK)
        return rc;
    size_t nn = n * n;
    double *Ad = work, *Qd = Ad + nn, *P = Qd + nn, *t = P + nn, *a = t + nn, *vw = a + nn;
    rc = dt_vanloan(n, A, Q, (double)gr.g * 1e-9, Ad, Qd, vw);
    if (rc != DT_OK)
        return rc;
    memcpy(P, P0, nn * sizeof *P);
    return settle(n, &gr, rows, m, b, Ad, Qd, P, t, a, worst, metric);
}

/* ---- the budget over every posterior ---- */

/* Symmetric eigen-decomposition by cyclic Jacobi: S (n x n, destroyed) ->
 * eigenvalues on its diagonal, eigenvectors in the columns of V. */
static void jacobi(size_t n, double *S, double *V)
{
    dt_mat_identity(n, V);
    for (int sweep = 0; sweep < 50; sweep++) {
        double off = 0, tot = 0;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++) {
                double sq = S[i * n + j] * S[i * n + j];
                if (i == j)
                    tot += sq;
                else
                    off += sq;
            }
        if (off <= 1e-30 * (tot + off))
            return;
        for (size_t p = 0; p + 1 < n; p++)
            for (size_t q = p + 1; q < n; q++) {
                double apq = S[p * n + q];
                if (apq == 0)
                    continue;
                double th = (S[q * n + q] - S[p * n + p]) / (2 * apq);
                double tn = (th >= 0 ? 1 : -1) / (fabs(th) + sqrt(th * th + 1));
                double c = 1 / sqrt(tn * tn + 1), s = tn * c;
                for (size_t k = 0; k < n; k++) { /* S <- J' S J */
                    double skp = S[k * n + p], skq = S[k * n + q];
                    S[k * n + p] = c * skp - s * skq;
                    S[k * n + q] = s * skp + c * skq;
                }
                for (size_t k = 0; k < n; k++) {
                    double spk = S[p * n + k], sqk = S[q * n + k];
                    S[p * n + k] = c * spk - s * sqk;
                    S[q * n + k] = s * spk + c * sqk;
                }
                for (size_t k = 0; k < n; k++) {
                    double vkp = V[k * n + p], vkq = V[k * n + q];
                    V[k * n + p] = c * vkp - s * vkq;
                    V[k * n + q] = s * vkp + c * vkq;
                }
            }
    }
}

/* X <- an upper bound of X and Y in the PSD order: (X + Y)/2 + |X - Y|/2, with
 * |D| from D's eigen-decomposition (C - X = (|D| - D)/2 >= 0, C - Y = (|D| + D)/2
 * >= 0). Tight when X and Y are close; S, V, T: n x n scratch. */
static void psd_max(size_t n, double *X, const double *Y, double *S, double *V, double *T)
{
    for (size_t i = 0; i < n * n; i++)
        S[i] = X[i] - Y[i];
    jacobi(n, S, V);
    for (size_t i = 0; i < n; i++) /* T = V |L| */
        for (size_t k = 0; k < n; k++)
            T[i * n + k] = V[i * n + k] * fabs(S[k * n + k]);
    dt_mat_mul_bt(n, n, n, T, V, S); /* |D| = V |L| V' */
    for (size_t i = 0; i < n * n; i++)
        X[i] = 0.5 * (X[i] + Y[i]) + 0.5 * S[i];
    dt_mat_symmetrize(n, X);
}

/* M = F' W F for the bound (W = diag(w), or w w' for the quadratic form). */
static void weight_after(size_t n, const dt_bound *b, const double *F, double *M, double *t)
{
    if (b->quadratic) {
        for (size_t j = 0; j < n; j++) { /* (F' w)_j */
            double v = 0;
            for (size_t i = 0; i < n; i++)
                v += F[i * n + j] * b->w[i];
            t[j] = v;
        }
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++)
                M[i * n + j] = t[i] * t[j];
        return;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double v = 0;
            for (size_t k = 0; k < n; k++)
                v += F[k * n + i] * b->w[k] * F[k * n + j];
            M[i * n + j] = v;
        }
}

static double inner(size_t n, const double *M, const double *P)
{
    double v = 0;
    for (size_t i = 0; i < n * n; i++)
        v += M[i] * P[i];
    return v;
}

/* The crossing of the bound by P left without data, bisected on (lo, hi]
 * (the metric is over the limit at hi) to 1e-7 relative; t: n x n, w:
 * DT_COV_AFTER_WORK(n). */
static int bisect(size_t n, const double *A, const double *Q, const dt_bound *b,
                  const double *P, double lo, double hi, double *t, double *w, double *tau)
{
    while (hi - lo > 1e-7 * hi) {
        double mid = 0.5 * (lo + hi);
        int rc = dt_cov_after(n, A, Q, P, mid, t, w);
        double mv = rc == DT_OK ? dt_bound_metric(n, b, t) : INFINITY;
        if (rc != DT_OK && rc != DT_ERANGE)
            return rc;
        if (!isfinite(mv) || mv > b->limit)
            hi = mid;
        else
            lo = mid;
    }
    *tau = lo;
    return DT_OK;
}

/* The earliest tau in [0, H] at which any kept posterior breaks the bound,
 * on a grid of about `steps` points, refined by bisection; also whether a
 * posterior breaks it before its next update (gap). -1: none in [0, H]. */
static int scan(size_t n, const double *A, const double *Q, const dt_bound *b, size_t np,
                const double *posts, const double *gap_after, double H, uint64_t steps,
                double *tau, int *between, double *w)
{
    size_t nn = n * n;
    double *F = w, *Qd = F + nn, *Fk = Qd + nn, *Qk = Fk + nn, *M = Qk + nn, *t = M + nn,
           *vw = t + nn;
    double h = H / (double)steps;
    int rc = dt_vanloan(n, A, Q, h, F, Qd, vw);
    if (rc != DT_OK)
        return rc;
    dt_mat_identity(n, Fk);
    memset(Qk, 0, nn * sizeof *Qk);
    *tau = -1;
    *between = 0;
    for (uint64_t k = 1; k <= steps; k++) {
        dt_mat_mul(n, n, n, F, Fk, t); /* F_k = F F_{k-1}, Q_k = F Q_{k-1} F' + Qd */
        memcpy(Fk, t, nn * sizeof *t);
        predict(n, F, Qd, Qk, t);
        weight_after(n, b, Fk, M, t);
        double q = dt_bound_metric(n, b, Qk);
        /* every posterior over the bound at k h is refined on ((k-1) h, k h]:
         * the earliest crossing counts */
        for (size_t i = 0; i < np; i++) {
            double v = inner(n, M, posts + i * nn) + q;
            if (isfinite(v) && v <= b->limit)
                continue;
            double lo;
            rc = bisect(n, A, Q, b, posts + i * nn, (double)(k - 1) * h, (double)k * h, t, vw,
                        &lo);
            if (rc != DT_OK)
                return rc;
            if (*tau < 0 || lo < *tau)
                *tau = lo;
            if (lo < gap_after[i])
                *between = 1;
        }
        if (*tau >= 0)
            return DT_OK;
    }
    return DT_OK;
}

int dt_periodic_budget(size_t n, const double *A, const double *Q, const double *P0,
                       const dt_periodic_meas *rows, size_t m, const dt_bound *b,
                       dt_periodic_result *res, double *work)
{
    if (n < 1 || n > DT_LA_MAX || !A || !Q || !P0 || !b || !b->w || !res || !work ||
        (m > 0 && !rows) || m > DT_PERIODIC_MAX_ROWS || !(b->limit > 0) || !isfinite(b->limit))
        return DT_EINVAL;
    memset(res, 0, sizeof *res);
    if (m == 0)
        return DT_EEMPTY;
    grid gr;
    int rc = make_grid(n, rows, m, &gr);
    if (rc != DT_OK)
        return rc;
    /* work: Ad Qd P t a S V T (8 n^2), the kept posteriors (POSTS n^2), then
     * the scan's own (6 n^2 + DT_COV_AFTER_WORK) */
    size_t nn = n * n;
    double *Ad = work, *Qd = Ad + nn, *P = Qd + nn, *t = P + nn, *a = t + nn, *S = a + nn,
           *V = S + nn, *T = V + nn, *posts = T + nn, *vw = posts + POSTS * nn;
    double gap_after[POSTS];
    rc = dt_vanloan(n, A, Q, (double)gr.g * 1e-9, Ad, Qd, vw);
    if (rc != DT_OK)
        return rc;
    memcpy(P, P0, nn * sizeof *P);
    double reach;
    rc = settle(n, &gr, rows, m, b, Ad, Qd, P, t, a, NULL, &reach);
    if (rc != DT_OK)
        return rc;
    /* One more cycle: every posterior (kept, or merged into the nearest kept
     * one by a PSD upper bound), the time to its next update, the largest
     * metric at any grid point (between updates too). */
    double g = (double)gr.g * 1e-9, peak = 0, post_max = 0;
    size_t np = 0, last = 0;
    uint64_t since = 0, first_gap = 0;
    int have_last = 0;
    for (uint64_t s = 1; s <= gr.win; s++) {
        int up = step(n, &gr, rows, m, s, Ad, Qd, P, t, a);
        since++;
        double v = dt_bound_metric(n, b, P);
        peak = v > peak ? v : peak;
        if (!up)
            continue;
        post_max = v > post_max ? v : post_max;
        if (have_last)
            gap_after[last] = fmax(gap_after[last], (double)since * g);
        else
            first_gap = since;
        since = 0;
        if (np < POSTS) {
            memcpy(posts + np * nn, P, nn * sizeof *P);
            gap_after[np] = 0;
            last = np++;
        } else { /* merge into the nearest kept posterior */
            size_t best = 0;
            double bd = INFINITY;
            for (size_t i = 0; i < POSTS; i++) {
                double d = 0;
                for (size_t k = 0; k < nn; k++)
                    d += (posts[i * nn + k] - P[k]) * (posts[i * nn + k] - P[k]);
                if (d < bd) {
                    bd = d;
                    best = i;
                }
            }
            psd_max(n, posts + best * nn, P, S, V, T);
            res->merged++;
            last = best;
        }
        have_last = 1;
    }
    /* the last posterior of the cycle waits for the first one of the next */
    if (have_last)
        gap_after[last] = fmax(gap_after[last], (double)(since + first_gap) * g);
    res->reach = post_max;
    res->peak = peak;
    res->posts = np;
    for (size_t i = 0; i < np; i++)
        res->gap = fmax(res->gap, gap_after[i]);
    if (peak > b->limit) {
        res->tau = 0;
        return DT_OK; /* broken while the data comes on time: the caller refuses */
    }
    /* An upper end for the search: doubling tau (1 ns .. 1e9 s, exact
     * doubling of F and Qd) over every posterior. */
    double *F = S, *Qt = V, *M = T;
    rc = dt_vanloan(n, A, Q, 1e-9, F, Qt, vw);
    if (rc != DT_OK)
        return rc;
    double hi = -1, anorm = dt_mat_norm1(n, n, A);
    size_t i_hi = 0;
    double tau = 1e-9;
    for (int k = 0; k < 61; k++, tau *= 2) { /* 1 ns .. 1.15e9 s */
        weight_after(n, b, F, M, t);
        double q = dt_bound_metric(n, b, Qt);
        for (size_t i = 0; i < np && hi < 0; i++) {
            double v = inner(n, M, posts + i * nn) + q;
            if (!isfinite(v) || v > b->limit) {
                hi = tau;
                i_hi = i;
            }
        }
        if (hi > 0)
            break;
        /* Qd(2 tau) = F Qd F' + Qd, then F(2 tau) = F^2 (M: scratch here) */
        dt_mat_mul(n, n, n, F, Qt, t);
        dt_mat_mul_bt(n, n, n, t, F, M);
        dt_mat_add(n, n, M, Qt, Qt);
        dt_mat_symmetrize(n, Qt);
        dt_mat_mul(n, n, n, F, F, t);
        memcpy(F, t, nn * sizeof *t);
        if (!isfinite(dt_mat_norm1(n, n, Qt))) {
            hi = 2 * tau;
            break;
        }
    }
    /* A fine scan of [0, hi] (or of 1000 time constants when doubling found no
     * crossing: a lightly damped oscillation may cross between doubling
     * points), at 1/20 of the fastest time constant 1/|A|, within about 3e8
     * flops. With A = 0 the metric grows monotonically: doubling is exact. */
    double H = hi > 0 ? hi : (anorm > 0 ? fmin(1e9, 1000.0 / anorm) : 0);
    if (H > 0) {
        double per = 4.0 * (double)(n * nn) + (double)(np * nn);
        double cap = fmax(1000.0, 3e8 / per);
        double want = anorm > 0 ? ceil(H * anorm * 20.0) : 64.0;
        uint64_t steps = (uint64_t)fmin(fmax(want, 64.0), cap);
        double first;
        int between;
        rc = scan(n, A, Q, b, np, posts, gap_after, H, steps, &first, &between, vw);
        if (rc != DT_OK)
            return rc;
        if (first >= 0) {
            res->tau = first;
            res->between = between;
            return DT_OK;
        }
    }
    if (hi < 0) {
        res->tau = INFINITY;
        return DT_OK;
    }
    /* doubling saw posterior i_hi cross at hi, the scan only reached just
     * below it (rounding): bisect the last stretch */
    double lo;
    rc = bisect(n, A, Q, b, posts + i_hi * nn, H > 0 ? H * (1 - 1.0 / 64) : 0.5 * hi, hi, t, vw,
                &lo);
    if (rc != DT_OK)
        return rc;
    res->tau = lo;
    res->between = lo < gap_after[i_hi];
    return DT_OK;
}
