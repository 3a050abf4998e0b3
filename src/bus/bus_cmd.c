/* Commands from other twins: cmd/{signal}/{issuer} in, ack/{issuer} out
 * (docs/bus.md, "Commands from other twins").
 *
 * Nothing authenticates a message yet, so the rules aim at two things: no
 * command is carried out twice or late, and no single forged message shuts
 * a real issuer out. Per issuer and signal the receiver remembers the last
 * DT__BUS_EPOCHS epochs with the newest message seq of each: a message must
 * be 1..63 ahead of its epoch's last (a new epoch starts below 64), so a
 * forged seq at its maximum is refused, not taken as the new last; a new
 * epoch must be newer than every one remembered and at most EPOCH_AHEAD
 * seconds ahead of the receiver's wall clock (epochs are wall-clock
 * seconds), so a forged epoch at its maximum is refused, and a forged newer
 * one does not make the real issuer's current epoch stale (it is still
 * remembered). An issuer takes a slot of the table only with a message that
 * passes these rules.
 *
 * Time: the issuer's clock is not the receiver's. Per epoch the receiver
 * keeps the smallest arrival - t_issued seen: the issuer's offset plus the
 * fastest transit. A command that took longer than that has lost the
 * difference from its deadline's distance; the deadline on the receiver's
 * base is arrival + (t_deadline - t_issued) - that excess. A command held
 * back (a redelivery after a reconnect, a message delayed in a bridge)
 * therefore expires as it would at the issuer. A record much faster than
 * the fastest moves the offset only when a second confirms it. The
 * distance itself is bounded by the accept's deadline_max. */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../platform/internal.h"
#include "../twin/twin_internal.h"
#include "bus.h"
#include "bus_internal.h"

#define SEQ_JUMP 64
#define EPOCH_ORIGIN 1704067200 /* as bus.c: seconds since 2024-01-01 */
#define EPOCH_AHEAD 120         /* s an issuer's epoch may run ahead of ours */
#define CLOCK_JUMP DT_NS_PER_S  /* how far below an epoch's fastest transit */

static uint32_t wall_epoch(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || ts.tv_sec <= EPOCH_ORIGIN ||
        ts.tv_sec - EPOCH_ORIGIN >= (time_t)UINT32_MAX - EPOCH_AHEAD)
        return 0;
    return (uint32_t)(ts.tv_sec - EPOCH_ORIGIN);
}

int dt__bus_owner_running(const dt__bus *b)
{
    return b->owner != NULL && b->owner->started && !b->owner->stopped;
}

int dt__bus_epoch_plausible(uint32_t epoch)
{
    uint32_t wall = wall_epoch();
    return wall != 0 && epoch <= wall + EPOCH_AHEAD;
}

/* One ack record on ack/{issuer} (QoS 1, not retained). */
static void publish_ack(dt__bus *b, size_t who, uint64_t issuer_seq, uint32_t decision,
                        int status, dt_time t)
{
    dt__bus_issuer *is = &b->issuers[who];
    dt_buswire_header h = {0};
    h.epoch = b->epoch;
    h.contract = b->contract_version != 0 ? b->contract_version : 1;
    h.seq = is->ack_seq + 1;
    dt_buswire_ack r = {issuer_seq, decision & DT_BUSWIRE_DECISIONS_KNOWN,
                        status <= 0 ? status : DT_EINVAL, t};
    size_t len = dt_buswire_encode_acks(b->buf, b->buf_cap, &h, &r, 1);
    if (len == 0 || b->es == NULL ||
        b->eng->publish(b->es, is->ack_topic, b->buf, len, DT_BUS_RELIABLE, 0) != DT_OK) {
        b->st.acks_unsent++;
        return;
    }
    is->ack_seq++;
    b->st.acks_published++;
}

/* The queued commands to the twin: called after every hook of the link
 * (outside a step, or in its Sense phase, where the twin still takes them).
 * A command past its deadline here is refused and acked expired; one the
 * twin has no room for is acked refused with DT_EFULL. */
