/* The UDP source under attack and under honest trouble (docs/wire.md):
 * forged sequence jumps, replays, sender restarts (with and without an epoch),
 * floods bounded per poll, cheap checks before the CRC, a full ring, and the
 * warning for an unauthenticated non-loopback bind. Real loopback sockets; the
 * twin's time is the test's (no wall-clock assertion anywhere). */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

#include "dtwin/dtwin.h"

#ifndef DTT_BINARY_DIR
#define DTT_BINARY_DIR "."
#endif

#define HEAD                                                                                  \
    "{\"dtwin\":1,\"name\":\"udp\",\"assets\":[{\"id\":\"p\"}],\"signals\":["                 \
    "{\"id\":\"level\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":"     \
    "\"measured\"}],\"sources\":[{\"id\":\"net\",\"kind\":\"udp\",\"auth\":\"none\",\"port\":0,\"source_id\":42," \
    "\"timeout\":100,\"mapping\":[{\"channel\":1,\"signal\":\"level\"}]"

typedef struct logcap {
    int warns;
    char first[256];
} logcap;

static void capture(void *user, dt_log_level level, const char *module, const char *msg)
{
    (void)module;
    logcap *c = user;
    if (level == DT_LOG_WARN && c->warns++ == 0)
        snprintf(c->first, sizeof c->first, "%s", msg);
}

typedef struct rig {
    dt_model *model;
    dt_ingest *ing;
    dt_registry *reg;
    dt_io *io;
    dt_diag diag;
    int rc, sock;
    struct sockaddr_in to;
    dt_time now;
    uint64_t sent;
    logcap log;
} rig;

/* keys: extra keys of the udp source (each starting with a comma) */
static void rig_open(rig *r, const char *keys)
{
    memset(r, 0, sizeof *r);
    char doc[2048];
    snprintf(doc, sizeof doc, "%s%s}]}", HEAD, keys ? keys : "");
    dt_model_options o = DT_MODEL_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    assert_int_equal(dt_model_load_json(doc, strlen(doc), &o, &r->model, &r->diag), 0);
    dt_ingest_config ic = DT_INGEST_CONFIG_INIT;
    ic.logger = dt_logger_silent();
    assert_int_equal(dt_ingest_create(r->model, &ic, &r->ing), 0);
    assert_int_equal(dt_registry_create(NULL, &r->reg), 0);
    dt_logger lg = {capture, &r->log, DT_LOG_DEBUG};
    r->rc = dt_io_create(r->model, r->ing, r->reg, DTT_BINARY_DIR, NULL, &lg, &r->io, &r->diag);
    if (r->rc != 0)
        return;
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
    if (r->sock > 0)
        close(r->sock);
    dt_io_destroy(r->io);
    dt_registry_destroy(r->reg);
    dt_ingest_destroy(r->ing);
    dt_model_destroy(r->model);
}

static dt_udp_stats stats(rig *r)
{
    dt_udp_stats st;
    assert_int_equal(dt_udp_source_stats(r->io, 0, &st), 0);
    return st;
}

/* One poll at the rig's time, then the ingest drains its ring (as a cycle
 * would), so a long test never fills it. */
static void cycle(rig *r)
{
    assert_int_equal(dt_io_poll(r->io, r->now), 0);
    dt_ingest_poll(r->ing, r->now);
    dt_sample out[64];
    while (dt_ingest_release(r->ing, out, 64) > 0) {
    }
}

/* Polls until every datagram sent reached the socket's reader (loopback
 * delivers at once; the wait is a bound, not a timing). */
static void settle(rig *r)
{
    for (int k = 0; k < 2000; k++) {
        cycle(r);
        dt_udp_stats st = stats(r);
        if (st.datagrams + st.recv_errors + st.kernel_dropped >= r->sent)
            return;
        nanosleep(&(struct timespec){0, 500000}, NULL);
    }
    fail_msg("datagrams did not arrive");
}

static void send_raw(rig *r, const uint8_t *b, size_t n)
{
    assert_true(sendto(r->sock, b, n, 0, (const struct sockaddr *)&r->to, sizeof r->to) ==
                (ssize_t)n);
    r->sent++;
}

