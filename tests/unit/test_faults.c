/* The fault catalogue (docs/reliability.md): named scenarios on a closed-loop
 * twin built from the simulation adapters, each run with 10 seeds and each
 * seed twice. In every run every source and sink balances its accounting, the
 * same seed gives the same results bit for bit, and the scenario's own
 * expectation holds.
 *
 * The twin: a first-order plant (dy/dt = -y + u) read by a sim sensor (100 Hz),
 * a second sensor the test pushes through a memory source (clock estimated),
 * and a third that arrives as UDP frames over loopback from the test (10 Hz),
 * where the test plays the network: it corrupts, repeats, reorders, loses,
 * delays, replays and forges frames. A KF (y_est) with a latency budget of
 * 0.345 s, a PID to setpoint 2, and the valve's actuator as a sink the test
 * can make fail or refuse. Every source declares max_hold 0.05 s, so a silent
 * or stopped source never holds the others' samples back for long. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"
#include "alloc_counter.h"

#include "dtwin/dtwin.h"

#define SEEDS 10
#define PERIOD_MS 10

/* ---- the plant and the flaky actuator (the physical side) ---- */

typedef struct plant {
    double y, gain_fault; /* the sensor's gain error (1: none) */
    double valve;         /* what the actuator last applied */
} plant;
static plant pl;

static int plant_step(void *self, double t, double dt, const double *u, double *y)
{
    (void)self, (void)t, (void)u;
    double e = exp(-dt);
    pl.y = e * pl.y + (1 - e) * pl.valve;
    y[0] = pl.y * pl.gain_fault;
    return 0;
}
static const char *const p_in[] = {"valve"}, *const p_out[] = {"level"};
static const dt_plant_ops plant_ops = {DT_PLANT_ABI, 1, 1, p_in, p_out, plant_step};

enum { ACT_OK, ACT_FAIL, ACT_REFUSE };
static int act_mode;
static int flaky_open(void *self, dt_sink_ctx *ctx, const dt_config *cfg)
{
    (void)self, (void)ctx, (void)cfg;
    return DT_OK;
}
/* The valve's actuator: applies the command to the plant, or fails, or
 * refuses (a sink that would block must return at once: the adapter contract). */
static int flaky_apply(void *self, const dt_command *cmd, const dt_mapping *map)
{
    (void)self, (void)map;
    if (act_mode == ACT_OK)
        pl.valve = cmd->value;
    return act_mode == ACT_OK ? DT_OK : act_mode == ACT_FAIL ? DT_EIO : DT_EFULL;
}
static const dt_sink_ops flaky_ops = {
    .abi = DT_SINK_ABI, .kind = "flaky", .open = flaky_open, .apply = flaky_apply};

/* ---- one run ---- */

typedef struct run run;
typedef struct scenario {
    const char *name;
    const char *sensor_keys; /* extra keys of the sim sensor source */
    const char *net_keys;    /* extra keys of the UDP source */
    int cycles;
    void (*inject)(run *r); /* before each step */
    void (*check)(run *r);  /* after the run */
} scenario;

#define HOLD 64
struct run {
    const scenario *sc;
    uint64_t seed, rng;
    dt_twin *t;
    dt_io *io;
    size_t aux, net;
    int sock;
    struct sockaddr_in to;
    uint32_t seq;
    int k; /* cycle */
    dt_time now;
    /* what the test injected */
    int prev_held;
    uint64_t frames_sent, corrupted, repeated, swapped, dropped, delayed, inserted, masq,
        wrong_sig, nan_in, oor_in, future_in, aux_pushed;
    /* frames held back (delay, reorder) */
    uint8_t held[HOLD][64];
    size_t held_len[HOLD];
    int held_until[HOLD], n_held;
    uint8_t ancient[64];
    size_t ancient_len;
    /* the UDP sender: wire version 2 with this epoch when > 0, else version 1 */
    int epoch;
    int udp_silent_until; /* cycle: the sender is rebooting until then */
    uint8_t recent[32][64]; /* the last frames sent, for replays */
    uint8_t session1[32][64]; /* frames of the sender's first session */
    uint64_t forged, replayed, restarted_at_frame, frames_to_data, flood_valid, flood_wrong;
    dt_udp_stats prev_us; /* per-step work under the flood */
    uint64_t max_step_datagrams, max_step_bytes, max_step_samples;
    dt_time aux_shift; /* the aux sensor's clock error (jumps) */
    dt_time udp_ahead; /* the UDP sender's clock runs ahead by this much */
    uint64_t bad_time_aux, bad_time_udp; /* extreme timestamps injected */
    double aux_skew;
    int aux_silent_from; /* cycle from which aux stops (0: never starts, -1: never stops) */
    int burst;           /* overload: pushes per cycle */
    long allocs_after_start;
    int safe_at, left_safe_at;
    /* results */
    uint64_t hash;
    dt_twin_stats st;
    dt_udp_stats us;
    dt_source_stats src[3];
    dt_sink_stats snk[1];
    uint64_t sim_lost;
    double aux_offset, aux_skew_est;
};

static dtt_counter allocs_seen; /* counts every allocation (alloc_counter.h) */

static uint64_t rnd(run *r)
{
    r->rng ^= r->rng << 13;
    r->rng ^= r->rng >> 7;
    r->rng ^= r->rng << 17;
    return r->rng;
}
static double unif(run *r) { return (double)(rnd(r) >> 11) * (1.0 / 9007199254740992.0); }

static size_t frame(run *r, uint8_t *buf, uint32_t sid, uint32_t seq, uint32_t ch, double v)
{
    dt_wire_sample s = {ch, 0, r->now + r->udp_ahead, v, 0};
    dt_wire_header h = {r->epoch > 0 ? 2 : 1, DT_WIRE_SAMPLES, sid, seq, 1,
                        (uint16_t)(r->epoch > 0 ? r->epoch : 0)};
    return dt_wire_encode_samples_v2(buf, 64, &h, &s, 1);
}

static void send_raw(run *r, const uint8_t *b, size_t n)
{
    assert_true(sendto(r->sock, b, n, 0, (const struct sockaddr *)&r->to, sizeof r->to) ==
                (ssize_t)n);
    r->frames_sent++;
}

static void hold(run *r, const uint8_t *b, size_t n, int cycles)
{
    assert_true(r->n_held < HOLD);
    memcpy(r->held[r->n_held], b, n);
    r->held_len[r->n_held] = n;
    r->held_until[r->n_held++] = r->k + cycles;
}

static void release_held(run *r)
{
    for (int i = 0; i < r->n_held;) {
        if (r->held_until[i] <= r->k) {
            send_raw(r, r->held[i], r->held_len[i]);
            r->held[i][0] = 0;
            r->n_held--;
            memmove(&r->held[i], &r->held[i + 1], (size_t)(r->n_held - i) * sizeof r->held[0]);
            memmove(&r->held_len[i], &r->held_len[i + 1], (size_t)(r->n_held - i) * sizeof(size_t));
            memmove(&r->held_until[i], &r->held_until[i + 1], (size_t)(r->n_held - i) * sizeof(int));
        } else {
            i++;
        }
    }
}

