/* Built-in controllers: PID and state feedback; the host callback. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../platform/internal.h"
#include "control_internal.h"

/* ---- context ---- */

int dt_ctrl_value(dt_ctrl_ctx *c, dt_signal_id sig, double *value)
{
    if (c == NULL || value == NULL || c->est == NULL)
        return DT_EINVAL;
    dt_belief b;
    b.value = NAN; /* a filter that says DT_OK and writes nothing gives no value */
    int rc = c->est->ops.belief(c->est->self, sig, c->now, &b);
    if (rc == DT_OK && !isfinite(b.value))
        rc = DT_ENUMERIC; /* never a NaN a controller could clamp into a limit */
    if (rc == DT_OK)
        *value = b.value;
    return rc;
}

int dt_ctrl_command(dt_ctrl_ctx *c, dt_signal_id sig, double value)
{
    if (c == NULL)
        return DT_EINVAL;
    const dt_signal_info *si = dt_model_signal(c->model, sig);
    if (si == NULL || si->role != DT_ROLE_COMMANDED)
        return DT_EINVAL;
    if (c->n_queue == c->cap)
        return DT_EFULL;
    dt_command *cmd = &c->queue[c->n_queue++];
    cmd->signal = sig;
    cmd->origin = c->origin;
    cmd->authority = 0;
    cmd->seq = ++*c->seq;
    cmd->t_issued = c->now;
    cmd->t_deadline = c->now + c->deadline;
    cmd->value = value;
    return DT_OK;
}

int dt_ctrl_setpoint(const dt_ctrl_ctx *c, double *value)
{
    if (c == NULL || value == NULL)
        return DT_EINVAL;
    if (!c->has_sp)
        return DT_EEMPTY;
    *value = c->sp;
    return DT_OK;
}

dt_time dt_ctrl_now(const dt_ctrl_ctx *c) { return c->now; }
double dt_ctrl_dt(const dt_ctrl_ctx *c) { return c->dt; }
const dt_model *dt_ctrl_model(const dt_ctrl_ctx *c) { return c->model; }

void dt_ctrl_error(dt_ctrl_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (c->err != NULL && vsnprintf(c->err, c->errcap, fmt, ap) < 0)
        c->err[0] = '\0';
    va_end(ap);
}

double dt__ctrl_last_sent(const dt_ctrl_ctx *c, dt_signal_id sig)
{
    return c->last_sent != NULL ? c->last_sent[sig] : NAN;
}

/* Looks a signal up by the string in config key `key`; checks its role. */
static int cfg_signal(dt_ctrl_ctx *c, const dt_config *cfg, const char *key, int commanded,
                      dt_signal_id *out)
{
    const char *s;
    if (dt_config_string(dt_config_get(cfg, key), &s) != DT_OK) {
        dt_ctrl_error(c, "%s: required signal id", key);
        return DT_EINVAL;
    }
    if (dt_model_find_signal(c->model, s, out) != DT_OK) {
        dt_ctrl_error(c, "%s: unknown signal \"%s\"", key, s);
        return DT_EINVAL;
    }
    dt_role r = dt_model_signal(c->model, *out)->role;
    if (commanded ? r != DT_ROLE_COMMANDED : (r != DT_ROLE_ESTIMATED && r != DT_ROLE_PARAMETER)) {
        dt_ctrl_error(c, "%s: signal \"%s\" is %s, expected %s", key, s, dt_role_name(r),
                      commanded ? "commanded" : "estimated or parameter");
        return DT_EINVAL;
    }
    return DT_OK;
}

static int cfg_num(dt_ctrl_ctx *c, const dt_config *cfg, const char *key, double *out,
                   int required)
{
    const dt_config *v = dt_config_get(cfg, key);
    if (v == NULL) {
        if (required)
            dt_ctrl_error(c, "%s: required number", key);
        return required ? DT_EINVAL : DT_OK;
    }
    if (dt_config_number(v, out) != DT_OK) {
        dt_ctrl_error(c, "%s: expected a finite number", key);
        return DT_EINVAL;
    }
    return DT_OK;
}

/* ---- PID ----
 * u = kp e + I + D with e = setpoint - y. The derivative acts on the
 * measurement (no kick on setpoint changes) through a first-order filter
 * kd s / (tf s + 1), discretized by backward Euler. Anti-windup: "clamp"
 * (conditional integration: the integral stops while the output is saturated
 * in the direction the error drives it) or "backcalc" (the integral is
 * corrected by kb (u_sat - u) dt). reset() is bumpless: the integral restarts
 * so the next output equals the value last sent to the actuator. */

typedef struct pid {
    dt_signal_id in, out;
    double sp, kp, ki, kd, tf, kb, lo, hi;
    int backcalc, primed;
    double integ, deriv, y_prev;
} pid;

static const char *const pid_keys[] = {"input", "output", "setpoint", "kp", "ki", "kd",
                                       "tf", "out_min", "out_max", "antiwindup", "kb", NULL};

