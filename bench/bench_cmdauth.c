/* The cost of signed commands: dt_cmd_verify per command (Ed25519 alone,
 * Ed25519 with an estimator's belief token, the MAC option), signing, and a
 * twin that takes one signed command per cycle against the same twin taking
 * it unsigned or with the MAC option, interleaved in the same run. */
#include "bench_util.h"

#include <string.h>
#include <unistd.h>

#include "dtwin/dtwin.h"

#define N 2000

static dt_key *planner, *estimator, *fast;

static size_t record(const dt_key *k, uint64_t seq, dt_time now, const dt_belief_token *tok,
                     uint8_t *buf)
{
    dt_signed_command c;
    memset(&c, 0, sizeof c);
    dt_cmd_address("bench", "u", c.address);
    c.epoch = 1;
    c.seq = seq;
    c.t_issued = now;
    c.t_deadline = now + DT_NS_PER_S;
    c.value = 0.5;
    c.has_belief = tok != NULL;
    if (tok != NULL)
        c.belief = *tok;
    size_t len = 0;
    if (dt_cmd_sign(k, &c, buf, DT_CMDAUTH_MAX, &len) != 0)
        return 0;
    return len;
}

/* Verifying N fresh records; the records are signed beforehand. */
static double verify_us(const dt_key *k, int with_belief)
{
    static uint8_t recs[N][DT_CMDAUTH_MAX];
    static size_t lens[N];
    unsigned char pk[32];
    dt_cmd_verifier *v = NULL;
    dt_cmd_verifier_new("bench", 2, NULL, &v);
    if (dt_key_kind_of(k) == DT_KEY_SIGN) {
        dt_key_public(k, pk);
        dt_cmd_verifier_trust(v, "planner", pk);
    } else {
        dt_cmd_verifier_trust_mac(v, k);
    }
    dt_belief_token tok;
    double x = 1, P = 0.1;
    if (with_belief) {
        dt_key_public(estimator, pk);
        dt_cmd_verifier_trust_beliefs(v, "estimator", pk, 1);
        dt_belief_token_sign(estimator, 10 * DT_NS_PER_S, 1, &x, &P, 1, &tok);
    }
    static uint64_t seq;
    for (int i = 0; i < N; i++)
        lens[i] = record(k, ++seq, 10 * DT_NS_PER_S, with_belief ? &tok : NULL, recs[i]);
    double t0 = bench_now();
    int ok = 0;
    for (int i = 0; i < N; i++)
        ok += dt_cmd_verify(v, recs[i], lens[i], "u", 10 * DT_NS_PER_S, NULL) == DT_CMDAUTH_OK;
    double us = (bench_now() - t0) / N * 1e6;
    if (ok != N)
        fprintf(stderr, "bench_cmdauth: only %d of %d verified\n", ok, N);
    dt_cmd_verifier_free(v);
    return us;
}

static double sign_us(const dt_key *k)
{
    uint8_t b[DT_CMDAUTH_MAX];
    double t0 = bench_now();
    for (int i = 0; i < N; i++)
        bench_sink += (double)record(k, (uint64_t)i + 1, 0, NULL, b);
    return (bench_now() - t0) / N * 1e6;
}

static char doc[2048];
static char keydir[64];

/* mode 0: unsigned commands; 1: Ed25519 issuer; 2: MAC issuer */
static dt_twin *twin(int signed_cmds)
{
    unsigned char pk[32];
    char hex[65];
    dt_key_public(planner, pk);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", pk[i]);
    char auth[256] = "", keys[128] = "";
    if (signed_cmds == 1)
        snprintf(auth, sizeof auth,
                 ",\"auth\":{\"issuers\":[{\"name\":\"planner\",\"public\":\"%s\"}],"
                 "\"deadline_max\":2}", hex);
    if (signed_cmds == 2) {
        snprintf(auth, sizeof auth,
                 ",\"auth\":{\"issuers\":[{\"name\":\"fast\",\"mac\":\"fast\"}],"
                 "\"deadline_max\":2}");
        snprintf(keys, sizeof keys, "\"keys\":{\"dir\":\"%s\"},", keydir);
    }
    snprintf(doc, sizeof doc,
             "{\"dtwin\":1,\"name\":\"bench\",%s\"assets\":[{\"id\":\"a\"}],\"signals\":["
             "{\"id\":\"u\",\"asset\":\"a\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
             "\"role\":\"commanded\",\"limits\":{\"min\":0,\"max\":1}}],"
             "\"sinks\":[{\"id\":\"k\",\"kind\":\"memory\",\"capacity\":4096,"
             "\"mapping\":[{\"signal\":\"u\"}]}],"
             "\"dispatcher\":{\"safe\":{\"u\":0},\"max_data_age\":3600%s}}", keys, auth);
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_twin *t = NULL;
    dt_diag d;
    if (dt_twin_load_json(doc, strlen(doc), &o, &t, &d) != 0) {
        fprintf(stderr, "bench_cmdauth: %s\n", d.message);
        return NULL;
    }
    return t;
}

