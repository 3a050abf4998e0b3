#include <math.h>
#include <string.h>

#include "dtwin/clock.h"
#include "dtwin/error.h"

int dt_clock_init(dt_clock *clk, const dt_clock_config *cfg)
{
    if (clk == NULL || cfg == NULL)
        return DT_EINVAL;
    if (cfg->mode != DT_CLOCK_FIXED && cfg->mode != DT_CLOCK_ESTIMATE)
        return DT_EINVAL;
    if (!isfinite(cfg->offset_s) || fabs(cfg->offset_s) > 1e9 ||
        !isfinite(cfg->skew) || fabs(cfg->skew) >= DT_CLOCK_MAX_SKEW)
        return DT_EINVAL;
    double win = cfg->window_s == 0.0 ? 1.0 : cfg->window_s;
    uint32_t nw = cfg->windows == 0 ? 16 : cfg->windows;
    double jump = cfg->jump_s == 0.0 ? 1.0 : cfg->jump_s;
    if (!(win >= 1e-3 && win <= 3600.0) || nw < 2 || nw > DT_CLOCK_MAX_WINDOWS ||
        !(jump > 0.0 && jump <= 1e6))
        return DT_EINVAL;
    memset(clk, 0, sizeof *clk);
    clk->mode = cfg->mode;
    clk->offset_ns = cfg->offset_s * 1e9;
    clk->skew = cfg->skew;
    clk->ref = 0;
    clk->window_ns = dt_time_from_sec(win);
    clk->jump_ns = dt_time_from_sec(jump);
    clk->max_windows = nw;
    return DT_OK;
}

/* The line d = a + b (ts - ref) under every stored window minimum that
 * touches the lower convex hull at the minima's mean time: it minimises the
 * summed distance to the minima with none below it (the linear program of
 * one-way-delay skew estimation). Delays are offset plus non-negative network
 * delay plus, for hosts that stamp arrivals on their cycle, up to a period of
 * quantization; a least-squares line read a step in that (a sender restarting
 * with another phase) as a skew and, extrapolated, mapped samples tens of ms
 * past their arrival. A line under the minima cannot rise above them faster
 * than the skew bound allows. */
static void fit(dt_clock *c)
{
    uint32_t n = c->n_windows;
    if (n < 2 || n > DT_CLOCK_MAX_WINDOWS)
        return; /* a line needs two points (the caller waits for them) */
    uint32_t first = n < c->max_windows ? 0 : c->next; /* oldest point */
    dt_time base_ts = c->pt_ts[first], base_d = c->pt_d[first];
    double x[DT_CLOCK_MAX_WINDOWS] = {0}, y[DT_CLOCK_MAX_WINDOWS] = {0};
    uint32_t h[DT_CLOCK_MAX_WINDOWS] = {0}, nh = 0;
    double mx = 0;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = (first + k) % c->max_windows;
        x[k] = (double)(c->pt_ts[i] - base_ts); /* times increase with k */
        y[k] = (double)(c->pt_d[i] - base_d);
        mx += x[k];
        /* monotone chain, lower hull; of points at one time the lower stays */
        if (nh > 0 && x[h[nh - 1]] == x[k]) {
            if (y[k] >= y[h[nh - 1]])
                continue;
            nh--;
        }
        while (nh >= 2) {
            uint32_t p = h[nh - 2], q = h[nh - 1];
            if ((x[q] - x[p]) * (y[k] - y[p]) - (y[q] - y[p]) * (x[k] - x[p]) > 0)
                break;
            nh--;
        }
        h[nh++] = k;
    }
    mx /= n;
    double b = 0.0;
    for (uint32_t j = 0; j + 1 < nh; j++) {
        if (x[h[j + 1]] >= mx) {
            b = (y[h[j + 1]] - y[h[j]]) / (x[h[j + 1]] - x[h[j]]);
            break;
        }
    }
    /* the skew a crystal can have; a steeper line comes from data that is not
     * a clock (a backlog squeezed into the windows): hold it at the bound */
    if (!(fabs(b) < DT_CLOCK_MAX_SKEW)) {
        b = b > 0 ? DT_CLOCK_MAX_SKEW : -DT_CLOCK_MAX_SKEW;
        c->skew_limited++;
    }
    double a = y[0] - b * x[0];
    for (uint32_t k = 1; k < n; k++)
        a = y[k] - b * x[k] < a ? y[k] - b * x[k] : a;
    c->skew = b;
    c->ref = base_ts + (dt_time)mx;
    c->offset_ns = (double)base_d + a + b * (double)(dt_time)mx;
    c->have_fit = 1;
}

