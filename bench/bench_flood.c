/* UDP flood benchmark: a twin with a UDP source stepped every 10 ms, while a
 * second thread floods its port at full rate with maximum-size frames (65507
 * bytes, 2046 records), valid ones or ones with a wrong source id. Figures:
 * the per-step time of dt_twin_step (which polls the source) and how many of
 * the 200 cycles in 2 s the loop kept, against a quiet baseline (one small
 * frame per cycle) measured in the same run. The step is timed twice: wall
 * time, and the loop thread's CPU time (the library's own work, without the
 * preemptions a flooding thread and the kernel's receive path cause on a
 * small machine). */
#include "bench_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dtwin/dtwin.h"

#define PERIOD_NS 10000000L /* the loop's 10 ms */
#define PHASE_S 2.0

enum { QUIET, FLOOD_VALID, FLOOD_WRONG_ID };

typedef struct flood {
    int sock, mode;
    struct sockaddr_in to;
    atomic_int stop;
    uint64_t sent;
    double t0;
} flood;

static uint8_t big[DT_WIRE_MAX_DATAGRAM];
static dt_wire_sample recs[DT_WIRE_MAX_SAMPLES];

/* The flooder's own CRC-32 (slicing by 8), so that the sender outpaces the
 * receiver whatever the library's CRC costs: a frame is encoded once, then
 * each send patches its seq and trailer. */
static uint32_t crc_tab[8][256];
static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0xEDB88320u : c >> 1;
        crc_tab[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_tab[t][i] = (crc_tab[t - 1][i] >> 8) ^ crc_tab[0][crc_tab[t - 1][i] & 255];
}
static uint32_t crc_fast(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (; n >= 8; n -= 8, p += 8) {
        uint32_t a = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                          (uint32_t)p[3] << 24);
        c = crc_tab[7][a & 255] ^ crc_tab[6][(a >> 8) & 255] ^ crc_tab[5][(a >> 16) & 255] ^
            crc_tab[4][a >> 24] ^ crc_tab[3][p[4]] ^ crc_tab[2][p[5]] ^ crc_tab[1][p[6]] ^
            crc_tab[0][p[7]];
    }
    while (n--)
        c = (c >> 8) ^ crc_tab[0][(c ^ *p++) & 255];
    return ~c;
}

/* The flooder: back-to-back sends. Valid frames continue their own sequence
 * (accepted: the worst case, every record is decoded and offered). */
static void *flooder(void *arg)
{
    flood *f = arg;
    uint32_t seq = 1000000;
    dt_time t = (dt_time)((bench_now() - f->t0) * 1e9);
    for (size_t i = 0; i < DT_WIRE_MAX_SAMPLES; i++)
        recs[i] = (dt_wire_sample){1, 0, t, 1.0, 0};
    uint32_t id = f->mode == FLOOD_VALID ? 1 : 2;
    size_t n = dt_wire_encode_samples(big, sizeof big, id, seq, recs, DT_WIRE_MAX_SAMPLES);
    while (!atomic_load(&f->stop)) {
        seq++;
        for (int i = 0; i < 4; i++)
            big[12 + i] = (uint8_t)(seq >> (8 * i));
        uint32_t c = crc_fast(big, n - 4);
        for (int i = 0; i < 4; i++)
            big[n - 4 + (size_t)i] = (uint8_t)(c >> (8 * i));
        if (sendto(f->sock, big, n, 0, (const struct sockaddr *)&f->to, sizeof f->to) == (ssize_t)n)
            f->sent++;
    }
    return NULL;
}

static const char doc[] =
    "{\"dtwin\":1,\"name\":\"flood\",\"assets\":[{\"id\":\"a\"}],\"signals\":["
    "{\"id\":\"y\",\"asset\":\"a\",\"quantity\":\"length\",\"unit\":\"m\","
    "\"role\":\"measured\",\"noise\":{\"std\":0.01}},"
    "{\"id\":\"x\",\"asset\":\"a\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"estimated\"}],"
    "\"sources\":[{\"id\":\"net\",\"kind\":\"udp\",\"auth\":\"none\",\"port\":0,\"source_id\":1,\"max_count\":2046,"
    "\"timeout\":100,\"mapping\":[{\"channel\":1,\"signal\":\"y\"}]}],"
    "\"estimator\":{\"states\":[\"x\"],\"A\":[[0]],\"Q\":[1e-3],\"P0\":[1],\"gate\":1,"
    "\"measurements\":[{\"signal\":\"y\",\"H\":{\"x\":1}}]},"
    "\"loop\":{\"period\":0.01}}";

static double thread_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct phase_result {
    double p50_us, p99_us, max_us, cpu_p50_us, cpu_p99_us, cpu_max_us;
    int cycles;
    uint64_t datagrams, sent;
} phase_result;

