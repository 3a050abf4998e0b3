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

static void next_epoch(dt__bus *b)
{
    struct timespec ts;
    uint32_t e = 0;
    if (clock_gettime(CLOCK_REALTIME, &ts) == 0 && ts.tv_sec > EPOCH_ORIGIN &&
        ts.tv_sec - EPOCH_ORIGIN < (time_t)UINT32_MAX)
        e = (uint32_t)(ts.tv_sec - EPOCH_ORIGIN);
    b->epoch = e > b->epoch ? e : b->epoch + 1;
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
        (void)dt__mqtt_set_will(b->mq, topic, js, n, 1);
}

/* The contract, then ready: a reader that sees ready can read the contract
 * it names (per-topic order only: a reader must still accept them in either
 * order, see docs/bus.md). */
static void announce(dt__bus *b)
{
    char topic[DT__BUS_TOPIC_MAX], js[128];
    if (b->contract != NULL &&
        dt__bus_topic(topic, sizeof topic, b->realm, b->twin, "$contract") == DT_OK &&
        dt__mqtt_publish(b->mq, topic, b->contract, b->contract_len, 1, 1, NULL, NULL, NULL) ==
            DT_OK)
        b->st.state_published++;
    size_t n = state_json(b, "ready", js, sizeof js);
    if (dt__bus_topic(topic, sizeof topic, b->realm, b->twin, "$state") == DT_OK && n > 0 &&
        dt__mqtt_publish(b->mq, topic, js, n, 1, 1, NULL, NULL, NULL) == DT_OK)
        b->st.state_published++;
}

