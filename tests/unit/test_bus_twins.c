/* Two twins on a real broker (started by the test): a publisher of a belief
 * group ($state, $contract, b/{group}) and a reader whose "twin" source
 * feeds the other's belief to its estimator. Then the reader's rules, each
 * against a forger that publishes under the publisher's name with a plain
 * libmosquitto client: an unknown contract version (dropped, counted, a
 * rebirth asked for), an older epoch (stale), sequence gaps (counted lost)
 * and repeats (dropped), a last will of an older epoch (ignored) and of the
 * current one (lost), a contract whose unit differs from the mapping's
 * (refused, never converted), malformed payloads (counted). Bounded waits
 * on events, never timings. */
#define _DEFAULT_SOURCE /* before any system header: kill, mkdtemp, nanosleep */
#include <poll.h>
#include <time.h>

#include <mosquitto.h>

#include "broker_fixture.h"
#include "test_util.h"

#include "dtwin/dtwin.h"

static dt_time mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (dt_time)ts.tv_sec * DT_NS_PER_S + ts.tv_nsec;
}

#define BUS(port)                                                                            \
    "\"bus\":{\"realm\":\"r\",\"broker\":{\"host\":\"127.0.0.1\",\"port\":" port             \
    ",\"tls\":\"none\",\"keepalive\":5},\"reconnect\":{\"min\":0.02,\"max\":0.2}"

static const char pub_fmt[] =
    "{\"dtwin\":1,\"name\":\"pub\",\"assets\":[{\"id\":\"tank\"}],\"signals\":["
    "{\"id\":\"y\",\"asset\":\"tank\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","
    " \"noise\":{\"std\":0.01}},"
    "{\"id\":\"level_est\",\"asset\":\"tank\",\"quantity\":\"length\",\"unit\":\"m\","
    " \"role\":\"estimated\"},"
    "{\"id\":\"rate_est\",\"asset\":\"tank\",\"quantity\":\"velocity\",\"unit\":\"m/s\","
    " \"role\":\"estimated\"}],"
    "\"sources\":[{\"id\":\"sensor\",\"kind\":\"memory\",\"timeout\":5,"
    "  \"mapping\":[{\"native\":\"level\",\"signal\":\"y\"}]}],"
    "\"estimator\":{\"states\":[\"level_est\",\"rate_est\"],\"A\":[[0,1],[0,0]],"
    "  \"Q\":[0.0001,0.001],\"x0\":[0,0],\"P0\":[1,1],"
    "  \"measurements\":[{\"signal\":\"y\",\"H\":{\"level_est\":1}}]},"
    "%s,\"beliefs\":[{\"group\":\"tank\",\"states\":[\"level_est\",\"rate_est\"],"
    "  \"every\":0}]},\"loop\":{\"period\":0.01}}";

/* unit: the mapping's native unit of the remote level ("m" agrees with the
 * publisher's contract, "cm" does not) */
static const char sub_fmt[] =
    "{\"dtwin\":1,\"name\":\"sub\",\"assets\":[{\"id\":\"site\"}],\"signals\":["
    "{\"id\":\"up\",\"asset\":\"site\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","
    " \"noise\":{\"std\":0.01}},"
    "{\"id\":\"up_est\",\"asset\":\"site\",\"quantity\":\"length\",\"unit\":\"m\","
    " \"role\":\"estimated\"}],"
    "\"sources\":[{\"id\":\"peer\",\"kind\":\"twin\",\"twin\":\"pub\",\"belief\":\"tank\","
    "  \"clock\":{\"mode\":\"estimate\"},\"timeout\":5,"
    "  \"mapping\":[{\"native\":\"level_est\",\"signal\":\"up\",\"unit\":\"%s\"}]}],"
    "\"estimator\":{\"states\":[\"up_est\"],\"A\":[[0]],\"Q\":[0.0001],\"x0\":[0],\"P0\":[1],"
    "  \"measurements\":[{\"signal\":\"up\",\"H\":{\"up_est\":1}}]},"
    "%s},\"loop\":{\"period\":0.01}}";

