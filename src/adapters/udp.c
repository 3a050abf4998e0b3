/* UDP source and sink on plain non-blocking POSIX sockets: poll() reads what
 * the socket holds and apply() sends without ever blocking, so the core needs
 * no event loop. A host loop may watch the source's socket through the loop
 * hooks (watches/ready) to receive datagrams when they arrive rather than once
 * per cycle. The receive buffer is allocated once at open. */
#define _DEFAULT_SOURCE /* sockets, inet_pton, if_nametoindex under -std=c11 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../platform/internal.h"
#include "adapters_internal.h"
#include "dtwin/udp.h"
#include "dtwin/wire.h"

#ifdef __linux__
#include <linux/sock_diag.h> /* SK_MEMINFO_DROPS */
#endif

/* Larger than any UDP payload over IPv4 (65507): only an IPv6 jumbogram can be
 * cut, which the kernel reports (MSG_TRUNC) and the source counts. */
#define UDP_BUF 65536
/* Frames: the replay window (a bitmap) and the largest forward step taken on
 * one frame's word. A bigger step would push frames the honest sender is
 * still sending out of the window, so it waits for a second frame. */
#define SEQ_WINDOW 64u
#define DEF_POLL_DATAGRAMS 256u
#define DEF_POLL_BYTES (256u * 1024u)
#define DEF_RESTART_AFTER DT_NS_PER_S

typedef struct udpsrc {
    dt_source_ctx *ctx;
    dt_allocator alloc;
    int fd, have_fd; /* the bound socket (non-blocking) */
    int paused;      /* the budget of this cycle is spent: read nothing until the next poll */
    uint8_t *buf;
    uint32_t source_id, max_count;
    /* the work of one poll (and of the host loop's ready calls until the next poll) */
    uint32_t poll_datagrams, used_datagrams;
    size_t poll_bytes, used_bytes;
    int ring_full; /* the ring refused a sample: decode nothing more until the next poll */
    /* sequence window: (epoch, last_seq) and the 64 frames up to it */
    int have_seq;
    int confirmed; /* two frames agree on the window (not just the first one) */
    uint16_t epoch;
    uint32_t last_seq;
    uint64_t seen; /* bit k: frame last_seq - k was received */
    dt_time now, last_accept, restart_after;
    /* the single frame that would move the window, waiting for a successor */
    int have_cand;
    uint8_t cand_version;
    uint16_t cand_epoch;
    uint32_t cand_seq;
    int have_kdrops;
    uint32_t kdrops0;
    dt_udp_stats st;
} udpsrc;

static const char *const udpsrc_keys[] = {"bind",          "port",       "source_id",
                                          "max_count",     "poll_datagrams", "poll_bytes",
                                          "restart_after", NULL};

static void malformed(udpsrc *s)
{
    s->st.frames_rejected++;
    dt_source_count(s->ctx, DT_EV_MALFORMED, 1);
}

/* A well-formed frame refused by the sequence rules: counted by its own
 * counter (the caller's) and in frames_rejected, not as malformed. */
static void refused(udpsrc *s, uint64_t *counter)
{
    (*counter)++;
    s->st.frames_rejected++;
    dt_source_count(s->ctx, DT_EV_REFUSED, 1); /* its samples never reach the twin */
}

/* Where a frame falls against the window. */
enum { V_ADVANCE, V_REORDERED, V_DUPLICATE, V_FAR_AHEAD, V_TOO_OLD, V_NEW_EPOCH, V_OLD_EPOCH };

static int classify(const udpsrc *s, uint16_t epoch, uint32_t seq)
{
    if (epoch != s->epoch) /* serial-number order (RFC 1982) on 16 bits */
        return (uint16_t)(epoch - s->epoch) < 0x8000u ? V_NEW_EPOCH : V_OLD_EPOCH;
    uint32_t ahead = seq - s->last_seq; /* modulo 2^32 */
    if (ahead == 0)
        return V_DUPLICATE;
    if (ahead < SEQ_WINDOW)
        return V_ADVANCE;
    if (ahead < 0x80000000u)
        return V_FAR_AHEAD;
    uint32_t behind = s->last_seq - seq;
    if (behind < SEQ_WINDOW)
        return (s->seen >> behind) & 1u ? V_DUPLICATE : V_REORDERED;
    return V_TOO_OLD;
}

