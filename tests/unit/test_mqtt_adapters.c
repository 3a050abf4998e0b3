/* The mqtt source and sink kinds against a real mosquitto started by the
 * test (broker_fixture.h), in whole twins built from a description with a
 * bus section and stepped with dt_twin_step, the io's loop hooks served in
 * between (dt_io_watches, poll(2), dt_io_ready, dt_io_wake). The device is a
 * libmosquitto client of the test: it publishes numbers and JSON, reads the
 * command topic and echoes what it applied.
 *   - samples reach the estimator, and each kind of malformed payload is
 *     counted by its reason (no_memory with the twin's allocator failing);
 *   - the broker's retained values: one without a time dropped, one with an
 *     hour-old time taken as that old (the twin stays in its safe state),
 *     one on an estimated clock dropped, a live publish with the retain flag
 *     taken as live;
 *   - commands published through the template, the device's echo reported
 *     (dt_twin_actuation confirmed), a retained echo ignored;
 *   - an ACL refusing the command topic: PUBACK 0x87 counted as denied and
 *     logged, the next apply failing into the dispatcher's sink errors;
 *   - the broker gone: a command not sent, counted not_connected;
 *   - the descriptions refused, with their JSON paths (no broker).
 * Waits are bounded loops on events, never timings. */
#define _DEFAULT_SOURCE /* before any system header: kill, mkdtemp, nanosleep */
#include <poll.h>
#include <stdlib.h>
#include <time.h>

#include <mosquitto.h>

#include "alloc_counter.h"
#include "broker_fixture.h"
#include "test_util.h"

#include "bus/bus.h"
#include "bus/mqtt.h"
#include "dtwin/dtwin.h"

/* The device's topics and the twin that reads and commands them: "dev" reads
 * dev/t (a number) and dev/p (JSON in kPa, its time in ms on the twin's
 * clock: the source's clock is fixed), "est" reads dev/q on an estimated
 * clock; "act" commands v on dev/v/set through a template and reads the
 * device's echo on dev/v/state. */
#define DESC_HEAD                                                                            \
    "{\"dtwin\":1,\"name\":\"mqtt-test\",\"assets\":[{\"id\":\"dev\"}],\"signals\":["       \
    "{\"id\":\"t\",\"asset\":\"dev\",\"quantity\":\"temperature\",\"unit\":\"degC\","        \
    "\"role\":\"measured\",\"limits\":{\"min\":-50,\"max\":150},\"period\":0.1,"             \
    "\"noise\":{\"std\":0.1}},"                                                              \
    "{\"id\":\"p\",\"asset\":\"dev\",\"quantity\":\"pressure\",\"unit\":\"bar\","            \
    "\"role\":\"measured\",\"limits\":{\"min\":0,\"max\":100},\"period\":0.1,"               \
    "\"noise\":{\"std\":0.01}},"                                                             \
    "{\"id\":\"q\",\"asset\":\"dev\",\"quantity\":\"length\",\"unit\":\"m\","                \
    "\"role\":\"measured\",\"period\":1},"                                                   \
    "{\"id\":\"t_est\",\"asset\":\"dev\",\"quantity\":\"temperature\",\"unit\":\"degC\","    \
    "\"role\":\"estimated\"},"                                                               \
    "{\"id\":\"p_est\",\"asset\":\"dev\",\"quantity\":\"pressure\",\"unit\":\"bar\","        \
    "\"role\":\"estimated\"},"                                                               \
    "{\"id\":\"v\",\"asset\":\"dev\",\"quantity\":\"dimensionless\",\"unit\":\"%\","         \
    "\"role\":\"commanded\",\"limits\":{\"min\":0,\"max\":100}}],"                           \
    "\"estimator\":{\"states\":[\"t_est\",\"p_est\"],\"A\":[[0,0],[0,0]],"                   \
    "\"Q\":[0.01,0.0001],\"x0\":[20,1],\"P0\":[100,100],\"measurements\":["                  \
    "{\"signal\":\"t\",\"H\":{\"t_est\":1}},{\"signal\":\"p\",\"H\":{\"p_est\":1}}],"        \
    "\"bounds\":[{\"name\":\"t\",\"variance\":\"t_est\",\"max\":1}]},"                       \
    "\"dispatcher\":{\"safe\":{\"v\":0}},\"loop\":{\"period\":0.01}"

#define BUS_FMT                                                                              \
    ",\"bus\":{\"realm\":\"t\",\"broker\":{\"host\":\"127.0.0.1\",\"port\":%d,\"tls\":\"none\","             \
    "\"keepalive\":5},\"reconnect\":{\"min\":0.02,\"max\":0.2}}"

