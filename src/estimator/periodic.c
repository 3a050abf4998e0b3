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

/* (Ad, Qd) for dt: Van Loan on dt / 2^k with |A|_1 dt / 2^k <= 1, then k exact
 * doublings (Qd <- Ad Qd Ad' + Qd, Ad <- Ad^2). The block exponential of a
 * stiff model over a long step overflows (e^{+|a| dt} in its -A block) while
 * Ad and Qd themselves are fine (found by a red-team pass: a = -1000/s next to
 * a sensor every 1 s was refused as "grows without limit"). t: n x n, vw:
 * DT_VANLOAN_WORK(n) (>= n x n). */
static int discretize(size_t n, const double *A, const double *Q, double dt, double *Ad,
                      double *Qd, double *t, double *vw)
{
    double an = dt_mat_norm1(n, n, A) * dt;
    int k = 0;
    while (an > 1 && k < 64) {
        an *= 0.5;
        k++;
    }
    int rc = dt_vanloan(n, A, Q, ldexp(dt, -k), Ad, Qd, vw);
    for (int i = 0; rc == DT_OK && i < k; i++) {
        dt_mat_mul(n, n, n, Ad, Qd, t);
        dt_mat_mul_bt(n, n, n, t, Ad, vw);
        dt_mat_add(n, n, vw, Qd, Qd);
        dt_mat_symmetrize(n, Qd);
        dt_mat_mul(n, n, n, Ad, Ad, t);
        memcpy(Ad, t, n * n * sizeof *t);
        if (!isfinite(dt_mat_norm1(n, n, Qd)) || !isfinite(dt_mat_norm1(n, n, Ad)))
            rc = DT_ERANGE;
    }
    return rc;
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
    /* ... and coarsened further while eight cycles of the pattern would cost
     * more than about 3e8 flops (n = 32 with a 1 ms sensor and a 65 s cycle
     * took half a minute: found by a red-team pass) */
    double per_step = 2.0 * (double)(n * n * n) + 3.0 * (double)(m * n * n);
    for (;;) {
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
        if (8.0 * (double)gr->win * per_step <= 3e8 || kmax <= 16)
            break;
        g *= 2;
    }
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
    /* Settled: the cycle's worst changes by less than 1e-9 from the last cycle
     * and by less than 1e-8 from HIST cycles ago (a slow linear growth, an
     * unobservable random walk, moves little per cycle but steadily: found by
     * a red-team pass). At the work limit: still rising by more than 1e-4
     * over the run's second half, and not slowing down (the second half's
     * rise at least 1.5 times the second quarter's: growth at least linear),
     * means no steady state; otherwise the last cycle (from above an
     * upper bound; from below, slightly short of the limit). */
    enum { HIST = 64 };
    double hist[HIST], prev = -1, cur = -1, mid = -1, q1 = -1;
    uint64_t cycles = 0, n_cycles = max_steps / gr->win;
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
        if (s % gr->win != 0)
            continue;
        double old = cycles >= HIST ? hist[cycles % HIST] : -1;
        int flat = old >= 0 ? fabs(cur - old) <= 1e-8 * cur : cycles + 1 >= n_cycles / 2;
        if (cur >= 0 && prev >= 0 && fabs(cur - prev) <= 1e-9 * cur && flat)
            break;
        if (cycles == n_cycles / 4)
            q1 = cur;
        if (cycles == n_cycles / 2)
            mid = cur;
        if (s + gr->win > max_steps) {
            if (mid >= 0 && q1 >= 0 && cur > mid * (1 + 1e-4) && cur - mid >= 1.5 * (mid - q1))
                return DT_ERANGE;
            break;
        }
        hist[cycles % HIST] = cur;
        cycles++;
        prev = cur;
        cur = -1;
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
    rc = discretize(n, A, Q, (double)gr.g * 1e-9, Ad, Qd, t, vw);
    if (rc != DT_OK)
        return rc;
    memcpy(P, P0, nn * sizeof *P);
    return settle(n, &gr, rows, m, b, Ad, Qd, P, t, a, worst, metric);
}

/* ---- the budget over every posterior ---- */

/* X <- an upper bound of X and Y in the PSD order in O(n^2): X + g I with g
 * the Gershgorin bound of the largest eigenvalue of Y - X (when positive):
 * X + g I - Y = g I - (Y - X) >= 0. Tight when X and Y are close. */
