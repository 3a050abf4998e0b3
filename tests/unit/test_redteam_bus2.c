/* Red team of the commands between twins, second pass: the receiver's rules
 * (src/bus/bus_cmd.c), the twin sink's ack handling (src/bus/twin_sink.c),
 * the flight log's remote records (src/twin/recorder.c) and the engine
 * table (dtwin/bus.h), driven through an in-process engine written here,
 * "red", which the test steers message by message: which callback runs,
 * with which `now`, whether publish fails, delivers at once or re-enters
 * the layer. No broker: every test is deterministic and fast.
 *
 * Two kinds of test, each says which it is:
 * - DEFECT: fails on the code it was written against; it shows a rule that
 *   does not hold and passes once the rule is made to hold.
 * - HOLDS: a defence that held under attack, kept as documentation. */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "engine_base.h"
#include "membuf.h"
#include "test_util.h"

#include "dtwin/dtwin.h"

#define EPOCH_ORIGIN 1704067200 /* as the bus: epochs are seconds since 2024 */

static uint32_t wall_epoch(void) { return (uint32_t)(time(NULL) - EPOCH_ORIGIN); }

/* ---- the engine "red" ---- */

#define RE_KEPT 512 /* publishes kept for reading (the rest are counted) */
#define RE_INBOX 512

typedef struct red_msg {
    char topic[200];
    uint8_t p[1024];
    size_t len;
    int retained;
} red_msg;

typedef struct red_eng red_eng;
struct red_eng {
    int connected, retained_now;
    ipe_conn c; /* subscriptions, hooks (engine_base.h) */
    int pub_rc; /* publish returns this when not 0 */
    red_msg kept[RE_KEPT];
    size_t n_kept;
    uint64_t published;
    red_msg inbox[RE_INBOX]; /* delivered at the next poll or ready, with its now */
    size_t n_inbox;
    dt_time now; /* the last hook's */
    int sync;    /* publish delivers at once to the other instances */
    /* called after every successful publish (re-entrancy) */
    void (*on_pub)(red_eng *e, const char *topic, const uint8_t *p, size_t len);
};

static red_eng *inst[4];
static size_t n_inst;

/* Runs the callback of the first subscription matching topic: 1 when one did. */
static int deliver(red_eng *e, const char *topic, const uint8_t *p, size_t len, dt_time now,
                   int retained)
{
    for (size_t k = 0; k < e->c.n_sub; k++)
        if (ipe_topic_match(e->c.sub[k].filter, topic)) {
            e->retained_now = retained;
            e->c.sub[k].fn(e->c.sub[k].user, topic, p, len, now);
            e->retained_now = 0;
            return 1;
        }
    return 0;
}

static void flush_inbox(red_eng *e, dt_time now)
{
    size_t n = e->n_inbox;
    e->n_inbox = 0;
    static red_msg copy[RE_INBOX];
    memcpy(copy, e->inbox, n * sizeof copy[0]);
    for (size_t i = 0; i < n; i++)
        (void)deliver(e, copy[i].topic, copy[i].p, copy[i].len, now, copy[i].retained);
}

static void post(red_eng *e, const char *topic, const uint8_t *p, size_t len)
{
    assert_true(e->n_inbox < RE_INBOX && len <= sizeof e->inbox[0].p);
    red_msg *m = &e->inbox[e->n_inbox++];
    snprintf(m->topic, sizeof m->topic, "%s", topic);
    memcpy(m->p, p, len);
    m->len = len;
    m->retained = 0;
}

static const char *const red_keys[] = {"red", NULL};

static int red_open(const dt_bus_engine_env *env, const dt_config *bus, void **self,
                    dt_diag *diag)
{
    (void)env, (void)bus, (void)diag;
    if (self == NULL)
        return DT_OK;
    red_eng *e = calloc(1, sizeof *e);
    assert_non_null(e);
    assert_true(n_inst < 4);
    inst[n_inst++] = e;
    *self = e;
    return DT_OK;
}

static void red_destroy(void *self)
{
    for (size_t i = 0; i < n_inst; i++)
        if (inst[i] == self)
            inst[i] = NULL;
    free(self);
}

static int red_set_will(void *self, const char *topic, const void *p, size_t len)
{
    (void)self, (void)topic, (void)p, (void)len;
    return DT_OK;
}

static void red_before(void *self, void (*fn)(void *), void *user)
{
    ipe_conn_before(&((red_eng *)self)->c, fn, user);
}

static int red_on_state(void *self, dt_bus_state_fn fn, void *user)
{
    return ipe_conn_on_state(&((red_eng *)self)->c, fn, user);
}

static int red_subscribe(void *self, const char *filter, dt_bus_delivery d, dt_bus_message_fn fn,
                         void *user)
{
    (void)d;
    return ipe_conn_subscribe(&((red_eng *)self)->c, filter, fn, user);
}

static int red_publish(void *self, const char *topic, const void *p, size_t len,
                       dt_bus_delivery d, int retain)
{
    (void)d, (void)retain;
    red_eng *e = self;
    if (!e->connected)
        return DT_ESTATE;
    if (e->pub_rc != 0)
        return e->pub_rc;
    e->published++;
    if (e->n_kept < RE_KEPT && len <= sizeof e->kept[0].p) {
        red_msg *m = &e->kept[e->n_kept++];
        snprintf(m->topic, sizeof m->topic, "%s", topic);
        memcpy(m->p, p, len);
        m->len = len;
    }
    if (e->on_pub != NULL)
        e->on_pub(e, topic, p, len);
    for (size_t i = 0; e->sync && i < n_inst; i++)
        if (inst[i] != NULL && inst[i] != e && inst[i]->connected)
            (void)deliver(inst[i], topic, p, len, inst[i]->now, 0);
    return DT_OK;
}

static int red_connected(const void *self) { return ((const red_eng *)self)->connected; }
static int red_retained(const void *self) { return ((const red_eng *)self)->retained_now; }

static void red_connect(red_eng *e, dt_time now) { ipe_conn_up(&e->c, &e->connected, now); }

static int red_poll(void *self, dt_time now)
{
    red_eng *e = self;
    e->now = now;
    if (!e->connected)
        red_connect(e, now);
    flush_inbox(e, now);
    return DT_OK;
}

static void red_ready(void *self, int fd, unsigned events, dt_time now)
{
    (void)fd, (void)events;
    red_eng *e = self;
    e->now = now;
    flush_inbox(e, now);
}

static const dt_bus_engine_ops red_ops = {
    DT_BUS_ENGINE_ABI, "red",        red_keys,     red_open,      red_destroy,
    red_set_will,      red_before,   red_on_state, red_subscribe, red_publish,
    red_connected,     red_retained, red_poll,     NULL,          red_ready,
    NULL,              NULL,         NULL};

/* ---- twins on it ---- */

#define RED_BUS "\"bus\":{\"engine\":\"red\",\"realm\":\"r\""

/* accepts "valve" (deadline_max 10 s); a memory sink; no safe state (the
 * dispatcher's own commands would only add rows to compare) */
