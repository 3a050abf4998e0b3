/* Red team of the key store and authenticated UDP frames (wire version 3).
 * Each test names the attack. Those marked FINDING failed before the fix in
 * the same change (or, "was DESIGN", before a larger change that fixed it).
 * The rest pin what the attack could not break. */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

#include "dtwin/dtwin.h"

#include "udp_auth_rig.h"

/* DIR/NAME with len bytes from `bytes` (NULL: a counter) and mode */
static void put_key(const char *dir, const char *name, size_t len, const unsigned char *bytes,
                    mode_t mode)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = bytes != NULL ? bytes[i] : (unsigned char)(i * 7 + 1);
        assert_int_equal(write(fd, &c, 1), 1);
    }
    close(fd);
    assert_int_equal(chmod(p, mode), 0);
}

static int load(dt_keystore *ks, const char *name, dt_diag *d)
{
    dt_key *k = NULL;
    memset(d, 0, sizeof *d);
    int rc = dt_key_load(ks, name, DT_KEY_MAC, &k, d);
    if (rc == 0)
        assert_non_null(k);
    else
        assert_null(k);
    dt_key_free(k);
    return rc;
}

/* ---- the file store ---- */

/* FINDING: a key file of 32 zero bytes (`truncate -s 32`, `head -c 32
 * /dev/zero`, a failed copy) was taken as a key anyone can guess. */
static void test_zero_key_refused(void **state)
{
    (void)state;
    keydir k;
    keys_make(&k);
    unsigned char zero[DT_KEY_BYTES] = {0};
    put_key(k.path, "zero.key", DT_KEY_BYTES, zero, 0600);
    dt_diag d;
    assert_int_equal(load(k.ks, "zero", &d), DT_EPARSE);
    assert_non_null(strstr(d.message, "zero.key"));
    assert_non_null(strstr(d.message, "zero bytes"));
    keys_rm(&k);
}

/* FINDING: the key store's docs (keys.h, security.md, model.md) say mode
 * 0600 or 0400; 0700, 0200, 0000, 04600 (setuid) were accepted. */
static void test_only_documented_modes(void **state)
{
    (void)state;
    keydir k;
    keys_make(&k);
    static const mode_t bad[] = {0700, 0500, 0200, 0000, 04600, 02600, 01600};
    static const mode_t good[] = {0600, 0400};
    dt_diag d;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        put_key(k.path, "m.key", DT_KEY_BYTES, NULL, bad[i]);
        if (load(k.ks, "m", &d) != DT_EPERM)
            fail_msg("mode %04o accepted: the docs say 0600 or 0400", (unsigned)bad[i]);
        assert_non_null(strstr(d.message, "chmod 600"));
        char p[256];
        snprintf(p, sizeof p, "%s/m.key", k.path);
        unlink(p);
    }
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        put_key(k.path, "m.key", DT_KEY_BYTES, NULL, good[i]);
        assert_int_equal(load(k.ks, "m", &d), 0);
        char p[256];
        snprintf(p, sizeof p, "%s/m.key", k.path);
        unlink(p);
    }
    keys_rm(&k);
}

/* A FIFO, a character device (/dev/zero's numbers; needs root to make), a
 * sparse 1 TB file, a file of another owner, odd bytes in names: refused,
 * and the load never blocks on the FIFO. */
static void test_odd_files_and_names(void **state)
{
    (void)state;
    keydir k;
    keys_make(&k);
    char p[256];
    dt_diag d;
    snprintf(p, sizeof p, "%s/fifo.key", k.path);
    assert_int_equal(mkfifo(p, 0600), 0);
    assert_int_equal(load(k.ks, "fifo", &d), DT_EPERM);
    assert_non_null(strstr(d.message, "not a regular file"));
    snprintf(p, sizeof p, "%s/dev.key", k.path);
    if (mknod(p, S_IFCHR | 0600, makedev(1, 5)) == 0) {
        assert_int_equal(load(k.ks, "dev", &d), DT_EPERM);
        assert_non_null(strstr(d.message, "not a regular file"));
    }
    snprintf(p, sizeof p, "%s/huge.key", k.path);
    int fd = open(p, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)1 << 40), 0);
    close(fd);
    assert_int_equal(load(k.ks, "huge", &d), DT_EPARSE);
    assert_non_null(strstr(d.message, "holds 1099511627776 bytes"));
    put_key(k.path, "theirs.key", DT_KEY_BYTES, NULL, 0600);
    snprintf(p, sizeof p, "%s/theirs.key", k.path);
    if (geteuid() == 0 && chown(p, 65534, 65534) == 0) {
        assert_int_equal(load(k.ks, "theirs", &d), DT_EPERM);
        assert_non_null(strstr(d.message, "owned by user 65534"));
    }
    static const char *const names[] = {"a\x01", "k\xff", "k\n", "k key", "k%s%n", "k:1",
                                        "..", "k/../link", "k\\x", "\xc3\xa9"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        assert_int_equal(load(k.ks, names[i], &d), DT_EINVAL);
        assert_non_null(strstr(d.message, "key name"));
    }
    keys_rm(&k);
}

