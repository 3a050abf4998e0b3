/* Red-team tests of commands between twins over the bus (cmd/{signal}/
 * {issuer} and ack/{issuer}): what the receiver does with commands outside its running life
 * (before dt_twin_start, after dt_twin_stop), whether every record ends in
 * exactly one counter and one ack. Against a real broker started by the
 * test; bounded waits on counters and messages, never timings. */
#define _DEFAULT_SOURCE /* before any system header: kill, mkdtemp, nanosleep */
#include <math.h>
#include <poll.h>
#include <stdint.h>
#include <time.h>

#include <mosquitto.h>

#include "broker_fixture.h"
#include "test_util.h"

#include "dtwin/dtwin.h"

#include "bus_twins.h"

#include "bus_issuer.h"

/* A command that reaches a stopped twin is never dispatched: it must be
 * refused and acked at once, not counted submitted and left without an
 * answer (the issuer would wait for an ack that never comes, and the
 * in-flight slot would never be freed). */
static void test_command_after_stop_refused_and_acked(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    issuer s;
    issuer_start(&s, b.port);
    uint8_t buf[256];
    const uint32_t E = wall_epoch_now();
    dt_twin *t = receiver(&b, NULL);
    assert_int_equal(dt_twin_start(t, mono()), 0);
    UNTIL(t, &s, s.contract[0] != '\0');
    assert_int_equal(dt_twin_stop(t), 0);
    size_t n = command_msg(buf, sizeof buf, E, 1, 51, 0.5, 10 * DT_NS_PER_S);
    issue_raw(&s, buf, n, 0);
    TURN_UNTIL(t, &s, s.n_acks >= 1);
    assert_int_equal(s.acks[0].seq, 51);
    assert_int_equal(s.acks[0].decision, DT_DISP_REFUSED);
    assert_int_equal(s.acks[0].status, DT_ESTATE);
    assert_int_equal(bus_counter(t, "bus.cmd_submitted"), 0);
    assert_int_equal(bus_counter(t, "bus.cmd_refused"), 1);
    dt_command out[4];
    assert_int_equal(dt_memory_sink_read(dt_twin_io(t), 0, out, 4), 0);
    dt_twin_destroy(t);
    issuer_stop(&s);
    dtt_broker_stop(&b);
}

/* A command that arrives after load but before dt_twin_start waits in the
 * bus's queue (the twin takes none: DT_ESTATE) and is dispatched by the
 * first step, still inside its deadline; one ack, one submitted. */
static void test_command_before_start_waits(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    issuer s;
    issuer_start(&s, b.port);
    uint8_t buf[256];
    const uint32_t E = wall_epoch_now();
    dt_twin *t = receiver(&b, NULL);
    TURN_UNTIL(t, &s, s.contract[0] != '\0');
    size_t n = command_msg(buf, sizeof buf, E, 1, 61, 0.5, 60 * DT_NS_PER_S);
    issue_raw(&s, buf, n, 0);
    TURN_UNTIL(t, &s, bus_counter(t, "bus.cmd_records") >= 1);
    for (int i = 0; i < 20; i++) {
        dt_twin *one[1] = {t};
        turn(one, 1);
    }
    assert_int_equal(bus_counter(t, "bus.cmd_submitted"), 0);
    assert_int_equal(s.n_acks, 0);
    assert_int_equal(dt_twin_start(t, mono()), 0);
    UNTIL(t, &s, s.n_acks >= 1);
    assert_int_equal(s.acks[0].seq, 61);
    assert_int_equal(s.acks[0].decision, DT_DISP_SENT);
    assert_int_equal(bus_counter(t, "bus.cmd_submitted"), 1);
    dt_command out[4];
    assert_int_equal(dt_memory_sink_read(dt_twin_io(t), 0, out, 4), 1);
    assert_int_equal(DT_ORIGIN_KIND(out[0].origin), DT_ORIGIN_REMOTE);
    dt_twin_destroy(t);
    issuer_stop(&s);
    dtt_broker_stop(&b);
}

/* Forged extremes refused without shutting the real issuer out: an epoch
 * at its maximum (past the receiver's wall clock), a seq at its maximum, a
 * first message of a new epoch far ahead; a forged newer epoch is taken (it
 * cannot be told apart without authentication) but the real epoch is still
 * remembered and taken too. Records: times at INT64_MIN, NaN, a repeated
 * command number, a deadline past deadline_max, a time that claims a
 * transit faster than the fastest by seconds, a late message that used up
 * its deadline on the way: each refused or expired, counted, acked. */
