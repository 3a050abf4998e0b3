/* Model accessors, lookup, destruction and saving. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>

#include "../desc/desc.h"
#include "../platform/internal.h"
#include "model_internal.h"

void dt__model_free(dt_model *m)
{
    if (m == NULL)
        return;
    const dt_allocator a = m->alloc;
    if (m->asset_recs != NULL)
        for (size_t i = 0; i < m->n_assets; i++) {
            dt__asset_rec *r = &m->asset_recs[i];
            dt__free(&a, r->id);
            dt__free(&a, r->name);
            dt__free(&a, r->kind);
            dt__free(&a, r->semantic_id);
            dt__free(&a, r->parent_id);
        }
    if (m->signal_recs != NULL)
        for (size_t i = 0; i < m->n_signals; i++) {
            dt__signal_rec *r = &m->signal_recs[i];
            dt__free(&a, r->id);
            dt__free(&a, r->asset_id);
            dt__free(&a, r->unit);
            dt__free(&a, r->semantic_id);
        }
    if (m->sections != NULL)
        for (size_t i = 0; i < m->n_sections; i++) {
            dt__free(&a, m->sections[i].key);
            dt__free(&a, m->sections[i].json);
        }
    dt__free(&a, m->sections);
    dt__free(&a, m->asset_recs);
    dt__free(&a, m->assets);
    dt__free(&a, m->signal_recs);
    dt__free(&a, m->signals);
    dt__free(&a, m->asset_sorted);
    dt__free(&a, m->signal_sorted);
    dt__free(&a, m->name);
    dt__free(&a, m->description);
    dt__free(&a, m);
}

void dt_model_destroy(dt_model *model) { dt__model_free(model); }

const char *dt_model_name(const dt_model *m)
{
    return m != NULL && m->name != NULL ? m->name : "";
}

size_t dt_model_asset_count(const dt_model *m) { return m ? m->n_assets : 0; }
size_t dt_model_signal_count(const dt_model *m) { return m ? m->n_signals : 0; }

const dt_asset_info *dt_model_asset(const dt_model *m, dt_asset_id id)
{
    if (m == NULL || id >= m->n_assets)
        return NULL;
    return &m->assets[id];
}

const dt_signal_info *dt_model_signal(const dt_model *m, dt_signal_id id)
{
    if (m == NULL || id >= m->n_signals)
        return NULL;
    return &m->signals[id];
}

int dt_model_find_asset(const dt_model *m, const char *id, dt_asset_id *out)
{
    if (m == NULL || id == NULL || out == NULL)
        return DT_EINVAL;
    return dt__lookup(m, m->asset_sorted, m->n_assets, dt__asset_key, id, out);
}

int dt_model_find_signal(const dt_model *m, const char *id, dt_signal_id *out)
{
    if (m == NULL || id == NULL || out == NULL)
        return DT_EINVAL;
    return dt__lookup(m, m->signal_sorted, m->n_signals, dt__signal_key, id,
                      out);
}

size_t dt__model_section_count(const dt_model *m) { return m != NULL ? m->n_sections : 0; }

const char *dt__model_section_at(const dt_model *m, size_t i, const char **key)
{
    *key = m->sections[i].key;
    return m->sections[i].json;
}

const struct dt__desc *dt__model_desc(const dt_model *m) { return m != NULL ? m->desc : NULL; }

void dt__model_detach(dt_model *m)
{
    if (m != NULL)
        m->desc = NULL;
}

/* ---- saving ---- */

static dt__jw *build(const dt_model *m)
{
    dt__jw *root = dt__jw_root();
    int ok = dt__jw_add_number(root, "dtwin", 1) && dt__jw_add_string(root, "name", m->name) &&
             dt__jw_add_string(root, "description", m->description);
    dt__jw *assets = ok ? dt__jw_add_array(root, "assets") : NULL;
    ok = ok && assets != NULL;
    for (size_t i = 0; ok && i < m->n_assets; i++) {
        const dt__asset_rec *r = &m->asset_recs[i];
        /* Once added, the tree owns the item; freeing the root frees all. */
        dt__jw *a = dt__jw_add_object(assets, NULL);
        ok = dt__jw_add_string(a, "id", r->id) && dt__jw_add_string(a, "name", r->name) &&
             dt__jw_add_string(a, "kind", r->kind) &&
             dt__jw_add_string(a, "semanticId", r->semantic_id) &&
             dt__jw_add_string(a, "parent", r->parent_id);
    }
    dt__jw *signals = ok ? dt__jw_add_array(root, "signals") : NULL;
    ok = ok && signals != NULL;
    for (size_t i = 0; ok && i < m->n_signals; i++) {
        const dt__signal_rec *r = &m->signal_recs[i];
        const dt_signal_info *s = &m->signals[i];
        dt__jw *o = dt__jw_add_object(signals, NULL);
        ok = dt__jw_add_string(o, "id", r->id) && dt__jw_add_string(o, "asset", r->asset_id) &&
             dt__jw_add_string(o, "quantity", dt_unit_class_name(s->quantity)) &&
             dt__jw_add_string(o, "unit", r->unit) &&
             dt__jw_add_string(o, "role", dt_role_name(s->role));
        if (ok && (r->has_min || r->has_max)) {
            dt__jw *l = dt__jw_add_object(o, "limits");
            ok = l != NULL && (!r->has_min || dt__jw_add_number(l, "min", s->min)) &&
                 (!r->has_max || dt__jw_add_number(l, "max", s->max));
        }
        if (ok && r->has_period)
            ok = dt__jw_add_number(o, "period", r->period_s);
        if (ok && r->noise_kind != 0) {
            dt__jw *nz = dt__jw_add_object(o, "noise");
            ok = dt__jw_add_number(nz, r->noise_kind == 1 ? "std" : "variance", r->noise_value);
        }
        if (ok)
            ok = dt__jw_add_string(o, "semanticId", r->semantic_id);
    }
    for (size_t i = 0; ok && i < m->n_sections; i++)
        ok = dt__jw_add_text(root, m->sections[i].key, m->sections[i].json);
    if (!ok) {
        dt__jw_free(root);
        return NULL;
    }
    return root;
}

/* Prints the model; the text is owned by the model's allocator. */
static int render(const dt_model *m, char **text)
{
    dt__json_scope s;
    dt__json_enter(&s, &m->alloc);
    dt__jw *root = build(m);
    *text = root != NULL ? dt__jw_finish(root) : NULL;
    dt__json_leave(&s);
    return *text != NULL ? DT_OK : DT_ENOMEM;
}

int dt_model_save_json(const dt_model *m, char *buf, size_t cap, size_t *needed)
{
    if (m == NULL || (buf == NULL && cap != 0))
        return DT_EINVAL;
    char *text;
    int rc = render(m, &text);
    if (rc != DT_OK)
        return rc;
    size_t n = strlen(text) + 1;
    if (needed != NULL)
        *needed = n;
    if (n > cap) {
        rc = DT_EFULL;
    } else {
        memcpy(buf, text, n);
    }
    dt__free(&m->alloc, text);
    return rc;
}

int dt_model_save_file(const dt_model *m, const char *path)
{
    if (m == NULL || path == NULL)
        return DT_EINVAL;
    char *text;
    int rc = render(m, &text);
    if (rc != DT_OK)
        return rc;
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        rc = DT_EIO;
    } else {
        size_t n = strlen(text);
        if (fwrite(text, 1, n, f) != n || fputc('\n', f) == EOF)
            rc = DT_EIO;
        if (fclose(f) != 0)
            rc = DT_EIO;
    }
    dt__free(&m->alloc, text);
    return rc;
}
