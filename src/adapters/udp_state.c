/* The persisted state of a keyed UDP link (docs/wire.md, "Replays across
 * restarts"): a source's floor (the lowest frame position it may accept
 * after a restart) or a sink's boot counter (its next epoch).
 *
 * The file is two copies (slots) of a small record with a CRC, written in
 * turn in place: a write that a crash tears damages only the slot being
 * written, and the other still holds the previous value, which is safe
 * (nothing above it was accepted, or sent, before the write completed).
 * One pwrite and one fdatasync per write, no temporary file, no rename: the
 * descriptor stays open for the life of the adapter, under an exclusive
 * flock, so two adapters (or two processes) can never share one file. The
 * file is hostile input as a key file is: not a link, a regular file of
 * this user, mode 0600, the exact size, in a directory only its owner can
 * write; a damaged file is refused, never reset. */
#define _DEFAULT_SOURCE /* flock, fdatasync, openat under -std=c11 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../platform/internal.h"
#include "../platform/le.h"
#include "dtwin/wire.h"
#include "udp_internal.h"

#define MAGIC 0x53525444u /* bytes D T R S */
#define VERSION 1u
#define KEYID 16 /* the key's fingerprint, as dt_key_id writes it */
/* magic 4, version 1, kind 1, reserved 2, source_id 4, reserved 4, key id
 * 16, value 8, CRC-32 of the 40 bytes before it 4 */
#define SLOT 44u
#define OFF_ID 8
#define OFF_KEY 16
#define OFF_VALUE 32
#define OFF_CRC 40

static void encode(const dt__udp_state *st, uint64_t value, uint8_t *b)
{
    memset(b, 0, SLOT);
    dt__put32(b, MAGIC);
    b[4] = VERSION;
    b[5] = st->kind;
    dt__put32(b + OFF_ID, st->source_id);
    memcpy(b + OFF_KEY, st->key_id, KEYID);
    dt__put64(b + OFF_VALUE, value);
    dt__put32(b + OFF_CRC, dt_wire_crc32(b, OFF_CRC));
}

/* 1 for an intact slot (magic, version, reserved bytes, CRC). */
static int intact(const uint8_t *b)
{
    return dt__get32(b) == MAGIC && b[4] == VERSION && b[6] == 0 && b[7] == 0 &&
           dt__get32(b + 12) == 0 && dt__get32(b + OFF_CRC) == dt_wire_crc32(b, OFF_CRC);
}

static int write_slot(dt__udp_state *st, int slot, uint64_t value)
{
    uint8_t b[SLOT];
    encode(st, value, b);
    ssize_t n;
    do
        n = pwrite(st->fd, b, SLOT, (off_t)slot * SLOT);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)SLOT)
        return DT_EIO; /* short: the slot is torn, its CRC says so at the next load */
    return fdatasync(st->fd) == 0 ? DT_OK : DT_EIO;
}

int dt__udp_state_write(dt__udp_state *st, uint64_t value)
{
    int slot = 1 - st->slot; /* never the slot holding the durable value */
    int rc = write_slot(st, slot, value);
    if (rc == DT_OK) {
        st->slot = slot;
        st->value = value;
        st->writes++;
    }
    return rc;
}

void dt__udp_state_close(dt__udp_state *st)
{
    if (st->fd >= 0)
        (void)close(st->fd); /* the lock goes with it; every write was synced */
    st->fd = -1;
}

/* The directory part of path into dir, the name into *base. */
static int split(const char *path, char *dir, size_t cap, const char **base)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        dt__fmt(dir, cap, ".");
        *base = path;
    } else {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        if (n >= cap)
            return DT_ELIMIT;
        memcpy(dir, path, n);
        dir[n] = '\0';
        *base = slash + 1;
    }
    return **base == '\0' || strcmp(*base, ".") == 0 || strcmp(*base, "..") == 0 ? DT_EINVAL
                                                                                 : DT_OK;
}

/* A new file: both slots hold the fresh value 0, synced, and the directory
 * entry too, before anything relies on it. */
