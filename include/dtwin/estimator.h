/** @file
 * dtwin: Kalman estimation (KF / EKF), delayed measurements, the belief. */
#ifndef DTWIN_ESTIMATOR_H
#define DTWIN_ESTIMATOR_H

#include <stddef.h>
#include <stdint.h>

#include "dtwin/alloc.h"
#include "dtwin/error.h"
#include "dtwin/export.h"
#include "dtwin/fusion.h"
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

/** Creates a filter with zero state and covariance and no process model.
 *  @param n states (1..DT_LA_MAX). @param p inputs (0..DT_LA_MAX).
 *  @param alloc NULL: default. @param out receives it (dt_kf_destroy).
 *  @retval DT_EINVAL dimensions out of range. @retval DT_ENOMEM. */
DT_API int dt_kf_create(size_t n, size_t p, const dt_allocator *alloc, dt_kf **out);
/** Frees a filter. NULL: no-op. */
DT_API void dt_kf_destroy(dt_kf *kf);
/** The number of states n. */
DT_API size_t dt_kf_dim(const dt_kf *kf);

/** Continuous-time linear process dx = (A x + B u) dt + dw, E[dw dw'] = Q dt:
 *  each predict over dt uses (Ad, Bd, Qd) from Van Loan's method, cached for
 *  the last 8 distinct dt values. B may be NULL when p = 0.
 *  @retval DT_EINVAL non-finite entries or Q not symmetric. */
DT_API int dt_kf_set_continuous(dt_kf *kf, const double *A, const double *B, const double *Q);
/** Discrete linear process x' = F x + G u + w, E[w w'] = Qd, applied once per
 *  predict with dt > 0 whatever dt is (for hosts that step at a fixed rate).
 *  @retval DT_EINVAL non-finite entries or Qd not symmetric. */
DT_API int dt_kf_set_discrete(dt_kf *kf, const double *F, const double *G, const double *Qd);
/** Nonlinear process (EKF); Qc is a continuous noise density used as Qd = Qc dt
 *  (first order in dt; keep steps short against the dynamics).
 *  @retval DT_EINVAL NULL f, or Qc not symmetric and finite. */
DT_API int dt_kf_set_nonlinear(dt_kf *kf, dt_kf_process_fn f, void *user, const double *Qc);

/** Sets the state and its covariance (P symmetric positive semi-definite;
 *  checked: symmetric, non-negative diagonal, finite; the updates' accuracy
 *  guarantees below assume a PSD P, which is not checked).
 *  @retval DT_EINVAL non-finite, P not symmetric, or a negative variance; unchanged. */
DT_API int dt_kf_set_state(dt_kf *kf, const double *x, const double *P);
/** The state x (n values; owned by the filter, valid until its next call). */
DT_API const double *dt_kf_state(const dt_kf *kf);
/** The covariance P (n x n, row-major, symmetric; as dt_kf_state). */
DT_API const double *dt_kf_cov(const dt_kf *kf);
/** The input u (p values) used by the following predictions.
 *  @retval DT_EINVAL a non-finite value. */
DT_API int dt_kf_set_input(dt_kf *kf, const double *u);

/** Predicts over dt >= 0 seconds. The EKF callback's x_next and F are
 *  checked before anything is committed. A predicted variance that rounding
 *  leaves negative (its exact value is then below its rounding error) is set
 *  to 0 with its covariances. @retval DT_EINVAL dt < 0 or no process set.
 *  @retval DT_ENUMERIC / DT_ERANGE the discretization failed, the prediction
 *          is not finite, or the EKF callback wrote a non-finite x_next or F
 *          or returned a positive value.
 *  @retval <0 the EKF callback's own negative code. Failures leave x and P
 *          unchanged. */
DT_API int dt_kf_predict(dt_kf *kf, double dt);

/** Result of an update, for gating and consistency statistics. */
typedef struct dt_kf_result {
    double nis;        /**< normalized innovation squared y' S^-1 y */
    double innovation; /**< y (scalar updates) */
    double s;          /**< innovation variance (scalar updates) */
    int gated;         /**< rejected by the gate; x and P unchanged */
} dt_kf_result;

/** Scalar update with measurement row h (n): z = h x + v, var(v) = r >= 0.
 *  Joseph form, evaluated as M = (I - k h) P, then M (I - k h)' + r k k'
 *  (O(n^2), no factorization).
 *
 *  Guarantee, for any finite P: on success P is exactly symmetric and every
 *  variance satisfies 0 <= P+_ii <= P_ii. If P is positive semi-definite,
 *  every entry of P+ is also the exact posterior P - (P h')(P h')' / s of
 *  (P, h, r) to about 3 (n + 2) 2^-26 of sqrt(P+_ii P+_jj) (its own scale):
 *  the binary64 result is kept only when each variance is at least 2^-27
 *  (1 + w) of its prior, w = sum|h_j| sum P_jj |h_j| / s (the cancellation
 *  in h P h'); otherwise (a variance falling by more than ~1e8 / (1 + w) in
 *  one update, e.g. r tiny against an ill-conditioned P) the update is
 *  evaluated in double-double, O(n^2) at ~15x the flops, to about
 *  2^-104 (1 + w) of the prior's scale sqrt(P_ii P_jj). So P+ is positive
 *  semi-definite unless the exact posterior's correlation matrix is within
 *  those errors of singular. An update of one state (h = e_i) with r > 0
 *  always succeeds (short of overflow).
 *  Limits: P is stored in binary64, so a direction whose posterior variance
 *  is below ~2^-53 of the prior's scale along it is not represented; a
 *  later update along that direction with r below that level can find
 *  h P h' + r <= 0 and return DT_ENUMERIC. With a P that is not PSD (not
 *  checked), a variance that would come out negative is set to 0 with its
 *  covariances.
 *  gate: reject when NIS exceeds it (0: no gate).
 *  @retval 0 applied or gated (see res->gated).
 *  @retval DT_ENUMERIC innovation variance not positive (in double-double
 *          when binary64 cancels) or not finite, or a non-finite result;
 *          unchanged. */
