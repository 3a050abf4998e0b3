/* The eight communication errors of IEC 61784-3 / OPC UA Safety on keyed UDP
 * frames (docs/reliability.md, "Communication errors on keyed frames"):
 * corruption, unintended repetition, incorrect sequence, loss, unacceptable
 * delay, insertion, masquerade, addressing; 1000 injections of each kind,
 * counted exactly, into a closed-loop twin whose only sensor is a UDP source
 * with "auth": "mac" pinned to its sender's address (127.0.0.2).
 *
 * The twin: a first-order plant (dy/dt = -y + u) that the test steps and
 * sends as version 3 frames, one per 10 ms cycle; a KF (gate off, so that any
 * frame taken moves the estimate) with a latency budget from a variance
 * bound; a PID to 2; the valve's actuator a sink that drives the plant.
 *
 * "Nothing acted upon": each class also runs as a reference, the same seed
 * with the injected frames not sent and the frames the class takes off the
 * wire (corrupted, held too long, misdelivered) dropped. The estimate and the
 * valve must be bit for bit those of the reference at every cycle; an
 * injected frame carries the true level + 3 m, so one applied frame would
 * show (test_check_would_see_one_frame shows it does). Every datagram is
 * read before its cycle's step (deliver()), so runs are deterministic. */
#define _DEFAULT_SOURCE
#include <math.h>

#include "test_util.h"
#include "alloc_counter.h"

#include "dtwin/dtwin.h"

#include "udp_auth_rig.h" /* the key store (keys "link", "other"); the rig: another receiver */

#define N_INJ 1000
#define CYCLES_MAX 6000
#define FLEN (DT_WIRE_HEADER + DT_WIRE_SAMPLE_RECORD + DT_WIRE_MAC_TRAILER) /* 68 */
#define EPOCH 5
#define HOLD_MAX 256
#define WARM 100 /* cycles before any injection */

enum { C_NONE, C_CORRUPT, C_REPEAT, C_ORDER, C_LOSS, C_DELAY, C_INSERT, C_MASQ, C_ADDR, C_ONE };

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

