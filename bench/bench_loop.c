/* End-to-end loop benchmark (issue 5): a 12-state twin fed by 3 memory
 * sources carrying 20 signals, a state-feedback controller on 2 commanded
 * signals through 2 memory sinks, stepped as fast as possible. Times only
 * the library: pushes, dt_twin_step, sink reads. */
#include "bench_util.h"

#include <math.h>
#include <string.h>

#include "dtwin/dtwin.h"

static char doc[32768];

static void build_doc(void)
{
    size_t n = 0;
#define P(...) n += (size_t)snprintf(doc + n, sizeof doc - n, __VA_ARGS__)
    P("{\"dtwin\":1,\"name\":\"bench\",\"assets\":[{\"id\":\"a\"}],\"signals\":[");
    for (int i = 0; i < 12; i++)
        P("{\"id\":\"x%d\",\"asset\":\"a\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
          "\"role\":\"estimated\"},",
          i);
    for (int j = 0; j < 20; j++)
        P("{\"id\":\"m%d\",\"asset\":\"a\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
          "\"role\":\"measured\",\"noise\":{\"std\":0.1}},",
          j);
    P("{\"id\":\"u0\",\"asset\":\"a\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
      "\"role\":\"commanded\",\"limits\":{\"min\":-10,\"max\":10}},"
      "{\"id\":\"u1\",\"asset\":\"a\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
      "\"role\":\"commanded\",\"limits\":{\"min\":-10,\"max\":10}}],");
    P("\"sources\":[");
    for (int s = 0; s < 3; s++) {
        P("%s{\"id\":\"s%d\",\"kind\":\"memory\",\"timeout\":1000,\"mapping\":[", s ? "," : "", s);
        for (int j = s; j < 20; j += 3)
            P("%s{\"native\":\"m%d\",\"signal\":\"m%d\"}", j == s ? "" : ",", j, j);
        P("]}");
    }
    P("],\"sinks\":[{\"id\":\"k0\",\"kind\":\"memory\",\"capacity\":1024,\"mapping\":[{\"signal\":\"u0\"}]},"
      "{\"id\":\"k1\",\"kind\":\"memory\",\"capacity\":1024,\"mapping\":[{\"signal\":\"u1\"}]}],");
    P("\"estimator\":{\"states\":[");
    for (int i = 0; i < 12; i++)
        P("%s\"x%d\"", i ? "," : "", i);
    P("],\"A\":[");
    for (int i = 0; i < 12; i++) {
        P("%s[", i ? "," : "");
        for (int j = 0; j < 12; j++) {
            double v = 0;
            if (i % 2 == 0 && j == i + 1)
                v = 1;
            if (i % 2 == 1 && j == i - 1)
                v = -(1 + 0.2 * i);
            if (i % 2 == 1 && j == i)
                v = -0.3;
            P("%s%g", j ? "," : "", v);
        }
        P("]");
    }
    P("],\"Q\":[");
    for (int i = 0; i < 12; i++)
        P("%s%g", i ? "," : "", i % 2 ? 0.1 : 0.001);
    P("],\"P0\":[");
    for (int i = 0; i < 12; i++)
        P("%s1", i ? "," : "");
    P("],\"gate\":1,\"measurements\":[");
    for (int j = 0; j < 20; j++)
        P("%s{\"signal\":\"m%d\",\"H\":{\"x%d\":1,\"x%d\":0.1}}", j ? "," : "", j, j % 12,
          (j + 1) % 12);
    P("]},\"controllers\":[{\"id\":\"sf\",\"kind\":\"state_feedback\",\"states\":[");
    for (int i = 0; i < 12; i++)
        P("%s\"x%d\"", i ? "," : "", i);
    P("],\"outputs\":[\"u0\",\"u1\"],\"K\":[");
    for (int r = 0; r < 2; r++) {
        P("%s[", r ? "," : "");
        for (int i = 0; i < 12; i++)
            P("%s%g", i ? "," : "", 0.1 * ((i + r) % 3));
        P("]");
    }
    P("]}],\"dispatcher\":{\"safe\":{\"u0\":0,\"u1\":0}},\"loop\":{\"period\":0.001}}");
#undef P
}

static int cmp_t(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void)
{
    build_doc();
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    const int CYCLES = 40000;
    static double lat[40000];
    double rate[BENCH_REPS], sps[BENCH_REPS], p50[BENCH_REPS], p99[BENCH_REPS];
    char names[20][8];
    for (int j = 0; j < 20; j++)
        snprintf(names[j], sizeof names[j], "m%d", j);
    static double data[1024][20]; /* generated outside the timed loop */
    for (int k = 0; k < 1024; k++)
        for (int j = 0; j < 20; j++)
            data[k][j] = sin(0.001 * k + j);
    for (int r = 0; r < BENCH_REPS; r++) {
        dt_twin *t;
        dt_diag d;
        if (dt_twin_load_json(doc, strlen(doc), &o, &t, &d) != 0) {
            fprintf(stderr, "bench_loop: %s\n", d.message);
            return 1;
        }
        dt_twin_start(t, 0);
        dt_io *io = dt_twin_io(t);
        dt_command c[64];
        double busy = 0;
        for (int k = 1; k <= CYCLES; k++) {
            dt_time now = (dt_time)k * DT_NS_PER_MS;
            double t0 = bench_now();
            for (int j = 0; j < 20; j++)
                dt_memory_source_push(io, (size_t)(j % 3), names[j], now, data[k & 1023][j]);
            dt_twin_step(t, now);
            dt_memory_sink_read(io, 0, c, 64);
            dt_memory_sink_read(io, 1, c, 64);
            double dt = bench_now() - t0;
            busy += dt;
            lat[k - 1] = dt;
        }
        dt_twin_stats st;
        dt_twin_stats_get(t, &st);
        if (st.estimator.updates < (uint64_t)CYCLES * 19 || st.sent < (uint64_t)CYCLES * 2)
            fprintf(stderr, "bench_loop: not every sample/command went through (%llu updates, "
                            "%llu sent)\n",
                    (unsigned long long)st.estimator.updates, (unsigned long long)st.sent);
        rate[r] = CYCLES / busy;
        sps[r] = 20.0 * CYCLES / busy;
        qsort(lat, CYCLES, sizeof lat[0], cmp_t);
        p50[r] = lat[CYCLES / 2] * 1e6;
        p99[r] = lat[CYCLES * 99 / 100] * 1e6;
        dt_twin_destroy(t);
    }
    bench_line("loop.cycles_per_s", bench_median(rate, BENCH_REPS), "cycles/s");
    bench_line("loop.samples_per_s", bench_median(sps, BENCH_REPS), "samples/s");
    bench_line("loop.latency_p50_us", bench_median(p50, BENCH_REPS), "us");
    bench_line("loop.latency_p99_us", bench_median(p99, BENCH_REPS), "us");
    return 0;
}
