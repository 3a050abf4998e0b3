/* The estimator section's readers, shared by estimator_json.c (the
 * section -> a dt_est) and est_json_read.c (matrices, vectors, signal lists,
 * weights, covariance checks, Q = G Qc G'). */
#ifndef DTWIN_EST_JSON_H
#define DTWIN_EST_JSON_H

#include "../desc/desc.h"
#include "dtwin/estimator.h"

typedef struct jctx {
    const dt_model *model;
    dt_diag *diag;
    const dt_allocator *alloc;
    const dt_est_config *cfg;
    dt_est *est; /* what the reader built */
} jctx;

/* The largest variance the description may give (Q, P0; signals' noise has the
 * same limit in model_load.c): the update multiplies two covariance entries,
 * and above sqrt(DBL_MAX) ~ 1.3e154 that product overflows. */
#define VARIANCE_MAX 1e150
/* The largest |entry| of A (per second) or of the discrete F (per step): a
 * guard against typos (1e300), not a numerical limit. A fast stable mode
 * (an electrical transient at -1e12/s, faster than the nanosecond clock) is
 * exact for every step: the discretization is balanced, evaluated on a short
 * step and doubled, so e^(-A dt) never appears. A fast unstable one
 * overflows over a long step, which the estimator reports as a lost belief. */
#define RATE_MAX 1e15
/* The discrete F's entries multiply P twice per step: 1e9 keeps F P F' far
 * from overflow for every P a description may give. */
#define STEP_MAX 1e9
/* Positive semi-definiteness: an LDL' elimination whose pivots may be 0 but
 * not below -PSD_TOL x the largest diagonal entry. 1e-9 is ~1e7 roundings of
 * a double: a rank-deficient matrix written with 10 or more significant
 * digits (G G' printed by a program, or [[1,1],[1,1]] by hand) passes, while
 * a negative eigenvalue larger than a billionth of the largest variance
 * cannot come from rounding and is refused. */
#define PSD_TOL 1e-9

const char *dt__ej_got(const dt_config *e, char *buf, size_t cap);
const char *dt__ej_index_name(jctx *c, const dt_signal_id *states, size_t i, char *buf,
                              size_t cap);
int dt__ej_matrix(jctx *c, const dt_config *v, const char *path, size_t rows, size_t cols,
                  int diag_ok, double *out);
int dt__ej_vector(jctx *c, const dt_config *v, const char *path, size_t n, double *out);
int dt__ej_signal_list(jctx *c, const dt_config *v, const char *path, dt_role role,
                       dt_signal_id *out, size_t *n);
int dt__ej_weights(jctx *c, const dt_config *v, const char *path, dt_est *est, double *w);
int dt__ej_rates(jctx *c, const double *A, size_t n, int discrete);
int dt__ej_covariance(jctx *c, const char *path, const char *what, const double *M, size_t n,
                      const dt_signal_id *states, double *S);
int dt__ej_noise_input(jctx *c, const dt_config *jG, const dt_config *jQc, size_t n,
                       const dt_signal_id *states, double *Q);

#endif