static void psd_max(size_t n, double *X, const double *Y)
{
    double g = 0;
    for (size_t i = 0; i < n; i++) {
        double r = Y[i * n + i] - X[i * n + i];
        for (size_t j = 0; j < n; j++)
            if (j != i)
                r += fabs(Y[i * n + j] - X[i * n + j]);
        g = r > g ? r : g;
    }
    for (size_t i = 0; i < n; i++)
        X[i * n + i] += g;
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
 * on a grid of `steps` points, refined by bisection; also whether one breaks
 * it before its next update. -1: none in [0, H]. The metric needs only the
 * rows of F_k = e^{A k h} that the bound weights: G = W^(1/2)-rows of F_k
 * (r of them), G_k = G_{k-1} F, metric(F_k P F_k') = sum_r w_r g_r' P g_r,
 * and metric(Qd(k h)) accumulates w_r g_r' Qd(h) g_r: r n^2 per posterior and
 * point. w: (2 n + 2) n + DT_COV_AFTER_WORK(n) doubles. */
static int scan(size_t n, const double *A, const double *Q, const dt_bound *b, size_t np,
                const double *posts, const double *gap_after, double H, uint64_t steps,
                double *tau, int *between, double *w)
{
    size_t nn = n * n, r = 0;
    double *F = w, *Qd = F + nn, *G = Qd + nn, *Gn = G + nn, *wt = Gn + nn, *t = wt + n,
           *vw = t + nn;
    /* the weighted rows: each state with a weight, or the quadratic form's c */
    if (b->quadratic) {
        memcpy(G, b->w, n * sizeof *G);
        wt[r++] = 1;
    } else {
        for (size_t i = 0; i < n; i++)
            if (b->w[i] != 0) {
                memset(G + r * n, 0, n * sizeof *G);
                G[r * n + i] = 1;
                wt[r++] = b->w[i];
            }
    }
    double h = H / (double)steps;
    int rc = discretize(n, A, Q, h, F, Qd, t, vw);
    if (rc != DT_OK)
        return rc;
    double q = 0;
    *tau = -1;
    *between = 0;
    for (uint64_t k = 1; k <= steps; k++) {
        for (size_t j = 0; j < r; j++) { /* q += metric(F_{k-1} Qd F_{k-1}') */
            dt_mat_mul(n, n, 1, Qd, G + j * n, t);
            double v = 0;
            for (size_t c = 0; c < n; c++)
                v += G[j * n + c] * t[c];
            q += wt[j] * v;
        }
        dt_mat_mul(r, n, n, G, F, Gn); /* G_k = G_{k-1} F */
        memcpy(G, Gn, r * n * sizeof *G);
        for (size_t i = 0; i < np; i++) {
            const double *P = posts + i * nn;
            double v = q;
            for (size_t j = 0; j < r; j++) {
                dt_mat_mul(n, n, 1, P, G + j * n, t);
                double x = 0;
                for (size_t c = 0; c < n; c++)
                    x += G[j * n + c] * t[c];
                v += wt[j] * x;
            }
            if (isfinite(v) && v <= b->limit)
                continue;
            /* over the bound at k h: refined on ((k-1) h, k h]; every such
             * posterior, the earliest crossing counts */
            double lo;
            rc = bisect(n, A, Q, b, P, (double)(k - 1) * h, (double)k * h, t, vw, &lo);
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
    rc = discretize(n, A, Q, (double)gr.g * 1e-9, Ad, Qd, t, vw);
    if (rc != DT_OK)
        return rc;
    memcpy(P, P0, nn * sizeof *P);
    double reach;
    rc = settle(n, &gr, rows, m, b, Ad, Qd, P, t, a, NULL, &reach);
    if (rc != DT_OK)
        return rc;
    /* One more cycle: every posterior with the time to its next update, the
     * largest metric at any grid point (between updates too). With more than
     * POSTS posteriors in the cycle, consecutive ones share a slot (a block of
     * the cycle: neighbours in time are close) holding a PSD upper bound of
     * them, so the result stays on the safe side at O(n^2) per posterior
     * (found by a red-team pass: merging by eigen-decomposition took minutes). */
    uint64_t U = 0;
    for (uint64_t s = 1; s <= gr.win; s++)
        for (size_t j = 0; j < m; j++)
            if (s % gr.every[j] == 0) {
                U++;
                break;
            }
    double g = (double)gr.g * 1e-9, peak = 0, post_max = 0;
    size_t np = 0, last = 0;
    uint64_t since = 0, first_gap = 0, u = 0;
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
        size_t slot = U <= POSTS ? (size_t)u : (size_t)(u * POSTS / U);
        u++;
        if (slot == np) {
            memcpy(posts + np * nn, P, nn * sizeof *P);
            gap_after[np++] = 0;
        } else {
            psd_max(n, posts + slot * nn, P);
            res->merged++;
        }
        last = slot;
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
        double r = 1; /* the rows the bound weights (scan) */
        for (size_t i = 0; !b->quadratic && i < n; i++)
            r += b->w[i] != 0;
        r = b->quadratic ? 1 : r - 1;
        double per = (double)(np + 2) * r * (double)nn + r * (double)(n * nn);
        double cap = fmax(256.0, 3e8 / per);
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
