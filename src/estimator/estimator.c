/* The estimator: samples in time order or late, a bounded history that lets a
 * late measurement be applied at its own time and the later events replayed. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "est_internal.h"

static size_t slot_size(const dt_est *e)
{
    return e->n + e->n * e->n + (e->p ? e->p : 1) + e->n_params;
}
static double *slot_x(dt_est *e, uint32_t s) { return e->pool + (size_t)s * slot_size(e); }
static double *slot_P(dt_est *e, uint32_t s) { return slot_x(e, s) + e->n; }
static double *slot_u(dt_est *e, uint32_t s) { return slot_P(e, s) + e->n * e->n; }
static double *slot_params(dt_est *e, uint32_t s) { return slot_u(e, s) + (e->p ? e->p : 1); }
static event *EV(dt_est *e, size_t i) { return &e->ev[(e->head + i) % e->H]; }

void dt_est_destroy(dt_est *e)
{
    if (e == NULL)
        return;
    dt_allocator a = e->alloc;
    dt_kf_destroy(e->kf);
    if (e->meas != NULL)
        for (size_t i = 0; i < e->n_sig; i++)
            dt__free(&a, e->meas[i].h);
    for (size_t i = 0; i < e->n_bounds; i++)
        dt__free(&a, e->bounds[i].w);
    dt__free(&a, e->meas);
    dt__free(&a, e->states);
    dt__free(&a, e->inputs);
    dt__free(&a, e->state_of);
    dt__free(&a, e->param_of);
    dt__free(&a, e->params);
    dt__free(&a, e->param_dirty);
    dt__free(&a, e->x0);
    dt__free(&a, e->P0);
    dt__free(&a, e->ev);
    dt__free(&a, e->pool);
    dt__free(&a, e->free_slots);
    dt__free(&a, e->u);
    dt__free(&a, e->xb);
    dt__free(&a, e->Pb);
    dt__free(&a, e->work);
    dt__free(&a, e->rows);
    dt__free(&a, e);
}

int dt__est_config_read(const dt_est_config *cfg, dt_est_config *out)
{
    dt_est_config c = DT_EST_CONFIG_INIT;
    /* the layout before recover_after is accepted: the missing field keeps
     * its default */
    if (cfg != NULL) {
        if (cfg->size != sizeof *cfg && cfg->size != offsetof(dt_est_config, recover_after))
            return DT_EABI;
        memcpy(&c, cfg, cfg->size);
        c.size = sizeof c;
    }
    *out = c;
    return DT_OK;
}

int dt_est_create(const dt_model *model, const dt_signal_id *states, size_t n,
                  const dt_signal_id *inputs, size_t p, const dt_est_config *cfg, dt_est **out)
{
    if (model == NULL || states == NULL || out == NULL || n < 1 || n > DT_LA_MAX ||
        p > DT_LA_MAX || (p > 0 && inputs == NULL))
        return DT_EINVAL;
    dt_est_config c;
    if (dt__est_config_read(cfg, &c) != DT_OK)
        return DT_EABI;
    size_t H = c.history ? c.history : 128;
    double gp = c.gate_probability != 0.0 ? c.gate_probability : 0.9999;
    uint32_t ra = c.recover_after ? c.recover_after : DT_EST_RECOVER_AFTER;
    if (H > 65536 || !(gp > 0 && gp <= 1) || ra < DT_EST_RECOVER_AFTER_MIN ||
        ra > DT_EST_RECOVER_AFTER_MAX)
        return DT_EINVAL;
    size_t ns = dt_model_signal_count(model);
    for (size_t i = 0; i < n; i++) {
        const dt_signal_info *si = dt_model_signal(model, states[i]);
        if (si == NULL || si->role != DT_ROLE_ESTIMATED)
            return DT_EINVAL;
        for (size_t j = 0; j < i; j++)
            if (states[j] == states[i])
                return DT_EINVAL;
    }
    for (size_t i = 0; i < p; i++)
        if (dt_model_signal(model, inputs[i]) == NULL)
            return DT_EINVAL;
    const dt_allocator *a = c.allocator ? c.allocator : dt_allocator_default();
    dt_est *e = dt__calloc(a, 1, sizeof *e);
    if (e == NULL)
        return DT_ENOMEM;
    e->alloc = *a;
    e->log = c.logger ? *c.logger : *dt_logger_stderr();
    e->nis_ewma = e->st.nis_ewma = 1.0; /* the consistent value, before any data */
    e->model = model;
    e->n = n;
    e->p = p;
    e->n_sig = ns;
    e->H = H;
    e->recover_after = ra;
    for (size_t i = 0; i < ns; i++)
        e->n_params += dt_model_signal(model, (dt_signal_id)i)->role == DT_ROLE_PARAMETER;
    e->t_data = DT_TIME_MIN;
    e->gate = INFINITY;
    if (gp < 1 && dt_chi2_quantile(gp, 1, &e->gate) != DT_OK) {
        dt_est_destroy(e);
        return DT_EINVAL;
    }
    int rc = dt_kf_create(n, p, a, &e->kf);
    if (rc != DT_OK) {
        dt__free(a, e);
        return rc;
    }
    size_t slots = H + 1;
    e->states = dt__calloc(a, n, sizeof *e->states);
    e->inputs = dt__calloc(a, p ? p : 1, sizeof *e->inputs);
    e->state_of = dt__calloc(a, ns ? ns : 1, sizeof *e->state_of);
    e->param_of = dt__calloc(a, ns ? ns : 1, sizeof *e->param_of);
    e->meas = dt__calloc(a, ns ? ns : 1, sizeof *e->meas);
    e->ev = dt__calloc(a, H, sizeof *e->ev);
    e->pool = dt__calloc(a, slots * slot_size(e), sizeof(double));
    e->free_slots = dt__calloc(a, slots, sizeof *e->free_slots);
    e->u = dt__calloc(a, p ? p : 1, sizeof *e->u);
    e->xb = dt__calloc(a, n, sizeof *e->xb);
    e->Pb = dt__calloc(a, n * n, sizeof *e->Pb);
    /* the budget's scratch (the larger one) serves the other scratch uses too */
    e->work = dt__calloc(a, DT_PERIODIC_BUDGET_WORK(n), sizeof *e->work);
    e->rows = dt__calloc(a, ns ? ns : 1, sizeof *e->rows);
    size_t np = e->n_params ? e->n_params : 1;
    e->params = dt__calloc(a, np, sizeof *e->params);
    e->param_dirty = dt__calloc(a, np, 1);
    e->x0 = dt__calloc(a, n, sizeof *e->x0);
    e->P0 = dt__calloc(a, n * n, sizeof *e->P0);
    if (!e->states || !e->inputs || !e->state_of || !e->param_of || !e->meas || !e->ev ||
        !e->pool || !e->free_slots || !e->u || !e->xb || !e->Pb || !e->work || !e->params ||
        !e->rows || !e->param_dirty || !e->x0 || !e->P0) {
        dt_est_destroy(e);
        return DT_ENOMEM;
    }
    memcpy(e->states, states, n * sizeof *states);
    if (p)
        memcpy(e->inputs, inputs, p * sizeof *inputs);
    for (size_t i = 0, k = 0; i < ns; i++) {
        e->state_of[i] = -1;
        e->param_of[i] = -1;
        e->meas[i].t_ok = DT_TIME_MIN;
        if (dt_model_signal(model, (dt_signal_id)i)->role == DT_ROLE_PARAMETER)
            e->param_of[i] = (int)k++;
    }
    for (size_t i = 0; i < n; i++)
        e->state_of[states[i]] = (int)i;
    *out = e;
    return DT_OK;
}

