/* The "twin" sink: an issuing twin "iss" commands the twin "tank" over the
 * bus, against a real broker (started by the test). The receiver is played
 * by a plain libmosquitto client that reads every command message under
 * dt/v1/+/+/cmd/#, checks its topic, header and record, and publishes acks
 * on dt/v1/r/tank/ack/iss. Bounded waits on counters and messages, never
 * timings. */
#define _DEFAULT_SOURCE /* before any system header: kill, mkdtemp, nanosleep */
#include <poll.h>
#include <time.h>

#include <mosquitto.h>

#include "alloc_counter.h"
#include "broker_fixture.h"
#include "test_util.h"

#include "dtwin/dtwin.h"

#include "bus_twins.h"

/* the issuer: "valve" in % commanded as the target's tank.valve in 1,
 * "pump" as the target's signal of the same id */
static const char iss_fmt[] =
    "{\"dtwin\":1,\"name\":\"iss\",\"assets\":[{\"id\":\"site\"}],\"signals\":["
    "{\"id\":\"flow\",\"asset\":\"site\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
    " \"role\":\"measured\",\"noise\":{\"std\":0.1}},"
    "{\"id\":\"valve\",\"asset\":\"site\",\"quantity\":\"dimensionless\",\"unit\":\"%%\","
    " \"role\":\"commanded\"},"
    "{\"id\":\"pump\",\"asset\":\"site\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
    " \"role\":\"commanded\"}],"
    "\"sources\":[{\"id\":\"m\",\"kind\":\"memory\",\"timeout\":5,"
    "  \"mapping\":[{\"native\":\"flow\",\"signal\":\"flow\"}]}],"
    "\"sinks\":[{\"id\":\"to_tank\",\"kind\":\"twin\",\"twin\":\"tank\",\"ack_grace\":0.05,"
    "  \"mapping\":[{\"signal\":\"valve\",\"native\":\"tank.valve\",\"unit\":\"1\"},"
    "             {\"signal\":\"pump\"}]}],"
    "\"dispatcher\":{\"max_data_age\":5,\"safe\":{\"valve\":0,\"pump\":0}},"
    "%s},\"loop\":{\"period\":0.01}}";

#define ACK_TOPIC "dt/v1/r/tank/ack/iss"
#define VALVE_TOPIC "dt/v1/r/tank/cmd/tank.valve/iss"
#define PUMP_TOPIC "dt/v1/r/tank/cmd/pump/iss"

/* one command message as the receiver read it */
typedef struct rmsg {
    char topic[128];
    int retain;
    dt_buswire_header h;
    dt_buswire_command c; /* its first record */
} rmsg;

/* the receiver: the command messages it read, the issuer's epoch */
typedef struct rcv {
    struct mosquitto *m;
    int port, connected;
    size_t n;
    rmsg msg[64];
    uint32_t epoch; /* of the issuer's last "ready" $state */
    uint64_t ack_seq;
} rcv;

static void rcv_connect(struct mosquitto *m, void *o, int rc)
{
    rcv *r = o;
    r->connected = rc == 0;
    if (rc == 0) {
        assert_int_equal(mosquitto_subscribe(m, NULL, "dt/v1/+/+/cmd/#", 1), 0);
        assert_int_equal(mosquitto_subscribe(m, NULL, "dt/v1/r/iss/$state", 1), 0);
    }
}

static void rcv_disconnect(struct mosquitto *m, void *o, int rc)
{
    (void)m, (void)rc;
    ((rcv *)o)->connected = 0;
}

