/* Red team of signed commands, least privilege and the planes: each test is
 * a reproducer of one defect found by attacking the change, kept so that it
 * stays fixed (what it did before the fix is said above each test). */
#define _DEFAULT_SOURCE
#include "test_util.h"

#include <stdlib.h>
#include <unistd.h>

#include "dtwin/dtwin.h"
#include "membuf.h"

#define S DT_NS_PER_S
#define MS DT_NS_PER_MS

static struct {
    char dir[64];
    dt_keystore *ks;
    dt_key *planner, *estimator;
    char planner_hex[65];
} K;

static int setup(void **state)
{
    (void)state;
    snprintf(K.dir, sizeof K.dir, "/tmp/dtt-redcmd-XXXXXX");
    if (mkdtemp(K.dir) == NULL || dt_key_generate(K.dir, "planner", DT_KEY_SIGN, NULL) != 0 ||
        dt_key_generate(K.dir, "estimator", DT_KEY_SIGN, NULL) != 0 ||
        dt_keystore_file(K.dir, &K.ks, NULL) != 0 ||
        dt_key_load(K.ks, "planner", DT_KEY_SIGN, &K.planner, NULL) != 0 ||
        dt_key_load(K.ks, "estimator", DT_KEY_SIGN, &K.estimator, NULL) != 0)
        return -1;
    unsigned char pk[32];
    dt_key_public(K.planner, pk);
    for (int i = 0; i < 32; i++)
        snprintf(K.planner_hex + 2 * i, 3, "%02x", pk[i]);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    dt_key_free(K.planner);
    dt_key_free(K.estimator);
    dt_keystore_close(K.ks);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", K.dir);
    return system(cmd) == 0 ? 0 : -1;
}

static size_t sign(const dt_key *key, const char *twin, const char *signal, uint32_t epoch,
                   uint64_t seq, dt_time now, double value, const dt_belief_token *tok,
                   uint8_t *rec)
{
    dt_signed_command c;
    memset(&c, 0, sizeof c);
    assert_int_equal(dt_cmd_address(twin, signal, c.address), 0);
    c.epoch = epoch;
    c.seq = seq;
    c.t_issued = now;
    c.t_deadline = now + 100 * MS;
    c.value = value;
    c.has_belief = tok != NULL;
    if (tok != NULL)
        c.belief = *tok;
    size_t len = 0;
    assert_int_equal(dt_cmd_sign(key, &c, rec, DT_CMDAUTH_MAX, &len), 0);
    return len;
}

/* Before the fix: an issuer at seq 2^64 - 1 whose previous command arrived
 * after it (within the window) added 2^64 - 2 to seq_gaps: top + 1 wrapped
 * to 0, so every seq looked "ahead" of it. */
static void test_seq_gaps_at_top(void **state)
{
    (void)state;
    dt_cmd_verifier *v = NULL;
    assert_int_equal(dt_cmd_verifier_new("plant", 1, NULL, &v), 0);
    unsigned char pk[32];
    dt_key_public(K.planner, pk);
    assert_int_equal(dt_cmd_verifier_trust(v, "planner", pk), 0);
    uint8_t rec[DT_CMDAUTH_MAX];
    dt_time now = 10 * S;
    const uint64_t seqs[] = {UINT64_MAX - 2, UINT64_MAX, UINT64_MAX - 1};
    for (size_t i = 0; i < 3; i++) {
        size_t n = sign(K.planner, "plant", "valve", 7, seqs[i], now, 0.5, NULL, rec);
        assert_int_equal(dt_cmd_verify(v, rec, n, "valve", now, NULL), DT_CMDAUTH_OK);
    }
    dt_cmdauth_stats st;
    dt_cmd_verifier_stats(v, &st);
    assert_int_equal(st.verified, 3);
    assert_int_equal(st.seq_gaps, 1); /* UINT64_MAX - 1, skipped, then arrived late */
    /* the window still refuses the three */
    for (size_t i = 0; i < 3; i++) {
        size_t n = sign(K.planner, "plant", "valve", 7, seqs[i], now, 0.5, NULL, rec);
        assert_int_equal(dt_cmd_verify(v, rec, n, "valve", now, NULL), DT_CMDAUTH_REPLAYED);
    }
    dt_cmd_verifier_free(v);
}

