/* The twin runtime: lifecycle and dt_twin_step (Sense -> Synchronize ->
 * Understand -> Act, once, on fixed memory), stats and accessors. Loading is
 * in twin_load.c, the dispatcher in dispatch.c, the recorder in recorder.c. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>

#include "../adapters/adapters_internal.h"
#include "../bus/bus.h"
#include "../platform/internal.h"
#include "twin_internal.h"

/* ---- latency histograms: log2 buckets of ns ---- */

void dt__twin_hist_add(uint64_t *h, dt_latency_stats *s, dt_time ns)
{
    if (ns < 0)
        ns = 0;
    unsigned b = 0;
    /* unsigned: 1 << 63 does not fit a signed 64-bit value (found by cppcheck) */
    while (b + 1 < HIST_BUCKETS && ((uint64_t)1 << (b + 1)) <= (uint64_t)ns)
        b++;
    h[b]++;
    s->count++;
    if (ns > s->max)
        s->max = ns;
}

static dt_time hist_q(const uint64_t *h, uint64_t count, double q)
{
    if (count == 0)
        return 0;
    uint64_t want = (uint64_t)ceil(q * (double)count), acc = 0;
    for (unsigned b = 0; b < HIST_BUCKETS; b++) {
        acc += h[b];
        if (acc >= want)
            return b + 1 < 63 ? ((dt_time)1 << (b + 1)) : DT_TIME_MAX;
    }
    return DT_TIME_MAX;
}

void dt__twin_init_ctx(dt_twin *t, dt_ctrl_ctx *ctx)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->model = t->model;
    ctx->est = t->est;
    ctx->now = t->now;
    ctx->queue = t->queue;
    ctx->cap = QUEUE_CAP;
    ctx->seq = &t->disp.seq;
    ctx->deadline = t->disp.deadline;
    ctx->last_sent = t->disp.last_sent;
    ctx->err = t->err;
    ctx->errcap = sizeof t->err;
}

/* Options from the caller (checked by size) or the defaults. */
int dt_twin_set_callback(dt_twin *t, const char *id, dt_ctrl_fn fn, void *user)
{
    if (t == NULL || id == NULL || fn == NULL)
        return DT_EINVAL;
    if (t->started)
        return DT_ESTATE;
    for (size_t i = 0; i < t->n_ctl; i++)
        if (strcmp(t->ctl[i].id, id) == 0) {
            if (t->ctl[i].ops != &dt__callback_ops)
                return DT_EINVAL;
            dt__callback_ctrl *cb = t->ctl[i].self;
            cb->fn = fn;
            cb->user = user;
            return DT_OK;
        }
    return DT_ENOTFOUND;
}

/* The filter's budgets as they are after its start, under the rules loading
 * applied to them (they may have changed since: measurement callbacks bound,
 * or a host kind that computes them in start): each known (NaN fails closed)
 * and at least one loop period, at most DT_FILTER_BUDGETS_MAX of them, and
 * still a finite data-age limit for a twin that dispatches commands. A
 * refusal other than DT_ENUMERIC explains itself in t->err. */
static int start_budgets(dt_twin *t)
{
    t->disp.tau_min = t->disp.max_age;
    size_t nb = t->est->ops.budget_count(t->est->self);
    if (nb > DT_FILTER_BUDGETS_MAX) {
        dt__fmt(t->err, sizeof t->err,
                "start failed: the filter declares %zu latency budgets, more than %d", nb,
                DT_FILTER_BUDGETS_MAX);
        return DT_ELIMIT;
    }
    double period = dt_time_to_sec(t->period);
    for (size_t i = 0; i < nb; i++) {
        double tau = NAN;
        const char *name = NULL;
        (void)t->est->ops.budget(t->est->self, i, &tau, &name);
        if (isnan(tau))
            return DT_ENUMERIC; /* fail closed: never run without a known budget */
        if (tau < period) {
            dt__fmt(t->err, sizeof t->err,
                    "start failed: bound \"%.64s\": latency budget %.6g s is below one loop "
                    "period (%.6g s): the twin could never act",
                    name ? name : "", tau, period);
            return DT_ERANGE;
        }
        if (tau < t->disp.tau_min)
            t->disp.tau_min = tau;
    }
    for (size_t s = 0; s < t->n_sig && !(t->disp.tau_min < INFINITY); s++)
        if (dt_model_signal(t->model, (dt_signal_id)s)->role == DT_ROLE_COMMANDED) {
            dt__fmt(t->err, sizeof t->err,
                    "start failed: the twin dispatches commands (\"%.64s\") and no latency "
                    "budget limits the age of their data any more (the filter's budgets are "
                    "infinite or gone since loading; give dispatcher.max_data_age)",
                    dt_model_signal(t->model, (dt_signal_id)s)->id);
            return DT_ERANGE;
        }
    return DT_OK;
}