/* A one-record frame; version 1 when epoch < 0. */
static size_t frame(uint8_t *b, uint32_t id, int epoch, uint32_t seq, double v, dt_time t)
{
    dt_wire_sample s = {1, 0, t, v, 0};
    dt_wire_header h = {epoch < 0 ? 1 : 2, DT_WIRE_SAMPLES, id, seq, 1,
                        (uint16_t)(epoch < 0 ? 0 : epoch)};
    size_t n = dt_wire_encode_samples_v2(b, 64, &h, &s, 1);
    assert_true(n == 56);
    return n;
}

/* Sends frame (epoch, seq) and polls it in. */
static void send_seq(rig *r, int epoch, uint32_t seq)
{
    uint8_t b[64];
    send_raw(r, b, frame(b, 42, epoch, seq, (double)seq, r->now));
    settle(r);
}

/* ---- sequence attacks ---- */

/* One forged frame about 2^31 ahead, then 300 replays of frames already
 * received: the replays are all refused, `lost` stays 0, and the honest
 * sender carries on as if nothing happened. */
static void test_forged_jump_then_replays(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, NULL);
    assert_int_equal(r.rc, 0);
    static uint8_t saved[100][64];
    for (uint32_t q = 1; q <= 100; q++) {
        r.now += 20 * DT_NS_PER_MS;
        frame(saved[q - 1], 42, -1, q, (double)q, r.now);
        send_raw(&r, saved[q - 1], 56);
        settle(&r);
    }
    uint8_t b[64];
    send_raw(&r, b, frame(b, 42, -1, 100u + 0x7FFFFFF0u, 99.0, r.now)); /* forged */
    settle(&r);
    for (int i = 0; i < 300; i++) { /* replays, oldest first, three rounds */
        send_raw(&r, saved[i % 100], 56);
        if (i % 50 == 49)
            settle(&r);
    }
    settle(&r);
    for (uint32_t q = 101; q <= 120; q++) {
        r.now += 20 * DT_NS_PER_MS;
        send_seq(&r, -1, q);
    }
    dt_udp_stats st = stats(&r);
    assert_int_equal(st.lost, 0);
    assert_int_equal(dt_io_source_events(r.io, 0, DT_EV_LOST), 0);
    assert_int_equal(st.frames_ok, 120);
    assert_int_equal(st.samples, 120);
    assert_int_equal(st.duplicate + st.too_old, 300);
    assert_int_equal(st.unconfirmed, 1); /* the forged frame */
    assert_int_equal(st.jumps + st.restarts + st.reordered, 0);
    assert_true(st.datagrams == st.frames_ok + st.duplicate + st.frames_rejected);
    rig_close(&r);
}

/* An honest gap of 990 frames (an outage): the first frame after it waits,
 * the second confirms the jump; the gap is counted lost; replays of frames
 * from before the gap are refused as too old. */
static void test_confirmed_jump(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, NULL);
    assert_int_equal(r.rc, 0);
    for (uint32_t q = 1; q <= 10; q++)
        send_seq(&r, -1, q);
    for (uint32_t q = 1001; q <= 1003; q++)
        send_seq(&r, -1, q);
    dt_udp_stats st = stats(&r);
    assert_int_equal(st.unconfirmed, 1);
    assert_int_equal(st.jumps, 1);
    assert_int_equal(st.frames_ok, 12);
    assert_int_equal(st.lost, 990); /* 11..1000 (1001 arrived: refused, not lost) */
    for (uint32_t q = 1; q <= 10; q++)
        send_seq(&r, -1, q); /* replays from before the jump */
    send_seq(&r, -1, 1001);   /* the refused candidate, replayed: seen */
    st = stats(&r);
    assert_int_equal(st.too_old, 10);
    assert_int_equal(st.duplicate, 1);
    assert_int_equal(st.frames_ok, 12);
    rig_close(&r);
}

/* A forged FIRST frame cannot lock the honest sender out: two honest frames
 * in a row move the window that rests on a single frame. */
