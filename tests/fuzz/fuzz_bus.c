/* libFuzzer: the bus's message paths past their decoders, into the
 * arithmetic. A twin that accepts commands ("valve", deadline_max 5 s),
 * reads another twin's sample stream through a "twin" source and commands
 * a third through a "twin" sink runs on a small engine written here (no
 * broker: the input decides every message). Operations, each a byte then
 * its operands: a command message on cmd/valve/{a|b|c} (header epoch, seq,
 * count and the records' raw fields: times from the input, near the
 * receiver's wall epoch or anywhere), a sample batch on the stream's topic,
 * an ack message on the sink's ack topic, a $state of the publisher, a host
 * command for the sink's signal, a step (forward, or to a raw now), a hook
 * called with a raw now. Invariants: the twin keeps running, the ingest
 * accounting holds, every command record ends in exactly one counter, and
 * nothing is allocated through the twin's allocator after start. */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "dtwin/dtwin.h"
#include "alloc_counter.h"
#include "engine_base.h" /* ipe_topic_match */
#include "fuzz_util.h"

/* ---- the engine: the input delivers, the twin publishes into nothing ---- */

typedef struct fz_sub {
    char filter[160];
    dt_bus_message_fn fn;
    void *user;
} fz_sub;

typedef struct fz_eng {
    int up;
    fz_sub sub[16];
    size_t n_sub;
    dt_bus_state_fn st_fn[8];
    void *st_user[8];
    size_t n_st;
    void (*before)(void *);
    void *before_user;
    /* the message to deliver at the next ready */
    char topic[160];
    uint8_t msg[4096];
    size_t len;
    int has, retained, delivering_retained;
} fz_eng;

static fz_eng *the_engine;

static const char *const fz_keys[] = {"fz", NULL};
static fz_eng engine_mem; /* one twin per input: no allocation */

static int fz_open(const dt_bus_engine_env *env, const dt_config *bus, void **self,
                   dt_diag *diag)
{
    (void)env, (void)bus, (void)diag;
    if (self != NULL) {
        memset(&engine_mem, 0, sizeof engine_mem);
        the_engine = &engine_mem;
        *self = &engine_mem;
    }
    return DT_OK;
}
static void fz_destroy(void *self) { (void)self; }
static int fz_will(void *self, const char *t, const void *p, size_t n)
{
    (void)self, (void)t, (void)p, (void)n;
    return DT_OK;
}
static void fz_before(void *self, void (*fn)(void *), void *user)
{
    fz_eng *e = self;
    e->before = fn;
    e->before_user = user;
}
static int fz_on_state(void *self, dt_bus_state_fn fn, void *user)
{
    fz_eng *e = self;
    if (e->n_st == 8)
        return DT_ELIMIT;
    e->st_fn[e->n_st] = fn;
    e->st_user[e->n_st++] = user;
    return DT_OK;
}
static int fz_subscribe(void *self, const char *filter, dt_bus_delivery d, dt_bus_message_fn fn,
                        void *user)
{
    (void)d;
    fz_eng *e = self;
    if (e->n_sub == 16 || strlen(filter) >= sizeof e->sub[0].filter)
        return DT_ELIMIT;
    strcpy(e->sub[e->n_sub].filter, filter);
    e->sub[e->n_sub].fn = fn;
    e->sub[e->n_sub++].user = user;
    return DT_OK;
}
static int fz_publish(void *self, const char *t, const void *p, size_t n, dt_bus_delivery d,
                      int retain)
{
    (void)t, (void)p, (void)n, (void)d, (void)retain;
    return ((fz_eng *)self)->up ? DT_OK : DT_ESTATE;
}
static int fz_connected(const void *self) { return ((const fz_eng *)self)->up; }
static int fz_retained(const void *self) { return ((const fz_eng *)self)->delivering_retained; }
static int fz_poll(void *self, dt_time now)
{
    fz_eng *e = self;
    if (!e->up) {
        if (e->before != NULL)
            e->before(e->before_user);
        e->up = 1;
        for (size_t i = 0; i < e->n_st; i++)
            e->st_fn[i](e->st_user[i], 1, now);
    }
    return DT_OK;
}
static void fz_ready(void *self, int fd, unsigned ev, dt_time now)
{
    (void)fd, (void)ev;
    fz_eng *e = self;
    if (!e->has)
        return;
    e->has = 0;
    e->delivering_retained = e->retained;
    for (size_t i = 0; i < e->n_sub; i++)
        if (ipe_topic_match(e->sub[i].filter, e->topic))
            e->sub[i].fn(e->sub[i].user, e->topic, e->msg, e->len, now);
    e->delivering_retained = 0;
}

static const dt_bus_engine_ops fz_ops = {
    DT_BUS_ENGINE_ABI, "fz",        fz_keys,      fz_open,      fz_destroy,   fz_will,
    fz_before,         fz_on_state, fz_subscribe, fz_publish,   fz_connected, fz_retained,
    fz_poll,           NULL,        fz_ready,     NULL,         NULL,         NULL};