#define SOURCES                                                                              \
    ",\"sources\":[{\"id\":\"dev\",\"kind\":\"mqtt\",\"qos\":1,\"timeout\":5,\"mapping\":["  \
    "{\"native\":\"dev/t\",\"signal\":\"t\"},"                                               \
    "{\"native\":\"dev/p\",\"signal\":\"p\",\"unit\":\"kPa\"}],"                             \
    "\"topics\":{\"dev/p\":{\"format\":\"json\",\"value\":\"v\",\"time\":\"ts\","            \
    "\"time_unit\":\"ms\"}}},"                                                               \
    "{\"id\":\"est\",\"kind\":\"mqtt\",\"qos\":1,\"clock\":{\"mode\":\"estimate\"},"         \
    "\"payload\":{\"format\":\"json\",\"value\":\"v\",\"time\":\"ts\",\"time_unit\":\"ms\"}," \
    "\"mapping\":[{\"native\":\"dev/q\",\"signal\":\"q\"}]}]"

#define SINKS                                                                                \
    ",\"sinks\":[{\"id\":\"act\",\"kind\":\"mqtt\","                                          \
    "\"template\":\"{{\\\"v\\\":{value},\\\"seq\\\":{seq}}}\","                              \
    "\"mapping\":[{\"native\":\"dev/v/set\",\"signal\":\"v\"}],"                             \
    "\"topics\":{\"dev/v/set\":{\"echo\":{\"topic\":\"dev/v/state\",\"format\":\"json\","    \
    "\"value\":\"applied\"}}}}]"

/* ---- the device: a plain libmosquitto client ---- */

typedef struct device {
    struct mosquitto *m;
    int connected, subacks, published, received, echo;
    char last[128];     /* the last command payload */
    char commands[4096]; /* every command payload, one per line */
} device;

static void dev_connect_cb(struct mosquitto *m, void *o, int rc)
{
    (void)m;
    ((device *)o)->connected = rc == 0;
}

static void dev_sub_cb(struct mosquitto *m, void *o, int mid, int n, const int *q)
{
    (void)m, (void)mid, (void)n, (void)q;
    ((device *)o)->subacks++;
}

static void dev_pub_cb(struct mosquitto *m, void *o, int mid)
{
    (void)m, (void)mid;
    ((device *)o)->published++;
}

/* A command {"v":X,"seq":N}: kept, and with echo on, X published back as
 * the value applied. */
static void dev_msg_cb(struct mosquitto *m, void *o, const struct mosquitto_message *msg)
{
    device *d = o;
    d->received++;
    int n = msg->payloadlen < 127 ? msg->payloadlen : 127;
    memcpy(d->last, msg->payload, (size_t)n);
    d->last[n] = '\0';
    size_t used = strlen(d->commands);
    if (used + (size_t)n + 2 < sizeof d->commands)
        snprintf(d->commands + used, sizeof d->commands - used, "%s\n", d->last);
    double v;
    if (d->echo && sscanf(d->last, "{\"v\":%lf", &v) == 1) {
        char echo[64];
        snprintf(echo, sizeof echo, "{\"applied\":%.17g}", v);
        mosquitto_publish(m, NULL, "dev/v/state", (int)strlen(echo), echo, 1, false);
    }
}

static void dev_open(device *d, int port)
{
    memset(d, 0, sizeof *d);
    assert_int_equal(mosquitto_lib_init(), MOSQ_ERR_SUCCESS);
    d->m = mosquitto_new(NULL, true, d);
    assert_non_null(d->m);
    mosquitto_connect_callback_set(d->m, dev_connect_cb);
    mosquitto_subscribe_callback_set(d->m, dev_sub_cb);
    mosquitto_publish_callback_set(d->m, dev_pub_cb);
    mosquitto_message_callback_set(d->m, dev_msg_cb);
    assert_int_equal(mosquitto_connect(d->m, "127.0.0.1", port, 30), MOSQ_ERR_SUCCESS);
    for (int i = 0; i < 3000 && !d->connected; i++)
        mosquitto_loop(d->m, 10, 1);
    assert_true(d->connected);
}

static void dev_pump(device *d) { mosquitto_loop(d->m, 0, 1); }

static void dev_close(device *d)
{
    mosquitto_destroy(d->m);
    mosquitto_lib_cleanup();
}

/* Publishes n bytes at QoS 1 (retained or not). */
static void dev_send(device *d, const char *topic, const void *p, size_t n, int retain)
{
    assert_int_equal(mosquitto_publish(d->m, NULL, topic, (int)n, p, 1, retain != 0),
                     MOSQ_ERR_SUCCESS);
}

