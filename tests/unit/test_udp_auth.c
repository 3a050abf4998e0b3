/* Authenticated UDP frames (wire version 3) as an attacker meets them: a
 * source with a key ("auth": "mac") takes only frames whose MAC verifies
 * under it. Forged frames (another key, every single-bit flip of a real
 * frame, a jump 2^31 ahead sent twice in a row), replays, downgrades to
 * versions 1 and 2, frames from another address than the pinned peer: all
 * refused and counted, the sequence window never moved by them, the honest
 * sender undisturbed. Extreme values inside authentic frames reach ingest's
 * checks. The configuration's refusals; the keyed sink; and the key bytes
 * never in a block the twin freed. */
#define _DEFAULT_SOURCE
#include <math.h>
#include <sys/stat.h>

#include "test_util.h"

#include "dtwin/dtwin.h"

#include "udp_auth_rig.h"
#include "key_scan.h"

/* A one-record version 3 frame under key (value v, time t). */
static size_t frame3(uint8_t *b, const dt_key *key, uint16_t epoch, uint32_t seq, double v,
                     dt_time t)
{
    dt_wire_sample s = {1, 0, t, v, 0};
    dt_wire_header h = {3, DT_WIRE_SAMPLES, ID, seq, 1, epoch};
    size_t n = dt_wire_encode_samples_auth(b, 128, &h, &s, 1, key);
    assert_int_equal(n, DT_WIRE_HEADER + DT_WIRE_SAMPLE_RECORD + DT_WIRE_MAC_TRAILER);
    return n;
}

static void test_keyed_source_takes_authentic_frames(void **state)
{
    (void)state;
    keydir k;
    keys_make(&k);
    rig r;
    rig_open(&r, k.path, ",\"auth\":\"mac\",\"key\":\"link\"");
    assert_int_equal(r.rc, 0);
    uint8_t b[128];
    for (uint32_t q = 1; q <= 50; q++) {
        r.now += 10 * DT_NS_PER_MS;
        send_raw(&r, b, frame3(b, k.link, 7, q, (double)q, r.now));
    }
    settle(&r);
    dt_udp_stats st = stats(&r);
    assert_int_equal(st.frames_ok, 50);
    assert_int_equal(st.samples, 50);
    assert_int_equal(st.frames_rejected + st.bad_mac + st.lost, 0);
    assert_int_equal(st.epoch, 7);
    rig_close(&r);
    keys_rm(&k);
}

/* Every forgery refused, counted, and the window where the honest sender
 * left it: 1000 frames under another key (seq ahead, jumps of 2^31 sent in
 * consecutive pairs, a newer epoch), every single-bit flip of a real frame,
 * a truncated tag. Without the key two consecutive frames move the window
 * (docs/wire.md); with it, nothing the attacker sends does. */
static void test_forgeries_never_move_the_window(void **state)
{
    (void)state;
    keydir k;
    keys_make(&k);
    rig r;
    rig_open(&r, k.path, ",\"auth\":\"mac\",\"key\":\"link\"");
    assert_int_equal(r.rc, 0);
    uint8_t b[128];
    uint32_t q = 0;
    for (; q < 10; q++) {
        r.now += 10 * DT_NS_PER_MS;
        send_raw(&r, b, frame3(b, k.link, 1, q + 1, 1.0, r.now));
    }
    settle(&r);
    uint64_t forged = 0;
    for (uint32_t i = 0; i < 1000; i++) {
        uint32_t seq = i % 4 == 0   ? q + 1 + i % 63           /* just ahead */
                       : i % 4 == 1 ? q + 0x80000000u + i / 2 /* pairs far ahead */
                       : i % 4 == 2 ? q + 0x80000001u + i / 2
                                    : i;
        uint16_t epoch = i % 4 == 3 ? 2 : 1; /* a "restart" */
        send_raw(&r, b, frame3(b, k.other, epoch, seq, 1e6, r.now));
        forged++;
        if (i % 100 == 99)
            settle(&r);
    }
    /* every single-bit flip of a frame the honest sender would send next */
    uint8_t real[128];
    size_t n = frame3(real, k.link, 1, q + 1, 1.0, r.now);
    for (size_t bit = 0; bit < 8 * n; bit++) {
        memcpy(b, real, n);
        b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        send_raw(&r, b, n);
        if (bit % 100 == 99)
            settle(&r);
    }
    send_raw(&r, real, n - 1); /* a cut tag: the length no longer fits the count */
    settle(&r);
    dt_udp_stats st = stats(&r);
    /* a flipped bit lands where the header check, the source_id check or the
     * MAC catches it; never accepted */
    assert_int_equal(st.frames_ok, 10);
    assert_int_equal(st.samples, 10);
    assert_int_equal(st.frames_rejected, forged + 8 * n + 1);
    assert_true(st.bad_mac >= forged + 8 * (DT_WIRE_SAMPLE_RECORD + DT_WIRE_MAC_TRAILER));
    assert_int_equal(st.unconfirmed + st.jumps + st.restarts + st.lost + st.duplicate, 0);
    assert_int_equal(st.epoch, 1);
    /* the honest sender carries on from where it was */
    send_raw(&r, real, n);
    for (uint32_t j = 2; j <= 5; j++)
        send_raw(&r, b, frame3(b, k.link, 1, q + j, 1.0, r.now));
    settle(&r);
    st = stats(&r);
    assert_int_equal(st.frames_ok, 15);
    assert_int_equal(st.lost, 0);
    assert_true(st.datagrams == st.frames_ok + st.duplicate + st.frames_rejected);
    rig_close(&r);
    keys_rm(&k);
}

