/* The UDP source: configuration, open, poll, loop hooks and the reception of
 * datagrams (take: the checks in order, docs/wire.md). Plain non-blocking
 * POSIX sockets: poll() reads what the socket holds, so the core needs no
 * event loop; a host loop may watch the socket through the loop hooks
 * (watches/ready) to receive datagrams when they arrive rather than once per
 * cycle. The receive buffer is allocated once at open. The sequence window is
 * in udp_seq.c, addresses and sockets in udp_net.c, the sink in udp_sink.c. */
#define _DEFAULT_SOURCE /* sockets under -std=c11 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "../platform/internal.h"
#include "adapters_internal.h"
#include "dtwin/udp.h"
#include "dtwin/wire.h"
#include "udp_internal.h"

/* Larger than any UDP payload over IPv4 (65507): only an IPv6 jumbogram can be
 * cut, which the kernel reports (MSG_TRUNC) and the source counts. */
#define UDP_BUF 65536
#define DEF_POLL_DATAGRAMS 256u
#define DEF_POLL_BYTES (256u * 1024u)
#define DEF_RESTART_AFTER DT_NS_PER_S
/* positions reserved by one write of the floor: one fdatasync per 1024
 * frames, and at most 1024 honest frames refused after a restart of the
 * twin alone (docs/wire.md) */
#define DEF_REPLAY_RESERVE 1024u
#define MAX_REPLAY_RESERVE 1048576u

typedef dt__udpsrc udpsrc;

static const char *const udpsrc_keys[] = {
    "bind",       "port",          "source_id", "max_count", "poll_datagrams",
    "poll_bytes", "restart_after", "auth",      "key",       "peer",           "replay_state",
    "replay_reserve", NULL};

static void malformed(udpsrc *s)
{
    s->st.frames_rejected++;
    dt_source_count(s->ctx, DT_EV_MALFORMED, 1);
}

/* The budget of this poll is spent (or the ring refused): stop reading; the
 * rest waits in the kernel's buffer. A paused source also stops asking a host
 * loop to watch its socket (watches), so a level-triggered loop does not wake
 * up for data it will not read until the next poll. */
static void pause_recv(udpsrc *s)
{
    if (!s->paused) {
        s->paused = 1;
        s->st.polls_limited++;
    }
}

static void decode_records(udpsrc *s, const uint8_t *p, const dt_wire_header *hd)
{
    s->st.records += hd->count;
    for (size_t i = 0; i < hd->count; i++) {
        dt_wire_sample r;
        dt_wire_sample_at(p, i, &r);
        if (r.flags & ~DT_WIRE_F_KNOWN) {
            s->st.bad_records++;
            dt_source_count(s->ctx, DT_EV_MALFORMED, 1);
            continue;
        }
        const dt_mapping *m = dt_source_map_channel(s->ctx, r.channel);
        if (m == NULL) {
            s->st.unmapped_records++;
            dt_source_count(s->ctx, DT_EV_UNMAPPED, 1);
            continue;
        }
        dt_sample smp;
        smp.signal = m->signal;
        smp.flags = ((r.flags & DT_WIRE_F_VARIANCE) ? DT_SAMPLE_HAS_VARIANCE : 0u) |
                    ((r.flags & DT_WIRE_F_UNCERTAIN) ? DT_SAMPLE_UNCERTAIN : 0u);
        smp.t_source = r.t_source;
        /* when it was received (a host loop's ready call) or drained (a
         * poll): stamped at the cycle instead, the smallest delay a clock
         * estimate sees moved with the sender's phase against the cycle */
        smp.t_arrival = s->now;
        smp.value = r.value * m->scale + m->offset;
        /* Variance scales with the square of the conversion factor. */
        smp.variance = r.variance * m->scale * m->scale;
        s->st.samples++;
        if (dt_source_push(s->ctx, &smp) == DT_EFULL) {
            /* The ring counted this one; decoding the rest would only be
             * refused too. Counted, and no more datagrams this poll. */
            s->st.records_dropped += hd->count - i - 1;
            s->ring_full = 1;
            return;
        }
    }
}

/* One datagram: the cheap checks first (constant time), the CRC or MAC over
 * up to 64 kB only for a frame this source would take, the sequence window
 * only for a frame that verified (a forgery never moves it). */