int dt_twin_start(dt_twin *t, dt_time now)
{
    if (t == NULL)
        return DT_EINVAL;
    if (t->started)
        return DT_ESTATE;
    if (!dt_time_valid(now))
        return DT_ERANGE;
    /* the children first (a replay starts them from their own records) */
    if (!t->replay && t->n_kids > 0) {
        int krc = dt__twin_children_start(t, now);
        if (krc != DT_OK)
            return krc; /* explained in t->err */
    }
    int rc = dt_ingest_start(t->ing, now);
    if (rc == DT_OK && t->est != NULL) {
        /* budgets again when measurement callbacks were bound since load */
        dt_diag d;
        memset(&d, 0, sizeof d);
        rc = t->est->ops.start(t->est->self, now, &d);
        if (rc != DT_OK && d.message[0] != '\0') {
            dt__fmt(t->err, sizeof t->err, "start failed: %s", d.message);
            return rc;
        }
        if (rc == DT_OK && (rc = start_budgets(t)) != DT_OK && rc != DT_ENUMERIC)
            return rc; /* explained in t->err */
    }
    if (rc == DT_OK)
        rc = dt__twin_beliefs_start(t);
    if (rc != DT_OK) {
        dt__fmt(t->err, sizeof t->err, "start failed: %s", dt_strerror(rc));
        return rc;
    }
    t->now = now;
    t->last_arrival_applied = DT_TIME_MIN;
    t->started = 1;
    dt__twin_auth_start(t, now);
    if (t->rec_write != NULL)
        dt__twin_rec_time(t, REC_START, now);
    return DT_OK;
}

int dt_twin_stop(dt_twin *t)
{
    if (t == NULL)
        return DT_EINVAL;
    if (!t->started || t->stopped)
        return DT_ESTATE;
    t->stopped = 1;
    dt__twin_children_stop(t);
    return DT_OK;
}

int dt_twin_submit(dt_twin *t, const dt_command *cmd)
{
    if (t != NULL && t->partitioned) { /* the control plane submits now */
        t->raw_refused++;
        return DT_EPLANE;
    }
    return dt__twin_submit_host(t, cmd);
}

int dt__twin_submit_host(dt_twin *t, const dt_command *cmd)
{
    if (t == NULL || cmd == NULL || cmd->signal >= t->n_sig ||
        dt_model_signal(t->model, cmd->signal)->role != DT_ROLE_COMMANDED)
        return DT_EINVAL;
    if (t->in_step) /* from an observer, the verify hook or a controller */
        return DT_ESTATE;
    if (t->n_pending == QUEUE_CAP)
        return DT_EFULL;
    dt__twin_auth_queued(t, t->n_pending);
    dt_command *c = &t->pending[t->n_pending++];
    *c = *cmd;
    c->seq = ++t->disp.seq; /* the twin numbers every command */
    c->origin = DT_ORIGIN_HOST;
    c->authority = 0;
    if (t->rec_write != NULL)
        dt__twin_rec_submit(t, cmd);
    return DT_OK;
}

int dt__twin_submit_remote(dt_twin *t, const dt_command *cmd, uint16_t origin, uint64_t *seq)
{
    if (t == NULL || cmd == NULL || cmd->signal >= t->n_sig ||
        dt_model_signal(t->model, cmd->signal)->role != DT_ROLE_COMMANDED)
        return DT_EINVAL;
    if (!t->started || t->stopped || (t->in_step && !t->sensing))
        return DT_ESTATE;
    if (t->n_pending == QUEUE_CAP)
        return DT_EFULL;
    dt__twin_auth_queued(t, t->n_pending);
    dt_command *c = &t->pending[t->n_pending++];
    *c = *cmd;
    c->seq = ++t->disp.seq;
    c->origin = origin;
    c->authority = 0;
    if (seq != NULL)
        *seq = c->seq;
    if (t->rec_write != NULL) /* a replay takes it at the same point */
        dt__twin_rec_remote(t, c);
    return DT_OK;
}

int dt__twin_set_sample_tap(dt_twin *t, dt__twin_sample_tap fn, void *user)
{
    if (t == NULL)
        return DT_EINVAL;
    if (t->started)
        return DT_ESTATE;
    t->rel_tap = fn;
    t->rel_tap_user = user;
    return DT_OK;
}