/* Replays of authentic frames: the MAC verifies, the window refuses them
 * (duplicate inside it, too old behind it, stale after a new epoch). */
static void test_replays_refused(void **state)
{
    (void)state;
    keydir k;
    keys_make(&k);
    rig r;
    rig_open(&r, k.path, ",\"auth\":\"mac\",\"key\":\"link\"");
    assert_int_equal(r.rc, 0);
    static uint8_t saved[200][128];
    size_t n = 0;
    for (uint32_t q = 1; q <= 200; q++) {
        r.now += 10 * DT_NS_PER_MS;
        n = frame3(saved[q - 1], k.link, 4, q, (double)q, r.now);
        send_raw(&r, saved[q - 1], n);
        if (q % 50 == 0)
            settle(&r);
    }
    settle(&r);
    for (int i = 0; i < 1000; i++) {
        send_raw(&r, saved[i % 200], n);
        if (i % 100 == 99)
            settle(&r);
    }
    settle(&r);
    dt_udp_stats st = stats(&r);
    assert_int_equal(st.frames_ok, 200);
    assert_int_equal(st.duplicate + st.too_old, 1000);
    /* a restart (epoch 5, confirmed by its second frame), then the old epoch's frames */
    uint8_t b[128];
    send_raw(&r, b, frame3(b, k.link, 5, 0, 0.0, r.now));
    send_raw(&r, b, frame3(b, k.link, 5, 1, 0.0, r.now));
    settle(&r);
    for (int i = 0; i < 200; i++)
        send_raw(&r, saved[i], n);
    settle(&r);
    st = stats(&r);
    assert_int_equal(st.restarts, 1);
    assert_int_equal(st.stale_epoch, 200);
    assert_int_equal(st.frames_ok, 201);
    rig_close(&r);
    keys_rm(&k);
}

/* No downgrade: versions 1 and 2 with a good CRC are refused by a keyed
 * source (unauthenticated); a keyless source refuses version 3 (it cannot
 * verify it: bad_mac). */
static void test_no_downgrade(void **state)
{
    (void)state;
    keydir k;
    keys_make(&k);
    rig r;
    rig_open(&r, k.path, ",\"auth\":\"mac\",\"key\":\"link\"");
    assert_int_equal(r.rc, 0);
    uint8_t b[128];
    dt_wire_sample s = {1, 0, 0, 1.0, 0};
    for (uint32_t q = 1; q <= 1000; q++) {
        dt_wire_header h = {q % 2 ? 1 : 2, DT_WIRE_SAMPLES, ID, q, 1, q % 2 ? 0 : 9};
        send_raw(&r, b, dt_wire_encode_samples_v2(b, sizeof b, &h, &s, 1));
        if (q % 100 == 0)
            settle(&r);
    }
    dt_udp_stats st = stats(&r);
    assert_int_equal(st.unauthenticated, 1000);
    assert_int_equal(st.frames_rejected, 1000);
    assert_int_equal(st.frames_ok, 0);
    rig_close(&r);

    rig_open(&r, k.path, ",\"auth\":\"none\"");
    assert_int_equal(r.rc, 0);
    for (uint32_t q = 1; q <= 100; q++)
        send_raw(&r, b, frame3(b, k.link, 1, q, 1.0, 0));
    settle(&r);
    st = stats(&r);
    assert_int_equal(st.bad_mac, 100);
    assert_int_equal(st.frames_ok, 0);
    rig_close(&r);
    keys_rm(&k);
}