void dt__bus_cmd_drain(dt__bus *b, dt_time now)
{
    if (b->owner != NULL && b->owner->stopped && b->n_inflight > 0) {
        /* handed over, then the twin stopped before deciding them: refused,
         * never left without an answer */
        for (size_t i = 0; i < DT__BUS_INFLIGHT; i++)
            if (b->inflight[i].twin_seq != 0) {
                b->st.cmd_stopped++;
                publish_ack(b, b->inflight[i].issuer, b->inflight[i].issuer_seq,
                            DT_DISP_REFUSED, DT_ESTATE, now);
                b->inflight[i].twin_seq = 0;
            }
        b->n_inflight = 0;
    }
    while (b->q_n > 0 && b->owner != NULL) {
        dt__bus_cmd *q = &b->queue[b->q_head];
        if (now > q->cmd.t_deadline) {
            b->st.cmd_expired++;
            if (q->rec_len != 0) /* a deadline nobody verified: no answer in anyone's name */
                b->st.acks_withheld++;
            else
                publish_ack(b, q->issuer, q->issuer_seq, DT_DISP_EXPIRED, 0, now);
        } else {
            size_t slot = DT__BUS_INFLIGHT;
            for (size_t i = 0; i < DT__BUS_INFLIGHT && slot == DT__BUS_INFLIGHT; i++)
                if (b->inflight[i].twin_seq == 0)
                    slot = i;
            uint64_t seq = 0;
            int rc = slot == DT__BUS_INFLIGHT
                         ? DT_EFULL
                         : q->rec_len != 0
                             ? dt__twin_submit_remote_signed(b->owner, q->rec, q->rec_len,
                                                             q->cmd.signal, DT_ORIGIN_REMOTE, &seq)
                             : dt__twin_submit_remote(b->owner, &q->cmd, DT_ORIGIN_REMOTE, &seq);
            if (rc == DT_ESTATE && !b->owner->stopped)
                return; /* late in a step, or not started: at the next hook */
            /* a stopped twin decides nothing more: refused and acked now,
             * never left without an answer in its pending commands */
            if (rc == DT_OK) {
                b->inflight[slot] = *q;
                b->inflight[slot].twin_seq = seq;
                b->n_inflight++;
                b->st.cmd_submitted++;
            } else {
                if (rc == DT_EFULL)
                    b->st.cmd_queue_full++;
                else
                    b->st.cmd_refused++;
                if (q->rec_len != 0 && (rc == DT_ENOTFOUND || rc == DT_EPARSE))
                    b->st.acks_withheld++; /* refused before its signature was read */
                else
                    publish_ack(b, q->issuer, q->issuer_seq, DT_DISP_REFUSED, rc, now);
            }
        }
        b->q_head = (b->q_head + 1) % DT__BUS_CMD_QUEUE;
        b->q_n--;
    }
}

/* "{signal}/{issuer}" after the cmd/ prefix: the accepted signal's index
 * (DT__BUS_ACCEPT when not accepted) and the issuer's name; 0 when the
 * topic is not of that shape. */
static int parse_topic(const dt__bus *b, const char *topic, size_t *acc, char *issuer)
{
    size_t pl = strlen(b->cmd_prefix);
    if (strncmp(topic, b->cmd_prefix, pl) != 0)
        return 0;
    const char *sig = topic + pl, *slash = strchr(sig, '/');
    if (slash == NULL || slash == sig)
        return 0;
    size_t is_len = strlen(slash + 1);
    if (is_len == 0 || is_len > DT__BUS_NAME_MAX)
        return 0;
    memcpy(issuer, slash + 1, is_len + 1);
    if (!dt__bus_name_ok(issuer))
        return 0;
    *acc = DT__BUS_ACCEPT;
    for (size_t k = 0; k < b->n_accept; k++)
        if (strlen(b->accept[k].id) == (size_t)(slash - sig) &&
            memcmp(b->accept[k].id, sig, (size_t)(slash - sig)) == 0)
            *acc = k;
    return 1;
}

/* The issuer's index; n_issuers when it has not been seen. */
static size_t issuer_find(const dt__bus *b, const char *name)
{
    for (size_t i = 0; i < b->n_issuers; i++)
        if (strcmp(b->issuers[i].name, name) == 0)
            return i;
    return b->n_issuers;
}

/* A new issuer whose first message passed the rules (its state in the
 * scratch slot): a slot of its own, for the twin's life. DT__BUS_ISSUERS
 * when the table is full. */
