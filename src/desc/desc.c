/* The description parsed once: text checks, syntax errors with a hint,
 * duplicate keys, exact section texts, and the layers' sections. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../model/model_internal.h"
#include "../platform/internal.h"
#include "desc.h"

struct dt__desc {
    dt_allocator alloc;
    cJSON *root;
    const dt_model_limits *lim;
};

typedef struct ctx {
    const dt_allocator *alloc;
    dt_diag *diag;
} ctx;

static const cJSON *J(const dt_config *c) { return (const cJSON *)(const void *)c; }
static const dt_config *C(const cJSON *j) { return (const dt_config *)(const void *)j; }

/* What a JSON syntax error most likely is, from the text at the error:
 * the mistakes people make writing JSON by hand. */
static const char *syntax_hint(const char *text, size_t len, size_t off)
{
    size_t i = off;
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
        i++;
    if (i >= len)
        return "";
    const char *t = text + i;
    size_t rest = len - i;
    if ((rest >= 3 && (strncmp(t, "NaN", 3) == 0 || strncmp(t, "nan", 3) == 0)) ||
        (rest >= 3 && (strncmp(t, "Inf", 3) == 0 || strncmp(t, "inf", 3) == 0)) ||
        (rest >= 4 && (strncmp(t, "-Inf", 4) == 0 || strncmp(t, "-inf", 4) == 0)))
        return ": NaN and Infinity are not JSON numbers (write a number, or leave the key "
               "out)";
    if ((rest >= 2 && t[0] == '/' && (t[1] == '/' || t[1] == '*')) ||
        (i > 0 && text[i - 1] == '/' && (t[0] == '/' || t[0] == '*')))
        return ": comments are not JSON (put notes in a \"description\" string)";
    if (t[0] == '\'')
        return ": strings take double quotes";
    if (t[0] == '}' || t[0] == ']') {
        size_t j = i;
        while (j > 0 && (text[j - 1] == ' ' || text[j - 1] == '\t' || text[j - 1] == '\n' ||
                         text[j - 1] == '\r'))
            j--;
        if (j > 0 && text[j - 1] == ',')
            return ": a trailing comma before this bracket";
    }
    return "";
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* cJSON keeps every member of an object, and a reader takes the first or
 * walks them all: a key given twice (two safe values for "u") would be read
 * one way or the other, silently. Refused, with its path. Sorted, so a
 * hostile object of many members costs n log n. */
static int unique_keys(ctx *c, const cJSON *it, const char *path)
{
    size_t n = 0;
    for (const cJSON *e = it->child; e != NULL; e = e->next)
        n++;
    if (cJSON_IsObject(it) && n > 1) {
        const char **keys = dt__malloc(c->alloc, n * sizeof *keys);
        if (keys == NULL)
            return dt__fail(c, DT_ENOMEM, path, "out of memory");
        size_t k = 0;
        for (const cJSON *e = it->child; e != NULL; e = e->next)
            keys[k++] = e->string;
        qsort(keys, n, sizeof *keys, cmp_key);
        const char *dup = NULL;
        for (k = 1; k < n && dup == NULL; k++)
            if (strcmp(keys[k - 1], keys[k]) == 0)
                dup = keys[k];
        int rc = DT_OK;
        if (dup != NULL) {
            char sub[160];
            dt__fmt(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", dup);
            rc = dt__fail(c, DT_EPARSE, sub, "duplicate key");
        }
        dt__free(c->alloc, keys);
        if (rc != DT_OK)
            return rc;
    }
    size_t i = 0;
    for (const cJSON *e = it->child; e != NULL; e = e->next, i++) {
        if (!cJSON_IsArray(e) && !cJSON_IsObject(e))
            continue;
        char sub[160];
        if (cJSON_IsArray(it))
            dt__fmt(sub, sizeof sub, "%s[%zu]", path, i);
        else
            dt__fmt(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", e->string);
        int rc = unique_keys(c, e, sub);
        if (rc != DT_OK)
            return rc;
    }
    return DT_OK;
}

/* Sets diag's line and column of byte offset off. */
static void at(dt_diag *diag, const char *text, size_t off, int *line, int *col)
{
    dt__line_col(text, off, line, col);
    if (diag) {
        diag->line = *line;
        diag->column = *col;
    }
}

/* cJSON's verdict on the text, and what follows the document. */
static int parse_tree(ctx *c, const char *text, size_t len, int unclosed, cJSON **out)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    int line, col;
    if (root == NULL) {
        if (dt__json_oom())
            return dt__fail(c, DT_ENOMEM, "", "out of memory while parsing JSON");
        size_t off = end != NULL && end >= text ? (size_t)(end - text) : 0;
        /* cJSON reports errors at the end as offset len - 1; call it
         * truncation (and point past the end) only when brackets or a
         * string are still open. */
        int truncated = unclosed && off + 1 >= len;
        if (off > len || truncated)
            off = len;
        at(c->diag, text, off, &line, &col);
        if (truncated)
            return dt__fail(c, DT_EPARSE, "",
                            "JSON syntax error: unexpected end of input (truncated?) at line "
                            "%d, column %d",
                            line, col);
        return dt__fail(c, DT_EPARSE, "", "JSON syntax error at line %d, column %d%s", line, col,
                        syntax_hint(text, len, off));
    }
    size_t off = (size_t)(end - text);
    while (off < len &&
           (text[off] == ' ' || text[off] == '\t' || text[off] == '\n' || text[off] == '\r'))
        off++;
    int rc = DT_OK;
    if (off < len) {
        at(c->diag, text, off, &line, &col);
        rc = dt__fail(c, DT_EPARSE, "",
                      "unexpected text after the JSON document at line %d, column %d", line,
                      col);
    }
    if (rc == DT_OK)
        rc = unique_keys(c, root, "");
    if (rc != DT_OK) {
        cJSON_Delete(root);
        return rc;
    }
    *out = root;
    return DT_OK;
}

int dt__desc_parse(const char *text, size_t len, const dt_model_limits *lim,
                   const dt_allocator *alloc, dt__desc **out, dt_diag *diag)
{
    ctx c = {alloc, diag};
    if (len == 0)
        return dt__fail(&c, DT_EPARSE, "", "empty document");
    if (len > lim->max_document_bytes)
        return dt__fail(&c, DT_ELIMIT, "", "document of %zu bytes exceeds the %zu byte limit",
                        len, lim->max_document_bytes);
    const char *nul = memchr(text, '\0', len);
    if (nul != NULL) {
        /* A trailing NUL (C string length counted with its terminator) is fine. */
        if ((size_t)(nul - text) != len - 1)
            return dt__fail(&c, DT_EPARSE, "", "document contains a NUL byte at offset %zu",
                            (size_t)(nul - text));
        len--;
    }
    size_t bad = dt__utf8_check(text, len);
    if (bad != 0) {
        int line, col;
        at(diag, text, bad - 1, &line, &col);
        return dt__fail(&c, DT_EPARSE, "", "invalid UTF-8 at line %d, column %d (byte %zu)",
                        line, col, bad - 1);
    }
    /* cJSON decodes \u0000 into the C string, which then ends there: the key
     * "loop\u0000x" would be the section "loop", the id "s\u0000t" the id
     * "s", while other JSON readers see what was written. */
    bad = dt__json_nul_escape(text, len);
    if (bad != 0) {
        int line, col;
        at(diag, text, bad - 1, &line, &col);
        if (len - (bad - 1) >= 6 && memcmp(text + bad, "u0000", 5) == 0)
            return dt__fail(&c, DT_EPARSE, "",
                            "\\u0000 in a string at line %d, column %d: dtwin's strings "
                            "cannot hold a NUL character",
                            line, col);
        return dt__fail(&c, DT_EPARSE, "",
                        "\\u without four hex digits in a string at line %d, column %d "
                        "(the JSON library would read it as a NUL character)",
                        line, col);
    }
    int unclosed = 0;
    if (dt__json_depth(text, len, &unclosed) > lim->max_depth)
        return dt__fail(&c, DT_ELIMIT, "", "JSON nesting deeper than %zu levels",
                        lim->max_depth);
    dt__desc *d = dt__calloc(alloc, 1, sizeof *d);
    if (d == NULL)
        return dt__fail(&c, DT_ENOMEM, "", "out of memory");
    d->alloc = *alloc;
    d->lim = lim;
    dt__json_scope s;
    dt__json_enter(&s, alloc);
    int rc = parse_tree(&c, text, len, unclosed, &d->root);
    dt__json_leave(&s);
    if (rc != DT_OK) {
        dt__free(alloc, d);
        return rc;
    }
    *out = d;
    return DT_OK;
}

void dt__desc_free(dt__desc *d)
{
    if (d == NULL)
        return;
    dt__json_scope s;
    dt__json_enter(&s, &d->alloc);
    cJSON_Delete(d->root);
    dt__json_leave(&s);
    dt_allocator a = d->alloc;
    dt__free(&a, d);
}

const dt_config *dt__desc_root(const dt__desc *d) { return d != NULL ? C(d->root) : NULL; }

/* A number that overflows a double (1e999) would be written back into a kept
 * section as null, and the layer reading it would then report "null" for what
 * the author wrote as a number: refuse it here, with its path. Recursion is
 * bounded by the nesting limit checked before parsing. */
static int finite_numbers(ctx *c, const cJSON *it, const char *path)
{
    if (cJSON_IsNumber(it) && !isfinite(it->valuedouble))
        return dt__fail(c, DT_EPARSE, path, "number out of range (not finite)");
    size_t i = 0;
    for (const cJSON *e = it->child; e != NULL; e = e->next, i++) {
        char sub[160];
        if (cJSON_IsArray(it))
            dt__fmt(sub, sizeof sub, "%s[%zu]", path, i);
        else
            dt__fmt(sub, sizeof sub, "%s.%s", path, e->string);
        int rc = finite_numbers(c, e, sub);
        if (rc != DT_OK)
            return rc;
    }
    return DT_OK;
}

/* Kept sections: every number as the shortest text that reads back to the
 * same double. cJSON prints with 15 digits whenever that reads back within a
 * few ulps, so 0.005000000000000001 would reach the layer reading the
 * section as 0.005. */
static void print_shortest(double v, char *buf, size_t cap) { (void)dt__num(v, buf, cap); }

/* Undoes dt__desc_raw_numbers on the parsed tree, which holds no raw item
 * of its own (valuedouble was left as it was). */
static void numbers_again(cJSON *node)
{
    if (cJSON_IsRaw(node)) {
        cJSON_free(node->valuestring);
        node->valuestring = NULL;
        node->type = cJSON_Number;
        return;
    }
    for (cJSON *it = node->child; it != NULL; it = it->next)
        numbers_again(it);
}

int dt__desc_keep(const dt__desc *d, const dt_config *member, const dt_allocator *alloc,
                  char **out, dt_diag *diag)
{
    ctx c = {alloc, diag};
    /* Printed in place and put back before returning: a copy of the section
     * would double the peak memory of a load (a copy of 8 million numbers is
     * 600 MiB more). */
    cJSON *sec = (cJSON *)(uintptr_t)J(member);
    int rc = finite_numbers(&c, sec, sec->string);
    if (rc != DT_OK)
        return rc;
    dt__json_scope s;
    dt__json_enter(&s, &d->alloc);
    char *txt = NULL;
    if (dt__desc_raw_numbers(sec, print_shortest) == 0)
        txt = cJSON_PrintUnformatted(sec);
    numbers_again(sec);
    *out = txt != NULL ? dt__strndup(alloc, txt, strlen(txt)) : NULL;
    cJSON_free(txt);
    dt__json_leave(&s);
    return *out != NULL ? DT_OK : dt__fail(&c, DT_ENOMEM, sec->string, "out of memory");
}

/* ---- sections ---- */

/* Every layer that reads sections of the description: the only list of
 * layers, and none of their sections. */
static const dt__section_def *const layers[] = {dt__io_sections, dt__est_sections,
                                                dt__twin_sections};

int dt__desc_is_section(const char *key)
{
    for (size_t l = 0; l < sizeof layers / sizeof layers[0]; l++)
        for (const dt__section_def *s = layers[l]; s->name != NULL; s++)
            if (strcmp(s->name, key) == 0)
                return 1;
    return 0;
}

int dt__desc_begin(const dt_model *m, const dt_allocator *alloc, dt__desc_use *u,
                   dt_diag *diag)
{
    u->own = NULL;
    u->d = dt__model_desc(m);
    if (u->d != NULL)
        return DT_OK;
    /* a model loaded on its own: its kept sections, parsed once for this call */
    ctx c = {alloc, diag};
    dt__desc *d = dt__calloc(alloc, 1, sizeof *d);
    if (d == NULL)
        return dt__fail(&c, DT_ENOMEM, "", "out of memory");
    d->alloc = *alloc;
    dt__json_scope s;
    dt__json_enter(&s, alloc);
    d->root = cJSON_CreateObject();
    int rc = d->root != NULL ? DT_OK : dt__fail(&c, DT_ENOMEM, "", "out of memory");
    for (size_t i = 0; rc == DT_OK && i < dt__model_section_count(m); i++) {
        const char *key = NULL;
        const char *text = dt__model_section_at(m, i, &key);
        cJSON *sec = cJSON_Parse(text);
        if (sec == NULL || !cJSON_AddItemToObject(d->root, key, sec)) {
            cJSON_Delete(sec);
            rc = dt__fail(&c, DT_ENOMEM, key, "out of memory");
        }
    }
    dt__json_leave(&s);
    u->own = d;
    u->d = d;
    if (rc != DT_OK)
        dt__desc_done(u);
    return rc;
}

const dt_config *dt__desc_get(const dt__desc_use *u, const char *name)
{
    if (u->d == NULL || !dt__desc_is_section(name))
        return NULL;
    return C(cJSON_GetObjectItemCaseSensitive(u->d->root, name));
}

int dt__desc_read(const dt__desc_use *u, const dt__section_def *defs, void *layer,
                  dt_diag *diag)
{
    for (const dt__section_def *s = defs; s->name != NULL; s++) {
        if (s->read == NULL)
            continue;
        int rc = s->read(layer, dt__desc_get(u, s->name), diag);
        if (rc != DT_OK)
            return rc;
    }
    return DT_OK;
}

void dt__desc_done(dt__desc_use *u)
{
    dt__desc_free(u->own);
    u->own = NULL;
    u->d = NULL;
}
