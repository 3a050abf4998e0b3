/* Fails the Nth allocation, for every N, on every start-up path that exists
 * (description loading from text and from a file, saving, ingest and adapter
 * creation, twin creation), once and
 * persistently: each run must report DT_ENOMEM, leave its output untouched
 * and leak nothing; a run without failures must then succeed. */
#include <stdlib.h>

#include "test_util.h"

#include "alloc_counter.h"
#include "dtwin/dtwin.h"

#ifndef DTT_BINARY_DIR
#define DTT_BINARY_DIR "."
#endif
#ifndef DTT_SOURCE_DIR
#define DTT_SOURCE_DIR "."
#endif
#define EXAMPLE DTT_SOURCE_DIR "/examples/tank/twin.json"

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(1 << 16);
    assert_non_null(buf);
    *len = fread(buf, 1, 1 << 16, f);
    fclose(f);
    return buf;
}

typedef int (*load_fn)(const void *arg, const dt_model_options *o, dt_model **m);

typedef struct text_arg {
    const char *text;
    size_t len;
} text_arg;

static int load_text(const void *arg, const dt_model_options *o, dt_model **m)
{
    const text_arg *t = arg;
    return dt_model_load_json(t->text, t->len, o, m, NULL);
}

static int load_path(const void *arg, const dt_model_options *o, dt_model **m)
{
    return dt_model_load_file(arg, o, m, NULL);
}

/* Returns the number of allocations a clean run makes. */
static long sweep(load_fn fn, const void *arg, int persistent)
{
    dtt_counter clean = {0};
    dt_allocator a = dtt_allocator(&clean);
    dt_model_options o = DT_MODEL_OPTIONS_INIT;
    o.allocator = &a;
    o.logger = dt_logger_silent();
    dt_model *m = NULL;
    assert_int_equal(fn(arg, &o, &m), 0);
    dt_model_destroy(m);
    assert_int_equal(clean.live, 0);
    long total = clean.calls;
    assert_true(total > 5);

    for (long n = 1; n <= total; n++) {
        dtt_counter c = {0};
        c.fail_at = n;
        c.persistent = persistent;
        a = dtt_allocator(&c);
        o.allocator = &a;
        dt_model *out = (dt_model *)(uintptr_t)0x1;
        int rc = fn(arg, &o, &out);
        if (rc != DT_ENOMEM || c.live != 0)
            print_error("failing allocation %ld of %ld (%s): rc %s, %ld live\n", n,
                        total, persistent ? "persistent" : "once", dt_err_name(rc),
                        c.live);
        assert_int_equal(rc, DT_ENOMEM);
        assert_true(out == (dt_model *)(uintptr_t)0x1);
        assert_int_equal(c.live, 0);
        assert_true(c.failures >= 1);

        /* The same call without failures succeeds. */
        c.fail_at = 0;
        rc = fn(arg, &o, &out);
        assert_int_equal(rc, 0);
        dt_model_destroy(out);
        assert_int_equal(c.live, 0);
    }
    return total;
}

static void test_load_json_every_allocation(void **state)
{
    (void)state;
    size_t len;
    char *text = read_all(EXAMPLE, &len);
    text_arg t = {text, len};
    long once = sweep(load_text, &t, 0);
    long pers = sweep(load_text, &t, 1);
    assert_int_equal(once, pers);
    print_message("model load: %ld allocations, each failed once and persistently\n",
                  once);
    free(text);
}

static void test_load_file_every_allocation(void **state)
{
    (void)state;
    sweep(load_path, EXAMPLE, 0);
    sweep(load_path, EXAMPLE, 1);
}

