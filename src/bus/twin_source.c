/* The "twin" source: another twin's published belief group (b/{group}) read
 * through the bus, each mapped state's mean a sample with its variance; or
 * its sample stream (s/{stream}), each record of a mapped signal a sample.
 * The rules (docs/bus.md): the publisher's $contract must be known and agree
 * with the mapping (states or signals there, units equal, never converted
 * silently; for a stream, semantic ids equal when both give one); a
 * message of another contract version is dropped, counted, and a rebirth
 * asked for; an epoch below the newest seen is stale (a late last will
 * included); sequence gaps are counted as lost, repeats dropped; a lost or
 * stopped publisher is counted and its silence ages the reader's belief as
 * any silent source does. Times are on the publisher's time base: the
 * source needs a "clock" (estimate, unless both share one).
 *
 * Nothing authenticates a message yet, so no single one may lock the
 * publisher out: a "ready" $state is the publisher's own announcement of its
 * connection and sets the epoch whatever it is (a publisher whose clock went
 * back comes back with an older one); a belief of an older epoch than the
 * current one asks for a rebirth (rate-limited), whose "ready" moves the
 * reader back to the publisher's real epoch after a forged higher one; and a
 * belief 64 or more ahead of the newest seq (or behind one that was the first
 * of its epoch) waits for the next belief, 1..63 after it, to confirm it
 * (`unconfirmed`), as the UDP source's sequence window does. */
#define _DEFAULT_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../desc/bus_json.h"
#include "../platform/internal.h"
#include "bus.h"
#include "bus_internal.h"

/* A belief this far ahead of the newest, or more, needs a second one */
#define SEQ_JUMP 64

static const char *const twinsrc_keys[] = {"twin", "realm", "belief", "stream", "criterion", NULL};

/* A stream record's reasons to be skipped: the codec's record reasons, and
 * a channel past the stream's signals. */
enum { SKIP_FLAGS, SKIP_TIME, SKIP_NOT_FINITE, SKIP_VARIANCE, SKIP_CHANNEL, SKIP__COUNT };

typedef struct twinsrc_stats {
    uint64_t messages, states_emitted, stale_epoch, stale_state, duplicate, lost,
        unknown_contract, contract_refused, bad_message, rebirth_requests, peer_lost,
        peer_stopped, ring_full, unconfirmed, time_refused;
    uint64_t records, skipped[SKIP__COUNT]; /* a stream's */
} twinsrc_stats;

typedef struct twinsrc {
    dt_source_ctx *ctx;
    const dt_bus_engine_ops *eng;
    void *es; /* the twin's bus engine */
    dt_allocator alloc;
    char realm[DT__BUS_NAME_MAX + 1], twin[DT__BUS_NAME_MAX + 1], group[DT__BUS_NAME_MAX + 1];
    int stream; /* group names a sample stream, not a belief group */
    dt_fuse_mode criterion; /* a belief's CI criterion (unless the contract says independent) */
    char rebirth_topic[DT__BUS_TOPIC_MAX];
    uint32_t epoch; /* the current epoch: of the last "ready", or newer from a message */
    uint32_t contract; /* the version the mapping was checked against; 0 none */
    int contract_ok;
    int quiet; /* a refusal of the same version again: counted, not logged */
    int have_seq, confirmed, have_cand, have_prev;
    uint64_t last_seq, cand_seq, prev_seq; /* prev: the last of the previous epoch */
    dt_time last_rebirth;
    int peer_state; /* 0 unknown, 1 ready, 2 lost, 3 stopped */
    size_t n;                                /* states in the group */
    int where[DT__BUS_PEER_STATES];          /* mapping i -> state index (stream: channel) */
    double mean[DT_BUSWIRE_MAX_STATES], P[DT_BUSWIRE_MAX_STATES * DT_BUSWIRE_MAX_STATES];
    dt__bus_peer_contract pc;
    twinsrc_stats st;
} twinsrc;