DT_API int dt_kf_update_scalar(dt_kf *kf, const double *h, double z, double r, double gate,
                               dt_kf_result *res);
/** Scalar update through a nonlinear measurement (EKF): the row is the
 *  callback's gradient, with dt_kf_update_scalar's guarantees.
 *  @retval 0 applied or gated (res->gated). @retval DT_ENUMERIC the callback
 *  wrote a non-finite h(x) or gradient or returned a positive value, or as
 *  dt_kf_update_scalar. @retval <0 the callback's own negative code. x and P
 *  unchanged on failure. */
DT_API int dt_kf_update_nonlinear(dt_kf *kf, dt_kf_measure_fn hfn, void *user, double z,
                                  double r, double gate, dt_kf_result *res);
/** Vector update: z (m) = H x + v, cov(v) = R (m x m, symmetric). The gain
 *  comes from a Cholesky factorization of S = H P H' + R (no inverse); the
 *  covariance update is the Joseph form, kept when every variance is within
 *  [2^-27 (1 + w) P_ii, P_ii] (w of dt_kf_update_scalar summed over the
 *  rows). Otherwise, or when S is not positive definite in binary64, the
 *  same update is applied as m scalar ones in double-double on the rows
 *  decorrelated by R = L D L' (NIS: the sum of theirs): the shape guarantee
 *  of dt_kf_update_scalar (symmetric, 0 <= P+_ii <= P_ii), each step
 *  accurate to its own posterior, the intermediate ones rounded to binary64.
 *  @retval DT_ENUMERIC R is not positive semi-definite (when the scalar
 *          form is needed), or an innovation variance is not positive;
 *          x and P unchanged. */
DT_API int dt_kf_update(dt_kf *kf, size_t m, const double *z, const double *H, const double *R,
                        double gate, dt_kf_result *res);

/** Predicts a copy of the belief over dt >= 0 without changing the filter
 *  (for reading the belief at a later time). x_out (n) and P_out (n x n),
 *  as dt_kf_predict would leave them (finite, variances >= 0).
 *  @retval DT_EINVAL dt < 0 or no process. @retval DT_ENUMERIC and the other
 *  failures of dt_kf_predict; the filter unchanged in every case. */
DT_API int dt_kf_peek(dt_kf *kf, double dt, double *x_out, double *P_out);
/** The continuous model's A and Q (NULL unless dt_kf_set_continuous). */
DT_API const double *dt_kf_model_A(const dt_kf *kf);
/** The continuous model's Q (NULL unless dt_kf_set_continuous). */
DT_API const double *dt_kf_model_Q(const dt_kf *kf);
/** The continuous model's B (n x p, row-major) and p; NULL (and p set to
 *  0) unless dt_kf_set_continuous with inputs. @param kf the filter.
 *  @param p receives the number of inputs (may be NULL). */
DT_API const double *dt_kf_model_B(const dt_kf *kf, size_t *p);

/** A filter's work counters. */
typedef struct dt_kf_stats {
    uint64_t predicts;        /**< predictions with dt > 0 */
    uint64_t discretizations; /**< Van Loan evaluations (new dt values) */
    uint64_t cache_hits;      /**< predictions served from the dt cache */
} dt_kf_stats;
/** A snapshot of the counters. */
DT_API void dt_kf_stats_get(const dt_kf *kf, dt_kf_stats *out);

/* ---- fleets ---- */

/** count identical filters (same n, transition and measurement rows; own
 *  state, covariance and data) stepped together for fleets of identical
 *  assets. Laid out for SIMD across filters; results equal dt_kf's to
 *  rounding (tested to 1e-12). Allocates only in dt_kf_batch_create. */
typedef struct dt_kf_batch dt_kf_batch;
/** Creates count filters of n states (1..DT_LA_MAX, count >= 1).
 *  @retval DT_EINVAL out of range. @retval DT_ENOMEM. */
DT_API int dt_kf_batch_create(size_t n, size_t count, const dt_allocator *alloc,
                              dt_kf_batch **out);
/** Frees a batch. NULL: no-op. */
DT_API void dt_kf_batch_destroy(dt_kf_batch *b);
/** The shared discrete transition Ad and noise Qd (for example from
 *  dt_vanloan_series for the fleet's step).
 *  @retval DT_EINVAL non-finite entries or Qd not symmetric. */
DT_API int dt_kf_batch_set_model(dt_kf_batch *b, const double *Ad, const double *Qd);
/** Sets filter i's state and covariance. @retval DT_EINVAL i out of range, a
 *  non-finite value, or P not symmetric with a non-negative diagonal. */
