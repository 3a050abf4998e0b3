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
    /* "auth": "mac": the boot counter ("replay_state"), written before the
     * first frame; its value at open is the frames' epoch */
    dt__udp_state rs;
    uint16_t epoch;
    uint8_t frame[DT_WIRE_HEADER + DT_WIRE_COMMAND_RECORD + DT_WIRE_MAC_TRAILER];
} udpsink;

static const char *const udpsink_keys[] = {"host", "port", "source_id", "auth", "key",
                                           "replay_state", NULL};

static void udpsink_close(void *self)
{
    udpsink *s = self;
    dt__udp_close_fd(&s->fd, &s->have_fd);
    dt_key_free(s->key);
    s->key = NULL;
    dt__udp_state_close(&s->rs);
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
    if (rc != DT_OK)
        return rc;
    /* the boot counter: required with a key, as the key is (a missing
     * security setting is an error, never "off") */
    const dt_config *v = dt_config_get(cfg, "replay_state");
    const char *path = NULL;
    if (s->key == NULL && v != NULL) {
        dt_sink_error(ctx, "replay_state: given with \"auth\": \"none\" (a keyed sink's setting)");
        return DT_EINVAL;
    }
    if (s->key != NULL &&
        (v == NULL || dt_config_string(v, &path) != DT_OK || path[0] == '\0')) {
        dt_sink_error(ctx, "replay_state: required with \"auth\": \"mac\": a file for the sink's "
                      "boot counter, its frames' epoch (created at the first start), e.g. "
                      "\"replay_state\": \"state/%s.epoch\"", dt_sink_name(ctx));
        return DT_EINVAL;
    }
    if (path != NULL &&
        dt__resolve_path(dt_sink_basedir(ctx), path, s->rs.path, sizeof s->rs.path) != DT_OK) {
        dt_sink_error(ctx, "replay_state: path too long");
        return DT_ELIMIT;
    }
    return DT_OK;
}

/* The boot counter: read, +1 written durably, before the first frame; the
 * value read is this run's epoch. A counter at its end (65535 epochs used
 * under this key) or one that cannot be written refuses to open. */
static int epoch_open(udpsink *s, dt_sink_ctx *ctx)
{
    char path[sizeof s->rs.path], err[sizeof s->rs.path + 200];
    memcpy(path, s->rs.path, sizeof path);
    int rc = dt__udp_state_open(&s->rs, path, DT__UDP_STATE_SINK, s->source_id, s->key,
                                UINT16_MAX + 1u, err, sizeof err);
    if (rc != DT_OK) {
        dt_sink_error(ctx, "%s", err);
        return rc;
    }
    if (s->rs.value > UINT16_MAX) {
        dt_sink_error(ctx, "replay_state %s: every epoch (0..65535) was used under key %s: "
                      "rotate the key (docs/security.md)", s->rs.path, dt_key_name(s->key));
        return DT_ERANGE;
    }
    uint64_t epoch = s->rs.value;
    if (dt__udp_state_write(&s->rs, epoch + 1) != DT_OK) {
        dt_sink_error(ctx, "replay_state %s: cannot write the boot counter: %s", s->rs.path,
                      strerror(errno));
        return DT_EIO;
    }
    s->epoch = (uint16_t)epoch;
    if (s->rs.created || s->rs.rekeyed)
        dt_sink_log(ctx, DT_LOG_WARN, "replay_state %s: %s: epoch 0", s->rs.path,
                    s->rs.created ? "not found, created" :
                    "held another key's or source_id's counter, started over");
    return DT_OK;
}

static int udpsink_validate(dt_sink_ctx *ctx, const dt_config *cfg)
{
    udpsink s;
    memset(&s, 0, sizeof s);
    s.rs.fd = -1;
    int rc = udpsink_config(&s, ctx, cfg);
    if (rc == DT_OK && s.key != NULL) {
        char err[sizeof s.rs.path + 200];
        if ((rc = dt__udp_state_check(s.rs.path, err, sizeof err)) != DT_OK)
            dt_sink_error(ctx, "%s", err);
    }
    dt_key_free(s.key);
    return rc;
}

static int udpsink_open(void *self, dt_sink_ctx *ctx, const dt_config *cfg)
{
    udpsink *s = self;
    s->rs.fd = -1; /* before any close */
    int rc0 = udpsink_config(s, ctx, cfg);
    if (rc0 == DT_OK && s->key != NULL)
        rc0 = epoch_open(s, ctx);
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
    dt_wire_header h = {1, DT_WIRE_COMMANDS, s->source_id, s->seq, 1, s->epoch};
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
        {"epoch", s->epoch},
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
