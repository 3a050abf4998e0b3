/* UDP source and sink on libuv. Each instance runs a private uv loop that
 * poll()/apply() turn without blocking (UV_RUN_NOWAIT), so the core needs no
 * event loop; the receive buffer is allocated once at open. */
#define _DEFAULT_SOURCE /* uv.h needs the POSIX types under -std=c11 */
#include <string.h>

#include <uv.h>

#include "../platform/internal.h"
#include "adapters_internal.h"
#include "dtwin/udp.h"
#include "dtwin/wire.h"

#define UDP_BUF 65536

typedef struct udpsrc {
    dt_source_ctx *ctx;
    dt_allocator alloc;
    uv_loop_t loop;
    uv_udp_t udp;
    int loop_ok, udp_ok;
    uint8_t *buf;
    uint32_t source_id, max_count;
    int have_seq;
    uint32_t last_seq;
    uint64_t seen; /* bit k: frame last_seq - k was received */
    dt_udp_stats st;
} udpsrc;

static const char *const udpsrc_keys[] = {"bind", "port", "source_id", "max_count", NULL};

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    udpsrc *s = h->data;
    b->base = (char *)s->buf;
    b->len = UDP_BUF;
}

static void malformed(udpsrc *s)
{
    s->st.frames_rejected++;
    dt_source_count(s->ctx, DT_EV_MALFORMED, 1);
}

/* Sequence bookkeeping: returns 0 to accept the frame, -1 for a duplicate. */
static int track_seq(udpsrc *s, uint32_t seq)
{
    if (!s->have_seq) {
        s->have_seq = 1;
        s->last_seq = seq;
        s->seen = 1;
        return 0;
    }
    uint32_t ahead = seq - s->last_seq; /* modulo 2^32 */
    if (ahead == 0) {
        s->st.duplicate++;
        dt_source_count(s->ctx, DT_EV_DUPLICATE, 1);
        return -1;
    }
    if (ahead < 0x80000000u) {
        uint32_t gap = ahead - 1;
        if (gap > 0) {
            s->st.lost += gap;
            dt_source_count(s->ctx, DT_EV_LOST, (int64_t)gap);
        }
        s->seen = ahead >= 64 ? 1 : (s->seen << ahead) | 1;
        s->last_seq = seq;
        return 0;
    }
    uint32_t behind = s->last_seq - seq;
    if (behind < 64) {
        if (s->seen & ((uint64_t)1 << behind)) {
            s->st.duplicate++;
            dt_source_count(s->ctx, DT_EV_DUPLICATE, 1);
            return -1;
        }
        s->seen |= (uint64_t)1 << behind;
        /* It was counted lost when the gap appeared. */
        if (s->st.lost > 0) {
            s->st.lost--;
            dt_source_count(s->ctx, DT_EV_LOST, -1);
        }
    }
    s->st.reordered++;
    dt_source_count(s->ctx, DT_EV_REORDERED, 1);
    return 0;
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *b, const struct sockaddr *addr,
                    unsigned flags)
{
    udpsrc *s = h->data;
    if (nread == 0 && addr == NULL)
        return; /* nothing more to read */
    if (nread < 0) {
        s->st.recv_errors++;
        return;
    }
    s->st.datagrams++;
    if (flags & UV_UDP_PARTIAL) {
        s->st.kernel_truncated++;
        malformed(s);
        return;
    }
    const uint8_t *p = (const uint8_t *)b->base;
    dt_wire_header hd;
    dt_wire_error e = dt_wire_decode(p, (size_t)nread, &hd);
    if (e != DT_WIRE_OK) {
        s->st.rejected[e]++;
        malformed(s);
        return;
    }
    if (hd.type != DT_WIRE_SAMPLES) {
        s->st.wrong_type++;
        malformed(s);
        return;
    }
    if (hd.source_id != s->source_id) {
        /* Masquerade or misaddressed traffic: never mixed into this source. */
        s->st.wrong_source++;
        malformed(s);
        return;
    }
    if (hd.count > s->max_count) {
        s->st.rejected[DT_WIRE_TOO_MANY]++;
        malformed(s);
        return;
    }
    if (track_seq(s, hd.seq) != 0)
        return;
    s->st.frames_ok++;
    for (size_t i = 0; i < hd.count; i++) {
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
        (void)dt_source_push(s->ctx, &smp);
    }
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
    int rc = strchr(host, ':') != NULL
                 ? uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)addr)
                 : uv_ip4_addr(host, (int)port, (struct sockaddr_in *)addr);
    if (rc != 0) {
        dt__fmt(err, errcap, "%s: \"%s\" is not an IP address", hostkey, host);
        return DT_EINVAL;
    }
    return DT_OK;
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

/* Closes the socket, lets the loop finish the close, closes the loop. */
static void close_uv(uv_loop_t *loop, int *loop_ok, uv_udp_t *udp, int *udp_ok)
{
    if (*udp_ok) {
        uv_close((uv_handle_t *)udp, NULL);
        *udp_ok = 0;
    }
    if (*loop_ok) {
        uv_run(loop, UV_RUN_DEFAULT);
        uv_loop_close(loop);
        *loop_ok = 0;
    }
}

static void udpsrc_close(void *self)
{
    udpsrc *s = self;
    close_uv(&s->loop, &s->loop_ok, &s->udp, &s->udp_ok);
    dt__free(&s->alloc, s->buf);
    s->buf = NULL;
}

