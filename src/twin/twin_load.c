/* Building a twin from its description: model, adapters, ingest,
 * estimator, controllers, dispatcher and loop sections, budgets; and
 * destroying it. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../adapters/adapters_internal.h"
#include "../model/model_internal.h"
#include "../platform/internal.h"
#include "twin_internal.h"

/* ---- description ---- */

typedef struct jctx {
    dt_twin *t;
    dt_diag *diag;
} jctx;

/* Every loader error carries its JSON path; dt__diag formats it (printf-checked). */
/* The code is repeated as the value so static analysis sees a failure is never DT_OK. */
#define fail(c, code, ...) (dt__diag((c)->diag, (code), __VA_ARGS__), (code))

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
static int within_limits(jctx *c, const char *path, const dt_signal_info *si, const cJSON *v)
{
    if (!cJSON_IsNumber(v))
        return fail(c, DT_EPARSE, path, "expected a number within the signal's limits");
    if (in_limits(si, v->valuedouble))
        return DT_OK;
    char a[32], lo[32], hi[32];
    return fail(c, DT_EPARSE, path, "%s is outside the signal's limits [%s, %s] %s",
                dt__num(v->valuedouble, a, sizeof a), dt__num(si->min, lo, sizeof lo),
                dt__num(si->max, hi, sizeof hi), si->unit_symbol);
}


static const char *const disp_keys[] = {"safe",          "rate_limits",  "interlocks",
                                        "deadline",      "audit",        "confirm_timeout",
                                        "sink_failures", "max_data_age", NULL};
static const char *const ilk_keys[] = {"name", "signal", "op", "value", "set", NULL};
static const char *const loop_keys[] = {"period", NULL};
static const char *const ctl_common[] = {"id", "kind", NULL};

