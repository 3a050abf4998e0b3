/* Red-team cases for the adapter tables version 2, the estimator's
 * accounting and the exact numbers of a description: each test is the
 * smallest reproduction of an attack (the ones that found a defect say so). */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>

#include "test_util.h"

#include "dtwin/dtwin.h"
#include "model/model_internal.h"

static int k_open(void *self, dt_source_ctx *ctx, const dt_config *cfg)
{
    (void)self, (void)ctx, (void)cfg;
    return 0;
}

static int k_sink_open(void *self, dt_sink_ctx *ctx, const dt_config *cfg)
{
    (void)self, (void)ctx, (void)cfg;
    return 0;
}

static int k_apply(void *self, const dt_command *cmd, const dt_mapping *map)
{
    (void)self, (void)cmd, (void)map;
    return 0;
}

/* The members of a version-1 source and sink table, as an adapter built
 * against the older header has them: nothing after `close`. */
struct abi1_source {
    uint32_t abi;
    const char *kind;
    size_t instance_size;
    const char *const *keys;
    int (*open)(void *, dt_source_ctx *, const dt_config *);
    int (*poll)(void *, dt_time);
    void (*close)(void *);
};
struct abi1_sink {
    uint32_t abi;
    const char *kind;
    size_t instance_size;
    const char *const *keys;
    int (*open)(void *, dt_sink_ctx *, const dt_config *);
    int (*apply)(void *, const dt_command *, const dt_mapping *);
    void (*close)(void *);
};

/* A version-1 table that ends where its memory ends (a heap block of exactly
 * its size, so the sanitizer build sees any read past it): registering it
 * copies what it has and reads nothing beyond. */
static void test_abi1_table_in_short_memory(void **state)
{
    (void)state;
    dt_registry *reg;
    assert_int_equal(dt_registry_create(NULL, &reg), 0);
    struct abi1_source *src = malloc(sizeof *src);
    struct abi1_sink *snk = malloc(sizeof *snk);
    assert_non_null(src);
    assert_non_null(snk);
    *src = (struct abi1_source){1, "short_src", 0, NULL, k_open, NULL, NULL};
    *snk = (struct abi1_sink){1, "short_snk", 0, NULL, k_sink_open, k_apply, NULL};
    assert_int_equal(dt_registry_add_source(reg, (const dt_source_ops *)(const void *)src), 0);
    assert_int_equal(dt_registry_add_sink(reg, (const dt_sink_ops *)(const void *)snk), 0);
    free(src);
    free(snk);
    /* the registry holds its own copy: the caller's memory is gone */
    const dt_source_ops *s = dt_registry_source(reg, "short_src");
    const dt_sink_ops *k = dt_registry_sink(reg, "short_snk");
    assert_non_null(s);
    assert_non_null(k);
    assert_null(s->validate);
    assert_null(s->counters);
    assert_null(s->progress);
    assert_null(k->validate);
    assert_null(k->counters);
    dt_registry_destroy(reg);
}

/* Versions 0 and UINT32_MAX, for every kind of table. */
static void test_abi_extremes_refused(void **state)
{
    (void)state;
    dt_registry *reg;
    assert_int_equal(dt_registry_create(NULL, &reg), 0);
    const uint32_t bad[] = {0, DT_SOURCE_ABI + 1, UINT32_MAX} /* DT_SINK_ABI is the same */;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dt_source_ops s = {.abi = bad[i], .kind = "x", .open = k_open};
        dt_sink_ops k = {.abi = bad[i], .kind = "x", .open = k_sink_open, .apply = k_apply};
        assert_int_equal(dt_registry_add_source(reg, &s), DT_EABI);
        assert_int_equal(dt_registry_add_sink(reg, &k), DT_EABI);
    }
    assert_null(dt_registry_source(reg, "x"));
    assert_null(dt_registry_sink(reg, "x"));
    dt_registry_destroy(reg);
}

