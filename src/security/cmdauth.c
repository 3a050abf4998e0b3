/* Signed command records and belief tokens: the bytes (docs/security.md,
 * "Signed commands"). Little-endian, fixed offsets:
 *
 *    0 u32 magic "DTSC"   4 u8 version   5 u8 alg   6 u16 flags
 *    8 [8] issuer fingerprint   16 [16] address (twin and signal)
 *   32 u32 epoch   36 u32 reserved (0)   40 u64 seq
 *   48 i64 t_issued   56 i64 t_deadline   64 f64 value
 *   72 with DT_CMDAUTH_F_BELIEF: [8] estimator fingerprint, i64 t_data,
 *      u64 seq, [16] digest, [64] the estimator's signature   (104 bytes)
 *   then the tag over every byte before it: 64 (Ed25519) or 16 (MAC).
 *
 * The decoder checks everything a field can be wrong in before anyone
 * reads it; the encoder refuses what the decoder would refuse. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <sodium.h>
#include <string.h>

#include "../platform/internal.h"
#include "dtwin/cmdauth.h"
#include "security_internal.h"

#define OFF_TOKEN DT_CMDAUTH_FIXED

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}
static void put_f64(uint8_t *p, double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    put_u64(p, u);
}
static double get_f64(const uint8_t *p)
{
    uint64_t u = get_u64(p);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

int dt_cmd_address(const char *twin, const char *signal, unsigned char out[DT_CMDAUTH_ADDRESS_BYTES])
{
    static const unsigned char domain[] = "dtwin command address v1";
    if (twin == NULL || signal == NULL || out == NULL || dt_security_init() != DT_OK)
        return DT_EINVAL;
    size_t lt = strnlen(twin, 256), ls = strnlen(signal, 256);
    if (lt == 256 || ls == 256)
        return DT_EINVAL;
    /* the lengths go in first, so ("ab", "c") and ("a", "bc") differ */
    uint8_t len[8];
    put_u32(len, (uint32_t)lt);
    put_u32(len + 4, (uint32_t)ls);
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, DT_CMDAUTH_ADDRESS_BYTES);
    crypto_generichash_update(&st, domain, sizeof domain - 1);
    crypto_generichash_update(&st, len, sizeof len);
    crypto_generichash_update(&st, (const unsigned char *)twin, lt);
    crypto_generichash_update(&st, (const unsigned char *)signal, ls);
    crypto_generichash_final(&st, out, DT_CMDAUTH_ADDRESS_BYTES);
    return DT_OK;
}

/* ---- belief tokens ---- */

static int belief_digest(const double *x, const double *P, size_t n, unsigned char out[16])
{
    static const unsigned char domain[] = "dtwin belief digest v1";
    if (x == NULL || n == 0 || n > 64)
        return DT_EINVAL;
    uint8_t b[8];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 16);
    crypto_generichash_update(&st, domain, sizeof domain - 1);
    put_u32(b, (uint32_t)n);
    put_u32(b + 4, P != NULL);
    crypto_generichash_update(&st, b, sizeof b);
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            return DT_EINVAL;
        put_f64(b, x[i]);
        crypto_generichash_update(&st, b, sizeof b);
    }
    for (size_t i = 0; P != NULL && i < n * n; i++) {
        if (!isfinite(P[i]))
            return DT_EINVAL;
        put_f64(b, P[i]);
        crypto_generichash_update(&st, b, sizeof b);
    }
    crypto_generichash_final(&st, out, 16);
    return DT_OK;
}

/* What the estimator signs: a domain of its own, then the token's fields
 * as they travel (so a token's signature is never a command's). */
static void token_message(const dt_belief_token *t, uint8_t m[64])
{
    static const char domain[24] = "dtwin belief token v1";
    memcpy(m, domain, sizeof domain);
    memcpy(m + 24, t->estimator, 8);
    put_u64(m + 32, (uint64_t)t->t_data);
    put_u64(m + 40, t->seq);
    memcpy(m + 48, t->digest, 16);
}

int dt_belief_token_sign(const dt_key *key, dt_time t_data, uint64_t seq, const double *x,
                         const double *P, size_t n, dt_belief_token *out)
{
    if (key == NULL || out == NULL || dt_key_kind_of(key) != DT_KEY_SIGN ||
        !dt_time_valid(t_data))
        return DT_EINVAL;
    dt_belief_token t;
    memset(&t, 0, sizeof t);
    if (belief_digest(x, P, n, t.digest) != DT_OK)
        return DT_EINVAL;
    dt__key_fingerprint(key, t.estimator);
    t.t_data = t_data;
    t.seq = seq;
    uint8_t m[64];
    token_message(&t, m);
    int rc = dt_sign(key, m, sizeof m, t.sig);
    if (rc == DT_OK)
        *out = t;
    return rc;
}

int dt_belief_token_verify(const unsigned char pk[DT_KEY_PUBLIC_BYTES], const dt_belief_token *tok,
                           const double *x, const double *P, size_t n)
{
    if (pk == NULL || tok == NULL || (x != NULL && (n == 0 || n > 64)))
        return DT_EINVAL;
    unsigned char id[8];
    dt__pk_fingerprint(pk, id);
    uint8_t m[64];
    token_message(tok, m);
    if (sodium_memcmp(id, tok->estimator, 8) != 0 || dt_sign_verify(pk, m, sizeof m, tok->sig) != DT_OK)
        return DT_EAUTH;
    if (x != NULL) {
        unsigned char d[16];
        if (belief_digest(x, P, n, d) != DT_OK || sodium_memcmp(d, tok->digest, 16) != 0)
            return DT_EAUTH;
    }
    return DT_OK;
}

