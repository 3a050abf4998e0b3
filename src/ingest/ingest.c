/* Sense + Synchronize: rings -> validation -> clock mapping -> reorder buffers
 * -> watermark release -> snapshots. */
#include <math.h>
#include <string.h>

#include "../platform/internal.h"
#include "dtwin/ingest.h"

#define DRAIN_BATCH 256

typedef struct reorder {
    dt_sample *buf; /* sorted by t_source over [head, tail) */
    uint64_t mask, head, tail;
} reorder;

typedef struct source {
    /* hot: touched per sample */
    reorder rb;
    dt_ring *ring;
    dt_time lateness, timeout, last_arrival, newest;
    dt_time max_hold; /* 0: not declared */
    uint64_t fed;     /* samples a feed (flight-log replay) handed in place of the ring */
    uint64_t ring_said[2]; /* ring overflows (newest refused, oldest overwritten) logged */
    dt_source_stats st; /* consumer-side counters */
    char *name;
    dt_clock clock; /* large (window history); hot fields stay before it */
} source;

typedef struct sig_info {
    uint8_t accept;     /* role may come from a source */
    uint8_t has_limits;
    double min, max, noise_var;
    dt_time period;
    dt_time stale_after; /* stale_factor x period, DT_TIME_MAX without a period */
} sig_info;

typedef struct snap_pt {
    dt_time t;
    double v, var;
    double inv_dt; /* 1 / (t_next - t), 0 for the newest: no division per query */
    double slope;  /* (v_next - v) / (t_next - t) */
} snap_pt;

/* A ring of the newest DT_SNAPSHOT_DEPTH samples, oldest at `start`. */
typedef struct snap {
    snap_pt p[DT_SNAPSHOT_DEPTH];
    uint32_t n, start;
} snap;
_Static_assert((DT_SNAPSHOT_DEPTH & (DT_SNAPSHOT_DEPTH - 1)) == 0,
               "DT_SNAPSHOT_DEPTH must be a power of two");
#define SNAP(sn, i) ((sn)->p[((sn)->start + (i)) & (DT_SNAPSHOT_DEPTH - 1)])

struct dt_ingest {
    dt_allocator alloc;
    dt_logger log;
    const dt_model *model;
    dt_limit_policy limits;
    dt_time future_tol, horizon;
    double stale_factor;
    uint32_t n_src, max_src;
    int started;
    source *src;
    size_t n_sig;
    sig_info *sig;
    snap *snaps;
    dt_sample *scratch;
    dt_time *head_t; /* per source: time of its oldest queued sample, MAX if none */
    dt_time watermark, released_until;
    int any_released;
    void (*tap)(void *user, dt_source_id src, const dt_sample *s, size_t n);
    void *tap_user;
    size_t (*feed)(void *user, dt_source_id src, dt_sample *out, size_t max);
    void *feed_user;
};

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

/* Sorted insert from the back: O(1) for in-order data. */
static int reorder_insert(reorder *rb, const dt_sample *s)
{
    if (rb->tail - rb->head > rb->mask)
        return DT_EFULL;
    uint64_t pos = rb->tail;
    while (pos > rb->head && rb->buf[(pos - 1) & rb->mask].t_source > s->t_source) {
        rb->buf[pos & rb->mask] = rb->buf[(pos - 1) & rb->mask];
        pos--;
    }
    rb->buf[pos & rb->mask] = *s;
    rb->tail++;
    return DT_OK;
}

/* Counts a sample lost at ingest, and says so at the 1st, 2nd, 4th, 8th...:
 * never silent, never a flood (and nothing is formatted for the others). */
static void lose(dt_ingest *g, const source *src, uint64_t *counter, const char *why)
{
    uint64_t n = ++*counter;
    if ((n & (n - 1)) == 0)
        dt__log(&g->log, DT_LOG_WARN, "ingest", "source %s: %llu sample%s %s", src->name,
                (unsigned long long)n, n == 1 ? "" : "s", why);
}

/* Ring overflows are counted by the producer (the ring): said here, at the
 * poll that sees a count pass a power of two, as lose() says the others. */