static void rcv_msg(struct mosquitto *m, void *o, const struct mosquitto_message *msg)
{
    (void)m;
    rcv *r = o;
    if (strstr(msg->topic, "$state") != NULL) {
        char js[256];
        size_t n = (size_t)msg->payloadlen < sizeof js - 1 ? (size_t)msg->payloadlen
                                                            : sizeof js - 1;
        memcpy(js, msg->payload, n);
        js[n] = '\0';
        const char *e = strstr(js, "\"epoch\":");
        if (strstr(js, "\"ready\"") != NULL && e != NULL)
            r->epoch = (uint32_t)strtoul(e + 8, NULL, 10);
        return;
    }
    assert_true(r->n < 64);
    rmsg *x = &r->msg[r->n++];
    snprintf(x->topic, sizeof x->topic, "%s", msg->topic);
    x->retain = msg->retain;
    assert_int_equal(dt_buswire_decode_header(msg->payload, (size_t)msg->payloadlen, &x->h),
                     DT_BUSWIRE_OK);
    assert_int_equal(x->h.type, DT_BUSWIRE_COMMANDS);
    assert_int_equal(x->h.count, 1);
    assert_int_equal(
        dt_buswire_command_at(msg->payload, (size_t)msg->payloadlen, 0, &x->c),
        DT_BUSWIRE_OK);
}

static void rcv_start(rcv *r, int port)
{
    memset(r, 0, sizeof *r);
    r->port = port;
    assert_int_equal(mosquitto_lib_init(), 0);
    r->m = mosquitto_new(NULL, true, r);
    assert_non_null(r->m);
    mosquitto_connect_callback_set(r->m, rcv_connect);
    mosquitto_disconnect_callback_set(r->m, rcv_disconnect);
    mosquitto_message_callback_set(r->m, rcv_msg);
    assert_int_equal(mosquitto_connect(r->m, "127.0.0.1", port, 30), 0);
    for (int i = 0; i < 3000 && !r->connected; i++)
        mosquitto_loop(r->m, 10, 1);
    assert_true(r->connected);
}

static void rcv_stop(rcv *r)
{
    mosquitto_destroy(r->m);
    mosquitto_lib_cleanup();
}

/* Reads what is there; reconnects after a loss (the broker restarted). */
static void rcv_pump(rcv *r)
{
    int rc = mosquitto_loop(r->m, 0, 1);
    if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST)
        (void)mosquitto_reconnect(r->m);
}

/* Publishes one ack message of (epoch, seq) with n records. */
static void send_acks(rcv *r, uint32_t epoch, uint64_t seq, const dt_buswire_ack *a, size_t n,
                      int retain)
{
    uint8_t buf[256];
    dt_buswire_header h = {DT_BUSWIRE_VERSION, DT_BUSWIRE_ACKS, (uint16_t)n, epoch, 1, seq};
    size_t len = dt_buswire_encode_acks(buf, sizeof buf, &h, a, n);
    assert_true(len > 0);
    assert_int_equal(mosquitto_publish(r->m, NULL, ACK_TOPIC, (int)len, buf, 1, retain), 0);
    for (int i = 0; i < 5; i++)
        mosquitto_loop(r->m, 0, 1);
}

/* The receiver's next ack: one record, header seq counted by the receiver. */
static void ack(rcv *r, uint64_t cmd_seq, uint32_t decision, int32_t status)
{
    dt_buswire_ack a = {cmd_seq, decision, status, 5 * DT_NS_PER_S};
    send_acks(r, 900, ++r->ack_seq, &a, 1, 0);
}

static uint64_t sink_counter(dt_twin *t, const char *name)
{
    dt_counter c[64];
    size_t n = dt_io_sink_counters(dt_twin_io(t), 0, c, 64);
    for (size_t i = 0; i < n && i < 64; i++)
        if (strcmp(c[i].name, name) == 0)
            return c[i].value;
    fail_msg("no counter %s", name);
    return 0;
}

static uint64_t link_counter(dt_twin *t, const char *name)
{
    dt_counter c[64];
    size_t n = dt_io_link_counters(dt_twin_io(t), 0, c, 64);
    for (size_t i = 0; i < n && i < 64; i++)
        if (strcmp(c[i].name, name) == 0)
            return c[i].value;
    fail_msg("no counter %s", name);
    return 0;
}

