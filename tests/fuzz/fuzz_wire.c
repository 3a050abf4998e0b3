/* libFuzzer: the UDP frame decoder, and the UDP source behind it. A frame the
 * decoder accepts must be readable record by record within its length, and
 * re-encode to the same bytes. Then the frame goes through two UDP sources
 * over loopback (one with a fixed clock, one estimating it) and on through
 * ingest: its raw int64 t_source values reach the time arithmetic of ingest
 * and the clock model, its seq and epoch the sequence window. Every datagram
 * and every record must end counted exactly one way, and the ingest
 * accounting identity must hold.
 *
 * The frame is sent as a short session that visits every sequence rule: as
 * is, again (duplicate), seq + 1, seq - 1, a jump of 2^31 - 16 and its
 * confirmation, a replay 100 behind, then (after 2 s of silence) a new epoch
 * twice. The host's clock starts at the first record's t_source when seq is
 * odd (so INT64_MIN/MAX reach `now` too), else at 0, and steps 10 ms
 * (saturating). Each variant is also sent as an authenticated (version 3)
 * frame, its MAC computed under a fixed key, to a third source that holds
 * that key, and the raw input is checked as a version 3 frame against the
 * key: only a correct MAC passes. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dtwin/dtwin.h"
#include "fuzz_util.h"

#define SOURCE_ID 42u

static void check_frame(const uint8_t *data, size_t size);
static void through_sources(const uint8_t *frame, size_t size);

/* The fixed key of the keyed source and of the version 3 checks: a host key
 * store backend (no file) for the checks, a key file for the source. */
static const unsigned char fuzz_key[DT_KEY_BYTES] = "dtwin fuzz_wire: a fixed MAC key";
static dt_key *key;
static char keydir[64];

static int fixed_unseal(void *self, const char *name, dt_key_kind kind, unsigned char *out,
                        char *why, size_t why_len)
{
    (void)self, (void)name, (void)kind, (void)why, (void)why_len;
    memcpy(out, fuzz_key, DT_KEY_BYTES);
    return 0;
}

static void key_dir_remove(void)
{
    char p[128];
    snprintf(p, sizeof p, "%s/link.key", keydir);
    (void)unlink(p);
    snprintf(p, sizeof p, "%s/mac.replay", keydir);
    (void)unlink(p);
    (void)rmdir(keydir);
}

static void key_init(void)
{
    if (key != NULL)
        return;
    static const dt_keystore_ops ops = {DT_KEYSTORE_ABI, fixed_unseal, NULL};
    dt_keystore *ks = NULL;
    FUZZ_CHECK(dt_keystore_open(&ops, NULL, &ks) == 0);
    FUZZ_CHECK(dt_key_load(ks, "fuzz", DT_KEY_MAC, &key, NULL) == 0);
    dt_keystore_close(ks);
    /* on tmpfs where there is one: the keyed source's replay state is
     * written (fdatasync) a few times per input */
    struct stat sb;
    snprintf(keydir, sizeof keydir, "%s/dtt-fuzzwire-XXXXXX",
             stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) ? "/dev/shm" : "/tmp");
    FUZZ_CHECK(mkdtemp(keydir) != NULL);
    atexit(key_dir_remove);
    char p[128];
    snprintf(p, sizeof p, "%s/link.key", keydir);
    FILE *f = fopen(p, "wb");
    FUZZ_CHECK(f != NULL && fwrite(fuzz_key, 1, DT_KEY_BYTES, f) == DT_KEY_BYTES);
    fclose(f);
    FUZZ_CHECK(chmod(p, 0600) == 0);
}

/* The input as a version 3 frame: its trailer set to the MAC under the
 * fixed key, so mutations reach the record checks; the raw bytes too. */