static int name_member(dt_source_ctx *ctx, const dt_config *cfg, const char *key, int required,
                       const char *def, char *out)
{
    const dt_config *v = dt_config_get(cfg, key);
    const char *s = NULL;
    if (v == NULL && !required && def != NULL)
        s = def;
    else if (v == NULL || dt_config_string(v, &s) != DT_OK || s == NULL) {
        dt_source_error(ctx, "%s: required, a name (1..64 of A-Z a-z 0-9 _ -)", key);
        return DT_EINVAL;
    }
    if (!dt__bus_name_ok(s)) {
        dt_source_error(ctx, "%s: \"%s\" is no name (1..64 of A-Z a-z 0-9 _ -)", key, s);
        return DT_EINVAL;
    }
    memcpy(out, s, strlen(s) + 1);
    return DT_OK;
}

static int config(twinsrc *s, dt_source_ctx *ctx, const dt_config *cfg, const char *own_realm)
{
    int rc = name_member(ctx, cfg, "twin", 1, NULL, s->twin);
    if (rc == DT_OK)
        rc = name_member(ctx, cfg, "realm", 0, own_realm ? own_realm : "", s->realm);
    if (rc != DT_OK)
        return rc;
    int belief = dt_config_get(cfg, "belief") != NULL, stream = dt_config_get(cfg, "stream") != NULL;
    if (belief == stream) {
        dt_source_error(ctx, belief ? "belief and stream: give one of them, not both (a "
                                      "belief group, or a sample stream of the publisher)"
                                    : "belief or stream: required, the name of a belief "
                                      "group or of a sample stream of the publisher");
        return DT_EINVAL;
    }
    s->stream = stream;
    rc = name_member(ctx, cfg, stream ? "stream" : "belief", 1, NULL, s->group);
    if (rc != DT_OK)
        return rc;
    s->criterion = DT_FUSE_CI_TRACE;
    const dt_config *cr = dt_config_get(cfg, "criterion");
    if (cr != NULL) {
        const char *c = NULL;
        if (stream || dt_config_string(cr, &c) != DT_OK || c == NULL ||
            (strcmp(c, "trace") != 0 && strcmp(c, "det") != 0)) {
            dt_source_error(ctx, "criterion: \"trace\" or \"det\" (covariance intersection's "
                                 "weight minimises the fused covariance's trace or determinant), "
                                 "for a belief only");
            return DT_EINVAL;
        }
        s->criterion = strcmp(c, "det") == 0 ? DT_FUSE_CI_DET : DT_FUSE_CI_TRACE;
    }
    if (!stream && dt_source_mapping_count(ctx) > DT_REMOTE_MAPPED_MAX) {
        dt_source_error(ctx, "mapping: at most %d entries for a belief (states fused), got %zu",
                        DT_REMOTE_MAPPED_MAX, dt_source_mapping_count(ctx));
        return DT_EINVAL;
    }
    if (dt_config_get(cfg, "clock") == NULL) {
        /* the publisher's time base is its own: never assume it is ours */
        dt_source_error(ctx, "clock: required for a twin source: {\"mode\": \"estimate\"} (the "
                             "publisher's times are on its own time base), or a fixed clock "
                             "when both twins share one");
        return DT_EINVAL;
    }
    if (dt_source_mapping_count(ctx) > DT__BUS_PEER_STATES) {
        dt_source_error(ctx, "mapping: at most %d entries for a twin source, got %zu",
                        DT__BUS_PEER_STATES, dt_source_mapping_count(ctx));
        return DT_EINVAL;
    }
    for (size_t i = 0; i < dt_source_mapping_count(ctx); i++)
        if (dt_source_mapping(ctx, i)->native == NULL) {
            dt_source_error(ctx, "mapping[%zu]: \"native\" names the publisher's %s (its "
                                 "signal id in the contract)",
                            i, stream ? "signal in the stream" : "state");
            return DT_EINVAL;
        }
    return DT_OK;
}

/* The contract against the mapping: every mapped state in the group, with
 * the unit the mapping converts from. */
