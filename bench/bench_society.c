/* How many twins one core runs: N twins in one thread of this process, each
 * a 6-state Kalman filter stepped at 100 Hz (bench/society_desc.h: a node
 * estimating the wind, fed three measurements a step through a memory
 * source), publishing its belief group at most every 0.1 s and reading its
 * two neighbours' groups in a ring (twin i reads i-1 and i+1), all through
 * one local mosquitto this program starts (the tests' broker fixture, with
 * set_tcp_nodelay true, as bench_bus explains).
 *
 * The host loop (society_loop.h): one epoll set over every twin's watched
 * descriptors (dt_io_watches, dt_io_ready), and each twin stepped on its
 * own schedule with dt_twin_step, the N schedules' phases spread evenly
 * over the 10 ms period. This is the library's own embedding (the host owns the loop and
 * the clock): every twin shares one time base (CLOCK_MONOTONIC since the
 * program started), which one process of many twins wants (a `fixed` clock
 * between them, no offset to learn), and the loop sees the moment a belief
 * is read. dt_uv_attach gives each twin its own time base (ns since its
 * attach) and its own timer; it suits a few twins in an application that
 * already runs libuv.
 *
 * A step that would start more than one period late is skipped and counted
 * missed (a real-time loop drops a cycle it cannot make; it does not run a
 * backlog). Figures per N, over a fixed measured window after a warm-up:
 * - cpu_cores: this process's CPU time (getrusage: user + system) over the
 *   window's wall time; broker_cpu_cores: the broker's (/proc/PID/stat
 *   utime + stime); cpu_per_twin_us: this process's CPU per twin per second.
 * - steps_done_share: steps done over steps due in the window (done +
 *   missed); step_late_p99_us: how late steps started after their due time;
 *   runqueue_wait_share: the time the thread waited, runnable, for a CPU
 *   (/proc/self/schedstat) over the window: the machine's other work.
 * - hop_p50_us, hop_p99_us: one belief's hop, on CLOCK_MONOTONIC: from the
 *   clock read just before the publisher's step (push and dt_twin_step) in
 *   which its bus published the belief, to the return of the reader's call
 *   (dt_io_ready, or its own dt_twin_step, whose poll reads its connection)
 *   in which its twin source counted the message. Beliefs are paired by
 *   sequence number: each publisher's count of published beliefs, each
 *   source's messages + lost (exact: measurements, hence beliefs, start only
 *   after every twin is connected and subscribed, so every reader's first
 *   belief is number 1). Fusion follows at the reader's next step (up to
 *   one period later), which this figure leaves out.
 * - beliefs_per_s (published), msgs_per_s (delivered to readers: messages
 *   received), rss_per_twin_kib (this process's resident memory per twin),
 *   alloc_per_twin_kib (what the twins allocated through their allocator,
 *   per twin; libmosquitto's own allocations are outside it),
 *   broker_rss_mib.
 * society.twins_per_core: the largest N at which the process keeps up
 * (steps_done_share >= 0.999: at most one step in 1000 missed) and the hops
 * keep their p99 below one step period (10 ms: a belief reaches its readers
 * in time for their next step but one, whatever N). Not a factor of the
 * first N's p99: on a shared machine that figure alone moves by ten times
 * between runs (0.5 to 5 ms seen at N = 10 with others' builds running);
 * each N's ratio to it is printed. The sweep: 10 30 100 300 1000 2000 3000,
 * stopping at the first N that collapses (fewer than half the steps done),
 * then two halvings between the largest N that passed and the smallest that
 * did not; no new N starts once the sweep has run 120 s. Given N on the
 * command line: those only.
 * After each N, with the measurements stopped and the links drained, the
 * ledger: every belief published is received or counted lost by both its
 * readers, and each twin's offered beliefs are fused, kept, refused or
 * superseded; `--check` makes a broken ledger exit 1 (the ctest).
 *
 * bench_society [--seconds S] [--warmup S] [--hz F] [--rt] [--check] [N ...]
 * (--rt: real-time priority for this process and the broker, society_sys.h)
 * (--hz: another step rate than 100 Hz, to see the cost of large N within
 * one core: `--hz 10 1000 3000`)
 * (defaults: 8 s measured after 2 s of warm-up, per N; about two minutes in
 * all). The machine is shared: figures are printed, never asserted. */
#define _GNU_SOURCE /* epoll_pwait2; before any system header */
#include "bench_util.h"

#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>

#include "society_desc.h"
#include "society_sys.h"

#include "dtwin/dtwin.h"

