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

#endif
