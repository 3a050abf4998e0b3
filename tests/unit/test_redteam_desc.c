/* Red-team cases of the description module (src/desc): the parse-once
 * lifetime (a model loaded alone, then its layers; a twin's build that fails
 * midway), duplicate and look-alike keys, sections of the wrong type, exact
 * numbers through save and load, NUL escapes, nesting and long keys, the
 * dt_config views misused, and cJSON's process-wide hooks (threads loading
 * twins with their own allocators while the host uses cJSON). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "test_util.h"

#include "alloc_counter.h"
#include "desc/desc.h" /* dt__utf8_check */
#include "dtwin/dtwin.h"

/* ---- descriptions ---- */

#define HEAD                                                                                    \
    "{\"dtwin\":1,\"name\":\"rt\",\"assets\":[{\"id\":\"tank\"}],\"signals\":["              \
    "{\"id\":\"lvl\",\"asset\":\"tank\",\"quantity\":\"length\",\"unit\":\"m\","             \
    "\"role\":\"measured\",\"noise\":{\"std\":0.01},\"limits\":{\"min\":0,\"max\":4}},"     \
    "{\"id\":\"lvl_est\",\"asset\":\"tank\",\"quantity\":\"length\",\"unit\":\"m\","         \
    "\"role\":\"estimated\",\"limits\":{\"min\":0,\"max\":4}},"                              \
    "{\"id\":\"u\",\"asset\":\"tank\",\"quantity\":\"dimensionless\",\"unit\":\"%\","        \
    "\"role\":\"commanded\",\"limits\":{\"min\":0,\"max\":100}}]"
#define MEM_OK ",\"memory\":{\"max_bytes\":67108864}"
#define SRC_OK                                                                                  \
    ",\"sources\":[{\"id\":\"m\",\"kind\":\"memory\",\"mapping\":[{\"native\":\"L\","       \
    "\"signal\":\"lvl\"}]}]"
#define SNK_OK ",\"sinks\":[{\"id\":\"k\",\"kind\":\"memory\",\"mapping\":[{\"signal\":\"u\"}]}]"
#define EST_OK                                                                                  \
    ",\"estimator\":{\"states\":[\"lvl_est\"],\"A\":[[0]],\"Q\":[0.01],\"x0\":[2],"           \
    "\"P0\":[1],\"measurements\":[{\"signal\":\"lvl\",\"H\":{\"lvl_est\":1}}]}"
#define CTL_OK                                                                                  \
    ",\"controllers\":[{\"id\":\"c\",\"kind\":\"pid\",\"input\":\"lvl_est\","               \
    "\"output\":\"u\",\"setpoint\":2,\"kp\":1,\"ki\":0.1,\"out_min\":0,\"out_max\":100}]"
#define DISP_OK ",\"dispatcher\":{\"safe\":{\"u\":0},\"max_data_age\":1}"
#define LOOP_OK ",\"loop\":{\"period\":0.1}"
#define TWIN(mem, src, snk, est, ctl, disp, loop) HEAD mem src snk est ctl disp loop "}"
#define TWIN_OK TWIN(MEM_OK, SRC_OK, SNK_OK, EST_OK, CTL_OK, DISP_OK, LOOP_OK)

static const char twin_ok[] = TWIN_OK;

static dt_model *load_model(const char *text, dt_allocator *a, int expect, dt_diag *d)
{
    dt_model_options o = DT_MODEL_OPTIONS_INIT;
    o.allocator = a;
    o.logger = dt_logger_silent();
    dt_model *m = NULL;
    int rc = dt_model_load_json(text, strlen(text), &o, &m, d);
    if (rc != expect)
        fail_msg("dt_model_load_json: %s, expected %s (%s)", dt_err_name(rc),
                 dt_err_name(expect), d->message);
    return m;
}

static int load_twin(const char *text, const dt_allocator *a, dt_twin **out, dt_diag *d)
{
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.allocator = a;
    o.logger = dt_logger_silent();
    return dt_twin_load_json(text, strlen(text), &o, out, d);
}

static char *save(const dt_model *m)
{
    size_t need = 0;
    assert_int_equal(dt_model_save_json(m, NULL, 0, &need), DT_EFULL);
    char *buf = malloc(need);
    assert_non_null(buf);
    assert_int_equal(dt_model_save_json(m, buf, need, NULL), 0);
    return buf;
}