/* Before the fix: a verifier that requires no belief token took a record
 * carrying a token of a revoked estimator key, although "from now on every
 * record it signed, as issuer or as estimator, is refused" (cmdauth.h,
 * docs/security.md); dt_cmd_verifier_revoked said 1 for the same record. */
static void test_revoked_estimator_without_beliefs(void **state)
{
    (void)state;
    dt_cmd_verifier *v = NULL;
    assert_int_equal(dt_cmd_verifier_new("plant", 1, NULL, &v), 0);
    unsigned char pk[32];
    dt_key_public(K.planner, pk);
    assert_int_equal(dt_cmd_verifier_trust(v, "planner", pk), 0);
    assert_int_equal(dt_cmd_verifier_revoke(v, dt_key_id(K.estimator)), 0);
    double x = 1, P = 0.1;
    dt_time now = 10 * S;
    dt_belief_token tok;
    assert_int_equal(dt_belief_token_sign(K.estimator, now, 1, &x, &P, 1, &tok), 0);
    uint8_t rec[DT_CMDAUTH_MAX];
    size_t n = sign(K.planner, "plant", "valve", 1, 1, now, 0.5, &tok, rec);
    assert_int_equal(dt_cmd_verifier_revoked(v, rec, n), 1);
    assert_int_equal(dt_cmd_verify(v, rec, n, "valve", now, NULL), DT_CMDAUTH_REVOKED);
    /* the same command without the token is the planner's and goes */
    n = sign(K.planner, "plant", "valve", 1, 2, now, 0.5, NULL, rec);
    assert_int_equal(dt_cmd_verify(v, rec, n, "valve", now, NULL), DT_CMDAUTH_OK);
    dt_cmd_verifier_free(v);
}

/* ---- twins ---- */

/* A valve twin named `name` with dispatcher.auth trusting the planner. */
static const char *valve_twin(char *buf, size_t cap, const char *name, const char *extra)
{
    snprintf(buf, cap,
             "{\"dtwin\":1,\"name\":\"%s\",\"assets\":[{\"id\":\"a\"}],\"signals\":["
             "{\"id\":\"level\",\"asset\":\"a\",\"quantity\":\"length\",\"unit\":\"m\","
             " \"role\":\"measured\",\"noise\":{\"std\":0.01}},"
             "{\"id\":\"valve\",\"asset\":\"a\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
             " \"role\":\"commanded\",\"limits\":{\"min\":0,\"max\":1}}],"
             "\"sources\":[{\"id\":\"m\",\"kind\":\"memory\",\"timeout\":10,"
             " \"mapping\":[{\"native\":\"level\",\"signal\":\"level\"}]}],"
             "\"sinks\":[{\"id\":\"act\",\"kind\":\"memory\","
             " \"mapping\":[{\"native\":\"valve\",\"signal\":\"valve\"}]}],"
             "\"dispatcher\":{\"safe\":{\"valve\":0},\"max_data_age\":10,"
             " \"auth\":{\"issuers\":[{\"name\":\"planner\",\"public\":\"%s\"}],"
             "\"deadline_max\":1}}%s}",
             name, K.planner_hex, extra != NULL ? extra : "");
    return buf;
}

static int load(const char *text, dt_twin **t, dt_diag *d)
{
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    memset(d, 0, sizeof *d);
    int rc = dt_twin_load_json(text, strlen(text), &o, t, d);
    if (rc != 0 && getenv("DTT_VERBOSE") != NULL)
        printf("load: %d %s: %s\n", rc, d->path, d->message);
    return rc;
}

/* How many of the host's commands of `value` a twin's valve sink received
 * (the safe state's own commands are not counted). */
static size_t carried_out(dt_twin *t, double value)
{
    dt_command out[8];
    size_t n = dt_memory_sink_read(dt_twin_io(t), 0, out, 8), k = 0;
    for (size_t i = 0; i < n; i++)
        k += DT_ORIGIN_KIND(out[i].origin) == DT_ORIGIN_HOST && out[i].value == value;
    return k;
}

