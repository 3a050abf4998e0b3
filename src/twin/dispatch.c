/* The dispatcher: every command through limits, rate limits, interlocks,
 * deadlines and the latency rule to the sinks, and the safe state. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>

#include "../platform/internal.h"
#include "twin_internal.h"

/* ---- the dispatcher ---- */

static void audit_push(dt_twin *t, const dt_command *cmd, double requested, uint32_t decision,
                       int status)
{
    size_t at = (t->audit_head + t->audit_n) % t->audit_cap;
    if (t->audit_n == t->audit_cap)
        t->audit_head = (t->audit_head + 1) % t->audit_cap;
    else
        t->audit_n++;
    t->audit[at] = (dt_audit){*cmd, requested, decision, status};
}

/* One command through the safety chain, then to the sinks. */
void dt__twin_dispatch(dt_twin *t, dt_command cmd, dt_time now)
{
    const dt_signal_info *si = dt_model_signal(t->model, cmd.signal);
    double requested = cmd.value;
    uint32_t dec = 0;
    t->st.commands++;
    if (now > cmd.t_deadline) {
        t->st.expired++;
        audit_push(t, &cmd, requested, DT_DISP_EXPIRED, 0);
        return;
    }
    if (t->safe_mode) {
        cmd.value = t->safe[cmd.signal];
        dec |= DT_DISP_SAFE_STATE;
        t->st.safe_stated++;
    } else {
        if (!isnan(t->forced[cmd.signal])) {
            cmd.value = t->forced[cmd.signal];
            dec |= DT_DISP_INTERLOCKED;
            t->st.interlocked++;
        }
        if (!isfinite(cmd.value)) {
            /* a controller produced NaN/Inf: never sent, the safe value is */
            cmd.value = t->safe[cmd.signal];
            dec |= DT_DISP_SAFE_STATE;
            t->st.safe_stated++;
        }
        if (si->has_limits && (cmd.value < si->min || cmd.value > si->max)) {
            cmd.value = cmd.value < si->min ? si->min : si->max;
            dec |= DT_DISP_CLAMPED;
            t->st.clamped++;
        }
        double rate = t->rate[cmd.signal], last = t->last_sent[cmd.signal];
        if (rate > 0 && !isnan(last)) {
            double dt = dt_time_to_sec(now - t->last_sent_t[cmd.signal]);
            double step = rate * dt;
            if (cmd.value > last + step || cmd.value < last - step) {
                cmd.value = cmd.value > last ? last + step : last - step;
                dec |= DT_DISP_RATE_LIMITED;
                t->st.rate_limited++;
            }
        }
    }
    int rc = dt__twin_sink_apply(t, &cmd);
    /* consecutive failures per signal: a sink that keeps refusing engages the
     * safe state (assess, next cycle); one success clears it */
    uint32_t *run = &t->fail_run[cmd.signal];
    if (rc == DT_OK || rc == DT_ENOTFOUND) {
        if (*run >= t->sink_failures)
            t->n_sink_faults--;
        *run = 0;
    } else if (++*run == t->sink_failures) {
        t->n_sink_faults++;
        t->st.sink_fault_entries++;
    }
    if (rc == DT_OK || rc == DT_ENOTFOUND) {
        /* DT_ENOTFOUND: no sink maps it (a twin may command in simulation only) */
        dec |= DT_DISP_SENT;
        t->st.sent++;
        t->last_sent[cmd.signal] = cmd.value;
        t->last_sent_t[cmd.signal] = now;
        t->last_sent_seq[cmd.signal] = cmd.seq;
        /* What the actuator was told is the estimator's input from now on. */
        int ui = t->est ? t->est->ops.input_index(t->est->self, cmd.signal) : -1;
        if (ui >= 0 && t->u[ui] != cmd.value) {
            t->u[ui] = cmd.value;
            (void)t->est->ops.set_input(t->est->self, now, t->u);
        }
        if (t->last_arrival_applied != DT_TIME_MIN)
            dt__twin_hist_add(t->h_cmd, &t->st.arrival_to_command, now - t->last_arrival_applied);
    } else {
        dec |= DT_DISP_SINK_ERROR;
        t->st.sink_errors++;
    }
    audit_push(t, &cmd, requested, dec, rc);
}

static void send_safe_state(dt_twin *t, dt_time now)
{
    for (size_t s = 0; s < t->n_sig; s++)
        if (!isnan(t->safe[s])) {
            dt_command c = {(uint32_t)s, 0, ++t->seq, now, now + t->deadline, t->safe[s]};
            dt__twin_dispatch(t, c, now);
        }
}

/* The latency rule and the interlocks, evaluated once per cycle. */
void dt__twin_assess(dt_twin *t, dt_time now, dt_ctrl_ctx *ctx)
{
    /* cleared first: a twin without an estimator (no interlocks, no latency
     * rule) must not see stale forced values (found by a coverage test: every
     * command of such a twin was replaced by 0) */
    for (size_t s = 0; s < t->n_sig; s++)
        t->forced[s] = NAN;
    size_t broken = 0;
    /* the age of what the twin acts on: its belief's data, or without an
     * estimator the newest sample released (a twin that forwards commands) */
    dt_time td = t->est != NULL ? t->est->ops.data_time(t->est->self) : t->data_t;
    double age = td == DT_TIME_MIN ? INFINITY : dt_time_to_sec(now - td);
    t->st.belief_age_s = age;
    size_t disputed = 0;
    if (t->est != NULL) {
        broken = t->est->ops.bounds_violated_at(t->est->self, now);
        disputed = t->est->ops.disputed(t->est->self);
    }
    /* tau_min is finite whenever the twin has commanded signals (checked at
     * load); a twin without any has nothing to hold safe */
    int bad = t->n_sink_faults > 0 || broken > 0 || disputed > 0 || age > t->tau_min;
    if (bad && !t->safe_mode) {
        t->safe_mode = 1;
        t->st.safe_entries++;
        dt__log(&t->log, DT_LOG_WARN, "twin",
                "safe state: belief age %.3f s, budget %.3f s, %zu bound(s) exceeded, %zu "
                "signal(s) disputing the belief, %zu signal(s) with failing sinks",
                age, t->tau_min, broken, disputed, t->n_sink_faults);
        send_safe_state(t, now);
    } else if (!bad && t->safe_mode) {
        t->safe_mode = 0;
        dt__log(&t->log, DT_LOG_INFO, "twin", "belief fresh and sinks accepting: leaving the "
                                              "safe state");
        for (size_t i = 0; i < t->n_ctl; i++)
            if (t->ctl[i].ops->reset != NULL)
                t->ctl[i].ops->reset(t->ctl[i].self, ctx);
    }
    for (size_t i = 0; t->est != NULL && i < t->n_ilk; i++) {
        interlock *x = &t->ilk[i];
        dt_belief b;
        b.value = NAN;
        (void)t->est->ops.belief(t->est->self, x->sig, now, &b);
        /* written so that an unreadable or NaN value engages the interlock
         * (fail closed): !(v <= limit) is v > limit for every number */
        double v = b.value;
        int on = x->op == OP_GT   ? !(v <= x->value)
                 : x->op == OP_GE ? !(v < x->value)
                 : x->op == OP_LT ? !(v >= x->value)
                                  : !(v > x->value);
        if (on && !x->active)
            dt__log(&t->log, DT_LOG_WARN, "twin", "interlock \"%s\" engaged", x->name);
        x->active = on;
        if (on)
            for (size_t k = 0; k < x->n_set; k++)
                t->forced[x->set_sig[k]] = x->set_val[k];
    }
}

