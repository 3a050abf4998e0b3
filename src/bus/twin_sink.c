/* The "twin" sink: commands for another twin, published over the bus on its
 * command topics, dt/v1/{realm}/{target}/cmd/{signal}/{issuer}, and their
 * outcomes read back from its acks on dt/v1/{realm}/{target}/ack/{issuer}
 * (docs/bus.md, "Commanding another twin"; the messages: docs/wire.md).
 *
 * apply publishes one command message at once (QoS 1, never retained) and
 * never waits: while the connection is down it fails, and the dispatcher
 * counts a sink error; nothing is queued to be sent late. Each topic's
 * message numbers start at 1 in every epoch of the issuer's connection and
 * advance by one per message published, so a receiver never sees a gap.
 * A command published waits in a fixed table (allocated at open) for its
 * ack: applied (the target's dispatcher sent it, status 0) is reported with
 * dt_sink_report; any other outcome, and an ack that has not come by the
 * command's deadline plus a grace (on the issuer's time base), is counted
 * and logged. Acks are checked as the receiver checks commands: retained
 * ones refused, a header of an older epoch or a seq not above the last of
 * its epoch refused, records decoded one by one. Nothing allocates after
 * open. */
#include <string.h>

#include "../adapters/adapters_internal.h"
#include "../desc/desc.h"
#include "../platform/internal.h"
#include "bus.h"
#include "bus_internal.h"
#include "mqtt_adapt.h"
#ifdef DTWIN_WITH_MQTT
#include "mqtt.h"
#endif

/* Commands awaiting their ack */
#define PENDING 256
/* The most an ack may come after a command's deadline, by default, and at
 * most (s): the receiver's deadline runs from the command's arrival, and the
 * ack comes back through the broker */
#define GRACE_DEFAULT_S 1.0
#define GRACE_MAX_S 3600.0
/* An ack 64 or more ahead of the last (or opening an epoch at 64 or more) */
#define SEQ_JUMP 64

static const char *const twinsnk_keys[] = {"twin", "realm", "ack_grace", "sign", "mac", NULL};

/* One commanded signal of the target: its topic and the numbers of the
 * messages published on it. */
typedef struct tk_topic {
    char topic[DT__BUS_TOPIC_MAX];
    unsigned char address[DT_CMDAUTH_ADDRESS_BYTES]; /* signed commands: the target's signal */
    uint32_t epoch; /* of the issuer's connection the numbers count in */
    uint64_t seq;   /* the last published in that epoch; 0 none */
} tk_topic;

/* A command published, awaiting its ack; seq 0: a free slot. */
typedef struct tk_pending {
    uint64_t seq;
    dt_time expires; /* its deadline plus the grace */
    double value;    /* in the signal's unit: what an applied ack reports */
    dt_signal_id sig;
    int mid; /* the publish's message id, for the broker's answer */
} tk_pending;

typedef struct tk_stats {
    uint64_t published, not_connected, publish_errors, expired, pending_full, not_encodable;
    uint64_t denied, puback_failed;
    uint64_t ack_messages, acks_applied, acks_altered, acks_failed, ack_unknown, ack_missing;
    uint64_t ack_retained, ack_stale_epoch, ack_duplicate, ack_malformed;
    uint64_t ack_future_epoch, ack_seq_jump;
    uint64_t ack_bad[DT_BUSWIRE__COUNT];
} tk_stats;

typedef struct twinsnk {
    dt_sink_ctx *ctx;
    dt_io *io;
    const dt_bus_engine_ops *eng; /* the twin's bus engine; es NULL when checked only */
    void *es;
    struct dt__mqtt *mq; /* the same connection when the engine is mqtt: its answers */
    dt_allocator alloc;
    char realm[DT__BUS_NAME_MAX + 1], target[DT__BUS_NAME_MAX + 1];
    char ack_topic[DT__BUS_TOPIC_MAX];
    tk_topic *topic; /* one per mapping entry */
    size_t n;
    tk_pending *pending; /* PENDING slots */
    size_t n_pending;
    dt_time grace;
    dt_time now; /* the twin's time at the last hook: apply has none of its own */
    int have_ack;
    uint32_t ack_epoch; /* the target's, of the newest ack message taken */
    uint64_t ack_seq;   /* its seq */
    uint8_t buf[DT_BUSWIRE_HEADER + DT_BUSWIRE_COMMAND_RECORD];
    dt_key *key; /* "sign" or "mac": commands go as signed records (dtwin/cmdauth.h) */
    uint8_t rec[DT_CMDAUTH_MAX];
    char bad_name[DT_BUSWIRE__COUNT][32]; /* "ack_bad.{reason}" */
    tk_stats st;
} twinsnk;

