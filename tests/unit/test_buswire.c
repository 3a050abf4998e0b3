/* The MQTT bus payload codec (dtwin/buswire.h, docs/wire.md "Bus messages"):
 * one message of each type against bytes written by hand (not by the
 * encoder), the same bytes in the docs' hex dumps and in the fuzz seeds, every
 * refusal reason, extreme values, and lengths off by one. */
#include <float.h>
#include <stdlib.h>

#include "test_util.h"

#include "dtwin/dtwin.h"

#ifndef DTT_SOURCE_DIR
#define DTT_SOURCE_DIR "."
#endif

/* ---- the examples, byte by byte (docs/wire.md shows the same) ---- */

#define HDR(type, count, seq)                                                              \
    0x44, 0x54, 0x57, 0x42, 0x01, type, count, 0x00, 0x07, 0x00, 0x00, 0x00, 0x03, 0x00,     \
        0x00, 0x00, seq, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00
#define T_1_5 0x00, 0x2f, 0x68, 0x59, 0x00, 0x00, 0x00, 0x00 /* 1500000000 ns */
#define T_2_0 0x00, 0x94, 0x35, 0x77, 0x00, 0x00, 0x00, 0x00
#define T_3_0 0x00, 0x5e, 0xd0, 0xb2, 0x00, 0x00, 0x00, 0x00
#define T_3_1 0x00, 0x3f, 0xc6, 0xb8, 0x00, 0x00, 0x00, 0x00
#define T_3_2 0x00, 0x20, 0xbc, 0xbe, 0x00, 0x00, 0x00, 0x00
#define D(hi, lo) 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, lo, hi /* 8 LE bytes of a double */
#define ZERO8 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00

/* samples: epoch 7, contract 3, seq 42; channel 0 = 2.5 (variance 0.25, bit 0),
 * channel 1 = -1.0 (uncertain, no variance), both at t 1.5 s */
static const uint8_t ex_samples[] = {
    HDR(0x01, 0x02, 0x2a),
    0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, T_1_5, D(0x40, 0x04), D(0x3f, 0xd0),
    0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, T_1_5, D(0xbf, 0xf0), ZERO8};
/* belief: seq 5; t_valid 2 s, 2 states, mean (1, -0.5), P = [4 1; 1 2] */
static const uint8_t ex_belief[] = {
    HDR(0x02, 0x01, 0x05),
    T_2_0, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    D(0x3f, 0xf0), D(0xbf, 0xe0), D(0x40, 0x10), D(0x3f, 0xf0), D(0x40, 0x00)};
/* commands: seq 9; command 17 = 0.75, issued 3 s, deadline 3.2 s, origin
 * controller 2 (0x1002), authority 0 */
