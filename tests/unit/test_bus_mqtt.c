/* The twin's MQTT connection (the description's "bus" section) against a
 * real mosquitto started by the test: connected and driven through the io's
 * loop hooks only (dt_io_watches, poll(2), dt_io_ready, dt_io_wake) or
 * through dt_io_poll only; messages both ways; the broker killed and
 * restarted (the connection comes back on a new socket, with a new watch
 * generation, its subscriptions restored, publishes refused and counted
 * while down); Nagle's algorithm off on each socket; an ACL refusal surfaced as a counted, logged PUBACK 0x87; a
 * broker that is not there retried with backoff. And the section's checks,
 * with no broker: every refusal names its JSON path, and a validated twin
 * (dtwin check) never connects. Waits are bounded loops on events, never
 * timings. */
#define _DEFAULT_SOURCE /* before any system header: kill, mkdtemp, nanosleep */
#include <netinet/tcp.h>
#include <poll.h>
#include <time.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "broker_fixture.h"
#include "test_util.h"

#include "adapters/adapters_internal.h"
#include "bus/bus.h"
#include "bus/mqtt.h"
#include "dtwin/dtwin.h"

#define MODEL                                                                                \
    "{\"dtwin\":1,\"name\":\"bus-test\",\"assets\":[{\"id\":\"p\"}],\"signals\":["           \
    "{\"id\":\"level\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\","              \
    "\"role\":\"measured\"}]"

typedef struct rig {
    dt_model *model;
    dt_ingest *ing;
    dt_io *io;
    dt__mqtt *m;
    dt_diag diag;
    char log[8][256];
    int n_log;
    /* what the subscription and the state callback saw */
    int received, ups, downs, acks, last_reason;
    uint32_t last_connects;
    char topic[128], payload[64];
    size_t len;
} rig;

static dt_time mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (dt_time)ts.tv_sec * DT_NS_PER_S + ts.tv_nsec;
}

static void capture(void *user, dt_log_level level, const char *module, const char *msg)
{
    (void)level, (void)module;
    rig *r = user;
    if (r->n_log < 8)
        snprintf(r->log[r->n_log++], sizeof r->log[0], "%s", msg);
}

static int logged(const rig *r, const char *needle)
{
    for (int i = 0; i < r->n_log; i++)
        if (strstr(r->log[i], needle) != NULL)
            return 1;
    return 0;
}

/* Builds the io from MODEL + ,"bus": bus; mode DT__IO_OPEN or _VALIDATE.
 * Returns dt__io_create's result (diag in r->diag). */
static int rig_try(rig *r, const char *bus, int mode)
{
    memset(r, 0, sizeof *r);
    char doc[2048];
    snprintf(doc, sizeof doc, "%s,\"bus\":%s}", MODEL, bus);
    dt_model_options o = DT_MODEL_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    assert_int_equal(dt_model_load_json(doc, strlen(doc), &o, &r->model, &r->diag), 0);
    dt_ingest_config ic = DT_INGEST_CONFIG_INIT;
    ic.logger = dt_logger_silent();
    assert_int_equal(dt_ingest_create(r->model, &ic, &r->ing), 0);
    dt_logger lg = {capture, r, DT_LOG_DEBUG};
    int rc = dt__io_create(r->model, r->ing, NULL, DTT_BINARY_DIR, NULL, &lg, NULL, mode, &r->io,
                           &r->diag);
    if (rc == DT_OK)
        r->m = dt__bus_mqtt(r->io);
    return rc;
}

static void rig_open(rig *r, int port)
{
    char bus[512];
    snprintf(bus, sizeof bus,
             "{\"realm\":\"t\",\"broker\":{\"host\":\"127.0.0.1\",\"port\":%d,\"tls\":\"none\","
             "\"keepalive\":5},\"reconnect\":{\"min\":0.02,\"max\":0.2}}",
             port);
    int rc = rig_try(r, bus, DT__IO_OPEN);
    if (rc != DT_OK)
        fail_msg("dt__io_create: %s", r->diag.message);
    assert_non_null(r->m);
}

static void rig_close(rig *r)
{
    dt_io_destroy(r->io);
    dt_ingest_destroy(r->ing);
    dt_model_destroy(r->model);
}

