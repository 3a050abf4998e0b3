/* The actuator side's verifier of signed commands: trusted keys, one replay
 * window per issuer, revocation, counters. Checks run cheapest first, but
 * no record moves a window before its signature, address, times and belief
 * have all passed: a forgery, or an authentic record refused for another
 * reason, leaves the window where the honest issuer left it. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <sodium.h>
#include <string.h>

#include "../platform/internal.h"
#include "dtwin/cmdauth.h"
#include "security_internal.h"

enum { ROLE_ISSUER = 1, ROLE_ESTIMATOR = 2 };

typedef struct trusted {
    unsigned char id[DT_CMDAUTH_ID_BYTES];
    char name[DT_KEY_NAME_MAX + 1];
    int role;
    unsigned alg;
    unsigned char pk[DT_KEY_PUBLIC_BYTES];
    const dt_key *mac;
    /* the replay window of an issuer */
    int seen;
    uint32_t epoch;
    uint64_t top;  /* newest seq accepted in epoch */
    uint64_t bits; /* bit i: top - i accepted */
} trusted;

struct dt_cmd_verifier {
    const dt_allocator *a;
    char twin[256];
    dt_time max_deadline, max_age, skew, since;
    int require_belief;
    trusted tr[2 * DT_CMDAUTH_TRUST_MAX];
    size_t n_tr, n_issuers, n_estimators;
    unsigned char revoked[DT_CMDAUTH_REVOKED_MAX][DT_CMDAUTH_ID_BYTES];
    size_t n_revoked;
    dt_cmdauth_stats st;
};

static const char *const err_names[DT_CMDAUTH__COUNT] = {
    "verified",          "malformed",     "unknown_issuer", "revoked",
    "bad_signature",     "replayed",      "wrong_address",  "no_belief",
    "unknown_estimator", "bad_belief",    "stale_belief",   "bad_time",
    "expired",           "before_start"};

const char *dt_cmdauth_error_name(dt_cmdauth_error e)
{
    return (unsigned)e < DT_CMDAUTH__COUNT ? err_names[e] : "?";
}

int dt_cmd_verifier_new(const char *twin, double max_deadline_s, const dt_allocator *alloc,
                        dt_cmd_verifier **out)
{
    if (out == NULL)
        return DT_EINVAL;
    *out = NULL;
    if (twin == NULL || twin[0] == '\0' || strnlen(twin, 256) == 256 ||
        !(max_deadline_s >= 0.001 && max_deadline_s <= 3600.0) || dt_security_init() != DT_OK)
        return DT_EINVAL;
    const dt_allocator *a = alloc != NULL ? alloc : dt_allocator_default();
    dt_cmd_verifier *v = dt__calloc(a, 1, sizeof *v);
    if (v == NULL)
        return DT_ENOMEM;
    v->a = a;
    memcpy(v->twin, twin, strlen(twin) + 1);
    v->max_deadline = dt_time_from_sec(max_deadline_s);
    v->max_age = DT_TIME_MAX;
    v->since = -DT_TIME_LIMIT;
    *out = v;
    return DT_OK;
}

int dt_cmd_verifier_since(dt_cmd_verifier *v, dt_time t0)
{
    if (v == NULL || !dt_time_valid(t0))
        return DT_EINVAL;
    v->since = t0;
    return DT_OK;
}

int dt_cmd_verifier_set_skew(dt_cmd_verifier *v, double seconds)
{
    if (v == NULL || !(seconds >= 0 && seconds <= 1))
        return DT_EINVAL;
    v->skew = dt_time_from_sec(seconds);
    return DT_OK;
}

void dt_cmd_verifier_free(dt_cmd_verifier *v)
{
    if (v != NULL)
        dt__free(v->a, v);
}

static trusted *find(dt_cmd_verifier *v, const unsigned char id[DT_CMDAUTH_ID_BYTES], int role)
{
    for (size_t i = 0; i < v->n_tr; i++)
        if (v->tr[i].role == role && memcmp(v->tr[i].id, id, DT_CMDAUTH_ID_BYTES) == 0)
            return &v->tr[i];
    return NULL;
}

