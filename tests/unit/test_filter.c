/* The filter interface: an out-of-tree filter (a scalar alpha-beta tracker,
 * written here against the public headers only) plugged into a twin from
 * its description, read by a controller, under the dispatcher's latency
 * rule; the registry's checks of a filter table; and an MPC-shaped
 * controller (finite-horizon LQR) over the built-in KF's whole belief, its
 * command checked against one computed here from independent reads. */
#include <math.h>
#include <string.h>

#include "test_util.h"

#include "alloc_counter.h"
#include "dtwin/dtwin.h"

/* ---- an alpha-beta filter, as a host would write it ---- */

typedef struct ab_filter {
    dt_signal_id x_sig, z_sig;
    double alpha, beta, var;
    double x, v;
    dt_time t, t_data;
    uint64_t updates;
} ab_filter;

static int ab_number(const dt_config *cfg, const char *key, double lo, double hi, double *out,
                     dt_diag *diag)
{
    if (dt_config_number(dt_config_get(cfg, key), out) != DT_OK || !(*out >= lo && *out <= hi)) {
        snprintf(diag->path, sizeof diag->path, "estimator.%s", key);
        snprintf(diag->message, sizeof diag->message, "estimator.%s: a number in [%g, %g]", key,
                 lo, hi);
        diag->code = DT_EPARSE;
        return DT_EPARSE;
    }
    return DT_OK;
}

static int ab_signal(const dt_filter_env *env, const dt_config *cfg, const char *key,
                     dt_signal_id *out, dt_diag *diag)
{
    const char *s = NULL;
    if (dt_config_string(dt_config_get(cfg, key), &s) != DT_OK ||
        dt_model_find_signal(env->model, s, out) != DT_OK) {
        snprintf(diag->path, sizeof diag->path, "estimator.%s", key);
        snprintf(diag->message, sizeof diag->message, "estimator.%s: unknown signal \"%s\"", key,
                 s ? s : "");
        diag->code = DT_EPARSE;
        return DT_EPARSE;
    }
    return DT_OK;
}

static int ab_init(void *self, const dt_filter_env *env, const dt_config *cfg, dt_diag *diag)
{
    ab_filter *f = self;
    int rc = ab_signal(env, cfg, "signal", &f->x_sig, diag);
    if (rc == DT_OK)
        rc = ab_signal(env, cfg, "measurement", &f->z_sig, diag);
    if (rc == DT_OK)
        rc = ab_number(cfg, "alpha", 1e-6, 1, &f->alpha, diag);
    if (rc == DT_OK)
        rc = ab_number(cfg, "beta", 0, 2, &f->beta, diag);
    if (rc == DT_OK)
        rc = ab_number(cfg, "variance", 0, 1e6, &f->var, diag);
    return rc;
}

static int ab_start(void *self, dt_time t0, dt_diag *diag)
{
    (void)diag;
    ab_filter *f = self;
    f->t = t0;
    f->t_data = DT_TIME_MIN;
    return DT_OK;
}

static int ab_predict(void *self, dt_time t)
{
    ab_filter *f = self;
    if (t > f->t) {
        f->x += f->v * dt_time_to_sec(t - f->t);
        f->t = t;
    }
    return DT_OK;
}

static int ab_update(void *self, const dt_sample *s)
{
    ab_filter *f = self;
    if (s->signal != f->z_sig)
        return DT_ENOTFOUND;
    if (s->t_source < f->t)
        return DT_ESTALE;
    double h = f->t_data == DT_TIME_MIN ? 0 : dt_time_to_sec(s->t_source - f->t_data);
    ab_predict(f, s->t_source);
    double r = s->value - f->x;
    f->x += f->alpha * r;
    if (h > 0)
        f->v += f->beta / h * r;
    f->t_data = s->t_source;
    f->updates++;
    return DT_OK;
}

