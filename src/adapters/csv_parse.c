/* CSV text: fields of a line, numbers and ISO-8601 times (no I/O, no state). */
#include <string.h>

#include "../platform/numtext.h"
#include "csv_internal.h"

/* Splits a line in place into at most max fields. Supports "quoted" fields
 * with "" escapes; trims spaces around unquoted fields. Returns the number of
 * fields, DT__CSV_SPLIT_QUOTING or DT__CSV_SPLIT_TOO_MANY. The line holds no
 * NUL (dt__csv_read_line refuses those), so '\0' is its end. */
int dt__csv_split(char *line, char delim, char **f, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (n == max)
            return DT__CSV_SPLIT_TOO_MANY;
        if (*p == '"') {
            char *w = ++p;
            f[n++] = w;
            for (;;) {
                if (*p == '\0')
                    return DT__CSV_SPLIT_QUOTING; /* unterminated quote */
                if (*p == '"') {
                    if (p[1] == '"') {
                        *w++ = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                *w++ = *p++;
            }
            *w = '\0';
            while (*p == ' ' || *p == '\t')
                p++;
            if (*p != delim && *p != '\0')
                return DT__CSV_SPLIT_QUOTING; /* text after a closing quote */
        } else {
            f[n++] = p;
            while (*p != delim && *p != '\0')
                p++;
            char *e = p;
            char sep = *p; /* read before the terminator may overwrite it */
            while (e > f[n - 1] && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            *e = '\0';
            if (sep == '\0')
                return n;
            p++;
            continue;
        }
        if (*p == '\0')
            return n;
        *p++ = '\0';
    }
}

/* Through numtext, not strtod: in a host's locale with a decimal comma
 * strtod stops at the '.' of "0.5", and a file would replay differently
 * there. A decimal number of any length, correctly rounded; nan, inf and
 * infinity read as strtod reads them (the callers refuse them where they
 * must); hexadecimal is not a number here. */
int dt__csv_parse_double(const char *s, double *out)
{
    if (*s == '\0')
        return DT_EEMPTY;
    double v;
    switch (dt__num_parse(s, strlen(s), &v)) {
    case DT__NUM_OK:
    case DT__NUM_NONFINITE:
        *out = v;
        return DT_OK;
    case DT__NUM_OVERFLOW:
        return DT_ERANGE;
    default:
        return DT_EPARSE;
    }
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return 0;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 1;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* ISO-8601 "YYYY-MM-DD[T ]hh:mm:ss[.f{1,9}][Z|+hh:mm|-hh:mm]" (no zone: UTC).
 * DT_EPARSE for text that is no such date, DT_ERANGE for a date outside dt_time. */
int dt__csv_parse_iso8601(const char *s, dt_time *out)
{
    int y, mo, d, h, mi, se, oh = 0, om = 0;
    const char *p = s;
    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
        !digits(&p, 2, &d) || (*p != 'T' && *p != ' '))
        return DT_EPARSE;
    p++;
    if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' ||
        !digits(&p, 2, &se))
        return DT_EPARSE;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
        h > 23 || mi > 59 || se > 59)
        return DT_EPARSE;
    int64_t frac = 0;
    if (*p == '.' || *p == ',') {
        p++;
        int nd = 0;
        while (*p >= '0' && *p <= '9') {
            if (nd < 9) {
                frac = frac * 10 + (*p - '0');
                nd++;
            }
            p++;
        }
        if (nd == 0)
            return DT_EPARSE;
        while (nd++ < 9)
            frac *= 10;
    }
    int sign = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '+' ? 1 : -1;
        p++;
        if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || oh > 23 || om > 59)
            return DT_EPARSE;
    }
    if (*p != '\0')
        return DT_EPARSE;
    /* Four-digit years keep secs within +-3.2e11: no overflow up to here. */
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se -
                   sign * (oh * 3600 + om * 60);
    /* dt_time (int64 ns) spans 1677-09-21 .. 2262-04-11: a date outside is a
     * malformed row, not an overflow (found by fuzz_csv); checked to the ns.
     * Before 1970 the fraction is borrowed from the next second, so the
     * earliest second (1677-09-21T00:12:43) does not overflow on its way. */
    if (secs < 0 && frac > 0) {
        secs++;
        frac -= DT_NS_PER_S;
    }
    dt_time ns;
    if (__builtin_mul_overflow(secs, DT_NS_PER_S, &ns) || __builtin_add_overflow(ns, frac, &ns))
        return DT_ERANGE;
    *out = ns;
    return DT_OK;
}
