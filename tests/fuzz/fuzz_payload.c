/* libFuzzer: MQTT device payloads (src/desc/payload*.c). The input is a
 * selector byte and the payload's bytes, copied to a heap block of exactly
 * their length (ASan catches a read past n).
 *
 * selector bits 6-7, the mode:
 *   0  the number format
 *   1  json: value path paths[bits 0-2]; time path "t" in encoding
 *      bits 3-5 (0 s, 1 ms, 2 us, 3 ns, 4 rfc3339, 5-7 no time)
 *   2  as 1, booleans allowed
 *   3  the payload is a template's text (up to its first NUL): compiled,
 *      and when it compiles, rendered with values drawn from a hash of the
 *      text, and every rendering must be one JSON document
 * In modes 0-2 every conversion runs on the raw bytes too (number, the four
 * numeric time encodings, RFC 3339, the JSON check), and:
 *   - an accepted value is finite, an accepted time within DT_TIME_LIMIT;
 *   - an accepted value and time rendered through a template and read back
 *     give the same double, bit for bit, and the same ns from RFC 3339; from
 *     a JSON number (ns and s) the ns within the double's spacing there;
 *     the bare number reads back as the same double;
 *   - a time read as RFC 3339 is written and read back to the same ns;
 *   - number text that src/platform/numtext.c accepts, strtod (C locale)
 *     reads to the same double; the first 8 bytes as a double are written
 *     as printf's shortest of %.15g..%.17g would, and read back exactly;
 *   - where the reader takes the document, cJSON's getters chained along the
 *     path find the value the reader found (or nothing when it found none). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "desc/payload.h"
#include "dtwin/time.h"
#include "fuzz_util.h"
#include "platform/numtext.h"

static const char *const paths[8] = {
    "v", "data.temp", "a[0]", "[0]", "readings[1].v", "[\"k.x\"]", "a.b[0][1]", "t",
};

static int ready;
static dt__payload_template rt_tpl, bare_tpl;
static dt__payload_spec rt_ns, rt_s, rt_rfc, bare_spec;

static void compile_path(const char *text, dt__payload_path *p)
{
    char err[256];
    FUZZ_CHECK(dt__payload_path_compile(text, p, err, sizeof err) == 0);
}

static void setup(void)
{
    char err[256];
    FUZZ_CHECK(dt__payload_template_compile(
                   "{{\"v\":{value},\"n\":{t_ns},\"s\":{t_s},\"r\":\"{t_rfc3339}\",\"q\":{seq}}}",
                   NULL, &rt_tpl, err, sizeof err) == 0);
    FUZZ_CHECK(dt__payload_template_compile(NULL, NULL, &bare_tpl, err, sizeof err) == 0);
    dt__payload_spec *specs[] = {&rt_ns, &rt_s, &rt_rfc};
    const char *tp[] = {"n", "s", "r"};
    const dt__payload_time_enc enc[] = {DT__PAYLOAD_TIME_NS, DT__PAYLOAD_TIME_S,
                                        DT__PAYLOAD_TIME_RFC3339};
    for (int i = 0; i < 3; i++) {
        memset(specs[i], 0, sizeof *specs[i]);
        specs[i]->format = DT__PAYLOAD_FMT_JSON;
        compile_path("v", &specs[i]->value);
        specs[i]->has_time = 1;
        specs[i]->time_enc = enc[i];
        compile_path(tp[i], &specs[i]->time);
    }
    memset(&bare_spec, 0, sizeof bare_spec);
    ready = 1;
}

/* How far a time written as a JSON number of unit_ns ns per unit can come
 * back off: cJSON keeps a double, so up to twice its spacing in that binade
 * (the double may be in the next), plus the rounding to ns. */
static int64_t double_time_bound(int64_t t, double unit_ns)
{
    double a = fabs((double)t / unit_ns);
    if (a == 0)
        return 1;
    return (int64_t)ceil(2 * ldexp(1.0, ilogb(a) - 52) * unit_ns) + 1;
}

