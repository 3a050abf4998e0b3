/* MQTT bus benchmark, against a real mosquitto on loopback that this program
 * starts itself (the tests' broker fixture, with a configuration of its own:
 * no per-message log lines, and set_tcp_nodelay true, which the twins need:
 * with Nagle's algorithm on the broker's side, a one-way stream of small
 * messages stalls up to 40 ms at a time). Skipped, with a line saying so,
 * when the broker is not installed. Every client runs in this one thread on
 * its own connection, non-blocking, in libmosquitto's external-loop mode
 * (poll, then loop_read until EAGAIN, loop_write while want_write), MQTT 5
 * with Nagle off, as a twin's connection. Figures:
 * - bus.raw_msgs_per_s: raw libmosquitto, QoS 0, one 8-byte double per
 *   message, a publisher and a subscriber client: messages received per
 *   second over 200 000, at most 500 in flight, so the broker's per-client
 *   queue (max_queued_messages, 1000) never fills (a drop is printed).
 * - bus.samples_per_s: the same clients carrying buswire sample messages of
 *   20 samples (dt_buswire_encode_samples, per message), decoded per record
 *   (dt_buswire_sample_at): samples received per second.
 * - bus.raw_rtt_paced_*: the round trip (A publishes, B echoes from its
 *   message callback, A receives), a ping every 1 ms, and its two legs;
 *   bus.raw_rtt_b2b_*: the round trip with pings back to back. Half a round
 *   trip is no one-way figure: the way back finds the broker just woken
 *   (about half the way out's time), so it is not the twins' baseline.
 * - bus.raw_hop_* and bus.hop_*, measured the same way and interleaved (ten
 *   pairs of blocks of 1000, raw first then twins first in turn): one
 *   message of a 2-state belief's size (80 bytes, on a topic as long as the
 *   twins') every 1 ms, one thread polling every socket with ppoll and
 *   reading a readable one until EAGAIN; CLOCK_MONOTONIC read before the
 *   send to the return of the read that got the message.
 *   raw_hop: raw libmosquitto, from just before the publish call;
 *   raw_hop_to_callback stops at B's message callback instead.
 *   hop: two twins (as tests/unit/test_bus_twins.c) in this process,
 *   driven through the io loop hooks: the publisher pushes a sample and
 *   steps every 1 ms, publishing one belief per step; the reader's "twin"
 *   source pushes it into its ring inside dt_io_ready. The interval runs
 *   from CLOCK_MONOTONIC read just before the publisher's push and step (the
 *   belief's t_valid: the hop includes the step's own work before the
 *   publish) to the return of the reader's dt_io_ready that pushed the
 *   sample (the push is inside it). hop_arrival stops at the `now` handed
 *   to that dt_io_ready, read when poll returned (the sample's t_arrival).
 *   The reader's clock is fixed, offset 0 (one process, one clock), so its
 *   belief events carry the publisher's t_valid: they pair each push with
 *   its publish. pub_step_to_sent: t_valid to the return of the publish (an
 *   observer after the bus's); sent_to_arrival: from there to t_arrival;
 *   the raw side's parts likewise (raw_publish_call, raw_sent_to_arrival).
 *   hop_vs_raw_hop: the ratio of the p50s, and a line with each pair of
 *   blocks' ratio.
 * - bus.step_to_estimate_*: t_valid to the reader's belief event (its
 *   estimator update), the reader stepping every 10 ms: includes the wait
 *   for the reader's next cycle.
 * - bus.twin_samples_per_s: two twins again, the publisher with a sample
 *   stream (bus.streams, batches of 20) and the reader's "twin" source
 *   reading it (clock fixed): the publisher's memory source takes 200
 *   samples a step, the twin releases them and the stream publishes them
 *   (10 messages a step); the reader steps after every readiness. Samples
 *   the reader's source pushed per second over 400 000, at most 400
 *   messages in flight (a drop is printed); bus.twin_samples_vs_raw is its
 *   ratio to bus.samples_per_s (the raw clients, same batch size).
 * - the broker's CPU time (utime + stime of /proc/PID/stat) and this
 *   process's, per phase, as shares of the phase's wall time.
 * `bench_bus hop` runs the latency phases only (to profile them).
 * The machine is shared: figures are printed, never asserted. */
#define _GNU_SOURCE /* ppoll; before any system header (mkdtemp, kill: the fixture) */
#include "bench_util.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <string.h>

#include <mosquitto.h>

#include "broker_fixture.h"

#include "dtwin/dtwin.h"

#define RAW_MSGS 200000u
#define SAMPLE_MSGS 50000u
#define BATCH 20u
#define WINDOW 500u
#define PERIOD_NS 1000000LL     /* the publisher's: 1 ms */
#define SUB_PERIOD_NS 10000000LL /* the reader's cycle: 10 ms */
#define PINGS 5000
#define B2B_PINGS 20000
#define HOPS 10000
#define WARMUP 200

static double g_rtt50; /* bus.raw_rtt_paced_p50_us, for bus.hop_vs_half_rtt */

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_bus: %s\n", what);
    exit(1);
}

/* ---- the broker and CPU accounting ---- */

#include "bench_broker.h"

static double proc_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct cpu_mark {
    double wall, broker, self;
} cpu_mark;

static cpu_mark cpu_now(void) { return (cpu_mark){bench_now(), broker_cpu(), proc_cpu()}; }

static void cpu_report(const char *phase, cpu_mark a, double per, const char *per_what)
{
    cpu_mark b = cpu_now();
    double w = b.wall - a.wall;
    char name[96];
    snprintf(name, sizeof name, "bus.%s.broker_cpu_share", phase);
    bench_line(name, (b.broker - a.broker) / w, "cores");
    snprintf(name, sizeof name, "bus.%s.client_cpu_share", phase);
    bench_line(name, (b.self - a.self) / w, "cores");
    if (per > 0)
        printf("# bus.%s: broker %.2f us, this process %.2f us of CPU per %s\n", phase,
               (b.broker - a.broker) / per * 1e6, (b.self - a.self) / per * 1e6, per_what);
}

/* ---- raw libmosquitto clients ---- */

enum { M_COUNT, M_SAMPLES, M_ECHO, M_RTT, M_ONEWAY };

