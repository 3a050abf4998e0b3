/* Soak (issue 7): 10 million cycles of a twin with every adapter kind -- a
 * memory source pushed every cycle, a sim plant source and sink, a CSV replay
 * source, a UDP source fed sample frames over loopback, memory, sim, UDP and
 * CSV-log sinks -- with a KF and a PID. Reports resident memory after a
 * warm-up and at the end, allocations after start (through the allocator
 * hook), the rate, and whether every counter balances.
 *
 *   bench soak.rss_growth_kb      VmRSS at the end minus after 10k cycles
 *   bench soak.allocs_after_start allocations made by dtwin after dt_twin_start
 *   bench soak.cycles_per_s
 *   bench soak.counters_consistent 1 when every identity holds
 *
 * Usage: bench_soak [CYCLES] (default 10000000). */
#include "bench_util.h"

#include <math.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dtwin/dtwin.h"
#include "alloc_counter.h"

static dtt_counter allocs_seen; /* counts every allocation (alloc_counter.h) */

/* dy/dt = -y + u */
static double plant_y;
static int plant_step(void *self, double t, double dt, const double *u, double *y)
{
    (void)self, (void)t;
    double e = exp(-dt);
    plant_y = e * plant_y + (1 - e) * u[0];
    y[0] = plant_y;
    return 0;
}
static const char *const p_in[] = {"valve"}, *const p_out[] = {"level"};
static const dt_plant_ops plant_ops = {DT_PLANT_ABI, 1, 1, p_in, p_out, plant_step};

static long rss_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, key, kl) == 0)
            v = strtol(line + kl, NULL, 10);
    if (f != NULL)
        fclose(f);
    return v;
}

static char doc[8192];

