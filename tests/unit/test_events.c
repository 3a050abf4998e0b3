/* The twin's event stream and the dispatcher's verify hook: every belief
 * update and every command with its outcome reaches an observer (more than
 * the audit ring holds in one step), a full queue counts what it loses,
 * safe-state changes and counter snapshots arrive in order, commands carry
 * their origin, and the verify hook refuses before any rule. */
#include <pthread.h>
#include <stdlib.h>

#include "test_util.h"

#include "alloc_counter.h"
#include "dtwin/dtwin.h"

#include "events_twin.h"

static dt_twin *load(const dt_allocator *a)
{
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    o.allocator = a;
    dt_twin *t = NULL;
    dt_diag d;
    int rc = dt_twin_load_json(twin_doc, sizeof twin_doc - 1, &o, &t, &d);
    if (rc)
        print_error("%s\n", d.message);
    assert_int_equal(rc, 0);
    return t;
}

/* Everything an observer saw. */
typedef struct seen {
    uint64_t beliefs, commands, enter, exit, counters, last_seq, seq_gaps;
    uint64_t by_origin[4];
    uint32_t decisions_or;
    uint64_t first_cmd_seq, last_cmd_seq, cmd_seq_gaps;
    double last_x0, last_p00;
    uint32_t enter_reasons;
    dt_event_counters last_counters;
    dt_twin *twin;
    int belief_matches; /* x, P given equal the estimator's, at each event */
} seen;

static void on_event(void *user, const dt_event *ev)
{
    seen *s = user;
    if (ev->seq != s->last_seq + 1)
        s->seq_gaps++;
    s->last_seq = ev->seq;
    switch (ev->kind) {
    case DT_EVENT_BELIEF: {
        s->beliefs++;
        assert_non_null(ev->u.belief.x);
        assert_non_null(ev->u.belief.P);
        assert_int_equal(ev->u.belief.n, 2);
        const dt_kf *kf = dt_est_kf(dt_twin_estimator(s->twin));
        s->belief_matches += ev->u.belief.x[0] == dt_kf_state(kf)[0] &&
                             ev->u.belief.P[3] == dt_kf_cov(kf)[3];
        s->last_x0 = ev->u.belief.x[0];
        s->last_p00 = ev->u.belief.P[0];
        break;
    }
    case DT_EVENT_COMMAND: {
        const dt_audit *a = &ev->u.command;
        s->commands++;
        s->decisions_or |= a->decision;
        s->by_origin[DT_ORIGIN_KIND(a->cmd.origin) >> 12]++;
        if (s->first_cmd_seq == 0)
            s->first_cmd_seq = a->cmd.seq;
        else if (a->cmd.seq != s->last_cmd_seq + 1)
            s->cmd_seq_gaps++;
        s->last_cmd_seq = a->cmd.seq;
        break;
    }
    case DT_EVENT_SAFE_ENTER:
        if (getenv("DTT_TRACE"))
            fprintf(stderr, "enter at %lld reasons %x age %g\n", (long long)ev->t,
                    ev->u.safe.reasons, ev->u.safe.age_s);
        s->enter++;
        s->enter_reasons |= ev->u.safe.reasons;
        break;
    case DT_EVENT_SAFE_EXIT:
        if (getenv("DTT_TRACE"))
            fprintf(stderr, "exit at %lld\n", (long long)ev->t);
        s->exit++;
        assert_int_equal(ev->u.safe.reasons, 0);
        break;
    case DT_EVENT_COUNTERS:
        s->counters++;
        s->last_counters = ev->u.counters;
        break;
    default:
        fail_msg("unknown event kind %u", ev->kind);
    }
}


/* 200 host commands in one step: the audit ring keeps 64, the observer
 * gets all 200 with their outcome, in order, numbered without a gap. */
