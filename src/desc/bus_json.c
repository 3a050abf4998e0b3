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

/* The entries of a group's "states" or a stream's "signals": 1..64
 * objects, each with "signal" and "unit" (and, with sem, an optional
 * "semantic_id" string). Into out (from out->n on) when it is not NULL,
 * else only checked. */
static int entries(const cJSON *arr, int sem, dt__bus_peer_contract *out)
{
    int k = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : -1;
    if (k < 1 || k > (int)DT__BUS_PEER_STATES)
        return DT_EPARSE;
    dt__bus_peer_state_info scratch = {{0}, {0}, {0}};
    const cJSON *s;
    cJSON_ArrayForEach(s, arr)
    {
        dt__bus_peer_state_info *i = out != NULL ? &out->state[out->n] : &scratch;
        i->semantic_id[0] = '\0';
        if (!cJSON_IsObject(s) || !str_of(s, "signal", i->signal, sizeof i->signal) ||
            !str_of(s, "unit", i->unit, sizeof i->unit))
            return DT_EPARSE;
        if (sem && cJSON_GetObjectItemCaseSensitive(s, "semantic_id") != NULL &&
            !str_of(s, "semantic_id", i->semantic_id, sizeof i->semantic_id))
            return DT_EPARSE;
        if (out != NULL)
            out->n++;
    }
    return DT_OK;
}

/* An n x n matrix of finite numbers of at most 1e150 in magnitude (so that
 * ageing cannot overflow a product of two); into M when M is not NULL and
 * n is small enough to keep, only checked otherwise. */
static int square(const cJSON *arr, size_t n, double *M)
{
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != (int)n)
        return 0;
    size_t i = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, arr)
    {
        if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) != (int)n)
            return 0;
        size_t j = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, row)
        {
            if (!cJSON_IsNumber(v) || !(fabs(v->valuedouble) <= 1e150))
                return 0;
            if (M != NULL && n <= DT__BUS_PEER_MODEL)
                M[i * n + j] = v->valuedouble;
            j++;
        }
        i++;
    }
    return 1;
}

/* A group's "states", "independent" and its model "A", "Q": into out when
 * it is not NULL, else only checked. */
static int group_read(const cJSON *g, dt__bus_peer_contract *out)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(g, "states");
    if (entries(arr, 1, out) != DT_OK)
        return DT_EPARSE;
    size_t n = (size_t)cJSON_GetArraySize(arr);
    const cJSON *ind = cJSON_GetObjectItemCaseSensitive(g, "independent");
    if (ind != NULL && !cJSON_IsBool(ind))
        return DT_EPARSE;
    if (!square(cJSON_GetObjectItemCaseSensitive(g, "A"), n, out ? out->A : NULL) ||
        !square(cJSON_GetObjectItemCaseSensitive(g, "Q"), n, out ? out->Q : NULL))
        return DT_EPARSE;
    if (out != NULL) {
        out->independent = cJSON_IsTrue(ind);
        out->has_model = n <= DT__BUS_PEER_MODEL;
        out->has_group = 1;
    }
    return DT_OK;
}

/* A stream's "max_age" and "signals": into out when it is not NULL. */
static int stream_read(const cJSON *st, dt__bus_peer_contract *out)
{
    const cJSON *age = cJSON_GetObjectItemCaseSensitive(st, "max_age");
    if (!cJSON_IsNumber(age) || !isfinite(age->valuedouble) || !(age->valuedouble > 0) ||
        entries(cJSON_GetObjectItemCaseSensitive(st, "signals"), 1, out) != DT_OK)
        return DT_EPARSE;
    if (out != NULL) {
        out->max_age = age->valuedouble;
        out->has_group = 1;
    }
    return DT_OK;
}

/* The entry of `list` whose `key` is name, or NULL. */
static const cJSON *named(const cJSON *list, const char *key, const char *name)
{
    const cJSON *g;
    cJSON_ArrayForEach(g, list)
    {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(g, key);
        if (cJSON_IsString(v) && strcmp(v->valuestring, name) == 0)
            return g;
    }
    return NULL;
}

/* A contract's group (stream == 0) or stream: checked whole first, and only
 * then written, so that a contract that does not parse leaves *out as it
 * was (a reader ages beliefs with the model of the contract it checked). */
static int contract_parse(const char *buf, size_t n, const dt_allocator *a, const char *name,
                          int stream, dt__bus_peer_contract *out)
{
    dt__json_scope sc;
    dt__json_enter(&sc, a);
    cJSON *root = parse(buf, n);
    int rc = DT_EPARSE;
    uint32_t version = 0;
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(root, "beliefs");
    const cJSON *streams = cJSON_GetObjectItemCaseSensitive(root, "streams");
    const cJSON *item = NULL;
    if (cJSON_IsObject(root) && u32_of(root, "version", &version) && version != 0 &&
        cJSON_IsArray(groups) && (!stream || streams == NULL || cJSON_IsArray(streams))) {
        item = !stream ? named(groups, "group", name)
                       : streams != NULL ? named(streams, "stream", name) : NULL;
        rc = item == NULL ? DT_OK : stream ? stream_read(item, NULL) : group_read(item, NULL);
    }
    if (rc == DT_OK) {
        out->version = version;
        out->n = 0;
        out->has_group = 0;
        if (stream) {
            out->max_age = 0;
        } else {
            out->has_model = 0;
            out->independent = 0;
        }
        if (item != NULL)
            rc = stream ? stream_read(item, out) : group_read(item, out);
    }
    cJSON_Delete(root);
    dt__json_leave(&sc);
    return rc;
}

int dt__bus_contract_parse(const char *buf, size_t n, const dt_allocator *a, const char *group,
                           dt__bus_peer_contract *out)
{
    return contract_parse(buf, n, a, group, 0, out);
}

int dt__bus_contract_parse_stream(const char *buf, size_t n, const dt_allocator *a,
                                  const char *stream, dt__bus_peer_contract *out)
{
    return contract_parse(buf, n, a, stream, 1, out);
}
