/* The eight communication errors of IEC 61784-3 on the bus path: signed
 * command records (dtwin/cmdauth.h) published on dt/v1/r/rcv/cmd/{signal}/
 * {issuer} of a real broker, into a twin "rcv" with dispatcher.auth and
 * accept. The honest issuer and the attacker are plain libmosquitto
 * clients; the attacker may publish on the receiver's cmd/ topics (least
 * privilege can not keep it off them: it is an allowed issuer's peer) and
 * plays a corrupting bridge, a replaying or delaying network, and a forger.
 * 1000 injections of each class, each counted exactly under its reason (the
 * verifier's and the bus's counters), every honest command carried out (the
 * memory sink sees it), nothing injected acted upon (injected records carry
 * EVIL, a value no honest one has), every command handed over or refused
 * before the twin answered by an ack, no allocation through the twin's
 * allocator after start.
 *
 * The twin runs on its own time, now(): the monotonic clock plus `skip`,
 * which the test moves forward to hold the twin's loop (a stalled step)
 * without waiting; records are signed on that time base. */
#define _DEFAULT_SOURCE /* before any system header: kill, mkdtemp, nanosleep */
#include <poll.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>

#include "alloc_counter.h"
#include "broker_fixture.h"
#include "test_util.h"

#include "dtwin/dtwin.h"

#include "bus_twins.h"

#define N 1000
#define BURST 50     /* honest records per burst: queues stay far from 256 */
#define EVIL 0.99    /* every injected record's value; honest ones stay below 0.5 */
#define ROOM (5 * DT_NS_PER_S) /* deadline - issue of the records */
#define OFF_ID 8     /* the issuer's fingerprint in a record */
#define OFF_VALUE 64 /* the value in a record */

static char keydir[64];
static char planner_hex[65];
static dt_keystore *ks;
static dt_key *planner, *mallory;
static dtt_broker broker;
static dt_time skip; /* the twin's time ahead of the monotonic clock */

static dt_time now(void)
{
    return mono() + skip;
}

static const char rcv_doc[] =
    "{\"dtwin\":1,\"name\":\"rcv\",\"assets\":[{\"id\":\"plant\"}],\"signals\":["
    "{\"id\":\"valve\",\"asset\":\"plant\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
    " \"role\":\"commanded\",\"limits\":{\"min\":0,\"max\":1}},"
    "{\"id\":\"pump\",\"asset\":\"plant\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
    " \"role\":\"commanded\",\"limits\":{\"min\":0,\"max\":1}},"
    "{\"id\":\"flow\",\"asset\":\"plant\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
    " \"role\":\"measured\",\"noise\":{\"std\":0.1}}],"
    "\"sources\":[{\"id\":\"m\",\"kind\":\"memory\",\"timeout\":60,"
    "  \"mapping\":[{\"native\":\"flow\",\"signal\":\"flow\"}]}],"
    "\"sinks\":[{\"id\":\"k\",\"kind\":\"memory\",\"capacity\":1024,"
    "  \"mapping\":[{\"signal\":\"valve\"},{\"signal\":\"pump\"}]}],"
    "\"dispatcher\":{\"max_data_age\":60,\"safe\":{\"valve\":0,\"pump\":0},"
    "  \"auth\":{\"issuers\":[{\"name\":\"planner\",\"public\":\"%s\"}],\"deadline_max\":60}},"
    "%s,\"accept\":[{\"signal\":\"valve\",\"deadline_max\":60},"
    "  {\"signal\":\"pump\",\"deadline_max\":60}]},\"loop\":{\"period\":0.01}}";

/* ---- the clients ---- */

enum { ISS, OTHER, MALLORY, WHO };
static const char *const who_name[WHO] = {"iss", "other", "mallory"};

typedef struct client {
    struct mosquitto *m;
    int connected;
    /* acks read (the honest client subscribes to them): per topic issuer,
     * in all and by outcome; and which of the honest issuer's seqs got one */
    uint64_t acks[WHO], sent[WHO], refused[WHO], expired[WHO];
    uint64_t timeout[WHO]; /* refused with DT_ETIMEOUT: expired at the verifier */
    uint8_t acked[4 * N + 64];
} client;

static void cl_connect(struct mosquitto *m, void *o, int rc)
{
    (void)m;
    ((client *)o)->connected = rc == 0;
}

