/* An edge broker bridged to a central one with the shipped
 * examples/bridge/edge.conf (read from the source tree, placeholders
 * replaced, every other line as shipped): the bridge over TLS with the
 * edge's client certificate, the central broker's ACL keyed on its CN.
 * A twin-side client on the edge, a consumer on the central broker, both
 * driven from one host loop (poll on every client's socket).
 * What is checked: twin output goes up and commands come down, each only
 * in the direction the file gives; the central broker killed (the edge
 * publishes the link's "0" on its own side) and restarted, the bridge comes
 * back by itself (restart_timeout) and brings the QoS 1 messages published
 * on the edge meanwhile when cleansession is false (the shipped value) and
 * not when it is true, QoS 0 never, and the retained state again; the edge
 * lost, the central broker publishes the bridge's "0" at once and keeps no
 * subscription for it, so a command published meanwhile is answered "no
 * matching subscribers".
 * Every wait is a bounded loop on an event; the broker is frozen (SIGSTOP)
 * where an order of events must be certain, never raced against a delay.
 * The time the bridge took to come back is printed, not asserted. */
#define _DEFAULT_SOURCE /* before any system header: kill, mkdtemp, nanosleep */
#include <poll.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "broker_fixture.h"
#include "test_util.h"

#define EDGE_CONF DTT_SOURCE_DIR "/examples/bridge/edge.conf"
#define EDGE_NAME "edge-test"
#define STATE_TOPIC "$SYS/broker/connection/" EDGE_NAME "/state"
#define MAX_LOG 128

typedef struct msg {
    char topic[96];
    char payload[64];
} msg;

typedef struct client {
    struct mosquitto *m;
    int connected, connects, disconnects;
    int published, last_reason, subscribed;
    int received; /* entries in log (the rest are counted, not kept) */
    msg log[MAX_LOG];
} client;

static void on_connect(struct mosquitto *m, void *obj, int rc, int flags,
                       const mosquitto_property *props)
{
    (void)m, (void)flags, (void)props;
    client *c = obj;
    c->connected = rc == 0;
    c->connects += rc == 0;
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc, const mosquitto_property *p)
{
    (void)m, (void)rc, (void)p;
    client *c = obj;
    c->connected = 0;
    c->disconnects++;
}

static void on_publish(struct mosquitto *m, void *obj, int mid, int reason,
                       const mosquitto_property *p)
{
    (void)m, (void)mid, (void)p;
    client *c = obj;
    c->published++;
    c->last_reason = reason;
}

static void on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *granted,
                         const mosquitto_property *p)
{
    (void)m, (void)mid, (void)n, (void)granted, (void)p;
    client *c = obj;
    c->subscribed++;
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *in,
                       const mosquitto_property *p)
{
    (void)m, (void)p;
    client *c = obj;
    if (c->received < MAX_LOG) {
        msg *e = &c->log[c->received];
        snprintf(e->topic, sizeof e->topic, "%s", in->topic);
        int n = in->payloadlen < 63 ? in->payloadlen : 63;
        memcpy(e->payload, in->payload, (size_t)n);
        e->payload[n] = '\0';
    }
    c->received++;
}

static void client_new(client *c, const char *id)
{
    assert_int_equal(mosquitto_lib_init(), MOSQ_ERR_SUCCESS);
    memset(c, 0, sizeof *c);
    c->last_reason = -1;
    c->m = mosquitto_new(id, true, c);
    assert_non_null(c->m);
    assert_int_equal(mosquitto_int_option(c->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5),
                     MOSQ_ERR_SUCCESS);
    mosquitto_connect_v5_callback_set(c->m, on_connect);
    mosquitto_disconnect_v5_callback_set(c->m, on_disconnect);
    mosquitto_publish_v5_callback_set(c->m, on_publish);
    mosquitto_subscribe_v5_callback_set(c->m, on_subscribe);
    mosquitto_message_v5_callback_set(c->m, on_message);
}

static void client_free(client *c)
{
    mosquitto_destroy(c->m);
    mosquitto_lib_cleanup();
}

/* The two brokers and the two clients the host loop drives. */
typedef struct rig {
    dtt_broker central, edge;
    client consumer; /* on the central broker's plain listener */
    client twin;     /* on the edge broker's plain listener */
} rig;

