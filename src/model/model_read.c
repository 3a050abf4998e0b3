/* The model's readers of the description (typed members with the model's
 * messages, ids, semantic ids) and its id index (sorting, duplicates,
 * lookup). */
#define _POSIX_C_SOURCE 200809L
#include <string.h>
#include <math.h>

#include "../desc/desc.h"
#include "../platform/internal.h"
#include "model_internal.h"

#define fail dt__fail
#define q dt__mq

/* Quotes a string for a message, cut to keep messages readable: at a
 * character's start, so the message stays UTF-8. */
const char *dt__mq(const char *s, char *buf, size_t cap)
{
    if (strlen(s) > 40) {
        int cut = 40;
        while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
            cut--;
        dt__fmt(buf, cap, "\"%.*s...\"", cut, s);
    } else {
        dt__fmt(buf, cap, "\"%s\"", s);
    }
    return buf;
}

/* Checks that obj is an object whose keys are all in `allowed` (or, with
 * sections, a section a layer registered), each at most once. At most 32
 * allowed keys (a bit each). */
int dt__m_object(dt__mctx *c, const dt_config *obj, const char *path,
                        const char *const *allowed, int sections)
{
    if (!dt__cfg_is_object(obj))
        return fail(c, DT_EPARSE, path, "expected an object, got %s",
                    dt__cfg_type_name(obj));
    uint32_t seen = 0;
    for (const dt_config *it = dt__cfg_child(obj); it != NULL; it = dt__cfg_next(it)) {
        int idx = -1;
        for (int k = 0; allowed[k] != NULL; k++)
            if (strcmp(allowed[k], dt__cfg_key(it)) == 0) {
                idx = k;
                break;
            }
        char sub[128], qb[64];
        dt__fmt(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "",
                dt__cfg_key(it));
        if (idx < 0 && sections && dt__desc_is_section(dt__cfg_key(it)))
            continue; /* a layer's (duplicates were refused by the parser) */
        if (idx < 0)
            return fail(c, DT_EPARSE, sub, "unknown key %s",
                        q(dt__cfg_key(it), qb, sizeof qb));
        if (seen & (1u << idx))
            return fail(c, DT_EPARSE, sub, "duplicate key");
        seen |= 1u << idx;
    }
    return DT_OK;
}


void dt__m_subpath(char *out, size_t cap, const char *path, const char *key)
{
    dt__fmt(out, cap, "%s%s%s", path, path[0] ? "." : "", key);
}

/* Reads an optional (or required) string member into a fresh copy.
 * *out stays NULL when absent and optional. */
int dt__m_string(dt__mctx *c, const dt_config *obj, const char *key,
                      const char *path, int required, char **out)
{
    char p[128];
    dt__m_subpath(p, sizeof p, path, key);
    const dt_config *v = dt_config_get(obj, key);
    if (v == NULL) {
        if (required)
            return fail(c, DT_EPARSE, p, "missing (required string)");
        return DT_OK;
    }
    if (!dt__cfg_is_string(v))
        return fail(c, DT_EPARSE, p, "expected a string, got %s",
                    dt__cfg_type_name(v));
    size_t len = strlen(dt__cfg_str(v));
    if (len > c->lim->max_string_bytes)
        return fail(c, DT_ELIMIT, p, "longer than %zu bytes",
                    c->lim->max_string_bytes);
    *out = dt__strndup(&c->m->alloc, dt__cfg_str(v), len);
    if (*out == NULL)
        return fail(c, DT_ENOMEM, p, "out of memory");
    return DT_OK;
}

int dt__m_number(dt__mctx *c, const dt_config *obj, const char *key,
                      const char *path, int required, double *out,
                      int *present)
{
    char p[128];
    dt__m_subpath(p, sizeof p, path, key);
    const dt_config *v = dt_config_get(obj, key);
    if (present)
        *present = v != NULL;
    if (v == NULL) {
        if (required)
            return fail(c, DT_EPARSE, p, "missing (required number)");
        return DT_OK;
    }
    if (!dt__cfg_is_number(v))
        return fail(c, DT_EPARSE, p, "expected a number, got %s",
                    dt__cfg_type_name(v));
    if (!isfinite(dt__cfg_num(v)))
        return fail(c, DT_EPARSE, p, "number out of range (not finite)");
    *out = dt__cfg_num(v);
    return DT_OK;
}

/* Ids: a letter or '_' first, then letters, digits, '_', '.', ':', '-'. Kept
 * small so ids can appear unquoted in paths, CSV headers and expressions. */
static int valid_id(const char *s)
{
    char ch = s[0];
    if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_'))
        return 0;
    for (const char *p = s + 1; *p; p++) {
        ch = *p;
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
              (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' ||
              ch == ':' || ch == '-'))
            return 0;
    }
    return 1;
}

int dt__m_id(dt__mctx *c, const dt_config *obj, const char *key, const char *path,
                  char **out)
{
    int rc = dt__m_string(c, obj, key, path, 1, out);
    if (rc != DT_OK)
        return rc;
    if (!valid_id(*out)) {
        char p[128], qb[64];
        dt__m_subpath(p, sizeof p, path, key);
        return fail(c, DT_EPARSE, p,
                    "invalid id %s (letters, digits, '_', '.', ':', '-'; "
                    "starting with a letter or '_')",
                    q(*out, qb, sizeof qb));
    }
    return DT_OK;
}

