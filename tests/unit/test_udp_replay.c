/* Replays across restarts of the twin (docs/wire.md, "Replays across
 * restarts"): a keyed UDP source's persisted floor and a keyed sink's
 * persisted boot counter. Each "restart" is a second rig on the same state
 * file; each hostile state file is refused with a message naming the fix. */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

#include "dtwin/dtwin.h"

#include "udp_auth_rig.h"

#define KEYED ",\"auth\":\"mac\",\"key\":\"link\""
/* the state file's layout (docs/wire.md): two slots of 44 bytes */
#define SLOT 44
#define POS(e, q) ((uint64_t)(e) << 32 | (uint64_t)(q))

/* Sends authentic sample frames of `epoch`, seq from..to (inclusive,
 * modulo 2^32), and polls until they all arrived. */
static void send_run(rig *r, const dt_key *key, uint16_t epoch, uint32_t from, uint32_t to)
{
    uint8_t b[128];
    dt_wire_sample s = {1, 0, 0, 1.0, 0};
    for (uint32_t q = from;; q++) {
        dt_wire_header h = {3, DT_WIRE_SAMPLES, ID, q, 1, epoch};
        size_t n = dt_wire_encode_samples_auth(b, sizeof b, &h, &s, 1, key);
        assert_true(n > 0);
        send_raw(r, b, n);
        if ((q - from) % 200 == 199)
            settle(r);
        if (q == to)
            break;
    }
    settle(r);
}

/* A source over the key store's state file with the extra keys, loaded. */
static void open_ok(rig *r, const keydir *k, const char *extra)
{
    char keys[512];
    snprintf(keys, sizeof keys, KEYED ",\"replay_state\":\"%s/net.replay\"%s", k->path, extra);
    rig_open(r, k->path, keys);
    if (r->rc != 0)
        fail_msg("open: rc %d, \"%s\"", r->rc, r->diag.message);
}

/* The value of each slot of a state file (UINT64_MAX where the slot's
 * magic is not there). */
static void read_slots(const char *path, uint64_t v[2])
{
    uint8_t b[2 * SLOT];
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(b, 1, sizeof b, f), sizeof b);
    fclose(f);
    for (int i = 0; i < 2; i++) {
        const uint8_t *p = b + i * SLOT;
        v[i] = UINT64_MAX;
        if (p[0] == 'D' && p[1] == 'T' && p[2] == 'R' && p[3] == 'S') {
            v[i] = 0;
            for (int j = 7; j >= 0; j--)
                v[i] = v[i] << 8 | p[32 + j];
        }
    }
}

/* Writes a state file of the layout in docs/wire.md: both slots of `kind`
 * with value v, under key `key` and source_id id; mode 0600. */
static void put_state(const char *path, uint8_t kind, uint32_t id, const dt_key *key,
                      uint64_t v)
{
    uint8_t b[2 * SLOT];
    memset(b, 0, sizeof b);
    for (int i = 0; i < 2; i++) {
        uint8_t *p = b + i * SLOT;
        memcpy(p, "DTRS", 4);
        p[4] = 1;
        p[5] = kind;
        for (int j = 0; j < 4; j++)
            p[8 + j] = (uint8_t)(id >> (8 * j));
        memcpy(p + 16, dt_key_id(key), 16);
        for (int j = 0; j < 8; j++)
            p[32 + j] = (uint8_t)(v >> (8 * j));
        uint32_t c = dt_wire_crc32(p, 40);
        for (int j = 0; j < 4; j++)
            p[40 + j] = (uint8_t)(c >> (8 * j));
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, b, sizeof b), (ssize_t)sizeof b);
    close(fd);
    assert_int_equal(chmod(path, 0600), 0);
}

/* The twin restarts, the sender does not: its next frames fall under the
 * floor (reserved ahead by replay_reserve) and are refused as `replayed`,
 * at most the reserve of them; then it is taken again. The floor was
 * written before the first frame above it was taken: 4 writes for 20
 * frames at a reserve of 4, and the file holds the last. */
