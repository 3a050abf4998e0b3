/* Commands between twins over the bus: a receiving twin that accepts the
 * commanded signal "valve" on dt/v1/r/rcv/cmd/valve, against a real broker
 * (started by the test) and a plain libmosquitto client that issues
 * commands and reads the acks on dt/v1/r/rcv/ack. Each refusal is counted
 * under the bus counters (bus.cmd_*); each command handed to the twin is
 * decided by its dispatcher and acked with the issuer's seq. Bounded waits
 * on counters and messages, never timings. */
#define _DEFAULT_SOURCE /* before any system header: kill, mkdtemp, nanosleep */
#include <poll.h>
#include <time.h>

#include <mosquitto.h>

#include "broker_fixture.h"
#include "test_util.h"

#include "dtwin/dtwin.h"

#include "bus_twins.h"

static const char rcv_fmt[] =
    "{\"dtwin\":1,\"name\":\"rcv\",\"assets\":[{\"id\":\"plant\"}],\"signals\":["
    "{\"id\":\"valve\",\"asset\":\"plant\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
    " \"role\":\"commanded\",\"limits\":{\"min\":0,\"max\":1}},"
    "{\"id\":\"flow\",\"asset\":\"plant\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
    " \"role\":\"measured\",\"noise\":{\"std\":0.1}}],"
    "\"sources\":[{\"id\":\"m\",\"kind\":\"memory\",\"timeout\":5,"
    "  \"mapping\":[{\"native\":\"flow\",\"signal\":\"flow\"}]}],"
    "\"sinks\":[{\"id\":\"k\",\"kind\":\"memory\",\"mapping\":[{\"signal\":\"valve\"}]}],"
    "\"dispatcher\":{\"max_data_age\":5,\"safe\":{\"valve\":0}},"
    "%s,\"accept\":[\"valve\"]},\"loop\":{\"period\":0.01}}";

/* the issuer's side: the acks it read, the receiver's contract */
typedef struct issuer {
    struct mosquitto *m;
    int connected;
    size_t n_acks;
    dt_buswire_ack acks[64];
    uint32_t ack_epoch;
    char contract[2048];
} issuer;

static void is_connect(struct mosquitto *m, void *o, int rc)
{
    (void)m;
    ((issuer *)o)->connected = rc == 0;
}

static void is_msg(struct mosquitto *m, void *o, const struct mosquitto_message *msg)
{
    (void)m;
    issuer *s = o;
    if (strstr(msg->topic, "/ack") != NULL) {
        dt_buswire_header h;
        assert_int_equal(dt_buswire_decode_header(msg->payload, (size_t)msg->payloadlen, &h),
                         DT_BUSWIRE_OK);
        for (size_t i = 0; i < h.count && s->n_acks < 64; i++)
            assert_int_equal(dt_buswire_ack_at(msg->payload, (size_t)msg->payloadlen, i,
                                               &s->acks[s->n_acks++]),
                             DT_BUSWIRE_OK);
        s->ack_epoch = h.epoch;
    } else if ((size_t)msg->payloadlen < sizeof s->contract) {
        memcpy(s->contract, msg->payload, (size_t)msg->payloadlen);
        s->contract[msg->payloadlen] = '\0';
    }
}

static void issuer_start(issuer *s, int port)
{
    memset(s, 0, sizeof *s);
    assert_int_equal(mosquitto_lib_init(), 0);
    s->m = mosquitto_new(NULL, true, s);
    assert_non_null(s->m);
    mosquitto_connect_callback_set(s->m, is_connect);
    mosquitto_message_callback_set(s->m, is_msg);
    assert_int_equal(mosquitto_connect(s->m, "127.0.0.1", port, 30), 0);
    for (int i = 0; i < 3000 && !s->connected; i++)
        mosquitto_loop(s->m, 10, 1);
    assert_true(s->connected);
    assert_int_equal(mosquitto_subscribe(s->m, NULL, "dt/v1/r/rcv/ack", 1), 0);
    assert_int_equal(mosquitto_subscribe(s->m, NULL, "dt/v1/r/rcv/$contract", 1), 0);
}

