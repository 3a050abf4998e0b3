#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void *default_malloc(void *user, size_t size)
{
    (void)user;
    return malloc(size);
}

static void *default_realloc(void *user, void *ptr, size_t size)
{
    (void)user;
    return realloc(ptr, size);
}

static void default_free(void *user, void *ptr)
{
    (void)user;
    free(ptr);
}

static const dt_allocator default_allocator = {default_malloc, default_realloc,
                                               default_free, NULL};

const dt_allocator *dt_allocator_default(void) { return &default_allocator; }

void *dt__malloc(const dt_allocator *a, size_t size)
{
    /* malloc(0) may return NULL or a unique pointer; ask for 1 byte so a NULL
     * always means failure. */
    return a->malloc_fn(a->user, size == 0 ? 1 : size);
}

void *dt__calloc(const dt_allocator *a, size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        return NULL;
    size_t total = count * size;
    void *p = dt__malloc(a, total);
    if (p != NULL)
        memset(p, 0, total == 0 ? 1 : total);
    return p;
}

void dt__free(const dt_allocator *a, void *ptr)
{
    if (ptr != NULL)
        a->free_fn(a->user, ptr);
}

char *dt__strndup(const dt_allocator *a, const char *s, size_t len)
{
    if (len == SIZE_MAX)
        return NULL;
    char *p = dt__malloc(a, len + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}
