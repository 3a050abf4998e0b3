/* Ingest poll: draining each source's ring, validating and mapping its samples, the watermark. */
#include <math.h>

#include "../platform/internal.h"
#include "ingest_state.h"

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
void dt__ingest_lose(dt_ingest *g, const source *src, uint64_t *counter, const char *why)
{
    uint64_t n = ++*counter;
    if ((n & (n - 1)) == 0)
        dt__log(&g->log, DT_LOG_WARN, "ingest", "source %s: %llu sample%s %s", src->name,
                (unsigned long long)n, n == 1 ? "" : "s", why);
}

/* Ring overflows are counted by the producer (the ring): said here, at the
 * poll that sees a count pass a power of two, as dt__ingest_lose() says the others. */
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
        dt__ingest_lose(g, src, &st->rejected_bad_time, "refused: time out of range");
        return;
    }
    src->last_arrival = s->t_arrival > src->last_arrival ? s->t_arrival : src->last_arrival;
    if (s->signal >= g->n_sig) {
        dt__ingest_lose(g, src, &st->rejected_unknown_signal, "refused: unknown signal");
        return;
    }
    const sig_info *si = &g->sig[s->signal];
    if (!si->accept) {
        dt__ingest_lose(g, src, &st->rejected_wrong_role,
                        "refused: not a measured or parameter signal");
        return;
    }
    int has_var = (s->flags & DT_SAMPLE_HAS_VARIANCE) != 0;
    if (!isfinite(s->value) || (has_var && !isfinite(s->variance))) {
        dt__ingest_lose(g, src, &st->rejected_nonfinite, "refused: value or variance not finite");
        return;
    }
    if (has_var && s->variance < 0) {
        dt__ingest_lose(g, src, &st->rejected_bad_variance, "refused: negative variance");
        return;
    }
    s->flags &= ~(uint32_t)(DT_SAMPLE_OUT_OF_LIMITS | DT_SAMPLE_LATE);
    if (si->has_limits && (s->value < si->min || s->value > si->max)) {
        if (g->limits == DT_LIMITS_REJECT) {
            dt__ingest_lose(g, src, &st->rejected_out_of_limits,
                            "refused: outside the hard limits");
            return;
        }
        s->flags |= DT_SAMPLE_OUT_OF_LIMITS;
    }
    uint64_t resets = src->clock.resets;
    dt_clock_observe(&src->clock, s->t_source, s->t_arrival);
    if (src->clock.resets != resets) {
        /* mapped with the new fit it would look as fresh as its arrival:
         * after a replay or a backlog that is exactly the lie to refuse */
        dt__ingest_lose(g, src, &st->rejected_clock_step, "refused: completing a clock step");
        return;
    }
    dt_time t = dt_clock_map(&src->clock, s->t_source);
    if (t <= -DT_TIME_LIMIT || t >= DT_TIME_LIMIT) {
        dt__ingest_lose(g, src, &st->rejected_bad_time, "refused: time out of range");
        return;
    }
    if (t > now && t - now > g->future_tol) {
        dt__ingest_lose(g, src, &st->rejected_future,
                        "refused: in the future (check the sender's clock and the source's "
                        "clock mode)");
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
        dt__ingest_lose(g, src, &st->dropped_reorder_full, "dropped: reorder buffer full");
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
        if (src->beliefs_only) /* its beliefs never wait in the merge */
            continue;
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

void dt__ingest_beliefs_only(dt_ingest *g, dt_source_id id)
{
    if (g != NULL && id < g->n_src)
        g->src[id].beliefs_only = 1;
}

void dt__ingest_touch(dt_ingest *g, dt_source_id id, dt_time t_arrival)
{
    if (g != NULL && id < g->n_src && t_arrival > g->src[id].last_arrival)
        g->src[id].last_arrival = t_arrival;
}

int dt__ingest_is_beliefs_only(const dt_ingest *g, dt_source_id id)
{
    return g != NULL && id < g->n_src && g->src[id].beliefs_only;
}

int dt__ingest_map_remote(dt_ingest *g, dt_source_id id, const dt_time *t_source, size_t n,
                          dt_time t_arrival, dt_time *out)
{
    if (g == NULL || id >= g->n_src || t_source == NULL || out == NULL || n == 0)
        return DT_EINVAL;
    source *src = &g->src[id];
    for (size_t i = 0; i < n; i++)
        if (!dt_time_valid(t_source[i]))
            return DT_ERANGE;
    if (!dt_time_valid(t_arrival))
        return DT_ERANGE;
    uint64_t resets = src->clock.resets;
    dt_clock_observe(&src->clock, t_source[0], t_arrival);
    if (src->clock.resets != resets)
        return DT_ESTALE;
    for (size_t i = 0; i < n; i++) {
        dt_time t = dt_clock_map(&src->clock, t_source[i]);
        if (t <= -DT_TIME_LIMIT || t >= DT_TIME_LIMIT)
            return DT_ERANGE;
        if (t > t_arrival && t - t_arrival > g->future_tol)
            return DT_ERANGE;
        out[i] = t > t_arrival ? t_arrival : t;
    }
    if (t_arrival > src->last_arrival) /* fresh for the stale rule, as a sample is */
        src->last_arrival = t_arrival;
    return DT_OK;
}
