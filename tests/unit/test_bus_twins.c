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

#include "bus_twins.h"

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
    dt_twin *pub = load(doc, NULL);
    snprintf(doc, sizeof doc, sub_fmt, bus);
    dt_twin *sub = load(doc, NULL);
    dt_twin *both[2] = {pub, sub};
    dt_time t0 = mono();
    assert_int_equal(dt_twin_start(pub, t0), 0);
    assert_int_equal(dt_twin_start(sub, t0), 0);
    dt_twin_stats st;
    memset(&st, 0, sizeof st);
    for (int k = 0; k < 3000 && (counter(sub, "beliefs_offered") < 30 || st.estimator.beliefs_fused < 20);
         k++) {
        dt_time now = mono();
        /* the tank at 2 m, measured with 1 cm noise-free here */
        assert_int_equal(dt_memory_source_push(dt_twin_io(pub), 0, "level", now, 2.0), 0);
        assert_int_equal(dt_twin_step(pub, now), 0);
        turn(both, 2);
        assert_int_equal(dt_twin_step(sub, mono()), 0);
        dt_twin_stats_get(sub, &st);
    }
    assert_true(counter(sub, "beliefs_offered") >= 30);
    assert_true(st.estimator.beliefs_fused >= 20);
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
    forger_start(&f, b.port);
    /* the publisher's retained announcement, as a real one leaves it */
    forge_text(&f, "$contract", contract7, 1);
    forge_text(&f, "$state", "{\"state\":\"ready\",\"epoch\":100,\"contract\":7}", 1);

    char port[16], bus[256], doc[4096];
    snprintf(port, sizeof port, "%d", b.port);
    snprintf(bus, sizeof bus, BUS("%s"), port);
    snprintf(doc, sizeof doc, sub_fmt, bus);
    dt_twin *sub = load(doc, NULL);
    assert_int_equal(dt_twin_start(sub, mono()), 0);
    dt_twin *one[1] = {sub};
    for (int i = 0; i < 100; i++) /* connected, subscribed, the retained ones read */
        turn(one, 1);

    /* in order: taken */
    uint64_t seq = 1;
    for (int i = 0; i < 3000 && counter(sub, "beliefs_offered") < 1; i++) {
        forge_belief(&f, 100, 7, seq++);
        assert_true(reader_until(sub, &f, "messages", seq - 1));
    }
    assert_int_equal(counter(sub, "beliefs_offered"), seq - 1);
    uint64_t emitted = counter(sub, "beliefs_offered"), msgs = counter(sub, "messages");
    /* a gap of 3: counted lost, the message taken */
    seq += 3;
    forge_belief(&f, 100, 7, seq);
    assert_true(reader_until(sub, &f, "beliefs_offered", emitted + 1));
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
    assert_int_equal(counter(sub, "beliefs_offered"), emitted + 1);
    (void)msgs;
    dt_twin_destroy(sub);
    forger_stop(&f);
    dtt_broker_stop(&b);
}


/* Across the publisher's reconnects its numbers continue: the gap between
 * the last of one epoch and the first of the next is lost messages. A new
 * process starts at 1: those before its first are lost. A gap of 64 or more
 * is not counted (a forged number could inflate it). */
static void test_lost_across_epochs(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    forger f;
    forger_start(&f, b.port);
    forge_text(&f, "$contract", contract7, 1);
    forge_text(&f, "$state", "{\"state\":\"ready\",\"epoch\":100,\"contract\":7}", 1);
    char port[16], bus[256], doc[4096];
    snprintf(port, sizeof port, "%d", b.port);
    snprintf(bus, sizeof bus, BUS("%s"), port);
    snprintf(doc, sizeof doc, sub_fmt, bus);
    dt_twin *sub = load(doc, NULL);
    assert_int_equal(dt_twin_start(sub, mono()), 0);
    dt_twin *one[1] = {sub};
    for (int i = 0; i < 100; i++)
        turn(one, 1);
    for (uint64_t seq = 1; seq <= 3; seq++) {
        forge_belief(&f, 100, 7, seq);
        assert_true(reader_until(sub, &f, "messages", seq));
    }
    /* the publisher reconnects (epoch 101, announced); 4 and 5 were lost on
     * the way: its next is 6 */
    forge_text(&f, "$state", "{\"state\":\"ready\",\"epoch\":101,\"contract\":7}", 1);
    forge_belief(&f, 101, 7, 6);
    assert_true(reader_until(sub, &f, "messages", 4));
    assert_int_equal(counter(sub, "lost"), 2);
    /* a new process (epoch 102, not announced: the belief moves the epoch):
     * its numbers restart, 1 and 2 lost */
    forge_belief(&f, 102, 7, 3);
    assert_true(reader_until(sub, &f, "messages", 5));
    assert_int_equal(counter(sub, "lost"), 4);
    /* a forged first number far ahead in a new epoch: not counted */
    forge_belief(&f, 103, 7, 1000000);
    assert_true(reader_until(sub, &f, "messages", 6));
    assert_int_equal(counter(sub, "lost"), 4);
    assert_int_equal(counter(sub, "beliefs_offered"), 6);
    dt_twin_destroy(sub);
    forger_stop(&f);
    dtt_broker_stop(&b);
}

/* A watcher of a twin's $state: every live state message it reads. */
typedef struct watcher {
    struct mosquitto *m;
    int connected, stopped, lost, init, ready;
} watcher;

static void w_connect(struct mosquitto *m, void *o, int rc)
{
    (void)m;
    ((watcher *)o)->connected = rc == 0;
}

