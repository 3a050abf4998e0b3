/** @file
 * dtwin: drive a twin from a libuv loop. The only dtwin header that includes
 * uv.h; the core builds and steps without it. */
#ifndef DTWIN_UV_H
#define DTWIN_UV_H

#include <uv.h>

#include "dtwin/twin.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A libuv driver of one twin (opaque; dt_uv_attach). */
typedef struct dt_uv dt_uv;

/** Starts `twin` (its time base: nanoseconds since this call, from the loop's
 *  monotonic clock) and steps it from a repeating timer every period_s
 *  (0: the description's loop period). Runs on the loop's thread. Every
 *  adapter's loop hooks are embedded in `loop` (the descriptors it watches,
 *  its wake times: dt_io_watches), so data is received when it arrives, not
 *  only once per cycle.
 *  With handle_signals, SIGINT and SIGTERM stop the twin and the loop cleanly
 *  (the host then reads the stats and destroys the twin, which flushes sinks).
 *  Attach before dt_twin_planes: the driver polls the adapters through the
 *  twin's io, which the raw pointer no longer gives once the planes are taken.
 *  @retval DT_ESTATE twin already started. @retval DT_EIO a libuv call failed.
 *  @retval DT_EPLANE the twin's planes were taken already. */
DT_API int dt_uv_attach(dt_twin *twin, uv_loop_t *loop, double period_s, int handle_signals,
                        dt_uv **out);
/** Stops the timer and signal handlers and frees the driver (before the loop
 *  is closed; run the loop once more to let libuv finish closing handles). */
DT_API void dt_uv_detach(dt_uv *d);
/** Twin time of the last step (ns since attach). */
DT_API dt_time dt_uv_now(const dt_uv *d);
/** How many descriptors the adapters named at the last step or callback
 *  that the driver could not watch (more than 64 in all, or more than 8
 *  adapters on one): those adapters are served by their poll each cycle only. */
DT_API size_t dt_uv_unwatched(const dt_uv *d);
/** The first error a step returned (0 if none), and whether a signal stopped it.
 *  Returns the first error (0 if none); *signaled (may be NULL) is 1 after SIGINT/SIGTERM. */
DT_API int dt_uv_status(const dt_uv *d, int *signaled);
/** Runs fn(user, twin, now) after every step (on the loop's thread; fn NULL:
 *  none): the host reads what the step produced (estimates, commands, stats)
 *  and may call dt_uv_stop from it. */
DT_API void dt_uv_on_step(dt_uv *d, void (*fn)(void *user, dt_twin *twin, dt_time now),
                          void *user);
/** Stops stepping and stops the loop (for hosts' own stop conditions). */
DT_API void dt_uv_stop(dt_uv *d);

#ifdef __cplusplus
}
#endif
#endif