/* The default traffic: the aux sensor every cycle, a UDP frame every 10th. */
static void traffic(run *r, int udp_fault)
{
    if (r->aux_silent_from != 0 && (r->aux_silent_from < 0 || r->k < r->aux_silent_from))
        for (int b = 0; b < (r->burst ? r->burst : 1); b++) {
            dt_time ts = r->now - DT_NS_PER_MS + r->aux_shift +
                         (dt_time)(r->aux_skew * (double)r->now);
            assert_int_equal(dt_memory_source_push(r->io, r->aux, "lvl2", ts, pl.y), 0);
            r->aux_pushed++;
        }
    release_held(r);
    if (r->k % 10 != 0 || r->k < r->udp_silent_until)
        return;
    uint8_t b[64];
    size_t n = frame(r, b, 7, ++r->seq, 1, pl.y);
    if (r->seq == 5) {
        memcpy(r->ancient, b, n);
        r->ancient_len = n;
    }
    memcpy(r->recent[(r->k / 10) % 32], b, n); /* every frame is 56 bytes */
    if (!udp_fault || r->k < 100) {
        send_raw(r, b, n);
        return;
    }
    double p = unif(r);
    switch (udp_fault) {
    case 1: /* corruption: one random bit flipped in 20 % of frames */
        if (p < 0.2) {
            size_t bit = rnd(r) % (n * 8);
            b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            r->corrupted++;
        }
        send_raw(r, b, n);
        break;
    case 2: /* repetition */
        send_raw(r, b, n);
        if (p < 0.2) {
            send_raw(r, b, n);
            r->repeated++;
        }
        break;
    case 3: /* wrong order: held one frame period, so the next one overtakes it
             * (unless that one is held too: then the first is overtaken by none) */
        if (p < 0.2) {
            hold(r, b, n, 11);
            r->prev_held = 1;
        } else {
            send_raw(r, b, n);
            r->swapped += (uint64_t)r->prev_held; /* this frame overtook the held one */
            r->prev_held = 0;
        }
        break;
    case 4: /* loss */
        if (p < 0.2)
            r->dropped++;
        else
            send_raw(r, b, n);
        break;
    case 5: /* delay: 300 ms, beyond the merge but within the history */
        hold(r, b, n, 30);
        r->delayed++;
        break;
    case 6: /* insertion: the 5th frame replayed */
        send_raw(r, b, n);
        if (p < 0.1) {
            send_raw(r, r->ancient, r->ancient_len);
            r->inserted++;
        }
        break;
    case 7: /* masquerade: another sender id on the port */
        send_raw(r, b, n);
        if (p < 0.2) {
            n = frame(r, b, 8, r->seq, 1, 99);
            send_raw(r, b, n);
            r->masq++;
        }
        break;
    case 8: /* wrong address: a channel nobody mapped */
        if (p < 0.2) {
            n = frame(r, b, 7, r->seq, 5, pl.y);
            r->wrong_sig++;
        }
        send_raw(r, b, n);
        break;
    }
}

static char doc[8192];

static void build_doc(const run *r)
{
    snprintf(doc, sizeof doc,
             "{\"dtwin\":1,\"name\":\"faults\",\"assets\":[{\"id\":\"p\"}],\"signals\":["
             "{\"id\":\"y\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","
             " \"noise\":{\"std\":0.01},\"period\":0.01,\"limits\":{\"min\":-10,\"max\":10}},"
             "{\"id\":\"y2\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","
             " \"noise\":{\"std\":0.02},\"period\":0.01,\"limits\":{\"min\":-10,\"max\":10}},"
             "{\"id\":\"y3\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","
             " \"noise\":{\"std\":0.02},\"period\":0.01},"
             "{\"id\":\"y_est\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"estimated\"},"
             "{\"id\":\"u\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"commanded\","
             " \"limits\":{\"min\":0,\"max\":5}}],"
             "\"sources\":[{\"id\":\"sensor\",\"kind\":\"sim\",\"plant\":\"tank\",\"rate\":100,"
             " \"seed\":%llu,\"noise\":0.01,\"timeout\":0.5,\"max_hold\":0.05%s,"
             " \"mapping\":[{\"native\":\"level\",\"signal\":\"y\"}]},"
             "{\"id\":\"aux\",\"kind\":\"memory\",\"timeout\":0.5,\"max_hold\":0.05,\"ring\":4096,\"reorder\":4096,"
             " \"clock\":{\"mode\":\"estimate\",\"window\":0.5,\"windows\":8,\"jump\":1},"
             " \"mapping\":[{\"native\":\"lvl2\",\"signal\":\"y2\"}]},"
             "{\"id\":\"net\",\"kind\":\"udp\",\"auth\":\"none\",\"port\":0,\"source_id\":7,\"timeout\":1,\"max_hold\":0.05%s,"
             " \"mapping\":[{\"channel\":1,\"signal\":\"y3\"}]}],"
             "\"sinks\":[{\"id\":\"act\",\"kind\":\"flaky\",\"mapping\":[{\"native\":\"u\",\"signal\":\"u\"}]}],"
             "\"estimator\":{\"states\":[\"y_est\"],\"inputs\":[\"u\"],\"A\":[[-1]],\"B\":[[1]],"
             " \"Q\":[0.2],\"P0\":[1e-4],\"history\":512,"
             " \"measurements\":[{\"signal\":\"y\",\"H\":{\"y_est\":1}},{\"signal\":\"y2\",\"H\":{\"y_est\":1}},"
             " {\"signal\":\"y3\",\"H\":{\"y_est\":1}}],"
             " \"bounds\":[{\"name\":\"level\",\"variance\":\"y_est\",\"max\":0.05}]},"
             "\"controllers\":[{\"id\":\"c\",\"kind\":\"pid\",\"input\":\"y_est\",\"output\":\"u\","
             " \"setpoint\":2,\"kp\":2,\"ki\":2}],"
             "\"dispatcher\":{\"safe\":{\"u\":0},\"sink_failures\":3,\"deadline\":0.05},"
             "\"loop\":{\"period\":0.01}}",
             (unsigned long long)r->seed, r->sc->sensor_keys ? r->sc->sensor_keys : "",
             r->sc->net_keys ? r->sc->net_keys : "");
}

static void hash_in(uint64_t *h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        *h = (*h ^ b[i]) * 1099511628211ull;
}