/* ---- the outcomes ---- */

static tk_pending *pending_find(twinsnk *s, uint64_t seq)
{
    for (size_t i = 0; s->n_pending > 0 && i < PENDING; i++)
        if (s->pending[i].seq == seq)
            return &s->pending[i];
    return NULL;
}

static void pending_drop(twinsnk *s, tk_pending *p)
{
    p->seq = 0;
    s->n_pending--;
}

#ifdef DTWIN_WITH_MQTT
static void on_puback(void *user, int mid, int reason)
{
    twinsnk *s = user;
    if (reason < 0x80)
        return; /* 0, or 0x10 no subscriber: with the broker; the ack tells the rest */
    uint64_t n = reason == 0x87 ? ++s->st.denied : ++s->st.puback_failed;
    uint64_t seq = 0;
    for (size_t i = 0; s->n_pending > 0 && i < PENDING && seq == 0; i++)
        if (s->pending[i].seq != 0 && s->pending[i].mid == mid) {
            seq = s->pending[i].seq;
            pending_drop(s, &s->pending[i]); /* no ack will come */
        }
    if (dt__mqtt_log_now(n))
        dt_sink_log(s->ctx, DT_LOG_ERROR,
                    "%s/%s: the broker refused command %llu (PUBACK 0x%02x%s): the twin does "
                    "not get it (%llu so far)",
                    s->realm, s->target, (unsigned long long)seq, (unsigned)reason,
                    reason == 0x87 ? " not authorized" : "", (unsigned long long)n);
}
#endif

static void ack_bad(twinsnk *s, dt_buswire_error e)
{
    uint64_t n = ++s->st.ack_malformed;
    s->st.ack_bad[(size_t)e < DT_BUSWIRE__COUNT ? (size_t)e : 0]++;
    if (dt__mqtt_log_now(n))
        dt_sink_log(s->ctx, DT_LOG_WARN, "%s: an ack refused: %s (%llu so far)", s->ack_topic,
                    dt_buswire_error_name(e), (unsigned long long)n);
}

static void ack_record(twinsnk *s, const dt_buswire_ack *r, dt_time now)
{
    tk_pending *p = pending_find(s, r->seq);
    if (p == NULL || r->seq == 0) {
        /* an ack of a command given up (missing, refused by the broker), of
         * an earlier run, or of nothing this sink published */
        s->st.ack_unknown++;
        return;
    }
    if ((r->decision & DT_DISP_SENT) != 0 && r->status == 0) {
        /* the value commanded: the ack does not say what a clamp, a rate
         * limit or an interlock of the target made of it */
        (void)dt_sink_report(s->ctx, p->sig, p->seq, p->value, now); /* checked at apply */
        s->st.acks_applied++;
        if ((r->decision & ~DT_DISP_SENT) != 0)
            s->st.acks_altered++;
    } else {
        uint64_t n = ++s->st.acks_failed;
        if (dt__mqtt_log_now(n))
            dt_sink_log(s->ctx, DT_LOG_WARN,
                        "%s/%s: command %llu not applied: decision 0x%02x, status %s (%llu "
                        "so far)",
                        s->realm, s->target, (unsigned long long)p->seq,
                        (unsigned)r->decision, r->status != 0 ? dt_err_name(r->status) : "0",
                        (unsigned long long)n);
    }
    pending_drop(s, p);
}

