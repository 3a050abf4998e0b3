/* MQTT device payloads (src/desc/payload*.c): paths, number text, the time
 * encodings against independently known epoch values, the JSON scanner
 * against cJSON, templates, and rendering that reads back exactly. Every
 * payload is handed over in a heap block of exactly its length, so that
 * ASan sees any read past n. */
#include <locale.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "test_util.h"

#include "desc/payload.h"
#include "dtwin/dtwin.h"

/* ---- helpers ---- */

/* A copy of n bytes with nothing after them. */
static char *exact(const char *s, size_t n)
{
    char *p = malloc(n > 0 ? n : 1);
    assert_non_null(p);
    if (n > 0)
        memcpy(p, s, n);
    return p;
}

static int number_n(const char *s, size_t n, double *v)
{
    char *p = exact(s, n);
    int r = dt__payload_number(p, n, v);
    free(p);
    return r;
}
static int number(const char *s, double *v) { return number_n(s, strlen(s), v); }

static int tnum(const char *s, dt__payload_time_enc enc, int64_t *ns)
{
    char *p = exact(s, strlen(s));
    int r = dt__payload_time_number(p, strlen(s), enc, ns);
    free(p);
    return r;
}

static int rfc(const char *s, int64_t *ns)
{
    char *p = exact(s, strlen(s));
    int r = dt__payload_rfc3339(p, strlen(s), ns);
    free(p);
    return r;
}

#define assert_reason(got, want)                                                           \
    do {                                                                                   \
        int g_ = (got), w_ = (want);                                                       \
        if (g_ != w_) {                                                                    \
            print_error("reason %s, expected %s\n", dt__payload_reason_name(g_),            \
                        dt__payload_reason_name(w_));                                       \
            fail();                                                                        \
        }                                                                                  \
    } while (0)

static void spec_json(dt__payload_spec *sp, const char *value, const char *time,
                      dt__payload_time_enc enc)
{
    char err[256];
    memset(sp, 0, sizeof *sp);
    sp->format = DT__PAYLOAD_FMT_JSON;
    assert_int_equal(dt__payload_path_compile(value, &sp->value, err, sizeof err), 0);
    if (time != NULL) {
        sp->has_time = 1;
        sp->time_enc = enc;
        assert_int_equal(dt__payload_path_compile(time, &sp->time, err, sizeof err), 0);
    }
}

static int read_n(const dt__payload_spec *sp, const char *s, size_t n, dt__payload_value *v)
{
    char *p = exact(s, n);
    int r = dt__payload_read(sp, p, n, v);
    free(p);
    return r;
}
static int read_s(const dt__payload_spec *sp, const char *s, dt__payload_value *v)
{
    return read_n(sp, s, strlen(s), v);
}

/* The value at path in doc, read by the payload scanner: reason and value. */
static int json_at(const char *doc, const char *path, double *v)
{
    dt__payload_spec sp;
    spec_json(&sp, path, NULL, DT__PAYLOAD_TIME_S);
    sp.allow_bool = 1;
    dt__payload_value out;
    int r = read_s(&sp, doc, &out);
    if (r == DT__PAYLOAD_OK)
        *v = out.value;
    return r;
}

/* ---- reasons and names ---- */

static void reason_names(void **state)
{
    (void)state;
    for (int i = 0; i < DT__PAYLOAD_NREASONS; i++) {
        const char *n = dt__payload_reason_name(i);
        for (const char *c = n; *c; c++)
            assert_true((*c >= 'a' && *c <= 'z') || *c == '_');
        for (int j = 0; j < i; j++)
            assert_string_not_equal(n, dt__payload_reason_name(j));
        assert_true(strlen(dt__payload_reason_text(i)) > 5);
    }
    assert_string_equal(dt__payload_reason_name(DT__PAYLOAD_BAD_JSON), "bad_json");
    assert_string_equal(dt__payload_reason_name(DT__PAYLOAD_TIME_RANGE), "time_range");
    assert_string_equal(dt__payload_reason_name(-1), "unknown");
    assert_string_equal(dt__payload_reason_name(DT__PAYLOAD_NREASONS), "unknown");
    dt__payload_time_enc e;
    const char *names[] = {"s", "ms", "us", "ns", "rfc3339"};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(dt__payload_time_enc_parse(names[i], &e), 0);
        assert_int_equal(e, i);
        assert_string_equal(dt__payload_time_enc_name(e), names[i]);
    }
    assert_int_equal(dt__payload_time_enc_parse("sec", &e), -1);
    assert_int_equal(dt__payload_time_enc_parse(NULL, &e), -1);
    dt__payload_format f;
    assert_int_equal(dt__payload_format_parse("json", &f), 0);
    assert_int_equal(f, DT__PAYLOAD_FMT_JSON);
    assert_int_equal(dt__payload_format_parse("number", &f), 0);
    assert_int_equal(f, DT__PAYLOAD_FMT_NUMBER);
    assert_int_equal(dt__payload_format_parse("JSON", &f), -1);
}

/* ---- paths ---- */

static void path_ok(void **state)
{
    (void)state;
    dt__payload_path p;
    char err[256];
    assert_int_equal(dt__payload_path_compile("value", &p, err, sizeof err), 0);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.step[0].is_index, 0);
    assert_int_equal(p.step[0].key_len, 5);
    assert_memory_equal(p.keys + p.step[0].key_off, "value", 5);

    assert_int_equal(dt__payload_path_compile("readings[2].v", &p, err, sizeof err), 0);
    assert_int_equal(p.n, 3);
    assert_int_equal(p.step[1].is_index, 1);
    assert_int_equal(p.step[1].index, 2);
    assert_memory_equal(p.keys + p.step[2].key_off, "v", 1);

    assert_int_equal(dt__payload_path_compile("a.b[0][1]", &p, err, sizeof err), 0);
    assert_int_equal(p.n, 4);
    assert_int_equal(p.step[3].index, 1);

    assert_int_equal(dt__payload_path_compile("[\"key with.dots\"].v", &p, err, sizeof err), 0);
    assert_int_equal(p.n, 2);
    assert_int_equal(p.step[0].key_len, 13);
    assert_memory_equal(p.keys + p.step[0].key_off, "key with.dots", 13);

    assert_int_equal(dt__payload_path_compile("x[\"q\\\"b\\\\\"]", &p, err, sizeof err), 0);
    assert_int_equal(p.step[1].key_len, 4);
    assert_memory_equal(p.keys + p.step[1].key_off, "q\"b\\", 4);

    assert_int_equal(dt__payload_path_compile("[0]", &p, err, sizeof err), 0);
    assert_int_equal(p.n, 1);
    assert_int_equal(dt__payload_path_compile("[\"\"]", &p, err, sizeof err), 0);
    assert_int_equal(p.step[0].key_len, 0);
    assert_int_equal(dt__payload_path_compile("A-b_9.z", &p, err, sizeof err), 0);
    assert_int_equal(dt__payload_path_compile("a.b.c.d.e.f.g.h", &p, err, sizeof err), 0);
    assert_int_equal(p.n, 8);
    assert_int_equal(dt__payload_path_compile("a[999999999]", &p, err, sizeof err), 0);
    assert_int_equal(p.step[1].index, 999999999u);
    char longest[128];
    memset(longest, 'k', 127);
    longest[127] = '\0';
    assert_int_equal(dt__payload_path_compile(longest, &p, err, sizeof err), 0);
    assert_int_equal(p.step[0].key_len, 127);
}

