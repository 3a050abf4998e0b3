/* JSON payloads: one pass over the bytes that checks the document (RFC 8259)
 * and finds the value (and the time) at their compiled paths, without
 * building a tree. Why not cJSON, which reads the description: cJSON
 * allocates a node per value and a copy per string on every parse, and keeps
 * a number only as a double, while the loop this runs in allocates nothing
 * and a time in ns since the epoch (1.8e18) needs all 19 digits of its text.
 * Here nothing is allocated, nesting is bounded by a 64-bit mask instead of
 * recursion, and a found scalar is kept as the span of its bytes.
 *
 * What a path finds agrees with cJSON_GetObjectItemCaseSensitive and
 * cJSON_GetArrayItem: keys compare byte for byte after the escapes are
 * decoded, and of a key given twice in one object the first is taken. */
#include <string.h>

#include "payload.h"

/* One path being looked for during the pass. The steps matched so far name a
 * chain of open containers; the deepest, at depth m + 1 (the root value is
 * at depth 0), is the frontier, whose members are compared with step m. */
typedef struct target {
    const dt__payload_path *p;
    int m;        /* steps matched */
    int used;     /* the frontier had its match: a later duplicate is ignored */
    uint32_t idx; /* elements seen in the frontier array */
    int pending;  /* the value about to start is the one step m - 1 named */
    int done;     /* found, or can no longer be */
    int found;
    int rec;      /* a found scalar is being read: its end is wanted */
    char type;    /* 'n'umber, 's'tring, 't'rue, 'f'alse, 'z' null, 'o'bject, 'a'rray */
    size_t s, e;  /* a found scalar's bytes (a string's without the quotes) */
} target;

typedef struct scan {
    const char *b;
    size_t n;
    target *t;
    int nt;
} scan;

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

static size_t skip_ws(const scan *sc, size_t i)
{
    while (i < sc->n && is_ws(sc->b[i]))
        i++;
    return i;
}

/* ---- strings ---- */

/* Where the bytes of a string go as they are decoded: compared with up to
 * two keys, and copied into out when it is given. */
typedef struct sink {
    const char *key[2];
    size_t klen[2], kpos[2];
    int eq[2];
    int nk;
    char *out;
    size_t cap, len;
    int overflow;
} sink;

static void put(sink *k, char c)
{
    for (int j = 0; j < k->nk; j++) {
        if (k->eq[j] && k->kpos[j] < k->klen[j] && k->key[j][k->kpos[j]] == c)
            k->kpos[j]++;
        else
            k->eq[j] = 0;
    }
    if (k->out != NULL) {
        if (k->len < k->cap)
            k->out[k->len++] = c;
        else
            k->overflow = 1;
    }
}

