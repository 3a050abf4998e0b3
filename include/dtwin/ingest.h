/** @file
 * dtwin: the Sense and Synchronize half of the loop. */
#ifndef DTWIN_INGEST_H
#define DTWIN_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "dtwin/alloc.h"
#include "dtwin/clock.h"
#include "dtwin/export.h"
#include "dtwin/log.h"
#include "dtwin/model.h"
#include "dtwin/ring.h"
#include "dtwin/sample.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Sources' rings, boundary validation, clock mapping and the watermark merge
 *  for one twin. Created and configured at start-up (all allocation happens
 *  then); dt_ingest_poll / dt_ingest_release never allocate.
 *
 *  Thread rule: each source's ring (dt_ingest_ring) may be pushed by one
 *  producer thread; every dt_ingest_* call runs on the twin's thread. */
typedef struct dt_ingest dt_ingest;
/** A source's index in its ingest (0-based, in the order added). */
typedef uint32_t dt_source_id;

/** What ingest does with a value outside its signal's hard limits. */
typedef enum dt_limit_policy {
    DT_LIMITS_REJECT = 0, /**< a value outside hard limits is rejected */
    DT_LIMITS_FLAG = 1    /**< kept, with DT_SAMPLE_OUT_OF_LIMITS */
} dt_limit_policy;

/** Ingest options; start from DT_INGEST_CONFIG_INIT (0 fields: defaults). */
typedef struct dt_ingest_config {
    size_t size;                   /**< sizeof(dt_ingest_config) */
    const dt_allocator *allocator; /**< NULL: default */
    const dt_logger *logger;       /**< NULL: stderr */
    dt_limit_policy limits;        /**< reject (default) or flag */
    double future_tolerance_s;     /**< mapped t_source beyond now + this is rejected; 0: 0.05 s */
    double horizon_s;              /**< late samples older than this behind the released
                                        stream are dropped; 0: 1 s */
    double stale_factor;           /**< a signal is stale after this many nominal periods; 0: 3 */
    uint32_t max_sources;          /**< 0: 64; at most 4096 */
} dt_ingest_config;
/** Defaults for dt_ingest_config. */
#define DT_INGEST_CONFIG_INIT {sizeof(dt_ingest_config), NULL, NULL, DT_LIMITS_REJECT, 0, 0, 0, 0}

/** One source's configuration; start from DT_SOURCE_CONFIG_INIT. */
typedef struct dt_source_config {
    size_t size;             /**< sizeof(dt_source_config) */
    const char *name;        /**< for messages and stats; copied; required */
    size_t ring_capacity;    /**< power of two; 0: 1024 */
    dt_overflow overflow;    /**< when the ring is full */
    dt_clock_config clock;   /**< the source clock's mapping */
    double lateness_s;       /**< how far behind its newest sample this source may
                                  still deliver in order (>= 0) */
    double timeout_s;        /**< silent this long -> stale, stops holding the
                                  watermark; 0: 1 s */
    size_t reorder_capacity; /**< samples held for ordering; power of two; 0: 4096 */
    double max_hold_s;      /**< the source's samples arrive within this many seconds
                                  of their (mapped) time, so a silent source holds the
                                  watermark at most to now - max_hold (for slow
                                  sources among fast ones; later samples take the late
                                  path); 0: not declared, the source holds the watermark
                                  until its next sample or its timeout; at most 3600 */
} dt_source_config;
/** Defaults for dt_source_config. */
#define DT_SOURCE_CONFIG_INIT {sizeof(dt_source_config), NULL, 0, DT_OVERFLOW_DROP_NEWEST, {DT_CLOCK_FIXED, 0, 0, 0, 0, 0}, 0, 0, 0, 0}

/** Per-source accounting. At any time between calls:
 *  offered  = dropped_newest + dropped_oldest + drained + pending_ring
 *  drained  = accepted + rejected_nonfinite + rejected_bad_variance
 *             + rejected_unknown_signal + rejected_wrong_role
 *             + rejected_out_of_limits + rejected_future
 *  accepted = dropped_reorder_full + released + late + dropped_too_late
 *             + pending_merge
 *  (flagged_out_of_limits counts accepted samples that carry the flag). */