static const uint8_t ex_commands[] = {
    HDR(0x03, 0x01, 0x09),
    0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, T_3_0, T_3_2, D(0x3f, 0xe8),
    0x02, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
/* acks: seq 10; 17 sent and clamped (0x03) at 3 s; 18 expired (0x10) with
 * DT_ETIMEOUT (-16) at 3.1 s */
static const uint8_t ex_acks[] = {
    HDR(0x04, 0x02, 0x0a),
    0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, T_3_0,
    0x12, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0xf0, 0xff, 0xff, 0xff, T_3_1};

static const dt_buswire_sample ex_s[2] = {
    {.channel = 0, .flags = DT_BUSWIRE_F_VARIANCE, .t_source = 1500000000, .value = 2.5, .variance = 0.25},
    {.channel = 1, .flags = DT_BUSWIRE_F_UNCERTAIN, .t_source = 1500000000, .value = -1.0, .variance = 0}};
static const double ex_mean[2] = {1.0, -0.5};
static const double ex_P[4] = {4, 1, 1, 2};
static const dt_buswire_command ex_c = {.seq = 17, .t_issued = 3000000000, .t_deadline = 3200000000,
                                        .value = 0.75, .origin = DT_ORIGIN_CONTROLLER | 2, .authority = 0};
static const dt_buswire_ack ex_a[2] = {
    {.seq = 17, .decision = DT_DISP_SENT | DT_DISP_CLAMPED, .status = 0, .t = 3000000000},
    {.seq = 18, .decision = DT_DISP_EXPIRED, .status = DT_ETIMEOUT, .t = 3100000000}};

static dt_buswire_header hdr(uint64_t seq)
{
    dt_buswire_header h = {.epoch = 7, .contract = 3, .seq = seq};
    return h;
}

static uint8_t buf[DT_BUSWIRE_MAX_BYTES + 64];

/* the example of a type, encoded */
static size_t encode_example(int type, uint8_t *b, size_t cap)
{
    dt_buswire_header h;
    switch (type) {
    case DT_BUSWIRE_SAMPLES: h = hdr(42); return dt_buswire_encode_samples(b, cap, &h, ex_s, 2);
    case DT_BUSWIRE_BELIEF: h = hdr(5); return dt_buswire_encode_belief(b, cap, &h, 2000000000, 2, ex_mean, ex_P);
    case DT_BUSWIRE_COMMANDS: h = hdr(9); return dt_buswire_encode_commands(b, cap, &h, &ex_c, 1);
    default: h = hdr(10); return dt_buswire_encode_acks(b, cap, &h, ex_a, 2);
    }
}

static const struct {
    const char *name;
    const uint8_t *bytes;
    size_t len;
} examples[4] = {{"samples", ex_samples, sizeof ex_samples},
                 {"belief", ex_belief, sizeof ex_belief},
                 {"commands", ex_commands, sizeof ex_commands},
                 {"acks", ex_acks, sizeof ex_acks}};

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
/* ---- the examples ---- */

static void test_examples_exact_bytes(void **state)
{
    (void)state;
    for (int t = 1; t <= 4; t++) {
        size_t n = encode_example(t, buf, sizeof buf);
        assert_int_equal(n, examples[t - 1].len);
        assert_memory_equal(buf, examples[t - 1].bytes, n);
        dt_buswire_header h;
        assert_int_equal(dt_buswire_decode_header(examples[t - 1].bytes, n, &h), DT_BUSWIRE_OK);
        assert_int_equal(h.version, 1);
        assert_int_equal(h.type, t);
        assert_int_equal(h.epoch, 7);
        assert_int_equal(h.contract, 3);
    }
    assert_int_equal(sizeof ex_samples, 24 + 2 * 32);
    assert_int_equal(sizeof ex_belief, DT_BUSWIRE_BELIEF_BYTES(2));
    assert_int_equal(sizeof ex_commands, 24 + 40);
    assert_int_equal(sizeof ex_acks, 24 + 2 * 24);
}

static void test_examples_decode(void **state)
{
    (void)state;
    dt_buswire_sample s;
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(dt_buswire_sample_at(ex_samples, sizeof ex_samples, i, &s), DT_BUSWIRE_OK);
        assert_memory_equal(&s, &ex_s[i], sizeof s);
    }
    dt_buswire_command c;
    assert_int_equal(dt_buswire_command_at(ex_commands, sizeof ex_commands, 0, &c), DT_BUSWIRE_OK);
    assert_true(c.seq == 17 && c.t_issued == 3000000000 && c.t_deadline == 3200000000 &&
                c.value == 0.75 && c.origin == 0x1002 && c.authority == 0);
    dt_buswire_ack a;
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(dt_buswire_ack_at(ex_acks, sizeof ex_acks, i, &a), DT_BUSWIRE_OK);
        assert_true(a.seq == ex_a[i].seq && a.decision == ex_a[i].decision &&
                    a.status == ex_a[i].status && a.t == ex_a[i].t);
    }
    dt_buswire_header h;
    dt_time tv = 0;
    size_t n = 0;
    double mean[4], P[16];
    assert_int_equal(dt_buswire_decode_belief(ex_belief, sizeof ex_belief, &h, &tv, &n, mean, P, 4),
                     DT_BUSWIRE_OK);
    assert_true(h.type == DT_BUSWIRE_BELIEF && h.count == 1 && h.seq == 5);
    assert_true(tv == 2000000000 && n == 2);
    assert_memory_equal(mean, ex_mean, sizeof ex_mean);
    assert_memory_equal(P, ex_P, sizeof ex_P); /* stride n, both triangles */
}

