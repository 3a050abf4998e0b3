/* Red team of the remote-belief fusion path: a twin reading another twin's
 * belief group (src/bus/twin_source.c), the contract's model
 * (src/desc/bus_json.c), the io's belief slots (src/adapters/host_belief.c),
 * the twin's fusion step and its flight-log records (src/twin/beliefs.c), and
 * the estimator's dt_est_fuse (src/estimator/est_fuse.c).
 *
 * The attacker is a publisher on the broker, a contract, a host adapter that
 * offers beliefs, or a flight log. Three harnesses, none needs a broker:
 * - "offerer", a source kind written here that offers the test's beliefs
 *   through dt_source_offer_belief (a hostile or careless host);
 * - "rf", the in-process bus engine of inproc_engine.h (as in
 *   test_redteam_bus3), which lets the test play the publisher message by
 *   message, or carries one twin's messages to another;
 * - dt_est_fuse called on a started twin's estimator.
 *
 * Two kinds of test, each says which it is:
 * - DEFECT: fails on the code it was written against; it shows a rule that
 *   does not hold and passes once the rule is made to hold.
 * - HOLDS: a defence that held under attack, kept as documentation. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "alloc_counter.h"
#include "inproc_engine.h"
#include "membuf.h"
#include "test_util.h"

#include "dtwin/dtwin.h"

#define T0 (1000 * DT_NS_PER_S)
#define MS DT_NS_PER_MS
#define SEC DT_NS_PER_S

/* ---- the reader: one level, measured locally (y) and by a peer (lv) ---- */

static const char reader_fmt[] =
    "{\"dtwin\":1,\"name\":\"rd\",\"assets\":[{\"id\":\"a\"}],\"signals\":["
    "{\"id\":\"y\",\"asset\":\"a\",\"quantity\":\"length\",\"unit\":\"m\","
    " \"role\":\"measured\",\"noise\":{\"std\":0.01}},"
    "{\"id\":\"lv\",\"asset\":\"a\",\"quantity\":\"length\",\"unit\":\"m\","
    " \"role\":\"measured\",\"noise\":{\"std\":0.01}},"
    "{\"id\":\"level\",\"asset\":\"a\",\"quantity\":\"length\",\"unit\":\"m\","
    " \"role\":\"estimated\"}],"
    "\"sources\":[{\"id\":\"local\",\"kind\":\"memory\",\"timeout\":100,"
    "  \"mapping\":[{\"native\":\"y\",\"signal\":\"y\"}]}%s],"
    "\"estimator\":{\"states\":[\"level\"],\"A\":[[%s]],\"Q\":[[%s]],"
    " \"x0\":[0],\"P0\":[[%s]],"
    " \"measurements\":[{\"signal\":\"y\",\"H\":{\"level\":1}},"
    "                   {\"signal\":\"lv\",\"H\":{\"level\":1}}]}%s}";

static dt_twin *load(const char *doc, dt_registry *reg, const dt_allocator *a, int replay)
{
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    o.registry = reg;
    o.allocator = a;
    o.replay = replay;
    dt_twin *t = NULL;
    dt_diag d;
    if (dt_twin_load_json(doc, strlen(doc), &o, &t, &d) != DT_OK)
        fail_msg("load: %s: %s", d.path, d.message);
    return t;
}

static char docbuf[8192];

/* extra sources, the model's A, Q and P0, and extra top-level members */
static const char *reader_doc(const char *src, const char *A, const char *Q, const char *P0,
                              const char *extra)
{
    snprintf(docbuf, sizeof docbuf, reader_fmt, src, A, Q, P0, extra);
    return docbuf;
}

static dt_signal_id sig_of(dt_twin *t, const char *id)
{
    dt_signal_id s = 0;
    assert_int_equal(dt_model_find_signal(dt_twin_model(t), id, &s), 0);
    return s;
}

static dt_est_stats est_stats(dt_twin *t)
{
    dt_est_stats st;
    dt_est_stats_get(dt_twin_estimator(t), &st);
    return st;
}

static dt_twin_stats twin_stats(dt_twin *t)
{
    dt_twin_stats s;
    dt_twin_stats_get(t, &s);
    return s;
}

/* the estimator's data time (of the level) */
static dt_time data_time(dt_twin *t)
{
    dt_belief b;
    dt_est *e = dt_twin_estimator(t);
    assert_int_equal(dt_est_belief(e, sig_of(t, "level"), dt_est_time(e), &b), 0);
    return b.t_data;
}

/* ---- "offerer": a host source that offers the test's beliefs ---- */

typedef struct offer_cfg {
    int n_offer;          /* offers at each poll */
    dt_time lag;          /* the belief's time: now - lag */
    dt_time arrival_skew; /* t_arrival: now + arrival_skew */
    size_t n, m;
    double x[16], P[256], A[256], Q[256];
    uint32_t index[16], signal[16];
    double scale[16], offset[16];
    dt_fuse_mode mode;
    int rc; /* of the last offer */
    uint64_t offers;
} offer_cfg;

static offer_cfg OC;

typedef struct offerer {
    dt_source_ctx *ctx;
} offerer;

static int off_open(void *self, dt_source_ctx *ctx, const dt_config *cfg)
{
    (void)cfg;
    ((offerer *)self)->ctx = ctx;
    return dt_source_reserve_beliefs(ctx, DT_SOURCE_BELIEFS_ONLY);
}

static int off_poll(void *self, dt_time now)
{
    offerer *o = self;
    for (int k = 0; k < OC.n_offer; k++) {
        dt_remote_belief b = {OC.n,     OC.x,      OC.P,      OC.A,     OC.Q,
                              now - OC.lag, OC.m,  OC.index,  OC.signal, OC.scale,
                              OC.offset, OC.mode, 0, 0};
        OC.rc = dt_source_offer_belief(o->ctx, &b, now + OC.arrival_skew);
        OC.offers++;
    }
    return 0;
}

static const dt_source_ops offerer_ops = {.abi = DT_SOURCE_ABI,
                                          .kind = "offerer",
                                          .instance_size = sizeof(offerer),
                                          .open = off_open,
                                          .poll = off_poll};

#define OFFER_SRC ",{\"id\":\"peer\",\"kind\":\"offerer\",\"mapping\":[]}"

/* a one-state belief of the level, measuring lv */
static void offer_level(dt_twin *t, double x, double P, dt_time lag, dt_fuse_mode mode)
{
    memset(&OC, 0, sizeof OC);
    OC.n_offer = 1;
    OC.lag = lag;
    OC.n = OC.m = 1;
    OC.x[0] = x;
    OC.P[0] = P;
    OC.A[0] = 0;
    OC.Q[0] = 1e-4;
    OC.index[0] = 0;
    OC.signal[0] = sig_of(t, "lv");
    OC.scale[0] = 1;
    OC.offset[0] = 0;
    OC.mode = mode;
}

static dt_registry *offer_registry(void)
{
    dt_registry *reg;
    assert_int_equal(dt_registry_create(NULL, &reg), 0);
    assert_int_equal(dt_registry_add_source(reg, &offerer_ops), 0);
    return reg;
}

/* ==== time ==== */

/* DEFECT: a belief that carries no information keeps the data fresh. A
 * publisher (hostile, or whose own estimate has grown wide) offers a belief
 * far wider than the reader's estimate every cycle. Covariance
 * intersection keeps the reader's belief (w = 1: x and P come back
 * unchanged), yet the data time became the belief's, so the latency rule
 * sees data 10 ms old while the reader's only sensor has been silent for
 * 3 s: the safe state never engages. The reader's estimate holds no data
 * newer than its last local sample; its age must say so. */
static void test_uninformative_belief_keeps_data_fresh(void **state)
{
    (void)state;
    dt_registry *reg = offer_registry();
    dt_twin *t = load(reader_doc(OFFER_SRC, "0", "1e-4", "1", ""), reg, NULL, 0);
    dt_time now = T0;
    assert_int_equal(dt_twin_start(t, now), 0);
    offer_level(t, 1.0, 1e12, 10 * MS, DT_FUSE_CI_TRACE);
    OC.n_offer = 0;
    dt_time last_local = 0;
    for (int k = 1; k <= 40; k++) {
        now += 100 * MS;
        if (k <= 10) { /* the local sensor, then silence */
            last_local = now - 10 * MS;
            assert_int_equal(dt_memory_source_push(dt_twin_io(t), 0, "y", last_local, 1.0), 0);
        } else {
            OC.n_offer = 1;
        }
        assert_int_equal(dt_twin_step(t, now), 0);
    }
    dt_twin_stats s = twin_stats(t);
    print_message("beliefs fused %llu; estimator data time %.3f s before now; belief_age_s "
                  "%.3f (the local sensor silent for %.3f s)\n",
                  (unsigned long long)s.beliefs_fused,
                  dt_time_to_sec(now - data_time(t)), s.belief_age_s,
                  dt_time_to_sec(now - last_local));
    assert_int_equal(s.beliefs_offered, 30);
    assert_true(data_time(t) == last_local);
    assert_close(s.belief_age_s, dt_time_to_sec(now - last_local), 0, 1e-9);
    dt_twin_destroy(t);
    dt_registry_destroy(reg);
}

