/* Signed commands (dtwin/cmdauth.h): the record, belief tokens, and the
 * verifier against forgeries, replays, wrong addresses, bad times, missing
 * or stale beliefs, revocation. Every refusal is counted under its reason
 * and leaves the issuer's replay window where it was. */
#define _DEFAULT_SOURCE
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "dtwin/dtwin.h"

#define S DT_NS_PER_S

typedef struct keyset {
    char dir[64];
    dt_keystore *ks;
    dt_key *planner, *estimator, *mallory, *fast;
    unsigned char planner_pk[32], estimator_pk[32], mallory_pk[32];
} keyset;

static keyset K;

static int setup(void **state)
{
    (void)state;
    memset(&K, 0, sizeof K);
    snprintf(K.dir, sizeof K.dir, "/tmp/dtt-cmdauth-XXXXXX");
    if (mkdtemp(K.dir) == NULL)
        return -1;
    const char *sign[] = {"planner", "estimator", "mallory"};
    dt_key **dst[] = {&K.planner, &K.estimator, &K.mallory};
    unsigned char *pk[] = {K.planner_pk, K.estimator_pk, K.mallory_pk};
    if (dt_key_generate(K.dir, "fast", DT_KEY_MAC, NULL) != 0 ||
        dt_keystore_file(K.dir, &K.ks, NULL) != 0 ||
        dt_key_load(K.ks, "fast", DT_KEY_MAC, &K.fast, NULL) != 0)
        return -1;
    for (int i = 0; i < 3; i++)
        if (dt_key_generate(K.dir, sign[i], DT_KEY_SIGN, NULL) != 0 ||
            dt_key_load(K.ks, sign[i], DT_KEY_SIGN, dst[i], NULL) != 0 ||
            dt_key_public(*dst[i], pk[i]) != 0)
            return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    dt_key_free(K.planner);
    dt_key_free(K.estimator);
    dt_key_free(K.mallory);
    dt_key_free(K.fast);
    dt_keystore_close(K.ks);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", K.dir);
    return system(cmd) == 0 ? 0 : -1;
}

static dt_signed_command cmd_at(uint64_t seq, dt_time now, double value)
{
    dt_signed_command c;
    memset(&c, 0, sizeof c);
    assert_int_equal(dt_cmd_address("plant", "valve", c.address), 0);
    c.epoch = 7;
    c.seq = seq;
    c.t_issued = now;
    c.t_deadline = now + S / 10;
    c.value = value;
    return c;
}

static size_t sign(const dt_key *k, const dt_signed_command *c, uint8_t *buf)
{
    size_t len = 0;
    assert_int_equal(dt_cmd_sign(k, c, buf, DT_CMDAUTH_MAX, &len), 0);
    return len;
}

static dt_cmd_verifier *verifier(void)
{
    dt_cmd_verifier *v = NULL;
    assert_int_equal(dt_cmd_verifier_new("plant", 1.0, NULL, &v), 0);
    assert_int_equal(dt_cmd_verifier_trust(v, "planner", K.planner_pk), 0);
    return v;
}

static uint64_t refused(const dt_cmd_verifier *v, dt_cmdauth_error e)
{
    dt_cmdauth_stats st;
    dt_cmd_verifier_stats(v, &st);
    return st.refused[e];
}

static uint64_t verified(const dt_cmd_verifier *v)
{
    dt_cmdauth_stats st;
    dt_cmd_verifier_stats(v, &st);
    return st.verified;
}

/* The record reads back field by field; both algorithms; the encoder
 * refuses what the decoder would. */
