/* What ingest offers the twin beyond its public API: the flight recorder's tap and feed. */
#ifndef DTWIN_SRC_INGEST_INTERNAL_H
#define DTWIN_SRC_INGEST_INTERNAL_H

#include <stddef.h>

#include "dtwin/ingest.h"

/* Called with every batch drained from a source ring, before validation. */
void dt__ingest_set_tap(dt_ingest *g,
                        void (*fn)(void *user, dt_source_id src, const dt_sample *s, size_t n),
                        void *user);

/* Replay: poll takes samples from fn instead of the rings. */
void dt__ingest_set_feed(dt_ingest *g,
                         size_t (*fn)(void *user, dt_source_id src, dt_sample *out, size_t max),
                         void *user);

/* A source that pushes no samples, only remote beliefs: the merge never
 * waits for it and it is never reported stale for its silent ring. */
void dt__ingest_beliefs_only(dt_ingest *g, dt_source_id src);
int dt__ingest_is_beliefs_only(const dt_ingest *g, dt_source_id src);
/* A replayed belief's arrival, for the source's stale rule. */
void dt__ingest_touch(dt_ingest *g, dt_source_id src, dt_time t_arrival);

/* A remote belief's times t_source[0..n) (the sender's clock) on the twin's
 * base, through the source's clock as its samples' times are: the first
 * (its send time) observed with t_arrival, then each mapped (never later
 * than t_arrival) into out. @retval DT_ESTALE the observation
 * completed a clock step (the new fit would make it look fresh).
 * @retval DT_ERANGE a time outside +-DT_TIME_LIMIT, or in the future beyond
 * the ingest's tolerance. @retval DT_EINVAL no such source. */
int dt__ingest_map_remote(dt_ingest *g, dt_source_id src, const dt_time *t_source, size_t n,
                          dt_time t_arrival, dt_time *out);

#endif
