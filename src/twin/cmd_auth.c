/* Signed commands into the twin (the description's "dispatcher.auth"):
 * the verifier built from the trusted keys, the signed records kept with
 * the queued commands, the check the dispatcher runs before anything else,
 * and revocation, which drops the revoked issuer's queued commands. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <string.h>

#include "../adapters/adapters_internal.h"
#include "../bus/bus.h"
#include "../desc/desc.h"
#include "../platform/internal.h"
#include "children_internal.h"
#include "twin_internal.h"

struct dt__twin_auth {
    dt_cmd_verifier *v;
    dt_key *mac[DT_CMDAUTH_TRUST_MAX];
    size_t n_mac;
    unsigned char (*addr)[DT_CMDAUTH_ADDRESS_BYTES]; /* per signal; commanded ones only used */
    uint8_t (*rec)[DT_CMDAUTH_MAX];                  /* per pending command */
    uint16_t *rec_len;                               /* 0: unsigned */
    uint64_t unsigned_refused, revoked_dropped, queue_full;
    uint64_t at_submit[DT_CMDAUTH__COUNT]; /* refused before the queue */
};

typedef struct actx {
    dt_diag *diag;
} actx;

static const char *const auth_keys[] = {"issuers",      "beliefs",    "max_belief_age",
                                        "deadline_max", "clock_skew", NULL};
static const char *const issuer_keys[] = {"name", "public", "mac", NULL};

/* A public key from the description: 64 hex digits, not all zero (a
 * zeroed key is a missing setting, never a key). */
static int public_key(actx *c, const char *path, const dt_config *j, unsigned char pk[32])
{
    if (!dt__cfg_is_string(j) || dt_key_public_from_hex(dt__cfg_str(j), pk) != DT_OK)
        return dt__fail(c, DT_EPARSE, path, "expected 64 hex digits (the signer's NAME.pub)");
    unsigned char any = 0;
    for (int i = 0; i < 32; i++)
        any |= pk[i];
    if (any == 0)
        return dt__fail(c, DT_EPARSE, path, "all zero: not a key");
    return DT_OK;
}

static int read_list(dt_twin *t, actx *c, const dt_config *arr, const char *P, int beliefs,
                     double max_age, dt_keystore *ks)
{
    struct dt__twin_auth *au = t->auth;
    size_t i = 0;
    for (const dt_config *e = dt__cfg_child(arr); e; e = dt__cfg_next(e), i++) {
        char p[96], q[128];
        dt__fmt(p, sizeof p, "%s[%zu]", P, i);
        if (!dt__cfg_is_object(e))
            return dt__fail(c, DT_EPARSE, p, "expected {\"name\", \"public\"}%s",
                            beliefs ? "" : " or {\"name\", \"mac\"}");
        int rc = dt__cfg_check_keys(c->diag, e, p, issuer_keys, NULL);
        if (rc != DT_OK)
            return rc;
        const dt_config *jn = dt_config_get(e, "name"), *jp = dt_config_get(e, "public"),
                        *jm = dt_config_get(e, "mac");
        dt__fmt(q, sizeof q, "%s.name", p);
        if (!dt__cfg_is_string(jn) || dt__cfg_str(jn)[0] == '\0' ||
            strlen(dt__cfg_str(jn)) > DT_KEY_NAME_MAX)
            return dt__fail(c, DT_EPARSE, q, "required: the signer's name (1..%d bytes)",
                            DT_KEY_NAME_MAX);
        if ((jp == NULL) == (jm == NULL) || (beliefs && jm != NULL))
            return dt__fail(c, DT_EPARSE, p, "%s", beliefs ? "needs \"public\" (an estimator signs)"
                                                           : "needs \"public\" or \"mac\", one of them");
        if (jp != NULL) {
            unsigned char pk[32];
            dt__fmt(q, sizeof q, "%s.public", p);
            if ((rc = public_key(c, q, jp, pk)) != DT_OK)
                return rc;
            rc = beliefs ? dt_cmd_verifier_trust_beliefs(au->v, dt__cfg_str(jn), pk, max_age)
                         : dt_cmd_verifier_trust(au->v, dt__cfg_str(jn), pk);
        } else {
            dt__fmt(q, sizeof q, "%s.mac", p);
            if (!dt__cfg_is_string(jm))
                return dt__fail(c, DT_EPARSE, q, "expected the name of a MAC key in the key store");
            if (ks == NULL)
                return dt__fail(c, DT_EINVAL, q, "a MAC key needs a key store: add \"keys\": "
                                                 "{\"dir\": ...} or pass dt_twin_options.keys");
            dt_diag kd;
            memset(&kd, 0, sizeof kd);
            dt_key *k = NULL;
            if ((rc = dt_key_load(ks, dt__cfg_str(jm), DT_KEY_MAC, &k, &kd)) != DT_OK)
                return dt__fail(c, rc, q, "%s", kd.message);
            if (au->n_mac == DT_CMDAUTH_TRUST_MAX) { /* the count was checked: never */
                dt_key_free(k);
                return dt__fail(c, DT_ELIMIT, q, "at most %u MAC keys", DT_CMDAUTH_TRUST_MAX);
            }
            au->mac[au->n_mac++] = k;
            rc = dt_cmd_verifier_trust_mac(au->v, k);
        }
        if (rc == DT_EEXIST)
            return dt__fail(c, rc, p, "this key is trusted twice (one key, one role)");
        if (rc != DT_OK)
            return dt__fail(c, rc, p, "at most %u keys", DT_CMDAUTH_TRUST_MAX);
    }
    return DT_OK;
}

