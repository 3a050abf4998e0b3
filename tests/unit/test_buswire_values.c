/* The bus payload codec's value checks (dtwin/buswire.h): each record field
 * and each belief value at and past its limits, NaN and infinities in every
 * float field, -0.0 and denormals, the covariance test. Every case runs three
 * ways that must agree: the check function, the encoder (which refuses what a
 * reader refuses) and the decoder on a message whose bytes the test writes
 * itself. */
#include <float.h>
#include <stdlib.h>

#include "test_util.h"

#include "dtwin/dtwin.h"

static uint8_t msg[DT_BUSWIRE_BELIEF_BYTES(DT_BUSWIRE_MAX_STATES) + 8];
static uint8_t enc[sizeof msg];

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}
static void put_d(uint8_t *p, double d) { put_le(p, bits(d), 8); }

/* a header written by hand: epoch 1, contract 1, seq 1 */
static void header(uint8_t *b, int type, size_t count)
{
    memset(b, 0, DT_BUSWIRE_HEADER);
    put_le(b, 0x42575444u, 4);
    b[4] = 1;
    b[5] = (uint8_t)type;
    put_le(b + 6, count, 2);
    put_le(b + 8, 1, 4);
    put_le(b + 12, 1, 4);
    put_le(b + 16, 1, 8);
}

static const dt_buswire_header H = {.epoch = 1, .contract = 1, .seq = 1};

/* ---- samples ---- */

static void sample_case(dt_buswire_sample r, dt_buswire_error want)
{
    assert_int_equal(dt_buswire_sample_check(&r), want);
    size_t n = dt_buswire_encode_samples(enc, sizeof enc, &H, &r, 1);
    assert_int_equal(n, want == DT_BUSWIRE_OK ? 24 + 32 : 0);
    header(msg, DT_BUSWIRE_SAMPLES, 1);
    uint8_t *p = msg + 24;
    put_le(p, r.channel, 4);
    put_le(p + 4, r.flags, 4);
    put_le(p + 8, (uint64_t)r.t_source, 8);
    put_d(p + 16, r.value);
    put_d(p + 24, r.variance);
    if (n != 0)
        assert_memory_equal(enc, msg, n);
    dt_buswire_sample o;
    assert_int_equal(dt_buswire_sample_at(msg, 56, 0, &o), want);
    /* the fields as sent, also for a refused record (bit for bit: -0.0, NaN payloads) */
    assert_true(o.channel == r.channel && o.flags == r.flags && o.t_source == r.t_source);
    assert_true(bits(o.value) == bits(r.value) && bits(o.variance) == bits(r.variance));
}