int dt_twin_step(dt_twin *t, dt_time now)
{
    if (t == NULL)
        return DT_EINVAL;
    if (!t->started || t->stopped)
        return DT_ESTATE;
    if (t->in_step) /* re-entered from an observer, the hook or a controller */
        return DT_ESTATE;
    if (now < t->now || !dt_time_valid(now))
        return DT_ERANGE;
    t->in_step = 1;
    /* the children first, with the same now: their beliefs are what this
     * step's child sources read (a replay steps them from their records) */
    int krc = t->replay || t->n_kids == 0 ? DT_OK : dt__twin_children_step(t, now);
    dt_time interval = now - t->now;
    t->now = now;
    if (t->disp.safe_mode) /* the commands since the last step were the safe state's */
        t->st.safe_time += interval;
    if (t->rec_write != NULL)
        dt__twin_rec_time(t, REC_STEP, now);
    /* Sense */
    t->sensing = 1; /* the bus may queue remote commands for this step's dispatch */
    int rc = dt_io_poll(t->io, now);
    for (size_t i = 0; t->replay && i < t->rp_nremote; i++) { /* as they came in the log */
        const dt_command *c = &t->rp_remote[i];
        int src = t->rp_rrec_len[i] != 0
                      ? dt__twin_submit_remote_signed(t, t->rp_rrec[i], t->rp_rrec_len[i],
                                                      c->signal, c->origin, NULL)
                      : dt__twin_submit_remote(t, c, c->origin, NULL);
        if (src != DT_OK)
            t->rp_mismatch = 1; /* the live twin took it: the replay diverged */
    }
    t->rp_nremote = 0;
    dt__twin_beliefs_sense(t);
    t->sensing = 0;
    /* Synchronize */
    dt_ingest_poll(t->ing, now);
    /* Understand */
    size_t n;
    while ((n = dt_ingest_release(t->ing, t->rel, RELEASE_BATCH)) > 0) {
        /* the newest sample released: with an estimator, the latest data time
         * its filter can truthfully claim (dt__twin_assess) */
        for (size_t i = 0; i < n; i++)
            if (t->rel[i].t_source > t->data_t)
                t->data_t = t->rel[i].t_source;
        if (t->rel_tap != NULL)
            t->rel_tap(t->rel_tap_user, t->rel, n, now);
        for (size_t i = 0; i < n && t->est != NULL; i++) {
            if (t->est->ops.update(t->est->self, &t->rel[i]) == DT_OK) {
                if (t->bx != NULL && (t->obs_mask & DT_EVENT_BIT(DT_EVENT_BELIEF)))
                    dt__twin_belief_event(t, &t->rel[i]);
                dt__twin_hist_add(t->h_est, &t->st.arrival_to_estimate, now - t->rel[i].t_arrival);
                if (t->rel[i].t_arrival > t->last_arrival_applied)
                    t->last_arrival_applied = t->rel[i].t_arrival;
            }
        }
        if (n < RELEASE_BATCH)
            break;
    }
    dt__twin_fuse_beliefs(t);
    if (t->rel_tap != NULL) /* the step's end of releases: a batching tap flushes */
        t->rel_tap(t->rel_tap_user, NULL, 0, now);
    /* Actuation outcome: commands not confirmed in time, counted once each. */
    dt__disp_confirm(&t->disp, now);
    /* Act: the setpoints the host queued since the last step first (a reset
     * on leaving the safe state is bumpless against them) */
    for (size_t i = 0; i < t->n_ctl; i++)
        if (t->ctl[i].sp_pending) {
            t->ctl[i].sp = t->ctl[i].sp_next;
            t->ctl[i].has_sp = 1;
            t->ctl[i].sp_pending = 0;
        }
    dt__twin_assess(t, now);
    for (size_t i = 0; i < t->n_pending; i++) {
        t->auth_slot = i; /* its signed record, if any */
        dt__disp_command(&t->disp, t->pending[i], now);
    }
    t->n_pending = 0;
    t->auth_slot = SIZE_MAX; /* the controllers' commands carry none */
    dt_ctrl_ctx ctx;
    dt__twin_init_ctx(t, &ctx);
    for (size_t i = 0; i < t->n_ctl; i++) {
        ctrl *k = &t->ctl[i];
        ctx.dt = k->ran ? dt_time_to_sec(now - k->last_run) : 0;
        ctx.n_queue = 0;
        ctx.origin = (uint16_t)(DT_ORIGIN_CONTROLLER | i);
        ctx.has_sp = k->has_sp;
        ctx.sp = k->sp;
        t->err[0] = '\0';
        int crc = k->ops->compute(k->self, &ctx);
        if (crc != DT_OK && rc == DT_OK)
            rc = crc;
        k->last_run = now;
        k->ran = 1;
        for (size_t q = 0; q < ctx.n_queue; q++)
            dt__disp_command(&t->disp, ctx.queue[q], now);
    }
    t->st.cycles++;
    t->st.last_cycle_interval = interval;
    if (interval > t->st.max_cycle_interval)
        t->st.max_cycle_interval = interval;
    if (t->obs_mask & DT_EVENT_BIT(DT_EVENT_COUNTERS))
        dt__twin_emit_counters(t, now);
    t->in_step = 0;
    if (rc == DT_OK && krc != DT_OK)
        rc = dt__twin_children_failed(t, krc);
    return rc;
}

