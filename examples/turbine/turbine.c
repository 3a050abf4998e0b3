/* Gas turbine speed loop (simplified Rowen model, per unit): the delay margin
 * from dt_delay_margin, checked against a numerical sweep of the simulated
 * loop, and runs below and above it.
 *
 *   fuel valve     Tv dWf/dt = u - Wf                 (lag)
 *   combustor      Wf reaches the rotor after Tcd     (transport delay)
 *   rotor          2H dw/dt  = Wf(t - Tcd) - TL - D (w - 1)
 *   governor       u = kp e + ki int e,  e = 1 - w(t - latency)
 *
 * Usage: turbine [OUTDIR]   (writes turbine_stable.csv and turbine_unstable.csv there) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dtwin/dtwin.h>

static const double H2 = 8.0, D = 1.0, TV = 0.05, TCD = 0.02; /* 2H, damping, valve, combustor */
static const double KP = 12.0, KI = 6.0;                       /* PI governor */
#define DT 1e-4                                                /* integration step, s */

typedef struct run_out {
    double final_error;  /* |w - 1| averaged over the last second */
    double growth;       /* oscillation amplitude, last 5 s over the 5 s before */
} run_out;

/* Simulates 40 s with a +0.1 pu load step at 1 s and `latency` seconds of
 * measurement delay on top of the combustor's. */
static run_out simulate(double latency, FILE *trace)
{
    size_t nd = (size_t)((TCD + latency) / DT) + 2, ncd = (size_t)(TCD / DT + 0.5);
    size_t nl = (size_t)(latency / DT + 0.5);
    double *buf_f = calloc(nd, sizeof *buf_f), *buf_w = calloc(nd, sizeof *buf_w);
    if (buf_f == NULL || buf_w == NULL)
        exit(3);
    for (size_t i = 0; i < nd; i++) {
        buf_f[i] = 1.0;
        buf_w[i] = 1.0;
    }
    double w = 1, wf = 1, integ = 1.0 / KI, tl = 1;
    double amp[8] = {0};
    const int steps = (int)(40.0 / DT);
    double err_sum = 0;
    int err_n = 0;
    for (int k = 0; k < steps; k++) {
        double t = k * DT;
        if (t >= 1.0)
            tl = 1.1;
        size_t at = (size_t)k % nd;
        double w_meas = buf_w[(at + nd - nl) % nd];   /* delayed measurement */
        double wf_rotor = buf_f[(at + nd - ncd) % nd]; /* combustor delay */
        double e = 1 - w_meas;
        integ += e * DT;
        double u = KP * e + KI * integ;
        wf += (u - wf) / TV * DT;
        w += (wf_rotor - tl - D * (w - 1)) / H2 * DT;
        buf_f[(at + 1) % nd] = wf;
        buf_w[(at + 1) % nd] = w;
        if (t >= 30.0) {
            double a = fabs(w - 1.0);
            int slot = t >= 35.0 ? 1 : 0;
            amp[slot] = a > amp[slot] ? a : amp[slot];
        }
        if (t >= 39.0) {
            err_sum += fabs(w - 1.0);
            err_n++;
        }
        if (trace != NULL && k % 100 == 0)
            fprintf(trace, "%.3f,%.6f,%.6f,%.6f\n", t, w, u, tl);
    }
    free(buf_f);
    free(buf_w);
    run_out r = {err_sum / err_n, amp[0] > 0 ? amp[1] / amp[0] : 0};
    return r;
}

/* Growing oscillation: the amplitude rises from one 5 s window to the next. */
static int unstable(double latency)
{
    run_out r = simulate(latency, NULL);
    return !isfinite(r.growth) || r.growth > 1.0 || !isfinite(r.final_error) ||
           r.final_error > 1.0;
}

int main(int argc, char **argv)
{
    const char *outdir = argc > 1 ? argv[1] : ".";
    /* L(s) = (kp s + ki) / (s (Tv s + 1) (2H s + D)) e^{-s Tcd} */
    double num[2] = {KP, KI};
    double den[4] = {H2 * TV, TV * D + H2, D, 0};
    dt_loop_tf loop = {num, 2, den, 4, TCD};
    dt_margin m;
    int rc = dt_delay_margin(&loop, &m);
    if (rc != DT_OK) {
        fprintf(stderr, "turbine: %s\n", dt_strerror(rc));
        return 1;
    }
    printf("governor loop: gain crossover %.4f rad/s, phase margin %.2f deg\n", m.crossover,
           m.phase * 180 / 3.14159265358979323846);
    printf("delay margin (dt_delay_margin): %.4f s of added measurement latency\n", m.delay);

    /* numerical sweep: bisection on the latency where oscillations start growing */
    double lo = 0, hi = 3 * m.delay;
    if (!unstable(hi) || unstable(lo)) {
        fprintf(stderr, "turbine: sweep bracket failed\n");
        return 1;
    }
    while (hi - lo > 1e-4) {
        double mid = 0.5 * (lo + hi);
        if (unstable(mid))
            hi = mid;
        else
            lo = mid;
    }
    double onset = 0.5 * (lo + hi), rel = fabs(onset - m.delay) / m.delay;
    printf("simulated onset of instability: %.4f s (%.1f %% from the computed margin)\n", onset,
           100 * rel);

    char path[512];
    snprintf(path, sizeof path, "%s/turbine_stable.csv", outdir);
    FILE *fs = fopen(path, "w");
    snprintf(path, sizeof path, "%s/turbine_unstable.csv", outdir);
    FILE *fu = fopen(path, "w");
    if (fs)
        fprintf(fs, "time_s,speed_pu,fuel_cmd_pu,load_pu\n");
    if (fu)
        fprintf(fu, "time_s,speed_pu,fuel_cmd_pu,load_pu\n");
    run_out below = simulate(0.5 * m.delay, fs);
    run_out above = simulate(1.5 * m.delay, fu);
    if (fs)
        fclose(fs);
    if (fu)
        fclose(fu);
    printf("latency %.4f s (half the margin): speed error after the load step %.2e pu, "
           "oscillation ratio %.3f (settles)\n",
           0.5 * m.delay, below.final_error, below.growth);
    printf("latency %.4f s (1.5 x the margin): oscillation ratio %.3f (grows)\n", 1.5 * m.delay,
           above.growth);
    int ok = rel <= 0.10 && below.final_error < 1e-3 && below.growth < 1.0 && above.growth > 1.0;
    printf("self-check: %s\n", ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
}
