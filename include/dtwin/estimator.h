/* dtwin: Kalman estimation (KF / EKF), delayed measurements, the belief. */
#ifndef DTWIN_ESTIMATOR_H
#define DTWIN_ESTIMATOR_H

#include <stddef.h>
#include <stdint.h>

#include "dtwin/alloc.h"
#include "dtwin/error.h"
#include "dtwin/export.h"
#include "dtwin/linalg.h"
#include "dtwin/model.h"
#include "dtwin/sample.h"
#include "dtwin/time.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- chi-square (gating) ---- */

/** P(X <= x) for X ~ chi-square with k degrees of freedom. */
DT_API double dt_chi2_cdf(double x, unsigned k);
/** The x with P(X <= x) = p (0 < p < 1, 1 <= k <= 1000), to about 1e-14
 *  relative. @retval DT_EINVAL bad p or k. */
DT_API int dt_chi2_quantile(double p, unsigned k, double *out);

/* ---- the filter ---- */

/** A Kalman filter over n states (1..DT_LA_MAX) with p inputs (0..DT_LA_MAX).
 *  Everything is allocated by dt_kf_create; no call after it allocates.
 *  A failed call leaves x and P unchanged. */
typedef struct dt_kf dt_kf;

/** Nonlinear process for an EKF: from x at time t, with input u, over dt
 *  seconds, write x_next (n) and the Jacobian F = d x_next / d x (n x n,
 *  row-major). Return 0, or a negative DT_E* to reject the step. */
typedef int (*dt_kf_process_fn)(void *user, const double *x, const double *u, double dt,
                                double *x_next, double *F);
/** Nonlinear scalar measurement: write the predicted measurement h(x) and its
 *  gradient (n). */
typedef int (*dt_kf_measure_fn)(void *user, const double *x, double *h, double *grad);

DT_API int dt_kf_create(size_t n, size_t p, const dt_allocator *alloc, dt_kf **out);
DT_API void dt_kf_destroy(dt_kf *kf);
DT_API size_t dt_kf_dim(const dt_kf *kf);

/** Continuous-time linear process dx = (A x + B u) dt + dw, E[dw dw'] = Q dt:
 *  each predict over dt uses (Ad, Bd, Qd) from Van Loan's method, cached for
 *  the last 8 distinct dt values. B may be NULL when p = 0.
 *  @retval DT_EINVAL non-finite entries or Q not symmetric. */
DT_API int dt_kf_set_continuous(dt_kf *kf, const double *A, const double *B, const double *Q);
/** Discrete linear process x' = F x + G u + w, E[w w'] = Qd, applied once per
 *  predict with dt > 0 whatever dt is (for hosts that step at a fixed rate). */
DT_API int dt_kf_set_discrete(dt_kf *kf, const double *F, const double *G, const double *Qd);
/** Nonlinear process (EKF); Qc is a continuous noise density used as Qd = Qc dt
 *  (first order in dt; keep steps short against the dynamics). */
DT_API int dt_kf_set_nonlinear(dt_kf *kf, dt_kf_process_fn f, void *user, const double *Qc);

/** Sets the state and its covariance (P symmetric positive semi-definite;
 *  checked: symmetric, non-negative diagonal, finite). */
DT_API int dt_kf_set_state(dt_kf *kf, const double *x, const double *P);
DT_API const double *dt_kf_state(const dt_kf *kf);
DT_API const double *dt_kf_cov(const dt_kf *kf);
DT_API int dt_kf_set_input(dt_kf *kf, const double *u);

/** Predicts over dt >= 0 seconds. @retval DT_EINVAL dt < 0 or no process set.
 *  @retval DT_ENUMERIC / DT_ERANGE the discretization failed. */
DT_API int dt_kf_predict(dt_kf *kf, double dt);

/** Result of an update, for gating and consistency statistics. */
typedef struct dt_kf_result {
    double nis;        /**< normalized innovation squared y' S^-1 y */
    double innovation; /**< y (scalar updates) */
    double s;          /**< innovation variance (scalar updates) */
    int gated;         /**< rejected by the gate; x and P unchanged */
} dt_kf_result;

/** Scalar update with measurement row h (n): z = h x + v, var(v) = r > 0.
 *  Joseph form written as a symmetric rank-2 update; no factorization.
 *  gate: reject when NIS exceeds it (0: no gate).
 *  @retval 0 applied or gated (see res->gated).
 *  @retval DT_ENUMERIC innovation variance not positive/finite; unchanged. */
DT_API int dt_kf_update_scalar(dt_kf *kf, const double *h, double z, double r, double gate,
                               dt_kf_result *res);
/** Scalar update through a nonlinear measurement (EKF). */
DT_API int dt_kf_update_nonlinear(dt_kf *kf, dt_kf_measure_fn hfn, void *user, double z,
                                  double r, double gate, dt_kf_result *res);
/** Vector update: z (m) = H x + v, cov(v) = R (m x m, symmetric). The gain
 *  comes from a Cholesky factorization of S = H P H' + R (no inverse); the
 *  covariance update is the Joseph form.
 *  @retval DT_ENUMERIC S is not positive definite; x and P unchanged. */
DT_API int dt_kf_update(dt_kf *kf, size_t m, const double *z, const double *H, const double *R,
                        double gate, dt_kf_result *res);

typedef struct dt_kf_stats {
    uint64_t predicts, discretizations, cache_hits;
} dt_kf_stats;
DT_API void dt_kf_stats_get(const dt_kf *kf, dt_kf_stats *out);

/* ---- latency physics ---- */

/** P(tau) = e^{A tau} P0 e^{A' tau} + int_0^tau e^{A s} Q e^{A' s} ds: the
 *  covariance after tau seconds without data (Van Loan). work: DT_VANLOAN_WORK(n)
 *  + 3 n^2 doubles. */
#define DT_COV_AFTER_WORK(n) (DT_VANLOAN_WORK(n) + 3 * (size_t)(n) * (size_t)(n))
DT_API int dt_cov_after(size_t n, const double *A, const double *Q, const double *P0,
                        double tau, double *P, double *work);

/** An accuracy bound on a covariance: sum_i w_i P_ii <= limit (weights on the
 *  diagonal: all ones is the trace, a single one is one state's variance), or,
 *  with quadratic set, c' P c <= limit for the vector c = w. */
typedef struct dt_bound {
    const double *w; /**< n weights (>= 0 for the diagonal form) */
    int quadratic;
    double limit;    /**< > 0 */
} dt_bound;

/** The value sum_i w_i P_ii (or w' P w). */
DT_API double dt_bound_metric(size_t n, const dt_bound *b, const double *P);

/** The latency budget: the largest tau such that the bound holds for every
 *  delay up to tau with no new data. Found by doubling tau (1 ns .. 1e9 s)
 *  until the bound fails, then bisecting that bracket to 1e-6 relative (when
 *  the metric is not monotone, a crossing inside the first failing bracket).
 *  @param tau_max receives the budget in seconds, or INFINITY when the bound
 *         holds for every tau up to 1e9 s (stable A whose steady state meets
 *         it), or 0 when P0 already breaks it.
 *  work: DT_LATENCY_WORK(n) doubles. */
#define DT_LATENCY_WORK(n) (DT_VANLOAN_WORK(n) + 6 * (size_t)(n) * (size_t)(n))
DT_API int dt_latency_budget(size_t n, const double *A, const double *Q, const double *P0,
                             const dt_bound *bound, double *tau_max, double *work);

#ifdef __cplusplus
}
#endif
#endif
