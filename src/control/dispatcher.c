/* The dispatcher: every command through the verify hook, its deadline, the
 * safe state, interlocks, limits and rate limits to the sinks; the latency
 * rule that engages the safe state; the audit ring. */
#include <math.h>
#include <string.h>

#include "../platform/internal.h"
#include "dispatcher.h"

int dt__disp_init(dt__disp *d, const dt_model *m, const dt_allocator *a, const dt_logger *lg)
{
    memset(d, 0, sizeof *d);
    d->model = m;
    d->log = lg;
    d->n_sig = dt_model_signal_count(m);
    size_t ns = d->n_sig ? d->n_sig : 1;
    d->rate = dt__calloc(a, ns, sizeof *d->rate);
    d->safe = dt__calloc(a, ns, sizeof *d->safe);
    d->last_sent = dt__calloc(a, ns, sizeof *d->last_sent);
    d->last_sent_t = dt__calloc(a, ns, sizeof *d->last_sent_t);
    d->forced = dt__calloc(a, ns, sizeof *d->forced);
    d->last_sent_seq = dt__calloc(a, ns, sizeof *d->last_sent_seq);
    d->counted_seq = dt__calloc(a, ns, sizeof *d->counted_seq);
    d->fail_run = dt__calloc(a, ns, sizeof *d->fail_run);
    d->ilk = dt__calloc(a, DT__DISP_MAX_INTERLOCKS, sizeof *d->ilk);
    if (!d->rate || !d->safe || !d->last_sent || !d->last_sent_t || !d->forced ||
        !d->last_sent_seq || !d->counted_seq || !d->fail_run || !d->ilk)
        return DT_ENOMEM;
    for (size_t s = 0; s < d->n_sig; s++) {
        d->safe[s] = NAN;
        d->last_sent[s] = NAN;
        d->forced[s] = NAN;
    }
    d->sink_failures = 3;
    d->tau_min = INFINITY;
    d->max_age = INFINITY;
    d->audit_cap = 64;
    return DT_OK;
}

int dt__disp_ready(dt__disp *d, const dt_allocator *a)
{
    d->audit = dt__calloc(a, d->audit_cap, sizeof *d->audit);
    return d->audit ? DT_OK : DT_ENOMEM;
}

void dt__disp_free(dt__disp *d, const dt_allocator *a)
{
    dt__free(a, d->rate);
    dt__free(a, d->safe);
    dt__free(a, d->last_sent);
    dt__free(a, d->last_sent_t);
    dt__free(a, d->forced);
    dt__free(a, d->last_sent_seq);
    dt__free(a, d->counted_seq);
    dt__free(a, d->fail_run);
    dt__free(a, d->ilk);
    dt__free(a, d->audit);
}

/* Every decision goes to the audit ring and to the observers. */
static void decided(dt__disp *d, const dt_command *cmd, double requested, uint32_t decision,
                    int status, dt_time now)
{
    dt_audit rec = {*cmd, requested, decision, status};
    size_t at = (d->audit_head + d->audit_n) % d->audit_cap;
    if (d->audit_n == d->audit_cap)
        d->audit_head = (d->audit_head + 1) % d->audit_cap;
    else
        d->audit_n++;
    d->audit[at] = rec;
    if (d->env.event != NULL) {
        dt_event ev;
        memset(&ev, 0, sizeof ev);
        ev.kind = DT_EVENT_COMMAND;
        ev.t = now;
        ev.u.command = rec;
        d->env.event(d->env.user, &ev);
    }
}