static void on_state(void *user, int up, uint32_t connects, dt_time now)
{
    (void)connects, (void)now;
    if (up)
        announce(user);
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

/* ---- commands from other twins (cmd/{signal}) and their acks ---- */

/* One ack record on ack (QoS 1, not retained). */
static void publish_ack(dt__bus *b, uint64_t issuer_seq, uint32_t decision, int status,
                        dt_time t)
{
    dt_buswire_header h = {0};
    h.version = DT_BUSWIRE_VERSION;
    h.type = DT_BUSWIRE_ACKS;
    h.epoch = b->epoch;
    h.contract = b->contract_version != 0 ? b->contract_version : 1;
    h.seq = b->ack_seq + 1;
    dt_buswire_ack r = {issuer_seq, decision & DT_BUSWIRE_DECISIONS_KNOWN,
                        status <= 0 ? status : DT_EINVAL, t};
    size_t len = dt_buswire_encode_acks(b->buf, b->buf_cap, &h, &r, 1);
    if (len == 0 || b->mq == NULL ||
        dt__mqtt_publish(b->mq, b->ack_topic, b->buf, len, 1, 0, NULL, NULL, NULL) != DT_OK) {
        b->st.acks_unsent++;
        return;
    }
    b->ack_seq++;
    b->st.acks_published++;
}

/* The queued commands to the twin: called after every hook of the link
 * (outside a step, or in its Sense phase, where the twin still takes them).
 * A command past its deadline here is refused and acked expired; one the
 * twin has no room for is acked refused with DT_EFULL. */
static void drain(dt__bus *b, dt_time now)
{
    while (b->q_n > 0 && b->owner != NULL) {
        dt__bus_cmd *q = &b->queue[b->q_head];
        if (now > q->cmd.t_deadline) {
            b->st.cmd_expired++;
            publish_ack(b, q->issuer_seq, DT_DISP_EXPIRED, 0, now);
        } else {
            size_t slot = DT__BUS_INFLIGHT;
            for (size_t i = 0; i < DT__BUS_INFLIGHT && slot == DT__BUS_INFLIGHT; i++)
                if (b->inflight[i].twin_seq == 0)
                    slot = i;
            uint64_t seq = 0;
            int rc = slot == DT__BUS_INFLIGHT
                         ? DT_EFULL
                         : dt__twin_submit_remote(b->owner, &q->cmd, DT_ORIGIN_REMOTE, &seq);
            if (rc == DT_ESTATE && !b->owner->stopped)
                return; /* late in a step, or not started: at the next hook */
            /* a stopped twin decides nothing more: refused and acked now,
             * never left without an answer in its pending commands */
            if (rc == DT_OK) {
                b->inflight[slot] = *q;
                b->inflight[slot].twin_seq = seq;
                b->st.cmd_submitted++;
            } else {
                if (rc == DT_EFULL)
                    b->st.cmd_queue_full++;
                else
                    b->st.cmd_refused++;
                publish_ack(b, q->issuer_seq, DT_DISP_REFUSED, rc, now);
            }
        }
        b->q_head = (b->q_head + 1) % DT__BUS_CMD_QUEUE;
        b->q_n--;
    }
}

static void bad_command(dt__bus *b, dt_buswire_error e)
{
    b->st.cmd_malformed++;
    b->st.cmd_bad[(size_t)e < DT_BUSWIRE__COUNT ? (size_t)e : 0]++;
}

/* A message on cmd/{signal}: checked whole (header, then every record),
 * refused when retained, of an older epoch or a repeated seq; each valid
 * record queued with its times moved to the twin's base (docs/bus.md: the
 * arrival time stands for t_issued, the deadline keeps its distance). */
static void on_command(void *user, const char *topic, const uint8_t *p, size_t len, dt_time now)
{
    (void)topic;
    dt__bus_accept *a = user;
    dt__bus *b = a->bus;
    b->st.cmd_messages++;
    if (dt__mqtt_message_retained(b->mq)) {
        b->st.cmd_retained++;
        return;
    }
    dt_buswire_header h;
    dt_buswire_error e = dt_buswire_decode_header(p, len, &h);
    if (e == DT_BUSWIRE_OK && h.type != DT_BUSWIRE_COMMANDS)
        e = DT_BUSWIRE_BAD_TYPE;
    if (e != DT_BUSWIRE_OK) {
        bad_command(b, e);
        return;
    }
    if (a->have_seq && h.epoch < a->epoch) {
        b->st.cmd_stale_epoch++;
        return;
    }
    if (a->have_seq && h.epoch == a->epoch && h.seq <= a->last_seq) {
        b->st.cmd_duplicate++;
        return;
    }
    a->epoch = h.epoch;
    a->last_seq = h.seq;
    a->have_seq = 1;
    for (size_t i = 0; i < h.count; i++) {
        dt_buswire_command r;
        e = dt_buswire_command_at(p, len, i, &r);
        if (e != DT_BUSWIRE_OK) {
            bad_command(b, e);
            continue;
        }
        b->st.cmd_records++;
        if (r.t_deadline == r.t_issued) { /* no time at all to carry it out */
            b->st.cmd_expired++;
            publish_ack(b, r.seq, DT_DISP_EXPIRED, 0, now);
            continue;
        }
        if (b->queue == NULL || b->q_n == DT__BUS_CMD_QUEUE) {
            b->st.cmd_queue_full++;
            publish_ack(b, r.seq, DT_DISP_REFUSED, DT_EFULL, now);
            continue;
        }
        dt__bus_cmd *q = &b->queue[(b->q_head + b->q_n++) % DT__BUS_CMD_QUEUE];
        memset(q, 0, sizeof *q);
        q->cmd.signal = a->sig;
        q->cmd.value = r.value;
        q->cmd.t_issued = now;
        /* both within +-DT_TIME_LIMIT (checked), so the difference fits */
        dt_time room = (dt_time)(r.t_deadline - r.t_issued);
        q->cmd.t_deadline = room < DT_TIME_LIMIT - now ? now + room : DT_TIME_LIMIT;
        q->issuer_seq = r.seq;
    }
}

/* A decision on a remote command: its ack. */
static void command_decided(dt__bus *b, const dt_audit *au, dt_time t)
{
    if (DT_ORIGIN_KIND(au->cmd.origin) != DT_ORIGIN_REMOTE || b->inflight == NULL)
        return;
    for (size_t i = 0; i < DT__BUS_INFLIGHT; i++)
        if (b->inflight[i].twin_seq == au->cmd.seq) {
            publish_ack(b, b->inflight[i].issuer_seq, au->decision, au->sink_status, t);
            b->inflight[i].twin_seq = 0;
            return;
        }
}

int dt__bus_start(dt__bus *b)
{
    if (b->mq == NULL)
        return DT_OK;
    char topic[DT__BUS_TOPIC_MAX];
    dt__mqtt_before_connect(b->mq, before_connect, b);
    int rc = dt__mqtt_on_state(b->mq, on_state, b);
    if (rc == DT_OK)
        rc = dt__bus_topic(topic, sizeof topic, b->realm, b->twin, "ctl/rebirth");
    if (rc == DT_OK)
        rc = dt__mqtt_subscribe(b->mq, topic, 0, on_rebirth, b);
    if (rc == DT_OK && b->n_accept > 0) {
        b->queue = dt__calloc(&b->alloc, DT__BUS_CMD_QUEUE, sizeof *b->queue);
        b->inflight = dt__calloc(&b->alloc, DT__BUS_INFLIGHT, sizeof *b->inflight);
        b->buf_cap = DT_BUSWIRE_HEADER + DT_BUSWIRE_ACK_RECORD;
        b->buf = dt__calloc(&b->alloc, b->buf_cap, 1);
        if (b->queue == NULL || b->inflight == NULL || b->buf == NULL)
            rc = DT_ENOMEM;
    }
    for (size_t r = 0; r < DT_BUSWIRE__COUNT; r++)
        (void)snprintf(b->bad_name[r], sizeof b->bad_name[r], "bus.cmd_bad.%s",
                       dt_buswire_error_name((dt_buswire_error)r));
    if (rc == DT_OK && b->n_accept > 0)
        rc = dt__bus_topic(b->ack_topic, sizeof b->ack_topic, b->realm, b->twin, "ack");
    for (size_t k = 0; rc == DT_OK && k < b->n_accept; k++)
        rc = dt__mqtt_subscribe(b->mq, b->accept[k].topic, 1, on_command, &b->accept[k]);
    return rc;
}

void dt__bus_destroy(dt__bus *b)
{
    if (b == NULL)
        return;
    dt_allocator a = b->alloc;
    if (b->mq != NULL && dt__mqtt_connected(b->mq)) {
        /* a clean stop says so (the will is for a lost connection) */
        char topic[DT__BUS_TOPIC_MAX], js[128];
        size_t n = state_json(b, "stopped", js, sizeof js);
        if (dt__bus_topic(topic, sizeof topic, b->realm, b->twin, "$state") == DT_OK && n > 0)
            (void)dt__mqtt_publish(b->mq, topic, js, n, 1, 1, NULL, NULL, NULL);
    }
    dt__mqtt_destroy(b->mq);
    dt__free(&a, b->contract);
    dt__free(&a, b->queue);
    dt__free(&a, b->inflight);
    dt__free(&a, b->buf);
    dt__free(&a, b->xs);
    dt__free(&a, b->Ps);
    dt__bus_streams_free(b);
    dt__free(&a, b);
}

/* ---- beliefs ---- */

static void publish_group(dt__bus *b, dt__bus_group *g, const dt_event_belief *e)
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
    size_t len = dt_buswire_encode_belief(b->buf, b->buf_cap, &h, e->t_valid, n, b->xs, b->Ps);
    if (len == 0 || dt__mqtt_publish(b->mq, g->topic, b->buf, len, 0, 0, NULL, NULL, NULL) !=
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
        command_decided(b, &ev->u.command, ev->t);
        return;
    }
    if (ev->kind != DT_EVENT_BELIEF || ev->u.belief.x == NULL || ev->u.belief.P == NULL)
        return;
    for (size_t k = 0; k < b->n_groups; k++) {
        dt__bus_group *g = &b->group[k];
        if (ev->t < g->next)
            continue;
        g->next = ev->t + g->every;
        publish_group(b, g, &ev->u.belief);
    }
}