/* The directory swapped after the store opened it: keys still come from the
 * directory that was checked (the store holds its descriptor). */
static void test_directory_swapped(void **state)
{
    (void)state;
    keydir k;
    keys_make(&k);
    char moved[96], cmd[256];
    snprintf(moved, sizeof moved, "%s.moved", k.path);
    assert_int_equal(rename(k.path, moved), 0);
    assert_int_equal(mkdir(k.path, 0700), 0);
    unsigned char evil[DT_KEY_BYTES];
    memset(evil, 0x66, sizeof evil);
    evil[0] = 1;
    put_key(k.path, "link.key", DT_KEY_BYTES, evil, 0600);
    dt_key *again = NULL;
    assert_int_equal(dt_key_load(k.ks, "link", DT_KEY_MAC, &again, NULL), 0);
    assert_string_equal(dt_key_id(again), dt_key_id(k.link));
    dt_key_free(again);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", moved);
    assert_int_equal(system(cmd), 0);
    keys_rm(&k);
}

/* a host backend that fails without terminating `why`, or succeeds
 * without writing the key */
static int bad_unseal(void *self, const char *name, dt_key_kind kind, unsigned char *out,
                      char *why, size_t why_len)
{
    (void)self;
    (void)kind;
    (void)out;
    if (strcmp(name, "lazy") == 0)
        return 0; /* "unsealed": wrote nothing */
    memset(why, 'W', why_len); /* no NUL */
    return DT_EIO;
}

/* FINDING: a host backend that left `why` unterminated made dt_key_load
 * read past it (ASan: stack-buffer-overflow); one that returned 0 without
 * writing the key gave a key of sodium_malloc's fill bytes, known to all. */
static void test_host_backend_misbehaves(void **state)
{
    (void)state;
    dt_keystore_ops ops = {DT_KEYSTORE_ABI, bad_unseal, NULL};
    dt_keystore *ks = NULL;
    assert_int_equal(dt_keystore_open(&ops, NULL, &ks), 0);
    dt_diag d;
    assert_int_equal(load(ks, "cut", &d), DT_EIO);
    assert_non_null(strstr(d.message, "WWWW"));
    assert_int_equal(load(ks, "lazy", &d), DT_EPARSE);
    dt_keystore_close(ks);
}

/* ---- a twin's source ---- */

static size_t frame3(uint8_t *b, const dt_key *key, uint8_t type, uint32_t id, uint16_t epoch,
                     uint32_t seq)
{
    dt_wire_header h = {3, type, id, seq, 1, epoch};
    if (type == DT_WIRE_COMMANDS) {
        dt_wire_command c = {1, 0, seq, 0, 1, 1.0};
        return dt_wire_encode_commands_auth(b, 256, &h, &c, 1, key);
    }
    dt_wire_sample s = {1, 0, 0, 1.0, 0};
    return dt_wire_encode_samples_auth(b, 256, &h, &s, 1, key);
}

/* FINDING: "keys.dir" longer than the 512-byte path buffer was cut without
 * a word, and the store opened the prefix: here the directory itself,
 * though the path named a directory that does not exist under it. */
static void test_keys_dir_cut_at_512_bytes(void **state)
{
    (void)state;
    keydir k;
    keys_make(&k);
    char dir[1200];
    size_t n = (size_t)snprintf(dir, sizeof dir, "%s", k.path);
    while (n < 600)
        n += (size_t)snprintf(dir + n, sizeof dir - n, "/.");
    snprintf(dir + n, sizeof dir - n, "/missing");
    rig r;
    rig_open(&r, dir, ",\"auth\":\"mac\",\"key\":\"link\"");
    int rc = r.rc;
    rig_close(&r);
    keys_rm(&k);
    if (rc == 0)
        fail_msg("a keys.dir of %zu bytes loaded from its first 511", strlen(dir));
    assert_int_equal(rc, DT_ELIMIT);
    assert_non_null(strstr(r.diag.message, "keys.dir"));
}