/* A contract the mapping cannot take: said on the source (its error) and
 * logged, once per contract version. */
static void refuse(twinsrc *s, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    if (vsnprintf(msg, sizeof msg, fmt, ap) < 0)
        msg[0] = '\0';
    va_end(ap);
    dt_source_error(s->ctx, "%s", msg);
    if (s->quiet) /* the same refusal again (a contract re-sent unchanged) */
        return;
    dt_source_log(s->ctx, DT_LOG_ERROR,
                  "%s; its messages are dropped until a contract that agrees "
                  "(contract_refused)",
                  msg);
}

static void check_contract(twinsrc *s)
{
    const char *what = s->stream ? "stream" : "group";
    s->contract_ok = s->pc.has_group;
    if (!s->contract_ok) {
        refuse(s, "%s/%s: its contract (version %u) has no %s \"%s\"", s->realm,
                        s->twin, (unsigned)s->pc.version,
                        s->stream ? "sample stream" : "belief group", s->group);
        s->st.contract_refused++;
        return;
    }
    s->n = s->pc.n;
    if (!s->stream && !s->pc.has_model) {
        refuse(s, "%s/%s: group \"%s\" of contract %u has %zu states; a twin fuses groups of at "
                  "most %d",
               s->realm, s->twin, s->group, (unsigned)s->pc.version, s->pc.n,
               DT_REMOTE_STATES_MAX);
        s->contract_ok = 0;
        s->st.contract_refused++;
        return;
    }
    const dt_model *model = dt_source_model(s->ctx);
    for (size_t i = 0; i < dt_source_mapping_count(s->ctx) && s->contract_ok; i++) {
        const dt_mapping *m = dt_source_mapping(s->ctx, i);
        s->where[i] = -1;
        for (size_t k = 0; k < s->pc.n; k++)
            if (strcmp(s->pc.state[k].signal, m->native) == 0)
                s->where[i] = (int)k;
        if (s->where[i] < 0) {
            refuse(s, "%s/%s: %s \"%s\" of contract %u has no %s %s", s->realm,
                            s->twin, what, s->group, (unsigned)s->pc.version,
                            s->stream ? "signal" : "state", m->native);
            s->contract_ok = 0;
            break;
        }
        dt_unit from;
        double a = 0, b = 0;
        const dt_signal_info *si = dt_model_signal(model, m->signal);
        if (dt_unit_parse(s->pc.state[s->where[i]].unit, &from) != DT_OK ||
            dt_unit_conversion(&from, &si->unit, &a, &b) != DT_OK || a != m->scale ||
            b != m->offset) {
            refuse(s,
                            "%s/%s: %s is in \"%s\" by its contract, which the mapping to %s "
                            "does not convert from (give that unit in the mapping)",
                            s->realm, s->twin, m->native, s->pc.state[s->where[i]].unit, si->id);
            s->contract_ok = 0;
            break;
        }
        const char *sem = s->pc.state[s->where[i]].semantic_id;
        if (sem[0] != '\0' && si->semantic_id != NULL && si->semantic_id[0] != '\0' &&
            strcmp(sem, si->semantic_id) != 0) {
            refuse(s,
                            "%s/%s: %s has semantic id \"%s\" by its contract, %s has \"%s\": "
                            "not the same quantity",
                            s->realm, s->twin, m->native, sem, si->id, si->semantic_id);
            s->contract_ok = 0;
        }
    }
    if (!s->contract_ok)
        s->st.contract_refused++;
}

static void ask_rebirth(twinsrc *s, dt_time now)
{
    if (s->st.rebirth_requests > 0 && now - s->last_rebirth < DT_NS_PER_S)
        return;
    s->last_rebirth = now;
    if (s->eng->publish(s->es, s->rebirth_topic, "1", 1, DT_BUS_BEST_EFFORT, 0) == DT_OK)
        s->st.rebirth_requests++;
}

/* A new epoch of the publisher: its numbers are taken afresh; the last one
 * of the old epoch is kept to count what the reconnect lost. */