static void cl_msg(struct mosquitto *m, void *o, const struct mosquitto_message *msg)
{
    (void)m;
    client *c = o;
    const char *at = strstr(msg->topic, "/ack/");
    if (at == NULL)
        return;
    size_t w = 0;
    while (w < WHO && strcmp(at + 5, who_name[w]) != 0)
        w++;
    assert_true(w < WHO);
    dt_buswire_header h;
    assert_int_equal(dt_buswire_decode_header(msg->payload, (size_t)msg->payloadlen, &h),
                     DT_BUSWIRE_OK);
    for (size_t i = 0; i < h.count; i++) {
        dt_buswire_ack a;
        assert_int_equal(dt_buswire_ack_at(msg->payload, (size_t)msg->payloadlen, i, &a),
                         DT_BUSWIRE_OK);
        c->acks[w]++;
        if (a.decision & DT_DISP_SENT)
            c->sent[w]++;
        if (a.decision & DT_DISP_REFUSED)
            c->refused[w]++;
        if ((a.decision & DT_DISP_REFUSED) && a.status == DT_ETIMEOUT)
            c->timeout[w]++;
        if (a.decision & DT_DISP_EXPIRED)
            c->expired[w]++;
        if (w == ISS && a.seq < sizeof c->acked)
            c->acked[a.seq] = 1;
    }
}

static void cl_start(client *c, int acks)
{
    memset(c, 0, sizeof *c);
    c->m = mosquitto_new(NULL, true, c);
    assert_non_null(c->m);
    mosquitto_connect_callback_set(c->m, cl_connect);
    mosquitto_message_callback_set(c->m, cl_msg);
    /* a burst goes out at once, not 20 messages per round trip */
    assert_int_equal(mosquitto_int_option(c->m, MOSQ_OPT_SEND_MAXIMUM, 1000), 0);
    assert_int_equal(mosquitto_connect(c->m, "127.0.0.1", broker.port, 30), 0);
    for (int i = 0; i < 3000 && !c->connected; i++)
        mosquitto_loop(c->m, 10, 1);
    assert_true(c->connected);
    if (acks)
        assert_int_equal(mosquitto_subscribe(c->m, NULL, "dt/v1/r/rcv/ack/+", 1), 0);
}

/* Publishes a record on dt/v1/r/rcv/cmd/{rest} (QoS 1, as an issuer's sink). */
static void pub(client *c, const char *rest, const uint8_t *p, size_t n)
{
    char topic[128];
    snprintf(topic, sizeof topic, "dt/v1/r/rcv/cmd/%s", rest);
    assert_int_equal(mosquitto_publish(c->m, NULL, topic, (int)n, p, 1, false), 0);
    mosquitto_loop(c->m, 0, 1);
}

/* Reads and writes what a client's socket has (bounded): a burst's
 * PUBACKs and acks are taken in one turn, not one packet per turn. */
static void cl_pump(client *c)
{
    for (int k = 0; k < 512; k++) {
        struct pollfd p = {mosquitto_socket(c->m),
                           (short)(POLLIN | (mosquitto_want_write(c->m) ? POLLOUT : 0)), 0};
        if (p.fd < 0 || poll(&p, 1, 0) <= 0)
            break;
        assert_int_equal(mosquitto_loop(c->m, 0, 1), MOSQ_ERR_SUCCESS);
    }
}

/* ---- one class's run ---- */

typedef struct run {
    dt_twin *t;
    dtt_counter ac;
    long calls_started; /* the allocator's calls once connected */
    client hon, att;    /* the honest issuer (reads the acks), the attacker */
    uint64_t seq;       /* the honest issuer's last */
    uint64_t r;         /* random state */
    uint64_t seen;      /* remote commands the sink received */
} run;

static uint64_t rnd(run *r)
{
    r->r ^= r->r << 13, r->r ^= r->r >> 7, r->r ^= r->r << 17;
    return r->r;
}

static uint64_t bus(run *r, const char *name)
{
    dt_counter c[96];
    size_t n = dt_io_link_counters(dt_twin_io(r->t), 0, c, 96);
    for (size_t i = 0; i < n && i < 96; i++)
        if (strcmp(c[i].name, name) == 0)
            return c[i].value;
    fail_msg("no counter %s", name);
    return 0;
}

static dt_cmdauth_stats stats(run *r)
{
    dt_cmdauth_stats st;
    assert_int_equal(dt_twin_cmdauth_stats(r->t, &st), 0);
    return st;
}

