/** @file
 * dtwin: canonical samples and commands. */
#ifndef DTWIN_SAMPLE_H
#define DTWIN_SAMPLE_H

#include <stdint.h>

#include "dtwin/time.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One scalar measurement in canonical form: the signal's dense id (from the
 *  model), its value in the signal's unit, and two times. A vector quantity is
 *  carried as consecutive samples, one per component signal, with the same
 *  t_source; consumers that need the vector whole group them by t_source.
 *
 *  Before synchronization t_source is on the source's own clock; after it
 *  (samples released by dt_ingest) it is on the twin's common time base and
 *  DT_SAMPLE_MAPPED is set. 40 bytes, no padding. */
typedef struct dt_sample {
    uint32_t signal;    /**< dt_signal_id */
    uint32_t flags;     /**< DT_SAMPLE_* */
    dt_time t_source;   /**< when the value was measured */
    dt_time t_arrival;  /**< when it reached the twin (common time base) */
    double value;       /**< in the signal's canonical unit */
    double variance;    /**< measurement variance; used when DT_SAMPLE_HAS_VARIANCE */
} dt_sample;

/** variance is valid (otherwise the model's noise for the signal applies). */
#define DT_SAMPLE_HAS_VARIANCE (1u << 0)
/** the value was outside the signal's hard limits (policy "flag"). */
#define DT_SAMPLE_OUT_OF_LIMITS (1u << 1)
/** t_source is on the common time base. */
#define DT_SAMPLE_MAPPED (1u << 2)
/** released behind the watermark: for the estimator's delayed path. */
#define DT_SAMPLE_LATE (1u << 3)
/** the source marks the value as of doubtful quality (kept, not rejected). */
#define DT_SAMPLE_UNCERTAIN (1u << 4)

/** Who issued a command (dt_command.origin): a kind in the top 4 bits and,
 *  for controllers and remote twins, an index in the low 12 bits. The twin
 *  sets it; what a host writes there is overwritten. */
#define DT_ORIGIN_HOST 0x0000u        /**< dt_twin_submit */
#define DT_ORIGIN_CONTROLLER 0x1000u  /**< | the controller's index in the description */
#define DT_ORIGIN_DISPATCHER 0x2000u  /**< the dispatcher's own safe-state commands */
#define DT_ORIGIN_REMOTE 0x3000u      /**< | a remote twin's index (a bus binding) */
#define DT_ORIGIN_KIND(origin) ((unsigned)(origin) & 0xF000u)  /**< DT_ORIGIN_HOST, ... */
#define DT_ORIGIN_INDEX(origin) ((unsigned)(origin) & 0x0FFFu) /**< which controller / twin */

/** One command to an actuator, in the commanded signal's canonical unit.
 *  Name the members when you initialize one ({.signal = s, .value = v, ...}):
 *  the layout is stable, but positional initializers hide mistakes. */
typedef struct dt_command {
    uint32_t signal;     /**< dt_signal_id of a commanded signal */
    uint16_t origin;     /**< DT_ORIGIN_*: who issued it (set by the twin) */
    uint16_t authority;  /**< what the dispatcher's verify hook granted; 0: nothing
                              verified (no hook, or a command the hook does not rank) */
    uint64_t seq;        /**< per-twin sequence number, from 1 */
    dt_time t_issued;    /**< common time base */
    dt_time t_deadline;  /**< not sent after this time */
    double value;        /**< in the signal's canonical unit */
} dt_command;

#ifdef __cplusplus
}
#endif
#endif