dt_kf *dt_est_kf(dt_est *e) { return e ? e->kf : NULL; }
size_t dt_est_dim(const dt_est *e) { return e ? e->n : 0; }

int dt_est_state_index(const dt_est *e, dt_signal_id sig)
{
    return e && sig < e->n_sig ? e->state_of[sig] : -1;
}

static int measurable(const dt_est *e, dt_signal_id sig)
{
    if (e == NULL || sig >= e->n_sig)
        return 0;
    dt_role r = dt_model_signal(e->model, sig)->role;
    return r == DT_ROLE_MEASURED || r == DT_ROLE_PARAMETER;
}

int dt_est_set_measurement(dt_est *e, dt_signal_id sig, const double *h, double offset)
{
    if (!measurable(e, sig) || h == NULL || !isfinite(offset) || e->started)
        return e && e->started ? DT_ESTATE : DT_EINVAL;
    for (size_t i = 0; i < e->n; i++)
        if (!isfinite(h[i]))
            return DT_EINVAL;
    meas *m = &e->meas[sig];
    if (m->h == NULL) {
        m->h = dt__calloc(&e->alloc, e->n, sizeof *m->h);
        if (m->h == NULL)
            return DT_ENOMEM;
    }
    memcpy(m->h, h, e->n * sizeof *h);
    m->offset = offset;
    m->kind = 1;
    e->rows_gen++;
    return DT_OK;
}

int dt_est_set_measurement_fn(dt_est *e, dt_signal_id sig, dt_kf_measure_fn fn, void *user)
{
    if (!measurable(e, sig) || fn == NULL)
        return DT_EINVAL;
    if (e->started)
        return DT_ESTATE;
    /* room for the linearization the latency budget uses at start */
    if (e->meas[sig].h == NULL) {
        e->meas[sig].h = dt__calloc(&e->alloc, e->n, sizeof *e->meas[sig].h);
        if (e->meas[sig].h == NULL)
            return DT_ENOMEM;
    }
    e->meas[sig].kind = 2;
    e->rows_gen++;
    e->meas[sig].fn = fn;
    e->meas[sig].user = user;
    return DT_OK;
}

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

int dt_est_add_analytics(dt_est *e, const dt_analytics_ops *ops, void *self)
{
    if (e == NULL || ops == NULL || ops->run == NULL)
        return DT_EINVAL;
    if (ops->abi < 1 || ops->abi > DT_ANALYTICS_ABI)
        return DT_EABI;
    if (e->started)
        return DT_ESTATE; /* a hook added mid-run would miss the updates before it */
    if (e->n_an == MAX_ANALYTICS)
        return DT_ELIMIT;
    e->an[e->n_an] = ops;
    e->an_self[e->n_an++] = self;
    return DT_OK;
}

int dt_est_input_index(const dt_est *e, dt_signal_id sig)
{
    for (size_t i = 0; e != NULL && i < e->p; i++)
        if (e->inputs[i] == sig)
            return (int)i;
    return -1;
}

size_t dt_est_input_count(const dt_est *e) { return e ? e->p : 0; }
