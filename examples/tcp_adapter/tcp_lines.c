/* tcp_lines: a line-oriented TCP source and sink (see tcp_lines.h and
 * docs/adapters.md, "A threaded adapter").
 *
 * The shape is that of every adapter around a blocking client library (Modbus,
 * OPC UA, a vendor SDK): open() reads and checks the configuration, allocates
 * everything and starts one thread; the thread connects, blocks in the
 * client's read or write, and reconnects when the link drops; close() wakes
 * the thread, joins it and frees what open() allocated. The thread touches
 * only what the thread rule allows: the source's ring (it is the ring's one
 * producer), the adapter's event counters (atomic) and its own state.
 * Everything that talks to the twin runs on the twin's thread. */
#define _POSIX_C_SOURCE 200809L
#include "tcp_lines.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* ---- configuration shared by the source and the sink ---- */

typedef struct endpoint {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    double io_timeout; /* connect, and wait for a reply (sink), seconds */
    double retry;      /* pause between connection attempts, seconds */
} endpoint;

/* An optional number in [lo, hi] (an integer if integral); *v keeps its
 * default when the key is absent. The message names the key and the value. */
static int number(const dt_config *cfg, const char *key, double lo, double hi, int integral,
                  double *v, char *msg, size_t cap)
{
    const dt_config *c = dt_config_get(cfg, key);
    const char *text = NULL;
    double x = 0;
    if (c == NULL)
        return DT_OK;
    if (dt_config_number(c, &x) != DT_OK) {
        if (dt_config_string(c, &text) == DT_OK)
            (void)snprintf(msg, cap, "%s: \"%s\" is not a number", key, text);
        else
            (void)snprintf(msg, cap, "%s: expected a number", key);
        return DT_EINVAL;
    }
    if (!(x >= lo && x <= hi) || (integral && x != floor(x))) {
        (void)snprintf(msg, cap, "%s: %.17g is not %s in [%g, %g]", key, x,
                 integral ? "an integer" : "a number", lo, hi);
        return DT_EINVAL;
    }
    *v = x;
    return DT_OK;
}

static const char *const source_keys[] = {"host", "port", "io_timeout", "retry", "max_line", NULL};
static const char *const sink_keys[] = {"host",  "port", "io_timeout", "retry",
                                        "queue", "hold", NULL};

/* "host" (a numeric IPv4 or IPv6 address: name lookups block, and belong to
 * the host program), "port", "io_timeout", "retry". */
static int read_endpoint(const dt_config *cfg, endpoint *ep, char *msg, size_t cap)
{
    const char *host = NULL;
    double port = 0;
    ep->io_timeout = 1.0;
    ep->retry = 0.5;
    if (dt_config_string(dt_config_get(cfg, "host"), &host) != DT_OK) {
        (void)snprintf(msg, cap, "host: required, a numeric IPv4 or IPv6 address");
        return DT_EINVAL;
    }
    if (dt_config_get(cfg, "port") == NULL) {
        (void)snprintf(msg, cap, "port: required, an integer in [1, 65535]");
        return DT_EINVAL;
    }
    int rc = number(cfg, "port", 1, 65535, 1, &port, msg, cap);
    if (rc == DT_OK)
        rc = number(cfg, "io_timeout", 0.001, 60, 0, &ep->io_timeout, msg, cap);
    if (rc == DT_OK)
        rc = number(cfg, "retry", 0.001, 60, 0, &ep->retry, msg, cap);
    if (rc != DT_OK)
        return rc;
    memset(&ep->addr, 0, sizeof ep->addr);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ep->addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ep->addr;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        ep->addr_len = sizeof *v4;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        ep->addr_len = sizeof *v6;
    } else {
        (void)snprintf(msg, cap, "host: \"%s\" is not a numeric IPv4 or IPv6 address", host);
        return DT_EINVAL;
    }
    return DT_OK;
}

/* ---- the thread and its wake-up pipe ---- */

typedef struct worker {
    pthread_t thread;
    int running;         /* the thread was started (joined by close) */
    int wake[2];         /* self-pipe: close() and the twin's thread wake the worker */
    atomic_int stop;     /* set by close() */
} worker;

