/* The registry: source, sink, controller and filter kinds by name, each
 * adapter kind with the context its instances share. It names no adapter: the
 * built-in kinds are registered by builtins.c (the built-in filter "kf" here). */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "../control/control_internal.h"
#include "../estimator/filter_internal.h"
#include "../platform/internal.h"
#include "adapters_internal.h"
#include "dtwin/bus.h"

#define MAX_KINDS 64
#define MAX_CLEANUPS 8
#define MAX_FILTERS 16
#define MAX_ENGINES 8

struct dt_registry {
    dt_allocator alloc;
    /* copies of the tables, members beyond a table's declared abi zeroed */
    dt_source_ops src[MAX_KINDS];
    dt_sink_ops snk[MAX_KINDS];
    void *src_ctx[MAX_KINDS], *snk_ctx[MAX_KINDS];
    const dt_controller_ops *ctl[MAX_KINDS];
    size_t n_src, n_snk, n_ctl;
    /* filter kinds: copies, optional slots filled with their defaults */
    dt_filter_ops flt[MAX_FILTERS];
    size_t n_flt;
    dt_bus_engine_ops eng[MAX_ENGINES]; /* bus engines: copies */
    size_t n_eng;
    struct {
        void (*fn)(void *arg, const dt_allocator *alloc);
        void *arg;
    } cleanup[MAX_CLEANUPS];
    size_t n_cleanup;
};

/* Bytes of a table of a declared version: the members it has. */
static size_t source_ops_size(uint32_t abi)
{
    return abi >= 3   ? sizeof(dt_source_ops)
           : abi == 2 ? offsetof(dt_source_ops, watches)
                      : offsetof(dt_source_ops, validate);
}

static size_t sink_ops_size(uint32_t abi)
{
    return abi >= 3   ? sizeof(dt_sink_ops)
           : abi == 2 ? offsetof(dt_sink_ops, poll)
                      : offsetof(dt_sink_ops, validate);
}

static int find(const dt_registry *r, int sink, const char *kind)
{
    size_t n = sink ? r->n_snk : r->n_src;
    for (size_t i = 0; kind != NULL && i < n; i++)
        if (strcmp(sink ? r->snk[i].kind : r->src[i].kind, kind) == 0)
            return (int)i;
    return -1;
}

int dt_registry_add_source_kind(dt_registry *r, const dt_source_ops *ops, void *kind_ctx)
{
    if (r == NULL || ops == NULL)
        return DT_EINVAL;
    if (ops->abi < DT_ADAPTER_ABI_MIN || ops->abi > DT_SOURCE_ABI)
        return DT_EABI;
    if (ops->kind == NULL || ops->kind[0] == '\0' || ops->open == NULL)
        return DT_EINVAL;
    if (find(r, 0, ops->kind) >= 0)
        return DT_EEXIST;
    if (r->n_src == MAX_KINDS)
        return DT_ELIMIT;
    dt_source_ops *copy = &r->src[r->n_src];
    memset(copy, 0, sizeof *copy);
    memcpy(copy, ops, source_ops_size(ops->abi));
    r->src_ctx[r->n_src++] = kind_ctx;
    return DT_OK;
}

int dt_registry_add_sink_kind(dt_registry *r, const dt_sink_ops *ops, void *kind_ctx)
{
    if (r == NULL || ops == NULL)
        return DT_EINVAL;
    if (ops->abi < DT_ADAPTER_ABI_MIN || ops->abi > DT_SINK_ABI)
        return DT_EABI;
    if (ops->kind == NULL || ops->kind[0] == '\0' || ops->open == NULL || ops->apply == NULL)
        return DT_EINVAL;
    if (find(r, 1, ops->kind) >= 0)
        return DT_EEXIST;
    if (r->n_snk == MAX_KINDS)
        return DT_ELIMIT;
    dt_sink_ops *copy = &r->snk[r->n_snk];
    memset(copy, 0, sizeof *copy);
    memcpy(copy, ops, sink_ops_size(ops->abi));
    r->snk_ctx[r->n_snk++] = kind_ctx;
    return DT_OK;
}

int dt_registry_add_source(dt_registry *r, const dt_source_ops *ops)
{
    return dt_registry_add_source_kind(r, ops, NULL);
}

int dt_registry_add_sink(dt_registry *r, const dt_sink_ops *ops)
{
    return dt_registry_add_sink_kind(r, ops, NULL);
}

int dt_registry_add_bus_engine(dt_registry *r, const dt_bus_engine_ops *ops)
{
    if (r == NULL || ops == NULL)
        return DT_EINVAL;
    if (ops->abi != DT_BUS_ENGINE_ABI)
        return DT_EABI;
    if (ops->name == NULL || ops->name[0] == '\0' || ops->open == NULL || ops->destroy == NULL ||
        ops->set_will == NULL || ops->before_connect == NULL || ops->on_state == NULL ||
        ops->subscribe == NULL || ops->publish == NULL || ops->connected == NULL ||
        ops->message_retained == NULL || ops->poll == NULL || ops->ready == NULL)
        return DT_EINVAL;
    if (dt_registry_bus_engine(r, ops->name) != NULL)
        return DT_EEXIST;
    if (r->n_eng == MAX_ENGINES)
        return DT_ELIMIT;
    r->eng[r->n_eng++] = *ops;
    return DT_OK;
}

const dt_bus_engine_ops *dt_registry_bus_engine(const dt_registry *r, const char *name)
{
    for (size_t i = 0; r != NULL && name != NULL && i < r->n_eng; i++)
        if (strcmp(r->eng[i].name, name) == 0)
            return &r->eng[i];
    return NULL;
}

