/* Reading what other twins publish as JSON on the bus: $state and
 * $contract. Hostile input: every field is checked for type and range, the
 * payload is bytes (not a C string) and may hold anything. */
#include <math.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../platform/internal.h"
#include "bus_json.h"
#include "desc.h"

static cJSON *parse(const char *buf, size_t n)
{
    /* bytes: a NUL inside would end cJSON's string early, and a C string
     * reader must never run past n */
    if (n == 0 || n > DT__BUS_JSON_MAX || memchr(buf, '\0', n) != NULL)
        return NULL;
    int unclosed = 0;
    if (dt__json_depth(buf, n, &unclosed) > 16 || unclosed || dt__json_nul_escape(buf, n) != 0)
        return NULL; /* too deep, or a \u0000 that would cut a string short */
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, n, &end, 0);
    /* one document and nothing after it but white space */
    while (root != NULL && end != NULL && end < buf + n &&
           (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    if (root != NULL && end != buf + n) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

static int u32_of(const cJSON *o, const char *key, uint32_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 4294967295.0) ||
        v->valuedouble != floor(v->valuedouble))
        return 0;
    *out = (uint32_t)v->valuedouble;
    return 1;
}

static int str_of(const cJSON *o, const char *key, char *out, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v) || v->valuestring == NULL || strlen(v->valuestring) >= cap)
        return 0;
    memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
    return 1;
}

int dt__bus_state_parse(const char *buf, size_t n, const dt_allocator *a, dt__bus_peer_state *out)
{
    dt__json_scope sc;
    dt__json_enter(&sc, a);
    cJSON *root = parse(buf, n);
    int ok = root != NULL && cJSON_IsObject(root) &&
             str_of(root, "state", out->state, sizeof out->state) &&
             u32_of(root, "epoch", &out->epoch) && u32_of(root, "contract", &out->contract);
    cJSON_Delete(root);
    dt__json_leave(&sc);
    return ok ? DT_OK : DT_EPARSE;
}

int dt__bus_contract_parse(const char *buf, size_t n, const dt_allocator *a, const char *group,
                           dt__bus_peer_contract *out)
{
    dt__json_scope sc;
    dt__json_enter(&sc, a);
    cJSON *root = parse(buf, n);
    int rc = DT_EPARSE;
    out->n = 0;
    out->has_group = 0;
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(root, "beliefs");
    if (cJSON_IsObject(root) && u32_of(root, "version", &out->version) && out->version != 0 &&
        cJSON_IsArray(groups)) {
        rc = DT_OK;
        const cJSON *g;
        cJSON_ArrayForEach(g, groups)
        {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(g, "group");
            if (!cJSON_IsString(name) || strcmp(name->valuestring, group) != 0)
                continue;
            const cJSON *st = cJSON_GetObjectItemCaseSensitive(g, "states");
            int k = cJSON_IsArray(st) ? cJSON_GetArraySize(st) : -1;
            if (k < 1 || k > (int)DT__BUS_PEER_STATES) {
                rc = DT_EPARSE;
                break;
            }
            const cJSON *s;
            cJSON_ArrayForEach(s, st)
            {
                dt__bus_peer_state_info *i = &out->state[out->n];
                if (!cJSON_IsObject(s) || !str_of(s, "signal", i->signal, sizeof i->signal) ||
                    !str_of(s, "unit", i->unit, sizeof i->unit)) {
                    rc = DT_EPARSE;
                    break;
                }
                out->n++;
            }
            out->has_group = rc == DT_OK;
            break;
        }
    }
    cJSON_Delete(root);
    dt__json_leave(&sc);
    return rc;
}