static void count_lost(udpsrc *s, uint64_t n)
{
    if (n > 0) {
        s->st.lost += n;
        dt_source_count(s->ctx, DT_EV_LOST, (int64_t)n);
    }
}

static void accepted(udpsrc *s)
{
    s->confirmed = 1;
    s->have_cand = 0; /* a candidate needs two frames in a row */
    s->last_accept = s->now;
}

/* Sequence bookkeeping (docs/wire.md): returns 0 to accept the frame, -1 when
 * it is refused (counted here). A single frame never moves the window by 64
 * frames or more, nor to another epoch: that takes a second frame continuing
 * from it, so one forged or replayed frame can neither inflate `lost` nor push
 * the honest sender's frames out of the window. */
static int track_seq(udpsrc *s, uint8_t version, uint16_t epoch, uint32_t seq)
{
    if (!s->have_seq) {
        s->have_seq = 1;
        s->epoch = epoch;
        s->last_seq = seq;
        s->seen = 1;
        s->st.epoch = epoch;
        s->last_accept = s->now;
        return 0;
    }
    int v = classify(s, epoch, seq);
    /* A version 1 sender silent for restart_after whose frames come back at
     * or behind the newest one has restarted (or it is a replay: version 1
     * cannot tell, docs/wire.md). Unsigned: the host's now may be any int64. */
    int silent = version == 1 && s->now >= s->last_accept &&
                 (uint64_t)s->now - (uint64_t)s->last_accept >= (uint64_t)s->restart_after;
    if (v == V_ADVANCE) {
        uint32_t ahead = seq - s->last_seq;
        count_lost(s, ahead - 1);
        s->seen = (s->seen << ahead) | 1;
        s->last_seq = seq;
        accepted(s);
        return 0;
    }
    if (v == V_REORDERED && !silent) {
        s->seen |= (uint64_t)1 << (s->last_seq - seq);
        /* It was counted lost when the gap appeared. */
        if (s->st.lost > 0) {
            s->st.lost--;
            dt_source_count(s->ctx, DT_EV_LOST, -1);
        }
        s->st.reordered++;
        dt_source_count(s->ctx, DT_EV_REORDERED, 1);
        accepted(s);
        return 0;
    }
    /* Refused by the window. May it move the window instead? Forward (a gap or
     * a new epoch): always, once confirmed. Backward: only while the window
     * rests on a single frame (which may have been forged), or for a silent
     * version 1 sender (above). */
    int movable = v == V_FAR_AHEAD || v == V_NEW_EPOCH ||
                  ((v == V_TOO_OLD || v == V_OLD_EPOCH) && (!s->confirmed || silent)) ||
                  ((v == V_DUPLICATE || v == V_REORDERED) && silent);
    if (!movable) {
        if (v == V_DUPLICATE) {
            s->st.duplicate++;
            dt_source_count(s->ctx, DT_EV_DUPLICATE, 1);
        } else {
            refused(s, v == V_TOO_OLD ? &s->st.too_old : &s->st.stale_epoch);
        }
        return -1;
    }
    uint32_t step = seq - s->cand_seq;
    if (s->have_cand && s->cand_version == version && s->cand_epoch == epoch && step >= 1 &&
        step < SEQ_WINDOW) {
        /* Confirmed: the candidate and this frame agree. Frames between them
         * are lost (until they arrive), and for a forward jump in the same
         * epoch those before the candidate too; across a restart the sender's
         * earlier frames are unknown, so not counted. */
        if (v == V_FAR_AHEAD && s->confirmed) {
            count_lost(s, (uint64_t)(s->cand_seq - s->last_seq - 1) + (step - 1));
            s->st.jumps++;
        } else {
            count_lost(s, step - 1);
            if (v == V_NEW_EPOCH || (s->confirmed && v != V_FAR_AHEAD)) {
                s->st.restarts++;
                dt_source_log(s->ctx, DT_LOG_INFO, "sender restarted (epoch %u, seq %u)",
                              (unsigned)epoch, (unsigned)seq);
            } else {
                s->st.jumps++; /* the first frame was not the sender's */
            }
        }
        s->epoch = epoch;
        s->st.epoch = epoch;
        s->last_seq = seq;
        s->seen = 1u | (uint64_t)1 << step; /* the candidate too: a replay of it is a duplicate */
        accepted(s);
        return 0;
    }
    s->have_cand = 1;
    s->cand_version = version;
    s->cand_epoch = epoch;
    s->cand_seq = seq;
    refused(s, &s->st.unconfirmed);
    return -1;
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
        smp.t_arrival = 0; /* stamped with the cycle's now when drained */
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

/* One datagram: the cheap checks first (constant time), the CRC over up to
 * 64 kB only for a frame this source would take. */
static void take(udpsrc *s, const uint8_t *p, size_t n, int cut)
{
    if (cut) {
        s->st.kernel_truncated++;
        malformed(s);
        return;
    }
    dt_wire_header hd;
    dt_wire_error e = dt_wire_decode_header(p, n, &hd);
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
        e = dt_wire_check_crc(p, n);
    if (e != DT_WIRE_OK) {
        s->st.rejected[e]++;
        malformed(s);
        return;
    }
    if (track_seq(s, hd.version, hd.epoch, hd.seq) == 0) {
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
        memset(&mh, 0, sizeof mh);
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
            take(s, s->buf, (size_t)n, (mh.msg_flags & MSG_TRUNC) != 0);
        }
        if (s->used_datagrams >= s->poll_datagrams || s->used_bytes >= s->poll_bytes ||
            s->ring_full)
            pause_recv(s);
    }
}

