/* Numbers as text, the same in every locale (see numtext.h for why). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numtext.h"

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* ---- reading ---- */

/* The exponent is exact within +-EXP_CLAMP and clamped beyond: with at most
 * DT__NUM_DIGITS + 1 digits, dig * 10^exp10 is then far below or above a
 * double's range either way (and beyond any int64 of ns). */
#define EXP_CLAMP 400000LL
/* An exponent's digits saturate here: text long enough to bring such an
 * exponent back (10^17 digits) does not exist. */
#define EXP_SAT 100000000000000000LL

int dt__num_split(const char *p, size_t len, dt__decimal *d)
{
    size_t i = 0;
    int seen = 0, sticky = 0;
    long long shift = 0; /* powers of ten the digits' positions add */
    d->nd = 0;
    d->neg = 0;
    if (i < len && (p[i] == '+' || p[i] == '-'))
        d->neg = p[i++] == '-';
    for (; i < len && is_digit(p[i]); i++) {
        seen = 1;
        if (d->nd == 0 && p[i] == '0')
            continue;
        if (d->nd < DT__NUM_DIGITS) {
            d->dig[d->nd++] = p[i];
        } else {
            shift++; /* an integer digit dropped: one more power of ten */
            sticky |= p[i] != '0';
        }
    }
    if (i < len && p[i] == '.') {
        for (i++; i < len && is_digit(p[i]); i++) {
            seen = 1;
            if (d->nd == DT__NUM_DIGITS) {
                sticky |= p[i] != '0'; /* a fraction digit dropped */
                continue;
            }
            shift--;
            if (d->nd > 0 || p[i] != '0')
                d->dig[d->nd++] = p[i];
        }
    }
    if (!seen)
        return -1;
    long long e = 0;
    if (i < len && (p[i] == 'e' || p[i] == 'E')) {
        int eneg = 0;
        i++;
        if (i < len && (p[i] == '+' || p[i] == '-'))
            eneg = p[i++] == '-';
        if (i >= len || !is_digit(p[i]))
            return -1;
        for (; i < len && is_digit(p[i]); i++)
            if (e < EXP_SAT)
                e = e * 10 + (p[i] - '0');
        if (eneg)
            e = -e;
    }
    if (i != len)
        return -1;
    if (sticky) {
        /* the dropped digits were not all zero: a last '1' makes the kept
         * ones round the way the whole text does (no halfway case between
         * two doubles needs more than 768 digits to tell) */
        d->dig[d->nd++] = '1';
        shift--;
    }
    long long x = d->nd == 0 ? 0 : e + shift;
    d->exp10 = (long)(x > EXP_CLAMP ? EXP_CLAMP : x < -EXP_CLAMP ? -EXP_CLAMP : x);
    return 0;
}

static size_t put_long(char *buf, long v)
{
    char tmp[24];
    size_t n = 0, o = 0;
    unsigned long u = v < 0 ? 0UL - (unsigned long)v : (unsigned long)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        buf[o++] = '-';
    while (n > 0)
        buf[o++] = tmp[--n];
    return o;
}

/* d's value through strtod on "DIGITSeEXP": digits and an exponent read the
 * same in every locale, and glibc's strtod rounds correctly. */
static double decimal_value(const dt__decimal *d)
{
    if (d->nd == 0)
        return d->neg ? -0.0 : 0.0;
    char buf[DT__NUM_DIGITS + 32];
    memcpy(buf, d->dig, (size_t)d->nd);
    size_t o = (size_t)d->nd;
    buf[o++] = 'e';
    o += put_long(buf + o, d->exp10);
    buf[o] = '\0';
    double v = strtod(buf, NULL);
    return d->neg ? -v : v;
}

/* Case-insensitive: the text after an optional sign is nan, inf or infinity;
 * *v its value as strtod reads it. */
static int nonfinite_word(const char *p, size_t len, double *v)
{
    int neg = 0;
    if (len > 0 && (p[0] == '+' || p[0] == '-')) {
        neg = p[0] == '-';
        p++;
        len--;
    }
    static const char *const words[] = {"nan", "inf", "infinity"};
    for (size_t w = 0; w < 3; w++) {
        size_t wl = strlen(words[w]);
        if (len != wl)
            continue;
        size_t i = 0;
        while (i < wl && (p[i] | 0x20) == words[w][i])
            i++;
        if (i == wl) {
            double x = w == 0 ? NAN : INFINITY;
            *v = neg ? -x : x;
            return 1;
        }
    }
    return 0;
}

int dt__num_parse(const char *s, size_t n, double *out)
{
    size_t a = 0, b = n;
    while (a < b && is_space(s[a]))
        a++;
    while (b > a && is_space(s[b - 1]))
        b--;
    if (a == b)
        return DT__NUM_EMPTY;
    dt__decimal d;
    if (dt__num_split(s + a, b - a, &d) != 0) {
        double w;
        if (!nonfinite_word(s + a, b - a, &w))
            return DT__NUM_SYNTAX;
        *out = w;
        return DT__NUM_NONFINITE;
    }
    double v = decimal_value(&d);
    if (!isfinite(v))
        return DT__NUM_OVERFLOW;
    *out = v;
    return DT__NUM_OK;
}

