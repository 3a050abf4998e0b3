/* The eight communication errors of IEC 61784-3 (corruption, unintended
 * repetition, incorrect sequence, loss, unacceptable delay, insertion,
 * masquerade, addressing) on signed commands into a twin with
 * dispatcher.auth: 1000 injections of each class, for an Ed25519 issuer and
 * for a MAC issuer. Each is detected and counted under its reason; the
 * honest commands around them are all carried out; nothing injected reaches
 * the actuator (injected commands carry a value no honest one has, and the
 * sink sees every command the dispatcher sends). */
#define _DEFAULT_SOURCE
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "dtwin/dtwin.h"

#define S DT_NS_PER_S
#define MS DT_NS_PER_MS
#define N 1000
#define EVIL 0.99 /* the value of every injected command; honest ones stay below 0.5 */

static char dir[64];
static dt_keystore *ks;
static dt_key *planner, *mallory, *fast, *fast2;
static char planner_hex[65];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/dtt-iec-cmd-XXXXXX");
    if (mkdtemp(dir) == NULL || dt_key_generate(dir, "planner", DT_KEY_SIGN, NULL) ||
        dt_key_generate(dir, "mallory", DT_KEY_SIGN, NULL) ||
        dt_key_generate(dir, "fast", DT_KEY_MAC, NULL) || dt_key_generate(dir, "fast2", DT_KEY_MAC, NULL) ||
        dt_keystore_file(dir, &ks, NULL) || dt_key_load(ks, "planner", DT_KEY_SIGN, &planner, NULL) ||
        dt_key_load(ks, "mallory", DT_KEY_SIGN, &mallory, NULL) ||
        dt_key_load(ks, "fast", DT_KEY_MAC, &fast, NULL) ||
        dt_key_load(ks, "fast2", DT_KEY_MAC, &fast2, NULL))
        return -1;
    unsigned char pk[32];
    dt_key_public(planner, pk);
    for (int i = 0; i < 32; i++)
        snprintf(planner_hex + 2 * i, 3, "%02x", pk[i]);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    dt_key_free(planner);
    dt_key_free(mallory);
    dt_key_free(fast);
    dt_key_free(fast2);
    dt_keystore_close(ks);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

typedef struct run {
    dt_twin *t;
    const dt_key *key; /* the honest issuer's */
    dt_time now;
    uint64_t seq;      /* the honest issuer's last */
    uint64_t honest;   /* honest records submitted */
    uint64_t injected;
    uint64_t seen;     /* commands the sink received */
    uint64_t r;        /* random state */
} run;

static uint64_t rnd(run *r)
{
    r->r ^= r->r << 13, r->r ^= r->r >> 7, r->r ^= r->r << 17;
    return r->r;
}

static void open_run(run *r, const dt_key *honest, uint64_t seed)
{
    memset(r, 0, sizeof *r);
    r->key = honest;
    r->r = seed;
    char doc[2048];
    snprintf(doc, sizeof doc,
             "{\"dtwin\":1,\"name\":\"plant\",\"keys\":{\"dir\":\"%s\"},\"assets\":[{\"id\":\"a\"}],"
             "\"signals\":[{\"id\":\"y\",\"asset\":\"a\",\"quantity\":\"length\",\"unit\":\"m\","
             "\"role\":\"measured\",\"period\":0.01},"
             "{\"id\":\"u\",\"asset\":\"a\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
             "\"role\":\"commanded\",\"limits\":{\"min\":0,\"max\":1}},"
             "{\"id\":\"w\",\"asset\":\"a\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
             "\"role\":\"commanded\",\"limits\":{\"min\":0,\"max\":1}}],"
             "\"sources\":[{\"id\":\"s\",\"kind\":\"memory\",\"timeout\":10,"
             "\"mapping\":[{\"native\":\"y\",\"signal\":\"y\"}]}],"
             "\"sinks\":[{\"id\":\"k\",\"kind\":\"memory\",\"capacity\":4096,"
             "\"mapping\":[{\"signal\":\"u\"},{\"signal\":\"w\"}]}],"
             "\"dispatcher\":{\"safe\":{\"u\":0,\"w\":0},\"max_data_age\":0.5,"
             "\"auth\":{\"issuers\":[{\"name\":\"planner\",\"public\":\"%s\"},"
             "{\"name\":\"fast\",\"mac\":\"fast\"}],\"deadline_max\":1}}}",
             dir, planner_hex);
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_diag d;
    int rc = dt_twin_load_json(doc, strlen(doc), &o, &r->t, &d);
    if (rc != 0)
        printf("load: %s\n", d.message);
    assert_int_equal(rc, 0);
    r->now = 1 * S;
    assert_int_equal(dt_twin_start(r->t, r->now), 0);
}