/* The receiver's connection turned once (10 ms at most) on the twin's time. */
static void turn_io(run *r)
{
    dt_io *io = dt_twin_io(r->t);
    dt_io_watch w[4];
    struct pollfd p[6];
    size_t k = dt_io_watches(io, w, 4);
    for (size_t j = 0; j < k && j < 4; j++)
        p[j] = (struct pollfd){w[j].fd,
                               (short)((w[j].events & DT_WATCH_READ ? POLLIN : 0) |
                                       (w[j].events & DT_WATCH_WRITE ? POLLOUT : 0)),
                               0};
    /* the clients' sockets too: a turn ends when anything is to be read */
    p[k] = (struct pollfd){mosquitto_socket(r->hon.m), POLLIN, 0};
    p[k + 1] = (struct pollfd){mosquitto_socket(r->att.m), POLLIN, 0};
    if (poll(p, (nfds_t)k + 2, 10) > 0) {
        for (size_t j = 0; j < k && j < 4; j++) {
            unsigned ev = (p[j].revents & (POLLIN | POLLHUP | POLLERR) ? DT_WATCH_READ : 0) |
                          (p[j].revents & POLLOUT ? DT_WATCH_WRITE : 0);
            if (ev)
                dt_io_ready(io, w[j].adapter, w[j].fd, ev, now());
        }
    }
    if (dt_io_wake_at(io) <= now())
        dt_io_wake(io, now());
    cl_pump(&r->hon);
    cl_pump(&r->att);
}

/* One step with fresh data; every command the sink got is checked. */
static void step(run *r)
{
    (void)dt_memory_source_push(dt_twin_io(r->t), 0, "flow", now(), 1.0);
    assert_int_equal(dt_twin_step(r->t, now()), 0);
    dt_command out[64];
    size_t k;
    while ((k = dt_memory_sink_read(dt_twin_io(r->t), 0, out, 64)) > 0)
        for (size_t i = 0; i < k; i++) {
            assert_true(out[i].value != EVIL); /* nothing injected is acted upon */
            if (DT_ORIGIN_KIND(out[i].origin) == DT_ORIGIN_REMOTE)
                r->seen++;
        }
}

/* Turns and steps until cond holds (bounded: no wall-clock assertion). */
#define UNTIL(r, cond)                                                                     \
    do {                                                                                   \
        for (int i_ = 0; i_ < 6000 && !(cond); i_++) {                                     \
            turn_io(r);                                                                    \
            step(r);                                                                       \
        }                                                                                  \
        assert_true(cond);                                                                 \
    } while (0)

/* Every message taken by the bus, decided: in the bus's and the twin's
 * counters, and every record handed over or refused before the twin acked. */
static uint64_t decided(run *r)
{
    dt_cmdauth_stats st = stats(r);
    uint64_t n = st.verified;
    for (int e = 1; e < DT_CMDAUTH__COUNT; e++)
        n += st.refused[e];
    return n + bus(r, "bus.cmd_expired") + bus(r, "bus.cmd_signed_malformed") +
           bus(r, "bus.cmd_malformed");
}

static uint64_t acks(const run *r)
{
    return r->hon.acks[ISS] + r->hon.acks[OTHER] + r->hon.acks[MALLORY];
}

/* Waits until every message published so far (`msgs`) is decided and acked. */
static void settle(run *r, uint64_t msgs)
{
    UNTIL(r, bus(r, "bus.cmd_messages") == msgs && decided(r) == msgs &&
                 acks(r) == bus(r, "bus.cmd_submitted") + bus(r, "bus.cmd_expired") +
                                bus(r, "bus.cmd_refused"));
}

static void open_run(run *r, uint64_t seed)
{
    memset(r, 0, sizeof *r);
    r->r = seed;
    skip = 0;
    char port[16], b[256], doc[4096];
    snprintf(port, sizeof port, "%d", broker.port);
    snprintf(b, sizeof b, BUS("%s"), port);
    snprintf(doc, sizeof doc, rcv_doc, planner_hex, b);
    dt_allocator a = dtt_allocator(&r->ac);
    r->t = load(doc, &a);
    assert_int_equal(dt_twin_start(r->t, now()), 0);
    cl_start(&r->hon, 1);
    cl_start(&r->att, 0);
    UNTIL(r, bus(r, "mqtt.connects") == 1);
    /* the subscriptions in place before the first record: the receiver's
     * $contract comes back to nobody, so a few turns */
    for (int i = 0; i < 30; i++) {
        turn_io(r);
        step(r);
    }
    r->calls_started = r->ac.calls;
}