typedef struct dt_source_stats {
    uint64_t offered;                 /**< pushed into the ring (stored or not) */
    uint64_t dropped_newest;          /**< refused by a full ring (drop_newest) */
    uint64_t dropped_oldest;          /**< overwritten in a full ring (drop_oldest) */
    uint64_t drained;                 /**< taken out of the ring by ingest */
    uint64_t pending_ring;            /**< still in the ring */
    uint64_t accepted;                /**< passed validation and clock mapping */
    uint64_t rejected_nonfinite;      /**< NaN/Inf value or variance */
    uint64_t rejected_bad_variance;   /**< negative variance */
    uint64_t rejected_unknown_signal; /**< id not in the model */
    uint64_t rejected_wrong_role;     /**< not a measured or parameter signal */
    uint64_t rejected_out_of_limits;  /**< outside hard limits (policy reject) */
    uint64_t rejected_future;         /**< mapped time beyond now + tolerance */
    uint64_t rejected_bad_time;       /**< t_source or t_arrival outside +-DT_TIME_LIMIT,
                                           or a mapped time that saturates there */
    uint64_t rejected_clock_step;     /**< the sample that completed a clock step (its
                                           delay is the step's evidence, not data) */
    uint64_t clamped_to_arrival;      /**< accepted with its mapped time cut to its
                                           arrival (a sender clock ahead, within the
                                           tolerance): data never looks younger than it is */
    uint64_t flagged_out_of_limits;   /**< outside hard limits (policy flag) */
    uint64_t dropped_reorder_full;    /**< reorder buffer full */
    uint64_t released;                /**< delivered in time order */
    uint64_t late;                    /**< delivered behind the watermark (DT_SAMPLE_LATE) */
    uint64_t dropped_too_late;        /**< behind the horizon */
    uint64_t pending_merge;           /**< waiting in the reorder buffer */
    uint64_t stale_events;            /**< live -> stale transitions */
    int stale;                        /**< silent longer than its timeout */
    dt_time newest;                   /**< newest mapped time seen (DT_TIME_MIN if none) */
} dt_source_stats;

/** Counters of the whole ingest stage. */
typedef struct dt_ingest_stats {
    dt_source_stats total; /**< sums over sources; stale = sources stale now */
    dt_time watermark;     /**< DT_TIME_MIN before any release */
    dt_time released_until;/**< time of the newest in-order sample released */
    uint32_t sources;      /**< sources added */
} dt_ingest_stats;

/** Creates the ingest stage for a model.
 *  @param model must outlive the stage. @param cfg NULL: defaults. @param out receives it (dt_ingest_destroy).
 *  @retval DT_EINVAL bad configuration. @retval DT_EABI cfg->size mismatch.
 *  @retval DT_ENOMEM. */
DT_API int dt_ingest_create(const dt_model *model, const dt_ingest_config *cfg,
                            dt_ingest **out);
/** Frees the stage and its rings (no producer may push any more). NULL: no-op. */
DT_API void dt_ingest_destroy(dt_ingest *ing);

/** Adds a source (before dt_ingest_start). Allocates its ring and buffers.
 *  @retval DT_EINVAL bad configuration. @retval DT_ELIMIT max_sources reached.
 *  @retval DT_ESTATE already started. @retval DT_ENOMEM. */
DT_API int dt_ingest_add_source(dt_ingest *ing, const dt_source_config *cfg,
                                dt_source_id *out);
/** Ends configuration; `now` starts every source's timeout.
 *  @retval DT_ESTATE already started. @retval DT_EINVAL NULL. */
DT_API int dt_ingest_start(dt_ingest *ing, dt_time now);

