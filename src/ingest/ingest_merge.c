/* Ingest merge: releasing samples in time order up to the watermark, and the snapshots queried. */
#include "ingest_state.h"

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
                dt__ingest_lose(g, best, &best->st.dropped_too_late,
                                "dropped: too late (older than the horizon behind the newest "
                                "released)");
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
