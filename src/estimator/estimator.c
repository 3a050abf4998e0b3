/* The estimator: samples in time order or late, a bounded history that lets a
 * late measurement be applied at its own time and the later events replayed. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "est_internal.h"

static size_t slot_size(const dt_est *e) { return dt__est_slot_size(e); }
static double *slot_x(dt_est *e, uint32_t s) { return e->pool + (size_t)s * slot_size(e); }
static double *slot_P(dt_est *e, uint32_t s) { return slot_x(e, s) + e->n; }
static double *slot_u(dt_est *e, uint32_t s) { return slot_P(e, s) + e->n * e->n; }
static double *slot_params(dt_est *e, uint32_t s) { return slot_u(e, s) + (e->p ? e->p : 1); }
static event *EV(dt_est *e, size_t i) { return &e->ev[(e->head + i) % e->H]; }

void dt__est_snapshot(dt_est *e, uint32_t slot)
{
    memcpy(slot_x(e, slot), dt_kf_state(e->kf), e->n * sizeof(double));
    memcpy(slot_P(e, slot), dt_kf_cov(e->kf), e->n * e->n * sizeof(double));
    if (e->p)
        memcpy(slot_u(e, slot), e->u, e->p * sizeof(double));
    if (e->n_params)
        memcpy(slot_params(e, slot), e->params, e->n_params * sizeof(double));
}

static void restore_inputs(dt_est *e, uint32_t slot)
{
    if (e->p) {
        memcpy(e->u, slot_u(e, slot), e->p * sizeof(double));
        dt_kf_set_input(e->kf, e->u);
    }
    if (e->n_params)
        memcpy(e->params, slot_params(e, slot), e->n_params * sizeof(double));
}

static void restore(dt_est *e, uint32_t slot)
{
    dt_kf_set_state(e->kf, slot_x(e, slot), slot_P(e, slot));
    restore_inputs(e, slot);
}

/* The history holds nothing: the filter's current belief at t is the base. */
void dt__est_rebase(dt_est *e, dt_time t)
{
    dt__est_bel_release_all(e);
    for (size_t s = 0; s <= e->H; s++)
        e->free_slots[s] = (uint32_t)s;
    e->n_free = e->H + 1;
    e->base_slot = e->free_slots[--e->n_free];
    dt__est_snapshot(e, e->base_slot);
    e->base_t = t;
    e->t = t;
    e->count = 0;
    e->head = 0;
}

int dt_est_start(dt_est *e, dt_time t0)
{
    if (e == NULL)
        return DT_EINVAL;
    if (e->started)
        return DT_ESTATE;
    if (!dt_time_valid(t0))
        return DT_ERANGE;
    /* A process model must be set: a zero-length predict tells. */
    if (dt_kf_predict(e->kf, 0.0) != DT_OK)
        return DT_ESTATE;
    /* Budgets again if measurements (callbacks) or bounds changed since they
     * were computed (at load). */
    int rc = e->budgets_gen == e->rows_gen + 1 ? DT_OK : dt_est_budgets(e, NULL);
    if (rc != DT_OK) {
        for (size_t i = 0; i < e->n_bounds; i++)
            e->bounds[i].tau = NAN;
        return rc;
    }
    for (size_t i = 0; i < e->n_bounds; i++)
        dt__log(&e->log, DT_LOG_INFO, "estimator",
                "latency budget \"%s\": %g s (steady state %g of %g)", e->bounds[i].name,
                e->bounds[i].tau, e->bounds[i].reach, e->bounds[i].limit);
    memcpy(e->x0, dt_kf_state(e->kf), e->n * sizeof *e->x0);
    memcpy(e->P0, dt_kf_cov(e->kf), e->n * e->n * sizeof *e->P0);
    dt__est_rebase(e, t0);
    e->started = 1;
    return DT_OK;
}

