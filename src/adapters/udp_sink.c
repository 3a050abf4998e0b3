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
    dt_key *key; /* "auth": "mac": version 3 frames with a MAC under it */
    uint8_t frame[DT_WIRE_HEADER + DT_WIRE_COMMAND_RECORD + DT_WIRE_MAC_TRAILER];
} udpsink;

static const char *const udpsink_keys[] = {"host", "port", "source_id", "auth", "key", NULL};

static void udpsink_close(void *self)
{
    udpsink *s = self;
    dt__udp_close_fd(&s->fd, &s->have_fd);
    dt_key_free(s->key);
    s->key = NULL;
}

static int load_key(void *ctx, const char *name, dt_key **out)
{
    return dt_sink_key(ctx, name, DT_KEY_MAC, out);
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
    int rc = dt__udp_auth(cfg, dt__udp_is_loopback(&s->dest), "sends to", &s->key, load_key, ctx,
                          err, sizeof err);
    if (rc != DT_OK && err[0] != '\0')
        dt_sink_error(ctx, "%s", err);
    return rc;
}

static int udpsink_validate(dt_sink_ctx *ctx, const dt_config *cfg)
{
    udpsink s;
    memset(&s, 0, sizeof s);
    int rc = udpsink_config(&s, ctx, cfg);
    dt_key_free(s.key);
    return rc;
}

static int udpsink_open(void *self, dt_sink_ctx *ctx, const dt_config *cfg)
{
    udpsink *s = self;
    int rc0 = udpsink_config(s, ctx, cfg);
    if (rc0 != DT_OK) {
        udpsink_close(s);
        return rc0;
    }
    s->fd = dt__udp_socket(s->dest.ss_family);
    if (s->fd < 0) {
        dt_sink_error(ctx, "cannot create a socket: %s", strerror(errno));
        udpsink_close(s);
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
    dt_wire_header h = {1, DT_WIRE_COMMANDS, s->source_id, s->seq, 1, 0};
    size_t len = s->key != NULL
                     ? dt_wire_encode_commands_auth(s->frame, sizeof s->frame, &h, &r, 1, s->key)
                     : dt_wire_encode_commands_v2(s->frame, sizeof s->frame, &h, &r, 1);
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