/* The hex dumps of docs/wire.md: each follows "<!-- buswire example: NAME -->"
 * in a ```text block, lines "OFFSET  XX XX ..."; on a mismatch the right
 * dump is printed, ready to paste. */
static void print_dump(const char *name, const uint8_t *b, size_t n)
{
    print_message("<!-- buswire example: %s -->\n```text\n", name);
    for (size_t i = 0; i < n; i += 16) {
        print_message("%04zx", i);
        for (size_t j = i; j < i + 16 && j < n; j++)
            print_message("%s%02x", (j - i) % 8 == 0 ? "  " : " ", b[j]);
        print_message("\n");
    }
    print_message("```\n");
}

static size_t parse_dump(const char *doc, const char *name, uint8_t *out, size_t cap)
{
    char marker[64];
    snprintf(marker, sizeof marker, "<!-- buswire example: %s -->", name);
    const char *p = strstr(doc, marker);
    if (p == NULL || (p = strstr(p, "```text\n")) == NULL)
        return 0;
    p += 8;
    const char *end = strstr(p, "```");
    size_t n = 0;
    while (end != NULL && p < end) {
        char *q;
        unsigned long off = strtoul(p, &q, 16); /* the offset column */
        if (off != n)
            return 0;
        p = q;
        while (*p != '\n' && p < end) {
            unsigned long v = strtoul(p, &q, 16);
            if (q == p || n == cap)
                return 0;
            out[n++] = (uint8_t)v;
            p = q;
            while (*p == ' ')
                p++;
        }
        p++;
    }
    return n;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char data[1 << 18];
    size_t n = fread(data, 1, sizeof data - 1, f);
    fclose(f);
    data[n] = 0;
    *len = n;
    return data;
}

static void test_docs_hex_dumps(void **state)
{
    (void)state;
    size_t len;
    const char *doc = slurp(DTT_SOURCE_DIR "/docs/wire.md", &len);
    for (int t = 1; t <= 4; t++) {
        uint8_t got[256], want[256];
        size_t n = encode_example(t, want, sizeof want);
        size_t m = parse_dump(doc, examples[t - 1].name, got, sizeof got);
        if (m != n || memcmp(got, want, n) != 0) {
            print_dump(examples[t - 1].name, want, n);
            fail_msg("docs/wire.md: the %s example is not the encoder's output", examples[t - 1].name);
        }
    }
}

/* the fuzz seeds tests/fuzz/corpus/buswire/<name>.bin are the examples */
static void test_corpus_seeds(void **state)
{
    (void)state;
    for (int t = 0; t < 4; t++) {
        char path[512];
        snprintf(path, sizeof path, DTT_SOURCE_DIR "/tests/fuzz/corpus/buswire/%s.bin",
                 examples[t].name);
        size_t n;
        const char *d = slurp(path, &n);
        assert_int_equal(n, examples[t].len);
        assert_memory_equal(d, examples[t].bytes, n);
    }
}

static void test_error_names(void **state)
{
    (void)state;
    for (int i = 0; i < DT_BUSWIRE__COUNT; i++) {
        const char *a = dt_buswire_error_name((dt_buswire_error)i);
        assert_non_null(a);
        assert_string_not_equal(a, "?");
        for (int j = 0; j < i; j++)
            assert_string_not_equal(a, dt_buswire_error_name((dt_buswire_error)j));
    }
    assert_string_equal(dt_buswire_error_name(DT_BUSWIRE_NOT_PSD), "not_psd");
    assert_string_equal(dt_buswire_error_name(DT_BUSWIRE_DEADLINE_BEFORE_ISSUED),
                        "deadline_before_issued");
    assert_string_equal(dt_buswire_error_name(DT_BUSWIRE__COUNT), "?");
    assert_string_equal(dt_buswire_error_name((dt_buswire_error)-1), "?");
}

/* ---- the header ---- */

