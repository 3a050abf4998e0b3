#include <stdlib.h>

#include "test_util.h"

#include "dtwin/dtwin.h"

/* Deterministic exponential variates (xorshift64*). */
static uint64_t rng_state = 88172645463325252ull;
static double uniform(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ull) >> 11) * 0x1.0p-53;
}
static double expo(double mean) { return -mean * log(1.0 - uniform()); }

static void test_fixed_mapping(void **state)
{
    (void)state;
    dt_clock c;
    dt_clock_config cfg = {DT_CLOCK_FIXED, 0.25, 1e-4, 0, 0, 0};
    assert_int_equal(dt_clock_init(&c, &cfg), 0);
    assert_true(dt_clock_locked(&c));
    dt_time ts = 100 * DT_NS_PER_S;
    /* common = ts + 0.25 s + 1e-4 * ts = 100.26 s */
    assert_true(dt_clock_map(&c, ts) == INT64_C(100260000000));
    dt_clock_observe(&c, ts, 0); /* no effect on a fixed clock */
    assert_true(dt_clock_map(&c, ts) == INT64_C(100260000000));
    assert_close(dt_clock_offset_s(&c, ts), 0.26, 1e-12, 0);
}

static void test_config_checks(void **state)
{
    (void)state;
    dt_clock c;
    dt_clock_config bad[] = {
        {(dt_clock_mode)9, 0, 0, 0, 0, 0}, {DT_CLOCK_FIXED, NAN, 0, 0, 0, 0},
        {DT_CLOCK_FIXED, 0, 0.02, 0, 0, 0}, {DT_CLOCK_ESTIMATE, 0, 0, 1e-6, 0, 0},
        {DT_CLOCK_ESTIMATE, 0, 0, 1, 1, 0}, {DT_CLOCK_ESTIMATE, 0, 0, 1, 65, 0},
        {DT_CLOCK_ESTIMATE, 0, 0, 1, 8, -1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(dt_clock_init(&c, &bad[i]), DT_EINVAL);
    assert_int_equal(dt_clock_init(NULL, &bad[0]), DT_EINVAL);
}

/* Source clock: ts = tc + offset + skew * tc. Samples every `period` of common
 * time, arriving after an exponential delay. Returns the worst mapping error
 * (seconds) over samples with tc in [check_from, end). */
typedef struct sim {
    double offset, skew, period, jitter_mean, end, check_from;
    double jump_at, jump; /* source clock step at tc = jump_at */
} sim;

static double run(const sim *s, dt_clock *c, double *err_at_end)
{
    double worst = 0, last = 0;
    for (double tc = 0; tc < s->end; tc += s->period) {
        double off = s->offset + (s->jump != 0 && tc >= s->jump_at ? s->jump : 0);
        double ts = tc + off + s->skew * tc;
        double ta = tc + expo(s->jitter_mean);
        dt_time tsn = dt_time_from_sec(ts);
        dt_clock_observe(c, tsn, dt_time_from_sec(ta));
        double err = fabs(dt_time_to_sec(dt_clock_map(c, tsn)) - tc);
        if (tc >= s->check_from && err > worst)
            worst = err;
        last = err;
    }
    if (err_at_end)
        *err_at_end = last;
    return worst;
}

static void test_estimate_offset_and_skew(void **state)
{
    (void)state;
    /* 250 ms offset, 100 ppm skew, 100 Hz, exponential delay with 2 ms mean:
     * within 1 ms from 10 s on, and still within 1 ms at 300 s when the skew
     * has added 30 ms. */
    dt_clock c;
    dt_clock_config cfg = {DT_CLOCK_ESTIMATE, 0, 0, 1.0, 16, 1.0};
    assert_int_equal(dt_clock_init(&c, &cfg), 0);
    sim s = {0.25, 1e-4, 0.01, 0.002, 300.0, 10.0, 0, 0};
    double worst = run(&s, &c, NULL);
    print_message("offset 250 ms, skew 100 ppm: worst error after 10 s %.1f us, "
                  "skew estimate %.2f ppm\n",
                  worst * 1e6, dt_clock_skew(&c) * 1e6);
    assert_true(worst < 1e-3);
    assert_true(dt_clock_locked(&c));
    /* The mapping's skew undoes the source's: -s / (1 + s); within 5 ppm. */
    assert_close(dt_clock_skew(&c), -1e-4 / (1 + 1e-4), 0, 5e-6);
    assert_int_equal(dt_clock_resets(&c), 0);
}

static void test_estimate_heavy_jitter_and_negative_skew(void **state)
{
    (void)state;
    dt_clock c;
    dt_clock_config cfg = {DT_CLOCK_ESTIMATE, 0, 0, 1.0, 16, 1.0};
    assert_int_equal(dt_clock_init(&c, &cfg), 0);
    sim s = {-3.0, -2e-4, 0.02, 0.010, 120.0, 10.0, 0, 0};
    double worst = run(&s, &c, NULL);
    assert_true(worst < 1e-3);
}

static void test_clock_step_forward_and_back(void **state)
{
    (void)state;
    dt_clock c;
    dt_clock_config cfg = {DT_CLOCK_ESTIMATE, 0, 0, 1.0, 16, 1.0};
    const double jumps[] = {5.0, -5.0, 300.0, -300.0};
    for (size_t k = 0; k < 4; k++) {
        assert_int_equal(dt_clock_init(&c, &cfg), 0);
        /* Step at 30 s; check from 45 s (a reset plus 10 s of data). */
        sim s = {0.25, 1e-4, 0.01, 0.002, 60.0, 45.0, 30.0, jumps[k]};
        double worst = run(&s, &c, NULL);
        if (worst >= 1e-3)
            print_error("jump %g s: worst error %g s\n", jumps[k], worst);
        assert_true(worst < 1e-3);
        assert_true(dt_clock_resets(&c) >= 1);
    }
}

/* A locked estimated clock: 10 s of samples every 10 ms, 2 ms + exp(1 ms)
 * delay, offset +3 s (source behind). Returns the source time of the last. */
static dt_time locked(dt_clock *c)
{
    dt_clock_config cfg = {DT_CLOCK_ESTIMATE, 0, 0, 1.0, 8, 1.0};
    assert_int_equal(dt_clock_init(c, &cfg), 0);
    dt_time ts = 0;
    for (int k = 0; k < 1000; k++) {
        ts = (dt_time)k * 10 * DT_NS_PER_MS;
        dt_time ta = ts + 3 * DT_NS_PER_S + 2 * DT_NS_PER_MS + (dt_time)(expo(1e-3) * 1e9);
        dt_clock_observe(c, ts, ta);
    }
    assert_true(dt_clock_locked(c));
    return ts;
}

/* One sample far older than the window used to reset the model and map to
 * "now": it is an outlier, the model stays, and it maps to its old time. */
static void test_old_sample_does_not_reset(void **state)
{
    (void)state;
    dt_clock c;
    dt_time ts = locked(&c);
    dt_time now = ts + 3 * DT_NS_PER_S + 5 * DT_NS_PER_MS;
    uint64_t resets = dt_clock_resets(&c);
    double off = dt_clock_offset_s(&c, ts);
    dt_clock_observe(&c, ts - 60 * DT_NS_PER_S, now); /* a frame from a minute ago */
    assert_int_equal(dt_clock_resets(&c), resets);
    assert_close(dt_clock_offset_s(&c, ts), off, 0, 0);
    /* it maps to a minute before now, not to now */
    assert_true(now - dt_clock_map(&c, ts - 60 * DT_NS_PER_S) > 59 * DT_NS_PER_S);
    /* two more (not spanning a window of arrival time) change nothing either */
    dt_clock_observe(&c, ts - 60 * DT_NS_PER_S + DT_NS_PER_MS, now);
    dt_clock_observe(&c, ts - 60 * DT_NS_PER_S + 2 * DT_NS_PER_MS, now);
    assert_int_equal(dt_clock_resets(&c), resets);
}

/* A store-and-forward upload: 5 s of old readings arrive within 50 ms, then
 * live data resumes. Before, the windows fitted a skew of -1 and the model
 * was broken afterwards; now the backlog is late data, the model untouched,
 * the skew within its bound. */
static void test_backlog_is_late_data(void **state)
{
    (void)state;
    dt_clock c;
    dt_time ts = locked(&c);
    double off = dt_clock_offset_s(&c, ts), skew = dt_clock_skew(&c);
    uint64_t resets = dt_clock_resets(&c);
    dt_time t_up = ts + 5 * DT_NS_PER_S + 3 * DT_NS_PER_S; /* arrival of the upload */
    for (int k = 1; k <= 500; k++) {
        dt_time old = ts + (dt_time)k * 10 * DT_NS_PER_MS;
        dt_clock_observe(&c, old, t_up + (dt_time)k * 100 * DT_NS_PER_US);
    }
    assert_int_equal(dt_clock_resets(&c), resets);
    assert_true(fabs(dt_clock_skew(&c)) < DT_CLOCK_MAX_SKEW);
    /* live again */
    for (int k = 501; k <= 800; k++) {
        dt_time t = ts + (dt_time)k * 10 * DT_NS_PER_MS;
        dt_clock_observe(&c, t, t + 3 * DT_NS_PER_S + 2 * DT_NS_PER_MS);
    }
    assert_int_equal(dt_clock_resets(&c), resets);
    assert_close(dt_clock_offset_s(&c, ts), off, 0, 2e-3);
    assert_close(dt_clock_skew(&c), skew, 0, 1e-3);
}

/* A backward step is adopted only as a forward one is: 3 agreeing
 * observations spanning a window of arrival time; the replay of old frames at
 * their own rate looks old for that whole window. */
static void test_backward_step_needs_a_window(void **state)
{
    (void)state;
    dt_clock c;
    dt_time ts = locked(&c);
    uint64_t resets = dt_clock_resets(&c);
    dt_time back = 20 * DT_NS_PER_S; /* frames from 20 s ago, replayed live */
    dt_time ta0 = ts + 3 * DT_NS_PER_S + 12 * DT_NS_PER_MS;
    int k = 0;
    for (; dt_clock_resets(&c) == resets && k < 1000; k++) {
        dt_time ta = ta0 + (dt_time)k * 10 * DT_NS_PER_MS;
        dt_time old = ta - 3 * DT_NS_PER_S - 2 * DT_NS_PER_MS - back;
        /* until adopted, each maps to its old time: 20 s before arrival */
        assert_true(ta - dt_clock_map(&c, old) > back - DT_NS_PER_S);
        dt_clock_observe(&c, old, ta);
    }
    /* adopted after one window (1 s) of arrival time, not after 3 samples */
    assert_int_equal(dt_clock_resets(&c), resets + 1);
    assert_int_equal(k, 101);
}

/* The line lies under every window minimum it was fitted to, whatever steps
 * the smallest delay takes: here a sender whose path gains 47 ms at 3 s (a
 * restart onto another route, or a receiver stamping late for a while) and
 * loses it again at 7.5 s, on Unix time. A least-squares line through the
 * minima ran above half of them and read the step as a skew; extrapolated,
 * it mapped samples more than 50 ms past their arrival, where the ingest's
 * default future tolerance refuses them (seen as a flaky live test, whose
 * arrivals were also stamped on a 100 ms cycle). */
static void test_line_under_the_minima_across_delay_steps(void **state)
{
    (void)state;
    const dt_time ms = DT_NS_PER_MS, period = 50 * ms;
    const dt_time unix0 = INT64_C(1764633600) * DT_NS_PER_S; /* the sender's clock */
    dt_time worst_ahead = INT64_MIN;
    double worst_over = -1e300;
    for (dt_time ph = 0; ph < period; ph += 5 * ms) {
        dt_clock c;
        dt_clock_config cfg = {DT_CLOCK_ESTIMATE, 0, 0, 0, 0, 0};
        assert_int_equal(dt_clock_init(&c, &cfg), 0);
        for (dt_time tc = 200 * ms + ph; tc < 12 * DT_NS_PER_S; tc += period) {
            dt_time path = tc >= 3 * DT_NS_PER_S && tc < 7500 * ms ? 47 * ms : 0;
            dt_time ta = tc + path + 200 * DT_NS_PER_US + (dt_time)(expo(1e-3) * 1e9);
            dt_time ts = unix0 + tc;
            dt_clock_observe(&c, ts, ta);
            dt_time m = dt_clock_map(&c, ts);
            worst_ahead = m - ta > worst_ahead ? m - ta : worst_ahead;
            for (uint32_t i = 0; i < c.n_windows && dt_clock_locked(&c); i++) {
                double over = dt_clock_offset_s(&c, c.pt_ts[i]) * 1e9 - (double)c.pt_d[i];
                worst_over = over > worst_over ? over : worst_over;
            }
        }
        assert_int_equal(dt_clock_resets(&c), 0);
    }
    print_message("delay steps of 47 ms: worst mapped - arrival %.1f ms, line above a "
                  "window minimum by at most %.0f ns\n",
                  (double)worst_ahead / 1e6, worst_over);
    assert_true(worst_over < 1e3); /* rounding of ~2e18 ns offsets in doubles */
    assert_true(worst_ahead < 50 * ms);
}

/* No arithmetic on times outside +-DT_TIME_LIMIT: ignored by the model,
 * mapped to DT_TIME_MIN/MAX (fixed and estimated clocks, any offset). */
static void test_extreme_times(void **state)
{
    (void)state;
    dt_clock c;
    dt_time ts = locked(&c);
    uint64_t obs = c.observations;
    static const dt_time bad[] = {INT64_MIN, INT64_MAX, -DT_TIME_LIMIT - 1, DT_TIME_LIMIT + 1};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        dt_clock_observe(&c, bad[i], ts);
        dt_clock_observe(&c, ts, bad[i]);
        dt_time m = dt_clock_map(&c, bad[i]);
        assert_true(m == (bad[i] < 0 ? DT_TIME_MIN : DT_TIME_MAX));
    }
    assert_true(c.observations == obs);
    /* valid extremes both ways: observed and mapped without overflow; delays
     * of +-2^63 (their differences overflowed in the step rule) are outliers */
    dt_clock_observe(&c, -DT_TIME_LIMIT, DT_TIME_LIMIT);
    dt_clock_observe(&c, DT_TIME_LIMIT, -DT_TIME_LIMIT);
    dt_clock_observe(&c, 0, DT_TIME_LIMIT / 2);
    dt_clock_observe(&c, DT_TIME_LIMIT, 0);
    dt_clock_observe(&c, -DT_TIME_LIMIT, 0);
    assert_true(c.observations == obs + 3);
    assert_true(dt_time_valid(dt_clock_map(&c, DT_TIME_LIMIT)));
    assert_true(dt_time_valid(dt_clock_map(&c, -DT_TIME_LIMIT)));
    dt_clock_config fx = {DT_CLOCK_FIXED, 1e9, 0.0099, 0, 0, 0};
    assert_int_equal(dt_clock_init(&c, &fx), 0);
    assert_true(dt_clock_map(&c, DT_TIME_LIMIT) == DT_TIME_LIMIT);
    fx.offset_s = -1e9;
    fx.skew = -0.0099;
    assert_int_equal(dt_clock_init(&c, &fx), 0);
    assert_true(dt_clock_map(&c, -DT_TIME_LIMIT) == -DT_TIME_LIMIT);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_fixed_mapping),
    cmocka_unit_test(test_config_checks),
    cmocka_unit_test(test_estimate_offset_and_skew),
    cmocka_unit_test(test_estimate_heavy_jitter_and_negative_skew),
    cmocka_unit_test(test_clock_step_forward_and_back),
    cmocka_unit_test(test_old_sample_does_not_reset),
    cmocka_unit_test(test_backlog_is_late_data),
    cmocka_unit_test(test_backward_step_needs_a_window),
    cmocka_unit_test(test_extreme_times),
    cmocka_unit_test(test_line_under_the_minima_across_delay_steps),
};

DTT_MAIN(tests)
