/* Commands between twins over the bus: a receiving twin that accepts the
 * commanded signal "valve" on dt/v1/r/rcv/cmd/valve/{issuer}, against a
 * real broker (started by the test) and a plain libmosquitto client that
 * issues commands and reads the acks on dt/v1/r/rcv/ack/{issuer}. Each refusal is counted
 * under the bus counters (bus.cmd_*); each command handed to the twin is
 * decided by its dispatcher and acked with the issuer's seq. Bounded waits
 * on counters and messages, never timings. */
#define _DEFAULT_SOURCE /* before any system header: kill, mkdtemp, nanosleep */
#include <poll.h>
#include <stdlib.h>
#include <time.h>

#include <mosquitto.h>

#include "broker_fixture.h"
#include "test_util.h"

#include "dtwin/dtwin.h"

#include "bus_twins.h"

#include "bus_issuer.h"

static void test_receiver_takes_refuses_and_acks(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    issuer s;
    issuer_start(&s, b.port);
    uint8_t buf[256];
    const uint32_t E = wall_epoch_now();
    /* a retained command left on the topic before the twin starts: stale */
    size_t n = command_msg(buf, sizeof buf, E - 2, 1, 100, 0.1, DT_NS_PER_S);
    issue_raw(&s, buf, n, 1);

    dt_twin *t = receiver(&b, NULL);
    assert_int_equal(dt_twin_start(t, mono()), 0);
    UNTIL(t, &s, bus_counter(t, "bus.cmd_retained") >= 1 && s.contract[0] != '\0');
    /* the contract lists the accepted signal with its limits */
    char flat[sizeof s.contract];
    size_t k = 0;
    for (const char *c = s.contract; *c != '\0'; c++)
        if (*c != ' ' && *c != '\t' && *c != '\n')
            flat[k++] = *c;
    flat[k] = '\0';
    assert_non_null(strstr(flat, "\"accept\":[{\"signal\":\"valve\""));
    assert_non_null(strstr(flat, "\"deadline_max\":60,\"min\":0,\"max\":1}"));
    assert_int_equal(bus_counter(t, "bus.cmd_submitted"), 0);

    /* a command in time: handed to the twin, sent, acked with its seq */
    n = command_msg(buf, sizeof buf, E, 1, 41, 0.5, 10 * DT_NS_PER_S);
    issue_raw(&s, buf, n, 0);
    UNTIL(t, &s, s.n_acks >= 1);
    assert_int_equal(s.acks[0].seq, 41);
    assert_int_equal(s.acks[0].decision, DT_DISP_SENT);
    assert_int_equal(s.acks[0].status, 0);
    dt_command out[4];
    assert_int_equal(dt_memory_sink_read(dt_twin_io(t), 0, out, 4), 1);
    assert_close(out[0].value, 0.5, 0, 1e-12);
    assert_int_equal(DT_ORIGIN_KIND(out[0].origin), DT_ORIGIN_REMOTE);

    /* above the limit: clamped by the dispatcher, the ack says so */
    n = command_msg(buf, sizeof buf, E, 2, 42, 3.0, 10 * DT_NS_PER_S);
    issue_raw(&s, buf, n, 0);
    UNTIL(t, &s, s.n_acks >= 2);
    assert_int_equal(s.acks[1].seq, 42);
    assert_int_equal(s.acks[1].decision, DT_DISP_SENT | DT_DISP_CLAMPED);

    /* the same message again (a QoS 1 redelivery, a replay): a duplicate */
    issue_raw(&s, buf, n, 0);
    UNTIL(t, &s, bus_counter(t, "bus.cmd_duplicate") >= 1);
    /* an older epoch: stale */
    n = command_msg(buf, sizeof buf, E - 1, 9, 43, 0.2, 10 * DT_NS_PER_S);
    issue_raw(&s, buf, n, 0);
    UNTIL(t, &s, bus_counter(t, "bus.cmd_stale_epoch") >= 1);
    /* no time to carry it out (deadline = issued): refused, acked expired */
    n = command_msg(buf, sizeof buf, E, 3, 44, 0.2, 0);
    issue_raw(&s, buf, n, 0);
    UNTIL(t, &s, s.n_acks >= 3);
    assert_int_equal(s.acks[2].seq, 44);
    assert_int_equal(s.acks[2].decision, DT_DISP_EXPIRED);
    assert_int_equal(bus_counter(t, "bus.cmd_expired"), 1);
    /* malformed: garbage, and a record whose deadline is before its issue
     * time (written by hand: the encoder refuses it), counted by reason */
    issue_raw(&s, "garbage", 7, 0);
    UNTIL(t, &s, bus_counter(t, "bus.cmd_bad.short") >= 1);
    n = command_msg(buf, sizeof buf, E, 4, 45, 0.2, DT_NS_PER_S);
    int64_t early = 1;
    memcpy(buf + DT_BUSWIRE_HEADER + 16, &early, 8); /* t_deadline, little-endian host */
    issue_raw(&s, buf, n, 0);
    UNTIL(t, &s, bus_counter(t, "bus.cmd_bad.deadline_before_issued") >= 1);
    assert_int_equal(bus_counter(t, "bus.cmd_malformed"), 1);
    assert_int_equal(bus_counter(t, "bus.cmd_bad_records"), 1);

    /* nothing of that reached the sink; two acks of decisions, one expired */
    assert_int_equal(dt_memory_sink_read(dt_twin_io(t), 0, out, 4), 1);
    assert_int_equal(bus_counter(t, "bus.cmd_submitted"), 2);
    assert_int_equal(bus_counter(t, "bus.acks_published"), 3);
    assert_int_equal(s.n_acks, 3);
    dt_twin_destroy(t);
    issuer_stop(&s);
    dtt_broker_stop(&b);
}

