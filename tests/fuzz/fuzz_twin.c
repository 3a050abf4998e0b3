/* libFuzzer: a running twin driven by the input, read as a sequence of
 * operations (each a byte, then its operands): push a sample (any signal name,
 * any value bits, any time offset, future and late included), step the twin,
 * jump the source's clock (+-5 s, +-300 s), let time go backwards, submit a
 * host command (any value bits), report an actuation, push a sample with a
 * raw int64 time to the fixed or the estimated-clock source, step to a raw
 * int64 `now`. After every step the ingest accounting identity must hold for
 * both sources and the twin must keep running; no operation may allocate
 * after start. */
#include <stdint.h>
#include <string.h>

#include "dtwin/dtwin.h"
#include "fuzz_util.h"
#include "alloc_counter.h"

static const char doc[] =
    "{\"dtwin\":1,\"name\":\"fz\",\"assets\":[{\"id\":\"p\"}],\"signals\":["
    "{\"id\":\"y\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","
    " \"noise\":{\"std\":0.01},\"period\":0.01,\"limits\":{\"min\":-10,\"max\":10}},"
    "{\"id\":\"v\",\"asset\":\"p\",\"quantity\":\"velocity\",\"unit\":\"m/s\",\"role\":\"measured\","
    " \"noise\":{\"std\":0.1},\"period\":0.01},"
    "{\"id\":\"y_est\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"estimated\"},"
    "{\"id\":\"v_est\",\"asset\":\"p\",\"quantity\":\"velocity\",\"unit\":\"m/s\",\"role\":\"estimated\"},"
    "{\"id\":\"u\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"commanded\","
    " \"limits\":{\"min\":-5,\"max\":5}}],"
    "\"sources\":[{\"id\":\"s\",\"kind\":\"memory\",\"ring\":64,\"reorder\":64,\"lateness\":0.05,"
    " \"timeout\":0.5,\"mapping\":[{\"native\":\"y\",\"signal\":\"y\"},"
    " {\"native\":\"v\",\"signal\":\"v\",\"unit\":\"km/h\"}]},"
    " {\"id\":\"e\",\"kind\":\"memory\",\"ring\":64,\"reorder\":64,\"timeout\":0.5,"
    "  \"clock\":{\"mode\":\"estimate\",\"window\":0.1,\"windows\":4,\"jump\":0.5},"
    "  \"mapping\":[{\"native\":\"y\",\"signal\":\"y\"}]}],"
    "\"sinks\":[{\"id\":\"k\",\"kind\":\"memory\",\"capacity\":8,"
    " \"mapping\":[{\"native\":\"u\",\"signal\":\"u\"}]}],"
    "\"estimator\":{\"states\":[\"y_est\",\"v_est\"],\"inputs\":[\"u\"],"
    " \"A\":[[0,1],[0,-0.5]],\"B\":[[0],[1]],\"Q\":[1e-4,0.01],\"P0\":[0.01,0.1],"
    " \"history\":32,\"measurements\":[{\"signal\":\"y\",\"H\":{\"y_est\":1}},"
    " {\"signal\":\"v\",\"H\":{\"v_est\":1}}],"
    " \"bounds\":[{\"name\":\"b\",\"variance\":\"y_est\",\"max\":0.5}]},"
    "\"controllers\":[{\"id\":\"c\",\"kind\":\"pid\",\"input\":\"y_est\",\"output\":\"u\","
    " \"setpoint\":1,\"kp\":2,\"ki\":1}],"
    "\"dispatcher\":{\"max_data_age\":10,\"safe\":{\"u\":0},\"rate_limits\":{\"u\":10},"
    " \"interlocks\":[{\"name\":\"hi\",\"signal\":\"y_est\",\"op\":\">\",\"value\":8,"
    "  \"set\":{\"u\":-1}}],\"confirm_timeout\":0.2},\"loop\":{\"period\":0.01}}";

static const char *const names[] = {"y", "v", "nope"};

/* Counts allocations so the target can check the steady state allocates nothing. */
static dtt_counter allocs_seen; /* counts every allocation (alloc_counter.h) */

typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;

static uint64_t take(reader *r, size_t bytes)
{
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; i++) {
        v = (v << 8) | (r->n ? *r->p : 0);
        if (r->n)
            r->p++, r->n--;
    }
    return v;
}

