/* The bus engine interface (dtwin/bus.h) is engine-neutral: a second
 * engine, written here against the public header alone, carries two twins'
 * state, contract, beliefs and commands in one process, and the twins'
 * rules run on it unchanged (the twin source's contract check, sequence
 * numbers, the commands' epochs and acks). The engine, "hub", routes
 * messages between its instances through a queue delivered at each poll
 * (asynchronous, as a broker is), keeps retained messages, matches the
 * wildcards + and #, and publishes a will when an instance is dropped
 * without a clean close. It stands in for nothing: the broker tests run
 * the same twins against a real mosquitto; this shows the layer depends
 * only on the table. Also: the registry's checks of an engine table. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "engine_base.h"
#include "test_util.h"

#include "dtwin/dtwin.h"

/* ---- the hub engine ---- */

#define HUB_MAX 4
#define HUB_QUEUE 256
#define HUB_RETAINED 32

typedef struct hub_msg {
    char topic[160];
    uint8_t payload[2048];
    size_t len;
    int retained; /* delivered as a retained copy */
    struct hub_engine *to;
} hub_msg;

typedef struct hub_engine {
    struct hub *hub;
    int connected;
    ipe_conn c; /* subscriptions, hooks (engine_base.h) */
    char will_topic[160];
    uint8_t will[256];
    size_t will_len;
    int delivering_retained;
    uint64_t published, delivered, refused_down;
} hub_engine;

typedef struct hub {
    hub_engine *inst[HUB_MAX];
    size_t n_inst;
    hub_msg q[HUB_QUEUE];
    size_t q_n;
    struct {
        char topic[160];
        uint8_t payload[2048];
        size_t len;
    } ret[HUB_RETAINED];
    size_t n_ret;
} hub;

static hub the_hub;

static void enqueue(hub *h, hub_engine *to, const char *topic, const void *p, size_t len,
                    int retained)
{
    assert_true(h->q_n < HUB_QUEUE && len <= sizeof h->q[0].payload);
    hub_msg *m = &h->q[h->q_n++];
    snprintf(m->topic, sizeof m->topic, "%s", topic);
    memcpy(m->payload, p, len);
    m->len = len;
    m->retained = retained;
    m->to = to;
}

static void route(hub *h, const char *topic, const void *p, size_t len, int retain)
{
    for (size_t i = 0; i < h->n_inst; i++)
        for (size_t k = 0; h->inst[i] != NULL && h->inst[i]->connected && k < h->inst[i]->c.n_sub;
             k++)
            if (ipe_topic_match(h->inst[i]->c.sub[k].filter, topic)) {
                enqueue(h, h->inst[i], topic, p, len, 0);
                break;
            }
    if (!retain)
        return;
    size_t r = 0;
    while (r < h->n_ret && strcmp(h->ret[r].topic, topic) != 0)
        r++;
    assert_true(r < HUB_RETAINED);
    if (r == h->n_ret)
        h->n_ret++;
    snprintf(h->ret[r].topic, sizeof h->ret[r].topic, "%s", topic);
    memcpy(h->ret[r].payload, p, len);
    h->ret[r].len = len;
}

static const char *const hub_keys[] = {"hub", NULL};

static int hub_open(const dt_bus_engine_env *env, const dt_config *bus, void **self,
                    dt_diag *diag)
{
    (void)env, (void)diag;
    const dt_config *c = dt_config_get(bus, "hub");
    double id = 0;
    if (c == NULL || dt_config_number(c, &id) != DT_OK)
        return DT_EPARSE;
    if (self == NULL)
        return DT_OK;
    hub_engine *e = calloc(1, sizeof *e);
    assert_non_null(e);
    e->hub = &the_hub;
    the_hub.inst[the_hub.n_inst++] = e;
    *self = e;
    return DT_OK;
}

/* The connection dies: the hub publishes the will (as a broker does when
 * a socket closes without DISCONNECT); the instance stays down. */
static void hub_kill(hub_engine *e)
{
    e->connected = 0;
    if (e->will_len > 0)
        route(e->hub, e->will_topic, e->will, e->will_len, 1);
}

