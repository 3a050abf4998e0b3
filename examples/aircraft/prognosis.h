/* The cloud twin's prognosis (examples/aircraft): remaining useful life of
 * the engine from the trend of its EGT margin, with its uncertainty, and the
 * maintenance advisory sent to the edge once a second. */
#ifndef AIRCRAFT_PROGNOSIS_H
#define AIRCRAFT_PROGNOSIS_H

#include <dtwin/dtwin.h>

/* What the last run computed (NAN before the first). */
typedef struct ac_prognosis_out {
    double margin, margin_std;  /* K */
    double rate, rate_std;      /* K per second of twin time */
    double rul_fh, rul_std_fh;  /* remaining useful life, flight hours, and its std */
    double rul_lb_fh;           /* the lower 95 % bound's first passage: the advisory */
} ac_prognosis_out;

typedef struct ac_prognosis {
    const dt_twin *twin; /* its counters: no advice before the first fused belief */
    dt_signal_id advisory;
    double last_sent;  /* twin time of the last advisory, s */
    int sent_any;
    ac_prognosis_out out;
} ac_prognosis;

/* Resolves the signals; 0 or a negative DT_E*. */
int ac_prognosis_init(ac_prognosis *p, const dt_twin *tw);
/* dt_ctrl_fn for dt_twin_set_callback. */
int ac_prognosis_run(void *user, dt_ctrl_ctx *ctx);
/* The remaining useful life (s of twin time) of a margin m (K) falling at
 * rate r (K/s) to AC_MARGIN_LIMIT_K, and its variance by the delta method
 * from the covariance (pmm, prr, pmr); INFINITY when the margin is not
 * falling. */
double ac_rul(double m, double r, double pmm, double prr, double pmr, double *var);

#endif
