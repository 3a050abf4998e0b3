/* Remote beliefs fused into a twin's estimate (dt_est_fuse, and the path a
 * source takes: dt_source_offer_belief, the twin's step, the flight log).
 * References are computed independently: the sender's own prediction by a
 * separate Kalman filter (dt_kf_peek: Van Loan on the sender's model), the
 * scalar update by its textbook formula, CI by dt_ci_update on the
 * predicted estimate. Tolerances stated at each check. */
#include <float.h>
#include <stdint.h>
#include <stdlib.h>

#include "alloc_counter.h"
#include "membuf.h"
#include "test_util.h"

#include "dtwin/dtwin.h"

/* The reader: position measured (noise std 0.1), estimated with velocity. */
static const char reader_doc[] =
    "{\"dtwin\":1,\"name\":\"reader\",\"assets\":[{\"id\":\"a\"}],\"signals\":["
    "{\"id\":\"pos\",\"asset\":\"a\",\"quantity\":\"length\",\"unit\":\"m\","
    " \"role\":\"measured\",\"noise\":{\"std\":0.1}},"
    "{\"id\":\"pos_est\",\"asset\":\"a\",\"quantity\":\"length\",\"unit\":\"m\","
    " \"role\":\"estimated\"},"
    "{\"id\":\"vel_est\",\"asset\":\"a\",\"quantity\":\"velocity\",\"unit\":\"m/s\","
    " \"role\":\"estimated\"}],"
    "\"sources\":[{\"id\":\"local\",\"kind\":\"memory\",\"timeout\":100,"
    "  \"mapping\":[{\"native\":\"pos\",\"signal\":\"pos\"}]}%s],"
    "\"estimator\":{\"states\":[\"pos_est\",\"vel_est\"],"
    " \"A\":[[0,1],[0,-0.5]],\"Q\":[[1e-4,0],[0,0.01]],"
    " \"x0\":[1,0],\"P0\":[[1,0],[0,1]],"
    " \"measurements\":[{\"signal\":\"pos\",\"H\":{\"pos_est\":1}}]}}";

/* The sender's group: position and velocity under its own model. */
static const double SA[4] = {0, 1, 0, -0.2}, SQ[4] = {1e-3, 0, 0, 0.05};
static const double SX[2] = {1.3, 0.4}, SP[4] = {0.02, 0.003, 0.003, 0.01};

static dt_twin *reader(const char *extra, dt_registry *reg, const dt_allocator *a)
{
    char doc[4096];
    snprintf(doc, sizeof doc, reader_doc, extra);
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    o.registry = reg;
    o.allocator = a;
    dt_twin *t = NULL;
    dt_diag d;
    int rc = dt_twin_load_json(doc, strlen(doc), &o, &t, &d);
    if (rc != 0)
        fail_msg("load: %s at %s", d.message, d.path);
    return t;
}

static dt_remote_belief belief(dt_time t, dt_fuse_mode mode, uint32_t *index, uint32_t *signal,
                               double *scale, double *offset, dt_signal_id pos)
{
    index[0] = 0;
    signal[0] = pos;
    scale[0] = 1;
    offset[0] = 0;
    dt_remote_belief b = {2, SX, SP, SA, SQ, t, 1, index, signal, scale, offset, mode, 0, 0};
    return b;
}

/* An independent belief older than the reader's estimate: aged with the
 * sender's model (a separate filter's prediction) to the estimate's time
 * and applied as a scalar update. x and P equal the textbook update of the
 * predicted estimate by z = x_s(t_e)[0], r = P_s(t_e)[0][0] to 1e-12
 * relative to the scale; the data time is the belief's, not the fusion
 * time's. */