static int udpsrc_open(void *self, dt_source_ctx *ctx, const dt_config *cfg)
{
    udpsrc *s = self;
    s->ctx = ctx;
    s->alloc = *dt_source_allocator(ctx);
    char err[160];
    struct sockaddr_storage addr;
    memset(&addr, 0, sizeof addr);
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
    if (parse_endpoint(cfg, "bind", "127.0.0.1", 0, &addr, err, sizeof err) != DT_OK) {
        dt_source_error(ctx, "%s", err);
        return DT_EINVAL;
    }
    s->buf = dt__malloc(&s->alloc, UDP_BUF);
    if (s->buf == NULL) {
        dt_source_error(ctx, "out of memory");
        return DT_ENOMEM;
    }
    int rc = uv_loop_init(&s->loop);
    if (rc == 0) {
        s->loop_ok = 1;
        rc = uv_udp_init(&s->loop, &s->udp);
    }
    if (rc == 0) {
        s->udp_ok = 1;
        s->udp.data = s;
        rc = uv_udp_bind(&s->udp, (const struct sockaddr *)&addr, 0);
    }
    if (rc == 0)
        rc = uv_udp_recv_start(&s->udp, on_alloc, on_recv);
    if (rc != 0) {
        dt_source_error(ctx, "cannot listen: %s", uv_strerror(rc));
        udpsrc_close(s);
        return DT_EIO;
    }
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    if (uv_udp_getsockname(&s->udp, (struct sockaddr *)&bound, &blen) == 0)
        s->st.port = ntohs(bound.ss_family == AF_INET6
                               ? ((struct sockaddr_in6 *)&bound)->sin6_port
                               : ((struct sockaddr_in *)&bound)->sin_port);
    return DT_OK;
}

static int udpsrc_poll(void *self, dt_time now)
{
    (void)now;
    udpsrc *s = self;
    /* libuv reads at most 32 datagrams per readiness event: turn the loop until
     * the socket is drained, bounded so that a flood cannot stall the cycle
     * (what is left waits for the next poll; the kernel's buffer holds it) */
    for (int pass = 0; pass < 64; pass++) {
        uint64_t before = s->st.datagrams + s->st.recv_errors;
        uv_run(&s->loop, UV_RUN_NOWAIT);
        if (s->st.datagrams + s->st.recv_errors == before)
            break;
    }
    return DT_OK;
}

const dt_source_ops dt__udp_source_ops = {
    DT_ADAPTER_ABI, "udp", sizeof(udpsrc), udpsrc_keys, udpsrc_open, udpsrc_poll, udpsrc_close,
};

int dt__udp_source_stats(void *self, dt_udp_stats *out)
{
    *out = ((udpsrc *)self)->st;
    return DT_OK;
}

/* ---- sink ---- */

typedef struct udpsink {
    dt_allocator alloc;
    uv_loop_t loop;
    uv_udp_t udp;
    int loop_ok, udp_ok;
    struct sockaddr_storage dest;
    uint32_t source_id, seq;
    uint8_t frame[DT_WIRE_HEADER + DT_WIRE_COMMAND_RECORD + DT_WIRE_TRAILER];
} udpsink;

static const char *const udpsink_keys[] = {"host", "port", "source_id", NULL};

static void udpsink_close(void *self)
{
    udpsink *s = self;
    close_uv(&s->loop, &s->loop_ok, &s->udp, &s->udp_ok);
}

static int udpsink_open(void *self, dt_sink_ctx *ctx, const dt_config *cfg)
{
    udpsink *s = self;
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
    int rc = uv_loop_init(&s->loop);
    if (rc == 0) {
        s->loop_ok = 1;
        rc = uv_udp_init(&s->loop, &s->udp);
    }
    if (rc != 0) {
        dt_sink_error(ctx, "cannot create a socket: %s", uv_strerror(rc));
        udpsink_close(s);
        return DT_EIO;
    }
    s->udp_ok = 1;
    return DT_OK;
}

static int udpsink_apply(void *self, const dt_command *cmd, const dt_mapping *map)
{
    udpsink *s = self;
    dt_wire_command r = {(uint32_t)map->channel, 0, cmd->seq, cmd->t_issued, cmd->t_deadline,
                         cmd->value * map->scale + map->offset};
    size_t len = dt_wire_encode_commands(s->frame, sizeof s->frame, s->source_id, s->seq, &r, 1);
    uv_buf_t b = uv_buf_init((char *)s->frame, (unsigned)len);
    int rc = uv_udp_try_send(&s->udp, &b, 1, (const struct sockaddr *)&s->dest);
    s->seq++;
    if (rc == UV_EAGAIN)
        return DT_EFULL;
    return rc < 0 ? DT_EIO : DT_OK;
}

const dt_sink_ops dt__udp_sink_ops = {
    DT_ADAPTER_ABI, "udp", sizeof(udpsink), udpsink_keys, udpsink_open, udpsink_apply,
    udpsink_close,
};

int dt__udp_source_backend_fd(void *self)
{
    udpsrc *s = self;
    return s->loop_ok ? uv_backend_fd(&s->loop) : -1;
}

void dt__udp_source_turn(void *self)
{
    udpsrc *s = self;
    if (s->loop_ok)
        uv_run(&s->loop, UV_RUN_NOWAIT);
}
