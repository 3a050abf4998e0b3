/* Sample streams between twins (s/{stream}) on a real broker started by the
 * test: a publisher twin with bus.streams, a reader twin whose "twin"
 * source names the stream, a raw libmosquitto client that watches the
 * stream's messages, and a forger that plays the publisher. Samples flow
 * with their values, times and variances exact; a batch is sent in the step
 * that received its samples; a unit or semantic id the mapping does not
 * agree with is refused and logged; forged, garbled and adversarial
 * messages are counted, never crash the reader; lost messages are counted
 * by the gap; the publisher's steady state allocates nothing; a stream
 * while the connection is down counts its samples unsent. Bounded waits on
 * events, never timings. */
#define _DEFAULT_SOURCE /* before any system header: kill, mkdtemp, nanosleep */
#include <math.h>
#include <poll.h>
#include <stdint.h>
#include <time.h>

#include <mosquitto.h>

#include "alloc_counter.h"
#include "broker_fixture.h"
#include "test_util.h"

#include "adapters/adapters_internal.h"
#include "bus/bus.h"
#include "bus/bus_internal.h"
#include "dtwin/dtwin.h"
#include "twin/twin_internal.h"

#include "bus_twins.h"

/* the publisher: level (m, with a semantic id) and depth (cm) in the stream
 * "levels" (batches of 4); "other" is measured but in no stream. Its
 * source's clock puts a sample 0.25 s before its source time. */
static const char spub_fmt[] =
    "{\"dtwin\":1,\"name\":\"pub\",\"assets\":[{\"id\":\"tank\"}],\"signals\":["
    "{\"id\":\"level\",\"asset\":\"tank\",\"quantity\":\"length\",\"unit\":\"m\","
    "\"role\":\"measured\",\"noise\":{\"std\":0.01},\"semanticId\":\"urn:dtwin:test:level\"},"
    "{\"id\":\"depth\",\"asset\":\"tank\",\"quantity\":\"length\",\"unit\":\"cm\","
    "\"role\":\"measured\",\"noise\":{\"std\":1}},"
    "{\"id\":\"other\",\"asset\":\"tank\",\"quantity\":\"length\",\"unit\":\"m\","
    "\"role\":\"measured\",\"noise\":{\"std\":0.01}}],"
    "\"sources\":[{\"id\":\"sensor\",\"kind\":\"memory\",\"timeout\":5,"
    "\"clock\":{\"mode\":\"fixed\",\"offset\":-0.25},"
    "\"mapping\":[{\"native\":\"level\",\"signal\":\"level\"},"
    "{\"native\":\"depth\",\"signal\":\"depth\"},{\"native\":\"other\",\"signal\":\"other\"}]}],"
    "%s,\"streams\":%s},\"loop\":{\"period\":0.01}}";

#define LEVELS "[{\"stream\":\"levels\",\"signals\":[\"level\",\"depth\"],\"batch\":4}]"

/* the reader: the stream's level into "up" (mapping unit and up's
 * semantic id given), depth into "deep" */
static const char ssub_fmt[] =
    "{\"dtwin\":1,\"name\":\"sub\",\"assets\":[{\"id\":\"site\"}],\"signals\":["
    "{\"id\":\"up\",\"asset\":\"site\",\"quantity\":\"length\",\"unit\":\"m\","
    "\"role\":\"measured\",\"noise\":{\"std\":0.01},\"semanticId\":\"%s\"},"
    "{\"id\":\"deep\",\"asset\":\"site\",\"quantity\":\"length\",\"unit\":\"cm\","
    "\"role\":\"measured\",\"noise\":{\"std\":1}}],"
    "\"sources\":[{\"id\":\"peer\",\"kind\":\"twin\",\"twin\":\"pub\",\"stream\":\"levels\","
    "\"clock\":{\"mode\":\"fixed\"},\"timeout\":5,"
    "\"mapping\":[{\"native\":\"level\",\"signal\":\"up\",\"unit\":\"%s\"},"
    "{\"native\":\"depth\",\"signal\":\"deep\",\"unit\":\"cm\"}]}],"
    "%s},\"loop\":{\"period\":0.01}}";

#define SEM_LEVEL "urn:dtwin:test:level"

static const char contract_streams7[] =
    "{\"dtwin_contract\":1,\"realm\":\"r\",\"twin\":\"pub\",\"version\":7,\"beliefs\":[],"
    "\"streams\":[{\"stream\":\"levels\",\"max_age\":1,\"signals\":["
    "{\"signal\":\"level\",\"quantity\":\"length\",\"unit\":\"m\"},"
    "{\"signal\":\"depth\",\"quantity\":\"length\",\"unit\":\"cm\"}]}]}";

static void bus_of(char *bus, size_t cap, int port)
{
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    snprintf(bus, cap, BUS("%s"), p);
}