static void on_msg(void *user, const char *topic, const uint8_t *p, size_t len, dt_time now)
{
    (void)now;
    rig *r = user;
    r->received++;
    snprintf(r->topic, sizeof r->topic, "%s", topic);
    size_t n = len < sizeof r->payload - 1 ? len : sizeof r->payload - 1;
    memcpy(r->payload, p, n);
    r->payload[n] = '\0';
    r->len = len;
}

static void on_state(void *user, int up, dt_time now)
{
    (void)now;
    rig *r = user;
    r->ups += up;
    r->downs += !up;
    r->last_connects = (uint32_t)dt__mqtt_stats_get(r->m)->connects;
}

static void on_ack(void *user, int mid, int reason)
{
    (void)mid;
    rig *r = user;
    r->acks++;
    r->last_reason = reason;
}

/* One turn of a host loop that uses the hooks only: poll what the io wants
 * (10 ms at most), hand readiness back, wake what is due. */
static void turn_hooks(rig *r)
{
    dt_io_watch w[8];
    size_t n = dt_io_watches(r->io, w, 8);
    assert_true(n <= 1);
    struct pollfd p[1];
    for (size_t i = 0; i < n; i++)
        p[i] = (struct pollfd){w[i].fd, (short)((w[i].events & DT_WATCH_READ ? POLLIN : 0) |
                                                (w[i].events & DT_WATCH_WRITE ? POLLOUT : 0)),
                               0};
    if (n > 0 && poll(p, (nfds_t)n, 10) > 0) {
        for (size_t i = 0; i < n; i++) {
            unsigned ev = (p[i].revents & (POLLIN | POLLHUP | POLLERR) ? DT_WATCH_READ : 0) |
                          (p[i].revents & POLLOUT ? DT_WATCH_WRITE : 0);
            if (ev)
                dt_io_ready(r->io, w[i].adapter, w[i].fd, ev, mono());
        }
    } else if (n == 0) {
        dtt_sleep_ms(5);
    }
    if (dt_io_wake_at(r->io) <= mono())
        dt_io_wake(r->io, mono());
}

/* A host that only polls, once a cycle (5 ms here). */
static void turn_poll(rig *r)
{
    dtt_sleep_ms(5);
    assert_int_equal(dt_io_poll(r->io, mono()), DT_OK);
}

/* Turns until *v >= want (a bound of about 30 s turns a hang into a failure). */
static int until(rig *r, void (*turn)(rig *), const uint64_t *v, uint64_t want)
{
    for (int i = 0; i < 3000 && *v < want; i++)
        turn(r);
    return *v >= want;
}

static int until_int(rig *r, void (*turn)(rig *), const int *v, int want)
{
    for (int i = 0; i < 3000 && *v < want; i++)
        turn(r);
    return *v >= want;
}

/* ---- a plain libmosquitto peer (a device, another twin) ---- */

typedef struct peer {
    struct mosquitto *m;
    int connected, received, subacks;
    char payload[64];
} peer;

static void peer_connect_cb(struct mosquitto *m, void *o, int rc)
{
    (void)m;
    ((peer *)o)->connected = rc == 0;
}
static void peer_msg_cb(struct mosquitto *m, void *o, const struct mosquitto_message *msg)
{
    (void)m;
    peer *p = o;
    p->received++;
    int n = msg->payloadlen < 63 ? msg->payloadlen : 63;
    memcpy(p->payload, msg->payload, (size_t)n);
    p->payload[n] = '\0';
}
static void peer_sub_cb(struct mosquitto *m, void *o, int mid, int n, const int *q)
{
    (void)m, (void)mid, (void)n, (void)q;
    ((peer *)o)->subacks++;
}

static void peer_open(peer *p, int port)
{
    memset(p, 0, sizeof *p);
    assert_int_equal(mosquitto_lib_init(), MOSQ_ERR_SUCCESS);
    p->m = mosquitto_new(NULL, true, p);
    assert_non_null(p->m);
    mosquitto_connect_callback_set(p->m, peer_connect_cb);
    mosquitto_message_callback_set(p->m, peer_msg_cb);
    mosquitto_subscribe_callback_set(p->m, peer_sub_cb);
    assert_int_equal(mosquitto_connect(p->m, "127.0.0.1", port, 30), MOSQ_ERR_SUCCESS);
    for (int i = 0; i < 3000 && !p->connected; i++)
        mosquitto_loop(p->m, 10, 1);
    assert_true(p->connected);
}

