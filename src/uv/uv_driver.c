/* libuv driver: a timer steps the twin; signals stop it cleanly. */
#define _DEFAULT_SOURCE /* uv.h needs the POSIX types under -std=c11 */
#include <signal.h>

#include <string.h>

#include "../adapters/adapters_internal.h"
#include "../platform/internal.h"
#include "dtwin/uv.h"

#define MAX_EMBEDDED 64

struct dt_uv {
    dt_allocator alloc;
    int closing; /* handles still closing; freed when it reaches 0 */
    dt_twin *twin;
    uv_loop_t *loop;
    uv_timer_t timer;
    uv_signal_t sigint, sigterm;
    int signals, stopped, signaled, status;
    uint64_t origin;
    dt_time now;
    /* UDP sources' private loops, embedded: watched through their backend fd */
    uv_poll_t polls[MAX_EMBEDDED];
    void *poll_self[MAX_EMBEDDED];
    size_t n_polls;
    void (*on_step)(void *user, dt_twin *twin, dt_time now);
    void *step_user;
};

static void on_readable(uv_poll_t *h, int status, int events)
{
    (void)status, (void)events;
    dt__udp_source_turn(h->data); /* receive now: samples reach the ring at once */
}

static void on_tick(uv_timer_t *h)
{
    dt_uv *d = h->data;
    if (d->stopped)
        return;
    /* uv_hrtime: monotonic ns; the twin's time starts at attach. */
    dt_time now = (dt_time)(uv_hrtime() - d->origin);
    if (now < d->now)
        now = d->now;
    d->now = now;
    int rc = dt_twin_step(d->twin, now);
    if (rc != DT_OK && d->status == DT_OK)
        d->status = rc;
    if (d->on_step != NULL)
        d->on_step(d->step_user, d->twin, now);
}

void dt_uv_on_step(dt_uv *d, void (*fn)(void *user, dt_twin *twin, dt_time now), void *user)
{
    if (d == NULL)
        return;
    d->on_step = fn;
    d->step_user = user;
}

void dt_uv_stop(dt_uv *d)
{
    if (d == NULL || d->stopped)
        return;
    d->stopped = 1;
    uv_timer_stop(&d->timer);
    dt_twin_stop(d->twin);
    uv_stop(d->loop);
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    dt_uv *d = h->data;
    d->signaled = 1;
    dt_uv_stop(d);
}

int dt_uv_attach(dt_twin *twin, uv_loop_t *loop, double period_s, int handle_signals,
                 dt_uv **out)
{
    if (twin == NULL || loop == NULL || out == NULL || period_s < 0 || period_s > 3600)
        return DT_EINVAL;
    double p = period_s > 0 ? period_s : dt_twin_period_s(twin);
    uint64_t ms = (uint64_t)(p * 1e3 + 0.5);
    if (ms == 0)
        ms = 1; /* libuv timers have millisecond resolution */
    const dt_allocator *a = dt__twin_allocator(twin);
    dt_uv *d = dt__calloc(a, 1, sizeof *d);
    if (d == NULL)
        return DT_ENOMEM;
    d->alloc = *a;
    d->twin = twin;
    d->loop = loop;
    d->origin = uv_hrtime();
    int rc = dt_twin_start(twin, 0);
    if (rc != DT_OK) {
        dt__free(a, d);
        return rc;
    }
    if (uv_timer_init(loop, &d->timer) != 0) {
        dt__free(a, d);
        return DT_EIO;
    }
    d->timer.data = d;
    if (handle_signals) {
        d->signals = 1;
        uv_signal_init(loop, &d->sigint);
        uv_signal_init(loop, &d->sigterm);
        d->sigint.data = d->sigterm.data = d;
        uv_signal_start(&d->sigint, on_signal, SIGINT);
        uv_signal_start(&d->sigterm, on_signal, SIGTERM);
    }
    dt_io *io = dt_twin_io(twin);
    for (size_t i = 0; i < dt_io_source_count(io) && d->n_polls < MAX_EMBEDDED; i++) {
        if (strcmp(dt_io_source_kind(io, i), "udp") != 0)
            continue;
        void *self = dt_io_source_instance(io, i);
        int fd = dt__udp_source_backend_fd(self);
        uv_poll_t *w = &d->polls[d->n_polls];
        if (fd < 0 || uv_poll_init(loop, w, fd) != 0)
            continue; /* stays polled once per cycle by dt_io_poll */
        w->data = self;
        d->poll_self[d->n_polls++] = self;
        uv_poll_start(w, UV_READABLE, on_readable);
    }
    uv_timer_start(&d->timer, on_tick, ms, ms);
    *out = d;
    return DT_OK;
}

static void on_closed(uv_handle_t *h)
{
    /* every handle's data points back to d during closing */
    dt_uv *d = h->data;
    /* libuv may run close callbacks in any order: free after the last one */
    if (--d->closing == 0) {
        dt_allocator a = d->alloc;
        dt__free(&a, d);
    }
}

void dt_uv_detach(dt_uv *d)
{
    if (d == NULL)
        return;
    d->stopped = 1;
    uv_timer_stop(&d->timer);
    d->closing = (d->signals ? 3 : 1) + (int)d->n_polls;
    for (size_t i = 0; i < d->n_polls; i++) {
        uv_poll_stop(&d->polls[i]);
        d->polls[i].data = d;
        uv_close((uv_handle_t *)&d->polls[i], on_closed);
    }
    if (d->signals) {
        uv_signal_stop(&d->sigint);
        uv_signal_stop(&d->sigterm);
        uv_close((uv_handle_t *)&d->sigint, on_closed);
        uv_close((uv_handle_t *)&d->sigterm, on_closed);
    }
    uv_close((uv_handle_t *)&d->timer, on_closed);
}

dt_time dt_uv_now(const dt_uv *d) { return d ? d->now : 0; }

int dt_uv_status(const dt_uv *d, int *signaled)
{
    if (signaled != NULL)
        *signaled = d ? d->signaled : 0;
    return d ? d->status : DT_EINVAL;
}
