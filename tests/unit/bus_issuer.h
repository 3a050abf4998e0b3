/* What the command tests share (test_bus_commands.c, test_redteam_cmd.c):
 * a receiving twin "rcv" that accepts the commanded signal "valve", and an
 * issuer played by a plain libmosquitto client that publishes on
 * dt/v1/r/rcv/cmd/valve/{issuer} and reads the acks on dt/v1/r/rcv/ack/+.
 * Include after broker_fixture.h, test_util.h and bus_twins.h. */
#ifndef DTWIN_TEST_BUS_ISSUER_H
#define DTWIN_TEST_BUS_ISSUER_H

#include <mosquitto.h>

#include "dtwin/dtwin.h"

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
    "%s,\"accept\":[{\"signal\":\"valve\",\"deadline_max\":60}]},\"loop\":{\"period\":0.01}}";

/* the issuer's side: the acks it read (with the topic's issuer), the
 * receiver's contract */
typedef struct issuer {
    struct mosquitto *m;
    int connected;
    size_t n_acks;
    dt_buswire_ack acks[64];
    char ack_of[64][16]; /* the issuer an ack's topic names */
    uint64_t ack_msg_seq[64];
    uint32_t ack_epoch;
    char contract[2048];
} issuer;

static inline void is_connect(struct mosquitto *m, void *o, int rc)
{
    (void)m;
    ((issuer *)o)->connected = rc == 0;
}

static inline void is_msg(struct mosquitto *m, void *o, const struct mosquitto_message *msg)
{
    (void)m;
    issuer *s = o;
    const char *ack = strstr(msg->topic, "/ack/");
    if (ack != NULL) {
        dt_buswire_header h;
        assert_int_equal(dt_buswire_decode_header(msg->payload, (size_t)msg->payloadlen, &h),
                         DT_BUSWIRE_OK);
        for (size_t i = 0; i < h.count && s->n_acks < 64; i++) {
            snprintf(s->ack_of[s->n_acks], sizeof s->ack_of[0], "%s", ack + 5);
            s->ack_msg_seq[s->n_acks] = h.seq;
            assert_int_equal(dt_buswire_ack_at(msg->payload, (size_t)msg->payloadlen, i,
                                               &s->acks[s->n_acks++]),
                             DT_BUSWIRE_OK);
        }
        s->ack_epoch = h.epoch;
    } else if ((size_t)msg->payloadlen < sizeof s->contract) {
        memcpy(s->contract, msg->payload, (size_t)msg->payloadlen);
        s->contract[msg->payloadlen] = '\0';
    }
}

static inline void issuer_start(issuer *s, int port)
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
    assert_int_equal(mosquitto_subscribe(s->m, NULL, "dt/v1/r/rcv/ack/+", 1), 0);
    assert_int_equal(mosquitto_subscribe(s->m, NULL, "dt/v1/r/rcv/$contract", 1), 0);
}

static inline void issuer_stop(issuer *s)
{
    mosquitto_destroy(s->m);
    mosquitto_lib_cleanup();
}

/* Publishes p on dt/v1/r/rcv/{rest}. */
static inline void issue_on(issuer *s, const char *rest, const void *p, size_t n, int retain)
{
    char topic[256];
    snprintf(topic, sizeof topic, "dt/v1/r/rcv/%s", rest);
    assert_int_equal(mosquitto_publish(s->m, NULL, topic, (int)n, p, 1, retain), 0);
    for (int i = 0; i < 5; i++)
        mosquitto_loop(s->m, 0, 1);
}

/* Publishes on the valve's topic as the issuer "iss". */
static inline void issue_raw(issuer *s, const void *p, size_t n, int retain)
{
    issue_on(s, "cmd/valve/iss", p, n, retain);
}

/* The receiver's wall-clock epoch (seconds since 2024-01-01), what a real
 * issuer's epoch is near. */
static inline uint32_t wall_epoch_now(void)
{
    return (uint32_t)(time(NULL) - 1704067200);
}

/* One command record in a message of (epoch, seq), issued at t (the
 * issuer's own time base) with room until its deadline. Returns the
 * message length (in buf). */
static inline size_t command_at(uint8_t *buf, size_t cap, uint32_t epoch, uint64_t seq,
                                uint64_t cmd_seq, double value, dt_time t, dt_time room)
{
    dt_buswire_header h = {DT_BUSWIRE_VERSION, DT_BUSWIRE_COMMANDS, 1, epoch, 1, seq};
    dt_buswire_command c = {cmd_seq, t, t + room, value, 0, 0};
    size_t n = dt_buswire_encode_commands(buf, cap, &h, &c, 1);
    assert_true(n > 0);
    return n;
}

/* As command_at, issued at the issuer's time 1000 s. */
static inline size_t command_msg(uint8_t *buf, size_t cap, uint32_t epoch, uint64_t seq,
                                 uint64_t cmd_seq, double value, dt_time room)
{
    return command_at(buf, cap, epoch, seq, cmd_seq, value, 1000 * DT_NS_PER_S, room);
}

static inline uint64_t bus_counter(dt_twin *t, const char *name)
{
    dt_counter c[96];
    size_t n = dt_io_link_counters(dt_twin_io(t), 0, c, 96);
    for (size_t i = 0; i < n && i < 96; i++)
        if (strcmp(c[i].name, name) == 0)
            return c[i].value;
    fail_msg("no counter %s", name);
    return 0;
}

/* Counter `name` of the twin's first sink (a twin sink: "acks_applied"). */
static inline uint64_t sink_counter(dt_twin *t, const char *name)
{
    dt_counter c[64];
    size_t n = dt_io_sink_counters(dt_twin_io(t), 0, c, 64);
    for (size_t i = 0; i < n && i < 64; i++)
        if (strcmp(c[i].name, name) == 0)
            return c[i].value;
    fail_msg("no counter %s", name);
    return 0;
}

static inline dt_twin *receiver(const dtt_broker *b, const dt_allocator *alloc)
{
    char port[16], bus[256], doc[4096];
    snprintf(port, sizeof port, "%d", b->port);
    snprintf(bus, sizeof bus, BUS("%s"), port);
    snprintf(doc, sizeof doc, rcv_fmt, bus);
    return load(doc, alloc);
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

#endif
