/* A twin on the bus: its identity (dt/v1/{realm}/{twin}/), the epoch of
 * each connection, $state (retained: ready while connected; the last will
 * says lost with the same epoch), $contract (retained, versioned), the
 * answer to ctl/rebirth, and the beliefs it publishes (b/{group}) from the
 * twin's belief events. */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../platform/internal.h"
#include "../twin/twin_internal.h"
#include "bus.h"
#include "bus_internal.h"

/* Epochs count seconds since 2024-01-01 (and at least +1 per connect), so a
 * restarted process continues above the epochs its previous run used: a
 * reader that saw epoch e ignores a last will of any epoch below e. */
#define EPOCH_ORIGIN 1704067200

int dt__bus_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > DT__BUS_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int dt__bus_topic(char *out, size_t cap, const char *realm, const char *twin, const char *rest)
{
    int n = snprintf(out, cap, "dt/v1/%s/%s/%s", realm, twin, rest);
    return n > 0 && (size_t)n < cap ? DT_OK : DT_ELIMIT;
}

/* The epoch of the next connect attempt. An attempt that never came up
 * published nothing under its epoch, so the next reuses it (unless the clock
 * passed it): failed attempts do not run the epoch ahead of the wall clock,
 * where receivers refuse it (docs/bus.md). Should the broker have taken
 * that attempt after all, its will (lost, that epoch) is published when the
 * next connection takes the session over, before that connection's ready. */
static void next_epoch(dt__bus *b)
{
    struct timespec ts;
    uint32_t e = 0;
    if (clock_gettime(CLOCK_REALTIME, &ts) == 0 && ts.tv_sec > EPOCH_ORIGIN &&
        ts.tv_sec - EPOCH_ORIGIN < (time_t)UINT32_MAX)
        e = (uint32_t)(ts.tv_sec - EPOCH_ORIGIN);
    if (b->epoch != 0 && !b->epoch_seen)
        b->epoch = e > b->epoch ? e : b->epoch;
    else
        b->epoch = e > b->epoch ? e : b->epoch + 1;
    b->epoch_seen = 0;
}