/* Appends or inserts an event at logical position pos; the oldest event
 * becomes the base when the history is full (and pos is shifted). The
 * caller never inserts at position 0 of a full history: the new event would
 * precede the base. */
static event *insert_event(dt_est *e, size_t pos)
{
    if (e->count == e->H) {
        event *old = EV(e, 0);
        dt__est_bel_release(e, old);
        e->free_slots[e->n_free++] = e->base_slot;
        e->base_slot = old->slot;
        e->base_t = old->t;
        e->head = (e->head + 1) % e->H;
        e->count--;
        pos = pos > 0 ? pos - 1 : 0;
    }
    for (size_t i = e->count; i > pos; i--)
        *EV(e, i) = *EV(e, i - 1);
    event *ev = EV(e, pos);
    ev->slot = e->free_slots[--e->n_free];
    ev->flags = 0;
    e->count++;
    return ev;
}

event *dt__est_append(dt_est *e, dt_time t, uint32_t type)
{
    event *ev = insert_event(e, e->count);
    ev->t = t;
    ev->type = type;
    return ev;
}

int dt__est_drop_oldest_belief(dt_est *e)
{
    size_t pos = 0;
    while (pos < e->count && EV(e, pos)->type != EV_BELIEF)
        pos++;
    if (pos == e->count)
        return 0;
    for (size_t i = 0; i <= pos; i++) { /* its snapshot becomes the base */
        event *ev = EV(e, 0);
        dt__est_bel_release(e, ev);
        e->free_slots[e->n_free++] = e->base_slot;
        e->base_slot = ev->slot;
        e->base_t = ev->t;
        e->head = (e->head + 1) % e->H;
        e->count--;
    }
    return 1;
}

#define NIS_CAP 32.0

static double seconds(dt_time a, dt_time b) { return dt_time_to_sec(b - a); }

static int kf_update(dt_est *e, const event *ev, double gate, dt_kf_result *res)
{
    const meas *m = &e->meas[ev->sig];
    if (m->kind == 1)
        return dt_kf_update_scalar(e->kf, m->h, ev->z - m->offset, ev->r, gate, res);
    return dt_kf_update_nonlinear(e->kf, m->fn, m->user, ev->z, ev->r, gate, res);
}

/* A measurement event on the predicted belief. live: processed in time order
 * for the first time (counters, analytics, the gate's recovery and isolation
 * decisions); a replay repeats the decisions recorded in ev->flags. */