static void test_independent_aged_to_the_estimate(void **state)
{
    (void)state;
    dt_twin *t = reader("", NULL, NULL);
    const dt_time t0 = 1000 * DT_NS_PER_S;
    assert_int_equal(dt_twin_start(t, t0), 0);
    dt_est *e = dt_twin_estimator(t);
    assert_int_equal(dt_est_fuse_reserve(e), 0);
    /* a local measurement moves the estimate to t0 + 2 s */
    assert_int_equal(dt_memory_source_push(dt_twin_io(t), 0, "pos", t0 + 2 * DT_NS_PER_S, 1.1), 0);
    assert_int_equal(dt_twin_step(t, t0 + 2 * DT_NS_PER_S), 0);
    const dt_time te = dt_est_time(e);
    assert_true(te == t0 + 2 * DT_NS_PER_S);
    double x0[2], P0[4];
    memcpy(x0, dt_kf_state(dt_est_kf(e)), sizeof x0);
    memcpy(P0, dt_kf_cov(dt_est_kf(e)), sizeof P0);

    /* the sender's prediction over 0.75 s, by its own filter */
    const dt_time tb = te - 750 * DT_NS_PER_MS;
    dt_kf *ref;
    assert_int_equal(dt_kf_create(2, 0, NULL, &ref), 0);
    assert_int_equal(dt_kf_set_continuous(ref, SA, NULL, SQ), 0);
    assert_int_equal(dt_kf_set_state(ref, SX, SP), 0);
    double xs[2], Ps[4];
    assert_int_equal(dt_kf_peek(ref, 0.75, xs, Ps), 0);
    dt_kf_destroy(ref);

    dt_signal_id pos;
    assert_int_equal(dt_model_find_signal(dt_twin_model(t), "pos", &pos), 0);
    uint32_t idx[1], sig[1];
    double sc[1], off[1], w = -1;
    dt_remote_belief b = belief(tb, DT_FUSE_INDEPENDENT, idx, sig, sc, off, pos);
    assert_int_equal(dt_est_fuse(e, &b, &w), 0);
    assert_true(w == 1.0);

    /* the textbook scalar update, h = [1 0] */
    double z = xs[0], r = Ps[0], s = P0[0] + r, k0 = P0[0] / s, k1 = P0[2] / s;
    double y = z - x0[0];
    double xe[2] = {x0[0] + k0 * y, x0[1] + k1 * y};
    double Pe[4] = {P0[0] - k0 * P0[0], P0[1] - k0 * P0[1], P0[2] - k1 * P0[0],
                    P0[3] - k1 * P0[1]};
    const double *x = dt_kf_state(dt_est_kf(e)), *P = dt_kf_cov(dt_est_kf(e));
    for (int i = 0; i < 2; i++) {
        assert_close(x[i], xe[i], 0, 1e-12 * (fabs(xe[i]) + sqrt(Pe[3 * i])));
        for (int j = 0; j < 2; j++)
            assert_close(P[2 * i + j], Pe[2 * i + j], 0, 1e-12 * sqrt(Pe[3 * i] * Pe[3 * j]));
    }
    assert_true(dt_est_time(e) == te); /* fused at the estimate's time */
    dt_belief bel;
    dt_signal_id pos_est;
    assert_int_equal(dt_model_find_signal(dt_twin_model(t), "pos_est", &pos_est), 0);
    assert_int_equal(dt_est_belief(e, pos_est, te, &bel), 0);
    assert_true(bel.t_data == te); /* the local sample at te is newer than the belief */
    dt_est_stats st;
    dt_est_stats_get(e, &st);
    assert_int_equal(st.beliefs_fused, 1);
    dt_twin_destroy(t);
}

/* A belief newer than the estimate: the estimate is predicted to the
 * belief's time (no ageing); CI there equals dt_ci_update on the predicted
 * estimate bit for bit; the data time becomes the belief's. */
