/* Twin description: JSON -> dt_model (assets, signals, the top level and the
 * kept sections), with path-precise validation; model_read.c has the
 * readers and the id index. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../desc/desc.h"
#include "../platform/internal.h"
#include "dtwin/error.h"
#include "model_internal.h"

#define SCHEMA_VERSION 1

/* The largest variance a description may give (noise, and in the estimator Q and
 * P0): the Kalman update multiplies two covariance entries, and above
 * sqrt(DBL_MAX) ~ 1.3e154 that product overflows. */
#define VARIANCE_MAX 1e150

#define fail dt__fail
#define q dt__mq

/* ---- assets ---- */

static const char *const asset_keys[] = {"id",         "name",   "kind",
                                         "semanticId", "parent", NULL};

static int load_assets(dt__mctx *c, const dt_config *arr)
{
    dt_model *m = c->m;
    size_t i = 0;
    for (const dt_config *a = dt__cfg_child(arr); a != NULL; a = dt__cfg_next(a), i++) {
        char path[64];
        dt__fmt(path, sizeof path, "assets[%zu]", i);
        dt__asset_rec *r = &m->asset_recs[i];
        int rc = dt__m_object(c, a, path, asset_keys, 0);
        if (rc == DT_OK)
            rc = dt__m_id(c, a, "id", path, &r->id);
        if (rc == DT_OK)
            rc = dt__m_string(c, a, "name", path, 0, &r->name);
        if (rc == DT_OK)
            rc = dt__m_string(c, a, "kind", path, 0, &r->kind);
        if (rc == DT_OK)
            rc = dt__m_semantic_id(c, a, path, &r->semantic_id);
        if (rc == DT_OK)
            rc = dt__m_string(c, a, "parent", path, 0, &r->parent_id);
        if (rc != DT_OK)
            return rc;
        dt_asset_info *info = &m->assets[i];
        info->id = r->id;
        info->name = r->name ? r->name : "";
        info->kind = r->kind ? r->kind : "";
        info->semantic_id = r->semantic_id;
        info->parent = DT_ID_NONE;
    }
    int rc = dt__m_index(c, "assets", m->n_assets, dt__asset_key, &m->asset_sorted);
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
                        dt__mq(pid, qb, sizeof qb));
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
                            dt__mq(m->asset_recs[i].id, qb, sizeof qb));
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