static void test_save_every_allocation(void **state)
{
    (void)state;
    dtt_counter c = {0};
    dt_allocator a = dtt_allocator(&c);
    dt_model_options o = DT_MODEL_OPTIONS_INIT;
    o.allocator = &a;
    o.logger = dt_logger_silent();
    dt_model *m = NULL;
    assert_int_equal(dt_model_load_file(EXAMPLE, &o, &m, NULL), 0);
    long live_model = c.live;
    long before = c.calls;
    static char buf[1 << 16];
    assert_int_equal(dt_model_save_json(m, buf, sizeof buf, NULL), 0);
    long per_save = c.calls - before;
    assert_true(per_save > 5);
    for (long n = 1; n <= per_save; n++) {
        for (int persistent = 0; persistent <= 1; persistent++) {
            c.calls = 0;
            c.fail_at = n;
            c.persistent = persistent;
            buf[0] = 'x';
            assert_int_equal(dt_model_save_json(m, buf, sizeof buf, NULL), DT_ENOMEM);
            assert_int_equal(buf[0], 'x'); /* untouched */
            assert_int_equal(c.live, live_model);
        }
    }
    c.fail_at = 0;
    assert_int_equal(dt_model_save_json(m, buf, sizeof buf, NULL), 0);
    dt_model_destroy(m);
    assert_int_equal(c.live, 0);
}

/* Ingest and adapter creation (memory, csv and csvlog adapters; a udp source):
 * every allocation failed once and persistently. */
static const char io_doc[] =
    "{\"dtwin\":1,\"name\":\"io\",\"assets\":[{\"id\":\"p\"}],\"signals\":["
    "{\"id\":\"level\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\"},"
    "{\"id\":\"speed\",\"asset\":\"p\",\"quantity\":\"angular_velocity\",\"unit\":\"rad/s\",\"role\":\"commanded\"}],"
    "\"sources\":[{\"id\":\"m\",\"kind\":\"memory\",\"mapping\":[{\"native\":\"L\",\"signal\":\"level\",\"unit\":\"mm\"}]},"
    "{\"id\":\"c\",\"kind\":\"csv\",\"file\":\"" DTT_SOURCE_DIR "/tests/data/replay_small.csv\","
    "\"mapping\":[{\"native\":\"lvl\",\"signal\":\"level\"}]},"
    "{\"id\":\"u\",\"kind\":\"udp\",\"auth\":\"none\",\"port\":0,\"source_id\":5,\"mapping\":[{\"channel\":1,\"signal\":\"level\"}]}],"
    "\"sinks\":[{\"id\":\"k\",\"kind\":\"memory\",\"mapping\":[{\"signal\":\"speed\",\"unit\":\"rpm\"}]},"
    "{\"id\":\"l\",\"kind\":\"csvlog\",\"file\":\"" DTT_BINARY_DIR "/alloc_fail_log.csv\","
    "\"mapping\":[{\"signal\":\"speed\"}]}]}";

/* Fails every allocation of build(arg, allocator, counter), once and then
 * persistently: each failing run must return DT_ENOMEM with nothing live, and
 * the same build without failures must then succeed. Returns the number of
 * allocations of a clean build. */
typedef int (*build_fn)(const void *arg, const dt_allocator *a, dtt_counter *c);

static long sweep_build(const char *what, build_fn build, const void *arg)
{
    dtt_counter clean = {0};
    dt_allocator a = dtt_allocator(&clean);
    assert_int_equal(build(arg, &a, &clean), 0);
    assert_int_equal(clean.live, 0);
    long total = clean.calls;
    for (int persistent = 0; persistent <= 1; persistent++)
        for (long n = 1; n <= total; n++) {
            dtt_counter c = {0};
            c.fail_at = n;
            c.persistent = persistent;
            a = dtt_allocator(&c);
            int rc = build(arg, &a, &c);
            if (rc != DT_ENOMEM || c.live != 0)
                print_error("%s: failing allocation %ld of %ld (%s): %s, %ld live\n", what, n,
                            total, persistent ? "persistent" : "once", dt_err_name(rc), c.live);
            assert_int_equal(rc, DT_ENOMEM);
            assert_int_equal(c.live, 0);
            c.fail_at = 0;
            assert_int_equal(build(arg, &a, &c), 0);
            assert_int_equal(c.live, 0);
        }
    return total;
}

