/* MQTT device payloads, JSON documents (src/desc/payload_json.c, through
 * cJSON): paths, what is refused and what cJSON lets through, nesting and
 * size, times, the precision a time loses as a JSON number, the allocations
 * a parse makes (and each one failing), and a locale with a decimal comma.
 * Every payload is handed over in a heap block of exactly its length, so
 * that ASan sees any read past n. */
#include "alloc_counter.h"
#include "comma_locale.h"
#include "dtwin/dtwin.h"
#include "payload_util.h"

/* ---- documents and paths ---- */

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
        /* no limit on a JSON number's text (cJSON's), unlike a number payload */
        {"{\"v\":12345678901234567890123456789012345678901234567890123456789012345}", "v", 0,
         12345678901234567890123456789012345678901234567890123456789012345.0},
        /* what cJSON reads that RFC 8259 does not allow */
        {"{\"v\":007}", "v", 0, 7},
        {"{\"v\":2.}", "v", 0, 2},
        {"{\"v\":-.5}", "v", 0, -0.5},
        {"{\"v\":1.e2}", "v", 0, 100},
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
        "{", "{\"v\":1", "{\"v\":1,}", "{\"v\":1}}", "{\"v\":1} x", "{}{}", "{'v':1}",
        "{v:1}", "{\"v\" 1}", "{\"v\":}", "{,\"v\":1}", "[1,]", "[,1]", "[1 2]",
        "{\"v\":NaN}", "{\"v\":Infinity}", "{\"v\":-Infinity}", "{\"v\":.5}", "{\"v\":+1}",
        "{\"v\":-}", "{\"v\":1e}", "{\"v\":1e+}", "{\"v\":0x10}", "{\"v\":1e5.}",
        "{\"v\":tru}", "{\"v\":True}", "{\"v\":nul}", "{\"v\":1} // note",
        "/* c */ {\"v\":1}", "{\"v\":\"\\x41\"}", "{\"v\":\"\\u12\"}", "{\"v\":\"\\ud800\"}",
        "{\"v\":\"\\udc00\"}", "{\"v\":\"\\ud800\\u0041\"}", "{\"v\":\"abc}", "{\"v\":\"abc\\\"}",
        "{\"v\":1}\xff", "{\"v\":1}\x0b", "{\"v\":1,\x7f\"w\":2}", "\"", "[", "]", "nul",
        /* escapes that cJSON decodes into a NUL, which would end its string:
         * "v\u0000x" would be the key "v" */
        "{\"v\\u0000x\":1}", "{\"s\":\"a\\u0000b\",\"v\":2}", "{\"v\\uzzzz\":1}",
        "{\"v\\u00g0\":1}", "{\"s\":\"\\u12g4\",\"v\":1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double v = -5;
        int r = json_at(bad[i], "v", &v);
        if (r != DT__PAYLOAD_BAD_JSON || v != -5) {
            print_error("%s: %s, expected bad_json\n", bad[i], dt__payload_reason_name(r));
            fail();
        }
        size_t at = 0;
        assert_reason(dt__payload_json_check(bad[i], strlen(bad[i]), NULL, &at),
                      DT__PAYLOAD_BAD_JSON);
        assert_true(at >= 1 && at <= strlen(bad[i]));
    }
    size_t at = 9;
    assert_reason(dt__payload_json_check("{\"v\":1} x", 9, NULL, &at), DT__PAYLOAD_BAD_JSON);
    assert_int_equal(at, 9); /* the x */
    dt__payload_spec sp;
    dt__payload_value out;
    spec_json(&sp, "v", NULL, DT__PAYLOAD_TIME_S);
    assert_reason(read_s(&sp, "", &out), DT__PAYLOAD_EMPTY);
    assert_reason(read_s(&sp, " \t\r\n\v\f", &out), DT__PAYLOAD_EMPTY);
    assert_reason(read_n(&sp, NULL, 0, &out), DT__PAYLOAD_EMPTY);
    /* NUL bytes: the payload is bytes, not a C string */
    assert_reason(read_n(&sp, "{\"v\":1}\0", 8, &out), DT__PAYLOAD_BAD_JSON);
    assert_reason(read_n(&sp, "{\"v\":1\0}", 8, &out), DT__PAYLOAD_BAD_JSON);
    assert_reason(read_n(&sp, "\0{\"v\":1}", 8, &out), DT__PAYLOAD_BAD_JSON);
    assert_reason(read_n(&sp, "{\"v\":\"a\0b\",\"w\":1}", 17, &out), DT__PAYLOAD_BAD_JSON);
    assert_reason(dt__payload_json_check("{\"v\":1\0}", 8, NULL, &at), DT__PAYLOAD_BAD_JSON);
    assert_int_equal(at, 7);
    assert_reason(read_n(&sp, "{\"v\":1}trailing", 7, &out), DT__PAYLOAD_OK);
    assert_true(out.value == 1.0);
    assert_reason(read_n(&sp, "{\"v\":12}", 7, &out), DT__PAYLOAD_BAD_JSON);
    /* an escape of any other code point is decoded */
    assert_reason(read_s(&sp, "{\"s\":\"a\\u0001b\\u00e9\",\"\\u0076\":2}", &out), DT__PAYLOAD_OK);
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