static void hub_destroy(void *self)
{
    hub_engine *e = self;
    hub *h = e->hub;
    for (size_t i = 0; i < h->n_inst; i++)
        if (h->inst[i] == e)
            h->inst[i] = NULL;
    for (size_t i = 0; i < h->q_n; i++) /* nothing more for it */
        if (h->q[i].to == e)
            h->q[i].to = NULL;
    free(e);
}

static int hub_set_will(void *self, const char *topic, const void *p, size_t len)
{
    hub_engine *e = self;
    assert_true(len <= sizeof e->will);
    snprintf(e->will_topic, sizeof e->will_topic, "%s", topic);
    memcpy(e->will, p, len);
    e->will_len = len;
    return DT_OK;
}

static void hub_before(void *self, void (*fn)(void *), void *user)
{
    ipe_conn_before(&((hub_engine *)self)->c, fn, user);
}

static int hub_on_state(void *self, dt_bus_state_fn fn, void *user)
{
    return ipe_conn_on_state(&((hub_engine *)self)->c, fn, user);
}

/* a late subscriber gets the retained copies, as from a broker */
static int hub_subscribe(void *self, const char *filter, dt_bus_delivery d,
                         dt_bus_message_fn fn, void *user)
{
    (void)d;
    hub_engine *e = self;
    int rc = ipe_conn_subscribe(&e->c, filter, fn, user);
    if (rc != DT_OK)
        return rc;
    for (size_t r = 0; e->connected && r < e->hub->n_ret; r++)
        if (ipe_topic_match(filter, e->hub->ret[r].topic))
            enqueue(e->hub, e, e->hub->ret[r].topic, e->hub->ret[r].payload,
                    e->hub->ret[r].len, 1);
    return DT_OK;
}

static int hub_publish(void *self, const char *topic, const void *p, size_t len,
                       dt_bus_delivery d, int retain)
{
    (void)d;
    hub_engine *e = self;
    if (!e->connected) {
        e->refused_down++;
        return DT_ESTATE;
    }
    e->published++;
    route(e->hub, topic, p, len, retain);
    return DT_OK;
}

static int hub_connected(const void *self) { return ((const hub_engine *)self)->connected; }
static int hub_retained(const void *self)
{
    return ((const hub_engine *)self)->delivering_retained;
}

static int hub_poll(void *self, dt_time now)
{
    hub_engine *e = self;
    hub *h = e->hub;
    if (!e->connected) { /* connect: the will first, then up, then retained copies */
        ipe_conn_up(&e->c, &e->connected, now);
        for (size_t k = 0; k < e->c.n_sub; k++)
            for (size_t r = 0; r < h->n_ret; r++)
                if (ipe_topic_match(e->c.sub[k].filter, h->ret[r].topic))
                    enqueue(h, e, h->ret[r].topic, h->ret[r].payload, h->ret[r].len, 1);
    }
    /* deliver what is queued for this instance, in order; what the
     * callbacks publish is appended behind and kept for the next poll */
    size_t n0 = h->q_n, w = 0;
    for (size_t i = 0; i < n0; i++) {
        hub_msg *m = &h->q[i];
        if (m->to != e) {
            if (m->to != NULL && w != i)
                h->q[w] = *m;
            w += m->to != NULL;
            continue;
        }
        for (size_t k = 0; k < e->c.n_sub; k++)
            if (ipe_topic_match(e->c.sub[k].filter, m->topic)) {
                e->delivering_retained = m->retained;
                e->c.sub[k].fn(e->c.sub[k].user, m->topic, m->payload, m->len, now);
                e->delivering_retained = 0;
                e->delivered++;
                break;
            }
        m->to = NULL;
    }
    for (size_t i = n0; i < h->q_n; i++)
        h->q[w++] = h->q[i];
    h->q_n = w;
    return DT_OK;
}

static void hub_ready(void *self, int fd, unsigned events, dt_time now)
{
    (void)self, (void)fd, (void)events, (void)now;
}

static size_t hub_counters(const void *self, dt_counter *out, size_t max)
{
    const hub_engine *e = self;
    const dt_counter c[] = {{"hub.published", e->published},
                            {"hub.delivered", e->delivered},
                            {"hub.refused_down", e->refused_down}};
    for (size_t i = 0; out != NULL && i < 3 && i < max; i++)
        out[i] = c[i];
    return 3;
}

