/* The planes of a twin (include/dtwin/plane.h): the partition rules, a
 * run-time setpoint moving the pid's output as its closed form says and as a
 * twin configured with it does, refused setpoints and parameters counted, a
 * replay of a run with setpoint changes bit for bit, and no allocation in
 * steady state with the planes in use. The twin: tests/data/planes/twin.json
 * (a P-only pid from y_est to u, kp 2, setpoint 1; a callback controller). */
#include <stdio.h>
#include <stdlib.h>

#include "test_util.h"

#include "alloc_counter.h"
#include "dtwin/dtwin.h"
#include "membuf.h"

#ifndef DTT_SOURCE_DIR
#define DTT_SOURCE_DIR "."
#endif

enum { S_Y, S_YEST, S_GAIN, S_U };
#define KP 2.0

static char *read_doc(void)
{
    FILE *f = fopen(DTT_SOURCE_DIR "/tests/data/planes/twin.json", "rb");
    assert_non_null(f);
    char *buf = calloc(1, 65536);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 65535, f);
    assert_true(n > 0);
    (void)fclose(f);
    return buf;
}

/* The description with `from` replaced by `to` (once). */
static char *doc_with(const char *from, const char *to)
{
    char *d = read_doc();
    char *at = strstr(d, from);
    assert_non_null(at);
    char *out = calloc(1, strlen(d) + strlen(to) + 1);
    assert_non_null(out);
    memcpy(out, d, (size_t)(at - d));
    strcat(out, to);
    strcat(out, at + strlen(from));
    free(d);
    return out;
}

/* What the callback controller saw: its setpoint each cycle. */
typedef struct seen {
    int rc;
    double sp;
    dt_plane *control; /* to call back into the twin from inside a step */
    int inner_rc;
    dt_twin *twin; /* to ask for the planes from inside a step */
    int planes_rc;
} seen;

static int host_ctrl(void *user, dt_ctrl_ctx *ctx)
{
    seen *s = user;
    s->sp = NAN;
    s->rc = dt_ctrl_setpoint(ctx, &s->sp);
    if (s->control != NULL)
        s->inner_rc = dt_control_setpoint(s->control, "level", 1.5);
    if (s->twin != NULL) {
        dt_planes pl;
        s->planes_rc = dt_twin_planes(s->twin, &pl);
    }
    return DT_OK;
}

static dt_twin *load_doc(const char *doc, int replay, const dt_allocator *a, seen *cb)
{
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    o.allocator = a;
    o.replay = replay;
    dt_twin *t = NULL;
    dt_diag d;
    int rc = dt_twin_load_json(doc, strlen(doc), &o, &t, &d);
    if (rc)
        print_error("%s\n", d.message);
    assert_int_equal(rc, 0);
    assert_int_equal(dt_twin_set_callback(t, "host", host_ctrl, cb), 0);
    return t;
}

static dt_twin *load(seen *cb)
{
    char *doc = read_doc();
    dt_twin *t = load_doc(doc, 0, NULL, cb);
    free(doc);
    return t;
}

static dt_plane_stats pstats(const dt_plane *p)
{
    dt_plane_stats s;
    assert_int_equal(dt_plane_stats_get(p, &s), 0);
    return s;
}

static dt_time at(int k) { return (dt_time)k * 100 * DT_NS_PER_MS; }

/* The pid's newest command in the sink this step (NAN: none). */
static double pid_cmd(const dt_planes *pl)
{
    dt_command c[8];
    size_t n = 0;
    assert_int_equal(dt_data_sink_read(pl->data, "actuator", c, 8, &n), 0);
    double u = NAN;
    for (size_t i = 0; i < n; i++)
        if (c[i].origin == (DT_ORIGIN_CONTROLLER | 0))
            u = c[i].value;
    return u;
}