/* Every datagram ends in exactly one of frames_ok, duplicate,
 * frames_rejected; frames_rejected is the sum of its reasons. A mix of
 * everything a keyed source refuses, plus good frames and replays. */
static void test_every_datagram_counted_once(void **state)
{
    (void)state;
    keydir k;
    keys_make(&k);
    const dt_key *other = k.other; /* keys_make's second key */
    rig r;
    rig_open(&r, k.path, ",\"auth\":\"mac\",\"key\":\"link\",\"max_count\":2");
    assert_int_equal(r.rc, 0);
    uint8_t b[256];
    dt_wire_sample s = {1, 0, 0, 1.0, 0};
    dt_wire_sample many[3] = {s, s, s};
    for (uint32_t q = 1; q <= 200; q++) {
        size_t n = 0;
        dt_wire_header h2 = {2, DT_WIRE_SAMPLES, ID, q, 1, 1};
        switch (q % 12) {
        case 0: n = frame3(b, k.link, DT_WIRE_SAMPLES, ID, 1, q); break;
        case 1: n = frame3(b, k.link, DT_WIRE_SAMPLES, ID, 1, q / 2); break; /* replays */
        case 2: n = frame3(b, other, DT_WIRE_SAMPLES, ID, 1, q); break;
        case 3: n = frame3(b, k.link, DT_WIRE_COMMANDS, ID, 1, q); break;
        case 4: n = frame3(b, k.link, DT_WIRE_SAMPLES, ID + 1, 1, q); break;
        case 5: n = dt_wire_encode_samples_v2(b, sizeof b, &h2, &s, 1); break;
        case 6: n = dt_wire_encode_samples(b, sizeof b, ID, q, &s, 1); break;
        case 7: {
            dt_wire_header h3 = {3, DT_WIRE_SAMPLES, ID, q, 3, 1};
            n = dt_wire_encode_samples_auth(b, sizeof b, &h3, many, 3, k.link);
            break;
        }
        case 8: n = frame3(b, k.link, DT_WIRE_SAMPLES, ID, 1, q) - 1; break;
        case 9: n = frame3(b, k.link, DT_WIRE_SAMPLES, ID, 0, q); break; /* older epoch */
        case 10: n = frame3(b, k.link, DT_WIRE_SAMPLES, ID, 1, q + 1000); break;
        default: n = 7; memset(b, 0xee, n); break;
        }
        assert_true(n > 0);
        send_raw(&r, b, n);
        if (q % 50 == 0)
            settle(&r);
    }
    settle(&r);
    dt_udp_stats st = stats(&r);
    uint64_t sum = st.wrong_type + st.wrong_source + st.kernel_truncated + st.too_old +
                   st.stale_epoch + st.unconfirmed + st.bad_mac + st.unauthenticated +
                   st.wrong_peer + st.replayed + st.state_write_errors;
    for (size_t i = 0; i < DT_WIRE_V1_ERRORS; i++)
        sum += st.rejected[i];
    assert_int_equal(st.datagrams, r.sent);
    assert_int_equal(st.datagrams, st.frames_ok + st.duplicate + st.frames_rejected);
    assert_int_equal(st.frames_rejected, sum);
    assert_true(st.frames_ok >= 16 && st.unauthenticated > 0 && st.bad_mac > 0 &&
                st.wrong_type > 0 && st.wrong_source > 0);
    rig_close(&r);
    keys_rm(&k);
}

/* "auth": "none" only on loopback: 127.0.0.0/8 and ::1; never 0.0.0.0,
 * ::, a v4-mapped or v4-compatible loopback, a link-local address. */