static const dt_bus_engine_ops hub_ops = {
    DT_BUS_ENGINE_ABI, "hub",         hub_keys,      hub_open,     hub_destroy,
    hub_set_will,      hub_before,    hub_on_state,  hub_subscribe, hub_publish,
    hub_connected,     hub_retained,  hub_poll,      NULL,         hub_ready,
    NULL,              NULL,          hub_counters};

/* ---- twins on the hub ---- */

#define HUB_BUS "\"bus\":{\"engine\":\"hub\",\"hub\":1,\"realm\":\"r\""

static const char pub_doc[] =
    "{\"dtwin\":1,\"name\":\"pub\",\"assets\":[{\"id\":\"tank\"}],\"signals\":["
    "{\"id\":\"y\",\"asset\":\"tank\",\"quantity\":\"length\",\"unit\":\"m\","
    " \"role\":\"measured\",\"noise\":{\"std\":0.01}},"
    "{\"id\":\"level_est\",\"asset\":\"tank\",\"quantity\":\"length\",\"unit\":\"m\","
    " \"role\":\"estimated\"},"
    "{\"id\":\"rate_est\",\"asset\":\"tank\",\"quantity\":\"velocity\",\"unit\":\"m/s\","
    " \"role\":\"estimated\"}],"
    "\"sources\":[{\"id\":\"sensor\",\"kind\":\"memory\",\"timeout\":5,"
    "  \"mapping\":[{\"native\":\"level\",\"signal\":\"y\"}]}],"
    "\"estimator\":{\"states\":[\"level_est\",\"rate_est\"],\"A\":[[0,1],[0,0]],"
    "  \"Q\":[0.0001,0.001],\"x0\":[0,0],\"P0\":[1,1],"
    "  \"measurements\":[{\"signal\":\"y\",\"H\":{\"level_est\":1}}]}," HUB_BUS
    ",\"beliefs\":[{\"group\":\"tank\",\"states\":[\"level_est\",\"rate_est\"],\"every\":0}]},"
    "\"loop\":{\"period\":0.01}}";

/* reads the publisher's level; accepts commands on its valve */
static const char sub_doc[] =
    "{\"dtwin\":1,\"name\":\"sub\",\"assets\":[{\"id\":\"site\"}],\"signals\":["
    "{\"id\":\"up\",\"asset\":\"site\",\"quantity\":\"length\",\"unit\":\"m\","
    " \"role\":\"measured\",\"noise\":{\"std\":0.01}},"
    "{\"id\":\"up_est\",\"asset\":\"site\",\"quantity\":\"length\",\"unit\":\"m\","
    " \"role\":\"estimated\"},"
    "{\"id\":\"valve\",\"asset\":\"site\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
    " \"role\":\"commanded\",\"limits\":{\"min\":0,\"max\":1}}],"
    "\"sources\":[{\"id\":\"peer\",\"kind\":\"twin\",\"twin\":\"pub\",\"belief\":\"tank\","
    "  \"clock\":{\"mode\":\"estimate\"},\"timeout\":5,"
    "  \"mapping\":[{\"native\":\"level_est\",\"signal\":\"up\",\"unit\":\"m\"}]}],"
    "\"sinks\":[{\"id\":\"k\",\"kind\":\"memory\",\"mapping\":[{\"signal\":\"valve\"}]}],"
    "\"estimator\":{\"states\":[\"up_est\"],\"A\":[[0]],\"Q\":[0.0001],\"x0\":[0],\"P0\":[1],"
    "  \"measurements\":[{\"signal\":\"up\",\"H\":{\"up_est\":1}}]},"
    "\"dispatcher\":{\"max_data_age\":5,\"safe\":{\"valve\":0}}," HUB_BUS
    ",\"accept\":[{\"signal\":\"valve\",\"deadline_max\":10}]},\"loop\":{\"period\":0.01}}";

static dt_twin *load_on(dt_registry *reg, const char *doc)
{
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    o.registry = reg;
    dt_twin *t = NULL;
    dt_diag d;
    if (dt_twin_load_json(doc, strlen(doc), &o, &t, &d) != DT_OK)
        fail_msg("load: %s: %s", d.path, d.message);
    return t;
}