/* DEFECT: a host that stamps a belief's arrival on another clock than the
 * twin's (or a hostile one) offers it with t_arrival 1000 s ahead of the
 * twin's now. The source's clock checks the belief's time against its
 * arrival, not against now: it is taken, the estimate is predicted 1000 s
 * ahead, its data time is in the future (a negative age: the latency rule
 * sees fresh data for the next 1000 s), and the history restarts there, so
 * every local sample of those 1000 s is too old. A sample's arrival is held
 * to the poll's now (ingest: nothing arrives after the poll that drains
 * it); a belief's must be too, and the twin must not fuse a belief newer
 * than its now. */
static void test_belief_from_the_future_refused(void **state)
{
    (void)state;
    dt_registry *reg = offer_registry();
    dt_twin *t = load(reader_doc(OFFER_SRC, "0", "1e-4", "1", ""), reg, NULL, 0);
    dt_time now = T0;
    assert_int_equal(dt_twin_start(t, now), 0);
    offer_level(t, 0.2, 1e-4, 10 * MS - 1000 * SEC, DT_FUSE_CI_TRACE);
    OC.arrival_skew = 1000 * SEC; /* its time 10 ms before that arrival */
    now += 100 * MS;
    assert_int_equal(dt_memory_source_push(dt_twin_io(t), 0, "y", now - 5 * MS, 0.2), 0);
    assert_int_equal(dt_twin_step(t, now), 0);
    OC.n_offer = 0;
    for (int k = 0; k < 5; k++) { /* the local sensor goes on */
        now += 100 * MS;
        assert_int_equal(dt_memory_source_push(dt_twin_io(t), 0, "y", now - 5 * MS, 0.2), 0);
        assert_int_equal(dt_twin_step(t, now), 0);
    }
    dt_twin_stats s = twin_stats(t);
    dt_est_stats es = est_stats(t);
    print_message("offer rc %s; fused %llu refused %llu; estimate at now %+.3f s, data time "
                  "%+.3f s; belief_age_s %.3f; too_old %llu\n",
                  dt_err_name(OC.rc), (unsigned long long)s.beliefs_fused,
                  (unsigned long long)s.beliefs_refused,
                  dt_time_to_sec(dt_est_time(dt_twin_estimator(t)) - now),
                  dt_time_to_sec(data_time(t) - now), s.belief_age_s,
                  (unsigned long long)es.too_old);
    assert_true(s.belief_age_s >= 0);
    assert_true(dt_est_time(dt_twin_estimator(t)) <= now);
    assert_int_equal(s.beliefs_fused, 0);
    assert_int_equal(es.too_old, 0);
    dt_twin_destroy(t);
    dt_registry_destroy(reg);
}

/* FIXED (beliefs are events of the history): fused beliefs starved the
 * reader's own sensor. The peer's belief
 * reaches the reader 10 ms after its time; the reader's own sensor 150 ms
 * after its sample's (a slower link: more than one cycle). Every fusion
 * restarts the estimator's history at the fusion time, so each local
 * sample, arriving after a belief newer than it was fused, is too old:
 * from the second cycle on the reader never applies its own sensor again
 * (counted too_old, but the estimate rests on the peer alone, and a peer
 * that lies within the gate now steers it unopposed). An honest peer does
 * this; a hostile one needs only to publish beliefs with fresh times. A
 * late sample older than the history's base is dropped by design, but a
 * remote belief must not move that base past samples still on their way:
 * the belief belongs in the history as an event, replayed like a
 * measurement when a late sample is inserted before it. */
static void test_beliefs_starve_the_readers_late_sensor(void **state)
{
    (void)state;
    dt_registry *reg = offer_registry();
    dt_twin *t = load(reader_doc(OFFER_SRC, "0", "1e-4", "1", ""), reg, NULL, 0);
    dt_time now = T0;
    assert_int_equal(dt_twin_start(t, now), 0);
    offer_level(t, 1.0, 1e-4, 10 * MS, DT_FUSE_CI_TRACE);
    for (int k = 1; k <= 50; k++) {
        now += 100 * MS;
        if (k > 1) /* the first would be before the start */
            assert_int_equal(dt_memory_source_push(dt_twin_io(t), 0, "y", now - 150 * MS, 1.0),
                             0);
        assert_int_equal(dt_twin_step(t, now), 0);
    }
    dt_est_stats es = est_stats(t);
    dt_twin_stats s = twin_stats(t);
    dt_twin_destroy(t);
    dt_registry_destroy(reg);
    print_message("local samples: %llu applied, %llu too old; beliefs fused %llu\n",
                  (unsigned long long)es.updates, (unsigned long long)es.too_old,
                  (unsigned long long)s.beliefs_fused);
    assert_int_equal(s.beliefs_fused + s.beliefs_kept, 50);
    assert_int_equal(es.too_old, 0);
    assert_int_equal(es.updates, 49);
}

/* DEFECT: a prediction to a newer belief that overflows leaves the reader
 * stuck. A reader with an unstable model (a = +0.05/s) and no local data
 * gets its first belief 20000 s after its start: the prediction there
 * overflows (e^1000). The header says "a failed prediction loses the
 * belief as in dt_est_process" (re-initialised at the fusion time, so the
 * next belief is fused); the code refuses it and keeps the estimate at its
 * start, so every later belief needs the same impossible prediction and is
 * refused for ever: a reader whose only data is remote never recovers. */
static void test_overflowing_prediction_to_a_belief_recovers(void **state)
{
    (void)state;
    dt_twin *t = load(reader_doc("", "0.05", "1e-4", "1", ""), NULL, NULL, 0);
    assert_int_equal(dt_twin_start(t, T0), 0);
    dt_est *e = dt_twin_estimator(t);
    assert_int_equal(dt_est_fuse_reserve(e), 0);
    double x = 3, P = 0.01, A = 0, Q = 1e-4, sc = 1, off = 0;
    uint32_t idx = 0, sig = sig_of(t, "lv");
    dt_remote_belief b = {1, &x, &P, &A, &Q, T0 + 20000 * SEC, 1, &idx, &sig, &sc, &off,
                          DT_FUSE_CI_TRACE, 0, 0};
    int rc1 = dt_est_fuse(e, &b, NULL);
    b.t += 100 * MS;
    int rc2 = dt_est_fuse(e, &b, NULL);
    dt_est_stats es = est_stats(t);
    print_message("first %s, second %s; belief_lost %llu, fused %llu, refused %llu\n",
                  dt_err_name(rc1), dt_err_name(rc2), (unsigned long long)es.belief_lost,
                  (unsigned long long)es.beliefs_fused, (unsigned long long)es.beliefs_refused);
    assert_int_equal(rc1, DT_ERANGE);
    assert_int_equal(es.belief_lost, 1);
    assert_int_equal(rc2, DT_OK);
    assert_true(dt_est_time(e) == b.t);
    assert_true(data_time(t) == b.t);
    dt_twin_destroy(t);
}

/* HOLDS: time games against an estimated clock. A publisher's beliefs on
 * its own clock, the reader's local sensor going on: a lone belief 2^31 ns
 * ahead of its arrival (refused: in the future); three in a row (the third
 * completes a clock step and is refused; the clock restarts and later ones
 * map to their arrival, never after it); one 10^6 s old (aged over 10^6 s,
 * no weight: nothing changes); then honest times again (refused as future
 * until the clock finds the step back, then fused). At every step the
 * estimate's time, its data time and the twin's data age stay at or before
 * now, and the local sensor is applied every cycle. */
