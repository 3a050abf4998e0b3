/* Text that a machine reads, written and read in a host's locale with a
 * decimal comma (a host that called setlocale(LC_ALL, "") under
 * LANG=de_DE.UTF-8): a saved description is the same valid JSON as in the C
 * locale and loads back to the same numbers bit for bit; a CSV with
 * fractional cells replays to the same samples; csvlog writes the same rows;
 * numbers in messages keep their '.'. Each case runs in the C locale and in
 * the comma locale (tests/cmake/locale.cmake makes it; skipped without). */
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "test_util.h"

#include "comma_locale.h"
#include "dtwin/dtwin.h"

#ifndef DTT_BINARY_DIR
#define DTT_BINARY_DIR "."
#endif

static int same_double(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

/* ---- a description saved ---- */

static const char desc[] =
    "{\"dtwin\":1,\"name\":\"n\",\"assets\":[{\"id\":\"a\"}],\"signals\":["
    "{\"id\":\"s\",\"asset\":\"a\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","
    "\"limits\":{\"min\":-0.5,\"max\":0.005000000000000001},\"period\":0.30000000000000004,"
    "\"noise\":{\"std\":1.0000000000000002}},"
    "{\"id\":\"t\",\"asset\":\"a\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","
    "\"limits\":{\"min\":4.9406564584124654e-324,\"max\":1.7976931348623157e308},"
    "\"noise\":{\"variance\":0.125}}],"
    "\"latency\":0.25,\"analytics\":[1.5,-2.5e-7,123456789.00000001]}";

static dt_model *load(const char *text)
{
    dt_model_options o = DT_MODEL_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_model *m = NULL;
    dt_diag d;
    int rc = dt_model_load_json(text, strlen(text), &o, &m, &d);
    if (rc != DT_OK)
        fail_msg("load: %s\n%s", d.message, text);
    return m;
}

static char *save(const dt_model *m)
{
    size_t need = 0;
    assert_int_equal(dt_model_save_json(m, NULL, 0, &need), DT_EFULL);
    char *buf = malloc(need);
    assert_non_null(buf);
    assert_int_equal(dt_model_save_json(m, buf, need, NULL), DT_OK);
    return buf;
}

static void same_signals(const dt_model *a, const dt_model *b, const char *text)
{
    assert_int_equal(dt_model_signal_count(a), dt_model_signal_count(b));
    for (size_t i = 0; i < dt_model_signal_count(a); i++) {
        const dt_signal_info *x = dt_model_signal(a, (dt_signal_id)i);
        const dt_signal_info *y = dt_model_signal(b, (dt_signal_id)i);
        if (!same_double(x->min, y->min) || !same_double(x->max, y->max) ||
            !same_double(x->noise_var, y->noise_var) || x->period != y->period)
            fail_msg("signal %zu: min %a/%a max %a/%a noise %a/%a\n%s", i, x->min, y->min,
                     x->max, y->max, x->noise_var, y->noise_var, text);
    }
}

/* dt_model_save_json wrote "min": -0,5 here (printf's %g). */
static void description_saved(void **state)
{
    (void)state;
    dtt_comma_locale(); /* or skip, before anything is allocated */
    dtt_c_locale();
    dt_model *ref = load(desc);
    char *in_c = save(ref);
    dtt_comma_locale();
    dt_model *m = load(desc);
    same_signals(ref, m, desc);
    char *in_comma = save(m);
    /* the same text, byte for byte, as in the C locale */
    assert_string_equal(in_comma, in_c);
    assert_non_null(strstr(in_comma, "\"min\":\t-0.5,"));
    /* and it loads back, here and in the C locale, to the same numbers */
    dt_model *back = load(in_comma);
    same_signals(ref, back, in_comma);
    char *again = save(back);
    assert_string_equal(again, in_c);
    dtt_c_locale();
    cJSON *j = cJSON_Parse(in_comma); /* valid JSON where '.' is the point */
    assert_non_null(j);
    const cJSON *an = cJSON_GetObjectItem(j, "analytics");
    assert_true(cJSON_GetArrayItem(an, 1)->valuedouble == -2.5e-7);
    assert_true(cJSON_GetArrayItem(an, 2)->valuedouble == 123456789.00000001);
    assert_true(cJSON_GetObjectItem(j, "latency")->valuedouble == 0.25);
    cJSON_Delete(j);
    dt_model *back_c = load(in_comma);
    same_signals(ref, back_c, in_comma);
    free(in_c);
    free(in_comma);
    free(again);
    dt_model_destroy(ref);
    dt_model_destroy(m);
    dt_model_destroy(back);
    dt_model_destroy(back_c);
}

/* Numbers in messages (dt__num) keep their '.'. */
static void message_numbers(void **state)
{
    (void)state;
    dtt_comma_locale();
    static const char bad[] =
        "{\"dtwin\":1,\"name\":\"n\",\"assets\":[{\"id\":\"a\"}],\"signals\":["
        "{\"id\":\"s\",\"asset\":\"a\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":"
        "\"measured\",\"noise\":{\"variance\":-0.5}}]}";
    dt_model_options o = DT_MODEL_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_model *m = NULL;
    dt_diag d;
    assert_int_equal(dt_model_load_json(bad, strlen(bad), &o, &m, &d), DT_EPARSE);
    if (strstr(d.message, "-0.5") == NULL)
        fail_msg("%s", d.message);
    dtt_c_locale();
}

/* ---- CSV in, csvlog out ---- */

typedef struct replay {
    size_t n;
    dt_sample s[16];
    char log[512];
} replay;

static const char csv[] = "t,level_mm,temp\n"
                          "0.5,1.25,293.15\n"
                          "1.000000001,-0.000125,\"273.15\"\n"
                          "2.75,1e-3,\n"
                          "3,12345.678901234567,0.1\n"
                          "3.5,1,5\n";

/* The CSV replayed through a csv source into its ring; a csvlog sink beside
 * it writes one estimate row, read back into log. */
static void run_io(replay *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(DTT_BINARY_DIR "/locale_in.csv", "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(csv, 1, sizeof csv - 1, f), sizeof csv - 1);
    assert_int_equal(fclose(f), 0);
    static const char doc[] =
        "{\"dtwin\":1,\"name\":\"io\",\"assets\":[{\"id\":\"p\"}],\"signals\":["
        "{\"id\":\"level\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":"
        "\"measured\"},"
        "{\"id\":\"temp\",\"asset\":\"p\",\"quantity\":\"temperature\",\"unit\":\"K\",\"role\":"
        "\"measured\"}],"
        "\"sources\":[{\"id\":\"c\",\"kind\":\"csv\",\"file\":\"locale_in.csv\","
        "\"time_column\":\"t\",\"ring\":16,\"mapping\":["
        "{\"native\":\"level_mm\",\"signal\":\"level\",\"unit\":\"mm\"},"
        "{\"native\":\"temp\",\"signal\":\"temp\"}]}],"
        "\"sinks\":[{\"id\":\"log\",\"kind\":\"csvlog\",\"file\":\"locale_out.csv\","
        "\"flush_every\":1}]}";
    dt_model *model = load(doc);
    dt_ingest_config ic = DT_INGEST_CONFIG_INIT;
    ic.logger = dt_logger_silent();
    dt_ingest *ing = NULL;
    assert_int_equal(dt_ingest_create(model, &ic, &ing), DT_OK);
    dt_registry *reg = NULL;
    assert_int_equal(dt_registry_create(NULL, &reg), DT_OK);
    dt_io *io = NULL;
    dt_diag d;
    int rc = dt_io_create(model, ing, reg, DTT_BINARY_DIR, NULL, dt_logger_silent(), &io, &d);
    if (rc != DT_OK)
        fail_msg("io: %s", d.message);
    assert_int_equal(dt_ingest_start(ing, 0), DT_OK);
    for (int k = 0; k < 100 && dt_io_source_events(io, 0, DT_EV_END) == 0; k++)
        assert_int_equal(dt_io_poll(io, (dt_time)k * DT_NS_PER_S), DT_OK);
    assert_int_equal(dt_io_source_events(io, 0, DT_EV_MALFORMED), 0);
    out->n = dt_ring_drain(dt_ingest_ring(ing, 0), out->s, 16);
    dt_signal_id lvl;
    assert_int_equal(dt_model_find_signal(model, "level", &lvl), DT_OK);
    assert_int_equal(dt_csvlog_estimate(io, 0, 1500000001, lvl, 0.1 + 0.2, 1e-3), DT_OK);
    dt_io_destroy(io);
    f = fopen(DTT_BINARY_DIR "/locale_out.csv", "rb");
    assert_non_null(f);
    size_t len = fread(out->log, 1, sizeof out->log - 1, f);
    fclose(f);
    out->log[len] = '\0';
    dt_registry_destroy(reg);
    dt_ingest_destroy(ing);
    dt_model_destroy(model);
}

/* dt__csv_parse_double read "1.25" as 1 there (strtod). */
static void csv_replayed(void **state)
{
    (void)state;
    replay c, comma;
    dtt_comma_locale(); /* or skip */
    dtt_c_locale();
    run_io(&c);
    dtt_comma_locale();
    run_io(&comma);
    dtt_c_locale();
    assert_int_equal(c.n, 9);
    assert_int_equal(comma.n, c.n);
    for (size_t i = 0; i < c.n; i++) {
        if (c.s[i].signal != comma.s[i].signal || c.s[i].t_source != comma.s[i].t_source ||
            !same_double(c.s[i].value, comma.s[i].value))
            fail_msg("sample %zu: signal %u/%u t %lld/%lld value %a/%a", i, c.s[i].signal,
                     comma.s[i].signal, (long long)c.s[i].t_source,
                     (long long)comma.s[i].t_source, c.s[i].value, comma.s[i].value);
    }
    /* the values themselves: level in mm to m, temp in K as written */
    static const struct {
        dt_time t;
        double v;
    } want[] = {{500000000, 1.25e-3},    {500000000, 293.15},  {1000000001, -0.000125e-3},
                {1000000001, 273.15},    {2750000000, 1e-6},   {3000000000, 12.345678901234567},
                {3000000000, 0.1},       {3500000000, 1e-3},   {3500000000, 5}};
    for (size_t i = 0; i < c.n; i++) {
        assert_true(c.s[i].t_source == want[i].t);
        assert_close(c.s[i].value, want[i].v, 1e-15, 0);
    }
}

/* csvlog wrote "1,500000001" into a comma-separated row (printf). */
static void csvlog_rows(void **state)
{
    (void)state;
    replay c, comma;
    dtt_comma_locale(); /* or skip */
    dtt_c_locale();
    run_io(&c);
    dtt_comma_locale();
    run_io(&comma);
    dtt_c_locale();
    assert_string_equal(comma.log, c.log);
    assert_non_null(strstr(c.log, "\n1.500000001,estimate,level,,0.30000000000000004,0.001,,\n"));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(description_saved),
    cmocka_unit_test(message_numbers),
    cmocka_unit_test(csv_replayed),
    cmocka_unit_test(csvlog_rows),
};

DTT_MAIN(tests)