/* What cJSON 1.7.15 accepts though RFC 8259 does not, and the reader with it
 * (docs/payload-draft.md lists these): leading zeros, "2." and "-.5", raw
 * control characters inside strings, a byte order mark, and control bytes
 * before the document and between its tokens. */
static void json_lax(void **state)
{
    (void)state;
    static const char *const lax[] = {
        "{\"v\":01}",          "{\"v\":1.}",           "{\"v\":001}",
        "{\"s\":\"a\tb\nc\x01\",\"v\":1}", "\xef\xbb\xbf{\"v\":1}", "\x01{\x02\"v\"\x1f:\0131}", /* \013: VT */
    };
    for (size_t i = 0; i < sizeof lax / sizeof lax[0]; i++) {
        double v = -5;
        int r = json_at(lax[i], "v", &v);
        if (r != DT__PAYLOAD_OK || v != 1.0) {
            print_error("%s: %s %g, expected 1\n", lax[i], dt__payload_reason_name(r), v);
            fail();
        }
    }
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
        assert_int_equal(dt__payload_json_check(doc, o, NULL, NULL) == DT__PAYLOAD_OK,
                         depth <= 64);
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
        /* a JSON number is a double: 19 digits do not survive (json_time_precision) */
        {"{\"v\":1,\"t\":1764633601123456789}", DT__PAYLOAD_TIME_NS, 0,
         INT64_C(1764633601123456800)},
        {"{\"v\":1,\"t\":1764633601.123456789}", DT__PAYLOAD_TIME_S, 0,
         INT64_C(1764633601123456700)},
        {"{\"v\":1,\"t\":1764633601.123456}", DT__PAYLOAD_TIME_S, 0,
         INT64_C(1764633601123456000)},
        {"{\"v\":1,\"t\":1.7646336011e9}", DT__PAYLOAD_TIME_S, 0, INT64_C(1764633601100000000)},
        {"{\"v\":1,\"t\":1e-9}", DT__PAYLOAD_TIME_S, 0, 1},
        {"{\"v\":1,\"t\":-1.5}", DT__PAYLOAD_TIME_S, 0, INT64_C(-1500000000)},
        {"{\"v\":1,\"t\":2.5}", DT__PAYLOAD_TIME_NS, 0, 3},
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
         DT__PAYLOAD_TIME_S, 0, INT64_C(1000000000)}, /* 66 bytes of number: a double */
        {"{\"v\":1,\"t\":1e999}", DT__PAYLOAD_TIME_S, DT__PAYLOAD_TIME_RANGE, 0},
        {"{\"v\":1,\"t\":4611686018.427387903}", DT__PAYLOAD_TIME_S, DT__PAYLOAD_TIME_RANGE, 0},
        {"{\"v\":1,\"t\":4611686018.4273877}", DT__PAYLOAD_TIME_S, 0,
         INT64_C(4611686018427387000)},
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

/* ---- a JSON number's time is a double ---- */

/* cJSON keeps a number as a double, so a time sent as a JSON number is the
 * shortest decimal that reads back to that double. Around 2026: ms, us and
 * seconds with up to 6 decimals are exact; 19-digit ns (and seconds with 9
 * decimals) are within the double's spacing, 256 ns (238 ns in s). The worst
 * error seen is printed; RFC 3339 strings stay exact. */
