/* A closed-loop twin whose only sensor is a UDP source with "auth": "mac",
 * pinned to its sender at 127.0.0.2, run cycle by cycle against a reference
 * run; what test_faults_auth shares with later tests of keyed links. The
 * plant (dy/dt = -y + u) is stepped here and sent as version 3 frames, one
 * per 10 ms cycle; the KF has its gate off, so that any frame taken moves the
 * estimate; the valve's actuator is a sink that drives the plant. The
 * including file includes udp_auth_rig.h first and defines wire(), what the
 * network does to each cycle's frame. */
#ifndef DTWIN_TEST_KEYED_LOOP_H
#define DTWIN_TEST_KEYED_LOOP_H

#include <math.h>

#include "alloc_counter.h"

#define N_INJ 1000
#define CYCLES_MAX 6000
#define FLEN (DT_WIRE_HEADER + DT_WIRE_SAMPLE_RECORD + DT_WIRE_MAC_TRAILER) /* 68 */
#define EPOCH 5
#define HOLD_MAX 256
#define WARM 100 /* cycles before any injection */

/* ---- the plant and its valve ---- */

static double plant_y, valve;
static int valve_open(void *self, dt_sink_ctx *ctx, const dt_config *cfg)
{
    (void)self, (void)ctx, (void)cfg;
    return DT_OK;
}
static int valve_apply(void *self, const dt_command *cmd, const dt_mapping *map)
{
    (void)self, (void)map;
    valve = cmd->value;
    return DT_OK;
}
static const dt_sink_ops valve_ops = {
    .abi = DT_SINK_ABI, .kind = "valve", .open = valve_open, .apply = valve_apply};

/* ---- one run ---- */

/* What the source's counters must read (dt_udp_stats' names; wire: rejected[]). */
typedef struct want {
    uint64_t frames_ok, frames_rejected, bad_mac, wrong_type, wrong_source, wrong_peer,
        unauthenticated, duplicate, too_old, stale_epoch, unconfirmed, lost, reordered, jumps,
        wire[DT_WIRE_V1_ERRORS];
} want;

typedef struct frun {
    int cls, ref, cycles;
    uint64_t sched, noise, atk; /* generators: what to inject when; sensor noise; the attacker's */
    keydir *kd;
    rig *other; /* a receiver of another link (key "other"): addressing */
    dt_twin *t;
    dt_io *io;
    int honest, spoof, elsewhere; /* sockets: at 127.0.0.2 (the pin) twice, at 127.0.0.1 */
    struct sockaddr_in to;
    uint64_t sent;
    uint32_t seq, newest, other_seq;
    int k, last_arrival, safe_from, safe_until;
    dt_time now;
    uint64_t inj[3]; /* injections of the class's kinds */
    uint64_t outage; /* frames lost in one long outage */
    want w;          /* what the counters must read */
    struct {
        uint8_t b[FLEN];
        uint32_t seq;
        int gap; /* sent when the newest delivered seq is this far past it */
    } held[HOLD_MAX];     /* frames the network holds back */
    int n_held;
    int late_from;          /* unacceptable delay: the cycle the late stream starts */
    int late_free; /* the estimator's late applications not predicted (a late stream) */
    uint8_t sent_frames[CYCLES_MAX][FLEN]; /* the honest frames by seq, for replays */
    double x[CYCLES_MAX], u[CYCLES_MAX], y[CYCLES_MAX]; /* estimate, valve, true level */
    uint64_t want_late, want_est_late; /* samples ingest, the estimator take late */
    uint32_t newest_before; /* the newest seq delivered before this cycle */
    int safe[CYCLES_MAX];
    long allocs_after_start;
    dt_udp_stats us;
    dt_source_stats ss;
    dt_twin_stats st;
    dt_est_stats es;
    uint64_t ev[DT_EV__COUNT]; /* the source's events */
} frun;

static dtt_counter allocs_seen;

/* A counter only the injected run moves (the reference does not send it). */
#define W(f) (r->ref ? (void)0 : (void)r->w.f++)

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}
static double unif(uint64_t *s) { return (double)(rnd(s) >> 11) * (1.0 / 9007199254740992.0); }

/* An injection of kind j this cycle? Drawn alike in the reference run. */
static int pick(frun *r, int j, double p)
{
    return unif(&r->sched) < p && r->k >= WARM && r->inj[j] < N_INJ;
}