/* Before the fix: a composite of two children loaded from one description
 * (both named "pump") took the planner's record for the first child's valve
 * on the second child's valve too: the address names the twin by its
 * description's name, which nothing made unique, and each child keeps its
 * own replay window. The fix refuses the composite at load. */
static void test_children_same_name(void **state)
{
    (void)state;
    char child[4096], doc[12288];
    valve_twin(child, sizeof child, "pump", NULL);
    snprintf(doc, sizeof doc,
             "{\"dtwin\":1,\"name\":\"station\",\"assets\":[{\"id\":\"s\"}],\"signals\":["
             "{\"id\":\"p\",\"asset\":\"s\",\"quantity\":\"length\",\"unit\":\"m\","
             " \"role\":\"measured\",\"noise\":{\"std\":0.01}}],"
             "\"sources\":[{\"id\":\"m\",\"kind\":\"memory\",\"timeout\":10,"
             " \"mapping\":[{\"native\":\"p\",\"signal\":\"p\"}]}],"
             "\"children\":[{\"id\":\"pump_a\",\"twin\":%s},{\"id\":\"pump_b\",\"twin\":%s}]}",
             child, child);
    dt_twin *t = NULL;
    dt_diag d;
    int rc = load(doc, &t, &d);
    if (rc == 0) { /* the attack, as it ran before the fix */
        dt_time now = 1 * S;
        assert_int_equal(dt_twin_start(t, now), 0);
        uint8_t rec[DT_CMDAUTH_MAX];
        size_t n = sign(K.planner, "pump", "valve", 1, 1, now, 1.0, NULL, rec);
        assert_int_equal(dt_twin_submit_signed(dt_twin_child(t, 0), rec, n), 0);
        assert_int_equal(dt_twin_submit_signed(dt_twin_child(t, 1), rec, n), 0); /* moved */
        now += 10 * MS;
        dt_twin_step(t, now);
        size_t a = carried_out(dt_twin_child(t, 0), 1.0), b = carried_out(dt_twin_child(t, 1), 1.0);
        dt_twin_destroy(t);
        printf("one record, carried out by pump_a %zu time(s) and by pump_b %zu time(s)\n", a,
               b);
        assert_int_equal(b, 0);
        fail_msg("a composite whose signed-command twins share a name was loaded");
    }
    assert_int_equal(rc, DT_EPARSE);
    assert_string_equal(d.path, "children[1]");
    assert_non_null(strstr(d.message, "\"pump\""));
    /* the parent's name counts too when the parent takes signed commands */
    char extra[4608];
    valve_twin(child, sizeof child, "station", NULL);
    snprintf(extra, sizeof extra, ",\"children\":[{\"id\":\"pump_a\",\"twin\":%s}]", child);
    assert_int_equal(load(valve_twin(doc, sizeof doc, "station", extra), &t, &d), DT_EPARSE);
    assert_string_equal(d.path, "dispatcher.auth");
    assert_non_null(strstr(d.message, "pump_a"));
    /* distinct names load */
    char c2[4096];
    valve_twin(child, sizeof child, "pump1", NULL);
    valve_twin(c2, sizeof c2, "pump2", NULL);
    snprintf(doc, sizeof doc,
             "{\"dtwin\":1,\"name\":\"station\",\"assets\":[{\"id\":\"s\"}],\"signals\":["
             "{\"id\":\"p\",\"asset\":\"s\",\"quantity\":\"length\",\"unit\":\"m\","
             " \"role\":\"measured\",\"noise\":{\"std\":0.01}}],"
             "\"sources\":[{\"id\":\"m\",\"kind\":\"memory\",\"timeout\":10,"
             " \"mapping\":[{\"native\":\"p\",\"signal\":\"p\"}]}],"
             "\"children\":[{\"id\":\"pump_a\",\"twin\":%s},{\"id\":\"pump_b\",\"twin\":%s}]}",
             child, c2);
    assert_int_equal(load(doc, &t, &d), 0);
    dt_twin_destroy(t);
}