static void test_observer_sees_every_command(void **state)
{
    (void)state;
    dt_twin *t = load(NULL);
    seen s;
    memset(&s, 0, sizeof s);
    s.twin = t;
    dt_observer obs = DT_OBSERVER_INIT;
    obs.mask = DT_EVENT_BIT(DT_EVENT_COMMAND);
    obs.on_event = on_event;
    obs.user = &s;
    assert_int_equal(dt_twin_observe(t, &obs), 0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    dt_io *io = dt_twin_io(t);
    assert_int_equal(dt_memory_source_push(io, 0, "level", 0, 0.5), 0);
    assert_int_equal(dt_twin_step(t, 10 * MS), 0);
    drain_sink(t);
    uint64_t before = s.commands;
    for (int i = 0; i < 200; i++) {
        dt_command c = {.signal = 3, .t_issued = 10 * MS, .t_deadline = 100 * MS,
                        .value = 0.01 * i, .origin = 0x1234, .authority = 77};
        assert_int_equal(dt_twin_submit(t, &c), 0);
    }
    assert_int_equal(dt_memory_source_push(io, 0, "level", 10 * MS, 0.5), 0);
    assert_int_equal(dt_twin_step(t, 20 * MS), 0);
    /* 200 host commands and the PID's one */
    assert_int_equal(s.commands - before, 201);
    assert_int_equal(s.seq_gaps, 0);
    assert_int_equal(s.cmd_seq_gaps, 0);
    assert_true(s.by_origin[0] >= 200);           /* host: what the host wrote is overwritten */
    assert_int_equal(s.by_origin[1], s.commands - s.by_origin[0] - s.by_origin[2]);
    assert_true(s.by_origin[1] >= 2);             /* the PID, one per step */
    dt_audit au[256];
    assert_int_equal(dt_twin_audit(t, au, 256), 64); /* what the ring holds */
    assert_int_equal(au[63].cmd.seq, s.last_cmd_seq);
    assert_int_equal(au[0].cmd.authority, 0);
    dt_twin_stats st;
    dt_twin_stats_get(t, &st);
    assert_int_equal(st.commands, s.commands);
    assert_int_equal(st.events_lost, 0);
    dt_twin_destroy(t);
}

/* A queue of 16 events takes 16 of a step's 201 commands; the rest are
 * counted lost on the queue and in the twin's stats, and the gap shows in
 * the sequence numbers the reader sees. */
static void test_queue_overflow_counted(void **state)
{
    (void)state;
    dt_twin *t = load(NULL);
    dt_event_queue *q = NULL;
    assert_int_equal(dt_twin_event_queue(t, 10, DT_EVENT_BIT(DT_EVENT_COMMAND), 0, &q), 0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    dt_io *io = dt_twin_io(t);
    for (int i = 0; i < 200; i++) {
        dt_command c = {.signal = 3, .t_deadline = 100 * MS, .value = 1};
        assert_int_equal(dt_twin_submit(t, &c), 0);
    }
    assert_int_equal(dt_memory_source_push(io, 0, "level", 0, 0.5), 0);
    assert_int_equal(dt_twin_step(t, 10 * MS), 0);
    drain_sink(t);
    dt_event ev[64];
    size_t n = dt_event_queue_read(q, ev, 64);
    assert_int_equal(n, 16); /* 10 rounded up to a power of two */
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ev[i].kind, DT_EVENT_COMMAND);
        assert_int_equal(ev[i].seq, i + 1);
    }
    dt_twin_stats st;
    dt_twin_stats_get(t, &st);
    uint64_t offered = st.commands;
    assert_true(offered >= 201);
    assert_int_equal(dt_event_queue_lost(q), offered - 16);
    assert_int_equal(st.events_lost, offered - 16);
    /* drained: the next step's events fit, numbered after the lost ones */
    assert_int_equal(dt_memory_source_push(io, 0, "level", 10 * MS, 0.5), 0);
    assert_int_equal(dt_twin_step(t, 20 * MS), 0);
    n = dt_event_queue_read(q, ev, 64);
    assert_true(n >= 1);
    assert_int_equal(ev[0].seq, offered + 1);
    assert_int_equal(dt_event_queue_read(q, ev, 64), 0);
    assert_int_equal(dt_event_queue_read(NULL, ev, 64), 0);
    assert_int_equal(dt_event_queue_lost(NULL), 0);
    dt_twin_destroy(t);
}

/* Every applied sample is one belief event carrying the posterior the
 * estimator holds at that moment; a queue gets the same events without the
 * pointers. */
