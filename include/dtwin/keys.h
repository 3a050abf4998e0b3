/** @file
 * dtwin: keys for authenticated frames, signed beliefs and signed commands
 * (libsodium underneath).
 *
 * A key lives in memory from sodium_malloc (guard pages, locked where the
 * system allows, read-only once loaded) and is wiped when freed. Its bytes
 * reach no other memory of the library: a key store's backend writes them
 * straight into that memory, the file backend with read(2), never through
 * stdio buffers. Logs and diagnostics name a key by its store name and its
 * fingerprint, never by its bytes. See docs/security.md. */
#ifndef DTWIN_KEYS_H
#define DTWIN_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "dtwin/error.h"
#include "dtwin/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Bytes of a secret key as stored: a MAC key, or an Ed25519 seed. */
#define DT_KEY_BYTES 32
/** Bytes of an Ed25519 public (verify) key. */
#define DT_KEY_PUBLIC_BYTES 32
/** Bytes of an Ed25519 signature. */
#define DT_SIG_BYTES 64
/** Bytes of a MAC tag (keyed BLAKE2b, 128 bits). */
#define DT_MAC_BYTES 16
/** Characters of a key's fingerprint in hex, without the terminating NUL. */
#define DT_KEY_ID_CHARS 16
/** The longest key name a store takes, in bytes. */
#define DT_KEY_NAME_MAX 64
/** Version of dt_keystore_ops. */
#define DT_KEYSTORE_ABI 1u

/** What a key is for. */
typedef enum dt_key_kind {
    DT_KEY_MAC = 1, /**< a shared secret: MACs over frames or commands */
    DT_KEY_SIGN = 2 /**< an Ed25519 signing key (its public half verifies) */
} dt_key_kind;

/** A loaded key (opaque; dt_key_load, dt_key_free). */
typedef struct dt_key dt_key;
/** A sealed key store (opaque; dt_keystore_file, dt_keystore_open). */
typedef struct dt_keystore dt_keystore;

/** A key store backend: the hook for TPM or TEE stores. The library owns the
 *  memory the key lands in; the backend unseals into it and keeps no copy. */
typedef struct dt_keystore_ops {
    uint32_t abi; /**< DT_KEYSTORE_ABI */
    /** Writes the DT_KEY_BYTES secret bytes of key `name` (validated: 1 to
     *  DT_KEY_NAME_MAX of A-Z a-z 0-9 _ . -, not starting with a dot) into
     *  `out`, and nothing else anywhere. Returns 0 or a negative status; on
     *  failure, says why in `why` (`why_len` bytes, NUL-terminated), without
     *  key bytes. */
    int (*unseal)(void *self, const char *name, dt_key_kind kind, unsigned char *out,
                  char *why, size_t why_len);
    /** Releases the backend (NULL: nothing to release). */
    void (*close)(void *self);
} dt_keystore_ops;

/** Initialises libsodium once (thread-safe; later calls return at once).
 *  Every entry point below calls it; a host calls it first only to fail
 *  early. @retval DT_EIO libsodium could not initialise. */
DT_API int dt_security_init(void);

/** Opens the file store in directory `dir`: key NAME is the file NAME.key,
 *  exactly DT_KEY_BYTES raw bytes, a regular file (not a symbolic link)
 *  owned by this process's effective user, readable by nobody else (mode
 *  0600 or 0400). The directory must be owned by that user or root and
 *  writable by nobody else. Every refusal says which file and what to fix.
 *  @param dir the directory. @param out receives the store.
 *  @param diag may be NULL; names the problem (path: the file).
 *  @retval DT_EINVAL NULL argument. @retval DT_EIO no such directory.
 *  @retval DT_EPERM the directory is writable by others or owned by another
 *  user. @retval DT_ENOMEM. */
DT_API int dt_keystore_file(const char *dir, dt_keystore **out, dt_diag *diag);
/** Opens a store over a backend of the host's (TPM, TEE, a vault): ops and
 *  self must outlive the store; close is called by dt_keystore_close.
 *  @param ops the backend. @param self its context. @param out receives the store.
 *  @retval DT_EINVAL NULL ops or out, or no unseal. @retval DT_EABI ops->abi
 *  is not DT_KEYSTORE_ABI. @retval DT_ENOMEM. */
DT_API int dt_keystore_open(const dt_keystore_ops *ops, void *self, dt_keystore **out);
/** Closes a store (keys loaded from it stay valid). NULL: no-op.
 *  @param ks the store. */
DT_API void dt_keystore_close(dt_keystore *ks);

