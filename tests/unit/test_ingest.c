#include <stdlib.h>

#include "test_util.h"

#include "alloc_counter.h"
#include "dtwin/dtwin.h"

static const char model_doc[] =
    "{\"dtwin\":1,\"name\":\"ingest-test\",\"assets\":[{\"id\":\"p\"}],\"signals\":["
    "{\"id\":\"a\",\"asset\":\"p\",\"quantity\":\"voltage\",\"unit\":\"V\",\"role\":\"measured\","
    "\"limits\":{\"min\":0,\"max\":10},\"period\":0.01,\"noise\":{\"variance\":0.25}},"
    "{\"id\":\"b\",\"asset\":\"p\",\"quantity\":\"voltage\",\"unit\":\"V\",\"role\":\"measured\",\"period\":0.02},"
    "{\"id\":\"c\",\"asset\":\"p\",\"quantity\":\"voltage\",\"unit\":\"V\",\"role\":\"measured\",\"period\":0.005},"
    "{\"id\":\"x\",\"asset\":\"p\",\"quantity\":\"voltage\",\"unit\":\"V\",\"role\":\"estimated\"},"
    "{\"id\":\"u\",\"asset\":\"p\",\"quantity\":\"voltage\",\"unit\":\"V\",\"role\":\"commanded\"},"
    "{\"id\":\"k\",\"asset\":\"p\",\"quantity\":\"dimensionless\",\"unit\":\"1\",\"role\":\"parameter\"}]}";

enum { SIG_A, SIG_B, SIG_C, SIG_X, SIG_U, SIG_K };

static dt_model *model;

static int setup(void **state)
{
    (void)state;
    dt_model_options o = DT_MODEL_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    return dt_model_load_json(model_doc, sizeof model_doc - 1, &o, &model, NULL);
}

static int teardown(void **state)
{
    (void)state;
    dt_model_destroy(model);
    return 0;
}

static dt_ingest *make(dt_limit_policy lp, const dt_allocator *a)
{
    dt_ingest_config c = DT_INGEST_CONFIG_INIT;
    c.logger = dt_logger_silent();
    c.limits = lp;
    c.allocator = a;
    dt_ingest *g = NULL;
    assert_int_equal(dt_ingest_create(model, &c, &g), 0);
    return g;
}

static dt_source_id add(dt_ingest *g, const char *name, double lateness, double timeout)
{
    dt_source_config sc = DT_SOURCE_CONFIG_INIT;
    sc.name = name;
    sc.lateness_s = lateness;
    sc.timeout_s = timeout;
    dt_source_id id;
    assert_int_equal(dt_ingest_add_source(g, &sc, &id), 0);
    return id;
}

static dt_sample smp(uint32_t sig, double t, double v)
{
    dt_sample s = {0};
    s.signal = sig;
    s.t_source = dt_time_from_sec(t);
    s.t_arrival = dt_time_from_sec(t);
    s.value = v;
    return s;
}

