/* The UDP source driven through its loop hooks only, as a host's own loop
 * would (dt_io_watches, poll(2), dt_io_ready), with no twin step and no
 * dt_io_poll in between: a datagram's samples are in the source's ring as
 * soon as ready() returns. Also: the budget of a cycle is shared with ready(),
 * a paused source asks for no watch until the next poll, ready() ignores what
 * is not its socket, the sink asks for nothing. Real loopback sockets; the
 * waits are bounds, never asserted timings. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_util.h"

#include "dtwin/dtwin.h"

#ifndef DTT_BINARY_DIR
#define DTT_BINARY_DIR "."
#endif

/* level in cm on channel 1: the mapping converts to m (scale 0.01) */
#define HEAD                                                                                 \
    "{\"dtwin\":1,\"name\":\"hooks\",\"assets\":[{\"id\":\"p\"}],\"signals\":["              \
    "{\"id\":\"level\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\","              \
    "\"role\":\"measured\"},{\"id\":\"valve\",\"asset\":\"p\",\"quantity\":\"length\","      \
    "\"unit\":\"m\",\"role\":\"commanded\"}],\"sources\":[{\"id\":\"net\",\"kind\":\"udp\",\"auth\":\"none\","  \
    "\"port\":0,\"source_id\":42,\"timeout\":100,"                                             \
    "\"mapping\":[{\"channel\":1,\"signal\":\"level\",\"unit\":\"cm\"}]"

typedef struct rig {
    dt_model *model;
    dt_ingest *ing;
    dt_registry *reg;
    dt_io *io;
    dt_diag diag;
    int sock;
    struct sockaddr_in to;
    uint32_t seq;
} rig;

/* keys: extra keys of the source (each starting with a comma); tail: what
 * follows the sources array (e.g. a sinks array, starting with a comma) */
static void rig_open(rig *r, const char *keys, const char *tail)
{
    memset(r, 0, sizeof *r);
    char doc[2048];
    snprintf(doc, sizeof doc, "%s%s}]%s}", HEAD, keys ? keys : "", tail ? tail : "");
    dt_model_options o = DT_MODEL_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    assert_int_equal(dt_model_load_json(doc, strlen(doc), &o, &r->model, &r->diag), 0);
    dt_ingest_config ic = DT_INGEST_CONFIG_INIT;
    ic.logger = dt_logger_silent();
    assert_int_equal(dt_ingest_create(r->model, &ic, &r->ing), 0);
    assert_int_equal(dt_registry_create(NULL, &r->reg), 0);
    int rc = dt_io_create(r->model, r->ing, r->reg, DTT_BINARY_DIR, NULL, dt_logger_silent(),
                          &r->io, &r->diag);
    if (rc != 0)
        fail_msg("dt_io_create: %s", r->diag.message);
    assert_int_equal(dt_ingest_start(r->ing, 0), 0);
    dt_udp_stats st;
    assert_int_equal(dt_udp_source_stats(r->io, 0, &st), 0);
    r->sock = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(r->sock >= 0);
    r->to.sin_family = AF_INET;
    r->to.sin_port = htons(st.port);
    r->to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

static void rig_close(rig *r)
{
    close(r->sock);
    dt_io_destroy(r->io);
    dt_registry_destroy(r->reg);
    dt_ingest_destroy(r->ing);
    dt_model_destroy(r->model);
}

static dt_udp_stats stats(const rig *r)
{
    dt_udp_stats st;
    assert_int_equal(dt_udp_source_stats(r->io, 0, &st), 0);
    return st;
}

/* One frame of `count` records on channel 1, values v, v+1, ... (cm). */
static void send_frame(rig *r, size_t count, double v)
{
    dt_wire_sample recs[8];
    assert_true(count <= 8);
    for (size_t i = 0; i < count; i++)
        recs[i] = (dt_wire_sample){1, 0, (dt_time)(r->seq + 1) * DT_NS_PER_MS, v + (double)i, 0};
    uint8_t b[512];
    size_t n = dt_wire_encode_samples(b, sizeof b, 42, ++r->seq, recs, count);
    assert_true(n > 0);
    assert_true(sendto(r->sock, b, n, 0, (const struct sockaddr *)&r->to, sizeof r->to) ==
                (ssize_t)n);
}

/* The source's one watch: its socket, for reading, as source 0. */
static dt_io_watch the_watch(const rig *r)
{
    dt_io_watch w[4];
    assert_int_equal(dt_io_watches(r->io, w, 4), 1);
    assert_true(w[0].fd >= 0);
    assert_int_equal(w[0].events, DT_WATCH_READ);
    assert_int_equal(w[0].adapter, 0);
    return w[0];
}

/* What a host loop does: waits for the watched descriptor (a bound of 10 s,
 * for a shared machine; loopback delivers at once) and calls ready with what
 * poll(2) reported. */
static void wait_and_ready(rig *r, const dt_io_watch *w, dt_time now)
{
    struct pollfd p = {w->fd, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 10000), 1);
    assert_true(p.revents & POLLIN);
    dt_io_ready(r->io, w->adapter, w->fd, DT_WATCH_READ, now);
}

