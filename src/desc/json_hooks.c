/* cJSON's allocation hooks. cJSON 1.7 has one set of hooks for the whole
 * process (cJSON_InitHooks), shared with the host program.
 *
 * The rule: dtwin installs its routing once, when the library is loaded
 * (before main), and never calls cJSON_InitHooks again except from
 * dt_json_set_hooks. So a host's own cJSON_InitHooks, made later, is never
 * replaced: dtwin's parse trees then go through the host's hooks, which is
 * safe because no cJSON memory outlives one dtwin call. A host that wants
 * both its hooks and dtwin's allocator hands its hooks to dt_json_set_hooks:
 * the routing forwards every allocation made outside a dtwin call to them. */
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "../platform/internal.h"
#include "desc.h"

static _Thread_local const dt_allocator *tls_alloc;
static _Thread_local int tls_oom;

/* The host's functions for cJSON allocations outside a dtwin call. */
static void *(*host_malloc)(size_t) = malloc;
static void (*host_free)(void *) = free;

static void *hook_malloc(size_t size)
{
    const dt_allocator *a = tls_alloc;
    if (a == NULL)
        return host_malloc(size);
    void *p = a->malloc_fn(a->user, size == 0 ? 1 : size);
    if (p == NULL)
        tls_oom = 1;
    return p;
}

static void hook_free(void *p)
{
    const dt_allocator *a = tls_alloc;
    if (a == NULL)
        host_free(p);
    else if (p != NULL)
        a->free_fn(a->user, p);
}

static void install(void)
{
    cJSON_Hooks h = {hook_malloc, hook_free};
    cJSON_InitHooks(&h);
}

/* At load time, so that a host's cJSON_InitHooks in main comes after it. */
__attribute__((constructor)) static void install_at_load(void) { install(); }

int dt_json_set_hooks(void *(*malloc_fn)(size_t size), void (*free_fn)(void *ptr))
{
    if ((malloc_fn == NULL) != (free_fn == NULL))
        return DT_EINVAL;
    host_malloc = malloc_fn != NULL ? malloc_fn : malloc;
    host_free = free_fn != NULL ? free_fn : free;
    install();
    return DT_OK;
}

void dt__json_enter(dt__json_scope *s, const dt_allocator *a)
{
    s->prev = tls_alloc;
    s->prev_oom = tls_oom;
    tls_alloc = a;
    tls_oom = 0;
}

void dt__json_leave(const dt__json_scope *s)
{
    tls_alloc = s->prev;
    tls_oom = s->prev_oom;
}

int dt__json_oom(void) { return tls_oom; }