#define HOP_MAX_NS 10000000LL     /* a hop's p99 must stay below one 100 Hz step */
#define PUB_PERIOD_NS 100000000LL /* its beliefs: "every": 0.1 */
#define KEEP_UP 0.999             /* steps done over steps due, to keep up */
#define COLLAPSE 0.5              /* below it the sweep stops */
#define SWEEP_BUDGET_S 120.0      /* no new N starts after this (the bench stays near 2 min) */
/* each twin's step period: 10 ms (100 Hz); --hz changes it */
static int64_t PERIOD_NS = 10000000LL;
#define RING 64                   /* publish times kept per twin (6.4 s of beliefs) */
#define MAX_WATCH 4
#define LATE_BUCKET_US 10
#define LATE_BUCKETS 2001 /* 0..20 ms by 10 us, the last one beyond */

#include "society_loop.h"

static double late_pct(const society *s, double p)
{
    uint64_t total = 0, acc = 0;
    for (int b = 0; b < LATE_BUCKETS; b++)
        total += s->late[b];
    for (int b = 0; b < LATE_BUCKETS; b++) {
        acc += s->late[b];
        if ((double)acc >= p * (double)total)
            return (double)((b + 1) * LATE_BUCKET_US); /* the bucket's upper edge */
    }
    return NAN;
}

static double pct(double *v, size_t n, double p)
{
    if (n == 0)
        return NAN;
    qsort(v, n, sizeof *v, bench_cmp);
    return v[(size_t)(p * (double)(n - 1) + 0.5)];
}

typedef struct result {
    int n, keeps_up, ledger_ok;
    double cpu, broker_cpu, done_share, late99, hop50, hop99, queued;
} result;

static void line(int n, const char *what, double v, const char *unit)
{
    char name[96];
    snprintf(name, sizeof name, "society.n%d.%s", n, what);
    bench_line(name, v, unit);
}

static int connected_all(society *s)
{
    for (int j = 0; j < s->n; j++)
        if (link_ctr(&s->nodes[j], s->connects_ctr) == 0)
            return 0;
    return 1;
}

/* The ledger of delivery, with the links drained and the twins paused:
 * every belief published received or counted lost by both its readers.
 * Prints it; 0 when it holds. */
static uint64_t g_pub, g_recv, g_lost, g_off;

static int ledger_delivery(society *s, int n)
{
    g_pub = g_recv = g_lost = g_off = 0;
    for (int j = 0; j < n; j++) {
        node *nd = &s->nodes[j];
        g_pub += link_ctr(nd, s->pub_ctr);
        for (int k = 0; k < 2; k++) {
            dt_counter c[6];
            dt_io_source_counters(nd->io, nd->sd[k].src, c, 6);
            g_recv += c[0].value;
            g_lost += c[5].value;
            g_off += c[0].value + c[5].value != link_ctr(&s->nodes[nd->sd[k].peer], s->pub_ctr);
        }
    }
    return g_off == 0 && g_pub > 0 && g_recv + g_lost == 2 * g_pub ? 0 : -1;
}

/* The ledger of fusion, after a last step of every twin: each twin's
 * offered beliefs fused, kept, refused or superseded. Prints both; 0 when
 * both hold. */
static int ledger(society *s, int n, int delivered)
{
    uint64_t offered = 0, fused = 0, kept = 0, refused = 0, superseded = 0, time_refused = 0,
             bad_twins = 0;
    for (int j = 0; j < n; j++) {
        dt_twin_stats st;
        dt_twin_stats_get(s->nodes[j].tw, &st);
        offered += st.beliefs_offered;
        fused += st.beliefs_fused;
        kept += st.beliefs_kept;
        refused += st.beliefs_refused;
        superseded += st.beliefs_superseded;
        time_refused += st.beliefs_time_refused;
        bad_twins += st.beliefs_offered != st.beliefs_fused + st.beliefs_kept +
                                               st.beliefs_refused + st.beliefs_superseded;
    }
    printf("# society.n%d ledger: %llu beliefs published, each read by 2: %llu received + %llu "
           "lost of %llu (%llu readers off); offered %llu = fused %llu + kept %llu + refused "
           "%llu + superseded %llu (%llu twins off), time_refused %llu\n",
           n, (unsigned long long)g_pub, (unsigned long long)g_recv, (unsigned long long)g_lost,
           (unsigned long long)(2 * g_pub), (unsigned long long)g_off,
           (unsigned long long)offered, (unsigned long long)fused, (unsigned long long)kept,
           (unsigned long long)refused, (unsigned long long)superseded,
           (unsigned long long)bad_twins, (unsigned long long)time_refused);
    return delivered == 0 && bad_twins == 0 ? 0 : -1;
}

