/* Composite twins: a twin whose "children" are twins it loads, starts,
 * steps and records with itself, and whose "child" sources fuse their
 * beliefs (docs/model.md, "Composite twins"). */
#include <stdlib.h>

#include "alloc_counter.h"
#include "dtwin/dtwin.h"
#include "test_util.h"

#define TURBINE DTT_SOURCE_DIR "/examples/society/turbine/turbine.json"
#define PERIOD (50 * DT_NS_PER_MS)
#define STEPS 400

/* ---- a flight log in memory ---- */

typedef struct membuf {
    uint8_t *p;
    size_t n, cap, pos;
} membuf;

static int mem_write(void *user, const void *data, size_t len)
{
    membuf *b = user;
    if (b->n + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + len)
            cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (p == NULL)
            return DT_ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
    return DT_OK;
}

static int mem_read(void *user, void *data, size_t len)
{
    membuf *b = user;
    if (b->pos == b->n)
        return DT_EEMPTY;
    if (len > b->n - b->pos)
        return DT_EIO;
    memcpy(data, b->p + b->pos, len);
    b->pos += len;
    return DT_OK;
}

static dt_twin *load(const char *text, int replay, dt_diag *d)
{
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    o.replay = replay;
    dt_twin *t = NULL;
    int rc = dt_twin_load_json(text, strlen(text), &o, &t, d);
    if (rc != DT_OK)
        print_message("load: %s\n", d->message);
    return t;
}

static dt_twin *load_file(const char *path, int replay, const dt_allocator *a)
{
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    o.replay = replay;
    o.allocator = a;
    dt_twin *t = NULL;
    dt_diag d;
    int rc = dt_twin_load_file(path, &o, &t, &d);
    if (rc != DT_OK)
        print_message("load %s: %s\n", path, d.message);
    assert_int_equal(rc, DT_OK);
    return t;
}

static dt_kf *kf_of(dt_twin *t) { return dt_est_kf(dt_twin_estimator(t)); }

/* ---- the example: a turbine of three children ---- */

static void test_turbine_children(void **state)
{
    (void)state;
    dt_twin *t = load_file(TURBINE, 0, NULL);
    assert_int_equal(dt_twin_child_count(t), 3);
    static const char *const ids[] = {"compressor", "combustor", "shaft"};
    for (size_t k = 0; k < 3; k++) {
        assert_string_equal(dt_twin_child_id(t, k), ids[k]);
        size_t i = 99;
        assert_int_equal(dt_twin_find_child(t, ids[k], &i), DT_OK);
        assert_int_equal(i, k);
        assert_non_null(dt_twin_estimator(dt_twin_child(t, k)));
    }
    size_t i;
    assert_int_equal(dt_twin_find_child(t, "rotor", &i), DT_ENOTFOUND);
    assert_null(dt_twin_child(t, 3));
    assert_null(dt_twin_child_id(t, 3));
    assert_int_equal(dt_twin_child_count(NULL), 0);
    /* a child is replayed by its parent only */
    assert_int_equal(dt_twin_replay(dt_twin_child(t, 0), mem_read, NULL, NULL, NULL),
                     DT_ESTATE);
    dt_twin_destroy(t);
}

/* The parent's state j reads child k's state `native` as a = scale x + offset. */
typedef struct pick {
    size_t child;
    const char *native;
    double scale, offset;
} pick;

/* The example's mappings: kPa -> bar, degC -> K, rpm -> rpm. */
static const pick picks[3] = {{0, "compressor.p2_est", 0.01, 0},
                              {1, "combustor.tit_est", 1, 273.15},
                              {2, "shaft.speed_est", 1, 0}};

/* Every step, each parent state lies within 3 sigma (the parent's) of the
 * child's mean aged to the parent's time; the parent follows the load step
 * (a rise of 0.6 bar, 85 K) that no belief of its own foresaw. Nothing is
 * allocated after start, recording included. */
