/* Sense and Synchronize benchmarks (issue 3). Each figure is the median of
 * BENCH_REPS runs; baselines run in the same process. */
#include "bench_util.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "dtwin/dtwin.h"

#define BATCH 32

/* ---- baseline: a mutex + condition variable queue, as commonly written ---- */

typedef struct mq {
    pthread_mutex_t mu;
    pthread_cond_t nonempty;
    dt_sample *buf;
    size_t cap, head, count;
} mq;

static void mq_init(mq *q, size_t cap)
{
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->nonempty, NULL);
    q->buf = calloc(cap, sizeof *q->buf);
    q->cap = cap;
    q->head = q->count = 0;
}

static int mq_push(mq *q, const dt_sample *s)
{
    pthread_mutex_lock(&q->mu);
    int ok = q->count < q->cap;
    if (ok) {
        q->buf[(q->head + q->count) % q->cap] = *s;
        q->count++;
        pthread_cond_signal(&q->nonempty);
    }
    pthread_mutex_unlock(&q->mu);
    return ok;
}

static size_t mq_drain(mq *q, dt_sample *out, size_t max)
{
    pthread_mutex_lock(&q->mu);
    size_t n = 0;
    while (n < max && q->count > 0) {
        out[n++] = q->buf[q->head];
        q->head = (q->head + 1) % q->cap;
        q->count--;
    }
    pthread_mutex_unlock(&q->mu);
    return n;
}

/* ---- single thread: push one at a time, drain in batches ---- */

static double ring_single(size_t total, int batched)
{
    dt_ring *r;
    dt_ring_create(NULL, 1024, DT_OVERFLOW_DROP_NEWEST, &r);
    dt_sample in[BATCH], out[BATCH];
    memset(in, 0, sizeof in);
    double t0 = bench_now(), acc = 0;
    for (size_t done = 0; done < total; done += BATCH) {
        if (batched) {
            dt_ring_push_n(r, in, BATCH);
        } else {
            for (int i = 0; i < BATCH; i++) {
                in[i].t_source = (dt_time)(done + (size_t)i);
                dt_ring_push(r, &in[i]);
            }
        }
        size_t n = dt_ring_drain(r, out, BATCH);
        acc += (double)out[n - 1].t_source;
    }
    double dt = bench_now() - t0;
    bench_sink = acc;
    dt_ring_destroy(r);
    return (double)total / dt;
}

static double mutex_single(size_t total)
{
    mq q;
    mq_init(&q, 1024);
    dt_sample in[BATCH], out[BATCH];
    memset(in, 0, sizeof in);
    double t0 = bench_now(), acc = 0;
    for (size_t done = 0; done < total; done += BATCH) {
        for (int i = 0; i < BATCH; i++) {
            in[i].t_source = (dt_time)(done + (size_t)i);
            mq_push(&q, &in[i]);
        }
        size_t n = mq_drain(&q, out, BATCH);
        acc += (double)out[n - 1].t_source;
    }
    double dt = bench_now() - t0;
    bench_sink = acc;
    free(q.buf);
    return (double)total / dt;
}

/* ---- two threads, batches of 32 ---- */

typedef struct xarg {
    dt_ring *r;
    size_t total;
} xarg;

static void *xproducer(void *p)
{
    xarg *a = p;
    dt_sample in[BATCH];
    memset(in, 0, sizeof in);
    size_t sent = 0;
    while (sent < a->total) {
        in[0].t_source = (dt_time)sent;
        sent += dt_ring_push_n(a->r, in, BATCH);
    }
    return NULL;
}

static double ring_cross(size_t total)
{
    xarg a;
    dt_ring_create(NULL, 4096, DT_OVERFLOW_DROP_NEWEST, &a.r);
    a.total = total;
    dt_sample out[256];
    pthread_t th;
    double t0 = bench_now();
    pthread_create(&th, NULL, xproducer, &a);
    size_t got = 0;
    while (got < total)
        got += dt_ring_drain(a.r, out, 256);
    double dt = bench_now() - t0;
    pthread_join(th, NULL);
    dt_ring_destroy(a.r);
    return (double)total / dt;
}

/* ---- merge of 8 sources, 1% out of order ---- */