/* ---- writing ---- */

static size_t put_uint(char *buf, unsigned v, int width)
{
    char tmp[16];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0 || n < width);
    size_t o = 0;
    while (n > 0)
        buf[o++] = tmp[--n];
    return o;
}

/* |v|'s digits with p significant (p 1..17) and the power of ten of the
 * first, read out of "%.*e" whatever the locale's decimal point: digits,
 * then anything up to the 'e', then the exponent. */
static int e_digits(double v, int p, char *dig, int *x10)
{
    char tmp[64];
    int n = snprintf(tmp, sizeof tmp, "%.*e", p - 1, fabs(v));
    if (n <= 0 || (size_t)n >= sizeof tmp)
        return -1;
    int nd = 0, i = 0;
    for (; tmp[i] != '\0' && tmp[i] != 'e' && tmp[i] != 'E'; i++)
        if (is_digit(tmp[i]) && nd < p)
            dig[nd++] = tmp[i];
    if (nd != p || tmp[i] == '\0')
        return -1;
    i++;
    int neg = tmp[i] == '-';
    if (tmp[i] == '-' || tmp[i] == '+')
        i++;
    int x = 0;
    for (; is_digit(tmp[i]); i++)
        x = x * 10 + (tmp[i] - '0');
    *x10 = neg ? -x : x;
    return 0;
}

/* Whether p digits with the first at 10^x read back to exactly a (>= 0). */
static int reads_back(const char *dig, int p, int x, double a)
{
    char t[48];
    memcpy(t, dig, (size_t)p);
    size_t n = (size_t)p;
    t[n++] = 'e';
    n += put_long(t + n, (long)x - (p - 1));
    double back;
    return dt__num_parse(t, n, &back) == DT__NUM_OK && back == a;
}

/* %g's text of v from its p digits and exponent x: the exponent form when
 * x < -4 or x >= p, else fixed; trailing zeros and a bare point dropped. */
static size_t g_form(char *buf, double v, const char *dig, int p, int x)
{
    int nd = p;
    while (nd > 1 && dig[nd - 1] == '0')
        nd--;
    size_t o = 0;
    if (signbit(v))
        buf[o++] = '-';
    if (x < -4 || x >= p) {
        buf[o++] = dig[0];
        if (nd > 1) {
            buf[o++] = '.';
            memcpy(buf + o, dig + 1, (size_t)nd - 1);
            o += (size_t)nd - 1;
        }
        buf[o++] = 'e';
        buf[o++] = x < 0 ? '-' : '+';
        o += put_uint(buf + o, (unsigned)(x < 0 ? -x : x), 2);
    } else if (x >= 0) {
        for (int i = 0; i <= x; i++)
            buf[o++] = i < nd ? dig[i] : '0';
        if (nd > x + 1) {
            buf[o++] = '.';
            memcpy(buf + o, dig + x + 1, (size_t)(nd - x - 1));
            o += (size_t)(nd - x - 1);
        }
    } else {
        buf[o++] = '0';
        buf[o++] = '.';
        for (int i = 0; i < -x - 1; i++)
            buf[o++] = '0';
        memcpy(buf + o, dig, (size_t)nd);
        o += (size_t)nd;
    }
    buf[o] = '\0';
    return o;
}

size_t dt__num_format_g(char *buf, size_t cap, double v, int prec)
{
    char dig[17];
    int x;
    if (!isfinite(v) || prec < 1 || prec > 17 || cap < DT__NUM_TEXT ||
        e_digits(v, prec, dig, &x) != 0)
        return 0;
    return g_form(buf, v, dig, prec, x);
}

size_t dt__num_format(char *buf, size_t cap, double v)
{
    if (!isfinite(v) || cap < DT__NUM_TEXT)
        return 0;
    char dig[17];
    int p, x = 0;
    for (p = 15; p <= 17; p++) {
        if (e_digits(v, p, dig, &x) != 0)
            return 0;
        /* 17 digits always read back (IEEE 754 binary64) */
        if (p == 17 || reads_back(dig, p, x, fabs(v)))
            break;
    }
    return g_form(buf, v, dig, p, x);
}

size_t dt__num_format_ns(char *buf, size_t cap, int64_t t)
{
    if (cap < DT__NUM_TEXT)
        return 0;
    uint64_t u = t < 0 ? 0 - (uint64_t)t : (uint64_t)t; /* INT64_MIN too */
    uint64_t whole = u / 1000000000u, frac = u % 1000000000u;
    char tmp[24];
    int n = 0;
    for (int i = 0; i < 9; i++, frac /= 10)
        tmp[n++] = (char)('0' + frac % 10);
    tmp[n++] = '.';
    do {
        tmp[n++] = (char)('0' + whole % 10);
        whole /= 10;
    } while (whole != 0);
    size_t o = 0;
    if (t < 0)
        buf[o++] = '-';
    while (n > 0)
        buf[o++] = tmp[--n];
    buf[o] = '\0';
    return o;
}