static int build_io(const void *arg, const dt_allocator *a, dtt_counter *c)
{
    const dt_model *m = arg;
    (void)c;
    dt_ingest_config ic = DT_INGEST_CONFIG_INIT;
    ic.allocator = a;
    ic.logger = dt_logger_silent();
    dt_ingest *ing = NULL;
    dt_registry *reg = NULL;
    dt_io *io = NULL;
    int rc = dt_ingest_create(m, &ic, &ing);
    if (rc == DT_OK)
        rc = dt_registry_create(a, &reg);
    if (rc == DT_OK)
        rc = dt_io_create(m, ing, reg, NULL, a, dt_logger_silent(), &io, NULL);
    if (rc == DT_OK)
        rc = dt_ingest_start(ing, 0);
    dt_io_destroy(io);
    dt_registry_destroy(reg);
    dt_ingest_destroy(ing);
    return rc;
}

static void test_io_create_every_allocation(void **state)
{
    (void)state;
    dt_model_options o = DT_MODEL_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_model *m = NULL;
    assert_int_equal(dt_model_load_json(io_doc, strlen(io_doc), &o, &m, NULL), 0);
    long total = sweep_build("ingest + adapters", build_io, m);
    assert_true(total > 20);
    print_message("ingest + adapters: %ld allocations, each failed once and persistently\n",
                  total);
    dt_model_destroy(m);
}

/* Twin creation from a description (model, ingest, adapters, estimator with
 * latency budgets, controllers, dispatcher), then start and a few steps: every
 * allocation failed once and persistently must give DT_ENOMEM with nothing
 * leaked; after start nothing allocates. */
static const char *const twin_docs[] = {EXAMPLE, DTT_SOURCE_DIR "/examples/turbine/twin.json"};

static int gt_step(void *self, double t, double dt, const double *u, double *y)
{
    (void)self, (void)t, (void)dt;
    y[0] = 1.0 + 0.01 * u[0];
    return 0;
}
static const char *const gt_in[] = {"fuel"}, *const gt_out[] = {"speed"};
static const dt_plant_ops gt_ops = {DT_PLANT_ABI, 1, 1, gt_in, gt_out, gt_step};

static long twin_calls_after_start; /* of the last successful build_twin */

static int build_twin(const void *arg, const dt_allocator *a, dtt_counter *c)
{
    const char *path = arg;
    dt_registry *reg = NULL;
    dt_twin *t = (dt_twin *)(uintptr_t)0x1;
    int rc = dt_registry_create(a, &reg);
    if (rc == DT_OK)
        rc = dt_registry_add_plant(reg, "turbine", &gt_ops, NULL);
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.allocator = a;
    o.logger = dt_logger_silent();
    o.registry = reg;
    if (rc == DT_OK) {
        dt_diag dg;
        rc = dt_twin_load_file(path, &o, &t, &dg);
        if (rc != DT_OK && rc != DT_ENOMEM)
            print_error("%s: %s\n", path, dg.message);
        if (rc != DT_OK)
            assert_true(t == (dt_twin *)(uintptr_t)0x1); /* untouched on failure */
    }
    if (rc == DT_OK) {
        long before = c->calls;
        rc = dt_twin_start(t, 0);
        for (int k = 1; rc == DT_OK && k <= 50; k++)
            rc = dt_twin_step(t, (dt_time)k * 10 * DT_NS_PER_MS);
        twin_calls_after_start = c->calls - before;
    }
    if (rc == DT_OK || t != (dt_twin *)(uintptr_t)0x1)
        dt_twin_destroy(t);
    dt_registry_destroy(reg);
    return rc;
}

static void test_twin_create_every_allocation(void **state)
{
    (void)state;
    for (size_t d = 0; d < sizeof twin_docs / sizeof *twin_docs; d++) {
        twin_calls_after_start = -1;
        long total = sweep_build(twin_docs[d], build_twin, twin_docs[d]);
        assert_true(total > 50);
        assert_int_equal(twin_calls_after_start, 0); /* start and 50 steps allocate nothing */
        print_message("twin creation (%s): %ld allocations, each failed once and persistently\n",
                      twin_docs[d], total);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_twin_create_every_allocation),
    cmocka_unit_test(test_io_create_every_allocation),
    cmocka_unit_test(test_load_json_every_allocation),
    cmocka_unit_test(test_load_file_every_allocation),
    cmocka_unit_test(test_save_every_allocation),
};

DTT_MAIN(tests)