static size_t issuer_add(dt__bus *b, const char *name)
{
    if (b->n_issuers == DT__BUS_ISSUERS)
        return DT__BUS_ISSUERS;
    dt__bus_issuer *is = &b->issuers[b->n_issuers];
    *is = b->issuers[DT__BUS_ISSUERS];
    memcpy(is->name, name, strlen(name) + 1);
    char rest[DT__BUS_NAME_MAX + 8];
    (void)snprintf(rest, sizeof rest, "ack/%s", name);
    if (dt__bus_topic(is->ack_topic, sizeof is->ack_topic, b->realm, b->twin, rest) != DT_OK)
        return DT__BUS_ISSUERS; /* cannot happen: names are bounded */
    return b->n_issuers++;
}

/* The epoch and seq rules (the file's comment): the epoch's mark to take
 * the message into, or NULL when it is refused (counted). */
static dt__bus_epoch_mark *take_seq(dt__bus *b, dt__bus_issuer *is, size_t acc,
                                    const dt_buswire_header *h)
{
    dt__bus_epoch_mark *ep = is->on[acc].ep, *hit = NULL, *slot = NULL;
    uint32_t newest = 0;
    for (size_t i = 0; i < DT__BUS_EPOCHS; i++) {
        if (ep[i].used && ep[i].epoch == h->epoch)
            hit = &ep[i];
        if (ep[i].used && ep[i].epoch > newest)
            newest = ep[i].epoch;
        /* where a new epoch goes: a free mark, else the oldest's */
        if (slot == NULL || (slot->used && (!ep[i].used || ep[i].epoch < slot->epoch)))
            slot = &ep[i];
    }
    if (hit != NULL) {
        if (h->seq <= hit->last_seq) {
            b->st.cmd_duplicate++;
            return NULL;
        }
        if (h->seq - hit->last_seq >= SEQ_JUMP) {
            b->st.cmd_seq_jump++;
            return NULL;
        }
        return hit;
    }
    if (h->epoch <= is->on[acc].floor || h->epoch < newest) {
        b->st.cmd_stale_epoch++;
        return NULL;
    }
    if (!dt__bus_epoch_plausible(h->epoch)) {
        b->st.cmd_future_epoch++;
        return NULL;
    }
    if (h->seq == 0 || h->seq >= SEQ_JUMP) {
        b->st.cmd_seq_jump++;
        return NULL;
    }
    if (slot->used && slot->epoch > is->on[acc].floor)
        is->on[acc].floor = slot->epoch; /* forgotten: refused from now on */
    memset(slot, 0, sizeof *slot);
    slot->used = 1;
    slot->epoch = h->epoch;
    return slot;
}

static void bad(dt__bus *b, uint64_t *what, dt_buswire_error e)
{
    (*what)++;
    b->st.cmd_bad[(size_t)e < DT_BUSWIRE__COUNT ? (size_t)e : 0]++;
}

/* One valid record of a taken message: its deadline on the twin's base,
 * then queued (or refused and acked). */