static void take(udpsrc *s, const uint8_t *p, size_t n, int cut,
                 const struct sockaddr_storage *from)
{
    if (cut) {
        s->st.kernel_truncated++;
        malformed(s);
        return;
    }
    if (s->have_peer && !dt__udp_same_host(from, &s->peer)) {
        s->st.wrong_peer++;
        malformed(s);
        return;
    }
    dt_wire_header hd;
    dt_wire_error e = dt_wire_decode_header(p, n, &hd);
    if (e == DT_WIRE_OK && s->key != NULL && hd.version != DT_WIRE_VERSION_AUTH) {
        /* a keyed source takes authenticated frames only: no downgrade */
        s->st.unauthenticated++;
        malformed(s);
        return;
    }
    if (e == DT_WIRE_OK && hd.type != DT_WIRE_SAMPLES) {
        s->st.wrong_type++;
        malformed(s);
        return;
    }
    if (e == DT_WIRE_OK && hd.source_id != s->source_id) {
        /* Masquerade or misaddressed traffic: never mixed into this source. */
        s->st.wrong_source++;
        malformed(s);
        return;
    }
    if (e == DT_WIRE_OK && hd.count > s->max_count)
        e = DT_WIRE_TOO_MANY;
    if (e == DT_WIRE_OK)
        e = hd.version == DT_WIRE_VERSION_AUTH ? dt_wire_check_mac(p, n, s->key)
                                               : dt_wire_check_crc(p, n);
    if (e != DT_WIRE_OK) {
        if (e == DT_WIRE_BAD_MAC)
            s->st.bad_mac++; /* forged, corrupted, another key's, or no key here */
        else
            s->st.rejected[e]++;
        malformed(s);
        return;
    }
    if (dt__udp_track_seq(s, hd.version, hd.epoch, hd.seq) == 0) {
        s->st.frames_ok++;
        decode_records(s, p, &hd);
    }
}

/* Reads datagrams until the socket is empty or this cycle's budget is spent
 * (which pauses the source until the next poll). Every read, an error too,
 * is charged to the budget, so that no error storm spins. */
static void drain(udpsrc *s)
{
    while (s->have_fd && !s->paused) {
        struct iovec iov = {s->buf, UDP_BUF};
        struct msghdr mh;
        struct sockaddr_storage from;
        memset(&mh, 0, sizeof mh);
        memset(&from, 0, sizeof from);
        mh.msg_name = &from;
        mh.msg_namelen = sizeof from;
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        ssize_t n;
        do
            n = recvmsg(s->fd, &mh, 0);
        while (n < 0 && errno == EINTR);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return; /* nothing more to read */
        s->used_datagrams++;
        if (n < 0) {
            s->st.recv_errors++;
        } else {
            s->used_bytes += (size_t)n;
            s->st.bytes += (uint64_t)n;
            s->st.datagrams++;
            take(s, s->buf, (size_t)n, (mh.msg_flags & MSG_TRUNC) != 0, &from);
        }
        if (s->used_datagrams >= s->poll_datagrams || s->used_bytes >= s->poll_bytes ||
            s->ring_full)
            pause_recv(s);
    }
}

static void udpsrc_close(void *self)
{
    udpsrc *s = self;
    dt__udp_close_fd(&s->fd, &s->have_fd);
    dt__free(&s->alloc, s->buf);
    s->buf = NULL;
    dt_key_free(s->key);
    s->key = NULL;
    dt__udp_state_close(&s->rs);
}

static int load_key(void *ctx, const char *name, dt_key **out)
{
    return dt_source_key(ctx, name, DT_KEY_MAC, out);
}

/* "replay_state" (required with a key, as the key is: a missing security
 * setting is an error, never "off") and "replay_reserve"; the path resolved
 * into s->rs.path. */
