/** @file
 * dtwin: remote beliefs. Ageing a belief (x, P) over a time under a
 * continuous model (A, Q), and fusing two beliefs of the same state: by
 * covariance intersection when their errors may be correlated in an unknown
 * way, or by the ordinary information sum when they are known to be
 * independent. */
#ifndef DTWIN_FUSION_H
#define DTWIN_FUSION_H

#include <stddef.h>
#include <stdint.h>

#include "dtwin/export.h"
#include "dtwin/linalg.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Conventions, for every function below (those of dtwin/linalg.h):
 * - n is 1..DT_FUSION_MAX; vectors hold n doubles, matrices n x n, dense,
 *   row-major;
 * - nothing allocates; scratch is `work`, sized by the DT_*_WORK macro next
 *   to each function;
 * - the outputs may alias the inputs (everything is computed in work and
 *   copied out last), and a failure leaves every output untouched;
 * - DT_EINVAL is for the arguments (n, a NULL pointer, dt, the criterion),
 *   DT_ENUMERIC for the numbers (a non-finite entry, a covariance that is not
 *   symmetric or not positive (semi-)definite), DT_ERANGE for a result that
 *   overflows. Never DT_OK with a non-finite output.
 * - pure functions of their arguments: any thread. */

/** The largest state dimension accepted (that of dtwin/linalg.h). */
#define DT_FUSION_MAX DT_LA_MAX

/** Scratch for dt_belief_age: DT_VANLOAN_WORK(n) + 4 n^2 + n doubles. */
#define DT_BELIEF_AGE_WORK(n)                                                  \
    (DT_VANLOAN_WORK(n) + 4 * (size_t)(n) * (size_t)(n) + (size_t)(n))
/** Ages a belief by dt >= 0 seconds under the sender's continuous model
 *  dx = A x dt + dw, E[dw dw'] = Q dt: x' = Phi x, P' = Phi P Phi' + Qd with
 *  (Phi, Qd) from dt_vanloan, P' symmetrized (the prediction of a Kalman
 *  filter without input; a variance that rounding leaves negative is set to
 *  0 with its covariances, as dt_kf_predict does). dt = 0 copies the input
 *  unchanged.
 *  @param n states, 1..DT_FUSION_MAX. @param x mean (n). @param P covariance
 *  (n x n): symmetric (to 1e-12 relative, the filter's test) and positive
 *  semi-definite. @param A, Q the continuous model (n x n; Q symmetric
 *  positive semi-definite). @param dt seconds, finite, >= 0.
 *  @param x_out, P_out the aged belief (may alias x and P).
 *  @param work DT_BELIEF_AGE_WORK(n) doubles.
 *  Positive semi-definite is tested on the correlation matrix
 *  C = D^-1/2 P D^-1/2, D = diag(P): C + 4 (n + 1) 2^-52 I must have a
 *  Cholesky factor (so a zero variance is accepted when its row is zero, and
 *  an indefiniteness below rounding is not refused).
 *  @retval DT_OK x_out and P_out hold the aged belief, every entry finite.
 *  @retval DT_EINVAL n out of range, a NULL pointer, dt negative or not finite.
 *  @retval DT_ENUMERIC a non-finite entry in x, P, A or Q; P or Q not
 *          symmetric or not positive semi-definite.
 *  @retval DT_ERANGE Phi, Qd, x' or P' overflows (a growing mode over a
 *          long dt).
 *  Every failure leaves x_out and P_out untouched. */
DT_API int dt_belief_age(size_t n, const double *x, const double *P, const double *A,
                         const double *Q, double dt, double *x_out, double *P_out,
                         double *work);

/** What covariance intersection minimizes over its weight. */
typedef enum dt_ci_criterion {
    DT_CI_TRACE = 0, /**< trace(P): the sum of the variances */
    DT_CI_DET = 1    /**< det(P): the volume of the uncertainty ellipsoid */
} dt_ci_criterion;

