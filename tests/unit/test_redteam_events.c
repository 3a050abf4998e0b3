/* Red-team cases of the event stream, the verify hook and command origins:
 * a hook that writes through its const pointer, forged origins, odd hook
 * returns, queue and snapshot extremes, every listener at once, replay with
 * observers attached and garbage in the log's origin/authority field, and
 * the decision identity (commands = sent + expired + refused + sink_errors)
 * on every path. Each case is the smallest reproduction of one attack. */
#include <limits.h>
#include <stdlib.h>

#include "test_util.h"

#include "dtwin/dtwin.h"

#include "events_twin.h"
#define SIG_U 3u

static dt_twin *load_opts(int replay)
{
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    o.replay = replay;
    dt_twin *t = NULL;
    dt_diag d;
    int rc = dt_twin_load_json(twin_doc, sizeof twin_doc - 1, &o, &t, &d);
    if (rc)
        print_error("%s\n", d.message);
    assert_int_equal(rc, 0);
    return t;
}

static dt_twin *load(void) { return load_opts(0); }


static void assert_identity(dt_twin *t)
{
    dt_twin_stats st;
    dt_twin_stats_get(t, &st);
    assert_int_equal(st.commands, st.sent + st.expired + st.refused + st.sink_errors);
}

/* ---- the verify hook cannot change the command it judges ---- */

/* A hook that casts away const and rewrites the command: a later deadline,
 * another value, a signal far outside the model. The dispatcher must judge
 * and send the command it was given (before the fix, the expired command
 * was sent with the hook's value, and the signal index wrote past the
 * dispatcher's per-signal arrays). */
static int rewriting_hook(void *user, const dt_command *cmd, dt_time now, uint16_t *authority)
{
    (void)now;
    (void)user;
    dt_command *w = (dt_command *)(uintptr_t)cmd;
    w->t_deadline = DT_TIME_MAX;
    w->value = 3.9;
    w->origin = DT_ORIGIN_DISPATCHER;
    w->signal = 0x00FFFFFFu;
    *authority = 1;
    return 0;
}

