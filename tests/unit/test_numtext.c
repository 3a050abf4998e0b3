/* Numbers as text the same in every locale (src/platform/numtext.c): the
 * parser against strtod and the formatter against printf in the C locale, on
 * tables and random draws; any length of text; then the same calls, and the
 * messages' dt__num, in a locale with a decimal comma. Every text is handed
 * over in a heap block of exactly its length, so ASan sees a read past n. */
#include <stdlib.h>

#include "test_util.h"

#include "comma_locale.h"
#include "platform/internal.h"
#include "platform/numtext.h"

static char *exact(const char *s, size_t n)
{
    char *p = malloc(n > 0 ? n : 1);
    assert_non_null(p);
    if (n > 0)
        memcpy(p, s, n);
    return p;
}

static int parse_n(const char *s, size_t n, double *v)
{
    char *p = exact(s, n);
    int r = dt__num_parse(p, n, v);
    free(p);
    return r;
}
static int parse(const char *s, double *v) { return parse_n(s, strlen(s), v); }

static uint64_t xorshift(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* ---- reading ---- */

static void parse_accepted(void **state)
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
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double v = -99;
        int r = parse(cases[i].text, &v);
        if (r != DT__NUM_OK || v != cases[i].v) {
            print_error("\"%s\": %d %.17g, expected %.17g\n", cases[i].text, r, v, cases[i].v);
            fail();
        }
    }
    double v;
    assert_int_equal(parse("-0", &v), DT__NUM_OK);
    assert_true(v == 0.0 && signbit(v));
    assert_int_equal(parse_n("12", 1, &v), DT__NUM_OK); /* n bytes, not to the NUL */
    assert_true(v == 1.0);
}

static void parse_refused(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int result;
    } cases[] = {
        {"", DT__NUM_EMPTY},           {" \t\r\n\v\f", DT__NUM_EMPTY},
        {"abc", DT__NUM_SYNTAX},       {"1.2.3", DT__NUM_SYNTAX},
        {"1e", DT__NUM_SYNTAX},        {"1e+", DT__NUM_SYNTAX},
        {".", DT__NUM_SYNTAX},         {"-", DT__NUM_SYNTAX},
        {"0x10", DT__NUM_SYNTAX},      {"0x1p3", DT__NUM_SYNTAX},
        {"1,5", DT__NUM_SYNTAX},       {"1 2", DT__NUM_SYNTAX},
        {"--1", DT__NUM_SYNTAX},       {"1_000", DT__NUM_SYNTAX},
        {"nan(1)", DT__NUM_SYNTAX},    {"infinit", DT__NUM_SYNTAX},
        {"1e309", DT__NUM_OVERFLOW},   {"-1e400", DT__NUM_OVERFLOW},
        {"1e99999999999999999999999", DT__NUM_OVERFLOW},
        {"1.7976931348623159e308", DT__NUM_OVERFLOW},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double v = 7;
        int r = parse(cases[i].text, &v);
        if (r != cases[i].result || v != 7) {
            print_error("\"%s\": %d, expected %d\n", cases[i].text, r, cases[i].result);
            fail();
        }
    }
    /* the words read as strtod reads them */
    double v = 7;
    assert_int_equal(parse("NaN", &v), DT__NUM_NONFINITE);
    assert_true(isnan(v));
    assert_int_equal(parse("-Infinity", &v), DT__NUM_NONFINITE);
    assert_true(isinf(v) && v < 0);
    assert_int_equal(parse(" +inf ", &v), DT__NUM_NONFINITE);
    assert_true(isinf(v) && v > 0);
    /* bytes, not a C string */
    assert_int_equal(parse_n("1\0", 2, &v), DT__NUM_SYNTAX);
    assert_int_equal(parse_n(NULL, 0, &v), DT__NUM_EMPTY);
}

/* Texts longer than the digits kept (800) round as the whole text does:
 * what follows the kept digits decides a tie. */
