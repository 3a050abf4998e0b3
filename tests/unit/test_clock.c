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

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_fixed_mapping),
    cmocka_unit_test(test_config_checks),
    cmocka_unit_test(test_estimate_offset_and_skew),
    cmocka_unit_test(test_estimate_heavy_jitter_and_negative_skew),
    cmocka_unit_test(test_clock_step_forward_and_back),
};

DTT_MAIN(tests)