static const char rcv_doc[] =
    "{\"dtwin\":1,\"name\":\"rcv\",\"assets\":[{\"id\":\"plant\"}],\"signals\":["
    "{\"id\":\"valve\",\"asset\":\"plant\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
    " \"role\":\"commanded\",\"limits\":{\"min\":0,\"max\":1}},"
    "{\"id\":\"flow\",\"asset\":\"plant\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
    " \"role\":\"measured\",\"noise\":{\"std\":0.1}}],"
    "\"sources\":[{\"id\":\"m\",\"kind\":\"memory\",\"timeout\":5,"
    "  \"mapping\":[{\"native\":\"flow\",\"signal\":\"flow\"}]}],"
    "\"sinks\":[{\"id\":\"k\",\"kind\":\"memory\",\"capacity\":1024,"
    "  \"mapping\":[{\"signal\":\"valve\"}]}],"
    "\"dispatcher\":{\"max_data_age\":5,\"safe\":{\"valve\":0}}," RED_BUS
    ",\"accept\":[{\"signal\":\"valve\",\"deadline_max\":10}]},\"loop\":{\"period\":0.01}}";

/* commands rcv's valve through a twin sink */
static const char iss_doc[] =
    "{\"dtwin\":1,\"name\":\"iss\",\"assets\":[{\"id\":\"site\"}],\"signals\":["
    "{\"id\":\"flow\",\"asset\":\"site\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
    " \"role\":\"measured\",\"noise\":{\"std\":0.1}},"
    "{\"id\":\"open\",\"asset\":\"site\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
    " \"role\":\"commanded\"}],"
    "\"sources\":[{\"id\":\"m\",\"kind\":\"memory\",\"timeout\":5,"
    "  \"mapping\":[{\"native\":\"flow\",\"signal\":\"flow\"}]}],"
    "\"sinks\":[{\"id\":\"to_rcv\",\"kind\":\"twin\",\"twin\":\"rcv\",\"ack_grace\":1,"
    "  \"mapping\":[{\"signal\":\"open\",\"native\":\"valve\",\"unit\":\"1\"}]}],"
    "\"dispatcher\":{\"max_data_age\":5,\"safe\":{\"open\":0}}," RED_BUS
    "},\"loop\":{\"period\":0.01}}";

#define T0 (1000 * DT_NS_PER_S)
#define MS DT_NS_PER_MS
#define SEC DT_NS_PER_S
#define CMD_TOPIC "dt/v1/r/rcv/cmd/valve/"
#define ACK_TOPIC "dt/v1/r/rcv/ack/iss"

static dt_registry *reg;

static int setup(void **state)
{
    (void)state;
    if (dt_registry_create(NULL, &reg) != DT_OK || dt_registry_add_bus_engine(reg, &red_ops) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    dt_registry_destroy(reg);
    return 0;
}

/* every test starts with no engine instance */
static void fresh(void)
{
    memset(inst, 0, sizeof inst);
    n_inst = 0;
}

static dt_twin *load(const char *doc, int replay)
{
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    o.registry = reg;
    o.replay = replay;
    dt_twin *t = NULL;
    dt_diag d;
    if (dt_twin_load_json(doc, strlen(doc), &o, &t, &d) != DT_OK)
        fail_msg("load: %s: %s", d.path, d.message);
    return t;
}

static uint64_t counter_in(const dt_counter *c, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(c[i].name, name) == 0)
            return c[i].value;
    fail_msg("no counter %s", name);
    return 0;
}

static uint64_t bus(dt_twin *t, const char *name)
{
    dt_counter c[128];
    size_t n = dt_io_link_counters(dt_twin_io(t), 0, c, 128);
    return counter_in(c, n < 128 ? n : 128, name);
}

static uint64_t snk(dt_twin *t, const char *name)
{
    dt_counter c[64];
    size_t n = dt_io_sink_counters(dt_twin_io(t), 0, c, 64);
    return counter_in(c, n < 64 ? n : 64, name);
}

/* One step with fresh data (the dispatcher's latency rule stays quiet). */
static int step(dt_twin *t, dt_time now)
{
    (void)dt_memory_source_push(dt_twin_io(t), 0, "flow", now, 1.0);
    return dt_twin_step(t, now);
}

/* A command message of one or more records. */
static size_t cmd_msg(uint8_t *buf, size_t cap, uint32_t epoch, uint64_t seq,
                      const dt_buswire_command *r, size_t n)
{
    dt_buswire_header h = {DT_BUSWIRE_VERSION, DT_BUSWIRE_COMMANDS, 0, epoch, 1, seq};
    size_t len = dt_buswire_encode_commands(buf, cap, &h, r, n);
    assert_true(len > 0);
    return len;
}

static dt_buswire_command rec(uint64_t seq, dt_time issued, dt_time room, double v)
{
    dt_buswire_command r = {seq, issued, issued + room, v, 0, 0};
    return r;
}

/* rcv's engine gets one message on cmd/valve/{issuer} at now. */
static void send_cmd(red_eng *e, const char *issuer, uint32_t epoch, uint64_t seq,
                     dt_buswire_command r, dt_time now)
{
    uint8_t buf[256];
    char topic[200];
    size_t n = cmd_msg(buf, sizeof buf, epoch, seq, &r, 1);
    snprintf(topic, sizeof topic, CMD_TOPIC "%s", issuer);
    assert_true(deliver(e, topic, buf, n, now, 0));
}

/* The last value rcv's memory sink received (NAN: none). */
static double last_sent(dt_twin *t)
{
    static dt_command out[1024];
    static double last = NAN;
    size_t n = dt_memory_sink_read(dt_twin_io(t), 0, out, 1024);
    if (n > 0)
        last = out[n - 1].value;
    return last;
}

/* A receiver started at T0 and connected (its first step polls the engine). */
static dt_twin *receiver(red_eng **e)
{
    dt_twin *t = load(rcv_doc, 0);
    assert_int_equal(dt_twin_start(t, T0), 0);
    assert_int_equal(step(t, T0), 0);
    *e = inst[n_inst - 1];
    assert_true((*e)->connected);
    (void)last_sent(t);
    return t;
}

/* ====================================================================== */
/* DEFECT: one forged record with command number 2^64-1 in the issuer's
 * current epoch pins the epoch's last command number: every later real
 * record is refused as bus.cmd_record_order until the issuer reconnects.
 * The message seq has a jump bound for exactly this reason ("a forged seq
 * at its maximum is refused, not taken as the new last"); the command
 * number has none (bus_cmd.c on_command: `m->last_cmd = r.seq`). Stated
 * aim violated: "no single forged message shuts a real issuer out". */
