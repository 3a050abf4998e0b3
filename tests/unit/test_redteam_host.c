/* Red-team cases of the adapter host cut from its built-ins: the registry's
 * copies of older tables and its per-kind contexts, the loop hooks'
 * aggregation (dt_io_watches / ready / wake_at / wake) against hostile
 * adapters and against twins whose adapters were never opened, the sim
 * kinds' shared plants across twins, the libuv driver's poll handles and wake
 * timer, and the accounting of the out-of-tree example kind (unix_lines).
 * Each test is the smallest reproduction of one attack; a test that guards
 * what held says so. */
#define _DEFAULT_SOURCE /* uv.h, socketpair, dup2 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "test_util.h"

#include "alloc_counter.h"
#include "dtwin/dtwin.h"
#include "dtwin/uv.h"
#include "unix_lines.h"

/* ---- a kind with every hook, driven by the test ---- */

#define HK_MAX 16   /* instances: sources 0..7, sinks 8..15 */
#define HK_WATCH 80 /* descriptors one instance may name here */

typedef struct hk {
    int idx;
    int opened;
} hk;

static dt_watch g_w[HK_MAX][HK_WATCH];
static size_t g_nw[HK_MAX];   /* descriptors instance i names */
static size_t g_said[HK_MAX]; /* what its watches() returns; 0: g_nw */
static int g_ready[HK_MAX], g_wake[HK_MAX], g_poll[HK_MAX], g_apply[HK_MAX];
static dt_time g_wake_at[HK_MAX];
static int g_unopened_calls; /* a hook or apply reached an instance never opened */
static long g_wake_at_calls;  /* beyond 100000 every wish is withdrawn (a hang's way out) */
static int g_src_n, g_snk_n;
static int g_order[64], g_n_order; /* 1: a sink poll, 2: an apply, in call order */
static int g_poll_rc;
static void (*g_on_ready)(int idx, int fd, unsigned events);
static void (*g_on_wake)(int idx);

static void reset(void)
{
    memset(g_w, 0, sizeof g_w);
    memset(g_nw, 0, sizeof g_nw);
    memset(g_said, 0, sizeof g_said);
    memset(g_ready, 0, sizeof g_ready);
    memset(g_wake, 0, sizeof g_wake);
    memset(g_poll, 0, sizeof g_poll);
    memset(g_apply, 0, sizeof g_apply);
    for (int i = 0; i < HK_MAX; i++)
        g_wake_at[i] = DT_TIME_MAX;
    g_unopened_calls = g_src_n = g_snk_n = g_n_order = g_poll_rc = 0;
    g_wake_at_calls = 0;
    g_on_ready = NULL;
    g_on_wake = NULL;
}

static int hk_open(void *self, dt_source_ctx *ctx, const dt_config *cfg)
{
    (void)ctx, (void)cfg;
    hk *h = self;
    h->idx = g_src_n++;
    h->opened = 1;
    return 0;
}

static int hs_open(void *self, dt_sink_ctx *ctx, const dt_config *cfg)
{
    (void)ctx, (void)cfg;
    hk *h = self;
    h->idx = 8 + g_snk_n++;
    h->opened = 1;
    return 0;
}

static size_t hk_watches(const void *self, dt_watch *out, size_t max)
{
    const hk *h = self;
    if (!h->opened) {
        g_unopened_calls++;
        return 0;
    }
    for (size_t j = 0; j < g_nw[h->idx] && j < max; j++)
        out[j] = g_w[h->idx][j];
    return g_said[h->idx] ? g_said[h->idx] : g_nw[h->idx];
}

static void hk_ready(void *self, int fd, unsigned events, dt_time now)
{
    (void)now;
    hk *h = self;
    if (!h->opened) {
        g_unopened_calls++;
        return;
    }
    g_ready[h->idx]++;
    if (g_on_ready != NULL)
        g_on_ready(h->idx, fd, events);
}

static dt_time hk_wake_at(const void *self)
{
    const hk *h = self;
    if (!h->opened) {
        g_unopened_calls++;
        return DT_TIME_MAX;
    }
    if (++g_wake_at_calls > 100000)
        return DT_TIME_MAX;
    return g_wake_at[h->idx];
}

static void hk_wake(void *self, dt_time now)
{
    (void)now;
    hk *h = self;
    if (!h->opened) {
        g_unopened_calls++;
        return;
    }
    g_wake[h->idx]++;
    if (g_on_wake != NULL)
        g_on_wake(h->idx);
}

static int hs_apply(void *self, const dt_command *cmd, const dt_mapping *map)
{
    (void)cmd, (void)map;
    hk *h = self;
    if (!h->opened) {
        g_unopened_calls++;
        return DT_EIO;
    }
    g_apply[h->idx]++;
    if (g_n_order < 64)
        g_order[g_n_order++] = 2;
    return 0;
}

static int hs_poll(void *self, dt_time now)
{
    (void)now;
    hk *h = self;
    if (!h->opened) {
        g_unopened_calls++;
        return 0;
    }
    g_poll[h->idx]++;
    if (g_n_order < 64)
        g_order[g_n_order++] = 1;
    return g_poll_rc;
}

static const char *const hk_keys[] = {"note", NULL};

static const dt_source_ops hk_ops = {
    .abi = DT_SOURCE_ABI,
    .kind = "hk",
    .instance_size = sizeof(hk),
    .keys = hk_keys,
    .open = hk_open,
    .watches = hk_watches,
    .ready = hk_ready,
    .wake_at = hk_wake_at,
    .wake = hk_wake,
};

/* wake without wake_at: it never asked */
static const dt_source_ops hk_nowish_ops = {
    .abi = DT_SOURCE_ABI,
    .kind = "hk_nowish",
    .instance_size = sizeof(hk),
    .open = hk_open,
    .wake = hk_wake,
};

/* a wish and no wake: nothing ever satisfies it */
static const dt_source_ops hk_wishonly_ops = {
    .abi = DT_SOURCE_ABI,
    .kind = "hk_wishonly",
    .instance_size = sizeof(hk),
    .open = hk_open,
    .wake_at = hk_wake_at,
};

static const dt_sink_ops hs_ops = {
    .abi = DT_SINK_ABI,
    .kind = "hs",
    .instance_size = sizeof(hk),
    .open = hs_open,
    .apply = hs_apply,
    .poll = hs_poll,
    .watches = hk_watches,
    .ready = hk_ready,
    .wake_at = hk_wake_at,
    .wake = hk_wake,
};

#define DOC(sources, sinks)                                                                   \
    "{\"dtwin\":1,\"name\":\"rt\",\"assets\":[{\"id\":\"p\"}],\"signals\":["                    \
    "{\"id\":\"y\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\"}," \
    "{\"id\":\"u\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\","                    \
    "\"role\":\"commanded\","                                                                  \
    "\"limits\":{\"min\":-10,\"max\":10}}],"                                                    \
    "\"sources\":[" sources "],\"sinks\":[" sinks "],"                                          \
    "\"dispatcher\":{\"max_data_age\":10,\"safe\":{\"u\":0}},\"loop\":{\"period\":0.01}}"

#define SRC(id, kind) "{\"id\":\"" id "\",\"kind\":\"" kind "\"}"
#define SNK(id, kind)                                                                         \
    "{\"id\":\"" id "\",\"kind\":\"" kind "\",\"mapping\":[{\"native\":\"u\",\"signal\":\"u\"}]}"

