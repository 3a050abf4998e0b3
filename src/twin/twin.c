/* The twin runtime: one description -> model, adapters, ingest, estimator,
 * controllers, dispatcher; dt_twin_step runs Sense -> Synchronize ->
 * Understand -> Act once, on fixed memory. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../adapters/adapters_internal.h"
#include "../control/control_internal.h"
#include "../model/model_internal.h"
#include "../platform/internal.h"
#include "dtwin/twin.h"
#include "twin_internal.h"

#define RELEASE_BATCH 256
#define QUEUE_CAP 256
#define MAX_CONTROLLERS 64
#define MAX_INTERLOCKS 64
#define MAX_FORCED 8
#define HIST_BUCKETS 64

enum { OP_GT, OP_GE, OP_LT, OP_LE };

typedef struct ctrl {
    char *id;
    const dt_controller_ops *ops;
    void *self;
    dt_time last_run;
    int ran;
} ctrl;

typedef struct interlock {
    char name[64];
    dt_signal_id sig;
    int op;
    double value;
    size_t n_set;
    dt_signal_id set_sig[MAX_FORCED];
    double set_val[MAX_FORCED];
    int active;
} interlock;

struct dt_twin {
    dt_allocator alloc;
    dt_logger log;
    dt_model *model;
    dt_ingest *ing;
    dt_registry *reg;
    int own_reg;
    dt_io *io;
    dt_est *est;
    ctrl *ctl;
    size_t n_ctl;
    /* dispatcher, per signal */
    size_t n_sig;
    double *rate, *safe, *last_sent, *forced;
    dt_time *last_sent_t;
    uint64_t *last_sent_seq, *counted_seq; /* actuation outcome */
    uint32_t *fail_run;                    /* consecutive sink failures per signal */
    uint32_t sink_failures;                /* that many engage the safe state */
    size_t n_sink_faults;                  /* signals at or over sink_failures */
    dt_time confirm_timeout;               /* 0: not tracked */
    interlock *ilk;
    size_t n_ilk;
    dt_time deadline, period;
    dt_audit *audit;
    size_t audit_cap, audit_n, audit_head;
    /* runtime */
    int started, stopped, safe_mode;
    dt_time now, last_arrival_applied;
    uint64_t seq;
    dt_sample *rel;
    double *u; /* the estimator's inputs: the values last sent */
    dt_command *queue, *pending;
    size_t n_pending;
    double tau_min;  /* the data-age limit: min of the budgets and max_age */
    double max_age;  /* dispatcher.max_data_age, INFINITY when not given */
    dt_time data_t;  /* without an estimator: the newest sample released */
    char err[256];
    /* flight recorder */
    uint64_t desc_hash;
    dt_record_write_fn rec_write;
    void *rec_user;
    int replay;
    int check_only; /* built to validate adapters: never replayed */
    /* replay: this step's recorded batches and sink results */
    dt_sample *rp_s;
    uint32_t *rp_src, *rp_len, *rp_used;
    size_t rp_nb, rp_ns, rp_pos, rp_cap_b, rp_cap_s;
    int *rp_sink;
    size_t rp_nsink, rp_sink_pos, rp_cap_sink;
    int rp_mismatch;
    dt_twin_stats st;
    uint64_t h_est[HIST_BUCKETS], h_cmd[HIST_BUCKETS];
};

/* ---- latency histograms: log2 buckets of ns ---- */

static void hist_add(uint64_t *h, dt_latency_stats *s, dt_time ns)
{
    if (ns < 0)
        ns = 0;
    unsigned b = 0;
    /* unsigned: 1 << 63 does not fit a signed 64-bit value (found by cppcheck) */
    while (b + 1 < HIST_BUCKETS && ((uint64_t)1 << (b + 1)) <= (uint64_t)ns)
        b++;
    h[b]++;
    s->count++;
    if (ns > s->max)
        s->max = ns;
}

static dt_time hist_q(const uint64_t *h, uint64_t count, double q)
{
    if (count == 0)
        return 0;
    uint64_t want = (uint64_t)ceil(q * (double)count), acc = 0;
    for (unsigned b = 0; b < HIST_BUCKETS; b++) {
        acc += h[b];
        if (acc >= want)
            return b + 1 < 63 ? ((dt_time)1 << (b + 1)) : DT_TIME_MAX;
    }
    return DT_TIME_MAX;
}

/* ---- flight recorder ----
 * Log: "DTWREC01", u32 version (1), u32 0, u64 FNV-1a hash of the description
 * text; then records, each a type byte and little-endian fields:
 *   1 START  i64 now            2 STEP   i64 now
 *   3 SAMPLES u32 source, u32 n, n x (u32 signal, u32 flags, i64 t_source,
 *             i64 t_arrival, f64 value, f64 variance)   (as drained)
 *   4 SUBMIT  u32 signal, u32 flags, u64 seq, i64 issued, i64 deadline, f64 value
 *   5 SINK    i32 result of one dispatch */
enum { REC_START = 1, REC_STEP = 2, REC_SAMPLES = 3, REC_SUBMIT = 4, REC_SINK = 5 };
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

static void rec(dt_twin *t, const uint8_t *b, size_t n)
{
    if (t->rec_write != NULL && t->rec_write(t->rec_user, b, n) != DT_OK) {
        t->rec_write = NULL; /* stop recording; the twin keeps running */
        dt__fmt(t->err, sizeof t->err, "flight recorder: write failed, recording stopped");
        dt__log(&t->log, DT_LOG_ERROR, "twin", "%s", t->err);
    }
}

static void rec_time(dt_twin *t, int type, dt_time now)
{
    uint8_t b[9] = {(uint8_t)type};
    put_u64(b + 1, (uint64_t)now);
    rec(t, b, sizeof b);
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
    put_u32(p + 4, c->flags);
    put_u64(p + 8, c->seq);
    put_u64(p + 16, (uint64_t)c->t_issued);
    put_u64(p + 24, (uint64_t)c->t_deadline);
    put_u64(p + 32, dbits(c->value));
}

static void dec_command(const uint8_t *p, dt_command *c)
{
    c->signal = get_u32(p);
    c->flags = get_u32(p + 4);
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
            rec(t, b, len);
            len = 0;
        }
        enc_sample(b + len, &s[i]);
        len += 40;
    }
    rec(t, b, len);
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
    dt__ingest_set_tap(t->ing, tap, t);
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