static void test_forged_command_number_max_shuts_issuer_out(void **state)
{
    (void)state;
    fresh();
    red_eng *e;
    dt_twin *t = receiver(&e);
    const uint32_t E = wall_epoch();
    dt_time now = T0 + 10 * MS;
    send_cmd(e, "a", E, 1, rec(1, now, 5 * SEC, 0.5), now);
    assert_int_equal(step(t, now), 0);
    assert_close(last_sent(t), 0.5, 0, 0);
    now += 10 * MS; /* forged: the next message seq, command number 2^64-1 */
    send_cmd(e, "a", E, 2, rec(UINT64_MAX, now, 5 * SEC, 0.9), now);
    assert_int_equal(step(t, now), 0);
    for (int k = 0; k < 3; k++) { /* the real issuer goes on: 3, 4, 5 */
        now += 10 * MS;
        send_cmd(e, "a", E, 3 + (uint64_t)k, rec(2 + (uint64_t)k, now, 5 * SEC, 0.2 + 0.1 * k),
                 now);
        assert_int_equal(step(t, now), 0);
    }
    /* the real issuer's last command was carried out */
    assert_int_equal(bus(t, "bus.cmd_record_order"), 0);
    assert_close(last_sent(t), 0.4, 0, 1e-12);
    dt_twin_destroy(t);
}

/* DEFECT: the first message of an epoch that was held back on its way (a
 * bridge's queue, a receiver loop stalled for 5 s, or simply a host that
 * submitted the command with an issue time 5 s in the past) sets the
 * epoch's "fastest transit" 5 s too slow and is never corrected: every
 * later, timely command of that epoch claims a transit 5 s faster and is
 * refused as bus.cmd_clock_jump (acked refused, DT_ERANGE) until the issuer
 * reconnects. One delayed message shuts the issuer out for its whole
 * epoch, though nothing was forged. */
static void test_first_message_held_back_shuts_epoch_out(void **state)
{
    (void)state;
    fresh();
    red_eng *e;
    dt_twin *t = receiver(&e);
    const uint32_t E = wall_epoch();
    /* the issuer's clock equals ours here; its first command was issued at
     * T0 - 5 s and arrives now (10 s to carry it out: 5 s are left) */
    dt_time now = T0 + 10 * MS;
    send_cmd(e, "a", E, 1, rec(1, now - 5 * SEC, 10 * SEC, 0.5), now);
    assert_int_equal(step(t, now), 0);
    /* then commands issued now, arriving at once: the first is refused as a
     * clock jump (one message may not move the epoch's offset), the second
     * confirms it, and from then on they are taken (FIXED: before, every
     * one was refused until the issuer reconnected) */
    for (int k = 0; k < 3; k++) {
        now += 100 * MS;
        send_cmd(e, "a", E, 2 + (uint64_t)k, rec(2 + (uint64_t)k, now, 5 * SEC, 0.6 + 0.1 * k),
                 now);
        assert_int_equal(step(t, now), 0);
    }
    assert_int_equal(bus(t, "bus.cmd_clock_jump"), 1);
    assert_close(last_sent(t), 0.8, 0, 1e-12);
    dt_twin_destroy(t);
}

/* DEFECT: an issuer takes one of the 16 issuer slots (for the twin's life)
 * before its message passes any rule: 16 messages that are refused whole
 * (here: epoch 0, bus.cmd_stale_epoch) from 16 made-up names fill the table,
 * and every real issuer that had not yet spoken is refused as
 * bus.cmd_issuers_full from then on. The slot should be taken only by a
 * message that passes the epoch and seq rules (bus_cmd.c on_command calls
 * issuer_index before take_seq). */
static void test_refused_messages_take_issuer_slots(void **state)
{
    (void)state;
    fresh();
    red_eng *e;
    dt_twin *t = receiver(&e);
    dt_time now = T0 + 10 * MS;
    for (int k = 0; k < 16; k++) {
        char name[16];
        snprintf(name, sizeof name, "f%d", k);
        send_cmd(e, name, 0, 1, rec(1, now, SEC, 0.9), now);
    }
    assert_int_equal(bus(t, "bus.cmd_stale_epoch"), 16);
    send_cmd(e, "real", wall_epoch(), 1, rec(1, now, 5 * SEC, 0.3), now);
    assert_int_equal(step(t, now), 0);
    assert_int_equal(bus(t, "bus.cmd_issuers_full"), 0);
    assert_int_equal(bus(t, "bus.cmd_submitted"), 1);
    dt_twin_destroy(t);
}

/* FIXED (was: one forged epoch at wall + 500 s, inside the 600 s then
 * allowed, was taken and made the real issuer's next reconnect stale for
 * up to 600 s). An epoch may now run at most 120 s ahead of the receiver's
 * wall clock, and failed connect attempts no longer advance an issuer's
 * epoch, so a forged wall + 500 s is refused as future and the real
 * reconnect is taken. What remains: a forged epoch within 120 s still
 * holds the real issuer's reconnect off until the clock passes it (signed
 * commands will close that). */
static void test_one_forged_epoch_refuses_the_real_reconnect(void **state)
{
    (void)state;
    fresh();
    red_eng *e;
    dt_twin *t = receiver(&e);
    const uint32_t E = wall_epoch();
    dt_time now = T0 + 10 * MS;
    send_cmd(e, "a", E, 1, rec(1, now, 5 * SEC, 0.5), now);
    send_cmd(e, "a", E + 500, 1, rec(1, now, 5 * SEC, 0.9), now); /* forged */
    assert_int_equal(bus(t, "bus.cmd_future_epoch"), 1);
    send_cmd(e, "a", E, 2, rec(2, now, 5 * SEC, 0.4), now); /* real: taken */
    assert_int_equal(bus(t, "bus.cmd_records"), 2);
    send_cmd(e, "a", E + 2, 1, rec(1, now, 5 * SEC, 0.3), now); /* real, reconnected */
    assert_int_equal(bus(t, "bus.cmd_stale_epoch"), 0);
    assert_int_equal(bus(t, "bus.cmd_records"), 3);
    dt_twin_destroy(t);
}

/* ---- the twin sink ---- */

/* The issuer, started at T0 and connected; its sink's published commands
 * are read from the engine's kept messages. */
static dt_twin *issuer(red_eng **e)
{
    dt_twin *t = load(iss_doc, 0);
    assert_int_equal(dt_twin_start(t, T0), 0);
    assert_int_equal(step(t, T0), 0);
    *e = inst[n_inst - 1];
    assert_true((*e)->connected);
    return t;
}

static uint64_t issue(dt_twin *t, red_eng *e, dt_time now, double v, dt_time room)
{
    dt_signal_id open;
    assert_int_equal(dt_model_find_signal(dt_twin_model(t), "open", &open), 0);
    dt_command c = {.signal = open, .t_issued = now, .t_deadline = now + room, .value = v};
    size_t k0 = e->n_kept;
    assert_int_equal(dt_twin_submit(t, &c), 0);
    assert_int_equal(step(t, now), 0);
    assert_int_equal(e->n_kept, k0 + 1);
    dt_buswire_command r;
    assert_int_equal(dt_buswire_command_at(e->kept[k0].p, e->kept[k0].len, 0, &r),
                     DT_BUSWIRE_OK);
    return r.seq;
}

static void send_ack(red_eng *e, uint32_t epoch, uint64_t seq, uint64_t cmd, uint32_t decision,
                     dt_time now)
{
    uint8_t buf[128];
    dt_buswire_header h = {DT_BUSWIRE_VERSION, DT_BUSWIRE_ACKS, 0, epoch, 1, seq};
    dt_buswire_ack a = {cmd, decision, 0, now};
    size_t n = dt_buswire_encode_acks(buf, sizeof buf, &h, &a, 1);
    assert_true(n > 0);
    assert_true(deliver(e, ACK_TOPIC, buf, n, now, 0));
}

