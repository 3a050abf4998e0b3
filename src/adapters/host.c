/* The adapter host: instantiation of the description's "sources" and
 * "sinks" from the registry's kinds, mapping resolution, command routing,
 * actuation reports, the loop hooks' aggregation. It names no adapter. */
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../model/model_internal.h"
#include "../platform/internal.h"
#include "adapters_internal.h"

static const dt_config *C(const cJSON *j) { return (const dt_config *)(const void *)j; }

/* ---- contexts ---- */

typedef struct mapset {
    dt_mapping *m;
    size_t n;
    size_t *by_channel; /* indices sorted by channel (channels only) */
    size_t n_channel;
} mapset;

struct dt_source_ctx {
    dt_io *io;
    char *id;
    const dt_source_ops *ops;
    void *kind_ctx; /* shared by the kind's instances (dt_registry_add_source_kind) */
    void *self;
    int opened;
    dt_source_id ing_id;
    dt_ring *ring;
    mapset maps;
    _Atomic uint64_t ev[DT_EV__COUNT];
};

struct dt_sink_ctx {
    dt_io *io;
    char *id;
    const dt_sink_ops *ops;
    void *kind_ctx;
    void *self;
    int opened;
    mapset maps;
    dt_sink_stats st;
};

struct dt_io {
    int mode; /* DT__IO_*: open the adapters, or only declare (and validate) them */
    const dt_registry *reg;
    dt_registry *own_reg; /* created for a NULL registry: the built-ins */
    dt_allocator alloc;
    dt_logger log;
    const dt_model *model;
    char *basedir;
    dt_source_ctx *src;
    dt_sink_ctx *snk;
    size_t n_src, n_snk;
    /* open() error text, copied into the caller's diag */
    char err[256];
    /* what validating adapters claimed exclusively (a plant driven by one
     * sim source): validate keeps no instance, so the io remembers for it */
    const void *claimed[16];
    size_t n_claimed;
    /* signal -> sinks that map it: per-signal list in one array */
    /* actuation outcome, per signal */
    uint64_t *rep_seq;
    double *rep_value;
    dt_time *rep_t;
    size_t *route_start; /* n_signals + 1 */
    size_t *route;       /* (sink index, mapping index) pairs */
};

static void set_err(dt_io *io, const char *fmt, va_list ap)
{
    if (vsnprintf(io->err, sizeof io->err, fmt, ap) < 0)
        io->err[0] = '\0';
}

size_t dt_source_mapping_count(const dt_source_ctx *c) { return c->maps.n; }
const dt_mapping *dt_source_mapping(const dt_source_ctx *c, size_t i)
{
    return i < c->maps.n ? &c->maps.m[i] : NULL;
}

static const dt_mapping *map_name(const mapset *ms, const char *native)
{
    for (size_t i = 0; native != NULL && i < ms->n; i++)
        if (ms->m[i].native != NULL && strcmp(ms->m[i].native, native) == 0)
            return &ms->m[i];
    return NULL;
}

