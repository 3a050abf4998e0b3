/* The description's estimator section: the process noise given as G and Qc
 * (Q = G Qc G') instead of Q. Reference values are exact rational products
 * rounded once (tests/data/estimator_json/gen_gqg.py). */
#include <stdlib.h>

#include "test_util.h"

#include "alloc_counter.h"
#include "dtwin/dtwin.h"

#include "../data/estimator_json/gqg_refs.h"

/* Five estimated states, a position sensor, a force input. */
#define HEAD                                                                                   \
    "{\"dtwin\":1,\"name\":\"gqc\",\"assets\":[{\"id\":\"c\"}],\"signals\":["                 \
    "{\"id\":\"x\",\"asset\":\"c\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"estimated\"}," \
    "{\"id\":\"v\",\"asset\":\"c\",\"quantity\":\"velocity\",\"unit\":\"m/s\",\"role\":\"estimated\"}," \
    "{\"id\":\"a\",\"asset\":\"c\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"estimated\"}," \
    "{\"id\":\"b\",\"asset\":\"c\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"estimated\"}," \
    "{\"id\":\"c\",\"asset\":\"c\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"estimated\"}," \
    "{\"id\":\"pos\",\"asset\":\"c\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"measured\",\"noise\":{\"std\":0.1},\"period\":0.1}," \
    "{\"id\":\"f\",\"asset\":\"c\",\"quantity\":\"force\",\"unit\":\"N\",\"role\":\"commanded\"}]"

static const char *const state_ids[] = {"x", "v", "a", "b", "c"};

static dt_model *load(const char *doc)
{
    dt_model_options o = DT_MODEL_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_model *m = NULL;
    dt_diag d;
    int rc = dt_model_load_json(doc, strlen(doc), &o, &m, &d);
    if (rc)
        print_error("%s\n", d.message);
    assert_int_equal(rc, 0);
    return m;
}

/* Creates the estimator of doc; returns its status, the message in diag. */
static int create(const char *doc, dt_model **mout, dt_est **eout, dt_diag *d,
                  const dt_allocator *a)
{
    dt_model *m = load(doc);
    dt_est_config c = DT_EST_CONFIG_INIT;
    c.logger = dt_logger_silent();
    c.allocator = a;
    dt_est *e = NULL;
    int rc = dt_est_create_json(m, &c, &e, d);
    *mout = m;
    *eout = e;
    return rc;
}

/* A description whose estimator has n states, the given A (NULL: zeros for
 * a continuous process, the identity for a discrete one), the noise keys
 * (",\"G\":...,\"Qc\":..." or ",\"Q\":..."), P0 = 0, and extra keys. */
static void doc_with(char *buf, size_t cap, size_t n, int discrete, const char *A_text,
                     const char *noise, const char *extra)
{
    char states[128] = "", A[512] = "[", P0[128] = "";
    for (size_t i = 0; i < n; i++) {
        char t[64];
        snprintf(t, sizeof t, "%s\"%s\"", i ? "," : "", state_ids[i]);
        strcat(states, t);
        strcat(P0, i ? ",0" : "0");
        strcat(A, i ? ",[" : "[");
        for (size_t j = 0; j < n; j++) {
            strcat(A, j ? "," : "");
            strcat(A, discrete && i == j ? "1" : "0");
        }
        strcat(A, "]");
    }
    strcat(A, "]");
    snprintf(buf, cap,
             HEAD ",\"estimator\":{\"states\":[%s],\"process\":\"%s\",\"A\":%s%s,\"P0\":[%s]%s}}",
             states, discrete ? "discrete" : "continuous", A_text ? A_text : A, noise, P0,
             extra ? extra : "");
}

static void doc_for(char *buf, size_t cap, size_t n, int discrete, const char *noise,
                    const char *extra)
{
    doc_with(buf, cap, n, discrete, NULL, noise, extra);
}

/* The filter's Q: the stored one (continuous), or one step from P = 0
 * (discrete: F 0 F' + Q). */