static void path_refused(void **state)
{
    (void)state;
    static const struct {
        const char *spec, *msg;
    } cases[] = {
        {"", "path \"\": at character 1: empty"},
        {"a..b", "path \"a..b\": at character 3: a key after '.'"},
        {".a", "path \".a\": at character 1: a key (letters"},
        {"a.", "path \"a.\": at character 3: a key after '.'"},
        {"a b", "path \"a b\": at character 2: expected '.' or '['"},
        {"a[", "at character 3: an index (digits) or a quoted key"},
        {"a[x]", "at character 3: an index"},
        {"a[1", "at character 4: expected ']' after an index"},
        {"a[01]", "at character 3: an index with a leading zero"},
        {"a[-1]", "at character 3: an index"},
        {"a[1000000000]", "at character 12: an index over 999999999"},
        {"[\"x", "at character 4: unclosed quoted key"},
        {"[\"x\"", "at character 5: expected ']' after a quoted key"},
        {"[\"x\"].", "at character 7: a key after '.'"},
        {"[\"a\\b\"]", "at character 4: only \\\" and \\\\ escapes"},
        {"[\"a\tb\"]", "at character 4: a control character"},
        {"a.[0]", "at character 3: a key after '.'"},
        {"a.b.c.d.e.f.g.h.i", "at character 16: more than 8 steps"},
        {"a[0]b", "at character 5: expected '.' or '['"},
        {"a.b c", "at character 4: expected '.' or '['"},
        {"é", "at character 1: a key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dt__payload_path p;
        char err[256] = "";
        assert_int_equal(dt__payload_path_compile(cases[i].spec, &p, err, sizeof err), -1);
        if (strstr(err, cases[i].msg) == NULL) {
            print_error("\"%s\": got \"%s\", expected it to hold \"%s\"\n", cases[i].spec, err,
                        cases[i].msg);
            fail();
        }
    }
    char longer[129];
    memset(longer, 'k', 128);
    longer[128] = '\0';
    dt__payload_path p;
    char err[300];
    assert_int_equal(dt__payload_path_compile(longer, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "longer than 127 bytes"));
    assert_int_equal(dt__payload_path_compile(NULL, &p, err, sizeof err), -1);
    /* errn 0 and a small err: no write past it */
    assert_int_equal(dt__payload_path_compile("a..b", &p, NULL, 0), -1);
    char small[8];
    assert_int_equal(dt__payload_path_compile("a..b", &p, small, sizeof small), -1);
    assert_int_equal(strlen(small), sizeof small - 1);
}

/* ---- number text ---- */

static void number_accepted(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        double v;
    } cases[] = {
        {"21.5", 21.5},     {" 21.5\n", 21.5},  {"\t\r\n\v\f-3 ", -3.0}, {"+3", 3.0},
        {"5.", 5.0},        {".5", 0.5},        {"1e3", 1000.0},         {"1E-3", 0.001},
        {"007", 7.0},       {"0.1", 0.1},       {"1e+2", 100.0},         {"-0.0e5", 0.0},
        {"1e-400", 0.0},    {"4.9e-324", 4.9e-324},
        {"1.7976931348623157e308", 1.7976931348623157e308},
        {"2.2250738585072011e-308", 2.2250738585072011e-308},
        {"9007199254740993", 9007199254740992.0}, /* ties to even */
        {"0.30000000000000004", 0.30000000000000004},
        {"123456789012345678901234567890", 123456789012345678901234567890.0},
        {"1e-99999999999999999999", 0.0},
        {"0e99999999999999999999", 0.0},
        {"000000000000000000000000000000000000000000000000000000000000001", 1.0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double v = -99;
        int r = number(cases[i].text, &v);
        if (r != DT__PAYLOAD_OK || v != cases[i].v) {
            print_error("\"%s\": %s %.17g, expected %.17g\n", cases[i].text,
                        dt__payload_reason_name(r), v, cases[i].v);
            fail();
        }
    }
    double v;
    assert_reason(number("-0", &v), DT__PAYLOAD_OK);
    assert_true(v == 0.0 && signbit(v));
    /* exactly 64 bytes of text, with whitespace around it beyond 64 */
    char t64[80];
    memset(t64, '1', 64);
    memcpy(t64 + 64, "   \n", 5);
    assert_reason(number(t64, &v), DT__PAYLOAD_OK);
    assert_true(v == strtod("1111111111111111111111111111111111111111111111111111111111111111",
                            NULL));
}

static void number_refused(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int reason;
    } cases[] = {
        {"", DT__PAYLOAD_EMPTY},
        {"   ", DT__PAYLOAD_EMPTY},
        {"\t\r\n\v\f", DT__PAYLOAD_EMPTY},
        {"abc", DT__PAYLOAD_NOT_NUMBER},
        {"1.2.3", DT__PAYLOAD_NOT_NUMBER},
        {"1e", DT__PAYLOAD_NOT_NUMBER},
        {"1e+", DT__PAYLOAD_NOT_NUMBER},
        {".", DT__PAYLOAD_NOT_NUMBER},
        {"-", DT__PAYLOAD_NOT_NUMBER},
        {"+.e1", DT__PAYLOAD_NOT_NUMBER},
        {"0x10", DT__PAYLOAD_NOT_NUMBER},
        {"0x1p3", DT__PAYLOAD_NOT_NUMBER},
        {"1,5", DT__PAYLOAD_NOT_NUMBER},
        {"1 2", DT__PAYLOAD_NOT_NUMBER},
        {"--1", DT__PAYLOAD_NOT_NUMBER},
        {"+-1", DT__PAYLOAD_NOT_NUMBER},
        {"1_000", DT__PAYLOAD_NOT_NUMBER},
        {"21.5 degC", DT__PAYLOAD_NOT_NUMBER},
        {"\"21.5\"", DT__PAYLOAD_NOT_NUMBER},
        {"{\"v\":1}", DT__PAYLOAD_NOT_NUMBER},
        {"\xef\xbc\x91", DT__PAYLOAD_NOT_NUMBER}, /* a fullwidth digit one */
        {"\xff", DT__PAYLOAD_NOT_NUMBER},
        {"nan", DT__PAYLOAD_NOT_FINITE},
        {"NaN", DT__PAYLOAD_NOT_FINITE},
        {"-nan", DT__PAYLOAD_NOT_FINITE},
        {"inf", DT__PAYLOAD_NOT_FINITE},
        {"-Inf", DT__PAYLOAD_NOT_FINITE},
        {"+INFINITY", DT__PAYLOAD_NOT_FINITE},
        {"nan(1)", DT__PAYLOAD_NOT_NUMBER},
        {"infinit", DT__PAYLOAD_NOT_NUMBER},
        {"1e309", DT__PAYLOAD_NOT_FINITE},
        {"-1e400", DT__PAYLOAD_NOT_FINITE},
        {"1.7976931348623159e308", DT__PAYLOAD_NOT_FINITE},
        {"1e99999999999999999999", DT__PAYLOAD_NOT_FINITE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double v = 7;
        int r = number(cases[i].text, &v);
        if (r != cases[i].reason || v != 7) {
            print_error("\"%s\": %s, expected %s\n", cases[i].text, dt__payload_reason_name(r),
                        dt__payload_reason_name(cases[i].reason));
            fail();
        }
    }
    double v;
    char t65[66];
    memset(t65, '1', 65);
    t65[65] = '\0';
    assert_reason(number(t65, &v), DT__PAYLOAD_TOO_LONG);
    /* bytes, not a C string: a NUL is a byte like any other */
    assert_reason(number_n("1\0", 2, &v), DT__PAYLOAD_NOT_NUMBER);
    assert_reason(number_n("\0" "1", 2, &v), DT__PAYLOAD_NOT_NUMBER);
    assert_reason(number_n("12", 1, &v), DT__PAYLOAD_OK); /* n bytes, not to the NUL */
    assert_true(v == 1.0);
    assert_reason(number_n(NULL, 0, &v), DT__PAYLOAD_EMPTY);
}

/* A locale whose decimal point is ',' (generated for the test by localedef,
 * LOCPATH): strtod would read "21.5" as 21 there; the payload reader does
 * not, and the renderer still writes '.'. */
static void number_locale(void **state)
{
    (void)state;
    const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8"};
    const char *got = NULL;
    for (size_t i = 0; i < 4 && got == NULL; i++)
        got = setlocale(LC_NUMERIC, names[i]);
    if (got == NULL) {
        print_message("no locale with a decimal comma here: skipped\n");
        skip();
    }
    assert_true(strtod("21.5", NULL) == 21.0); /* the hazard is real */
    double v;
    assert_reason(number("21.5", &v), DT__PAYLOAD_OK);
    assert_true(v == 21.5);
    assert_reason(number("21,5", &v), DT__PAYLOAD_NOT_NUMBER);
    char buf[64];
    assert_int_equal(dt__payload_fmt_number(buf, sizeof buf, 21.5), 4);
    assert_string_equal(buf, "21.5");
    assert_int_equal(dt__payload_fmt_number(buf, sizeof buf, -1.25e-7), 9);
    assert_string_equal(buf, "-1.25e-07");
    assert_reason(json_at("{\"v\":0.125}", "v", &v), DT__PAYLOAD_OK);
    assert_true(v == 0.125);
    dt__payload_template tpl;
    char err[256];
    assert_int_equal(dt__payload_template_compile("{{\"v\":{value}}}", &tpl, err, sizeof err), 0);
    assert_int_equal(dt__payload_render(buf, sizeof buf, &tpl, 3.5, 0, 0), 9);
    assert_string_equal(buf, "{\"v\":3.5}");
    setlocale(LC_NUMERIC, "C");
}

/* ---- times ---- */

static void time_numbers(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        dt__payload_time_enc enc;
        int reason;
        int64_t ns;
    } cases[] = {
        {"1764633601.123456789", DT__PAYLOAD_TIME_S, 0, INT64_C(1764633601123456789)},
        {"1764633601123.456789", DT__PAYLOAD_TIME_MS, 0, INT64_C(1764633601123456789)},
        {"1764633601123456.789", DT__PAYLOAD_TIME_US, 0, INT64_C(1764633601123456789)},
        {"1764633601123456789", DT__PAYLOAD_TIME_NS, 0, INT64_C(1764633601123456789)},
        {"1.764633601123456789e9", DT__PAYLOAD_TIME_S, 0, INT64_C(1764633601123456789)},
        {"1764633601123456789e-9", DT__PAYLOAD_TIME_S, 0, INT64_C(1764633601123456789)},
        {"0", DT__PAYLOAD_TIME_S, 0, 0},
        {"-0", DT__PAYLOAD_TIME_S, 0, 0},
        {"-0.0e-5", DT__PAYLOAD_TIME_NS, 0, 0},
        {"-1.5", DT__PAYLOAD_TIME_S, 0, INT64_C(-1500000000)},
        {"1e-9", DT__PAYLOAD_TIME_S, 0, 1},
        /* sub-ns digits: nearest, ties away from zero */
        {"0.5", DT__PAYLOAD_TIME_NS, 0, 1},
        {"-0.5", DT__PAYLOAD_TIME_NS, 0, -1},
        {"1.5", DT__PAYLOAD_TIME_NS, 0, 2},
        {"2.5", DT__PAYLOAD_TIME_NS, 0, 3},
        {"2.4999999", DT__PAYLOAD_TIME_NS, 0, 2},
        {"0.49999", DT__PAYLOAD_TIME_NS, 0, 0},
        {"1e-10", DT__PAYLOAD_TIME_S, 0, 0},
        {"5e-10", DT__PAYLOAD_TIME_S, 0, 1},
        {"-5e-10", DT__PAYLOAD_TIME_S, 0, -1},
        {"0.0000000014999", DT__PAYLOAD_TIME_S, 0, 1},
        {"1e-300", DT__PAYLOAD_TIME_S, 0, 0},
        {"1e-99999999999999", DT__PAYLOAD_TIME_S, 0, 0},
        {"0e99999999999999", DT__PAYLOAD_TIME_S, 0, 0},
        /* the limit, 2^62 - 1 ns, either side */
        {"4611686018427387903", DT__PAYLOAD_TIME_NS, 0, DT_TIME_LIMIT},
        {"-4611686018427387903", DT__PAYLOAD_TIME_NS, 0, -DT_TIME_LIMIT},
        {"4611686018.427387903", DT__PAYLOAD_TIME_S, 0, DT_TIME_LIMIT},
        {"4611686018427387.9029", DT__PAYLOAD_TIME_US, 0, DT_TIME_LIMIT},
        {"4611686018427387904", DT__PAYLOAD_TIME_NS, DT__PAYLOAD_TIME_RANGE, 0},
        {"-4611686018427387904", DT__PAYLOAD_TIME_NS, DT__PAYLOAD_TIME_RANGE, 0},
        {"4611686018.4273879035", DT__PAYLOAD_TIME_S, DT__PAYLOAD_TIME_RANGE, 0},
        {"4611686018.4273879034", DT__PAYLOAD_TIME_S, 0, DT_TIME_LIMIT},
        {"9223372036854775807", DT__PAYLOAD_TIME_NS, DT__PAYLOAD_TIME_RANGE, 0},
        {"-9223372036854775808", DT__PAYLOAD_TIME_NS, DT__PAYLOAD_TIME_RANGE, 0},
        {"18446744073709551616", DT__PAYLOAD_TIME_NS, DT__PAYLOAD_TIME_RANGE, 0},
        {"99999999999999999999999", DT__PAYLOAD_TIME_NS, DT__PAYLOAD_TIME_RANGE, 0},
        {"9999999999999999999.4", DT__PAYLOAD_TIME_NS, DT__PAYLOAD_TIME_RANGE, 0},
        {"1e300", DT__PAYLOAD_TIME_S, DT__PAYLOAD_TIME_RANGE, 0},
        {"-1e300", DT__PAYLOAD_TIME_S, DT__PAYLOAD_TIME_RANGE, 0},
        {"1e99999999999999", DT__PAYLOAD_TIME_S, DT__PAYLOAD_TIME_RANGE, 0},
        {"4611687", DT__PAYLOAD_TIME_MS, 0, INT64_C(4611687000000)},
        {"4611686018428", DT__PAYLOAD_TIME_MS, DT__PAYLOAD_TIME_RANGE, 0},
        {"1e9", DT__PAYLOAD_TIME_S, 0, INT64_C(1000000000000000000)},
        {"1e10", DT__PAYLOAD_TIME_S, DT__PAYLOAD_TIME_RANGE, 0},
        {"abc", DT__PAYLOAD_TIME_S, DT__PAYLOAD_BAD_TIME, 0},
        {"", DT__PAYLOAD_TIME_S, DT__PAYLOAD_BAD_TIME, 0},
        {"1", DT__PAYLOAD_TIME_RFC3339, DT__PAYLOAD_BAD_TIME, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t ns = 12345;
        int r = tnum(cases[i].text, cases[i].enc, &ns);
        int64_t want = cases[i].reason == 0 ? cases[i].ns : 12345;
        if (r != cases[i].reason || ns != want) {
            print_error("\"%s\" (%s): %s %lld, expected %s %lld\n", cases[i].text,
                        dt__payload_time_enc_name(cases[i].enc), dt__payload_reason_name(r),
                        (long long)ns, dt__payload_reason_name(cases[i].reason),
                        (long long)want);
            fail();
        }
    }
    int64_t ns;
    char t64[65] = "0.";
    memset(t64 + 2, '0', 61);
    t64[63] = '1';
    t64[64] = '\0';
    assert_reason(tnum(t64, DT__PAYLOAD_TIME_NS, &ns), DT__PAYLOAD_OK);
    assert_int_equal(ns, 0);
    char t65[66];
    memset(t65, '1', 65);
    t65[65] = '\0';
    assert_reason(tnum(t65, DT__PAYLOAD_TIME_NS, &ns), DT__PAYLOAD_BAD_TIME);
}

/* Days from civil against independently known values, and day by day from
 * 1600-01-01 to 2400-12-31 against a plain counter. */
static void civil_days(void **state)
{
    (void)state;
    assert_int_equal(dt__payload_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(dt__payload_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(dt__payload_days_from_civil(2000, 3, 1), 11017); /* 951868800 s */
    assert_int_equal(dt__payload_days_from_civil(2038, 1, 19), 24855);
    assert_int_equal(dt__payload_days_from_civil(9999, 12, 31), 2932896);
    assert_int_equal(dt__payload_days_from_civil(1, 1, 1), -719162);
    assert_int_equal(dt__payload_days_from_civil(0, 3, 1), -719468);
    assert_int_equal(dt__payload_days_from_civil(2024, 2, 29) * 86400, 1709164800);
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t day = dt__payload_days_from_civil(1600, 1, 1);
    assert_int_equal(day, -135140);
    for (int y = 1600; y <= 2400; y++) {
        int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        for (int m = 1; m <= 12; m++) {
            int nd = mdays[m - 1] + (m == 2 && leap);
            for (int d = 1; d <= nd; d++, day++) {
                if (dt__payload_days_from_civil(y, m, d) != day) {
                    print_error("%04d-%02d-%02d\n", y, m, d);
                    fail();
                }
            }
        }
    }
}

static void rfc3339_values(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int reason;
        int64_t ns;
    } cases[] = {
        {"1970-01-01T00:00:00Z", 0, 0},
        {"1970-01-01t00:00:00z", 0, 0},
        {"1970-01-01T00:00:00-00:00", 0, 0},
        {"1970-01-01T01:00:00+01:00", 0, 0},
        {"1969-12-31T23:59:59.999999999Z", 0, -1},
        {"2000-03-01T00:00:00Z", 0, INT64_C(951868800000000000)},
        {"2038-01-19T03:14:08Z", 0, INT64_C(2147483648000000000)},
        {"2026-12-02T00:26:41.123456789Z", 0, INT64_C(1796171201123456789)},
        {"2026-12-02T01:26:41.123456789+01:00", 0, INT64_C(1796171201123456789)},
        {"2026-12-01T19:56:41.123456789-04:30", 0, INT64_C(1796171201123456789)},
        {"2026-12-02T00:26:41.1Z", 0, INT64_C(1796171201100000000)},
        {"2026-12-02T00:26:41.1234567894Z", 0, INT64_C(1796171201123456789)},
        {"2026-12-02T00:26:41.1234567895Z", 0, INT64_C(1796171201123456790)},
        {"2026-12-02T00:26:41.9999999999Z", 0, INT64_C(1796171202000000000)},
        {"2024-02-29T00:00:00Z", 0, INT64_C(1709164800000000000)},
        {"2000-02-29T12:00:00Z", 0, INT64_C(951825600000000000)},
        {"1900-03-01T00:00:00Z", 0, INT64_C(-2203891200000000000)},
        /* the limit, 2^62 - 1 ns: 2116-02-20T23:53:38.427387903Z and its negative */
        {"2116-02-20T23:53:38.427387903Z", 0, DT_TIME_LIMIT},
        {"2116-02-20T23:53:38.427387904Z", DT__PAYLOAD_TIME_RANGE, 0},
        {"1823-11-12T00:06:21.572612097Z", 0, -DT_TIME_LIMIT},
        {"1823-11-12T00:06:21.572612096Z", DT__PAYLOAD_TIME_RANGE, 0},
        {"9999-12-31T23:59:59Z", DT__PAYLOAD_TIME_RANGE, 0},
        {"0000-01-01T00:00:00Z", DT__PAYLOAD_TIME_RANGE, 0},
        /* refused fields */
        {"2023-02-29T00:00:00Z", DT__PAYLOAD_BAD_TIME, 0},
        {"1900-02-29T00:00:00Z", DT__PAYLOAD_BAD_TIME, 0},
        {"2024-02-30T00:00:00Z", DT__PAYLOAD_BAD_TIME, 0},
        {"2024-04-31T00:00:00Z", DT__PAYLOAD_BAD_TIME, 0},
        {"2024-13-01T00:00:00Z", DT__PAYLOAD_BAD_TIME, 0},
        {"2024-00-01T00:00:00Z", DT__PAYLOAD_BAD_TIME, 0},
        {"2024-01-00T00:00:00Z", DT__PAYLOAD_BAD_TIME, 0},
        {"2024-01-32T00:00:00Z", DT__PAYLOAD_BAD_TIME, 0},
        {"2024-01-01T24:00:00Z", DT__PAYLOAD_BAD_TIME, 0},
        {"2024-01-01T00:60:00Z", DT__PAYLOAD_BAD_TIME, 0},
        {"2016-12-31T23:59:60Z", DT__PAYLOAD_BAD_TIME, 0}, /* a real leap second */
        {"2024-01-01T00:00:00+24:00", DT__PAYLOAD_BAD_TIME, 0},
        {"2024-01-01T00:00:00+01:60", DT__PAYLOAD_BAD_TIME, 0},
        {"2024-01-01T00:00:00+0100", DT__PAYLOAD_BAD_TIME, 0},
        {"2024-01-01T00:00:00+01", DT__PAYLOAD_BAD_TIME, 0},
        {"2024-01-01T00:00:00", DT__PAYLOAD_BAD_TIME, 0},
        {"2024-01-01 00:00:00Z", DT__PAYLOAD_BAD_TIME, 0},
        {"2024-01-01T00:00:00.Z", DT__PAYLOAD_BAD_TIME, 0},
        {"2024-01-01T00:00:00,5Z", DT__PAYLOAD_BAD_TIME, 0},
        {"2024-01-01T00:00:00ZZ", DT__PAYLOAD_BAD_TIME, 0},
        {"2024-01-01T00:00:00Z ", DT__PAYLOAD_BAD_TIME, 0},
        {" 2024-01-01T00:00:00Z", DT__PAYLOAD_BAD_TIME, 0},
        {"2024-1-01T00:00:00Z", DT__PAYLOAD_BAD_TIME, 0},
        {"24-01-01T00:00:00Z", DT__PAYLOAD_BAD_TIME, 0},
        {"+2024-01-01T00:00:00Z", DT__PAYLOAD_BAD_TIME, 0},
        {"2024-01-01", DT__PAYLOAD_BAD_TIME, 0},
        {"", DT__PAYLOAD_BAD_TIME, 0},
        {"2024-01-01T00:00:0xZ", DT__PAYLOAD_BAD_TIME, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t ns = 777;
        int r = rfc(cases[i].text, &ns);
        int64_t want = cases[i].reason == 0 ? cases[i].ns : 777;
        if (r != cases[i].reason || ns != want) {
            print_error("\"%s\": %s %lld, expected %s %lld\n", cases[i].text,
                        dt__payload_reason_name(r), (long long)ns,
                        dt__payload_reason_name(cases[i].reason), (long long)want);
            fail();
        }
    }
    /* a NUL inside: the bytes, not the C string */
    int64_t ns;
    assert_reason(dt__payload_rfc3339("1970-01-01T00:00:00Z\0", 21, &ns), DT__PAYLOAD_BAD_TIME);
    /* every prefix of a valid time is refused, without reading past it */
    const char *full = "2026-12-02T01:26:41.123+01:00";
    for (size_t n = 0; n < strlen(full); n++) {
        char *p = exact(full, n);
        int r = dt__payload_rfc3339(p, n, &ns);
        free(p);
        assert_int_not_equal(r, DT__PAYLOAD_OK);
    }
}

static void time_formats(void **state)
{
    (void)state;
    char buf[64];
    assert_int_equal(dt__payload_fmt_rfc3339(buf, sizeof buf, 0), 30);
    assert_string_equal(buf, "1970-01-01T00:00:00.000000000Z");
    dt__payload_fmt_rfc3339(buf, sizeof buf, -1);
    assert_string_equal(buf, "1969-12-31T23:59:59.999999999Z");
    dt__payload_fmt_rfc3339(buf, sizeof buf, INT64_C(1796171201123456789));
    assert_string_equal(buf, "2026-12-02T00:26:41.123456789Z");
    dt__payload_fmt_rfc3339(buf, sizeof buf, INT64_MAX);
    assert_string_equal(buf, "2262-04-11T23:47:16.854775807Z");
    dt__payload_fmt_rfc3339(buf, sizeof buf, INT64_MIN);
    assert_string_equal(buf, "1677-09-21T00:12:43.145224192Z");
    assert_int_equal(dt__payload_fmt_rfc3339(buf, 30, 0), 0);
    assert_int_equal(dt__payload_fmt_rfc3339(buf, 31, 0), 30);

    assert_int_equal(dt__payload_fmt_seconds(buf, sizeof buf, 0), 1);
    assert_string_equal(buf, "0");
    dt__payload_fmt_seconds(buf, sizeof buf, INT64_C(1764633601500000000));
    assert_string_equal(buf, "1764633601.5");
    dt__payload_fmt_seconds(buf, sizeof buf, -1);
    assert_string_equal(buf, "-0.000000001");
    dt__payload_fmt_seconds(buf, sizeof buf, INT64_C(-12000000000));
    assert_string_equal(buf, "-12");
    dt__payload_fmt_seconds(buf, sizeof buf, INT64_MIN);
    assert_string_equal(buf, "-9223372036.854775808");
    dt__payload_fmt_seconds(buf, sizeof buf, INT64_MAX);
    assert_string_equal(buf, "9223372036.854775807");
    assert_int_equal(dt__payload_fmt_seconds(buf, DT__PAYLOAD_RENDER_NUM - 1, 0), 0);

    /* within the limit every time reads back exactly, in both forms */
    const int64_t ts[] = {0, 1, -1, 999999999, -1000000001, INT64_C(1796171201123456789),
                          DT_TIME_LIMIT, -DT_TIME_LIMIT, INT64_C(-86400000000000)};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        int64_t back = 0;
        size_t n = dt__payload_fmt_rfc3339(buf, sizeof buf, ts[i]);
        assert_reason(dt__payload_rfc3339(buf, n, &back), DT__PAYLOAD_OK);
        assert_int_equal(back, ts[i]);
        n = dt__payload_fmt_seconds(buf, sizeof buf, ts[i]);
        assert_reason(dt__payload_time_number(buf, n, DT__PAYLOAD_TIME_S, &back), DT__PAYLOAD_OK);
        assert_int_equal(back, ts[i]);
    }
}

/* ---- numbers rendered ---- */

static void number_format(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *text;
    } cases[] = {
        {21.5, "21.5"},
        {0.1, "0.1"},
        {-0.0, "-0"},
        {0.0, "0"},
        {1e300, "1e+300"},
        {-1.25e-7, "-1.25e-07"},
        {1e16, "1e+16"}, /* as %.15g, the digits that suffice */
        {1e14, "100000000000000"},
        {1e17, "1e+17"},
        {0.0001, "0.0001"},
        {0.00001, "1e-05"},
        {0.30000000000000004, "0.30000000000000004"},
        {123456789012345680000.0, "1.2345678901234568e+20"},
        {4.9406564584124654e-324, "4.94065645841247e-324"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
        {-2.2250738585072014e-308, "-2.2250738585072014e-308"},
        {9007199254740993.0, "9007199254740992"},
        {100.0, "100"},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = dt__payload_fmt_number(buf, sizeof buf, cases[i].v);
        if (n != strlen(cases[i].text) || strcmp(buf, cases[i].text) != 0) {
            print_error("%.17g: \"%s\", expected \"%s\"\n", cases[i].v, buf, cases[i].text);
            fail();
        }
    }
    assert_int_equal(dt__payload_fmt_number(buf, sizeof buf, NAN), 0);
    assert_int_equal(dt__payload_fmt_number(buf, sizeof buf, INFINITY), 0);
    assert_int_equal(dt__payload_fmt_number(buf, sizeof buf, -INFINITY), 0);
    assert_int_equal(dt__payload_fmt_number(buf, DT__PAYLOAD_RENDER_NUM - 1, 1.0), 0);

    /* against printf in the C locale: the smallest of %.15g, %.16g, %.17g
     * that reads back; and it reads back through the payload reader */
    uint64_t x = 0x9E3779B97F4A7C15u;
    for (int i = 0; i < 60000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v;
        memcpy(&v, &x, sizeof v);
        if (!isfinite(v))
            continue;
        if (i % 2)
            v = (double)(int64_t)(x >> 20) / 1024.0; /* sensor-like values too */
        char ref[64];
        for (int p = 15; p <= 17; p++) {
            snprintf(ref, sizeof ref, "%.*g", p, v);
            if (strtod(ref, NULL) == v)
                break;
        }
        size_t n = dt__payload_fmt_number(buf, sizeof buf, v);
        if (strcmp(buf, ref) != 0) {
            print_error("%a: \"%s\", printf \"%s\"\n", v, buf, ref);
            fail();
        }
        double back;
        assert_reason(dt__payload_number(buf, n, &back), DT__PAYLOAD_OK);
        assert_memory_equal(&back, &v, sizeof v);
    }
}

/* ---- JSON payloads ---- */

static void json_paths(void **state)
{
    (void)state;
    static const struct {
        const char *doc, *path;
        int reason;
        double v;
    } cases[] = {
        {"{\"value\":21.5}", "value", 0, 21.5},
        {" \n{ \"value\" : -3e2 } \r\n", "value", 0, -300},
        {"{\"data\":{\"temp\":20.25,\"hum\":40}}", "data.temp", 0, 20.25},
        {"{\"data\":{\"hum\":40,\"temp\":20.25}}", "data.temp", 0, 20.25},
        {"{\"readings\":[{\"v\":1},{\"v\":2},{\"v\":3}]}", "readings[2].v", 0, 3},
        {"{\"readings\":[{\"v\":1},{\"v\":2},{\"v\":3}]}", "readings[0].v", 0, 1},
        {"{\"a\":{\"b\":[[1,2],[3,4]]}}", "a.b[0][1]", 0, 2},
        {"{\"a\":{\"b\":[[1,2],[3,4]]}}", "a.b[1][0]", 0, 3},
        {"[10,[20,{\"x\":30}]]", "[1][1].x", 0, 30},
        {"[5]", "[0]", 0, 5},
        {"{\"key with.dots\":{\"v\":7}}", "[\"key with.dots\"].v", 0, 7},
        {"{\"key\":{\"with\":{\"dots\":1}},\"key.with.dots\":2}", "[\"key.with.dots\"]", 0, 2},
        {"{\"key\":{\"with\":{\"dots\":1}},\"key.with.dots\":2}", "key.with.dots", 0, 1},
        {"{\"q\\\"b\":8}", "[\"q\\\"b\"]", 0, 8},
        {"{\"\":9}", "[\"\"]", 0, 9},
        /* escapes in the document's keys are decoded before comparing */
        {"{\"\\u0074emp\":11}", "temp", 0, 11},
        {"{\"t\\/x\":12}", "[\"t/x\"]", 0, 12},
        {"{\"\\u00e9t\\u00e9\":13}", "[\"\xc3\xa9t\xc3\xa9\"]", 0, 13},
        {"{\"\\ud83d\\ude00\":14}", "[\"\xf0\x9f\x98\x80\"]", 0, 14},
        {"{\"Temp\":1,\"temp\":2}", "temp", 0, 2}, /* case-sensitive */
        /* duplicate keys: the first wins, as cJSON_GetObjectItemCaseSensitive */
        {"{\"v\":1,\"v\":2}", "v", 0, 1},
        {"{\"v\":\"x\",\"v\":2}", "v", DT__PAYLOAD_VALUE_NOT_NUMBER, 0},
        {"{\"a\":{\"x\":1},\"a\":{\"b\":2}}", "a.b", DT__PAYLOAD_NO_VALUE, 0},
        {"{\"a\":{\"b\":1},\"a\":{\"b\":2}}", "a.b", 0, 1},
        {"{\"a\":5,\"a\":{\"b\":2}}", "a.b", DT__PAYLOAD_NO_VALUE, 0},
        /* a same-named key deeper, or in a sibling, is not the path */
        {"{\"x\":{\"v\":1},\"v\":2}", "v", 0, 2},
        {"{\"x\":{\"v\":1}}", "v", DT__PAYLOAD_NO_VALUE, 0},
        {"[[1],[2]]", "[1]", DT__PAYLOAD_VALUE_NOT_NUMBER, 0},
        {"[[1],[2]]", "[1][0]", 0, 2},
        {"[1,[2,3]]", "[1][1]", 0, 3},
        /* not found */
        {"{\"value\":1}", "val", DT__PAYLOAD_NO_VALUE, 0},
        {"{\"value\":1}", "valuex", DT__PAYLOAD_NO_VALUE, 0},
        {"{\"readings\":[1,2]}", "readings[2]", DT__PAYLOAD_NO_VALUE, 0},
        {"{\"a\":1}", "a.b", DT__PAYLOAD_NO_VALUE, 0},
        {"{\"a\":[1]}", "a.b", DT__PAYLOAD_NO_VALUE, 0},
        {"{\"a\":{\"0\":1}}", "a[0]", DT__PAYLOAD_NO_VALUE, 0},
        {"[1]", "a", DT__PAYLOAD_NO_VALUE, 0},
        {"21.5", "value", DT__PAYLOAD_NO_VALUE, 0},
        {"\"value\"", "value", DT__PAYLOAD_NO_VALUE, 0},
        {"{}", "value", DT__PAYLOAD_NO_VALUE, 0},
        {"[]", "[0]", DT__PAYLOAD_NO_VALUE, 0},
        /* found, not a number */
        {"{\"value\":\"21.5\"}", "value", DT__PAYLOAD_VALUE_NOT_NUMBER, 0},
        {"{\"value\":null}", "value", DT__PAYLOAD_VALUE_NOT_NUMBER, 0},
        {"{\"value\":{}}", "value", DT__PAYLOAD_VALUE_NOT_NUMBER, 0},
        {"{\"value\":[1]}", "value", DT__PAYLOAD_VALUE_NOT_NUMBER, 0},
        /* booleans, allowed here */
        {"{\"on\":true}", "on", 0, 1},
        {"{\"on\":false}", "on", 0, 0},
        /* numbers at the edges */
        {"{\"v\":1e999}", "v", DT__PAYLOAD_NOT_FINITE, 0},
        {"{\"v\":-1e999}", "v", DT__PAYLOAD_NOT_FINITE, 0},
        {"{\"v\":1e-999}", "v", 0, 0},
        {"{\"v\":-0}", "v", 0, 0},
        {"{\"v\":0.1}", "v", 0, 0.1},
        {"{\"v\":9007199254740993}", "v", 0, 9007199254740992.0},
        {"{\"v\":1234567890123456789012345678901234567890123456789012345678901234}", "v", 0,
         1234567890123456789012345678901234567890123456789012345678901234.0},
        {"{\"v\":12345678901234567890123456789012345678901234567890123456789012345}", "v",
         DT__PAYLOAD_TOO_LONG, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double v = -77;
        int r = json_at(cases[i].doc, cases[i].path, &v);
        double want = cases[i].reason == 0 ? cases[i].v : -77;
        if (r != cases[i].reason || v != want) {
            print_error("%s at %s: %s %.17g, expected %s %.17g\n", cases[i].doc, cases[i].path,
                        dt__payload_reason_name(r), v, dt__payload_reason_name(cases[i].reason),
                        want);
            fail();
        }
    }
    double v;
    assert_reason(json_at("{\"v\":-0}", "v", &v), DT__PAYLOAD_OK);
    assert_true(signbit(v));
    /* booleans refused unless the spec allows them */
    dt__payload_spec sp;
    dt__payload_value out;
    spec_json(&sp, "on", NULL, DT__PAYLOAD_TIME_S);
    assert_reason(read_s(&sp, "{\"on\":true}", &out), DT__PAYLOAD_VALUE_NOT_NUMBER);
    assert_reason(read_s(&sp, "{\"on\":false}", &out), DT__PAYLOAD_VALUE_NOT_NUMBER);
}

static void json_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{",
        "{\"v\":1",
        "{\"v\":1,}",
        "{\"v\":1}}",
        "{\"v\":1} x",
        "{}{}",
        "{'v':1}",
        "{v:1}",
        "{\"v\" 1}",
        "{\"v\":}",
        "{,\"v\":1}",
        "[1,]",
        "[,1]",
        "[1 2]",
        "{\"v\":NaN}",
        "{\"v\":Infinity}",
        "{\"v\":-Infinity}",
        "{\"v\":01}",
        "{\"v\":1.}",
        "{\"v\":.5}",
        "{\"v\":+1}",
        "{\"v\":-}",
        "{\"v\":1e}",
        "{\"v\":1e+}",
        "{\"v\":0x10}",
        "{\"v\":tru}",
        "{\"v\":True}",
        "{\"v\":nul}",
        "{\"v\":1} // note",
        "/* c */ {\"v\":1}",
        "{\"v\":\"a\tb\"}",
        "{\"v\":\"a\nb\"}",
        "{\"v\":\"\\x41\"}",
        "{\"v\":\"\\u12\"}",
        "{\"v\":\"\\u12g4\"}",
        "{\"v\":\"\\ud800\"}",
        "{\"v\":\"\\udc00\"}",
        "{\"v\":\"\\ud800\\u0041\"}",
        "{\"v\":\"abc}",
        "{\"v\":\"abc\\\"}",
        "\xef\xbb\xbf{\"v\":1}", /* a byte order mark */
        "{\"v\":1}\xff",
        "\"",
        "[",
        "]",
        "nul",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double v = -5;
        int r = json_at(bad[i], "v", &v);
        if (r != DT__PAYLOAD_BAD_JSON || v != -5) {
            print_error("%s: %s, expected bad_json\n", bad[i], dt__payload_reason_name(r));
            fail();
        }
        /* cJSON is more lenient (leading zeros, a lone surrogate, a BOM's
         * bytes...); the check proves the scanner's own strictness, and
         * dt__payload_json_check says the same. */
        assert_int_not_equal(dt__payload_json_check(bad[i], strlen(bad[i])), 0);
    }
    dt__payload_spec sp;
    dt__payload_value out;
    spec_json(&sp, "v", NULL, DT__PAYLOAD_TIME_S);
    assert_reason(read_s(&sp, "", &out), DT__PAYLOAD_EMPTY);
    assert_reason(read_s(&sp, " \t\r\n", &out), DT__PAYLOAD_EMPTY);
    assert_reason(read_n(&sp, NULL, 0, &out), DT__PAYLOAD_EMPTY);
    /* NUL bytes: the payload is bytes, not a C string */
    assert_reason(read_n(&sp, "{\"v\":1}\0", 8, &out), DT__PAYLOAD_BAD_JSON);
    assert_reason(read_n(&sp, "{\"v\":1\0}", 8, &out), DT__PAYLOAD_BAD_JSON);
    assert_reason(read_n(&sp, "{\"v\":\"a\0b\",\"w\":1}", 17, &out), DT__PAYLOAD_BAD_JSON);
    assert_reason(read_n(&sp, "{\"v\":1}trailing", 7, &out), DT__PAYLOAD_OK);
    assert_true(out.value == 1.0);
    assert_reason(read_n(&sp, "{\"v\":12}", 7, &out), DT__PAYLOAD_BAD_JSON);
    /* an escaped NUL is a valid string */
    assert_reason(read_s(&sp, "{\"s\":\"a\\u0000b\",\"v\":2}", &out), DT__PAYLOAD_OK);
    assert_true(out.value == 2.0);
    /* bytes that are not UTF-8, inside strings, are taken as they are */
    assert_reason(read_s(&sp, "{\"name\":\"K\xf6ln \xff\xfe\xc0\xaf\",\"v\":3}", &out),
                  DT__PAYLOAD_OK);
    assert_true(out.value == 3.0);
    assert_reason(read_s(&sp, "{\"\xff\":1,\"v\":4}", &out), DT__PAYLOAD_OK);
    assert_true(out.value == 4.0);
    /* and a refusal leaves *out as it was */
    out.value = 99;
    out.t_ns = 98;
    out.has_time = 97;
    assert_reason(read_s(&sp, "{\"v\":\"x\"}", &out), DT__PAYLOAD_VALUE_NOT_NUMBER);
    assert_true(out.value == 99 && out.t_ns == 98 && out.has_time == 97);
}

/* Every prefix of a valid document is refused, in an exact-size block. */
static void json_prefixes(void **state)
{
    (void)state;
    const char *doc = "{\"a\":[1,{\"b\":\"\\u00e9\\ud83d\\ude00\"},-2.5e-3,true,false,null],"
                      "\"v\":{\"x\":[[]],\"y\":{}},\"t\":\"2026-12-02T00:26:41Z\"}";
    size_t len = strlen(doc);
    dt__payload_spec sp;
    spec_json(&sp, "a[2]", "t", DT__PAYLOAD_TIME_RFC3339);
    dt__payload_value out;
    assert_reason(read_s(&sp, doc, &out), DT__PAYLOAD_OK);
    assert_true(out.value == -2.5e-3);
    assert_int_equal(out.t_ns, INT64_C(1796171201000000000));
    for (size_t n = 1; n < len; n++) {
        int r = read_n(&sp, doc, n, &out);
        assert_int_equal(r, DT__PAYLOAD_BAD_JSON);
    }
}

static void json_depth_and_size(void **state)
{
    (void)state;
    /* 64 levels of nesting are read, 65 are refused */
    char doc[400];
    for (int depth = 63; depth <= 66; depth++) {
        size_t o = 0;
        for (int i = 0; i < depth - 1; i++)
            doc[o++] = '[';
        memcpy(doc + o, "{\"v\":1}", 7);
        o += 7;
        for (int i = 0; i < depth - 1; i++)
            doc[o++] = ']';
        doc[o] = '\0';
        dt__payload_spec sp;
        spec_json(&sp, "[0][0][0][0][0][0][0]", NULL, DT__PAYLOAD_TIME_S);
        dt__payload_value out;
        int r = read_s(&sp, doc, &out);
        if (depth <= 64)
            assert_reason(r, DT__PAYLOAD_VALUE_NOT_NUMBER); /* [0]x7 is an array */
        else
            assert_reason(r, DT__PAYLOAD_BAD_JSON);
        assert_int_equal(dt__payload_json_check(doc, o) == 0, depth <= 64);
    }
    /* the deepest a path reaches: 8 steps */
    dt__payload_spec sp;
    dt__payload_value out;
    spec_json(&sp, "a.b.c.d.e.f.g.h", NULL, DT__PAYLOAD_TIME_S);
    assert_reason(read_s(&sp,
                         "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":42}}}}}}}}",
                         &out),
                  DT__PAYLOAD_OK);
    assert_true(out.value == 42);

    /* 65536 bytes are read, one more is too long; the value is last */
    size_t max = DT__PAYLOAD_JSON_MAX;
    char *big = malloc(max + 1);
    assert_non_null(big);
    const char *tail = "],\"v\":5}";
    size_t o = 0;
    memcpy(big, "{\"pad\":[", 8);
    o = 8;
    while (o < max - strlen(tail) - 2) {
        memcpy(big + o, "0,", 2);
        o += 2;
    }
    while (o < max - strlen(tail) - 1)
        big[o++] = ' ';
    big[o++] = '0';
    memcpy(big + o, tail, strlen(tail));
    o += strlen(tail);
    assert_int_equal(o, max);
    spec_json(&sp, "v", NULL, DT__PAYLOAD_TIME_S);
    assert_reason(read_n(&sp, big, max, &out), DT__PAYLOAD_OK);
    assert_true(out.value == 5);
    big[max] = ' ';
    assert_reason(read_n(&sp, big, max + 1, &out), DT__PAYLOAD_TOO_LONG);
    free(big);
}

