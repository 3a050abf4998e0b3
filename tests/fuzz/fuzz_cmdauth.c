/* Signed commands into a twin with dispatcher.auth. The input is read as a
 * list of records; each goes to the twin twice: as it is (the decoder and
 * the routing), and with its signature (and its belief token's) made good
 * with the trusted keys, so that every authentic-looking field reaches the
 * checks after the signature (address, replay window, times, belief age)
 * and the dispatcher's rules. Invariants: every record ends in exactly one
 * counter, nothing outside the signal's limits is ever sent, and a step
 * never fails. */
#define _DEFAULT_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dtwin/dtwin.h"
#include "fuzz_util.h"

static dt_key *planner, *estimator, *fast;
static char doc[2048];

static char dir[64] = "/tmp/dtwin-fuzz-cmd-XXXXXX";

static void cleanup(void)
{
    const char *f[] = {"planner.key", "planner.pub", "estimator.key", "estimator.pub", "fast.key"};
    for (size_t i = 0; i < 5; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s/%s", dir, f[i]);
        unlink(p);
    }
    rmdir(dir);
    dt_key_free(planner);
    dt_key_free(estimator);
    dt_key_free(fast);
}

static void init(void)
{
    dt_keystore *ks = NULL;
    FUZZ_CHECK(mkdtemp(dir) != NULL);
    FUZZ_CHECK(dt_key_generate(dir, "planner", DT_KEY_SIGN, NULL) == 0);
    FUZZ_CHECK(dt_key_generate(dir, "estimator", DT_KEY_SIGN, NULL) == 0);
    FUZZ_CHECK(dt_key_generate(dir, "fast", DT_KEY_MAC, NULL) == 0);
    FUZZ_CHECK(dt_keystore_file(dir, &ks, NULL) == 0);
    FUZZ_CHECK(dt_key_load(ks, "planner", DT_KEY_SIGN, &planner, NULL) == 0);
    FUZZ_CHECK(dt_key_load(ks, "estimator", DT_KEY_SIGN, &estimator, NULL) == 0);
    FUZZ_CHECK(dt_key_load(ks, "fast", DT_KEY_MAC, &fast, NULL) == 0);
    dt_keystore_close(ks);
    atexit(cleanup); /* the twins load "fast" from dir: it stays until the end */
    unsigned char pk[32];
    char hp[65], he[65];
    dt_key_public(planner, pk);
    for (int i = 0; i < 32; i++)
        snprintf(hp + 2 * i, 3, "%02x", pk[i]);
    dt_key_public(estimator, pk);
    for (int i = 0; i < 32; i++)
        snprintf(he + 2 * i, 3, "%02x", pk[i]);
    snprintf(doc, sizeof doc,
             "{\"dtwin\":1,\"name\":\"fz\",\"keys\":{\"dir\":\"%s\"},\"assets\":[{\"id\":\"a\"}],"
             "\"signals\":[{\"id\":\"u\",\"asset\":\"a\",\"quantity\":\"dimensionless\","
             "\"unit\":\"1\",\"role\":\"commanded\",\"limits\":{\"min\":0,\"max\":1}},"
             "{\"id\":\"w\",\"asset\":\"a\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
             "\"role\":\"commanded\",\"limits\":{\"min\":-1,\"max\":1}}],"
             "\"sinks\":[{\"id\":\"k\",\"kind\":\"memory\",\"capacity\":1024,"
             "\"mapping\":[{\"signal\":\"u\"},{\"signal\":\"w\"}]}],"
             "\"dispatcher\":{\"safe\":{\"u\":0,\"w\":0},\"max_data_age\":3600,"
             "\"auth\":{\"issuers\":[{\"name\":\"planner\",\"public\":\"%s\"},"
             "{\"name\":\"fast\",\"mac\":\"fast\"}],"
             "\"beliefs\":[{\"name\":\"estimator\",\"public\":\"%s\"}],"
             "\"max_belief_age\":0.5,\"deadline_max\":1}}}",
             dir, hp, he);
}

/* The record at b made authentic: its issuer's fingerprint and tag set by
 * the key its alg byte picks, its belief token (if flagged) signed by the
 * estimator over its fields as they are. */
