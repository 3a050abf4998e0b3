/* The twin's side of the dispatcher (src/control/dispatcher.c): what it
 * needs from the sinks, the estimator and the controllers, and the belief's
 * health it judges once per cycle. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <string.h>

#include "../adapters/adapters_internal.h"
#include "../platform/internal.h"
#include "twin_internal.h"

static int env_send(void *user, const dt_command *cmd)
{
    return dt__twin_sink_apply(user, cmd);
}

/* What the actuator was told is the estimator's input from now on. The
 * index is the filter's word and indexes u: one past its inputs (or past the
 * DT_LA_MAX values u holds) is neither written nor handed to set_input. */
static void env_sent(void *user, const dt_command *cmd, dt_time now)
{
    dt_twin *t = user;
    int ui = t->est ? t->est->ops.input_index(t->est->self, cmd->signal) : -1;
    size_t p = ui >= 0 ? t->est->ops.inputs(t->est->self, NULL, 0) : 0;
    if (ui >= 0 && (size_t)ui < p && p <= DT_LA_MAX && t->u[ui] != cmd->value) {
        t->u[ui] = cmd->value;
        (void)t->est->ops.set_input(t->est->self, now, t->u);
    }
    if (t->last_arrival_applied != DT_TIME_MIN)
        dt__twin_hist_add(t->h_cmd, &t->st.arrival_to_command, now - t->last_arrival_applied);
}

/* NaN (an interlock engages) unless the filter says the value is good: a
 * value written next to an error is not one to act on. */
static double env_belief(void *user, dt_signal_id sig, dt_time now)
{
    dt_twin *t = user;
    dt_belief b;
    b.value = NAN;
    if (t->est->ops.belief(t->est->self, sig, now, &b) != DT_OK)
        return NAN;
    return b.value;
}

static void env_reset(void *user)
{
    dt_twin *t = user;
    dt_ctrl_ctx ctx;
    dt__twin_init_ctx(t, &ctx);
    for (size_t i = 0; i < t->n_ctl; i++)
        if (t->ctl[i].ops->reset != NULL) {
            ctx.has_sp = t->ctl[i].has_sp; /* bumpless against the run-time setpoint */
            ctx.sp = t->ctl[i].sp;
            t->ctl[i].ops->reset(t->ctl[i].self, &ctx);
        }
}

static void env_event(void *user, const dt_event *ev) { dt__twin_emit(user, ev); }

static int env_authenticate(void *user, dt_command *cmd, dt_time now)
{
    dt_twin *t = user;
    return dt__twin_auth_check(t, t->auth_slot, cmd, now);
}

static uint64_t env_reported(void *user, dt_signal_id sig)
{
    dt_twin *t = user;
    uint64_t rep = 0;
    dt_io_reported(t->io, sig, &rep, NULL, NULL);
    return rep;
}

/* Called whenever an observer or the recorder is attached: the dispatcher
 * then reports its decisions (and pays for it only then). */
void dt__twin_disp_env(dt_twin *t)
{
    dt__disp_env e = {env_send, env_sent, t->est ? env_belief : NULL, env_reset,
                      t->n_obs > 0 || t->rec_write != NULL ? env_event : NULL,
                      env_reported, t->auth != NULL ? env_authenticate : NULL, t};
    t->disp.env = e;
}

/* The latency rule's inputs: the age of what the twin acts on (its belief's
 * data, or without an estimator the newest sample released: a twin that
 * forwards commands), exceeded bounds, disputed signals. The filter's data
 * time is its word, so it is held to what the twin can check: never later
 * than the newest sample the twin released to it (DT_TIME_MAX would be fresh
 * for ever), and a time outside the valid range is no data (now minus
 * INT64_MIN + 1 would overflow into a fresh age). */
dt_time dt__twin_data_time(const dt_twin *t)
{
    dt_time td = t->data_t;
    if (t->est != NULL) {
        dt_time f = t->est->ops.data_time(t->est->self);
        if (f < td)
            td = f;
    }
    return td;
}

void dt__twin_assess(dt_twin *t, dt_time now)
{
    dt_time td = dt__twin_data_time(t);
    dt__disp_health h = {!dt_time_valid(td) ? INFINITY : dt_time_to_sec(now - td), 0, 0};
    t->st.belief_age_s = h.age_s;
    if (t->est != NULL) {
        h.bounds = t->est->ops.bounds_violated_at(t->est->self, now);
        h.disputed = t->est->ops.disputed(t->est->self);
    }
    dt__disp_assess(&t->disp, now, &h);
}
