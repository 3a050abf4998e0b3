/* The adapter host reading its sections of the description: "sources" and
 * "sinks", each entry's id, kind, mapping and ingest settings; the kind's
 * own keys are checked against its table, and its open (or validate) gets
 * the entry's view. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../desc/desc.h"
#include "../platform/internal.h"
#include "../bus/bus.h"
#include "host_internal.h"

#define fail dt__fail

static const char *const common_keys[] = {"id",       "kind",    "mapping", "ring",
                                          "overflow", "clock",   "lateness",
                                          "timeout",  "reorder", "max_hold", NULL};
static const char *const sink_common_keys[] = {"id", "kind", "mapping", NULL};
static const char *const map_keys[] = {"native", "channel", "signal", "unit",
                                       "scale",  "offset",  NULL};
static const char *const clock_keys[] = {"mode", "offset", "skew", "window",
                                         "windows", "jump", NULL};



static int num(build *b, const dt_config *o, const char *path, const char *key, double *out,
               int *present)
{
    return dt__cfg_opt_number(b->diag, o, path, key, out, present);
}

static int str(build *b, const dt_config *o, const char *path, const char *key,
               int required, const char **out)
{
    const dt_config *v = dt_config_get(o, key);
    char p[128];
    dt__fmt(p, sizeof p, "%s.%s", path, key);
    if (v == NULL) {
        if (required)
            return fail(b, DT_EPARSE, p, "missing (required string)");
        *out = NULL;
        return DT_OK;
    }
    if (!dt__cfg_is_string(v))
        return fail(b, DT_EPARSE, p, "expected a non-empty string of at most 256 bytes, got %s",
                    dt__cfg_type_name(v));
    if (dt__cfg_str(v)[0] == '\0' || strlen(dt__cfg_str(v)) > 256)
        return fail(b, DT_EPARSE, p,
                    "expected a non-empty string of at most 256 bytes, got %zu bytes",
                    strlen(dt__cfg_str(v)));
    *out = dt__cfg_str(v);
    return DT_OK;
}

static int cmp_channel(const dt_mapping *m, size_t a, size_t c)
{
    return m[a].channel < m[c].channel ? -1 : m[a].channel > m[c].channel;
}

/* Resolves a "mapping" array. sink: conversion runs canonical -> native and
 * only commanded signals qualify; source: native -> canonical, measured or
 * parameter signals. */