static void on_ack(void *user, const char *topic, const uint8_t *p, size_t len, dt_time now)
{
    (void)topic; /* the one subscribed: no wildcard */
    twinsnk *s = user;
    s->now = now;
    s->st.ack_messages++;
    if (s->eng->message_retained(s->es)) {
        /* the broker's stored copy, from before: it answers nothing of now */
        s->st.ack_retained++;
        return;
    }
    dt_buswire_header h;
    dt_buswire_error e = dt_buswire_decode_header(p, len, &h);
    if (e == DT_BUSWIRE_OK && h.type != DT_BUSWIRE_ACKS)
        e = DT_BUSWIRE_BAD_TYPE;
    if (e != DT_BUSWIRE_OK) {
        ack_bad(s, e);
        return;
    }
    if (s->have_ack && h.epoch < s->ack_epoch) {
        s->st.ack_stale_epoch++;
        return;
    }
    if (s->have_ack && h.epoch == s->ack_epoch && h.seq <= s->ack_seq) {
        s->st.ack_duplicate++; /* a QoS 1 redelivery, a replay */
        return;
    }
    /* as the receiver's rules for commands: no single forged ack may lock
     * the real ones out, so a new epoch must be plausible (not past the
     * wall clock by more than a receiver allows) and start below 64, and
     * numbers may not jump by 64 or more */
    int same = s->have_ack && h.epoch == s->ack_epoch;
    if (!same && !dt__bus_epoch_plausible(h.epoch)) {
        s->st.ack_future_epoch++;
        return;
    }
    if (same ? h.seq - s->ack_seq >= SEQ_JUMP : (h.seq == 0 || h.seq >= SEQ_JUMP)) {
        s->st.ack_seq_jump++;
        return;
    }
    s->have_ack = 1;
    s->ack_epoch = h.epoch;
    s->ack_seq = h.seq;
    for (size_t i = 0; i < h.count; i++) {
        dt_buswire_ack r;
        e = dt_buswire_ack_at(p, len, i, &r);
        if (e != DT_BUSWIRE_OK)
            ack_bad(s, e);
        else
            ack_record(s, &r, now);
    }
}

/* Gives up on the commands whose ack is overdue. */
static void expire(twinsnk *s, dt_time now)
{
    s->now = now;
    for (size_t i = 0; s->n_pending > 0 && i < PENDING; i++) {
        tk_pending *p = &s->pending[i];
        if (p->seq == 0 || now <= p->expires)
            continue;
        uint64_t n = ++s->st.ack_missing;
        if (dt__mqtt_log_now(n))
            dt_sink_log(s->ctx, DT_LOG_WARN,
                        "%s/%s: no ack for command %llu by its deadline plus %g s: given up "
                        "(%llu so far)",
                        s->realm, s->target, (unsigned long long)p->seq,
                        dt_time_to_sec(s->grace), (unsigned long long)n);
        pending_drop(s, p);
    }
}

static int twinsnk_poll(void *self, dt_time now)
{
    twinsnk *s = self;
    expire(s, now);
    return DT_OK;
}

static dt_time twinsnk_wake_at(const void *self)
{
    const twinsnk *s = self;
    dt_time t = DT_TIME_MAX;
    for (size_t i = 0; s->n_pending > 0 && i < PENDING; i++)
        if (s->pending[i].seq != 0 && s->pending[i].expires < t)
            t = s->pending[i].expires + 1; /* overdue after it */
    return t;
}

static void twinsnk_wake(void *self, dt_time now) { expire(self, now); }

/* ---- apply ---- */

static dt_time clamp_time(dt_time t)
{
    return t > DT_TIME_LIMIT ? DT_TIME_LIMIT : t < -DT_TIME_LIMIT ? -DT_TIME_LIMIT : t;
}

