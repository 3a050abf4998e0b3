/* The ingest pipeline's lifecycle (create, sources, start), its rings and its counters.
 * Sense + Synchronize: rings -> validation -> clock mapping -> reorder buffers
 * -> watermark release -> snapshots; validation and the watermark are in
 * ingest_poll.c, release and snapshots in ingest_merge.c. */
#include <string.h>

#include "../platform/internal.h"
#include "ingest_state.h"

void dt__ingest_set_feed(dt_ingest *g,
                         size_t (*fn)(void *user, dt_source_id src, dt_sample *out, size_t max),
                         void *user)
{
    g->feed = fn;
    g->feed_user = user;
}

void dt__ingest_set_tap(dt_ingest *g,
                        void (*fn)(void *user, dt_source_id src, const dt_sample *s, size_t n),
                        void *user)
{
    g->tap = fn;
    g->tap_user = user;
}

int dt_ingest_create(const dt_model *model, const dt_ingest_config *cfg,
                     dt_ingest **out)
{
    if (model == NULL || out == NULL)
        return DT_EINVAL;
    dt_ingest_config c = DT_INGEST_CONFIG_INIT;
    if (cfg != NULL) {
        if (cfg->size != sizeof *cfg)
            return DT_EABI;
        c = *cfg;
    }
    const dt_allocator *a = c.allocator ? c.allocator : dt_allocator_default();
    double fut = c.future_tolerance_s == 0 ? 0.05 : c.future_tolerance_s;
    double hor = c.horizon_s == 0 ? 1.0 : c.horizon_s;
    double sf = c.stale_factor == 0 ? 3.0 : c.stale_factor;
    uint32_t ms = c.max_sources == 0 ? 64 : c.max_sources;
    if (!(fut > 0 && fut <= 3600) || !(hor > 0 && hor <= 3600) ||
        !(sf >= 1 && sf <= 1e6) || ms > 4096 ||
        (c.limits != DT_LIMITS_REJECT && c.limits != DT_LIMITS_FLAG))
        return DT_EINVAL;

    dt_ingest *g = dt__calloc(a, 1, sizeof *g);
    if (g == NULL)
        return DT_ENOMEM;
    g->alloc = *a;
    g->log = c.logger ? *c.logger : *dt_logger_stderr();
    g->model = model;
    g->limits = c.limits;
    g->future_tol = dt_time_from_sec(fut);
    g->horizon = dt_time_from_sec(hor);
    g->stale_factor = sf;
    g->max_src = ms;
    g->n_sig = dt_model_signal_count(model);
    g->watermark = DT_TIME_MIN;
    g->released_until = DT_TIME_MIN;
    g->src = dt__calloc(a, ms, sizeof *g->src);
    g->sig = dt__calloc(a, g->n_sig, sizeof *g->sig);
    g->snaps = dt__calloc(a, g->n_sig, sizeof *g->snaps);
    g->scratch = dt__calloc(a, DRAIN_BATCH, sizeof *g->scratch);
    g->head_t = dt__calloc(a, ms, sizeof *g->head_t);
    if (!g->src || !g->sig || !g->snaps || !g->scratch || !g->head_t) {
        dt_ingest_destroy(g);
        return DT_ENOMEM;
    }
    for (size_t i = 0; i < g->n_sig; i++) {
        const dt_signal_info *s = dt_model_signal(model, (dt_signal_id)i);
        sig_info *si = &g->sig[i];
        si->accept = s->role == DT_ROLE_MEASURED || s->role == DT_ROLE_PARAMETER;
        si->has_limits = (uint8_t)(s->has_limits != 0);
        si->min = s->min;
        si->max = s->max;
        si->noise_var = s->noise_var;
        si->period = s->period;
        si->stale_after = s->period > 0 ? dt_time_from_sec(sf * dt_time_to_sec(s->period))
                                         : DT_TIME_MAX;
    }
    *out = g;
    return DT_OK;
}

void dt_ingest_destroy(dt_ingest *g)
{
    if (g == NULL)
        return;
    dt_allocator a = g->alloc;
    if (g->src != NULL)
        for (uint32_t i = 0; i < g->n_src; i++) {
            dt__free(&a, g->src[i].name);
            dt_ring_destroy(g->src[i].ring);
            dt__free(&a, g->src[i].rb.buf);
        }
    dt__free(&a, g->src);
    dt__free(&a, g->sig);
    dt__free(&a, g->snaps);
    dt__free(&a, g->scratch);
    dt__free(&a, g->head_t);
    dt__free(&a, g);
}

static int pow2(size_t v) { return v >= 2 && (v & (v - 1)) == 0; }

