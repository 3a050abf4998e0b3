/* Red team of signed commands, least privilege and the planes: each test is
 * a reproducer of one defect found by attacking the change, kept so that it
 * stays fixed (what it did before the fix is said above each test). */
#define _DEFAULT_SOURCE
#include "test_util.h"

#include <stdlib.h>
#include <unistd.h>

#include "dtwin/dtwin.h"

#define S DT_NS_PER_S
#define MS DT_NS_PER_MS

static struct {
    char dir[64];
    dt_keystore *ks;
    dt_key *planner, *estimator;
    char planner_hex[65];
} K;

static int setup(void **state)
{
    (void)state;
    snprintf(K.dir, sizeof K.dir, "/tmp/dtt-redcmd-XXXXXX");
    if (mkdtemp(K.dir) == NULL || dt_key_generate(K.dir, "planner", DT_KEY_SIGN, NULL) != 0 ||
        dt_key_generate(K.dir, "estimator", DT_KEY_SIGN, NULL) != 0 ||
        dt_keystore_file(K.dir, &K.ks, NULL) != 0 ||
        dt_key_load(K.ks, "planner", DT_KEY_SIGN, &K.planner, NULL) != 0 ||
        dt_key_load(K.ks, "estimator", DT_KEY_SIGN, &K.estimator, NULL) != 0)
        return -1;
    unsigned char pk[32];
    dt_key_public(K.planner, pk);
    for (int i = 0; i < 32; i++)
        snprintf(K.planner_hex + 2 * i, 3, "%02x", pk[i]);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    dt_key_free(K.planner);
    dt_key_free(K.estimator);
    dt_keystore_close(K.ks);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", K.dir);
    return system(cmd) == 0 ? 0 : -1;
}

static size_t sign(const dt_key *key, const char *twin, const char *signal, uint32_t epoch,
                   uint64_t seq, dt_time now, double value, const dt_belief_token *tok,
                   uint8_t *rec)
{
    dt_signed_command c;
    memset(&c, 0, sizeof c);
    assert_int_equal(dt_cmd_address(twin, signal, c.address), 0);
    c.epoch = epoch;
    c.seq = seq;
    c.t_issued = now;
    c.t_deadline = now + 100 * MS;
    c.value = value;
    c.has_belief = tok != NULL;
    if (tok != NULL)
        c.belief = *tok;
    size_t len = 0;
    assert_int_equal(dt_cmd_sign(key, &c, rec, DT_CMDAUTH_MAX, &len), 0);
    return len;
}

/* Before the fix: an issuer at seq 2^64 - 1 whose previous command arrived
 * after it (within the window) added 2^64 - 2 to seq_gaps: top + 1 wrapped
 * to 0, so every seq looked "ahead" of it. */
static void test_seq_gaps_at_top(void **state)
{
    (void)state;
    dt_cmd_verifier *v = NULL;
    assert_int_equal(dt_cmd_verifier_new("plant", 1, NULL, &v), 0);
    unsigned char pk[32];
    dt_key_public(K.planner, pk);
    assert_int_equal(dt_cmd_verifier_trust(v, "planner", pk), 0);
    uint8_t rec[DT_CMDAUTH_MAX];
    dt_time now = 10 * S;
    const uint64_t seqs[] = {UINT64_MAX - 2, UINT64_MAX, UINT64_MAX - 1};
    for (size_t i = 0; i < 3; i++) {
        size_t n = sign(K.planner, "plant", "valve", 7, seqs[i], now, 0.5, NULL, rec);
        assert_int_equal(dt_cmd_verify(v, rec, n, "valve", now, NULL), DT_CMDAUTH_OK);
    }
    dt_cmdauth_stats st;
    dt_cmd_verifier_stats(v, &st);
    assert_int_equal(st.verified, 3);
    assert_int_equal(st.seq_gaps, 1); /* UINT64_MAX - 1, skipped, then arrived late */
    /* the window still refuses the three */
    for (size_t i = 0; i < 3; i++) {
        size_t n = sign(K.planner, "plant", "valve", 7, seqs[i], now, 0.5, NULL, rec);
        assert_int_equal(dt_cmd_verify(v, rec, n, "valve", now, NULL), DT_CMDAUTH_REPLAYED);
    }
    dt_cmd_verifier_free(v);
}

/* Before the fix: a verifier that requires no belief token took a record
 * carrying a token of a revoked estimator key, although "from now on every
 * record it signed, as issuer or as estimator, is refused" (cmdauth.h,
 * docs/security.md); dt_cmd_verifier_revoked said 1 for the same record. */
static void test_revoked_estimator_without_beliefs(void **state)
{
    (void)state;
    dt_cmd_verifier *v = NULL;
    assert_int_equal(dt_cmd_verifier_new("plant", 1, NULL, &v), 0);
    unsigned char pk[32];
    dt_key_public(K.planner, pk);
    assert_int_equal(dt_cmd_verifier_trust(v, "planner", pk), 0);
    assert_int_equal(dt_cmd_verifier_revoke(v, dt_key_id(K.estimator)), 0);
    double x = 1, P = 0.1;
    dt_time now = 10 * S;
    dt_belief_token tok;
    assert_int_equal(dt_belief_token_sign(K.estimator, now, 1, &x, &P, 1, &tok), 0);
    uint8_t rec[DT_CMDAUTH_MAX];
    size_t n = sign(K.planner, "plant", "valve", 1, 1, now, 0.5, &tok, rec);
    assert_int_equal(dt_cmd_verifier_revoked(v, rec, n), 1);
    assert_int_equal(dt_cmd_verify(v, rec, n, "valve", now, NULL), DT_CMDAUTH_REVOKED);
    /* the same command without the token is the planner's and goes */
    n = sign(K.planner, "plant", "valve", 1, 2, now, 0.5, NULL, rec);
    assert_int_equal(dt_cmd_verify(v, rec, n, "valve", now, NULL), DT_CMDAUTH_OK);
    dt_cmd_verifier_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seq_gaps_at_top),
        cmocka_unit_test(test_revoked_estimator_without_beliefs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
