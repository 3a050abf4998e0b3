/* Building a twin from its description: model, adapters, ingest,
 * estimator, controllers, dispatcher and loop sections, budgets; and
 * destroying it. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>


#include "../adapters/adapters_internal.h"
#include "../bus/bus.h"
#include "../desc/desc.h"
#include "../model/model_internal.h"
#include "../platform/internal.h"
#include "twin_internal.h"

/* ---- description ---- */

typedef struct jctx {
    dt_twin *t;
    dt_diag *diag;
    dt__desc_use *u;  /* the description's sections */
    dt_ctrl_ctx *ctx; /* what the controllers get */
} jctx;

#define fail dt__fail

static int find_sig(jctx *c, const char *path, const char *id, dt_role role, dt_signal_id *out)
{
    if (dt_model_find_signal(c->t->model, id, out) != DT_OK)
        return fail(c, DT_EPARSE, path, "unknown signal \"%s\"", id);
    dt_role r = dt_model_signal(c->t->model, *out)->role;
    if (r != role && !(role == DT_ROLE_ESTIMATED && r == DT_ROLE_PARAMETER))
        return fail(c, DT_EPARSE, path, "signal \"%s\" is %s, not %s", id, dt_role_name(r),
                    dt_role_name(role));
    return DT_OK;
}

static int in_limits(const dt_signal_info *si, double v)
{
    return isfinite(v) && !(si->has_limits && (v < si->min || v > si->max));
}

/* A value the dispatcher may send (a safe value, an interlock's forced
 * value): a number within the signal's limits; the message names both. */
static int within_limits(jctx *c, const char *path, const dt_signal_info *si, const dt_config *v)
{
    if (!dt__cfg_is_number(v))
        return fail(c, DT_EPARSE, path, "expected a number within the signal's limits");
    if (in_limits(si, dt__cfg_num(v)))
        return DT_OK;
    char a[32], lo[32], hi[32];
    return fail(c, DT_EPARSE, path, "%s is outside the signal's limits [%s, %s] %s",
                dt__num(dt__cfg_num(v), a, sizeof a), dt__num(si->min, lo, sizeof lo),
                dt__num(si->max, hi, sizeof hi), si->unit_symbol);
}


static const char *const disp_keys[] = {"safe",          "rate_limits",  "interlocks",
                                        "deadline",      "audit",        "confirm_timeout",
                                        "sink_failures", "max_data_age", "auth",
                                        NULL};
static const char *const ilk_keys[] = {"name", "signal", "op", "value", "set", NULL};
static const char *const loop_keys[] = {"period", NULL};
static const char *const ctl_common[] = {"id", "kind", NULL};