int dt_ingest_add_source(dt_ingest *g, const dt_source_config *cfg,
                         dt_source_id *out)
{
    if (g == NULL || cfg == NULL || out == NULL)
        return DT_EINVAL;
    if (cfg->size != sizeof *cfg)
        return DT_EABI;
    if (g->started)
        return DT_ESTATE;
    if (g->n_src >= g->max_src)
        return DT_ELIMIT;
    size_t rc_cap = cfg->ring_capacity ? cfg->ring_capacity : 1024;
    size_t ro_cap = cfg->reorder_capacity ? cfg->reorder_capacity : 4096;
    double tmo = cfg->timeout_s == 0 ? 1.0 : cfg->timeout_s;
    if (cfg->name == NULL || cfg->name[0] == '\0' || !pow2(rc_cap) ||
        rc_cap > DT_RING_MAX_CAPACITY || !pow2(ro_cap) ||
        ro_cap > DT_RING_MAX_CAPACITY || !(cfg->lateness_s >= 0) ||
        cfg->lateness_s > 3600 || !(tmo > 0 && tmo <= 86400) ||
        !(cfg->max_hold_s >= 0 && cfg->max_hold_s <= 3600))
        return DT_EINVAL;
    source s;
    memset(&s, 0, sizeof s);
    int rc = dt_clock_init(&s.clock, &cfg->clock);
    if (rc != DT_OK)
        return rc;
    s.lateness = dt_time_from_sec(cfg->lateness_s);
    s.timeout = dt_time_from_sec(tmo);
    s.max_hold = dt_time_from_sec(cfg->max_hold_s);
    s.newest = DT_TIME_MIN;
    s.st.newest = DT_TIME_MIN;
    s.name = dt__strndup(&g->alloc, cfg->name, strlen(cfg->name));
    s.rb.buf = dt__calloc(&g->alloc, ro_cap, sizeof *s.rb.buf);
    s.rb.mask = ro_cap - 1;
    rc = s.name && s.rb.buf ? dt_ring_create(&g->alloc, rc_cap, cfg->overflow, &s.ring)
                            : DT_ENOMEM;
    if (rc != DT_OK) {
        dt__free(&g->alloc, s.name);
        dt__free(&g->alloc, s.rb.buf);
        return rc;
    }
    g->src[g->n_src] = s;
    g->head_t[g->n_src] = DT_TIME_MAX;
    *out = g->n_src++;
    return DT_OK;
}

int dt_ingest_start(dt_ingest *g, dt_time now)
{
    if (g == NULL)
        return DT_EINVAL;
    if (g->started)
        return DT_ESTATE;
    if (!dt_time_valid(now))
        return DT_ERANGE;
    for (uint32_t i = 0; i < g->n_src; i++)
        g->src[i].last_arrival = now;
    g->started = 1;
    return DT_OK;
}

dt_ring *dt_ingest_ring(dt_ingest *g, dt_source_id src)
{
    if (g == NULL || src >= g->n_src)
        return NULL;
    return g->src[src].ring;
}

int dt_ingest_push(dt_ingest *g, dt_source_id src, const dt_sample *s)
{
    if (g == NULL || s == NULL || src >= g->n_src)
        return DT_EINVAL;
    return dt_ring_push(g->src[src].ring, s);
}

static void fill_stats(const source *src, dt_source_stats *o)
{
    *o = src->st;
    dt_ring_stats rs;
    dt_ring_stats_get(src->ring, &rs);
    o->offered = rs.offered;
    o->dropped_newest = rs.dropped_newest;
    o->dropped_oldest = rs.dropped_oldest;
    o->drained = rs.drained + src->fed;
    o->offered += src->fed;
    o->pending_ring = dt_ring_size(src->ring);
    o->pending_merge = src->rb.tail - src->rb.head;
    o->newest = src->newest;
}

int dt_source_stats_consistent(const dt_source_stats *s)
{
    if (s == NULL)
        return 0;
    uint64_t rejected = s->rejected_nonfinite + s->rejected_bad_variance +
                        s->rejected_unknown_signal + s->rejected_wrong_role +
                        s->rejected_out_of_limits + s->rejected_future +
                        s->rejected_bad_time + s->rejected_clock_step;
    return s->offered == s->dropped_newest + s->dropped_oldest + s->drained + s->pending_ring &&
           s->drained == s->accepted + rejected &&
           s->accepted == s->dropped_reorder_full + s->released + s->late +
                              s->dropped_too_late + s->pending_merge;
}

int dt_ingest_source_stats(const dt_ingest *g, dt_source_id id, dt_source_stats *o)
{
    if (g == NULL || o == NULL || id >= g->n_src)
        return DT_ENOTFOUND;
    fill_stats(&g->src[id], o);
    return DT_OK;
}

void dt_ingest_stats_get(const dt_ingest *g, dt_ingest_stats *o)
{
    memset(o, 0, sizeof *o);
    dt_source_stats *t = &o->total;
    t->newest = DT_TIME_MIN;
    for (uint32_t i = 0; i < g->n_src; i++) {
        dt_source_stats s;
        fill_stats(&g->src[i], &s);
#define ADD(f) t->f += s.f
        ADD(offered); ADD(dropped_newest); ADD(dropped_oldest); ADD(drained);
        ADD(pending_ring); ADD(accepted); ADD(rejected_nonfinite);
        ADD(rejected_bad_variance); ADD(rejected_unknown_signal);
        ADD(rejected_wrong_role); ADD(rejected_out_of_limits); ADD(rejected_future);
        ADD(rejected_bad_time); ADD(rejected_clock_step); ADD(clamped_to_arrival);
        ADD(flagged_out_of_limits); ADD(dropped_reorder_full); ADD(released);
        ADD(late); ADD(dropped_too_late); ADD(pending_merge); ADD(stale_events);
#undef ADD
        t->stale += s.stale;
        if (s.newest > t->newest)
            t->newest = s.newest;
    }
    o->watermark = g->watermark;
    o->released_until = g->any_released ? g->released_until : DT_TIME_MIN;
    o->sources = g->n_src;
}

const dt_clock *dt_ingest_clock(const dt_ingest *g, dt_source_id id)
{
    if (g == NULL || id >= g->n_src)
        return NULL;
    return &g->src[id].clock;
}

uint32_t dt_ingest_source_count(const dt_ingest *g) { return g ? g->n_src : 0; }