static void issue_raw(issuer *s, const void *p, size_t n, int retain)
{
    assert_int_equal(
        mosquitto_publish(s->m, NULL, "dt/v1/r/rcv/cmd/valve", (int)n, p, 1, retain), 0);
    for (int i = 0; i < 5; i++)
        mosquitto_loop(s->m, 0, 1);
}

/* One command record in a message of (epoch, seq); room: its deadline
 * minus its issue time. Returns the message length (in buf). */
static size_t command_msg(uint8_t *buf, size_t cap, uint32_t epoch, uint64_t seq,
                          uint64_t cmd_seq, double value, dt_time room)
{
    dt_buswire_header h = {DT_BUSWIRE_VERSION, DT_BUSWIRE_COMMANDS, 1, epoch, 1, seq};
    dt_time t = 1000 * DT_NS_PER_S; /* the issuer's own time base */
    dt_buswire_command c = {cmd_seq, t, t + room, value, 0, 0};
    size_t n = dt_buswire_encode_commands(buf, cap, &h, &c, 1);
    assert_true(n > 0);
    return n;
}

static uint64_t bus_counter(dt_twin *t, const char *name)
{
    dt_counter c[64];
    size_t n = dt_io_link_counters(dt_twin_io(t), 0, c, 64);
    for (size_t i = 0; i < n && i < 64; i++)
        if (strcmp(c[i].name, name) == 0)
            return c[i].value;
    fail_msg("no counter %s", name);
    return 0;
}

/* Steps the receiver and turns the issuer until cond holds (bounded). */
#define UNTIL(t, s, cond)                                                                  \
    do {                                                                                   \
        dt_twin *one_[1] = {(t)};                                                          \
        for (int i_ = 0; i_ < 3000 && !(cond); i_++) {                                     \
            turn(one_, 1);                                                                 \
            mosquitto_loop((s)->m, 0, 1);                                                  \
            /* fresh data: the dispatcher's latency rule stays calm */                     \
            (void)dt_memory_source_push(dt_twin_io(t), 0, "flow", mono(), 1.0);            \
            assert_int_equal(dt_twin_step((t), mono()), 0);                                \
        }                                                                                  \
        assert_true(cond);                                                                 \
    } while (0)

