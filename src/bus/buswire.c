/* The MQTT bus payloads (docs/wire.md, "Bus messages"). Little-endian, written
 * and read byte by byte so host endianness and struct layout never matter.
 * The encoders run the decoder's checks, so what dtwin publishes a reader
 * accepts. */
#include <math.h>
#include <string.h>

#include "dtwin/buswire.h"
#include "dtwin/control.h"

#include "../platform/le.h"

/* the ack's known decision bits are the dispatcher's flags */
_Static_assert(DT_BUSWIRE_DECISIONS_KNOWN ==
                   (DT_DISP_SENT | DT_DISP_CLAMPED | DT_DISP_RATE_LIMITED | DT_DISP_INTERLOCKED |
                    DT_DISP_EXPIRED | DT_DISP_SAFE_STATE | DT_DISP_SINK_ERROR | DT_DISP_REFUSED),
               "DT_BUSWIRE_DECISIONS_KNOWN is not the set of DT_DISP_* flags");

static const char *const error_names[DT_BUSWIRE__COUNT] = {
    "ok",           "short",      "bad_magic",    "bad_version", "bad_type",
    "bad_contract", "empty",      "too_many",     "truncated",   "trailing",
    "bad_reserved", "bad_states", "bad_flags",    "not_finite",  "bad_variance",
    "bad_time",     "deadline_before_issued",     "bad_status",  "not_psd",
    "capacity",     "bad_arg"};

const char *dt_buswire_error_name(dt_buswire_error e)
{
    return (unsigned)e < DT_BUSWIRE__COUNT ? error_names[e] : "?";
}

/* ---- the covariance test ----
 *
 * The criterion is the estimator's (dt__psd in src/estimator/cov_after.c):
 * an LDL' elimination whose pivots may be 0 but not below -1e-9 of the
 * largest variance, a zero pivot's column vanishing. It is written again here
 * because the codec has no n x n scratch: it runs in place on the packed upper
 * triangle (n(n+1)/2 doubles, row by row, as the message carries it), in
 * memory the caller already gives (the decoder's P, the encoder's output). It
 * is also hardened for hostile values, which dt__psd never sees: the matrix is
 * scaled by a power of two so its largest variance is in [0.5, 1) (exact), an
 * entry above twice the largest variance in magnitude (impossible for a PSD
 * matrix, whose |Pij| is at most the largest variance) is refused before any
 * arithmetic, every
 * comparison refuses NaN, and a diagonal entry is checked as soon as it is
 * updated. Diagonal entries only decrease during the elimination, so a
 * surviving row k bounds its entries by |Pkj|^2 <= d_k (Pjj + tol) and nothing
 * grows past a few units: no overflow whatever the input.
 *
 * T: the packed triangle in host representation, read and written through
 * memcpy (it may be the unaligned bytes of a message); destroyed. */
static double tget(const unsigned char *T, size_t k)
{
    double d;
    memcpy(&d, T + 8 * k, sizeof d);
    return d;
}
static void tput(unsigned char *T, size_t k, double d) { memcpy(T + 8 * k, &d, sizeof d); }

/* index of (i, j), i <= j, in the packed upper triangle of an n x n matrix */
static size_t upper(size_t n, size_t i, size_t j) { return i * (2 * n - i + 1) / 2 + (j - i); }

static int psd_packed(size_t n, unsigned char *T)
{
    size_t m = DT_BUSWIRE_COV_ENTRIES(n);
    double scale = 0;
    for (size_t i = 0; i < n; i++) {
        double d = tget(T, upper(n, i, i));
        if (!(d >= 0)) /* also NaN */
            return 0;
        scale = fmax(scale, d);
    }
    if (!isfinite(scale)) /* defensive: both callers pass finite values */
        return 0;
    if (scale == 0) { /* every variance 0: only the zero matrix */
        for (size_t k = 0; k < m; k++)
            if (tget(T, k) != 0)
                return 0;
        return 1;
    }
    int e;
    double top = frexp(scale, &e); /* scale = top 2^e, top in [0.5, 1) */
    for (size_t k = 0; k < m; k++) {
        double x = ldexp(tget(T, k), -e);
        if (!(fabs(x) <= 2 * top))
            return 0;
        tput(T, k, x);
    }
    const double tol = 1e-9 * top;
    for (size_t k = 0; k < n; k++) {
        double d = tget(T, upper(n, k, k));
        if (!(d >= -tol)) /* the check after each update has refused it already */
            return 0;
        if (d <= tol) {
            for (size_t j = k + 1; j < n; j++) {
                double o = tget(T, upper(n, k, j)), sj = tget(T, upper(n, j, j));
                if (!(o * o <= fmax(d, 0) * fmax(sj, 0) + tol * top))
                    return 0;
            }
            continue;
        }
        for (size_t i = k + 1; i < n; i++) {
            double l = tget(T, upper(n, k, i)) / d;
            for (size_t j = i; j < n; j++) {
                size_t ij = upper(n, i, j);
                tput(T, ij, tget(T, ij) - l * tget(T, upper(n, k, j)));
            }
            if (!(tget(T, upper(n, i, i)) >= -tol))
                return 0;
        }
    }
    return 1;
}