static int same_double(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

/* ---- the parse-once lifetime ---- */

/* A model loaded on its own keeps its sections as text; the adapters and the
 * estimator built from it later parse them through the caller's allocator,
 * and nothing of that parse outlives the call. */
static void test_model_alone_then_layers(void **state)
{
    (void)state;
    dt_diag d;
    dtt_counter mc = {0};
    dt_allocator ma = dtt_allocator(&mc);
    dt_model *m = load_model(twin_ok, &ma, DT_OK, &d);
    long model_live = mc.live;

    dtt_counter ec = {0};
    dt_allocator ea = dtt_allocator(&ec);
    dt_est_config cfg = DT_EST_CONFIG_INIT;
    cfg.allocator = &ea;
    cfg.logger = dt_logger_silent();
    dt_est *est = NULL;
    int rc = dt_est_create_json(m, &cfg, &est, &d);
    if (rc != 0)
        fail_msg("dt_est_create_json: %s", d.message);
    dt_est_destroy(est);
    assert_int_equal(ec.live, 0);
    assert_true(ec.calls > 0);

    dtt_counter ic = {0};
    dt_allocator ia = dtt_allocator(&ic);
    dt_ingest_config ingc = DT_INGEST_CONFIG_INIT;
    ingc.allocator = &ia;
    ingc.logger = dt_logger_silent();
    dt_ingest *ing = NULL;
    dt_registry *reg = NULL;
    dt_io *io = NULL;
    assert_int_equal(dt_ingest_create(m, &ingc, &ing), 0);
    assert_int_equal(dt_registry_create(&ia, &reg), 0);
    rc = dt_io_create(m, ing, reg, NULL, &ia, dt_logger_silent(), &io, &d);
    if (rc != 0)
        fail_msg("dt_io_create: %s", d.message);
    dt_io_destroy(io);
    dt_registry_destroy(reg);
    dt_ingest_destroy(ing);
    assert_int_equal(ic.live, 0);

    /* the saved description builds the same twin */
    char *out = save(m);
    dt_twin *t = NULL;
    rc = load_twin(out, NULL, &t, &d);
    if (rc != 0)
        fail_msg("the saved description does not load as a twin: %s\n%s", d.message, out);
    dt_twin_destroy(t);
    free(out);

    assert_int_equal(mc.live, model_live); /* the model's allocator saw none of it */
    dt_model_destroy(m);
    assert_int_equal(mc.live, 0);
}

/* The model a twin built from is detached from the twin's parse tree when
 * the build ends: layers built from it afterwards read its kept sections. */
static void test_twin_model_after_build(void **state)
{
    (void)state;
    dtt_counter tc = {0};
    dt_allocator ta = dtt_allocator(&tc);
    dt_twin *t = NULL;
    dt_diag d;
    int rc = load_twin(twin_ok, &ta, &t, &d);
    if (rc != 0)
        fail_msg("dt_twin_load_json: %s", d.message);
    long twin_live = tc.live;
    dtt_counter ec = {0};
    dt_allocator ea = dtt_allocator(&ec);
    dt_est_config cfg = DT_EST_CONFIG_INIT;
    cfg.allocator = &ea;
    cfg.logger = dt_logger_silent();
    dt_est *est = NULL;
    assert_int_equal(dt_est_create_json(dt_twin_model(t), &cfg, &est, &d), 0);
    dt_est_destroy(est);
    assert_int_equal(ec.live, 0);
    assert_int_equal(tc.live, twin_live);
    dt_twin_destroy(t);
    assert_int_equal(tc.live, 0);
}

/* A twin's build that fails in any layer, after the model was loaded with
 * the tree attached: the tree is detached and freed, nothing leaks, and the
 * message names the path. */
static void test_failed_twin_build_frees_tree(void **state)
{
    (void)state;
    static const struct {
        const char *text, *path;
    } cases[] = {
        {TWIN(",\"memory\":{\"max_bytes\":\"x\"}", SRC_OK, SNK_OK, EST_OK, CTL_OK, DISP_OK,
              LOOP_OK),
         "memory"},
        {TWIN(MEM_OK, ",\"sources\":5", SNK_OK, EST_OK, CTL_OK, DISP_OK, LOOP_OK), "sources"},
        {TWIN(MEM_OK, ",\"sources\":[{\"id\":\"m\",\"kind\":\"nope\"}]", SNK_OK, EST_OK, CTL_OK,
              DISP_OK, LOOP_OK),
         "sources[0]"},
        {TWIN(MEM_OK, SRC_OK, ",\"sinks\":{}", EST_OK, CTL_OK, DISP_OK, LOOP_OK), "sinks"},
        {TWIN(MEM_OK, SRC_OK, SNK_OK, ",\"estimator\":[]", CTL_OK, DISP_OK, LOOP_OK),
         "estimator"},
        {TWIN(MEM_OK, SRC_OK, SNK_OK,
              ",\"estimator\":{\"states\":[\"lvl_est\"],\"A\":[[0]],\"Q\":[-1],\"x0\":[2],"
              "\"P0\":[1],\"measurements\":[{\"signal\":\"lvl\",\"H\":{\"lvl_est\":1}}]}",
              CTL_OK, DISP_OK, LOOP_OK),
         "estimator.Q"},
        {TWIN(MEM_OK, SRC_OK, SNK_OK, EST_OK, ",\"controllers\":[{\"id\":\"c\",\"kind\":\"zz\"}]",
              DISP_OK, LOOP_OK),
         "controllers[0]"},
        {TWIN(MEM_OK, SRC_OK, SNK_OK, EST_OK, CTL_OK, ",\"dispatcher\":{\"safe\":{\"zz\":0}}",
              LOOP_OK),
         "dispatcher.safe"},
        {TWIN(MEM_OK, SRC_OK, SNK_OK, EST_OK, CTL_OK, DISP_OK, ",\"loop\":5"), "loop"},
        {TWIN(MEM_OK, SRC_OK, SNK_OK, EST_OK, CTL_OK, DISP_OK, ",\"loop\":{\"period\":-1}"),
         "loop.period"},
        {TWIN(MEM_OK, SRC_OK, SNK_OK, EST_OK, CTL_OK, "", LOOP_OK), "dispatcher"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        dtt_counter c = {0};
        dt_allocator a = dtt_allocator(&c);
        dt_twin *t = (dt_twin *)(uintptr_t)0x1;
        dt_diag d;
        int rc = load_twin(cases[i].text, &a, &t, &d);
        if (rc == DT_OK || c.live != 0 || strstr(d.message, cases[i].path) != d.message)
            fail_msg("case %zu: %s, %ld live: %s", i, dt_err_name(rc), c.live, d.message);
        assert_true(t == (dt_twin *)(uintptr_t)0x1);
    }
}

/* dt_est_create_json on a model loaded alone, every allocation failed once
 * and persistently: DT_ENOMEM (never a parse error), nothing leaked. */
static void test_est_json_alone_every_allocation(void **state)
{
    (void)state;
    dt_diag d;
    dt_model *m = load_model(twin_ok, NULL, DT_OK, &d);
    long total = 0;
    for (int persistent = 0; persistent <= 1; persistent++)
        for (long n = 1; total == 0 || n <= total; n++) {
            dtt_counter c = {0};
            c.fail_at = total == 0 ? 0 : n;
            c.persistent = persistent;
            dt_allocator a = dtt_allocator(&c);
            dt_est_config cfg = DT_EST_CONFIG_INIT;
            cfg.allocator = &a;
            cfg.logger = dt_logger_silent();
            dt_est *est = NULL;
            int rc = dt_est_create_json(m, &cfg, &est, &d);
            dt_est_destroy(est);
            if (total == 0) {
                assert_int_equal(rc, 0);
                total = c.calls;
                n = 0;
                continue;
            }
            if (rc != DT_ENOMEM || c.live != 0)
                fail_msg("allocation %ld of %ld (%s): %s, %ld live: %s", n, total,
                         persistent ? "persistent" : "once", dt_err_name(rc), c.live,
                         d.message);
        }
    assert_true(total > 3);
    dt_model_destroy(m);
}

/* The peak of the bytes a load asks for: a section kept as text was printed
 * from a copy of its tree, which doubled the peak (a 16 MiB description of
 * 8 million numbers asked for 1.3 GiB at once). Now printed in place: the
 * peak stays near one tree, and a load after that reads the same numbers. */
typedef struct peak_counter {
    size_t cur, peak;
} peak_counter;

static void *peak_malloc(void *user, size_t n)
{
    peak_counter *p = user;
    size_t *b = malloc(n + sizeof(size_t) * 2);
    if (b == NULL)
        return NULL;
    b[0] = n;
    p->cur += n;
    if (p->cur > p->peak)
        p->peak = p->cur;
    return b + 2;
}

static void *peak_realloc(void *user, void *ptr, size_t n)
{
    peak_counter *p = user;
    size_t old = ptr != NULL ? ((size_t *)ptr)[-2] : 0;
    size_t *b = realloc(ptr != NULL ? (size_t *)ptr - 2 : NULL, n + sizeof(size_t) * 2);
    if (b == NULL)
        return NULL;
    b[0] = n;
    p->cur += n - old;
    if (p->cur > p->peak)
        p->peak = p->cur;
    return b + 2;
}

static void peak_free(void *user, void *ptr)
{
    peak_counter *p = user;
    if (ptr == NULL)
        return;
    p->cur -= ((size_t *)ptr)[-2];
    free((size_t *)ptr - 2);
}

static void test_kept_section_peak_memory(void **state)
{
    (void)state;
    enum { N = 100000 };
    char *text = malloc(2 * N + 256);
    assert_non_null(text);
    size_t k = (size_t)sprintf(text, "{\"dtwin\":1,\"name\":\"x\",\"assets\":[],\"signals\":[],"
                                     "\"analytics\":[");
    for (int i = 0; i < N; i++) {
        text[k++] = (char)('0' + i % 10);
        text[k++] = ',';
    }
    text[k - 1] = ']';
    text[k++] = '}';
    text[k] = '\0';
    peak_counter pc = {0, 0};
    dt_allocator a = {peak_malloc, peak_realloc, peak_free, &pc};
    dt_diag d;
    dt_model *m = load_model(text, &a, DT_OK, &d);
    /* one tree: N items of sizeof(cJSON) (64 bytes); a copy made it 2N */
    double per_value = (double)pc.peak / N;
    if (per_value > 1.5 * 64)
        fail_msg("a load of %d numbers peaked at %zu bytes (%.0f per value)", N, pc.peak,
                 per_value);
    char *out = save(m);
    assert_non_null(strstr(out, "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1"));
    free(out);
    dt_model_destroy(m);
    assert_int_equal(pc.cur, 0);
    free(text);
}

/* ---- keys ---- */

/* A key given twice is refused at any depth, in the model's part and in
 * every section, also when one spelling is a \u escape of the other. */
static void test_duplicate_keys_everywhere(void **state)
{
    (void)state;
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {TWIN(MEM_OK, SRC_OK, SNK_OK, EST_OK, CTL_OK, DISP_OK, LOOP_OK ",\"loop\":{}"),
         "loop: duplicate key"},
        {TWIN(MEM_OK, SRC_OK, SNK_OK, EST_OK, CTL_OK, DISP_OK, LOOP_OK ",\"\\u006coop\":{}"),
         "loop: duplicate key"},
        {TWIN(MEM_OK,
              ",\"sources\":[{\"id\":\"m\",\"kind\":\"memory\",\"mapping\":[{\"native\":"
              "\"L\",\"signal\":\"lvl\",\"sign\\u0061l\":\"lvl\"}]}]",
              SNK_OK, EST_OK, CTL_OK, DISP_OK, LOOP_OK),
         "sources[0].mapping[0].signal: duplicate key"},
        {TWIN(MEM_OK, SRC_OK, SNK_OK, EST_OK, CTL_OK,
              ",\"dispatcher\":{\"safe\":{\"u\":0,\"u\":100},\"max_data_age\":1}", LOOP_OK),
         "dispatcher.safe.u: duplicate key"},
        {TWIN(MEM_OK, SRC_OK, SNK_OK, EST_OK, CTL_OK, DISP_OK,
              ",\"analytics\":[[{\"a\":{\"b\":[{\"c\":1,\"c\":2}]}}]]" LOOP_OK),
         "analytics[0][0].a.b[0].c: duplicate key"},
        {"{\"dtwin\":1,\"dtwin\":1,\"name\":\"x\",\"assets\":[],\"signals\":[]}",
         "dtwin: duplicate key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        dt_diag d;
        dt_model *m = NULL;
        dt_model_options o = DT_MODEL_OPTIONS_INIT;
        o.logger = dt_logger_silent();
        int rc = dt_model_load_json(cases[i].text, strlen(cases[i].text), &o, &m, &d);
        if (rc != DT_EPARSE || strcmp(d.message, cases[i].msg) != 0)
            fail_msg("case %zu: %s \"%s\", expected \"%s\"", i, dt_err_name(rc), d.message,
                     cases[i].msg);
    }
}

/* Keys are case-sensitive: "Loop" is no section, and is refused as unknown
 * rather than ignored; so is a top-level key no layer registered. */
static void test_lookalike_top_level_keys(void **state)
{
    (void)state;
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {TWIN(MEM_OK, SRC_OK, SNK_OK, EST_OK, CTL_OK, DISP_OK, ",\"Loop\":{\"period\":0.1}"),
         "Loop: unknown key \"Loop\""},
        {TWIN(MEM_OK, SRC_OK, SNK_OK, EST_OK, CTL_OK, DISP_OK, ",\"sensors\":[]"),
         "sensors: unknown key \"sensors\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        dt_diag d;
        dt_twin *t = NULL;
        int rc = load_twin(cases[i].text, NULL, &t, &d);
        if (rc != DT_EPARSE || strcmp(d.message, cases[i].msg) != 0)
            fail_msg("case %zu: %s \"%s\", expected \"%s\"", i, dt_err_name(rc), d.message,
                     cases[i].msg);
    }
}

/* A \u0000 escape inside a string: dtwin's strings are C strings, so the key
 * "loop\u0000x" would be read as the section "loop" and the id
 * "lvl\u0000zz" as "lvl", silently, while any other JSON reader (an editor,
 * a schema validator) sees a different key. Refused with its position. */
static void test_nul_escape_refused(void **state)
{
    (void)state;
    static const char *const texts[] = {
        TWIN(MEM_OK, SRC_OK, SNK_OK, EST_OK, CTL_OK, DISP_OK, ",\"loop\\u0000x\":{\"period\":1}"),
        "{\"dtwin\":1,\"name\":\"a\\u0000b\",\"assets\":[],\"signals\":[]}",
        TWIN(MEM_OK, SRC_OK, SNK_OK, EST_OK, CTL_OK, DISP_OK, ",\"analytics\":[\"\\u0000\"]"),
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        dt_diag d;
        dt_model *m = NULL;
        dt_model_options o = DT_MODEL_OPTIONS_INIT;
        o.logger = dt_logger_silent();
        int rc = dt_model_load_json(texts[i], strlen(texts[i]), &o, &m, &d);
        if (rc != DT_EPARSE || strstr(d.message, "\\u0000") == NULL || d.line != 1 ||
            d.column < 2)
            fail_msg("case %zu: %s \"%s\" (line %d, column %d)", i, dt_err_name(rc),
                     d.message, d.line, d.column);
        dt_model_destroy(m);
    }
    dt_diag d;
    dt_model *m = load_model(texts[1], NULL, DT_EPARSE, &d);
    assert_string_equal(d.message, "\\u0000 in a string at line 1, column 21: dtwin's strings "
                                   "cannot hold a NUL character");
    /* \u without four hex digits: cJSON decodes it as a NUL, so the id
     * "pump\uzzzz_2" was read as "pump" (found by a review of the payload
     * reader) */
    static const char nohex[] =
        "{\"dtwin\":1,\"name\":\"t\",\"assets\":[{\"id\":\"pump\\uzzzz_2\"}],\"signals\":[]}";
    m = load_model(nohex, NULL, DT_EPARSE, &d);
    assert_string_equal(d.message, "\\u without four hex digits in a string at line 1, column "
                                   "44 (the JSON library would read it as a NUL character)");
    /* An escaped backslash before "u0000" is no NUL: loads. */
    static const char ok[] = "{\"dtwin\":1,\"name\":\"a\\\\u0000b\",\"assets\":[],\"signals\":[]}";
    m = load_model(ok, NULL, DT_OK, &d);
    assert_string_equal(dt_model_name(m), "a\\u0000b");
    dt_model_destroy(m);
}

/* Very long keys and deep nesting: refused with a message (cut, never
 * overflowing), within the nesting limit and at it. */
static void test_long_keys_and_nesting(void **state)
{
    (void)state;
    size_t klen = 100000;
    char *text = malloc(klen + 256);
    assert_non_null(text);
    int n = sprintf(text, "{\"dtwin\":1,\"name\":\"x\",\"assets\":[],\"signals\":[],"
                          "\"analytics\":{\"");
    memset(text + n, 'k', klen);
    sprintf(text + n + klen, "\":1e999}}");
    dt_diag d;
    dt_model *m = load_model(text, NULL, DT_EPARSE, &d);
    assert_null(m);
    assert_non_null(strstr(d.message, "not finite"));
    assert_true(strncmp(d.message, "analytics.kkkk", 14) == 0);
    free(text);

    /* 63 levels inside the top-level object (64 in all): loads; one more
     * does not. */
    for (int depth = 63; depth <= 64; depth++) {
        char buf[512];
        int k = sprintf(buf, "{\"dtwin\":1,\"name\":\"x\",\"assets\":[],\"signals\":[],"
                             "\"analytics\":");
        for (int i = 0; i < depth; i++)
            buf[k++] = '[';
        for (int i = 0; i < depth; i++)
            buf[k++] = ']';
        buf[k++] = '}';
        buf[k] = '\0';
        m = load_model(buf, NULL, depth == 63 ? DT_OK : DT_ELIMIT, &d);
        if (m != NULL) {
            char *out = save(m);
            dt_model_destroy(m);
            m = load_model(out, NULL, DT_OK, &d);
            free(out);
            dt_model_destroy(m);
        }
    }
}

/* A long key or value quoted in a message is cut at a character's start:
 * the message stays UTF-8 (it was cut inside the 20th "é"). */
static void test_quoted_names_cut_as_utf8(void **state)
{
    (void)state;
    char key[128] = "a";
    for (int i = 0; i < 30; i++)
        strcat(key, "\xc3\xa9");
    char text[512];
    sprintf(text, "{\"dtwin\":1,\"name\":\"x\",\"assets\":[],\"signals\":[],\"%s\":1}", key);
    dt_diag d;
    dt_model *m = load_model(text, NULL, DT_EPARSE, &d);
    assert_null(m);
    assert_int_equal(dt__utf8_check(d.message, strlen(d.message)), 0);
    assert_non_null(strstr(d.message, "unknown key \"a\xc3\xa9"));
    assert_non_null(strstr(d.message, "\xc3\xa9...\""));
    sprintf(text, "{\"dtwin\":1,\"name\":\"x\",\"assets\":[{\"id\":\"p\"},"
                  "{\"id\":\"c\",\"parent\":\"%s\"}],\"signals\":[]}", key);
    m = load_model(text, NULL, DT_EPARSE, &d);
    assert_int_equal(dt__utf8_check(d.message, strlen(d.message)), 0);
    assert_non_null(strstr(d.message, "unknown asset \"a"));
}

/* The adapter host's refusals name the value found, not only the rule. */
static void test_host_messages_name_the_value(void **state)
{
    (void)state;
#define S(x) HEAD ",\"sources\":" x DISP_OK "}"
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {S("{}"), "sources: expected an array, got an object"},
        {S("[5]"), "sources[0]: expected an object, got a number"},
        {S("[{\"id\":7,\"kind\":\"memory\"}]"),
         "sources[0].id: expected a non-empty string of at most 256 bytes, got a number"},
        {S("[{\"id\":\"\",\"kind\":\"memory\"}]"),
         "sources[0].id: expected a non-empty string of at most 256 bytes, got 0 bytes"},
        {S("[{\"id\":\"m\",\"kind\":\"memory\",\"ring\":-0.0}]"),
         "sources[0].ring: must be a power of two in 2..16777216, got -0"},
        {S("[{\"id\":\"m\",\"kind\":\"memory\",\"reorder\":3}]"),
         "sources[0].reorder: must be a power of two in 2..16777216, got 3"},
        {S("[{\"id\":\"m\",\"kind\":\"memory\",\"timeout\":5e-324}]"), NULL},
        {S("[{\"id\":\"m\",\"kind\":\"memory\",\"timeout\":0}]"),
         "sources[0].timeout: must be in (0, 86400] seconds, got 0"},
        {S("[{\"id\":\"m\",\"kind\":\"memory\",\"lateness\":-1e-300}]"),
         "sources[0].lateness: must be in 0..3600 seconds, got -1e-300"},
        {S("[{\"id\":\"m\",\"kind\":\"memory\",\"max_hold\":3600.0000000000005}]"),
         "sources[0].max_hold: must be in (0, 3600] seconds, got 3600.0000000000005"},
        {S("[{\"id\":\"m\",\"kind\":\"memory\",\"clock\":[]}]"),
         "sources[0].clock: expected an object, got an array"},
        {S("[{\"id\":\"m\",\"kind\":\"memory\",\"clock\":{\"windows\":2.5}}]"),
         "sources[0].clock: windows must be an integer in 2..64, got 2.5"},
        {S("[{\"id\":\"m\",\"kind\":\"memory\",\"mapping\":{}}]"),
         "sources[0].mapping: expected an array, got an object"},
        {S("[{\"id\":\"m\",\"kind\":\"memory\",\"mapping\":[null]}]"),
         "sources[0].mapping[0]: expected an object, got null"},
        {S("[{\"id\":\"m\",\"kind\":\"udp\",\"auth\":\"none\",\"source_id\":1,\"port\":0,"
           "\"mapping\":[{\"channel\":-0.5,\"signal\":\"lvl\"}]}]"),
         "sources[0].mapping[0].channel: must be an integer in 0..4294967295, got -0.5"},
    };
#undef S
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        dt_diag d;
        dt_twin *t = NULL;
        dt_twin_options o = DT_TWIN_OPTIONS_INIT;
        o.logger = dt_logger_silent();
        o.validate = 1;
        o.replay = 1;
        int rc = dt_twin_load_json(cases[i].text, strlen(cases[i].text), &o, &t, &d);
        if (cases[i].msg == NULL) {
            if (rc != DT_OK)
                fail_msg("case %zu: %s", i, d.message);
            dt_twin_destroy(t);
            continue;
        }
        if (rc != DT_EPARSE || strcmp(d.message, cases[i].msg) != 0)
            fail_msg("case %zu: %s \"%s\", expected \"%s\"", i, dt_err_name(rc), d.message,
                     cases[i].msg);
    }
}