/* Seconds per cycle of a twin that takes one command per cycle. */
static double twin_cycle(int signed_cmds)
{
    static uint8_t recs[N][DT_CMDAUTH_MAX];
    static size_t lens[N];
    static uint64_t seq;
    dt_twin *t = twin(signed_cmds);
    if (t == NULL)
        return 0;
    dt_time now = 10 * DT_NS_PER_S;
    int rc = dt_twin_start(t, now);
    if (rc != 0) {
        fprintf(stderr, "bench_cmdauth: start: %s\n", dt_strerror(rc));
        dt_twin_destroy(t);
        return 0;
    }
    for (int i = 0; i < N; i++)
        lens[i] = record(signed_cmds == 2 ? fast : planner, ++seq, now + (dt_time)(i + 1) * DT_NS_PER_MS, NULL, recs[i]);
    dt_command c = {.signal = 0, .value = 0.5};
    dt_command out[8];
    double t0 = bench_now();
    for (int i = 0; i < N; i++) {
        now += DT_NS_PER_MS;
        if (signed_cmds) {
            dt_twin_submit_signed(t, recs[i], lens[i]);
        } else {
            c.t_issued = now;
            c.t_deadline = now + DT_NS_PER_S;
            dt_twin_submit(t, &c);
        }
        if (dt_twin_step(t, now) != 0)
            fprintf(stderr, "bench_cmdauth: step failed\n");
        bench_sink += (double)dt_memory_sink_read(dt_twin_io(t), 0, out, 8);
    }
    double s = (bench_now() - t0) / N;
    dt_twin_stats st;
    dt_twin_stats_get(t, &st);
    if (st.commands < N)
        fprintf(stderr, "bench_cmdauth: only %llu commands dispatched\n",
                (unsigned long long)st.commands);
    if (st.refused != 0)
        fprintf(stderr, "bench_cmdauth: %llu commands refused\n", (unsigned long long)st.refused);
    dt_twin_destroy(t);
    return s;
}

int main(void)
{
    char *dir = keydir;
    snprintf(keydir, sizeof keydir, "/tmp/dtwin-bench-cmd-XXXXXX");
    dt_keystore *ks = NULL;
    if (mkdtemp(dir) == NULL || dt_key_generate(dir, "planner", DT_KEY_SIGN, NULL) != 0 ||
        dt_key_generate(dir, "estimator", DT_KEY_SIGN, NULL) != 0 ||
        dt_key_generate(dir, "fast", DT_KEY_MAC, NULL) != 0 || dt_keystore_file(dir, &ks, NULL) != 0 ||
        dt_key_load(ks, "planner", DT_KEY_SIGN, &planner, NULL) != 0 ||
        dt_key_load(ks, "estimator", DT_KEY_SIGN, &estimator, NULL) != 0 ||
        dt_key_load(ks, "fast", DT_KEY_MAC, &fast, NULL) != 0) {
        fprintf(stderr, "bench_cmdauth: cannot make keys in %s\n", dir);
        return 1;
    }
    double a[BENCH_REPS], b[BENCH_REPS], m[BENCH_REPS], s[BENCH_REPS], sm[BENCH_REPS];
    double on[BENCH_REPS], off[BENCH_REPS], mac[BENCH_REPS];
    for (int r = 0; r < BENCH_REPS; r++) {
        a[r] = verify_us(planner, 0);
        b[r] = verify_us(planner, 1);
        m[r] = verify_us(fast, 0);
        s[r] = sign_us(planner);
        sm[r] = sign_us(fast);
        for (int k = 0; k < 3; k++) { /* each first in turn: no order bias */
            int mode = (k + r) % 3;
            double v = twin_cycle(mode) * 1e6;
            *(mode == 0 ? &off[r] : mode == 1 ? &on[r] : &mac[r]) = v;
        }
    }
    bench_line("cmdauth.verify_ed25519_us", bench_median(a, BENCH_REPS), "us");
    bench_line("cmdauth.verify_ed25519_belief_us", bench_median(b, BENCH_REPS), "us");
    bench_line("cmdauth.verify_mac_us", bench_median(m, BENCH_REPS), "us");
    bench_line("cmdauth.sign_ed25519_us", bench_median(s, BENCH_REPS), "us");
    bench_line("cmdauth.sign_mac_us", bench_median(sm, BENCH_REPS), "us");
    /* a cycle of a twin that takes one command per cycle: the price of
     * signed commands is the verification, per command */
    bench_line("cmdauth.twin_cycle_unsigned_us", bench_median(off, BENCH_REPS), "us");
    bench_line("cmdauth.twin_cycle_ed25519_us", bench_median(on, BENCH_REPS), "us");
    bench_line("cmdauth.twin_cycle_mac_us", bench_median(mac, BENCH_REPS), "us");
    dt_key_free(planner);
    dt_key_free(estimator);
    dt_key_free(fast);
    dt_keystore_close(ks);
    const char *files[] = {"planner.key", "planner.pub", "estimator.key", "estimator.pub", "fast.key"};
    for (size_t i = 0; i < 5; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    return 0;
}
