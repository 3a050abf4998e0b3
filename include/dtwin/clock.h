/** @file
 * dtwin: per-source clock model (source time -> common time). */
#ifndef DTWIN_CLOCK_H
#define DTWIN_CLOCK_H

#include <stdint.h>

#include "dtwin/export.h"
#include "dtwin/time.h"

#ifdef __cplusplus
extern "C" {
#endif

/** How a source's clock is mapped to the common time base. */
typedef enum dt_clock_mode {
    DT_CLOCK_FIXED = 0,   /**< configured offset and skew */
    DT_CLOCK_ESTIMATE = 1 /**< estimated online from (t_source, t_arrival) */
} dt_clock_mode;

/** Most lower-envelope windows a clock keeps. */
#define DT_CLOCK_MAX_WINDOWS 64

/** A source's clock configuration (the description's "clock" object). */
typedef struct dt_clock_config {
    dt_clock_mode mode; /**< fixed or estimated */
    /** FIXED: common = t_source + offset + skew * (t_source - 0).
     *  ESTIMATE: the initial guess, used until the first window closes. */
    double offset_s;
    double skew;        /**< fraction (100 ppm = 1e-4) */
    double window_s;    /**< ESTIMATE: window length in source time; 0: 1 s */
    uint32_t windows;   /**< ESTIMATE: windows in the fit, 2..64; 0: 16 */
    double jump_s;      /**< ESTIMATE: a delay this far below the fitted line
                             restarts the estimate (clock step); 0: 1 s */
} dt_clock_config;

/** The state of one source's clock model. Fixed size, no allocation; the
 *  fields are private (read them through the functions below). */
typedef struct dt_clock {
    /** @cond INTERNAL */
    /* private: read through the functions below */
    dt_clock_mode mode;
    double offset_ns;   /* at t_source == ref */
    double skew;
    dt_time ref;
    /* estimation */
    dt_time window_ns, jump_ns;
    uint32_t max_windows, n_windows, next;
    int have_ref, have_fit;
    dt_time win_start;
    dt_time win_min_d, win_min_ts;
    dt_time pt_ts[DT_CLOCK_MAX_WINDOWS];
    dt_time pt_d[DT_CLOCK_MAX_WINDOWS];
    uint64_t observations, resets;
    dt_time cand_d;      /* a step being confirmed: its first delay, ... */
    dt_time cand_ts, cand_ta, cand_ta0; /* ... the last source and arrival times, the first arrival */
    uint32_t cand_n;     /* ... how many consecutive observations agree */
    int cand_dir;        /* ... and its side: 1 forward (delay below), -1 back */
    uint64_t outliers;   /* delays off the line not confirmed as a step (ignored) */
    uint64_t skew_limited; /* fits whose slope was held at DT_CLOCK_MAX_SKEW */
    /** @endcond */
} dt_clock;

/** Consecutive observations a clock step (either way) needs, on top of
 *  spanning one window of arrival time, before the model adopts it; a lone
 *  impossible timestamp (a sample from the future, or one older than the
 *  window) is an outlier and does not move the model. */
#define DT_CLOCK_STEP_CONFIRM 3
/** The largest |skew| (fraction) configured or fitted: 1 %. */
#define DT_CLOCK_MAX_SKEW 0.01

/** Initializes a clock model.
 *  @retval DT_EINVAL bad mode, non-finite numbers, |skew| >= 0.01, window
 *          outside 1 ms..1 h, windows outside 2..64. */
DT_API int dt_clock_init(dt_clock *clk, const dt_clock_config *cfg);

/** Feeds one (t_source on the source clock, t_arrival on the common clock)
 *  pair. No-op for FIXED clocks. O(1) except when a window closes (O(windows)).
 *
 *  Method: the delay d = t_arrival - t_source is the clock offset plus a
 *  non-negative network delay. Within each window the smallest d is the one
 *  least disturbed by delay; the line under the last N window minima that
 *  touches their lower convex hull at their mean time gives offset and skew
 *  (no minimum lies below it); a delay under the line by less than jump_s
 *  lowers it at once, so a step down in the minimum delay is taken at once.
 *  A lasting step up (a slower path) is not: while the minima before and
 *  after it share the fit, the hull's rising edge reads as a skew (up to
 *  DT_CLOCK_MAX_SKEW) and the offset creeps up, until the windows before the
 *  step have left the fit (windows x window_s after it). Assumes the one-way delay's minimum is about
 *  constant (it is absorbed into the offset) and that each window holds
 *  some samples with near-minimum delay. A delay more than jump_s below the
 *  line (the source clock stepped forward) or above it (stepped back) is a
 *  step candidate: the fit restarts only when DT_CLOCK_STEP_CONFIRM
 *  consecutive candidates on the same side agree (within jump_s) on the new
 *  delay, with source times advancing, and span at least one window of
 *  arrival time; until then each is an outlier (counted, ignored). So one
 *  wild timestamp never moves the model, a backlog of old readings arriving
 *  in a burst stays late data, and replayed old frames look old for at
 *  least a window. Observations older than the current window do not touch
 *  it. A fitted |skew| above DT_CLOCK_MAX_SKEW is held at the bound (a
 *  crystal is never that far off; such a slope comes from data that is not
 *  a clock). Times outside +-DT_TIME_LIMIT are ignored (outliers). */
DT_API void dt_clock_observe(dt_clock *clk, dt_time t_source, dt_time t_arrival);

/** Maps a source time to the common time base (saturating; see the body). */
static inline dt_time dt_clock_map(const dt_clock *clk, dt_time t_source)
{
    /* No overflow for any input: a time outside +-DT_TIME_LIMIT maps to
     * DT_TIME_MIN / DT_TIME_MAX, the correction is computed in doubles and
     * bounded, and a result outside the limit saturates at it (ingest refuses
     * both as a bad time). */
    if (!dt_time_valid(t_source))
        return t_source < 0 ? DT_TIME_MIN : DT_TIME_MAX;
    double corr = clk->offset_ns + clk->skew * ((double)t_source - (double)clk->ref);
    double lim = (double)DT_TIME_LIMIT;
    corr = corr > -lim ? (corr < lim ? corr : lim) : -lim; /* NaN -> -lim */
    dt_time r = t_source + (dt_time)corr;                  /* |r| < 2^63 */
    return r < -DT_TIME_LIMIT ? -DT_TIME_LIMIT : r > DT_TIME_LIMIT ? DT_TIME_LIMIT : r;
}

/** Current offset (seconds) at source time t_source, and skew (fraction). */
DT_API double dt_clock_offset_s(const dt_clock *clk, dt_time t_source);
/** The estimated (or configured) skew as a fraction (100 ppm = 1e-4). */
DT_API double dt_clock_skew(const dt_clock *clk);
/** Non-zero once an estimate rests on at least two windows (always for FIXED).
 *  Returns 1 for a fixed clock or an estimate with a fit, else 0. */
DT_API int dt_clock_locked(const dt_clock *clk);
/** How many times the estimate restarted after a clock step. */
DT_API uint64_t dt_clock_resets(const dt_clock *clk);

#ifdef __cplusplus
}
#endif
#endif
