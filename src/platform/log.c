#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

const char *dt_log_level_name(dt_log_level level)
{
    switch (level) {
    case DT_LOG_ERROR:
        return "error";
    case DT_LOG_WARN:
        return "warn";
    case DT_LOG_INFO:
        return "info";
    case DT_LOG_DEBUG:
        return "debug";
    }
    return "?";
}

void dt_log_stderr(void *user, dt_log_level level, const char *module,
                   const char *message)
{
    (void)user;
    /* One fprintf per line so lines from two twins do not interleave mid-line. */
    fprintf(stderr, "dtwin[%s] %s: %s\n", dt_log_level_name(level), module,
            message);
}

static const dt_logger stderr_logger = {dt_log_stderr, NULL, DT_LOG_WARN};
static const dt_logger silent_logger = {NULL, NULL, DT_LOG_ERROR};

const dt_logger *dt_logger_stderr(void) { return &stderr_logger; }
const dt_logger *dt_logger_silent(void) { return &silent_logger; }

void dt__fmt(char *buf, size_t cap, const char *fmt, ...)
{
    if (cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    if (n < 0)
        buf[0] = '\0';
}

void dt__log(const dt_logger *lg, dt_log_level level, const char *module,
             const char *fmt, ...)
{
    if (lg == NULL || lg->fn == NULL || level > lg->max_level)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        msg[0] = '\0';
    lg->fn(lg->user, level, module, msg);
}