static int ab_belief(void *self, dt_signal_id sig, dt_time t, dt_belief *out)
{
    ab_filter *f = self;
    if (sig != f->x_sig)
        return DT_ENOTFOUND;
    out->value = f->x + (t > f->t ? f->v * dt_time_to_sec(t - f->t) : 0);
    out->variance = f->var;
    out->t_estimate = f->t;
    out->t_data = f->t_data;
    out->age = f->t_data == DT_TIME_MIN ? DT_TIME_MAX : t - f->t_data;
    out->version = f->updates;
    return DT_OK;
}

static dt_time ab_data_time(const void *self) { return ((const ab_filter *)self)->t_data; }

static size_t ab_states(const void *self, dt_signal_id *ids, size_t cap)
{
    if (ids != NULL && cap >= 1)
        ids[0] = ((const ab_filter *)self)->x_sig;
    return 1;
}

static int ab_state(void *self, dt_time t, double *x, double *P)
{
    ab_filter *f = self;
    dt_belief b;
    (void)ab_belief(f, f->x_sig, t, &b);
    x[0] = b.value;
    if (P != NULL)
        P[0] = b.variance;
    return DT_OK;
}

static size_t ab_count(const void *self)
{
    (void)self;
    return 1;
}

static void ab_stats(const void *self, dt_est_stats *out)
{
    out->updates = ((const ab_filter *)self)->updates;
}

/* no budget slots, no health hooks, no matrices: the defaults */
static const dt_filter_ops ab_ops = {
    .abi = DT_FILTER_ABI,
    .kind = "alpha_beta",
    .instance_size = sizeof(ab_filter),
    .init = ab_init,
    .start = ab_start,
    .predict = ab_predict,
    .update = ab_update,
    .belief = ab_belief,
    .data_time = ab_data_time,
    .states = ab_states,
    .state = ab_state,
    .stats = ab_stats,
};

#define AB_DOC_HEAD                                                                           \
    "{\"dtwin\":1,\"name\":\"ab\",\"assets\":[{\"id\":\"cart\"}],\"signals\":["              \
    "{\"id\":\"z\",\"asset\":\"cart\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":"      \
    "\"measured\",\"period\":0.01,\"noise\":{\"std\":0.1}},"                                  \
    "{\"id\":\"x\",\"asset\":\"cart\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":"      \
    "\"estimated\"},"                                                                         \
    "{\"id\":\"u\",\"asset\":\"cart\",\"quantity\":\"velocity\",\"unit\":\"m/s\",\"role\":"  \
    "\"commanded\",\"limits\":{\"min\":-100,\"max\":100}}],"                                  \
    "\"sources\":[{\"id\":\"s\",\"kind\":\"memory\",\"mapping\":[{\"native\":\"z\","          \
    "\"signal\":\"z\"}]}],"                                                                   \
    "\"sinks\":[{\"id\":\"a\",\"kind\":\"memory\",\"capacity\":16,\"mapping\":[{\"native\":"  \
    "\"u\",\"signal\":\"u\"}]}],"

static const char ab_doc[] = AB_DOC_HEAD
    "\"estimator\":{\"kind\":\"alpha_beta\",\"signal\":\"x\",\"measurement\":\"z\","
    "\"alpha\":0.5,\"beta\":0.1,\"variance\":0.01},"
    "\"controllers\":[{\"id\":\"host\",\"kind\":\"callback\"}],"
    "\"dispatcher\":{\"max_data_age\":0.05,\"safe\":{\"u\":0}},"
    "\"loop\":{\"period\":0.01}}";

static const char ab_doc_no_age[] = AB_DOC_HEAD
    "\"estimator\":{\"kind\":\"alpha_beta\",\"signal\":\"x\",\"measurement\":\"z\","
    "\"alpha\":0.5,\"beta\":0.1,\"variance\":0.01},"
    "\"controllers\":[{\"id\":\"host\",\"kind\":\"callback\"}],"
    "\"dispatcher\":{\"safe\":{\"u\":0}},"
    "\"loop\":{\"period\":0.01}}";