static void test_sender_without_restart_recovers_within_reserve(void **state)
{
    (void)state;
    keydir k;
    keys_make(&k);
    char path[160];
    snprintf(path, sizeof path, "%s/net.replay", k.path);
    rig r;
    open_ok(&r, &k, ",\"replay_reserve\":4");
    send_run(&r, k.link, 1, 0, 19);
    dt_udp_stats st = stats(&r);
    assert_int_equal(st.frames_ok, 20);
    assert_int_equal(st.state_writes, 4); /* at seq 0, 5, 10, 15: floors 5, 10, 15, 20 */
    uint64_t v[2];
    read_slots(path, v);
    assert_true((v[0] == POS(1, 20) && v[1] == POS(1, 15)) ||
                (v[1] == POS(1, 20) && v[0] == POS(1, 15)));
    rig_close(&r);
    /* restart: the sender goes on with 20.. in the same epoch */
    open_ok(&r, &k, ",\"replay_reserve\":4");
    send_run(&r, k.link, 1, 19, 40);
    st = stats(&r);
    rig_close(&r);
    keys_rm(&k);
    assert_int_equal(st.replayed, 1); /* 19: taken before the restart */
    assert_int_equal(st.frames_ok, 21);
    assert_int_equal(st.lost, 0);
}

/* The same with the default reserve (1024): at most 1024 honest frames are
 * refused; a sender that restarted (a new epoch) is taken from its first
 * frame. */
static void test_default_reserve_and_new_epoch(void **state)
{
    (void)state;
    keydir k;
    keys_make(&k);
    rig r;
    open_ok(&r, &k, "");
    send_run(&r, k.link, 7, 100, 109);
    assert_int_equal(stats(&r).state_writes, 1);
    rig_close(&r);
    open_ok(&r, &k, "");
    send_run(&r, k.link, 7, 110, 1200); /* floor 100 + 1025: 110..1124 refused */
    dt_udp_stats st = stats(&r);
    rig_close(&r);
    assert_int_equal(st.replayed, 1015);
    assert_true(st.replayed <= 1024);
    assert_int_equal(st.frames_ok, 1200 - 1125 + 1);
    /* the sender restarts with epoch 8: its first frame is taken */
    open_ok(&r, &k, "");
    send_run(&r, k.link, 8, 0, 4);
    st = stats(&r);
    rig_close(&r);
    keys_rm(&k);
    assert_int_equal(st.replayed, 0);
    assert_int_equal(st.frames_ok, 5);
}

/* Within one run, epochs are plain numbers for a keyed source: after the
 * sender went from epoch 65000 to 65001, frames of epoch 10 (newer than
 * 65001 in 16-bit serial arithmetic) are refused. Across a restart of the
 * twin, a seq that wrapped within an epoch is under the floor, and the next
 * epoch is taken at once. */
static void test_epoch_order_and_seq_wrap(void **state)
{
    (void)state;
    keydir k;
    keys_make(&k);
    rig r;
    open_ok(&r, &k, "");
    send_run(&r, k.link, 65000, 5, 9);
    send_run(&r, k.link, 65001, 0, 2); /* a restart: confirmed at its second frame */
    send_run(&r, k.link, 10, 0, 3);
    dt_udp_stats st = stats(&r);
    assert_int_equal(st.frames_ok, 5 + 2);
    assert_int_equal(st.stale_epoch + st.unconfirmed + st.replayed, 1 + 4);
    assert_int_equal(st.stale_epoch, 4);
    /* epoch 65002 from seq 2^32 - 3, wrapping within it: taken in this run
     * (its first frame waits for the second, a restart) */
    send_run(&r, k.link, 65002, 0xFFFFFFFDu, 1);
    st = stats(&r);
    assert_int_equal(st.frames_ok, 7 + 4);
    rig_close(&r);
    /* restart: the wrapped frames lie under the floor (the reserve stopped
     * at the end of the epoch); the next epoch is taken at once */
    open_ok(&r, &k, "");
    send_run(&r, k.link, 65002, 2, 3);
    send_run(&r, k.link, 65003, 0, 1);
    st = stats(&r);
    rig_close(&r);
    keys_rm(&k);
    assert_int_equal(st.replayed, 2);
    assert_int_equal(st.frames_ok, 2);
}