DT_API int dt_kf_batch_set_state(dt_kf_batch *b, size_t i, const double *x, const double *P);
/** Copies filter i's state and covariance out. @retval DT_EINVAL i out of range. */
DT_API int dt_kf_batch_get_state(const dt_kf_batch *b, size_t i, double *x, double *P);
/** Predicts every filter one step, then applies m scalar measurements with
 *  shared rows H (m x n) and variances r (m): z holds count rows of m values
 *  (filter i's at z + i m). No gating in the batch path. Each filter gets
 *  dt_kf's predict and scalar updates (the same check and double-double
 *  fallback), so dt_kf_update_scalar's guarantees.
 *  @retval DT_EINVAL m out of range, no model, non-finite H, z or r, or a
 *          negative r; nothing stepped.
 *  @retval DT_ENUMERIC an innovation variance not positive or a non-finite
 *          result in some filter: that filter keeps its state from before
 *          the step, the others are stepped. */
DT_API int dt_kf_batch_step(dt_kf_batch *b, size_t m, const double *H, const double *r,
                            const double *z);

/* ---- latency physics ---- */

/** Scratch doubles dt_cov_after needs for n states. */
#define DT_COV_AFTER_WORK(n) (DT_VANLOAN_WORK(n) + 3 * (size_t)(n) * (size_t)(n))
/** P(tau) = e^{A tau} P0 e^{A' tau} + int_0^tau e^{A s} Q e^{A' s} ds: the
 *  covariance after tau seconds without data, from dt_vanloan (balanced, a
 *  short step, exact doublings: a stiff stable model is exact for any tau).
 *  All matrices n x n, row-major; work holds DT_COV_AFTER_WORK(n) doubles.
 *  Any thread.
 *  @retval DT_OK P holds the covariance, every entry finite.
 *  @retval DT_EINVAL n outside 1..DT_LA_MAX, a NULL pointer, tau negative or
 *          not finite, or a non-finite entry in A, Q or P0; P untouched.
 *  @retval DT_ERANGE the covariance is not representable: an entry of P
 *          overflows (only a growing mode does that; a mode whose e^{A tau}
 *          alone overflows counts, even with P0 and Q zero along it); P
 *          undefined. No other status: never DT_OK with a non-finite P. */
DT_API int dt_cov_after(size_t n, const double *A, const double *Q, const double *P0,
                        double tau, double *P, double *work);

/** An accuracy bound on a covariance: sum_i w_i P_ii <= limit (weights on the
 *  diagonal: all ones is the trace, a single one is one state's variance), or,
 *  with quadratic set, c' P c <= limit for the vector c = w. */
typedef struct dt_bound {
    const double *w; /**< n weights (>= 0 for the diagonal form) */
    int quadratic;   /**< 0: sum_i w_i P_ii; 1: w' P w */
    double limit;    /**< > 0 */
} dt_bound;

/** The value sum_i w_i P_ii (or w' P w). */
DT_API double dt_bound_metric(size_t n, const dt_bound *b, const double *P);

/** Scratch doubles dt_latency_budget needs for n states. */
#define DT_LATENCY_WORK(n)                                                                  \
    (DT_COV_AFTER_WORK(n) + 6 * (size_t)(n) * (size_t)(n) + (size_t)(n))
/** The latency budget: the largest tau such that the bound holds for every
 *  delay up to tau with no new data, i.e. the first time P(tau)
 *  (dt_cov_after) breaks it, not merely a time at which it is broken. An
 *  oscillating or non-normal model can break the bound and come back, so
 *  doubling tau (1 ns .. 1.15e9 s) only gives an upper end; [0, that end]
 *  is scanned on a grid that starts at 1/20 of the fastest time scale
 *  (1/||A||_1, A balanced), never exceeds 1/20 of the fastest oscillation's
 *  (1/|Im lambda|, bounded by Bendixson's theorem) and elsewhere grows with
 *  tau (at most tau/64); a hump between grid points that may reach the bound
 *  is refined by golden sections; the first grid point over the bound is
 *  refined by bisection to 1e-7 relative. When doubling finds no crossing,
 *  the scan ends where a certificate proves none can follow (what the bound
 *  sees has settled: the metric stays below metric(P(inf)) + lambda_max(P0)
 *  times a bound on the transient; or the balanced A cannot grow anything:
 *  the metric stays below lambda_max(P0) tr(W) + metric(Qd(1.15e9 s))), or,
 *  without one, at 1.15e9 s. The work is limited (about 3e8 flops and 1e6
 *  grid steps, about 3e8 flops of refinement): where a limit is reached, the
 *  budget is the time verified so far, a lower bound of the first crossing,
 *  never a coarser grid that could alias an oscillation.
 *  dt_periodic_budget runs the same search from every posterior of the
 *  sensors' cycle. Any thread.
 *  @param n states. @param A the process matrix. @param Q its noise density.
 *  @param P0 the covariance at tau = 0. @param bound the accuracy bound.
 *  @param tau_max receives the budget in seconds, or INFINITY when the bound
 *         is never broken (proved by the certificate; without one, checked
 *         by doubling to 1.15e9 s and by the scan), or 0 when P0 already
 *         breaks it.
 *  @param work DT_LATENCY_WORK(n) doubles.
 *  @retval DT_OK *tau_max set.
 *  @retval DT_EINVAL n outside 1..DT_LA_MAX, a NULL pointer, a limit not
 *          positive and finite, a negative weight of the diagonal form, a
 *          non-finite entry in A, Q, P0 or the weights, or a Q that is not
 *          symmetric positive semi-definite; *tau_max untouched.
 *          No other status (a covariance that overflows breaks the bound). */