static int seconds(actx *c, const dt_config *j, const char *path, double *out)
{
    if (j == NULL)
        return dt__fail(c, DT_EPARSE, path, "required: seconds in [0.001, 3600]");
    double s = dt__cfg_is_number(j) ? dt__cfg_num(j) : NAN;
    if (!(s >= 0.001 && s <= 3600))
        return dt__fail(c, DT_EPARSE, path, "seconds in [0.001, 3600]");
    *out = s;
    return DT_OK;
}

int dt__twin_auth_read(dt_twin *t, const dt_config *j, dt_diag *diag)
{
    actx c = {diag};
    const char *P = "dispatcher.auth";
    if (!dt__cfg_is_object(j))
        return dt__fail(&c, DT_EPARSE, P, "expected an object");
    int rc = dt__cfg_check_keys(diag, j, P, auth_keys, NULL);
    if (rc != DT_OK)
        return rc;
    const dt_config *ji = dt_config_get(j, "issuers"), *jb = dt_config_get(j, "beliefs");
    /* bounded before a key is loaded: the 17th MAC key was written past the
     * twin's table of 16 (found by a red-team test) */
    if (!dt__cfg_is_array(ji) || dt__cfg_count(ji) == 0 ||
        dt__cfg_count(ji) > (int)DT_CMDAUTH_TRUST_MAX)
        return dt__fail(&c, DT_EPARSE, "dispatcher.auth.issuers",
                        "required: the keys whose commands the twin carries out (1 to %u)",
                        DT_CMDAUTH_TRUST_MAX);
    double dl = 0, age = 0;
    if ((rc = seconds(&c, dt_config_get(j, "deadline_max"), "dispatcher.auth.deadline_max", &dl)) != DT_OK)
        return rc;
    if (jb != NULL && (!dt__cfg_is_array(jb) || dt__cfg_count(jb) == 0 ||
                       dt__cfg_count(jb) > (int)DT_CMDAUTH_TRUST_MAX))
        return dt__fail(&c, DT_EPARSE, "dispatcher.auth.beliefs",
                        "an array of 1 to %u estimator keys (or leave it out)",
                        DT_CMDAUTH_TRUST_MAX);
    if (jb != NULL &&
        (rc = seconds(&c, dt_config_get(j, "max_belief_age"), "dispatcher.auth.max_belief_age",
                      &age)) != DT_OK)
        return rc;
    if (jb == NULL && dt_config_get(j, "max_belief_age") != NULL)
        return dt__fail(&c, DT_EPARSE, "dispatcher.auth.max_belief_age",
                        "given without \"beliefs\": no estimator key to check the belief with");
    struct dt__twin_auth *au = dt__calloc(&t->alloc, 1, sizeof *au);
    if (au == NULL)
        return dt__fail(&c, DT_ENOMEM, P, "out of memory");
    t->auth = au;
    au->addr = dt__calloc(&t->alloc, t->n_sig ? t->n_sig : 1, sizeof *au->addr);
    au->rec = dt__calloc(&t->alloc, QUEUE_CAP, sizeof *au->rec);
    au->rec_len = dt__calloc(&t->alloc, QUEUE_CAP, sizeof *au->rec_len);
    if (au->addr == NULL || au->rec == NULL || au->rec_len == NULL)
        return dt__fail(&c, DT_ENOMEM, P, "out of memory");
    /* a twin is addressed by its name on the bus (bus.twin, which defaults to
     * the description's name): what a twin sink that commands it knows */
    const char *name = dt__bus_twin(t->io);
    if (name[0] == '\0')
        name = dt_model_name(t->model);
    for (size_t k = 0; k < t->n_kids; k++)
        if (dt__twin_auth_name_clash(t, t->kids[k].t))
            return dt__fail(&c, DT_EPARSE, P,
                            "child \"%s\" is named \"%s\" too and takes signed commands: a "
                            "record for one would be carried out by the other",
                            t->kids[k].id, name);
    if ((rc = dt_cmd_verifier_new(name, dl, &t->alloc, &au->v)) != DT_OK)
        return dt__fail(&c, rc, P, "the twin's name \"%s\" cannot address commands", name);
    for (size_t s = 0; s < t->n_sig; s++)
        if (dt_model_signal(t->model, (dt_signal_id)s)->role == DT_ROLE_COMMANDED &&
            dt_cmd_address(name, dt_model_signal(t->model, (dt_signal_id)s)->id, au->addr[s]) != DT_OK)
            return dt__fail(&c, DT_EINVAL, P, "signal \"%s\": no address",
                            dt_model_signal(t->model, (dt_signal_id)s)->id);
    const dt_config *jk = dt_config_get(j, "clock_skew");
    if (jk != NULL && (!dt__cfg_is_number(jk) ||
                       dt_cmd_verifier_set_skew(au->v, dt__cfg_num(jk)) != DT_OK))
        return dt__fail(&c, DT_EPARSE, "dispatcher.auth.clock_skew", "seconds in [0, 1]");
    dt_keystore *ks = dt__io_keystore(t->io);
    if ((rc = read_list(t, &c, ji, "dispatcher.auth.issuers", 0, 0, ks)) != DT_OK)
        return rc;
    if (jb != NULL && (rc = read_list(t, &c, jb, "dispatcher.auth.beliefs", 1, age, ks)) != DT_OK)
        return rc;
    dt__twin_disp_env(t); /* the dispatcher authenticates from now on */
    return DT_OK;
}