static int twinsnk_apply(void *self, const dt_command *cmd, const dt_mapping *map)
{
    twinsnk *s = self;
    size_t i = (size_t)(map - dt_sink_mapping(s->ctx, 0));
    if (i >= s->n || s->es == NULL)
        return DT_EINVAL;
    tk_topic *tp = &s->topic[i];
    if (s->now > cmd->t_deadline) {
        s->st.expired++; /* late already: the target would only refuse it */
        return DT_ETIMEOUT;
    }
    if (!s->eng->connected(s->es)) {
        uint64_t n = ++s->st.not_connected;
        if (dt__mqtt_log_now(n))
            dt_sink_log(s->ctx, DT_LOG_WARN,
                        "%s: the broker connection is down: command %llu not sent (never "
                        "queued to be sent late; %llu so far)",
                        tp->topic, (unsigned long long)cmd->seq, (unsigned long long)n);
        return DT_EIO;
    }
    tk_pending *slot = NULL;
    for (size_t k = 0; k < PENDING && slot == NULL; k++)
        if (s->pending[k].seq == 0)
            slot = &s->pending[k];
    if (cmd->seq == 0) {
        s->st.not_encodable++; /* no ack could name it (a host's dt_io_apply) */
        return DT_EINVAL;
    }
    if (slot == NULL) {
        s->st.pending_full++;
        return DT_EFULL;
    }
    uint32_t epoch = dt__bus_epoch(s->io);
    if (epoch != tp->epoch) { /* numbers start again at 1 in a new epoch */
        tp->epoch = epoch;
        tp->seq = 0;
    }
    uint32_t contract = dt__bus_contract_version(s->io);
    dt_buswire_header h = {DT_BUSWIRE_VERSION, DT_BUSWIRE_COMMANDS, 1, epoch,
                           contract != 0 ? contract : 1, tp->seq + 1};
    dt_buswire_command r = {cmd->seq,
                            clamp_time(cmd->t_issued),
                            clamp_time(cmd->t_deadline),
                            cmd->value * map->scale + map->offset,
                            cmd->origin,
                            cmd->authority};
    const uint8_t *msg = s->buf;
    size_t len = 0;
    if (s->key != NULL) {
        /* signed end to end: the target's dispatcher verifies it; its times
         * are this twin's (the two share a time base) */
        dt_signed_command sc;
        memset(&sc, 0, sizeof sc);
        memcpy(sc.address, tp->address, sizeof sc.address);
        sc.epoch = epoch;
        sc.seq = cmd->seq;
        sc.t_issued = r.t_issued;
        sc.t_deadline = r.t_deadline;
        sc.value = r.value;
        if (dt_cmd_sign(s->key, &sc, s->rec, sizeof s->rec, &len) != DT_OK)
            len = 0;
        msg = s->rec;
    } else {
        len = dt_buswire_encode_commands(s->buf, sizeof s->buf, &h, &r, 1);
    }
    if (len == 0) {
        /* a value not finite in the target's unit, a deadline before the
         * issue time */
        uint64_t n = ++s->st.not_encodable;
        if (dt__mqtt_log_now(n))
            dt_sink_log(s->ctx, DT_LOG_ERROR,
                        "%s: command %llu cannot be written: %s (%llu so far)", tp->topic,
                        (unsigned long long)cmd->seq,
                        dt_buswire_error_name(dt_buswire_command_check(&r)),
                        (unsigned long long)n);
        return DT_ERANGE;
    }
    /* waiting for its ack before the publish: an engine may deliver the
     * ack from inside it */
    *slot = (tk_pending){cmd->seq,
                         cmd->t_deadline < DT_TIME_LIMIT - s->grace ? cmd->t_deadline + s->grace
                                                                    : DT_TIME_LIMIT,
                         cmd->value, cmd->signal, 0};
    s->n_pending++;
    int mid = 0, rc;
#ifdef DTWIN_WITH_MQTT
    if (s->mq != NULL) /* the broker's refusal of the publish is known at once */
        rc = dt__mqtt_publish(s->mq, tp->topic, msg, len, 1, 0, on_puback, s, &mid);
    else
#endif
        rc = s->eng->publish(s->es, tp->topic, msg, len, DT_BUS_RELIABLE, 0);
    if (rc != DT_OK) {
        if (slot->seq == cmd->seq) /* not answered meanwhile */
            pending_drop(s, slot);
        if (rc == DT_ESTATE)
            s->st.not_connected++;
        else
            s->st.publish_errors++; /* the connection logs why */
        return DT_EIO;
    }
    if (slot->seq == cmd->seq)
        slot->mid = mid;
    tp->seq++;
    s->st.published++;
    return DT_OK;
}

/* ---- configuration ---- */

