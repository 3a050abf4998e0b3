/* The estimator's bounds and their latency budgets, the checks the twin runs
 * against them, and the counters. */
#include <math.h>
#include <string.h>

#include "est_internal.h"

int dt_est_add_bound(dt_est *e, const char *name, const dt_bound *b)
{
    if (e == NULL || name == NULL || b == NULL || b->w == NULL || !(b->limit > 0) ||
        !isfinite(b->limit))
        return DT_EINVAL;
    if (e->started)
        return DT_ESTATE;
    if (e->n_bounds == MAX_BOUNDS)
        return DT_ELIMIT;
    bound_rec *r = &e->bounds[e->n_bounds];
    r->w = dt__calloc(&e->alloc, e->n, sizeof *r->w);
    if (r->w == NULL)
        return DT_ENOMEM;
    memcpy(r->w, b->w, e->n * sizeof *r->w);
    dt__fmt(r->name, sizeof r->name, "%s", name);
    r->quadratic = b->quadratic;
    r->limit = b->limit;
    r->tau = NAN;
    e->n_bounds++;
    e->rows_gen++;
    return DT_OK;
}

size_t dt_est_bound_count(const dt_est *e) { return e ? e->n_bounds : 0; }

int dt_est_latency_budget(const dt_est *e, size_t i, double *tau, const char **name)
{
    if (e == NULL || i >= e->n_bounds)
        return DT_ENOTFOUND;
    if (tau)
        *tau = e->bounds[i].tau;
    if (name)
        *name = e->bounds[i].name;
    return DT_OK;
}


/* What the bound limits, for messages. */
static const char *bound_quantity(const dt_est *e, const bound_rec *r)
{
    if (r->quadratic)
        return "the variance of c'x";
    size_t nz = 0;
    for (size_t i = 0; i < e->n; i++)
        nz += r->w[i] != 0;
    return nz == 1 ? "variance" : "the weighted variance sum";
}