static int create(dt__udp_state *st, int dirfd, const char *base, char *err, size_t errcap)
{
    st->fd = openat(dirfd, base, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
                    0600);
    if (st->fd < 0) {
        dt__fmt(err, errcap, "replay_state: %s: cannot create: %s", st->path, strerror(errno));
        return DT_EIO;
    }
    /* fchmod: a umask that took the owner's write bit would make the next
     * open refuse the file */
    if (fchmod(st->fd, 0600) != 0 || flock(st->fd, LOCK_EX | LOCK_NB) != 0 ||
        write_slot(st, 0, 0) != DT_OK ||
        write_slot(st, 1, 0) != DT_OK || fsync(dirfd) != 0) {
        dt__fmt(err, errcap, "replay_state: %s: cannot write it durably: %s", st->path,
                strerror(errno));
        dt__udp_state_close(st);
        (void)unlinkat(dirfd, base, 0); /* a half-made file would be refused as damaged */
        return DT_EIO;
    }
    st->value = 0;
    st->slot = 0;
    st->created = 1;
    return DT_OK;
}

/* The file's metadata, as keys.c checks a key file's. */
static int check_file(const dt__udp_state *st, const struct stat *sb, char *err, size_t errcap)
{
    if (!S_ISREG(sb->st_mode)) {
        dt__fmt(err, errcap, "replay_state: %s: not a regular file", st->path);
        return DT_EPERM;
    }
    if (sb->st_uid != geteuid()) {
        dt__fmt(err, errcap, "replay_state: %s: owned by user %lu, not by this process's user %lu",
                st->path, (unsigned long)sb->st_uid, (unsigned long)geteuid());
        return DT_EPERM;
    }
    if ((sb->st_mode & 07777) != 0600) {
        dt__fmt(err, errcap, "replay_state: %s: mode %04o, a state file is 0600; chmod 600 it",
                st->path, (unsigned)(sb->st_mode & 07777));
        return DT_EPERM;
    }
    if (sb->st_size != (off_t)(2 * SLOT)) {
        dt__fmt(err, errcap,
                "replay_state: %s: holds %lld bytes, a state file holds %u: damaged or not a "
                "state file (docs/wire.md: what to do)",
                st->path, (long long)sb->st_size, 2 * SLOT);
        return DT_EPARSE;
    }
    return DT_OK;
}

/* Reads both slots: the largest value among the intact slots of this link
 * (kind, source_id, key); none of this link but some intact: another key's
 * or source_id's state, started over (a rotated key: frames under the old
 * one fail the MAC anyway). */
static int load(dt__udp_state *st, uint64_t max_value, char *err, size_t errcap)
{
    uint8_t b[2 * SLOT];
    ssize_t n;
    do
        n = pread(st->fd, b, sizeof b, 0);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof b) {
        dt__fmt(err, errcap, "replay_state: %s: cannot read: %s", st->path,
                n < 0 ? strerror(errno) : "short read");
        return DT_EIO;
    }
    int any = 0, mine = 0;
    for (int i = 0; i < 2; i++) {
        const uint8_t *p = b + (size_t)i * SLOT;
        if (!intact(p))
            continue;
        any = 1;
        if (p[5] != st->kind) {
            dt__fmt(err, errcap,
                    "replay_state: %s: holds a %s's state, not a %s's: give each source and "
                    "each sink its own file",
                    st->path, p[5] == DT__UDP_STATE_SINK ? "sink" : "source",
                    st->kind == DT__UDP_STATE_SINK ? "sink" : "source");
            return DT_EINVAL;
        }
        uint64_t v = dt__get64(p + OFF_VALUE);
        if (v > max_value) {
            dt__fmt(err, errcap, "replay_state: %s: value %llu out of range (at most %llu): "
                    "damaged or not written by dtwin", st->path, (unsigned long long)v,
                    (unsigned long long)max_value);
            return DT_EPARSE;
        }
        if (dt__get32(p + OFF_ID) != st->source_id || memcmp(p + OFF_KEY, st->key_id, KEYID) != 0)
            continue;
        if (!mine || v > st->value) {
            st->value = v;
            st->slot = i;
        }
        mine = 1;
    }
    if (!any) {
        dt__fmt(err, errcap,
                "replay_state: %s: damaged (no intact copy): restore it, or delete it to start "
                "over, which lets recordings of earlier sessions through once (docs/wire.md)",
                st->path);
        return DT_EPARSE;
    }
    if (!mine) {
        st->value = 0;
        st->rekeyed = 1;
    }
    return DT_OK;
}

/* The state's directory opened and checked: owned by this user or root,
 * writable by nobody else (whoever can write it can delete or replace the
 * file, and with it reopen every earlier session to replays). Returns the
 * descriptor, or -1 with *rc and err set. */
