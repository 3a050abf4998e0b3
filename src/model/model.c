/* Model accessors, lookup, destruction and saving. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

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

const char *dt__model_section(const dt_model *m, const char *key)
{
    for (size_t i = 0; m != NULL && i < m->n_sections; i++)
        if (strcmp(m->sections[i].key, key) == 0)
            return m->sections[i].json;
    return NULL;
}

/* ---- saving ---- */

static int add_str(cJSON *obj, const char *key, const char *val)
{
    return val == NULL || cJSON_AddStringToObject(obj, key, val) != NULL;
}

static int add_num(cJSON *obj, const char *key, double val)
{
    return cJSON_AddNumberToObject(obj, key, val) != NULL;
}

static cJSON *build(const dt_model *m)
{
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL && add_num(root, "dtwin", 1) &&
             add_str(root, "name", m->name) &&
             add_str(root, "description", m->description);
    cJSON *assets = ok ? cJSON_AddArrayToObject(root, "assets") : NULL;
    ok = ok && assets != NULL;
    for (size_t i = 0; ok && i < m->n_assets; i++) {
        const dt__asset_rec *r = &m->asset_recs[i];
        cJSON *a = cJSON_CreateObject();
        /* Once added, the tree owns the item; cJSON_Delete(root) frees all. */
        ok = a != NULL && cJSON_AddItemToArray(assets, a) && add_str(a, "id", r->id) &&
             add_str(a, "name", r->name) && add_str(a, "kind", r->kind) &&
             add_str(a, "semanticId", r->semantic_id) &&
             add_str(a, "parent", r->parent_id);
    }
    cJSON *signals = ok ? cJSON_AddArrayToObject(root, "signals") : NULL;
    ok = ok && signals != NULL;
    for (size_t i = 0; ok && i < m->n_signals; i++) {
        const dt__signal_rec *r = &m->signal_recs[i];
        const dt_signal_info *s = &m->signals[i];
        cJSON *o = cJSON_CreateObject();
        ok = o != NULL && cJSON_AddItemToArray(signals, o) &&
             add_str(o, "id", r->id) && add_str(o, "asset", r->asset_id) &&
             add_str(o, "quantity", dt_unit_class_name(s->quantity)) &&
             add_str(o, "unit", r->unit) &&
             add_str(o, "role", dt_role_name(s->role));
        if (ok && (r->has_min || r->has_max)) {
            cJSON *l = cJSON_AddObjectToObject(o, "limits");
            ok = l != NULL && (!r->has_min || add_num(l, "min", s->min)) &&
                 (!r->has_max || add_num(l, "max", s->max));
        }
        if (ok && r->has_period)
            ok = add_num(o, "period", r->period_s);
        if (ok && r->noise_kind != 0) {
            cJSON *nz = cJSON_AddObjectToObject(o, "noise");
            ok = nz != NULL && add_num(nz, r->noise_kind == 1 ? "std" : "variance",
                                       r->noise_value);
        }
        if (ok)
            ok = add_str(o, "semanticId", r->semantic_id);
    }
    for (size_t i = 0; ok && i < m->n_sections; i++) {
        cJSON *sec = cJSON_Parse(m->sections[i].json);
        ok = sec != NULL && cJSON_AddItemToObject(root, m->sections[i].key, sec);
        if (sec != NULL && !ok)
            cJSON_Delete(sec);
    }
    if (!ok) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

/* Prints the model; the text is owned by the model's allocator. */
static int render(const dt_model *m, char **text)
{
    dt__json_begin(&m->alloc);
    cJSON *root = build(m);
    *text = root != NULL ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    dt__json_end();
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