static void mkframe(uint8_t *b, const dt_key *key, uint32_t sid, uint16_t epoch, uint32_t seq,
                    double v, dt_time t)
{
    dt_wire_sample s = {1, 0, t, v, 0};
    dt_wire_header h = {3, DT_WIRE_SAMPLES, sid, seq, 1, epoch};
    assert_int_equal(dt_wire_encode_samples_auth(b, FLEN, &h, &s, 1, key), FLEN);
}

static uint32_t seq_of(const uint8_t *b)
{
    return (uint32_t)b[12] | (uint32_t)b[13] << 8 | (uint32_t)b[14] << 16 | (uint32_t)b[15] << 24;
}

static int bound_socket(const char *addr)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(s >= 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = inet_addr(addr);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    return s;
}

static void to_twin_n(frun *r, int sock, const uint8_t *b, size_t n)
{
    assert_true(sendto(sock, b, n, 0, (const struct sockaddr *)&r->to, sizeof r->to) ==
                (ssize_t)n);
    r->sent++;
}

static void to_twin(frun *r, int sock, const uint8_t *b) { to_twin_n(r, sock, b, FLEN); }

/* An honest frame reaches the twin (taken: it moves the window). */
static void honest(frun *r, const uint8_t *b)
{
    to_twin(r, r->honest, b);
    r->newest = seq_of(b);
    r->last_arrival = r->k;
    r->w.frames_ok++;
}

/* A frame the attacker would like taken: the truth + 3 m, at the next seq. */
static void attack(frun *r, int sock, const dt_key *key, uint32_t sid, uint16_t epoch,
                   uint32_t seq)
{
    uint8_t b[FLEN];
    mkframe(b, key, sid, epoch, seq, plant_y + 3, r->now);
    if (!r->ref)
        to_twin(r, sock, b);
}

/* What the network does to this cycle's frame (the including file). */
static void wire(frun *r);

/* Every datagram sent is read before the step, at the step's time. */
static void deliver(frun *r)
{
    for (int i = 0; i < 20000; i++) {
        assert_int_equal(dt_io_poll(r->io, r->now), 0);
        dt_udp_source_stats(r->io, 0, &r->us);
        if (r->us.datagrams + r->us.kernel_dropped >= r->sent)
            return;
        nanosleep(&(struct timespec){0, 200000}, NULL);
    }
    fail_msg("datagrams did not arrive: %llu sent", (unsigned long long)r->sent);
}