static int load_dispatcher(jctx *c, const cJSON *d)
{
    dt_twin *t = c->t;
    const char *P = "dispatcher";
    if (!cJSON_IsObject(d))
        return fail(c, DT_EPARSE, P, "expected an object");
    int rc = dt__json_check_keys(c->diag, d, P, disp_keys, NULL);
    if (rc != DT_OK)
        return rc;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(d, "safe");
    if (!cJSON_IsObject(v))
        return fail(c, DT_EPARSE, "dispatcher.safe",
                    "required: the safe value of every commanded signal");
    for (const cJSON *e = v->child; e; e = e->next) {
        char p[160];
        dt__fmt(p, sizeof p, "dispatcher.safe.%s", e->string);
        dt_signal_id s;
        if ((rc = find_sig(c, p, e->string, DT_ROLE_COMMANDED, &s)) != DT_OK)
            return rc;
        if ((rc = within_limits(c, p, dt_model_signal(t->model, s), e)) != DT_OK)
            return rc;
        t->safe[s] = e->valuedouble;
    }
    for (size_t s = 0; s < t->n_sig; s++)
        if (dt_model_signal(t->model, (dt_signal_id)s)->role == DT_ROLE_COMMANDED &&
            isnan(t->safe[s]))
            return fail(c, DT_EPARSE, "dispatcher.safe", "missing the safe value of \"%s\"",
                        dt_model_signal(t->model, (dt_signal_id)s)->id);
    if ((v = cJSON_GetObjectItemCaseSensitive(d, "rate_limits")) != NULL) {
        if (!cJSON_IsObject(v))
            return fail(c, DT_EPARSE, "dispatcher.rate_limits", "expected an object");
        for (const cJSON *e = v->child; e; e = e->next) {
            char p[160];
            dt__fmt(p, sizeof p, "dispatcher.rate_limits.%s", e->string);
            dt_signal_id s;
            if ((rc = find_sig(c, p, e->string, DT_ROLE_COMMANDED, &s)) != DT_OK)
                return rc;
            if (!cJSON_IsNumber(e) || !(e->valuedouble > 0) || !isfinite(e->valuedouble))
                return fail(c, DT_EPARSE, p, "a positive rate in units per second");
            t->rate[s] = e->valuedouble;
        }
    }
    double num;
    if ((v = cJSON_GetObjectItemCaseSensitive(d, "deadline")) != NULL) {
        num = cJSON_IsNumber(v) ? v->valuedouble : -1;
        if (!(num > 0 && num <= 3600))
            return fail(c, DT_EPARSE, "dispatcher.deadline", "seconds in (0, 3600]");
        t->deadline = dt_time_from_sec(num);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(d, "confirm_timeout")) != NULL) {
        num = cJSON_IsNumber(v) ? v->valuedouble : -1;
        if (!(num > 0 && num <= 3600))
            return fail(c, DT_EPARSE, "dispatcher.confirm_timeout", "seconds in (0, 3600]");
        t->confirm_timeout = dt_time_from_sec(num);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(d, "max_data_age")) != NULL) {
        if (!cJSON_IsNumber(v))
            return fail(c, DT_EPARSE, "dispatcher.max_data_age", "expected seconds in (0, 3600]");
        if (!(v->valuedouble > 0 && v->valuedouble <= 3600))
            return fail(c, DT_EPARSE, "dispatcher.max_data_age",
                        "%.17g is not in (0, 3600] seconds", v->valuedouble);
        t->max_age = v->valuedouble;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(d, "sink_failures")) != NULL) {
        num = cJSON_IsNumber(v) ? v->valuedouble : -1;
        if (!(num >= 1 && num <= 1000000 && num == floor(num)))
            return fail(c, DT_EPARSE, "dispatcher.sink_failures", "an integer in 1..1000000");
        t->sink_failures = (uint32_t)num;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(d, "audit")) != NULL) {
        num = cJSON_IsNumber(v) ? v->valuedouble : -1;
        if (!(num >= 1 && num <= 65536 && num == floor(num)))
            return fail(c, DT_EPARSE, "dispatcher.audit", "an integer in 1..65536");
        t->audit_cap = (size_t)num;
    }
    const cJSON *il = cJSON_GetObjectItemCaseSensitive(d, "interlocks");
    if (il != NULL && (!cJSON_IsArray(il) || cJSON_GetArraySize(il) > MAX_INTERLOCKS))
        return fail(c, DT_EPARSE, "dispatcher.interlocks", "an array of at most %d",
                    MAX_INTERLOCKS);
    /* an interlock reads the belief: without an estimator it would never fire */
    if (il != NULL && cJSON_GetArraySize(il) > 0 && t->est == NULL)
        return fail(c, DT_EPARSE, "dispatcher.interlocks",
                    "interlocks read the estimator's belief; this twin has no estimator, so "
                    "they could never engage");
    size_t k = 0;
    for (const cJSON *e = il ? il->child : NULL; e; e = e->next, k++) {
        char p[96], q[160];
        dt__fmt(p, sizeof p, "dispatcher.interlocks[%zu]", k);
        if (!cJSON_IsObject(e))
            return fail(c, DT_EPARSE, p, "expected an object");
        if ((rc = dt__json_check_keys(c->diag, e, p, ilk_keys, NULL)) != DT_OK)
            return rc;
        interlock *x = &t->ilk[t->n_ilk];
        const cJSON *jn = cJSON_GetObjectItemCaseSensitive(e, "name");
        const cJSON *js = cJSON_GetObjectItemCaseSensitive(e, "signal");
        const cJSON *jo = cJSON_GetObjectItemCaseSensitive(e, "op");
        const cJSON *jv = cJSON_GetObjectItemCaseSensitive(e, "value");
        const cJSON *jset = cJSON_GetObjectItemCaseSensitive(e, "set");
        if (!cJSON_IsString(jn) || !cJSON_IsString(js) || !cJSON_IsString(jo) ||
            !cJSON_IsNumber(jv) || !cJSON_IsObject(jset) || jset->child == NULL)
            return fail(c, DT_EPARSE, p,
                        "needs name, signal, op (> >= < <=), value and set {signal: value}");
        dt__fmt(x->name, sizeof x->name, "%s", jn->valuestring);
        dt__fmt(q, sizeof q, "%s.signal", p);
        if ((rc = find_sig(c, q, js->valuestring, DT_ROLE_ESTIMATED, &x->sig)) != DT_OK)
            return rc;
        static const char *const ops[] = {">", ">=", "<", "<="};
        x->op = -1;
        for (int o = 0; o < 4; o++)
            if (strcmp(jo->valuestring, ops[o]) == 0)
                x->op = o;
        if (x->op < 0) {
            dt__fmt(q, sizeof q, "%s.op", p);
            return fail(c, DT_EPARSE, q, "\"%s\" is not one of > >= < <=", jo->valuestring);
        }
        x->value = jv->valuedouble;
        for (const cJSON *f = jset->child; f; f = f->next) {
            dt__fmt(q, sizeof q, "%s.set.%s", p, f->string);
            if (x->n_set == MAX_FORCED)
                return fail(c, DT_ELIMIT, q, "at most %d forced signals", MAX_FORCED);
            dt_signal_id s;
            if ((rc = find_sig(c, q, f->string, DT_ROLE_COMMANDED, &s)) != DT_OK)
                return rc;
            if ((rc = within_limits(c, q, dt_model_signal(t->model, s), f)) != DT_OK)
                return rc;
            x->set_sig[x->n_set] = s;
            x->set_val[x->n_set++] = f->valuedouble;
        }
        t->n_ilk++;
    }
    return DT_OK;
}