typedef struct want {
    uint64_t frames_ok, frames_rejected, bad_mac, wrong_source, wrong_peer, unauthenticated, duplicate,
        too_old, stale_epoch, unconfirmed, lost, reordered, jumps, wire[DT_WIRE_V1_ERRORS];
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
    uint8_t held[HOLD_MAX][FLEN];
    uint32_t held_seq[HOLD_MAX];
    int held_gap[HOLD_MAX], n_held, held_until;
    uint8_t sent_frames[CYCLES_MAX][FLEN]; /* the honest frames by seq, for replays */
    double x[CYCLES_MAX], u[CYCLES_MAX], y[CYCLES_MAX]; /* estimate, valve, true level */
    uint64_t want_late; /* reordered samples that arrive in a later cycle */
    int safe[CYCLES_MAX];
    long allocs_after_start;
    dt_udp_stats us;
    dt_source_stats ss;
    dt_twin_stats st;
    dt_est_stats es;
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

/* Injection i of kind j this cycle? Drawn the same way in the reference. */
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

static void to_twin(frun *r, int sock, const uint8_t *b)
{
    assert_true(sendto(sock, b, FLEN, 0, (const struct sockaddr *)&r->to, sizeof r->to) == FLEN);
    r->sent++;
}

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

/* Which counter a single flipped bit of an honest frame ends in: the first
 * check it fails, in the order of docs/wire.md. */
static void count_flip(want *w, size_t bit)
{
    size_t byte = bit / 8, b = bit % 8;
    if (byte < 4)
        w->wire[DT_WIRE_BAD_MAGIC]++;
    else if (byte == 4) /* version 3: 2 has a CRC's length (trailing), 1 no reserved 0 */
        w->wire[b == 0 ? DT_WIRE_TRAILING : b == 1 ? DT_WIRE_BAD_RESERVED : DT_WIRE_BAD_VERSION]++;
    else if (byte == 5)
        w->wire[DT_WIRE_BAD_TYPE]++;
    else if (byte < 8)
        w->wire[DT_WIRE_BAD_FLAGS]++;
    else if (byte < 12)
        w->wrong_source++;
    else if (byte == 16 && b == 0) /* count 1 -> 0 */
        w->wire[DT_WIRE_EMPTY]++;
    else if (byte == 16 || byte == 17) /* count 1 + 2^n: above 2045 too many, else too short */
        w->wire[bit - 128 >= 11 ? DT_WIRE_TOO_MANY : DT_WIRE_TRUNCATED]++;
    else /* seq, epoch, the record, the tag */
        w->bad_mac++;
}

static void hold(frun *r, const uint8_t *b, int gap)
{
    assert_true(r->n_held < HOLD_MAX);
    memcpy(r->held[r->n_held], b, FLEN);
    r->held_seq[r->n_held] = seq_of(b);
    r->held_gap[r->n_held++] = gap;
}

/* Sends the held frames the newest delivered seq has passed by their gap. */
static void release(frun *r)
{
    for (int i = 0; i < r->n_held;) {
        if ((int32_t)(r->newest - r->held_seq[i]) >= r->held_gap[i]) {
            to_twin(r, r->honest, r->held[i]);
            r->n_held--;
            memmove(r->held[i], r->held[i + 1], (size_t)(r->n_held - i) * FLEN);
            memmove(&r->held_seq[i], &r->held_seq[i + 1], (size_t)(r->n_held - i) * sizeof(uint32_t));
            memmove(&r->held_gap[i], &r->held_gap[i + 1], (size_t)(r->n_held - i) * sizeof(int));
        } else {
            i++;
        }
    }
}

/* One cycle on the wire: the honest frame, and what the class does to it. */
static void wire(frun *r)
{
    uint8_t f[FLEN], b[FLEN];
    const double v = plant_y + 0.01 * (unif(&r->noise) - 0.5) * 3.4641; /* std 0.01 */
    mkframe(f, r->kd->link, ID, EPOCH, ++r->seq, v, r->now);
    memcpy(r->sent_frames[r->seq % CYCLES_MAX], f, FLEN);
    keydir *kd = r->kd;
    switch (r->cls) {
    case C_CORRUPT: /* one random bit of the honest frame flipped on the way */
        if (pick(r, 0, 0.5)) {
            size_t bit = rnd(&r->atk) % (FLEN * 8);
            memcpy(b, f, FLEN);
            b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            r->inj[0]++, r->w.lost++;
            if (!r->ref) {
                count_flip(&r->w, bit);
                r->w.frames_rejected++;
                to_twin(r, r->honest, b);
            }
            return;
        }
        break;
    case C_REPEAT: /* a recent frame again (inside the window), or one 64+ behind */
        honest(r, f);
        if (pick(r, 0, 0.4)) {
            if (!r->ref)
                to_twin(r, r->honest, r->sent_frames[(r->seq - rnd(&r->atk) % 32) % CYCLES_MAX]);
            r->inj[0]++;
            W(duplicate);
        }
        if (pick(r, 1, 0.4)) {
            uint32_t back = 64 + (uint32_t)(rnd(&r->atk) % (r->seq - 64));
            if (!r->ref)
                to_twin(r, r->honest, r->sent_frames[(r->seq - back) % CYCLES_MAX]);
            r->inj[1]++;
            W(too_old), W(frames_rejected);
        }
        return;
    case C_ORDER: /* held until 1..4 later frames overtook it: reordered, then applied */
        if ((int)r->seq > r->held_until && pick(r, 0, 0.5)) {
            int gap = 1 + (int)(rnd(&r->atk) % 4);
            r->held_until = (int)r->seq + gap; /* one held frame at a time */
            r->inj[0]++;
            W(reordered), W(frames_ok);
            /* overtaken by one frame: both in one poll, ingest sorts them;
             * by more: behind the released samples, the late path */
            r->want_late += !r->ref && gap > 1;
            if (r->ref)
                break;
            hold(r, f, gap);
            return;
        }
        honest(r, f);
        release(r);
        return;
    case C_LOSS: /* random single losses; then 1.5 s of nothing (150 frames) */
        if (r->k >= r->cycles - 500 && r->k < r->cycles - 350) {
            r->outage++, r->w.lost++;
            return;
        }
        if (r->k == r->cycles - 350) { /* back after 64+: its first frame is unconfirmed */
            to_twin(r, r->honest, f);
            r->w.unconfirmed++, r->w.frames_rejected++;
            return;
        }
        if (r->k == r->cycles - 349)
            r->w.jumps++;
        if (r->k < r->cycles - 505 && pick(r, 0, 0.3)) {
            r->inj[0]++, r->w.lost++;
            return;
        }
        break;
    case C_DELAY: /* held until 64..95 newer frames arrived: too old; then the whole
                   * stream 0.5 s late for 3 s */
        if (r->k >= r->held_until && r->k < r->held_until + 300) {
            if (r->k < r->held_until + 50) { /* the first 0.5 s: nothing arrives */
                hold(r, f, 0);
                return;
            }
            to_twin(r, r->honest, r->held[0]); /* in order, 0.5 s late */
            r->w.frames_ok++;
            memmove(r->held[0], r->held[1], (size_t)(r->n_held - 1) * FLEN);
            memcpy(r->held[r->n_held - 1], f, FLEN);
            return;
        }
        if (r->k == r->held_until + 300) { /* the path recovers: the backlog, then f */
            for (int i = 0; i < r->n_held; i++) {
                to_twin(r, r->honest, r->held[i]);
                r->w.frames_ok++;
            }
            r->n_held = 0;
            break;
        }
        if (r->k < r->held_until - 200 && pick(r, 0, 0.35)) {
            r->inj[0]++, r->w.lost++;
            W(too_old), W(frames_rejected);
            if (!r->ref)
                hold(r, f, 64 + (int)(rnd(&r->atk) % 32));
            release(r);
            return;
        }
        honest(r, f);
        release(r);
        return;
    case C_INSERT: /* the right id, the next seq, no key; a recording of epoch - 1 */
        if (pick(r, 0, 0.5)) {
            mkframe(b, kd->link, ID, EPOCH, r->seq, plant_y + 3, r->now);
            for (size_t i = 0; i < DT_WIRE_MAC_TRAILER; i++) /* the tag: guessed */
                b[FLEN - DT_WIRE_MAC_TRAILER + i] = (uint8_t)rnd(&r->atk);
            if (!r->ref)
                to_twin(r, r->spoof, b);
            r->inj[0]++;
            W(bad_mac), W(frames_rejected);
        }
        if (pick(r, 1, 0.5)) {
            attack(r, r->spoof, kd->link, ID, EPOCH - 1, r->seq + (uint32_t)(rnd(&r->atk) % 64));
            r->inj[1]++;
            W(stale_epoch), W(frames_rejected);
        }
        break;
    case C_MASQ: /* another key's holder as this sender (at its address, or a newer
                  * epoch); the right key from another address */
        if (pick(r, 0, 0.5)) {
            attack(r, r->spoof, kd->other, ID, (uint16_t)(EPOCH + rnd(&r->atk) % 2), r->seq);
            r->inj[0]++;
            W(bad_mac), W(frames_rejected);
        }
        if (pick(r, 1, 0.5)) {
            attack(r, r->elsewhere, kd->link, ID, EPOCH, r->seq);
            r->inj[1]++;
            W(wrong_peer), W(frames_rejected);
        }
        break;
    case C_ADDR: /* for another source id under this key; another link's frame (its
                  * key, the same id); this frame delivered to the other link */
        if (pick(r, 0, 0.5)) {
            attack(r, r->spoof, kd->link, ID + 1, EPOCH, r->seq);
            r->inj[0]++;
            W(wrong_source), W(frames_rejected);
        }
        if (pick(r, 1, 0.5)) {
            mkframe(b, kd->other, ID, 1, ++r->other_seq, plant_y + 3, r->now);
            if (!r->ref)
                to_twin(r, r->spoof, b);
            r->inj[1]++;
            W(bad_mac), W(frames_rejected);
        }
        if (pick(r, 2, 0.3)) {
            if (!r->ref)
                send_raw(r->other, f, FLEN);
            r->inj[2]++, r->w.lost++;
            return;
        }
        break;
    case C_ONE: /* the check's own test: one authentic frame with a wrong value */
        if (!r->ref && r->k == 1000) {
            mkframe(b, kd->link, ID, EPOCH, r->seq, plant_y + 3, r->now);
            to_twin(r, r->honest, b);
            r->w.duplicate++; /* it takes f's place: f is the duplicate */
        }
        break;
    default:
        break;
    }
    honest(r, f);
}

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
    r->held_until = cls == C_DELAY ? cycles - 800 : 0;
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
             " \"mapping\":[{\"channel\":1,\"signal\":\"y\"}]}],"
             "\"sinks\":[{\"id\":\"act\",\"kind\":\"valve\",\"mapping\":[{\"native\":\"u\",\"signal\":\"u\"}]}],"
             "\"estimator\":{\"states\":[\"x\"],\"inputs\":[\"u\"],\"A\":[[-1]],\"B\":[[1]],"
             " \"Q\":[0.2],\"P0\":[1e-4],\"history\":512,\"gate\":1,"
             " \"measurements\":[{\"signal\":\"y\",\"H\":{\"x\":1}}],"
             " \"bounds\":[{\"name\":\"level\",\"variance\":\"x\",\"max\":0.05}]},"
             "\"controllers\":[{\"id\":\"c\",\"kind\":\"pid\",\"input\":\"x\",\"output\":\"u\","
             " \"setpoint\":2,\"kp\":2,\"ki\":2}],"
             "\"dispatcher\":{\"safe\":{\"u\":0},\"deadline\":0.05},\"loop\":{\"period\":0.01}}",
             kd->path, ID);
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
    assert_int_equal(r->us.samples, r->us.frames_ok);
    assert_true(dt_source_stats_consistent(&r->ss));
    assert_int_equal(r->ss.offered, r->us.samples);
    assert_int_equal(r->ss.accepted, r->ss.drained); /* no authentic sample refused */
    /* every sample applied once, at its own time */
    assert_int_equal(r->es.updates, r->ss.accepted);
    assert_int_equal(r->ss.late, r->want_late);
    if (r->cls != C_DELAY) /* there, the late stream's samples behind the commands' inputs */
        assert_int_equal(r->es.late_applied, r->want_late);
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