DT_API int dt_latency_budget(size_t n, const double *A, const double *Q, const double *P0,
                             const dt_bound *bound, double *tau_max, double *work);

/** A measurement taken every period_s seconds: z = h x + noise of variance r. */
typedef struct dt_periodic_meas {
    const double *h; /**< n coefficients */
    double r;        /**< noise variance >= 0 */
    double period_s; /**< 1e-9 .. 86400 s */
} dt_periodic_meas;

/** Most measurement rows dt_cov_periodic takes. */
#define DT_PERIODIC_MAX_ROWS 1024
/** Most steps of the common grid in one longest period (see dt_cov_periodic). */
#define DT_PERIODIC_MAX_STEPS 4096
/** Scratch doubles dt_cov_periodic needs for n states. */
#define DT_PERIODIC_WORK(n) (DT_VANLOAN_WORK(n) + 5 * (size_t)(n) * (size_t)(n))
/** Posteriors of one cycle dt_periodic_budget keeps apart (more are merged). */
#define DT_PERIODIC_POSTS 32
/** Scratch doubles dt_periodic_budget needs for n states. */
#define DT_PERIODIC_BUDGET_WORK(n)                                                          \
    (DT_COV_AFTER_WORK(n) + (14 + DT_PERIODIC_POSTS) * (size_t)(n) * (size_t)(n))

/** The covariance the filter settles to when every measurement row arrives at
 *  its period: the Riccati recursion (prediction by Van Loan, Joseph-form
 *  updates) run on the common grid of the periods from P0 (all rows first
 *  at one period) until the largest posterior bound metric of one cycle of the
 *  pattern changes by less than 1e-9 relative between cycles. A cycle is the
 *  least common multiple of the periods when it spans at most 65536 grid
 *  steps, else 16 longest periods. The grid step is the periods' greatest
 *  common divisor, coarsened (periods rounded up: fewer updates, a larger
 *  covariance) so that the longest period spans at most
 *  DT_PERIODIC_MAX_STEPS steps. The work is bounded (about 3e8 flops): when
 *  the recursion has not settled by then and still shrinks, the last cycle's
 *  worst (an upper bound) is returned. Any thread.
 *  @param n states. @param A the process matrix. @param Q its noise density.
 *  @param P0 where the recursion starts. @param rows the measurements.
 *  @param m how many rows. @param bound the accuracy bound whose metric picks
 *         the worst posterior.
 *  @param worst receives the posterior covariance (right after an update) with
 *         the largest bound metric over the last cycle: the belief the
 *         latency budget must start from.
 *  @param metric receives that metric.
 *  @param work DT_PERIODIC_WORK(n) doubles.
 *  @retval DT_EINVAL bad arguments (a period outside 1e-9..86400 s, r < 0,
 *          non-finite h, more than DT_PERIODIC_MAX_ROWS rows).
 *  @retval DT_EEMPTY no rows: the filter never sees data.
 *  @retval DT_ERANGE no steady state in the bound's direction: the metric
 *          grows without limit (an unobservable unstable or drifting mode).
 *  @retval DT_ENUMERIC the exponential failed. */
DT_API int dt_cov_periodic(size_t n, const double *A, const double *Q, const double *P0,
                           const dt_periodic_meas *rows, size_t m, const dt_bound *bound,
                           double *worst, double *metric, double *work);

/** What dt_periodic_budget found. */
typedef struct dt_periodic_result {
    double tau;    /**< the budget, s (INFINITY: never broken; 0: broken on schedule) */
    double reach;  /**< the largest posterior bound metric of the cycle */
    double peak;   /**< the largest metric at any grid point (between updates too) */
    double gap;    /**< the longest time between two updates in the cycle, s */
    int between;   /**< 1: a posterior breaks the bound before its next update */
    size_t posts;  /**< posteriors kept apart (at most DT_PERIODIC_POSTS) */
    size_t merged; /**< posteriors merged into a kept one (PSD upper bound) */
    int limited;   /**< 1: the search reached its work limit; tau is the time it
                        verified, a lower bound of the first crossing */
} dt_periodic_result;

/** The latency budget from the filter's periodic steady state: settles as
 *  dt_cov_periodic, then runs one more cycle keeping every posterior (beyond
 *  DT_PERIODIC_POSTS, each merged into the nearest kept one by a PSD upper
 *  bound, so the result stays on the safe side) and the time to its next
 *  update. The budget is the earliest time at which any of them, left without
 *  data, breaks the bound: found by the search dt_latency_budget describes
 *  (doubling tau for an upper end, then a scan of [0, that end], or up to the
 *  certificate's time when doubling finds none, refined by bisection to
 *  1e-7), over every kept posterior at once.
 *  The metric after tau is linear in the starting covariance, so every
 *  posterior is checked at every point for n^2 flops. Any thread.
 *  @param n states. @param A the process matrix. @param Q its noise density.
 *  @param P0 where the recursion starts. @param rows the measurements.
 *  @param m how many rows. @param bound the accuracy bound.
 *  @param res receives the budget and what it rests on: a bound broken while
 *         the data comes on schedule gives peak > limit (tau 0), a posterior
 *         breaking it before its next update sets between.
 *  @param work DT_PERIODIC_BUDGET_WORK(n) doubles.
 *  @retval DT_EINVAL / DT_EEMPTY / DT_ERANGE / DT_ENUMERIC as dt_cov_periodic. */
