/* The eight communication errors of IEC 61784-3 / OPC UA Safety on keyed UDP
 * frames (docs/reliability.md, "Communication errors on keyed frames"):
 * corruption, unintended repetition, incorrect sequence, loss, unacceptable
 * delay, insertion, masquerade, addressing; 1000 injections of each kind,
 * counted exactly, into the closed-loop twin of keyed_loop.h, whose only
 * sensor is a UDP source with "auth": "mac" pinned to its sender's address.
 *
 * Every counter of the source must read what the class explains, exactly,
 * and no other (check_counts). "Nothing acted upon": each class also runs as
 * a reference, the same seed with the injected frames not sent and the
 * frames the class takes off the wire (corrupted, held too long,
 * misdelivered) dropped; the estimate, the valve and the safe state must be
 * bit for bit the reference's at every cycle. An injected frame carries the
 * true level + 3 m, so one frame taken would show (test_check_would_see_one_
 * frame shows it does). */
#define _DEFAULT_SOURCE
#include <math.h>

#include "test_util.h"
#include "alloc_counter.h"

#include "dtwin/dtwin.h"

#include "udp_auth_rig.h" /* the key store (keys "link", "other"); the rig: another receiver */

#include "keyed_loop.h"

enum { C_NONE, C_CORRUPT, C_REPEAT, C_ORDER, C_LOSS, C_DELAY, C_INSERT, C_MASQ, C_ADDR, C_ONE };