static dt_registry *mkreg(void)
{
    dt_registry *reg = NULL;
    assert_int_equal(dt_registry_create(NULL, &reg), 0);
    assert_int_equal(dt_registry_add_source(reg, &hk_ops), 0);
    assert_int_equal(dt_registry_add_source(reg, &hk_nowish_ops), 0);
    assert_int_equal(dt_registry_add_source(reg, &hk_wishonly_ops), 0);
    assert_int_equal(dt_registry_add_sink(reg, &hs_ops), 0);
    return reg;
}

static dt_twin *load(dt_registry *reg, const char *doc, int replay, int validate)
{
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.registry = reg;
    o.logger = dt_logger_silent();
    o.replay = replay;
    o.validate = validate;
    dt_twin *t = NULL;
    dt_diag d;
    int rc = dt_twin_load_json(doc, strlen(doc), &o, &t, &d);
    if (rc != 0)
        print_error("load: %s (%s)\n", d.message, dt_strerror(rc));
    assert_int_equal(rc, 0);
    return t;
}

/* ===================== registry ===================== */

/* The layouts adapters compiled against older headers have. */
struct v1_source {
    uint32_t abi;
    const char *kind;
    size_t instance_size;
    const char *const *keys;
    int (*open)(void *, dt_source_ctx *, const dt_config *);
    int (*poll)(void *, dt_time);
    void (*close)(void *);
};
struct v2_source {
    struct v1_source v1;
    int (*validate)(dt_source_ctx *, const dt_config *);
    size_t (*counters)(const void *, dt_counter *, size_t);
    double (*progress)(const void *);
};
struct v1_sink {
    uint32_t abi;
    const char *kind;
    size_t instance_size;
    const char *const *keys;
    int (*open)(void *, dt_sink_ctx *, const dt_config *);
    int (*apply)(void *, const dt_command *, const dt_mapping *);
    void (*close)(void *);
};
struct v2_sink {
    struct v1_sink v1;
    int (*validate)(dt_sink_ctx *, const dt_config *);
    size_t (*counters)(const void *, dt_counter *, size_t);
};

/* Held: tables of versions 1 and 2 in heap blocks of exactly their size
 * (ASan sees any read past them) are copied, their later members NULL, and
 * run after the block is freed (the registry keeps its copy). */
static void test_reg_older_tables_exact_heap(void **state)
{
    (void)state;
    reset();
    dt_registry *reg = NULL;
    assert_int_equal(dt_registry_create(NULL, &reg), 0);
    assert_int_equal(sizeof(struct v1_source), offsetof(dt_source_ops, validate));
    assert_int_equal(sizeof(struct v2_source), offsetof(dt_source_ops, watches));
    assert_int_equal(sizeof(struct v1_sink), offsetof(dt_sink_ops, validate));
    assert_int_equal(sizeof(struct v2_sink), offsetof(dt_sink_ops, poll));

    struct v1_source *s1 = malloc(sizeof *s1);
    struct v2_source *s2 = malloc(sizeof *s2);
    struct v1_sink *k1 = malloc(sizeof *k1);
    struct v2_sink *k2 = malloc(sizeof *k2);
    assert_true(s1 && s2 && k1 && k2);
    *s1 = (struct v1_source){1, "s1", sizeof(hk), NULL, hk_open, NULL, NULL};
    *s2 = (struct v2_source){{2, "s2", sizeof(hk), NULL, hk_open, NULL, NULL}, NULL, NULL, NULL};
    *k1 = (struct v1_sink){1, "k1", sizeof(hk), NULL, hs_open, hs_apply, NULL};
    *k2 = (struct v2_sink){{2, "k2", sizeof(hk), NULL, hs_open, hs_apply, NULL}, NULL, NULL};
    assert_int_equal(dt_registry_add_source(reg, (const dt_source_ops *)(void *)s1), 0);
    assert_int_equal(dt_registry_add_source(reg, (const dt_source_ops *)(void *)s2), 0);
    assert_int_equal(dt_registry_add_sink(reg, (const dt_sink_ops *)(void *)k1), 0);
    assert_int_equal(dt_registry_add_sink(reg, (const dt_sink_ops *)(void *)k2), 0);
    free(s1), free(s2), free(k1), free(k2);

    const dt_source_ops *c1 = dt_registry_source(reg, "s1");
    const dt_source_ops *c2 = dt_registry_source(reg, "s2");
    const dt_sink_ops *d1 = dt_registry_sink(reg, "k1");
    const dt_sink_ops *d2 = dt_registry_sink(reg, "k2");
    assert_true(c1 && c2 && d1 && d2);
    assert_null(c1->validate);
    assert_null(c1->watches);
    assert_null(c1->wake);
    assert_null(c2->watches);
    assert_null(c2->ready);
    assert_null(c2->wake_at);
    assert_null(c2->wake);
    assert_null(d1->validate);
    assert_null(d1->poll);
    assert_null(d2->poll);
    assert_null(d2->watches);
    assert_null(d2->wake);
    /* and they run, with no hook: nothing watched, no wish */
    dt_twin *t =
        load(reg, DOC(SRC("a", "s1") "," SRC("b", "s2"), SNK("c", "k1") "," SNK("d", "k2")), 0, 0);
    dt_io *io = dt_twin_io(t);
    assert_int_equal(dt_io_watches(io, NULL, 0), 0);
    assert_true(dt_io_wake_at(io) == DT_TIME_MAX);
    assert_int_equal(dt_twin_start(t, 0), 0);
    assert_int_equal(dt_twin_step(t, DT_NS_PER_MS), 0);
    dt_command cmd = {.signal = 1, .seq = 1, .value = 1};
    g_apply[8] = g_apply[9] = 0;
    assert_int_equal(dt_io_apply(io, &cmd), 0);
    assert_int_equal(g_apply[8] + g_apply[9], 2);
    dt_twin_destroy(t);
    dt_registry_destroy(reg);
}

/* Held: 64 kinds of each role, the 65th refused with DT_ELIMIT leaving the
 * registry as it was; each kind keeps its own context. */
static void test_reg_64_kinds(void **state)
{
    (void)state;
    static char names[2][100][8];
    static int ctx[2][100];
    dt_registry *reg = NULL;
    assert_int_equal(dt_registry_create(NULL, &reg), 0);
    size_t builtin_src = 0, builtin_snk = 0;
    const char *b[] = {"memory", "csv", "udp", "sim", "child", "twin", "mqtt"};
    const char *bs[] = {"memory", "csvlog", "udp", "sim", "twin", "mqtt"};
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++)
        builtin_src += dt_registry_source(reg, b[i]) != NULL;
    for (size_t i = 0; i < sizeof bs / sizeof bs[0]; i++)
        builtin_snk += dt_registry_sink(reg, bs[i]) != NULL;
    size_t added[2] = {0, 0};
    for (int role = 0; role < 2; role++) {
        for (int i = 0; i < 100; i++) {
            (void)snprintf(names[role][i], sizeof names[role][i], "k%d", i);
            int rc;
            if (role == 0) {
                dt_source_ops o = {.abi = DT_SOURCE_ABI, .kind = names[0][i], .open = hk_open};
                rc = dt_registry_add_source_kind(reg, &o, &ctx[0][i]);
            } else {
                dt_sink_ops o = {.abi = DT_SINK_ABI, .kind = names[1][i], .open = hs_open,
                                 .apply = hs_apply};
                rc = dt_registry_add_sink_kind(reg, &o, &ctx[1][i]);
            }
            if (rc == DT_ELIMIT)
                break;
            assert_int_equal(rc, 0);
            added[role]++;
        }
    }
    assert_int_equal(builtin_src + added[0], 64);
    assert_int_equal(builtin_snk + added[1], 64);
    assert_null(dt_registry_source(reg, names[0][added[0]]));
    assert_null(dt_registry_sink(reg, names[1][added[1]]));
    for (size_t i = 0; i < added[0]; i++)
        assert_ptr_equal(dt_registry_source_ctx(reg, names[0][i]), &ctx[0][i]);
    for (size_t i = 0; i < added[1]; i++)
        assert_ptr_equal(dt_registry_sink_ctx(reg, names[1][i]), &ctx[1][i]);
    /* a full registry still names its kinds in an unknown kind's message */
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.registry = reg;
    o.logger = dt_logger_silent();
    const char *doc = DOC(SRC("a", "nope"), "");
    dt_twin *t = NULL;
    dt_diag d;
    assert_int_equal(dt_twin_load_json(doc, strlen(doc), &o, &t, &d), DT_ENOTFOUND);
    assert_non_null(strstr(d.message, "sources[0].kind"));
    dt_registry_destroy(reg);
}

