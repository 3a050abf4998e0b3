/* Keys (include/dtwin/keys.h): the file store's refusals (mode, owner,
 * links, size, names, the directory), key generation, MACs and Ed25519
 * signatures against forgeries, a host backend through the hook, and the
 * key bytes kept out of diagnostics. */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_util.h"
#include "dtwin/keys.h"

typedef struct tmpdir {
    char path[64];
} tmpdir;

static void tmp_make(tmpdir *d)
{
    snprintf(d->path, sizeof d->path, "/tmp/dtt-keys-XXXXXX");
    assert_non_null(mkdtemp(d->path));
}

static void tmp_rm(tmpdir *d)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->path);
    assert_int_equal(system(cmd), 0);
}

/* writes len bytes of `fill` to DIR/NAME with mode */
static void put_file(const tmpdir *d, const char *name, size_t len, int fill, mode_t mode)
{
    char p[160];
    snprintf(p, sizeof p, "%s/%s", d->path, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < len; i++)
        fputc(fill, f);
    fclose(f);
    assert_int_equal(chmod(p, mode), 0);
}

static mode_t mode_of(const tmpdir *d, const char *name)
{
    char p[160];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", d->path, name);
    assert_int_equal(stat(p, &st), 0);
    return st.st_mode & 07777;
}