/* Before the fix: a twin with dispatcher.auth and "bus": {"twin": X} with X
 * not its name verified records against its name while the twin sinks of
 * other twins sign them for X (their "twin"): every signed bus command was
 * refused (wrong_address), and two twins loaded from one description under
 * two bus names shared one address (a record for one was carried out by the
 * other). Now a twin on a bus is addressed by its bus name: a record for X
 * is taken, one for the description's name is not. */
static void test_bus_name_not_address(void **state)
{
    (void)state;
    char doc[8192];
    const char *bus = ",\"bus\":{\"realm\":\"r\",\"twin\":\"pump-b\",\"broker\":{\"host\":"
                      "\"127.0.0.1\",\"port\":1,\"tls\":\"none\"}}";
    dt_twin *t = NULL;
    dt_diag d;
    assert_int_equal(load(valve_twin(doc, sizeof doc, "pump", bus), &t, &d), 0);
    dt_time now = 1 * S;
    assert_int_equal(dt_twin_start(t, now), 0);
    uint8_t rec[DT_CMDAUTH_MAX];
    size_t n = sign(K.planner, "pump-b", "valve", 1, 1, now, 0.5, NULL, rec);
    assert_int_equal(dt_twin_submit_signed(t, rec, n), 0);
    n = sign(K.planner, "pump", "valve", 1, 2, now, 0.5, NULL, rec);
    assert_int_equal(dt_twin_submit_signed(t, rec, n), DT_ENOTFOUND);
    dt_cmdauth_stats st;
    assert_int_equal(dt_twin_cmdauth_stats(t, &st), 0);
    assert_int_equal(st.refused[DT_CMDAUTH_WRONG_ADDRESS], 1);
    dt_twin_destroy(t);
}

/* Before the fix: an io pointer the host took with dt_twin_io before
 * dt_twin_planes still applied commands straight to the actuator's sinks
 * (dt_io_apply) after partitioning: no dispatcher, no signature, no limit. */
static void test_io_kept_across_partition(void **state)
{
    (void)state;
    char doc[8192];
    dt_twin *t = NULL;
    dt_diag d;
    assert_int_equal(load(valve_twin(doc, sizeof doc, "plant", NULL), &t, &d), 0);
    dt_io *io = dt_twin_io(t);   /* kept by a component */
    dt_planes pl;
    assert_int_equal(dt_twin_planes(t, &pl), 0);
    dt_time now = 1 * S;
    assert_int_equal(dt_mgmt_start(pl.mgmt, now), 0);
    dt_signal_id v;
    assert_int_equal(dt_model_find_signal(dt_twin_model(t), "valve", &v), 0);
    dt_command c = {.signal = v, .seq = 1, .t_issued = now, .t_deadline = now + S, .value = 5};
    assert_int_equal(dt_io_apply(io, &c), DT_EPLANE);
    now += 10 * MS;
    assert_int_equal(dt_twin_step(t, now), 0);
    dt_command out[8];
    size_t n = 0;
    assert_int_equal(dt_data_sink_read(pl.data, "act", out, 8, &n), 0);
    for (size_t i = 0; i < n; i++) /* the safe state's own commands only */
        assert_int_equal(DT_ORIGIN_KIND(out[i].origin), DT_ORIGIN_DISPATCHER);
    /* the twin's own dispatch still reaches the sink: a signed command */
    uint8_t rec[DT_CMDAUTH_MAX];
    size_t len = sign(K.planner, "plant", "valve", 1, 1, now, 0.25, NULL, rec);
    assert_int_equal(dt_control_submit_signed(pl.control, rec, len), 0);
    now += 10 * MS;
    assert_int_equal(dt_twin_step(t, now), 0);
    assert_int_equal(dt_data_sink_read(pl.data, "act", out, 8, &n), 0);
    size_t host = 0;
    for (size_t i = 0; i < n; i++)
        host += DT_ORIGIN_KIND(out[i].origin) == DT_ORIGIN_HOST; /* (the safe value: no data) */
    assert_int_equal(host, 1);
    dt_plane_stats ps;
    dt_plane_stats_get(pl.mgmt, &ps);
    assert_true(ps.raw_refused >= 1);
    dt_twin_destroy(t);
}

/* Before the fix: a record the host submitted while 256 commands were
 * queued got DT_EFULL and ended in no counter of dt_twin_cmdauth_stats,
 * against "every record counts in exactly one of them". */