#define EST_DOC(A, extra)                                                                     \
    "{\"dtwin\":1,\"name\":\"rt\",\"assets\":[{\"id\":\"a\"}],\"signals\":["                  \
    "{\"id\":\"y\",\"asset\":\"a\",\"quantity\":\"length\",\"unit\":\"m\","                   \
    "\"role\":\"measured\",\"noise\":{\"std\":0.01}},"                                      \
    "{\"id\":\"x\",\"asset\":\"a\",\"quantity\":\"length\",\"unit\":\"m\","                   \
    "\"role\":\"estimated\"}],"                                                             \
    "\"estimator\":{\"states\":[\"x\"],\"A\":[[" A "]],\"Q\":[0.01],\"x0\":[1],\"P0\":[1],"   \
    "\"measurements\":[{\"signal\":\"y\",\"H\":{\"x\":1}}]}" extra "}"

static dt_est *make_est(const char *doc, dt_model **m)
{
    dt_model_options mo = DT_MODEL_OPTIONS_INIT;
    mo.logger = dt_logger_silent();
    dt_diag d;
    assert_int_equal(dt_model_load_json(doc, strlen(doc), &mo, m, &d), 0);
    dt_est_config ec = DT_EST_CONFIG_INIT;
    ec.logger = dt_logger_silent();
    dt_est *e = NULL;
    assert_int_equal(dt_est_create_json(*m, &ec, &e, &d), 0);
    return e;
}

static int an_run(void *self, dt_est *est, const dt_sample *applied)
{
    (void)est, (void)applied;
    (*(int *)self)++;
    return 0;
}

/* Eight hooks fill the table; the ninth is refused and never runs. */
static void test_analytics_ninth_hook_refused(void **state)
{
    (void)state;
    dt_model *m;
    dt_est *e = make_est(EST_DOC("0", ""), &m);
    static const dt_analytics_ops ops = {DT_ANALYTICS_ABI, "count", an_run};
    int runs[9] = {0};
    for (int i = 0; i < 8; i++)
        assert_int_equal(dt_est_add_analytics(e, &ops, &runs[i]), 0);
    assert_int_equal(dt_est_add_analytics(e, &ops, &runs[8]), DT_ELIMIT);
    assert_int_equal(dt_est_start(e, 0), 0);
    dt_sample s = {0, 0, 100000000, 100000000, 1.0, 0};
    assert_int_equal(dt_est_process(e, &s), 0);
    for (int i = 0; i < 8; i++)
        assert_int_equal(runs[i], 1);
    assert_int_equal(runs[8], 0);
    dt_est_destroy(e);
    dt_model_destroy(m);
}

/* A hook added to a running estimator would miss the updates before it: as
 * every other configuration call, refused after start (DT_ESTATE). */
static void test_analytics_after_start_refused(void **state)
{
    (void)state;
    dt_model *m;
    dt_est *e = make_est(EST_DOC("0", ""), &m);
    static const dt_analytics_ops ops = {DT_ANALYTICS_ABI, "count", an_run};
    int runs = 0;
    assert_int_equal(dt_est_start(e, 0), 0);
    assert_int_equal(dt_est_add_analytics(e, &ops, &runs), DT_ESTATE);
    dt_est_destroy(e);
    dt_model_destroy(m);
}

/* A sample whose prediction fails (an unstable model over a long gap) loses
 * the belief; it is counted as a numeric failure, so the estimator's parts
 * (applied, gated, unmodelled, too old, excluded, failed, bad time) add up to
 * the samples it was given (it was counted nowhere: "unaccounted"). */
static void test_belief_lost_sample_counted(void **state)
{
    (void)state;
    dt_model *m;
    dt_est *e = make_est(EST_DOC("50", ""), &m);
    assert_int_equal(dt_est_start(e, 0), 0);
    uint64_t given = 0;
    for (int k = 1; k <= 3; k++) {
        dt_sample s = {0, 0, (dt_time)k * 100000000, (dt_time)k * 100000000, 1.0, 0};
        (void)dt_est_process(e, &s);
        given++;
    }
    /* 100 s later: exp(50 * 100) overflows the prediction */
    dt_sample late = {0, 0, (dt_time)100 * 1000000000, (dt_time)100 * 1000000000, 1.0, 0};
    assert_int_equal(dt_est_process(e, &late), DT_ERANGE);
    given++;
    dt_est_stats st;
    dt_est_stats_get(e, &st);
    assert_int_equal(st.belief_lost, 1);
    uint64_t parts = st.updates + st.gated + st.unmodelled + st.too_old + st.excluded +
                     st.numeric_failures + st.bad_time;
    assert_int_equal(parts, given);
    dt_est_destroy(e);
    dt_model_destroy(m);
}