static void new_epoch(twinsrc *s)
{
    if (s->have_seq) {
        s->prev_seq = s->last_seq;
        s->have_prev = 1;
    }
    s->have_seq = 0;
    s->have_cand = 0;
}

static void on_state(void *user, const char *topic, const uint8_t *p, size_t len, dt_time now)
{
    (void)topic, (void)now;
    twinsrc *s = user;
    dt__bus_peer_state ps;
    if (dt__bus_state_parse((const char *)p, len, &s->alloc, &ps) != DT_OK) {
        s->st.bad_message++;
        dt_source_count(s->ctx, DT_EV_MALFORMED, 1);
        return;
    }
    /* ready and init: the publisher's own announcement of its connection */
    int ready = strcmp(ps.state, "ready") == 0 || strcmp(ps.state, "init") == 0;
    if (ps.epoch < s->epoch && !ready) {
        s->st.stale_state++; /* a last will of an older connection, or a late retained copy */
        return;
    }
    if (ps.epoch != s->epoch) {
        s->epoch = ps.epoch;
        new_epoch(s);
    } else if (ready && (s->peer_state == 2 || s->peer_state == 3)) {
        /* announced again after a will or a stop in the same epoch: a new
         * connection (a process restarted within the second, or one whose
         * epoch had run ahead): its numbers are taken afresh */
        new_epoch(s);
    }
    int was = s->peer_state;
    s->peer_state = strcmp(ps.state, "ready") == 0 ? 1 : strcmp(ps.state, "lost") == 0 ? 2
                    : strcmp(ps.state, "stopped") == 0 ? 3
                                                       : 0;
    if (s->peer_state == 2 && was != 2) {
        s->st.peer_lost++;
        dt_source_log(s->ctx, DT_LOG_WARN, "%s/%s: lost (epoch %u): its beliefs age from now",
                      s->realm, s->twin, (unsigned)ps.epoch);
    }
    if (s->peer_state == 3 && was != 3)
        s->st.peer_stopped++;
}

static void on_contract(void *user, const char *topic, const uint8_t *p, size_t len,
                        dt_time now)
{
    (void)topic, (void)now;
    twinsrc *s = user;
    int rc = s->stream
                 ? dt__bus_contract_parse_stream((const char *)p, len, &s->alloc, s->group, &s->pc)
                 : dt__bus_contract_parse((const char *)p, len, &s->alloc, s->group, &s->pc);
    if (rc != DT_OK) {
        s->st.bad_message++;
        dt_source_count(s->ctx, DT_EV_MALFORMED, 1);
        return;
    }
    /* every contract is checked, one of the version already held too: its
     * text may differ (a forger's, under the checked version's number) */
    s->quiet = s->pc.version == s->contract && !s->contract_ok;
    s->contract = s->pc.version;
    check_contract(s);
    s->quiet = 0;
}

/* The rules a message of the publisher passes before it is read, the same
 * for beliefs and sample batches: its epoch (an older one is stale and asks
 * for a rebirth), its contract version (the one checked, else dropped and a
 * rebirth asked for), its seq (a repeat dropped, a gap counted lost, a far
 * jump waiting for a second message to confirm it). 1: take it. */