static void test_receiver_takes_refuses_and_acks(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    issuer s;
    issuer_start(&s, b.port);
    uint8_t buf[256];
    /* a retained command left on the topic before the twin starts: stale */
    size_t n = command_msg(buf, sizeof buf, 5, 1, 100, 0.1, DT_NS_PER_S);
    issue_raw(&s, buf, n, 1);

    char port[16], bus[256], doc[4096];
    snprintf(port, sizeof port, "%d", b.port);
    snprintf(bus, sizeof bus, BUS("%s"), port);
    snprintf(doc, sizeof doc, rcv_fmt, bus);
    dt_twin *t = load(doc, NULL);
    assert_int_equal(dt_twin_start(t, mono()), 0);
    UNTIL(t, &s, bus_counter(t, "bus.cmd_retained") >= 1 && s.contract[0] != '\0');
    /* the contract lists the accepted signal with its limits */
    char flat[sizeof s.contract];
    size_t k = 0;
    for (const char *c = s.contract; *c != '\0'; c++)
        if (*c != ' ' && *c != '\t' && *c != '\n')
            flat[k++] = *c;
    flat[k] = '\0';
    assert_non_null(strstr(flat, "\"accept\":[{\"signal\":\"valve\""));
    assert_non_null(strstr(flat, "\"min\":0,\"max\":1}"));
    assert_int_equal(bus_counter(t, "bus.cmd_submitted"), 0);

    /* a command in time: handed to the twin, sent, acked with its seq */
    n = command_msg(buf, sizeof buf, 7, 1, 41, 0.5, 10 * DT_NS_PER_S);
    issue_raw(&s, buf, n, 0);
    UNTIL(t, &s, s.n_acks >= 1);
    assert_int_equal(s.acks[0].seq, 41);
    assert_int_equal(s.acks[0].decision, DT_DISP_SENT);
    assert_int_equal(s.acks[0].status, 0);
    dt_command out[4];
    assert_int_equal(dt_memory_sink_read(dt_twin_io(t), 0, out, 4), 1);
    assert_close(out[0].value, 0.5, 0, 1e-12);
    assert_int_equal(DT_ORIGIN_KIND(out[0].origin), DT_ORIGIN_REMOTE);

    /* above the limit: clamped by the dispatcher, the ack says so */
    n = command_msg(buf, sizeof buf, 7, 2, 42, 3.0, 10 * DT_NS_PER_S);
    issue_raw(&s, buf, n, 0);
    UNTIL(t, &s, s.n_acks >= 2);
    assert_int_equal(s.acks[1].seq, 42);
    assert_int_equal(s.acks[1].decision, DT_DISP_SENT | DT_DISP_CLAMPED);

    /* the same message again (a QoS 1 redelivery, a replay): a duplicate */
    issue_raw(&s, buf, n, 0);
    UNTIL(t, &s, bus_counter(t, "bus.cmd_duplicate") >= 1);
    /* an older epoch: stale */
    n = command_msg(buf, sizeof buf, 6, 9, 43, 0.2, 10 * DT_NS_PER_S);
    issue_raw(&s, buf, n, 0);
    UNTIL(t, &s, bus_counter(t, "bus.cmd_stale_epoch") >= 1);
    /* no time to carry it out (deadline = issued): refused, acked expired */
    n = command_msg(buf, sizeof buf, 7, 3, 44, 0.2, 0);
    issue_raw(&s, buf, n, 0);
    UNTIL(t, &s, s.n_acks >= 3);
    assert_int_equal(s.acks[2].seq, 44);
    assert_int_equal(s.acks[2].decision, DT_DISP_EXPIRED);
    assert_int_equal(bus_counter(t, "bus.cmd_expired"), 1);
    /* malformed: garbage, and a record whose deadline is before its issue
     * time (written by hand: the encoder refuses it), counted by reason */
    issue_raw(&s, "garbage", 7, 0);
    UNTIL(t, &s, bus_counter(t, "bus.cmd_bad.short") >= 1);
    n = command_msg(buf, sizeof buf, 7, 4, 45, 0.2, DT_NS_PER_S);
    int64_t early = 1;
    memcpy(buf + DT_BUSWIRE_HEADER + 16, &early, 8); /* t_deadline, little-endian host */
    issue_raw(&s, buf, n, 0);
    UNTIL(t, &s, bus_counter(t, "bus.cmd_bad.deadline_before_issued") >= 1);
    assert_int_equal(bus_counter(t, "bus.cmd_malformed"), 2);

    /* nothing of that reached the sink; two acks of decisions, one expired */
    assert_int_equal(dt_memory_sink_read(dt_twin_io(t), 0, out, 4), 1);
    assert_int_equal(bus_counter(t, "bus.cmd_submitted"), 2);
    assert_int_equal(bus_counter(t, "bus.acks_published"), 3);
    assert_int_equal(s.n_acks, 3);
    dt_twin_destroy(t);
    mosquitto_destroy(s.m);
    mosquitto_lib_cleanup();
    dtt_broker_stop(&b);
}

static void test_accept_refuses_what_is_not_commanded(void **state)
{
    (void)state;
    static const char doc[] =
        "{\"dtwin\":1,\"name\":\"rcv\",\"assets\":[{\"id\":\"p\"}],\"signals\":["
        "{\"id\":\"y\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\","
        " \"role\":\"measured\",\"noise\":{\"std\":0.1}}],"
        BUS("1883") ",\"accept\":[\"y\"]}}";
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_twin *t = NULL;
    dt_diag d;
    assert_int_equal(dt_twin_load_json(doc, strlen(doc), &o, &t, &d), DT_EPARSE);
    assert_non_null(strstr(d.message, "y is not a commanded signal"));
    assert_non_null(strstr(d.path, "bus.accept"));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_receiver_takes_refuses_and_acks),
    cmocka_unit_test(test_accept_refuses_what_is_not_commanded),
};

DTT_MAIN(tests)
