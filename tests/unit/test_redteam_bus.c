/* Red-team pass over the MQTT bus: what a forger on the broker (anyone who
 * may publish on the realm's topics: there is no authentication yet) or a
 * publisher whose clock went back can do to a reader's "twin" source, and
 * what the publishing path allocates. Each test is a finding that failed
 * before its fix:
 * - one forged belief of epoch 2^32 - 1 (or a forged retained $state of
 *   it) locked the reader out of the real publisher until the reader
 *   restarted: every later belief was "stale";
 * - a publisher back with an older epoch (its clock set back, or a device
 *   without a real-time clock that starts at 1970 and so at epoch 1) was
 *   never read again;
 * - one forged belief with a sequence number 2^62 ahead turned every later
 *   belief into a "duplicate" until the publisher reconnected, and added
 *   2^62 to "lost".
 * Against a real broker started by the test; waits are bounded loops on
 * events, never timings. */
#define _DEFAULT_SOURCE /* before any system header: kill, mkdtemp, nanosleep */
#include <poll.h>
#include <sys/ioctl.h>
#include <time.h>

#include <mosquitto.h>

#include "alloc_counter.h"
#include "broker_fixture.h"
#include "test_util.h"

#include "adapters/adapters_internal.h"
#include "bus/bus.h"
#include "bus/bus_internal.h"
#include "bus/mqtt.h"
#include "dtwin/dtwin.h"

#include "bus_twins.h"

typedef struct scene {
    dtt_broker b;
    forger f;
    char bus[256];
    dt_twin *pub, *sub; /* pub NULL: the forger plays the publisher */
} scene;

/* A broker, a forger, the reader and (with_pub) the real publisher, all
 * started; with the forger as the publisher, its retained announcement
 * (contract 7, ready at epoch 100) is there before the reader connects. */
static void scene_start(scene *s, int with_pub)
{
    memset(s, 0, sizeof *s);
    assert_int_equal(dtt_broker_start(&s->b, NULL), 0);
    forger_start(&s->f, s->b.port);
    char port[16], doc[4096];
    snprintf(port, sizeof port, "%d", s->b.port);
    snprintf(s->bus, sizeof s->bus, BUS("%s"), port);
    if (with_pub) {
        snprintf(doc, sizeof doc, pub_fmt, s->bus);
        s->pub = load(doc, NULL);
        assert_int_equal(dt_twin_start(s->pub, mono()), 0);
    } else {
        forge_text(&s->f, "$contract", contract7, 1);
        forge_state(&s->f, "ready", 100, 7);
    }
    snprintf(doc, sizeof doc, sub_fmt, s->bus);
    s->sub = load(doc, NULL);
    assert_int_equal(dt_twin_start(s->sub, mono()), 0);
}

static void scene_stop(scene *s)
{
    dt_twin_destroy(s->sub);
    dt_twin_destroy(s->pub);
    forger_stop(&s->f);
    dtt_broker_stop(&s->b);
}

/* One turn of everything: the publisher measures 2 m and steps, the loop
 * hooks of both twins, the forger's client, the reader steps. */
static void scene_turn(scene *s)
{
    dt_twin *tw[2] = {s->sub, s->pub};
    if (s->pub != NULL) {
        dt_time now = mono();
        assert_int_equal(dt_memory_source_push(dt_twin_io(s->pub), 0, "level", now, 2.0), 0);
        assert_int_equal(dt_twin_step(s->pub, now), 0);
    }
    turn(tw, s->pub != NULL ? 2 : 1);
    mosquitto_loop(s->f.m, 0, 1);
    assert_int_equal(dt_twin_step(s->sub, mono()), 0);
}

/* Turns until the reader's counter reaches want (bounded); whether it did. */
static int until(scene *s, const char *name, uint64_t want)
{
    for (int i = 0; i < 1000 && counter(s->sub, name) < want; i++)
        scene_turn(s);
    return counter(s->sub, name) >= want;
}

/* With the forger as the publisher: beliefs of epoch 100 (contract 7), seq
 * 1, 2, ..., until the reader, subscribed by then, has read one (QoS 0:
 * those sent before it subscribed are gone). Returns the next seq. */
static uint64_t prime(scene *s)
{
    uint64_t seq = 1;
    for (int i = 0; i < 100 && counter(s->sub, "messages") == 0; i++) {
        forge_belief(&s->f, 100, 7, seq++);
        for (int k = 0; k < 20 && counter(s->sub, "messages") == 0; k++)
            scene_turn(s);
    }
    assert_int_equal(counter(s->sub, "messages"), 1);
    assert_int_equal(counter(s->sub, "beliefs_offered"), 1);
    return seq;
}