static int measure(dt_est *e, event *ev, const dt_sample *s, int live)
{
    meas *m = &e->meas[ev->sig];
    if (ev->flags & EVF_EXCLUDED) {
        if (live)
            dt__est_excluded(e, ev);
        return DT_OK;
    }
    double gate = e->gate;
    if (ev->flags & EVF_RECOVER) {
        double y, sv;
        if (dt__est_innovation(e, ev->sig, ev->z, ev->r, &y, &sv) == DT_OK && y * y > gate * sv)
            dt__est_inflate(e, ev->sig, y, sv);
        gate = 0;
    }
    dt_kf_result res;
    int rc = kf_update(e, ev, gate, &res);
    if (!live)
        return rc;
    if (rc != DT_OK) {
        m->st.numeric_failures++;
        e->st.numeric_failures++;
        return rc;
    }
    /* divergence monitor: gated innovations are the strongest evidence, but
     * one outlier is not divergence: capped at the mean's length (32), one
     * innovation moves the mean by at most 1, so from a consistent filter
     * (about 1) it takes three gross ones in a row to pass 3 */
    e->nis_ewma += ((res.nis < NIS_CAP ? res.nis : NIS_CAP) - e->nis_ewma) / NIS_CAP;
    e->st.nis_ewma = e->nis_ewma;
    int div = e->nis_ewma > DT_EST_DIVERGENCE_NIS;
    if (div && !e->st.diverging) {
        e->st.divergence_events++;
        dt__log(&e->log, DT_LOG_WARN, "estimator",
                "diverging: mean NIS %.1f over the recent updates (model mismatch?)",
                e->nis_ewma);
    }
    e->st.diverging = div;
    if (res.gated) {
        double y = res.innovation, sv = res.s;
        if (dt__est_after_gated(e, ev, y, sv) != GATE_RECOVER) {
            m->st.gated++;
            e->st.gated++;
            return DT_OK;
        }
        /* recovery: P was inflated along the row; applied without the gate */
        rc = kf_update(e, ev, 0, &res);
        if (rc != DT_OK) {
            /* not applied: P as it was, the run (and the dispute) goes on */
            double *x = e->work;
            memcpy(x, dt_kf_state(e->kf), e->n * sizeof *x);
            dt_kf_set_state(e->kf, x, dt__est_saved_P(e));
            m->st.numeric_failures++;
            e->st.numeric_failures++;
            return rc;
        }
        dt__est_recovered(e, ev, y, sv);
    }
    m->run = 0;
    m->t_ok = ev->t;
    m->z_ok = ev->z;
    m->r_ok = ev->r;
    m->st.updates++;
    e->st.updates++;
    m->nis_sum += res.nis;
    m->st.nis_mean = m->nis_sum / (double)m->st.updates;
    e->nis_sum += res.nis;
    e->st.nis_mean = e->nis_sum / (double)e->st.updates;
    if (ev->t > e->t_data)
        e->t_data = ev->t;
    for (size_t i = 0; i < e->n_an; i++)
        if (e->an[i]->run(e->an_self[i], e, s) != 0)
            e->st.analytics_errors++;
    return DT_OK;
}

/* Applies one event to the filter, which is at time `from`. *lost: the
 * prediction failed (the caller declares the belief lost). */
static int apply(dt_est *e, event *ev, dt_time from, const dt_sample *s, int live, int *lost)
{
    int rc = dt_kf_predict(e->kf, seconds(from, ev->t));
    if (rc != DT_OK) {
        *lost = 1;
        return rc;
    }
    switch (ev->type) {
    case EV_INPUT:
        memcpy(e->u, slot_u(e, ev->slot), e->p * sizeof *e->u);
        return dt_kf_set_input(e->kf, e->u);
    case EV_PARAM:
        e->params[ev->sig] = ev->z;
        return DT_OK;
    case EV_MEAS:
        return measure(e, ev, s, live);
    case EV_BELIEF: /* fused live by dt_est_fuse; here only replayed */
        return dt__est_refuse(e, ev);
    default:
        return DT_OK;
    }
}

static size_t pos_of(const dt_est *e, const event *ev)
{
    return (size_t)(ev - e->ev + (ptrdiff_t)e->H - (ptrdiff_t)e->head) % e->H;
}

/* Parameters written during an update (analytics) or by the host are
 * recorded as events at time t, at logical position *pos (right after the
 * update that wrote them), so a replay repeats them there; *pos moves past
 * them. The filter holds the state at t. */
static void record_params(dt_est *e, size_t *pos, dt_time t)
{
    for (size_t i = 0; i < e->n_params; i++) {
        if (!e->param_dirty[i])
            continue;
        e->param_dirty[i] = 0;
        event *ev = insert_event(e, *pos);
        ev->t = t;
        ev->type = EV_PARAM;
        ev->sig = (uint32_t)i;
        ev->z = e->params[i];
        dt__est_snapshot(e, ev->slot);
        *pos = pos_of(e, ev) + 1;
    }
}

/* Runs event at logical position pos and replays everything after it,
 * starting from the state after pos - 1 (or the base). On a lost belief the
 * newest input and parameters (the last event's, not yet replayed) are
 * restored for dt__est_lose. */