static void society_run(int n, double warm_s, double meas_s, result *res)
{
    static society s;
    memset(&s, 0, sizeof s);
    memset(res, 0, sizeof *res);
    res->n = n;
    s.n = n;
    s.t0 = g_t0;
    s.nodes = calloc((size_t)n, sizeof *s.nodes);
    s.hop_cap = (size_t)((double)n * 2 * 12 * (meas_s + 1)) + 1024;
    s.hop = malloc(s.hop_cap * sizeof *s.hop);
    s.ep = epoll_create1(EPOLL_CLOEXEC);
    if (s.nodes == NULL || s.hop == NULL || s.ep < 0)
        die("out of memory (or epoll)");
    double rss0 = rss_kib(0), brss0 = rss_kib(broker.pid);
    size_t live0 = g_live;
    char realm[32], *doc = malloc(16384);
    snprintf(realm, sizeof realm, "soc%d", n); /* retained messages of another N stay apart */
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    o.allocator = &g_alloc;
    int64_t start = mono_ns();
    for (int j = 0; j < n; j++) {
        node *nd = &s.nodes[j];
        if (doc == NULL || soc_desc(doc, 16384, j, n, broker.port, realm) < 0)
            die("a description does not fit");
        dt_diag d;
        if (dt_twin_load_json(doc, strlen(doc), &o, &nd->tw, &d) != DT_OK) {
            fprintf(stderr, "bench_society: load: %s: %s\n", d.path, d.message);
            exit(1);
        }
        nd->io = dt_twin_io(nd->tw);
        nd->rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(j + 1);
        nd->last_pub_t = INT64_MIN / 2;
        if (dt_io_find_source(nd->io, "left", &nd->sd[0].src) != DT_OK ||
            dt_io_find_source(nd->io, "right", &nd->sd[1].src) != DT_OK)
            die("a twin source is missing");
        nd->sd[0].peer = (j + n - 1) % n;
        nd->sd[1].peer = (j + 1) % n;
        if (j == 0) {
            dt_counter c[8];
            if (dt_io_source_counters(nd->io, nd->sd[0].src, c, 8) < 6 ||
                strcmp(c[0].name, "messages") != 0 || strcmp(c[5].name, "lost") != 0)
                die("the twin source's counters moved: messages and lost expected at 0 and 5");
            s.pub_ctr = link_ctr_index(nd->io, "bus.beliefs_published");
            s.connects_ctr = link_ctr_index(nd->io, "mqtt.connects");
        }
        /* phases spread over the period */
        nd->due = start + (int64_t)j * PERIOD_NS / n;
        if (dt_twin_start(nd->tw, mono_ns() - s.t0) != DT_OK)
            die("a twin did not start");
        sync_watches(&s, j);
    }
    free(doc);
    double load_s = (double)(mono_ns() - start) * 1e-9;
    /* connected, then a second for the subscriptions (and retained
     * contracts) before the first belief: every reader's first is number 1 */
    int64_t t_conn = mono_ns(), bound = t_conn + 60 * 1000000000LL;
    while (!connected_all(&s)) {
        if (mono_ns() > bound)
            die("the twins did not all connect within 60 s");
        run(&s, mono_ns() + 100000000LL);
    }
    double connect_s = (double)(mono_ns() - start) * 1e-9;
    run(&s, mono_ns() + 1000000000LL);
    double rss1 = rss_kib(0);
    s.feeding = 1;
    run(&s, mono_ns() + (int64_t)(warm_s * 1e9));
    uint64_t pub0 = 0, recv0 = 0;
    for (int j = 0; j < n; j++) {
        pub0 += s.nodes[j].published;
        recv0 += s.nodes[j].sd[0].seq + s.nodes[j].sd[1].seq;
    }
    double sys0, sys1, load0 = loadavg();
    double w0 = bench_now(), c0 = self_cpu(&sys0), b0 = broker_cpu(), q0 = runqueue_wait();
    s.measuring = 1;
    run(&s, mono_ns() + (int64_t)(meas_s * 1e9));
    s.measuring = 0;
    double wall = bench_now() - w0, cpu = self_cpu(&sys1) - c0, bcpu = broker_cpu() - b0;
    double queued = runqueue_wait() - q0;
    uint64_t pub1 = 0, recv1 = 0;
    for (int j = 0; j < n; j++) {
        pub1 += s.nodes[j].published;
        recv1 += s.nodes[j].sd[0].seq + s.nodes[j].sd[1].seq;
    }
    double rss2 = rss_kib(0), brss = rss_kib(broker.pid);
    double alloc_kib = (double)(g_live - live0) / 1024;
    /* no more measurements, hence no more beliefs: drain the links */
    s.feeding = 0;
    run(&s, mono_ns() + 300000000LL);
    /* a fused belief is a belief event too, which the bus publishes (at most
     * every 0.1 s): the ring goes on publishing while it steps. Paused, the
     * sockets are read until every belief published has arrived... */
    s.paused = 1;
    run(&s, mono_ns() + 500000000LL);
    int delivered = ledger_delivery(&s, n);
    /* ...and one last step of each fuses what arrived after its last one */
    for (int j = 0; j < n; j++)
        step(&s, j, mono_ns());
    res->ledger_ok = ledger(&s, n, delivered) == 0;

    res->cpu = cpu / wall;
    res->broker_cpu = bcpu / wall;
    res->done_share = (double)s.done / (double)(s.done + s.missed);
    res->late99 = late_pct(&s, 0.99);
    res->hop50 = pct(s.hop, s.nhop, 0.50);
    res->hop99 = pct(s.hop, s.nhop, 0.99);
    line(n, "cpu_cores", res->cpu, "cores");
    line(n, "broker_cpu_cores", res->broker_cpu, "cores");
    line(n, "cpu_per_twin_us", cpu / wall / n * 1e6, "us/s");
    line(n, "cpu_per_step_us", cpu / (double)s.done * 1e6, "us");
    /* what one core would run at this cost, were it all the process's */
    line(n, "twins_per_core_by_cpu", (double)n / res->cpu * res->done_share, "twins");
    line(n, "steps_done_share", res->done_share, "x");
    res->queued = queued / wall;
    line(n, "runqueue_wait_share", res->queued, "x");
    line(n, "step_late_p99_us", res->late99, "us");
    line(n, "hop_p50_us", res->hop50, "us");
    line(n, "hop_p99_us", res->hop99, "us");
    line(n, "beliefs_per_s", (double)(pub1 - pub0) / wall, "beliefs/s");
    line(n, "msgs_per_s", (double)(recv1 - recv0) / wall, "msgs/s");
    line(n, "rss_per_twin_kib", (rss2 - rss0) / n, "KiB");
    line(n, "alloc_per_twin_kib", alloc_kib / n, "KiB");
    line(n, "broker_rss_mib", brss / 1024, "MiB");
    printf("# society.n%d: %.1f s measured after %.1f s of warm-up; %llu steps done, %llu "
           "missed; step lateness p50 %.0f us; %zu hops (%llu unpaired), max %.0f us; "
           "broker %.1f us of CPU per message in or out; resident memory %.1f MiB after "
           "connecting (%.1f MiB at the end), the broker's %.1f -> %.1f MiB; connected in "
           "%.2f s (loaded and started in %.2f s); %.0f %% of this process's CPU in the kernel; "
           "load average %.2f, %.2f\n",
           n, wall, warm_s, (unsigned long long)s.done, (unsigned long long)s.missed,
           late_pct(&s, 0.5), s.nhop, (unsigned long long)s.hops_unpaired,
           pct(s.hop, s.nhop, 1.0), bcpu / (double)(pub1 - pub0 + recv1 - recv0) * 1e6,
           rss1 / 1024, rss2 / 1024, brss0 / 1024, brss / 1024, connect_s, load_s,
           (sys1 - sys0) / cpu * 100, load0, loadavg());
    int64_t td = mono_ns();
    for (int j = 0; j < n; j++)
        dt_twin_destroy(s.nodes[j].tw);
    printf("# society.n%d: %d twins destroyed in %.2f s\n", n, n,
           (double)(mono_ns() - td) * 1e-9);
    malloc_trim(0); /* the next N's resident memory starts from what it uses */
    close(s.ep);
    free(s.nodes);
    free(s.hop);
}