static void test_auth_none_addresses(void **state)
{
    (void)state;
    static const char *const refused[] = {"0.0.0.0", "::", "::ffff:127.0.0.1",
                                          "::127.0.0.1", "fe80::1%lo", "10.0.0.1",
                                          "128.0.0.1", "126.255.255.255"};
    static const char *const taken[] = {"127.0.0.1", "127.1.2.3", "::1", "::1%lo"};
    keydir k;
    keys_make(&k);
    char src[160];
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        snprintf(src, sizeof src, ",\"auth\":\"none\",\"bind\":\"%s\"", refused[i]);
        rig r;
        rig_open(&r, k.path, src);
        if (r.rc != DT_EINVAL || strstr(r.diag.message, "not loopback") == NULL)
            fail_msg("bind %s with auth none: rc %d, \"%s\"", refused[i], r.rc, r.diag.message);
        rig_close(&r);
    }
    for (size_t i = 0; i < sizeof taken / sizeof taken[0]; i++) {
        snprintf(src, sizeof src, ",\"auth\":\"none\",\"bind\":\"%s\"", taken[i]);
        rig r;
        rig_open(&r, k.path, src);
        /* DT_EIO: a machine without IPv6 cannot bind ::1 (not a refusal of auth) */
        if (r.rc != 0 && !(r.rc == DT_EIO && strchr(taken[i], ':') != NULL))
            fail_msg("bind %s with auth none: rc %d, \"%s\"", taken[i], r.rc, r.diag.message);
        rig_close(&r);
    }
    keys_rm(&k);
}

/* FINDING: dt_wire_decode_auth, which security.md tells an actuator to
 * verify the keyed sink's commands with, returned DT_WIRE_OK for a version
 * 1 or 2 command frame with a good CRC though a key was given: anyone could
 * make one (a downgrade). */
static void test_decode_auth_refuses_downgrade(void **state)
{
    (void)state;
    keydir k;
    keys_make(&k);
    dt_wire_command c = {3, 0, 77, 0, DT_NS_PER_S, 2900.0};
    uint8_t b[256];
    dt_wire_header h = {2, DT_WIRE_COMMANDS, 9, 0, 1, 1};
    size_t n2 = dt_wire_encode_commands_v2(b, sizeof b, &h, &c, 1);
    assert_true(n2 > 0);
    dt_wire_header got;
    assert_int_equal(dt_wire_decode(b, n2, &got), DT_WIRE_OK); /* valid as version 2 */
    dt_wire_error e2 = dt_wire_decode_auth(b, n2, k.link, &got);
    size_t n1 = dt_wire_encode_commands(b, sizeof b, 9, 0, &c, 1);
    dt_wire_error e1 = dt_wire_decode_auth(b, n1, k.link, &got);
    size_t n3 = frame3(b, k.link, DT_WIRE_COMMANDS, 9, 1, 0);
    dt_wire_error e3 = dt_wire_decode_auth(b, n3, k.link, &got);
    keys_rm(&k);
    assert_int_equal(e3, DT_WIRE_OK);
    assert_int_equal(e2, DT_WIRE_BAD_MAC);
    assert_int_equal(e1, DT_WIRE_BAD_MAC);
}

/* The sink: "auth": "none" only to a loopback host (0.0.0.0 and :: reach
 * this host on Linux, but are refused as not loopback: the safe side). */
static void test_sink_auth_none_hosts(void **state)
{
    (void)state;
    static const char *const refused[] = {"0.0.0.0", "::", "::ffff:127.0.0.1", "10.0.0.7",
                                          "fe80::1%lo"};
    static const char *const taken[] = {"127.0.0.1", "127.0.0.2", "::1"};
    for (int pass = 0; pass < 2; pass++) {
        size_t n = pass == 0 ? sizeof refused / sizeof refused[0] : sizeof taken / sizeof taken[0];
        for (size_t i = 0; i < n; i++) {
            const char *host = pass == 0 ? refused[i] : taken[i];
            char doc[1024];
            snprintf(doc, sizeof doc,
                     "{\"dtwin\":1,\"name\":\"sink\",\"assets\":[{\"id\":\"p\"}],\"signals\":["
                     "{\"id\":\"u\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\","
                     "\"role\":\"commanded\"}],\"sinks\":[{\"id\":\"drive\",\"kind\":\"udp\","
                     "\"host\":\"%s\",\"port\":9,\"source_id\":9,\"auth\":\"none\","
                     "\"mapping\":[{\"channel\":3,\"signal\":\"u\"}]}]}",
                     host);
            dt_model_options o = DT_MODEL_OPTIONS_INIT;
            o.logger = dt_logger_silent();
            dt_model *m = NULL;
            dt_ingest *ing = NULL;
            dt_io *io = NULL;
            dt_diag d;
            memset(&d, 0, sizeof d);
            assert_int_equal(dt_model_load_json(doc, strlen(doc), &o, &m, &d), 0);
            dt_ingest_config ic = DT_INGEST_CONFIG_INIT;
            assert_int_equal(dt_ingest_create(m, &ic, &ing), 0);
            int rc = dt_io_create(m, ing, NULL, "", NULL, dt_logger_silent(), &io, &d);
            dt_io_destroy(io);
            dt_ingest_destroy(ing);
            dt_model_destroy(m);
            if (pass == 0 && (rc != DT_EINVAL || strstr(d.message, "not loopback") == NULL))
                fail_msg("sink host %s with auth none: rc %d, \"%s\"", host, rc, d.message);
            /* DT_EIO: a machine without IPv6 has no socket for ::1 */
            if (pass == 1 && rc != 0 && !(rc == DT_EIO && strchr(host, ':') != NULL))
                fail_msg("sink host %s with auth none: rc %d, \"%s\"", host, rc, d.message);
        }
    }
}