/* Held: a kind's context reaches its instances, sources and sinks; lookups
 * of an unknown kind, a NULL registry or NULL context give NULL. */
static void *g_seen_src_ctx, *g_seen_snk_ctx;
static int kc_open(void *self, dt_source_ctx *ctx, const dt_config *cfg)
{
    (void)self, (void)cfg;
    g_seen_src_ctx = dt_source_kind_ctx(ctx);
    return 0;
}
static int kc_sink_open(void *self, dt_sink_ctx *ctx, const dt_config *cfg)
{
    (void)self, (void)cfg;
    g_seen_snk_ctx = dt_sink_kind_ctx(ctx);
    return 0;
}
static void test_reg_kind_ctx_reaches_instances(void **state)
{
    (void)state;
    reset();
    int a, b;
    dt_registry *reg = NULL;
    assert_int_equal(dt_registry_create(NULL, &reg), 0);
    dt_source_ops so = {.abi = DT_SOURCE_ABI, .kind = "kc", .open = kc_open};
    dt_sink_ops ko = {.abi = DT_SINK_ABI, .kind = "kc", .open = kc_sink_open, .apply = hs_apply};
    assert_int_equal(dt_registry_add_source_kind(reg, &so, &a), 0);
    assert_int_equal(dt_registry_add_sink_kind(reg, &ko, &b), 0);
    assert_int_equal(dt_registry_add_source_kind(reg, &so, &b), DT_EEXIST);
    assert_ptr_equal(dt_registry_source_ctx(reg, "kc"), &a); /* the refused one changed nothing */
    assert_null(dt_registry_source_ctx(reg, "nope"));
    assert_null(dt_registry_source_ctx(NULL, "kc"));
    assert_null(dt_registry_sink_ctx(reg, NULL));
    assert_null(dt_registry_source_ctx(reg, "memory")); /* registered without one */
    assert_null(dt_source_kind_ctx(NULL));
    assert_null(dt_sink_kind_ctx(NULL));
    dt_twin *t = load(reg, DOC(SRC("s", "kc"), SNK("k", "kc")), 0, 0);
    assert_ptr_equal(g_seen_src_ctx, &a);
    assert_ptr_equal(g_seen_snk_ctx, &b);
    dt_twin_destroy(t);
    dt_registry_destroy(reg);
}

/* Held: every allocation of creating a registry, registering kinds and a
 * plant, and building a twin of hook kinds fails once in turn: a clean
 * DT_ENOMEM, nothing leaked. */
static int nop_step(void *self, double t, double dt, const double *u, double *y)
{
    (void)self, (void)t, (void)dt, (void)u;
    y[0] = 0;
    return 0;
}
static const char *const nop_out[] = {"y"};
static const dt_plant_ops nop_plant = {DT_PLANT_ABI, 0, 1, NULL, nop_out, nop_step};

static void test_reg_create_alloc_sweep(void **state)
{
    (void)state;
    const char *doc = DOC(SRC("a", "hk") "," SRC("b", "hk"), SNK("c", "hs"));
    int completed = 0;
    for (long k = 1; k < 2000 && !completed; k++) {
        reset();
        dtt_counter c = {0};
        c.fail_at = k;
        dt_allocator a = dtt_allocator(&c);
        dt_registry *reg = NULL;
        int rc = dt_registry_create(&a, &reg);
        if (rc == 0) {
            assert_int_equal(dt_registry_add_source(reg, &hk_ops), 0);
            assert_int_equal(dt_registry_add_sink(reg, &hs_ops), 0);
            rc = dt_registry_add_plant(reg, "p", &nop_plant, NULL);
            if (dt_registry_source(reg, "sim") == NULL)
                rc = 0;
            assert_int_equal(rc, 0);
            dt_twin_options o = DT_TWIN_OPTIONS_INIT;
            o.registry = reg;
            o.allocator = &a;
            o.logger = dt_logger_silent();
            dt_twin *t = NULL;
            dt_diag d;
            rc = dt_twin_load_json(doc, strlen(doc), &o, &t, &d);
            if (rc == 0) {
                assert_int_equal(dt_io_watches(dt_twin_io(t), NULL, 0), 0);
                dt_twin_destroy(t);
                completed = c.failures == 0;
            } else {
                assert_int_equal(rc, DT_ENOMEM);
            }
            dt_registry_destroy(reg);
        } else {
            assert_int_equal(rc, DT_ENOMEM);
        }
        assert_int_equal(c.live, 0);
    }
    assert_true(completed);
}

/* FINDING (needs a build without the built-in sim, -DDTWIN_ADAPTER_SIM=OFF):
 * dt_registry_add_plant takes whatever context a kind named "sim" was
 * registered with for its plant set. A host that registers its own "sim"
 * source kind (the name is free in such a build) gets its context written
 * over as a plant table: heap corruption. Skipped when the built-in sim is
 * there (the name is then taken). */
static void test_reg_plant_into_foreign_sim_ctx(void **state)
{
    (void)state;
    dt_registry *reg = NULL;
    assert_int_equal(dt_registry_create(NULL, &reg), 0);
    if (dt_registry_source(reg, "sim") != NULL) {
        dt_registry_destroy(reg);
        skip();
    }
    int *mine = malloc(sizeof *mine); /* a host's own context: one int */
    assert_non_null(mine);
    *mine = 42;
    dt_source_ops so = {.abi = DT_SOURCE_ABI, .kind = "sim", .open = hk_open};
    assert_int_equal(dt_registry_add_source_kind(reg, &so, mine), 0);
    assert_int_equal(dt_registry_add_plant(reg, "p", &nop_plant, NULL), DT_ENOTFOUND);
    assert_int_equal(*mine, 42);
    free(mine);
    dt_registry_destroy(reg);
}

/* ===================== host: loop hooks ===================== */

/* What a hostile watches() says is filtered: negative descriptors and no
 * event dropped, garbage event bits masked, sinks marked. A count far above
 * what it wrote (SIZE_MAX after 5) held only by luck before the fix of
 * test_io_watches_unwritten_entries_ignored: the sanitizer build read a
 * valid-looking watch from the stack. */
