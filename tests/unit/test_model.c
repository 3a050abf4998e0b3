#include <stdlib.h>

#include "test_util.h"

#include "dtwin/dtwin.h"

#ifndef DTT_SOURCE_DIR
#define DTT_SOURCE_DIR "."
#endif
#define EXAMPLE DTT_SOURCE_DIR "/examples/tank/twin.json"

static dt_model_options quiet_opts(void)
{
    dt_model_options o = DT_MODEL_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    return o;
}

static dt_model *load_ok(const char *doc)
{
    dt_model_options o = quiet_opts();
    dt_model *m = NULL;
    dt_diag d;
    int rc = dt_model_load_json(doc, strlen(doc), &o, &m, &d);
    if (rc != DT_OK)
        print_error("unexpected failure: %s\n", d.message);
    assert_int_equal(rc, DT_OK);
    return m;
}

static void test_units_parse_and_convert(void **state)
{
    (void)state;
    dt_unit u, v;
    double s, o;
    assert_int_equal(dt_unit_parse("kV", &u), 0);
    assert_int_equal(u.cls, DT_UC_VOLTAGE);
    assert_close(u.scale, 1e3, 0, 0);
    assert_int_equal(dt_unit_parse("MW", &u), 0);
    assert_int_equal(dt_unit_parse("kW", &v), 0);
    assert_int_equal(dt_unit_conversion(&u, &v, &s, &o), 0);
    assert_close(s, 1000.0, 1e-15, 0);
    /* 100 degC = 373.15 K = 212 degF */
    assert_int_equal(dt_unit_parse("degC", &u), 0);
    assert_int_equal(dt_unit_parse("degF", &v), 0);
    assert_int_equal(dt_unit_conversion(&u, &v, &s, &o), 0);
    assert_close(100.0 * s + o, 212.0, 1e-14, 0);
    assert_int_equal(dt_unit_parse("K", &v), 0);
    assert_int_equal(dt_unit_conversion(&u, &v, &s, &o), 0);
    assert_close(100.0 * s + o, 373.15, 1e-15, 0);
    /* 3000 rpm = 100 pi rad/s; 60 Hz is a frequency, not an angular velocity. */
    assert_int_equal(dt_unit_parse("rpm", &u), 0);
    assert_int_equal(dt_unit_parse("rad/s", &v), 0);
    assert_int_equal(dt_unit_conversion(&u, &v, &s, &o), 0);
    assert_close(3000.0 * s, 100.0 * 3.14159265358979323846, 1e-15, 0);
    assert_int_equal(dt_unit_parse("Hz", &u), 0);
    assert_int_equal(dt_unit_conversion(&u, &v, &s, &o), DT_EUNIT);
    /* W, VA and var are distinct quantities. */
    assert_int_equal(dt_unit_parse("MVA", &u), 0);
    assert_int_equal(dt_unit_parse("Mvar", &v), 0);
    assert_int_equal(dt_unit_conversion(&u, &v, &s, &o), DT_EUNIT);
    /* Prefix forms. */
    const char *good[] = {"mA", "kPa", "mbar", "kg", "ms", "\xC2\xB5s", "us",
                          "GWh", "kN.m", "kohm", "%", "pu", "1", "deg", "m3/h",
                          "km", "hPa", "dam", "min", "h", "t/h", "m/s2"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        if (dt_unit_parse(good[i], &u) != 0)
            print_error("unit %s\n", good[i]);
        assert_int_equal(dt_unit_parse(good[i], &u), 0);
    }
    assert_int_equal(dt_unit_parse("kg", &u), 0);
    assert_close(u.scale, 1.0, 1e-15, 0);
    assert_int_equal(dt_unit_parse("mbar", &u), 0);
    assert_close(u.scale, 100.0, 1e-15, 0);
    const char *bad[] = {"kVv", "", "k", "kkV", "kdegC", "krpm", "mh", "V ",
                         "volt", "kpu"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(dt_unit_parse(bad[i], &u), DT_EUNIT);
    assert_int_equal(dt_unit_parse(NULL, &u), DT_EINVAL);
    assert_string_equal(dt_unit_class_name(DT_UC_TORQUE), "torque");
}

static void test_load_example(void **state)
{
    (void)state;
    dt_model_options o = quiet_opts();
    dt_model *m = NULL;
    dt_diag d;
    int rc = dt_model_load_file(EXAMPLE, &o, &m, &d);
    if (rc)
        print_error("%s\n", d.message);
    assert_int_equal(rc, 0);
    assert_string_equal(dt_model_name(m), "tank-demo");
    assert_int_equal(dt_model_asset_count(m), 4);
    assert_int_equal(dt_model_signal_count(m), 10);

    dt_asset_id tank, site;
    assert_int_equal(dt_model_find_asset(m, "tank", &tank), 0);
    assert_int_equal(dt_model_find_asset(m, "site", &site), 0);
    assert_int_equal(dt_model_asset(m, tank)->parent, site);
    assert_int_equal(dt_model_asset(m, site)->parent, DT_ID_NONE);
    assert_string_equal(dt_model_asset(m, tank)->name, "Storage tank T1");

    dt_signal_id sp;
    assert_int_equal(dt_model_find_signal(m, "pump.speed", &sp), 0);
    const dt_signal_info *s = dt_model_signal(m, sp);
    assert_string_equal(s->id, "pump.speed");
    assert_int_equal(s->role, DT_ROLE_MEASURED);
    assert_int_equal(s->quantity, DT_UC_ANGULAR_VELOCITY);
    assert_string_equal(s->unit_symbol, "rpm");
    assert_true(s->has_limits);
    assert_close(s->max, 3000, 0, 0);
    assert_true(s->period == 50 * DT_NS_PER_MS);
    assert_close(s->noise_var, 25.0, 0, 0);
    assert_string_equal(dt_model_asset(m, s->asset)->id, "pump");

    dt_signal_id t;
    assert_int_equal(dt_model_find_signal(m, "tank.temperature", &t), 0);
    assert_close(dt_model_signal(m, t)->noise_var, 0.04, 0, 0);
    dt_signal_id lvl;
    assert_int_equal(dt_model_find_signal(m, "tank.level", &lvl), 0);
    assert_string_equal(dt_model_signal(m, lvl)->semantic_id,
                        "0173-1#02-AAB713#005");
    assert_null(dt_model_signal(m, t)->semantic_id);

    /* One-sided limits. */
    dt_signal_id pw;
    assert_int_equal(dt_model_find_signal(m, "pump.power", &pw), 0);
    assert_true(isinf(dt_model_signal(m, pw)->min));
    assert_close(dt_model_signal(m, pw)->max, 55, 0, 0);

    /* Every signal resolves to its own dense id. */
    for (dt_signal_id i = 0; i < dt_model_signal_count(m); i++) {
        dt_signal_id back;
        assert_int_equal(dt_model_find_signal(m, dt_model_signal(m, i)->id, &back), 0);
        assert_int_equal(back, i);
    }
    dt_signal_id none;
    assert_int_equal(dt_model_find_signal(m, "nope", &none), DT_ENOTFOUND);
    assert_null(dt_model_signal(m, 10));
    assert_null(dt_model_asset(m, 4));
    dt_model_destroy(m);
    dt_model_destroy(NULL);
}

static char *save_alloc(const dt_model *m)
{
    size_t need = 0;
    assert_int_equal(dt_model_save_json(m, NULL, 0, &need), DT_EFULL);
    assert_true(need > 2);
    char *buf = malloc(need);
    assert_non_null(buf);
    assert_int_equal(dt_model_save_json(m, buf, need - 1, NULL), DT_EFULL);
    assert_int_equal(dt_model_save_json(m, buf, need, NULL), 0);
    assert_int_equal(strlen(buf) + 1, need);
    return buf;
}

static void assert_models_equal(const dt_model *a, const dt_model *b)
{
    assert_string_equal(dt_model_name(a), dt_model_name(b));
    assert_int_equal(dt_model_asset_count(a), dt_model_asset_count(b));
    assert_int_equal(dt_model_signal_count(a), dt_model_signal_count(b));
    for (dt_asset_id i = 0; i < dt_model_asset_count(a); i++) {
        const dt_asset_info *x = dt_model_asset(a, i), *y = dt_model_asset(b, i);
        assert_string_equal(x->id, y->id);
        assert_string_equal(x->name, y->name);
        assert_string_equal(x->kind, y->kind);
        assert_int_equal(x->parent, y->parent);
        assert_true((x->semantic_id == NULL) == (y->semantic_id == NULL));
    }
    for (dt_signal_id i = 0; i < dt_model_signal_count(a); i++) {
        const dt_signal_info *x = dt_model_signal(a, i), *y = dt_model_signal(b, i);
        assert_string_equal(x->id, y->id);
        assert_int_equal(x->asset, y->asset);
        assert_int_equal(x->quantity, y->quantity);
        assert_string_equal(x->unit_symbol, y->unit_symbol);
        assert_int_equal(x->role, y->role);
        assert_int_equal(x->has_limits, y->has_limits);
        assert_true(x->min == y->min && x->max == y->max);
        assert_true(x->period == y->period);
        assert_true(x->noise_var == y->noise_var);
    }
}

static void test_round_trip(void **state)
{
    (void)state;
    dt_model_options o = quiet_opts();
    dt_model *m1 = NULL, *m2 = NULL, *m3 = NULL;
    assert_int_equal(dt_model_load_file(EXAMPLE, &o, &m1, NULL), 0);
    char *t1 = save_alloc(m1);
    assert_int_equal(dt_model_load_json(t1, strlen(t1), &o, &m2, NULL), 0);
    char *t2 = save_alloc(m2);
    assert_string_equal(t1, t2); /* saving is a fixed point */
    assert_models_equal(m1, m2);

    /* Through a file too. */
    char path[] = DTT_BINARY_DIR "/roundtrip.json";
    assert_int_equal(dt_model_save_file(m2, path), 0);
    assert_int_equal(dt_model_load_file(path, &o, &m3, NULL), 0);
    assert_models_equal(m1, m3);
    assert_int_equal(dt_model_save_file(m2, "/nonexistent-dir/x.json"), DT_EIO);
    free(t1);
    free(t2);
    dt_model_destroy(m1);
    dt_model_destroy(m2);
    dt_model_destroy(m3);
}

static void test_round_trip_keeps_sections(void **state)
{
    (void)state;
    const char *doc =
        "{\"dtwin\":1,\"name\":\"s\",\"assets\":[{\"id\":\"a\"}],\"signals\":[],"
        "\"loop\":{\"period\":0.01},\"estimator\":{\"kind\":\"kf\",\"x0\":[1,2.5]}}";
    dt_model *m = load_ok(doc);
    char *t = save_alloc(m);
    assert_non_null(strstr(t, "\"loop\""));
    assert_non_null(strstr(t, "2.5"));
    /* Order is kept: loop before estimator, both after signals. */
    assert_true(strstr(t, "\"signals\"") < strstr(t, "\"loop\""));
    assert_true(strstr(t, "\"loop\"") < strstr(t, "\"estimator\""));
    dt_model *m2 = load_ok(t);
    char *t2 = save_alloc(m2);
    assert_string_equal(t, t2);
    free(t);
    free(t2);
    dt_model_destroy(m);
    dt_model_destroy(m2);
}

/* A kept section is saved with its numbers exact: as cJSON prints them where
 * that reads back to the same double, else with 17 digits (cJSON's 15 read
 * back within a few ulps), and -0 keeps its sign. */
static void test_save_sections_exact(void **state)
{
    (void)state;
    const char *doc = "{\"dtwin\":1,\"name\":\"s\",\"assets\":[],\"signals\":[],"
                      "\"analytics\":{\"a\":[0.005000000000000001,-0.0,20,0.1,1e300]}}";
    dt_model *m = load_ok(doc);
    char *t = save_alloc(m);
    assert_non_null(strstr(t, "[0.005000000000000001, -0, 20, 0.1, 1e+300]"));
    dt_model *m2 = load_ok(t);
    char *t2 = save_alloc(m2);
    assert_string_equal(t, t2);
    free(t);
    free(t2);
    dt_model_destroy(m);
    dt_model_destroy(m2);
}

/* "$schema" (where an editor finds the JSON Schema) is accepted and ignored:
 * the model is the same as without it, and saving does not write it. */
static void test_schema_key_ignored(void **state)
{
    (void)state;
    const char *with =
        "{\"$schema\":\"../docs/schema/dtwin.schema.json\",\"dtwin\":1,\"name\":\"s\","
        "\"assets\":[{\"id\":\"a\"}],\"signals\":[]}";
    const char *without = "{\"dtwin\":1,\"name\":\"s\",\"assets\":[{\"id\":\"a\"}],\"signals\":[]}";
    dt_model *m1 = load_ok(with), *m2 = load_ok(without);
    char *t1 = save_alloc(m1), *t2 = save_alloc(m2);
    assert_string_equal(t1, t2);
    assert_null(strstr(t1, "$schema"));
    free(t1);
    free(t2);
    dt_model_destroy(m1);
    dt_model_destroy(m2);
}

/* ---- malformed descriptions: each must fail with its own message ---- */

#define HEAD "{\"dtwin\":1,\"name\":\"t\","
#define A1 "\"assets\":[{\"id\":\"a\"}],"
#define SIG(body) "\"signals\":[{\"id\":\"s\",\"asset\":\"a\",\"quantity\":\"voltage\",\"unit\":\"V\",\"role\":\"measured\"" body "}]}"
#define GOOD_SIG "{\"id\":\"s\",\"asset\":\"a\",\"quantity\":\"voltage\",\"unit\":\"V\",\"role\":\"measured\"}"

typedef struct bad_case {
    const char *doc;
    int code;
    const char *message; /* exact expected text */
} bad_case;

static const bad_case bad_cases[] = {
    /* 1 */ {"{\"dtwin\":1,\"name\":\"t\",\"assets\":[", DT_EPARSE,
             "JSON syntax error: unexpected end of input (truncated?) at line 1, column 33"},
    /* 2 */ {"{\"dtwin\":1,\"name\":\"t\xff\"}", DT_EPARSE,
             "invalid UTF-8 at line 1, column 21 (byte 20)"},
    /* 3 */ {"{\"dtwin\":1,\"name\":\"\xC0\xAF\"}", DT_EPARSE,
             "invalid UTF-8 at line 1, column 20 (byte 19)"},
    /* 4 */ {"[1,2]", DT_EPARSE, "expected an object, got an array"},
    /* 5 */ {"", DT_EPARSE, "empty document"},
    /* 6 */ {"{\"name\":\"t\",\"assets\":[],\"signals\":[]}", DT_EPARSE,
             "dtwin: missing (required number)"},
    /* 7 */ {"{\"dtwin\":2,\"name\":\"t\",\"assets\":[],\"signals\":[]}", DT_EPARSE,
             "dtwin: unsupported schema version 2 (this library reads 1)"},
    /* 8 */ {"{\"dtwin\":1,\"name\":7,\"assets\":[],\"signals\":[]}", DT_EPARSE,
             "name: expected a string, got a number"},
    /* 9 */ {HEAD "\"signals\":[]}", DT_EPARSE, "assets: missing (required array)"},
    /* 10 */ {HEAD "\"assets\":{},\"signals\":[]}", DT_EPARSE,
              "assets: expected an array, got an object"},
    /* 11 */ {HEAD "\"assets\":[5],\"signals\":[]}", DT_EPARSE,
              "assets[0]: expected an object, got a number"},
    /* 12 */ {HEAD "\"assets\":[{\"name\":\"x\"}],\"signals\":[]}", DT_EPARSE,
              "assets[0].id: missing (required string)"},
    /* 13 */ {HEAD "\"assets\":[{\"id\":\"9lives\"}],\"signals\":[]}", DT_EPARSE,
              "assets[0].id: invalid id \"9lives\" (letters, digits, '_', '.', ':', '-'; starting with a letter or '_')"},
    /* 14 */ {HEAD "\"assets\":[{\"id\":\"a\"},{\"id\":\"b\"},{\"id\":\"a\"}],\"signals\":[]}",
              DT_EPARSE, "assets[2].id: duplicate id \"a\" (first at assets[0])"},
    /* 15 */ {HEAD "\"assets\":[{\"id\":\"a\",\"parent\":\"zz\"}],\"signals\":[]}", DT_EPARSE,
              "assets[0].parent: unknown asset \"zz\""},
    /* 16 */ {HEAD "\"assets\":[{\"id\":\"a\",\"parent\":\"b\"},{\"id\":\"b\",\"parent\":\"c\"},"
              "{\"id\":\"c\",\"parent\":\"a\"}],\"signals\":[]}",
              DT_EPARSE, "assets[0].parent: parent cycle: \"a\" is its own ancestor"},
    /* 17 */ {HEAD "\"assets\":[{\"id\":\"a\",\"parent\":\"a\"}],\"signals\":[]}", DT_EPARSE,
              "assets[0].parent: parent cycle: \"a\" is its own ancestor"},
    /* 18 */ {HEAD "\"assets\":[{\"id\":\"a\",\"colour\":\"red\"}],\"signals\":[]}", DT_EPARSE,
              "assets[0].colour: unknown key \"colour\""},
    /* 19 */ {HEAD "\"assets\":[{\"id\":\"a\",\"id\":\"b\"}],\"signals\":[]}", DT_EPARSE,
              "assets[0].id: duplicate key"},
    /* 20 */ {HEAD "\"assets\":[{\"id\":\"a\",\"semanticId\":\"not an id\"}],\"signals\":[]}",
              DT_EPARSE, "assets[0].semanticId: \"not an id\" is neither an IRI (scheme:...) nor an IRDI (e.g. 0173-1#02-AAO677#002)"},
    /* 21 */ {HEAD A1 "\"signals\":[" GOOD_SIG ",{\"id\":\"v\",\"asset\":\"a\",\"quantity\":\"voltage\",\"unit\":\"kVv\",\"role\":\"measured\"}]}",
              DT_EUNIT, "signals[1].unit: unknown unit \"kVv\" (did you mean \"kV\"?)"},
    /* 22 */ {HEAD A1 "\"signals\":[{\"id\":\"s\",\"asset\":\"a\",\"quantity\":\"voltage\",\"unit\":\"A\",\"role\":\"measured\"}]}",
              DT_EUNIT, "signals[0].unit: unit \"A\" measures current, not voltage (dimensionally incompatible)"},
    /* 23 */ {HEAD A1 "\"signals\":[{\"id\":\"s\",\"asset\":\"a\",\"quantity\":\"voltige\",\"unit\":\"V\",\"role\":\"measured\"}]}",
              DT_EPARSE, "signals[0].quantity: unknown quantity \"voltige\" (see docs/model.md)"},
    /* 24 */ {HEAD A1 "\"signals\":[{\"id\":\"s\",\"asset\":\"a\",\"quantity\":\"voltage\",\"unit\":\"V\",\"role\":\"sensed\"}]}",
              DT_EPARSE, "signals[0].role: unknown role \"sensed\" (measured, estimated, commanded, parameter)"},
    /* 25 */ {HEAD A1 "\"signals\":[{\"id\":\"s\",\"asset\":\"b\",\"quantity\":\"voltage\",\"unit\":\"V\",\"role\":\"measured\"}]}",
              DT_EPARSE, "signals[0].asset: unknown asset \"b\""},
    /* 26 */ {HEAD A1 "\"signals\":[" GOOD_SIG "," GOOD_SIG "]}", DT_EPARSE,
              "signals[1].id: duplicate id \"s\" (first at signals[0])"},
    /* 27 */ {HEAD A1 SIG(",\"limits\":{\"min\":5,\"max\":2}"), DT_EPARSE,
              "signals[0].limits: min (5) > max (2)"},
    /* 28 */ {HEAD A1 SIG(",\"limits\":{}"), DT_EPARSE, "signals[0].limits: give min, max or both"},
    /* 29 */ {HEAD A1 SIG(",\"limits\":{\"min\":\"0\"}"), DT_EPARSE,
              "signals[0].limits.min: expected a number, got a string"},
    /* 30 */ {HEAD A1 SIG(",\"limits\":{\"max\":1e999}"), DT_EPARSE,
              "signals[0].limits.max: number out of range (not finite)"},
    /* 31 */ {HEAD A1 SIG(",\"noise\":{\"std\":-0.1}"), DT_EPARSE,
              "signals[0].noise.std: must be >= 0, got -0.1"},
    /* 32 */ {HEAD A1 SIG(",\"noise\":{\"std\":1,\"variance\":1}"), DT_EPARSE,
              "signals[0].noise: give exactly one of std or variance"},
    /* 33 */ {HEAD A1 SIG(",\"noise\":{\"variance\":-2}"), DT_EPARSE,
              "signals[0].noise.variance: must be >= 0, got -2"},
    /* 34 */ {HEAD A1 SIG(",\"period\":0"), DT_EPARSE,
              "signals[0].period: must be a positive number of seconds (>= 1 ns), got 0"},
    /* 35 */ {HEAD A1 SIG(",\"period\":true"), DT_EPARSE,
              "signals[0].period: expected a number, got a boolean"},
    /* 36 */ {HEAD A1 SIG(",\"unti\":\"V\""), DT_EPARSE, "signals[0].unti: unknown key \"unti\""},
    /* 37 */ {HEAD A1 "\"signals\":[{\"id\":\"s\",\"asset\":\"a\",\"quantity\":\"voltage\",\"role\":\"measured\"}]}",
              DT_EPARSE, "signals[0].unit: missing (required string)"},
    /* 38 */ {HEAD A1 "\"signals\":[]} trailing", DT_EPARSE,
              "unexpected text after the JSON document at line 1, column 59"},
    /* 39 */ {HEAD A1 "\"signals\":[],\"sensors\":[]}", DT_EPARSE, "sensors: unknown key \"sensors\""},
    /* 40 */ {"{\"dtwin\":1,,}", DT_EPARSE,
              "JSON syntax error at line 1, column 13: a trailing comma before this bracket"},
    /* 41 */ {HEAD A1 SIG(",\"noise\":0.1"), DT_EPARSE,
              "signals[0].noise: expected an object, got a number"},
    /* numbers that cannot be right, each with its path and its value */
    /* 42 */ {"{\"dtwin\":1.0000000000000002,\"name\":\"t\",\"assets\":[],\"signals\":[]}", DT_EPARSE,
              "dtwin: unsupported schema version 1.0000000000000002 (this library reads 1)"},
    /* 43 */ {HEAD A1 SIG(",\"noise\":{\"std\":1e100}"), DT_EPARSE,
              "signals[0].noise.std: 1e+100 is too large (the variance must be <= 1e+150)"},
    /* 44 */ {HEAD A1 SIG(",\"noise\":{\"variance\":1e200}"), DT_EPARSE,
              "signals[0].noise.variance: 1e+200 is too large (the variance must be <= 1e+150)"},
    /* 45 */ {HEAD A1 SIG(",\"period\":1e20"), DT_EPARSE,
              "signals[0].period: longer than the clock's range (9.2e9 s), got 1e+20"},
    /* 46 */ {HEAD A1 SIG(",\"period\":1e-10"), DT_EPARSE,
              "signals[0].period: must be a positive number of seconds (>= 1 ns), got 1e-10"},
    /* 47 */ {HEAD A1 SIG(",\"limits\":{\"min\":1.0000000000000002,\"max\":1}"), DT_EPARSE,
              "signals[0].limits: min (1.0000000000000002) > max (1)"},
    /* 48 */ {HEAD A1 "\"signals\":[],\"estimator\":{\"A\":[[0,1e999]]}}", DT_EPARSE,
              "estimator.A[0][1]: number out of range (not finite)"},
    /* 49 */ {HEAD A1 "\"signals\":[],\"loop\":{\"period\":-1e999}}", DT_EPARSE,
              "loop.period: number out of range (not finite)"},
    /* 50 */ {HEAD A1 "\"signals\":[{\"id\":\"s\",\"asset\":\"a\",\"quantity\":\"temperature\",\"unit\":\"C\",\"role\":\"measured\"}]}",
              DT_EUNIT, "signals[0].unit: unknown unit \"C\" (did you mean \"degC\"?)"},
    /* 51 */ {HEAD A1 "\"signals\":[{\"id\":\"s\",\"asset\":\"a\",\"quantity\":\"active_power\",\"unit\":\"kw\",\"role\":\"measured\"}]}",
              DT_EUNIT, "signals[0].unit: unknown unit \"kw\" (did you mean \"kW\"?)"},
    /* 52 */ {HEAD A1 "\"signals\":[{\"id\":\"s\",\"asset\":\"a\",\"quantity\":\"length\",\"unit\":\"furlong\",\"role\":\"measured\"}]}",
              DT_EUNIT, "signals[0].unit: unknown unit \"furlong\" (docs/model.md lists the units)"},
    /* 53 */ {"{\"dtwin\":1,\"x\":NaN}", DT_EPARSE,
              "JSON syntax error at line 1, column 16: NaN and Infinity are not JSON numbers (write a "
              "number, or leave the key out)"},
    /* 54 */ {"{\"dtwin\":1, // v1\n}", DT_EPARSE,
              "JSON syntax error at line 1, column 14: comments are not JSON (put notes in a "
              "\"description\" string)"},
    /* 55 */ {"{\"dtwin\":1,\"name\":'a'}", DT_EPARSE,
              "JSON syntax error at line 1, column 19: strings take double quotes"},
    /* 56 */ {HEAD A1 "\"signals\":[],\"$schema\":1}", DT_EPARSE,
              "$schema: expected a string, got a number"},
    /* 57: a key given twice is read one way or the other by the layer that reads it */
    {HEAD A1 "\"signals\":[],\"dispatcher\":{\"safe\":{\"u\":0,\"v\":1,\"u\":4}}}", DT_EPARSE,
     "dispatcher.safe.u: duplicate key"},
    /* 58 */ {HEAD A1 "\"signals\":[],\"name\":\"again\"}", DT_EPARSE,
              "name: duplicate key"},
    /* 59 */ {HEAD A1 "\"signals\":[{\"id\":\"x\",\"asset\":\"a\",\"id\":\"y\"}]}", DT_EPARSE,
              "signals[0].id: duplicate key"},
};

static void test_malformed_descriptions(void **state)
{
    (void)state;
    size_t n = sizeof bad_cases / sizeof bad_cases[0];
    assert_true(n >= 25);
    for (size_t i = 0; i < n; i++) {
        dt_model_options o = quiet_opts();
        dt_model *m = (dt_model *)(uintptr_t)0x1; /* must stay untouched */
        dt_diag d;
        int rc = dt_model_load_json(bad_cases[i].doc, strlen(bad_cases[i].doc), &o,
                                    &m, &d);
        if (rc != bad_cases[i].code || strcmp(d.message, bad_cases[i].message) != 0)
            print_error("case %zu: got %s \"%s\"\n      wanted %s \"%s\"\n", i + 1,
                        dt_err_name(rc), d.message, dt_err_name(bad_cases[i].code),
                        bad_cases[i].message);
        assert_int_equal(rc, bad_cases[i].code);
        assert_int_equal(d.code, rc);
        assert_string_equal(d.message, bad_cases[i].message);
        assert_true(m == (dt_model *)(uintptr_t)0x1);
    }
}

static void test_paths_and_positions(void **state)
{
    (void)state;
    dt_model_options o = quiet_opts();
    dt_model *m = NULL;
    dt_diag d;
    const char *doc = HEAD A1 SIG(",\"limits\":{\"min\":5,\"max\":2}");
    assert_int_equal(dt_model_load_json(doc, strlen(doc), &o, &m, &d), DT_EPARSE);
    assert_string_equal(d.path, "signals[0].limits");
    const char *multi = "{\n  \"dtwin\": 1,\n  \"name\": oops\n}";
    assert_int_equal(dt_model_load_json(multi, strlen(multi), &o, &m, &d), DT_EPARSE);
    assert_int_equal(d.line, 3);
    assert_int_equal(d.column, 11);
    assert_string_equal(d.path, "");
}

static void test_limits_are_enforced(void **state)
{
    (void)state;
    dt_model_options o = quiet_opts();
    dt_model *m = NULL;
    dt_diag d;
    const char *doc = HEAD "\"assets\":[{\"id\":\"a\"},{\"id\":\"b\"},{\"id\":\"c\"}],\"signals\":[]}";
    o.limits.max_assets = 2;
    assert_int_equal(dt_model_load_json(doc, strlen(doc), &o, &m, &d), DT_ELIMIT);
    assert_string_equal(d.message, "assets: more than 2 entries");

    o = quiet_opts();
    o.limits.max_document_bytes = 10;
    assert_int_equal(dt_model_load_json(doc, strlen(doc), &o, &m, &d), DT_ELIMIT);
    assert_non_null(strstr(d.message, "exceeds the 10 byte limit"));

    o = quiet_opts();
    o.limits.max_string_bytes = 3;
    const char *longname = "{\"dtwin\":1,\"name\":\"toolong\",\"assets\":[],\"signals\":[]}";
    assert_int_equal(dt_model_load_json(longname, strlen(longname), &o, &m, &d), DT_ELIMIT);
    assert_string_equal(d.message, "name: longer than 3 bytes");

    o = quiet_opts();
    o.limits.max_depth = 3;
    const char *deep = HEAD A1 "\"signals\":[],\"loop\":{\"x\":[[[1]]]}}";
    assert_int_equal(dt_model_load_json(deep, strlen(deep), &o, &m, &d), DT_ELIMIT);
    assert_string_equal(d.message, "JSON nesting deeper than 3 levels");

    /* An asset tree deeper than the limit. */
    o.limits.max_depth = 2;
    const char *tree = HEAD "\"assets\":[{\"id\":\"a\"},{\"id\":\"b\",\"parent\":\"a\"},"
                            "{\"id\":\"c\",\"parent\":\"b\"},{\"id\":\"d\",\"parent\":\"c\"}],"
                            "\"signals\":[]}";
    assert_int_equal(dt_model_load_json(tree, strlen(tree), &o, &m, &d), DT_ELIMIT);
    assert_non_null(strstr(d.message, "deeper than 2 levels"));

    /* NUL inside the document; a single trailing NUL is accepted. */
    char withnul[] = "{\"dtwin\":1,\"name\":\"t\",\"assets\":[],\"signals\":[]}";
    assert_int_equal(dt_model_load_json(withnul, sizeof withnul, &o, &m, &d), 0);
    dt_model_destroy(m);
    withnul[5] = '\0';
    assert_int_equal(dt_model_load_json(withnul, sizeof withnul, &o, &m, &d), DT_EPARSE);
    assert_string_equal(d.message, "document contains a NUL byte at offset 5");

    assert_int_equal(dt_model_load_json(NULL, 3, &o, &m, &d), DT_EINVAL);
    assert_int_equal(dt_model_load_file("/nonexistent.json", &o, &m, &d), DT_EIO);
    assert_string_equal(d.message, "cannot open /nonexistent.json");
}

static void test_large_model_lookup(void **state)
{
    (void)state;
    /* 5000 signals: ids resolve through the sorted index. */
    enum { N = 5000 };
    size_t cap = 200 + (size_t)N * 100;
    char *doc = malloc(cap);
    assert_non_null(doc);
    size_t len = (size_t)snprintf(doc, cap, HEAD A1 "\"signals\":[");
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(doc + len, cap - len,
                                "%s{\"id\":\"s%d\",\"asset\":\"a\",\"quantity\":\"voltage\","
                                "\"unit\":\"kV\",\"role\":\"measured\"}",
                                i ? "," : "", (N - i) * 7919 % 100003);
    len += (size_t)snprintf(doc + len, cap - len, "]}");
    dt_model *m = load_ok(doc);
    for (int i = 0; i < N; i++) {
        char id[16];
        snprintf(id, sizeof id, "s%d", (N - i) * 7919 % 100003);
        dt_signal_id sid;
        assert_int_equal(dt_model_find_signal(m, id, &sid), 0);
        assert_int_equal(sid, i);
    }
    dt_model_destroy(m);
    free(doc);
}

/* UTF-8: valid 2-, 3- and 4-byte sequences load; each kind of invalid
 * sequence is refused at its byte. */
static void test_utf8_validation(void **state)
{
    (void)state;
    static const char head[] = "{\"dtwin\":1,\"name\":\"";
    static const char tail[] = "\",\"assets\":[{\"id\":\"p\"}],\"signals\":[]}";
    static const struct {
        const char *name;
        int ok;
    } cases[] = {
        {"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", 1}, /* é € 😀 */
        {"\xC0\x80", 0},                                   /* overlong lead */
        {"\xE0\x80\x80", 0},                               /* overlong 3-byte */
        {"\xED\xA0\x80", 0},                               /* surrogate U+D800 */
        {"\xF4\x90\x80\x80", 0},                           /* above U+10FFFF */
        {"\xF5\x80\x80\x80", 0},                           /* invalid lead */
        {"\x80", 0},                                       /* stray continuation */
        {"\xC3\x28", 0},                                   /* bad continuation */
        {"\xE2\x82", 0},                                   /* truncated (then '"') */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char doc[256];
        snprintf(doc, sizeof doc, "%s%s%s", head, cases[i].name, tail);
        dt_model_options o = DT_MODEL_OPTIONS_INIT;
        o.logger = dt_logger_silent();
        dt_model *m = NULL;
        dt_diag d;
        int rc = dt_model_load_json(doc, strlen(doc), &o, &m, &d);
        if (cases[i].ok) {
            if (rc)
                print_error("case %zu: %s\n", i, d.message);
            assert_int_equal(rc, 0);
            assert_string_equal(dt_model_name(m), cases[i].name);
            dt_model_destroy(m);
        } else {
            assert_int_equal(rc, DT_EPARSE);
            char want[96];
            snprintf(want, sizeof want, "invalid UTF-8 at line 1, column %zu (byte %zu)",
                     sizeof head, sizeof head - 1);
            if (strstr(d.message, want) == NULL)
                print_error("case %zu: \"%s\", wanted \"%s\"\n", i, d.message, want);
            assert_non_null(strstr(d.message, want));
        }
    }
    /* every status code has a name and a text; unknown ones say so */
    assert_string_equal(dt_err_name(DT_EUNSTABLE), "DT_EUNSTABLE");
    assert_string_equal(dt_err_name(-999), "DT_UNKNOWN");
    assert_non_null(dt_strerror(-999));
    assert_true(strlen(dt_strerror(DT_ENOMEM)) > 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_utf8_validation),
    cmocka_unit_test(test_units_parse_and_convert),
    cmocka_unit_test(test_load_example),
    cmocka_unit_test(test_round_trip),
    cmocka_unit_test(test_round_trip_keeps_sections),
    cmocka_unit_test(test_save_sections_exact),
    cmocka_unit_test(test_schema_key_ignored),
    cmocka_unit_test(test_malformed_descriptions),
    cmocka_unit_test(test_paths_and_positions),
    cmocka_unit_test(test_limits_are_enforced),
    cmocka_unit_test(test_large_model_lookup),
};

DTT_MAIN(tests)