static void ring_losses(dt_ingest *g, source *src)
{
    static const char *const why[2] = {"dropped: ring full (newest refused)",
                                       "dropped: ring full (oldest overwritten)"};
    dt_ring_stats rs;
    dt_ring_stats_get(src->ring, &rs);
    const uint64_t now[2] = {rs.dropped_newest, rs.dropped_oldest};
    for (int k = 0; k < 2; k++) {
        uint64_t n = now[k], pow2 = n;
        while (pow2 & (pow2 - 1))
            pow2 &= pow2 - 1; /* the largest power of two <= n */
        if (pow2 > src->ring_said[k]) /* a power of two in (said, n] */
            dt__log(&g->log, DT_LOG_WARN, "ingest", "source %s: %llu sample%s %s", src->name,
                    (unsigned long long)n, n == 1 ? "" : "s", why[k]);
        src->ring_said[k] = n; /* the ring's counts only grow */
    }
}

/* Validates and queues one drained sample. */
static void accept_one(dt_ingest *g, source *src, dt_sample *s, dt_time now)
{
    dt_source_stats *st = &src->st;
    if (s->t_arrival == 0 || s->t_arrival > now)
        s->t_arrival = now; /* nothing arrives after the poll that drains it */
    if (!dt_time_valid(s->t_source) || !dt_time_valid(s->t_arrival)) {
        lose(g, src, &st->rejected_bad_time, "refused: time out of range");
        return;
    }
    src->last_arrival = s->t_arrival > src->last_arrival ? s->t_arrival : src->last_arrival;
    if (s->signal >= g->n_sig) {
        lose(g, src, &st->rejected_unknown_signal, "refused: unknown signal");
        return;
    }
    const sig_info *si = &g->sig[s->signal];
    if (!si->accept) {
        lose(g, src, &st->rejected_wrong_role, "refused: not a measured or parameter signal");
        return;
    }
    int has_var = (s->flags & DT_SAMPLE_HAS_VARIANCE) != 0;
    if (!isfinite(s->value) || (has_var && !isfinite(s->variance))) {
        lose(g, src, &st->rejected_nonfinite, "refused: value or variance not finite");
        return;
    }
    if (has_var && s->variance < 0) {
        lose(g, src, &st->rejected_bad_variance, "refused: negative variance");
        return;
    }
    s->flags &= ~(uint32_t)(DT_SAMPLE_OUT_OF_LIMITS | DT_SAMPLE_LATE);
    if (si->has_limits && (s->value < si->min || s->value > si->max)) {
        if (g->limits == DT_LIMITS_REJECT) {
            lose(g, src, &st->rejected_out_of_limits, "refused: outside the hard limits");
            return;
        }
        s->flags |= DT_SAMPLE_OUT_OF_LIMITS;
    }
    uint64_t resets = src->clock.resets;
    dt_clock_observe(&src->clock, s->t_source, s->t_arrival);
    if (src->clock.resets != resets) {
        /* mapped with the new fit it would look as fresh as its arrival:
         * after a replay or a backlog that is exactly the lie to refuse */
        lose(g, src, &st->rejected_clock_step, "refused: completing a clock step");
        return;
    }
    dt_time t = dt_clock_map(&src->clock, s->t_source);
    if (t <= -DT_TIME_LIMIT || t >= DT_TIME_LIMIT) {
        lose(g, src, &st->rejected_bad_time, "refused: time out of range");
        return;
    }
    if (t > now && t - now > g->future_tol) {
        lose(g, src, &st->rejected_future, "refused: in the future (check the sender's clock and the source's clock mode)");
        return;
    }
    if (t > s->t_arrival) {
        /* a sender clock ahead of ours (inside the tolerance) must not make
         * data look younger than its arrival */
        t = s->t_arrival;
        st->clamped_to_arrival++;
    }
    s->t_source = t;
    s->flags |= DT_SAMPLE_MAPPED;
    st->accepted++;
    if (s->flags & DT_SAMPLE_OUT_OF_LIMITS)
        st->flagged_out_of_limits++;
    if (reorder_insert(&src->rb, s) != DT_OK) {
        lose(g, src, &st->dropped_reorder_full, "dropped: reorder buffer full");
        return;
    }
    if (t < g->head_t[src - g->src])
        g->head_t[src - g->src] = t;
    if (t > src->newest)
        src->newest = t;
}