static void parse_any_length(void **state)
{
    (void)state;
    size_t cap = 4096, o;
    char *t = malloc(cap);
    assert_non_null(t);
    double v, ref;
    /* 2^53 + 1 is a tie; a 1 a thousand digits later rounds it up */
    o = (size_t)sprintf(t, "9007199254740993.");
    memset(t + o, '0', 1000);
    o += 1000;
    t[o++] = '1';
    t[o] = '\0';
    assert_int_equal(parse(t, &v), DT__NUM_OK);
    assert_true(v == 9007199254740994.0);
    t[o - 1] = '0'; /* all zeros: the tie, to even */
    assert_int_equal(parse(t, &v), DT__NUM_OK);
    assert_true(v == 9007199254740992.0);
    /* 1500 integer digits, and an exponent that brings them back */
    memset(t, '7', 1500);
    o = 1500 + (size_t)sprintf(t + 1500, "e-1400");
    assert_int_equal(parse(t, &v), DT__NUM_OK);
    ref = strtod(t, NULL);
    assert_memory_equal(&v, &ref, sizeof v);
    t[1500] = '\0';
    assert_int_equal(parse(t, &v), DT__NUM_OVERFLOW);
    /* leading zeros, thousands of them, either side of the point */
    o = (size_t)sprintf(t, "-0000");
    memset(t + o, '0', 2000);
    o += 2000;
    o += (size_t)sprintf(t + o, ".");
    memset(t + o, '0', 1000);
    o += 1000;
    sprintf(t + o, "25e1001"); /* 2.5e-1001 * 10^1001 */
    assert_int_equal(parse(t, &v), DT__NUM_OK);
    assert_true(v == -2.5);
    /* random long texts against strtod (C locale) */
    uint64_t x = 0x2545F4914F6CDD1Du;
    for (int i = 0; i < 300; i++) {
        size_t nd = 1 + xorshift(&x) % 2000, point = xorshift(&x) % (nd + 1);
        o = 0;
        for (size_t k = 0; k < nd; k++) {
            if (k == point)
                t[o++] = '.';
            t[o++] = (char)('0' + xorshift(&x) % 10);
        }
        sprintf(t + o, "e%d", (int)(xorshift(&x) % 1400) - 1000);
        ref = strtod(t, NULL);
        int r = parse(t, &v);
        if (isinf(ref)) {
            assert_int_equal(r, DT__NUM_OVERFLOW);
            continue;
        }
        assert_int_equal(r, DT__NUM_OK);
        assert_memory_equal(&v, &ref, sizeof v);
    }
    free(t);
}

/* Decimal texts of random doubles, in %e and %f forms of every precision,
 * read bit for bit as strtod reads them in the C locale. */
static void parse_against_strtod(void **state)
{
    (void)state;
    uint64_t x = 0x9E3779B97F4A7C15u;
    char t[512];
    for (int i = 0; i < 10000; i++) {
        uint64_t bits = xorshift(&x);
        double d;
        memcpy(&d, &bits, sizeof d);
        if (!isfinite(d))
            continue;
        int prec = (int)(xorshift(&x) % 25);
        if (i % 3 == 0 && fabs(d) < 1e20 && fabs(d) > 1e-20)
            snprintf(t, sizeof t, "%.*f", prec, d);
        else
            snprintf(t, sizeof t, "%.*e", prec, d);
        double v, ref = strtod(t, NULL);
        assert_int_equal(parse(t, &v), DT__NUM_OK);
        if (memcmp(&v, &ref, sizeof v) != 0) {
            print_error("\"%s\": %a, strtod %a\n", t, v, ref);
            fail();
        }
    }
}

/* ---- writing ---- */

static void format_table(void **state)
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
        size_t n = dt__num_format(buf, sizeof buf, cases[i].v);
        if (n != strlen(cases[i].text) || strcmp(buf, cases[i].text) != 0) {
            print_error("%.17g: \"%s\", expected \"%s\"\n", cases[i].v, buf, cases[i].text);
            fail();
        }
    }
    assert_int_equal(dt__num_format(buf, sizeof buf, NAN), 0);
    assert_int_equal(dt__num_format(buf, sizeof buf, INFINITY), 0);
    assert_int_equal(dt__num_format(buf, sizeof buf, -INFINITY), 0);
    assert_int_equal(dt__num_format(buf, DT__NUM_TEXT - 1, 1.0), 0);
    assert_int_equal(dt__num_format(buf, DT__NUM_TEXT, -1.2345678901234567e-308), 24);
    assert_int_equal(dt__num_format_g(buf, sizeof buf, 1.0, 0), 0);
    assert_int_equal(dt__num_format_g(buf, sizeof buf, 1.0, 18), 0);
    assert_int_equal(dt__num_format_g(buf, sizeof buf, NAN, 6), 0);
}

/* Against printf in the C locale: dt__num_format is the smallest of %.15g,
 * %.16g, %.17g that reads back, and reads back through dt__num_parse;
 * dt__num_format_g is %.{p}g for every p. */