static const char unknown_kind_doc[] = AB_DOC_HEAD
    "\"estimator\":{\"kind\":\"particle\",\"signal\":\"x\"},"
    "\"dispatcher\":{\"max_data_age\":0.05,\"safe\":{\"u\":0}},"
    "\"loop\":{\"period\":0.01}}";

static const char bad_kind_doc[] = AB_DOC_HEAD
    "\"estimator\":{\"kind\":7,\"signal\":\"x\"},"
    "\"dispatcher\":{\"max_data_age\":0.05,\"safe\":{\"u\":0}},"
    "\"loop\":{\"period\":0.01}}";

/* The controller: u = -2 x, from the belief vector (and checks that the
 * value accessor agrees with it). */
typedef struct p_ctrl {
    dt_signal_id x, u;
    int calls, belief_rc, matrices_rc;
    size_t n;
    double x_seen, P_seen, value_seen;
} p_ctrl;

static int p_compute(void *user, dt_ctrl_ctx *ctx)
{
    p_ctrl *c = user;
    c->calls++;
    dt_signal_id ids[4];
    c->n = dt_ctrl_state_signals(ctx, ids, 4);
    double x[1], P[1], A[1];
    int discrete = -1;
    c->belief_rc = dt_ctrl_belief(ctx, x, P, 1);
    c->matrices_rc = dt_ctrl_model_matrices(ctx, A, NULL, 1, 0, &discrete);
    if (c->belief_rc != DT_OK || c->n != 1 || ids[0] != c->x)
        return DT_EINVAL;
    c->x_seen = x[0];
    c->P_seen = P[0];
    if (dt_ctrl_value(ctx, c->x, &c->value_seen) != DT_OK)
        return DT_EINVAL;
    return dt_ctrl_command(ctx, c->u, -2.0 * x[0]);
}

/* Belief events of a filter kind other than "kf": from its state slot. */
typedef struct ab_seen {
    uint64_t beliefs, enters, version;
    double x;
    int null_state;
} ab_seen;

static void ab_on_event(void *user, const dt_event *ev)
{
    ab_seen *s = user;
    if (ev->kind == DT_EVENT_SAFE_ENTER)
        s->enters++;
    if (ev->kind != DT_EVENT_BELIEF)
        return;
    s->beliefs++;
    s->version = ev->u.belief.version;
    s->null_state += ev->u.belief.x == NULL || ev->u.belief.P == NULL || ev->u.belief.n != 1;
    if (ev->u.belief.x != NULL)
        s->x = ev->u.belief.x[0];
}

static dt_registry *ab_registry(void)
{
    dt_registry *reg;
    assert_int_equal(dt_registry_create(NULL, &reg), DT_OK);
    assert_int_equal(dt_registry_add_filter(reg, &ab_ops), DT_OK);
    return reg;
}

