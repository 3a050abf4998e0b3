/* An out-of-tree adapter kind, "unix_lines": sources that share one Unix
 * datagram socket (the kind's context: one connection for every instance)
 * and read it when the host's loop says it is readable (a loop hook), or at
 * each cycle's poll without a loop. A datagram is "<name> <value>"; the
 * instance whose mapping has the name takes it. Public API only. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "unix_lines.h"

typedef struct inst { dt_source_ctx *ctx; } inst;

static int ul_open(void *self, dt_source_ctx *ctx, const dt_config *cfg)
{
    (void)cfg;
    unix_lines_conn *c = dt_source_kind_ctx(ctx);
    if (c == NULL || c->n == UNIX_LINES_MAX) {
        dt_source_error(ctx, "no connection, or more than %d sources on it", UNIX_LINES_MAX);
        return DT_EINVAL;
    }
    if (c->fd < 0) { /* the first instance opens the shared socket */
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        if (strlen(c->path) >= sizeof a.sun_path) {
            dt_source_error(ctx, "path too long: %s", c->path);
            return DT_EINVAL;
        }
        strcpy(a.sun_path, c->path);
        c->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0 || bind(c->fd, (struct sockaddr *)&a, sizeof a) != 0) {
            dt_source_error(ctx, "cannot bind %s: %s", c->path, strerror(errno));
            c->fd = c->fd >= 0 ? (close(c->fd), -1) : -1;
            return DT_EIO;
        }
    }
    ((inst *)self)->ctx = ctx;
    c->who[c->n++] = ctx;
    return DT_OK;
}

static void ul_close(void *self)
{
    dt_source_ctx *ctx = ((inst *)self)->ctx;
    unix_lines_conn *c = dt_source_kind_ctx(ctx);
    for (size_t i = 0; i < c->n; i++)
        if (c->who[i] == ctx)
            c->who[i] = c->who[--c->n];
    if (c->n == 0 && c->fd >= 0) { /* the last one closes it */
        close(c->fd);
        unlink(c->path);
        c->fd = -1;
    }
}

/* Reads every waiting datagram and hands each to the instance mapping it:
 * whichever instance is called drains the connection for all of them. */
static void drain(unix_lines_conn *c, dt_time now, uint64_t *counter)
{
    char buf[256];
    ssize_t got;
    while (c->fd >= 0 && (got = recv(c->fd, buf, sizeof buf - 1, 0)) >= 0) { /* 0: empty */
        buf[got] = '\0';
        char name[64], *end;
        int at = 0;
        double v = 0;
        if (sscanf(buf, "%63s %n", name, &at) == 1)
            v = strtod(buf + at, &end);
        int ok = at > 0 && end != buf + at, taken = 0;
        for (size_t i = 0; ok && i < c->n && !taken; i++) {
            const dt_mapping *m = dt_source_map_name(c->who[i], name);
            if (m != NULL) /* taken; a full ring counts what it refuses itself */
                taken = (dt_source_emit(c->who[i], m, now, now, v), 1);
        }
        if (!taken) /* counted on the first instance: nothing disappears silently */
            dt_source_count(c->who[0], ok ? DT_EV_UNMAPPED : DT_EV_MALFORMED, 1);
        (*counter)++;
    }
}

static int ul_poll(void *self, dt_time now) /* no loop, or between its calls */
{
    unix_lines_conn *c = dt_source_kind_ctx(((inst *)self)->ctx);
    drain(c, now, &c->by_poll);
    return DT_OK;
}

static size_t ul_watches(const void *self, dt_watch *out, size_t max)
{
    const unix_lines_conn *c = dt_source_kind_ctx(((const inst *)self)->ctx);
    if (c->fd < 0)
        return 0;
    if (max > 0) /* every instance names the same socket: a loop watches it once */
        out[0] = (dt_watch){c->fd, DT_WATCH_READ, 0};
    return 1;
}

static void ul_ready(void *self, int fd, unsigned events, dt_time now)
{
    (void)fd, (void)events;
    unix_lines_conn *c = dt_source_kind_ctx(((inst *)self)->ctx);
    drain(c, now, &c->by_hook);
}

const dt_source_ops unix_lines_ops = {
    .abi = DT_SOURCE_ABI,
    .kind = "unix_lines",
    .instance_size = sizeof(inst),
    .open = ul_open,
    .poll = ul_poll,
    .close = ul_close,
    .watches = ul_watches,
    .ready = ul_ready,
};