static double take_double(reader *r)
{
    uint64_t bits = take(r, 8);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    dt_allocator a = dtt_allocator(&allocs_seen);
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.allocator = &a;
    o.logger = dt_logger_silent();
    dt_twin *t = NULL;
    FUZZ_CHECK(dt_twin_load_json(doc, sizeof doc - 1, &o, &t, NULL) == DT_OK);
    dt_io *io = dt_twin_io(t);
    const dt_model *m = dt_twin_model(t);
    dt_signal_id u;
    FUZZ_CHECK(dt_model_find_signal(m, "u", &u) == DT_OK);
    dt_time now = 0, skew = 0;
    int raw = 0; /* a raw now was stepped to */
    FUZZ_CHECK(dt_twin_start(t, now) == DT_OK);
    long allocs_at_start = allocs_seen.calls;
    reader r = {data, size};
    while (r.n > 0) {
        switch (take(&r, 1) % 9) {
        case 0: { /* push: name, time offset in ms (-128..127), value bits */
            const char *name = names[take(&r, 1) % 3];
            dt_time off = (dt_time)(int8_t)take(&r, 1) * DT_NS_PER_MS;
            double v = take_double(&r);
            dt_time ts;
            if (__builtin_add_overflow(now, skew + off, &ts))
                ts = now; /* raw steps put now near the limit */
            (void)dt_memory_source_push(io, 0, name, ts, v);
            break;
        }
        case 1: /* step forward 0..255 ms */
        case 2: {
            dt_time step = (dt_time)take(&r, 1) * DT_NS_PER_MS;
            now = now > DT_TIME_LIMIT - step ? DT_TIME_LIMIT : now + step;
            int rc = dt_twin_step(t, now);
            /* after a raw jump of years the belief may not be computable
             * (the controller reports it); the twin keeps running */
            FUZZ_CHECK(rc == DT_OK || (raw && (rc == DT_ERANGE || rc == DT_ENUMERIC)));
            for (dt_source_id k = 0; k < 2; k++) {
                dt_source_stats st;
                FUZZ_CHECK(dt_ingest_source_stats(dt_twin_ingest(t), k, &st) == DT_OK);
                FUZZ_CHECK(fuzz_accounted(&st));
            }
            break;
        }
        case 7: { /* push with a raw int64 time to either source */
            size_t src = take(&r, 1) & 1;
            dt_time ts = (dt_time)take(&r, 8);
            (void)dt_memory_source_push(io, src, "y", ts, take_double(&r));
            break;
        }
        case 8: { /* step to a raw int64 now: refused unless valid and not back */
            dt_time to = (dt_time)take(&r, 8);
            int rc = dt_twin_step(t, to);
            if (to < now || !dt_time_valid(to)) {
                FUZZ_CHECK(rc == DT_ERANGE);
            } else {
                FUZZ_CHECK(rc == DT_OK || rc == DT_ERANGE || rc == DT_ENUMERIC);
                now = to;
                raw = 1;
            }
            break;
        }
        case 3: { /* the source's clock jumps */
            static const dt_time jumps[] = {5 * DT_NS_PER_S, -5 * DT_NS_PER_S,
                                            300 * DT_NS_PER_S, -300 * DT_NS_PER_S};
            skew += jumps[take(&r, 1) % 4];
            break;
        }
        case 4: /* time goes backwards: refused, the twin keeps its state */
            if (now > 0)
                FUZZ_CHECK(dt_twin_step(t, now - 1) == DT_ERANGE);
            break;
        case 5: { /* a host command */
            dt_command c = {0};
            c.signal = u;
            c.value = take_double(&r);
            c.t_issued = now;
            dt_time d = (dt_time)take(&r, 1) * DT_NS_PER_MS;
            c.t_deadline = now > DT_TIME_LIMIT - d ? DT_TIME_LIMIT : now + d;
            int rc = dt_twin_submit(t, &c);
            FUZZ_CHECK(rc == DT_OK || rc == DT_EFULL || rc == DT_EINVAL);
            break;
        }
        default: { /* the actuator reports what it applied */
            dt_command got[8];
            size_t k = dt_memory_sink_read(io, 0, got, 8);
            if (k > 0)
                (void)dt_io_report(io, u, got[k - 1].seq, got[k - 1].value, now);
            break;
        }
        }
    }
    FUZZ_CHECK(allocs_seen.calls == allocs_at_start); /* nothing allocated after start */
    dt_twin_stats s;
    dt_twin_stats_get(t, &s);
    FUZZ_CHECK(s.sent <= s.commands);
    dt_twin_destroy(t);
    return 0;
}
