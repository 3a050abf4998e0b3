/* Writing a description back (the model's save): a small builder over cJSON,
 * so the model need not know it. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../platform/internal.h"
#include "../platform/numtext.h"
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

/* A number as cJSON prints it ("%d" for an int, else 15 digits, else 17),
 * except where that would not read back to the same double: cJSON keeps 15
 * digits when they read back within a few ulps (0.005000000000000001 became
 * 0.005), or even overflow (DBL_MAX became 1.79769313486232e+308, which
 * reads back as infinity), and prints -0 as 0. Written and read back by
 * numtext, not printf and strtod: in a host's locale with a decimal comma
 * those made "min": -0,5, which is not JSON. cap >= DT__NUM_TEXT. */
static void print_exact(double v, char *buf, size_t cap)
{
    if (!isfinite(v)) { /* not reached (the callers' numbers are finite): as cJSON */
        (void)snprintf(buf, cap, "null");
        return;
    }
    if (v == floor(v) && v >= INT_MIN && v <= INT_MAX && !(v == 0 && signbit(v))) {
        (void)snprintf(buf, cap, "%d", (int)v); /* no locale changes %d */
        return;
    }
    double back;
    size_t n = dt__num_format_g(buf, cap, v, 15);
    if (dt__num_parse(buf, n, &back) != DT__NUM_OK || back != v)
        (void)dt__num_format_g(buf, cap, v, 17);
}

/* The model's own numbers too (limits, period, noise): cJSON's printer would
 * round them as above. v is finite. */
int dt__jw_add_number(dt__jw *obj, const char *key, double val)
{
    char buf[32];
    print_exact(val, buf, sizeof buf);
    return obj != NULL && add(obj, key, cJSON_CreateRaw(buf)) != NULL;
}

int dt__desc_raw_numbers(cJSON *node, void (*print)(double v, char *buf, size_t cap))
{
    if (cJSON_IsNumber(node)) {
        /* a section may itself be a number ("latency": 0.005000000000000001) */
        char buf[32];
        print(node->valuedouble, buf, sizeof buf);
        size_t len = strlen(buf) + 1;
        char *raw = cJSON_malloc(len);
        if (raw == NULL)
            return -1;
        memcpy(raw, buf, len);
        node->type = cJSON_Raw; /* cJSON_Delete frees valuestring with its hooks */
        node->valuestring = raw;
        return 0;
    }
    for (cJSON *it = node->child; it != NULL; it = it->next)
        if (dt__desc_raw_numbers(it, print) != 0)
            return -1;
    return 0;
}

int dt__jw_add_text(dt__jw *obj, const char *key, const char *json)
{
    cJSON *sec = obj != NULL ? cJSON_Parse(json) : NULL;
    if (sec != NULL && dt__desc_raw_numbers(sec, print_exact) != 0) {
        cJSON_Delete(sec);
        sec = NULL;
    }
    return sec != NULL && add(obj, key, sec) != NULL;
}

char *dt__jw_finish(dt__jw *root)
{
    char *txt = root != NULL ? cJSON_Print(J(root)) : NULL;
    cJSON_Delete(J(root));
    return txt;
}

void dt__jw_free(dt__jw *root) { cJSON_Delete(J(root)); }