static const dt_mapping *map_channel(const mapset *ms, int64_t ch)
{
    size_t lo = 0, hi = ms->n_channel;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int64_t v = ms->m[ms->by_channel[mid]].channel;
        if (v == ch)
            return &ms->m[ms->by_channel[mid]];
        if (v < ch)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const dt_mapping *dt_source_map_name(const dt_source_ctx *c, const char *native)
{
    return map_name(&c->maps, native);
}

const dt_mapping *dt_source_map_channel(const dt_source_ctx *c, int64_t channel)
{
    return map_channel(&c->maps, channel);
}

int dt_source_emit(dt_source_ctx *c, const dt_mapping *map, dt_time t_source,
                   dt_time t_arrival, double v)
{
    dt_sample s;
    s.signal = map->signal;
    s.flags = 0;
    s.t_source = t_source;
    s.t_arrival = t_arrival;
    s.value = v * map->scale + map->offset;
    s.variance = 0;
    return dt_ring_push(c->ring, &s);
}

int dt_source_push(dt_source_ctx *c, const dt_sample *s)
{
    return dt_ring_push(c->ring, s);
}

void dt_source_count(dt_source_ctx *c, dt_source_event ev, int64_t delta)
{
    if ((unsigned)ev < DT_EV__COUNT)
        atomic_fetch_add_explicit(&c->ev[ev], (uint64_t)delta, memory_order_relaxed);
}

uint64_t dt_source_event_count(const dt_source_ctx *c, dt_source_event ev)
{
    if ((unsigned)ev >= DT_EV__COUNT)
        return 0;
    return atomic_load_explicit(&((dt_source_ctx *)c)->ev[ev], memory_order_relaxed);
}

void dt_source_error(dt_source_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_err(c->io, fmt, ap);
    va_end(ap);
}

void dt_source_log(dt_source_ctx *c, dt_log_level level, const char *fmt, ...)
{
    const dt_logger *lg = &c->io->log;
    if (lg->fn == NULL || level > lg->max_level)
        return;
    char msg[400], full[512];
    va_list ap;
    va_start(ap, fmt);
    if (vsnprintf(msg, sizeof msg, fmt, ap) < 0)
        msg[0] = '\0';
    va_end(ap);
    dt__fmt(full, sizeof full, "%s: %s", c->id, msg);
    lg->fn(lg->user, level, c->ops->kind, full);
}

void dt_sink_log(dt_sink_ctx *c, dt_log_level level, const char *fmt, ...)
{
    const dt_logger *lg = &c->io->log;
    if (lg->fn == NULL || level > lg->max_level)
        return;
    char msg[400], full[512];
    va_list ap;
    va_start(ap, fmt);
    if (vsnprintf(msg, sizeof msg, fmt, ap) < 0)
        msg[0] = '\0';
    va_end(ap);
    dt__fmt(full, sizeof full, "%s: %s", c->id, msg);
    lg->fn(lg->user, level, c->ops->kind, full);
}

int dt__source_claim(dt_source_ctx *c, const void *what)
{
    dt_io *io = c->io;
    for (size_t i = 0; i < io->n_claimed; i++)
        if (io->claimed[i] == what)
            return DT_EEXIST;
    if (io->n_claimed == sizeof io->claimed / sizeof io->claimed[0])
        return DT_ELIMIT;
    io->claimed[io->n_claimed++] = what;
    return DT_OK;
}

const char *dt_source_name(const dt_source_ctx *c) { return c->id; }
const dt_allocator *dt_source_allocator(const dt_source_ctx *c) { return &c->io->alloc; }
const dt_allocator *dt_sink_allocator(const dt_sink_ctx *c) { return &c->io->alloc; }
const dt_model *dt_source_model(const dt_source_ctx *c) { return c->io->model; }
const char *dt_source_basedir(const dt_source_ctx *c) { return c->io->basedir; }

size_t dt_sink_mapping_count(const dt_sink_ctx *c) { return c->maps.n; }
const dt_mapping *dt_sink_mapping(const dt_sink_ctx *c, size_t i)
{
    return i < c->maps.n ? &c->maps.m[i] : NULL;
}

void dt_sink_error(dt_sink_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_err(c->io, fmt, ap);
    va_end(ap);
}

const char *dt_sink_name(const dt_sink_ctx *c) { return c->id; }
const dt_model *dt_sink_model(const dt_sink_ctx *c) { return c->io->model; }
const char *dt_sink_basedir(const dt_sink_ctx *c) { return c->io->basedir; }

size_t dt__counters_copy(dt_counter *out, size_t max, const dt_counter *c, size_t n)
{
    for (size_t i = 0; out != NULL && i < n && i < max; i++)
        out[i] = c[i];
    return n;
}

int dt__resolve_path(const char *basedir, const char *path, char *buf, size_t cap)
{
    int n;
    if (path[0] == '/' || basedir == NULL || basedir[0] == '\0')
        n = snprintf(buf, cap, "%s", path);
    else
        n = snprintf(buf, cap, "%s/%s", basedir, path);
    return n < 0 || (size_t)n >= cap ? DT_ELIMIT : DT_OK;
}

/* ---- instantiation ---- */

typedef struct build {
    dt_io *io;
    dt_ingest *ing;
    const dt_registry *reg;
    dt_diag *diag;
} build;

/* Every loader error carries its JSON path; dt__diag formats it (printf-checked). */
/* The code is repeated as the value so static analysis sees a failure is never DT_OK. */
#define fail(b, code, ...) (dt__diag((b)->diag, (code), __VA_ARGS__), (code))

static const char *const common_keys[] = {"id",       "kind",    "mapping", "ring",
                                          "overflow", "clock",   "lateness",
                                          "timeout",  "reorder", "max_hold", NULL};
static const char *const sink_common_keys[] = {"id", "kind", "mapping", NULL};
static const char *const map_keys[] = {"native", "channel", "signal", "unit",
                                       "scale",  "offset",  NULL};
static const char *const clock_keys[] = {"mode", "offset", "skew", "window",
                                         "windows", "jump", NULL};



static int num(build *b, const cJSON *o, const char *path, const char *key,
               double *out, int *present)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (present)
        *present = v != NULL;
    if (v == NULL)
        return DT_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
        char p[128];
        dt__fmt(p, sizeof p, "%s.%s", path, key);
        return fail(b, DT_EPARSE, p, "expected a finite number");
    }
    *out = v->valuedouble;
    return DT_OK;
}

