/* libFuzzer: the estimator driven directly, as a host (or an attacker behind
 * one) could: samples of three redundant sensors and a fourth row with any
 * time (late, far future, INT64 extremes), any value bits (NaN, inf, 1e300)
 * and any variance, predictions, parameter writes from the host and from an
 * analytics hook, on a stable, an unstable or an oscillating model, with
 * any history and recover_after. It reaches the arithmetic: predictions over
 * long gaps, replays, the gate's recovery (covariance inflation) and fault
 * isolation; and remote beliefs of 1..3 states (any mean, a covariance
 * either raw or L L' from the bytes, any model A and Q, any time, any
 * mapping onto the sensors, any mode) fused into the estimate: the ageing,
 * the gate and covariance intersection. Whatever the bytes: no crash, no undefined behaviour, x and P
 * finite with a non-negative diagonal, the estimator's time never goes back,
 * every sample accounted for once, per-signal counters summing to the totals,
 * and nothing leaks. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "dtwin/dtwin.h"
#include "fuzz_util.h"

#define SENSOR(id)                                                                              \
    "{\"id\":\"" id "\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\","                \
    "\"role\":\"measured\",\"noise\":{\"std\":0.01},\"period\":0.1}"
static const char head[] =
    "{\"dtwin\":1,\"name\":\"fe\",\"assets\":[{\"id\":\"p\"}],\"signals\":["
    "{\"id\":\"x\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\",\"role\":\"estimated\"},"
    "{\"id\":\"v\",\"asset\":\"p\",\"quantity\":\"velocity\",\"unit\":\"m/s\",\"role\":\"estimated\"},"
    SENSOR("a") "," SENSOR("b") "," SENSOR("c") "," SENSOR("d") ","
    "{\"id\":\"k\",\"asset\":\"p\",\"quantity\":\"velocity\",\"unit\":\"m/s\",\"role\":\"parameter\"}],"
    "\"estimator\":{\"states\":[\"x\",\"v\"],\"Q\":[1e-4,1e-2],\"P0\":[1,1],\"parameters\":{\"k\":0},"
    "\"measurements\":[{\"signal\":\"a\",\"H\":{\"x\":1}},{\"signal\":\"b\",\"H\":{\"x\":2}},"
    "{\"signal\":\"c\",\"H\":{\"x\":-1},\"offset\":3},{\"signal\":\"d\",\"H\":{\"x\":1,\"v\":1}}],";
static const char *const models[] = {
    "\"A\":[[0,1],[0,0]]}}",          /* double integrator */
    "\"A\":[[0.05,0],[0,-1]]}}",      /* unstable: long gaps overflow */
    "\"A\":[[0,1],[-60.8,-0.02]]}}",  /* lightly damped oscillator */
};
enum { S_X, S_V, S_A, S_B, S_C, S_D, S_K };

static int hook(void *self, dt_est *est, const dt_sample *s)
{
    (void)self;
    /* a "detector" writing a parameter from inside updates, late ones too */
    if (s != NULL && s->signal == S_D)
        return dt_est_set_param(est, S_K, s->value > 0 ? 1.0 : 0.0);
    return 0;
}
static const dt_analytics_ops hook_ops = {1u, "fuzz", hook};

static uint64_t rd(const uint8_t **p, const uint8_t *end, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n && *p < end; i++)
        v |= (uint64_t)*(*p)++ << (8 * i);
    return v;
}

