/* Controllers: state feedback and PID laws against hand-derived values, and
 * every configuration error with its message. */
#include <stdlib.h>

#include "test_util.h"

#include "dtwin/dtwin.h"

/* Two estimated states x (m) and v (m/s), pinned by precise measurements; two
 * commanded outputs. {CTL} is replaced by the controller under test. */
static const char doc_head[] =
    "{\"dtwin\":1,\"name\":\"ctl\",\"assets\":[{\"id\":\"p\"}],\"signals\":["
    "{\"id\":\"x\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","
    " \"noise\":{\"std\":1e-4}},"
    "{\"id\":\"v\",\"asset\":\"p\",\"quantity\":\"velocity\",\"unit\":\"m/s\",\"role\":\"measured\","
    " \"noise\":{\"std\":1e-4}},"
    "{\"id\":\"x_est\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"estimated\"},"
    "{\"id\":\"v_est\",\"asset\":\"p\",\"quantity\":\"velocity\",\"unit\":\"m/s\",\"role\":\"estimated\"},"
    "{\"id\":\"gain\",\"asset\":\"p\",\"quantity\":\"dimensionless\",\"unit\":\"1\",\"role\":\"parameter\"},"
    "{\"id\":\"u\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"commanded\","
    " \"limits\":{\"min\":-100,\"max\":100}},"
    "{\"id\":\"w\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"commanded\"}],"
    "\"sources\":[{\"id\":\"s\",\"kind\":\"memory\",\"mapping\":[{\"native\":\"x\",\"signal\":\"x\"},"
    " {\"native\":\"v\",\"signal\":\"v\"}]}],"
    "\"sinks\":[{\"id\":\"k\",\"kind\":\"memory\",\"mapping\":[{\"native\":\"u\",\"signal\":\"u\"},"
    " {\"native\":\"w\",\"signal\":\"w\"}]}],"
    "\"estimator\":{\"states\":[\"x_est\",\"v_est\"],\"A\":[[0,0],[0,0]],\"Q\":[1e-6,1e-6],"
    " \"P0\":[1,1],\"gate\":1,\"measurements\":[{\"signal\":\"x\",\"H\":{\"x_est\":1}},"
    " {\"signal\":\"v\",\"H\":{\"v_est\":1}}],\"parameters\":{\"gain\":2}},"
    "\"controllers\":[";
static const char doc_tail[] =
    "],\"dispatcher\":{\"max_data_age\":10,\"safe\":{\"u\":0,\"w\":0},\"deadline\":1},\"loop\":{\"period\":0.1}}";

static dt_twin *load(const char *ctl, dt_diag *d, int *rc)
{
    size_t n = strlen(doc_head) + strlen(ctl) + strlen(doc_tail) + 1;
    char *doc = malloc(n);
    assert_non_null(doc);
    snprintf(doc, n, "%s%s%s", doc_head, ctl, doc_tail);
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_twin *t = NULL;
    *rc = dt_twin_load_json(doc, strlen(doc), &o, &t, d);
    free(doc);
    return t;
}

/* Feeds x and v, steps to now, returns the newest command for u and w (NAN if none). */
static void cycle(dt_twin *t, double x, double v, dt_time now, double *u, double *w)
{
    dt_io *io = dt_twin_io(t);
    assert_int_equal(dt_memory_source_push(io, 0, "x", now - DT_NS_PER_MS, x), 0);
    assert_int_equal(dt_memory_source_push(io, 0, "v", now - DT_NS_PER_MS, v), 0);
    assert_int_equal(dt_twin_step(t, now), 0);
    dt_command c[8];
    size_t n = dt_memory_sink_read(io, 0, c, 8);
    *u = *w = NAN;
    dt_signal_id su, sw;
    dt_model_find_signal(dt_twin_model(t), "u", &su);
    dt_model_find_signal(dt_twin_model(t), "w", &sw);
    for (size_t i = 0; i < n; i++)
        *(c[i].signal == su ? u : w) = c[i].value;
}

