/* Command payloads: numbers and times as text, and a template compiled once
 * from the description's text (and checked as JSON with cJSON, which
 * allocates), then rendered for every command into the caller's buffer (no
 * allocation, no locale). */
#include <math.h>
#include <string.h>

#include "dtwin/time.h"

#include "../platform/internal.h"
#include "../platform/numtext.h"
#include "payload.h"

/* ---- numbers and times as text ---- */

/* a value is written by dt__num_format into a buffer of this size */
_Static_assert(DT__PAYLOAD_RENDER_NUM >= DT__NUM_TEXT, "a rendered number's buffer");

/* u in decimal, at least width digits (zeros in front). */
static size_t put_u64(char *buf, uint64_t u, int width)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0 || n < width);
    size_t o = 0;
    while (n > 0)
        buf[o++] = tmp[--n];
    return o;
}

size_t dt__payload_fmt_rfc3339(char *buf, size_t cap, int64_t t)
{
    if (cap < 31)
        return 0;
    /* floor division: -1 ns is 1969-12-31T23:59:59.999999999Z */
    int64_t secs = t / DT_NS_PER_S, frac = t % DT_NS_PER_S;
    if (frac < 0) {
        secs--;
        frac += DT_NS_PER_S;
    }
    int64_t days = secs / 86400, sod = secs % 86400;
    if (sod < 0) {
        days--;
        sod += 86400;
    }
    int64_t y;
    int m, d;
    dt__payload_civil_from_days(days, &y, &m, &d); /* int64 ns: years 1677..2262 */
    size_t o = put_u64(buf, (uint64_t)y, 4);
    buf[o++] = '-';
    o += put_u64(buf + o, (uint64_t)m, 2);
    buf[o++] = '-';
    o += put_u64(buf + o, (uint64_t)d, 2);
    buf[o++] = 'T';
    o += put_u64(buf + o, (uint64_t)(sod / 3600), 2);
    buf[o++] = ':';
    o += put_u64(buf + o, (uint64_t)(sod / 60 % 60), 2);
    buf[o++] = ':';
    o += put_u64(buf + o, (uint64_t)(sod % 60), 2);
    buf[o++] = '.';
    o += put_u64(buf + o, (uint64_t)frac, 9);
    buf[o++] = 'Z';
    buf[o] = '\0';
    return o;
}

size_t dt__payload_fmt_seconds(char *buf, size_t cap, int64_t t)
{
    if (cap < DT__PAYLOAD_RENDER_NUM)
        return 0;
    size_t o = dt__num_format_ns(buf, cap, t); /* 9 decimals, exact */
    while (buf[o - 1] == '0')
        o--;
    if (buf[o - 1] == '.')
        o--;
    buf[o] = '\0';
    return o;
}

static size_t fmt_i64(char *buf, int64_t v)
{
    size_t o = 0;
    if (v < 0)
        buf[o++] = '-';
    return o + put_u64(buf + o, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, 1); /* INT64_MIN too */
}

/* ---- commands ---- */

static const struct {
    const char *name;
    uint8_t kind;
} placeholders[] = {
    {"value", DT__TPL_VALUE}, {"t_ns", DT__TPL_T_NS}, {"t_s", DT__TPL_T_S},
    {"t_rfc3339", DT__TPL_T_RFC3339}, {"seq", DT__TPL_SEQ},
};
#define NPLACEHOLDERS (sizeof placeholders / sizeof placeholders[0])
#define KNOWN "{value}, {t_ns}, {t_s}, {t_rfc3339}, {seq}"

/* The samples every template is rendered with at compile time: a template
 * must be valid JSON for positive and negative values, exponents, the
 * extremes of the times and of seq. */
static const struct {
    double value;
    int64_t t_ns;
    uint64_t seq;
} samples[] = {
    {1.5, INT64_C(1764633601123456789), 1},
    {-2.5e-300, INT64_C(-1500000001), UINT64_MAX},
    {-0.0, 0, 0},
    {1e300, INT64_MIN, 12},
    {-123456789.125, INT64_MAX, 4294967296u},
};

static int tpl_fail(char *err, size_t errn, const char *text, size_t at, const char *what)
{
    if (err != NULL && errn > 0)
        dt__fmt(err, errn, "template \"%.200s\": at character %zu: %s", text, at + 1, what);
    return -1;
}

static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* Appends one literal byte, extending the last text part. */
static int add_text(dt__payload_template *tpl, size_t *o, char c)
{
    dt__payload_tpl_part *last = tpl->nparts > 0 ? &tpl->part[tpl->nparts - 1] : NULL;
    if (last == NULL || last->kind != DT__TPL_TEXT) {
        if (tpl->nparts == DT__PAYLOAD_TPL_PARTS)
            return -1;
        last = &tpl->part[tpl->nparts++];
        last->kind = DT__TPL_TEXT;
        last->off = (uint16_t)*o;
        last->len = 0;
    }
    tpl->text[(*o)++] = c;
    last->len++;
    return 0;
}