/* One turn of the host's loop over every client with a socket: one poll,
 * then read, write when wanted (re-checked after the read), keepalive. */
static void turn(rig *r)
{
    client *cs[2] = {&r->consumer, &r->twin};
    struct pollfd p[2];
    client *who[2];
    int n = 0;
    for (int i = 0; i < 2; i++) {
        if (cs[i]->m == NULL)
            continue;
        int fd = mosquitto_socket(cs[i]->m);
        if (fd < 0)
            continue;
        p[n].fd = fd;
        p[n].events = (short)(POLLIN | (mosquitto_want_write(cs[i]->m) ? POLLOUT : 0));
        p[n].revents = 0;
        who[n++] = cs[i];
    }
    if (n == 0) {
        dtt_sleep_ms(10);
        return;
    }
    if (poll(p, (nfds_t)n, 10) > 0) {
        for (int i = 0; i < n; i++) {
            if (p[i].revents & (POLLIN | POLLHUP | POLLERR))
                (void)mosquitto_loop_read(who[i]->m, 1);
            if (mosquitto_socket(who[i]->m) >= 0 && mosquitto_want_write(who[i]->m))
                (void)mosquitto_loop_write(who[i]->m, 1);
        }
    }
    for (int i = 0; i < n; i++)
        (void)mosquitto_loop_misc(who[i]->m);
}

/* The index of the first message on topic with payload at or after `from`
 * in c's log, or -1. */
static int find_msg(const client *c, int from, const char *topic, const char *payload)
{
    int n = c->received < MAX_LOG ? c->received : MAX_LOG;
    for (int i = from; i < n; i++)
        if (strcmp(c->log[i].topic, topic) == 0 && strcmp(c->log[i].payload, payload) == 0)
            return i;
    return -1;
}

static void fail_with_logs(rig *r, const char *what)
{
    dtt_broker_dump_log(&r->central, "central");
    dtt_broker_dump_log(&r->edge, "edge");
    for (int i = 0; i < r->consumer.received && i < MAX_LOG; i++)
        fprintf(stderr, "consumer got [%d] %s = %s\n", i, r->consumer.log[i].topic,
                r->consumer.log[i].payload);
    for (int i = 0; i < r->twin.received && i < MAX_LOG; i++)
        fprintf(stderr, "twin got [%d] %s = %s\n", i, r->twin.log[i].topic,
                r->twin.log[i].payload);
    fail_msg("%s", what);
}

/* Turns until the condition holds; about 120 s idle at most (the bridge
 * draws its reconnection delay between 2 s and 30 s): a bound that turns a
 * hang into a failure, never a measurement. */
#define WAIT_FOR(r, cond, what)                                                                    \
    do {                                                                                           \
        int ok_ = 0;                                                                               \
        for (int i_ = 0; i_ < 12000 && !(ok_ = (cond)); i_++)                                      \
            turn(r);                                                                               \
        if (!ok_)                                                                                  \
            fail_with_logs((r), (what));                                                           \
    } while (0)

/* Waits for a message at or after index `from`; its index. */
static int wait_msg(rig *r, client *c, int from, const char *topic, const char *payload)
{
    int at = -1;
    char what[200];
    snprintf(what, sizeof what, "no %s = %s", topic, payload);
    WAIT_FOR(r, (at = find_msg(c, from, topic, payload)) >= 0, what);
    return at;
}

static void connect_plain(rig *r, client *c, const dtt_broker *b)
{
    int want = c->connects + 1;
    assert_int_equal(mosquitto_connect_bind_v5(c->m, "127.0.0.1", b->port, 30, NULL, NULL),
                     MOSQ_ERR_SUCCESS);
    WAIT_FOR(r, c->connects >= want, "no CONNACK");
}

static void subscribe(rig *r, client *c, const char *filter)
{
    int mid, want = c->subscribed + 1;
    assert_int_equal(mosquitto_subscribe_v5(c->m, &mid, filter, 1, 0, NULL), MOSQ_ERR_SUCCESS);
    WAIT_FOR(r, c->subscribed >= want, "no SUBACK");
}

/* Publishes and waits for the PUBACK (QoS 1) or the write (QoS 0 has no
 * acknowledgement: the message is on its way when want_write falls); the
 * PUBACK's reason code, or 0 at QoS 0. */