static size_t make_good(uint8_t *b, size_t len)
{
    if (len < DT_CMDAUTH_FIXED)
        return 0;
    int mac = b[5] == DT_CMDAUTH_MAC;
    int belief = b[6] & 1u;
    memcpy(b, "DTSC", 4);
    b[4] = DT_CMDAUTH_VERSION;
    b[5] = mac ? DT_CMDAUTH_MAC : DT_CMDAUTH_ED25519;
    b[6] = belief ? DT_CMDAUTH_F_BELIEF : 0;
    b[7] = 0;
    memset(b + 36, 0, 4);
    size_t body = DT_CMDAUTH_FIXED + (belief ? DT_CMDAUTH_TOKEN_BYTES : 0);
    if (len < body)
        return 0;
    /* the issuer's fingerprint: the one dt_cmd_sign writes */
    dt_signed_command c;
    memset(&c, 0, sizeof c);
    c.seq = 1;
    c.value = 0;
    uint8_t tmp[DT_CMDAUTH_MAX];
    size_t n = 0;
    FUZZ_CHECK(dt_cmd_sign(mac ? fast : planner, &c, tmp, sizeof tmp, &n) == 0);
    memcpy(b + 8, tmp + 8, 8);
    if (belief) {
        /* a token the estimator signs, at the input's data time and seq (the
         * digest is of a belief of its own: the verifier does not read it) */
        dt_belief_token t;
        double x = 0;
        uint64_t td, seq;
        memcpy(&td, b + DT_CMDAUTH_FIXED + 8, 8);
        memcpy(&seq, b + DT_CMDAUTH_FIXED + 16, 8);
        if (!dt_time_valid((dt_time)td) ||
            dt_belief_token_sign(estimator, (dt_time)td, seq, &x, NULL, 1, &t) != 0)
            return 0;
        memcpy(b + DT_CMDAUTH_FIXED, t.estimator, 8);
        memcpy(b + DT_CMDAUTH_FIXED + 24, t.digest, 16);
        memcpy(b + DT_CMDAUTH_FIXED + 40, t.sig, DT_SIG_BYTES);
    }
    int rc = mac ? dt_mac(fast, b, body, b + body) : dt_sign(planner, b, body, b + body);
    FUZZ_CHECK(rc == 0);
    return body + (mac ? DT_MAC_BYTES : DT_SIG_BYTES);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        init();
        ready = 1;
    }
    if (size > FUZZ_MAX_INPUT)
        return 0;
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_twin *t = NULL;
    FUZZ_CHECK(dt_twin_load_json(doc, strlen(doc), &o, &t, NULL) == 0);
    dt_time now = 0;
    FUZZ_CHECK(dt_twin_start(t, now) == 0);
    uint64_t submitted = 0;
    size_t pos = 0;
    while (pos + 3 <= size) {
        /* [u16 length][u8 time step][record bytes] */
        size_t len = (size_t)data[pos] | (size_t)data[pos + 1] << 8;
        dt_time step = (dt_time)data[pos + 2] * DT_NS_PER_MS;
        pos += 3;
        if (len > size - pos)
            len = size - pos;
        uint8_t b[DT_CMDAUTH_MAX + 64];
        size_t n = len < sizeof b ? len : sizeof b;
        memcpy(b, data + pos, n);
        pos += len;
        int rc = dt_twin_submit_signed(t, b, n);
        submitted += rc == 0 || rc == DT_EPARSE || rc == DT_ENOTFOUND || rc == DT_EFULL;
        size_t g = make_good(b, n);
        if (g > 0) {
            rc = dt_twin_submit_signed(t, b, g);
            submitted += rc == 0 || rc == DT_EPARSE || rc == DT_ENOTFOUND || rc == DT_EFULL;
        }
        now += step;
        FUZZ_CHECK(dt_twin_step(t, now) == 0);
        dt_command out[16];
        size_t k = dt_memory_sink_read(dt_twin_io(t), 0, out, 16);
        for (size_t i = 0; i < k; i++)
            FUZZ_CHECK(isfinite(out[i].value) && out[i].value >= -1 && out[i].value <= 1);
    }
    dt_cmdauth_stats st;
    FUZZ_CHECK(dt_twin_cmdauth_stats(t, &st) == 0);
    uint64_t total = st.verified + st.queue_full;
    for (int e = 1; e < DT_CMDAUTH__COUNT; e++)
        total += st.refused[e];
    FUZZ_CHECK(total == submitted);
    if (getenv("DTWIN_FUZZ_VERBOSE") != NULL) /* how deep the input went */
        fprintf(stderr, "records %llu: verified %llu, bad_signature %llu, replayed %llu, "
                        "stale_belief %llu, bad_time %llu, expired %llu\n",
                (unsigned long long)total, (unsigned long long)st.verified,
                (unsigned long long)st.refused[DT_CMDAUTH_BAD_SIGNATURE],
                (unsigned long long)st.refused[DT_CMDAUTH_REPLAYED],
                (unsigned long long)st.refused[DT_CMDAUTH_STALE_BELIEF],
                (unsigned long long)st.refused[DT_CMDAUTH_BAD_TIME],
                (unsigned long long)st.refused[DT_CMDAUTH_EXPIRED]);
    dt_twin_destroy(t);
    return 0;
}
