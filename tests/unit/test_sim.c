/* Plant simulation adapters. */
#include <stdlib.h>

#include "test_util.h"

#include "dtwin/dtwin.h"

/* dy/dt = -y + u, exact over a step */
typedef struct first_order {
    double y;
    int steps;
} first_order;

static const char *const fo_in[] = {"valve"};
static const char *const fo_out[] = {"level", "inflow"};

static int fo_step(void *self, double t, double dt, const double *u, double *y)
{
    (void)t;
    first_order *p = self;
    double e = exp(-dt);
    p->y = e * p->y + (1 - e) * u[0];
    p->steps += dt > 0;
    y[0] = p->y;
    y[1] = u[0];
    return 0;
}

static const dt_plant_ops fo_ops = {DT_PLANT_ABI, 1, 2, fo_in, fo_out, fo_step};

static const char twin_doc[] =
    "{\"dtwin\":1,\"name\":\"sim\",\"assets\":[{\"id\":\"p\"}],\"signals\":["
    "{\"id\":\"y\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","
    " \"noise\":{\"std\":0.01}},"
    "{\"id\":\"y_est\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"estimated\"},"
    "{\"id\":\"u\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"commanded\","
    " \"limits\":{\"min\":0,\"max\":5}}],"
    "\"sources\":[{\"id\":\"sensor\",\"kind\":\"sim\",\"plant\":\"tank\",\"rate\":100,\"seed\":7,"
    "  \"noise\":0.01,\"latency\":0.005,\"jitter\":0.002,\"offset\":0.25,\"skew\":1e-4,"
    "  \"dropout\":0.1,\"burst_every\":5,\"burst_length\":0.2,\"timeout\":0.5,"
    "  \"clock\":{\"mode\":\"estimate\"},\"lateness\":0.02,"
    "  \"mapping\":[{\"native\":\"level\",\"signal\":\"y\"}]}],"
    "\"sinks\":[{\"id\":\"valve\",\"kind\":\"sim\",\"plant\":\"tank\","
    "  \"mapping\":[{\"native\":\"valve\",\"signal\":\"u\"}]}],"
    "\"estimator\":{\"states\":[\"y_est\"],\"inputs\":[\"u\"],\"A\":[[-1]],\"B\":[[1]],"
    "  \"Q\":[0.001],\"P0\":[0.01],\"measurements\":[{\"signal\":\"y\",\"H\":{\"y_est\":1}}]},"
    "\"controllers\":[{\"id\":\"c\",\"kind\":\"pid\",\"input\":\"y_est\",\"output\":\"u\","
    "  \"setpoint\":2,\"kp\":2,\"ki\":2}],"
    "\"dispatcher\":{\"max_data_age\":10,\"safe\":{\"u\":0}},\"loop\":{\"period\":0.01}}";

typedef struct result {
    double y_end, offset_est;
    uint64_t lost, offered, hash;
    int steps;
} result;