DT_API int dt_periodic_budget(size_t n, const double *A, const double *Q, const double *P0,
                              const dt_periodic_meas *rows, size_t m, const dt_bound *bound,
                              dt_periodic_result *res, double *work);

/* ---- the estimator: time, history, signals ---- */

/** A KF over the model's estimated signals, fed with synchronized samples.
 *  Measurements older than the current estimate but inside the history are
 *  applied at their own time and the later events replayed (for a linear
 *  model the result equals processing in time order). Runs on the twin's
 *  thread; nothing allocates after dt_est_create*. */
typedef struct dt_est dt_est;

/** Estimator options; start from DT_EST_CONFIG_INIT. */
typedef struct dt_est_config {
    size_t size;                   /**< sizeof(dt_est_config) */
    const dt_allocator *allocator; /**< NULL: default */
    const dt_logger *logger;       /**< NULL: stderr */
    size_t history;                /**< events kept for delayed measurements; 0: 128; at most 65536 */
    double gate_probability;       /**< chi-square gate; 0: 0.9999; 1 disables gating */
    /** Consecutive gated innovations of one signal before the gate's
     *  recovery or the signal's isolation (docs/estimation.md); 0:
     *  DT_EST_RECOVER_AFTER; DT_EST_RECOVER_AFTER_MIN to DT_EST_RECOVER_AFTER_MAX. A config of the
     *  older layout (size without this field) is accepted with the default. */
    uint32_t recover_after;
} dt_est_config;
/** Defaults for dt_est_config. */
#define DT_EST_CONFIG_INIT {sizeof(dt_est_config), NULL, NULL, 0, 0, 0}
/** The default of dt_est_config.recover_after. */
#define DT_EST_RECOVER_AFTER 10
/** The smallest dt_est_config.recover_after: above DT_EST_DISPUTE_RUN, so a
 *  belief is disputed (and the twin holds its safe state) before it is
 *  recovered, and one outlier is never a recovery. */
#define DT_EST_RECOVER_AFTER_MIN 3
/** The largest dt_est_config.recover_after. */
#define DT_EST_RECOVER_AFTER_MAX 1000000

/** Creates an estimator over n state signals (role "estimated") with p inputs.
 *  Configure the process and initial state through dt_est_kf(), measurements
 *  with dt_est_set_measurement*, then dt_est_start().
 *  @param model must outlive the estimator. @param states the n estimated signals, in state order. @param n 1..DT_LA_MAX. @param inputs the p commanded or parameter signals (NULL when p is 0). @param p 0..DT_LA_MAX. @param cfg NULL: defaults. @param out receives it (dt_est_destroy). @retval DT_EINVAL a state that is not an estimated signal, bad sizes, history or gate. @retval DT_EABI cfg->size mismatch. @retval DT_ENOMEM. */
DT_API int dt_est_create(const dt_model *model, const dt_signal_id *states, size_t n,
                         const dt_signal_id *inputs, size_t p, const dt_est_config *cfg,
                         dt_est **out);
/** Creates the estimator the description's "estimator" section declares
 *  (docs/estimation.md), so a linear twin needs no C code. The section's
 *  optional "kind" must be "kf" here: another filter kind (filter.h) is
 *  built by a twin whose registry has it.
 *  @retval DT_ENOTFOUND the description has no estimator.
 *  @retval DT_EPARSE with diag, e.g. `estimator.kind: "alpha_beta" is not the
 *          built-in Kalman filter "kf" ...`; the other refusals likewise. */
DT_API int dt_est_create_json(const dt_model *model, const dt_est_config *cfg, dt_est **out,
                              dt_diag *diag);
/** Frees an estimator. NULL: no-op. */
DT_API void dt_est_destroy(dt_est *est);
/** Its filter (owned by the estimator): set the process model and initial
 *  state through it before dt_est_start. */
DT_API dt_kf *dt_est_kf(dt_est *est);
/** The number of states. */
DT_API size_t dt_est_dim(const dt_est *est);
/** State index of an estimated signal, or -1.
 *  Returns the index, or -1 when sig is not a state. */
DT_API int dt_est_state_index(const dt_est *est, dt_signal_id sig);

/** Linear measurement of signal sig: z = h x + offset, noise from the sample's
 *  variance when it has one, else the model's noise for the signal.
 *  Before dt_est_start. @retval DT_EINVAL sig not measured or a parameter, non-finite h or offset. @retval DT_ESTATE already started. @retval DT_ENOMEM. */
DT_API int dt_est_set_measurement(dt_est *est, dt_signal_id sig, const double *h, double offset);
/** Nonlinear measurement of signal sig (EKF).
 *  Before dt_est_start; fn and user must outlive the estimator; fn runs on the twin's thread. @retval DT_EINVAL sig not measured, or fn NULL. @retval DT_ESTATE already started. */
DT_API int dt_est_set_measurement_fn(dt_est *est, dt_signal_id sig, dt_kf_measure_fn fn,
                                     void *user);