static void test_forged_first_frame(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, NULL);
    assert_int_equal(r.rc, 0);
    send_seq(&r, -1, 0x80000005u); /* forged, arrives first */
    for (uint32_t q = 1; q <= 50; q++)
        send_seq(&r, -1, q);
    dt_udp_stats st = stats(&r);
    assert_int_equal(st.unconfirmed, 1); /* honest frame 1 */
    assert_int_equal(st.frames_ok, 1 + 49);
    assert_int_equal(st.lost, 0);
    assert_int_equal(st.jumps, 1);
    /* and the forged frame, replayed, is refused (far ahead, unconfirmed) */
    send_seq(&r, -1, 0x80000005u);
    st = stats(&r);
    assert_int_equal(st.unconfirmed, 2);
    assert_int_equal(st.frames_ok, 1 + 49);
    rig_close(&r);
}

/* ---- sender restarts ---- */

/* A sender's first session: seq 0..99 every 20 ms, the frames kept for replays. */
static void first_session(rig *r, int epoch, uint8_t old[100][64])
{
    for (uint32_t q = 0; q < 100; q++) {
        r->now += 20 * DT_NS_PER_MS;
        frame(old[q], 42, epoch, q, 1.0, r->now);
        send_raw(r, old[q], 56);
        settle(r);
    }
}

/* Version 2: a sensor reboots and starts again from seq 0 in epoch 2. Data
 * flows again at its second frame; the previous session's frames, replayed
 * byte for byte, are refused (stale_epoch), and so is a single forged frame
 * of a newer epoch. */
static void test_restart_with_epoch(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, NULL);
    assert_int_equal(r.rc, 0);
    static uint8_t old[100][64];
    first_session(&r, 1, old);
    r.now += 300 * DT_NS_PER_MS; /* the reboot: shorter than restart_after */
    uint64_t ok0 = stats(&r).frames_ok;
    for (uint32_t q = 0; q < 50; q++) {
        r.now += 20 * DT_NS_PER_MS;
        send_seq(&r, 2, q);
    }
    dt_udp_stats st = stats(&r);
    assert_int_equal(st.restarts, 1);
    assert_int_equal(st.epoch, 2);
    assert_int_equal(st.unconfirmed, 1);        /* seq 0 of epoch 2 */
    assert_int_equal(st.frames_ok - ok0, 49);   /* data from the second frame on */
    assert_int_equal(st.duplicate + st.reordered, 0);
    for (uint32_t q = 0; q < 100; q++) { /* replay of the previous session */
        send_raw(&r, old[q], 56);
        if (q % 50 == 49)
            settle(&r);
    }
    send_seq(&r, 3, 50); /* one forged frame of epoch 3 */
    send_seq(&r, 2, 50); /* the sender carries on */
    st = stats(&r);
    assert_int_equal(st.stale_epoch, 100);
    assert_int_equal(st.unconfirmed, 2);
    assert_int_equal(st.restarts, 1);
    assert_int_equal(st.epoch, 2);
    assert_int_equal(st.frames_ok - ok0, 50);
    assert_true(st.datagrams == st.frames_ok + st.duplicate + st.frames_rejected);
    rig_close(&r);
}

/* Version 1 (no epoch): a sensor reboots after 2 s of silence and starts
 * again from seq 0. Today it lost its first 64 frames as duplicates; now the
 * restart is recognised at its second frame. */
static void test_restart_v1_after_silence(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, NULL);
    assert_int_equal(r.rc, 0);
    static uint8_t old[100][64];
    first_session(&r, -1, old);
    r.now += 2 * DT_NS_PER_S;
    uint64_t ok0 = stats(&r).frames_ok;
    for (uint32_t q = 0; q < 200; q++) {
        r.now += 20 * DT_NS_PER_MS;
        send_seq(&r, -1, q);
    }
    dt_udp_stats st = stats(&r);
    assert_int_equal(st.restarts, 1);
    assert_int_equal(st.unconfirmed, 1);
    assert_int_equal(st.frames_ok - ok0, 199);
    assert_int_equal(st.duplicate + st.reordered + st.too_old, 0);
    /* the previous session replayed while the sender is live: refused (too
     * old), never taken for another restart */
    for (uint32_t q = 0; q < 100; q++) {
        send_raw(&r, old[q], 56);
        if (q % 50 == 49)
            settle(&r);
    }
    st = stats(&r);
    assert_int_equal(st.too_old, 100);
    assert_int_equal(st.restarts, 1);
    assert_int_equal(st.frames_ok - ok0, 199);
    rig_close(&r);
}