static int name_member(dt_sink_ctx *ctx, const dt_config *cfg, const char *key, const char *def,
                       char *out)
{
    const dt_config *v = dt_config_get(cfg, key);
    const char *str = NULL;
    char got[64];
    if (v == NULL && def != NULL)
        str = def;
    else if (v == NULL) {
        dt_sink_error(ctx, "%s: required, a name (1..64 of A-Z a-z 0-9 _ -)", key);
        return DT_EPARSE;
    } else if (dt_config_string(v, &str) != DT_OK || str == NULL) {
        dt_sink_error(ctx, "%s: expected a name (1..64 of A-Z a-z 0-9 _ -), got %s", key,
                      dt__cfg_got(v, got, sizeof got));
        return DT_EPARSE;
    }
    if (!dt__bus_name_ok(str)) {
        dt_sink_error(ctx, "%s: \"%s\" is no name (1..64 of A-Z a-z 0-9 _ -)", key, str);
        return DT_EPARSE;
    }
    memcpy(out, str, strlen(str) + 1);
    return DT_OK;
}

/* A signal id of the target as a topic level: printable ASCII, no level
 * separator, no wildcard. */
static int level_ok(const char *s)
{
    for (const char *c = s; *c != '\0'; c++)
        if ((unsigned char)*c < 0x21 || (unsigned char)*c > 0x7e)
            return 0;
    return s[0] != '\0' && strpbrk(s, "/+#") == NULL;
}

static int config(twinsnk *s, dt_sink_ctx *ctx, const dt_config *cfg)
{
    dt_io *io = dt__sink_io(ctx);
    if (!dt__io_bus_declared(io)) {
        dt_sink_error(ctx, "kind \"twin\" commands through the bus: the description needs a "
                           "\"bus\" section");
        return DT_EPARSE;
    }
    const char *self_name = dt__bus_twin(io);
    int rc = name_member(ctx, cfg, "twin", NULL, s->target);
    if (rc == DT_OK)
        rc = name_member(ctx, cfg, "realm", dt__bus_realm(io), s->realm);
    if (rc != DT_OK)
        return rc;
    if (strcmp(s->target, self_name) == 0 && strcmp(s->realm, dt__bus_realm(io)) == 0) {
        dt_sink_error(ctx, "twin: \"%s\" is this twin itself", s->target);
        return DT_EPARSE;
    }
    double g = GRACE_DEFAULT_S;
    const dt_config *v = dt_config_get(cfg, "ack_grace");
    char got[64];
    if (v != NULL && (dt_config_number(v, &g) != DT_OK || !(g >= 0 && g <= GRACE_MAX_S))) {
        dt_sink_error(ctx, "ack_grace: a number of seconds in 0..3600, got %s",
                      dt__cfg_got(v, got, sizeof got));
        return DT_EPARSE;
    }
    s->grace = dt_time_from_sec(g);
    const dt_config *js = dt_config_get(cfg, "sign"), *jm = dt_config_get(cfg, "mac");
    if (js != NULL || jm != NULL) {
        const char *kname = NULL;
        if ((js != NULL && jm != NULL) ||
            dt_config_string(js != NULL ? js : jm, &kname) != DT_OK) {
            dt_sink_error(ctx, "%s: the name of a key in the key store (\"sign\": an Ed25519 "
                               "key, or \"mac\": a MAC key; one of them)", js ? "sign" : "mac");
            return DT_EPARSE;
        }
        rc = dt_sink_key(ctx, kname, js != NULL ? DT_KEY_SIGN : DT_KEY_MAC, &s->key);
        if (rc != DT_OK)
            return rc; /* dt_sink_key said why */
    }
    for (size_t i = 0; i < s->n; i++) {
        const dt_mapping *m = dt_sink_mapping(ctx, i);
        if (s->key != NULL && dt_cmd_address(s->target, m->native, s->topic[i].address) != DT_OK) {
            dt_sink_error(ctx, "mapping[%zu].native: \"%s\": no command address", i, m->native);
            return DT_EPARSE;
        }
        if (m->native == NULL) {
            dt_sink_error(ctx, "mapping[%zu]: \"native\" names the target's signal (its id in "
                               "its contract's accept), not a channel", i);
            return DT_EPARSE;
        }
        if (!level_ok(m->native)) {
            dt_sink_error(ctx, "mapping[%zu].native: \"%s\" is no topic level (a signal id "
                               "without '/', '+' or '#')", i, m->native);
            return DT_EPARSE;
        }
        char rest[DT__BUS_TOPIC_MAX];
        dt__fmt(rest, sizeof rest, "cmd/%s/%s", m->native, self_name);
        if (dt__bus_topic(s->topic[i].topic, sizeof s->topic[i].topic, s->realm, s->target,
                          rest) != DT_OK ||
            strlen(rest) != 5 + strlen(m->native) + strlen(self_name)) {
            dt_sink_error(ctx, "mapping[%zu].native: \"%s\": the command topic would be longer "
                               "than %d bytes", i, m->native, DT__BUS_TOPIC_MAX - 1);
            return DT_EPARSE;
        }
    }
    char rest[DT__BUS_NAME_MAX + 8];
    dt__fmt(rest, sizeof rest, "ack/%s", self_name);
    if (dt__bus_topic(s->ack_topic, sizeof s->ack_topic, s->realm, s->target, rest) != DT_OK) {
        dt_sink_error(ctx, "the ack topic would be longer than %d bytes", DT__BUS_TOPIC_MAX - 1);
        return DT_ELIMIT;
    }
    return DT_OK;
}

