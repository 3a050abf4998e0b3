/* Shared by the libFuzzer targets: a hard stop that the fuzzer reports as a
 * crash when an invariant breaks (not an assert: NDEBUG builds keep it). */
#ifndef DTWIN_FUZZ_UTIL_H
#define DTWIN_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "fuzz invariant broken at %s:%d: %s\n", __FILE__, __LINE__,     \
                    #cond);                                                                \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* Inputs above this are ignored: the loaders bound their input themselves, the
 * cap keeps the fuzzer's time on structure rather than size. */
#define FUZZ_MAX_INPUT (64 * 1024)

#include "dtwin/ingest.h"

/* The ingest accounting identity (docs/architecture.md): nothing offered to a
 * source goes unaccounted. */
static inline int fuzz_accounted(const dt_source_stats *s)
{
    uint64_t rejected = s->rejected_nonfinite + s->rejected_bad_variance +
                        s->rejected_unknown_signal + s->rejected_wrong_role +
                        s->rejected_out_of_limits + s->rejected_future;
    return s->offered == s->dropped_newest + s->dropped_oldest + s->drained + s->pending_ring &&
           s->drained == s->accepted + rejected &&
           s->accepted == s->dropped_reorder_full + s->released + s->late +
                              s->dropped_too_late + s->pending_merge;
}

#endif