/* ---- exact numbers through save and load ---- */

/* The model's own numbers (limits, period, noise) read back to the same
 * double after a save: cJSON prints 15 digits whenever they read back within
 * a few ulps, so 0.005000000000000001 came back as 0.005. */
static void test_model_numbers_exact_on_save(void **state)
{
    (void)state;
    static const char text[] =
        "{\"dtwin\":1,\"name\":\"n\",\"assets\":[{\"id\":\"a\"}],\"signals\":["
        "{\"id\":\"s\",\"asset\":\"a\",\"quantity\":\"length\",\"unit\":\"m\","
        "\"role\":\"measured\",\"limits\":{\"min\":-0.0,\"max\":0.005000000000000001},"
        "\"period\":0.30000000000000004,\"noise\":{\"std\":1.0000000000000002}},"
        "{\"id\":\"t\",\"asset\":\"a\",\"quantity\":\"length\",\"unit\":\"m\","
        "\"role\":\"measured\",\"limits\":{\"min\":4.9406564584124654e-324,"
        "\"max\":1.7976931348623157e308},"
        "\"noise\":{\"variance\":2.2250738585072009e-308}}]}";
    dt_diag d;
    dt_model *m = load_model(text, NULL, DT_OK, &d);
    char *out = save(m);
    dt_model *m2 = load_model(out, NULL, DT_OK, &d);
    for (size_t i = 0; i < dt_model_signal_count(m); i++) {
        const dt_signal_info *a = dt_model_signal(m, (dt_signal_id)i);
        const dt_signal_info *b = dt_model_signal(m2, (dt_signal_id)i);
        if (!same_double(a->min, b->min) || !same_double(a->max, b->max) ||
            !same_double(a->noise_var, b->noise_var) || a->period != b->period)
            fail_msg("signal %zu: min %.17g/%.17g max %.17g/%.17g noise %.17g/%.17g period "
                     "%lld/%lld\n%s",
                     i, a->min, b->min, a->max, b->max, a->noise_var, b->noise_var,
                     (long long)a->period, (long long)b->period, out);
    }
    char *out2 = save(m2);
    assert_string_equal(out, out2);
    free(out);
    free(out2);
    dt_model_destroy(m);
    dt_model_destroy(m2);
}