static int run_from(dt_est *e, size_t pos, const dt_sample *s, int *lost)
{
    uint32_t from_slot = pos == 0 ? e->base_slot : EV(e, pos - 1)->slot;
    dt_time from_t = pos == 0 ? e->base_t : EV(e, pos - 1)->t;
    restore(e, from_slot);
    event *first = EV(e, pos);
    int rc = apply(e, first, from_t, s, 1, lost);
    if (*lost) {
        restore_inputs(e, EV(e, e->count - 1)->slot);
        return rc;
    }
    dt__est_snapshot(e, first->slot);
    from_t = first->t;
    size_t i = pos + 1;
    record_params(e, &i, from_t);
    for (; i < e->count; i++) {
        event *ev = EV(e, i);
        int r = apply(e, ev, from_t, NULL, 0, lost);
        if (*lost) {
            restore_inputs(e, EV(e, e->count - 1)->slot);
            return r;
        }
        dt__est_snapshot(e, ev->slot);
        from_t = ev->t;
        e->st.replayed++;
    }
    return rc;
}

int dt_est_process(dt_est *e, const dt_sample *s)
{
    if (e == NULL || s == NULL)
        return DT_EINVAL;
    if (!e->started)
        return DT_ESTATE;
    if (s->signal >= e->n_sig || e->meas[s->signal].kind == 0) {
        e->st.unmodelled++;
        return DT_ENOTFOUND;
    }
    /* times are differenced: outside +-2^62 ns the difference could overflow */
    if (!dt_time_valid(s->t_source)) {
        e->st.bad_time++;
        return DT_ERANGE;
    }
    double r = (s->flags & DT_SAMPLE_HAS_VARIANCE)
                   ? s->variance
                   : dt_model_signal(e->model, s->signal)->noise_var;
    dt_time t = s->t_source;
    size_t pos = e->count;
    if (t < e->t) {
        while (pos > 0 && EV(e, pos - 1)->t > t)
            pos--;
        /* before the base, or before the oldest event of a full history
         * (which this insertion would make the base): too old */
        if (t < e->base_t || (pos == 0 && e->count == e->H)) {
            e->st.too_old++;
            return DT_ESTALE;
        }
    }
    event *ev = insert_event(e, pos);
    /* insert_event may have evicted the oldest: find ev's position again */
    size_t at = pos_of(e, ev);
    ev->t = t;
    ev->type = EV_MEAS;
    ev->sig = s->signal;
    ev->z = s->value;
    ev->r = r;
    if (e->meas[s->signal].st.isolated)
        ev->flags |= EVF_EXCLUDED;
    int rc, lost = 0;
    /* a sample whose own prediction fails reaches none of the counts below */
    uint64_t counted = e->st.updates + e->st.gated + e->st.excluded + e->st.numeric_failures;
    e->in_apply = 1;
    if (at + 1 == e->count) {
        /* In order: one predict and one update from the current belief. */
        rc = apply(e, ev, e->t, s, 1, &lost);
        if (!lost) {
            dt__est_snapshot(e, ev->slot);
            size_t end = e->count;
            record_params(e, &end, t);
        }
    } else {
        if (!(ev->flags & EVF_EXCLUDED))
            e->st.late_applied++;
        rc = run_from(e, at, s, &lost);
    }
    e->in_apply = 0;
    if (lost) {
        if (e->st.updates + e->st.gated + e->st.excluded + e->st.numeric_failures == counted) {
            e->meas[s->signal].st.numeric_failures++;
            e->st.numeric_failures++;
        }
        memset(e->param_dirty, 0, e->n_params ? e->n_params : 1);
        dt__est_lose(e, t > e->t ? t : e->t, rc);
        rc = DT_ERANGE;
    } else if (t > e->t) {
        e->t = t;
    }
    e->version++;
    return rc;
}