/** Scratch for dt_ci_fuse: 8 n^2 + 3 n doubles. */
#define DT_CI_WORK(n) (8 * (size_t)(n) * (size_t)(n) + 3 * (size_t)(n))
/** Covariance intersection (Julier and Uhlmann, 1997) of two beliefs of the
 *  same state whose errors may be correlated in an unknown way:
 *  P^-1 = w Pa^-1 + (1 - w) Pb^-1, x = P (w Pa^-1 xa + (1 - w) Pb^-1 xb),
 *  with w in [0, 1] minimizing trace(P) or det(P). P is consistent (not
 *  smaller than the fused error's covariance) for any correlation between
 *  the two errors, provided Pa and Pb are consistent for their own.
 *
 *  Both objectives are convex in w: P(w)^-1 = Y(w) is affine in w, and
 *  Y -> trace(Y^-1) and Y -> -log det(Y) are convex on positive definite
 *  matrices (Boyd and Vandenberghe, Convex Optimization, 2004, section 3.1.5
 *  and exercise 3.18), so their derivatives in w, -trace(Y^-1 D Y^-1) and
 *  -trace(Y^-1 D) with D = Pa^-1 - Pb^-1, increase with w. The minimum is
 *  w = 0 when the derivative at 0 is positive, w = 1 when it is negative at
 *  1, and otherwise the root of the derivative, bracketed and narrowed by
 *  regula falsi with the Illinois step (bisection when a secant step
 *  leaves the bracket) until the bracket is below 2^-40 (each step a
 *  Cholesky factorization and an inverse of Y; typically under 10 steps).
 *  A derivative within its rounding error (8 (n + 2) 2^-52 times the same
 *  sum over |Y^-1| and |Pa^-1| + |Pb^-1|) of 0 counts as 0: the objective
 *  is flat there to rounding, and the search stops at that w. Solving for
 *  the derivative's root rather than comparing objective values (golden
 *  section) locates w to rounding, not to the square root of it.
 *  At w = 1 the result is exactly (xa, Pa), at w = 0 exactly (xb, Pb), and
 *  Pa equal to Pb entry for entry gives P = Pa, x = (xa + xb) / 2, w = 1/2.
 *  Pa and Pb are first scaled by one power of two (exact, and the result
 *  scales back) so entries near 1e+-300 do not overflow their inverses.
 *  @param n states, 1..DT_FUSION_MAX. @param xa, Pa first belief;
 *  @param xb, Pb second belief (Pa, Pb symmetric to 1e-12 relative and
 *  positive definite to working precision: a Cholesky factor whose every
 *  pivot L_ii^2 exceeds 4 (n + 1) 2^-52 P_ii, so an exactly singular P,
 *  which rounding may let through a plain Cholesky, is refused). @param criterion DT_CI_TRACE or
 *  DT_CI_DET. @param x_out, P_out the fused belief (may alias the inputs).
 *  @param omega receives w, the weight of belief a (may be NULL).
 *  @param work DT_CI_WORK(n) doubles.
 *  @retval DT_OK fused; P_out symmetric, positive definite, finite.
 *  @retval DT_EINVAL n out of range, a NULL pointer (but omega), an unknown
 *          criterion.
 *  @retval DT_ENUMERIC a non-finite entry; Pa or Pb not symmetric or not
 *          positive definite; their scales so far apart (beyond about
 *          1e300) that a weighted sum has no Cholesky factor.
 *  @retval DT_ERANGE xb - xa or the fused belief overflows.
 *  Every failure leaves x_out, P_out and omega untouched. */
DT_API int dt_ci_fuse(size_t n, const double *xa, const double *Pa, const double *xb,
                      const double *Pb, dt_ci_criterion criterion, double *x_out,
                      double *P_out, double *omega, double *work);

/** Scratch for dt_fuse_independent: 7 n^2 + 2 n doubles. */
#define DT_FUSE_WORK(n) (7 * (size_t)(n) * (size_t)(n) + 2 * (size_t)(n))
/** The ordinary fusion of two beliefs whose errors are independent:
 *  P^-1 = Pa^-1 + Pb^-1, x = P (Pa^-1 xa + Pb^-1 xb), i.e. the information
 *  form's sum. Evaluated as the Kalman update of a by the measurement b
 *  (K = Pa (Pa + Pb)^-1 from a Cholesky factor, x = xa + K (xb - xa),
 *  P = (I - K) Pa (I - K)' + K Pb K' by dt_joseph), which inverts neither
 *  Pa nor Pb and keeps P positive semi-definite under rounding. Overconfident
 *  when the errors are correlated: use dt_ci_fuse unless independence is
 *  declared. Same scaling, checks and aliasing as dt_ci_fuse.
 *  @param n states, 1..DT_FUSION_MAX. @param xa, Pa first belief;
 *  @param xb, Pb second belief (as dt_ci_fuse's).
 *  @param x_out, P_out the fused belief (may alias the inputs).
 *  @param work DT_FUSE_WORK(n) doubles.
 *  @retval DT_OK fused; P_out symmetric, finite.
 *  @retval DT_EINVAL n out of range or a NULL pointer.
 *  @retval DT_ENUMERIC a non-finite entry; Pa or Pb not symmetric or not
 *          positive definite.
 *  @retval DT_ERANGE xb - xa or the fused belief overflows.
 *  Every failure leaves x_out and P_out untouched. */