static void test_alpha_beta_twin(void **state)
{
    (void)state;
    dtt_counter cnt = {0};
    dt_allocator al = dtt_allocator(&cnt);
    dt_registry *reg = ab_registry();
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    o.registry = reg;
    o.allocator = &al;
    dt_twin *t;
    dt_diag d;
    int rc = dt_twin_load_json(ab_doc, strlen(ab_doc), &o, &t, &d);
    if (rc)
        print_error("%s\n", d.message);
    assert_int_equal(rc, DT_OK);
    /* not a Kalman twin: no dt_est */
    assert_null(dt_twin_estimator(t));
    p_ctrl c = {0};
    assert_int_equal(dt_model_find_signal(dt_twin_model(t), "x", &c.x), DT_OK);
    assert_int_equal(dt_model_find_signal(dt_twin_model(t), "u", &c.u), DT_OK);
    assert_int_equal(dt_twin_set_callback(t, "host", p_compute, &c), DT_OK);
    ab_seen seen = {0};
    dt_observer obs = DT_OBSERVER_INIT;
    obs.mask = DT_EVENT_BIT(DT_EVENT_BELIEF) | DT_EVENT_BIT(DT_EVENT_SAFE_ENTER);
    obs.on_event = ab_on_event;
    obs.user = &seen;
    assert_int_equal(dt_twin_observe(t, &obs), DT_OK);
    assert_int_equal(dt_twin_start(t, 0), DT_OK);
    long live = cnt.live, calls = cnt.calls;
    dt_io *io = dt_twin_io(t);
    /* a ramp z = 0.5 t: the tracker follows it; the same recursion here */
    double x = 0, v = 0;
    dt_time t_data = DT_TIME_MIN;
    for (int k = 1; k <= 100; k++) {
        dt_time now = (dt_time)k * 10 * DT_NS_PER_MS;
        double z = 0.5 * dt_time_to_sec(now);
        assert_int_equal(dt_memory_source_push(io, 0, "z", now, z), DT_OK);
        assert_int_equal(dt_twin_step(t, now), DT_OK);
        if (t_data != DT_TIME_MIN) {
            double h = dt_time_to_sec(now - t_data);
            x += v * h;
            double r = z - x;
            x += 0.5 * r;
            v += 0.1 / h * r;
        } else {
            x += 0.5 * (z - x);
        }
        t_data = now;
        dt_command cmd[16];
        size_t n = dt_memory_sink_read(io, 0, cmd, 16);
        assert_int_equal(n, 1);
        assert_close(c.x_seen, x, 1e-12, 1e-15);
        assert_close(c.value_seen, x, 1e-12, 1e-15);
        assert_close(c.P_seen, 0.01, 0, 0);
        assert_close(cmd[0].value, -2.0 * x, 1e-12, 1e-15);
        /* the observer saw this update's belief, at the sample's time */
        assert_int_equal(seen.beliefs, (uint64_t)k);
        assert_int_equal(seen.version, (uint64_t)k);
        assert_close(seen.x, x, 1e-12, 1e-15);
    }
    assert_int_equal(seen.null_state, 0);
    assert_int_equal(c.calls, 100);
    assert_int_equal(c.matrices_rc, DT_EUNSUPPORTED); /* the filter has no matrices */
    assert_close(x, 0.5, 0.01, 0);                    /* it tracks the ramp */
    dt_twin_stats st;
    dt_twin_stats_get(t, &st);
    assert_int_equal(st.estimator.updates, 100);
    assert_int_equal(st.safe_state, 0);
    /* no budget slot: the data-age limit is dispatcher.max_data_age */
    assert_close(st.tau_max_s, 0.05, 0, 0);
    /* the sensor falls silent: past 0.05 s the safe state holds u = 0 */
    int safe_at = 0;
    for (int k = 101; k <= 110; k++) {
        dt_time now = (dt_time)k * 10 * DT_NS_PER_MS;
        assert_int_equal(dt_twin_step(t, now), DT_OK);
        dt_twin_stats_get(t, &st);
        if (st.safe_state && safe_at == 0)
            safe_at = k;
        dt_command cmd[16];
        size_t n = dt_memory_sink_read(io, 0, cmd, 16);
        if (st.safe_state) {
            assert_true(n >= 1);
            assert_close(cmd[n - 1].value, 0.0, 0, 0);
        }
    }
    /* age 0.06 s > 0.05 s at k = 106 (the newest data is from k = 100) */
    assert_int_equal(safe_at, 106);
    assert_int_equal(seen.enters, 1);
    assert_int_equal(seen.beliefs, 100);
    assert_int_equal(cnt.live, live); /* the steady state allocates nothing */
    assert_int_equal(cnt.calls, calls);
    dt_twin_destroy(t);
    dt_registry_destroy(reg);
    assert_int_equal(cnt.live, 0);
}

static void load_fails(const char *doc, const char *path, const char *const *words)
{
    dt_registry *reg = ab_registry();
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    o.registry = reg;
    dt_twin *t = NULL;
    dt_diag d;
    int rc = dt_twin_load_json(doc, strlen(doc), &o, &t, &d);
    assert_int_equal(rc, DT_EPARSE);
    assert_null(t);
    assert_string_equal(d.path, path);
    for (size_t i = 0; words[i] != NULL; i++)
        if (strstr(d.message, words[i]) == NULL)
            fail_msg("\"%s\" not in: %s", words[i], d.message);
    dt_registry_destroy(reg);
}