static dt_twin *load_pub(int port, const dt_allocator *a)
{
    char bus[256], doc[4096];
    bus_of(bus, sizeof bus, port);
    snprintf(doc, sizeof doc, spub_fmt, bus, LEVELS);
    return load(doc, a);
}

static dt_twin *load_sub_logged(int port, const char *sem, const char *unit, dt_logger *lg)
{
    char bus[256], doc[4096];
    bus_of(bus, sizeof bus, port);
    snprintf(doc, sizeof doc, ssub_fmt, sem, unit, bus);
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = lg != NULL ? lg : dt_logger_silent();
    dt_twin *t = NULL;
    dt_diag d;
    if (dt_twin_load_json(doc, strlen(doc), &o, &t, &d) != DT_OK)
        fail_msg("load: %s", d.message);
    return t;
}

static uint64_t link_counter(dt_twin *t, const char *name)
{
    dt_counter c[96];
    size_t n = dt_io_link_counters(dt_twin_io(t), 0, c, 96);
    for (size_t i = 0; i < n && i < 96; i++)
        if (strcmp(c[i].name, name) == 0)
            return c[i].value;
    fail_msg("no link counter %s", name);
    return 0;
}

static dt_signal_id sig_of(dt_twin *t, const char *id)
{
    dt_signal_id s = 0;
    assert_int_equal(dt_model_find_signal(dt_twin_model(t), id, &s), 0);
    return s;
}

/* ---- what the reader releases (its own tap) ---- */

#define CAP 512
typedef struct capture {
    dt_sample s[CAP];
    size_t n;
} capture;

static void capture_tap(void *user, const dt_sample *s, size_t n, dt_time now)
{
    (void)now;
    capture *c = user;
    for (size_t i = 0; s != NULL && i < n && c->n < CAP; i++)
        if (s[i].value != 99.0) /* the warm-up's */
            c->s[c->n++] = s[i];
}

/* ---- a raw client that keeps the stream's messages ---- */

#define RAW_MAX 128
typedef struct raw {
    struct mosquitto *m;
    int connected, subscribed;
    size_t n;
    uint8_t msg[RAW_MAX][DT_BUSWIRE_HEADER + 16 * DT_BUSWIRE_SAMPLE_RECORD];
    size_t len[RAW_MAX];
} raw;

static void raw_connect_cb(struct mosquitto *m, void *o, int rc)
{
    (void)m;
    ((raw *)o)->connected = rc == 0;
}
static void raw_sub_cb(struct mosquitto *m, void *o, int mid, int n, const int *q)
{
    (void)m, (void)mid, (void)n, (void)q;
    ((raw *)o)->subscribed = 1;
}
static void raw_msg_cb(struct mosquitto *m, void *o, const struct mosquitto_message *msg)
{
    (void)m;
    raw *r = o;
    if (r->n < RAW_MAX && (size_t)msg->payloadlen <= sizeof r->msg[0]) {
        memcpy(r->msg[r->n], msg->payload, (size_t)msg->payloadlen);
        r->len[r->n++] = (size_t)msg->payloadlen;
    }
}

static void raw_start(raw *r, int port)
{
    memset(r, 0, sizeof *r);
    r->m = mosquitto_new(NULL, true, r);
    assert_non_null(r->m);
    mosquitto_connect_callback_set(r->m, raw_connect_cb);
    mosquitto_subscribe_callback_set(r->m, raw_sub_cb);
    mosquitto_message_callback_set(r->m, raw_msg_cb);
    assert_int_equal(mosquitto_connect(r->m, "127.0.0.1", port, 30), 0);
    for (int i = 0; i < 3000 && !r->connected; i++)
        mosquitto_loop(r->m, 10, 1);
    assert_true(r->connected);
    assert_int_equal(mosquitto_subscribe(r->m, NULL, "dt/v1/r/pub/s/levels", 0), 0);
    for (int i = 0; i < 3000 && !r->subscribed; i++)
        mosquitto_loop(r->m, 10, 1);
    assert_true(r->subscribed);
}

/* ---- samples flow, exact ---- */

typedef struct pushed {
    dt_signal_id sig;
    uint32_t flags;
    dt_time t;
    double value, variance;
} pushed;

