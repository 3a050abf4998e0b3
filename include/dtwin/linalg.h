/** @file
 * dtwin: small dense linear algebra. */
#ifndef DTWIN_LINALG_H
#define DTWIN_LINALG_H

#include <stddef.h>
#include "dtwin/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Dimension limit for every matrix argument (state, measurement, input). The
 *  matrix exponential also accepts up to 2 * DT_LA_MAX, for Van Loan's blocks. */
#define DT_LA_MAX 32

/* Conventions, for every function below:
 * - matrices are dense, row-major, contiguous: element (i, j) of an r x c
 *   matrix M is M[i * c + j];
 * - nothing allocates; functions that need scratch take `work`, whose size in
 *   doubles is given by the DT_*_WORK macro next to them;
 * - an output may alias an input only where the comment says so;
 * - dimensions outside 1..DT_LA_MAX or a NULL pointer give DT_EINVAL and leave
 *   every output untouched. */

/** C (n x m) = A (n x k) * B (k x m). C must not alias A or B.
 *  @retval DT_EINVAL dimensions out of range or a NULL pointer (see above); outputs untouched. */
DT_API int dt_mat_mul(size_t n, size_t k, size_t m, const double *A,
                      const double *B, double *C);
/** C (n x m) = A (n x k) * B' where B is m x k. C must not alias A or B.
 *  @retval DT_EINVAL dimensions out of range or a NULL pointer (see above); outputs untouched. */
DT_API int dt_mat_mul_bt(size_t n, size_t k, size_t m, const double *A,
                         const double *B, double *C);
/** C = A + B (n x m). C may alias A or B.
 *  @retval DT_EINVAL dimensions out of range or a NULL pointer (see above); outputs untouched. */
DT_API int dt_mat_add(size_t n, size_t m, const double *A, const double *B,
                      double *C);
/** C = A - B (n x m). C may alias A or B.
 *  @retval DT_EINVAL dimensions out of range or a NULL pointer (see above); outputs untouched. */
DT_API int dt_mat_sub(size_t n, size_t m, const double *A, const double *B,
                      double *C);
/** C = s * A (n x m). C may alias A.
 *  @retval DT_EINVAL dimensions out of range or a NULL pointer (see above); outputs untouched. */
DT_API int dt_mat_scale(size_t n, size_t m, double s, const double *A,
                        double *C);
/** C (m x n) = A' where A is n x m. C must not alias A.
 *  @retval DT_EINVAL dimensions out of range or a NULL pointer (see above); outputs untouched. */
DT_API int dt_mat_transpose(size_t n, size_t m, const double *A, double *C);
/** A = I (n x n).
 *  @retval DT_EINVAL dimensions out of range or a NULL pointer (see above); outputs untouched. */
DT_API int dt_mat_identity(size_t n, double *A);
/** A = (A + A') / 2 in place (n x n): removes the rounding asymmetry that
 *  products leave in a covariance.
 *  @retval DT_EINVAL dimensions out of range or a NULL pointer (see above); outputs untouched. */
DT_API int dt_mat_symmetrize(size_t n, double *A);
/** Induced 1-norm (largest absolute column sum) of an n x m matrix; -1 on
 *  invalid arguments. */
DT_API double dt_mat_norm1(size_t n, size_t m, const double *A);

/** Scratch for dt_mat_abat: m * n doubles. */
#define DT_ABAT_WORK(n, m) ((size_t)(m) * (size_t)(n))
/** C (m x m) = A * B * A' with A m x n and B n x n. No aliasing.
 *  @retval DT_EINVAL dimensions out of range or a NULL pointer (see above); outputs untouched. */
DT_API int dt_mat_abat(size_t n, size_t m, const double *A, const double *B,
                       double *C, double *work);

/** Cholesky factor of a symmetric positive-definite A (n x n): L lower
 *  triangular with L L' = A, upper triangle set to zero. Only the lower
 *  triangle of A is read. L may alias A.
 *  @retval 0 success.
 *  @retval DT_ENUMERIC A is not positive definite (a pivot is <= 0 or not
 *          finite). If L does not alias A, A is untouched; L is undefined. */
DT_API int dt_chol(size_t n, const double *A, double *L);
/** Solves (L L') X = B for X (n x m) given the factor from dt_chol.
 *  X may alias B. @retval DT_ENUMERIC a zero or non-finite diagonal in L. */
DT_API int dt_chol_solve(size_t n, size_t m, const double *L, const double *B,
                         double *X);

/** Scratch for dt_joseph: 2 n^2 + n m doubles. */
#define DT_JOSEPH_WORK(n, m)                                                   \
    (2 * (size_t)(n) * (size_t)(n) + (size_t)(n) * (size_t)(m))