/* Version 1, a quick reboot (0.2 s, less than restart_after = 1 s): its frames
 * are refused until the source has been silent for restart_after, then the
 * restart is recognised: data flows again within restart_after x rate + 2
 * frames. */
static void test_restart_v1_quick_reboot_bounded(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, NULL);
    assert_int_equal(r.rc, 0);
    for (uint32_t q = 0; q < 200; q++) { /* so that seq 0 is far behind */
        r.now += 20 * DT_NS_PER_MS;
        send_seq(&r, -1, q);
    }
    r.now += 200 * DT_NS_PER_MS;
    uint64_t ok0 = stats(&r).frames_ok;
    uint32_t first_ok = 0;
    for (uint32_t q = 0; q < 100 && first_ok == 0; q++) {
        r.now += 20 * DT_NS_PER_MS;
        send_seq(&r, -1, q);
        if (stats(&r).frames_ok > ok0)
            first_ok = q + 1;
    }
    dt_udp_stats st = stats(&r);
    assert_int_equal(st.restarts, 1);
    assert_true(first_ok > 0 && first_ok <= 50 + 2);
    rig_close(&r);
}

/* ---- floods ---- */

/* Each poll reads at most poll_datagrams; the rest waits in the kernel's
 * buffer for the next polls, and every datagram ends counted. */
static void test_poll_budget_datagrams(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, ",\"poll_datagrams\":8");
    assert_int_equal(r.rc, 0);
    uint8_t b[64];
    for (uint32_t q = 1; q <= 100; q++)
        send_raw(&r, b, frame(b, 42, -1, q, 1.0, 0));
    cycle(&r);
    dt_udp_stats st = stats(&r);
    assert_int_equal(st.datagrams, 8);
    assert_int_equal(st.polls_limited, 1);
    uint64_t prev = st.datagrams;
    for (int k = 0; k < 100 && st.datagrams + st.kernel_dropped < 100; k++) {
        cycle(&r);
        st = stats(&r);
        assert_true(st.datagrams - prev <= 8);
        prev = st.datagrams;
    }
    assert_int_equal(st.datagrams + st.kernel_dropped, 100);
    assert_int_equal(st.frames_ok, st.datagrams);
    rig_close(&r);
}

/* Max-size frames: poll_bytes bounds a poll to what the budget allows plus
 * at most one datagram. */
static void test_poll_budget_bytes(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, ",\"poll_bytes\":100000,\"max_count\":2046,\"ring\":4096");
    assert_int_equal(r.rc, 0);
    static uint8_t big[DT_WIRE_MAX_DATAGRAM];
    static dt_wire_sample recs[DT_WIRE_MAX_SAMPLES];
    for (size_t i = 0; i < DT_WIRE_MAX_SAMPLES; i++)
        recs[i] = (dt_wire_sample){1, 0, 0, 1.0, 0};
    uint64_t prev = 0;
    for (uint32_t q = 1; q <= 40; q++) {
        size_t n = dt_wire_encode_samples(big, sizeof big, 42, q, recs, DT_WIRE_MAX_SAMPLES);
        assert_int_equal(n, DT_WIRE_HEADER + DT_WIRE_MAX_SAMPLES * DT_WIRE_SAMPLE_RECORD +
                                DT_WIRE_TRAILER); /* 65496: whole records */
        send_raw(&r, big, n);
        if (q % 4 == 0) {
            cycle(&r);
            dt_udp_stats st = stats(&r);
            assert_true(st.bytes - prev < 100000 + DT_WIRE_MAX_DATAGRAM);
            prev = st.bytes;
        }
    }
    settle(&r);
    dt_udp_stats st = stats(&r);
    assert_true(st.polls_limited > 0);
    assert_int_equal(st.datagrams + st.kernel_dropped, 40);
    assert_int_equal(st.records, st.frames_ok * DT_WIRE_MAX_SAMPLES);
    assert_int_equal(st.records, st.samples + st.bad_records + st.unmapped_records +
                                     st.records_dropped);
    rig_close(&r);
}

