/* A step of the process seen by several sensors at once: the belief is
 * disputed from the first sample that shows it (signals gated at the same
 * instant confirm each other as a second gated sample of one signal would),
 * and only while no newer sample has been applied. Each test states what the
 * estimator did before. */
#include "test_util.h"

#include "dtwin/dtwin.h"

/* One state x (a random walk), three sensors of it at 10 Hz. */
#define DOC                                                                                   \
    "{\"dtwin\":1,\"name\":\"step\",\"assets\":[{\"id\":\"p\"}],\"signals\":["               \
    "{\"id\":\"x\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"estimated\"}," \
    "{\"id\":\"a\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","  \
    "\"noise\":{\"std\":0.01},\"period\":0.1},"                                               \
    "{\"id\":\"b\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","  \
    "\"noise\":{\"std\":0.01},\"period\":0.1},"                                               \
    "{\"id\":\"c\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","  \
    "\"noise\":{\"std\":0.01},\"period\":0.1}],"                                              \
    "\"estimator\":{\"states\":[\"x\"],\"A\":[[0]],\"Q\":[1e-4],\"x0\":[0],\"P0\":[1],"     \
    "\"recover_after\":3,\"measurements\":[{\"signal\":\"a\",\"H\":{\"x\":1}},"                \
    "{\"signal\":\"b\",\"H\":{\"x\":1}},{\"signal\":\"c\",\"H\":{\"x\":1}}]}}"

enum { S_X, S_A, S_B, S_C };

static uint64_t rs = 7;
static double noise(void) /* uniform in [-0.01, 0.01]: never gated by itself */
{
    rs = rs * 6364136223846793005ull + 1442695040888963407ull;
    return ((double)(rs >> 11) * 0x1.0p-53 * 2 - 1) * 0.01;
}

typedef struct fixture {
    dt_model *m;
    dt_est *e;
} fixture;

static fixture make(void)
{
    fixture f = {NULL, NULL};
    dt_model_options o = DT_MODEL_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_diag d;
    int rc = dt_model_load_json(DOC, strlen(DOC), &o, &f.m, &d);
    if (rc)
        print_error("%s\n", d.message);
    assert_int_equal(rc, 0);
    dt_est_config c = DT_EST_CONFIG_INIT;
    c.logger = dt_logger_silent();
    rc = dt_est_create_json(f.m, &c, &f.e, &d);
    if (rc)
        print_error("%s\n", d.message);
    assert_int_equal(rc, 0);
    assert_int_equal(dt_est_start(f.e, 0), 0);
    return f;
}

static void done(fixture *f)
{
    dt_est_destroy(f->e);
    dt_model_destroy(f->m);
}

static void put(dt_est *e, uint32_t sig, double t, double v)
{
    dt_sample s = {sig, DT_SAMPLE_MAPPED, dt_time_from_sec(t), dt_time_from_sec(t), v, 0};
    assert_int_equal(dt_est_process(e, &s), 0);
}

static uint64_t gated(dt_est *e)
{
    dt_est_stats st;
    dt_est_stats_get(e, &st);
    return st.gated;
}

/* Converged on x = 0 with every sensor, samples at 0.1 s .. k_end / 10 s. */
static void settle(dt_est *e, int k_end)
{
    for (int k = 1; k <= k_end; k++) {
        put(e, S_A, k / 10.0, noise());
        put(e, S_B, k / 10.0, noise());
        put(e, S_C, k / 10.0, noise());
    }
    assert_int_equal(gated(e), 0);
    assert_int_equal(dt_est_disputed(e), 0);
}

/* The process steps to 1 (100 sigma of a sensor): the first sample in which
 * two sensors are gated disputes the belief. Before: nothing was disputed
 * until each sensor's second gated sample, one sampling period later (the
 * twin acted on the wrong belief meanwhile). */