static int ms(double seconds) { return (int)ceil(seconds * 1000); }

static void wake(worker *w)
{
    char b = 1;
    ssize_t r = write(w->wake[1], &b, 1); /* non-blocking: a full pipe is awake already */
    (void)r;
}

static void drain(worker *w)
{
    char b[64];
    while (read(w->wake[0], b, sizeof b) > 0) {
    }
}

/* Waits until fd is readable (fd < 0: only the pipe), the worker is woken, or
 * `seconds` pass (0: only looks). Returns 1 when fd is readable. */
static int wait_for(worker *w, int fd, double seconds)
{
    struct pollfd p[2] = {{w->wake[0], POLLIN, 0}, {fd, POLLIN, 0}};
    int k = poll(p, fd >= 0 ? 2 : 1, ms(seconds));
    if (k > 0 && (p[0].revents & POLLIN))
        drain(w);
    return k > 0 && fd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
}

/* Starts fn on a thread with every signal blocked, so the host's signal
 * handlers run on the host's threads. open() only: this allocates. */
static int worker_start(worker *w, void *(*fn)(void *), void *arg)
{
    w->wake[0] = w->wake[1] = -1;
    if (pipe(w->wake) != 0)
        return DT_EIO;
    for (int i = 0; i < 2; i++)
        fcntl(w->wake[i], F_SETFL, O_NONBLOCK);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&w->thread, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    w->running = rc == 0;
    return rc == 0 ? DT_OK : DT_ENOMEM;
}

static void worker_stop(worker *w)
{
    atomic_store(&w->stop, 1);
    if (w->running) {
        wake(w);
        pthread_join(w->thread, NULL);
        w->running = 0;
    }
    for (int i = 0; i < 2; i++)
        if (w->wake[i] >= 0)
            close(w->wake[i]);
    w->wake[0] = w->wake[1] = -1;
}

/* ---- the blocking client: connect, read a line ---- */

/* Connects within io_timeout; returns the socket or -1. Only close() cuts
 * the wait short (apply() waking the sender does not). */
static int dial(worker *w, const endpoint *ep)
{
    dt_time deadline = dt_time_monotonic() + dt_time_from_sec(ep->io_timeout);
    int fd = socket(ep->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int err = 0;
    socklen_t len = sizeof err;
    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)&ep->addr, ep->addr_len) != 0) {
        if (errno != EINPROGRESS)
            err = errno;
        while (err == 0) {
            struct pollfd p[2] = {{fd, POLLOUT, 0}, {w->wake[0], POLLIN, 0}};
            dt_time left = deadline - dt_time_monotonic();
            if (left <= 0 || atomic_load(&w->stop) || poll(p, 2, ms(dt_time_to_sec(left))) < 0)
                err = ETIMEDOUT;
            else if (p[0].revents != 0)
                break;
            else if (p[1].revents & POLLIN)
                drain(w);
        }
        if (err == 0 && (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0))
            err = err ? err : errno;
    }
    if (err != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    struct timeval tv = {(time_t)ep->io_timeout,
                         (suseconds_t)(fmod(ep->io_timeout, 1.0) * 1e6)};
    fcntl(fd, F_SETFL, 0); /* blocking again; sends are bounded by SO_SNDTIMEO */
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

enum { LR_TIMEOUT = 0, LR_LINE = 1, LR_TOOLONG = 2, LR_CLOSED = -1 };

typedef struct reader {
    int fd;
    char in[4096];  /* received, not yet consumed */
    size_t at, len;
    char *line;     /* the line being assembled: max + 2 bytes (content, '\r', NUL) */
    size_t n, max;  /* bytes in line; longest content accepted */
    int overflow;   /* the current line is longer than max */
    int complete;   /* line holds a whole line, returned by the last read_line */
} reader;

static void reader_reset(reader *r, int fd)
{
    r->fd = fd;
    r->at = r->len = r->n = 0;
    r->overflow = r->complete = 0;
}

/* Bytes of a line that has not ended yet. */
static int reader_partial(const reader *r) { return !r->complete && (r->n > 0 || r->overflow); }

/* Reads one line ending in "\n" or "\r\n" (without it, NUL-terminated in
 * r->line, length r->n), waiting at most `seconds` for it. A line longer than
 * r->max is consumed and reported as LR_TOOLONG. */
static int read_line(reader *r, worker *w, double seconds)
{
    dt_time deadline = dt_time_monotonic() + dt_time_from_sec(seconds);
    if (r->complete) { /* the previous line was taken: start a new one */
        r->n = 0;
        r->overflow = r->complete = 0;
    }
    for (;;) {
        while (r->at < r->len) {
            char ch = r->in[r->at++];
            if (ch == '\n') {
                int res = r->overflow ? LR_TOOLONG : LR_LINE;
                if (r->n > 0 && r->line[r->n - 1] == '\r')
                    r->n--;
                if (r->n > r->max)
                    res = LR_TOOLONG;
                r->line[r->n] = '\0';
                r->complete = 1;
                return res;
            }
            if (r->n < r->max + 1)
                r->line[r->n++] = ch;
            else
                r->overflow = 1;
        }
        dt_time left = deadline - dt_time_monotonic();
        if (atomic_load(&w->stop))
            return LR_TIMEOUT;
        if (!wait_for(w, r->fd, left > 0 ? dt_time_to_sec(left) : 0)) {
            if (left <= 0)
                return LR_TIMEOUT;
            continue; /* woken (a new command, or close): wait on */
        }
        ssize_t got = recv(r->fd, r->in, sizeof r->in, 0);
        if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN))
            return LR_CLOSED;
        r->at = 0;
        r->len = got > 0 ? (size_t)got : 0;
    }
}

