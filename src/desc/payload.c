/* Reading payload text: reasons, paths, numbers, times (JSON documents are
 * payload_json.c; times written, and templates, payload_tpl.c; the number
 * text itself is src/platform/numtext.c). Every conversion is exact or
 * correctly rounded, bounded in the bytes it reads, and free of overflow:
 * magnitudes are checked in digits before any multiplication. */
#include <string.h>

#include "dtwin/time.h"

#include "../platform/internal.h"
#include "../platform/numtext.h"
#include "payload.h"

/* ---- reasons ---- */

const char *dt__payload_reason_name(int reason)
{
    static const char *const names[] = {
#define DT__PAYLOAD_NAME(id, name, text) name,
        DT__PAYLOAD_REASONS(DT__PAYLOAD_NAME)
#undef DT__PAYLOAD_NAME
    };
    if (reason < 0 || reason >= DT__PAYLOAD_NREASONS)
        return "unknown";
    return names[reason];
}

const char *dt__payload_reason_text(int reason)
{
    static const char *const texts[] = {
#define DT__PAYLOAD_TEXT(id, name, text) text,
        DT__PAYLOAD_REASONS(DT__PAYLOAD_TEXT)
#undef DT__PAYLOAD_TEXT
    };
    if (reason < 0 || reason >= DT__PAYLOAD_NREASONS)
        return "unknown reason";
    return texts[reason];
}

int dt__payload_format_parse(const char *name, dt__payload_format *out)
{
    if (name != NULL && strcmp(name, "number") == 0)
        *out = DT__PAYLOAD_FMT_NUMBER;
    else if (name != NULL && strcmp(name, "json") == 0)
        *out = DT__PAYLOAD_FMT_JSON;
    else
        return -1;
    return 0;
}

static const char *const enc_names[] = {"s", "ms", "us", "ns", "rfc3339"};

int dt__payload_time_enc_parse(const char *name, dt__payload_time_enc *out)
{
    for (size_t i = 0; name != NULL && i < sizeof enc_names / sizeof enc_names[0]; i++) {
        if (strcmp(name, enc_names[i]) == 0) {
            *out = (dt__payload_time_enc)i;
            return 0;
        }
    }
    return -1;
}

const char *dt__payload_time_enc_name(dt__payload_time_enc enc)
{
    if ((unsigned)enc >= sizeof enc_names / sizeof enc_names[0])
        return "unknown";
    return enc_names[enc];
}

/* ---- paths ---- */

static int is_key_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

static int path_fail(char *err, size_t errn, const char *spec, size_t at, const char *what)
{
    if (err != NULL && errn > 0)
        dt__fmt(err, errn, "path \"%.*s\": at character %zu: %s", DT__PAYLOAD_PATH_TEXT, spec,
                at + 1, what);
    return -1;
}

