/* A dt_allocator that counts live allocations and fails on demand. */
#ifndef DTWIN_TEST_ALLOC_COUNTER_H
#define DTWIN_TEST_ALLOC_COUNTER_H

#include <stdlib.h>

#include "dtwin/alloc.h"

typedef struct dtt_counter {
    long calls;      /* malloc + realloc calls so far */
    long live;       /* allocations not yet freed */
    long fail_at;    /* 1-based call number to fail; 0: never */
    int persistent;  /* keep failing after fail_at */
    long failures;   /* how many calls failed */
} dtt_counter;

static inline int dtt_should_fail(dtt_counter *c)
{
    c->calls++;
    if (c->fail_at > 0 && (c->calls == c->fail_at ||
                           (c->persistent && c->calls > c->fail_at))) {
        c->failures++;
        return 1;
    }
    return 0;
}

static inline void *dtt_malloc(void *user, size_t size)
{
    dtt_counter *c = user;
    if (dtt_should_fail(c))
        return NULL;
    void *p = malloc(size);
    if (p != NULL)
        c->live++;
    return p;
}

static inline void *dtt_realloc(void *user, void *ptr, size_t size)
{
    dtt_counter *c = user;
    if (dtt_should_fail(c))
        return NULL;
    void *p = realloc(ptr, size);
    if (p != NULL && ptr == NULL)
        c->live++;
    return p;
}

static inline void dtt_free(void *user, void *ptr)
{
    dtt_counter *c = user;
    if (ptr != NULL)
        c->live--;
    free(ptr);
}

static inline dt_allocator dtt_allocator(dtt_counter *c)
{
    dt_allocator a = {dtt_malloc, dtt_realloc, dtt_free, c};
    return a;
}

#endif
