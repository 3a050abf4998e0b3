/* The broker over TLS with client certificates, and libmosquitto driven from
 * the host's own loop as in test_broker.c (poll on mosquitto_socket(),
 * loop_read / loop_write on events, loop_misc each turn), plus what TLS
 * adds to that loop with libmosquitto 2.0.11: the handshake advances only
 * in mosquitto_loop_read (loop_write does nothing until it is done), and a
 * handshake step that could not write sets a want_write flag that nothing
 * clears before the first MQTT write, so mosquitto_want_write can stay true
 * for the whole handshake. A loop that answers POLLOUT with loop_write alone
 * then spins, and never sends the ClientHello that step could not write. The
 * loop here also calls loop_read on POLLOUT until the CONNACK.
 * The test CA, the broker's certificate (for 127.0.0.1) and the clients'
 * certificates are made for each test by dtt_broker_make_certs; the broker
 * maps a client certificate's CN to the username its ACL keys on. */
#define _DEFAULT_SOURCE /* before any system header: kill, mkdtemp, nanosleep */
#include <poll.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "broker_fixture.h"
#include "test_util.h"

typedef struct client {
    struct mosquitto *m;
    int connected, connects, disconnects, last_connack;
    int published, last_reason, subscribed;
    int received;
    char last_topic[96], last_payload[64];
    /* the handshake as the loop saw it, from the connect call to the CONNACK */
    int turns, reads, pollout_reads;
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

static void on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *granted,
                         const mosquitto_property *p)
{
    (void)m, (void)mid, (void)n, (void)granted, (void)p;
    client *c = obj;
    c->subscribed++;
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg,
                       const mosquitto_property *p)
{
    (void)m, (void)p;
    client *c = obj;
    c->received++;
    snprintf(c->last_topic, sizeof c->last_topic, "%s", msg->topic);
    int n = msg->payloadlen < 63 ? msg->payloadlen : 63;
    memcpy(c->last_payload, msg->payload, (size_t)n);
    c->last_payload[n] = '\0';
}

/* A client over MQTT 5 that trusts the test CA and presents the client
 * certificate for `cn` (NULL: none). */
