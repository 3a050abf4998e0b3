/* The twin's event stream: observers (callbacks) and bounded queues for
 * belief updates, command decisions, safe-state changes and counter
 * snapshots. Everything is set up before start; delivering an event never
 * allocates, and a queue that is full counts what it could not take. */
#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>
#include <math.h>
#include <string.h>

#include "../platform/internal.h"
#include "twin_internal.h"

/* Single producer (the twin's thread), single consumer (any one thread):
 * the producer publishes a slot by a release store of head, the consumer
 * frees it by a release store of tail. Padding keeps the two indices on
 * separate cache lines (padding, not _Alignas: the allocator promises only
 * malloc's alignment). */
struct dt_event_queue {
    _Atomic uint64_t head;
    char pad0[56];
    _Atomic uint64_t tail;
    char pad1[56];
    _Atomic uint64_t lost;
    uint64_t mask;
    dt_event *slot;
};

static int queue_push(dt_event_queue *q, const dt_event *ev)
{
    uint64_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
    uint64_t t = atomic_load_explicit(&q->tail, memory_order_acquire);
    if (h - t > q->mask) {
        atomic_fetch_add_explicit(&q->lost, 1, memory_order_relaxed);
        return DT_EFULL;
    }
    dt_event *s = &q->slot[h & q->mask];
    *s = *ev;
    if (s->kind == DT_EVENT_BELIEF) /* pointers into the estimator: callbacks only */
        s->u.belief.x = s->u.belief.P = NULL;
    atomic_store_explicit(&q->head, h + 1, memory_order_release);
    return DT_OK;
}

size_t dt_event_queue_read(dt_event_queue *q, dt_event *out, size_t max)
{
    if (q == NULL || out == NULL)
        return 0;
    uint64_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
    uint64_t h = atomic_load_explicit(&q->head, memory_order_acquire);
    size_t n = 0;
    while (n < max && t + n != h) {
        out[n] = q->slot[(t + n) & q->mask];
        n++;
    }
    atomic_store_explicit(&q->tail, t + n, memory_order_release);
    return n;
}

uint64_t dt_event_queue_lost(const dt_event_queue *q)
{
    /* a const object cannot be loaded atomically in C11; the counter is
     * only ever read here, so a cast is safe */
    return q ? atomic_load_explicit(&((dt_event_queue *)(uintptr_t)q)->lost,
                                    memory_order_relaxed)
             : 0;
}

/* One observer's turn: a callback is shown a copy, so that one which casts
 * away const and writes into the event changes nothing for the observers
 * and queues after it (found by a red-team test). */
static void offer(dt_twin *t, observer *o, const dt_event *ev)
{
    dt_event view = *ev;
    view.seq = ++o->seq;
    if (o->q == NULL)
        o->o.on_event(o->o.user, &view);
    else if (queue_push(o->q, &view) != DT_OK)
        t->events_lost++;
}

void dt__twin_emit(dt_twin *t, const dt_event *ev)
{
    if (t->rec_write != NULL)
        dt__twin_rec_event(t, ev);
    for (size_t i = 0; i < t->n_obs; i++)
        if (t->obs[i].o.mask & DT_EVENT_BIT(ev->kind))
            offer(t, &t->obs[i], ev);
}

/* The estimator's hook: runs after every applied update, with the
 * posterior at the sample's own time. */
static int on_update(void *self, dt_est *est, const dt_sample *applied)
{
    dt_twin *t = self;
    if (!(t->obs_mask & DT_EVENT_BIT(DT_EVENT_BELIEF)))
        return 0;
    dt_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = DT_EVENT_BELIEF;
    ev.t = t->now;
    dt_kf *kf = dt_est_kf(est);
    ev.u.belief = (dt_event_belief){applied->t_source, dt_est_version(est), applied->signal,
                                    (uint32_t)dt_est_dim(est), applied->value,
                                    dt_kf_state(kf), dt_kf_cov(kf)};
    dt__twin_emit(t, &ev);
    return 0;
}

static const dt_analytics_ops belief_ops = {DT_ANALYTICS_ABI, "twin events", on_update};