/* A reserved section that is a bare number ("latency" takes any value):
 * kept and saved exactly, like numbers inside a section. */
static void test_number_section_exact_on_save(void **state)
{
    (void)state;
    static const char *const vals[] = {"0.005000000000000001", "-0", "4.9406564584124654e-324",
                                       "1.0000000000000002", "123456789.00000001"};
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
        char text[256];
        sprintf(text, "{\"dtwin\":1,\"name\":\"n\",\"assets\":[],\"signals\":[],"
                      "\"latency\":%s,\"analytics\":[%s]}",
                vals[i], vals[i]);
        double want = strtod(vals[i], NULL);
        dt_diag d;
        dt_model *m = load_model(text, NULL, DT_OK, &d);
        char *out = save(m);
        cJSON *j = cJSON_Parse(out);
        assert_non_null(j);
        double lat = cJSON_GetObjectItem(j, "latency")->valuedouble;
        double an = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "analytics"), 0)->valuedouble;
        if (!same_double(lat, want) || !same_double(an, want))
            fail_msg("%s saved as latency %.17g, analytics[0] %.17g:\n%s", vals[i], lat, an,
                     out);
        cJSON_Delete(j);
        free(out);
        dt_model_destroy(m);
    }
}

/* Numbers out of a double's range are refused wherever they are, with the
 * path; subnormals and -0 are numbers like any other. */