static void test_partition(void **state)
{
    (void)state;
    seen cb = {0};
    dt_twin *t = load(&cb);
    /* before: today's behaviour */
    dt_command cmd = {0};
    cmd.signal = S_U;
    cmd.value = 1;
    cmd.t_deadline = DT_TIME_MAX;
    assert_int_equal(dt_twin_submit(t, &cmd), 0);
    assert_non_null(dt_twin_io(t));
    assert_non_null(dt_twin_ingest(t));
    assert_non_null(dt_twin_estimator(t));
    assert_int_equal(dt_twin_planes(NULL, NULL), DT_EINVAL);
    /* not from inside a step */
    cb.twin = t;
    assert_int_equal(dt_twin_start(t, 0), 0);
    assert_int_equal(dt_twin_step(t, 0), 0);
    assert_int_equal(cb.planes_rc, DT_ESTATE);
    cb.twin = NULL;
    dt_planes pl;
    assert_int_equal(dt_twin_planes(t, &pl), 0);
    assert_int_equal(dt_plane_kind_of(pl.data), DT_PLANE_DATA);
    assert_int_equal(dt_plane_kind_of(pl.control), DT_PLANE_CONTROL);
    assert_int_equal(dt_plane_kind_of(pl.mgmt), DT_PLANE_MGMT);
    assert_int_equal(dt_plane_kind_of(NULL), 0);
    /* once: a second caller gets nothing */
    dt_planes again;
    memset(&again, 0, sizeof again);
    assert_int_equal(dt_twin_planes(t, &again), DT_EPERM);
    assert_null(again.data);
    /* the raw submit and accessors refuse, counted */
    assert_int_equal(dt_twin_submit(t, &cmd), DT_EPLANE);
    assert_null(dt_twin_io(t));
    assert_null(dt_twin_ingest(t));
    assert_null(dt_twin_estimator(t));
    assert_int_equal(pstats(pl.data).raw_refused, 5);
    assert_int_equal(pstats(pl.mgmt).raw_refused, 5);
    /* the kind first: a wrong plane refuses whatever else is passed */
    assert_int_equal(dt_control_submit(pl.data, NULL), DT_EPLANE);
    assert_int_equal(dt_data_push(pl.control, NULL, NULL, 0, 0), DT_EPLANE);
    assert_int_equal(dt_mgmt_start(pl.control, 0), DT_EPLANE);
    assert_int_equal(dt_control_submit(NULL, &cmd), DT_EINVAL);
    assert_int_equal(pstats(pl.data).plane_refused, 1);
    assert_int_equal(pstats(pl.control).plane_refused, 2);
    assert_int_equal(pstats(pl.mgmt).plane_refused, 0);
    assert_int_equal(pstats(pl.control).calls, 2);
    /* the right planes work */
    assert_int_equal(dt_control_submit(pl.control, &cmd), 0);
    assert_int_equal(dt_mgmt_start(pl.mgmt, 0), DT_ESTATE); /* started above */
    assert_int_equal(dt_data_push(pl.data, "sensor", "level", at(1), 0.5), 0);
    assert_int_equal(dt_data_push(pl.data, "nope", "level", at(1), 0.5), DT_ENOTFOUND);
    assert_int_equal(dt_twin_step(t, at(1)), 0); /* the loop driver keeps the raw step */
    dt_twin_stats st;
    assert_int_equal(dt_data_stats(pl.data, &st), 0);
    assert_int_equal(st.cycles, 2);
    assert_true(st.commands >= 4); /* both submits and the pid's twice (and the safe state's) */
    dt_counter ctr[16];
    size_t n = 0;
    assert_int_equal(dt_data_source_counters(pl.data, "sensor", ctr, 16, &n), 0);
    assert_int_equal(dt_data_source_counters(pl.data, "nope", ctr, 16, &n), DT_ENOTFOUND);
    dt_remote_belief rb;
    assert_int_equal(dt_data_source_belief(pl.data, "sensor", &rb, NULL), DT_EINVAL); /* none */
    const dt_clock *clk = NULL;
    assert_int_equal(dt_data_source_clock(pl.data, "sensor", &clk), 0);
    assert_int_equal(dt_data_source_clock(pl.data, "nope", &clk), DT_ENOTFOUND);
    size_t need = 0;
    assert_int_equal(dt_mgmt_export(pl.mgmt, NULL, 0, &need), DT_EFULL);
    char *buf = malloc(need);
    assert_non_null(buf);
    assert_int_equal(dt_mgmt_export(pl.mgmt, buf, need, NULL), 0);
    assert_non_null(strstr(buf, "\"controllers\""));
    free(buf);
    const char *contract = "x";
    assert_int_equal(dt_mgmt_contract(pl.mgmt, &contract), 0);
    assert_null(contract); /* no bus section */
    assert_int_equal(dt_mgmt_stop(pl.mgmt), 0);
    dt_twin_destroy(t);
}