/* The ring of source 0, straight from the ingest stage (no ingest poll). */
static dt_ring *ring(rig *r) { return dt_ingest_ring(r->ing, dt_io_source_ingest_id(r->io, 0)); }

/* Datagrams reach the ring when ready() is called: nothing else runs. */
static void test_ready_delivers_at_once(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, NULL, NULL);
    dt_io_watch w = the_watch(&r);
    for (int k = 0; k < 3; k++) {
        send_frame(&r, 2, 100.0 * (k + 1));
        wait_and_ready(&r, &w, (dt_time)(k + 1) * DT_NS_PER_MS);
        dt_udp_stats st = stats(&r);
        assert_int_equal(st.datagrams, (uint64_t)k + 1);
        assert_int_equal(st.frames_ok, (uint64_t)k + 1);
        assert_int_equal(st.samples, 2 * ((uint64_t)k + 1));
        /* in the ring now, converted: cm -> m */
        dt_sample out[4];
        assert_int_equal(dt_ring_drain(ring(&r), out, 4), 2);
        assert_close(out[0].value, 1.0 * (k + 1), 1e-12, 0);
        assert_close(out[1].value, 1.0 * (k + 1) + 0.01, 1e-12, 0);
        /* stamped when received, not at the next step: a clock estimate on
         * arrivals quantized to the cycle saw the smallest delay move with
         * the sender's phase */
        assert_true(out[0].t_arrival == (dt_time)(k + 1) * DT_NS_PER_MS);
        assert_true(out[1].t_arrival == (dt_time)(k + 1) * DT_NS_PER_MS);
        /* the same socket, the same object: the loop keeps its registration */
        dt_io_watch again = the_watch(&r);
        assert_int_equal(again.fd, w.fd);
        assert_int_equal(again.gen, w.gen);
    }
    assert_int_equal(stats(&r).polls_limited, 0);
    /* drained by a poll instead: stamped with the poll's now */
    send_frame(&r, 1, 5.0);
    struct pollfd p = {w.fd, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 10000), 1);
    assert_int_equal(dt_io_poll(r.io, 7 * DT_NS_PER_MS), 0);
    dt_sample out[2];
    assert_int_equal(dt_ring_drain(ring(&r), out, 2), 1);
    assert_true(out[0].t_arrival == 7 * DT_NS_PER_MS);
    rig_close(&r);
}

/* ready() and poll share one budget per cycle; a spent budget pauses the
 * source, which then asks for no watch (a level-triggered loop would spin on
 * a socket it does not read) until the next poll gives a new budget. */
static void test_budget_pauses_watch(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, ",\"poll_datagrams\":4", NULL);
    dt_io_watch w = the_watch(&r);
    for (int k = 0; k < 6; k++)
        send_frame(&r, 1, 1.0);
    wait_and_ready(&r, &w, DT_NS_PER_MS);
    dt_udp_stats st = stats(&r);
    assert_int_equal(st.datagrams, 4);
    assert_int_equal(st.polls_limited, 1);
    assert_int_equal(dt_io_watches(r.io, NULL, 0), 0);
    /* still readable, but a ready call now reads nothing */
    struct pollfd p = {w.fd, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 0), 1);
    dt_io_ready(r.io, w.adapter, w.fd, DT_WATCH_READ, 2 * DT_NS_PER_MS);
    assert_int_equal(stats(&r).datagrams, 4);
    /* the next cycle: a new budget, the rest read, the watch back as it was */
    assert_int_equal(dt_io_poll(r.io, 10 * DT_NS_PER_MS), 0);
    st = stats(&r);
    assert_int_equal(st.datagrams, 6);
    assert_int_equal(st.polls_limited, 1);
    dt_io_watch back = the_watch(&r);
    assert_int_equal(back.fd, w.fd);
    assert_int_equal(back.gen, w.gen);
    /* ready calls after that poll spend what is left of its budget (2) */
    for (int k = 0; k < 3; k++)
        send_frame(&r, 1, 1.0);
    wait_and_ready(&r, &back, 11 * DT_NS_PER_MS);
    st = stats(&r);
    assert_int_equal(st.datagrams, 8);
    assert_int_equal(st.polls_limited, 2);
    assert_int_equal(dt_io_watches(r.io, NULL, 0), 0);
    assert_int_equal(dt_io_poll(r.io, 20 * DT_NS_PER_MS), 0);
    assert_int_equal(stats(&r).datagrams, 9);
    assert_int_equal(stats(&r).frames_ok, 9);
    rig_close(&r);
}