/* A record of `key` for twin/signal (the honest issuer's next seq when seq
 * is 0), issued at `issued`, with the honest issuer's random value. */
static size_t make(run *r, const dt_key *key, uint64_t seq, const char *twin, const char *sig,
                   double value, dt_time issued, uint8_t *b)
{
    dt_signed_command c;
    memset(&c, 0, sizeof c);
    assert_int_equal(dt_cmd_address(twin, sig, c.address), 0);
    c.epoch = 1;
    c.seq = seq != 0 ? seq : ++r->seq;
    c.t_issued = issued;
    c.t_deadline = issued + ROOM;
    c.value = value;
    size_t len = 0;
    assert_int_equal(dt_cmd_sign(key, &c, b, DT_CMDAUTH_MAX, &len), 0);
    return len;
}

static double honest_value(run *r)
{
    return (double)(rnd(r) % 500) / 1000.0;
}

static size_t honest(run *r, uint8_t *b)
{
    return make(r, planner, 0, "rcv", "valve", honest_value(r), now(), b);
}

/* The closing checks: the twin's refusals exactly `want` (by reason, the
 * rest 0), `verified` records verified and carried out, the bus counters
 * given in `bus_want` (name, value pairs, NULL-ended) and the ones not
 * given that a class could move at 0, no allocation after start. */
static void close_run(run *r, const char *cls, const uint64_t want[DT_CMDAUTH__COUNT],
                      uint64_t verified, int64_t gaps, const char *const *bus_names,
                      const uint64_t *bus_want)
{
    static const char *const watched[] = {
        "bus.cmd_malformed", "bus.cmd_signed_malformed", "bus.cmd_expired",
        "bus.cmd_refused",   "bus.cmd_queue_full",       "bus.cmd_issuers_full",
        "bus.cmd_stopped",   "bus.cmd_not_accepted",     "bus.acks_unsent"};
    dt_cmdauth_stats st = stats(r);
    printf("%s: twin", cls);
    for (int e = 1; e < DT_CMDAUTH__COUNT; e++)
        if (st.refused[e] != 0 || want[e] != 0)
            printf(" %s %llu", dt_cmdauth_error_name((dt_cmdauth_error)e),
                   (unsigned long long)st.refused[e]);
    printf(", verified %llu, carried out %llu, seq_gaps %llu; bus",
           (unsigned long long)st.verified, (unsigned long long)r->seen,
           (unsigned long long)st.seq_gaps);
    for (size_t i = 0; i < sizeof watched / sizeof watched[0]; i++)
        if (bus(r, watched[i]) != 0)
            printf(" %s %llu", watched[i] + 4, (unsigned long long)bus(r, watched[i]));
    printf("; acks iss %llu (sent %llu, refused %llu, expired %llu), other %llu, mallory %llu\n",
           (unsigned long long)r->hon.acks[ISS], (unsigned long long)r->hon.sent[ISS],
           (unsigned long long)r->hon.refused[ISS], (unsigned long long)r->hon.expired[ISS],
           (unsigned long long)r->hon.acks[OTHER], (unsigned long long)r->hon.acks[MALLORY]);
    for (int e = 1; e < DT_CMDAUTH__COUNT; e++)
        assert_true(st.refused[e] == want[e]);
    assert_true(st.verified == verified);
    assert_true(r->seen == verified); /* every verified command carried out, once */
    assert_true(st.unsigned_refused == 0);
    if (gaps >= 0)
        assert_true(st.seq_gaps == (uint64_t)gaps);
    for (size_t i = 0; i < sizeof watched / sizeof watched[0]; i++) {
        uint64_t expect = 0;
        for (size_t j = 0; bus_names != NULL && bus_names[j] != NULL; j++)
            if (strcmp(bus_names[j], watched[i]) == 0)
                expect = bus_want[j];
        if (bus(r, watched[i]) != expect)
            fail_msg("%s: %s %llu, want %llu", cls, watched[i],
                     (unsigned long long)bus(r, watched[i]), (unsigned long long)expect);
    }
    /* every record handed to the twin decided and acked (sent or refused);
     * a record for another signal stops at the hand-over (bus.cmd_refused) */
    assert_true(bus(r, "bus.cmd_refused") == st.refused[DT_CMDAUTH_WRONG_ADDRESS]);
    assert_true(st.refused[DT_CMDAUTH_MALFORMED] == 0); /* the bus decoded them all */
    assert_true(r->hon.sent[ISS] + r->hon.sent[OTHER] == st.verified);
    assert_true(acks(r) == bus(r, "bus.cmd_submitted") + bus(r, "bus.cmd_expired") +
                               bus(r, "bus.cmd_refused"));
    assert_true(r->ac.calls == r->calls_started); /* the twin's path allocates nothing */
    mosquitto_destroy(r->hon.m);
    mosquitto_destroy(r->att.m);
    dt_twin_destroy(r->t);
    assert_true(r->ac.live == 0);
}