static const char model_doc[] =
    "{\"dtwin\":1,\"name\":\"bench\",\"assets\":[{\"id\":\"a\"}],\"signals\":["
    "{\"id\":\"s0\",\"asset\":\"a\",\"quantity\":\"voltage\",\"unit\":\"V\",\"role\":\"measured\",\"period\":0.001},"
    "{\"id\":\"s1\",\"asset\":\"a\",\"quantity\":\"voltage\",\"unit\":\"V\",\"role\":\"measured\",\"period\":0.001}]}";

static double merge8(dt_model *m, size_t per_source, double *clock_ns)
{
    enum { S = 8 };
    dt_ingest_config ic = DT_INGEST_CONFIG_INIT;
    ic.logger = dt_logger_silent();
    dt_ingest *g;
    dt_ingest_create(m, &ic, &g);
    dt_source_id id[S];
    for (int i = 0; i < S; i++) {
        dt_source_config sc = DT_SOURCE_CONFIG_INIT;
        char name[8];
        snprintf(name, sizeof name, "s%d", i);
        sc.name = name;
        sc.ring_capacity = 1024;
        sc.reorder_capacity = 4096;
        sc.lateness_s = 0.0005;
        sc.timeout_s = 1e4;
        sc.clock.offset_s = 50e-6 * i; /* sources 50 us apart */
        dt_ingest_add_source(g, &sc, &id[i]);
    }
    dt_ingest_start(g, 0);
    /* Each source: 1 us spacing, 1% of samples swapped with their neighbour. */
    dt_sample *src = malloc(per_source * sizeof *src);
    for (size_t k = 0; k < per_source; k++) {
        src[k] = (dt_sample){(uint32_t)(k & 1), 0, (dt_time)(k * 1000), 0, 1.0, 0};
        src[k].t_arrival = src[k].t_source;
    }
    unsigned lcg = 1;
    for (size_t k = 0; k + 1 < per_source; k++) {
        lcg = lcg * 1103515245u + 12345u;
        if ((lcg >> 16) % 100 == 0) {
            dt_sample t = src[k];
            src[k] = src[k + 1];
            src[k + 1] = t;
        }
    }
    dt_sample out[512];
    double busy = 0;
    size_t released = 0;
    const size_t chunk = 256;
    for (size_t k = 0; k < per_source; k += chunk) {
        size_t n = per_source - k < chunk ? per_source - k : chunk;
        for (int i = 0; i < S; i++)
            dt_ring_push_n(dt_ingest_ring(g, id[i]), src + k, n);
        /* time only what the twin thread does: drain, validate, map, merge */
        double t0 = bench_now();
        dt_ingest_poll(g, (dt_time)((k + n) * 1000) + DT_NS_PER_S);
        if (k + chunk >= per_source) /* the end: let every source go stale */
            dt_ingest_poll(g, (dt_time)((k + n) * 1000) + 100000 * DT_NS_PER_S);
        size_t r;
        while ((r = dt_ingest_release(g, out, 512)) > 0)
            released += r;
        busy += bench_now() - t0;
    }
    free(src);
    dt_ingest_stats st;
    dt_ingest_stats_get(g, &st);
    if (st.total.dropped_reorder_full || st.total.rejected_future || st.total.dropped_newest ||
        released != S * per_source)
        fprintf(stderr, "merge8: released %zu of %zu (reorder full %llu, future %llu, ring %llu)\n",
                released, S * per_source, (unsigned long long)st.total.dropped_reorder_full,
                (unsigned long long)st.total.rejected_future,
                (unsigned long long)st.total.dropped_newest);
    /* clock mapping alone, on an estimating clock */
    if (clock_ns != NULL) {
        dt_clock c;
        dt_clock_config cc = {DT_CLOCK_ESTIMATE, 0, 0, 0.01, 16, 1.0};
        dt_clock_init(&c, &cc);
        for (int k = 0; k < 100000; k++)
            dt_clock_observe(&c, (dt_time)k * 100000, (dt_time)k * 100000 + 5000000);
        const size_t N = 1u << 16;
        dt_time *ts = malloc(N * sizeof *ts);
        for (size_t k = 0; k < N; k++)
            ts[k] = (dt_time)(k * 997u);
        int64_t acc = 0;
        double t0 = bench_now();
        for (int rep = 0; rep < 100; rep++)
            for (size_t k = 0; k < N; k++)
                acc += dt_clock_map(&c, ts[k] + rep);
        *clock_ns = (bench_now() - t0) / (100.0 * (double)N) * 1e9;
        bench_sink = (double)acc;
        free(ts);
    }
    dt_ingest_destroy(g);
    return (double)(S * per_source) / busy;
}