static void check_auth(const uint8_t *data, size_t size)
{
    key_init();
    uint8_t *buf = malloc(size ? size : 1);
    FUZZ_CHECK(buf != NULL);
    memcpy(buf, data, size);
    dt_wire_header h, hh;
    dt_wire_error raw = dt_wire_decode_auth(buf, size, key, &h);
    dt_wire_error eh = dt_wire_decode_header(buf, size, &hh);
    if (eh != DT_WIRE_OK)
        FUZZ_CHECK(raw == eh);
    else if (hh.version != DT_WIRE_VERSION_AUTH)
        FUZZ_CHECK(raw == DT_WIRE_BAD_MAC); /* a key given: no downgrade */
    if (size >= DT_WIRE_HEADER + DT_WIRE_MAC_TRAILER) {
        buf[4] = DT_WIRE_VERSION_AUTH;
        FUZZ_CHECK(dt_mac(key, buf, size - DT_WIRE_MAC_TRAILER,
                          buf + size - DT_WIRE_MAC_TRAILER) == 0);
        dt_wire_error e = dt_wire_decode_auth(buf, size, key, &h);
        eh = dt_wire_decode_header(buf, size, &hh);
        FUZZ_CHECK(e == eh);
        FUZZ_CHECK(dt_wire_decode(buf, size, NULL) == (eh == DT_WIRE_OK ? DT_WIRE_BAD_MAC : eh));
        if (e == DT_WIRE_OK) {
            static dt_wire_sample ss[DT_WIRE_MAX_SAMPLES_AUTH];
            static dt_wire_command cs[DT_WIRE_MAX_COMMANDS_AUTH];
            static uint8_t again[DT_WIRE_MAX_DATAGRAM];
            for (size_t i = 0; i < h.count; i++) {
                if (h.type == DT_WIRE_SAMPLES)
                    dt_wire_sample_at(buf, i, &ss[i]);
                else
                    dt_wire_command_at(buf, i, &cs[i]);
            }
            size_t n = h.type == DT_WIRE_SAMPLES
                           ? dt_wire_encode_samples_auth(again, sizeof again, &h, ss, h.count, key)
                           : dt_wire_encode_commands_auth(again, sizeof again, &h, cs, h.count,
                                                          key);
            FUZZ_CHECK(n == size && memcmp(again, buf, size) == 0);
            buf[size - 1] ^= 1; /* any change to the tag: refused */
            FUZZ_CHECK(dt_wire_decode_auth(buf, size, key, NULL) == DT_WIRE_BAD_MAC);
        }
    }
    free(buf);
}