/* The publisher's epoch and contract version, from its retained $state. */
static void pub_identity(scene *s, uint32_t *epoch, uint32_t *contract)
{
    unsigned e = 0, c = 0;
    for (int i = 0; i < 3000 && sscanf(s->f.state, "{\"state\":\"ready\",\"epoch\":%u,"
                                                   "\"contract\":%u}", &e, &c) != 2; i++)
        scene_turn(s);
    assert_int_equal(sscanf(s->f.state, "{\"state\":\"ready\",\"epoch\":%u,\"contract\":%u}", &e,
                            &c),
                     2);
    *epoch = e;
    *contract = c;
}

/* ---- epochs ---- */

/* One forged belief of the highest epoch, with the publisher's contract
 * version (public: its retained $state says it): the reader must come back
 * to the real publisher's beliefs. */
static void test_forged_highest_epoch_belief_does_not_lock_out(void **state)
{
    (void)state;
    scene s;
    scene_start(&s, 1);
    assert_true(until(&s, "beliefs_offered", 5));
    uint32_t epoch, contract;
    pub_identity(&s, &epoch, &contract);
    forge_belief(&s.f, UINT32_MAX, contract, 1);
    uint64_t emitted = counter(s.sub, "beliefs_offered");
    /* the forged one read, then the publisher's own again */
    assert_true(until(&s, "beliefs_offered", emitted + 20));
    scene_stop(&s);
}

/* The same with a forged retained $state "ready" of the highest epoch. */
static void test_forged_highest_epoch_state_does_not_lock_out(void **state)
{
    (void)state;
    scene s;
    scene_start(&s, 1);
    assert_true(until(&s, "beliefs_offered", 5));
    uint32_t epoch, contract;
    pub_identity(&s, &epoch, &contract);
    forge_state(&s.f, "ready", UINT32_MAX, contract);
    uint64_t emitted = counter(s.sub, "beliefs_offered");
    assert_true(until(&s, "beliefs_offered", emitted + 20));
    scene_stop(&s);
}

/* A publisher restarted with an older epoch (its wall clock set back, or
 * not set yet: epochs count seconds since 2024, and a device that boots at
 * 1970 starts at epoch 1): its new "ready" and beliefs must be read. */
static void test_publisher_back_with_an_older_epoch_is_read(void **state)
{
    (void)state;
    scene s;
    scene_start(&s, 0);
    uint64_t seq = prime(&s), msgs = 1;
    for (int i = 0; i < 2; i++) {
        forge_belief(&s.f, 100, 7, seq++);
        assert_true(until(&s, "messages", ++msgs));
    }
    assert_int_equal(counter(s.sub, "beliefs_offered"), 3);
    /* the broker's last will of the old connection, then the new one */
    forge_state(&s.f, "lost", 100, 7);
    assert_true(until(&s, "peer_lost", 1));
    forge_state(&s.f, "ready", 1, 7);
    for (uint64_t k = 1; k <= 3; k++) {
        forge_belief(&s.f, 1, 7, k);
        assert_true(until(&s, "messages", ++msgs));
    }
    assert_int_equal(counter(s.sub, "beliefs_offered"), 6);
    scene_stop(&s);
}

/* ---- sequence numbers ---- */

/* One forged belief 2^62 ahead in the publisher's epoch: neither 2^62 lost
 * nor the publisher's next beliefs dropped as repeats. */
