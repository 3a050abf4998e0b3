/* The adapter host: an io's life (created from the description's "sources"
 * and "sinks", destroyed), command routing, actuation reports, the loop
 * hooks' aggregation, and the queries of its adapters. It names no
 * adapter. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "../desc/desc.h"
#include "../platform/internal.h"
#include "host_internal.h"

#define fail dt__fail
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

dt_keystore *dt__io_keystore(dt_io *io)
{
    return io != NULL ? io->keys : NULL;
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
        dt__io_free_maps(&a, &c->maps);
    }
    for (size_t i = 0; io->src != NULL && i < io->n_src; i++) {
        dt_source_ctx *c = &io->src[i];
        if (c->opened && c->ops->close)
            c->ops->close(c->self);
        dt__free(&a, c->self);
        dt__free(&a, c->id);
        dt__free(&a, c->bel);
        dt__io_free_maps(&a, &c->maps);
    }
    /* after the adapters, which may hold subscriptions on them */
    for (size_t i = io->n_link; i-- > 0;)
        io->link[i].ops->destroy(io->link[i].self);
    if (io->own_keys)
        dt_keystore_close(io->keys);
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
    return dt__io_create(model, ing, reg, basedir, alloc, logger, NULL, DT__IO_OPEN, out, diag);
}

int dt__io_create(const dt_model *model, dt_ingest *ing, const dt_registry *reg,
                  const char *basedir, const dt_allocator *alloc, const dt_logger *logger,
                  dt_keystore *keys, int mode, dt_io **out, dt_diag *diag)
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
    io->keys = keys;
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
    io->ing = ing;
    const char *bd = basedir ? basedir : "";
    io->basedir = dt__strndup(alloc, bd, strlen(bd));
    build b = {io, ing, reg, diag};
    int rc = io->basedir ? DT_OK : fail(&b, DT_ENOMEM, "", "out of memory");

    if (rc == DT_OK)
        rc = dt__io_read(&b);
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
    for (size_t i = 0; i < io->n_link; i++) {
        int rc = io->link[i].ops->poll(io->link[i].self, now);
        if (rc != DT_OK && first == DT_OK)
            first = rc;
    }
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

/* Adapter k of the loop hooks' order: sources, sinks, then links. */
typedef struct hook {
    void *self;
    size_t (*watches)(const void *, dt_watch *, size_t);
    void (*ready)(void *, int, unsigned, dt_time);
    dt_time (*wake_at)(const void *);
    void (*wake)(void *, dt_time);
    uint32_t tag; /* index | DT_IO_SINK / DT_IO_LINK */
} hook;

static int hook_at(const dt_io *io, size_t k, hook *h)
{
    if (k < io->n_src) {
        const dt_source_ctx *c = &io->src[k];
        *h = (hook){c->self, c->ops->watches, c->ops->ready, c->ops->wake_at, c->ops->wake,
                    (uint32_t)k};
        return c->opened;
    }
    k -= io->n_src;
    if (k < io->n_snk) {
        const dt_sink_ctx *c = &io->snk[k];
        *h = (hook){c->self, c->ops->watches, c->ops->ready, c->ops->wake_at, c->ops->wake,
                    (uint32_t)k | DT_IO_SINK};
        return c->opened;
    }
    k -= io->n_snk;
    const dt__io_link_ops *o = io->link[k].ops;
    *h = (hook){io->link[k].self, o->watches, o->ready, o->wake_at, o->wake,
                (uint32_t)k | DT_IO_LINK};
    return 1;
}

static size_t hook_count(const dt_io *io) { return io->n_src + io->n_snk + io->n_link; }

size_t dt_io_watches(const dt_io *io, dt_io_watch *out, size_t max)
{
    size_t n = 0;
    if (io == NULL)
        return 0;
    for (size_t k = 0; k < hook_count(io); k++) {
        hook h;
        int opened = hook_at(io, k, &h);
        size_t (*fn)(const void *, dt_watch *, size_t) = h.watches;
        const void *self = h.self;
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
                                       w[j].gen, h.tag};
            n++;
        }
    }
    return n;
}

void dt_io_ready(dt_io *io, uint32_t adapter, int fd, unsigned events, dt_time now)
{
    if (io == NULL)
        return;
    size_t i = adapter & ~(DT_IO_SINK | DT_IO_LINK);
    if ((adapter & DT_IO_SINK) && (adapter & DT_IO_LINK))
        return;
    if (adapter & DT_IO_LINK) {
        if (i < io->n_link && io->link[i].ops->ready != NULL)
            io->link[i].ops->ready(io->link[i].self, fd, events, now);
    } else if (adapter & DT_IO_SINK) {
        if (i < io->n_snk && io->snk[i].opened && io->snk[i].ops->ready != NULL)
            io->snk[i].ops->ready(io->snk[i].self, fd, events, now);
    } else if (i < io->n_src && io->src[i].opened && io->src[i].ops->ready != NULL) {
        io->src[i].ops->ready(io->src[i].self, fd, events, now);
    }
}