static uint64_t source_counter(dt_twin *t, const char *name)
{
    dt_counter c[32];
    size_t n = dt_io_source_counters(dt_twin_io(t), 0, c, 32);
    for (size_t i = 0; i < n && i < 32; i++)
        if (strcmp(c[i].name, name) == 0)
            return c[i].value;
    fail_msg("no counter %s", name);
    return 0;
}

static uint64_t link_counter(dt_twin *t, const char *name)
{
    dt_counter c[96];
    size_t n = dt_io_link_counters(dt_twin_io(t), 0, c, 96);
    for (size_t i = 0; i < n && i < 96; i++)
        if (strcmp(c[i].name, name) == 0)
            return c[i].value;
    fail_msg("no counter %s", name);
    return 0;
}

/* the acks an issuer (a bare hub instance) reads */
static dt_buswire_ack acks[8];
static size_t n_acks;
static void on_ack(void *user, const char *topic, const uint8_t *p, size_t len, dt_time now)
{
    (void)user, (void)now;
    assert_non_null(strstr(topic, "/ack/iss"));
    dt_buswire_header h;
    assert_int_equal(dt_buswire_decode_header(p, len, &h), DT_BUSWIRE_OK);
    assert_true(n_acks < 8);
    assert_int_equal(dt_buswire_ack_at(p, len, 0, &acks[n_acks++]), DT_BUSWIRE_OK);
}

static void test_twins_on_another_engine(void **state)
{
    (void)state;
    memset(&the_hub, 0, sizeof the_hub);
    dt_registry *reg;
    assert_int_equal(dt_registry_create(NULL, &reg), 0);
    assert_int_equal(dt_registry_add_bus_engine(reg, &hub_ops), 0);
    dt_twin *pub = load_on(reg, pub_doc), *sub = load_on(reg, sub_doc);
    assert_string_equal(dt_io_link_name(dt_twin_io(pub), 0), "hub");
    dt_time t0 = 1000 * DT_NS_PER_S, now = t0;
    assert_int_equal(dt_twin_start(pub, now), 0);
    assert_int_equal(dt_twin_start(sub, now), 0);
    /* the publisher measures a level of 1.5 m; the reader's estimate follows
     * through the hub */
    for (int k = 0; k < 300; k++) {
        now += 10 * DT_NS_PER_MS;
        (void)dt_memory_source_push(dt_twin_io(pub), 0, "level", now, 1.5);
        assert_int_equal(dt_twin_step(pub, now), 0);
        assert_int_equal(dt_twin_step(sub, now), 0);
    }
    assert_true(source_counter(sub, "beliefs_offered") > 250);
    assert_int_equal(source_counter(sub, "lost"), 0);
    assert_int_equal(source_counter(sub, "contract_refused"), 0);
    const double *x = dt_kf_state(dt_est_kf(dt_twin_estimator(sub)));
    assert_true(fabs(x[0] - 1.5) < 0.05);
    assert_true(link_counter(pub, "bus.beliefs_published") > 250);
    assert_true(link_counter(pub, "hub.published") > 250); /* the engine's own counters */

    /* a command from an issuer program on the same engine: decided, acked */
    void *iss = NULL;
    hub_engine *ie = calloc(1, sizeof *ie);
    assert_non_null(ie);
    ie->hub = &the_hub;
    the_hub.inst[the_hub.n_inst++] = ie;
    iss = ie;
    assert_int_equal(hub_ops.poll(iss, now), 0); /* connects */
    assert_int_equal(hub_ops.subscribe(iss, "dt/v1/r/sub/ack/+", DT_BUS_RELIABLE, on_ack, NULL),
                     0);
    uint8_t buf[128];
    dt_buswire_header h = {DT_BUSWIRE_VERSION, DT_BUSWIRE_COMMANDS, 1,
                           (uint32_t)(time(NULL) - 1704067200), 1, 1};
    dt_buswire_command c = {7, now, now + 2 * DT_NS_PER_S, 0.4, 0, 0};
    size_t n = dt_buswire_encode_commands(buf, sizeof buf, &h, &c, 1);
    assert_int_equal(hub_ops.publish(iss, "dt/v1/r/sub/cmd/valve/iss", buf, n, DT_BUS_RELIABLE,
                                     0),
                     0);
    for (int k = 0; k < 10 && n_acks == 0; k++) {
        now += 10 * DT_NS_PER_MS;
        (void)dt_memory_source_push(dt_twin_io(pub), 0, "level", now, 1.5);
        assert_int_equal(dt_twin_step(pub, now), 0);
        assert_int_equal(dt_twin_step(sub, now), 0);
        assert_int_equal(hub_ops.poll(iss, now), 0);
    }
    assert_int_equal(n_acks, 1);
    assert_int_equal(acks[0].seq, 7);
    assert_int_equal(acks[0].decision, DT_DISP_SENT);
    dt_command out[8]; /* the safe state's commands of the start, then this one */
    size_t got = dt_memory_sink_read(dt_twin_io(sub), 0, out, 8);
    assert_true(got >= 1);
    assert_true(out[got - 1].value == 0.4);
    assert_int_equal(DT_ORIGIN_KIND(out[got - 1].origin), DT_ORIGIN_REMOTE);

    /* the publisher's connection dies: its will reaches the reader */
    hub_kill(the_hub.inst[0]);
    for (int k = 0; k < 5; k++) {
        now += 10 * DT_NS_PER_MS;
        assert_int_equal(dt_twin_step(sub, now), 0);
    }
    assert_int_equal(source_counter(sub, "peer_lost"), 1);
    hub_destroy(iss);
    dt_twin_destroy(sub);
    dt_twin_destroy(pub);
    dt_registry_destroy(reg);
}