static void twinsnk_close(void *self)
{
    twinsnk *s = self; /* the subscription: as the mqtt source's close says */
    dt__free(&s->alloc, s->topic);
    dt__free(&s->alloc, s->pending);
    dt_key_free(s->key);
    s->topic = NULL;
    s->pending = NULL;
    s->key = NULL;
}

static int prepare(twinsnk *s, dt_sink_ctx *ctx, const dt_config *cfg, int open)
{
    s->ctx = ctx;
    s->io = dt__sink_io(ctx);
    s->alloc = *dt_sink_allocator(ctx);
    s->n = dt_sink_mapping_count(ctx);
    if (s->n == 0) {
        dt_sink_error(ctx, "mapping: at least one entry (the target's signals commanded)");
        return DT_EPARSE;
    }
    s->topic = dt__calloc(&s->alloc, s->n, sizeof *s->topic);
    s->pending = open ? dt__calloc(&s->alloc, PENDING, sizeof *s->pending) : NULL;
    if (s->topic == NULL || (open && s->pending == NULL)) {
        dt_sink_error(ctx, "out of memory");
        return DT_ENOMEM;
    }
    return config(s, ctx, cfg);
}

static int twinsnk_validate(dt_sink_ctx *ctx, const dt_config *cfg)
{
    twinsnk *s = dt__calloc(dt_sink_allocator(ctx), 1, sizeof *s);
    if (s == NULL)
        return DT_ENOMEM;
    int rc = prepare(s, ctx, cfg, 0);
    twinsnk_close(s);
    dt__free(dt_sink_allocator(ctx), s);
    return rc;
}

