/* The flight recorder (every input the core consumes, in a binary log) and
 * bit-identical replay of a log on a twin built from the same description. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>

#include "../adapters/adapters_internal.h"
#include "../ingest/ingest_internal.h"
#include "../platform/internal.h"
#include "twin_internal.h"

/* ---- flight recorder ----
 * Log: "DTWREC01", u32 version (1), u32 0, u64 FNV-1a hash of the description
 * text; then records, each a type byte and little-endian fields:
 *   1 START  i64 now            2 STEP   i64 now
 *   3 SAMPLES u32 source, u32 n, n x (u32 signal, u32 flags, i64 t_source,
 *             i64 t_arrival, f64 value, f64 variance)   (as drained)
 *   4 SUBMIT  u32 signal, u16 origin, u16 authority (as the host gave them: the
 *             twin sets both), u64 seq, i64 issued, i64 deadline, f64 value
 *   5 SINK    i32 result of one dispatch that reached the sinks (written from
 *             the dispatcher's command event)
 *   6 REMOTE, 7 REMOTE_STEP  a command from another twin (a 40-byte command
 *             as SUBMIT's), taken between steps or in a step's Sense phase
 *   8 BELIEF  a remote belief as the step took it (beliefs.c)
 *   9 BELIEFS_ONLY  u32 source: a source that pushes only beliefs
 *  10 CHILD   u32 child, u32 length, that many bytes of the child's own log
 *             (a composite's child records into its parent's log; a length
 *             of 0 ends what the child wrote during one call: children.c)
 *  11 SETPOINT u32 controller index, f64 value (the control plane's
 *             dt_control_setpoint, between steps: the next step takes it)
 *  12 PARAM   u32 signal, f64 value (the control plane's dt_control_param)
 *  13 SIGNED  u32 length, that many bytes: a signed command record as the
 *             host submitted it (dt_twin_submit_signed; verified again)
 *  14 REVOKE  16 hex characters: a key revoked (dt_twin_revoke)
 *  15 REMOTE_SIGNED, 16 REMOTE_SIGNED_STEP  a signed command from another
 *             twin: the 40-byte command (origin kept), u32 length, the record;
 *             taken between steps or in a step's Sense phase
 * A log without records 11 to 16 reads as before; a reader older than them
 * stops at the first one ("unknown record type").
 * Logs written when the two u16 were one reserved u32 flags (always 0 from a
 * well-behaved host) read the same. */