/* ---- the twin ---- */

static const char doc[] =
    "{\"dtwin\":1,\"name\":\"rcv\",\"assets\":[{\"id\":\"p\"}],\"signals\":["
    "{\"id\":\"valve\",\"asset\":\"p\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
    " \"role\":\"commanded\",\"limits\":{\"min\":0,\"max\":1}},"
    "{\"id\":\"pump\",\"asset\":\"p\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
    " \"role\":\"commanded\"},"
    "{\"id\":\"lvl\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","
    " \"noise\":{\"std\":0.01}}],"
    "\"sources\":[{\"id\":\"peer\",\"kind\":\"twin\",\"twin\":\"pub\",\"stream\":\"s\","
    " \"clock\":{\"mode\":\"estimate\"},\"timeout\":5,\"ring\":64,"
    " \"mapping\":[{\"native\":\"tank.level\",\"signal\":\"lvl\",\"unit\":\"m\"}]}],"
    "\"sinks\":[{\"id\":\"k\",\"kind\":\"memory\",\"capacity\":8,"
    "  \"mapping\":[{\"signal\":\"valve\"}]},"
    " {\"id\":\"to\",\"kind\":\"twin\",\"twin\":\"tgt\",\"ack_grace\":0.01,"
    "  \"mapping\":[{\"signal\":\"pump\",\"native\":\"pump\"}]}],"
    "\"dispatcher\":{\"max_data_age\":1000,\"safe\":{\"valve\":0,\"pump\":0}},"
    "\"bus\":{\"engine\":\"fz\",\"realm\":\"r\","
    " \"accept\":[{\"signal\":\"valve\",\"deadline_max\":5}]},\"loop\":{\"period\":0.01}}";

static const char contract[] =
    "{\"dtwin_contract\":1,\"realm\":\"r\",\"twin\":\"pub\",\"version\":7,\"beliefs\":[],"
    "\"streams\":[{\"stream\":\"s\",\"max_age\":1,\"signals\":[{\"signal\":\"tank.level\","
    "\"quantity\":\"length\",\"unit\":\"m\"}]}]}";

static dtt_counter allocs_seen;

typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;

static uint64_t take(reader *r, size_t bytes)
{
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; i++) {
        v = (v << 8) | (r->n ? *r->p : 0);
        if (r->n)
            r->p++, r->n--;
    }
    return v;
}