/* a filter without a budget: the twin refuses to dispatch without max_data_age */
static void test_alpha_beta_needs_max_data_age(void **state)
{
    (void)state;
    const char *words[] = {"dispatcher.max_data_age", "required", "\"u\"", NULL};
    load_fails(ab_doc_no_age, "dispatcher.max_data_age", words);
}

static void test_unknown_filter_kind(void **state)
{
    (void)state;
    const char *words[] = {"estimator.kind", "\"particle\"", "kf", "alpha_beta", NULL};
    load_fails(unknown_kind_doc, "estimator.kind", words);
    const char *words2[] = {"estimator.kind", "string", NULL};
    load_fails(bad_kind_doc, "estimator.kind", words2);
}

static void test_filter_init_error(void **state)
{
    (void)state;
    char doc[sizeof ab_doc + 16];
    const char *at = strstr(ab_doc, "\"alpha\":0.5");
    snprintf(doc, sizeof doc, "%.*s\"alpha\":5%s", (int)(at - ab_doc), ab_doc, at + 11);
    const char *words[] = {"estimator.alpha", NULL};
    load_fails(doc, "estimator.alpha", words);
}

/* dt_est_create_json builds only the Kalman filter: another kind's section is
 * refused by its kind, not by the keys it does not know */
static void test_est_json_other_kind(void **state)
{
    (void)state;
    dt_model *m;
    dt_diag d;
    assert_int_equal(dt_model_load_json(ab_doc, strlen(ab_doc), NULL, &m, &d), DT_OK);
    dt_est *est = NULL;
    assert_int_equal(dt_est_create_json(m, NULL, &est, &d), DT_EPARSE);
    assert_null(est);
    assert_string_equal(d.path, "estimator.kind");
    assert_non_null(strstr(d.message, "\"alpha_beta\" is not the built-in Kalman filter"));
    dt_model_destroy(m);
}

static void test_registry_filter_checks(void **state)
{
    (void)state;
    dt_registry *reg;
    assert_int_equal(dt_registry_create(NULL, &reg), DT_OK);
    const dt_filter_ops *kf = dt_registry_filter(reg, "kf");
    assert_non_null(kf); /* built in */
    assert_null(dt_registry_filter(reg, "alpha_beta"));
    dt_filter_ops o = ab_ops;
    o.abi = 0;
    assert_int_equal(dt_registry_add_filter(reg, &o), DT_EABI);
    o.abi = DT_FILTER_ABI + 1;
    assert_int_equal(dt_registry_add_filter(reg, &o), DT_EABI);
    o = ab_ops;
    o.update = NULL;
    assert_int_equal(dt_registry_add_filter(reg, &o), DT_EINVAL);
    o = ab_ops;
    o.instance_size = 0;
    assert_int_equal(dt_registry_add_filter(reg, &o), DT_EINVAL);
    o = ab_ops;
    o.budget_count = ab_count; /* a count without the budget slot */
    assert_int_equal(dt_registry_add_filter(reg, &o), DT_EINVAL);
    o = ab_ops;
    o.kind = "kf";
    assert_int_equal(dt_registry_add_filter(reg, &o), DT_EEXIST);
    assert_int_equal(dt_registry_add_filter(NULL, &ab_ops), DT_EINVAL);
    assert_int_equal(dt_registry_add_filter(reg, &ab_ops), DT_OK);
    /* the registry's copy has every optional slot filled */
    const dt_filter_ops *c = dt_registry_filter(reg, "alpha_beta");
    assert_non_null(c);
    assert_ptr_not_equal(c, &ab_ops);
    assert_non_null(c->deinit);
    assert_non_null(c->disputed);
    assert_non_null(c->bounds_violated_at);
    assert_non_null(c->budget_count);
    assert_non_null(c->matrices);
    assert_int_equal(c->budget_count(NULL), 0);
    assert_int_equal(c->disputed(NULL), 0);
    assert_int_equal(c->input_index(NULL, 0), -1);
    dt_registry_destroy(reg);
}