/** Computes every bound's latency budget: the filter's periodic steady
 *  state (dt_cov_periodic) with every measurement row at its signal's
 *  declared period and noise (callback rows linearized at the current state),
 *  then the time from its worst posterior until the bound breaks
 *  (dt_latency_budget). dt_est_start calls it again, so callbacks bound after
 *  loading count. Allocates nothing.
 *  @param est the estimator.
 *  @param diag NULL or receives the reason, e.g. `bound "level" needs
 *         variance <= 0.0001; at the sensors' rates the filter reaches 0.0004`.
 *  @retval DT_EINVAL a measured signal without a period, or no continuous model.
 *  @retval DT_ERANGE a bound the filter cannot meet at the sensors' rates
 *          (or no measurement at all). @retval DT_ENUMERIC a measurement
 *          callback fails at the current state. */
DT_API int dt_est_budgets(dt_est *est, dt_diag *diag);
/** The initial state (dt_kf_set_state) holds at t0. Computes the latency
 *  budgets (dt_est_budgets). @retval DT_ESTATE already started or no process
 *  model. @retval DT_ERANGE t0 outside +-DT_TIME_LIMIT. @retval DT_EINVAL /
 *  DT_ERANGE / DT_ENUMERIC as dt_est_budgets. */
DT_API int dt_est_start(dt_est *est, dt_time t0);

/** Applies one synchronized sample (t_source on the common time base).
 *  A sample outside the gate is counted; after dt_est_config.recover_after
 *  of them in a row the estimator recovers or isolates the signal
 *  (docs/estimation.md).
 *  @retval 0 applied, gated, or refused because the signal is isolated
 *          (each counted per signal).
 *  @retval DT_ENOTFOUND no measurement model for the signal (counted).
 *  @retval DT_ESTALE older than the history, or before the oldest event of a
 *          full history: dropped, the belief unchanged (counted too_old).
 *  @retval DT_ENUMERIC the update failed; the belief is predicted to the
 *          sample's time, not updated (counted).
 *  @retval DT_ERANGE t_source outside +-DT_TIME_LIMIT (refused, counted
 *          bad_time), or the prediction to the sample's time failed (an unstable
 *          model over a long gap overflows): the belief is lost, re-initialised
 *          to (x0, P0) at the sample's time with no data behind it (the twin's
 *          latency rule holds the safe state until a sample is accepted); the
 *          sample is not applied (counted belief_lost). */
DT_API int dt_est_process(dt_est *est, const dt_sample *s);
/** Predicts the estimate forward to t (no-op when t is not later). Recorded in
 *  the history, so later delayed measurements replay through it.
 *  @retval DT_ESTATE not started. @retval DT_ERANGE t outside
 *  +-DT_TIME_LIMIT (nothing changed), or the prediction failed: the belief is
 *  lost and re-initialised at t, as for dt_est_process. */
DT_API int dt_est_advance(dt_est *est, dt_time t);
/** Allocates the scratch dt_est_fuse needs and the records of the beliefs
 *  its history keeps (once; about 125 KB for a 4-state estimator, 215 KB for
 *  a 32-state one, most of it the ageing of a 16-state group), so that
 *  fusing allocates nothing. Call before or
 *  after dt_est_start, never in a loop that must not allocate.
 *  @retval DT_ENOMEM. */
DT_API int dt_est_fuse_reserve(dt_est *est);
/** Fuses a remote belief (dtwin/fusion.h) into the estimate. The belief is
 *  aged with its sender's model (dt_belief_age) from b->t to the fusion
 *  time, max(the estimate's time, b->t) (the estimate is predicted there
 *  when b->t is later); its mapped states measure the signals b->signal
 *  through the estimator's own measurement model (linearized at the estimate
 *  for a callback): z_j = scale_j x[index_j] + offset_j with covariance
 *  scale_j scale_k P[index_j][index_k]. The innovation must pass the gate
 *  (its NIS against H P H' + R at the estimator's gate probability with m
 *  degrees of freedom). DT_FUSE_INDEPENDENT applies dt_kf_update (Joseph
 *  form); the CI modes dt_ci_update (*omega receives w, 1 for an update).
 *  The data time becomes at most b->t_data (b->t when 0; never the fusion
 *  time: aged data is not fresh data). A belief that covariance
 *  intersection gives no weight (w = 1) changes nothing: not the estimate,
 *  its time, its data time nor the history. The fused belief is an event of the history: a
 *  sample older than the fusion time that arrives later is applied at its own
 *  time and the belief fused again after it (no gate then). The history
 *  keeps at most 16 fused beliefs: a 17th drops the history through the
 *  oldest (a sample older than that is too old).
 *  @retval DT_OK fused (counted beliefs_fused). @retval DT_ESTATE not started,
 *  or no scratch reserved. @retval DT_EINVAL sizes, pointers, an index,
 *  a scale or offset not finite, a zero scale, the mode, b->t outside
 *  +-DT_TIME_LIMIT, a t_data after b->t. @retval DT_ENOTFOUND a signal without a measurement
 *  model. @retval DT_ENUMERIC the belief's or model's numbers (not finite,
 *  P or Q not symmetric PSD, R singular). @retval DT_ERANGE gated (counted
 *  beliefs_gated), or an overflow; a failed prediction loses the belief as
 *  in dt_est_process (re-initialised at the belief's time, so the next one
 *  is fused). Every other refusal is counted beliefs_refused and leaves the
 *  estimate unchanged. */