static void model_q(dt_est *e, size_t n, int discrete, double *Q)
{
    dt_kf *kf = dt_est_kf(e);
    if (!discrete) {
        const double *q = dt_kf_model_Q(kf);
        assert_non_null(q);
        memcpy(Q, q, n * n * sizeof *Q);
        return;
    }
    double x[5];
    assert_int_equal(dt_kf_peek(kf, 0.1, x, Q), DT_OK);
}

/* Every entry within 1 ulp of the exact value plus 2^-98 of the scale of
 * its terms (the evaluation is double-double; for a Qc symmetric only to
 * the tolerance, plus the rounding of its symmetric part, 2^-52 of the
 * scale); exactly symmetric. */
static void expect_q(const gqg_ref *r, const double *Q)
{
    size_t n = r->n;
    double sym = strcmp(r->name, "nearly_symmetric") == 0 ? 0x1p-52 : 0;
    for (size_t i = 0; i < n * n; i++) {
        double tol = 0x1p-52 * fabs(r->Q[i]) + (0x1p-98 + sym) * r->B[i];
        if (!(fabs(Q[i] - r->Q[i]) <= tol)) {
            print_error("%s: Q[%zu][%zu] = %a, exact %a, tolerance %a\n", r->name, i / n,
                        i % n, Q[i], r->Q[i], tol);
            fail();
        }
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            assert_memory_equal(&Q[i * n + j], &Q[j * n + i], sizeof *Q);
}

static void test_gqc_exact_references(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof gqg_refs / sizeof gqg_refs[0]; k++)
        for (int discrete = 0; discrete <= 1; discrete++) {
            const gqg_ref *r = &gqg_refs[k];
            char noise[1024], doc[8192];
            snprintf(noise, sizeof noise, ",\"G\":%s,\"Qc\":%s", r->G, r->Qc);
            doc_for(doc, sizeof doc, r->n, discrete, noise, NULL);
            dt_model *m;
            dt_est *e;
            dt_diag d;
            int rc = create(doc, &m, &e, &d, NULL);
            if (rc)
                print_error("%s: %s\n", r->name, d.message);
            assert_int_equal(rc, DT_OK);
            double Q[25];
            model_q(e, r->n, discrete, Q);
            expect_q(r, Q);
            dt_est_destroy(e);
            dt_model_destroy(m);
        }
}

/* The rank-one case: plain double evaluation gives a negative variance
 * (-5.6e-18); the loader gives 2^-110, the exact value. */
static void test_gqc_cancellation_keeps_variance_exact(void **state)
{
    (void)state;
    const gqg_ref *r = &gqg_refs[3];
    assert_string_equal(r->name, "rank_one_cancelling");
    char noise[512], doc[8192];
    snprintf(noise, sizeof noise, ",\"G\":%s,\"Qc\":%s", r->G, r->Qc);
    doc_for(doc, sizeof doc, r->n, 0, noise, NULL);
    dt_model *m;
    dt_est *e;
    dt_diag d;
    assert_int_equal(create(doc, &m, &e, &d, NULL), DT_OK);
    const double *Q = dt_kf_model_Q(dt_est_kf(e));
    assert_true(Q[0] == 0x1p-110);
    dt_est_destroy(e);
    dt_model_destroy(m);
}

/* G and Qc make the same filter as the Q they stand for, written out: the
 * same latency budget, estimates and covariances, bit for bit. Dyadic
 * numbers, so that G Qc G' is exact and its decimal text short. */