/* A record of the honest issuer (next seq unless seq given), or of `key`. */
static size_t make(run *r, const dt_key *key, uint64_t seq, const char *twin, const char *sig,
                   double value, dt_time issued, uint8_t *b)
{
    (void)r; /* every record of a run is made the same way */
    dt_signed_command c;
    memset(&c, 0, sizeof c);
    assert_int_equal(dt_cmd_address(twin, sig, c.address), 0);
    c.epoch = 1;
    c.seq = seq;
    c.t_issued = issued;
    c.t_deadline = issued + 50 * MS;
    c.value = value;
    size_t len = 0;
    assert_int_equal(dt_cmd_sign(key, &c, b, DT_CMDAUTH_MAX, &len), 0);
    return len;
}

static size_t honest(run *r, uint8_t *b)
{
    double v = (double)(rnd(r) % 500) / 1000.0;
    return make(r, r->key, ++r->seq, "plant", "u", v, r->now, b);
}

static void submit(run *r, const uint8_t *b, size_t n, int is_honest)
{
    int rc = dt_twin_submit_signed(r->t, b, n);
    assert_true(rc == 0 || rc == DT_EPARSE || rc == DT_ENOTFOUND);
    if (is_honest)
        r->honest++;
    else
        r->injected++;
}

/* One cycle: fresh data, a step, and every command the sink got checked. */
static void cycle(run *r)
{
    r->now += 10 * MS;
    assert_int_equal(dt_memory_source_push(dt_twin_io(r->t), 0, "y", r->now - MS, 1.0), 0);
    assert_int_equal(dt_twin_step(r->t, r->now), 0);
    dt_command out[64];
    size_t k = dt_memory_sink_read(dt_twin_io(r->t), 0, out, 64);
    for (size_t i = 0; i < k; i++) {
        assert_true(out[i].value != EVIL); /* nothing injected is ever acted upon */
        if (DT_ORIGIN_KIND(out[i].origin) == DT_ORIGIN_HOST)
            r->seen++;
    }
}

static dt_cmdauth_stats stats(run *r)
{
    dt_cmdauth_stats st;
    assert_int_equal(dt_twin_cmdauth_stats(r->t, &st), 0);
    return st;
}

/* The closing checks of a class: every honest command carried out (sent
 * to the sink), every injection in exactly the counters given, nothing
 * else refused; gaps (-1: not checked) the sequence numbers seen skipped. */
static void close_run(run *r, const char *cls, const dt_cmdauth_error *why, const uint64_t *want,
                      size_t n_why, int64_t gaps)
{
    cycle(r);
    dt_cmdauth_stats st = stats(r);
    uint64_t refused = 0, expect = 0;
    for (int e = 1; e < DT_CMDAUTH__COUNT; e++)
        refused += st.refused[e];
    printf("%s (%s): injected %llu:", cls, r->key == planner ? "Ed25519" : "MAC",
           (unsigned long long)r->injected);
    for (size_t i = 0; i < n_why; i++) {
        printf(" %s %llu", dt_cmdauth_error_name(why[i]), (unsigned long long)st.refused[why[i]]);
        assert_true(st.refused[why[i]] == want[i]);
        expect += want[i];
    }
    printf("; honest %llu, verified %llu, carried out %llu; seq_gaps %llu\n",
           (unsigned long long)r->honest, (unsigned long long)st.verified,
           (unsigned long long)r->seen, (unsigned long long)st.seq_gaps);
    assert_true(refused == expect);         /* nothing else refused */
    assert_true(st.verified == r->honest);  /* every honest command taken */
    assert_true(r->seen == st.verified);    /* and carried out */
    assert_true(st.unsigned_refused == 0);
    if (gaps >= 0)
        assert_true(st.seq_gaps == (uint64_t)gaps);
    dt_twin_destroy(r->t);
}

static const dt_key *honest_keys[2];

