/* Signed commands through a twin ("dispatcher.auth") and the least-privilege
 * pipeline: an estimator component that signs belief tokens with its key, a
 * planner that signs commands built on them with its key, the twin's
 * dispatcher that carries out only those; and a compromised component that
 * holds the data plane and the estimator key but not the planner key, and
 * cannot produce a command the twin carries out. */
#define _DEFAULT_SOURCE
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "alloc_counter.h"
#include "dtwin/dtwin.h"
#include "key_scan.h"
#include "membuf.h"

#define S DT_NS_PER_S
#define MS DT_NS_PER_MS

typedef struct keyset {
    char dir[64];
    dt_keystore *ks;
    dt_key *planner, *estimator, *mallory;
    char planner_hex[65], estimator_hex[65];
} keyset;

static keyset K;

static void hex(const unsigned char *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static int setup(void **state)
{
    (void)state;
    memset(&K, 0, sizeof K);
    snprintf(K.dir, sizeof K.dir, "/tmp/dtt-cmdtwin-XXXXXX");
    if (mkdtemp(K.dir) == NULL || dt_key_generate(K.dir, "planner", DT_KEY_SIGN, NULL) != 0 ||
        dt_key_generate(K.dir, "estimator", DT_KEY_SIGN, NULL) != 0 ||
        dt_key_generate(K.dir, "mallory", DT_KEY_SIGN, NULL) != 0 ||
        dt_keystore_file(K.dir, &K.ks, NULL) != 0 ||
        dt_key_load(K.ks, "planner", DT_KEY_SIGN, &K.planner, NULL) != 0 ||
        dt_key_load(K.ks, "estimator", DT_KEY_SIGN, &K.estimator, NULL) != 0 ||
        dt_key_load(K.ks, "mallory", DT_KEY_SIGN, &K.mallory, NULL) != 0)
        return -1;
    unsigned char pk[32];
    dt_key_public(K.planner, pk);
    hex(pk, 32, K.planner_hex);
    dt_key_public(K.estimator, pk);
    hex(pk, 32, K.estimator_hex);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    dt_key_free(K.planner);
    dt_key_free(K.estimator);
    dt_key_free(K.mallory);
    dt_keystore_close(K.ks);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", K.dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A tank: level measured through a memory source, estimated by a KF, the
 * valve commanded through a memory sink; `auth` is dispatcher.auth's body
 * (NULL: none), `extra` more top-level sections. */
static char doc[8192];
static const char *make_doc(const char *auth, const char *extra)
{
    snprintf(doc, sizeof doc,
             "{\"dtwin\":1,\"name\":\"plant\",\"assets\":[{\"id\":\"t\"}],\"signals\":["
             "{\"id\":\"level\",\"asset\":\"t\",\"quantity\":\"length\",\"unit\":\"m\","
             " \"role\":\"measured\",\"noise\":{\"std\":0.01},\"period\":0.01},"
             "{\"id\":\"level_est\",\"asset\":\"t\",\"quantity\":\"length\",\"unit\":\"m\","
             " \"role\":\"estimated\"},"
             "{\"id\":\"valve\",\"asset\":\"t\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
             " \"role\":\"commanded\",\"limits\":{\"min\":0,\"max\":1}}],"
             "\"sources\":[{\"id\":\"sensor\",\"kind\":\"memory\",\"timeout\":10,"
             " \"mapping\":[{\"native\":\"level\",\"signal\":\"level\"}]}],"
             "\"sinks\":[{\"id\":\"act\",\"kind\":\"memory\","
             " \"mapping\":[{\"native\":\"valve\",\"signal\":\"valve\"}]}],"
             "\"estimator\":{\"states\":[\"level_est\"],\"inputs\":[\"valve\"],\"A\":[[-0.5]],"
             " \"B\":[[1]],\"Q\":[0.01],\"P0\":[1],"
             " \"measurements\":[{\"signal\":\"level\",\"H\":{\"level_est\":1}}]},"
             "\"dispatcher\":{\"safe\":{\"valve\":0},\"deadline\":0.5,\"max_data_age\":0.5%s%s}%s}",
             auth ? ",\"auth\":" : "", auth ? auth : "", extra ? extra : "");
    return doc;
}

static const char *full_auth(void)
{
    static char a[512];
    snprintf(a, sizeof a,
             "{\"issuers\":[{\"name\":\"planner\",\"public\":\"%s\"}],"
             "\"beliefs\":[{\"name\":\"estimator\",\"public\":\"%s\"}],"
             "\"max_belief_age\":0.2,\"deadline_max\":1}",
             K.planner_hex, K.estimator_hex);
    return a;
}

static dt_twin *load(const char *text, const dt_twin_options *o, dt_diag *d)
{
    dt_twin *t = NULL;
    dt_twin_options opt = DT_TWIN_OPTIONS_INIT;
    if (o != NULL)
        opt = *o;
    opt.logger = dt_logger_silent();
    int rc = dt_twin_load_json(text, strlen(text), &opt, &t, d);
    if (rc != 0 && getenv("DTT_VERBOSE") != NULL)
        printf("load: %d %s: %s\n", rc, d->path, d->message);
    return rc == 0 ? t : NULL;
}

/* ---- the components ---- */

typedef struct estimator_c { /* holds the estimator key */
    const dt_key *key;
    uint64_t seq;
} estimator_c;

static dt_belief_token est_token(estimator_c *e, dt_twin *t, dt_time now)
{
    dt_signal_id s;
    assert_int_equal(dt_model_find_signal(dt_twin_model(t), "level_est", &s), 0);
    dt_belief b;
    assert_int_equal(dt_est_belief(dt_twin_estimator(t), s, now, &b), 0);
    dt_belief_token tok;
    assert_int_equal(dt_belief_token_sign(e->key, b.t_data, ++e->seq, &b.value, &b.variance, 1,
                                          &tok), 0);
    return tok;
}

typedef struct planner_c { /* holds the planner key */
    const dt_key *key;
    uint32_t epoch;
    uint64_t seq;
} planner_c;

static size_t plan(planner_c *p, const dt_belief_token *tok, double level, dt_time now,
                   uint8_t *rec)
{
    dt_signed_command c;
    memset(&c, 0, sizeof c);
    assert_int_equal(dt_cmd_address("plant", "valve", c.address), 0);
    c.epoch = p->epoch;
    c.seq = ++p->seq;
    c.t_issued = now;
    c.t_deadline = now + 100 * MS;
    c.value = fmin(1, fmax(0, 0.5 + 2 * (1.0 - level))); /* toward 1 m */
    c.has_belief = tok != NULL;
    if (tok != NULL)
        c.belief = *tok;
    size_t len = 0;
    assert_int_equal(dt_cmd_sign(p->key, &c, rec, DT_CMDAUTH_MAX, &len), 0);
    return len;
}

static double level_of(dt_twin *t, dt_time now)
{
    dt_signal_id s;
    dt_model_find_signal(dt_twin_model(t), "level_est", &s);
    dt_belief b;
    assert_int_equal(dt_est_belief(dt_twin_estimator(t), s, now, &b), 0);
    return b.value;
}

static void sense(dt_twin *t, dt_time now, double level)
{
    assert_int_equal(dt_memory_source_push(dt_twin_io(t), 0, "level", now - MS, level), 0);
}

static size_t drain(dt_twin *t, dt_command *out, size_t max)
{
    return dt_memory_sink_read(dt_twin_io(t), 0, out, max);
}

/* Load-time rules: a zeroed or missing setting is an error; the twin's own
 * controllers cannot sit behind dispatcher.auth. */
static void test_settings(void **state)
{
    (void)state;
    dt_diag d;
    char a[640];
    snprintf(a, sizeof a, "{\"issuers\":[{\"name\":\"planner\",\"public\":\"%s\"}]}",
             K.planner_hex);
    assert_null(load(make_doc(a, NULL), NULL, &d));
    assert_string_equal(d.path, "dispatcher.auth.deadline_max");
    assert_null(load(make_doc("{\"issuers\":[],\"deadline_max\":1}", NULL), NULL, &d));
    assert_string_equal(d.path, "dispatcher.auth.issuers");
    snprintf(a, sizeof a, "{\"issuers\":[{\"name\":\"p\",\"public\":\"%064d\"}],\"deadline_max\":1}", 0);
    assert_null(load(make_doc(a, NULL), NULL, &d));
    assert_string_equal(d.path, "dispatcher.auth.issuers[0].public");
    assert_non_null(strstr(d.message, "all zero"));
    snprintf(a, sizeof a,
             "{\"issuers\":[{\"name\":\"p\",\"public\":\"%s\"}],\"deadline_max\":1,"
             "\"beliefs\":[{\"name\":\"e\",\"public\":\"%s\"}]}", K.planner_hex, K.estimator_hex);
    assert_null(load(make_doc(a, NULL), NULL, &d));
    assert_string_equal(d.path, "dispatcher.auth.max_belief_age");
    snprintf(a, sizeof a,
             "{\"issuers\":[{\"name\":\"p\",\"public\":\"%s\"},{\"name\":\"q\",\"public\":\"%s\"}],"
             "\"deadline_max\":1}", K.planner_hex, K.planner_hex);
    assert_null(load(make_doc(a, NULL), NULL, &d));
    assert_non_null(strstr(d.message, "trusted twice"));
    snprintf(a, sizeof a, "{\"issuers\":[{\"name\":\"fast\",\"mac\":\"fast\"}],\"deadline_max\":1}");
    assert_null(load(make_doc(a, NULL), NULL, &d));
    assert_non_null(strstr(d.message, "key store"));
    assert_null(load(make_doc(full_auth(),
                              ",\"controllers\":[{\"id\":\"c\",\"kind\":\"pid\",\"input\":"
                              "\"level_est\",\"output\":\"valve\",\"setpoint\":1,\"kp\":1}]"),
                     NULL, &d));
    assert_string_equal(d.path, "controllers");
    /* a twin without auth takes no signed record */
    dt_twin *t = load(make_doc(NULL, NULL), NULL, &d);
    assert_non_null(t);
    uint8_t rec[DT_CMDAUTH_MAX] = {0};
    assert_int_equal(dt_twin_submit_signed(t, rec, sizeof rec), DT_EUNSUPPORTED);
    dt_cmdauth_stats st;
    assert_int_equal(dt_twin_cmdauth_stats(t, &st), DT_EUNSUPPORTED);
    dt_twin_destroy(t);
}

/* The pipeline runs: the planner's commands reach the actuator with the
 * values it signed; a command without a record is refused. */
static void test_pipeline(void **state)
{
    (void)state;
    dt_diag d;
    dt_twin *t = load(make_doc(full_auth(), NULL), NULL, &d);
    assert_non_null(t);
    estimator_c est = {K.estimator, 0};
    planner_c pl = {K.planner, 1, 0};
    dt_time now = 1 * S;
    assert_int_equal(dt_twin_start(t, now), 0);
    uint8_t rec[DT_CMDAUTH_MAX];
    double sent[200];
    size_t n_sent = 0;
    dt_command out[8];
    for (int k = 0; k < 200; k++) {
        now += 10 * MS;
        sense(t, now, 0.8);
        assert_int_equal(dt_twin_step(t, now), 0);
        dt_belief_token tok = est_token(&est, t, now);
        size_t len = plan(&pl, &tok, level_of(t, now), now, rec);
        dt_signed_command sc;
        dt_cmd_decode(rec, len, &sc, NULL, NULL);
        sent[n_sent++] = sc.value;
        assert_int_equal(dt_twin_submit_signed(t, rec, len), 0);
        size_t got = drain(t, out, 8);
        assert_true(got <= 1);
    }
    now += 10 * MS;
    assert_int_equal(dt_twin_step(t, now), 0);
    /* every command the planner signed was carried out as signed */
    dt_twin_stats ts;
    dt_twin_stats_get(t, &ts);
    dt_cmdauth_stats st;
    assert_int_equal(dt_twin_cmdauth_stats(t, &st), 0);
    assert_int_equal(st.verified, 200);
    assert_int_equal(ts.refused, 0);
    dt_audit au[200];
    size_t na = dt_twin_audit(t, au, 200), m = 0;
    dt_audit host[200];
    for (size_t i = 0; i < na; i++)
        if (DT_ORIGIN_KIND(au[i].cmd.origin) == DT_ORIGIN_HOST)
            host[m++] = au[i];
    assert_int_equal(m, 64); /* the audit keeps 64 */
    for (size_t j = 0; j < m; j++) /* the newest m, in order, as signed */
        assert_true(host[j].requested == sent[200 - m + j] && (host[j].decision & DT_DISP_SENT));
    /* unsigned: refused, audited with DT_EAUTH */
    dt_signal_id v;
    dt_model_find_signal(dt_twin_model(t), "valve", &v);
    dt_command c = {.signal = v, .t_issued = now, .t_deadline = now + S, .value = 1};
    assert_int_equal(dt_twin_submit(t, &c), 0);
    now += 10 * MS;
    assert_int_equal(dt_twin_step(t, now), 0);
    dt_twin_cmdauth_stats(t, &st);
    assert_int_equal(st.unsigned_refused, 1);
    na = dt_twin_audit(t, au, 200);
    int seen = 0;
    for (size_t i = 0; i < na; i++)
        if ((au[i].decision & DT_DISP_REFUSED) && au[i].sink_status == DT_EAUTH)
            seen++;
    assert_int_equal(seen, 1);
    dt_twin_destroy(t);
}

/* The compromised component: it reads and writes the data plane (it pushes
 * samples and reads beliefs) and holds the estimator key, not the planner
 * key. 1000 attempts of each kind; none is carried out; the planner's
 * commands still are. */
static void test_compromised_component(void **state)
{
    (void)state;
    dt_diag d;
    dt_twin *t = load(make_doc(full_auth(), NULL), NULL, &d);
    assert_non_null(t);
    estimator_c est = {K.estimator, 0}, stolen = {K.estimator, 1000000};
    planner_c pl = {K.planner, 1, 0};
    planner_c as_est = {K.estimator, 9, 0}, as_mallory = {K.mallory, 9, 0};
    dt_time now = 1 * S;
    assert_int_equal(dt_twin_start(t, now), 0);
    uint8_t rec[DT_CMDAUTH_MAX], cap[DT_CMDAUTH_MAX], f[DT_CMDAUTH_MAX];
    size_t cap_len = 0;
    uint64_t tried[8] = {0};
    dt_signal_id v;
    dt_model_find_signal(dt_twin_model(t), "valve", &v);
    uint64_t honest = 0;
    for (int k = 0; k < 1000; k++) {
        now += 10 * MS;
        sense(t, now, 0.8);
        assert_int_equal(dt_twin_step(t, now), 0);
        dt_belief_token tok = est_token(&est, t, now);
        size_t len = plan(&pl, &tok, level_of(t, now), now, rec);
        assert_int_equal(dt_twin_submit_signed(t, rec, len), 0);
        honest++;
        /* 0: an unsigned command through the host path */
        dt_command c = {.signal = v, .t_issued = now, .t_deadline = now + S, .value = 1};
        assert_int_equal(dt_twin_submit(t, &c), 0);
        tried[0]++;
        /* 1: signed with the estimator key it holds, on a token it made */
        dt_belief_token mine = est_token(&stolen, t, now);
        size_t n = plan(&as_est, &mine, 0, now, f);
        assert_int_equal(dt_twin_submit_signed(t, f, n), 0);
        tried[1]++;
        /* 2: signed with a key of its own */
        n = plan(&as_mallory, &mine, 0, now, f);
        assert_int_equal(dt_twin_submit_signed(t, f, n), 0);
        tried[2]++;
        if (cap_len != 0) {
            /* 3: a replay of the planner's previous command */
            assert_int_equal(dt_twin_submit_signed(t, cap, cap_len), 0);
            tried[3]++;
            /* 4: the planner's command with the value changed */
            memcpy(f, cap, cap_len);
            double one = 1.0;
            memcpy(f + 64, &one, 8);
            assert_int_equal(dt_twin_submit_signed(t, f, cap_len), 0);
            tried[4]++;
            /* 5: the planner's command with its belief made to look fresh */
            memcpy(f, cap, cap_len);
            memcpy(f + DT_CMDAUTH_FIXED + 8, &now, 8);
            assert_int_equal(dt_twin_submit_signed(t, f, cap_len), 0);
            tried[5]++;
        }
        memcpy(cap, rec, len);
        cap_len = len;
        /* 6: lies on the data plane (samples it pushes) move the estimate,
         *    not the decision path: counted as tried, accepted as samples */
    }
    now += 10 * MS;
    assert_int_equal(dt_twin_step(t, now), 0);
    dt_cmdauth_stats st;
    assert_int_equal(dt_twin_cmdauth_stats(t, &st), 0);
    printf("compromised component: unsigned %llu/%llu, estimator-signed %llu/%llu, own key "
           "%llu/%llu, replays %llu/%llu, changed value %llu/%llu, made-up token %llu/%llu "
           "refused; planner's commands verified %llu/%llu\n",
           (unsigned long long)st.unsigned_refused, (unsigned long long)tried[0],
           (unsigned long long)st.refused[DT_CMDAUTH_UNKNOWN_ISSUER] / 2, (unsigned long long)tried[1],
           (unsigned long long)st.refused[DT_CMDAUTH_UNKNOWN_ISSUER] / 2, (unsigned long long)tried[2],
           (unsigned long long)st.refused[DT_CMDAUTH_REPLAYED], (unsigned long long)tried[3],
           (unsigned long long)st.refused[DT_CMDAUTH_BAD_SIGNATURE] / 2, (unsigned long long)tried[4],
           (unsigned long long)st.refused[DT_CMDAUTH_BAD_SIGNATURE] / 2, (unsigned long long)tried[5],
           (unsigned long long)st.verified, (unsigned long long)honest);
    assert_true(st.unsigned_refused == tried[0]);
    assert_true(st.refused[DT_CMDAUTH_UNKNOWN_ISSUER] == tried[1] + tried[2]);
    assert_true(st.refused[DT_CMDAUTH_REPLAYED] == tried[3]);
    assert_true(st.refused[DT_CMDAUTH_BAD_SIGNATURE] == tried[4] + tried[5]);
    assert_true(st.verified == honest);
    /* and nothing it sent was carried out: every command sent was the planner's */
    dt_twin_stats ts;
    dt_twin_stats_get(t, &ts);
    assert_true(ts.refused == tried[0] + tried[1] + tried[2] + tried[3] + tried[4] + tried[5]);
    dt_twin_destroy(t);
}

/* Revoking the planner drops its queued commands at once and refuses the
 * later ones; the flight log replays signed commands and the revocation
 * bit for bit; no allocation in the steady state. */
static void test_revoke_replay_alloc(void **state)
{
    (void)state;
    dtt_counter cnt = {0};
    dt_allocator a = dtt_allocator(&cnt);
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.allocator = &a;
    dt_diag d;
    dt_twin *t = load(make_doc(full_auth(), NULL), &o, &d);
    assert_non_null(t);
    membuf log = {0};
    assert_int_equal(dt_twin_record(t, mem_write, &log), 0);
    estimator_c est = {K.estimator, 0};
    planner_c pl = {K.planner, 1, 0};
    dt_time now = 1 * S;
    assert_int_equal(dt_twin_start(t, now), 0);
    uint8_t rec[DT_CMDAUTH_MAX];
    long calls = cnt.calls;
    for (int k = 0; k < 100; k++) {
        now += 10 * MS;
        sense(t, now, 0.9);
        assert_int_equal(dt_twin_step(t, now), 0);
        dt_belief_token tok = est_token(&est, t, now);
        size_t len = plan(&pl, &tok, level_of(t, now), now, rec);
        assert_int_equal(dt_twin_submit_signed(t, rec, len), 0);
        if (k == 50) { /* three queued, then the key is revoked */
            len = plan(&pl, &tok, 0.5, now, rec);
            assert_int_equal(dt_twin_submit_signed(t, rec, len), 0);
            len = plan(&pl, &tok, 0.4, now, rec);
            assert_int_equal(dt_twin_submit_signed(t, rec, len), 0);
            assert_int_equal(dt_twin_revoke(t, dt_key_id(K.planner)), 0);
        }
        dt_command out[4];
        (void)drain(t, out, 4);
    }
    now += 10 * MS;
    assert_int_equal(dt_twin_step(t, now), 0);
    assert_int_equal(cnt.calls, calls); /* signed commands allocate nothing */
    dt_cmdauth_stats st;
    dt_twin_cmdauth_stats(t, &st);
    assert_int_equal(st.revoked_dropped, 3);
    assert_int_equal(st.verified, 50);
    assert_int_equal(st.refused[DT_CMDAUTH_REVOKED], 49);
    dt_audit live[256];
    size_t n_live = dt_twin_audit(t, live, 256);
    dt_twin_destroy(t);

    o.replay = 1;
    dt_twin *r = load(make_doc(full_auth(), NULL), &o, &d);
    assert_non_null(r);
    assert_int_equal(dt_twin_replay(r, mem_read, &log, NULL, NULL), 0);
    dt_cmdauth_stats rs;
    dt_twin_cmdauth_stats(r, &rs);
    assert_memory_equal(&rs, &st, sizeof st);
    dt_audit back[256];
    assert_int_equal(dt_twin_audit(r, back, 256), n_live);
    assert_memory_equal(back, live, n_live * sizeof *live);
    dt_twin_destroy(r);
    free(log.p);
}

/* A recording of the planner's commands to one run of the twin, replayed
 * to its next run while their deadlines still lie ahead (a restart within
 * the deadline): refused as issued before the start, whatever the epoch;
 * the planner's next commands go through. */
static void test_replay_after_restart(void **state)
{
    (void)state;
    dt_diag d;
    planner_c pl = {K.planner, 1, 0};
    uint8_t rec[20][DT_CMDAUTH_MAX];
    size_t len[20];
    dt_time now = 1 * S;
    dt_twin *t = load(make_doc(full_auth(), NULL), NULL, &d);
    assert_non_null(t);
    estimator_c est = {K.estimator, 0};
    assert_int_equal(dt_twin_start(t, now), 0);
    for (int k = 0; k < 20; k++) {
        now += 1 * MS;
        sense(t, now, 0.9);
        assert_int_equal(dt_twin_step(t, now), 0);
        dt_belief_token tok = est_token(&est, t, now);
        len[k] = plan(&pl, &tok, 0.9, now, rec[k]);
        assert_int_equal(dt_twin_submit_signed(t, rec[k], len[k]), 0);
    }
    dt_twin_destroy(t);
    /* the next run, 10 ms later: every recorded deadline (100 ms) still ahead */
    now += 10 * MS;
    t = load(make_doc(full_auth(), NULL), NULL, &d);
    assert_non_null(t);
    assert_int_equal(dt_twin_start(t, now), 0);
    for (int k = 0; k < 20; k++)
        assert_int_equal(dt_twin_submit_signed(t, rec[k], len[k]), 0);
    now += 1 * MS;
    sense(t, now, 0.9);
    assert_int_equal(dt_twin_step(t, now), 0);
    dt_cmdauth_stats st;
    dt_twin_cmdauth_stats(t, &st);
    assert_int_equal(st.verified, 0);
    assert_int_equal(st.refused[DT_CMDAUTH_BEFORE_START], 20);
    /* the planner after its own restart: a new epoch, fresh times */
    pl.epoch++;
    pl.seq = 0;
    dt_belief_token tok = est_token(&est, t, now);
    size_t n = plan(&pl, &tok, 0.9, now, rec[0]);
    assert_int_equal(dt_twin_submit_signed(t, rec[0], n), 0);
    now += 1 * MS;
    sense(t, now, 0.9);
    assert_int_equal(dt_twin_step(t, now), 0);
    dt_twin_cmdauth_stats(t, &st);
    assert_int_equal(st.verified, 1);
    dt_twin_destroy(t);
}

/* A twin that verifies MAC'd commands holds the shared key: its bytes never
 * reach a block the twin frees, nor its flight log. */
static void test_mac_key_never_in_freed_memory_or_log(void **state)
{
    (void)state;
    assert_int_equal(dt_key_generate(K.dir, "fast", DT_KEY_MAC, NULL), 0);
    scan sc;
    memset(&sc, 0, sizeof sc);
    char p[128];
    snprintf(p, sizeof p, "%s/fast.key", K.dir);
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    assert_int_equal(fread(sc.key, 1, sizeof sc.key, f), sizeof sc.key);
    fclose(f);
    dt_key *fast = NULL;
    assert_int_equal(dt_key_load(K.ks, "fast", DT_KEY_MAC, &fast, NULL), 0);
    dt_allocator al = {scan_malloc, scan_realloc, scan_free, &sc};
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.allocator = &al;
    o.keys = K.ks;
    char a[640];
    snprintf(a, sizeof a,
             "{\"issuers\":[{\"name\":\"planner\",\"public\":\"%s\"},"
             "{\"name\":\"fast\",\"mac\":\"fast\"}],\"deadline_max\":1}", K.planner_hex);
    dt_diag d;
    dt_twin *t = load(make_doc(a, NULL), &o, &d);
    assert_non_null(t);
    membuf log = {0};
    assert_int_equal(dt_twin_record(t, mem_write, &log), 0);
    dt_time now = 1 * S;
    assert_int_equal(dt_twin_start(t, now), 0);
    planner_c fp = {fast, 1, 0}, pp = {K.planner, 1, 0};
    uint8_t rec[DT_CMDAUTH_MAX];
    for (int k = 0; k < 100; k++) {
        now += 10 * MS;
        sense(t, now, 0.9);
        assert_int_equal(dt_twin_step(t, now), 0);
        size_t len = plan(k % 2 ? &fp : &pp, NULL, 0.9, now, rec);
        assert_int_equal(dt_twin_submit_signed(t, rec, len), 0);
        dt_command out[4];
        (void)drain(t, out, 4);
    }
    now += 10 * MS;
    assert_int_equal(dt_twin_step(t, now), 0);
    dt_cmdauth_stats st;
    dt_twin_cmdauth_stats(t, &st);
    assert_int_equal(st.verified, 100);
    dt_twin_destroy(t);
    assert_true(sc.blocks > 10);
    assert_int_equal(sc.hits, 0);
    assert_true(log.n > 100 * DT_CMDAUTH_FIXED);
    assert_false(scan_holds(log.p, log.n, sc.key));
    free(log.p);
    dt_key_free(fast);
}

int main(int argc, char **argv)
{
    if (argc > 1) /* ctest runs one case at a time */
        cmocka_set_test_filter(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_pipeline),
        cmocka_unit_test(test_compromised_component),
        cmocka_unit_test(test_revoke_replay_alloc),
        cmocka_unit_test(test_replay_after_restart),
        cmocka_unit_test(test_mac_key_never_in_freed_memory_or_log),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