static double f64(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* A remote belief from the bytes, fused at tb (or any time). */
static int fuse_from(dt_est *e, const uint8_t **p, const uint8_t *end, dt_time tb, unsigned op)
{
    unsigned shape = (unsigned)rd(p, end, 1), raw = (unsigned)rd(p, end, 1);
    size_t n = 1 + shape % 3, m = 1 + (shape >> 2) % 2;
    double x[3], P[9], A[9], Q[9], L[9], scale[2], offset[2];
    uint32_t index[2], signal[2];
    for (size_t i = 0; i < n; i++)
        x[i] = (raw & 1) ? f64(rd(p, end, 8)) : (double)(int8_t)rd(p, end, 1) * 0.1;
    for (size_t i = 0; i < n * n; i++) {
        /* small entries mostly, raw bits when asked: the checks and the numbers */
        L[i] = (raw & 2) ? f64(rd(p, end, 8)) : (double)(int8_t)rd(p, end, 1) * 0.05;
        A[i] = (raw & 4) ? f64(rd(p, end, 8)) : (double)(int8_t)rd(p, end, 1) * 0.1;
        Q[i] = 0;
    }
    for (size_t i = 0; i < n; i++) {
        Q[i * n + i] = (double)(uint8_t)rd(p, end, 1) * 1e-3;
        for (size_t j = 0; j < n; j++) {
            double s = 0;
            for (size_t k = 0; k < n; k++)
                s += L[i * n + k] * L[j * n + k];
            P[i * n + j] = (raw & 8) ? L[i * n + j] : s; /* raw, or L L' */
        }
    }
    for (size_t j = 0; j < m; j++) {
        unsigned b = (unsigned)rd(p, end, 1);
        index[j] = b % 4; /* 3 is past a group of 3 */
        signal[j] = S_A + (b >> 2) % 5; /* S_K has no measurement model */
        scale[j] = (b & 0x80) ? f64(rd(p, end, 8)) : 1.0 + (double)((b >> 5) & 3);
        offset[j] = (double)(int8_t)rd(p, end, 1);
    }
    dt_remote_belief bel = {n, x, P, A, Q, (op & 0x80) ? (dt_time)rd(p, end, 8) : tb,
                            m, index, signal, scale, offset, (dt_fuse_mode)(raw >> 4 & 3), 0, 0};
    double w = -1;
    int rc = dt_est_fuse(e, &bel, &w);
    FUZZ_CHECK(rc != DT_OK || (w >= 0 && w <= 1));
    return rc;
}

static void check(dt_est *e, dt_time t_before)
{
    const double *x = dt_kf_state(dt_est_kf(e)), *P = dt_kf_cov(dt_est_kf(e));
    for (size_t i = 0; i < 2; i++) {
        FUZZ_CHECK(isfinite(x[i]));
        FUZZ_CHECK(P[i * 2 + i] >= 0);
    }
    for (size_t i = 0; i < 4; i++)
        FUZZ_CHECK(isfinite(P[i]));
    FUZZ_CHECK(dt_est_time(e) >= t_before);
    dt_est_stats st;
    dt_est_stats_get(e, &st);
    uint64_t upd = 0, gated = 0, excl = 0, num = 0;
    for (dt_signal_id s = S_A; s <= S_D; s++) {
        dt_est_signal_stats ss;
        FUZZ_CHECK(dt_est_signal_stats_get(e, s, &ss) == DT_OK);
        upd += ss.updates;
        gated += ss.gated;
        excl += ss.excluded;
        num += ss.numeric_failures;
    }
    FUZZ_CHECK(upd == st.updates && gated == st.gated && excl == st.excluded);
    FUZZ_CHECK(num == st.numeric_failures);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3 || size > FUZZ_MAX_INPUT)
        return 0;
    const uint8_t *p = data, *end = data + size;
    char doc[2048];
    unsigned cfgb = (unsigned)rd(&p, end, 2);
    snprintf(doc, sizeof doc, "%s%s", head, models[(cfgb & 0xff) % 3]);
    dt_model_options mo = DT_MODEL_OPTIONS_INIT;
    mo.logger = dt_logger_silent();
    dt_model *m = NULL;
    FUZZ_CHECK(dt_model_load_json(doc, strlen(doc), &mo, &m, NULL) == DT_OK);
    dt_est_config c = DT_EST_CONFIG_INIT;
    c.logger = dt_logger_silent();
    c.history = 1 + (cfgb >> 8) % 8;
    c.recover_after = DT_EST_RECOVER_AFTER_MIN + (cfgb >> 11) % 6;
    dt_est *e = NULL;
    FUZZ_CHECK(dt_est_create_json(m, &c, &e, NULL) == DT_OK);
    FUZZ_CHECK(dt_est_add_analytics(e, &hook_ops, NULL) == DT_OK);
    FUZZ_CHECK(dt_est_start(e, 0) == DT_OK);
    FUZZ_CHECK(dt_est_fuse_reserve(e) == DT_OK);
    dt_time t = 0;
    uint64_t fuse_calls = 0, calls = 0, ok = 0, stale = 0, bad_time = 0, lost = 0, numeric = 0;
    while (p < end) {
        unsigned op = (unsigned)rd(&p, end, 1);
        dt_time before = dt_est_time(e);
        int64_t dt_ms = (int16_t)rd(&p, end, 2);
        switch (op % 8) {
        case 0: case 1: case 2: case 3: { /* a sample of a, b, c or d */
            dt_time ts = t + dt_ms * 1000000;
            if (op & 0x80)
                ts = (dt_time)rd(&p, end, 8); /* any time at all */
            else
                t = ts > t ? ts : t;
            dt_sample s = {(dt_signal_id)(S_A + op % 4), DT_SAMPLE_MAPPED, ts, ts, 0, 0};
            s.value = (op & 0x40) ? f64(rd(&p, end, 8)) : (double)dt_ms * 1e-3;
            if (op & 0x20) {
                s.flags |= DT_SAMPLE_HAS_VARIANCE;
                s.variance = f64(rd(&p, end, 8));
            }
            int rc = dt_est_process(e, &s);
            calls++;
            ok += rc == DT_OK;
            stale += rc == DT_ESTALE;
            bad_time += rc == DT_ERANGE && !dt_time_valid(ts);
            lost += rc == DT_ERANGE && dt_time_valid(ts);
            numeric += rc == DT_ENUMERIC || rc == DT_EINVAL;
            FUZZ_CHECK(rc == DT_OK || rc == DT_ESTALE || rc == DT_ERANGE || rc == DT_ENUMERIC ||
                       rc == DT_EINVAL);
            break;
        }
        case 4: /* a prediction, up to days ahead */
            t += (int64_t)(uint16_t)dt_ms * 1000000 * ((op & 0x80) ? 100000 : 1);
            (void)dt_est_advance(e, t);
            break;
        case 5:
            (void)dt_est_set_param(e, S_K, f64(rd(&p, end, 8)));
            break;
        case 6: { /* the belief at a query time, any time */
            dt_belief b;
            int rc = dt_est_belief(e, (op & 0x80) ? S_V : S_X, (dt_time)rd(&p, end, 8), &b);
            FUZZ_CHECK(rc != DT_OK || (isfinite(b.value) && b.variance >= 0));
            (void)dt_est_bounds_violated_at(e, (dt_time)rd(&p, end, 8));
            (void)dt_est_disputed(e);
            break;
        }
        default:
            if (op & 0x40) { /* a remote belief */
                fuse_calls++;
                int rc = fuse_from(e, &p, end, t + dt_ms * 1000000, op);
                FUZZ_CHECK(rc == DT_OK || rc == DT_ERANGE || rc == DT_ENUMERIC ||
                           rc == DT_EINVAL || rc == DT_ENOTFOUND);
                break;
            }
            t += (int64_t)1 << 31; /* a 2^31 ns jump */
            break;
        }
        check(e, before);
    }
    /* every sample accounted for once: applied, gated or excluded all return
     * 0; the refusals carry their own status and counter */
    dt_est_stats st;
    dt_est_stats_get(e, &st);
    FUZZ_CHECK(st.beliefs_fused + st.beliefs_kept + st.beliefs_gated + st.beliefs_refused ==
               fuse_calls);
    FUZZ_CHECK(st.too_old == stale);
    FUZZ_CHECK(st.bad_time == bad_time);
    FUZZ_CHECK(st.belief_lost >= lost);
    FUZZ_CHECK(ok + stale + bad_time + lost + numeric == calls);
    dt_est_destroy(e);
    dt_model_destroy(m);
    return 0;
}