static void test_ci_at_a_newer_belief(void **state)
{
    (void)state;
    dt_twin *t = reader("", NULL, NULL);
    const dt_time t0 = 1000 * DT_NS_PER_S;
    assert_int_equal(dt_twin_start(t, t0), 0);
    dt_est *e = dt_twin_estimator(t);
    assert_int_equal(dt_est_fuse_reserve(e), 0);
    const dt_time tb = t0 + 1500 * DT_NS_PER_MS;
    double xp[2], Pp[4];
    assert_int_equal(dt_kf_peek(dt_est_kf(e), 1.5, xp, Pp), 0);
    dt_signal_id pos;
    assert_int_equal(dt_model_find_signal(dt_twin_model(t), "pos", &pos), 0);
    for (dt_fuse_mode mode = DT_FUSE_CI_TRACE; mode <= DT_FUSE_CI_DET; mode++) {
        double xo[2], Po[4], wref, w, H[2] = {1, 0}, y[1] = {SX[0] - xp[0]}, R[1] = {SP[0]};
        static double work[DT_CI_UPDATE_WORK(2, 1)];
        assert_int_equal(dt_ci_update(2, 1, xp, Pp, H, y, R,
                                      mode == DT_FUSE_CI_DET ? DT_CI_DET : DT_CI_TRACE, xo, Po,
                                      &wref, work),
                         0);
        if (mode == DT_FUSE_CI_TRACE) {
            uint32_t idx[1], sig[1];
            double sc[1], off[1];
            dt_remote_belief b = belief(tb, mode, idx, sig, sc, off, pos);
            assert_int_equal(dt_est_fuse(e, &b, &w), 0);
            assert_true(w == wref);
            assert_true(w > 0 && w < 1);
            assert_memory_equal(dt_kf_state(dt_est_kf(e)), xo, sizeof xo);
            assert_memory_equal(dt_kf_cov(dt_est_kf(e)), Po, sizeof Po);
            assert_true(dt_est_time(e) == tb);
            dt_belief bel;
            dt_signal_id pos_est;
            assert_int_equal(dt_model_find_signal(dt_twin_model(t), "pos_est", &pos_est), 0);
            assert_int_equal(dt_est_belief(e, pos_est, tb, &bel), 0);
            assert_true(bel.t_data == tb);
        }
    }
    dt_twin_destroy(t);
}

/* A belief far from the estimate (50 sigma) fails the gate: refused,
 * counted, nothing changed. Bad beliefs are refused with the estimate
 * unchanged and counted: an index past the group, an unmodelled signal, a
 * NaN mean, a covariance that is not PSD, a negative process noise, a time
 * out of range, a zero scale, an unknown mode. */
static void test_gate_and_refusals(void **state)
{
    (void)state;
    dt_twin *t = reader("", NULL, NULL);
    const dt_time t0 = 1000 * DT_NS_PER_S;
    assert_int_equal(dt_twin_start(t, t0), 0);
    dt_est *e = dt_twin_estimator(t);
    dt_signal_id pos, vel;
    assert_int_equal(dt_model_find_signal(dt_twin_model(t), "pos", &pos), 0);
    assert_int_equal(dt_model_find_signal(dt_twin_model(t), "vel_est", &vel), 0);
    uint32_t idx[1], sig[1];
    double sc[1], off[1], w;
    dt_remote_belief b = belief(t0, DT_FUSE_CI_TRACE, idx, sig, sc, off, pos);
    assert_int_equal(dt_est_fuse(e, &b, &w), DT_ESTATE); /* nothing reserved */
    assert_int_equal(dt_est_fuse_reserve(e), 0);
    double x0[2], P0[4];
    memcpy(x0, dt_kf_state(dt_est_kf(e)), sizeof x0);
    memcpy(P0, dt_kf_cov(dt_est_kf(e)), sizeof P0);
    const double far[2] = {51, 0};
    b.x = far;
    assert_int_equal(dt_est_fuse(e, &b, &w), DT_ERANGE);
    b.x = SX;
    const double nanx[2] = {NAN, 0}, notpsd[4] = {1, 2, 2, 1}, negq[4] = {-1, 0, 0, 1};
    struct {
        const char *what;
        int rc;
    } cases[] = {{"index", DT_EINVAL}, {"unmodelled", DT_ENOTFOUND}, {"nan", DT_ENUMERIC},
                 {"psd", DT_ENUMERIC}, {"q", DT_ENUMERIC},         {"time", DT_EINVAL},
                 {"scale", DT_EINVAL}, {"mode", DT_EINVAL}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        dt_remote_belief c = belief(t0, DT_FUSE_CI_TRACE, idx, sig, sc, off, pos);
        const char *wh = cases[k].what;
        if (strcmp(wh, "index") == 0)
            idx[0] = 2;
        else if (strcmp(wh, "unmodelled") == 0)
            sig[0] = vel;
        else if (strcmp(wh, "nan") == 0)
            c.x = nanx;
        else if (strcmp(wh, "psd") == 0)
            c.P = notpsd;
        else if (strcmp(wh, "q") == 0)
            c.Q = negq;
        else if (strcmp(wh, "time") == 0)
            c.t = INT64_MIN;
        else if (strcmp(wh, "scale") == 0)
            sc[0] = 0;
        else
            c.mode = (dt_fuse_mode)9;
        int rc = dt_est_fuse(e, &c, &w);
        if (rc != cases[k].rc)
            fail_msg("%s: %s, wanted %s", wh, dt_err_name(rc), dt_err_name(cases[k].rc));
    }
    assert_memory_equal(dt_kf_state(dt_est_kf(e)), x0, sizeof x0);
    assert_memory_equal(dt_kf_cov(dt_est_kf(e)), P0, sizeof P0);
    dt_est_stats st;
    dt_est_stats_get(e, &st);
    assert_int_equal(st.beliefs_gated, 1);
    assert_int_equal(st.beliefs_refused, sizeof cases / sizeof cases[0]);
    assert_int_equal(st.beliefs_fused, 0);
    dt_twin_destroy(t);
}


