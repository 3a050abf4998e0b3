/* MQTT device payloads (src/desc/payload*.c), the text inside them: reasons,
 * paths, number payloads, the time encodings against independently known
 * epoch values and the calendar. JSON documents are test_payload_json.c,
 * templates test_payload_tpl.c, number text itself test_numtext.c. Every
 * text is handed over in a heap block of exactly its length, so that ASan
 * sees any read past n. */
#include "dtwin/dtwin.h"
#include "payload_util.h"

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

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(reason_names),
    cmocka_unit_test(path_ok),
    cmocka_unit_test(path_refused),
    cmocka_unit_test(number_accepted),
    cmocka_unit_test(number_refused),
    cmocka_unit_test(time_numbers),
    cmocka_unit_test(civil_days),
    cmocka_unit_test(rfc3339_values),
    cmocka_unit_test(time_formats),
};

DTT_MAIN(tests)