static int open_dir(const char *dir, int *rc, char *err, size_t errcap)
{
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        dt__fmt(err, errcap, "replay_state: %s: %s%s", dir, strerror(errno),
                errno == ENOENT ? " (make it: mkdir -m 700)" : "");
        *rc = DT_EIO;
        return -1;
    }
    struct stat sb;
    *rc = DT_OK;
    if (fstat(dirfd, &sb) != 0) {
        dt__fmt(err, errcap, "replay_state: %s: %s", dir, strerror(errno));
        *rc = DT_EIO;
    } else if (sb.st_uid != geteuid() && sb.st_uid != 0) {
        dt__fmt(err, errcap, "replay_state: %s: directory owned by user %lu: another user could "
                "replace the state", dir, (unsigned long)sb.st_uid);
        *rc = DT_EPERM;
    } else if ((sb.st_mode & 022) != 0) {
        dt__fmt(err, errcap, "replay_state: %s: directory mode %04o lets others replace the "
                "state; chmod go-w it", dir, (unsigned)(sb.st_mode & 07777));
        *rc = DT_EPERM;
    }
    if (*rc != DT_OK) {
        (void)close(dirfd);
        return -1;
    }
    return dirfd;
}

int dt__udp_state_check(const char *path, char *err, size_t errcap)
{
    dt__udp_state st;
    memset(&st, 0, sizeof st);
    st.fd = -1;
    dt__fmt(st.path, sizeof st.path, "%s", path);
    char dir[sizeof st.path];
    const char *base = NULL;
    if (split(st.path, dir, sizeof dir, &base) != DT_OK) {
        dt__fmt(err, errcap, "replay_state: %s: expected the path of a file", st.path);
        return DT_EINVAL;
    }
    int rc = DT_OK;
    int dirfd = open_dir(dir, &rc, err, errcap);
    if (dirfd < 0)
        return rc;
    struct stat sb;
    if (fstatat(dirfd, base, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
        rc = errno == ENOENT ? DT_OK : DT_EIO; /* a first start creates it */
        if (rc != DT_OK)
            dt__fmt(err, errcap, "replay_state: %s: %s", st.path, strerror(errno));
    } else if (S_ISLNK(sb.st_mode)) {
        dt__fmt(err, errcap, "replay_state: %s: a symbolic link (a state file must be the file "
                "itself)", st.path);
        rc = DT_EPERM;
    } else {
        rc = check_file(&st, &sb, err, errcap);
    }
    (void)close(dirfd);
    return rc;
}

int dt__udp_state_open(dt__udp_state *st, const char *path, uint8_t kind, uint32_t source_id,
                       const dt_key *key, uint64_t max_value, char *err, size_t errcap)
{
    memset(st, 0, sizeof *st);
    st->fd = -1;
    st->kind = kind;
    st->source_id = source_id;
    memcpy(st->key_id, dt_key_id(key), KEYID);
    dt__fmt(st->path, sizeof st->path, "%s", path);
    char dir[sizeof st->path];
    const char *base = NULL;
    if (split(st->path, dir, sizeof dir, &base) != DT_OK) {
        dt__fmt(err, errcap, "replay_state: %s: expected the path of a file", st->path);
        return DT_EINVAL;
    }
    int rc = DT_OK;
    int dirfd = open_dir(dir, &rc, err, errcap);
    if (dirfd < 0)
        return rc;
    struct stat sb;
    if (rc == DT_OK) {
        st->fd = openat(dirfd, base, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        int e = errno;
        if (st->fd < 0 && e == ENOENT) {
            rc = create(st, dirfd, base, err, errcap);
        } else if (st->fd < 0) {
            dt__fmt(err, errcap, "replay_state: %s: %s", st->path,
                    e == ELOOP ? "a symbolic link (a state file must be the file itself)"
                               : strerror(e));
            rc = e == ELOOP || e == EACCES ? DT_EPERM : DT_EIO;
        } else if (fstat(st->fd, &sb) != 0) {
            dt__fmt(err, errcap, "replay_state: %s: %s", st->path, strerror(errno));
            rc = DT_EIO;
        } else if ((rc = check_file(st, &sb, err, errcap)) == DT_OK) {
            if (flock(st->fd, LOCK_EX | LOCK_NB) != 0) {
                dt__fmt(err, errcap, "replay_state: %s: in use by another source, sink or "
                        "process: each link needs its own file", st->path);
                rc = DT_EEXIST;
            } else {
                rc = load(st, max_value, err, errcap);
            }
        }
    }
    (void)close(dirfd);
    if (rc != DT_OK)
        dt__udp_state_close(st);
    return rc;
}