static void test_belief_events(void **state)
{
    (void)state;
    dt_twin *t = load(NULL);
    seen s;
    memset(&s, 0, sizeof s);
    s.twin = t;
    dt_observer obs = DT_OBSERVER_INIT;
    obs.mask = DT_EVENT_BIT(DT_EVENT_BELIEF);
    obs.on_event = on_event;
    obs.user = &s;
    assert_int_equal(dt_twin_observe(t, &obs), 0);
    dt_event_queue *q = NULL;
    assert_int_equal(dt_twin_event_queue(t, 4096, DT_EVENT_BIT(DT_EVENT_BELIEF), 0, &q), 0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    dt_io *io = dt_twin_io(t);
    for (int k = 1; k <= 300; k++) {
        dt_time now = (dt_time)k * 10 * MS;
        assert_int_equal(dt_memory_source_push(io, 0, "level", now - 10 * MS, 1.0), 0);
        assert_int_equal(dt_twin_step(t, now), 0);
        drain_sink(t);
    }
    dt_twin_stats st;
    dt_twin_stats_get(t, &st);
    assert_true(st.estimator.updates > 250);
    assert_int_equal(s.beliefs, st.estimator.updates);
    assert_int_equal(s.belief_matches, s.beliefs);
    dt_event ev[512];
    size_t n = 0, got;
    uint64_t seq = 0;
    while ((got = dt_event_queue_read(q, ev, 512)) > 0)
        for (size_t i = 0; i < got; i++, n++) {
            assert_int_equal(ev[i].kind, DT_EVENT_BELIEF);
            assert_null(ev[i].u.belief.x);
            assert_null(ev[i].u.belief.P);
            assert_int_equal(ev[i].u.belief.signal, 0);
            assert_int_equal(ev[i].seq, ++seq);
            assert_true(ev[i].u.belief.t_valid <= ev[i].t);
        }
    assert_int_equal(n, s.beliefs);
    dt_twin_destroy(t);
}

/* No data: the latency rule engages the safe state (reason: latency);
 * data: it leaves; counters every 5 steps agree with the stats. */
static void test_safe_and_counter_events(void **state)
{
    (void)state;
    dt_twin *t = load(NULL);
    seen s;
    memset(&s, 0, sizeof s);
    s.twin = t;
    dt_observer obs = DT_OBSERVER_INIT;
    obs.counters_every = 5;
    obs.on_event = on_event;
    obs.user = &s;
    assert_int_equal(dt_twin_observe(t, &obs), 0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    dt_io *io = dt_twin_io(t);
    for (int k = 1; k <= 50; k++) {
        dt_time now = (dt_time)k * 10 * MS;
        if (k > 20)
            assert_int_equal(dt_memory_source_push(io, 0, "level", now - 10 * MS, 1.0), 0);
        assert_int_equal(dt_twin_step(t, now), 0);
        drain_sink(t);
        if (k == 20) {
            assert_int_equal(s.enter, 1);
            assert_int_equal(s.exit, 0);
            assert_true(s.enter_reasons & DT_SAFE_LATENCY);
        }
    }
    /* a reading far from the prior is disputed after the outage, which may
     * hold the safe state again: every entry has its exit but the last */
    assert_true(s.enter >= 1);
    assert_true(s.exit >= 1);
    assert_int_equal(s.counters, 10);
    assert_int_equal(s.seq_gaps, 0);
    dt_twin_stats st;
    dt_twin_stats_get(t, &st);
    assert_int_equal(s.last_counters.cycles, 50);
    assert_int_equal(s.last_counters.commands, st.commands);
    assert_int_equal(s.last_counters.sent, st.sent);
    assert_int_equal(s.last_counters.safe_entries, s.enter);
    assert_int_equal(s.enter - s.exit, (uint64_t)st.safe_state);
    assert_int_equal(s.last_counters.updates, st.estimator.updates);
    assert_int_equal(s.last_counters.accepted, st.ingest.total.accepted);
    /* the safe state's own commands carry the dispatcher's origin */
    assert_true(s.by_origin[2] >= 1);
    assert_int_equal(s.beliefs, st.estimator.updates);
    dt_twin_destroy(t);
}

/* The verify hook: refuses before any rule (even an expired command is
 * refused, not expired), grants authority, never sees the safe state's
 * commands. */
typedef struct verifier {
    uint64_t calls, dispatcher_calls;
    double max_value;
} verifier;

static int verify(void *user, const dt_command *cmd, dt_time now, uint16_t *authority)
{
    (void)now;
    verifier *v = user;
    v->calls++;
    if (DT_ORIGIN_KIND(cmd->origin) == DT_ORIGIN_DISPATCHER)
        v->dispatcher_calls++;
    if (!(cmd->value <= v->max_value))
        return DT_ERANGE;
    *authority = DT_ORIGIN_KIND(cmd->origin) == DT_ORIGIN_HOST ? 7 : 3;
    return 0;
}

static void test_verify_hook(void **state)
{
    (void)state;
    dt_twin *t = load(NULL);
    verifier v = {0, 0, 2.5};
    assert_int_equal(dt_twin_set_verify(t, verify, &v), 0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    assert_int_equal(dt_twin_set_verify(t, verify, &v), DT_ESTATE);
    dt_io *io = dt_twin_io(t);
    /* the first step: no data yet, the safe state: its commands skip the hook */
    assert_int_equal(dt_twin_step(t, 10 * MS), 0);
    drain_sink(t);
    dt_command ok = {.signal = 3, .t_deadline = DT_NS_PER_S, .value = 1.5};
    dt_command big = {.signal = 3, .t_deadline = DT_NS_PER_S, .value = 3.5};
    dt_command late_big = {.signal = 3, .t_deadline = 1, .value = 3.5};
    assert_int_equal(dt_twin_submit(t, &ok), 0);
    assert_int_equal(dt_twin_submit(t, &big), 0);
    assert_int_equal(dt_twin_submit(t, &late_big), 0);
    assert_int_equal(dt_memory_source_push(io, 0, "level", 10 * MS, 1.0), 0);
    assert_int_equal(dt_twin_step(t, 20 * MS), 0);
    dt_command got[16];
    size_t n = dt_memory_sink_read(io, 0, got, 16);
    dt_audit au[8];
    size_t na = dt_twin_audit(t, au, 8);
    assert_true(na >= 4);
    /* the three host commands, then the PID's */
    size_t h = 0;
    while (h < na && DT_ORIGIN_KIND(au[h].cmd.origin) != DT_ORIGIN_HOST)
        h++;
    assert_true(h + 3 <= na);
    assert_int_equal(au[h].decision & (DT_DISP_SENT | DT_DISP_REFUSED), DT_DISP_SENT);
    assert_int_equal(au[h].cmd.authority, 7);
    assert_int_equal(au[h + 1].decision, DT_DISP_REFUSED);
    assert_int_equal(au[h + 1].sink_status, DT_ERANGE);
    assert_int_equal(au[h + 2].decision, DT_DISP_REFUSED); /* refused before expiry */
    if (h + 3 < na) {
        assert_int_equal(DT_ORIGIN_KIND(au[h + 3].cmd.origin), DT_ORIGIN_CONTROLLER);
        assert_int_equal(DT_ORIGIN_INDEX(au[h + 3].cmd.origin), 0);
        /* the PID's command went through the hook too: granted, or refused
         * when it asked for more than 2.5 */
        assert_int_equal(au[h + 3].cmd.authority,
                         au[h + 3].decision == DT_DISP_REFUSED ? 0 : 3);
        assert_true(au[h + 3].requested <= 2.5 || au[h + 3].decision == DT_DISP_REFUSED);
    }
    for (size_t i = 0; i < n; i++)
        assert_true(got[i].value <= 2.5 || got[i].value == 0);
    dt_twin_stats st;
    dt_twin_stats_get(t, &st);
    assert_true(st.refused >= 2); /* the two host commands, maybe PID commands */
    assert_int_equal(v.calls, st.commands - st.safe_entries); /* all but the safe state's */
    assert_int_equal(st.commands, st.sent + st.expired + st.refused + st.sink_errors);
    assert_int_equal(v.dispatcher_calls, 0);
    assert_true(st.safe_entries >= 1);
    dt_twin_destroy(t);
}

/* A hook that refuses everything still leaves the safe state working. */
static int refuse_all(void *user, const dt_command *cmd, dt_time now, uint16_t *authority)
{
    (void)user;
    (void)cmd;
    (void)now;
    (void)authority;
    return DT_EINVAL;
}

/* A hook that answers with a positive number refuses too (only 0 admits),
 * audited as DT_EINVAL. */
static int positive(void *user, const dt_command *cmd, dt_time now, uint16_t *authority)
{
    (void)user;
    (void)cmd;
    (void)now;
    *authority = 9;
    return 1;
}

static void test_verify_positive_refuses(void **state)
{
    (void)state;
    dt_twin *t = load(NULL);
    assert_int_equal(dt_twin_set_verify(t, positive, NULL), 0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    dt_command c = {.signal = 3, .t_deadline = DT_NS_PER_S, .value = 1};
    assert_int_equal(dt_twin_submit(t, &c), 0);
    assert_int_equal(dt_memory_source_push(dt_twin_io(t), 0, "level", 0, 0.0), 0);
    assert_int_equal(dt_twin_step(t, 10 * MS), 0);
    dt_audit au[4];
    size_t n = dt_twin_audit(t, au, 4);
    assert_true(n >= 1);
    assert_int_equal(au[0].decision, DT_DISP_REFUSED);
    assert_int_equal(au[0].sink_status, DT_EINVAL);
    assert_int_equal(au[0].cmd.authority, 0);
    assert_int_equal(dt_memory_sink_read(dt_twin_io(t), 0, (dt_command[4]){{0}}, 4), 0);
    assert_int_equal(dt_twin_set_verify(NULL, positive, NULL), DT_EINVAL);
    dt_twin_destroy(t);
}

static void test_verify_refuses_all_safe_state_still_sent(void **state)
{
    (void)state;
    dt_twin *t = load(NULL);
    assert_int_equal(dt_twin_set_verify(t, refuse_all, NULL), 0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    assert_int_equal(dt_twin_step(t, 10 * MS), 0); /* no data: the safe state */
    dt_command got[4];
    size_t n = dt_memory_sink_read(dt_twin_io(t), 0, got, 4);
    assert_int_equal(n, 1);
    assert_true(got[0].value == 0.0);
    assert_int_equal(got[0].origin, DT_ORIGIN_DISPATCHER);
    dt_twin_stats st;
    dt_twin_stats_get(t, &st);
    assert_int_equal(st.refused, 1); /* the PID's */
    dt_twin_destroy(t);
}

static void test_observer_arguments(void **state)
{
    (void)state;
    dt_twin *t = load(NULL);
    seen s;
    memset(&s, 0, sizeof s);
    dt_observer obs = DT_OBSERVER_INIT;
    obs.on_event = on_event;
    obs.user = &s;
    dt_event_queue *q = (dt_event_queue *)&s;
    assert_int_equal(dt_twin_observe(NULL, &obs), DT_EINVAL);
    assert_int_equal(dt_twin_observe(t, NULL), DT_EINVAL);
    obs.size = sizeof obs - 1;
    assert_int_equal(dt_twin_observe(t, &obs), DT_EABI);
    obs.size = sizeof obs;
    obs.on_event = NULL;
    assert_int_equal(dt_twin_observe(t, &obs), DT_EINVAL);
    obs.on_event = on_event;
    obs.mask = 0;
    assert_int_equal(dt_twin_observe(t, &obs), DT_EINVAL);
    obs.mask = DT_EVENT_BIT(7);
    assert_int_equal(dt_twin_observe(t, &obs), DT_EINVAL);
    obs.mask = DT_EVENT_BIT(DT_EVENT_COUNTERS);
    obs.counters_every = 0;
    assert_int_equal(dt_twin_observe(t, &obs), DT_EINVAL);
    assert_int_equal(dt_twin_event_queue(t, 0, DT_EVENT_ALL, 1, &q), DT_EINVAL);
    assert_null(q);
    assert_int_equal(dt_twin_event_queue(t, DT_EVENT_QUEUE_MAX + 1, DT_EVENT_ALL, 1, &q),
                     DT_EINVAL);
    assert_int_equal(dt_twin_event_queue(t, 8, DT_EVENT_ALL, 0, &q), DT_EINVAL);
    assert_int_equal(dt_twin_event_queue(t, 8, 0, 1, &q), DT_EINVAL);
    assert_int_equal(dt_twin_event_queue(t, 8, DT_EVENT_ALL, 1, NULL), DT_EINVAL);
    obs.counters_every = 1;
    for (int i = 0; i < DT_TWIN_OBSERVERS_MAX - 1; i++)
        assert_int_equal(dt_twin_observe(t, &obs), 0);
    assert_int_equal(dt_twin_event_queue(t, 8, DT_EVENT_ALL, 1, &q), 0);
    assert_int_equal(dt_twin_observe(t, &obs), DT_ELIMIT);
    assert_int_equal(dt_twin_event_queue(t, 8, DT_EVENT_ALL, 1, &q), DT_ELIMIT);
    assert_int_equal(dt_twin_start(t, 0), 0);
    dt_twin_destroy(t);

    t = load(NULL);
    assert_int_equal(dt_twin_start(t, 0), 0);
    assert_int_equal(dt_twin_observe(t, &obs), DT_ESTATE);
    assert_int_equal(dt_twin_event_queue(t, 8, DT_EVENT_ALL, 1, &q), DT_ESTATE);
    dt_twin_destroy(t);

    /* belief events need an estimator */
    static const char plain[] =
        "{\"dtwin\":1,\"name\":\"p\",\"assets\":[{\"id\":\"a\"}],\"signals\":["
        "{\"id\":\"m\",\"asset\":\"a\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\","
        "\"noise\":{\"std\":1}}]}";
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_diag d;
    assert_int_equal(dt_twin_load_json(plain, sizeof plain - 1, &o, &t, &d), 0);
    obs.mask = DT_EVENT_ALL;
    assert_int_equal(dt_twin_observe(t, &obs), DT_EUNSUPPORTED);
    obs.mask = DT_EVENT_ALL & ~DT_EVENT_BIT(DT_EVENT_BELIEF);
    assert_int_equal(dt_twin_observe(t, &obs), 0);
    dt_twin_destroy(t);
}

/* Queues count against the twin's memory budget: with 4 MiB, queues of
 * 4096 events (557 kB each) are accepted until the budget is reached, and
 * the refused one allocates nothing. */
static void test_queue_counts_against_budget(void **state)
{
    (void)state;
    char doc[sizeof twin_doc + 64];
    snprintf(doc, sizeof doc, "{\"memory\":{\"max_bytes\":4194304},%s", twin_doc + 1);
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dtt_counter ctr;
    memset(&ctr, 0, sizeof ctr);
    dt_allocator a = dtt_allocator(&ctr);
    o.allocator = &a;
    dt_twin *t = NULL;
    dt_diag d;
    assert_int_equal(dt_twin_load_json(doc, strlen(doc), &o, &t, &d), 0);
    dt_event_queue *q = NULL;
    int made = 0, rc;
    while ((rc = dt_twin_event_queue(t, 4096, DT_EVENT_ALL, 1, &q)) == 0)
        made++;
    assert_int_equal(rc, DT_ELIMIT);
    assert_null(q);
    assert_true(made >= 1 && made < 7);
    assert_non_null(strstr(dt_twin_errmsg(t), "above its budget of 4 MiB (memory.max_bytes)"));
    long live = ctr.live;
    assert_int_equal(dt_twin_event_queue(t, 4096, DT_EVENT_ALL, 1, &q), DT_ELIMIT);
    assert_int_equal(ctr.live, live);
    /* a small one still fits */
    assert_int_equal(dt_twin_event_queue(t, 16, DT_EVENT_ALL, 1, &q), 0);
    dt_twin_destroy(t);
    assert_int_equal(ctr.live, 0);
}

/* Observers and queues cost nothing on the heap once the twin runs. */
static void test_no_allocation_in_steps(void **state)
{
    (void)state;
    dtt_counter ctr;
    memset(&ctr, 0, sizeof ctr);
    dt_allocator a = dtt_allocator(&ctr);
    dt_twin *t = load(&a);
    seen s;
    memset(&s, 0, sizeof s);
    s.twin = t;
    dt_observer obs = DT_OBSERVER_INIT;
    obs.on_event = on_event;
    obs.user = &s;
    assert_int_equal(dt_twin_observe(t, &obs), 0);
    dt_event_queue *q = NULL;
    assert_int_equal(dt_twin_event_queue(t, 64, DT_EVENT_ALL, 3, &q), 0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    long calls = ctr.calls;
    dt_io *io = dt_twin_io(t);
    dt_event ev[64];
    for (int k = 1; k <= 500; k++) {
        dt_time now = (dt_time)k * 10 * MS;
        if (k % 100 < 60)
            assert_int_equal(dt_memory_source_push(io, 0, "level", now - 5 * MS, 1.0), 0);
        assert_int_equal(dt_twin_step(t, now), 0);
        drain_sink(t);
        (void)dt_event_queue_read(q, ev, 64);
    }
    assert_int_equal(ctr.calls, calls);
    assert_true(s.enter >= 1 && s.exit >= 1 && s.beliefs > 100 && s.counters == 500);
    dt_twin_destroy(t);
    assert_int_equal(ctr.live, 0);
}

/* A reader on another thread drains the queue while the twin steps: every
 * event is read once, in order, or counted lost; nothing else. */
typedef struct reader {
    dt_event_queue *q;
    volatile int stop;
    uint64_t read, disorder, last_seq;
} reader;

static void *read_loop(void *arg)
{
    reader *r = arg;
    dt_event ev[32];
    for (;;) {
        int stopping = __atomic_load_n(&r->stop, __ATOMIC_ACQUIRE);
        size_t n = dt_event_queue_read(r->q, ev, 32);
        for (size_t i = 0; i < n; i++) {
            if (ev[i].seq <= r->last_seq)
                r->disorder++;
            r->last_seq = ev[i].seq;
        }
        r->read += n;
        if (n == 0 && stopping)
            return NULL;
    }
}

static void test_queue_reader_thread(void **state)
{
    (void)state;
    dt_twin *t = load(NULL);
    reader r;
    memset(&r, 0, sizeof r);
    assert_int_equal(dt_twin_event_queue(t, 64, DT_EVENT_ALL, 1, &r.q), 0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, read_loop, &r), 0);
    dt_io *io = dt_twin_io(t);
    for (int k = 1; k <= 3000; k++) {
        dt_time now = (dt_time)k * 10 * MS;
        assert_int_equal(dt_memory_source_push(io, 0, "level", now - 5 * MS, 1.0), 0);
        for (int i = 0; i < k % 40; i++) {
            dt_command c = {.signal = 3, .t_deadline = now + DT_NS_PER_S, .value = 1};
            assert_int_equal(dt_twin_submit(t, &c), 0);
        }
        assert_int_equal(dt_twin_step(t, now), 0);
        drain_sink(t);
    }
    __atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
    assert_int_equal(pthread_join(th, NULL), 0);
    dt_twin_stats st;
    dt_twin_stats_get(t, &st);
    /* every event offered: a counter snapshot per step, the commands, the
     * belief updates, the safe-state entries and their exits */
    uint64_t exits = st.safe_entries - (st.safe_state ? 1 : 0);
    uint64_t offered = st.cycles + st.commands + st.estimator.updates + st.safe_entries + exits;
    assert_int_equal(r.disorder, 0);
    assert_int_equal(r.read + dt_event_queue_lost(r.q), offered);
    assert_true(r.read > 0);
    assert_int_equal(st.events_lost, dt_event_queue_lost(r.q));
    dt_twin_destroy(t);
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_observer_sees_every_command),
        cmocka_unit_test(test_queue_overflow_counted),
        cmocka_unit_test(test_belief_events),
        cmocka_unit_test(test_safe_and_counter_events),
        cmocka_unit_test(test_verify_hook),
        cmocka_unit_test(test_verify_positive_refuses),
        cmocka_unit_test(test_verify_refuses_all_safe_state_still_sent),
        cmocka_unit_test(test_observer_arguments),
        cmocka_unit_test(test_queue_counts_against_budget),
        cmocka_unit_test(test_no_allocation_in_steps),
        cmocka_unit_test(test_queue_reader_thread),
};

DTT_MAIN(tests)