static int load_dispatcher(jctx *c, const dt_config *d)
{
    dt_twin *t = c->t;
    const char *P = "dispatcher";
    if (!dt__cfg_is_object(d))
        return fail(c, DT_EPARSE, P, "expected an object");
    int rc = dt__cfg_check_keys(c->diag, d, P, disp_keys, NULL);
    if (rc != DT_OK)
        return rc;
    const dt_config *v = dt_config_get(d, "safe");
    if (!dt__cfg_is_object(v))
        return fail(c, DT_EPARSE, "dispatcher.safe",
                    "required: the safe value of every commanded signal");
    for (const dt_config *e = dt__cfg_child(v); e; e = dt__cfg_next(e)) {
        char p[160];
        dt__fmt(p, sizeof p, "dispatcher.safe.%s", dt__cfg_key(e));
        dt_signal_id s;
        if ((rc = find_sig(c, p, dt__cfg_key(e), DT_ROLE_COMMANDED, &s)) != DT_OK)
            return rc;
        if ((rc = within_limits(c, p, dt_model_signal(t->model, s), e)) != DT_OK)
            return rc;
        t->disp.safe[s] = dt__cfg_num(e);
    }
    for (size_t s = 0; s < t->n_sig; s++)
        if (dt_model_signal(t->model, (dt_signal_id)s)->role == DT_ROLE_COMMANDED &&
            isnan(t->disp.safe[s]))
            return fail(c, DT_EPARSE, "dispatcher.safe", "missing the safe value of \"%s\"",
                        dt_model_signal(t->model, (dt_signal_id)s)->id);
    if ((v = dt_config_get(d, "rate_limits")) != NULL) {
        if (!dt__cfg_is_object(v))
            return fail(c, DT_EPARSE, "dispatcher.rate_limits", "expected an object");
        for (const dt_config *e = dt__cfg_child(v); e; e = dt__cfg_next(e)) {
            char p[160];
            dt__fmt(p, sizeof p, "dispatcher.rate_limits.%s", dt__cfg_key(e));
            dt_signal_id s;
            if ((rc = find_sig(c, p, dt__cfg_key(e), DT_ROLE_COMMANDED, &s)) != DT_OK)
                return rc;
            if (!dt__cfg_is_number(e) || !(dt__cfg_num(e) > 0) || !isfinite(dt__cfg_num(e)))
                return fail(c, DT_EPARSE, p, "a positive rate in units per second");
            t->disp.rate[s] = dt__cfg_num(e);
        }
    }
    double num;
    if ((v = dt_config_get(d, "deadline")) != NULL) {
        num = dt__cfg_is_number(v) ? dt__cfg_num(v) : -1;
        if (!(num > 0 && num <= 3600))
            return fail(c, DT_EPARSE, "dispatcher.deadline", "seconds in (0, 3600]");
        t->disp.deadline = dt_time_from_sec(num);
    }
    if ((v = dt_config_get(d, "confirm_timeout")) != NULL) {
        num = dt__cfg_is_number(v) ? dt__cfg_num(v) : -1;
        if (!(num > 0 && num <= 3600))
            return fail(c, DT_EPARSE, "dispatcher.confirm_timeout", "seconds in (0, 3600]");
        t->disp.confirm_timeout = dt_time_from_sec(num);
    }
    if ((v = dt_config_get(d, "max_data_age")) != NULL) {
        if (!dt__cfg_is_number(v))
            return fail(c, DT_EPARSE, "dispatcher.max_data_age", "expected seconds in (0, 3600]");
        if (!(dt__cfg_num(v) > 0 && dt__cfg_num(v) <= 3600))
            return fail(c, DT_EPARSE, "dispatcher.max_data_age",
                        "%.17g is not in (0, 3600] seconds", dt__cfg_num(v));
        t->disp.max_age = dt__cfg_num(v);
    }
    if ((v = dt_config_get(d, "sink_failures")) != NULL) {
        num = dt__cfg_is_number(v) ? dt__cfg_num(v) : -1;
        if (!(num >= 1 && num <= 1000000 && num == floor(num)))
            return fail(c, DT_EPARSE, "dispatcher.sink_failures", "an integer in 1..1000000");
        t->disp.sink_failures = (uint32_t)num;
    }
    if ((v = dt_config_get(d, "audit")) != NULL) {
        num = dt__cfg_is_number(v) ? dt__cfg_num(v) : -1;
        if (!(num >= 1 && num <= 65536 && num == floor(num)))
            return fail(c, DT_EPARSE, "dispatcher.audit", "an integer in 1..65536");
        t->disp.audit_cap = (size_t)num;
    }
    if ((v = dt_config_get(d, "auth")) != NULL && (rc = dt__twin_auth_read(t, v, c->diag)) != DT_OK)
        return rc;
    const dt_config *il = dt_config_get(d, "interlocks");
    if (il != NULL && (!dt__cfg_is_array(il) || dt__cfg_count(il) > DT__DISP_MAX_INTERLOCKS))
        return fail(c, DT_EPARSE, "dispatcher.interlocks", "an array of at most %d",
                    DT__DISP_MAX_INTERLOCKS);
    /* an interlock reads the belief: without an estimator it would never fire */
    if (il != NULL && dt__cfg_count(il) > 0 && t->est == NULL)
        return fail(c, DT_EPARSE, "dispatcher.interlocks",
                    "interlocks read the estimator's belief; this twin has no estimator, so "
                    "they could never engage");
    size_t k = 0;
    for (const dt_config *e = il ? dt__cfg_child(il) : NULL; e; e = dt__cfg_next(e), k++) {
        char p[96], q[160];
        dt__fmt(p, sizeof p, "dispatcher.interlocks[%zu]", k);
        if (!dt__cfg_is_object(e))
            return fail(c, DT_EPARSE, p, "expected an object");
        if ((rc = dt__cfg_check_keys(c->diag, e, p, ilk_keys, NULL)) != DT_OK)
            return rc;
        dt__interlock *x = &t->disp.ilk[t->disp.n_ilk];
        const dt_config *jn = dt_config_get(e, "name");
        const dt_config *js = dt_config_get(e, "signal");
        const dt_config *jo = dt_config_get(e, "op");
        const dt_config *jv = dt_config_get(e, "value");
        const dt_config *jset = dt_config_get(e, "set");
        if (!dt__cfg_is_string(jn) || !dt__cfg_is_string(js) || !dt__cfg_is_string(jo) ||
            !dt__cfg_is_number(jv) || !dt__cfg_is_object(jset) || dt__cfg_child(jset) == NULL)
            return fail(c, DT_EPARSE, p,
                        "needs name, signal, op (> >= < <=), value and set {signal: value}");
        dt__fmt(x->name, sizeof x->name, "%s", dt__cfg_str(jn));
        dt__fmt(q, sizeof q, "%s.signal", p);
        if ((rc = find_sig(c, q, dt__cfg_str(js), DT_ROLE_ESTIMATED, &x->sig)) != DT_OK)
            return rc;
        static const char *const ops[] = {">", ">=", "<", "<="};
        x->op = -1;
        for (int o = 0; o < 4; o++)
            if (strcmp(dt__cfg_str(jo), ops[o]) == 0)
                x->op = o;
        if (x->op < 0) {
            dt__fmt(q, sizeof q, "%s.op", p);
            return fail(c, DT_EPARSE, q, "\"%s\" is not one of > >= < <=", dt__cfg_str(jo));
        }
        x->value = dt__cfg_num(jv);
        for (const dt_config *f = dt__cfg_child(jset); f; f = dt__cfg_next(f)) {
            dt__fmt(q, sizeof q, "%s.set.%s", p, dt__cfg_key(f));
            if (x->n_set == DT__DISP_MAX_FORCED)
                return fail(c, DT_ELIMIT, q, "at most %d forced signals", DT__DISP_MAX_FORCED);
            dt_signal_id s;
            if ((rc = find_sig(c, q, dt__cfg_key(f), DT_ROLE_COMMANDED, &s)) != DT_OK)
                return rc;
            if ((rc = within_limits(c, q, dt_model_signal(t->model, s), f)) != DT_OK)
                return rc;
            x->set_sig[x->n_set] = s;
            x->set_val[x->n_set++] = dt__cfg_num(f);
        }
        t->disp.n_ilk++;
    }
    return DT_OK;
}

