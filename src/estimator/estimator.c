/* The estimator: samples in time order or late, a bounded history that lets a
 * late measurement be applied at its own time and the later events replayed. */
#include <math.h>
#include <string.h>

#include "../platform/internal.h"
#include "dtwin/estimator.h"

#define MAX_ANALYTICS 8
#define MAX_BOUNDS 16

enum { EV_MEAS = 1, EV_PREDICT = 2, EV_INPUT = 3 };

typedef struct meas {
    int kind; /* 0 none, 1 linear, 2 callback */
    double *h;
    double offset;
    dt_kf_measure_fn fn;
    void *user;
    dt_est_signal_stats st;
    double nis_sum;
} meas;

typedef struct event {
    dt_time t;
    uint32_t type, sig;
    double z, r;
    uint32_t slot; /* state after the event */
} event;

typedef struct bound_rec {
    char name[64];
    double *w;
    int quadratic;
    double limit, tau;
    double reach; /* the bound metric of the steady-state posterior */
} bound_rec;

struct dt_est {
    dt_allocator alloc;
    dt_logger log;
    const dt_model *model;
    dt_kf *kf;
    size_t n, p, n_sig;
    dt_signal_id *states, *inputs;
    int *state_of;  /* per signal: state index or -1 */
    int *param_of;  /* per signal: parameter index or -1 */
    double *params;
    size_t n_params;
    meas *meas;
    double gate;
    int started;
    dt_time t, t_data;
    uint64_t version;
    /* history: ring of events, pool of state slots (H + 1: one is the base) */
    size_t H, count, head;
    event *ev;
    double *pool; /* (H + 1) x (n + n^2 + p) */
    uint32_t base_slot;
    dt_time base_t;
    uint32_t *free_slots;
    size_t n_free;
    double *u, *xb, *Pb, *work;
    dt_est_stats st;
    double nis_sum, nees_sum, nis_ewma;
    const dt_analytics_ops *an[MAX_ANALYTICS];
    void *an_self[MAX_ANALYTICS];
    size_t n_an;
    bound_rec bounds[MAX_BOUNDS];
    size_t n_bounds;
    dt_periodic_meas *rows; /* the budget's measurement rows (n_sig, at most DT_PERIODIC_MAX_ROWS) */
    uint64_t rows_gen, budgets_gen; /* measurement/bound changes; the budgets' generation */
};

static size_t slot_size(const dt_est *e) { return e->n + e->n * e->n + (e->p ? e->p : 1); }
static double *slot_x(dt_est *e, uint32_t s) { return e->pool + (size_t)s * slot_size(e); }
static double *slot_P(dt_est *e, uint32_t s) { return slot_x(e, s) + e->n; }
static double *slot_u(dt_est *e, uint32_t s) { return slot_P(e, s) + e->n * e->n; }
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