static int load_controllers(jctx *c, const cJSON *arr, dt_ctrl_ctx *ctx)
{
    dt_twin *t = c->t;
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > MAX_CONTROLLERS)
        return fail(c, DT_EPARSE, "controllers", "an array of at most %d", MAX_CONTROLLERS);
    size_t i = 0;
    for (const cJSON *o = arr->child; o; o = o->next, i++) {
        char p[64], q[96];
        dt__fmt(p, sizeof p, "controllers[%zu]", i);
        const cJSON *jid = cJSON_GetObjectItemCaseSensitive(o, "id");
        const cJSON *jk = cJSON_GetObjectItemCaseSensitive(o, "kind");
        if (!cJSON_IsObject(o) || !cJSON_IsString(jid) || !cJSON_IsString(jk))
            return fail(c, DT_EPARSE, p, "an object with id and kind");
        for (size_t k = 0; k < t->n_ctl; k++)
            if (strcmp(t->ctl[k].id, jid->valuestring) == 0) {
                dt__fmt(q, sizeof q, "%s.id", p);
                return fail(c, DT_EPARSE, q, "duplicate controller id \"%s\"", jid->valuestring);
            }
        const dt_controller_ops *ops = dt_registry_controller(t->reg, jk->valuestring);
        if (ops == NULL) {
            dt__fmt(q, sizeof q, "%s.kind", p);
            return fail(c, DT_ENOTFOUND, q, "no controller of kind \"%s\"", jk->valuestring);
        }
        int rc = dt__json_check_keys(c->diag, o, p, ctl_common, ops->keys);
        if (rc != DT_OK)
            return rc;
        ctrl *k = &t->ctl[t->n_ctl];
        k->ops = ops;
        k->id = dt__strndup(&t->alloc, jid->valuestring, strlen(jid->valuestring));
        k->self = dt__calloc(&t->alloc, 1, ops->instance_size ? ops->instance_size : 1);
        t->n_ctl++;
        if (k->id == NULL || k->self == NULL)
            return fail(c, DT_ENOMEM, p, "out of memory");
        t->err[0] = '\0';
        rc = ops->init(k->self, ctx, (const dt_config *)(const void *)o);
        if (rc != DT_OK)
            return fail(c, rc, p, "%s", t->err[0] ? t->err : dt_strerror(rc));
    }
    return DT_OK;
}