static void test_numbers_out_of_range(void **state)
{
    (void)state;
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {TWIN(MEM_OK, SRC_OK, SNK_OK, EST_OK, CTL_OK, DISP_OK, ",\"loop\":{\"period\":1e400}"),
         "loop.period: number out of range (not finite)"},
        {TWIN(MEM_OK, SRC_OK, SNK_OK, EST_OK, CTL_OK, DISP_OK, ",\"latency\":-1e400"),
         "latency: number out of range (not finite)"},
        {TWIN(MEM_OK, SRC_OK, SNK_OK, EST_OK, CTL_OK, DISP_OK,
              ",\"analytics\":{\"a\":[0,{\"b\":1e309}]}"),
         "analytics.a[1].b: number out of range (not finite)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        dt_diag d;
        dt_model *m = NULL;
        dt_model_options o = DT_MODEL_OPTIONS_INIT;
        o.logger = dt_logger_silent();
        int rc = dt_model_load_json(cases[i].text, strlen(cases[i].text), &o, &m, &d);
        if (rc != DT_EPARSE || strcmp(d.message, cases[i].msg) != 0)
            fail_msg("case %zu: %s \"%s\", expected \"%s\"", i, dt_err_name(rc), d.message,
                     cases[i].msg);
    }
}

/* ---- the public views misused ---- */