int dt_est_budgets(dt_est *e, dt_diag *diag)
{
    if (diag != NULL)
        memset(diag, 0, sizeof *diag);
    if (e == NULL)
        return DT_EINVAL;
    if (e->n_bounds == 0)
        return DT_OK;
    const double *A = dt_kf_model_A(e->kf), *Q = dt_kf_model_Q(e->kf);
    if (A == NULL || Q == NULL)
        return dt__diag(diag, DT_EINVAL, "estimator.bounds",
                        "latency budgets need the continuous model (A, Q)");
    /* Every measurement row at its declared period, with its signal's noise:
     * callback rows linearized at the current state. */
    size_t m = 0;
    for (size_t s = 0; s < e->n_sig; s++) {
        meas *r = &e->meas[s];
        if (r->kind == 0)
            continue;
        const dt_signal_info *si = dt_model_signal(e->model, (dt_signal_id)s);
        if (si->period <= 0)
            return dt__diag(diag, DT_EINVAL, "estimator.bounds",
                            "measured signal \"%s\" has no period: the latency budget needs "
                            "the rate of every measured signal", si->id);
        if (m == DT_PERIODIC_MAX_ROWS)
            return dt__diag(diag, DT_ELIMIT, "estimator.bounds",
                            "more than %d measured signals", DT_PERIODIC_MAX_ROWS);
        if (r->kind == 2) {
            double hx;
            int rc = r->fn(r->user, dt_kf_state(e->kf), &hx, r->h);
            int ok = rc == DT_OK && isfinite(hx);
            for (size_t i = 0; ok && i < e->n; i++)
                ok = isfinite(r->h[i]);
            if (!ok)
                return dt__diag(diag, DT_ENUMERIC, "estimator.bounds",
                                "the measurement function of \"%s\" fails at x0", si->id);
        }
        e->rows[m].h = r->h;
        e->rows[m].r = si->noise_var;
        e->rows[m].period_s = dt_time_to_sec(si->period);
        m++;
    }
    for (size_t i = 0; i < e->n_bounds; i++) {
        bound_rec *r = &e->bounds[i];
        dt_bound b = {r->w, r->quadratic, r->limit};
        dt_periodic_result pr;
        int rc = dt_periodic_budget(e->n, A, Q, dt_kf_cov(e->kf), e->rows, m, &b, &pr, e->work);
        if (rc == DT_EEMPTY)
            return dt__diag(diag, DT_ERANGE, "estimator.bounds",
                            "bound \"%s\": no measured signal, the filter never sees data",
                            r->name);
        if (rc == DT_ERANGE)
            return dt__diag(diag, DT_ERANGE, "estimator.bounds",
                            "bound \"%s\" needs %s <= %g; at the sensors' rates the filter "
                            "does not settle: it grows without limit",
                            r->name, bound_quantity(e, r), r->limit);
        if (rc != DT_OK)
            return dt__diag(diag, rc, "estimator.bounds", "bound \"%s\": %s", r->name,
                            dt_strerror(rc));
        if (pr.peak > r->limit)
            return dt__diag(diag, DT_ERANGE, "estimator.bounds",
                            "bound \"%s\" needs %s <= %g; at the sensors' rates the filter "
                            "reaches %g", r->name, bound_quantity(e, r), r->limit, pr.peak);
        if (pr.between)
            return dt__diag(diag, DT_ERANGE, "estimator.bounds",
                            "bound \"%s\" needs %s <= %g; at the sensors' rates it breaks "
                            "%g s after a sample, before the next one arrives",
                            r->name, bound_quantity(e, r), r->limit, pr.tau);
        if (pr.tau < pr.gap)
            return dt__diag(diag, DT_ERANGE, "estimator.bounds",
                            "bound \"%s\": its latency budget %g s%s is shorter than the "
                            "sensors' longest gap (%g s): the twin would fall into the safe "
                            "state between samples that arrive on time",
                            r->name, pr.tau,
                            pr.limited ? " (verified so far: the search reached its work "
                                         "limit)"
                                       : "",
                            pr.gap);
        if (pr.limited)
            dt__log(&e->log, DT_LOG_WARN, "estimator",
                    "latency budget \"%s\": %g s is a lower bound: the search reached its "
                    "work limit before a crossing or a proof of none (an oscillation too fast "
                    "to follow that far)", r->name, pr.tau);
        r->tau = pr.tau;
        double reach = pr.reach;
        r->reach = reach;
    }
    e->budgets_gen = e->rows_gen + 1; /* + 1: never equal before a computation */
    return DT_OK;
}


void dt_est_stats_get(const dt_est *e, dt_est_stats *out) { *out = e->st; }

int dt_est_signal_stats_get(const dt_est *e, dt_signal_id sig, dt_est_signal_stats *out)
{
    if (e == NULL || out == NULL || sig >= e->n_sig || e->meas[sig].kind == 0)
        return DT_ENOTFOUND; /* as documented: only signals with a measurement model */
    *out = e->meas[sig].st;
    return DT_OK;
}

int dt_est_nees(dt_est *e, const double *x_true, double *nees)
{
    if (e == NULL || x_true == NULL)
        return DT_EINVAL;
    size_t n = e->n;
    const double *x = dt_kf_state(e->kf);
    if (dt_chol(n, dt_kf_cov(e->kf), e->Pb) != DT_OK)
        return DT_ENUMERIC;
    for (size_t i = 0; i < n; i++)
        e->xb[i] = x[i] - x_true[i];
    double *w = e->work;
    dt_chol_solve(n, 1, e->Pb, e->xb, w);
    double v = 0;
    for (size_t i = 0; i < n; i++)
        v += e->xb[i] * w[i];
    e->nees_sum += v;
    e->st.nees_count++;
    e->st.nees_mean = e->nees_sum / (double)e->st.nees_count;
    if (nees)
        *nees = v;
    return DT_OK;
}