static void test_round_trip(void **state)
{
    (void)state;
    uint8_t b[DT_CMDAUTH_MAX];
    dt_signed_command c = cmd_at(1, 5 * S, 0.25), d;
    size_t n = sign(K.planner, &c, b);
    assert_int_equal(n, DT_CMDAUTH_FIXED + DT_SIG_BYTES);
    unsigned char id[8];
    unsigned alg = 0;
    assert_int_equal(dt_cmd_decode(b, n, &d, id, &alg), DT_CMDAUTH_OK);
    assert_int_equal(alg, DT_CMDAUTH_ED25519);
    assert_memory_equal(d.address, c.address, 16);
    assert_true(d.epoch == 7 && d.seq == 1 && d.t_issued == 5 * S && d.value == 0.25);
    char hex[17];
    for (int i = 0; i < 8; i++)
        snprintf(hex + 2 * i, 3, "%02x", id[i]);
    assert_string_equal(hex, dt_key_id(K.planner));
    n = sign(K.fast, &c, b);
    assert_int_equal(n, DT_CMDAUTH_FIXED + DT_MAC_BYTES);
    assert_int_equal(dt_cmd_decode(b, n, &d, NULL, &alg), DT_CMDAUTH_OK);
    assert_int_equal(alg, DT_CMDAUTH_MAC);
    /* what a decoder refuses, the encoder refuses */
    size_t len;
    dt_signed_command bad = c;
    bad.value = NAN;
    assert_int_equal(dt_cmd_sign(K.planner, &bad, b, sizeof b, &len), DT_EINVAL);
    bad = c;
    bad.seq = 0;
    assert_int_equal(dt_cmd_sign(K.planner, &bad, b, sizeof b, &len), DT_EINVAL);
    bad = c;
    bad.t_deadline = c.t_issued - 1;
    assert_int_equal(dt_cmd_sign(K.planner, &bad, b, sizeof b, &len), DT_EINVAL);
    bad = c;
    bad.t_issued = INT64_MIN;
    assert_int_equal(dt_cmd_sign(K.planner, &bad, b, sizeof b, &len), DT_EINVAL);
    assert_int_equal(dt_cmd_sign(K.planner, &c, b, DT_CMDAUTH_FIXED, &len), DT_EFULL);
    /* addresses: twin and signal both count, and their boundary */
    unsigned char a1[16], a2[16];
    assert_int_equal(dt_cmd_address("ab", "c", a1), 0);
    assert_int_equal(dt_cmd_address("a", "bc", a2), 0);
    assert_memory_not_equal(a1, a2, 16);
}

/* 1000 forgeries: another key, the planner's fingerprint on another key's
 * signature, every single-bit flip of an authentic record, cut and padded
 * records. None verifies; the honest next command still does. */