static void test_turbine_follows_children(void **state)
{
    (void)state;
    dtt_counter cnt = {0};
    dt_allocator a = dtt_allocator(&cnt);
    dt_twin *t = load_file(TURBINE, 0, &a);
    membuf log = {0};
    log.cap = 1u << 22;
    log.p = malloc(log.cap);
    assert_non_null(log.p);
    assert_int_equal(dt_twin_record(t, mem_write, &log), DT_OK);
    assert_int_equal(dt_twin_start(t, 0), DT_OK);
    long calls = cnt.calls;
    double worst = 0;
    double *xc = malloc(32 * sizeof *xc), *Pc = malloc(32 * 32 * sizeof *Pc);
    for (int k = 1; k <= STEPS; k++) {
        dt_time now = (dt_time)k * PERIOD;
        int rc = dt_twin_step(t, now);
        assert_true(rc == DT_OK || rc == DT_ENOTFOUND);
        dt_est *pe = dt_twin_estimator(t);
        const double *xp = dt_kf_state(kf_of(t)), *Pp = dt_kf_cov(kf_of(t));
        for (size_t j = 0; j < 3; j++) {
            dt_twin *ch = dt_twin_child(t, picks[j].child);
            dt_est *ce = dt_twin_estimator(ch);
            dt_signal_id sig;
            assert_int_equal(dt_model_find_signal(dt_twin_model(ch), picks[j].native, &sig), 0);
            int si = dt_est_state_index(ce, sig);
            double dt = dt_time_to_sec(dt_est_time(pe) - dt_est_time(ce));
            if (dt < 0)
                continue; /* the child is ahead: its next belief comes next step */
            assert_int_equal(dt_kf_peek(dt_est_kf(ce), dt, xc, Pc), DT_OK);
            double mean = picks[j].scale * xc[si] + picks[j].offset;
            double z = fabs(xp[j] - mean) / sqrt(Pp[j * 3 + j]);
            if (z > worst)
                worst = z;
            if (!(z <= 3))
                fail_msg("step %d: parent state %zu = %.10g, child's aged mean %.10g, %.3g sigma",
                         k, j, xp[j], mean, z);
        }
    }
    assert_int_equal(cnt.calls, calls); /* nothing allocated after start */
    print_message("worst distance from a child's aged mean: %.3g sigma\n", worst);
    const double *xp = dt_kf_state(kf_of(t));
    assert_close(xp[0], 12.40, 0, 0.05); /* bar: 1180 kPa + 60 after the step */
    assert_close(xp[1], 1448.15, 0, 15);  /* K: 1090 degC + 85 */
    assert_close(xp[2], 12000, 0, 10);    /* rpm: back after the dip */
    dt_twin_stats s;
    dt_twin_stats_get(t, &s);
    assert_int_equal(s.cycles, STEPS);
    assert_true(s.beliefs_fused > 600);
    assert_int_equal(s.beliefs_refused, 0);
    for (size_t c = 0; c < 3; c++) {
        dt_twin_stats cs;
        dt_twin_stats_get(dt_twin_child(t, c), &cs);
        assert_int_equal(cs.cycles, STEPS); /* stepped with the parent */
    }
    free(xc);
    free(Pc);
    free(log.p);
    dt_twin_destroy(t);
    assert_int_equal(cnt.live, 0);
}

/* Record, then replay on a twin built for it: the parent's estimate and
 * every child's, bit for bit, at every step. */
typedef struct trace {
    double x[STEPS + 1][3], P[STEPS + 1][9];
    double cx[STEPS + 1][3][2];
    int n;
} trace;

static void snap(trace *tr, dt_twin *t, int k)
{
    memcpy(tr->x[k], dt_kf_state(kf_of(t)), sizeof tr->x[k]);
    memcpy(tr->P[k], dt_kf_cov(kf_of(t)), sizeof tr->P[k]);
    for (size_t c = 0; c < 3; c++)
        memcpy(tr->cx[k][c], dt_kf_state(kf_of(dt_twin_child(t, c))),
               dt_est_dim(dt_twin_estimator(dt_twin_child(t, c))) * sizeof(double));
}

static void on_step(void *user, dt_twin *t, dt_time now)
{
    trace *tr = user;
    assert_int_equal(now, (dt_time)(tr->n + 1) * PERIOD);
    snap(tr, t, ++tr->n);
}

static void test_turbine_replay_bit_exact(void **state)
{
    (void)state;
    trace *live = calloc(1, sizeof *live), *rp = calloc(1, sizeof *rp);
    dt_twin *t = load_file(TURBINE, 0, NULL);
    membuf log = {0};
    assert_int_equal(dt_twin_record(t, mem_write, &log), DT_OK);
    assert_int_equal(dt_twin_start(t, 0), DT_OK);
    for (int k = 1; k <= STEPS; k++) {
        int rc = dt_twin_step(t, (dt_time)k * PERIOD);
        assert_true(rc == DT_OK || rc == DT_ENOTFOUND);
        snap(live, t, k);
    }
    dt_twin_stats ls;
    dt_twin_stats_get(t, &ls);
    dt_twin_destroy(t);

    dt_twin *r = load_file(TURBINE, 1, NULL);
    assert_int_equal(dt_twin_replay(r, mem_read, &log, on_step, rp), DT_OK);
    assert_int_equal(rp->n, STEPS);
    for (int k = 1; k <= STEPS; k++) {
        if (memcmp(live->x[k], rp->x[k], sizeof live->x[k]) != 0 ||
            memcmp(live->P[k], rp->P[k], sizeof live->P[k]) != 0)
            fail_msg("step %d: the parent's replayed estimate differs", k);
        if (memcmp(live->cx[k], rp->cx[k], sizeof live->cx[k]) != 0)
            fail_msg("step %d: a child's replayed estimate differs", k);
    }
    dt_twin_stats rs;
    dt_twin_stats_get(r, &rs);
    assert_int_equal(rs.beliefs_fused, ls.beliefs_fused);
    for (size_t c = 0; c < 3; c++) {
        dt_twin_stats cs;
        dt_twin_stats_get(dt_twin_child(r, c), &cs);
        assert_int_equal(cs.cycles, STEPS); /* the children were re-run too */
    }
    dt_twin_destroy(r);

    /* a log cut inside a child's records is refused, naming the child: the
     * first record after the log's header and its belief-only sources
     * (BELIEFS_ONLY, 5 bytes each) is the first child's header */
    size_t at = 24;
    while (log.p[at] == 9) /* BELIEFS_ONLY */
        at += 5;
    assert_true(at > 24); /* the child sources push only beliefs */
    assert_int_equal(log.p[at], 10); /* CHILD */
    log.pos = 0;
    log.n = at + 9 + 10;
    r = load_file(TURBINE, 1, NULL);
    assert_int_equal(dt_twin_replay(r, mem_read, &log, NULL, NULL), DT_EPARSE);
    assert_string_equal(dt_twin_errmsg(r), "child compressor: its records are cut short");
    dt_twin_destroy(r);
    /* and a log of another composite (the child's description differs) */
    log.pos = 0;
    log.n = at + 9 + 24;
    log.p[at + 9 + 16] ^= 1; /* the child's description hash */
    r = load_file(TURBINE, 1, NULL);
    assert_int_equal(dt_twin_replay(r, mem_read, &log, NULL, NULL), DT_EABI);
    assert_string_equal(dt_twin_errmsg(r),
                        "child compressor: the log was recorded with another description");
    dt_twin_destroy(r);
    free(log.p);
    free(live);
    free(rp);
}

