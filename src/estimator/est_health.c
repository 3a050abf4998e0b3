/* What the estimator does when the data and the belief disagree for long:
 * the gate's recovery, the isolation of a faulty sensor among redundant ones,
 * and a belief lost to a prediction that failed.
 *
 * A chi-square gate rejects outliers, but after a real change of the process
 * (a step, an unmodelled drift) every sample is an "outlier" and a gate alone
 * never reopens: the filter keeps a confident, wrong belief. So after
 * recover_after consecutive gated innovations of one signal the estimator
 * decides, in time order:
 *  - when redundant signals (linear rows parallel to this one) agree with the
 *    belief meanwhile and contradict this one, and they outnumber those that
 *    disagree with it (this one included; in a pair, the one partner), this
 *    signal is the inconsistent one: it is isolated (its samples are refused,
 *    counted), and re-admitted after recover_after consecutive samples inside
 *    the gate;
 *  - otherwise the model, not the sensor, is wrong: the covariance is inflated
 *    along the direction this row informs until the innovation is a 1-sigma
 *    one, and the sample is applied (a reset from the measurement, as PX4's
 *    EKF2 resets a state after a fusion timeout).
 * Each decision is recorded in the event, so a replay after a late sample
 * repeats it. */
#include <math.h>
#include <string.h>

#include "est_internal.h"

#define INFLATE_MAX 1e150

/* The row of sig at the current state: h (n) and the predicted measurement. */
static int row(dt_est *e, uint32_t sig, double *h, double *hx)
{
    const meas *m = &e->meas[sig];
    const double *x = dt_kf_state(e->kf);
    if (m->kind == 1) {
        double v = m->offset;
        for (size_t i = 0; i < e->n; i++)
            v += m->h[i] * x[i];
        memcpy(h, m->h, e->n * sizeof *h);
        *hx = v;
        return DT_OK;
    }
    int rc = m->fn(m->user, x, hx, h);
    if (rc != DT_OK)
        return rc;
    int ok = isfinite(*hx);
    for (size_t i = 0; ok && i < e->n; i++)
        ok = isfinite(h[i]);
    return ok ? DT_OK : DT_ENUMERIC;
}

int dt__est_innovation(dt_est *e, uint32_t sig, double z, double r, double *y, double *s)
{
    size_t n = e->n;
    double *h = e->xb, hx;
    int rc = row(e, sig, h, &hx);
    if (rc != DT_OK)
        return rc;
    const double *P = dt_kf_cov(e->kf);
    double v = r;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            v += h[i] * P[i * n + j] * h[j];
    *y = z - hx;
    *s = v;
    return isfinite(*y) && v > 0 && isfinite(v) ? DT_OK : DT_ENUMERIC;
}

const double *dt__est_saved_P(const dt_est *e) { return e->work + 2 * e->n + e->n * e->n; }

int dt__est_inflate(dt_est *e, uint32_t sig, double y, double s)
{
    size_t n = e->n;
    double *h = e->xb, hx;
    int rc = row(e, sig, h, &hx);
    if (rc != DT_OK)
        return rc;
    double beta = y * y - s;
    /* beyond 1e150 (the largest variance a description may give) the
     * products of covariances in the update overflow or lose every digit */
    if (!(beta <= INFLATE_MAX))
        return DT_ERANGE; /* an innovation beyond any usable variance */
    /* P += beta v v' with h'v = 1: along P h, the direction the row informs
     * (correlated states move with it, independent ones are untouched); along
     * h itself when the row sees no uncertainty at all. */
    const double *P = dt_kf_cov(e->kf);
    double *x = e->work, *v = x + n, *Pn = v + n, *old = Pn + n * n;
    memcpy(old, P, n * n * sizeof *old);
    if (!(beta > 0))
        return DT_OK; /* already a 1-sigma innovation or less */
    double hph = 0, hh = 0;
    for (size_t i = 0; i < n; i++) {
        double a = 0;
        for (size_t j = 0; j < n; j++)
            a += P[i * n + j] * h[j];
        v[i] = a;
        hph += h[i] * a;
        hh += h[i] * h[i];
    }
    int along_ph = hph > 1e-300;
    for (size_t i = 0; i < n; i++)
        v[i] = along_ph ? v[i] / hph : h[i] / hh;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            Pn[i * n + j] = P[i * n + j] + beta * v[i] * v[j];
            if (!isfinite(Pn[i * n + j]))
                return DT_ERANGE;
        }
    memcpy(x, dt_kf_state(e->kf), n * sizeof *x);
    return dt_kf_set_state(e->kf, x, Pn);
}

/* Linear rows that measure the same combination of states; *scale: b = scale
 * a / |a| (so a sample of b reads scale times the quantity a's unit row sees). */
static int parallel(size_t n, const double *a, const double *b, double *scale)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        ab += a[i] * b[i];
        aa += a[i] * a[i];
        bb += b[i] * b[i];
    }
    if (!(aa > 0 && bb > 0 && ab * ab >= (1 - 1e-12) * aa * bb))
        return 0;
    *scale = ab / sqrt(aa);
    return 1;
}