void dt__disp_command(dt__disp *d, dt_command cmd, dt_time now)
{
    const dt_signal_info *si = dt_model_signal(d->model, cmd.signal);
    double requested = cmd.value;
    uint32_t dec = 0;
    d->st.commands++;
    /* the verify hook first: nothing it refuses reaches a rule or a sink;
     * the dispatcher's own safe-state commands are not submitted to it */
    cmd.authority = 0;
    if (d->env.authenticate != NULL && DT_ORIGIN_KIND(cmd.origin) != DT_ORIGIN_DISPATCHER) {
        int arc = d->env.authenticate(d->env.user, &cmd, now);
        if (arc != DT_OK) {
            d->st.refused++;
            decided(d, &cmd, requested, DT_DISP_REFUSED, arc, now);
            return;
        }
        requested = cmd.value;
    }
    if (d->verify != NULL && DT_ORIGIN_KIND(cmd.origin) != DT_ORIGIN_DISPATCHER) {
        /* the hook judges a copy: one that casts away const and rewrites it
         * changes neither what the rules check nor the signal they index
         * (found by a red-team test: a later deadline sent an expired
         * command, a signal outside the model wrote past the arrays) */
        dt_command view = cmd;
        uint16_t auth = 0;
        int vrc = d->verify(d->verify_user, &view, now, &auth);
        if (vrc != DT_OK) {
            d->st.refused++;
            decided(d, &cmd, requested, DT_DISP_REFUSED, vrc < 0 ? vrc : DT_EINVAL, now);
            return;
        }
        cmd.authority = auth;
    }
    if (now > cmd.t_deadline) {
        d->st.expired++;
        decided(d, &cmd, requested, DT_DISP_EXPIRED, 0, now);
        return;
    }
    if (d->safe_mode) {
        cmd.value = d->safe[cmd.signal];
        dec |= DT_DISP_SAFE_STATE;
        d->st.safe_stated++;
    } else {
        if (!isnan(d->forced[cmd.signal])) {
            cmd.value = d->forced[cmd.signal];
            dec |= DT_DISP_INTERLOCKED;
            d->st.interlocked++;
        }
        if (!isfinite(cmd.value)) {
            /* a controller produced NaN/Inf: never sent, the safe value is */
            cmd.value = d->safe[cmd.signal];
            dec |= DT_DISP_SAFE_STATE;
            d->st.safe_stated++;
        }
        if (si->has_limits && (cmd.value < si->min || cmd.value > si->max)) {
            cmd.value = cmd.value < si->min ? si->min : si->max;
            dec |= DT_DISP_CLAMPED;
            d->st.clamped++;
        }
        double rate = d->rate[cmd.signal], last = d->last_sent[cmd.signal];
        if (rate > 0 && !isnan(last)) {
            double dt = dt_time_to_sec(now - d->last_sent_t[cmd.signal]);
            double step = rate * dt;
            if (cmd.value > last + step || cmd.value < last - step) {
                cmd.value = cmd.value > last ? last + step : last - step;
                dec |= DT_DISP_RATE_LIMITED;
                d->st.rate_limited++;
            }
        }
    }
    int rc = d->env.send(d->env.user, &cmd);
    /* consecutive failures per signal: a sink that keeps refusing engages the
     * safe state (assess, next cycle); one success clears it.
     * DT_ENOTFOUND: no sink maps it (a twin may command in simulation only) */
    uint32_t *run = &d->fail_run[cmd.signal];
    if (rc == DT_OK || rc == DT_ENOTFOUND) {
        if (*run >= d->sink_failures)
            d->n_sink_faults--;
        *run = 0;
        dec |= DT_DISP_SENT;
        d->st.sent++;
        d->last_sent[cmd.signal] = cmd.value;
        d->last_sent_t[cmd.signal] = now;
        d->last_sent_seq[cmd.signal] = cmd.seq;
        d->env.sent(d->env.user, &cmd, now);
    } else {
        if (++*run == d->sink_failures) {
            d->n_sink_faults++;
            d->st.sink_fault_entries++;
        }
        dec |= DT_DISP_SINK_ERROR;
        d->st.sink_errors++;
    }
    decided(d, &cmd, requested, dec, rc, now);
}

static void send_safe_state(dt__disp *d, dt_time now)
{
    for (size_t s = 0; s < d->n_sig; s++)
        if (!isnan(d->safe[s])) {
            dt_command c = {.signal = (uint32_t)s,
                            .origin = DT_ORIGIN_DISPATCHER,
                            .seq = ++d->seq,
                            .t_issued = now,
                            .t_deadline = now + d->deadline,
                            .value = d->safe[s]};
            dt__disp_command(d, c, now);
        }
}