static frun run_a, run_ref;

/* Runs the class and its reference; checks counts and "nothing acted upon". */
static void run_class(int cls, int cycles, rig *other, keydir *given)
{
    keydir own, *kd = given != NULL ? given : &own;
    if (given == NULL)
        keys_make(&own);
    do_run(&run_ref, cls, 1, cycles, 1, kd, NULL);
    do_run(&run_a, cls, 0, cycles, 1, kd, other);
    if (given == NULL)
        keys_rm(&own);
    check_counts(&run_a);
    check_counts(&run_ref);
    for (int j = 0; j < 3; j++)
        assert_true(run_a.inj[j] == run_ref.inj[j] && (run_a.inj[j] == 0 || run_a.inj[j] == N_INJ));
    assert_close(plant_y, 2.0, 0, 0.1); /* still in control at the end */
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

/* ---- the classes ---- */

static void test_corruption(void **state)
{
    (void)state;
    run_class(C_CORRUPT, 2600, NULL, NULL);
    same_as(&run_a, &run_ref, 2600);
    const uint64_t *w = run_a.us.rejected;
    print_message("corruption: by check: bad_magic %llu, bad_version %llu, bad_reserved %llu, "
                  "trailing %llu, bad_type %llu, bad_flags %llu, empty %llu, truncated %llu, "
                  "too_many %llu\n",
                  (unsigned long long)w[DT_WIRE_BAD_MAGIC], (unsigned long long)w[DT_WIRE_BAD_VERSION],
                  (unsigned long long)w[DT_WIRE_BAD_RESERVED], (unsigned long long)w[DT_WIRE_TRAILING],
                  (unsigned long long)w[DT_WIRE_BAD_TYPE], (unsigned long long)w[DT_WIRE_BAD_FLAGS],
                  (unsigned long long)w[DT_WIRE_EMPTY], (unsigned long long)w[DT_WIRE_TRUNCATED],
                  (unsigned long long)w[DT_WIRE_TOO_MANY]);
    print_counts("corruption", &run_a);
}

static void test_repetition(void **state)
{
    (void)state;
    run_class(C_REPEAT, 2800, NULL, NULL);
    same_as(&run_a, &run_ref, 2800);
    print_counts("repetition (in the window / 64+ behind)", &run_a);
}

static void test_incorrect_sequence(void **state)
{
    (void)state;
    run_class(C_ORDER, 5000, NULL, NULL);
    /* Applied in time order (counted late above): the estimate meanwhile
     * lacks the held sample for 1..4 cycles and the valve moves a little
     * differently, so the two runs' plants part; what must not change is how
     * well the estimate follows its own plant. */
    double err_a = 0, err_ref = 0, worst = 0;
    for (int k = WARM; k <= 5000; k++) {
        err_a += (run_a.x[k] - run_a.y[k]) * (run_a.x[k] - run_a.y[k]);
        err_ref += (run_ref.x[k] - run_ref.y[k]) * (run_ref.x[k] - run_ref.y[k]);
        worst = fmax(worst, fabs(run_a.x[k] - run_a.y[k]));
    }
    err_a = sqrt(err_a / (5001 - WARM));
    err_ref = sqrt(err_ref / (5001 - WARM));
    assert_true(err_a < 1.1 * err_ref && worst < 0.05);
    assert_true(run_a.es.replayed > 0);
    assert_int_equal(run_a.st.safe_entries, 0); /* data from the first cycle on */
    print_message("incorrect sequence: %llu of the reordered samples through the late path, "
                  "the rest sorted by ingest; rms error to the true level %.4f m (in order: "
                  "%.4f m), worst %.4f m\n",
                  (unsigned long long)run_a.ss.late, err_a, err_ref, worst);
    print_counts("incorrect sequence", &run_a);
}

static void test_loss(void **state)
{
    (void)state;
    run_class(C_LOSS, 4200, NULL, NULL);
    same_as(&run_a, &run_ref, 4200); /* the reference loses the same frames */
    /* the long loss: safe state within tau_max + one period of the last
     * frame; held through it; released at the second frame after it */
    double tau = run_a.st.tau_max_s;
    int gone = 4200 - 500; /* first lost cycle of the outage */
    assert_int_equal(run_a.last_arrival, 4200);
    assert_true(run_a.safe_from > gone && run_a.safe_from < gone + 150);
    double late = (run_a.safe_from - (gone - 1)) * 0.01 - tau;
    assert_true(late > 0 && late <= 0.01 + 1e-9);
    for (int k = run_a.safe_from; k < gone + 151; k++)
        assert_true(run_a.safe[k]);
    assert_int_equal(run_a.safe_until, gone + 151);
    assert_int_equal(run_a.st.safe_entries, 1); /* the outage (data from the first cycle) */
    print_message("loss: tau_max %.3f s; 1.5 s outage: safe state %.3f s after the last frame, "
                  "released at the second frame after it\n",
                  tau, (run_a.safe_from - (gone - 1)) * 0.01);
    print_counts("loss (single / outage)", &run_a);
}

static void test_unacceptable_delay(void **state)
{
    (void)state;
    const int cycles = 4800, d0 = cycles - 800; /* the stream is 0.5 s late from d0 */
    run_class(C_DELAY, cycles, NULL, NULL);
    same_as(&run_a, &run_ref, cycles); /* the late stream is the same in the reference */
    double tau = run_a.st.tau_max_s;
    assert_true(tau < 0.5);
    double after = (run_a.safe_from - (d0 - 1)) * 0.01;
    assert_true(after - tau > 0 && after - tau <= 0.01 + 1e-9);
    for (int k = run_a.safe_from; k < d0 + 300; k++) /* late data never fresh enough */
        assert_true(run_a.safe[k]);
    assert_true(run_a.safe_until >= d0 + 300 && run_a.safe_until <= d0 + 302);
    assert_int_equal(run_a.st.safe_entries, 1);
    /* the late stream is applied at its own time, behind the inputs the
     * commands set meanwhile; as in the reference, which has the same stream */
    assert_true(run_a.es.late_applied > 0 && run_a.es.late_applied == run_ref.es.late_applied);
    print_message("unacceptable delay: tau_max %.3f s; the stream 0.5 s late: safe state %.3f s "
                  "after the last timely frame, held for 3 s, released %d cycle(s) after the path "
                  "recovered\n",
                  tau, after, run_a.safe_until - (d0 + 300));
    print_counts("unacceptable delay (64+ frames late)", &run_a);
}

static void test_insertion(void **state)
{
    (void)state;
    run_class(C_INSERT, 2500, NULL, NULL);
    same_as(&run_a, &run_ref, 2500);
    print_counts("insertion (no key / earlier epoch)", &run_a);
}

static void test_masquerade(void **state)
{
    (void)state;
    run_class(C_MASQ, 2500, NULL, NULL);
    same_as(&run_a, &run_ref, 2500);
    print_counts("masquerade (another key / another address)", &run_a);
}

static void test_addressing(void **state)
{
    (void)state;
    keydir kd;
    keys_make(&kd);
    rig other; /* the other link's receiver: key "other", the same source id */
    rig_open(&other, kd.path, ",\"auth\":\"mac\",\"key\":\"other\"");
    assert_int_equal(other.rc, 0);
    run_class(C_ADDR, 3600, &other, &kd);
    keys_rm(&kd);
    same_as(&run_a, &run_ref, 3600);
    settle(&other);
    dt_udp_stats os = stats(&other);
    assert_int_equal(os.bad_mac, N_INJ);
    assert_int_equal(os.frames_rejected, N_INJ);
    assert_int_equal(os.datagrams, N_INJ);
    assert_int_equal(os.frames_ok, 0);
    rig_close(&other);
    print_counts("addressing (another id / another link's frame / to another link)", &run_a);
    print_message("addressing: the other link's receiver: %llu datagrams, bad_mac %llu\n",
                  (unsigned long long)os.datagrams, (unsigned long long)os.bad_mac);
}

/* The reference check sees one frame: an authentic frame at the next seq,
 * the level + 3 m, taken in place of the honest one. */
static void test_check_would_see_one_frame(void **state)
{
    (void)state;
    run_class(C_ONE, 1200, NULL, NULL);
    int first = 0;
    for (int k = 1; k <= 1200 && first == 0; k++)
        if (run_a.x[k] != run_ref.x[k])
            first = k;
    assert_int_equal(first, 1000);
    print_message("one wrong frame taken: the estimate departs from the reference at cycle %d "
                  "by %.3f m\n", first, run_a.x[first] - run_ref.x[first]);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_check_would_see_one_frame),
    cmocka_unit_test(test_corruption),
    cmocka_unit_test(test_repetition),
    cmocka_unit_test(test_incorrect_sequence),
    cmocka_unit_test(test_loss),
    cmocka_unit_test(test_unacceptable_delay),
    cmocka_unit_test(test_insertion),
    cmocka_unit_test(test_masquerade),
    cmocka_unit_test(test_addressing),
};

DTT_MAIN(tests)
