/* Remote beliefs in the twin's step: the beliefs the sources offered (a
 * child twin's, a federated peer's) are fused into the estimate after the
 * step's samples, in source order; each one is written to the flight log as
 * it was fused, and a replay fuses the logged ones at the same point. */
#include <math.h>
#include <string.h>

#include "../adapters/adapters_internal.h"
#include "../ingest/ingest_internal.h"
#include "../platform/internal.h"
#include "../platform/le.h"
#include "twin_internal.h"

/* The most beliefs one replayed step holds (a live step fuses at most one
 * per source). */
#define RP_BELIEFS 64

void dt__twin_beliefs_sense(dt_twin *t)
{
    /* a replay's beliefs kept their sources fresh when they were offered,
     * in the Sense phase, as the live twin's did */
    for (size_t i = 0; t->replay && i < t->rp_nbel; i++)
        dt__ingest_touch(t->ing, dt_io_source_ingest_id(t->io, t->rp_bel[i].source),
                         t->rp_bel[i].arrival);
}

int dt__twin_beliefs_start(dt_twin *t)
{
    if (t->est == NULL || (dt__io_belief_sources(t->io) == 0 && !t->replay))
        return DT_OK;
    t->n_bel_seen = dt_io_source_count(t->io);
    if (t->n_bel_seen > 0 && t->bel_seen == NULL) {
        t->bel_seen = dt__calloc(&t->alloc, t->n_bel_seen, sizeof *t->bel_seen);
        if (t->bel_seen == NULL)
            return DT_ENOMEM;
    }
    if (t->replay && t->rp_bel == NULL) {
        t->rp_bel = dt__calloc(&t->alloc, RP_BELIEFS, sizeof *t->rp_bel);
        if (t->rp_bel == NULL)
            return DT_ENOMEM;
    }
    return t->est->ops.fuse_reserve(t->est->self);
}

/* REC_BELIEF: type, source u32, n u32, m u32, mode u32, t i64, t_data i64,
 * arrival i64; x, P, A, Q as doubles; per mapped state index u32, signal
 * u32, scale, offset. All little-endian. */
static void rec_belief(dt_twin *t, uint32_t src, const dt_remote_belief *b, dt_time arrival)
{
    uint8_t h[41], d[8 * 64];
    h[0] = REC_BELIEF;
    dt__put32(h + 1, src);
    dt__put32(h + 5, (uint32_t)b->n);
    dt__put32(h + 9, (uint32_t)b->m);
    dt__put32(h + 13, (uint32_t)b->mode);
    dt__put64(h + 17, (uint64_t)b->t);
    dt__put64(h + 25, (uint64_t)(b->t_data != 0 ? b->t_data : b->t));
    dt__put64(h + 33, (uint64_t)arrival);
    dt__twin_rec(t, h, sizeof h);
    const double *mat[4] = {b->x, b->P, b->A, b->Q};
    size_t cnt[4] = {b->n, b->n * b->n, b->n * b->n, b->n * b->n};
    for (int k = 0; k < 4; k++)
        for (size_t i = 0; i < cnt[k]; i += 64) {
            size_t c = cnt[k] - i < 64 ? cnt[k] - i : 64;
            for (size_t j = 0; j < c; j++)
                dt__putd(d + 8 * j, mat[k][i + j]);
            dt__twin_rec(t, d, 8 * c);
        }
    for (size_t j = 0; j < b->m; j++) {
        dt__put32(d, b->index[j]);
        dt__put32(d + 4, b->signal[j]);
        dt__putd(d + 8, b->scale[j]);
        dt__putd(d + 16, b->offset[j]);
        dt__twin_rec(t, d, 24);
    }
}

int dt__twin_rp_belief(dt_twin *t, dt_record_read_fn fn, void *user)
{
    uint8_t h[40], d[24];
    if (fn(user, h, sizeof h) != DT_OK)
        return DT_EPARSE;
    uint32_t src = dt__get32(h), n = dt__get32(h + 4), m = dt__get32(h + 8), mode = dt__get32(h + 12);
    dt_time arrival = (dt_time)dt__get64(h + 32);
    if (t->rp_bel == NULL || t->rp_nbel == RP_BELIEFS || n < 1 || n > DT_REMOTE_STATES_MAX ||
        m < 1 || m > DT_REMOTE_MAPPED_MAX || mode > DT_FUSE_INDEPENDENT ||
        src >= dt_io_source_count(t->io) || !dt_time_valid(arrival)) {
        dt__fmt(t->err, sizeof t->err,
                "replay: a remote belief record of source %u, %u states, %u mapped, mode %u, "
                "or over %d in a step",
                (unsigned)src, (unsigned)n, (unsigned)m, (unsigned)mode, RP_BELIEFS);
        return DT_EPARSE;
    }
    dt__belief_copy *c = &t->rp_bel[t->rp_nbel];
    c->n = n;
    c->m = m;
    c->mode = (dt_fuse_mode)mode;
    c->t = (dt_time)dt__get64(h + 16);
    c->t_data = (dt_time)dt__get64(h + 24); /* the rules of fuse_one check it */
    c->arrival = arrival;
    c->source = src;
    double *mat[4] = {c->x, c->P, c->A, c->Q};
    size_t cnt[4] = {n, (size_t)n * n, (size_t)n * n, (size_t)n * n};
    for (int k = 0; k < 4; k++)
        for (size_t i = 0; i < cnt[k]; i++) {
            if (fn(user, d, 8) != DT_OK)
                return DT_EPARSE;
            mat[k][i] = dt__getd(d);
        }
    for (size_t j = 0; j < m; j++) {
        if (fn(user, d, 24) != DT_OK)
            return DT_EPARSE;
        c->index[j] = dt__get32(d);
        c->signal[j] = dt__get32(d + 4);
        c->scale[j] = dt__getd(d + 8);
        c->offset[j] = dt__getd(d + 16);
    }
    t->rp_nbel++;
    t->rp_offered++; /* a replay's offers are the logged beliefs */
    return DT_OK;
}