static dt_twin *load(const char *doc)
{
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = getenv("DTT_VERBOSE") ? dt_logger_stderr() : dt_logger_silent();
    dt_twin *t = NULL;
    dt_diag d;
    int rc = dt_twin_load_json(doc, strlen(doc), &o, &t, &d);
    if (rc != DT_OK)
        fail_msg("load: %s", d.message);
    return t;
}

/* Waits (10 ms at most) on what the twins' ios watch, hands readiness back,
 * wakes what is due. */
static void turn(dt_twin **tw, size_t n)
{
    struct pollfd p[8];
    dt_io_watch w[8];
    size_t owner[8], k = 0;
    for (size_t i = 0; i < n; i++) {
        dt_io_watch wi[4];
        size_t m = dt_io_watches(dt_twin_io(tw[i]), wi, 4);
        for (size_t j = 0; j < m && k < 8; j++, k++) {
            w[k] = wi[j];
            owner[k] = i;
            p[k] = (struct pollfd){wi[j].fd,
                                   (short)((wi[j].events & DT_WATCH_READ ? POLLIN : 0) |
                                           (wi[j].events & DT_WATCH_WRITE ? POLLOUT : 0)),
                                   0};
        }
    }
    if (k > 0 && poll(p, (nfds_t)k, 10) > 0) {
        for (size_t j = 0; j < k; j++) {
            unsigned ev = (p[j].revents & (POLLIN | POLLHUP | POLLERR) ? DT_WATCH_READ : 0) |
                          (p[j].revents & POLLOUT ? DT_WATCH_WRITE : 0);
            if (ev)
                dt_io_ready(dt_twin_io(tw[owner[j]]), w[j].adapter, w[j].fd, ev, mono());
        }
    } else if (k == 0) {
        dtt_sleep_ms(5);
    }
    for (size_t i = 0; i < n; i++)
        if (dt_io_wake_at(dt_twin_io(tw[i])) <= mono())
            dt_io_wake(dt_twin_io(tw[i]), mono());
}

static uint64_t counter(dt_twin *t, const char *name)
{
    dt_counter c[32];
    size_t n = dt_io_source_counters(dt_twin_io(t), 0, c, 32);
    for (size_t i = 0; i < n && i < 32; i++)
        if (strcmp(c[i].name, name) == 0)
            return c[i].value;
    fail_msg("no counter %s", name);
    return 0;
}

static void test_reader_estimates_from_the_publishers_belief(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    char port[16], bus[256], doc[4096];
    snprintf(port, sizeof port, "%d", b.port);
    snprintf(bus, sizeof bus, BUS("%s"), port);
    snprintf(doc, sizeof doc, pub_fmt, bus);
    dt_twin *pub = load(doc);
    snprintf(doc, sizeof doc, sub_fmt, "m", bus);
    dt_twin *sub = load(doc);
    dt_twin *both[2] = {pub, sub};
    dt_time t0 = mono();
    assert_int_equal(dt_twin_start(pub, t0), 0);
    assert_int_equal(dt_twin_start(sub, t0), 0);
    dt_twin_stats st;
    memset(&st, 0, sizeof st);
    for (int k = 0; k < 3000 && (counter(sub, "states_emitted") < 30 || st.estimator.updates < 20);
         k++) {
        dt_time now = mono();
        /* the tank at 2 m, measured with 1 cm noise-free here */
        assert_int_equal(dt_memory_source_push(dt_twin_io(pub), 0, "level", now, 2.0), 0);
        assert_int_equal(dt_twin_step(pub, now), 0);
        turn(both, 2);
        assert_int_equal(dt_twin_step(sub, mono()), 0);
        dt_twin_stats_get(sub, &st);
    }
    assert_true(counter(sub, "states_emitted") >= 30);
    assert_true(st.estimator.updates >= 20);
    assert_int_equal(counter(sub, "unknown_contract") + counter(sub, "contract_refused") +
                         counter(sub, "bad_message") + counter(sub, "stale_epoch"),
                     0);
    /* the reader's estimate follows the publisher's belief of 2 m */
    dt_belief bel;
    assert_int_equal(dt_est_belief(dt_twin_estimator(sub), 1, dt_est_time(dt_twin_estimator(sub)),
                                   &bel),
                     0);
    assert_close(bel.value, 2.0, 0, 0.05);
    dt_twin_destroy(sub);
    dt_twin_destroy(pub);
    dtt_broker_stop(&b);
}