DT_API int dt_est_fuse(dt_est *est, const dt_remote_belief *b, double *omega);
/** The input u (p values) holds from time t on (t >= the estimate's time).
 *  @retval DT_EINVAL no inputs, non-finite u. @retval DT_ERANGE t before the
 *  estimate time or outside +-DT_TIME_LIMIT (nothing changed), or the prediction to t failed (the belief
 *  is lost and re-initialised at t with u, as for dt_est_process). */
DT_API int dt_est_set_input(dt_est *est, dt_time t, const double *u);

/** The time of the current estimate (common time base). */
DT_API dt_time dt_est_time(const dt_est *est);
/** Bumped by every change of the belief (update, predict, replay, parameter write). */
DT_API uint64_t dt_est_version(const dt_est *est);

/** A signal's belief at time t: mean and variance propagated from the estimate
 *  time to t (for t >= it; earlier t gets the current estimate), with the age
 *  of the data behind it (t - time of the newest measurement applied). */
typedef struct dt_belief {
    double value;       /**< the mean, in the signal's unit */
    double variance;    /**< propagated to the query time; 0 for parameters */
    dt_time t_estimate; /**< time of the filter's estimate */
    dt_time t_data;     /**< newest measurement applied (DT_TIME_MIN if none) */
    dt_time age;        /**< t - t_data */
    uint64_t version;   /**< dt_est_version() at the time of the call */
} dt_belief;
/** @retval DT_ENOTFOUND sig is not a state or parameter signal.
 *  @retval DT_ERANGE t outside +-DT_TIME_LIMIT. */
DT_API int dt_est_belief(dt_est *est, dt_signal_id sig, dt_time t, dt_belief *out);

/** A parameter signal's value. @retval DT_ENOTFOUND not a parameter. */
DT_API int dt_est_param(const dt_est *est, dt_signal_id sig, double *value);
/** Writes a parameter back (analytics, twin's thread); bumps the version.
 *  After dt_est_start a change is recorded in the history at the estimator's
 *  time (a write from an analytics hook: right after the update that ran it,
 *  at that sample's time), so a replay after a late sample uses, at each past
 *  event, the value it had. Writing the current value records nothing.
 *  @retval DT_ENOTFOUND not a parameter. @retval DT_EINVAL not finite. */
DT_API int dt_est_set_param(dt_est *est, dt_signal_id sig, double value);

/** The version of dt_analytics_ops (tables declaring 1..DT_ANALYTICS_ABI are
 *  accepted; see DT_SOURCE_ABI in adapter.h for the rule). */
#define DT_ANALYTICS_ABI 1u
/** Runs after every applied update with read access to the estimator; may write
 *  parameters back (dt_est_set_param). Return non-zero to report a problem
 *  (counted). */
typedef struct dt_analytics_ops {
    uint32_t abi; /**< DT_ANALYTICS_ABI */
    const char *name; /**< for messages */
    /** Runs after each applied update; non-zero reports a problem (counted). */
    int (*run)(void *self, dt_est *est, const dt_sample *applied);
} dt_analytics_ops;
/** Adds an analytics hook (before start; ops and self must outlive est).
 *  @retval DT_EABI ops->abi outside 1..DT_ANALYTICS_ABI. @retval DT_ELIMIT 8 already.
 *  @retval DT_ESTATE the estimator has started. @retval DT_EINVAL NULL. */
DT_API int dt_est_add_analytics(dt_est *est, const dt_analytics_ops *ops, void *self);

/** Declares an accuracy bound (before start); its budget is computed at start
 *  from the continuous model (A, Q) and the initial covariance.
 *  @retval DT_EINVAL bad weights or limit. @retval DT_ESTATE started. @retval DT_ELIMIT 16 bounds. @retval DT_ENOMEM. */
DT_API int dt_est_add_bound(dt_est *est, const char *name, const dt_bound *bound);
/** The number of declared bounds. */
DT_API size_t dt_est_bound_count(const dt_est *est);
/** tau_max in seconds from the steady-state posterior (INFINITY: never
 *  reached; NaN before dt_est_budgets or dt_est_start), and the bound's name.
 *  @retval DT_EINVAL i out of range. */
DT_API int dt_est_latency_budget(const dt_est *est, size_t i, double *tau_max,
                                 const char **name);

/** Index of sig among the inputs, or -1; and the number of inputs.
 *  Returns the index, or -1. */
DT_API int dt_est_input_index(const dt_est *est, dt_signal_id sig);
/** The number of inputs p. */
DT_API size_t dt_est_input_count(const dt_est *est);

/** How many bounds the belief propagated to t (after the last event) breaks;
 *  at or before the estimator's time, its current covariance. A propagation
 *  that fails counts every bound as broken. The twin checks this every cycle
 *  at `now`. Allocates nothing. */
DT_API size_t dt_est_bounds_violated_at(dt_est *est, dt_time t);
/** How many declared bounds the current covariance (at the last event) breaks. */
DT_API size_t dt_est_bounds_violated(const dt_est *est);
/** The number of signals whose last DT_EST_DISPUTE_RUN or more samples were
 *  all gated, or that were gated together with another signal at the same
 *  sample time while no newer sample has been applied: the data disputes the
 *  belief (a real change the model missed, or a faulty sensor not yet
 *  isolated). The twin does not act on a disputed
 *  belief; the gate's recovery or the sensor's isolation ends the dispute
 *  after dt_est_config.recover_after samples (docs/estimation.md). A signal
 *  with a period that falls silent stops disputing recover_after periods
 *  after its last gated sample (estimator time). */