static void test_io_watches_filters_nonsense(void **state)
{
    (void)state;
    reset();
    dt_registry *reg = mkreg();
    dt_twin *t = load(reg, DOC(SRC("a", "hk"), SNK("k", "hs")), 0, 0);
    dt_io *io = dt_twin_io(t);
    g_w[0][0] = (dt_watch){-1, DT_WATCH_READ, 0};
    g_w[0][1] = (dt_watch){5, 0, 0};
    g_w[0][2] = (dt_watch){6, 0xfffffff0u, 0};
    g_w[0][3] = (dt_watch){7, 0xffffffffu, 9};
    g_w[0][4] = (dt_watch){INT32_MIN, DT_WATCH_READ, 0};
    g_nw[0] = 5;
    g_said[0] = SIZE_MAX;
    g_w[8][0] = (dt_watch){3, DT_WATCH_WRITE, 1};
    g_nw[8] = 1;
    dt_io_watch w[16];
    size_t n = dt_io_watches(io, w, 16);
    assert_int_equal(n, 2);
    assert_int_equal(w[0].fd, 7);
    assert_int_equal(w[0].events, DT_WATCH_READ | DT_WATCH_WRITE);
    assert_int_equal(w[0].gen, 9);
    assert_int_equal(w[0].adapter, 0);
    assert_int_equal(w[1].fd, 3);
    assert_int_equal(w[1].adapter, DT_IO_SINK | 0);
    /* max below what there is: writes max, returns all */
    assert_int_equal(dt_io_watches(io, w, 1), 2);
    assert_int_equal(dt_io_watches(io, NULL, 5), 2);
    dt_twin_destroy(t);
    dt_registry_destroy(reg);
}

/* FINDING: an adapter that names more than 8 descriptors has the 9th and
 * later dropped by dt_io_watches without a word: no loop ever watches them
 * and nothing counts it (the header says watches() "returns how many it
 * has", dt_io_watches "the descriptors every opened adapter wants"). */
static void test_io_watches_more_than_eight_kept(void **state)
{
    (void)state;
    reset();
    dt_registry *reg = mkreg();
    dt_twin *t = load(reg, DOC(SRC("a", "hk"), ""), 0, 0);
    for (int j = 0; j < 12; j++)
        g_w[0][j] = (dt_watch){100 + j, DT_WATCH_READ, 0};
    g_nw[0] = 12;
    dt_io_watch w[64];
    assert_int_equal(dt_io_watches(dt_twin_io(t), w, 64), 12);
    assert_int_equal(w[11].fd, 111);
    dt_twin_destroy(t);
    dt_registry_destroy(reg);
}

/* FINDING: dt_io_watches trusts the count an adapter returns up to 8 and reads
 * its own uninitialised stack for the entries the adapter did not write:
 * an adapter returning 3 after writing 1 makes the host watch garbage
 * descriptors (valgrind: conditional jump on uninitialised value). The stack
 * is painted first so the garbage is a plausible watch. */
static void __attribute__((noinline)) paint_stack(void)
{
    volatile dt_watch w[512];
    for (size_t i = 0; i < 512; i++) {
        w[i].fd = 7;
        w[i].events = DT_WATCH_READ;
        w[i].gen = 0;
    }
    (void)w[0].fd;
}

static void test_io_watches_unwritten_entries_ignored(void **state)
{
    (void)state;
    reset();
    dt_registry *reg = mkreg();
    dt_twin *t = load(reg, DOC(SRC("a", "hk"), ""), 0, 0);
    g_w[0][0] = (dt_watch){5, DT_WATCH_READ, 0};
    g_nw[0] = 1;
    g_said[0] = 3; /* it says 3, wrote 1 */
    dt_io_watch w[8];
    paint_stack();
    size_t n = dt_io_watches(dt_twin_io(t), w, 8);
    for (size_t i = 0; i < n && i < 8; i++)
        assert_int_equal(w[i].fd, 5);
    assert_int_equal(n, 1);
    dt_twin_destroy(t);
    dt_registry_destroy(reg);
}

/* FINDING: dt_io_wake(io, DT_TIME_MAX) wakes adapters that never asked: one
 * whose wake_at says DT_TIME_MAX ("no wish"), one without wake_at, and, in a
 * replay or check twin, adapters that were never opened (their zeroed
 * instance: a crash for a real adapter). wake_at() is "DT_TIME_MAX: no
 * wish"; the host's !opened test is skipped because the time test stands in
 * for it. */
static void test_io_wake_at_time_max_wakes_nobody(void **state)
{
    (void)state;
    reset();
    dt_registry *reg = mkreg();
    const char *doc = DOC(SRC("a", "hk") "," SRC("b", "hk_nowish"), SNK("k", "hs"));
    dt_twin *t = load(reg, doc, 0, 0);
    dt_io *io = dt_twin_io(t);
    assert_true(dt_io_wake_at(io) == DT_TIME_MAX);
    dt_io_wake(io, DT_TIME_MAX);
    assert_int_equal(g_wake[0] + g_wake[1] + g_wake[8], 0);
    /* a real wish is honoured */
    g_wake_at[0] = 5;
    dt_io_wake(io, 5);
    assert_int_equal(g_wake[0], 1);
    dt_twin_destroy(t);
    /* never opened */
    for (int mode = 0; mode < 2; mode++) {
        reset();
        t = load(reg, doc, 1, mode);
        io = dt_twin_io(t);
        assert_true(dt_io_wake_at(io) == DT_TIME_MAX);
        dt_io_wake(io, DT_TIME_MAX);
        assert_int_equal(g_unopened_calls, 0);
        dt_twin_destroy(t);
    }
    dt_registry_destroy(reg);
}

/* Held: in a replay or check twin (nothing opened) no hook reaches an
 * instance: no watches, ready ignored, no wish, sink poll not run.
 * FINDING (last assertion): dt_io_apply still calls apply() on the sinks it
 * never opened. */
static void test_io_unopened_adapters_never_called(void **state)
{
    (void)state;
    dt_registry *reg = mkreg();
    const char *doc = DOC(SRC("a", "hk"), SNK("k", "hs"));
    for (int mode = 0; mode < 2; mode++) {
        reset();
        dt_twin *t = load(reg, doc, 1, mode);
        dt_io *io = dt_twin_io(t);
        g_nw[0] = 1;
        g_w[0][0] = (dt_watch){0, DT_WATCH_READ, 0};
        assert_int_equal(dt_io_watches(io, NULL, 0), 0);
        dt_io_ready(io, 0, 0, DT_WATCH_READ, 0);
        dt_io_ready(io, DT_IO_SINK, 0, DT_WATCH_READ, 0);
        dt_io_wake(io, 0);
        assert_int_equal(dt_io_poll(io, 0), 0);
        assert_int_equal(g_unopened_calls, 0);
        dt_command cmd = {.signal = 1, .seq = 1, .value = 1};
        (void)dt_io_apply(io, &cmd);
        assert_int_equal(g_unopened_calls, 0);
        dt_twin_destroy(t);
    }
    dt_registry_destroy(reg);
}

/* Held: ready() for an index out of range, a sink bit on a source's index,
 * the highest indices: only the adapter named is called, nothing else. */
static void test_io_ready_out_of_range(void **state)
{
    (void)state;
    reset();
    dt_registry *reg = mkreg();
    dt_twin *t = load(reg, DOC(SRC("a", "hk") "," SRC("b", "hk"), SNK("k", "hs")), 0, 0);
    dt_io *io = dt_twin_io(t);
    dt_io_ready(io, 2, 3, DT_WATCH_READ, 0);
    dt_io_ready(io, DT_IO_SINK | 1, 3, DT_WATCH_READ, 0);
    dt_io_ready(io, 0x7fffffffu, 3, DT_WATCH_READ, 0);
    dt_io_ready(io, 0xffffffffu, 3, DT_WATCH_READ, 0);
    dt_io_ready(NULL, 0, 3, DT_WATCH_READ, 0);
    for (int i = 0; i < HK_MAX; i++)
        assert_int_equal(g_ready[i], 0);
    dt_io_ready(io, 1, 3, 0, 0);
    dt_io_ready(io, DT_IO_SINK, -1, 0xff, 0);
    assert_int_equal(g_ready[1], 1);
    assert_int_equal(g_ready[8], 1);
    assert_int_equal(g_ready[0], 0);
    dt_twin_destroy(t);
    dt_registry_destroy(reg);
}

