/* JSON payloads through cJSON, the project's JSON library: the document is
 * parsed into a tree, the compiled paths are walked on it, and the value and
 * the time are read from the items found.
 *
 * What that costs, against a reader of our own:
 * - a parse allocates: cJSON makes a node per value, a copy per key and per
 *   string, and (Debian's 1.7.15) a temporary copy per number, through its
 *   hooks (json_hooks.c), here routed to the caller's allocator; 15
 *   allocations for a typical 6-value payload (test_payload_json measures
 *   it). The `number` format allocates nothing.
 * - cJSON keeps a number as a double, not as its text: a time given as a
 *   JSON number is taken as the shortest decimal that reads back to that
 *   double (see read_time), exact for what a device writes with at most 15
 *   significant digits, within a few hundred ns for 19-digit ns times.
 * - cJSON is laxer than RFC 8259 (leading zeros, "1.", a byte order mark,
 *   raw control bytes in strings); what it accepts is accepted here, with
 *   the checks below made first. */
#include <limits.h>
#include <math.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../platform/numtext.h"
#include "desc.h"
#include "payload.h"

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }


/* The document in buf[0..n) as a cJSON tree (*root, NULL on failure), inside
 * the caller's dt__json_enter scope; *at is the 1-based offset of the fault,
 * or 0 when there is none or it has no one place. */
static int parse_doc(const char *buf, size_t n, cJSON **root, size_t *at)
{
    *root = NULL;
    *at = 0;
    size_t a = 0;
    while (a < n && (is_ws(buf[a]) || buf[a] == '\v' || buf[a] == '\f'))
        a++;
    if (a == n)
        return DT__PAYLOAD_EMPTY;
    if (n > DT__PAYLOAD_JSON_MAX)
        return DT__PAYLOAD_TOO_LONG;
    /* cJSON reads up to n bytes but takes any byte up to 0x20, NUL included,
     * for whitespace between tokens, and ends a C string at a NUL it copies */
    const char *nul = memchr(buf, '\0', n);
    if (nul != NULL) {
        *at = (size_t)(nul - buf) + 1;
        return DT__PAYLOAD_BAD_JSON;
    }
    size_t bad = dt__json_nul_escape(buf, n);
    if (bad != 0) {
        *at = bad;
        return DT__PAYLOAD_BAD_JSON;
    }
    /* cJSON recurses up to its CJSON_NESTING_LIMIT of 1000 levels; ours is
     * lower, and checked on the bytes before any allocation */
    if (dt__json_depth(buf, n, NULL) > DT__PAYLOAD_JSON_DEPTH)
        return DT__PAYLOAD_BAD_JSON;
    const char *end = NULL;
    cJSON *r = cJSON_ParseWithLengthOpts(buf, n, &end, 0);
    if (r == NULL) {
        if (dt__json_oom())
            return DT__PAYLOAD_NO_MEMORY;
        *at = end != NULL && end >= buf && end < buf + n ? (size_t)(end - buf) + 1 : n;
        return DT__PAYLOAD_BAD_JSON;
    }
    /* with a length, cJSON's own check for trailing text also refuses a
     * document that fills the buffer: look past the end here */
    size_t off = (size_t)(end - buf);
    while (off < n && is_ws(buf[off]))
        off++;
    if (off < n) {
        cJSON_Delete(r);
        *at = off + 1;
        return DT__PAYLOAD_BAD_JSON;
    }
    *root = r;
    return DT__PAYLOAD_OK;
}

int dt__payload_json_check(const char *buf, size_t n, const dt_allocator *alloc, size_t *at)
{
    size_t where = 0;
    int r = DT__PAYLOAD_EMPTY;
    if (n == 0 || buf != NULL) {
        dt__json_scope s;
        dt__json_enter(&s, alloc != NULL ? alloc : dt_allocator_default());
        cJSON *root;
        r = parse_doc(buf, n, &root, &where);
        cJSON_Delete(root);
        dt__json_leave(&s);
    }
    if (at != NULL)
        *at = where;
    return r;
}

/* The item path p names under node, or NULL: cJSON's own getters, so of a
 * key given twice in one object the first is taken, and keys compare byte
 * for byte (case-sensitive) after the document's escapes are decoded. */