static void peer_pump(peer *p, int times)
{
    for (int i = 0; i < times; i++)
        mosquitto_loop(p->m, 0, 1);
}

static void peer_close(peer *p)
{
    mosquitto_destroy(p->m);
    mosquitto_lib_cleanup();
}

/* Turns the twin's loop and the peer's until *v >= want. */
static int both_until(rig *r, peer *p, const int *v, int want)
{
    for (int i = 0; i < 3000 && *v < want; i++) {
        turn_hooks(r);
        peer_pump(p, 1);
    }
    return *v >= want;
}

static void test_messages_both_ways_through_the_hooks(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    rig r;
    rig_open(&r, b.port);
    assert_int_equal(dt__mqtt_subscribe(r.m, "dt/v1/t/in/#", 1, on_msg, &r), DT_OK);
    assert_int_equal(dt__mqtt_on_state(r.m, on_state, &r), DT_OK);
    /* nothing before the first turn: the connect happens in the loop */
    assert_int_equal(dt__mqtt_stats_get(r.m)->connects, 0);
    assert_true(until(&r, turn_hooks, &dt__mqtt_stats_get(r.m)->connects, 1));
    assert_int_equal(r.ups, 1);
    assert_int_equal(r.last_connects, 1);
    dt_io_watch w;
    assert_int_equal(dt_io_watches(r.io, &w, 1), 1);
    assert_true(w.fd >= 0);
    assert_true(w.adapter == (0u | DT_IO_LINK));

    peer p;
    peer_open(&p, b.port);
    assert_int_equal(mosquitto_subscribe(p.m, NULL, "dt/v1/t/out/#", 1), MOSQ_ERR_SUCCESS);
    assert_true(both_until(&r, &p, &p.subacks, 1));
    /* the twin's subscription is acknowledged before the peer's publish is
     * routed: turn a little so the SUBACK is in */
    for (int i = 0; i < 20; i++)
        turn_hooks(&r);
    const char bin[] = {'a', '\0', 'b'}; /* bytes, not a C string */
    assert_int_equal(mosquitto_publish(p.m, NULL, "dt/v1/t/in/x", 3, bin, 1, false), 0);
    assert_true(both_until(&r, &p, &r.received, 1));
    assert_string_equal(r.topic, "dt/v1/t/in/x");
    assert_int_equal(r.len, 3);
    assert_memory_equal(r.payload, bin, 3);

    int mid = -1;
    uint64_t published = dt__mqtt_stats_get(r.m)->published; /* the twin's $state too */
    assert_int_equal(
        dt__mqtt_publish(r.m, "dt/v1/t/out/y", "42.5", 4, 1, 0, on_ack, &r, &mid), DT_OK);
    assert_true(mid > 0);
    assert_true(both_until(&r, &p, &p.received, 1));
    assert_string_equal(p.payload, "42.5");
    assert_true(both_until(&r, &p, &r.acks, 1));
    assert_true(r.last_reason == 0 || r.last_reason == MQTT_RC_NO_MATCHING_SUBSCRIBERS);
    const dt__mqtt_stats *st = dt__mqtt_stats_get(r.m);
    assert_int_equal(st->received, 1);
    assert_int_equal(st->published, published + 1);
    assert_int_equal(st->denied + st->puback_failed + st->not_connected, 0);
    peer_close(&p);
    rig_close(&r);
    dtt_broker_stop(&b);
}