static void test_forged_extremes(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    issuer s;
    issuer_start(&s, b.port);
    uint8_t buf[256];
    const uint32_t E = wall_epoch_now();
    dt_twin *t = receiver(&b, NULL);
    assert_int_equal(dt_twin_start(t, mono()), 0);
    UNTIL(t, &s, s.contract[0] != '\0');
    size_t n = command_msg(buf, sizeof buf, E, 1, 1, 0.5, 10 * DT_NS_PER_S);
    issue_raw(&s, buf, n, 0);
    UNTIL(t, &s, s.n_acks >= 1);

    n = command_msg(buf, sizeof buf, UINT32_MAX, 1, 2, 0.9, 10 * DT_NS_PER_S);
    issue_raw(&s, buf, n, 0);
    UNTIL(t, &s, bus_counter(t, "bus.cmd_future_epoch") == 1);
    n = command_msg(buf, sizeof buf, E, UINT64_MAX, 2, 0.9, 10 * DT_NS_PER_S);
    issue_raw(&s, buf, n, 0);
    UNTIL(t, &s, bus_counter(t, "bus.cmd_seq_jump") == 1);
    n = command_msg(buf, sizeof buf, E + 5, 64, 2, 0.9, 10 * DT_NS_PER_S);
    issue_raw(&s, buf, n, 0);
    UNTIL(t, &s, bus_counter(t, "bus.cmd_seq_jump") == 2);
    n = command_msg(buf, sizeof buf, E + 5, 1, 2, 0.7, 10 * DT_NS_PER_S);
    issue_raw(&s, buf, n, 0); /* a newer epoch: taken */
    UNTIL(t, &s, s.n_acks >= 2);
    n = command_msg(buf, sizeof buf, E, 2, 3, 0.6, 10 * DT_NS_PER_S);
    issue_raw(&s, buf, n, 0); /* the real one's: still taken */
    UNTIL(t, &s, s.n_acks >= 3);
    assert_int_equal(s.acks[2].seq, 3);
    assert_int_equal(s.acks[2].decision, DT_DISP_SENT);

    /* INT64_MIN as issue time (hand-written: the encoder refuses it) */
    n = command_msg(buf, sizeof buf, E, 3, 4, 0.6, 10 * DT_NS_PER_S);
    int64_t lo = INT64_MIN;
    memcpy(buf + DT_BUSWIRE_HEADER + 8, &lo, 8);
    issue_raw(&s, buf, n, 0);
    UNTIL(t, &s, bus_counter(t, "bus.cmd_bad.bad_time") == 1);
    n = command_msg(buf, sizeof buf, E, 4, 5, 0.6, 10 * DT_NS_PER_S);
    double nan = NAN;
    memcpy(buf + DT_BUSWIRE_HEADER + 24, &nan, 8);
    issue_raw(&s, buf, n, 0);
    UNTIL(t, &s, bus_counter(t, "bus.cmd_bad.not_finite") == 1);
    assert_int_equal(bus_counter(t, "bus.cmd_bad_records"), 2);
    assert_int_equal(bus_counter(t, "bus.cmd_malformed"), 0);
    /* two records whose command numbers fall (20, then 19): the second's
     * ack could not be told from the first's; skipped */
    {
        dt_buswire_header h2 = {DT_BUSWIRE_VERSION, DT_BUSWIRE_COMMANDS, 2, E, 1, 5};
        dt_time t0 = 1000 * DT_NS_PER_S;
        dt_buswire_command two[2] = {{20, t0, t0 + 10 * DT_NS_PER_S, 0.6, 0, 0},
                                     {19, t0, t0 + 10 * DT_NS_PER_S, 0.7, 0, 0}};
        n = dt_buswire_encode_commands(buf, sizeof buf, &h2, two, 2);
        assert_true(n > 0);
    }
    issue_raw(&s, buf, n, 0);
    UNTIL(t, &s, bus_counter(t, "bus.cmd_record_order") == 1 && s.n_acks >= 4);
    assert_int_equal(s.acks[3].seq, 20);
    /* 61 s to carry it out: more than deadline_max (60 s) */
    n = command_msg(buf, sizeof buf, E, 6, 6, 0.6, 61 * DT_NS_PER_S);
    issue_raw(&s, buf, n, 0);
    UNTIL(t, &s, s.n_acks >= 5);
    assert_int_equal(s.acks[4].seq, 6);
    assert_int_equal(s.acks[4].decision, DT_DISP_REFUSED);
    assert_int_equal(s.acks[4].status, DT_ERANGE);
    assert_int_equal(bus_counter(t, "bus.cmd_deadline_too_far"), 1);
    /* issued 30 s later than it can have been (faster than the fastest):
     * refused; one such message does not move the epoch's offset */
    n = command_at(buf, sizeof buf, E, 7, 7, 0.6, 1030 * DT_NS_PER_S, 10 * DT_NS_PER_S);
    issue_raw(&s, buf, n, 0);
    UNTIL(t, &s, s.n_acks >= 6);
    assert_int_equal(s.acks[5].decision, DT_DISP_REFUSED);
    assert_int_equal(bus_counter(t, "bus.cmd_clock_jump"), 1);
    /* held back 100 s on the way (issued 100 s before the others' pace):
     * its 10 s are gone; a fresh-looking deadline is not given */
    n = command_at(buf, sizeof buf, E, 8, 8, 0.6, 900 * DT_NS_PER_S, 10 * DT_NS_PER_S);
    issue_raw(&s, buf, n, 0);
    UNTIL(t, &s, s.n_acks >= 7);
    assert_int_equal(s.acks[6].seq, 8);
    assert_int_equal(s.acks[6].decision, DT_DISP_EXPIRED);
    /* four values reached the sink: the first, the forged newer epoch's,
     * the real epoch's second, and command 20 */
    dt_command out[8];
    assert_int_equal(dt_memory_sink_read(dt_twin_io(t), 0, out, 8), 4);
    dt_twin_destroy(t);
    issuer_stop(&s);
    dtt_broker_stop(&b);
}