static void json_time_precision(void **state)
{
    (void)state;
    const int64_t t0 = INT64_C(1767225600000000000), span = INT64_C(31536000000000000);
    static const struct {
        dt__payload_time_enc enc;
        int64_t unit; /* ns per unit of the text */
        int decimals; /* written after the point, in that unit */
        int64_t bound; /* the error allowed, ns */
    } forms[] = {
        {DT__PAYLOAD_TIME_MS, 1000000, 0, 0},  {DT__PAYLOAD_TIME_US, 1000, 0, 0},
        {DT__PAYLOAD_TIME_S, 1000000000, 3, 0}, {DT__PAYLOAD_TIME_S, 1000000000, 6, 0},
        {DT__PAYLOAD_TIME_NS, 1, 0, 256},      {DT__PAYLOAD_TIME_S, 1000000000, 9, 239},
        {DT__PAYLOAD_TIME_RFC3339, 1, 0, 0},
    };
    uint64_t x = 0x3C6EF372FE94F82Bu;
    char doc[128];
    for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
        dt__payload_spec sp;
        spec_json(&sp, "v", "t", forms[f].enc);
        int64_t worst = 0, step = forms[f].unit;
        for (int d = 0; d < forms[f].decimals; d++)
            step /= 10;
        int draws = forms[f].bound > 0 ? 10000 : 2000;
        for (int i = 0; i < draws; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            int64_t t = t0 + (int64_t)(x % (uint64_t)span);
            t -= t % step; /* what the text can say */
            int64_t whole = t / forms[f].unit, frac = t % forms[f].unit / step;
            if (forms[f].enc == DT__PAYLOAD_TIME_RFC3339) {
                char r[40];
                dt__payload_fmt_rfc3339(r, sizeof r, t);
                snprintf(doc, sizeof doc, "{\"v\":1,\"t\":\"%s\"}", r);
            } else if (forms[f].decimals > 0) {
                char fs[10];
                fs[forms[f].decimals] = '\0';
                for (int k = forms[f].decimals - 1; k >= 0; k--, frac /= 10)
                    fs[k] = (char)('0' + frac % 10);
                snprintf(doc, sizeof doc, "{\"v\":1,\"t\":%lld.%s}", (long long)whole, fs);
            } else {
                snprintf(doc, sizeof doc, "{\"v\":1,\"t\":%lld}", (long long)whole);
            }
            dt__payload_value out;
            assert_reason(read_s(&sp, doc, &out), DT__PAYLOAD_OK);
            int64_t err = out.t_ns > t ? out.t_ns - t : t - out.t_ns;
            if (err > worst)
                worst = err;
        }
        print_message("%s with %d decimals around 2026: worst error %lld ns\n",
                      dt__payload_time_enc_name(forms[f].enc), forms[f].decimals,
                      (long long)worst);
        if (worst > forms[f].bound) {
            print_error("worst error %lld ns, bound %lld\n", (long long)worst,
                        (long long)forms[f].bound);
            fail();
        }
    }
}

/* ---- allocations ---- */

static const char typical[] = "{\"device\":\"th-17\",\"data\":{\"temp\":21.5,\"hum\":40},"
                              "\"ts\":\"2026-12-02T00:26:41.123Z\"}";

/* A JSON payload allocates while cJSON parses it, through the allocator the
 * reader is given (cJSON's hooks, json_hooks.c), and frees it all; a number
 * payload and rendering allocate nothing. */
static void json_allocations(void **state)
{
    (void)state;
    dtt_counter c = {0};
    dt_allocator a = dtt_allocator(&c);
    dt__payload_spec sp;
    spec_json(&sp, "data.temp", "ts", DT__PAYLOAD_TIME_RFC3339);
    dt__payload_value out;
    assert_reason(dt__payload_read(&sp, typical, strlen(typical), &a, &out), DT__PAYLOAD_OK);
    assert_true(out.value == 21.5);
    /* cJSON (Debian's 1.7.15): a node per value (6), a copy per key (5) and
     * per string value (2), and a temporary copy per number (2) */
    print_message("a typical JSON payload (6 values): %ld allocations\n", c.calls);
    assert_int_equal(c.calls, 15);
    assert_int_equal(c.live, 0);
    c.calls = 0;
    assert_reason(dt__payload_read(&sp, "{\"v\":1}", 7, &a, &out), DT__PAYLOAD_NO_VALUE);
    assert_int_equal(c.calls, 4);
    assert_int_equal(c.live, 0);
    /* refused before cJSON sees it: nothing */
    c.calls = 0;
    assert_reason(dt__payload_read(&sp, "{\"v\":1\0}", 8, &a, &out), DT__PAYLOAD_BAD_JSON);
    assert_int_equal(c.calls, 0);
    /* the number format, and a command rendered */
    dt__payload_spec num;
    memset(&num, 0, sizeof num);
    for (int i = 0; i < 100; i++)
        assert_reason(dt__payload_read(&num, "21.5", 4, &a, &out), DT__PAYLOAD_OK);
    dt__payload_template tpl;
    char err[256], buf[256];
    assert_int_equal(dt__payload_template_compile("{{\"v\":{value},\"t\":\"{t_rfc3339}\"}}", &a,
                                                  &tpl, err, sizeof err),
                     0);
    assert_true(c.calls > 0); /* the check of the template at compile time */
    assert_int_equal(c.live, 0);
    c.calls = 0;
    for (int i = 0; i < 100; i++)
        assert_true(dt__payload_render(buf, sizeof buf, &tpl, 1.5, 7, 8) > 0);
    assert_int_equal(c.calls, 0);
    /* NULL: the default allocator, not the host's cJSON hooks */
    assert_reason(dt__payload_read(&sp, typical, strlen(typical), NULL, &out), DT__PAYLOAD_OK);
}

