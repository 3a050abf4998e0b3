/** @file
 * dtwin: signed commands and signed belief tokens (docs/security.md,
 * "Signed commands").
 *
 * A signed command record carries one command for one signal of one twin,
 * with its issuer's key fingerprint, epoch, sequence number, issue time and
 * deadline inside the signed bytes, under an Ed25519 signature of the
 * issuer (or, for high command rates, a MAC under a key the issuer shares
 * with the actuator side). It may carry a belief token: the estimator's
 * signature over the time and a digest of the belief the command was built
 * on, so that the actuator side can require commands from the planner's key
 * built on a belief from the estimator's key that is young enough.
 *
 * The encoders and the decoder are pure (no state, no allocation); the
 * verifier keeps the trusted keys, a replay window per issuer (moved only
 * by a command whose signature verified) and the revocation list. */
#ifndef DTWIN_CMDAUTH_H
#define DTWIN_CMDAUTH_H

#include <stddef.h>
#include <stdint.h>

#include "dtwin/alloc.h"
#include "dtwin/export.h"
#include "dtwin/keys.h"
#include "dtwin/time.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DT_CMDAUTH_MAGIC 0x43535444u /**< the first 4 bytes: 'D' 'T' 'S' 'C' */
#define DT_CMDAUTH_VERSION 1u        /**< the record version written and read */
#define DT_CMDAUTH_ED25519 1u        /**< alg: an Ed25519 signature (64 bytes) */
#define DT_CMDAUTH_MAC 2u            /**< alg: a keyed BLAKE2b MAC (16 bytes) */
#define DT_CMDAUTH_F_BELIEF 1u       /**< flags: a belief token follows the command */
#define DT_CMDAUTH_ID_BYTES 8u       /**< a key's fingerprint, binary */
#define DT_CMDAUTH_ADDRESS_BYTES 16u /**< the target address (twin and signal) */
#define DT_CMDAUTH_FIXED 72u         /**< bytes before the belief token and the tag */
#define DT_CMDAUTH_TOKEN_BYTES 104u  /**< a belief token as carried in a record */
/** The largest record: with a belief token and a signature (240 bytes). */
#define DT_CMDAUTH_MAX (DT_CMDAUTH_FIXED + DT_CMDAUTH_TOKEN_BYTES + DT_SIG_BYTES)
/** The most issuers (command keys) and belief keys a verifier trusts. */
#define DT_CMDAUTH_TRUST_MAX 16u
/** The most revoked fingerprints a verifier remembers. */
#define DT_CMDAUTH_REVOKED_MAX 64u
/** Width of the replay window: a sequence number up to this far behind the
 *  newest accepted one is still accepted once (commands on several topics
 *  may overtake each other). */
#define DT_CMDAUTH_WINDOW 64u

/** The estimator's word on one belief: its key's fingerprint, the data time
 *  and sequence number of the belief, a digest of its mean and covariance,
 *  and the estimator's Ed25519 signature over all of them. */
typedef struct dt_belief_token {
    unsigned char estimator[DT_CMDAUTH_ID_BYTES]; /**< the estimator key's fingerprint */
    dt_time t_data;                             /**< the time of the data behind the belief */
    uint64_t seq;                               /**< the estimator's belief number */
    unsigned char digest[16];                   /**< BLAKE2b-128 of n, x and P */
    unsigned char sig[DT_SIG_BYTES];            /**< over the four fields above */
} dt_belief_token;

/** One command as signed: what the record says, field by field. */
typedef struct dt_signed_command {
    unsigned char address[DT_CMDAUTH_ADDRESS_BYTES]; /**< dt_cmd_address of the target */
    uint32_t epoch;      /**< the issuer's boot counter (persist it: docs/security.md) */
    uint64_t seq;        /**< per issuer and epoch, from 1 */
    dt_time t_issued;    /**< the actuator side's time base */
    dt_time t_deadline;  /**< not carried out after this time; >= t_issued */
    double value;        /**< finite, in the signal's canonical unit */
    int has_belief;      /**< nonzero: `belief` is carried and signed too */
    dt_belief_token belief; /**< the belief the command was built on */
} dt_signed_command;

/** Why the verifier refused a record (each has a counter). */
typedef enum dt_cmdauth_error {
    DT_CMDAUTH_OK = 0,
    DT_CMDAUTH_MALFORMED,       /**< not a record: length, magic, version, alg, flags, reserved, a value */
    DT_CMDAUTH_UNKNOWN_ISSUER,  /**< the fingerprint is no trusted issuer of this alg */
    DT_CMDAUTH_REVOKED,         /**< the issuer's key (or the belief's) was revoked */
    DT_CMDAUTH_BAD_SIGNATURE,   /**< the signature or MAC does not verify */
    DT_CMDAUTH_REPLAYED,        /**< seen before, older than the window, or an older epoch */
    DT_CMDAUTH_WRONG_ADDRESS,   /**< for another twin or signal */
    DT_CMDAUTH_NO_BELIEF,       /**< the verifier requires a belief token; none carried */
    DT_CMDAUTH_UNKNOWN_ESTIMATOR, /**< the token's key is no trusted estimator */
    DT_CMDAUTH_BAD_BELIEF,      /**< the token's signature does not verify */
    DT_CMDAUTH_STALE_BELIEF,    /**< the belief is older than the verifier's limit, or from the future */
    DT_CMDAUTH_BAD_TIME,        /**< issued after now, or a deadline too far ahead */
    DT_CMDAUTH_EXPIRED,         /**< past its deadline at now */
    DT_CMDAUTH__COUNT
} dt_cmdauth_error;