/* A full ring stops the reading from ready() as from poll: the rest of the
 * frame is counted, the source pauses. */
static void test_ready_ring_full(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, ",\"ring\":4", NULL);
    dt_io_watch w = the_watch(&r);
    send_frame(&r, 6, 1.0);
    send_frame(&r, 1, 1.0);
    wait_and_ready(&r, &w, DT_NS_PER_MS);
    dt_udp_stats st = stats(&r);
    assert_int_equal(st.datagrams, 1);
    assert_int_equal(st.samples, 5);         /* 4 stored, the 5th refused */
    assert_int_equal(st.records_dropped, 1); /* never offered */
    assert_int_equal(st.polls_limited, 1);
    assert_int_equal(dt_ring_size(ring(&r)), 4);
    assert_int_equal(dt_io_watches(r.io, NULL, 0), 0);
    rig_close(&r);
}

/* ready() for another descriptor, or for writing only, or for an adapter
 * that does not exist, reads nothing. */
static void test_ready_ignores_others(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, NULL, NULL);
    dt_io_watch w = the_watch(&r);
    send_frame(&r, 1, 1.0);
    struct pollfd p = {w.fd, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 10000), 1);
    dt_io_ready(r.io, w.adapter, r.sock, DT_WATCH_READ, DT_NS_PER_MS);
    dt_io_ready(r.io, w.adapter, w.fd, DT_WATCH_WRITE, DT_NS_PER_MS);
    dt_io_ready(r.io, 7, w.fd, DT_WATCH_READ, DT_NS_PER_MS);
    dt_io_ready(r.io, DT_IO_SINK | 0, w.fd, DT_WATCH_READ, DT_NS_PER_MS);
    assert_int_equal(stats(&r).datagrams, 0);
    dt_io_ready(r.io, w.adapter, w.fd, DT_WATCH_READ | DT_WATCH_WRITE, DT_NS_PER_MS);
    assert_int_equal(stats(&r).datagrams, 1);
    /* nothing left: a spurious wake-up reads nothing and charges nothing */
    dt_io_ready(r.io, w.adapter, w.fd, DT_WATCH_READ, DT_NS_PER_MS);
    dt_udp_stats st = stats(&r);
    assert_int_equal(st.datagrams, 1);
    assert_int_equal(st.recv_errors, 0);
    assert_int_equal(st.polls_limited, 0);
    rig_close(&r);
}

/* A twin with a UDP source and a UDP sink: only the source asks to be
 * watched (the sink sends without waiting), and neither asks to be woken. */
static void test_sink_watches_nothing(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, NULL,
             ",\"sinks\":[{\"id\":\"k\",\"kind\":\"udp\",\"auth\":\"none\",\"port\":9,\"source_id\":3,"
             "\"mapping\":[{\"signal\":\"valve\",\"channel\":1}]}]");
    assert_int_equal(dt_io_sink_count(r.io), 1);
    dt_io_watch w[4];
    assert_int_equal(dt_io_watches(r.io, w, 4), 1);
    assert_int_equal(w[0].adapter & DT_IO_SINK, 0);
    assert_true(dt_io_wake_at(r.io) == DT_TIME_MAX);
    rig_close(&r);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_ready_delivers_at_once),
    cmocka_unit_test(test_budget_pauses_watch),
    cmocka_unit_test(test_ready_ring_full),
    cmocka_unit_test(test_ready_ignores_others),
    cmocka_unit_test(test_sink_watches_nothing),
};

DTT_MAIN(tests)