static size_t state_json(const dt__bus *b, const char *state, char *out, size_t cap)
{
    int n = snprintf(out, cap, "{\"state\":\"%s\",\"epoch\":%u,\"contract\":%u}", state,
                     (unsigned)b->epoch, (unsigned)b->contract_version);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* Before each connect: a new epoch, and the will that says this connection
 * was lost. */
static void before_connect(void *user)
{
    dt__bus *b = user;
    next_epoch(b);
    char topic[DT__BUS_TOPIC_MAX], js[128];
    size_t n = state_json(b, "lost", js, sizeof js);
    if (dt__bus_topic(topic, sizeof topic, b->realm, b->twin, "$state") == DT_OK && n > 0)
        (void)b->eng->set_will(b->es, topic, js, n);
}

/* The twin's $state: "init" while the twin is loaded but not started (or
 * stopped: its commands would be refused), "ready" while it runs. */
static void publish_state(dt__bus *b)
{
    char topic[DT__BUS_TOPIC_MAX], js[128];
    int running = dt__bus_owner_running(b);
    size_t n = state_json(b, running ? "ready" : "init", js, sizeof js);
    if (dt__bus_topic(topic, sizeof topic, b->realm, b->twin, "$state") == DT_OK && n > 0 &&
        b->eng->publish(b->es, topic, js, n, DT_BUS_RELIABLE, 1) == DT_OK) {
        b->st.state_published++;
        b->announced_ready = running;
    }
}

/* The contract, then the state: a reader that sees ready can read the
 * contract it names (per-topic order only: a reader must still accept them
 * in either order, see docs/bus.md). */
static void announce(dt__bus *b)
{
    char topic[DT__BUS_TOPIC_MAX];
    if (b->contract != NULL &&
        dt__bus_topic(topic, sizeof topic, b->realm, b->twin, "$contract") == DT_OK &&
        b->eng->publish(b->es, topic, b->contract, b->contract_len, DT_BUS_RELIABLE, 1) ==
            DT_OK)
        b->st.state_published++;
    publish_state(b);
}

/* After every hook: an "init" announced before the twin started becomes
 * "ready" once it runs. */
static void state_follow(dt__bus *b)
{
    if (b->es != NULL && !b->announced_ready && dt__bus_owner_running(b) &&
        b->eng->connected(b->es))
        publish_state(b);
}

static void on_state(void *user, int up, dt_time now)
{
    (void)now;
    dt__bus *b = user;
    if (up) {
        b->epoch_seen = 1;
        announce(b);
    }
}

/* ctl/rebirth: a reader that met a contract version it does not know asks
 * for the state and contract again; served at most once a second. */
static void on_rebirth(void *user, const char *topic, const uint8_t *p, size_t len, dt_time now)
{
    (void)topic, (void)p, (void)len;
    dt__bus *b = user;
    if (b->st.rebirths > 0 && now - b->last_rebirth < DT_NS_PER_S)
        return;
    b->last_rebirth = now;
    b->st.rebirths++;
    announce(b);
}

int dt__bus_start(dt__bus *b)
{
    if (b->es == NULL)
        return DT_OK;
    char topic[DT__BUS_TOPIC_MAX];
    b->eng->before_connect(b->es, before_connect, b);
    int rc = b->eng->on_state(b->es, on_state, b);
    if (rc == DT_OK)
        rc = dt__bus_topic(topic, sizeof topic, b->realm, b->twin, "ctl/rebirth");
    if (rc == DT_OK)
        rc = b->eng->subscribe(b->es, topic, DT_BUS_BEST_EFFORT, on_rebirth, b);
    if (rc == DT_OK)
        rc = dt__bus_cmd_start(b);
    return rc;
}

void dt__bus_destroy(dt__bus *b)
{
    if (b == NULL)
        return;
    dt_allocator a = b->alloc;
    if (b->es != NULL && b->eng->connected(b->es)) {
        /* a clean stop says so (the will is for a lost connection) */
        char topic[DT__BUS_TOPIC_MAX], js[128];
        size_t n = state_json(b, "stopped", js, sizeof js);
        if (dt__bus_topic(topic, sizeof topic, b->realm, b->twin, "$state") == DT_OK && n > 0)
            (void)b->eng->publish(b->es, topic, js, n, DT_BUS_RELIABLE, 1);
    }
    if (b->es != NULL)
        b->eng->destroy(b->es);
    dt__free(&a, b->contract);
    dt__bus_cmd_free(b);
    dt__free(&a, b->buf);
    dt__free(&a, b->xs);
    dt__free(&a, b->Ps);
    dt__bus_streams_free(b);
    dt__free(&a, b);
}

/* ---- beliefs ---- */

static void publish_group(dt__bus *b, dt__bus_group *g, const dt_event_belief *e, dt_time now)
{
    size_t n = g->n, N = e->n;
    for (size_t i = 0; i < n; i++) {
        b->xs[i] = e->x[g->idx[i]];
        for (size_t j = 0; j < n; j++)
            b->Ps[i * n + j] = e->P[(size_t)g->idx[i] * N + (size_t)g->idx[j]];
    }
    /* exactly symmetric, as the encoder requires (the filter keeps it so;
     * this makes the published triangle the upper one either way) */
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            b->Ps[j * n + i] = b->Ps[i * n + j];
    dt_buswire_header h = {0};
    h.version = DT_BUSWIRE_VERSION;
    h.type = DT_BUSWIRE_BELIEF;
    h.epoch = b->epoch;
    h.contract = b->contract_version;
    h.seq = g->seq + 1;
    /* with its times: the data behind it (never newer than the time it holds
     * at: a relay's fused belief holds at its estimate's time, its data may
     * be older) and the send time a reader's clock learns from */
    dt_time td = b->owner != NULL ? dt__twin_data_time(b->owner) : e->t_valid;
    if (!dt_time_valid(td) || td > e->t_valid)
        td = dt_time_valid(td) ? e->t_valid : DT_TIME_MIN;
    size_t len = dt_time_valid(td) ? dt_buswire_encode_belief_timed(b->buf, b->buf_cap, &h,
                                                                    e->t_valid, td, now, n,
                                                                    b->xs, b->Ps)
                                   : 0; /* no data behind it: nothing to publish */
    if (len == 0 || b->eng->publish(b->es, g->topic, b->buf, len, DT_BUS_BEST_EFFORT, 0) !=
                        DT_OK) {
        b->st.beliefs_unsent++;
        return;
    }
    g->seq++;
    b->st.beliefs_published++;
}

static void on_event(void *user, const dt_event *ev)
{
    dt__bus *b = user;
    if (ev->kind == DT_EVENT_COMMAND) {
        dt__bus_cmd_decided(b, &ev->u.command, ev->t);
        return;
    }
    if (ev->kind != DT_EVENT_BELIEF || ev->u.belief.x == NULL || ev->u.belief.P == NULL)
        return;
    for (size_t k = 0; k < b->n_groups; k++) {
        dt__bus_group *g = &b->group[k];
        if (ev->t < g->next)
            continue;
        g->next = ev->t + g->every;
        publish_group(b, g, &ev->u.belief, ev->t);
    }
}

int dt__bus_attach(dt__bus *b, dt_twin *twin, dt_diag *diag)
{
    b->owner = twin;
    dt_est *est = dt__filter_kf(twin->est); /* not the raw accessor: planes may be taken */
    size_t nmax = 1;
    for (size_t k = 0; k < b->n_groups; k++) {
        dt__bus_group *g = &b->group[k];
        for (size_t i = 0; i < g->n; i++) {
            int idx = est != NULL ? dt_est_state_index(est, g->sig[i]) : -1;
            if (idx < 0)
                return dt__diag(diag, DT_EPARSE, "bus.beliefs",
                                "group \"%s\": %s is not a state of the estimator", g->name,
                                dt_model_signal(b->model, g->sig[i])->id);
            g->idx[i] = idx;
        }
        nmax = g->n > nmax ? g->n : nmax;
        int rc = dt__bus_topic(g->topic, sizeof g->topic, b->realm, b->twin, "b/");
        size_t at = strlen(g->topic);
        if (rc != DT_OK || at + strlen(g->name) >= sizeof g->topic)
            return dt__diag(diag, DT_ELIMIT, "bus.beliefs", "group \"%s\": topic too long",
                            g->name);
        memcpy(g->topic + at, g->name, strlen(g->name) + 1);
    }
    int rc = b->n_groups > 0 || b->n_accept > 0 || b->streams.n > 0
                 ? dt__bus_contract_build(b, est, diag)
                 : DT_OK;
    if (rc != DT_OK)
        return rc;
    /* an ack's buffer may be there already */
    if (DT_BUSWIRE_BELIEF_BYTES(nmax) + DT_BUSWIRE_BELIEF_TIMES_BYTES > b->buf_cap) {
        dt__free(&b->alloc, b->buf);
        b->buf_cap = DT_BUSWIRE_BELIEF_BYTES(nmax) + DT_BUSWIRE_BELIEF_TIMES_BYTES;
        b->buf = dt__calloc(&b->alloc, b->buf_cap, 1);
    }
    b->xs = dt__calloc(&b->alloc, nmax, sizeof *b->xs);
    b->Ps = dt__calloc(&b->alloc, nmax * nmax, sizeof *b->Ps);
    if (b->buf == NULL || b->xs == NULL || b->Ps == NULL)
        return dt__diag(diag, DT_ENOMEM, "bus", "out of memory");
    if ((rc = dt__bus_streams_attach(b, twin, diag)) != DT_OK)
        return rc;
    if ((b->n_groups == 0 && b->n_accept == 0) || b->es == NULL)
        return DT_OK;
    dt_observer o = DT_OBSERVER_INIT;
    o.mask = (b->n_groups > 0 ? DT_EVENT_BIT(DT_EVENT_BELIEF) : 0) |
             (b->n_accept > 0 ? DT_EVENT_BIT(DT_EVENT_COMMAND) : 0);
    o.on_event = on_event;
    o.user = b;
    rc = dt_twin_observe(twin, &o);
    return rc == DT_OK ? DT_OK
                       : dt__diag(diag, rc, "bus", "cannot observe the twin: %s", dt_strerror(rc));
}

size_t dt__bus_counters(const dt__bus *b, dt_counter *out, size_t max)
{
    const dt_counter c[] = {
        {"bus.beliefs_published", b->st.beliefs_published},
        {"bus.beliefs_unsent", b->st.beliefs_unsent},
        {"bus.rebirths", b->st.rebirths},
        {"bus.state_published", b->st.state_published},
        {"bus.bad_now", b->st.bad_now},
    };
    size_t n = sizeof c / sizeof c[0];
    for (size_t i = 0; out != NULL && i < n && i < max; i++)
        out[i] = c[i];
    size_t at = n < max ? n : max;
    n += dt__bus_cmd_counters(b, out != NULL ? out + at : NULL, max - at);
    return n;
}

/* ---- the link: the connection's hooks ---- */

/* A checked or replayed twin's bus has no connection: nothing to drive. */
static int link_poll(void *self, dt_time now)
{
    dt__bus *b = self;
    if (!dt_time_valid(now)) { /* a host's time out of range: no arithmetic on it */
        b->st.bad_now++;
        return DT_ERANGE;
    }
    int rc = b->es != NULL ? b->eng->poll(b->es, now) : DT_OK;
    dt__bus_cmd_drain(b, now);
    state_follow(b);
    return rc;
}
static size_t link_watches(const void *self, dt_watch *out, size_t max)
{
    const dt__bus *b = self;
    return b->es != NULL && b->eng->watches != NULL ? b->eng->watches(b->es, out, max) : 0;
}
static void link_ready(void *self, int fd, unsigned ev, dt_time now)
{
    dt__bus *b = self;
    if (!dt_time_valid(now)) {
        b->st.bad_now++;
        return;
    }
    if (b->es != NULL)
        b->eng->ready(b->es, fd, ev, now);
    dt__bus_cmd_drain(b, now);
    state_follow(b);
}
static dt_time link_wake_at(const void *self)
{
    const dt__bus *b = self;
    return b->es != NULL && b->eng->wake_at != NULL ? b->eng->wake_at(b->es) : DT_TIME_MAX;
}
static void link_wake(void *self, dt_time now)
{
    dt__bus *b = self;
    if (!dt_time_valid(now)) {
        b->st.bad_now++;
        return;
    }
    if (b->es != NULL && b->eng->wake != NULL)
        b->eng->wake(b->es, now);
    dt__bus_cmd_drain(b, now);
    state_follow(b);
}
static void link_destroy(void *self) { dt__bus_destroy(self); }
static size_t link_counters(const void *self, dt_counter *out, size_t max)
{
    const dt__bus *b = self;
    size_t n = b->es != NULL && b->eng->counters != NULL ? b->eng->counters(b->es, out, max) : 0;
    size_t at = n < max ? n : max;
    n += dt__bus_counters(b, out != NULL ? out + at : NULL, max - at);
    at = n < max ? n : max;
    return n + dt__bus_stream_counters(b, out != NULL ? out + at : NULL, max - at);
}

const dt__io_link_ops dt__bus_link_ops = {link_poll,    link_watches, link_ready, link_wake_at,
                                          link_wake,    link_destroy, link_counters};

/* ---- for the twin sink (twin_sink.c): the issuer's identity on the bus ---- */

uint32_t dt__bus_epoch(const dt_io *io)
{
    const dt__bus *b = dt__bus_get(io);
    return b != NULL ? b->epoch : 0;
}

const char *dt__bus_twin(const dt_io *io)
{
    const dt__bus *b = dt__bus_get(io);
    return b != NULL ? b->twin : "";
}

uint32_t dt__bus_contract_version(const dt_io *io)
{
    const dt__bus *b = dt__bus_get(io);
    return b != NULL ? b->contract_version : 0;
}
