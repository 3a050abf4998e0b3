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

/* ---- authentication: the same UDP loop with and without keys ---- */

/* A twin whose UDP source takes 20-sample frames and whose UDP sink sends
 * its command back, keyed ("auth": "mac", with their replay state in dir,
 * the source's floor written once per `reserve` frames) or not. The key
 * store lives in dir. */
static dt_twin *auth_twin(const char *dir, int keyed, int sink_port, int reserve)
{
    char src[512], snk[512];
    snprintf(src, sizeof src,
             "\"auth\":\"mac\",\"key\":\"link\",\"replay_state\":\"%s/net.replay\","
             "\"replay_reserve\":%d",
             dir, reserve);
    snprintf(snk, sizeof snk, "\"auth\":\"mac\",\"key\":\"link\",\"replay_state\":\"%s/out.epoch\"",
             dir);
    const char *a = keyed ? src : "\"auth\":\"none\"";
    const char *b = keyed ? snk : "\"auth\":\"none\"";
    char udoc[8192];
    size_t n = 0;
#define Q(...) n += (size_t)snprintf(udoc + n, sizeof udoc - n, __VA_ARGS__)
    Q("{\"dtwin\":1,\"name\":\"auth\",\"assets\":[{\"id\":\"a\"}],\"keys\":{\"dir\":\"%s\"},"
      "\"signals\":[",
      dir);
    for (int j = 0; j < 20; j++)
        Q("{\"id\":\"m%d\",\"asset\":\"a\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
          "\"role\":\"measured\",\"noise\":{\"std\":0.1}},",
          j);
    Q("{\"id\":\"x\",\"asset\":\"a\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
      "\"role\":\"estimated\"},"
      "{\"id\":\"u\",\"asset\":\"a\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
      "\"role\":\"commanded\",\"limits\":{\"min\":-9,\"max\":9}}],"
      "\"sources\":[{\"id\":\"net\",\"kind\":\"udp\",%s,\"port\":0,\"source_id\":1,"
      "\"timeout\":1000,\"mapping\":[",
      a);
    for (int j = 0; j < 20; j++)
        Q("%s{\"channel\":%d,\"signal\":\"m%d\"}", j ? "," : "", j, j);
    Q("]}],\"sinks\":[{\"id\":\"out\",\"kind\":\"udp\",%s,\"port\":%d,\"source_id\":2,"
      "\"mapping\":[{\"channel\":0,\"signal\":\"u\"}]}],"
      "\"estimator\":{\"states\":[\"x\"],\"A\":[[0]],\"Q\":[1],\"P0\":[1],\"gate\":1,"
      "\"measurements\":[",
      b, sink_port);
    for (int j = 0; j < 20; j++)
        Q("%s{\"signal\":\"m%d\",\"H\":{\"x\":1}}", j ? "," : "", j);
    Q("]},\"controllers\":[{\"id\":\"p\",\"kind\":\"pid\",\"input\":\"x\",\"output\":\"u\","
      "\"setpoint\":0,\"kp\":1}],\"dispatcher\":{\"max_data_age\":10,\"safe\":{\"u\":0}},"
      "\"loop\":{\"period\":0.001}}");
#undef Q
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_twin *t = NULL;
    dt_diag d;
    if (dt_twin_load_json(udoc, n, &o, &t, &d) != 0) {
        fprintf(stderr, "bench_loop: %s\n", d.message);
        return NULL;
    }
    return t;
}

/* Cycles per second of one loop: a 20-sample frame sent to the twin, a step
 * that takes it, the command frame back read; `cyc` cycles (at most
 * MAX_CYC). The frames are made before the timed part (the sender's MAC is
 * not the twin's cost). Each keyed run is a restart of twin and sender: the
 * sender's epoch goes up by one, as its boot counter would. */