/* Every allocation of a composite's load (the parent, its children from
 * their files, the binding) failed once and then persistently: DT_ENOMEM,
 * nothing left allocated. */
static void test_load_every_allocation(void **state)
{
    (void)state;
    dtt_counter c = {0};
    dt_allocator a = dtt_allocator(&c);
    dt_twin_destroy(load_file(TURBINE, 0, &a));
    long total = c.calls;
    assert_int_equal(c.live, 0);
    for (int persistent = 0; persistent <= 1; persistent++)
        for (long n = 1; n <= total; n++) {
            c = (dtt_counter){0};
            c.fail_at = n;
            c.persistent = persistent;
            dt_twin_options o = DT_TWIN_OPTIONS_INIT;
            o.logger = dt_logger_silent();
            o.allocator = &a;
            dt_twin *t = NULL;
            dt_diag d;
            int rc = dt_twin_load_file(TURBINE, &o, &t, &d);
            if (rc != DT_ENOMEM || c.live != 0 || t != NULL)
                fail_msg("allocation %ld of %ld failed (%s): %s \"%s\", %ld live", n, total,
                         persistent ? "persistently" : "once", dt_err_name(rc), d.message,
                         c.live);
        }
    print_message("composite load: %ld allocations, each failed once and persistently\n",
                  total);
}

/* ---- the belief the parent fuses, computed independently ---- */

#define SHAFT                                                                              \
    "{\"dtwin\":1,\"name\":\"shaft\",\"assets\":[{\"id\":\"s\",\"name\":\"S\",\"kind\":"   \
    "\"rotor\"}],\"signals\":["                                                            \
    "{\"id\":\"speed\",\"asset\":\"s\",\"quantity\":\"angular_velocity\",\"unit\":"        \
    "\"rpm\",\"role\":\"measured\",\"period\":0.1,\"noise\":{\"std\":2}},"                 \
    "{\"id\":\"speed_est\",\"asset\":\"s\",\"quantity\":\"angular_velocity\",\"unit\":"    \
    "\"rpm\",\"role\":\"estimated\"" SHAFT_SEM "},"                                       \
    "{\"id\":\"torque_est\",\"asset\":\"s\",\"quantity\":\"torque\",\"unit\":\"N.m\","     \
    "\"role\":\"estimated\"},"                                                             \
    "{\"id\":\"other_est\",\"asset\":\"s\",\"quantity\":\"torque\",\"unit\":\"N.m\","      \
    "\"role\":\"estimated\"}],"                                                            \
    "\"estimator\":{\"states\":[\"other_est\",\"speed_est\",\"torque_est\"],"              \
    "\"A\":[[-1,0,0],[0,0,0.190986],[0,0,0]],\"Q\":[1,1,200000],"                          \
    "\"x0\":[0,12000,0],\"P0\":[1,100,10000],"                                             \
    "\"measurements\":[{\"signal\":\"speed\",\"H\":{\"speed_est\":1}}]},"                  \
    "\"sources\":[{\"id\":\"tach\",\"kind\":\"memory\",\"mapping\":[{\"native\":"         \
    "\"speed\",\"signal\":\"speed\"}]}]}"
#define SHAFT_SEM ""

/* A parent of one state, the speed, read by the shaft child's belief and by
 * a poor sensor of its own (std 50 rpm). kid: the child source's extra keys;
 * map: its mapping entry's extra keys. */
