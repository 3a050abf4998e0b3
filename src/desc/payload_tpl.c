/* Command payloads: a template compiled once from the description's text,
 * then rendered for every command into the caller's buffer (no allocation,
 * no locale). */
#include <math.h>
#include <string.h>

#include "../platform/internal.h"
#include "payload.h"

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

static int is_name_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }

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

int dt__payload_template_compile(const char *text, dt__payload_template *tpl, char *err,
                                 size_t errn)
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
    /* every rendered sample must be one JSON document */
    char buf[DT__PAYLOAD_TPL_TEXT + DT__PAYLOAD_TPL_PARTS * DT__PAYLOAD_RENDER_NUM];
    for (size_t j = 0; j < sizeof samples / sizeof samples[0]; j++) {
        size_t n = dt__payload_render(buf, sizeof buf, tpl, samples[j].value, samples[j].t_ns,
                                      samples[j].seq);
        size_t bad = n == 0 ? 1 : dt__payload_json_check(buf, n);
        if (bad != 0) {
            char what[400];
            dt__fmt(what, sizeof what,
                    "not valid JSON once rendered: %.200s (wrong at its character %zu; "
                    "a string placeholder such as {t_rfc3339} needs quotes around it)",
                    buf, bad);
            memset(tpl, 0, sizeof *tpl);
            return tpl_fail(err, errn, text, 0, what);
        }
    }
    return 0;
}

static size_t fmt_i64(char *buf, int64_t v)
{
    char tmp[24];
    size_t n = 0, o = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
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

static size_t fmt_u64(char *buf, uint64_t u)
{
    char tmp[24];
    size_t n = 0, o = 0;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    while (n > 0)
        buf[o++] = tmp[--n];
    return o;
}

size_t dt__payload_render(char *out, size_t cap, const dt__payload_template *tpl, double value,
                          int64_t t_ns, uint64_t seq)
{
    if (!isfinite(value) || out == NULL || cap == 0 || tpl == NULL)
        return 0;
    char num[DT__PAYLOAD_RENDER_NUM];
    if (tpl->nparts == 0) {
        size_t n = dt__payload_fmt_number(num, sizeof num, value);
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
            n = dt__payload_fmt_number(num, sizeof num, value);
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
            n = fmt_u64(num, seq);
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