static void test_accept_refuses_what_is_not_commanded(void **state)
{
    (void)state;
    static const char doc[] =
        "{\"dtwin\":1,\"name\":\"rcv\",\"assets\":[{\"id\":\"p\"}],\"signals\":["
        "{\"id\":\"y\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\","
        " \"role\":\"measured\",\"noise\":{\"std\":0.1}}],"
        BUS("1883") ",\"accept\":[{\"signal\":\"y\",\"deadline_max\":1}]}}";
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_twin *t = NULL;
    dt_diag d;
    assert_int_equal(dt_twin_load_json(doc, strlen(doc), &o, &t, &d), DT_EPARSE);
    assert_non_null(strstr(d.message, "y is not a commanded signal"));
    assert_non_null(strstr(d.path, "bus.accept[0]"));
    /* a deadline bound is required, never "none" */
    char doc2[sizeof doc + 64];
    snprintf(doc2, sizeof doc2, "%s", doc);
    char *at = strstr(doc2, ",\"deadline_max\":1");
    memmove(at, at + 17, strlen(at + 17) + 1);
    assert_int_equal(dt_twin_load_json(doc2, strlen(doc2), &o, &t, &d), DT_EPARSE);
    assert_non_null(strstr(d.message, "deadline_max: required"));
}

/* the flight log in memory */
typedef struct membuf {
    uint8_t *p;
    size_t len, cap, pos;
} membuf;

static int mem_write(void *user, const void *data, size_t len)
{
    membuf *m = user;
    if (m->len + len > m->cap) {
        m->cap = (m->len + len) * 2;
        m->p = realloc(m->p, m->cap);
        assert_non_null(m->p);
    }
    memcpy(m->p + m->len, data, len);
    m->len += len;
    return 0;
}

static int mem_read(void *user, void *data, size_t len)
{
    membuf *m = user;
    if (m->pos == m->len)
        return DT_EEMPTY;
    if (m->len - m->pos < len)
        return DT_EPARSE;
    memcpy(data, m->p + m->pos, len);
    m->pos += len;
    return 0;
}

typedef struct trail {
    size_t n;
    uint64_t seq[16];
    double value[16];
    uint16_t origin[16];
} trail;