/* ---- the reader's rules, against a forger ---- */

typedef struct forger {
    struct mosquitto *m;
    int connected, rebirths;
} forger;

static void forger_connect_cb(struct mosquitto *m, void *o, int rc)
{
    (void)m;
    ((forger *)o)->connected = rc == 0;
}
static void forger_msg_cb(struct mosquitto *m, void *o, const struct mosquitto_message *msg)
{
    (void)m, (void)msg;
    ((forger *)o)->rebirths++;
}

static void forge(forger *f, const char *rest, const void *p, size_t n, int retain)
{
    char topic[128];
    snprintf(topic, sizeof topic, "dt/v1/r/pub/%s", rest);
    assert_int_equal(mosquitto_publish(f->m, NULL, topic, (int)n, p, 1, retain), 0);
    for (int i = 0; i < 5; i++)
        mosquitto_loop(f->m, 0, 1);
}

static void forge_text(forger *f, const char *rest, const char *text, int retain)
{
    forge(f, rest, text, strlen(text), retain);
}

static void forge_belief(forger *f, uint32_t epoch, uint32_t contract, uint64_t seq)
{
    uint8_t buf[256];
    dt_buswire_header h = {DT_BUSWIRE_VERSION, DT_BUSWIRE_BELIEF, 1, epoch, contract, seq};
    const double x[2] = {1.5, 0.0}, P[4] = {0.01, 0, 0, 0.001};
    size_t n = dt_buswire_encode_belief(buf, sizeof buf, &h, mono(), 2, x, P);
    assert_true(n > 0);
    forge(f, "b/tank", buf, n, 0);
}

static const char contract7[] =
    "{\"dtwin_contract\":1,\"realm\":\"r\",\"twin\":\"pub\",\"version\":7,\"beliefs\":[{"
    "\"group\":\"tank\",\"independent\":false,\"states\":[{\"signal\":\"level_est\","
    "\"quantity\":\"length\",\"unit\":\"m\"},{\"signal\":\"rate_est\",\"quantity\":\"velocity\","
    "\"unit\":\"m/s\"}],\"A\":[[0,1],[0,0]],\"Q\":[[0.0001,0],[0,0.001]]}]}";

/* Turns the reader (and the forger) until the reader's counter reaches want. */
static int reader_until(dt_twin *sub, forger *f, const char *name, uint64_t want)
{
    dt_twin *one[1] = {sub};
    for (int i = 0; i < 3000 && counter(sub, name) < want; i++) {
        turn(one, 1);
        mosquitto_loop(f->m, 0, 1);
        assert_int_equal(dt_twin_step(sub, mono()), 0);
    }
    return counter(sub, name) >= want;
}