size_t dt_est_bounds_violated_at(dt_est *e, dt_time t)
{
    if (e == NULL || e->n_bounds == 0)
        return 0;
    if (!dt_time_valid(t))
        return e->n_bounds; /* cannot tell: every bound counts as broken */
    const double *P = dt_kf_cov(e->kf);
    if (t > e->t) {
        /* the belief at t, not at the last event: between samples (a sensor
         * slower than declared) the covariance keeps growing */
        if (dt_kf_peek(e->kf, dt_time_to_sec(t - e->t), e->xb, e->Pb) != DT_OK)
            return e->n_bounds; /* cannot tell: every bound counts as broken */
        P = e->Pb;
    }
    size_t v = 0;
    for (size_t i = 0; i < e->n_bounds; i++) {
        dt_bound b = {e->bounds[i].w, e->bounds[i].quadratic, e->bounds[i].limit};
        double m = dt_bound_metric(e->n, &b, P);
        if (!(m <= b.limit))
            v++;
    }
    return v;
}

size_t dt_est_bounds_violated(const dt_est *e)
{
    size_t v = 0;
    for (size_t i = 0; e != NULL && i < e->n_bounds; i++) {
        dt_bound b = {e->bounds[i].w, e->bounds[i].quadratic, e->bounds[i].limit};
        if (dt_bound_metric(e->n, &b, dt_kf_cov(e->kf)) > b.limit)
            v++;
    }
    return v;
}

dt_time dt_est_data_time(const dt_est *e) { return e ? e->t_data : DT_TIME_MIN; }


/* A signal's gated run still speaks: a sensor that disputes and falls silent
 * does not hold the twin for ever: its claim lapses when recover_after of its
 * periods pass without a sample (it could have confirmed it by then). */
static int gated_now(const dt_est *e, size_t j)
{
    const meas *m = &e->meas[j];
    if (m->kind == 0 || m->st.isolated || m->run == 0)
        return 0;
    double period = dt_time_to_sec(dt_model_signal(e->model, (dt_signal_id)j)->period);
    double since = dt_time_to_sec(e->t) - dt_time_to_sec(m->t_gated);
    return !(period > 0) || since <= (double)e->recover_after * period;
}

size_t dt_est_disputed(const dt_est *e)
{
    size_t v = 0;
    for (size_t j = 0; e != NULL && j < e->n_sig; j++) {
        if (!gated_now(e, j))
            continue;
        const meas *m = &e->meas[j];
        if (m->run >= DT_EST_DISPUTE_RUN) {
            v++;
            continue;
        }
        /* One gated sample is an outlier until the next one confirms it,
         * unless other signals were gated at the same instant: independent
         * noises put two given signals outside the gate together as rarely as
         * one signal twice in a row. A load step seen by every PMU channel of
         * one sample disputes the belief from that sample on, a sampling
         * period earlier. Such a claim is about the belief at that instant:
         * once the filter has applied a newer sample (a delayed reading gated
         * against a belief that has since moved on), only runs count. */
        if (e->t_data > m->t_gated)
            continue;
        size_t together = 1;
        for (size_t k = 0; k < e->n_sig && together < DT_EST_DISPUTE_RUN; k++)
            together += k != j && e->meas[k].t_gated == m->t_gated && gated_now(e, k);
        v += together >= DT_EST_DISPUTE_RUN;
    }
    return v;
}

int dt_est_first_window(const dt_est *e, dt_signal_id sig, double *lo, double *hi)
{
    if (e == NULL || lo == NULL || hi == NULL)
        return DT_EINVAL;
    if (sig >= e->n_sig || e->meas[sig].kind != 1)
        return DT_ENOTFOUND;
    const meas *m = &e->meas[sig];
    /* the initial belief: the filter's own until start keeps a copy */
    const double *x0 = e->started ? e->x0 : dt_kf_state(e->kf);
    const double *P0 = e->started ? e->P0 : dt_kf_cov(e->kf);
    double mean = m->offset, s = dt_model_signal(e->model, sig)->noise_var;
    for (size_t i = 0; i < e->n; i++) {
        mean += m->h[i] * x0[i];
        for (size_t j = 0; j < e->n; j++)
            s += m->h[i] * P0[i * e->n + j] * m->h[j];
    }
    /* the gate admits y^2 <= gate * s; an infinite gate (off) admits anything */
    double half = sqrt(e->gate * s);
    if (!isfinite(mean) || isnan(half))
        return DT_ERANGE;
    *lo = mean - half;
    *hi = mean + half;
    return DT_OK;
}