static int load_controllers(jctx *c, const dt_config *arr, dt_ctrl_ctx *ctx)
{
    dt_twin *t = c->t;
    if (!dt__cfg_is_array(arr) || dt__cfg_count(arr) > MAX_CONTROLLERS)
        return fail(c, DT_EPARSE, "controllers", "an array of at most %d", MAX_CONTROLLERS);
    size_t i = 0;
    for (const dt_config *o = dt__cfg_child(arr); o; o = dt__cfg_next(o), i++) {
        char p[64], q[96];
        dt__fmt(p, sizeof p, "controllers[%zu]", i);
        const dt_config *jid = dt_config_get(o, "id");
        const dt_config *jk = dt_config_get(o, "kind");
        if (!dt__cfg_is_object(o) || !dt__cfg_is_string(jid) || !dt__cfg_is_string(jk))
            return fail(c, DT_EPARSE, p, "an object with id and kind");
        for (size_t k = 0; k < t->n_ctl; k++)
            if (strcmp(t->ctl[k].id, dt__cfg_str(jid)) == 0) {
                dt__fmt(q, sizeof q, "%s.id", p);
                return fail(c, DT_EPARSE, q, "duplicate controller id \"%s\"", dt__cfg_str(jid));
            }
        const dt_controller_ops *ops = dt_registry_controller(t->reg, dt__cfg_str(jk));
        if (ops == NULL) {
            dt__fmt(q, sizeof q, "%s.kind", p);
            return fail(c, DT_ENOTFOUND, q, "no controller of kind \"%s\"", dt__cfg_str(jk));
        }
        int rc = dt__cfg_check_keys(c->diag, o, p, ctl_common, ops->keys);
        if (rc != DT_OK)
            return rc;
        ctrl *k = &t->ctl[t->n_ctl];
        k->ops = ops;
        k->id = dt__strndup(&t->alloc, dt__cfg_str(jid), strlen(dt__cfg_str(jid)));
        k->self = dt__calloc(&t->alloc, 1, ops->instance_size ? ops->instance_size : 1);
        t->n_ctl++;
        if (k->id == NULL || k->self == NULL)
            return fail(c, DT_ENOMEM, p, "out of memory");
        t->err[0] = '\0';
        rc = ops->init(k->self, ctx, o);
        if (rc != DT_OK)
            return fail(c, rc, p, "%s", t->err[0] ? t->err : dt_strerror(rc));
    }
    return DT_OK;
}