static void test_queue_full_counted(void **state)
{
    (void)state;
    char doc[8192];
    dt_twin *t = NULL;
    dt_diag d;
    assert_int_equal(load(valve_twin(doc, sizeof doc, "plant", NULL), &t, &d), 0);
    dt_time now = 1 * S;
    assert_int_equal(dt_twin_start(t, now), 0);
    uint8_t rec[DT_CMDAUTH_MAX];
    uint64_t given = 0, full = 0;
    for (uint64_t s = 1; s <= 300; s++) {
        size_t n = sign(K.planner, "plant", "valve", 1, s, now, 0.5, NULL, rec);
        int rc = dt_twin_submit_signed(t, rec, n);
        assert_true(rc == 0 || rc == DT_EFULL);
        full += rc == DT_EFULL;
        given++;
    }
    assert_int_equal(full, 300 - 256);
    now += 10 * MS;
    assert_int_equal(dt_twin_step(t, now), 0);
    dt_cmdauth_stats st;
    assert_int_equal(dt_twin_cmdauth_stats(t, &st), 0);
    uint64_t sum = st.verified + st.unsigned_refused + st.revoked_dropped + st.queue_full;
    for (size_t e = 1; e < DT_CMDAUTH__COUNT; e++)
        sum += st.refused[e];
    assert_int_equal(st.queue_full, full);
    assert_int_equal(sum, given);
    dt_twin_destroy(t);
}

/* Sound, kept as a regression test: a flight log edited to change a signed
 * record the live run carried out diverges on replay (the record is refused,
 * the live sink result is left over). A forged record added to the log is
 * refused on replay and changes no sink result, so the replay reports
 * nothing: only the signed-command counters then differ from the live run's
 * (flight logs are not authenticated: docs/security.md's threat model). */
static size_t find_signed(const membuf *m)
{
    for (size_t i = 24; i + 9 < m->n; i++)
        if (m->p[i] == 13 && m->p[i + 1] == 136 && m->p[i + 2] == 0 && m->p[i + 5] == 'D' &&
            m->p[i + 6] == 'T' && m->p[i + 7] == 'S' && m->p[i + 8] == 'C')
            return i;
    fail_msg("no SIGNED record in the log");
    return 0;
}

static int replay_of(const char *doc, membuf *log, char *err, size_t cap)
{
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    o.replay = 1;
    dt_twin *r = NULL;
    dt_diag d;
    assert_int_equal(dt_twin_load_json(doc, strlen(doc), &o, &r, &d), 0);
    log->pos = 0;
    int rc = dt_twin_replay(r, mem_read, log, NULL, NULL);
    snprintf(err, cap, "%s", dt_twin_errmsg(r));
    dt_twin_destroy(r);
    return rc;
}

static void test_replay_edited_signed(void **state)
{
    (void)state;
    char doc[8192], err[256];
    dt_twin *t = NULL;
    dt_diag d;
    assert_int_equal(load(valve_twin(doc, sizeof doc, "plant", NULL), &t, &d), 0);
    membuf log = {0};
    assert_int_equal(dt_twin_record(t, mem_write, &log), 0);
    dt_time now = 1 * S;
    assert_int_equal(dt_twin_start(t, now), 0);
    uint8_t rec[DT_CMDAUTH_MAX];
    for (int k = 1; k <= 3; k++) {
        now += 10 * MS;
        assert_int_equal(dt_memory_source_push(dt_twin_io(t), 0, "level", now - MS, 1), 0);
        size_t n = sign(K.planner, "plant", "valve", 1, (uint64_t)k, now, 0.25 * k, NULL, rec);
        assert_int_equal(dt_twin_submit_signed(t, rec, n), 0);
        assert_int_equal(dt_twin_step(t, now), 0);
    }
    dt_twin_destroy(t);
    assert_int_equal(replay_of(doc, &log, err, sizeof err), 0);
    /* the value of the first signed record changed: refused on replay, and
     * the sink result the live run left is not taken: diverged */
    membuf ed = {malloc(log.n), log.n, log.n, 0};
    memcpy(ed.p, log.p, log.n);
    size_t at = find_signed(&ed);
    ed.p[at + 5 + 64] ^= 1;
    int rc = replay_of(doc, &ed, err, sizeof err);
    printf("value edited: %s (%s)\n", dt_err_name(rc), err);
    assert_int_equal(rc, DT_EPARSE);
    assert_non_null(strstr(err, "diverged"));
    /* a forged record added: refused, and nothing a sink did changes */
    membuf add = {malloc(log.n + 141), log.n + 141, log.n + 141, 0};
    memcpy(add.p, log.p, at);
    memcpy(add.p + at, log.p + at, 141);
    add.p[at + 5 + 40] ^= 0x40; /* another seq: a forgery */
    memcpy(add.p + at + 141, log.p + at, log.n - at);
    rc = replay_of(doc, &add, err, sizeof err);
    printf("forged record added: %s (%s)\n", dt_err_name(rc), err);
    assert_int_equal(rc, DT_OK);
    free(ed.p);
    free(add.p);
    free(log.p);
}