/* A pinned peer: frames from any other address are refused before the
 * header is read, authentic or not. */
static void test_peer_pinned(void **state)
{
    (void)state;
    keydir k;
    keys_make(&k);
    rig r;
    rig_open(&r, k.path, ",\"auth\":\"mac\",\"key\":\"link\",\"peer\":\"127.0.0.2\"");
    assert_int_equal(r.rc, 0);
    int pinned = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = inet_addr("127.0.0.2");
    assert_int_equal(bind(pinned, (struct sockaddr *)&a, sizeof a), 0);
    uint8_t b[128];
    for (uint32_t q = 1; q <= 100; q++) /* from 127.0.0.1: the wrong host */
        send_raw(&r, b, frame3(b, k.link, 1, q, 1.0, 0));
    settle(&r);
    for (uint32_t q = 1; q <= 10; q++)
        send_from(&r, pinned, b, frame3(b, k.link, 1, q, 1.0, 0));
    settle(&r);
    dt_udp_stats st = stats(&r);
    assert_int_equal(st.wrong_peer, 100);
    assert_int_equal(st.frames_ok, 10);
    close(pinned);
    rig_close(&r);
    keys_rm(&k);
}

/* Authentic frames with hostile values reach ingest's checks: the MAC
 * vouches for the sender, not for its numbers. */
static void test_authentic_extremes_reach_ingest(void **state)
{
    (void)state;
    keydir k;
    keys_make(&k);
    rig r;
    rig_open(&r, k.path, ",\"auth\":\"mac\",\"key\":\"link\"");
    assert_int_equal(r.rc, 0);
    r.now = 10 * DT_NS_PER_S;
    const struct {
        double v;
        dt_time t;
    } bad[] = {{NAN, r.now},       {INFINITY, r.now}, {1e300, r.now},
               {1.0, INT64_MIN},   {1.0, INT64_MAX},  {1.0, r.now + ((dt_time)1 << 31) * 1000}};
    uint8_t b[128];
    uint32_t q = 1;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        send_raw(&r, b, frame3(b, k.link, 1, q++, bad[i].v, bad[i].t));
    send_raw(&r, b, frame3(b, k.link, 1, q++, 2.5, r.now));
    settle(&r);
    dt_udp_stats st = stats(&r);
    assert_int_equal(st.frames_ok, q - 1);
    double got[16];
    size_t n = cycle(&r, got, 16);
    dt_source_stats ss;
    assert_int_equal(dt_ingest_source_stats(r.ing, 0, &ss), 0);
    assert_int_equal(ss.rejected_nonfinite, 2);
    assert_int_equal(ss.rejected_out_of_limits, 1);
    assert_true(ss.rejected_bad_time + ss.rejected_future >= 3);
    assert_int_equal(n, 0); /* the good one waits for its time; none of the bad ones came */
    rig_close(&r);
    keys_rm(&k);
}

static void expect_refused(const char *dir, const char *keys, const char *says)
{
    rig r;
    rig_open(&r, dir, keys);
    if (r.rc == 0)
        fail_msg("%s: accepted", keys);
    if (strstr(r.diag.message, says) == NULL)
        fail_msg("%s: \"%s\" does not say \"%s\"", keys, r.diag.message, says);
    rig_close(&r);
}

