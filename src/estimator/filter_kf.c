/* The built-in filter kind "kf": the Kalman estimator (dt_est) behind
 * dt_filter_ops. Each slot is one call of dt_est's API, so a twin on the
 * "kf" kind behaves as it did when it called dt_est directly. */
#include <string.h>

#include "est_internal.h"
#include "kf_kernels.h"
#include "filter_internal.h"

typedef struct kf_filter {
    dt_est *est; /* first: dt__filter_kf reads it */
} kf_filter;

static int kf_init(void *self, const dt_filter_env *env, const dt_config *cfg, dt_diag *diag)
{
    (void)cfg; /* dt_est_create_json reads the same section from the model */
    kf_filter *k = self;
    dt_est_config ec = DT_EST_CONFIG_INIT;
    ec.allocator = env->allocator;
    ec.logger = env->logger;
    return dt_est_create_json(env->model, &ec, &k->est, diag);
}

static void kf_deinit(void *self) { dt_est_destroy(((kf_filter *)self)->est); }

static int kf_start(void *self, dt_time t0, dt_diag *diag)
{
    dt_est *e = ((kf_filter *)self)->est;
    /* budgets again when measurement callbacks were bound since load; a
     * refusal from them explains itself in diag */
    int rc = dt_est_start(e, t0);
    if ((rc == DT_ERANGE || rc == DT_EINVAL) && dt_est_budgets(e, diag) != DT_OK)
        return rc;
    if (diag != NULL)
        memset(diag, 0, sizeof *diag);
    return rc;
}

static int kf_predict(void *self, dt_time t) { return dt_est_advance(((kf_filter *)self)->est, t); }

static int kf_update(void *self, const dt_sample *s)
{
    return dt_est_process(((kf_filter *)self)->est, s);
}

static int kf_belief(void *self, dt_signal_id sig, dt_time t, dt_belief *out)
{
    return dt_est_belief(((kf_filter *)self)->est, sig, t, out);
}

static dt_time kf_data_time(const void *self)
{
    return dt_est_data_time(((const kf_filter *)self)->est);
}

static size_t copy_ids(const dt_signal_id *from, size_t n, dt_signal_id *ids, size_t cap)
{
    for (size_t i = 0; ids != NULL && i < n && i < cap; i++)
        ids[i] = from[i];
    return n;
}

static size_t kf_states(const void *self, dt_signal_id *ids, size_t cap)
{
    const dt_est *e = ((const kf_filter *)self)->est;
    return copy_ids(e->states, e->n, ids, cap);
}

static size_t kf_inputs(const void *self, dt_signal_id *ids, size_t cap)
{
    const dt_est *e = ((const kf_filter *)self)->est;
    return copy_ids(e->inputs, e->p, ids, cap);
}

/* As dt_est_belief: propagated from the estimate's time to t (the current
 * estimate for an earlier t), through the estimator's scratch. */
static int kf_state(void *self, dt_time t, double *x, double *P)
{
    dt_est *e = ((kf_filter *)self)->est;
    if (!dt_time_valid(t))
        return DT_ERANGE;
    double dt = t > e->t ? dt_time_to_sec(t - e->t) : 0.0;
    int rc = dt_kf_peek(e->kf, dt, e->xb, e->Pb);
    if (rc != DT_OK)
        return rc;
    memcpy(x, e->xb, e->n * sizeof *x);
    if (P != NULL)
        memcpy(P, e->Pb, e->n * e->n * sizeof *P);
    return DT_OK;
}

static int kf_input_index(const void *self, dt_signal_id sig)
{
    return dt_est_input_index(((const kf_filter *)self)->est, sig);
}

static int kf_set_input(void *self, dt_time now, const double *u)
{
    dt_est *e = ((kf_filter *)self)->est;
    /* never before the estimate: a sample newer than the cycle may have
     * moved it past now */
    return dt_est_set_input(e, now > dt_est_time(e) ? now : dt_est_time(e), u);
}

static int kf_matrices(const void *self, double *A, double *B, int *discrete)
{
    const dt_est *e = ((const kf_filter *)self)->est;
    const double *a, *b;
    size_t p;
    int mode = dt__kf_matrices(e->kf, &a, &b, &p);
    if (mode < 0)
        return DT_EUNSUPPORTED;
    memcpy(A, a, e->n * e->n * sizeof *A);
    if (B != NULL && p > 0)
        memcpy(B, b, e->n * p * sizeof *B);
    *discrete = mode;
    return DT_OK;
}

static void kf_stats(const void *self, dt_est_stats *out)
{
    dt_est_stats_get(((const kf_filter *)self)->est, out);
}

static int kf_budgets(void *self, dt_diag *diag)
{
    return dt_est_budgets(((kf_filter *)self)->est, diag);
}

static size_t kf_budget_count(const void *self)
{
    return dt_est_bound_count(((const kf_filter *)self)->est);
}

static int kf_budget(const void *self, size_t i, double *tau_max, const char **name)
{
    return dt_est_latency_budget(((const kf_filter *)self)->est, i, tau_max, name);
}

static size_t kf_violated(void *self, dt_time t)
{
    return dt_est_bounds_violated_at(((kf_filter *)self)->est, t);
}

static size_t kf_disputed(const void *self)
{
    return dt_est_disputed(((const kf_filter *)self)->est);
}

static int kf_fuse_reserve(void *self) { return dt_est_fuse_reserve(((kf_filter *)self)->est); }

static int kf_fuse(void *self, const dt_remote_belief *b, double *omega)
{
    return dt_est_fuse(((kf_filter *)self)->est, b, omega);
}

const dt_filter_ops dt__kf_filter_ops = {
    .abi = DT_FILTER_ABI,
    .kind = "kf",
    .instance_size = sizeof(kf_filter),
    .init = kf_init,
    .deinit = kf_deinit,
    .start = kf_start,
    .predict = kf_predict,
    .update = kf_update,
    .belief = kf_belief,
    .data_time = kf_data_time,
    .states = kf_states,
    .state = kf_state,
    .inputs = kf_inputs,
    .input_index = kf_input_index,
    .set_input = kf_set_input,
    .matrices = kf_matrices,
    .stats = kf_stats,
    .budgets = kf_budgets,
    .budget_count = kf_budget_count,
    .budget = kf_budget,
    .bounds_violated_at = kf_violated,
    .disputed = kf_disputed,
    .fuse_reserve = kf_fuse_reserve,
    .fuse = kf_fuse,
};