static int read_loop(void *layer, const dt_config *l, dt_diag *diag)
{
    jctx *c = layer;
    (void)diag; /* c->diag */
    if (l == NULL)
        return DT_OK;
    const dt_config *p = dt_config_get(l, "period");
    int rc = DT_OK;
    if (!dt__cfg_is_object(l))
        rc = fail(c, DT_EPARSE, "loop", "expected an object");
    else if ((rc = dt__cfg_check_keys(c->diag, l, "loop", loop_keys, NULL)) == DT_OK &&
             (!dt__cfg_is_number(p) || !(dt__cfg_num(p) >= 1e-6 && dt__cfg_num(p) <= 3600))) {
        char gb[40];
        rc = fail(c, DT_EPARSE, "loop.period", "required, seconds in [1e-6, 3600], got %s",
                  dt__cfg_got(p, gb, sizeof gb));
    }
    if (rc == DT_OK)
        c->t->period = dt_time_from_sec(dt__cfg_num(p));
    return rc;
}

static int read_dispatcher(void *layer, const dt_config *d, dt_diag *diag)
{
    jctx *c = layer;
    (void)diag;
    if (d == NULL && dt__desc_get(c->u, "controllers") != NULL)
        return fail(c, DT_EPARSE, "dispatcher",
                    "required with controllers (at least the safe state)");
    return d != NULL ? load_dispatcher(c, d) : DT_OK;
}

/* The children (children.c): loaded, and the child sources bound to them
 * (or refused without them). */
static int read_children(void *layer, const dt_config *a, dt_diag *diag)
{
    jctx *c = layer;
    (void)diag;
    return dt__twin_children_read(c->t, a, c->u, c->diag);
}

static int read_controllers(void *layer, const dt_config *a, dt_diag *diag)
{
    jctx *c = layer;
    (void)diag;
    if (a == NULL)
        return DT_OK;
    if (c->t->est == NULL)
        return fail(c, DT_EPARSE, "controllers",
                    "controllers act on an estimator's belief: declare one");
    if (c->t->auth != NULL && dt__cfg_count(a) > 0)
        return fail(c, DT_EPARSE, "controllers",
                    "this twin carries out signed commands only (dispatcher.auth): its own "
                    "controllers' commands would all be refused; run them as a planner with "
                    "its own key (docs/security.md)");
    return load_controllers(c, a, c->ctx);
}

