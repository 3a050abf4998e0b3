/* End-to-end loop benchmark (issue 5): a 12-state twin fed by 3 memory
 * sources carrying 20 signals, a state-feedback controller on 2 commanded
 * signals through 2 memory sinks, stepped as fast as possible. Times only
 * the library: pushes, dt_twin_step, sink reads. */
#include "bench_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <math.h>
#include <string.h>

#include "dtwin/dtwin.h"

static int cmp_t(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static char doc[32768];

static void build_doc(int ns)
{
    size_t n = 0;
#define P(...) n += (size_t)snprintf(doc + n, sizeof doc - n, __VA_ARGS__)
    P("{\"dtwin\":1,\"name\":\"bench\",\"assets\":[{\"id\":\"a\"}],\"signals\":[");
    for (int i = 0; i < ns; i++)
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
    for (int i = 0; i < ns; i++)
        P("%s\"x%d\"", i ? "," : "", i);
    P("],\"A\":[");
    for (int i = 0; i < ns; i++) {
        P("%s[", i ? "," : "");
        for (int j = 0; j < ns; j++) {
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
    for (int i = 0; i < ns; i++)
        P("%s%g", i ? "," : "", i % 2 ? 0.1 : 0.001);
    P("],\"P0\":[");
    for (int i = 0; i < ns; i++)
        P("%s1", i ? "," : "");
    P("],\"gate\":1,\"measurements\":[");
    for (int j = 0; j < 20; j++)
        P("%s{\"signal\":\"m%d\",\"H\":{\"x%d\":1,\"x%d\":0.1}}", j ? "," : "", j, j % ns,
          (j + 1) % ns);
    P("]},\"controllers\":[{\"id\":\"sf\",\"kind\":\"state_feedback\",\"states\":[");
    for (int i = 0; i < ns; i++)
        P("%s\"x%d\"", i ? "," : "", i);
    P("],\"outputs\":[\"u0\",\"u1\"],\"K\":[");
    for (int r = 0; r < 2; r++) {
        P("%s[", r ? "," : "");
        for (int i = 0; i < ns; i++)
            P("%s%g", i ? "," : "", 0.1 * ((i + r) % 3));
        P("]");
    }
    P("]}],\"dispatcher\":{\"max_data_age\":10,\"safe\":{\"u0\":0,\"u1\":0}},\"loop\":{\"period\":0.001}}");
#undef P
}


/* Sample -> command over UDP loopback: a frame with one sample goes to the
 * twin's UDP source, the twin steps until the estimate has taken it and the
 * next command frame comes back on a receiving socket. */
static double udp_p99_us(void)
{
    int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(rx, (struct sockaddr *)&a, sizeof a);
    socklen_t al = sizeof a;
    getsockname(rx, (struct sockaddr *)&a, &al);
    char udoc[2048];
    snprintf(udoc, sizeof udoc,
             "{\"dtwin\":1,\"name\":\"udp\",\"assets\":[{\"id\":\"a\"}],\"signals\":["
             "{\"id\":\"y\",\"asset\":\"a\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
             "\"role\":\"measured\",\"noise\":{\"std\":0.1}},"
             "{\"id\":\"x\",\"asset\":\"a\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
             "\"role\":\"estimated\"},"
             "{\"id\":\"u\",\"asset\":\"a\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
             "\"role\":\"commanded\",\"limits\":{\"min\":-9,\"max\":9}}],"
             "\"sources\":[{\"id\":\"net\",\"kind\":\"udp\",\"auth\":\"none\",\"port\":0,\"source_id\":1,"
             "\"timeout\":1000,\"mapping\":[{\"channel\":0,\"signal\":\"y\"}]}],"
             "\"sinks\":[{\"id\":\"out\",\"kind\":\"udp\",\"auth\":\"none\",\"port\":%d,\"source_id\":2,"
             "\"mapping\":[{\"channel\":0,\"signal\":\"u\"}]}],"
             "\"estimator\":{\"states\":[\"x\"],\"A\":[[0]],\"Q\":[1],\"P0\":[1],\"gate\":1,"
             "\"measurements\":[{\"signal\":\"y\",\"H\":{\"x\":1}}]},"
             "\"controllers\":[{\"id\":\"p\",\"kind\":\"pid\",\"input\":\"x\",\"output\":\"u\","
             "\"setpoint\":0,\"kp\":1}],\"dispatcher\":{\"max_data_age\":10,\"safe\":{\"u\":0}},"
             "\"loop\":{\"period\":0.001}}",
             ntohs(a.sin_port));
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_twin *t;
    dt_diag d;
    if (dt_twin_load_json(udoc, strlen(udoc), &o, &t, &d) != 0) {
        fprintf(stderr, "bench_loop: %s\n", d.message);
        return -1;
    }
    dt_twin_start(t, 0);
    dt_udp_stats us;
    dt_udp_source_stats(dt_twin_io(t), 0, &us);
    struct sockaddr_in dst = a;
    dst.sin_port = htons(us.port);
    enum { N = 2000 };
    static double lat[N];
    uint8_t frame[128], in[256];
    dt_time now = 0;
    int got_n = 0;
    for (int k = 0; k < N; k++) {
        dt_wire_sample r = {0, 0, now, 0.001 * k, 0};
        size_t len = dt_wire_encode_samples(frame, sizeof frame, 1, (uint32_t)k, &r, 1);
        dt_est_stats es;
        dt_est_stats_get(dt_twin_estimator(t), &es);
        uint64_t before = es.updates;
        double t0 = bench_now();
        sendto(tx, frame, len, 0, (struct sockaddr *)&dst, sizeof dst);
        int applied = 0;
        for (int spin = 0; spin < 2000000; spin++) {
            now += 1000; /* the twin's clock moves by 1 us per step */
            dt_twin_step(t, now);
            if (!applied) {
                dt_est_stats_get(dt_twin_estimator(t), &es);
                applied = es.updates > before;
                /* drop command frames from steps before the sample was applied */
                while (recv(rx, in, sizeof in, MSG_DONTWAIT) > 0)
                    ;
                if (!applied)
                    continue;
            }
            if (recv(rx, in, sizeof in, MSG_DONTWAIT) > 0) {
                lat[got_n++] = (bench_now() - t0) * 1e6;
                break;
            }
        }
    }
    close(rx);
    close(tx);
    dt_twin_destroy(t);
    if (got_n == 0)
        return -1;
    qsort(lat, (size_t)got_n, sizeof lat[0], cmp_t);
    return lat[got_n * 99 / 100];
}

static void run_loop(int ns, const char *prefix);

int main(void)
{
    run_loop(12, "loop");
    run_loop(6, "loop.n6");
    bench_line("loop.udp_latency_p99_us", udp_p99_us(), "us");
    return 0;
}

static void run_loop(int ns, const char *prefix)
{
    build_doc(ns);
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
            return;
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
    char name[64];
    snprintf(name, sizeof name, "%s.cycles_per_s", prefix);
    bench_line(name, bench_median(rate, BENCH_REPS), "cycles/s");
    snprintf(name, sizeof name, "%s.samples_per_s", prefix);
    bench_line(name, bench_median(sps, BENCH_REPS), "samples/s");
    snprintf(name, sizeof name, "%s.latency_p50_us", prefix);
    bench_line(name, bench_median(p50, BENCH_REPS), "us");
    snprintf(name, sizeof name, "%s.latency_p99_us", prefix);
    bench_line(name, bench_median(p99, BENCH_REPS), "us");
}