static void dev_say(device *d, const char *topic, const char *text)
{
    dev_send(d, topic, text, strlen(text), 0);
}

/* ---- the twin ---- */

typedef struct rig {
    dt_twin *twin;
    dt_io *io;
    device dev;
    dtt_counter alloc_st;
    dt_allocator alloc;
    dt_diag diag;
    int feed; /* the device publishes live t and p every few turns */
    unsigned turns;
    char log[32][400];
    int n_log;
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
    if (r->n_log < 32)
        snprintf(r->log[r->n_log++], sizeof r->log[0], "%s", msg);
}

static int logged(const rig *r, const char *needle)
{
    for (int i = 0; i < r->n_log; i++)
        if (strstr(r->log[i], needle) != NULL)
            return 1;
    return 0;
}

/* The description: DESC_HEAD, the bus on port (none when port < 0), the
 * sources and sinks given (NULL: SOURCES, SINKS). */
static void describe(char *out, size_t cap, int port, const char *sources, const char *sinks)
{
    char bus[256] = "";
    if (port >= 0)
        snprintf(bus, sizeof bus, BUS_FMT, port);
    snprintf(out, cap, "%s%s%s%s}", DESC_HEAD, bus, sources ? sources : SOURCES,
             sinks ? sinks : SINKS);
}

/* Loads a twin (validate: only checked, as dtwin check does). */
static int rig_load(rig *r, const char *doc, int validate)
{
    r->alloc = dtt_allocator(&r->alloc_st);
    dt_logger lg = {capture, r, DT_LOG_DEBUG};
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = &lg;
    o.allocator = &r->alloc;
    o.replay = validate;
    o.validate = validate;
    int rc = dt_twin_load_json(doc, strlen(doc), &o, &r->twin, &r->diag);
    r->io = rc == DT_OK ? dt_twin_io(r->twin) : NULL;
    return rc;
}

static void rig_open(rig *r, int port)
{
    memset(r, 0, sizeof *r);
    static char doc[8192];
    describe(doc, sizeof doc, port, NULL, NULL);
    if (rig_load(r, doc, 0) != DT_OK)
        fail_msg("dt_twin_load_json: %s", r->diag.message);
    assert_int_equal(dt_twin_start(r->twin, mono()), DT_OK);
}

static void rig_close(rig *r)
{
    dt_twin_destroy(r->twin);
    assert_int_equal(r->alloc_st.live, 0);
}

static void feed(rig *r)
{
    char js[128];
    dev_say(&r->dev, "dev/t", "20");
    snprintf(js, sizeof js, "{\"v\":100,\"ts\":%.3f}", (double)mono() / 1e6);
    dev_say(&r->dev, "dev/p", js);
}

/* One turn of a host loop: the hooks (10 ms at most in poll), a step, the
 * device's loop. */
static void turn(rig *r)
{
    dt_io_watch w[8];
    size_t n = dt_io_watches(r->io, w, 8);
    assert_true(n <= 8);
    struct pollfd p[8];
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
    int rc = dt_twin_step(r->twin, mono());
    assert_true(rc != DT_ESTATE && rc != DT_ERANGE);
    if (r->dev.m != NULL) {
        dev_pump(&r->dev);
        if (r->feed && ++r->turns % 4 == 0)
            feed(r);
    }
}

/* Turns until cond holds (about 3000 turns at most: a bound that turns a
 * hang into a failure, not a timing). */
#define UNTIL(r, cond)                                                                       \
    do {                                                                                     \
        for (int u_ = 0; u_ < 3000 && !(cond); u_++)                                         \
            turn(r);                                                                         \
    } while (0)

static uint64_t counter(const dt_io *io, int sink, const char *id, const char *name)
{
    size_t i;
    dt_counter c[64];
    size_t n = 0;
    if (sink) {
        assert_int_equal(dt_io_find_sink(io, id, &i), DT_OK);
        n = dt_io_sink_counters(io, i, c, 64);
    } else {
        assert_int_equal(dt_io_find_source(io, id, &i), DT_OK);
        n = dt_io_source_counters(io, i, c, 64);
    }
    assert_true(n <= 64);
    for (size_t k = 0; k < n; k++)
        if (strcmp(c[k].name, name) == 0)
            return c[k].value;
    fail_msg("no counter %s of %s", name, id);
    return 0;
}

#define SRC(r, id, name) counter((r)->io, 0, (id), (name))
#define SNK(r, name) counter((r)->io, 1, "act", (name))

/* Until the twin's subscriptions are all in effect: the echo topic is
 * subscribed last, and the broker takes one client's packets in order, so a
 * message the twin gets there was published after every subscription. */