int main(int argc, char **argv)
{
    long cycles = argc > 1 ? atol(argv[1]) : 10000000L;
    int sink_sock = socket(AF_INET, SOCK_DGRAM, 0), send_sock = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (sink_sock < 0 || send_sock < 0 || bind(sink_sock, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(sink_sock, (struct sockaddr *)&a, &al) != 0) {
        fprintf(stderr, "bench_soak: no loopback socket\n");
        return 1;
    }
    char logpath[64];
    snprintf(logpath, sizeof logpath, "/tmp/dtwin_soak_%ld.csv", (long)getpid());
    snprintf(doc, sizeof doc,
             "{\"dtwin\":1,\"name\":\"soak\",\"assets\":[{\"id\":\"p\"}],\"signals\":["
             "{\"id\":\"x\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\",\"noise\":{\"std\":0.01}},"
             "{\"id\":\"lvl\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\",\"noise\":{\"std\":0.01}},"
             "{\"id\":\"net\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\",\"noise\":{\"std\":0.01}},"
             "{\"id\":\"csv\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\",\"noise\":{\"std\":0.01}},"
             "{\"id\":\"x_est\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"estimated\"},"
             "{\"id\":\"u\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"commanded\",\"limits\":{\"min\":-5,\"max\":5}},"
             "{\"id\":\"aux\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"commanded\",\"limits\":{\"min\":-5,\"max\":5}}],"
             "\"sources\":[{\"id\":\"mem\",\"kind\":\"memory\",\"mapping\":[{\"native\":\"x\",\"signal\":\"x\"}]},"
             "{\"id\":\"sim\",\"kind\":\"sim\",\"plant\":\"tank\",\"rate\":100,\"noise\":0.01,\"seed\":3,"
             " \"mapping\":[{\"native\":\"level\",\"signal\":\"lvl\"}]},"
             "{\"id\":\"replay\",\"kind\":\"csv\",\"file\":\"%s/tests/data/replay_small.csv\","
             " \"time_column\":\"time\",\"mapping\":[{\"native\":\"lvl\",\"signal\":\"csv\"}]},"
             "{\"id\":\"net\",\"kind\":\"udp\",\"auth\":\"none\",\"port\":0,\"source_id\":7,\"timeout\":100,"
             " \"mapping\":[{\"channel\":1,\"signal\":\"net\"}]}],"
             "\"sinks\":[{\"id\":\"mem\",\"kind\":\"memory\",\"mapping\":[{\"native\":\"u\",\"signal\":\"u\"}]},"
             "{\"id\":\"valve\",\"kind\":\"sim\",\"plant\":\"tank\",\"mapping\":[{\"native\":\"valve\",\"signal\":\"u\"}]},"
             "{\"id\":\"wire\",\"kind\":\"udp\",\"auth\":\"none\",\"host\":\"127.0.0.1\",\"port\":%d,\"source_id\":9,"
             " \"mapping\":[{\"channel\":2,\"signal\":\"aux\"}]},"
             "{\"id\":\"log\",\"kind\":\"csvlog\",\"file\":\"%s\",\"mapping\":[{\"signal\":\"aux\"}]}],"
             "\"estimator\":{\"states\":[\"x_est\"],\"A\":[[-0.1]],\"Q\":[0.01],\"P0\":[1],\"history\":64,"
             " \"measurements\":[{\"signal\":\"x\",\"H\":{\"x_est\":1}},{\"signal\":\"lvl\",\"H\":{\"x_est\":1}},"
             " {\"signal\":\"net\",\"H\":{\"x_est\":1}},{\"signal\":\"csv\",\"H\":{\"x_est\":1}}]},"
             "\"controllers\":[{\"id\":\"c\",\"kind\":\"pid\",\"input\":\"x_est\",\"output\":\"u\","
             " \"setpoint\":1,\"kp\":1,\"ki\":0.5}],"
             "\"dispatcher\":{\"max_data_age\":10,\"safe\":{\"u\":0,\"aux\":0},\"deadline\":0.01},\"loop\":{\"period\":0.001}}",
             DTWIN_SOURCE_DIR, ntohs(a.sin_port), logpath);
    dt_allocator alloc = dtt_allocator(&allocs_seen);
    dt_registry *reg;
    dt_registry_create(NULL, &reg);
    dt_registry_add_plant(reg, "tank", &plant_ops, NULL);
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.allocator = &alloc;
    o.registry = reg;
    o.logger = dt_logger_silent();
    dt_twin *t;
    dt_diag d;
    if (dt_twin_load_json(doc, strlen(doc), &o, &t, &d) != DT_OK) {
        fprintf(stderr, "bench_soak: %s\n", d.message);
        return 1;
    }
    dt_io *io = dt_twin_io(t);
    dt_udp_stats us;
    size_t net_idx, mem_idx;
    dt_io_find_source(io, "net", &net_idx);
    dt_io_find_source(io, "mem", &mem_idx);
    dt_udp_source_stats(io, net_idx, &us);
    struct sockaddr_in to = {0};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(us.port);
    dt_signal_id aux;
    dt_model_find_signal(dt_twin_model(t), "aux", &aux);

    dt_twin_start(t, 0);
    long allocs_at_start = allocs_seen.calls, rss_start = 0;
    uint8_t frame[256];
    uint32_t seq = 0;
    double t0 = bench_now(), t_warm = t0;
    dt_command got[64];
    uint64_t frames_sent = 0;
    for (long k = 1; k <= cycles; k++) {
        dt_time now = (dt_time)k * DT_NS_PER_MS;
        dt_memory_source_push(io, mem_idx, "x", now, 1.0);
        if (k % 100 == 0) { /* a sample frame over loopback every 100 ms */
            dt_wire_sample s = {1, 0, now, 1.0, 0};
            size_t n = dt_wire_encode_samples(frame, sizeof frame, 7, ++seq, &s, 1);
            if (sendto(send_sock, frame, n, 0, (struct sockaddr *)&to, sizeof to) == (ssize_t)n)
                frames_sent++;
        }
        if (k % 1000 == 0) { /* the host commands aux once a second: UDP and CSV-log sinks */
            dt_command c = {.signal = aux, .seq = 0, .t_issued = now, .t_deadline = now + 10 * DT_NS_PER_MS, .value = 0.5};
            dt_twin_submit(t, &c);
        }
        dt_twin_step(t, now);
        dt_memory_sink_read(io, 0, got, 64);
        if (k % 1000 == 0) { /* drain what the UDP sink sent us */
            uint8_t buf[512];
            while (recv(sink_sock, buf, sizeof buf, MSG_DONTWAIT) > 0)
                ;
        }
        if (k == 10000) {
            rss_start = rss_kb("VmRSS:");
            t_warm = bench_now();
        }
    }
    double secs = bench_now() - t_warm;
    long rss_end = rss_kb("VmRSS:");
    long hwm = rss_kb("VmHWM:");

    dt_twin_stats st;
    dt_twin_stats_get(t, &st);
    int ok = 1;
    for (size_t i = 0; i < dt_io_source_count(io); i++) {
        dt_source_stats ss;
        dt_ingest_source_stats(dt_twin_ingest(t), (dt_source_id)i, &ss);
        ok &= dt_source_stats_consistent(&ss);
    }
    ok &= st.commands == st.sent + st.expired + st.sink_errors;
    ok &= st.cycles == (uint64_t)cycles;
    dt_udp_source_stats(io, net_idx, &us);
    ok &= us.datagrams == us.frames_ok + us.frames_rejected + us.duplicate;
    ok &= us.frames_ok + 1000 >= frames_sent; /* the last few may be in flight */
    printf("soak: %ld cycles in %.1f s; %llu samples accepted, %llu commands sent, %llu UDP "
           "frames received; VmRSS %ld kB after 10k cycles, %ld kB at the end (peak %ld kB)\n",
           cycles, bench_now() - t0, (unsigned long long)st.ingest.total.accepted,
           (unsigned long long)st.sent, (unsigned long long)us.frames_ok, rss_start, rss_end,
           hwm);
    bench_line("soak.rss_growth_kb", (double)(rss_end - rss_start), "kB");
    bench_line("soak.allocs_after_start", (double)(allocs_seen.calls - allocs_at_start), "count");
    bench_line("soak.cycles_per_s", (double)(cycles - 10000) / secs, "cycles/s");
    bench_line("soak.counters_consistent", ok, "bool");
    dt_twin_destroy(t);
    dt_registry_destroy(reg);
    remove(logpath);
    return ok ? 0 : 1;
}