static void test_validation_counters(void **state)
{
    (void)state;
    dt_ingest *g = make(DT_LIMITS_REJECT, NULL);
    dt_source_id s = add(g, "s", 0, 1);
    assert_int_equal(dt_ingest_start(g, 0), 0);
    dt_sample in[] = {
        smp(SIG_A, 1.0, 5.0),        /* ok */
        smp(99, 1.0, 5.0),           /* unknown signal */
        smp(SIG_X, 1.0, 5.0),        /* estimated: wrong role */
        smp(SIG_U, 1.0, 5.0),        /* commanded: wrong role */
        smp(SIG_A, 1.0, NAN),        /* NaN */
        smp(SIG_A, 1.0, INFINITY),   /* Inf */
        smp(SIG_A, 1.0, 11.0),       /* above max */
        smp(SIG_A, 1.0, -0.5),       /* below min */
        smp(SIG_A, 3.0, 5.0),        /* 2 s in the future */
        smp(SIG_K, 1.0, 7.0),        /* parameter: accepted */
        smp(SIG_B, 1.0, 1e9),        /* no limits: accepted */
    };
    in[4].t_arrival = 0; /* stamped at drain */
    dt_sample bad_var = smp(SIG_A, 1.0, 5.0);
    bad_var.flags = DT_SAMPLE_HAS_VARIANCE;
    bad_var.variance = NAN;
    dt_sample neg_var = bad_var;
    neg_var.variance = -1;
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
        assert_int_equal(dt_ingest_push(g, s, &in[i]), 0);
    dt_ingest_push(g, s, &bad_var);
    dt_ingest_push(g, s, &neg_var);
    assert_int_equal(dt_ingest_poll(g, dt_time_from_sec(1.0)), 0);
    dt_source_stats st;
    assert_int_equal(dt_ingest_source_stats(g, s, &st), 0);
    assert_int_equal(st.offered, 13);
    assert_int_equal(st.drained, 13);
    assert_int_equal(st.accepted, 3);
    assert_int_equal(st.rejected_unknown_signal, 1);
    assert_int_equal(st.rejected_wrong_role, 2);
    assert_int_equal(st.rejected_nonfinite, 3);
    assert_int_equal(st.rejected_bad_variance, 1);
    assert_int_equal(st.rejected_out_of_limits, 2);
    assert_int_equal(st.rejected_future, 1);
    assert_int_equal(st.flagged_out_of_limits, 0);
    assert_int_equal(dt_ingest_source_stats(g, 5, &st), DT_ENOTFOUND);
    dt_ingest_destroy(g);

    /* Policy "flag": out-of-limits values pass with a flag and are counted. */
    g = make(DT_LIMITS_FLAG, NULL);
    s = add(g, "s", 0, 1);
    dt_ingest_start(g, 0);
    dt_sample hi = smp(SIG_A, 1.0, 11.0);
    dt_ingest_push(g, s, &hi);
    dt_ingest_poll(g, dt_time_from_sec(5.0)); /* source stale by then: all released */
    dt_sample out[4];
    assert_int_equal(dt_ingest_release(g, out, 4), 1);
    assert_true(out[0].flags & DT_SAMPLE_OUT_OF_LIMITS);
    assert_true(out[0].flags & DT_SAMPLE_MAPPED);
    dt_ingest_source_stats(g, s, &st);
    assert_int_equal(st.flagged_out_of_limits, 1);
    assert_int_equal(st.accepted, 1);
    dt_ingest_destroy(g);
}

static void test_watermark_orders_two_sources(void **state)
{
    (void)state;
    dt_ingest *g = make(DT_LIMITS_REJECT, NULL);
    dt_source_id s1 = add(g, "one", 0.0, 1.0);
    dt_source_id s2 = add(g, "two", 0.1, 1.0);
    dt_ingest_start(g, 0);
    dt_sample out[16];
    /* Source one is ahead; nothing passes until two has spoken. */
    dt_sample a1 = smp(SIG_A, 0.30, 1), a2 = smp(SIG_A, 0.40, 2);
    dt_ingest_push(g, s1, &a1);
    dt_ingest_push(g, s1, &a2);
    dt_ingest_poll(g, dt_time_from_sec(0.4));
    assert_int_equal(dt_ingest_release(g, out, 16), 0);
    /* Two reports 0.35 with lateness 0.1: watermark = min(0.40, 0.25) = 0.25. */
    dt_sample b1 = smp(SIG_B, 0.35, 3);
    dt_ingest_push(g, s2, &b1);
    dt_ingest_poll(g, dt_time_from_sec(0.4));
    assert_int_equal(dt_ingest_release(g, out, 16), 0);
    dt_ingest_stats gs;
    dt_ingest_stats_get(g, &gs);
    assert_true(gs.watermark == dt_time_from_sec(0.25));
    /* Two reports 0.55: watermark = min(0.40, 0.45) = 0.40. */
    dt_sample b2 = smp(SIG_B, 0.55, 4);
    dt_ingest_push(g, s2, &b2);
    dt_ingest_poll(g, dt_time_from_sec(0.55));
    size_t n = dt_ingest_release(g, out, 16);
    assert_int_equal(n, 3);
    assert_close(out[0].value, 1, 0, 0); /* 0.30 */
    assert_close(out[1].value, 3, 0, 0); /* 0.35 */
    assert_close(out[2].value, 2, 0, 0); /* 0.40 */
    /* A sample behind the released stream goes to the delayed path... */
    dt_sample late = smp(SIG_A, 0.32, 5);
    dt_ingest_push(g, s1, &late);
    /* ...and one older than the 1 s horizon is dropped. */
    dt_sample ancient = smp(SIG_A, -2.0, 6);
    ancient.t_arrival = dt_time_from_sec(0.6);
    dt_ingest_push(g, s1, &ancient);
    dt_sample a3 = smp(SIG_A, 0.60, 7);
    dt_ingest_push(g, s1, &a3);
    dt_ingest_poll(g, dt_time_from_sec(0.6));
    n = dt_ingest_release(g, out, 16);
    assert_int_equal(n, 1);
    assert_true(out[0].flags & DT_SAMPLE_LATE);
    assert_close(out[0].value, 5, 0, 0);
    dt_source_stats st;
    dt_ingest_source_stats(g, s1, &st);
    assert_int_equal(st.late, 1);
    assert_int_equal(st.dropped_too_late, 1);
    assert_int_equal(st.released, 2);
    assert_int_equal(st.pending_merge, 1); /* 0.60 waits for source two */
    dt_ingest_destroy(g);
}