static int add(dt_cmd_verifier *v, const char *name, int role, unsigned alg,
               const unsigned char *pk, const dt_key *mac, trusted **out)
{
    unsigned char id[DT_CMDAUTH_ID_BYTES];
    if (pk != NULL)
        dt__pk_fingerprint(pk, id);
    else if (mac != NULL)
        dt__key_fingerprint(mac, id);
    else
        return DT_EINVAL;
    if (find(v, id, ROLE_ISSUER) != NULL || find(v, id, ROLE_ESTIMATOR) != NULL)
        return DT_EEXIST;
    size_t *n = role == ROLE_ISSUER ? &v->n_issuers : &v->n_estimators;
    if (*n == DT_CMDAUTH_TRUST_MAX)
        return DT_ELIMIT;
    trusted *t = &v->tr[v->n_tr++];
    (*n)++;
    memset(t, 0, sizeof *t);
    memcpy(t->id, id, sizeof id);
    memcpy(t->name, name, strlen(name) + 1);
    t->role = role;
    t->alg = alg;
    if (pk != NULL)
        memcpy(t->pk, pk, DT_KEY_PUBLIC_BYTES);
    t->mac = mac;
    if (out != NULL)
        *out = t;
    return DT_OK;
}

int dt_cmd_verifier_trust(dt_cmd_verifier *v, const char *name,
                          const unsigned char pk[DT_KEY_PUBLIC_BYTES])
{
    if (v == NULL || name == NULL || pk == NULL || strnlen(name, DT_KEY_NAME_MAX + 1) > DT_KEY_NAME_MAX)
        return DT_EINVAL;
    return add(v, name, ROLE_ISSUER, DT_CMDAUTH_ED25519, pk, NULL, NULL);
}

int dt_cmd_verifier_trust_mac(dt_cmd_verifier *v, const dt_key *key)
{
    if (v == NULL || key == NULL || dt_key_kind_of(key) != DT_KEY_MAC)
        return DT_EINVAL;
    return add(v, dt_key_name(key), ROLE_ISSUER, DT_CMDAUTH_MAC, NULL, key, NULL);
}

int dt_cmd_verifier_trust_beliefs(dt_cmd_verifier *v, const char *name,
                                  const unsigned char pk[DT_KEY_PUBLIC_BYTES], double max_age_s)
{
    if (v == NULL || name == NULL || pk == NULL || !(max_age_s > 0 && max_age_s <= 3600.0) ||
        strnlen(name, DT_KEY_NAME_MAX + 1) > DT_KEY_NAME_MAX)
        return DT_EINVAL;
    int rc = add(v, name, ROLE_ESTIMATOR, DT_CMDAUTH_ED25519, pk, NULL, NULL);
    if (rc != DT_OK)
        return rc;
    dt_time age = dt_time_from_sec(max_age_s);
    if (age < v->max_age)
        v->max_age = age;
    v->require_belief = 1;
    return DT_OK;
}

static int is_revoked(const dt_cmd_verifier *v, const unsigned char id[DT_CMDAUTH_ID_BYTES])
{
    for (size_t i = 0; i < v->n_revoked; i++)
        if (memcmp(v->revoked[i], id, DT_CMDAUTH_ID_BYTES) == 0)
            return 1;
    return 0;
}

int dt_cmd_verifier_revoke(dt_cmd_verifier *v, const char *id)
{
    if (v == NULL || id == NULL)
        return DT_EINVAL;
    unsigned char bin[DT_CMDAUTH_ID_BYTES];
    size_t got = 0;
    const char *end = NULL;
    if (strnlen(id, DT_KEY_ID_CHARS + 1) != DT_KEY_ID_CHARS ||
        sodium_hex2bin(bin, sizeof bin, id, DT_KEY_ID_CHARS, NULL, &got, &end) != 0 ||
        got != sizeof bin)
        return DT_EPARSE;
    if (is_revoked(v, bin))
        return DT_OK;
    if (v->n_revoked == DT_CMDAUTH_REVOKED_MAX)
        return DT_ELIMIT;
    memcpy(v->revoked[v->n_revoked++], bin, sizeof bin);
    v->st.revocations++;
    return DT_OK;
}

int dt_cmd_verifier_revoked(const dt_cmd_verifier *v, const uint8_t *buf, size_t len)
{
    dt_signed_command c;
    unsigned char issuer[DT_CMDAUTH_ID_BYTES];
    if (v == NULL || dt_cmd_decode(buf, len, &c, issuer, NULL) != DT_CMDAUTH_OK)
        return 0;
    return is_revoked(v, issuer) || (c.has_belief && is_revoked(v, c.belief.estimator));
}

/* Whether seq of epoch is new to the issuer's window (the window does not move). */
static int window_fresh(const trusted *t, uint32_t epoch, uint64_t seq)
{
    if (!t->seen || epoch > t->epoch)
        return 1;
    if (epoch < t->epoch)
        return 0;
    if (seq > t->top)
        return 1;
    uint64_t back = t->top - seq;
    return back < DT_CMDAUTH_WINDOW && !((t->bits >> back) & 1u);
}