static void test_clock_games_never_future(void **state)
{
    (void)state;
    dt_registry *reg = offer_registry();
    dt_twin *t = load(reader_doc(",{\"id\":\"peer\",\"kind\":\"offerer\","
                                 "\"clock\":{\"mode\":\"estimate\"},\"mapping\":[]}",
                                 "0", "1e-4", "1", ""),
                      reg, NULL, 0);
    dt_time now = T0;
    assert_int_equal(dt_twin_start(t, now), 0);
    offer_level(t, 1.0, 1e-4, 10 * MS, DT_FUSE_CI_TRACE);
    const dt_time J = (dt_time)1 << 31;
    uint64_t fused_before = 0;
    for (int k = 1; k <= 400; k++) {
        now += 100 * MS;
        OC.lag = k == 150 || (k >= 200 && k < 250) ? -J : k == 260 ? 1000000 * SEC : 10 * MS;
        if (k == 390)
            fused_before = twin_stats(t).beliefs_fused + twin_stats(t).beliefs_kept;
        assert_int_equal(dt_memory_source_push(dt_twin_io(t), 0, "y", now - 5 * MS, 1.0), 0);
        assert_int_equal(dt_twin_step(t, now), 0);
        dt_est *e = dt_twin_estimator(t);
        if (dt_est_time(e) > now || data_time(t) > now || twin_stats(t).belief_age_s < 0)
            fail_msg("step %d: estimate at %+.3f s, data at %+.3f s, age %.3f s", k,
                     dt_time_to_sec(dt_est_time(e) - now), dt_time_to_sec(data_time(t) - now),
                     twin_stats(t).belief_age_s);
    }
    dt_twin_stats s = twin_stats(t);
    dt_est_stats es = est_stats(t);
    print_message("offered %llu fused %llu time refused %llu refused %llu; local applied %llu "
                  "too old %llu\n",
                  (unsigned long long)s.beliefs_offered, (unsigned long long)s.beliefs_fused,
                  (unsigned long long)s.beliefs_time_refused,
                  (unsigned long long)s.beliefs_refused, (unsigned long long)es.updates,
                  (unsigned long long)es.too_old);
    assert_true(s.beliefs_time_refused >= 3);
    assert_int_equal(s.beliefs_fused + s.beliefs_kept - fused_before, 11); /* again at the end */
    assert_int_equal(es.updates, 400);
    assert_int_equal(es.too_old, 0);
    dt_twin_destroy(t);
    dt_registry_destroy(reg);
}

/* ==== numbers ==== */

/* HOLDS: hostile numbers in a belief handed to dt_est_fuse are refused with
 * the estimate unchanged bit for bit (x, P, its time, its data time) and
 * counted: NaN, infinite and 1e308 entries in x, P, A and Q; A of 1e150
 * (the contract's bound) over 1 s, which overflows; an indefinite or
 * asymmetric Q; a 1e308 mean against a 1e150 variance; a scale that makes
 * R overflow; one state mapped twice to one signal (R and S singular); a
 * signal past the model; an index past the group; an unknown mode. One
 * state mapped to two signals measuring the same thing, independent, is
 * applied as the one measurement it is. A belief 1e-9 inside the gate's
 * edge passes and one 1e-9 beyond it is gated. */
static void test_hostile_numbers_refused_estimate_unchanged(void **state)
{
    (void)state;
    dt_twin *t = load(reader_doc("", "0", "1e-4", "1", ""), NULL, NULL, 0);
    assert_int_equal(dt_twin_start(t, T0), 0);
    dt_est *e = dt_twin_estimator(t);
    assert_int_equal(dt_est_fuse_reserve(e), 0);
    dt_twin_step(t, T0);
    assert_int_equal(dt_memory_source_push(dt_twin_io(t), 0, "y", T0 + SEC, 0.5), 0);
    assert_int_equal(dt_twin_step(t, T0 + SEC), 0);
    dt_kf *kf = dt_est_kf(e);
    double x0[1], P0[1];
    memcpy(x0, dt_kf_state(kf), sizeof x0);
    memcpy(P0, dt_kf_cov(kf), sizeof P0);
    const dt_time te = dt_est_time(e), td = data_time(t);
    uint32_t lv = sig_of(t, "lv"), y = sig_of(t, "y");

    enum { NCASE = 15, ANY = 1 };
    for (int c = 0; c < NCASE; c++) {
        double x[2] = {0.5, 0.5}, P[4] = {1e-4, 0, 0, 1e-4}, A[4] = {0, 0, 0, 0},
               Q[4] = {1e-4, 0, 0, 1e-4};
        uint32_t idx[2] = {0, 1}, sig[2] = {lv, y};
        double sc[2] = {1, 1}, off[2] = {0, 0};
        dt_remote_belief b = {2, x, P, A, Q, te - 1 * SEC, 1, idx, sig, sc, off,
                              DT_FUSE_CI_TRACE, 0, 0};
        int want;
        switch (c) {
        case 0: x[0] = NAN; want = DT_ENUMERIC; break;
        case 1: P[3] = INFINITY; want = DT_ENUMERIC; break;
        case 2: A[1] = NAN; want = DT_ENUMERIC; break;
        case 3: Q[0] = -INFINITY; want = DT_ENUMERIC; break;
        case 4: A[0] = A[3] = 1e150; want = DT_ERANGE; break; /* e^(1e150 s) */
        case 5: Q[1] = Q[2] = 1; want = DT_ENUMERIC; break; /* indefinite */
        case 6: Q[1] = 1e-5; want = DT_ENUMERIC; break;     /* asymmetric */
        case 7: x[0] = 1e308; P[0] = 1e150; want = DT_ERANGE; break; /* gated */
        case 8: P[0] = 1e150; sc[0] = 1e100; want = DT_ERANGE; break; /* R overflows */
        case 9: x[0] = 1e308; want = ANY; break; /* y / S overflows */
        case 10: A[0] = 1e308; want = ANY; break; /* past the contract's bound of 1e150 */
        case 11: b.m = 2; idx[1] = 0; sig[1] = lv; want = ANY; break; /* R singular */
        case 12: sig[0] = 99; want = DT_ENOTFOUND; break;
        case 13: idx[0] = 2; want = DT_EINVAL; break;
        default: b.mode = (dt_fuse_mode)3; want = DT_EINVAL; break;
        }
        int rc = dt_est_fuse(e, &b, NULL);
        if (want == ANY ? rc == DT_OK : rc != want)
            fail_msg("case %d: %s, wanted %s", c, dt_err_name(rc),
                     want == ANY ? "a refusal" : dt_err_name(want));
        assert_memory_equal(dt_kf_state(kf), x0, sizeof x0);
        assert_memory_equal(dt_kf_cov(kf), P0, sizeof P0);
        assert_true(dt_est_time(e) == te);
        assert_true(data_time(t) == td);
    }
    dt_est_stats es = est_stats(t);
    print_message("refused %llu, gated %llu\n", (unsigned long long)es.beliefs_refused,
                  (unsigned long long)es.beliefs_gated);
    assert_int_equal(es.beliefs_refused + es.beliefs_gated, NCASE);
    assert_true(es.beliefs_gated >= 1);
    assert_int_equal(es.beliefs_fused, 0);

    /* one state as two signals, independent (R exactly singular: the two
     * are one measurement): the textbook single update by the state aged
     * over 1 s (variance 1e-4 + 1e-4), to 1e-12 relative */
    {
        double x[1] = {0.5}, P[1] = {1e-4}, A[1] = {0}, Q[1] = {1e-4};
        uint32_t idx[2] = {0, 0}, sig[2] = {lv, y};
        double sc[2] = {1, 1}, off[2] = {0, 0};
        dt_remote_belief b = {1, x, P, A, Q, te - 1 * SEC, 2, idx, sig, sc, off,
                              DT_FUSE_INDEPENDENT, 0, 0};
        assert_int_equal(dt_est_fuse(e, &b, NULL), DT_OK);
        double r = 2e-4, k = P0[0] / (P0[0] + r);
        assert_close(dt_kf_state(kf)[0], x0[0] + k * (0.5 - x0[0]), 1e-12, 0);
        assert_close(dt_kf_cov(kf)[0], (1 - k) * P0[0], 1e-12, 0);
        assert_int_equal(dt_kf_set_state(kf, x0, P0), 0);
    }
    /* the gate's edge: NIS = y^2 / (P + r) against the chi-square quantile
     * of the estimator's gate (0.9999, one degree of freedom: 15.137) */
    double thr;
    assert_int_equal(dt_chi2_quantile(0.9999, 1, &thr), 0);
    for (int k = 0; k < 2; k++) {
        double r = 1e-4, xb, Pb = r, A1 = 0, Q1 = 0, sc = 1, off = 0;
        uint32_t idx = 0;
        double s = P0[0] + r, edge = sqrt(thr * s) * (k == 0 ? 1 - 1e-9 : 1 + 1e-9);
        xb = dt_kf_state(kf)[0] + edge;
        dt_remote_belief b = {1, &xb, &Pb, &A1, &Q1, dt_est_time(e), 1, &idx, &lv, &sc, &off,
                              DT_FUSE_CI_TRACE, 0, 0};
        int rc = dt_est_fuse(e, &b, NULL);
        assert_int_equal(rc, k == 0 ? DT_OK : DT_ERANGE);
        if (k == 0) { /* back to where it was, for the second */
            assert_int_equal(dt_kf_set_state(kf, x0, P0), 0);
        }
    }
    dt_twin_destroy(t);
}