/* A 1 Hz source declaring max_hold 0.3 s among a 10 Hz one: the fast
 * source's samples are released 0.3 s behind now instead of waiting up to a
 * second for the slow one, and the slow source's sample that arrives behind
 * the watermark takes the late path (nothing dropped). */
static void test_max_hold_slow_source(void **state)
{
    (void)state;
    dt_ingest *g = make(DT_LIMITS_REJECT, NULL);
    dt_source_id fast = add(g, "pmu", 0.0, 5.0);
    dt_source_config sc = DT_SOURCE_CONFIG_INIT;
    sc.name = "scada";
    sc.timeout_s = 5.0;
    sc.max_hold_s = 0.3;
    dt_source_id slow;
    assert_int_equal(dt_ingest_add_source(g, &sc, &slow), 0);
    dt_ingest_start(g, 0);
    dt_sample out[32];
    size_t total = 0, late = 0;
    for (int k = 1; k <= 10; k++) { /* fast samples at 0.1 .. 1.0 s */
        dt_sample a = smp(SIG_A, 0.1 * k, k);
        dt_ingest_push(g, fast, &a);
    }
    dt_ingest_poll(g, dt_time_from_sec(1.0));
    size_t n = dt_ingest_release(g, out, 32);
    /* watermark = min(1.0 - 0, max(DT_TIME_MIN, 1.0 - 0.3)) = 0.7: samples 0.1 .. 0.7 */
    assert_int_equal(n, 7);
    total += n;
    dt_ingest_stats gs;
    dt_ingest_stats_get(g, &gs);
    assert_true(gs.watermark == dt_time_from_sec(0.7));
    /* the slow source's reading of 0.5 s arrives at 1.05 s: behind the watermark */
    dt_sample b = smp(SIG_B, 0.5, 100);
    b.t_arrival = dt_time_from_sec(1.05);
    dt_ingest_push(g, slow, &b);
    dt_ingest_poll(g, dt_time_from_sec(1.05));
    n = dt_ingest_release(g, out, 32);
    for (size_t i = 0; i < n; i++)
        late += (out[i].flags & DT_SAMPLE_LATE) != 0;
    total += n;
    assert_int_equal(late, 1);
    /* without max_hold the same silent source would hold everything back */
    dt_ingest *h = make(DT_LIMITS_REJECT, NULL);
    dt_source_id f2 = add(h, "pmu", 0.0, 5.0);
    add(h, "scada", 0.0, 5.0);
    /* bounds: negative or above an hour is invalid */
    sc.name = "bad";
    sc.max_hold_s = -1;
    assert_int_equal(dt_ingest_add_source(h, &sc, &slow), DT_EINVAL);
    sc.max_hold_s = 3601;
    assert_int_equal(dt_ingest_add_source(h, &sc, &slow), DT_EINVAL);
    dt_ingest_start(h, 0);
    for (int k = 1; k <= 10; k++) {
        dt_sample a = smp(SIG_A, 0.1 * k, k);
        dt_ingest_push(h, f2, &a);
    }
    dt_ingest_poll(h, dt_time_from_sec(1.0));
    assert_int_equal(dt_ingest_release(h, out, 32), 0);
    dt_ingest_destroy(h);
    dt_ingest_destroy(g);
    (void)total;
}