int dt__payload_template_compile(const char *text, const dt_allocator *alloc,
                                 dt__payload_template *tpl, char *err, size_t errn)
{
    memset(tpl, 0, sizeof *tpl);
    if (text == NULL)
        return 0; /* the bare number */
    size_t len = strlen(text);
    if (len == 0)
        return tpl_fail(err, errn, text, 0, "empty (leave the template out for the bare number)");
    if (len >= DT__PAYLOAD_TPL_TEXT)
        return tpl_fail(err, errn, text, DT__PAYLOAD_TPL_TEXT - 1, "longer than 1023 bytes");
    size_t i = 0, o = 0;
    while (i < len) {
        char c = text[i];
        if ((c == '{' || c == '}') && text[i + 1] == c) {
            if (add_text(tpl, &o, c) != 0)
                return tpl_fail(err, errn, text, i, "more than 64 parts");
            i += 2;
            continue;
        }
        if (c == '}')
            return tpl_fail(err, errn, text, i, "a single '}' (write }} for a brace)");
        if (c != '{') {
            if (add_text(tpl, &o, c) != 0)
                return tpl_fail(err, errn, text, i, "more than 64 parts");
            i++;
            continue;
        }
        size_t s = i + 1, e = s;
        while (e < len && is_name_char(text[e]))
            e++;
        if (e >= len || text[e] != '}' || e == s)
            return tpl_fail(err, errn, text, i,
                            "a '{' that starts no placeholder (write {{ for a brace; "
                            "placeholders: " KNOWN ")");
        size_t k = 0;
        while (k < NPLACEHOLDERS &&
               !(strlen(placeholders[k].name) == e - s &&
                 memcmp(placeholders[k].name, text + s, e - s) == 0))
            k++;
        if (k == NPLACEHOLDERS) {
            char what[160];
            dt__fmt(what, sizeof what, "unknown placeholder {%.*s} (known: " KNOWN ")",
                    (int)(e - s > 40 ? 40 : e - s), text + s);
            return tpl_fail(err, errn, text, i, what);
        }
        if (tpl->nparts == DT__PAYLOAD_TPL_PARTS)
            return tpl_fail(err, errn, text, i, "more than 64 parts");
        tpl->part[tpl->nparts++] = (dt__payload_tpl_part){placeholders[k].kind, 0, 0};
        i = e + 1;
    }
    /* every rendered sample must be one JSON document, as the payload
     * reader takes one (cJSON, the same checks around it) */
    char buf[DT__PAYLOAD_TPL_TEXT + DT__PAYLOAD_TPL_PARTS * DT__PAYLOAD_RENDER_NUM];
    for (size_t j = 0; j < sizeof samples / sizeof samples[0]; j++) {
        size_t n = dt__payload_render(buf, sizeof buf, tpl, samples[j].value, samples[j].t_ns,
                                      samples[j].seq);
        size_t at = 0;
        int r = n == 0 ? DT__PAYLOAD_TOO_LONG : dt__payload_json_check(buf, n, alloc, &at);
        if (r == DT__PAYLOAD_OK)
            continue;
        memset(tpl, 0, sizeof *tpl);
        if (r == DT__PAYLOAD_NO_MEMORY)
            return tpl_fail(err, errn, text, 0, "out of memory while checking it as JSON");
        char where[48];
        if (at != 0)
            dt__fmt(where, sizeof where, "wrong at its character %zu", at);
        else
            dt__fmt(where, sizeof where, "%s",
                    r == DT__PAYLOAD_BAD_JSON ? "nested deeper than 64 levels"
                                              : dt__payload_reason_text(r));
        char what[400];
        dt__fmt(what, sizeof what,
                "not valid JSON once rendered: %.200s (%s; a string placeholder such as "
                "{t_rfc3339} needs quotes around it)",
                n == 0 ? "" : buf, where);
        return tpl_fail(err, errn, text, 0, what);
    }
    return 0;
}

size_t dt__payload_render(char *out, size_t cap, const dt__payload_template *tpl, double value,
                          int64_t t_ns, uint64_t seq)
{
    if (!isfinite(value) || out == NULL || cap == 0 || tpl == NULL)
        return 0;
    char num[DT__PAYLOAD_RENDER_NUM];
    if (tpl->nparts == 0) {
        size_t n = dt__num_format(num, sizeof num, value);
        if (n == 0 || n >= cap)
            return 0;
        memcpy(out, num, n + 1);
        return n;
    }
    size_t o = 0;
    for (unsigned p = 0; p < tpl->nparts && p < DT__PAYLOAD_TPL_PARTS; p++) {
        const dt__payload_tpl_part *part = &tpl->part[p];
        const char *src = num;
        size_t n;
        switch (part->kind) {
        case DT__TPL_TEXT:
            if ((size_t)part->off + part->len > DT__PAYLOAD_TPL_TEXT)
                return 0;
            src = tpl->text + part->off;
            n = part->len;
            break;
        case DT__TPL_VALUE:
            n = dt__num_format(num, sizeof num, value);
            break;
        case DT__TPL_T_NS:
            n = fmt_i64(num, t_ns);
            break;
        case DT__TPL_T_S:
            n = dt__payload_fmt_seconds(num, sizeof num, t_ns);
            break;
        case DT__TPL_T_RFC3339:
            n = dt__payload_fmt_rfc3339(num, sizeof num, t_ns);
            break;
        case DT__TPL_SEQ:
            n = put_u64(num, seq, 1);
            break;
        default:
            return 0;
        }
        if (n >= cap - o)
            return 0; /* the NUL must fit too */
        memcpy(out + o, src, n);
        o += n;
    }
    out[o] = '\0';
    return o;
}