/** Joseph-form covariance update, in place:
 *  P <- (I - K H) P (I - K H)' + K R K', then symmetrized.
 *  P n x n, K n x m, H m x n, R m x m. Valid for any gain K (not only the
 *  optimal one), which is why it keeps P positive semi-definite under rounding.
 *  @retval DT_EINVAL dimensions out of range or a NULL pointer (see above); outputs untouched. */
DT_API int dt_joseph(size_t n, size_t m, double *P, const double *K,
                     const double *H, const double *R, double *work);

/** Scratch for dt_expm: 7 n^2 doubles. */
#define DT_EXPM_WORK(n) (7 * (size_t)(n) * (size_t)(n))
/** E = e^A (n x n, n up to 2 * DT_LA_MAX) by Pade approximation of degree 3,
 *  5, 7, 9 or 13 with scaling and squaring (Higham, SIAM J. Matrix Anal.
 *  Appl. 26(4), 2005). E must not alias A.
 *  @retval DT_ENUMERIC A has a non-finite entry, or the Pade denominator is
 *          singular.
 *  @retval DT_ERANGE ||A||_1 is so large that e^A overflows any double. */
DT_API int dt_expm(size_t n, const double *A, double *E, double *work);

/** Scratch for dt_vanloan: 36 n^2 doubles. */
#define DT_VANLOAN_WORK(n)                                                     \
    (4 * (size_t)(n) * (size_t)(n) + 4 * (size_t)(n) * (size_t)(n) +           \
     DT_EXPM_WORK(2 * (size_t)(n)))
/** Van Loan's method (IEEE TAC 23(3), 1978): discretizes dx = A x dt + dw with
 *  E[dw dw'] = Q dt over a step dt >= 0 seconds, giving
 *  Ad = e^{A dt} and Qd = int_0^dt e^{A s} Q e^{A' s} ds (symmetrized).
 *  A badly scaled A is balanced first (Parlett and Reinsch 1969, as LAPACK's
 *  dgebal without permutations: a diagonal similarity by powers of two, so
 *  exact, Q transformed with it; entries of 1e12 next to 1e-12 otherwise cost
 *  8 digits). The exponential of the 2n x 2n block [[-A, Q], [0, A']] h is
 *  taken on a short step h = dt / 2^k with ||A h||_1 <= 1, where its e^{-A h}
 *  block cannot overflow, then k exact doublings Qd <- Qd + Ad Qd Ad',
 *  Ad <- Ad^2 reach dt, with Ad carried as Ad - I so a slow mode keeps its
 *  digits. A fast stable mode over a long step is as accurate as a slow one,
 *  and Ad, Qd are finite for any dt when A is stable. Ad and Qd must not
 *  alias A, Q or each other.
 *  @retval DT_EINVAL dimensions out of range, a NULL pointer, or dt negative
 *          or not finite; outputs untouched.
 *  @retval DT_ENUMERIC A or Q has a non-finite entry; outputs untouched.
 *  @retval DT_ERANGE an entry of Ad or Qd overflows (a growing mode over a
 *          long step, e.g. a = 1/s for dt > 354 s); outputs undefined. Never
 *          DT_OK with a non-finite output. */
DT_API int dt_vanloan(size_t n, const double *A, const double *Q, double dt,
                      double *Ad, double *Qd, double *work);

/** Scratch for dt_vanloan_series: 5 n^2 doubles. */
#define DT_VANLOAN_SERIES_WORK(n) (5 * (size_t)(n) * (size_t)(n))
/** The same pair as dt_vanloan, computed on n x n matrices: A balanced as in
 *  dt_vanloan (only a read-only check when no row and column differ by more
 *  than a factor 16), Taylor series for Ad and for Qd (through the Lyapunov
 *  operator X -> A X + X A') with a rigorous tail bound after scaling dt so
 *  ||A h||_1 <= 1/2, then the same exact doublings. Faster than the block
 *  exponential; the filter uses it for each new dt. Same aliasing rules.
 *  @retval DT_EINVAL dimensions out of range, a NULL pointer, or dt negative
 *          or not finite; outputs untouched.
 *  @retval DT_ENUMERIC A or Q has a non-finite entry; outputs untouched.
 *  @retval DT_ERANGE an entry of Ad or Qd overflows, or ||A dt||_1 > 2^999;
 *          outputs undefined. Never DT_OK with a non-finite output. */
DT_API int dt_vanloan_series(size_t n, const double *A, const double *Q, double dt,
                             double *Ad, double *Qd, double *work);

#ifdef __cplusplus
}
#endif
#endif