/* Datagrams the kernel dropped on this socket, its buffer full (a flood the
 * budget leaves queued overflows there): counted, never silent. */
static void read_kernel_drops(udpsrc *s)
{
#if defined(__linux__) && defined(SO_MEMINFO)
    uint32_t mi[SK_MEMINFO_VARS];
    socklen_t len = sizeof mi;
    if (!s->have_fd || getsockopt(s->fd, SOL_SOCKET, SO_MEMINFO, mi, &len) != 0 ||
        len < (socklen_t)((SK_MEMINFO_DROPS + 1) * sizeof mi[0]))
        return;
    if (!s->have_kdrops) {
        s->have_kdrops = 1;
        s->kdrops0 = mi[SK_MEMINFO_DROPS];
    }
    s->st.kernel_dropped = (uint32_t)(mi[SK_MEMINFO_DROPS] - s->kdrops0);
#else
    (void)s;
#endif
}

/* A numeric IPv4 or IPv6 address (with an optional %zone for a link-local
 * IPv6 one) and a port; -1 when host is not one. */
static int parse_ip(const char *host, int port, struct sockaddr_storage *addr)
{
    memset(addr, 0, sizeof *addr);
    if (strchr(host, ':') == NULL) {
        struct sockaddr_in *a4 = (struct sockaddr_in *)addr;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        return inet_pton(AF_INET, host, &a4->sin_addr) == 1 ? 0 : -1;
    }
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;
    char ip[INET6_ADDRSTRLEN];
    const char *zone = strchr(host, '%');
    size_t len = zone != NULL ? (size_t)(zone - host) : strlen(host);
    if (len >= sizeof ip)
        return -1;
    memcpy(ip, host, len);
    ip[len] = '\0';
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    if (zone != NULL)
        a6->sin6_scope_id = if_nametoindex(zone + 1); /* 0: an unknown interface */
    return inet_pton(AF_INET6, ip, &a6->sin6_addr) == 1 ? 0 : -1;
}

static socklen_t addr_len(const struct sockaddr_storage *a)
{
    return a->ss_family == AF_INET6 ? (socklen_t)sizeof(struct sockaddr_in6)
                                    : (socklen_t)sizeof(struct sockaddr_in);
}

/* A non-blocking datagram socket of the address's family, closed on exec;
 * -1 with errno. */
static int udp_socket(int family)
{
#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC)
    return socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
#else
    int fd = socket(family, SOCK_DGRAM, 0);
    if (fd < 0)
        return -1;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
#endif
}

static int parse_endpoint(const dt_config *cfg, const char *hostkey, const char *defhost,
                          int port_required, struct sockaddr_storage *addr, char *err,
                          size_t errcap)
{
    const char *host = defhost;
    double port = 0;
    const dt_config *v = dt_config_get(cfg, hostkey);
    if (v != NULL && dt_config_string(v, &host) != DT_OK) {
        dt__fmt(err, errcap, "%s: expected an address string", hostkey);
        return DT_EINVAL;
    }
    v = dt_config_get(cfg, "port");
    if ((v == NULL && port_required) ||
        (v != NULL && (dt_config_number(v, &port) != DT_OK || port < 0 || port > 65535 ||
                       port != (double)(int)port || (port_required && port == 0)))) {
        dt__fmt(err, errcap, "port: %s", port_required ? "required, 1..65535" : "0..65535");
        return DT_EINVAL;
    }
    if (parse_ip(host, (int)port, addr) != 0) {
        dt__fmt(err, errcap, "%s: \"%s\" is not an IP address", hostkey, host);
        return DT_EINVAL;
    }
    return DT_OK;
}