/** Loads key `name` of `kind` from the store into guarded memory.
 *  @param ks the store. @param name the key's name. @param kind what it is for.
 *  @param out receives the key (dt_key_free). @param diag may be NULL.
 *  @retval DT_EINVAL NULL argument, or a name outside the rule above.
 *  @retval DT_ENOTFOUND no such key. @retval DT_EPERM the file is not a
 *  regular file, is a link, is readable by others or owned by another user.
 *  @retval DT_EPARSE the file does not hold exactly DT_KEY_BYTES bytes, or
 *  the key is all zero bytes (from a file or a backend).
 *  @retval DT_EIO a read failed. @retval DT_ENOMEM. Other codes: the backend's. */
DT_API int dt_key_load(dt_keystore *ks, const char *name, dt_key_kind kind, dt_key **out,
                       dt_diag *diag);
/** Wipes and frees a key. NULL: no-op. @param key the key. */
DT_API void dt_key_free(dt_key *key);
/** The key's kind. @param key the key. @return its kind. */
DT_API dt_key_kind dt_key_kind_of(const dt_key *key);
/** The key's name in its store. @param key the key. @return the name. */
DT_API const char *dt_key_name(const dt_key *key);
/** The key's fingerprint: DT_KEY_ID_CHARS hex characters of a one-way hash
 *  (of the public key for a signing key; of the secret, under its own
 *  domain, for a MAC key), for logs and revocation lists.
 *  @param key the key. @return the fingerprint (lives as long as the key). */
DT_API const char *dt_key_id(const dt_key *key);
/** Copies a signing key's public half. @param key a DT_KEY_SIGN key.
 *  @param pk receives DT_KEY_PUBLIC_BYTES bytes.
 *  @retval DT_EINVAL NULL, or not a signing key. */
DT_API int dt_key_public(const dt_key *key, unsigned char pk[DT_KEY_PUBLIC_BYTES]);

/** Makes a new random key NAME.key in directory `dir` (created 0600,
 *  never over an existing file); for a signing key also NAME.pub, its public
 *  half in hex and a newline (0644), to hand to the verifiers.
 *  @param dir the directory. @param name the key's name. @param kind its kind.
 *  @param diag may be NULL.
 *  @retval DT_EINVAL NULL or a bad name. @retval DT_EEXIST the file exists.
 *  @retval DT_EIO it could not be written. @retval DT_ENOMEM. */
DT_API int dt_key_generate(const char *dir, const char *name, dt_key_kind kind, dt_diag *diag);

/** Reads a public key written as 64 hex digits (as in NAME.pub).
 *  @param hex the text (surrounding whitespace allowed). @param pk receives the key.
 *  @retval DT_EPARSE not 64 hex digits. @retval DT_EINVAL NULL. */
DT_API int dt_key_public_from_hex(const char *hex, unsigned char pk[DT_KEY_PUBLIC_BYTES]);

/** The MAC of len bytes at msg under a DT_KEY_MAC key.
 *  @param key the key. @param msg the bytes. @param len their count.
 *  @param tag receives DT_MAC_BYTES bytes. @retval DT_EINVAL NULL or wrong kind. */
DT_API int dt_mac(const dt_key *key, const void *msg, size_t len, unsigned char tag[DT_MAC_BYTES]);
/** Checks a MAC in constant time. @param key the key. @param msg the bytes.
 *  @param len their count. @param tag the tag received.
 *  @retval DT_EAUTH it does not match. @retval DT_EINVAL NULL or wrong kind. */
DT_API int dt_mac_verify(const dt_key *key, const void *msg, size_t len,
                         const unsigned char tag[DT_MAC_BYTES]);
/** Signs len bytes at msg with a DT_KEY_SIGN key (Ed25519, detached).
 *  @param key the key. @param msg the bytes. @param len their count.
 *  @param sig receives DT_SIG_BYTES bytes. @retval DT_EINVAL NULL or wrong kind. */
DT_API int dt_sign(const dt_key *key, const void *msg, size_t len, unsigned char sig[DT_SIG_BYTES]);
/** Verifies an Ed25519 signature under a public key.
 *  @param pk the public key. @param msg the bytes. @param len their count.
 *  @param sig the signature. @retval DT_EAUTH it does not verify.
 *  @retval DT_EINVAL NULL. */
DT_API int dt_sign_verify(const unsigned char pk[DT_KEY_PUBLIC_BYTES], const void *msg, size_t len,
                          const unsigned char sig[DT_SIG_BYTES]);

#ifdef __cplusplus
}
#endif
#endif