/* DEFECT: "independent" makes a reader of successive beliefs
 * overconfident. A publisher estimates a constant from one noisy sensor
 * (r = 1) and publishes its posterior after each sample; its contract
 * declares the group independent of its readers (true: the reader has no
 * data of its own). The reader fuses each belief as an ordinary update,
 * but each posterior holds every earlier one's information: after 30
 * beliefs its variance is about 1/465 while its error is that of the
 * publisher's last estimate (variance 1/30). The reader's mean NEES over
 * 300 trials (fixed seed) must stay within the 95 % band of a consistent
 * estimator's, [0.84, 1.16] (chi-square with one degree of freedom: 1 -+
 * 1.96 sqrt(2/300)), or below it (conservative): covariance intersection
 * gives 1.10 (it keeps about the newest belief); the information sum 21.0. A belief declared independent of the reader is not independent of the
 * same publisher's earlier beliefs, which the reader already holds: only
 * its new information may be added (or the stream fused by intersection
 * after the first). */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double gauss(void)
{
    double u[2];
    for (int i = 0; i < 2; i++) {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        u[i] = ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
    }
    return sqrt(-2 * log(u[0])) * cos(6.283185307179586 * u[1]);
}

static double mean_nees(dt_fuse_mode mode, int trials, int steps)
{
    double sum = 0;
    rng_state = 0x9E3779B97F4A7C15ull;
    for (int k = 0; k < trials; k++) {
        dt_twin *t = load(reader_doc("", "0", "0", "100", ""), NULL, NULL, 0);
        assert_int_equal(dt_twin_start(t, T0), 0);
        dt_est *e = dt_twin_estimator(t);
        assert_int_equal(dt_est_fuse_reserve(e), 0);
        uint32_t lv = sig_of(t, "lv"), idx = 0;
        double xp = 0, Pp = 100, A = 0, Q = 0, sc = 1, off = 0; /* the publisher's filter */
        for (int s = 1; s <= steps; s++) {
            double z = gauss(); /* truth 0, r = 1 */
            double K = Pp / (Pp + 1);
            xp += K * (z - xp);
            Pp *= 1 - K;
            dt_remote_belief b = {1, &xp, &Pp, &A, &Q, T0 + s * 100 * MS, 1, &idx, &lv, &sc,
                                  &off, mode, 0, 0};
            int rc = dt_est_fuse(e, &b, NULL);
            if (rc != DT_OK)
                fail_msg("trial %d step %d: %s", k, s, dt_err_name(rc));
        }
        double x = dt_kf_state(dt_est_kf(e))[0], P = dt_kf_cov(dt_est_kf(e))[0];
        sum += x * x / P;
        dt_twin_destroy(t);
    }
    return sum / trials;
}

/* The same stream offered through a source to a twin, which holds declared
 * independence to a source's first belief and intersects the later ones. */
static double mean_nees_twin(dt_fuse_mode mode, int trials, int steps, uint64_t *as_ci)
{
    double sum = 0;
    rng_state = 0x9E3779B97F4A7C15ull;
    dt_registry *reg = offer_registry();
    for (int k = 0; k < trials; k++) {
        dt_twin *t = load(reader_doc(OFFER_SRC, "0", "0", "100", ""), reg, NULL, 0);
        assert_int_equal(dt_twin_start(t, T0), 0);
        double xp = 0, Pp = 100; /* the publisher's filter */
        for (int s = 1; s <= steps; s++) {
            double z = gauss(); /* truth 0, r = 1 */
            double K = Pp / (Pp + 1);
            xp += K * (z - xp);
            Pp *= 1 - K;
            offer_level(t, xp, Pp, 0, mode);
            OC.Q[0] = 0;
            assert_int_equal(dt_twin_step(t, T0 + s * 100 * MS), 0);
            assert_int_equal(OC.rc, 0);
        }
        double x = dt_kf_state(dt_est_kf(dt_twin_estimator(t)))[0];
        double P = dt_kf_cov(dt_est_kf(dt_twin_estimator(t)))[0];
        sum += x * x / P;
        dt_twin_stats s = twin_stats(t);
        assert_int_equal(s.beliefs_fused, (uint64_t)steps);
        *as_ci += s.beliefs_independent_as_ci;
        dt_twin_destroy(t);
    }
    dt_registry_destroy(reg);
    return sum / trials;
}

/* FIXED: successive posteriors of one publisher declared independent were
 * each fused as an update, counting the publisher's earlier information
 * again and again (mean NEES 21 where a consistent estimator has [0.84,
 * 1.16]). dt_est_fuse does what its caller declares (the estimator-level
 * figure is printed); the twin holds declared independence to a source's
 * first belief. */
static void test_independent_stream_overconfident(void **state)
{
    (void)state;
    double ci = mean_nees(DT_FUSE_CI_TRACE, 300, 30);
    double ind = mean_nees(DT_FUSE_INDEPENDENT, 300, 30);
    uint64_t as_ci = 0, none = 0;
    double twin_ind = mean_nees_twin(DT_FUSE_INDEPENDENT, 300, 30, &as_ci);
    double twin_ci = mean_nees_twin(DT_FUSE_CI_TRACE, 300, 30, &none);
    print_message("reader's mean NEES over 300 trials of 30 beliefs: estimator: intersection "
                  "%.3f, independent %.3f; twin: intersection %.3f, declared independent %.3f "
                  "(%llu intersected) (consistent: [0.84, 1.16])\n",
                  ci, ind, twin_ci, twin_ind, (unsigned long long)as_ci);
    assert_true(ci <= 1.16);
    assert_true(twin_ci <= 1.16);
    assert_true(twin_ind <= 1.16);
    assert_int_equal(as_ci, 300 * 29);
    assert_int_equal(none, 0);
}

/* ==== the flight log ==== */

/* A filter kind that checks what the twin hands its fuse slot: an index
 * within the group, a signal of the model, a time not after the twin's
 * step. abi 1 declares the table without the fuse slots (the registry must
 * never call the fuse pointer an ABI-1 table happens to carry). */
typedef struct probe {
    size_t n_sig;
    dt_time t_data;
} probe;

static struct {
    uint64_t fuse_calls, bad_index, bad_signal, abi1_calls;
} PR;

static int pr_init(void *self, const dt_filter_env *env, const dt_config *cfg, dt_diag *diag)
{
    (void)cfg, (void)diag;
    probe *p = self;
    p->n_sig = dt_model_signal_count(env->model);
    p->t_data = DT_TIME_MIN;
    return DT_OK;
}
static int pr_predict(void *self, dt_time t)
{
    (void)self, (void)t;
    return DT_OK;
}
static int pr_update(void *self, const dt_sample *s)
{
    probe *p = self;
    if (s->t_source > p->t_data)
        p->t_data = s->t_source;
    return DT_OK;
}
static int pr_belief(void *self, dt_signal_id sig, dt_time t, dt_belief *out)
{
    (void)self, (void)sig;
    memset(out, 0, sizeof *out);
    out->value = 0;
    out->variance = 1;
    out->t_data = t;
    return DT_OK;
}
static dt_time pr_data_time(const void *self) { return ((const probe *)self)->t_data; }
static int pr_fuse(void *self, const dt_remote_belief *b, double *omega)
{
    probe *p = self;
    PR.fuse_calls++;
    for (size_t j = 0; j < b->m; j++) {
        if (b->index[j] >= b->n)
            PR.bad_index++;
        if (b->signal[j] >= p->n_sig)
            PR.bad_signal++;
    }
    if (omega != NULL)
        *omega = 0.5; /* it took the belief (1 would say: kept its own) */
    return DT_OK;
}
static int pr_fuse_abi1(void *self, const dt_remote_belief *b, double *omega)
{
    (void)self, (void)b, (void)omega;
    PR.abi1_calls++;
    return DT_OK;
}

static const dt_filter_ops probe_ops = {.abi = DT_FILTER_ABI,
                                        .kind = "probe",
                                        .instance_size = sizeof(probe),
                                        .init = pr_init,
                                        .predict = pr_predict,
                                        .update = pr_update,
                                        .belief = pr_belief,
                                        .data_time = pr_data_time,
                                        .fuse = pr_fuse};
static const dt_filter_ops probe1_ops = {.abi = 1,
                                         .kind = "probe1",
                                         .instance_size = sizeof(probe),
                                         .init = pr_init,
                                         .predict = pr_predict,
                                         .update = pr_update,
                                         .belief = pr_belief,
                                         .data_time = pr_data_time,
                                         .fuse = pr_fuse_abi1};

static const char probe_fmt[] =
    "{\"dtwin\":1,\"name\":\"pr\",\"assets\":[{\"id\":\"a\"}],\"signals\":["
    "{\"id\":\"y\",\"asset\":\"a\",\"quantity\":\"length\",\"unit\":\"m\","
    " \"role\":\"measured\",\"noise\":{\"std\":0.01}},"
    "{\"id\":\"lv\",\"asset\":\"a\",\"quantity\":\"length\",\"unit\":\"m\","
    " \"role\":\"measured\",\"noise\":{\"std\":0.01}}],"
    "\"sources\":[{\"id\":\"local\",\"kind\":\"memory\",\"timeout\":100,"
    "  \"mapping\":[{\"native\":\"y\",\"signal\":\"y\"}]}" OFFER_SRC "],"
    "\"estimator\":{\"kind\":\"%s\"}}";

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* The offsets of the log's belief records (type 8), walking the records of
 * types 1, 2, 3, 8 and 9 (docs/cli.md). */