static void test_silent_source_goes_stale(void **state)
{
    (void)state;
    dt_ingest *g = make(DT_LIMITS_REJECT, NULL);
    dt_source_id s1 = add(g, "talker", 0.0, 0.5);
    dt_source_id s2 = add(g, "mute", 0.0, 0.5);
    dt_ingest_start(g, 0);
    dt_sample out[64];
    size_t got = 0;
    for (int k = 1; k <= 100; k++) { /* 10 ms steps for 1 s */
        dt_sample a = smp(SIG_A, k * 0.01, 1.0);
        dt_ingest_push(g, s1, &a);
        dt_ingest_poll(g, dt_time_from_sec(k * 0.01));
        got += dt_ingest_release(g, out, 64);
        if (k * 0.01 < 0.5)
            assert_int_equal(got, 0); /* the mute source holds the watermark */
    }
    assert_true(got >= 49); /* released once the mute source went stale */
    dt_source_stats st;
    dt_ingest_source_stats(g, s2, &st);
    assert_int_equal(st.stale, 1);
    assert_int_equal(st.stale_events, 1);
    dt_ingest_source_stats(g, s1, &st);
    assert_int_equal(st.stale, 0);
    dt_ingest_destroy(g);
}

static void test_snapshot_hold_and_linear(void **state)
{
    (void)state;
    dt_ingest *g = make(DT_LIMITS_REJECT, NULL);
    dt_source_id s = add(g, "s", 0, 0.1);
    dt_ingest_start(g, 0);
    dt_sample a = smp(SIG_A, 1.00, 2.0), b = smp(SIG_A, 1.01, 4.0);
    b.flags = DT_SAMPLE_HAS_VARIANCE;
    b.variance = 0.01;
    dt_ingest_push(g, s, &a);
    dt_ingest_push(g, s, &b);
    dt_ingest_poll(g, dt_time_from_sec(1.02));
    dt_sample out[4];
    assert_int_equal(dt_ingest_release(g, out, 4), 2);
    dt_signal_value v;
    assert_int_equal(dt_ingest_value_at(g, SIG_A, dt_time_from_sec(1.0075), DT_INTERP_HOLD, &v), 0);
    assert_close(v.value, 2.0, 0, 0);
    assert_close(v.variance, 0.25, 0, 0); /* model noise */
    assert_true(v.age == dt_time_from_sec(0.0075));
    assert_int_equal(dt_ingest_value_at(g, SIG_A, dt_time_from_sec(1.0075), DT_INTERP_LINEAR, &v), 0);
    assert_close(v.value, 3.5, 1e-12, 0);
    /* variance of (1-f) x + f y with f = 0.75 */
    assert_close(v.variance, 0.0625 * 0.25 + 0.5625 * 0.01, 1e-12, 0);
    /* Beyond the newest: hold, with age; stale after 3 periods (30 ms). */
    assert_int_equal(dt_ingest_value_at(g, SIG_A, dt_time_from_sec(1.05), DT_INTERP_LINEAR, &v), 0);
    assert_close(v.value, 4.0, 0, 0);
    assert_true(v.stale);
    assert_int_equal(dt_ingest_value_at(g, SIG_A, dt_time_from_sec(1.02), DT_INTERP_HOLD, &v), 0);
    assert_false(v.stale);
    assert_int_equal(dt_ingest_value_at(g, SIG_A, dt_time_from_sec(0.5), DT_INTERP_HOLD, &v), DT_EEMPTY);
    assert_int_equal(dt_ingest_value_at(g, SIG_B, dt_time_from_sec(1.0), DT_INTERP_HOLD, &v), DT_EEMPTY);
    assert_int_equal(dt_ingest_value_at(g, 99, 0, DT_INTERP_HOLD, &v), DT_ENOTFOUND);
    /* On a grid: 1.000, 1.0025, ..., holding beyond the newest (1.01). */
    double grid[6];
    assert_int_equal(dt_ingest_resample(g, SIG_A, dt_time_from_sec(1.0), dt_time_from_sec(0.0025),
                                        6, DT_INTERP_LINEAR, grid), 0);
    const double want[6] = {2.0, 2.5, 3.0, 3.5, 4.0, 4.0};
    assert_mat_close(6, 1, grid, want, 1e-12, 1e-12);
    assert_int_equal(dt_ingest_resample(g, SIG_A, dt_time_from_sec(1.0), dt_time_from_sec(0.0025),
                                        6, DT_INTERP_HOLD, grid), 0);
    const double hold[6] = {2.0, 2.0, 2.0, 2.0, 4.0, 4.0};
    assert_mat_close(6, 1, grid, hold, 0, 0);
    assert_int_equal(dt_ingest_resample(g, SIG_A, 0, 1, 1, DT_INTERP_HOLD, grid), DT_EEMPTY);
    assert_int_equal(dt_ingest_resample(g, SIG_A, dt_time_from_sec(1.0), 0, 1, DT_INTERP_HOLD, grid),
                     DT_EINVAL);
    /* a, b, c have periods; only a has data and it is fresh at 1.02. */
    assert_int_equal(dt_ingest_stale_signals(g, dt_time_from_sec(1.02)), 2);
    assert_int_equal(dt_ingest_stale_signals(g, dt_time_from_sec(2.0)), 3);
    dt_ingest_destroy(g);
}

