/* End to end: a simulated first-order plant, noisy measurements through a
 * memory source, a PID holding a setpoint through a memory sink, a step
 * disturbance, a sensor outage that drives the belief past its latency budget
 * and the dispatcher into the safe state, and recovery. */
#define _DEFAULT_SOURCE /* the socket calls */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

#include "alloc_counter.h"
#include "dtwin/dtwin.h"

static const char twin_doc[] =
    "{\"dtwin\":1,\"name\":\"loop\",\"assets\":[{\"id\":\"plant\"}],\"signals\":["
    "{\"id\":\"y\",\"asset\":\"plant\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","
    " \"period\":0.01,\"noise\":{\"std\":0.02},\"limits\":{\"min\":-5,\"max\":5}},"
    "{\"id\":\"y_est\",\"asset\":\"plant\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"estimated\"},"
    "{\"id\":\"d_est\",\"asset\":\"plant\",\"quantity\":\"velocity\",\"unit\":\"m/s\",\"role\":\"estimated\"},"
    "{\"id\":\"u\",\"asset\":\"plant\",\"quantity\":\"velocity\",\"unit\":\"m/s\",\"role\":\"commanded\","
    " \"limits\":{\"min\":0,\"max\":4}}],"
    "\"sources\":[{\"id\":\"sensor\",\"kind\":\"memory\",\"timeout\":0.2,"
    "  \"mapping\":[{\"native\":\"level\",\"signal\":\"y\"}]}],"
    "\"sinks\":[{\"id\":\"actuator\",\"kind\":\"memory\",\"capacity\":16,"
    "  \"mapping\":[{\"native\":\"pump\",\"signal\":\"u\"}]}],"
    "\"estimator\":{\"states\":[\"y_est\",\"d_est\"],\"inputs\":[\"u\"],"
    "  \"A\":[[-1,1],[0,0]],\"B\":[[1],[0]],\"Q\":[0.0004,0.01],\"x0\":[0,0],\"P0\":[0.0004,0.01],"
    "  \"measurements\":[{\"signal\":\"y\",\"H\":{\"y_est\":1}}],"
    "  \"bounds\":[{\"name\":\"level\",\"variance\":\"y_est\",\"max\":0.0025}]},"
    "\"controllers\":[{\"id\":\"level\",\"kind\":\"pid\",\"input\":\"y_est\",\"output\":\"u\","
    "  \"setpoint\":1.0,\"kp\":3,\"ki\":2,\"kd\":0.1,\"tf\":0.05}],"
    "\"dispatcher\":{\"max_data_age\":10,\"safe\":{\"u\":0},\"rate_limits\":{\"u\":2},\"audit\":32},"
    "\"loop\":{\"period\":0.01}}";

static uint64_t rs = 99;
static double gauss(void)
{
    rs = rs * 6364136223846793005ull + 1442695040888963407ull;
    double a = ((double)(rs >> 11) + 0.5) * 0x1.0p-53;
    rs = rs * 6364136223846793005ull + 1442695040888963407ull;
    double b = (double)(rs >> 11) * 0x1.0p-53;
    return sqrt(-2 * log(a)) * cos(6.283185307179586 * b);
}

typedef struct run_result {
    double y_at[4];      /* at 10, 20, 21.4, 30 s */
    uint64_t cmd_hash;
    int safe_during_outage, safe_after;
    dt_twin_stats st;
    long allocs_after_start;
    size_t pushed;
} run_result;

static void run(run_result *res, const dt_allocator *alloc)
{
    rs = 99;
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    o.allocator = alloc;
    dt_twin *t = NULL;
    dt_diag d;
    int rc = dt_twin_load_json(twin_doc, sizeof twin_doc - 1, &o, &t, &d);
    if (rc)
        print_error("%s\n", d.message);
    assert_int_equal(rc, 0);
    dtt_counter *ctr = alloc ? alloc->user : NULL;
    assert_int_equal(dt_twin_start(t, 0), 0);
    long calls = ctr ? ctr->calls : 0;
    dt_io *io = dt_twin_io(t);
    double y = 0, u = 0, dist = 0;
    const double dt = 0.01;
    memset(res, 0, sizeof *res);
    res->cmd_hash = 1469598103934665603ull;
    for (int k = 1; k <= 3000; k++) {
        dt_time now = (dt_time)k * 10 * DT_NS_PER_MS;
        double tsec = k * dt;
        if (tsec >= 10.0)
            dist = -0.6; /* a step disturbance */
        /* plant: y' = -y + u + d, exact for piecewise-constant input */
        double e = exp(-dt), f = u + dist;
        y = e * y + (1 - e) * f;
        int outage = tsec >= 20.0 && tsec < 21.5;
        if (!outage) {
            assert_int_equal(dt_memory_source_push(io, 0, "level", now, y + 0.02 * gauss()), 0);
            res->pushed++;
        }
        assert_int_equal(dt_twin_step(t, now), 0);
        dt_command c[16];
        size_t n = dt_memory_sink_read(io, 0, c, 16);
        for (size_t i = 0; i < n; i++) {
            u = c[i].value;
            uint64_t bits;
            memcpy(&bits, &u, sizeof bits);
            res->cmd_hash = (res->cmd_hash ^ bits) * 1099511628211ull;
        }
        dt_twin_stats st;
        if (k == 1000)
            res->y_at[0] = y;
        if (k == 2000)
            res->y_at[1] = y;
        if (k == 2140) {
            res->y_at[2] = y;
            dt_twin_stats_get(t, &st);
            res->safe_during_outage = st.safe_state;
        }
        if (k == 3000)
            res->y_at[3] = y;
    }
    dt_twin_stats_get(t, &res->st);
    res->safe_after = res->st.safe_state;
    res->allocs_after_start = ctr ? ctr->calls - calls : 0;
    dt_audit au[32];
    size_t na = dt_twin_audit(t, au, 32);
    assert_int_equal(na, 32);
    assert_true(au[31].decision & DT_DISP_SENT);
    dt_twin_destroy(t);
}