static int load_signal(dt__mctx *c, const dt_config *s, size_t i)
{
    dt_model *m = c->m;
    char path[64], p[128], qb[64];
    dt__fmt(path, sizeof path, "signals[%zu]", i);
    dt__signal_rec *r = &m->signal_recs[i];
    dt_signal_info *info = &m->signals[i];
    char *quantity = NULL, *role = NULL;

    int rc = dt__m_object(c, s, path, signal_keys, 0);
    if (rc == DT_OK)
        rc = dt__m_id(c, s, "id", path, &r->id);
    if (rc == DT_OK)
        rc = dt__m_string(c, s, "asset", path, 1, &r->asset_id);
    if (rc == DT_OK)
        rc = dt__m_string(c, s, "quantity", path, 1, &quantity);
    if (rc == DT_OK)
        rc = dt__m_string(c, s, "unit", path, 1, &r->unit);
    if (rc == DT_OK)
        rc = dt__m_string(c, s, "role", path, 1, &role);
    if (rc == DT_OK)
        rc = dt__m_semantic_id(c, s, path, &r->semantic_id);
    if (rc != DT_OK)
        goto out;

    info->id = r->id;
    info->unit_symbol = r->unit;
    info->semantic_id = r->semantic_id;

    if (dt__lookup(m, m->asset_sorted, m->n_assets, dt__asset_key, r->asset_id,
               &info->asset) != DT_OK) {
        dt__m_subpath(p, sizeof p, path, "asset");
        rc = fail(c, DT_EPARSE, p, "unknown asset %s",
                  dt__mq(r->asset_id, qb, sizeof qb));
        goto out;
    }

    int qi = -1;
    for (int k = 0; k < DT_UC__COUNT; k++)
        if (strcmp(dt_unit_class_name((dt_unit_class)k), quantity) == 0)
            qi = k;
    if (qi < 0) {
        dt__m_subpath(p, sizeof p, path, "quantity");
        rc = fail(c, DT_EPARSE, p, "unknown quantity %s (see docs/model.md)",
                  dt__mq(quantity, qb, sizeof qb));
        goto out;
    }
    info->quantity = (dt_unit_class)qi;

    dt__m_subpath(p, sizeof p, path, "unit");
    if (dt_unit_parse(r->unit, &info->unit) != DT_OK) {
        char sb[32];
        const char *near = dt__unit_suggest(r->unit, info->quantity, sb, sizeof sb);
        if (near != NULL)
            rc = fail(c, DT_EUNIT, p, "unknown unit %s (did you mean \"%s\"?)",
                      dt__mq(r->unit, qb, sizeof qb), near);
        else
            rc = fail(c, DT_EUNIT, p, "unknown unit %s (docs/model.md lists the units)",
                      dt__mq(r->unit, qb, sizeof qb));
        goto out;
    }
    /* Any quantity may be expressed per-unit; otherwise the unit's class must
     * be the quantity's. */
    if (info->unit.cls != info->quantity && info->unit.cls != DT_UC_PER_UNIT) {
        rc = fail(c, DT_EUNIT, p,
                  "unit %s measures %s, not %s (dimensionally incompatible)",
                  dt__mq(r->unit, qb, sizeof qb), dt_unit_class_name(info->unit.cls),
                  quantity);
        goto out;
    }

    int ri = -1;
    for (int k = 0; k <= DT_ROLE_PARAMETER; k++)
        if (strcmp(role_names[k], role) == 0)
            ri = k;
    if (ri < 0) {
        dt__m_subpath(p, sizeof p, path, "role");
        rc = fail(c, DT_EPARSE, p,
                  "unknown role %s (measured, estimated, commanded, parameter)",
                  dt__mq(role, qb, sizeof qb));
        goto out;
    }
    info->role = (dt_role)ri;

    info->min = -INFINITY;
    info->max = INFINITY;
    const dt_config *lim = dt_config_get(s, "limits");
    if (lim != NULL) {
        dt__m_subpath(p, sizeof p, path, "limits");
        int has_min = 0, has_max = 0;
        rc = dt__m_object(c, lim, p, limit_keys, 0);
        if (rc == DT_OK)
            rc = dt__m_number(c, lim, "min", p, 0, &info->min, &has_min);
        if (rc == DT_OK)
            rc = dt__m_number(c, lim, "max", p, 0, &info->max, &has_max);
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
    rc = dt__m_number(c, s, "period", path, 0, &r->period_s, &has_period);
    if (rc != DT_OK)
        goto out;
    if (has_period) {
        dt__m_subpath(p, sizeof p, path, "period");
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

    const dt_config *noise = dt_config_get(s, "noise");
    if (noise != NULL) {
        dt__m_subpath(p, sizeof p, path, "noise");
        int has_std = 0, has_var = 0;
        double sd = 0.0, var = 0.0;
        rc = dt__m_object(c, noise, p, noise_keys, 0);
        if (rc == DT_OK)
            rc = dt__m_number(c, noise, "std", p, 0, &sd, &has_std);
        if (rc == DT_OK)
            rc = dt__m_number(c, noise, "variance", p, 0, &var, &has_var);
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

static int load_signals(dt__mctx *c, const dt_config *arr)
{
    size_t i = 0;
    for (const dt_config *s = dt__cfg_child(arr); s != NULL; s = dt__cfg_next(s), i++) {
        int rc = load_signal(c, s, i);
        if (rc != DT_OK)
            return rc;
    }
    return dt__m_index(c, "signals", c->m->n_signals, dt__signal_key,
                       &c->m->signal_sorted);
}

/* ---- top level ---- */

/* The model's own keys; the rest of the top level is the sections the
 * layers registered (src/desc/desc.h). */
static const char *const root_keys[] = {"dtwin",   "name",    "description", "assets",
                                        "signals", "$schema", NULL};

static int load_root(dt__mctx *c, const dt_config *root)
{
    dt_model *m = c->m;
    int rc = dt__m_object(c, root, "", root_keys, 1);
    if (rc != DT_OK)
        return rc;
    double version = 0;
    rc = dt__m_number(c, root, "dtwin", "", 1, &version, NULL);
    if (rc != DT_OK)
        return rc;
    if (version != SCHEMA_VERSION) {
        char nb[32];
        return fail(c, DT_EPARSE, "dtwin",
                    "unsupported schema version %s (this library reads %d)",
                    dt__num(version, nb, sizeof nb), SCHEMA_VERSION);
    }
    rc = dt__m_string(c, root, "name", "", 1, &m->name);
    if (rc == DT_OK)
        rc = dt__m_string(c, root, "description", "", 0, &m->description);
    if (rc != DT_OK)
        return rc;
    /* "$schema" points an editor at docs/schema/dtwin.schema.json; the
     * loader only checks that it is a string (and does not save it back). */
    const dt_config *sv = dt_config_get(root, "$schema");
    if (sv != NULL && !dt__cfg_is_string(sv))
        return fail(c, DT_EPARSE, "$schema", "expected a string, got %s", dt__cfg_type_name(sv));

    const dt_config *assets, *signals;
    rc = dt__m_array(c, root, "assets", c->lim->max_assets, &assets, &m->n_assets);
    if (rc == DT_OK)
        rc = dt__m_array(c, root, "signals", c->lim->max_signals, &signals,
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

    /* Sections for later layers (the names they registered): kept as exact
     * text, in document order. */
    size_t ns = 0;
    for (const dt_config *it = dt__cfg_child(root); it != NULL; it = dt__cfg_next(it))
        ns += (size_t)dt__desc_is_section(dt__cfg_key(it));
    if (ns == 0)
        return DT_OK;
    m->sections = dt__calloc(&m->alloc, ns, sizeof *m->sections);
    if (m->sections == NULL)
        return fail(c, DT_ENOMEM, "", "out of memory");
    for (const dt_config *it = dt__cfg_child(root); it != NULL; it = dt__cfg_next(it)) {
        const char *key = dt__cfg_key(it);
        if (!dt__desc_is_section(key))
            continue;
        dt__section *sec = &m->sections[m->n_sections];
        rc = dt__desc_keep(c->desc, it, &m->alloc, &sec->json, c->diag);
        if (rc != DT_OK)
            return rc;
        m->n_sections++;
        sec->key = dt__strndup(&m->alloc, key, strlen(key));
        if (sec->key == NULL)
            return fail(c, DT_ENOMEM, key, "out of memory");
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

int dt__model_load(const char *text, size_t len, const dt_model_options *opt, dt_model **out,
                   dt__desc **keep, dt_diag *diag)
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

    dt__desc *desc = NULL;
    int rc = dt__desc_parse(text, len, &lim, alloc, &desc, diag);
    if (rc != DT_OK)
        return rc;
    dt_model *m = dt__calloc(alloc, 1, sizeof *m);
    if (m == NULL) {
        dt__desc_free(desc);
        return dt__diag(diag, DT_ENOMEM, "", "out of memory");
    }
    m->alloc = *alloc;
    m->logger = *logger;
    m->limits = lim;
    dt__mctx c = {m, &lim, diag, desc};
    rc = load_root(&c, dt__desc_root(desc));
    if (rc != DT_OK) {
        dt__desc_free(desc);
        dt__model_free(m);
        return rc;
    }
    dt__log(&m->logger, DT_LOG_INFO, "model", "loaded \"%s\": %zu assets, %zu signals", m->name,
            m->n_assets, m->n_signals);
    if (keep != NULL) {
        m->desc = desc; /* the caller's build reads the tree, then detaches it */
        *keep = desc;
    } else {
        dt__desc_free(desc);
    }
    *out = m;
    return DT_OK;
}

int dt_model_load_json(const char *text, size_t len, const dt_model_options *opt,
                       dt_model **out, dt_diag *diag)
{
    return dt__model_load(text, len, opt, out, NULL, diag);
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