static void test_configuration_refusals(void **state)
{
    (void)state;
    keydir k;
    keys_make(&k);
    expect_refused(k.path, "", "auth: required: \"mac\" with \"key\"");
    expect_refused(k.path, ",\"auth\":\"hmac\"", "auth: required");
    expect_refused(k.path, ",\"auth\":\"\"", "auth: required");
    expect_refused(k.path, ",\"auth\":0", "auth: required");
    expect_refused(k.path, ",\"auth\":\"mac\"", "key: required with \"auth\": \"mac\"");
    expect_refused(k.path, ",\"auth\":\"mac\",\"key\":\"\"", "key: required");
    expect_refused(k.path, ",\"auth\":\"mac\",\"key\":\"nokey\"", "nokey.key");
    expect_refused(k.path, ",\"auth\":\"mac\",\"key\":\"../link\"", "key name");
    expect_refused(k.path, ",\"auth\":\"none\",\"key\":\"link\"", "key: given with");
    expect_refused(k.path, ",\"auth\":\"none\",\"bind\":\"0.0.0.0\"", "not loopback");
    expect_refused(k.path, ",\"auth\":\"none\",\"bind\":\"::\"", "not loopback");
    expect_refused(k.path, ",\"auth\":\"mac\",\"key\":\"link\",\"peer\":\"localhost\"",
                   "peer: expected the sender's numeric IP address");
    expect_refused("/nonexistent/keys", ",\"auth\":\"mac\",\"key\":\"link\"",
                   "/nonexistent/keys");
    /* a key file others can read is refused, naming the fix */
    char p[160];
    snprintf(p, sizeof p, "%s/link.key", k.path);
    assert_int_equal(chmod(p, 0644), 0);
    expect_refused(k.path, ",\"auth\":\"mac\",\"key\":\"link\"", "chmod 600");
    /* a keyed source on any address: accepted */
    assert_int_equal(chmod(p, 0600), 0);
    rig r;
    rig_open(&r, k.path, ",\"auth\":\"mac\",\"key\":\"link\",\"bind\":\"0.0.0.0\"");
    assert_int_equal(r.rc, 0);
    rig_close(&r);
    keys_rm(&k);
}

/* The keyed sink sends version 3 frames that verify under its key and no
 * other; a keyless sink to another host is refused at load. */