int dt__bus_attach(dt__bus *b, dt_twin *twin, dt_diag *diag)
{
    b->owner = twin;
    dt_est *est = dt_twin_estimator(twin);
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
    if (DT_BUSWIRE_BELIEF_BYTES(nmax) > b->buf_cap) { /* an ack's buffer may be there */
        dt__free(&b->alloc, b->buf);
        b->buf_cap = DT_BUSWIRE_BELIEF_BYTES(nmax);
        b->buf = dt__calloc(&b->alloc, b->buf_cap, 1);
    }
    b->xs = dt__calloc(&b->alloc, nmax, sizeof *b->xs);
    b->Ps = dt__calloc(&b->alloc, nmax * nmax, sizeof *b->Ps);
    if (b->buf == NULL || b->xs == NULL || b->Ps == NULL)
        return dt__diag(diag, DT_ENOMEM, "bus", "out of memory");
    if ((rc = dt__bus_streams_attach(b, twin, diag)) != DT_OK)
        return rc;
    if ((b->n_groups == 0 && b->n_accept == 0) || b->mq == NULL)
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
        /* commands: only for a twin that accepts some */
        {"bus.cmd_messages", b->st.cmd_messages},
        {"bus.cmd_records", b->st.cmd_records},
        {"bus.cmd_submitted", b->st.cmd_submitted},
        {"bus.cmd_malformed", b->st.cmd_malformed},
        {"bus.cmd_retained", b->st.cmd_retained},
        {"bus.cmd_stale_epoch", b->st.cmd_stale_epoch},
        {"bus.cmd_duplicate", b->st.cmd_duplicate},
        {"bus.cmd_expired", b->st.cmd_expired},
        {"bus.cmd_queue_full", b->st.cmd_queue_full},
        {"bus.cmd_refused", b->st.cmd_refused},
        {"bus.acks_published", b->st.acks_published},
        {"bus.acks_unsent", b->st.acks_unsent},
    };
    size_t n = b->n_accept > 0 ? sizeof c / sizeof c[0] : 4;
    for (size_t i = 0; out != NULL && i < n && i < max; i++)
        out[i] = c[i];
    if (b->n_accept == 0)
        return n;
    /* the decoder's refusals by reason: bus.cmd_bad.{reason} */
    for (size_t r = 1; r < DT_BUSWIRE__COUNT; r++, n++)
        if (out != NULL && n < max)
            out[n] = (dt_counter){b->bad_name[r], b->st.cmd_bad[r]};
    return n;
}