/* ---- an MPC-shaped controller over the KF's whole belief ---- */

/* A cart: position and velocity, force input; position measured. */
static const char mpc_doc[] =
    "{\"dtwin\":1,\"name\":\"cart\",\"assets\":[{\"id\":\"cart\"}],\"signals\":["
    "{\"id\":\"y\",\"asset\":\"cart\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":"
    "\"measured\",\"period\":0.01,\"noise\":{\"std\":0.05}},"
    "{\"id\":\"pos\",\"asset\":\"cart\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":"
    "\"estimated\"},"
    "{\"id\":\"vel\",\"asset\":\"cart\",\"quantity\":\"velocity\",\"unit\":\"m/s\",\"role\":"
    "\"estimated\"},"
    "{\"id\":\"f\",\"asset\":\"cart\",\"quantity\":\"acceleration\",\"unit\":\"m/s2\","
    "\"role\":\"commanded\",\"limits\":{\"min\":-1000,\"max\":1000}}],"
    "\"sources\":[{\"id\":\"s\",\"kind\":\"memory\",\"mapping\":[{\"native\":\"y\","
    "\"signal\":\"y\"}]}],"
    "\"sinks\":[{\"id\":\"a\",\"kind\":\"memory\",\"capacity\":16,\"mapping\":[{\"native\":"
    "\"f\",\"signal\":\"f\"}]}],"
    "\"estimator\":{\"kind\":\"kf\",\"states\":[\"vel\",\"pos\"],\"inputs\":[\"f\"],"
    "\"A\":[[0,0],[1,0]],\"B\":[[1],[0]],\"Q\":[0.01,0.0001],\"x0\":[0,0],\"P0\":[1,1],"
    "\"measurements\":[{\"signal\":\"y\",\"H\":{\"pos\":1}}]},"
    "\"controllers\":[{\"id\":\"mpc\",\"kind\":\"callback\"}],"
    "\"dispatcher\":{\"max_data_age\":1,\"safe\":{\"f\":0}},"
    "\"loop\":{\"period\":0.01}}";

#define NX 2
#define HORIZON 20
#define STEP 0.1 /* the controller's prediction step, s */
static const double QX[NX] = {0.1, 1.0}; /* state weights, in the belief's order */
static const double RU = 0.5;

/* The first gain of a finite-horizon LQR over (Ad, Bd), one input:
 * S_N = Qx; K_k = (R + B'SB)^-1 B'SA; S = Qx + A'S(A - B K). */
static void lqr_gain(const double *Ad, const double *Bd, double *K)
{
    double S[NX * NX] = {0};
    for (int i = 0; i < NX; i++)
        S[i * NX + i] = QX[i];
    for (int k = 0; k < HORIZON; k++) {
        double SB[NX], SA[NX * NX], den = RU;
        for (int i = 0; i < NX; i++) {
            SB[i] = 0;
            for (int j = 0; j < NX; j++)
                SB[i] += S[i * NX + j] * Bd[j];
        }
        for (int i = 0; i < NX; i++)
            den += Bd[i] * SB[i];
        for (int j = 0; j < NX; j++) {
            K[j] = 0;
            for (int i = 0; i < NX; i++)
                K[j] += SB[i] * Ad[i * NX + j];
            K[j] /= den;
        }
        for (int i = 0; i < NX; i++)
            for (int j = 0; j < NX; j++) {
                double s = 0;
                for (int l = 0; l < NX; l++)
                    s += S[i * NX + l] * (Ad[l * NX + j] - Bd[l] * K[j]);
                SA[i * NX + j] = s;
            }
        double Sn[NX * NX];
        for (int i = 0; i < NX; i++)
            for (int j = 0; j < NX; j++) {
                double s = i == j ? QX[i] : 0;
                for (int l = 0; l < NX; l++)
                    s += Ad[l * NX + i] * SA[l * NX + j];
                Sn[i * NX + j] = s;
            }
        memcpy(S, Sn, sizeof S);
    }
}