static void do_run(const scenario *sc, uint64_t seed, run *r)
{
    memset(r, 0, sizeof *r);
    r->sc = sc;
    r->seed = seed;
    r->rng = 0x9E3779B97F4A7C15ull * (seed + 1);
    r->aux_silent_from = -1;
    r->safe_at = r->left_safe_at = -1;
    pl.y = pl.valve = 0;
    pl.gain_fault = 1;
    act_mode = ACT_OK;
    build_doc(r);
    dt_registry *reg;
    assert_int_equal(dt_registry_create(NULL, &reg), 0);
    assert_int_equal(dt_registry_add_plant(reg, "tank", &plant_ops, NULL), 0);
    assert_int_equal(dt_registry_add_sink(reg, &flaky_ops), 0);
    dt_allocator a = dtt_allocator(&allocs_seen);
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.allocator = &a;
    o.registry = reg;
    o.logger = dt_logger_silent();
    dt_diag d;
    int rc = dt_twin_load_json(doc, strlen(doc), &o, &r->t, &d);
    if (rc)
        print_error("%s: %s\n", sc->name, d.message);
    assert_int_equal(rc, 0);
    r->io = dt_twin_io(r->t);
    assert_int_equal(dt_io_find_source(r->io, "aux", &r->aux), 0);
    assert_int_equal(dt_io_find_source(r->io, "net", &r->net), 0);
    dt_udp_stats us;
    assert_int_equal(dt_udp_source_stats(r->io, r->net, &us), 0);
    r->sock = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(r->sock >= 0);
    r->to.sin_family = AF_INET;
    r->to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    r->to.sin_port = htons(us.port);
    assert_int_equal(dt_twin_start(r->t, 0), 0);
    long allocs0 = allocs_seen.calls;
    r->hash = 1469598103934665603ull;
    int cycles = sc->cycles ? sc->cycles : 1500;
    for (r->k = 1; r->k <= cycles; r->k++) {
        r->now = (dt_time)r->k * PERIOD_MS * DT_NS_PER_MS;
        sc->inject(r);
        assert_int_equal(dt_twin_step(r->t, r->now), 0);
        const double *x = dt_kf_state(dt_est_kf(dt_twin_estimator(r->t)));
        dt_twin_stats_get(r->t, &r->st);
        hash_in(&r->hash, x, sizeof *x);
        hash_in(&r->hash, &r->st.safe_state, sizeof r->st.safe_state);
        if (r->st.safe_state && r->safe_at < 0 && r->k > 50)
            r->safe_at = r->k;
        if (!r->st.safe_state && r->safe_at > 0 && r->left_safe_at < 0)
            r->left_safe_at = r->k;
    }
    r->allocs_after_start = allocs_seen.calls - allocs0;
    /* what is still in the kernel's buffer (a budget leaves it there) is read
     * now: then every datagram sent is accounted for */
    for (int i = 0; i < 10000; i++) {
        dt_udp_source_stats(r->io, r->net, &r->us);
        if (r->us.datagrams + r->us.kernel_dropped >= r->frames_sent)
            break;
        assert_int_equal(dt_io_poll(r->io, r->now), 0);
    }
    /* results, and the accounting of every source and sink */
    dt_twin_stats_get(r->t, &r->st);
    dt_udp_source_stats(r->io, r->net, &r->us);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(dt_ingest_source_stats(dt_twin_ingest(r->t), (dt_source_id)i, &r->src[i]), 0);
        if (!dt_source_stats_consistent(&r->src[i]))
            print_error("%s seed %llu: source %zu does not balance\n", sc->name,
                        (unsigned long long)seed, i);
        assert_true(dt_source_stats_consistent(&r->src[i]));
        hash_in(&r->hash, &r->src[i], sizeof r->src[i]);
    }
    for (size_t i = 0; i < 1; i++) {
        assert_int_equal(dt_io_sink_stats(r->io, i, &r->snk[i]), 0);
        assert_true(r->snk[i].errors <= r->snk[i].applied);
    }
    /* every command ends exactly one way */
    assert_true(r->st.commands == r->st.sent + r->st.expired + r->st.sink_errors);
    /* every datagram ends exactly one way; records are accounted */
    assert_true(r->us.datagrams == r->us.frames_ok + r->us.duplicate + r->us.frames_rejected);
    assert_true(r->us.frames_rejected ==
                r->us.wrong_type + r->us.wrong_source + r->us.kernel_truncated + r->us.too_old +
                    r->us.stale_epoch + r->us.unconfirmed +
                    r->us.rejected[DT_WIRE_SHORT] + r->us.rejected[DT_WIRE_BAD_MAGIC] +
                    r->us.rejected[DT_WIRE_BAD_VERSION] + r->us.rejected[DT_WIRE_BAD_TYPE] +
                    r->us.rejected[DT_WIRE_BAD_FLAGS] + r->us.rejected[DT_WIRE_BAD_RESERVED] +
                    r->us.rejected[DT_WIRE_EMPTY] + r->us.rejected[DT_WIRE_TOO_MANY] +
                    r->us.rejected[DT_WIRE_TRUNCATED] + r->us.rejected[DT_WIRE_TRAILING] +
                    r->us.rejected[DT_WIRE_BAD_CRC]);
    /* ... and every datagram sent was read or dropped by the kernel, never lost silently */
    assert_true(r->us.datagrams + r->us.kernel_dropped == r->frames_sent);
    assert_true(r->us.records == r->us.samples + r->us.unmapped_records + r->us.bad_records +
                                     r->us.records_dropped);
    assert_true(r->us.samples + r->us.unmapped_records + r->us.bad_records >= r->us.frames_ok);
    assert_true(r->us.samples == r->src[2].offered);
    assert_true(r->allocs_after_start == 0);
    r->sim_lost = dt_io_source_events(r->io, 0, DT_EV_LOST);
    const dt_clock *ck = dt_ingest_clock(dt_twin_ingest(r->t), (dt_source_id)r->aux);
    r->aux_offset = dt_clock_offset_s(ck, r->now);
    hash_in(&r->hash, &r->st.sent, sizeof r->st.sent);
    hash_in(&r->hash, &r->us.frames_ok, sizeof r->us.frames_ok);
    dt_twin_destroy(r->t);
    dt_registry_destroy(reg);
    close(r->sock);
}

static void run_scenario(const scenario *sc)
{
    static run a, b;
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        do_run(sc, seed, &a);
        sc->check(&a);
        do_run(sc, seed, &b);
        if (a.hash != b.hash)
            print_error("%s: seed %llu is not reproducible\n", sc->name,
                        (unsigned long long)seed);
        assert_true(a.hash == b.hash);
    }
    print_message("%s: %d seeds x 2 runs: accounting balanced, reproducible; last run: "
                  "y %.3f, %llu samples, %llu commands, %llu safe entries\n",
                  sc->name, SEEDS, pl.y, (unsigned long long)a.st.ingest.total.accepted,
                  (unsigned long long)a.st.sent, (unsigned long long)a.st.safe_entries);
}

/* The loop settles at the setpoint whatever the fault (where it should). */
static void settles(run *r)
{
    (void)r;
    assert_close(pl.y, 2.0, 0, 0.1);
}

/* ---- scenarios ---- */

static void inj_none(run *r) { traffic(r, 0); }
static void chk_baseline(run *r)
{
    settles(r);
    assert_int_equal(r->st.safe_entries, 1); /* start-up only: no data in the first cycle */
    assert_int_equal(r->us.frames_rejected + r->us.lost + r->us.duplicate, 0);
    assert_int_equal(r->us.jumps + r->us.restarts + r->us.kernel_dropped, 0);
    assert_int_equal(r->us.frames_ok, r->frames_sent);
}

static void inj_corrupt(run *r) { traffic(r, 1); }
static void chk_corrupt(run *r)
{
    settles(r);
    assert_true(r->corrupted > 0);
    /* CRC-32 catches every single-bit error (or a header check does first) */
    assert_int_equal(r->us.frames_rejected, r->corrupted);
}

static void inj_repeat(run *r) { traffic(r, 2); }
static void chk_repeat(run *r)
{
    settles(r);
    assert_true(r->repeated > 0);
    assert_int_equal(r->us.duplicate, r->repeated);
    assert_int_equal(r->us.frames_ok, r->frames_sent - r->repeated);
}