static void sync_subscriptions(rig *r)
{
    uint64_t before = SNK(r, "echo_messages");
    for (int i = 0; i < 3000 && SNK(r, "echo_messages") == before; i++) {
        if (i % 20 == 0)
            dev_say(&r->dev, "dev/v/state", "{\"applied\":0}");
        turn(r);
    }
    assert_true(SNK(r, "echo_messages") > before);
}

static dt_signal_id sig(rig *r, const char *id)
{
    dt_signal_id s;
    assert_int_equal(dt_model_find_signal(dt_twin_model(r->twin), id, &s), DT_OK);
    return s;
}

/* ---- samples, and malformed payloads by reason ---- */

static void test_samples_and_malformed_payloads(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    rig r;
    rig_open(&r, b.port);
    dev_open(&r.dev, b.port);
    sync_subscriptions(&r);

    /* two good values, then one payload per reason the layer has */
    char js[128], longnum[80];
    dev_say(&r.dev, "dev/t", "20.5");
    snprintf(js, sizeof js, "{\"v\":100,\"ts\":%.3f}", (double)mono() / 1e6);
    dev_say(&r.dev, "dev/p", js);
    memset(longnum, '1', 65);
    longnum[65] = '\0';
    const struct {
        const char *topic, *payload;
    } bad[] = {
        {"dev/t", ""},                       /* empty */
        {"dev/t", longnum},                  /* too_long */
        {"dev/t", "21.5 degC"},              /* not_number */
        {"dev/t", "nan"},                    /* not_finite */
        {"dev/p", "{\"v\":"},                /* bad_json */
        {"dev/p", "{\"x\":1}"},              /* no_value */
        {"dev/p", "{\"v\":\"1\"}"},          /* value_not_number */
        {"dev/p", "{\"v\":1}"},              /* no_time */
        {"dev/p", "{\"v\":1,\"ts\":\"x\"}"}, /* bad_time */
        {"dev/p", "{\"v\":1,\"ts\":1e300}"}, /* time_range */
    };
    const char *reasons[] = {"empty",     "too_long",         "not_number", "not_finite",
                             "bad_json",  "no_value",         "value_not_number",
                             "no_time",   "bad_time",         "time_range"};
    size_t nbad = sizeof bad / sizeof bad[0];
    for (size_t i = 0; i < nbad; i++)
        dev_say(&r.dev, bad[i].topic, bad[i].payload);
    UNTIL(&r, SRC(&r, "dev", "messages") >= 2 + nbad);
    assert_int_equal(SRC(&r, "dev", "messages"), 2 + nbad);
    assert_int_equal(SRC(&r, "dev", "samples"), 2);
    for (size_t i = 0; i < nbad; i++)
        if (SRC(&r, "dev", reasons[i]) != 1)
            fail_msg("%s: counted %llu, expected 1", reasons[i],
                     (unsigned long long)SRC(&r, "dev", reasons[i]));

    /* no_memory: the twin's allocator fails while cJSON parses a good one */
    r.alloc_st.fail_at = r.alloc_st.calls + 1;
    r.alloc_st.persistent = 1;
    dev_say(&r.dev, "dev/p", js);
    UNTIL(&r, SRC(&r, "dev", "no_memory") >= 1);
    r.alloc_st.fail_at = 0;
    r.alloc_st.persistent = 0;
    assert_int_equal(SRC(&r, "dev", "no_memory"), 1);
    assert_int_equal(dt_io_source_events(r.io, 0, DT_EV_MALFORMED), nbad + 1);
    assert_int_equal(SRC(&r, "dev", "unknown_topic") + SRC(&r, "dev", "ring_full") +
                         SRC(&r, "dev", "retained_dropped"),
                     0);
    /* logged by reason, the first time each */
    assert_true(logged(&r, "topic \"dev/t\": payload refused (not_number: the payload is not a "
                           "decimal number): \"21.5 degC\" (1 so far)"));
    assert_true(logged(&r, "payload refused (no_memory"));

    /* the two good samples reached the estimator, in the signals' units */
    dt_twin_stats st;
    UNTIL(&r, (dt_twin_stats_get(r.twin, &st), st.estimator.updates >= 2));
    assert_true(st.estimator.updates >= 2);
    assert_int_equal(st.ingest.total.accepted, 2);
    dt_belief bt, bp;
    dt_est *est = dt_twin_estimator(r.twin);
    assert_int_equal(dt_est_belief(est, sig(&r, "t_est"), mono(), &bt), DT_OK);
    assert_int_equal(dt_est_belief(est, sig(&r, "p_est"), mono(), &bp), DT_OK);
    assert_close(bt.value, 20.5, 0, 0.5);
    assert_close(bp.value, 1.0, 0, 0.05); /* 100 kPa */
    dev_close(&r.dev);
    rig_close(&r);
    dtt_broker_stop(&b);
}

