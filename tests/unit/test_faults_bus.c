/* The eight communication errors of IEC 61784-3 on the bus path: signed
 * command records (dtwin/cmdauth.h) published on dt/v1/r/rcv/cmd/{signal}/
 * {issuer} of a real broker, into a twin "rcv" with dispatcher.auth and
 * accept. The honest issuer and the attacker are plain libmosquitto
 * clients; the attacker may publish on the receiver's cmd/ topics (least
 * privilege can not keep it off them: it is an allowed issuer's peer) and
 * plays a corrupting bridge, a replaying or delaying network, and a forger.
 * 1000 injections of each class, each counted exactly under its reason (the
 * verifier's and the bus's counters), every honest command carried out (the
 * memory sink sees it), nothing injected acted upon (injected records carry
 * EVIL, a value no honest one has), every command handed over or refused
 * before the twin answered by an ack, no allocation through the twin's
 * allocator after start.
 *
 * The twin runs on its own time, now(): the monotonic clock plus `skip`,
 * which the test moves forward to hold the twin's loop (a stalled step)
 * without waiting; records are signed on that time base. */
#define _DEFAULT_SOURCE /* before any system header: kill, mkdtemp, nanosleep */
#include <poll.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>

#include "alloc_counter.h"
#include "broker_fixture.h"
#include "test_util.h"

#include "dtwin/dtwin.h"

#include "bus_twins.h"

#include "faults_bus_run.h"

static const char *const refused_only[] = {"bus.cmd_refused", NULL};

/* A corrupting bridge: each honest record also goes out with the forger's
 * value and 1 to 4 random bits flipped anywhere. Where the first flip that
 * matters lands decides the counter, predicted record by record: the magic
 * (then it is no record: the bus reads an unsigned message and refuses its
 * header, bus.cmd_malformed), the fields the decoder checks
 * (bus.cmd_signed_malformed), the deadline beyond the accepted signal's
 * deadline_max (bus.cmd_deadline_too_far), the address (wrong_address, at the hand-over,
 * its signature unread), the fingerprint (unknown_issuer), anything else
 * (bad_signature). A deadline moved before now would be dropped by the bus
 * (bus.cmd_expired): a flip moves it by a power of two, and one that takes
 * it more than ROOM back puts it before the issue time (malformed); the
 * rare flips that leave less than 10 s (several in the deadline's high
 * bits) are drawn again, so none expires on its way and the split is exact. */