static void test_sample_records(void **state)
{
    (void)state;
    const dt_buswire_sample ok = {.channel = UINT32_MAX, .flags = 3, .t_source = 0, .value = 1, .variance = 2};
    dt_buswire_sample r = ok;
    sample_case(r, DT_BUSWIRE_OK);
    for (int b = 2; b < 32; b++) {
        r.flags = 1u << b;
        sample_case(r, DT_BUSWIRE_BAD_FLAGS);
    }
    r = ok;
    const int64_t bad_t[] = {INT64_MIN, INT64_MAX, DT_TIME_LIMIT + 1, -DT_TIME_LIMIT - 1};
    for (int i = 0; i < 4; i++) {
        r.t_source = bad_t[i];
        sample_case(r, DT_BUSWIRE_BAD_TIME);
    }
    r.t_source = DT_TIME_LIMIT;
    sample_case(r, DT_BUSWIRE_OK);
    r.t_source = -DT_TIME_LIMIT;
    sample_case(r, DT_BUSWIRE_OK);
    const double nonfinite[] = {NAN, -NAN, INFINITY, -INFINITY};
    for (int i = 0; i < 4; i++) {
        r = ok;
        r.value = nonfinite[i];
        sample_case(r, DT_BUSWIRE_NOT_FINITE);
        r = ok;
        r.variance = nonfinite[i];
        sample_case(r, DT_BUSWIRE_NOT_FINITE);
        r.flags = 0; /* checked with or without bit 0 */
        sample_case(r, DT_BUSWIRE_NOT_FINITE);
    }
    /* below 0, or above 1e150 (a product of two would overflow) */
    const double bad_var[] = {-1, -DBL_MIN, -4.9406564584124654e-324, -DBL_MAX, DBL_MAX,
                              nextafter(DT_BUSWIRE_VARIANCE_MAX, INFINITY)};
    for (int i = 0; i < 6; i++) {
        r = ok;
        r.variance = bad_var[i];
        sample_case(r, DT_BUSWIRE_BAD_VARIANCE);
    }
    r.variance = DT_BUSWIRE_VARIANCE_MAX;
    sample_case(r, DT_BUSWIRE_OK);
    /* -0.0, denormals and the largest doubles are values like any other */
    const double fine[] = {-0.0, 4.9406564584124654e-324, -4.9406564584124654e-324, DBL_MAX, -DBL_MAX};
    for (int i = 0; i < 5; i++) {
        r = ok;
        r.value = fine[i];
        sample_case(r, DT_BUSWIRE_OK);
    }
    r = ok;
    r.variance = -0.0;
    sample_case(r, DT_BUSWIRE_OK);
    r.variance = 4.9406564584124654e-324;
    sample_case(r, DT_BUSWIRE_OK);
    /* the first failing check in order: flags, time, finite, variance */
    r = (dt_buswire_sample){.flags = 4, .t_source = INT64_MIN, .value = NAN, .variance = -1};
    sample_case(r, DT_BUSWIRE_BAD_FLAGS);
    r.flags = 0;
    sample_case(r, DT_BUSWIRE_BAD_TIME);
    r.t_source = 0;
    sample_case(r, DT_BUSWIRE_NOT_FINITE);
    r.value = 0;
    sample_case(r, DT_BUSWIRE_BAD_VARIANCE);
}

/* one bad record is skipped, the others are read */
static void test_bad_record_skipped(void **state)
{
    (void)state;
    dt_buswire_sample r[3] = {{.channel = 0, .value = 1}, {.channel = 1, .value = 2}, {.channel = 2, .value = 3}};
    size_t n = dt_buswire_encode_samples(enc, sizeof enc, &H, r, 3);
    assert_int_equal(n, 24 + 3 * 32);
    put_le(enc + 24 + 32 + 4, 0x80000000u, 4); /* record 1: an unknown flag */
    assert_int_equal(dt_buswire_decode_header(enc, n, NULL), DT_BUSWIRE_OK);
    int good = 0;
    double sum = 0;
    for (size_t i = 0; i < 3; i++) {
        dt_buswire_sample o;
        dt_buswire_error e = dt_buswire_sample_at(enc, n, i, &o);
        assert_int_equal(e, i == 1 ? DT_BUSWIRE_BAD_FLAGS : DT_BUSWIRE_OK);
        if (e == DT_BUSWIRE_OK) {
            good++;
            sum += o.value;
        }
    }
    assert_int_equal(good, 2);
    assert_true(sum == 4);
}

/* ---- commands ---- */

static void command_case(dt_buswire_command r, dt_buswire_error want)
{
    assert_int_equal(dt_buswire_command_check(&r), want);
    size_t n = dt_buswire_encode_commands(enc, sizeof enc, &H, &r, 1);
    assert_int_equal(n, want == DT_BUSWIRE_OK ? 24 + 40 : 0);
    header(msg, DT_BUSWIRE_COMMANDS, 1);
    uint8_t *p = msg + 24;
    put_le(p, r.seq, 8);
    put_le(p + 8, (uint64_t)r.t_issued, 8);
    put_le(p + 16, (uint64_t)r.t_deadline, 8);
    put_d(p + 24, r.value);
    put_le(p + 32, r.origin, 2);
    put_le(p + 34, r.authority, 2);
    put_le(p + 36, 0, 4);
    if (n != 0)
        assert_memory_equal(enc, msg, n);
    dt_buswire_command o;
    assert_int_equal(dt_buswire_command_at(msg, 64, 0, &o), want);
    assert_true(o.seq == r.seq && o.t_issued == r.t_issued && o.t_deadline == r.t_deadline &&
                bits(o.value) == bits(r.value) && o.origin == r.origin && o.authority == r.authority);
}