static void test_forged_seq_jump_neither_locks_out_nor_counts_lost(void **state)
{
    (void)state;
    scene s;
    scene_start(&s, 0);
    uint64_t seq = prime(&s), msgs = 1;
    for (int i = 0; i < 2; i++) {
        forge_belief(&s.f, 100, 7, seq++);
        assert_true(until(&s, "messages", ++msgs));
    }
    assert_int_equal(counter(s.sub, "beliefs_offered"), 3);
    uint64_t lost = counter(s.sub, "lost"); /* before the reader subscribed: none */
    forge_belief(&s.f, 100, 7, seq + ((uint64_t)1 << 62));
    assert_true(until(&s, "messages", ++msgs));
    for (int i = 0; i < 3; i++) {
        forge_belief(&s.f, 100, 7, seq++);
        assert_true(until(&s, "messages", ++msgs));
    }
    assert_int_equal(counter(s.sub, "beliefs_offered"), 6);
    assert_int_equal(counter(s.sub, "lost"), lost);
    assert_int_equal(counter(s.sub, "duplicate"), 0);
    assert_int_equal(counter(s.sub, "unconfirmed"), 1);

    /* an honest gap of 100 (a reader too slow for its broker's queue): the
     * first belief after it waits for the next, the 100 are counted lost */
    seq += 100;
    for (int i = 0; i < 2; i++) {
        forge_belief(&s.f, 100, 7, seq++);
        assert_true(until(&s, "messages", ++msgs));
    }
    assert_int_equal(counter(s.sub, "beliefs_offered"), 7);
    assert_int_equal(counter(s.sub, "lost"), lost + 100);
    assert_int_equal(counter(s.sub, "unconfirmed"), 2);
    lost += 100;

    /* after a reconnect (a new epoch), a forged first belief 2^62 ahead of
     * the publisher's seq 1: the publisher's second belief is read again */
    forge_state(&s.f, "ready", 101, 7);
    forge_belief(&s.f, 101, 7, (uint64_t)1 << 62);
    assert_true(until(&s, "messages", ++msgs));
    for (seq = 1; seq <= 4; seq++) {
        forge_belief(&s.f, 101, 7, seq);
        assert_true(until(&s, "messages", ++msgs));
    }
    /* the forged one, then the publisher's from its second */
    assert_int_equal(counter(s.sub, "beliefs_offered"), 7 + 1 + 3);
    assert_true(counter(s.sub, "lost") < lost + 64);
    scene_stop(&s);
}

/* ---- the publishing path allocates nothing ---- */

static void test_publishing_beliefs_allocates_nothing(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    char port[16], bus[256], doc[4096];
    snprintf(port, sizeof port, "%d", b.port);
    snprintf(bus, sizeof bus, BUS("%s"), port);
    snprintf(doc, sizeof doc, pub_fmt, bus);
    dtt_counter cnt;
    memset(&cnt, 0, sizeof cnt);
    dt_allocator a = dtt_allocator(&cnt);
    dt_twin *pub = load(doc, &a);
    assert_int_equal(dt_twin_start(pub, mono()), 0);
    dt_twin *one[1] = {pub};
    long calls = -1;
    uint64_t published_at_mark = 0;
    for (int i = 0; i < 3000; i++) {
        dt_time now = mono();
        assert_int_equal(dt_memory_source_push(dt_twin_io(pub), 0, "level", now, 2.0), 0);
        assert_int_equal(dt_twin_step(pub, now), 0);
        turn(one, 1);
        const dt__bus *bus_state = dt__bus_get(dt_twin_io(pub));
        assert_non_null(bus_state);
        uint64_t published = bus_state->st.beliefs_published;
        if (calls < 0 && published >= 5) {
            calls = cnt.calls; /* connected, announced, publishing */
            published_at_mark = published;
        }
        if (calls >= 0 && published >= published_at_mark + 100)
            break;
    }
    assert_true(calls >= 0);
    assert_int_equal(cnt.calls, calls);
    dt_twin_destroy(pub);
    assert_int_equal(cnt.live, 0);
    dtt_broker_stop(&b);
}

/* ---- floods ---- */

/* A flood of the largest beliefs (17 KB each; a forger's $contract can be
 * 256 KiB, 2 ms of parsing each): one readiness reads a bounded number of
 * bytes and returns to the loop (it read every packet up to 512 before: 300
 * beliefs took 17 ms, 100 contracts 220 ms, in one call); the rest is read
 * by the next calls, none lost. */