static double belief(dt_twin *t, const char *id, dt_time now)
{
    dt_signal_id s;
    assert_int_equal(dt_model_find_signal(dt_twin_model(t), id, &s), 0);
    dt_belief b;
    assert_int_equal(dt_est_belief(dt_twin_estimator(t), s, now, &b), 0);
    return b.value;
}

/* u = u_ref - K (x - x_ref) for two outputs, exactly as evaluated on the belief. */
static void test_state_feedback_law(void **state)
{
    (void)state;
    dt_diag d;
    int rc;
    dt_twin *t = load("{\"id\":\"sf\",\"kind\":\"state_feedback\",\"states\":[\"x_est\",\"v_est\"],"
                      "\"outputs\":[\"u\",\"w\"],\"K\":[[1.5,0.25],[-2,4]],"
                      "\"x_ref\":[1,0.5],\"u_ref\":[3,-1]}",
                      &d, &rc);
    if (rc)
        print_error("%s\n", d.message);
    assert_int_equal(rc, 0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    double u = NAN, w = NAN;
    for (int k = 1; k <= 20; k++) {
        dt_time now = (dt_time)k * 100 * DT_NS_PER_MS;
        cycle(t, 2.0, -1.0, now, &u, &w);
        double x = belief(t, "x_est", now), v = belief(t, "v_est", now);
        if (isnan(u))
            continue; /* safe state until the first data */
        assert_close(u, 3 - (1.5 * (x - 1) + 0.25 * (v - 0.5)), 1e-15, 1e-15);
        assert_close(w, -1 - (-2 * (x - 1) + 4 * (v - 0.5)), 1e-15, 1e-15);
    }
    /* with the estimate at x = 2, v = -1 (to 1e-4): u = 3 - 1.5 + 0.375, w = -1 + 2 + 6 */
    assert_close(u, 1.875, 0, 1e-3);
    assert_close(w, 7.0, 0, 1e-3);
    dt_twin_destroy(t);
}

/* PID with a filtered derivative and back-calculation, against the discrete
 * law computed by hand from the same beliefs:
 *   D_k = (tf D_{k-1} - kd (y_k - y_{k-1})) / (tf + dt)
 *   u_raw = kp e + I + D,  u = clamp(u_raw),  I += (ki e + kb (u - u_raw)) dt */
static void test_pid_derivative_backcalc(void **state)
{
    (void)state;
    dt_diag d;
    int rc;
    dt_twin *t = load("{\"id\":\"c\",\"kind\":\"pid\",\"input\":\"x_est\",\"output\":\"u\","
                      "\"setpoint\":1,\"kp\":4,\"ki\":2,\"kd\":0.5,\"tf\":0.2,"
                      "\"out_min\":-3,\"out_max\":3,\"antiwindup\":\"backcalc\",\"kb\":1.5}",
                      &d, &rc);
    if (rc)
        print_error("%s\n", d.message);
    assert_int_equal(rc, 0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    const double kp = 4, ki = 2, kd = 0.5, tf = 0.2, kb = 1.5, dt = 0.1;
    double I = 0, D = 0, y_prev = NAN;
    int saturated = 0, checked = 0;
    for (int k = 1; k <= 40; k++) {
        dt_time now = (dt_time)k * 100 * DT_NS_PER_MS;
        double x = k < 20 ? 0.2 * k : 0.5; /* a ramp that saturates, then a drop */
        double u, w;
        cycle(t, x, 0, now, &u, &w);
        if (isnan(u) || u == 0.0) {
            continue; /* safe state before data */
        }
        double y = belief(t, "x_est", now);
        if (isnan(y_prev)) { /* first run: primed, no derivative, no dt yet */
            y_prev = y;
            double e = 1 - y, raw = kp * e;
            assert_close(u, raw < -3 ? -3 : raw > 3 ? 3 : raw, 1e-12, 1e-12);
            /* the controller ran once with dt = 0: no integration */
            continue;
        }
        D = (tf * D - kd * (y - y_prev)) / (tf + dt);
        y_prev = y;
        double e = 1 - y, raw = kp * e + I + D, sat = raw < -3 ? -3 : raw > 3 ? 3 : raw;
        assert_close(u, sat, 1e-9, 1e-9);
        I += (ki * e + kb * (sat - raw)) * dt;
        saturated += sat != raw;
        checked++;
    }
    assert_true(checked >= 30);
    assert_true(saturated > 0); /* the back-calculation path ran */
    dt_twin_destroy(t);
}

/* The clamp anti-windup stops integrating while saturated in the error's
 * direction: after a long saturation the output leaves the limit at once
 * when the error changes sign (no wound-up integral to unwind). */
static void test_pid_clamp_no_windup(void **state)
{
    (void)state;
    dt_diag d;
    int rc;
    dt_twin *t = load("{\"id\":\"c\",\"kind\":\"pid\",\"input\":\"x_est\",\"output\":\"u\","
                      "\"setpoint\":10,\"kp\":1,\"ki\":5,\"out_max\":2}",
                      &d, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    double u = NAN, w;
    for (int k = 1; k <= 50; k++) /* e = 10 for 5 s: saturated at 2 */
        cycle(t, 0, 0, (dt_time)k * 100 * DT_NS_PER_MS, &u, &w);
    assert_close(u, 2, 0, 0);
    cycle(t, 12, 0, 51 * 100 * DT_NS_PER_MS, &u, &w); /* e = -2: kp e = -2, I small */
    assert_true(u < 0);
    dt_twin_destroy(t);
}

static void test_parameter_input(void **state)
{
    (void)state;
    dt_diag d;
    int rc;
    /* a parameter signal is a valid PID input (held at its value) */
    dt_twin *t = load("{\"id\":\"c\",\"kind\":\"pid\",\"input\":\"gain\",\"output\":\"u\","
                      "\"setpoint\":5,\"kp\":1}",
                      &d, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    double u = NAN, w;
    for (int k = 1; k <= 3; k++)
        cycle(t, 0, 0, (dt_time)k * 100 * DT_NS_PER_MS, &u, &w);
    assert_close(u, 3, 0, 1e-12); /* kp (5 - 2) */
    dt_twin_destroy(t);
}

static void test_configuration_errors(void **state)
{
    (void)state;
    static const struct {
        const char *ctl, *msg;
    } cases[] = {
        {"{\"id\":\"c\",\"kind\":\"pid\",\"output\":\"u\",\"setpoint\":1,\"kp\":1}",
         "controllers[0]: input: required signal id"},
        {"{\"id\":\"c\",\"kind\":\"pid\",\"input\":\"nope\",\"output\":\"u\",\"setpoint\":1,\"kp\":1}",
         "controllers[0]: input: unknown signal \"nope\""},
        {"{\"id\":\"c\",\"kind\":\"pid\",\"input\":\"x\",\"output\":\"u\",\"setpoint\":1,\"kp\":1}",
         "controllers[0]: input: signal \"x\" is measured, expected estimated or parameter"},
        {"{\"id\":\"c\",\"kind\":\"pid\",\"input\":\"x_est\",\"output\":\"x_est\",\"setpoint\":1,\"kp\":1}",
         "controllers[0]: output: signal \"x_est\" is estimated, expected commanded"},
        {"{\"id\":\"c\",\"kind\":\"pid\",\"input\":\"x_est\",\"output\":\"u\",\"kp\":1}",
         "controllers[0]: setpoint: required number"},
        {"{\"id\":\"c\",\"kind\":\"pid\",\"input\":\"x_est\",\"output\":\"u\",\"setpoint\":1,\"kp\":\"a\"}",
         "controllers[0]: kp: expected a finite number"},
        {"{\"id\":\"c\",\"kind\":\"pid\",\"input\":\"x_est\",\"output\":\"w\",\"setpoint\":1,\"kp\":1}",
         "controllers[0]: out_min/out_max: need finite limits with min < max (from the output "
         "signal's limits or given here)"},
        {"{\"id\":\"c\",\"kind\":\"pid\",\"input\":\"x_est\",\"output\":\"u\",\"setpoint\":1,\"kp\":1,"
         "\"out_min\":\"x\"}",
         "controllers[0]: out_min: expected a finite number"},
        {"{\"id\":\"c\",\"kind\":\"pid\",\"input\":\"x_est\",\"output\":\"u\",\"setpoint\":1,\"kp\":1,"
         "\"ki\":-1}",
         "controllers[0]: ki, kd and tf must be >= 0"},
        {"{\"id\":\"c\",\"kind\":\"pid\",\"input\":\"x_est\",\"output\":\"u\",\"setpoint\":1,\"kp\":1,"
         "\"antiwindup\":\"none\"}",
         "controllers[0]: antiwindup: clamp or backcalc"},
        {"{\"id\":\"c\",\"kind\":\"pid\",\"input\":\"x_est\",\"output\":\"u\",\"setpoint\":1,\"kp\":1,"
         "\"kb\":\"x\"}",
         "controllers[0]: kb: expected a finite number"},
        {"{\"id\":\"c\",\"kind\":\"pid\",\"input\":\"x_est\",\"output\":\"u\",\"setpoint\":1,\"kp\":1,"
         "\"antiwindup\":\"backcalc\",\"kb\":0}",
         "controllers[0]: kb: must be > 0 for back-calculation"},
        {"{\"id\":\"s\",\"kind\":\"state_feedback\",\"outputs\":[\"u\"],\"K\":[[1]]}",
         "controllers[0]: states: an array of 1..16 signal ids"},
        {"{\"id\":\"s\",\"kind\":\"state_feedback\",\"states\":[\"x_est\",3],\"outputs\":[\"u\"],"
         "\"K\":[[1,1]]}",
         "controllers[0]: states[1]: unknown signal"},
        {"{\"id\":\"s\",\"kind\":\"state_feedback\",\"states\":[\"x_est\"],\"outputs\":[\"v_est\"],"
         "\"K\":[[1]]}",
         "controllers[0]: outputs[0]: \"v_est\" is estimated"},
        {"{\"id\":\"s\",\"kind\":\"state_feedback\",\"states\":[\"x_est\"],\"outputs\":[\"u\"],"
         "\"K\":[[1],[2]]}",
         "controllers[0]: K: expected 1 rows (one per output)"},
        {"{\"id\":\"s\",\"kind\":\"state_feedback\",\"states\":[\"x_est\"],\"outputs\":[\"u\"],"
         "\"K\":[[1,2]]}",
         "controllers[0]: K[0]: expected 1 numbers"},
        {"{\"id\":\"s\",\"kind\":\"state_feedback\",\"states\":[\"x_est\"],\"outputs\":[\"u\"],"
         "\"K\":[[\"a\"]]}",
         "controllers[0]: K[0][0]: expected a finite number"},
        {"{\"id\":\"s\",\"kind\":\"state_feedback\",\"states\":[\"x_est\"],\"outputs\":[\"u\"],"
         "\"K\":[[1]],\"x_ref\":[1,2]}",
         "controllers[0]: x_ref: expected 1 numbers"},
        {"{\"id\":\"s\",\"kind\":\"state_feedback\",\"states\":[\"x_est\"],\"outputs\":[\"u\"],"
         "\"K\":[[1]],\"u_ref\":[]}",
         "controllers[0]: u_ref: expected 1 numbers"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        dt_diag d;
        int rc;
        dt_twin *t = load(cases[i].ctl, &d, &rc);
        if (rc == 0 || strcmp(d.message, cases[i].msg) != 0)
            print_error("case %zu: rc %d \"%s\"\n", i, rc, rc ? d.message : "");
        assert_true(rc != 0);
        assert_null(t);
        assert_string_equal(d.message, cases[i].msg);
    }
}

/* The dispatcher's safety checks, every branch: interlocks with each operator
 * (engaging and releasing), clamping at both limits, rate limits both ways,
 * a commanded signal no sink maps (sent in simulation only), repeated equal
 * commands, the safe state engaged by a broken covariance bound and left on
 * fresh data, and a NaN command replaced by the safe value. */
static const char disp_doc[] =
    "{\"dtwin\":1,\"name\":\"disp\",\"assets\":[{\"id\":\"p\"}],\"signals\":["
    "{\"id\":\"x\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","
    " \"noise\":{\"std\":1e-3},\"period\":0.1},"
    "{\"id\":\"x_est\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"estimated\"},"
    "{\"id\":\"a\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"commanded\","
    " \"limits\":{\"min\":-1,\"max\":1}},"
    "{\"id\":\"b\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"commanded\","
    " \"limits\":{\"min\":-9,\"max\":9}},"
    "{\"id\":\"c\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"commanded\"},"
    "{\"id\":\"d\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"commanded\"},"
    "{\"id\":\"e\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"commanded\"}],"
    "\"sources\":[{\"id\":\"s\",\"kind\":\"memory\",\"mapping\":[{\"native\":\"x\",\"signal\":\"x\"}]}],"
    "\"sinks\":[{\"id\":\"k\",\"kind\":\"memory\",\"capacity\":64,\"mapping\":["
    " {\"native\":\"a\",\"signal\":\"a\"},{\"native\":\"b\",\"signal\":\"b\"},"
    " {\"native\":\"c\",\"signal\":\"c\"},{\"native\":\"d\",\"signal\":\"d\"}]}],"
    "\"estimator\":{\"states\":[\"x_est\"],\"inputs\":[\"c\"],\"A\":[[0]],\"B\":[[0]],"
    " \"Q\":[1e-4],\"P0\":[1e-4],\"gate\":1,\"measurements\":[{\"signal\":\"x\",\"H\":{\"x_est\":1}}],"
    " \"bounds\":[{\"name\":\"var\",\"variance\":\"x_est\",\"max\":0.01}]},"
    "\"dispatcher\":{\"max_data_age\":10,\"safe\":{\"a\":0,\"b\":0,\"c\":0,\"d\":0,\"e\":0},"
    " \"rate_limits\":{\"b\":1},"
    " \"interlocks\":[{\"name\":\"gt\",\"signal\":\"x_est\",\"op\":\">\",\"value\":5,\"set\":{\"c\":1}},"
    "  {\"name\":\"ge\",\"signal\":\"x_est\",\"op\":\">=\",\"value\":4,\"set\":{\"d\":2}},"
    "  {\"name\":\"lt\",\"signal\":\"x_est\",\"op\":\"<\",\"value\":-5,\"set\":{\"c\":3}},"
    "  {\"name\":\"le\",\"signal\":\"x_est\",\"op\":\"<=\",\"value\":-4,\"set\":{\"d\":4}}],"
    " \"deadline\":1},\"loop\":{\"period\":0.1}}";

static void submit(dt_twin *t, const char *id, double v, dt_time now)
{
    dt_command c = {0};
    assert_int_equal(dt_model_find_signal(dt_twin_model(t), id, &c.signal), 0);
    c.value = v;
    c.t_issued = now;
    c.t_deadline = now + DT_NS_PER_S;
    assert_int_equal(dt_twin_submit(t, &c), 0);
}

/* The newest value the sink got for native name `id` since the last call. */
static double sent(dt_twin *t, const char *id)
{
    dt_command c[64];
    dt_signal_id sig;
    dt_model_find_signal(dt_twin_model(t), id, &sig);
    double v = NAN;
    size_t n = dt_memory_sink_read(dt_twin_io(t), 0, c, 64);
    for (size_t i = 0; i < n; i++)
        if (c[i].signal == sig)
            v = c[i].value;
    return v;
}

static void test_dispatcher_every_branch(void **state)
{
    (void)state;
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_twin *t;
    dt_diag d;
    int rc = dt_twin_load_json(disp_doc, sizeof disp_doc - 1, &o, &t, &d);
    if (rc)
        print_error("%s\n", d.message);
    assert_int_equal(rc, 0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    dt_io *io = dt_twin_io(t);
    dt_time now = 0;
    dt_twin_stats st;
    /* k: one cycle with x measured at value x */
#define CYCLE(xv)                                                                  \
    do {                                                                           \
        now += 100 * DT_NS_PER_MS;                                                 \
        assert_int_equal(dt_memory_source_push(io, 0, "x", now - DT_NS_PER_MS, (xv)), 0); \
        assert_int_equal(dt_twin_step(t, now), 0);                                 \
    } while (0)
    CYCLE(0); /* data arrives: the start-up safe state is left */
    dt_twin_stats_get(t, &st);
    assert_int_equal(st.safe_state, 0);
    (void)sent(t, "a");

    /* clamping at both limits, and a value inside them */
    submit(t, "a", 5, now);
    CYCLE(0);
    assert_close(sent(t, "a"), 1, 0, 0);
    submit(t, "a", -5, now);
    CYCLE(0);
    assert_close(sent(t, "a"), -1, 0, 0);
    submit(t, "a", 0.5, now);
    CYCLE(0);
    assert_close(sent(t, "a"), 0.5, 0, 0);
    dt_twin_stats_get(t, &st);
    assert_int_equal(st.clamped, 2);

    /* rate limit 1/s over 0.1 s cycles: up and down by at most 0.1 */
    submit(t, "b", 0, now);
    CYCLE(0);
    (void)sent(t, "b");
    submit(t, "b", 5, now);
    CYCLE(0);
    assert_close(sent(t, "b"), 0.1, 1e-12, 1e-12);
    submit(t, "b", -5, now);
    CYCLE(0);
    assert_close(sent(t, "b"), 0.0, 1e-12, 1e-12);
    submit(t, "b", 0.05, now); /* within the step: unchanged */
    CYCLE(0);
    assert_close(sent(t, "b"), 0.05, 1e-12, 1e-12);

    /* e has no sink: sent in simulation only (DT_ENOTFOUND counts as sent) */
    dt_twin_stats_get(t, &st);
    uint64_t before = st.sent;
    submit(t, "e", 0.3, now);
    submit(t, "e", 0.3, now); /* the same value twice */
    CYCLE(0);
    dt_twin_stats_get(t, &st);
    assert_int_equal(st.sent, before + 2);
    assert_int_equal(st.sink_errors, 0);

    /* interlocks: each operator engages at its threshold and releases */
    static const struct {
        double x, c, d;
    } il[] = {{6, 1, 2}, {4.5, 0.7, 2}, {0, 0.7, 0.7}, {-6, 3, 4}, {-4.5, 0.7, 4}};
    for (size_t i = 0; i < sizeof il / sizeof *il; i++) {
        CYCLE(il[i].x);          /* the estimate moves to x (gate off, precise data) */
        CYCLE(il[i].x);          /* interlocks are assessed on it */
        (void)sent(t, "c");
        submit(t, "c", 0.7, now);
        submit(t, "d", 0.7, now);
        CYCLE(il[i].x);
        dt_command got[64];
        size_t n = dt_memory_sink_read(io, 0, got, 64);
        double cv = NAN, dv = NAN;
        dt_signal_id sc, sd;
        dt_model_find_signal(dt_twin_model(t), "c", &sc);
        dt_model_find_signal(dt_twin_model(t), "d", &sd);
        for (size_t k = 0; k < n; k++)
            *(got[k].signal == sc ? &cv : got[k].signal == sd ? &dv : &(double){0}) = got[k].value;
        if (cv != il[i].c || dv != il[i].d)
            print_error("x = %g: c %g (want %g), d %g (want %g)\n", il[i].x, cv, il[i].c, dv,
                        il[i].d);
        assert_close(cv, il[i].c, 0, 1e-12);
        assert_close(dv, il[i].d, 0, 1e-12);
    }
    CYCLE(0);
    CYCLE(0);

    /* a full sink refuses: counted as a sink error, not as sent */
    dt_twin_stats_get(t, &st);
    uint64_t errors = st.sink_errors;
    for (int k = 0; k < 70; k++)
        submit(t, "c", 0.25, now); /* equal values: the estimator input is set once */
    CYCLE(0);
    dt_twin_stats_get(t, &st);
    assert_int_equal(st.sink_errors, errors + 6); /* capacity 64 */
    (void)sent(t, "c");

    /* a NaN command: the safe value is sent instead */
    submit(t, "a", NAN, now);
    CYCLE(0);
    assert_close(sent(t, "a"), 0, 0, 0);

    /* no data for 12 s: the variance bound (0.01, Q 1e-4/s) breaks after ~99 s of
     * budget... use a long silence: 120 s without data engages the safe state */
    for (int k = 0; k < 1200; k++) {
        now += 100 * DT_NS_PER_MS;
        assert_int_equal(dt_twin_step(t, now), 0);
    }
    dt_twin_stats_get(t, &st);
    assert_int_equal(st.safe_state, 1);
    uint64_t entries = st.safe_entries;
    submit(t, "a", 0.9, now); /* replaced by the safe value while engaged */
    CYCLE(0);
    CYCLE(0);
    dt_twin_stats_get(t, &st);
    assert_int_equal(st.safe_state, 0); /* fresh data restores the belief */
    assert_int_equal(st.safe_entries, entries);
    assert_true(st.safe_stated > 0);
#undef CYCLE
    dt_twin_destroy(t);
}

/* A covariance bound breaks while data is fresh: the sensor of one state
 * stops while the other keeps the belief young, and that state's variance
 * grows (Q 1e-3/s from its steady-state posterior) past the bound: the
 * latency rule engages the safe state although the belief's age is small. */
static void test_bound_engages_safe_state(void **state)
{
    (void)state;
    static const char doc[] =
        "{\"dtwin\":1,\"name\":\"bnd\",\"assets\":[{\"id\":\"p\"}],\"signals\":["
        "{\"id\":\"x\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","
        " \"noise\":{\"std\":1e-3},\"period\":0.1},"
        "{\"id\":\"y\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","
        " \"noise\":{\"std\":1e-2},\"period\":0.1},"
        "{\"id\":\"x_est\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"estimated\"},"
        "{\"id\":\"y_est\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"estimated\"},"
        "{\"id\":\"a\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"commanded\"}],"
        "\"sources\":[{\"id\":\"s\",\"kind\":\"memory\",\"mapping\":[{\"native\":\"x\",\"signal\":\"x\"},"
        " {\"native\":\"y\",\"signal\":\"y\"}]}],"
        "\"estimator\":{\"states\":[\"x_est\",\"y_est\"],\"A\":[[0,0],[0,0]],\"Q\":[1e-4,1e-3],"
        " \"P0\":[1e-4,1e-4],\"gate\":1,\"measurements\":[{\"signal\":\"x\",\"H\":{\"x_est\":1}},"
        " {\"signal\":\"y\",\"H\":{\"y_est\":1}}],"
        " \"bounds\":[{\"name\":\"y\",\"variance\":\"y_est\",\"max\":0.01}]},"
        "\"dispatcher\":{\"safe\":{\"a\":0}},\"loop\":{\"period\":0.1}}";
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_twin *t;
    assert_int_equal(dt_twin_load_json(doc, sizeof doc - 1, &o, &t, NULL), 0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    dt_twin_stats st;
    int engaged_at = -1;
    for (int k = 1; k <= 140; k++) {
        dt_time now = (dt_time)k * 100 * DT_NS_PER_MS;
        assert_int_equal(dt_memory_source_push(dt_twin_io(t), 0, "x", now - DT_NS_PER_MS, 0), 0);
        if (k <= 20) /* y's sensor stops at 2 s */
            assert_int_equal(dt_memory_source_push(dt_twin_io(t), 0, "y", now - DT_NS_PER_MS, 0),
                             0);
        assert_int_equal(dt_twin_step(t, now), 0);
        dt_twin_stats_get(t, &st);
        if (engaged_at < 0 && k > 5 && st.safe_state) {
            engaged_at = k;
            assert_true(st.belief_age_s < 0.2); /* fresh data: the bound did it */
        }
    }
    /* steady state of y: P+ solves P+^2 + qT P+ - qT r = 0 (qT = r = 1e-4);
     * the budget is (0.01 - P+) / 1e-3 */
    double pp = 0.5 * (-1e-4 + sqrt(1e-8 + 4e-8)), tau = (0.01 - pp) / 1e-3;
    assert_close(st.tau_max_s, tau, 1e-6, 0);
    /* y's last update at 1.999 s: its variance passes 0.01 at 1.999 + tau */
    assert_int_equal(engaged_at, (int)ceil((1.999 + tau) * 10));
    assert_int_equal(st.safe_entries, 1); /* data from the first cycle: only the bound */
    assert_int_equal(st.safe_state, 1);
    dt_twin_destroy(t);
}

/* A twin without an estimator still checks host commands (limits), and its
 * data-age limit applies to the newest sample it received. */
static void test_dispatcher_without_estimator(void **state)
{
    (void)state;
    static const char doc[] =
        "{\"dtwin\":1,\"name\":\"noest\",\"assets\":[{\"id\":\"p\"}],\"signals\":["
        "{\"id\":\"a\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"commanded\","
        " \"limits\":{\"min\":0,\"max\":1}},"
        "{\"id\":\"x\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\"}],"
        "\"sources\":[{\"id\":\"s\",\"kind\":\"memory\",\"mapping\":[{\"native\":\"x\",\"signal\":\"x\"}]}],"
        "\"sinks\":[{\"id\":\"k\",\"kind\":\"memory\",\"mapping\":[{\"native\":\"a\",\"signal\":\"a\"}]}],"
        "\"dispatcher\":{\"max_data_age\":0.5,\"safe\":{\"a\":0}},\"loop\":{\"period\":0.1}}";
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_twin *t;
    dt_diag d;
    int rc = dt_twin_load_json(doc, sizeof doc - 1, &o, &t, &d);
    if (rc)
        print_error("%s\n", d.message);
    assert_int_equal(rc, 0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    /* no data yet: the age of what the twin acts on is unbounded, safe state */
    submit(t, "a", 0.5, 0);
    assert_int_equal(dt_twin_step(t, 100 * DT_NS_PER_MS), 0);
    assert_close(sent(t, "a"), 0, 0, 0);
    dt_twin_stats st;
    dt_twin_stats_get(t, &st);
    assert_int_equal(st.safe_state, 1);
    /* with a fresh sample the host's command passes, clamped to the limit */
    assert_int_equal(dt_memory_source_push(dt_twin_io(t), 0, "x", 150 * DT_NS_PER_MS, 0), 0);
    submit(t, "a", 3, 0);
    assert_int_equal(dt_twin_step(t, 200 * DT_NS_PER_MS), 0);
    assert_close(sent(t, "a"), 1, 0, 0);
    dt_twin_stats_get(t, &st);
    assert_int_equal(st.safe_state, 0);
    assert_int_equal(st.clamped, 1);
    /* the data ages past max_data_age (0.5 s): safe state again */
    for (int k = 3; k <= 8; k++)
        assert_int_equal(dt_twin_step(t, k * 100 * DT_NS_PER_MS), 0);
    dt_twin_stats_get(t, &st);
    assert_int_equal(st.safe_state, 1);
    assert_close(st.belief_age_s, 0.65, 1e-12, 0);
    dt_twin_destroy(t);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_dispatcher_without_estimator),
    cmocka_unit_test(test_bound_engages_safe_state),
    cmocka_unit_test(test_dispatcher_every_branch),
    cmocka_unit_test(test_state_feedback_law),
    cmocka_unit_test(test_pid_derivative_backcalc),
    cmocka_unit_test(test_pid_clamp_no_windup),
    cmocka_unit_test(test_parameter_input),
    cmocka_unit_test(test_configuration_errors),
};

DTT_MAIN(tests)
