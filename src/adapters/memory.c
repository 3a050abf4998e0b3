/* memory source and sink: the host pushes samples and reads commands through
 * C calls (dt_memory_source_push, dt_memory_sink_read). */
#include <string.h>

#include "../platform/internal.h"
#include "adapters_internal.h"

typedef struct memsrc {
    dt_source_ctx *ctx;
} memsrc;

static int memsrc_open(void *self, dt_source_ctx *ctx, const dt_config *cfg)
{
    (void)cfg;
    ((memsrc *)self)->ctx = ctx;
    return DT_OK;
}

int dt_memory_source_push(dt_io *io, size_t i, const char *native, dt_time t_source,
                          double value)
{
    const dt_source_ops *ops = dt__io_source_ops(io, i);
    if (ops == NULL || native == NULL || ops->open != memsrc_open)
        return DT_EINVAL;
    dt_source_ctx *ctx = dt_io_source_ctx(io, i);
    const dt_mapping *m = dt_source_map_name(ctx, native);
    if (m != NULL)
        return dt_source_emit(ctx, m, t_source, 0, value);
    if (dt_source_mapping_count(ctx) == 0) {
        /* No mapping declared: the name is a canonical signal id. */
        dt_signal_id id;
        if (dt_model_find_signal(dt_source_model(ctx), native, &id) == DT_OK) {
            dt_mapping ident = {id, 1.0, 0.0, NULL, -1};
            return dt_source_emit(ctx, &ident, t_source, 0, value);
        }
    }
    dt_source_count(ctx, DT_EV_UNMAPPED, 1);
    return DT_ENOTFOUND;
}

const dt_source_ops dt__memory_source_ops = {
    .abi = DT_SOURCE_ABI,
    .kind = "memory",
    .instance_size = sizeof(memsrc),
    .open = memsrc_open,
};

/* ---- sink ---- */

#define MEMSINK_MAX 1048576

typedef struct memsink {
    dt_command *buf;
    size_t cap, head, count;
    dt_allocator alloc;
} memsink;

static const char *const memsink_keys[] = {"capacity", NULL};

static int memsink_capacity(dt_sink_ctx *ctx, const dt_config *cfg, double *cap)
{
    *cap = 256;
    const dt_config *c = dt_config_get(cfg, "capacity");
    if (c != NULL && (dt_config_number(c, cap) != DT_OK || *cap < 1 || *cap > MEMSINK_MAX ||
                      *cap != (double)(size_t)*cap)) {
        dt_sink_error(ctx, "capacity: must be an integer in 1..%d", MEMSINK_MAX);
        return DT_EINVAL;
    }
    return DT_OK;
}

static int memsink_validate(dt_sink_ctx *ctx, const dt_config *cfg)
{
    double cap;
    return memsink_capacity(ctx, cfg, &cap);
}

static int memsink_open(void *self, dt_sink_ctx *ctx, const dt_config *cfg)
{
    memsink *s = self;
    double cap;
    int rc = memsink_capacity(ctx, cfg, &cap);
    if (rc != DT_OK)
        return rc;
    s->alloc = *dt_sink_allocator(ctx);
    s->cap = (size_t)cap;
    s->buf = dt__calloc(&s->alloc, s->cap, sizeof *s->buf);
    if (s->buf == NULL) {
        dt_sink_error(ctx, "out of memory");
        return DT_ENOMEM;
    }
    return DT_OK;
}

static int memsink_apply(void *self, const dt_command *cmd, const dt_mapping *map)
{
    memsink *s = self;
    if (s->count == s->cap)
        return DT_EFULL; /* the host has not read: refuse, counted as an error */
    dt_command c = *cmd;
    c.value = cmd->value * map->scale + map->offset;
    s->buf[(s->head + s->count) % s->cap] = c;
    s->count++;
    return DT_OK;
}

size_t dt_memory_sink_read(dt_io *io, size_t i, dt_command *out, size_t max)
{
    const dt_sink_ops *ops = dt__io_sink_ops(io, i);
    if (ops == NULL || out == NULL || ops->open != memsink_open)
        return 0;
    memsink *s = dt_io_sink_instance(io, i);
    size_t n = 0;
    while (n < max && s->count > 0) {
        out[n++] = s->buf[s->head];
        s->head = (s->head + 1) % s->cap;
        s->count--;
    }
    return n;
}

static void memsink_close(void *self)
{
    memsink *s = self;
    dt__free(&s->alloc, s->buf);
}

const dt_sink_ops dt__memory_sink_ops = {
    .abi = DT_SINK_ABI,
    .kind = "memory",
    .instance_size = sizeof(memsink),
    .keys = memsink_keys,
    .open = memsink_open,
    .apply = memsink_apply,
    .close = memsink_close,
    .validate = memsink_validate,
};
