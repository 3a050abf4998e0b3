/* The broker the bus will run on, and libmosquitto driven the way dtwin's
 * loop will drive it (no library thread: poll on mosquitto_socket(),
 * loop_read / loop_write on events, want_write re-checked after every read,
 * loop_misc each turn). These tests pin the behaviours the MQTT binding
 * relies on, against a real mosquitto started by the test: a round trip at
 * QoS 1 over MQTT 5, a broker killed and restarted (the socket is replaced
 * and must be polled anew), and an ACL refusal that MQTT 5 reports as PUBACK
 * reason 0x87 where a QoS 0 publish would vanish silently. */
#define _DEFAULT_SOURCE /* before any system header: kill, mkdtemp, nanosleep */
#include <poll.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "broker_fixture.h"
#include "test_util.h"

typedef struct client {
    struct mosquitto *m;
    int connected, connects, disconnects, last_connack;
    int published, last_reason;
    int received;
    char last_payload[64];
} client;

static void on_connect(struct mosquitto *m, void *obj, int rc, int flags,
                       const mosquitto_property *props)
{
    (void)m, (void)flags, (void)props;
    client *c = obj;
    c->last_connack = rc;
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

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg,
                       const mosquitto_property *p)
{
    (void)m, (void)p;
    client *c = obj;
    c->received++;
    int n = msg->payloadlen < 63 ? msg->payloadlen : 63;
    memcpy(c->last_payload, msg->payload, (size_t)n);
    c->last_payload[n] = '\0';
}

/* mosquitto_lib_init counts its callers: each client holds one reference */
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
    mosquitto_message_v5_callback_set(c->m, on_message);
}

static void client_free(client *c)
{
    mosquitto_destroy(c->m);
    mosquitto_lib_cleanup();
}

/* One turn of the host's loop: poll the client's current socket (it changes
 * on reconnect), read, write when the library wants to (re-checked after the
 * read: what a callback publishes is only queued), keepalive. */
static void turn(client *c)
{
    int fd = mosquitto_socket(c->m);
    if (fd < 0) {
        dtt_sleep_ms(10);
        return;
    }
    struct pollfd p = {fd, (short)(POLLIN | (mosquitto_want_write(c->m) ? POLLOUT : 0)), 0};
    if (poll(&p, 1, 10) > 0) {
        if (p.revents & (POLLIN | POLLHUP | POLLERR))
            (void)mosquitto_loop_read(c->m, 1);
        if (mosquitto_socket(c->m) >= 0 && mosquitto_want_write(c->m))
            (void)mosquitto_loop_write(c->m, 1);
    }
    (void)mosquitto_loop_misc(c->m);
}

/* Turns until *flag reaches want; the bound only turns a hang into a failure. */
static int pump_until(client *c, const int *flag, int want)
{
    for (int i = 0; i < 3000 && *flag < want; i++)
        turn(c);
    return *flag >= want;
}

static void connect_to(client *c, const dtt_broker *b)
{
    /* a literal address: every libmosquitto connect resolves names with a
     * blocking getaddrinfo */
    assert_int_equal(mosquitto_connect_bind_v5(c->m, "127.0.0.1", b->port, 30, NULL, NULL),
                     MOSQ_ERR_SUCCESS);
    assert_true(pump_until(c, &c->connects, c->connects + 1));
    assert_true(c->connected);
}

static void test_round_trip_qos1_mqtt5(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    client c;
    client_new(&c, "dtt-rt");
    connect_to(&c, &b);
    int mid;
    assert_int_equal(mosquitto_subscribe_v5(c.m, &mid, "dt/v1/test/#", 1, 0, NULL),
                     MOSQ_ERR_SUCCESS);
    /* the SUBACK before the publish: order is kept per connection */
    for (int i = 0; i < 20; i++)
        turn(&c);
    assert_int_equal(mosquitto_publish_v5(c.m, &mid, "dt/v1/test/a", 4, "42.5", 1, false, NULL),
                     MOSQ_ERR_SUCCESS);
    assert_true(pump_until(&c, &c.received, 1));
    assert_true(pump_until(&c, &c.published, 1));
    assert_string_equal(c.last_payload, "42.5");
    /* 0: delivered; 0x10: accepted, nobody subscribed (success too) */
    assert_true(c.last_reason == 0 || c.last_reason == MQTT_RC_NO_MATCHING_SUBSCRIBERS);
    client_free(&c);
    dtt_broker_stop(&b);
}

/* The broker dies: the client sees the disconnect on its next read; the
 * broker comes back on the same port: a reconnect opens a new socket,
 * which the loop must poll from then on, and messages flow again. */
static void test_broker_killed_and_restarted(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    client c;
    client_new(&c, "dtt-restart");
    connect_to(&c, &b);
    dtt_broker_signal(&b, SIGKILL);
    assert_true(pump_until(&c, &c.disconnects, 1));
    assert_false(c.connected);
    assert_int_equal(mosquitto_socket(c.m), -1); /* closed by the library */
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    assert_int_equal(mosquitto_reconnect(c.m), MOSQ_ERR_SUCCESS);
    assert_true(pump_until(&c, &c.connects, 2));
    assert_true(mosquitto_socket(c.m) >= 0);
    int mid;
    assert_int_equal(mosquitto_subscribe_v5(c.m, &mid, "dt/v1/x/#", 1, 0, NULL), MOSQ_ERR_SUCCESS);
    for (int i = 0; i < 20; i++)
        turn(&c);
    assert_int_equal(mosquitto_publish_v5(c.m, &mid, "dt/v1/x/s", 2, "ok", 1, false, NULL),
                     MOSQ_ERR_SUCCESS);
    assert_true(pump_until(&c, &c.received, 1));
    assert_string_equal(c.last_payload, "ok");
    client_free(&c);
    dtt_broker_stop(&b);
}

/* A publish the ACL denies: at QoS 1 over MQTT 5 the broker answers PUBACK
 * with reason 0x87 (not authorized), which the binding must count and log;
 * an allowed topic on the same connection still gets through. */
static void test_acl_denial_is_reported_at_qos1(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, "topic readwrite dt/v1/allowed/#\n"), 0);
    client c;
    client_new(&c, "dtt-acl");
    connect_to(&c, &b);
    int mid;
    assert_int_equal(mosquitto_publish_v5(c.m, &mid, "dt/v1/denied/x", 1, "1", 1, false, NULL),
                     MOSQ_ERR_SUCCESS);
    assert_true(pump_until(&c, &c.published, 1));
    assert_int_equal(c.last_reason, MQTT_RC_NOT_AUTHORIZED);
    assert_int_equal(mosquitto_subscribe_v5(c.m, &mid, "dt/v1/allowed/#", 1, 0, NULL),
                     MOSQ_ERR_SUCCESS);
    for (int i = 0; i < 20; i++)
        turn(&c);
    assert_int_equal(mosquitto_publish_v5(c.m, &mid, "dt/v1/allowed/x", 1, "2", 1, false, NULL),
                     MOSQ_ERR_SUCCESS);
    assert_true(pump_until(&c, &c.received, 1));
    assert_true(pump_until(&c, &c.published, 2));
    assert_true(c.last_reason == 0 || c.last_reason == MQTT_RC_NO_MATCHING_SUBSCRIBERS);
    client_free(&c);
    dtt_broker_stop(&b);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_round_trip_qos1_mqtt5),
    cmocka_unit_test(test_broker_killed_and_restarted),
    cmocka_unit_test(test_acl_denial_is_reported_at_qos1),
};

DTT_MAIN(tests)