static void do_run(frun *r, int cls, int ref, int cycles, uint64_t seed, keydir *kd, rig *other)
{
    memset(r, 0, sizeof *r);
    r->cls = cls, r->ref = ref, r->cycles = cycles, r->kd = kd, r->other = other;
    r->sched = 0x9E3779B97F4A7C15ull * (seed + 1);
    r->noise = r->sched ^ 0x5555;
    r->atk = r->sched ^ 0xAAAA;
    r->safe_from = r->safe_until = -1;
    plant_y = valve = 0;
    assert_true(cycles <= CYCLES_MAX);
    char doc[4096];
    snprintf(doc, sizeof doc,
             "{\"dtwin\":1,\"name\":\"iec\",\"assets\":[{\"id\":\"p\"}],\"signals\":["
             "{\"id\":\"y\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","
             " \"noise\":{\"std\":0.01},\"period\":0.01,\"limits\":{\"min\":-10,\"max\":10}},"
             "{\"id\":\"x\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"estimated\"},"
             "{\"id\":\"u\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"commanded\","
             " \"limits\":{\"min\":0,\"max\":5}}],"
             "\"keys\":{\"dir\":\"%s\"},"
             "\"sources\":[{\"id\":\"net\",\"kind\":\"udp\",\"auth\":\"mac\",\"key\":\"link\","
             " \"peer\":\"127.0.0.2\",\"port\":0,\"source_id\":%d,\"timeout\":1,"
             " \"replay_state\":\"%s/iec.replay\","
             " \"mapping\":[{\"channel\":1,\"signal\":\"y\"}]}],"
             "\"sinks\":[{\"id\":\"act\",\"kind\":\"valve\",\"mapping\":[{\"native\":\"u\",\"signal\":\"u\"}]}],"
             "\"estimator\":{\"states\":[\"x\"],\"inputs\":[\"u\"],\"A\":[[-1]],\"B\":[[1]],"
             " \"Q\":[0.2],\"P0\":[1e-4],\"history\":512,\"gate\":1,"
             " \"measurements\":[{\"signal\":\"y\",\"H\":{\"x\":1}}],"
             " \"bounds\":[{\"name\":\"level\",\"variance\":\"x\",\"max\":0.05}]},"
             "\"controllers\":[{\"id\":\"c\",\"kind\":\"pid\",\"input\":\"x\",\"output\":\"u\","
             " \"setpoint\":2,\"kp\":2,\"ki\":2}],"
             "\"dispatcher\":{\"safe\":{\"u\":0},\"deadline\":0.05},\"loop\":{\"period\":0.01}}",
             kd->path, ID, kd->path);
    /* each run is a first start: its replay floor begins empty */
    char state[128];
    snprintf(state, sizeof state, "%s/iec.replay", kd->path);
    (void)unlink(state);
    dt_registry *reg;
    assert_int_equal(dt_registry_create(NULL, &reg), 0);
    assert_int_equal(dt_registry_add_sink(reg, &valve_ops), 0);
    dt_allocator a = dtt_allocator(&allocs_seen);
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.allocator = &a;
    o.registry = reg;
    o.logger = dt_logger_silent();
    dt_diag d;
    int rc = dt_twin_load_json(doc, strlen(doc), &o, &r->t, &d);
    if (rc)
        fail_msg("%s", d.message);
    r->io = dt_twin_io(r->t);
    dt_udp_source_stats(r->io, 0, &r->us);
    r->to.sin_family = AF_INET;
    r->to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    r->to.sin_port = htons(r->us.port);
    r->honest = bound_socket("127.0.0.2");
    r->spoof = bound_socket("127.0.0.2");
    r->elsewhere = bound_socket("127.0.0.1");
    assert_int_equal(dt_twin_start(r->t, 0), 0);
    long allocs0 = allocs_seen.calls;
    const double e = exp(-0.01);
    for (r->k = 1; r->k <= cycles; r->k++) {
        r->now = (dt_time)r->k * 10 * DT_NS_PER_MS;
        plant_y = e * plant_y + (1 - e) * valve;
        wire(r);
        deliver(r);
        if (other != NULL && other->sent > 0)
            settle(other);
        assert_int_equal(dt_twin_step(r->t, r->now), 0);
        r->x[r->k] = dt_kf_state(dt_est_kf(dt_twin_estimator(r->t)))[0];
        r->u[r->k] = valve;
        r->y[r->k] = plant_y;
        dt_twin_stats_get(r->t, &r->st);
        r->safe[r->k] = r->st.safe_state;
        if (r->k > WARM && r->st.safe_state && r->safe_from < 0)
            r->safe_from = r->k;
        if (r->safe_from > 0 && !r->st.safe_state && r->safe_until < 0)
            r->safe_until = r->k;
    }
    r->allocs_after_start = allocs_seen.calls - allocs0;
    dt_udp_source_stats(r->io, 0, &r->us);
    for (int v = 0; v < DT_EV__COUNT; v++)
        r->ev[v] = dt_io_source_events(r->io, 0, (dt_source_event)v);
    assert_int_equal(dt_ingest_source_stats(dt_twin_ingest(r->t), 0, &r->ss), 0);
    dt_twin_stats_get(r->t, &r->st);
    dt_est_stats_get(dt_twin_estimator(r->t), &r->es);
    dt_twin_destroy(r->t);
    dt_registry_destroy(reg);
    close(r->honest);
    close(r->spoof);
    close(r->elsewhere);
}

#define SAME(field)                                                                        \
    do {                                                                                   \
        if (r->us.field != r->w.field) {                                                   \
            print_error("%s: %llu, expected %llu\n", #field,                               \
                        (unsigned long long)r->us.field, (unsigned long long)r->w.field);  \
            bad++;                                                                         \
        }                                                                                  \
    } while (0)

/* Every counter as the class explains, exactly; every datagram and sample
 * accounted for; nothing allocated after start. */