static int take(twinsrc *s, const dt_buswire_header *h, dt_time now)
{
    if (h->epoch < s->epoch) {
        /* from a connection the publisher has replaced; or the current epoch
         * was forged: the rebirth's "ready" says which */
        s->st.stale_epoch++;
        ask_rebirth(s, now);
        return 0;
    }
    if (h->contract != s->contract || !s->contract_ok) {
        /* a version not held, or one refused: the publisher's own contract
         * is asked for again (a forged one may have replaced it) */
        s->st.unknown_contract++;
        ask_rebirth(s, now);
        return 0;
    }
    if (h->epoch > s->epoch) {
        s->epoch = h->epoch;
        new_epoch(s);
    }
    if (!s->have_seq && s->have_prev) {
        /* the first of a new epoch: numbers continue across the publisher's
         * reconnects (those between are lost), and start at 1 in a new
         * process (those before are lost); a gap of 64 or more is not
         * counted (a forged number could inflate it) */
        uint64_t gap = h->seq > s->prev_seq ? h->seq - s->prev_seq - 1 : h->seq - 1;
        s->have_prev = 0;
        if (h->seq > 0 && gap > 0 && gap < SEQ_JUMP) {
            s->st.lost += gap;
            dt_source_count(s->ctx, DT_EV_LOST, (int64_t)gap);
        }
    }
    if (s->have_seq) {
        uint64_t ahead = h->seq - s->last_seq; /* modulo 2^64 */
        if (ahead == 0 || (ahead >= UINT64_C(1) << 63 && s->confirmed)) {
            s->st.duplicate++;
            dt_source_count(s->ctx, DT_EV_DUPLICATE, 1);
            return 0;
        }
        if (ahead >= SEQ_JUMP) { /* far ahead, or behind a first belief */
            uint64_t step = h->seq - s->cand_seq;
            if (!s->have_cand || step == 0 || step >= SEQ_JUMP) {
                s->have_cand = 1;
                s->cand_seq = h->seq;
                s->st.unconfirmed++;
                dt_source_count(s->ctx, DT_EV_REFUSED, 1);
                return 0;
            }
            /* confirmed: lost are those between the two (the candidate is
             * counted unconfirmed), and for a jump ahead of a confirmed seq
             * those before the candidate too (two forged beliefs in a row
             * can inflate that: no authentication yet); behind a first
             * belief, nothing before is known */
            ahead = ahead < UINT64_C(1) << 63 && s->confirmed
                        ? (s->cand_seq - s->last_seq) + step - 1
                        : step;
        }
        if (ahead > 1) {
            s->st.lost += ahead - 1;
            dt_source_count(s->ctx, DT_EV_LOST, (int64_t)(ahead - 1));
        }
    }
    s->confirmed = s->have_seq;
    s->have_seq = 1;
    s->have_cand = 0;
    s->last_seq = h->seq;
    return 1;
}

static void on_belief(void *user, const char *topic, const uint8_t *p, size_t len, dt_time now)
{
    (void)topic;
    twinsrc *s = user;
    s->st.messages++;
    dt_buswire_header h;
    dt_time tv = 0;
    size_t n = 0;
    dt_buswire_error e =
        dt_buswire_decode_belief(p, len, &h, &tv, &n, s->mean, s->P, DT_BUSWIRE_MAX_STATES);
    if (e != DT_BUSWIRE_OK) {
        s->st.bad_message++;
        dt_source_count(s->ctx, DT_EV_MALFORMED, 1);
        return;
    }
    if (!take(s, &h, now))
        return;
    if (n != s->n) {
        s->st.bad_message++;
        dt_source_count(s->ctx, DT_EV_MALFORMED, 1);
        return;
    }
    size_t nmap = dt_source_mapping_count(s->ctx);
    uint32_t index[DT_REMOTE_MAPPED_MAX], signal[DT_REMOTE_MAPPED_MAX];
    double scale[DT_REMOTE_MAPPED_MAX], offset[DT_REMOTE_MAPPED_MAX];
    for (size_t i = 0; i < nmap; i++) {
        const dt_mapping *m = dt_source_mapping(s->ctx, i);
        index[i] = (uint32_t)s->where[i];
        signal[i] = m->signal;
        scale[i] = m->scale;
        offset[i] = m->offset;
    }
    /* the group as its publisher holds it, with its model for the ageing;
     * the time on the publisher's clock (the source's clock maps it) */
    dt_time td = tv, ts = tv;
    (void)dt_buswire_belief_times(p, len, &td, &ts); /* checked by the decoder */
    dt_remote_belief b = {n,      s->mean, s->P,   s->pc.A, s->pc.Q, tv, nmap, index,
                          signal, scale,   offset,
                          s->pc.independent ? DT_FUSE_INDEPENDENT : s->criterion, td, ts};
    int rc = dt_source_offer_belief(s->ctx, &b, now);
    if (rc == DT_OK) {
        s->st.states_emitted++;
    } else {
        s->st.time_refused++;
        dt_source_count(s->ctx, DT_EV_REFUSED, 1);
    }
}