static void test_broker_killed_and_restarted(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    rig r;
    rig_open(&r, b.port);
    assert_int_equal(dt__mqtt_subscribe(r.m, "dt/v1/t/in/#", 0, on_msg, &r), DT_OK);
    assert_int_equal(dt__mqtt_on_state(r.m, on_state, &r), DT_OK);
    const dt__mqtt_stats *st = dt__mqtt_stats_get(r.m);
    assert_true(until(&r, turn_hooks, &st->connects, 1));
    dt_io_watch before;
    assert_int_equal(dt_io_watches(r.io, &before, 1), 1);

    dtt_broker_signal(&b, SIGKILL); /* a crash: the socket closes */
    assert_true(until(&r, turn_hooks, &st->disconnects, 1));
    assert_int_equal(r.downs, 1);
    assert_false(dt__mqtt_connected(r.m));
    /* down: a publish is refused and counted, never queued for later */
    assert_int_equal(dt__mqtt_publish(r.m, "dt/v1/t/out/z", "1", 1, 1, 0, NULL, NULL, NULL),
                     DT_ESTATE);
    assert_int_equal(st->not_connected, 1);
    /* while nothing listens, attempts fail and are retried (with backoff) */
    assert_true(until(&r, turn_hooks, &st->connect_errors, 2));

    assert_int_equal(dtt_broker_start(&b, NULL), 0); /* the same port */
    assert_true(until(&r, turn_hooks, &st->connects, 2));
    assert_int_equal(r.ups, 2);
    assert_int_equal(r.last_connects, 2);
    dt_io_watch after;
    assert_int_equal(dt_io_watches(r.io, &after, 1), 1);
    assert_true(after.gen != before.gen); /* a host registers the new socket */
    /* the subscription is back: a message reaches it */
    peer p;
    peer_open(&p, b.port);
    for (int i = 0; i < 20; i++)
        turn_hooks(&r);
    for (int i = 0; i < 3000 && r.received == 0; i++) {
        if (i % 50 == 0)
            assert_int_equal(mosquitto_publish(p.m, NULL, "dt/v1/t/in/again", 2, "ok", 0, false),
                             0);
        peer_pump(&p, 1);
        turn_hooks(&r);
    }
    assert_true(r.received >= 1);
    assert_string_equal(r.payload, "ok");
    peer_close(&p);
    rig_close(&r);
    dtt_broker_stop(&b);
}

static int nodelay(int fd)
{
    int v = -1;
    socklen_t len = sizeof v;
    if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len) != 0)
        return -1;
    return v != 0;
}

/* Nagle's algorithm off on the connection's socket, and on the new socket
 * of a reconnect: with it on, a belief waits for the ACK of the one before,
 * which a broker that has just answered (a PINGRESP) delays by up to 40 ms. */
static void test_nagle_off_on_every_socket(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    rig r;
    rig_open(&r, b.port);
    const dt__mqtt_stats *st = dt__mqtt_stats_get(r.m);
    assert_true(until(&r, turn_hooks, &st->connects, 1));
    dt_io_watch w;
    assert_int_equal(dt_io_watches(r.io, &w, 1), 1);
    assert_int_equal(nodelay(w.fd), 1);
    dtt_broker_signal(&b, SIGKILL);
    assert_true(until(&r, turn_hooks, &st->disconnects, 1));
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    assert_true(until(&r, turn_hooks, &st->connects, 2));
    dt_io_watch again;
    assert_int_equal(dt_io_watches(r.io, &again, 1), 1);
    assert_true(again.gen != w.gen);
    assert_int_equal(nodelay(again.fd), 1);
    rig_close(&r);
    dtt_broker_stop(&b);
}

/* An ACL that lets the (anonymous) twin write only its own subtree: a QoS 1
 * publish elsewhere comes back as PUBACK 0x87 over MQTT 5, counted and
 * logged, where QoS 0 would vanish silently. Served by dt_io_poll alone. */
static void test_acl_refusal_counted_and_logged(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    /* its own subtree (where the twin's $state goes) and one other */
    assert_int_equal(
        dtt_broker_start(&b, "topic readwrite dt/v1/t/bus-test/#\ntopic readwrite dt/v1/t/mine/#\n"),
        0);
    rig r;
    rig_open(&r, b.port);
    const dt__mqtt_stats *st = dt__mqtt_stats_get(r.m);
    assert_true(until(&r, turn_poll, &st->connects, 1));
    r.last_reason = -1;
    assert_int_equal(
        dt__mqtt_publish(r.m, "dt/v1/t/mine/b", "1", 1, 1, 0, on_ack, &r, NULL), DT_OK);
    assert_true(until_int(&r, turn_poll, &r.acks, 1));
    assert_true(r.last_reason == 0 || r.last_reason == MQTT_RC_NO_MATCHING_SUBSCRIBERS);
    assert_int_equal(
        dt__mqtt_publish(r.m, "dt/v1/t/other/b", "1", 1, 1, 0, on_ack, &r, NULL), DT_OK);
    assert_true(until(&r, turn_poll, &st->denied, 1));
    assert_int_equal(r.last_reason, MQTT_RC_NOT_AUTHORIZED);
    assert_true(logged(&r, "not authorized (PUBACK 0x87)"));
    dt_counter c[32];
    size_t n = dt__mqtt_counters(r.m, c, 32);
    int seen = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(c[i].name, "mqtt.denied") == 0 && c[i].value == 1)
            seen = 1;
    assert_true(seen);
    rig_close(&r);
    dtt_broker_stop(&b);
}