/* ---- records ---- */

static int finite_n(size_t n, const double *v)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return 0;
    return 1;
}

static int variance_ok(double v) { return v >= 0 && v <= DT_BUSWIRE_VARIANCE_MAX; }

dt_buswire_error dt_buswire_sample_check(const dt_buswire_sample *r)
{
    if (r == NULL)
        return DT_BUSWIRE_BAD_ARG;
    if (r->flags & ~DT_BUSWIRE_F_KNOWN)
        return DT_BUSWIRE_BAD_FLAGS;
    if (!dt_time_valid(r->t_source))
        return DT_BUSWIRE_BAD_TIME;
    if (!isfinite(r->value) || !isfinite(r->variance))
        return DT_BUSWIRE_NOT_FINITE;
    if (!variance_ok(r->variance))
        return DT_BUSWIRE_BAD_VARIANCE;
    return DT_BUSWIRE_OK;
}

dt_buswire_error dt_buswire_command_check(const dt_buswire_command *r)
{
    if (r == NULL)
        return DT_BUSWIRE_BAD_ARG;
    if (!dt_time_valid(r->t_issued) || !dt_time_valid(r->t_deadline))
        return DT_BUSWIRE_BAD_TIME;
    if (r->t_deadline < r->t_issued)
        return DT_BUSWIRE_DEADLINE_BEFORE_ISSUED;
    if (!isfinite(r->value))
        return DT_BUSWIRE_NOT_FINITE;
    return DT_BUSWIRE_OK;
}

dt_buswire_error dt_buswire_ack_check(const dt_buswire_ack *r)
{
    if (r == NULL)
        return DT_BUSWIRE_BAD_ARG;
    if (r->decision & ~DT_BUSWIRE_DECISIONS_KNOWN)
        return DT_BUSWIRE_BAD_FLAGS;
    if (r->status > 0)
        return DT_BUSWIRE_BAD_STATUS;
    if (!dt_time_valid(r->t))
        return DT_BUSWIRE_BAD_TIME;
    return DT_BUSWIRE_OK;
}

/* The belief's value checks up to the PSD test, on the caller's P: finite,
 * variances in range, exactly symmetric. */
static dt_buswire_error belief_values(dt_time t_valid, size_t n, const double *mean,
                                      const double *P)
{
    if (n == 0 || n > DT_BUSWIRE_MAX_STATES)
        return DT_BUSWIRE_BAD_STATES;
    if (!dt_time_valid(t_valid))
        return DT_BUSWIRE_BAD_TIME;
    if (!finite_n(n, mean) || !finite_n(n * n, P))
        return DT_BUSWIRE_NOT_FINITE;
    for (size_t i = 0; i < n; i++)
        if (!variance_ok(P[i * n + i]))
            return DT_BUSWIRE_BAD_VARIANCE;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (P[i * n + j] != P[j * n + i])
                return DT_BUSWIRE_NOT_PSD;
    return DT_BUSWIRE_OK;
}

/* P's upper triangle into T (host representation) */
static void pack_upper(size_t n, const double *P, unsigned char *T)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i; j < n; j++)
            tput(T, k++, P[i * n + j]);
}