/* The fingerprint a key puts in its records. */
static void id_of(const dt_key *k, uint8_t id[8])
{
    run tmp = {0};
    uint8_t b[DT_CMDAUTH_MAX];
    (void)make(&tmp, k, 1, "x", "y", 0, 0, b);
    memcpy(id, b + 8, 8);
}

/* Bits flipped anywhere in a record carrying the forger's value. */
static void test_corruption(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        run r;
        open_run(&r, honest_keys[k], 0x1234 + (uint64_t)k);
        uint8_t b[DT_CMDAUTH_MAX], f[DT_CMDAUTH_MAX];
        for (int i = 0; i < N; i++) {
            size_t n = honest(&r, b);
            memcpy(f, b, n);
            memcpy(f + 64, &(double){EVIL}, 8);
            int flips = 1 + (int)(rnd(&r) % 4);
            for (int j = 0; j < flips; j++) {
                size_t bit = rnd(&r) % (n * 8);
                f[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            }
            submit(&r, f, n, 0);
            submit(&r, b, n, 1);
            cycle(&r);
        }
        dt_cmdauth_stats st = stats(&r);
        dt_cmdauth_error why[] = {DT_CMDAUTH_MALFORMED, DT_CMDAUTH_UNKNOWN_ISSUER,
                                  DT_CMDAUTH_BAD_SIGNATURE, DT_CMDAUTH_WRONG_ADDRESS};
        uint64_t want[4], sum = 0;
        for (int j = 0; j < 4; j++)
            sum += want[j] = st.refused[why[j]];
        assert_true(sum == N);
        close_run(&r, "corruption", why, want, 4, 0);
    }
}

/* Every record again in its cycle, and once more a cycle later. */
static void test_repetition(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        run r;
        open_run(&r, honest_keys[k], 0x2345);
        uint8_t b[DT_CMDAUTH_MAX];
        for (int i = 0; i < N; i++) {
            size_t n = honest(&r, b);
            submit(&r, b, n, 1);
            submit(&r, b, n, 0);
            cycle(&r);
            submit(&r, b, n, 0);
        }
        dt_cmdauth_error why[] = {DT_CMDAUTH_REPLAYED};
        uint64_t want[] = {2 * N};
        close_run(&r, "unintended repetition", why, want, 1, 0);
    }
}

/* Pairs swapped: each taken once, in the order they came (the dispatcher
 * decides each on its own deadline). Records 64 or more behind the newest
 * (the forger's value, signed with the issuer's key): refused. */
static void test_incorrect_sequence(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        run r;
        open_run(&r, honest_keys[k], 0x3456);
        uint8_t a[DT_CMDAUTH_MAX], b[DT_CMDAUTH_MAX], f[DT_CMDAUTH_MAX];
        for (int i = 0; i < N; i++) {
            size_t na = honest(&r, a), nb = honest(&r, b);
            submit(&r, b, nb, 1);
            submit(&r, a, na, 1);
            if (i >= 100) { /* one 64 to 99 behind the newest */
                uint64_t behind = DT_CMDAUTH_WINDOW + rnd(&r) % 36;
                size_t n = make(&r, r.key, r.seq - behind, "plant", "u", EVIL, r.now, f);
                submit(&r, f, n, 0);
            }
            cycle(&r);
        }
        for (int i = 0; i < 100; i++) {
            size_t n = make(&r, r.key, r.seq - DT_CMDAUTH_WINDOW - (uint64_t)i, "plant", "u",
                            EVIL, r.now, f);
            submit(&r, f, n, 0);
        }
        dt_cmdauth_error why[] = {DT_CMDAUTH_REPLAYED};
        uint64_t want[] = {N};
        /* each swap a gap, then filled; the first pair opens the window */
        close_run(&r, "incorrect sequence", why, want, 1, N - 1);
    }
}

/* Records signed and lost on the way: nothing to refuse; each is a gap in
 * the issuer's sequence, counted when the next arrives. */
static void test_loss(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        run r;
        open_run(&r, honest_keys[k], 0x4567);
        uint8_t b[DT_CMDAUTH_MAX];
        for (int i = 0; i < N; i++) {
            size_t n = honest(&r, b);
            submit(&r, b, n, 1);
            cycle(&r);
            (void)honest(&r, b); /* lost */
            r.injected++;
        }
        size_t n = honest(&r, b);
        submit(&r, b, n, 1);
        close_run(&r, "loss", NULL, NULL, 0, N);
    }
}