static void test_keyed_sink(void **state)
{
    (void)state;
    keydir k;
    keys_make(&k);
    int rx = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(rx, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    assert_int_equal(getsockname(rx, (struct sockaddr *)&a, &al), 0);
    char doc[2048];
    const char *fmt =
        "{\"dtwin\":1,\"name\":\"sink\",\"assets\":[{\"id\":\"p\"}],\"signals\":["
        "{\"id\":\"u\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\","
        "\"role\":\"commanded\"}],\"keys\":{\"dir\":\"%s\"},"
        "\"sinks\":[{\"id\":\"drive\",\"kind\":\"udp\",\"host\":\"%s\",\"port\":%d,"
        "\"source_id\":9%s,\"mapping\":[{\"channel\":3,\"signal\":\"u\"}]}]}";
    char keyed[256];
    snprintf(keyed, sizeof keyed,
             ",\"auth\":\"mac\",\"key\":\"link\",\"replay_state\":\"%s/drive.epoch\"", k.path);
    snprintf(doc, sizeof doc, fmt, k.path, "127.0.0.1", ntohs(a.sin_port), keyed);
    dt_model_options o = DT_MODEL_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_model *m = NULL;
    dt_ingest *ing = NULL;
    dt_io *io = NULL;
    dt_diag d;
    assert_int_equal(dt_model_load_json(doc, strlen(doc), &o, &m, &d), 0);
    dt_ingest_config ic = DT_INGEST_CONFIG_INIT;
    assert_int_equal(dt_ingest_create(m, &ic, &ing), 0);
    assert_int_equal(dt_io_create(m, ing, NULL, "", NULL, dt_logger_silent(), &io, &d), 0);
    dt_command c;
    memset(&c, 0, sizeof c);
    c.signal = 0;
    c.seq = 5;
    c.t_issued = 100;
    c.t_deadline = 200;
    c.value = 1.25;
    assert_int_equal(dt_io_apply(io, &c), 0);
    uint8_t b[256];
    ssize_t n = recv(rx, b, sizeof b, 0);
    assert_int_equal(n, DT_WIRE_HEADER + DT_WIRE_COMMAND_RECORD + DT_WIRE_MAC_TRAILER);
    dt_wire_header h;
    assert_int_equal(dt_wire_decode_auth(b, (size_t)n, k.link, &h), DT_WIRE_OK);
    assert_int_equal(h.version, 3);
    assert_int_equal(dt_wire_decode_auth(b, (size_t)n, k.other, &h), DT_WIRE_BAD_MAC);
    assert_int_equal(dt_wire_decode(b, (size_t)n, &h), DT_WIRE_BAD_MAC);
    dt_wire_command rc;
    dt_wire_command_at(b, 0, &rc);
    assert_int_equal(rc.channel, 3);
    assert_true(rc.value == 1.25);
    dt_io_destroy(io);
    dt_ingest_destroy(ing);
    dt_model_destroy(m);
    /* "none" to another host: refused */
    snprintf(doc, sizeof doc, fmt, k.path, "10.0.0.7", 5020, ",\"auth\":\"none\"");
    assert_int_equal(dt_model_load_json(doc, strlen(doc), &o, &m, &d), 0);
    assert_int_equal(dt_ingest_create(m, &ic, &ing), 0);
    assert_int_equal(dt_io_create(m, ing, NULL, "", NULL, dt_logger_silent(), &io, &d), DT_EINVAL);
    assert_non_null(strstr(d.message, "auth: \"none\" sends to an address that is not loopback"));
    dt_ingest_destroy(ing);
    dt_model_destroy(m);
    close(rx);
    keys_rm(&k);
}

/* ---- the key bytes never in a block the twin freed ---- */

static void test_key_bytes_never_in_freed_memory(void **state)
{
    (void)state;
    keydir k;
    keys_make(&k);
    scan s;
    memset(&s, 0, sizeof s);
    char p[160];
    snprintf(p, sizeof p, "%s/link.key", k.path);
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    assert_int_equal(fread(s.key, 1, sizeof s.key, f), sizeof s.key);
    fclose(f);
    dt_allocator al = {scan_malloc, scan_realloc, scan_free, &s};
    /* the scanner finds the bytes where they are */
    unsigned char *probe = scan_malloc(&s, 100);
    memcpy(probe + 10, s.key, sizeof s.key);
    scan_free(&s, probe);
    assert_true(s.hits >= 1);
    s.hits = 0;
    s.blocks = 0;
    /* a twin with a keyed source and sink, frames through it, then destroyed */
    char doc[2048];
    snprintf(doc, sizeof doc,
             "{\"dtwin\":1,\"name\":\"scan\",\"assets\":[{\"id\":\"p\"}],\"signals\":["
             "{\"id\":\"y\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\","
             "\"role\":\"measured\",\"period\":0.01,\"noise\":{\"std\":0.1}},"
             "{\"id\":\"x\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\","
             "\"role\":\"estimated\"},"
             "{\"id\":\"u\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\","
             "\"role\":\"commanded\",\"limits\":{\"min\":-10,\"max\":10}}],"
             "\"keys\":{\"dir\":\"%s\"},"
             "\"sources\":[{\"id\":\"net\",\"kind\":\"udp\",\"auth\":\"mac\",\"key\":\"link\","
             "\"replay_state\":\"%s/net.replay\","
             "\"port\":0,\"source_id\":%d,\"mapping\":[{\"channel\":1,\"signal\":\"y\"}]}],"
             "\"sinks\":[{\"id\":\"out\",\"kind\":\"udp\",\"auth\":\"mac\",\"key\":\"link\","
             "\"replay_state\":\"%s/out.epoch\","
             "\"port\":9,\"source_id\":3,\"mapping\":[{\"channel\":1,\"signal\":\"u\"}]}],"
             "\"estimator\":{\"states\":[\"x\"],\"A\":[[0]],\"Q\":[0.01],\"x0\":[0],\"P0\":[1],"
             "\"measurements\":[{\"signal\":\"y\",\"H\":{\"x\":1}}]},"
             "\"controllers\":[{\"id\":\"c\",\"kind\":\"pid\",\"input\":\"x\",\"output\":\"u\","
             "\"setpoint\":1,\"kp\":1}],"
             "\"dispatcher\":{\"safe\":{\"u\":0},\"max_data_age\":1}}",
             k.path, k.path, ID, k.path);
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.allocator = &al;
    o.logger = dt_logger_silent();
    dt_twin *t = NULL;
    dt_diag d;
    int rc = dt_twin_load_json(doc, strlen(doc), &o, &t, &d);
    if (rc != 0)
        fail_msg("%s", d.message);
    assert_int_equal(dt_twin_start(t, 0), 0);
    for (int i = 1; i <= 20; i++)
        assert_int_equal(dt_twin_step(t, (dt_time)i * 10 * DT_NS_PER_MS), 0);
    dt_twin_destroy(t);
    assert_true(s.blocks > 10);
    assert_int_equal(s.hits, 0);
    keys_rm(&k);
}

/* The MAC is libsodium's keyed BLAKE2b-128: the known answer computed with
 * Python's hashlib (an independent implementation; tools/wire_client.py's
 * selftest checks the same value). */
static int range_unseal(void *self, const char *name, dt_key_kind kind, unsigned char *out,
                        char *why, size_t why_len)
{
    (void)self, (void)name, (void)kind, (void)why, (void)why_len;
    for (int i = 0; i < DT_KEY_BYTES; i++)
        out[i] = (unsigned char)i;
    return 0;
}

static void test_mac_known_answer(void **state)
{
    (void)state;
    const dt_keystore_ops ops = {DT_KEYSTORE_ABI, range_unseal, NULL};
    dt_keystore *ks = NULL;
    dt_key *key = NULL;
    assert_int_equal(dt_keystore_open(&ops, NULL, &ks), 0);
    assert_int_equal(dt_key_load(ks, "range", DT_KEY_MAC, &key, NULL), 0);
    dt_wire_sample s = {1, DT_WIRE_F_VARIANCE, 1700000000123456789, 2.5, 0.01};
    dt_wire_header h = {3, DT_WIRE_SAMPLES, 7, 5, 1, 3};
    uint8_t b[128];
    size_t n = dt_wire_encode_samples_auth(b, sizeof b, &h, &s, 1, key);
    assert_int_equal(n, 68);
    static const uint8_t want[DT_WIRE_MAC_TRAILER] = {0x4b, 0xbc, 0x23, 0x49, 0x4e, 0x7b,
                                                      0x08, 0x58, 0x49, 0xd9, 0x3c, 0x4a,
                                                      0x3f, 0x3f, 0x7d, 0xa0};
    assert_memory_equal(b + n - DT_WIRE_MAC_TRAILER, want, sizeof want);
    unsigned char tag[DT_MAC_BYTES];
    static const uint8_t want2[DT_MAC_BYTES] = {0xc8, 0xcc, 0x8b, 0xd4, 0xfe, 0xaa, 0x54, 0xd0,
                                                0x98, 0xf6, 0xe4, 0x48, 0x1a, 0x6d, 0xfa, 0xed};
    assert_int_equal(dt_mac(key, "123456789", 9, tag), 0);
    assert_memory_equal(tag, want2, sizeof want2);
    /* the encoders refuse what version 3 cannot carry */
    assert_int_equal(dt_wire_encode_samples_auth(b, sizeof b, &h, &s, 1, NULL), 0);
    assert_int_equal(dt_wire_encode_samples_auth(b, 67, &h, &s, 1, key), 0);
    h.version = 3;
    assert_int_equal(dt_wire_encode_samples_v2(b, sizeof b, &h, &s, 1), 0);
    static dt_wire_sample many[DT_WIRE_MAX_SAMPLES];
    static uint8_t big[DT_WIRE_MAX_DATAGRAM];
    assert_int_equal(dt_wire_encode_samples_auth(big, sizeof big, &h, many, DT_WIRE_MAX_SAMPLES,
                                                 key), 0);
    assert_int_equal(dt_wire_encode_samples_auth(big, sizeof big, &h, many,
                                                 DT_WIRE_MAX_SAMPLES_AUTH, key),
                     DT_WIRE_HEADER + DT_WIRE_MAX_SAMPLES_AUTH * DT_WIRE_SAMPLE_RECORD +
                         DT_WIRE_MAC_TRAILER);
    dt_key_free(key);
    dt_keystore_close(ks);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_mac_known_answer),
    cmocka_unit_test(test_keyed_source_takes_authentic_frames),
    cmocka_unit_test(test_forgeries_never_move_the_window),
    cmocka_unit_test(test_replays_refused),
    cmocka_unit_test(test_no_downgrade),
    cmocka_unit_test(test_peer_pinned),
    cmocka_unit_test(test_authentic_extremes_reach_ingest),
    cmocka_unit_test(test_configuration_refusals),
    cmocka_unit_test(test_keyed_sink),
    cmocka_unit_test(test_key_bytes_never_in_freed_memory),
};

DTT_MAIN(tests)