static void test_config_errors(void **state)
{
    (void)state;
    dt_ingest *g = NULL;
    dt_ingest_config c = DT_INGEST_CONFIG_INIT;
    c.horizon_s = -1;
    assert_int_equal(dt_ingest_create(model, &c, &g), DT_EINVAL);
    c = (dt_ingest_config)DT_INGEST_CONFIG_INIT;
    c.size = 8;
    assert_int_equal(dt_ingest_create(model, &c, &g), DT_EABI);
    assert_int_equal(dt_ingest_create(NULL, NULL, &g), DT_EINVAL);
    g = make(DT_LIMITS_REJECT, NULL);
    dt_source_config sc = DT_SOURCE_CONFIG_INIT;
    dt_source_id id;
    assert_int_equal(dt_ingest_add_source(g, &sc, &id), DT_EINVAL); /* no name */
    sc.name = "x";
    sc.ring_capacity = 1000;
    assert_int_equal(dt_ingest_add_source(g, &sc, &id), DT_EINVAL);
    sc.ring_capacity = 0;
    sc.lateness_s = -1;
    assert_int_equal(dt_ingest_add_source(g, &sc, &id), DT_EINVAL);
    sc.lateness_s = 0;
    sc.clock.skew = 0.5;
    assert_int_equal(dt_ingest_add_source(g, &sc, &id), DT_EINVAL);
    sc.clock.skew = 0;
    assert_int_equal(dt_ingest_poll(g, 0), DT_ESTATE);
    assert_int_equal(dt_ingest_add_source(g, &sc, &id), 0);
    assert_int_equal(dt_ingest_start(g, 0), 0);
    assert_int_equal(dt_ingest_add_source(g, &sc, &id), DT_ESTATE);
    assert_int_equal(dt_ingest_start(g, 0), DT_ESTATE);
    assert_null(dt_ingest_ring(g, 7));
    dt_ingest_destroy(g);
}

/* ---- three sources: offsets, skews, jitter, a dropout ---- */

static uint64_t rs = 0x9E3779B97F4A7C15ull;
static double uni(void)
{
    rs ^= rs >> 12;
    rs ^= rs << 25;
    rs ^= rs >> 27;
    return (double)((rs * 2685821657736338717ull) >> 11) * 0x1.0p-53;
}

typedef struct ev {
    dt_time ta;
    dt_sample s;
} ev;

static int by_arrival(const void *x, const void *y)
{
    const ev *a = x, *b = y;
    return (a->ta > b->ta) - (a->ta < b->ta);
}

static void check_identity(const dt_source_stats *st)
{
    assert_true(st->offered == st->dropped_newest + st->dropped_oldest + st->drained +
                                   st->pending_ring);
    assert_true(st->drained == st->accepted + st->rejected_nonfinite +
                                   st->rejected_bad_variance + st->rejected_unknown_signal +
                                   st->rejected_wrong_role + st->rejected_out_of_limits +
                                   st->rejected_future);
    assert_true(st->accepted == st->dropped_reorder_full + st->released + st->late +
                                    st->dropped_too_late + st->pending_merge);
    /* the library's own check agrees, and each identity alone can fail it */
    assert_int_equal(dt_source_stats_consistent(st), 1);
    dt_source_stats bad = *st;
    bad.offered++;
    assert_int_equal(dt_source_stats_consistent(&bad), 0);
    bad = *st;
    bad.rejected_future++;
    assert_int_equal(dt_source_stats_consistent(&bad), 0);
    bad = *st;
    bad.pending_merge++;
    assert_int_equal(dt_source_stats_consistent(&bad), 0);
    assert_int_equal(dt_source_stats_consistent(NULL), 0);
}