static int publish(rig *r, client *c, const char *topic, const char *payload, int qos,
                   bool retain)
{
    int mid, want = c->published + 1;
    assert_int_equal(mosquitto_publish_v5(c->m, &mid, topic, (int)strlen(payload), payload, qos,
                                          retain, NULL),
                     MOSQ_ERR_SUCCESS);
    if (qos == 0) {
        WAIT_FOR(r, !mosquitto_want_write(c->m), "QoS 0 publish not written");
        return 0;
    }
    WAIT_FOR(r, c->published >= want, "no PUBACK");
    return c->last_reason;
}

/* Central: TLS listener, certificates for the edge, the ACL the edge needs
 * (the one docs/deploy.md shows); the consumer (anonymous, plain listener)
 * reads and writes dt/v1 and reads the bridge notifications. */
static const char central_acl[] = "topic readwrite dt/v1/#\n"
                                  "topic read $SYS/broker/connection/#\n"
                                  "user " EDGE_NAME "\n"
                                  "topic write dt/v1/+/+/$state\n"
                                  "topic write dt/v1/+/+/$contract\n"
                                  "topic write dt/v1/+/+/ack/#\n"
                                  "topic write dt/v1/+/+/s/#\n"
                                  "topic write dt/v1/+/+/b/#\n"
                                  "topic read dt/v1/+/+/cmd/#\n"
                                  "topic read dt/v1/+/+/ctl/rebirth\n"
                                  "topic write " STATE_TOPIC "\n";

/* The consumer subscribes to what comes up, as a consumer on the central
 * broker would, and to the bridge notifications; not to the command
 * subtree, whose only subscriber must be the bridge (a QoS 1 command then
 * tells by its PUBACK whether the bridge took it), but to the one command
 * topic the test publishes on the edge to check that it does not go up. */
static void consumer_subscribe(rig *r)
{
    const char *filters[] = {"dt/v1/+/+/$state", "dt/v1/+/+/$contract", "dt/v1/+/+/ack/#",
                             "dt/v1/+/+/s/#",    "dt/v1/+/+/b/#",       "dt/v1/test/twinA/cmd/local",
                             "$SYS/broker/connection/+/state"};
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++)
        subscribe(r, &r->consumer, filters[i]);
}

/* Starts both brokers (the edge with the shipped file and `tail`), the
 * consumer subscribed (consumer_subscribe), the twin subscribed to its
 * commands; returns when the bridge has said "1". */
static void rig_start(rig *r, const char *tail)
{
    memset(r, 0, sizeof *r);
    const char *cns[] = {EDGE_NAME};
    assert_int_equal(dtt_broker_make_certs(&r->central, cns, 1), 0);
    dtt_broker_opts co = {central_acl, 1, NULL};
    if (dtt_broker_start_opts(&r->central, &co) != 0)
        fail_with_logs(r, "the central broker did not start");
    dtt_broker_opts eo = {NULL, 0, NULL};
    if (dtt_broker_start_bridge(&r->edge, &r->central, EDGE_CONF, EDGE_NAME, tail, &eo) != 0)
        fail_with_logs(r, "the edge broker did not start with " EDGE_CONF);
    client_new(&r->consumer, "dtt-central-consumer");
    client_new(&r->twin, "dtt-edge-twin");
    connect_plain(r, &r->consumer, &r->central);
    consumer_subscribe(r);
    /* retained: seen whether the bridge came up before or after this */
    wait_msg(r, &r->consumer, 0, STATE_TOPIC, "1");
    connect_plain(r, &r->twin, &r->edge);
    subscribe(r, &r->twin, "dt/v1/test/twinA/cmd/#");
    /* the edge publishes the link's state on its own side too */
    subscribe(r, &r->twin, STATE_TOPIC);
    wait_msg(r, &r->twin, 0, STATE_TOPIC, "1");
}

static void rig_stop(rig *r)
{
    client_free(&r->consumer);
    client_free(&r->twin);
    dtt_broker_stop(&r->edge);
    dtt_broker_stop(&r->central);
}

/* A command from the central broker to the twin: published until the
 * central broker answers that a subscriber (the bridge) took it, since the
 * bridge's SUBSCRIBE may still be on its way when its "1" arrives; then
 * it must reach the twin. Earlier attempts reached nobody. */