static const char rec_magic[8] = {'D', 'T', 'W', 'R', 'E', 'C', '0', '1'};

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}
static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}
static double bitsd(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

void dt__twin_rec(dt_twin *t, const uint8_t *b, size_t n)
{
    if (t->rec_write != NULL && t->rec_write(t->rec_user, b, n) != DT_OK) {
        t->rec_write = NULL; /* stop recording; the twin keeps running */
        dt__fmt(t->err, sizeof t->err, "flight recorder: write failed, recording stopped");
        dt__log(&t->log, DT_LOG_ERROR, "twin", "%s", t->err);
    }
}

void dt__twin_rec_time(dt_twin *t, int type, dt_time now)
{
    uint8_t b[9] = {(uint8_t)type};
    put_u64(b + 1, (uint64_t)now);
    dt__twin_rec(t, b, sizeof b);
}

static void enc_sample(uint8_t *p, const dt_sample *s)
{
    put_u32(p, s->signal);
    put_u32(p + 4, s->flags);
    put_u64(p + 8, (uint64_t)s->t_source);
    put_u64(p + 16, (uint64_t)s->t_arrival);
    put_u64(p + 24, dbits(s->value));
    put_u64(p + 32, dbits(s->variance));
}

static void dec_sample(const uint8_t *p, dt_sample *s)
{
    s->signal = get_u32(p);
    s->flags = get_u32(p + 4);
    s->t_source = (dt_time)get_u64(p + 8);
    s->t_arrival = (dt_time)get_u64(p + 16);
    s->value = bitsd(get_u64(p + 24));
    s->variance = bitsd(get_u64(p + 32));
}

static void enc_command(uint8_t *p, const dt_command *c)
{
    put_u32(p, c->signal);
    put_u32(p + 4, (uint32_t)c->origin | (uint32_t)c->authority << 16);
    put_u64(p + 8, c->seq);
    put_u64(p + 16, (uint64_t)c->t_issued);
    put_u64(p + 24, (uint64_t)c->t_deadline);
    put_u64(p + 32, dbits(c->value));
}

static void dec_command(const uint8_t *p, dt_command *c)
{
    c->signal = get_u32(p);
    c->origin = (uint16_t)(get_u32(p + 4) & 0xFFFFu);
    c->authority = (uint16_t)(get_u32(p + 4) >> 16);
    c->seq = get_u64(p + 8);
    c->t_issued = (dt_time)get_u64(p + 16);
    c->t_deadline = (dt_time)get_u64(p + 24);
    c->value = bitsd(get_u64(p + 32));
}

/* ingest tap: one SAMPLES record per drained batch */
static void tap(void *user, uint32_t src, const dt_sample *s, size_t n)
{
    dt_twin *t = user;
    if (t->rec_write == NULL)
        return;
    uint8_t b[9 + 40 * 16];
    b[0] = REC_SAMPLES;
    put_u32(b + 1, src);
    put_u32(b + 5, (uint32_t)n);
    size_t len = 9;
    for (size_t i = 0; i < n; i++) {
        if (len + 40 > sizeof b) {
            dt__twin_rec(t, b, len);
            len = 0;
        }
        enc_sample(b + len, &s[i]);
        len += 40;
    }
    dt__twin_rec(t, b, len);
}

int dt_twin_record(dt_twin *t, dt_record_write_fn fn, void *user)
{
    if (t == NULL || fn == NULL)
        return DT_EINVAL;
    if (t->started || t->replay)
        return DT_ESTATE;
    uint8_t h[24];
    memcpy(h, rec_magic, 8);
    put_u32(h + 8, 1);
    put_u32(h + 12, 0);
    put_u64(h + 16, t->desc_hash);
    if (fn(user, h, sizeof h) != DT_OK)
        return DT_EIO;
    t->rec_write = fn;
    t->rec_user = user;
    /* the sources that push only beliefs: a replay opens none, and its merge
     * must not wait for them either */
    for (uint32_t i = 0; i < dt_ingest_source_count(t->ing); i++)
        if (dt__ingest_is_beliefs_only(t->ing, i)) {
            uint8_t b[5] = {REC_BELIEFS_ONLY};
            put_u32(b + 1, i);
            dt__twin_rec(t, b, sizeof b);
        }
    if (dt__twin_children_record(t) != DT_OK) { /* each child into this log */
        t->rec_write = NULL;
        return DT_EIO;
    }
    dt__ingest_set_tap(t->ing, tap, t);
    dt__twin_disp_env(t); /* the dispatcher now reports its decisions */
    return DT_OK;
}

/* replay feed: this step's batches for source src, in recorded order */
static size_t feed(void *user, uint32_t src, dt_sample *out, size_t max)
{
    dt_twin *t = user;
    size_t off = 0;
    for (size_t b = 0; b < t->rp_nb; off += t->rp_len[b], b++) {
        uint32_t left = t->rp_len[b] - t->rp_used[b];
        if (t->rp_src[b] != src || left == 0)
            continue;
        /* a batch larger than one drain is handed out over several calls
         * (a log written by hand may hold one: nothing is dropped) */
        size_t n = left < max ? left : max;
        memcpy(out, t->rp_s + off + t->rp_used[b], n * sizeof *out);
        t->rp_used[b] += (uint32_t)n;
        return n;
    }
    return 0;
}


/* Hands a decided command to the sinks (or, in replay, takes the recorded
 * result). */
int dt__twin_sink_apply(dt_twin *t, const dt_command *cmd)
{
    int rc;
    if (t->replay) {
        if (t->rp_sink_pos < t->rp_nsink) {
            rc = t->rp_sink[t->rp_sink_pos++];
        } else {
            rc = DT_EIO;
            t->rp_mismatch = 1;
        }
    } else {
        rc = dt__io_apply(t->io, cmd); /* recorded from the command's event */
    }
    return rc;
}

/* The recorder is an observer of the dispatcher: each decision that reached
 * the sinks leaves its result in the log, for replay to hand back. */
void dt__twin_rec_event(dt_twin *t, const dt_event *ev)
{
    if (ev->kind != DT_EVENT_COMMAND ||
        !(ev->u.command.decision & (DT_DISP_SENT | DT_DISP_SINK_ERROR)))
        return;
    uint8_t b[5] = {REC_SINK};
    put_u32(b + 1, (uint32_t)ev->u.command.sink_status);
    dt__twin_rec(t, b, sizeof b);
}

void dt__twin_rec_submit(dt_twin *t, const dt_command *cmd)
{
    uint8_t b[41] = {REC_SUBMIT};
    enc_command(b + 1, cmd);
    dt__twin_rec(t, b, sizeof b);
}

/* A signed record as the host submitted it; the replay verifies it again
 * (the verifier's state is rebuilt by the same inputs in the same order). */
void dt__twin_rec_signed(dt_twin *t, const void *record, size_t len)
{
    uint8_t b[5 + DT_CMDAUTH_MAX] = {REC_SIGNED};
    if (len > DT_CMDAUTH_MAX)
        return; /* the caller decoded it: never */
    put_u32(b + 1, (uint32_t)len);
    memcpy(b + 5, record, len);
    dt__twin_rec(t, b, 5 + len);
}

void dt__twin_rec_remote_signed(dt_twin *t, const dt_command *cmd, const uint8_t *rec, size_t len)
{
    uint8_t b[1 + 40 + 4 + DT_CMDAUTH_MAX] = {t->in_step ? REC_REMOTE_SIGNED_STEP : REC_REMOTE_SIGNED};
    if (len > DT_CMDAUTH_MAX)
        return; /* the caller decoded it: never */
    enc_command(b + 1, cmd);
    put_u32(b + 41, (uint32_t)len);
    memcpy(b + 45, rec, len);
    dt__twin_rec(t, b, 45 + len);
}

/* A REC_REMOTE_SIGNED(_STEP) record after its type byte: the command (a
 * remote origin) and the record. */
static int rp_remote_signed(dt_twin *t, dt_record_read_fn fn, void *user, dt_command *c,
                            uint8_t *rec, uint16_t *len)
{
    uint8_t b[44];
    uint32_t n = 0;
    if (fn(user, b, 44) != DT_OK || (n = get_u32(b + 40)) > DT_CMDAUTH_MAX ||
        fn(user, rec, n) != DT_OK) {
        dt__fmt(t->err, sizeof t->err, "replay: a signed remote command record is cut or too long");
        return DT_EPARSE;
    }
    dec_command(b, c);
    if (DT_ORIGIN_KIND(c->origin) != DT_ORIGIN_REMOTE) {
        dt__fmt(t->err, sizeof t->err, "replay: a remote command record with origin 0x%04x",
                (unsigned)c->origin);
        return DT_EPARSE;
    }
    *len = (uint16_t)n;
    return DT_OK;
}

void dt__twin_rec_revoke(dt_twin *t, const char *key_id)
{
    uint8_t b[1 + DT_KEY_ID_CHARS] = {REC_REVOKE};
    memcpy(b + 1, key_id, DT_KEY_ID_CHARS);
    dt__twin_rec(t, b, sizeof b);
}

void dt__twin_rec_setpoint(dt_twin *t, uint32_t ctl, double value)
{
    uint8_t b[13] = {REC_SETPOINT};
    put_u32(b + 1, ctl);
    put_u64(b + 5, dbits(value));
    dt__twin_rec(t, b, sizeof b);
}

void dt__twin_rec_param(dt_twin *t, dt_signal_id sig, double value)
{
    uint8_t b[13] = {REC_PARAM};
    put_u32(b + 1, sig);
    put_u64(b + 5, dbits(value));
    dt__twin_rec(t, b, sizeof b);
}

void dt__twin_rec_remote(dt_twin *t, const dt_command *cmd)
{
    uint8_t b[41] = {t->in_step ? REC_REMOTE_STEP : REC_REMOTE};
    enc_command(b + 1, cmd);
    dt__twin_rec(t, b, sizeof b);
}

/* ---- replay ---- */

#define RP_SAMPLES 65536
#define RP_BATCHES 4096
#define RP_SINKS 4096

/* The log's header checked and the replay's buffers allocated, once. */
static int rp_open(dt_twin *t, dt_record_read_fn fn, void *user)
{
    if (t->rp_ready)
        return DT_OK;
    uint8_t h[24];
    if (fn(user, h, sizeof h) != DT_OK || memcmp(h, rec_magic, 8) != 0 || get_u32(h + 8) != 1) {
        dt__fmt(t->err, sizeof t->err, "not a dtwin flight log (version 1)");
        return DT_EPARSE;
    }
    if (get_u64(h + 16) != t->desc_hash) {
        dt__fmt(t->err, sizeof t->err, "the log was recorded with another description");
        return DT_EABI;
    }
    t->rp_s = dt__calloc(&t->alloc, RP_SAMPLES, sizeof *t->rp_s);
    t->rp_src = dt__calloc(&t->alloc, RP_BATCHES, sizeof *t->rp_src);
    t->rp_len = dt__calloc(&t->alloc, RP_BATCHES, sizeof *t->rp_len);
    t->rp_used = dt__calloc(&t->alloc, RP_BATCHES, sizeof *t->rp_used);
    t->rp_sink = dt__calloc(&t->alloc, RP_SINKS, sizeof *t->rp_sink);
    t->rp_remote = dt__calloc(&t->alloc, QUEUE_CAP, sizeof *t->rp_remote);
    t->rp_rrec = dt__calloc(&t->alloc, QUEUE_CAP, sizeof *t->rp_rrec);
    t->rp_rrec_len = dt__calloc(&t->alloc, QUEUE_CAP, sizeof *t->rp_rrec_len);
    if (!t->rp_s || !t->rp_src || !t->rp_len || !t->rp_used || !t->rp_sink || !t->rp_remote ||
        !t->rp_rrec || !t->rp_rrec_len)
        return DT_ENOMEM;
    dt__ingest_set_feed(t->ing, feed, t);
    t->rp_ready = 1;
    return DT_OK;
}

/* The records until fn says DT_EEMPTY. */
static int rp_run(dt_twin *t, dt_record_read_fn fn, void *user,
                  void (*on_step)(void *user, dt_twin *twin, dt_time now), void *step_user)
{
    int rc = DT_OK, type = -1;
    uint8_t b[64];
    for (;;) {
        if (type < 0) {
            int r = fn(user, b, 1);
            if (r == DT_EEMPTY)
                break;
            if (r != DT_OK) {
                rc = DT_EPARSE;
                break;
            }
            type = b[0];
        }
        if (type == REC_START || type == REC_STEP) {
            if (fn(user, b, 8) != DT_OK) {
                rc = DT_EPARSE;
                break;
            }
            dt_time now = (dt_time)get_u64(b);
            if (type == REC_START) {
                type = -1;
                if ((rc = dt_twin_start(t, now)) != DT_OK)
                    break;
                continue;
            }
            /* gather this step's samples and sink results */
            t->rp_nb = t->rp_ns = 0;
            t->rp_nsink = t->rp_sink_pos = 0;
            t->rp_nremote = 0;
            t->rp_nbel = 0;
            for (;;) {
                int r = fn(user, b, 1);
                if (r == DT_EEMPTY) {
                    type = -2; /* end after this step */
                    break;
                }
                if (r != DT_OK) {
                    rc = DT_EPARSE;
                    break;
                }
                if (b[0] == REC_SAMPLES) {
                    if (fn(user, b, 8) != DT_OK) {
                        rc = DT_EPARSE;
                        break;
                    }
                    uint32_t src = get_u32(b), n = get_u32(b + 4);
                    if (t->rp_nb == RP_BATCHES || n > RP_SAMPLES - t->rp_ns ||
                        n > RP_SAMPLES) {
                        dt__fmt(t->err, sizeof t->err, "replay: a step holds too many samples");
                        rc = DT_ELIMIT;
                        break;
                    }
                    for (uint32_t i = 0; i < n && rc == DT_OK; i++) {
                        if (fn(user, b, 40) != DT_OK)
                            rc = DT_EPARSE;
                        else
                            dec_sample(b, &t->rp_s[t->rp_ns + i]);
                    }
                    t->rp_src[t->rp_nb] = src;
                    t->rp_used[t->rp_nb] = 0;
                    t->rp_len[t->rp_nb++] = n;
                    t->rp_ns += n;
                } else if (b[0] == REC_SINK) {
                    if (fn(user, b, 4) != DT_OK || t->rp_nsink == RP_SINKS) {
                        rc = DT_EPARSE;
                        break;
                    }
                    t->rp_sink[t->rp_nsink++] = (int)(int32_t)get_u32(b);
                } else if (b[0] == REC_BELIEF) { /* fused in the step's Understand phase */
                    if ((rc = dt__twin_rp_belief(t, fn, user)) != DT_OK)
                        break;
                } else if (b[0] == REC_REMOTE_STEP) { /* taken in the step's Sense phase */
                    if (fn(user, b, 40) != DT_OK || t->rp_nremote == QUEUE_CAP) {
                        rc = DT_EPARSE;
                        break;
                    }
                    dec_command(b, &t->rp_remote[t->rp_nremote]);
                    if (DT_ORIGIN_KIND(t->rp_remote[t->rp_nremote].origin) != DT_ORIGIN_REMOTE) {
                        dt__fmt(t->err, sizeof t->err,
                                "replay: a remote command record with origin 0x%04x",
                                (unsigned)t->rp_remote[t->rp_nremote].origin);
                        rc = DT_EPARSE;
                        break;
                    }
                    t->rp_rrec_len[t->rp_nremote++] = 0;
                } else if (b[0] == REC_REMOTE_SIGNED_STEP) {
                    size_t k = t->rp_nremote;
                    if (k == QUEUE_CAP) {
                        rc = DT_EPARSE;
                        break;
                    }
                    if ((rc = rp_remote_signed(t, fn, user, &t->rp_remote[k], t->rp_rrec[k],
                                               &t->rp_rrec_len[k])) != DT_OK)
                        break;
                    t->rp_nremote++;
                } else {
                    type = b[0];
                    break;
                }
                if (rc != DT_OK)
                    break;
            }
            if (rc != DT_OK)
                break;
            int srk = dt_twin_step(t, now);
            if (srk != DT_OK && srk != DT_ENOTFOUND) {
                rc = srk;
                break;
            }
            if (t->rp_mismatch || t->rp_sink_pos != t->rp_nsink) {
                dt__fmt(t->err, sizeof t->err, "replay diverged from the log at %.9f s",
                        dt_time_to_sec(now));
                rc = DT_EPARSE;
                break;
            }
            if (on_step != NULL)
                on_step(step_user, t, now);
            if (type == -2)
                break;
            continue;
        }
        if (type == REC_BELIEFS_ONLY) {
            type = -1;
            if (fn(user, b, 4) != DT_OK || get_u32(b) >= dt_ingest_source_count(t->ing)) {
                dt__fmt(t->err, sizeof t->err, "replay: a belief source record names no source");
                rc = DT_EPARSE;
                break;
            }
            dt__ingest_beliefs_only(t->ing, get_u32(b));
            continue;
        }
        if (type == REC_SUBMIT) {
            type = -1;
            if (fn(user, b, 40) != DT_OK) {
                rc = DT_EPARSE;
                break;
            }
            dt_command c;
            dec_command(b, &c);
            if ((rc = dt__twin_submit_host(t, &c)) != DT_OK) /* also when partitioned */
                break;
            continue;
        }
        if (type == REC_SETPOINT || type == REC_PARAM) { /* the control plane's */
            int what = type;
            type = -1;
            if (fn(user, b, 12) != DT_OK) {
                rc = DT_EPARSE;
                break;
            }
            uint32_t k = get_u32(b);
            double v = bitsd(get_u64(b + 4));
            rc = what == REC_SETPOINT ? dt__twin_setpoint(t, k, v) : dt__twin_param(t, k, v);
            if (rc != DT_OK) { /* the live twin took it: a log for another twin */
                dt__fmt(t->err, sizeof t->err, "replay: a %s record the twin refuses (%s)",
                        what == REC_SETPOINT ? "setpoint" : "parameter", dt_strerror(rc));
                rc = DT_EPARSE;
                break;
            }
            continue;
        }
        if (type == REC_REMOTE) { /* taken between steps */
            type = -1;
            if (fn(user, b, 40) != DT_OK) {
                rc = DT_EPARSE;
                break;
            }
            dt_command c;
            dec_command(b, &c);
            if (DT_ORIGIN_KIND(c.origin) != DT_ORIGIN_REMOTE) { /* a live twin writes none */
                dt__fmt(t->err, sizeof t->err, "replay: a remote command record with origin 0x%04x",
                        (unsigned)c.origin);
                rc = DT_EPARSE;
                break;
            }
            if ((rc = dt__twin_submit_remote(t, &c, c.origin, NULL)) != DT_OK)
                break;
            continue;
        }
        if (type == REC_SIGNED) {
            type = -1;
            uint8_t r[DT_CMDAUTH_MAX];
            uint32_t n = 0;
            if (fn(user, b, 4) != DT_OK || (n = get_u32(b)) > sizeof r || fn(user, r, n) != DT_OK) {
                dt__fmt(t->err, sizeof t->err, "replay: a signed command record is cut or too long");
                rc = DT_EPARSE;
                break;
            }
            if ((rc = dt__twin_submit_signed(t, r, n)) != DT_OK)
                break;
            continue;
        }
        if (type == REC_REMOTE_SIGNED) { /* taken between steps */
            type = -1;
            dt_command c;
            uint8_t r[DT_CMDAUTH_MAX];
            uint16_t n = 0;
            if ((rc = rp_remote_signed(t, fn, user, &c, r, &n)) != DT_OK ||
                (rc = dt__twin_submit_remote_signed(t, r, n, c.signal, c.origin, NULL)) != DT_OK)
                break;
            continue;
        }
        if (type == REC_REVOKE) {
            type = -1;
            char id[DT_KEY_ID_CHARS + 1];
            if (fn(user, id, DT_KEY_ID_CHARS) != DT_OK) {
                rc = DT_EPARSE;
                break;
            }
            id[DT_KEY_ID_CHARS] = '\0';
            if ((rc = dt__twin_revoke(t, id)) != DT_OK)
                break;
            continue;
        }
        if (type == REC_CHILD) { /* a segment of a child's records (children.c) */
            type = -1;
            if ((rc = dt__twin_rp_child(t, fn, user)) != DT_OK)
                break;
            continue;
        }
        dt__fmt(t->err, sizeof t->err, "replay: unknown record type %d", type);
        rc = DT_EPARSE;
        break;
    }
    return rc;
}

int dt__twin_replay_segment(dt_twin *t, dt_record_read_fn fn, void *user)
{
    int rc = rp_open(t, fn, user);
    return rc == DT_OK ? rp_run(t, fn, user, NULL, NULL) : rc;
}

void dt__twin_replay_end(dt_twin *t) { dt__ingest_set_feed(t->ing, NULL, NULL); }

int dt_twin_replay(dt_twin *t, dt_record_read_fn fn, void *user,
                   void (*on_step)(void *user, dt_twin *twin, dt_time now), void *step_user)
{
    if (t == NULL || fn == NULL)
        return DT_EINVAL;
    /* a child is replayed by its parent, from the parent's log */
    if (!t->replay || t->check_only || t->started || t->depth > 0)
        return DT_ESTATE;
    int rc = rp_open(t, fn, user);
    if (rc == DT_OK)
        rc = rp_run(t, fn, user, on_step, step_user);
    dt__ingest_set_feed(t->ing, NULL, NULL);
    dt__twin_children_replay_end(t);
    return rc;
}