static void test_short_every_length(void **state)
{
    (void)state;
    double mean[2], P[4];
    dt_buswire_sample s;
    dt_buswire_command c;
    dt_buswire_ack a;
    for (int t = 0; t < 4; t++)
        for (size_t len = 0; len < DT_BUSWIRE_HEADER; len++) {
            /* an exact-size copy: ASan sees any read past it */
            uint8_t *b = malloc(len ? len : 1);
            assert_non_null(b);
            memcpy(b, examples[t].bytes, len);
            assert_int_equal(dt_buswire_decode_header(b, len, NULL), DT_BUSWIRE_SHORT);
            assert_int_equal(dt_buswire_sample_at(b, len, 0, &s), DT_BUSWIRE_SHORT);
            assert_int_equal(dt_buswire_command_at(b, len, 0, &c), DT_BUSWIRE_SHORT);
            assert_int_equal(dt_buswire_ack_at(b, len, 0, &a), DT_BUSWIRE_SHORT);
            assert_int_equal(dt_buswire_decode_belief(b, len, NULL, NULL, NULL, mean, P, 2),
                             DT_BUSWIRE_SHORT);
            free(b);
        }
    assert_int_equal(dt_buswire_decode_header(NULL, 100, NULL), DT_BUSWIRE_SHORT);
}

static void expect_header(const uint8_t *b, size_t len, dt_buswire_error want)
{
    dt_buswire_header h = {.seq = 99};
    assert_int_equal(dt_buswire_decode_header(b, len, &h), want);
    if (want != DT_BUSWIRE_OK)
        assert_int_equal(h.seq, 99); /* untouched */
}

static void test_header_fields(void **state)
{
    (void)state;
    uint8_t b[128];
    for (int t = 0; t < 4; t++) {
        size_t n = examples[t].len;
        memcpy(b, examples[t].bytes, n);
        expect_header(b, n, DT_BUSWIRE_OK);
        for (int k = 0; k < 4; k++) { /* each magic byte */
            b[k] ^= 0x20;
            expect_header(b, n, DT_BUSWIRE_BAD_MAGIC);
            b[k] ^= 0x20;
        }
        static const uint8_t versions[] = {0, 2, 255}, types[] = {0, 5, 255};
        for (int k = 0; k < 3; k++) {
            b[4] = versions[k];
            expect_header(b, n, DT_BUSWIRE_BAD_VERSION);
            b[4] = 1;
            b[5] = types[k];
            expect_header(b, n, DT_BUSWIRE_BAD_TYPE);
            b[5] = (uint8_t)(t + 1);
        }
        put_le(b + 12, 0, 4);
        expect_header(b, n, DT_BUSWIRE_BAD_CONTRACT);
        put_le(b + 12, UINT32_MAX, 4); /* any other contract version */
        expect_header(b, n, DT_BUSWIRE_OK);
        put_le(b + 6, 0, 2);
        expect_header(b, n, DT_BUSWIRE_EMPTY);
        memcpy(b, examples[t].bytes, n);
        /* length off by one both ways */
        expect_header(b, n - 1, DT_BUSWIRE_TRUNCATED);
        expect_header(b, n + 1, DT_BUSWIRE_TRAILING);
        /* epoch and seq take any value */
        put_le(b + 8, UINT32_MAX, 4);
        put_le(b + 16, UINT64_MAX, 8);
        dt_buswire_header h;
        assert_int_equal(dt_buswire_decode_header(b, n, &h), DT_BUSWIRE_OK);
        assert_true(h.epoch == UINT32_MAX && h.seq == UINT64_MAX);
    }
    /* a belief carries exactly one */
    memcpy(b, ex_belief, sizeof ex_belief);
    b[6] = 2;
    expect_header(b, sizeof ex_belief, DT_BUSWIRE_TOO_MANY);
}

/* count 0 / max / max + 1 for each record type; max fits DT_BUSWIRE_MAX_BYTES */
static dt_buswire_sample many_s[DT_BUSWIRE_MAX_SAMPLES + 1];
static dt_buswire_command many_c[DT_BUSWIRE_MAX_COMMANDS + 1];
static dt_buswire_ack many_a[DT_BUSWIRE_MAX_ACKS + 1];