static void client_new(client *c, const char *id, const dtt_broker *b, const char *cn)
{
    assert_int_equal(mosquitto_lib_init(), MOSQ_ERR_SUCCESS);
    memset(c, 0, sizeof *c);
    c->last_reason = -1;
    c->m = mosquitto_new(id, true, c);
    assert_non_null(c->m);
    assert_int_equal(mosquitto_int_option(c->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5),
                     MOSQ_ERR_SUCCESS);
    char ca[300], crt[300], key[300], file[80];
    assert_non_null(dtt_broker_path(b, "ca.crt", ca, sizeof ca));
    if (cn != NULL) {
        snprintf(file, sizeof file, "%s.crt", cn);
        assert_non_null(dtt_broker_path(b, file, crt, sizeof crt));
        snprintf(file, sizeof file, "%s.key", cn);
        assert_non_null(dtt_broker_path(b, file, key, sizeof key));
    }
    assert_int_equal(mosquitto_tls_set(c->m, ca, NULL, cn != NULL ? crt : NULL,
                                       cn != NULL ? key : NULL, NULL),
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

/* One turn of the host's loop. Until the CONNACK, POLLOUT also calls
 * loop_read: with TLS, that is where libmosquitto 2.0.11 advances the
 * handshake, and want_write may be true all along it. */
static void turn(client *c)
{
    int fd = mosquitto_socket(c->m);
    if (fd < 0) {
        dtt_sleep_ms(10);
        return;
    }
    int before_connack = !c->connected && c->last_connack == 0;
    struct pollfd p = {fd, (short)(POLLIN | (mosquitto_want_write(c->m) ? POLLOUT : 0)), 0};
    if (before_connack)
        c->turns++;
    if (poll(&p, 1, 10) > 0) {
        int readable = (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
        int handshake = before_connack && (p.revents & POLLOUT) != 0;
        if (readable || handshake) {
            if (before_connack) {
                c->reads++;
                c->pollout_reads += !readable;
            }
            (void)mosquitto_loop_read(c->m, 1);
        }
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

static void print_handshake(const char *what, const client *c)
{
    /* an observation for the report, never asserted */
    printf("observation: %s: %d loop turns from connect to CONNACK, %d loop_read calls, "
           "%d of them on POLLOUT alone\n",
           what, c->turns, c->reads, c->pollout_reads);
}

/* certificates for twinA and twinB, a broker with a TLS listener */
static void start_tls_broker(dtt_broker *b, const char *acl)
{
    memset(b, 0, sizeof *b);
    const char *cns[] = {"twinA", "twinB"};
    assert_int_equal(dtt_broker_make_certs(b, cns, 2), 0);
    dtt_broker_opts o = {acl, 1, NULL};
    if (dtt_broker_start_opts(b, &o) != 0) {
        dtt_broker_dump_log(b, "broker");
        fail_msg("the TLS broker did not start");
    }
    assert_true(b->tls_port > 0 && b->tls_port != b->port);
}

static void connect_tls(client *c, const dtt_broker *b)
{
    assert_int_equal(mosquitto_connect_bind_v5(c->m, "127.0.0.1", b->tls_port, 30, NULL, NULL),
                     MOSQ_ERR_SUCCESS);
    if (!pump_until(c, &c->connects, c->connects + 1)) {
        dtt_broker_dump_log(b, "broker");
        fail_msg("no CONNACK over TLS (last CONNACK reason %d)", c->last_connack);
    }
    assert_true(c->connected);
}

static void subscribe(client *c, const char *filter)
{
    int mid, want = c->subscribed + 1;
    assert_int_equal(mosquitto_subscribe_v5(c->m, &mid, filter, 1, 0, NULL), MOSQ_ERR_SUCCESS);
    assert_true(pump_until(c, &c->subscribed, want));
}

/* A QoS 1 round trip over TLS, the client known by its certificate. */
static void test_tls_round_trip_qos1(void **state)
{
    (void)state;
    dtt_broker b;
    start_tls_broker(&b, NULL);
    client c;
    client_new(&c, "dtt-tls-rt", &b, "twinA");
    connect_tls(&c, &b);
    print_handshake("blocking TCP connect, TLS handshake in the loop", &c);
    subscribe(&c, "dt/v1/test/#");
    int mid;
    assert_int_equal(mosquitto_publish_v5(c.m, &mid, "dt/v1/test/twinA/ack", 4, "42.5", 1, false,
                                          NULL),
                     MOSQ_ERR_SUCCESS);
    assert_true(pump_until(&c, &c.received, 1));
    assert_true(pump_until(&c, &c.published, 1));
    assert_string_equal(c.last_payload, "42.5");
    assert_string_equal(c.last_topic, "dt/v1/test/twinA/ack");
    assert_true(c.last_reason == 0 || c.last_reason == MQTT_RC_NO_MATCHING_SUBSCRIBERS);
    client_free(&c);
    dtt_broker_stop(&b);
}

/* mosquitto_connect_async: the TCP connection and the whole TLS handshake
 * run in the host's loop, nothing blocks; a reconnect does it again on a
 * new socket. */
static void test_tls_async_connect_in_the_loop(void **state)
{
    (void)state;
    dtt_broker b;
    start_tls_broker(&b, NULL);
    client c;
    client_new(&c, "dtt-tls-async", &b, "twinA");
    assert_int_equal(mosquitto_connect_bind_async(c.m, "127.0.0.1", b.tls_port, 30, NULL),
                     MOSQ_ERR_SUCCESS);
    assert_true(pump_until(&c, &c.connects, 1));
    print_handshake("non-blocking connect, TLS handshake in the loop", &c);
    /* the broker goes away and comes back: the handshake again, from the loop */
    dtt_broker_signal(&b, SIGKILL);
    assert_true(pump_until(&c, &c.disconnects, 1));
    assert_int_equal(dtt_broker_restart(&b), 0);
    c.turns = c.reads = c.pollout_reads = 0;
    c.last_connack = 0;
    assert_int_equal(mosquitto_reconnect_async(c.m), MOSQ_ERR_SUCCESS);
    assert_true(pump_until(&c, &c.connects, 2));
    print_handshake("reconnect_async after a broker restart", &c);
    subscribe(&c, "dt/v1/test/twinA/#");
    int mid;
    assert_int_equal(mosquitto_publish_v5(c.m, &mid, "dt/v1/test/twinA/ack", 2, "ok", 1, false,
                                          NULL),
                     MOSQ_ERR_SUCCESS);
    assert_true(pump_until(&c, &c.received, 1));
    assert_string_equal(c.last_payload, "ok");
    client_free(&c);
    dtt_broker_stop(&b);
}

/* No client certificate: the broker ends the TLS handshake (or, with TLS
 * 1.3, the connection right after it) and no CONNACK ever comes; the broker
 * keeps serving clients that have one. */
static void test_tls_client_without_certificate_refused(void **state)
{
    (void)state;
    dtt_broker b;
    start_tls_broker(&b, NULL);
    client c;
    client_new(&c, "dtt-tls-nocert", &b, NULL);
    int rc = mosquitto_connect_bind_v5(c.m, "127.0.0.1", b.tls_port, 30, NULL, NULL);
    if (rc == MOSQ_ERR_SUCCESS) {
        /* until the library closes the socket: the refusal, whichever way */
        for (int i = 0; i < 3000 && mosquitto_socket(c.m) >= 0; i++)
            turn(&c);
    }
    assert_int_equal(mosquitto_socket(c.m), -1);
    assert_int_equal(c.connects, 0);
    assert_false(c.connected);
    client_free(&c);

    client ok;
    client_new(&ok, "dtt-tls-withcert", &b, "twinB");
    connect_tls(&ok, &b);
    client_free(&ok);
    dtt_broker_stop(&b);
}

/* The ACL keys on the certificate's CN (use_identity_as_username), not on
 * the client id: twinA may write only under its own name. Publishing under
 * twinB's name at QoS 1 over MQTT 5 is answered PUBACK 0x87 (not
 * authorized) and reaches nobody; under its own name it reaches twinB. */
static void test_tls_acl_keys_on_certificate_cn(void **state)
{
    (void)state;
    dtt_broker b;
    /* the command line of docs/deploy.md: each client issues commands to
     * other twins under its own CN only (%u) */
    start_tls_broker(&b, "pattern write dt/v1/test/+/cmd/+/%u\n"
                         "user twinA\n"
                         "topic write dt/v1/test/twinA/#\n"
                         "topic read dt/v1/test/#\n"
                         "user twinB\n"
                         "topic write dt/v1/test/twinB/#\n"
                         "topic read dt/v1/test/#\n");
    client a, bb;
    client_new(&a, "twinB", &b, "twinA"); /* a client id that is not its CN */
    client_new(&bb, "dtt-tls-acl-b", &b, "twinB");
    connect_tls(&a, &b);
    connect_tls(&bb, &b);
    subscribe(&bb, "dt/v1/test/#");

    int mid;
    assert_int_equal(mosquitto_publish_v5(a.m, &mid, "dt/v1/test/twinB/$state", 5, "stolen", 1,
                                          false, NULL),
                     MOSQ_ERR_SUCCESS);
    assert_true(pump_until(&a, &a.published, 1));
    assert_int_equal(a.last_reason, MQTT_RC_NOT_AUTHORIZED);

    assert_int_equal(mosquitto_publish_v5(a.m, &mid, "dt/v1/test/twinA/$state", 2, "up", 1, false,
                                          NULL),
                     MOSQ_ERR_SUCCESS);
    assert_true(pump_until(&a, &a.published, 2));
    assert_int_equal(a.last_reason, 0);
    assert_true(pump_until(&bb, &bb.received, 1));
    /* in order on twinB's connection: the refused message never came */
    assert_string_equal(bb.last_topic, "dt/v1/test/twinA/$state");
    assert_string_equal(bb.last_payload, "up");
    assert_int_equal(bb.received, 1);

    /* a command to twinB in twinB's own name as issuer (or a third's):
     * refused; in twinA's name: taken */
    assert_int_equal(mosquitto_publish_v5(a.m, &mid, "dt/v1/test/twinB/cmd/valve/twinB", 1, "1", 1,
                                          false, NULL),
                     MOSQ_ERR_SUCCESS);
    assert_true(pump_until(&a, &a.published, 3));
    assert_int_equal(a.last_reason, MQTT_RC_NOT_AUTHORIZED);
    assert_int_equal(mosquitto_publish_v5(a.m, &mid, "dt/v1/test/twinB/cmd/valve/op", 1, "1", 1,
                                          false, NULL),
                     MOSQ_ERR_SUCCESS);
    assert_true(pump_until(&a, &a.published, 4));
    assert_int_equal(a.last_reason, MQTT_RC_NOT_AUTHORIZED);
    assert_int_equal(mosquitto_publish_v5(a.m, &mid, "dt/v1/test/twinB/cmd/valve/twinA", 1, "1", 1,
                                          false, NULL),
                     MOSQ_ERR_SUCCESS);
    assert_true(pump_until(&a, &a.published, 5));
    assert_int_equal(a.last_reason, 0);
    assert_true(pump_until(&bb, &bb.received, 2));
    assert_string_equal(bb.last_topic, "dt/v1/test/twinB/cmd/valve/twinA");
    client_free(&a);
    client_free(&bb);
    dtt_broker_stop(&b);
}

/* A loopback listener that holds a connection back, then relays it to the
 * broker: with its accept queue full (backlog 0, one connection waiting),
 * the kernel drops the client's SYN, so the client's socket is still
 * connecting when libmosquitto writes the ClientHello; the kernel's SYN
 * retransmission connects it later, once the queue has room. */
typedef struct holdback {
    int lfd, dummy, a, u;
    long from_client;
} holdback;

static int holdback_open(holdback *h)
{
    memset(h, 0, sizeof *h);
    h->a = h->u = -1;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    h->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(h->lfd >= 0);
    assert_int_equal(bind(h->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(h->lfd, 0), 0);
    assert_int_equal(getsockname(h->lfd, (struct sockaddr *)&sa, &len), 0);
    h->dummy = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(h->dummy, (struct sockaddr *)&sa, sizeof sa), 0);
    return ntohs(sa.sin_port);
}

static void holdback_close(holdback *h)
{
    int fds[] = {h->lfd, h->dummy, h->a, h->u};
    for (int i = 0; i < 4; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/* Relays what is there between the held connection and the broker. */
static void holdback_relay(holdback *h, struct pollfd *p)
{
    char buf[16384];
    if (p[0].revents & POLLIN) {
        ssize_t n = read(h->a, buf, sizeof buf);
        if (n > 0) {
            h->from_client += n;
            assert_int_equal(write(h->u, buf, (size_t)n), n);
        }
    }
    if (p[1].revents & POLLIN) {
        ssize_t n = read(h->u, buf, sizeof buf);
        if (n > 0)
            assert_int_equal(write(h->a, buf, (size_t)n), n);
    }
}

/* The 2.0.11 trap itself. The ClientHello could not be written (socket
 * still connecting): want_write is set and stays set. Once the socket is
 * writable, a loop that answers POLLOUT with loop_write only spins: the
 * client's socket is writable at every turn, loop_write returns at once
 * (the handshake is not done), and not one byte reaches the broker. The
 * same client driven by the loop of this file (loop_read on POLLOUT until
 * the CONNACK) sends the ClientHello at the next turn and connects. */
static void test_tls_handshake_want_write_trap(void **state)
{
    (void)state;
    dtt_broker b;
    start_tls_broker(&b, NULL);
    holdback h;
    int port = holdback_open(&h);
    client c;
    client_new(&c, "dtt-tls-trap", &b, "twinA");
    assert_int_equal(mosquitto_connect_bind_async(c.m, "127.0.0.1", port, 30, NULL),
                     MOSQ_ERR_SUCCESS);
    assert_true(mosquitto_want_write(c.m)); /* the ClientHello is waiting */
    close(h.dummy); /* room in the queue: the SYN retransmission connects */
    int dummy = accept(h.lfd, NULL, NULL);
    assert_true(dummy >= 0);
    close(dummy);
    h.dummy = -1;

    /* the naive loop, until the held connection is relayed and the client
     * has seen its socket writable 100 times */
    int writable = 0;
    for (int i = 0; i < 3000 && writable < 100; i++) {
        int fd = mosquitto_socket(c.m);
        assert_true(fd >= 0);
        struct pollfd p[3] = {
            {fd, (short)(POLLIN | (mosquitto_want_write(c.m) ? POLLOUT : 0)), 0},
            {h.a >= 0 ? h.a : h.lfd, POLLIN, 0},
            {h.u, POLLIN, 0}};
        if (poll(p, h.u >= 0 ? 3 : 2, 10) <= 0)
            continue;
        if (h.a < 0 && (p[1].revents & POLLIN)) {
            h.a = accept(h.lfd, NULL, NULL);
            assert_true(h.a >= 0);
            h.u = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in sa;
            memset(&sa, 0, sizeof sa);
            sa.sin_family = AF_INET;
            sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            sa.sin_port = htons((uint16_t)b.tls_port);
            assert_int_equal(connect(h.u, (struct sockaddr *)&sa, sizeof sa), 0);
            continue;
        }
        if (h.a >= 0)
            holdback_relay(&h, p + 1);
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
            (void)mosquitto_loop_read(c.m, 1);
        if (p[0].revents & POLLOUT) {
            writable += h.a >= 0;
            (void)mosquitto_loop_write(c.m, 1);
        }
        (void)mosquitto_loop_misc(c.m);
    }
    assert_true(h.a >= 0);
    assert_int_equal(writable, 100);
    assert_true(mosquitto_want_write(c.m)); /* still */
    assert_int_equal(h.from_client, 0);     /* not one byte of the handshake */
    assert_int_equal(c.connects, 0);

    /* the loop of this file */
    for (int i = 0; i < 3000 && c.connects == 0; i++) {
        int fd = mosquitto_socket(c.m);
        assert_true(fd >= 0);
        struct pollfd p[3] = {
            {fd, (short)(POLLIN | (mosquitto_want_write(c.m) ? POLLOUT : 0)), 0},
            {h.a, POLLIN, 0},
            {h.u, POLLIN, 0}};
        c.turns++;
        if (poll(p, 3, 10) <= 0)
            continue;
        holdback_relay(&h, p + 1);
        int readable = (p[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
        if (readable || (p[0].revents & POLLOUT)) {
            c.reads++;
            c.pollout_reads += !readable;
            (void)mosquitto_loop_read(c.m, 1);
        }
        if (mosquitto_socket(c.m) >= 0 && mosquitto_want_write(c.m))
            (void)mosquitto_loop_write(c.m, 1);
        (void)mosquitto_loop_misc(c.m);
    }
    print_handshake("ClientHello held back, then loop_read on POLLOUT", &c);
    assert_int_equal(c.connects, 1);
    assert_true(c.pollout_reads >= 1);
    assert_true(h.from_client > 0);
    client_free(&c);
    holdback_close(&h);
    dtt_broker_stop(&b);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_tls_handshake_want_write_trap),
    cmocka_unit_test(test_tls_round_trip_qos1),
    cmocka_unit_test(test_tls_async_connect_in_the_loop),
    cmocka_unit_test(test_tls_client_without_certificate_refused),
    cmocka_unit_test(test_tls_acl_keys_on_certificate_cn),
};

DTT_MAIN(tests)