static int twinsnk_open(void *self, dt_sink_ctx *ctx, const dt_config *cfg)
{
    twinsnk *s = self;
    int rc = prepare(s, ctx, cfg, 1);
    /* one sink per target: the acks of its commands come on one topic, which
     * two sinks would each read as acks of commands they do not know (the
     * registry holds a copy of the table: an instance of this kind is told
     * by its apply) */
    for (size_t j = 0; rc == DT_OK && j < dt_io_sink_count(s->io); j++) {
        const twinsnk *o = dt_io_sink_instance(s->io, j);
        if (o != s && o != NULL && dt__io_sink_ops(s->io, j)->apply == twinsnk_apply &&
            o->topic != NULL && strcmp(o->realm, s->realm) == 0 &&
            strcmp(o->target, s->target) == 0) {
            dt_sink_error(ctx, "twin: sinks[%zu] (\"%s\") commands %s/%s already: one twin sink "
                               "per target (give it every signal commanded)",
                          j, dt_io_sink_id(s->io, j), s->realm, s->target);
            rc = DT_EPARSE;
        }
    }
    if (rc == DT_OK) {
        s->mq = dt__bus_mqtt(s->io);
        if (dt__bus_engine(s->io, &s->eng, &s->es) != DT_OK) {
            dt_sink_error(ctx, "the bus has no connection");
            rc = DT_ESTATE;
        }
    }
    if (rc == DT_OK) {
        for (size_t r = 0; r < DT_BUSWIRE__COUNT; r++)
            dt__fmt(s->bad_name[r], sizeof s->bad_name[r], "ack_bad.%s",
                    dt_buswire_error_name((dt_buswire_error)r));
        rc = s->eng->subscribe(s->es, s->ack_topic, DT_BUS_RELIABLE, on_ack, s);
        if (rc != DT_OK)
            dt_sink_error(ctx, "cannot subscribe to \"%s\": %s", s->ack_topic,
                          rc == DT_ELIMIT ? "the twin's bus connection has no room for more "
                                            "subscriptions"
                                          : dt_strerror(rc));
    }
    if (rc != DT_OK)
        twinsnk_close(s);
    return rc;
}

/* published + not_connected + publish_errors + expired + pending_full +
 * not_encodable = applies. Every command published ends in one of
 * acks_applied, acks_failed, ack_missing, denied or puback_failed (or is
 * pending). Every ack message is in one of ack_retained, ack_malformed (a
 * whole message), ack_stale_epoch, ack_duplicate, or its records are
 * counted: acks_applied, acks_failed, ack_unknown, or ack_malformed. */
static size_t twinsnk_counters(const void *self, dt_counter *out, size_t max)
{
    const twinsnk *s = self;
    const tk_stats *t = &s->st;
    dt_counter c[24 + DT_BUSWIRE__COUNT]; /* 22 named, then one per reason */
    size_t n = 0;
    c[n++] = (dt_counter){"published", t->published};
    c[n++] = (dt_counter){"not_connected", t->not_connected};
    c[n++] = (dt_counter){"publish_errors", t->publish_errors};
    c[n++] = (dt_counter){"expired", t->expired};
    c[n++] = (dt_counter){"pending_full", t->pending_full};
    c[n++] = (dt_counter){"not_encodable", t->not_encodable};
    c[n++] = (dt_counter){"denied", t->denied};
    c[n++] = (dt_counter){"puback_failed", t->puback_failed};
    c[n++] = (dt_counter){"pending", s->n_pending};
    c[n++] = (dt_counter){"ack_messages", t->ack_messages};
    c[n++] = (dt_counter){"acks_applied", t->acks_applied};
    c[n++] = (dt_counter){"acks_altered", t->acks_altered};
    c[n++] = (dt_counter){"acks_failed", t->acks_failed};
    c[n++] = (dt_counter){"ack_unknown", t->ack_unknown};
    c[n++] = (dt_counter){"ack_missing", t->ack_missing};
    c[n++] = (dt_counter){"ack_retained", t->ack_retained};
    c[n++] = (dt_counter){"ack_stale_epoch", t->ack_stale_epoch};
    c[n++] = (dt_counter){"ack_duplicate", t->ack_duplicate};
    c[n++] = (dt_counter){"ack_future_epoch", t->ack_future_epoch};
    c[n++] = (dt_counter){"ack_seq_jump", t->ack_seq_jump};
    c[n++] = (dt_counter){"ack_malformed", t->ack_malformed};
    for (size_t r = 1; r < DT_BUSWIRE__COUNT; r++)
        c[n++] = (dt_counter){s->bad_name[r], t->ack_bad[r]};
    return dt__counters_copy(out, max, c, n);
}

const dt_sink_ops dt__twin_sink_ops = {
    .abi = DT_SINK_ABI,
    .kind = "twin",
    .instance_size = sizeof(twinsnk),
    .keys = twinsnk_keys,
    .open = twinsnk_open,
    .apply = twinsnk_apply,
    .close = twinsnk_close,
    .validate = twinsnk_validate,
    .counters = twinsnk_counters,
    .poll = twinsnk_poll,
    .wake_at = twinsnk_wake_at,
    .wake = twinsnk_wake,
};