int dt_ingest_poll(dt_ingest *g, dt_time now)
{
    if (g == NULL)
        return DT_EINVAL;
    if (!g->started)
        return DT_ESTATE;
    if (!dt_time_valid(now))
        return DT_ERANGE;
    dt_time wm = DT_TIME_MAX, newest_any = DT_TIME_MIN;
    int any_live = 0;
    for (uint32_t i = 0; i < g->n_src; i++) {
        source *src = &g->src[i];
        size_t n;
        while ((n = g->feed ? g->feed(g->feed_user, i, g->scratch, DRAIN_BATCH)
                            : dt_ring_drain(src->ring, g->scratch, DRAIN_BATCH)) > 0) {
            if (g->feed != NULL)
                src->fed += n; /* offered and drained, for the accounting identity */
            if (g->tap != NULL)
                g->tap(g->tap_user, i, g->scratch, n); /* the flight recorder */
            for (size_t k = 0; k < n; k++)
                accept_one(g, src, &g->scratch[k], now);
            if (n < DRAIN_BATCH)
                break;
        }
        ring_losses(g, src);
        int stale = now - src->last_arrival > src->timeout;
        if (stale && !src->st.stale) {
            src->st.stale_events++;
            dt__log(&g->log, DT_LOG_WARN, "ingest", "source %s is stale (silent %.3f s)",
                    src->name, dt_time_to_sec(now - src->last_arrival));
        }
        src->st.stale = stale;
        if (src->newest > newest_any)
            newest_any = src->newest;
        if (!stale) {
            any_live = 1;
            dt_time cand = src->newest == DT_TIME_MIN ? DT_TIME_MIN
                                                      : src->newest - src->lateness;
            /* A declared delivery bound: whatever this source still sends from
             * before now - max_hold would be late anyway, so silence between
             * its (slow) samples does not hold the faster sources back. */
            if (src->max_hold > 0 && now - src->max_hold > cand)
                cand = now - src->max_hold;
            if (cand < wm)
                wm = cand;
        }
    }
    /* With no live source nothing can still arrive in order: release all. */
    if (!any_live)
        wm = newest_any;
    if (wm > g->watermark)
        g->watermark = wm;
    return DT_OK;
}

static void snap_link(snap *sn, uint32_t i)
{
    snap_pt *a = &SNAP(sn, i);
    if (i + 1 < sn->n && SNAP(sn, i + 1).t > a->t) {
        const snap_pt *b = &SNAP(sn, i + 1);
        a->inv_dt = 1.0 / (double)(b->t - a->t);
        a->slope = (b->v - a->v) * a->inv_dt;
    } else {
        a->inv_dt = 0.0;
        a->slope = 0.0;
    }
}

static void snap_add(snap *sn, const dt_sample *s, double var)
{
    snap_pt pt = {s->t_source, s->value, var, 0.0, 0.0};
    if (sn->n == DT_SNAPSHOT_DEPTH) {
        if (s->t_source < SNAP(sn, 0).t)
            return; /* older than anything kept */
        sn->start = (sn->start + 1) & (DT_SNAPSHOT_DEPTH - 1); /* drop the oldest */
        sn->n--;
    }
    /* In order (the common case) this loop does not run. */
    uint32_t pos = sn->n;
    while (pos > 0 && SNAP(sn, pos - 1).t > pt.t) {
        SNAP(sn, pos) = SNAP(sn, pos - 1);
        pos--;
    }
    SNAP(sn, pos) = pt;
    sn->n++;
    if (pos > 0)
        snap_link(sn, pos - 1);
    if (pos + 1 < sn->n)
        snap_link(sn, pos);
}