/* ---- the section's checks (no broker) ---- */

static void expect_refused(const char *bus, const char *needle)
{
    rig r;
    int rc = rig_try(&r, bus, DT__IO_OPEN);
    if (rc == DT_OK || strstr(r.diag.message, needle) == NULL)
        fail_msg("bus %s: expected an error with \"%s\", got %d \"%s\"", bus, needle, rc,
                 r.diag.message);
    dt_ingest_destroy(r.ing);
    dt_model_destroy(r.model);
}

static void test_section_refusals(void **state)
{
    (void)state;
    expect_refused("[]", "bus: expected an object, got an array");
    expect_refused("{}", "bus: realm: required");
    expect_refused("{\"realm\":\"r\"}", "bus: broker: required");
    expect_refused("{\"realm\":\"r\",\"engine\":\"dds\"}",
                   "bus.engine: unknown engine \"dds\" (register it with "
                   "dt_registry_add_bus_engine)");
    expect_refused("{\"realm\":\"r\",\"engine\":7}", "bus.engine: expected a string, got 7");
    expect_refused("{\"broker\":{\"host\":\"127.0.0.1\",\"tls\":\"none\"}}",
                   "bus: realm: required, a string");
    expect_refused("{\"realm\":\"a/b\",\"broker\":{\"host\":\"127.0.0.1\",\"tls\":\"none\"}}",
                   "bus: realm: \"a/b\": 1..64 of A-Z a-z 0-9 _ -");
    expect_refused("{\"realm\":\"r\",\"twin\":\"+\",\"broker\":{\"host\":\"127.0.0.1\","
                   "\"tls\":\"none\"}}",
                   "bus: twin: \"+\": 1..64");
    expect_refused("{\"realm\":\"r\",\"broker\":{\"host\":\"127.0.0.1\",\"tls\":\"none\"},"
                   "\"beliefs\":[{\"group\":\"g\",\"states\":[\"level\"]}]}",
                   "bus.beliefs[0]: states[0]: level is not an estimated signal");
    expect_refused("{\"realm\":\"r\",\"broker\":{\"host\":\"127.0.0.1\",\"tls\":\"none\"},"
                   "\"beliefs\":[{\"group\":\"g\",\"states\":[\"nope\"]}]}",
                   "bus.beliefs[0]: states[0]: unknown signal nope");
    expect_refused("{\"realm\":\"r\",\"broker\":{\"host\":\"127.0.0.1\",\"tls\":\"none\"},"
                   "\"beliefs\":[{\"group\":\"g\",\"states\":[]}]}",
                   "states: required, an array of 1..64 estimated signals");
    expect_refused("{\"realm\":\"t\",\"broker\":{\"host\":\"127.0.0.1\",\"tls\":\"none\"},\"x\":1}",
                   "bus.x: unknown key");
    expect_refused("{\"realm\":\"t\",\"broker\":{\"host\":\"127.0.0.1\"}}",
                   "bus.broker.tls: required: an object with \"ca\"");
    expect_refused("{\"realm\":\"t\",\"broker\":{\"host\":\"10.1.2.3\",\"tls\":\"none\"}}",
                   "\"none\" is for a loopback broker only; 10.1.2.3 is not one");
    expect_refused("{\"realm\":\"t\",\"broker\":{\"host\":\"127.0.0.1\",\"tls\":\"off\"}}",
                   "bus.broker.tls: expected an object or \"none\", got \"off\"");
    expect_refused("{\"realm\":\"t\",\"broker\":{\"host\":\"127.0.0.1\",\"tls\":\"none\",\"port\":0}}",
                   "bus.broker: port: an integer in 1..65535, got 0");
    expect_refused("{\"realm\":\"t\",\"broker\":{\"host\":\"127.0.0.1\",\"tls\":\"none\",\"port\":1883.5}}",
                   "got 1883.5");
    expect_refused("{\"realm\":\"t\",\"broker\":{\"host\":\"127.0.0.1\",\"tls\":\"none\",\"keepalive\":1}}",
                   "keepalive: an integer in 5..3600, got 1");
    expect_refused("{\"realm\":\"t\",\"broker\":{\"host\":\"127.0.0.1\",\"tls\":\"none\",\"port\":1e300}}",
                   "port");
    expect_refused("{\"realm\":\"t\",\"broker\":{\"host\":\"\",\"tls\":\"none\"}}", "host: 1..255 bytes");
    expect_refused("{\"realm\":\"t\",\"broker\":{\"host\":\"a b\",\"tls\":\"none\"}}",
                   "holds a space or control character");
    expect_refused("{\"realm\":\"t\",\"broker\":{\"host\":\"127.0.0.1\",\"tls\":\"none\","
                   "\"password_file\":\"" DTT_SOURCE_DIR "/README.md\"}}",
                   "password_file: needs \"username\"");
    expect_refused("{\"realm\":\"t\",\"broker\":{\"host\":\"127.0.0.1\",\"tls\":{\"ca\":\"/nonexistent/ca.crt\"}}}",
                   "bus.broker.tls: ca: cannot read \"/nonexistent/ca.crt\"");
    expect_refused("{\"realm\":\"t\",\"broker\":{\"host\":\"127.0.0.1\",\"tls\":{\"ca\":\"" DTT_SOURCE_DIR
                   "/README.md\",\"cert\":\"" DTT_SOURCE_DIR "/README.md\"}}}",
                   "\"cert\" and \"key\" go together");
    expect_refused("{\"realm\":\"t\",\"broker\":{\"host\":\"127.0.0.1\",\"tls\":\"none\"},"
                   "\"reconnect\":{\"min\":2,\"max\":1}}",
                   "bus.reconnect: min (2 s) is above max (1 s)");
    expect_refused("{\"realm\":\"t\",\"broker\":{\"host\":\"127.0.0.1\",\"tls\":\"none\"},"
                   "\"reconnect\":{\"min\":0}}",
                   "bus.reconnect: min: a number in 0.01..300, got 0");
}