/* A local sample older than a fused belief arrives after it: it is applied
 * at its own time (late_applied, not too_old) and the belief fused again
 * after it. The result equals, bit for bit, a twin that got the same data
 * in time order. Seventeen beliefs later the first has left the history: a
 * sample older than it is too old. */
static void test_late_sample_goes_before_a_belief(void **state)
{
    (void)state;
    const dt_time t0 = 1000 * DT_NS_PER_S, S = DT_NS_PER_S;
    dt_twin *a = reader("", NULL, NULL), *b = reader("", NULL, NULL);
    assert_int_equal(dt_twin_start(a, t0), 0);
    assert_int_equal(dt_twin_start(b, t0), 0);
    dt_est *ea = dt_twin_estimator(a), *eb = dt_twin_estimator(b);
    assert_int_equal(dt_est_fuse_reserve(ea), 0);
    assert_int_equal(dt_est_fuse_reserve(eb), 0);
    dt_signal_id pos;
    assert_int_equal(dt_model_find_signal(dt_twin_model(a), "pos", &pos), 0);
    uint32_t idx[1], sig[1];
    double sc[1], off[1];
    dt_remote_belief bel = belief(t0 + 9800 * DT_NS_PER_MS, DT_FUSE_INDEPENDENT, idx, sig, sc,
                                  off, pos);
    dt_sample s10 = {pos, DT_SAMPLE_MAPPED, t0 + 10 * S, t0 + 10 * S, 1.25, 0};
    dt_sample s99 = {pos, DT_SAMPLE_MAPPED, t0 + 9900 * DT_NS_PER_MS, t0 + 10 * S, 1.2, 0};
    /* a: the sample at 10 s, the belief (fused at 10 s), then the late one */
    assert_int_equal(dt_est_process(ea, &s10), 0);
    assert_int_equal(dt_est_fuse(ea, &bel, NULL), 0);
    assert_int_equal(dt_est_process(ea, &s99), 0);
    /* b: in time order */
    assert_int_equal(dt_est_process(eb, &s99), 0);
    assert_int_equal(dt_est_process(eb, &s10), 0);
    assert_int_equal(dt_est_fuse(eb, &bel, NULL), 0);
    assert_memory_equal(dt_kf_state(dt_est_kf(ea)), dt_kf_state(dt_est_kf(eb)), 2 * sizeof(double));
    assert_memory_equal(dt_kf_cov(dt_est_kf(ea)), dt_kf_cov(dt_est_kf(eb)), 4 * sizeof(double));
    dt_est_stats st;
    dt_est_stats_get(ea, &st);
    assert_int_equal(st.late_applied, 1);
    assert_int_equal(st.too_old, 0);
    /* sixteen more beliefs: the first leaves the history with what was before it */
    for (int k = 1; k <= 16; k++) {
        dt_sample sk = {pos, DT_SAMPLE_MAPPED, t0 + (10 + k) * S, t0 + (10 + k) * S, 1.25, 0};
        assert_int_equal(dt_est_process(ea, &sk), 0);
        bel.t = t0 + (10 + k) * S - 200 * DT_NS_PER_MS;
        assert_int_equal(dt_est_fuse(ea, &bel, NULL), 0);
    }
    dt_sample old = {pos, DT_SAMPLE_MAPPED, t0 + 9950 * DT_NS_PER_MS, t0 + 27 * S, 1.2, 0};
    assert_int_equal(dt_est_process(ea, &old), DT_ESTALE);
    dt_sample kept = {pos, DT_SAMPLE_MAPPED, t0 + 10500 * DT_NS_PER_MS, t0 + 27 * S, 1.2, 0};
    assert_int_equal(dt_est_process(ea, &kept), 0);
    dt_est_stats_get(ea, &st);
    assert_int_equal(st.too_old, 1);
    assert_int_equal(st.late_applied, 2);
    assert_int_equal(st.beliefs_fused, 17);
    dt_twin_destroy(a);
    dt_twin_destroy(b);
}