static void test_corruption(void **state)
{
    (void)state;
    run r;
    open_run(&r, 0x1234);
    uint8_t b[DT_CMDAUTH_MAX], f[DT_CMDAUTH_MAX];
    uint64_t msgs = 0, p_magic = 0, p_decode = 0, p_far = 0, p_addr = 0, p_id = 0, p_sig = 0;
    uint64_t p_soon = 0;
    for (int i = 0; i < N; i++) {
        size_t n = honest(&r, b);
        dt_signed_command sc, hc;
        memset(&sc, 0, sizeof sc);
        assert_int_equal(dt_cmd_decode(b, n, &hc, NULL, NULL), DT_CMDAUTH_OK);
        int dec;
        do { /* flips that leave a deadline close: drawn again (see above) */
            memcpy(f, b, n);
            memcpy(f + OFF_VALUE, &(double){EVIL}, 8);
            int flips = 1 + (int)(rnd(&r) % 4);
            for (int j = 0; j < flips; j++) {
                size_t bit = rnd(&r) % (n * 8);
                f[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            }
            dec = memcmp(f, b, 4) == 0 && dt_cmd_decode(f, n, &sc, NULL, NULL) == DT_CMDAUTH_OK;
            p_soon += dec && sc.t_deadline - hc.t_issued < 10 * DT_NS_PER_S;
        } while (dec && sc.t_deadline - hc.t_issued < 10 * DT_NS_PER_S);
        if (memcmp(f, b, 4) != 0)
            p_magic++;
        else if (!dec)
            p_decode++;
        else if (sc.t_deadline - sc.t_issued > 60 * DT_NS_PER_S) /* the accept's deadline_max */
            p_far++;
        else if (memcmp(f + OFF_ADDRESS, b + OFF_ADDRESS, DT_CMDAUTH_ADDRESS_BYTES) != 0)
            p_addr++;
        else if (memcmp(f + OFF_ID, b + OFF_ID, DT_CMDAUTH_ID_BYTES) != 0)
            p_id++;
        else
            p_sig++;
        pub(&r.att, "valve/iss", f, n);
        pub(&r.hon, "valve/iss", b, n);
        msgs += 2;
        if ((i + 1) % BURST == 0)
            settle(&r, msgs);
    }
    assert_true(p_magic > 0 && p_decode > 0 && p_addr > 0 && p_id > 0 && p_sig > 0);
    uint64_t want[DT_CMDAUTH__COUNT] = {0};
    want[DT_CMDAUTH_WRONG_ADDRESS] = p_addr;
    want[DT_CMDAUTH_UNKNOWN_ISSUER] = p_id;
    want[DT_CMDAUTH_BAD_SIGNATURE] = p_sig;
    const char *const names[] = {"bus.cmd_malformed", "bus.cmd_signed_malformed",
                                 "bus.cmd_deadline_too_far", "bus.cmd_refused", NULL};
    const uint64_t bw[] = {p_magic, p_decode, p_far, p_addr};
    printf("corruption: %llu flips drawn again\n", (unsigned long long)p_soon);
    close_run(&r, "corruption", want, N, 0, names, bw);
}

/* The honest issuer's records delivered again: at once (a QoS 1
 * redelivery), and once more after the first was decided. */
static void test_repetition(void **state)
{
    (void)state;
    run r;
    open_run(&r, 0x2345);
    static uint8_t b[BURST][DT_CMDAUTH_MAX];
    size_t n[BURST];
    uint64_t msgs = 0;
    for (int i = 0; i < N / BURST; i++) {
        for (int j = 0; j < BURST; j++) {
            n[j] = honest(&r, b[j]);
            pub(&r.hon, "valve/iss", b[j], n[j]);
            pub(&r.hon, "valve/iss", b[j], n[j]);
            msgs += 2;
        }
        settle(&r, msgs);
        for (int j = 0; j < BURST; j++)
            pub(&r.att, "valve/iss", b[j], n[j]);
        settle(&r, msgs += BURST);
    }
    uint64_t want[DT_CMDAUTH__COUNT] = {0};
    want[DT_CMDAUTH_REPLAYED] = 2 * N;
    close_run(&r, "unintended repetition", want, N, 0, NULL, NULL);
}

/* Pairs swapped on the way: each taken once. Then records signed with the
 * issuer's key (the forger's value) 64 to 99 behind its newest: refused. */
static void test_incorrect_sequence(void **state)
{
    (void)state;
    run r;
    open_run(&r, 0x3456);
    uint8_t a[DT_CMDAUTH_MAX], b[DT_CMDAUTH_MAX], f[DT_CMDAUTH_MAX];
    uint64_t msgs = 0;
    for (int i = 0; i < N / BURST; i++) {
        for (int j = 0; j < BURST; j++) {
            size_t na = honest(&r, a), nb = honest(&r, b);
            pub(&r.hon, "valve/iss", b, nb);
            pub(&r.hon, "valve/iss", a, na);
            msgs += 2;
        }
        settle(&r, msgs);
        for (int j = 0; j < BURST; j++) { /* r.seq >= 2 BURST = 100 */
            uint64_t behind = DT_CMDAUTH_WINDOW + rnd(&r) % 36;
            size_t n = make(&r, planner, r.seq - behind, "rcv", "valve", EVIL, now(), f);
            pub(&r.att, "valve/iss", f, n);
        }
        settle(&r, msgs += BURST);
    }
    uint64_t want[DT_CMDAUTH__COUNT] = {0};
    want[DT_CMDAUTH_REPLAYED] = N;
    /* each swap a gap, filled by its pair; the first pair opens the window */
    close_run(&r, "incorrect sequence", want, 2 * N, N - 1, NULL, NULL);
}

/* Every second record signed and never delivered: nothing to refuse; a gap
 * each, and no ack for it. */
static void test_loss(void **state)
{
    (void)state;
    run r;
    open_run(&r, 0x4567);
    uint8_t b[DT_CMDAUTH_MAX];
    uint64_t msgs = 0;
    for (int i = 0; i < N; i++) {
        size_t n = honest(&r, b);
        pub(&r.hon, "valve/iss", b, n);
        (void)honest(&r, b); /* lost */
        if (++msgs % BURST == 0)
            settle(&r, msgs);
    }
    size_t n = honest(&r, b);
    pub(&r.hon, "valve/iss", b, n);
    settle(&r, ++msgs);
    for (uint64_t s = 1; s <= r.seq; s++)
        assert_int_equal(r.hon.acked[s], s % 2); /* the lost ones: no ack */
    close_run(&r, "loss", none, N + 1, N, NULL, NULL);
}

/* Records of the honest key delivered after their deadline: each issued
 * ROOM + 1 s before it is published (held that long on the way). The bus
 * drops them before the twin sees them (bus.cmd_expired, acked expired):
 * the verifier's counters do not move. Then records held in the twin's
 * queue: handed over in time, and the twin's loop stalls past their
 * deadline before its next step: the verifier refuses them (expired). */
static void test_unacceptable_delay(void **state)
{
    (void)state;
    run r;
    open_run(&r, 0x5678);
    uint8_t b[DT_CMDAUTH_MAX], late[DT_CMDAUTH_MAX];
    uint64_t msgs = 0;
    for (int i = 0; i < N; i++) {
        size_t n = make(&r, planner, 0, "rcv", "valve", EVIL, now() - ROOM - DT_NS_PER_S, late);
        pub(&r.att, "valve/iss", late, n);
        n = honest(&r, b);
        pub(&r.hon, "valve/iss", b, n);
        msgs += 2;
        if ((i + 1) % BURST == 0)
            settle(&r, msgs);
    }
    assert_int_equal(bus(&r, "bus.cmd_expired"), N);
    assert_int_equal(stats(&r).refused[DT_CMDAUTH_EXPIRED], 0);
    for (int i = 0; i < N / BURST; i++) {
        uint64_t handed = bus(&r, "bus.cmd_submitted");
        for (int j = 0; j < BURST; j++) {
            size_t n = make(&r, planner, 0, "rcv", "valve", EVIL, now(), late);
            pub(&r.hon, "valve/iss", late, n);
        }
        msgs += BURST;
        /* the connection turns, the twin does not step */
        for (int k = 0; k < 6000 && bus(&r, "bus.cmd_submitted") < handed + BURST; k++)
            turn_io(&r);
        assert_int_equal(bus(&r, "bus.cmd_submitted"), handed + BURST);
        skip += ROOM + DT_NS_PER_S; /* the stall */
        settle(&r, msgs);
    }
    size_t n = honest(&r, b);
    pub(&r.hon, "valve/iss", b, n);
    settle(&r, ++msgs);
    uint64_t want[DT_CMDAUTH__COUNT] = {0};
    want[DT_CMDAUTH_EXPIRED] = N;
    const char *const names[] = {"bus.cmd_expired", NULL};
    const uint64_t bw[] = {N};
    /* none of the late ones took its place: a gap each (the first record
     * was late: the first verified opens the window) */
    close_run(&r, "unacceptable delay", want, N + 1, N - 1 + N, names, bw);
    /* acked expired by the bus; refused with DT_ETIMEOUT by the verifier
     * (docs/security.md: an expired record is a refusal of the verify hook) */
    assert_true(r.hon.expired[ISS] == 0 && r.hon.timeout[ISS] == N); /* bus-expired: unanswered */
}

/* Records of a key the twin does not trust, in the forger's own name, with
 * the honest issuer's next seq. */
static void test_insertion(void **state)
{
    (void)state;
    run r;
    open_run(&r, 0x6789);
    uint8_t b[DT_CMDAUTH_MAX], f[DT_CMDAUTH_MAX];
    uint64_t msgs = 0;
    for (int i = 0; i < N; i++) {
        size_t n = make(&r, mallory, r.seq + 1, "rcv", "valve", EVIL, now(), f);
        pub(&r.att, "valve/mallory", f, n);
        n = honest(&r, b);
        pub(&r.hon, "valve/iss", b, n);
        msgs += 2;
        if ((i + 1) % BURST == 0)
            settle(&r, msgs);
    }
    uint64_t want[DT_CMDAUTH__COUNT] = {0};
    want[DT_CMDAUTH_UNKNOWN_ISSUER] = N;
    close_run(&r, "insertion", want, N, 0, NULL, NULL);
    assert_true(r.hon.refused[MALLORY] == 0); /* not authentic: unanswered */
}

/* Records in the honest issuer's name (its fingerprint, its topic, its next
 * seq) signed with another key: refused. Then the honest issuer's own
 * records relayed under another issuer's name on the topic, before the
 * issuer's copies arrive: the relayed ones verify and are carried out (the
 * signature is the identity, the topic's {issuer} only routes the acks:
 * they go to ack/other), and the issuer's own copies are replays. */
static void test_masquerade(void **state)
{
    (void)state;
    run r;
    open_run(&r, 0x789a);
    uint8_t b[DT_CMDAUTH_MAX], f[DT_CMDAUTH_MAX], id[DT_CMDAUTH_ID_BYTES];
    size_t n = make(&r, planner, 1, "rcv", "valve", 0, now(), f);
    memcpy(id, f + OFF_ID, sizeof id);
    uint64_t msgs = 0;
    for (int i = 0; i < N; i++) {
        n = make(&r, mallory, r.seq + 1, "rcv", "valve", EVIL, now(), f);
        memcpy(f + OFF_ID, id, sizeof id);
        /* signed over its bytes as they now are: only the key is wrong */
        assert_int_equal(dt_sign(mallory, f, DT_CMDAUTH_FIXED, f + DT_CMDAUTH_FIXED), 0);
        pub(&r.att, "valve/iss", f, n);
        n = honest(&r, b);
        pub(&r.hon, "valve/iss", b, n);
        msgs += 2;
        if ((i + 1) % BURST == 0)
            settle(&r, msgs);
    }
    static uint8_t rec[BURST][DT_CMDAUTH_MAX];
    size_t len[BURST];
    for (int i = 0; i < N / BURST; i++) {
        for (int j = 0; j < BURST; j++) {
            len[j] = honest(&r, rec[j]);
            pub(&r.att, "valve/other", rec[j], len[j]);
        }
        settle(&r, msgs += BURST);
        for (int j = 0; j < BURST; j++)
            pub(&r.hon, "valve/iss", rec[j], len[j]);
        settle(&r, msgs += BURST);
    }
    uint64_t want[DT_CMDAUTH__COUNT] = {0};
    want[DT_CMDAUTH_BAD_SIGNATURE] = N;
    want[DT_CMDAUTH_REPLAYED] = N;
    close_run(&r, "masquerade", want, 2 * N, 0, NULL, NULL);
    assert_true(r.hon.sent[OTHER] == N && r.hon.acks[OTHER] == N);
    assert_true(r.hon.sent[ISS] == N && r.hon.refused[ISS] == N); /* the replays; forgeries unanswered */
}

/* Authentic records (the honest key) for another twin, for the other
 * commanded signal, or for a signal that is no command, published on this
 * twin's valve topic; and valve records on its pump topic. Each stops at
 * the hand-over: the topic names the signal, the record another address. */
static void test_addressing(void **state)
{
    (void)state;
    run r;
    open_run(&r, 0x89ab);
    uint8_t b[DT_CMDAUTH_MAX], f[DT_CMDAUTH_MAX];
    static const char *const to[4][3] = {{"rcv2", "valve", "valve/iss"},
                                         {"rcv", "pump", "valve/iss"},
                                         {"rcv", "flow", "valve/iss"},
                                         {"rcv", "valve", "pump/iss"}};
    uint64_t msgs = 0;
    for (int i = 0; i < N; i++) {
        const char *const *k = to[i % 4];
        size_t n = make(&r, planner, 0, k[0], k[1], EVIL, now(), f);
        pub(&r.att, k[2], f, n);
        n = honest(&r, b);
        pub(&r.hon, "valve/iss", b, n);
        msgs += 2;
        if ((i + 1) % BURST == 0)
            settle(&r, msgs);
    }
    uint64_t want[DT_CMDAUTH__COUNT] = {0};
    want[DT_CMDAUTH_WRONG_ADDRESS] = N;
    const uint64_t bw[] = {N};
    /* the records never taken are gaps (the first opens the window) */
    close_run(&r, "addressing", want, N, N - 1, refused_only, bw);
}

static int setup(void **state)
{
    (void)state;
    snprintf(keydir, sizeof keydir, "/tmp/dtt-iecbus-XXXXXX");
    if (mkdtemp(keydir) == NULL || dt_key_generate(keydir, "planner", DT_KEY_SIGN, NULL) != 0 ||
        dt_key_generate(keydir, "mallory", DT_KEY_SIGN, NULL) != 0 ||
        dt_keystore_file(keydir, &ks, NULL) != 0 ||
        dt_key_load(ks, "planner", DT_KEY_SIGN, &planner, NULL) != 0 ||
        dt_key_load(ks, "mallory", DT_KEY_SIGN, &mallory, NULL) != 0)
        return -1;
    unsigned char pk[DT_KEY_PUBLIC_BYTES];
    dt_key_public(planner, pk);
    for (int i = 0; i < 32; i++)
        snprintf(planner_hex + 2 * i, 3, "%02x", pk[i]);
    memset(&broker, 0, sizeof broker);
    if (dtt_broker_start(&broker, NULL) != 0 || mosquitto_lib_init() != MOSQ_ERR_SUCCESS)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    mosquitto_lib_cleanup();
    dtt_broker_stop(&broker);
    dt_key_free(planner);
    dt_key_free(mallory);
    dt_keystore_close(ks);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", keydir);
    return system(cmd) == 0 ? 0 : -1;
}

/* argv[1]: only the tests of that name (ctest registers each by name) */
int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corruption),
        cmocka_unit_test(test_repetition),
        cmocka_unit_test(test_incorrect_sequence),
        cmocka_unit_test(test_loss),
        cmocka_unit_test(test_unacceptable_delay),
        cmocka_unit_test(test_insertion),
        cmocka_unit_test(test_masquerade),
        cmocka_unit_test(test_addressing),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, setup, teardown);
}