static int str(build *b, const cJSON *o, const char *path, const char *key,
               int required, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    char p[128];
    dt__fmt(p, sizeof p, "%s.%s", path, key);
    if (v == NULL) {
        if (required)
            return fail(b, DT_EPARSE, p, "missing (required string)");
        *out = NULL;
        return DT_OK;
    }
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0' || strlen(v->valuestring) > 256)
        return fail(b, DT_EPARSE, p, "expected a non-empty string of at most 256 bytes");
    *out = v->valuestring;
    return DT_OK;
}

static int cmp_channel(const dt_mapping *m, size_t a, size_t c)
{
    return m[a].channel < m[c].channel ? -1 : m[a].channel > m[c].channel;
}

/* Resolves a "mapping" array. sink: conversion runs canonical -> native and
 * only commanded signals qualify; source: native -> canonical, measured or
 * parameter signals. */
static int build_maps(build *b, const cJSON *arr, const char *path, int sink,
                      mapset *ms)
{
    dt_io *io = b->io;
    char p[128];
    dt__fmt(p, sizeof p, "%s.mapping", path);
    if (arr == NULL)
        return DT_OK;
    if (!cJSON_IsArray(arr))
        return fail(b, DT_EPARSE, p, "expected an array");
    size_t n = (size_t)cJSON_GetArraySize(arr);
    if (n > 65536)
        return fail(b, DT_ELIMIT, p, "more than 65536 entries");
    ms->m = dt__calloc(&io->alloc, n, sizeof *ms->m);
    ms->by_channel = dt__calloc(&io->alloc, n, sizeof *ms->by_channel);
    if (ms->m == NULL || ms->by_channel == NULL)
        return fail(b, DT_ENOMEM, p, "out of memory");
    size_t i = 0;
    for (const cJSON *e = arr->child; e != NULL; e = e->next, i++) {
        char ep[128], kp[160];
        dt__fmt(ep, sizeof ep, "%s[%zu]", p, i);
        if (!cJSON_IsObject(e))
            return fail(b, DT_EPARSE, ep, "expected an object");
        int rc = dt__json_check_keys(b->diag, e, ep, map_keys, NULL);
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
            return fail(b, DT_EPARSE, kp, "must be an integer in 0..4294967295");
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

static void free_maps(const dt_allocator *a, mapset *ms)
{
    for (size_t i = 0; ms->m != NULL && i < ms->n; i++)
        dt__free(a, (void *)(uintptr_t)ms->m[i].native);
    dt__free(a, ms->m);
    dt__free(a, ms->by_channel);
    memset(ms, 0, sizeof *ms);
}

static int source_config(build *b, const cJSON *o, const char *path,
                         dt_source_config *sc)
{
    double v = 0;
    int has = 0;
    const char *s = NULL;
    int rc = num(b, o, path, "ring", &v, &has);
    char p[128];
    if (rc == DT_OK && has) {
        if (v < 2 || v > DT_RING_MAX_CAPACITY || v != floor(v) ||
            ((size_t)v & ((size_t)v - 1)) != 0) {
            dt__fmt(p, sizeof p, "%s.ring", path);
            return fail(b, DT_EPARSE, p, "must be a power of two in 2..%u",
                        DT_RING_MAX_CAPACITY);
        }
        sc->ring_capacity = (size_t)v;
    }
    if (rc == DT_OK)
        rc = num(b, o, path, "reorder", &v, &has);
    if (rc == DT_OK && has) {
        if (v < 2 || v > DT_RING_MAX_CAPACITY || v != floor(v) ||
            ((size_t)v & ((size_t)v - 1)) != 0) {
            dt__fmt(p, sizeof p, "%s.reorder", path);
            return fail(b, DT_EPARSE, p, "must be a power of two in 2..%u",
                        DT_RING_MAX_CAPACITY);
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
        return fail(b, DT_EPARSE, p, "must be in 0..3600 seconds");
    }
    if (rc == DT_OK)
        rc = num(b, o, path, "max_hold", &sc->max_hold_s, &has);
    if (rc == DT_OK && has && !(sc->max_hold_s > 0 && sc->max_hold_s <= 3600)) {
        dt__fmt(p, sizeof p, "%s.max_hold", path);
        return fail(b, DT_EPARSE, p, "must be in (0, 3600] seconds");
    }
    if (rc == DT_OK)
        rc = num(b, o, path, "timeout", &sc->timeout_s, &has);
    if (rc == DT_OK && has && !(sc->timeout_s > 0 && sc->timeout_s <= 86400)) {
        dt__fmt(p, sizeof p, "%s.timeout", path);
        return fail(b, DT_EPARSE, p, "must be in (0, 86400] seconds");
    }
    const cJSON *ck = cJSON_GetObjectItemCaseSensitive(o, "clock");
    if (rc == DT_OK && ck != NULL) {
        dt__fmt(p, sizeof p, "%s.clock", path);
        if (!cJSON_IsObject(ck))
            return fail(b, DT_EPARSE, p, "expected an object");
        rc = dt__json_check_keys(b->diag, ck, p, clock_keys, NULL);
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
                return fail(b, DT_EPARSE, p, "windows must be an integer in 2..%d",
                            DT_CLOCK_MAX_WINDOWS);
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
static int entry_head(build *b, const cJSON *o, const char *path, const char *what, size_t i,
                      const char *(*id_at)(const dt_io *, size_t), const char **id,
                      const char **kind)
{
    if (!cJSON_IsObject(o))
        return fail(b, DT_EPARSE, path, "expected an object");
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
static int entry_array(build *b, const cJSON *arr, const char *what, size_t size, void **out)
{
    if (!cJSON_IsArray(arr))
        return fail(b, DT_EPARSE, what, "expected an array");
    size_t n = (size_t)cJSON_GetArraySize(arr);
    if (n > 4096)
        return fail(b, DT_ELIMIT, what, "more than 4096 entries");
    *out = dt__calloc(&b->io->alloc, n, size);
    return *out != NULL ? DT_OK : fail(b, DT_ENOMEM, what, "out of memory");
}

static int open_sources(build *b, const cJSON *arr)
{
    dt_io *io = b->io;
    void *arrp = NULL;
    int rc0 = entry_array(b, arr, "sources", sizeof *io->src, &arrp);
    if (rc0 != DT_OK)
        return rc0;
    io->src = arrp;
    size_t i = 0;
    for (const cJSON *o = arr->child; o != NULL; o = o->next, i++) {
        char path[64], p[128];
        dt__fmt(path, sizeof path, "sources[%zu]", i);
        const char *id = NULL, *kind = NULL;
        int rc = entry_head(b, o, path, "source", i, src_id, &id, &kind);
        if (rc != DT_OK)
            return rc;
        const dt_source_ops *ops = dt_registry_source(b->reg, kind);
        if (ops == NULL) {
            dt__fmt(p, sizeof p, "%s.kind", path);
            char kb[160];
            return fail(b, DT_ENOTFOUND, p,
                        "no source adapter of kind \"%s\" (registered: %s; a host program "
                        "registers its own with dt_registry_add_source)",
                        kind, dt__registry_kinds(b->reg, 0, kb, sizeof kb));
        }
        rc = dt__json_check_keys(b->diag, o, path, common_keys, ops->keys);
        if (rc != DT_OK)
            return rc;
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
            rc = build_maps(b, cJSON_GetObjectItemCaseSensitive(o, "mapping"), path, 0,
                            &c->maps);
        if (rc != DT_OK)
            return rc;
        rc = dt_ingest_add_source(b->ing, &sc, &c->ing_id);
        if (rc != DT_OK)
            return fail(b, rc, path, "cannot add the source: %s", dt_strerror(rc));
        c->ring = dt_ingest_ring(b->ing, c->ing_id);
        c->self = dt__calloc(&io->alloc, 1, ops->instance_size ? ops->instance_size : 1);
        if (c->self == NULL)
            return fail(b, DT_ENOMEM, path, "out of memory");
        io->err[0] = '\0';
        rc = io->mode == DT__IO_OPEN ? ops->open(c->self, c, C(o))
             : io->mode == DT__IO_VALIDATE && ops->validate != NULL ? ops->validate(c, C(o))
                                                                     : DT_OK;
        if (rc != DT_OK)
            return fail(b, rc, path, "%s", io->err[0] ? io->err : dt_strerror(rc));
        c->opened = io->mode == DT__IO_OPEN;
    }
    return DT_OK;
}

static int open_sinks(build *b, const cJSON *arr)
{
    dt_io *io = b->io;
    void *arrp = NULL;
    int rc0 = entry_array(b, arr, "sinks", sizeof *io->snk, &arrp);
    if (rc0 != DT_OK)
        return rc0;
    io->snk = arrp;
    size_t i = 0;
    for (const cJSON *o = arr->child; o != NULL; o = o->next, i++) {
        char path[64], p[128];
        dt__fmt(path, sizeof path, "sinks[%zu]", i);
        const char *id = NULL, *kind = NULL;
        int rc = entry_head(b, o, path, "sink", i, snk_id, &id, &kind);
        if (rc != DT_OK)
            return rc;
        const dt_sink_ops *ops = dt_registry_sink(b->reg, kind);
        if (ops == NULL) {
            dt__fmt(p, sizeof p, "%s.kind", path);
            char kb[160];
            return fail(b, DT_ENOTFOUND, p,
                        "no sink adapter of kind \"%s\" (registered: %s; a host program "
                        "registers its own with dt_registry_add_sink)",
                        kind, dt__registry_kinds(b->reg, 1, kb, sizeof kb));
        }
        rc = dt__json_check_keys(b->diag, o, path, sink_common_keys, ops->keys);
        if (rc != DT_OK)
            return rc;
        dt_sink_ctx *c = &io->snk[i];
        c->io = io;
        c->ops = ops;
        c->kind_ctx = dt_registry_sink_ctx(b->reg, kind);
        c->id = dt__strndup(&io->alloc, id, strlen(id));
        io->n_snk = i + 1;
        if (c->id == NULL)
            return fail(b, DT_ENOMEM, path, "out of memory");
        rc = build_maps(b, cJSON_GetObjectItemCaseSensitive(o, "mapping"), path, 1, &c->maps);
        if (rc != DT_OK)
            return rc;
        c->self = dt__calloc(&io->alloc, 1, ops->instance_size ? ops->instance_size : 1);
        if (c->self == NULL)
            return fail(b, DT_ENOMEM, path, "out of memory");
        io->err[0] = '\0';
        rc = io->mode == DT__IO_OPEN ? ops->open(c->self, c, C(o))
             : io->mode == DT__IO_VALIDATE && ops->validate != NULL ? ops->validate(c, C(o))
                                                                     : DT_OK;
        if (rc != DT_OK)
            return fail(b, rc, path, "%s", io->err[0] ? io->err : dt_strerror(rc));
        c->opened = io->mode == DT__IO_OPEN;
    }
    return DT_OK;
}

/* Per commanded signal, the (sink, mapping) pairs that take it. */
static int build_routes(build *b)
{
    dt_io *io = b->io;
    size_t ns = dt_model_signal_count(io->model), total = 0;
    io->route_start = dt__calloc(&io->alloc, ns + 1, sizeof *io->route_start);
    if (io->route_start == NULL)
        return fail(b, DT_ENOMEM, "sinks", "out of memory");
    for (size_t k = 0; k < io->n_snk; k++)
        for (size_t j = 0; j < io->snk[k].maps.n; j++) {
            io->route_start[io->snk[k].maps.m[j].signal + 1]++;
            total++;
        }
    for (size_t s = 0; s < ns; s++)
        io->route_start[s + 1] += io->route_start[s];
    io->route = dt__calloc(&io->alloc, 2 * total + 1, sizeof *io->route);
    size_t *fill = dt__calloc(&io->alloc, ns + 1, sizeof *fill);
    if (io->route == NULL || fill == NULL) {
        dt__free(&io->alloc, fill);
        return fail(b, DT_ENOMEM, "sinks", "out of memory");
    }
    for (size_t k = 0; k < io->n_snk; k++)
        for (size_t j = 0; j < io->snk[k].maps.n; j++) {
            size_t s = io->snk[k].maps.m[j].signal;
            size_t at = io->route_start[s] + fill[s]++;
            io->route[2 * at] = k;
            io->route[2 * at + 1] = j;
        }
    dt__free(&io->alloc, fill);
    return DT_OK;
}

void dt_io_destroy(dt_io *io)
{
    if (io == NULL)
        return;
    dt_allocator a = io->alloc;
    for (size_t i = 0; io->snk != NULL && i < io->n_snk; i++) {
        dt_sink_ctx *c = &io->snk[i];
        if (c->opened && c->ops->close)
            c->ops->close(c->self);
        dt__free(&a, c->self);
        dt__free(&a, c->id);
        free_maps(&a, &c->maps);
    }
    for (size_t i = 0; io->src != NULL && i < io->n_src; i++) {
        dt_source_ctx *c = &io->src[i];
        if (c->opened && c->ops->close)
            c->ops->close(c->self);
        dt__free(&a, c->self);
        dt__free(&a, c->id);
        free_maps(&a, &c->maps);
    }
    dt__free(&a, io->src);
    dt__free(&a, io->snk);
    dt__free(&a, io->rep_seq);
    dt__free(&a, io->rep_value);
    dt__free(&a, io->rep_t);
    dt__free(&a, io->route_start);
    dt__free(&a, io->route);
    dt__free(&a, io->basedir);
    dt_registry_destroy(io->own_reg); /* after the adapters: their kinds' contexts */
    dt__free(&a, io);
}

int dt_io_create(const dt_model *model, dt_ingest *ing, const dt_registry *reg,
                 const char *basedir, const dt_allocator *alloc,
                 const dt_logger *logger, dt_io **out, dt_diag *diag)
{
    return dt__io_create(model, ing, reg, basedir, alloc, logger, DT__IO_OPEN, out, diag);
}

int dt__io_create(const dt_model *model, dt_ingest *ing, const dt_registry *reg,
                  const char *basedir, const dt_allocator *alloc, const dt_logger *logger,
                  int mode, dt_io **out, dt_diag *diag)
{
    if (diag != NULL)
        memset(diag, 0, sizeof *diag);
    if (model == NULL || ing == NULL || out == NULL)
        return dt__diag(diag, DT_EINVAL, "", "no model, ingest stage or result pointer");
    if (alloc == NULL)
        alloc = dt_allocator_default();
    dt_io *io = dt__calloc(alloc, 1, sizeof *io);
    if (io == NULL)
        return dt__diag(diag, DT_ENOMEM, "", "out of memory");
    io->alloc = *alloc;
    io->mode = mode;
    if (reg == NULL) { /* the built-in kinds, in a registry of our own */
        if (dt_registry_create(alloc, &io->own_reg) != DT_OK) {
            dt__free(alloc, io);
            return dt__diag(diag, DT_ENOMEM, "", "out of memory");
        }
        reg = io->own_reg;
    }
    io->reg = reg;
    io->log = logger ? *logger : *dt_logger_stderr();
    io->model = model;
    const char *bd = basedir ? basedir : "";
    io->basedir = dt__strndup(alloc, bd, strlen(bd));
    build b = {io, ing, reg, diag};
    int rc = io->basedir ? DT_OK : fail(&b, DT_ENOMEM, "", "out of memory");

    const char *texts[2] = {dt__model_section(model, "sources"),
                            dt__model_section(model, "sinks")};
    for (int k = 0; k < 2 && rc == DT_OK; k++) {
        if (texts[k] == NULL)
            continue;
        dt__json_begin(alloc);
        cJSON *root = cJSON_Parse(texts[k]);
        if (root == NULL)
            rc = fail(&b, DT_ENOMEM, k ? "sinks" : "sources", "out of memory");
        else
            rc = k == 0 ? open_sources(&b, root) : open_sinks(&b, root);
        cJSON_Delete(root);
        if (rc == DT_OK && dt__json_oom())
            rc = fail(&b, DT_ENOMEM, "", "out of memory");
        dt__json_end();
    }
    if (rc == DT_OK)
        rc = build_routes(&b);
    if (rc == DT_OK) {
        size_t ns = dt_model_signal_count(model) ? dt_model_signal_count(model) : 1;
        io->rep_seq = dt__calloc(alloc, ns, sizeof *io->rep_seq);
        io->rep_value = dt__calloc(alloc, ns, sizeof *io->rep_value);
        io->rep_t = dt__calloc(alloc, ns, sizeof *io->rep_t);
        if (!io->rep_seq || !io->rep_value || !io->rep_t)
            rc = fail(&b, DT_ENOMEM, "", "out of memory");
    }
    if (rc != DT_OK) {
        dt_io_destroy(io);
        return rc;
    }
    *out = io;
    return DT_OK;
}

int dt_io_poll(dt_io *io, dt_time now)
{
    int first = DT_OK;
    for (size_t i = 0; i < io->n_src; i++) {
        dt_source_ctx *c = &io->src[i];
        if (c->ops->poll == NULL || !c->opened)
            continue;
        int rc = c->ops->poll(c->self, now);
        if (rc != DT_OK && first == DT_OK)
            first = rc;
    }
    for (size_t i = 0; i < io->n_snk; i++) {
        dt_sink_ctx *c = &io->snk[i];
        if (c->ops->poll == NULL || !c->opened)
            continue;
        int rc = c->ops->poll(c->self, now);
        if (rc != DT_OK && first == DT_OK)
            first = rc;
    }
    return first;
}

/* ---- loop hooks: what a host loop watches, and calls back ---- */

/* Descriptors one adapter may ask for: as many as the libuv driver has poll
 * handles; an adapter naming more is still served by its poll. */
#define WATCH_MAX 64

size_t dt_io_watches(const dt_io *io, dt_io_watch *out, size_t max)
{
    size_t n = 0;
    if (io == NULL)
        return 0;
    for (size_t k = 0; k < io->n_src + io->n_snk; k++) {
        int sink = k >= io->n_src;
        size_t i = sink ? k - io->n_src : k;
        const void *self = sink ? io->snk[i].self : io->src[i].self;
        int opened = sink ? io->snk[i].opened : io->src[i].opened;
        size_t (*fn)(const void *, dt_watch *, size_t) =
            sink ? io->snk[i].ops->watches : io->src[i].ops->watches;
        if (fn == NULL || !opened)
            continue;
        /* An entry the adapter did not write, whatever count it returns,
         * reads as no watch (fd -1), never as this stack's garbage. */
        dt_watch w[WATCH_MAX];
        for (size_t j = 0; j < WATCH_MAX; j++)
            w[j] = (dt_watch){-1, 0, 0};
        size_t got = fn(self, w, WATCH_MAX);
        for (size_t j = 0; j < got && j < WATCH_MAX; j++) {
            /* an adapter's nonsense (a negative fd, no event) is not a watch */
            if (w[j].fd < 0 || (w[j].events & (DT_WATCH_READ | DT_WATCH_WRITE)) == 0)
                continue;
            if (n < max && out != NULL)
                out[n] = (dt_io_watch){w[j].fd, w[j].events & (DT_WATCH_READ | DT_WATCH_WRITE),
                                       w[j].gen, (uint32_t)i | (sink ? DT_IO_SINK : 0)};
            n++;
        }
    }
    return n;
}

void dt_io_ready(dt_io *io, uint32_t adapter, int fd, unsigned events, dt_time now)
{
    if (io == NULL)
        return;
    size_t i = adapter & ~DT_IO_SINK;
    if (adapter & DT_IO_SINK) {
        if (i < io->n_snk && io->snk[i].opened && io->snk[i].ops->ready != NULL)
            io->snk[i].ops->ready(io->snk[i].self, fd, events, now);
    } else if (i < io->n_src && io->src[i].opened && io->src[i].ops->ready != NULL) {
        io->src[i].ops->ready(io->src[i].self, fd, events, now);
    }
}

/* The adapter k (sources first, then sinks): its wake_at, or DT_TIME_MAX. */
static dt_time wake_at(const dt_io *io, size_t k)
{
    int sink = k >= io->n_src;
    size_t i = sink ? k - io->n_src : k;
    dt_time (*fn)(const void *) = sink ? io->snk[i].ops->wake_at : io->src[i].ops->wake_at;
    int opened = sink ? io->snk[i].opened : io->src[i].opened;
    if (fn == NULL || !opened)
        return DT_TIME_MAX;
    return fn(sink ? io->snk[i].self : io->src[i].self);
}

dt_time dt_io_wake_at(const dt_io *io)
{
    dt_time t = DT_TIME_MAX;
    for (size_t k = 0; io != NULL && k < io->n_src + io->n_snk; k++) {
        dt_time w = wake_at(io, k);
        if (w < t)
            t = w;
    }
    return t;
}

void dt_io_wake(dt_io *io, dt_time now)
{
    for (size_t k = 0; io != NULL && k < io->n_src + io->n_snk; k++) {
        /* DT_TIME_MAX is no wish (and what an adapter never opened, or
         * without wake_at, says): never due, even at now == DT_TIME_MAX */
        dt_time at = wake_at(io, k);
        if (at == DT_TIME_MAX || at > now)
            continue;
        int sink = k >= io->n_src;
        size_t i = sink ? k - io->n_src : k;
        void (*fn)(void *, dt_time) = sink ? io->snk[i].ops->wake : io->src[i].ops->wake;
        if (fn != NULL)
            fn(sink ? io->snk[i].self : io->src[i].self, now);
    }
}

int dt_io_apply(dt_io *io, const dt_command *cmd)
{
    if (io == NULL || cmd == NULL)
        return DT_EINVAL;
    if (cmd->signal >= dt_model_signal_count(io->model))
        return DT_ENOTFOUND;
    size_t a = io->route_start[cmd->signal], e = io->route_start[cmd->signal + 1];
    if (a == e)
        return DT_ENOTFOUND;
    int ok = 0, last = DT_OK;
    for (size_t r = a; r < e; r++) {
        dt_sink_ctx *c = &io->snk[io->route[2 * r]];
        const dt_mapping *m = &c->maps.m[io->route[2 * r + 1]];
        if (!c->opened) { /* a replay or check twin's: never handed anything */
            if (last == DT_OK)
                last = DT_ESTATE;
            continue;
        }
        c->st.applied++;
        int rc = c->ops->apply(c->self, cmd, m);
        if (rc == DT_OK) {
            ok = 1;
        } else {
            c->st.errors++;
            last = rc;
        }
    }
    return ok ? DT_OK : last;
}

size_t dt_io_source_count(const dt_io *io) { return io ? io->n_src : 0; }
size_t dt_io_sink_count(const dt_io *io) { return io ? io->n_snk : 0; }

int dt_io_find_source(const dt_io *io, const char *id, size_t *index)
{
    for (size_t i = 0; io && id && index && i < io->n_src; i++)
        if (strcmp(io->src[i].id, id) == 0) {
            *index = i;
            return DT_OK;
        }
    return DT_ENOTFOUND;
}

int dt_io_find_sink(const dt_io *io, const char *id, size_t *index)
{
    for (size_t i = 0; io && id && index && i < io->n_snk; i++)
        if (strcmp(io->snk[i].id, id) == 0) {
            *index = i;
            return DT_OK;
        }
    return DT_ENOTFOUND;
}

dt_source_id dt_io_source_ingest_id(const dt_io *io, size_t i)
{
    return io && i < io->n_src ? io->src[i].ing_id : DT_ID_NONE;
}

void *dt_io_source_instance(dt_io *io, size_t i)
{
    return io && i < io->n_src ? io->src[i].self : NULL;
}

void *dt_io_sink_instance(dt_io *io, size_t i)
{
    return io && i < io->n_snk ? io->snk[i].self : NULL;
}

dt_source_ctx *dt_io_source_ctx(dt_io *io, size_t i)
{
    return io && i < io->n_src ? &io->src[i] : NULL;
}

const char *dt_io_source_kind(const dt_io *io, size_t i)
{
    return io && i < io->n_src ? io->src[i].ops->kind : NULL;
}

const char *dt_io_sink_kind(const dt_io *io, size_t i)
{
    return io && i < io->n_snk ? io->snk[i].ops->kind : NULL;
}

int dt_io_sink_stats(const dt_io *io, size_t i, dt_sink_stats *out)
{
    if (io == NULL || out == NULL || i >= io->n_snk)
        return DT_ENOTFOUND;
    *out = io->snk[i].st;
    return DT_OK;
}

uint64_t dt_io_source_events(const dt_io *io, size_t i, dt_source_event ev)
{
    if (io == NULL || i >= io->n_src)
        return 0;
    return dt_source_event_count(&io->src[i], ev);
}

const char *dt_io_source_id(const dt_io *io, size_t i)
{
    return io && i < io->n_src ? io->src[i].id : NULL;
}

const char *dt_io_sink_id(const dt_io *io, size_t i)
{
    return io && i < io->n_snk ? io->snk[i].id : NULL;
}

size_t dt_io_source_counters(const dt_io *io, size_t i, dt_counter *out, size_t max)
{
    if (io == NULL || i >= io->n_src || !io->src[i].opened || io->src[i].ops->counters == NULL)
        return 0;
    return io->src[i].ops->counters(io->src[i].self, out, out ? max : 0);
}

size_t dt_io_sink_counters(const dt_io *io, size_t i, dt_counter *out, size_t max)
{
    if (io == NULL || i >= io->n_snk || !io->snk[i].opened || io->snk[i].ops->counters == NULL)
        return 0;
    return io->snk[i].ops->counters(io->snk[i].self, out, out ? max : 0);
}

double dt_io_source_progress(const dt_io *io, size_t i)
{
    if (io == NULL || i >= io->n_src || !io->src[i].opened || io->src[i].ops->progress == NULL)
        return -1;
    double p = io->src[i].ops->progress(io->src[i].self);
    return p >= 0 && p <= 1 ? p : -1; /* an adapter's NaN or 7 means: not known */
}

const dt_source_ops *dt__io_source_ops(const dt_io *io, size_t i)
{
    return io && i < io->n_src ? io->src[i].ops : NULL;
}

const dt_sink_ops *dt__io_sink_ops(const dt_io *io, size_t i)
{
    return io && i < io->n_snk ? io->snk[i].ops : NULL;
}

void *dt_source_kind_ctx(const dt_source_ctx *c) { return c ? c->kind_ctx : NULL; }
void *dt_sink_kind_ctx(const dt_sink_ctx *c) { return c ? c->kind_ctx : NULL; }

int dt_io_report(dt_io *io, dt_signal_id sig, uint64_t seq, double value, dt_time t)
{
    if (io == NULL || sig >= dt_model_signal_count(io->model) || seq == 0 || !isfinite(value))
        return DT_EINVAL;
    if (dt_model_signal(io->model, sig)->role != DT_ROLE_COMMANDED)
        return DT_EINVAL;
    if (seq >= io->rep_seq[sig]) { /* an older report never overwrites a newer one */
        io->rep_seq[sig] = seq;
        io->rep_value[sig] = value;
        io->rep_t[sig] = t;
    }
    return DT_OK;
}

int dt_sink_report(dt_sink_ctx *ctx, dt_signal_id sig, uint64_t seq, double value, dt_time t)
{
    return ctx ? dt_io_report(ctx->io, sig, seq, value, t) : DT_EINVAL;
}

int dt_io_reported(const dt_io *io, dt_signal_id sig, uint64_t *seq, double *value, dt_time *t)
{
    if (io == NULL || sig >= dt_model_signal_count(io->model))
        return DT_EINVAL;
    if (io->rep_seq[sig] == 0)
        return DT_EEMPTY;
    if (seq)
        *seq = io->rep_seq[sig];
    if (value)
        *value = io->rep_value[sig];
    if (t)
        *t = io->rep_t[sig];
    return DT_OK;
}