static void test_gqc_same_filter_as_q(void **state)
{
    (void)state;
    const char *tail = ",\"measurements\":[{\"signal\":\"pos\",\"H\":{\"x\":1,\"a\":0.5}}],"
                       "\"bounds\":[{\"name\":\"b\",\"variance\":\"x\",\"max\":0.5}]";
    const char *A = "[[0,1,0],[-0.5,-0.2,0.1],[0,0,-1]]";
    /* G = [[0.5, 0], [0.25, 0.125], [1, -2]], Qc = [[2, 0.5], [0.5, 0.75]]:
     * G Qc = [[1, 0.25], [0.5625, 0.21875], [1, -1]], times G' */
    static const double want[9] = {0.5, 0.28125, 0.5, 0.28125, 0.16796875, 0.125,
                                   0.5, 0.125,   3};
    char doc[2][8192];
    doc_with(doc[0], sizeof doc[0], 3, 0, A,
             ",\"G\":[[0.5,0],[0.25,0.125],[1,-2]],\"Qc\":[[2,0.5],[0.5,0.75]]", tail);
    doc_with(doc[1], sizeof doc[1], 3, 0, A,
             ",\"Q\":[[0.5,0.28125,0.5],[0.28125,0.16796875,0.125],[0.5,0.125,3]]", tail);
    dt_model *m[2];
    dt_est *e[2];
    for (int k = 0; k < 2; k++) {
        dt_diag d;
        int rc = create(doc[k], &m[k], &e[k], &d, NULL);
        if (rc)
            print_error("%s\n", d.message);
        assert_int_equal(rc, DT_OK);
        assert_memory_equal(dt_kf_model_Q(dt_est_kf(e[k])), want, sizeof want);
        assert_int_equal(dt_est_start(e[k], 0), DT_OK);
    }
    double tau[2];
    for (int k = 0; k < 2; k++)
        assert_int_equal(dt_est_latency_budget(e[k], 0, &tau[k], NULL), DT_OK);
    assert_memory_equal(&tau[0], &tau[1], sizeof tau[0]);
    assert_true(tau[0] > 0 && isfinite(tau[0]));
    dt_signal_id pos;
    assert_int_equal(dt_model_find_signal(m[0], "pos", &pos), DT_OK);
    for (int i = 1; i <= 50; i++)
        for (int k = 0; k < 2; k++) {
            dt_sample s = {pos, DT_SAMPLE_MAPPED, dt_time_from_sec(0.1 * i),
                           dt_time_from_sec(0.1 * i), sin(0.3 * i), 0};
            assert_int_equal(dt_est_process(e[k], &s), DT_OK);
        }
    assert_memory_equal(dt_kf_state(dt_est_kf(e[0])), dt_kf_state(dt_est_kf(e[1])),
                        3 * sizeof(double));
    assert_memory_equal(dt_kf_cov(dt_est_kf(e[0])), dt_kf_cov(dt_est_kf(e[1])),
                        9 * sizeof(double));
    for (int k = 0; k < 2; k++) {
        dt_est_destroy(e[k]);
        dt_model_destroy(m[k]);
    }
}

/* Discrete: G Qc G' is the covariance added per prediction, whatever its dt. */
static void test_gqc_discrete_per_step(void **state)
{
    (void)state;
    const gqg_ref *r = &gqg_refs[0];
    assert_string_equal(r->name, "white_acceleration");
    char noise[512], doc[8192];
    snprintf(noise, sizeof noise, ",\"G\":%s,\"Qc\":%s", r->G, r->Qc);
    doc_with(doc, sizeof doc, 2, 1, "[[1,0.1],[0,1]]", noise, NULL);
    dt_model *m;
    dt_est *e;
    dt_diag d;
    int rc = create(doc, &m, &e, &d, NULL);
    if (rc)
        print_error("%s\n", d.message);
    assert_int_equal(rc, DT_OK);
    double x[2], P1[4], P2[4];
    assert_int_equal(dt_kf_peek(dt_est_kf(e), 0.1, x, P1), DT_OK);
    assert_int_equal(dt_kf_peek(dt_est_kf(e), 5.0, x, P2), DT_OK);
    expect_q(r, P1);
    assert_memory_equal(P1, P2, sizeof P1);
    /* [dt^2/2, dt] 4 [dt^2/2, dt]' with dt = 0.1 */
    assert_close(P1[0], 1e-4, 1e-15, 0);
    assert_close(P1[1], 2e-3, 1e-15, 0);
    assert_close(P1[3], 4e-2, 1e-15, 0);
    dt_est_destroy(e);
    dt_model_destroy(m);
}

/* A Qc that is symmetric only to the library's tolerance (1e-12): the
 * asymmetry reaches the loader (the result differs from the symmetric
 * Qc's), its symmetric part is used, and Q is exactly symmetric (checked
 * against the exact reference in test_gqc_exact_references). */