/* u = kp (sp - y_est) for a P-only pid: before the change with the
 * configured setpoint, from the step after it with the new one. */
static void test_setpoint_moves_pid(void **state)
{
    (void)state;
    seen cb = {0};
    dt_twin *t = load(&cb);
    dt_planes pl;
    assert_int_equal(dt_twin_planes(t, &pl), 0);
    assert_int_equal(dt_mgmt_start(pl.mgmt, 0), 0);
    for (int k = 1; k <= 30; k++) {
        assert_int_equal(dt_data_push(pl.data, "sensor", "level", at(k), 0.5 + 0.005 * ((k % 3) - 1)), 0);
        assert_int_equal(dt_twin_step(t, at(k)), 0);
        double u = pid_cmd(&pl);
        dt_belief b;
        assert_int_equal(dt_data_belief(pl.data, S_YEST, at(k), &b), 0);
        double sp = k <= 10 ? 1.0 : 2.0;
        assert_true(u != 0); /* not the safe state's value */
        assert_close(u, KP * (sp - b.value), 0, 1e-12);
        /* the callback controller sees its own setpoint from the step after */
        if (k <= 20)
            assert_int_equal(cb.rc, DT_EEMPTY);
        else
            assert_true(cb.rc == DT_OK && cb.sp == 7.5);
        if (k == 10) {
            assert_int_equal(dt_control_setpoint(pl.control, "level", 2.0), 0);
            assert_int_equal(dt_control_setpoint(pl.control, "level", 2.0), 0);
        }
        if (k == 20)
            assert_int_equal(dt_control_setpoint(pl.control, "host", 7.5), 0);
    }
    dt_twin_destroy(t);
}

/* The pid's commands of a 40-step run, as bits. */
static void run_cmds(dt_twin *t, int set_before_start, uint64_t *bits)
{
    dt_planes pl;
    assert_int_equal(dt_twin_planes(t, &pl), 0);
    if (set_before_start)
        assert_int_equal(dt_control_setpoint(pl.control, "level", 2.0), 0);
    assert_int_equal(dt_mgmt_start(pl.mgmt, 0), 0);
    for (int k = 1; k <= 40; k++) {
        assert_int_equal(dt_data_push(pl.data, "sensor", "level", at(k), 0.5 + 0.005 * sin(k)), 0);
        assert_int_equal(dt_twin_step(t, at(k)), 0);
        double u = pid_cmd(&pl);
        memcpy(&bits[k - 1], &u, sizeof u);
    }
}

/* A setpoint set before start gives, bit for bit, the run of a twin
 * configured with it. */
static void test_setpoint_as_configured(void **state)
{
    (void)state;
    seen cb = {0};
    uint64_t a[40], b[40];
    dt_twin *t = load(&cb);
    run_cmds(t, 1, a);
    dt_twin_destroy(t);
    char *doc = doc_with("\"setpoint\": 1.0", "\"setpoint\": 2.0");
    t = load_doc(doc, 0, NULL, &cb);
    free(doc);
    run_cmds(t, 0, b);
    dt_twin_destroy(t);
    assert_memory_equal(a, b, sizeof a);
    /* and not what the configured setpoint gives */
    uint64_t c[40];
    t = load(&cb);
    run_cmds(t, 0, c);
    dt_twin_destroy(t);
    for (int k = 0; k < 40; k++)
        assert_true(a[k] != c[k]);
}

