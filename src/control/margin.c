/* Delay margin of a SISO loop L(s) = num/den e^{-s T}. */
#include <math.h>
#include <string.h>

#include "dtwin/control.h"
#include "dtwin/error.h"

#define MAXDEG 32
#define PI 3.14159265358979323846

/* num(jw) / den(jw) as magnitude and phase. */
static void eval(const dt_loop_tf *L, double w, double *mag, double *phase)
{
    double nr = 0, ni = 0, dr = 0, di = 0;
    /* Horner on complex s = jw */
    for (size_t i = 0; i < L->num_len; i++) {
        double r = nr * 0 - ni * w + L->num[i], im = nr * w + ni * 0;
        nr = r;
        ni = im;
    }
    for (size_t i = 0; i < L->den_len; i++) {
        double r = dr * 0 - di * w + L->den[i], im = dr * w + di * 0;
        dr = r;
        di = im;
    }
    *mag = hypot(nr, ni) / hypot(dr, di);
    /* the rational part only: a delay never moves a crossover, it only takes
     * phase, so margins are computed without it and the dead time subtracted */
    *phase = atan2(ni, nr) - atan2(di, dr);
}

/* Strict stability of a real polynomial (highest power first) by Routh. */
static int hurwitz(const double *p, size_t len)
{
    if (len <= 1)
        return 1;
    double row0[MAXDEG + 2], row1[MAXDEG + 2], next[MAXDEG + 2];
    size_t deg = len - 1, w = deg / 2 + 1;
    memset(row0, 0, sizeof row0);
    memset(row1, 0, sizeof row1);
    double sign = p[0] > 0 ? 1 : -1;
    for (size_t i = 0; i < len; i++) {
        if (i % 2 == 0)
            row0[i / 2] = p[i] * sign;
        else
            row1[i / 2] = p[i] * sign;
    }
    for (size_t k = 0; k < deg; k++) {
        if (!(row0[0] > 0))
            return 0;
        if (k + 1 == deg)
            return row1[0] > 0;
        if (!(row1[0] > 0))
            return 0;
        for (size_t i = 0; i + 1 < w; i++)
            next[i] = (row1[0] * row0[i + 1] - row0[0] * row1[i + 1]) / row1[0];
        next[w - 1] = 0;
        memcpy(row0, row1, sizeof row0);
        memcpy(row1, next, w * sizeof *next);
        for (size_t i = w; i < MAXDEG + 2; i++)
            row1[i] = 0;
    }
    return row0[0] > 0;
}

int dt_delay_margin(const dt_loop_tf *L, dt_margin *out)
{
    if (L == NULL || out == NULL || L->num == NULL || L->den == NULL || L->num_len < 1 ||
        L->den_len < 1 || L->den_len > MAXDEG + 1 || L->num_len > L->den_len ||
        !(L->dead_time >= 0) || !isfinite(L->dead_time))
        return DT_EINVAL;
    for (size_t i = 0; i < L->num_len; i++)
        if (!isfinite(L->num[i]))
            return DT_EINVAL;
    for (size_t i = 0; i < L->den_len; i++)
        if (!isfinite(L->den[i]))
            return DT_EINVAL;
    if (L->den[0] == 0)
        return DT_EINVAL;
    /* closed loop (rational part): den + num, aligned at the low end */
    double cl[MAXDEG + 1];
    size_t off = L->den_len - L->num_len;
    for (size_t i = 0; i < L->den_len; i++)
        cl[i] = L->den[i] + (i >= off ? L->num[i - off] : 0);
    if (!hurwitz(cl, L->den_len))
        return DT_EUNSTABLE;
    /* |L(j inf)| >= 1 for a biproper loop: crossings up to infinite frequency,
     * so any added delay destabilizes. */
    if (L->num_len == L->den_len && fabs(L->num[0] / L->den[0]) >= 1) {
        *out = (dt_margin){0, INFINITY, 0, 0};
        return DT_OK;
    }
    /* Frequency range from the coefficient scales (Cauchy-type bounds). */
    double hi = 1e-3, lo;
    for (size_t i = 1; i < L->den_len; i++) {
        double r = pow(fabs(L->den[i] / L->den[0]), 1.0 / (double)i);
        hi = fmax(hi, r);
    }
    for (size_t i = 1; i < L->num_len; i++) {
        double r = pow(fabs(L->num[i] / L->num[0]), 1.0 / (double)i);
        hi = fmax(hi, r);
    }
    /* beyond the roots, |L| keeps falling; add the gain's own scale */
    double g = fabs(L->num[0] / L->den[0]);
    size_t rel = L->den_len - L->num_len;
    if (rel > 0)
        hi = fmax(hi, pow(g, 1.0 / (double)rel));
    hi *= 1e4;
    lo = hi * 1e-14;
    const int N = 20000;
    double best = INFINITY, bw = NAN, bpm = NAN;
    size_t count = 0;
    double w0 = lo, m0, p0;
    eval(L, w0, &m0, &p0);
    for (int k = 1; k <= N; k++) {
        double w1 = lo * pow(hi / lo, (double)k / N), m1, p1;
        eval(L, w1, &m1, &p1);
        if ((m0 - 1) * (m1 - 1) <= 0 && m0 != m1) {
            /* bisection on log|L| = 0 */
            double a = w0, b = w1, fa = log(m0);
            for (int it = 0; it < 200 && (b - a) > 1e-13 * b; it++) {
                double c = 0.5 * (a + b), mc, pc;
                eval(L, c, &mc, &pc);
                if ((log(mc) > 0) == (fa > 0)) {
                    a = c;
                    fa = log(mc);
                } else {
                    b = c;
                }
            }
            double wc = 0.5 * (a + b), mc, pc;
            eval(L, wc, &mc, &pc);
            /* phase margin: how far the phase is above -pi, in [0, 2 pi) */
            double pm = fmod(pc + PI, 2 * PI);
            if (pm < 0)
                pm += 2 * PI;
            count++;
            if (pm / wc < best) {
                best = pm / wc;
                bw = wc;
                bpm = pm;
            }
        }
        w0 = w1;
        m0 = m1;
        p0 = p1;
    }
    (void)p0;
    if (count == 0) {
        if (m0 > 1) /* |L| above 1 up to the top of the range */
            return DT_EINVAL;
        *out = (dt_margin){INFINITY, NAN, NAN, 0};
        return DT_OK;
    }
    /* The loop with delay tau is unstable once tau reaches min PM_i / w_i; the
     * known dead time already uses part of that. */
    double left = best - L->dead_time;
    if (!(left > 0))
        return DT_EUNSTABLE;
    *out = (dt_margin){left, bw, bpm - bw * L->dead_time, count};
    return DT_OK;
}