/* ---- the broker's retained values ---- */

static void test_retained_values(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    device d;
    dev_open(&d, b.port);
    /* stored at the broker before the twin exists: a number (no time), a
     * JSON value an hour old, the same on the estimated clock, an echo */
    char js[128];
    snprintf(js, sizeof js, "{\"v\":100,\"ts\":%.3f}", (double)(mono() - 3600 * DT_NS_PER_S) / 1e6);
    dev_send(&d, "dev/t", "25", 2, 1);
    dev_send(&d, "dev/p", js, strlen(js), 1);
    dev_send(&d, "dev/q", js, strlen(js), 1);
    dev_send(&d, "dev/v/state", "{\"applied\":99}", 14, 1);
    for (int i = 0; i < 3000 && d.published < 4; i++)
        mosquitto_loop(d.m, 10, 1);
    assert_int_equal(d.published, 4);
    dev_close(&d);

    rig r;
    rig_open(&r, b.port);
    UNTIL(&r, SRC(&r, "dev", "retained") >= 2 && SRC(&r, "est", "retained") >= 1 &&
                  SNK(&r, "echo_retained") >= 1);
    /* no time: dropped; its own old time on a fixed clock: taken; on an
     * estimated clock (whose first value maps onto its arrival): dropped */
    assert_int_equal(SRC(&r, "dev", "retained"), 2);
    assert_int_equal(SRC(&r, "dev", "retained_dropped"), 1);
    assert_int_equal(SRC(&r, "dev", "samples"), 1);
    assert_int_equal(SRC(&r, "est", "retained_dropped"), 1);
    assert_int_equal(SRC(&r, "est", "samples"), 0);
    assert_int_equal(dt_io_source_events(r.io, 0, DT_EV_REFUSED), 1);
    assert_true(logged(&r, "topic \"dev/t\": the broker's retained value dropped: its payload "
                           "has no time"));
    assert_true(logged(&r, "the source's clock is estimated"));
    /* the old echo confirms nothing */
    assert_int_equal(SNK(&r, "echo_reported"), 0);
    assert_int_equal(dt_io_reported(r.io, sig(&r, "v"), NULL, NULL, NULL), DT_EEMPTY);
    /* the hour-old value does not look fresh: the twin holds its safe state */
    for (int i = 0; i < 20; i++)
        turn(&r);
    dt_twin_stats st;
    dt_twin_stats_get(r.twin, &st);
    assert_int_equal(st.safe_state, 1);
    assert_true(st.belief_age_s > 3000);

    /* live values, one published with the retain flag: taken as live */
    dev_open(&r.dev, b.port);
    sync_subscriptions(&r);
    dev_send(&r.dev, "dev/t", "20", 2, 1);
    UNTIL(&r, SRC(&r, "dev", "samples") >= 2);
    assert_int_equal(SRC(&r, "dev", "samples"), 2);
    assert_int_equal(SRC(&r, "dev", "retained"), 2);
    r.feed = 1;
    UNTIL(&r, (dt_twin_stats_get(r.twin, &st), st.safe_state == 0));
    assert_int_equal(st.safe_state, 0);
    assert_true(st.belief_age_s < 3000);
    dev_close(&r.dev);
    rig_close(&r);
    dtt_broker_stop(&b);
}

/* ---- commands through the template, and the echo ---- */