/* ---- description ---- */

typedef struct jctx {
    dt_twin *t;
    dt_diag *diag;
} jctx;

/* Every loader error carries its JSON path; dt__diag formats it (printf-checked). */
/* The code is repeated as the value so static analysis sees a failure is never DT_OK. */
#define fail(c, code, ...) (dt__diag((c)->diag, (code), __VA_ARGS__), (code))

static int find_sig(jctx *c, const char *path, const char *id, dt_role role, dt_signal_id *out)
{
    if (dt_model_find_signal(c->t->model, id, out) != DT_OK)
        return fail(c, DT_EPARSE, path, "unknown signal \"%s\"", id);
    dt_role r = dt_model_signal(c->t->model, *out)->role;
    if (r != role && !(role == DT_ROLE_ESTIMATED && r == DT_ROLE_PARAMETER))
        return fail(c, DT_EPARSE, path, "signal \"%s\" is %s, not %s", id, dt_role_name(r),
                    dt_role_name(role));
    return DT_OK;
}

static int in_limits(const dt_signal_info *si, double v)
{
    return isfinite(v) && !(si->has_limits && (v < si->min || v > si->max));
}

/* A value the dispatcher may send (a safe value, an interlock's forced
 * value): a number within the signal's limits; the message names both. */
static int within_limits(jctx *c, const char *path, const dt_signal_info *si, const cJSON *v)
{
    if (!cJSON_IsNumber(v))
        return fail(c, DT_EPARSE, path, "expected a number within the signal's limits");
    if (in_limits(si, v->valuedouble))
        return DT_OK;
    char a[32], lo[32], hi[32];
    return fail(c, DT_EPARSE, path, "%s is outside the signal's limits [%s, %s] %s",
                dt__num(v->valuedouble, a, sizeof a), dt__num(si->min, lo, sizeof lo),
                dt__num(si->max, hi, sizeof hi), si->unit_symbol);
}


static const char *const disp_keys[] = {"safe",          "rate_limits",  "interlocks",
                                        "deadline",      "audit",        "confirm_timeout",
                                        "sink_failures", "max_data_age", NULL};
static const char *const ilk_keys[] = {"name", "signal", "op", "value", "set", NULL};
static const char *const loop_keys[] = {"period", NULL};
static const char *const ctl_common[] = {"id", "kind", NULL};

static int load_dispatcher(jctx *c, const cJSON *d)
{
    dt_twin *t = c->t;
    const char *P = "dispatcher";
    if (!cJSON_IsObject(d))
        return fail(c, DT_EPARSE, P, "expected an object");
    int rc = dt__json_check_keys(c->diag, d, P, disp_keys, NULL);
    if (rc != DT_OK)
        return rc;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(d, "safe");
    if (!cJSON_IsObject(v))
        return fail(c, DT_EPARSE, "dispatcher.safe",
                    "required: the safe value of every commanded signal");
    for (const cJSON *e = v->child; e; e = e->next) {
        char p[160];
        dt__fmt(p, sizeof p, "dispatcher.safe.%s", e->string);
        dt_signal_id s;
        if ((rc = find_sig(c, p, e->string, DT_ROLE_COMMANDED, &s)) != DT_OK)
            return rc;
        if ((rc = within_limits(c, p, dt_model_signal(t->model, s), e)) != DT_OK)
            return rc;
        t->safe[s] = e->valuedouble;
    }
    for (size_t s = 0; s < t->n_sig; s++)
        if (dt_model_signal(t->model, (dt_signal_id)s)->role == DT_ROLE_COMMANDED &&
            isnan(t->safe[s]))
            return fail(c, DT_EPARSE, "dispatcher.safe", "missing the safe value of \"%s\"",
                        dt_model_signal(t->model, (dt_signal_id)s)->id);
    if ((v = cJSON_GetObjectItemCaseSensitive(d, "rate_limits")) != NULL) {
        if (!cJSON_IsObject(v))
            return fail(c, DT_EPARSE, "dispatcher.rate_limits", "expected an object");
        for (const cJSON *e = v->child; e; e = e->next) {
            char p[160];
            dt__fmt(p, sizeof p, "dispatcher.rate_limits.%s", e->string);
            dt_signal_id s;
            if ((rc = find_sig(c, p, e->string, DT_ROLE_COMMANDED, &s)) != DT_OK)
                return rc;
            if (!cJSON_IsNumber(e) || !(e->valuedouble > 0) || !isfinite(e->valuedouble))
                return fail(c, DT_EPARSE, p, "a positive rate in units per second");
            t->rate[s] = e->valuedouble;
        }
    }
    double num;
    if ((v = cJSON_GetObjectItemCaseSensitive(d, "deadline")) != NULL) {
        num = cJSON_IsNumber(v) ? v->valuedouble : -1;
        if (!(num > 0 && num <= 3600))
            return fail(c, DT_EPARSE, "dispatcher.deadline", "seconds in (0, 3600]");
        t->deadline = dt_time_from_sec(num);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(d, "confirm_timeout")) != NULL) {
        num = cJSON_IsNumber(v) ? v->valuedouble : -1;
        if (!(num > 0 && num <= 3600))
            return fail(c, DT_EPARSE, "dispatcher.confirm_timeout", "seconds in (0, 3600]");
        t->confirm_timeout = dt_time_from_sec(num);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(d, "max_data_age")) != NULL) {
        if (!cJSON_IsNumber(v))
            return fail(c, DT_EPARSE, "dispatcher.max_data_age", "expected seconds in (0, 3600]");
        if (!(v->valuedouble > 0 && v->valuedouble <= 3600))
            return fail(c, DT_EPARSE, "dispatcher.max_data_age",
                        "%.17g is not in (0, 3600] seconds", v->valuedouble);
        t->max_age = v->valuedouble;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(d, "sink_failures")) != NULL) {
        num = cJSON_IsNumber(v) ? v->valuedouble : -1;
        if (!(num >= 1 && num <= 1000000 && num == floor(num)))
            return fail(c, DT_EPARSE, "dispatcher.sink_failures", "an integer in 1..1000000");
        t->sink_failures = (uint32_t)num;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(d, "audit")) != NULL) {
        num = cJSON_IsNumber(v) ? v->valuedouble : -1;
        if (!(num >= 1 && num <= 65536 && num == floor(num)))
            return fail(c, DT_EPARSE, "dispatcher.audit", "an integer in 1..65536");
        t->audit_cap = (size_t)num;
    }
    const cJSON *il = cJSON_GetObjectItemCaseSensitive(d, "interlocks");
    if (il != NULL && (!cJSON_IsArray(il) || cJSON_GetArraySize(il) > MAX_INTERLOCKS))
        return fail(c, DT_EPARSE, "dispatcher.interlocks", "an array of at most %d",
                    MAX_INTERLOCKS);
    /* an interlock reads the belief: without an estimator it would never fire */
    if (il != NULL && cJSON_GetArraySize(il) > 0 && t->est == NULL)
        return fail(c, DT_EPARSE, "dispatcher.interlocks",
                    "interlocks read the estimator's belief; this twin has no estimator, so "
                    "they could never engage");
    size_t k = 0;
    for (const cJSON *e = il ? il->child : NULL; e; e = e->next, k++) {
        char p[96], q[160];
        dt__fmt(p, sizeof p, "dispatcher.interlocks[%zu]", k);
        if (!cJSON_IsObject(e))
            return fail(c, DT_EPARSE, p, "expected an object");
        if ((rc = dt__json_check_keys(c->diag, e, p, ilk_keys, NULL)) != DT_OK)
            return rc;
        interlock *x = &t->ilk[t->n_ilk];
        const cJSON *jn = cJSON_GetObjectItemCaseSensitive(e, "name");
        const cJSON *js = cJSON_GetObjectItemCaseSensitive(e, "signal");
        const cJSON *jo = cJSON_GetObjectItemCaseSensitive(e, "op");
        const cJSON *jv = cJSON_GetObjectItemCaseSensitive(e, "value");
        const cJSON *jset = cJSON_GetObjectItemCaseSensitive(e, "set");
        if (!cJSON_IsString(jn) || !cJSON_IsString(js) || !cJSON_IsString(jo) ||
            !cJSON_IsNumber(jv) || !cJSON_IsObject(jset) || jset->child == NULL)
            return fail(c, DT_EPARSE, p,
                        "needs name, signal, op (> >= < <=), value and set {signal: value}");
        dt__fmt(x->name, sizeof x->name, "%s", jn->valuestring);
        dt__fmt(q, sizeof q, "%s.signal", p);
        if ((rc = find_sig(c, q, js->valuestring, DT_ROLE_ESTIMATED, &x->sig)) != DT_OK)
            return rc;
        static const char *const ops[] = {">", ">=", "<", "<="};
        x->op = -1;
        for (int o = 0; o < 4; o++)
            if (strcmp(jo->valuestring, ops[o]) == 0)
                x->op = o;
        if (x->op < 0) {
            dt__fmt(q, sizeof q, "%s.op", p);
            return fail(c, DT_EPARSE, q, "\"%s\" is not one of > >= < <=", jo->valuestring);
        }
        x->value = jv->valuedouble;
        for (const cJSON *f = jset->child; f; f = f->next) {
            dt__fmt(q, sizeof q, "%s.set.%s", p, f->string);
            if (x->n_set == MAX_FORCED)
                return fail(c, DT_ELIMIT, q, "at most %d forced signals", MAX_FORCED);
            dt_signal_id s;
            if ((rc = find_sig(c, q, f->string, DT_ROLE_COMMANDED, &s)) != DT_OK)
                return rc;
            if ((rc = within_limits(c, q, dt_model_signal(t->model, s), f)) != DT_OK)
                return rc;
            x->set_sig[x->n_set] = s;
            x->set_val[x->n_set++] = f->valuedouble;
        }
        t->n_ilk++;
    }
    return DT_OK;
}