/* A record's reason as a skip counter (a record reason of the codec). */
static int skip_of(dt_buswire_error e)
{
    switch (e) {
    case DT_BUSWIRE_BAD_FLAGS: return SKIP_FLAGS;
    case DT_BUSWIRE_BAD_TIME: return SKIP_TIME;
    case DT_BUSWIRE_NOT_FINITE: return SKIP_NOT_FINITE;
    default: return SKIP_VARIANCE;
    }
}

/* A batch of the stream's samples: checked whole (header, type, then the
 * epoch, contract and seq rules as a belief), then each record on its own: one
 * that fails the codec's checks, or whose channel is past the stream's
 * signals, is skipped and counted; a record of a mapped signal is a sample
 * at its time on the publisher's base (the source's clock maps it). */
static void on_samples(void *user, const char *topic, const uint8_t *p, size_t len, dt_time now)
{
    (void)topic;
    twinsrc *s = user;
    s->st.messages++;
    dt_buswire_header h;
    dt_buswire_error e = dt_buswire_decode_header(p, len, &h);
    if (e == DT_BUSWIRE_OK && h.type != DT_BUSWIRE_SAMPLES)
        e = DT_BUSWIRE_BAD_TYPE;
    if (e != DT_BUSWIRE_OK) {
        s->st.bad_message++;
        dt_source_count(s->ctx, DT_EV_MALFORMED, 1);
        return;
    }
    if (!take(s, &h, now))
        return;
    size_t nmap = dt_source_mapping_count(s->ctx);
    for (size_t i = 0; i < h.count; i++) {
        dt_buswire_sample r;
        e = dt_buswire_sample_at(p, len, i, &r);
        int skip = e != DT_BUSWIRE_OK ? skip_of(e) : r.channel >= s->n ? SKIP_CHANNEL : -1;
        if (skip >= 0) {
            s->st.skipped[skip]++;
            dt_source_count(s->ctx, DT_EV_MALFORMED, 1);
            continue;
        }
        s->st.records++;
        for (size_t j = 0; j < nmap; j++) {
            if (s->where[j] != (int)r.channel)
                continue;
            const dt_mapping *m = dt_source_mapping(s->ctx, j);
            dt_sample smp;
            memset(&smp, 0, sizeof smp);
            smp.signal = m->signal;
            smp.flags = ((r.flags & DT_BUSWIRE_F_VARIANCE) ? DT_SAMPLE_HAS_VARIANCE : 0) |
                        ((r.flags & DT_BUSWIRE_F_UNCERTAIN) ? DT_SAMPLE_UNCERTAIN : 0);
            smp.t_source = r.t_source;
            smp.t_arrival = now;
            smp.value = r.value * m->scale + m->offset;
            smp.variance = (r.flags & DT_BUSWIRE_F_VARIANCE) ? r.variance * m->scale * m->scale
                                                            : 0;
            if (dt_source_push(s->ctx, &smp) != DT_OK) {
                s->st.ring_full++;
                continue;
            }
            s->st.states_emitted++;
        }
    }
}

static int subscribe(twinsrc *s, const char *rest, dt_bus_message_fn fn, int qos)
{
    char topic[DT__BUS_TOPIC_MAX];
    int rc = dt__bus_topic(topic, sizeof topic, s->realm, s->twin, rest);
    return rc == DT_OK ? s->eng->subscribe(s->es, topic, qos ? DT_BUS_RELIABLE : DT_BUS_BEST_EFFORT,
                                         fn, s)
                       : rc;
}