static const char *name(const dt_est *e, uint32_t sig)
{
    return dt_model_signal(e->model, sig)->id;
}

int dt__est_after_gated(dt_est *e, event *ev, double y, double s)
{
    meas *m = &e->meas[ev->sig];
    if (m->run++ == 0)
        m->run_t0 = ev->t;
    m->t_gated = ev->t;
    if (m->run < e->recover_after)
        return GATE_KEEP;
    /* Redundant signals (parallel rows, not isolated) that spoke during this
     * run, up to this sample's time (a late sample is judged on what was known
     * at its time): one agrees when its last sample was accepted by the belief
     * and contradicts this one beyond both noises (a sensor too noisy to tell
     * the two apart is no witness); one disagrees when it is in a gated run
     * too. Isolation needs more agreeing than disagreeing (this one counted),
     * or, in a pair (members that ever spoke), the one partner: the data
     * cannot tell more. */
    size_t agree = 0, disagree = 1, members = 1;
    double self_scale = 0;
    int linear = m->kind == 1 && parallel(e->n, m->h, m->h, &self_scale);
    double v_self = linear ? (ev->z - m->offset) / self_scale : 0;
    double var_self = linear ? ev->r / (self_scale * self_scale) : 0;
    for (size_t j = 0; linear && j < e->n_sig; j++) {
        const meas *o = &e->meas[j];
        double sc;
        if (j == ev->sig || o->kind != 1 || o->st.isolated || !parallel(e->n, m->h, o->h, &sc))
            continue;
        members += o->t_ok != DT_TIME_MIN || o->run > 0; /* one that never spoke is no member */
        if (o->run > 0 && o->t_gated >= m->run_t0 && o->t_gated <= ev->t) {
            disagree++;
            continue;
        }
        if (o->run != 0 || o->t_ok == DT_TIME_MIN || o->t_ok < m->run_t0 || o->t_ok > ev->t)
            continue;
        double d = (o->z_ok - o->offset) / sc - v_self;
        double var = o->r_ok / (sc * sc) + var_self;
        if (d * d > e->gate * var)
            agree++;
    }
    if (agree > 0 && (agree > disagree || members == 2)) {
        m->run = 0;
        m->st.isolated = 1;
        m->st.isolations++;
        e->st.isolations++;
        dt__log(&e->log, DT_LOG_WARN, "estimator",
                "signal \"%s\" isolated: %u consecutive samples outside the gate while %zu "
                "redundant signal(s) agree with the model and contradict it",
                name(e, ev->sig), (unsigned)e->recover_after, agree);
        return GATE_ISOLATED;
    }
    /* the model, not the sensor: recover (the caller applies the sample);
     * when that is impossible the run goes on and the dispute holds */
    return dt__est_inflate(e, ev->sig, y, s) == DT_OK ? GATE_RECOVER : GATE_KEEP;
}

void dt__est_recovered(dt_est *e, event *ev, double y, double s)
{
    meas *m = &e->meas[ev->sig];
    ev->flags |= EVF_RECOVER;
    m->run = 0;
    m->st.recoveries++;
    e->st.recoveries++;
    dt__log(&e->log, DT_LOG_WARN, "estimator",
            "gate recovery on \"%s\": %u consecutive samples outside the gate (innovation %g, "
            "%.1f sigma); covariance inflated to accept it",
            name(e, ev->sig), (unsigned)e->recover_after, y, fabs(y) / sqrt(s));
}

void dt__est_excluded(dt_est *e, const event *ev)
{
    meas *m = &e->meas[ev->sig];
    m->st.excluded++;
    e->st.excluded++;
    double y, s;
    int ok = dt__est_innovation(e, ev->sig, ev->z, ev->r, &y, &s) == DT_OK &&
             !(y * y > e->gate * s);
    m->run = ok ? m->run + 1 : 0;
    if (m->run < e->recover_after)
        return;
    m->run = 0;
    m->st.isolated = 0;
    m->st.readmissions++;
    dt__log(&e->log, DT_LOG_INFO, "estimator",
            "signal \"%s\" re-admitted: %u consecutive samples inside the gate",
            name(e, ev->sig), (unsigned)e->recover_after);
}

void dt__est_lose(dt_est *e, dt_time t, int why)
{
    dt_kf_set_state(e->kf, e->x0, e->P0);
    if (e->p)
        dt_kf_set_input(e->kf, e->u);
    dt__est_rebase(e, t);
    e->t_data = DT_TIME_MIN;
    for (size_t j = 0; j < e->n_sig; j++) {
        e->meas[j].run = 0;
        e->meas[j].t_ok = DT_TIME_MIN;
    }
    e->st.belief_lost++;
    dt__log(&e->log, DT_LOG_ERROR, "estimator",
            "belief lost at t = %.9f s: the prediction failed (%s); re-initialised to the "
            "initial belief, no data behind it until the next sample",
            dt_time_to_sec(t), dt_strerror(why));
}