static void on_cmd(void *user, const dt_event *ev)
{
    trail *tr = user;
    if (ev->kind == DT_EVENT_COMMAND && tr->n < 16) {
        tr->seq[tr->n] = ev->u.command.cmd.seq;
        tr->value[tr->n] = ev->u.command.cmd.value;
        tr->origin[tr->n++] = ev->u.command.cmd.origin;
    }
}

static void watch(dt_twin *t, trail *tr)
{
    dt_observer o = DT_OBSERVER_INIT;
    o.mask = DT_EVENT_BIT(DT_EVENT_COMMAND);
    o.on_event = on_cmd;
    o.user = tr;
    assert_int_equal(dt_twin_observe(t, &o), 0);
}

/* Commands from other twins are in the flight log: a replay (no broker,
 * no connection) decides the same commands, with the same numbers and the
 * remote origin, at the same steps. */
static void test_remote_commands_replay(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    issuer s;
    issuer_start(&s, b.port);
    uint8_t buf[256];
    const uint32_t E = wall_epoch_now();
    membuf log = {0};
    trail live = {0}, again = {0};
    dt_twin *t = receiver(&b, NULL);
    watch(t, &live);
    assert_int_equal(dt_twin_record(t, mem_write, &log), 0);
    assert_int_equal(dt_twin_start(t, mono()), 0);
    UNTIL(t, &s, s.contract[0] != '\0');
    dt_signal_id valve;
    assert_int_equal(dt_model_find_signal(dt_twin_model(t), "valve", &valve), 0);
    dt_command host = {.signal = valve, .t_issued = mono(), .value = 0.25};
    host.t_deadline = host.t_issued + 10 * DT_NS_PER_S;
    assert_int_equal(dt_twin_submit(t, &host), 0);
    for (uint64_t k = 1; k <= 3; k++) {
        size_t n = command_msg(buf, sizeof buf, E, k, 10 + k, 0.1 * (double)k,
                               10 * DT_NS_PER_S);
        issue_raw(&s, buf, n, 0);
        UNTIL(t, &s, s.n_acks >= k);
    }
    dt_twin_destroy(t);
    assert_int_equal(live.n, 4);

    dtt_broker_stop(&b); /* a replay never connects */
    char port[16], bus[256], doc[4096];
    snprintf(port, sizeof port, "%d", b.port);
    snprintf(bus, sizeof bus, BUS("%s"), port);
    snprintf(doc, sizeof doc, rcv_fmt, bus);
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    o.replay = 1;
    dt_diag d;
    assert_int_equal(dt_twin_load_json(doc, strlen(doc), &o, &t, &d), 0);
    watch(t, &again);
    int rc = dt_twin_replay(t, mem_read, &log, NULL, NULL);
    if (rc != 0)
        fail_msg("replay: %s (%s)", dt_strerror(rc), dt_twin_errmsg(t));
    assert_int_equal(again.n, live.n);
    for (size_t i = 0; i < live.n; i++) {
        assert_int_equal(again.seq[i], live.seq[i]);
        assert_true(again.value[i] == live.value[i]);
        assert_int_equal(again.origin[i], live.origin[i]);
    }
    assert_int_equal(DT_ORIGIN_KIND(again.origin[3]), DT_ORIGIN_REMOTE);
    dt_twin_destroy(t);
    issuer_stop(&s);
    free(log.p);
}

/* Twin to twin: an issuer twin's "twin" sink commands the receiver's valve
 * through the broker; the receiver's dispatcher decides (clamps one), the
 * acks come back to the issuer's sink, which reports the applied ones. */