/* A semantic id is an IRI (scheme ":" rest, e.g. "https://..." or "urn:...")
 * or an IRDI (ISO 29002-5, e.g. "0173-1#02-AAO677#002"): printable ASCII, no
 * spaces. The check catches slips, it is not a full RFC 3987 parser. */
static int valid_semantic_id(const char *s)
{
    if (s[0] == '\0')
        return 0;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7F)
            return 0;
    const char *colon = strchr(s, ':');
    if (colon != NULL && colon != s && colon[1] != '\0') {
        for (const char *p = s; p < colon; p++) {
            char ch = *p;
            int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                     (p != s && ((ch >= '0' && ch <= '9') || ch == '+' ||
                                 ch == '.' || ch == '-'));
            if (!ok)
                return 0;
        }
        return 1;
    }
    /* IRDI: digits and letters with '#' separators and '-' inside parts. */
    int hashes = 0;
    for (const char *p = s; *p; p++) {
        char ch = *p;
        if (ch == '#')
            hashes++;
        else if (!((ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') ||
                   (ch >= 'a' && ch <= 'z') || ch == '-' || ch == '_' ||
                   ch == '/' || ch == '.'))
            return 0;
    }
    return hashes >= 1 && s[0] != '#' && s[strlen(s) - 1] != '#';
}

int dt__m_semantic_id(dt__mctx *c, const dt_config *obj, const char *path,
                           char **out)
{
    int rc = dt__m_string(c, obj, "semanticId", path, 0, out);
    if (rc != DT_OK || *out == NULL)
        return rc;
    if (!valid_semantic_id(*out)) {
        char p[128], qb[64];
        dt__m_subpath(p, sizeof p, path, "semanticId");
        return fail(c, DT_EPARSE, p,
                    "%s is neither an IRI (scheme:...) nor an IRDI "
                    "(e.g. 0173-1#02-AAO677#002)",
                    q(*out, qb, sizeof qb));
    }
    return DT_OK;
}

int dt__m_array(dt__mctx *c, const dt_config *root, const char *key, size_t limit,
                     const dt_config **out, size_t *count)
{
    const dt_config *v = dt_config_get(root, key);
    if (v == NULL)
        return fail(c, DT_EPARSE, key, "missing (required array)");
    if (!dt__cfg_is_array(v))
        return fail(c, DT_EPARSE, key, "expected an array, got %s",
                    dt__cfg_type_name(v));
    size_t n = 0;
    for (const dt_config *it = dt__cfg_child(v); it != NULL; it = dt__cfg_next(it))
        if (++n > limit)
            return fail(c, DT_ELIMIT, key, "more than %zu entries", limit);
    *out = v;
    *count = n;
    return DT_OK;
}

/* ---- sorting ids for lookup and duplicate detection ---- */

const char *dt__asset_key(const dt_model *m, uint32_t i)
{
    return m->asset_recs[i].id;
}
const char *dt__signal_key(const dt_model *m, uint32_t i)
{
    return m->signal_recs[i].id;
}

/* Bottom-up merge sort of an index array: O(n log n) for 65536 signals, stable,
 * and needs only one scratch index. */
static void merge_sort(const dt_model *m,
                       const char *(*key)(const dt_model *, uint32_t),
                       uint32_t *a, uint32_t *tmp, size_t n)
{
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                /* <= keeps equal ids in input order, so the duplicate we
                 * report is the later one. */
                if (strcmp(key(m, a[i]), key(m, a[j])) <= 0)
                    tmp[k++] = a[i++];
                else
                    tmp[k++] = a[j++];
            }
            while (i < mid)
                tmp[k++] = a[i++];
            while (j < hi)
                tmp[k++] = a[j++];
        }
        memcpy(a, tmp, n * sizeof *a);
    }
}

int dt__m_index(dt__mctx *c, const char *what, size_t n,
                       const char *(*key)(const dt_model *, uint32_t),
                       uint32_t **out)
{
    dt_model *m = c->m;
    uint32_t *idx = dt__calloc(&m->alloc, n, sizeof *idx);
    uint32_t *tmp = dt__calloc(&m->alloc, n, sizeof *tmp);
    if (idx == NULL || tmp == NULL) {
        dt__free(&m->alloc, idx);
        dt__free(&m->alloc, tmp);
        return fail(c, DT_ENOMEM, what, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        idx[i] = (uint32_t)i;
    merge_sort(m, key, idx, tmp, n);
    dt__free(&m->alloc, tmp);
    *out = idx;
    for (size_t i = 1; i < n; i++)
        if (strcmp(key(m, idx[i - 1]), key(m, idx[i])) == 0) {
            char p[128], qb[64];
            uint32_t first = idx[i - 1] < idx[i] ? idx[i - 1] : idx[i];
            uint32_t second = idx[i - 1] < idx[i] ? idx[i] : idx[i - 1];
            dt__fmt(p, sizeof p, "%s[%u].id", what, second);
            return fail(c, DT_EPARSE, p, "duplicate id %s (first at %s[%u])",
                        q(key(m, second), qb, sizeof qb), what, first);
        }
    return DT_OK;
}

int dt__lookup(const dt_model *m, const uint32_t *sorted, size_t n,
               dt__key_fn key, const char *id, uint32_t *out)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(key(m, sorted[mid]), id);
        if (cmp == 0) {
            *out = sorted[mid];
            return DT_OK;
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return DT_ENOTFOUND;
}