static int load_controllers(jctx *c, const cJSON *arr, dt_ctrl_ctx *ctx)
{
    dt_twin *t = c->t;
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > MAX_CONTROLLERS)
        return fail(c, DT_EPARSE, "controllers", "an array of at most %d", MAX_CONTROLLERS);
    size_t i = 0;
    for (const cJSON *o = arr->child; o; o = o->next, i++) {
        char p[64], q[96];
        dt__fmt(p, sizeof p, "controllers[%zu]", i);
        const cJSON *jid = cJSON_GetObjectItemCaseSensitive(o, "id");
        const cJSON *jk = cJSON_GetObjectItemCaseSensitive(o, "kind");
        if (!cJSON_IsObject(o) || !cJSON_IsString(jid) || !cJSON_IsString(jk))
            return fail(c, DT_EPARSE, p, "an object with id and kind");
        for (size_t k = 0; k < t->n_ctl; k++)
            if (strcmp(t->ctl[k].id, jid->valuestring) == 0) {
                dt__fmt(q, sizeof q, "%s.id", p);
                return fail(c, DT_EPARSE, q, "duplicate controller id \"%s\"", jid->valuestring);
            }
        const dt_controller_ops *ops = dt_registry_controller(t->reg, jk->valuestring);
        if (ops == NULL) {
            dt__fmt(q, sizeof q, "%s.kind", p);
            return fail(c, DT_ENOTFOUND, q, "no controller of kind \"%s\"", jk->valuestring);
        }
        int rc = dt__json_check_keys(c->diag, o, p, ctl_common, ops->keys);
        if (rc != DT_OK)
            return rc;
        ctrl *k = &t->ctl[t->n_ctl];
        k->ops = ops;
        k->id = dt__strndup(&t->alloc, jid->valuestring, strlen(jid->valuestring));
        k->self = dt__calloc(&t->alloc, 1, ops->instance_size ? ops->instance_size : 1);
        t->n_ctl++;
        if (k->id == NULL || k->self == NULL)
            return fail(c, DT_ENOMEM, p, "out of memory");
        t->err[0] = '\0';
        rc = ops->init(k->self, ctx, (const dt_config *)(const void *)o);
        if (rc != DT_OK)
            return fail(c, rc, p, "%s", t->err[0] ? t->err : dt_strerror(rc));
    }
    return DT_OK;
}