/* The ends of the position space in a persisted file: the last position of
 * the last epoch, with a reserve of 2^20, caps the floor at the end (no
 * overflow); the next open refuses, naming the fix (rotate the key); a
 * value beyond the end is damage. */
static void test_extreme_floors(void **state)
{
    (void)state;
    keydir k;
    keys_make(&k);
    char path[160];
    snprintf(path, sizeof path, "%s/net.replay", k.path);
    put_state(path, 1, ID, k.link, POS(65535, 0xFFFFFFF0u));
    rig r;
    open_ok(&r, &k, ",\"replay_reserve\":1048576");
    send_run(&r, k.link, 65535, 0xFFFFFFEFu, 0xFFFFFFFFu);
    dt_udp_stats st = stats(&r);
    rig_close(&r);
    assert_int_equal(st.replayed, 1);
    assert_int_equal(st.frames_ok, 16);
    assert_int_equal(st.state_writes, 1);
    uint64_t v[2];
    read_slots(path, v);
    assert_true(v[0] == (uint64_t)1 << 48 || v[1] == (uint64_t)1 << 48);
    rig_open(&r, k.path, KEYED);
    assert_int_equal(r.rc, DT_ERANGE);
    assert_non_null(strstr(r.diag.message, "rotate the key"));
    rig_close(&r);
    static const uint64_t bad[] = {((uint64_t)1 << 48) + 1, UINT64_MAX, (uint64_t)1 << 63};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        put_state(path, 1, ID, k.link, bad[i]);
        rig_open(&r, k.path, KEYED);
        assert_int_equal(r.rc, DT_EPARSE);
        assert_non_null(strstr(r.diag.message, "out of range"));
        rig_close(&r);
    }
    /* another key's window (a rotated key): started over, its first frame taken */
    put_state(path, 1, ID, k.other, POS(9, 9));
    open_ok(&r, &k, "");
    send_run(&r, k.link, 0, 0, 1);
    st = stats(&r);
    rig_close(&r);
    keys_rm(&k);
    assert_int_equal(st.frames_ok, 2);
}

/* Hostile state files: each refused at load, naming the file and the fix;
 * never reset to "no floor". */