static void take_record(dt__bus *b, size_t who, size_t acc, dt__bus_epoch_mark *m,
                        const dt_buswire_command *r, dt_time now)
{
    b->st.cmd_records++;
    /* every time within +-DT_TIME_LIMIT (2^62): room and off fit an int64;
     * differences of two offsets are taken unsigned, where they fit */
    dt_time room = (dt_time)(r->t_deadline - r->t_issued);
    dt_time off = now - (dt_time)r->t_issued;
    if (m->have_off && off < m->min_off &&
        (uint64_t)m->min_off - (uint64_t)off > (uint64_t)CLOCK_JUMP) {
        /* faster than the fastest by more than transit varies: the epoch's
         * first message was held back on its way (then the next confirms
         * the new offset), the issuer's clock jumped, or the time is forged
         * to make a late command look fresh. One such record is refused and
         * kept as a candidate; a second within CLOCK_JUMP of it confirms
         * it, so no single message moves the epoch's offset */
        uint64_t apart = off >= m->cand_off ? (uint64_t)off - (uint64_t)m->cand_off
                                            : (uint64_t)m->cand_off - (uint64_t)off;
        int confirmed = m->have_cand && apart <= (uint64_t)CLOCK_JUMP;
        if (!confirmed) {
            m->cand_off = off;
            m->have_cand = 1;
            b->st.cmd_clock_jump++;
            publish_ack(b, who, r->seq, DT_DISP_REFUSED, DT_ERANGE, now);
            return;
        }
        m->min_off = m->cand_off < off ? m->cand_off : off;
    }
    m->have_cand = 0;
    if (!m->have_off || off < m->min_off) {
        m->min_off = off;
        m->have_off = 1;
    }
    uint64_t late = (uint64_t)off - (uint64_t)m->min_off; /* longer than the fastest */
    if (room > b->accept[acc].deadline_max) {
        b->st.cmd_deadline_too_far++;
        publish_ack(b, who, r->seq, DT_DISP_REFUSED, DT_ERANGE, now);
        return;
    }
    if (late >= (uint64_t)room) { /* no time left to carry it out */
        b->st.cmd_expired++;
        publish_ack(b, who, r->seq, DT_DISP_EXPIRED, 0, now);
        return;
    }
    if (b->q_n == DT__BUS_CMD_QUEUE) {
        b->st.cmd_queue_full++;
        publish_ack(b, who, r->seq, DT_DISP_REFUSED, DT_EFULL, now);
        return;
    }
    dt__bus_cmd *q = &b->queue[(b->q_head + b->q_n++) % DT__BUS_CMD_QUEUE];
    memset(q, 0, sizeof *q);
    q->cmd.signal = b->accept[acc].sig;
    q->cmd.value = r->value;
    q->cmd.t_issued = now;
    q->cmd.t_deadline = now + (room - (dt_time)late); /* room <= deadline_max */
    q->issuer_seq = r->seq;
    q->issuer = who;
}

/* A signed command record on cmd/{signal}/{issuer} (dtwin/cmdauth.h): no
 * header and none of the epoch and seq rules here. The record carries its
 * own epoch, seq and times, all signed, and the twin's dispatcher verifies
 * it before anything else (its replay window moves only then). Its times
 * are on the twin's time base: the issuer signs with them. */
static void on_signed(dt__bus *b, size_t acc, const char *name, const uint8_t *p, size_t len)
{
    b->st.cmd_signed++;
    dt_signed_command sc;
    if (dt_cmd_decode(p, len, &sc, NULL, NULL) != DT_CMDAUTH_OK) {
        b->st.cmd_signed_malformed++;
        return;
    }
    if (b->owner == NULL || !dt__twin_takes_signed(b->owner)) {
        uint64_t k = ++b->st.cmd_signed_no_auth;
        if ((k & (k - 1)) == 0)
            dt__log(&b->log, DT_LOG_WARN, "bus",
                    "a signed command from %s, and this twin has no dispatcher.auth to "
                    "verify it: dropped (%llu so far)", name, (unsigned long long)k);
        return;
    }
    size_t who = issuer_find(b, name);
    if (who == b->n_issuers) {
        memset(&b->issuers[DT__BUS_ISSUERS], 0, sizeof b->issuers[DT__BUS_ISSUERS]);
        if ((who = issuer_add(b, name)) == DT__BUS_ISSUERS) {
            b->st.cmd_issuers_full++;
            return;
        }
    }
    if (b->q_n == DT__BUS_CMD_QUEUE) {
        b->st.cmd_queue_full++;
        return;
    }
    b->st.cmd_records++;
    /* the accepted signal's own bound, as for an unsigned record: the
     * twin-wide dispatcher.auth.deadline_max alone let a valve accepted for
     * 0.5 s take a record good for 30 s (found by a red-team test). Both
     * times are valid (the decoder checked): the difference fits. */
    if (sc.t_deadline - sc.t_issued > b->accept[acc].deadline_max) {
        b->st.cmd_deadline_too_far++;
        b->st.acks_withheld++; /* its signature unread: no answer in anyone's name */
        return;
    }
    dt__bus_cmd *q = &b->queue[(b->q_head + b->q_n++) % DT__BUS_CMD_QUEUE];
    memset(q, 0, sizeof *q);
    q->cmd.signal = b->accept[acc].sig;
    q->cmd.value = sc.value;
    q->cmd.t_issued = sc.t_issued;
    q->cmd.t_deadline = sc.t_deadline;
    q->issuer_seq = sc.seq;
    q->issuer = who;
    q->rec_len = (uint16_t)len;
    memcpy(q->rec, p, len);
}