static size_t belief_records(const membuf *m, size_t *off, size_t max)
{
    size_t p = 24, k = 0;
    while (p < m->n) {
        uint8_t type = m->p[p];
        if (type == 1 || type == 2)
            p += 9;
        else if (type == 9)
            p += 5;
        else if (type == 3)
            p += 9 + 40 * (size_t)le32(m->p + p + 5);
        else if (type == 8) {
            size_t n = le32(m->p + p + 5), mm = le32(m->p + p + 9);
            if (k < max)
                off[k++] = p;
            p += 41 + 8 * (n + 3 * n * n) + 24 * mm;
        } else
            fail_msg("record type %u at %zu", type, p);
    }
    return k;
}

/* a live run of the probe kind with the offerer: 3 steps, a belief each */
static membuf probe_log(dt_registry *reg, const char *kind)
{
    char doc[4096];
    snprintf(doc, sizeof doc, probe_fmt, kind);
    dt_twin *t = load(doc, reg, NULL, 0);
    membuf log = {0};
    assert_int_equal(dt_twin_record(t, mem_write, &log), 0);
    assert_int_equal(dt_twin_start(t, T0), 0);
    offer_level(t, 1.0, 1e-4, 10 * MS, DT_FUSE_CI_TRACE);
    for (int k = 1; k <= 3; k++)
        assert_int_equal(dt_twin_step(t, T0 + k * 100 * MS), 0);
    dt_twin_destroy(t);
    return log;
}

static int replay_log(dt_registry *reg, const char *kind, membuf *log, dt_twin_stats *s,
                      char *err, size_t errcap)
{
    char doc[4096];
    snprintf(doc, sizeof doc, probe_fmt, kind);
    dt_twin *t = load(doc, reg, NULL, 1);
    log->pos = 0;
    int rc = dt_twin_replay(t, mem_read, log, NULL, NULL);
    if (s != NULL)
        dt_twin_stats_get(t, s);
    snprintf(err, errcap, "%s", dt_twin_errmsg(t));
    dt_twin_destroy(t);
    return rc;
}

/* DEFECT: a forged flight log hands a filter kind a belief the live path
 * never would. The live offer refuses an index past the group; the replay
 * reads index and signal as they stand in the record and hands them to the
 * kind's fuse slot, which indexes the group's mean with them (the probe
 * counts what a real kind would read out of bounds). The twin must hold
 * every belief to the same rules whichever way it came. */
static void test_forged_log_index_and_signal(void **state)
{
    (void)state;
    dt_registry *reg = offer_registry();
    assert_int_equal(dt_registry_add_filter(reg, &probe_ops), 0);
    memset(&PR, 0, sizeof PR);
    membuf log = probe_log(reg, "probe");
    size_t off[8];
    assert_int_equal(belief_records(&log, off, 8), 3);
    assert_int_equal(PR.fuse_calls, 3);
    /* record layout: 41 bytes of header, x P A Q (n = 1: 4 doubles), then
     * index u32, signal u32, scale, offset */
    put32(log.p + off[0] + 41 + 32, 7);          /* index 7 of a 1-state group */
    put32(log.p + off[1] + 41 + 32 + 4, 100000); /* a signal past the model */
    memset(&PR, 0, sizeof PR);
    dt_twin_stats s;
    char err[256];
    int rc = replay_log(reg, "probe", &log, &s, err, sizeof err);
    print_message("replay: %s (%s); fuse calls %llu, bad index %llu, bad signal %llu; "
                  "refused %llu\n",
                  dt_err_name(rc), err, (unsigned long long)PR.fuse_calls,
                  (unsigned long long)PR.bad_index, (unsigned long long)PR.bad_signal,
                  (unsigned long long)s.beliefs_refused);
    assert_int_equal(PR.bad_index, 0);
    assert_int_equal(PR.bad_signal, 0);
    free(log.p);
    dt_registry_destroy(reg);
}

/* HOLDS: other forged belief records are refused by the replay, naming
 * them: 17 states, 0 or 17 mapped, mode 3, a log cut inside a record, a
 * belief record outside a step (between the header and the start), a
 * beliefs-only record naming no source. */
static void test_forged_log_records_refused(void **state)
{
    (void)state;
    dt_registry *reg = offer_registry();
    assert_int_equal(dt_registry_add_filter(reg, &probe_ops), 0);
    membuf log = probe_log(reg, "probe");
    size_t off[8];
    assert_int_equal(belief_records(&log, off, 8), 3);
    char err[256];
    dt_twin_stats s;
    assert_int_equal(replay_log(reg, "probe", &log, &s, err, sizeof err), 0);
    assert_int_equal(s.beliefs_fused, 3);
    struct {
        size_t at;
        uint32_t v;
        const char *what;
    } patch[] = {{5, 17, "17 states"}, {9, 0, "0 mapped"}, {9, 17, "17 mapped"},
                 {13, 3, "mode 3"}};
    for (size_t k = 0; k < sizeof patch / sizeof patch[0]; k++) {
        membuf f = log;
        f.p = malloc(log.n);
        assert_non_null(f.p);
        memcpy(f.p, log.p, log.n);
        put32(f.p + off[1] + patch[k].at, patch[k].v);
        int rc = replay_log(reg, "probe", &f, NULL, err, sizeof err);
        print_message("%s: %s (%s)\n", patch[k].what, dt_err_name(rc), err);
        assert_int_equal(rc, DT_EPARSE);
        assert_non_null(strstr(err, "remote belief record"));
        free(f.p);
    }
    /* cut inside the last belief record */
    membuf cut = log;
    cut.n = off[2] + 30;
    assert_int_equal(replay_log(reg, "probe", &cut, NULL, err, sizeof err), DT_EPARSE);
    /* a belief record before the start: the start record's bytes moved
     * behind a copy of the first belief record */
    {
        size_t blen = off[1] - off[0] - 9; /* record 8, then the next step's 9 bytes */
        size_t start = 24;
        while (log.p[start] == 9)
            start += 5;
        membuf f = {0};
        mem_write(&f, log.p, start);
        mem_write(&f, log.p + off[0], blen);
        mem_write(&f, log.p + start, log.n - start);
        int rc = replay_log(reg, "probe", &f, NULL, err, sizeof err);
        print_message("belief before start: %s (%s)\n", dt_err_name(rc), err);
        assert_int_equal(rc, DT_EPARSE);
        free(f.p);
    }
    /* a beliefs-only record naming source 99 */
    {
        membuf f = log;
        f.p = malloc(log.n);
        assert_non_null(f.p);
        memcpy(f.p, log.p, log.n);
        assert_int_equal(f.p[24], 9);
        put32(f.p + 25, 99);
        int rc = replay_log(reg, "probe", &f, NULL, err, sizeof err);
        print_message("beliefs-only source 99: %s (%s)\n", dt_err_name(rc), err);
        assert_int_equal(rc, DT_EPARSE);
        free(f.p);
    }
    free(log.p);
    dt_registry_destroy(reg);
}

/* DEFECT: a forged log's belief 1000 s after its step is fused (in the
 * future: the replayed twin's belief age is negative). The twin must hold
 * a replayed belief to the rule it holds a live one to (not after the
 * step's now: test_belief_from_the_future_refused). */
static void test_forged_log_belief_from_the_future(void **state)
{
    (void)state;
    dt_registry *reg = offer_registry();
    assert_int_equal(dt_registry_add_filter(reg, &probe_ops), 0);
    membuf log = probe_log(reg, "probe");
    size_t off[8];
    assert_int_equal(belief_records(&log, off, 8), 3);
    char err[256];
    dt_twin_stats s;
    {
        membuf f = log;
        f.p = malloc(log.n);
        assert_non_null(f.p);
        memcpy(f.p, log.p, log.n);
        put64(f.p + off[2] + 17, (uint64_t)(T0 + 1000 * SEC));
        assert_int_equal(replay_log(reg, "probe", &f, &s, err, sizeof err), 0);
        print_message("a belief from the future: fused %llu, refused %llu\n",
                      (unsigned long long)s.beliefs_fused,
                      (unsigned long long)s.beliefs_refused);
        assert_int_equal(s.beliefs_fused, 2);
        assert_int_equal(s.beliefs_refused, 1);
        free(f.p);
    }
    free(log.p);
    dt_registry_destroy(reg);
}

/* HOLDS: a filter kind written against ABI 1 (no fuse slots) in a twin whose
 * source offers beliefs, live and in replay: the twin never calls the fuse
 * pointer its table happens to carry past ABI 1, counts every belief
 * refused, and allocates nothing after start. */