static void test_hostile_state_files(void **state)
{
    (void)state;
    keydir k;
    keys_make(&k);
    char path[160], cmd[400];
    snprintf(path, sizeof path, "%s/net.replay", k.path);
    rig r;
    open_ok(&r, &k, "");
    send_run(&r, k.link, 3, 0, 2);
    rig_close(&r);
    /* both slots damaged: refused; one slot damaged (a torn write): the other is used */
    uint8_t b[2 * SLOT];
    FILE *f = fopen(path, "rb");
    assert_int_equal(fread(b, 1, sizeof b, f), sizeof b);
    fclose(f);
    uint8_t d[2 * SLOT];
    memcpy(d, b, sizeof d);
    d[33] ^= 1;
    d[SLOT + 33] ^= 1;
    f = fopen(path, "wb");
    assert_int_equal(fwrite(d, 1, sizeof d, f), sizeof d);
    fclose(f);
    rig_open(&r, k.path, KEYED);
    assert_int_equal(r.rc, DT_EPARSE);
    assert_non_null(strstr(r.diag.message, "damaged (no intact copy)"));
    assert_non_null(strstr(r.diag.message, "net.replay"));
    rig_close(&r);
    uint64_t v[2];
    int torn = 0;
    memcpy(d, b, sizeof d);
    f = fopen(path, "wb");
    assert_int_equal(fwrite(d, 1, sizeof d, f), sizeof d);
    fclose(f);
    read_slots(path, v);
    torn = v[0] < v[1] ? 0 : 1; /* tear the slot of the older value */
    d[torn * SLOT + 5] ^= 0x40;
    f = fopen(path, "wb");
    assert_int_equal(fwrite(d, 1, sizeof d, f), sizeof d);
    fclose(f);
    open_ok(&r, &k, "");
    send_run(&r, k.link, 3, 2, 2); /* taken before: still refused */
    assert_int_equal(stats(&r).replayed, 1);
    rig_close(&r);
    /* truncated, grown, empty */
    static const long sizes[] = {0, 44, 87, 89, 4096};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        assert_int_equal(truncate(path, sizes[i]), 0);
        rig_open(&r, k.path, KEYED);
        assert_int_equal(r.rc, DT_EPARSE);
        assert_non_null(strstr(r.diag.message, "a state file holds 88"));
        rig_close(&r);
    }
    /* 88 zero bytes (a file system that lost the data after a crash) */
    assert_int_equal(truncate(path, 2 * SLOT), 0);
    rig_open(&r, k.path, KEYED);
    assert_int_equal(r.rc, DT_EPARSE);
    assert_non_null(strstr(r.diag.message, "damaged (no intact copy)"));
    rig_close(&r);
    put_state(path, 1, ID, k.link, POS(3, 100));
    /* modes */
    static const mode_t modes[] = {0644, 0640, 0400, 0700, 04600, 0666};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        assert_int_equal(chmod(path, modes[i]), 0);
        rig_open(&r, k.path, KEYED);
        assert_int_equal(r.rc, DT_EPERM);
        assert_non_null(strstr(r.diag.message, "chmod 600"));
        rig_close(&r);
    }
    assert_int_equal(chmod(path, 0600), 0);
    /* a symbolic link to a good state file, a directory, a FIFO */
    char other[170];
    snprintf(other, sizeof other, "%s.real", path);
    assert_int_equal(rename(path, other), 0);
    assert_int_equal(symlink(other, path), 0);
    rig_open(&r, k.path, KEYED);
    assert_int_equal(r.rc, DT_EPERM);
    assert_non_null(strstr(r.diag.message, "symbolic link"));
    rig_close(&r);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkfifo(path, 0600), 0);
    rig_open(&r, k.path, KEYED);
    assert_int_equal(r.rc, DT_EPERM);
    assert_non_null(strstr(r.diag.message, "not a regular file"));
    rig_close(&r);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rename(other, path), 0);
    /* another owner (needs root to make) */
    if (geteuid() == 0 && chown(path, 65534, 65534) == 0) {
        rig_open(&r, k.path, KEYED);
        assert_int_equal(r.rc, DT_EPERM);
        assert_non_null(strstr(r.diag.message, "owned by user 65534"));
        rig_close(&r);
        assert_int_equal(chown(path, 0, 0), 0);
    }
    /* a directory others can write: refused (they could delete the file) */
    char sub[200];
    snprintf(sub, sizeof sub, "%s/open", k.path);
    assert_int_equal(mkdir(sub, 0777), 0);
    assert_int_equal(chmod(sub, 0777), 0);
    char keys[400];
    snprintf(keys, sizeof keys, KEYED ",\"replay_state\":\"%s/net.replay\"", sub);
    rig_open(&r, k.path, keys);
    assert_int_equal(r.rc, DT_EPERM);
    assert_non_null(strstr(r.diag.message, "chmod go-w"));
    rig_close(&r);
    /* a sink's counter given to a source */
    put_state(path, 2, ID, k.link, 5);
    rig_open(&r, k.path, KEYED);
    assert_int_equal(r.rc, DT_EINVAL);
    assert_non_null(strstr(r.diag.message, "holds a sink's state"));
    rig_close(&r);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", sub);
    assert_int_equal(system(cmd), 0);
    keys_rm(&k);
}

/* Two sources on one file (a copy-paste in a description, or a second
 * twin on the same machine): the second is refused while the first holds
 * it. */