/* Each input is tried as sent and, so that mutations get past the checksum to
 * the record checks and the accept path, once more with its trailer set to
 * the correct CRC-32 (little-endian, over everything before it). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > DT_WIRE_MAX_DATAGRAM)
        return 0;
    check_frame(data, size);
    check_auth(data, size);
    if (size >= DT_WIRE_HEADER + DT_WIRE_TRAILER) {
        static uint8_t fixed[DT_WIRE_MAX_DATAGRAM];
        memcpy(fixed, data, size);
        uint32_t crc = dt_wire_crc32(fixed, size - DT_WIRE_TRAILER);
        for (int i = 0; i < 4; i++)
            fixed[size - DT_WIRE_TRAILER + (size_t)i] = (uint8_t)(crc >> (8 * i));
        check_frame(fixed, size);
        through_sources(fixed, size);
    }
    return 0;
}

static void check_frame(const uint8_t *data, size_t size)
{
    /* the decoder reads only what it is given: copy to an exact-size buffer so
     * ASan sees any read past it */
    uint8_t *buf = malloc(size ? size : 1);
    FUZZ_CHECK(buf != NULL);
    memcpy(buf, data, size);
    dt_wire_header h;
    dt_wire_error e = dt_wire_decode(buf, size, &h);
    FUZZ_CHECK(dt_wire_error_name(e) != NULL);
    /* the header check is the full check without the CRC */
    dt_wire_header hh;
    dt_wire_error eh = dt_wire_decode_header(buf, size, &hh);
    FUZZ_CHECK(e == eh || (eh == DT_WIRE_OK && (e == DT_WIRE_BAD_CRC || e == DT_WIRE_BAD_MAC)));
    if (e == DT_WIRE_OK) {
        FUZZ_CHECK(h.version == hh.version && h.type == hh.type &&
                   h.source_id == hh.source_id && h.seq == hh.seq && h.count == hh.count &&
                   h.epoch == hh.epoch);
        FUZZ_CHECK(h.version == 1 || h.version == 2);
        FUZZ_CHECK(h.version == 2 || h.epoch == 0);
        size_t rec = h.type == DT_WIRE_SAMPLES ? DT_WIRE_SAMPLE_RECORD : DT_WIRE_COMMAND_RECORD;
        FUZZ_CHECK(DT_WIRE_HEADER + (size_t)h.count * rec + DT_WIRE_TRAILER <= size);
        static dt_wire_sample ss[DT_WIRE_MAX_SAMPLES];
        static dt_wire_command cs[DT_WIRE_MAX_COMMANDS];
        static uint8_t again[DT_WIRE_MAX_DATAGRAM];
        for (size_t i = 0; i < h.count; i++) {
            if (h.type == DT_WIRE_SAMPLES)
                dt_wire_sample_at(buf, i, &ss[i]);
            else
                dt_wire_command_at(buf, i, &cs[i]);
        }
        size_t n = h.type == DT_WIRE_SAMPLES
                       ? dt_wire_encode_samples_v2(again, sizeof again, &h, ss, h.count)
                       : dt_wire_encode_commands_v2(again, sizeof again, &h, cs, h.count);
        FUZZ_CHECK(n == size && memcmp(again, buf, size) == 0); /* decode o encode = id */
    }
    free(buf);
}

/* ---- through the UDP sources and ingest ---- */

static const char doc_fmt[] =
    "{\"dtwin\":1,\"name\":\"fw\",\"assets\":[{\"id\":\"p\"}],\"keys\":{\"dir\":\"%s\"},\"signals\":["
    "{\"id\":\"a\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","
    " \"limits\":{\"min\":-1e6,\"max\":1e6}},"
    "{\"id\":\"b\",\"asset\":\"p\",\"quantity\":\"temperature\",\"unit\":\"K\",\"role\":\"measured\"}],"
    "\"sources\":["
    "{\"id\":\"fx\",\"kind\":\"udp\",\"auth\":\"none\",\"port\":0,\"source_id\":42,\"max_count\":2046,\"ring\":64,"
    " \"reorder\":64,\"poll_datagrams\":3,\"restart_after\":1,"
    " \"mapping\":[{\"channel\":0,\"signal\":\"a\",\"unit\":\"mm\"},{\"channel\":1,\"signal\":\"b\","
    "  \"unit\":\"degC\"}]},"
    "{\"id\":\"est\",\"kind\":\"udp\",\"auth\":\"none\",\"port\":0,\"source_id\":42,\"max_count\":2046,\"ring\":4096,"
    " \"reorder\":64,\"clock\":{\"mode\":\"estimate\",\"window\":0.001,\"windows\":2,\"jump\":0.001},"
    " \"mapping\":[{\"channel\":0,\"signal\":\"a\"},{\"channel\":1,\"signal\":\"b\"}]},"
    "{\"id\":\"mac\",\"kind\":\"udp\",\"auth\":\"mac\",\"key\":\"link\",\"port\":0,\"source_id\":42,"
    " \"replay_state\":\"%s/mac.replay\",\"replay_reserve\":64,"
    " \"max_count\":2046,\"ring\":4096,\"reorder\":64,"
    " \"mapping\":[{\"channel\":0,\"signal\":\"a\"},{\"channel\":1,\"signal\":\"b\"}]}]}";

#define NSRC 3

static dt_model *model;
static dt_registry *reg;
static int tx = -1;

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static dt_time sat_add(dt_time a, dt_time b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    return a + b;
}