static void test_refused_counted(void **state)
{
    (void)state;
    seen cb = {0};
    char *doc = doc_with("{\"id\": \"host\", \"kind\": \"callback\"}",
                         "{\"id\": \"host\", \"kind\": \"callback\"},"
                         "{\"id\": \"sf\", \"kind\": \"state_feedback\", \"states\": [\"y_est\"],"
                         " \"outputs\": [\"u\"], \"K\": [[0]]}");
    dt_twin *t = load_doc(doc, 0, NULL, &cb);
    free(doc);
    dt_planes pl;
    assert_int_equal(dt_twin_planes(t, &pl), 0);
    /* the pid's input y_est is limited to -5..5 */
    assert_int_equal(dt_control_setpoint(pl.control, "level", NAN), DT_ERANGE);
    assert_int_equal(dt_control_setpoint(pl.control, "level", 6.0), DT_ERANGE);
    assert_int_equal(dt_control_setpoint(pl.control, "level", -5.0), 0);
    assert_int_equal(dt_control_setpoint(pl.control, "host", INFINITY), DT_ERANGE);
    assert_int_equal(dt_control_setpoint(pl.control, "host", 1e6), 0); /* no input known */
    assert_int_equal(dt_control_setpoint(pl.control, "nope", 1), DT_ENOTFOUND);
    assert_int_equal(dt_control_setpoint(pl.control, NULL, 1), DT_EINVAL);
    assert_int_equal(dt_control_setpoint(pl.control, "sf", 1), DT_EUNSUPPORTED);
    /* parameters: gain is limited to 0..10 */
    assert_int_equal(dt_control_param(pl.control, S_GAIN, 11), DT_ERANGE);
    assert_int_equal(dt_control_param(pl.control, S_GAIN, NAN), DT_ERANGE);
    assert_int_equal(dt_control_param(pl.control, S_YEST, 1), DT_ENOTFOUND);
    assert_int_equal(dt_control_param(pl.control, 999, 1), DT_ENOTFOUND);
    assert_int_equal(dt_control_param(pl.control, S_GAIN, 3), 0);
    dt_belief b;
    assert_int_equal(dt_data_belief(pl.data, S_GAIN, 0, &b), 0);
    assert_true(b.value == 3);
    assert_int_equal(dt_data_belief(pl.data, 999, 0, &b), DT_ENOTFOUND);
    assert_int_equal(pstats(pl.control).range_refused, 5);
    assert_int_equal(pstats(pl.control).refused, 5); /* nope, NULL, sf, y_est, 999 */
    assert_int_equal(pstats(pl.control).plane_refused, 0);
    assert_int_equal(pstats(pl.data).refused, 1);
    /* from inside a step (the callback controller): refused */
    cb.control = pl.control;
    cb.inner_rc = 1;
    assert_int_equal(dt_mgmt_start(pl.mgmt, 0), 0);
    assert_int_equal(dt_data_push(pl.data, "sensor", "level", at(1), 0.5), 0);
    assert_int_equal(dt_twin_step(t, at(1)), 0);
    assert_int_equal(cb.inner_rc, DT_ESTATE);
    assert_int_equal(pstats(pl.control).refused, 6);
    dt_twin_destroy(t);
}

typedef struct trace {
    uint64_t hash;
    int steps;
} trace;

static void hash_step(trace *tr, dt_twin *t)
{
    double desired = NAN;
    assert_int_equal(dt_twin_actuation(t, S_U, &desired, NULL, NULL), 0);
    uint64_t bits;
    memcpy(&bits, &desired, sizeof bits);
    tr->hash = (tr->hash ^ bits) * 1099511628211ull;
    tr->steps++;
}

static void on_step(void *user, dt_twin *t, dt_time now)
{
    (void)now;
    hash_step(user, t);
}

/* A recorded run with setpoint changes, a parameter write and a host
 * command, replayed on a partitioned replay twin: the same commands. */
