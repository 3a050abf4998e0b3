/* The estimator's construction and set-up: creation (from signal lists and
 * a config), measurement models, analytics hooks, and the accessors of what
 * was set up. The running estimator is in estimator.c. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "est_internal.h"

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
    dt__free(&a, e->fz);
    dt__free(&a, e->bel);
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
    e->gate_p = gp;
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
    e->pool = dt__calloc(a, slots * dt__est_slot_size(e), sizeof(double));
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