/* Steps the issuer and turns the receiver until cond holds (bounded). */
#define UNTIL(t, r, cond)                                                                  \
    do {                                                                                   \
        dt_twin *one_[1] = {(t)};                                                          \
        for (int i_ = 0; i_ < 3000 && !(cond); i_++) {                                     \
            turn(one_, 1);                                                                 \
            rcv_pump(r);                                                                   \
            /* fresh data: the dispatcher's latency rule stays calm */                     \
            (void)dt_memory_source_push(dt_twin_io(t), 0, "flow", mono(), 1.0);            \
            assert_int_equal(dt_twin_step((t), mono()), 0);                                \
        }                                                                                  \
        assert_true(cond);                                                                 \
    } while (0)

/* Steps the issuer n times (nothing awaited). */
static void steps(dt_twin *t, rcv *r, int n)
{
    dt_twin *one[1] = {t};
    for (int i = 0; i < n; i++) {
        turn(one, 1);
        rcv_pump(r);
        (void)dt_memory_source_push(dt_twin_io(t), 0, "flow", mono(), 1.0);
        assert_int_equal(dt_twin_step(t, mono()), 0);
    }
}

/* Submits a command and steps once: the command as the dispatcher decided
 * it (its seq is the twin's); *decision (may be NULL) gets its decision. */
static dt_command command_d(dt_twin *t, rcv *r, const char *sig, double value, dt_time room,
                            uint32_t *decision)
{
    dt_command c;
    memset(&c, 0, sizeof c);
    assert_int_equal(dt_model_find_signal(dt_twin_model(t), sig, &c.signal), 0);
    c.t_issued = mono();
    c.t_deadline = c.t_issued + room;
    c.value = value;
    assert_int_equal(dt_twin_submit(t, &c), 0);
    steps(t, r, 1);
    dt_audit a[64];
    size_t n = dt_twin_audit(t, a, 64);
    assert_true(n > 0);
    assert_int_equal(DT_ORIGIN_KIND(a[n - 1].cmd.origin), DT_ORIGIN_HOST);
    assert_int_equal(a[n - 1].cmd.t_issued, c.t_issued);
    if (decision != NULL)
        *decision = a[n - 1].decision;
    return a[n - 1].cmd;
}

/* command_d for a command the dispatcher sent (handed to the sink, which
 * took it) */
static dt_command command(dt_twin *t, rcv *r, const char *sig, double value, dt_time room)
{
    uint32_t d = 0;
    dt_command c = command_d(t, r, sig, value, room, &d);
    assert_int_equal(d, DT_DISP_SENT);
    return c;
}

static dt_twin *start_issuer(int port, dtt_counter *cnt, dt_allocator *alloc)
{
    char ps[16], bus[256], doc[4096];
    snprintf(ps, sizeof ps, "%d", port);
    snprintf(bus, sizeof bus, BUS("%s"), ps);
    snprintf(doc, sizeof doc, iss_fmt, bus);
    memset(cnt, 0, sizeof *cnt);
    *alloc = dtt_allocator(cnt);
    dt_twin *t = load(doc, alloc);
    assert_int_equal(dt_twin_start(t, mono()), 0);
    return t;
}

