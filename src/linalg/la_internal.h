/* Unchecked kernels shared inside linalg (dimensions up to 2 * DT_LA_MAX). */
#ifndef DTWIN_SRC_LA_INTERNAL_H
#define DTWIN_SRC_LA_INTERNAL_H

#include <stddef.h>

/* C (n x m) = A (n x k) B (k x m); no aliasing. */
void dt__mul(size_t n, size_t k, size_t m, const double *A, const double *B,
             double *C);

#endif