/* A message on cmd/{signal}/{issuer}: the topic, then the header and the
 * epoch and seq rules; then every record, each checked on its own. */
static void on_command(void *user, const char *topic, const uint8_t *p, size_t len, dt_time now)
{
    dt__bus *b = user;
    b->st.cmd_messages++;
    if (b->eng->message_retained(b->es)) {
        b->st.cmd_retained++;
        return;
    }
    size_t acc;
    char name[DT__BUS_NAME_MAX + 1];
    if (!parse_topic(b, topic, &acc, name)) {
        b->st.cmd_bad_topic++;
        return;
    }
    if (acc == DT__BUS_ACCEPT) {
        /* logged: the issuer learns of it only as a missing ack */
        uint64_t k = ++b->st.cmd_not_accepted;
        if ((k & (k - 1)) == 0)
            dt__log(&b->log, DT_LOG_WARN, "bus",
                    "a command from %s for a signal this twin does not accept (not in its "
                    "\"accept\"): dropped (%llu so far)",
                    name, (unsigned long long)k);
        return;
    }
    if (len >= 4 && ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24) == DT_CMDAUTH_MAGIC) {
        on_signed(b, acc, name, p, len);
        return;
    }
    dt_buswire_header h;
    dt_buswire_error e = dt_buswire_decode_header(p, len, &h);
    if (e == DT_BUSWIRE_OK && h.type != DT_BUSWIRE_COMMANDS)
        e = DT_BUSWIRE_BAD_TYPE;
    if (e != DT_BUSWIRE_OK) {
        bad(b, &b->st.cmd_malformed, e);
        return;
    }
    /* an issuer not seen yet is checked in the scratch slot: only a
     * message that passes the rules takes a slot of the table */
    size_t who = issuer_find(b, name);
    int fresh = who == b->n_issuers;
    dt__bus_issuer *is = &b->issuers[fresh ? DT__BUS_ISSUERS : who];
    if (fresh)
        memset(is, 0, sizeof *is);
    dt__bus_epoch_mark *m = take_seq(b, is, acc, &h);
    if (m == NULL)
        return;
    if (fresh) {
        size_t k = (size_t)(m - is->on[acc].ep);
        if ((who = issuer_add(b, name)) == DT__BUS_ISSUERS) {
            b->st.cmd_issuers_full++;
            return;
        }
        m = &b->issuers[who].on[acc].ep[k];
    }
    m->last_seq = h.seq;
    uint64_t last_cmd = 0;
    int any = 0;
    for (size_t i = 0; i < h.count; i++) {
        dt_buswire_command r;
        e = dt_buswire_command_at(p, len, i, &r);
        if (e != DT_BUSWIRE_OK) {
            bad(b, &b->st.cmd_bad_records, e);
            continue;
        }
        /* numbers rise within a message (its acks must be told apart);
         * across messages the message seq already refuses repeats, and an
         * issuer's numbers jump between topics (its other signals) */
        if (any && r.seq <= last_cmd) {
            b->st.cmd_record_order++;
            continue;
        }
        last_cmd = r.seq;
        any = 1;
        take_record(b, who, acc, m, &r, now);
    }
}

void dt__bus_cmd_decided(dt__bus *b, const dt_audit *au, dt_time t)
{
    if (DT_ORIGIN_KIND(au->cmd.origin) != DT_ORIGIN_REMOTE || b->inflight == NULL)
        return;
    for (size_t i = 0; i < DT__BUS_INFLIGHT; i++)
        if (b->inflight[i].twin_seq == au->cmd.seq) {
            /* a signed record refused as not authentic (DT_EAUTH: no trusted
             * key signed it) gets no ack: the topic's issuer and the seq it
             * names are anyone's word, and an ack would tell that issuer its
             * own command was refused */
            if (b->inflight[i].rec_len != 0 && (au->decision & DT_DISP_REFUSED) &&
                au->sink_status == DT_EAUTH)
                b->st.acks_withheld++;
            else
                publish_ack(b, b->inflight[i].issuer, b->inflight[i].issuer_seq, au->decision,
                            au->sink_status, t);
            b->inflight[i].twin_seq = 0;
            b->n_inflight--;
            return;
        }
}