/* The numbers of a kept section reach its reader exactly: negative zero,
 * the smallest denormal, the smallest normal, the largest powers. */
static void test_section_numbers_exact(void **state)
{
    (void)state;
    const char *doc =
        "{\"dtwin\":1,\"name\":\"rt\",\"assets\":[],\"signals\":[],\"analytics\":"
        "{\"a\":[-0.0,4.9406564584124654e-324,2.2250738585072014e-308,1e308,"
        "1.7976931348623157e308,1.0000000000000002,0.1,-1e-300,[[[123456789012345678]]]]}}";
    dt_model_options mo = DT_MODEL_OPTIONS_INIT;
    mo.logger = dt_logger_silent();
    dt_model *m;
    dt_diag d;
    assert_int_equal(dt_model_load_json(doc, strlen(doc), &mo, &m, &d), 0);
    assert_int_equal(dt__model_section_count(m), 1);
    const char *key = NULL;
    const char *txt = dt__model_section_at(m, 0, &key);
    assert_string_equal(key, "analytics");
    assert_non_null(txt);
    const double want[] = {-0.0,    4.9406564584124654e-324, 2.2250738585072014e-308,
                           1e308,   1.7976931348623157e308,  1.0000000000000002,
                           0.1,     -1e-300,                 123456789012345678.0};
    const char *p = strchr(txt, '[');
    assert_non_null(p);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        while (*p == '[' || *p == ',')
            p++;
        char *end;
        double v = strtod(p, &end);
        assert_true(end != p);
        assert_true(memcmp(&v, &want[i], sizeof v) == 0); /* bit for bit, sign of 0 too */
        p = end;
    }
    dt_model_destroy(m);
}

static int plant_step(void *self, double t, double dt, const double *u, double *y)
{
    (void)self, (void)t, (void)dt, (void)u;
    y[0] = 1.0;
    return 0;
}

/* One sim source per plant: refused when the twin opens its adapters, and
 * by a check too (validate keeps no instance, so the twin's adapters
 * remember the claim; a check let two through). */
static void test_check_refuses_two_sim_sources_on_one_plant(void **state)
{
    (void)state;
    dt_registry *reg;
    assert_int_equal(dt_registry_create(NULL, &reg), 0);
    static const char *const outs[] = {"y"};
    static const dt_plant_ops plant = {DT_PLANT_ABI, 0, 1, NULL, outs, plant_step};
    assert_int_equal(dt_registry_add_plant(reg, "p", &plant, NULL), 0);
    const char *doc =
        "{\"dtwin\":1,\"name\":\"rt\",\"assets\":[{\"id\":\"a\"}],\"signals\":[{\"id\":\"y\","
        "\"asset\":\"a\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\"}],"
        "\"sources\":[{\"id\":\"s1\",\"kind\":\"sim\",\"plant\":\"p\",\"rate\":10,"
        "\"mapping\":[{\"native\":\"y\",\"signal\":\"y\"}]},"
        "{\"id\":\"s2\",\"kind\":\"sim\",\"plant\":\"p\",\"rate\":10,"
        "\"mapping\":[{\"native\":\"y\",\"signal\":\"y\"}]}]}";
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.registry = reg;
    o.logger = dt_logger_silent();
    dt_twin *t = NULL;
    dt_diag d;
    /* the run refuses it */
    assert_int_equal(dt_twin_load_json(doc, strlen(doc), &o, &t, &d), DT_EINVAL);
    assert_non_null(strstr(d.message, "already driven by another sim source"));
    /* so must the check */
    o.replay = 1;
    o.validate = 1;
    int rc = dt_twin_load_json(doc, strlen(doc), &o, &t, &d);
    if (rc == DT_OK)
        dt_twin_destroy(t);
    assert_int_equal(rc, DT_EINVAL);
    dt_registry_destroy(reg);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_abi1_table_in_short_memory),
    cmocka_unit_test(test_abi_extremes_refused),
    cmocka_unit_test(test_analytics_ninth_hook_refused),
    cmocka_unit_test(test_analytics_after_start_refused),
    cmocka_unit_test(test_belief_lost_sample_counted),
    cmocka_unit_test(test_section_numbers_exact),
    cmocka_unit_test(test_check_refuses_two_sim_sources_on_one_plant),
};

DTT_MAIN(tests)
