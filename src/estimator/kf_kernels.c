/* Size-specialized instances of the filter kernels (kf_kernels.h). This file
 * is compiled at -O3 (CMakeLists.txt): at -O2 GCC keeps these constant-trip
 * loops rolled and scalar, at -O3 it unrolls and vectorizes them. */
#include "kf_kernels.h"

/* Instances of the kernels for the sizes twins use most; other sizes run the
 * same code with n as a run-time value. */
#define KF_INSTANCE(N)                                                         \
    static double predict_##N(const double *Ad, const double *AdT, const double *P,  \
                              const double *Qd, double *T, double *Pn)        \
    {                                                                          \
        return kf_predict_cov(N, Ad, AdT, P, Qd, T, Pn);                       \
    }                                                                          \
    static double joseph_##N(const double *P, const double *h, const double *a,  \
                             const double *k, double r, double *g, double *Pn) \
    {                                                                          \
        return kf_scalar_joseph(N, P, h, a, k, r, g, Pn);                      \
    }                                                                          \
    static double ph_##N(const double *P, const double *h, double *a)          \
    {                                                                          \
        return kf_ph(N, P, h, a);                                              \
    }
KF_INSTANCE(1)
KF_INSTANCE(2)
KF_INSTANCE(3)
KF_INSTANCE(4)
KF_INSTANCE(5)
KF_INSTANCE(6)
KF_INSTANCE(7)
KF_INSTANCE(8)
KF_INSTANCE(9)
KF_INSTANCE(10)
KF_INSTANCE(12)
KF_INSTANCE(16)
KF_INSTANCE(24)
KF_INSTANCE(27)
KF_INSTANCE(32)

#define KS(N) {N, predict_##N, joseph_##N, ph_##N}
static const dt__kf_kernel_set kernels[] = {KS(1), KS(2),  KS(3),  KS(4),  KS(5),
                                     KS(6), KS(7),  KS(8),  KS(9),  KS(10),
                                     KS(12), KS(16), KS(24), KS(27), KS(32)};



const dt__kf_kernel_set *dt__kf_kernels_for(size_t n)
{
    for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++)
        if (kernels[i].n == n)
            return &kernels[i];
    return NULL;
}
