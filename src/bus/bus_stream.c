/* Sample streams a twin publishes on s/{stream}: the samples it received
 * for a stream's signals, as its step releases them (validated, mapped to
 * the twin's time base, values in the model's units), in binary batches
 * (docs/wire.md, sample records) at QoS 0. A batch is sent when it holds
 * `batch` records and at the end of every step's releases, so no sample
 * waits past the step that received it. The batches are allocated at
 * attach: publishing allocates nothing through the twin's allocator. */
#include <stdio.h>
#include <string.h>

#include "../desc/desc.h"
#include "../platform/internal.h"
#include "../twin/twin_internal.h"
#include "bus_internal.h"

static const char *const stream_keys[] = {"stream", "signals", "batch", "max_age", NULL};

#define BATCH_DEFAULT 20
#define MAX_AGE_DEFAULT 1.0 /* s */

static int read_stream(dt_diag *diag, const dt_config *o, const char *path, dt__bus *b,
                       dt__bus_stream *st)
{
    char got[64];
    if (!dt__cfg_is_object(o))
        return dt__diag(diag, DT_EPARSE, path, "expected an object, got %s",
                        dt__cfg_got(o, got, sizeof got));
    int rc = dt__cfg_check_keys(diag, o, path, stream_keys, NULL);
    if (rc != DT_OK)
        return rc;
    const char *name = dt__cfg_str(dt_config_get(o, "stream"));
    if (name == NULL)
        return dt__diag(diag, DT_EPARSE, path, "stream: required, a name, got %s",
                        dt__cfg_got(dt_config_get(o, "stream"), got, sizeof got));
    if (!dt__bus_name_ok(name))
        return dt__diag(diag, DT_EPARSE, path, "stream: \"%s\": 1..64 of A-Z a-z 0-9 _ -",
                        name);
    for (size_t k = 0; k < b->streams.n; k++)
        if (strcmp(b->streams.s[k].name, name) == 0)
            return dt__diag(diag, DT_EPARSE, path, "stream: \"%s\" twice", name);
    memcpy(st->name, name, strlen(name) + 1);
    double batch = BATCH_DEFAULT, age = MAX_AGE_DEFAULT;
    const double most = (double)(size_t)DT_BUSWIRE_MAX_SAMPLES; /* an integer: 8191 */
    rc = dt__bus_num_member(diag, o, path, "batch", 1, most, 1, batch, &batch);
    if (rc == DT_OK)
        rc = dt__bus_num_member(diag, o, path, "max_age", 0.001, 3600, 0, age, &age);
    if (rc == DT_OK)
        rc = dt__bus_signal_list(diag, o, path, "signals", b->model, DT_ROLE_MEASURED,
                                 "a measured signal (a stream carries the samples the twin "
                                 "receives)",
                                 "measured signals", st->sig, DT__BUS_STREAM_SIGNALS, &st->n);
    if (rc != DT_OK)
        return rc;
    st->batch = (size_t)batch;
    st->max_age_s = age;
    st->max_age = dt_time_from_sec(age);
    char rest[DT__BUS_TOPIC_MAX];
    (void)snprintf(rest, sizeof rest, "s/%s", st->name);
    if (dt__bus_topic(st->topic, sizeof st->topic, b->realm, b->twin, rest) != DT_OK)
        return dt__diag(diag, DT_ELIMIT, path, "stream: \"%s\": topic too long", st->name);
    return DT_OK;
}

int dt__bus_streams_read(dt_diag *diag, const dt_config *sec, dt__bus *b)
{
    const dt_config *arr = dt_config_get(sec, "streams");
    char got[64];
    if (arr == NULL)
        return DT_OK;
    if (!dt__cfg_is_array(arr) || dt__cfg_count(arr) > DT__BUS_STREAMS)
        return dt__diag(diag, DT_EPARSE, "bus.streams",
                        "expected an array of at most %d streams, got %s", DT__BUS_STREAMS,
                        dt__cfg_got(arr, got, sizeof got));
    size_t k = 0;
    for (const dt_config *o = dt__cfg_child(arr); o != NULL; o = dt__cfg_next(o), k++) {
        char path[64];
        (void)snprintf(path, sizeof path, "bus.streams[%zu]", k);
        int rc = read_stream(diag, o, path, b, &b->streams.s[k]);
        if (rc != DT_OK)
            return rc;
        b->streams.n = k + 1;
    }
    return DT_OK;
}

/* ---- publishing ---- */

/* Sends a stream's pending records as one message (QoS 0, not retained);
 * while the connection is down they are counted unsent, never queued. */
static void flush(dt__bus *b, dt__bus_stream *st)
{
    dt__bus_streams *S = &b->streams;
    size_t n = st->n_rec;
    st->n_rec = 0;
    if (n == 0)
        return;
    if (!b->eng->connected(b->es)) {
        S->st.samples_unsent += n;
        return;
    }
    dt_buswire_header h = {0};
    h.version = DT_BUSWIRE_VERSION;
    h.type = DT_BUSWIRE_SAMPLES;
    h.epoch = b->epoch;
    h.contract = b->contract_version;
    h.seq = st->seq + 1;
    size_t len = dt_buswire_encode_samples(S->buf, S->buf_cap, &h, st->rec, n);
    if (len == 0 ||
        b->eng->publish(b->es, st->topic, S->buf, len, DT_BUS_BEST_EFFORT, 0) != DT_OK) {
        S->st.samples_unsent += n;
        return;
    }
    st->seq++;
    S->st.stream_messages++;
    S->st.samples_published += n;
}