static void put(uint8_t *p, uint64_t v, size_t bytes)
{
    for (size_t i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* A message of the wire format written by hand (the encoders refuse what
 * the input should be free to say): header, then count records of `rec`
 * bytes, each field from the input. */
static size_t message(reader *r, uint8_t *buf, uint8_t type, size_t rec, uint32_t epoch_base)
{
    size_t count = take(r, 1) % 4 + (take(r, 1) == 0xFF ? 300 : 0);
    uint32_t epoch = (uint32_t)take(r, 1) < 200 ? epoch_base + (uint32_t)take(r, 1) % 8
                                                 : (uint32_t)take(r, 4);
    uint64_t seq = take(r, 1) < 200 ? take(r, 1) % 80 : take(r, 8);
    put(buf, 0x42575444u, 4); /* the magic, little-endian */
    buf[4] = 1;
    buf[5] = type;
    put(buf + 6, count, 2);
    put(buf + 8, epoch, 4);
    put(buf + 12, take(r, 1) < 250 ? 7 : take(r, 4), 4);
    put(buf + 16, seq, 8);
    size_t len = 24;
    for (size_t i = 0; i < count && len + rec <= 4096; i++, len += rec) {
        uint8_t *p = buf + len;
        memset(p, 0, rec);
        for (size_t k = 0; k + 8 <= rec; k += 8) {
            uint64_t v = take(r, 1) < 128 ? take(r, 2) * (uint64_t)1000000 : take(r, 8);
            put(p + k, v, 8);
        }
    }
    if (take(r, 1) == 0xFE && len > 25)
        len -= 1; /* truncated */
    return len;
}

static void deliver(dt_io *io, const char *topic, size_t len, int retained, dt_time now)
{
    fz_eng *e = the_engine;
    strcpy(e->topic, topic);
    e->len = len;
    e->has = 1;
    e->retained = retained;
    dt_io_ready(io, DT_IO_LINK | 0, 0, DT_WATCH_READ, now);
}

static uint64_t link_counter(dt_io *io, const char *name)
{
    dt_counter c[96];
    size_t n = dt_io_link_counters(io, 0, c, 96);
    for (size_t i = 0; i < n && i < 96; i++)
        if (strcmp(c[i].name, name) == 0)
            return c[i].value;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    static dt_registry *reg;
    if (reg == NULL) {
        FUZZ_CHECK(dt_registry_create(NULL, &reg) == DT_OK);
        FUZZ_CHECK(dt_registry_add_bus_engine(reg, &fz_ops) == DT_OK);
    }
    dt_allocator a = dtt_allocator(&allocs_seen);
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.allocator = &a;
    o.logger = dt_logger_silent();
    o.registry = reg;
    dt_twin *t = NULL;
    dt_diag d;
    if (dt_twin_load_json(doc, sizeof doc - 1, &o, &t, &d) != DT_OK) {
        fprintf(stderr, "%s: %s\n", d.path, d.message);
        FUZZ_CHECK(0);
    }
    dt_io *io = dt_twin_io(t);
    dt_signal_id pump;
    FUZZ_CHECK(dt_model_find_signal(dt_twin_model(t), "pump", &pump) == DT_OK);
    const uint32_t wall = (uint32_t)(time(NULL) - 1704067200);
    dt_time now = 1000 * DT_NS_PER_S;
    FUZZ_CHECK(dt_twin_start(t, now) == DT_OK);
    FUZZ_CHECK(dt_twin_step(t, now) == DT_OK); /* connects */
    memcpy(the_engine->msg, contract, sizeof contract - 1);
    deliver(io, "dt/v1/r/pub/$contract", sizeof contract - 1, 1, now);
    long allocs_at_start = allocs_seen.calls, parse_allocs = 0;
    reader r = {data, size};
    static const char *const cmd_topics[] = {"dt/v1/r/rcv/cmd/valve/a", "dt/v1/r/rcv/cmd/valve/b",
                                             "dt/v1/r/rcv/cmd/valve/c", "dt/v1/r/rcv/cmd/x/a",
                                             "dt/v1/r/rcv/cmd/valve"};
    while (r.n > 0) {
        switch (take(&r, 1) % 8) {
        case 0: { /* a command message */
            const char *topic = cmd_topics[take(&r, 1) % 5];
            size_t len = message(&r, the_engine->msg, 3, 40, wall);
            deliver(io, topic, len, (take(&r, 1) & 7) == 0, now);
            break;
        }
        case 1: { /* a sample batch of the publisher */
            size_t len = message(&r, the_engine->msg, 1, 32, 100);
            deliver(io, "dt/v1/r/pub/s/s", len, 0, now);
            break;
        }
        case 2: { /* an ack for the sink */
            size_t len = message(&r, the_engine->msg, 4, 24, wall);
            deliver(io, "dt/v1/r/tgt/ack/rcv", len, 0, now);
            break;
        }
        case 3: { /* the publisher's state */
            static const char *const st[] = {"ready", "lost", "stopped", "init"};
            int n = snprintf((char *)the_engine->msg, sizeof the_engine->msg,
                             "{\"state\":\"%s\",\"epoch\":%u,\"contract\":7}",
                             st[take(&r, 1) % 4], (unsigned)(100 + take(&r, 1) % 4));
            long before = allocs_seen.calls; /* a state is parsed with cJSON (bus.md) */
            deliver(io, "dt/v1/r/pub/$state", (size_t)n, 0, now);
            parse_allocs += allocs_seen.calls - before;
            break;
        }
        case 4: { /* a host command for the sink's signal */
            dt_command c = {0};
            c.signal = pump;
            c.value = (double)(int8_t)take(&r, 1);
            c.t_issued = now;
            c.t_deadline = now + (dt_time)take(&r, 1) * DT_NS_PER_MS;
            int rc = dt_twin_submit(t, &c);
            FUZZ_CHECK(rc == DT_OK || rc == DT_EFULL);
            break;
        }
        case 5: { /* a hook with a raw now: ignored when out of range */
            dt_time raw = (dt_time)take(&r, 8);
            dt_io_ready(io, DT_IO_LINK | 0, 0, DT_WATCH_READ, raw);
            dt_io_wake(io, raw);
            break;
        }
        default: { /* step forward 0..2550 ms */
            dt_time step = (dt_time)take(&r, 1) * 10 * DT_NS_PER_MS;
            now += step;
            int rc = dt_twin_step(t, now);
            FUZZ_CHECK(rc == DT_OK || rc == DT_ENUMERIC);
            dt_source_stats st;
            FUZZ_CHECK(dt_ingest_source_stats(dt_twin_ingest(t), 0, &st) == DT_OK);
            FUZZ_CHECK(fuzz_accounted(&st));
            break;
        }
        }
    }
    (void)dt_twin_step(t, now + DT_NS_PER_S);
    /* every command record taken ends in one counter: refused before the
     * twin, or handed over, or still waiting in the bus's queue */
    uint64_t records = link_counter(io, "bus.cmd_records");
    uint64_t ended = link_counter(io, "bus.cmd_clock_jump") +
                     link_counter(io, "bus.cmd_deadline_too_far") +
                     link_counter(io, "bus.cmd_expired") + link_counter(io, "bus.cmd_queue_full") +
                     link_counter(io, "bus.cmd_submitted") + link_counter(io, "bus.cmd_refused");
    FUZZ_CHECK(ended <= records && records - ended <= 256);
    /* nothing allocated after start but the parse of a $state */
    FUZZ_CHECK(allocs_seen.calls - parse_allocs == allocs_at_start);
    dt_twin_destroy(t);
    return 0;
}