static void test_three_sources_merge(void **state)
{
    (void)state;
    const double T = 60.0;
    struct {
        double offset, skew, period, jitter, lateness;
        uint32_t sig;
    } src[3] = {
        {0.1, 50e-6, 0.010, 0.001, 0.02, SIG_A},
        {-2.0, -80e-6, 0.020, 0.003, 0.03, SIG_B},
        {0.5, 0.0, 0.005, 0.0005, 0.01, SIG_C},
    };
    size_t cap = 0;
    for (int i = 0; i < 3; i++)
        cap += (size_t)(T / src[i].period) + 1;
    ev *evs = malloc(cap * sizeof *evs);
    assert_non_null(evs);
    size_t ne = 0;
    size_t gen[3] = {0};
    for (int i = 0; i < 3; i++)
        for (double tc = src[i].period; tc < T; tc += src[i].period) {
            if (i == 1 && tc >= 20.0 && tc < 23.0)
                continue; /* source two's sensor drops out for 3 s */
            double ts = tc + src[i].offset + src[i].skew * tc;
            double delay = -src[i].jitter * log(1.0 - uni());
            ev *e = &evs[ne++];
            e->ta = dt_time_from_sec(tc + delay);
            e->s = smp(src[i].sig, ts, tc); /* value = true common time */
            e->s.t_arrival = e->ta;
            e->s.flags = (uint32_t)i << 8; /* remember the source */
            gen[i]++;
        }
    qsort(evs, ne, sizeof *evs, by_arrival);

    dtt_counter ctr = {0};
    dt_allocator a = dtt_allocator(&ctr);
    dt_ingest *g = make(DT_LIMITS_FLAG, &a);
    dt_source_id id[3];
    for (int i = 0; i < 3; i++) {
        dt_source_config sc = DT_SOURCE_CONFIG_INIT;
        sc.name = i == 0 ? "pmu" : i == 1 ? "plc" : "daq";
        sc.lateness_s = src[i].lateness;
        sc.timeout_s = 0.5;
        sc.clock.mode = DT_CLOCK_ESTIMATE;
        assert_int_equal(dt_ingest_add_source(g, &sc, &id[i]), 0);
    }
    assert_int_equal(dt_ingest_start(g, 0), 0);
    long calls_after_start = ctr.calls;

    dt_sample out[256];
    size_t next = 0, released = 0, late = 0, bad_order = 0, far = 0;
    dt_time last = DT_TIME_MIN;
    for (dt_time now = DT_NS_PER_MS; now <= dt_time_from_sec(T + 2); now += DT_NS_PER_MS) {
        while (next < ne && evs[next].ta <= now) {
            int i = (int)(evs[next].s.flags >> 8);
            dt_sample s = evs[next].s;
            s.flags = 0;
            assert_int_equal(dt_ingest_push(g, id[i], &s), 0);
            next++;
        }
        assert_int_equal(dt_ingest_poll(g, now), 0);
        size_t n;
        while ((n = dt_ingest_release(g, out, 256)) > 0) {
            for (size_t k = 0; k < n; k++) {
                if (out[k].flags & DT_SAMPLE_LATE) {
                    late++;
                    continue;
                }
                if (out[k].t_source < last)
                    bad_order++;
                last = out[k].t_source;
                released++;
                /* After 10 s the clocks are locked: mapped time within 1 ms
                 * of the true time carried in the value. */
                if (out[k].value > 10.0 &&
                    fabs(dt_time_to_sec(out[k].t_source) - out[k].value) > 1e-3)
                    far++;
            }
        }
    }
    assert_int_equal(ctr.calls, calls_after_start); /* no allocation after start */
    size_t total = 0;
    dt_ingest_stats gs;
    dt_ingest_stats_get(g, &gs);
    for (int i = 0; i < 3; i++) {
        dt_source_stats st;
        dt_ingest_source_stats(g, id[i], &st);
        check_identity(&st);
        assert_true(st.offered == gen[i]);
        assert_int_equal(st.pending_ring, 0);
        assert_int_equal(st.pending_merge, 0);
        total += st.released + st.late + st.dropped_too_late;
        print_message("source %d: offered %llu released %llu late %llu too late %llu "
                      "stale events %llu, clock offset %.6f s skew %.1f ppm\n",
                      i, (unsigned long long)st.offered, (unsigned long long)st.released,
                      (unsigned long long)st.late, (unsigned long long)st.dropped_too_late,
                      (unsigned long long)st.stale_events,
                      dt_clock_offset_s(dt_ingest_clock(g, id[i]), 0),
                      dt_clock_skew(dt_ingest_clock(g, id[i])) * 1e6);
    }
    assert_int_equal(bad_order, 0);
    assert_int_equal(far, 0);
    assert_true(total == ne);
    assert_true(released + late + gs.total.dropped_too_late == ne);
    assert_int_equal(gs.total.rejected_future, 0);
    /* The dropout made source two stale once (and the end made all stale). */
    dt_source_stats st1;
    dt_ingest_source_stats(g, id[1], &st1);
    assert_int_equal(st1.stale_events, 2);
    assert_true(gs.total.dropped_too_late * 1000 < ne); /* below 0.1 % */
    dt_ingest_destroy(g);
    assert_int_equal(ctr.live, 0);
    free(evs);
}