static void test_command_records(void **state)
{
    (void)state;
    const dt_buswire_command ok = {.seq = UINT64_MAX, .t_issued = 10, .t_deadline = 20, .value = -3,
                                   .origin = 0xFFFF, .authority = 0xFFFF};
    dt_buswire_command r = ok;
    command_case(r, DT_BUSWIRE_OK);
    const int64_t bad_t[] = {INT64_MIN, INT64_MAX, DT_TIME_LIMIT + 1, -DT_TIME_LIMIT - 1};
    for (int i = 0; i < 4; i++) {
        r = ok;
        r.t_issued = bad_t[i];
        command_case(r, DT_BUSWIRE_BAD_TIME);
        r = ok;
        r.t_deadline = bad_t[i];
        command_case(r, DT_BUSWIRE_BAD_TIME);
    }
    r = ok;
    r.t_deadline = r.t_issued - 1;
    command_case(r, DT_BUSWIRE_DEADLINE_BEFORE_ISSUED);
    r.t_deadline = r.t_issued; /* due at once: valid */
    command_case(r, DT_BUSWIRE_OK);
    r.t_issued = -DT_TIME_LIMIT;
    r.t_deadline = DT_TIME_LIMIT;
    command_case(r, DT_BUSWIRE_OK);
    r.t_issued = DT_TIME_LIMIT;
    r.t_deadline = -DT_TIME_LIMIT;
    command_case(r, DT_BUSWIRE_DEADLINE_BEFORE_ISSUED);
    const double nonfinite[] = {NAN, INFINITY, -INFINITY};
    for (int i = 0; i < 3; i++) {
        r = ok;
        r.value = nonfinite[i];
        command_case(r, DT_BUSWIRE_NOT_FINITE);
    }
    r = ok;
    r.value = -0.0;
    command_case(r, DT_BUSWIRE_OK);
    r.value = 4.9406564584124654e-324;
    command_case(r, DT_BUSWIRE_OK);
    /* each reserved byte: the record is refused, the message is not */
    for (int k = 0; k < 4; k++) {
        r = ok;
        command_case(r, DT_BUSWIRE_OK);
        msg[24 + 36 + k] = 1;
        assert_int_equal(dt_buswire_decode_header(msg, 64, NULL), DT_BUSWIRE_OK);
        dt_buswire_command o;
        assert_int_equal(dt_buswire_command_at(msg, 64, 0, &o), DT_BUSWIRE_BAD_RESERVED);
    }
}

/* ---- acks ---- */

static void ack_case(dt_buswire_ack r, dt_buswire_error want)
{
    assert_int_equal(dt_buswire_ack_check(&r), want);
    size_t n = dt_buswire_encode_acks(enc, sizeof enc, &H, &r, 1);
    assert_int_equal(n, want == DT_BUSWIRE_OK ? 24 + 24 : 0);
    header(msg, DT_BUSWIRE_ACKS, 1);
    put_le(msg + 24, r.seq, 8);
    put_le(msg + 32, r.decision, 4);
    put_le(msg + 36, (uint32_t)r.status, 4);
    put_le(msg + 40, (uint64_t)r.t, 8);
    if (n != 0)
        assert_memory_equal(enc, msg, n);
    dt_buswire_ack o;
    assert_int_equal(dt_buswire_ack_at(msg, 48, 0, &o), want);
    assert_true(o.seq == r.seq && o.decision == r.decision && o.status == r.status && o.t == r.t);
}