/* FINDING: a source bound to "::" (dual-stack) with "peer": "127.0.0.1"
 * refused its peer's every frame as wrong_peer: the kernel hands an IPv4
 * sender to an IPv6 socket as ::ffff:127.0.0.1, which was compared as
 * another family. Any other IPv4 address stays refused. */
static void test_peer_v4_on_dual_stack_socket(void **state)
{
    (void)state;
    keydir k;
    keys_make(&k);
    rig r;
    rig_open(&r, k.path, ",\"auth\":\"mac\",\"key\":\"link\",\"bind\":\"::\","
                         "\"peer\":\"127.0.0.1\"");
    if (r.rc == DT_EIO) { /* no IPv6 on this machine */
        rig_close(&r);
        keys_rm(&k);
        skip();
    }
    assert_int_equal(r.rc, 0);
    uint8_t b[256];
    for (uint32_t q = 1; q <= 5; q++)
        send_raw(&r, b, frame3(b, k.link, DT_WIRE_SAMPLES, ID, 1, q));
    /* from 127.0.0.2: not the peer */
    int other = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in from = {0};
    from.sin_family = AF_INET;
    from.sin_addr.s_addr = htonl(0x7f000002u);
    assert_int_equal(bind(other, (struct sockaddr *)&from, sizeof from), 0);
    size_t n = frame3(b, k.link, DT_WIRE_SAMPLES, ID, 1, 6);
    assert_true(sendto(other, b, n, 0, (const struct sockaddr *)&r.to, sizeof r.to) ==
                (ssize_t)n);
    r.sent++;
    close(other);
    settle(&r);
    dt_udp_stats st = stats(&r);
    rig_close(&r);
    keys_rm(&k);
    assert_int_equal(st.wrong_peer, 1);
    assert_int_equal(st.frames_ok, 5);
}

/* ---- replays across restarts (DESIGN findings, fixed by the persisted
 * replay state: docs/wire.md, "Replays across restarts") ---- */

/* FINDING (was DESIGN): a keyed source that restarts (the twin restarts)
 * took the first authentic frame whatever its epoch and seq, then every
 * frame after it: a recording of an old session replayed before the honest
 * sender speaks was accepted. Now the source's persisted floor refuses
 * every frame of the earlier session from the first one (`replayed`). */
static void test_restarted_source_refuses_old_session(void **state)
{
    (void)state;
    keydir k;
    keys_make(&k);
    uint8_t rec[20][128];
    size_t len[20];
    for (uint32_t q = 0; q < 20; q++)
        len[q] = frame3(rec[q], k.link, DT_WIRE_SAMPLES, ID, 5, 100 + q); /* epoch 5, recorded */
    rig r;
    /* the earlier session: the honest sender, and the eavesdropper records */
    rig_open(&r, k.path, ",\"auth\":\"mac\",\"key\":\"link\"");
    assert_int_equal(r.rc, 0);
    for (uint32_t q = 0; q < 20; q++)
        send_raw(&r, rec[q], len[q]);
    settle(&r);
    dt_udp_stats st1 = stats(&r);
    rig_close(&r);
    /* the twin restarts; the sender is silent; the recording is replayed */
    rig_open(&r, k.path, ",\"auth\":\"mac\",\"key\":\"link\"");
    assert_int_equal(r.rc, 0);
    for (uint32_t q = 0; q < 20; q++)
        send_raw(&r, rec[q], len[q]);
    settle(&r);
    dt_udp_stats st = stats(&r);
    rig_close(&r);
    keys_rm(&k);
    assert_int_equal(st1.frames_ok, 20);
    if (st.frames_ok > 0)
        fail_msg("a restarted keyed source took %llu replayed frames of an old session",
                 (unsigned long long)st.frames_ok);
    assert_int_equal(st.replayed, 20);
    assert_int_equal(st.frames_rejected, 20);
    assert_int_equal(st.state_writes, 0); /* a replay never writes the state */
}