static size_t encode_n(int type, size_t n)
{
    dt_buswire_header h = hdr(1);
    if (type == DT_BUSWIRE_SAMPLES)
        return dt_buswire_encode_samples(buf, sizeof buf, &h, many_s, n);
    if (type == DT_BUSWIRE_COMMANDS)
        return dt_buswire_encode_commands(buf, sizeof buf, &h, many_c, n);
    return dt_buswire_encode_acks(buf, sizeof buf, &h, many_a, n);
}

static void test_counts(void **state)
{
    (void)state;
    static const struct {
        int type;
        size_t max, rec;
    } k[3] = {{DT_BUSWIRE_SAMPLES, DT_BUSWIRE_MAX_SAMPLES, DT_BUSWIRE_SAMPLE_RECORD},
              {DT_BUSWIRE_COMMANDS, DT_BUSWIRE_MAX_COMMANDS, DT_BUSWIRE_COMMAND_RECORD},
              {DT_BUSWIRE_ACKS, DT_BUSWIRE_MAX_ACKS, DT_BUSWIRE_ACK_RECORD}};
    assert_int_equal(DT_BUSWIRE_MAX_SAMPLES, 8191);
    assert_int_equal(DT_BUSWIRE_MAX_COMMANDS, 6553);
    assert_int_equal(DT_BUSWIRE_MAX_ACKS, 10921);
    for (size_t i = 0; i <= DT_BUSWIRE_MAX_SAMPLES; i++)
        many_s[i] = (dt_buswire_sample){.channel = (uint32_t)i, .value = (double)i};
    for (size_t i = 0; i <= DT_BUSWIRE_MAX_COMMANDS; i++)
        many_c[i] = (dt_buswire_command){.seq = i, .value = 1};
    for (size_t i = 0; i <= DT_BUSWIRE_MAX_ACKS; i++)
        many_a[i] = (dt_buswire_ack){.seq = i};
    for (int t = 0; t < 3; t++) {
        assert_int_equal(encode_n(k[t].type, 0), 0);
        assert_int_equal(encode_n(k[t].type, k[t].max + 1), 0);
        size_t n = encode_n(k[t].type, k[t].max);
        assert_int_equal(n, DT_BUSWIRE_HEADER + k[t].max * k[t].rec);
        assert_true(n <= DT_BUSWIRE_MAX_BYTES && n + k[t].rec > DT_BUSWIRE_MAX_BYTES);
        expect_header(buf, n, DT_BUSWIRE_OK);
        expect_header(buf, n - 1, DT_BUSWIRE_TRUNCATED);
        expect_header(buf, n + 1, DT_BUSWIRE_TRAILING);
        /* the last record is readable, one past it is not */
        dt_buswire_sample so;
        dt_buswire_command co;
        dt_buswire_ack ao;
        if (k[t].type == DT_BUSWIRE_SAMPLES) {
            assert_int_equal(dt_buswire_sample_at(buf, n, k[t].max - 1, &so), DT_BUSWIRE_OK);
            assert_int_equal(so.channel, k[t].max - 1);
            assert_int_equal(dt_buswire_sample_at(buf, n, k[t].max, &so), DT_BUSWIRE_BAD_ARG);
            assert_int_equal(dt_buswire_command_at(buf, n, 0, &co), DT_BUSWIRE_BAD_TYPE);
        } else if (k[t].type == DT_BUSWIRE_COMMANDS) {
            assert_int_equal(dt_buswire_command_at(buf, n, k[t].max - 1, &co), DT_BUSWIRE_OK);
            assert_int_equal(co.seq, k[t].max - 1);
            assert_int_equal(dt_buswire_command_at(buf, n, k[t].max, &co), DT_BUSWIRE_BAD_ARG);
            assert_int_equal(dt_buswire_ack_at(buf, n, 0, &ao), DT_BUSWIRE_BAD_TYPE);
        } else {
            assert_int_equal(dt_buswire_ack_at(buf, n, k[t].max - 1, &ao), DT_BUSWIRE_OK);
            assert_int_equal(ao.seq, k[t].max - 1);
            assert_int_equal(dt_buswire_ack_at(buf, n, k[t].max, &ao), DT_BUSWIRE_BAD_ARG);
            assert_int_equal(dt_buswire_ack_at(buf, n, 0, NULL), DT_BUSWIRE_BAD_ARG);
        }
        /* a header that claims max + 1 */
        put_le(buf + 6, k[t].max + 1, 2);
        expect_header(buf, n + k[t].rec, DT_BUSWIRE_TOO_MANY);
        put_le(buf + 6, UINT16_MAX, 2);
        expect_header(buf, n, DT_BUSWIRE_TOO_MANY);
    }
}