static void test_config_views_misuse(void **state)
{
    (void)state;
    const char *s = "unchanged";
    double x = 42;
    int b = 7;
    assert_null(dt_config_get(NULL, "a"));
    assert_null(dt_config_at(NULL, 0));
    assert_int_equal(dt_config_len(NULL), 0);
    assert_int_equal(dt_config_string(NULL, &s), DT_ENOTFOUND);
    assert_int_equal(dt_config_number(NULL, &x), DT_ENOTFOUND);
    assert_int_equal(dt_config_bool(NULL, &b), DT_ENOTFOUND);
    assert_string_equal(s, "unchanged");
    assert_true(x == 42 && b == 7);
}

/* A source adapter sees its object through dt_config: wrong types, keys
 * absent, indices out of range, NULL out pointers. */
static int probe_checked;

static int probe_open(void *self, dt_source_ctx *ctx, const dt_config *cfg)
{
    (void)self, (void)ctx;
    const char *s = "keep";
    double x = 1.5;
    int b = 3;
    const dt_config *arr = dt_config_get(cfg, "arr");
    const dt_config *num = dt_config_get(cfg, "num");
    const dt_config *str = dt_config_get(cfg, "str");
    int ok = arr != NULL && num != NULL && str != NULL;
    ok = ok && dt_config_get(cfg, "ARR") == NULL && dt_config_get(cfg, NULL) == NULL;
    ok = ok && dt_config_get(arr, "0") == NULL && dt_config_at(cfg, 0) == NULL;
    ok = ok && dt_config_len(cfg) == 7 && dt_config_len(arr) == 3 && dt_config_len(num) == 0;
    ok = ok && dt_config_at(arr, 3) == NULL && dt_config_at(arr, (size_t)-1) == NULL &&
         dt_config_at(arr, (size_t)1 << 32) == NULL;
    ok = ok && dt_config_string(num, &s) == DT_EPARSE && dt_config_number(str, &x) == DT_EPARSE &&
         dt_config_bool(num, &b) == DT_EPARSE && dt_config_number(arr, &x) == DT_EPARSE;
    ok = ok && dt_config_number(dt_config_get(cfg, "nul"), &x) == DT_EPARSE;
    ok = ok && dt_config_string(str, NULL) == DT_ENOTFOUND && dt_config_number(num, NULL) ==
                                                                    DT_ENOTFOUND;
    ok = ok && strcmp(s, "keep") == 0 && x == 1.5 && b == 3;
    ok = ok && dt_config_number(num, &x) == 0 && same_double(x, -0.0);
    ok = ok && dt_config_number(dt_config_at(arr, 2), &x) == 0 && x == 4.9406564584124654e-324;
    probe_checked = ok ? 1 : -1;
    return 0;
}