/* One command through a keyed sink of a fresh twin over the state in
 * `dir`, received on rx into b: the datagram's length. */
static ssize_t sink_run(const char *dir, int rx, uint8_t *b, size_t cap)
{
    struct sockaddr_in a = {0};
    socklen_t al = sizeof a;
    assert_int_equal(getsockname(rx, (struct sockaddr *)&a, &al), 0);
    char doc[2048];
    snprintf(doc, sizeof doc,
             "{\"dtwin\":1,\"name\":\"sink\",\"assets\":[{\"id\":\"p\"}],\"signals\":["
             "{\"id\":\"u\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\","
             "\"role\":\"commanded\"}],\"keys\":{\"dir\":\"%s\"},"
             "\"sinks\":[{\"id\":\"drive\",\"kind\":\"udp\",\"host\":\"127.0.0.1\",\"port\":%d,"
             "\"source_id\":9,\"auth\":\"mac\",\"key\":\"link\","
             "\"replay_state\":\"%s/drive.epoch\","
             "\"mapping\":[{\"channel\":3,\"signal\":\"u\"}]}]}",
             dir, ntohs(a.sin_port), dir);
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
    c.seq = 1;
    c.t_issued = 10 * DT_NS_PER_MS;
    c.t_deadline = 30 * DT_NS_PER_MS;
    c.value = 0.5;
    assert_int_equal(dt_io_apply(io, &c), 0);
    ssize_t n = recv(rx, b, cap, 0);
    assert_true(n > 0);
    dt_io_destroy(io);
    dt_ingest_destroy(ing);
    dt_model_destroy(m);
    return n;
}

/* FINDING (was DESIGN): the keyed UDP sink sent epoch 0 and seq from 0
 * after every twin start: the same command gave byte-identical frames in
 * two runs, so a recording of an earlier run verified at the actuator and
 * looked current. Now its epoch is a persisted boot counter: 0, 1, 2. */
static void test_sink_frames_differ_across_runs(void **state)
{
    (void)state;
    keydir k;
    keys_make(&k);
    int rx = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(rx, (struct sockaddr *)&a, sizeof a), 0);
    uint8_t got[3][128];
    ssize_t n[3];
    dt_wire_header h[3];
    for (int run = 0; run < 3; run++) {
        n[run] = sink_run(k.path, rx, got[run], sizeof got[run]);
        assert_int_equal(dt_wire_decode_auth(got[run], (size_t)n[run], k.link, &h[run]),
                         DT_WIRE_OK);
    }
    close(rx);
    keys_rm(&k);
    if (n[0] == n[1] && memcmp(got[0], got[1], (size_t)n[0]) == 0)
        fail_msg("two runs of a keyed sink sent the same authentic frame: replayable");
    for (int run = 0; run < 3; run++) {
        assert_int_equal(h[run].epoch, run);
        assert_int_equal(h[run].seq, 0);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_zero_key_refused),
    cmocka_unit_test(test_only_documented_modes),
    cmocka_unit_test(test_odd_files_and_names),
    cmocka_unit_test(test_directory_swapped),
    cmocka_unit_test(test_host_backend_misbehaves),
    cmocka_unit_test(test_keys_dir_cut_at_512_bytes),
    cmocka_unit_test(test_every_datagram_counted_once),
    cmocka_unit_test(test_auth_none_addresses),
    cmocka_unit_test(test_decode_auth_refuses_downgrade),
    cmocka_unit_test(test_sink_auth_none_hosts),
    cmocka_unit_test(test_peer_v4_on_dual_stack_socket),
    cmocka_unit_test(test_restarted_source_refuses_old_session),
    cmocka_unit_test(test_sink_frames_differ_across_runs),
};

int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