/* value and time through the templates and back */
static void roundtrip(double v, int64_t t)
{
    char out[512];
    size_t n = dt__payload_render(out, sizeof out, &rt_tpl, v, t, 7);
    FUZZ_CHECK(n > 0);
    const dt__payload_spec *specs[] = {&rt_ns, &rt_s, &rt_rfc};
    const double unit[] = {1.0, 1e9, 0};
    for (int i = 0; i < 3; i++) {
        dt__payload_value back;
        FUZZ_CHECK(dt__payload_read(specs[i], out, n, NULL, &back) == DT__PAYLOAD_OK);
        FUZZ_CHECK(memcmp(&back.value, &v, sizeof v) == 0);
        int64_t off = back.t_ns > t ? back.t_ns - t : t - back.t_ns;
        FUZZ_CHECK(off <= (unit[i] == 0 ? 0 : double_time_bound(t, unit[i])));
    }
    n = dt__payload_render(out, sizeof out, &bare_tpl, v, 0, 0);
    FUZZ_CHECK(n > 0);
    dt__payload_value back;
    FUZZ_CHECK(dt__payload_read(&bare_spec, out, n, NULL, &back) == DT__PAYLOAD_OK);
    FUZZ_CHECK(memcmp(&back.value, &v, sizeof v) == 0);
}

/* The node cJSON finds at path p, or NULL. */
static const cJSON *cjson_at(const cJSON *node, const dt__payload_path *p)
{
    for (int s = 0; s < p->n && node != NULL; s++) {
        if (p->step[s].is_index) {
            node = cJSON_IsArray(node) ? cJSON_GetArrayItem(node, (int)p->step[s].index) : NULL;
        } else {
            char key[DT__PAYLOAD_PATH_TEXT + 1];
            memcpy(key, p->keys + p->step[s].key_off, p->step[s].key_len);
            key[p->step[s].key_len] = '\0';
            node = cJSON_IsObject(node) ? cJSON_GetObjectItemCaseSensitive(node, key) : NULL;
        }
    }
    return node;
}

/* numtext against the C library in the C locale (the fuzzer never sets
 * another) */
static void number_text(const char *buf, size_t n)
{
    double d;
    int r = dt__num_parse(buf, n, &d);
    if (r == DT__NUM_OK || r == DT__NUM_OVERFLOW) {
        char *z = malloc(n + 1);
        FUZZ_CHECK(z != NULL);
        memcpy(z, buf, n);
        z[n] = '\0';
        size_t a = 0, b = n;
        while (a < b && strchr(" \t\n\r\v\f", z[a]) != NULL)
            a++;
        while (b > a && strchr(" \t\n\r\v\f", z[b - 1]) != NULL)
            b--;
        z[b] = '\0';
        char *end;
        double ref = strtod(z + a, &end);
        FUZZ_CHECK(end == z + b);
        if (r == DT__NUM_OK)
            FUZZ_CHECK(memcmp(&d, &ref, sizeof d) == 0);
        else
            FUZZ_CHECK(isinf(ref));
        free(z);
    }
    if (n < sizeof d)
        return;
    memcpy(&d, buf, sizeof d);
    char text[DT__NUM_TEXT], ref[64];
    size_t len = dt__num_format(text, sizeof text, d);
    if (!isfinite(d)) {
        FUZZ_CHECK(len == 0);
        return;
    }
    for (int p = 15; p <= 17; p++) {
        snprintf(ref, sizeof ref, "%.*g", p, d);
        if (strtod(ref, NULL) == d)
            break;
    }
    FUZZ_CHECK(len == strlen(text) && strcmp(text, ref) == 0);
    double back;
    FUZZ_CHECK(dt__num_parse(text, len, &back) == DT__NUM_OK);
    FUZZ_CHECK(memcmp(&back, &d, sizeof d) == 0);
}

static void raw_arithmetic(const char *buf, size_t n)
{
    double d;
    number_text(buf, n);
    if (dt__payload_number(buf, n, &d) == DT__PAYLOAD_OK)
        FUZZ_CHECK(isfinite(d));
    for (int e = DT__PAYLOAD_TIME_S; e <= DT__PAYLOAD_TIME_NS; e++) {
        int64_t t;
        if (dt__payload_time_number(buf, n, (dt__payload_time_enc)e, &t) == DT__PAYLOAD_OK)
            FUZZ_CHECK(dt_time_valid(t));
    }
    int64_t t;
    if (dt__payload_rfc3339(buf, n, &t) == DT__PAYLOAD_OK) {
        FUZZ_CHECK(dt_time_valid(t));
        char text[40];
        size_t len = dt__payload_fmt_rfc3339(text, sizeof text, t);
        int64_t back;
        FUZZ_CHECK(dt__payload_rfc3339(text, len, &back) == DT__PAYLOAD_OK && back == t);
    }
}

static uint64_t hash(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3u;
    return h;
}