static const char *const probe_keys[] = {"arr", "num", "str", "nul", NULL};
static const dt_source_ops probe_ops = {
    .abi = DT_SOURCE_ABI, .kind = "probe", .keys = probe_keys, .open = probe_open};

static void test_config_views_in_adapter(void **state)
{
    (void)state;
    static const char text[] =
        HEAD ",\"sources\":[{\"id\":\"p\",\"kind\":\"probe\",\"arr\":[1,\"x\",4.9406564584124654e-324],"
             "\"num\":-0.0,\"str\":\"s\",\"nul\":null,\"mapping\":[]}]" DISP_OK "}";
    dt_registry *reg = NULL;
    assert_int_equal(dt_registry_create(NULL, &reg), 0);
    assert_int_equal(dt_registry_add_source(reg, &probe_ops), 0);
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    o.registry = reg;
    dt_twin *t = NULL;
    dt_diag d;
    int rc = dt_twin_load_json(text, sizeof text - 1, &o, &t, &d);
    if (rc != 0)
        fail_msg("%s", d.message);
    assert_int_equal(probe_checked, 1);
    dt_twin_destroy(t);
    dt_registry_destroy(reg);
}

/* ---- cJSON's hooks ---- */

static atomic_long host_allocs, host_frees;

static void *host_malloc(size_t n)
{
    atomic_fetch_add(&host_allocs, 1);
    return malloc(n);
}

static void host_free(void *p)
{
    if (p != NULL)
        atomic_fetch_add(&host_frees, 1);
    free(p);
}

/* dt_json_set_hooks with one of the two NULL changes nothing. */
static void test_set_hooks_one_null(void **state)
{
    (void)state;
    assert_int_equal(dt_json_set_hooks(host_malloc, host_free), 0);
    assert_int_equal(dt_json_set_hooks(NULL, free), DT_EINVAL);
    assert_int_equal(dt_json_set_hooks(malloc, NULL), DT_EINVAL);
    long before = atomic_load(&host_allocs);
    cJSON *j = cJSON_Parse("[1,2]");
    assert_true(atomic_load(&host_allocs) > before); /* still the host's */
    cJSON_Delete(j);
    assert_int_equal(dt_json_set_hooks(NULL, NULL), 0);
    before = atomic_load(&host_allocs);
    j = cJSON_Parse("[1,2]");
    cJSON_Delete(j);
    assert_int_equal(atomic_load(&host_allocs), before);
}

typedef struct worker {
    int id;
    int loops;
    long calls;
    long live;
    int rc;
    char msg[sizeof(((dt_diag *)0)->message)];
    const dt_model *shared; /* a model loaded alone, read by every thread */
} worker;

static void *load_twins(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < w->loops && w->rc == 0; i++) {
        dtt_counter c = {0};
        dt_allocator a = dtt_allocator(&c);
        dt_twin *t = NULL;
        dt_diag d;
        w->rc = load_twin(twin_ok, &a, &t, &d);
        if (w->rc != 0) {
            snprintf(w->msg, sizeof w->msg, "%s", d.message);
            break;
        }
        dt_model *m = NULL;
        char *out = NULL;
        size_t need = 0;
        (void)dt_model_save_json(dt_twin_model(t), NULL, 0, &need);
        out = malloc(need);
        w->rc = dt_model_save_json(dt_twin_model(t), out, need, NULL);
        dt_model_options mo = DT_MODEL_OPTIONS_INIT;
        mo.allocator = &a;
        mo.logger = dt_logger_silent();
        if (w->rc == 0)
            w->rc = dt_model_load_json(out, need, &mo, &m, &d);
        free(out);
        dt_model_destroy(m);
        dt_twin_destroy(t);
        dt_est_config ec = DT_EST_CONFIG_INIT;
        ec.allocator = &a;
        ec.logger = dt_logger_silent();
        dt_est *est = NULL;
        if (w->rc == 0)
            w->rc = dt_est_create_json(w->shared, &ec, &est, &d);
        dt_est_destroy(est);
        w->calls += c.calls;
        w->live += c.live;
    }
    return NULL;
}