/* Held: a version-3 sink's poll runs every step before the commands of the
 * step; its error is the step's; a version-2 sink's table never has one. */
static void test_sink_poll_each_step_before_commands(void **state)
{
    (void)state;
    reset();
    dt_registry *reg = mkreg();
    dt_twin *t = load(reg, DOC(SRC("a", "hk"), SNK("k", "hs")), 0, 0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    dt_command cmd = {.signal = 1, .value = 1};
    for (int k = 1; k <= 3; k++) {
        g_n_order = 0;
        assert_int_equal(dt_twin_submit(t, &cmd), 0);
        (void)dt_twin_step(t, (dt_time)k * 10 * DT_NS_PER_MS);
        assert_true(g_n_order >= 1);
        assert_int_equal(g_order[0], 1);
    }
    assert_int_equal(g_poll[8], 3);
    g_poll_rc = DT_EIO;
    assert_int_equal(dt_twin_step(t, 40 * DT_NS_PER_MS), DT_EIO);
    dt_twin_destroy(t);
    dt_registry_destroy(reg);
}

/* ===================== sim: plants shared by twins ===================== */

typedef struct fo_plant {
    double y, last_u;
    int steps;
} fo_plant;
static const char *const fo_in[] = {"valve"};
static const char *const fo_out[] = {"level"};
static int fo_step(void *self, double t, double dt, const double *u, double *y)
{
    (void)t;
    fo_plant *p = self;
    double e = exp(-dt);
    p->y = e * p->y + (1 - e) * u[0];
    p->last_u = u[0];
    p->steps++;
    y[0] = p->y;
    return 0;
}
static const dt_plant_ops fo_ops = {DT_PLANT_ABI, 1, 1, fo_in, fo_out, fo_step};

#define SIM_SRC                                                                               \
    "{\"id\":\"s\",\"kind\":\"sim\",\"plant\":\"tank\",\"rate\":100,"                          \
    "\"mapping\":[{\"native\":\"level\",\"signal\":\"y\"}]}"
#define SIM_SNK                                                                               \
    "{\"id\":\"v\",\"kind\":\"sim\",\"plant\":\"tank\","                                       \
    "\"mapping\":[{\"native\":\"valve\",\"signal\":\"u\"}]}"

/* FINDING: the plants' run-time state (inputs u) lives in the registry and
 * outlives the twin that set it: a twin built after another from the same
 * registry starts its plant with the last command of the destroyed twin,
 * and runs differently from the same twin on a fresh registry. The host
 * resets its own plant state; it cannot reset the inputs the library
 * holds. */
static void test_sim_second_twin_starts_from_rest(void **state)
{
    (void)state;
    fo_plant plant = {0};
    dt_registry *reg = NULL;
    assert_int_equal(dt_registry_create(NULL, &reg), 0);
    if (dt_registry_source(reg, "sim") == NULL) {
        dt_registry_destroy(reg);
        skip();
    }
    assert_int_equal(dt_registry_add_plant(reg, "tank", &fo_ops, &plant), 0);
    dt_twin *a = load(reg, DOC(SIM_SRC, SIM_SNK), 0, 0);
    assert_int_equal(dt_twin_start(a, 0), 0);
    (void)dt_twin_step(a, 10 * DT_NS_PER_MS);
    assert_true(plant.steps > 0);
    /* the last command of the twin's life (or of its host) */
    dt_command cmd = {.signal = 1, .seq = 1, .value = 5};
    assert_int_equal(dt_io_apply(dt_twin_io(a), &cmd), 0);
    dt_twin_destroy(a);
    /* the host puts its plant back at rest and builds the next twin */
    memset(&plant, 0, sizeof plant);
    dt_twin *b = load(reg, DOC(SIM_SRC, ""), 0, 0);
    assert_int_equal(dt_twin_start(b, 0), 0);
    (void)dt_twin_step(b, 10 * DT_NS_PER_MS);
    assert_true(plant.steps > 0);
    assert_close(plant.last_u, 0, 0, 0);
    dt_twin_destroy(b);
    dt_registry_destroy(reg);
}

/* Held: two twins of one registry cannot both drive one plant; once the
 * first is gone the plant is free again (also after a failed load). */
static void test_sim_two_twins_one_registry(void **state)
{
    (void)state;
    fo_plant plant = {0};
    dt_registry *reg = NULL;
    assert_int_equal(dt_registry_create(NULL, &reg), 0);
    if (dt_registry_source(reg, "sim") == NULL) {
        dt_registry_destroy(reg);
        skip();
    }
    assert_int_equal(dt_registry_add_plant(reg, "tank", &fo_ops, &plant), 0);
    dt_twin *a = load(reg, DOC(SIM_SRC, SIM_SNK), 0, 0);
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.registry = reg;
    o.logger = dt_logger_silent();
    const char *doc = DOC(SIM_SRC, "");
    dt_twin *b = NULL;
    dt_diag d;
    assert_int_not_equal(dt_twin_load_json(doc, strlen(doc), &o, &b, &d), 0);
    assert_non_null(strstr(d.message, "already driven"));
    /* a load that fails after its sim source opened frees the plant again */
    const char *bad = DOC(SIM_SRC "," SRC("x", "nope"), "");
    dt_twin_destroy(a);
    assert_int_equal(dt_twin_load_json(bad, strlen(bad), &o, &b, &d), DT_ENOTFOUND);
    b = load(reg, doc, 0, 0);
    dt_twin_destroy(b);
    dt_registry_destroy(reg);
}

/* ===================== the libuv driver ===================== */

typedef struct uvh {
    uv_loop_t loop;
    dt_uv *drv;
    dt_twin *twin;
    dt_registry *reg;
    int detached;
} uvh;
static uvh *g_uv;

/* Attaches with a period of an hour: no step runs during a test, so only the
 * loop hooks can call the adapters. */
static void uv_begin(uvh *h, const char *doc, int signals)
{
    memset(h, 0, sizeof *h);
    g_uv = h;
    h->reg = mkreg();
    h->twin = load(h->reg, doc, 0, 0);
    assert_int_equal(uv_loop_init(&h->loop), 0);
    assert_int_equal(dt_uv_attach(h->twin, &h->loop, 3600, signals, &h->drv), 0);
}

/* Turns the loop without waiting until cond() holds, at most n times. */
static int spin(uvh *h, int n, int (*cond)(void))
{
    for (int i = 0; i < n; i++) {
        if (cond != NULL && cond())
            return 1;
        (void)uv_run(&h->loop, UV_RUN_NOWAIT);
    }
    return cond != NULL && cond();
}

/* Detaches and lets the closes finish; every handle must be gone (a bounded
 * number of turns: a handle left behind fails the test instead of hanging
 * it). */
static void uv_end(uvh *h)
{
    if (!h->detached)
        dt_uv_detach(h->drv);
    (void)spin(h, 10, NULL);
    assert_int_equal(uv_loop_alive(&h->loop), 0);
    assert_int_equal(uv_loop_close(&h->loop), 0);
    dt_twin_destroy(h->twin);
    dt_registry_destroy(h->reg);
    g_uv = NULL;
}

static void drain_fd(int fd)
{
    char b[512];
    while (recv(fd, b, sizeof b, MSG_DONTWAIT) >= 0)
        ;
}

static int sv[2];
static int ready0_twice(void) { return g_ready[0] >= 2; }

/* gen bumped on the same descriptor: */
static void on_ready_bump_gen(int idx, int fd, unsigned events)
{
    (void)events;
    drain_fd(fd);
    if (idx == 0 && g_ready[0] == 1) {
        g_w[0][0].gen++; /* "register it afresh" */
        assert_true(send(sv[1], "2", 1, 0) == 1);
    }
}

/* FINDING: when an adapter's gen changes, the driver opens the new handle
 * before closing the old one: libuv refuses a second handle on the same
 * descriptor (UV_EEXIST), the attempt is dropped, then the old handle is
 * closed. The descriptor is watched by nobody until the next step re-syncs
 * (a whole period); data that arrives meanwhile waits. */
static void test_uv_gen_change_rewatched_at_once(void **state)
{
    (void)state;
    reset();
    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv), 0);
    g_w[0][0] = (dt_watch){sv[0], DT_WATCH_READ, 1};
    g_nw[0] = 1;
    g_on_ready = on_ready_bump_gen;
    uvh h;
    uv_begin(&h, DOC(SRC("a", "hk"), ""), 0);
    assert_true(send(sv[1], "1", 1, 0) == 1);
    assert_true(spin(&h, 50, ready0_twice));
    uv_end(&h);
    close(sv[0]), close(sv[1]);
}