/* Says a refused belief at the 1st, 2nd, 4th, ... refusal: never silent,
 * never a flood. why: the twin's own reason, or NULL (the filter's rc). */
static void refused(dt_twin *t, size_t src, int rc, const char *why)
{
    uint64_t k = ++t->st.beliefs_refused;
    if ((k & (k - 1)) == 0)
        dt__log(&t->log, DT_LOG_WARN, "twin",
                "a remote belief from source %s not fused: %s (%llu so far)",
                dt_io_source_id(t->io, src) ? dt_io_source_id(t->io, src) : "?",
                why != NULL ? why : dt_strerror(rc), (unsigned long long)k);
}

/* The twin's own rules for a belief, whichever way it came (a source's
 * offer, a replayed record) and whatever filter kind fuses it: a time not
 * after the step's now (data from the future would make the belief's age
 * negative, and the latency rule would take it for fresh), an index within
 * the group, a signal of the model. */
static const char *belief_rule(const dt_twin *t, const dt_remote_belief *b)
{
    if (!dt_time_valid(b->t) || b->t > t->now)
        return "its time is after the step's now (a sender's or host's clock ahead of the "
               "twin's)";
    if (b->t_data != 0 && (!dt_time_valid(b->t_data) || b->t_data > b->t))
        return "its data time is after its time";
    for (size_t j = 0; j < b->m; j++) {
        if (b->index[j] >= b->n)
            return "a mapped state past the group";
        if (b->signal[j] >= dt_model_signal_count(t->model))
            return "a signal past the model";
    }
    return NULL;
}

static void fuse_one(dt_twin *t, size_t src, const dt_remote_belief *b)
{
    if (t->est == NULL) {
        refused(t, src, DT_EUNSUPPORTED, NULL);
        return;
    }
    const char *why = belief_rule(t, b);
    if (why != NULL) {
        refused(t, src, DT_EINVAL, why);
        return;
    }
    /* declared independence holds for a source's first belief only: a later
     * one carries the earlier ones' information, which the estimate already
     * holds, and is fused by covariance intersection */
    dt_remote_belief ci;
    int seen = t->bel_seen != NULL && src < t->n_bel_seen && t->bel_seen[src];
    if (b->mode == DT_FUSE_INDEPENDENT && seen) {
        ci = *b;
        ci.mode = DT_FUSE_CI_TRACE;
        b = &ci;
        t->st.beliefs_independent_as_ci++;
    }
    double omega = NAN; /* a kind that does not say its weight fused it */
    int rc = t->est->ops.fuse(t->est->self, b, &omega);
    if (rc != DT_OK) {
        refused(t, src, rc, NULL);
        return;
    }
    if (t->bel_seen != NULL && src < t->n_bel_seen)
        t->bel_seen[src] = 1;
    if (omega == 1.0 && b->mode != DT_FUSE_INDEPENDENT) {
        t->st.beliefs_kept++; /* no weight: the estimate kept whole, nothing changed */
        return;
    }
    t->st.beliefs_fused++;
    /* the newest data time the filter may claim: the data behind the belief,
     * never the time it holds at, nor the time it was aged to */
    dt_time td = b->t_data != 0 ? b->t_data : b->t;
    if (td > t->data_t)
        t->data_t = td;
    if (t->obs_mask & DT_EVENT_BIT(DT_EVENT_BELIEF))
        dt__twin_fused_event(t, b->signal[0], b->t);
}

void dt__twin_fuse_beliefs(dt_twin *t)
{
    dt_remote_belief b;
    if (t->replay) {
        for (size_t i = 0; i < t->rp_nbel; i++) {
            dt__belief_view(&t->rp_bel[i], &b);
            fuse_one(t, t->rp_bel[i].source, &b);
        }
        t->rp_nbel = 0;
        return;
    }
    size_t cur = 0, src = 0;
    dt_time arrival = 0;
    while (dt__io_take_belief(t->io, &cur, &src, &b, &arrival)) {
        if (t->rec_write != NULL)
            rec_belief(t, (uint32_t)src, &b, arrival);
        fuse_one(t, src, &b);
    }
}