static void w_msg(struct mosquitto *m, void *o, const struct mosquitto_message *msg)
{
    (void)m;
    watcher *w = o;
    char text[256];
    if (msg->retain || msg->payloadlen <= 0 || (size_t)msg->payloadlen >= sizeof text)
        return;
    memcpy(text, msg->payload, (size_t)msg->payloadlen);
    text[msg->payloadlen] = '\0';
    w->stopped += strstr(text, "\"stopped\"") != NULL;
    w->lost += strstr(text, "\"lost\"") != NULL;
    w->init += strstr(text, "\"init\"") != NULL;
    w->ready += strstr(text, "\"ready\"") != NULL;
}

/* A twin that stops cleanly while messages keep coming to it is stopped,
 * not lost: its connection closes without leaving unread bytes (which make
 * the kernel reset it, and the broker publish the will). The reader here
 * is flooded with beliefs it does not turn its loop for, then destroyed. */
static void test_clean_stop_under_incoming_traffic(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    forger f;
    forger_start(&f, b.port);
    forge_text(&f, "$contract", contract7, 1);
    forge_text(&f, "$state", "{\"state\":\"ready\",\"epoch\":100,\"contract\":7}", 1);
    watcher w;
    memset(&w, 0, sizeof w);
    w.m = mosquitto_new(NULL, true, &w);
    assert_non_null(w.m);
    mosquitto_connect_callback_set(w.m, w_connect);
    mosquitto_message_callback_set(w.m, w_msg);
    assert_int_equal(mosquitto_connect(w.m, "127.0.0.1", b.port, 30), 0);
    for (int i = 0; i < 3000 && !w.connected; i++)
        mosquitto_loop(w.m, 10, 1);
    assert_int_equal(mosquitto_subscribe(w.m, NULL, "dt/v1/r/sub/$state", 1), 0);

    char port[16], bus[256], doc[4096];
    snprintf(port, sizeof port, "%d", b.port);
    snprintf(bus, sizeof bus, BUS("%s"), port);
    snprintf(doc, sizeof doc, sub_fmt, bus);
    dt_twin *sub = load(doc, NULL);
    assert_int_equal(dt_twin_start(sub, mono()), 0);
    /* connected and subscribed: the retained state read */
    dt_twin *one[1] = {sub};
    for (int i = 0; i < 100; i++)
        turn(one, 1);
    uint64_t seq = 1;
    for (int i = 0; i < 100 && counter(sub, "messages") == 0; i++) {
        forge_belief(&f, 100, 7, seq++);
        for (int k = 0; k < 5; k++) {
            mosquitto_loop(f.m, 0, 1);
            turn(one, 1);
        }
    }
    assert_true(counter(sub, "messages") >= 1);
    /* a flood the reader does not read, then its clean stop */
    for (uint64_t k = 0; k < 3000; k++, seq++) {
        forge_belief(&f, 100, 7, seq);
        if (k % 64 == 0)
            mosquitto_loop(f.m, 0, 1);
    }
    for (int i = 0; i < 50; i++)
        mosquitto_loop(f.m, 1, 1);
    dt_twin_destroy(sub);
    /* the broker has the stopped state; no will follows (bounded wait:
     * a will would come as soon as the broker saw the reset) */
    for (int i = 0; i < 3000 && w.stopped == 0; i++)
        mosquitto_loop(w.m, 1, 1);
    assert_int_equal(w.stopped, 1);
    for (int i = 0; i < 200; i++) {
        mosquitto_loop(w.m, 1, 1);
        mosquitto_loop(f.m, 0, 1);
    }
    assert_int_equal(w.lost, 0);
    mosquitto_destroy(w.m);
    forger_stop(&f);
    dtt_broker_stop(&b);
}

/* $state says "init" while the twin is loaded but not started (connected,
 * its commands would wait), "ready" once it runs. */
static void test_state_init_then_ready(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    watcher w;
    memset(&w, 0, sizeof w);
    w.m = mosquitto_new(NULL, true, &w);
    assert_non_null(w.m);
    mosquitto_connect_callback_set(w.m, w_connect);
    mosquitto_message_callback_set(w.m, w_msg);
    assert_int_equal(mosquitto_connect(w.m, "127.0.0.1", b.port, 30), 0);
    for (int i = 0; i < 3000 && !w.connected; i++)
        mosquitto_loop(w.m, 10, 1);
    assert_int_equal(mosquitto_subscribe(w.m, NULL, "dt/v1/r/sub/$state", 1), 0);
    for (int i = 0; i < 20; i++)
        mosquitto_loop(w.m, 1, 1);
    char port[16], bus[256], doc[4096];
    snprintf(port, sizeof port, "%d", b.port);
    snprintf(bus, sizeof bus, BUS("%s"), port);
    snprintf(doc, sizeof doc, sub_fmt, bus);
    dt_twin *sub = load(doc, NULL);
    dt_twin *one[1] = {sub};
    for (int i = 0; i < 3000 && w.init == 0; i++) {
        turn(one, 1);
        mosquitto_loop(w.m, 0, 1);
    }
    assert_int_equal(w.init, 1);
    assert_int_equal(w.ready, 0);
    assert_int_equal(dt_twin_start(sub, mono()), 0);
    for (int i = 0; i < 3000 && w.ready == 0; i++) {
        turn(one, 1);
        assert_int_equal(dt_twin_step(sub, mono()), 0);
        mosquitto_loop(w.m, 0, 1);
    }
    assert_int_equal(w.ready, 1);
    dt_twin_destroy(sub);
    mosquitto_destroy(w.m);
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
    return load(doc, NULL);
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
    cmocka_unit_test(test_lost_across_epochs),
    cmocka_unit_test(test_clean_stop_under_incoming_traffic),
    cmocka_unit_test(test_state_init_then_ready),
    cmocka_unit_test(test_tls_identities_and_acl),
};

DTT_MAIN(tests)
