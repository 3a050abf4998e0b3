/* The "unix_lines" adapter (unix_lines.c) under two loops: the libuv driver
 * (--uv, when built with it) and a plain poll(2) loop written here (--poll). Two sources share
 * one socket (the kind's context); datagrams are read when the loop says the
 * socket is readable, between the twin's steps. Checks itself by counts. */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifdef LOOP_ADAPTER_UV
#include "dtwin/uv.h"
#endif
#include "unix_lines.h"

#define SENT 20     /* mapped datagrams, alternating between the two sources */
#define MAX_STEPS 3000 /* a guard against a hang, not a time limit on the result */

typedef struct run {
    dt_twin *twin;
    unix_lines_conn *conn;
    int tx, sent, steps;
    struct sockaddr_un to;
#ifdef LOOP_ADAPTER_UV
    dt_uv *drv;
#endif
} run;

static const char *const lines[] = {"a 1.5", "b 2.5", "garbage", "nobody 1"};

/* One datagram per call: SENT mapped ones, then a malformed and an unmapped one. */
static void send_next(run *r)
{
    if (r->sent >= SENT + 2)
        return;
    const char *l = r->sent < SENT ? lines[r->sent % 2] : lines[2 + r->sent - SENT];
    if (sendto(r->tx, l, strlen(l), 0, (struct sockaddr *)&r->to, sizeof r->to) > 0)
        r->sent++;
}

static uint64_t offered(dt_twin *t)
{
    dt_ingest_stats st;
    dt_ingest_stats_get(dt_twin_ingest(t), &st);
    return st.total.offered;
}

static int done(run *r)
{
    dt_io *io = dt_twin_io(r->twin);
    return offered(r->twin) == SENT && dt_io_source_events(io, 0, DT_EV_MALFORMED) == 1 &&
           dt_io_source_events(io, 0, DT_EV_UNMAPPED) == 1;
}

#ifdef LOOP_ADAPTER_UV
static void after_step(void *user, dt_twin *t, dt_time now)
{
    (void)t, (void)now;
    run *r = user;
    send_next(r);
    if (done(r) || ++r->steps == MAX_STEPS)
        dt_uv_stop(r->drv);
}

static int with_uv(run *r)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    if (dt_uv_attach(r->twin, &loop, 0, 0, &r->drv) != DT_OK)
        return 1;
    dt_uv_on_step(r->drv, after_step, r);
    uv_run(&loop, UV_RUN_DEFAULT);
    dt_uv_detach(r->drv);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return 0;
}

#endif

static dt_time mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (dt_time)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A host's own loop: wait in poll(2) on what the adapters watch until the
 * next step is due; hand readiness to them; step at the loop period. */
static int with_poll(run *r)
{
    dt_io *io = dt_twin_io(r->twin);
    dt_time origin = mono(), period = (dt_time)(dt_twin_period_s(r->twin) * 1e9);
    dt_time next = period;
    if (dt_twin_start(r->twin, 0) != DT_OK)
        return 1;
    while (!done(r) && r->steps < MAX_STEPS) {
        send_next(r);
        dt_io_watch w[8];
        struct pollfd p[8];
        size_t n = dt_io_watches(io, w, 8);
        for (size_t i = 0; i < n && i < 8; i++)
            p[i] = (struct pollfd){w[i].fd, (short)((w[i].events & DT_WATCH_READ ? POLLIN : 0) |
                                                    (w[i].events & DT_WATCH_WRITE ? POLLOUT : 0)), 0};
        dt_time now = mono() - origin;
        int wait_ms = now >= next ? 0 : (int)((next - now) / 1000000);
        if (poll(p, n < 8 ? n : 8, wait_ms) > 0)
            for (size_t i = 0; i < n && i < 8; i++)
                if (p[i].revents)
                    dt_io_ready(io, w[i].adapter, w[i].fd, w[i].events, mono() - origin);
        now = mono() - origin;
        if (now >= next) {
            (void)dt_twin_step(r->twin, now);
            r->steps++;
            next += period;
        }
    }
    dt_twin_stop(r->twin);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "--uv") != 0 && strcmp(argv[1], "--poll") != 0)) {
        fprintf(stderr, "usage: loop_adapter --uv|--poll twin.json\n");
        return 2;
    }
#ifndef LOOP_ADAPTER_UV
    if (strcmp(argv[1], "--uv") == 0) {
        fprintf(stderr, "loop_adapter: built without the libuv driver\n");
        return 2;
    }
#endif
    unix_lines_conn conn = {.fd = -1};
    (void)snprintf(conn.path, sizeof conn.path, "/tmp/dtwin-unix-lines-%ld.sock", (long)getpid());
    dt_registry *reg;
    dt_registry_create(NULL, &reg);
    if (dt_registry_add_source_kind(reg, &unix_lines_ops, &conn) != DT_OK)
        return 1;
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.registry = reg;
    run r = {.conn = &conn, .tx = socket(AF_UNIX, SOCK_DGRAM, 0), .to = {.sun_family = AF_UNIX}};
    strcpy(r.to.sun_path, conn.path);
    dt_diag d;
    if (dt_twin_load_file(argv[2], &o, &r.twin, &d) != DT_OK) {
        fprintf(stderr, "%s: %s\n", argv[2], d.message);
        return 1;
    }
#ifdef LOOP_ADAPTER_UV
    int rc = strcmp(argv[1], "--uv") == 0 ? with_uv(&r) : with_poll(&r);
#else
    int rc = with_poll(&r);
#endif
    dt_io *io = dt_twin_io(r.twin);
    printf("%s: %llu samples to 2 sources over one socket, %llu malformed, %llu unmapped\n",
           argv[1] + 2, (unsigned long long)offered(r.twin),
           (unsigned long long)dt_io_source_events(io, 0, DT_EV_MALFORMED),
           (unsigned long long)dt_io_source_events(io, 0, DT_EV_UNMAPPED));
    printf("read when the loop said readable: %s (%llu datagrams; %llu at a cycle's poll)\n",
           conn.by_hook > 0 ? "yes" : "no", (unsigned long long)conn.by_hook,
           (unsigned long long)conn.by_poll);
    int ok = rc == 0 && done(&r) && conn.by_hook > 0;
    dt_twin_destroy(r.twin);
    dt_registry_destroy(reg);
    close(r.tx);
    printf("self-check: %s\n", ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
}