static void test_abi1_filter_gets_beliefs(void **state)
{
    (void)state;
    dt_registry *reg = offer_registry();
    assert_int_equal(dt_registry_add_filter(reg, &probe1_ops), 0);
    memset(&PR, 0, sizeof PR);
    dtt_counter cnt = {0};
    dt_allocator a = dtt_allocator(&cnt);
    char doc[4096];
    snprintf(doc, sizeof doc, probe_fmt, "probe1");
    dt_twin *t = load(doc, reg, &a, 0);
    membuf log = {0};
    assert_int_equal(dt_twin_record(t, mem_write, &log), 0);
    assert_int_equal(dt_twin_start(t, T0), 0);
    long calls = cnt.calls;
    offer_level(t, 1.0, 1e-4, 10 * MS, DT_FUSE_CI_TRACE);
    for (int k = 1; k <= 20; k++)
        assert_int_equal(dt_twin_step(t, T0 + k * 100 * MS), 0);
    assert_int_equal(cnt.calls, calls);
    dt_twin_stats s = twin_stats(t);
    assert_int_equal(s.beliefs_offered, 20);
    assert_int_equal(s.beliefs_refused, 20);
    assert_int_equal(s.beliefs_fused, 0);
    dt_twin_destroy(t);
    char err[256];
    assert_int_equal(replay_log(reg, "probe1", &log, &s, err, sizeof err), 0);
    assert_int_equal(s.beliefs_refused, 20);
    assert_int_equal(PR.abi1_calls, 0);
    free(log.p);
    dt_registry_destroy(reg);
    assert_int_equal(cnt.live, 0);
}

/* ==== the bus: the in-process engine of inproc_engine.h, as "rf" ==== */

static const char *const rf_keys[] = {"rf", NULL};
static const dt_bus_engine_ops rf_ops = IPE_OPS("rf", rf_keys);

static dt_registry *rf_registry(void)
{
    ipe_fresh();
    dt_registry *reg;
    assert_int_equal(dt_registry_create(NULL, &reg), 0);
    assert_int_equal(dt_registry_add_bus_engine(reg, &rf_ops), 0);
    return reg;
}

static void inject_str(ipe *e, const char *topic, const char *s)
{
    ipe_deliver(e, topic, (const uint8_t *)s, strlen(s));
}

static uint64_t src_ctr(dt_twin *t, size_t src, const char *name)
{
    dt_counter c[64];
    size_t n = dt_io_source_counters(dt_twin_io(t), src, c, 64);
    for (size_t i = 0; i < n && i < 64; i++)
        if (strcmp(c[i].name, name) == 0)
            return c[i].value;
    fail_msg("no counter %s", name);
    return 0;
}

#define ST_TOPIC "dt/v1/r/pub/$state"
#define CT_TOPIC "dt/v1/r/pub/$contract"
#define B_TOPIC "dt/v1/r/pub/b/tank"

/* the reader of the peer's group "tank" (its source 1; no local data
 * arrives in these tests) */
static const char *bus_reader_doc(const char *clock)
{
    static char src[1024];
    snprintf(src, sizeof src,
             ",{\"id\":\"be\",\"kind\":\"twin\",\"twin\":\"pub\",\"belief\":\"tank\","
             "\"clock\":{\"mode\":\"%s\"},\"timeout\":5,"
             "\"mapping\":[{\"native\":\"level_est\",\"signal\":\"lv\",\"unit\":\"m\"}]}",
             clock);
    return reader_doc(src, "0", "1e-4", "1",
                      ",\"bus\":{\"engine\":\"rf\",\"realm\":\"r\"},\"loop\":{\"period\":0.01}");
}

static const char contract_fmt[] =
    "{\"dtwin_contract\":1,\"realm\":\"r\",\"twin\":\"pub\",\"version\":%u,\"beliefs\":["
    "{\"group\":\"tank\",\"independent\":%s,\"states\":[{\"signal\":\"level_est\","
    "\"quantity\":\"length\",\"unit\":\"%s\",\"semantic_id\":\"\"}],"
    "\"A\":[[%s]],\"Q\":[[%s]]}]}";

static void contract(ipe *e, unsigned version, const char *indep, const char *unit, const char *A,
                     const char *Q)
{
    char js[1024];
    snprintf(js, sizeof js, contract_fmt, version, indep, unit, A, Q);
    inject_str(e, CT_TOPIC, js);
}

static void belief_msg(ipe *e, uint64_t seq, dt_time tv, double x, double P)
{
    uint8_t buf[DT_BUSWIRE_BELIEF_BYTES(1)];
    dt_buswire_header h = {0};
    h.version = DT_BUSWIRE_VERSION;
    h.type = DT_BUSWIRE_BELIEF;
    h.epoch = 3;
    h.contract = 7;
    h.seq = seq;
    size_t len = dt_buswire_encode_belief(buf, sizeof buf, &h, tv, 1, &x, &P);
    assert_true(len > 0);
    ipe_deliver(e, B_TOPIC, buf, len);
}

/* a bus reader started, connected, the publisher ready with contract 7 */
static dt_twin *bus_reader(dt_registry *reg, ipe **eng, dt_time *now)
{
    size_t before = n_ipe;
    dt_twin *t = load(bus_reader_doc("fixed"), reg, NULL, 0);
    *now = T0;
    assert_int_equal(dt_twin_start(t, *now), 0);
    assert_int_equal(dt_twin_step(t, *now), 0);
    ipe *e = ipe_inst[before];
    assert_non_null(e);
    e->now = *now;
    inject_str(e, ST_TOPIC, "{\"state\":\"ready\",\"epoch\":3,\"contract\":7}");
    contract(e, 7, "false", "m", "0", "1e-4");
    assert_int_equal(src_ctr(t, 1, "contract_refused"), 0);
    *eng = e;
    return t;
}

/* DEFECT: a malformed contract changes the model beliefs are aged with. Two
 * readers hold the publisher's contract 7 (A = 0, Q = 1e-4). One of them
 * then receives a $contract that does not parse (its group's A reads, its
 * Q is a string): counted bad_message, and the version it holds is still
 * 7, yet the parse wrote the group's A (and reset "independent") into the
 * contract the reader ages beliefs with. Both readers then get the same
 * beliefs, one older than the estimate (so it is aged): the estimates must
 * be equal bit for bit. A contract that fails to parse must change nothing. */
static void test_malformed_contract_changes_nothing(void **state)
{
    (void)state;
    dt_registry *reg = rf_registry();
    dt_time now;
    ipe *e1, *e2;
    dt_twin *r1 = bus_reader(reg, &e1, &now);
    dt_twin *r2 = bus_reader(reg, &e2, &now);
    contract(e1, 8, "false", "m", "-3", "\"x\"");
    assert_int_equal(src_ctr(r1, 1, "bad_message"), 1);
    dt_twin *r[2] = {r1, r2};
    ipe *e[2] = {e1, e2};
    for (int k = 0; k < 2; k++) {
        now += 100 * MS;
        e[k]->now = now;
        belief_msg(e[k], 1, now - 10 * MS, 0.5, 1e-4);
        assert_int_equal(dt_twin_step(r[k], now), 0);
        now += 100 * MS;
        e[k]->now = now;
        belief_msg(e[k], 2, now - 500 * MS, 0.52, 1e-4); /* older: aged 390 ms */
        assert_int_equal(dt_twin_step(r[k], now), 0);
        now -= 200 * MS;
    }
    now += 200 * MS;
    const double *x1 = dt_kf_state(dt_est_kf(dt_twin_estimator(r1)));
    const double *x2 = dt_kf_state(dt_est_kf(dt_twin_estimator(r2)));
    const double *P1 = dt_kf_cov(dt_est_kf(dt_twin_estimator(r1)));
    const double *P2 = dt_kf_cov(dt_est_kf(dt_twin_estimator(r2)));
    print_message("reader 1 (got the malformed contract): x %.17g P %.6g fused %llu; "
                  "reader 2: x %.17g P %.6g fused %llu\n",
                  x1[0], P1[0], (unsigned long long)twin_stats(r1).beliefs_fused, x2[0], P2[0],
                  (unsigned long long)twin_stats(r2).beliefs_fused);
    assert_int_equal(twin_stats(r1).beliefs_fused, twin_stats(r2).beliefs_fused);
    assert_memory_equal(x1, x2, sizeof(double));
    assert_memory_equal(P1, P2, sizeof(double));
    dt_twin_destroy(r1);
    dt_twin_destroy(r2);
    dt_registry_destroy(reg);
    ipe_fresh();
}

/* DEFECT: a contract of the same version with other contents is taken
 * unchecked. The reader checked contract 7 (the level in m). A $contract
 * that says version 7 again but gives the level in km (a forger's, or a
 * publisher whose description changed while its version hash collided)
 * replaces the model and flags the reader ages with, and the unit check is
 * skipped because the version is known: the reader goes on fusing values
 * its contract now says are km as metres. Any contract whose contents
 * differ must be checked again (here: refused, contract_refused, and its
 * beliefs dropped). */