/* DEFECT: the twin sink works only on an engine named "mqtt". Its issuer
 * name, epoch and contract version come from dt__bus_twin, dt__bus_epoch
 * and dt__bus_contract_version (src/bus/bus.c, the end), which look the bus
 * up as the io's link named "mqtt" (DT__BUS_MQTT), while the bus adds its
 * link under the engine's name (bus_config.c dt__bus_read:
 * dt__io_add_link(io, eng->name, ...)); bus_config.c's own helpers use
 * dt__io_link_by_ops. On any other engine the sink publishes on
 * .../cmd/valve/ (an empty issuer level: the receiver counts
 * bus.cmd_bad_topic), with epoch 0 (which every receiver refuses as stale),
 * subscribes to .../ack/ (no ack ever reaches it), and its "this twin
 * itself" check compares with "". docs/bus.md "Engines" says the layer
 * depends only on the table. The twin sink tests below fail on this first. */
static void test_twin_sink_on_another_engine(void **state)
{
    (void)state;
    fresh();
    red_eng *e;
    dt_twin *t = issuer(&e);
    int subscribed = 0;
    for (size_t k = 0; k < e->c.n_sub; k++)
        subscribed |= strcmp(e->c.sub[k].filter, ACK_TOPIC) == 0;
    assert_true(subscribed);
    dt_time now = T0 + 10 * MS;
    (void)issue(t, e, now, 0.5, 5 * SEC);
    red_msg *m = &e->kept[e->n_kept - 1];
    assert_string_equal(m->topic, CMD_TOPIC "iss");
    dt_buswire_header h;
    assert_int_equal(dt_buswire_decode_header(m->p, m->len, &h), DT_BUSWIRE_OK);
    assert_true(h.epoch + 5 >= wall_epoch() && h.epoch <= wall_epoch() + 5);
    dt_twin_destroy(t);
}

/* DEFECT: one forged ack message with epoch 4294967295 makes every real ack
 * stale (ack_stale_epoch) for good: "until its epoch passes it" (docs/bus.md)
 * is never. The receiver bounds a new epoch to 600 s ahead of its wall
 * clock; the sink does not (twin_sink.c on_ack), though its header says
 * "Acks are checked as the receiver checks commands". The real command is
 * given up as ack_missing and never reported applied. */
static void test_sink_forged_ack_epoch_max_locks_acks_out(void **state)
{
    (void)state;
    fresh();
    red_eng *e;
    dt_twin *t = issuer(&e);
    const uint32_t E = wall_epoch();
    dt_time now = T0 + 10 * MS;
    uint64_t seq = issue(t, e, now, 0.5, 5 * SEC);
    send_ack(e, UINT32_MAX, 1, 999, DT_DISP_SENT, now); /* forged */
    send_ack(e, E, 1, seq, DT_DISP_SENT, now);          /* the target's real one */
    assert_int_equal(snk(t, "ack_stale_epoch"), 0);
    assert_int_equal(snk(t, "acks_applied"), 1);
    dt_twin_destroy(t);
}

/* DEFECT: one forged ack message with seq 2^64-1 in the target's current
 * epoch makes every later real ack of that epoch a duplicate
 * (ack_duplicate) until the target reconnects; the receiver's 64-jump rule
 * for command messages has no counterpart here (not in docs/bus.md). */
static void test_sink_forged_ack_seq_max_locks_acks_out(void **state)
{
    (void)state;
    fresh();
    red_eng *e;
    dt_twin *t = issuer(&e);
    const uint32_t E = wall_epoch();
    dt_time now = T0 + 10 * MS;
    uint64_t s1 = issue(t, e, now, 0.5, 5 * SEC);
    send_ack(e, E, 1, s1, DT_DISP_SENT, now);
    now += 10 * MS;
    uint64_t s2 = issue(t, e, now, 0.6, 5 * SEC);
    send_ack(e, E, UINT64_MAX, 999, DT_DISP_SENT, now); /* forged */
    send_ack(e, E, 2, s2, DT_DISP_SENT, now);           /* the target's next */
    assert_int_equal(snk(t, "ack_duplicate"), 0);
    assert_int_equal(snk(t, "acks_applied"), 2);
    dt_twin_destroy(t);
}

/* DEFECT: an engine that delivers a message inside publish (an in-process
 * engine, which dtwin/bus.h does not forbid: it only says callbacks run on
 * the twin's thread) makes the twin sink lose the ack of a command the
 * target refuses at once: the sink stores the command in its pending table
 * only after publish returns (twin_sink.c twinsnk_apply), the target's ack
 * (here: deadline 20 s > its deadline_max 10 s, acked refused at once)
 * comes back inside that publish and is counted ack_unknown, and the
 * command is later given up as ack_missing instead of acks_failed. Either
 * the sink fills its slot before publishing, or the engine contract says
 * message callbacks run only inside poll / ready / wake. */
static void test_sink_ack_inside_publish_is_lost(void **state)
{
    (void)state;
    fresh();
    red_eng *er, *ei;
    dt_twin *r = receiver(&er);
    dt_twin *t = issuer(&ei);
    er->sync = ei->sync = 1;
    dt_time now = T0 + 10 * MS;
    (void)issue(t, ei, now, 0.5, 20 * SEC);
    assert_int_equal(bus(r, "bus.cmd_deadline_too_far"), 1);
    assert_int_equal(bus(r, "bus.acks_published"), 1);
    assert_int_equal(snk(t, "ack_messages"), 1);
    assert_int_equal(snk(t, "ack_unknown"), 0);
    assert_int_equal(snk(t, "acks_failed"), 1);
    dt_twin_destroy(t);
    dt_twin_destroy(r);
}

/* DEFECT: every connect attempt moves the twin's epoch on by at least 1
 * (bus.c next_epoch runs in before_connect, which runs before every
 * attempt, failed or not). With a fast reconnect ("reconnect": {"min":
 * 0.01, "max": 0.01} is valid: 100 attempts a second) an outage of 10 s
 * puts the epoch ~1000 s ahead of the wall clock, and every receiver then
 * refuses the twin's commands as bus.cmd_future_epoch (> wall + 600 s)
 * until the wall clock catches up. Here: 1000 attempts, then the command
 * the twin sink publishes reaches the receiver. */
static void test_connect_attempts_run_the_epoch_ahead(void **state)
{
    (void)state;
    fresh();
    red_eng *er, *ei;
    dt_twin *r = receiver(&er);
    dt_twin *t = issuer(&ei);
    for (int k = 0; k < 1000; k++) /* failed attempts: before_connect each time */
        ei->c.before(ei->c.before_user);
    dt_time now = T0 + 10 * MS;
    (void)issue(t, ei, now, 0.5, 5 * SEC);
    red_msg *m = &ei->kept[ei->n_kept - 1];
    assert_true(deliver(er, m->topic, m->p, m->len, now, 0));
    assert_int_equal(bus(r, "bus.cmd_future_epoch"), 0);
    assert_int_equal(bus(r, "bus.cmd_records"), 1);
    dt_twin_destroy(t);
    dt_twin_destroy(r);
}

