/* Red-team tests of commands between twins over the bus (cmd/{signal} and
 * ack): what the receiver does with commands outside its running life
 * (before dt_twin_start, after dt_twin_stop), whether every record ends in
 * exactly one counter and one ack. Against a real broker started by the
 * test; bounded waits on counters and messages, never timings. */
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

/* Turns the receiver's connection without stepping it (a stopped or not
 * yet started twin) until cond holds (bounded). */
#define TURN_UNTIL(t, s, cond)                                                             \
    do {                                                                                   \
        dt_twin *one_[1] = {(t)};                                                          \
        for (int i_ = 0; i_ < 3000 && !(cond); i_++) {                                     \
            turn(one_, 1);                                                                 \
            mosquitto_loop((s)->m, 0, 1);                                                  \
        }                                                                                  \
        assert_true(cond);                                                                 \
    } while (0)

static dt_twin *receiver(const dtt_broker *b)
{
    char port[16], bus[256], doc[4096];
    snprintf(port, sizeof port, "%d", b->port);
    snprintf(bus, sizeof bus, BUS("%s"), port);
    snprintf(doc, sizeof doc, rcv_fmt, bus);
    return load(doc, NULL);
}

/* A command that reaches a stopped twin is never dispatched: it must be
 * refused and acked at once, not counted submitted and left without an
 * answer (the issuer would wait for an ack that never comes, and the
 * in-flight slot would never be freed). */
static void test_command_after_stop_refused_and_acked(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    issuer s;
    issuer_start(&s, b.port);
    uint8_t buf[256];
    dt_twin *t = receiver(&b);
    assert_int_equal(dt_twin_start(t, mono()), 0);
    UNTIL(t, &s, s.contract[0] != '\0');
    assert_int_equal(dt_twin_stop(t), 0);
    size_t n = command_msg(buf, sizeof buf, 7, 1, 51, 0.5, 10 * DT_NS_PER_S);
    issue_raw(&s, buf, n, 0);
    TURN_UNTIL(t, &s, s.n_acks >= 1);
    assert_int_equal(s.acks[0].seq, 51);
    assert_int_equal(s.acks[0].decision, DT_DISP_REFUSED);
    assert_int_equal(s.acks[0].status, DT_ESTATE);
    assert_int_equal(bus_counter(t, "bus.cmd_submitted"), 0);
    assert_int_equal(bus_counter(t, "bus.cmd_refused"), 1);
    dt_command out[4];
    assert_int_equal(dt_memory_sink_read(dt_twin_io(t), 0, out, 4), 0);
    dt_twin_destroy(t);
    mosquitto_destroy(s.m);
    mosquitto_lib_cleanup();
    dtt_broker_stop(&b);
}

/* A command that arrives after load but before dt_twin_start waits in the
 * bus's queue (the twin takes none: DT_ESTATE) and is dispatched by the
 * first step, still inside its deadline; one ack, one submitted. */
static void test_command_before_start_waits(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    issuer s;
    issuer_start(&s, b.port);
    uint8_t buf[256];
    dt_twin *t = receiver(&b);
    TURN_UNTIL(t, &s, s.contract[0] != '\0');
    size_t n = command_msg(buf, sizeof buf, 7, 1, 61, 0.5, 60 * DT_NS_PER_S);
    issue_raw(&s, buf, n, 0);
    TURN_UNTIL(t, &s, bus_counter(t, "bus.cmd_records") >= 1);
    for (int i = 0; i < 20; i++) {
        dt_twin *one[1] = {t};
        turn(one, 1);
    }
    assert_int_equal(bus_counter(t, "bus.cmd_submitted"), 0);
    assert_int_equal(s.n_acks, 0);
    assert_int_equal(dt_twin_start(t, mono()), 0);
    UNTIL(t, &s, s.n_acks >= 1);
    assert_int_equal(s.acks[0].seq, 61);
    assert_int_equal(s.acks[0].decision, DT_DISP_SENT);
    assert_int_equal(bus_counter(t, "bus.cmd_submitted"), 1);
    dt_command out[4];
    assert_int_equal(dt_memory_sink_read(dt_twin_io(t), 0, out, 4), 1);
    assert_int_equal(DT_ORIGIN_KIND(out[0].origin), DT_ORIGIN_REMOTE);
    dt_twin_destroy(t);
    mosquitto_destroy(s.m);
    mosquitto_lib_cleanup();
    dtt_broker_stop(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_after_stop_refused_and_acked),
        cmocka_unit_test(test_command_before_start_waits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