static int open_common(twinsrc *s, dt_source_ctx *ctx, const dt_config *cfg)
{
    dt_io *io = dt__source_io(ctx);
    if (!dt__io_bus_declared(io)) {
        dt_source_error(ctx, "kind \"twin\" reads through the bus: the description needs a "
                             "\"bus\" section");
        return DT_EINVAL;
    }
    return config(s, ctx, cfg, dt__bus_realm(io));
}

static int twinsrc_validate(dt_source_ctx *ctx, const dt_config *cfg)
{
    twinsrc *s = dt__calloc(dt_source_allocator(ctx), 1, sizeof *s);
    if (s == NULL)
        return DT_ENOMEM;
    int rc = open_common(s, ctx, cfg);
    dt__free(dt_source_allocator(ctx), s);
    return rc;
}

static int twinsrc_open(void *self, dt_source_ctx *ctx, const dt_config *cfg)
{
    twinsrc *s = self;
    s->ctx = ctx;
    s->alloc = *dt_source_allocator(ctx);
    int rc = open_common(s, ctx, cfg);
    if (rc != DT_OK)
        return rc;
    if (dt__bus_engine(dt__source_io(ctx), &s->eng, &s->es) != DT_OK) {
        dt_source_error(ctx, "the bus has no connection");
        return DT_ESTATE;
    }
    if (!s->stream && (rc = dt_source_reserve_beliefs(ctx, DT_SOURCE_BELIEFS_ONLY)) != DT_OK)
        return rc;
    char rest[DT__BUS_TOPIC_MAX];
    (void)snprintf(rest, sizeof rest, "%s/%s", s->stream ? "s" : "b", s->group);
    rc = dt__bus_topic(s->rebirth_topic, sizeof s->rebirth_topic, s->realm, s->twin,
                       "ctl/rebirth");
    if (rc == DT_OK)
        rc = subscribe(s, "$state", on_state, 1);
    if (rc == DT_OK)
        rc = subscribe(s, "$contract", on_contract, 1);
    if (rc == DT_OK)
        rc = subscribe(s, rest, s->stream ? on_samples : on_belief, 0);
    if (rc != DT_OK)
        dt_source_error(ctx, "cannot subscribe to %s/%s: %s", s->realm, s->twin,
                        dt_strerror(rc));
    return rc;
}

static size_t twinsrc_counters(const void *self, dt_counter *out, size_t max)
{
    const twinsrc *s = self;
    const twinsrc_stats *t = &s->st;
    const dt_counter c[] = {
        {"messages", t->messages},
        {s->stream ? "samples_emitted" : "beliefs_offered", t->states_emitted},
        {"stale_epoch", t->stale_epoch},
        {"stale_state", t->stale_state},
        {"duplicate", t->duplicate},
        {"lost", t->lost},
        {"unknown_contract", t->unknown_contract},
        {"contract_refused", t->contract_refused},
        {"bad_message", t->bad_message},
        {"rebirth_requests", t->rebirth_requests},
        {"peer_lost", t->peer_lost},
        {"peer_stopped", t->peer_stopped},
        {"ring_full", t->ring_full},
        {"unconfirmed", t->unconfirmed},
        {"time_refused", t->time_refused},
        /* a stream's only: valid records, and records skipped by reason */
        {"records", t->records},
        {"skipped_bad_flags", t->skipped[SKIP_FLAGS]},
        {"skipped_bad_time", t->skipped[SKIP_TIME]},
        {"skipped_not_finite", t->skipped[SKIP_NOT_FINITE]},
        {"skipped_bad_variance", t->skipped[SKIP_VARIANCE]},
        {"skipped_bad_channel", t->skipped[SKIP_CHANNEL]},
    };
    size_t n = sizeof c / sizeof c[0];
    return dt__counters_copy(out, max, c, s->stream ? n : n - 6);
}

const dt_source_ops dt__twin_source_ops = {
    .abi = DT_SOURCE_ABI,
    .kind = "twin",
    .instance_size = sizeof(twinsrc),
    .keys = twinsrc_keys,
    .open = twinsrc_open,
    .validate = twinsrc_validate,
    .counters = twinsrc_counters,
};