static void test_commands_template_and_echo(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    rig r;
    rig_open(&r, b.port);
    dev_open(&r.dev, b.port);
    r.dev.echo = 1;
    assert_int_equal(mosquitto_subscribe(r.dev.m, NULL, "dev/v/set", 1), MOSQ_ERR_SUCCESS);
    UNTIL(&r, r.dev.subacks >= 1);
    sync_subscriptions(&r);
    /* fresh data first: a twin in its safe state sends its safe value */
    r.feed = 1;
    dt_twin_stats st;
    UNTIL(&r, (dt_twin_stats_get(r.twin, &st), st.safe_state == 0));
    assert_int_equal(st.safe_state, 0);

    dt_command c = {.signal = sig(&r, "v"), .value = 42.25,
                    .t_deadline = mono() + 60 * DT_NS_PER_S};
    assert_int_equal(dt_twin_submit(r.twin, &c), DT_OK);
    UNTIL(&r, strstr(r.dev.commands, "{\"v\":42.25,") != NULL);
    /* the template's text, the command's sequence number in it */
    const char *at = strstr(r.dev.commands, "{\"v\":42.25,\"seq\":");
    assert_non_null(at);
    unsigned long long seq = strtoull(at + strlen("{\"v\":42.25,\"seq\":"), NULL, 10);
    assert_true(seq >= 1);
    /* the device echoes what it applied: reported for that command */
    double desired = 0, reported = 0;
    int confirmed = 0;
    UNTIL(&r, (dt_twin_actuation(r.twin, sig(&r, "v"), &desired, &reported, &confirmed),
               confirmed && reported == 42.25));
    assert_true(confirmed);
    assert_close(desired, 42.25, 0, 0);
    assert_close(reported, 42.25, 0, 0);
    uint64_t rep_seq = 0;
    assert_int_equal(dt_io_reported(r.io, sig(&r, "v"), &rep_seq, NULL, NULL), DT_OK);
    assert_int_equal(rep_seq, seq);
    assert_true(SNK(&r, "echo_reported") >= 1);
    assert_true(SNK(&r, "acked") >= 1);
    /* (a command of the first steps, before the connection was up, may have
     * been refused as not_connected) */
    assert_int_equal(SNK(&r, "denied") + SNK(&r, "echo_bad_json"), 0);
    /* a broken echo is counted by its reason */
    dev_say(&r.dev, "dev/v/state", "{\"applied\":true}");
    UNTIL(&r, SNK(&r, "echo_value_not_number") >= 1);
    assert_int_equal(SNK(&r, "echo_value_not_number"), 1);
    dev_close(&r.dev);
    rig_close(&r);
    dtt_broker_stop(&b);
}

/* ---- an ACL refusing the command topic ---- */

static void test_acl_refusal_denied(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    /* everything but the command topic */
    assert_int_equal(dtt_broker_start(&b, "topic readwrite dev/t\ntopic readwrite dev/p\n"
                                          "topic readwrite dev/q\ntopic readwrite dev/v/state\n"),
                     0);
    rig r;
    rig_open(&r, b.port);
    dev_open(&r.dev, b.port);
    sync_subscriptions(&r);
    dt_command c = {.signal = sig(&r, "v"), .value = 10, .t_deadline = mono() + 60 * DT_NS_PER_S};
    assert_int_equal(dt_twin_submit(r.twin, &c), DT_OK);
    UNTIL(&r, SNK(&r, "denied") >= 1);
    assert_true(SNK(&r, "denied") >= 1);
    assert_true(logged(&r, "topic \"dev/v/set\": the broker refused a command (PUBACK 0x87 not "
                           "authorized)"));
    /* the next commands fail in apply: sink errors, and after
     * dispatcher.sink_failures (3) in a row the safe state for failing sinks */
    dt_twin_stats st;
    for (int k = 0; k < 10; k++) {
        dt_twin_stats_get(r.twin, &st);
        if (st.sink_fault_entries >= 1)
            break;
        uint64_t before = SNK(&r, "topic_refused");
        assert_int_equal(dt_twin_submit(r.twin, &c), DT_OK);
        UNTIL(&r, SNK(&r, "topic_refused") > before);
        assert_true(SNK(&r, "topic_refused") > before);
    }
    assert_true(st.sink_errors >= 3);
    assert_true(st.sink_fault_entries >= 1);
    dt_sink_stats ss;
    assert_int_equal(dt_io_sink_stats(r.io, 0, &ss), DT_OK);
    assert_true(ss.errors >= 1);
    assert_int_equal(SNK(&r, "acked"), 0);
    dev_close(&r.dev);
    rig_close(&r);
    dtt_broker_stop(&b);
}

/* ---- the broker gone ---- */