static void test_samples_flow_exact(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    assert_int_equal(mosquitto_lib_init(), 0);
    static raw r;
    raw_start(&r, b.port);
    dt_twin *pub = load_pub(b.port, NULL);
    dt_twin *sub = load_sub_logged(b.port, SEM_LEVEL, "m", NULL);
    static capture cap;
    memset(&cap, 0, sizeof cap);
    assert_int_equal(dt__twin_set_sample_tap(sub, capture_tap, &cap), 0);
    dt_twin *both[2] = {pub, sub};
    dt_time t0 = mono();
    assert_int_equal(dt_twin_start(pub, t0), 0);
    assert_int_equal(dt_twin_start(sub, t0), 0);
    const dt__bus *bus = dt__bus_get(dt_twin_io(pub));
    assert_non_null(bus);
    /* the contract lists the stream with its signals (its white space out) */
    static char compact[8192];
    size_t nc = 0;
    for (const char *c = bus->contract; *c != '\0' && nc + 1 < sizeof compact; c++)
        if (*c != ' ' && *c != '\t' && *c != '\n')
            compact[nc++] = *c;
    compact[nc] = '\0';
    assert_non_null(strstr(compact,
                           "\"streams\":[{\"stream\":\"levels\",\"max_age\":1,\"signals\":["
                           "{\"signal\":\"level\",\"quantity\":\"length\",\"unit\":\"m\","
                           "\"semantic_id\":\"" SEM_LEVEL "\"},{\"signal\":\"depth\","
                           "\"quantity\":\"length\",\"unit\":\"cm\"}]}]"));

    /* until the reader takes the stream */
    for (int k = 0; k < 3000 && counter(sub, "samples_emitted") < 1; k++) {
        dt_time now = mono();
        assert_int_equal(dt_memory_source_push(dt_twin_io(pub), 0, "level", now, 99.0), 0);
        assert_int_equal(dt_twin_step(pub, now), 0);
        turn(both, 2);
        mosquitto_loop(r.m, 0, 1);
        assert_int_equal(dt_twin_step(sub, mono()), 0);
    }
    assert_true(counter(sub, "samples_emitted") >= 1);
    /* the first message the raw client saw was the stream's first */
    for (int k = 0; k < 3000 && r.n < 1; k++)
        mosquitto_loop(r.m, 1, 1);
    assert_true(r.n >= 1);
    dt_buswire_header h;
    assert_int_equal(dt_buswire_decode_header(r.msg[0], r.len[0], &h), DT_BUSWIRE_OK);
    assert_int_equal(h.seq, 1);
    for (int k = 0; k < 20; k++) { /* the warm-up's last messages */
        turn(both, 2);
        mosquitto_loop(r.m, 0, 1);
        assert_int_equal(dt_twin_step(sub, mono()), 0);
    }
    cap.n = 0;
    r.n = 0;
    uint64_t published0 = link_counter(pub, "bus.samples_published");
    uint64_t messages0 = link_counter(pub, "bus.stream_messages");
    uint64_t seq0 = bus->streams.s[0].seq;
    uint64_t unsent0 = link_counter(pub, "bus.samples_unsent"); /* before the connection */

    /* ten steps: three samples each (one of "other", in no stream), the
     * last twelve; each step's samples leave in that step */
    dt_signal_id lv = sig_of(pub, "level"), dp = sig_of(pub, "depth"), ot = sig_of(pub, "other");
    static pushed want[64];
    size_t nw = 0, per_step_msgs[10];
    dt_ingest *ing = dt_twin_ingest(pub);
    dt_time last = mono();
    for (int j = 0; j < 10; j++) {
        dt_time now = mono();
        if (now <= last)
            now = last + 1000;
        int count = j < 9 ? 3 : 12;
        for (int i = 0; i < count; i++) {
            dt_sample s;
            memset(&s, 0, sizeof s);
            int kind = i % 3;
            s.signal = kind == 0 ? lv : kind == 1 ? dp : ot;
            s.t_source = last + (dt_time)(i + 1);
            s.t_arrival = now;
            s.value = 1.0 / 3.0 + j * 10 + i * 0.125;
            if (kind == 0) {
                s.flags = DT_SAMPLE_HAS_VARIANCE | (i % 2 ? DT_SAMPLE_UNCERTAIN : 0);
                s.variance = 0.0004 * (1 + i) + 1e-17;
            }
            assert_int_equal(dt_ingest_push(ing, 0, &s), 0);
            if (kind != 2)
                want[nw++] = (pushed){s.signal, s.flags, s.t_source - 250000000, s.value,
                                      s.variance};
        }
        uint64_t before = link_counter(pub, "bus.stream_messages");
        assert_int_equal(dt_twin_step(pub, now), 0);
        /* sent in this step: all of them, in batches of at most 4 */
        per_step_msgs[j] = (size_t)(link_counter(pub, "bus.stream_messages") - before);
        assert_int_equal(link_counter(pub, "bus.samples_published") - published0, nw);
        last = now;
        turn(both, 2);
        mosquitto_loop(r.m, 0, 1);
        assert_int_equal(dt_twin_step(sub, mono()), 0);
    }
    for (int j = 0; j < 9; j++)
        assert_int_equal(per_step_msgs[j], 1); /* 2 samples */
    assert_int_equal(per_step_msgs[9], 2);     /* 8 samples: 4 + 4 */
    assert_int_equal(link_counter(pub, "bus.stream_messages") - messages0, 11);
    assert_int_equal(link_counter(pub, "bus.samples_unsent"), unsent0);
    /* the raw client's messages of these steps (a warm-up one may come late) */
    size_t first = 0, got = 0;
    for (int k = 0; k < 3000 && (cap.n < nw || got < 11); k++) {
        turn(both, 2);
        mosquitto_loop(r.m, 0, 1);
        assert_int_equal(dt_twin_step(sub, mono()), 0);
        while (first < r.n && dt_buswire_decode_header(r.msg[first], r.len[first], &h) ==
                                  DT_BUSWIRE_OK && h.seq <= seq0)
            first++;
        got = r.n - first;
    }
    assert_int_equal(got, 11);
    assert_int_equal(cap.n, nw);

    /* on the wire: the bus epoch, the contract version, seqs in a row from
     * where the warm-up left them; each record as the publisher mapped it */
    size_t w = 0;
    for (size_t m = first; m < r.n; m++) {
        assert_int_equal(dt_buswire_decode_header(r.msg[m], r.len[m], &h), DT_BUSWIRE_OK);
        assert_int_equal(h.type, DT_BUSWIRE_SAMPLES);
        assert_int_equal(h.epoch, bus->epoch);
        assert_int_equal(h.contract, bus->contract_version);
        assert_int_equal(h.seq, seq0 + 1 + (m - first));
        assert_true(h.count <= 4);
        for (size_t i = 0; i < h.count; i++, w++) {
            dt_buswire_sample rec;
            assert_int_equal(dt_buswire_sample_at(r.msg[m], r.len[m], i, &rec), DT_BUSWIRE_OK);
            assert_int_equal(rec.channel, want[w].sig == lv ? 0 : 1);
            assert_int_equal(rec.t_source, want[w].t);
            assert_true(rec.value == want[w].value);
            uint32_t f = (want[w].flags & DT_SAMPLE_HAS_VARIANCE ? DT_BUSWIRE_F_VARIANCE : 0) |
                         (want[w].flags & DT_SAMPLE_UNCERTAIN ? DT_BUSWIRE_F_UNCERTAIN : 0);
            assert_int_equal(rec.flags, f);
            assert_true(rec.variance == (f & DT_BUSWIRE_F_VARIANCE ? want[w].variance : 0));
        }
    }
    assert_int_equal(w, nw);
    /* at the reader: the same values, times and variances, on its signals */
    dt_signal_id up = sig_of(sub, "up"), deep = sig_of(sub, "deep");
    for (size_t i = 0; i < nw; i++) {
        const dt_sample *s = &cap.s[i];
        assert_int_equal(s->signal, want[i].sig == lv ? up : deep);
        assert_int_equal(s->t_source, want[i].t);
        assert_true(s->value == want[i].value);
        int hv = (want[i].flags & DT_SAMPLE_HAS_VARIANCE) != 0;
        assert_int_equal((s->flags & DT_SAMPLE_HAS_VARIANCE) != 0, hv);
        assert_int_equal((s->flags & DT_SAMPLE_UNCERTAIN) != 0,
                         (want[i].flags & DT_SAMPLE_UNCERTAIN) != 0);
        if (hv)
            assert_true(s->variance == want[i].variance);
    }
    assert_int_equal(counter(sub, "lost") + counter(sub, "duplicate") +
                         counter(sub, "bad_message") + counter(sub, "contract_refused") +
                         counter(sub, "skipped_bad_channel"),
                     0);
    dt_twin_destroy(sub);
    dt_twin_destroy(pub);
    mosquitto_destroy(r.m);
    mosquitto_lib_cleanup();
    dtt_broker_stop(&b);
}