/* Before the fix: 17 MAC issuers in dispatcher.auth (a description is read
 * from outside) wrote the 17th key past the twin's table of 16 MAC keys
 * (over its count): heap corruption, then a crash when the twin was freed.
 * The issuers array was bounded by nothing before the keys were loaded. */
static void test_seventeen_mac_issuers(void **state)
{
    (void)state;
    char issuers[2048], auth[2304], doc[8192];
    size_t k = 0;
    for (int i = 0; i < 17; i++) {
        char name[16];
        snprintf(name, sizeof name, "m%d", i);
        char path[128];
        snprintf(path, sizeof path, "%s/%s.key", K.dir, name);
        if (access(path, F_OK) != 0)
            assert_int_equal(dt_key_generate(K.dir, name, DT_KEY_MAC, NULL), 0);
        k += (size_t)snprintf(issuers + k, sizeof issuers - k, "%s{\"name\":\"%s\",\"mac\":\"%s\"}",
                              i ? "," : "", name, name);
    }
    snprintf(auth, sizeof auth, "{\"issuers\":[%s],\"deadline_max\":1}", issuers);
    valve_twin(doc, sizeof doc, "plant", NULL);
    /* swap the planner's auth for the 17 MAC issuers */
    char *at = strstr(doc, "\"auth\":");
    assert_non_null(at);
    char tail[64];
    snprintf(tail, sizeof tail, "}}");
    snprintf(at, sizeof doc - (size_t)(at - doc), "\"auth\":%s%s", auth, tail);
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    o.keys = K.ks;
    dt_twin *t = NULL;
    dt_diag d;
    memset(&d, 0, sizeof d);
    int rc = dt_twin_load_json(doc, strlen(doc), &o, &t, &d);
    if (rc == 0)
        dt_twin_destroy(t);
    assert_int_equal(rc, DT_EPARSE);
    assert_string_equal(d.path, "dispatcher.auth.issuers");
    /* 16 load */
    char *last = strstr(issuers, ",{\"name\":\"m16\"");
    *last = '\0';
    snprintf(auth, sizeof auth, "{\"issuers\":[%s],\"deadline_max\":1}", issuers);
    snprintf(at, sizeof doc - (size_t)(at - doc), "\"auth\":%s%s", auth, tail);
    rc = dt_twin_load_json(doc, strlen(doc), &o, &t, &d);
    if (rc != 0)
        printf("16 MAC issuers: %s: %s\n", d.path, d.message);
    assert_int_equal(rc, 0);
    dt_twin_destroy(t);
}

int main(int argc, char **argv)
{
    if (argc > 1) /* ctest runs one case at a time */
        cmocka_set_test_filter(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seq_gaps_at_top),
        cmocka_unit_test(test_revoked_estimator_without_beliefs),
        cmocka_unit_test(test_children_same_name),
        cmocka_unit_test(test_bus_name_not_address),
        cmocka_unit_test(test_io_kept_across_partition),
        cmocka_unit_test(test_queue_full_counted),
        cmocka_unit_test(test_replay_edited_signed),
        cmocka_unit_test(test_seventeen_mac_issuers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