static void test_gqc_nearly_symmetric_qc(void **state)
{
    (void)state;
    const gqg_ref *r = &gqg_refs[2], *sym = &gqg_refs[1];
    assert_string_equal(r->name, "nearly_symmetric");
    char noise[512], doc[8192];
    snprintf(noise, sizeof noise, ",\"G\":%s,\"Qc\":%s", r->G, r->Qc);
    doc_for(doc, sizeof doc, 3, 0, noise, NULL);
    dt_model *m;
    dt_est *e;
    dt_diag d;
    int rc = create(doc, &m, &e, &d, NULL);
    if (rc)
        print_error("%s\n", d.message);
    assert_int_equal(rc, DT_OK);
    const double *Q = dt_kf_model_Q(dt_est_kf(e));
    expect_q(r, Q);
    assert_true(Q[1] != sym->Q[1]);
    dt_est_destroy(e);
    dt_model_destroy(m);
}

typedef struct bad {
    const char *noise; /* the process noise keys of a 2-state estimator */
    int code;
    const char *message;
} bad;

#define G2 "\"G\":[[0.5],[1]]"
static const bad bads[] = {
    /* one form or the other, both halves of G Qc G' */
    {",\"Q\":[0,1]," G2 ",\"Qc\":[1]", DT_EPARSE,
     "estimator.G: given with Q: give Q, or G and Qc (Q = G Qc G'), not both"},
    {",\"Q\":[0,1],\"Qc\":[1]", DT_EPARSE,
     "estimator.Qc: given with Q: give Q, or G and Qc (Q = G Qc G'), not both"},
    {"," G2, DT_EPARSE,
     "estimator.Qc: missing (required with G: g x g matrix or its diagonal, Q = G Qc G')"},
    {",\"Qc\":[1]", DT_EPARSE,
     "estimator.G: missing (required with Qc: 2 x g matrix, Q = G Qc G')"},
    {"", DT_EPARSE, "estimator.Q: missing (required 2 x 2 matrix, or G and Qc for Q = G Qc G')"},
    /* shapes */
    {",\"G\":[[1]],\"Qc\":[1]", DT_EPARSE,
     "estimator.G: expected 2 rows (one per state) of g numbers (one per noise input), got 1 row"},
    {",\"G\":7,\"Qc\":[1]", DT_EPARSE,
     "estimator.G: expected 2 rows (one per state) of g numbers (one per noise input), got 7"},
    {",\"G\":[0.5,1],\"Qc\":[1]", DT_EPARSE,
     "estimator.G[0]: expected an array of g numbers (one per noise input), got 0.5"},
    {",\"G\":[[],[]],\"Qc\":[]", DT_ELIMIT,
     "estimator.G[0]: between 1 and 32 noise inputs (columns), got 0"},
    {",\"G\":[[1,0],[1]],\"Qc\":[1,1]", DT_EPARSE, "estimator.G[1]: expected 2 numbers"},
    {",\"G\":[[1,0],[0,1]],\"Qc\":[1,2,3]", DT_EPARSE,
     "estimator.Qc: expected 2 x 2 (G has 2 columns) or its diagonal of 2, got 3 elements"},
    {"," G2 ",\"Qc\":[1,2]", DT_EPARSE,
     "estimator.Qc: expected 1 x 1 (G has 1 column) or its diagonal of 1, got 2 elements"},
    {",\"G\":[[1,0],[0,1]],\"Qc\":[[1,0],[0]]", DT_EPARSE, "estimator.Qc[1]: expected 2 numbers"},
    {"," G2 ",\"Qc\":{\"q\":1}", DT_EPARSE,
     "estimator.Qc: expected 1 x 1 (G has 1 column) or its diagonal, got an object"},
    /* values */
    {",\"G\":[[\"1\"],[1]],\"Qc\":[1]", DT_EPARSE,
     "estimator.G[0]: element 0: expected a finite number, got a string"},
    {"," G2 ",\"Qc\":[null]", DT_EPARSE,
     "estimator.Qc: element 0: expected a finite number, got null"},
    {",\"G\":[[1,0],[0,1]],\"Qc\":[\"1\",[0,1]]", DT_EPARSE,
     "estimator.Qc: element 0: expected a finite number, got a string"},
    {"," G2 ",\"Qc\":[-1]", DT_EPARSE,
     "estimator.Qc: diagonal element 0 is -1: a variance must be >= 0"},
    {"," G2 ",\"Qc\":[1e200]", DT_EPARSE,
     "estimator.Qc: diagonal element 0 is 1e+200, beyond the limit of 1e+150"},
    {",\"G\":[[1,0],[0,1]],\"Qc\":[[1,2],[2,1]]", DT_EPARSE,
     "estimator.Qc: not positive semi-definite (pivot 2 is -3)"},
    {",\"G\":[[1,0],[0,1]],\"Qc\":[[0,1],[1,1]]", DT_EPARSE,
     "estimator.Qc: not positive semi-definite (pivot 1 is 0, yet its column holds 1 in row 2)"},
    {",\"G\":[[1,0],[0,1]],\"Qc\":[[1,0.5],[0,1]]", DT_EPARSE,
     "estimator.Qc: not symmetric (element [0][1] is 0.5, element [1][0] is 0)"},
    /* the product: beyond the variance limit, or beyond a double */
    {",\"G\":[[1e100],[0]],\"Qc\":[1]", DT_EPARSE,
     "estimator.G: G Qc G' diagonal element 0 (state \"x\") is 1e+200, beyond the limit of "
     "1e+150"},
    {",\"G\":[[1e200],[0]],\"Qc\":[1]", DT_EPARSE,
     "estimator.G: G Qc G' overflows at element [0][0] (state \"x\") (entries of G or Qc too "
     "large)"},
    /* the exact product is 0, but its terms (1e400) are beyond a double */
    {",\"G\":[[1e200,-1e200],[0,0]],\"Qc\":[[1,1],[1,1]]", DT_EPARSE,
     "estimator.G: G Qc G' overflows at element [0][0] (state \"x\") (entries of G or Qc too "
     "large)"},
    /* Qc passes as semi-definite to 1e-9 of its largest variance, yet the
     * direction G keeps is negative beyond rounding: the exact G Qc G' is
     * -1e-10, refused as a given Q would be */
    {",\"G\":[[1,-1],[0,0]],\"Qc\":[[1,1],[1,0.9999999999]]", DT_EPARSE,
     "estimator.G: G Qc G' diagonal element 0 (state \"x\") is -1.000000082740371e-10: a variance "
     "must be >= 0"},
};