static void test_forgeries(void **state)
{
    (void)state;
    dt_cmd_verifier *v = verifier();
    uint8_t b[DT_CMDAUTH_MAX], f[DT_CMDAUTH_MAX + 8];
    dt_time now = 10 * S;
    dt_signed_command c = cmd_at(1, now, 1.0);
    size_t n = sign(K.planner, &c, b);
    assert_int_equal(dt_cmd_verify(v, b, n, "valve", now, NULL), DT_CMDAUTH_OK);
    uint64_t forged = 0;
    for (uint64_t i = 0; i < 250; i++) {
        /* mallory's own key: an unknown issuer */
        dt_signed_command m = cmd_at(2 + i, now, 100.0);
        size_t fn = sign(K.mallory, &m, f);
        assert_int_equal(dt_cmd_verify(v, f, fn, "valve", now, NULL), DT_CMDAUTH_UNKNOWN_ISSUER);
        /* mallory's signature under the planner's fingerprint */
        dt_cmd_decode(b, n, &m, NULL, NULL);
        memcpy(f + 8, b + 8, 8);
        assert_int_equal(dt_cmd_verify(v, f, fn, "valve", now, NULL), DT_CMDAUTH_BAD_SIGNATURE);
        /* seq 2^31 ahead, a newer epoch: still mallory's */
        m = cmd_at((uint64_t)1 << 31, now, 100.0);
        m.epoch = UINT32_MAX;
        fn = sign(K.mallory, &m, f);
        memcpy(f + 8, b + 8, 8);
        assert_int_equal(dt_cmd_verify(v, f, fn, "valve", now, NULL), DT_CMDAUTH_BAD_SIGNATURE);
        /* the planner's MAC-less twin: a MAC record under the planner's id */
        fn = sign(K.fast, &m, f);
        memcpy(f + 8, b + 8, 8);
        assert_int_equal(dt_cmd_verify(v, f, fn, "valve", now, NULL), DT_CMDAUTH_UNKNOWN_ISSUER);
        forged += 4;
    }
    /* every bit of an authentic (not yet accepted) record */
    c = cmd_at(2, now, 1.5);
    n = sign(K.planner, &c, b);
    for (size_t bit = 0; bit < n * 8; bit++) {
        memcpy(f, b, n);
        f[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_not_equal(dt_cmd_verify(v, f, n, "valve", now, NULL), DT_CMDAUTH_OK);
        forged++;
    }
    memcpy(f, b, n);
    assert_int_equal(dt_cmd_verify(v, f, n - 1, "valve", now, NULL), DT_CMDAUTH_MALFORMED);
    f[n] = 0;
    assert_int_equal(dt_cmd_verify(v, f, n + 1, "valve", now, NULL), DT_CMDAUTH_MALFORMED);
    assert_int_equal(dt_cmd_verify(v, NULL, n, "valve", now, NULL), DT_CMDAUTH_MALFORMED);
    forged += 3;
    dt_cmdauth_stats st;
    dt_cmd_verifier_stats(v, &st);
    uint64_t total = 0;
    for (int e = 1; e < DT_CMDAUTH__COUNT; e++)
        total += st.refused[e];
    assert_true(total == forged);
    assert_int_equal(st.verified, 1);
    printf("forged records refused: %llu of %llu (bad_signature %llu, unknown_issuer %llu, "
           "malformed %llu)\n", (unsigned long long)total, (unsigned long long)forged,
           (unsigned long long)st.refused[DT_CMDAUTH_BAD_SIGNATURE],
           (unsigned long long)st.refused[DT_CMDAUTH_UNKNOWN_ISSUER],
           (unsigned long long)st.refused[DT_CMDAUTH_MALFORMED]);
    /* the window did not move: the honest seq 2 goes through */
    assert_int_equal(dt_cmd_verify(v, b, n, "valve", now, NULL), DT_CMDAUTH_OK);
    dt_cmd_verifier_free(v);
}

/* Replays are refused within an epoch and from older epochs; the window
 * takes commands that overtook each other once each. */
static void test_replays(void **state)
{
    (void)state;
    dt_cmd_verifier *v = verifier();
    uint8_t rec[80][DT_CMDAUTH_MAX];
    size_t len[80];
    dt_time now = 10 * S;
    for (int i = 0; i < 80; i++) {
        dt_signed_command c = cmd_at((uint64_t)i + 1, now, i * 0.01);
        len[i] = sign(K.planner, &c, rec[i]);
    }
    /* out of order within the window: 10 before 5, each once */
    assert_int_equal(dt_cmd_verify(v, rec[9], len[9], "valve", now, NULL), DT_CMDAUTH_OK);
    assert_int_equal(dt_cmd_verify(v, rec[4], len[4], "valve", now, NULL), DT_CMDAUTH_OK);
    assert_int_equal(dt_cmd_verify(v, rec[4], len[4], "valve", now, NULL), DT_CMDAUTH_REPLAYED);
    for (int i = 10; i < 80; i++)
        assert_int_equal(dt_cmd_verify(v, rec[i], len[i], "valve", now, NULL), DT_CMDAUTH_OK);
    /* 1000 replays of everything accepted, and of seq 1..9 now out of the window */
    uint64_t before = refused(v, DT_CMDAUTH_REPLAYED);
    for (int k = 0; k < 1000; k++) {
        int i = k % 80;
        dt_cmdauth_error e = dt_cmd_verify(v, rec[i], len[i], "valve", now, NULL);
        assert_int_equal(e, DT_CMDAUTH_REPLAYED);
    }
    assert_true(refused(v, DT_CMDAUTH_REPLAYED) - before == 1000);
    /* a new epoch starts over; the old one is closed */
    dt_signed_command c = cmd_at(1, now, 0.5);
    c.epoch = 8;
    uint8_t b[DT_CMDAUTH_MAX];
    size_t n = sign(K.planner, &c, b);
    assert_int_equal(dt_cmd_verify(v, b, n, "valve", now, NULL), DT_CMDAUTH_OK);
    c = cmd_at(500, now, 0.5); /* epoch 7, far ahead: still the old epoch */
    n = sign(K.planner, &c, b);
    assert_int_equal(dt_cmd_verify(v, b, n, "valve", now, NULL), DT_CMDAUTH_REPLAYED);
    assert_int_equal(verified(v), 73); /* 10, 5, 11..80, and epoch 8 */
    dt_cmd_verifier_free(v);
}

/* Addressing and times: another twin's or signal's record, issued in the
 * future, a deadline beyond the limit, expired. None moves the window. */
static void test_address_and_time(void **state)
{
    (void)state;
    dt_cmd_verifier *v = verifier();
    uint8_t b[DT_CMDAUTH_MAX];
    dt_time now = 100 * S;
    dt_signed_command c = cmd_at(1, now, 1.0);
    size_t n = sign(K.planner, &c, b);
    assert_int_equal(dt_cmd_verify(v, b, n, "pump", now, NULL), DT_CMDAUTH_WRONG_ADDRESS);
    assert_int_equal(dt_cmd_address("plant2", "valve", c.address), 0);
    n = sign(K.planner, &c, b);
    assert_int_equal(dt_cmd_verify(v, b, n, "valve", now, NULL), DT_CMDAUTH_WRONG_ADDRESS);
    c = cmd_at(1, now + 1, 1.0); /* issued 1 ns in the future */
    n = sign(K.planner, &c, b);
    assert_int_equal(dt_cmd_verify(v, b, n, "valve", now, NULL), DT_CMDAUTH_BAD_TIME);
    c = cmd_at(1, now, 1.0);
    c.t_deadline = now + S + 1; /* beyond the 1 s limit */
    n = sign(K.planner, &c, b);
    assert_int_equal(dt_cmd_verify(v, b, n, "valve", now, NULL), DT_CMDAUTH_BAD_TIME);
    c = cmd_at(1, now - S, 1.0); /* deadline 0.9 s ago */
    n = sign(K.planner, &c, b);
    assert_int_equal(dt_cmd_verify(v, b, n, "valve", now, NULL), DT_CMDAUTH_EXPIRED);
    assert_int_equal(dt_cmd_verify(v, b, n, "valve", INT64_MIN, NULL), DT_CMDAUTH_MALFORMED);
    /* issued before the verifier's start: refused, though its deadline is ahead */
    assert_int_equal(dt_cmd_verifier_since(v, INT64_MIN), DT_EINVAL);
    assert_int_equal(dt_cmd_verifier_since(v, now - S / 20 + 1), 0);
    c = cmd_at(1, now - S / 20, 1.0);
    n = sign(K.planner, &c, b);
    assert_int_equal(dt_cmd_verify(v, b, n, "valve", now, NULL), DT_CMDAUTH_BEFORE_START);
    assert_int_equal(dt_cmd_verifier_since(v, now - S / 20), 0);
    /* seq 1 was never taken: it still is */
    c = cmd_at(1, now, 1.0);
    n = sign(K.planner, &c, b);
    assert_int_equal(dt_cmd_verify(v, b, n, "valve", now, NULL), DT_CMDAUTH_OK);
    assert_int_equal(refused(v, DT_CMDAUTH_WRONG_ADDRESS), 2);
    assert_int_equal(refused(v, DT_CMDAUTH_BAD_TIME), 2);
    assert_int_equal(refused(v, DT_CMDAUTH_EXPIRED), 1);
    assert_int_equal(refused(v, DT_CMDAUTH_BEFORE_START), 1);
    dt_cmd_verifier_free(v);
}

/* With an estimator key trusted, a command needs a belief token signed by
 * it and young enough; the planner cannot make one up. */
static void test_belief_tokens(void **state)
{
    (void)state;
    dt_cmd_verifier *v = verifier();
    assert_int_equal(dt_cmd_verifier_trust_beliefs(v, "estimator", K.estimator_pk, 0.2), 0);
    assert_int_equal(dt_cmd_verifier_trust_beliefs(v, "again", K.estimator_pk, 0.2), DT_EEXIST);
    assert_int_equal(dt_cmd_verifier_trust(v, "est-as-issuer", K.estimator_pk), DT_EEXIST);
    double x[2] = {1.0, -2.0}, P[4] = {0.1, 0.01, 0.01, 0.2};
    dt_time now = 50 * S;
    dt_belief_token tok;
    assert_int_equal(dt_belief_token_sign(K.estimator, now - S / 10, 9, x, P, 2, &tok), 0);
    assert_int_equal(dt_belief_token_verify(K.estimator_pk, &tok, x, P, 2), 0);
    double x2[2] = {1.0, -2.0000001};
    assert_int_equal(dt_belief_token_verify(K.estimator_pk, &tok, x2, P, 2), DT_EAUTH);
    assert_int_equal(dt_belief_token_verify(K.planner_pk, &tok, NULL, NULL, 0), DT_EAUTH);
    assert_int_equal(dt_belief_token_sign(K.fast, now, 1, x, P, 2, &tok), DT_EINVAL);
    assert_int_equal(dt_belief_token_sign(K.estimator, now - S / 10, 9, x, P, 2, &tok), 0);

    uint8_t b[DT_CMDAUTH_MAX];
    uint64_t seq = 1;
    dt_signed_command c = cmd_at(seq++, now, 1.0);
    size_t n = sign(K.planner, &c, b);
    assert_int_equal(dt_cmd_verify(v, b, n, "valve", now, NULL), DT_CMDAUTH_NO_BELIEF);
    c.has_belief = 1;
    c.belief = tok;
    n = sign(K.planner, &c, b);
    assert_int_equal(n, DT_CMDAUTH_MAX);
    assert_int_equal(dt_cmd_verify(v, b, n, "valve", now, NULL), DT_CMDAUTH_OK);
    /* the planner (or mallory) makes a token up: signed by itself */
    dt_belief_token fake;
    assert_int_equal(dt_belief_token_sign(K.mallory, now, 10, x, P, 2, &fake), 0);
    c = cmd_at(seq++, now, 1.0);
    c.has_belief = 1;
    c.belief = fake;
    n = sign(K.planner, &c, b);
    assert_int_equal(dt_cmd_verify(v, b, n, "valve", now, NULL), DT_CMDAUTH_UNKNOWN_ESTIMATOR);
    /* ... under the estimator's fingerprint, or an old token made fresh */
    memcpy(fake.estimator, tok.estimator, 8);
    c.belief = fake;
    n = sign(K.planner, &c, b);
    assert_int_equal(dt_cmd_verify(v, b, n, "valve", now, NULL), DT_CMDAUTH_BAD_BELIEF);
    dt_belief_token old;
    assert_int_equal(dt_belief_token_sign(K.estimator, now - S, 3, x, P, 2, &old), 0);
    c.belief = old;
    n = sign(K.planner, &c, b);
    assert_int_equal(dt_cmd_verify(v, b, n, "valve", now, NULL), DT_CMDAUTH_STALE_BELIEF);
    old.t_data = now; /* made to look fresh */
    c.belief = old;
    n = sign(K.planner, &c, b);
    assert_int_equal(dt_cmd_verify(v, b, n, "valve", now, NULL), DT_CMDAUTH_BAD_BELIEF);
    /* a belief from the future */
    assert_int_equal(dt_belief_token_sign(K.estimator, now + 1, 11, x, P, 2, &c.belief), 0);
    n = sign(K.planner, &c, b);
    assert_int_equal(dt_cmd_verify(v, b, n, "valve", now, NULL), DT_CMDAUTH_STALE_BELIEF);
    /* revoking the estimator refuses the commands built on its beliefs */
    c.belief = tok;
    n = sign(K.planner, &c, b);
    assert_int_equal(dt_cmd_verifier_revoke(v, dt_key_id(K.estimator)), 0);
    assert_int_equal(dt_cmd_verifier_revoked(v, b, n), 1);
    assert_int_equal(dt_cmd_verify(v, b, n, "valve", now, NULL), DT_CMDAUTH_REVOKED);
    assert_int_equal(verified(v), 1);
    dt_cmd_verifier_free(v);
}

/* Revocation of an issuer, the MAC option, and the verifier's own checks
 * on its settings (a missing limit is an error, never "none"). */
static void test_revoke_mac_settings(void **state)
{
    (void)state;
    dt_cmd_verifier *v = verifier();
    assert_int_equal(dt_cmd_verifier_trust_mac(v, K.fast), 0);
    assert_int_equal(dt_cmd_verifier_trust_mac(v, K.fast), DT_EEXIST);
    assert_int_equal(dt_cmd_verifier_trust_mac(v, K.planner), DT_EINVAL);
    uint8_t b[DT_CMDAUTH_MAX];
    dt_time now = 20 * S;
    dt_signed_command c = cmd_at(1, now, 2.0);
    size_t n = sign(K.fast, &c, b);
    assert_int_equal(dt_cmd_verify(v, b, n, "valve", now, NULL), DT_CMDAUTH_OK);
    assert_int_equal(dt_cmd_verify(v, b, n, "valve", now, NULL), DT_CMDAUTH_REPLAYED);
    c = cmd_at(2, now, 2.0);
    n = sign(K.planner, &c, b);
    assert_int_equal(dt_cmd_verifier_revoke(v, "not-a-fingerprint"), DT_EPARSE);
    assert_int_equal(dt_cmd_verifier_revoke(v, dt_key_id(K.planner)), 0);
    assert_int_equal(dt_cmd_verifier_revoke(v, dt_key_id(K.planner)), 0); /* once */
    assert_int_equal(dt_cmd_verify(v, b, n, "valve", now, NULL), DT_CMDAUTH_REVOKED);
    dt_cmdauth_stats st;
    dt_cmd_verifier_stats(v, &st);
    assert_int_equal(st.revocations, 1);
    assert_string_equal(dt_cmdauth_error_name(DT_CMDAUTH_REVOKED), "revoked");
    assert_string_equal(dt_cmdauth_error_name((dt_cmdauth_error)99), "?");
    dt_cmd_verifier_free(v);
    /* settings */
    dt_cmd_verifier *w = NULL;
    assert_int_equal(dt_cmd_verifier_new("plant", 0, NULL, &w), DT_EINVAL);
    assert_int_equal(dt_cmd_verifier_new("plant", NAN, NULL, &w), DT_EINVAL);
    assert_int_equal(dt_cmd_verifier_new("", 1, NULL, &w), DT_EINVAL);
    assert_int_equal(dt_cmd_verifier_new("plant", 1, NULL, &w), 0);
    assert_int_equal(dt_cmd_verifier_trust_beliefs(w, "e", K.estimator_pk, 0), DT_EINVAL);
    assert_int_equal(dt_cmd_verifier_trust_beliefs(w, "e", K.estimator_pk, INFINITY), DT_EINVAL);
    /* a verifier with no issuer takes nothing */
    c = cmd_at(1, now, 2.0);
    n = sign(K.planner, &c, b);
    assert_int_equal(dt_cmd_verify(w, b, n, "valve", now, NULL), DT_CMDAUTH_UNKNOWN_ISSUER);
    dt_cmd_verifier_free(w);
}

/* Random bytes and random mutations of records never verify and never
 * crash (a short fuzz; tests/fuzz has the long one). */
static void test_random_records(void **state)
{
    (void)state;
    dt_cmd_verifier *v = verifier();
    assert_int_equal(dt_cmd_verifier_trust_beliefs(v, "estimator", K.estimator_pk, 1), 0);
    uint8_t b[DT_CMDAUTH_MAX + 16];
    uint64_t r = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 20000; i++) {
        size_t n = 0;
        if (i % 2 == 0) {
            dt_signed_command c = cmd_at((uint64_t)i + 1, 10 * S, 1.0);
            n = sign(K.planner, &c, b);
        }
        size_t len = i % 2 ? (size_t)(r % sizeof b) : n;
        if (i % 2) { /* random bytes */
            for (size_t k = 0; k < len; k++) {
                r ^= r << 13, r ^= r >> 7, r ^= r << 17;
                b[k] = (uint8_t)(r >> 24);
            }
        } else { /* one byte of a signed record changed (never to itself) */
            r ^= r << 13, r ^= r >> 7, r ^= r << 17;
            b[r % len] ^= (uint8_t)((r >> 24) | 1u);
        }
        if (i % 2)
            memcpy(b, "DTSC\x01\x01\x01\x00", 8); /* past the first checks */
        assert_int_not_equal(dt_cmd_verify(v, b, len, "valve", 10 * S, NULL), DT_CMDAUTH_OK);
    }
    assert_int_equal(verified(v), 0);
    dt_cmd_verifier_free(v);
}

/* argv[1]: only the tests of that name (ctest registers each by name,
 * one cmocka_unit_test per line) */
int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_forgeries),
        cmocka_unit_test(test_replays),
        cmocka_unit_test(test_address_and_time),
        cmocka_unit_test(test_belief_tokens),
        cmocka_unit_test(test_revoke_mac_settings),
        cmocka_unit_test(test_random_records),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, setup, teardown);
}