enum { MAX_CYC = 20000 };
static double auth_loop_rate(const char *dir, int keyed, const dt_key *key, int cyc, int reserve)
{
    const int CYC = cyc;
    static uint16_t epoch;
    enum { FRAME = DT_WIRE_HEADER + 20 * DT_WIRE_SAMPLE_RECORD + DT_WIRE_MAC_TRAILER };
    static uint8_t frames[MAX_CYC][FRAME];
    static size_t lens[MAX_CYC];
    epoch++;
    int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(rx, (struct sockaddr *)&a, sizeof a);
    socklen_t al = sizeof a;
    getsockname(rx, (struct sockaddr *)&a, &al);
    dt_twin *t = auth_twin(dir, keyed, ntohs(a.sin_port), reserve);
    if (t == NULL)
        return -1;
    dt_twin_start(t, 0);
    dt_udp_stats us;
    dt_udp_source_stats(dt_twin_io(t), 0, &us);
    struct sockaddr_in dst = a;
    dst.sin_port = htons(us.port);
    for (int k = 0; k < CYC; k++) {
        dt_wire_sample r[20];
        for (int j = 0; j < 20; j++)
            r[j] = (dt_wire_sample){(uint32_t)j, 0, (dt_time)(k + 1) * DT_NS_PER_MS,
                                    0.01 * sin(0.001 * k + j), 0};
        dt_wire_header h = {keyed ? 3 : 2, DT_WIRE_SAMPLES, 1, (uint32_t)k, 20, epoch};
        lens[k] = keyed ? dt_wire_encode_samples_auth(frames[k], sizeof frames[k], &h, r, 20, key)
                        : dt_wire_encode_samples_v2(frames[k], sizeof frames[k], &h, r, 20);
    }
    uint8_t in[256];
    double t0 = bench_now();
    for (int k = 0; k < CYC; k++) {
        sendto(tx, frames[k], lens[k], 0, (struct sockaddr *)&dst, sizeof dst);
        dt_twin_step(t, (dt_time)(k + 1) * DT_NS_PER_MS + DT_NS_PER_MS / 2);
        while (recv(rx, in, sizeof in, MSG_DONTWAIT) > 0)
            ;
    }
    double rate = CYC / (bench_now() - t0);
    dt_udp_source_stats(dt_twin_io(t), 0, &us);
    if (us.frames_ok < CYC * 9 / 10)
        fprintf(stderr, "bench_loop: auth %d: only %llu of %d frames taken\n", keyed,
                (unsigned long long)us.frames_ok, CYC);
    dt_twin_destroy(t);
    close(rx);
    close(tx);
    return rate;
}

/* The cost of authentication: the UDP loop keyed and not, interleaved in
 * the same run; a MAC over a 20-sample and a maximum-size frame; Ed25519
 * signing and verifying a command-sized message. */