/* ---- a contract the mapping does not agree with ---- */

typedef struct logbuf {
    char text[4096];
} logbuf;

static void log_keep(void *user, dt_log_level level, const char *module, const char *msg)
{
    (void)module;
    logbuf *l = user;
    if (level == DT_LOG_ERROR && strlen(l->text) + strlen(msg) + 2 < sizeof l->text) {
        strcat(l->text, msg);
        strcat(l->text, "\n");
    }
}

static void refused_case(const char *sem, const char *unit, const char *expect)
{
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    static logbuf lb;
    memset(&lb, 0, sizeof lb);
    dt_logger lg = {log_keep, &lb, DT_LOG_ERROR};
    dt_twin *pub = load_pub(b.port, NULL);
    dt_twin *sub = load_sub_logged(b.port, sem, unit, &lg);
    dt_twin *both[2] = {pub, sub};
    assert_int_equal(dt_twin_start(pub, mono()), 0);
    assert_int_equal(dt_twin_start(sub, mono()), 0);
    for (int k = 0; k < 3000 && (counter(sub, "contract_refused") < 1 ||
                                 counter(sub, "unknown_contract") < 5);
         k++) {
        dt_time now = mono();
        assert_int_equal(dt_memory_source_push(dt_twin_io(pub), 0, "level", now, 2.0), 0);
        assert_int_equal(dt_twin_step(pub, now), 0);
        turn(both, 2);
        assert_int_equal(dt_twin_step(sub, mono()), 0);
    }
    /* refused (each copy the rebirths bring is checked again and counted),
     * its batches dropped, nothing converted */
    assert_true(counter(sub, "contract_refused") >= 1);
    assert_true(counter(sub, "unknown_contract") >= 5);
    assert_int_equal(counter(sub, "samples_emitted"), 0);
    assert_int_equal(counter(sub, "records"), 0);
    assert_true(link_counter(pub, "bus.samples_published") >= 5);
    /* and said */
    assert_non_null(strstr(lb.text, expect));
    const char *said = strstr(lb.text, "contract_refused");
    assert_non_null(said);
    assert_null(strstr(said + 1, "contract_refused")); /* said once, not per copy */
    dt_twin_destroy(sub);
    dt_twin_destroy(pub);
    dtt_broker_stop(&b);
}