typedef struct session {
    dt_ingest *ing;
    dt_io *io;
    struct sockaddr_in to[NSRC];
    dt_time now;
    uint64_t sent;
} session;

static void cycle(session *s)
{
    dt_sample out[64];
    /* the poll budget (3 datagrams for fx) may leave datagrams queued: a few
     * polls read them all */
    for (int i = 0; i < 2; i++) {
        (void)dt_io_poll(s->io, s->now);
        (void)dt_ingest_poll(s->ing, s->now);
        while (dt_ingest_release(s->ing, out, 64) > 0) {
        }
    }
}

/* Whether the frame, authenticated, still fits one datagram and the record
 * limit of version 3 (12 bytes longer, 2045 samples at most). */
static int keyed_fits(const uint8_t *f, size_t n)
{
    size_t count = (size_t)f[16] | (size_t)f[17] << 8;
    return n - DT_WIRE_TRAILER + DT_WIRE_MAC_TRAILER <= DT_WIRE_MAX_DATAGRAM &&
           count <= DT_WIRE_MAX_SAMPLES_AUTH;
}

/* frame with seq, epoch (version 2 if epoch >= 0, else as it is), CRC fixed */
static void send_variant(session *s, uint8_t *f, size_t n, uint32_t seq, int epoch)
{
    put32(f + 12, seq);
    if (epoch >= 0) {
        f[4] = 2;
        f[18] = (uint8_t)epoch;
        f[19] = (uint8_t)(epoch >> 8);
    }
    put32(f + n - 4, dt_wire_crc32(f, n - 4));
    for (int i = 0; i < 2; i++)
        if (sendto(tx, f, n, 0, (const struct sockaddr *)&s->to[i], sizeof s->to[i]) ==
            (ssize_t)n)
            s->sent++;
    /* the same frame authenticated, 12 bytes longer, to the keyed source */
    static uint8_t a[DT_WIRE_MAX_DATAGRAM];
    size_t na = n - DT_WIRE_TRAILER + DT_WIRE_MAC_TRAILER;
    if (keyed_fits(f, n)) {
        memcpy(a, f, n - DT_WIRE_TRAILER);
        a[4] = DT_WIRE_VERSION_AUTH;
        FUZZ_CHECK(dt_mac(key, a, na - DT_WIRE_MAC_TRAILER, a + na - DT_WIRE_MAC_TRAILER) == 0);
        (void)sendto(tx, a, na, 0, (const struct sockaddr *)&s->to[2], sizeof s->to[2]);
    }
    cycle(s);
    s->now = sat_add(s->now, 10 * DT_NS_PER_MS);
}