typedef struct cli {
    struct mosquitto *m;
    int connected, subscribed, mode;
    uint64_t received, samples, bad;
    double sum;
    double *lat; /* M_ECHO: one-way, M_RTT: round trip, us */
    size_t nlat, cap;
    int recording;
    int64_t cb_ns; /* M_ONEWAY: when the last message reached the callback */
} cli;

static void on_connect(struct mosquitto *m, void *o, int rc, int flags,
                       const mosquitto_property *p)
{
    (void)m, (void)flags, (void)p;
    ((cli *)o)->connected = rc == 0 ? 1 : -1;
}

static void on_subscribe(struct mosquitto *m, void *o, int mid, int n, const int *q,
                         const mosquitto_property *p)
{
    (void)m, (void)mid, (void)n, (void)q, (void)p;
    ((cli *)o)->subscribed = 1;
}

static void on_message(struct mosquitto *m, void *o, const struct mosquitto_message *msg,
                       const mosquitto_property *p)
{
    (void)p;
    cli *c = o;
    c->received++;
    const uint8_t *b = msg->payload;
    size_t len = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
    if (c->mode == M_COUNT) {
        double v;
        if (len == sizeof v) {
            memcpy(&v, b, sizeof v);
            c->sum += v;
        }
    } else if (c->mode == M_SAMPLES) {
        dt_buswire_header h;
        if (dt_buswire_decode_header(b, len, &h) != DT_BUSWIRE_OK) {
            c->bad++;
            return;
        }
        for (size_t i = 0; i < h.count; i++) {
            dt_buswire_sample s;
            if (dt_buswire_sample_at(b, len, i, &s) == DT_BUSWIRE_OK) {
                c->sum += s.value;
                c->samples++;
            } else {
                c->bad++;
            }
        }
    } else if (c->mode == M_ONEWAY) {
        c->cb_ns = mono_ns();
    } else if (len == sizeof(double)) {
        double t0;
        memcpy(&t0, b, sizeof t0);
        double us = (bench_now() - t0) * 1e6;
        if (c->recording && c->nlat < c->cap)
            c->lat[c->nlat++] = us;
        if (c->mode == M_ECHO) /* queued: written when the loop writes */
            (void)mosquitto_publish_v5(m, NULL, "bench/pong", (int)len, b, 0, false, NULL);
    }
}

/* Reads until the socket says EAGAIN (loop_read handles one packet a call
 * when nothing is in flight). */
static void read_all(struct mosquitto *m)
{
    for (;;) {
        errno = 0;
        int rc = mosquitto_loop_read(m, 1);
        if (rc != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "bench_bus: a client lost its connection: %s\n",
                    mosquitto_strerror(rc));
            exit(1);
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
    }
}

/* One turn of the clients' loop: poll (timeout_ns, -1: block), read what
 * is readable, write what is queued. Returns poll's result. */
static int pump(cli *const *cs, int n, int64_t timeout_ns)
{
    struct pollfd p[4];
    for (int i = 0; i < n; i++)
        p[i] = (struct pollfd){mosquitto_socket(cs[i]->m),
                               (short)(POLLIN | (mosquitto_want_write(cs[i]->m) ? POLLOUT : 0)),
                               0};
    struct timespec ts = {(time_t)(timeout_ns / 1000000000LL), (long)(timeout_ns % 1000000000LL)};
    int r = ppoll(p, (nfds_t)n, timeout_ns < 0 ? NULL : &ts, NULL);
    for (int i = 0; i < n && r > 0; i++) {
        if (p[i].revents & (POLLIN | POLLHUP | POLLERR))
            read_all(cs[i]->m);
        if (mosquitto_want_write(cs[i]->m))
            (void)mosquitto_loop_write(cs[i]->m, 1);
    }
    /* keepalive, about once a second: a client that only reads sends
     * nothing else, and the broker drops it after 1.5 keepalives */
    static double misc_at;
    if (bench_now() > misc_at + 1.0) {
        misc_at = bench_now();
        for (int i = 0; i < n; i++)
            (void)mosquitto_loop_misc(cs[i]->m);
    }
    return r;
}