static void test_reader_rules_against_a_forger(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    forger f;
    memset(&f, 0, sizeof f);
    assert_int_equal(mosquitto_lib_init(), 0);
    f.m = mosquitto_new(NULL, true, &f);
    mosquitto_connect_callback_set(f.m, forger_connect_cb);
    mosquitto_message_callback_set(f.m, forger_msg_cb);
    assert_int_equal(mosquitto_connect(f.m, "127.0.0.1", b.port, 30), 0);
    for (int i = 0; i < 3000 && !f.connected; i++)
        mosquitto_loop(f.m, 10, 1);
    assert_true(f.connected);
    assert_int_equal(mosquitto_subscribe(f.m, NULL, "dt/v1/r/pub/ctl/rebirth", 0), 0);
    /* the publisher's retained announcement, as a real one leaves it */
    forge_text(&f, "$contract", contract7, 1);
    forge_text(&f, "$state", "{\"state\":\"ready\",\"epoch\":100,\"contract\":7}", 1);

    char port[16], bus[256], doc[4096];
    snprintf(port, sizeof port, "%d", b.port);
    snprintf(bus, sizeof bus, BUS("%s"), port);
    snprintf(doc, sizeof doc, sub_fmt, "m", bus);
    dt_twin *sub = load(doc);
    assert_int_equal(dt_twin_start(sub, mono()), 0);
    dt_twin *one[1] = {sub};
    for (int i = 0; i < 100; i++) /* connected, subscribed, the retained ones read */
        turn(one, 1);

    /* in order: taken */
    uint64_t seq = 1;
    for (int i = 0; i < 3000 && counter(sub, "states_emitted") < 1; i++) {
        forge_belief(&f, 100, 7, seq++);
        assert_true(reader_until(sub, &f, "messages", seq - 1));
    }
    assert_int_equal(counter(sub, "states_emitted"), seq - 1);
    uint64_t emitted = counter(sub, "states_emitted"), msgs = counter(sub, "messages");
    /* a gap of 3: counted lost, the message taken */
    seq += 3;
    forge_belief(&f, 100, 7, seq);
    assert_true(reader_until(sub, &f, "states_emitted", emitted + 1));
    assert_int_equal(counter(sub, "lost"), 3);
    /* the same seq again: a repeat, dropped */
    forge_belief(&f, 100, 7, seq);
    assert_true(reader_until(sub, &f, "duplicate", 1));
    /* a contract version the reader does not know: dropped, counted, a
     * rebirth asked of the publisher */
    forge_belief(&f, 100, 8, seq + 1);
    assert_true(reader_until(sub, &f, "unknown_contract", 1));
    assert_true(reader_until(sub, &f, "rebirth_requests", 1));
    for (int i = 0; i < 3000 && f.rebirths == 0; i++)
        mosquitto_loop(f.m, 1, 1);
    assert_true(f.rebirths >= 1);
    /* an older epoch (a connection the publisher replaced): stale */
    forge_belief(&f, 99, 7, seq + 2);
    assert_true(reader_until(sub, &f, "stale_epoch", 1));
    /* a last will of an older connection: ignored; of this one: lost */
    forge_text(&f, "$state", "{\"state\":\"lost\",\"epoch\":99,\"contract\":7}", 1);
    assert_true(reader_until(sub, &f, "stale_state", 1));
    assert_int_equal(counter(sub, "peer_lost"), 0);
    forge_text(&f, "$state", "{\"state\":\"lost\",\"epoch\":100,\"contract\":7}", 1);
    assert_true(reader_until(sub, &f, "peer_lost", 1));
    /* garbage, and JSON that is not a state */
    forge(&f, "b/tank", "\x44\x54\x57\x42garbage", 11, 0);
    assert_true(reader_until(sub, &f, "bad_message", 1));
    forge_text(&f, "$state", "{\"state\":1,\"epoch\":-1}", 0);
    assert_true(reader_until(sub, &f, "bad_message", 2));
    /* a new contract whose level is in cm: refused, never converted; its
     * messages are dropped (no rebirth: the version is known) */
    char cm[sizeof contract7 + 8];
    snprintf(cm, sizeof cm, "%s", contract7);
    char *u = strstr(cm, "\"unit\":\"m\"");
    assert_non_null(u);
    memmove(u + 9, u + 8, strlen(u + 8) + 1);
    memcpy(u + 8, "cm", 2);
    char *v = strstr(cm, "\"version\":7");
    v[10] = '9';
    forge_text(&f, "$contract", cm, 1);
    assert_true(reader_until(sub, &f, "contract_refused", 1));
    uint64_t before = counter(sub, "unknown_contract");
    forge_belief(&f, 101, 9, 1);
    assert_true(reader_until(sub, &f, "unknown_contract", before + 1));
    /* nothing of all that reached the estimator but the good messages */
    assert_int_equal(counter(sub, "states_emitted"), emitted + 1);
    (void)msgs;
    dt_twin_destroy(sub);
    mosquitto_destroy(f.m);
    mosquitto_lib_cleanup();
    dtt_broker_stop(&b);
}


/* ---- TLS identities and the broker's ACL ---- */

static uint64_t link_counter(dt_twin *t, const char *name)
{
    dt_counter c[64];
    size_t n = dt_io_link_counters(dt_twin_io(t), 0, c, 64);
    for (size_t i = 0; i < n && i < 64; i++)
        if (strcmp(c[i].name, name) == 0)
            return c[i].value;
    fail_msg("no link counter %s", name);
    return 0;
}