void dt_twin_stats_get(const dt_twin *t, dt_twin_stats *out)
{
    *out = t->st;
    const dt__disp_stats *d = &t->disp.st;
    out->commands = d->commands;
    out->sent = d->sent;
    out->clamped = d->clamped;
    out->rate_limited = d->rate_limited;
    out->interlocked = d->interlocked;
    out->expired = d->expired;
    out->safe_stated = d->safe_stated;
    out->sink_errors = d->sink_errors;
    out->refused = d->refused;
    out->unconfirmed = d->unconfirmed;
    out->safe_entries = d->safe_entries;
    out->sink_fault_entries = d->sink_fault_entries;
    out->events_lost = t->events_lost;
    dt__io_belief_counts(t->io, &out->beliefs_offered, &out->beliefs_superseded,
                         &out->beliefs_time_refused);
    if (t->replay) /* the log holds the beliefs fused or refused, not the others */
        out->beliefs_offered = t->rp_offered;
    dt_ingest_stats_get(t->ing, &out->ingest);
    if (t->est != NULL)
        t->est->ops.stats(t->est->self, &out->estimator);
    out->safe_state = t->disp.safe_mode;
    out->tau_max_s = t->disp.tau_min;
    out->arrival_to_estimate.p50 = hist_q(t->h_est, t->st.arrival_to_estimate.count, 0.5);
    out->arrival_to_estimate.p99 = hist_q(t->h_est, t->st.arrival_to_estimate.count, 0.99);
    out->arrival_to_command.p50 = hist_q(t->h_cmd, t->st.arrival_to_command.count, 0.5);
    out->arrival_to_command.p99 = hist_q(t->h_cmd, t->st.arrival_to_command.count, 0.99);
}

size_t dt_twin_audit(const dt_twin *t, dt_audit *out, size_t max)
{
    return dt__disp_audit(&t->disp, out, max);
}

int dt_twin_set_verify(dt_twin *t, dt_verify_fn fn, void *user)
{
    if (t == NULL)
        return DT_EINVAL;
    if (t->started)
        return DT_ESTATE;
    t->disp.verify = fn;
    t->disp.verify_user = user;
    return DT_OK;
}

const dt_model *dt_twin_model(const dt_twin *t) { return t ? t->model : NULL; }
/* The raw accessors reach every plane's inner parts: after partitioning
 * they give nothing (docs/security.md, "Planes"), counted. */
dt_ingest *dt_twin_ingest(dt_twin *t)
{
    if (t != NULL && t->partitioned)
        t->raw_refused++;
    return t && !t->partitioned ? t->ing : NULL;
}
dt_est *dt_twin_estimator(dt_twin *t)
{
    if (t != NULL && t->partitioned)
        t->raw_refused++;
    return t && !t->partitioned ? dt__filter_kf(t->est) : NULL;
}
dt_io *dt_twin_io(dt_twin *t)
{
    if (t != NULL && t->partitioned)
        t->raw_refused++;
    return t && !t->partitioned ? t->io : NULL;
}
const char *dt_twin_errmsg(const dt_twin *t) { return t ? t->err : ""; }

double dt_twin_period_s(const dt_twin *t) { return t ? dt_time_to_sec(t->period) : 0; }
const char *dt_twin_contract(const dt_twin *t) { return t ? dt__bus_contract_text(t->io) : NULL; }

const dt_allocator *dt_twin_allocator(const dt_twin *t)
{
    return t ? &t->alloc : dt_allocator_default();
}

int dt_twin_actuation(const dt_twin *t, dt_signal_id sig, double *desired, double *reported,
                      int *confirmed)
{
    if (t == NULL || sig >= t->n_sig ||
        dt_model_signal(t->model, sig)->role != DT_ROLE_COMMANDED)
        return DT_EINVAL;
    uint64_t rep = 0;
    double v = NAN;
    dt_io_reported(t->io, sig, &rep, &v, NULL);
    if (desired)
        *desired = t->disp.last_sent[sig];
    if (reported)
        *reported = v;
    if (confirmed)
        *confirmed = t->disp.last_sent_seq[sig] != 0 && rep >= t->disp.last_sent_seq[sig];
    return DT_OK;
}