static void test_generate_load_mac_and_sign(void **state)
{
    (void)state;
    tmpdir d;
    tmp_make(&d);
    mode_t old = umask(0); /* the files' modes must not depend on the umask */
    assert_int_equal(dt_key_generate(d.path, "link-a", DT_KEY_MAC, NULL), 0);
    assert_int_equal(dt_key_generate(d.path, "planner", DT_KEY_SIGN, NULL), 0);
    umask(old);
    assert_int_equal(mode_of(&d, "link-a.key"), 0600);
    assert_int_equal(mode_of(&d, "planner.key"), 0600);
    assert_int_equal(mode_of(&d, "planner.pub"), 0644);
    dt_diag diag;
    assert_int_equal(dt_key_generate(d.path, "planner", DT_KEY_SIGN, &diag), DT_EEXIST);
    assert_non_null(strstr(diag.message, "never overwritten"));

    dt_keystore *ks = NULL;
    assert_int_equal(dt_keystore_file(d.path, &ks, NULL), 0);
    dt_key *mac = NULL, *sig = NULL;
    assert_int_equal(dt_key_load(ks, "link-a", DT_KEY_MAC, &mac, NULL), 0);
    assert_int_equal(dt_key_load(ks, "planner", DT_KEY_SIGN, &sig, NULL), 0);
    assert_int_equal(dt_key_kind_of(mac), DT_KEY_MAC);
    assert_string_equal(dt_key_name(sig), "planner");
    assert_int_equal(strlen(dt_key_id(mac)), DT_KEY_ID_CHARS);
    assert_string_not_equal(dt_key_id(mac), dt_key_id(sig));

    /* MAC: verifies; every single flipped bit of tag or message is caught */
    unsigned char msg[40], tag[DT_MAC_BYTES];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (unsigned char)(i * 7 + 3);
    assert_int_equal(dt_mac(mac, msg, sizeof msg, tag), 0);
    assert_int_equal(dt_mac_verify(mac, msg, sizeof msg, tag), 0);
    for (size_t bit = 0; bit < 8 * sizeof tag; bit++) {
        tag[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        assert_int_equal(dt_mac_verify(mac, msg, sizeof msg, tag), DT_EAUTH);
        tag[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
    for (size_t bit = 0; bit < 8 * sizeof msg; bit++) {
        msg[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        assert_int_equal(dt_mac_verify(mac, msg, sizeof msg, tag), DT_EAUTH);
        msg[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
    assert_int_equal(dt_mac_verify(mac, msg, sizeof msg - 1, tag), DT_EAUTH); /* truncated */
    assert_int_equal(dt_mac(sig, msg, sizeof msg, tag), DT_EINVAL);          /* wrong kind */

    /* signatures: the public half from the .pub file verifies; forgeries fail */
    unsigned char pk[DT_KEY_PUBLIC_BYTES], pk_file[DT_KEY_PUBLIC_BYTES], s[DT_SIG_BYTES];
    assert_int_equal(dt_key_public(sig, pk), 0);
    char p[160], hex[160] = "";
    snprintf(p, sizeof p, "%s/planner.pub", d.path);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    assert_non_null(fgets(hex, sizeof hex, f));
    fclose(f);
    assert_int_equal(dt_key_public_from_hex(hex, pk_file), 0);
    assert_memory_equal(pk, pk_file, sizeof pk);
    assert_int_equal(dt_sign(sig, msg, sizeof msg, s), 0);
    assert_int_equal(dt_sign_verify(pk, msg, sizeof msg, s), 0);
    s[5] ^= 0x10;
    assert_int_equal(dt_sign_verify(pk, msg, sizeof msg, s), DT_EAUTH);
    s[5] ^= 0x10;
    msg[0] ^= 1;
    assert_int_equal(dt_sign_verify(pk, msg, sizeof msg, s), DT_EAUTH);
    msg[0] ^= 1;
    pk[0] ^= 1;
    assert_int_equal(dt_sign_verify(pk, msg, sizeof msg, s), DT_EAUTH);
    assert_int_equal(dt_sign(mac, msg, sizeof msg, s), DT_EINVAL);
    assert_int_equal(dt_key_public(mac, pk), DT_EINVAL);
    assert_int_equal(dt_key_public_from_hex("abc", pk), DT_EPARSE);
    assert_int_equal(dt_key_public_from_hex(
                         "zz000000000000000000000000000000000000000000000000000000000000", pk),
                     DT_EPARSE);

    /* a second load of the same file is the same key */
    dt_key *mac2 = NULL;
    unsigned char tag2[DT_MAC_BYTES];
    assert_int_equal(dt_key_load(ks, "link-a", DT_KEY_MAC, &mac2, NULL), 0);
    assert_int_equal(dt_mac(mac2, msg, sizeof msg, tag2), 0);
    assert_memory_equal(tag, tag2, sizeof tag);
    dt_key_free(mac2);
    dt_key_free(mac);
    dt_key_free(sig);
    dt_keystore_close(ks);
    tmp_rm(&d);
}

static void expect_refused(dt_keystore *ks, const char *name, int code, const char *says)
{
    dt_key *k = (dt_key *)&k; /* must come back NULL */
    dt_diag diag;
    memset(&diag, 0, sizeof diag);
    assert_int_equal(dt_key_load(ks, name, DT_KEY_MAC, &k, &diag), code);
    assert_null(k);
    if (strstr(diag.message, says) == NULL)
        fail_msg("key \"%s\": \"%s\" does not say \"%s\"", name, diag.message, says);
}

static void test_file_store_refusals(void **state)
{
    (void)state;
    tmpdir d;
    tmp_make(&d);
    put_file(&d, "open.key", DT_KEY_BYTES, 0x5a, 0644);
    put_file(&d, "group.key", DT_KEY_BYTES, 0x5a, 0640);
    put_file(&d, "short.key", DT_KEY_BYTES - 1, 0x5a, 0600);
    put_file(&d, "long.key", DT_KEY_BYTES + 1, 0x5a, 0600);
    put_file(&d, "empty.key", 0, 0x5a, 0600);
    put_file(&d, "ro.key", DT_KEY_BYTES, 0x5a, 0400);
    char p[160], q[160];
    snprintf(p, sizeof p, "%s/ro.key", d.path);
    snprintf(q, sizeof q, "%s/link.key", d.path);
    assert_int_equal(symlink(p, q), 0);
    snprintf(q, sizeof q, "%s/dir.key", d.path);
    assert_int_equal(mkdir(q, 0700), 0);

    dt_keystore *ks = NULL;
    assert_int_equal(dt_keystore_file(d.path, &ks, NULL), 0);
    expect_refused(ks, "open", DT_EPERM, "mode 0644 lets others read or write it; chmod 600");
    expect_refused(ks, "group", DT_EPERM, "mode 0640");
    expect_refused(ks, "short", DT_EPARSE, "holds 31 bytes, a key is exactly 32");
    expect_refused(ks, "long", DT_EPARSE, "holds 33 bytes");
    expect_refused(ks, "empty", DT_EPARSE, "holds 0 bytes");
    expect_refused(ks, "link", DT_EPERM, "symbolic link");
    expect_refused(ks, "dir", DT_EPERM, "not a regular file");
    expect_refused(ks, "missing", DT_ENOTFOUND, "missing.key");
    expect_refused(ks, "", DT_EINVAL, "key name");
    expect_refused(ks, ".hidden", DT_EINVAL, "not starting with a dot");
    expect_refused(ks, "../ro", DT_EINVAL, "key name");
    expect_refused(ks, "a/b", DT_EINVAL, "key name");
    char longname[DT_KEY_NAME_MAX + 2];
    memset(longname, 'k', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    expect_refused(ks, longname, DT_EINVAL, "key name");
    /* read-only is as good as 0600 */
    dt_key *k = NULL;
    assert_int_equal(dt_key_load(ks, "ro", DT_KEY_MAC, &k, NULL), 0);
    dt_key_free(k);
    /* no message ever holds key bytes (0xa5: no path or text holds it) */
    dt_diag diag;
    put_file(&d, "secret.key", DT_KEY_BYTES + 1, 0xa5, 0600);
    assert_int_equal(dt_key_load(ks, "secret", DT_KEY_MAC, &k, &diag), DT_EPARSE);
    assert_null(strchr(diag.message, (char)0xa5));
    assert_int_equal(dt_key_load(ks, "ro", 7, &k, &diag), DT_EINVAL);
    dt_keystore_close(ks);

    /* the directory: writable by others, missing */
    assert_int_equal(chmod(d.path, 0777), 0);
    assert_int_equal(dt_keystore_file(d.path, &ks, &diag), DT_EPERM);
    assert_null(ks);
    assert_non_null(strstr(diag.message, "lets others replace its keys"));
    assert_int_equal(chmod(d.path, 0700), 0);
    assert_int_equal(dt_keystore_file("/nonexistent/dtwin-keys", &ks, &diag), DT_EIO);
    assert_int_equal(dt_keystore_file(NULL, &ks, NULL), DT_EINVAL);
    assert_int_equal(dt_key_generate(d.path, "../x", DT_KEY_MAC, NULL), DT_EINVAL);
    assert_int_equal(dt_key_generate("/nonexistent/dtwin-keys", "x", DT_KEY_MAC, NULL), DT_EIO);
    tmp_rm(&d);
}

/* a host backend: a fixed key, a refusal that says why, a call count */
typedef struct fake_store {
    int calls, closed;
} fake_store;

static int fake_unseal(void *self, const char *name, dt_key_kind kind, unsigned char *out,
                       char *why, size_t why_len)
{
    fake_store *fs = self;
    fs->calls++;
    if (strcmp(name, "sealed") != 0) {
        snprintf(why, why_len, "the TPM holds no key %s", name);
        return DT_ENOTFOUND;
    }
    memset(out, kind == DT_KEY_SIGN ? 0x11 : 0x22, DT_KEY_BYTES);
    return 0;
}

static void fake_close(void *self)
{
    ((fake_store *)self)->closed++;
}

static void test_host_backend(void **state)
{
    (void)state;
    fake_store fs = {0, 0};
    dt_keystore_ops ops = {DT_KEYSTORE_ABI, fake_unseal, fake_close};
    dt_keystore *ks = NULL;
    ops.abi = DT_KEYSTORE_ABI + 1;
    assert_int_equal(dt_keystore_open(&ops, &fs, &ks), DT_EABI);
    ops.abi = DT_KEYSTORE_ABI;
    assert_int_equal(dt_keystore_open(&ops, &fs, &ks), 0);
    dt_key *k = NULL, *k2 = NULL;
    dt_diag diag;
    assert_int_equal(dt_key_load(ks, "other", DT_KEY_MAC, &k, &diag), DT_ENOTFOUND);
    assert_non_null(strstr(diag.message, "the TPM holds no key other"));
    assert_int_equal(dt_key_load(ks, "sealed", DT_KEY_SIGN, &k, NULL), 0);
    assert_int_equal(dt_key_load(ks, "sealed", DT_KEY_SIGN, &k2, NULL), 0);
    unsigned char pk[DT_KEY_PUBLIC_BYTES], pk2[DT_KEY_PUBLIC_BYTES], s[DT_SIG_BYTES];
    assert_int_equal(dt_key_public(k, pk), 0);
    assert_int_equal(dt_key_public(k2, pk2), 0);
    assert_memory_equal(pk, pk2, sizeof pk); /* the same seed, the same key */
    assert_int_equal(dt_sign(k, "x", 1, s), 0);
    assert_int_equal(dt_sign_verify(pk2, "x", 1, s), 0);
    assert_string_equal(dt_key_id(k), dt_key_id(k2));
    dt_key_free(k);
    dt_key_free(k2);
    dt_keystore_close(ks);
    assert_int_equal(fs.calls, 3);
    assert_int_equal(fs.closed, 1);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_generate_load_mac_and_sign),
    cmocka_unit_test(test_file_store_refusals),
    cmocka_unit_test(test_host_backend),
};

DTT_MAIN(tests)
