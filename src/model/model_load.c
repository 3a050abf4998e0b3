/* Twin description: JSON -> dt_model, with path-precise validation. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../platform/internal.h"
#include "dtwin/error.h"
#include "model_internal.h"

#define SCHEMA_VERSION 1

/* The largest variance a description may give (noise, and in the estimator Q and
 * P0): the Kalman update multiplies two covariance entries, and above
 * sqrt(DBL_MAX) ~ 1.3e154 that product overflows. */
#define VARIANCE_MAX 1e150

const char *const dt__model_sections[] = {
    "sources", "sinks", "estimator", "controllers", "dispatcher",
    "latency", "loop",  "analytics", "memory", NULL};

typedef struct ctx {
    dt_model *m;
    const dt_model_limits *lim;
    dt_diag *diag;
} ctx;

/* Every loader error carries its JSON path; dt__diag formats it (printf-checked). */
/* The code is repeated as the value so static analysis sees a failure is never DT_OK. */
#define fail(c, code, ...) (dt__diag((c)->diag, (code), __VA_ARGS__), (code))

static const char *type_name(const cJSON *j)
{
    if (cJSON_IsObject(j))
        return "an object";
    if (cJSON_IsArray(j))
        return "an array";
    if (cJSON_IsString(j))
        return "a string";
    if (cJSON_IsNumber(j))
        return "a number";
    if (cJSON_IsBool(j))
        return "a boolean";
    if (cJSON_IsNull(j))
        return "null";
    return "an invalid value";
}

/* Quotes a string for a message, cut to keep messages readable. */
static const char *q(const char *s, char *buf, size_t cap)
{
    if (strlen(s) > 40)
        dt__fmt(buf, cap, "\"%.40s...\"", s);
    else
        dt__fmt(buf, cap, "\"%s\"", s);
    return buf;
}

/* Checks that obj is an object whose keys are all in `allowed`, each at most
 * once. At most 32 allowed keys (a bit each). */
static int check_object(ctx *c, const cJSON *obj, const char *path,
                        const char *const *allowed)
{
    if (!cJSON_IsObject(obj))
        return fail(c, DT_EPARSE, path, "expected an object, got %s",
                    type_name(obj));
    uint32_t seen = 0;
    for (const cJSON *it = obj->child; it != NULL; it = it->next) {
        int idx = -1;
        for (int k = 0; allowed[k] != NULL; k++)
            if (strcmp(allowed[k], it->string) == 0) {
                idx = k;
                break;
            }
        char sub[128], qb[64];
        dt__fmt(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "",
                it->string);
        if (idx < 0)
            return fail(c, DT_EPARSE, sub, "unknown key %s",
                        q(it->string, qb, sizeof qb));
        if (seen & (1u << idx))
            return fail(c, DT_EPARSE, sub, "duplicate key");
        seen |= 1u << idx;
    }
    return DT_OK;
}


static void subpath(char *out, size_t cap, const char *path, const char *key)
{
    dt__fmt(out, cap, "%s%s%s", path, path[0] ? "." : "", key);
}

/* Reads an optional (or required) string member into a fresh copy.
 * *out stays NULL when absent and optional. */
static int get_string(ctx *c, const cJSON *obj, const char *key,
                      const char *path, int required, char **out)
{
    char p[128];
    subpath(p, sizeof p, path, key);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (v == NULL) {
        if (required)
            return fail(c, DT_EPARSE, p, "missing (required string)");
        return DT_OK;
    }
    if (!cJSON_IsString(v))
        return fail(c, DT_EPARSE, p, "expected a string, got %s",
                    type_name(v));
    size_t len = strlen(v->valuestring);
    if (len > c->lim->max_string_bytes)
        return fail(c, DT_ELIMIT, p, "longer than %zu bytes",
                    c->lim->max_string_bytes);
    *out = dt__strndup(&c->m->alloc, v->valuestring, len);
    if (*out == NULL)
        return fail(c, DT_ENOMEM, p, "out of memory");
    return DT_OK;
}