static void test_gqc_refusals(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        char doc[8192];
        doc_for(doc, sizeof doc, 2, i % 2, bads[i].noise, NULL);
        dt_model *m;
        dt_est *e;
        dt_diag d;
        int rc = create(doc, &m, &e, &d, NULL);
        if (rc != bads[i].code || strcmp(d.message, bads[i].message) != 0)
            print_error("case %zu: %s \"%s\"\n", i, dt_err_name(rc), d.message);
        assert_int_equal(rc, bads[i].code);
        assert_string_equal(d.message, bads[i].message);
        assert_null(e);
        dt_model_destroy(m);
    }
}

/* g = 33 noise inputs: one more than any other dimension may have. */
static void test_gqc_too_many_noise_inputs(void **state)
{
    (void)state;
    char row[256] = "[", qc[256] = "[", noise[1024], doc[8192];
    for (int k = 0; k < 33; k++) {
        strcat(row, k ? ",0" : "1");
        strcat(qc, k ? ",1" : "1");
    }
    strcat(row, "]");
    strcat(qc, "]");
    snprintf(noise, sizeof noise, ",\"G\":[%s,%s],\"Qc\":%s", row, row, qc);
    doc_for(doc, sizeof doc, 2, 0, noise, NULL);
    dt_model *m;
    dt_est *e;
    dt_diag d;
    assert_int_equal(create(doc, &m, &e, &d, NULL), DT_ELIMIT);
    assert_string_equal(d.message,
                        "estimator.G[0]: between 1 and 32 noise inputs (columns), got 33");
    dt_model_destroy(m);
    /* 32 is within the limit */
    memset(row, 0, sizeof row);
    memset(qc, 0, sizeof qc);
    strcpy(row, "[");
    strcpy(qc, "[");
    for (int k = 0; k < 32; k++) {
        strcat(row, k ? ",0.5" : "1");
        strcat(qc, k ? ",1" : "1");
    }
    strcat(row, "]");
    strcat(qc, "]");
    snprintf(noise, sizeof noise, ",\"G\":[%s,%s],\"Qc\":%s", row, row, qc);
    doc_for(doc, sizeof doc, 2, 0, noise, NULL);
    int rc = create(doc, &m, &e, &d, NULL);
    if (rc)
        print_error("%s\n", d.message);
    assert_int_equal(rc, DT_OK);
    /* 1 + 31 x 0.25 in every entry */
    const double *Q = dt_kf_model_Q(dt_est_kf(e));
    for (size_t i = 0; i < 4; i++)
        assert_true(Q[i] == 8.75);
    dt_est_destroy(e);
    dt_model_destroy(m);
}