/* Whether N passes: keeps up, and its hops keep their p99. */
static int passes(const result *r)
{
    return r->done_share >= KEEP_UP && r->hop99 < HOP_MAX_NS * 1e-3;
}

static void verdict(const result *r, double hop99_ref)
{
    printf("# society.n%d: %s (%.4f of the steps due done, at least %.3f wanted); hop p99 "
           "%.0f us, %s one step period (%.0f us); %.2f x the first N's; the thread waited for a "
           "CPU %.1f %% of the time\n",
           r->n, r->done_share >= KEEP_UP ? "keeps up" : "falls behind", r->done_share,
           KEEP_UP, r->hop99, r->hop99 < HOP_MAX_NS * 1e-3 ? "below" : "not below",
           HOP_MAX_NS * 1e-3, r->hop99 / hop99_ref, r->queued * 100);
}

int main(int argc, char **argv)
{
    double meas_s = 8, warm_s = 2;
    int check = 0, ns[32], nn = 0, sweep = 1, rt = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            meas_s = atof(argv[++i]);
        else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc)
            warm_s = atof(argv[++i]);
        else if (strcmp(argv[i], "--hz") == 0 && i + 1 < argc) {
            double hz = atof(argv[++i]);
            if (!(hz >= 1 && hz <= 1000))
                die("--hz 1..1000");
            PERIOD_NS = (int64_t)(1e9 / hz + 0.5);
        } else if (strcmp(argv[i], "--rt") == 0)
            rt = 1;
        else if (strcmp(argv[i], "--check") == 0)
            check = 1;
        else if (atoi(argv[i]) >= 3 && atoi(argv[i]) <= 5000 && nn < 32)
            ns[nn++] = atoi(argv[i]), sweep = 0;
        else {
            fprintf(stderr, "usage: bench_society [--seconds S] [--warmup S] [--hz F] [--rt] "
                            "[--check] "
                            "[N (3..5000) ...]\n");
            return 2;
        }
    }
    if (!(meas_s >= 0.5 && meas_s <= 600 && warm_s >= 0 && warm_s <= 60))
        die("--seconds 0.5..600, --warmup 0..60");
    if (sweep) {
        const int def[] = {10, 30, 100, 300, 1000, 2000, 3000};
        for (size_t i = 0; i < sizeof def / sizeof def[0]; i++)
            ns[nn++] = def[i];
    }
    if (!broker_binary_found()) {
        printf("# bench_society: skipped: the mosquitto broker is not installed (Debian package "
               "mosquitto: scripts/install-deps.sh)\n");
        return 0;
    }
    rlim_t nofile = raise_nofile();
    if (broker_start() != 0) {
        dtt_broker_dump_log(&broker, "mosquitto");
        die("the broker did not start");
    }
    if (rt)
        realtime(broker.pid);
    g_t0 = mono_ns() - 1000000000LL; /* twin time starts at 1 s */
    printf("# society: each twin a 6-state KF stepped at %.0f Hz, a belief group every 0.1 s, "
           "reading its 2 ring neighbours' groups; one thread, one mosquitto (pid %d)\n",
           1e9 / (double)PERIOD_NS, (int)broker.pid);
    double t_start = bench_now();
    result r;
    int best = 0, worst = 0, ledger_bad = 0, ran[32], ok[32], nran = 0;
    double hop99_ref = NAN;
    for (int i = 0; i < nn; i++) {
        /* 3 descriptors a twin here (its socket, libmosquitto's socketpair) */
        if ((rlim_t)ns[i] * 3 + 64 > nofile) {
            printf("# society: N = %d needs more than the open-file limit %llu: stop\n", ns[i],
                   (unsigned long long)nofile);
            break;
        }
        if (sweep && i > 0 && bench_now() - t_start > SWEEP_BUDGET_S) {
            printf("# society: %.0f s into the sweep: N = %d and above are left out\n",
                   bench_now() - t_start, ns[i]);
            break;
        }
        society_run(ns[i], warm_s, meas_s, &r);
        ledger_bad |= !r.ledger_ok;
        if (i == 0)
            hop99_ref = r.hop99;
        verdict(&r, hop99_ref);
        ran[nran] = r.n;
        ok[nran++] = passes(&r);
        if (sweep && r.done_share < COLLAPSE) {
            printf("# society: collapsed at N = %d (fewer than half the steps due done): the "
                   "sweep stops\n",
                   r.n);
            break;
        }
    }
    /* between the largest N that passed and the smallest larger one that did
     * not: two halvings, so that the answer is finer than the sweep's steps */
    for (int i = 0; i < nran; i++)
        if (ok[i] && ran[i] > best)
            best = ran[i];
    for (int i = 0; i < nran; i++)
        if (!ok[i] && ran[i] > best && (worst == 0 || ran[i] < worst))
            worst = ran[i];
    for (int k = 0; sweep && k < 2 && best > 0 && worst > best && worst - best > 20 &&
                    bench_now() - t_start < SWEEP_BUDGET_S;
         k++) {
        int mid = (best + worst) / 2 / 10 * 10;
        society_run(mid, warm_s, meas_s, &r);
        ledger_bad |= !r.ledger_ok;
        verdict(&r, hop99_ref);
        if (passes(&r))
            best = mid;
        else
            worst = mid;
    }
    bench_line("society.twins_per_core", best, "twins");
    dtt_broker_stop(&broker);
    if (check && ledger_bad) {
        fprintf(stderr, "bench_society: the ledger does not hold (lines '# ... ledger')\n");
        return 1;
    }
    return 0;
}