static int load_sections(jctx *c, dt_ctrl_ctx *ctx)
{
    dt_twin *t = c->t;
    const char *ltext = dt__model_section(t->model, "loop");
    const char *dtext = dt__model_section(t->model, "dispatcher");
    const char *ctext = dt__model_section(t->model, "controllers");
    int rc = DT_OK;
    if (ltext != NULL) {
        cJSON *l = cJSON_Parse(ltext);
        const cJSON *p = l ? cJSON_GetObjectItemCaseSensitive(l, "period") : NULL;
        if (l == NULL)
            rc = fail(c, DT_ENOMEM, "loop", "out of memory");
        else if (!cJSON_IsObject(l))
            rc = fail(c, DT_EPARSE, "loop", "expected an object");
        else if ((rc = dt__json_check_keys(c->diag, l, "loop", loop_keys, NULL)) == DT_OK &&
                 (!cJSON_IsNumber(p) || !(p->valuedouble >= 1e-6 && p->valuedouble <= 3600)))
            rc = fail(c, DT_EPARSE, "loop.period", "required, seconds in [1e-6, 3600]");
        if (rc == DT_OK)
            t->period = dt_time_from_sec(p->valuedouble);
        cJSON_Delete(l);
    }
    if (rc == DT_OK && ctext != NULL && dtext == NULL)
        rc = fail(c, DT_EPARSE, "dispatcher",
                  "required with controllers (at least the safe state)");
    if (rc == DT_OK && dtext != NULL) {
        cJSON *d = cJSON_Parse(dtext);
        rc = d ? load_dispatcher(c, d) : fail(c, DT_ENOMEM, "dispatcher", "out of memory");
        cJSON_Delete(d);
    }
    if (rc == DT_OK && ctext != NULL) {
        if (t->est == NULL)
            rc = fail(c, DT_EPARSE, "controllers", "controllers act on an estimator's belief: "
                                                   "declare one");
        cJSON *a = rc == DT_OK ? cJSON_Parse(ctext) : NULL;
        if (rc == DT_OK)
            rc = a ? load_controllers(c, a, ctx)
                   : fail(c, DT_ENOMEM, "controllers", "out of memory");
        cJSON_Delete(a);
    }
    return rc;
}

/* The latency rule is never silently off: every bound's budget from the
 * filter's steady state, none below one loop period, and a finite data-age
 * limit for any twin that can dispatch commands. */
static int data_age_limit(jctx *c)
{
    dt_twin *t = c->t;
    t->tau_min = t->max_age;
    if (t->est != NULL && dt_est_bound_count(t->est) > 0) {
        dt_diag d;
        int rc = dt_est_budgets(t->est, &d);
        if (rc != DT_OK) {
            if (c->diag != NULL)
                *c->diag = d;
            return rc;
        }
        for (size_t i = 0; i < dt_est_bound_count(t->est); i++) {
            double tau = NAN;
            const char *name = "";
            (void)dt_est_latency_budget(t->est, i, &tau, &name);
            if (tau < dt_time_to_sec(t->period)) {
                char p[64];
                dt__fmt(p, sizeof p, "estimator.bounds[%zu]", i);
                return fail(c, DT_ERANGE, p,
                            "bound \"%s\": latency budget %.6g s is below one loop period "
                            "(%.6g s): the twin could never act", name, tau,
                            dt_time_to_sec(t->period));
            }
            if (tau < t->tau_min)
                t->tau_min = tau;
        }
    }
    if (t->max_age < dt_time_to_sec(t->period))
        return fail(c, DT_ERANGE, "dispatcher.max_data_age",
                    "%.6g s is below one loop period (%.6g s): the twin could never act",
                    t->max_age, dt_time_to_sec(t->period));
    for (size_t s = 0; s < t->n_sig; s++) {
        const dt_signal_info *si = dt_model_signal(t->model, (dt_signal_id)s);
        if (si->role == DT_ROLE_COMMANDED && !(t->tau_min < INFINITY))
            return fail(c, DT_EPARSE,
                        dt__model_section(t->model, "dispatcher") ? "dispatcher.max_data_age"
                                                                   : "dispatcher",
                        "required: the twin dispatches commands (\"%s\") and no latency "
                        "budget limits the age of their data (give estimator.bounds a finite "
                        "budget or dispatcher.max_data_age in seconds)", si->id);
    }
    return DT_OK;
}

void dt_twin_destroy(dt_twin *t)
{
    if (t == NULL)
        return;
    dt_allocator a = t->alloc;
    for (size_t i = 0; t->ctl && i < t->n_ctl; i++) {
        dt__free(&a, t->ctl[i].id);
        dt__free(&a, t->ctl[i].self);
    }
    dt_io_destroy(t->io);
    dt_est_destroy(t->est);
    dt_ingest_destroy(t->ing);
    if (t->own_reg)
        dt_registry_destroy(t->reg);
    dt_model_destroy(t->model);
    dt__free(&a, t->ctl);
    dt__free(&a, t->rate);
    dt__free(&a, t->safe);
    dt__free(&a, t->last_sent);
    dt__free(&a, t->last_sent_t);
    dt__free(&a, t->forced);
    dt__free(&a, t->last_sent_seq);
    dt__free(&a, t->counted_seq);
    dt__free(&a, t->fail_run);
    dt__free(&a, t->ilk);
    dt__free(&a, t->audit);
    dt__free(&a, t->rel);
    dt__free(&a, t->u);
    dt__free(&a, t->queue);
    dt__free(&a, t->pending);
    dt__free(&a, t->rp_s);
    dt__free(&a, t->rp_src);
    dt__free(&a, t->rp_len);
    dt__free(&a, t->rp_used);
    dt__free(&a, t->rp_sink);
    dt__free(&a, t);
}

static void init_ctx(dt_twin *t, dt_ctrl_ctx *ctx)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->model = t->model;
    ctx->est = t->est;
    ctx->now = t->now;
    ctx->queue = t->queue;
    ctx->cap = QUEUE_CAP;
    ctx->seq = &t->seq;
    ctx->deadline = t->deadline;
    ctx->last_sent = t->last_sent;
    ctx->err = t->err;
    ctx->errcap = sizeof t->err;
}