const dt_source_ops *dt_registry_source(const dt_registry *r, const char *kind)
{
    int i = r ? find(r, 0, kind) : -1;
    return i >= 0 ? &r->src[i] : NULL;
}

const dt_sink_ops *dt_registry_sink(const dt_registry *r, const char *kind)
{
    int i = r ? find(r, 1, kind) : -1;
    return i >= 0 ? &r->snk[i] : NULL;
}

void *dt_registry_source_ctx(const dt_registry *r, const char *kind)
{
    int i = r ? find(r, 0, kind) : -1;
    return i >= 0 ? r->src_ctx[i] : NULL;
}

void *dt_registry_sink_ctx(const dt_registry *r, const char *kind)
{
    int i = r ? find(r, 1, kind) : -1;
    return i >= 0 ? r->snk_ctx[i] : NULL;
}

/* "csv, memory, udp": the kinds registered for a role, for a message that
 * names what an unknown kind could have been. */
const char *dt__registry_kinds(const dt_registry *r, int sink, char *buf, size_t cap)
{
    size_t n = sink ? r->n_snk : r->n_src, at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && at < cap; i++) {
        const char *k = sink ? r->snk[i].kind : r->src[i].kind;
        int w = snprintf(buf + at, cap - at, "%s%s", i ? ", " : "", k);
        if (w < 0)
            break;
        at += (size_t)w;
    }
    return n ? buf : "none";
}

int dt_registry_add_controller(dt_registry *r, const dt_controller_ops *ops)
{
    if (r == NULL || ops == NULL)
        return DT_EINVAL;
    if (ops->abi < DT_ADAPTER_ABI_MIN || ops->abi > DT_CONTROLLER_ABI)
        return DT_EABI;
    if (ops->kind == NULL || ops->kind[0] == '\0' || ops->init == NULL || ops->compute == NULL)
        return DT_EINVAL;
    if (dt_registry_controller(r, ops->kind) != NULL)
        return DT_EEXIST;
    if (r->n_ctl == MAX_KINDS)
        return DT_ELIMIT;
    r->ctl[r->n_ctl++] = ops;
    return DT_OK;
}

const dt_controller_ops *dt_registry_controller(const dt_registry *r, const char *kind)
{
    for (size_t i = 0; r != NULL && kind != NULL && i < r->n_ctl; i++)
        if (strcmp(r->ctl[i]->kind, kind) == 0)
            return r->ctl[i];
    return NULL;
}

int dt_registry_add_filter(dt_registry *r, const dt_filter_ops *ops)
{
    if (r == NULL || ops == NULL)
        return DT_EINVAL;
    if (ops->abi < 1 || ops->abi > DT_FILTER_ABI)
        return DT_EABI;
    /* ABI 1 is the first version: a later one appends slots, and this copy
     * then takes offsetof(its first slot) bytes of an older table */
    if (ops->kind == NULL || ops->kind[0] == '\0' || ops->instance_size == 0 ||
        ops->init == NULL || ops->predict == NULL || ops->update == NULL ||
        ops->belief == NULL || ops->data_time == NULL ||
        (ops->budget_count != NULL && ops->budget == NULL))
        return DT_EINVAL;
    if (dt_registry_filter(r, ops->kind) != NULL)
        return DT_EEXIST;
    if (r->n_flt == MAX_FILTERS)
        return DT_ELIMIT;
    dt_filter_ops *copy = &r->flt[r->n_flt++];
    memset(copy, 0, sizeof *copy);
    memcpy(copy, ops, ops->abi >= 2 ? sizeof *copy : offsetof(dt_filter_ops, fuse_reserve));
    dt__filter_defaults(copy);
    return DT_OK;
}

const dt_filter_ops *dt_registry_filter(const dt_registry *r, const char *kind)
{
    for (size_t i = 0; r != NULL && kind != NULL && i < r->n_flt; i++)
        if (strcmp(r->flt[i].kind, kind) == 0)
            return &r->flt[i];
    return NULL;
}

const char *dt__registry_filter_kinds(const dt_registry *r, char *buf, size_t cap)
{
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < r->n_flt && at < cap; i++) {
        int w = snprintf(buf + at, cap - at, "%s%s", i ? ", " : "", r->flt[i].kind);
        if (w < 0)
            break;
        at += (size_t)w;
    }
    return r->n_flt ? buf : "none";
}

int dt__registry_on_destroy(dt_registry *r, void (*fn)(void *arg, const dt_allocator *alloc),
                            void *arg)
{
    if (r->n_cleanup == MAX_CLEANUPS)
        return DT_ELIMIT;
    r->cleanup[r->n_cleanup].fn = fn;
    r->cleanup[r->n_cleanup++].arg = arg;
    return DT_OK;
}

const dt_allocator *dt__registry_allocator(const dt_registry *r) { return &r->alloc; }

int dt_registry_create(const dt_allocator *alloc, dt_registry **out)
{
    if (out == NULL)
        return DT_EINVAL;
    if (alloc == NULL)
        alloc = dt_allocator_default();
    dt_registry *r = dt__calloc(alloc, 1, sizeof *r);
    if (r == NULL)
        return DT_ENOMEM;
    r->alloc = *alloc;
    int rc = dt__register_builtins(r);
    if (rc == DT_OK)
        rc = dt_registry_add_filter(r, &dt__kf_filter_ops);
    if (rc != DT_OK) {
        dt_registry_destroy(r);
        return rc;
    }
    *out = r;
    return DT_OK;
}

void dt_registry_destroy(dt_registry *r)
{
    if (r == NULL)
        return;
    dt_allocator a = r->alloc;
    for (size_t i = r->n_cleanup; i-- > 0;)
        r->cleanup[i].fn(r->cleanup[i].arg, &a);
    dt__free(&a, r);
}