static dt_twin *tls_twin(const dtt_broker *b, const char *bus_name, const char *cn,
                         const char *client_id)
{
    char bus[1024], doc[4096];
    if (cn != NULL)
        snprintf(bus, sizeof bus,
                 "\"bus\":{\"realm\":\"r\",\"twin\":\"%s\",\"broker\":{\"host\":\"127.0.0.1\","
                 "\"port\":%d,\"keepalive\":5,\"client_id\":\"%s\",\"tls\":{\"ca\":\"%s/ca.crt\","
                 "\"cert\":\"%s/%s.crt\",\"key\":\"%s/%s.key\"}},"
                 "\"reconnect\":{\"min\":0.02,\"max\":0.2}",
                 bus_name, b->tls_port, client_id, b->dir, b->dir, cn, b->dir, cn);
    else /* the CA only: no client certificate */
        snprintf(bus, sizeof bus,
                 "\"bus\":{\"realm\":\"r\",\"twin\":\"%s\",\"broker\":{\"host\":\"127.0.0.1\","
                 "\"port\":%d,\"keepalive\":5,\"client_id\":\"%s\",\"tls\":{\"ca\":\"%s/ca.crt\"}},"
                 "\"reconnect\":{\"min\":0.02,\"max\":0.2}",
                 bus_name, b->tls_port, client_id, b->dir);
    snprintf(doc, sizeof doc, pub_fmt, bus);
    return load(doc);
}

/* Over TLS with client certificates, the broker's ACL keyed on the
 * certificate's CN: tank1 publishes under its own name; a twin holding the
 * certificate "intruder" that calls itself tank1 has its $state refused
 * (PUBACK 0x87, counted); a twin without a certificate never connects. */
static void test_tls_identities_and_acl(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    const char *cns[] = {"tank1", "intruder"};
    assert_int_equal(dtt_broker_make_certs(&b, cns, 2), 0);
    dtt_broker_opts o;
    memset(&o, 0, sizeof o);
    o.tls = 1;
    o.acl = "user tank1\ntopic readwrite dt/v1/r/tank1/#\n"
            "user intruder\ntopic readwrite dt/v1/r/intruder/#\n";
    assert_int_equal(dtt_broker_start_opts(&b, &o), 0);

    /* the impostor's client id differs (the same one would only take the
     * session over) */
    dt_twin *own = tls_twin(&b, "tank1", "tank1", "own");
    dt_twin *impostor = tls_twin(&b, "tank1", "intruder", "impostor");
    dt_twin *anonymous = tls_twin(&b, "tank1", NULL, "anonymous");
    dt_twin *all[3] = {own, impostor, anonymous};
    for (int i = 0; i < 3; i++)
        assert_int_equal(dt_twin_start(all[i], mono()), 0);
    for (int i = 0; i < 3000 && (link_counter(own, "bus.state_published") < 2 ||
                                 link_counter(impostor, "mqtt.denied") < 1 ||
                                 link_counter(anonymous, "mqtt.connect_errors") +
                                         link_counter(anonymous, "mqtt.disconnects") <
                                     2);
         i++) {
        turn(all, 3);
        for (int k = 0; k < 3; k++)
            assert_int_equal(dt_twin_step(all[k], mono()), 0);
    }
    /* its contract and state went through, nothing refused */
    assert_int_equal(link_counter(own, "mqtt.connects"), 1);
    assert_true(link_counter(own, "bus.state_published") >= 2);
    assert_int_equal(link_counter(own, "mqtt.denied"), 0);
    /* the impostor connected (its certificate is valid) but may not speak
     * for tank1 */
    assert_true(link_counter(impostor, "mqtt.connects") >= 1);
    assert_true(link_counter(impostor, "mqtt.denied") >= 1);
    /* no certificate: the handshake fails, again and again, never connected */
    assert_int_equal(link_counter(anonymous, "mqtt.connects"), 0);
    assert_true(link_counter(anonymous, "mqtt.connect_errors") +
                    link_counter(anonymous, "mqtt.disconnects") >= 2);
    for (int i = 0; i < 3; i++)
        dt_twin_destroy(all[i]);
    dtt_broker_stop(&b);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_reader_estimates_from_the_publishers_belief),
    cmocka_unit_test(test_reader_rules_against_a_forger),
    cmocka_unit_test(test_tls_identities_and_acl),
};

DTT_MAIN(tests)