/* Options from the caller (checked by size) or the defaults. */
static int options(const dt_twin_options *opt, dt_twin_options *o)
{
    *o = (dt_twin_options)DT_TWIN_OPTIONS_INIT;
    if (opt != NULL) {
        /* the layout before `validate` was added is still accepted */
        size_t older = offsetof(dt_twin_options, validate);
        if (opt->size != sizeof *opt && opt->size != older)
            return DT_EABI;
        memcpy(o, opt, opt->size);
        o->size = sizeof *o;
    }
    return DT_OK;
}

int dt_twin_load_json(const char *text, size_t len, const dt_twin_options *opt, dt_twin **out,
                      dt_diag *diag)
{
    if (diag != NULL)
        memset(diag, 0, sizeof *diag);
    if (text == NULL || out == NULL)
        return DT_EINVAL;
    dt_twin_options o;
    if (options(opt, &o) != DT_OK)
        return DT_EABI;
    const dt_allocator *a = o.allocator ? o.allocator : dt_allocator_default();
    const dt_logger *lg = o.logger ? o.logger : dt_logger_stderr();
    dt_twin *t = dt__calloc(a, 1, sizeof *t);
    if (t == NULL)
        return dt__diag(diag, DT_ENOMEM, "", "out of memory");
    t->alloc = *a;
    t->log = *lg;
    t->replay = o.replay != 0;
    t->check_only = o.replay && o.validate;
    t->desc_hash = 1469598103934665603ull; /* FNV-1a of the description text */
    for (size_t i = 0; i < len; i++)
        t->desc_hash = (t->desc_hash ^ (uint8_t)text[i]) * 1099511628211ull;
    t->tau_min = INFINITY;
    t->max_age = INFINITY;
    t->data_t = DT_TIME_MIN;
    t->st.belief_age_s = INFINITY; /* before the first cycle no data is behind it */
    t->audit_cap = 64;
    jctx c = {t, diag};
    dt_model_options mo = DT_MODEL_OPTIONS_INIT;
    mo.allocator = a;
    mo.logger = lg;
    int rc = dt_model_load_json(text, len, &mo, &t->model, diag);
    if (rc == DT_OK)
        rc = dt__twin_memory_check(t->model, a, diag);
    if (rc == DT_OK) {
        dt_ingest_config ic = DT_INGEST_CONFIG_INIT;
        ic.allocator = a;
        ic.logger = lg;
        rc = dt_ingest_create(t->model, &ic, &t->ing);
        if (rc != DT_OK)
            (void)fail(&c, rc, "", "cannot create the ingest stage: %s", dt_strerror(rc));
    }
    if (rc == DT_OK) {
        if (o.registry != NULL) {
            t->reg = o.registry;
        } else {
            rc = dt_registry_create(a, &t->reg);
            t->own_reg = rc == DT_OK;
            if (rc != DT_OK)
                (void)fail(&c, rc, "", "out of memory");
        }
    }
    if (rc == DT_OK)
        rc = dt__io_create(t->model, t->ing, t->reg, o.basedir, a, lg,
                           t->check_only ? DT__IO_VALIDATE
                           : t->replay   ? DT__IO_REPLAY
                                         : DT__IO_OPEN,
                           &t->io, diag);
    if (rc == DT_OK && dt__model_section(t->model, "estimator") != NULL) {
        dt_est_config ec = DT_EST_CONFIG_INIT;
        ec.allocator = a;
        ec.logger = lg;
        rc = dt_est_create_json(t->model, &ec, &t->est, diag);
    }
    if (rc == DT_OK) {
        t->n_sig = dt_model_signal_count(t->model);
        size_t ns = t->n_sig ? t->n_sig : 1;
        t->rate = dt__calloc(a, ns, sizeof *t->rate);
        t->safe = dt__calloc(a, ns, sizeof *t->safe);
        t->last_sent = dt__calloc(a, ns, sizeof *t->last_sent);
        t->last_sent_t = dt__calloc(a, ns, sizeof *t->last_sent_t);
        t->forced = dt__calloc(a, ns, sizeof *t->forced);
        t->last_sent_seq = dt__calloc(a, ns, sizeof *t->last_sent_seq);
        t->counted_seq = dt__calloc(a, ns, sizeof *t->counted_seq);
        t->fail_run = dt__calloc(a, ns, sizeof *t->fail_run);
        t->ctl = dt__calloc(a, MAX_CONTROLLERS, sizeof *t->ctl);
        t->ilk = dt__calloc(a, MAX_INTERLOCKS, sizeof *t->ilk);
        t->rel = dt__calloc(a, RELEASE_BATCH, sizeof *t->rel);
        t->queue = dt__calloc(a, QUEUE_CAP, sizeof *t->queue);
        t->pending = dt__calloc(a, QUEUE_CAP, sizeof *t->pending);
        t->u = dt__calloc(a, DT_LA_MAX, sizeof *t->u);
        if (!t->u || !t->last_sent_seq || !t->counted_seq || !t->fail_run || !t->rate || !t->safe ||
            !t->last_sent || !t->last_sent_t || !t->forced || !t->ctl || !t->ilk || !t->rel ||
            !t->queue || !t->pending)
            rc = fail(&c, DT_ENOMEM, "", "out of memory");
        for (size_t s = 0; rc == DT_OK && s < t->n_sig; s++) {
            t->safe[s] = NAN;
            t->last_sent[s] = NAN;
        }
        t->period = 10 * DT_NS_PER_MS;
        t->deadline = 0;
        t->sink_failures = 3;
    }
    if (rc == DT_OK) {
        dt_ctrl_ctx ctx;
        init_ctx(t, &ctx);
        dt__json_begin(a);
        rc = load_sections(&c, &ctx);
        if (rc == DT_OK && dt__json_oom())
            rc = fail(&c, DT_ENOMEM, "", "out of memory");
        dt__json_end();
        if (t->deadline == 0)
            t->deadline = 2 * t->period; /* default: two cycles */
    }
    if (rc == DT_OK)
        rc = data_age_limit(&c);
    if (rc == DT_OK) {
        t->audit = dt__calloc(a, t->audit_cap, sizeof *t->audit);
        if (t->audit == NULL)
            rc = fail(&c, DT_ENOMEM, "", "out of memory");
    }
    if (rc != DT_OK) {
        dt_twin_destroy(t);
        return rc;
    }
    *out = t;
    return DT_OK;
}