static int replay_config(udpsrc *s, dt_source_ctx *ctx, const dt_config *cfg)
{
    const dt_config *v = dt_config_get(cfg, "replay_state");
    const dt_config *r = dt_config_get(cfg, "replay_reserve");
    if (s->key == NULL) {
        if (v != NULL || r != NULL) {
            dt_source_error(ctx, "%s: given with \"auth\": \"none\" (a keyed source's setting)",
                            v != NULL ? "replay_state" : "replay_reserve");
            return DT_EINVAL;
        }
        return DT_OK;
    }
    const char *path = NULL;
    if (v == NULL || dt_config_string(v, &path) != DT_OK || path[0] == '\0') {
        dt_source_error(ctx, "replay_state: required with \"auth\": \"mac\": a file where the "
                        "source keeps its replay window across restarts (created at the first "
                        "start), e.g. \"replay_state\": \"state/%s.replay\"",
                        dt_source_name(ctx));
        return DT_EINVAL;
    }
    if (dt__resolve_path(dt_source_basedir(ctx), path, s->rs.path, sizeof s->rs.path) != DT_OK) {
        dt_source_error(ctx, "replay_state: path too long");
        return DT_ELIMIT;
    }
    double res = DEF_REPLAY_RESERVE;
    if (r != NULL && (dt_config_number(r, &res) != DT_OK || res < 1 ||
                      res > MAX_REPLAY_RESERVE || res != (double)(int)res)) {
        dt_source_error(ctx, "replay_reserve: 1..%u frames reserved per write (default %u)",
                        MAX_REPLAY_RESERVE, DEF_REPLAY_RESERVE);
        return DT_EINVAL;
    }
    s->reserve = (uint32_t)res;
    return DT_OK;
}

/* The persisted floor (a keyed source): loaded before the socket is bound,
 * so that no frame is ever judged without it. */
static int replay_open(udpsrc *s, dt_source_ctx *ctx)
{
    char path[sizeof s->rs.path], err[sizeof s->rs.path + 200];
    memcpy(path, s->rs.path, sizeof path);
    int rc = dt__udp_state_open(&s->rs, path, DT__UDP_STATE_SOURCE, s->source_id, s->key,
                                DT__UDP_POS_END, err, sizeof err);
    if (rc != DT_OK) {
        dt_source_error(ctx, "%s", err);
        return rc;
    }
    if (s->rs.value >= DT__UDP_POS_END) {
        dt_source_error(ctx, "replay_state %s: the last epoch (65535) of key %s was taken to its "
                        "end: rotate the key (docs/security.md)", s->rs.path, dt_key_name(s->key));
        return DT_ERANGE;
    }
    s->floor = s->rs.value;
    if (s->rs.created || s->rs.rekeyed)
        dt_source_log(ctx, DT_LOG_WARN,
                      "replay_state %s: %s: this run takes the sender's first authentic "
                      "frame whatever its epoch (a first start, or a new key)",
                      s->rs.path, s->rs.created ? "not found, created" :
                      "held another key's or source_id's window, started over");
    return DT_OK;
}

/* The configuration, checked, and the address to bind. */
static int udpsrc_config(udpsrc *s, dt_source_ctx *ctx, const dt_config *cfg,
                         struct sockaddr_storage *addr)
{
    char err[160];
    memset(addr, 0, sizeof *addr);
    if (dt__udp_get_id(cfg, &s->source_id) != DT_OK) {
        /* A zero id would accept any sender's frames: it is not "off". */
        dt_source_error(ctx, "source_id: required, an integer in 1..4294967295");
        return DT_EINVAL;
    }
    double mc = 512;
    const size_t max_records = DT_WIRE_MAX_SAMPLES; /* whole records: the division floors */
    const dt_config *v = dt_config_get(cfg, "max_count");
    if (v != NULL && (dt_config_number(v, &mc) != DT_OK || mc < 1 ||
                      mc > (double)max_records || mc != (double)(int)mc)) {
        dt_source_error(ctx, "max_count: 1..%u records per frame", DT_WIRE_MAX_SAMPLES);
        return DT_EINVAL;
    }
    s->max_count = (uint32_t)mc;
    /* Bounds of one poll's work (0: the default; there is no "unlimited": a
     * flood must never stall the loop). */
    double pd = 0, pb = 0, ra = 0;
    v = dt_config_get(cfg, "poll_datagrams");
    if (v != NULL && (dt_config_number(v, &pd) != DT_OK || pd < 0 || pd > 1e6 ||
                      pd != (double)(int)pd)) {
        dt_source_error(ctx, "poll_datagrams: 0 (default %u) or 1..1000000 per poll",
                        DEF_POLL_DATAGRAMS);
        return DT_EINVAL;
    }
    v = dt_config_get(cfg, "poll_bytes");
    if (v != NULL && (dt_config_number(v, &pb) != DT_OK || pb < 0 || pb > 1073741824.0 ||
                      pb != (double)(int64_t)pb)) {
        dt_source_error(ctx, "poll_bytes: 0 (default %u) or 1..2^30 per poll", DEF_POLL_BYTES);
        return DT_EINVAL;
    }
    v = dt_config_get(cfg, "restart_after");
    if (v != NULL && (dt_config_number(v, &ra) != DT_OK || ra < 0 || ra > 86400)) {
        dt_source_error(ctx, "restart_after: 0 (default 1) or seconds up to 86400");
        return DT_EINVAL;
    }
    s->poll_datagrams = pd > 0 ? (uint32_t)pd : DEF_POLL_DATAGRAMS;
    s->poll_bytes = pb > 0 ? (size_t)pb : DEF_POLL_BYTES;
    s->restart_after = ra > 0 ? (dt_time)(ra * 1e9) : DEF_RESTART_AFTER;
    if (dt__udp_parse_endpoint(cfg, "bind", "127.0.0.1", 0, addr, err, sizeof err) != DT_OK) {
        dt_source_error(ctx, "%s", err);
        return DT_EINVAL;
    }
    v = dt_config_get(cfg, "peer");
    const char *peer = NULL;
    if (v != NULL && (dt_config_string(v, &peer) != DT_OK ||
                      dt__udp_parse_host(peer, &s->peer) != DT_OK)) {
        dt_source_error(ctx, "peer: expected the sender's numeric IP address (no port)");
        return DT_EINVAL;
    }
    s->have_peer = v != NULL;
    int rc = dt__udp_auth(cfg, dt__udp_is_loopback(addr), "binds to", &s->key, load_key, ctx, err,
                          sizeof err);
    if (rc != DT_OK && err[0] != '\0')
        dt_source_error(ctx, "%s", err);
    return rc != DT_OK ? rc : replay_config(s, ctx, cfg);
}