static void cli_open(cli *c, int mode, const char *sub)
{
    memset(c, 0, sizeof *c);
    c->mode = mode;
    c->m = mosquitto_new(NULL, true, c);
    if (c->m == NULL)
        die("mosquitto_new failed");
    /* as the twins' connection: MQTT 5, Nagle off */
    mosquitto_int_option(c->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_int_option(c->m, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_connect_v5_callback_set(c->m, on_connect);
    mosquitto_subscribe_v5_callback_set(c->m, on_subscribe);
    mosquitto_message_v5_callback_set(c->m, on_message);
    if (mosquitto_connect(c->m, "127.0.0.1", broker.port, 60) != MOSQ_ERR_SUCCESS)
        die("cannot connect to the broker");
    cli *one[1] = {c};
    for (int i = 0; i < 3000 && c->connected == 0; i++)
        pump(one, 1, 10000000);
    if (c->connected != 1)
        die("the broker did not accept a client");
    if (sub != NULL) {
        mosquitto_subscribe_v5(c->m, NULL, sub, 0, 0, NULL);
        for (int i = 0; i < 3000 && !c->subscribed; i++)
            pump(one, 1, 10000000);
        if (!c->subscribed)
            die("the broker did not confirm a subscription");
    }
}

static void cli_close(cli *c)
{
    mosquitto_disconnect(c->m);
    mosquitto_loop_write(c->m, 1);
    mosquitto_destroy(c->m);
    free(c->lat);
}

/* n_msgs messages from pub to sub, at most WINDOW ahead of the reader;
 * payload: 8 bytes (a double), or a buswire batch of BATCH samples.
 * Returns the seconds from the first publish to the last message read;
 * stops when nothing arrives for 2 s (a drop) and says so. */
static double flow(cli *pub, cli *sub, unsigned n_msgs, int batched)
{
    cli *both[2] = {pub, sub};
    uint8_t buf[DT_BUSWIRE_HEADER + BATCH * DT_BUSWIRE_SAMPLE_RECORD];
    dt_buswire_sample r[BATCH];
    uint64_t sent = 0, base = sub->received;
    double t0 = bench_now(), last = t0;
    while (sub->received - base < n_msgs) {
        while (sent < n_msgs && sent - (sub->received - base) < WINDOW) {
            size_t len;
            if (batched) {
                dt_buswire_header h = {DT_BUSWIRE_VERSION, DT_BUSWIRE_SAMPLES, 0, 1, 1, sent + 1};
                int64_t t = mono_ns();
                for (unsigned i = 0; i < BATCH; i++)
                    r[i] = (dt_buswire_sample){i, 0, t, (double)sent + i * 1e-3, 0};
                len = dt_buswire_encode_samples(buf, sizeof buf, &h, r, BATCH);
                if (len == 0)
                    die("dt_buswire_encode_samples refused the batch");
            } else {
                double v = (double)sent;
                memcpy(buf, &v, sizeof v);
                len = sizeof v;
            }
            int rc = mosquitto_publish_v5(pub->m, NULL, "dt/v1/r/pub/s/flow", (int)len, buf, 0,
                                          false, NULL);
            if (rc != MOSQ_ERR_SUCCESS)
                die("a publish failed");
            sent++;
        }
        uint64_t before = sub->received;
        pump(both, 2, 100000000);
        double now = bench_now();
        if (sub->received != before)
            last = now;
        else if (now - last > 2.0) {
            printf("# bus: %llu of %u messages arrived; the rest was dropped\n",
                   (unsigned long long)(sub->received - base), n_msgs);
            break;
        }
    }
    return last - t0;
}

static double pct(double *v, size_t n, double p)
{
    if (n == 0)
        return NAN;
    qsort(v, n, sizeof *v, bench_cmp);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

/* count pings from a to b and back; paced: one every PERIOD_NS, else the
 * next as soon as the answer is read. Fills a's round trips and b's one-way
 * times (us). */
static void pingpong(cli *a, cli *b, int count, int paced)
{
    cli *both[2] = {a, b};
    a->nlat = b->nlat = 0;
    for (int k = 0; k < count + WARMUP; k++) {
        a->recording = b->recording = k >= WARMUP;
        uint64_t want = a->received + 1;
        double t0 = bench_now();
        if (mosquitto_publish_v5(a->m, NULL, "bench/ping", sizeof t0, &t0, 0, false, NULL) !=
            MOSQ_ERR_SUCCESS)
            die("a ping failed");
        for (int i = 0; i < 1000 && a->received < want; i++)
            pump(both, 2, 10000000);
        if (a->received < want)
            die("a ping got no answer within 10 s");
        if (paced) {
            int64_t next = (int64_t)(t0 * 1e9) + PERIOD_NS, now;
            while ((now = mono_ns()) < next)
                pump(both, 2, next - now);
        }
    }
}

/* ---- the one-way hop: raw libmosquitto, and two twins ---- */

/* Both sides of the comparison are measured the same way: one message of a
 * 2-state belief's size (80 bytes) every PERIOD_NS on a topic of the same
 * length, one thread, ppoll on every socket, each readable socket read until
 * EAGAIN, CLOCK_MONOTONIC read before the send and after the read's return.
 * They run interleaved in blocks so that the machine's changing load falls
 * on both alike. */
#define RAW_TOPIC "dt/v1/r/raw/b/tank" /* as long as the twins' dt/v1/r/pub/b/tank */
#define ROUNDS 10                       /* pairs of blocks (raw, twins) of HOPS / ROUNDS hops */

typedef struct rawhop {
    cli *a, *b; /* publisher, subscriber (M_ONEWAY) */
    /* per message, us: the publish call; from the clock read before it to
     * the subscriber's callback, to the `now` its read started at (as the
     * twins' t_arrival), to the return of that read (as the twins' hop); and
     * from the publish call's return to that arrival */
    double *call, *cb, *arr, *ret, *sent_to_arr;
    size_t n;
    int64_t last_arr, last_ret; /* of the subscriber's last read that got a message */
} rawhop;

/* One turn of the raw clients' loop, as twins_turn below: ppoll until
 * `until`, each readable socket read until EAGAIN between two clock reads,
 * queued packets written. */
static void raw_turn(rawhop *r, int64_t until)
{
    cli *cs[2] = {r->a, r->b};
    struct pollfd p[2];
    for (int i = 0; i < 2; i++)
        p[i] = (struct pollfd){mosquitto_socket(cs[i]->m),
                               (short)(POLLIN | (mosquitto_want_write(cs[i]->m) ? POLLOUT : 0)),
                               0};
    int64_t d = until - mono_ns();
    if (d < 0)
        d = 0;
    struct timespec ts = {(time_t)(d / 1000000000LL), (long)(d % 1000000000LL)};
    int n = ppoll(p, 2, &ts, NULL);
    for (int i = 0; i < 2 && n > 0; i++) {
        if (p[i].revents & (POLLIN | POLLHUP | POLLERR)) {
            uint64_t before = cs[i]->received;
            int64_t arr = mono_ns();
            read_all(cs[i]->m);
            int64_t ret = mono_ns();
            if (cs[i] == r->b && cs[i]->received != before) {
                r->last_arr = arr;
                r->last_ret = ret;
            }
        }
        if (mosquitto_want_write(cs[i]->m))
            (void)mosquitto_loop_write(cs[i]->m, 1);
    }
    static int64_t misc_at; /* keepalive, as pump's */
    if (mono_ns() > misc_at + 1000000000LL) {
        misc_at = mono_ns();
        for (int i = 0; i < 2; i++)
            (void)mosquitto_loop_misc(cs[i]->m);
    }
}

/* count messages from a to b, one every PERIOD_NS (recorded or not). */
static void raw_block(rawhop *r, int count, int record)
{
    uint8_t msg[DT_BUSWIRE_BELIEF_BYTES(2)] = {0};
    for (int k = 0; k < count; k++) {
        uint64_t want = r->b->received + 1;
        int64_t t0 = mono_ns();
        memcpy(msg, &t0, sizeof t0);
        if (mosquitto_publish_v5(r->a->m, NULL, RAW_TOPIC, sizeof msg, msg, 0, false, NULL) !=
            MOSQ_ERR_SUCCESS)
            die("a publish failed");
        int64_t t1 = mono_ns(), next = t0 + PERIOD_NS, now;
        while ((now = mono_ns()) < next || r->b->received < want) {
            if (now - t0 > 10 * 1000000000LL)
                die("a message did not arrive within 10 s");
            raw_turn(r, r->b->received < want && now >= next ? now + 1000000 : next);
        }
        if (record && r->n < HOPS) {
            r->call[r->n] = (double)(t1 - t0) * 1e-3;
            r->cb[r->n] = (double)(r->b->cb_ns - t0) * 1e-3;
            r->arr[r->n] = (double)(r->last_arr - t0) * 1e-3;
            r->ret[r->n] = (double)(r->last_ret - t0) * 1e-3;
            r->sent_to_arr[r->n] = (double)(r->last_arr - t1) * 1e-3;
            r->n++;
        }
    }
}

/* ---- two twins ---- */

#define BUS_FMT                                                                              \
    "\"bus\":{\"realm\":\"r\",\"broker\":{\"host\":\"127.0.0.1\",\"port\":%d,"               \
    "\"tls\":\"none\",\"keepalive\":5},\"reconnect\":{\"min\":0.02,\"max\":0.2}"

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
    BUS_FMT ",\"beliefs\":[{\"group\":\"tank\",\"states\":[\"level_est\",\"rate_est\"],"
    "  \"every\":0}]},\"loop\":{\"period\":0.001}}";

static const char sub_fmt[] =
    "{\"dtwin\":1,\"name\":\"sub\",\"assets\":[{\"id\":\"site\"}],\"signals\":["
    "{\"id\":\"up\",\"asset\":\"site\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","
    " \"noise\":{\"std\":0.01}},"
    "{\"id\":\"up_est\",\"asset\":\"site\",\"quantity\":\"length\",\"unit\":\"m\","
    " \"role\":\"estimated\"}],"
    "\"sources\":[{\"id\":\"peer\",\"kind\":\"twin\",\"twin\":\"pub\",\"belief\":\"tank\","
    "  \"clock\":{\"mode\":\"fixed\"},\"timeout\":5,"
    "  \"mapping\":[{\"native\":\"level_est\",\"signal\":\"up\"}]}],"
    "\"estimator\":{\"states\":[\"up_est\"],\"A\":[[0]],\"Q\":[0.0001],\"x0\":[0],\"P0\":[1],"
    "  \"measurements\":[{\"signal\":\"up\",\"H\":{\"up_est\":1}}]},"
    BUS_FMT "},\"loop\":{\"period\":0.01}}";

/* sample streams: the publisher's measured y in the stream "flow" */
static const char spub_fmt[] =
    "{\"dtwin\":1,\"name\":\"spub\",\"assets\":[{\"id\":\"tank\"}],\"signals\":["
    "{\"id\":\"y\",\"asset\":\"tank\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","
    " \"noise\":{\"std\":0.01}}],"
    "\"sources\":[{\"id\":\"sensor\",\"kind\":\"memory\",\"timeout\":5,\"ring\":1024,"
    "  \"mapping\":[{\"native\":\"level\",\"signal\":\"y\"}]}],"
    BUS_FMT ",\"streams\":[{\"stream\":\"flow\",\"signals\":[\"y\"],\"batch\":20}]},"
    "\"loop\":{\"period\":0.001}}";

static const char ssub_fmt[] =
    "{\"dtwin\":1,\"name\":\"ssub\",\"assets\":[{\"id\":\"site\"}],\"signals\":["
    "{\"id\":\"up\",\"asset\":\"site\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","
    " \"noise\":{\"std\":0.01}}],"
    "\"sources\":[{\"id\":\"peer\",\"kind\":\"twin\",\"twin\":\"spub\",\"stream\":\"flow\","
    "  \"clock\":{\"mode\":\"fixed\"},\"timeout\":5,\"ring\":16384,\"reorder\":16384,"
    "  \"mapping\":[{\"native\":\"y\",\"signal\":\"up\"}]}],"
    BUS_FMT "},\"loop\":{\"period\":0.01}}";

static dt_twin *load(const char *fmt)
{
    char doc[4096];
    snprintf(doc, sizeof doc, fmt, broker.port);
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_twin *t = NULL;
    dt_diag d;
    if (dt_twin_load_json(doc, strlen(doc), &o, &t, &d) != DT_OK) {
        fprintf(stderr, "bench_bus: load: %s\n", d.message);
        exit(1);
    }
    return t;
}

static uint64_t counter(dt_io *io, const char *name)
{
    dt_counter c[32];
    size_t n = dt_io_source_counters(io, 0, c, 32);
    for (size_t i = 0; i < n && i < 32; i++)
        if (strcmp(c[i].name, name) == 0)
            return c[i].value;
    die("a twin source counter is missing");
    return 0;
}

/* What the driver and the observers share. */
#define FIFO 256
typedef struct hopper {
    dt_io *sio; /* the reader's */
    uint64_t emitted; /* its states_emitted already noted */
    /* the reader's pushes, oldest first: the `now` handed to the
     * dt_io_ready that pushed it and the time that returned (-1: pushed
     * inside a step) */
    int64_t fifo_arr[FIFO], fifo_ret[FIFO];
    unsigned head, tail;
    int recording;
    uint64_t unpaired, in_step;
    double *hop, *arr, *s2e, *pub_in_step, *sent_to_arr;
    /* the publisher's last beliefs: t_valid and when its publish returned */
    int64_t pub_tv[FIFO], pub_sent[FIFO];
    unsigned n_sent;
    size_t n_s2a;
    size_t n, n_pub;
} hopper;

/* Notes the reader's pushes since the last call, with their times. */
static void note_pushes(hopper *h, int64_t arr, int64_t ret)
{
    uint64_t e = counter(h->sio, "states_emitted");
    for (; h->emitted < e; h->emitted++) {
        if (h->tail - h->head == FIFO)
            die("the reader's step fell behind by 256 samples");
        h->fifo_arr[h->tail % FIFO] = arr;
        h->fifo_ret[h->tail % FIFO] = ret;
        h->tail++;
    }
}

/* The reader's belief events: one per sample applied, in push order. */
static void on_sub_belief(void *user, const dt_event *ev)
{
    hopper *h = user;
    int64_t now = mono_ns(), tv = ev->u.belief.t_valid;
    /* samples pushed inside this step's own poll of the connection, not in
     * a dt_io_ready: no ready time, skipped */
    note_pushes(h, -1, -1);
    if (h->head == h->tail) {
        h->unpaired++;
        return;
    }
    int64_t a = h->fifo_arr[h->head % FIFO], r = h->fifo_ret[h->head % FIFO];
    h->head++;
    if (a < 0) {
        h->in_step++;
        return;
    }
    if (h->recording && h->n < HOPS) {
        h->hop[h->n] = (double)(r - tv) * 1e-3;
        h->arr[h->n] = (double)(a - tv) * 1e-3;
        h->s2e[h->n] = (double)(now - tv) * 1e-3;
        for (unsigned i = 1; i <= FIFO && i <= h->n_sent; i++)
            if (h->pub_tv[(h->n_sent - i) % FIFO] == tv) {
                h->sent_to_arr[h->n_s2a++] =
                    (double)(a - h->pub_sent[(h->n_sent - i) % FIFO]) * 1e-3;
                break;
            }
        h->n++;
    }
}

/* The publisher's belief events, after the bus's observer published. */
static void on_pub_belief(void *user, const dt_event *ev)
{
    hopper *h = user;
    int64_t now = mono_ns();
    h->pub_tv[h->n_sent % FIFO] = ev->u.belief.t_valid;
    h->pub_sent[h->n_sent % FIFO] = now;
    h->n_sent++;
    if (h->recording && h->n_pub < HOPS)
        h->pub_in_step[h->n_pub++] = (double)(now - ev->u.belief.t_valid) * 1e-3;
}

/* Polls what both twins watch until `until` (or readiness), hands the
 * readiness back; notes the reader's pushes with their times. */
static void twins_turn(dt_twin *const *tw, hopper *h, int64_t until)
{
    struct pollfd p[8];
    dt_io_watch w[8];
    int owner[8];
    size_t k = 0;
    for (int i = 0; i < 2; i++) {
        dt_io *io = dt_twin_io(tw[i]);
        dt_io_watch wi[4];
        size_t m = dt_io_watches(io, wi, 4);
        for (size_t j = 0; j < m && j < 4 && k < 8; j++, k++) {
            w[k] = wi[j];
            owner[k] = i;
            p[k] = (struct pollfd){wi[j].fd,
                                   (short)((wi[j].events & DT_WATCH_READ ? POLLIN : 0) |
                                           (wi[j].events & DT_WATCH_WRITE ? POLLOUT : 0)),
                                   0};
        }
        if (dt_io_wake_at(io) < until)
            until = dt_io_wake_at(io);
    }
    int64_t d = until - mono_ns();
    if (d < 0)
        d = 0;
    struct timespec ts = {(time_t)(d / 1000000000LL), (long)(d % 1000000000LL)};
    if (ppoll(p, (nfds_t)k, &ts, NULL) <= 0)
        return;
    for (size_t j = 0; j < k; j++) {
        unsigned ev = (p[j].revents & (POLLIN | POLLHUP | POLLERR) ? DT_WATCH_READ : 0) |
                      (p[j].revents & POLLOUT ? DT_WATCH_WRITE : 0);
        if (!ev)
            continue;
        int64_t arr = mono_ns();
        dt_io_ready(dt_twin_io(tw[owner[j]]), w[j].adapter, w[j].fd, ev, arr);
        int64_t ret = mono_ns();
        if (owner[j] == 1)
            note_pushes(h, arr, ret);
    }
}

/* Two twins and what their loop needs between blocks. */
typedef struct twins {
    dt_twin *pub, *sub;
    hopper h;
    uint64_t published, recorded_beliefs;
} twins;

static void twins_open(twins *t)
{
    memset(t, 0, sizeof *t);
    t->pub = load(pub_fmt);
    t->sub = load(sub_fmt);
    hopper *h = &t->h;
    h->sio = dt_twin_io(t->sub);
    h->hop = calloc(HOPS, sizeof(double));
    h->arr = calloc(HOPS, sizeof(double));
    h->s2e = calloc(HOPS, sizeof(double));
    h->pub_in_step = calloc(HOPS, sizeof(double));
    h->sent_to_arr = calloc(HOPS, sizeof(double));
    if (!h->hop || !h->arr || !h->s2e || !h->pub_in_step || !h->sent_to_arr)
        die("out of memory");
    dt_observer o = DT_OBSERVER_INIT;
    o.mask = DT_EVENT_BIT(DT_EVENT_BELIEF);
    o.on_event = on_sub_belief;
    o.user = h;
    if (dt_twin_observe(t->sub, &o) != DT_OK)
        die("cannot observe the reader");
    o.on_event = on_pub_belief;
    if (dt_twin_observe(t->pub, &o) != DT_OK)
        die("cannot observe the publisher");
    int64_t t0 = mono_ns();
    if (dt_twin_start(t->pub, t0) != DT_OK || dt_twin_start(t->sub, t0) != DT_OK)
        die("a twin did not start");
}

/* Runs the twins until the reader has applied `upto` recorded hops (or,
 * record 0, `upto` beliefs in all): the publisher pushes a sample and steps
 * every PERIOD_NS, the reader steps every SUB_PERIOD_NS. */
static void twins_block(twins *t, size_t upto, int record)
{
    hopper *h = &t->h;
    dt_twin *tw[2] = {t->pub, t->sub};
    int64_t t0 = mono_ns();
    /* the reader's cycle is offset from the publisher's so that its wait
     * is not one fixed phase */
    int64_t next_pub = t0, next_sub = t0 + SUB_PERIOD_NS + 370000;
    h->recording = record;
    for (long iter = 0; record ? h->n < upto : h->emitted < upto; iter++) {
        if (iter > 50000000L || mono_ns() - t0 > 120 * 1000000000LL)
            die("the twins' hops did not complete");
        if (mono_ns() >= next_pub) {
            /* the publisher: a sample and a step, one belief published */
            int64_t now = mono_ns();
            if (dt_memory_source_push(dt_twin_io(t->pub), 0, "level", now, 2.0) != DT_OK ||
                dt_twin_step(t->pub, now) != DT_OK)
                die("the publisher's step failed");
            t->published++;
            t->recorded_beliefs += (uint64_t)record;
            while (next_pub <= mono_ns())
                next_pub += PERIOD_NS;
        }
        if (mono_ns() >= next_sub) {
            if (dt_twin_step(t->sub, mono_ns()) != DT_OK)
                die("the reader's step failed");
            while (next_sub <= mono_ns())
                next_sub += SUB_PERIOD_NS;
        }
        for (int i = 0; i < 2; i++)
            if (dt_io_wake_at(dt_twin_io(tw[i])) <= mono_ns())
                dt_io_wake(dt_twin_io(tw[i]), mono_ns());
        twins_turn(tw, h, next_pub < next_sub ? next_pub : next_sub);
    }
    /* a last step applies what the reader pushed since its last one: not
     * left for the next block, where its estimate would come a block late */
    if (dt_twin_step(t->sub, mono_ns()) != DT_OK)
        die("the reader's step failed");
    h->recording = 0;
}

static void twins_close(twins *t)
{
    dt_twin_destroy(t->sub);
    dt_twin_destroy(t->pub);
    free(t->h.hop);
    free(t->h.arr);
    free(t->h.s2e);
    free(t->h.pub_in_step);
    free(t->h.sent_to_arr);
}

/* The median of v[from, to) (v left as it was). */
static double block_median(const double *v, size_t from, size_t to)
{
    static double tmp[HOPS > B2B_PINGS ? HOPS : B2B_PINGS];
    size_t n = to > from ? to - from : 0;
    if (n > sizeof tmp / sizeof tmp[0])
        n = sizeof tmp / sizeof tmp[0];
    memcpy(tmp, v + from, n * sizeof *v);
    return pct(tmp, n, 0.50);
}

typedef struct cpu_acc {
    double wall, broker, self;
} cpu_acc;

static void cpu_add(cpu_acc *acc, cpu_mark a)
{
    cpu_mark b = cpu_now();
    acc->wall += b.wall - a.wall;
    acc->broker += b.broker - a.broker;
    acc->self += b.self - a.self;
}

static void cpu_acc_report(const char *phase, const cpu_acc *acc, double per,
                           const char *per_what)
{
    char name[96];
    snprintf(name, sizeof name, "bus.%s.broker_cpu_share", phase);
    bench_line(name, acc->broker / acc->wall, "cores");
    snprintf(name, sizeof name, "bus.%s.client_cpu_share", phase);
    bench_line(name, acc->self / acc->wall, "cores");
    printf("# bus.%s: broker %.2f us, this process %.2f us of CPU per %s\n", phase,
           acc->broker / per * 1e6, acc->self / per * 1e6, per_what);
}

/* The hop, raw and through two twins: ROUNDS pairs of blocks, in the order
 * raw-twins, twins-raw, ... (a drift in the machine's load within a pair
 * falls on both); each block's median ratio is one of the spread's. */
static void hops(cli *a, cli *c)
{
    static rawhop r;
    static twins t;
    memset(&r, 0, sizeof r);
    r.a = a;
    r.b = c;
    r.call = calloc(HOPS, sizeof(double));
    r.cb = calloc(HOPS, sizeof(double));
    r.arr = calloc(HOPS, sizeof(double));
    r.ret = calloc(HOPS, sizeof(double));
    r.sent_to_arr = calloc(HOPS, sizeof(double));
    if (!r.call || !r.cb || !r.arr || !r.ret || !r.sent_to_arr)
        die("out of memory");
    twins_open(&t);
    hopper *h = &t.h;
    raw_block(&r, WARMUP, 0);
    twins_block(&t, WARMUP, 0);
    cpu_acc raw_cpu = {0}, twin_cpu = {0};
    double ratio[ROUNDS];
    const size_t per = HOPS / ROUNDS;
    for (int k = 0; k < ROUNDS; k++) {
        size_t r0 = r.n, h0 = h->n;
        for (int side = 0; side < 2; side++) {
            cpu_mark cm = cpu_now();
            if ((side ^ (k & 1)) == 0) {
                raw_block(&r, (int)per, 1);
                cpu_add(&raw_cpu, cm);
            } else {
                twins_block(&t, h0 + per < HOPS ? h0 + per : HOPS, 1);
                cpu_add(&twin_cpu, cm);
            }
        }
        ratio[k] = block_median(h->hop, h0, h->n) / block_median(r.ret, r0, r.n);
    }
    cpu_acc_report("raw_hop", &raw_cpu, (double)r.n, "message");
    cpu_acc_report("twins", &twin_cpu, (double)t.recorded_beliefs, "belief");

    double raw50 = pct(r.ret, r.n, 0.50);
    bench_line("bus.raw_hop_p50_us", raw50, "us");
    bench_line("bus.raw_hop_p99_us", pct(r.ret, r.n, 0.99), "us");
    bench_line("bus.raw_hop_to_callback_p50_us", pct(r.cb, r.n, 0.50), "us");
    bench_line("bus.raw_publish_call_p50_us", pct(r.call, r.n, 0.50), "us");
    bench_line("bus.raw_sent_to_arrival_p50_us", pct(r.sent_to_arr, r.n, 0.50), "us");
    double hop50 = pct(h->hop, h->n, 0.50);
    bench_line("bus.hop_p50_us", hop50, "us");
    bench_line("bus.hop_p99_us", pct(h->hop, h->n, 0.99), "us");
    bench_line("bus.hop_max_us", pct(h->hop, h->n, 1.0), "us");
    size_t slow = 0;
    for (size_t i = 0; i < h->n; i++)
        slow += h->hop[i] > 10000.0;
    bench_line("bus.hops_over_10ms", (double)slow, "hops");
    bench_line("bus.hop_vs_raw_hop", hop50 / raw50, "x");
    if (g_rtt50 > 0) /* the first definition's baseline, kept in view (docs/performance.md) */
        bench_line("bus.hop_vs_half_rtt", hop50 / (g_rtt50 / 2), "x");
    double rs[ROUNDS];
    memcpy(rs, ratio, sizeof rs);
    qsort(rs, ROUNDS, sizeof *rs, bench_cmp);
    printf("# bus.hop_vs_raw_hop per pair of blocks (%zu hops each): median %.3f, from %.3f to "
           "%.3f\n",
           per, bench_median(ratio, ROUNDS), rs[0], rs[ROUNDS - 1]);
    bench_line("bus.hop_arrival_p50_us", pct(h->arr, h->n, 0.50), "us");
    bench_line("bus.hop_arrival_p99_us", pct(h->arr, h->n, 0.99), "us");
    bench_line("bus.pub_step_to_sent_p50_us", pct(h->pub_in_step, h->n_pub, 0.50), "us");
    bench_line("bus.sent_to_arrival_p50_us", pct(h->sent_to_arr, h->n_s2a, 0.50), "us");
    bench_line("bus.step_to_estimate_p50_us", pct(h->s2e, h->n, 0.50), "us");
    bench_line("bus.step_to_estimate_p99_us", pct(h->s2e, h->n, 0.99), "us");
    /* the parts side by side: send, the way through the broker, the read */
    double rarr = pct(r.arr, r.n, 0.50);
    printf("# bus.hop parts (p50, us): send %.1f raw (the publish call) vs %.1f twins (push, "
           "step, publish); publish's return to arrival %.1f vs %.1f; arrival to the read's "
           "return %.1f vs %.1f\n",
           pct(r.call, r.n, 0.50), pct(h->pub_in_step, h->n_pub, 0.50),
           pct(r.sent_to_arr, r.n, 0.50), pct(h->sent_to_arr, h->n_s2a, 0.50),
           raw50 - rarr, hop50 - pct(h->arr, h->n, 0.50));
    dt_io *sio = h->sio;
    printf("# bus.twins: publisher every %.0f ms, reader's cycle %.0f ms; %llu beliefs "
           "published, %llu reached the reader (lost %llu, unknown contract %llu, ring full "
           "%llu); %llu pushed inside a reader's step (not timed), %llu unpaired\n",
           (double)PERIOD_NS * 1e-6, (double)SUB_PERIOD_NS * 1e-6,
           (unsigned long long)t.published, (unsigned long long)counter(sio, "messages"),
           (unsigned long long)counter(sio, "lost"),
           (unsigned long long)counter(sio, "unknown_contract"),
           (unsigned long long)counter(sio, "ring_full"), (unsigned long long)h->in_step,
           (unsigned long long)h->unpaired);
    twins_close(&t);
    free(r.call);
    free(r.cb);
    free(r.arr);
    free(r.ret);
    free(r.sent_to_arr);
}

static uint64_t link_counter(dt_io *io, const char *name)
{
    dt_counter c[96];
    size_t n = dt_io_link_counters(io, 0, c, 96);
    for (size_t i = 0; i < n && i < 96; i++)
        if (strcmp(c[i].name, name) == 0)
            return c[i].value;
    die("a link counter is missing");
    return 0;
}

#define TWIN_SAMPLES 400000u
#define TWIN_PER_STEP 200
#define TWIN_WINDOW 400u /* messages in flight */

/* Polls what both twins watch until `until` (or readiness), hands the
 * readiness back. */
static void twins_poll(dt_twin *const *tw, int64_t until)
{
    struct pollfd p[8];
    dt_io_watch w[8];
    int owner[8];
    size_t k = 0;
    for (int i = 0; i < 2; i++) {
        dt_io_watch wi[4];
        size_t m = dt_io_watches(dt_twin_io(tw[i]), wi, 4);
        for (size_t j = 0; j < m && j < 4 && k < 8; j++, k++) {
            w[k] = wi[j];
            owner[k] = i;
            p[k] = (struct pollfd){wi[j].fd,
                                   (short)((wi[j].events & DT_WATCH_READ ? POLLIN : 0) |
                                           (wi[j].events & DT_WATCH_WRITE ? POLLOUT : 0)),
                                   0};
        }
    }
    int64_t d = until - mono_ns();
    struct timespec ts = {0, d > 0 ? (long)d : 0};
    if (ppoll(p, (nfds_t)k, &ts, NULL) <= 0)
        return;
    for (size_t j = 0; j < k; j++) {
        unsigned ev = (p[j].revents & (POLLIN | POLLHUP | POLLERR) ? DT_WATCH_READ : 0) |
                      (p[j].revents & POLLOUT ? DT_WATCH_WRITE : 0);
        if (ev)
            dt_io_ready(dt_twin_io(tw[owner[j]]), w[j].adapter, w[j].fd, ev, mono_ns());
    }
}

/* Samples through two twins: the publisher's stream, the reader's source. */
static void twin_samples(double raw_srate)
{
    dt_twin *pub = load(spub_fmt), *sub = load(ssub_fmt);
    dt_twin *tw[2] = {pub, sub};
    dt_io *pio = dt_twin_io(pub), *sio = dt_twin_io(sub);
    int64_t t0 = mono_ns();
    if (dt_twin_start(pub, t0) != DT_OK || dt_twin_start(sub, t0) != DT_OK)
        die("a twin did not start");
    int64_t last = t0;
    double v = 0;
    uint64_t mark_emitted = 0, mark_pushed = 0, pushed = 0;
    double start = 0;
    cpu_mark cm = {0};
    for (long iter = 0;; iter++) {
        if (iter > 50000000L || mono_ns() - t0 > 120 * 1000000000LL)
            die("the twins' samples did not arrive");
        uint64_t emitted = counter(sio, "samples_emitted");
        if (start == 0 && emitted > 0) { /* connected, the contract read: measure */
            start = bench_now();
            mark_emitted = emitted;
            mark_pushed = pushed;
            cm = cpu_now();
        }
        if (start != 0 && emitted - mark_emitted >= TWIN_SAMPLES)
            break;
        uint64_t sent = link_counter(pio, "bus.stream_messages");
        uint64_t got = counter(sio, "messages");
        if (start == 0 || sent - got < TWIN_WINDOW) {
            int64_t now = mono_ns();
            if (now <= last + TWIN_PER_STEP)
                now = last + TWIN_PER_STEP + 1;
            for (int i = 0; i < TWIN_PER_STEP; i++, v += 1e-3)
                if (dt_memory_source_push(pio, 0, "level", last + 1 + i, v) != DT_OK)
                    die("the publisher's ring refused a sample");
            pushed += TWIN_PER_STEP;
            if (dt_twin_step(pub, now) != DT_OK)
                die("the publisher's step failed");
            last = now;
        }
        twins_poll(tw, mono_ns() + 1000000);
        if (dt_twin_step(sub, mono_ns()) != DT_OK)
            die("the reader's step failed");
        for (int i = 0; i < 2; i++)
            if (dt_io_wake_at(dt_twin_io(tw[i])) <= mono_ns())
                dt_io_wake(dt_twin_io(tw[i]), mono_ns());
    }
    double secs = bench_now() - start;
    uint64_t emitted = counter(sio, "samples_emitted") - mark_emitted;
    double rate = (double)emitted / secs;
    bench_line("bus.twin_samples_per_s", rate, "samples/s");
    bench_line("bus.twin_samples_vs_raw", rate / raw_srate, "x");
    cpu_report("twin_samples", cm, (double)emitted, "sample");
    printf("# bus.twin_samples: %llu samples pushed to the publisher, %llu published in %llu "
           "messages (%llu unsent); the reader: %llu messages, %llu lost, %llu ring full\n",
           (unsigned long long)(pushed - mark_pushed),
           (unsigned long long)link_counter(pio, "bus.samples_published"),
           (unsigned long long)link_counter(pio, "bus.stream_messages"),
           (unsigned long long)link_counter(pio, "bus.samples_unsent"),
           (unsigned long long)counter(sio, "messages"), (unsigned long long)counter(sio, "lost"),
           (unsigned long long)counter(sio, "ring_full"));
    dt_twin_destroy(sub);
    dt_twin_destroy(pub);
}

static double g_srate; /* bus.samples_per_s, for the twins' ratio */

static void throughput(void)
{
    /* throughput: one double per message, then batches of samples */
    cli pub, sub;
    cli_open(&sub, M_COUNT, "dt/v1/r/pub/s/flow");
    cli_open(&pub, M_COUNT, NULL);
    flow(&pub, &sub, 20000, 0); /* warm-up */
    cpu_mark cm = cpu_now();
    uint64_t got0 = sub.received;
    double secs = flow(&pub, &sub, RAW_MSGS, 0);
    double raw_rate = (double)(sub.received - got0) / secs;
    bench_line("bus.raw_msgs_per_s", raw_rate, "msgs/s");
    cpu_report("raw", cm, (double)(sub.received - got0), "message");

    sub.mode = M_SAMPLES;
    flow(&pub, &sub, 5000, 1); /* warm-up */
    cm = cpu_now();
    uint64_t s0 = sub.samples, m0 = sub.received;
    secs = flow(&pub, &sub, SAMPLE_MSGS, 1);
    double srate = (double)(sub.samples - s0) / secs;
    bench_line("bus.samples_per_s", srate, "samples/s");
    g_srate = srate;
    bench_line("bus.sample_msgs_per_s", (double)(sub.received - m0) / secs, "msgs/s");
    bench_line("bus.samples_vs_raw_msgs", srate / raw_rate, "x");
    cpu_report("samples", cm, (double)(sub.received - m0), "message");
    if (sub.bad != 0)
        printf("# bus.samples: %llu records refused\n", (unsigned long long)sub.bad);
    bench_sink = sub.sum;
    cli_close(&pub);
    cli_close(&sub);
}

int main(int argc, char **argv)
{
    /* "hop": the latency phases only (to profile them alone) */
    int hop_only = argc > 1 && strcmp(argv[1], "hop") == 0;
    if (!broker_binary_found()) {
        printf("# bench_bus: skipped: the mosquitto broker is not installed (Debian package "
               "mosquitto: scripts/install-deps.sh)\n");
        return 0;
    }
    if (broker_start("") != 0) {
        dtt_broker_dump_log(&broker, "mosquitto");
        die("the broker did not start");
    }
    mosquitto_lib_init();

    if (!hop_only)
        throughput();

    /* round trips: ping, echo, pong; paced, then back to back */
    cli a, b, c;
    cli_open(&b, M_ECHO, "bench/ping");
    cli_open(&a, M_RTT, "bench/pong");
    cli_open(&c, M_ONEWAY, RAW_TOPIC);
    a.cap = b.cap = B2B_PINGS;
    a.lat = calloc(a.cap, sizeof(double));
    b.lat = calloc(b.cap, sizeof(double));
    if (!a.lat || !b.lat)
        die("out of memory");
    cpu_mark cm = cpu_now();
    pingpong(&a, &b, PINGS, 1);
    cpu_report("raw_paced", cm, PINGS, "round trip");
    /* its two legs: out to B's callback, back to A's (pingpong filled both
     * in order) */
    double out = block_median(b.lat, 0, b.nlat);
    for (size_t i = 0; i < a.nlat && i < b.nlat; i++)
        b.lat[i] = a.lat[i] - b.lat[i]; /* b.lat: the way back */
    g_rtt50 = pct(a.lat, a.nlat, 0.50);
    bench_line("bus.raw_rtt_paced_p50_us", g_rtt50, "us");
    bench_line("bus.raw_rtt_paced_p99_us", pct(a.lat, a.nlat, 0.99), "us");
    printf("# bus.raw_rtt_paced: the legs' p50: out %.1f us, back %.1f us (half a round trip "
           "is no one-way hop)\n",
           out, pct(b.lat, b.nlat, 0.50));
    pingpong(&a, &b, B2B_PINGS, 0);
    bench_line("bus.raw_rtt_b2b_p50_us", pct(a.lat, a.nlat, 0.50), "us");
    bench_line("bus.raw_rtt_b2b_p99_us", pct(a.lat, a.nlat, 0.99), "us");
    cli_close(&b);

    /* one-way hops: raw and two twins, interleaved */
    hops(&a, &c);
    cli_close(&a);
    cli_close(&c);
    mosquitto_lib_cleanup();
    /* twin samples through a stream, against the raw batched rate */
    if (!hop_only)
        twin_samples(g_srate);
    dtt_broker_stop(&broker);
    return 0;
}
