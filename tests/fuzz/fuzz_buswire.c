/* libFuzzer: the MQTT bus payload codec (dtwin/buswire.h), and what a reader
 * computes with what it accepts.
 *
 * Each input is decoded three ways: as sent; with its header repaired (magic,
 * version, a type from byte 5, a contract, a count or number of states that
 * fits the input's length, zero reserved fields) so that mutations reach the
 * record and belief checks; and read as values (records, a belief's mean and
 * covariance) handed to the encoders.
 *
 * Invariants: a message the decoder accepts re-encodes to the same bytes; a
 * record's reason is the check function's on the record decoded; a belief's
 * reason is dt_buswire_belief_check's on the matrix read independently here;
 * an accepted covariance is exactly symmetric, finite, with variances in
 * 0 .. 1e150 and no entry above twice the largest; the encoders refuse
 * exactly what the checks refuse, and what they write decodes to what they
 * were given (bit for bit); an exactly positive semi-definite matrix (L L' of small
 * integers) is accepted. Then the reader's arithmetic: ages and deadline
 * slack against a `now` within the time limit, with overflow checked (none
 * may happen); the trace, a row of P P and a Cholesky factor of P, which must
 * stay finite. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dtwin/dtwin.h"
#include "fuzz_util.h"

#define N_MAX DT_BUSWIRE_MAX_STATES
#define CAP (DT_BUSWIRE_MAX_BYTES + 64)

static uint64_t le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}
static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static double led(const uint8_t *p)
{
    uint64_t u = le(p, 8);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}
static uint64_t bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static uint8_t again[CAP];
static double mean[N_MAX], P[N_MAX * N_MAX], Q[N_MAX * N_MAX], L[N_MAX * N_MAX];
static double work[DT_BUSWIRE_BELIEF_WORK(N_MAX)];

/* a time difference as a reader takes it: both within the limit, it fits */
static void checked_age(dt_time now, dt_time t)
{
    FUZZ_CHECK(dt_time_valid(now) && dt_time_valid(t));
    int64_t d;
    FUZZ_CHECK(!__builtin_sub_overflow(now, t, &d));
    FUZZ_CHECK((d >= 0) == (now >= t));
}

/* the reader's `now`: anywhere in the valid range, from the message's seq */
static dt_time reader_now(uint64_t seq)
{
    return (dt_time)(seq % (2 * (uint64_t)DT_TIME_LIMIT + 1)) - DT_TIME_LIMIT;
}

static int is_record_reason(dt_buswire_error e)
{
    return e == DT_BUSWIRE_BAD_FLAGS || e == DT_BUSWIRE_NOT_FINITE || e == DT_BUSWIRE_BAD_VARIANCE ||
           e == DT_BUSWIRE_BAD_TIME || e == DT_BUSWIRE_DEADLINE_BEFORE_ISSUED ||
           e == DT_BUSWIRE_BAD_STATUS || e == DT_BUSWIRE_BAD_RESERVED;
}

/* what a reader computes with an accepted belief, unscaled: nothing may
 * overflow (variances <= 1e150, entries <= twice the largest variance) */
