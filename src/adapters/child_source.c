/* The "child" source: the belief of one child twin of a composite
 * (docs/model.md, "Composite twins"). The children share the parent's
 * thread and time base and step before it with the same now; at each of the
 * parent's polls this source reads its child's estimator and, when the
 * estimate changed since its last offer (its version) and has data behind
 * it, offers the group the mapping reads: the child's mean and covariance of
 * those states at the child's estimate time, with the child's own continuous
 * model (A, Q) of them so that the parent ages the belief to its own time. The twin layer
 * binds each child source to its child once the children are loaded
 * (dt__child_source_bind); nothing here allocates after open. */
#include <stdio.h>
#include <string.h>

#include "adapters_internal.h"
#include "child_source.h"

#define RN DT_REMOTE_STATES_MAX

static const char *const child_keys[] = {"child", "independent", "criterion", NULL};

typedef struct child_stats {
    uint64_t offered, unchanged, no_data, refused, model_changed;
} child_stats;

typedef struct childsrc {
    dt_source_ctx *ctx;
    int bound, have;
    uint64_t version; /* the child estimate's version last offered */
    dt__child_binding b;
    unsigned char in_group[DT_LA_MAX];
    double x[RN], P[RN * RN], A[RN * RN], Q[RN * RN];
    child_stats st;
} childsrc;

int dt__child_source_config(const dt_config *cfg, dt__child_cfg *out, char *err, size_t cap)
{
    const dt_config *v = dt_config_get(cfg, "child");
    const char *s = NULL;
    err[0] = '\0';
    if (v == NULL || dt_config_string(v, &s) != DT_OK || s == NULL || s[0] == '\0') {
        (void)snprintf(err, cap, "child: required, the id of one of the description's "
                                 "children");
        return DT_EPARSE;
    }
    if (dt_config_get(cfg, "clock") != NULL) {
        /* a clock would move the child's times off the parent's base */
        (void)snprintf(err, cap, "clock: a child source takes no clock: the children step with "
                                 "the parent's now, on its time base");
        return DT_EPARSE;
    }
    int indep = 0;
    v = dt_config_get(cfg, "independent");
    if (v != NULL && dt_config_bool(v, &indep) != DT_OK) {
        (void)snprintf(err, cap, "independent: expected true or false");
        return DT_EPARSE;
    }
    out->child = s;
    out->mode = indep ? DT_FUSE_INDEPENDENT : DT_FUSE_CI_TRACE;
    v = dt_config_get(cfg, "criterion");
    if (v != NULL) {
        const char *c = NULL;
        if (dt_config_string(v, &c) != DT_OK || c == NULL ||
            (strcmp(c, "trace") != 0 && strcmp(c, "det") != 0)) {
            (void)snprintf(err, cap, "criterion: \"trace\" or \"det\" (covariance "
                                     "intersection's weight minimises the fused covariance's "
                                     "trace or determinant)");
            return DT_EPARSE;
        }
        if (indep) {
            (void)snprintf(err, cap, "criterion: \"%s\" is for covariance intersection; with "
                                     "\"independent\": true the belief is an ordinary update",
                           c);
            return DT_EPARSE;
        }
        out->mode = strcmp(c, "det") == 0 ? DT_FUSE_CI_DET : DT_FUSE_CI_TRACE;
    }
    return DT_OK;
}

static int check(dt_source_ctx *ctx, const dt_config *cfg)
{
    dt__child_cfg cc;
    char err[200];
    int rc = dt__child_source_config(cfg, &cc, err, sizeof err);
    if (rc != DT_OK)
        dt_source_error(ctx, "%s", err);
    return rc;
}

static int child_validate(dt_source_ctx *ctx, const dt_config *cfg) { return check(ctx, cfg); }

static int child_open(void *self, dt_source_ctx *ctx, const dt_config *cfg)
{
    childsrc *s = self;
    s->ctx = ctx;
    int rc = check(ctx, cfg);
    /* it pushes no samples: it never holds the parent's watermark */
    return rc == DT_OK ? dt_source_reserve_beliefs(ctx, DT_SOURCE_BELIEFS_ONLY) : rc;
}