/* The adapter k (sources first, then sinks, then links): its wake_at, or
 * DT_TIME_MAX. */
static dt_time wake_at(const dt_io *io, size_t k)
{
    hook h;
    int opened = hook_at(io, k, &h);
    if (h.wake_at == NULL || !opened)
        return DT_TIME_MAX;
    return h.wake_at(h.self);
}

dt_time dt_io_wake_at(const dt_io *io)
{
    dt_time t = DT_TIME_MAX;
    for (size_t k = 0; io != NULL && k < hook_count(io); k++) {
        dt_time w = wake_at(io, k);
        if (w < t)
            t = w;
    }
    return t;
}

void dt_io_wake(dt_io *io, dt_time now)
{
    for (size_t k = 0; io != NULL && k < hook_count(io); k++) {
        /* DT_TIME_MAX is no wish (and what an adapter never opened, or
         * without wake_at, says): never due, even at now == DT_TIME_MAX */
        dt_time at = wake_at(io, k);
        if (at == DT_TIME_MAX || at > now)
            continue;
        hook h;
        (void)hook_at(io, k, &h);
        if (h.wake != NULL)
            h.wake(h.self, now);
    }
}

int dt__io_add_link(dt_io *io, const char *name, const dt__io_link_ops *ops, void *self)
{
    if (dt__io_link(io, name) != NULL || io->n_link == DT__IO_LINKS) {
        int rc = io->n_link == DT__IO_LINKS ? DT_ELIMIT : DT_EEXIST;
        ops->destroy(self);
        return rc;
    }
    io->link[io->n_link].name = name;
    io->link[io->n_link].ops = ops;
    io->link[io->n_link].self = self;
    io->n_link++;
    return DT_OK;
}

void *dt__io_link(const dt_io *io, const char *name)
{
    for (size_t i = 0; io != NULL && i < io->n_link; i++)
        if (strcmp(io->link[i].name, name) == 0)
            return io->link[i].self;
    return NULL;
}

void *dt__io_link_by_ops(const dt_io *io, const dt__io_link_ops *ops)
{
    for (size_t i = 0; io != NULL && i < io->n_link; i++)
        if (io->link[i].ops == ops)
            return io->link[i].self;
    return NULL;
}

const dt_registry *dt__io_registry(const dt_io *io) { return io != NULL ? io->reg : NULL; }

size_t dt_io_link_count(const dt_io *io) { return io ? io->n_link : 0; }

const char *dt_io_link_name(const dt_io *io, size_t i)
{
    return io != NULL && i < io->n_link ? io->link[i].name : NULL;
}

size_t dt_io_link_counters(const dt_io *io, size_t i, dt_counter *out, size_t max)
{
    if (io == NULL || i >= io->n_link || io->link[i].ops->counters == NULL)
        return 0;
    return io->link[i].ops->counters(io->link[i].self, out, out != NULL ? max : 0);
}

int dt__io_mode(const dt_io *io) { return io->mode; }
const dt_allocator *dt__io_allocator(const dt_io *io) { return &io->alloc; }
const dt_logger *dt__io_logger(const dt_io *io) { return &io->log; }
const char *dt__io_basedir(const dt_io *io) { return io->basedir; }
const dt_model *dt__io_model(const dt_io *io) { return io->model; }
void dt__io_declare_bus(dt_io *io) { io->bus_declared = 1; }
int dt__io_bus_declared(const dt_io *io) { return io->bus_declared; }
dt_io *dt__source_io(const dt_source_ctx *ctx) { return ctx->io; }
dt_io *dt__sink_io(const dt_sink_ctx *ctx) { return ctx->io; }

void dt__io_partition(dt_io *io) { io->partitioned = 1; }
uint64_t dt__io_plane_refused(const dt_io *io) { return io->plane_refused; }

int dt_io_apply(dt_io *io, const dt_command *cmd)
{
    if (io != NULL && io->partitioned) {
        io->plane_refused++;
        return DT_EPLANE;
    } /* commands go through the control plane's dispatcher */
    return dt__io_apply(io, cmd);
}

int dt__io_apply(dt_io *io, const dt_command *cmd)
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


