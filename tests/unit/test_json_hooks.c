/* cJSON's hooks are one setting for the whole process: a host that uses
 * cJSON with its own hooks, next to a twin loaded and run. The host's hooks
 * keep seeing the host's allocations, and the twin works, whether the host
 * hands its hooks to dt_json_set_hooks or installs them itself with
 * cJSON_InitHooks after dtwin was loaded. */
#include <cjson/cJSON.h>

#include "alloc_counter.h"
#include "test_util.h"

#include "dtwin/dtwin.h"

static long host_allocs, host_frees;

static void *host_malloc(size_t n)
{
    host_allocs++;
    return malloc(n);
}

static void host_free(void *p)
{
    if (p != NULL)
        host_frees++;
    free(p);
}

static const char twin_json[] =
    "{\"dtwin\":1,\"name\":\"hooks\",\"assets\":[{\"id\":\"room\"}],\"signals\":["
    "{\"id\":\"t\",\"asset\":\"room\",\"quantity\":\"temperature\",\"unit\":\"degC\","
    "\"role\":\"measured\",\"noise\":{\"std\":0.1}},"
    "{\"id\":\"t_est\",\"asset\":\"room\",\"quantity\":\"temperature\",\"unit\":\"degC\","
    "\"role\":\"estimated\"}],"
    "\"sources\":[{\"id\":\"host\",\"kind\":\"memory\","
    "\"mapping\":[{\"native\":\"T1\",\"signal\":\"t\"}]}],"
    "\"estimator\":{\"states\":[\"t_est\"],\"A\":[[0]],\"Q\":[0.01],\"x0\":[20],\"P0\":[1],"
    "\"measurements\":[{\"signal\":\"t\",\"H\":{\"t_est\":1}}]},"
    "\"loop\":{\"period\":0.1}}";

/* A host's own cJSON work: a parse, kept, then freed. */
static cJSON *host_parse(void)
{
    cJSON *j = cJSON_Parse("{\"host\":[1,2,3],\"name\":\"mine\"}");
    assert_non_null(j);
    return j;
}

/* Loads the twin with a counting allocator, runs 20 cycles with a sample
 * each, checks it estimated, destroys it; returns the allocator's calls. */
static long run_twin(void)
{
    dtt_counter cnt = {0};
    dt_allocator a = dtt_allocator(&cnt);
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.allocator = &a;
    o.logger = dt_logger_silent();
    dt_twin *tw = NULL;
    dt_diag d;
    int rc = dt_twin_load_json(twin_json, sizeof twin_json - 1, &o, &tw, &d);
    if (rc != 0)
        fail_msg("dt_twin_load_json: %s", d.message);
    dt_time now = 0, dt = dt_time_from_sec(0.1);
    assert_int_equal(dt_twin_start(tw, now), 0);
    for (int i = 0; i < 20; i++) {
        now += dt;
        assert_int_equal(dt_memory_source_push(dt_twin_io(tw), 0, "T1", now, 21.5), 0);
        assert_int_equal(dt_twin_step(tw, now), 0);
    }
    dt_twin_stats st;
    dt_twin_stats_get(tw, &st);
    assert_int_equal(st.cycles, 20);
    dt_twin_destroy(tw);
    assert_int_equal(cnt.live, 0);
    return cnt.calls;
}

/* The host hands its hooks to dtwin: its own allocations reach them, the
 * twin's cJSON allocations go to the twin's allocator instead. */
static void test_host_hooks_handed_over(void **state)
{
    (void)state;
    assert_int_equal(dt_json_set_hooks(host_malloc, NULL), DT_EINVAL);
    assert_int_equal(dt_json_set_hooks(host_malloc, host_free), 0);
    host_allocs = host_frees = 0;
    cJSON *before = host_parse();
    long seen = host_allocs;
    assert_true(seen > 0);

    assert_true(run_twin() > 0);
    assert_int_equal(host_allocs, seen); /* none of the twin's reached the host */

    cJSON *after = host_parse();
    assert_true(host_allocs > seen); /* the host's hooks still see the host's */
    cJSON_Delete(before);
    cJSON_Delete(after);
    assert_int_equal(host_allocs, host_frees);
    assert_int_equal(dt_json_set_hooks(NULL, NULL), 0);
}

/* The host installs its hooks itself, after dtwin was loaded: dtwin never
 * replaces them; the twin still works (its parse trees then go through the
 * host's hooks, freed within the same call). */
static void test_host_hooks_installed_by_host(void **state)
{
    (void)state;
    cJSON_Hooks h = {host_malloc, host_free};
    cJSON_InitHooks(&h);
    host_allocs = host_frees = 0;
    cJSON *before = host_parse();
    long seen = host_allocs;
    assert_true(seen > 0);
    long live = host_allocs - host_frees;
    assert_true(run_twin() > 0);
    assert_true(host_allocs > seen);                   /* the twin's parse went through them */
    assert_int_equal(host_allocs - host_frees, live); /* and nothing of it outlived the call */
    long after_twin = host_allocs;
    cJSON *after = host_parse();
    assert_true(host_allocs > after_twin); /* still the host's hooks */
    cJSON_Delete(before);
    cJSON_Delete(after);
    assert_int_equal(host_allocs, host_frees);
    assert_int_equal(dt_json_set_hooks(NULL, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_hooks_handed_over),
        cmocka_unit_test(test_host_hooks_installed_by_host),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
