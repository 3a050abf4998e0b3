/* The adapter host, what an adapter calls on its context: its mapping,
 * emitting samples, counting events, errors and logs, its names. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "../platform/internal.h"
#include "host_internal.h"

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

/* A key from the io's store for an adapter; the reason of a failure in err. */
static int io_key(const dt_io *io, const char *name, dt_key_kind kind, dt_key **out, char *err,
                  size_t cap)
{
    *out = NULL;
    if (io->keys == NULL) {
        dt__fmt(err, cap, "key \"%s\": the twin has no key store: add \"keys\": {\"dir\": "
                "DIRECTORY} to the description (or pass dt_twin_options.keys)",
                name != NULL ? name : "");
        return DT_ENOTFOUND;
    }
    dt_diag d;
    memset(&d, 0, sizeof d);
    int rc = dt_key_load(io->keys, name, kind, out, &d);
    if (rc != DT_OK)
        dt__fmt(err, cap, "%s", d.message);
    return rc;
}

int dt_source_key(dt_source_ctx *c, const char *name, dt_key_kind kind, dt_key **out)
{
    if (c == NULL || out == NULL)
        return DT_EINVAL;
    char err[400];
    int rc = io_key(c->io, name, kind, out, err, sizeof err);
    if (rc != DT_OK)
        dt_source_error(c, "%s", err);
    return rc;
}

int dt_sink_key(dt_sink_ctx *c, const char *name, dt_key_kind kind, dt_key **out)
{
    if (c == NULL || out == NULL)
        return DT_EINVAL;
    char err[400];
    int rc = io_key(c->io, name, kind, out, err, sizeof err);
    if (rc != DT_OK)
        dt_sink_error(c, "%s", err);
    return rc;
}

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
