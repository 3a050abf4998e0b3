/* SPSC ring of dt_sample with drop-newest or drop-oldest overflow.
 *
 * Indices are free-running 64-bit positions (never wrap in practice). Each
 * side keeps a cached copy of the other side's index so the shared cache line
 * is touched only when the cached view says full (producer) or empty
 * (consumer).
 *
 * Drop-oldest lets the producer advance the read index (by CAS) and then
 * overwrite that slot while the consumer may be copying it. Slots are stored
 * as relaxed atomic words so that overlap is not a data race; the consumer
 * copies first and then claims the copied range with a CAS on the read index:
 * positions the producer discarded meanwhile are exactly those below the index
 * the failed CAS returns, and only those copies are thrown away. */
#include <stdalign.h>
#include <stdatomic.h>
#include <string.h>

#include "../platform/internal.h"
#include "dtwin/ring.h"

#define WORDS 5 /* sizeof(dt_sample) / 8 */
_Static_assert(sizeof(dt_sample) == WORDS * sizeof(uint64_t),
               "dt_sample must be 40 bytes without padding");

typedef struct slot {
    _Atomic uint64_t w[WORDS];
} slot;

struct dt_ring {
    /* producer's line */
    alignas(64) _Atomic uint64_t head;
    uint64_t cached_tail;
    /* offered is not kept: every offer is stored (head) or refused. */
    _Atomic uint64_t dropped_newest, dropped_oldest;
    /* consumer's line */
    alignas(64) _Atomic uint64_t tail;
    uint64_t cached_head;
    _Atomic uint64_t drained;
    /* read-only after creation */
    alignas(64) uint64_t mask;
    dt_overflow policy;
    slot *slots;
    void *block; /* what the allocator returned */
    dt_allocator alloc;
};

static inline void bump(_Atomic uint64_t *c, uint64_t by)
{
    /* Single writer: load + store is enough and avoids a locked add. */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by,
                          memory_order_relaxed);
}

/* Field by field, word-sized: a producer that has just written one field of
 * its sample (an 8-byte store) is read back with an 8-byte load, which the
 * CPU forwards from the store buffer; a struct-wide copy would not be. */
static inline void put(slot *sl, const dt_sample *s)
{
    uint64_t v, var;
    memcpy(&v, &s->value, sizeof v);
    memcpy(&var, &s->variance, sizeof var);
    atomic_store_explicit(&sl->w[0], (uint64_t)s->signal | (uint64_t)s->flags << 32,
                          memory_order_relaxed);
    atomic_store_explicit(&sl->w[1], (uint64_t)s->t_source, memory_order_relaxed);
    atomic_store_explicit(&sl->w[2], (uint64_t)s->t_arrival, memory_order_relaxed);
    atomic_store_explicit(&sl->w[3], v, memory_order_relaxed);
    atomic_store_explicit(&sl->w[4], var, memory_order_relaxed);
}

static inline void get(slot *sl, dt_sample *s)
{
    uint64_t w0 = atomic_load_explicit(&sl->w[0], memory_order_relaxed);
    uint64_t v = atomic_load_explicit(&sl->w[3], memory_order_relaxed);
    uint64_t var = atomic_load_explicit(&sl->w[4], memory_order_relaxed);
    s->signal = (uint32_t)w0;
    s->flags = (uint32_t)(w0 >> 32);
    s->t_source = (dt_time)atomic_load_explicit(&sl->w[1], memory_order_relaxed);
    s->t_arrival = (dt_time)atomic_load_explicit(&sl->w[2], memory_order_relaxed);
    memcpy(&s->value, &v, sizeof v);
    memcpy(&s->variance, &var, sizeof var);
}

int dt_ring_create(const dt_allocator *alloc, size_t capacity,
                   dt_overflow policy, dt_ring **out)
{
    if (out == NULL || capacity < 2 || capacity > DT_RING_MAX_CAPACITY ||
        (capacity & (capacity - 1)) != 0 ||
        (policy != DT_OVERFLOW_DROP_NEWEST && policy != DT_OVERFLOW_DROP_OLDEST))
        return DT_EINVAL;
    if (alloc == NULL)
        alloc = dt_allocator_default();
    /* One block: the ring header aligned to 64, then the slots. */
    size_t bytes = 64 + sizeof(dt_ring) + capacity * sizeof(slot);
    void *block = dt__malloc(alloc, bytes);
    if (block == NULL)
        return DT_ENOMEM;
    uintptr_t p = ((uintptr_t)block + 63u) & ~(uintptr_t)63u;
    dt_ring *r = (dt_ring *)p;
    memset(r, 0, sizeof *r);
    r->block = block;
    r->alloc = *alloc;
    r->mask = capacity - 1;
    r->policy = policy;
    r->slots = (slot *)(r + 1);
    memset(r->slots, 0, capacity * sizeof(slot));
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    *out = r;
    return DT_OK;
}