static void test_state_file_shared(void **state)
{
    (void)state;
    keydir k;
    keys_make(&k);
    rig a, b;
    open_ok(&a, &k, "");
    rig_open(&b, k.path, KEYED);
    assert_int_equal(b.rc, DT_EEXIST);
    assert_non_null(strstr(b.diag.message, "each link needs its own file"));
    rig_close(&b);
    rig_close(&a);
    open_ok(&b, &k, ""); /* free again */
    rig_close(&b);
    keys_rm(&k);
}

/* The description: replay_state required with "auth": "mac", saying what
 * to add; refused with "auth": "none"; replay_reserve in 1..2^20. */
static void test_description_rules(void **state)
{
    (void)state;
    keydir k;
    keys_make(&k);
    static const struct {
        const char *keys, *msg;
    } cases[] = {
        {KEYED ",\"replay_reserve\":16", "replay_state: required with \"auth\": \"mac\""},
        {KEYED ",\"replay_state\":\"\"", "replay_state: required"},
        {KEYED ",\"replay_state\":7", "replay_state: required"},
        {",\"auth\":\"none\",\"replay_state\":\"x\"", "replay_state: given with"},
        {",\"auth\":\"none\",\"replay_reserve\":8", "replay_reserve: given with"},
        {KEYED ",\"replay_state\":\"r\",\"replay_reserve\":0", "replay_reserve: 1..1048576"},
        {KEYED ",\"replay_state\":\"r\",\"replay_reserve\":1048577", "replay_reserve: 1..1048576"},
        {KEYED ",\"replay_state\":\"r\",\"replay_reserve\":2.5", "replay_reserve: 1..1048576"},
        {KEYED ",\"replay_state\":\"/nonexistent/dir/r\"", "/nonexistent/dir"},
        {KEYED ",\"replay_state\":\"/tmp/\"", "expected the path of a file"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rig r;
        rig_open(&r, k.path, cases[i].keys);
        if (r.rc == 0 || strstr(r.diag.message, cases[i].msg) == NULL)
            fail_msg("%s: rc %d, \"%s\"", cases[i].keys, r.rc, r.diag.message);
        rig_close(&r);
    }
    rig r;
    rig_open(&r, k.path, KEYED ",\"replay_reserve\":16");
    assert_non_null(strstr(r.diag.message, "\"replay_state\": \"state/net.replay\""));
    rig_close(&r);
    keys_rm(&k);
}

/* A keyed sink over DIR/drive.epoch sending to rx (NULL: port 9): the
 * result of dt_io_create, the io left in *io (NULL on failure). */
static int sink_open(const keydir *k, int rx, dt_model **m, dt_ingest **ing, dt_io **io,
                     dt_diag *d)
{
    struct sockaddr_in a = {0};
    a.sin_port = htons(9);
    socklen_t al = sizeof a;
    if (rx >= 0)
        assert_int_equal(getsockname(rx, (struct sockaddr *)&a, &al), 0);
    char doc[2048];
    snprintf(doc, sizeof doc,
             "{\"dtwin\":1,\"name\":\"sink\",\"assets\":[{\"id\":\"p\"}],\"signals\":["
             "{\"id\":\"u\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\","
             "\"role\":\"commanded\"}],\"keys\":{\"dir\":\"%s\"},"
             "\"sinks\":[{\"id\":\"drive\",\"kind\":\"udp\",\"host\":\"127.0.0.1\",\"port\":%d,"
             "\"source_id\":9" KEYED ",\"replay_state\":\"%s/drive.epoch\","
             "\"mapping\":[{\"channel\":3,\"signal\":\"u\"}]}]}",
             k->path, ntohs(a.sin_port), k->path);
    dt_model_options o = DT_MODEL_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    memset(d, 0, sizeof *d);
    assert_int_equal(dt_model_load_json(doc, strlen(doc), &o, m, d), 0);
    dt_ingest_config ic = DT_INGEST_CONFIG_INIT;
    assert_int_equal(dt_ingest_create(*m, &ic, ing), 0);
    *io = NULL;
    return dt_io_create(*m, *ing, NULL, "", NULL, dt_logger_silent(), io, d);
}

static void sink_close(dt_model *m, dt_ingest *ing, dt_io *io)
{
    dt_io_destroy(io);
    dt_ingest_destroy(ing);
    dt_model_destroy(m);
}

/* The sink's boot counter: the next epoch is in the file before the sink
 * sends anything (opened, nothing applied); 0, 1, 2 over three runs; the
 * last epoch (65535) is used once, then the sink refuses to open, naming
 * the fix; a counter beyond it is damage. */
static void test_sink_counter(void **state)
{
    (void)state;
    keydir k;
    keys_make(&k);
    char path[160];
    snprintf(path, sizeof path, "%s/drive.epoch", k.path);
    dt_model *m;
    dt_ingest *ing;
    dt_io *io;
    dt_diag d;
    for (uint64_t run = 0; run < 3; run++) {
        assert_int_equal(sink_open(&k, -1, &m, &ing, &io, &d), 0);
        uint64_t v[2];
        read_slots(path, v); /* nothing sent yet */
        assert_true(v[0] == run + 1 || v[1] == run + 1);
        sink_close(m, ing, io);
    }
    put_state(path, 2, 9, k.link, 65535);
    int rx = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(rx, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(sink_open(&k, rx, &m, &ing, &io, &d), 0);
    dt_command c;
    memset(&c, 0, sizeof c);
    c.seq = 1;
    c.t_deadline = 1;
    assert_int_equal(dt_io_apply(io, &c), 0);
    uint8_t b[128];
    ssize_t n = recv(rx, b, sizeof b, 0);
    assert_true(n > 0);
    dt_wire_header h;
    assert_int_equal(dt_wire_decode_auth(b, (size_t)n, k.link, &h), DT_WIRE_OK);
    assert_int_equal(h.epoch, 65535);
    sink_close(m, ing, io);
    close(rx);
    assert_int_equal(sink_open(&k, -1, &m, &ing, &io, &d), DT_ERANGE);
    assert_non_null(strstr(d.message, "rotate the key"));
    sink_close(m, ing, io);
    put_state(path, 2, 9, k.link, 65537);
    assert_int_equal(sink_open(&k, -1, &m, &ing, &io, &d), DT_EPARSE);
    assert_non_null(strstr(d.message, "out of range"));
    sink_close(m, ing, io);
    put_state(path, 1, 9, k.link, 3); /* a source's window */
    assert_int_equal(sink_open(&k, -1, &m, &ing, &io, &d), DT_EINVAL);
    assert_non_null(strstr(d.message, "holds a source's state"));
    sink_close(m, ing, io);
    keys_rm(&k);
}

/* The process may write files up to `bytes` (RLIM_INFINITY: the limit it
 * had): a real failure of pwrite (EFBIG) past the state file's first slot. */
static void limit_file_size(rlim_t bytes)
{
    static struct rlimit saved;
    static int have;
    if (!have) {
        assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
        have = 1;
    }
    signal(SIGXFSZ, SIG_IGN); /* the write fails with EFBIG instead of a signal */
    struct rlimit l = saved;
    if (bytes != RLIM_INFINITY)
        l.rlim_cur = bytes;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &l), 0);
}