static void template_mode(const uint8_t *p, size_t n)
{
    char text[DT__PAYLOAD_TPL_TEXT + 1];
    size_t len = 0;
    while (len < n && len < DT__PAYLOAD_TPL_TEXT && p[len] != 0) {
        text[len] = (char)p[len];
        len++;
    }
    text[len] = '\0';
    dt__payload_template tpl;
    char err[512];
    if (dt__payload_template_compile(text, NULL, &tpl, err, sizeof err) != 0) {
        FUZZ_CHECK(strncmp(err, "template \"", 10) == 0);
        return;
    }
    uint64_t h = hash(p, n);
    double values[] = {0.0, -1.0, 7.0, 1e21, 0.5, 1e-7, 0.0};
    memcpy(&values[6], &h, sizeof h);
    if (!isfinite(values[6]))
        values[6] = -3.25;
    int64_t times[] = {0, 1, -1, (int64_t)h, DT_TIME_LIMIT};
    uint64_t seqs[] = {0, 9, h};
    char out[DT__PAYLOAD_TPL_TEXT + DT__PAYLOAD_TPL_PARTS * DT__PAYLOAD_RENDER_NUM];
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        size_t r = dt__payload_render(out, sizeof out, &tpl, values[i], times[i % 5],
                                      seqs[i % 3]);
        FUZZ_CHECK(r > 0 && r < sizeof out && out[r] == '\0');
        FUZZ_CHECK(dt__payload_json_check(out, r, NULL, NULL) == DT__PAYLOAD_OK);
        /* one byte short: nothing */
        FUZZ_CHECK(dt__payload_render(out, r, &tpl, values[i], times[i % 5], seqs[i % 3]) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > FUZZ_MAX_INPUT)
        return 0;
    if (!ready)
        setup();
    unsigned sel = data[0], mode = sel >> 6;
    size_t n = size - 1;
    if (mode == 3) {
        template_mode(data + 1, n);
        return 0;
    }
    char *buf = malloc(n > 0 ? n : 1);
    FUZZ_CHECK(buf != NULL);
    if (n > 0)
        memcpy(buf, data + 1, n);

    dt__payload_spec spec;
    memset(&spec, 0, sizeof spec);
    if (mode > 0) {
        spec.format = DT__PAYLOAD_FMT_JSON;
        spec.allow_bool = mode == 2;
        compile_path(paths[sel & 7], &spec.value);
        unsigned enc = (sel >> 3) & 7;
        if (enc <= DT__PAYLOAD_TIME_RFC3339) {
            spec.has_time = 1;
            spec.time_enc = (dt__payload_time_enc)enc;
            compile_path("t", &spec.time);
        }
    }
    dt__payload_value out = {.value = 123.0, .has_time = 5, .t_ns = 77};
    int r = dt__payload_read(&spec, buf, n, NULL, &out);
    FUZZ_CHECK(r >= 0 && r < DT__PAYLOAD_NREASONS);
    if (r == DT__PAYLOAD_OK) {
        FUZZ_CHECK(isfinite(out.value));
        FUZZ_CHECK(out.has_time == spec.has_time);
        FUZZ_CHECK(!out.has_time ? out.t_ns == 0 : dt_time_valid(out.t_ns));
        roundtrip(out.value, out.t_ns);
    } else {
        FUZZ_CHECK(out.value == 123.0 && out.has_time == 5 && out.t_ns == 77);
    }
    raw_arithmetic(buf, n);

    int checked = mode > 0 ? dt__payload_json_check(buf, n, NULL, NULL) : -1;
    /* the check says what the reader's parse says */
    if (checked > DT__PAYLOAD_OK)
        FUZZ_CHECK(r == checked);
    else if (checked == DT__PAYLOAD_OK)
        FUZZ_CHECK(r != DT__PAYLOAD_EMPTY && r != DT__PAYLOAD_TOO_LONG && r != DT__PAYLOAD_BAD_JSON);
    if (checked == DT__PAYLOAD_OK) {
        cJSON *root = cJSON_ParseWithLength(buf, n);
        FUZZ_CHECK(root != NULL);
        const cJSON *node = cjson_at(root, &spec.value);
        if (node == NULL)
            FUZZ_CHECK(r == DT__PAYLOAD_NO_VALUE);
        else if (r == DT__PAYLOAD_OK && cJSON_IsNumber(node))
            FUZZ_CHECK(memcmp(&node->valuedouble, &out.value, sizeof out.value) == 0);
        else if (cJSON_IsNumber(node) && isfinite(node->valuedouble))
            FUZZ_CHECK(r != DT__PAYLOAD_NO_VALUE && r != DT__PAYLOAD_VALUE_NOT_NUMBER);
        cJSON_Delete(root);
    }
    free(buf);
    return 0;
}