static void test_verify_hook_cannot_rewrite_command(void **state)
{
    (void)state;
    dt_twin *t = load();
    assert_int_equal(dt_twin_set_verify(t, rewriting_hook, NULL), 0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    dt_io *io = dt_twin_io(t);
    assert_int_equal(dt_memory_source_push(io, 0, "level", 0, 0.0), 0);
    assert_int_equal(dt_twin_step(t, 10 * MS), 0);
    drain_sink(t);
    /* expired: its deadline (1 ns) is long past */
    dt_command late = {.signal = SIG_U, .t_issued = 0, .t_deadline = 1, .value = 1.0};
    assert_int_equal(dt_twin_submit(t, &late), 0);
    assert_int_equal(dt_memory_source_push(io, 0, "level", 10 * MS, 0.0), 0);
    assert_int_equal(dt_twin_step(t, 20 * MS), 0);
    dt_audit au[8];
    size_t n = dt_twin_audit(t, au, 8);
    size_t h = 0;
    while (h < n && au[h].cmd.seq != 2) /* the PID's first command is seq 1 */
        h++;
    assert_true(h < n);
    assert_int_equal(au[h].cmd.signal, SIG_U);
    assert_int_equal(DT_ORIGIN_KIND(au[h].cmd.origin), DT_ORIGIN_HOST);
    assert_int_equal(au[h].cmd.t_deadline, 1);
    assert_int_equal(au[h].decision, DT_DISP_EXPIRED);
    dt_command got[8];
    size_t m = dt_memory_sink_read(io, 0, got, 8);
    for (size_t i = 0; i < m; i++) {
        assert_int_equal(got[i].signal, SIG_U);
        assert_true(got[i].value != 3.9 || got[i].seq != 2);
        assert_int_equal(DT_ORIGIN_KIND(got[i].origin), DT_ORIGIN_CONTROLLER);
    }
    assert_identity(t);
    dt_twin_destroy(t);
}

/* ---- origins the host writes are overwritten ---- */

typedef struct tally {
    uint64_t calls, by_kind[16];
} tally;

static int refuse_all(void *user, const dt_command *cmd, dt_time now, uint16_t *authority)
{
    (void)now;
    (void)authority;
    tally *c = user;
    c->calls++;
    c->by_kind[DT_ORIGIN_KIND(cmd->origin) >> 12]++;
    return DT_EUNSUPPORTED;
}

/* A host that writes the dispatcher's origin (and a big authority) into its
 * commands still goes through the hook, which refuses it; the audit shows
 * the host's origin and authority 0, nothing reaches the sink. */
static void test_forged_dispatcher_origin_refused(void **state)
{
    (void)state;
    dt_twin *t = load();
    tally c;
    memset(&c, 0, sizeof c);
    assert_int_equal(dt_twin_set_verify(t, refuse_all, &c), 0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    dt_io *io = dt_twin_io(t);
    assert_int_equal(dt_memory_source_push(io, 0, "level", 0, 0.0), 0);
    assert_int_equal(dt_twin_step(t, 10 * MS), 0);
    drain_sink(t);
    const uint16_t forged[] = {DT_ORIGIN_DISPATCHER, DT_ORIGIN_DISPATCHER | 0x0FFF, 0xFFFF,
                               DT_ORIGIN_CONTROLLER, DT_ORIGIN_REMOTE | 5};
    for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++) {
        dt_command f = {.signal = SIG_U, .origin = forged[i], .authority = 0xFFFF,
                        .t_deadline = DT_NS_PER_S, .value = 2.0};
        assert_int_equal(dt_twin_submit(t, &f), 0);
    }
    assert_int_equal(dt_memory_source_push(io, 0, "level", 10 * MS, 0.0), 0);
    assert_int_equal(dt_twin_step(t, 20 * MS), 0);
    dt_twin_stats st;
    dt_twin_stats_get(t, &st);
    assert_int_equal(st.safe_entries, 0);
    assert_int_equal(st.sent, 0);
    assert_int_equal(c.by_kind[DT_ORIGIN_HOST >> 12], 5);
    assert_int_equal(c.by_kind[DT_ORIGIN_DISPATCHER >> 12], 0);
    assert_int_equal(c.by_kind[DT_ORIGIN_REMOTE >> 12], 0);
    dt_audit au[16];
    size_t n = dt_twin_audit(t, au, 16);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(au[i].decision, DT_DISP_REFUSED);
        assert_int_equal(au[i].sink_status, DT_EUNSUPPORTED);
        assert_int_equal(au[i].cmd.authority, 0);
        assert_true(DT_ORIGIN_KIND(au[i].cmd.origin) != DT_ORIGIN_DISPATCHER);
    }
    assert_int_equal(dt_memory_sink_read(io, 0, (dt_command[4]){{0}}, 4), 0);
    assert_identity(t);
    dt_twin_destroy(t);
}

/* ---- hook returns at the edges ---- */

static int ret_value;
static int returns(void *user, const dt_command *cmd, dt_time now, uint16_t *authority)
{
    (void)user;
    (void)cmd;
    (void)now;
    *authority = 0xBEEF; /* never kept unless admitted */
    return ret_value;
}

static void test_verify_extreme_returns(void **state)
{
    (void)state;
    const int rets[] = {INT_MIN, -1, -100000, 1, INT_MAX, 0};
    const int want[] = {INT_MIN, -1, -100000, DT_EINVAL, DT_EINVAL, 0};
    for (size_t k = 0; k < sizeof rets / sizeof rets[0]; k++) {
        dt_twin *t = load();
        ret_value = rets[k];
        assert_int_equal(dt_twin_set_verify(t, returns, NULL), 0);
        assert_int_equal(dt_twin_start(t, 0), 0);
        dt_command c = {.signal = SIG_U, .t_deadline = DT_NS_PER_S, .value = 1};
        assert_int_equal(dt_twin_submit(t, &c), 0);
        assert_int_equal(dt_memory_source_push(dt_twin_io(t), 0, "level", 0, 0.0), 0);
        assert_int_equal(dt_twin_step(t, 10 * MS), 0);
        dt_audit au[4];
        assert_true(dt_twin_audit(t, au, 4) >= 1);
        if (rets[k] == 0) {
            assert_true(au[0].decision & DT_DISP_SENT);
            assert_int_equal(au[0].cmd.authority, 0xBEEF);
        } else {
            assert_int_equal(au[0].decision, DT_DISP_REFUSED);
            assert_int_equal(au[0].sink_status, want[k]);
            assert_int_equal(au[0].cmd.authority, 0);
            /* an unknown status still has a name and a text */
            assert_non_null(dt_err_name(au[0].sink_status));
            assert_non_null(dt_strerror(au[0].sink_status));
        }
        assert_identity(t);
        dt_twin_destroy(t);
    }
}