/* The twin's released samples: each one of a stream's signals becomes a
 * record of that stream (of every stream that lists it); s NULL: the step's
 * releases are over, every pending batch is sent. */
static void on_released(void *user, const dt_sample *s, size_t n, dt_time now)
{
    dt__bus *b = user;
    dt__bus_streams *S = &b->streams;
    if (s == NULL) {
        for (size_t k = 0; k < S->n; k++)
            flush(b, &S->s[k]);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i].signal >= S->n_sig)
            continue;
        for (size_t k = 0; k < S->n; k++) {
            int c = S->chan[k * S->n_sig + s[i].signal];
            if (c < 0)
                continue;
            dt__bus_stream *st = &S->s[k];
            /* both times are valid (|t| < 2^62): the difference fits */
            if (now - s[i].t_source > st->max_age) {
                S->st.samples_too_old++;
                continue;
            }
            dt_buswire_sample *r = &st->rec[st->n_rec];
            int has_var = (s[i].flags & DT_SAMPLE_HAS_VARIANCE) != 0;
            r->channel = (uint32_t)c;
            r->flags = (has_var ? DT_BUSWIRE_F_VARIANCE : 0) |
                       ((s[i].flags & DT_SAMPLE_UNCERTAIN) ? DT_BUSWIRE_F_UNCERTAIN : 0);
            r->t_source = s[i].t_source;
            r->value = s[i].value;
            r->variance = has_var ? s[i].variance : 0;
            /* ingest refuses non-finite values and negative variances; a
             * variance above 1e150 would make the encoder refuse the batch */
            if (dt_buswire_sample_check(r) != DT_BUSWIRE_OK) {
                S->st.samples_invalid++;
                continue;
            }
            if (++st->n_rec == st->batch)
                flush(b, st);
        }
    }
}

int dt__bus_streams_attach(dt__bus *b, dt_twin *twin, dt_diag *diag)
{
    dt__bus_streams *S = &b->streams;
    if (S->n == 0 || b->es == NULL)
        return DT_OK;
    S->n_sig = dt_model_signal_count(b->model);
    S->chan = dt__calloc(&b->alloc, S->n * S->n_sig, sizeof *S->chan);
    size_t most = 1;
    for (size_t k = 0; k < S->n; k++) {
        dt__bus_stream *st = &S->s[k];
        st->rec = dt__calloc(&b->alloc, st->batch, sizeof *st->rec);
        if (st->rec == NULL)
            return dt__diag(diag, DT_ENOMEM, "bus.streams", "out of memory");
        most = st->batch > most ? st->batch : most;
    }
    S->buf_cap = DT_BUSWIRE_HEADER + most * DT_BUSWIRE_SAMPLE_RECORD;
    S->buf = dt__calloc(&b->alloc, S->buf_cap, 1);
    if (S->chan == NULL || S->buf == NULL)
        return dt__diag(diag, DT_ENOMEM, "bus.streams", "out of memory");
    for (size_t k = 0; k < S->n; k++) {
        for (size_t j = 0; j < S->n_sig; j++)
            S->chan[k * S->n_sig + j] = -1;
        for (size_t c = 0; c < S->s[k].n; c++)
            S->chan[k * S->n_sig + S->s[k].sig[c]] = (int16_t)c;
    }
    int rc = dt__twin_set_sample_tap(twin, on_released, b);
    return rc == DT_OK ? DT_OK
                       : dt__diag(diag, rc, "bus.streams", "cannot tap the twin's samples: %s",
                                  dt_strerror(rc));
}

void dt__bus_streams_free(dt__bus *b)
{
    dt__bus_streams *S = &b->streams;
    for (size_t k = 0; k < S->n; k++) {
        dt__free(&b->alloc, S->s[k].rec);
        S->s[k].rec = NULL;
    }
    dt__free(&b->alloc, S->chan);
    dt__free(&b->alloc, S->buf);
    S->chan = NULL;
    S->buf = NULL;
}

size_t dt__bus_stream_counters(const dt__bus *b, dt_counter *out, size_t max)
{
    const dt__bus_stream_stats *t = &b->streams.st;
    if (b->streams.n == 0)
        return 0;
    const dt_counter c[] = {
        {"bus.samples_published", t->samples_published},
        {"bus.stream_messages", t->stream_messages},
        {"bus.samples_unsent", t->samples_unsent},
        {"bus.samples_too_old", t->samples_too_old},
        {"bus.samples_invalid", t->samples_invalid},
    };
    size_t n = sizeof c / sizeof c[0];
    for (size_t i = 0; out != NULL && i < n && i < max; i++)
        out[i] = c[i];
    return n;
}