static void inj_order(run *r) { traffic(r, 3); }
static void chk_order(run *r)
{
    settles(r);
    assert_true(r->swapped > 0);
    if (r->us.reordered + 1 < r->swapped)
        print_error("swapped %llu reordered %llu lost %llu dup %llu ok %llu sent %llu held %d\n",
                    (unsigned long long)r->swapped, (unsigned long long)r->us.reordered,
                    (unsigned long long)r->us.lost, (unsigned long long)r->us.duplicate,
                    (unsigned long long)r->us.frames_ok, (unsigned long long)r->frames_sent,
                    r->n_held);
    /* each overtaken frame is counted once it arrives (one may still be held at the end) */
    assert_true(r->us.reordered <= r->swapped && r->us.reordered + (uint64_t)r->n_held >= r->swapped);
    assert_true(r->us.lost <= (uint64_t)r->n_held); /* gaps close when the late frame comes */
}

static void inj_loss(run *r) { traffic(r, 4); }
static void chk_loss(run *r)
{
    settles(r);
    assert_true(r->dropped > 0);
    /* a loss at the very end is not yet a gap */
    assert_true(r->us.lost == r->dropped || r->us.lost + 1 == r->dropped);
}

static void inj_delay(run *r) { traffic(r, 5); }
static void chk_delay(run *r)
{
    settles(r);
    /* 300 ms late: behind the merge, applied at their own time */
    assert_true(r->src[2].late + r->src[2].released > 0);
    assert_true(r->src[2].late > 0);
    assert_int_equal(r->src[2].dropped_too_late, 0);
}

static void inj_insert(run *r) { traffic(r, 6); }
static void chk_insert(run *r)
{
    settles(r);
    assert_true(r->inserted > 0);
    /* the replayed frame: a duplicate while within 64 frames, then refused as
     * too old (behind the window a replay cannot be told from a late frame) */
    assert_int_equal(r->us.duplicate + r->us.too_old, r->inserted);
    assert_true(r->us.too_old > 0);
    assert_int_equal(r->us.reordered, 0);
}

static void inj_masq(run *r) { traffic(r, 7); }
static void chk_masq(run *r)
{
    settles(r);
    assert_true(r->masq > 0);
    assert_int_equal(r->us.wrong_source, r->masq);
}

static void inj_wrongsig(run *r) { traffic(r, 8); }
static void chk_wrongsig(run *r)
{
    settles(r);
    assert_true(r->wrong_sig > 0);
    assert_int_equal(r->us.unmapped_records, r->wrong_sig);
}

/* sim sensor: every 3 s it loses 0.1 s, ten of its periods */
static void chk_dropout(run *r)
{
    settles(r);
    assert_true(r->sim_lost >= 40 && r->sim_lost <= 60); /* 5 bursts x 10 readings */
    assert_int_equal(r->st.safe_entries, 1);              /* start-up only: others carry on */
}

static void inj_never(run *r)
{
    r->aux_silent_from = 0;
    traffic(r, 0);
}
static void chk_never(run *r)
{
    settles(r);
    assert_int_equal(r->src[1].offered, 0);
    assert_true(r->src[1].stale);
    assert_true(r->src[0].released > 1000); /* the silent source holds nothing back */
}

static void inj_stops(run *r)
{
    r->aux_silent_from = 500;
    traffic(r, 0);
}
static void chk_stops(run *r)
{
    settles(r);
    assert_int_equal(r->src[1].stale_events, 1);
    assert_true(r->src[1].stale);
    assert_int_equal(r->st.safe_entries, 1); /* start-up only: max_hold keeps data flowing */
}

static void jump(run *r, double s)
{
    if (r->k == 500)
        r->aux_shift = (dt_time)(s * 1e9);
    traffic(r, 0);
}
static void inj_jump_p5(run *r) { jump(r, 5); }
static void inj_jump_m5(run *r) { jump(r, -5); }
static void inj_jump_p300(run *r) { jump(r, 300); }
static void inj_jump_m300(run *r) { jump(r, -300); }
static void chk_jump(run *r, double s)
{
    settles(r);
    /* the clock model re-estimated the offset: mapped times are "now" again */
    assert_close(r->aux_offset, -s, 0, 0.02);
    assert_true(r->src[1].released > 800);
}
static void chk_jump_p5(run *r) { chk_jump(r, 5); }
static void chk_jump_m5(run *r) { chk_jump(r, -5); }
static void chk_jump_p300(run *r) { chk_jump(r, 300); }
static void chk_jump_m300(run *r) { chk_jump(r, -300); }

static void inj_skew(run *r)
{
    r->aux_skew = 500e-6;
    traffic(r, 0);
}
static void chk_skew(run *r)
{
    settles(r);
    /* after 15 s at 500 ppm the raw clock is 7.5 ms ahead; mapped, it is not */
    const double drift = 500e-6 * 15.0;
    assert_close(r->aux_offset, -drift, 0, 0.003);
    assert_int_equal(r->src[1].rejected_future, 0);
}

/* 2 s at 100 x the aux sensor's rate while malformed frames flood the UDP port */
static void inj_overload(run *r)
{
    r->burst = r->k >= 500 && r->k < 700 ? 100 : 0;
    traffic(r, 0);
    if (r->burst) {
        uint8_t junk[64];
        for (int i = 0; i < 50; i++) {
            for (size_t j = 0; j < sizeof junk; j++)
                junk[j] = (uint8_t)rnd(r);
            send_raw(r, junk, 24 + rnd(r) % 40);
        }
    }
}
/* Counts only: how long a cycle takes under the flood is a figure of make bench
 * (bench_flood), never an assertion here (the machine is shared). */
static void chk_overload(run *r)
{
    settles(r);
    assert_int_equal(r->st.expired, 0);      /* no deadline missed */
    assert_true(r->us.frames_rejected >= 9000);
}

static void inj_nan(run *r)
{
    traffic(r, 0);
    if (unif(r) < 0.5) {
        double v = unif(r) < 0.5 ? NAN : (unif(r) < 0.5 ? INFINITY : -INFINITY);
        assert_int_equal(dt_memory_source_push(r->io, r->aux, "lvl2", r->now - DT_NS_PER_MS, v), 0);
        r->nan_in++;
    }
}
static void chk_nan(run *r)
{
    settles(r);
    assert_int_equal(r->src[1].rejected_nonfinite, r->nan_in);
}

static void inj_oor(run *r)
{
    traffic(r, 0);
    if (unif(r) < 0.2) {
        assert_int_equal(dt_memory_source_push(r->io, r->aux, "lvl2", r->now - DT_NS_PER_MS, 50), 0);
        r->oor_in++;
    }
}
static void chk_oor(run *r)
{
    settles(r);
    assert_int_equal(r->src[1].rejected_out_of_limits, r->oor_in);
}

static void inj_future(run *r)
{
    traffic(r, 0);
    if (r->k > 300 && unif(r) < 0.2) {
        assert_int_equal(dt_memory_source_push(r->io, r->aux, "lvl2", r->now + 10 * DT_NS_PER_S, pl.y), 0);
        r->future_in++;
    }
}
static void chk_future(run *r)
{
    settles(r);
    assert_int_equal(r->src[1].rejected_future, r->future_in);
}