/* ---- queue and snapshot extremes ---- */

static void test_queue_and_counter_extremes(void **state)
{
    (void)state;
    dt_twin *t = load();
    dt_event_queue *one = NULL, *rare = NULL, *q = (dt_event_queue *)&t;
    assert_int_equal(dt_twin_event_queue(t, SIZE_MAX, DT_EVENT_ALL, 1, &q), DT_EINVAL);
    assert_null(q);
    assert_int_equal(dt_twin_event_queue(t, (size_t)DT_EVENT_QUEUE_MAX + 1, DT_EVENT_ALL, 1, &q),
                     DT_EINVAL);
    assert_int_equal(dt_twin_event_queue(t, 1, DT_EVENT_BIT(DT_EVENT_COMMAND), 0, &one), 0);
    assert_int_equal(dt_twin_event_queue(t, 2, DT_EVENT_BIT(DT_EVENT_COUNTERS), UINT32_MAX,
                                         &rare),
                     0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    dt_io *io = dt_twin_io(t);
    for (int k = 1; k <= 50; k++) {
        assert_int_equal(dt_memory_source_push(io, 0, "level", (k - 1) * 10 * MS, 0.0), 0);
        assert_int_equal(dt_twin_step(t, k * 10 * MS), 0);
        drain_sink(t);
    }
    dt_event ev[4];
    dt_twin_stats st;
    dt_twin_stats_get(t, &st);
    assert_true(st.commands >= 50);
    /* capacity 1: the first command, every later one lost, counted */
    assert_int_equal(dt_event_queue_read(one, ev, 4), 1);
    assert_int_equal(ev[0].seq, 1);
    assert_int_equal(dt_event_queue_lost(one), st.commands - 1);
    /* every UINT32_MAX steps: nothing yet, nothing lost */
    assert_int_equal(dt_event_queue_read(rare, ev, 4), 0);
    assert_int_equal(dt_event_queue_lost(rare), 0);
    /* max 0 reads nothing and loses nothing */
    assert_int_equal(dt_event_queue_read(one, ev, 0), 0);
    assert_int_equal(st.events_lost, st.commands - 1);
    dt_twin_destroy(t);
}

/* ---- every listener at once ---- */

typedef struct digest {
    uint64_t hash, n, by_kind[6], last_seq, seq_gaps;
} digest;

static void mix(uint64_t *h, uint64_t v) { *h = (*h ^ v) * 1099511628211ull; }
static void mixd(uint64_t *h, double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    mix(h, b);
}

/* Everything an event says, bitwise (the pointers' targets, not the
 * pointers; seq is the observer's own). */
static void digest_event(digest *g, const dt_event *ev)
{
    if (ev->seq != g->last_seq + 1)
        g->seq_gaps++;
    g->last_seq = ev->seq;
    g->n++;
    g->by_kind[ev->kind < 6 ? ev->kind : 0]++;
    mix(&g->hash, ev->kind);
    mix(&g->hash, (uint64_t)ev->t);
    switch (ev->kind) {
    case DT_EVENT_BELIEF: {
        const dt_event_belief *b = &ev->u.belief;
        mix(&g->hash, (uint64_t)b->t_valid);
        mix(&g->hash, b->version);
        mix(&g->hash, b->signal);
        mixd(&g->hash, b->value);
        for (uint32_t i = 0; b->x != NULL && i < b->n; i++)
            mixd(&g->hash, b->x[i]);
        for (uint32_t i = 0; b->P != NULL && i < b->n * b->n; i++)
            mixd(&g->hash, b->P[i]);
        break;
    }
    case DT_EVENT_COMMAND: {
        const dt_audit *a = &ev->u.command;
        mix(&g->hash, a->cmd.signal);
        mix(&g->hash, a->cmd.origin);
        mix(&g->hash, a->cmd.authority);
        mix(&g->hash, a->cmd.seq);
        mix(&g->hash, (uint64_t)a->cmd.t_issued);
        mix(&g->hash, (uint64_t)a->cmd.t_deadline);
        mixd(&g->hash, a->cmd.value);
        mixd(&g->hash, a->requested);
        mix(&g->hash, a->decision);
        mix(&g->hash, (uint64_t)(int64_t)a->sink_status);
        break;
    }
    case DT_EVENT_SAFE_ENTER:
    case DT_EVENT_SAFE_EXIT:
        mix(&g->hash, ev->u.safe.reasons);
        mix(&g->hash, ev->u.safe.bounds);
        mix(&g->hash, ev->u.safe.disputed);
        mix(&g->hash, ev->u.safe.sink_faults);
        mixd(&g->hash, ev->u.safe.age_s);
        mixd(&g->hash, ev->u.safe.budget_s);
        break;
    case DT_EVENT_COUNTERS: {
        const dt_event_counters *c = &ev->u.counters;
        const uint64_t v[] = {c->cycles,   c->accepted, c->rejected, c->dropped, c->updates,
                              c->gated,    c->commands, c->sent,     c->expired, c->refused,
                              c->sink_errors, c->safe_entries, c->events_lost};
        for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
            mix(&g->hash, v[i]);
        mixd(&g->hash, c->belief_age_s);
        break;
    }
    default:
        fail_msg("unknown event kind %u", ev->kind);
    }
}

static void on_digest(void *user, const dt_event *ev) { digest_event(user, ev); }

typedef struct membuf {
    uint8_t *p;
    size_t len, cap, pos;
} membuf;

static int mem_write(void *user, const void *data, size_t len)
{
    membuf *m = user;
    if (m->len + len > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 4096;
        while (cap < m->len + len)
            cap *= 2;
        uint8_t *p = realloc(m->p, cap);
        if (p == NULL)
            return DT_ENOMEM;
        m->p = p;
        m->cap = cap;
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
        return DT_EIO;
    memcpy(data, m->p + m->pos, len);
    m->pos += len;
    return 0;
}

/* A hook that admits small values with an authority and refuses big ones:
 * deterministic, so a replay with it decides the same. */
static int by_value(void *user, const dt_command *cmd, dt_time now, uint16_t *authority)
{
    (void)user;
    (void)now;
    if (cmd->value > 3.0)
        return DT_ERANGE;
    *authority = (uint16_t)(DT_ORIGIN_KIND(cmd->origin) >> 12) + 1;
    return 0;
}

/* A run that takes every path: host commands with garbage in origin and
 * authority (big ones refused, late ones expired), a sink left undrained
 * for a while (sink errors, then the safe state on failing sinks), a data
 * outage (the latency rule), counters every 7 steps. */
static void drive(dt_twin *t, int steps)
{
    dt_io *io = dt_twin_io(t);
    uint32_t rs = 12345;
    for (int k = 1; k <= steps; k++) {
        dt_time now = (dt_time)k * 10 * MS;
        int outage = k >= 300 && k < 330;
        if (!outage)
            assert_int_equal(dt_memory_source_push(io, 0, "level", now - 3 * MS,
                                                   0.01 * (k % 7)),
                             0);
        for (int i = 0; i < k % 5; i++) {
            rs = rs * 1103515245u + 12345u;
            dt_command c = {.signal = SIG_U,
                            .origin = (uint16_t)(rs >> 8),
                            .authority = (uint16_t)(rs >> 16),
                            .t_issued = now,
                            .t_deadline = (rs >> 4) % 4 == 0 ? 1 : now + DT_NS_PER_S,
                            .value = 0.5 * (double)((rs >> 20) % 10)};
            assert_int_equal(dt_twin_submit(t, &c), 0);
        }
        assert_int_equal(dt_twin_step(t, now), 0);
        if (k < 100 || k > 400) /* 100..400: the sink fills and refuses */
            drain_sink(t);
        assert_identity(t);
    }
}

/* Seven callbacks, one queue and the flight recorder together: every
 * callback sees the same events; the queue the same but for the pointers;
 * the identity holds throughout. Then the log replays (with its garbage
 * origins and authorities) on a twin with the same hook and observers, and
 * they see the same events, bit for bit. */
static void test_every_listener_and_replay(void **state)
{
    (void)state;
    membuf log = {0};
    digest live[DT_TWIN_OBSERVERS_MAX - 1], again;
    memset(live, 0, sizeof live);
    memset(&again, 0, sizeof again);
    dt_twin *t = load();
    assert_int_equal(dt_twin_set_verify(t, by_value, NULL), 0);
    dt_observer obs = DT_OBSERVER_INIT;
    obs.counters_every = 7;
    obs.on_event = on_digest;
    for (int i = 0; i < DT_TWIN_OBSERVERS_MAX - 1; i++) {
        live[i].hash = 1469598103934665603ull;
        obs.user = &live[i];
        assert_int_equal(dt_twin_observe(t, &obs), 0);
    }
    dt_event_queue *q = NULL;
    assert_int_equal(dt_twin_event_queue(t, 1u << 14, DT_EVENT_ALL, 7, &q), 0);
    assert_int_equal(dt_twin_record(t, mem_write, &log), 0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    drive(t, 600);
    dt_twin_stats st;
    dt_twin_stats_get(t, &st);
    assert_true(st.sent > 0 && st.expired > 0 && st.refused > 0 && st.sink_errors > 0);
    assert_true(st.safe_entries >= 2);
    assert_int_equal(st.events_lost, 0);
    for (int i = 1; i < DT_TWIN_OBSERVERS_MAX - 1; i++) {
        assert_int_equal(live[i].hash, live[0].hash);
        assert_int_equal(live[i].n, live[0].n);
    }
    assert_int_equal(live[0].seq_gaps, 0);
    assert_int_equal(live[0].by_kind[DT_EVENT_COMMAND], st.commands);
    assert_int_equal(live[0].by_kind[DT_EVENT_BELIEF], st.estimator.updates);
    assert_int_equal(live[0].by_kind[DT_EVENT_COUNTERS], 600 / 7);
    /* the queue: the same events in the same order, without x and P */
    digest qd;
    memset(&qd, 0, sizeof qd);
    dt_event ev[256];
    size_t got;
    while ((got = dt_event_queue_read(q, ev, 256)) > 0)
        for (size_t i = 0; i < got; i++) {
            if (ev[i].kind == DT_EVENT_BELIEF)
                assert_true(ev[i].u.belief.x == NULL && ev[i].u.belief.P == NULL);
            digest_event(&qd, &ev[i]);
        }
    assert_int_equal(qd.n, live[0].n);
    assert_int_equal(qd.seq_gaps, 0);
    dt_twin_destroy(t);

    t = load_opts(1);
    assert_int_equal(dt_twin_set_verify(t, by_value, NULL), 0);
    again.hash = 1469598103934665603ull;
    obs.user = &again;
    assert_int_equal(dt_twin_observe(t, &obs), 0);
    int rc = dt_twin_replay(t, mem_read, &log, NULL, NULL);
    if (rc)
        print_error("replay: %s (%s)\n", dt_strerror(rc), dt_twin_errmsg(t));
    assert_int_equal(rc, 0);
    assert_int_equal(again.n, live[0].n);
    for (int k = 1; k < 6; k++)
        assert_int_equal(again.by_kind[k], live[0].by_kind[k]);
    assert_int_equal(again.hash, live[0].hash);
    dt_twin_stats rs;
    dt_twin_stats_get(t, &rs);
    assert_int_equal(rs.commands, st.commands);
    assert_int_equal(rs.refused, st.refused);
    assert_int_equal(rs.sink_errors, st.sink_errors);
    dt_twin_destroy(t);
    free(log.p);
}


/* An observer that casts away const and scribbles over the event it is
 * shown must not change what the observers and queues after it see. */
static void scribble(void *user, const dt_event *ev)
{
    (void)user;
    dt_event *w = (dt_event *)(uintptr_t)ev;
    w->kind = 0xFF;
    w->seq = 999;
    w->t = -1;
    memset(&w->u, 0xA5, sizeof w->u);
}

static void test_observer_cannot_rewrite_event(void **state)
{
    (void)state;
    dt_twin *t = load();
    dt_observer obs = DT_OBSERVER_INIT;
    obs.on_event = scribble;
    obs.mask = DT_EVENT_BIT(DT_EVENT_COMMAND) | DT_EVENT_BIT(DT_EVENT_COUNTERS);
    assert_int_equal(dt_twin_observe(t, &obs), 0);
    digest g;
    memset(&g, 0, sizeof g);
    obs.on_event = on_digest;
    obs.user = &g;
    assert_int_equal(dt_twin_observe(t, &obs), 0);
    dt_event_queue *q = NULL;
    assert_int_equal(dt_twin_event_queue(t, 256, obs.mask, 1, &q), 0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    dt_io *io = dt_twin_io(t);
    for (int k = 1; k <= 20; k++) {
        assert_int_equal(dt_memory_source_push(io, 0, "level", (k - 1) * 10 * MS, 0.0), 0);
        assert_int_equal(dt_twin_step(t, k * 10 * MS), 0);
        drain_sink(t);
    }
    dt_twin_stats st;
    dt_twin_stats_get(t, &st);
    assert_int_equal(g.seq_gaps, 0); /* digest_event fails on an unknown kind */
    assert_int_equal(g.by_kind[DT_EVENT_COMMAND], st.commands);
    assert_int_equal(g.by_kind[DT_EVENT_COUNTERS], 20);
    dt_event ev[64];
    size_t n = dt_event_queue_read(q, ev, 64);
    assert_int_equal(n, st.commands + 20);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ev[i].seq, i + 1);
        assert_true(ev[i].t > 0);
        if (ev[i].kind == DT_EVENT_COMMAND)
            assert_int_equal(ev[i].u.command.cmd.signal, SIG_U);
        else
            assert_int_equal(ev[i].kind, DT_EVENT_COUNTERS);
    }
    dt_twin_destroy(t);
}

/* The log keeps no decision of the verify hook: a replay on a twin without
 * the hook the run had sends what the hook refused, and is reported as
 * diverged rather than producing other commands silently. */
static void test_replay_without_the_hook_diverges(void **state)
{
    (void)state;
    membuf log = {0};
    dt_twin *t = load();
    assert_int_equal(dt_twin_set_verify(t, by_value, NULL), 0);
    assert_int_equal(dt_twin_record(t, mem_write, &log), 0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    drive(t, 200);
    dt_twin_stats st;
    dt_twin_stats_get(t, &st);
    assert_true(st.refused > 0);
    dt_twin_destroy(t);
    t = load_opts(1);
    assert_int_equal(dt_twin_replay(t, mem_read, &log, NULL, NULL), DT_EPARSE);
    assert_non_null(strstr(dt_twin_errmsg(t), "diverged"));
    dt_twin_destroy(t);
    free(log.p);
}

/* ---- calls back into the twin from inside a step ----
 * dt_twin_step and dt_twin_submit refuse, with DT_ESTATE, a call made from
 * inside a step (an observer, the verify hook, a controller). Before, a
 * nested step from an observer dispatched the host's commands a second time
 * (the actuator got them twice) and ran the controllers twice at one
 * instant; a submit from an observer of a recorded run made the log
 * unreplayable. */

typedef struct reenter {
    dt_twin *t;
    int what; /* 1 submit, 2 step */
    int rc_seen, calls;
} reenter;

static void reenter_cb(void *user, const dt_event *ev)
{
    reenter *r = user;
    if (ev->kind != DT_EVENT_COMMAND || r->calls++ > 0)
        return;
    dt_command c = {.signal = SIG_U, .t_deadline = ev->t + DT_NS_PER_S, .value = 2.0};
    r->rc_seen = r->what == 1 ? dt_twin_submit(r->t, &c) : dt_twin_step(r->t, ev->t);
}

static void test_observer_reentry_refused(void **state)
{
    (void)state;
    for (int what = 1; what <= 2; what++) {
        dt_twin *t = load();
        reenter r = {t, what, 12345, 0};
        dt_observer obs = DT_OBSERVER_INIT;
        obs.mask = DT_EVENT_BIT(DT_EVENT_COMMAND);
        obs.on_event = reenter_cb;
        obs.user = &r;
        assert_int_equal(dt_twin_observe(t, &obs), 0);
        assert_int_equal(dt_twin_start(t, 0), 0);
        for (int i = 0; i < 3; i++) {
            dt_command c = {.signal = SIG_U, .t_deadline = DT_NS_PER_S, .value = 1.0};
            assert_int_equal(dt_twin_submit(t, &c), 0);
        }
        assert_int_equal(dt_memory_source_push(dt_twin_io(t), 0, "level", 0, 0.0), 0);
        assert_int_equal(dt_twin_step(t, 10 * MS), 0);
        assert_int_equal(r.rc_seen, DT_ESTATE);
        dt_twin_stats st;
        dt_twin_stats_get(t, &st);
        assert_int_equal(st.cycles, 1);
        assert_int_equal(st.commands, 4); /* three host commands, the PID's; none twice */
        dt_twin_destroy(t);
    }
}

static dt_twin *hook_twin;
static int hook_submit_rc = 12345;
static int submitting_hook(void *user, const dt_command *cmd, dt_time now, uint16_t *authority)
{
    (void)user;
    (void)authority;
    dt_command c = *cmd;
    c.t_deadline = now + DT_NS_PER_S;
    hook_submit_rc = dt_twin_submit(hook_twin, &c);
    return 0;
}

static void test_verify_hook_reentry_refused(void **state)
{
    (void)state;
    dt_twin *t = load();
    hook_twin = t;
    assert_int_equal(dt_twin_set_verify(t, submitting_hook, NULL), 0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    dt_command c = {.signal = SIG_U, .t_deadline = DT_NS_PER_S, .value = 1.0};
    assert_int_equal(dt_twin_submit(t, &c), 0);
    assert_int_equal(dt_memory_source_push(dt_twin_io(t), 0, "level", 0, 0.0), 0);
    assert_int_equal(dt_twin_step(t, 10 * MS), 0);
    assert_int_equal(hook_submit_rc, DT_ESTATE);
    dt_twin_stats st;
    dt_twin_stats_get(t, &st);
    assert_int_equal(st.commands, 2); /* the host's and the PID's */
    dt_twin_destroy(t);
}

/* A recorded run whose observer submitted from inside a step replays. */
static void test_submit_from_observer_replays(void **state)
{
    (void)state;
    membuf log = {0};
    dt_twin *t = load();
    reenter r = {t, 1, 0, 0};
    dt_observer obs = DT_OBSERVER_INIT;
    obs.mask = DT_EVENT_BIT(DT_EVENT_COMMAND);
    obs.on_event = reenter_cb;
    obs.user = &r;
    assert_int_equal(dt_twin_observe(t, &obs), 0);
    assert_int_equal(dt_twin_record(t, mem_write, &log), 0);
    assert_int_equal(dt_twin_start(t, 0), 0);
    for (int k = 1; k <= 20; k++) {
        dt_command c = {.signal = SIG_U, .t_deadline = DT_NS_PER_S, .value = 1.0};
        assert_int_equal(dt_twin_submit(t, &c), 0);
        r.calls = 0;
        assert_int_equal(dt_memory_source_push(dt_twin_io(t), 0, "level", (k - 1) * 10 * MS, 0.0),
                         0);
        assert_int_equal(dt_twin_step(t, k * 10 * MS), 0);
        drain_sink(t);
    }
    dt_twin_destroy(t);
    t = load_opts(1);
    int rc = dt_twin_replay(t, mem_read, &log, NULL, NULL);
    if (rc)
        print_error("replay: %s (%s)\n", dt_strerror(rc), dt_twin_errmsg(t));
    assert_int_equal(rc, 0);
    dt_twin_destroy(t);
    free(log.p);
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify_hook_cannot_rewrite_command),
        cmocka_unit_test(test_forged_dispatcher_origin_refused),
        cmocka_unit_test(test_verify_extreme_returns),
        cmocka_unit_test(test_queue_and_counter_extremes),
        cmocka_unit_test(test_every_listener_and_replay),
        cmocka_unit_test(test_replay_without_the_hook_diverges),
        cmocka_unit_test(test_observer_cannot_rewrite_event),
        cmocka_unit_test(test_observer_reentry_refused),
        cmocka_unit_test(test_verify_hook_reentry_refused),
        cmocka_unit_test(test_submit_from_observer_replays),
};

DTT_MAIN(tests)