int dt_twin_load_file(const char *path, const dt_twin_options *opt, dt_twin **out,
                      dt_diag *diag)
{
    if (path == NULL || out == NULL)
        return DT_EINVAL;
    dt_twin_options o;
    if (options(opt, &o) != DT_OK)
        return DT_EABI;
    const dt_allocator *a = o.allocator ? o.allocator : dt_allocator_default();
    if (diag != NULL)
        memset(diag, 0, sizeof *diag);
    char *text;
    size_t len;
    int rc = dt__read_file(path, a, 16u << 20, &text, &len, diag);
    if (rc != DT_OK)
        return rc;
    char dir[512];
    if (o.basedir == NULL) {
        const char *slash = strrchr(path, '/');
        if (slash == NULL)
            dt__fmt(dir, sizeof dir, ".");
        else
            dt__fmt(dir, sizeof dir, "%.*s", (int)(slash - path), path);
        o.basedir = dir;
    }
    rc = dt_twin_load_json(text, len, &o, out, diag);
    dt__free(a, text);
    return rc;
}

int dt_twin_set_callback(dt_twin *t, const char *id, dt_ctrl_fn fn, void *user)
{
    if (t == NULL || id == NULL || fn == NULL)
        return DT_EINVAL;
    if (t->started)
        return DT_ESTATE;
    for (size_t i = 0; i < t->n_ctl; i++)
        if (strcmp(t->ctl[i].id, id) == 0) {
            if (t->ctl[i].ops != &dt__callback_ops)
                return DT_EINVAL;
            dt__callback_ctrl *cb = t->ctl[i].self;
            cb->fn = fn;
            cb->user = user;
            return DT_OK;
        }
    return DT_ENOTFOUND;
}

int dt_twin_start(dt_twin *t, dt_time now)
{
    if (t == NULL)
        return DT_EINVAL;
    if (t->started)
        return DT_ESTATE;
    if (!dt_time_valid(now))
        return DT_ERANGE;
    int rc = dt_ingest_start(t->ing, now);
    if (rc == DT_OK && t->est != NULL) {
        /* budgets again when measurement callbacks were bound since load */
        rc = dt_est_start(t->est, now);
        dt_diag d;
        if ((rc == DT_ERANGE || rc == DT_EINVAL) && dt_est_budgets(t->est, &d) != DT_OK) {
            dt__fmt(t->err, sizeof t->err, "start failed: %s", d.message);
            return rc;
        }
        t->tau_min = t->max_age;
        for (size_t i = 0; rc == DT_OK && i < dt_est_bound_count(t->est); i++) {
            double tau = NAN;
            (void)dt_est_latency_budget(t->est, i, &tau, NULL);
            if (isnan(tau))
                rc = DT_ENUMERIC; /* fail closed: never run without a known budget */
            else if (tau < t->tau_min)
                t->tau_min = tau;
        }
    }
    if (rc != DT_OK) {
        dt__fmt(t->err, sizeof t->err, "start failed: %s", dt_strerror(rc));
        return rc;
    }
    t->now = now;
    t->last_arrival_applied = DT_TIME_MIN;
    t->started = 1;
    if (t->rec_write != NULL)
        rec_time(t, REC_START, now);
    return DT_OK;
}

int dt_twin_stop(dt_twin *t)
{
    if (t == NULL)
        return DT_EINVAL;
    if (!t->started || t->stopped)
        return DT_ESTATE;
    t->stopped = 1;
    return DT_OK;
}

/* ---- the dispatcher ---- */

static void audit_push(dt_twin *t, const dt_command *cmd, double requested, uint32_t decision,
                       int status)
{
    size_t at = (t->audit_head + t->audit_n) % t->audit_cap;
    if (t->audit_n == t->audit_cap)
        t->audit_head = (t->audit_head + 1) % t->audit_cap;
    else
        t->audit_n++;
    t->audit[at] = (dt_audit){*cmd, requested, decision, status};
}

/* Hands a decided command to the sinks (or, in replay, takes the recorded
 * result); records the result for replay. */
static int sink_apply(dt_twin *t, const dt_command *cmd)
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
        rc = dt_io_apply(t->io, cmd);
        if (t->rec_write != NULL) {
            uint8_t b[5] = {REC_SINK};
            put_u32(b + 1, (uint32_t)rc);
            rec(t, b, sizeof b);
        }
    }
    return rc;
}

/* One command through the safety chain, then to the sinks. */
static void dispatch(dt_twin *t, dt_command cmd, dt_time now)
{
    const dt_signal_info *si = dt_model_signal(t->model, cmd.signal);
    double requested = cmd.value;
    uint32_t dec = 0;
    t->st.commands++;
    if (now > cmd.t_deadline) {
        t->st.expired++;
        audit_push(t, &cmd, requested, DT_DISP_EXPIRED, 0);
        return;
    }
    if (t->safe_mode) {
        cmd.value = t->safe[cmd.signal];
        dec |= DT_DISP_SAFE_STATE;
        t->st.safe_stated++;
    } else {
        if (!isnan(t->forced[cmd.signal])) {
            cmd.value = t->forced[cmd.signal];
            dec |= DT_DISP_INTERLOCKED;
            t->st.interlocked++;
        }
        if (!isfinite(cmd.value)) {
            /* a controller produced NaN/Inf: never sent, the safe value is */
            cmd.value = t->safe[cmd.signal];
            dec |= DT_DISP_SAFE_STATE;
            t->st.safe_stated++;
        }
        if (si->has_limits && (cmd.value < si->min || cmd.value > si->max)) {
            cmd.value = cmd.value < si->min ? si->min : si->max;
            dec |= DT_DISP_CLAMPED;
            t->st.clamped++;
        }
        double rate = t->rate[cmd.signal], last = t->last_sent[cmd.signal];
        if (rate > 0 && !isnan(last)) {
            double dt = dt_time_to_sec(now - t->last_sent_t[cmd.signal]);
            double step = rate * dt;
            if (cmd.value > last + step || cmd.value < last - step) {
                cmd.value = cmd.value > last ? last + step : last - step;
                dec |= DT_DISP_RATE_LIMITED;
                t->st.rate_limited++;
            }
        }
    }
    int rc = sink_apply(t, &cmd);
    /* consecutive failures per signal: a sink that keeps refusing engages the
     * safe state (assess, next cycle); one success clears it */
    uint32_t *run = &t->fail_run[cmd.signal];
    if (rc == DT_OK || rc == DT_ENOTFOUND) {
        if (*run >= t->sink_failures)
            t->n_sink_faults--;
        *run = 0;
    } else if (++*run == t->sink_failures) {
        t->n_sink_faults++;
        t->st.sink_fault_entries++;
    }
    if (rc == DT_OK || rc == DT_ENOTFOUND) {
        /* DT_ENOTFOUND: no sink maps it (a twin may command in simulation only) */
        dec |= DT_DISP_SENT;
        t->st.sent++;
        t->last_sent[cmd.signal] = cmd.value;
        t->last_sent_t[cmd.signal] = now;
        t->last_sent_seq[cmd.signal] = cmd.seq;
        /* What the actuator was told is the estimator's input from now on. */
        int ui = t->est ? dt_est_input_index(t->est, cmd.signal) : -1;
        if (ui >= 0 && t->u[ui] != cmd.value) {
            t->u[ui] = cmd.value;
            (void)dt_est_set_input(t->est, now > dt_est_time(t->est) ? now : dt_est_time(t->est),
                                   t->u);
        }
        if (t->last_arrival_applied != DT_TIME_MIN)
            hist_add(t->h_cmd, &t->st.arrival_to_command, now - t->last_arrival_applied);
    } else {
        dec |= DT_DISP_SINK_ERROR;
        t->st.sink_errors++;
    }
    audit_push(t, &cmd, requested, dec, rc);
}