static void restart(dt_clock *c, dt_time ts, dt_time d)
{
    c->n_windows = 0;
    c->next = 0;
    c->have_fit = 0;
    c->win_start = ts;
    c->win_min_d = d;
    c->win_min_ts = ts;
    c->offset_ns = (double)d;
    c->skew = 0.0;
    c->ref = ts;
}

/* A delay far off the line (|d - pred| > jump) is a step only when it
 * persists: DT_CLOCK_STEP_CONFIRM observations on the same side, their delays
 * within jump of the first one's, spanning at least one window of arrival
 * time. The same rule both ways: a backlog of old readings (store and
 * forward) arrives faster than its own clock ran, so its delays fall apart
 * or it spans no arrival time, and it stays late data; old frames replayed
 * at their own rate are confirmed only after a whole window, during which
 * they map to their old times and the belief ages as with no data. */
static int step_confirmed(dt_clock *c, dt_time ts, dt_time ta, dt_time d, int dir)
{
    int agrees = c->cand_n > 0 && c->cand_dir == dir && d - c->cand_d < c->jump_ns &&
                 c->cand_d - d < c->jump_ns && ts > c->cand_ts && ta >= c->cand_ta;
    if (!agrees) {
        c->cand_n = 0;
        c->cand_dir = dir;
        c->cand_d = d;
        c->cand_ta0 = ta;
    }
    c->cand_n++;
    c->cand_ts = ts;
    c->cand_ta = ta;
    return c->cand_n >= DT_CLOCK_STEP_CONFIRM && ta - c->cand_ta0 >= c->window_ns;
}

void dt_clock_observe(dt_clock *c, dt_time ts, dt_time ta)
{
    if (c->mode != DT_CLOCK_ESTIMATE)
        return;
    if (!dt_time_valid(ts) || !dt_time_valid(ta)) {
        c->outliers++; /* no arithmetic on times outside the limit */
        return;
    }
    dt_time d = ta - ts; /* |d| < 2^63: both times are within DT_TIME_LIMIT */
    if (!dt_time_valid(d)) {
        /* a delay beyond 146 years is no clock; and differences of delays,
         * which the step rule and the fit take, must fit in dt_time (found by
         * a red-team pass: (-L, L) then (L, -L) overflowed d - cand_d) */
        c->outliers++;
        return;
    }
    c->observations++;
    if (!c->have_ref) {
        c->have_ref = 1;
        restart(c, ts, d);
        return;
    }
    double pred = c->offset_ns + c->skew * ((double)ts - (double)c->ref);
    int dir = (double)d < pred - (double)c->jump_ns ? 1 : (double)d > pred + (double)c->jump_ns ? -1 : 0;
    if (dir != 0) {
        /* impossible for a steady clock (forward) or far later than the
         * network ever was (backward): a step if it persists, else an
         * outlier (found by the fault catalogue: one sample from the future,
         * and one sample older than the window, used to reset the model) */
        if (!step_confirmed(c, ts, ta, d, dir)) {
            c->outliers++;
            return;
        }
        c->outliers -= c->cand_n - 1; /* they were the step after all */
        c->cand_n = 0;
        c->resets++;
        restart(c, ts, d);
        return;
    }
    c->cand_n = 0;
    if (ts < c->win_start)
        return; /* reordered: older than the window being filled */
    if (d < c->win_min_d) {
        c->win_min_d = d;
        c->win_min_ts = ts;
        if (!c->have_fit) {
            /* Until two windows exist, the running minimum is the offset. */
            c->offset_ns = (double)d;
            c->ref = ts;
        }
    }
    if (c->have_fit && (double)d < pred) {
        /* A delay under the line (by less than a step) shows the line too
         * high: lowered to it at once, not only when the window closes, so
         * a path that got faster, after the line rose with a slower one, maps
         * no sample past its arrival. The window's minimum keeps it in the
         * next fit. */
        c->offset_ns += (double)d - pred;
    }
    if (ts - c->win_start >= c->window_ns) {
        c->pt_ts[c->next] = c->win_min_ts;
        c->pt_d[c->next] = c->win_min_d;
        c->next = (c->next + 1) % c->max_windows;
        if (c->n_windows < c->max_windows)
            c->n_windows++;
        if (c->n_windows >= 2)
            fit(c);
        c->win_start = ts;
        c->win_min_d = d;
        c->win_min_ts = ts;
    }
}

double dt_clock_offset_s(const dt_clock *c, dt_time ts)
{
    return (c->offset_ns + c->skew * (double)(ts - c->ref)) * 1e-9;
}

double dt_clock_skew(const dt_clock *c) { return c->skew; }

int dt_clock_locked(const dt_clock *c)
{
    return c->mode == DT_CLOCK_FIXED || c->have_fit;
}

uint64_t dt_clock_resets(const dt_clock *c) { return c->resets; }