static const uint64_t none[DT_CMDAUTH__COUNT];

static const char *const refused_only[] = {"bus.cmd_refused", NULL};

/* A corrupting bridge: each honest record also goes out with the forger's
 * value and 1 to 4 random bits flipped anywhere. Where the first flip that
 * matters lands decides the counter: the magic (then it is no record: the
 * bus reads an unsigned message and refuses its header), the fields the
 * decoder checks (bus.cmd_signed_malformed), the deadline moved before now
 * (bus.cmd_expired, dropped before the twin), the address (wrong_address,
 * at the hand-over, its signature unread), the fingerprint
 * (unknown_issuer), anything else (bad_signature). */
static void test_corruption(void **state)
{
    (void)state;
    run r;
    open_run(&r, 0x1234);
    uint8_t b[DT_CMDAUTH_MAX], f[DT_CMDAUTH_MAX];
    uint64_t msgs = 0, p_magic = 0, p_decode = 0;
    for (int i = 0; i < N; i++) {
        size_t n = honest(&r, b);
        memcpy(f, b, n);
        memcpy(f + OFF_VALUE, &(double){EVIL}, 8);
        int flips = 1 + (int)(rnd(&r) % 4);
        for (int j = 0; j < flips; j++) {
            size_t bit = rnd(&r) % (n * 8);
            f[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        dt_signed_command sc;
        if (memcmp(f, b, 4) != 0)
            p_magic++;
        else if (dt_cmd_decode(f, n, &sc, NULL, NULL) != DT_CMDAUTH_OK)
            p_decode++;
        pub(&r.att, "valve/iss", f, n);
        pub(&r.hon, "valve/iss", b, n);
        msgs += 2;
        if ((i + 1) % BURST == 0)
            settle(&r, msgs);
    }
    dt_cmdauth_stats st = stats(&r);
    uint64_t want[DT_CMDAUTH__COUNT] = {0};
    want[DT_CMDAUTH_WRONG_ADDRESS] = st.refused[DT_CMDAUTH_WRONG_ADDRESS];
    want[DT_CMDAUTH_UNKNOWN_ISSUER] = st.refused[DT_CMDAUTH_UNKNOWN_ISSUER];
    want[DT_CMDAUTH_BAD_SIGNATURE] = st.refused[DT_CMDAUTH_BAD_SIGNATURE];
    uint64_t expired = bus(&r, "bus.cmd_expired");
    /* the split past the decoder depends on where each flip fell and, for
     * a deadline moved earlier, on when the record arrived: their sum is exact */
    assert_true(want[DT_CMDAUTH_WRONG_ADDRESS] + want[DT_CMDAUTH_UNKNOWN_ISSUER] +
                    want[DT_CMDAUTH_BAD_SIGNATURE] + expired ==
                N - p_magic - p_decode);
    assert_true(want[DT_CMDAUTH_BAD_SIGNATURE] > 0 && want[DT_CMDAUTH_UNKNOWN_ISSUER] > 0 &&
                want[DT_CMDAUTH_WRONG_ADDRESS] > 0 && p_magic > 0 && p_decode > 0);
    const char *const names[] = {"bus.cmd_malformed", "bus.cmd_signed_malformed",
                                 "bus.cmd_expired", "bus.cmd_refused", NULL};
    const uint64_t bw[] = {p_magic, p_decode, expired, want[DT_CMDAUTH_WRONG_ADDRESS]};
    close_run(&r, "corruption", want, N, 0, names, bw);
}

/* The honest issuer's records delivered again: at once (a QoS 1
 * redelivery), and once more after the first was decided. */
static void test_repetition(void **state)
{
    (void)state;
    run r;
    open_run(&r, 0x2345);
    static uint8_t b[BURST][DT_CMDAUTH_MAX];
    size_t n[BURST];
    uint64_t msgs = 0;
    for (int i = 0; i < N / BURST; i++) {
        for (int j = 0; j < BURST; j++) {
            n[j] = honest(&r, b[j]);
            pub(&r.hon, "valve/iss", b[j], n[j]);
            pub(&r.hon, "valve/iss", b[j], n[j]);
            msgs += 2;
        }
        settle(&r, msgs);
        for (int j = 0; j < BURST; j++)
            pub(&r.att, "valve/iss", b[j], n[j]);
        settle(&r, msgs += BURST);
    }
    uint64_t want[DT_CMDAUTH__COUNT] = {0};
    want[DT_CMDAUTH_REPLAYED] = 2 * N;
    close_run(&r, "unintended repetition", want, N, 0, NULL, NULL);
}

/* Pairs swapped on the way: each taken once. Then records signed with the
 * issuer's key (the forger's value) 64 to 99 behind its newest: refused. */
static void test_incorrect_sequence(void **state)
{
    (void)state;
    run r;
    open_run(&r, 0x3456);
    uint8_t a[DT_CMDAUTH_MAX], b[DT_CMDAUTH_MAX], f[DT_CMDAUTH_MAX];
    uint64_t msgs = 0;
    for (int i = 0; i < N / BURST; i++) {
        for (int j = 0; j < BURST; j++) {
            size_t na = honest(&r, a), nb = honest(&r, b);
            pub(&r.hon, "valve/iss", b, nb);
            pub(&r.hon, "valve/iss", a, na);
            msgs += 2;
        }
        settle(&r, msgs);
        for (int j = 0; j < BURST; j++) { /* r.seq >= 2 BURST = 100 */
            uint64_t behind = DT_CMDAUTH_WINDOW + rnd(&r) % 36;
            size_t n = make(&r, planner, r.seq - behind, "rcv", "valve", EVIL, now(), f);
            pub(&r.att, "valve/iss", f, n);
        }
        settle(&r, msgs += BURST);
    }
    uint64_t want[DT_CMDAUTH__COUNT] = {0};
    want[DT_CMDAUTH_REPLAYED] = N;
    /* each swap a gap, filled by its pair; the first pair opens the window */
    close_run(&r, "incorrect sequence", want, 2 * N, N - 1, NULL, NULL);
}

/* Every second record signed and never delivered: nothing to refuse; a gap
 * each, and no ack for it. */
static void test_loss(void **state)
{
    (void)state;
    run r;
    open_run(&r, 0x4567);
    uint8_t b[DT_CMDAUTH_MAX];
    uint64_t msgs = 0;
    for (int i = 0; i < N; i++) {
        size_t n = honest(&r, b);
        pub(&r.hon, "valve/iss", b, n);
        (void)honest(&r, b); /* lost */
        if (++msgs % BURST == 0)
            settle(&r, msgs);
    }
    size_t n = honest(&r, b);
    pub(&r.hon, "valve/iss", b, n);
    settle(&r, ++msgs);
    for (uint64_t s = 1; s <= r.seq; s++)
        assert_int_equal(r.hon.acked[s], s % 2); /* the lost ones: no ack */
    close_run(&r, "loss", none, N + 1, N, NULL, NULL);
}

/* Records of the honest key delivered after their deadline: each issued
 * ROOM + 1 s before it is published (held that long on the way). The bus
 * drops them before the twin sees them (bus.cmd_expired, acked expired):
 * the verifier's counters do not move. Then records held in the twin's
 * queue: handed over in time, and the twin's loop stalls past their
 * deadline before its next step: the verifier refuses them (expired). */
static void test_unacceptable_delay(void **state)
{
    (void)state;
    run r;
    open_run(&r, 0x5678);
    uint8_t b[DT_CMDAUTH_MAX], late[DT_CMDAUTH_MAX];
    uint64_t msgs = 0;
    for (int i = 0; i < N; i++) {
        size_t n = make(&r, planner, 0, "rcv", "valve", EVIL, now() - ROOM - DT_NS_PER_S, late);
        pub(&r.att, "valve/iss", late, n);
        n = honest(&r, b);
        pub(&r.hon, "valve/iss", b, n);
        msgs += 2;
        if ((i + 1) % BURST == 0)
            settle(&r, msgs);
    }
    assert_int_equal(bus(&r, "bus.cmd_expired"), N);
    assert_int_equal(stats(&r).refused[DT_CMDAUTH_EXPIRED], 0);
    for (int i = 0; i < N / BURST; i++) {
        uint64_t handed = bus(&r, "bus.cmd_submitted");
        for (int j = 0; j < BURST; j++) {
            size_t n = make(&r, planner, 0, "rcv", "valve", EVIL, now(), late);
            pub(&r.hon, "valve/iss", late, n);
        }
        msgs += BURST;
        /* the connection turns, the twin does not step */
        for (int k = 0; k < 6000 && bus(&r, "bus.cmd_submitted") < handed + BURST; k++)
            turn_io(&r);
        assert_int_equal(bus(&r, "bus.cmd_submitted"), handed + BURST);
        skip += ROOM + DT_NS_PER_S; /* the stall */
        settle(&r, msgs);
    }
    size_t n = honest(&r, b);
    pub(&r.hon, "valve/iss", b, n);
    settle(&r, ++msgs);
    uint64_t want[DT_CMDAUTH__COUNT] = {0};
    want[DT_CMDAUTH_EXPIRED] = N;
    const char *const names[] = {"bus.cmd_expired", NULL};
    const uint64_t bw[] = {N};
    /* none of the late ones took its place: a gap each (the first record
     * was late: the first verified opens the window) */
    close_run(&r, "unacceptable delay", want, N + 1, N - 1 + N, names, bw);
    /* acked expired by the bus; refused with DT_ETIMEOUT by the verifier
     * (docs/security.md: an expired record is a refusal of the verify hook) */
    assert_true(r.hon.expired[ISS] == N && r.hon.timeout[ISS] == N);
}

/* Records of a key the twin does not trust, in the forger's own name, with
 * the honest issuer's next seq. */
static void test_insertion(void **state)
{
    (void)state;
    run r;
    open_run(&r, 0x6789);
    uint8_t b[DT_CMDAUTH_MAX], f[DT_CMDAUTH_MAX];
    uint64_t msgs = 0;
    for (int i = 0; i < N; i++) {
        size_t n = make(&r, mallory, r.seq + 1, "rcv", "valve", EVIL, now(), f);
        pub(&r.att, "valve/mallory", f, n);
        n = honest(&r, b);
        pub(&r.hon, "valve/iss", b, n);
        msgs += 2;
        if ((i + 1) % BURST == 0)
            settle(&r, msgs);
    }
    uint64_t want[DT_CMDAUTH__COUNT] = {0};
    want[DT_CMDAUTH_UNKNOWN_ISSUER] = N;
    close_run(&r, "insertion", want, N, 0, NULL, NULL);
    assert_true(r.hon.refused[MALLORY] == N);
}

/* Records in the honest issuer's name (its fingerprint, its topic, its next
 * seq) signed with another key: refused. Then the honest issuer's own
 * records relayed under another issuer's name on the topic, before the
 * issuer's copies arrive: the relayed ones verify and are carried out (the
 * signature is the identity, the topic's {issuer} only routes the acks:
 * they go to ack/other), and the issuer's own copies are replays. */
static void test_masquerade(void **state)
{
    (void)state;
    run r;
    open_run(&r, 0x789a);
    uint8_t b[DT_CMDAUTH_MAX], f[DT_CMDAUTH_MAX], id[DT_CMDAUTH_ID_BYTES];
    size_t n = make(&r, planner, 1, "rcv", "valve", 0, now(), f);
    memcpy(id, f + OFF_ID, sizeof id);
    uint64_t msgs = 0;
    for (int i = 0; i < N; i++) {
        n = make(&r, mallory, r.seq + 1, "rcv", "valve", EVIL, now(), f);
        memcpy(f + OFF_ID, id, sizeof id);
        /* signed over its bytes as they now are: only the key is wrong */
        assert_int_equal(dt_sign(mallory, f, DT_CMDAUTH_FIXED, f + DT_CMDAUTH_FIXED), 0);
        pub(&r.att, "valve/iss", f, n);
        n = honest(&r, b);
        pub(&r.hon, "valve/iss", b, n);
        msgs += 2;
        if ((i + 1) % BURST == 0)
            settle(&r, msgs);
    }
    static uint8_t rec[BURST][DT_CMDAUTH_MAX];
    size_t len[BURST];
    for (int i = 0; i < N / BURST; i++) {
        for (int j = 0; j < BURST; j++) {
            len[j] = honest(&r, rec[j]);
            pub(&r.att, "valve/other", rec[j], len[j]);
        }
        settle(&r, msgs += BURST);
        for (int j = 0; j < BURST; j++)
            pub(&r.hon, "valve/iss", rec[j], len[j]);
        settle(&r, msgs += BURST);
    }
    uint64_t want[DT_CMDAUTH__COUNT] = {0};
    want[DT_CMDAUTH_BAD_SIGNATURE] = N;
    want[DT_CMDAUTH_REPLAYED] = N;
    close_run(&r, "masquerade", want, 2 * N, 0, NULL, NULL);
    assert_true(r.hon.sent[OTHER] == N && r.hon.acks[OTHER] == N);
    assert_true(r.hon.sent[ISS] == N && r.hon.refused[ISS] == 2 * N);
}

/* Authentic records (the honest key) for another twin, for the other
 * commanded signal, or for a signal that is no command, published on this
 * twin's valve topic; and valve records on its pump topic. Each stops at
 * the hand-over: the topic names the signal, the record another address. */
static void test_addressing(void **state)
{
    (void)state;
    run r;
    open_run(&r, 0x89ab);
    uint8_t b[DT_CMDAUTH_MAX], f[DT_CMDAUTH_MAX];
    static const char *const to[4][3] = {{"rcv2", "valve", "valve/iss"},
                                         {"rcv", "pump", "valve/iss"},
                                         {"rcv", "flow", "valve/iss"},
                                         {"rcv", "valve", "pump/iss"}};
    uint64_t msgs = 0;
    for (int i = 0; i < N; i++) {
        const char *const *k = to[i % 4];
        size_t n = make(&r, planner, 0, k[0], k[1], EVIL, now(), f);
        pub(&r.att, k[2], f, n);
        n = honest(&r, b);
        pub(&r.hon, "valve/iss", b, n);
        msgs += 2;
        if ((i + 1) % BURST == 0)
            settle(&r, msgs);
    }
    uint64_t want[DT_CMDAUTH__COUNT] = {0};
    want[DT_CMDAUTH_WRONG_ADDRESS] = N;
    const uint64_t bw[] = {N};
    /* the records never taken are gaps (the first opens the window) */
    close_run(&r, "addressing", want, N, N - 1, refused_only, bw);
}

static int setup(void **state)
{
    (void)state;
    snprintf(keydir, sizeof keydir, "/tmp/dtt-iecbus-XXXXXX");
    if (mkdtemp(keydir) == NULL || dt_key_generate(keydir, "planner", DT_KEY_SIGN, NULL) != 0 ||
        dt_key_generate(keydir, "mallory", DT_KEY_SIGN, NULL) != 0 ||
        dt_keystore_file(keydir, &ks, NULL) != 0 ||
        dt_key_load(ks, "planner", DT_KEY_SIGN, &planner, NULL) != 0 ||
        dt_key_load(ks, "mallory", DT_KEY_SIGN, &mallory, NULL) != 0)
        return -1;
    unsigned char pk[DT_KEY_PUBLIC_BYTES];
    dt_key_public(planner, pk);
    for (int i = 0; i < 32; i++)
        snprintf(planner_hex + 2 * i, 3, "%02x", pk[i]);
    memset(&broker, 0, sizeof broker);
    if (dtt_broker_start(&broker, NULL) != 0 || mosquitto_lib_init() != MOSQ_ERR_SUCCESS)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    mosquitto_lib_cleanup();
    dtt_broker_stop(&broker);
    dt_key_free(planner);
    dt_key_free(mallory);
    dt_keystore_close(ks);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", keydir);
    return system(cmd) == 0 ? 0 : -1;
}

/* argv[1]: only the tests of that name (ctest registers each by name) */
int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corruption),
        cmocka_unit_test(test_repetition),
        cmocka_unit_test(test_incorrect_sequence),
        cmocka_unit_test(test_loss),
        cmocka_unit_test(test_unacceptable_delay),
        cmocka_unit_test(test_insertion),
        cmocka_unit_test(test_masquerade),
        cmocka_unit_test(test_addressing),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, setup, teardown);
}