/* The sections the twin reads, in this order ("memory" before anything is
 * allocated, by budget.c; "latency" and "analytics" are kept for tools and
 * saved back, not read). */
const dt__section_def dt__twin_sections[] = {
    {"memory", NULL},   {"children", read_children}, {"loop", read_loop},
    {"dispatcher", read_dispatcher}, {"controllers", read_controllers},
    {"latency", NULL},    {"analytics", NULL}, {NULL, NULL}};

/* The latency rule is never silently off: every bound's budget from the
 * filter's steady state, none below one loop period, and a finite data-age
 * limit for any twin that can dispatch commands. */
static int data_age_limit(jctx *c)
{
    dt_twin *t = c->t;
    t->disp.tau_min = t->disp.max_age;
    size_t nb = t->est != NULL ? t->est->ops.budget_count(t->est->self) : 0;
    if (nb > DT_FILTER_BUDGETS_MAX)
        return fail(c, DT_ELIMIT, "estimator",
                    "the filter declares %zu latency budgets, more than %d", nb,
                    DT_FILTER_BUDGETS_MAX);
    if (nb > 0) {
        dt_diag d;
        memset(&d, 0, sizeof d);
        int rc = t->est->ops.budgets(t->est->self, &d);
        if (rc != DT_OK) {
            if (c->diag != NULL)
                *c->diag = d;
            return rc;
        }
        for (size_t i = 0; i < nb; i++) {
            double tau = NAN;
            const char *name = "";
            (void)t->est->ops.budget(t->est->self, i, &tau, &name);
            if (tau < dt_time_to_sec(t->period)) {
                char p[64];
                dt__fmt(p, sizeof p, "estimator.bounds[%zu]", i);
                return fail(c, DT_ERANGE, p,
                            "bound \"%s\": latency budget %.6g s is below one loop period "
                            "(%.6g s): the twin could never act", name, tau,
                            dt_time_to_sec(t->period));
            }
            if (tau < t->disp.tau_min)
                t->disp.tau_min = tau;
        }
    }
    if (t->disp.max_age < dt_time_to_sec(t->period))
        return fail(c, DT_ERANGE, "dispatcher.max_data_age",
                    "%.6g s is below one loop period (%.6g s): the twin could never act",
                    t->disp.max_age, dt_time_to_sec(t->period));
    for (size_t s = 0; s < t->n_sig; s++) {
        const dt_signal_info *si = dt_model_signal(t->model, (dt_signal_id)s);
        if (si->role == DT_ROLE_COMMANDED && !(t->disp.tau_min < INFINITY))
            return fail(c, DT_EPARSE,
                        dt__desc_get(c->u, "dispatcher") ? "dispatcher.max_data_age"
                                                                   : "dispatcher",
                        "required: the twin dispatches commands (\"%s\") and no latency "
                        "budget limits the age of their data (give estimator.bounds a finite "
                        "budget or dispatcher.max_data_age in seconds)", si->id);
    }
    return DT_OK;
}

void dt_twin_destroy(dt_twin *t)
{
    if (t == NULL)
        return;
    dt_allocator a = t->alloc;
    for (size_t i = 0; t->ctl && i < t->n_ctl; i++) {
        dt__free(&a, t->ctl[i].id);
        dt__free(&a, t->ctl[i].self);
    }
    dt__twin_auth_free(t);
    dt_io_destroy(t->io);
    dt__twin_children_destroy(t); /* before the registry they share */
    dt__filter_destroy(t->est);
    dt_ingest_destroy(t->ing);
    if (t->own_reg)
        dt_registry_destroy(t->reg);
    dt_model_destroy(t->model);
    dt__free(&a, t->ctl);
    dt__disp_free(&t->disp, &a);
    dt__twin_events_free(t);
    dt__free(&a, t->rel);
    dt__free(&a, t->u);
    dt__free(&a, t->queue);
    dt__free(&a, t->pending);
    dt__free(&a, t->rp_s);
    dt__free(&a, t->rp_src);
    dt__free(&a, t->rp_len);
    dt__free(&a, t->rp_used);
    dt__free(&a, t->rp_sink);
    dt__free(&a, t->rp_remote);
    dt__free(&a, t->rp_rrec);
    dt__free(&a, t->rp_rrec_len);
    dt__free(&a, t->rp_bel);
    dt__free(&a, t->bel_seen);
    dt__free(&a, t);
}