static double interp(dt_model *m, double *resample_ns)
{
    dt_ingest_config ic = DT_INGEST_CONFIG_INIT;
    ic.logger = dt_logger_silent();
    dt_ingest *g;
    dt_ingest_create(m, &ic, &g);
    dt_source_config sc = DT_SOURCE_CONFIG_INIT;
    sc.name = "x";
    dt_source_id id;
    dt_ingest_add_source(g, &sc, &id);
    dt_ingest_start(g, 0);
    for (int k = 0; k < 4; k++) {
        dt_sample s = {0, 0, (dt_time)k * DT_NS_PER_MS, (dt_time)k * DT_NS_PER_MS, k * 2.0, 0};
        dt_ingest_push(g, id, &s);
    }
    dt_ingest_poll(g, 2 * DT_NS_PER_S);
    dt_sample out[8];
    dt_ingest_release(g, out, 8);
    const size_t N = 1u << 20;
    dt_signal_value v;
    double acc = 0;
    double t0 = bench_now();
    for (size_t k = 0; k < N; k++) {
        dt_time t = (dt_time)(k % 3000000u); /* within the kept history */
        dt_ingest_value_at(g, 0, t, DT_INTERP_LINEAR, &v);
        acc += v.value;
    }
    double ns = (bench_now() - t0) / (double)N * 1e9;
    /* the same values on a grid, 1000 per call */
    static double grid[1000];
    t0 = bench_now();
    for (int rep = 0; rep < 1000; rep++) {
        dt_ingest_resample(g, 0, 0, 3000, 1000, DT_INTERP_LINEAR, grid);
        acc += grid[rep];
    }
    *resample_ns = (bench_now() - t0) / 1e6 * 1e9;
    bench_sink = acc;
    dt_ingest_destroy(g);
    return ns;
}

static int want(int argc, char **argv, const char *name)
{
    /* bench_ingest [substring]: run only the figures whose name contains it */
    return argc < 2 || strstr(name, argv[1]) != NULL;
}

int main(int argc, char **argv)
{
    dt_model_options mo = DT_MODEL_OPTIONS_INIT;
    mo.logger = dt_logger_silent();
    dt_model *m;
    if (dt_model_load_json(model_doc, sizeof model_doc - 1, &mo, &m, NULL) != 0)
        return 1;
    double a[BENCH_REPS], b[BENCH_REPS], c[BENCH_REPS], d[BENCH_REPS], e[BENCH_REPS],
        f[BENCH_REPS], g[BENCH_REPS], h[BENCH_REPS];
    int ring = want(argc, argv, "ingest."), merge = want(argc, argv, "sync.merge8") ||
                                                   want(argc, argv, "sync.clockmap"),
        in = want(argc, argv, "sync.interp") || want(argc, argv, "sync.resample");
    for (int r = 0; r < BENCH_REPS; r++) {
        if (ring) {
            a[r] = ring_single(20000000, 0);
            b[r] = ring_single(20000000, 1);
            c[r] = mutex_single(20000000);
            d[r] = ring_cross(20000000);
        }
        if (merge)
            e[r] = merge8(m, 400000, &f[r]);
        if (in)
            g[r] = interp(m, &h[r]);
    }
    if (ring) {
        double single = bench_median(a, BENCH_REPS), mutex = bench_median(c, BENCH_REPS);
        bench_line("ingest.push_drain", single, "samples/s");
        bench_line("ingest.push_n_drain", bench_median(b, BENCH_REPS), "samples/s");
        bench_line("ingest.mutex_queue", mutex, "samples/s");
        bench_line("ingest.vs_mutex", single / mutex, "ratio");
        bench_line("ingest.cross_core", bench_median(d, BENCH_REPS), "samples/s");
    }
    if (merge) {
        bench_line("sync.merge8", bench_median(e, BENCH_REPS), "samples/s");
        bench_line("sync.clockmap_ns", bench_median(f, BENCH_REPS), "ns/sample");
    }
    if (in) {
        bench_line("sync.interp_ns", bench_median(g, BENCH_REPS), "ns/value");
        bench_line("sync.resample_ns", bench_median(h, BENCH_REPS), "ns/value");
    }
    dt_model_destroy(m);
    return 0;
}