static void test_commands_published_and_acks_reported(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    rcv r;
    rcv_start(&r, b.port);
    /* a retained ack left on the ack topic before the issuer subscribes:
     * the broker's stored copy, which answers nothing of this run */
    dt_buswire_ack old = {1, DT_DISP_SENT, 0, 0};
    send_acks(&r, 900, 1, &old, 1, 1);

    dtt_counter cnt;
    dt_allocator alloc;
    dt_twin *t = start_issuer(b.port, &cnt, &alloc);
    UNTIL(t, &r, r.epoch != 0 && sink_counter(t, "ack_retained") >= 1);
    assert_int_equal(sink_counter(t, "acks_applied"), 0);
    long calls = cnt.calls;
    /* fresh data from the first step: no safe state, no command of the
     * dispatcher's own before ours */
    assert_int_equal(r.n, 0);

    /* three commands: each a message of its own, numbered 1, 2 on the valve's
     * topic and 1 on the pump's, with the issuer's epoch, the command's
     * seq and times, the value in the target's unit (% -> 1) */
    dt_command c1 = command(t, &r, "valve", 50.0, 10 * DT_NS_PER_S);
    dt_command c2 = command(t, &r, "valve", 25.0, 10 * DT_NS_PER_S);
    dt_command c3 = command(t, &r, "pump", 0.75, 10 * DT_NS_PER_S);
    UNTIL(t, &r, r.n >= 3);
    const dt_command *want[3] = {&c1, &c2, &c3};
    const char *topic[3] = {VALVE_TOPIC, VALVE_TOPIC, PUMP_TOPIC};
    const uint64_t hseq[3] = {1, 2, 1};
    const double native[3] = {0.5, 0.25, 0.75};
    for (int i = 0; i < 3; i++) {
        const rmsg *x = &r.msg[i];
        assert_string_equal(x->topic, topic[i]);
        assert_int_equal(x->retain, 0);
        assert_int_equal(x->h.epoch, r.epoch);
        assert_int_equal(x->h.contract, 1); /* the issuer has no contract */
        assert_int_equal(x->h.seq, hseq[i]);
        assert_int_equal(x->c.seq, want[i]->seq);
        assert_int_equal(x->c.t_issued, want[i]->t_issued);
        assert_int_equal(x->c.t_deadline, want[i]->t_deadline);
        assert_close(x->c.value, native[i], 0, 1e-15);
        assert_int_equal(DT_ORIGIN_KIND(x->c.origin), DT_ORIGIN_HOST);
        assert_int_equal(x->c.authority, 0);
    }
    assert_int_equal(sink_counter(t, "published"), 3);
    assert_int_equal(sink_counter(t, "pending"), 3);

    /* applied: reported for its seq, with the value commanded (the signal's
     * unit), at its arrival on the issuer's time base */
    dt_signal_id valve, pump;
    assert_int_equal(dt_model_find_signal(dt_twin_model(t), "valve", &valve), 0);
    assert_int_equal(dt_model_find_signal(dt_twin_model(t), "pump", &pump), 0);
    dt_time before = mono();
    ack(&r, c1.seq, DT_DISP_SENT, 0);
    UNTIL(t, &r, sink_counter(t, "acks_applied") >= 1);
    uint64_t rep = 0;
    double v = 0;
    dt_time at = 0;
    assert_int_equal(dt_io_reported(dt_twin_io(t), valve, &rep, &v, &at), 0);
    assert_int_equal(rep, c1.seq);
    assert_close(v, 50.0, 0, 1e-12);
    assert_true(at >= before);
    int confirmed = 0;
    /* c2 was sent after c1: the newest command is not confirmed yet */
    assert_int_equal(dt_twin_actuation(t, valve, NULL, NULL, &confirmed), 0);
    assert_int_equal(confirmed, 0);

    /* refused by the target: counted, not reported */
    ack(&r, c2.seq, DT_DISP_REFUSED, DT_EFULL);
    UNTIL(t, &r, sink_counter(t, "acks_failed") >= 1);
    assert_int_equal(dt_io_reported(dt_twin_io(t), valve, &rep, NULL, NULL), 0);
    assert_int_equal(rep, c1.seq);
    /* sent but the sinks failed: a failure too */
    ack(&r, c3.seq, DT_DISP_SINK_ERROR, DT_EIO);
    UNTIL(t, &r, sink_counter(t, "acks_failed") >= 2);
    assert_int_equal(dt_io_reported(dt_twin_io(t), pump, &rep, NULL, NULL), DT_EEMPTY);
    assert_int_equal(sink_counter(t, "pending"), 0);

    /* clamped by the target, still applied: reported, counted altered */
    dt_command c4 = command(t, &r, "pump", 2.0, 10 * DT_NS_PER_S);
    UNTIL(t, &r, r.n >= 4);
    assert_int_equal(r.msg[3].h.seq, 2);
    ack(&r, c4.seq, DT_DISP_SENT | DT_DISP_CLAMPED, 0);
    UNTIL(t, &r, sink_counter(t, "acks_applied") >= 2);
    assert_int_equal(sink_counter(t, "acks_altered"), 1);
    assert_int_equal(dt_io_reported(dt_twin_io(t), pump, &rep, &v, NULL), 0);
    assert_int_equal(rep, c4.seq);
    assert_close(v, 2.0, 0, 1e-12);

    /* an ack of a seq never published: counted, nothing reported */
    ack(&r, 9999, DT_DISP_SENT, 0);
    UNTIL(t, &r, sink_counter(t, "ack_unknown") >= 1);
    /* the same message again (a redelivery): a duplicate, not counted twice */
    dt_buswire_ack again = {c4.seq, DT_DISP_SENT, 0, 0};
    send_acks(&r, 900, r.ack_seq, &again, 1, 0);
    UNTIL(t, &r, sink_counter(t, "ack_duplicate") >= 1);
    /* an older epoch of the target: stale */
    send_acks(&r, 899, r.ack_seq + 5, &again, 1, 0);
    UNTIL(t, &r, sink_counter(t, "ack_stale_epoch") >= 1);
    /* malformed: garbage, and a command message on the ack topic */
    assert_int_equal(mosquitto_publish(r.m, NULL, ACK_TOPIC, 7, "garbage", 1, 0), 0);
    UNTIL(t, &r, sink_counter(t, "ack_bad.short") >= 1);
    uint8_t buf[128];
    dt_buswire_header h = {DT_BUSWIRE_VERSION, DT_BUSWIRE_COMMANDS, 1, 900, 1, 50};
    dt_buswire_command cm = {1, 0, 1, 0.5, 0, 0};
    size_t len = dt_buswire_encode_commands(buf, sizeof buf, &h, &cm, 1);
    assert_true(len > 0);
    assert_int_equal(mosquitto_publish(r.m, NULL, ACK_TOPIC, (int)len, buf, 1, 0), 0);
    UNTIL(t, &r, sink_counter(t, "ack_bad.bad_type") >= 1);
    assert_int_equal(sink_counter(t, "ack_malformed"), 2);
    assert_int_equal(sink_counter(t, "acks_applied"), 2);
    assert_int_equal(sink_counter(t, "acks_failed"), 2);
    assert_int_equal(sink_counter(t, "ack_messages"), 10);
    assert_int_equal(dt_io_reported(dt_twin_io(t), pump, &rep, NULL, NULL), 0);
    assert_int_equal(rep, c4.seq);

    /* a command already past its deadline when handed to the sink (here
     * directly, the dispatcher would not) is not published */
    dt_command late = c1;
    late.seq = 12345;
    late.t_deadline = late.t_issued;
    assert_int_equal(dt_io_apply(dt_twin_io(t), &late), DT_ETIMEOUT);
    assert_int_equal(sink_counter(t, "expired"), 1);
    steps(t, &r, 20);
    assert_int_equal(r.n, 4);

    /* nothing of that allocated through the twin's allocator */
    assert_int_equal(cnt.calls, calls);
    /* every apply in one counter (the safe state's commands at start met
     * the connection not yet up) */
    dt_sink_stats st;
    assert_int_equal(dt_io_sink_stats(dt_twin_io(t), 0, &st), 0);
    assert_int_equal(st.applied, sink_counter(t, "published") +
                                     sink_counter(t, "not_connected") +
                                     sink_counter(t, "publish_errors") +
                                     sink_counter(t, "expired") +
                                     sink_counter(t, "pending_full") +
                                     sink_counter(t, "not_encodable"));
    dt_twin_destroy(t);
    assert_int_equal(cnt.live, 0);
    rcv_stop(&r);
    dtt_broker_stop(&b);
}

