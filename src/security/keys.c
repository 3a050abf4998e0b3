/* Keys in guarded memory and the stores they come from. The secret bytes
 * have one home, a sodium_malloc block (guard pages around it, locked where
 * the system allows, read-only once loaded, wiped by sodium_free): the file
 * backend read(2)s straight into it, keygen draws into it and write(2)s
 * from it, and nothing else in the library ever holds them. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../platform/internal.h"
#include "security_internal.h"
#include "dtwin/keys.h"

/* secret bytes as loaded, then for a signing key the expanded secret key */
#define SEED_AT 0
#define SK_AT DT_KEY_BYTES
#define SECRET_BYTES (DT_KEY_BYTES + crypto_sign_SECRETKEYBYTES)

struct dt_key {
    dt_key_kind kind;
    unsigned char *secret; /* sodium_malloc; MAC: the key; SIGN: seed wiped, sk at SK_AT */
    unsigned char pk[DT_KEY_PUBLIC_BYTES];
    char name[DT_KEY_NAME_MAX + 1];
    char id[DT_KEY_ID_CHARS + 1];
};

struct dt_keystore {
    const dt_keystore_ops *ops;
    void *self;
    int dirfd; /* the file backend's directory, -1 for a host backend */
    char dir[256];
};

int dt_security_init(void)
{
    return sodium_init() < 0 ? DT_EIO : 0; /* 1: already initialised */
}