/* Threads load twins, each with its own counting allocator, while the main
 * thread parses and prints with the host's hooks: every allocator sees its
 * own twin's allocations only (all freed), the host's hooks only the
 * host's. */
static void test_threads_load_while_host_uses_cjson(void **state)
{
    (void)state;
    assert_int_equal(dt_json_set_hooks(host_malloc, host_free), 0);
    atomic_store(&host_allocs, 0);
    atomic_store(&host_frees, 0);
    dt_diag d;
    dt_model *shared = load_model(twin_ok, NULL, DT_OK, &d);
    enum { N = 3 };
    worker w[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].id = i;
        w[i].loops = 20;
        w[i].shared = shared;
        assert_int_equal(pthread_create(&th[i], NULL, load_twins, &w[i]), 0);
    }
    long host_parses = 0;
    for (int k = 0; k < 2000; k++) {
        cJSON *j = cJSON_Parse("{\"host\":[1,2,3,{\"deep\":\"value\"}],\"n\":0.1}");
        assert_non_null(j);
        char *p = cJSON_PrintUnformatted(j);
        assert_non_null(p);
        cJSON_free(p);
        cJSON_Delete(j);
        host_parses++;
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        if (w[i].rc != 0)
            fail_msg("thread %d: %s %s", i, dt_err_name(w[i].rc), w[i].msg);
        assert_int_equal(w[i].live, 0);
        assert_true(w[i].calls > 0);
    }
    /* Each host parse allocates a fixed count; the threads added none. */
    long per = atomic_load(&host_allocs) / host_parses;
    assert_int_equal(atomic_load(&host_allocs), per * host_parses);
    assert_int_equal(atomic_load(&host_allocs), atomic_load(&host_frees));
    assert_int_equal(dt_json_set_hooks(NULL, NULL), 0);
    dt_model_destroy(shared);
}

/* cJSON failing inside a twin's load (the twin's allocator runs out while
 * the description is parsed): DT_ENOMEM, never a syntax error. */
static void test_oom_inside_cjson_is_enomem(void **state)
{
    (void)state;
    for (long n = 1; n <= 12; n++) {
        dtt_counter c = {0};
        c.fail_at = n;
        dt_allocator a = dtt_allocator(&c);
        dt_twin *t = NULL;
        dt_diag d;
        int rc = load_twin(twin_ok, &a, &t, &d);
        if (rc != DT_ENOMEM || c.live != 0)
            fail_msg("allocation %ld: %s, %ld live: %s", n, dt_err_name(rc), c.live, d.message);
    }
}

/* The host installs its own hooks with cJSON_InitHooks, and they refuse an
 * allocation while a description is parsed: dtwin cannot see that failure,
 * and reports a syntax error where it happened (docs/model.md says so);
 * nothing leaks. */
static long host_fail_at, host_calls;

static void *failing_host_malloc(size_t n)
{
    if (++host_calls == host_fail_at)
        return NULL;
    return host_malloc(n);
}

static void test_host_hooks_failing(void **state)
{
    (void)state;
    cJSON_Hooks h = {failing_host_malloc, host_free};
    cJSON_InitHooks(&h);
    for (host_fail_at = 1; host_fail_at <= 5; host_fail_at++) {
        host_calls = 0;
        atomic_store(&host_allocs, 0);
        atomic_store(&host_frees, 0);
        dtt_counter c = {0};
        dt_allocator a = dtt_allocator(&c);
        dt_diag d;
        dt_model *m = load_model(twin_ok, &a, DT_EPARSE, &d);
        assert_null(m);
        assert_true(strncmp(d.message, "JSON syntax error at line 1", 27) == 0);
        assert_int_equal(c.live, 0);
        assert_int_equal(atomic_load(&host_allocs), atomic_load(&host_frees));
    }
    assert_int_equal(dt_json_set_hooks(NULL, NULL), 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_model_alone_then_layers),
    cmocka_unit_test(test_twin_model_after_build),
    cmocka_unit_test(test_failed_twin_build_frees_tree),
    cmocka_unit_test(test_est_json_alone_every_allocation),
    cmocka_unit_test(test_kept_section_peak_memory),
    cmocka_unit_test(test_duplicate_keys_everywhere),
    cmocka_unit_test(test_lookalike_top_level_keys),
    cmocka_unit_test(test_nul_escape_refused),
    cmocka_unit_test(test_long_keys_and_nesting),
    cmocka_unit_test(test_quoted_names_cut_as_utf8),
    cmocka_unit_test(test_host_messages_name_the_value),
    cmocka_unit_test(test_model_numbers_exact_on_save),
    cmocka_unit_test(test_number_section_exact_on_save),
    cmocka_unit_test(test_numbers_out_of_range),
    cmocka_unit_test(test_config_views_misuse),
    cmocka_unit_test(test_config_views_in_adapter),
    cmocka_unit_test(test_set_hooks_one_null),
    cmocka_unit_test(test_threads_load_while_host_uses_cjson),
    cmocka_unit_test(test_oom_inside_cjson_is_enomem),
    cmocka_unit_test(test_host_hooks_failing),
};

DTT_MAIN(tests)