static void test_broker_down_nothing_queued(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    rcv r;
    rcv_start(&r, b.port);
    dtt_counter cnt;
    dt_allocator alloc;
    dt_twin *t = start_issuer(b.port, &cnt, &alloc);
    UNTIL(t, &r, r.epoch != 0);
    dt_command c1 = command(t, &r, "valve", 10.0, 30 * DT_NS_PER_S);
    UNTIL(t, &r, r.n >= 1);
    assert_int_equal(r.msg[0].h.seq, 1);
    assert_int_equal(r.msg[0].c.seq, c1.seq);
    uint32_t epoch1 = r.epoch;

    /* the broker dies: the issuer notices, apply fails and queues nothing */
    dtt_broker_signal(&b, SIGKILL);
    UNTIL(t, &r, link_counter(t, "mqtt.disconnects") >= 1);
    dt_sink_stats st0, st1;
    assert_int_equal(dt_io_sink_stats(dt_twin_io(t), 0, &st0), 0);
    uint64_t nc = sink_counter(t, "not_connected");
    uint32_t dec = 0;
    dt_command c2 = command_d(t, &r, "valve", 20.0, 30 * DT_NS_PER_S, &dec);
    assert_int_equal(dec, DT_DISP_SINK_ERROR);
    assert_int_equal(dt_io_sink_stats(dt_twin_io(t), 0, &st1), 0);
    assert_int_equal(st1.errors, st0.errors + 1);
    assert_int_equal(sink_counter(t, "not_connected"), nc + 1);
    dt_audit a[64];
    size_t n = dt_twin_audit(t, a, 64);
    assert_int_equal(a[n - 1].cmd.seq, c2.seq);
    assert_true((a[n - 1].decision & DT_DISP_SINK_ERROR) != 0);
    assert_int_equal(a[n - 1].sink_status, DT_EIO);

    /* back: the issuer reconnects with a new epoch; nothing from before the
     * reconnect arrives late */
    assert_int_equal(dtt_broker_restart(&b), 0);
    UNTIL(t, &r, r.connected && r.epoch > epoch1);
    steps(t, &r, 50);
    assert_int_equal(r.n, 1);
    /* a new command: numbered from 1 again in the new epoch */
    dt_command c3 = command(t, &r, "valve", 30.0, 30 * DT_NS_PER_S);
    UNTIL(t, &r, r.n >= 2);
    assert_string_equal(r.msg[1].topic, VALVE_TOPIC);
    assert_int_equal(r.msg[1].h.epoch, r.epoch);
    assert_int_equal(r.msg[1].h.seq, 1);
    assert_int_equal(r.msg[1].c.seq, c3.seq);
    assert_close(r.msg[1].c.value, 0.3, 0, 1e-15);
    steps(t, &r, 20);
    assert_int_equal(r.n, 2);
    dt_twin_destroy(t);
    rcv_stop(&r);
    dtt_broker_stop(&b);
}