int dt_est_advance(dt_est *e, dt_time t)
{
    if (e == NULL)
        return DT_EINVAL;
    if (!e->started)
        return DT_ESTATE;
    if (!dt_time_valid(t))
        return DT_ERANGE;
    if (t <= e->t)
        return DT_OK;
    event *ev = insert_event(e, e->count);
    ev->t = t;
    ev->type = EV_PREDICT;
    int lost = 0;
    int rc = apply(e, ev, e->t, NULL, 0, &lost);
    e->version++;
    if (lost) {
        dt__est_lose(e, t, rc);
        return DT_ERANGE;
    }
    dt__est_snapshot(e, ev->slot);
    e->t = t;
    return rc;
}

int dt_est_set_input(dt_est *e, dt_time t, const double *u)
{
    if (e == NULL || u == NULL || e->p == 0)
        return DT_EINVAL;
    for (size_t i = 0; i < e->p; i++)
        if (!isfinite(u[i]))
            return DT_EINVAL;
    if (!e->started) {
        memcpy(e->u, u, e->p * sizeof *u);
        return dt_kf_set_input(e->kf, u);
    }
    if (t < e->t || !dt_time_valid(t))
        return DT_ERANGE;
    event *ev = insert_event(e, e->count);
    ev->t = t;
    ev->type = EV_INPUT;
    memcpy(slot_u(e, ev->slot), u, e->p * sizeof *u);
    int lost = 0;
    int rc = apply(e, ev, e->t, NULL, 0, &lost);
    e->version++;
    if (lost) {
        /* the belief is lost at t; the input holds from there on */
        dt__est_lose(e, t, rc);
        memcpy(e->u, u, e->p * sizeof *u);
        dt_kf_set_input(e->kf, u);
        dt__est_snapshot(e, e->base_slot);
        return DT_ERANGE;
    }
    dt__est_snapshot(e, ev->slot);
    e->t = t;
    return rc;
}

dt_time dt_est_time(const dt_est *e) { return e ? e->t : 0; }
uint64_t dt_est_version(const dt_est *e) { return e ? e->version : 0; }

int dt_est_belief(dt_est *e, dt_signal_id sig, dt_time t, dt_belief *out)
{
    if (e == NULL || out == NULL || sig >= e->n_sig)
        return DT_ENOTFOUND;
    if (!dt_time_valid(t))
        return DT_ERANGE;
    out->t_estimate = e->t;
    out->t_data = e->t_data;
    out->age = e->t_data == DT_TIME_MIN ? DT_TIME_MAX : t - e->t_data;
    out->version = e->version;
    if (e->param_of[sig] >= 0) {
        out->value = e->params[e->param_of[sig]];
        out->variance = 0;
        return DT_OK;
    }
    int i = e->state_of[sig];
    if (i < 0)
        return DT_ENOTFOUND;
    double dt = t > e->t ? seconds(e->t, t) : 0.0;
    int rc = dt_kf_peek(e->kf, dt, e->xb, e->Pb);
    if (rc != DT_OK)
        return rc;
    out->value = e->xb[i];
    out->variance = e->Pb[(size_t)i * e->n + (size_t)i];
    return DT_OK;
}

int dt_est_param(const dt_est *e, dt_signal_id sig, double *value)
{
    if (e == NULL || value == NULL || sig >= e->n_sig || e->param_of[sig] < 0)
        return DT_ENOTFOUND;
    *value = e->params[e->param_of[sig]];
    return DT_OK;
}

int dt_est_set_param(dt_est *e, dt_signal_id sig, double value)
{
    if (e == NULL || sig >= e->n_sig || e->param_of[sig] < 0)
        return DT_ENOTFOUND;
    if (!isfinite(value))
        return DT_EINVAL;
    size_t k = (size_t)e->param_of[sig];
    if (e->params[k] == value)
        return DT_OK; /* unchanged: no history event, the belief is the same */
    e->params[k] = value;
    e->version++;
    if (!e->started)
        return DT_OK;
    /* recorded in the history like an input, so a replay after a late
     * sample reads the value each past event saw */
    e->param_dirty[k] = 1;
    if (!e->in_apply) {
        size_t end = e->count;
        record_params(e, &end, e->t);
    }
    return DT_OK;
}