static int build_maps(build *b, const dt_config *arr, const char *path, int sink,
                      mapset *ms)
{
    dt_io *io = b->io;
    char p[128];
    dt__fmt(p, sizeof p, "%s.mapping", path);
    if (arr == NULL)
        return DT_OK;
    if (!dt__cfg_is_array(arr))
        return fail(b, DT_EPARSE, p, "expected an array, got %s", dt__cfg_type_name(arr));
    size_t n = (size_t)dt__cfg_count(arr);
    if (n > 65536)
        return fail(b, DT_ELIMIT, p, "more than 65536 entries");
    ms->m = dt__calloc(&io->alloc, n, sizeof *ms->m);
    ms->by_channel = dt__calloc(&io->alloc, n, sizeof *ms->by_channel);
    if (ms->m == NULL || ms->by_channel == NULL)
        return fail(b, DT_ENOMEM, p, "out of memory");
    size_t i = 0;
    for (const dt_config *e = dt__cfg_child(arr); e != NULL; e = dt__cfg_next(e), i++) {
        char ep[128], kp[160], nb[32];
        dt__fmt(ep, sizeof ep, "%s[%zu]", p, i);
        if (!dt__cfg_is_object(e))
            return fail(b, DT_EPARSE, ep, "expected an object, got %s", dt__cfg_type_name(e));
        int rc = dt__cfg_check_keys(b->diag, e, ep, map_keys, NULL);
        const char *sig = NULL, *native = NULL, *unit = NULL;
        if (rc == DT_OK)
            rc = str(b, e, ep, "signal", 1, &sig);
        if (rc == DT_OK)
            rc = str(b, e, ep, "native", 0, &native);
        if (rc == DT_OK)
            rc = str(b, e, ep, "unit", 0, &unit);
        double scale = 1.0, offset = 0.0, chan = -1;
        int has_chan = 0;
        if (rc == DT_OK)
            rc = num(b, e, ep, "scale", &scale, NULL);
        if (rc == DT_OK)
            rc = num(b, e, ep, "offset", &offset, NULL);
        if (rc == DT_OK)
            rc = num(b, e, ep, "channel", &chan, &has_chan);
        if (rc != DT_OK)
            return rc;
        dt_mapping *m = &ms->m[i];
        dt__fmt(kp, sizeof kp, "%s.signal", ep);
        if (dt_model_find_signal(io->model, sig, &m->signal) != DT_OK)
            return fail(b, DT_EPARSE, kp, "unknown signal \"%s\"", sig);
        const dt_signal_info *si = dt_model_signal(io->model, m->signal);
        int ok_role = sink ? si->role == DT_ROLE_COMMANDED
                           : (si->role == DT_ROLE_MEASURED || si->role == DT_ROLE_PARAMETER);
        if (!ok_role)
            return fail(b, DT_EPARSE, kp, "signal \"%s\" is %s; a %s maps %s signals", sig,
                        dt_role_name(si->role), sink ? "sink" : "source",
                        sink ? "commanded" : "measured or parameter");
        if (has_chan && native != NULL)
            return fail(b, DT_EPARSE, ep, "give native or channel, not both");
        if (has_chan && (chan < 0 || chan > 4294967295.0 || chan != floor(chan))) {
            dt__fmt(kp, sizeof kp, "%s.channel", ep);
            return fail(b, DT_EPARSE, kp, "must be an integer in 0..4294967295, got %s",
                        dt__num(chan, nb, sizeof nb));
        }
        if (scale == 0.0) {
            dt__fmt(kp, sizeof kp, "%s.scale", ep);
            return fail(b, DT_EPARSE, kp, "must not be 0");
        }
        double cs = 1.0, co = 0.0;
        if (unit != NULL) {
            dt_unit nu;
            dt__fmt(kp, sizeof kp, "%s.unit", ep);
            if (dt_unit_parse(unit, &nu) != DT_OK)
                return fail(b, DT_EUNIT, kp, "unknown unit \"%s\"", unit);
            if (dt_unit_conversion(&nu, &si->unit, &cs, &co) != DT_OK)
                return fail(b, DT_EUNIT, kp,
                            "unit \"%s\" does not convert to the signal's \"%s\"", unit,
                            si->unit_symbol);
        }
        /* native raw -> native unit -> canonical */
        double s_all = scale * cs, o_all = offset * cs + co;
        if (sink) {
            m->scale = 1.0 / s_all;
            m->offset = -o_all / s_all;
        } else {
            m->scale = s_all;
            m->offset = o_all;
        }
        m->channel = has_chan ? (int64_t)chan : -1;
        m->native = has_chan ? NULL : (native != NULL ? native : si->id);
        if (m->native != NULL) {
            /* The string must outlive the JSON tree. */
            char *copy = dt__strndup(&io->alloc, m->native, strlen(m->native));
            if (copy == NULL)
                return fail(b, DT_ENOMEM, ep, "out of memory");
            m->native = copy;
            for (size_t k = 0; k < i; k++)
                if (ms->m[k].native != NULL && strcmp(ms->m[k].native, copy) == 0) {
                    ms->n = i + 1; /* so the copy is freed */
                    return fail(b, DT_EPARSE, ep, "native name \"%s\" mapped twice", copy);
                }
        } else {
            ms->by_channel[ms->n_channel++] = i;
        }
        ms->n = i + 1;
    }
    /* Sort channel indices (insertion sort: start-up only, small n typical). */
    for (size_t k = 1; k < ms->n_channel; k++) {
        size_t v = ms->by_channel[k], j = k;
        while (j > 0 && cmp_channel(ms->m, ms->by_channel[j - 1], v) > 0) {
            ms->by_channel[j] = ms->by_channel[j - 1];
            j--;
        }
        ms->by_channel[j] = v;
    }
    for (size_t k = 1; k < ms->n_channel; k++)
        if (ms->m[ms->by_channel[k]].channel == ms->m[ms->by_channel[k - 1]].channel)
            return fail(b, DT_EPARSE, p, "channel %lld mapped twice",
                        (long long)ms->m[ms->by_channel[k]].channel);
    return DT_OK;
}