static void put_utf8(sink *k, uint32_t cp)
{
    if (cp < 0x80) {
        put(k, (char)cp);
    } else if (cp < 0x800) {
        put(k, (char)(0xC0 | (cp >> 6)));
        put(k, (char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        put(k, (char)(0xE0 | (cp >> 12)));
        put(k, (char)(0x80 | ((cp >> 6) & 0x3F)));
        put(k, (char)(0x80 | (cp & 0x3F)));
    } else {
        put(k, (char)(0xF0 | (cp >> 18)));
        put(k, (char)(0x80 | ((cp >> 12) & 0x3F)));
        put(k, (char)(0x80 | ((cp >> 6) & 0x3F)));
        put(k, (char)(0x80 | (cp & 0x3F)));
    }
}

/* Four hex digits at b[i..i+4), or -1. */
static long hex4(const scan *sc, size_t i)
{
    if (sc->n - i < 4)
        return -1;
    long v = 0;
    for (size_t j = i; j < i + 4; j++) {
        char c = sc->b[j];
        int d = is_digit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                      : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                                               : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* The string opening at b[*pi] ('"'), decoded into k (may be NULL).
 * Control bytes (NUL included) must be escaped, escapes must be JSON's, a
 * \u surrogate must be a pair; bytes from 0x80 are taken as they are (not
 * checked as UTF-8). 0 with *pi past the closing quote, or -1 with *pi at
 * the fault. */
static int scan_string(const scan *sc, size_t *pi, sink *k)
{
    sink none = {.nk = 0};
    if (k == NULL)
        k = &none;
    size_t i = *pi + 1;
    for (;;) {
        if (i >= sc->n)
            break;
        char c = sc->b[i];
        if (c == '"') {
            for (int j = 0; j < k->nk; j++)
                k->eq[j] = k->eq[j] && k->kpos[j] == k->klen[j];
            *pi = i + 1;
            return 0;
        }
        if ((unsigned char)c < 0x20)
            break;
        if (c != '\\') {
            put(k, c);
            i++;
            continue;
        }
        if (i + 1 >= sc->n)
            break;
        char e = sc->b[i + 1];
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *f = e != '\0' ? strchr(from, e) : NULL;
        if (f != NULL) {
            put(k, to[f - from]);
            i += 2;
            continue;
        }
        if (e != 'u')
            break;
        long cp = hex4(sc, i + 2);
        if (cp < 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
            break; /* not hex, or a low surrogate alone */
        i += 6;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            long lo = i + 1 < sc->n && sc->b[i] == '\\' && sc->b[i + 1] == 'u'
                          ? hex4(sc, i + 2)
                          : -1;
            if (lo < 0xDC00 || lo > 0xDFFF) {
                i -= 6;
                break; /* a high surrogate alone */
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
        }
        put_utf8(k, (uint32_t)cp);
    }
    *pi = i;
    return -1;
}

/* ---- numbers and literals ---- */

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int scan_number(const scan *sc, size_t *pi)
{
    size_t i = *pi, n = sc->n;
    const char *b = sc->b;
    if (i < n && b[i] == '-')
        i++;
    if (i < n && b[i] == '0') {
        i++;
    } else if (i < n && b[i] >= '1' && b[i] <= '9') {
        while (i < n && is_digit(b[i]))
            i++;
    } else {
        *pi = i;
        return -1;
    }
    if (i < n && b[i] == '.') {
        i++;
        if (i >= n || !is_digit(b[i])) {
            *pi = i;
            return -1;
        }
        while (i < n && is_digit(b[i]))
            i++;
    }
    if (i < n && (b[i] == 'e' || b[i] == 'E')) {
        i++;
        if (i < n && (b[i] == '+' || b[i] == '-'))
            i++;
        if (i >= n || !is_digit(b[i])) {
            *pi = i;
            return -1;
        }
        while (i < n && is_digit(b[i]))
            i++;
    }
    *pi = i;
    return 0;
}

static int scan_literal(const scan *sc, size_t *pi, const char *word)
{
    size_t len = strlen(word);
    if (sc->n - *pi < len || memcmp(sc->b + *pi, word, len) != 0)
        return -1;
    *pi += len;
    return 0;
}

/* ---- the paths ---- */

static const dt__payload_step *frontier_step(const target *t, int depth)
{
    if (t->done || t->pending || t->used || depth != t->m + 1 || t->m >= t->p->n)
        return NULL;
    return &t->p->step[t->m];
}

/* A member's key was read (sink k compared it with each target's step). */
static void on_member(scan *sc, int depth, const sink *k)
{
    for (int j = 0; j < sc->nt; j++) {
        const dt__payload_step *st = frontier_step(&sc->t[j], depth);
        if (st != NULL && !st->is_index && k->eq[j])
            sc->t[j].used = sc->t[j].pending = 1;
    }
}

/* An element of an array is about to start. */
static void on_element(scan *sc, int depth)
{
    for (int j = 0; j < sc->nt; j++) {
        target *t = &sc->t[j];
        const dt__payload_step *st = frontier_step(t, depth);
        if (st != NULL && st->is_index && t->idx++ == st->index)
            t->used = t->pending = 1;
    }
}

/* A value starts at b[i] (c): the one a step named? */
static void on_value(scan *sc, char c, size_t i)
{
    for (int j = 0; j < sc->nt; j++) {
        target *t = &sc->t[j];
        if (!t->pending)
            continue;
        t->pending = 0;
        if (t->m + 1 == t->p->n) {
            t->found = t->done = 1;
            t->type = c == '{' ? 'o' : c == '[' ? 'a' : c == '"' ? 's' : c == 't' ? 't'
                    : c == 'f'   ? 'f'
                    : c == 'n'   ? 'z'
                                 : 'n';
            t->s = c == '"' ? i + 1 : i;
            t->rec = t->type == 'n' || t->type == 's';
        } else if (c == '{' || c == '[') {
            t->m++; /* the container opening now is the new frontier */
            t->used = 0;
            t->idx = 0;
        } else {
            t->done = 1; /* a scalar where the path goes on */
        }
    }
}

static void on_scalar_end(scan *sc, size_t end)
{
    for (int j = 0; j < sc->nt; j++) {
        target *t = &sc->t[j];
        if (t->rec) {
            t->e = t->type == 's' ? end - 1 : end;
            t->rec = 0;
        }
    }
}

static void on_close(scan *sc, int depth)
{
    for (int j = 0; j < sc->nt; j++)
        if (!sc->t[j].done && depth == sc->t[j].m + 1)
            sc->t[j].done = 1; /* the frontier ended without the step's member */
}

/* ---- the pass ---- */

enum { ST_VALUE, ST_AFTER, ST_MEMBER };

/* 0, or the offset + 1 of the byte where the text stops being one JSON
 * document (n + 1 when it ends early). */
static size_t scan_doc(scan *sc)
{
    uint64_t is_obj = 0; /* bit d - 1: the container at depth d is an object */
    int depth = 0, st = ST_VALUE;
    size_t i = skip_ws(sc, 0);
    for (;;) {
        if (st == ST_VALUE) {
            i = skip_ws(sc, i);
            if (i >= sc->n)
                return sc->n + 1;
            char c = sc->b[i];
            on_value(sc, c, i);
            if (c == '{' || c == '[') {
                if (depth == DT__PAYLOAD_JSON_DEPTH)
                    return i + 1;
                uint64_t bit = (uint64_t)1 << depth;
                is_obj = c == '{' ? is_obj | bit : is_obj & ~bit;
                depth++;
                i = skip_ws(sc, i + 1);
                if (i < sc->n && sc->b[i] == (c == '{' ? '}' : ']')) {
                    i++;
                    on_close(sc, depth--);
                    st = ST_AFTER;
                } else if (c == '{') {
                    st = ST_MEMBER;
                } else {
                    on_element(sc, depth);
                }
                continue;
            }
            int rc;
            if (c == '"')
                rc = scan_string(sc, &i, NULL);
            else if (c == '-' || is_digit(c))
                rc = scan_number(sc, &i);
            else if (c == 't')
                rc = scan_literal(sc, &i, "true");
            else if (c == 'f')
                rc = scan_literal(sc, &i, "false");
            else if (c == 'n')
                rc = scan_literal(sc, &i, "null");
            else
                rc = -1;
            if (rc != 0)
                return i + 1;
            on_scalar_end(sc, i);
            st = ST_AFTER;
        } else if (st == ST_AFTER) {
            i = skip_ws(sc, i);
            if (depth == 0)
                return i == sc->n ? 0 : i + 1;
            if (i >= sc->n)
                return sc->n + 1;
            int obj = (int)((is_obj >> (depth - 1)) & 1);
            char c = sc->b[i++];
            if (c == ',') {
                if (obj) {
                    st = ST_MEMBER;
                } else {
                    on_element(sc, depth);
                    st = ST_VALUE;
                }
            } else if (c == (obj ? '}' : ']')) {
                on_close(sc, depth--);
            } else {
                return i;
            }
        } else { /* ST_MEMBER: "key" : */
            i = skip_ws(sc, i);
            if (i >= sc->n)
                return sc->n + 1;
            if (sc->b[i] != '"')
                return i + 1;
            sink k = {.nk = sc->nt};
            for (int j = 0; j < sc->nt; j++) {
                const dt__payload_step *fs = frontier_step(&sc->t[j], depth);
                k.eq[j] = fs != NULL && !fs->is_index;
                if (k.eq[j]) {
                    k.key[j] = sc->t[j].p->keys + fs->key_off;
                    k.klen[j] = fs->key_len;
                }
            }
            if (scan_string(sc, &i, &k) != 0)
                return i + 1;
            i = skip_ws(sc, i);
            if (i >= sc->n)
                return sc->n + 1;
            if (sc->b[i] != ':')
                return i + 1;
            i++;
            on_member(sc, depth, &k);
            st = ST_VALUE;
        }
    }
}

size_t dt__payload_json_check(const char *buf, size_t n)
{
    scan sc = {.b = buf, .n = n, .t = NULL, .nt = 0};
    return scan_doc(&sc);
}

/* ---- a payload to a sample ---- */

static int read_time(const dt__payload_spec *spec, const scan *sc, const target *t,
                     int64_t *ns)
{
    if (!t->found)
        return DT__PAYLOAD_NO_TIME;
    if (spec->time_enc != DT__PAYLOAD_TIME_RFC3339) {
        if (t->type != 'n')
            return DT__PAYLOAD_BAD_TIME;
        return dt__payload_time_number(sc->b + t->s, t->e - t->s, spec->time_enc, ns);
    }
    if (t->type != 's')
        return DT__PAYLOAD_BAD_TIME;
    /* the string once more, decoded: "\u0032026-..." is the same time */
    char text[DT__PAYLOAD_TIME_TEXT];
    sink k = {.out = text, .cap = sizeof text};
    size_t i = t->s - 1;
    if (scan_string(sc, &i, &k) != 0 || k.overflow)
        return DT__PAYLOAD_BAD_TIME;
    return dt__payload_rfc3339(text, k.len, ns);
}

int dt__payload_read(const dt__payload_spec *spec, const char *buf, size_t n,
                     dt__payload_value *out)
{
    if (n > 0 && buf == NULL)
        return DT__PAYLOAD_EMPTY;
    double v;
    if (spec->format == DT__PAYLOAD_FMT_NUMBER) {
        int r = n == 0 ? DT__PAYLOAD_EMPTY : dt__payload_number(buf, n, &v);
        if (r != DT__PAYLOAD_OK)
            return r;
        out->value = v;
        out->has_time = 0;
        out->t_ns = 0;
        return DT__PAYLOAD_OK;
    }
    size_t a = 0;
    while (a < n && (is_ws(buf[a]) || buf[a] == '\v' || buf[a] == '\f'))
        a++;
    if (a == n)
        return DT__PAYLOAD_EMPTY;
    if (n > DT__PAYLOAD_JSON_MAX)
        return DT__PAYLOAD_TOO_LONG;
    target t[2] = {{.p = &spec->value}, {.p = &spec->time}};
    scan sc = {.b = buf, .n = n, .t = t, .nt = spec->has_time ? 2 : 1};
    if (scan_doc(&sc) != 0)
        return DT__PAYLOAD_BAD_JSON;
    if (!t[0].found)
        return DT__PAYLOAD_NO_VALUE;
    switch (t[0].type) {
    case 'n': {
        int r = dt__payload_number(buf + t[0].s, t[0].e - t[0].s, &v);
        if (r != DT__PAYLOAD_OK)
            return r;
        break;
    }
    case 't':
    case 'f':
        if (!spec->allow_bool)
            return DT__PAYLOAD_VALUE_NOT_NUMBER;
        v = t[0].type == 't' ? 1.0 : 0.0;
        break;
    default:
        return DT__PAYLOAD_VALUE_NOT_NUMBER;
    }
    int64_t ns = 0;
    if (spec->has_time) {
        int r = read_time(spec, &sc, &t[1], &ns);
        if (r != DT__PAYLOAD_OK)
            return r;
    }
    out->value = v;
    out->has_time = spec->has_time != 0;
    out->t_ns = ns;
    return DT__PAYLOAD_OK;
}