static const cJSON *walk(const cJSON *node, const dt__payload_path *p)
{
    for (int s = 0; s < p->n && s < DT__PAYLOAD_PATH_DEPTH && node != NULL; s++) {
        const dt__payload_step *st = &p->step[s];
        if (st->is_index) {
            node = cJSON_IsArray(node) && st->index <= INT_MAX
                       ? cJSON_GetArrayItem(node, (int)st->index)
                       : NULL;
            continue;
        }
        char key[DT__PAYLOAD_PATH_TEXT];
        if ((size_t)st->key_off + st->key_len >= sizeof key)
            return NULL; /* not a compiled path */
        memcpy(key, p->keys + st->key_off, st->key_len);
        key[st->key_len] = '\0';
        node = cJSON_IsObject(node) ? cJSON_GetObjectItemCaseSensitive(node, key) : NULL;
    }
    return node;
}

static int read_value(const dt__payload_spec *spec, const cJSON *it, double *v)
{
    if (it == NULL)
        return DT__PAYLOAD_NO_VALUE;
    if (cJSON_IsNumber(it)) {
        if (!isfinite(it->valuedouble))
            return DT__PAYLOAD_NOT_FINITE; /* 1e999: cJSON's strtod gave infinity */
        *v = it->valuedouble;
        return DT__PAYLOAD_OK;
    }
    if (cJSON_IsBool(it) && spec->allow_bool) {
        *v = cJSON_IsTrue(it) ? 1.0 : 0.0;
        return DT__PAYLOAD_OK;
    }
    return DT__PAYLOAD_VALUE_NOT_NUMBER;
}

static int read_time(const dt__payload_spec *spec, const cJSON *it, int64_t *ns)
{
    if (it == NULL)
        return DT__PAYLOAD_NO_TIME;
    if (spec->time_enc != DT__PAYLOAD_TIME_RFC3339) {
        if (!cJSON_IsNumber(it))
            return DT__PAYLOAD_BAD_TIME;
        /* cJSON kept the double, not the text. The shortest decimal that
         * reads back to it is the text the device wrote whenever that had at
         * most 15 significant digits (1764633601.5 s, 1764633601123 ms), or
         * was itself a shortest round trip (Python's repr, JavaScript, Go):
         * exact then. A 19-digit ns time is off by up to the double's
         * spacing, 256 ns around 2026 (test_payload_json measures it). */
        char text[DT__NUM_TEXT];
        size_t len = dt__num_format(text, sizeof text, it->valuedouble);
        if (len == 0)
            return DT__PAYLOAD_TIME_RANGE; /* 1e999: infinite */
        return dt__payload_time_number(text, len, spec->time_enc, ns);
    }
    if (!cJSON_IsString(it) || it->valuestring == NULL)
        return DT__PAYLOAD_BAD_TIME;
    size_t len = strlen(it->valuestring);
    if (len > DT__PAYLOAD_TIME_TEXT)
        return DT__PAYLOAD_BAD_TIME;
    return dt__payload_rfc3339(it->valuestring, len, ns);
}

int dt__payload_read(const dt__payload_spec *spec, const char *buf, size_t n,
                     const dt_allocator *alloc, dt__payload_value *out)
{
    if (n > 0 && buf == NULL)
        return DT__PAYLOAD_EMPTY;
    double v = 0;
    int64_t ns = 0;
    int r;
    if (spec->format == DT__PAYLOAD_FMT_NUMBER) {
        r = n == 0 ? DT__PAYLOAD_EMPTY : dt__payload_number(buf, n, &v);
    } else {
        dt__json_scope s;
        dt__json_enter(&s, alloc != NULL ? alloc : dt_allocator_default());
        cJSON *root;
        size_t at;
        r = parse_doc(buf, n, &root, &at);
        if (r == DT__PAYLOAD_OK)
            r = read_value(spec, walk(root, &spec->value), &v);
        if (r == DT__PAYLOAD_OK && spec->has_time)
            r = read_time(spec, walk(root, &spec->time), &ns);
        cJSON_Delete(root);
        dt__json_leave(&s);
    }
    if (r != DT__PAYLOAD_OK)
        return r;
    out->value = v;
    out->has_time = spec->format == DT__PAYLOAD_FMT_JSON && spec->has_time != 0;
    out->t_ns = ns;
    return DT__PAYLOAD_OK;
}
