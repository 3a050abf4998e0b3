/** @file
 * dtwin: log hook. */
#ifndef DTWIN_LOG_H
#define DTWIN_LOG_H

#include "dtwin/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Severity of a log message; a logger passes levels up to its max_level. */
typedef enum dt_log_level {
    DT_LOG_ERROR = 0, /**< an operation failed */
    DT_LOG_WARN = 1,  /**< something the operator should know (safe state, stale source) */
    DT_LOG_INFO = 2,  /**< normal events (start, end of a replay) */
    DT_LOG_DEBUG = 3  /**< detail for developers */
} dt_log_level;

/** Receives one formatted message (no trailing newline). `module` is a short
 *  static name ("model", "linalg", ...). Called on the thread that logs. */
typedef void (*dt_log_fn)(void *user, dt_log_level level, const char *module,
                          const char *message);

/** A log sink: messages with level <= max_level reach fn. fn == NULL silences
 *  the logger entirely. */
typedef struct dt_logger {
    dt_log_fn fn;           /**< receives the messages; NULL: silent */
    void *user;             /**< passed to fn */
    dt_log_level max_level; /**< the most verbose level passed on */
} dt_logger;

/** The default logger: writes "dtwin[level] module: message" lines to stderr,
 *  levels up to DT_LOG_WARN. Never NULL. */
DT_API const dt_logger *dt_logger_stderr(void);
/** A logger that drops everything. Never NULL. */
DT_API const dt_logger *dt_logger_silent(void);
/** The stderr writer itself, to build a logger with another max_level. */
DT_API void dt_log_stderr(void *user, dt_log_level level, const char *module,
                          const char *message);
/** Name of a level ("error", "warn", "info", "debug"). */
DT_API const char *dt_log_level_name(dt_log_level level);

#ifdef __cplusplus
}
#endif
#endif