static void belief_arithmetic(size_t n, const double *C)
{
    double top = 0, trace = 0;
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(C[i * n + i] >= 0 && C[i * n + i] <= DT_BUSWIRE_VARIANCE_MAX);
        top = fmax(top, C[i * n + i]);
        trace += C[i * n + i];
        for (size_t j = 0; j < n; j++) {
            FUZZ_CHECK(isfinite(C[i * n + j]));
            FUZZ_CHECK(bits(C[i * n + j]) == bits(C[j * n + i])); /* exactly symmetric */
        }
    }
    FUZZ_CHECK(isfinite(trace) && trace >= top);
    for (size_t i = 0; i < n * n; i++)
        FUZZ_CHECK(fabs(C[i]) <= 2 * top);
    /* a row of C C, as a Kalman update multiplies two covariance entries */
    double row = 0;
    for (size_t k = 0; k < n; k++)
        row += C[k] * C[k * n];
    FUZZ_CHECK(isfinite(row));
    /* semi-definite Cholesky: a pivot at or under 1e-9 of the largest variance is 0 */
    for (size_t k = 0; k < n; k++) {
        double d = C[k * n + k];
        for (size_t j = 0; j < k; j++)
            d -= L[k * n + j] * L[k * n + j];
        double lkk = d > 1e-9 * top ? sqrt(d) : 0;
        L[k * n + k] = lkk;
        for (size_t i = k + 1; i < n; i++) {
            double s = C[i * n + k];
            for (size_t j = 0; j < k; j++)
                s -= L[i * n + j] * L[k * n + j];
            L[i * n + k] = lkk > 0 ? s / lkk : 0;
            FUZZ_CHECK(isfinite(L[i * n + k]));
        }
    }
}

static void check_records(const uint8_t *b, size_t len, const dt_buswire_header *h)
{
    static dt_buswire_sample s[DT_BUSWIRE_MAX_SAMPLES];
    static dt_buswire_command c[DT_BUSWIRE_MAX_COMMANDS];
    static dt_buswire_ack a[DT_BUSWIRE_MAX_ACKS];
    dt_time now = reader_now(h->seq);
    int all_ok = 1, refusable = 0; /* refusable: a record the encoder refuses */
    for (size_t i = 0; i < h->count; i++) {
        dt_buswire_error e;
        if (h->type == DT_BUSWIRE_SAMPLES) {
            e = dt_buswire_sample_at(b, len, i, &s[i]);
            FUZZ_CHECK(e == dt_buswire_sample_check(&s[i]));
            refusable |= e != DT_BUSWIRE_OK;
            if (e == DT_BUSWIRE_OK)
                checked_age(now, s[i].t_source);
        } else if (h->type == DT_BUSWIRE_COMMANDS) {
            e = dt_buswire_command_at(b, len, i, &c[i]);
            dt_buswire_error ce = dt_buswire_command_check(&c[i]);
            FUZZ_CHECK(e == ce || (e == DT_BUSWIRE_BAD_RESERVED && le(b + 24 + 40 * i + 36, 4) != 0));
            refusable |= ce != DT_BUSWIRE_OK;
            if (e == DT_BUSWIRE_OK) {
                checked_age(c[i].t_deadline, now); /* slack */
                checked_age(c[i].t_deadline, c[i].t_issued);
                FUZZ_CHECK(c[i].t_deadline >= c[i].t_issued);
            }
        } else {
            e = dt_buswire_ack_at(b, len, i, &a[i]);
            FUZZ_CHECK(e == dt_buswire_ack_check(&a[i]));
            refusable |= e != DT_BUSWIRE_OK;
            if (e == DT_BUSWIRE_OK) {
                checked_age(now, a[i].t);
                FUZZ_CHECK(a[i].status <= 0);
            }
        }
        FUZZ_CHECK(e == DT_BUSWIRE_OK || is_record_reason(e));
        all_ok &= e == DT_BUSWIRE_OK;
    }
    dt_buswire_sample so;
    FUZZ_CHECK(dt_buswire_sample_at(b, len, h->count, &so) ==
               (h->type == DT_BUSWIRE_SAMPLES ? DT_BUSWIRE_BAD_ARG : DT_BUSWIRE_BAD_TYPE));
    size_t n = 0;
    if (h->type == DT_BUSWIRE_SAMPLES)
        n = dt_buswire_encode_samples(again, sizeof again, h, s, h->count);
    else if (h->type == DT_BUSWIRE_COMMANDS)
        n = dt_buswire_encode_commands(again, sizeof again, h, c, h->count);
    else
        n = dt_buswire_encode_acks(again, sizeof again, h, a, h->count);
    /* decode o encode = id for an accepted message; a bad record refuses the
     * batch (non-zero reserved bytes of a command aside: the encoder writes
     * zeros, the reader never sees the record's values wrong) */
    if (all_ok)
        FUZZ_CHECK(n == len && memcmp(again, b, len) == 0);
    else
        FUZZ_CHECK((n == 0) == refusable);
}