static void test_ack_records(void **state)
{
    (void)state;
    const dt_buswire_ack ok = {.seq = 0, .decision = DT_BUSWIRE_DECISIONS_KNOWN, .status = 0, .t = 5};
    dt_buswire_ack r = ok;
    ack_case(r, DT_BUSWIRE_OK);
    for (int b = 8; b < 32; b++) {
        r.decision = 1u << b;
        ack_case(r, DT_BUSWIRE_BAD_FLAGS);
    }
    r = ok;
    const int32_t bad_status[] = {1, INT32_MAX};
    for (int i = 0; i < 2; i++) {
        r.status = bad_status[i];
        ack_case(r, DT_BUSWIRE_BAD_STATUS);
    }
    /* any negative status: codes are appended over releases, a reader shows
     * an unknown one rather than refuse the ack */
    const int32_t statuses[] = {-1, DT_ETIMEOUT, INT32_MIN};
    for (int i = 0; i < 3; i++) {
        r.status = statuses[i];
        ack_case(r, DT_BUSWIRE_OK);
    }
    r = ok;
    const int64_t bad_t[] = {INT64_MIN, INT64_MAX, DT_TIME_LIMIT + 1, -DT_TIME_LIMIT - 1};
    for (int i = 0; i < 4; i++) {
        r.t = bad_t[i];
        ack_case(r, DT_BUSWIRE_BAD_TIME);
    }
    r.t = -DT_TIME_LIMIT;
    ack_case(r, DT_BUSWIRE_OK);
}

/* ---- beliefs ---- */

/* a belief message written by hand: P given as its packed upper triangle */
static size_t belief_msg(int64_t t, size_t n, const double *mean, const double *up)
{
    header(msg, DT_BUSWIRE_BELIEF, 1);
    put_le(msg + 24, (uint64_t)t, 8);
    put_le(msg + 32, n, 4);
    put_le(msg + 36, 0, 4);
    for (size_t i = 0; i < n; i++)
        put_d(msg + 40 + 8 * i, mean[i]);
    for (size_t k = 0; k < n * (n + 1) / 2; k++)
        put_d(msg + 40 + 8 * n + 8 * k, up[k]);
    return 40 + 8 * n + 4 * n * (n + 1);
}

static double M[DT_BUSWIRE_MAX_STATES * DT_BUSWIRE_MAX_STATES];
static double Pd[DT_BUSWIRE_MAX_STATES * DT_BUSWIRE_MAX_STATES];
static double up[DT_BUSWIRE_COV_ENTRIES(DT_BUSWIRE_MAX_STATES)];
static double work[DT_BUSWIRE_BELIEF_WORK(DT_BUSWIRE_MAX_STATES)];
static const double mean0[DT_BUSWIRE_MAX_STATES];

/* P (n x n) through the check, the encoder and the hand-written message */
#define belief_case(t, n, mean, P, want) belief_case_at(__LINE__, t, n, mean, P, want)
static void belief_case_at(int line, int64_t t, size_t n, const double *mean, const double *P,
                           dt_buswire_error want)
{
    dt_buswire_error got = dt_buswire_belief_check(t, n, mean, P, work);
    if (got != want)
        fail_msg("line %d: %s, expected %s", line, dt_buswire_error_name(got),
                 dt_buswire_error_name(want));
    size_t len = dt_buswire_encode_belief(enc, sizeof enc, &H, t, n, mean, P);
    assert_int_equal(len, want == DT_BUSWIRE_OK ? DT_BUSWIRE_BELIEF_BYTES(n) : 0);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i; j < n; j++)
            up[k++] = P[i * n + j];
    assert_int_equal(belief_msg(t, n, mean, up), DT_BUSWIRE_BELIEF_BYTES(n));
    if (len != 0)
        assert_memory_equal(enc, msg, len);
    int symmetric = 1;
    for (size_t i = 0; i < n * n; i++)
        symmetric &= P[i] == P[(i % n) * n + i / n];
    if (!symmetric)
        return; /* the message carries one triangle: this P cannot be sent */
    dt_time tv = 1;
    size_t nn = 0;
    double m[DT_BUSWIRE_MAX_STATES];
    assert_int_equal(dt_buswire_decode_belief(msg, DT_BUSWIRE_BELIEF_BYTES(n), NULL, &tv, &nn, m, Pd, n),
                     want);
    if (want == DT_BUSWIRE_OK) {
        assert_true(tv == t && nn == n);
        for (size_t i = 0; i < n * n; i++)
            assert_true(bits(Pd[i]) == bits(P[i])); /* -0.0 stays -0.0 */
    } else {
        assert_true(tv == 1 && nn == 0); /* untouched */
    }
}