static void test_encoder_arguments(void **state)
{
    (void)state;
    dt_buswire_header h = hdr(1);
    uint8_t b[128];
    double mean[2], P[4];
    /* it fits exactly, and not one byte less */
    for (int t = 1; t <= 4; t++) {
        assert_int_equal(encode_example(t, b, examples[t - 1].len), examples[t - 1].len);
        assert_int_equal(encode_example(t, b, examples[t - 1].len - 1), 0);
    }
    assert_int_equal(dt_buswire_encode_samples(NULL, 100, &h, ex_s, 1), 0);
    assert_int_equal(dt_buswire_encode_samples(b, sizeof b, NULL, ex_s, 1), 0);
    assert_int_equal(dt_buswire_encode_samples(b, sizeof b, &h, NULL, 1), 0);
    assert_int_equal(dt_buswire_encode_commands(b, sizeof b, &h, NULL, 1), 0);
    assert_int_equal(dt_buswire_encode_acks(b, sizeof b, &h, NULL, 1), 0);
    assert_int_equal(dt_buswire_encode_belief(b, sizeof b, &h, 0, 2, NULL, ex_P), 0);
    assert_int_equal(dt_buswire_encode_belief(b, sizeof b, &h, 0, 2, ex_mean, NULL), 0);
    assert_int_equal(dt_buswire_encode_belief(b, sizeof b, NULL, 0, 2, ex_mean, ex_P), 0);
    h.contract = 0; /* a message every reader refuses */
    assert_int_equal(dt_buswire_encode_samples(b, sizeof b, &h, ex_s, 1), 0);
    assert_int_equal(dt_buswire_encode_commands(b, sizeof b, &h, &ex_c, 1), 0);
    assert_int_equal(dt_buswire_encode_acks(b, sizeof b, &h, ex_a, 1), 0);
    assert_int_equal(dt_buswire_encode_belief(b, sizeof b, &h, 0, 2, ex_mean, ex_P), 0);
    /* version, type and count of h are the encoder's own */
    h = (dt_buswire_header){.version = 9, .type = 9, .count = 9, .epoch = 7, .contract = 3, .seq = 42};
    assert_int_equal(dt_buswire_encode_samples(b, sizeof b, &h, ex_s, 2), sizeof ex_samples);
    assert_memory_equal(b, ex_samples, sizeof ex_samples);
    /* the decoder's arguments */
    assert_int_equal(dt_buswire_decode_belief(ex_belief, sizeof ex_belief, NULL, NULL, NULL, NULL, P, 2),
                     DT_BUSWIRE_BAD_ARG);
    assert_int_equal(dt_buswire_decode_belief(ex_belief, sizeof ex_belief, NULL, NULL, NULL, mean, NULL, 2),
                     DT_BUSWIRE_BAD_ARG);
    assert_int_equal(dt_buswire_decode_belief(ex_samples, sizeof ex_samples, NULL, NULL, NULL, mean, P, 2),
                     DT_BUSWIRE_BAD_TYPE);
    assert_int_equal(dt_buswire_sample_at(ex_belief, sizeof ex_belief, 0, NULL), DT_BUSWIRE_BAD_TYPE);
    assert_int_equal(dt_buswire_sample_check(NULL), DT_BUSWIRE_BAD_ARG);
    assert_int_equal(dt_buswire_command_check(NULL), DT_BUSWIRE_BAD_ARG);
    assert_int_equal(dt_buswire_ack_check(NULL), DT_BUSWIRE_BAD_ARG);
    double w[3];
    assert_int_equal(dt_buswire_belief_check(0, 2, ex_mean, ex_P, NULL), DT_BUSWIRE_BAD_ARG);
    assert_int_equal(dt_buswire_belief_check(0, 2, ex_mean, ex_P, w), DT_BUSWIRE_OK);
}