static void safe_event(dt__disp *d, uint32_t kind, uint32_t reasons, const dt__disp_health *h,
                       dt_time now)
{
    if (d->env.event == NULL)
        return;
    dt_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = kind;
    ev.t = now;
    ev.u.safe = (dt_event_safe){reasons, (uint32_t)h->bounds, (uint32_t)h->disputed,
                                (uint32_t)d->n_sink_faults, h->age_s, d->tau_min};
    d->env.event(d->env.user, &ev);
}

void dt__disp_assess(dt__disp *d, dt_time now, const dt__disp_health *h)
{
    /* cleared first: a twin without a belief (no interlocks, no latency rule)
     * must not see stale forced values (found by a coverage test: every
     * command of such a twin was replaced by 0) */
    for (size_t s = 0; s < d->n_sig; s++)
        d->forced[s] = NAN;
    /* tau_min is finite whenever the twin has commanded signals (checked at
     * load); a twin without any has nothing to hold safe */
    uint32_t why = (d->n_sink_faults > 0 ? DT_SAFE_SINKS : 0) |
                   (h->bounds > 0 ? DT_SAFE_BOUND : 0) | (h->disputed > 0 ? DT_SAFE_DISPUTED : 0) |
                   (h->age_s > d->tau_min ? DT_SAFE_LATENCY : 0);
    if (why != 0 && !d->safe_mode) {
        d->safe_mode = 1;
        d->st.safe_entries++;
        dt__log(d->log, DT_LOG_WARN, "twin",
                "safe state: belief age %.3f s, budget %.3f s, %zu bound(s) exceeded, %zu "
                "signal(s) disputing the belief, %zu signal(s) with failing sinks",
                h->age_s, d->tau_min, h->bounds, h->disputed, d->n_sink_faults);
        safe_event(d, DT_EVENT_SAFE_ENTER, why, h, now);
        send_safe_state(d, now);
    } else if (why == 0 && d->safe_mode) {
        d->safe_mode = 0;
        dt__log(d->log, DT_LOG_INFO, "twin", "belief fresh and sinks accepting: leaving the "
                                             "safe state");
        safe_event(d, DT_EVENT_SAFE_EXIT, 0, h, now);
        d->env.reset(d->env.user);
    }
    for (size_t i = 0; d->env.belief != NULL && i < d->n_ilk; i++) {
        dt__interlock *x = &d->ilk[i];
        /* written so that an unreadable or NaN value engages the interlock
         * (fail closed): !(v <= limit) is v > limit for every number */
        double v = d->env.belief(d->env.user, x->sig, now);
        int on = x->op == DT__OP_GT   ? !(v <= x->value)
                 : x->op == DT__OP_GE ? !(v < x->value)
                 : x->op == DT__OP_LT ? !(v >= x->value)
                                      : !(v > x->value);
        if (on && !x->active)
            dt__log(d->log, DT_LOG_WARN, "twin", "interlock \"%s\" engaged", x->name);
        x->active = on;
        if (on)
            for (size_t k = 0; k < x->n_set; k++)
                d->forced[x->set_sig[k]] = x->set_val[k];
    }
}

void dt__disp_confirm(dt__disp *d, dt_time now)
{
    if (d->confirm_timeout <= 0)
        return;
    for (size_t s = 0; s < d->n_sig; s++) {
        uint64_t sent = d->last_sent_seq[s];
        if (sent == 0 || sent == d->counted_seq[s] ||
            now - d->last_sent_t[s] <= d->confirm_timeout)
            continue;
        if (d->env.reported(d->env.user, (dt_signal_id)s) < sent) {
            d->st.unconfirmed++;
            d->counted_seq[s] = sent;
        }
    }
}

size_t dt__disp_audit(const dt__disp *d, dt_audit *out, size_t max)
{
    size_t n = d->audit_n < max ? d->audit_n : max;
    size_t skip = d->audit_n - n;
    for (size_t i = 0; i < n; i++)
        out[i] = d->audit[(d->audit_head + skip + i) % d->audit_cap];
    return n;
}