dt_buswire_error dt_buswire_belief_check(dt_time t_valid, size_t n, const double *mean,
                                         const double *P, double *work)
{
    if (mean == NULL || P == NULL || work == NULL)
        return DT_BUSWIRE_BAD_ARG;
    dt_buswire_error e = belief_values(t_valid, n, mean, P);
    if (e != DT_BUSWIRE_OK)
        return e;
    pack_upper(n, P, (unsigned char *)work);
    return psd_packed(n, (unsigned char *)work) ? DT_BUSWIRE_OK : DT_BUSWIRE_NOT_PSD;
}

/* ---- encoding ---- */

static size_t header(uint8_t *buf, size_t cap, const dt_buswire_header *h, uint8_t type,
                     size_t n, size_t rec, size_t max)
{
    if (buf == NULL || h == NULL || h->contract == 0 || n == 0 || n > max)
        return 0;
    size_t len = DT_BUSWIRE_HEADER + n * rec;
    if (len > cap)
        return 0;
    dt__put32(buf, DT_BUSWIRE_MAGIC);
    buf[4] = DT_BUSWIRE_VERSION;
    buf[5] = type;
    dt__put16(buf + 6, (uint16_t)n);
    dt__put32(buf + 8, h->epoch);
    dt__put32(buf + 12, h->contract);
    dt__put64(buf + 16, h->seq);
    return len;
}

size_t dt_buswire_encode_samples(uint8_t *buf, size_t cap, const dt_buswire_header *h,
                                 const dt_buswire_sample *r, size_t n)
{
    if (r == NULL)
        return 0;
    size_t len = header(buf, cap, h, DT_BUSWIRE_SAMPLES, n, DT_BUSWIRE_SAMPLE_RECORD,
                        DT_BUSWIRE_MAX_SAMPLES);
    for (size_t i = 0; i < n && len != 0; i++) {
        if (dt_buswire_sample_check(&r[i]) != DT_BUSWIRE_OK)
            return 0;
        uint8_t *p = buf + DT_BUSWIRE_HEADER + i * DT_BUSWIRE_SAMPLE_RECORD;
        dt__put32(p, r[i].channel);
        dt__put32(p + 4, r[i].flags);
        dt__put64(p + 8, (uint64_t)r[i].t_source);
        dt__putd(p + 16, r[i].value);
        dt__putd(p + 24, r[i].variance);
    }
    return len;
}

size_t dt_buswire_encode_commands(uint8_t *buf, size_t cap, const dt_buswire_header *h,
                                  const dt_buswire_command *r, size_t n)
{
    if (r == NULL)
        return 0;
    size_t len = header(buf, cap, h, DT_BUSWIRE_COMMANDS, n, DT_BUSWIRE_COMMAND_RECORD,
                        DT_BUSWIRE_MAX_COMMANDS);
    for (size_t i = 0; i < n && len != 0; i++) {
        if (dt_buswire_command_check(&r[i]) != DT_BUSWIRE_OK)
            return 0;
        uint8_t *p = buf + DT_BUSWIRE_HEADER + i * DT_BUSWIRE_COMMAND_RECORD;
        dt__put64(p, r[i].seq);
        dt__put64(p + 8, (uint64_t)r[i].t_issued);
        dt__put64(p + 16, (uint64_t)r[i].t_deadline);
        dt__putd(p + 24, r[i].value);
        dt__put16(p + 32, r[i].origin);
        dt__put16(p + 34, r[i].authority);
        dt__put32(p + 36, 0);
    }
    return len;
}

size_t dt_buswire_encode_acks(uint8_t *buf, size_t cap, const dt_buswire_header *h,
                              const dt_buswire_ack *r, size_t n)
{
    if (r == NULL)
        return 0;
    size_t len = header(buf, cap, h, DT_BUSWIRE_ACKS, n, DT_BUSWIRE_ACK_RECORD,
                        DT_BUSWIRE_MAX_ACKS);
    for (size_t i = 0; i < n && len != 0; i++) {
        if (dt_buswire_ack_check(&r[i]) != DT_BUSWIRE_OK)
            return 0;
        uint8_t *p = buf + DT_BUSWIRE_HEADER + i * DT_BUSWIRE_ACK_RECORD;
        dt__put64(p, r[i].seq);
        dt__put32(p + 8, r[i].decision);
        dt__put32(p + 12, (uint32_t)r[i].status);
        dt__put64(p + 16, (uint64_t)r[i].t);
    }
    return len;
}