static void sleep_until(double t)
{
    double d = t - bench_now();
    if (d > 0) {
        struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

static phase_result run_phase(int mode)
{
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_twin *t;
    dt_diag d;
    if (dt_twin_load_json(doc, strlen(doc), &o, &t, &d) != 0) {
        fprintf(stderr, "bench_flood: %s\n", d.message);
        exit(1);
    }
    dt_udp_stats us;
    dt_udp_source_stats(dt_twin_io(t), 0, &us);
    static flood f;
    memset(&f, 0, sizeof f);
    f.mode = mode;
    f.sock = socket(AF_INET, SOCK_DGRAM, 0);
    f.to.sin_family = AF_INET;
    f.to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f.to.sin_port = htons(us.port);
    f.t0 = bench_now();
    if (dt_twin_start(t, 0) != 0)
        exit(1);
    pthread_t th;
    if (mode != QUIET && pthread_create(&th, NULL, flooder, &f) != 0)
        exit(1);
    static double step_us[1000], cpu_us[1000];
    int n = 0;
    uint32_t seq = 0;
    double next = f.t0;
    while (n < 1000) {
        next += PERIOD_NS * 1e-9;
        if (next - f.t0 > PHASE_S)
            break;
        sleep_until(next);
        double now_s = bench_now();
        dt_time now = (dt_time)((now_s - f.t0) * 1e9);
        if (mode == QUIET) { /* one ordinary frame per cycle */
            uint8_t b[64];
            dt_wire_sample r = {1, 0, now, 1.0, 0};
            size_t len = dt_wire_encode_samples(b, sizeof b, 1, ++seq, &r, 1);
            (void)sendto(f.sock, b, len, 0, (const struct sockaddr *)&f.to, sizeof f.to);
        }
        double a = bench_now(), ca = thread_cpu_now();
        if (dt_twin_step(t, now) != 0)
            exit(1);
        double b = bench_now(), cb = thread_cpu_now();
        cpu_us[n] = (cb - ca) * 1e6;
        step_us[n++] = (b - a) * 1e6;
        /* a real-time loop skips the periods it overran */
        while (next + PERIOD_NS * 1e-9 < b)
            next += PERIOD_NS * 1e-9;
    }
    atomic_store(&f.stop, 1);
    if (mode != QUIET)
        pthread_join(th, NULL);
    dt_udp_source_stats(dt_twin_io(t), 0, &us);
    phase_result r = {0};
    r.cycles = n;
    r.datagrams = us.datagrams;
    r.sent = mode == QUIET ? seq : f.sent;
    qsort(step_us, (size_t)n, sizeof *step_us, bench_cmp);
    r.p50_us = step_us[n / 2];
    r.p99_us = step_us[(n * 99) / 100];
    r.max_us = step_us[n - 1];
    qsort(cpu_us, (size_t)n, sizeof *cpu_us, bench_cmp);
    r.cpu_p50_us = cpu_us[n / 2];
    r.cpu_p99_us = cpu_us[(n * 99) / 100];
    r.cpu_max_us = cpu_us[n - 1];
    close(f.sock);
    dt_twin_destroy(t);
    return r;
}

int main(void)
{
    static const char *const names[] = {"quiet", "valid", "wrong_id"};
    phase_result base = {0};
    crc_init();
    for (int m = QUIET; m <= FLOOD_WRONG_ID; m++) {
        phase_result r = run_phase(m);
        char name[96];
        snprintf(name, sizeof name, "flood.%s.step_p50_us", names[m]);
        bench_line(name, r.p50_us, "us");
        snprintf(name, sizeof name, "flood.%s.step_p99_us", names[m]);
        bench_line(name, r.p99_us, "us");
        snprintf(name, sizeof name, "flood.%s.step_max_us", names[m]);
        bench_line(name, r.max_us, "us");
        snprintf(name, sizeof name, "flood.%s.step_cpu_p50_us", names[m]);
        bench_line(name, r.cpu_p50_us, "us");
        snprintf(name, sizeof name, "flood.%s.step_cpu_p99_us", names[m]);
        bench_line(name, r.cpu_p99_us, "us");
        snprintf(name, sizeof name, "flood.%s.step_cpu_max_us", names[m]);
        bench_line(name, r.cpu_max_us, "us");
        snprintf(name, sizeof name, "flood.%s.cycles_in_2s", names[m]);
        bench_line(name, r.cycles, "cycles");
        snprintf(name, sizeof name, "flood.%s.datagrams_read", names[m]);
        bench_line(name, (double)r.datagrams, "datagrams");
        snprintf(name, sizeof name, "flood.%s.datagrams_sent", names[m]);
        bench_line(name, (double)r.sent, "datagrams");
        if (m == QUIET) {
            base = r;
        } else {
            snprintf(name, sizeof name, "flood.%s.step_p99_vs_quiet", names[m]);
            bench_line(name, r.p99_us / base.p99_us, "x");
            snprintf(name, sizeof name, "flood.%s.step_cpu_p99_vs_quiet", names[m]);
            bench_line(name, r.cpu_p99_us / base.cpu_p99_us, "x");
        }
    }
    return 0;
}