static int load_sections(jctx *c, dt_ctrl_ctx *ctx)
{
    dt_twin *t = c->t;
    const char *ltext = dt__model_section(t->model, "loop");
    const char *dtext = dt__model_section(t->model, "dispatcher");
    const char *ctext = dt__model_section(t->model, "controllers");
    int rc = DT_OK;
    if (ltext != NULL) {
        cJSON *l = cJSON_Parse(ltext);
        const cJSON *p = l ? cJSON_GetObjectItemCaseSensitive(l, "period") : NULL;
        if (l == NULL)
            rc = fail(c, DT_ENOMEM, "loop", "out of memory");
        else if (!cJSON_IsObject(l))
            rc = fail(c, DT_EPARSE, "loop", "expected an object");
        else if ((rc = dt__json_check_keys(c->diag, l, "loop", loop_keys, NULL)) == DT_OK &&
                 (!cJSON_IsNumber(p) || !(p->valuedouble >= 1e-6 && p->valuedouble <= 3600)))
            rc = fail(c, DT_EPARSE, "loop.period", "required, seconds in [1e-6, 3600]");
        if (rc == DT_OK)
            t->period = dt_time_from_sec(p->valuedouble);
        cJSON_Delete(l);
    }
    if (rc == DT_OK && ctext != NULL && dtext == NULL)
        rc = fail(c, DT_EPARSE, "dispatcher",
                  "required with controllers (at least the safe state)");
    if (rc == DT_OK && dtext != NULL) {
        cJSON *d = cJSON_Parse(dtext);
        rc = d ? load_dispatcher(c, d) : fail(c, DT_ENOMEM, "dispatcher", "out of memory");
        cJSON_Delete(d);
    }
    if (rc == DT_OK && ctext != NULL) {
        if (t->est == NULL)
            rc = fail(c, DT_EPARSE, "controllers", "controllers act on an estimator's belief: "
                                                   "declare one");
        cJSON *a = rc == DT_OK ? cJSON_Parse(ctext) : NULL;
        if (rc == DT_OK)
            rc = a ? load_controllers(c, a, ctx)
                   : fail(c, DT_ENOMEM, "controllers", "out of memory");
        cJSON_Delete(a);
    }
    return rc;
}

/* The latency rule is never silently off: every bound's budget from the
 * filter's steady state, none below one loop period, and a finite data-age
 * limit for any twin that can dispatch commands. */