int dt__twin_auth_name_clash(const dt_twin *a, const dt_twin *b)
{
    return a != NULL && b != NULL && a->auth != NULL && b->auth != NULL &&
           strcmp(dt_model_name(a->model), dt_model_name(b->model)) == 0;
}

void dt__twin_auth_free(dt_twin *t)
{
    struct dt__twin_auth *au = t->auth;
    if (au == NULL)
        return;
    dt_cmd_verifier_free(au->v);
    for (size_t i = 0; i < au->n_mac; i++)
        dt_key_free(au->mac[i]);
    dt__free(&t->alloc, au->addr);
    dt__free(&t->alloc, au->rec);
    dt__free(&t->alloc, au->rec_len);
    dt__free(&t->alloc, au);
    t->auth = NULL;
}

void dt__twin_auth_start(dt_twin *t, dt_time now)
{
    /* now was checked by dt_twin_start: valid, so this cannot fail */
    if (t->auth != NULL)
        (void)dt_cmd_verifier_since(t->auth->v, now);
}

/* Queued commands without a record (the host's dt_twin_submit, another
 * twin's unsigned command) are marked as such. */
void dt__twin_auth_queued(dt_twin *t, size_t slot)
{
    if (t->auth != NULL)
        t->auth->rec_len[slot] = 0;
}

