/* MQTT device payloads, commands (src/desc/payload_tpl.c): templates
 * compiled and checked as JSON, rendered into exactly sized buffers, and
 * read back by the payload reader to the same double and the same ns. */
#include <cjson/cJSON.h>

#include "dtwin/dtwin.h"
#include "payload_util.h"

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
        "{{\"v\":1{seq}}}", /* "1" then digits: one number */
        "{{\"v\":01}}",     /* cJSON's leniency: a leading zero */
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        if (dt__payload_template_compile(good[i], NULL, &tpl, err, sizeof err) != 0) {
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
        {"{{\"v\":{value}}} {{}}", "not valid JSON once rendered"},
        {"21.5 {value}", "not valid JSON once rendered"},
        {"{{\"v\":{value}}}\t{{\"w\":1}}", "(wrong at its character 11;"},
        {"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{value}]]]]]]]]]]]]]]]]]]]]]"
         "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
         "(nested deeper than 64 levels;"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        int r = dt__payload_template_compile(bad[i].text, NULL, &tpl, err, sizeof err);
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
    assert_int_equal(dt__payload_template_compile(text, NULL, &tpl, err, sizeof err), 0);
    text[DT__PAYLOAD_TPL_TEXT - 1] = ' ';
    text[DT__PAYLOAD_TPL_TEXT] = '\0';
    assert_int_equal(dt__payload_template_compile(text, NULL, &tpl, err, sizeof err), -1);
    assert_non_null(strstr(err, "longer than 1023 bytes"));
    /* 64 parts: ["{t_rfc3339}{t_rfc3339}" (4), 30 x ,{value} (60), ] */
    for (int k = 30; k <= 31; k++) {
        size_t o = (size_t)sprintf(text, "[\"{t_rfc3339}{t_rfc3339}\"");
        for (int i = 0; i < k; i++)
            o += (size_t)sprintf(text + o, ",{value}");
        sprintf(text + o, "]");
        int r = dt__payload_template_compile(text, NULL, &tpl, err, sizeof err);
        if (k == 30) {
            assert_int_equal(r, 0);
            assert_int_equal(tpl.nparts, 64);
        } else {
            assert_int_equal(r, -1);
            assert_non_null(strstr(err, "more than 64 parts"));
        }
    }
    assert_int_equal(dt__payload_template_compile("{x}", NULL, &tpl, NULL, 0), -1);
}

static void template_render(void **state)
{
    (void)state;
    dt__payload_template tpl;
    char err[256], buf[512];
    assert_int_equal(
        dt__payload_template_compile("{{\"v\":{value},\"t\":{t_ns},\"ts\":{t_s},\"at\":\""
                                     "{t_rfc3339}\",\"n\":{seq},\"b\":\"{{}}\"}}", NULL,
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
    assert_int_equal(dt__payload_template_compile("[{t_ns},{seq},{t_s}]", NULL, &tpl, err, sizeof err),
                     0);
    dt__payload_render(buf, sizeof buf, &tpl, 0, INT64_MIN, UINT64_MAX);
    assert_string_equal(buf, "[-9223372036854775808,18446744073709551615,-9223372036.854775808]");
    /* the bare number */
    assert_int_equal(dt__payload_template_compile(NULL, NULL, &tpl, err, sizeof err), 0);
    assert_int_equal(dt__payload_render(buf, sizeof buf, &tpl, -0.5, 0, 0), 4);
    assert_string_equal(buf, "-0.5");
    assert_int_equal(dt__payload_render(buf, 4, &tpl, -0.5, 0, 0), 0);
    assert_int_equal(dt__payload_render(buf, 5, &tpl, -0.5, 0, 0), 4);
    assert_int_equal(dt__payload_render(buf, sizeof buf, &tpl, NAN, 0, 0), 0);
    assert_int_equal(dt__payload_render(buf, sizeof buf, NULL, 1, 0, 0), 0);
    /* every rendering is valid JSON (cJSON agrees) */
    assert_int_equal(dt__payload_template_compile("{{\"v\":{value},\"at\":\"{t_rfc3339}\"}}", NULL,
                                                  &tpl, err, sizeof err),
                     0);
    n = dt__payload_render(buf, sizeof buf, &tpl, -1e-300, INT64_MIN, 0);
    cJSON *root = cJSON_ParseWithLength(buf, n);
    assert_non_null(root);
    assert_true(cJSON_GetObjectItem(root, "v")->valuedouble == -1e-300);
    cJSON_Delete(root);
}

/* How far a time written as a JSON number of unit_ns ns per unit can be
 * read back off: cJSON keeps a double, so up to its spacing at that
 * magnitude (twice the spacing of the binade, in case the double is in the
 * next), plus the rounding to ns. */
static int64_t double_time_bound(int64_t t, double unit_ns)
{
    double a = fabs((double)t / unit_ns);
    if (a == 0)
        return 1;
    return (int64_t)ceil(2 * ldexp(1.0, ilogb(a) - 52) * unit_ns) + 1;
}

/* A value rendered into a template and read back with the matching spec is
 * the same double, bit for bit; a time, the same ns from RFC 3339, and
 * within the double's spacing from a JSON number. */
static void render_read_roundtrip(void **state)
{
    (void)state;
    dt__payload_template tpl;
    char err[256], buf[512];
    assert_int_equal(dt__payload_template_compile(
                         "{{\"d\":{{\"v\":{value},\"a\":\"{t_rfc3339}\"}},\"s\":{t_s},"
                         "\"n\":{t_ns}}}", NULL,
                         &tpl, err, sizeof err),
                     0);
    dt__payload_spec by_rfc, by_s, by_ns, bare;
    spec_json(&by_rfc, "d.v", "d.a", DT__PAYLOAD_TIME_RFC3339);
    spec_json(&by_s, "d.v", "s", DT__PAYLOAD_TIME_S);
    spec_json(&by_ns, "d.v", "n", DT__PAYLOAD_TIME_NS);
    memset(&bare, 0, sizeof bare);
    dt__payload_template num;
    assert_int_equal(dt__payload_template_compile(NULL, NULL, &num, err, sizeof err), 0);
    uint64_t x = 0x243F6A8885A308D3u;
    for (int i = 0; i < 8000; i++) {
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
            assert_reason(dt__payload_read(specs[s], buf, n, NULL, &out), DT__PAYLOAD_OK);
            assert_memory_equal(&out.value, &v, sizeof v);
            int64_t off = out.t_ns > t ? out.t_ns - t : t - out.t_ns;
            int64_t bound = s == 0 ? 0 : double_time_bound(t, s == 1 ? 1e9 : 1.0);
            if (off > bound) {
                print_error("%s: t %lld read as %lld, beyond %lld ns\n", buf, (long long)t,
                            (long long)out.t_ns, (long long)bound);
                fail();
            }
        }
        n = dt__payload_render(buf, sizeof buf, &num, v, 0, 0);
        dt__payload_value out;
        assert_reason(dt__payload_read(&bare, buf, n, NULL, &out), DT__PAYLOAD_OK);
        assert_memory_equal(&out.value, &v, sizeof v);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(template_compile),
    cmocka_unit_test(template_render),
    cmocka_unit_test(render_read_roundtrip),
};

DTT_MAIN(tests)
