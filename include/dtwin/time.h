/** @file
 * dtwin: the common time base. */
#ifndef DTWIN_TIME_H
#define DTWIN_TIME_H

#include <stdint.h>
#include "dtwin/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Time on the twin's common time base, in nanoseconds. int64 covers +-292
 *  years, so the epoch is the host's choice (monotonic boot time, Unix time). */
typedef int64_t dt_time;

#define DT_NS_PER_S INT64_C(1000000000) /**< nanoseconds per second */
#define DT_NS_PER_MS INT64_C(1000000)   /**< nanoseconds per millisecond */
#define DT_NS_PER_US INT64_C(1000)      /**< nanoseconds per microsecond */
#define DT_TIME_MAX INT64_MAX           /**< the latest time ("never") */
#define DT_TIME_MIN INT64_MIN           /**< the earliest time ("no data yet") */
/** The largest |t| accepted from outside (a sample's times, a host's `now`):
 *  2^62 - 1 ns, about 146 years either side of the time base's zero (with a
 *  Unix-epoch base: 1823-11 to 2116-02). The difference of two such times and
 *  the sum of one with any configured duration fit in dt_time, so the
 *  arithmetic after the check cannot overflow. */
#define DT_TIME_LIMIT ((INT64_C(1) << 62) - 1)

/** 1 when |t| <= DT_TIME_LIMIT: a time arithmetic may use. */
static inline int dt_time_valid(dt_time t) { return t >= -DT_TIME_LIMIT && t <= DT_TIME_LIMIT; }

/** Seconds to nanoseconds, rounded to nearest; saturates at DT_TIME_MIN/MAX,
 *  NaN gives 0. Use dt_time_from_sec_checked() for values from outside. */
DT_API dt_time dt_time_from_sec(double seconds);
/** Seconds to nanoseconds with a range check.
 *  @retval 0 *out set.
 *  @retval DT_ERANGE seconds is NaN, infinite or outside +-9.2e9 s; *out unchanged.
 *  @retval DT_EINVAL out is NULL. */
DT_API int dt_time_from_sec_checked(double seconds, dt_time *out);
/** Nanoseconds to seconds (exact to 1 ns for |t| below 2^53 ns, about 104 days). */
DT_API double dt_time_to_sec(dt_time t);
/** A monotonic clock read (CLOCK_MONOTONIC), for hosts and adapters. The core
 *  never reads a clock itself: every step takes `now` from the host. */
DT_API dt_time dt_time_monotonic(void);

#ifdef __cplusplus
}
#endif
#endif