/* ---- the flight log's remote records ---- */

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void log_time(membuf *m, uint8_t type, dt_time t)
{
    uint8_t b[9] = {type};
    put64(b + 1, (uint64_t)t);
    (void)mem_write(m, b, 9);
}

/* A command record of the log: type, u32 signal, u16 origin, u16 authority,
 * u64 seq, i64 issued, i64 deadline, f64 value. */
static void log_cmd(membuf *m, uint8_t type, uint32_t sig, uint16_t origin, uint64_t seq,
                    dt_time issued, dt_time deadline, double v)
{
    uint8_t b[41] = {type};
    for (int i = 0; i < 4; i++)
        b[1 + i] = (uint8_t)(sig >> (8 * i));
    b[5] = (uint8_t)origin;
    b[6] = (uint8_t)(origin >> 8);
    put64(b + 9, seq);
    put64(b + 17, (uint64_t)issued);
    put64(b + 25, (uint64_t)deadline);
    uint64_t u;
    memcpy(&u, &v, 8);
    put64(b + 33, u);
    (void)mem_write(m, b, 41);
}

static void log_sink(membuf *m, int32_t rc)
{
    uint8_t b[5] = {5};
    for (int i = 0; i < 4; i++)
        b[1 + i] = (uint8_t)((uint32_t)rc >> (8 * i));
    (void)mem_write(m, b, 5);
}

/* A valid log of rcv_doc: a live run of three steps with fresh data
 * (T0 .. T0 + 20 ms); crafted records are appended after it. */
static void log_live(membuf *m)
{
    dt_twin *t = load(rcv_doc, 0);
    assert_int_equal(dt_twin_record(t, mem_write, m), 0);
    assert_int_equal(dt_twin_start(t, T0), 0);
    for (int k = 0; k < 3; k++)
        assert_int_equal(step(t, T0 + k * 10 * MS), 0);
    dt_twin_destroy(t);
}

static int verify_calls;
static int verify_refuse(void *user, const dt_command *cmd, dt_time now, uint16_t *authority)
{
    (void)user, (void)cmd, (void)now, (void)authority;
    verify_calls++;
    return DT_EINVAL;
}

/* DEFECT: a remote record of a flight log carries its origin, and replay
 * submits it with that origin unchecked (recorder.c: REC_REMOTE and
 * REC_REMOTE_STEP pass c.origin to dt__twin_submit_remote). A crafted log
 * whose REC_REMOTE says DT_ORIGIN_DISPATCHER gets the command past the
 * verify hook (the dispatcher does not submit its own safe-state commands
 * to it) and sent; a live twin never writes such a record. Replay should
 * refuse a remote record whose origin kind is not DT_ORIGIN_REMOTE. */
static void test_replay_remote_record_cannot_claim_the_dispatcher(void **state)
{
    (void)state;
    fresh();
    membuf m = {0};
    log_live(&m);
    log_cmd(&m, 6, 0, 0x2000, 9, T0 + 25 * MS, T0 + 5 * SEC, 0.7); /* valve, "dispatcher" */
    log_time(&m, 2, T0 + 30 * MS);
    log_sink(&m, 0); /* the result of the send it would be */
    dt_twin *t = load(rcv_doc, 1);
    verify_calls = 0;
    assert_int_equal(dt_twin_set_verify(t, verify_refuse, NULL), 0);
    int rc = dt_twin_replay(t, mem_read, &m, NULL, NULL);
    print_message("replay: %s, verify hook called %d time(s)\n", dt_err_name(rc), verify_calls);
    /* either the log is refused, or the hook saw the command */
    assert_true(rc != DT_OK || verify_calls == 1);
    dt_twin_destroy(t);
    free(m.p);
}

/* DEFECT: a REC_REMOTE_STEP record that the replay cannot submit (a signal
 * outside the model, or the twin's queue full) is dropped silently: replay
 * ignores dt__twin_submit_remote's status (twin.c dt_twin_step: `(void)`)
 * and reports success, where the same failure in a REC_REMOTE record
 * (between steps) ends the replay with an error. A live twin only records
 * a command it took, so a failure here means the log and the replay
 * diverged and should say so. */
static void test_replay_drops_a_bad_step_remote_silently(void **state)
{
    (void)state;
    fresh();
    membuf m = {0};
    log_live(&m);
    log_time(&m, 2, T0 + 30 * MS);
    log_cmd(&m, 7, 99, 0x3000, 9, T0, T0 + 5 * SEC, 0.7); /* no signal 99 */
    dt_twin *t = load(rcv_doc, 1);
    int rc = dt_twin_replay(t, mem_read, &m, NULL, NULL);
    assert_int_not_equal(rc, DT_OK);
    /* the same log without the bad record replays (the base is valid) */
    dt_twin_destroy(t);
    m.pos = 0;
    m.n -= 41;
    t = load(rcv_doc, 1);
    assert_int_equal(dt_twin_replay(t, mem_read, &m, NULL, NULL), DT_OK);
    dt_twin_destroy(t);
    free(m.p);
}

/* HOLDS: a live run with remote commands taken between steps (a host
 * loop's readiness, REC_REMOTE) and in steps' Sense phase
 * (REC_REMOTE_STEP), some expiring in the bus's queue, some refused at
 * once, replays to the same decisions bit for bit (every command event:
 * seq, origin, times, value bits, decision, status, time). */
typedef struct trail {
    dt_audit a[2048];
    dt_time t[2048];
    size_t n;
} trail;

static void on_cmd(void *user, const dt_event *ev)
{
    trail *tr = user;
    if (ev->kind == DT_EVENT_COMMAND && tr->n < 2048) {
        tr->a[tr->n] = ev->u.command;
        tr->t[tr->n++] = ev->t;
    }
}

static void watch(dt_twin *t, trail *tr)
{
    dt_observer o = DT_OBSERVER_INIT;
    o.mask = DT_EVENT_BIT(DT_EVENT_COMMAND);
    o.on_event = on_cmd;
    o.user = tr;
    assert_int_equal(dt_twin_observe(t, &o), 0);
}