static void test_step_seen_by_two_sensors_disputes_at_once(void **state)
{
    (void)state;
    fixture f = make();
    settle(f.e, 50);
    put(f.e, S_A, 5.1, 1 + noise());
    assert_int_equal(gated(f.e), 1);
    assert_int_equal(dt_est_disputed(f.e), 0); /* one gated sample: an outlier so far */
    put(f.e, S_B, 5.1, 1 + noise());
    assert_int_equal(gated(f.e), 2);
    assert_int_equal(dt_est_disputed(f.e), 2); /* two at the same instant: the belief */
    put(f.e, S_C, 5.1, 1 + noise());
    assert_int_equal(dt_est_disputed(f.e), 3);
    /* the next sample: runs of two, the dispute goes on until the recovery */
    put(f.e, S_A, 5.2, 1 + noise());
    put(f.e, S_B, 5.2, 1 + noise());
    put(f.e, S_C, 5.2, 1 + noise());
    assert_int_equal(dt_est_disputed(f.e), 3);
    put(f.e, S_A, 5.3, 1 + noise()); /* a's third: recovery */
    dt_est_stats st;
    dt_est_stats_get(f.e, &st);
    assert_int_equal(st.recoveries, 1);
    assert_close(dt_kf_state(dt_est_kf(f.e))[0], 1, 0, 0.03);
    put(f.e, S_B, 5.3, 1 + noise());
    put(f.e, S_C, 5.3, 1 + noise());
    assert_int_equal(dt_est_disputed(f.e), 0);
    done(&f);
}

/* Outliers of different sensors at different instants, or one sensor's
 * outlier while another agrees at the same instant, dispute nothing (as
 * before). */
static void test_separate_outliers_do_not_dispute(void **state)
{
    (void)state;
    fixture f = make();
    settle(f.e, 50);
    put(f.e, S_A, 5.1, 1);
    put(f.e, S_B, 5.1, noise());
    put(f.e, S_C, 5.1, noise());
    assert_int_equal(gated(f.e), 1);
    assert_int_equal(dt_est_disputed(f.e), 0);
    put(f.e, S_B, 5.15, 1); /* b's outlier at another instant, a's still the last of a */
    assert_int_equal(gated(f.e), 2);
    assert_int_equal(dt_est_disputed(f.e), 0);
    put(f.e, S_A, 5.2, noise());
    put(f.e, S_B, 5.2, noise());
    assert_int_equal(dt_est_disputed(f.e), 0);
    done(&f);
}

/* Two delayed samples gated at their own (past) instant, while the filter
 * has since applied newer samples that agree with it: no dispute (the claim
 * was about a belief that has moved on; with the coincidence alone a slow,
 * late source would hold the twin until its next reading). A run of two of
 * one of them still disputes. */
static void test_late_coincidence_against_a_newer_belief_does_not_dispute(void **state)
{
    (void)state;
    fixture f = make();
    settle(f.e, 50);
    put(f.e, S_C, 5.1, noise());
    put(f.e, S_C, 5.2, noise());
    put(f.e, S_A, 5.05, 1); /* late: applied at 5.05, behind c's 5.2 */
    put(f.e, S_B, 5.05, 1);
    assert_int_equal(gated(f.e), 2);
    assert_true(dt_est_data_time(f.e) == dt_time_from_sec(5.2));
    assert_int_equal(dt_est_disputed(f.e), 0);
    put(f.e, S_A, 5.25, 1); /* a's second in a row */
    assert_int_equal(dt_est_disputed(f.e), 1);
    done(&f);
}

/* A coincidence disputes only until the filter applies a newer sample: the
 * next sample of an agreeing sensor ends it, a second gated sample of the
 * same sensors would have continued it as a run. */
static void test_coincidence_ends_with_newer_agreeing_data(void **state)
{
    (void)state;
    fixture f = make();
    settle(f.e, 50);
    put(f.e, S_A, 5.1, 0.5);
    put(f.e, S_B, 5.1, -0.5); /* two faults at one instant, in opposite directions */
    put(f.e, S_C, 5.1, noise());
    assert_int_equal(dt_est_disputed(f.e), 2);
    put(f.e, S_C, 5.2, noise());
    assert_int_equal(dt_est_disputed(f.e), 0);
    put(f.e, S_A, 5.2, noise());
    put(f.e, S_B, 5.2, noise());
    assert_int_equal(dt_est_disputed(f.e), 0);
    done(&f);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_step_seen_by_two_sensors_disputes_at_once),
    cmocka_unit_test(test_separate_outliers_do_not_dispute),
    cmocka_unit_test(test_late_coincidence_against_a_newer_belief_does_not_dispute),
    cmocka_unit_test(test_coincidence_ends_with_newer_agreeing_data),
};

DTT_MAIN(tests)