int dt__bus_cmd_start(dt__bus *b)
{
    for (size_t r = 0; r < DT_BUSWIRE__COUNT; r++)
        (void)snprintf(b->bad_name[r], sizeof b->bad_name[r], "bus.cmd_bad.%s",
                       dt_buswire_error_name((dt_buswire_error)r));
    if (b->n_accept == 0)
        return DT_OK;
    b->queue = dt__calloc(&b->alloc, DT__BUS_CMD_QUEUE, sizeof *b->queue);
    b->inflight = dt__calloc(&b->alloc, DT__BUS_INFLIGHT, sizeof *b->inflight);
    b->issuers = dt__calloc(&b->alloc, DT__BUS_ISSUERS + 1, sizeof *b->issuers); /* + scratch */
    if (b->buf == NULL) {
        b->buf_cap = DT_BUSWIRE_HEADER + DT_BUSWIRE_ACK_RECORD;
        b->buf = dt__calloc(&b->alloc, b->buf_cap, 1);
    }
    if (b->queue == NULL || b->inflight == NULL || b->issuers == NULL || b->buf == NULL)
        return DT_ENOMEM;
    char filter[DT__BUS_TOPIC_MAX];
    int rc = dt__bus_topic(b->cmd_prefix, sizeof b->cmd_prefix, b->realm, b->twin, "cmd/");
    if (rc == DT_OK)
        rc = dt__bus_topic(filter, sizeof filter, b->realm, b->twin, "cmd/#");
    return rc == DT_OK ? b->eng->subscribe(b->es, filter, DT_BUS_RELIABLE, on_command, b) : rc;
}

void dt__bus_cmd_free(dt__bus *b)
{
    dt__free(&b->alloc, b->queue);
    dt__free(&b->alloc, b->inflight);
    dt__free(&b->alloc, b->issuers);
    b->queue = b->inflight = NULL;
    b->issuers = NULL;
}

size_t dt__bus_cmd_counters(const dt__bus *b, dt_counter *out, size_t max)
{
    if (b->n_accept == 0)
        return 0;
    const dt_counter c[] = {
        {"bus.cmd_messages", b->st.cmd_messages},
        {"bus.cmd_records", b->st.cmd_records},
        {"bus.cmd_submitted", b->st.cmd_submitted},
        {"bus.cmd_malformed", b->st.cmd_malformed},
        {"bus.cmd_bad_records", b->st.cmd_bad_records},
        {"bus.cmd_retained", b->st.cmd_retained},
        {"bus.cmd_bad_topic", b->st.cmd_bad_topic},
        {"bus.cmd_not_accepted", b->st.cmd_not_accepted},
        {"bus.cmd_issuers_full", b->st.cmd_issuers_full},
        {"bus.cmd_stale_epoch", b->st.cmd_stale_epoch},
        {"bus.cmd_future_epoch", b->st.cmd_future_epoch},
        {"bus.cmd_duplicate", b->st.cmd_duplicate},
        {"bus.cmd_seq_jump", b->st.cmd_seq_jump},
        {"bus.cmd_record_order", b->st.cmd_record_order},
        {"bus.cmd_clock_jump", b->st.cmd_clock_jump},
        {"bus.cmd_deadline_too_far", b->st.cmd_deadline_too_far},
        {"bus.cmd_expired", b->st.cmd_expired},
        {"bus.cmd_queue_full", b->st.cmd_queue_full},
        {"bus.cmd_refused", b->st.cmd_refused},
        {"bus.cmd_stopped", b->st.cmd_stopped},
        {"bus.cmd_signed", b->st.cmd_signed},
        {"bus.cmd_signed_malformed", b->st.cmd_signed_malformed},
        {"bus.cmd_signed_no_auth", b->st.cmd_signed_no_auth},
        {"bus.acks_published", b->st.acks_published},
        {"bus.acks_unsent", b->st.acks_unsent},
        {"bus.acks_withheld", b->st.acks_withheld},
    };
    size_t n = sizeof c / sizeof c[0];
    for (size_t i = 0; out != NULL && i < n && i < max; i++)
        out[i] = c[i];
    /* the decoder's refusals by reason: bus.cmd_bad.{reason} */
    for (size_t r = 1; r < DT_BUSWIRE__COUNT; r++, n++)
        if (out != NULL && n < max)
            out[n] = (dt_counter){b->bad_name[r], b->st.cmd_bad[r]};
    return n;
}