static const char issuer_fmt[] =
    "{\"dtwin\":1,\"name\":\"iss\",\"assets\":[{\"id\":\"site\"}],\"signals\":["
    "{\"id\":\"flow\",\"asset\":\"site\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
    " \"role\":\"measured\",\"noise\":{\"std\":0.1}},"
    "{\"id\":\"open\",\"asset\":\"site\",\"quantity\":\"dimensionless\",\"unit\":\"%%\","
    " \"role\":\"commanded\"}],"
    "\"sources\":[{\"id\":\"m\",\"kind\":\"memory\",\"timeout\":5,"
    "  \"mapping\":[{\"native\":\"flow\",\"signal\":\"flow\"}]}],"
    "\"sinks\":[{\"id\":\"to_rcv\",\"kind\":\"twin\",\"twin\":\"rcv\","
    "  \"mapping\":[{\"signal\":\"open\",\"native\":\"valve\",\"unit\":\"1\"}]}],"
    "\"dispatcher\":{\"max_data_age\":5,\"safe\":{\"open\":0}},"
    "%s},\"loop\":{\"period\":0.01}}";

static void test_twin_commands_twin(void **state)
{
    (void)state;
    dtt_broker b;
    memset(&b, 0, sizeof b);
    assert_int_equal(dtt_broker_start(&b, NULL), 0);
    char port[16], bus[256], doc[4096];
    snprintf(port, sizeof port, "%d", b.port);
    snprintf(bus, sizeof bus, BUS("%s"), port);
    snprintf(doc, sizeof doc, issuer_fmt, bus);
    dt_twin *iss = load(doc, NULL), *rcv = receiver(&b, NULL);
    dt_twin *both[2] = {iss, rcv};
    assert_int_equal(dt_twin_start(iss, mono()), 0);
    assert_int_equal(dt_twin_start(rcv, mono()), 0);
    dt_signal_id open;
    assert_int_equal(dt_model_find_signal(dt_twin_model(iss), "open", &open), 0);
    /* both connected and subscribed before the first command */
    for (int i = 0; i < 3000 && (bus_counter(iss, "mqtt.connects") == 0 ||
                                 bus_counter(rcv, "mqtt.connects") == 0);
         i++)
        turn(both, 2);
    for (int i = 0; i < 20; i++)
        turn(both, 2);
    const double pct[2] = {40.0, 150.0}; /* 0.4, and 1.5 clamped to 1 */
    uint64_t reported = 0;
    for (int k = 0; k < 2; k++) {
        dt_command c = {.signal = open, .t_issued = mono(), .value = pct[k]};
        c.t_deadline = c.t_issued + 5 * DT_NS_PER_S;
        assert_int_equal(dt_twin_submit(iss, &c), 0);
        for (int i = 0; i < 3000 && sink_counter(iss, "acks_applied") + sink_counter(iss, "acks_failed") <= reported; i++) {
            turn(both, 2);
            for (int j = 0; j < 2; j++) {
                (void)dt_memory_source_push(dt_twin_io(both[j]), 0, "flow", mono(), 1.0);
                assert_int_equal(dt_twin_step(both[j], mono()), 0);
            }
        }
        reported = sink_counter(iss, "acks_applied") + sink_counter(iss, "acks_failed");
        assert_int_equal(reported, (uint64_t)k + 1);
    }
    assert_int_equal(sink_counter(iss, "published"), 2);
    assert_int_equal(sink_counter(iss, "acks_applied"), 2);
    assert_int_equal(sink_counter(iss, "acks_altered"), 1); /* the clamped one */
    assert_int_equal(bus_counter(rcv, "bus.cmd_submitted"), 2);
    dt_command out[8];
    size_t got = dt_memory_sink_read(dt_twin_io(rcv), 0, out, 8);
    assert_true(got >= 2);
    assert_close(out[got - 2].value, 0.4, 0, 1e-12); /* % converted to 1 by the issuer */
    assert_close(out[got - 1].value, 1.0, 0, 1e-12);
    dt_twin_destroy(iss);
    dt_twin_destroy(rcv);
    dtt_broker_stop(&b);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_receiver_takes_refuses_and_acks),
    cmocka_unit_test(test_accept_refuses_what_is_not_commanded),
    cmocka_unit_test(test_remote_commands_replay),
    cmocka_unit_test(test_twin_commands_twin),
};

DTT_MAIN(tests)