static int data_age_limit(jctx *c)
{
    dt_twin *t = c->t;
    t->tau_min = t->max_age;
    if (t->est != NULL && t->est->ops.budget_count(t->est->self) > 0) {
        dt_diag d;
        memset(&d, 0, sizeof d);
        int rc = t->est->ops.budgets(t->est->self, &d);
        if (rc != DT_OK) {
            if (c->diag != NULL)
                *c->diag = d;
            return rc;
        }
        for (size_t i = 0; i < t->est->ops.budget_count(t->est->self); i++) {
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
            if (tau < t->tau_min)
                t->tau_min = tau;
        }
    }
    if (t->max_age < dt_time_to_sec(t->period))
        return fail(c, DT_ERANGE, "dispatcher.max_data_age",
                    "%.6g s is below one loop period (%.6g s): the twin could never act",
                    t->max_age, dt_time_to_sec(t->period));
    for (size_t s = 0; s < t->n_sig; s++) {
        const dt_signal_info *si = dt_model_signal(t->model, (dt_signal_id)s);
        if (si->role == DT_ROLE_COMMANDED && !(t->tau_min < INFINITY))
            return fail(c, DT_EPARSE,
                        dt__model_section(t->model, "dispatcher") ? "dispatcher.max_data_age"
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
    dt_io_destroy(t->io);
    dt__filter_destroy(t->est);
    dt_ingest_destroy(t->ing);
    if (t->own_reg)
        dt_registry_destroy(t->reg);
    dt_model_destroy(t->model);
    dt__free(&a, t->ctl);
    dt__free(&a, t->rate);
    dt__free(&a, t->safe);
    dt__free(&a, t->last_sent);
    dt__free(&a, t->last_sent_t);
    dt__free(&a, t->forced);
    dt__free(&a, t->last_sent_seq);
    dt__free(&a, t->counted_seq);
    dt__free(&a, t->fail_run);
    dt__free(&a, t->ilk);
    dt__free(&a, t->audit);
    dt__free(&a, t->rel);
    dt__free(&a, t->u);
    dt__free(&a, t->queue);
    dt__free(&a, t->pending);
    dt__free(&a, t->rp_s);
    dt__free(&a, t->rp_src);
    dt__free(&a, t->rp_len);
    dt__free(&a, t->rp_used);
    dt__free(&a, t->rp_sink);
    dt__free(&a, t);
}

static int options(const dt_twin_options *opt, dt_twin_options *o)
{
    *o = (dt_twin_options)DT_TWIN_OPTIONS_INIT;
    if (opt != NULL) {
        /* the layout before `validate` was added is still accepted */
        size_t older = offsetof(dt_twin_options, validate);
        if (opt->size != sizeof *opt && opt->size != older)
            return DT_EABI;
        memcpy(o, opt, opt->size);
        o->size = sizeof *o;
    }
    return DT_OK;
}

int dt_twin_load_json(const char *text, size_t len, const dt_twin_options *opt, dt_twin **out,
                      dt_diag *diag)
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
    t->replay = o.replay != 0;
    t->check_only = o.replay && o.validate;
    t->desc_hash = 1469598103934665603ull; /* FNV-1a of the description text */
    for (size_t i = 0; i < len; i++)
        t->desc_hash = (t->desc_hash ^ (uint8_t)text[i]) * 1099511628211ull;
    t->tau_min = INFINITY;
    t->max_age = INFINITY;
    t->data_t = DT_TIME_MIN;
    t->st.belief_age_s = INFINITY; /* before the first cycle no data is behind it */
    t->audit_cap = 64;
    jctx c = {t, diag};
    dt_model_options mo = DT_MODEL_OPTIONS_INIT;
    mo.allocator = a;
    mo.logger = lg;
    int rc = dt_model_load_json(text, len, &mo, &t->model, diag);
    if (rc == DT_OK)
        rc = dt__twin_memory_check(t->model, a, diag);
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
        rc = dt__io_create(t->model, t->ing, t->reg, o.basedir, a, lg,
                           t->check_only ? DT__IO_VALIDATE
                           : t->replay   ? DT__IO_REPLAY
                                         : DT__IO_OPEN,
                           &t->io, diag);
    if (rc == DT_OK && dt__model_section(t->model, "estimator") != NULL)
        rc = dt__filter_create(t->reg, t->model, a, lg, &t->est, diag);
    if (rc == DT_OK) {
        t->n_sig = dt_model_signal_count(t->model);
        size_t ns = t->n_sig ? t->n_sig : 1;
        t->rate = dt__calloc(a, ns, sizeof *t->rate);
        t->safe = dt__calloc(a, ns, sizeof *t->safe);
        t->last_sent = dt__calloc(a, ns, sizeof *t->last_sent);
        t->last_sent_t = dt__calloc(a, ns, sizeof *t->last_sent_t);
        t->forced = dt__calloc(a, ns, sizeof *t->forced);
        t->last_sent_seq = dt__calloc(a, ns, sizeof *t->last_sent_seq);
        t->counted_seq = dt__calloc(a, ns, sizeof *t->counted_seq);
        t->fail_run = dt__calloc(a, ns, sizeof *t->fail_run);
        t->ctl = dt__calloc(a, MAX_CONTROLLERS, sizeof *t->ctl);
        t->ilk = dt__calloc(a, MAX_INTERLOCKS, sizeof *t->ilk);
        t->rel = dt__calloc(a, RELEASE_BATCH, sizeof *t->rel);
        t->queue = dt__calloc(a, QUEUE_CAP, sizeof *t->queue);
        t->pending = dt__calloc(a, QUEUE_CAP, sizeof *t->pending);
        t->u = dt__calloc(a, DT_LA_MAX, sizeof *t->u);
        if (!t->u || !t->last_sent_seq || !t->counted_seq || !t->fail_run || !t->rate || !t->safe ||
            !t->last_sent || !t->last_sent_t || !t->forced || !t->ctl || !t->ilk || !t->rel ||
            !t->queue || !t->pending)
            rc = fail(&c, DT_ENOMEM, "", "out of memory");
        for (size_t s = 0; rc == DT_OK && s < t->n_sig; s++) {
            t->safe[s] = NAN;
            t->last_sent[s] = NAN;
        }
        t->period = 10 * DT_NS_PER_MS;
        t->deadline = 0;
        t->sink_failures = 3;
    }
    if (rc == DT_OK) {
        dt_ctrl_ctx ctx;
        dt__twin_init_ctx(t, &ctx);
        dt__json_begin(a);
        rc = load_sections(&c, &ctx);
        if (rc == DT_OK && dt__json_oom())
            rc = fail(&c, DT_ENOMEM, "", "out of memory");
        dt__json_end();
        if (t->deadline == 0)
            t->deadline = 2 * t->period; /* default: two cycles */
    }
    if (rc == DT_OK)
        rc = data_age_limit(&c);
    if (rc == DT_OK) {
        t->audit = dt__calloc(a, t->audit_cap, sizeof *t->audit);
        if (t->audit == NULL)
            rc = fail(&c, DT_ENOMEM, "", "out of memory");
    }
    if (rc != DT_OK) {
        dt_twin_destroy(t);
        return rc;
    }
    *out = t;
    return DT_OK;
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