static void test_belief_structure(void **state)
{
    (void)state;
    const double mean[2] = {0, 0}, P[4] = {1, 0, 0, 1}, upP[3] = {1, 0, 1};
    double m[2], Q[4];
    size_t len = belief_msg(0, 2, mean, upP);
    dt_buswire_header h = {.seq = 77};
    assert_int_equal(dt_buswire_decode_belief(msg, len, &h, NULL, NULL, m, Q, 2), DT_BUSWIRE_OK);
    assert_int_equal(h.seq, 1);
    /* length off by one both ways; cut inside the fixed part */
    assert_int_equal(dt_buswire_decode_belief(msg, len - 1, NULL, NULL, NULL, m, Q, 2), DT_BUSWIRE_TRUNCATED);
    assert_int_equal(dt_buswire_decode_belief(msg, len + 1, NULL, NULL, NULL, m, Q, 2), DT_BUSWIRE_TRAILING);
    for (size_t l = 24; l < 40; l++)
        assert_int_equal(dt_buswire_decode_header(msg, l, NULL), DT_BUSWIRE_TRUNCATED);
    /* states 0, 65, 2^32 - 1: refused before the length is computed */
    const uint32_t bad_n[] = {0, 65, UINT32_MAX};
    for (int i = 0; i < 3; i++) {
        put_le(msg + 32, bad_n[i], 4);
        assert_int_equal(dt_buswire_decode_header(msg, len, NULL), DT_BUSWIRE_BAD_STATES);
    }
    put_le(msg + 32, 2, 4);
    for (int k = 0; k < 4; k++) {
        msg[36 + k] = 0x10;
        assert_int_equal(dt_buswire_decode_header(msg, len, NULL), DT_BUSWIRE_BAD_RESERVED);
        msg[36 + k] = 0;
    }
    /* the caller's capacity */
    h.seq = 77;
    assert_int_equal(dt_buswire_decode_belief(msg, len, &h, NULL, NULL, m, Q, 1), DT_BUSWIRE_CAPACITY);
    assert_int_equal(dt_buswire_decode_belief(msg, len, &h, NULL, NULL, m, Q, 0), DT_BUSWIRE_CAPACITY);
    assert_int_equal(h.seq, 77);
    /* states 0 and 65 are never encoded */
    assert_int_equal(dt_buswire_encode_belief(enc, sizeof enc, &H, 0, 0, mean, P), 0);
    assert_int_equal(dt_buswire_belief_check(0, 0, mean, P, work), DT_BUSWIRE_BAD_STATES);
    assert_int_equal(dt_buswire_encode_belief(enc, sizeof enc, &H, 0, 65, M, M), 0);
    assert_int_equal(dt_buswire_belief_check(0, 65, M, M, work), DT_BUSWIRE_BAD_STATES);
}