static void send_safe_state(dt_twin *t, dt_time now)
{
    for (size_t s = 0; s < t->n_sig; s++)
        if (!isnan(t->safe[s])) {
            dt_command c = {(uint32_t)s, 0, ++t->seq, now, now + t->deadline, t->safe[s]};
            dispatch(t, c, now);
        }
}

/* The latency rule and the interlocks, evaluated once per cycle. */
static void assess(dt_twin *t, dt_time now, dt_ctrl_ctx *ctx)
{
    /* cleared first: a twin without an estimator (no interlocks, no latency
     * rule) must not see stale forced values (found by a coverage test: every
     * command of such a twin was replaced by 0) */
    for (size_t s = 0; s < t->n_sig; s++)
        t->forced[s] = NAN;
    size_t broken = 0;
    /* the age of what the twin acts on: its belief's data, or without an
     * estimator the newest sample released (a twin that forwards commands) */
    dt_time td = t->est != NULL ? dt_est_data_time(t->est) : t->data_t;
    double age = td == DT_TIME_MIN ? INFINITY : dt_time_to_sec(now - td);
    t->st.belief_age_s = age;
    size_t disputed = 0;
    if (t->est != NULL) {
        broken = dt_est_bounds_violated_at(t->est, now);
        disputed = dt_est_disputed(t->est);
    }
    /* tau_min is finite whenever the twin has commanded signals (checked at
     * load); a twin without any has nothing to hold safe */
    int bad = t->n_sink_faults > 0 || broken > 0 || disputed > 0 || age > t->tau_min;
    if (bad && !t->safe_mode) {
        t->safe_mode = 1;
        t->st.safe_entries++;
        dt__log(&t->log, DT_LOG_WARN, "twin",
                "safe state: belief age %.3f s, budget %.3f s, %zu bound(s) exceeded, %zu "
                "signal(s) disputing the belief, %zu signal(s) with failing sinks",
                age, t->tau_min, broken, disputed, t->n_sink_faults);
        send_safe_state(t, now);
    } else if (!bad && t->safe_mode) {
        t->safe_mode = 0;
        dt__log(&t->log, DT_LOG_INFO, "twin", "belief fresh and sinks accepting: leaving the "
                                              "safe state");
        for (size_t i = 0; i < t->n_ctl; i++)
            if (t->ctl[i].ops->reset != NULL)
                t->ctl[i].ops->reset(t->ctl[i].self, ctx);
    }
    for (size_t i = 0; t->est != NULL && i < t->n_ilk; i++) {
        interlock *x = &t->ilk[i];
        dt_belief b;
        b.value = NAN;
        (void)dt_est_belief(t->est, x->sig, now, &b);
        /* written so that an unreadable or NaN value engages the interlock
         * (fail closed): !(v <= limit) is v > limit for every number */
        double v = b.value;
        int on = x->op == OP_GT   ? !(v <= x->value)
                 : x->op == OP_GE ? !(v < x->value)
                 : x->op == OP_LT ? !(v >= x->value)
                                  : !(v > x->value);
        if (on && !x->active)
            dt__log(&t->log, DT_LOG_WARN, "twin", "interlock \"%s\" engaged", x->name);
        x->active = on;
        if (on)
            for (size_t k = 0; k < x->n_set; k++)
                t->forced[x->set_sig[k]] = x->set_val[k];
    }
}

int dt_twin_submit(dt_twin *t, const dt_command *cmd)
{
    if (t == NULL || cmd == NULL || cmd->signal >= t->n_sig ||
        dt_model_signal(t->model, cmd->signal)->role != DT_ROLE_COMMANDED)
        return DT_EINVAL;
    if (t->n_pending == QUEUE_CAP)
        return DT_EFULL;
    t->pending[t->n_pending] = *cmd;
    t->pending[t->n_pending++].seq = ++t->seq; /* the twin numbers every command */
    if (t->rec_write != NULL) {
        uint8_t b[41] = {REC_SUBMIT};
        enc_command(b + 1, cmd);
        rec(t, b, sizeof b);
    }
    return DT_OK;
}