/** The producer handle of a source (NULL for an unknown id). Samples pushed
 *  carry t_source on the source's clock; t_arrival on the common time base,
 *  or 0 to have it stamped with `now` when drained. */
DT_API dt_ring *dt_ingest_ring(dt_ingest *ing, dt_source_id src);
/** Convenience: push into a source's ring (same rules).
 *  @retval 0 stored. @retval DT_EFULL refused (counted). @retval DT_ENOTFOUND no such source. */
DT_API int dt_ingest_push(dt_ingest *ing, dt_source_id src, const dt_sample *s);

/** Drains every ring: validates, stamps, feeds and applies the clock model,
 *  queues samples for ordering, updates the watermark and staleness.
 *  @retval DT_ESTATE not started. */
DT_API int dt_ingest_poll(dt_ingest *ing, dt_time now);

/** Hands out, in common-time order, samples the watermark has passed (t_source
 *  mapped, DT_SAMPLE_MAPPED set), and samples that arrived behind it but within
 *  the horizon (DT_SAMPLE_LATE, for the estimator's delayed path). Returns
 *  how many were written (<= max); call again while it returns max. */
DT_API size_t dt_ingest_release(dt_ingest *ing, dt_sample *out, size_t max);

/** A snapshot of the stage's counters. */
DT_API void dt_ingest_stats_get(const dt_ingest *ing, dt_ingest_stats *out);
/** @retval DT_ENOTFOUND no such source. */
DT_API int dt_ingest_source_stats(const dt_ingest *ing, dt_source_id src,
                                  dt_source_stats *out);
/** 1 when a source's counters balance (the three identities above: nothing
 *  offered is unaccounted for), else 0. For hosts' health checks and tests.
 *  Returns 1 or 0 (NULL: 0). */
DT_API int dt_source_stats_consistent(const dt_source_stats *s);
/** The clock model of a source (read-only), NULL for an unknown id. */
DT_API const dt_clock *dt_ingest_clock(const dt_ingest *ing, dt_source_id src);
/** How many sources were added. */
DT_API uint32_t dt_ingest_source_count(const dt_ingest *ing);

/** How dt_ingest_value_at interpolates between released samples. */
typedef enum dt_interp {
    DT_INTERP_HOLD = 0,  /**< zero-order hold: the newest sample at or before t */
    DT_INTERP_LINEAR = 1 /**< between the samples around t; hold beyond the newest */
} dt_interp;

/** The value of a signal at common time t, from the samples released so far. */
typedef struct dt_signal_value {
    double value;    /**< in the signal's unit */
    double variance; /**< the sample's variance, else the model's noise */
    dt_time t;       /**< time of the (newest) sample used */
    dt_time age;     /**< query time minus t (negative if t is in the future) */
    int stale;       /**< age exceeds stale_factor x the signal's nominal period */
} dt_signal_value;

/** Samples of history kept per signal for snapshots. */
#define DT_SNAPSHOT_DEPTH 4

/** @retval DT_ENOTFOUND unknown signal. @retval DT_EEMPTY no sample yet, or t is
 *  before the oldest kept sample. */
DT_API int dt_ingest_value_at(const dt_ingest *ing, dt_signal_id sig, dt_time t,
                              dt_interp mode, dt_signal_value *out);
/** Resamples a signal onto the grid t0, t0 + step, ... (n values) from the
 *  kept history, for aligning signals on a common grid. Values beyond the
 *  newest sample are held. @retval DT_EEMPTY no history or t0 before it.
 *  @retval DT_EINVAL step <= 0. @retval DT_ENOTFOUND unknown signal. */
DT_API int dt_ingest_resample(const dt_ingest *ing, dt_signal_id sig, dt_time t0,
                              dt_time step, size_t n, dt_interp mode, double *values);

/** Number of signals with a nominal period whose newest sample is older than
 *  stale_factor periods at `now` (signals never seen count as stale). */
DT_API size_t dt_ingest_stale_signals(const dt_ingest *ing, dt_time now);

#ifdef __cplusplus
}
#endif
#endif