static char *parent_text(const char *kid, const char *map, const char *children)
{
    static char buf[40960];
    snprintf(buf, sizeof buf,
             "{\"dtwin\":1,\"name\":\"p\",\"assets\":[{\"id\":\"a\",\"name\":\"A\",\"kind\":"
             "\"machine\"}],\"signals\":["
             "{\"id\":\"spd\",\"asset\":\"a\",\"quantity\":\"angular_velocity\",\"unit\":"
             "\"rpm\",\"role\":\"measured\",\"noise\":{\"std\":2}},"
             "{\"id\":\"spd_own\",\"asset\":\"a\",\"quantity\":\"angular_velocity\",\"unit\":"
             "\"rpm\",\"role\":\"measured\",\"noise\":{\"std\":50}},"
             "{\"id\":\"spd_est\",\"asset\":\"a\",\"quantity\":\"angular_velocity\",\"unit\":"
             "\"rpm\",\"role\":\"estimated\"}],"
             "\"children\":%s,"
             "\"sources\":[{\"id\":\"kid\",\"kind\":\"child\",\"child\":\"shaft\"%s,"
             "\"mapping\":[{\"native\":\"speed_est\",\"signal\":\"spd\"%s}]},"
             "{\"id\":\"own\",\"kind\":\"memory\",\"mapping\":[{\"native\":\"n\",\"signal\":"
             "\"spd_own\"}]}],"
             "\"estimator\":{\"states\":[\"spd_est\"],\"A\":[[0]],\"Q\":[2500],\"x0\":[12000],"
             "\"P0\":[10000],\"measurements\":[{\"signal\":\"spd\",\"H\":{\"spd_est\":1}},"
             "{\"signal\":\"spd_own\",\"H\":{\"spd_est\":1}}]}}",
             children, kid, map);
    return buf;
}

#define ONE_CHILD "[{\"id\":\"shaft\",\"twin\":" SHAFT "}]"