int dt_twin_step(dt_twin *t, dt_time now)
{
    if (t == NULL)
        return DT_EINVAL;
    if (!t->started || t->stopped)
        return DT_ESTATE;
    if (now < t->now || !dt_time_valid(now))
        return DT_ERANGE;
    dt_time interval = now - t->now;
    t->now = now;
    if (t->safe_mode) /* the commands since the last step were the safe state's */
        t->st.safe_time += interval;
    if (t->rec_write != NULL)
        rec_time(t, REC_STEP, now);
    /* Sense */
    int rc = dt_io_poll(t->io, now);
    /* Synchronize */
    dt_ingest_poll(t->ing, now);
    /* Understand */
    size_t n;
    while ((n = dt_ingest_release(t->ing, t->rel, RELEASE_BATCH)) > 0) {
        for (size_t i = 0; i < n && t->est == NULL; i++)
            if (t->rel[i].t_source > t->data_t)
                t->data_t = t->rel[i].t_source;
        for (size_t i = 0; i < n && t->est != NULL; i++) {
            if (dt_est_process(t->est, &t->rel[i]) == DT_OK) {
                hist_add(t->h_est, &t->st.arrival_to_estimate, now - t->rel[i].t_arrival);
                if (t->rel[i].t_arrival > t->last_arrival_applied)
                    t->last_arrival_applied = t->rel[i].t_arrival;
            }
        }
        if (n < RELEASE_BATCH)
            break;
    }
    /* Actuation outcome: commands not confirmed in time, counted once each. */
    if (t->confirm_timeout > 0)
        for (size_t s = 0; s < t->n_sig; s++) {
            uint64_t sent = t->last_sent_seq[s], rep = 0;
            if (sent == 0 || sent == t->counted_seq[s] || now - t->last_sent_t[s] <= t->confirm_timeout)
                continue;
            dt_io_reported(t->io, (dt_signal_id)s, &rep, NULL, NULL);
            if (rep < sent) {
                t->st.unconfirmed++;
                t->counted_seq[s] = sent;
            }
        }
    /* Act */
    dt_ctrl_ctx ctx;
    init_ctx(t, &ctx);
    assess(t, now, &ctx);
    for (size_t i = 0; i < t->n_pending; i++)
        dispatch(t, t->pending[i], now);
    t->n_pending = 0;
    for (size_t i = 0; i < t->n_ctl; i++) {
        ctrl *k = &t->ctl[i];
        ctx.dt = k->ran ? dt_time_to_sec(now - k->last_run) : 0;
        ctx.n_queue = 0;
        t->err[0] = '\0';
        int crc = k->ops->compute(k->self, &ctx);
        if (crc != DT_OK && rc == DT_OK)
            rc = crc;
        k->last_run = now;
        k->ran = 1;
        for (size_t q = 0; q < ctx.n_queue; q++)
            dispatch(t, ctx.queue[q], now);
    }
    t->st.cycles++;
    t->st.last_cycle_interval = interval;
    if (interval > t->st.max_cycle_interval)
        t->st.max_cycle_interval = interval;
    return rc;
}

void dt_twin_stats_get(const dt_twin *t, dt_twin_stats *out)
{
    *out = t->st;
    dt_ingest_stats_get(t->ing, &out->ingest);
    if (t->est != NULL)
        dt_est_stats_get(t->est, &out->estimator);
    out->safe_state = t->safe_mode;
    out->tau_max_s = t->tau_min;
    out->arrival_to_estimate.p50 = hist_q(t->h_est, t->st.arrival_to_estimate.count, 0.5);
    out->arrival_to_estimate.p99 = hist_q(t->h_est, t->st.arrival_to_estimate.count, 0.99);
    out->arrival_to_command.p50 = hist_q(t->h_cmd, t->st.arrival_to_command.count, 0.5);
    out->arrival_to_command.p99 = hist_q(t->h_cmd, t->st.arrival_to_command.count, 0.99);
}

size_t dt_twin_audit(const dt_twin *t, dt_audit *out, size_t max)
{
    size_t n = t->audit_n < max ? t->audit_n : max;
    size_t skip = t->audit_n - n;
    for (size_t i = 0; i < n; i++)
        out[i] = t->audit[(t->audit_head + skip + i) % t->audit_cap];
    return n;
}

const dt_model *dt_twin_model(const dt_twin *t) { return t ? t->model : NULL; }
dt_ingest *dt_twin_ingest(dt_twin *t) { return t ? t->ing : NULL; }
dt_est *dt_twin_estimator(dt_twin *t) { return t ? t->est : NULL; }
dt_io *dt_twin_io(dt_twin *t) { return t ? t->io : NULL; }
const char *dt_twin_errmsg(const dt_twin *t) { return t ? t->err : ""; }

double dt_twin_period_s(const dt_twin *t) { return t ? dt_time_to_sec(t->period) : 0; }

const dt_allocator *dt__twin_allocator(const dt_twin *t) { return &t->alloc; }
const dt_allocator *dt_twin_allocator(const dt_twin *t)
{
    return t ? &t->alloc : dt_allocator_default();
}

/* ---- replay ---- */

#define RP_SAMPLES 65536
#define RP_BATCHES 4096
#define RP_SINKS 4096

int dt_twin_replay(dt_twin *t, dt_record_read_fn fn, void *user,
                   void (*on_step)(void *user, dt_twin *twin, dt_time now), void *step_user)
{
    if (t == NULL || fn == NULL)
        return DT_EINVAL;
    if (!t->replay || t->check_only || t->started)
        return DT_ESTATE;
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
    if (!t->rp_s || !t->rp_src || !t->rp_len || !t->rp_used || !t->rp_sink)
        return DT_ENOMEM;
    dt__ingest_set_feed(t->ing, feed, t);
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
        if (type == REC_SUBMIT) {
            type = -1;
            if (fn(user, b, 40) != DT_OK) {
                rc = DT_EPARSE;
                break;
            }
            dt_command c;
            dec_command(b, &c);
            if ((rc = dt_twin_submit(t, &c)) != DT_OK)
                break;
            continue;
        }
        dt__fmt(t->err, sizeof t->err, "replay: unknown record type %d", type);
        rc = DT_EPARSE;
        break;
    }
    dt__ingest_set_feed(t->ing, NULL, NULL);
    return rc;
}

int dt_twin_actuation(const dt_twin *t, dt_signal_id sig, double *desired, double *reported,
                      int *confirmed)
{
    if (t == NULL || sig >= t->n_sig ||
        dt_model_signal(t->model, sig)->role != DT_ROLE_COMMANDED)
        return DT_EINVAL;
    uint64_t rep = 0;
    double v = NAN;
    dt_io_reported(t->io, sig, &rep, &v, NULL);
    if (desired)
        *desired = t->last_sent[sig];
    if (reported)
        *reported = v;
    if (confirmed)
        *confirmed = t->last_sent_seq[sig] != 0 && rep >= t->last_sent_seq[sig];
    return DT_OK;
}