/** The verifier's counters: every record it was given ends in exactly one. */
typedef struct dt_cmdauth_stats {
    uint64_t verified; /**< accepted: signature, window, belief, times */
    uint64_t refused[DT_CMDAUTH__COUNT]; /**< by dt_cmdauth_error (index 0 unused) */
    uint64_t revocations; /**< dt_cmd_verifier_revoke calls that added a key */
    uint64_t seq_gaps; /**< sequence numbers an issuer skipped within an epoch, as seen
                            by verified commands (commands lost or not yet arrived;
                            informational: nothing is refused for it) */
    /* a twin's (dt_twin_cmdauth_stats); 0 from a bare verifier */
    uint64_t unsigned_refused; /**< commands without a record, refused by a twin that
                                    requires signed commands */
    uint64_t revoked_dropped;  /**< queued commands dropped when their key was revoked */
    uint64_t queue_full; /**< records refused with DT_EFULL: the twin's queue held 256 */
} dt_cmdauth_stats;

/** The target address of a command: BLAKE2b-128 over a domain, the twin's
 *  name and the signal's id, so that a record for one twin's valve is
 *  refused by every other twin and signal.
 *  @param twin the target twin's name (its description's "name").
 *  @param signal the commanded signal's id. @param out receives the address.
 *  @retval DT_EINVAL NULL, or a name longer than 255 bytes. */
DT_API int dt_cmd_address(const char *twin, const char *signal,
                          unsigned char out[DT_CMDAUTH_ADDRESS_BYTES]);

/** Makes a belief token with the estimator's signing key.
 *  @param key the estimator's DT_KEY_SIGN key. @param t_data the data time.
 *  @param seq the estimator's belief number. @param x the mean (n values).
 *  @param P the covariance (n x n, row-major; NULL: none in the digest).
 *  @param n 1..64. @param out receives the token.
 *  @retval DT_EINVAL NULL, a MAC key, n out of range, t_data invalid or a
 *  value not finite. */
DT_API int dt_belief_token_sign(const dt_key *key, dt_time t_data, uint64_t seq,
                                const double *x, const double *P, size_t n,
                                dt_belief_token *out);
/** Checks a token's signature, and with x not NULL that it names this belief.
 *  @param pk the estimator's public key. @param tok the token.
 *  @param x the mean (NULL: the digest is not checked). @param P the
 *  covariance or NULL, as given to dt_belief_token_sign. @param n 1..64.
 *  @retval DT_EAUTH it does not verify (or names another belief).
 *  @retval DT_EINVAL NULL or n out of range. */
DT_API int dt_belief_token_verify(const unsigned char pk[DT_KEY_PUBLIC_BYTES],
                                  const dt_belief_token *tok, const double *x,
                                  const double *P, size_t n);

/** Encodes and signs a command record with the issuer's key: an Ed25519
 *  signature for a DT_KEY_SIGN key, a MAC for a DT_KEY_MAC key.
 *  @param key the issuer's key. @param cmd the command (checked as the
 *  verifier checks it: finite value, valid times, deadline not before issue,
 *  seq from 1). @param buf receives the record. @param cap its size
 *  (DT_CMDAUTH_MAX is always enough). @param len receives the length.
 *  @retval DT_EINVAL NULL or a field out of range. @retval DT_EFULL cap too small. */
DT_API int dt_cmd_sign(const dt_key *key, const dt_signed_command *cmd, uint8_t *buf,
                       size_t cap, size_t *len);
/** Reads a record without verifying it (for logs and routing; never act on
 *  its content before dt_cmd_verify).
 *  @param buf the record. @param len its length. @param out receives the command.
 *  @param issuer receives the issuer's fingerprint (may be NULL).
 *  @param alg receives DT_CMDAUTH_ED25519 or DT_CMDAUTH_MAC (may be NULL).
 *  @return DT_CMDAUTH_OK or DT_CMDAUTH_MALFORMED. */
DT_API dt_cmdauth_error dt_cmd_decode(const uint8_t *buf, size_t len, dt_signed_command *out,
                                      unsigned char issuer[DT_CMDAUTH_ID_BYTES], unsigned *alg);

/** The actuator side's verifier (opaque). */
typedef struct dt_cmd_verifier dt_cmd_verifier;

/** Creates a verifier that accepts records addressed to one twin.
 *  @param twin the twin's name: records are checked against dt_cmd_address
 *  of it and one of the signals the caller resolves (dt_cmd_verify_for).
 *  @param max_deadline_s the longest t_deadline - t_issued accepted,
 *  0.001..3600 s (required: a missing limit is an error, never "none").
 *  @param alloc NULL: default. @param out receives it.
 *  @retval DT_EINVAL NULL, an empty name, or a limit out of range. @retval DT_ENOMEM. */