static void check_belief(const uint8_t *b, size_t len, const dt_buswire_header *h)
{
    dt_time t = 0;
    size_t n = 0;
    dt_buswire_header hb;
    dt_buswire_error e = dt_buswire_decode_belief(b, len, &hb, &t, &n, mean, P, N_MAX);
    /* the same values read here, through the check function */
    size_t nn = (size_t)le(b + 32, 4);
    int timed = (le(b + 36, 4) & DT_BUSWIRE_BELIEF_TIMES) != 0;
    FUZZ_CHECK(nn >= 1 && nn <= N_MAX &&
               len == DT_BUSWIRE_BELIEF_BYTES(nn) + (timed ? DT_BUSWIRE_BELIEF_TIMES_BYTES : 0));
    static double m2[N_MAX];
    for (size_t i = 0; i < nn; i++)
        m2[i] = led(b + 40 + 8 * i);
    size_t k = 0;
    for (size_t i = 0; i < nn; i++)
        for (size_t j = i; j < nn; j++) {
            Q[i * nn + j] = Q[j * nn + i] = led(b + 40 + 8 * nn + 8 * k);
            k++;
        }
    dt_time t2 = (dt_time)le(b + 24, 8);
    /* the values' checks first, then the times' (order, range) */
    dt_buswire_error ev = dt_buswire_belief_check(t2, nn, m2, Q, work);
    dt_time td = 0, ts = 0;
    dt_buswire_error et = dt_buswire_belief_times(b, len, &td, &ts);
    FUZZ_CHECK(e == (ev != DT_BUSWIRE_OK ? ev : et));
    if (et == DT_BUSWIRE_OK)
        FUZZ_CHECK(td <= t2 && t2 <= ts && (timed || (td == t2 && ts == t2)));
    if (nn > 1)
        FUZZ_CHECK(dt_buswire_decode_belief(b, len, NULL, NULL, NULL, mean, P, nn - 1) ==
                   DT_BUSWIRE_CAPACITY);
    if (e != DT_BUSWIRE_OK) {
        FUZZ_CHECK(e == DT_BUSWIRE_BAD_TIME || e == DT_BUSWIRE_NOT_FINITE ||
                   e == DT_BUSWIRE_BAD_VARIANCE || e == DT_BUSWIRE_NOT_PSD);
        return;
    }
    FUZZ_CHECK(n == nn && t == t2 && hb.seq == h->seq);
    FUZZ_CHECK(memcmp(mean, m2, n * sizeof *mean) == 0 && memcmp(P, Q, n * n * sizeof *P) == 0);
    checked_age(reader_now(h->seq), t);
    belief_arithmetic(n, P);
    size_t m = timed ? dt_buswire_encode_belief_timed(again, sizeof again, h, t, td, ts, n, mean,
                                                      P)
                     : dt_buswire_encode_belief(again, sizeof again, h, t, n, mean, P);
    FUZZ_CHECK(m == len && memcmp(again, b, len) == 0);
}

static void check_message(const uint8_t *data, size_t size)
{
    /* an exact-size copy: ASan sees any read past it */
    uint8_t *b = malloc(size ? size : 1);
    FUZZ_CHECK(b != NULL);
    memcpy(b, data, size);
    dt_buswire_header h;
    dt_buswire_error e = dt_buswire_decode_header(b, size, &h);
    FUZZ_CHECK(strcmp(dt_buswire_error_name(e), "?") != 0);
    if (e == DT_BUSWIRE_OK) {
        FUZZ_CHECK(h.version == 1 && h.type >= 1 && h.type <= 4 && h.contract != 0 && h.count >= 1);
        if (h.type == DT_BUSWIRE_BELIEF)
            check_belief(b, size, &h);
        else
            check_records(b, size, &h);
    } else {
        FUZZ_CHECK(dt_buswire_decode_belief(b, size, NULL, NULL, NULL, mean, P, N_MAX) == e);
    }
    free(b);
}