/* The realistic form: ready() finds the connection dead, closes it and
 * opens another that gets the same number (dup2 here), with a new gen. */
static void on_ready_reconnect(int idx, int fd, unsigned events)
{
    (void)events;
    drain_fd(fd);
    if (idx == 0 && g_ready[0] == 1) {
        int np[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, np), 0);
        assert_int_equal(dup2(np[0], sv[0]), sv[0]); /* the old object is gone */
        close(np[0]);
        close(sv[1]);
        sv[1] = np[1];
        g_w[0][0].gen++;
        assert_true(send(sv[1], "2", 1, 0) == 1);
    }
}

static void test_uv_reconnect_same_number_rewatched(void **state)
{
    (void)state;
    reset();
    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv), 0);
    g_w[0][0] = (dt_watch){sv[0], DT_WATCH_READ, 1};
    g_nw[0] = 1;
    g_on_ready = on_ready_reconnect;
    uvh h;
    uv_begin(&h, DOC(SRC("a", "hk"), ""), 0);
    assert_true(send(sv[1], "1", 1, 0) == 1);
    assert_true(spin(&h, 50, ready0_twice));
    uv_end(&h);
    close(sv[0]), close(sv[1]);
}

/* One adapter's connection dies and another's is made between two syncs of
 * the driver (both in one step's polls, say): the new socket gets the freed
 * number, and each adapter, following the contract, names its own first
 * object with its own gen 0. */
static int ready1_once(void) { return g_ready[1] >= 1; }
static void on_ready_handover(int idx, int fd, unsigned events)
{
    (void)events;
    drain_fd(fd);
    if (idx == 0 && g_ready[0] == 1) {
        g_nw[0] = 0; /* adapter 0 closes its connection... */
        int np[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, np), 0);
        assert_int_equal(dup2(np[0], sv[0]), sv[0]); /* ...adapter 1's gets its number */
        close(np[0]);
        close(sv[1]);
        sv[1] = np[1];
        g_w[1][0] = (dt_watch){sv[0], DT_WATCH_READ, 0};
        g_nw[1] = 1;
        assert_true(send(sv[1], "2", 1, 0) == 1);
    }
}

/* FINDING: the driver keys a handle by (descriptor, gen) only, but gen is
 * each adapter's own count: a descriptor number freed by one adapter and
 * reused by another with the same gen is taken for the old object, the
 * handle kept though the kernel dropped the closed object from its set.
 * The second adapter's descriptor is never watched. */
static void test_uv_number_reused_by_another_adapter(void **state)
{
    (void)state;
    reset();
    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv), 0);
    g_w[0][0] = (dt_watch){sv[0], DT_WATCH_READ, 0};
    g_nw[0] = 1;
    g_on_ready = on_ready_handover;
    uvh h;
    uv_begin(&h, DOC(SRC("a", "hk") "," SRC("b", "hk"), ""), 0);
    assert_true(send(sv[1], "1", 1, 0) == 1);
    assert_true(spin(&h, 50, ready1_once));
    uv_end(&h);
    close(sv[0]), close(sv[1]);
}

/* A connected UDP socket whose peer is gone: the ICMP "port unreachable"
 * sets a socket error (POLLERR). */
static int udp_a;
static struct sockaddr_in udp_dead;

static void on_ready_udp(int idx, int fd, unsigned events)
{
    (void)idx, (void)events;
    char b[16];
    ssize_t r = recv(fd, b, sizeof b, MSG_DONTWAIT); /* the error, then the datagram */
    if (g_ready[0] == 1) {
        assert_true(r < 0 && errno == ECONNREFUSED);
        /* the peer comes back and sends */
        int c = socket(AF_INET, SOCK_DGRAM, 0);
        assert_int_equal(bind(c, (struct sockaddr *)&udp_dead, sizeof udp_dead), 0);
        struct sockaddr_in me;
        socklen_t l = sizeof me;
        assert_int_equal(getsockname(udp_a, (struct sockaddr *)&me, &l), 0);
        assert_true(sendto(c, "x", 1, 0, (struct sockaddr *)&me, sizeof me) == 1);
        close(c);
    }
}

/* FINDING: on a descriptor error (POLLERR) libuv stops the poll handle
 * before calling back; the driver passes the error on as readiness but keeps
 * the slot as started (its events unchanged), so it never starts it again:
 * from the first socket error on (an actuator's port unreachable, a TCP
 * reset) the adapter is served only by the per-cycle poll. */
static void test_uv_poll_error_keeps_watching(void **state)
{
    (void)state;
    reset();
    struct sockaddr_in lo = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int d = socket(AF_INET, SOCK_DGRAM, 0);
    assert_int_equal(bind(d, (struct sockaddr *)&lo, sizeof lo), 0);
    socklen_t l = sizeof udp_dead;
    assert_int_equal(getsockname(d, (struct sockaddr *)&udp_dead, &l), 0);
    close(d); /* nobody listens there now */
    udp_a = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    assert_int_equal(bind(udp_a, (struct sockaddr *)&lo, sizeof lo), 0);
    assert_int_equal(connect(udp_a, (struct sockaddr *)&udp_dead, sizeof udp_dead), 0);
    g_w[0][0] = (dt_watch){udp_a, DT_WATCH_READ, 0};
    g_nw[0] = 1;
    g_on_ready = on_ready_udp;
    uvh h;
    uv_begin(&h, DOC(SRC("a", "hk"), ""), 0);
    assert_true(send(udp_a, "q", 1, 0) == 1); /* answered by ICMP: a socket error */
    assert_true(spin(&h, 50, ready0_twice));
    uv_end(&h);
    close(udp_a);
}

/* Held: two adapters naming one descriptor share a handle and both get
 * ready(). */
static int both_ready(void) { return g_ready[0] >= 1 && g_ready[1] >= 1; }
static void test_uv_shared_fd_both_ready(void **state)
{
    (void)state;
    reset();
    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv), 0);
    g_w[0][0] = g_w[1][0] = (dt_watch){sv[0], DT_WATCH_READ, 4};
    g_nw[0] = g_nw[1] = 1;
    uvh h;
    uv_begin(&h, DOC(SRC("a", "hk") "," SRC("b", "hk"), ""), 0);
    assert_true(send(sv[1], "1", 1, 0) == 1);
    assert_true(spin(&h, 50, both_ready));
    drain_fd(sv[0]);
    uv_end(&h);
    close(sv[0]), close(sv[1]);
}