/* What open checks, without creating the socket. */
static int udpsrc_validate(dt_source_ctx *ctx, const dt_config *cfg)
{
    udpsrc *s = dt__calloc(dt_source_allocator(ctx), 1, sizeof *s);
    if (s == NULL)
        return DT_ENOMEM;
    s->rs.fd = -1;
    struct sockaddr_storage addr;
    int rc = udpsrc_config(s, ctx, cfg, &addr);
    if (rc == DT_OK && s->key != NULL) {
        char err[sizeof s->rs.path + 200];
        if ((rc = dt__udp_state_check(s->rs.path, err, sizeof err)) != DT_OK)
            dt_source_error(ctx, "%s", err);
    }
    dt_key_free(s->key);
    dt__free(dt_source_allocator(ctx), s);
    return rc;
}

static int udpsrc_open(void *self, dt_source_ctx *ctx, const dt_config *cfg)
{
    udpsrc *s = self;
    s->ctx = ctx;
    s->alloc = *dt_source_allocator(ctx);
    s->rs.fd = -1; /* before any close */
    struct sockaddr_storage addr;
    int rc0 = udpsrc_config(s, ctx, cfg, &addr);
    if (rc0 == DT_OK && s->key != NULL)
        rc0 = replay_open(s, ctx);
    if (rc0 != DT_OK) {
        udpsrc_close(s);
        return rc0;
    }
    s->buf = dt__malloc(&s->alloc, UDP_BUF);
    if (s->buf == NULL) {
        dt_source_error(ctx, "out of memory");
        udpsrc_close(s);
        return DT_ENOMEM;
    }
    s->fd = dt__udp_socket(addr.ss_family);
    s->have_fd = s->fd >= 0;
    if (!s->have_fd || bind(s->fd, (const struct sockaddr *)&addr, dt__udp_addr_len(&addr)) != 0) {
        dt_source_error(ctx, "cannot listen: %s", strerror(errno));
        udpsrc_close(s);
        return DT_EIO;
    }
    dt__udp_read_kernel_drops(s); /* the baseline: drops before open are not ours */
    (void)dt__udp_bound_port(s->fd, &s->st.port); /* 0 if it cannot be read */
    return DT_OK;
}

static int udpsrc_poll(void *self, dt_time now)
{
    udpsrc *s = self;
    s->now = now;
    dt__udp_read_kernel_drops(s);
    /* A new budget each cycle: a host loop's ready calls between two polls
     * spend the same one. */
    s->used_datagrams = 0;
    s->used_bytes = 0;
    s->ring_full = 0;
    s->paused = 0;
    drain(s);
    return DT_OK;
}