/* Every allocation cJSON makes may fail: no_memory, nothing leaked, *out
 * untouched; the template check says so too. */
static void json_out_of_memory(void **state)
{
    (void)state;
    dt__payload_spec sp;
    spec_json(&sp, "data.temp", "ts", DT__PAYLOAD_TIME_RFC3339);
    for (long k = 1; k <= 16; k++) {
        dtt_counter c = {.fail_at = k};
        dt_allocator a = dtt_allocator(&c);
        dt__payload_value out = {.value = 5, .has_time = 6, .t_ns = 7};
        int r = dt__payload_read(&sp, typical, strlen(typical), &a, &out);
        assert_reason(r, k <= 15 ? DT__PAYLOAD_NO_MEMORY : DT__PAYLOAD_OK);
        assert_int_equal(c.live, 0);
        if (k <= 15)
            assert_true(out.value == 5 && out.has_time == 6 && out.t_ns == 7);
    }
    dtt_counter c = {.fail_at = 1};
    dt_allocator a = dtt_allocator(&c);
    size_t at = 3;
    assert_reason(dt__payload_json_check("[1]", 3, &a, &at), DT__PAYLOAD_NO_MEMORY);
    assert_int_equal(at, 0);
    c = (dtt_counter){.fail_at = 1};
    dt__payload_template tpl;
    char err[256];
    assert_int_equal(dt__payload_template_compile("[{value}]", &a, &tpl, err, sizeof err), -1);
    assert_non_null(strstr(err, "template \"[{value}]\": at character 1: out of memory"));
    assert_int_equal(c.live, 0);
}

/* ---- a decimal comma ---- */

/* cJSON swaps the '.' of a JSON number for the locale's decimal point before
 * its strtod, so a JSON payload reads the same in a locale with a decimal
 * comma; the number format and rendering do not use the locale at all. */
static void json_comma_locale(void **state)
{
    (void)state;
    dtt_comma_locale();
    assert_true(strtod("21.5", NULL) == 21.0); /* the hazard is real */
    double v;
    assert_reason(number("21.5", &v), DT__PAYLOAD_OK);
    assert_true(v == 21.5);
    assert_reason(number("21,5", &v), DT__PAYLOAD_NOT_NUMBER);
    assert_reason(json_at("{\"v\":0.125}", "v", &v), DT__PAYLOAD_OK);
    assert_true(v == 0.125);
    assert_reason(json_at("{\"v\":-1.5e-3}", "v", &v), DT__PAYLOAD_OK);
    assert_true(v == -1.5e-3);
    assert_reason(json_at("{\"v\":0,125}", "v", &v), DT__PAYLOAD_BAD_JSON);
    dt__payload_spec sp;
    dt__payload_value out;
    spec_json(&sp, "v", "t", DT__PAYLOAD_TIME_S);
    assert_reason(read_s(&sp, "{\"v\":2.5,\"t\":1764633601.125}", &out), DT__PAYLOAD_OK);
    assert_true(out.value == 2.5);
    assert_int_equal(out.t_ns, INT64_C(1764633601125000000));
    dt__payload_template tpl;
    char err[256], buf[256];
    assert_int_equal(dt__payload_template_compile("{{\"v\":{value},\"t\":{t_s}}}", NULL, &tpl,
                                                  err, sizeof err),
                     0);
    size_t n = dt__payload_render(buf, sizeof buf, &tpl, -3.5, INT64_C(1764633601125000000), 0);
    assert_string_equal(buf, "{\"v\":-3.5,\"t\":1764633601.125}");
    assert_reason(read_n(&sp, buf, n, &out), DT__PAYLOAD_OK);
    assert_true(out.value == -3.5);
    assert_int_equal(out.t_ns, INT64_C(1764633601125000000));
    /* values with fractions, rendered and read back bit for bit */
    uint64_t x = 0xB7E151628AED2A6Bu;
    for (int i = 0; i < 2000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double d = (double)(int64_t)x * 0x1p-50;
        n = dt__payload_render(buf, sizeof buf, &tpl, d, 0, 0);
        assert_reason(read_n(&sp, buf, n, &out), DT__PAYLOAD_OK);
        assert_memory_equal(&out.value, &d, sizeof d);
    }
    dtt_c_locale();
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(json_paths),
    cmocka_unit_test(json_refused),
    cmocka_unit_test(json_lax),
    cmocka_unit_test(json_prefixes),
    cmocka_unit_test(json_depth_and_size),
    cmocka_unit_test(json_times),
    cmocka_unit_test(json_time_precision),
    cmocka_unit_test(json_allocations),
    cmocka_unit_test(json_out_of_memory),
    cmocka_unit_test(json_comma_locale),
};

DTT_MAIN(tests)