int dt__payload_path_compile(const char *spec, dt__payload_path *out, char *err, size_t errn)
{
    if (spec == NULL || spec[0] == '\0')
        return path_fail(err, errn, "", 0, "empty (write a key such as \"value\")");
    size_t len = strlen(spec);
    if (len >= DT__PAYLOAD_PATH_TEXT)
        return path_fail(err, errn, spec, DT__PAYLOAD_PATH_TEXT - 1,
                         "longer than 127 bytes");
    memset(out, 0, sizeof *out);
    size_t i = 0, k = 0; /* k: bytes used in out->keys */
    while (i < len) {
        if (out->n == DT__PAYLOAD_PATH_DEPTH)
            return path_fail(err, errn, spec, i, "more than 8 steps");
        dt__payload_step *st = &out->step[out->n];
        int dotted = 0;
        if (out->n > 0) {
            if (spec[i] == '.') {
                dotted = 1;
                i++;
            } else if (spec[i] != '[') {
                return path_fail(err, errn, spec, i, "expected '.' or '[' after a step");
            }
        }
        if (dotted || spec[i] != '[') {
            /* a plain key: the first step, or after '.' */
            size_t s = i;
            while (i < len && is_key_char(spec[i]))
                i++;
            if (i == s)
                return path_fail(err, errn, spec, i,
                                 dotted ? "a key after '.' (letters, digits, '_', '-')"
                                        : "a key (letters, digits, '_', '-'), [index] or "
                                          "[\"key\"]");
            st->key_off = (uint16_t)k;
            st->key_len = (uint8_t)(i - s);
            memcpy(out->keys + k, spec + s, i - s);
            k += i - s;
        } else if (spec[i] == '[' && i + 1 < len && spec[i + 1] == '"') {
            i += 2;
            st->key_off = (uint16_t)k;
            size_t s = k;
            for (;;) {
                if (i >= len)
                    return path_fail(err, errn, spec, i, "unclosed quoted key (missing '\"]')");
                char c = spec[i];
                if (c == '"')
                    break;
                if ((unsigned char)c < 0x20 || c == 0x7f)
                    return path_fail(err, errn, spec, i, "a control character in a quoted key");
                if (c == '\\') {
                    if (i + 1 >= len || (spec[i + 1] != '"' && spec[i + 1] != '\\'))
                        return path_fail(err, errn, spec, i,
                                         "only \\\" and \\\\ escapes in a quoted key");
                    c = spec[++i];
                }
                out->keys[k++] = c;
                i++;
            }
            if (i + 1 >= len || spec[i + 1] != ']')
                return path_fail(err, errn, spec, i + 1, "expected ']' after a quoted key");
            i += 2;
            st->key_len = (uint8_t)(k - s);
        } else if (spec[i] == '[') {
            i++;
            size_t s = i;
            uint32_t v = 0;
            while (i < len && spec[i] >= '0' && spec[i] <= '9') {
                if (i - s == 9)
                    return path_fail(err, errn, spec, i, "an index over 999999999");
                v = v * 10 + (uint32_t)(spec[i] - '0');
                i++;
            }
            if (i == s)
                return path_fail(err, errn, spec, i,
                                 "an index (digits) or a quoted key [\"...\"] after '['");
            if (spec[s] == '0' && i - s > 1)
                return path_fail(err, errn, spec, s, "an index with a leading zero");
            if (i >= len || spec[i] != ']')
                return path_fail(err, errn, spec, i, "expected ']' after an index");
            i++;
            st->is_index = 1;
            st->index = v;
        }
        out->n++;
    }
    return 0;
}

/* ---- numbers ---- */

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

int dt__payload_number(const char *s, size_t n, double *out)
{
    size_t a = 0, b = n;
    while (a < b && is_space(s[a]))
        a++;
    while (b > a && is_space(s[b - 1]))
        b--;
    if (a == b)
        return DT__PAYLOAD_EMPTY;
    if (b - a > DT__PAYLOAD_NUM_MAX)
        return DT__PAYLOAD_TOO_LONG;
    double v;
    switch (dt__num_parse(s + a, b - a, &v)) {
    case DT__NUM_OK:
        *out = v;
        return DT__PAYLOAD_OK;
    case DT__NUM_NONFINITE:
    case DT__NUM_OVERFLOW:
        return DT__PAYLOAD_NOT_FINITE;
    default:
        return DT__PAYLOAD_NOT_NUMBER;
    }
}

/* ---- times ---- */

/* |value| must stay within this many ns */
#define TIME_LIMIT_U ((uint64_t)DT_TIME_LIMIT)

/* The magnitude of dig * 10^k (k may be negative: rounded to nearest, ties
 * away from zero), or -1 when it has more than 19 integer digits. */
static int scaled(const char *dig, int nd, long k, uint64_t *out)
{
    if (nd == 0) {
        *out = 0;
        return 0;
    }
    long keep = nd + k; /* integer digits of the result */
    if (keep > 19)
        return -1;
    uint64_t v = 0;
    if (k >= 0) {
        for (int i = 0; i < nd; i++)
            v = v * 10 + (uint64_t)(dig[i] - '0');
        for (long i = 0; i < k; i++)
            v *= 10;
    } else {
        for (long i = 0; i < keep; i++)
            v = v * 10 + (uint64_t)(dig[i] - '0');
        /* the first dropped digit decides; none below 10^-1 rounds up */
        if (keep >= 0 && dig[keep] >= '5')
            v++;
    }
    *out = v;
    return 0;
}