/* Loop hooks: the socket, watched for reading while this cycle's budget
 * lasts (a paused source asks for nothing until the next poll). One socket
 * for the life of the instance, so one generation. */
static size_t udpsrc_watches(const void *self, dt_watch *out, size_t max)
{
    const udpsrc *s = self;
    if (!s->have_fd || s->paused)
        return 0;
    if (max > 0)
        out[0] = (dt_watch){s->fd, DT_WATCH_READ, 1};
    return 1;
}

/* The socket is readable: receive now, so samples reach the ring at once,
 * within what is left of this cycle's budget. */
static void udpsrc_ready(void *self, int fd, unsigned events, dt_time now)
{
    udpsrc *s = self;
    if (!s->have_fd || fd != s->fd || !(events & DT_WATCH_READ))
        return;
    if (now > s->now)
        s->now = now; /* the sequence rules' silence is measured on it */
    drain(s);
}

int dt_udp_source_stats(const dt_io *io, size_t i, dt_udp_stats *out)
{
    const dt_source_ops *ops = dt__io_source_ops(io, i);
    if (ops == NULL || out == NULL || ops->open != udpsrc_open)
        return DT_EINVAL;
    udpsrc *s = dt_io_source_instance((dt_io *)io, i);
    dt__udp_read_kernel_drops(s);
    *out = s->st;
    return DT_OK;
}

/* dt_udp_stats by name, each rejection reason on its own. */
static size_t udpsrc_counters(const void *self, dt_counter *out, size_t max)
{
    const dt_udp_stats *t = &((const udpsrc *)self)->st;
    const dt_counter c[] = {
        {"datagrams", t->datagrams},
        {"frames_ok", t->frames_ok},
        {"frames_rejected", t->frames_rejected},
        {"short", t->rejected[DT_WIRE_SHORT]},
        {"bad_magic", t->rejected[DT_WIRE_BAD_MAGIC]},
        {"bad_version", t->rejected[DT_WIRE_BAD_VERSION]},
        {"bad_type", t->rejected[DT_WIRE_BAD_TYPE]},
        {"bad_flags", t->rejected[DT_WIRE_BAD_FLAGS]},
        {"bad_reserved", t->rejected[DT_WIRE_BAD_RESERVED]},
        {"empty", t->rejected[DT_WIRE_EMPTY]},
        {"too_many", t->rejected[DT_WIRE_TOO_MANY]},
        {"truncated", t->rejected[DT_WIRE_TRUNCATED]},
        {"trailing", t->rejected[DT_WIRE_TRAILING]},
        {"bad_crc", t->rejected[DT_WIRE_BAD_CRC]},
        {"bad_mac", t->bad_mac},
        {"unauthenticated", t->unauthenticated},
        {"wrong_peer", t->wrong_peer},
        {"replayed", t->replayed},
        {"state_writes", t->state_writes},
        {"state_write_errors", t->state_write_errors},
        {"wrong_type", t->wrong_type},
        {"wrong_source", t->wrong_source},
        {"kernel_truncated", t->kernel_truncated},
        {"kernel_dropped", t->kernel_dropped},
        {"lost", t->lost},
        {"duplicate", t->duplicate},
        {"reordered", t->reordered},
        {"too_old", t->too_old},
        {"stale_epoch", t->stale_epoch},
        {"unconfirmed", t->unconfirmed},
        {"jumps", t->jumps},
        {"restarts", t->restarts},
        {"bad_records", t->bad_records},
        {"unmapped_records", t->unmapped_records},
        {"records", t->records},
        {"records_dropped", t->records_dropped},
        {"samples", t->samples},
        {"recv_errors", t->recv_errors},
        {"polls_limited", t->polls_limited},
        {"bytes", t->bytes},
    };
    return dt__counters_copy(out, max, c, sizeof c / sizeof c[0]);
}

const dt_source_ops dt__udp_source_ops = {
    .abi = DT_SOURCE_ABI,
    .kind = "udp",
    .instance_size = sizeof(udpsrc),
    .keys = udpsrc_keys,
    .open = udpsrc_open,
    .poll = udpsrc_poll,
    .close = udpsrc_close,
    .validate = udpsrc_validate,
    .counters = udpsrc_counters,
    .watches = udpsrc_watches,
    .ready = udpsrc_ready,
};