static int pid_init(void *self, dt_ctrl_ctx *c, const dt_config *cfg)
{
    pid *p = self;
    memset(p, 0, sizeof *p);
    int rc = cfg_signal(c, cfg, "input", 0, &p->in);
    if (rc == DT_OK)
        rc = cfg_signal(c, cfg, "output", 1, &p->out);
    if (rc == DT_OK)
        rc = cfg_num(c, cfg, "setpoint", &p->sp, 1);
    if (rc == DT_OK)
        rc = cfg_num(c, cfg, "kp", &p->kp, 1);
    if (rc == DT_OK)
        rc = cfg_num(c, cfg, "ki", &p->ki, 0);
    if (rc == DT_OK)
        rc = cfg_num(c, cfg, "kd", &p->kd, 0);
    if (rc == DT_OK)
        rc = cfg_num(c, cfg, "tf", &p->tf, 0);
    if (rc != DT_OK)
        return rc;
    const dt_signal_info *so = dt_model_signal(c->model, p->out);
    p->lo = so->min;
    p->hi = so->max;
    if (cfg_num(c, cfg, "out_min", &p->lo, 0) != DT_OK ||
        cfg_num(c, cfg, "out_max", &p->hi, 0) != DT_OK)
        return DT_EINVAL;
    if (!isfinite(p->lo) || !isfinite(p->hi) || p->lo >= p->hi) {
        dt_ctrl_error(c, "out_min/out_max: need finite limits with min < max (from the "
                         "output signal's limits or given here)");
        return DT_EINVAL;
    }
    if (p->ki < 0 || p->kd < 0 || p->tf < 0) {
        dt_ctrl_error(c, "ki, kd and tf must be >= 0");
        return DT_EINVAL;
    }
    const char *aw = "clamp";
    const dt_config *v = dt_config_get(cfg, "antiwindup");
    if (v != NULL && (dt_config_string(v, &aw) != DT_OK ||
                      (strcmp(aw, "clamp") != 0 && strcmp(aw, "backcalc") != 0))) {
        dt_ctrl_error(c, "antiwindup: clamp or backcalc");
        return DT_EINVAL;
    }
    p->backcalc = strcmp(aw, "backcalc") == 0;
    p->kb = p->kp != 0 ? p->ki / p->kp : 1.0;
    if (cfg_num(c, cfg, "kb", &p->kb, 0) != DT_OK)
        return DT_EINVAL;
    if (p->backcalc && !(p->kb > 0)) {
        dt_ctrl_error(c, "kb: must be > 0 for back-calculation");
        return DT_EINVAL;
    }
    return DT_OK;
}

static int pid_compute(void *self, dt_ctrl_ctx *c)
{
    pid *p = self;
    double y;
    int rc = dt_ctrl_value(c, p->in, &y);
    if (rc != DT_OK)
        return rc;
    double dt = c->dt;
    if (!p->primed) {
        p->y_prev = y;
        p->deriv = 0;
        p->primed = 1;
    }
    double sp = p->sp; /* the configured one until the host sets one */
    (void)dt_ctrl_setpoint(c, &sp);
    double e = sp - y;
    if (dt > 0 && p->kd > 0)
        p->deriv = (p->tf * p->deriv - p->kd * (y - p->y_prev)) / (p->tf + dt);
    p->y_prev = y;
    double u_raw = p->kp * e + p->integ + p->deriv;
    double u = u_raw < p->lo ? p->lo : u_raw > p->hi ? p->hi : u_raw;
    if (dt > 0 && p->ki > 0) {
        if (p->backcalc)
            p->integ += (p->ki * e + p->kb * (u - u_raw)) * dt;
        else if (!((u_raw > p->hi && e > 0) || (u_raw < p->lo && e < 0)))
            p->integ += p->ki * e * dt;
    }
    return dt_ctrl_command(c, p->out, u);
}

static void pid_reset(void *self, dt_ctrl_ctx *c)
{
    pid *p = self;
    double last = dt__ctrl_last_sent(c, p->out), y;
    p->deriv = 0;
    p->primed = 0;
    /* a controller without an integral action has no state to absorb the
     * bump: a stored offset would stay for ever (found when a P-only loop
     * kept sending its safe value after leaving the safe state) */
    double sp = p->sp;
    (void)dt_ctrl_setpoint(c, &sp);
    if (p->ki > 0 && isfinite(last) && dt_ctrl_value(c, p->in, &y) == DT_OK)
        p->integ = last - p->kp * (sp - y); /* next output = last sent */
    else
        p->integ = 0;
}

const dt_controller_ops dt__pid_ops = {DT_CONTROLLER_ABI, "pid", sizeof(pid), pid_keys,
                                       pid_init,       pid_compute, pid_reset};

int dt__ctrl_setpoint_signal(const dt_controller_ops *ops, const void *self, dt_signal_id *sig)
{
    if (ops == &dt__pid_ops) {
        *sig = ((const pid *)self)->in;
        return 1;
    }
    return ops == &dt__state_feedback_ops ? -1 : 0;
}

/* ---- state feedback: u = u_ref - K (x - x_ref) ---- */

#define SF_MAX 16

typedef struct sfb {
    size_t nx, nu;
    dt_signal_id x[SF_MAX], u[SF_MAX];
    double K[SF_MAX * SF_MAX], xr[SF_MAX], ur[SF_MAX];
} sfb;