/* Topics: no issuer level, one too many, a signal the twin does not accept,
 * an issuer name that is not a name: each counted, never acked. Two
 * issuers on one signal: their numbers do not interfere, each gets its own
 * acks on its own topic, numbered from 1. A seventeenth issuer: refused. */
static void test_topics_and_issuers(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    issuer s;
    issuer_start(&s, b.port);
    uint8_t buf[256];
    const uint32_t E = wall_epoch_now();
    dt_twin *t = receiver(&b, NULL);
    assert_int_equal(dt_twin_start(t, mono()), 0);
    UNTIL(t, &s, s.contract[0] != '\0');
    size_t n = command_msg(buf, sizeof buf, E, 1, 1, 0.5, 10 * DT_NS_PER_S);
    issue_on(&s, "cmd/valve", buf, n, 0);
    issue_on(&s, "cmd/valve/a/b", buf, n, 0);
    issue_on(&s, "cmd/valve/a.b", buf, n, 0);
    issue_on(&s, "cmd/pump/a", buf, n, 0);
    UNTIL(t, &s, bus_counter(t, "bus.cmd_bad_topic") == 3 &&
                     bus_counter(t, "bus.cmd_not_accepted") == 1);
    issue_on(&s, "cmd/valve/a", buf, n, 0);
    issue_on(&s, "cmd/valve/b", buf, n, 0);
    UNTIL(t, &s, s.n_acks >= 2);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(s.acks[i].seq, 1);
        assert_int_equal(s.acks[i].decision, DT_DISP_SENT);
        assert_int_equal(s.ack_msg_seq[i], 1);
    }
    assert_true(strcmp(s.ack_of[0], s.ack_of[1]) != 0);
    for (int k = 2; k < 17; k++) {
        char rest[64];
        snprintf(rest, sizeof rest, "cmd/valve/i%d", k);
        issue_on(&s, rest, buf, n, 0);
    }
    UNTIL(t, &s, bus_counter(t, "bus.cmd_issuers_full") == 1);
    assert_int_equal(bus_counter(t, "bus.cmd_submitted"), 16);
    dt_twin_destroy(t);
    issuer_stop(&s);
    dtt_broker_stop(&b);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_command_after_stop_refused_and_acked),
    cmocka_unit_test(test_command_before_start_waits),
    cmocka_unit_test(test_forged_extremes),
    cmocka_unit_test(test_topics_and_issuers),
};

DTT_MAIN(tests)
