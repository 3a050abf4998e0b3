#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../platform/internal.h"
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

int dt__json_check_keys(dt_diag *diag, const cJSON *obj, const char *path,
                        const char *const *keys, const char *const *extra)
{
    for (const cJSON *it = obj->child; it != NULL; it = it->next) {
        int ok = 0;
        for (size_t k = 0; keys != NULL && keys[k] != NULL; k++)
            ok |= strcmp(keys[k], it->string) == 0;
        for (size_t k = 0; extra != NULL && extra[k] != NULL; k++)
            ok |= strcmp(extra[k], it->string) == 0;
        char p[160];
        dt__fmt(p, sizeof p, "%s.%s", path, it->string);
        if (!ok)
            return dt__diag(diag, DT_EPARSE, p, "unknown key \"%s\"", it->string);
        for (const cJSON *jt = obj->child; jt != it; jt = jt->next)
            if (strcmp(jt->string, it->string) == 0)
                return dt__diag(diag, DT_EPARSE, p, "duplicate key");
    }
    return DT_OK;
}
