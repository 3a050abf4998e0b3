/* Adapter tables across versions (a version-1 table still works, its newer
 * members read as absent), the validate slot (called to check, never to
 * run), adapters' own counters and progress. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>

#include "test_util.h"

#include "dtwin/dtwin.h"

#ifndef DTT_SOURCE_DIR
#define DTT_SOURCE_DIR "."
#endif

#define DOC(src)                                                                              \
    "{\"dtwin\":1,\"name\":\"abi\",\"assets\":[{\"id\":\"p\"}],\"signals\":[{\"id\":\"y\","   \
    "\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\"}],"         \
    "\"sources\":[" src "]}"

static int opened, validated, closed;

static int k_open(void *self, dt_source_ctx *ctx, const dt_config *cfg)
{
    (void)self, (void)ctx, (void)cfg;
    opened++;
    return 0;
}

static void k_close(void *self)
{
    (void)self;
    closed++;
}

static int k_validate(dt_source_ctx *ctx, const dt_config *cfg)
{
    validated++;
    double v = 0;
    if (dt_config_number(dt_config_get(cfg, "gain"), &v) != 0 || v <= 0) {
        dt_source_error(ctx, "gain: a positive number, got %g", v);
        return DT_EINVAL;
    }
    return 0;
}

static size_t k_counters(const void *self, dt_counter *out, size_t max)
{
    (void)self;
    const dt_counter c[3] = {{"a", 1}, {"b", 2}, {"c", 3}};
    for (size_t i = 0; i < 3 && i < max; i++)
        out[i] = c[i];
    return 3;
}

static double bad_progress;
static double k_progress(const void *self)
{
    (void)self;
    return bad_progress;
}

static const char *const k_keys[] = {"gain", NULL};

static int no_log(void *user, void *data, size_t len)
{
    (void)user, (void)data, (void)len;
    return DT_EEMPTY;
}

/* The layout of a source table before version 2, as an adapter compiled
 * against the older header has it, followed by bytes that are not ours. */
struct abi1_source {
    uint32_t abi;
    const char *kind;
    size_t instance_size;
    const char *const *keys;
    int (*open)(void *, dt_source_ctx *, const dt_config *);
    int (*poll)(void *, dt_time);
    void (*close)(void *);
};

static dt_twin *load(dt_registry *reg, const char *doc, int replay, int validate, int *rc,
                     dt_diag *diag)
{
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.registry = reg;
    o.logger = dt_logger_silent();
    o.replay = replay;
    o.validate = validate;
    dt_twin *t = NULL;
    *rc = dt_twin_load_json(doc, strlen(doc), &o, &t, diag);
    return t;
}

static void test_version_1_table_still_works(void **state)
{
    (void)state;
    dt_registry *reg;
    assert_int_equal(dt_registry_create(NULL, &reg), 0);
    struct {
        struct abi1_source t;
        unsigned char junk[sizeof(dt_source_ops)];
    } old;
    memset(&old, 0xA5, sizeof old); /* where version-2 members would be: garbage */
    old.t = (struct abi1_source){1, "old", 0, k_keys, k_open, NULL, k_close};
    assert_int_equal(dt_registry_add_source(reg, (const dt_source_ops *)(const void *)&old), 0);
    const dt_source_ops *got = dt_registry_source(reg, "old");
    assert_non_null(got);
    assert_int_equal(got->abi, 1);
    assert_null(got->validate);
    assert_null(got->counters);
    assert_null(got->progress);
    /* it runs, and a check of it finds nothing to validate */
    opened = closed = validated = 0;
    int rc;
    dt_diag d;
    dt_twin *t = load(reg, DOC("{\"id\":\"s\",\"kind\":\"old\",\"gain\":-1}"), 0, 0, &rc, &d);
    assert_int_equal(rc, 0);
    assert_int_equal(opened, 1);
    assert_int_equal(dt_io_source_counters(dt_twin_io(t), 0, NULL, 0), 0);
    assert_true(dt_io_source_progress(dt_twin_io(t), 0) < 0);
    dt_twin_destroy(t);
    assert_int_equal(closed, 1);
    t = load(reg, DOC("{\"id\":\"s\",\"kind\":\"old\",\"gain\":-1}"), 1, 1, &rc, &d);
    assert_int_equal(rc, 0);
    assert_int_equal(opened, 1);
    dt_twin_destroy(t);
    dt_registry_destroy(reg);
}