/* ---- through a source: a kind that offers the test's beliefs ---- */

typedef struct offerer {
    dt_source_ctx *ctx;
    int n_offer;    /* offers at the next poll */
    dt_time t_skew; /* added to the twin's now for the belief's time */
    double bias;
    int rc;         /* of the last offer */
} offerer;

static offerer *g_off;

static int off_open(void *self, dt_source_ctx *ctx, const dt_config *cfg)
{
    (void)cfg;
    offerer *o = self;
    o->ctx = ctx;
    g_off = o;
    return dt_source_reserve_beliefs(ctx, DT_SOURCE_BELIEFS_ONLY);
}

static int off_poll(void *self, dt_time now)
{
    offerer *o = self;
    for (int k = 0; k < o->n_offer; k++) {
        dt_signal_id pos;
        (void)dt_model_find_signal(dt_source_model(o->ctx), "pos", &pos);
        uint32_t idx[1], sig[1];
        double sc[1], off[1];
        double x[2] = {SX[0] + o->bias + 0.01 * k, SX[1]};
        dt_remote_belief b = belief(now - 300 * DT_NS_PER_MS + o->t_skew, DT_FUSE_CI_TRACE, idx,
                                    sig, sc, off, pos);
        b.x = x;
        o->rc = dt_source_offer_belief(o->ctx, &b, now);
    }
    return 0;
}

static const dt_source_ops offerer_ops = {
    .abi = DT_SOURCE_ABI, .kind = "offerer", .instance_size = sizeof(offerer),
    .open = off_open, .poll = off_poll};

#define OFFER_SRC ",{\"id\":\"peer\",\"kind\":\"offerer\",\"mapping\":[]}"

typedef struct trace {
    double x[256][2];
    int n;
} trace;

static void on_step(void *user, dt_twin *t, dt_time now)
{
    (void)now;
    trace *tr = user;
    if (tr->n < 256)
        memcpy(tr->x[tr->n++], dt_kf_state(dt_est_kf(dt_twin_estimator(t))), 2 * sizeof(double));
}

/* A source offers beliefs: the twin fuses one per step after its samples,
 * a second offer in a step supersedes the first, a time in the future is
 * refused at the offer, and nothing allocates after start. The flight log
 * holds each fused belief: a replay, with no source opened, reproduces the
 * estimate bit for bit at every step. */