/* Sleeps `seconds` unless close() wakes the thread. */
static void pause_for(worker *w, double seconds)
{
    dt_time until = dt_time_monotonic() + dt_time_from_sec(seconds);
    dt_time left;
    while (!atomic_load(&w->stop) && (left = until - dt_time_monotonic()) > 0)
        wait_for(w, -1, dt_time_to_sec(left));
}

static void add(_Atomic uint64_t *c) { atomic_fetch_add_explicit(c, 1, memory_order_relaxed); }
static uint64_t get(_Atomic uint64_t *c) { return atomic_load_explicit(c, memory_order_relaxed); }

/* ======================= the source ======================= */

#define LOG_REFUSALS 10 /* the first refused lines are logged, all are counted */

typedef struct tcp_src {
    dt_source_ctx *ctx;
    endpoint ep;
    reader rd;
    worker w;
    const dt_allocator *alloc;
    atomic_int go; /* set by the first poll: connect only once the twin runs */
    _Atomic uint64_t records, pushed, ring_full, connects, disconnects, connect_failures;
    uint64_t refusals; /* the thread's own: how many were logged */
} tcp_src;

/* One refused record: counted as ev, logged while there are few. Thread side. */
static void refuse(tcp_src *s, dt_source_event ev, const char *why)
{
    dt_source_count(s->ctx, ev, 1);
    if (++s->refusals <= LOG_REFUSALS)
        dt_source_log(s->ctx, DT_LOG_WARN, "record %llu refused: %s%s",
                      (unsigned long long)get(&s->records), why,
                      s->refusals == LOG_REFUSALS ? " (further refusals are only counted)" : "");
}

/* "<name> <value> <time>": checked, converted by the mapping, pushed.
 * Returns why the line is refused (*ev: the event it counts as), or NULL when
 * it was pushed (or refused by a full ring, counted as ring_full). */
static const char *take_line(tcp_src *s, dt_source_event *ev)
{
    char *line = s->rd.line, *save = NULL, *end = NULL;
    *ev = DT_EV_MALFORMED;
    if (memchr(line, '\0', s->rd.n) != NULL)
        return "a NUL byte";
    char *name = strtok_r(line, " \t", &save);
    char *value = strtok_r(NULL, " \t", &save);
    char *when = strtok_r(NULL, " \t", &save);
    if (name == NULL)
        return "an empty line";
    if (when == NULL || strtok_r(NULL, " \t", &save) != NULL)
        return "expected <name> <value> <time>";
    double v = strtod(value, &end);
    if (*end != '\0')
        return "the value is not a number";
    if (!isfinite(v)) /* strtod reads "nan" and "inf" */
        return "the value is not finite";
    double sec = strtod(when, &end);
    dt_time t = 0;
    if (*end != '\0')
        return "the time is not a number";
    if (dt_time_from_sec_checked(sec, &t) != DT_OK || !dt_time_valid(t))
        return "the time is out of range";
    const dt_mapping *m = dt_source_map_name(s->ctx, name);
    if (m == NULL) {
        *ev = DT_EV_UNMAPPED;
        return "a name the mapping does not list";
    }
    /* t_arrival 0: stamped with the twin's `now` when drained, so the adapter
     * needs no knowledge of the host's time base. */
    if (dt_source_emit(s->ctx, m, t, 0, v) == DT_OK)
        add(&s->pushed);
    else
        add(&s->ring_full); /* counted by the ring too (dropped_newest) */
    return NULL;
}