/* the input with a valid header, cut or zero-padded to the length it names */
static size_t repair(const uint8_t *data, size_t size, uint8_t *b)
{
    memset(b, 0, CAP);
    memcpy(b, data, size);
    put_le(b, DT_BUSWIRE_MAGIC, 4);
    b[4] = 1;
    b[5] = (uint8_t)(b[5] % 4 + 1);
    if (le(b + 12, 4) == 0)
        b[12] = 1;
    if (b[5] == DT_BUSWIRE_BELIEF) {
        put_le(b + 6, 1, 2);
        put_le(b + 36, 0, 4);
        size_t n = b[32] % N_MAX + 1;
        while (n > 1 && DT_BUSWIRE_BELIEF_BYTES(n) > size)
            n--;
        put_le(b + 32, n, 4);
        return DT_BUSWIRE_BELIEF_BYTES(n);
    }
    size_t rec = b[5] == DT_BUSWIRE_SAMPLES ? 32 : b[5] == DT_BUSWIRE_COMMANDS ? 40 : 24;
    size_t n = (size_t)le(b + 6, 2) % 64 + 1; /* batches of up to 64 records */
    while (n > 1 && 24 + n * rec > size)
        n--;
    put_le(b + 6, n, 2);
    return 24 + n * rec;
}