static void command_down(rig *r, const char *payload)
{
    int from = r->twin.received, reason = -1;
    for (int i = 0; i < 200 && reason != 0; i++) {
        reason = publish(r, &r->consumer, "dt/v1/test/twinA/cmd/setpoint", payload, 1, false);
        assert_true(reason == 0 || reason == MQTT_RC_NO_MATCHING_SUBSCRIBERS);
        if (reason != 0)
            turn(r);
    }
    assert_int_equal(reason, 0);
    wait_msg(r, &r->twin, from, "dt/v1/test/twinA/cmd/setpoint", payload);
}

/* Up: state (retained), acknowledgement and a sample reach the central
 * consumer; a command published on the edge does not go up (the file
 * bridges cmd/ down only). Down: a command reaches the twin. */
static void test_bridge_forwards_each_subtree_its_way(void **state)
{
    (void)state;
    rig r;
    rig_start(&r, NULL);
    int from = r.consumer.received;
    assert_true(publish(&r, &r.twin, "dt/v1/test/twinA/$state", "{\"state\":\"up\"}", 1, true) ==
                0);
    publish(&r, &r.twin, "dt/v1/test/twinA/s/v", "s1", 0, false);
    publish(&r, &r.twin, "dt/v1/test/twinA/cmd/local", "edge-only", 1, false);
    assert_int_equal(publish(&r, &r.twin, "dt/v1/test/twinA/ack/iss", "a1", 1, false), 0);
    int st = wait_msg(&r, &r.consumer, from, "dt/v1/test/twinA/$state", "{\"state\":\"up\"}");
    int s1 = wait_msg(&r, &r.consumer, from, "dt/v1/test/twinA/s/v", "s1");
    int a1 = wait_msg(&r, &r.consumer, from, "dt/v1/test/twinA/ack/iss", "a1");
    /* one connection, one order: what was published before a1 and bridged
     * arrived before it; the edge-only command never did */
    assert_true(st < a1 && s1 < a1);
    assert_int_equal(find_msg(&r.consumer, from, "dt/v1/test/twinA/cmd/local", "edge-only"), -1);
    command_down(&r, "42");
    rig_stop(&r);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The central broker killed while the twin keeps publishing on the edge,
 * then restarted. The edge is frozen across the restart until the consumer
 * has subscribed again, so the bridge cannot come back before someone
 * listens: the order is certain, not raced. */
static void central_outage(rig *r, int queued_expected)
{
    int from = r->consumer.received;
    assert_int_equal(publish(r, &r->twin, "dt/v1/test/twinA/$state", "v1", 1, true), 0);
    wait_msg(r, &r->consumer, from, "dt/v1/test/twinA/$state", "v1");

    int twin_from = r->twin.received;
    dtt_broker_signal(&r->central, SIGKILL);
    WAIT_FOR(r, r->consumer.disconnects >= 1, "the consumer did not see the central broker go");
    /* the edge saw the link drop: its bridge's will, "0", published on the
     * edge's side */
    wait_msg(r, &r->twin, twin_from, STATE_TOPIC, "0");
    /* published on the edge while the link is down; the edge accepts each
     * (it has a subscriber: the bridge) */
    const char *queued[] = {"q1", "q2", "q3"};
    for (int i = 0; i < 3; i++)
        assert_int_equal(publish(r, &r->twin, "dt/v1/test/twinA/ack/iss", queued[i], 1, false), 0);
    publish(r, &r->twin, "dt/v1/test/twinA/s/v", "lost", 0, false);

    dtt_broker_signal(&r->edge, SIGSTOP);
    if (dtt_broker_restart(&r->central) != 0)
        fail_with_logs(r, "the central broker did not restart");
    from = r->consumer.received;
    assert_int_equal(mosquitto_reconnect(r->consumer.m), MOSQ_ERR_SUCCESS);
    WAIT_FOR(r, r->consumer.connects >= 2, "the consumer did not reconnect");
    consumer_subscribe(r);
    double t0 = now_s();
    dtt_broker_signal(&r->edge, SIGCONT);
    int up = wait_msg(r, &r->consumer, from, STATE_TOPIC, "1");
    wait_msg(r, &r->twin, twin_from, STATE_TOPIC, "1");
    printf("observation: the bridge was back %.1f s after the edge resumed "
           "(restart_timeout 2 30, jittered)\n",
           now_s() - t0);

    /* the edge sends its retained state again when the link comes up */
    wait_msg(r, &r->consumer, from, "dt/v1/test/twinA/$state", "v1");
    /* traffic flows again, and marks where the queue would have ended */
    assert_int_equal(publish(r, &r->twin, "dt/v1/test/twinA/s/v", "after", 0, false), 0);
    assert_int_equal(publish(r, &r->twin, "dt/v1/test/twinA/ack/iss", "a-after", 1, false), 0);
    int after = wait_msg(r, &r->consumer, from, "dt/v1/test/twinA/ack/iss", "a-after");
    wait_msg(r, &r->consumer, from, "dt/v1/test/twinA/s/v", "after");
    int q[3];
    for (int i = 0; i < 3; i++)
        q[i] = find_msg(&r->consumer, from, "dt/v1/test/twinA/ack/iss", queued[i]);
    if (queued_expected) {
        /* all three, in order, before what was published after the link came back */
        assert_true(q[0] >= 0 && q[0] < q[1] && q[1] < q[2] && q[2] < after);
    } else {
        for (int i = 0; i < 3; i++)
            assert_int_equal(q[i], -1);
    }
    /* QoS 0 while the link was down: gone either way */
    assert_int_equal(find_msg(&r->consumer, from, "dt/v1/test/twinA/s/v", "lost"), -1);
    (void)up;
    command_down(r, "43");
}

/* As shipped (cleansession false): the QoS 1 messages wait on the edge and
 * arrive, in order, once the bridge is back. */
static void test_bridge_back_after_central_restart_with_queue(void **state)
{
    (void)state;
    rig r;
    rig_start(&r, NULL);
    central_outage(&r, 1);
    rig_stop(&r);
}

/* The same file with cleansession true appended: the edge drops what it
 * could not forward; the bridge still comes back by itself. */
static void test_bridge_back_after_central_restart_cleansession_true(void **state)
{
    (void)state;
    rig r;
    rig_start(&r, "cleansession true");
    central_outage(&r, 0);
    rig_stop(&r);
}

/* The edge broker dies: the central broker publishes the bridge's will "0"
 * at once (the socket closed), and keeps no subscription for it (mosquitto
 * 2.0.11 bridging over MQTT 5 asks for no session expiry): a command
 * published meanwhile is answered PUBACK 0x10, no matching subscribers.
 * The edge restarted, the bridge is back and commands come down again. */
static void test_bridge_edge_lost_commands_find_no_subscriber(void **state)
{
    (void)state;
    rig r;
    rig_start(&r, NULL);
    command_down(&r, "41");
    int from = r.consumer.received;
    dtt_broker_signal(&r.edge, SIGKILL);
    wait_msg(&r, &r.consumer, from, STATE_TOPIC, "0");
    assert_int_equal(publish(&r, &r.consumer, "dt/v1/test/twinA/cmd/setpoint", "late", 1, false),
                     MQTT_RC_NO_MATCHING_SUBSCRIBERS);

    WAIT_FOR(&r, r.twin.disconnects >= 1, "the twin did not see the edge go");
    from = r.consumer.received;
    if (dtt_broker_restart(&r.edge) != 0)
        fail_with_logs(&r, "the edge broker did not restart");
    wait_msg(&r, &r.consumer, from, STATE_TOPIC, "1");
    assert_int_equal(mosquitto_reconnect(r.twin.m), MOSQ_ERR_SUCCESS);
    WAIT_FOR(&r, r.twin.connects >= 2, "the twin did not reconnect");
    subscribe(&r, &r.twin, "dt/v1/test/twinA/cmd/#");
    command_down(&r, "44");
    assert_int_equal(find_msg(&r.twin, 0, "dt/v1/test/twinA/cmd/setpoint", "late"), -1);
    rig_stop(&r);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_bridge_forwards_each_subtree_its_way),
    cmocka_unit_test(test_bridge_back_after_central_restart_with_queue),
    cmocka_unit_test(test_bridge_back_after_central_restart_cleansession_true),
    cmocka_unit_test(test_bridge_edge_lost_commands_find_no_subscriber),
};

DTT_MAIN(tests)