/* A belief with its times (flag bit 0, 16 bytes after the covariance):
 * round trip; a belief without them reads t_data = t_sent = t_valid; times
 * out of order are refused by the encoder and the decoder; an unknown flag
 * bit is bad_reserved. */
static void le_put(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void test_belief_times(void **state)
{
    (void)state;
    uint8_t msg[256];
    dt_buswire_header h = {DT_BUSWIRE_VERSION, DT_BUSWIRE_BELIEF, 1, 7, 3, 5};
    const double x[2] = {1, -0.5}, P[4] = {4, 1, 1, 2};
    const dt_time tv = 2 * DT_NS_PER_S, td = tv - 300 * DT_NS_PER_MS, ts = tv + 40 * DT_NS_PER_MS;
    size_t len = dt_buswire_encode_belief_timed(msg, sizeof msg, &h, tv, td, ts, 2, x, P);
    assert_int_equal(len, DT_BUSWIRE_BELIEF_BYTES(2) + DT_BUSWIRE_BELIEF_TIMES_BYTES);
    dt_time t = 0, d = 0, s = 0;
    size_t n = 0;
    double m[2], C[4];
    assert_int_equal(dt_buswire_decode_belief(msg, len, NULL, &t, &n, m, C, 2), DT_BUSWIRE_OK);
    assert_int_equal(dt_buswire_belief_times(msg, len, &d, &s), DT_BUSWIRE_OK);
    assert_true(t == tv && d == td && s == ts && n == 2);
    /* cut by its times, or one byte short of them */
    assert_int_equal(dt_buswire_decode_belief(msg, len - 16, NULL, &t, &n, m, C, 2),
                     DT_BUSWIRE_TRUNCATED);
    assert_int_equal(dt_buswire_decode_belief(msg, len - 1, NULL, &t, &n, m, C, 2),
                     DT_BUSWIRE_TRUNCATED);
    /* out of order: data after the belief's time, a send before it */
    uint8_t bad[256];
    memcpy(bad, msg, len);
    le_put(bad + len - 16, (uint64_t)(tv + 1), 8);
    assert_int_equal(dt_buswire_decode_belief(bad, len, NULL, &t, &n, m, C, 2),
                     DT_BUSWIRE_BAD_TIME);
    memcpy(bad, msg, len);
    le_put(bad + len - 8, (uint64_t)(tv - 1), 8);
    assert_int_equal(dt_buswire_belief_times(bad, len, &d, &s), DT_BUSWIRE_BAD_TIME);
    assert_int_equal(dt_buswire_encode_belief_timed(msg, sizeof msg, &h, tv, tv + 1, ts, 2, x, P),
                     0);
    assert_int_equal(dt_buswire_encode_belief_timed(msg, sizeof msg, &h, tv, td, tv - 1, 2, x, P),
                     0);
    assert_int_equal(dt_buswire_encode_belief_timed(msg, sizeof msg, &h, tv, INT64_MIN, ts, 2, x,
                                                    P),
                     0);
    /* another flag bit */
    len = dt_buswire_encode_belief_timed(msg, sizeof msg, &h, tv, td, ts, 2, x, P);
    le_put(msg + DT_BUSWIRE_HEADER + 12, 3, 4);
    assert_int_equal(dt_buswire_decode_header(msg, len, NULL), DT_BUSWIRE_BAD_RESERVED);
    /* without times: all three are t_valid */
    len = dt_buswire_encode_belief(msg, sizeof msg, &h, tv, 2, x, P);
    assert_int_equal(dt_buswire_belief_times(msg, len, &d, &s), DT_BUSWIRE_OK);
    assert_true(d == tv && s == tv);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_belief_times),
    cmocka_unit_test(test_examples_exact_bytes),
    cmocka_unit_test(test_examples_decode),
    cmocka_unit_test(test_docs_hex_dumps),
    cmocka_unit_test(test_corpus_seeds),
    cmocka_unit_test(test_error_names),
    cmocka_unit_test(test_short_every_length),
    cmocka_unit_test(test_header_fields),
    cmocka_unit_test(test_counts),
    cmocka_unit_test(test_encoder_arguments),
};

DTT_MAIN(tests)