/* A twin built to be checked reads the section, checks its files, and never
 * connects: no link, no socket (nothing listens on that port anyway). */
static void test_validate_never_connects(void **state)
{
    (void)state;
    rig r;
    int port = dtt_free_tcp_port();
    char bus[256];
    snprintf(bus, sizeof bus, "{\"realm\":\"t\",\"broker\":{\"host\":\"127.0.0.1\",\"port\":%d,\"tls\":\"none\"}}",
             port);
    assert_int_equal(rig_try(&r, bus, DT__IO_VALIDATE), DT_OK);
    assert_null(r.m);
    assert_true(dt__io_bus_declared(r.io));
    assert_int_equal(dt_io_watches(r.io, NULL, 0), 0);
    rig_close(&r);
    /* a host name is accepted with a warning: libmosquitto resolves it in
     * every connect, blocking the loop */
    assert_int_equal(rig_try(&r, "{\"realm\":\"t\",\"broker\":{\"host\":\"broker.invalid\",\"tls\":{\"ca\":\""
                                 DTT_SOURCE_DIR "/README.md\"}}}",
                             DT__IO_VALIDATE),
                     DT_OK);
    assert_true(logged(&r, "is a name: libmosquitto resolves it at every connect"));
    rig_close(&r);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_messages_both_ways_through_the_hooks),
    cmocka_unit_test(test_broker_killed_and_restarted),
    cmocka_unit_test(test_nagle_off_on_every_socket),
    cmocka_unit_test(test_acl_refusal_counted_and_logged),
    cmocka_unit_test(test_section_refusals),
    cmocka_unit_test(test_validate_never_connects),
};

DTT_MAIN(tests)