DT_API int dt_fuse_independent(size_t n, const double *xa, const double *Pa, const double *xb,
                               const double *Pb, double *x_out, double *P_out, double *work);

/** Scratch for dt_ci_update: 6 n^2 + m^2 + n m + m + 2 n doubles. */
#define DT_CI_UPDATE_WORK(n, m)                                                \
    (6 * (size_t)(n) * (size_t)(n) + (size_t)(m) * (size_t)(m) +               \
     (size_t)(n) * (size_t)(m) + (size_t)(m) + 2 * (size_t)(n))
/** Covariance intersection of a belief (x, P) of n states with a belief of
 *  m linear functions of them, z = H x + v, cov(v) = R, given as the
 *  innovation y = z - H x: the information form
 *  P'^-1 = w P^-1 + (1 - w) H' R^-1 H, x' = x + (1 - w) P' H' R^-1 y, with
 *  w in [0, 1] minimising trace(P') or det(P'). With H = I and R = Pb this is
 *  dt_ci_fuse of (x, P) and (x + y, Pb). When the m functions do not
 *  observe every state (rank H' R^-1 H < n) the objective grows without
 *  bound as w -> 0 and w stays above 0. Same search, scaling, checks,
 *  aliasing and failures as dt_ci_fuse; at w = 1 the result is exactly
 *  (x, P) (the second belief would only widen it).
 *  @param n states, 1..DT_FUSION_MAX. @param m functions, 1..DT_FUSION_MAX.
 *  @param x, P the belief (P positive definite to working precision).
 *  @param H m x n. @param y the innovation (m). @param R m x m, symmetric,
 *  positive definite to working precision. @param criterion DT_CI_TRACE or
 *  DT_CI_DET. @param x_out, P_out the fused belief (n, n x n).
 *  @param omega receives w (may be NULL). @param work DT_CI_UPDATE_WORK(n, m).
 *  @retval DT_OK fused. @retval DT_EINVAL an argument. @retval DT_ENUMERIC
 *  the numbers. @retval DT_ERANGE the result overflows. */
DT_API int dt_ci_update(size_t n, size_t m, const double *x, const double *P, const double *H,
                        const double *y, const double *R, dt_ci_criterion criterion,
                        double *x_out, double *P_out, double *omega, double *work);

/** How a remote belief is fused with the reader's own. */
typedef enum dt_fuse_mode {
    DT_FUSE_CI_TRACE = 0,   /**< covariance intersection, trace criterion (the default) */
    DT_FUSE_CI_DET = 1,     /**< covariance intersection, determinant criterion */
    DT_FUSE_INDEPENDENT = 2 /**< an ordinary update: the sender declares its errors
                                 independent of the reader's */
} dt_fuse_mode;

/** The most states of a remote belief group a twin fuses. */
#define DT_REMOTE_STATES_MAX 16
/** The most of those states mapped to the reader's signals. */
#define DT_REMOTE_MAPPED_MAX 16

/** A belief of another twin (a child's, or a federated peer's), as its
 *  sender holds it: the group's mean and covariance at time t, the
 *  sender's continuous model of the group (to age it to the reader's time),
 *  and which states measure which of the reader's signals. */
typedef struct dt_remote_belief {
    size_t n;            /**< states in the sender's group, 1..DT_REMOTE_STATES_MAX */
    const double *x;     /**< mean (n) */
    const double *P;     /**< covariance (n x n, row-major) */
    const double *A;     /**< the group's dynamics, dx = A x dt + dw (n x n) */
    const double *Q;     /**< E[dw dw'] = Q dt (n x n) */
    int64_t t;           /**< when x and P hold (ns): on the sender's clock when offered
                              to a source, on the reader's time base when fused */
    size_t m;            /**< mapped states, 1..DT_REMOTE_MAPPED_MAX */
    const uint32_t *index;  /**< the group state of each mapped one (m) */
    const uint32_t *signal; /**< the reader's signal it measures (m) */
    const double *scale;    /**< reader value = scale x + offset (m) */
    const double *offset;   /**< (m) */
    dt_fuse_mode mode;      /**< how to fuse it */
    int64_t t_data; /**< the newest data behind it, <= t (an aged or fused belief holds at
                         t, its data is older); 0: t */
    int64_t t_sent; /**< the sender's clock when it sent it, >= t (a source's clock model
                         learns the sender's offset from it); 0: t */
} dt_remote_belief;

#ifdef __cplusplus
}
#endif
#endif