/* The cheap fields come before the CRC: a frame with a foreign id and a bad
 * CRC is refused for its id (no CRC was computed over it). */
static void test_id_checked_before_crc(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, NULL);
    assert_int_equal(r.rc, 0);
    uint8_t b[64];
    size_t n = frame(b, 99, -1, 1, 1.0, 0);
    b[n - 1] ^= 0x55; /* CRC wrong too */
    send_raw(&r, b, n);
    n = frame(b, 42, -1, 1, 1.0, 0);
    b[n - 1] ^= 0x55;
    send_raw(&r, b, n);
    settle(&r);
    dt_udp_stats st = stats(&r);
    assert_int_equal(st.wrong_source, 1);
    assert_int_equal(st.rejected[DT_WIRE_BAD_CRC], 1);
    assert_int_equal(st.frames_rejected, 2);
    rig_close(&r);
}

/* The ring refuses: decoding stops, the rest of the frame is counted as
 * dropped, and later datagrams wait for the next poll. */
static void test_ring_full_stops_decoding(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, ",\"ring\":4,\"max_count\":64");
    assert_int_equal(r.rc, 0);
    dt_wire_sample recs[10];
    for (int i = 0; i < 10; i++)
        recs[i] = (dt_wire_sample){1, 0, 0, 1.0, 0};
    uint8_t b[512];
    for (uint32_t q = 1; q <= 3; q++)
        send_raw(&r, b, dt_wire_encode_samples(b, sizeof b, 42, q, recs, 10));
    assert_int_equal(dt_io_poll(r.io, 0), 0); /* no drain: the ring stays full */
    dt_udp_stats st = stats(&r);
    assert_int_equal(st.datagrams, 1);
    assert_int_equal(st.samples, 5);         /* 4 stored, the 5th refused */
    assert_int_equal(st.records_dropped, 5); /* never offered */
    assert_int_equal(st.polls_limited, 1);
    dt_source_stats ss;
    assert_int_equal(dt_ingest_source_stats(r.ing, 0, &ss), 0);
    assert_int_equal(ss.dropped_newest, 1);
    settle(&r); /* drained each cycle: the other two come in */
    st = stats(&r);
    assert_int_equal(st.datagrams, 3);
    assert_int_equal(st.records, 30);
    assert_int_equal(st.records, st.samples + st.records_dropped);
    rig_close(&r);
}

/* ---- configuration and the unauthenticated bind ---- */

static void test_budget_keys(void **state)
{
    (void)state;
    static const struct {
        const char *keys;
        int ok;
        const char *msg;
    } cases[] = {
        {",\"poll_datagrams\":0,\"poll_bytes\":0,\"restart_after\":0", 1, NULL},
        {",\"poll_datagrams\":-1", 0, "poll_datagrams: 0 (default 256) or 1..1000000 per poll"},
        {",\"poll_datagrams\":1.5", 0, "poll_datagrams"},
        {",\"poll_bytes\":\"x\"", 0, "poll_bytes: 0 (default 262144) or 1..2^30 per poll"},
        {",\"restart_after\":-1", 0, "restart_after: 0 (default 1) or seconds up to 86400"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rig r;
        rig_open(&r, cases[i].keys);
        if (cases[i].ok) {
            assert_int_equal(r.rc, 0);
        } else {
            assert_int_equal(r.rc, DT_EINVAL);
            if (strstr(r.diag.message, cases[i].msg) == NULL)
                print_error("case %zu: %s\n", i, r.diag.message);
            assert_non_null(strstr(r.diag.message, cases[i].msg));
        }
        rig_close(&r);
    }
}

static void test_nonloopback_bind_refused_without_key(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, ",\"bind\":\"0.0.0.0\"");
    assert_int_equal(r.rc, DT_EINVAL);
    assert_non_null(strstr(r.diag.message, "auth: \"none\" binds to an address that is not loopback"));
    rig_close(&r);
    rig_open(&r, ",\"bind\":\"127.0.0.2\"");
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.log.warns, 0);
    rig_close(&r);
}

