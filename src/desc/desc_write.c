/* Writing a description back (the model's save): a small builder over cJSON,
 * so the model need not know it. */
#include <string.h>

#include <cjson/cJSON.h>

#include "../platform/internal.h"
#include "desc.h"

static cJSON *J(dt__jw *w) { return (cJSON *)(void *)w; }
static dt__jw *W(cJSON *j) { return (dt__jw *)(void *)j; }

dt__jw *dt__jw_root(void) { return W(cJSON_CreateObject()); }

/* Adds item to parent (under key, or as an element); frees it on failure. */
static dt__jw *add(dt__jw *parent, const char *key, cJSON *item)
{
    int ok = item != NULL && parent != NULL &&
             (key != NULL ? cJSON_AddItemToObject(J(parent), key, item)
                          : cJSON_AddItemToArray(J(parent), item));
    if (!ok) {
        cJSON_Delete(item);
        return NULL;
    }
    return W(item);
}

dt__jw *dt__jw_add_object(dt__jw *parent, const char *key)
{
    return parent != NULL ? add(parent, key, cJSON_CreateObject()) : NULL;
}

dt__jw *dt__jw_add_array(dt__jw *parent, const char *key)
{
    return parent != NULL ? add(parent, key, cJSON_CreateArray()) : NULL;
}

int dt__jw_add_string(dt__jw *obj, const char *key, const char *val)
{
    if (val == NULL)
        return obj != NULL;
    return obj != NULL && add(obj, key, cJSON_CreateString(val)) != NULL;
}

int dt__jw_add_number(dt__jw *obj, const char *key, double val)
{
    return obj != NULL && add(obj, key, cJSON_CreateNumber(val)) != NULL;
}

int dt__jw_add_text(dt__jw *obj, const char *key, const char *json)
{
    return obj != NULL && add(obj, key, cJSON_Parse(json)) != NULL;
}

char *dt__jw_finish(dt__jw *root)
{
    char *txt = root != NULL ? cJSON_Print(J(root)) : NULL;
    cJSON_Delete(J(root));
    return txt;
}

void dt__jw_free(dt__jw *root) { cJSON_Delete(J(root)); }
