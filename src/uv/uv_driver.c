/* libuv driver: a timer steps the twin; the adapters' loop hooks (watched
 * descriptors, wake times) are embedded in the loop without naming a kind;
 * signals stop it cleanly. */
#define _DEFAULT_SOURCE /* uv.h needs the POSIX types under -std=c11 */
#include <signal.h>
#include <string.h>

#include "dtwin/uv.h"

#define MAX_WATCH 64
#define MAX_SHARING 8 /* adapters watching one descriptor (a shared connection) */

/* One watched descriptor (libuv allows one poll handle per descriptor), and
 * the adapters that want it. A handle being closed stays out of use until
 * its close callback: libuv owns its memory until then. */
enum { SLOT_FREE, SLOT_ACTIVE, SLOT_CLOSING };
typedef struct slot {
    uv_poll_t h;
    int state;
    int fd;
    uint32_t gen;
    unsigned events; /* the union of the adapters' */
    size_t n;
    uint32_t adapter[MAX_SHARING];
    unsigned wants[MAX_SHARING];
    /* the adapters of the last sync: one of them naming (fd, gen) again
     * vouches that it is the same object (gen is each adapter's own count,
     * and a number another adapter freed may come back to a new one) */
    size_t n_prev;
    uint32_t prev[MAX_SHARING];
    struct dt_uv *d;
} slot;

struct dt_uv {
    dt_allocator alloc;
    int closing; /* handles still closing after detach; freed when it reaches 0 */
    dt_twin *twin;
    dt_io *io;
    uv_loop_t *loop;
    uv_timer_t timer, waker;
    uv_signal_t sigint, sigterm;
    int signals, stopped, signaled, status, detached;
    uint64_t origin;
    dt_time now;
    slot slots[MAX_WATCH];
    size_t unwatched; /* named at the last sync but not watched: polled each cycle only */
    void (*on_step)(void *user, dt_twin *twin, dt_time now);
    void *step_user;
};

/* The twin's time now, never before the last step. */
static dt_time twin_now(dt_uv *d)
{
    dt_time now = (dt_time)(uv_hrtime() - d->origin); /* ns since attach */
    return now < d->now ? d->now : now;
}

static void sync_hooks(dt_uv *d);

static void on_poll(uv_poll_t *h, int status, int events)
{
    slot *s = h->data;
    dt_uv *d = s->d;
    if (d->stopped || s->state != SLOT_ACTIVE)
        return;
    /* an error (a closed peer, a bad descriptor) is reported as readiness:
     * the adapter's own read finds out what it is. libuv has stopped the
     * handle (POLLERR): events 0 makes sync_hooks start it again if the
     * adapters still want the descriptor. */
    unsigned wanted = s->events;
    if (status < 0)
        s->events = 0;
    unsigned ev = status < 0 ? wanted
                             : (unsigned)((events & UV_READABLE ? DT_WATCH_READ : 0) |
                                          (events & UV_WRITABLE ? DT_WATCH_WRITE : 0));
    /* a copy: an adapter's call may change what is watched */
    size_t n = s->n;
    uint32_t adapter[MAX_SHARING];
    unsigned wants[MAX_SHARING];
    int fd = s->fd;
    memcpy(adapter, s->adapter, sizeof adapter);
    memcpy(wants, s->wants, sizeof wants);
    for (size_t i = 0; i < n && !d->stopped; i++)
        if (wants[i] & ev)
            dt_io_ready(d->io, adapter[i], fd, wants[i] & ev, twin_now(d));
    if (!d->stopped) /* an adapter's call may have stopped or detached it */
        sync_hooks(d);
}

static void on_slot_closed(uv_handle_t *h)
{
    slot *s = h->data;
    dt_uv *d = s->d;
    s->state = SLOT_FREE;
    if (d->detached && --d->closing == 0) {
        dt_allocator a = d->alloc;
        a.free_fn(a.user, d);
    }
}

static void close_slot(slot *s)
{
    uv_poll_stop(&s->h);
    s->state = SLOT_CLOSING;
    uv_close((uv_handle_t *)&s->h, on_slot_closed);
}

static int libuv_events(unsigned ev)
{
    return (ev & DT_WATCH_READ ? UV_READABLE : 0) | (ev & DT_WATCH_WRITE ? UV_WRITABLE : 0);
}

