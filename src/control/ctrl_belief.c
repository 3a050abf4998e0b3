/* What a controller sees of the whole belief: the state vector and its
 * covariance at the cycle's time, the state's and inputs' signals, and the
 * model's matrices, each through the estimator's filter slot (so an MPC or
 * LQR controller is written against the public API, whatever the filter). */
#include <math.h>
#include <stddef.h>

#include "control_internal.h"

size_t dt_ctrl_state_signals(const dt_ctrl_ctx *c, dt_signal_id *ids, size_t cap)
{
    if (c == NULL || c->est == NULL)
        return 0;
    return c->est->ops.states(c->est->self, ids, cap);
}

size_t dt_ctrl_input_signals(const dt_ctrl_ctx *c, dt_signal_id *ids, size_t cap)
{
    if (c == NULL || c->est == NULL)
        return 0;
    return c->est->ops.inputs(c->est->self, ids, cap);
}

int dt_ctrl_belief(dt_ctrl_ctx *c, double *x, double *P, size_t n)
{
    if (c == NULL || x == NULL || c->est == NULL)
        return DT_EINVAL;
    size_t have = c->est->ops.states(c->est->self, NULL, 0);
    if (have == 0)
        return DT_EUNSUPPORTED;
    if (n != have)
        return DT_EINVAL;
    int rc = c->est->ops.state(c->est->self, c->now, x, P);
    if (rc != DT_OK)
        return rc;
    /* the filter's word: a NaN or infinite belief is a failed one (a
     * controller clamping with fmin / fmax would turn NaN into a limit) */
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return DT_ENUMERIC;
    for (size_t i = 0; P != NULL && i < n * n; i++)
        if (!isfinite(P[i]))
            return DT_ENUMERIC;
    return DT_OK;
}

int dt_ctrl_model_matrices(const dt_ctrl_ctx *c, double *A, double *B, size_t n, size_t p,
                           int *discrete)
{
    if (c == NULL || A == NULL || discrete == NULL || c->est == NULL)
        return DT_EINVAL;
    const dt__filter *f = c->est;
    size_t have_n = f->ops.states(f->self, NULL, 0), have_p = f->ops.inputs(f->self, NULL, 0);
    if (have_n == 0)
        return DT_EUNSUPPORTED;
    if (n != have_n || p != have_p || (p > 0 && B == NULL))
        return DT_EINVAL;
    return f->ops.matrices(f->self, A, B, discrete);
}