int dt__payload_time_number(const char *s, size_t n, dt__payload_time_enc enc, int64_t *ns)
{
    static const long unit_pow[] = {9, 6, 3, 0};
    if (n > DT__PAYLOAD_NUM_MAX || (unsigned)enc > DT__PAYLOAD_TIME_NS)
        return DT__PAYLOAD_BAD_TIME;
    dt__decimal d;
    if (dt__num_split(s, n, &d) != 0)
        return DT__PAYLOAD_BAD_TIME;
    uint64_t mag;
    if (scaled(d.dig, d.nd, d.exp10 + unit_pow[enc], &mag) != 0 || mag > TIME_LIMIT_U)
        return DT__PAYLOAD_TIME_RANGE;
    *ns = d.neg ? -(int64_t)mag : (int64_t)mag;
    return DT__PAYLOAD_OK;
}

int64_t dt__payload_days_from_civil(int64_t y, int m, int d)
{
    /* H. Hinnant's algorithm: years start in March, so the leap day is the
     * last of its year; eras of 400 years (146097 days) repeat exactly. */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                   /* 0..399 */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* 0..365 */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* 0..146096 */
    return era * 146097 + doe - 719468;
}

void dt__payload_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int fixed_digits(const char *s, size_t n, size_t at, int count, int *out)
{
    int v = 0;
    if (at + (size_t)count > n)
        return -1;
    for (int i = 0; i < count; i++) {
        if (!is_digit(s[at + (size_t)i]))
            return -1;
        v = v * 10 + (s[at + (size_t)i] - '0');
    }
    *out = v;
    return 0;
}

int dt__payload_rfc3339(const char *s, size_t n, int64_t *ns)
{
    int y, mo, d, h, mi, se;
    /* YYYY-MM-DDTHH:MM:SS, fixed positions */
    if (fixed_digits(s, n, 0, 4, &y) || n < 20 || s[4] != '-' ||
        fixed_digits(s, n, 5, 2, &mo) || s[7] != '-' || fixed_digits(s, n, 8, 2, &d) ||
        (s[10] != 'T' && s[10] != 't') || fixed_digits(s, n, 11, 2, &h) || s[13] != ':' ||
        fixed_digits(s, n, 14, 2, &mi) || s[16] != ':' || fixed_digits(s, n, 17, 2, &se))
        return DT__PAYLOAD_BAD_TIME;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap) || h > 23 ||
        mi > 59 || se > 59)
        return DT__PAYLOAD_BAD_TIME; /* se == 60: a leap second, which Unix time has not */
    size_t i = 19;
    uint64_t frac = 0;
    if (i < n && s[i] == '.') {
        char dig[10];
        int nd = 0;
        size_t s0 = ++i;
        for (; i < n && is_digit(s[i]); i++)
            if (nd < 10)
                dig[nd++] = s[i];
        if (i == s0)
            return DT__PAYLOAD_BAD_TIME;
        while (nd < 10)
            dig[nd++] = '0';
        /* 9 digits kept, the 10th rounds: half a ns and more goes to the
         * later ns */
        (void)scaled(dig, 10, -1, &frac); /* <= 1e9: the carry is one second */
    }
    int64_t off = 0;
    if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < n && (s[i] == '+' || s[i] == '-')) {
        int oh, om;
        int sign = s[i] == '+' ? 1 : -1;
        if (fixed_digits(s, n, i + 1, 2, &oh) || i + 3 >= n || s[i + 3] != ':' ||
            fixed_digits(s, n, i + 4, 2, &om) || oh > 23 || om > 59)
            return DT__PAYLOAD_BAD_TIME;
        off = sign * (oh * 3600 + om * 60);
        i += 6;
    } else {
        return DT__PAYLOAD_BAD_TIME; /* RFC 3339 requires the offset */
    }
    if (i != n)
        return DT__PAYLOAD_BAD_TIME;
    /* four-digit years: |secs| < 3.2e11, no overflow up to here */
    int64_t secs = dt__payload_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off;
    const int64_t max_s = DT_TIME_LIMIT / DT_NS_PER_S + 1;
    if (secs > max_s || secs < -max_s - 1)
        return DT__PAYLOAD_TIME_RANGE; /* beyond the limit whatever the fraction */
    int64_t t = secs * DT_NS_PER_S + (int64_t)frac;
    if (t > DT_TIME_LIMIT || t < -DT_TIME_LIMIT)
        return DT__PAYLOAD_TIME_RANGE;
    *ns = t;
    return DT__PAYLOAD_OK;
}