static void test_versions_outside_the_range_refused(void **state)
{
    (void)state;
    dt_registry *reg;
    assert_int_equal(dt_registry_create(NULL, &reg), 0);
    dt_source_ops zero = {.abi = 0, .kind = "zero", .open = k_open};
    dt_source_ops newer = {.abi = DT_SOURCE_ABI + 1, .kind = "newer", .open = k_open};
    dt_sink_ops sink_newer = {.abi = DT_SINK_ABI + 1, .kind = "newer"};
    assert_int_equal(dt_registry_add_source(reg, &zero), DT_EABI);
    assert_int_equal(dt_registry_add_source(reg, &newer), DT_EABI);
    assert_int_equal(dt_registry_add_sink(reg, &sink_newer), DT_EABI);
    assert_null(dt_registry_source(reg, "newer"));
    dt_registry_destroy(reg);
}

/* validate runs when a twin is built to be checked, and only then; its
 * message carries the entry's path. */
static void test_validate_only_when_checking(void **state)
{
    (void)state;
    dt_registry *reg;
    assert_int_equal(dt_registry_create(NULL, &reg), 0);
    dt_source_ops k = {.abi = DT_SOURCE_ABI, .kind = "k", .keys = k_keys, .open = k_open,
                       .close = k_close, .validate = k_validate};
    assert_int_equal(dt_registry_add_source(reg, &k), 0);
    const char *bad = DOC("{\"id\":\"s\",\"kind\":\"k\",\"gain\":-2}");
    int rc;
    dt_diag d;
    opened = validated = closed = 0;
    dt_twin *t = load(reg, bad, 1, 1, &rc, &d);
    assert_null(t);
    assert_int_equal(rc, DT_EINVAL);
    assert_string_equal(d.message, "sources[0]: gain: a positive number, got -2");
    assert_int_equal(validated, 1);
    assert_int_equal(opened, 0);
    /* a replay twin neither opens nor validates (its files may be gone) */
    t = load(reg, bad, 1, 0, &rc, &d);
    assert_int_equal(rc, 0);
    assert_int_equal(validated, 1);
    assert_int_equal(opened, 0);
    dt_twin_destroy(t);
    assert_int_equal(closed, 0);
    /* a running twin opens (open does its own checks) */
    t = load(reg, bad, 0, 0, &rc, &d);
    assert_int_equal(rc, 0);
    assert_int_equal(validated, 1);
    assert_int_equal(opened, 1);
    dt_twin_destroy(t);
    /* a twin built to be checked is never replayed */
    t = load(reg, DOC("{\"id\":\"s\",\"kind\":\"k\",\"gain\":2}"), 1, 1, &rc, &d);
    assert_int_equal(rc, 0);
    assert_int_equal(dt_twin_replay(t, no_log, NULL, NULL, NULL), DT_ESTATE);
    dt_twin_destroy(t);
    dt_registry_destroy(reg);
}

/* The options of a caller built before `validate` existed are accepted. */
static void test_older_options_accepted(void **state)
{
    (void)state;
    const char *doc = DOC("");
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    o.validate = 1; /* beyond the older size: must not be read */
    o.size = offsetof(dt_twin_options, validate);
    dt_twin *t = NULL;
    dt_diag d;
    assert_int_equal(dt_twin_load_json(doc, strlen(doc), &o, &t, &d), 0);
    dt_twin_destroy(t);
    o.size = sizeof o + 8;
    assert_int_equal(dt_twin_load_json(doc, strlen(doc), &o, &t, &d), DT_EABI);
    o.size = 0;
    assert_int_equal(dt_twin_load_json(doc, strlen(doc), &o, &t, &d), DT_EABI);
}

static void test_counters_and_progress(void **state)
{
    (void)state;
    dt_registry *reg;
    assert_int_equal(dt_registry_create(NULL, &reg), 0);
    dt_source_ops k = {.abi = DT_SOURCE_ABI, .kind = "k", .keys = k_keys, .open = k_open,
                       .counters = k_counters, .progress = k_progress};
    assert_int_equal(dt_registry_add_source(reg, &k), 0);
    int rc;
    dt_diag d;
    dt_twin *t = load(reg, DOC("{\"id\":\"s\",\"kind\":\"k\",\"gain\":1}"), 0, 0, &rc, &d);
    assert_int_equal(rc, 0);
    dt_io *io = dt_twin_io(t);
    dt_counter c[2];
    assert_int_equal(dt_io_source_counters(io, 0, c, 2), 3); /* how many it has */
    assert_string_equal(c[1].name, "b");
    assert_int_equal(c[1].value, 2);
    assert_int_equal(dt_io_source_counters(io, 1, c, 2), 0); /* no such source */
    assert_string_equal(dt_io_source_id(io, 0), "s");
    assert_null(dt_io_source_id(io, 1));
    /* what an adapter says of its progress is range-checked */
    bad_progress = 0.25;
    assert_close(dt_io_source_progress(io, 0), 0.25, 0, 0);
    bad_progress = NAN;
    assert_true(dt_io_source_progress(io, 0) < 0);
    bad_progress = 7;
    assert_true(dt_io_source_progress(io, 0) < 0);
    bad_progress = -0.0;
    assert_close(dt_io_source_progress(io, 0), 0, 0, 0);
    dt_twin_destroy(t);
    dt_registry_destroy(reg);
}