static void test_belief_values(void **state)
{
    (void)state;
    const double mean[2] = {1, 2}, P[4] = {2, 1, 1, 2};
    belief_case(0, 2, mean, P, DT_BUSWIRE_OK);
    const int64_t bad_t[] = {INT64_MIN, INT64_MAX, DT_TIME_LIMIT + 1, -DT_TIME_LIMIT - 1};
    for (int i = 0; i < 4; i++)
        belief_case(bad_t[i], 2, mean, P, DT_BUSWIRE_BAD_TIME);
    belief_case(DT_TIME_LIMIT, 2, mean, P, DT_BUSWIRE_OK);
    belief_case(-DT_TIME_LIMIT, 2, mean, P, DT_BUSWIRE_OK);
    const double nonfinite[] = {NAN, INFINITY, -INFINITY};
    for (int v = 0; v < 3; v++) {
        for (int i = 0; i < 2; i++) { /* each mean */
            double m[2] = {1, 2};
            m[i] = nonfinite[v];
            belief_case(0, 2, m, P, DT_BUSWIRE_NOT_FINITE);
        }
        for (int i = 0; i < 4; i++) { /* each covariance entry (both off-diagonal ones) */
            double Q[4] = {2, 1, 1, 2};
            Q[i] = nonfinite[v];
            belief_case(0, 2, mean, Q, DT_BUSWIRE_NOT_FINITE);
            if (i == 1 || i == 2) {
                Q[1] = Q[2] = nonfinite[v];
                belief_case(0, 2, mean, Q, DT_BUSWIRE_NOT_FINITE);
            }
        }
    }
    double m[2] = {-0.0, 4.9406564584124654e-324};
    belief_case(0, 2, m, P, DT_BUSWIRE_OK);
    /* time before values: a bad time with NaN means is bad_time */
    m[0] = NAN;
    belief_case(INT64_MAX, 2, m, P, DT_BUSWIRE_BAD_TIME);
}

#define cov2(a, b, c, d, want) cov2_at(__LINE__, a, b, c, d, want)
static void cov2_at(int line, double a, double b, double c, double d, dt_buswire_error want)
{
    const double P[4] = {a, b, c, d};
    belief_case_at(line, 0, 2, mean0, P, want);
}

static void test_belief_covariance(void **state)
{
    (void)state;
    const double tiny = 4.9406564584124654e-324, vmax = DT_BUSWIRE_VARIANCE_MAX;
    cov2(1, 2, 2, 1, DT_BUSWIRE_NOT_PSD);               /* symmetric, indefinite */
    cov2(1, 0, 0, -1, DT_BUSWIRE_BAD_VARIANCE);         /* a negative variance */
    cov2(-tiny, 0, 0, 1, DT_BUSWIRE_BAD_VARIANCE);
    cov2(-1, 5, 5, 1, DT_BUSWIRE_BAD_VARIANCE);         /* before the PSD test */
    cov2(vmax, 0, 0, 1, DT_BUSWIRE_OK);
    cov2(1, 0, 0, nextafter(vmax, INFINITY), DT_BUSWIRE_BAD_VARIANCE);
    cov2(2, 1, 0.5, 2, DT_BUSWIRE_NOT_PSD);             /* not symmetric */
    cov2(2, 1, nextafter(1, 2), 2, DT_BUSWIRE_NOT_PSD); /* by one ulp: exact symmetry required */
    cov2(1, 1, 1, 1, DT_BUSWIRE_OK);                    /* singular: semi-definite */
    cov2(1, 1 + DBL_EPSILON, 1 + DBL_EPSILON, 1, DT_BUSWIRE_OK); /* within the tolerance */
    cov2(1, 1 + 1e-6, 1 + 1e-6, 1, DT_BUSWIRE_NOT_PSD);
    cov2(0, 0, 0, 0, DT_BUSWIRE_OK);
    cov2(-0.0, -0.0, -0.0, -0.0, DT_BUSWIRE_OK);
    cov2(1, -0.0, -0.0, 1, DT_BUSWIRE_OK);
    cov2(0, 0, 0, 1, DT_BUSWIRE_OK);
    cov2(0, 0.1, 0.1, 1, DT_BUSWIRE_NOT_PSD); /* a zero variance with a covariance */
    /* the tolerance is relative to the largest variance (as for a twin
     * description's covariances): what is indefinite by less than 1e-9 of it
     * passes */
    cov2(0, 1e-300, 1e-300, 1, DT_BUSWIRE_OK);
    cov2(0, 3e-5, 3e-5, 1, DT_BUSWIRE_OK);
    cov2(0, 4e-5, 4e-5, 1, DT_BUSWIRE_NOT_PSD);
    cov2(vmax, 1, 1, tiny, DT_BUSWIRE_OK); /* det < 0, by 1e-150 of vmax^2 */
    cov2(0, tiny, tiny, 0, DT_BUSWIRE_NOT_PSD);
    cov2(tiny, 0, 0, tiny, DT_BUSWIRE_OK);              /* denormals */
    cov2(DBL_MIN, DBL_MIN / 2, DBL_MIN / 2, DBL_MIN, DT_BUSWIRE_OK);
    cov2(tiny, 1, 1, tiny, DT_BUSWIRE_NOT_PSD);
    cov2(vmax, vmax / 2, vmax / 2, vmax, DT_BUSWIRE_OK);
    cov2(vmax, vmax, vmax, vmax, DT_BUSWIRE_OK);
    cov2(vmax, -vmax, -vmax, vmax, DT_BUSWIRE_OK);
    cov2(DBL_MAX, 0, 0, DBL_MAX, DT_BUSWIRE_BAD_VARIANCE);
    cov2(1, DBL_MAX, DBL_MAX, 1, DT_BUSWIRE_NOT_PSD); /* no overflow on the way */
    cov2(tiny, DBL_MAX, DBL_MAX, tiny, DT_BUSWIRE_NOT_PSD);
    cov2(vmax, 2 * vmax, 2 * vmax, vmax, DT_BUSWIRE_NOT_PSD);
    /* every 2 x 2 minor positive, the whole indefinite */
    const double C[9] = {1, 0.9, -0.9, 0.9, 1, 0.9, -0.9, 0.9, 1};
    belief_case(0, 3, mean0, C, DT_BUSWIRE_NOT_PSD);
    const double Cok[9] = {1, 0.9, 0.81, 0.9, 1, 0.9, 0.81, 0.9, 1};
    belief_case(0, 3, mean0, Cok, DT_BUSWIRE_OK);
    const double one[1] = {3};
    belief_case(0, 1, mean0, one, DT_BUSWIRE_OK);
}