static void on_wake(uv_timer_t *h)
{
    dt_uv *d = h->data;
    if (d->stopped)
        return;
    dt_io_wake(d->io, twin_now(d));
    if (!d->stopped)
        sync_hooks(d);
}

/* Adds want to slot s (a descriptor shared by several adapters). */
static void slot_add(dt_uv *d, slot *s, const dt_io_watch *want)
{
    if (s->n == MAX_SHARING) {
        d->unwatched++;
        return;
    }
    s->adapter[s->n] = want->adapter;
    s->wants[s->n++] = want->events;
}

/* The handle of (fd, gen); with by != NULL only one that adapter *by had
 * at the last sync. */
static slot *find_slot(dt_uv *d, int fd, uint32_t gen, const uint32_t *by)
{
    for (size_t i = 0; i < MAX_WATCH; i++) {
        slot *s = &d->slots[i];
        if (s->state != SLOT_ACTIVE || s->fd != fd || s->gen != gen)
            continue;
        for (size_t k = 0; by != NULL && k < s->n_prev; k++)
            if (s->prev[k] == *by)
                return s;
        if (by == NULL)
            return s;
    }
    return NULL;
}

/* A fresh handle for w in a free slot; NULL when there is none (all in use
 * or closing) or libuv refuses the descriptor: the adapter is then still
 * polled once per cycle. */
static slot *new_slot(dt_uv *d, const dt_io_watch *w)
{
    for (size_t i = 0; i < MAX_WATCH; i++) {
        slot *c = &d->slots[i];
        if (c->state != SLOT_FREE)
            continue;
        if (uv_poll_init(d->loop, &c->h, w->fd) != 0)
            return NULL;
        c->state = SLOT_ACTIVE;
        c->fd = w->fd;
        c->gen = w->gen;
        c->events = 0;
        c->n = c->n_prev = 0;
        c->d = d;
        c->h.data = c;
        return c;
    }
    return NULL;
}

/* Makes the loop watch what the adapters want now: the same descriptor
 * (and object: gen) keeps its handle, a changed one gets a fresh one. The
 * handles nobody wants any more are closed before the fresh ones are made:
 * libuv allows one handle per descriptor, and a reconnect often gets the
 * same number back with a new gen. */
static void sync_hooks(dt_uv *d)
{
    dt_io_watch want[MAX_WATCH];
    size_t n = dt_io_watches(d->io, want, MAX_WATCH);
    d->unwatched = 0;
    if (n > MAX_WATCH) {
        d->unwatched = n - MAX_WATCH;
        n = MAX_WATCH;
    }
    for (size_t i = 0; i < MAX_WATCH; i++) {
        slot *s = &d->slots[i];
        if (s->state != SLOT_ACTIVE)
            continue;
        memcpy(s->prev, s->adapter, sizeof s->prev);
        s->n_prev = s->n;
        s->n = 0; /* refilled from `want` below */
    }
    size_t fresh[MAX_WATCH], n_fresh = 0;
    for (size_t j = 0; j < n; j++) {
        slot *s = find_slot(d, want[j].fd, want[j].gen, &want[j].adapter);
        if (s != NULL)
            slot_add(d, s, &want[j]);
        else
            fresh[n_fresh++] = j;
    }
    for (size_t i = 0; i < MAX_WATCH; i++)
        if (d->slots[i].state == SLOT_ACTIVE && d->slots[i].n == 0)
            close_slot(&d->slots[i]); /* nobody wants it now (a closed connection) */
    for (size_t f = 0; f < n_fresh; f++) {
        const dt_io_watch *w = &want[fresh[f]];
        /* one kept or made for another adapter naming it too (shared) */
        slot *s = find_slot(d, w->fd, w->gen, NULL);
        if (s == NULL)
            s = new_slot(d, w);
        if (s == NULL) {
            d->unwatched++;
            continue;
        }
        slot_add(d, s, w);
    }
    for (size_t i = 0; i < MAX_WATCH; i++) {
        slot *s = &d->slots[i];
        if (s->state != SLOT_ACTIVE)
            continue;
        unsigned ev = 0;
        for (size_t k = 0; k < s->n; k++)
            ev |= s->wants[k];
        if (ev != s->events) {
            s->events = ev;
            uv_poll_start(&s->h, libuv_events(ev), on_poll);
        }
    }
    dt_time at = dt_io_wake_at(d->io), now = twin_now(d);
    if (at == DT_TIME_MAX) {
        uv_timer_stop(&d->waker);
    } else {
        /* in unsigned arithmetic: at - now overflows dt_time for a wish
         * near DT_TIME_MAX. At least 1 ms: a wish wake() did not satisfy
         * is due again at once, and libuv runs a timer re-armed at 0 ms from
         * its own callback again in the same turn, for ever (no step, no
         * I/O, no signal); 1 ms lets the loop turn. */
        uint64_t ahead = at <= now ? 0 : (uint64_t)at - (uint64_t)now;
        uint64_t ms = ahead / 1000000 + (ahead % 1000000 != 0);
        uv_timer_start(&d->waker, on_wake, ms > 0 ? ms : 1, 0);
    }
}