static void run(result *r, uint64_t seed)
{
    (void)seed;
    first_order plant = {0, 0};
    dt_registry *reg;
    assert_int_equal(dt_registry_create(NULL, &reg), 0);
    assert_int_equal(dt_registry_add_plant(reg, "tank", &fo_ops, &plant), 0);
    assert_int_equal(dt_registry_add_plant(reg, "tank", &fo_ops, &plant), DT_EEXIST);
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    o.registry = reg;
    dt_twin *t;
    dt_diag d;
    int rc = dt_twin_load_json(twin_doc, sizeof twin_doc - 1, &o, &t, &d);
    if (rc)
        print_error("%s\n", d.message);
    assert_int_equal(rc, 0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    r->hash = 1469598103934665603ull;
    for (int k = 1; k <= 2000; k++) {
        assert_int_equal(dt_twin_step(t, (dt_time)k * 10 * DT_NS_PER_MS), 0);
        double y;
        if (dt_est_belief(dt_twin_estimator(t), 1, 0, &(dt_belief){0}) == 0) {
            y = dt_kf_state(dt_est_kf(dt_twin_estimator(t)))[0];
            uint64_t b;
            memcpy(&b, &y, sizeof b);
            r->hash = (r->hash ^ b) * 1099511628211ull;
        }
    }
    dt_io *io = dt_twin_io(t);
    r->lost = dt_io_source_events(io, 0, DT_EV_LOST);
    dt_source_stats st;
    dt_ingest_source_stats(dt_twin_ingest(t), 0, &st);
    r->offered = st.offered;
    r->offset_est = dt_clock_offset_s(dt_ingest_clock(dt_twin_ingest(t), 0), 0);
    r->y_end = plant.y;
    r->steps = plant.steps;
    dt_twin_destroy(t);
    dt_registry_destroy(reg);
}

static void test_sim_closed_loop(void **state)
{
    (void)state;
    result a, b;
    run(&a, 7);
    run(&b, 7);
    print_message("plant y(20 s) %.3f, %llu samples delivered, %llu lost, clock offset %.4f s\n",
                  a.y_end, (unsigned long long)a.offered, (unsigned long long)a.lost,
                  a.offset_est);
    /* 20 s at 100 Hz: 2000 readings; 4 bursts of 0.2 s take 80, 10 % of the rest 192 */
    assert_true(a.offered + a.lost >= 1990 && a.offered + a.lost <= 2001);
    assert_true(a.lost > 220 && a.lost < 325); /* 272 expected, 13 = 1 sigma */
    /* the plant, moved only by commands through the sim sink, reaches the setpoint */
    assert_close(a.y_end, 2.0, 0, 0.1);
    /* 1 ms steps from the first poll (0.01 s) to 20 s: 19990, one less to rounding */
    assert_true(a.steps >= 19989 && a.steps <= 19990);
    /* the twin's clock model recovered the sensor's 250 ms offset (to ~latency) */
    assert_close(-a.offset_est, 0.25, 0, 0.01);
    /* same seed, same everything */
    assert_true(a.hash == b.hash && a.lost == b.lost && a.offered == b.offered);
}

static void test_sim_configuration_errors(void **state)
{
    (void)state;
    first_order plant = {0, 0};
    dt_registry *reg;
    dt_registry_create(NULL, &reg);
    dt_plant_ops bad = fo_ops;
    bad.abi = 99;
    assert_int_equal(dt_registry_add_plant(reg, "x", &bad, &plant), DT_EABI);
    dt_registry_add_plant(reg, "tank", &fo_ops, &plant);
    const struct {
        const char *from, *to, *msg;
    } cases[] = {
        {"\"plant\":\"tank\",\"rate\"", "\"plant\":\"pool\",\"rate\"",
         "sources[0]: plant: no plant \"pool\" is registered (dt_registry_add_plant)"},
        {"\"native\":\"level\"", "\"native\":\"depth\"",
         "sources[0]: mapping[0].native: \"depth\" is not an output of plant \"tank\""},
        {"\"dropout\":0.1", "\"dropout\":2", "sources[0]: dropout: a number in [0, 1]"},
        {"\"native\":\"valve\"", "\"native\":\"pump\"",
         "sinks[0]: mapping[0].native: \"pump\" is not an input of plant \"tank\""},
    };
    for (size_t i = 0; i < 4; i++) {
        char doc[sizeof twin_doc + 32];
        const char *at = strstr(twin_doc, cases[i].from);
        assert_non_null(at);
        snprintf(doc, sizeof doc, "%.*s%s%s", (int)(at - twin_doc), twin_doc, cases[i].to,
                 at + strlen(cases[i].from));
        dt_twin_options o = DT_TWIN_OPTIONS_INIT;
        o.logger = dt_logger_silent();
        o.registry = reg;
        dt_twin *t = NULL;
        dt_diag d;
        assert_int_not_equal(dt_twin_load_json(doc, strlen(doc), &o, &t, &d), 0);
        if (strcmp(d.message, cases[i].msg) != 0)
            print_error("case %zu: \"%s\"\n", i, d.message);
        assert_string_equal(d.message, cases[i].msg);
    }
    dt_registry_destroy(reg);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_sim_closed_loop),
    cmocka_unit_test(test_sim_configuration_errors),
};

DTT_MAIN(tests)