static void test_source_offers_fused_logged_replayed(void **state)
{
    (void)state;
    dt_registry *reg;
    assert_int_equal(dt_registry_create(NULL, &reg), 0);
    assert_int_equal(dt_registry_add_source(reg, &offerer_ops), 0);
    dtt_counter cnt = {0};
    dt_allocator a = dtt_allocator(&cnt);
    dt_twin *t = reader(OFFER_SRC, reg, &a);
    membuf log = {0};
    assert_int_equal(dt_twin_record(t, mem_write, &log), 0);
    const dt_time t0 = 1000 * DT_NS_PER_S;
    assert_int_equal(dt_twin_start(t, t0), 0);
    /* the newest offered belief, for a host: none yet; a source that offers
     * none is not one */
    dt_remote_belief seen;
    dt_time seen_at = 0;
    assert_int_equal(dt_io_source_belief(dt_twin_io(t), 1, &seen, &seen_at), DT_EEMPTY);
    assert_int_equal(dt_io_source_belief(dt_twin_io(t), 0, &seen, NULL), DT_EINVAL);
    assert_int_equal(dt_io_source_belief(dt_twin_io(t), 2, &seen, NULL), DT_EINVAL);
    assert_int_equal(dt_io_source_belief(NULL, 1, &seen, NULL), DT_EINVAL);
    long calls = cnt.calls;
    trace live = {.n = 0};
    for (int k = 1; k <= 40; k++) {
        dt_time now = t0 + k * 100 * DT_NS_PER_MS;
        g_off->n_offer = k % 10 == 0 ? 2 : 1;
        g_off->bias = 0.02 * sin(k);
        assert_int_equal(dt_memory_source_push(dt_twin_io(t), 0, "pos", now - 50 * DT_NS_PER_MS,
                                               1.2 + 0.01 * k),
                         0);
        assert_int_equal(dt_twin_step(t, now), 0);
        assert_int_equal(g_off->rc, 0);
        on_step(&live, t, now);
        /* after the step fused it, the view still holds the newest offer:
         * its mean as offered, its time 300 ms before the step (a fixed
         * clock: mapped as is), offered at the step's poll */
        assert_int_equal(dt_io_source_belief(dt_twin_io(t), 1, &seen, &seen_at), 0);
        assert_true(seen.x[0] == SX[0] + g_off->bias + 0.01 * (g_off->n_offer - 1));
        assert_int_equal(seen.t, now - 300 * DT_NS_PER_MS);
        assert_int_equal(seen.t_data, seen.t);
        assert_int_equal(seen_at, now);
        assert_int_equal(seen.n, 2);
    }
    g_off->n_offer = 1;
    g_off->t_skew = 3600 * DT_NS_PER_S; /* an hour ahead of its arrival */
    assert_int_equal(dt_twin_step(t, t0 + 41 * 100 * DT_NS_PER_MS), 0);
    assert_int_equal(g_off->rc, DT_ERANGE);
    on_step(&live, t, 0);
    assert_int_equal(cnt.calls, calls); /* nothing allocated after start */
    dt_twin_stats s;
    dt_twin_stats_get(t, &s);
    assert_int_equal(s.beliefs_offered, 44);
    assert_int_equal(s.beliefs_superseded, 4);
    assert_int_equal(s.beliefs_fused + s.beliefs_kept, 40);
    assert_int_equal(s.beliefs_refused, 0);
    assert_int_equal(s.beliefs_time_refused, 1);
    assert_int_equal(s.estimator.beliefs_fused + s.estimator.beliefs_kept, 40);
    assert_int_equal(s.estimator.beliefs_kept, s.beliefs_kept);
    dt_twin_destroy(t);

    /* the replay: no source opened, the beliefs from the log */
    char doc[4096];
    snprintf(doc, sizeof doc, reader_doc, OFFER_SRC);
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    o.registry = reg;
    o.replay = 1;
    dt_diag d;
    assert_int_equal(dt_twin_load_json(doc, strlen(doc), &o, &t, &d), 0);
    trace again = {.n = 0};
    int rc = dt_twin_replay(t, mem_read, &log, on_step, &again);
    if (rc != 0)
        fail_msg("replay: %s (%s)", dt_strerror(rc), dt_twin_errmsg(t));
    assert_int_equal(again.n, live.n);
    dt_twin_stats_get(t, &s);
    print_message("replay: %llu fused, %llu refused, estimator fused %llu, updates %llu\n",
                  (unsigned long long)s.beliefs_fused, (unsigned long long)s.beliefs_refused,
                  (unsigned long long)s.estimator.beliefs_fused,
                  (unsigned long long)s.estimator.updates);
    assert_memory_equal(again.x, live.x, (size_t)live.n * sizeof live.x[0]);
    dt_twin_stats_get(t, &s);
    assert_int_equal(s.beliefs_fused + s.beliefs_kept, 40);
    dt_twin_destroy(t);
    dt_registry_destroy(reg);
    free(log.p);
    assert_int_equal(cnt.live, 0);
}