void dt__io_free_maps(const dt_allocator *a, mapset *ms)
{
    for (size_t i = 0; ms->m != NULL && i < ms->n; i++)
        dt__free(a, (void *)(uintptr_t)ms->m[i].native);
    dt__free(a, ms->m);
    dt__free(a, ms->by_channel);
    memset(ms, 0, sizeof *ms);
}

static int source_config(build *b, const dt_config *o, const char *path,
                         dt_source_config *sc)
{
    double v = 0;
    int has = 0;
    const char *s = NULL;
    int rc = num(b, o, path, "ring", &v, &has);
    char p[128], nb[32];
    if (rc == DT_OK && has) {
        if (v < 2 || v > DT_RING_MAX_CAPACITY || v != floor(v) ||
            ((size_t)v & ((size_t)v - 1)) != 0) {
            dt__fmt(p, sizeof p, "%s.ring", path);
            return fail(b, DT_EPARSE, p, "must be a power of two in 2..%u, got %s",
                        DT_RING_MAX_CAPACITY, dt__num(v, nb, sizeof nb));
        }
        sc->ring_capacity = (size_t)v;
    }
    if (rc == DT_OK)
        rc = num(b, o, path, "reorder", &v, &has);
    if (rc == DT_OK && has) {
        if (v < 2 || v > DT_RING_MAX_CAPACITY || v != floor(v) ||
            ((size_t)v & ((size_t)v - 1)) != 0) {
            dt__fmt(p, sizeof p, "%s.reorder", path);
            return fail(b, DT_EPARSE, p, "must be a power of two in 2..%u, got %s",
                        DT_RING_MAX_CAPACITY, dt__num(v, nb, sizeof nb));
        }
        sc->reorder_capacity = (size_t)v;
    }
    if (rc == DT_OK)
        rc = str(b, o, path, "overflow", 0, &s);
    if (rc == DT_OK && s != NULL) {
        if (strcmp(s, "drop_newest") == 0)
            sc->overflow = DT_OVERFLOW_DROP_NEWEST;
        else if (strcmp(s, "drop_oldest") == 0)
            sc->overflow = DT_OVERFLOW_DROP_OLDEST;
        else {
            dt__fmt(p, sizeof p, "%s.overflow", path);
            return fail(b, DT_EPARSE, p, "\"%s\" is not drop_newest or drop_oldest", s);
        }
    }
    if (rc == DT_OK)
        rc = num(b, o, path, "lateness", &sc->lateness_s, &has);
    if (rc == DT_OK && has && !(sc->lateness_s >= 0 && sc->lateness_s <= 3600)) {
        dt__fmt(p, sizeof p, "%s.lateness", path);
        return fail(b, DT_EPARSE, p, "must be in 0..3600 seconds, got %s",
                    dt__num(sc->lateness_s, nb, sizeof nb));
    }
    if (rc == DT_OK)
        rc = num(b, o, path, "max_hold", &sc->max_hold_s, &has);
    if (rc == DT_OK && has && !(sc->max_hold_s > 0 && sc->max_hold_s <= 3600)) {
        dt__fmt(p, sizeof p, "%s.max_hold", path);
        return fail(b, DT_EPARSE, p, "must be in (0, 3600] seconds, got %s",
                    dt__num(sc->max_hold_s, nb, sizeof nb));
    }
    if (rc == DT_OK)
        rc = num(b, o, path, "timeout", &sc->timeout_s, &has);
    if (rc == DT_OK && has && !(sc->timeout_s > 0 && sc->timeout_s <= 86400)) {
        dt__fmt(p, sizeof p, "%s.timeout", path);
        return fail(b, DT_EPARSE, p, "must be in (0, 86400] seconds, got %s",
                    dt__num(sc->timeout_s, nb, sizeof nb));
    }
    const dt_config *ck = dt_config_get(o, "clock");
    if (rc == DT_OK && ck != NULL) {
        dt__fmt(p, sizeof p, "%s.clock", path);
        if (!dt__cfg_is_object(ck))
            return fail(b, DT_EPARSE, p, "expected an object, got %s", dt__cfg_type_name(ck));
        rc = dt__cfg_check_keys(b->diag, ck, p, clock_keys, NULL);
        if (rc == DT_OK)
            rc = str(b, ck, p, "mode", 0, &s);
        if (rc == DT_OK && s != NULL) {
            if (strcmp(s, "fixed") == 0)
                sc->clock.mode = DT_CLOCK_FIXED;
            else if (strcmp(s, "estimate") == 0)
                sc->clock.mode = DT_CLOCK_ESTIMATE;
            else
                return fail(b, DT_EPARSE, p, "mode \"%s\" is not fixed or estimate", s);
        }
        double w = 0;
        if (rc == DT_OK)
            rc = num(b, ck, p, "offset", &sc->clock.offset_s, NULL);
        if (rc == DT_OK)
            rc = num(b, ck, p, "skew", &sc->clock.skew, NULL);
        if (rc == DT_OK)
            rc = num(b, ck, p, "window", &sc->clock.window_s, NULL);
        if (rc == DT_OK)
            rc = num(b, ck, p, "jump", &sc->clock.jump_s, NULL);
        if (rc == DT_OK)
            rc = num(b, ck, p, "windows", &w, &has);
        if (rc == DT_OK && has) {
            if (w < 2 || w > DT_CLOCK_MAX_WINDOWS || w != floor(w))
                return fail(b, DT_EPARSE, p, "windows must be an integer in 2..%d, got %s",
                            DT_CLOCK_MAX_WINDOWS, dt__num(w, nb, sizeof nb));
            sc->clock.windows = (uint32_t)w;
        }
        if (rc == DT_OK) {
            dt_clock probe;
            if (dt_clock_init(&probe, &sc->clock) != DT_OK)
                return fail(b, DT_EPARSE, p,
                            "out of range (|offset| <= 1e9 s, |skew| < 0.01, window "
                            "0.001..3600 s, jump > 0)");
        }
    }
    return rc;
}