static void inj_sink_err(run *r)
{
    act_mode = r->k >= 500 && r->k < 800 ? ACT_FAIL : ACT_OK;
    traffic(r, 0);
}
static void chk_sink_err(run *r)
{
    settles(r);
    assert_true(r->snk[0].errors >= 300);
    assert_int_equal(r->st.sink_fault_entries, 1);
    assert_int_equal(r->st.safe_entries, 2); /* start-up, then the failing actuator */
    /* the third failure engages the safe state at the next cycle */
    assert_true(r->safe_at >= 503 && r->safe_at <= 504);
    assert_true(r->left_safe_at >= 800 && r->left_safe_at <= 802);
    assert_int_equal(r->st.cycles, 1500); /* the loop kept its rate */
}

static void inj_sink_block(run *r)
{
    act_mode = r->k >= 500 ? ACT_REFUSE : ACT_OK;
    traffic(r, 0);
}
static void chk_sink_block(run *r)
{
    assert_int_equal(r->st.cycles, 1500);
    assert_true(r->snk[0].errors >= 1000);
    assert_int_equal(r->st.safe_state, 1); /* never released: the sink never recovers */
    assert_true(r->safe_at >= 503 && r->safe_at <= 504);
}

static void inj_diverge(run *r)
{
    pl.gain_fault = r->k >= 500 ? 2.0 : 1.0; /* one of three redundant sensors: its gain doubles */
    traffic(r, 0);
}
static void chk_diverge(run *r)
{
    /* the flag is raised; the two redundant sensors outvote the faulty one,
     * which is isolated after recover_after samples outside the gate; the
     * twin holds the safe state while the samples dispute the belief */
    assert_true(r->st.estimator.divergence_events >= 1);
    assert_int_equal(r->st.estimator.isolations, 1);
    assert_int_equal(r->st.estimator.recoveries, 0);
    assert_int_equal(r->st.estimator.gated, DT_EST_RECOVER_AFTER);
    assert_true(r->st.estimator.excluded >= 900);
    assert_int_equal(r->st.safe_entries, 2); /* start-up, then the dispute */
    assert_true(r->safe_at > 500 && r->safe_at <= 500 + DT_EST_RECOVER_AFTER);
    assert_true(r->left_safe_at > r->safe_at && r->left_safe_at <= 502 + DT_EST_RECOVER_AFTER);
}

/* seq jump: one forged frame 2^31 - 16 ahead (its value 99 would pull the
 * estimate away), then 300 replays of recent frames, one per cycle */
static void inj_seq_jump(run *r)
{
    traffic(r, 0);
    if (r->k == 500) {
        uint8_t b[64];
        size_t n = frame(r, b, 7, r->seq + 0x7FFFFFF0u, 1, 99.0);
        send_raw(r, b, n);
        r->forged++;
    } else if (r->k > 500 && r->k <= 800) {
        send_raw(r, r->recent[rnd(r) % 32], 56);
        r->replayed++;
    }
}
static void chk_seq_jump(run *r)
{
    settles(r);
    assert_int_equal(r->us.lost, 0);                          /* not inflated */
    assert_int_equal(r->us.frames_ok, r->frames_sent - r->forged - r->replayed);
    assert_int_equal(r->us.duplicate + r->us.too_old, r->replayed); /* still detected */
    assert_int_equal(r->us.unconfirmed, r->forged);
    assert_int_equal(r->us.frames_ok, r->frames_sent - r->forged - r->replayed);
    assert_int_equal(r->us.jumps + r->us.restarts, 0);
    assert_int_equal(r->st.safe_entries, 1); /* as the baseline: start-up only */
}

/* Records how many frames the rebooted sender sent until its data flowed. */
static void watch_restart(run *r)
{
    if (r->restarted_at_frame == 0 || r->frames_to_data != 0)
        return;
    dt_udp_stats us;
    dt_udp_source_stats(r->io, r->net, &us);
    if (us.frames_ok > r->prev_us.frames_ok)
        r->frames_to_data = r->frames_sent - r->restarted_at_frame;
}

/* sender restart, wire version 2: the sensor reboots at 5 s (0.3 s of
 * silence) into epoch 2 and counts from seq 0 again; from 7 s an attacker
 * replays the previous session's frames byte for byte */
static void inj_restart_epoch(run *r)
{
    if (r->k == 1)
        r->epoch = 1;
    if (r->k == 500) {
        r->udp_silent_until = 530;
        r->epoch = 2;
        r->seq = UINT32_MAX; /* the next frame is seq 0 */
    }
    watch_restart(r);
    if (r->k == 530) {
        dt_udp_source_stats(r->io, r->net, &r->prev_us);
        r->restarted_at_frame = r->frames_sent;
    }
    if (r->k == 400) /* keep 32 frames of the first session for the replay */
        memcpy(r->session1, r->recent, sizeof r->recent);
    traffic(r, 0);
    if (r->k >= 700 && r->k < 732) {
        send_raw(r, r->session1[r->k - 700], 56);
        r->replayed++;
    }
}
static void chk_restart_epoch(run *r)
{
    settles(r);
    /* every frame but epoch 2's first (it waits for the second), none of the replays */
    assert_int_equal(r->us.frames_ok, r->frames_sent - 1 - r->replayed);
    assert_int_equal(r->frames_to_data, 2); /* data again from its second frame */
    assert_int_equal(r->us.restarts, 1);
    assert_int_equal(r->us.epoch, 2);
    assert_int_equal(r->us.unconfirmed, 1);
    assert_int_equal(r->us.stale_epoch, r->replayed); /* replays refused */
    assert_int_equal(r->us.duplicate + r->us.reordered + r->us.too_old, 0);
}

/* sender restart, wire version 1 (no epoch): the sensor reboots at 5 s, is
 * silent 1.5 s (more than restart_after, 1 s) and counts from seq 0 again */
static void inj_restart_v1(run *r)
{
    if (r->k == 500) {
        r->udp_silent_until = 650;
        r->seq = UINT32_MAX;
    }
    watch_restart(r);
    if (r->k == 650) {
        dt_udp_source_stats(r->io, r->net, &r->prev_us);
        r->restarted_at_frame = r->frames_sent;
    }
    traffic(r, 0);
}
static void chk_restart_v1(run *r)
{
    settles(r);
    assert_int_equal(r->us.frames_ok, r->frames_sent - 1);
    assert_int_equal(r->us.duplicate + r->us.reordered + r->us.too_old + r->us.lost, 0);
    assert_int_equal(r->frames_to_data, 2);
    assert_int_equal(r->us.restarts, 1);
    assert_int_equal(r->us.unconfirmed, 1);
}

/* flood: for 2 s, every cycle 3 valid maximum-size frames (2046 records each,
 * continuing the sender's sequence) and 3 maximum-size frames with a wrong
 * source id, on top of the ordinary traffic. The UDP source has poll_bytes
 * 131072 (two such frames). */