static int options(const dt_twin_options *opt, dt_twin_options *o)
{
    *o = (dt_twin_options)DT_TWIN_OPTIONS_INIT;
    if (opt != NULL) {
        /* the layouts before `validate` and `keys` were added are still accepted */
        size_t older = offsetof(dt_twin_options, validate);
        size_t old = offsetof(dt_twin_options, keys);
        if (opt->size != sizeof *opt && opt->size != older && opt->size != old)
            return DT_EABI;
        memcpy(o, opt, opt->size);
        o->size = sizeof *o;
    }
    return DT_OK;
}

/* depth: 0 for a twin, 1 for a child (which may not have children). */
static int load_json(const char *text, size_t len, const dt_twin_options *opt, int depth,
                     dt_twin **out, dt_diag *diag)
{
    if (diag != NULL)
        memset(diag, 0, sizeof *diag);
    if (text == NULL || out == NULL)
        return DT_EINVAL;
    dt_twin_options o;
    if (options(opt, &o) != DT_OK)
        return DT_EABI;
    const dt_allocator *a = o.allocator ? o.allocator : dt_allocator_default();
    const dt_logger *lg = o.logger ? o.logger : dt_logger_stderr();
    dt_twin *t = dt__calloc(a, 1, sizeof *t);
    if (t == NULL)
        return dt__diag(diag, DT_ENOMEM, "", "out of memory");
    t->alloc = *a;
    t->log = *lg;
    t->depth = depth;
    t->replay = o.replay != 0;
    t->check_only = o.replay && o.validate;
    t->desc_hash = 1469598103934665603ull; /* FNV-1a of the description text */
    for (size_t i = 0; i < len; i++)
        t->desc_hash = (t->desc_hash ^ (uint8_t)text[i]) * 1099511628211ull;
    t->data_t = DT_TIME_MIN;
    t->auth_slot = SIZE_MAX;
    t->st.belief_age_s = INFINITY; /* before the first cycle no data is behind it */
    dt__desc_use u = {NULL, NULL};
    jctx c = {t, diag, &u, NULL};
    dt_model_options mo = DT_MODEL_OPTIONS_INIT;
    mo.allocator = a;
    mo.logger = lg;
    /* parsed once: every layer reads this tree, attached to the model until
     * the build ends */
    dt__desc *desc = NULL;
    int rc = dt__model_load(text, len, &mo, &t->model, &desc, diag);
    if (rc == DT_OK)
        rc = dt__twin_memory_check(t->model, a, diag, &t->mem_need, &t->mem_budget);
    if (rc == DT_OK) {
        dt_ingest_config ic = DT_INGEST_CONFIG_INIT;
        ic.allocator = a;
        ic.logger = lg;
        rc = dt_ingest_create(t->model, &ic, &t->ing);
        if (rc != DT_OK)
            (void)fail(&c, rc, "", "cannot create the ingest stage: %s", dt_strerror(rc));
    }
    if (rc == DT_OK) {
        if (o.registry != NULL) {
            t->reg = o.registry;
        } else {
            rc = dt_registry_create(a, &t->reg);
            t->own_reg = rc == DT_OK;
            if (rc != DT_OK)
                (void)fail(&c, rc, "", "out of memory");
        }
    }
    if (rc == DT_OK)
        rc = dt__io_create(t->model, t->ing, t->reg, o.basedir, a, lg, o.keys,
                           t->check_only ? DT__IO_VALIDATE
                           : t->replay   ? DT__IO_REPLAY
                                         : DT__IO_OPEN,
                           &t->io, diag);
    if (rc == DT_OK)
        rc = dt__desc_begin(t->model, a, &u, diag);
    if (rc == DT_OK && dt__desc_get(&u, "estimator") != NULL)
        rc = dt__filter_create(t->reg, t->model, a, lg, &t->est, diag);
    if (rc == DT_OK) {
        t->n_sig = dt_model_signal_count(t->model);
        t->ctl = dt__calloc(a, MAX_CONTROLLERS, sizeof *t->ctl);
        t->rel = dt__calloc(a, RELEASE_BATCH, sizeof *t->rel);
        t->queue = dt__calloc(a, QUEUE_CAP, sizeof *t->queue);
        t->pending = dt__calloc(a, QUEUE_CAP, sizeof *t->pending);
        t->u = dt__calloc(a, DT_LA_MAX, sizeof *t->u);
        if (dt__disp_init(&t->disp, t->model, a, &t->log) != DT_OK || !t->u || !t->ctl ||
            !t->rel || !t->queue || !t->pending)
            rc = fail(&c, DT_ENOMEM, "", "out of memory");
        dt__twin_disp_env(t);
        t->period = 10 * DT_NS_PER_MS;
    }
    if (rc == DT_OK) {
        dt_ctrl_ctx ctx;
        dt__twin_init_ctx(t, &ctx);
        c.ctx = &ctx;
        rc = dt__desc_read(&u, dt__twin_sections, &c, diag);
        if (t->disp.deadline == 0)
            t->disp.deadline = 2 * t->period; /* default: two cycles */
    }
    if (rc == DT_OK)
        rc = data_age_limit(&c);
    if (rc == DT_OK) {
        if (dt__disp_ready(&t->disp, a) != DT_OK)
            rc = fail(&c, DT_ENOMEM, "", "out of memory");
    }
    if (rc == DT_OK)
        rc = dt__bus_attach_io(t->io, t, diag);
    dt__desc_done(&u);
    dt__model_detach(t->model);
    dt__desc_free(desc);
    if (rc != DT_OK) {
        dt_twin_destroy(t);
        return rc;
    }
    *out = t;
    return DT_OK;
}