static void test_missing_ack_given_up(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    rcv r;
    rcv_start(&r, b.port);
    dtt_counter cnt;
    dt_allocator alloc;
    dt_twin *t = start_issuer(b.port, &cnt, &alloc);
    UNTIL(t, &r, r.epoch != 0);
    /* deadline 0.3 s after issue, grace 50 ms: never acked, given up */
    dt_command c = command(t, &r, "valve", 40.0, 3 * DT_NS_PER_S / 10);
    UNTIL(t, &r, r.n >= 1);
    assert_int_equal(r.msg[0].c.seq, c.seq);
    UNTIL(t, &r, sink_counter(t, "ack_missing") >= 1);
    assert_int_equal(sink_counter(t, "pending"), 0);
    dt_signal_id valve;
    assert_int_equal(dt_model_find_signal(dt_twin_model(t), "valve", &valve), 0);
    assert_int_equal(dt_io_reported(dt_twin_io(t), valve, NULL, NULL, NULL), DT_EEMPTY);
    /* its ack, late: the sink gave up on it */
    ack(&r, c.seq, DT_DISP_SENT, 0);
    UNTIL(t, &r, sink_counter(t, "ack_unknown") >= 1);
    assert_int_equal(sink_counter(t, "acks_applied"), 0);
    assert_int_equal(dt_io_reported(dt_twin_io(t), valve, NULL, NULL, NULL), DT_EEMPTY);
    dt_twin_destroy(t);
    rcv_stop(&r);
    dtt_broker_stop(&b);
}

/* Loads doc (validate: as `dtwin check`, which never connects) and expects
 * rc with a message holding `msg`. */
