#include "test_util.h"

#include "dtwin/dtwin.h"

static const int all_codes[] = {
#define X(name, val, text) DT_##name,
    DT_ERRNO_MAP(X)
#undef X
};

static void test_strerror_covers_every_code(void **state)
{
    (void)state;
    size_t n = sizeof all_codes / sizeof all_codes[0];
    assert_true(n >= 10);
    for (size_t i = 0; i < n; i++) {
        int code = all_codes[i];
        assert_true(code < 0);
        assert_string_not_equal(dt_strerror(code), "unknown error");
        assert_string_not_equal(dt_err_name(code), "DT_UNKNOWN");
        assert_true(strncmp(dt_err_name(code), "DT_E", 4) == 0);
        for (size_t j = 0; j < i; j++) {
            assert_int_not_equal(code, all_codes[j]);
            assert_string_not_equal(dt_strerror(code), dt_strerror(all_codes[j]));
        }
    }
    assert_string_equal(dt_strerror(DT_OK), "success");
    assert_string_equal(dt_err_name(DT_EINVAL), "DT_EINVAL");
    assert_string_equal(dt_strerror(-9999), "unknown error");
    assert_string_equal(dt_strerror(5), "unknown error");
}

static void test_time_conversions(void **state)
{
    (void)state;
    assert_true(dt_time_from_sec(1.5) == INT64_C(1500000000));
    assert_true(dt_time_from_sec(-0.25) == INT64_C(-250000000));
    assert_true(dt_time_from_sec(1e-9) == 1);
    assert_true(dt_time_from_sec(0.4e-9) == 0); /* rounds to nearest */
    assert_true(dt_time_from_sec(1e30) == DT_TIME_MAX);
    assert_true(dt_time_from_sec(-1e30) == DT_TIME_MIN);
    assert_true(dt_time_from_sec(NAN) == 0);
    assert_close(dt_time_to_sec(INT64_C(1500000000)), 1.5, 0, 0);
    assert_close(dt_time_to_sec(INT64_C(-250000001)), -0.250000001, 1e-15, 0);
    /* Large times: the result is the double nearest the exact value (within
     * one unit in the last place, 1.2e-10 s at 10^6 s). */
    dt_time big = INT64_C(1000000) * DT_NS_PER_S + 1;
    assert_close(dt_time_to_sec(big), 1e6 + 1e-9, 2.3e-16, 0);

    dt_time t = 42;
    assert_int_equal(dt_time_from_sec_checked(NAN, &t), DT_ERANGE);
    assert_int_equal(dt_time_from_sec_checked(INFINITY, &t), DT_ERANGE);
    assert_int_equal(dt_time_from_sec_checked(1e10, &t), DT_ERANGE);
    assert_true(t == 42); /* unchanged on failure */
    assert_int_equal(dt_time_from_sec_checked(2.0, NULL), DT_EINVAL);
    assert_int_equal(dt_time_from_sec_checked(-9e9, &t), DT_OK);
    assert_true(t == INT64_C(-9000000000) * DT_NS_PER_S);
}

static void test_monotonic_clock(void **state)
{
    (void)state;
    dt_time a = dt_time_monotonic();
    dt_time b = dt_time_monotonic();
    assert_true(a > 0);
    assert_true(b >= a);
}

typedef struct captured {
    int calls;
    dt_log_level level;
    char module[32];
    char message[128];
} captured;

static void capture(void *user, dt_log_level level, const char *module,
                    const char *message)
{
    captured *c = user;
    c->calls++;
    c->level = level;
    snprintf(c->module, sizeof c->module, "%s", module);
    snprintf(c->message, sizeof c->message, "%s", message);
}

static void test_log_hook_and_levels(void **state)
{
    (void)state;
    captured cap = {0};
    dt_logger lg = {capture, &cap, DT_LOG_INFO};
    dt_model_options opt = DT_MODEL_OPTIONS_INIT;
    opt.logger = &lg;
    static const char doc[] = "{\"dtwin\":1,\"name\":\"logme\",\"assets\":[],"
                              "\"signals\":[]}";
    dt_model *m = NULL;
    assert_int_equal(dt_model_load_json(doc, strlen(doc), &opt, &m, NULL), 0);
    assert_int_equal(cap.calls, 1);
    assert_int_equal(cap.level, DT_LOG_INFO);
    assert_string_equal(cap.module, "model");
    assert_non_null(strstr(cap.message, "\"logme\""));
    dt_model_destroy(m);

    /* Filtered by level: WARN-only logger sees nothing from an INFO message. */
    cap.calls = 0;
    lg.max_level = DT_LOG_WARN;
    assert_int_equal(dt_model_load_json(doc, strlen(doc), &opt, &m, NULL), 0);
    assert_int_equal(cap.calls, 0);
    dt_model_destroy(m);

    /* Silenced: fn == NULL. */
    opt.logger = dt_logger_silent();
    assert_null(dt_logger_silent()->fn);
    assert_int_equal(dt_model_load_json(doc, strlen(doc), &opt, &m, NULL), 0);
    dt_model_destroy(m);

    assert_non_null(dt_logger_stderr()->fn);
    assert_string_equal(dt_log_level_name(DT_LOG_DEBUG), "debug");
}

static void test_default_allocator(void **state)
{
    (void)state;
    const dt_allocator *a = dt_allocator_default();
    assert_non_null(a);
    void *p = a->malloc_fn(a->user, 64);
    assert_non_null(p);
    p = a->realloc_fn(a->user, p, 128);
    assert_non_null(p);
    a->free_fn(a->user, p);
}

static void test_version(void **state)
{
    (void)state;
    assert_string_equal(dt_version(), DT_VERSION_STRING);
    assert_int_equal(dt_version_number(), DT_VERSION_NUMBER);
    char buf[32];
    snprintf(buf, sizeof buf, "%d.%d.%d", DT_VERSION_MAJOR, DT_VERSION_MINOR,
             DT_VERSION_PATCH);
    assert_string_equal(buf, dt_version());
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_strerror_covers_every_code),
    cmocka_unit_test(test_time_conversions),
    cmocka_unit_test(test_monotonic_clock),
    cmocka_unit_test(test_log_hook_and_levels),
    cmocka_unit_test(test_default_allocator),
    cmocka_unit_test(test_version),
};

DTT_MAIN(tests)