/* The contract a twin publishes is built and checked at load, also for a
 * checked twin (no connection): a group that a state outside it drives is
 * refused with its path; a closed one is in dt_twin_contract with its model
 * and its independence. */
static void test_contract_checked_at_load(void **state)
{
    (void)state;
    static const char fmt[] =
        "{\"dtwin\":1,\"name\":\"pub\",\"assets\":[{\"id\":\"a\"}],\"signals\":["
        "{\"id\":\"pos\",\"asset\":\"a\",\"quantity\":\"length\",\"unit\":\"m\","
        " \"role\":\"measured\",\"noise\":{\"std\":0.1}},"
        "{\"id\":\"pos_est\",\"asset\":\"a\",\"quantity\":\"length\",\"unit\":\"m\","
        " \"role\":\"estimated\"},"
        "{\"id\":\"vel_est\",\"asset\":\"a\",\"quantity\":\"velocity\",\"unit\":\"m/s\","
        " \"role\":\"estimated\"}],"
        "\"sources\":[{\"id\":\"local\",\"kind\":\"memory\","
        "  \"mapping\":[{\"native\":\"pos\",\"signal\":\"pos\"}]}],"
        "\"estimator\":{\"states\":[\"pos_est\",\"vel_est\"],"
        " \"A\":[[0,1],[0,-0.5]],\"Q\":[[1e-4,0],[0,0.01]],"
        " \"x0\":[0,0],\"P0\":[[1,0],[0,1]],"
        " \"measurements\":[{\"signal\":\"pos\",\"H\":{\"pos_est\":1}}]},"
        "\"bus\":{\"realm\":\"r\",\"broker\":{\"host\":\"127.0.0.1\",\"tls\":\"none\"},"
        " \"beliefs\":[{\"group\":\"g\",\"states\":[%s],\"independent\":true}]}}";
    char doc[4096];
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    o.replay = 1;
    o.validate = 1;
    dt_twin *t = NULL;
    dt_diag d;
    snprintf(doc, sizeof doc, fmt, "\"pos_est\"");
    assert_int_equal(dt_twin_load_json(doc, strlen(doc), &o, &t, &d), DT_EPARSE);
    assert_string_equal(d.path, "bus.beliefs");
    assert_non_null(strstr(d.message, "pos_est depends on vel_est"));
    snprintf(doc, sizeof doc, fmt, "\"pos_est\",\"vel_est\"");
    int rc = dt_twin_load_json(doc, strlen(doc), &o, &t, &d);
    if (rc != DT_OK)
        fail_msg("%s: %s", d.path, d.message);
    const char *text = dt_twin_contract(t);
    assert_non_null(text);
    char c[4096]; /* the text without its white space */
    size_t k = 0;
    for (const char *p = text; *p != '\0' && k + 1 < sizeof c; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n')
            c[k++] = *p;
    c[k] = '\0';
    assert_non_null(strstr(c, "\"independent\":true"));
    assert_non_null(strstr(c, "\"A\":[[0,1],[0,-0.5]]"));
    dt_twin_destroy(t);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_contract_checked_at_load),
    cmocka_unit_test(test_independent_aged_to_the_estimate),
    cmocka_unit_test(test_ci_at_a_newer_belief),
    cmocka_unit_test(test_gate_and_refusals),
    cmocka_unit_test(test_late_sample_goes_before_a_belief),
    cmocka_unit_test(test_source_offers_fused_logged_replayed),
};

DTT_MAIN(tests)