static void test_replay_setpoints(void **state)
{
    (void)state;
    seen cb = {0};
    membuf log = {0};
    trace live = {1469598103934665603ull, 0}, rep = live;
    dt_twin *t = load(&cb);
    dt_planes pl;
    assert_int_equal(dt_twin_planes(t, &pl), 0);
    assert_int_equal(dt_mgmt_record(pl.mgmt, mem_write, &log), 0);
    assert_int_equal(dt_control_setpoint(pl.control, "level", 0.25), 0); /* before start */
    assert_int_equal(dt_mgmt_start(pl.mgmt, 0), 0);
    for (int k = 1; k <= 40; k++) {
        assert_int_equal(dt_data_push(pl.data, "sensor", "level", at(k), 0.5 + 0.005 * cos(k)), 0);
        assert_int_equal(dt_twin_step(t, at(k)), 0);
        hash_step(&live, t);
        if (k == 5)
            assert_int_equal(dt_control_setpoint(pl.control, "level", 2.0), 0);
        if (k == 8)
            assert_int_equal(dt_control_param(pl.control, S_GAIN, 4.5), 0);
        if (k == 12) {
            assert_int_equal(dt_control_setpoint(pl.control, "level", -1.0), 0);
            assert_int_equal(dt_control_setpoint(pl.control, "host", 3.0), 0);
            assert_int_equal(dt_control_setpoint(pl.control, "level", 6.0), DT_ERANGE);
        }
        if (k == 15) {
            dt_command c = {0};
            c.signal = S_U;
            c.value = 9;
            c.t_deadline = DT_TIME_MAX;
            assert_int_equal(dt_control_submit(pl.control, &c), 0);
        }
    }
    /* the last command is the pid's with the last setpoint */
    dt_belief b;
    assert_int_equal(dt_data_belief(pl.data, S_YEST, at(40), &b), 0);
    double desired;
    assert_int_equal(dt_twin_actuation(t, S_U, &desired, NULL, NULL), 0);
    assert_close(desired, KP * (-1.0 - b.value), 0, 1e-12);
    assert_true(cb.rc == DT_OK && cb.sp == 3.0);
    dt_twin_stats st_live;
    dt_twin_stats_get(t, &st_live);
    dt_twin_destroy(t);

    char *doc = read_doc();
    seen cb2 = {0};
    dt_twin *r = load_doc(doc, 1, NULL, &cb2);
    free(doc);
    dt_planes rp;
    assert_int_equal(dt_twin_planes(r, &rp), 0); /* a replay runs on a partitioned twin too */
    int rc = dt_twin_replay(r, mem_read, &log, on_step, &rep);
    if (rc)
        print_error("%s\n", dt_twin_errmsg(r));
    assert_int_equal(rc, 0);
    assert_int_equal(rep.steps, live.steps);
    assert_true(rep.hash == live.hash);
    assert_true(cb2.rc == DT_OK && cb2.sp == 3.0);
    dt_belief g;
    assert_int_equal(dt_data_belief(rp.data, S_GAIN, at(40), &g), 0);
    assert_true(g.value == 4.5);
    dt_twin_stats st_rep;
    dt_twin_stats_get(r, &st_rep);
    assert_int_equal(st_rep.commands, st_live.commands);
    assert_int_equal(st_rep.sent, st_live.sent);
    dt_twin_destroy(r);
    free(log.p);
}

/* With the planes in use every step (push, step, read, belief, stats,
 * setpoint, parameter, submit), nothing is allocated after start. */
static void test_no_alloc_steady(void **state)
{
    (void)state;
    dtt_counter ctr = {0};
    dt_allocator a = dtt_allocator(&ctr);
    seen cb = {0};
    char *doc = read_doc();
    dt_twin *t = load_doc(doc, 0, &a, &cb);
    free(doc);
    dt_planes pl;
    assert_int_equal(dt_twin_planes(t, &pl), 0);
    assert_int_equal(dt_mgmt_start(pl.mgmt, 0), 0);
    long calls = ctr.calls;
    for (int k = 1; k <= 200; k++) {
        assert_int_equal(dt_data_push(pl.data, "sensor", "level", at(k), 0.5 + 0.005 * sin(k)), 0);
        assert_int_equal(dt_twin_step(t, at(k)), 0);
        (void)pid_cmd(&pl);
        dt_belief b;
        assert_int_equal(dt_data_belief(pl.data, S_YEST, at(k), &b), 0);
        dt_twin_stats st;
        assert_int_equal(dt_data_stats(pl.data, &st), 0);
        assert_int_equal(dt_control_setpoint(pl.control, "level", k % 2 ? 1.0 : 2.0), 0);
        assert_int_equal(dt_control_param(pl.control, S_GAIN, (double)(k % 10)), 0);
        dt_command c = {0};
        c.signal = S_U;
        c.value = 1;
        c.t_deadline = DT_TIME_MAX;
        assert_int_equal(dt_control_submit(pl.control, &c), 0);
        (void)dt_control_submit(pl.data, &c); /* refused, counted: no allocation either */
    }
    assert_int_equal(ctr.calls - calls, 0);
    assert_int_equal(pstats(pl.data).plane_refused, 200);
    dt_twin_destroy(t);
    assert_int_equal(ctr.live, 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_partition),
    cmocka_unit_test(test_setpoint_moves_pid),
    cmocka_unit_test(test_setpoint_as_configured),
    cmocka_unit_test(test_refused_counted),
    cmocka_unit_test(test_replay_setpoints),
    cmocka_unit_test(test_no_alloc_steady),
};

DTT_MAIN(tests)