static void test_flood_one_ready_reads_a_bounded_amount(void **state)
{
    (void)state;
    scene s;
    scene_start(&s, 0);
    (void)prime(&s);
    static uint8_t big[DT_BUSWIRE_BELIEF_BYTES(64)];
    static double x[64], P[64 * 64];
    for (int i = 0; i < 64; i++)
        for (int j = 0; j < 64; j++)
            P[i * 64 + j] = i == j ? 2.0 : 1.0 / (1 + i + j);
    dt_buswire_header h = {DT_BUSWIRE_VERSION, DT_BUSWIRE_BELIEF, 1, 100, 7, 1000};
    size_t n = dt_buswire_encode_belief(big, sizeof big, &h, mono(), 64, x, P);
    assert_int_equal(n, sizeof big);
    const int flood = 40;
    for (int i = 0; i < flood; i++) {
        while (mosquitto_publish(s.f.m, NULL, "dt/v1/r/pub/b/tank", (int)n, big, 0, 0) != 0)
            mosquitto_loop(s.f.m, 0, 1);
        mosquitto_loop_write(s.f.m, 1);
    }
    for (int i = 0; i < 3000 && mosquitto_want_write(s.f.m); i++)
        mosquitto_loop_write(s.f.m, 1);
    /* the flood at the reader's socket: what it holds stops growing (the
     * broker has the rest queued for it) */
    dt_io_watch w[4];
    assert_true(dt_io_watches(dt_twin_io(s.sub), w, 4) >= 1);
    int queued = 0, last = -1;
    for (int i = 0; i < 3000 && (queued < (int)n || queued != last); i++) {
        last = queued;
        dtt_sleep_ms(20);
        assert_int_equal(ioctl(w[0].fd, FIONREAD, &queued), 0);
    }
    assert_true(queued >= (int)n);
    uint64_t before = counter(s.sub, "messages");
    dt_io_ready(dt_twin_io(s.sub), w[0].adapter, w[0].fd, DT_WATCH_READ, mono());
    uint64_t read = counter(s.sub, "messages") - before;
    print_message("one readiness read %llu of %d (%d bytes were in the socket)\n",
                  (unsigned long long)read, flood, queued);
    assert_true(read >= 1);
    assert_true(read <= 16); /* 256 KiB of 17 KB messages, the last overshooting */
    assert_true(dt__mqtt_stats_get(dt__bus_mqtt(dt_twin_io(s.sub)))->read_bursts_cut >= 1);
    for (int i = 0; i < 1000 && counter(s.sub, "messages") < before + (uint64_t)flood; i++)
        scene_turn(&s);
    assert_int_equal(counter(s.sub, "messages"), before + (uint64_t)flood);
    scene_stop(&s);
}

/* ---- a connection the broker keeps closing ---- */

typedef struct log_capture {
    int n;
    char line[16][256];
} log_capture;

static void capture(void *user, dt_log_level level, const char *module, const char *msg)
{
    (void)level, (void)module;
    log_capture *c = user;
    if (c->n < 16)
        snprintf(c->line[c->n], sizeof c->line[0], "%s", msg);
    c->n++;
}

/* Two twins with one client id (the same description started twice, the
 * default client id being "dt-" + its name): the broker closes each
 * connection when the other connects (session taken over). They took turns
 * at the shortest backoff (20 ms here: 86 connections in 3 s, each a new
 * epoch, each announced, for ever) and logged nothing. Now each ending is
 * logged (rate-limited) and a connection that did not hold for a keepalive
 * does not start the backoff again (20 connections). Driven on a fake
 * clock: 10 ms a turn, 3 s. */
static void test_connection_taken_over_backs_off_and_says_why(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    char port[16], bus[256], doc[4096];
    snprintf(port, sizeof port, "%d", b.port);
    snprintf(bus, sizeof bus, BUS("%s"), port);
    snprintf(doc, sizeof doc, pub_fmt, bus);
    log_capture logs;
    memset(&logs, 0, sizeof logs);
    dt_logger lg = {capture, &logs, DT_LOG_WARN};
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = &lg;
    dt_twin *t[2];
    dt_diag d;
    dt_time now = 1000 * DT_NS_PER_S;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(dt_twin_load_json(doc, strlen(doc), &o, &t[i], &d), 0);
        assert_int_equal(dt_twin_start(t[i], now), 0);
    }
    for (int k = 0; k < 300; k++, now += 10 * DT_NS_PER_MS) {
        for (int i = 0; i < 2; i++) {
            assert_int_equal(dt_twin_step(t[i], now), 0);
            dt_io_wake(dt_twin_io(t[i]), now);
        }
        struct pollfd p[2];
        dt_io_watch w[2];
        size_t n = 0;
        for (int i = 0; i < 2; i++)
            if (dt_io_watches(dt_twin_io(t[i]), &w[i], 1) == 1) {
                p[n] = (struct pollfd){w[i].fd, POLLIN, 0};
                n++;
            }
        (void)poll(p, (nfds_t)n, 5);
    }
    uint64_t connects = 0;
    for (int i = 0; i < 2; i++)
        connects += dt__mqtt_stats_get(dt__bus_mqtt(dt_twin_io(t[i])))->connects;
    print_message("%llu connections in 3 s of twin time\n", (unsigned long long)connects);
    /* 20, 40, 80, 160 ms, then 150..250 ms: about 20 attempts each at most */
    assert_true(connects >= 2);
    assert_true(connects <= 50);
    int said = 0;
    for (int i = 0; i < logs.n && i < 16; i++)
        said |= strstr(logs.line[i], "dt-r-pub: the connection to 127.0.0.1") != NULL &&
                strstr(logs.line[i], "this client id") != NULL;
    assert_true(said);
    for (int i = 0; i < 2; i++)
        dt_twin_destroy(t[i]);
    dtt_broker_stop(&b);
}