/* 64 states: P = A A' + I for a fixed pseudo-random A, exactly symmetric */
static void test_belief_64_states(void **state)
{
    (void)state;
    enum { N = DT_BUSWIRE_MAX_STATES };
    static double A[N * N];
    double mean[N];
    uint32_t x = 12345;
    for (size_t i = 0; i < N * N; i++) {
        x = x * 1664525u + 1013904223u;
        A[i] = (double)(x >> 8) / 16777216.0 - 0.5;
    }
    for (size_t i = 0; i < N; i++) {
        mean[i] = (double)i - 32;
        for (size_t j = 0; j < N; j++) {
            double s = i == j ? 1 : 0;
            for (size_t k = 0; k < N; k++)
                s += A[i * N + k] * A[j * N + k];
            M[i * N + j] = s;
        }
    }
    belief_case(123, N, mean, M, DT_BUSWIRE_OK);
    assert_int_equal(DT_BUSWIRE_BELIEF_BYTES(N), 17192);
    double m[N];
    assert_int_equal(dt_buswire_decode_belief(msg, 17192, NULL, NULL, NULL, m, Pd, N - 1), DT_BUSWIRE_CAPACITY);
    assert_int_equal(dt_buswire_decode_belief(msg, 17192, NULL, NULL, NULL, m, Pd, 1000), DT_BUSWIRE_OK);
    /* the identity with one 2 x 2 block made indefinite at the very end */
    memset(M, 0, sizeof M);
    for (size_t i = 0; i < N; i++)
        M[i * N + i] = 1;
    M[(N - 2) * N + N - 1] = M[(N - 1) * N + N - 2] = 1.5;
    belief_case(0, N, mean, M, DT_BUSWIRE_NOT_PSD);
    /* 65 states: one too many */
    assert_int_equal(dt_buswire_belief_check(0, N + 1, M, M, work), DT_BUSWIRE_BAD_STATES);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_sample_records),
    cmocka_unit_test(test_bad_record_skipped),
    cmocka_unit_test(test_command_records),
    cmocka_unit_test(test_ack_records),
    cmocka_unit_test(test_belief_structure),
    cmocka_unit_test(test_belief_values),
    cmocka_unit_test(test_belief_covariance),
    cmocka_unit_test(test_belief_64_states),
};

DTT_MAIN(tests)