static void test_closed_loop_end_to_end(void **state)
{
    (void)state;
    dtt_counter ctr = {0};
    dt_allocator a = dtt_allocator(&ctr);
    run_result r;
    run(&r, &a);
    const dt_twin_stats *st = &r.st;
    print_message("y(10) %.3f y(20) %.3f y(21.4) %.3f y(30) %.3f; tau_max %.3f s; "
                  "sent %llu clamped %llu rate-limited %llu safe-stated %llu entries %llu\n",
                  r.y_at[0], r.y_at[1], r.y_at[2], r.y_at[3], st->tau_max_s,
                  (unsigned long long)st->sent, (unsigned long long)st->clamped,
                  (unsigned long long)st->rate_limited, (unsigned long long)st->safe_stated,
                  (unsigned long long)st->safe_entries);
    /* holds the setpoint, and again after the disturbance */
    assert_close(r.y_at[0], 1.0, 0, 0.05);
    assert_close(r.y_at[1], 1.0, 0, 0.05);
    /* the outage engaged the safe state (u = 0): the level fell */
    assert_true(r.safe_during_outage);
    assert_true(r.y_at[2] < 0.8);
    /* data came back: out of the safe state, setpoint regained */
    assert_false(r.safe_after);
    assert_close(r.y_at[3], 1.0, 0, 0.05);
    /* counters */
    assert_int_equal(st->cycles, 3000);
    assert_int_equal(st->safe_entries, 1);
    assert_true(st->safe_stated > 0);
    assert_true(st->rate_limited > 0);  /* the start and the recovery ramps */
    assert_int_equal(st->sink_errors, 0);
    assert_int_equal(st->expired, 0);
    assert_int_equal(st->interlocked, 0);
    assert_true(st->sent == st->commands);
    assert_true(st->tau_max_s > 0.05 && st->tau_max_s < 1.0);
    assert_true(st->belief_age_s < 0.05);
    const dt_source_stats *in = &st->ingest.total;
    assert_true(in->offered == r.pushed);
    assert_true(in->released + in->late + in->pending_merge == in->accepted);
    assert_int_equal(in->rejected_nonfinite + in->rejected_out_of_limits + in->rejected_future, 0);
    assert_int_equal(in->stale_events, 1); /* the outage */
    assert_true(st->estimator.updates + st->estimator.gated == in->released + in->late);
    assert_true(st->arrival_to_estimate.count > 0 && st->arrival_to_command.count > 0);
    assert_int_equal(r.allocs_after_start, 0);
    assert_int_equal(ctr.live, 0);
}

static void test_deterministic(void **state)
{
    (void)state;
    run_result a, b;
    run(&a, NULL);
    run(&b, NULL);
    assert_true(a.cmd_hash == b.cmd_hash);
    assert_memory_equal(a.y_at, b.y_at, sizeof a.y_at);
}

/* ---- flight recorder ---- */

typedef struct membuf {
    uint8_t *p;
    size_t len, cap, pos;
} membuf;

static int mem_write(void *user, const void *data, size_t len)
{
    membuf *m = user;
    if (m->len + len > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 65536;
        while (cap < m->len + len)
            cap *= 2;
        uint8_t *np = realloc(m->p, cap);
        if (np == NULL)
            return DT_ENOMEM;
        m->p = np;
        m->cap = cap;
    }
    memcpy(m->p + m->len, data, len);
    m->len += len;
    return 0;
}

static int mem_read(void *user, void *data, size_t len)
{
    membuf *m = user;
    if (m->pos == m->len)
        return DT_EEMPTY;
    if (m->len - m->pos < len)
        return DT_EIO;
    memcpy(data, m->p + m->pos, len);
    m->pos += len;
    return 0;
}

typedef struct trace {
    uint64_t hash, commands, steps;
} trace;

static void mix(uint64_t *h, uint64_t v) { *h = (*h ^ v) * 1099511628211ull; }

/* After each step: every new audit record and the estimator's state, bitwise. */
static void observe(void *user, dt_twin *t, dt_time now)
{
    trace *tr = user;
    dt_twin_stats st;
    dt_twin_stats_get(t, &st);
    dt_audit au[32];
    size_t fresh = (size_t)(st.commands - tr->commands);
    size_t got = dt_twin_audit(t, au, fresh < 32 ? fresh : 32);
    for (size_t i = 0; i < got; i++) {
        uint64_t bits;
        memcpy(&bits, &au[i].cmd.value, sizeof bits);
        mix(&tr->hash, bits);
        mix(&tr->hash, au[i].decision);
        mix(&tr->hash, au[i].cmd.seq);
    }
    tr->commands = st.commands;
    dt_est *e = dt_twin_estimator(t);
    const double *x = dt_kf_state(dt_est_kf(e)), *P = dt_kf_cov(dt_est_kf(e));
    for (size_t i = 0; i < dt_est_dim(e); i++) {
        uint64_t bx, bp;
        memcpy(&bx, &x[i], sizeof bx);
        memcpy(&bp, &P[i * dt_est_dim(e) + i], sizeof bp);
        mix(&tr->hash, bx);
        mix(&tr->hash, bp);
    }
    mix(&tr->hash, (uint64_t)now);
    tr->steps++;
}