static int is_loopback(const struct sockaddr_storage *a)
{
    if (a->ss_family == AF_INET6) {
        const struct in6_addr *x = &((const struct sockaddr_in6 *)a)->sin6_addr;
        static const uint8_t lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        return memcmp(x, lo, sizeof lo) == 0;
    }
    /* 127.0.0.0/8 */
    return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
}

static int get_id(const dt_config *cfg, uint32_t *out)
{
    double id;
    if (dt_config_number(dt_config_get(cfg, "source_id"), &id) != DT_OK || id < 1 ||
        id > 4294967295.0 || id != (double)(uint32_t)id)
        return DT_EINVAL;
    *out = (uint32_t)id;
    return DT_OK;
}

static void close_fd(int *fd, int *have_fd)
{
    if (*have_fd) {
        (void)close(*fd); /* a datagram socket has nothing left to flush */
        *have_fd = 0;
        *fd = -1;
    }
}

static void udpsrc_close(void *self)
{
    udpsrc *s = self;
    close_fd(&s->fd, &s->have_fd);
    dt__free(&s->alloc, s->buf);
    s->buf = NULL;
}

/* The configuration, checked, and the address to bind. */
static int udpsrc_config(udpsrc *s, dt_source_ctx *ctx, const dt_config *cfg,
                         struct sockaddr_storage *addr)
{
    char err[160];
    memset(addr, 0, sizeof *addr);
    if (get_id(cfg, &s->source_id) != DT_OK) {
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
    if (parse_endpoint(cfg, "bind", "127.0.0.1", 0, addr, err, sizeof err) != DT_OK) {
        dt_source_error(ctx, "%s", err);
        return DT_EINVAL;
    }
    return DT_OK;
}

/* What open checks, without creating the socket. */
static int udpsrc_validate(dt_source_ctx *ctx, const dt_config *cfg)
{
    udpsrc *s = dt__calloc(dt_source_allocator(ctx), 1, sizeof *s);
    if (s == NULL)
        return DT_ENOMEM;
    struct sockaddr_storage addr;
    int rc = udpsrc_config(s, ctx, cfg, &addr);
    dt__free(dt_source_allocator(ctx), s);
    return rc;
}

static int udpsrc_open(void *self, dt_source_ctx *ctx, const dt_config *cfg)
{
    udpsrc *s = self;
    s->ctx = ctx;
    s->alloc = *dt_source_allocator(ctx);
    struct sockaddr_storage addr;
    int rc0 = udpsrc_config(s, ctx, cfg, &addr);
    if (rc0 != DT_OK)
        return rc0;
    s->buf = dt__malloc(&s->alloc, UDP_BUF);
    if (s->buf == NULL) {
        dt_source_error(ctx, "out of memory");
        return DT_ENOMEM;
    }
    s->fd = udp_socket(addr.ss_family);
    s->have_fd = s->fd >= 0;
    if (!s->have_fd || bind(s->fd, (const struct sockaddr *)&addr, addr_len(&addr)) != 0) {
        dt_source_error(ctx, "cannot listen: %s", strerror(errno));
        udpsrc_close(s);
        return DT_EIO;
    }
    read_kernel_drops(s); /* the baseline: drops before open are not ours */
    if (!is_loopback(&addr)) {
        char host[64] = "?";
        if (addr.ss_family == AF_INET6)
            (void)inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&addr)->sin6_addr, host,
                            sizeof host);
        else
            (void)inet_ntop(AF_INET, &((const struct sockaddr_in *)&addr)->sin_addr, host,
                            sizeof host);
        /* Frames carry a CRC, not a key: anyone who can reach the port can
         * feed this source, and through it move the actuators. */
        dt_source_log(ctx, DT_LOG_WARN,
                      "bound to %s, not loopback, without authentication: any host that "
                      "can send to this port can inject samples (docs/wire.md, security)",
                      host);
    }
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    if (getsockname(s->fd, (struct sockaddr *)&bound, &blen) == 0)
        s->st.port = ntohs(bound.ss_family == AF_INET6
                               ? ((struct sockaddr_in6 *)&bound)->sin6_port
                               : ((struct sockaddr_in *)&bound)->sin_port);
    return DT_OK;
}