static void test_same_version_other_contract_rechecked(void **state)
{
    (void)state;
    dt_registry *reg = rf_registry();
    dt_time now;
    ipe *e;
    dt_twin *t = bus_reader(reg, &e, &now);
    now += 100 * MS;
    e->now = now;
    belief_msg(e, 1, now - 10 * MS, 0.5, 1e-4);
    assert_int_equal(dt_twin_step(t, now), 0);
    assert_int_equal(twin_stats(t).beliefs_fused, 1);
    contract(e, 7, "true", "km", "0", "0");
    now += 100 * MS;
    e->now = now;
    belief_msg(e, 2, now - 10 * MS, 0.0005, 1e-10);
    assert_int_equal(dt_twin_step(t, now), 0);
    uint64_t refused = src_ctr(t, 1, "contract_refused"), fused = twin_stats(t).beliefs_fused;
    dt_twin_destroy(t);
    dt_registry_destroy(reg);
    ipe_fresh();
    print_message("after a second contract 7 in km: contract_refused %llu, fused %llu\n",
                  (unsigned long long)refused, (unsigned long long)fused);
    assert_int_equal(refused, 1);
    assert_int_equal(fused, 1);
}

/* HOLDS: a flood. 2000 beliefs in one cycle (seq 1..2000): each is
 * counted, all but the newest superseded, one fused; the publisher's numbers
 * are checked one by one (no loss counted); hostile messages in between (a
 * NaN mean, a non-PSD covariance, a variance of 1e300, a time of
 * INT64_MIN, a belief of 2 states for a 1-state group, a forged seq 2^31
 * ahead) are counted where the docs say; nothing allocates. */
static void test_flood_of_beliefs(void **state)
{
    (void)state;
    dt_registry *reg = rf_registry();
    dt_time now;
    ipe *e;
    dtt_counter cnt = {0};
    dt_allocator a = dtt_allocator(&cnt);
    dt_twin *t = load(bus_reader_doc("fixed"), reg, &a, 0);
    now = T0;
    assert_int_equal(dt_twin_start(t, now), 0);
    assert_int_equal(dt_twin_step(t, now), 0);
    e = ipe_inst[0];
    e->now = now;
    inject_str(e, ST_TOPIC, "{\"state\":\"ready\",\"epoch\":3,\"contract\":7}");
    contract(e, 7, "false", "m", "0", "1e-4");
    long calls = cnt.calls;
    now += 100 * MS;
    e->now = now;
    for (uint64_t s = 1; s <= 2000; s++)
        belief_msg(e, s, now - 10 * MS - (dt_time)(2000 - s) * 1000, 0.5, 1e-4);
    /* hostile ones, written by hand (the encoder refuses them) */
    uint8_t buf[DT_BUSWIRE_BELIEF_BYTES(2)];
    double x = 0.5, P = 1e-4;
    dt_buswire_header h = {DT_BUSWIRE_VERSION, DT_BUSWIRE_BELIEF, 1, 3, 7, 2001};
    size_t len = dt_buswire_encode_belief(buf, sizeof buf, &h, now - 10 * MS, 1, &x, &P);
    uint8_t *pm = buf + DT_BUSWIRE_HEADER + DT_BUSWIRE_BELIEF_FIXED;
    double bad[4] = {NAN, -1, 1e300, 0};
    for (int k = 0; k < 3; k++) {
        uint8_t copy[sizeof buf];
        memcpy(copy, buf, len);
        uint64_t u;
        memcpy(&u, &bad[k], 8);
        put64(copy + (k == 0 ? 0 : 8) + (pm - buf), u);
        ipe_deliver(e, B_TOPIC, copy, len);
    }
    {
        uint8_t copy[sizeof buf];
        memcpy(copy, buf, len);
        put64(copy + DT_BUSWIRE_HEADER, (uint64_t)INT64_MIN);
        ipe_deliver(e, B_TOPIC, copy, len);
    }
    {
        double x2[2] = {0.5, 0.5}, P2[4] = {1e-4, 0, 0, 1e-4};
        size_t l2 = dt_buswire_encode_belief(buf, sizeof buf, &h, now - 10 * MS, 2, x2, P2);
        ipe_deliver(e, B_TOPIC, buf, l2);
    }
    belief_msg(e, 2000 + (UINT64_C(1) << 31), now - 10 * MS, 0.5, 1e-4);
    assert_int_equal(dt_twin_step(t, now), 0);
    dt_twin_stats s = twin_stats(t);
    print_message("messages %llu offered %llu superseded %llu fused %llu; bad_message %llu "
                  "unconfirmed %llu lost %llu\n",
                  (unsigned long long)src_ctr(t, 1, "messages"),
                  (unsigned long long)s.beliefs_offered, (unsigned long long)s.beliefs_superseded,
                  (unsigned long long)s.beliefs_fused,
                  (unsigned long long)src_ctr(t, 1, "bad_message"),
                  (unsigned long long)src_ctr(t, 1, "unconfirmed"),
                  (unsigned long long)src_ctr(t, 1, "lost"));
    assert_int_equal(src_ctr(t, 1, "messages"), 2006);
    assert_int_equal(s.beliefs_offered, 2000);
    assert_int_equal(s.beliefs_superseded, 1999);
    assert_int_equal(s.beliefs_fused, 1);
    assert_int_equal(src_ctr(t, 1, "bad_message"), 5);
    assert_int_equal(src_ctr(t, 1, "unconfirmed"), 1);
    assert_int_equal(src_ctr(t, 1, "lost"), 0);
    assert_int_equal(cnt.calls, calls);
    dt_twin_destroy(t);
    dt_registry_destroy(reg);
    ipe_fresh();
}

/* DEFECT: an estimated clock hides the publisher's own data age. Two twins
 * on one time base (the test steps both with the same now): the publisher's
 * sensor delivers 400 ms after its samples' times, so each belief it
 * publishes holds data 0.4 s old when it is sent. A belief carries only
 * the time it is valid at, and the reader's estimated clock learns the
 * offset from (that time, arrival) pairs, as if it were a sending time: it
 * absorbs the publisher's 0.4 s into the offset and maps each belief to its
 * arrival. The reader's latency rule then sees data a few ms old
 * (society.md: "old data never looks fresh"; "an estimated clock learns the
 * publisher's offset from the publication times"). With a fixed clock on
 * the shared base the age is right (printed). The belief needs its sending
 * time on the wire, for the clock, besides the time it is valid at. */
static void test_estimated_clock_hides_publisher_age(void **state)
{
    (void)state;
    static const char pub_doc[] =
        "{\"dtwin\":1,\"name\":\"pub\",\"assets\":[{\"id\":\"tank\"}],\"signals\":["
        "{\"id\":\"y\",\"asset\":\"tank\",\"quantity\":\"length\",\"unit\":\"m\","
        "\"role\":\"measured\",\"noise\":{\"std\":0.01}},"
        "{\"id\":\"level_est\",\"asset\":\"tank\",\"quantity\":\"length\",\"unit\":\"m\","
        "\"role\":\"estimated\"}],"
        "\"sources\":[{\"id\":\"m\",\"kind\":\"memory\",\"timeout\":5,\"lateness\":0.001,"
        "\"mapping\":[{\"native\":\"y\",\"signal\":\"y\"}]}],"
        "\"estimator\":{\"states\":[\"level_est\"],\"A\":[[0]],\"Q\":[[0.0001]],\"x0\":[0],"
        "\"P0\":[[1]],\"measurements\":[{\"signal\":\"y\",\"H\":{\"level_est\":1}}]},"
        "\"bus\":{\"engine\":\"rf\",\"realm\":\"r\",\"beliefs\":[{\"group\":\"tank\","
        "\"states\":[\"level_est\"],\"every\":0}]},"
        "\"loop\":{\"period\":0.01}}";
    double age[2];
    const char *clock[2] = {"fixed", "estimate"};
    for (int c = 0; c < 2; c++) {
        dt_registry *reg = rf_registry();
        dt_twin *rd = load(bus_reader_doc(clock[c]), reg, NULL, 0);
        dt_twin *pub = load(pub_doc, reg, NULL, 0);
        dt_time now = T0;
        assert_int_equal(dt_twin_start(rd, now), 0);
        assert_int_equal(dt_twin_start(pub, now), 0);
        for (int i = 0; i < 3000; i++) { /* 30 s */
            now += 10 * MS;
            assert_int_equal(
                dt_memory_source_push(dt_twin_io(pub), 0, "y", now - 400 * MS, 1.0), 0);
            assert_int_equal(dt_twin_step(pub, now), 0);
            assert_int_equal(dt_twin_step(rd, now), 0);
        }
        age[c] = twin_stats(rd).belief_age_s;
        print_message("clock %s: fused %llu, the reader's belief_age_s %.3f (the data is "
                      "0.41 s old)\n",
                      clock[c], (unsigned long long)twin_stats(rd).beliefs_fused, age[c]);
        assert_true(twin_stats(rd).beliefs_fused > 2000);
        dt_twin_destroy(pub);
        dt_twin_destroy(rd);
        dt_registry_destroy(reg);
        ipe_fresh();
    }
    assert_true(age[0] >= 0.40);
    assert_true(age[1] >= 0.39);
}

