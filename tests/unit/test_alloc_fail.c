/* Fails the Nth allocation, for every N, on every start-up path that exists
 * so far (description loading from text and from a file, saving), once and
 * persistently: each run must report DT_ENOMEM, leave its output untouched
 * and leak nothing; a run without failures must then succeed. */
#include <stdlib.h>

#include "test_util.h"

#include "alloc_counter.h"
#include "dtwin/dtwin.h"

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

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_load_json_every_allocation),
    cmocka_unit_test(test_load_file_every_allocation),
    cmocka_unit_test(test_save_every_allocation),
};

DTT_MAIN(tests)