/* A floor that cannot be written: the frame is refused (fail closed,
 * `state_write_errors`), the next one tries again; a sink whose boot
 * counter cannot be written refuses to open and keeps its counter. */
static void test_failed_writes(void **state)
{
    (void)state;
    keydir k;
    keys_make(&k);
    rig r;
    open_ok(&r, &k, ""); /* created: both slots 0, the next write to slot 1 */
    limit_file_size(SLOT);
    send_run(&r, k.link, 1, 0, 0);
    dt_udp_stats st = stats(&r);
    limit_file_size(RLIM_INFINITY);
    assert_int_equal(st.state_write_errors, 1);
    assert_int_equal(st.frames_ok, 0);
    assert_int_equal(st.frames_rejected, 1);
    send_run(&r, k.link, 1, 1, 1);
    st = stats(&r);
    rig_close(&r);
    assert_int_equal(st.frames_ok, 1);
    assert_int_equal(st.state_writes, 1);
    /* the sink: two runs leave its counter (2) in slot 0, the third writes slot 1 */
    dt_model *m;
    dt_ingest *ing;
    dt_io *io;
    dt_diag d;
    for (int run = 0; run < 2; run++) {
        assert_int_equal(sink_open(&k, -1, &m, &ing, &io, &d), 0);
        sink_close(m, ing, io);
    }
    limit_file_size(SLOT);
    int rc = sink_open(&k, -1, &m, &ing, &io, &d);
    limit_file_size(RLIM_INFINITY);
    sink_close(m, ing, io);
    assert_int_equal(rc, DT_EIO);
    assert_non_null(strstr(d.message, "cannot write the boot counter"));
    char path[160];
    snprintf(path, sizeof path, "%s/drive.epoch", k.path);
    uint64_t v[2];
    read_slots(path, v);
    assert_true(v[0] == 2 && v[1] == 1); /* the failed write left a slot it did not hold */
    assert_int_equal(sink_open(&k, -1, &m, &ing, &io, &d), 0); /* epoch 2 */
    sink_close(m, ing, io);
    read_slots(path, v);
    assert_int_equal(v[1], 3);
    keys_rm(&k);
}