static void test_publish_while_down_fails(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    rig r;
    rig_open(&r, b.port);
    const dt__mqtt_stats *ms = dt__mqtt_stats_get(dt__bus_mqtt(r.io));
    UNTIL(&r, ms->connects >= 1);
    assert_int_equal(ms->connects, 1);
    dtt_broker_signal(&b, SIGKILL);
    UNTIL(&r, ms->disconnects >= 1);
    assert_int_equal(ms->disconnects, 1);
    dt_twin_stats st;
    dt_twin_stats_get(r.twin, &st);
    uint64_t errors_before = st.sink_errors, down_before = SNK(&r, "not_connected");
    dt_command c = {.signal = sig(&r, "v"), .value = 5, .t_deadline = mono() + 60 * DT_NS_PER_S};
    assert_int_equal(dt_twin_submit(r.twin, &c), DT_OK);
    UNTIL(&r, SNK(&r, "not_connected") > down_before);
    assert_true(SNK(&r, "not_connected") > down_before);
    dt_twin_stats_get(r.twin, &st);
    assert_true(st.sink_errors > errors_before);
    assert_true(logged(&r, "topic \"dev/v/set\": the broker connection is down"));
    /* nothing was queued to be sent late: with the broker back, the device
     * reading the command topic before the twin reconnects gets nothing */
    assert_int_equal(dtt_broker_restart(&b), 0);
    dev_open(&r.dev, b.port);
    assert_int_equal(mosquitto_subscribe(r.dev.m, NULL, "dev/v/set", 1), MOSQ_ERR_SUCCESS);
    for (int i = 0; i < 3000 && r.dev.subacks < 1; i++)
        mosquitto_loop(r.dev.m, 10, 1);
    assert_int_equal(r.dev.subacks, 1);
    UNTIL(&r, ms->connects >= 2);
    assert_int_equal(ms->connects, 2);
    sync_subscriptions(&r);
    for (int i = 0; i < 50; i++)
        turn(&r);
    assert_null(strstr(r.dev.commands, "\"v\":5,"));
    dev_close(&r.dev);
    rig_close(&r);
    dtt_broker_stop(&b);
}

/* ---- descriptions refused, with their paths (no broker) ---- */

static void expect_refused(const char *sources, const char *sinks, int port, int validate,
                           const char *needle)
{
    static char doc[16384];
    describe(doc, sizeof doc, port, sources, sinks);
    rig r;
    memset(&r, 0, sizeof r);
    int rc = rig_load(&r, doc, validate);
    if (rc == DT_OK || strstr(r.diag.message, needle) == NULL)
        fail_msg("expected an error with \"%s\", got %d \"%s\"", needle, rc, r.diag.message);
    assert_int_equal(r.alloc_st.live, 0);
}

#define SRC1(extra, mapping)                                                                 \
    ",\"sources\":[{\"id\":\"dev\",\"kind\":\"mqtt\"" extra ",\"mapping\":[" mapping "]}]"
#define SNK1(extra)                                                                          \
    ",\"sinks\":[{\"id\":\"act\",\"kind\":\"mqtt\",\"mapping\":[{\"native\":\"dev/v/set\","  \
    "\"signal\":\"v\"}]" extra "}]"
#define MAP_T "{\"native\":\"dev/t\",\"signal\":\"t\"}"

