/* The read-only views of the description an adapter's open and validate
 * get: a dt_config is a cJSON node of the adapter's own object. */
#include <math.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "adapters_internal.h"

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