size_t dt_buswire_encode_belief(uint8_t *buf, size_t cap, const dt_buswire_header *h,
                                dt_time t_valid, size_t n, const double *mean, const double *P)
{
    if (mean == NULL || P == NULL || n == 0 || n > DT_BUSWIRE_MAX_STATES ||
        DT_BUSWIRE_BELIEF_BYTES(n) > cap ||
        header(buf, cap, h, DT_BUSWIRE_BELIEF, 1, DT_BUSWIRE_BELIEF_BYTES(n) - DT_BUSWIRE_HEADER,
               1) == 0 ||
        belief_values(t_valid, n, mean, P) != DT_BUSWIRE_OK)
        return 0;
    uint8_t *p = buf + DT_BUSWIRE_HEADER;
    uint8_t *cov = p + DT_BUSWIRE_BELIEF_FIXED + 8 * n;
    /* the covariance's bytes are the PSD test's scratch, then its encoding */
    pack_upper(n, P, cov);
    if (!psd_packed(n, cov))
        return 0;
    dt__put64(p, (uint64_t)t_valid);
    dt__put32(p + 8, (uint32_t)n);
    dt__put32(p + 12, 0);
    for (size_t i = 0; i < n; i++)
        dt__putd(p + DT_BUSWIRE_BELIEF_FIXED + 8 * i, mean[i]);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i; j < n; j++)
            dt__putd(cov + 8 * k++, P[i * n + j]);
    return DT_BUSWIRE_BELIEF_BYTES(n);
}

size_t dt_buswire_encode_belief_timed(uint8_t *buf, size_t cap, const dt_buswire_header *h,
                                      dt_time t_valid, dt_time t_data, dt_time t_sent, size_t n,
                                      const double *mean, const double *P)
{
    if (n == 0 || n > DT_BUSWIRE_MAX_STATES ||
        DT_BUSWIRE_BELIEF_BYTES(n) + DT_BUSWIRE_BELIEF_TIMES_BYTES > cap ||
        !dt_time_valid(t_data) || !dt_time_valid(t_sent) || t_data > t_valid ||
        t_valid > t_sent)
        return 0;
    size_t len = dt_buswire_encode_belief(buf, cap, h, t_valid, n, mean, P);
    if (len == 0)
        return 0;
    dt__put32(buf + DT_BUSWIRE_HEADER + 12, DT_BUSWIRE_BELIEF_TIMES);
    dt__put64(buf + len, (uint64_t)t_data);
    dt__put64(buf + len + 8, (uint64_t)t_sent);
    return len + DT_BUSWIRE_BELIEF_TIMES_BYTES;
}

/* ---- decoding ---- */

dt_buswire_error dt_buswire_decode_header(const uint8_t *buf, size_t len, dt_buswire_header *h)
{
    if (buf == NULL || len < DT_BUSWIRE_HEADER)
        return DT_BUSWIRE_SHORT;
    if (dt__get32(buf) != DT_BUSWIRE_MAGIC)
        return DT_BUSWIRE_BAD_MAGIC;
    if (buf[4] != DT_BUSWIRE_VERSION)
        return DT_BUSWIRE_BAD_VERSION;
    size_t rec, max;
    switch (buf[5]) {
    case DT_BUSWIRE_SAMPLES:
        rec = DT_BUSWIRE_SAMPLE_RECORD;
        max = DT_BUSWIRE_MAX_SAMPLES;
        break;
    case DT_BUSWIRE_BELIEF:
        rec = 0; /* from the states, below */
        max = 1;
        break;
    case DT_BUSWIRE_COMMANDS:
        rec = DT_BUSWIRE_COMMAND_RECORD;
        max = DT_BUSWIRE_MAX_COMMANDS;
        break;
    case DT_BUSWIRE_ACKS:
        rec = DT_BUSWIRE_ACK_RECORD;
        max = DT_BUSWIRE_MAX_ACKS;
        break;
    default:
        return DT_BUSWIRE_BAD_TYPE;
    }
    if (dt__get32(buf + 12) == 0)
        return DT_BUSWIRE_BAD_CONTRACT;
    size_t count = dt__get16(buf + 6);
    if (count == 0)
        return DT_BUSWIRE_EMPTY;
    if (count > max)
        return DT_BUSWIRE_TOO_MANY;
    size_t want;
    if (buf[5] == DT_BUSWIRE_BELIEF) {
        if (len < DT_BUSWIRE_HEADER + DT_BUSWIRE_BELIEF_FIXED)
            return DT_BUSWIRE_TRUNCATED;
        uint32_t flags = dt__get32(buf + DT_BUSWIRE_HEADER + 12);
        if ((flags & ~DT_BUSWIRE_BELIEF_TIMES) != 0)
            return DT_BUSWIRE_BAD_RESERVED;
        uint32_t n = dt__get32(buf + DT_BUSWIRE_HEADER + 8);
        if (n == 0 || n > DT_BUSWIRE_MAX_STATES)
            return DT_BUSWIRE_BAD_STATES;
        want = DT_BUSWIRE_BELIEF_BYTES(n) +
               ((flags & DT_BUSWIRE_BELIEF_TIMES) ? DT_BUSWIRE_BELIEF_TIMES_BYTES : 0);
    } else {
        want = DT_BUSWIRE_HEADER + count * rec;
    }
    if (len < want)
        return DT_BUSWIRE_TRUNCATED;
    if (len > want)
        return DT_BUSWIRE_TRAILING;
    if (h != NULL) {
        h->version = buf[4];
        h->type = buf[5];
        h->count = (uint16_t)count;
        h->epoch = dt__get32(buf + 8);
        h->contract = dt__get32(buf + 12);
        h->seq = dt__get64(buf + 16);
    }
    return DT_BUSWIRE_OK;
}