static void test_descriptions_refused(void **state)
{
    (void)state;
    /* checked as dtwin check does (validate), except where noted */
    expect_refused(NULL, NULL, -1, 1,
                   "sources[0]: an mqtt source needs the description's \"bus\" section");
    expect_refused(",\"sources\":[]", NULL, -1, 1,
                   "sinks[0]: an mqtt sink needs the description's \"bus\" section");
    expect_refused(SRC1("", "{\"native\":\"dev/+/t\",\"signal\":\"t\"}"), SNK1(""), 1883, 1,
                   "sources[0]: mapping[0].native: topic \"dev/+/t\": the wildcard '+' is not "
                   "allowed");
    expect_refused(SRC1("", "{\"native\":\"dev/#\",\"signal\":\"t\"}"), SNK1(""), 1883, 1,
                   "the wildcard '#' is not allowed");
    expect_refused(SRC1("", "{\"native\":\"$SYS/x\",\"signal\":\"t\"}"), SNK1(""), 1883, 1,
                   "topic \"$SYS/x\": topics that begin with '$' are the broker's own");
    expect_refused(SRC1("", "{\"signal\":\"t\"}"), SNK1(""), 1883, 1,
                   "sources[0]: mapping[0]: an mqtt source maps topics: give \"native\"");
    expect_refused(SRC1("", "{\"channel\":3,\"signal\":\"t\"}"), SNK1(""), 1883, 1,
                   "mapping[0]: an mqtt source maps topics");
    expect_refused(SRC1(",\"payload\":{\"format\":\"json\",\"value\":\"a..b\"}", MAP_T),
                   SNK1(""), 1883, 1,
                   "sources[0]: payload.value: path \"a..b\": at character 3");
    expect_refused(SRC1(",\"payload\":{\"format\":\"json\"}", MAP_T), SNK1(""), 1883, 1,
                   "payload: a \"json\" payload needs \"value\"");
    expect_refused(SRC1(",\"payload\":{\"format\":\"xml\"}", MAP_T), SNK1(""), 1883, 1,
                   "payload.format: \"xml\" is not \"number\" or \"json\"");
    expect_refused(SRC1(",\"payload\":{\"value\":\"v\"}", MAP_T), SNK1(""), 1883, 1,
                   "payload.value: a \"number\" payload is the value alone");
    expect_refused(SRC1(",\"payload\":{\"format\":\"json\",\"value\":\"v\",\"time\":\"ts\"}",
                        MAP_T),
                   SNK1(""), 1883, 1, "payload.time: needs \"time_unit\"");
    expect_refused(SRC1(",\"payload\":{\"format\":\"json\",\"value\":\"v\",\"time\":\"ts\","
                        "\"time_unit\":\"min\"}",
                        MAP_T),
                   SNK1(""), 1883, 1, "payload.time_unit: \"min\" is not s, ms, us, ns or rfc3339");
    expect_refused(SRC1(",\"payload\":{\"fromat\":\"json\"}", MAP_T), SNK1(""), 1883, 1,
                   "payload.fromat: unknown key \"fromat\"");
    expect_refused(SRC1(",\"topics\":{\"dev/x\":{}}", MAP_T), SNK1(""), 1883, 1,
                   "topics[\"dev/x\"]: not a mapped topic");
    /* a topic's entry over the source's payload: the path is the topic's */
    expect_refused(SRC1(",\"payload\":{\"format\":\"json\",\"value\":\"v\"},"
                        "\"topics\":{\"dev/t\":{\"time\":\"[x\",\"time_unit\":\"s\"}}",
                        MAP_T),
                   SNK1(""), 1883, 1, "topics[\"dev/t\"].time: path \"[x\"");
    expect_refused(SRC1(",\"qos\":2", MAP_T), SNK1(""), 1883, 1, "sources[0]: qos: 0 or 1, got 2");
    expect_refused(SRC1(",\"retained\":\"yes\"", MAP_T), SNK1(""), 1883, 1,
                   "retained: \"timed\" (the default) or \"ignore\", got \"yes\"");
    expect_refused(SRC1("", MAP_T), SNK1(",\"template\":\"{valu}\""), 1883, 1,
                   "sinks[0]: template: template \"{valu}\": at character 1");
    expect_refused(SRC1("", MAP_T), SNK1(",\"template\":\"v={value}\""), 1883, 1,
                   "sinks[0]: template:");
    expect_refused(SRC1("", MAP_T), SNK1(",\"retain\":\"yes\""), 1883, 1,
                   "retain: true or false, got \"yes\"");
    expect_refused(SRC1("", MAP_T),
                   SNK1(",\"topics\":{\"dev/v/set\":{\"echo\":{\"topic\":\"dev/v/set\"}}}"), 1883,
                   1, "topics[\"dev/v/set\"].echo.topic: \"dev/v/set\" is a command topic");
    expect_refused(SRC1("", MAP_T), SNK1(",\"topics\":{\"dev/v/set\":{\"echo\":{}}}"), 1883, 1,
                   "topics[\"dev/v/set\"].echo.topic: required");
    expect_refused(SRC1("", MAP_T),
                   SNK1(",\"topics\":{\"dev/v/set\":{\"echo\":{\"topic\":\"e\","
                        "\"time\":\"t\"}}}"),
                   1883, 1, "echo.time: unknown key \"time\"");
    /* opened: a twin's connection takes 64 subscriptions */
    static char many[8192];
    size_t o = 0;
    o += (size_t)snprintf(many + o, sizeof many - o, SRC1("", ""));
    o -= 3; /* before "]}]" */
    for (int i = 0; i < 65; i++)
        o += (size_t)snprintf(many + o, sizeof many - o, "%s{\"native\":\"dev/t%d\",\"signal\":"
                                                         "\"%s\"}",
                              i ? "," : "", i, i % 2 ? "t" : "p");
    snprintf(many + o, sizeof many - o, "]}]");
    expect_refused(many, SNK1(""), 1883, 0, "64 subscriptions");
}

/* A checked twin reads everything, connects to nothing. */
static void test_checked_twin_never_connects(void **state)
{
    (void)state;
    char doc[8192];
    describe(doc, sizeof doc, dtt_free_tcp_port(), NULL, NULL);
    rig r;
    memset(&r, 0, sizeof r);
    if (rig_load(&r, doc, 1) != DT_OK)
        fail_msg("%s", r.diag.message);
    assert_null(dt__bus_mqtt(r.io));
    assert_int_equal(dt_io_watches(r.io, NULL, 0), 0);
    rig_close(&r);
}


static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_samples_and_malformed_payloads),
    cmocka_unit_test(test_retained_values),
    cmocka_unit_test(test_commands_template_and_echo),
    cmocka_unit_test(test_acl_refusal_denied),
    cmocka_unit_test(test_publish_while_down_fails),
    cmocka_unit_test(test_descriptions_refused),
    cmocka_unit_test(test_checked_twin_never_connects),
};

DTT_MAIN(tests)
