/* The harness of test_faults_bus.c: a receiving twin "rcv" (dispatcher.auth
 * trusting the key "planner", accept for valve and pump) on a real broker,
 * the honest issuer and the attacker as plain libmosquitto clients (the
 * honest one reads the acks), a host loop over all three, and the closing
 * checks of a class. Include after alloc_counter.h, broker_fixture.h,
 * test_util.h and bus_twins.h, in one file: its globals (the keys, the
 * broker) are set by that file's group setup. */
#ifndef DTWIN_TEST_FAULTS_BUS_RUN_H
#define DTWIN_TEST_FAULTS_BUS_RUN_H

#include <poll.h>

#include <mosquitto.h>

#include "dtwin/dtwin.h"

#define N 1000
#define BURST 50     /* honest records per burst: queues stay far from 256 */
#define EVIL 0.99    /* every injected record's value; honest ones stay below 0.5 */
#define ROOM (30 * DT_NS_PER_S) /* deadline - issue: far beyond any transit */
#define OFF_ID 8     /* the issuer's fingerprint in a record */
#define OFF_ADDRESS 16 /* the target address in a record */
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
    uint64_t eauth[WHO], enotfound[WHO]; /* refused by the verifier, at the hand-over */
    uint64_t eperm[WHO]; /* refused by the verifier, authentic (replayed, times, belief) */
    uint8_t acked[4 * N + 64];
    int subacks;       /* its subscriptions in place */
    uint64_t live_state; /* the receiver's $state published while subscribed */
} client;

static void cl_subscribed(struct mosquitto *m, void *o, int mid, int n, const int *qos)
{
    (void)m, (void)mid, (void)n, (void)qos;
    ((client *)o)->subacks++;
}

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
    if (at == NULL) {
        /* not the retained copy of an earlier run's: this connection's, sent
         * after its subscriptions (the receiver subscribes, then announces) */
        if (strstr(msg->topic, "/$state") != NULL && !msg->retain)
            c->live_state++;
        return;
    }
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
        if ((a.decision & DT_DISP_REFUSED) && a.status == DT_EAUTH)
            c->eauth[w]++;
        if ((a.decision & DT_DISP_REFUSED) && a.status == DT_ENOTFOUND)
            c->enotfound[w]++;
        if ((a.decision & DT_DISP_REFUSED) && a.status == DT_EPERM)
            c->eperm[w]++;
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
    mosquitto_subscribe_callback_set(c->m, cl_subscribed);
    /* a burst goes out at once, not 20 messages per round trip */
    assert_int_equal(mosquitto_int_option(c->m, MOSQ_OPT_SEND_MAXIMUM, 1000), 0);
    assert_int_equal(mosquitto_connect(c->m, "127.0.0.1", broker.port, 30), 0);
    for (int i = 0; i < 3000 && !c->connected; i++)
        mosquitto_loop(c->m, 10, 1);
    assert_true(c->connected);
    if (acks) {
        assert_int_equal(mosquitto_subscribe(c->m, NULL, "dt/v1/r/rcv/ack/+", 1), 0);
        assert_int_equal(mosquitto_subscribe(c->m, NULL, "dt/v1/r/rcv/$state", 1), 0);
        for (int i = 0; i < 3000 && c->subacks < 2; i++)
            mosquitto_loop(c->m, 10, 1);
        assert_int_equal(c->subacks, 2);
    }
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
           bus(r, "bus.cmd_malformed") + bus(r, "bus.cmd_deadline_too_far");
}

static uint64_t acks(const run *r)
{
    return r->hon.acks[ISS] + r->hon.acks[OTHER] + r->hon.acks[MALLORY];
}

/* Waits until every message published so far (`msgs`) is decided and acked. */
static void settle(run *r, uint64_t msgs)
{
    UNTIL(r, bus(r, "bus.cmd_messages") == msgs && decided(r) == msgs &&
                 acks(r) + bus(r, "bus.acks_withheld") ==
                     bus(r, "bus.cmd_submitted") + bus(r, "bus.cmd_expired") +
                         bus(r, "bus.cmd_refused") + bus(r, "bus.cmd_deadline_too_far"));
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
    /* the receiver's $state, published after its subscriptions on the same
     * connection: from here on every record published reaches it */
    UNTIL(r, bus(r, "mqtt.connects") == 1 && r->hon.live_state > 0);
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
        "bus.cmd_stopped",   "bus.cmd_not_accepted",     "bus.acks_unsent",
        "bus.cmd_deadline_too_far"};
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
    /* the answers: a record no trusted key signed (not authentic: unknown
     * issuer, bad signature), one refused at the hand-over before its
     * signature was read (another signal), and one the bus found expired
     * before anyone verified its deadline get none (bus.acks_withheld): the
     * topic's issuer and seq are anyone's word. An authentic record refused
     * (replayed, times, belief) is answered DT_EPERM, expired DT_ETIMEOUT. */
    uint64_t not_authentic = st.refused[DT_CMDAUTH_UNKNOWN_ISSUER] +
                             st.refused[DT_CMDAUTH_BAD_SIGNATURE] + st.refused[DT_CMDAUTH_REVOKED];
    uint64_t authentic = 0;
    for (int e = 1; e < DT_CMDAUTH__COUNT; e++)
        if (e != DT_CMDAUTH_WRONG_ADDRESS && e != DT_CMDAUTH_EXPIRED &&
            e != DT_CMDAUTH_UNKNOWN_ISSUER && e != DT_CMDAUTH_BAD_SIGNATURE &&
            e != DT_CMDAUTH_REVOKED)
            authentic += st.refused[e];
    uint64_t eauth = 0, enotfound = 0, eperm = 0;
    for (int w = 0; w < WHO; w++) {
        eauth += r->hon.eauth[w];
        enotfound += r->hon.enotfound[w];
        eperm += r->hon.eperm[w];
    }
    assert_true(eauth == 0 && enotfound == 0);
    assert_true(r->hon.timeout[ISS] == st.refused[DT_CMDAUTH_EXPIRED]);
    assert_true(eperm == authentic);
    assert_true(bus(r, "bus.acks_withheld") ==
                not_authentic + st.refused[DT_CMDAUTH_WRONG_ADDRESS] + bus(r, "bus.cmd_expired") +
                    bus(r, "bus.cmd_deadline_too_far"));
    assert_true(acks(r) + bus(r, "bus.acks_withheld") ==
                bus(r, "bus.cmd_submitted") + bus(r, "bus.cmd_expired") +
                    bus(r, "bus.cmd_refused") + bus(r, "bus.cmd_deadline_too_far"));
    assert_true(r->ac.calls == r->calls_started); /* the twin's path allocates nothing */
    mosquitto_destroy(r->hon.m);
    mosquitto_destroy(r->att.m);
    dt_twin_destroy(r->t);
    assert_true(r->ac.live == 0);
}

static const uint64_t none[DT_CMDAUTH__COUNT];

#endif