/* DEFECT: a belief group driven by an input is published with a model that
 * cannot age it. The publisher's level moves with its pump's flow
 * (dx = u dt: A = 0, B = 1); its contract gives the group's A and Q only
 * (the closure check at load looks at A and Q, not B), so a reader ages a
 * belief 1 s old as if the level stood still while the pump, at 0.5 m/s,
 * moved it 0.5 m: a bias no covariance accounts for. A group whose states
 * an input drives must be refused at load (or its B and input carried). */
static void test_input_driven_group_refused(void **state)
{
    (void)state;
    static const char doc[] =
        "{\"dtwin\":1,\"name\":\"pub\",\"assets\":[{\"id\":\"tank\"}],\"signals\":["
        "{\"id\":\"y\",\"asset\":\"tank\",\"quantity\":\"length\",\"unit\":\"m\","
        "\"role\":\"measured\",\"noise\":{\"std\":0.01}},"
        "{\"id\":\"u\",\"asset\":\"tank\",\"quantity\":\"velocity\",\"unit\":\"m/s\","
        "\"role\":\"commanded\",\"limits\":{\"min\":-1,\"max\":1}},"
        "{\"id\":\"level_est\",\"asset\":\"tank\",\"quantity\":\"length\",\"unit\":\"m\","
        "\"role\":\"estimated\"}],"
        "\"sources\":[{\"id\":\"m\",\"kind\":\"memory\",\"timeout\":5,"
        "\"mapping\":[{\"native\":\"y\",\"signal\":\"y\"}]}],"
        "\"sinks\":[{\"id\":\"k\",\"kind\":\"memory\",\"capacity\":8,"
        "\"mapping\":[{\"native\":\"u\",\"signal\":\"u\"}]}],"
        "\"estimator\":{\"states\":[\"level_est\"],\"inputs\":[\"u\"],\"A\":[[0]],"
        "\"B\":[[1]],\"Q\":[[0.0001]],\"x0\":[0],\"P0\":[[1]],"
        "\"measurements\":[{\"signal\":\"y\",\"H\":{\"level_est\":1}}]},"
        "\"dispatcher\":{\"safe\":{\"u\":0},\"max_data_age\":1},"
        "\"bus\":{\"engine\":\"rf\",\"realm\":\"r\",\"beliefs\":[{\"group\":\"tank\","
        "\"states\":[\"level_est\"]}]},\"loop\":{\"period\":0.01}}";
    dt_registry *reg = rf_registry();
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    o.registry = reg;
    dt_twin *t = NULL;
    dt_diag d;
    int rc = dt_twin_load_json(doc, strlen(doc), &o, &t, &d);
    print_message("load: %s%s%s%s\n", dt_err_name(rc), rc ? " at " : "", rc ? d.path : "",
                  rc ? d.message : "");
    dt_twin_destroy(t);
    dt_registry_destroy(reg);
    ipe_fresh();
    assert_int_not_equal(rc, DT_OK);
}

/* DEFECT: a twin that fuses an old belief republishes it as fresh. The
 * middle twin has no sensor of its own: its level comes from a peer whose
 * beliefs are 2 s old when they arrive. It commands a pump, so its
 * estimate's time follows its commands to now (each command is an input
 * from now on). A fused belief's event, and so the belief the middle twin
 * publishes, carries the estimate's time, not the time of the data behind
 * it; its reader takes that time for the data time. The reader (one time
 * base: a fixed clock) should see data about 2 s old; it sees data one
 * cycle old, and would for ever after the peer's data stopped aging
 * forward, as long as old beliefs keep arriving. A published belief needs
 * the time of its newest data besides the time it holds at. */
static void test_relay_republishes_old_data_as_fresh(void **state)
{
    (void)state;
    static const char mid_doc[] =
        "{\"dtwin\":1,\"name\":\"pub\",\"assets\":[{\"id\":\"tank\"}],\"signals\":["
        "{\"id\":\"lv\",\"asset\":\"tank\",\"quantity\":\"length\",\"unit\":\"m\","
        "\"role\":\"measured\",\"noise\":{\"std\":0.01}},"
        "{\"id\":\"u\",\"asset\":\"tank\",\"quantity\":\"velocity\",\"unit\":\"m/s\","
        "\"role\":\"commanded\",\"limits\":{\"min\":-1,\"max\":1}},"
        "{\"id\":\"level_est\",\"asset\":\"tank\",\"quantity\":\"length\",\"unit\":\"m\","
        "\"role\":\"estimated\"}],"
        "\"sources\":[{\"id\":\"peer\",\"kind\":\"offerer\",\"mapping\":[]}],"
        "\"sinks\":[{\"id\":\"k\",\"kind\":\"memory\",\"capacity\":256,"
        "\"mapping\":[{\"native\":\"u\",\"signal\":\"u\"}]}],"
        "\"estimator\":{\"states\":[\"level_est\"],\"inputs\":[\"u\"],\"A\":[[0]],"
        "\"B\":[[0]],\"Q\":[[0.0001]],\"x0\":[0],\"P0\":[[1]],"
        "\"measurements\":[{\"signal\":\"lv\",\"H\":{\"level_est\":1}}]},"
        "\"dispatcher\":{\"safe\":{\"u\":0},\"max_data_age\":100},"
        "\"bus\":{\"engine\":\"rf\",\"realm\":\"r\",\"beliefs\":[{\"group\":\"tank\","
        "\"states\":[\"level_est\"],\"every\":0}]},\"loop\":{\"period\":0.01}}";
    dt_registry *reg = rf_registry();
    assert_int_equal(dt_registry_add_source(reg, &offerer_ops), 0);
    dt_twin *mid = load(mid_doc, reg, NULL, 0);
    dt_twin *rd = load(bus_reader_doc("fixed"), reg, NULL, 0);
    dt_time now = T0;
    assert_int_equal(dt_twin_start(mid, now), 0);
    assert_int_equal(dt_twin_start(rd, now), 0);
    offer_level(mid, 1.0, 1e-6, 2 * SEC, DT_FUSE_CI_TRACE);
    OC.Q[0] = 1e-8;
    dt_signal_id u = sig_of(mid, "u");
    for (int k = 1; k <= 100; k++) {
        now += 100 * MS;
        dt_command c = {u, 0, 0, 0, now, now + SEC, 0.1 * (k % 2)};
        assert_int_equal(dt_twin_submit(mid, &c), 0);
        assert_int_equal(dt_twin_step(mid, now), 0);
        assert_int_equal(dt_twin_step(rd, now), 0);
    }
    dt_twin_stats sm = twin_stats(mid), sr = twin_stats(rd);
    print_message("middle's estimate at %+.3f s; commands %llu sent %llu expired %llu safe "
                  "%llu rate %llu\n",
                  dt_time_to_sec(dt_est_time(dt_twin_estimator(mid)) - now),
                  (unsigned long long)sm.commands, (unsigned long long)sm.sent,
                  (unsigned long long)sm.expired, (unsigned long long)sm.safe_stated,
                  (unsigned long long)sm.rate_limited);
    dt_twin_destroy(mid);
    dt_twin_destroy(rd);
    dt_registry_destroy(reg);
    ipe_fresh();
    print_message("middle: fused %llu, its data age %.3f s; reader: fused %llu, data age %.3f "
                  "s\n",
                  (unsigned long long)sm.beliefs_fused, sm.belief_age_s,
                  (unsigned long long)sr.beliefs_fused, sr.belief_age_s);
    assert_true(sm.beliefs_fused > 90);
    assert_true(sr.beliefs_fused > 90);
    assert_true(sm.belief_age_s >= 2.0);
    assert_true(sr.belief_age_s >= 2.0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_uninformative_belief_keeps_data_fresh),
    cmocka_unit_test(test_belief_from_the_future_refused),
    cmocka_unit_test(test_beliefs_starve_the_readers_late_sensor),
    cmocka_unit_test(test_overflowing_prediction_to_a_belief_recovers),
    cmocka_unit_test(test_clock_games_never_future),
    cmocka_unit_test(test_hostile_numbers_refused_estimate_unchanged),
    cmocka_unit_test(test_independent_stream_overconfident),
    cmocka_unit_test(test_forged_log_index_and_signal),
    cmocka_unit_test(test_forged_log_records_refused),
    cmocka_unit_test(test_forged_log_belief_from_the_future),
    cmocka_unit_test(test_abi1_filter_gets_beliefs),
    cmocka_unit_test(test_malformed_contract_changes_nothing),
    cmocka_unit_test(test_same_version_other_contract_rechecked),
    cmocka_unit_test(test_flood_of_beliefs),
    cmocka_unit_test(test_estimated_clock_hides_publisher_age),
    cmocka_unit_test(test_input_driven_group_refused),
    cmocka_unit_test(test_relay_republishes_old_data_as_fresh),
};

DTT_MAIN(tests)