/* text with its first `from` replaced by `to` (a static buffer). */
static const char *subst(const char *text, const char *from, const char *to)
{
    static char out[49152];
    const char *at = strstr(text, from);
    assert_non_null(at);
    snprintf(out, sizeof out, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    return out;
}

static size_t counter(dt_twin *t, size_t src, const char *name)
{
    dt_counter c[16];
    size_t n = dt_io_source_counters(dt_twin_io(t), src, c, 16);
    for (size_t i = 0; i < n && i < 16; i++)
        if (strcmp(c[i].name, name) == 0)
            return (size_t)c[i].value;
    fail_msg("no counter %s", name);
    return 0;
}

/* The child's estimate is at 0.2 s, the parent's (its own sensor) at
 * 0.25 s: the parent fuses the child's belief aged over 0.05 s with the
 * child's own model (the speed with the torque it depends on; not the
 * unrelated state), which is what the child's filter predicts, and the
 * fusion is covariance intersection (or an update) of that belief with the
 * parent's prior: each checked to 1e-12 against public functions. */
static void aged_fusion(const char *kid, int independent)
{
    dt_diag d;
    dt_twin *t = load(parent_text(kid, "", ONE_CHILD), 0, &d);
    assert_non_null(t);
    dt_twin *ch = dt_twin_child(t, 0);
    size_t own;
    assert_int_equal(dt_io_find_source(dt_twin_io(t), "own", &own), DT_OK);
    assert_int_equal(dt_twin_start(t, 0), DT_OK);
    /* step 1: the child's first sample, fused at its time */
    assert_int_equal(dt_memory_source_push(dt_twin_io(ch), 0, "speed", 100 * DT_NS_PER_MS,
                                           12005), DT_OK);
    assert_int_equal(dt_twin_step(t, 100 * DT_NS_PER_MS), DT_OK);
    assert_int_equal(counter(t, 0, "beliefs_offered"), 1);
    /* step 2: only the parent's own sensor, at 0.25 s: the child's estimate
     * did not change, so nothing is offered */
    assert_int_equal(dt_memory_source_push(dt_twin_io(t), own, "n", 250 * DT_NS_PER_MS, 12010),
                     DT_OK);
    assert_int_equal(dt_twin_step(t, 250 * DT_NS_PER_MS), DT_OK);
    assert_int_equal(counter(t, 0, "beliefs_offered"), 1);
    assert_int_equal(counter(t, 0, "unchanged"), 1);
    dt_est *pe = dt_twin_estimator(t);
    assert_int_equal(dt_est_time(pe), 250 * DT_NS_PER_MS);
    double xp = dt_kf_state(kf_of(t))[0], Pp = dt_kf_cov(kf_of(t))[0];
    /* step 3: the child's sample at 0.2 s, older than the parent's estimate */
    assert_int_equal(dt_memory_source_push(dt_twin_io(ch), 0, "speed", 200 * DT_NS_PER_MS,
                                           12003), DT_OK);
    assert_int_equal(dt_twin_step(t, 300 * DT_NS_PER_MS), DT_OK);
    assert_int_equal(counter(t, 0, "beliefs_offered"), 2);
    dt_est *ce = dt_twin_estimator(ch);
    assert_int_equal(dt_est_time(ce), 200 * DT_NS_PER_MS);
    assert_int_equal(dt_est_time(pe), 250 * DT_NS_PER_MS);
    /* the group: speed and torque (states 1 and 2 of the child) */
    const double *x = dt_kf_state(kf_of(ch)), *P = dt_kf_cov(kf_of(ch));
    const double *A = dt_kf_model_A(kf_of(ch)), *Q = dt_kf_model_Q(kf_of(ch));
    double xg[2] = {x[1], x[2]}, Pg[4] = {P[4], P[5], P[7], P[8]};
    double Ag[4] = {A[4], A[5], A[7], A[8]}, Qg[4] = {Q[4], Q[5], Q[7], Q[8]};
    double xa[2], Pa[4], work[DT_BELIEF_AGE_WORK(2)];
    assert_int_equal(dt_belief_age(2, xg, Pg, Ag, Qg, 0.05, xa, Pa, work), DT_OK);
    /* the child's own prediction of the same: the group is closed */
    double xk[3], Pk[9];
    assert_int_equal(dt_kf_peek(kf_of(ch), 0.05, xk, Pk), DT_OK);
    assert_close(xa[0], xk[1], 1e-12, 0);
    assert_close(xa[1], xk[2], 1e-12, 0);
    assert_close(Pa[0], Pk[4], 1e-12, 0);
    assert_close(Pa[1], Pk[5], 1e-12, 0);
    assert_close(Pa[3], Pk[8], 1e-12, 0);
    /* the fusion of (xa[0], Pa[0]) with the parent's prior (xp, Pp) */
    double xe, Pe;
    dt_twin_stats ts;
    dt_twin_stats_get(t, &ts);
    /* declared independence holds for the source's first belief: this is its
     * second, which repeats the first's information, so it is intersected */
    assert_int_equal(ts.beliefs_independent_as_ci, independent ? 1 : 0);
    {
        double H = 1, y = xa[0] - xp, w = -1, cw[DT_CI_UPDATE_WORK(1, 1)];
        assert_int_equal(dt_ci_update(1, 1, &xp, &Pp, &H, &y, &Pa[0], DT_CI_TRACE, &xe, &Pe, &w,
                                      cw),
                         DT_OK);
        /* the parent knew less (its own poor sensor): it takes the child's */
        assert_true(w == 0);
        assert_close(xe, xa[0], 1e-12, 0);
        assert_close(Pe, Pa[0], 1e-12, 0);
    }
    assert_close(dt_kf_state(kf_of(t))[0], xe, 1e-12, 0);
    assert_close(dt_kf_cov(kf_of(t))[0], Pe, 1e-12, 0);
    dt_twin_destroy(t);
}

static void test_aged_belief_ci(void **state)
{
    (void)state;
    aged_fusion("", 0);
}

static void test_aged_belief_independent(void **state)
{
    (void)state;
    aged_fusion(",\"independent\":true", 1);
}

/* A child that commands: the host's commands to it, between the parent's
 * steps, are in the parent's log and replayed at the same point. */
#define VALVE                                                                              \
    "{\"dtwin\":1,\"name\":\"valve\",\"assets\":[{\"id\":\"v\",\"name\":\"V\",\"kind\":"  \
    "\"valve\"}],\"signals\":["                                                            \
    "{\"id\":\"pos\",\"asset\":\"v\",\"quantity\":\"dimensionless\",\"unit\":\"%\","       \
    "\"role\":\"measured\",\"period\":0.1,\"noise\":{\"std\":0.5}},"                       \
    "{\"id\":\"pos_est\",\"asset\":\"v\",\"quantity\":\"dimensionless\",\"unit\":\"%\","   \
    "\"role\":\"estimated\"},"                                                             \
    "{\"id\":\"cmd\",\"asset\":\"v\",\"quantity\":\"dimensionless\",\"unit\":\"%\","       \
    "\"role\":\"commanded\",\"limits\":{\"min\":0,\"max\":100}}],"                          \
    "\"estimator\":{\"states\":[\"pos_est\"],\"A\":[[0]],\"Q\":[1],\"x0\":[50],"           \
    "\"P0\":[100],\"measurements\":[{\"signal\":\"pos\",\"H\":{\"pos_est\":1}}]},"         \
    "\"sources\":[{\"id\":\"m\",\"kind\":\"memory\",\"mapping\":[{\"native\":\"pos\","     \
    "\"signal\":\"pos\"}]}],"                                                              \
    "\"sinks\":[{\"id\":\"out\",\"kind\":\"memory\",\"mapping\":[{\"native\":\"cmd\","     \
    "\"signal\":\"cmd\"}]}],"                                                              \
    "\"dispatcher\":{\"safe\":{\"cmd\":0},\"max_data_age\":0.5,\"rate_limits\":{\"cmd\":"  \
    "100}}}"

static void test_child_commands_replayed(void **state)
{
    (void)state;
    const char *text = parent_text("", "", "[{\"id\":\"shaft\",\"twin\":" SHAFT "},"
                                           "{\"id\":\"valve\",\"twin\":" VALVE "}]");
    dt_diag d;
    dt_twin *t = load(text, 0, &d);
    assert_non_null(t);
    dt_twin *v = dt_twin_child(t, 1);
    membuf log = {0};
    assert_int_equal(dt_twin_record(t, mem_write, &log), DT_OK);
    assert_int_equal(dt_twin_start(t, 0), DT_OK);
    dt_signal_id cmd;
    assert_int_equal(dt_model_find_signal(dt_twin_model(v), "cmd", &cmd), DT_OK);
    for (int k = 1; k <= 20; k++) {
        dt_time now = (dt_time)k * 100 * DT_NS_PER_MS;
        if (k != 8) /* a gap: the valve's data goes stale, its safe state engages */
            assert_int_equal(dt_memory_source_push(dt_twin_io(v), 0, "pos", now, 40 + k), 0);
        if (k % 3 == 0) {
            dt_command c = {0};
            c.signal = cmd;
            c.value = 10.0 * k;
            c.t_issued = now;
            c.t_deadline = now + DT_NS_PER_S;
            assert_int_equal(dt_twin_submit(v, &c), DT_OK);
        }
        int rc = dt_twin_step(t, now);
        assert_true(rc == DT_OK || rc == DT_ENOTFOUND);
    }
    dt_twin_stats live;
    dt_twin_stats_get(v, &live);
    assert_true(live.commands >= 6); /* and the safe state's own */
    assert_true(live.sent >= 6);
    dt_audit la[32], ra[32];
    size_t ln = dt_twin_audit(v, la, 32);
    double lx = dt_kf_state(kf_of(v))[0];
    dt_twin_destroy(t);

    dt_twin *r = load(text, 1, &d);
    assert_non_null(r);
    assert_int_equal(dt_twin_replay(r, mem_read, &log, NULL, NULL), DT_OK);
    dt_twin *rv = dt_twin_child(r, 1);
    dt_twin_stats rs;
    dt_twin_stats_get(rv, &rs);
    assert_int_equal(rs.commands, live.commands);
    assert_int_equal(rs.sent, live.sent);
    assert_int_equal(rs.safe_stated, live.safe_stated);
    assert_int_equal(rs.rate_limited, live.rate_limited);
    assert_int_equal(rs.safe_entries, live.safe_entries);
    assert_int_equal(dt_twin_audit(rv, ra, 32), ln);
    for (size_t i = 0; i < ln; i++) {
        assert_int_equal(ra[i].cmd.seq, la[i].cmd.seq);
        assert_true(ra[i].cmd.value == la[i].cmd.value);
        assert_true(ra[i].requested == la[i].requested);
        assert_int_equal(ra[i].decision, la[i].decision);
        assert_int_equal(ra[i].sink_status, la[i].sink_status);
    }
    assert_true(dt_kf_state(kf_of(rv))[0] == lx);
    dt_twin_destroy(r);
    free(log.p);
}

/* ---- refusals: each names its JSON path and the value ---- */

static void refused(const char *text, int code, const char *path, const char *msg)
{
    for (int mode = 0; mode < 3; mode++) { /* opened, replayed, checked */
        dt_twin_options o = DT_TWIN_OPTIONS_INIT;
        o.logger = dt_logger_silent();
        o.replay = mode > 0;
        o.validate = mode == 2;
        dt_twin *t = NULL;
        dt_diag d;
        int rc = dt_twin_load_json(text, strlen(text), &o, &t, &d);
        if (rc != code || strcmp(d.path, path) != 0 || strstr(d.message, msg) == NULL)
            fail_msg("mode %d: got %s \"%s\" (path \"%s\"), wanted %s at %s with \"%s\"", mode,
                     dt_err_name(rc), d.message, d.path, dt_err_name(code), path, msg);
        assert_null(t);
    }
}

static void test_refused_unit_mismatch(void **state)
{
    (void)state;
    /* the child's speed in rpm, mapped as if it were rad/s */
    refused(parent_text("", ",\"unit\":\"rad/s\"", ONE_CHILD), DT_EUNIT,
            "sources[0].mapping[0].unit",
            "child \"shaft\" gives speed_est in \"rpm\", which this mapping to spd (\"rpm\") "
            "does not convert from: give \"unit\": \"rpm\" in the mapping");
    /* a quantity that converts to nothing */
    refused(subst(parent_text("", "", ONE_CHILD), "\"native\":\"speed_est\"",
                  "\"native\":\"other_est\""),
            DT_EUNIT, "sources[0].mapping[0].unit",
            "child \"shaft\" gives other_est in \"N.m\", which is not a unit of spd (\"rpm\")");
}

static void test_refused_missing_child(void **state)
{
    (void)state;
    refused(subst(parent_text("", "", ONE_CHILD), "\"child\":\"shaft\"", "\"child\":\"rotor\""),
            DT_EPARSE, "sources[0].child", "no child \"rotor\" (children: shaft)");
    /* no children section at all */
    refused(subst(parent_text("", "", "[]"), "\"children\":[],", ""), DT_EPARSE,
            "sources[0].child", "no child \"shaft\" (the description has no \"children\")");
}

static void test_refused_children_section(void **state)
{
    (void)state;
    refused(parent_text("", "", "[]"), DT_EPARSE, "children",
            "an array of 1 to 16 children, got none");
    refused(parent_text("", "", "{}"), DT_EPARSE, "children", "an array of 1 to 16 children");
    refused(parent_text("", "", "[{\"id\":\"shaft\",\"twin\":" SHAFT "},{\"id\":\"shaft\","
                                "\"twin\":" SHAFT "}]"),
            DT_EPARSE, "children[1].id", "duplicate child id \"shaft\" (children[0] has it)");
    refused(parent_text("", "", "[{\"id\":\"shaft\"}]"), DT_EPARSE, "children[0]",
            "needs \"description\"");
    refused(parent_text("", "", "[{\"id\":\"shaft\",\"twin\":" SHAFT ",\"description\":"
                                "\"x.json\"}]"),
            DT_EPARSE, "children[0]", "not both");
    refused(parent_text("", "", "[{\"id\":\"sh aft\",\"twin\":" SHAFT "}]"), DT_EPARSE,
            "children[0].id", "got \"sh aft\"");
    refused(parent_text("", "", "[{\"id\":\"shaft\",\"twin\":" SHAFT ",\"x\":1}]"), DT_EPARSE,
            "children[0].x", "unknown key");
    refused(parent_text("", "", "[{\"id\":\"shaft\",\"description\":\"no/such/file.json\"}]"),
            DT_EIO, "children[0].description",
            "cannot read \"no/such/file.json\": No such file or directory");
    refused(parent_text("", "", "[{\"id\":\"shaft\",\"twin\":[]}]"), DT_EPARSE,
            "children[0].twin", "expected a twin description (an object), got an array");
}

static void test_refused_child_itself(void **state)
{
    (void)state;
    /* the child's own refusal, under the entry's path */
    char child[4096];
    snprintf(child, sizeof child, "[{\"id\":\"shaft\",\"twin\":%s}]",
             subst(SHAFT, "\"signal\":\"speed\"}]}]}", "\"signal\":\"speex\"}]}]}"));
    refused(parent_text("", "", child), DT_EPARSE,
            "children[0].twin.sources[0].mapping[0].signal",
            "children[0].twin.sources[0].mapping[0].signal: unknown signal \"speex\"");
    /* a child with children of its own */
    snprintf(child, sizeof child,
             "[{\"id\":\"shaft\",\"twin\":%.*s,\"children\":[{\"id\":\"x\",\"twin\":{}}]}}]",
             (int)strlen(SHAFT) - 1, SHAFT);
    refused(parent_text("", "", child), DT_EPARSE, "children[0].twin.children",
            "a child twin cannot have children of its own");
}

static void test_refused_child_source(void **state)
{
    (void)state;
    refused(parent_text(",\"clock\":{\"mode\":\"fixed\"}", "", ONE_CHILD), DT_EPARSE,
            "sources[0]", "clock: a child source takes no clock");
    refused(parent_text(",\"criterion\":\"volume\"", "", ONE_CHILD), DT_EPARSE, "sources[0]",
            "criterion: \"trace\" or \"det\"");
    refused(parent_text(",\"independent\":true,\"criterion\":\"det\"", "", ONE_CHILD),
            DT_EPARSE, "sources[0]", "with \"independent\": true");
    refused(parent_text(",\"independent\":1", "", ONE_CHILD), DT_EPARSE, "sources[0]",
            "independent: expected true or false");
    /* a native that is no state of the child */
    refused(subst(parent_text("", "", ONE_CHILD), "\"native\":\"speed_est\"",
                  "\"native\":\"speed\""),
            DT_EPARSE, "sources[0].mapping[0].native",
            "\"speed\" is not a state of child \"shaft\"'s estimator (it is measured)");
}

/* A child of n states in a chain, x_i' = x_{i+1} (the last a random walk),
 * measured at x0; every state in rpm. */
static const char *chain_child(size_t n)
{
    static char buf[16384];
    size_t k = (size_t)snprintf(buf, sizeof buf,
                                "[{\"id\":\"shaft\",\"twin\":{\"dtwin\":1,\"name\":\"chain\","
                                "\"assets\":[{\"id\":\"s\"}],\"signals\":[{\"id\":\"y\","
                                "\"asset\":\"s\",\"quantity\":\"angular_velocity\",\"unit\":"
                                "\"rpm\",\"role\":\"measured\",\"noise\":{\"std\":1}}");
    for (size_t i = 0; i < n; i++)
        k += (size_t)snprintf(buf + k, sizeof buf - k,
                              ",{\"id\":\"x%zu\",\"asset\":\"s\",\"quantity\":"
                              "\"angular_velocity\",\"unit\":\"rpm\",\"role\":\"estimated\"}",
                              i);
    k += (size_t)snprintf(buf + k, sizeof buf - k, "],\"estimator\":{\"states\":[");
    for (size_t i = 0; i < n; i++)
        k += (size_t)snprintf(buf + k, sizeof buf - k, "%s\"x%zu\"", i ? "," : "", i);
    k += (size_t)snprintf(buf + k, sizeof buf - k, "],\"A\":[");
    for (size_t i = 0; i < n; i++) {
        k += (size_t)snprintf(buf + k, sizeof buf - k, "%s[", i ? "," : "");
        for (size_t j = 0; j < n; j++)
            k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%d", j ? "," : "", j == i + 1);
        k += (size_t)snprintf(buf + k, sizeof buf - k, "]");
    }
    k += (size_t)snprintf(buf + k, sizeof buf - k, "],\"Q\":[");
    for (size_t i = 0; i < n; i++)
        k += (size_t)snprintf(buf + k, sizeof buf - k, "%s1", i ? "," : "");
    k += (size_t)snprintf(buf + k, sizeof buf - k, "],\"x0\":[");
    for (size_t i = 0; i < n; i++)
        k += (size_t)snprintf(buf + k, sizeof buf - k, "%s0", i ? "," : "");
    k += (size_t)snprintf(buf + k, sizeof buf - k, "],\"P0\":[");
    for (size_t i = 0; i < n; i++)
        k += (size_t)snprintf(buf + k, sizeof buf - k, "%s1", i ? "," : "");
    (void)snprintf(buf + k, sizeof buf - k,
                   "],\"measurements\":[{\"signal\":\"y\",\"H\":{\"x0\":1}}]}}}]");
    return buf;
}

/* The group is the mapped states closed under their dependencies: reading
 * x0 of a 17-state chain needs all 17 (refused: a belief carries 16),
 * reading x15 needs x15 and x16 only; a discrete model, or one with inputs,
 * cannot be aged exactly. */
static void test_refused_child_model(void **state)
{
    (void)state;
    char children[16384];
    snprintf(children, sizeof children, "%s", chain_child(17));
    refused(subst(parent_text("", "", children), "\"native\":\"speed_est\"", "\"native\":\"x0\""),
            DT_ELIMIT, "sources[0].mapping",
            "the states it reads depend on 17 of child \"shaft\"'s 17 states through its model "
            "(A and Q); a belief carries at most 16");
    dt_diag d;
    dt_twin *t = load(subst(parent_text("", "", children), "\"native\":\"speed_est\"",
                            "\"native\":\"x15\""),
                      0, &d);
    assert_non_null(t);
    dt_twin_destroy(t);
    snprintf(children, sizeof children, "%s", chain_child(16));
    t = load(subst(parent_text("", "", children), "\"native\":\"speed_est\"", "\"native\":\"x0\""),
             0, &d);
    assert_non_null(t);
    dt_twin_destroy(t);
    /* discrete */
    snprintf(children, sizeof children, "[{\"id\":\"shaft\",\"twin\":%s}]",
             subst(SHAFT, "\"estimator\":{", "\"estimator\":{\"process\":\"discrete\","));
    refused(parent_text("", "", children), DT_EPARSE, "sources[0].child",
            "child \"shaft\"'s estimator has no continuous linear model (A, Q): its belief "
            "could not be aged to this twin's time");
    /* inputs */
    snprintf(children, sizeof children, "[{\"id\":\"shaft\",\"twin\":%s}]",
             subst(VALVE, "\"estimator\":{", "\"estimator\":{\"inputs\":[\"cmd\"],\"B\":[[0.1]],"));
    refused(subst(parent_text("", "", children), "\"native\":\"speed_est\"",
                  "\"native\":\"pos_est\""),
            DT_EPARSE, "sources[0].child",
            "child \"shaft\"'s estimator has inputs (1): a belief is aged with A and Q alone");
    /* no estimator */
    snprintf(children, sizeof children,
             "[{\"id\":\"shaft\",\"twin\":{\"dtwin\":1,\"name\":\"n\",\"assets\":[],"
             "\"signals\":[]}}]");
    refused(parent_text("", "", children), DT_EPARSE, "sources[0].child",
            "child \"shaft\" has no Kalman filter (an \"estimator\" of kind \"kf\")");
}

static void test_refused_semantic_id(void **state)
{
    (void)state;
#undef SHAFT_SEM
#define SHAFT_SEM ",\"semanticId\":\"urn:x:torque\""
    refused(subst(parent_text("", "", ONE_CHILD), "\"id\":\"spd\",",
                  "\"id\":\"spd\",\"semanticId\":\"urn:x:speed\","),
            DT_EPARSE, "sources[0].mapping[0]",
            "semantic id \"urn:x:torque\", spd has \"urn:x:speed\": not the same quantity");
#undef SHAFT_SEM
#define SHAFT_SEM ""
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_turbine_children),
        cmocka_unit_test(test_turbine_follows_children),
        cmocka_unit_test(test_turbine_replay_bit_exact),
        cmocka_unit_test(test_load_every_allocation),
        cmocka_unit_test(test_aged_belief_ci),
        cmocka_unit_test(test_aged_belief_independent),
        cmocka_unit_test(test_child_commands_replayed),
        cmocka_unit_test(test_refused_unit_mismatch),
        cmocka_unit_test(test_refused_missing_child),
        cmocka_unit_test(test_refused_children_section),
        cmocka_unit_test(test_refused_child_itself),
        cmocka_unit_test(test_refused_child_source),
        cmocka_unit_test(test_refused_child_model),
        cmocka_unit_test(test_refused_semantic_id),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