static void *source_main(void *arg)
{
    tcp_src *s = arg;
    int fd = -1;
    while (!atomic_load(&s->go) && !atomic_load(&s->w.stop))
        wait_for(&s->w, -1, 1.0);
    while (!atomic_load(&s->w.stop)) {
        if (fd < 0) {
            if ((fd = dial(&s->w, &s->ep)) < 0) {
                add(&s->connect_failures);
                pause_for(&s->w, s->ep.retry);
                continue;
            }
            add(&s->connects);
            reader_reset(&s->rd, fd);
        }
        int r = read_line(&s->rd, &s->w, 1.0);
        dt_source_event ev = DT_EV_MALFORMED;
        const char *why = NULL;
        if (r == LR_LINE || r == LR_TOOLONG) {
            add(&s->records);
            why = r == LR_TOOLONG ? "longer than max_line" : take_line(s, &ev);
            if (why != NULL)
                refuse(s, ev, why);
        } else if (r == LR_CLOSED) {
            if (reader_partial(&s->rd)) { /* a fragment: never silently lost */
                add(&s->records);
                refuse(s, DT_EV_MALFORMED, "cut off by the disconnect");
            }
            /* counted before the close: the peer sees the close, and a host
             * that reads the counters after it must find it counted */
            add(&s->disconnects);
            close(fd);
            fd = -1;
            pause_for(&s->w, s->ep.retry);
        }
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

static void source_close(void *self)
{
    tcp_src *s = self;
    worker_stop(&s->w); /* wakes the thread and joins it: nothing pushes after this */
    if (s->alloc != NULL)
        s->alloc->free_fn(s->alloc->user, s->rd.line);
    s->rd.line = NULL;
}

/* The configuration, checked: open's first half, and all of validate. */
static int source_config(dt_source_ctx *ctx, const dt_config *cfg, endpoint *ep,
                         double *max_line)
{
    char msg[200];
    *max_line = 256;
    int rc = read_endpoint(cfg, ep, msg, sizeof msg);
    if (rc == DT_OK)
        rc = number(cfg, "max_line", 16, 1048576, 1, max_line, msg, sizeof msg);
    for (size_t i = 0; rc == DT_OK && i < dt_source_mapping_count(ctx); i++)
        if (dt_source_mapping(ctx, i)->native == NULL) {
            (void)snprintf(msg, sizeof msg, "mapping[%zu]: map a native name, not a channel", i);
            rc = DT_EINVAL;
        }
    if (rc != DT_OK)
        dt_source_error(ctx, "%s", msg);
    return rc;
}

/* `dtwin check` and dt_twin_options.validate: no thread, no socket. */
static int source_validate(dt_source_ctx *ctx, const dt_config *cfg)
{
    endpoint ep;
    double max_line;
    return source_config(ctx, cfg, &ep, &max_line);
}

static int source_open(void *self, dt_source_ctx *ctx, const dt_config *cfg)
{
    tcp_src *s = self;
    double max_line;
    s->ctx = ctx;
    s->w.wake[0] = s->w.wake[1] = -1;
    int rc = source_config(ctx, cfg, &s->ep, &max_line);
    if (rc != DT_OK)
        return rc;
    s->alloc = dt_source_allocator(ctx);
    s->rd.max = (size_t)max_line;
    s->rd.line = s->alloc->malloc_fn(s->alloc->user, s->rd.max + 2);
    if (s->rd.line == NULL) {
        dt_source_error(ctx, "out of memory");
        return DT_ENOMEM;
    }
    s->rd.line[0] = '\0';
    if ((rc = worker_start(&s->w, source_main, s)) != DT_OK) {
        source_close(s);
        dt_source_error(ctx, "cannot start the reader thread");
    }
    return rc;
}

/* The twin's thread, every cycle. The thread pushes on its own; the first
 * poll only tells it the twin is running, so no sample predates the start. */
static int source_poll(void *self, dt_time now)
{
    tcp_src *s = self;
    (void)now;
    if (!atomic_load_explicit(&s->go, memory_order_relaxed)) {
        atomic_store(&s->go, 1);
        wake(&s->w);
    }
    return DT_OK;
}

const dt_source_ops tcp_lines_source_ops = {
    .abi = DT_SOURCE_ABI,
    .kind = "tcp_lines",
    .instance_size = sizeof(tcp_src),
    .keys = source_keys,
    .open = source_open,
    .poll = source_poll,
    .close = source_close,
    .validate = source_validate,
};

int tcp_lines_source_stats_get(dt_io *io, size_t i, tcp_lines_source_stats *out)
{
    const char *kind = dt_io_source_kind(io, i);
    if (kind == NULL || strcmp(kind, "tcp_lines") != 0 || out == NULL)
        return DT_EINVAL;
    tcp_src *s = dt_io_source_instance(io, i);
    out->records = get(&s->records);
    out->pushed = get(&s->pushed);
    out->malformed = dt_io_source_events(io, i, DT_EV_MALFORMED);
    out->unmapped = dt_io_source_events(io, i, DT_EV_UNMAPPED);
    out->ring_full = get(&s->ring_full);
    out->connects = get(&s->connects);
    out->disconnects = get(&s->disconnects);
    out->connect_failures = get(&s->connect_failures);
    return DT_OK;
}

/* ======================= the sink ======================= */

/* A command on its way out, or a read-back on its way back. */
typedef struct item {
    const dt_mapping *map; /* owned by the twin's adapters, valid until close */
    uint64_t seq;
    double value;  /* native unit */
    dt_time queued; /* the adapter's own monotonic clock, for "hold" */
} item;

/* A single-producer single-consumer queue: one thread pushes, one pops. */
typedef struct queue {
    item *slot;
    size_t cap; /* a power of two */
    _Atomic size_t head, tail;
} queue;

static int q_push(queue *q, const item *it)
{
    size_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
    if (t - atomic_load_explicit(&q->head, memory_order_acquire) == q->cap)
        return 0;
    q->slot[t & (q->cap - 1)] = *it;
    atomic_store_explicit(&q->tail, t + 1, memory_order_release);
    return 1;
}

static int q_peek(queue *q, item *it)
{
    size_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
    if (h == atomic_load_explicit(&q->tail, memory_order_acquire))
        return 0;
    *it = q->slot[h & (q->cap - 1)];
    return 1;
}

static void q_pop(queue *q)
{
    atomic_store_explicit(&q->head, atomic_load_explicit(&q->head, memory_order_relaxed) + 1,
                          memory_order_release);
}

typedef struct tcp_sink {
    dt_sink_ctx *ctx;
    endpoint ep;
    reader rd;
    worker w;
    const dt_allocator *alloc;
    queue out;   /* commands: twin's thread -> sender */
    queue back;  /* read-backs: sender -> twin's thread */
    dt_time hold; /* how long a command may wait for a connection */
    _Atomic uint64_t queued, queue_full, sent, acked, refused, expired, bad_replies, reports,
        unreported, connects, disconnects, connect_failures;
} tcp_sink;

/* Commands that waited too long for a connection are not sent late. */
static void drop_expired(tcp_sink *s)
{
    item it;
    while (q_peek(&s->out, &it) && dt_time_monotonic() - it.queued > s->hold) {
        q_pop(&s->out);
        add(&s->expired);
    }
}

/* Sends the oldest command and waits for its reply. Returns 0 when the
 * command is settled (acked or refused), -1 when the link must be dropped
 * (the command stays queued and is sent again after a reconnect). */
static int send_one(tcp_sink *s, int fd, const item *it)
{
    char line[160];
    int n = snprintf(line, sizeof line, "%s %.17g %llu\n", it->map->native, it->value,
                     (unsigned long long)it->seq);
    if (n < 0 || (size_t)n >= sizeof line ||
        send(fd, line, (size_t)n, MSG_NOSIGNAL) != (ssize_t)n)
        return -1;
    add(&s->sent);
    int r = read_line(&s->rd, &s->w, s->ep.io_timeout);
    if (r != LR_LINE)
        return -1; /* no reply in time, or the link dropped */
    char word[8];
    unsigned long long seq = 0;
    double v = 0;
    int k = 0;
    if (sscanf(s->rd.line, "%7s %llu %n", word, &seq, &k) < 2 || seq != it->seq) {
        add(&s->bad_replies);
        return -1;
    }
    if (strcmp(word, "ok") == 0 && sscanf(s->rd.line + k, "%lf", &v) == 1 && isfinite(v)) {
        item back = *it;
        back.value = v;
        q_pop(&s->out);
        add(&s->acked);
        if (!q_push(&s->back, &back)) /* full only when the host never delivers */
            add(&s->unreported);
        return 0;
    }
    if (strcmp(word, "err") == 0) {
        q_pop(&s->out);
        add(&s->refused); /* the device said no: settled, never retried */
        return 0;
    }
    add(&s->bad_replies);
    return -1;
}

static void *sink_main(void *arg)
{
    tcp_sink *s = arg;
    int fd = -1;
    item it;
    while (!atomic_load(&s->w.stop)) {
        if (fd < 0) {
            drop_expired(s);
            if ((fd = dial(&s->w, &s->ep)) < 0) {
                add(&s->connect_failures);
                pause_for(&s->w, s->ep.retry);
                continue;
            }
            add(&s->connects);
            reader_reset(&s->rd, fd);
        }
        if (q_peek(&s->out, &it)) {
            if (send_one(s, fd, &it) == 0)
                continue;
        } else {
            if (s->rd.at == s->rd.len && !wait_for(&s->w, fd, 1.0))
                continue; /* woken by apply() or close(), or idle */
            /* readable while idle: the peer closed, or said what nobody asked */
            int r = read_line(&s->rd, &s->w, 0);
            if (r == LR_TIMEOUT)
                continue;
            if (r != LR_CLOSED) {
                add(&s->bad_replies);
                continue;
            }
        }
        add(&s->disconnects); /* before the close, as the source's */
        close(fd);
        fd = -1;
        pause_for(&s->w, s->ep.retry);
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

static void sink_close(void *self)
{
    tcp_sink *s = self;
    worker_stop(&s->w);
    if (s->alloc != NULL) {
        s->alloc->free_fn(s->alloc->user, s->rd.line);
        s->alloc->free_fn(s->alloc->user, s->out.slot);
        s->alloc->free_fn(s->alloc->user, s->back.slot);
    }
    s->rd.line = NULL;
    s->out.slot = s->back.slot = NULL;
}

static int sink_config(dt_sink_ctx *ctx, const dt_config *cfg, endpoint *ep, double *cap,
                       double *hold)
{
    char msg[200];
    *cap = 64;
    *hold = 0.5;
    int rc = read_endpoint(cfg, ep, msg, sizeof msg);
    if (rc == DT_OK)
        rc = number(cfg, "queue", 1, 65536, 1, cap, msg, sizeof msg);
    if (rc == DT_OK)
        rc = number(cfg, "hold", 0.001, 3600, 0, hold, msg, sizeof msg);
    if (rc == DT_OK && ((size_t)*cap & ((size_t)*cap - 1)) != 0) {
        (void)snprintf(msg, sizeof msg, "queue: %.17g is not a power of two", *cap);
        rc = DT_EINVAL;
    }
    for (size_t i = 0; rc == DT_OK && i < dt_sink_mapping_count(ctx); i++)
        if (dt_sink_mapping(ctx, i)->native == NULL) {
            (void)snprintf(msg, sizeof msg, "mapping[%zu]: map a native name, not a channel", i);
            rc = DT_EINVAL;
        }
    if (rc != DT_OK)
        dt_sink_error(ctx, "%s", msg);
    return rc;
}

static int sink_validate(dt_sink_ctx *ctx, const dt_config *cfg)
{
    endpoint ep;
    double cap, hold;
    return sink_config(ctx, cfg, &ep, &cap, &hold);
}

static int sink_open(void *self, dt_sink_ctx *ctx, const dt_config *cfg)
{
    tcp_sink *s = self;
    double cap, hold;
    s->ctx = ctx;
    s->w.wake[0] = s->w.wake[1] = -1;
    int rc = sink_config(ctx, cfg, &s->ep, &cap, &hold);
    if (rc != DT_OK)
        return rc;
    s->alloc = dt_sink_allocator(ctx);
    s->hold = dt_time_from_sec(hold);
    s->out.cap = s->back.cap = (size_t)cap;
    s->rd.max = 256; /* replies are short */
    s->rd.line = s->alloc->malloc_fn(s->alloc->user, s->rd.max + 2);
    s->out.slot = s->alloc->malloc_fn(s->alloc->user, s->out.cap * sizeof(item));
    s->back.slot = s->alloc->malloc_fn(s->alloc->user, s->back.cap * sizeof(item));
    if (s->rd.line == NULL || s->out.slot == NULL || s->back.slot == NULL) {
        sink_close(s);
        dt_sink_error(ctx, "out of memory");
        return DT_ENOMEM;
    }
    /* A sink connects at once: it carries no data that could predate the start. */
    if ((rc = worker_start(&s->w, sink_main, s)) != DT_OK) {
        sink_close(s);
        dt_sink_error(ctx, "cannot start the sender thread");
    }
    return rc;
}

/* The twin's thread. Never blocks: the command is queued for the sender, which
 * is woken; a full queue (the link has been down for a while) is refused, and
 * the dispatcher counts it and, after sink_failures in a row, holds the safe
 * state. */
static int sink_apply(void *self, const dt_command *cmd, const dt_mapping *map)
{
    tcp_sink *s = self;
    item it = {map, cmd->seq, cmd->value * map->scale + map->offset, dt_time_monotonic()};
    if (!q_push(&s->out, &it)) {
        add(&s->queue_full);
        return DT_EFULL;
    }
    add(&s->queued);
    wake(&s->w);
    return DT_OK;
}

const dt_sink_ops tcp_lines_sink_ops = {
    .abi = DT_SINK_ABI,
    .kind = "tcp_lines",
    .instance_size = sizeof(tcp_sink),
    .keys = sink_keys,
    .open = sink_open,
    .apply = sink_apply,
    .close = sink_close,
    .validate = sink_validate,
};

static tcp_sink *sink_at(dt_io *io, size_t i)
{
    const char *kind = dt_io_sink_kind(io, i);
    return kind != NULL && strcmp(kind, "tcp_lines") == 0 ? dt_io_sink_instance(io, i) : NULL;
}

size_t tcp_lines_deliver(dt_io *io, size_t i, dt_time now)
{
    tcp_sink *s = sink_at(io, i);
    item it;
    size_t n = 0;
    while (s != NULL && q_peek(&s->back, &it)) {
        q_pop(&s->back);
        /* the read-back in the signal's unit: the mapping converts the other way */
        double v = (it.value - it.map->offset) / it.map->scale;
        if (dt_sink_report(s->ctx, it.map->signal, it.seq, v, now) == DT_OK) {
            add(&s->reports);
            n++;
        }
    }
    return n;
}

int tcp_lines_sink_stats_get(dt_io *io, size_t i, tcp_lines_sink_stats *out)
{
    tcp_sink *s = sink_at(io, i);
    if (s == NULL || out == NULL)
        return DT_EINVAL;
    out->queued = get(&s->queued);
    out->queue_full = get(&s->queue_full);
    out->sent = get(&s->sent);
    out->acked = get(&s->acked);
    out->refused = get(&s->refused);
    out->expired = get(&s->expired);
    out->bad_replies = get(&s->bad_replies);
    out->reports = get(&s->reports);
    out->unreported = get(&s->unreported);
    out->connects = get(&s->connects);
    out->disconnects = get(&s->disconnects);
    out->connect_failures = get(&s->connect_failures);
    return DT_OK;
}