#define FLOOD_BYTES 131072u
static void inj_flood(run *r)
{
    static uint8_t big[DT_WIRE_MAX_DATAGRAM];
    static dt_wire_sample recs[DT_WIRE_MAX_SAMPLES];
    /* the work of the previous step */
    dt_udp_stats us;
    dt_udp_source_stats(r->io, r->net, &us);
    if (r->k > 1) {
        uint64_t d = us.datagrams - r->prev_us.datagrams, b = us.bytes - r->prev_us.bytes,
                 s = us.samples - r->prev_us.samples;
        r->max_step_datagrams = d > r->max_step_datagrams ? d : r->max_step_datagrams;
        r->max_step_bytes = b > r->max_step_bytes ? b : r->max_step_bytes;
        r->max_step_samples = s > r->max_step_samples ? s : r->max_step_samples;
    }
    r->prev_us = us;
    traffic(r, 0);
    if (r->k < 500 || r->k >= 700)
        return;
    for (size_t i = 0; i < DT_WIRE_MAX_SAMPLES; i++)
        recs[i] = (dt_wire_sample){1, 0, r->now, pl.y, 0};
    for (int i = 0; i < 3; i++) {
        size_t n = dt_wire_encode_samples(big, sizeof big, 7, ++r->seq, recs, DT_WIRE_MAX_SAMPLES);
        send_raw(r, big, n);
        r->flood_valid++;
        n = dt_wire_encode_samples(big, sizeof big, 8, r->seq, recs, DT_WIRE_MAX_SAMPLES);
        send_raw(r, big, n);
        r->flood_wrong++;
    }
}
static void chk_flood(run *r)
{
    settles(r);
    assert_int_equal(r->st.cycles, 1500); /* the loop stepped every cycle */
    assert_int_equal(r->st.expired, 0);
    /* bounded work per step: the budget plus at most one datagram */
    assert_true(r->max_step_bytes < FLOOD_BYTES + DT_WIRE_MAX_DATAGRAM);
    assert_true(r->max_step_samples <= (FLOOD_BYTES + DT_WIRE_MAX_DATAGRAM) / DT_WIRE_SAMPLE_RECORD);
    assert_true(r->us.polls_limited > 0);
    /* every datagram ends counted exactly one way (do_run checks the sums) */
    assert_true(r->us.wrong_source > 0 && r->us.wrong_source <= r->flood_wrong);
    assert_true(r->us.frames_ok > 1500 / 10);
    assert_int_equal(r->us.frames_rejected, r->us.wrong_source + r->us.unconfirmed);
    assert_int_equal(r->us.duplicate + r->us.too_old + r->us.restarts, 0);
}

/* Timestamps at the edges of int64 from the memory sensor and in UDP frames:
 * refused and counted (rejected_bad_time), never arithmetic; the loop goes on. */
static const dt_time extreme_t[] = {INT64_MIN, INT64_MAX, INT64_MIN + 1, INT64_MAX - 1,
                                    -DT_TIME_LIMIT - 1, DT_TIME_LIMIT + 1};
static void inj_extreme(run *r)
{
    traffic(r, 0);
    if (r->k <= 300)
        return;
    if (unif(r) < 0.2) {
        dt_time t = extreme_t[rnd(r) % 6];
        assert_int_equal(dt_memory_source_push(r->io, r->aux, "lvl2", t, pl.y), 0);
        r->bad_time_aux++;
    }
    if (r->k % 10 == 5 && unif(r) < 0.5) {
        dt_wire_sample smp = {1, 0, extreme_t[rnd(r) % 6], pl.y, 0};
        dt_wire_header h = {1, DT_WIRE_SAMPLES, 7, ++r->seq, 1, 0};
        uint8_t b[64];
        size_t n = dt_wire_encode_samples_v2(b, sizeof b, &h, &smp, 1);
        send_raw(r, b, n);
        r->bad_time_udp++;
    }
}
static void chk_extreme(run *r)
{
    settles(r);
    assert_true(r->bad_time_aux > 100 && r->bad_time_udp > 30);
    assert_int_equal(r->src[1].rejected_bad_time, r->bad_time_aux);
    assert_int_equal(r->src[2].rejected_bad_time, r->bad_time_udp);
    assert_int_equal(r->st.safe_entries, 1); /* start-up only */
}

/* The UDP sender's clock runs 40 ms ahead (inside the 50 ms future
 * tolerance): its samples are accepted with their time cut to their arrival,
 * never younger than they are. */
static void inj_ahead(run *r)
{
    r->udp_ahead = 40 * DT_NS_PER_MS;
    traffic(r, 0);
}
static void chk_ahead(run *r)
{
    settles(r);
    assert_int_equal(r->src[2].rejected_future, 0);
    assert_true(r->src[2].clamped_to_arrival == r->src[2].accepted);
    assert_true(r->src[2].accepted >= 140);
    assert_int_equal(r->st.safe_entries, 1);
}

#define SCENARIO(fn, nm, keys, inj, chk)                                                   \
    static void fn(void **state)                                                           \
    {                                                                                      \
        (void)state;                                                                       \
        static const scenario sc = {nm, keys, NULL, 0, inj, chk};                          \
        run_scenario(&sc);                                                                 \
    }

SCENARIO(test_baseline, "baseline", NULL, inj_none, chk_baseline)
SCENARIO(test_wire_corruption, "wire corruption", NULL, inj_corrupt, chk_corrupt)
SCENARIO(test_wire_repetition, "wire repetition", NULL, inj_repeat, chk_repeat)
SCENARIO(test_wire_wrong_order, "wire wrong order", NULL, inj_order, chk_order)
SCENARIO(test_wire_loss, "wire loss", NULL, inj_loss, chk_loss)
SCENARIO(test_wire_delay, "wire delay", NULL, inj_delay, chk_delay)
SCENARIO(test_wire_insertion, "wire insertion", NULL, inj_insert, chk_insert)
SCENARIO(test_wire_masquerade, "wire masquerade", NULL, inj_masq, chk_masq)
SCENARIO(test_wire_wrong_signal, "wire wrong address", NULL, inj_wrongsig, chk_wrongsig)
SCENARIO(test_sensor_dropout, "sensor dropout 10 periods",
         ",\"burst_every\":3,\"burst_length\":0.1", inj_none, chk_dropout)
SCENARIO(test_source_never_starts, "source never starts", NULL, inj_never, chk_never)
SCENARIO(test_source_stops, "source stops for good", NULL, inj_stops, chk_stops)
SCENARIO(test_clock_jump_plus_5s, "clock jump +5 s", NULL, inj_jump_p5, chk_jump_p5)
SCENARIO(test_clock_jump_minus_5s, "clock jump -5 s", NULL, inj_jump_m5, chk_jump_m5)
SCENARIO(test_clock_jump_plus_300s, "clock jump +300 s", NULL, inj_jump_p300, chk_jump_p300)
SCENARIO(test_clock_jump_minus_300s, "clock jump -300 s", NULL, inj_jump_m300, chk_jump_m300)
SCENARIO(test_clock_skew_500ppm, "clock skew 500 ppm", NULL, inj_skew, chk_skew)
SCENARIO(test_burst_overload, "burst overload", NULL, inj_overload, chk_overload)
SCENARIO(test_nan_inf_storm, "NaN/Inf storm", NULL, inj_nan, chk_nan)
SCENARIO(test_out_of_limits, "values outside hard limits", NULL, inj_oor, chk_oor)
SCENARIO(test_future_samples, "samples from the future", NULL, inj_future, chk_future)
SCENARIO(test_sink_errors, "actuator sink errors", NULL, inj_sink_err, chk_sink_err)
SCENARIO(test_sink_would_block, "actuator sink refuses (would block)", NULL, inj_sink_block,
         chk_sink_block)
