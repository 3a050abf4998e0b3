/* Remote beliefs offered by sources (a child twin's, a federated peer's):
 * each source that reserved a slot holds the latest belief it offered, its
 * time mapped through the source's clock, until the twin's next step fuses
 * it. One slot per source: a newer belief replaces one not yet fused
 * (counted superseded; it carries the older one's information). */
#include <math.h>
#include <string.h>

#include "../ingest/ingest_internal.h"
#include "../platform/internal.h"
#include "adapters_internal.h"
#include "host_internal.h"

struct io_belief {
    int pending;
    uint64_t offered, superseded, refused_time;
    dt__belief_copy b;
};

void dt__belief_store(dt__belief_copy *s, const dt_remote_belief *b, dt_time t)
{
    size_t n = b->n, m = b->m;
    memcpy(s->x, b->x, n * sizeof *s->x);
    memcpy(s->P, b->P, n * n * sizeof *s->P);
    memcpy(s->A, b->A, n * n * sizeof *s->A);
    memcpy(s->Q, b->Q, n * n * sizeof *s->Q);
    memcpy(s->index, b->index, m * sizeof *s->index);
    memcpy(s->signal, b->signal, m * sizeof *s->signal);
    memcpy(s->scale, b->scale, m * sizeof *s->scale);
    memcpy(s->offset, b->offset, m * sizeof *s->offset);
    s->n = n;
    s->m = m;
    s->t = t;
    s->t_data = t;
    s->mode = b->mode;
}

void dt__belief_view(const dt__belief_copy *s, dt_remote_belief *out)
{
    *out = (dt_remote_belief){s->n,      s->x,     s->P,     s->A,      s->Q,
                              s->t,      s->m,     s->index, s->signal, s->scale,
                              s->offset, s->mode,  s->t_data, s->t};
}

int dt_source_reserve_beliefs(dt_source_ctx *ctx, unsigned flags)
{
    if (ctx == NULL || (flags & ~(unsigned)DT_SOURCE_BELIEFS_ONLY) != 0)
        return DT_EINVAL;
    dt_io *io = ctx->io;
    if (ctx->bel == NULL) {
        ctx->bel = dt__calloc(&io->alloc, 1, sizeof *ctx->bel);
        if (ctx->bel == NULL)
            return DT_ENOMEM;
        io->n_bel++;
    }
    if (flags & DT_SOURCE_BELIEFS_ONLY)
        dt__ingest_beliefs_only(io->ing, ctx->ing_id);
    return DT_OK;
}

int dt_source_offer_belief(dt_source_ctx *ctx, const dt_remote_belief *b, dt_time t_arrival)
{
    if (ctx == NULL || b == NULL)
        return DT_EINVAL;
    struct io_belief *s = ctx->bel;
    if (s == NULL)
        return DT_ESTATE;
    if (b->n < 1 || b->n > DT_REMOTE_STATES_MAX || b->m < 1 || b->m > DT_REMOTE_MAPPED_MAX || !b->x || !b->P || !b->A || !b->Q ||
        !b->index || !b->signal || !b->scale || !b->offset)
        return DT_EINVAL;
    for (size_t j = 0; j < b->m; j++)
        if (b->index[j] >= b->n)
            return DT_EINVAL;
    /* the clock learns from the send time; the belief's own times are then
     * mapped with it */
    dt_time in[3] = {b->t_sent != 0 ? b->t_sent : b->t, b->t, b->t_data != 0 ? b->t_data : b->t};
    dt_time out[3];
    int rc = in[2] > in[1] || in[1] > in[0] ? DT_ERANGE
                                            : dt__ingest_map_remote(ctx->io->ing, ctx->ing_id, in,
                                                                    3, t_arrival, out);
    if (rc != DT_OK) {
        s->refused_time++;
        return rc;
    }
    dt_time t = out[1];
    if (s->pending)
        s->superseded++;
    dt__belief_store(&s->b, b, t);
    s->b.t_data = out[2];
    s->b.arrival = t_arrival;
    s->pending = 1;
    s->offered++;
    return DT_OK;
}

size_t dt__io_belief_sources(const dt_io *io) { return io ? io->n_bel : 0; }

int dt_io_source_belief(const dt_io *io, size_t i, dt_remote_belief *out, dt_time *arrival)
{
    if (io == NULL || out == NULL || i >= io->n_src || io->src[i].bel == NULL)
        return DT_EINVAL;
    const struct io_belief *s = io->src[i].bel;
    if (s->offered == 0)
        return DT_EEMPTY;
    dt__belief_view(&s->b, out);
    if (arrival != NULL)
        *arrival = s->b.arrival;
    return DT_OK;
}

int dt__io_take_belief(dt_io *io, size_t *cursor, size_t *source, dt_remote_belief *out,
                       dt_time *arrival)
{
    for (; io != NULL && *cursor < io->n_src; (*cursor)++) {
        struct io_belief *s = io->src[*cursor].bel;
        if (s == NULL || !s->pending)
            continue;
        s->pending = 0;
        dt__belief_view(&s->b, out);
        *arrival = s->b.arrival;
        *source = (*cursor)++;
        return 1;
    }
    return 0;
}

void dt__io_belief_counts(const dt_io *io, uint64_t *offered, uint64_t *superseded,
                          uint64_t *refused_time)
{
    *offered = *superseded = *refused_time = 0;
    for (size_t i = 0; io != NULL && i < io->n_src; i++) {
        const struct io_belief *s = io->src[i].bel;
        if (s != NULL) {
            *offered += s->offered;
            *superseded += s->superseded;
            *refused_time += s->refused_time;
        }
    }
}
