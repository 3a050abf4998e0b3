/* The first-crossing search shared by dt_latency_budget and
 * dt_periodic_budget (latency.c), and what it stands on (cov_after.c). */
#ifndef DTWIN_SRC_LATENCY_INTERNAL_H
#define DTWIN_SRC_LATENCY_INTERNAL_H

#include <stddef.h>

#include "dtwin/estimator.h"

/* Scratch of dt__first_crossing. */
#define DT__CROSSING_WORK(n) (DT_COV_AFTER_WORK(n) + 6 * (size_t)(n) * (size_t)(n) + (size_t)(n))

/* The earliest tau >= 0 at which any of the np covariances posts (n x n each,
 * consecutive), left without data, breaks the bound b: INFINITY when none
 * ever does. between: 1 when that happens before the posterior's next update
 * (gap_after[i] seconds; gap_after may be NULL: between is 0). The caller has
 * checked the arguments and that no post breaks the bound at tau = 0.
 * limited: 1 when a work limit stopped the search: tau is then the time it
 * verified (a lower bound of the first crossing).
 * Returns DT_OK, or a status of dt_vanloan that is not DT_ERANGE (none in
 * practice: the inputs are finite). work: DT__CROSSING_WORK(n). */
int dt__first_crossing(size_t n, const double *A, const double *Q, const dt_bound *b, size_t np,
                       const double *posts, const double *gap_after, double *tau,
                       int *between, int *limited, double *work);

/* cov_after.c: 1 when all len values are finite. */
int dt__finite_n(size_t len, const double *v);

/* cov_after.c: 1 when M (n x n) is symmetric and positive semi-definite (LDL' with
 * pivots down to -1e-9 of the largest diagonal entry); S: n x n scratch. */
int dt__psd(size_t n, const double *M, double *S);

#endif