/* The registry refuses a table it cannot use, and a check builds no engine. */
static void test_registry_checks_engines(void **state)
{
    (void)state;
    dt_registry *reg;
    assert_int_equal(dt_registry_create(NULL, &reg), 0);
    dt_bus_engine_ops o = hub_ops;
    o.abi = DT_BUS_ENGINE_ABI + 1;
    assert_int_equal(dt_registry_add_bus_engine(reg, &o), DT_EABI);
    o = hub_ops;
    o.publish = NULL;
    assert_int_equal(dt_registry_add_bus_engine(reg, &o), DT_EINVAL);
    o = hub_ops;
    o.name = "";
    assert_int_equal(dt_registry_add_bus_engine(reg, &o), DT_EINVAL);
    assert_int_equal(dt_registry_add_bus_engine(reg, NULL), DT_EINVAL);
    assert_int_equal(dt_registry_add_bus_engine(reg, &hub_ops), 0);
    assert_int_equal(dt_registry_add_bus_engine(reg, &hub_ops), DT_EEXIST);
    assert_non_null(dt_registry_bus_engine(reg, "hub"));
    assert_null(dt_registry_bus_engine(reg, "dds"));
    static const char *const names[] = {"e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8"};
    int rc = 0;
    for (size_t i = 0; i < 8 && rc == 0; i++) {
        o = hub_ops;
        o.name = names[i];
        rc = dt_registry_add_bus_engine(reg, &o);
    }
    assert_int_equal(rc, DT_ELIMIT);
    /* a check of a description on the hub opens no instance */
    memset(&the_hub, 0, sizeof the_hub);
    dt_twin_options opt = DT_TWIN_OPTIONS_INIT;
    opt.logger = dt_logger_silent();
    opt.registry = reg;
    opt.replay = 1;
    dt_twin *t = NULL;
    assert_int_equal(dt_twin_load_json(pub_doc, strlen(pub_doc), &opt, &t, NULL), 0);
    assert_int_equal(the_hub.n_inst, 0);
    dt_twin_destroy(t);
    /* the engine's own settings are its to check */
    char bad[sizeof pub_doc + 8];
    snprintf(bad, sizeof bad, "%s", pub_doc);
    char *at = strstr(bad, "\"hub\":1");
    memcpy(at, "\"hub\":\"", 7);
    opt.replay = 0;
    dt_diag d;
    assert_int_equal(dt_twin_load_json(bad, strlen(bad), &opt, &t, &d), DT_EPARSE);
    dt_registry_destroy(reg);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_twins_on_another_engine),
    cmocka_unit_test(test_registry_checks_engines),
};

DTT_MAIN(tests)
