/* dtwin internal helpers shared by all modules (not installed). */
#ifndef DTWIN_SRC_INTERNAL_H
#define DTWIN_SRC_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "dtwin/alloc.h"
#include "dtwin/error.h"
#include "dtwin/log.h"

/* Internal symbols that cross files are prefixed dt__ and are never exported
 * from the shared library (hidden visibility). */

/* Allocation through a dt_allocator; `a` is never NULL (callers resolve the
 * default at the API boundary). Returns NULL on failure or size overflow. */
void *dt__malloc(const dt_allocator *a, size_t size);
void *dt__calloc(const dt_allocator *a, size_t count, size_t size);
void dt__free(const dt_allocator *a, void *ptr);
/* Copy of s[0..len) plus NUL; NULL on failure. */
char *dt__strndup(const dt_allocator *a, const char *s, size_t len);

#if defined(__GNUC__) || defined(__clang__)
#define DT__PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define DT__PRINTF(fmt, args)
#endif

/* Formats into a stack buffer (no allocation) and calls the logger if the
 * level passes. `lg` may be NULL (silent). */
void dt__log(const dt_logger *lg, dt_log_level level, const char *module,
             const char *fmt, ...) DT__PRINTF(4, 5);

/* Fills d (if not NULL): code, path, and message "path: reason" (or just the
 * reason for an empty path). Returns code. */
int dt__diag(dt_diag *d, int code, const char *path, const char *fmt, ...)
    DT__PRINTF(4, 5);
int dt__vdiag(dt_diag *d, int code, const char *path, const char *fmt,
              va_list ap);

/* Bounded snprintf that always terminates and never reports truncation as an
 * error: messages are for people, a cut message is better than none. */
void dt__fmt(char *buf, size_t cap, const char *fmt, ...) DT__PRINTF(3, 4);

/* A number as a document wrote it, as far as a double can tell: the shortest
 * %g form that reads back to the same value (1.0000000000000002, not 1).
 * Returns buf. */
const char *dt__num(double v, char *buf, size_t cap);

#endif