/* Times from outside at the edges of int64 (a frame's t_source, an
 * adapter's t_arrival) with a fixed clock at its largest offset and an
 * estimated clock: refused and counted, never arithmetic (UBSan runs this). */
static void test_extreme_times_refused(void **state)
{
    (void)state;
    dt_ingest *g = make(DT_LIMITS_REJECT, NULL);
    dt_source_config sc = DT_SOURCE_CONFIG_INIT;
    sc.name = "fixed";
    sc.clock.mode = DT_CLOCK_FIXED;
    sc.clock.offset_s = 9.99e8;
    sc.clock.skew = 0.0099;
    dt_source_id fx, es;
    assert_int_equal(dt_ingest_add_source(g, &sc, &fx), 0);
    sc.name = "estimated";
    sc.clock = (dt_clock_config){DT_CLOCK_ESTIMATE, 0, 0, 0.1, 4, 1.0};
    assert_int_equal(dt_ingest_add_source(g, &sc, &es), 0);
    assert_int_equal(dt_ingest_start(g, INT64_MIN), DT_ERANGE);
    assert_int_equal(dt_ingest_start(g, 0), 0);
    static const dt_time bad[] = {INT64_MIN, INT64_MIN + 1, -DT_TIME_LIMIT - 1,
                                  DT_TIME_LIMIT + 1, INT64_MAX - 1, INT64_MAX};
    size_t n_bad = sizeof bad / sizeof *bad;
    dt_time now = DT_NS_PER_S;
    for (dt_source_id id = 0; id < 2; id++) {
        for (size_t i = 0; i < n_bad; i++) {
            dt_sample s = smp(SIG_A, 0, 1);
            s.t_source = bad[i];
            s.t_arrival = now;
            assert_int_equal(dt_ingest_push(g, id, &s), 0);
            s.t_source = 0;
            s.t_arrival = bad[i]; /* after now: stamped now; before the limit: refused */
            assert_int_equal(dt_ingest_push(g, id, &s), 0);
        }
        /* the largest valid times: accepted or refused by the future check or
         * as saturating, never overflowing */
        dt_sample s = smp(SIG_A, 0, 1);
        s.t_source = DT_TIME_LIMIT;
        assert_int_equal(dt_ingest_push(g, id, &s), 0);
        s.t_source = -DT_TIME_LIMIT;
        assert_int_equal(dt_ingest_push(g, id, &s), 0);
    }
    assert_int_equal(dt_ingest_poll(g, INT64_MAX), DT_ERANGE);
    assert_int_equal(dt_ingest_poll(g, -DT_TIME_LIMIT - 1), DT_ERANGE);
    assert_int_equal(dt_ingest_poll(g, now), 0);
    dt_sample out[64];
    while (dt_ingest_release(g, out, 64) > 0) {
    }
    for (dt_source_id id = 0; id < 2; id++) {
        dt_source_stats st;
        assert_int_equal(dt_ingest_source_stats(g, id, &st), 0);
        /* every bad t_source, and the t_arrivals below the limit (3 of 6) */
        assert_true(st.rejected_bad_time >= n_bad + 3);
        assert_true(dt_source_stats_consistent(&st));
        assert_true(st.drained == 2 * n_bad + 2);
    }
    dt_ingest_destroy(g);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_validation_counters),
    cmocka_unit_test(test_watermark_orders_two_sources),
    cmocka_unit_test(test_max_hold_slow_source),
    cmocka_unit_test(test_silent_source_goes_stale),
    cmocka_unit_test(test_snapshot_hold_and_linear),
    cmocka_unit_test(test_config_errors),
    cmocka_unit_test(test_three_sources_merge),
    cmocka_unit_test(test_extreme_times_refused),
};

int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, setup, teardown);
}