static void test_record_and_replay(void **state)
{
    (void)state;
    membuf log = {0};
    trace live = {1469598103934665603ull, 0, 0}, again = live;
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_twin *t;
    assert_int_equal(dt_twin_load_json(twin_doc, sizeof twin_doc - 1, &o, &t, NULL), 0);
    assert_int_equal(dt_twin_record(t, mem_write, &log), 0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    assert_int_equal(dt_twin_record(t, mem_write, &log), DT_ESTATE);
    rs = 7;
    double y = 0, u = 0;
    dt_io *io = dt_twin_io(t);
    for (int k = 1; k <= 1500; k++) {
        dt_time now = (dt_time)k * 10 * DT_NS_PER_MS;
        double e = exp(-0.01);
        y = e * y + (1 - e) * (u + (k > 600 ? -0.6 : 0));
        int outage = k >= 900 && k < 1050;
        int drop = gauss() > 1.6; /* about 5 % of samples lost */
        if (!outage && !drop) {
            /* measured up to 8 ms earlier: arrival jitter */
            dt_time jitter = (dt_time)(fabs(gauss()) * 3e6);
            dt_memory_source_push(io, 0, "level", now - jitter, y + 0.02 * gauss());
        }
        if (k == 700) { /* a host command, recorded too */
            dt_signal_id us;
            dt_model_find_signal(dt_twin_model(t), "u", &us);
            dt_command c = {.signal = us, .seq = 0, .t_issued = now, .t_deadline = now + DT_NS_PER_S, .value = 3.0};
            assert_int_equal(dt_twin_submit(t, &c), 0);
        }
        assert_int_equal(dt_twin_step(t, now), 0);
        observe(&live, t, now);
        dt_command c[16];
        size_t n = dt_memory_sink_read(io, 0, c, 16);
        if (n > 0)
            u = c[n - 1].value;
    }
    dt_twin_destroy(t);
    print_message("flight log: %zu bytes for %llu steps\n", log.len,
                  (unsigned long long)live.steps);

    o.replay = 1;
    assert_int_equal(dt_twin_load_json(twin_doc, sizeof twin_doc - 1, &o, &t, NULL), 0);
    int rc = dt_twin_replay(t, mem_read, &log, observe, &again);
    if (rc)
        print_error("replay: %s (%s)\n", dt_strerror(rc), dt_twin_errmsg(t));
    assert_int_equal(rc, 0);
    assert_true(again.steps == live.steps);
    assert_true(again.commands == live.commands);
    assert_true(again.hash == live.hash); /* bit-identical estimates and commands */
    dt_twin_destroy(t);

    /* A log of another description is refused; a truncated one is reported. */
    char other[sizeof twin_doc];
    memcpy(other, twin_doc, sizeof other);
    char *kp = strstr(other, "\"kp\":3"); /* same shape, another gain */
    kp[5] = '4';
    assert_int_equal(dt_twin_load_json(other, strlen(other), &o, &t, NULL), 0);
    log.pos = 0;
    assert_int_equal(dt_twin_replay(t, mem_read, &log, NULL, NULL), DT_EABI);
    dt_twin_destroy(t);
    assert_int_equal(dt_twin_load_json(twin_doc, sizeof twin_doc - 1, &o, &t, NULL), 0);
    log.pos = 0;
    log.len -= 3;
    assert_int_equal(dt_twin_replay(t, mem_read, &log, NULL, NULL), DT_EPARSE);
    dt_twin_destroy(t);
    free(log.p);
}

static void test_no_allocation_over_100000_cycles(void **state)
{
    (void)state;
    dtt_counter ctr = {0};
    dt_allocator a = dtt_allocator(&ctr);
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    o.allocator = &a;
    dt_twin *t;
    assert_int_equal(dt_twin_load_json(twin_doc, sizeof twin_doc - 1, &o, &t, NULL), 0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    long calls = ctr.calls;
    dt_io *io = dt_twin_io(t);
    dt_command c[16];
    for (int k = 1; k <= 100000; k++) {
        dt_time now = (dt_time)k * 10 * DT_NS_PER_MS;
        if (k % 500 < 400) /* 1 s outages every 5 s: safe state in and out */
            dt_memory_source_push(io, 0, "level", now, 1.0 + 0.001 * (k % 7));
        dt_twin_step(t, now);
        dt_memory_sink_read(io, 0, c, 16);
    }
    dt_twin_stats st;
    dt_twin_stats_get(t, &st);
    assert_true(st.safe_entries > 100);
    assert_int_equal(ctr.calls, calls);
    dt_twin_destroy(t);
    assert_int_equal(ctr.live, 0);
}

/* Binds fd to an ephemeral loopback port; returns the port (a holds the address). */
#include "udp_loop_doc.h"

/* The loop over real sockets: samples in through the UDP source, commands
 * out through the UDP sink, checked on the wire. */
static void test_udp_end_to_end(void **state)
{
    (void)state;
    int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(rx >= 0 && tx >= 0);
    struct sockaddr_in a;
    char doc[2048];
    udp_doc(doc, sizeof doc, bind_loopback(rx, &a));
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_twin *t;
    dt_diag d;
    int rc = dt_twin_load_json(doc, strlen(doc), &o, &t, &d);
    if (rc)
        print_error("%s\n", d.message);
    assert_int_equal(rc, 0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    dt_udp_stats us;
    dt_udp_source_stats(dt_twin_io(t), 0, &us);
    struct sockaddr_in dst = a;
    dst.sin_port = htons(us.port);
    /* one sample of 250 mm: x -> 0.25 m, u = -2 x = -0.5 m = -50 cm on the wire */
    dt_wire_sample r = {4, 0, 0, 250.0, 0};
    uint8_t frame[128], in[256];
    size_t len = dt_wire_encode_samples(frame, sizeof frame, 11, 1, &r, 1);
    assert_true(sendto(tx, frame, len, 0, (struct sockaddr *)&dst, sizeof dst) == (ssize_t)len);
    dt_wire_command last = {0};
    int frames = 0;
    for (int k = 1; k <= 2000 && !(frames > 0 && last.value < -49); k++) {
        dt_twin_step(t, (dt_time)k * DT_NS_PER_MS);
        ssize_t n;
        while ((n = recv(rx, in, sizeof in, MSG_DONTWAIT)) > 0) {
            dt_wire_header h;
            assert_int_equal(dt_wire_decode(in, (size_t)n, &h), DT_WIRE_OK);
            assert_int_equal(h.source_id, 12);
            assert_int_equal(h.type, DT_WIRE_COMMANDS);
            dt_wire_command_at(in, 0, &last);
            assert_int_equal(last.channel, 9);
            frames++;
        }
        if (k % 100 == 0)
            nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    assert_true(frames > 0);
    assert_close(last.value, -50.0, 1e-3, 0); /* the estimate is 250 mm to 1 ppm */
    close(rx);
    close(tx);
    dt_twin_destroy(t);
}

typedef struct bang {
    int calls;
    dt_signal_id in, out;
} bang;

/* a bang-bang controller written by the host */
static int bang_bang(void *user, dt_ctrl_ctx *ctx)
{
    bang *b = user;
    double y;
    b->calls++;
    if (dt_ctrl_value(ctx, b->in, &y) != DT_OK)
        return DT_ENOTFOUND;
    return dt_ctrl_command(ctx, b->out, y < 1.0 ? 4.0 : 0.0);
}

static void test_callback_controller(void **state)
{
    (void)state;
    char doc[sizeof twin_doc + 64];
    const char *at = strstr(twin_doc, "{\"id\":\"level\",\"kind\":\"pid\"");
    const char *end = strstr(at, "}]");
    snprintf(doc, sizeof doc, "%.*s{\"id\":\"host\",\"kind\":\"callback\"%s",
             (int)(at - twin_doc), twin_doc, end);
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_twin *t;
    dt_diag d;
    int rc = dt_twin_load_json(doc, strlen(doc), &o, &t, &d);
    if (rc)
        print_error("%s\n", d.message);
    assert_int_equal(rc, 0);
    bang b = {0, 0, 0};
    dt_model_find_signal(dt_twin_model(t), "y_est", &b.in);
    dt_model_find_signal(dt_twin_model(t), "u", &b.out);
    assert_int_equal(dt_twin_set_callback(t, "nope", bang_bang, &b), DT_ENOTFOUND);
    assert_int_equal(dt_twin_set_callback(t, "host", bang_bang, &b), 0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    assert_int_equal(dt_twin_set_callback(t, "host", bang_bang, &b), DT_ESTATE);
    dt_io *io = dt_twin_io(t);
    double y = 0, u = 0;
    for (int k = 1; k <= 1000; k++) {
        dt_time now = (dt_time)k * 10 * DT_NS_PER_MS;
        y = exp(-0.01) * y + (1 - exp(-0.01)) * u;
        dt_memory_source_push(io, 0, "level", now, y);
        assert_int_equal(dt_twin_step(t, now), 0);
        dt_command c[16];
        size_t n = dt_memory_sink_read(io, 0, c, 16);
        if (n)
            u = c[n - 1].value;
    }
    assert_int_equal(b.calls, 1000);
    assert_close(y, 1.0, 0, 0.15); /* bang-bang around 1 */
    dt_twin_destroy(t);
}

typedef struct bad_twin {
    const char *from, *to;
    const char *message;
} bad_twin;

static const bad_twin bad_twins[] = {
    {"\"dispatcher\":{\"max_data_age\":10,\"safe\":{\"u\":0},", "\"dispatcher\":{\"safe\":{},",
     "dispatcher.safe: missing the safe value of \"u\""},
    {"\"safe\":{\"u\":0}", "\"safe\":{\"u\":9}",
     "dispatcher.safe.u: 9 is outside the signal's limits [0, 4] m/s"},
    {"\"kind\":\"pid\"", "\"kind\":\"lqr\"", "controllers[0].kind: no controller of kind \"lqr\""},
    {"\"output\":\"u\"", "\"output\":\"y\"",
     "controllers[0]: output: signal \"y\" is measured, expected commanded"},
    {"\"kp\":3,", "", "controllers[0]: kp: required number"},
    {"\"rate_limits\":{\"u\":2}", "\"rate_limits\":{\"u\":0}",
     "dispatcher.rate_limits.u: a positive rate in units per second"},
    {"\"loop\":{\"period\":0.01}", "\"loop\":{\"period\":0}",
     "loop.period: required, seconds in [1e-6, 3600], got 0"},
};

static void test_description_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_twins / sizeof bad_twins[0]; i++) {
        char doc[sizeof twin_doc + 64];
        const char *at = strstr(twin_doc, bad_twins[i].from);
        assert_non_null(at);
        size_t pre = (size_t)(at - twin_doc);
        snprintf(doc, sizeof doc, "%.*s%s%s", (int)pre, twin_doc, bad_twins[i].to,
                 at + strlen(bad_twins[i].from));
        dt_twin_options o = DT_TWIN_OPTIONS_INIT;
        o.logger = dt_logger_silent();
        dt_twin *t = NULL;
        dt_diag d;
        int rc = dt_twin_load_json(doc, strlen(doc), &o, &t, &d);
        if (rc == 0 || strcmp(d.message, bad_twins[i].message) != 0)
            print_error("case %zu: %s \"%s\"\n", i, dt_err_name(rc), d.message);
        assert_int_not_equal(rc, 0);
        assert_string_equal(d.message, bad_twins[i].message);
        assert_null(t);
    }
}

/* An interlock reads the belief: a twin without an estimator would load it
 * and never evaluate it (a safety rule silently off), so it is refused. */
static void test_interlock_needs_estimator(void **state)
{
    (void)state;
    static const char doc[] =
        "{\"dtwin\":1,\"name\":\"fwd\",\"assets\":[{\"id\":\"p\"}],\"signals\":["
        "{\"id\":\"s\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\"},"
        "{\"id\":\"u\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"commanded\"}],"
        "\"dispatcher\":{\"safe\":{\"u\":0},\"interlocks\":[{\"name\":\"high\",\"signal\":\"s\","
        "\"op\":\">\",\"value\":1,\"set\":{\"u\":0}}]},\"loop\":{\"period\":0.1}}";
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_twin *t = NULL;
    dt_diag d;
    assert_int_equal(dt_twin_load_json(doc, strlen(doc), &o, &t, &d), DT_EPARSE);
    assert_string_equal(d.message, "dispatcher.interlocks: interlocks read the estimator's "
                                   "belief; this twin has no estimator, so they could never "
                                   "engage");
    assert_null(t);
}

/* A step with one fresh sample of "m" (source 0) just before it: the
 * dispatcher tests need data younger than the data-age limit. */
static int step_fresh(dt_twin *t, dt_time now)
{
    assert_int_equal(dt_memory_source_push(dt_twin_io(t), 0, "m", now - DT_NS_PER_MS, 0.0), 0);
    return dt_twin_step(t, now);
}

static void test_dispatcher_rules(void **state)
{
    (void)state;
    /* No controller: host-submitted commands exercise clamping, rate limits,
     * deadlines and an interlock. */
    static const char doc[] =
        "{\"dtwin\":1,\"name\":\"d\",\"assets\":[{\"id\":\"p\"}],\"signals\":["
        "{\"id\":\"s\",\"asset\":\"p\",\"quantity\":\"velocity\",\"unit\":\"m/s\",\"role\":\"estimated\"},"
        "{\"id\":\"m\",\"asset\":\"p\",\"quantity\":\"velocity\",\"unit\":\"m/s\",\"role\":\"measured\","
        " \"noise\":{\"std\":0.1},\"period\":0.01},"
        "{\"id\":\"m_est\",\"asset\":\"p\",\"quantity\":\"velocity\",\"unit\":\"m/s\",\"role\":\"estimated\"},"
        "{\"id\":\"u\",\"asset\":\"p\",\"quantity\":\"velocity\",\"unit\":\"m/s\",\"role\":\"commanded\","
        " \"limits\":{\"min\":-1,\"max\":1}}],"
        "\"sinks\":[{\"id\":\"k\",\"kind\":\"memory\",\"mapping\":[{\"signal\":\"u\"}]}],"
        "\"sources\":[{\"id\":\"src\",\"kind\":\"memory\",\"mapping\":[{\"native\":\"m\",\"signal\":\"m\"}]}],"
        "\"estimator\":{\"states\":[\"s\",\"m_est\"],\"A\":[[0,0],[0,0]],\"Q\":[0,0],\"x0\":[2,0],"
        " \"P0\":[0.01,1],\"measurements\":[{\"signal\":\"m\",\"H\":{\"m_est\":1}}]},"
        "\"dispatcher\":{\"max_data_age\":10,\"safe\":{\"u\":0},\"rate_limits\":{\"u\":10},\"deadline\":0.05,"
        " \"interlocks\":[{\"name\":\"overspeed\",\"signal\":\"s\",\"op\":\">\",\"value\":1.5,"
        "   \"set\":{\"u\":-0.5}}]}}";
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_twin *t;
    dt_diag d;
    int rc = dt_twin_load_json(doc, sizeof doc - 1, &o, &t, &d);
    if (rc)
        print_error("%s\n", d.message);
    assert_int_equal(rc, 0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    dt_signal_id u;
    dt_model_find_signal(dt_twin_model(t), "u", &u);
    /* s = 2 > 1.5: the interlock forces -0.5 whatever is asked */
    dt_command c = {.signal = u, .seq = 1, .t_issued = 0, .t_deadline = DT_NS_PER_S, .value = 0.9};
    dt_twin_submit(t, &c);
    step_fresh(t, 10 * DT_NS_PER_MS);
    dt_audit a[4];
    assert_int_equal(dt_twin_audit(t, a, 4), 1);
    assert_true(a[0].decision & DT_DISP_INTERLOCKED);
    assert_close(a[0].cmd.value, -0.5, 0, 0);
    assert_close(a[0].requested, 0.9, 0, 0);
    dt_twin_destroy(t);
    /* Without the interlock: clamp, rate limit, expiry. */
    char doc2[sizeof doc];
    memcpy(doc2, doc, sizeof doc);
    char *v = strstr(doc2, "\"value\":1.5");
    memcpy(v, "\"value\":9.5", 11);
    rc = dt_twin_load_json(doc2, strlen(doc2), &o, &t, &d);
    assert_int_equal(rc, 0);
    dt_twin_start(t, 0);
    c.value = 5; /* above max 1: clamped; first command: no rate limit yet */
    dt_twin_submit(t, &c);
    step_fresh(t, 10 * DT_NS_PER_MS);
    c.value = -1; /* 10 ms later: at most 0.1 from 1 */
    c.t_deadline = DT_NS_PER_S;
    dt_twin_submit(t, &c);
    step_fresh(t, 20 * DT_NS_PER_MS);
    c.t_deadline = 25 * DT_NS_PER_MS; /* dispatched at 30 ms: expired */
    dt_twin_submit(t, &c);
    step_fresh(t, 30 * DT_NS_PER_MS);
    assert_int_equal(dt_twin_audit(t, a, 4), 3);
    assert_true(a[0].decision & DT_DISP_CLAMPED);
    assert_close(a[0].cmd.value, 1.0, 0, 0);
    assert_true(a[1].decision & DT_DISP_RATE_LIMITED);
    assert_close(a[1].cmd.value, 0.9, 1e-12, 0);
    assert_int_equal(a[2].decision, DT_DISP_EXPIRED);
    dt_twin_stats st;
    dt_twin_stats_get(t, &st);
    assert_int_equal(st.clamped, 1);
    assert_int_equal(st.rate_limited, 1);
    assert_int_equal(st.expired, 1);
    assert_int_equal(st.sent, 2);
    /* NaN from a host command: never sent as such */
    c.value = NAN;
    c.t_deadline = DT_NS_PER_S;
    dt_twin_submit(t, &c);
    step_fresh(t, 40 * DT_NS_PER_MS);
    assert_int_equal(dt_twin_audit(t, a, 4), 4);
    assert_true(a[3].decision & DT_DISP_SAFE_STATE);
    assert_true(isfinite(a[3].cmd.value));
    assert_int_equal(dt_twin_step(t, 30 * DT_NS_PER_MS), DT_ERANGE);
    dt_twin_destroy(t);

    /* Actuation outcome: confirm_timeout 20 ms; one command confirmed by a
     * read-back, the next never. */
    char doc3[sizeof doc + 32];
    const char *at = strstr(doc, "\"deadline\":0.05,");
    snprintf(doc3, sizeof doc3, "%.*s\"confirm_timeout\":0.02,%s", (int)(at - doc), doc, at);
    rc = dt_twin_load_json(doc3, strlen(doc3), &o, &t, &d);
    if (rc)
        print_error("%s\n", d.message);
    assert_int_equal(rc, 0);
    dt_twin_start(t, 0);
    c = (dt_command){.signal = u, .seq = 0, .t_issued = 0, .t_deadline = DT_NS_PER_S, .value = -0.5};
    dt_twin_submit(t, &c);
    step_fresh(t, 10 * DT_NS_PER_MS);
    dt_audit last;
    dt_twin_audit(t, &last, 1);
    assert_int_equal(dt_io_report(dt_twin_io(t), u, last.cmd.seq, -0.49, 12 * DT_NS_PER_MS), 0);
    double want, got;
    int ok;
    assert_int_equal(dt_twin_actuation(t, u, &want, &got, &ok), 0);
    assert_true(ok);
    assert_close(want, -0.5, 0, 0);
    assert_close(got, -0.49, 0, 0);
    c.value = -0.4;
    dt_twin_submit(t, &c);
    step_fresh(t, 40 * DT_NS_PER_MS);
    for (int k = 5; k <= 10; k++)
        step_fresh(t, k * 10 * DT_NS_PER_MS);
    dt_twin_actuation(t, u, &want, &got, &ok);
    assert_false(ok);
    dt_twin_stats_get(t, &st);
    assert_int_equal(st.unconfirmed, 1); /* counted once */
    dt_twin_destroy(t);
}

/* The latency rule with a large P0 (normal practice), a 50 ms loop and one
 * sensor at 50 ms. `phase`: how long before each step its sample was taken
 * (0: exactly on the step times); `ahead`: how far the sender's clock runs
 * ahead of ours (inside the 50 ms future tolerance). Before, the budget came
 * from P0 (0 s): the twin either sent most commands as safe values and still
 * ended "normal", or (samples on step times, age 0) acted on a budget of 0;
 * and a clock ahead made data look younger than it was. Now: the budget is
 * the steady state's, the safe state holds only while P0 breaks the bound,
 * and after the data stops it engages within tau_max + one period of the
 * last sample's arrival. */
static void latency_case(dt_time phase, dt_time ahead)
{
    static const char doc[] =
        "{\"dtwin\":1,\"name\":\"lr\",\"assets\":[{\"id\":\"p\"}],\"signals\":["
        "{\"id\":\"y\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","
        " \"noise\":{\"std\":0.01},\"period\":0.05},"
        "{\"id\":\"x\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"estimated\"},"
        "{\"id\":\"u\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"commanded\","
        " \"limits\":{\"min\":-10,\"max\":10}}],"
        "\"sources\":[{\"id\":\"s\",\"kind\":\"memory\",\"timeout\":100,"
        " \"mapping\":[{\"native\":\"y\",\"signal\":\"y\"}]}],"
        "\"estimator\":{\"states\":[\"x\"],\"A\":[[0]],\"Q\":[0.01],\"P0\":[100],\"gate\":1,"
        " \"measurements\":[{\"signal\":\"y\",\"H\":{\"x\":1}}],"
        " \"bounds\":[{\"name\":\"b\",\"variance\":\"x\",\"max\":0.005}]},"
        "\"controllers\":[{\"id\":\"c\",\"kind\":\"pid\",\"input\":\"x\",\"output\":\"u\","
        " \"setpoint\":1,\"kp\":1}],"
        "\"dispatcher\":{\"safe\":{\"u\":0}},\"loop\":{\"period\":0.05}}";
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_twin *t;
    dt_diag d;
    int rc = dt_twin_load_json(doc, sizeof doc - 1, &o, &t, &d);
    if (rc)
        print_error("%s\n", d.message);
    assert_int_equal(rc, 0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    dt_twin_stats st;
    dt_twin_stats_get(t, &st);
    /* steady state: P+ solves P+^2 + qT P+ - qT r = 0; tau = (max - P+) / q */
    double qT = 0.01 * 0.05, pp = 0.5 * (-qT + sqrt(qT * qT + 4 * qT * 1e-4));
    assert_close(st.tau_max_s, (0.005 - pp) / 0.01, 1e-6, 0);
    const dt_time per = 50 * DT_NS_PER_MS;
    dt_time last_arrival = 0, engaged = -1;
    for (int k = 1; k <= 400 && engaged < 0; k++) {
        dt_time now = (dt_time)k * per;
        if (k <= 200) {
            assert_int_equal(
                dt_memory_source_push(dt_twin_io(t), 0, "y", now - phase + ahead, 1.0), 0);
            last_arrival = now; /* stamped by the poll of this step */
        }
        assert_int_equal(dt_twin_step(t, now), 0);
        dt_twin_stats_get(t, &st);
        if (k <= 200) {
            assert_int_equal(st.safe_state, 0);
            assert_int_equal(st.safe_stated, 0); /* every command acted on data */
        }
        if (k > 200 && st.safe_state)
            engaged = now;
    }
    /* the first sample lands before the first decision, and P0 is forgotten
     * by its update: the only entry is the one after the data stopped */
    assert_int_equal(st.safe_entries, 1);
    assert_true(st.ingest.total.clamped_to_arrival == (ahead > phase ? 200u : 0u));
    double late = dt_time_to_sec(engaged - last_arrival) - st.tau_max_s;
    assert_true(late > 0 && late <= 0.05 + 1e-9);
    dt_twin_destroy(t);
}

static void test_latency_rule_large_p0_mid_period(void **state)
{
    (void)state;
    latency_case(25 * DT_NS_PER_MS, 0);
}

static void test_latency_rule_large_p0_on_step_times(void **state)
{
    (void)state;
    latency_case(0, 0);
}

static void test_latency_rule_sender_clock_ahead(void **state)
{
    (void)state;
    latency_case(0, 40 * DT_NS_PER_MS);
    latency_case(10 * DT_NS_PER_MS, 40 * DT_NS_PER_MS);
}

/* Refused at load: a commanding twin without a finite data-age limit, a
 * budget below one loop period, a non-positive max_data_age, a bound on a
 * measured signal without a period. */
static void test_latency_rule_load_errors(void **state)
{
    (void)state;
    static const char head[] =
        "{\"dtwin\":1,\"name\":\"lr\",\"assets\":[{\"id\":\"p\"}],\"signals\":["
        "{\"id\":\"y\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","
        " \"noise\":{\"std\":0.01}%s},"
        "{\"id\":\"x\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"estimated\"},"
        "{\"id\":\"u\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"commanded\"}],"
        "\"estimator\":{\"states\":[\"x\"],\"A\":[[%s]],\"Q\":[0.01],\"P0\":[100],"
        " \"measurements\":[{\"signal\":\"y\",\"H\":{\"x\":1}}]%s},"
        "\"dispatcher\":{\"safe\":{\"u\":0}%s},\"loop\":{\"period\":%s}}";
    static const struct {
        const char *period, *a, *bounds, *disp, *loop, *msg;
    } cases[] = {
        {",\"period\":0.05", "0", "", "", "0.05",
         "dispatcher.max_data_age: required: the twin dispatches commands (\"u\") and no "
         "latency budget limits the age of their data (give estimator.bounds a finite budget or "
         "dispatcher.max_data_age in seconds)"},
        {",\"period\":0.05", "-1", ",\"bounds\":[{\"name\":\"b\",\"variance\":\"x\",\"max\":1e6}]", "",
         "0.05",
         "dispatcher.max_data_age: required: the twin dispatches commands (\"u\") and no "
         "latency budget limits the age of their data (give estimator.bounds a finite budget or "
         "dispatcher.max_data_age in seconds)"},
        {",\"period\":0.05", "0", ",\"bounds\":[{\"name\":\"b\",\"variance\":\"x\",\"max\":0.0003}]", "",
         "0.05",
         "estimator.bounds: bound \"b\" needs variance <= 0.0003; at the sensors' rates it "
         "breaks 0.021459 s after a sample, before the next one arrives"},
        {",\"period\":0.01", "0", ",\"bounds\":[{\"name\":\"b\",\"variance\":\"x\",\"max\":0.0003}]", "",
         "0.05",
         "estimator.bounds[0]: bound \"b\": latency budget 0.0238197 s is below one loop "
         "period (0.05 s): the twin could never act"},
        {",\"period\":0.05", "0", ",\"bounds\":[{\"name\":\"b\",\"variance\":\"x\",\"max\":5e-05}]", "",
         "0.05",
         "estimator.bounds: bound \"b\" needs variance <= 5e-05; at the sensors' rates the "
         "filter reaches 8.54102e-05"},
        {"", "0", ",\"bounds\":[{\"name\":\"b\",\"variance\":\"x\",\"max\":1}]", "", "0.05",
         "estimator.bounds: measured signal \"y\" has no period: the latency budget needs the "
         "rate of every measured signal"},
        {",\"period\":0.05", "0", "", ",\"max_data_age\":0.01", "0.05",
         "dispatcher.max_data_age: 0.01 s is below one loop period (0.05 s): the twin could "
         "never act"},
        {",\"period\":0.05", "0", "", ",\"max_data_age\":0", "0.05",
         "dispatcher.max_data_age: 0 is not in (0, 3600] seconds"},
        {",\"period\":0.05", "0", "", ",\"max_data_age\":\"1\"", "0.05",
         "dispatcher.max_data_age: expected seconds in (0, 3600]"},
    };
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char doc[4096];
        snprintf(doc, sizeof doc, head, cases[i].period, cases[i].a, cases[i].bounds,
                 cases[i].disp, cases[i].loop);
        dt_twin *t = NULL;
        dt_diag d;
        int rc = dt_twin_load_json(doc, strlen(doc), &o, &t, &d);
        if (rc == 0 || strcmp(d.message, cases[i].msg) != 0)
            print_error("case %zu: rc %d: %s\n", i, rc, d.message);
        assert_int_not_equal(rc, 0);
        assert_string_equal(d.message, cases[i].msg);
        assert_null(t);
    }
}

/* An allocator that remembers the largest request. */
static size_t largest_request;
static void *big_malloc(void *u, size_t n)
{
    (void)u;
    largest_request = n > largest_request ? n : largest_request;
    return malloc(n);
}
static void *big_realloc(void *u, void *p, size_t n)
{
    (void)u;
    largest_request = n > largest_request ? n : largest_request;
    return realloc(p, n);
}
static void big_free(void *u, void *p)
{
    (void)u;
    free(p);
}

/* Each limit holds alone, their product may not: 64 sources with 2^24-slot
 * rings in a description of a few kB would touch ~42 GB. Refused before any
 * allocation, naming the largest consumers; a budget in the description
 * moves the line. */
static void test_memory_budget(void **state)
{
    (void)state;
    static char doc[32768];
    size_t len = (size_t)snprintf(doc, sizeof doc,
                                  "{\"dtwin\":1,\"name\":\"big\",%s\"assets\":[{\"id\":\"p\"}],"
                                  "\"signals\":[{\"id\":\"y\",\"asset\":\"p\",\"quantity\":\"length\","
                                  "\"unit\":\"m\",\"role\":\"measured\"}],\"sources\":[",
                                  "");
    for (int k = 0; k < 64; k++)
        len += (size_t)snprintf(doc + len, sizeof doc - len,
                                "%s{\"id\":\"s%d\",\"kind\":\"memory\",\"ring\":%d,\"reorder\":%d,"
                                "\"mapping\":[{\"native\":\"y\",\"signal\":\"y\"}]}",
                                k ? "," : "", k, k == 7 ? 16777216 : 1 << 20, 1 << 20);
    len += (size_t)snprintf(doc + len, sizeof doc - len, "]}");
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_allocator a = {big_malloc, big_realloc, big_free, NULL};
    o.allocator = &a;
    largest_request = 0;
    dt_twin *t = NULL;
    dt_diag d;
    assert_int_equal(dt_twin_load_json(doc, len, &o, &t, &d), DT_ELIMIT);
    assert_null(t);
    print_message("%s\n", d.message);
    assert_string_equal(d.path, "memory");
    assert_string_equal(d.message,
                        "memory: the twin needs about 5729 MiB, above its budget of 256 MiB; "
                        "largest: sources[7] (ring 16777216 + reorder 1048576) 680 MiB, "
                        "sources[0] (ring 1048576 + reorder 1048576) 80 MiB, sources[1] (ring "
                        "1048576 + reorder 1048576) 80 MiB");
    assert_true(largest_request < 1 << 20); /* refused before any ring was allocated */
    /* a budget given in the description: one source of 2^15 + 2^15 samples
     * (2.5 MiB) fits 4 MiB, not 2 MiB */
    static char with[sizeof doc + 64];
    static const char small[] =
        "{\"memory\":{\"max_bytes\":%d},\"dtwin\":1,\"name\":\"s\",\"assets\":[{\"id\":\"p\"}],"
        "\"signals\":[{\"id\":\"y\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\","
        "\"role\":\"measured\"}],\"sources\":[{\"id\":\"s\",\"kind\":\"memory\",\"ring\":32768,"
        "\"reorder\":32768,\"mapping\":[{\"native\":\"y\",\"signal\":\"y\"}]}]}";
    snprintf(with, sizeof with, small, 4 << 20);
    assert_int_equal(dt_twin_load_json(with, strlen(with), &o, &t, &d), 0);
    dt_twin_destroy(t);
    snprintf(with, sizeof with, small, 2 << 20);
    assert_int_equal(dt_twin_load_json(with, strlen(with), &o, &t, &d), DT_ELIMIT);
    assert_string_equal(d.path, "memory.max_bytes");
    snprintf(with, sizeof with, "{\"memory\":{\"max_bytes\":1000},%s", doc + 1);
    assert_int_equal(dt_twin_load_json(with, strlen(with), &o, &t, &d), DT_EPARSE);
    assert_string_equal(d.message, "memory.max_bytes: 1000 is not an integer in 1048576.."
                                   "1099511627776 bytes (1 MiB .. 1 TiB)");
    snprintf(with, sizeof with, "{\"memory\":{\"max\":1},%s", doc + 1);
    assert_int_equal(dt_twin_load_json(with, strlen(with), &o, &t, &d), DT_EPARSE);
    assert_string_equal(d.message, "memory: expected {\"max_bytes\": bytes}, got other keys");
    /* the adapters' own buffers count: 64 CSV sources of 2-slot rings need
     * about 9 MiB (read buffers, lines, fields), not the few kB of their rings */
    len = (size_t)snprintf(doc, sizeof doc,
                           "{\"memory\":{\"max_bytes\":1048576},\"dtwin\":1,\"name\":\"c\","
                           "\"assets\":[{\"id\":\"p\"}],\"signals\":[{\"id\":\"y\",\"asset\":\"p\","
                           "\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\"}],"
                           "\"sources\":[");
    for (int k = 0; k < 64; k++)
        len += (size_t)snprintf(doc + len, sizeof doc - len,
                                "%s{\"id\":\"c%d\",\"kind\":\"csv\",\"file\":\"x.csv\",\"ring\":2,"
                                "\"reorder\":2,\"mapping\":[{\"native\":\"y\",\"signal\":\"y\"}]}",
                                k ? "," : "", k);
    len += (size_t)snprintf(doc + len, sizeof doc - len, "]}");
    assert_int_equal(dt_twin_load_json(doc, len, &o, &t, &d), DT_ELIMIT);
    assert_string_equal(d.path, "memory.max_bytes");
}

/* A sensor slower than its declared period (1.7 s against 0.1 s) still
 * arrives within the budget (1.73 s), so the data never looks too old; but
 * between its samples the belief's variance passes the bound. The bound is
 * checked on the belief at every cycle's time, not at the last sample, so
 * the safe state engages while the data is younger than tau_max (found by a
 * red-team pass: 1356 cycles with commands sent on a belief beyond its bound). */
static void test_bound_checked_at_now(void **state)
{
    (void)state;
    static const char doc[] =
        "{\"dtwin\":1,\"name\":\"slow\",\"assets\":[{\"id\":\"p\"}],\"signals\":["
        "{\"id\":\"y\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","
        " \"noise\":{\"variance\":1},\"period\":0.1},"
        "{\"id\":\"x\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"estimated\"},"
        "{\"id\":\"u\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"commanded\"}],"
        "\"sources\":[{\"id\":\"s\",\"kind\":\"memory\",\"timeout\":100,"
        " \"mapping\":[{\"native\":\"y\",\"signal\":\"y\"}]}],"
        "\"estimator\":{\"states\":[\"x\"],\"A\":[[0]],\"Q\":[1],\"P0\":[1],\"gate\":1,"
        " \"measurements\":[{\"signal\":\"y\",\"H\":{\"x\":1}}],"
        " \"bounds\":[{\"name\":\"b\",\"variance\":\"x\",\"max\":2}]},"
        "\"dispatcher\":{\"safe\":{\"u\":0}},\"loop\":{\"period\":0.01}}";
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_twin *t;
    assert_int_equal(dt_twin_load_json(doc, sizeof doc - 1, &o, &t, NULL), 0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    dt_twin_stats st;
    dt_twin_stats_get(t, &st);
    /* closed form: P+ solves P+^2 + qT P+ - qT r = 0 (qT = 0.1, r = 1) */
    double pp = 0.5 * (-0.1 + sqrt(0.01 + 0.4));
    assert_close(st.tau_max_s, 2.0 - pp, 1e-6, 0);
    int young_and_safe = 0;
    for (int k = 1; k <= 2000; k++) {
        dt_time now = (dt_time)k * 10 * DT_NS_PER_MS;
        if (k % 170 == 0) /* every 1.7 s */
            assert_int_equal(dt_memory_source_push(dt_twin_io(t), 0, "y", now - DT_NS_PER_MS, 0),
                             0);
        assert_int_equal(dt_twin_step(t, now), 0);
        dt_twin_stats_get(t, &st);
        if (k > 400 && st.safe_state && st.belief_age_s < st.tau_max_s)
            young_and_safe++;
        /* the variance at now: never acted on above the bound */
        dt_belief b;
        dt_signal_id x;
        assert_int_equal(dt_model_find_signal(dt_twin_model(t), "x", &x), 0);
        assert_int_equal(dt_est_belief(dt_twin_estimator(t), x, now, &b), 0);
        if (k > 400 && b.variance > 2.0 + 1e-9)
            assert_int_equal(st.safe_state, 1);
    }
    assert_true(young_and_safe > 100);
    dt_twin_destroy(t);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_closed_loop_end_to_end),
    cmocka_unit_test(test_deterministic),
    cmocka_unit_test(test_record_and_replay),
    cmocka_unit_test(test_no_allocation_over_100000_cycles),
    cmocka_unit_test(test_udp_end_to_end),
    cmocka_unit_test(test_callback_controller),
    cmocka_unit_test(test_description_errors),
    cmocka_unit_test(test_interlock_needs_estimator),
    cmocka_unit_test(test_dispatcher_rules),
    cmocka_unit_test(test_latency_rule_large_p0_mid_period),
    cmocka_unit_test(test_latency_rule_large_p0_on_step_times),
    cmocka_unit_test(test_latency_rule_sender_clock_ahead),
    cmocka_unit_test(test_latency_rule_load_errors),
    cmocka_unit_test(test_memory_budget),
    cmocka_unit_test(test_bound_checked_at_now),
};

DTT_MAIN(tests)