/* dtwin check (a twin built with replay and validate set) refuses what
 * open would refuse about a state file, without creating it: a missing or
 * group-writable directory, a file of the wrong mode. */
static void test_check_without_creating(void **state)
{
    (void)state;
    keydir k;
    keys_make(&k);
    char doc[2048], sdir[128], file[160];
    snprintf(sdir, sizeof sdir, "%s/state", k.path);
    snprintf(file, sizeof file, "%s/net.replay", sdir);
    snprintf(doc, sizeof doc,
             "{\"dtwin\":1,\"name\":\"chk\",\"keys\":{\"dir\":\"%s\"},\"assets\":[{\"id\":\"p\"}],"
             "\"signals\":[{\"id\":\"y\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\","
             "\"role\":\"measured\"}],\"sources\":[{\"id\":\"net\",\"kind\":\"udp\",\"auth\":\"mac\","
             "\"key\":\"link\",\"replay_state\":\"%s\",\"port\":0,\"source_id\":1,\"timeout\":1,"
             "\"mapping\":[{\"channel\":1,\"signal\":\"y\"}]}]}",
             k.path, file);
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    o.replay = 1;
    o.validate = 1;
    dt_twin *t = NULL;
    dt_diag d;
    assert_int_not_equal(dt_twin_load_json(doc, strlen(doc), &o, &t, &d), 0);
    assert_non_null(strstr(d.message, "replay_state"));
    assert_int_equal(mkdir(sdir, 0770), 0);
    assert_int_equal(chmod(sdir, 0770), 0);
    assert_int_equal(dt_twin_load_json(doc, strlen(doc), &o, &t, &d), DT_EPERM);
    assert_int_equal(chmod(sdir, 0700), 0);
    assert_int_equal(dt_twin_load_json(doc, strlen(doc), &o, &t, &d), 0);
    dt_twin_destroy(t);
    struct stat sb;
    assert_int_not_equal(stat(file, &sb), 0); /* a check creates nothing */
    int fd = open(file, O_CREAT | O_WRONLY, 0644);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(chmod(file, 0644), 0);
    assert_int_equal(dt_twin_load_json(doc, strlen(doc), &o, &t, &d), DT_EPERM);
    assert_non_null(strstr(d.message, "chmod 600"));
    keys_rm(&k);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_sender_without_restart_recovers_within_reserve),
    cmocka_unit_test(test_default_reserve_and_new_epoch),
    cmocka_unit_test(test_epoch_order_and_seq_wrap),
    cmocka_unit_test(test_extreme_floors),
    cmocka_unit_test(test_hostile_state_files),
    cmocka_unit_test(test_state_file_shared),
    cmocka_unit_test(test_description_rules),
    cmocka_unit_test(test_sink_counter),
    cmocka_unit_test(test_failed_writes),
    cmocka_unit_test(test_check_without_creating),
};

int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
