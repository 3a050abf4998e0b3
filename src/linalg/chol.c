#include <math.h>

#include "dtwin/error.h"
#include "dtwin/linalg.h"

int dt_chol(size_t n, const double *A, double *L)
{
    if (n < 1 || n > DT_LA_MAX || !A || !L)
        return DT_EINVAL;
    /* Cholesky-Banachiewicz, row by row; reads only the lower triangle of A so
     * L may alias A (each A(i,j) is read before L(i,j) is written). */
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j <= i; j++) {
            double s = A[i * n + j];
            for (size_t k = 0; k < j; k++)
                s -= L[i * n + k] * L[j * n + k];
            if (i == j) {
                /* `!(s > 0)` also catches NaN. */
                if (!(s > 0.0) || !isfinite(s))
                    return DT_ENUMERIC;
                L[i * n + i] = sqrt(s);
            } else {
                L[i * n + j] = s / L[j * n + j];
            }
        }
        for (size_t j = i + 1; j < n; j++)
            L[i * n + j] = 0.0;
    }
    return DT_OK;
}

int dt_chol_solve(size_t n, size_t m, const double *L, const double *B,
                  double *X)
{
    if (n < 1 || n > DT_LA_MAX || m < 1 || m > DT_LA_MAX || !L || !B || !X)
        return DT_EINVAL;
    for (size_t i = 0; i < n; i++) {
        double d = L[i * n + i];
        if (!(d != 0.0) || !isfinite(d))
            return DT_ENUMERIC;
    }
    for (size_t c = 0; c < m; c++) {
        /* Forward: L y = b. */
        for (size_t i = 0; i < n; i++) {
            double s = B[i * m + c];
            for (size_t k = 0; k < i; k++)
                s -= L[i * n + k] * X[k * m + c];
            X[i * m + c] = s / L[i * n + i];
        }
        /* Backward: L' x = y. */
        for (size_t ii = n; ii-- > 0;) {
            double s = X[ii * m + c];
            for (size_t k = ii + 1; k < n; k++)
                s -= L[k * n + ii] * X[k * m + c];
            X[ii * m + c] = s / L[ii * n + ii];
        }
    }
    return DT_OK;
}