static void format_against_printf(void **state)
{
    (void)state;
    uint64_t x = 0x9E3779B97F4A7C15u;
    char buf[64], ref[64];
    for (int i = 0; i < 20000; i++) {
        uint64_t bits = xorshift(&x);
        double v;
        memcpy(&v, &bits, sizeof v);
        if (!isfinite(v))
            continue;
        if (i % 2)
            v = (double)(int64_t)(bits >> 20) / 1024.0; /* sensor-like values too */
        for (int p = 15; p <= 17; p++) {
            snprintf(ref, sizeof ref, "%.*g", p, v);
            if (strtod(ref, NULL) == v)
                break;
        }
        size_t n = dt__num_format(buf, sizeof buf, v);
        if (strcmp(buf, ref) != 0) {
            print_error("%a: \"%s\", printf \"%s\"\n", v, buf, ref);
            fail();
        }
        double back;
        assert_int_equal(dt__num_parse(buf, n, &back), DT__NUM_OK);
        assert_memory_equal(&back, &v, sizeof v);
        int p = 1 + (int)(bits % 17);
        snprintf(ref, sizeof ref, "%.*g", p, v);
        assert_int_equal(dt__num_format_g(buf, sizeof buf, v, p), strlen(ref));
        if (strcmp(buf, ref) != 0) {
            print_error("%a at %d: \"%s\", printf \"%s\"\n", v, p, buf, ref);
            fail();
        }
    }
}

/* ---- a decimal comma ---- */

/* In a locale whose decimal point is ',', strtod reads "21.5" as 21 and
 * printf writes "21,5": these do neither. */
static void comma_locale(void **state)
{
    (void)state;
    dtt_comma_locale();
    char buf[64];
    snprintf(buf, sizeof buf, "%g", 0.5);
    assert_string_equal(buf, "0,5");           /* the hazard is real */
    assert_true(strtod("21.5", NULL) == 21.0); /* ... both ways */
    double v;
    assert_int_equal(parse("21.5", &v), DT__NUM_OK);
    assert_true(v == 21.5);
    assert_int_equal(parse("21,5", &v), DT__NUM_SYNTAX);
    assert_int_equal(parse("-1.25e-7", &v), DT__NUM_OK);
    assert_true(v == -1.25e-7);
    assert_int_equal(dt__num_format(buf, sizeof buf, -0.5), 4);
    assert_string_equal(buf, "-0.5");
    assert_int_equal(dt__num_format(buf, sizeof buf, 0.1 + 0.2), 19);
    assert_string_equal(buf, "0.30000000000000004");
    assert_true(dt__num_format_g(buf, sizeof buf, 1234.5678, 6) > 0);
    assert_string_equal(buf, "1234.57");
    /* numbers in messages */
    assert_string_equal(dt__num(-0.5, buf, sizeof buf), "-0.5");
    assert_string_equal(dt__num(1.0000000000000002, buf, sizeof buf), "1.0000000000000002");
    assert_string_equal(dt__num(INFINITY, buf, sizeof buf), "inf");
    assert_string_equal(dt__num(1e21, buf, 4), "1e+"); /* cut, terminated */
    /* the random draws again: the same texts as in the C locale */
    uint64_t x = 0x243F6A8885A308D3u;
    for (int i = 0; i < 2000; i++) {
        uint64_t bits = xorshift(&x);
        double d = (double)(int64_t)(bits >> 11) * 0x1p-40, back;
        size_t n = dt__num_format(buf, sizeof buf, d);
        assert_null(strchr(buf, ','));
        assert_int_equal(dt__num_parse(buf, n, &back), DT__NUM_OK);
        assert_memory_equal(&back, &d, sizeof d);
    }
    dtt_c_locale();
}

/* dt__num: the shortest %g text (from 6 digits) that reads back, as it was
 * with printf and strtod in the C locale. */
static void message_numbers(void **state)
{
    (void)state;
    char buf[64], ref[64];
    uint64_t x = 0x6A09E667F3BCC909u;
    for (int i = 0; i < 5000; i++) {
        uint64_t bits = xorshift(&x);
        double v;
        memcpy(&v, &bits, sizeof v);
        if (i % 2)
            v = (double)(int32_t)bits / 1000.0;
        for (int p = 6; p <= 17; p++) {
            snprintf(ref, sizeof ref, "%.*g", p, v);
            if (strtod(ref, NULL) == v || isnan(v))
                break;
        }
        assert_string_equal(dt__num(v, buf, sizeof buf), ref);
    }
    assert_string_equal(dt__num(1e7, buf, sizeof buf), "1e+07");
    assert_string_equal(dt__num(-NAN, buf, sizeof buf), "-nan");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(parse_accepted),
    cmocka_unit_test(parse_refused),
    cmocka_unit_test(parse_any_length),
    cmocka_unit_test(parse_against_strtod),
    cmocka_unit_test(format_table),
    cmocka_unit_test(format_against_printf),
    cmocka_unit_test(comma_locale),
    cmocka_unit_test(message_numbers),
};

DTT_MAIN(tests)