static void on_tick(uv_timer_t *h)
{
    dt_uv *d = h->data;
    if (d->stopped)
        return;
    d->now = twin_now(d);
    int rc = dt_twin_step(d->twin, d->now);
    if (rc != DT_OK && d->status == DT_OK)
        d->status = rc;
    if (d->on_step != NULL)
        d->on_step(d->step_user, d->twin, d->now);
    if (!d->stopped)
        sync_hooks(d);
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
    uv_timer_stop(&d->waker);
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
    /* the driver polls the adapters through the twin's io, which the raw
     * pointer no longer gives once the planes are taken: attach first */
    if (dt_twin_io(twin) == NULL)
        return DT_EPLANE;
    double p = period_s > 0 ? period_s : dt_twin_period_s(twin);
    uint64_t ms = (uint64_t)(p * 1e3 + 0.5);
    if (ms == 0)
        ms = 1; /* libuv timers have millisecond resolution */
    /* only the public API: the driver is its own library (dtwin_uv) */
    const dt_allocator *a = dt_twin_allocator(twin);
    dt_uv *d = a->malloc_fn(a->user, sizeof *d);
    if (d == NULL)
        return DT_ENOMEM;
    memset(d, 0, sizeof *d);
    d->alloc = *a;
    d->twin = twin;
    d->io = dt_twin_io(twin);
    d->loop = loop;
    d->origin = uv_hrtime();
    int rc = dt_twin_start(twin, 0);
    if (rc != DT_OK) {
        a->free_fn(a->user, d);
        return rc;
    }
    if (uv_timer_init(loop, &d->timer) != 0 || uv_timer_init(loop, &d->waker) != 0) {
        a->free_fn(a->user, d); /* uv_timer_init allocates nothing and cannot fail on Linux */
        return DT_EIO;
    }
    d->timer.data = d->waker.data = d;
    if (handle_signals) {
        d->signals = 1;
        uv_signal_init(loop, &d->sigint);
        uv_signal_init(loop, &d->sigterm);
        d->sigint.data = d->sigterm.data = d;
        uv_signal_start(&d->sigint, on_signal, SIGINT);
        uv_signal_start(&d->sigterm, on_signal, SIGTERM);
    }
    sync_hooks(d);
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
        a.free_fn(a.user, d);
    }
}

void dt_uv_detach(dt_uv *d)
{
    if (d == NULL)
        return;
    d->stopped = 1;
    d->detached = 1;
    uv_timer_stop(&d->timer);
    uv_timer_stop(&d->waker);
    d->closing = (d->signals ? 4 : 2);
    for (size_t i = 0; i < MAX_WATCH; i++) {
        if (d->slots[i].state == SLOT_ACTIVE)
            close_slot(&d->slots[i]);
        if (d->slots[i].state == SLOT_CLOSING)
            d->closing++;
    }
    if (d->signals) {
        uv_signal_stop(&d->sigint);
        uv_signal_stop(&d->sigterm);
        uv_close((uv_handle_t *)&d->sigint, on_closed);
        uv_close((uv_handle_t *)&d->sigterm, on_closed);
    }
    uv_close((uv_handle_t *)&d->timer, on_closed);
    uv_close((uv_handle_t *)&d->waker, on_closed);
}

dt_time dt_uv_now(const dt_uv *d) { return d ? d->now : 0; }

size_t dt_uv_unwatched(const dt_uv *d) { return d ? d->unwatched : 0; }

int dt_uv_status(const dt_uv *d, int *signaled)
{
    if (signaled != NULL)
        *signaled = d ? d->signaled : 0;
    return d ? d->status : DT_EINVAL;
}