DT_API size_t dt_est_disputed(const dt_est *est);
/** The values of a first measurement of sig that the gate admits, from the
 *  initial belief (x0, P0) and the signal's noise variance R:
 *  h'x0 + offset +- sqrt(g (h'P0 h + R)), g the gate's chi-square threshold
 *  (+-infinity with the gate off). A first reading outside is gated (and
 *  counts towards recovery): `dtwin check` warns when a signal's hard limits
 *  reach beyond it. Start-up time; the prediction to the first sample's time
 *  only widens the window.
 *  @retval DT_ENOTFOUND sig has no linear measurement model.
 *  @retval DT_ERANGE the window is not finite numbers. @retval DT_EINVAL NULL. */
DT_API int dt_est_first_window(const dt_est *est, dt_signal_id sig, double *lo, double *hi);
/** Consecutive gated samples of one signal that dispute the belief: two in a
 *  row happen by chance with probability (1 - gate probability)^2, 1e-8 at
 *  the default gate. */
#define DT_EST_DISPUTE_RUN 2
/** Time of the newest measurement applied (DT_TIME_MIN before any). */
DT_API dt_time dt_est_data_time(const dt_est *est);

/** One measured signal's counters. */
typedef struct dt_est_signal_stats {
    uint64_t updates;          /**< applied */
    uint64_t gated;            /**< rejected by the chi-square gate */
    uint64_t numeric_failures; /**< samples not applied for a numeric failure: an update
                                    that failed (belief unchanged), or the sample whose
                                    prediction failed and lost the belief */
    double nis_mean; /**< running mean of NIS (about 1 when consistent) */
    uint64_t recoveries; /**< gate recoveries this signal triggered (P inflated) */
    uint64_t isolations; /**< times it was isolated as the faulty one of a redundant group */
    uint64_t excluded;   /**< samples refused while isolated */
    uint64_t readmissions; /**< times it was re-admitted after consistent samples */
    int isolated;        /**< 1 while isolated */
} dt_est_signal_stats;

/** The estimator's counters. */
typedef struct dt_est_stats {
    uint64_t updates;          /**< measurements applied */
    uint64_t gated;            /**< rejected by the gate */
    uint64_t numeric_failures; /**< samples not applied for a numeric failure: an update
                                    that failed (belief unchanged), or the sample whose
                                    prediction failed and lost the belief */
    uint64_t unmodelled;       /**< samples of signals without a measurement model */
    uint64_t late_applied;   /**< delayed measurements applied at their time */
    uint64_t too_old;        /**< older than the history: dropped */
    uint64_t replayed;       /**< events re-run after delayed measurements */
    uint64_t analytics_errors; /**< analytics run() returned non-zero */
    double nis_mean;         /**< over all scalar updates */
    double nees_mean;        /**< over dt_est_nees calls (tests with known truth) */
    uint64_t nees_count;     /**< dt_est_nees calls */
    /** Divergence monitor: an exponentially weighted mean (weight 1/32) of every
     *  scalar innovation's NIS, gated ones included (each capped at 32, so that
     *  one outlier moves it by at most 1 and a single one never raises the
     *  flag). About 1 for a consistent filter (standard deviation about 0.25);
     *  above DT_EST_DIVERGENCE_NIS the filter is flagged as diverging (its model
     *  no longer explains the data). */
    double nis_ewma;
    int diverging;               /**< 1 while nis_ewma > DT_EST_DIVERGENCE_NIS */
    uint64_t divergence_events;  /**< times the flag was raised */
    uint64_t recoveries;  /**< gate recoveries (all signals) */
    uint64_t isolations;  /**< signals isolated as faulty (all signals) */
    uint64_t excluded;    /**< samples of isolated signals refused */
    /** Predictions that failed (overflow over a long gap of an unstable
     *  model): the belief was re-initialised to (x0, P0) at the sample's time,
     *  the history cleared and the data time reset (an infinite age until a
     *  sample is accepted). */
    uint64_t belief_lost;
    uint64_t bad_time; /**< samples with a time outside +-DT_TIME_LIMIT: refused */
    uint64_t beliefs_fused;   /**< remote beliefs fused (dt_est_fuse) */
    uint64_t beliefs_gated;   /**< remote beliefs refused by the gate */
    uint64_t beliefs_refused; /**< remote beliefs refused: arguments, an unmodelled
                                   signal, numbers (not PSD, not finite, overflow) */
    uint64_t beliefs_kept;    /**< remote beliefs covariance intersection gave no weight
                                   (w = 1): the estimate kept whole, nothing changed */
} dt_est_stats;
/** The weighted NIS above which the estimator is flagged as diverging. */
#define DT_EST_DIVERGENCE_NIS 3.0
/** A snapshot of the counters. */
DT_API void dt_est_stats_get(const dt_est *est, dt_est_stats *out);
/** One measured signal's counters. @retval DT_ENOTFOUND no measurement model. */
DT_API int dt_est_signal_stats_get(const dt_est *est, dt_signal_id sig, dt_est_signal_stats *out);
/** NEES (x - x_true)' P^-1 (x - x_true) of the current estimate, accumulated
 *  into the stats. @retval DT_ENUMERIC P not positive definite. */
DT_API int dt_est_nees(dt_est *est, const double *x_true, double *nees);

#ifdef __cplusplus
}
#endif
#endif