int dt_twin_load_json(const char *text, size_t len, const dt_twin_options *opt, dt_twin **out,
                      dt_diag *diag)
{
    return load_json(text, len, opt, 0, out, diag);
}

int dt__twin_load_child(const char *text, size_t len, const dt_twin_options *opt,
                        dt_twin **out, dt_diag *diag)
{
    return load_json(text, len, opt, 1, out, diag);
}

int dt_twin_load_file(const char *path, const dt_twin_options *opt, dt_twin **out,
                      dt_diag *diag)
{
    if (path == NULL || out == NULL)
        return DT_EINVAL;
    dt_twin_options o;
    if (options(opt, &o) != DT_OK)
        return DT_EABI;
    const dt_allocator *a = o.allocator ? o.allocator : dt_allocator_default();
    if (diag != NULL)
        memset(diag, 0, sizeof *diag);
    char *text;
    size_t len;
    int rc = dt__read_file(path, a, 16u << 20, &text, &len, diag);
    if (rc != DT_OK)
        return rc;
    char dir[512];
    if (o.basedir == NULL) {
        const char *slash = strrchr(path, '/');
        if (slash == NULL)
            dt__fmt(dir, sizeof dir, ".");
        else
            dt__fmt(dir, sizeof dir, "%.*s", (int)(slash - path), path);
        o.basedir = dir;
    }
    rc = dt_twin_load_json(text, len, &o, out, diag);
    dt__free(a, text);
    return rc;
}

