#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"
#include "numtext.h"

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
    (void)fprintf(stderr, "dtwin[%s] %s: %s\n", dt_log_level_name(level), module,
                  message); /* nowhere to report a failing stderr */
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

int dt__vdiag(dt_diag *d, int code, const char *path, const char *fmt,
              va_list ap)
{
    if (d == NULL)
        return code;
    char reason[256];
    int n = vsnprintf(reason, sizeof reason, fmt, ap);
    if (n < 0)
        reason[0] = '\0';
    d->code = code;
    dt__fmt(d->path, sizeof d->path, "%s", path);
    if (path[0] != '\0')
        dt__fmt(d->message, sizeof d->message, "%s: %s", path, reason);
    else
        dt__fmt(d->message, sizeof d->message, "%s", reason);
    return code;
}

int dt__diag(dt_diag *d, int code, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    code = dt__vdiag(d, code, path, fmt, ap);
    va_end(ap);
    return code;
}

const char *dt__num(double v, char *buf, size_t cap)
{
    /* through numtext, not printf and strtod: a host's setlocale in a locale
     * with a decimal comma would make every number in a message "0,5" */
    char t[DT__NUM_TEXT];
    if (!isfinite(v)) {
        dt__fmt(t, sizeof t, "%g", v); /* nan, inf: the same in every locale */
    } else {
        for (int prec = 6; prec <= 17; prec++) {
            double back;
            size_t n = dt__num_format_g(t, sizeof t, v, prec);
            if (dt__num_parse(t, n, &back) == DT__NUM_OK && back == v)
                break; /* 17 digits always read back */
        }
    }
    dt__fmt(buf, cap, "%s", t);
    return buf;
}