typedef struct mpc_ctrl {
    dt_signal_id f;
    int calls, rc;
    double u;
} mpc_ctrl;

/* The controller, from the public API only: the belief vector x, its
 * covariance P, and the continuous A, B, discretized over STEP by their
 * series (exact for this nilpotent A); a cautious gain: the LQR command
 * shrunk by 1 / (1 + tr P). */
static int mpc_compute(void *user, dt_ctrl_ctx *ctx)
{
    mpc_ctrl *m = user;
    m->calls++;
    dt_signal_id st[NX], in[1];
    if (dt_ctrl_state_signals(ctx, st, NX) != NX || dt_ctrl_input_signals(ctx, in, 1) != 1 ||
        in[0] != m->f)
        return m->rc = DT_EINVAL;
    double x[NX], P[NX * NX], A[NX * NX], B[NX];
    int discrete = -1;
    if ((m->rc = dt_ctrl_belief(ctx, x, P, NX)) != DT_OK ||
        (m->rc = dt_ctrl_model_matrices(ctx, A, B, NX, 1, &discrete)) != DT_OK)
        return m->rc;
    if (discrete != 0)
        return m->rc = DT_EINVAL;
    /* Ad = sum (A h)^k / k!, Bd = sum A^k h^(k+1) / (k+1)! B, to order 8 */
    double Ad[NX * NX] = {1, 0, 0, 1}, Bd[NX] = {0, 0}, term[NX * NX] = {1, 0, 0, 1};
    for (int k = 0; k <= 8; k++) {
        double c = STEP / (k + 1); /* term = A^k h^k / k!: its Bd part */
        for (int i = 0; i < NX; i++)
            for (int j = 0; j < NX; j++)
                Bd[i] += term[i * NX + j] * c * B[j];
        double next[NX * NX];
        for (int i = 0; i < NX; i++)
            for (int j = 0; j < NX; j++) {
                double s = 0;
                for (int l = 0; l < NX; l++)
                    s += term[i * NX + l] * A[l * NX + j];
                next[i * NX + j] = s * c;
            }
        memcpy(term, next, sizeof term);
        for (int i = 0; i < NX * NX; i++)
            Ad[i] += term[i];
    }
    double K[NX];
    lqr_gain(Ad, Bd, K);
    double u = 0, tr = 0;
    for (int i = 0; i < NX; i++) {
        u -= K[i] * x[i];
        tr += P[i * NX + i];
    }
    m->u = u / (1 + tr);
    return m->rc = dt_ctrl_command(ctx, m->f, m->u);
}