static void test_unit_mismatch_refused_and_logged(void **state)
{
    (void)state;
    /* the reader's mapping says cm; the contract says the level is in m */
    refused_case(SEM_LEVEL, "cm", "level is in \"m\" by its contract");
}

static void test_semantic_id_mismatch_refused(void **state)
{
    (void)state;
    refused_case("urn:dtwin:test:pressure", "m", "has semantic id \"" SEM_LEVEL "\"");
}

/* ---- forged, garbled and adversarial messages ---- */

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

/* A samples message of n records: channel i % 2, value 1 + i, time t + i,
 * variance 0.01 with the flag on even records. */
static size_t samples_msg(uint8_t *buf, size_t cap, uint32_t epoch, uint32_t contract,
                          uint64_t seq, size_t n, dt_time t)
{
    dt_buswire_header h = {DT_BUSWIRE_VERSION, DT_BUSWIRE_SAMPLES, 0, epoch, contract, seq};
    dt_buswire_sample r[16];
    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++)
        r[i] = (dt_buswire_sample){(uint32_t)(i % 2), i % 2 ? 0 : DT_BUSWIRE_F_VARIANCE,
                                   t + (dt_time)i, 1.0 + (double)i, i % 2 ? 0 : 0.01};
    size_t len = dt_buswire_encode_samples(buf, cap, &h, r, n);
    assert_true(len > 0);
    return len;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put_f64(uint8_t *p, double d)
{
    uint64_t v;
    memcpy(&v, &d, sizeof v);
    put_u64(p, v);
}
#define REC(buf, i) ((buf) + DT_BUSWIRE_HEADER + (size_t)(i) * DT_BUSWIRE_SAMPLE_RECORD)

