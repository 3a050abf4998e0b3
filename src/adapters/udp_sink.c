/* The UDP sink: one frame per command on a non-blocking socket, never waiting (DT_EFULL). */
#define _DEFAULT_SOURCE /* sockets under -std=c11 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "adapters_internal.h"
#include "dtwin/wire.h"
#include "udp_internal.h"

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
    dt__udp_close_fd(&s->fd, &s->have_fd);
}

static int udpsink_config(udpsink *s, dt_sink_ctx *ctx, const dt_config *cfg)
{
    char err[160];
    if (dt__udp_get_id(cfg, &s->source_id) != DT_OK) {
        dt_sink_error(ctx, "source_id: required, an integer in 1..4294967295");
        return DT_EINVAL;
    }
    if (dt__udp_parse_endpoint(cfg, "host", "127.0.0.1", 1, &s->dest, err, sizeof err) != DT_OK) {
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
    s->fd = dt__udp_socket(s->dest.ss_family);
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
                    dt__udp_addr_len(&s->dest));
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