/* record i of a message of the given type, after the header checks */
static dt_buswire_error record(const uint8_t *buf, size_t len, size_t i, uint8_t type,
                               size_t rec, const void *out, const uint8_t **p)
{
    dt_buswire_header h;
    dt_buswire_error e = dt_buswire_decode_header(buf, len, &h);
    if (e != DT_BUSWIRE_OK)
        return e;
    if (h.type != type)
        return DT_BUSWIRE_BAD_TYPE;
    if (out == NULL || i >= h.count)
        return DT_BUSWIRE_BAD_ARG;
    *p = buf + DT_BUSWIRE_HEADER + i * rec;
    return DT_BUSWIRE_OK;
}

dt_buswire_error dt_buswire_sample_at(const uint8_t *buf, size_t len, size_t i,
                                      dt_buswire_sample *out)
{
    const uint8_t *p = NULL;
    dt_buswire_error e =
        record(buf, len, i, DT_BUSWIRE_SAMPLES, DT_BUSWIRE_SAMPLE_RECORD, out, &p);
    if (e != DT_BUSWIRE_OK)
        return e;
    out->channel = dt__get32(p);
    out->flags = dt__get32(p + 4);
    out->t_source = (int64_t)dt__get64(p + 8);
    out->value = dt__getd(p + 16);
    out->variance = dt__getd(p + 24);
    return dt_buswire_sample_check(out);
}

dt_buswire_error dt_buswire_command_at(const uint8_t *buf, size_t len, size_t i,
                                       dt_buswire_command *out)
{
    const uint8_t *p = NULL;
    dt_buswire_error e =
        record(buf, len, i, DT_BUSWIRE_COMMANDS, DT_BUSWIRE_COMMAND_RECORD, out, &p);
    if (e != DT_BUSWIRE_OK)
        return e;
    out->seq = dt__get64(p);
    out->t_issued = (int64_t)dt__get64(p + 8);
    out->t_deadline = (int64_t)dt__get64(p + 16);
    out->value = dt__getd(p + 24);
    out->origin = dt__get16(p + 32);
    out->authority = dt__get16(p + 34);
    if (dt__get32(p + 36) != 0)
        return DT_BUSWIRE_BAD_RESERVED;
    return dt_buswire_command_check(out);
}

dt_buswire_error dt_buswire_ack_at(const uint8_t *buf, size_t len, size_t i, dt_buswire_ack *out)
{
    const uint8_t *p = NULL;
    dt_buswire_error e = record(buf, len, i, DT_BUSWIRE_ACKS, DT_BUSWIRE_ACK_RECORD, out, &p);
    if (e != DT_BUSWIRE_OK)
        return e;
    out->seq = dt__get64(p);
    out->decision = dt__get32(p + 8);
    out->status = (int32_t)dt__get32(p + 12);
    out->t = (int64_t)dt__get64(p + 16);
    return dt_buswire_ack_check(out);
}