/* A decoded record queued for the next dispatch with its bytes (verified
 * there); NULL when the queue is full. */
static const dt_command *queue(dt_twin *t, dt_signal_id sig, const dt_signed_command *sc,
                               const void *record, size_t len, uint16_t origin)
{
    if (t->n_pending == QUEUE_CAP) {
        t->auth->queue_full++;
        return NULL;
    }
    size_t slot = t->n_pending++;
    dt_command *c = &t->pending[slot];
    memset(c, 0, sizeof *c);
    c->signal = (uint32_t)sig;
    c->value = sc->value;
    c->t_issued = sc->t_issued;
    c->t_deadline = sc->t_deadline;
    c->seq = ++t->disp.seq;
    c->origin = origin;
    memcpy(t->auth->rec[slot], record, len);
    t->auth->rec_len[slot] = (uint16_t)len;
    return c;
}

int dt_twin_submit_signed(dt_twin *t, const void *record, size_t len)
{
    if (t != NULL && t->partitioned) { /* the control plane submits now */
        t->raw_refused++;
        return DT_EPLANE;
    }
    return dt__twin_submit_signed(t, record, len);
}

int dt__twin_submit_signed(dt_twin *t, const void *record, size_t len)
{
    if (t == NULL || record == NULL)
        return DT_EINVAL;
    struct dt__twin_auth *au = t->auth;
    if (au == NULL) {
        dt__fmt(t->err, sizeof t->err, "signed commands: the description has no dispatcher.auth");
        return DT_EUNSUPPORTED;
    }
    if (t->in_step)
        return DT_ESTATE;
    dt_signed_command sc;
    if (dt_cmd_decode(record, len, &sc, NULL, NULL) != DT_CMDAUTH_OK) {
        au->at_submit[DT_CMDAUTH_MALFORMED]++;
        dt__fmt(t->err, sizeof t->err, "signed command: not a record (%zu bytes)", len);
        return DT_EPARSE;
    }
    /* route by the address it claims; the dispatcher checks it is signed */
    size_t s = 0;
    while (s < t->n_sig && !(dt_model_signal(t->model, (dt_signal_id)s)->role == DT_ROLE_COMMANDED &&
                             memcmp(au->addr[s], sc.address, DT_CMDAUTH_ADDRESS_BYTES) == 0))
        s++;
    if (s == t->n_sig) {
        au->at_submit[DT_CMDAUTH_WRONG_ADDRESS]++;
        dt__fmt(t->err, sizeof t->err, "signed command: addressed to no signal of this twin");
        return DT_ENOTFOUND;
    }
    const dt_command *c = queue(t, (dt_signal_id)s, &sc, record, len, DT_ORIGIN_HOST);
    if (c == NULL)
        return DT_EFULL;
    if (t->rec_write != NULL)
        dt__twin_rec_signed(t, record, len);
    return DT_OK;
}

int dt__twin_takes_signed(const dt_twin *t)
{
    return t != NULL && t->auth != NULL;
}

int dt__twin_submit_remote_signed(dt_twin *t, const uint8_t *rec, size_t len, dt_signal_id sig,
                                  uint16_t origin, uint64_t *seq)
{
    if (t == NULL || rec == NULL || sig >= t->n_sig ||
        dt_model_signal(t->model, sig)->role != DT_ROLE_COMMANDED)
        return DT_EINVAL;
    struct dt__twin_auth *au = t->auth;
    if (au == NULL)
        return DT_EUNSUPPORTED;
    if (!t->started || t->stopped || (t->in_step && !t->sensing))
        return DT_ESTATE;
    dt_signed_command sc;
    if (dt_cmd_decode(rec, len, &sc, NULL, NULL) != DT_CMDAUTH_OK) {
        au->at_submit[DT_CMDAUTH_MALFORMED]++;
        return DT_EPARSE;
    }
    /* the topic names the signal: a record for another one (or another
     * twin) stops here, its signature unread */
    if (memcmp(au->addr[sig], sc.address, DT_CMDAUTH_ADDRESS_BYTES) != 0) {
        au->at_submit[DT_CMDAUTH_WRONG_ADDRESS]++;
        return DT_ENOTFOUND;
    }
    const dt_command *c = queue(t, sig, &sc, rec, len, origin);
    if (c == NULL)
        return DT_EFULL;
    if (seq != NULL)
        *seq = c->seq;
    if (t->rec_write != NULL) /* a replay takes it at the same point */
        dt__twin_rec_remote_signed(t, c, rec, len);
    return DT_OK;
}