int dt__child_source_is(const dt_io *io, size_t i)
{
    const dt_source_ops *ops = dt__io_source_ops(io, i);
    return ops != NULL && ops->open == child_open; /* the registry keeps a copy of the table */
}

int dt__child_source_bind(dt_io *io, size_t i, const dt__child_binding *b)
{
    if (!dt__child_source_is(io, i) || b->n < 1 || b->n > RN || b->m < 1 ||
        b->m > DT_REMOTE_MAPPED_MAX)
        return DT_EINVAL;
    childsrc *s = dt_io_source_instance(io, i);
    s->b = *b;
    memset(s->in_group, 0, sizeof s->in_group);
    for (size_t k = 0; k < b->n; k++)
        if (b->state[k] < DT_LA_MAX)
            s->in_group[b->state[k]] = 1;
    s->bound = 1;
    return DT_OK;
}

/* The group's rows of A still reach no state outside it (a host may set
 * another continuous model on the child's filter after loading). */
static int closed(const childsrc *s, const double *A, size_t N)
{
    for (size_t k = 0; k < s->b.n; k++)
        for (size_t j = 0; j < N; j++)
            if (!s->in_group[j] && A[s->b.state[k] * N + j] != 0)
                return 0;
    return 1;
}

static int child_poll(void *self, dt_time now)
{
    childsrc *s = self;
    if (!s->bound)
        return DT_OK;
    if (dt_est_data_time(s->b.est) == DT_TIME_MIN) {
        /* the child's prior (x0, P0) is not data: offered, it would pass
         * for fresh information in the parent's latency rule */
        s->st.no_data++;
        return DT_OK;
    }
    uint64_t v = dt_est_version(s->b.est);
    if (s->have && v == s->version) {
        s->st.unchanged++;
        return DT_OK;
    }
    s->have = 1;
    s->version = v;
    dt_kf *kf = dt_est_kf(s->b.est);
    const double *x = dt_kf_state(kf), *P = dt_kf_cov(kf);
    const double *A = dt_kf_model_A(kf), *Q = dt_kf_model_Q(kf);
    size_t N = dt_kf_dim(kf), n = s->b.n;
    if (A == NULL || Q == NULL || !closed(s, A, N)) {
        if (s->st.model_changed++ == 0)
            dt_source_log(s->ctx, DT_LOG_ERROR,
                          "the child's model no longer keeps the mapped states apart from the "
                          "others (or is no longer continuous): its beliefs are not offered");
        return DT_OK;
    }
    for (size_t a = 0; a < n; a++) {
        size_t ia = s->b.state[a];
        s->x[a] = x[ia];
        for (size_t c = 0; c < n; c++) {
            size_t ic = s->b.state[c];
            s->P[a * n + c] = P[ia * N + ic];
            s->A[a * n + c] = A[ia * N + ic];
            s->Q[a * n + c] = Q[ia * N + ic];
        }
    }
    /* the estimate's time is on the parent's base: the source's clock is the
     * identity (no clock may be given) */
    dt_time te = dt_est_time(s->b.est), td = dt_est_data_time(s->b.est);
    dt_remote_belief b = {n,          s->x,      s->P,   s->A,        s->Q,
                          te,         s->b.m,    s->b.index, s->b.signal, s->b.scale,
                          s->b.offset, s->b.mode, td < te ? td : te, 0};
    if (dt_source_offer_belief(s->ctx, &b, now) == DT_OK) {
        s->st.offered++;
    } else {
        s->st.refused++;
        dt_source_count(s->ctx, DT_EV_REFUSED, 1);
    }
    return DT_OK;
}

static size_t child_counters(const void *self, dt_counter *out, size_t max)
{
    const childsrc *s = self;
    const dt_counter c[] = {
        {"beliefs_offered", s->st.offered},
        {"unchanged", s->st.unchanged},
        {"no_data", s->st.no_data},
        {"refused", s->st.refused},
        {"model_changed", s->st.model_changed},
    };
    return dt__counters_copy(out, max, c, sizeof c / sizeof c[0]);
}

const dt_source_ops dt__child_source_ops = {
    .abi = DT_SOURCE_ABI,
    .kind = "child",
    .instance_size = sizeof(childsrc),
    .keys = child_keys,
    .open = child_open,
    .poll = child_poll,
    .validate = child_validate,
    .counters = child_counters,
};