static void test_mpc_over_kf_belief(void **state)
{
    (void)state;
    dtt_counter cnt = {0};
    dt_allocator al = dtt_allocator(&cnt);
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    o.allocator = &al;
    dt_twin *t;
    dt_diag d;
    int rc = dt_twin_load_json(mpc_doc, strlen(mpc_doc), &o, &t, &d);
    if (rc)
        print_error("%s\n", d.message);
    assert_int_equal(rc, DT_OK);
    dt_est *est = dt_twin_estimator(t); /* a "kf" twin keeps its dt_est */
    assert_non_null(est);
    const dt_model *model = dt_twin_model(t);
    mpc_ctrl m = {0};
    dt_signal_id pos, vel;
    assert_int_equal(dt_model_find_signal(model, "f", &m.f), DT_OK);
    assert_int_equal(dt_model_find_signal(model, "pos", &pos), DT_OK);
    assert_int_equal(dt_model_find_signal(model, "vel", &vel), DT_OK);
    assert_int_equal(dt_twin_set_callback(t, "mpc", mpc_compute, &m), DT_OK);
    assert_int_equal(dt_twin_start(t, 0), DT_OK);
    long live = cnt.live, calls = cnt.calls;
    dt_io *io = dt_twin_io(t);
    /* the independent reference: the exact discretization of the cart over
     * STEP, written out by hand, in the belief's order (vel, pos) */
    const double Ad[NX * NX] = {1, 0, STEP, 1};
    const double Bd[NX] = {STEP, STEP * STEP / 2};
    double K[NX];
    lqr_gain(Ad, Bd, K);
    double p = 1.0, v = 0, u = 0;
    for (int k = 1; k <= 200; k++) {
        dt_time now = (dt_time)k * 10 * DT_NS_PER_MS;
        p += 0.01 * v + 0.00005 * u;
        v += 0.01 * u;
        double noise = 0.01 * sin(0.7 * k);
        assert_int_equal(dt_memory_source_push(io, 0, "y", now, p + noise), DT_OK);
        assert_int_equal(dt_twin_step(t, now), DT_OK);
        assert_int_equal(m.rc, DT_OK);
        dt_command cmd[16];
        size_t n = dt_memory_sink_read(io, 0, cmd, 16);
        assert_int_equal(n, 1);
        /* the belief read through the estimator's own API */
        dt_belief bv, bp;
        assert_int_equal(dt_est_belief(est, vel, now, &bv), DT_OK);
        assert_int_equal(dt_est_belief(est, pos, now, &bp), DT_OK);
        double want = -(K[0] * bv.value + K[1] * bp.value) / (1 + bv.variance + bp.variance);
        assert_close(m.u, want, 1e-9, 1e-12);
        assert_close(cmd[0].value, want, 1e-9, 1e-12);
        u = cmd[0].value;
    }
    assert_int_equal(m.calls, 200);
    assert_true(fabs(p) < 1.0); /* the loop pulls the cart towards 0 */
    assert_int_equal(cnt.live, live);
    assert_int_equal(cnt.calls, calls);
    dt_twin_destroy(t);
    assert_int_equal(cnt.live, 0);
}

/* dt_ctrl_* accessors on wrong sizes */
static int size_probe(void *user, dt_ctrl_ctx *ctx)
{
    int *bad = user;
    double x[4], P[16], A[16], B[4];
    int disc;
    *bad = 0;
    *bad += dt_ctrl_belief(ctx, x, P, 3) == DT_EINVAL;
    *bad += dt_ctrl_belief(ctx, NULL, P, 2) == DT_EINVAL;
    *bad += dt_ctrl_belief(ctx, x, NULL, 2) == DT_OK; /* P not wanted */
    *bad += dt_ctrl_model_matrices(ctx, A, B, 2, 2, &disc) == DT_EINVAL;
    *bad += dt_ctrl_model_matrices(ctx, A, NULL, 2, 1, &disc) == DT_EINVAL;
    *bad += dt_ctrl_state_signals(ctx, NULL, 0) == 2;
    *bad += dt_ctrl_state_signals(NULL, NULL, 0) == 0;
    return DT_OK;
}

static void test_ctrl_accessor_checks(void **state)
{
    (void)state;
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_twin *t;
    dt_diag d;
    assert_int_equal(dt_twin_load_json(mpc_doc, strlen(mpc_doc), &o, &t, &d), DT_OK);
    int ok = -1;
    assert_int_equal(dt_twin_set_callback(t, "mpc", size_probe, &ok), DT_OK);
    assert_int_equal(dt_twin_start(t, 0), DT_OK);
    assert_int_equal(dt_twin_step(t, DT_NS_PER_MS), DT_OK);
    assert_int_equal(ok, 7);
    dt_twin_destroy(t);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alpha_beta_twin),
        cmocka_unit_test(test_alpha_beta_needs_max_data_age),
        cmocka_unit_test(test_unknown_filter_kind),
        cmocka_unit_test(test_filter_init_error),
        cmocka_unit_test(test_est_json_other_kind),
        cmocka_unit_test(test_registry_filter_checks),
        cmocka_unit_test(test_mpc_over_kf_belief),
        cmocka_unit_test(test_ctrl_accessor_checks),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