static void test_reader_rules_against_a_forger(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    forger f;
    forger_start(&f, b.port);
    forge_text(&f, "$contract", contract_streams7, 1);
    forge_text(&f, "$state", "{\"state\":\"ready\",\"epoch\":100,\"contract\":7}", 1);
    dt_twin *sub = load_sub_logged(b.port, SEM_LEVEL, "m", NULL);
    assert_int_equal(dt_twin_start(sub, mono()), 0);
    dt_twin *one[1] = {sub};
    for (int i = 0; i < 100; i++) /* connected, subscribed, the retained ones read */
        turn(one, 1);
    uint8_t buf[DT_BUSWIRE_HEADER + 16 * DT_BUSWIRE_SAMPLE_RECORD];
    size_t len;

    /* in order: taken (the first message may race the subscription) */
    uint64_t seq = 1, msgs = 0;
    for (int i = 0; i < 3000 && counter(sub, "records") < 1; i++) {
        len = samples_msg(buf, sizeof buf, 100, 7, seq++, 2, mono() - 1000000);
        forge(&f, "s/levels", buf, len, 0);
        /* bounded: a message sent before the subscription never comes */
        (void)reader_until(sub, &f, "messages", msgs + 1);
        msgs = counter(sub, "messages");
    }
    uint64_t emitted = counter(sub, "samples_emitted");
    assert_true(emitted >= 2);
    assert_int_equal(counter(sub, "records"), emitted);
    /* a gap of 3: counted lost, the message taken */
    seq += 3;
    len = samples_msg(buf, sizeof buf, 100, 7, seq, 1, mono() - 1000000);
    forge(&f, "s/levels", buf, len, 0);
    assert_true(reader_until(sub, &f, "samples_emitted", emitted + 1));
    assert_int_equal(counter(sub, "lost"), 3);
    emitted++;
    /* the same seq again: a repeat */
    forge(&f, "s/levels", buf, len, 0);
    assert_true(reader_until(sub, &f, "duplicate", 1));
    /* an older epoch: stale, a rebirth asked */
    len = samples_msg(buf, sizeof buf, 99, 7, seq + 1, 1, mono() - 1000000);
    forge(&f, "s/levels", buf, len, 0);
    assert_true(reader_until(sub, &f, "stale_epoch", 1));
    /* a contract version not known: dropped, a rebirth asked */
    len = samples_msg(buf, sizeof buf, 100, 8, seq + 1, 1, mono() - 1000000);
    forge(&f, "s/levels", buf, len, 0);
    assert_true(reader_until(sub, &f, "unknown_contract", 1));
    assert_true(reader_until(sub, &f, "rebirth_requests", 1));
    /* garbled: garbage with the magic, a belief on the stream's topic, a
     * batch shorter than its count, one longer */
    forge(&f, "s/levels", "\x44\x54\x57\x42garbage", 11, 0);
    assert_true(reader_until(sub, &f, "bad_message", 1));
    {
        uint8_t bel[256];
        dt_buswire_header h = {DT_BUSWIRE_VERSION, DT_BUSWIRE_BELIEF, 1, 100, 7, seq + 1};
        const double x[2] = {1, 2}, P[4] = {1, 0, 0, 1};
        size_t n = dt_buswire_encode_belief(bel, sizeof bel, &h, mono(), 2, x, P);
        forge(&f, "s/levels", bel, n, 0);
        assert_true(reader_until(sub, &f, "bad_message", 2));
    }
    len = samples_msg(buf, sizeof buf, 100, 7, seq + 1, 3, mono() - 1000000);
    forge(&f, "s/levels", buf, len - 1, 0);
    assert_true(reader_until(sub, &f, "bad_message", 3));
    uint8_t longer[sizeof buf + 1];
    memcpy(longer, buf, len);
    longer[len] = 0;
    forge(&f, "s/levels", longer, len + 1, 0);
    assert_true(reader_until(sub, &f, "bad_message", 4));
    assert_int_equal(counter(sub, "samples_emitted"), emitted);

    /* adversarial records in one batch: each skipped and counted by reason,
     * the two valid ones taken */
    len = samples_msg(buf, sizeof buf, 100, 7, ++seq, 10, mono() - 1000000);
    put_u64(REC(buf, 1) + 8, (uint64_t)INT64_MIN);      /* t_source INT64_MIN */
    put_f64(REC(buf, 2) + 16, NAN);                     /* value NaN */
    put_u32(REC(buf, 3), 2);                            /* channel past 2 signals */
    put_u32(REC(buf, 4), UINT32_MAX);                   /* channel 2^32 - 1 */
    put_u32(REC(buf, 5) + 4, 0x80);                     /* unknown flag */
    put_f64(REC(buf, 6) + 24, -1.0);                    /* negative variance */
    put_f64(REC(buf, 7) + 24, INFINITY);                /* infinite variance */
    put_u64(REC(buf, 8) + 8, (uint64_t)INT64_MAX);      /* t_source INT64_MAX */
    /* records 0 and 9 stay valid */
    uint64_t records = counter(sub, "records");
    forge(&f, "s/levels", buf, len, 0);
    assert_true(reader_until(sub, &f, "records", records + 2));
    assert_int_equal(counter(sub, "skipped_bad_time"), 2);
    assert_int_equal(counter(sub, "skipped_not_finite"), 2);
    assert_int_equal(counter(sub, "skipped_bad_channel"), 2);
    assert_int_equal(counter(sub, "skipped_bad_flags"), 1);
    assert_int_equal(counter(sub, "skipped_bad_variance"), 1);
    assert_int_equal(counter(sub, "samples_emitted"), emitted + 2);
    emitted += 2;

    /* a jump far ahead: waits for a second message to confirm it */
    len = samples_msg(buf, sizeof buf, 100, 7, seq + 1000, 1, mono() - 1000000);
    forge(&f, "s/levels", buf, len, 0);
    assert_true(reader_until(sub, &f, "unconfirmed", 1));
    assert_int_equal(counter(sub, "samples_emitted"), emitted);

    /* fuzz-ish: valid batches with bytes flipped and lengths cut, from a
     * fixed seed; whatever they hold, the reader counts them and goes on */
    uint64_t x = 0x9E3779B97F4A7C15u;
    msgs = counter(sub, "messages");
    for (int i = 0; i < 300; i++) {
        len = samples_msg(buf, sizeof buf, 100, 7, seq + 1001 + (uint64_t)i, 1 + (size_t)(i % 16),
                          mono() - 1000000);
        for (int k = 0; k < 1 + i % 6; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[x % len] ^= (uint8_t)(x >> 32 | 1);
        }
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t cut = i % 5 == 0 ? (size_t)(x % (len + 1)) : len;
        forge(&f, "s/levels", buf, cut, 0);
        if (i % 20 == 19)
            assert_true(reader_until(sub, &f, "messages", msgs + (uint64_t)i + 1));
    }
    assert_true(reader_until(sub, &f, "messages", msgs + 300));
    /* then the publisher's announcement (a mutated epoch may have moved
     * the reader's) and its batches get through again */
    forge_state(&f, "ready", 100, 7);
    uint64_t rec = counter(sub, "records");
    for (uint64_t k = 0; k < 200 && counter(sub, "records") < rec + 2; k++) {
        len = samples_msg(buf, sizeof buf, 100, 7, seq + 2000 + k, 2, mono() - 1000000);
        forge(&f, "s/levels", buf, len, 0);
        (void)reader_until(sub, &f, "messages", counter(sub, "messages") + 1);
    }
    assert_true(counter(sub, "records") >= rec + 2);
    dt_twin_destroy(sub);
    forger_stop(&f);
    dtt_broker_stop(&b);
}