static int valid_id(const char *s)
{
    for (const char *p = s; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
              (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' || *p == '-'))
            return 0;
    return s[0] != '\0';
}

static const char *src_id(const dt_io *io, size_t k) { return io->src[k].id; }
static const char *snk_id(const dt_io *io, size_t k) { return io->snk[k].id; }

/* Reads and checks the "id" and "kind" of entry i of "sources" or "sinks"
 * (what: "source" or "sink"); ids must be unique among the earlier entries. */
static int entry_head(build *b, const dt_config *o, const char *path, const char *what, size_t i,
                      const char *(*id_at)(const dt_io *, size_t), const char **id,
                      const char **kind)
{
    if (!dt__cfg_is_object(o))
        return fail(b, DT_EPARSE, path, "expected an object, got %s", dt__cfg_type_name(o));
    int rc = str(b, o, path, "id", 1, id);
    if (rc == DT_OK)
        rc = str(b, o, path, "kind", 1, kind);
    if (rc != DT_OK)
        return rc;
    char p[128];
    dt__fmt(p, sizeof p, "%s.id", path);
    if (!valid_id(*id))
        return fail(b, DT_EPARSE, p, "invalid id \"%s\"", *id);
    for (size_t k = 0; k < i; k++)
        if (strcmp(id_at(b->io, k), *id) == 0)
            return fail(b, DT_EPARSE, p, "duplicate %s id \"%s\"", what, *id);
    return DT_OK;
}

/* Checks "sources"/"sinks" is an array of at most 4096 entries and allocates
 * one zeroed element of `size` bytes per entry. */
static int entry_array(build *b, const dt_config *arr, const char *what, size_t size, void **out)
{
    if (!dt__cfg_is_array(arr))
        return fail(b, DT_EPARSE, what, "expected an array, got %s", dt__cfg_type_name(arr));
    size_t n = (size_t)dt__cfg_count(arr);
    if (n > 4096)
        return fail(b, DT_ELIMIT, what, "more than 4096 entries");
    *out = dt__calloc(&b->io->alloc, n, size);
    return *out != NULL ? DT_OK : fail(b, DT_ENOMEM, what, "out of memory");
}

/* The registered kind of an entry ("sources" when sink is 0, else "sinks"),
 * and the entry's keys checked against the core's and the kind's own; an
 * unknown kind's message lists what a description may name. */
static int entry_kind(build *b, const dt_config *o, const char *path, int sink, const char *kind,
                      const void **ops)
{
    const dt_source_ops *so = sink ? NULL : dt_registry_source(b->reg, kind);
    const dt_sink_ops *ko = sink ? dt_registry_sink(b->reg, kind) : NULL;
    *ops = sink ? (const void *)ko : (const void *)so;
    if (*ops == NULL) {
        char p[128], kb[160];
        dt__fmt(p, sizeof p, "%s.kind", path);
        return fail(b, DT_ENOTFOUND, p,
                    "no %s adapter of kind \"%s\" (registered: %s; a host program "
                    "registers its own with dt_registry_add_%s)",
                    sink ? "sink" : "source", kind,
                    dt__registry_kinds(b->reg, sink, kb, sizeof kb), sink ? "sink" : "source");
    }
    return dt__cfg_check_keys(b->diag, o, path, sink ? sink_common_keys : common_keys,
                              sink ? ko->keys : so->keys);
}

/* An instance's zeroed state (at least one byte). */
static int entry_self(build *b, const char *path, size_t size, void **self)
{
    *self = dt__calloc(&b->io->alloc, 1, size ? size : 1);
    return *self != NULL ? DT_OK : fail(b, DT_ENOMEM, path, "out of memory");
}

/* What open (or validate) said, with the adapter's own message. */
static int entry_opened(build *b, const char *path, int rc)
{
    if (rc == DT_OK)
        return DT_OK;
    return fail(b, rc, path, "%s", b->io->err[0] ? b->io->err : dt_strerror(rc));
}

static int open_sources(build *b, const dt_config *arr)
{
    dt_io *io = b->io;
    void *arrp = NULL;
    int rc0 = entry_array(b, arr, "sources", sizeof *io->src, &arrp);
    if (rc0 != DT_OK)
        return rc0;
    io->src = arrp;
    size_t i = 0;
    for (const dt_config *o = dt__cfg_child(arr); o != NULL; o = dt__cfg_next(o), i++) {
        char path[64];
        dt__fmt(path, sizeof path, "sources[%zu]", i);
        const char *id = NULL, *kind = NULL;
        const void *kops = NULL;
        int rc = entry_head(b, o, path, "source", i, src_id, &id, &kind);
        if (rc == DT_OK)
            rc = entry_kind(b, o, path, 0, kind, &kops);
        if (rc != DT_OK)
            return rc;
        const dt_source_ops *ops = kops;
        dt_source_ctx *c = &io->src[i];
        c->io = io;
        c->ops = ops;
        c->kind_ctx = dt_registry_source_ctx(b->reg, kind);
        c->id = dt__strndup(&io->alloc, id, strlen(id));
        io->n_src = i + 1;
        if (c->id == NULL)
            return fail(b, DT_ENOMEM, path, "out of memory");
        dt_source_config sc = DT_SOURCE_CONFIG_INIT;
        sc.name = c->id;
        rc = source_config(b, o, path, &sc);
        if (rc == DT_OK)
            rc = build_maps(b, dt_config_get(o, "mapping"), path, 0,
                            &c->maps);
        if (rc != DT_OK)
            return rc;
        rc = dt_ingest_add_source(b->ing, &sc, &c->ing_id);
        if (rc != DT_OK)
            return fail(b, rc, path, "cannot add the source: %s", dt_strerror(rc));
        c->ring = dt_ingest_ring(b->ing, c->ing_id);
        if ((rc = entry_self(b, path, ops->instance_size, &c->self)) != DT_OK)
            return rc;
        io->err[0] = '\0';
        rc = io->mode == DT__IO_OPEN ? ops->open(c->self, c, o)
             : io->mode == DT__IO_VALIDATE && ops->validate != NULL ? ops->validate(c, o)
                                                                     : DT_OK;
        if ((rc = entry_opened(b, path, rc)) != DT_OK)
            return rc;
        c->opened = io->mode == DT__IO_OPEN;
    }
    return DT_OK;
}

static int open_sinks(build *b, const dt_config *arr)
{
    dt_io *io = b->io;
    void *arrp = NULL;
    int rc0 = entry_array(b, arr, "sinks", sizeof *io->snk, &arrp);
    if (rc0 != DT_OK)
        return rc0;
    io->snk = arrp;
    size_t i = 0;
    for (const dt_config *o = dt__cfg_child(arr); o != NULL; o = dt__cfg_next(o), i++) {
        char path[64];
        dt__fmt(path, sizeof path, "sinks[%zu]", i);
        const char *id = NULL, *kind = NULL;
        const void *kops = NULL;
        int rc = entry_head(b, o, path, "sink", i, snk_id, &id, &kind);
        if (rc == DT_OK)
            rc = entry_kind(b, o, path, 1, kind, &kops);
        if (rc != DT_OK)
            return rc;
        const dt_sink_ops *ops = kops;
        dt_sink_ctx *c = &io->snk[i];
        c->io = io;
        c->ops = ops;
        c->kind_ctx = dt_registry_sink_ctx(b->reg, kind);
        c->id = dt__strndup(&io->alloc, id, strlen(id));
        io->n_snk = i + 1;
        if (c->id == NULL)
            return fail(b, DT_ENOMEM, path, "out of memory");
        rc = build_maps(b, dt_config_get(o, "mapping"), path, 1, &c->maps);
        if (rc != DT_OK)
            return rc;
        if ((rc = entry_self(b, path, ops->instance_size, &c->self)) != DT_OK)
            return rc;
        io->err[0] = '\0';
        rc = io->mode == DT__IO_OPEN ? ops->open(c->self, c, o)
             : io->mode == DT__IO_VALIDATE && ops->validate != NULL ? ops->validate(c, o)
                                                                     : DT_OK;
        if ((rc = entry_opened(b, path, rc)) != DT_OK)
            return rc;
        c->opened = io->mode == DT__IO_OPEN;
    }
    return DT_OK;
}

static int read_sources(void *layer, const dt_config *arr, dt_diag *diag)
{
    (void)diag; /* the build's */
    return arr != NULL ? open_sources(layer, arr) : DT_OK;
}

static int read_sinks(void *layer, const dt_config *arr, dt_diag *diag)
{
    (void)diag;
    return arr != NULL ? open_sinks(layer, arr) : DT_OK;
}

/* "keys": {"dir": DIRECTORY}: the file key store the adapters load their
 * keys from (relative to the description's directory). A host's own store
 * (dt_twin_options.keys) and this section are exclusive. */
static int read_keys(void *layer, const dt_config *sec, dt_diag *diag)
{
    (void)diag;
    build *b = layer;
    if (sec == NULL || b->io->mode == DT__IO_REPLAY)
        return DT_OK; /* a replay opens no adapter and loads no key */
    const char *dir = NULL;
    const dt_config *v = dt_config_get(sec, "dir");
    if (dt_config_len(sec) != (v != NULL ? 1u : 0u) || v == NULL ||
        dt_config_string(v, &dir) != DT_OK || dir[0] == '\0')
        return fail(b, DT_EPARSE, "keys", "expected {\"dir\": \"DIRECTORY\"}, the key store");
    if (b->io->keys != NULL)
        return fail(b, DT_EINVAL, "keys.dir",
                    "the host passed its own key store (dt_twin_options.keys): one or the other");
    char path[512];
    /* a path cut short would open its prefix: another directory */
    if (dt__resolve_path(b->io->basedir, dir, path, sizeof path) != DT_OK)
        return fail(b, DT_ELIMIT, "keys.dir", "the path is longer than %zu bytes",
                    sizeof path - 1);
    dt_diag d;
    memset(&d, 0, sizeof d);
    int rc = dt_keystore_file(path, &b->io->keys, &d);
    if (rc != DT_OK)
        return fail(b, rc, "keys.dir", "%s", d.message);
    b->io->own_keys = 1;
    return DT_OK;
}

static int read_bus(void *layer, const dt_config *sec, dt_diag *diag)
{
    (void)diag;
    build *b = layer;
    return dt__bus_read(b->io, sec, b->diag);
}

/* The sections the adapter host reads, in this order: the key store, then
 * the bus, whose connection the sources and sinks share. */
const dt__section_def dt__io_sections[] = {
    {"keys", read_keys}, {"bus", read_bus}, {"sources", read_sources}, {"sinks", read_sinks},
    {NULL, NULL}};

int dt__io_read(build *b)
{
    dt__desc_use u;
    int rc = dt__desc_begin(b->io->model, &b->io->alloc, &u, b->diag);
    if (rc == DT_OK)
        rc = dt__desc_read(&u, dt__io_sections, b, b->diag);
    dt__desc_done(&u);
    return rc;
}
