/* Chi-square quantiles for innovation gating. */
#define _DEFAULT_SOURCE /* lgamma_r: lgamma writes the global signgam, a data race
                           when twins load on several threads at once */
#include <float.h>
#include <math.h>

#include "dtwin/error.h"
#include "dtwin/estimator.h"

/* Regularized incomplete gamma: *P = P(a, x) and *Q = 1 - P(a, x), each
 * computed without cancellation on its own side (series below a + 1, Lentz's
 * continued fraction above; Numerical Recipes 6.2). */
static void gamma_pq(double a, double x, double *P, double *Q)
{
    if (x <= 0) {
        *P = 0;
        *Q = 1;
        return;
    }
    int sign;
    double lg = lgamma_r(a, &sign);
    if (x < a + 1) {
        double ap = a, sum = 1.0 / a, del = sum;
        for (int i = 0; i < 1000; i++) {
            ap += 1;
            del *= x / ap;
            sum += del;
            if (fabs(del) < fabs(sum) * 1e-17)
                break;
        }
        *P = sum * exp(-x + a * log(x) - lg);
        *Q = 1.0 - *P;
        return;
    }
    double b = x + 1 - a, c = 1.0 / DBL_MIN, d = 1.0 / b, h = d;
    for (int i = 1; i < 1000; i++) {
        double an = -i * (i - a);
        b += 2;
        d = an * d + b;
        if (fabs(d) < DBL_MIN)
            d = DBL_MIN;
        c = b + an / c;
        if (fabs(c) < DBL_MIN)
            c = DBL_MIN;
        d = 1.0 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < 1e-17)
            break;
    }
    *Q = exp(-x + a * log(x) - lg) * h;
    *P = 1.0 - *Q;
}

double dt_chi2_cdf(double x, unsigned k)
{
    if (k == 0 || !(x > 0))
        return 0;
    double P, Q;
    gamma_pq(0.5 * k, 0.5 * x, &P, &Q);
    return P;
}

/* F(x) - p, evaluated on the side where it has no cancellation: for p above
 * 1/2 as (1 - p) - Q(x), and 1 - p is exact for such p. */
static double excess(double x, unsigned k, double p)
{
    double P, Q;
    gamma_pq(0.5 * k, 0.5 * x, &P, &Q);
    return p > 0.5 ? (1.0 - p) - Q : P - p;
}

int dt_chi2_quantile(double p, unsigned k, double *out)
{
    if (out == NULL || k == 0 || k > 1000 || !(p > 0 && p < 1))
        return DT_EINVAL;
    /* Bracket, then Newton steps kept inside the bracket (bisection when a
     * step would leave it). The CDF is monotone, so this always converges. */
    double lo = 0, hi = k;
    while (excess(hi, k, p) < 0) {
        lo = hi;
        hi *= 2;
        if (hi > 1e7)
            return DT_ERANGE;
    }
    int sign;
    double a = 0.5 * k, lnorm = -a * log(2.0) - lgamma_r(a, &sign);
    double x = 0.5 * (lo + hi);
    for (int it = 0; it < 200; it++) {
        double f = excess(x, k, p);
        if (f > 0)
            hi = x;
        else
            lo = x;
        double pdf = exp(lnorm + (a - 1) * log(x) - 0.5 * x);
        double nx = pdf > 0 ? x - f / pdf : 0.5 * (lo + hi);
        if (!(nx > lo && nx < hi))
            nx = 0.5 * (lo + hi);
        if (fabs(nx - x) <= 1e-15 * x || hi - lo <= 1e-15 * hi) {
            x = nx;
            break;
        }
        x = nx;
    }
    *out = x;
    return DT_OK;
}
