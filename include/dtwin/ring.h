/** @file
 * dtwin: bounded lock-free single-producer/single-consumer sample ring. */
#ifndef DTWIN_RING_H
#define DTWIN_RING_H

#include <stddef.h>
#include <stdint.h>

#include "dtwin/alloc.h"
#include "dtwin/export.h"
#include "dtwin/sample.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A ring of samples between one producer thread and the twin's thread
 *  (opaque; dt_ring_create). */
typedef struct dt_ring dt_ring;

/** What a push into a full ring does. */
typedef enum dt_overflow {
    DT_OVERFLOW_DROP_NEWEST = 0, /**< the new sample is refused (DT_EFULL) */
    DT_OVERFLOW_DROP_OLDEST = 1  /**< the oldest unread sample is discarded */
} dt_overflow;

/** Counters; each is written by one side only, read with relaxed atomics. */
typedef struct dt_ring_stats {
    uint64_t offered;        /**< push attempts (producer) */
    uint64_t dropped_newest; /**< refused because full (producer) */
    uint64_t dropped_oldest; /**< overwritten before being read (producer) */
    uint64_t drained;        /**< samples handed to the consumer */
} dt_ring_stats;

/** Largest capacity accepted (2^24 samples, 640 MiB). */
#define DT_RING_MAX_CAPACITY (1u << 24)

/** Creates a ring. The only allocation it ever makes is here.
 *  @param alloc the allocator (NULL: default).
 *  @param capacity a power of two, 2..DT_RING_MAX_CAPACITY.
 *  @param policy what a push into a full ring does.
 *  @param out receives the ring (owned by the caller: dt_ring_destroy).
 *  @retval DT_EINVAL capacity not a power of two or out of range, bad policy.
 *  @retval DT_ENOMEM allocation failed. */
DT_API int dt_ring_create(const dt_allocator *alloc, size_t capacity,
                          dt_overflow policy, dt_ring **out);
/** Frees a ring (no other thread may use it any more). NULL is a no-op. */
DT_API void dt_ring_destroy(dt_ring *ring);

/** Producer side. Never blocks, never allocates. Only one thread may push.
 *  @retval 0 stored (with DROP_OLDEST, possibly after discarding the oldest).
 *  @retval DT_EFULL DROP_NEWEST and full: the sample is counted and dropped. */
DT_API int dt_ring_push(dt_ring *ring, const dt_sample *s);
/** Pushes n samples in order; returns how many were stored (DROP_NEWEST stops
 *  at the first refusal and counts the rest as dropped). */
DT_API size_t dt_ring_push_n(dt_ring *ring, const dt_sample *s, size_t n);

/** Consumer side. Copies up to max of the oldest samples into out, in push
 *  order, and returns how many. Never blocks. Only one thread may drain. */
DT_API size_t dt_ring_drain(dt_ring *ring, dt_sample *out, size_t max);

/** Samples currently stored (exact when called from either side while the
 *  other is idle; a bound otherwise). */
DT_API size_t dt_ring_size(const dt_ring *ring);
/** The capacity given at creation. */
DT_API size_t dt_ring_capacity(const dt_ring *ring);
/** A snapshot of the counters (from either side). */
DT_API void dt_ring_stats_get(const dt_ring *ring, dt_ring_stats *out);

#ifdef __cplusplus
}
#endif
#endif