static uint64_t rng = 88172645463325252ull;
static uint64_t xr(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void test_replay_matches_live_bit_for_bit(void **state)
{
    (void)state;
    fresh();
    static trail live, again;
    memset(&live, 0, sizeof live);
    memset(&again, 0, sizeof again);
    membuf m = {0};
    dt_twin *t = load(rcv_doc, 0);
    assert_int_equal(dt_twin_record(t, mem_write, &m), 0);
    watch(t, &live);
    assert_int_equal(dt_twin_start(t, T0), 0);
    assert_int_equal(step(t, T0), 0);
    red_eng *e = inst[n_inst - 1];
    const uint32_t E = wall_epoch();
    dt_time now = T0;
    uint64_t mseq = 0, cnum = 0;
    for (int k = 0; k < 300; k++) {
        int n = (int)(xr() % 3);
        for (int j = 0; j < n; j++) {
            uint8_t buf[256];
            dt_time room = (dt_time)(xr() % (12 * SEC)); /* some beyond deadline_max */
            dt_time issued = now - (dt_time)(xr() % (50 * MS));
            dt_buswire_command r = rec(++cnum, issued, room, (double)(xr() % 1000) / 999.0);
            size_t len = cmd_msg(buf, sizeof buf, E, ++mseq, &r, 1);
            post(e, CMD_TOPIC "a", buf, len);
        }
        if (xr() % 2) /* taken between steps */
            dt_io_ready(dt_twin_io(t), DT_IO_LINK | 0, 0, DT_WATCH_READ, now + 3 * MS);
        now += 10 * MS;
        if (xr() % 7 == 0)
            now += 3 * SEC; /* some wait past their deadline */
        assert_int_equal(step(t, now), 0);
    }
    assert_true(bus(t, "bus.cmd_submitted") > 100);
    assert_true(bus(t, "bus.cmd_expired") > 0);
    dt_twin_destroy(t);
    /* the log holds both kinds of remote record */
    size_t kinds[8] = {0};
    for (size_t at = 24; at < m.n;) {
        uint8_t type = m.p[at++];
        assert_true(type >= 1 && type <= 7);
        kinds[type]++;
        if (type == 3) {
            uint32_t n = (uint32_t)m.p[at + 4] | (uint32_t)m.p[at + 5] << 8 |
                         (uint32_t)m.p[at + 6] << 16 | (uint32_t)m.p[at + 7] << 24;
            at += 8 + 40 * (size_t)n;
        } else {
            at += type <= 2 ? 8 : type == 5 ? 4 : 40;
        }
    }
    assert_true(kinds[6] > 10 && kinds[7] > 10);

    dt_twin *r = load(rcv_doc, 1);
    watch(r, &again);
    assert_int_equal(dt_twin_replay(r, mem_read, &m, NULL, NULL), 0);
    assert_int_equal(again.n, live.n);
    for (size_t i = 0; i < live.n; i++) {
        const dt_audit *a = &live.a[i], *b = &again.a[i];
        assert_int_equal(a->cmd.seq, b->cmd.seq);
        assert_int_equal(a->cmd.origin, b->cmd.origin);
        assert_int_equal(a->cmd.signal, b->cmd.signal);
        assert_int_equal(a->cmd.t_issued, b->cmd.t_issued);
        assert_int_equal(a->cmd.t_deadline, b->cmd.t_deadline);
        assert_memory_equal(&a->cmd.value, &b->cmd.value, sizeof(double));
        assert_memory_equal(&a->requested, &b->requested, sizeof(double));
        assert_int_equal(a->decision, b->decision);
        assert_int_equal(a->sink_status, b->sink_status);
        assert_int_equal(live.t[i], again.t[i]);
    }
    dt_twin_destroy(r);
    free(m.p);
}

/* ---- engines with odd members ---- */

/* DEFECT (UBSan): a host loop, or an engine, that hands the bus a time
 * outside +-DT_TIME_LIMIT (dt_io_ready does not check `now`; the engine
 * passes it to its message callback) makes bus_cmd.c take_record overflow
 * a signed int64: `off = now - t_issued` and `now + (room - late)`. The
 * plain build wraps silently (the command is then expired); a
 * -DDTWIN_SANITIZE=ON build aborts here. The bus (or dt_io_ready/wake)
 * should refuse such a time. */
static void test_engine_time_outside_the_limit(void **state)
{
    (void)state;
    fresh();
    red_eng *e;
    dt_twin *t = receiver(&e);
    uint8_t buf[256];
    dt_buswire_command r = rec(1, -SEC, 5 * SEC, 0.5);
    size_t len = cmd_msg(buf, sizeof buf, wall_epoch(), 1, &r, 1);
    post(e, CMD_TOPIC "a", buf, len);
    dt_io_ready(dt_twin_io(t), DT_IO_LINK | 0, 0, DT_WATCH_READ, INT64_MAX);
    assert_int_equal(bus(t, "bus.cmd_submitted"), 0);
    dt_twin_destroy(t);
}

/* The identities every message and record must satisfy (docs/bus.md's
 * tables):
 *  (1) per message: cmd_messages +1, and exactly one whole-message counter
 *      +1, or none and the record counters (bad_records + record_order +
 *      records) + count;
 *  (2) at rest (queue empty, nothing awaiting a decision): records =
 *      clock_jump + deadline_too_far + expired + queue_full + submitted +
 *      refused, and acks_published + acks_unsent = records (every record
 *      taken is acked exactly once);
 *  (3) the engine published acks_published messages on ack/. */
static const char *const whole[] = {
    "bus.cmd_retained",     "bus.cmd_bad_topic",      "bus.cmd_not_accepted",
    "bus.cmd_malformed",    "bus.cmd_issuers_full",   "bus.cmd_stale_epoch",
    "bus.cmd_future_epoch", "bus.cmd_duplicate",      "bus.cmd_seq_jump"};

static void check_at_rest(dt_twin *t, red_eng *e)
{
    uint64_t records = bus(t, "bus.cmd_records");
    uint64_t ends = bus(t, "bus.cmd_clock_jump") + bus(t, "bus.cmd_deadline_too_far") +
                    bus(t, "bus.cmd_expired") + bus(t, "bus.cmd_queue_full") +
                    bus(t, "bus.cmd_submitted") + bus(t, "bus.cmd_refused");
    assert_int_equal(records, ends);
    assert_int_equal(bus(t, "bus.acks_published") + bus(t, "bus.acks_unsent"), records);
    uint64_t acks = 0;
    for (size_t i = 0; i < e->n_kept; i++)
        acks += strstr(e->kept[i].topic, "/ack/") != NULL;
    if (e->n_kept < RE_KEPT)
        assert_int_equal(acks, bus(t, "bus.acks_published"));
}

/* HOLDS: 4000 random messages: issuers valid and not (unicode, dots,
 * slashes, 65 bytes, empty), topics with missing and extra levels, epochs
 * 0, UINT32_MAX, wall + 601 and near the wall, seqs 0, +1, +63, +64,
 * 2^64-1, records with extreme and invalid times, NaN values, room beyond
 * deadline_max, retained copies, cut payloads; steps and readiness
 * interleaved. Each message ends in exactly one place, and at rest every
 * record is accounted for and acked once. */
static void test_counters_add_up_under_random_traffic(void **state)
{
    (void)state;
    fresh();
    red_eng *e;
    dt_twin *t = receiver(&e);
    e->n_kept = 0;
    const uint32_t E = wall_epoch();
    static const char *const names[] = {"a",  "b", "c", "d", "e", "f", "g", "h", "i",
                                        "j",  "k", "l", "m", "n", "o", "p", "q", "r",
                                        "a.b", "\xc3\xa9", "x/y", "",
                                        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    const size_t n_names = sizeof names / sizeof names[0];
    uint64_t last[64];
    for (size_t i = 0; i < 64; i++)
        last[i] = 0;
    dt_time now = T0;
    uint64_t cnum = 0;
    for (int k = 0; k < 4000; k++) {
        size_t who = (size_t)(xr() % n_names);
        char topic[256];
        switch (xr() % 16) {
        case 0: snprintf(topic, sizeof topic, "dt/v1/r/rcv/cmd/valve"); break;
        case 1: snprintf(topic, sizeof topic, "dt/v1/r/rcv/cmd/flow/%s", names[who]); break;
        case 2: snprintf(topic, sizeof topic, "dt/v1/r/rcv/cmd//%s", names[who]); break;
        case 3: snprintf(topic, sizeof topic, "dt/v1/r/rcv/cmd/valve/%s/x", names[who]); break;
        default: snprintf(topic, sizeof topic, CMD_TOPIC "%s", names[who]); break;
        }
        uint32_t epoch = E;
        switch (xr() % 20) {
        case 0: epoch = 0; break;
        case 1: epoch = UINT32_MAX; break;
        case 2: epoch = E + 601 + 5; break;
        case 3: epoch = E - (uint32_t)(xr() % 5); break;
        case 4: epoch = E + (uint32_t)(xr() % 5); break;
        default: break;
        }
        uint64_t seq = last[who] + 1;
        switch (xr() % 12) {
        case 0: seq = 0; break;
        case 1: seq = last[who] + 63; break;
        case 2: seq = last[who] + 64; break;
        case 3: seq = UINT64_MAX; break;
        case 4: seq = last[who]; break;
        default: break;
        }
        if (seq > last[who] && seq - last[who] < 64)
            last[who] = seq;
        dt_buswire_command r[4];
        size_t nr = 1 + (size_t)(xr() % 4);
        for (size_t i = 0; i < nr; i++) {
            dt_time room = (dt_time)(xr() % (11 * SEC));
            dt_time issued = now - (dt_time)(xr() % (3 * SEC));
            r[i] = rec(xr() % 8 == 0 ? cnum : ++cnum, issued, room, 0.5);
            if (xr() % 10 == 0)
                r[i].seq = xr() % 4 == 0 ? UINT64_MAX : xr() % 1000;
        }
        uint8_t buf[512];
        size_t len = cmd_msg(buf, sizeof buf, epoch, seq, r, nr);
        switch (xr() % 20) { /* damage after encoding */
        case 0: len = 1 + (size_t)(xr() % (len - 1)); break;                 /* cut */
        case 1: { int64_t v = INT64_MIN; memcpy(buf + 24 + 8, &v, 8); } break; /* bad time */
        case 2: { double v = NAN; memcpy(buf + 24 + 24, &v, 8); } break;       /* NaN */
        case 3: { int64_t v = 0; memcpy(buf + 24 + 16, &v, 8); } break; /* deadline < issued? */
        case 4: buf[4] = 9; break; /* version */
        default: break;
        }
        int retained = xr() % 25 == 0;
        dt_buswire_header h;
        int whole_ok = dt_buswire_decode_header(buf, len, &h) == DT_BUSWIRE_OK;
        uint64_t before[9], rb = bus(t, "bus.cmd_bad_records") + bus(t, "bus.cmd_record_order") +
                                      bus(t, "bus.cmd_records");
        uint64_t mb = bus(t, "bus.cmd_messages");
        for (size_t i = 0; i < 9; i++)
            before[i] = bus(t, whole[i]);
        assert_true(deliver(e, topic, buf, len, now, retained));
        assert_int_equal(bus(t, "bus.cmd_messages"), mb + 1);
        uint64_t moved = 0;
        for (size_t i = 0; i < 9; i++)
            moved += bus(t, whole[i]) - before[i];
        uint64_t ra = bus(t, "bus.cmd_bad_records") + bus(t, "bus.cmd_record_order") +
                      bus(t, "bus.cmd_records");
        if (moved == 0) {
            assert_true(whole_ok);
            assert_int_equal(ra - rb, h.count);
        } else {
            assert_int_equal(moved, 1);
            assert_int_equal(ra, rb);
        }
        if (xr() % 5 == 0)
            dt_io_ready(dt_twin_io(t), DT_IO_LINK | 0, 0, DT_WATCH_READ, now);
        if (xr() % 3 == 0) {
            now += 10 * MS;
            assert_int_equal(step(t, now), 0);
        }
    }
    for (int k = 0; k < 3; k++) {
        now += 10 * MS;
        assert_int_equal(step(t, now), 0);
    }
    assert_true(bus(t, "bus.cmd_submitted") > 50);
    check_at_rest(t, e);
    dt_twin_destroy(t);
}

/* HOLDS: publish that fails with odd codes (a positive number, one no
 * dtwin status has, DT_ESTATE while connected): every ack that could not
 * go out is counted acks_unsent, nothing else changes, the identities
 * hold. */
static void test_publish_odd_codes(void **state)
{
    (void)state;
    fresh();
    red_eng *e;
    dt_twin *t = receiver(&e);
    const int codes[] = {1, -9999, DT_ESTATE, INT32_MIN, 0};
    dt_time now = T0;
    for (size_t k = 0; k < sizeof codes / sizeof codes[0]; k++) {
        e->pub_rc = codes[k];
        now += 10 * MS;
        send_cmd(e, "a", wall_epoch(), k + 1, rec(k + 1, now, 5 * SEC, 0.1 * (double)k), now);
        assert_int_equal(step(t, now), 0);
    }
    assert_int_equal(bus(t, "bus.acks_unsent"), 4);
    assert_int_equal(bus(t, "bus.acks_published"), 1);
    check_at_rest(t, e);
    dt_twin_destroy(t);
}

/* HOLDS: an engine whose publish re-enters the layer: every ack the
 * receiver publishes (from on_command, from the queue's drain, from the
 * dispatcher's decision inside a step) delivers a new command message to
 * the receiver at once, up to 200. No crash (ASan), each message counted
 * once, every record acked once. */
static red_eng *reenter_e;
static int reenter_left;
static uint64_t reenter_seq, reenter_cmd;
static void reenter(red_eng *e, const char *topic, const uint8_t *p, size_t len)
{
    (void)p, (void)len;
    if (strstr(topic, "/ack/") == NULL || reenter_left <= 0)
        return;
    reenter_left--;
    dt_time room = reenter_left % 3 == 0 ? 20 * SEC : 5 * SEC; /* some refused at once */
    send_cmd(e, "a", wall_epoch(), ++reenter_seq, rec(++reenter_cmd, e->now, room, 0.5),
             e->now);
}

static void test_engine_reentered_from_publish(void **state)
{
    (void)state;
    fresh();
    red_eng *e;
    dt_twin *t = receiver(&e);
    e->n_kept = 0;
    reenter_e = e;
    reenter_left = 200;
    reenter_seq = reenter_cmd = 0;
    e->on_pub = reenter;
    dt_time now = T0;
    e->now = now;
    send_cmd(e, "a", wall_epoch(), ++reenter_seq, rec(++reenter_cmd, now, 20 * SEC, 0.5), now);
    for (int k = 0; k < 400 && (reenter_left > 0 || bus(t, "bus.acks_published") <
                                                         bus(t, "bus.cmd_records"));
         k++) {
        now += 10 * MS;
        assert_int_equal(step(t, now), 0);
    }
    e->on_pub = NULL;
    now += 10 * MS;
    assert_int_equal(step(t, now), 0);
    assert_int_equal(bus(t, "bus.cmd_messages"), 201);
    assert_int_equal(bus(t, "bus.cmd_records"), 201);
    check_at_rest(t, e);
    dt_twin_destroy(t);
}

/* HOLDS: a flood of one message of 300 records: 256 queued, 44 refused
 * bus.cmd_queue_full and acked; the 256 handed over in the next step and
 * decided; nothing lost without a count. */
static void test_flood_one_message(void **state)
{
    (void)state;
    fresh();
    red_eng *e;
    dt_twin *t = receiver(&e);
    e->n_kept = 0;
    static dt_buswire_command r[300];
    dt_time now = T0 + 10 * MS;
    for (size_t i = 0; i < 300; i++)
        r[i] = rec(i + 1, now, 5 * SEC, 0.5);
    static uint8_t buf[DT_BUSWIRE_HEADER + 300 * DT_BUSWIRE_COMMAND_RECORD];
    dt_buswire_header h = {DT_BUSWIRE_VERSION, DT_BUSWIRE_COMMANDS, 0, wall_epoch(), 1, 1};
    size_t len = dt_buswire_encode_commands(buf, sizeof buf, &h, r, 300);
    assert_true(len > 0);
    assert_true(deliver(e, CMD_TOPIC "a", buf, len, now, 0));
    assert_int_equal(bus(t, "bus.cmd_queue_full"), 44);
    assert_int_equal(step(t, now), 0);
    assert_int_equal(bus(t, "bus.cmd_submitted"), 256);
    assert_int_equal(bus(t, "bus.acks_published"), 300);
    check_at_rest(t, e);
    dt_twin_destroy(t);
}

/* DEFECT (minor): a command handed to the twin between steps (a host
 * loop's readiness) and still in its pending commands when dt_twin_stop
 * is called is never decided, so never acked: the issuer learns nothing
 * until its ack_grace runs out, and the receiver's in-flight slot stays
 * taken (bus.cmd_submitted counts it, no ack follows). bus_cmd.c's comment
 * says a stopped twin leaves nothing "without an answer in its pending
 * commands". */
static void test_command_pending_at_stop_is_acked(void **state)
{
    (void)state;
    fresh();
    red_eng *e;
    dt_twin *t = receiver(&e);
    dt_time now = T0 + 5 * MS;
    uint8_t buf[256];
    dt_buswire_command r = rec(1, now, 5 * SEC, 0.5);
    size_t len = cmd_msg(buf, sizeof buf, wall_epoch(), 1, &r, 1);
    post(e, CMD_TOPIC "a", buf, len);
    dt_io_ready(dt_twin_io(t), DT_IO_LINK | 0, 0, DT_WATCH_READ, now);
    assert_int_equal(bus(t, "bus.cmd_submitted"), 1);
    assert_int_equal(dt_twin_stop(t), 0);
    dt_io_ready(dt_twin_io(t), DT_IO_LINK | 0, 0, DT_WATCH_READ, now + MS);
    assert_int_equal(bus(t, "bus.acks_published"), 1);
    dt_twin_destroy(t);
}

/* HOLDS: forged topics and issuer names: each counted once, none acked,
 * none reaches the twin; a retained copy of a valid command is refused. */
static void test_forged_topics(void **state)
{
    (void)state;
    fresh();
    red_eng *e;
    dt_twin *t = receiver(&e);
    e->n_kept = 0;
    static const char *const topics[] = {
        "dt/v1/r/rcv/cmd/valve",  "dt/v1/r/rcv/cmd/valve/", "dt/v1/r/rcv/cmd//a",
        "dt/v1/r/rcv/cmd/valve/a/", "dt/v1/r/rcv/cmd/valve/a/b", "dt/v1/r/rcv/cmd/valve/+",
        "dt/v1/r/rcv/cmd/valve/#", "dt/v1/r/rcv/cmd/valve/\xc3\xa9", "dt/v1/r/rcv/cmd/valve/a b",
        "dt/v1/r/rcv/cmd/valve/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "dt/v1/r/rcv/cmd/", "dt/v1/r/other/cmd/valve/a", "dt/v1/r/rcv/cmdx/valve/a",
        "dt/v1/r/rcv/cmd/valve2/a", "dt/v1/r/rcv/cmd/valv/a", "dt/v1/r/rcv/cmd/flow/a"};
    const size_t n = sizeof topics / sizeof topics[0];
    dt_time now = T0 + 10 * MS;
    uint8_t buf[256];
    dt_buswire_command r = rec(1, now, 5 * SEC, 0.5);
    size_t len = cmd_msg(buf, sizeof buf, wall_epoch(), 1, &r, 1);
    /* delivered as an engine with a loose match would: straight to the callback */
    for (size_t i = 0; i < n; i++)
        e->c.sub[e->c.n_sub - 1].fn(e->c.sub[e->c.n_sub - 1].user, topics[i], buf, len, now);
    assert_true(deliver(e, CMD_TOPIC "a", buf, len, now, 1)); /* retained */
    assert_int_equal(step(t, now), 0);
    assert_int_equal(bus(t, "bus.cmd_messages"), n + 1);
    assert_int_equal(bus(t, "bus.cmd_bad_topic") + bus(t, "bus.cmd_not_accepted"), n);
    assert_int_equal(bus(t, "bus.cmd_not_accepted"), 3);
    assert_int_equal(bus(t, "bus.cmd_retained"), 1);
    assert_int_equal(bus(t, "bus.cmd_records"), 0);
    assert_int_equal(e->n_kept, 0);
    dt_twin_destroy(t);
}

/* as DTT_MAIN (one test by name, as ctest runs it), with the registry the
 * engine is registered in as the group's setup */
int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forged_command_number_max_shuts_issuer_out),
        cmocka_unit_test(test_first_message_held_back_shuts_epoch_out),
        cmocka_unit_test(test_refused_messages_take_issuer_slots),
        cmocka_unit_test(test_one_forged_epoch_refuses_the_real_reconnect),
        cmocka_unit_test(test_twin_sink_on_another_engine),
        cmocka_unit_test(test_sink_forged_ack_epoch_max_locks_acks_out),
        cmocka_unit_test(test_sink_forged_ack_seq_max_locks_acks_out),
        cmocka_unit_test(test_sink_ack_inside_publish_is_lost),
        cmocka_unit_test(test_connect_attempts_run_the_epoch_ahead),
        cmocka_unit_test(test_replay_remote_record_cannot_claim_the_dispatcher),
        cmocka_unit_test(test_replay_drops_a_bad_step_remote_silently),
        cmocka_unit_test(test_replay_matches_live_bit_for_bit),
        cmocka_unit_test(test_engine_time_outside_the_limit),
        cmocka_unit_test(test_counters_add_up_under_random_traffic),
        cmocka_unit_test(test_publish_odd_codes),
        cmocka_unit_test(test_engine_reentered_from_publish),
        cmocka_unit_test(test_flood_one_message),
        cmocka_unit_test(test_command_pending_at_stop_is_acked),
        cmocka_unit_test(test_forged_topics),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