/* NaN and Infinity are not JSON, and a number beyond a double (1e999) is
 * refused with its path before the estimator reads the section. */
static void test_gqc_nonfinite_refused(void **state)
{
    (void)state;
    static const struct {
        const char *noise, *message;
    } cases[] = {
        {",\"G\":[[NaN],[1]],\"Qc\":[1]", NULL},
        {"," G2 ",\"Qc\":[Infinity]", NULL},
        {",\"G\":[[1e999],[1]],\"Qc\":[1]",
         "estimator.G[0][0]: number out of range (not finite)"},
        {"," G2 ",\"Qc\":[-1e999]", "estimator.Qc[0]: number out of range (not finite)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char doc[8192];
        doc_for(doc, sizeof doc, 2, 0, cases[i].noise, NULL);
        dt_model_options o = DT_MODEL_OPTIONS_INIT;
        o.logger = dt_logger_silent();
        dt_model *m = NULL;
        dt_diag d;
        assert_int_equal(dt_model_load_json(doc, strlen(doc), &o, &m, &d), DT_EPARSE);
        assert_null(m);
        if (cases[i].message != NULL)
            assert_string_equal(d.message, cases[i].message);
        else
            assert_true(d.message[0] != '\0');
    }
}

/* Every allocation of a G and Qc estimator failing in turn: DT_ENOMEM with
 * "out of memory", nothing leaked, and then success. */
static void test_gqc_allocation_failures(void **state)
{
    (void)state;
    char doc[8192], noise[1024];
    snprintf(noise, sizeof noise, ",\"G\":%s,\"Qc\":%s", gqg_refs[4].G, gqg_refs[4].Qc);
    doc_for(doc, sizeof doc, 5, 0, noise, NULL);
    dtt_counter cnt = {0};
    dt_allocator a = dtt_allocator(&cnt);
    dt_model *m = load(doc);
    dt_est_config c = DT_EST_CONFIG_INIT;
    c.logger = dt_logger_silent();
    c.allocator = &a;
    dt_est *e = NULL;
    dt_diag d;
    assert_int_equal(dt_est_create_json(m, &c, &e, &d), DT_OK);
    dt_est_destroy(e);
    long total = cnt.calls;
    assert_true(total > 2);
    for (long k = 1; k <= total; k++) {
        cnt = (dtt_counter){0};
        cnt.fail_at = k;
        e = NULL;
        int rc = dt_est_create_json(m, &c, &e, &d);
        if (rc != DT_ENOMEM)
            print_error("allocation %ld of %ld: %s \"%s\"\n", k, total, dt_err_name(rc),
                        d.message);
        assert_int_equal(rc, DT_ENOMEM);
        assert_non_null(strstr(d.message, "out of memory"));
        assert_null(e);
        assert_int_equal(cnt.live, 0);
    }
    dt_model_destroy(m);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_gqc_exact_references),
    cmocka_unit_test(test_gqc_cancellation_keeps_variance_exact),
    cmocka_unit_test(test_gqc_same_filter_as_q),
    cmocka_unit_test(test_gqc_discrete_per_step),
    cmocka_unit_test(test_gqc_nearly_symmetric_qc),
    cmocka_unit_test(test_gqc_refusals),
    cmocka_unit_test(test_gqc_too_many_noise_inputs),
    cmocka_unit_test(test_gqc_nonfinite_refused),
    cmocka_unit_test(test_gqc_allocation_failures),
};

DTT_MAIN(tests)
