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

/* Least-squares line d = a + b (ts - ref) through the stored window minima. */
static void fit(dt_clock *c)
{
    uint32_t n = c->n_windows;
    if (n == 0)
        return;
    if (n == 1) {
        c->offset_ns = (double)c->pt_d[0] + c->skew * 0.0;
        c->ref = c->pt_ts[0];
        return;
    }
    /* Centre on the mean time for conditioning. */
    double mt = 0, md = 0;
    dt_time base_ts = c->pt_ts[0], base_d = c->pt_d[0];
    for (uint32_t i = 0; i < n; i++) {
        mt += (double)(c->pt_ts[i] - base_ts);
        md += (double)(c->pt_d[i] - base_d);
    }
    mt /= n;
    md /= n;
    double sxx = 0, sxy = 0;
    for (uint32_t i = 0; i < n; i++) {
        double x = (double)(c->pt_ts[i] - base_ts) - mt;
        double y = (double)(c->pt_d[i] - base_d) - md;
        sxx += x * x;
        sxy += x * y;
    }
    double b = sxx > 0 ? sxy / sxx : 0.0;
    /* the skew a crystal can have; a steeper line comes from data that is not
     * a clock (a backlog squeezed into the windows): hold it at the bound */
    if (!(fabs(b) < DT_CLOCK_MAX_SKEW)) {
        b = b > 0 ? DT_CLOCK_MAX_SKEW : -DT_CLOCK_MAX_SKEW;
        c->skew_limited++;
    }
    c->skew = b;
    c->ref = base_ts + (dt_time)mt;
    c->offset_ns = (double)base_d + md;
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