/* ---- the wire format's versions ---- */

static void test_wire_versions(void **state)
{
    (void)state;
    uint8_t b[128];
    dt_wire_sample s = {1, 0, -5, 2.5, 0};
    dt_wire_header h = {2, DT_WIRE_SAMPLES, 9, 77, 1, 0xBEEF}, d;
    size_t n = dt_wire_encode_samples_v2(b, sizeof b, &h, &s, 1);
    assert_int_equal(n, 56);
    assert_int_equal(dt_wire_decode(b, n, &d), DT_WIRE_OK);
    assert_int_equal(d.version, 2);
    assert_int_equal(d.epoch, 0xBEEF);
    assert_int_equal(d.seq, 77);
    assert_int_equal(d.source_id, 9);
    /* version 1 has no epoch: the encoder refuses one, the decoder a non-zero
     * reserved field */
    h.version = 1;
    assert_int_equal(dt_wire_encode_samples_v2(b, sizeof b, &h, &s, 1), 0);
    h.epoch = 0;
    n = dt_wire_encode_samples_v2(b, sizeof b, &h, &s, 1);
    uint8_t v1[128];
    assert_int_equal(dt_wire_encode_samples(v1, sizeof v1, 9, 77, &s, 1), n);
    assert_memory_equal(b, v1, n); /* the old encoder writes version 1 */
    b[18] = 1;
    assert_int_equal(dt_wire_decode_header(b, n, &d), DT_WIRE_BAD_RESERVED);
    b[18] = 0;
    h.version = 3;
    assert_int_equal(dt_wire_encode_samples_v2(b, sizeof b, &h, &s, 1), 0);
    assert_int_equal(dt_wire_encode_samples_v2(b, sizeof b, NULL, &s, 1), 0);
    /* the header check leaves the CRC to dt_wire_check_crc */
    n = dt_wire_encode_samples(b, sizeof b, 9, 77, &s, 1);
    b[n - 1] ^= 1;
    assert_int_equal(dt_wire_decode_header(b, n, &d), DT_WIRE_OK);
    assert_int_equal(dt_wire_check_crc(b, n), DT_WIRE_BAD_CRC);
    assert_int_equal(dt_wire_decode(b, n, &d), DT_WIRE_BAD_CRC);
    assert_int_equal(dt_wire_check_crc(b, 3), DT_WIRE_SHORT);
    b[4] = 3; /* version 3 carries a 16-byte MAC: this frame is 12 bytes short of one */
    assert_int_equal(dt_wire_decode_header(b, n, &d), DT_WIRE_TRUNCATED);
    b[4] = 4;
    assert_int_equal(dt_wire_decode_header(b, n, &d), DT_WIRE_BAD_VERSION);
    /* the command encoder too */
    dt_wire_command c = {1, 0, 5, 10, 20, 1.0};
    h = (dt_wire_header){2, 0, 9, 1, 0, 3};
    n = dt_wire_encode_commands_v2(b, sizeof b, &h, &c, 1);
    assert_int_equal(n, 64);
    assert_int_equal(dt_wire_decode(b, n, &d), DT_WIRE_OK);
    assert_int_equal(d.type, DT_WIRE_COMMANDS);
    assert_int_equal(d.epoch, 3);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_forged_jump_then_replays),
    cmocka_unit_test(test_confirmed_jump),
    cmocka_unit_test(test_forged_first_frame),
    cmocka_unit_test(test_restart_with_epoch),
    cmocka_unit_test(test_restart_v1_after_silence),
    cmocka_unit_test(test_restart_v1_quick_reboot_bounded),
    cmocka_unit_test(test_poll_budget_datagrams),
    cmocka_unit_test(test_poll_budget_bytes),
    cmocka_unit_test(test_id_checked_before_crc),
    cmocka_unit_test(test_ring_full_stops_decoding),
    cmocka_unit_test(test_budget_keys),
    cmocka_unit_test(test_nonloopback_bind_refused_without_key),
    cmocka_unit_test(test_wire_versions),
};

DTT_MAIN(tests)