static void refused(const char *doc, int validate, int rc, const char *msg)
{
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    o.replay = validate;
    o.validate = validate;
    dt_twin *t = NULL;
    dt_diag d;
    int got = dt_twin_load_json(doc, strlen(doc), &o, &t, &d);
    if (got == DT_OK)
        dt_twin_destroy(t);
    if (got != rc || (msg != NULL && strstr(d.message, msg) == NULL))
        fail_msg("got %d \"%s\" at \"%s\", expected %d \"%s\"", got, got ? d.message : "",
                 got ? d.path : "", rc, msg ? msg : "");
}

static void test_description_checked(void **state)
{
    (void)state;
    char doc[4096], bus[256], bad[4096];
    snprintf(bus, sizeof bus, BUS("%s"), "1");
    snprintf(doc, sizeof doc, iss_fmt, bus);
    /* checked without connecting: valid as it stands */
    refused(doc, 1, DT_OK, NULL);
    struct {
        const char *from, *to, *msg;
    } cases[] = {
        {"\"native\":\"tank.valve\"", "\"native\":\"tank/valve\"",
         "mapping[0].native: \"tank/valve\" is no topic level"},
        {"\"native\":\"tank.valve\"", "\"native\":\"tank.#\"",
         "mapping[0].native: \"tank.#\" is no topic level"},
        {"\"twin\":\"tank\"", "\"twin\":\"iss\"", "twin: \"iss\" is this twin itself"},
        {"\"twin\":\"tank\"", "\"twin\":\"a b\"", "twin: \"a b\" is no name"},
        {"\"twin\":\"tank\"", "\"realm\":\"r\"", "twin: required"},
        {"\"ack_grace\":0.05", "\"ack_grace\":-1", "ack_grace: a number of seconds in 0..3600"},
        {"\"ack_grace\":0.05", "\"colour\":1", "colour"},
        {"\"native\":\"tank.valve\"", "\"channel\":3", "mapping[0]: \"native\" names the target"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *at = strstr(doc, cases[i].from);
        assert_non_null(at);
        snprintf(bad, sizeof bad, "%.*s%s%s", (int)(at - doc), doc, cases[i].to,
                 at + strlen(cases[i].from));
        refused(bad, 1, DT_EPARSE, cases[i].msg);
        refused(bad, 0, DT_EPARSE, cases[i].msg);
    }
    /* no bus section: the path and what is missing */
    char nobus[4096];
    snprintf(nobus, sizeof nobus, iss_fmt, "\"x\":{");
    char *x = strstr(nobus, ",\"x\":{}");
    assert_non_null(x);
    memmove(x, x + strlen(",\"x\":{}"), strlen(x + strlen(",\"x\":{}")) + 1);
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_twin *t = NULL;
    dt_diag d;
    assert_int_equal(dt_twin_load_json(nobus, strlen(nobus), &o, &t, &d), DT_EPARSE);
    assert_string_equal(d.path, "sinks[0]");
    assert_non_null(strstr(d.message, "kind \"twin\" commands through the bus: the "
                                      "description needs a \"bus\" section"));
    /* two sinks for one target: its acks come on one topic (found when the
     * sinks open) */
    const char *m1 = strstr(doc, ",             {\"signal\":\"pump\"}");
    const char *end = strstr(doc, "],\"dispatcher\"");
    assert_non_null(m1);
    assert_non_null(end);
    snprintf(bad, sizeof bad,
             "%.*s]},{\"id\":\"again\",\"kind\":\"twin\",\"twin\":\"tank\","
             "\"mapping\":[{\"signal\":\"pump\"}]}%s",
             (int)(m1 - doc), doc, end);
    refused(bad, 0, DT_EPARSE, "twin: sinks[0] (\"to_tank\") commands r/tank already");
    /* another target is fine */
    char *tk = strstr(bad, "\"id\":\"again\",\"kind\":\"twin\",\"twin\":\"tank\"");
    assert_non_null(tk);
    memcpy(tk + strlen("\"id\":\"again\",\"kind\":\"twin\",\"twin\":\""), "tenk", 4);
    refused(bad, 0, DT_OK, NULL);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_commands_published_and_acks_reported),
    cmocka_unit_test(test_broker_down_nothing_queued),
    cmocka_unit_test(test_missing_ack_given_up),
    cmocka_unit_test(test_description_checked),
};

DTT_MAIN(tests)