void dt__twin_belief_event(dt_twin *t, const dt_sample *applied)
{
    dt_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = DT_EVENT_BELIEF;
    ev.t = t->now;
    double *x = t->bx, *P = t->bx + t->bn;
    t->belief_version++;
    /* the buffer holds the states the kind declared when the observer came:
     * a kind whose count changed since is not asked to write into it */
    if (t->est->ops.states(t->est->self, NULL, 0) != t->bn ||
        t->est->ops.state(t->est->self, applied->t_source, x, P) != DT_OK)
        x = P = NULL; /* the event still says an update was applied */
    ev.u.belief = (dt_event_belief){applied->t_source, t->belief_version, applied->signal,
                                    (uint32_t)t->bn, applied->value, x, P};
    dt__twin_emit(t, &ev);
}

void dt__twin_fused_event(dt_twin *t, dt_signal_id sig, dt_time t_data)
{
    dt_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = DT_EVENT_BELIEF;
    ev.t = t->now;
    dt_est *est = dt__filter_kf(t->est);
    if (est != NULL) {
        dt_kf *kf = dt_est_kf(est);
        ev.u.belief = (dt_event_belief){dt_est_time(est), dt_est_version(est), sig,
                                        (uint32_t)dt_est_dim(est), NAN, dt_kf_state(kf),
                                        dt_kf_cov(kf)};
    } else {
        double *x = t->bx, *P = t->bx ? t->bx + t->bn : NULL;
        t->belief_version++;
        if (x == NULL || t->est->ops.states(t->est->self, NULL, 0) != t->bn ||
            t->est->ops.state(t->est->self, t_data, x, P) != DT_OK)
            x = P = NULL;
        ev.u.belief = (dt_event_belief){t_data, t->belief_version, sig, (uint32_t)t->bn, NAN,
                                        x, P};
    }
    dt__twin_emit(t, &ev);
}

void dt__twin_emit_counters(dt_twin *t, dt_time now)
{
    dt_twin_stats st;
    int have = 0;
    dt_event ev;
    for (size_t i = 0; i < t->n_obs; i++) {
        observer *o = &t->obs[i];
        if (!(o->o.mask & DT_EVENT_BIT(DT_EVENT_COUNTERS)) ||
            t->st.cycles % o->o.counters_every != 0)
            continue;
        if (!have) {
            dt_twin_stats_get(t, &st);
            const dt_source_stats *g = &st.ingest.total;
            memset(&ev, 0, sizeof ev);
            ev.kind = DT_EVENT_COUNTERS;
            ev.t = now;
            ev.u.counters = (dt_event_counters){
                st.cycles,
                g->accepted,
                g->rejected_nonfinite + g->rejected_bad_variance + g->rejected_unknown_signal +
                    g->rejected_wrong_role + g->rejected_out_of_limits + g->rejected_future +
                    g->rejected_bad_time + g->rejected_clock_step,
                g->dropped_newest + g->dropped_oldest + g->dropped_reorder_full +
                    g->dropped_too_late,
                st.estimator.updates,
                st.estimator.gated,
                st.commands,
                st.sent,
                st.expired,
                st.refused,
                st.sink_errors,
                st.safe_entries,
                st.events_lost,
                st.belief_age_s};
            have = 1;
        }
        offer(t, o, &ev);
    }
}