/* Held: a descriptor nobody wants any more is unwatched (its handle
 * closed), even with data waiting on it. */
static int ready0_once(void) { return g_ready[0] >= 1; }
static void on_ready_let_go(int idx, int fd, unsigned events)
{
    (void)fd, (void)events;
    if (idx == 0)
        g_nw[0] = 0; /* leaves the data there: level-triggered, it stays readable */
}
static void test_uv_unwanted_fd_unwatched(void **state)
{
    (void)state;
    reset();
    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv), 0);
    g_w[0][0] = (dt_watch){sv[0], DT_WATCH_READ, 0};
    g_nw[0] = 1;
    g_on_ready = on_ready_let_go;
    uvh h;
    uv_begin(&h, DOC(SRC("a", "hk"), ""), 0);
    assert_true(send(sv[1], "1", 1, 0) == 1);
    assert_true(spin(&h, 50, ready0_once));
    (void)spin(&h, 20, NULL);
    assert_int_equal(g_ready[0], 1);
    uv_end(&h);
    close(sv[0]), close(sv[1]);
}

/* Held: 9 adapters x 8 descriptors (72 > 64 handles): the first 64 are
 * watched, the rest polled only; when 8 are let go the last adapter's get
 * the freed handles; detach with handles closing; no leak, no use after
 * close (ASan, valgrind). */
static int pairs[72][2];
static int ninth_ready(void) { return g_ready[8] >= 1; }
static void test_uv_more_than_64_descriptors(void **state)
{
    (void)state;
    reset();
    for (int i = 0; i < 72; i++) {
        assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, pairs[i]), 0);
        g_w[i / 8][i % 8] = (dt_watch){pairs[i][0], DT_WATCH_READ, 0};
        assert_true(send(pairs[i][1], "1", 1, 0) == 1); /* all readable, never drained */
    }
    for (int k = 0; k < 8; k++)
        g_nw[k] = 8;
    /* sources 0..7 use g_w[0..7]; the ninth source is instance 8, which
     * g_ready/g_w index as 8 too (the sinks' range is unused here) */
    g_nw[8] = 8;
    uvh h;
    uv_begin(&h,
             DOC(SRC("a0", "hk") "," SRC("a1", "hk") "," SRC("a2", "hk") "," SRC("a3", "hk") ","
                 SRC("a4", "hk") "," SRC("a5", "hk") "," SRC("a6", "hk") "," SRC("a7", "hk") ","
                 SRC("a8", "hk"),
                 ""),
             0);
    (void)spin(&h, 5, NULL);
    for (int k = 0; k < 8; k++)
        assert_true(g_ready[k] > 0);
    assert_int_equal(g_ready[8], 0);
    assert_int_equal(dt_uv_unwatched(h.drv), 8); /* the ninth adapter's: said, not silent */
    g_nw[0] = 0;
    assert_true(spin(&h, 20, ninth_ready));
    assert_int_equal(dt_uv_unwatched(h.drv), 0);
    uv_end(&h);
    for (int i = 0; i < 72; i++)
        close(pairs[i][0]), close(pairs[i][1]);
}

/* FINDING (UBSan): a wish just short of DT_TIME_MAX ("much later") makes the
 * driver compute at - now + 999999 in dt_time: signed overflow. */
static void test_uv_wake_near_time_max(void **state)
{
    (void)state;
    reset();
    g_wake_at[0] = DT_TIME_MAX - 1;
    uvh h;
    uv_begin(&h, DOC(SRC("a", "hk"), ""), 0);
    (void)spin(&h, 2, NULL);
    assert_int_equal(g_wake[0], 0);
    uv_end(&h);
}

/* Held: a wish in the past (DT_TIME_MIN, 0, -1) is woken (within the
 * timer's millisecond), once per wish. */
static int woken(void) { return g_wake[0] >= 1; }
static void on_wake_satisfied(int idx) { g_wake_at[idx] = DT_TIME_MAX; }
static void test_uv_wake_in_the_past(void **state)
{
    (void)state;
    dt_time wishes[] = {DT_TIME_MIN, 0, -1};
    for (size_t i = 0; i < 3; i++) {
        reset();
        g_wake_at[0] = wishes[i];
        g_on_wake = on_wake_satisfied;
        uvh h;
        uv_begin(&h, DOC(SRC("a", "hk"), ""), 0);
        /* turns without blocking until the 1 ms wake timer has fired (a
         * UV_RUN_ONCE turn whose timer fires at its start then waits for the
         * next timer, the hour's tick: it hung now and then) */
        for (int turn = 0; turn < 5000 && !woken(); turn++) {
            (void)uv_run(&h.loop, UV_RUN_NOWAIT);
            nanosleep(&(struct timespec){0, 100000}, NULL);
        }
        assert_true(woken());
        (void)spin(&h, 5, NULL);
        assert_int_equal(g_wake[0], 1);
        uv_end(&h);
    }
}

/* FINDING (hang): a wish that stays due after wake() (an adapter whose wake
 * could not do its work, e.g. a keep-alive that met EAGAIN, or a table with
 * wake_at and no wake) re-arms the driver's wake timer at 0 ms from inside
 * its own callback; libuv 1.44 runs such a timer again in the same timer
 * phase, forever: no step, no I/O, no signal is served again. The test's
 * adapter withdraws its wish after 100000 calls so the turn ends; a loop
 * turn must call it a handful of times at most. */
static void test_uv_wish_that_stays_due(void **state)
{
    (void)state;
    const char *const kinds[] = {"hk", "hk_wishonly"};
    const char *const docs[] = {DOC(SRC("a", "hk"), ""), DOC(SRC("a", "hk_wishonly"), "")};
    for (int k = 0; k < 2; k++) {
        reset();
        g_wake_at[0] = 0; /* due now, and wake() does not change it */
        uvh h;
        uv_begin(&h, docs[k], 0);
        (void)uv_run(&h.loop, UV_RUN_NOWAIT);
        long calls = g_wake_at_calls;
        g_wake_at[0] = DT_TIME_MAX;
        uv_end(&h);
        if (calls > 100)
            print_error("%s: %ld wake_at calls in one loop turn\n", kinds[k], calls);
        assert_true(calls <= 100);
    }
}

/* Held: SIGINT stops the loop, status says signaled. */
static void raise_int(uv_timer_t *t)
{
    (void)t;
    (void)raise(SIGINT);
}
static void test_uv_sigint_stops(void **state)
{
    (void)state;
    reset();
    uvh h;
    uv_begin(&h, DOC(SRC("a", "hk"), ""), 1);
    uv_timer_t t;
    assert_int_equal(uv_timer_init(&h.loop, &t), 0);
    assert_int_equal(uv_timer_start(&t, raise_int, 0, 0), 0);
    (void)uv_run(&h.loop, UV_RUN_DEFAULT); /* returns when stopped */
    int sig = 0;
    assert_int_equal(dt_uv_status(h.drv, &sig), 0);
    assert_int_equal(sig, 1);
    uv_close((uv_handle_t *)&t, NULL);
    uv_end(&h);
}

/* FINDING: a host that detaches from inside an adapter's call (ready() or
 * wake() reporting a fatal condition to the host, which stops) gets its
 * poll handles re-created after detach: on_poll and on_wake re-sync the
 * hooks whether or not the driver was detached, so a fresh poll handle is
 * started inside the dt_uv that is freed once the detach's closes finish
 * (uv_loop_close: UV_EBUSY; ASan: use after free). */