static void window_take(trusted *t, uint32_t epoch, uint64_t seq)
{
    if (!t->seen || epoch > t->epoch) {
        t->seen = 1;
        t->epoch = epoch;
        t->top = seq;
        t->bits = 1;
    } else if (seq > t->top) {
        uint64_t ahead = seq - t->top;
        t->bits = ahead >= DT_CMDAUTH_WINDOW ? 1 : (t->bits << ahead) | 1u;
        t->top = seq;
    } else {
        t->bits |= (uint64_t)1 << (t->top - seq);
    }
}

static dt_cmdauth_error check(dt_cmd_verifier *v, const uint8_t *buf, size_t len,
                              const char *signal, dt_time now, dt_signed_command *c,
                              trusted **who)
{
    unsigned char issuer[DT_CMDAUTH_ID_BYTES];
    unsigned alg = 0;
    if (signal == NULL || !dt_time_valid(now) ||
        dt_cmd_decode(buf, len, c, issuer, &alg) != DT_CMDAUTH_OK)
        return DT_CMDAUTH_MALFORMED;
    trusted *t = find(v, issuer, ROLE_ISSUER);
    if (t == NULL || t->alg != alg)
        return DT_CMDAUTH_UNKNOWN_ISSUER;
    if (is_revoked(v, issuer))
        return DT_CMDAUTH_REVOKED;
    size_t body = len - (alg == DT_CMDAUTH_ED25519 ? DT_SIG_BYTES : DT_MAC_BYTES);
    int ok = alg == DT_CMDAUTH_ED25519 ? dt_sign_verify(t->pk, buf, body, buf + body)
                                       : dt_mac_verify(t->mac, buf, body, buf + body);
    if (ok != DT_OK)
        return DT_CMDAUTH_BAD_SIGNATURE;
    /* authentic from here on: what the issuer said */
    unsigned char addr[DT_CMDAUTH_ADDRESS_BYTES];
    if (dt_cmd_address(v->twin, signal, addr) != DT_OK ||
        sodium_memcmp(addr, c->address, sizeof addr) != 0)
        return DT_CMDAUTH_WRONG_ADDRESS;
    if (!window_fresh(t, c->epoch, c->seq))
        return DT_CMDAUTH_REPLAYED;
    if (c->t_issued < v->since)
        return DT_CMDAUTH_BEFORE_START;
    /* now + skew stays valid: |now| <= DT_TIME_LIMIT and skew <= 1 s */
    if (c->t_issued > now + v->skew || c->t_deadline - c->t_issued > v->max_deadline)
        return DT_CMDAUTH_BAD_TIME;
    if (now > c->t_deadline)
        return DT_CMDAUTH_EXPIRED;
    /* a revoked estimator's token is refused whether or not tokens are
     * required: revocation covers every record a key signed, and
     * dt_cmd_verifier_revoked (the queue's drop) says so too */
    if (c->has_belief && is_revoked(v, c->belief.estimator))
        return DT_CMDAUTH_REVOKED;
    if (v->require_belief) {
        if (!c->has_belief)
            return DT_CMDAUTH_NO_BELIEF;
        trusted *e = find(v, c->belief.estimator, ROLE_ESTIMATOR);
        if (e == NULL)
            return DT_CMDAUTH_UNKNOWN_ESTIMATOR;
        if (dt_belief_token_verify(e->pk, &c->belief, NULL, NULL, 0) != DT_OK)
            return DT_CMDAUTH_BAD_BELIEF;
        /* both times are valid (the decoder checked), so the difference fits */
        if (c->belief.t_data > now || now - c->belief.t_data > v->max_age)
            return DT_CMDAUTH_STALE_BELIEF;
    }
    *who = t;
    return DT_CMDAUTH_OK;
}

dt_cmdauth_error dt_cmd_verify(dt_cmd_verifier *v, const uint8_t *buf, size_t len,
                               const char *signal, dt_time now, dt_signed_command *out)
{
    if (v == NULL)
        return DT_CMDAUTH_MALFORMED;
    dt_signed_command c;
    trusted *t = NULL;
    dt_cmdauth_error e = check(v, buf, len, signal, now, &c, &t);
    if (e != DT_CMDAUTH_OK) {
        v->st.refused[e]++;
        return e;
    }
    /* not top + 1: at top 2^64 - 1 it wraps to 0 and every late seq in the
     * window would count 2^64 - 2 gaps (found by a red-team test) */
    if (t->seen && c.epoch == t->epoch && c.seq > t->top && c.seq - t->top > 1)
        v->st.seq_gaps += c.seq - t->top - 1;
    window_take(t, c.epoch, c.seq);
    v->st.verified++;
    if (out != NULL)
        *out = c;
    return DT_CMDAUTH_OK;
}

void dt_cmd_verifier_stats(const dt_cmd_verifier *v, dt_cmdauth_stats *out)
{
    if (out == NULL)
        return;
    if (v == NULL) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = v->st;
}