static int add_observer(dt_twin *t, const dt_observer *obs, dt_event_queue *q)
{
    if (obs->mask == 0 || (obs->mask & ~(uint32_t)DT_EVENT_ALL) != 0 ||
        ((obs->mask & DT_EVENT_BIT(DT_EVENT_COUNTERS)) && obs->counters_every == 0))
        return DT_EINVAL;
    if (t->started)
        return DT_ESTATE;
    if (t->n_obs == DT_TWIN_OBSERVERS_MAX)
        return DT_ELIMIT;
    if ((obs->mask & DT_EVENT_BIT(DT_EVENT_BELIEF)) && !t->belief_hook) {
        if (t->est == NULL)
            return DT_EUNSUPPORTED;
        dt_est *kf = dt__filter_kf(t->est);
        int rc = DT_OK;
        if (kf != NULL) {
            /* the Kalman estimator reports each posterior at its own time */
            rc = dt_est_add_analytics(kf, &belief_ops, t);
        } else {
            /* another kind: its state slot read after each applied update */
            size_t n = t->est->ops.states(t->est->self, NULL, 0);
            if (n == 0 || n > DT_LA_MAX)
                return DT_EUNSUPPORTED;
            t->bx = dt__calloc(&t->alloc, n + n * n, sizeof *t->bx);
            if (t->bx == NULL)
                return DT_ENOMEM;
            t->bn = n;
        }
        if (rc != DT_OK)
            return rc;
        t->belief_hook = 1;
    }
    observer *o = &t->obs[t->n_obs++];
    o->o = *obs;
    o->q = q;
    o->seq = 0;
    t->obs_mask |= obs->mask;
    dt__twin_disp_env(t); /* the dispatcher now reports its decisions */
    return DT_OK;
}

int dt_twin_observe(dt_twin *t, const dt_observer *obs)
{
    if (t == NULL || obs == NULL)
        return DT_EINVAL;
    if (obs->size != sizeof *obs)
        return DT_EABI;
    if (obs->on_event == NULL)
        return DT_EINVAL;
    return add_observer(t, obs, NULL);
}

int dt_twin_event_queue(dt_twin *t, size_t capacity, uint32_t mask, uint32_t counters_every,
                        dt_event_queue **out)
{
    if (out != NULL)
        *out = NULL;
    if (t == NULL || out == NULL || capacity == 0 || capacity > DT_EVENT_QUEUE_MAX)
        return DT_EINVAL;
    size_t cap = 1;
    while (cap < capacity)
        cap <<= 1;
    dt_observer obs = {sizeof obs, mask, counters_every, NULL, NULL};
    /* checked before allocating, so a refused queue allocates nothing */
    if (obs.mask == 0 || (obs.mask & ~(uint32_t)DT_EVENT_ALL) != 0 ||
        ((mask & DT_EVENT_BIT(DT_EVENT_COUNTERS)) && counters_every == 0))
        return DT_EINVAL;
    if (t->started)
        return DT_ESTATE;
    if (t->n_obs == DT_TWIN_OBSERVERS_MAX)
        return DT_ELIMIT;
    /* a queue counts against the twin's memory budget like its rings */
    double bytes = (double)cap * sizeof(dt_event) + sizeof(dt_event_queue);
    if (t->mem_need + bytes > t->mem_budget) {
        dt__fmt(t->err, sizeof t->err,
                "an event queue of %zu events (%.0f MiB) would take the twin to about %.0f "
                "MiB, above its budget of %.0f MiB (memory.max_bytes)",
                cap, bytes / 1048576.0, (t->mem_need + bytes) / 1048576.0,
                t->mem_budget / 1048576.0);
        return DT_ELIMIT;
    }
    dt_event_queue *q = dt__calloc(&t->alloc, 1, sizeof *q);
    dt_event *slot = dt__calloc(&t->alloc, cap, sizeof *slot);
    if (q == NULL || slot == NULL) {
        dt__free(&t->alloc, q);
        dt__free(&t->alloc, slot);
        return DT_ENOMEM;
    }
    q->slot = slot;
    q->mask = cap - 1;
    atomic_init(&q->head, 0);
    atomic_init(&q->tail, 0);
    atomic_init(&q->lost, 0);
    int rc = add_observer(t, &obs, q);
    if (rc != DT_OK) {
        dt__free(&t->alloc, slot);
        dt__free(&t->alloc, q);
        return rc;
    }
    t->mem_need += bytes;
    *out = q;
    return DT_OK;
}

void dt__twin_events_free(dt_twin *t)
{
    dt__free(&t->alloc, t->bx);
    t->bx = NULL;
    for (size_t i = 0; i < t->n_obs; i++)
        if (t->obs[i].q != NULL) {
            dt__free(&t->alloc, t->obs[i].q->slot);
            dt__free(&t->alloc, t->obs[i].q);
        }
    t->n_obs = 0;
}