/* ---- command records ---- */

static int fields_ok(const dt_signed_command *c)
{
    return c->seq != 0 && isfinite(c->value) && dt_time_valid(c->t_issued) &&
           dt_time_valid(c->t_deadline) && c->t_deadline >= c->t_issued &&
           (!c->has_belief || dt_time_valid(c->belief.t_data));
}

int dt_cmd_sign(const dt_key *key, const dt_signed_command *cmd, uint8_t *buf, size_t cap,
                size_t *len)
{
    if (key == NULL || cmd == NULL || buf == NULL || len == NULL || !fields_ok(cmd))
        return DT_EINVAL;
    int sign = dt_key_kind_of(key) == DT_KEY_SIGN;
    size_t body = DT_CMDAUTH_FIXED + (cmd->has_belief ? DT_CMDAUTH_TOKEN_BYTES : 0);
    size_t total = body + (sign ? DT_SIG_BYTES : DT_MAC_BYTES);
    if (cap < total)
        return DT_EFULL;
    memset(buf, 0, body);
    put_u32(buf, DT_CMDAUTH_MAGIC);
    buf[4] = DT_CMDAUTH_VERSION;
    buf[5] = (uint8_t)(sign ? DT_CMDAUTH_ED25519 : DT_CMDAUTH_MAC);
    buf[6] = (uint8_t)(cmd->has_belief ? DT_CMDAUTH_F_BELIEF : 0);
    dt__key_fingerprint(key, buf + 8);
    memcpy(buf + 16, cmd->address, DT_CMDAUTH_ADDRESS_BYTES);
    put_u32(buf + 32, cmd->epoch);
    put_u64(buf + 40, cmd->seq);
    put_u64(buf + 48, (uint64_t)cmd->t_issued);
    put_u64(buf + 56, (uint64_t)cmd->t_deadline);
    put_f64(buf + 64, cmd->value);
    if (cmd->has_belief) {
        const dt_belief_token *t = &cmd->belief;
        memcpy(buf + OFF_TOKEN, t->estimator, 8);
        put_u64(buf + OFF_TOKEN + 8, (uint64_t)t->t_data);
        put_u64(buf + OFF_TOKEN + 16, t->seq);
        memcpy(buf + OFF_TOKEN + 24, t->digest, 16);
        memcpy(buf + OFF_TOKEN + 40, t->sig, DT_SIG_BYTES);
    }
    int rc = sign ? dt_sign(key, buf, body, buf + body) : dt_mac(key, buf, body, buf + body);
    if (rc != DT_OK)
        return rc;
    *len = total;
    return DT_OK;
}

dt_cmdauth_error dt_cmd_decode(const uint8_t *buf, size_t len, dt_signed_command *out,
                               unsigned char issuer[DT_CMDAUTH_ID_BYTES], unsigned *alg)
{
    if (buf == NULL || out == NULL || len < DT_CMDAUTH_FIXED + DT_MAC_BYTES ||
        len > DT_CMDAUTH_MAX || get_u32(buf) != DT_CMDAUTH_MAGIC || buf[4] != DT_CMDAUTH_VERSION)
        return DT_CMDAUTH_MALFORMED;
    unsigned a = buf[5], flags = (unsigned)buf[6] | (unsigned)buf[7] << 8;
    if ((a != DT_CMDAUTH_ED25519 && a != DT_CMDAUTH_MAC) || (flags & ~DT_CMDAUTH_F_BELIEF) != 0 ||
        get_u32(buf + 36) != 0)
        return DT_CMDAUTH_MALFORMED;
    size_t body = DT_CMDAUTH_FIXED + ((flags & DT_CMDAUTH_F_BELIEF) ? DT_CMDAUTH_TOKEN_BYTES : 0);
    if (len != body + (a == DT_CMDAUTH_ED25519 ? DT_SIG_BYTES : DT_MAC_BYTES))
        return DT_CMDAUTH_MALFORMED;
    dt_signed_command c;
    memset(&c, 0, sizeof c);
    memcpy(c.address, buf + 16, DT_CMDAUTH_ADDRESS_BYTES);
    c.epoch = get_u32(buf + 32);
    c.seq = get_u64(buf + 40);
    c.t_issued = (dt_time)get_u64(buf + 48);
    c.t_deadline = (dt_time)get_u64(buf + 56);
    c.value = get_f64(buf + 64);
    if (flags & DT_CMDAUTH_F_BELIEF) {
        dt_belief_token *t = &c.belief;
        c.has_belief = 1;
        memcpy(t->estimator, buf + OFF_TOKEN, 8);
        t->t_data = (dt_time)get_u64(buf + OFF_TOKEN + 8);
        t->seq = get_u64(buf + OFF_TOKEN + 16);
        memcpy(t->digest, buf + OFF_TOKEN + 24, 16);
        memcpy(t->sig, buf + OFF_TOKEN + 40, DT_SIG_BYTES);
    }
    if (!fields_ok(&c))
        return DT_CMDAUTH_MALFORMED;
    if (issuer != NULL)
        memcpy(issuer, buf + 8, DT_CMDAUTH_ID_BYTES);
    if (alg != NULL)
        *alg = a;
    *out = c;
    return DT_CMDAUTH_OK;
}
