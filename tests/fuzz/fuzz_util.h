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

/* The ingest accounting identity (tested independently in test_ingest). */
#define fuzz_accounted(s) dt_source_stats_consistent(s)

#endif