static void check_counts(frun *r)
{
    int bad = 0;
    SAME(frames_ok);
    SAME(frames_rejected);
    SAME(bad_mac);
    SAME(wrong_type);
    SAME(wrong_source);
    SAME(wrong_peer);
    SAME(unauthenticated);
    SAME(duplicate);
    SAME(too_old);
    SAME(stale_epoch);
    SAME(unconfirmed);
    SAME(lost);
    SAME(reordered);
    SAME(jumps);
    for (int i = 0; i < DT_WIRE_V1_ERRORS; i++)
        if (r->us.rejected[i] != r->w.wire[i]) {
            print_error("rejected.%s: %llu, expected %llu\n", dt_wire_error_name((dt_wire_error)i),
                        (unsigned long long)r->us.rejected[i],
                        (unsigned long long)r->w.wire[i]);
            bad++;
        }
    uint64_t rej = r->us.bad_mac + r->us.wrong_source + r->us.wrong_peer + r->us.unauthenticated +
                   r->us.too_old + r->us.stale_epoch + r->us.unconfirmed + r->us.wrong_type +
                   r->us.kernel_truncated;
    for (int i = 0; i < DT_WIRE_V1_ERRORS; i++)
        rej += r->us.rejected[i];
    assert_int_equal(bad, 0);
    assert_int_equal(r->us.frames_rejected, rej);
    assert_int_equal(r->us.datagrams, r->sent);
    assert_int_equal(r->us.datagrams, r->us.frames_ok + r->us.duplicate + r->us.frames_rejected);
    assert_int_equal(r->us.restarts + r->us.kernel_dropped + r->us.recv_errors, 0);
    assert_int_equal(r->us.samples, r->us.frames_ok); /* one record a frame */
    assert_int_equal(r->us.records, r->us.samples);
    /* the source's events (docs/wire.md): checks 1 to 15 malformed, the
     * window's refusals refused */
    uint64_t refused = r->us.too_old + r->us.stale_epoch + r->us.unconfirmed;
    assert_int_equal(r->ev[DT_EV_MALFORMED], r->us.frames_rejected - refused);
    assert_int_equal(r->ev[DT_EV_REFUSED], refused);
    assert_int_equal(r->ev[DT_EV_DUPLICATE], r->us.duplicate);
    assert_int_equal(r->ev[DT_EV_LOST], r->us.lost);
    assert_int_equal(r->ev[DT_EV_REORDERED], r->us.reordered);
    assert_int_equal(r->ev[DT_EV_UNMAPPED], 0);
    assert_true(dt_source_stats_consistent(&r->ss));
    assert_int_equal(r->ss.offered, r->us.samples);
    assert_int_equal(r->ss.accepted, r->ss.drained); /* no authentic sample refused */
    /* every sample applied once, at its own time */
    assert_int_equal(r->es.updates, r->ss.accepted);
    assert_int_equal(r->ss.late, r->want_late);
    if (!r->late_free) /* see frun */
        assert_int_equal(r->es.late_applied, r->want_est_late);
    assert_int_equal(r->es.too_old + r->es.gated + r->ss.dropped_too_late, 0);
    assert_int_equal(r->allocs_after_start, 0);
}

/* The estimate and the valve, cycle by cycle, bit for bit as the reference's. */
static void same_as(const frun *r, const frun *ref, int upto)
{
    for (int k = 1; k <= upto; k++)
        if (memcmp(&r->x[k], &ref->x[k], sizeof r->x[k]) != 0 ||
            memcmp(&r->u[k], &ref->u[k], sizeof r->u[k]) != 0 || r->safe[k] != ref->safe[k])
            fail_msg("cycle %d: x %.17g u %.17g safe %d; reference x %.17g u %.17g safe %d", k,
                     r->x[k], r->u[k], r->safe[k], ref->x[k], ref->u[k], ref->safe[k]);
}

static void print_counts(const char *what, const frun *r)
{
    const dt_udp_stats *u = &r->us;
    print_message("%s: injected %llu/%llu/%llu; frames_ok %llu, rejected %llu (bad_mac %llu, "
                  "wrong_source %llu, wrong_peer %llu, too_old %llu, stale_epoch %llu, "
                  "unconfirmed %llu), duplicate %llu, lost %llu, reordered %llu; late %llu; "
                  "safe entries %llu; 0 allocations\n",
                  what, (unsigned long long)r->inj[0], (unsigned long long)r->inj[1],
                  (unsigned long long)r->inj[2], (unsigned long long)u->frames_ok,
                  (unsigned long long)u->frames_rejected, (unsigned long long)u->bad_mac,
                  (unsigned long long)u->wrong_source, (unsigned long long)u->wrong_peer,
                  (unsigned long long)u->too_old, (unsigned long long)u->stale_epoch,
                  (unsigned long long)u->unconfirmed, (unsigned long long)u->duplicate,
                  (unsigned long long)u->lost, (unsigned long long)u->reordered,
                  (unsigned long long)r->ss.late, (unsigned long long)r->st.safe_entries);
}

#endif