SCENARIO(test_estimator_divergence, "estimator divergence", NULL, inj_diverge, chk_diverge)
SCENARIO(test_wire_seq_jump, "seq jump", NULL, inj_seq_jump, chk_seq_jump)
SCENARIO(test_extreme_timestamps, "extreme timestamps", NULL, inj_extreme, chk_extreme)
SCENARIO(test_sender_clock_ahead, "sender clock ahead", NULL, inj_ahead, chk_ahead)
SCENARIO(test_wire_sender_restart, "sender restart (epoch)", NULL, inj_restart_epoch,
         chk_restart_epoch)
SCENARIO(test_wire_sender_restart_v1, "sender restart (version 1, after silence)", NULL,
         inj_restart_v1, chk_restart_v1)

static void test_wire_flood(void **state)
{
    (void)state;
    static const scenario sc = {"flood", NULL, ",\"max_count\":2046,\"poll_bytes\":131072", 0,
                                inj_flood, chk_flood};
    run_scenario(&sc);
}

/* A dead sensor plus old data: the sensor stops at a random cycle; then
 * nothing comes (the reference), or its last 2 s are replayed byte for byte at
 * their own rate, or 3 s of old readings arrive at once (store and forward),
 * through a source with an estimated clock and one with a fixed clock. In
 * every case the safe state engages within tau_max + one period of the last
 * real sample's arrival, as with no data; with a fixed clock the replay never
 * makes the belief fresh again. 10 seeds, accounting checked. */
enum { OLD_NONE, OLD_REPLAY, OLD_BACKLOG };
static void dead_sensor_case(uint64_t seed, int mode, int estimate)
{
    run r = {0};
    r.rng = 0x9E3779B97F4A7C15ull * (seed + 1);
    char d[2048];
    snprintf(d, sizeof d,
             "{\"dtwin\":1,\"name\":\"dead\",\"assets\":[{\"id\":\"p\"}],\"signals\":["
             "{\"id\":\"y\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","
             " \"noise\":{\"std\":0.01},\"period\":0.01},"
             "{\"id\":\"x\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"estimated\"},"
             "{\"id\":\"u\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"commanded\"}],"
             "\"sources\":[{\"id\":\"s\",\"kind\":\"memory\",\"timeout\":100,\"ring\":1024,"
             " %s\"mapping\":[{\"native\":\"y\",\"signal\":\"y\"}]}],"
             "\"estimator\":{\"states\":[\"x\"],\"A\":[[0]],\"Q\":[0.01],\"P0\":[1],\"gate\":1,"
             " \"history\":512,\"measurements\":[{\"signal\":\"y\",\"H\":{\"x\":1}}],"
             " \"bounds\":[{\"name\":\"b\",\"variance\":\"x\",\"max\":0.002}]},"
             "\"dispatcher\":{\"safe\":{\"u\":0}},\"loop\":{\"period\":0.01}}",
             estimate ? "\"clock\":{\"mode\":\"estimate\",\"window\":0.5,\"windows\":8,\"jump\":1},"
                      : "");
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_twin *t;
    assert_int_equal(dt_twin_load_json(d, strlen(d), &o, &t, NULL), 0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    dt_twin_stats st;
    dt_twin_stats_get(t, &st);
    double tau = st.tau_max_s;
    assert_true(tau > 0.1 && tau < 0.5); /* shorter than the clock's window */
    /* the sender's clock: 3 s behind ours when the clock is estimated, in step
     * when it is fixed (a fixed clock is configured to match) */
    const dt_time per = 10 * DT_NS_PER_MS, offset = estimate ? 3 * DT_NS_PER_S : 0;
    int dead = 300 + (int)(rnd(&r) % 200);
    dt_time last_arrival = 0, engaged = -1;
    int fresh_again = 0;
    for (int k = 1; k <= dead + 300; k++) {
        dt_time now = (dt_time)k * per;
        dt_io *io = dt_twin_io(t);
        if (k < dead) {
            dt_time jitter = (dt_time)(unif(&r) * 2e6);
            assert_int_equal(dt_memory_source_push(io, 0, "y", now - offset - jitter, 1.0), 0);
            last_arrival = now;
        } else if (mode == OLD_REPLAY) { /* the readings of 2 s before, one per cycle */
            dt_time old = now - 2 * DT_NS_PER_S - offset - DT_NS_PER_MS;
            assert_int_equal(dt_memory_source_push(io, 0, "y", old, 1.0), 0);
        } else if (mode == OLD_BACKLOG && k == dead + 5) { /* 3 s of readings at once */
            for (int j = 300; j > 0; j--)
                assert_int_equal(
                    dt_memory_source_push(io, 0, "y", (dead - j) * per - offset + per / 2, 1.0),
                    0);
        }
        assert_int_equal(dt_twin_step(t, now), 0);
        dt_twin_stats_get(t, &st);
        if (k < dead)
            continue;
        if (st.safe_state && engaged < 0)
            engaged = now;
        if (engaged >= 0 && !st.safe_state)
            fresh_again = 1;
    }
    double late = dt_time_to_sec(engaged - last_arrival) - tau;
    if (!(late > 0 && late <= 0.01 + 1e-9))
        print_error("seed %llu mode %d estimate %d: engaged %.4f s after the last arrival, "
                    "tau %.4f\n", (unsigned long long)seed, mode, estimate,
                    dt_time_to_sec(engaged - last_arrival), tau);
    assert_true(late > 0 && late <= 0.01 + 1e-9);
    if (!estimate || mode == OLD_BACKLOG)
        assert_false(fresh_again); /* old data never made the belief fresh */
    dt_source_stats ss;
    assert_int_equal(dt_ingest_source_stats(dt_twin_ingest(t), 0, &ss), 0);
    assert_true(dt_source_stats_consistent(&ss));
    dt_twin_destroy(t);
}

static void test_dead_sensor_old_data(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= SEEDS; seed++)
        for (int mode = OLD_NONE; mode <= OLD_BACKLOG; mode++)
            for (int estimate = 0; estimate <= 1; estimate++)
                dead_sensor_case(seed, mode, estimate);
    print_message("dead sensor + replayed or backlogged old data: %d seeds x 3 kinds x 2 "
                  "clocks, safe state within tau_max + one period every time\n",
                  SEEDS);
}

/* A non-positive-definite update leaves the belief exactly as it was: random
 * priors, and a vector update whose R makes S indefinite. */
