#include <pthread.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "model_internal.h"

static _Thread_local const dt_allocator *tls_alloc;
static _Thread_local int tls_oom;
static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;

static void *hook_malloc(size_t size)
{
    const dt_allocator *a = tls_alloc;
    if (a == NULL)
        return malloc(size);
    void *p = a->malloc_fn(a->user, size == 0 ? 1 : size);
    if (p == NULL)
        tls_oom = 1;
    return p;
}

static void hook_free(void *p)
{
    const dt_allocator *a = tls_alloc;
    if (a == NULL)
        free(p);
    else if (p != NULL)
        a->free_fn(a->user, p);
}

static void install_hooks(void)
{
    cJSON_Hooks h = {hook_malloc, hook_free};
    cJSON_InitHooks(&h);
}

void dt__json_begin(const dt_allocator *a)
{
    (void)pthread_once(&hooks_once, install_hooks);
    tls_alloc = a;
    tls_oom = 0;
}

void dt__json_end(void) { tls_alloc = NULL; }

int dt__json_oom(void) { return tls_oom; }