static int udpsrc_poll(void *self, dt_time now)
{
    udpsrc *s = self;
    s->now = now;
    read_kernel_drops(s);
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
    read_kernel_drops(s);
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

/* ---- sink ---- */

typedef struct udpsink {
    int fd, have_fd; /* non-blocking, unbound: the kernel picks a port at the first send */
    struct sockaddr_storage dest;
    uint32_t source_id, seq;
    uint64_t sent, would_block, send_errors;
    uint8_t frame[DT_WIRE_HEADER + DT_WIRE_COMMAND_RECORD + DT_WIRE_TRAILER];
} udpsink;

static const char *const udpsink_keys[] = {"host", "port", "source_id", NULL};

static void udpsink_close(void *self)
{
    udpsink *s = self;
    close_fd(&s->fd, &s->have_fd);
}

static int udpsink_config(udpsink *s, dt_sink_ctx *ctx, const dt_config *cfg)
{
    char err[160];
    if (get_id(cfg, &s->source_id) != DT_OK) {
        dt_sink_error(ctx, "source_id: required, an integer in 1..4294967295");
        return DT_EINVAL;
    }
    if (parse_endpoint(cfg, "host", "127.0.0.1", 1, &s->dest, err, sizeof err) != DT_OK) {
        dt_sink_error(ctx, "%s", err);
        return DT_EINVAL;
    }
    for (size_t i = 0; i < dt_sink_mapping_count(ctx); i++)
        if (dt_sink_mapping(ctx, i)->channel < 0) {
            dt_sink_error(ctx, "mapping[%zu]: a udp sink maps signals to channels", i);
            return DT_EINVAL;
        }
    return DT_OK;
}

static int udpsink_validate(dt_sink_ctx *ctx, const dt_config *cfg)
{
    udpsink s;
    memset(&s, 0, sizeof s);
    return udpsink_config(&s, ctx, cfg);
}

static int udpsink_open(void *self, dt_sink_ctx *ctx, const dt_config *cfg)
{
    udpsink *s = self;
    int rc0 = udpsink_config(s, ctx, cfg);
    if (rc0 != DT_OK)
        return rc0;
    s->fd = udp_socket(s->dest.ss_family);
    if (s->fd < 0) {
        dt_sink_error(ctx, "cannot create a socket: %s", strerror(errno));
        return DT_EIO;
    }
    s->have_fd = 1;
    return DT_OK;
}

static int udpsink_apply(void *self, const dt_command *cmd, const dt_mapping *map)
{
    udpsink *s = self;
    dt_wire_command r = {(uint32_t)map->channel, 0, cmd->seq, cmd->t_issued, cmd->t_deadline,
                         cmd->value * map->scale + map->offset};
    size_t len = dt_wire_encode_commands(s->frame, sizeof s->frame, s->source_id, s->seq, &r, 1);
    ssize_t rc;
    do
        rc = sendto(s->fd, s->frame, len, 0, (const struct sockaddr *)&s->dest,
                    addr_len(&s->dest));
    while (rc < 0 && errno == EINTR);
    s->seq++;
    /* the socket's send buffer (or the interface queue) is full: never wait */
    if (rc < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
        s->would_block++;
        return DT_EFULL;
    }
    if (rc < 0) {
        s->send_errors++;
        return DT_EIO;
    }
    s->sent++;
    return DT_OK;
}

static size_t udpsink_counters(const void *self, dt_counter *out, size_t max)
{
    const udpsink *s = self;
    const dt_counter c[] = {
        {"datagrams_sent", s->sent},
        {"would_block", s->would_block},
        {"send_errors", s->send_errors},
    };
    return dt__counters_copy(out, max, c, sizeof c / sizeof c[0]);
}

const dt_sink_ops dt__udp_sink_ops = {
    .abi = DT_SINK_ABI,
    .kind = "udp",
    .instance_size = sizeof(udpsink),
    .keys = udpsink_keys,
    .open = udpsink_open,
    .apply = udpsink_apply,
    .close = udpsink_close,
    .validate = udpsink_validate,
    .counters = udpsink_counters,
};