/* the input read as values, handed to the encoders */
static void encode_values(const uint8_t *data, size_t size)
{
    static dt_buswire_sample s[64];
    static dt_buswire_command c[64];
    static dt_buswire_ack a[64];
    static dt_buswire_sample so;
    static dt_buswire_command co;
    static dt_buswire_ack ao;
    const dt_buswire_header h = {.epoch = 1, .contract = 1, .seq = size};
    size_t n = size / 40 < 64 ? size / 40 : 64;
    int ok_s = n > 0, ok_c = n > 0, ok_a = n > 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = data + 40 * i;
        s[i] = (dt_buswire_sample){(uint32_t)le(p, 4), (uint32_t)le(p + 4, 4) & 0x7, (int64_t)le(p + 8, 8),
                                   led(p + 16), led(p + 24)};
        c[i] = (dt_buswire_command){le(p, 8), (int64_t)le(p + 8, 8), (int64_t)le(p + 16, 8), led(p + 24),
                                    (uint16_t)le(p + 32, 2), (uint16_t)le(p + 34, 2)};
        a[i] = (dt_buswire_ack){le(p, 8), (uint32_t)le(p + 8, 4) & 0x1FF, (int32_t)le(p + 12, 4),
                                (int64_t)le(p + 16, 8)};
        ok_s &= dt_buswire_sample_check(&s[i]) == DT_BUSWIRE_OK;
        ok_c &= dt_buswire_command_check(&c[i]) == DT_BUSWIRE_OK;
        ok_a &= dt_buswire_ack_check(&a[i]) == DT_BUSWIRE_OK;
    }
    size_t len = dt_buswire_encode_samples(again, sizeof again, &h, s, n);
    FUZZ_CHECK((len != 0) == ok_s);
    for (size_t i = 0; len != 0 && i < n; i++) {
        FUZZ_CHECK(dt_buswire_sample_at(again, len, i, &so) == DT_BUSWIRE_OK);
        FUZZ_CHECK(so.channel == s[i].channel && so.flags == s[i].flags && so.t_source == s[i].t_source &&
                   bits(so.value) == bits(s[i].value) && bits(so.variance) == bits(s[i].variance));
    }
    len = dt_buswire_encode_commands(again, sizeof again, &h, c, n);
    FUZZ_CHECK((len != 0) == ok_c);
    for (size_t i = 0; len != 0 && i < n; i++) {
        FUZZ_CHECK(dt_buswire_command_at(again, len, i, &co) == DT_BUSWIRE_OK);
        FUZZ_CHECK(co.seq == c[i].seq && co.t_issued == c[i].t_issued &&
                   co.t_deadline == c[i].t_deadline && bits(co.value) == bits(c[i].value) &&
                   co.origin == c[i].origin && co.authority == c[i].authority);
    }
    len = dt_buswire_encode_acks(again, sizeof again, &h, a, n);
    FUZZ_CHECK((len != 0) == ok_a);
    for (size_t i = 0; len != 0 && i < n; i++) {
        FUZZ_CHECK(dt_buswire_ack_at(again, len, i, &ao) == DT_BUSWIRE_OK);
        FUZZ_CHECK(ao.seq == a[i].seq && ao.decision == a[i].decision && ao.status == a[i].status &&
                   ao.t == a[i].t);
    }

    if (size < 2)
        return;
    /* a belief: the covariance as raw doubles (mirrored), then L L' of small
     * integers, exactly positive semi-definite: always accepted */
    /* mostly a few states (the O(n^3) tests are slow in this build), at times up to 64 */
    size_t ns = data[0] < 192 ? data[0] % 8u + 1 : data[0] % N_MAX + 1;
    const uint8_t *v = data + 1;
    size_t nv = size - 1;
    for (size_t i = 0; i < ns; i++)
        mean[i] = 8 * i + 8 <= nv ? led(v + 8 * i) : 0;
    size_t k = 0;
    for (size_t i = 0; i < ns; i++)
        for (size_t j = i; j < ns; j++, k++)
            Q[i * ns + j] = Q[j * ns + i] = 8 * k + 8 <= nv ? led(v + 8 * k) : (i == j);
    dt_time t = (int64_t)(nv >= 8 ? le(v, 8) : 0);
    dt_buswire_error e = dt_buswire_belief_check(t, ns, mean, Q, work);
    len = dt_buswire_encode_belief(again, sizeof again, &h, t, ns, mean, Q);
    FUZZ_CHECK((len != 0) == (e == DT_BUSWIRE_OK));
    if (len != 0)
        check_message(again, len);
    for (size_t i = 0; i < ns; i++)
        for (size_t j = 0; j < ns; j++)
            L[i * ns + j] = j <= i && i * ns + j < nv ? (double)(int8_t)v[i * ns + j] : 0;
    for (size_t i = 0; i < ns; i++) {
        mean[i] = 0;
        for (size_t j = 0; j <= i; j++) {
            double sum = 0; /* integers below 2^21: exact */
            for (size_t q = 0; q <= j; q++)
                sum += L[i * ns + q] * L[j * ns + q];
            Q[i * ns + j] = Q[j * ns + i] = sum;
        }
    }
    FUZZ_CHECK(dt_buswire_belief_check(0, ns, mean, Q, work) == DT_BUSWIRE_OK);
    len = dt_buswire_encode_belief(again, sizeof again, &h, 0, ns, mean, Q);
    FUZZ_CHECK(len == DT_BUSWIRE_BELIEF_BYTES(ns));
    check_message(again, len);
    /* the same, one covariance pair moved off it by the last byte: near the
     * boundary, the encoder, the check and the decoder must still agree */
    size_t i = data[1] % ns, j = data[size - 1] % ns;
    Q[i * ns + j] += (double)(int8_t)data[size - 1] / 64;
    Q[j * ns + i] = Q[i * ns + j];
    e = dt_buswire_belief_check(0, ns, mean, Q, work);
    len = dt_buswire_encode_belief(again, sizeof again, &h, 0, ns, mean, Q);
    FUZZ_CHECK((len != 0) == (e == DT_BUSWIRE_OK));
    if (len != 0)
        check_message(again, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t fixed[CAP];
    if (size > DT_BUSWIRE_MAX_BYTES)
        return 0;
    check_message(data, size);
    size_t n = repair(data, size, fixed);
    check_message(fixed, n);
    encode_values(data, size);
    return 0;
}