/* The built-ins: a CSV file's progress goes from 0 to 1 as it is replayed;
 * a UDP source names every rejection reason. */
static void test_builtin_counters_and_progress(void **state)
{
    (void)state;
    char doc[1024];
    (void)snprintf(doc, sizeof doc,
                   DOC("{\"id\":\"f\",\"kind\":\"csv\",\"file\":\"%s/examples/tank/level.csv\","
                       "\"mapping\":[{\"native\":\"level_m\",\"signal\":\"y\"}]},"
                       "{\"id\":\"u\",\"kind\":\"udp\",\"auth\":\"none\",\"port\":0,\"source_id\":9,"
                       "\"mapping\":[{\"channel\":1,\"signal\":\"y\"}]}"),
                   DTT_SOURCE_DIR);
    int rc;
    dt_diag d;
    dt_twin *t = load(NULL, doc, 0, 0, &rc, &d);
    assert_int_equal(rc, 0);
    dt_io *io = dt_twin_io(t);
    assert_close(dt_io_source_progress(io, 0), 0, 0, 0.01); /* the header read */
    dt_counter c[64];
    size_t n = dt_io_source_counters(io, 1, c, 64);
    assert_true(n >= 30 && n <= 64);
    int crc = 0, wrong_source = 0;
    for (size_t i = 0; i < n; i++) {
        crc |= strcmp(c[i].name, "bad_crc") == 0;
        wrong_source |= strcmp(c[i].name, "wrong_source") == 0;
    }
    assert_true(crc && wrong_source);
    assert_int_equal(dt_twin_start(t, 0), 0);
    double last = 0;
    for (int k = 1; k <= 700; k++) {
        assert_int_equal(dt_twin_step(t, (dt_time)k * 100000000), 0);
        double p = dt_io_source_progress(io, 0);
        assert_true(p >= last); /* never goes back */
        last = p;
    }
    assert_close(last, 1, 0, 0);
    dt_twin_destroy(t);
}

/* dt_io_create with no registry uses the built-in kinds (its own registry,
 * freed with it). */
static void test_io_without_registry_uses_builtins(void **state)
{
    (void)state;
    const char *doc = DOC("{\"id\":\"m\",\"kind\":\"memory\"}");
    dt_model_options mo = DT_MODEL_OPTIONS_INIT;
    mo.logger = dt_logger_silent();
    dt_model *m = NULL;
    dt_diag d;
    assert_int_equal(dt_model_load_json(doc, strlen(doc), &mo, &m, &d), 0);
    dt_ingest *ing = NULL;
    assert_int_equal(dt_ingest_create(m, NULL, &ing), 0);
    dt_io *io = NULL;
    assert_int_equal(dt_io_create(m, ing, NULL, NULL, NULL, dt_logger_silent(), &io, &d), 0);
    assert_string_equal(dt_io_source_kind(io, 0), "memory");
    assert_int_equal(dt_memory_source_push(io, 0, "y", 0, 1.5), 0);
    dt_io_destroy(io);
    assert_int_equal(dt_io_create(NULL, ing, NULL, NULL, NULL, NULL, &io, &d), DT_EINVAL);
    assert_true(d.message[0] != '\0');
    dt_ingest_destroy(ing);
    dt_model_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_1_table_still_works),
        cmocka_unit_test(test_versions_outside_the_range_refused),
        cmocka_unit_test(test_validate_only_when_checking),
        cmocka_unit_test(test_older_options_accepted),
        cmocka_unit_test(test_counters_and_progress),
        cmocka_unit_test(test_builtin_counters_and_progress),
        cmocka_unit_test(test_io_without_registry_uses_builtins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