static int name_ok(const char *name)
{
    size_t n = name != NULL ? strlen(name) : 0;
    if (n == 0 || n > DT_KEY_NAME_MAX || name[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

/* ---- the file backend ---- */

static int read_all(int fd, unsigned char *out, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, out + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? DT_EIO : DT_EPARSE;
        got += (size_t)r;
    }
    unsigned char extra;
    ssize_t r;
    while ((r = read(fd, &extra, 1)) < 0 && errno == EINTR)
        ;
    return r == 0 ? 0 : (r < 0 ? DT_EIO : DT_EPARSE); /* the file grew since fstat */
}

static int file_unseal(void *self, const char *name, dt_key_kind kind, unsigned char *out,
                       char *why, size_t why_len)
{
    (void)kind;
    const dt_keystore *ks = self;
    char file[DT_KEY_NAME_MAX + 8];
    dt__fmt(file, sizeof file, "%s.key", name);
    int fd = openat(ks->dirfd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        dt__fmt(why, why_len, "%s/%s: %s", ks->dir, file,
                 e == ELOOP ? "a symbolic link (a key file must be the file itself)"
                            : strerror(e));
        return e == ENOENT ? DT_ENOTFOUND : e == ELOOP || e == EACCES ? DT_EPERM : DT_EIO;
    }
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0) {
        dt__fmt(why, why_len, "%s/%s: %s", ks->dir, file, strerror(errno));
        rc = DT_EIO;
    } else if (!S_ISREG(st.st_mode)) {
        dt__fmt(why, why_len, "%s/%s: not a regular file", ks->dir, file);
        rc = DT_EPERM;
    } else if (st.st_uid != geteuid()) {
        dt__fmt(why, why_len, "%s/%s: owned by user %lu, not by this process's user %lu",
                 ks->dir, file, (unsigned long)st.st_uid, (unsigned long)geteuid());
        rc = DT_EPERM;
    } else if ((st.st_mode & 077) != 0) {
        dt__fmt(why, why_len, "%s/%s: mode %04o lets others read or write it; chmod 600 it",
                 ks->dir, file, (unsigned)(st.st_mode & 07777));
        rc = DT_EPERM;
    } else if ((st.st_mode & 07777) != 0600 && (st.st_mode & 07777) != 0400) {
        /* the documented modes only: no set-id, sticky or execute bits, and
         * one the owner can read */
        dt__fmt(why, why_len, "%s/%s: mode %04o, a key file is 0600 or 0400; chmod 600 it",
                 ks->dir, file, (unsigned)(st.st_mode & 07777));
        rc = DT_EPERM;
    } else if (st.st_size != DT_KEY_BYTES) {
        dt__fmt(why, why_len, "%s/%s: holds %lld bytes, a key is exactly %d raw bytes", ks->dir,
                 file, (long long)st.st_size, DT_KEY_BYTES);
        rc = DT_EPARSE;
    } else if ((rc = read_all(fd, out, DT_KEY_BYTES)) != 0) {
        dt__fmt(why, why_len, "%s/%s: %s", ks->dir, file,
                 rc == DT_EIO ? strerror(errno) : "changed size while read");
    }
    close(fd);
    return rc;
}

static void file_close(void *self)
{
    dt_keystore *ks = self;
    if (ks->dirfd >= 0)
        close(ks->dirfd);
    ks->dirfd = -1;
}

static const dt_keystore_ops file_ops = {DT_KEYSTORE_ABI, file_unseal, file_close};

static int store_new(const dt_keystore_ops *ops, void *self, dt_keystore **out)
{
    dt_keystore *ks = dt__calloc(dt_allocator_default(), 1, sizeof *ks);
    if (ks == NULL)
        return DT_ENOMEM;
    ks->ops = ops;
    ks->self = self != NULL ? self : ks;
    ks->dirfd = -1;
    *out = ks;
    return 0;
}

int dt_keystore_file(const char *dir, dt_keystore **out, dt_diag *diag)
{
    if (dir == NULL || out == NULL)
        return dt__diag(diag, DT_EINVAL, "", "dt_keystore_file: NULL argument");
    *out = NULL;
    if (dt_security_init() != 0)
        return dt__diag(diag, DT_EIO, "", "libsodium could not initialise");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return dt__diag(diag, DT_EIO, "", "%s: %s", dir, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0)
        rc = dt__diag(diag, DT_EIO, "", "%s: %s", dir, strerror(errno));
    else if (st.st_uid != geteuid() && st.st_uid != 0)
        rc = dt__diag(diag, DT_EPERM, "", "%s: owned by user %lu: another user could replace its keys",
                      dir, (unsigned long)st.st_uid);
    else if ((st.st_mode & 022) != 0)
        rc = dt__diag(diag, DT_EPERM, "",
                      "%s: mode %04o lets others replace its keys; chmod go-w it", dir,
                      (unsigned)(st.st_mode & 07777));
    dt_keystore *ks = NULL;
    if (rc == 0 && (rc = store_new(&file_ops, NULL, &ks)) != 0)
        dt__diag(diag, rc, "", "out of memory");
    if (rc != 0) {
        close(fd);
        return rc;
    }
    ks->dirfd = fd;
    dt__fmt(ks->dir, sizeof ks->dir, "%s", dir);
    *out = ks;
    return 0;
}

int dt_keystore_open(const dt_keystore_ops *ops, void *self, dt_keystore **out)
{
    if (ops == NULL || out == NULL || ops->unseal == NULL)
        return DT_EINVAL;
    *out = NULL;
    if (ops->abi != DT_KEYSTORE_ABI)
        return DT_EABI;
    if (dt_security_init() != 0)
        return DT_EIO;
    int rc = store_new(ops, self, out);
    if (rc == 0)
        dt__fmt((*out)->dir, sizeof (*out)->dir, "%s", "(host key store)");
    return rc;
}

void dt_keystore_close(dt_keystore *ks)
{
    if (ks == NULL)
        return;
    if (ks->ops->close != NULL)
        ks->ops->close(ks->self);
    dt__free(dt_allocator_default(), ks);
}

/* ---- keys ---- */

static const unsigned char id_domain[] = "dtwin key id v1";

void dt__pk_fingerprint(const unsigned char pk[DT_KEY_PUBLIC_BYTES], unsigned char id[8])
{
    crypto_generichash(id, 8, pk, DT_KEY_PUBLIC_BYTES, id_domain, sizeof id_domain - 1);
}

void dt__key_fingerprint(const dt_key *k, unsigned char id[8])
{
    /* a signing key is named by its public half; a MAC key by a hash of the
     * secret under a domain of its own, so the id reveals nothing usable */
    if (k->kind == DT_KEY_SIGN)
        dt__pk_fingerprint(k->pk, id);
    else
        crypto_generichash(id, 8, id_domain, sizeof id_domain - 1, k->secret, DT_KEY_BYTES);
}

static void key_id(dt_key *k)
{
    unsigned char h[DT_KEY_ID_CHARS / 2];
    dt__key_fingerprint(k, h);
    sodium_bin2hex(k->id, sizeof k->id, h, sizeof h);
}

int dt_key_load(dt_keystore *ks, const char *name, dt_key_kind kind, dt_key **out, dt_diag *diag)
{
    if (ks == NULL || out == NULL)
        return dt__diag(diag, DT_EINVAL, "", "dt_key_load: NULL argument");
    *out = NULL;
    if (!name_ok(name))
        return dt__diag(diag, DT_EINVAL, "", "key name \"%.80s\": 1 to %d of A-Z a-z 0-9 _ . -, "
                        "not starting with a dot", name != NULL ? name : "(null)", DT_KEY_NAME_MAX);
    if (kind != DT_KEY_MAC && kind != DT_KEY_SIGN)
        return dt__diag(diag, DT_EINVAL, "", "key \"%s\": unknown kind %d", name, (int)kind);
    dt_key *k = dt__calloc(dt_allocator_default(), 1, sizeof *k);
    unsigned char *secret = sodium_malloc(SECRET_BYTES);
    if (k == NULL || secret == NULL) {
        dt__free(dt_allocator_default(), k);
        if (secret != NULL)
            sodium_free(secret);
        return dt__diag(diag, DT_ENOMEM, "", "key \"%s\": out of memory", name);
    }
    k->kind = kind;
    k->secret = secret;
    dt__fmt(k->name, sizeof k->name, "%s", name);
    char why[256] = "";
    /* zeros, not sodium_malloc's fill: a backend that writes nothing gives
     * the all-zero key refused below, not a constant anyone can read */
    sodium_memzero(secret, SECRET_BYTES);
    int rc = ks->ops->unseal(ks->self, name, kind, secret + SEED_AT, why, sizeof why);
    why[sizeof why - 1] = '\0'; /* a backend may not have terminated it */
    if (rc == 0 && sodium_is_zero(secret + SEED_AT, DT_KEY_BYTES)) {
        /* truncate -s 32, /dev/zero, a failed copy, a backend that wrote
         * nothing: a key anyone can guess */
        if (ks->dirfd >= 0)
            dt__fmt(why, sizeof why, "%s/%s.key: holds %d zero bytes, not a key (dtwin "
                    "keygen makes one)", ks->dir, name, DT_KEY_BYTES);
        else
            dt__fmt(why, sizeof why, "%s: the backend gave %d zero bytes, not a key", ks->dir,
                    DT_KEY_BYTES);
        rc = DT_EPARSE;
    }
    if (rc == 0 && kind == DT_KEY_SIGN) {
        crypto_sign_seed_keypair(k->pk, secret + SK_AT, secret + SEED_AT);
        sodium_memzero(secret + SEED_AT, DT_KEY_BYTES);
    }
    if (rc != 0) {
        dt__diag(diag, rc < 0 ? rc : DT_EIO, "", "key \"%s\": %s", name,
                 why[0] != '\0' ? why : dt_strerror(rc));
        dt_key_free(k);
        return rc < 0 ? rc : DT_EIO;
    }
    key_id(k);
    sodium_mprotect_readonly(secret);
    *out = k;
    return 0;
}

void dt_key_free(dt_key *key)
{
    if (key == NULL)
        return;
    if (key->secret != NULL)
        sodium_free(key->secret); /* wipes */
    dt__free(dt_allocator_default(), key);
}

dt_key_kind dt_key_kind_of(const dt_key *key)
{
    return key->kind;
}

const char *dt_key_name(const dt_key *key)
{
    return key->name;
}

const char *dt_key_id(const dt_key *key)
{
    return key->id;
}

int dt_key_public(const dt_key *key, unsigned char pk[DT_KEY_PUBLIC_BYTES])
{
    if (key == NULL || pk == NULL || key->kind != DT_KEY_SIGN)
        return DT_EINVAL;
    memcpy(pk, key->pk, DT_KEY_PUBLIC_BYTES);
    return 0;
}

int dt_key_public_from_hex(const char *hex, unsigned char pk[DT_KEY_PUBLIC_BYTES])
{
    if (hex == NULL || pk == NULL)
        return DT_EINVAL;
    while (*hex == ' ' || *hex == '\t' || *hex == '\n' || *hex == '\r')
        hex++;
    size_t n = 0, len = strlen(hex);
    while (len > 0 && strchr(" \t\r\n", hex[len - 1]) != NULL)
        len--;
    const char *end = NULL;
    if (len != 2 * DT_KEY_PUBLIC_BYTES ||
        sodium_hex2bin(pk, DT_KEY_PUBLIC_BYTES, hex, len, NULL, &n, &end) != 0 ||
        n != DT_KEY_PUBLIC_BYTES)
        return DT_EPARSE;
    return 0;
}

/* ---- making keys ---- */

static int write_all(int fd, const unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return DT_EIO;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int create_file(const char *dir, const char *file, mode_t mode, const unsigned char *p,
                       size_t len, dt_diag *diag)
{
    char path[512];
    if (strlen(dir) + 1 + strlen(file) >= sizeof path)
        return dt__diag(diag, DT_EINVAL, "", "%s: path too long", dir);
    dt__fmt(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return dt__diag(diag, errno == EEXIST ? DT_EEXIST : DT_EIO, "", "%s: %s%s", path,
                        strerror(errno), errno == EEXIST ? " (a key is never overwritten)" : "");
    int rc = fchmod(fd, mode) == 0 ? write_all(fd, p, len) : DT_EIO; /* the umask may have cut it */
    if (rc == 0 && fsync(fd) != 0)
        rc = DT_EIO;
    if (close(fd) != 0)
        rc = DT_EIO;
    if (rc != 0) {
        unlink(path);
        return dt__diag(diag, rc, "", "%s: could not be written", path);
    }
    return 0;
}

int dt_key_generate(const char *dir, const char *name, dt_key_kind kind, dt_diag *diag)
{
    if (dir == NULL || !name_ok(name) || (kind != DT_KEY_MAC && kind != DT_KEY_SIGN))
        return dt__diag(diag, DT_EINVAL, "", "dt_key_generate: bad directory, name or kind");
    if (dt_security_init() != 0)
        return dt__diag(diag, DT_EIO, "", "libsodium could not initialise");
    unsigned char *secret = sodium_malloc(SECRET_BYTES);
    if (secret == NULL)
        return dt__diag(diag, DT_ENOMEM, "", "out of memory");
    randombytes_buf(secret + SEED_AT, DT_KEY_BYTES);
    char file[DT_KEY_NAME_MAX + 8];
    dt__fmt(file, sizeof file, "%s.key", name);
    int rc = create_file(dir, file, 0600, secret + SEED_AT, DT_KEY_BYTES, diag);
    if (rc == 0 && kind == DT_KEY_SIGN) {
        unsigned char pk[DT_KEY_PUBLIC_BYTES];
        char hex[2 * DT_KEY_PUBLIC_BYTES + 2];
        crypto_sign_seed_keypair(pk, secret + SK_AT, secret + SEED_AT);
        (void)sodium_bin2hex(hex, sizeof hex - 1, pk, sizeof pk); /* 64 digits and a NUL */
        hex[2 * DT_KEY_PUBLIC_BYTES] = '\n';
        hex[2 * DT_KEY_PUBLIC_BYTES + 1] = '\0';
        dt__fmt(file, sizeof file, "%s.pub", name);
        rc = create_file(dir, file, 0644, (const unsigned char *)hex, strlen(hex), diag);
        if (rc != 0) { /* no secret without its public half */
            char path[512];
            dt__fmt(path, sizeof path, "%s/%s.key", dir, name);
            unlink(path);
        }
    }
    sodium_free(secret);
    return rc;
}

/* ---- MACs and signatures ---- */

int dt_mac(const dt_key *key, const void *msg, size_t len, unsigned char tag[DT_MAC_BYTES])
{
    if (key == NULL || tag == NULL || (msg == NULL && len > 0) || key->kind != DT_KEY_MAC)
        return DT_EINVAL;
    crypto_generichash(tag, DT_MAC_BYTES, msg, len, key->secret, DT_KEY_BYTES);
    return 0;
}

int dt_mac_verify(const dt_key *key, const void *msg, size_t len,
                  const unsigned char tag[DT_MAC_BYTES])
{
    unsigned char want[DT_MAC_BYTES];
    int rc = tag != NULL ? dt_mac(key, msg, len, want) : DT_EINVAL;
    if (rc == 0 && sodium_memcmp(want, tag, DT_MAC_BYTES) != 0)
        rc = DT_EAUTH;
    sodium_memzero(want, sizeof want);
    return rc;
}

int dt_sign(const dt_key *key, const void *msg, size_t len, unsigned char sig[DT_SIG_BYTES])
{
    if (key == NULL || sig == NULL || (msg == NULL && len > 0) || key->kind != DT_KEY_SIGN)
        return DT_EINVAL;
    crypto_sign_detached(sig, NULL, msg, len, key->secret + SK_AT);
    return 0;
}

int dt_sign_verify(const unsigned char pk[DT_KEY_PUBLIC_BYTES], const void *msg, size_t len,
                   const unsigned char sig[DT_SIG_BYTES])
{
    if (pk == NULL || sig == NULL || (msg == NULL && len > 0))
        return DT_EINVAL;
    if (dt_security_init() != 0)
        return DT_EIO;
    return crypto_sign_verify_detached(sig, msg, len, pk) == 0 ? 0 : DT_EAUTH;
}