/* The message checks of a belief: its header, and its type. */
static dt_buswire_error belief_header(const uint8_t *buf, size_t len, dt_buswire_header *hh)
{
    dt_buswire_error e = dt_buswire_decode_header(buf, len, hh);
    if (e == DT_BUSWIRE_OK && hh->type != DT_BUSWIRE_BELIEF)
        e = DT_BUSWIRE_BAD_TYPE;
    return e;
}

dt_buswire_error dt_buswire_decode_belief(const uint8_t *buf, size_t len, dt_buswire_header *h,
                                          dt_time *t_valid, size_t *n, double *mean, double *P,
                                          size_t max_n)
{
    dt_buswire_header hh;
    dt_buswire_error e = belief_header(buf, len, &hh);
    if (e != DT_BUSWIRE_OK)
        return e;
    if (mean == NULL || P == NULL)
        return DT_BUSWIRE_BAD_ARG;
    const uint8_t *p = buf + DT_BUSWIRE_HEADER;
    size_t nn = dt__get32(p + 8); /* 1..64: checked by the header */
    if (nn > max_n)
        return DT_BUSWIRE_CAPACITY;
    dt_time t = (dt_time)dt__get64(p);
    if (!dt_time_valid(t))
        return DT_BUSWIRE_BAD_TIME;
    const uint8_t *pm = p + DT_BUSWIRE_BELIEF_FIXED, *pc = pm + 8 * nn;
    size_t m = DT_BUSWIRE_COV_ENTRIES(nn);
    for (size_t i = 0; i < nn; i++) {
        mean[i] = dt__getd(pm + 8 * i);
        if (!isfinite(mean[i]))
            return DT_BUSWIRE_NOT_FINITE;
    }
    /* the packed triangle into P's storage (m <= nn * nn doubles), tested in place */
    for (size_t k = 0; k < m; k++) {
        P[k] = dt__getd(pc + 8 * k);
        if (!isfinite(P[k]))
            return DT_BUSWIRE_NOT_FINITE;
    }
    for (size_t i = 0; i < nn; i++)
        if (!variance_ok(P[upper(nn, i, i)]))
            return DT_BUSWIRE_BAD_VARIANCE;
    if (!psd_packed(nn, (unsigned char *)P))
        return DT_BUSWIRE_NOT_PSD;
    /* accepted: the full matrix, from the message again */
    size_t k = 0;
    for (size_t i = 0; i < nn; i++)
        for (size_t j = i; j < nn; j++) {
            double v = dt__getd(pc + 8 * k++);
            P[i * nn + j] = v;
            P[j * nn + i] = v;
        }
    dt_time td, ts;
    if ((e = dt_buswire_belief_times(buf, len, &td, &ts)) != DT_BUSWIRE_OK)
        return e;
    if (h != NULL)
        *h = hh;
    if (t_valid != NULL)
        *t_valid = t;
    if (n != NULL)
        *n = nn;
    return DT_BUSWIRE_OK;
}

dt_buswire_error dt_buswire_belief_times(const uint8_t *buf, size_t len, dt_time *t_data,
                                         dt_time *t_sent)
{
    dt_buswire_header hh;
    dt_buswire_error e = belief_header(buf, len, &hh);
    if (e != DT_BUSWIRE_OK)
        return e;
    if (t_data == NULL || t_sent == NULL)
        return DT_BUSWIRE_BAD_ARG;
    const uint8_t *p = buf + DT_BUSWIRE_HEADER;
    dt_time tv = (dt_time)dt__get64(p), td = tv, ts = tv;
    if (dt__get32(p + 12) & DT_BUSWIRE_BELIEF_TIMES) { /* the header checked the length */
        const uint8_t *q = buf + len - DT_BUSWIRE_BELIEF_TIMES_BYTES;
        td = (dt_time)dt__get64(q);
        ts = (dt_time)dt__get64(q + 8);
    }
    if (!dt_time_valid(tv) || !dt_time_valid(td) || !dt_time_valid(ts) || td > tv || tv > ts)
        return DT_BUSWIRE_BAD_TIME;
    *t_data = td;
    *t_sent = ts;
    return DT_BUSWIRE_OK;
}