/* ---- the description ---- */

static void refused_doc(const char *doc, const char *expect)
{
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_twin *t = NULL;
    dt_diag d;
    memset(&d, 0, sizeof d);
    int rc = dt_twin_load_json(doc, strlen(doc), &o, &t, &d);
    if (rc == DT_OK) {
        dt_twin_destroy(t);
        fail_msg("accepted, expected /%s/", expect);
    }
    if (strstr(d.message, expect) == NULL)
        fail_msg("\"%s\" does not hold \"%s\"", d.message, expect);
}

static void pub_with_streams(char *doc, size_t cap, const char *streams)
{
    char bus[256];
    bus_of(bus, sizeof bus, 1);
    snprintf(doc, cap, spub_fmt, bus, streams);
}

static void test_description_refusals(void **state)
{
    (void)state;
    char doc[8192];
    pub_with_streams(doc, sizeof doc, "[{\"stream\":\"a\",\"signals\":[\"level\"]}]");
    dt_twin *t = load(doc, NULL); /* the helper itself builds a valid one */
    dt_twin_destroy(t);
    static const struct {
        const char *streams, *expect;
    } cases[] = {
        {"{}", "bus.streams: expected an array of at most 8 streams, got an object"},
        {"[{\"stream\":\"a\",\"signals\":[\"level\"]},{\"stream\":\"b\",\"signals\":[\"level\"]},"
         "{\"stream\":\"c\",\"signals\":[\"level\"]},{\"stream\":\"d\",\"signals\":[\"level\"]},"
         "{\"stream\":\"e\",\"signals\":[\"level\"]},{\"stream\":\"f\",\"signals\":[\"level\"]},"
         "{\"stream\":\"g\",\"signals\":[\"level\"]},{\"stream\":\"h\",\"signals\":[\"level\"]},"
         "{\"stream\":\"i\",\"signals\":[\"level\"]}]",
         "bus.streams: expected an array of at most 8"},
        {"[{\"stream\":\"a b\",\"signals\":[\"level\"]}]",
         "bus.streams[0]: stream: \"a b\": 1..64 of"},
        {"[{\"signals\":[\"level\"]}]", "bus.streams[0]: stream: required"},
        {"[{\"stream\":\"a\",\"signals\":[\"level\"]},{\"stream\":\"a\",\"signals\":[\"depth\"]}]",
         "bus.streams[1]: stream: \"a\" twice"},
        {"[{\"stream\":\"a\",\"signals\":[]}]", "bus.streams[0]: signals: required, an array of 1..64"},
        {"[{\"stream\":\"a\",\"signals\":[\"nope\"]}]", "bus.streams[0]: signals[0]: unknown signal nope"},
        {"[{\"stream\":\"a\",\"signals\":[\"level\",\"level\"]}]",
         "bus.streams[0]: signals[1]: level twice"},
        {"[{\"stream\":\"a\",\"signals\":[\"level\"],\"batch\":0}]",
         "bus.streams[0]: batch: an integer in 1..8191, got 0"},
        {"[{\"stream\":\"a\",\"signals\":[\"level\"],\"batch\":8192}]",
         "bus.streams[0]: batch: an integer in 1..8191, got 8192"},
        {"[{\"stream\":\"a\",\"signals\":[\"level\"],\"batch\":2.5}]", "batch: an integer in"},
        {"[{\"stream\":\"a\",\"signals\":[\"level\"],\"max_age\":0}]",
         "bus.streams[0]: max_age: a number in 0.001..3600, got 0"},
        {"[{\"stream\":\"a\",\"signals\":[\"level\"],\"every\":1}]", "every"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pub_with_streams(doc, sizeof doc, cases[i].streams);
        refused_doc(doc, cases[i].expect);
    }
    /* a stream carries measured signals only */
    char bus[256];
    bus_of(bus, sizeof bus, 1);
    snprintf(doc, sizeof doc,
             "{\"dtwin\":1,\"name\":\"p\",\"assets\":[{\"id\":\"a\"}],\"signals\":["
             "{\"id\":\"y\",\"asset\":\"a\",\"quantity\":\"length\",\"unit\":\"m\","
             "\"role\":\"measured\",\"noise\":{\"std\":0.01}},"
             "{\"id\":\"u\",\"asset\":\"a\",\"quantity\":\"length\",\"unit\":\"m\","
             "\"role\":\"commanded\"}],"
             "%s,\"streams\":[{\"stream\":\"s\",\"signals\":[\"y\",\"u\"]}]}}",
             bus);
    refused_doc(doc, "bus.streams[0]: signals[1]: u is not a measured signal");
    /* the reader: belief or stream, one of them */
    static const char *const src[][2] = {
        {"\"belief\":\"g\",\"stream\":\"levels\",", "belief and stream: give one of them"},
        {"", "belief or stream: required"},
        {"\"stream\":\"a/b\",", "stream: \"a/b\" is no name"},
    };
    for (size_t i = 0; i < 3; i++) {
        snprintf(doc, sizeof doc,
                 "{\"dtwin\":1,\"name\":\"sub\",\"assets\":[{\"id\":\"site\"}],\"signals\":["
                 "{\"id\":\"up\",\"asset\":\"site\",\"quantity\":\"length\",\"unit\":\"m\","
                 "\"role\":\"measured\",\"noise\":{\"std\":0.01}}],"
                 "\"sources\":[{\"id\":\"peer\",\"kind\":\"twin\",\"twin\":\"pub\",%s"
                 "\"clock\":{\"mode\":\"fixed\"},\"timeout\":5,"
                 "\"mapping\":[{\"native\":\"level\",\"signal\":\"up\"}]}],%s}}",
                 src[i][0], bus);
        refused_doc(doc, src[i][1]);
    }
}

/* ---- the publisher's steady state allocates nothing ---- */

static void test_publishing_samples_allocates_nothing(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    dtt_counter cnt;
    memset(&cnt, 0, sizeof cnt);
    dt_allocator a = dtt_allocator(&cnt);
    dt_twin *pub = load_pub(b.port, &a);
    assert_int_equal(dt_twin_start(pub, mono()), 0);
    dt_twin *one[1] = {pub};
    long calls = -1;
    uint64_t mark = 0;
    for (int i = 0; i < 5000; i++) {
        dt_time now = mono();
        /* two samples a step, five a step every tenth: batches of 2, 4 + 1 */
        for (int k = 0; k < (i % 10 ? 2 : 5); k++)
            assert_int_equal(dt_memory_source_push(dt_twin_io(pub), 0, k % 2 ? "depth" : "level",
                                                   now - 10 + k, 1.0 + k),
                             0);
        assert_int_equal(dt_twin_step(pub, now), 0);
        turn(one, 1);
        uint64_t m = link_counter(pub, "bus.stream_messages");
        if (calls < 0 && m >= 5) {
            calls = cnt.calls; /* connected, announced, publishing */
            mark = m;
        }
        if (calls >= 0 && m >= mark + 200)
            break;
    }
    assert_true(calls >= 0);
    assert_true(link_counter(pub, "bus.stream_messages") >= mark + 200);
    assert_int_equal(cnt.calls, calls);
    dt_twin_destroy(pub);
    assert_int_equal(cnt.live, 0);
    dtt_broker_stop(&b);
}

/* ---- the connection down: counted unsent, never queued ---- */

static void test_connection_down_counts_unsent(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    int port = b.port;
    dtt_broker_stop(&b); /* nothing listens there now */
    dt_twin *pub = load_pub(port, NULL);
    dt_time t = mono();
    assert_int_equal(dt_twin_start(pub, t), 0);
    for (int i = 1; i <= 20; i++) {
        t += 10000000;
        assert_int_equal(dt_memory_source_push(dt_twin_io(pub), 0, "level", t - 1000, 1.0), 0);
        assert_int_equal(dt_twin_step(pub, t), 0);
        /* each step's sample counted unsent in that step */
        assert_int_equal(link_counter(pub, "bus.samples_unsent"), (uint64_t)i);
    }
    assert_int_equal(link_counter(pub, "bus.stream_messages"), 0);
    assert_int_equal(link_counter(pub, "bus.samples_published"), 0);
    const dt__bus *bus = dt__bus_get(dt_twin_io(pub));
    assert_int_equal(bus->streams.s[0].seq, 0);
    assert_int_equal(bus->streams.s[0].n_rec, 0);
    dt_twin_destroy(pub);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_samples_flow_exact),
    cmocka_unit_test(test_unit_mismatch_refused_and_logged),
    cmocka_unit_test(test_semantic_id_mismatch_refused),
    cmocka_unit_test(test_reader_rules_against_a_forger),
    cmocka_unit_test(test_description_refusals),
    cmocka_unit_test(test_publishing_samples_allocates_nothing),
    cmocka_unit_test(test_connection_down_counts_unsent),
};

DTT_MAIN(tests)
