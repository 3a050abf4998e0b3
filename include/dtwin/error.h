/** @file
 * dtwin: status codes. */
#ifndef DTWIN_ERROR_H
#define DTWIN_ERROR_H

#include "dtwin/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One list generates the enum, dt_strerror() and dt_err_name(), so a code can
 *  never exist without its text. Codes are negative and stable: append only.
 *  X(name, value, text) is applied to each. */
#define DT_ERRNO_MAP(X)                                                        \
    X(EINVAL, -1, "invalid argument")                                          \
    X(ENOMEM, -2, "out of memory")                                             \
    X(EPARSE, -3, "parse error")                                               \
    X(ENOTFOUND, -4, "not found")                                              \
    X(EFULL, -5, "full")                                                       \
    X(ESTALE, -6, "stale data")                                                \
    X(ENUMERIC, -7, "numeric failure")                                         \
    X(EIO, -8, "input/output error")                                           \
    X(ESTATE, -9, "wrong state for this call")                                 \
    X(EABI, -10, "ABI version mismatch")                                       \
    X(ERANGE, -11, "value out of range")                                       \
    X(EEXIST, -12, "already exists")                                           \
    X(ELIMIT, -13, "configured limit exceeded")                                \
    X(EUNIT, -14, "unknown or incompatible unit")                              \
    X(EEMPTY, -15, "nothing available")                                        \
    X(ETIMEOUT, -16, "deadline missed")                                        \
    X(EUNSUPPORTED, -17, "not supported")                                     \
    X(EUNSTABLE, -18, "closed loop unstable")                                 \
    X(EAUTH, -19, "authentication failed (a MAC or signature that does not verify, or no key)") \
    X(EPERM, -20, "not permitted (a key file others can read or replace, the planes taken already, or a signed command refused for its sequence, times or belief)") \
    X(EPLANE, -21, "not allowed through this plane (another plane's entry point, or a raw twin call the planes replaced)")

/** Status codes. 0 is success; every failure is negative. */
typedef enum dt_status {
    DT_OK = 0,               /**< success */
    DT_EINVAL = -1,          /**< invalid argument */
    DT_ENOMEM = -2,          /**< out of memory */
    DT_EPARSE = -3,          /**< parse error (a description, a file, a frame) */
    DT_ENOTFOUND = -4,       /**< not found */
    DT_EFULL = -5,           /**< full (a ring, a queue, a buffer) */
    DT_ESTALE = -6,          /**< stale data (older than the history) */
    DT_ENUMERIC = -7,        /**< numeric failure (not positive definite, non-finite) */
    DT_EIO = -8,             /**< input/output error */
    DT_ESTATE = -9,          /**< wrong state for this call */
    DT_EABI = -10,           /**< ABI version mismatch */
    DT_ERANGE = -11,         /**< value out of range */
    DT_EEXIST = -12,         /**< already exists */
    DT_ELIMIT = -13,         /**< configured limit exceeded */
    DT_EUNIT = -14,          /**< unknown or incompatible unit */
    DT_EEMPTY = -15,         /**< nothing available */
    DT_ETIMEOUT = -16,       /**< deadline missed */
    DT_EUNSUPPORTED = -17,   /**< not supported */
    DT_EUNSTABLE = -18,      /**< closed loop unstable */
    DT_EAUTH = -19,          /**< authentication failed (MAC, signature, no key) */
    DT_EPERM = -20,          /**< not permitted (an insecure key file; the planes taken already; an authentic signed command refused) */
    DT_EPLANE = -21,         /**< another plane's entry point, or a raw call the planes replaced */
    DT__ERR_LAST = -22       /**< one past the last code (internal) */
} dt_status;

/** @cond INTERNAL */
/* The enum is spelled out for the reference; this checks it against the map. */
#define DT__ERR_CHECK(name, val, text)                                         \
    typedef char dt__err_check_##name[(DT_##name == (val)) ? 1 : -1];
DT_ERRNO_MAP(DT__ERR_CHECK)
#undef DT__ERR_CHECK
/** @endcond */

/** Where and why a configuration (a description, an adapter section) was
 *  rejected. Filled by loaders; the text never lives in a global. */
typedef struct dt_diag {
    int code;          /**< the status returned */
    int line;          /**< 1-based line of a syntax error, else 0 */
    int column;        /**< 1-based column of a syntax error, else 0 */
    char path[128];    /**< JSON path, e.g. "signals[3].unit"; "" for the document */
    char message[320]; /**< full text, e.g. "signals[3].unit: unknown unit \"kVv\"" */
} dt_diag;

/** Human-readable text for a status code; never NULL. Unknown codes give
 *  "unknown error". */
DT_API const char *dt_strerror(int code);
/** Symbolic name of a status code ("DT_EINVAL", "DT_OK"); never NULL. */
DT_API const char *dt_err_name(int code);

#ifdef __cplusplus
}
#endif
#endif