static int get_number(ctx *c, const cJSON *obj, const char *key,
                      const char *path, int required, double *out,
                      int *present)
{
    char p[128];
    subpath(p, sizeof p, path, key);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (present)
        *present = v != NULL;
    if (v == NULL) {
        if (required)
            return fail(c, DT_EPARSE, p, "missing (required number)");
        return DT_OK;
    }
    if (!cJSON_IsNumber(v))
        return fail(c, DT_EPARSE, p, "expected a number, got %s",
                    type_name(v));
    if (!isfinite(v->valuedouble))
        return fail(c, DT_EPARSE, p, "number out of range (not finite)");
    *out = v->valuedouble;
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

static int get_id(ctx *c, const cJSON *obj, const char *key, const char *path,
                  char **out)
{
    int rc = get_string(c, obj, key, path, 1, out);
    if (rc != DT_OK)
        return rc;
    if (!valid_id(*out)) {
        char p[128], qb[64];
        subpath(p, sizeof p, path, key);
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

static int get_semantic_id(ctx *c, const cJSON *obj, const char *path,
                           char **out)
{
    int rc = get_string(c, obj, "semanticId", path, 0, out);
    if (rc != DT_OK || *out == NULL)
        return rc;
    if (!valid_semantic_id(*out)) {
        char p[128], qb[64];
        subpath(p, sizeof p, path, "semanticId");
        return fail(c, DT_EPARSE, p,
                    "%s is neither an IRI (scheme:...) nor an IRDI "
                    "(e.g. 0173-1#02-AAO677#002)",
                    q(*out, qb, sizeof qb));
    }
    return DT_OK;
}

static int get_array(ctx *c, const cJSON *root, const char *key, size_t limit,
                     const cJSON **out, size_t *count)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (v == NULL)
        return fail(c, DT_EPARSE, key, "missing (required array)");
    if (!cJSON_IsArray(v))
        return fail(c, DT_EPARSE, key, "expected an array, got %s",
                    type_name(v));
    size_t n = 0;
    for (const cJSON *it = v->child; it != NULL; it = it->next)
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

static int build_index(ctx *c, const char *what, size_t n,
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

/* ---- assets ---- */

static const char *const asset_keys[] = {"id",         "name",   "kind",
                                         "semanticId", "parent", NULL};

static int load_assets(ctx *c, const cJSON *arr)
{
    dt_model *m = c->m;
    size_t i = 0;
    for (const cJSON *a = arr->child; a != NULL; a = a->next, i++) {
        char path[64];
        dt__fmt(path, sizeof path, "assets[%zu]", i);
        dt__asset_rec *r = &m->asset_recs[i];
        int rc = check_object(c, a, path, asset_keys);
        if (rc == DT_OK)
            rc = get_id(c, a, "id", path, &r->id);
        if (rc == DT_OK)
            rc = get_string(c, a, "name", path, 0, &r->name);
        if (rc == DT_OK)
            rc = get_string(c, a, "kind", path, 0, &r->kind);
        if (rc == DT_OK)
            rc = get_semantic_id(c, a, path, &r->semantic_id);
        if (rc == DT_OK)
            rc = get_string(c, a, "parent", path, 0, &r->parent_id);
        if (rc != DT_OK)
            return rc;
        dt_asset_info *info = &m->assets[i];
        info->id = r->id;
        info->name = r->name ? r->name : "";
        info->kind = r->kind ? r->kind : "";
        info->semantic_id = r->semantic_id;
        info->parent = DT_ID_NONE;
    }
    int rc = build_index(c, "assets", m->n_assets, dt__asset_key, &m->asset_sorted);
    if (rc != DT_OK)
        return rc;
    for (i = 0; i < m->n_assets; i++) {
        const char *pid = m->asset_recs[i].parent_id;
        if (pid == NULL)
            continue;
        char path[64], qb[64];
        dt__fmt(path, sizeof path, "assets[%zu].parent", i);
        uint32_t p;
        if (dt__lookup(m, m->asset_sorted, m->n_assets, dt__asset_key, pid, &p) != DT_OK)
            return fail(c, DT_EPARSE, path, "unknown asset %s",
                        q(pid, qb, sizeof qb));
        m->assets[i].parent = p;
    }
    /* A parent chain longer than n must revisit an asset: a cycle. The depth
     * limit also bounds anything that later walks the tree recursively. */
    for (i = 0; i < m->n_assets; i++) {
        size_t steps = 0;
        uint32_t cur = (uint32_t)i;
        while (m->assets[cur].parent != DT_ID_NONE) {
            cur = m->assets[cur].parent;
            steps++;
            char path[64], qb[64];
            dt__fmt(path, sizeof path, "assets[%zu].parent", i);
            if (cur == i)
                return fail(c, DT_EPARSE, path,
                            "parent cycle: %s is its own ancestor",
                            q(m->asset_recs[i].id, qb, sizeof qb));
            if (steps > c->lim->max_depth || steps > m->n_assets)
                return fail(c, DT_ELIMIT, path,
                            "asset tree deeper than %zu levels (or a cycle "
                            "above this asset)",
                            c->lim->max_depth);
        }
    }
    return DT_OK;
}

/* ---- signals ---- */

static const char *const signal_keys[] = {
    "id",     "asset", "quantity", "unit",       "role",
    "limits", "period", "noise",   "semanticId", NULL};
static const char *const limit_keys[] = {"min", "max", NULL};
static const char *const noise_keys[] = {"std", "variance", NULL};

static const char *const role_names[] = {"measured", "estimated", "commanded",
                                         "parameter"};

const char *dt_role_name(dt_role role)
{
    if ((unsigned)role > DT_ROLE_PARAMETER)
        return "?";
    return role_names[role];
}

static int load_signal(ctx *c, const cJSON *s, size_t i)
{
    dt_model *m = c->m;
    char path[64], p[128], qb[64];
    dt__fmt(path, sizeof path, "signals[%zu]", i);
    dt__signal_rec *r = &m->signal_recs[i];
    dt_signal_info *info = &m->signals[i];
    char *quantity = NULL, *role = NULL;

    int rc = check_object(c, s, path, signal_keys);
    if (rc == DT_OK)
        rc = get_id(c, s, "id", path, &r->id);
    if (rc == DT_OK)
        rc = get_string(c, s, "asset", path, 1, &r->asset_id);
    if (rc == DT_OK)
        rc = get_string(c, s, "quantity", path, 1, &quantity);
    if (rc == DT_OK)
        rc = get_string(c, s, "unit", path, 1, &r->unit);
    if (rc == DT_OK)
        rc = get_string(c, s, "role", path, 1, &role);
    if (rc == DT_OK)
        rc = get_semantic_id(c, s, path, &r->semantic_id);
    if (rc != DT_OK)
        goto out;

    info->id = r->id;
    info->unit_symbol = r->unit;
    info->semantic_id = r->semantic_id;

    if (dt__lookup(m, m->asset_sorted, m->n_assets, dt__asset_key, r->asset_id,
               &info->asset) != DT_OK) {
        subpath(p, sizeof p, path, "asset");
        rc = fail(c, DT_EPARSE, p, "unknown asset %s",
                  q(r->asset_id, qb, sizeof qb));
        goto out;
    }

    int qi = -1;
    for (int k = 0; k < DT_UC__COUNT; k++)
        if (strcmp(dt_unit_class_name((dt_unit_class)k), quantity) == 0)
            qi = k;
    if (qi < 0) {
        subpath(p, sizeof p, path, "quantity");
        rc = fail(c, DT_EPARSE, p, "unknown quantity %s (see docs/model.md)",
                  q(quantity, qb, sizeof qb));
        goto out;
    }
    info->quantity = (dt_unit_class)qi;

    subpath(p, sizeof p, path, "unit");
    if (dt_unit_parse(r->unit, &info->unit) != DT_OK) {
        char sb[32];
        const char *near = dt__unit_suggest(r->unit, info->quantity, sb, sizeof sb);
        if (near != NULL)
            rc = fail(c, DT_EUNIT, p, "unknown unit %s (did you mean \"%s\"?)",
                      q(r->unit, qb, sizeof qb), near);
        else
            rc = fail(c, DT_EUNIT, p, "unknown unit %s (docs/model.md lists the units)",
                      q(r->unit, qb, sizeof qb));
        goto out;
    }
    /* Any quantity may be expressed per-unit; otherwise the unit's class must
     * be the quantity's. */
    if (info->unit.cls != info->quantity && info->unit.cls != DT_UC_PER_UNIT) {
        rc = fail(c, DT_EUNIT, p,
                  "unit %s measures %s, not %s (dimensionally incompatible)",
                  q(r->unit, qb, sizeof qb), dt_unit_class_name(info->unit.cls),
                  quantity);
        goto out;
    }

    int ri = -1;
    for (int k = 0; k <= DT_ROLE_PARAMETER; k++)
        if (strcmp(role_names[k], role) == 0)
            ri = k;
    if (ri < 0) {
        subpath(p, sizeof p, path, "role");
        rc = fail(c, DT_EPARSE, p,
                  "unknown role %s (measured, estimated, commanded, parameter)",
                  q(role, qb, sizeof qb));
        goto out;
    }
    info->role = (dt_role)ri;

    info->min = -INFINITY;
    info->max = INFINITY;
    const cJSON *lim = cJSON_GetObjectItemCaseSensitive(s, "limits");
    if (lim != NULL) {
        subpath(p, sizeof p, path, "limits");
        int has_min = 0, has_max = 0;
        rc = check_object(c, lim, p, limit_keys);
        if (rc == DT_OK)
            rc = get_number(c, lim, "min", p, 0, &info->min, &has_min);
        if (rc == DT_OK)
            rc = get_number(c, lim, "max", p, 0, &info->max, &has_max);
        if (rc != DT_OK)
            goto out;
        if (!has_min && !has_max) {
            rc = fail(c, DT_EPARSE, p, "give min, max or both");
            goto out;
        }
        if (info->min > info->max) {
            char n1[32], n2[32];
            rc = fail(c, DT_EPARSE, p, "min (%s) > max (%s)",
                      dt__num(info->min, n1, sizeof n1), dt__num(info->max, n2, sizeof n2));
            goto out;
        }
        r->has_min = (uint8_t)has_min;
        r->has_max = (uint8_t)has_max;
        info->has_limits = 1;
    }

    int has_period = 0;
    rc = get_number(c, s, "period", path, 0, &r->period_s, &has_period);
    if (rc != DT_OK)
        goto out;
    if (has_period) {
        subpath(p, sizeof p, path, "period");
        char nb[32];
        if (!(r->period_s > 0.0) ||
            (dt_time_from_sec_checked(r->period_s, &info->period) == DT_OK &&
             info->period < 1)) {
            rc = fail(c, DT_EPARSE, p,
                      "must be a positive number of seconds (>= 1 ns), got %s",
                      dt__num(r->period_s, nb, sizeof nb));
            goto out;
        }
        /* dt_time counts nanoseconds in 64 bits: +-9.2e9 s. */
        if (dt_time_from_sec_checked(r->period_s, &info->period) != DT_OK) {
            rc = fail(c, DT_EPARSE, p,
                      "longer than the clock's range (9.2e9 s), got %s",
                      dt__num(r->period_s, nb, sizeof nb));
            goto out;
        }
        r->has_period = 1;
    }

    const cJSON *noise = cJSON_GetObjectItemCaseSensitive(s, "noise");
    if (noise != NULL) {
        subpath(p, sizeof p, path, "noise");
        int has_std = 0, has_var = 0;
        double sd = 0.0, var = 0.0;
        rc = check_object(c, noise, p, noise_keys);
        if (rc == DT_OK)
            rc = get_number(c, noise, "std", p, 0, &sd, &has_std);
        if (rc == DT_OK)
            rc = get_number(c, noise, "variance", p, 0, &var, &has_var);
        if (rc != DT_OK)
            goto out;
        if (has_std == has_var) {
            rc = fail(c, DT_EPARSE, p, "give exactly one of std or variance");
            goto out;
        }
        double v = has_std ? sd : var;
        char pp[160], nb[32];
        dt__fmt(pp, sizeof pp, "%s.%s", p, has_std ? "std" : "variance");
        if (v < 0.0) {
            rc = fail(c, DT_EPARSE, pp, "must be >= 0, got %s", dt__num(v, nb, sizeof nb));
            goto out;
        }
        /* sd * sd must not overflow, and the update squares the variance */
        if ((has_std ? v > sqrt(VARIANCE_MAX) : v > VARIANCE_MAX)) {
            rc = fail(c, DT_EPARSE, pp, "%s is too large (the variance must be <= %g)",
                      dt__num(v, nb, sizeof nb), VARIANCE_MAX);
            goto out;
        }
        r->noise_kind = has_std ? 1 : 2;
        r->noise_value = v;
        info->noise_var = has_std ? sd * sd : var;
    }
out:
    dt__free(&m->alloc, quantity);
    dt__free(&m->alloc, role);
    return rc;
}

static int load_signals(ctx *c, const cJSON *arr)
{
    size_t i = 0;
    for (const cJSON *s = arr->child; s != NULL; s = s->next, i++) {
        int rc = load_signal(c, s, i);
        if (rc != DT_OK)
            return rc;
    }
    return build_index(c, "signals", c->m->n_signals, dt__signal_key,
                       &c->m->signal_sorted);
}

/* ---- top level ---- */

/* A number that overflows a double (1e999) would be written back into a kept
 * section as null, and the layer reading it would then report "null" for what
 * the author wrote as a number: refuse it here, with its path. Recursion is
 * bounded by the nesting limit checked before parsing. */
static int finite_numbers(ctx *c, const cJSON *it, const char *path)
{
    if (cJSON_IsNumber(it) && !isfinite(it->valuedouble))
        return fail(c, DT_EPARSE, path, "number out of range (not finite)");
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
        const char **keys = dt__malloc(&c->m->alloc, n * sizeof *keys);
        if (keys == NULL)
            return fail(c, DT_ENOMEM, path, "out of memory");
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
            rc = fail(c, DT_EPARSE, sub, "duplicate key");
        }
        dt__free(&c->m->alloc, keys);
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

static const char *const root_keys[] = {
    "dtwin",   "name",        "description", "assets", "signals",
    "sources", "sinks",       "estimator",   "controllers",
    "dispatcher", "latency",  "loop",        "analytics", "memory",
    "$schema",    NULL};

/* Turns every number of a tree into raw text that reads back to the same
 * double: cJSON prints with 15 digits whenever that reads back within a few
 * ulps, so 0.005000000000000001 would reach the layer reading the section
 * as 0.005. 0 or -1 (out of memory, the tree then partly converted). */
static int exact_numbers(cJSON *node)
{
    for (cJSON *it = node->child; it != NULL; it = it->next) {
        if (cJSON_IsNumber(it)) {
            char buf[32];
            dt__num(it->valuedouble, buf, sizeof buf);
            size_t len = strlen(buf) + 1;
            char *raw = cJSON_malloc(len);
            if (raw == NULL)
                return -1;
            memcpy(raw, buf, len);
            it->type = cJSON_Raw; /* cJSON_Delete frees valuestring with its hooks */
            it->valuestring = raw;
        } else if ((cJSON_IsArray(it) || cJSON_IsObject(it)) && exact_numbers(it) != 0) {
            return -1;
        }
    }
    return 0;
}

/* A section's text, every number exact; NULL when out of memory. */
static char *print_exact(const cJSON *section)
{
    cJSON *copy = cJSON_Duplicate(section, 1);
    char *txt = NULL;
    if (copy != NULL && exact_numbers(copy) == 0)
        txt = cJSON_PrintUnformatted(copy);
    cJSON_Delete(copy);
    return txt;
}

static int load_root(ctx *c, const cJSON *root)
{
    dt_model *m = c->m;
    int rc = check_object(c, root, "", root_keys);
    if (rc != DT_OK)
        return rc;
    double version = 0;
    rc = get_number(c, root, "dtwin", "", 1, &version, NULL);
    if (rc != DT_OK)
        return rc;
    if (version != SCHEMA_VERSION) {
        char nb[32];
        return fail(c, DT_EPARSE, "dtwin",
                    "unsupported schema version %s (this library reads %d)",
                    dt__num(version, nb, sizeof nb), SCHEMA_VERSION);
    }
    rc = get_string(c, root, "name", "", 1, &m->name);
    if (rc == DT_OK)
        rc = get_string(c, root, "description", "", 0, &m->description);
    if (rc != DT_OK)
        return rc;
    /* "$schema" points an editor at docs/schema/dtwin.schema.json; the
     * loader only checks that it is a string (and does not save it back). */
    const cJSON *sv = cJSON_GetObjectItemCaseSensitive(root, "$schema");
    if (sv != NULL && !cJSON_IsString(sv))
        return fail(c, DT_EPARSE, "$schema", "expected a string, got %s", type_name(sv));

    const cJSON *assets, *signals;
    rc = get_array(c, root, "assets", c->lim->max_assets, &assets, &m->n_assets);
    if (rc == DT_OK)
        rc = get_array(c, root, "signals", c->lim->max_signals, &signals,
                       &m->n_signals);
    if (rc != DT_OK)
        return rc;

    m->asset_recs = dt__calloc(&m->alloc, m->n_assets, sizeof *m->asset_recs);
    m->assets = dt__calloc(&m->alloc, m->n_assets, sizeof *m->assets);
    m->signal_recs =
        dt__calloc(&m->alloc, m->n_signals, sizeof *m->signal_recs);
    m->signals = dt__calloc(&m->alloc, m->n_signals, sizeof *m->signals);
    if (!m->asset_recs || !m->assets || !m->signal_recs || !m->signals)
        return fail(c, DT_ENOMEM, "", "out of memory");

    rc = load_assets(c, assets);
    if (rc == DT_OK)
        rc = load_signals(c, signals);
    if (rc != DT_OK)
        return rc;

    /* Sections for later layers: kept verbatim, in document order. */
    size_t ns = 0;
    for (const cJSON *it = root->child; it != NULL; it = it->next)
        for (int k = 0; dt__model_sections[k] != NULL; k++)
            if (strcmp(it->string, dt__model_sections[k]) == 0)
                ns++;
    if (ns == 0)
        return DT_OK;
    m->sections = dt__calloc(&m->alloc, ns, sizeof *m->sections);
    if (m->sections == NULL)
        return fail(c, DT_ENOMEM, "", "out of memory");
    for (const cJSON *it = root->child; it != NULL; it = it->next)
        for (int k = 0; dt__model_sections[k] != NULL; k++) {
            if (strcmp(it->string, dt__model_sections[k]) != 0)
                continue;
            rc = finite_numbers(c, it, it->string);
            if (rc != DT_OK)
                return rc;
            dt__section *sec = &m->sections[m->n_sections++];
            sec->key = dt__strndup(&m->alloc, it->string, strlen(it->string));
            char *txt = print_exact(it);
            if (txt != NULL) {
                sec->json = dt__strndup(&m->alloc, txt, strlen(txt));
                cJSON_free(txt);
            }
            if (sec->key == NULL || sec->json == NULL)
                return fail(c, DT_ENOMEM, it->string, "out of memory");
        }
    return DT_OK;
}

static void resolve_limits(const dt_model_options *opt, dt_model_limits *lim)
{
    dt_model_limits def = {16u << 20, 4096, 65536, 256, 64};
    *lim = def;
    if (opt == NULL || opt->size < sizeof *opt)
        return;
    if (opt->limits.max_document_bytes)
        lim->max_document_bytes = opt->limits.max_document_bytes;
    if (opt->limits.max_assets)
        lim->max_assets = opt->limits.max_assets;
    if (opt->limits.max_signals)
        lim->max_signals = opt->limits.max_signals;
    if (opt->limits.max_string_bytes)
        lim->max_string_bytes = opt->limits.max_string_bytes;
    if (opt->limits.max_depth)
        lim->max_depth = opt->limits.max_depth;
    /* Dense ids are uint32 with UINT32_MAX reserved. */
    if (lim->max_assets >= DT_ID_NONE)
        lim->max_assets = DT_ID_NONE - 1;
    if (lim->max_signals >= DT_ID_NONE)
        lim->max_signals = DT_ID_NONE - 1;
}

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

int dt_model_load_json(const char *text, size_t len,
                       const dt_model_options *opt, dt_model **out,
                       dt_diag *diag)
{
    if (diag != NULL)
        memset(diag, 0, sizeof *diag);
    if (text == NULL || out == NULL) {
        if (diag != NULL) {
            diag->code = DT_EINVAL;
            dt__fmt(diag->message, sizeof diag->message,
                    "text and out must not be NULL");
        }
        return DT_EINVAL;
    }
    /* Options may come from an older caller with a smaller struct: read only
     * the fields its size covers (all of them today). */
    const dt_allocator *alloc = dt_allocator_default();
    const dt_logger *logger = dt_logger_stderr();
    if (opt != NULL && opt->size >= sizeof *opt) {
        if (opt->allocator != NULL)
            alloc = opt->allocator;
        if (opt->logger != NULL)
            logger = opt->logger;
    }
    dt_model_limits lim;
    resolve_limits(opt, &lim);

    dt_model tmp_model = {0};
    ctx c = {&tmp_model, &lim, diag};
    if (len == 0)
        return fail(&c, DT_EPARSE, "", "empty document");
    if (len > lim.max_document_bytes)
        return fail(&c, DT_ELIMIT, "", "document of %zu bytes exceeds the %zu byte limit",
                    len, lim.max_document_bytes);
    const char *nul = memchr(text, '\0', len);
    if (nul != NULL) {
        /* A trailing NUL (C string length counted with its terminator) is fine. */
        if ((size_t)(nul - text) != len - 1)
            goto nul_error;
        len--;
    }
    size_t bad = dt__utf8_check(text, len);
    if (bad != 0) {
        int line, col;
        dt__line_col(text, bad - 1, &line, &col);
        if (diag) {
            diag->line = line;
            diag->column = col;
        }
        return fail(&c, DT_EPARSE, "", "invalid UTF-8 at line %d, column %d (byte %zu)",
                    line, col, bad - 1);
    }
    int unclosed = 0;
    if (dt__json_depth(text, len, &unclosed) > lim.max_depth)
        return fail(&c, DT_ELIMIT, "", "JSON nesting deeper than %zu levels",
                    lim.max_depth);

    dt_model *m = dt__calloc(alloc, 1, sizeof *m);
    if (m == NULL)
        return fail(&c, DT_ENOMEM, "", "out of memory");
    m->alloc = *alloc;
    m->logger = *logger;
    m->limits = lim;
    c.m = m;

    dt__json_begin(alloc);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    int rc;
    if (root == NULL) {
        if (dt__json_oom()) {
            rc = fail(&c, DT_ENOMEM, "", "out of memory while parsing JSON");
        } else {
            size_t off = end != NULL && end >= text ? (size_t)(end - text) : 0;
            /* cJSON reports errors at the end as offset len - 1; call it
             * truncation (and point past the end) only when brackets or a
             * string are still open. */
            int truncated = unclosed && off + 1 >= len;
            if (off > len || truncated)
                off = len;
            int line, col;
            dt__line_col(text, off, &line, &col);
            if (diag) {
                diag->line = line;
                diag->column = col;
            }
            if (truncated)
                rc = fail(&c, DT_EPARSE, "",
                          "JSON syntax error: unexpected end of input (truncated?) at line "
                          "%d, column %d",
                          line, col);
            else
                rc = fail(&c, DT_EPARSE, "", "JSON syntax error at line %d, column %d%s", line,
                          col, syntax_hint(text, len, off));
        }
    } else {
        size_t off = (size_t)(end - text);
        while (off < len && (text[off] == ' ' || text[off] == '\t' ||
                             text[off] == '\n' || text[off] == '\r'))
            off++;
        if (off < len) {
            int line, col;
            dt__line_col(text, off, &line, &col);
            if (diag) {
                diag->line = line;
                diag->column = col;
            }
            rc = fail(&c, DT_EPARSE, "",
                      "unexpected text after the JSON document at line %d, "
                      "column %d",
                      line, col);
        } else {
            rc = unique_keys(&c, root, "");
            if (rc == DT_OK)
                rc = load_root(&c, root);
        }
        cJSON_Delete(root);
    }
    if (rc == DT_OK && dt__json_oom())
        rc = fail(&c, DT_ENOMEM, "", "out of memory while reading JSON");
    dt__json_end();
    if (rc != DT_OK) {
        dt__model_free(m);
        return rc;
    }
    dt__log(&m->logger, DT_LOG_INFO, "model",
            "loaded \"%s\": %zu assets, %zu signals", m->name, m->n_assets,
            m->n_signals);
    *out = m;
    return DT_OK;

nul_error:
    return fail(&c, DT_EPARSE, "", "document contains a NUL byte at offset %zu",
                (size_t)(nul - text));
}

int dt__read_file(const char *path, const dt_allocator *alloc, size_t limit, char **out,
                  size_t *out_len, dt_diag *diag)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return dt__diag(diag, DT_EIO, "", "cannot open %s", path);
    /* Grow geometrically, but never past the limit + 1 byte: an oversized
     * file is reported without reading it all. */
    size_t cap = 4096, len = 0;
    char *buf = dt__malloc(alloc, cap);
    int rc = buf == NULL ? dt__diag(diag, DT_ENOMEM, "", "out of memory reading %s", path)
                         : DT_OK;
    while (rc == DT_OK) {
        if (len == cap) {
            if (len > limit) {
                rc = dt__diag(diag, DT_ELIMIT, "", "%s is larger than the %zu byte limit",
                              path, limit);
                break;
            }
            char *nb = alloc->realloc_fn(alloc->user, buf, cap * 2);
            if (nb == NULL) {
                rc = dt__diag(diag, DT_ENOMEM, "", "out of memory reading %s", path);
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f))
                rc = dt__diag(diag, DT_EIO, "", "read error on %s", path);
            break;
        }
    }
    (void)fclose(f); /* read-only: errors were seen by ferror */
    if (rc == DT_OK && len > limit)
        rc = dt__diag(diag, DT_ELIMIT, "", "%s is larger than the %zu byte limit", path, limit);
    if (rc != DT_OK) {
        dt__free(alloc, buf);
        return rc;
    }
    *out = buf;
    *out_len = len;
    return DT_OK;
}

int dt_model_load_file(const char *path, const dt_model_options *opt, dt_model **out,
                       dt_diag *diag)
{
    if (diag != NULL)
        memset(diag, 0, sizeof *diag);
    if (path == NULL || out == NULL)
        return DT_EINVAL;
    const dt_allocator *alloc = dt_allocator_default();
    if (opt != NULL && opt->size >= sizeof *opt && opt->allocator != NULL)
        alloc = opt->allocator;
    dt_model_limits lim;
    resolve_limits(opt, &lim);
    char *buf = NULL;
    size_t len = 0;
    int rc = dt__read_file(path, alloc, lim.max_document_bytes, &buf, &len, diag);
    if (rc != DT_OK)
        return rc;
    rc = dt_model_load_json(buf, len, opt, out, diag);
    dt__free(alloc, buf);
    return rc;
}