/* ---- the link: the connection's hooks ---- */

/* A checked or replayed twin's bus has no connection: nothing to drive. */
static int link_poll(void *self, dt_time now)
{
    dt__bus *b = self;
    int rc = b->mq != NULL ? dt__mqtt_poll(b->mq, now) : DT_OK;
    drain(b, now);
    return rc;
}
static size_t link_watches(const void *self, dt_watch *out, size_t max)
{
    const dt__bus *b = self;
    return b->mq != NULL ? dt__mqtt_watches(b->mq, out, max) : 0;
}
static void link_ready(void *self, int fd, unsigned ev, dt_time now)
{
    dt__bus *b = self;
    if (b->mq != NULL)
        dt__mqtt_ready(b->mq, fd, ev, now);
    drain(b, now);
}
static dt_time link_wake_at(const void *self)
{
    const dt__bus *b = self;
    return b->mq != NULL ? dt__mqtt_wake_at(b->mq) : DT_TIME_MAX;
}
static void link_wake(void *self, dt_time now)
{
    dt__bus *b = self;
    if (b->mq != NULL)
        dt__mqtt_wake(b->mq, now);
    drain(b, now);
}
static void link_destroy(void *self) { dt__bus_destroy(self); }
static size_t link_counters(const void *self, dt_counter *out, size_t max)
{
    const dt__bus *b = self;
    size_t n = b->mq != NULL ? dt__mqtt_counters(b->mq, out, max) : 0;
    size_t at = n < max ? n : max;
    n += dt__bus_counters(b, out != NULL ? out + at : NULL, max - at);
    at = n < max ? n : max;
    return n + dt__bus_stream_counters(b, out != NULL ? out + at : NULL, max - at);
}

const dt__io_link_ops dt__bus_link_ops = {link_poll,    link_watches, link_ready, link_wake_at,
                                          link_wake,    link_destroy, link_counters};