static void through_sources(const uint8_t *frame, size_t size)
{
    if (model == NULL) {
        key_init();
        static char doc[4096];
        snprintf(doc, sizeof doc, doc_fmt, keydir, keydir);
        dt_model_options o = DT_MODEL_OPTIONS_INIT;
        o.logger = dt_logger_silent();
        FUZZ_CHECK(dt_model_load_json(doc, strlen(doc), &o, &model, NULL) == 0);
        FUZZ_CHECK(dt_registry_create(NULL, &reg) == 0);
        tx = socket(AF_INET, SOCK_DGRAM, 0);
        FUZZ_CHECK(tx >= 0);
    }
    /* addressed to the sources: their id, sample type; the rest as fuzzed */
    static uint8_t f[DT_WIRE_MAX_DATAGRAM];
    memcpy(f, frame, size);
    f[5] = DT_WIRE_SAMPLES;
    put32(f + 8, SOURCE_ID);
    dt_wire_header h;
    put32(f + size - 4, dt_wire_crc32(f, size - 4));
    if (dt_wire_decode(f, size, &h) != DT_WIRE_OK)
        return; /* the decoder's refusals are covered above */

    session s;
    memset(&s, 0, sizeof s);
    dt_ingest_config ic = DT_INGEST_CONFIG_INIT;
    ic.logger = dt_logger_silent();
    FUZZ_CHECK(dt_ingest_create(model, &ic, &s.ing) == 0);
    /* each input is a first start of the twin: no floor from the last one */
    char state[128];
    snprintf(state, sizeof state, "%s/mac.replay", keydir);
    (void)unlink(state);
    if (dt_io_create(model, s.ing, reg, NULL, NULL, dt_logger_silent(), &s.io, NULL) != 0) {
        dt_ingest_destroy(s.ing); /* out of ports or memory: not the input's fault */
        return;
    }
    for (size_t i = 0; i < NSRC; i++) {
        dt_udp_stats st;
        FUZZ_CHECK(dt_udp_source_stats(s.io, i, &st) == 0);
        s.to[i].sin_family = AF_INET;
        s.to[i].sin_port = htons(st.port);
        s.to[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    }
    dt_wire_sample r0;
    dt_wire_sample_at(f, 0, &r0);
    s.now = (h.seq & 1) ? r0.t_source : 0;
    (void)dt_ingest_start(s.ing, s.now);

    uint32_t q = h.seq;
    int e = h.version == 2 ? (int)h.epoch : -1;
    send_variant(&s, f, size, q, e);               /* as is (the first frame) */
    send_variant(&s, f, size, q, e);               /* duplicate */
    send_variant(&s, f, size, q + 1, e);           /* advance */
    send_variant(&s, f, size, q, e);               /* duplicate in the window */
    send_variant(&s, f, size, q + 0x7FFFFFF0u, e); /* a jump: unconfirmed */
    send_variant(&s, f, size, q + 0x7FFFFFF1u, e); /* confirmed */
    send_variant(&s, f, size, q + 1, e);           /* a replay, now too old */
    s.now = sat_add(s.now, 2 * DT_NS_PER_S);       /* silence */
    send_variant(&s, f, size, 0, e);               /* version 1: a restart candidate */
    send_variant(&s, f, size, 1, e);
    int e2 = (int)((h.epoch + 1u) & 0xFFFFu);
    send_variant(&s, f, size, 0, e2); /* a new epoch, confirmed */
    send_variant(&s, f, size, 1, e2);
    send_variant(&s, f, size, 2, e >= 0 ? e : 0); /* the old session: stale */

    for (size_t i = 0; i < NSRC; i++) {
        dt_udp_stats st;
        FUZZ_CHECK(dt_udp_source_stats(s.io, i, &st) == 0);
        uint64_t rej = st.wrong_type + st.wrong_source + st.kernel_truncated + st.too_old +
                       st.stale_epoch + st.unconfirmed + st.bad_mac + st.unauthenticated +
                       st.wrong_peer + st.replayed + st.state_write_errors;
        for (int k = 0; k < DT_WIRE_V1_ERRORS; k++)
            rej += st.rejected[k];
        /* all authentic, and each input a first start */
        FUZZ_CHECK(st.bad_mac + st.unauthenticated + st.wrong_peer + st.replayed +
                       st.state_write_errors == 0);
        if (i == 2 && !keyed_fits(f, size)) {
            FUZZ_CHECK(st.datagrams == 0);
            continue;
        }
        FUZZ_CHECK(st.frames_rejected == rej);
        FUZZ_CHECK(st.datagrams == st.frames_ok + st.duplicate + st.frames_rejected);
        FUZZ_CHECK(st.records == st.samples + st.bad_records + st.unmapped_records +
                                     st.records_dropped);
        FUZZ_CHECK(st.records == st.frames_ok * h.count);
        FUZZ_CHECK(st.frames_ok >= 2); /* the first frame and the advance, at least */
        dt_source_stats ss;
        FUZZ_CHECK(dt_ingest_source_stats(s.ing, dt_io_source_ingest_id(s.io, i), &ss) == 0);
        FUZZ_CHECK(fuzz_accounted(&ss));
        FUZZ_CHECK(ss.offered == st.samples);
    }
    dt_io_destroy(s.io);
    dt_ingest_destroy(s.ing);
}