static void test_nonpd_update_unchanged(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        run r = {0};
        r.rng = 0x9E3779B97F4A7C15ull * (seed + 1);
        dt_kf *kf;
        assert_int_equal(dt_kf_create(3, 0, NULL, &kf), 0);
        double x[3], P[9] = {0}, A[9] = {0}, Q[9] = {0};
        for (int i = 0; i < 3; i++) {
            x[i] = unif(&r) - 0.5;
            P[i * 4] = 0.1 + unif(&r);
            Q[i * 4] = 0.01;
        }
        assert_int_equal(dt_kf_set_continuous(kf, A, NULL, Q), 0);
        assert_int_equal(dt_kf_set_state(kf, x, P), 0);
        double x0[3], P0[9];
        memcpy(x0, dt_kf_state(kf), sizeof x0);
        memcpy(P0, dt_kf_cov(kf), sizeof P0);
        double H[6] = {1, 0, 0, 0, 1, 0}, z[2] = {1, 2};
        double c = 5 + 10 * unif(&r); /* symmetric R with |off-diagonal| >> diagonal */
        double R[4] = {0.1, c, c, 0.1}; /* so S = H P H' + R is indefinite */
        dt_kf_result res;
        assert_int_equal(dt_kf_update(kf, 2, z, H, R, 0, &res), DT_ENUMERIC);
        assert_memory_equal(dt_kf_state(kf), x0, sizeof x0);
        assert_memory_equal(dt_kf_cov(kf), P0, sizeof P0);
        double h[3] = {0, 0, 0}; /* innovation variance h P h' + r = 0 */
        assert_int_equal(dt_kf_update_scalar(kf, h, 1, 0, 0, &res), DT_ENUMERIC);
        assert_memory_equal(dt_kf_state(kf), x0, sizeof x0);
        assert_memory_equal(dt_kf_cov(kf), P0, sizeof P0);
        dt_kf_destroy(kf);
    }
}

/* The latency rule in 10000 randomized trials: data stops at a random time;
 * the dispatcher reaches the safe state within tau_max plus one loop period of
 * the belief going stale, every time. */
static void test_latency_rule_randomized(void **state)
{
    (void)state;
    run r = {0};
    r.rng = 12345;
    int worst_late_ns = 0;
    double worst_margin = 1e9;
    for (int trial = 0; trial < 10000; trial++) {
        /* budget from the bound: var(t) = P0 + q t  ->  tau = (max - P0) / q, drawn
         * between 3 and 50 loop periods (data every period keeps the age below it) */
        double q = 0.001 + unif(&r) * 0.1, period = 0.005 + unif(&r) * 0.02;
        double max = 0.001 + q * period * (3 + 47 * unif(&r));
        char d[2048];
        snprintf(d, sizeof d,
                 "{\"dtwin\":1,\"name\":\"lr\",\"assets\":[{\"id\":\"p\"}],\"signals\":["
                 "{\"id\":\"x\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","
                 " \"noise\":{\"std\":0.01},\"period\":%.17g},"
                 "{\"id\":\"x_est\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"estimated\"},"
                 "{\"id\":\"u\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"commanded\"}],"
                 "\"sources\":[{\"id\":\"s\",\"kind\":\"memory\",\"timeout\":100,"
                 " \"mapping\":[{\"native\":\"x\",\"signal\":\"x\"}]}],"
                 "\"estimator\":{\"states\":[\"x_est\"],\"A\":[[0]],\"Q\":[%.17g],\"P0\":[0.001],"
                 " \"gate\":1,\"measurements\":[{\"signal\":\"x\",\"H\":{\"x_est\":1}}],"
                 " \"bounds\":[{\"name\":\"b\",\"variance\":\"x_est\",\"max\":%.17g}]},"
                 "\"dispatcher\":{\"safe\":{\"u\":0}},\"loop\":{\"period\":%.17g}}",
                 period, q, max, period);
        dt_twin_options o = DT_TWIN_OPTIONS_INIT;
        o.logger = dt_logger_silent();
        dt_twin *t;
        assert_int_equal(dt_twin_load_json(d, strlen(d), &o, &t, NULL), 0);
        assert_int_equal(dt_twin_start(t, 0), 0);
        dt_twin_stats st;
        dt_twin_stats_get(t, &st);
        double tau = st.tau_max_s;
        dt_time per = (dt_time)(period * 1e9);
        /* the data's own jitter: each sample 0..period late, so its time varies */
        int data_cycles = 5 + (int)(rnd(&r) % 50);
        dt_time last_data = 0, now = 0, engaged = -1;
        for (int k = 1; k < 100000 && engaged < 0; k++) {
            now = (dt_time)k * per;
            if (k <= data_cycles) {
                last_data = now - (dt_time)(unif(&r) * (double)per);
                assert_int_equal(dt_memory_source_push(dt_twin_io(t), 0, "x", last_data, 0.0), 0);
            }
            assert_int_equal(dt_twin_step(t, now), 0);
            dt_twin_stats_get(t, &st);
            if (k > data_cycles && st.safe_state)
                engaged = now;
            if (k <= data_cycles)
                assert_int_equal(st.safe_state, 0);
        }
        /* stale at last_data + tau: engaged at the first cycle after it at the
         * latest. Earlier is possible and on the safe side: the data's jitter
         * leaves posteriors above the design's, and the bound is checked on the
         * belief at every cycle's time. */
        double late = dt_time_to_sec(engaged - last_data) - tau;
        if (!(engaged > 0 && late <= period + 1e-9))
            print_error("trial %d: tau %.6f, engaged %.6f s after the last data\n", trial, tau,
                        dt_time_to_sec(engaged - last_data));
        assert_true(engaged > 0 && late <= period + 1e-9);
        if (period - late < worst_margin)
            worst_margin = period - late;
        dt_twin_destroy(t);
    }
    (void)worst_late_ns;
    print_message("latency rule: 10000 trials, safe state always within tau_max + one period "
                  "(closest: %.3g s to spare)\n",
                  worst_margin);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_baseline),
    cmocka_unit_test(test_wire_corruption),
    cmocka_unit_test(test_wire_repetition),
    cmocka_unit_test(test_wire_wrong_order),
    cmocka_unit_test(test_wire_loss),
    cmocka_unit_test(test_wire_delay),
    cmocka_unit_test(test_wire_insertion),
    cmocka_unit_test(test_wire_masquerade),
    cmocka_unit_test(test_wire_wrong_signal),
    cmocka_unit_test(test_sensor_dropout),
    cmocka_unit_test(test_source_never_starts),
    cmocka_unit_test(test_source_stops),
    cmocka_unit_test(test_clock_jump_plus_5s),
    cmocka_unit_test(test_clock_jump_minus_5s),
    cmocka_unit_test(test_clock_jump_plus_300s),
    cmocka_unit_test(test_clock_jump_minus_300s),
    cmocka_unit_test(test_clock_skew_500ppm),
    cmocka_unit_test(test_burst_overload),
    cmocka_unit_test(test_nan_inf_storm),
    cmocka_unit_test(test_out_of_limits),
    cmocka_unit_test(test_future_samples),
    cmocka_unit_test(test_sink_errors),
    cmocka_unit_test(test_sink_would_block),
    cmocka_unit_test(test_estimator_divergence),
    cmocka_unit_test(test_wire_seq_jump),
    cmocka_unit_test(test_extreme_timestamps),
    cmocka_unit_test(test_dead_sensor_old_data),
    cmocka_unit_test(test_sender_clock_ahead),
    cmocka_unit_test(test_wire_sender_restart),
    cmocka_unit_test(test_wire_sender_restart_v1),
    cmocka_unit_test(test_wire_flood),
    cmocka_unit_test(test_nonpd_update_unchanged),
    cmocka_unit_test(test_latency_rule_randomized),
};

DTT_MAIN(tests)