int dt_twin_revoke(dt_twin *t, const char *key_id)
{
    if (t != NULL && t->partitioned) { /* the management plane revokes now */
        t->raw_refused++;
        return DT_EPLANE;
    }
    return dt__twin_revoke(t, key_id);
}

int dt__twin_revoke(dt_twin *t, const char *key_id)
{
    if (t == NULL || key_id == NULL)
        return DT_EINVAL;
    struct dt__twin_auth *au = t->auth;
    if (au == NULL)
        return DT_EUNSUPPORTED;
    if (t->in_step)
        return DT_ESTATE;
    int rc = dt_cmd_verifier_revoke(au->v, key_id);
    if (rc != DT_OK)
        return rc;
    if (t->rec_write != NULL)
        dt__twin_rec_revoke(t, key_id);
    /* its queued commands go now, before any step could dispatch them */
    size_t k = 0;
    for (size_t i = 0; i < t->n_pending; i++) {
        if (au->rec_len[i] != 0 && dt_cmd_verifier_revoked(au->v, au->rec[i], au->rec_len[i])) {
            au->revoked_dropped++;
            continue;
        }
        if (k != i) {
            t->pending[k] = t->pending[i];
            memcpy(au->rec[k], au->rec[i], au->rec_len[i]);
            au->rec_len[k] = au->rec_len[i];
        }
        k++;
    }
    t->n_pending = k;
    return DT_OK;
}

/* The dispatcher's first check of pending command `slot` (SIZE_MAX: a
 * controller's). 0 admits it with the verified values; otherwise the
 * status it is refused with. */
int dt__twin_auth_check(dt_twin *t, size_t slot, dt_command *cmd, dt_time now)
{
    struct dt__twin_auth *au = t->auth;
    if (au == NULL)
        return DT_OK;
    if (slot == SIZE_MAX || au->rec_len[slot] == 0) {
        au->unsigned_refused++;
        return DT_EAUTH;
    }
    dt_signed_command sc;
    const char *sig = dt_model_signal(t->model, cmd->signal)->id;
    dt_cmdauth_error e = dt_cmd_verify(au->v, au->rec[slot], au->rec_len[slot], sig, now, &sc);
    if (e == DT_CMDAUTH_EXPIRED)
        return DT_ETIMEOUT;
    /* not authentic (no trusted key signed it) or authentic and refused:
     * the bus answers the second kind only */
    if (e == DT_CMDAUTH_MALFORMED || e == DT_CMDAUTH_UNKNOWN_ISSUER || e == DT_CMDAUTH_REVOKED ||
        e == DT_CMDAUTH_BAD_SIGNATURE)
        return DT_EAUTH;
    if (e != DT_CMDAUTH_OK)
        return DT_EPERM;
    cmd->value = sc.value; /* what the issuer signed, whatever the queue held */
    cmd->t_issued = sc.t_issued;
    cmd->t_deadline = sc.t_deadline;
    return DT_OK;
}

int dt_twin_cmdauth_stats(const dt_twin *t, dt_cmdauth_stats *out)
{
    if (t == NULL || out == NULL)
        return DT_EINVAL;
    if (t->auth == NULL) {
        memset(out, 0, sizeof *out);
        return DT_EUNSUPPORTED;
    }
    dt_cmd_verifier_stats(t->auth->v, out);
    for (size_t e = 1; e < DT_CMDAUTH__COUNT; e++)
        out->refused[e] += t->auth->at_submit[e];
    out->unsigned_refused = t->auth->unsigned_refused;
    out->revoked_dropped = t->auth->revoked_dropped;
    out->queue_full = t->auth->queue_full;
    return DT_OK;
}
