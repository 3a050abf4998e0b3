/* The Kalman filter's state, shared by kf.c (create, predict, scalar
 * updates, peek) and kf_update.c (the vector update). */
#ifndef DT_KF_INTERNAL_H
#define DT_KF_INTERNAL_H

#include <math.h>
#include <stddef.h>

#include "dtwin/estimator.h"
#include "kf_kernels.h"

#define CACHE 8
#define MMAX DT_LA_MAX

enum { MODE_NONE, MODE_CONT, MODE_DISC, MODE_NONLIN };

typedef struct disc {
    double dt;
    int valid;
    double *Ad, *AdT, *Bd, *Qd;
} disc;



struct dt_kf {
    dt_allocator alloc;
    size_t n, p;
    int mode;
    double *x, *P, *u;
    double *A, *B, *Q;     /* continuous model, or F, G, Qd for discrete */
    dt_kf_process_fn f;
    void *f_user;
    disc cache[CACHE];
    unsigned cache_next;
    /* scratch */
    double *work;          /* Van Loan / expm */
    double *M, *E;         /* (n+p)^2 blocks for Bd */
    double *t1, *t2, *a, *k, *xn;
    double *HP, *S, *L, *Kt, *K, *y, *w, *Pn, *jw;
    double *AdT_fixed; /* discrete / EKF: the transpose of the transition */
    double *dd;        /* double-double scalar update (DT__KF_DD_WORK) */
    double *Hw, *zw, *rw, *bx, *bP; /* vector update's sequential fallback */
    double *mem;       /* the one allocation (x/xn and P/Pn swap roles) */
    dt__kf_predict_fn predict_k;
    dt__kf_joseph_fn joseph_k;
    dt__kf_ph_fn ph_k;
    dt_kf_stats st;
};

static inline size_t sq(size_t v) { return v * v; }

static inline int dt__kf_finite_all(const double *v, size_t cnt)
{
    for (size_t i = 0; i < cnt; i++)
        if (!isfinite(v[i]))
            return 0;
    return 1;
}

static inline void dt__kf_swap(double **a, double **b)
{
    double *t = *a;
    *a = *b;
    *b = t;
}

/* kf.c: the scalar update of innovation y (dt_kf_update_scalar's core);
 * exact: straight to double-double (the vector update's sequential form). */
int dt__kf_scalar_core(dt_kf *kf, const double *h, double y, double r, double gate,
                       dt_kf_result *res, int exact);

#endif