static void auth_bench(void)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/dtwin-bench-keys-XXXXXX");
    if (mkdtemp(dir) == NULL || dt_key_generate(dir, "link", DT_KEY_MAC, NULL) != 0 ||
        dt_key_generate(dir, "planner", DT_KEY_SIGN, NULL) != 0) {
        fprintf(stderr, "bench_loop: cannot make keys in %s\n", dir);
        return;
    }
    dt_keystore *ks = NULL;
    dt_key *mac = NULL, *sig = NULL;
    if (dt_keystore_file(dir, &ks, NULL) != 0 ||
        dt_key_load(ks, "link", DT_KEY_MAC, &mac, NULL) != 0 ||
        dt_key_load(ks, "planner", DT_KEY_SIGN, &sig, NULL) != 0)
        return;
    double on[BENCH_REPS], off[BENCH_REPS], ratio[BENCH_REPS];
    for (int r = 0; r < BENCH_REPS; r++) { /* each first in turn: no order bias */
        if (r % 2 == 0) {
            off[r] = auth_loop_rate(dir, 0, NULL, MAX_CYC, 1024);
            on[r] = auth_loop_rate(dir, 1, mac, MAX_CYC, 1024);
        } else {
            on[r] = auth_loop_rate(dir, 1, mac, MAX_CYC, 1024);
            off[r] = auth_loop_rate(dir, 0, NULL, MAX_CYC, 1024);
        }
        ratio[r] = off[r] / on[r]; /* the keyed loop's time per cycle over the plain one's */
    }
    bench_line("loop.udp_cycles_per_s", bench_median(off, BENCH_REPS), "cycles/s");
    bench_line("loop.udp_auth_cycles_per_s", bench_median(on, BENCH_REPS), "cycles/s");
    bench_line("loop.auth_overhead", bench_median(ratio, BENCH_REPS), "x");
    /* One durable write of a keyed source's replay floor (pwrite and
     * fdatasync, on the disk of dir): the keyed loop writing at every frame
     * (reserve 1) against the same loop writing once per 1024 frames. */
    double wr[BENCH_REPS];
    for (int r = 0; r < BENCH_REPS; r++) {
        double every = auth_loop_rate(dir, 1, mac, 2000, 1);
        double rare = auth_loop_rate(dir, 1, mac, 2000, 1024);
        wr[r] = (1.0 / every - 1.0 / rare) * 1e6;
    }
    bench_line("udp.replay_state_write_us", bench_median(wr, BENCH_REPS), "us");

    static uint8_t big[DT_WIRE_MAX_DATAGRAM];
    static dt_wire_sample recs[DT_WIRE_MAX_SAMPLES_AUTH];
    dt_wire_header h = {3, DT_WIRE_SAMPLES, 1, 1, 1, 1};
    const struct {
        const char *name;
        size_t n;
    } sizes[] = {{"wire.mac_verify.20_samples_ns", 20},
                 {"wire.mac_verify.max_frame_ns", DT_WIRE_MAX_SAMPLES_AUTH}};
    for (size_t s = 0; s < 2; s++) {
        size_t len = dt_wire_encode_samples_auth(big, sizeof big, &h, recs, sizes[s].n, mac);
        double v[BENCH_REPS];
        int iters = sizes[s].n > 100 ? 2000 : 200000;
        for (int r = 0; r < BENCH_REPS; r++) {
            double t0 = bench_now();
            for (int i = 0; i < iters; i++)
                bench_sink += dt_wire_check_mac(big, len, mac);
            v[r] = (bench_now() - t0) / iters * 1e9;
        }
        bench_line(sizes[s].name, bench_median(v, BENCH_REPS), "ns");
    }
    /* the CRC that versions 1 and 2 carry instead, over the same 20 samples */
    dt_wire_header h2 = {2, DT_WIRE_SAMPLES, 1, 1, 20, 1};
    size_t len2 = dt_wire_encode_samples_v2(big, sizeof big, &h2, recs, 20);
    double vc[BENCH_REPS];
    for (int r = 0; r < BENCH_REPS; r++) {
        double t0 = bench_now();
        for (int i = 0; i < 200000; i++)
            bench_sink += dt_wire_check_crc(big, len2);
        vc[r] = (bench_now() - t0) / 200000 * 1e9;
    }
    bench_line("wire.crc_check.20_samples_ns", bench_median(vc, BENCH_REPS), "ns");
    uint8_t msg[96] = {0}, sg[DT_SIG_BYTES], pk[DT_KEY_PUBLIC_BYTES];
    dt_key_public(sig, pk);
    double vs[BENCH_REPS], vv[BENCH_REPS];
    for (int r = 0; r < BENCH_REPS; r++) {
        double t0 = bench_now();
        for (int i = 0; i < 2000; i++) {
            msg[0] = (uint8_t)i;
            dt_sign(sig, msg, sizeof msg, sg);
        }
        vs[r] = (bench_now() - t0) / 2000 * 1e6;
        t0 = bench_now();
        for (int i = 0; i < 2000; i++)
            bench_sink += dt_sign_verify(pk, msg, sizeof msg, sg);
        vv[r] = (bench_now() - t0) / 2000 * 1e6;
    }
    bench_line("command.sign_us", bench_median(vs, BENCH_REPS), "us");
    bench_line("command.verify_us", bench_median(vv, BENCH_REPS), "us");
    dt_key_free(mac);
    dt_key_free(sig);
    dt_keystore_close(ks);
    char path[128];
    snprintf(path, sizeof path, "%s/link.key", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/planner.key", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/planner.pub", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/net.replay", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/out.epoch", dir);
    unlink(path);
    rmdir(dir);
}

static void run_loop(int ns, const char *prefix);

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "auth") == 0) { /* only the authentication figures */
        auth_bench();
        return 0;
    }
    run_loop(12, "loop");
    run_loop(6, "loop.n6");
    bench_line("loop.udp_latency_p99_us", udp_p99_us(), "us");
    auth_bench();
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