DT_API int dt_cmd_verifier_new(const char *twin, double max_deadline_s,
                               const dt_allocator *alloc, dt_cmd_verifier **out);
/** Lets a record be issued up to `seconds` after now (0 by default): the
 *  issuer's clock and the verifier's may differ by that much (across
 *  machines; on one machine sharing a clock, leave it 0).
 *  @param v the verifier. @param seconds 0..1.
 *  @retval DT_EINVAL NULL, or out of range. */
DT_API int dt_cmd_verifier_set_skew(dt_cmd_verifier *v, double seconds);
/** Frees a verifier (the MAC keys it was given stay the caller's). NULL: no-op.
 *  @param v the verifier. */
DT_API void dt_cmd_verifier_free(dt_cmd_verifier *v);
/** Trusts an issuer's Ed25519 public key for commands.
 *  @param v the verifier. @param name the issuer's name, for logs.
 *  @param pk its public key.
 *  @retval DT_EINVAL NULL or a name longer than DT_KEY_NAME_MAX.
 *  @retval DT_EEXIST trusted already (as an issuer or an estimator: one key, one role).
 *  @retval DT_ELIMIT DT_CMDAUTH_TRUST_MAX issuers. */
DT_API int dt_cmd_verifier_trust(dt_cmd_verifier *v, const char *name,
                                 const unsigned char pk[DT_KEY_PUBLIC_BYTES]);
/** Trusts an issuer sharing a MAC key with the actuator side (high command
 *  rates; whoever holds the key can also make commands: docs/security.md).
 *  @param v the verifier. @param key a DT_KEY_MAC key that must outlive the verifier.
 *  @retval DT_EINVAL NULL or a signing key. @retval DT_EEXIST trusted already.
 *  @retval DT_ELIMIT DT_CMDAUTH_TRUST_MAX issuers. */
DT_API int dt_cmd_verifier_trust_mac(dt_cmd_verifier *v, const dt_key *key);
/** Requires every command to carry a belief token from one of the trusted
 *  estimator keys, with now - t_data <= max_age_s.
 *  @param v the verifier. @param name the estimator's name, for logs.
 *  @param pk its public key. @param max_age_s 0 < max_age_s <= 3600
 *  (the smallest one given applies to every estimator).
 *  @retval DT_EINVAL NULL or an age out of range. @retval DT_EEXIST trusted
 *  already. @retval DT_ELIMIT DT_CMDAUTH_TRUST_MAX estimators. */
DT_API int dt_cmd_verifier_trust_beliefs(dt_cmd_verifier *v, const char *name,
                                         const unsigned char pk[DT_KEY_PUBLIC_BYTES],
                                         double max_age_s);
/** Revokes a key by its fingerprint (as dt_key_id prints it): from now on
 *  every record it signed, as issuer or as estimator, is refused.
 *  @param v the verifier. @param id DT_KEY_ID_CHARS hex digits.
 *  @retval DT_EPARSE not a fingerprint. @retval DT_ELIMIT DT_CMDAUTH_REVOKED_MAX
 *  revoked already. @retval DT_EINVAL NULL. */
DT_API int dt_cmd_verifier_revoke(dt_cmd_verifier *v, const char *id);
/** Nonzero when the record names a revoked issuer or estimator (for a queue
 *  that drops such commands at revocation). @param v the verifier.
 *  @param buf the record. @param len its length. @return 1 revoked, 0 not. */
DT_API int dt_cmd_verifier_revoked(const dt_cmd_verifier *v, const uint8_t *buf, size_t len);
/** Verifies a record at time now for one of the twin's signals: the format,
 *  the issuer (trusted, not revoked), the signature or MAC, the address
 *  (dt_cmd_address of the verifier's twin and `signal`), the replay window,
 *  the times (issued at or before now, not past its deadline, the deadline
 *  at most max_deadline_s after issue), the belief token when required. Only a record that passes
 *  everything moves the issuer's window; each refusal is counted.
 *  @param v the verifier. @param buf the record. @param len its length.
 *  @param signal the target signal's id (the caller's routing names it).
 *  @param now the actuator side's time. @param out receives the command (may be NULL).
 *  @return DT_CMDAUTH_OK or why not. */
DT_API dt_cmdauth_error dt_cmd_verify(dt_cmd_verifier *v, const uint8_t *buf, size_t len,
                                      const char *signal, dt_time now, dt_signed_command *out);
/** A snapshot of the counters. @param v the verifier. @param out receives them. */
DT_API void dt_cmd_verifier_stats(const dt_cmd_verifier *v, dt_cmdauth_stats *out);
/** The counter name of a refusal reason ("bad_signature", ...).
 *  @param e the reason. @return its name ("?" out of range). */
DT_API const char *dt_cmdauth_error_name(dt_cmdauth_error e);

#ifdef __cplusplus
}
#endif
#endif