void dt_ring_destroy(dt_ring *r)
{
    if (r == NULL)
        return;
    dt_allocator a = r->alloc;
    dt__free(&a, r->block);
}

/* Makes room for one sample; returns 0 if there is room (after discarding the
 * oldest under DROP_OLDEST), DT_EFULL if the sample must be refused. */
static inline int reserve(dt_ring *r, uint64_t h)
{
    if (h - r->cached_tail <= r->mask)
        return DT_OK;
    uint64_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
    r->cached_tail = t;
    if (h - t <= r->mask)
        return DT_OK;
    if (r->policy == DT_OVERFLOW_DROP_NEWEST)
        return DT_EFULL;
    /* Full: discard position t. If the CAS fails the consumer has just freed
     * space itself, which is as good. */
    if (atomic_compare_exchange_strong_explicit(&r->tail, &t, t + 1,
                                                memory_order_acq_rel,
                                                memory_order_acquire)) {
        bump(&r->dropped_oldest, 1);
        r->cached_tail = t + 1;
    } else {
        r->cached_tail = t;
    }
    return DT_OK;
}

int dt_ring_push(dt_ring *r, const dt_sample *s)
{
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (reserve(r, h) != DT_OK) {
        bump(&r->dropped_newest, 1);
        return DT_EFULL;
    }
    put(&r->slots[h & r->mask], s);
    atomic_store_explicit(&r->head, h + 1, memory_order_release);
    return DT_OK;
}

size_t dt_ring_push_n(dt_ring *r, const dt_sample *s, size_t n)
{
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    size_t i = 0;
    if (r->policy == DT_OVERFLOW_DROP_NEWEST) {
        /* Room for how many? One acquire load covers the whole batch. */
        uint64_t room = r->mask + 1 - (h - r->cached_tail);
        if (room < n) {
            r->cached_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
            room = r->mask + 1 - (h - r->cached_tail);
        }
        size_t take = room < n ? (size_t)room : n;
        for (; i < take; i++)
            put(&r->slots[(h + i) & r->mask], &s[i]);
        atomic_store_explicit(&r->head, h + take, memory_order_release);
        if (take < n)
            bump(&r->dropped_newest, n - take);
        return take;
    }
    for (; i < n; i++) {
        (void)reserve(r, h);
        put(&r->slots[h & r->mask], &s[i]);
        h++;
        atomic_store_explicit(&r->head, h, memory_order_release);
    }
    return n;
}

size_t dt_ring_drain(dt_ring *r, dt_sample *out, size_t max)
{
    if (max == 0)
        return 0;
    for (;;) {
        uint64_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
        uint64_t h = r->cached_head;
        if (h <= t) {
            h = atomic_load_explicit(&r->head, memory_order_acquire);
            r->cached_head = h;
            if (h <= t)
                return 0;
        }
        uint64_t avail = h - t;
        size_t n = avail < max ? (size_t)avail : max;
        for (size_t i = 0; i < n; i++)
            get(&r->slots[(t + i) & r->mask], &out[i]);
        if (r->policy == DT_OVERFLOW_DROP_NEWEST) {
            atomic_store_explicit(&r->tail, t + n, memory_order_release);
            bump(&r->drained, n);
            return n;
        }
        /* Claim [t, t + n). A failed CAS returns the producer's new tail:
         * copies of positions at or above it are intact, those below it
         * were discarded (and counted) by the producer. */
        uint64_t want = t + n, cur = t;
        while (cur < want &&
               !atomic_compare_exchange_weak_explicit(&r->tail, &cur, want,
                                                      memory_order_acq_rel,
                                                      memory_order_acquire))
            ;
        if (cur >= want && cur != t)
            continue; /* the producer discarded everything we copied */
        size_t lost = (size_t)(cur - t);
        if (lost > 0)
            memmove(out, out + lost, (n - lost) * sizeof *out);
        bump(&r->drained, n - lost);
        return n - lost;
    }
}

size_t dt_ring_size(const dt_ring *r)
{
    uint64_t h = atomic_load_explicit(&((dt_ring *)r)->head, memory_order_acquire);
    uint64_t t = atomic_load_explicit(&((dt_ring *)r)->tail, memory_order_acquire);
    return h >= t ? (size_t)(h - t) : 0;
}

size_t dt_ring_capacity(const dt_ring *r) { return (size_t)r->mask + 1; }

void dt_ring_stats_get(const dt_ring *r, dt_ring_stats *o)
{
    dt_ring *m = (dt_ring *)r;
    o->dropped_newest = atomic_load_explicit(&m->dropped_newest, memory_order_relaxed);
    o->offered = atomic_load_explicit(&m->head, memory_order_acquire) + o->dropped_newest;
    o->dropped_oldest = atomic_load_explicit(&m->dropped_oldest, memory_order_relaxed);
    o->drained = atomic_load_explicit(&m->drained, memory_order_relaxed);
}