/* ---- the contract ---- */

/* A publisher whose contract no reader takes: 8 belief groups of the
 * estimator's 32 states with a dense A and Q (17 significant digits) give a
 * contract of several hundred kB, above the 256 KiB a reader parses (and
 * managed brokers' message limits): every reader refused it and asked for
 * rebirths for ever. Refused at load now, naming the size. */
static void test_contract_too_large_for_readers_is_refused(void **state)
{
    (void)state;
    static char doc[200000];
    size_t o = 0;
#define PUT(...) o += (size_t)snprintf(doc + o, sizeof doc - o, __VA_ARGS__)
    PUT("{\"dtwin\":1,\"name\":\"big\",\"assets\":[{\"id\":\"a\"}],\"signals\":[");
    for (int i = 0; i < 32; i++)
        PUT("%s{\"id\":\"state_number_%02d\",\"asset\":\"a\",\"quantity\":\"length\","
            "\"unit\":\"m\",\"role\":\"estimated\"}",
            i ? "," : "", i);
    PUT("],\"estimator\":{\"states\":[");
    for (int i = 0; i < 32; i++)
        PUT("%s\"state_number_%02d\"", i ? "," : "", i);
    PUT("],\"A\":[");
    for (int i = 0; i < 32; i++) {
        PUT("%s[", i ? "," : "");
        for (int j = 0; j < 32; j++)
            PUT("%s%.17g", j ? "," : "", (i == j ? -1.0 : 0.0) - 1.2345678901234567e-5 / (1 + i + j));
        PUT("]");
    }
    PUT("],\"Q\":[");
    for (int i = 0; i < 32; i++) { /* q (I + 1 1'): dense, positive definite */
        PUT("%s[", i ? "," : "");
        for (int j = 0; j < 32; j++)
            PUT("%s%.17g", j ? "," : "", 1.2345678901234567e-5 * (i == j ? 2 : 1));
        PUT("]");
    }
    PUT("],\"x0\":[");
    for (int i = 0; i < 32; i++)
        PUT("%s0", i ? "," : "");
    PUT("],\"P0\":[");
    for (int i = 0; i < 32; i++)
        PUT("%s1", i ? "," : "");
    PUT("]},\"bus\":{\"realm\":\"r\",\"broker\":{\"host\":\"127.0.0.1\",\"port\":1883,"
        "\"tls\":\"none\"},\"beliefs\":[");
    for (int g = 0; g < 8; g++) {
        PUT("%s{\"group\":\"g%d\",\"states\":[", g ? "," : "", g);
        for (int i = 0; i < 32; i++)
            PUT("%s\"state_number_%02d\"", i ? "," : "", i);
        PUT("]}");
    }
    PUT("]}}");
#undef PUT
    assert_true(o < sizeof doc);
    dt_twin_options opt = DT_TWIN_OPTIONS_INIT;
    opt.logger = dt_logger_silent();
    dt_twin *t = NULL;
    dt_diag d;
    int rc = dt_twin_load_json(doc, o, &opt, &t, &d);
    if (rc == DT_OK) {
        const dt__bus *b = dt__bus_get(dt_twin_io(t));
        print_message("loaded: a contract of %zu bytes\n", b != NULL ? b->contract_len : 0);
        dt_twin_destroy(t);
    }
    assert_int_equal(rc, DT_ELIMIT);
    assert_string_equal(d.path, "bus.beliefs");
    assert_non_null(strstr(d.message, "262144"));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_forged_highest_epoch_belief_does_not_lock_out),
    cmocka_unit_test(test_forged_highest_epoch_state_does_not_lock_out),
    cmocka_unit_test(test_publisher_back_with_an_older_epoch_is_read),
    cmocka_unit_test(test_forged_seq_jump_neither_locks_out_nor_counts_lost),
    cmocka_unit_test(test_publishing_beliefs_allocates_nothing),
    cmocka_unit_test(test_flood_one_ready_reads_a_bounded_amount),
    cmocka_unit_test(test_connection_taken_over_backs_off_and_says_why),
    cmocka_unit_test(test_contract_too_large_for_readers_is_refused),
};

DTT_MAIN(tests)
