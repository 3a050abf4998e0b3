/* The cloud twin's prognosis. From the belief [margin m, rate r] with its
 * covariance P, at the cycle's time:
 *
 * - the remaining useful life RUL = (m - limit) / (-r) and its std by the
 *   delta method (first order in P), for the record and the plot: it holds
 *   only while the rate is clearly negative;
 * - the advisory, which must hold always: the first time at which the lower
 *   95 % bound of the projected margin, m + r tau - 1.645 sqrt(P_mm +
 *   2 P_mr tau + P_rr tau^2), reaches the limit (the first passage of the
 *   lower confidence bound). That bound is concave in tau, so the passage is
 *   unique and found by bracketing and bisection; it is finite whenever the
 *   rate is uncertain, and 0 when the margin's bound is already at the limit.
 *   It is sent once a second, in flight hours.
 *
 * The belief is the twin's at the cycle's time: while the link is down it is
 * aged with the model (its covariance grows), so the bound tightens by itself:
 * advice computed on old data is more conservative, never falsely confident. */
#include "prognosis.h"

#include <math.h>
#include <string.h>

#include "airframe.h"

#define ADVISE_EVERY 1.0   /* s of twin time */
#define RUL_CAP_FH 50000.0 /* the advisory's upper limit (the signal's) */
#define Z95 1.6448536      /* one-sided 95 % */

double ac_rul(double m, double r, double pmm, double prr, double pmr, double *var)
{
    if (!(r < 0)) {
        *var = INFINITY;
        return INFINITY;
    }
    double d = m - AC_MARGIN_LIMIT_K;
    double rul = -d / r;
    double gm = -1.0 / r, gr = d / (r * r); /* d rul / dm, d rul / dr */
    *var = gm * gm * pmm + gr * gr * prr + 2.0 * gm * gr * pmr;
    return rul;
}

/* The lower bound's first passage, s (cap when it stays above the limit). */
static double lower_bound_passage(double m, double r, const double *P, double cap)
{
    double d = m - AC_MARGIN_LIMIT_K;
#define LB(tau) (d + r * (tau) - Z95 * sqrt(fmax(0.0, P[0] + 2.0 * P[1] * (tau) + P[3] * (tau) * (tau))))
    if (!(LB(0.0) > 0))
        return 0.0;
    double lo = 0, hi = 0.01;
    while (LB(hi) > 0) {
        lo = hi;
        hi *= 2;
        if (hi > cap)
            return cap;
    }
    for (int i = 0; i < 60; i++) {
        double mid = 0.5 * (lo + hi);
        if (LB(mid) > 0)
            lo = mid;
        else
            hi = mid;
    }
#undef LB
    return hi;
}

int ac_prognosis_init(ac_prognosis *p, const dt_twin *tw)
{
    memset(p, 0, sizeof *p);
    p->twin = tw;
    p->out = (ac_prognosis_out){NAN, NAN, NAN, NAN, NAN, NAN, NAN};
    return dt_model_find_signal(dt_twin_model(tw), "eng.inspect_within", &p->advisory);
}

int ac_prognosis_run(void *user, dt_ctrl_ctx *ctx)
{
    ac_prognosis *p = user;
    double x[2], P[4];
    int rc = dt_ctrl_belief(ctx, x, P, 2); /* [margin, rate], as the description orders them */
    if (rc != DT_OK)
        return rc;
    double var;
    double rul = ac_rul(x[0], x[1], P[0], P[3], P[1], &var);
    ac_prognosis_out *o = &p->out;
    o->margin = x[0];
    o->margin_std = sqrt(P[0]);
    o->rate = x[1];
    o->rate_std = sqrt(P[3]);
    o->rul_fh = rul * AC_FH_PER_S;
    o->rul_std_fh = sqrt(var) * AC_FH_PER_S;
    o->rul_lb_fh = lower_bound_passage(x[0], x[1], P, RUL_CAP_FH / AC_FH_PER_S) * AC_FH_PER_S;
    double t = dt_time_to_sec(dt_ctrl_now(ctx));
    dt_twin_stats st;
    dt_twin_stats_get(p->twin, &st);
    if (st.beliefs_fused == 0)
        return DT_OK; /* no advice before any data from the aircraft */
    if (p->sent_any && t - p->last_sent < ADVISE_EVERY - 1e-9)
        return DT_OK;
    p->sent_any = 1;
    p->last_sent = t;
    return dt_ctrl_command(ctx, p->advisory, o->rul_lb_fh);
}
