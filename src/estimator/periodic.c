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
#include "latency_internal.h"

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
    /* dt_vanloan stays exact for a stiff model on a long grid step (its
     * doublings: a = -1000/s next to a sensor every 1 s once failed) */
    rc = dt_vanloan(n, A, Q, (double)gr.g * 1e-9, Ad, Qd, vw);
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
    if (!dt__psd(n, Q, work))
        return DT_EINVAL; /* the search's certificates need a PSD Q */
    grid gr;
    int rc = make_grid(n, rows, m, &gr);
    if (rc != DT_OK)
        return rc;
    /* work: Ad Qd P t a (5 n^2), the kept posteriors (POSTS n^2), then the
     * search's own (DT__CROSSING_WORK) */
    size_t nn = n * n;
    double *Ad = work, *Qd = Ad + nn, *P = Qd + nn, *t = P + nn, *a = t + nn,
           *posts = a + nn, *vw = posts + POSTS * nn;

    double gap_after[POSTS];
    rc = dt_vanloan(n, A, Q, (double)gr.g * 1e-9, Ad, Qd, vw);
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
    /* the earliest time any of them breaks the bound (latency.c) */
    return dt__first_crossing(n, A, Q, b, np, posts, gap_after, &res->tau, &res->between,
                              &res->limited, vw);
}