/* Records delivered 60 ms after issue, past their 50 ms deadline. */
static void test_unacceptable_delay(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        run r;
        open_run(&r, honest_keys[k], 0x5678);
        uint8_t b[DT_CMDAUTH_MAX], late[DT_CMDAUTH_MAX];
        for (int i = 0; i < N; i++) {
            size_t n = make(&r, r.key, ++r.seq, "plant", "u", EVIL, r.now, late);
            for (int c = 0; c < 6; c++)
                cycle(&r);
            submit(&r, late, n, 0);
            n = honest(&r, b);
            submit(&r, b, n, 1);
            cycle(&r);
        }
        dt_cmdauth_error why[] = {DT_CMDAUTH_EXPIRED};
        uint64_t want[] = {N};
        /* the expired ones never took their place: gaps (the first opens the window) */
        close_run(&r, "unacceptable delay", why, want, 1, N - 1);
    }
}

/* Records of a sender no key of the twin knows, in its own name, with the
 * next seq and a fresh time. */
static void test_insertion(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        run r;
        open_run(&r, honest_keys[k], 0x6789);
        uint8_t b[DT_CMDAUTH_MAX], f[DT_CMDAUTH_MAX];
        for (int i = 0; i < N; i++) {
            size_t n = make(&r, k == 0 ? mallory : fast2, r.seq + 1, "plant", "u", EVIL, r.now, f);
            submit(&r, f, n, 0);
            n = honest(&r, b);
            submit(&r, b, n, 1);
            cycle(&r);
        }
        dt_cmdauth_error why[] = {DT_CMDAUTH_UNKNOWN_ISSUER};
        uint64_t want[] = {N};
        close_run(&r, "insertion", why, want, 1, 0);
    }
}

/* Records in the issuer's name (its fingerprint, the next seq) made with
 * another key of the same kind. */
static void test_masquerade(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        run r;
        open_run(&r, honest_keys[k], 0x789a);
        uint8_t b[DT_CMDAUTH_MAX], f[DT_CMDAUTH_MAX], id[8];
        id_of(r.key, id);
        for (int i = 0; i < N; i++) {
            const dt_key *other = k == 0 ? mallory : fast2;
            size_t body = DT_CMDAUTH_FIXED;
            size_t n = make(&r, other, r.seq + 1, "plant", "u", EVIL, r.now, f);
            memcpy(f + 8, id, 8);
            /* signed over its bytes as they now are: only the key is wrong */
            if (k == 0)
                dt_sign(other, f, body, f + body);
            else
                dt_mac(other, f, body, f + body);
            submit(&r, f, n, 0);
            n = honest(&r, b);
            submit(&r, b, n, 1);
            cycle(&r);
        }
        dt_cmdauth_error why[] = {DT_CMDAUTH_BAD_SIGNATURE};
        uint64_t want[] = {N};
        close_run(&r, "masquerade", why, want, 1, 0);
    }
}

/* Authentic records for another twin, or for a signal that is no command
 * of this one. */
static void test_addressing(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        run r;
        open_run(&r, honest_keys[k], 0x89ab);
        uint8_t b[DT_CMDAUTH_MAX], f[DT_CMDAUTH_MAX];
        for (int i = 0; i < N; i++) {
            size_t n = make(&r, r.key, ++r.seq, i % 2 ? "plant2" : "plant", i % 2 ? "u" : "y",
                            EVIL, r.now, f);
            submit(&r, f, n, 0);
            n = honest(&r, b);
            submit(&r, b, n, 1);
            cycle(&r);
        }
        dt_cmdauth_error why[] = {DT_CMDAUTH_WRONG_ADDRESS};
        uint64_t want[] = {N};
        /* the records never taken are gaps (the first opens the window) */
        close_run(&r, "addressing", why, want, 1, N - 1);
    }
}

/* argv[1]: only the tests of that name (ctest registers each by name,
 * one cmocka_unit_test per line) */
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
    int rc = setup(NULL);
    honest_keys[0] = planner;
    honest_keys[1] = fast;
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    if (rc == 0)
        rc = cmocka_run_group_tests(tests, NULL, NULL);
    teardown(NULL);
    return rc;
}