static void json_times(void **state)
{
    (void)state;
    static const struct {
        const char *doc;
        dt__payload_time_enc enc;
        int reason;
        int64_t ns;
    } cases[] = {
        {"{\"v\":1,\"t\":1764633601.5}", DT__PAYLOAD_TIME_S, 0, INT64_C(1764633601500000000)},
        {"{\"t\":1764633601123,\"v\":1}", DT__PAYLOAD_TIME_MS, 0, INT64_C(1764633601123000000)},
        {"{\"v\":1,\"t\":1764633601123456}", DT__PAYLOAD_TIME_US, 0,
         INT64_C(1764633601123456000)},
        {"{\"v\":1,\"t\":1764633601123456789}", DT__PAYLOAD_TIME_NS, 0,
         INT64_C(1764633601123456789)},
        {"{\"v\":1,\"t\":\"2026-12-02T00:26:41.123456789Z\"}", DT__PAYLOAD_TIME_RFC3339, 0,
         INT64_C(1796171201123456789)},
        {"{\"v\":1,\"t\":\"\\u0032026-12-02T00:26:41Z\"}", DT__PAYLOAD_TIME_RFC3339, 0,
         INT64_C(1796171201000000000)},
        {"{\"v\":1,\"t\":-0}", DT__PAYLOAD_TIME_MS, 0, 0},
        {"{\"v\":1,\"t\":1e300}", DT__PAYLOAD_TIME_S, DT__PAYLOAD_TIME_RANGE, 0},
        {"{\"v\":1,\"t\":9223372036854775807}", DT__PAYLOAD_TIME_NS, DT__PAYLOAD_TIME_RANGE, 0},
        {"{\"v\":1,\"t\":-9223372036854775808}", DT__PAYLOAD_TIME_NS, DT__PAYLOAD_TIME_RANGE,
         0},
        {"{\"v\":1,\"t\":\"9999-12-31T23:59:59Z\"}", DT__PAYLOAD_TIME_RFC3339,
         DT__PAYLOAD_TIME_RANGE, 0},
        {"{\"v\":1}", DT__PAYLOAD_TIME_S, DT__PAYLOAD_NO_TIME, 0},
        {"{\"v\":1,\"time\":5}", DT__PAYLOAD_TIME_S, DT__PAYLOAD_NO_TIME, 0},
        {"{\"v\":1,\"t\":\"1764633601\"}", DT__PAYLOAD_TIME_S, DT__PAYLOAD_BAD_TIME, 0},
        {"{\"v\":1,\"t\":null}", DT__PAYLOAD_TIME_S, DT__PAYLOAD_BAD_TIME, 0},
        {"{\"v\":1,\"t\":true}", DT__PAYLOAD_TIME_S, DT__PAYLOAD_BAD_TIME, 0},
        {"{\"v\":1,\"t\":[1]}", DT__PAYLOAD_TIME_S, DT__PAYLOAD_BAD_TIME, 0},
        {"{\"v\":1,\"t\":1764633601}", DT__PAYLOAD_TIME_RFC3339, DT__PAYLOAD_BAD_TIME, 0},
        {"{\"v\":1,\"t\":\"2026-12-02T00:26:60Z\"}", DT__PAYLOAD_TIME_RFC3339,
         DT__PAYLOAD_BAD_TIME, 0},
        {"{\"v\":1,\"t\":\"2026-12-02T00:26:41.1234567890123456789012345678901234567890123Z\"}",
         DT__PAYLOAD_TIME_RFC3339, 0, INT64_C(1796171201123456789)},
        {"{\"v\":1,\"t\":\"2026-12-02T00:26:41.12345678901234567890123456789012345678901234Z\"}",
         DT__PAYLOAD_TIME_RFC3339, DT__PAYLOAD_BAD_TIME, 0}, /* 65 bytes */
        {"{\"v\":1,\"t\":1.0000000000000000000000000000000000000000000000000000000000000000}",
         DT__PAYLOAD_TIME_S, DT__PAYLOAD_BAD_TIME, 0}, /* 66 bytes of number */
        /* the value's reason comes first */
        {"{\"v\":\"x\",\"t\":\"bad\"}", DT__PAYLOAD_TIME_RFC3339, DT__PAYLOAD_VALUE_NOT_NUMBER,
         0},
        {"{\"t\":5}", DT__PAYLOAD_TIME_S, DT__PAYLOAD_NO_VALUE, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dt__payload_spec sp;
        spec_json(&sp, "v", "t", cases[i].enc);
        dt__payload_value out = {0};
        int r = read_s(&sp, cases[i].doc, &out);
        int64_t want = cases[i].reason == 0 ? cases[i].ns : 0;
        if (r != cases[i].reason || out.t_ns != want ||
            (r == 0 && (out.has_time != 1 || out.value != 1))) {
            print_error("%s (%s): %s %lld, expected %s %lld\n", cases[i].doc,
                        dt__payload_time_enc_name(cases[i].enc), dt__payload_reason_name(r),
                        (long long)out.t_ns, dt__payload_reason_name(cases[i].reason),
                        (long long)want);
            fail();
        }
    }
    /* value and time may be one path's neighbours, or the same object deep */
    dt__payload_spec sp;
    spec_json(&sp, "d[1].v", "d[1].ts", DT__PAYLOAD_TIME_MS);
    dt__payload_value out;
    assert_reason(read_s(&sp, "{\"d\":[{\"v\":0,\"ts\":1},{\"ts\":2000,\"v\":7}]}", &out),
                  DT__PAYLOAD_OK);
    assert_true(out.value == 7);
    assert_int_equal(out.t_ns, INT64_C(2000000000));
    /* the number format has no time */
    memset(&sp, 0, sizeof sp);
    sp.format = DT__PAYLOAD_FMT_NUMBER;
    sp.has_time = 1;
    assert_reason(read_s(&sp, " 42 ", &out), DT__PAYLOAD_OK);
    assert_true(out.value == 42 && out.has_time == 0 && out.t_ns == 0);
}

/* The scanner agrees with cJSON on what a path finds, duplicates included,
 * for documents both accept. */
static void json_agrees_with_cjson(void **state)
{
    (void)state;
    static const struct {
        const char *doc, *path;
    } cases[] = {
        {"{\"v\":1,\"v\":2}", "v"},
        {"{\"a\":{\"x\":1},\"a\":{\"b\":2}}", "a.b"},
        {"{\"a\":[{\"b\":1},{\"b\":2,\"b\":3}]}", "a[1].b"},
        {"{\"\\u0076\":5}", "v"},
        {"[[1,2],[3,[4,5]]]", "[1][1][0]"},
        {"{\"a\":{\"b\":{\"a\":{\"b\":9}}}}", "a.b.a.b"},
        {"{\"x\":[],\"v\":1.5e-7}", "v"},
        {"{\"v\":12345678901234567890}", "v"},
        {"{\"v\":-0.000000000000000000001}", "v"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *root = cJSON_Parse(cases[i].doc);
        assert_non_null(root);
        dt__payload_path p;
        char err[200];
        assert_int_equal(dt__payload_path_compile(cases[i].path, &p, err, sizeof err), 0);
        const cJSON *node = root;
        for (int s = 0; s < p.n && node != NULL; s++) {
            if (p.step[s].is_index) {
                node = cJSON_IsArray(node) ? cJSON_GetArrayItem(node, (int)p.step[s].index)
                                           : NULL;
            } else {
                char key[130];
                memcpy(key, p.keys + p.step[s].key_off, p.step[s].key_len);
                key[p.step[s].key_len] = '\0';
                node = cJSON_IsObject(node) ? cJSON_GetObjectItemCaseSensitive(node, key) : NULL;
            }
        }
        double v = -1;
        int r = json_at(cases[i].doc, cases[i].path, &v);
        if (node == NULL) {
            assert_reason(r, DT__PAYLOAD_NO_VALUE);
        } else {
            assert_true(cJSON_IsNumber(node));
            assert_reason(r, DT__PAYLOAD_OK);
            assert_true(v == node->valuedouble);
        }
        cJSON_Delete(root);
    }
}

/* ---- allocations ---- */

static long hook_allocs;
static void *count_malloc(size_t n)
{
    hook_allocs++;
    return malloc(n);
}

/* The reader allocates nothing; cJSON, for comparison, allocates per node
 * and per string (the figure the documentation of the mqtt adapter cites). */
static void json_no_allocation(void **state)
{
    (void)state;
    assert_int_equal(dt_json_set_hooks(count_malloc, free), DT_OK);
    const char *doc = "{\"device\":\"th-17\",\"data\":{\"temp\":21.5,\"hum\":40},"
                      "\"ts\":\"2026-12-02T00:26:41.123Z\"}";
    dt__payload_spec sp;
    spec_json(&sp, "data.temp", "ts", DT__PAYLOAD_TIME_RFC3339);
    dt__payload_value out;
    hook_allocs = 0;
    for (int i = 0; i < 100; i++)
        assert_reason(dt__payload_read(&sp, doc, strlen(doc), &out), DT__PAYLOAD_OK);
    dt__payload_template tpl;
    char err[256], buf[256];
    assert_int_equal(dt__payload_template_compile("{{\"v\":{value},\"t\":\"{t_rfc3339}\"}}", &tpl,
                                                  err, sizeof err),
                     0);
    for (int i = 0; i < 100; i++)
        assert_true(dt__payload_render(buf, sizeof buf, &tpl, 1.5, 7, 8) > 0);
    assert_int_equal(hook_allocs, 0);
    /* cJSON (Debian's 1.7.15) on the same payload: one allocation per value
     * (6), per key (5), per string value (2) and a temporary one per number
     * (2) */
    hook_allocs = 0;
    cJSON *root = cJSON_ParseWithLength(doc, strlen(doc));
    assert_non_null(root);
    long cjson_allocs = hook_allocs;
    cJSON_Delete(root);
    print_message("cJSON_ParseWithLength of that payload: %ld allocations; the payload "
                  "reader: 0\n",
                  cjson_allocs);
    assert_int_equal(cjson_allocs, 15);
    assert_int_equal(dt_json_set_hooks(NULL, NULL), DT_OK);
}

/* ---- templates ---- */

static void template_compile(void **state)
{
    (void)state;
    dt__payload_template tpl;
    char err[512];
    static const char *const good[] = {
        "{{\"v\":{value}}}",
        "{{\"v\":{value},\"t\":{t_ns},\"ts\":{t_s},\"at\":\"{t_rfc3339}\",\"n\":{seq}}}",
        "[{value}, {seq}]",
        "{value}",
        "\"{t_rfc3339}\"",
        "{{\"cmd\":\"set {value}\"}}",
        "{{\"cmd\":\"toggle\"}}",
        "{{}}",
        " {{ \"a\" : [ {value} , {value} ] }} ",
        "{{\"braces\":\"}}{{\"}}",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        if (dt__payload_template_compile(good[i], &tpl, err, sizeof err) != 0) {
            print_error("%s: %s\n", good[i], err);
            fail();
        }
    }
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"", "empty"},
        {"{{\"v\":{valu}}}", "at character 7: unknown placeholder {valu} (known: {value}"},
        {"{{\"v\":{VALUE}}}", "at character 7: a '{' that starts no placeholder"},
        {"{{\"v\":{}}}", "at character 7: a '{' that starts no placeholder"},
        {"{{\"v\":{value}", "not valid JSON once rendered: {\"v\":1.5"},
        {"{{\"v\":{value", "at character 7: a '{' that starts no placeholder"},
        {"{\"v\":1}", "at character 1: a '{' that starts no placeholder"},
        {"{{\"v\":1}", "at character 8: a single '}'"},
        {"{{\"t\":{t_rfc3339}}}", "not valid JSON once rendered"},
        {"{{\"v\":-{value}}}", "not valid JSON once rendered: {\"v\":--2.5e-300}"},
        {"{{\"v\":{value}{value}}}", "not valid JSON once rendered"},
        {"{{\"v\":1{seq}}}", "not valid JSON once rendered"}, /* 1 then a second number? no: 11 */
        {"{{\"v\":{value}}} {{}}", "not valid JSON once rendered"},
        {"21.5 {value}", "not valid JSON once rendered"},
        {"{{\"v\":01}}", "not valid JSON once rendered"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        int r = dt__payload_template_compile(bad[i].text, &tpl, err, sizeof err);
        if (i == 11) { /* {{"v":1{seq}}} renders "1" + digits: one valid number */
            assert_int_equal(r, 0);
            continue;
        }
        if (r != -1 || strstr(err, bad[i].msg) == NULL ||
            strncmp(err, "template \"", 10) != 0) {
            print_error("%s: %d \"%s\", expected \"%s\"\n", bad[i].text, r, err, bad[i].msg);
            fail();
        }
    }
    /* limits */
    char text[DT__PAYLOAD_TPL_TEXT + 8];
    memset(text, ' ', DT__PAYLOAD_TPL_TEXT);
    memcpy(text, "{value}", 7);
    text[DT__PAYLOAD_TPL_TEXT - 1] = '\0';
    assert_int_equal(dt__payload_template_compile(text, &tpl, err, sizeof err), 0);
    text[DT__PAYLOAD_TPL_TEXT - 1] = ' ';
    text[DT__PAYLOAD_TPL_TEXT] = '\0';
    assert_int_equal(dt__payload_template_compile(text, &tpl, err, sizeof err), -1);
    assert_non_null(strstr(err, "longer than 1023 bytes"));
    /* 64 parts: ["{t_rfc3339}{t_rfc3339}" (4), 30 x ,{value} (60), ] */
    for (int k = 30; k <= 31; k++) {
        size_t o = (size_t)sprintf(text, "[\"{t_rfc3339}{t_rfc3339}\"");
        for (int i = 0; i < k; i++)
            o += (size_t)sprintf(text + o, ",{value}");
        sprintf(text + o, "]");
        int r = dt__payload_template_compile(text, &tpl, err, sizeof err);
        if (k == 30) {
            assert_int_equal(r, 0);
            assert_int_equal(tpl.nparts, 64);
        } else {
            assert_int_equal(r, -1);
            assert_non_null(strstr(err, "more than 64 parts"));
        }
    }
    assert_int_equal(dt__payload_template_compile("{x}", &tpl, NULL, 0), -1);
}

static void template_render(void **state)
{
    (void)state;
    dt__payload_template tpl;
    char err[256], buf[512];
    assert_int_equal(
        dt__payload_template_compile("{{\"v\":{value},\"t\":{t_ns},\"ts\":{t_s},\"at\":\""
                                     "{t_rfc3339}\",\"n\":{seq},\"b\":\"{{}}\"}}",
                                     &tpl, err, sizeof err),
        0);
    size_t n = dt__payload_render(buf, sizeof buf, &tpl, 21.5, INT64_C(1796171201123456789),
                                  42);
    const char *want = "{\"v\":21.5,\"t\":1796171201123456789,\"ts\":1796171201.123456789,"
                       "\"at\":\"2026-12-02T00:26:41.123456789Z\",\"n\":42,\"b\":\"{}\"}";
    assert_string_equal(buf, want);
    assert_int_equal(n, strlen(want));
    /* it fits exactly with its NUL, or not at all */
    char *tight = malloc(n + 1);
    assert_non_null(tight);
    assert_int_equal(dt__payload_render(tight, n + 1, &tpl, 21.5, INT64_C(1796171201123456789),
                                        42),
                     n);
    assert_string_equal(tight, want);
    for (size_t cap = 0; cap <= n; cap++)
        assert_int_equal(dt__payload_render(tight, cap, &tpl, 21.5,
                                            INT64_C(1796171201123456789), 42),
                         0);
    free(tight);
    /* not finite: nothing */
    assert_int_equal(dt__payload_render(buf, sizeof buf, &tpl, NAN, 0, 0), 0);
    assert_int_equal(dt__payload_render(buf, sizeof buf, &tpl, INFINITY, 0, 0), 0);
    assert_int_equal(dt__payload_render(buf, sizeof buf, &tpl, -INFINITY, 0, 0), 0);
    /* extremes of the integers */
    assert_int_equal(dt__payload_template_compile("[{t_ns},{seq},{t_s}]", &tpl, err, sizeof err),
                     0);
    dt__payload_render(buf, sizeof buf, &tpl, 0, INT64_MIN, UINT64_MAX);
    assert_string_equal(buf, "[-9223372036854775808,18446744073709551615,-9223372036.854775808]");
    /* the bare number */
    assert_int_equal(dt__payload_template_compile(NULL, &tpl, err, sizeof err), 0);
    assert_int_equal(dt__payload_render(buf, sizeof buf, &tpl, -0.5, 0, 0), 4);
    assert_string_equal(buf, "-0.5");
    assert_int_equal(dt__payload_render(buf, 4, &tpl, -0.5, 0, 0), 0);
    assert_int_equal(dt__payload_render(buf, 5, &tpl, -0.5, 0, 0), 4);
    assert_int_equal(dt__payload_render(buf, sizeof buf, &tpl, NAN, 0, 0), 0);
    assert_int_equal(dt__payload_render(buf, sizeof buf, NULL, 1, 0, 0), 0);
    /* every rendering is valid JSON (cJSON agrees) */
    assert_int_equal(dt__payload_template_compile("{{\"v\":{value},\"at\":\"{t_rfc3339}\"}}",
                                                  &tpl, err, sizeof err),
                     0);
    n = dt__payload_render(buf, sizeof buf, &tpl, -1e-300, INT64_MIN, 0);
    cJSON *root = cJSON_ParseWithLength(buf, n);
    assert_non_null(root);
    assert_true(cJSON_GetObjectItem(root, "v")->valuedouble == -1e-300);
    cJSON_Delete(root);
}

/* A value rendered into a template and read back with the matching spec is
 * the same double, bit for bit; a time, the same ns. */
static void render_read_roundtrip(void **state)
{
    (void)state;
    dt__payload_template tpl;
    char err[256], buf[512];
    assert_int_equal(dt__payload_template_compile(
                         "{{\"d\":{{\"v\":{value},\"a\":\"{t_rfc3339}\"}},\"s\":{t_s},"
                         "\"n\":{t_ns}}}",
                         &tpl, err, sizeof err),
                     0);
    dt__payload_spec by_rfc, by_s, by_ns, bare;
    spec_json(&by_rfc, "d.v", "d.a", DT__PAYLOAD_TIME_RFC3339);
    spec_json(&by_s, "d.v", "s", DT__PAYLOAD_TIME_S);
    spec_json(&by_ns, "d.v", "n", DT__PAYLOAD_TIME_NS);
    memset(&bare, 0, sizeof bare);
    dt__payload_template num;
    assert_int_equal(dt__payload_template_compile(NULL, &num, err, sizeof err), 0);
    uint64_t x = 0x243F6A8885A308D3u;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v;
        memcpy(&v, &x, sizeof v);
        if (!isfinite(v))
            v = (double)(int32_t)x * 1e-3;
        int64_t t = (int64_t)(x % (2 * (uint64_t)DT_TIME_LIMIT + 1)) - DT_TIME_LIMIT;
        size_t n = dt__payload_render(buf, sizeof buf, &tpl, v, t, (uint64_t)i);
        assert_true(n > 0);
        const dt__payload_spec *specs[] = {&by_rfc, &by_s, &by_ns};
        for (int s = 0; s < 3; s++) {
            dt__payload_value out;
            assert_reason(dt__payload_read(specs[s], buf, n, &out), DT__PAYLOAD_OK);
            assert_memory_equal(&out.value, &v, sizeof v);
            assert_int_equal(out.t_ns, t);
        }
        n = dt__payload_render(buf, sizeof buf, &num, v, 0, 0);
        dt__payload_value out;
        assert_reason(dt__payload_read(&bare, buf, n, &out), DT__PAYLOAD_OK);
        assert_memory_equal(&out.value, &v, sizeof v);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(reason_names),
    cmocka_unit_test(path_ok),
    cmocka_unit_test(path_refused),
    cmocka_unit_test(number_accepted),
    cmocka_unit_test(number_refused),
    cmocka_unit_test(number_locale),
    cmocka_unit_test(time_numbers),
    cmocka_unit_test(civil_days),
    cmocka_unit_test(rfc3339_values),
    cmocka_unit_test(time_formats),
    cmocka_unit_test(number_format),
    cmocka_unit_test(json_paths),
    cmocka_unit_test(json_refused),
    cmocka_unit_test(json_prefixes),
    cmocka_unit_test(json_depth_and_size),
    cmocka_unit_test(json_times),
    cmocka_unit_test(json_agrees_with_cjson),
    cmocka_unit_test(json_no_allocation),
    cmocka_unit_test(template_compile),
    cmocka_unit_test(template_render),
    cmocka_unit_test(render_read_roundtrip),
};

DTT_MAIN(tests)