size_t dt_ingest_release(dt_ingest *g, dt_sample *out, size_t max)
{
    if (g == NULL || out == NULL || !g->started)
        return 0;
    size_t k = 0;
    const uint32_t ns = g->n_src;
    dt_time *head_t = g->head_t;
    while (k < max) {
        /* The smallest head among the sources: one compact array to scan. */
        uint32_t bi = 0;
        dt_time bt = head_t[0];
        for (uint32_t i = 1; i < ns; i++)
            if (head_t[i] < bt) {
                bt = head_t[i];
                bi = i;
            }
        if (ns == 0 || bt == DT_TIME_MAX || bt > g->watermark)
            break;
        source *best = &g->src[bi];
        reorder *rb = &best->rb;
        dt_sample *s = &out[k];
        *s = rb->buf[rb->head & rb->mask];
        rb->head++;
        head_t[bi] = rb->head != rb->tail ? rb->buf[rb->head & rb->mask].t_source : DT_TIME_MAX;
        if (g->any_released && s->t_source < g->released_until) {
            if (g->released_until - s->t_source > g->horizon) {
                lose(g, best, &best->st.dropped_too_late,
                     "dropped: too late (older than the horizon behind the newest released)");
                continue; /* out[k] is overwritten next */
            }
            s->flags |= DT_SAMPLE_LATE;
            best->st.late++;
        } else {
            best->st.released++;
            g->released_until = s->t_source;
            g->any_released = 1;
        }
        const sig_info *si = &g->sig[s->signal];
        snap_add(&g->snaps[s->signal], s,
                 (s->flags & DT_SAMPLE_HAS_VARIANCE) ? s->variance : si->noise_var);
        k++;
    }
    return k;
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

static int is_stale(const dt_ingest *g, size_t sig, dt_time age)
{
    return age > g->sig[sig].stale_after;
}

int dt_ingest_value_at(const dt_ingest *g, dt_signal_id sig, dt_time t,
                       dt_interp mode, dt_signal_value *out)
{
    if (g == NULL || out == NULL || sig >= g->n_sig)
        return DT_ENOTFOUND;
    const snap *sn = &g->snaps[sig];
    uint32_t n = sn->n;
    if (n == 0 || t < SNAP(sn, 0).t)
        return DT_EEMPTY;
    /* Newest sample at or before t (histories are tiny: scan from the end). */
    uint32_t i = n - 1;
    while (SNAP(sn, i).t > t)
        i--;
    const snap_pt *a = &SNAP(sn, i);
    out->age = t - a->t;
    if (mode == DT_INTERP_LINEAR && a->inv_dt != 0.0) {
        const snap_pt *b = &SNAP(sn, i + 1);
        double f = (double)(t - a->t) * a->inv_dt;
        out->value = a->v + f * (b->v - a->v);
        out->variance = (1 - f) * (1 - f) * a->var + f * f * b->var;
        out->t = b->t;
    } else {
        out->value = a->v;
        out->variance = a->var;
        out->t = a->t;
    }
    out->stale = is_stale(g, sig, out->age);
    return DT_OK;
}

size_t dt_ingest_stale_signals(const dt_ingest *g, dt_time now)
{
    size_t n = 0;
    for (size_t i = 0; i < g->n_sig; i++) {
        if (g->sig[i].period == 0 || !g->sig[i].accept)
            continue;
        const snap *sn = &g->snaps[i];
        if (sn->n == 0 || is_stale(g, i, now - SNAP(sn, sn->n - 1).t))
            n++;
    }
    return n;
}

int dt_ingest_resample(const dt_ingest *g, dt_signal_id sig, dt_time t0, dt_time step,
                       size_t n, dt_interp mode, double *values)
{
    if (g == NULL || values == NULL || sig >= g->n_sig)
        return DT_ENOTFOUND;
    if (step <= 0)
        return DT_EINVAL;
    const snap *sn = &g->snaps[sig];
    if (sn->n == 0 || t0 < SNAP(sn, 0).t)
        return DT_EEMPTY;
    /* The grid only moves forward: walk the segments once, and fill each
     * segment's stretch of the grid in a tight loop. */
    uint32_t i = 0;
    size_t k = 0;
    while (k < n) {
        dt_time t = t0 + (dt_time)k * step;
        while (i + 1 < sn->n && SNAP(sn, i + 1).t <= t)
            i++;
        const snap_pt *a = &SNAP(sn, i);
        /* grid points before the next sample (or all that remain) */
        size_t end = n;
        if (i + 1 < sn->n) {
            dt_time lim = SNAP(sn, i + 1).t - t; /* > 0 */
            size_t m = (size_t)((lim + step - 1) / step);
            if (k + m < end)
                end = k + m;
        }
        double slope = mode == DT_INTERP_LINEAR ? a->slope : 0.0;
        double x0 = (double)(t - a->t), dx = (double)step;
        for (size_t j = k; j < end; j++) /* products of integers: exact offsets */
            values[j] = a->v + ((double)(j - k) * dx + x0) * slope;
        k = end;
    }
    return DT_OK;
}