static const char *const sf_keys[] = {"states", "outputs", "K", "x_ref", "u_ref", NULL};

static int sig_array(dt_ctrl_ctx *c, const dt_config *cfg, const char *key, int commanded,
                     dt_signal_id *out, size_t *n)
{
    const dt_config *a = dt_config_get(cfg, key);
    size_t len = dt_config_len(a);
    if (a == NULL || len == 0 || len > SF_MAX || dt_config_at(a, 0) == NULL) {
        dt_ctrl_error(c, "%s: an array of 1..%d signal ids", key, SF_MAX);
        return DT_EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        const char *s;
        dt_signal_id id;
        if (dt_config_string(dt_config_at(a, i), &s) != DT_OK ||
            dt_model_find_signal(c->model, s, &id) != DT_OK) {
            dt_ctrl_error(c, "%s[%zu]: unknown signal", key, i);
            return DT_EINVAL;
        }
        dt_role r = dt_model_signal(c->model, id)->role;
        if (commanded ? r != DT_ROLE_COMMANDED : r != DT_ROLE_ESTIMATED) {
            dt_ctrl_error(c, "%s[%zu]: \"%s\" is %s", key, i, s, dt_role_name(r));
            return DT_EINVAL;
        }
        out[i] = id;
    }
    *n = len;
    return DT_OK;
}

static int num_array(dt_ctrl_ctx *c, const dt_config *a, const char *what, size_t n, double *out)
{
    if (dt_config_len(a) != n || (n > 0 && dt_config_at(a, 0) == NULL)) {
        dt_ctrl_error(c, "%s: expected %zu numbers", what, n);
        return DT_EINVAL;
    }
    for (size_t i = 0; i < n; i++)
        if (dt_config_number(dt_config_at(a, i), &out[i]) != DT_OK) {
            dt_ctrl_error(c, "%s[%zu]: expected a finite number", what, i);
            return DT_EINVAL;
        }
    return DT_OK;
}

static int sf_init(void *self, dt_ctrl_ctx *c, const dt_config *cfg)
{
    sfb *s = self;
    memset(s, 0, sizeof *s);
    int rc = sig_array(c, cfg, "states", 0, s->x, &s->nx);
    if (rc == DT_OK)
        rc = sig_array(c, cfg, "outputs", 1, s->u, &s->nu);
    if (rc != DT_OK)
        return rc;
    const dt_config *K = dt_config_get(cfg, "K");
    if (dt_config_len(K) != s->nu) {
        dt_ctrl_error(c, "K: expected %zu rows (one per output)", s->nu);
        return DT_EINVAL;
    }
    for (size_t i = 0; i < s->nu; i++) {
        char what[32];
        (void)snprintf(what, sizeof what, "K[%zu]", i); /* fits: 32 bytes */
        rc = num_array(c, dt_config_at(K, i), what, s->nx, s->K + i * s->nx);
        if (rc != DT_OK)
            return rc;
    }
    const dt_config *v;
    if ((v = dt_config_get(cfg, "x_ref")) != NULL &&
        (rc = num_array(c, v, "x_ref", s->nx, s->xr)) != DT_OK)
        return rc;
    if ((v = dt_config_get(cfg, "u_ref")) != NULL &&
        (rc = num_array(c, v, "u_ref", s->nu, s->ur)) != DT_OK)
        return rc;
    return DT_OK;
}

static int sf_compute(void *self, dt_ctrl_ctx *c)
{
    sfb *s = self;
    double dx[SF_MAX];
    for (size_t j = 0; j < s->nx; j++) {
        double v;
        int rc = dt_ctrl_value(c, s->x[j], &v);
        if (rc != DT_OK)
            return rc;
        dx[j] = v - s->xr[j];
    }
    for (size_t i = 0; i < s->nu; i++) {
        double u = s->ur[i];
        for (size_t j = 0; j < s->nx; j++)
            u -= s->K[i * s->nx + j] * dx[j];
        int rc = dt_ctrl_command(c, s->u[i], u);
        if (rc != DT_OK)
            return rc;
    }
    return DT_OK;
}

const dt_controller_ops dt__state_feedback_ops = {
    DT_CONTROLLER_ABI, "state_feedback", sizeof(sfb), sf_keys, sf_init, sf_compute, NULL};

/* ---- host callback ---- */

static int cb_init(void *self, dt_ctrl_ctx *c, const dt_config *cfg)
{
    (void)self, (void)c, (void)cfg;
    return DT_OK;
}

static int cb_compute(void *self, dt_ctrl_ctx *c)
{
    dt__callback_ctrl *cb = self;
    if (cb->fn == NULL) {
        dt_ctrl_error(c, "no callback registered (dt_twin_set_callback)");
        return DT_ESTATE;
    }
    return cb->fn(cb->user, c);
}

const dt_controller_ops dt__callback_ops = {DT_CONTROLLER_ABI, "callback",
                                            sizeof(dt__callback_ctrl), NULL,
                                            cb_init,        cb_compute, NULL};
