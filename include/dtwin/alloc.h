/** @file
 * dtwin: allocator hook. */
#ifndef DTWIN_ALLOC_H
#define DTWIN_ALLOC_H

#include <stddef.h>
#include "dtwin/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Every allocation the library makes goes through one of these, so a host can
 *  count allocations, place them in its own arena, or inject failures.
 *  Semantics are those of malloc/realloc/free; `user` is passed back unchanged.
 *  malloc_fn may return NULL for any size: the library reports DT_ENOMEM.
 *  The functions must be callable from the twin's thread (see docs/architecture.md). */
typedef struct dt_allocator {
    void *(*malloc_fn)(void *user, size_t size);            /**< as malloc */
    void *(*realloc_fn)(void *user, void *ptr, size_t size); /**< as realloc */
    void (*free_fn)(void *user, void *ptr);                 /**< as free; NULL ptr: no-op */
    void *user;                                             /**< passed to each function */
} dt_allocator;

/** The default allocator (C malloc/realloc/free). Never NULL. */
DT_API const dt_allocator *dt_allocator_default(void);

#ifdef __cplusplus
}
#endif
#endif