static unsigned le(const uint8_t *b, int n)
{
    unsigned v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

/* Where a corrupted frame ends: the first check it fails, modelled from the
 * table of docs/wire.md ("What a receiver checks, in order"), not the code. */
static void count_corrupt(want *w, const uint8_t *b)
{
    unsigned ver = b[4], type = b[5], count = le(b + 16, 2);
    size_t rec = type == 2 ? 40 : 32, trailer = ver == 3 ? 16 : 4;
    unsigned max = type == 2 ? (ver == 3 ? 1636 : 1637) : (ver == 3 ? 2045 : 2046);
    dt_wire_error e = le(b, 4) != 0x4E575444u           ? DT_WIRE_BAD_MAGIC
                      : ver < 1 || ver > 3              ? DT_WIRE_BAD_VERSION
                      : type != 1 && type != 2          ? DT_WIRE_BAD_TYPE
                      : le(b + 6, 2) != 0               ? DT_WIRE_BAD_FLAGS
                      : ver == 1 && le(b + 18, 2) != 0  ? DT_WIRE_BAD_RESERVED
                      : count == 0                      ? DT_WIRE_EMPTY
                      : count > max                     ? DT_WIRE_TOO_MANY
                      : FLEN < 20 + count * rec + trailer ? DT_WIRE_TRUNCATED
                      : FLEN > 20 + count * rec + trailer ? DT_WIRE_TRAILING
                                                          : DT_WIRE_OK;
    if (e != DT_WIRE_OK)
        w->wire[e]++;
    else if (ver != 3)
        w->unauthenticated++;
    else if (type != 1)
        w->wrong_type++;
    else if (le(b + 8, 4) != ID)
        w->wrong_source++;
    else if (count > 512) /* the source's max_count */
        w->wire[DT_WIRE_TOO_MANY]++;
    else
        w->bad_mac++;
}

static void hold(frun *r, const uint8_t *b, int gap)
{
    assert_true(r->n_held < HOLD_MAX);
    memcpy(r->held[r->n_held].b, b, FLEN);
    r->held[r->n_held].seq = seq_of(b);
    r->held[r->n_held++].gap = gap;
}

/* Sends the held frames the newest delivered seq has passed by their gap. */
static void release(frun *r)
{
    for (int i = 0; i < r->n_held;) {
        if ((int32_t)(r->newest - r->held[i].seq) >= r->held[i].gap) {
            /* behind a sample an earlier step released: ingest's late path;
             * behind only this cycle's frames, ingest sorts it into time order.
             * The estimator's time follows the inputs the commands set at every
             * step's now: a sample older than the previous step (seq = cycle
             * here) is applied from its history */
            r->want_late += r->cls == C_ORDER && r->held[i].seq < r->newest_before;
            r->want_est_late += r->cls == C_ORDER && (int)r->held[i].seq < r->k - 1;
            to_twin(r, r->honest, r->held[i].b);
            r->n_held--;
            memmove(&r->held[i], &r->held[i + 1], (size_t)(r->n_held - i) * sizeof r->held[0]);
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
    r->newest_before = r->newest;
    if (r->k == 1 && r->cls == C_DELAY) {
        r->late_from = r->cycles - 800;
        r->late_free = 1; /* its samples fall behind the inputs the commands set */
    }
    switch (r->cls) {
    case C_CORRUPT: /* 1 to 4 random bits of the honest frame flipped on the way; its
                     * length changed */
        if (pick(r, 0, 0.5)) {
            memcpy(b, f, FLEN);
            for (uint64_t n = 1 + rnd(&r->atk) % 4, i = 0; i < n;) { /* n distinct bits */
                size_t bit = rnd(&r->atk) % (FLEN * 8);
                if (((b[bit / 8] ^ f[bit / 8]) >> (bit % 8) & 1u) == 0) {
                    b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
                    i++;
                }
            }
            r->inj[0]++, r->w.lost++;
            if (!r->ref) {
                count_corrupt(&r->w, b);
                r->w.frames_rejected++;
                to_twin(r, r->honest, b);
            }
            return;
        }
        if (pick(r, 1, 0.4)) { /* cut to 0..67 bytes, or 1..32 random bytes added */
            uint8_t x[FLEN + 32];
            size_t n = rnd(&r->atk) % 2 ? rnd(&r->atk) % FLEN : FLEN + 1 + rnd(&r->atk) % 32;
            memcpy(x, f, FLEN);
            for (size_t i = FLEN; i < n; i++)
                x[i] = (uint8_t)rnd(&r->atk);
            r->inj[1]++, r->w.lost++;
            if (!r->ref) {
                r->w.wire[n < 24 ? DT_WIRE_SHORT : n < FLEN ? DT_WIRE_TRUNCATED : DT_WIRE_TRAILING]++;
                r->w.frames_rejected++;
                to_twin_n(r, r->honest, x, n);
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
    case C_ORDER: /* held until 1..40 later frames overtook it (up to 0.4 s, beyond
                   * tau_max, inside the window): reordered, then applied */
        if (r->k < r->cycles - 100 && pick(r, 0, 0.3)) {
            r->inj[0]++;
            W(reordered), W(frames_ok);
            if (r->ref)
                break;
            hold(r, f, 1 + (int)(rnd(&r->atk) % 40));
            release(r);
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
        if (r->k >= r->late_from && r->k < r->late_from + 300) {
            if (r->k < r->late_from + 50) { /* the first 0.5 s: nothing arrives */
                hold(r, f, 0);
                return;
            }
            to_twin(r, r->honest, r->held[0].b); /* in order, 0.5 s late */
            r->w.frames_ok++;
            memmove(&r->held[0], &r->held[1], (size_t)(r->n_held - 1) * sizeof r->held[0]);
            memcpy(r->held[r->n_held - 1].b, f, FLEN);
            return;
        }
        if (r->k == r->late_from + 300) { /* the path recovers: the backlog, then f */
            for (int i = 0; i < r->n_held; i++) {
                to_twin(r, r->honest, r->held[i].b);
                r->w.frames_ok++;
            }
            r->n_held = 0;
            break;
        }
        if (r->k < r->late_from - 200 && pick(r, 0, 0.35)) {
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

#define SEEDS 3

static frun run_a, run_ref;

/* Runs the class and its reference with one seed: the counts of both, and
 * the same number of injections of each kind, N_INJ or none. */
static void run_class(int cls, int cycles, rig *other, keydir *given, uint64_t seed)
{
    keydir own, *kd = given != NULL ? given : &own;
    if (given == NULL)
        keys_make(&own);
    do_run(&run_ref, cls, 1, cycles, seed, kd, NULL);
    do_run(&run_a, cls, 0, cycles, seed, kd, other);
    if (given == NULL)
        keys_rm(&own);
    check_counts(&run_a);
    check_counts(&run_ref);
    for (int j = 0; j < 3; j++)
        assert_true(run_a.inj[j] == run_ref.inj[j] && (run_a.inj[j] == 0 || run_a.inj[j] == N_INJ));
    assert_close(plant_y, 2.0, 0, 0.1); /* still in control at the end */
}

/* ---- the classes: each with SEEDS seeds; the counts printed are the last's ---- */

static void test_corruption(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        run_class(C_CORRUPT, 4400, NULL, NULL, seed);
        same_as(&run_a, &run_ref, 4400);
    }
    char by[512];
    size_t n = 0;
    for (int e = DT_WIRE_SHORT; e < DT_WIRE_V1_ERRORS && n < sizeof by - 40; e++)
        if (run_a.us.rejected[e] > 0)
            n += (size_t)snprintf(by + n, sizeof by - n, " %s %llu",
                                  dt_wire_error_name((dt_wire_error)e),
                                  (unsigned long long)run_a.us.rejected[e]);
    print_message("corruption: header checks:%s\n", by);
    print_counts("corruption (bits / length)", &run_a);
}

static void test_repetition(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        run_class(C_REPEAT, 2800, NULL, NULL, seed);
        same_as(&run_a, &run_ref, 2800);
    }
    print_counts("repetition (in the window / 64+ behind)", &run_a);
}

/* Reordered frames (up to 40 frames, 0.4 s: beyond tau_max, inside the
 * window) are taken and applied at their own time (check_counts: exactly the
 * late ones through the late path and the estimator's history). Meanwhile the
 * estimate lacks the held samples and the valve moves a little differently,
 * so the plants of the two runs part; what must not change is how well the
 * estimate follows its own plant. */
static void test_incorrect_sequence(void **state)
{
    (void)state;
    double err_a = 0, err_ref = 0, worst = 0;
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        run_class(C_ORDER, 5000, NULL, NULL, seed);
        double ea = 0, er = 0;
        for (int k = WARM; k <= 5000; k++) {
            ea += (run_a.x[k] - run_a.y[k]) * (run_a.x[k] - run_a.y[k]);
            er += (run_ref.x[k] - run_ref.y[k]) * (run_ref.x[k] - run_ref.y[k]);
            worst = fmax(worst, fabs(run_a.x[k] - run_a.y[k]));
        }
        err_a = sqrt(ea / (5001 - WARM));
        err_ref = sqrt(er / (5001 - WARM));
        assert_true(err_a < 1.1 * err_ref && worst < 0.05);
        assert_true(run_a.es.replayed > 0);
        assert_int_equal(run_a.st.safe_entries, 0); /* data from the first cycle on */
    }
    print_message("incorrect sequence: %llu reordered samples through ingest's late path, "
                  "the rest sorted by ingest; %llu applied from the estimator's history; rms "
                  "error to the true level %.4f m (in order: %.4f m), worst %.4f m\n",
                  (unsigned long long)run_a.ss.late, (unsigned long long)run_a.es.late_applied,
                  err_a, err_ref, worst);
    print_counts("incorrect sequence", &run_a);
}

/* Single losses, counted; then 1.5 s of nothing: the safe state within
 * tau_max + one period of the last frame, held through it, released at the
 * second frame after it (the first is unconfirmed: 64+ frames ahead). */
static void test_loss(void **state)
{
    (void)state;
    const int gone = 4200 - 500; /* the outage's first cycle */
    double tau = 0;
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        run_class(C_LOSS, 4200, NULL, NULL, seed);
        same_as(&run_a, &run_ref, 4200); /* the reference loses the same frames */
        tau = run_a.st.tau_max_s;
        assert_int_equal(run_a.last_arrival, 4200);
        assert_true(run_a.safe_from > gone && run_a.safe_from < gone + 150);
        double late = (run_a.safe_from - (gone - 1)) * 0.01 - tau;
        assert_true(late > 0 && late <= 0.01 + 1e-9);
        for (int k = run_a.safe_from; k < gone + 151; k++)
            assert_true(run_a.safe[k]);
        assert_int_equal(run_a.safe_until, gone + 151);
        assert_int_equal(run_a.st.safe_entries, 1); /* the outage (data from the first cycle) */
        assert_int_equal(run_a.outage, 150);
    }
    print_message("loss: tau_max %.3f s; 1.5 s outage: safe state %.3f s after the last frame, "
                  "released at the second frame after it\n",
                  tau, (run_a.safe_from - (gone - 1)) * 0.01);
    print_counts("loss (single / outage)", &run_a);
}

/* Frames 64+ frames late: too old; then the whole stream 0.5 s late (beyond
 * tau_max) for 3 s: taken, applied at its time, and the safe state engages
 * and holds until the path recovers. */
static void test_unacceptable_delay(void **state)
{
    (void)state;
    const int cycles = 4800, d0 = cycles - 800; /* the stream is 0.5 s late from d0 */
    double tau = 0, after = 0;
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        run_class(C_DELAY, cycles, NULL, NULL, seed);
        same_as(&run_a, &run_ref, cycles); /* the late stream is the same in the reference */
        tau = run_a.st.tau_max_s;
        assert_true(tau < 0.5);
        after = (run_a.safe_from - (d0 - 1)) * 0.01;
        assert_true(after - tau > 0 && after - tau <= 0.01 + 1e-9);
        for (int k = run_a.safe_from; k < d0 + 300; k++) /* late data never fresh enough */
            assert_true(run_a.safe[k]);
        assert_int_equal(run_a.safe_until, d0 + 300); /* at the first timely frame */
        assert_int_equal(run_a.st.safe_entries, 1);
        /* the late stream's samples fall behind the inputs the commands set
         * meanwhile: applied at their time from the history */
        assert_true(run_a.es.late_applied > 0 &&
                    run_a.es.late_applied == run_ref.es.late_applied);
    }
    print_message("unacceptable delay: tau_max %.3f s; the stream 0.5 s late: safe state %.3f s "
                  "after the last timely frame, held for 3 s, released when the path recovered; "
                  "%llu late samples applied at their time\n",
                  tau, after,
                  (unsigned long long)run_a.es.late_applied);
    print_counts("unacceptable delay (64+ frames late)", &run_a);
}

static void test_insertion(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        run_class(C_INSERT, 2500, NULL, NULL, seed);
        same_as(&run_a, &run_ref, 2500);
    }
    print_counts("insertion (no key / earlier epoch)", &run_a);
}

static void test_masquerade(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        run_class(C_MASQ, 2500, NULL, NULL, seed);
        same_as(&run_a, &run_ref, 2500);
    }
    print_counts("masquerade (another key / another address)", &run_a);
}

/* A receiver of another link (key "other", the same source id: ids are
 * chosen per link) gets this link's frames: refused by its key. */
static void test_addressing(void **state)
{
    (void)state;
    dt_udp_stats os = {0};
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        keydir kd;
        keys_make(&kd);
        rig other;
        rig_open(&other, kd.path, ",\"auth\":\"mac\",\"key\":\"other\"");
        assert_int_equal(other.rc, 0);
        run_class(C_ADDR, 3600, &other, &kd, seed);
        keys_rm(&kd);
        same_as(&run_a, &run_ref, 3600);
        settle(&other);
        os = stats(&other);
        assert_int_equal(os.bad_mac, N_INJ);
        assert_int_equal(os.frames_rejected, N_INJ);
        assert_int_equal(os.datagrams, N_INJ);
        assert_int_equal(os.frames_ok, 0);
        rig_close(&other);
    }
    print_counts("addressing (another id / another link's frame / to another link)", &run_a);
    print_message("addressing: the other link's receiver: %llu datagrams, bad_mac %llu\n",
                  (unsigned long long)os.datagrams, (unsigned long long)os.bad_mac);
}

/* The reference check sees one frame: an authentic frame at the next seq,
 * the level + 3 m, taken in place of the honest one. */
static void test_check_would_see_one_frame(void **state)
{
    (void)state;
    run_class(C_ONE, 1200, NULL, NULL, 1);
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