int dt_est_create(const dt_model *model, const dt_signal_id *states, size_t n,
                  const dt_signal_id *inputs, size_t p, const dt_est_config *cfg, dt_est **out)
{
    if (model == NULL || states == NULL || out == NULL || n < 1 || n > DT_LA_MAX ||
        p > DT_LA_MAX || (p > 0 && inputs == NULL))
        return DT_EINVAL;
    dt_est_config c = DT_EST_CONFIG_INIT;
    if (cfg != NULL) {
        if (cfg->size != sizeof *cfg)
            return DT_EABI;
        c = *cfg;
    }
    size_t H = c.history ? c.history : 128;
    double gp = c.gate_probability != 0.0 ? c.gate_probability : 0.9999;
    if (H > 65536 || !(gp > 0 && gp <= 1))
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
    size_t np = 0;
    for (size_t i = 0; i < ns; i++)
        np += dt_model_signal(model, (dt_signal_id)i)->role == DT_ROLE_PARAMETER;
    e->params = dt__calloc(a, np ? np : 1, sizeof *e->params);
    if (!e->states || !e->inputs || !e->state_of || !e->param_of || !e->meas || !e->ev ||
        !e->pool || !e->free_slots || !e->u || !e->xb || !e->Pb || !e->work || !e->params || !e->rows) {
        dt_est_destroy(e);
        return DT_ENOMEM;
    }
    memcpy(e->states, states, n * sizeof *states);
    if (p)
        memcpy(e->inputs, inputs, p * sizeof *inputs);
    for (size_t i = 0; i < ns; i++) {
        e->state_of[i] = -1;
        e->param_of[i] = -1;
        if (dt_model_signal(model, (dt_signal_id)i)->role == DT_ROLE_PARAMETER)
            e->param_of[i] = (int)e->n_params++;
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

int dt_est_add_bound(dt_est *e, const char *name, const dt_bound *b)
{
    if (e == NULL || name == NULL || b == NULL || b->w == NULL || !(b->limit > 0) ||
        !isfinite(b->limit))
        return DT_EINVAL;
    if (e->started)
        return DT_ESTATE;
    if (e->n_bounds == MAX_BOUNDS)
        return DT_ELIMIT;
    bound_rec *r = &e->bounds[e->n_bounds];
    r->w = dt__calloc(&e->alloc, e->n, sizeof *r->w);
    if (r->w == NULL)
        return DT_ENOMEM;
    memcpy(r->w, b->w, e->n * sizeof *r->w);
    dt__fmt(r->name, sizeof r->name, "%s", name);
    r->quadratic = b->quadratic;
    r->limit = b->limit;
    r->tau = NAN;
    e->n_bounds++;
    e->rows_gen++;
    return DT_OK;
}

size_t dt_est_bound_count(const dt_est *e) { return e ? e->n_bounds : 0; }

int dt_est_latency_budget(const dt_est *e, size_t i, double *tau, const char **name)
{
    if (e == NULL || i >= e->n_bounds)
        return DT_ENOTFOUND;
    if (tau)
        *tau = e->bounds[i].tau;
    if (name)
        *name = e->bounds[i].name;
    return DT_OK;
}

static void snapshot(dt_est *e, uint32_t slot)
{
    memcpy(slot_x(e, slot), dt_kf_state(e->kf), e->n * sizeof(double));
    memcpy(slot_P(e, slot), dt_kf_cov(e->kf), e->n * e->n * sizeof(double));
    if (e->p)
        memcpy(slot_u(e, slot), e->u, e->p * sizeof(double));
}

static void restore(dt_est *e, uint32_t slot)
{
    dt_kf_set_state(e->kf, slot_x(e, slot), slot_P(e, slot));
    if (e->p) {
        memcpy(e->u, slot_u(e, slot), e->p * sizeof(double));
        dt_kf_set_input(e->kf, e->u);
    }
}

/* What the bound limits, for messages. */
static const char *bound_quantity(const dt_est *e, const bound_rec *r)
{
    if (r->quadratic)
        return "the variance of c'x";
    size_t nz = 0;
    for (size_t i = 0; i < e->n; i++)
        nz += r->w[i] != 0;
    return nz == 1 ? "variance" : "the weighted variance sum";
}

int dt_est_budgets(dt_est *e, dt_diag *diag)
{
    if (diag != NULL)
        memset(diag, 0, sizeof *diag);
    if (e == NULL)
        return DT_EINVAL;
    if (e->n_bounds == 0)
        return DT_OK;
    const double *A = dt_kf_model_A(e->kf), *Q = dt_kf_model_Q(e->kf);
    if (A == NULL || Q == NULL)
        return dt__diag(diag, DT_EINVAL, "estimator.bounds",
                        "latency budgets need the continuous model (A, Q)");
    /* Every measurement row at its declared period, with its signal's noise:
     * callback rows linearized at the current state. */
    size_t m = 0;
    for (size_t s = 0; s < e->n_sig; s++) {
        meas *r = &e->meas[s];
        if (r->kind == 0)
            continue;
        const dt_signal_info *si = dt_model_signal(e->model, (dt_signal_id)s);
        if (si->period <= 0)
            return dt__diag(diag, DT_EINVAL, "estimator.bounds",
                            "measured signal \"%s\" has no period: the latency budget needs "
                            "the rate of every measured signal", si->id);
        if (m == DT_PERIODIC_MAX_ROWS)
            return dt__diag(diag, DT_ELIMIT, "estimator.bounds",
                            "more than %d measured signals", DT_PERIODIC_MAX_ROWS);
        if (r->kind == 2) {
            double hx;
            int rc = r->fn(r->user, dt_kf_state(e->kf), &hx, r->h);
            int ok = rc == DT_OK && isfinite(hx);
            for (size_t i = 0; ok && i < e->n; i++)
                ok = isfinite(r->h[i]);
            if (!ok)
                return dt__diag(diag, DT_ENUMERIC, "estimator.bounds",
                                "the measurement function of \"%s\" fails at x0", si->id);
        }
        e->rows[m].h = r->h;
        e->rows[m].r = si->noise_var;
        e->rows[m].period_s = dt_time_to_sec(si->period);
        m++;
    }
    for (size_t i = 0; i < e->n_bounds; i++) {
        bound_rec *r = &e->bounds[i];
        dt_bound b = {r->w, r->quadratic, r->limit};
        dt_periodic_result pr;
        int rc = dt_periodic_budget(e->n, A, Q, dt_kf_cov(e->kf), e->rows, m, &b, &pr, e->work);
        if (rc == DT_EEMPTY)
            return dt__diag(diag, DT_ERANGE, "estimator.bounds",
                            "bound \"%s\": no measured signal, the filter never sees data",
                            r->name);
        if (rc == DT_ERANGE)
            return dt__diag(diag, DT_ERANGE, "estimator.bounds",
                            "bound \"%s\" needs %s <= %g; at the sensors' rates the filter "
                            "does not settle: it grows without limit",
                            r->name, bound_quantity(e, r), r->limit);
        if (rc != DT_OK)
            return dt__diag(diag, rc, "estimator.bounds", "bound \"%s\": %s", r->name,
                            dt_strerror(rc));
        if (pr.peak > r->limit)
            return dt__diag(diag, DT_ERANGE, "estimator.bounds",
                            "bound \"%s\" needs %s <= %g; at the sensors' rates the filter "
                            "reaches %g", r->name, bound_quantity(e, r), r->limit, pr.peak);
        if (pr.between)
            return dt__diag(diag, DT_ERANGE, "estimator.bounds",
                            "bound \"%s\" needs %s <= %g; at the sensors' rates it breaks "
                            "%g s after a sample, before the next one arrives",
                            r->name, bound_quantity(e, r), r->limit, pr.tau);
        if (pr.tau < pr.gap)
            return dt__diag(diag, DT_ERANGE, "estimator.bounds",
                            "bound \"%s\": its latency budget %g s is shorter than the "
                            "sensors' longest gap (%g s): the twin would fall into the safe "
                            "state between samples that arrive on time",
                            r->name, pr.tau, pr.gap);
        r->tau = pr.tau;
        double reach = pr.reach;
        r->reach = reach;
    }
    e->budgets_gen = e->rows_gen + 1; /* + 1: never equal before a computation */
    return DT_OK;
}

int dt_est_start(dt_est *e, dt_time t0)
{
    if (e == NULL)
        return DT_EINVAL;
    if (e->started)
        return DT_ESTATE;
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
    for (size_t s = 0; s <= e->H; s++)
        e->free_slots[s] = (uint32_t)s;
    e->n_free = e->H + 1;
    e->base_slot = e->free_slots[--e->n_free];
    snapshot(e, e->base_slot);
    e->base_t = t0;
    e->t = t0;
    e->count = 0;
    e->head = 0;
    e->started = 1;
    return DT_OK;
}

/* Appends or inserts an event at logical position pos; the oldest event
 * becomes the base when the history is full (and pos is shifted). */
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
    e->count++;
    return ev;
}

static double seconds(dt_time a, dt_time b) { return dt_time_to_sec(b - a); }

/* Applies one event to the filter, which is at time `from`. */
static int apply(dt_est *e, const event *ev, dt_time from, const dt_sample *s, int count_stats)
{
    int rc = dt_kf_predict(e->kf, seconds(from, ev->t));
    if (rc != DT_OK) {
        if (count_stats)
            e->st.numeric_failures++;
        return rc;
    }
    if (ev->type == EV_INPUT) {
        memcpy(e->u, slot_u(e, ev->slot), e->p * sizeof *e->u);
        return dt_kf_set_input(e->kf, e->u);
    }
    if (ev->type != EV_MEAS)
        return DT_OK;
    meas *m = &e->meas[ev->sig];
    dt_kf_result res;
    if (m->kind == 1)
        rc = dt_kf_update_scalar(e->kf, m->h, ev->z - m->offset, ev->r, e->gate, &res);
    else
        rc = dt_kf_update_nonlinear(e->kf, m->fn, m->user, ev->z, ev->r, e->gate, &res);
    if (!count_stats)
        return rc;
    if (rc != DT_OK) {
        m->st.numeric_failures++;
        e->st.numeric_failures++;
        return rc;
    }
    /* divergence monitor: gated innovations are the strongest evidence */
    e->nis_ewma += ((res.nis < 100 ? res.nis : 100) - e->nis_ewma) / 32.0;
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
        m->st.gated++;
        e->st.gated++;
        return DT_OK;
    }
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

/* Runs event at logical position pos and replays everything after it,
 * starting from the state after pos - 1 (or the base). */
static int run_from(dt_est *e, size_t pos, const dt_sample *s)
{
    uint32_t from_slot = pos == 0 ? e->base_slot : EV(e, pos - 1)->slot;
    dt_time from_t = pos == 0 ? e->base_t : EV(e, pos - 1)->t;
    restore(e, from_slot);
    int rc = DT_OK;
    for (size_t i = pos; i < e->count; i++) {
        event *ev = EV(e, i);
        int r = apply(e, ev, from_t, i == pos ? s : NULL, i == pos);
        if (r != DT_OK && i == pos)
            rc = r;
        snapshot(e, ev->slot);
        from_t = ev->t;
        if (i > pos)
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
    double r = (s->flags & DT_SAMPLE_HAS_VARIANCE)
                   ? s->variance
                   : dt_model_signal(e->model, s->signal)->noise_var;
    dt_time t = s->t_source;
    size_t pos;
    if (t >= e->t) {
        pos = e->count;
    } else {
        if (t < e->base_t) {
            e->st.too_old++;
            return DT_ESTALE;
        }
        pos = e->count;
        while (pos > 0 && EV(e, pos - 1)->t > t)
            pos--;
        e->st.late_applied++;
    }
    event *ev = insert_event(e, pos);
    /* insert_event may have evicted the oldest: find ev's position again */
    size_t at = (size_t)(ev - e->ev + (ptrdiff_t)e->H - (ptrdiff_t)e->head) % e->H;
    ev->t = t;
    ev->type = EV_MEAS;
    ev->sig = s->signal;
    ev->z = s->value;
    ev->r = r;
    int rc;
    if (at + 1 == e->count) {
        /* In order: one predict and one update from the current belief. */
        rc = apply(e, ev, e->t, s, 1);
        snapshot(e, ev->slot);
    } else {
        rc = run_from(e, at, s);
    }
    if (EV(e, e->count - 1)->t > e->t)
        e->t = EV(e, e->count - 1)->t;
    e->version++;
    return rc;
}

int dt_est_advance(dt_est *e, dt_time t)
{
    if (e == NULL)
        return DT_EINVAL;
    if (!e->started)
        return DT_ESTATE;
    if (t <= e->t)
        return DT_OK;
    event *ev = insert_event(e, e->count);
    ev->t = t;
    ev->type = EV_PREDICT;
    int rc = apply(e, ev, e->t, NULL, 0);
    snapshot(e, ev->slot);
    e->t = t;
    e->version++;
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
    if (t < e->t)
        return DT_ERANGE;
    event *ev = insert_event(e, e->count);
    ev->t = t;
    ev->type = EV_INPUT;
    memcpy(slot_u(e, ev->slot), u, e->p * sizeof *u);
    int rc = dt_kf_predict(e->kf, seconds(e->t, t));
    if (rc == DT_OK) {
        memcpy(e->u, u, e->p * sizeof *u);
        rc = dt_kf_set_input(e->kf, u);
    }
    snapshot(e, ev->slot);
    e->t = t;
    e->version++;
    return rc;
}

dt_time dt_est_time(const dt_est *e) { return e ? e->t : 0; }
uint64_t dt_est_version(const dt_est *e) { return e ? e->version : 0; }

int dt_est_belief(dt_est *e, dt_signal_id sig, dt_time t, dt_belief *out)
{
    if (e == NULL || out == NULL || sig >= e->n_sig)
        return DT_ENOTFOUND;
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
    e->params[e->param_of[sig]] = value;
    e->version++;
    return DT_OK;
}

int dt_est_add_analytics(dt_est *e, const dt_analytics_ops *ops, void *self)
{
    if (e == NULL || ops == NULL || ops->run == NULL)
        return DT_EINVAL;
    if (ops->abi != 1u)
        return DT_EABI;
    if (e->n_an == MAX_ANALYTICS)
        return DT_ELIMIT;
    e->an[e->n_an] = ops;
    e->an_self[e->n_an++] = self;
    return DT_OK;
}

void dt_est_stats_get(const dt_est *e, dt_est_stats *out) { *out = e->st; }

int dt_est_signal_stats_get(const dt_est *e, dt_signal_id sig, dt_est_signal_stats *out)
{
    if (e == NULL || out == NULL || sig >= e->n_sig)
        return DT_ENOTFOUND;
    *out = e->meas[sig].st;
    return DT_OK;
}

int dt_est_nees(dt_est *e, const double *x_true, double *nees)
{
    if (e == NULL || x_true == NULL)
        return DT_EINVAL;
    size_t n = e->n;
    const double *x = dt_kf_state(e->kf);
    if (dt_chol(n, dt_kf_cov(e->kf), e->Pb) != DT_OK)
        return DT_ENUMERIC;
    for (size_t i = 0; i < n; i++)
        e->xb[i] = x[i] - x_true[i];
    double *w = e->work;
    dt_chol_solve(n, 1, e->Pb, e->xb, w);
    double v = 0;
    for (size_t i = 0; i < n; i++)
        v += e->xb[i] * w[i];
    e->nees_sum += v;
    e->st.nees_count++;
    e->st.nees_mean = e->nees_sum / (double)e->st.nees_count;
    if (nees)
        *nees = v;
    return DT_OK;
}

size_t dt_est_bounds_violated_at(dt_est *e, dt_time t)
{
    if (e == NULL || e->n_bounds == 0)
        return 0;
    const double *P = dt_kf_cov(e->kf);
    if (t > e->t) {
        /* the belief at t, not at the last event: between samples (a sensor
         * slower than declared) the covariance keeps growing */
        if (dt_kf_peek(e->kf, seconds(e->t, t), e->xb, e->Pb) != DT_OK)
            return e->n_bounds; /* cannot tell: every bound counts as broken */
        P = e->Pb;
    }
    size_t v = 0;
    for (size_t i = 0; i < e->n_bounds; i++) {
        dt_bound b = {e->bounds[i].w, e->bounds[i].quadratic, e->bounds[i].limit};
        double m = dt_bound_metric(e->n, &b, P);
        if (!(m <= b.limit))
            v++;
    }
    return v;
}

size_t dt_est_bounds_violated(const dt_est *e)
{
    size_t v = 0;
    for (size_t i = 0; e != NULL && i < e->n_bounds; i++) {
        dt_bound b = {e->bounds[i].w, e->bounds[i].quadratic, e->bounds[i].limit};
        if (dt_bound_metric(e->n, &b, dt_kf_cov(e->kf)) > b.limit)
            v++;
    }
    return v;
}

dt_time dt_est_data_time(const dt_est *e) { return e ? e->t_data : DT_TIME_MIN; }

int dt_est_input_index(const dt_est *e, dt_signal_id sig)
{
    for (size_t i = 0; e != NULL && i < e->p; i++)
        if (e->inputs[i] == sig)
            return (int)i;
    return -1;
}

size_t dt_est_input_count(const dt_est *e) { return e ? e->p : 0; }
