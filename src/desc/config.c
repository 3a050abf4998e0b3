/* The read-only views of the description every layer reads: a dt_config is
 * a cJSON node of the parsed description. The public dt_config_* calls
 * (what adapters and controllers get) and the typed readers the layers
 * share. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../platform/internal.h"
#include "desc.h"

static const cJSON *J(const dt_config *c) { return (const cJSON *)(const void *)c; }
static const dt_config *C(const cJSON *j) { return (const dt_config *)(const void *)j; }

const dt_config *dt_config_get(const dt_config *c, const char *key)
{
    if (c == NULL || key == NULL || !cJSON_IsObject(J(c)))
        return NULL;
    return C(cJSON_GetObjectItemCaseSensitive(J(c), key));
}

const dt_config *dt_config_at(const dt_config *c, size_t i)
{
    if (c == NULL || !cJSON_IsArray(J(c)) || i > (size_t)INT32_MAX)
        return NULL;
    return C(cJSON_GetArrayItem(J(c), (int)i));
}

size_t dt_config_len(const dt_config *c)
{
    if (c == NULL || !(cJSON_IsArray(J(c)) || cJSON_IsObject(J(c))))
        return 0;
    size_t n = 0;
    for (const cJSON *it = J(c)->child; it != NULL; it = it->next)
        n++;
    return n;
}

int dt_config_string(const dt_config *c, const char **out)
{
    if (c == NULL || out == NULL)
        return DT_ENOTFOUND;
    if (!cJSON_IsString(J(c)))
        return DT_EPARSE;
    *out = J(c)->valuestring;
    return DT_OK;
}

int dt_config_number(const dt_config *c, double *out)
{
    if (c == NULL || out == NULL)
        return DT_ENOTFOUND;
    if (!cJSON_IsNumber(J(c)) || !isfinite(J(c)->valuedouble))
        return DT_EPARSE;
    *out = J(c)->valuedouble;
    return DT_OK;
}

int dt_config_bool(const dt_config *c, int *out)
{
    if (c == NULL || out == NULL)
        return DT_ENOTFOUND;
    if (!cJSON_IsBool(J(c)))
        return DT_EPARSE;
    *out = cJSON_IsTrue(J(c));
    return DT_OK;
}

/* ---- the layers' typed readers ---- */

dt__cfg_type dt__cfg_type_of(const dt_config *c)
{
    const cJSON *j = J(c);
    if (j == NULL)
        return DT__CFG_ABSENT;
    if (cJSON_IsObject(j))
        return DT__CFG_OBJECT;
    if (cJSON_IsArray(j))
        return DT__CFG_ARRAY;
    if (cJSON_IsString(j))
        return DT__CFG_STRING;
    if (cJSON_IsNumber(j))
        return DT__CFG_NUMBER;
    if (cJSON_IsBool(j))
        return DT__CFG_BOOL;
    return DT__CFG_NULL;
}

const char *dt__cfg_type_name(const dt_config *c)
{
    if (c != NULL && cJSON_IsInvalid(J(c)))
        return "an invalid value";
    static const char *const names[] = {"nothing",  "null",     "a boolean", "a number",
                                        "a string", "an array", "an object"};
    return names[dt__cfg_type_of(c)];
}

const char *dt__cfg_got(const dt_config *c, char *buf, size_t cap)
{
    if (cJSON_IsNumber(J(c)))
        return dt__num(J(c)->valuedouble, buf, cap);
    return dt__cfg_type_name(c);
}

int dt__cfg_is_object(const dt_config *c) { return cJSON_IsObject(J(c)); }
int dt__cfg_is_array(const dt_config *c) { return cJSON_IsArray(J(c)); }
int dt__cfg_is_string(const dt_config *c) { return cJSON_IsString(J(c)); }
int dt__cfg_is_number(const dt_config *c) { return cJSON_IsNumber(J(c)); }
int dt__cfg_is_true(const dt_config *c) { return cJSON_IsTrue(J(c)); }

double dt__cfg_num(const dt_config *c) { return cJSON_IsNumber(J(c)) ? J(c)->valuedouble : NAN; }
const char *dt__cfg_str(const dt_config *c)
{
    return cJSON_IsString(J(c)) ? J(c)->valuestring : NULL;
}

const dt_config *dt__cfg_child(const dt_config *c) { return c != NULL ? C(J(c)->child) : NULL; }
const dt_config *dt__cfg_next(const dt_config *c) { return c != NULL ? C(J(c)->next) : NULL; }
const char *dt__cfg_key(const dt_config *c) { return c != NULL ? J(c)->string : NULL; }

int dt__cfg_count(const dt_config *c) { return c != NULL ? cJSON_GetArraySize(J(c)) : 0; }

int dt__cfg_check_keys(dt_diag *diag, const dt_config *obj, const char *path,
                       const char *const *keys, const char *const *extra)
{
    for (const cJSON *it = J(obj)->child; it != NULL; it = it->next) {
        int ok = 0;
        for (size_t k = 0; keys != NULL && keys[k] != NULL; k++)
            ok |= strcmp(keys[k], it->string) == 0;
        for (size_t k = 0; extra != NULL && extra[k] != NULL; k++)
            ok |= strcmp(extra[k], it->string) == 0;
        char p[160];
        dt__fmt(p, sizeof p, "%s.%s", path, it->string);
        if (!ok)
            return dt__diag(diag, DT_EPARSE, p, "unknown key \"%s\"", it->string);
        for (const cJSON *jt = J(obj)->child; jt != it; jt = jt->next)
            if (strcmp(jt->string, it->string) == 0)
                return dt__diag(diag, DT_EPARSE, p, "duplicate key");
    }
    return DT_OK;
}

int dt__cfg_opt_number(dt_diag *diag, const dt_config *obj, const char *path, const char *key,
                       double *out, int *present)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(J(obj), key);
    if (present)
        *present = v != NULL;
    if (v == NULL)
        return DT_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
        char p[128];
        dt__fmt(p, sizeof p, "%s.%s", path, key);
        return dt__diag(diag, DT_EPARSE, p, "expected a finite number");
    }
    *out = v->valuedouble;
    return DT_OK;
}