static void on_ready_detach(int idx, int fd, unsigned events)
{
    (void)idx, (void)events;
    drain_fd(fd);
    if (!g_uv->detached) {
        g_uv->detached = 1;
        dt_uv_detach(g_uv->drv);
    }
}
static void test_uv_detach_inside_ready(void **state)
{
    (void)state;
    reset();
    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv), 0);
    g_w[0][0] = (dt_watch){sv[0], DT_WATCH_READ, 0};
    g_nw[0] = 1;
    g_on_ready = on_ready_detach;
    uvh h;
    uv_begin(&h, DOC(SRC("a", "hk"), ""), 0);
    assert_true(send(sv[1], "1", 1, 0) == 1);
    assert_true(spin(&h, 50, ready0_once));
    assert_true(h.detached);
    /* the loop must have nothing left of the driver */
    (void)spin(&h, 10, NULL);
    assert_int_equal(uv_loop_alive(&h.loop), 0);
    assert_int_equal(uv_loop_close(&h.loop), 0);
    dt_twin_destroy(h.twin);
    dt_registry_destroy(h.reg);
    close(sv[0]), close(sv[1]);
}

/* ===================== the example kind: accounting ===================== */

#define UL_DOC(ring)                                                                          \
    "{\"dtwin\":1,\"name\":\"ul\",\"assets\":[{\"id\":\"p\"}],\"signals\":["                    \
    "{\"id\":\"a\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\"}," \
    "{\"id\":\"b\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\","                    \
    "\"role\":\"measured\"}],"                                                                \
    "\"sources\":[{\"id\":\"first\",\"kind\":\"unix_lines\"," ring                              \
    "\"mapping\":[{\"native\":\"a\",\"signal\":\"a\"}]},"                                       \
    "{\"id\":\"second\",\"kind\":\"unix_lines\","                                             \
    "\"mapping\":[{\"native\":\"b\",\"signal\":\"b\"}]}],"                                        \
    "\"loop\":{\"period\":0.01}}"

typedef struct ul_run {
    unix_lines_conn conn;
    dt_registry *reg;
    dt_twin *twin;
    int tx;
    struct sockaddr_un to;
} ul_run;

static void ul_begin(ul_run *r, const char *doc)
{
    memset(r, 0, sizeof *r);
    r->conn.fd = -1;
    (void)snprintf(r->conn.path, sizeof r->conn.path, "/tmp/dtwin-rt-host-%ld.sock",
                   (long)getpid());
    (void)unlink(r->conn.path);
    assert_int_equal(dt_registry_create(NULL, &r->reg), 0);
    assert_int_equal(dt_registry_add_source_kind(r->reg, &unix_lines_ops, &r->conn), 0);
    r->twin = load(r->reg, doc, 0, 0);
    r->tx = socket(AF_UNIX, SOCK_DGRAM, 0);
    r->to.sun_family = AF_UNIX;
    strcpy(r->to.sun_path, r->conn.path);
    assert_int_equal(dt_twin_start(r->twin, 0), 0);
}

static void ul_send(ul_run *r, const char *s, size_t n)
{
    assert_true(sendto(r->tx, s, n, 0, (struct sockaddr *)&r->to, sizeof r->to) == (ssize_t)n);
}

static void ul_end(ul_run *r)
{
    dt_twin_destroy(r->twin);
    dt_registry_destroy(r->reg);
    close(r->tx);
}

static uint64_t ul_events(ul_run *r, dt_source_event ev)
{
    dt_io *io = dt_twin_io(r->twin);
    return dt_io_source_events(io, 0, ev) + dt_io_source_events(io, 1, ev);
}

static dt_source_stats ul_stats(ul_run *r, size_t i)
{
    dt_source_stats st;
    assert_int_equal(dt_ingest_source_stats(dt_twin_ingest(r->twin),
                                            dt_io_source_ingest_id(dt_twin_io(r->twin), i), &st),
                     0);
    return st;
}

/* FINDING (example): a zero-length datagram ends the drain loop (recv returns
 * 0, the loop wants > 0): it is consumed and counted nowhere, and the
 * datagrams queued behind it wait for the next readiness or cycle. */
static void test_example_empty_datagram_counted(void **state)
{
    (void)state;
    ul_run r;
    ul_begin(&r, UL_DOC(""));
    ul_send(&r, "", 0);
    ul_send(&r, "a 1", 3);
    ul_send(&r, "b 2", 3);
    (void)dt_twin_step(r.twin, 10 * DT_NS_PER_MS); /* one poll drains what waits */
    assert_int_equal(r.conn.by_poll, 3);
    assert_int_equal(ul_stats(&r, 0).offered + ul_stats(&r, 1).offered, 2);
    assert_int_equal(ul_events(&r, DT_EV_MALFORMED), 1);
    ul_end(&r);
}

/* FINDING (example): a mapped datagram the ring refuses (full) is counted
 * twice: once by the ring (dropped_newest), once by the adapter as
 * "unmapped". The summary then shows more losses than datagrams, and the
 * reason given is wrong. */
static void test_example_ring_full_not_unmapped(void **state)
{
    (void)state;
    ul_run r;
    ul_begin(&r, UL_DOC("\"ring\":2,\"overflow\":\"drop_newest\","));
    for (int i = 0; i < 5; i++)
        ul_send(&r, "a 1", 3);
    (void)dt_twin_step(r.twin, 10 * DT_NS_PER_MS);
    dt_source_stats st = ul_stats(&r, 0);
    assert_int_equal(st.offered, 5);
    assert_int_equal(st.dropped_newest, 3);
    assert_int_equal(ul_events(&r, DT_EV_UNMAPPED), 0);
    ul_end(&r);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reg_older_tables_exact_heap),
        cmocka_unit_test(test_reg_64_kinds),
        cmocka_unit_test(test_reg_kind_ctx_reaches_instances),
        cmocka_unit_test(test_reg_create_alloc_sweep),
        cmocka_unit_test(test_reg_plant_into_foreign_sim_ctx),
        cmocka_unit_test(test_io_watches_filters_nonsense),
        cmocka_unit_test(test_io_watches_more_than_eight_kept),
        cmocka_unit_test(test_io_watches_unwritten_entries_ignored),
        cmocka_unit_test(test_io_wake_at_time_max_wakes_nobody),
        cmocka_unit_test(test_io_unopened_adapters_never_called),
        cmocka_unit_test(test_io_ready_out_of_range),
        cmocka_unit_test(test_sink_poll_each_step_before_commands),
        cmocka_unit_test(test_sim_second_twin_starts_from_rest),
        cmocka_unit_test(test_sim_two_twins_one_registry),
        cmocka_unit_test(test_uv_gen_change_rewatched_at_once),
        cmocka_unit_test(test_uv_reconnect_same_number_rewatched),
        cmocka_unit_test(test_uv_number_reused_by_another_adapter),
        cmocka_unit_test(test_uv_poll_error_keeps_watching),
        cmocka_unit_test(test_uv_shared_fd_both_ready),
        cmocka_unit_test(test_uv_unwanted_fd_unwatched),
        cmocka_unit_test(test_uv_more_than_64_descriptors),
        cmocka_unit_test(test_uv_wake_near_time_max),
        cmocka_unit_test(test_uv_wake_in_the_past),
        cmocka_unit_test(test_uv_wish_that_stays_due),
        cmocka_unit_test(test_uv_sigint_stops),
        cmocka_unit_test(test_uv_detach_inside_ready),
        cmocka_unit_test(test_example_empty_datagram_counted),
        cmocka_unit_test(test_example_ring_full_not_unmapped),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
