/* Kalman filter core: discretization with a dt cache, predict, scalar
 * updates, peek. All memory is allocated in dt_kf_create; the vector update
 * is in kf_update.c. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "../platform/internal.h"
#include "dtwin/estimator.h"
#include "dtwin/linalg.h"
#include "../linalg/la_internal.h"
#include "kf_kernels.h"

#include "kf_internal.h"


int dt_kf_create(size_t n, size_t p, const dt_allocator *alloc, dt_kf **out)
{
    if (out == NULL || n < 1 || n > DT_LA_MAX || p > DT_LA_MAX)
        return DT_EINVAL;
    if (alloc == NULL)
        alloc = dt_allocator_default();
    size_t np = n + p;
    size_t wv = DT_VANLOAN_WORK(n), we = DT_EXPM_WORK(np);
    size_t doubles = n + sq(n) + (p ? p : 1)             /* x P u */
                     + sq(n) + n * (p ? p : 1) + sq(n)   /* A B Q */
                     + CACHE * (3 * sq(n) + n * (p ? p : 1)) + sq(n) + (wv > we ? wv : we) +
                     2 * sq(np) + 2 * sq(n) + 3 * n       /* M E t1 t2 a k xn */
                     + 3 * MMAX * n + 2 * sq(MMAX) + n * MMAX + 2 * MMAX + sq(n) +
                     DT_JOSEPH_WORK(n, MMAX) + DT__KF_DD_WORK(n) /* dd */
                     + MMAX * n + 2 * MMAX + n + sq(n); /* Hw zw rw bx bP */
    dt_kf *kf = dt__calloc(alloc, 1, sizeof *kf);
    double *mem = kf ? dt__calloc(alloc, doubles, sizeof *mem) : NULL;
    if (mem == NULL) {
        dt__free(alloc, kf);
        return DT_ENOMEM;
    }
    kf->alloc = *alloc;
    kf->mem = mem;
    kf->n = n;
    kf->p = p;
    size_t pp = p ? p : 1;
    double *c = mem;
#define TAKE(ptr, cnt) ((ptr) = c, c += (cnt))
    TAKE(kf->x, n);
    TAKE(kf->P, sq(n));
    TAKE(kf->u, pp);
    TAKE(kf->A, sq(n));
    TAKE(kf->B, n * pp);
    TAKE(kf->Q, sq(n));
    for (int i = 0; i < CACHE; i++) {
        TAKE(kf->cache[i].Ad, sq(n));
        TAKE(kf->cache[i].AdT, sq(n));
        TAKE(kf->cache[i].Bd, n * pp);
        TAKE(kf->cache[i].Qd, sq(n));
    }
    TAKE(kf->work, wv > we ? wv : we);
    TAKE(kf->M, sq(np));
    TAKE(kf->E, sq(np));
    TAKE(kf->t1, sq(n));
    TAKE(kf->t2, sq(n));
    TAKE(kf->a, n);
    TAKE(kf->k, n);
    TAKE(kf->xn, n);
    TAKE(kf->HP, MMAX * n);
    TAKE(kf->Kt, MMAX * n);
    TAKE(kf->K, n * MMAX);
    TAKE(kf->S, sq(MMAX));
    TAKE(kf->L, sq(MMAX));
    TAKE(kf->y, MMAX);
    TAKE(kf->w, MMAX);
    TAKE(kf->Pn, sq(n));
    TAKE(kf->jw, DT_JOSEPH_WORK(n, MMAX));
    TAKE(kf->AdT_fixed, sq(n));
    TAKE(kf->dd, DT__KF_DD_WORK(n));
    TAKE(kf->Hw, MMAX * n);
    TAKE(kf->zw, MMAX);
    TAKE(kf->rw, MMAX);
    TAKE(kf->bx, n);
    TAKE(kf->bP, sq(n));
#undef TAKE
    const dt__kf_kernel_set *ks = dt__kf_kernels_for(n);
    if (ks != NULL) {
        kf->predict_k = ks->predict;
        kf->joseph_k = ks->joseph;
        kf->ph_k = ks->ph;
    }
    *out = kf;
    return DT_OK;
}

void dt_kf_destroy(dt_kf *kf)
{
    if (kf == NULL)
        return;
    dt_allocator a = kf->alloc;
    dt__free(&a, kf->mem);
    dt__free(&a, kf);
}

size_t dt_kf_dim(const dt_kf *kf) { return kf ? kf->n : 0; }

static void invalidate(dt_kf *kf)
{
    for (int i = 0; i < CACHE; i++)
        kf->cache[i].valid = 0;
}

int dt_kf_set_continuous(dt_kf *kf, const double *A, const double *B, const double *Q)
{
    if (kf == NULL || A == NULL || Q == NULL || (kf->p > 0 && B == NULL))
        return DT_EINVAL;
    size_t n = kf->n;
    if (!dt__kf_finite_all(A, sq(n)) || !dt__kf_finite_all(Q, sq(n)) || !dt__symmetric(n, Q) ||
        (kf->p && !dt__kf_finite_all(B, n * kf->p)))
        return DT_EINVAL;
    memcpy(kf->A, A, sq(n) * sizeof *A);
    memcpy(kf->Q, Q, sq(n) * sizeof *Q);
    if (kf->p)
        memcpy(kf->B, B, n * kf->p * sizeof *B);
    kf->mode = MODE_CONT;
    invalidate(kf);
    return DT_OK;
}

int dt_kf_set_discrete(dt_kf *kf, const double *F, const double *G, const double *Qd)
{
    int rc = dt_kf_set_continuous(kf, F, G, Qd); /* same checks and storage */
    if (rc == DT_OK) {
        kf->mode = MODE_DISC;
        dt_mat_transpose(kf->n, kf->n, kf->A, kf->AdT_fixed);
    }
    return rc;
}

int dt_kf_set_nonlinear(dt_kf *kf, dt_kf_process_fn f, void *user, const double *Qc)
{
    if (kf == NULL || f == NULL || Qc == NULL || !dt__kf_finite_all(Qc, sq(kf->n)) ||
        !dt__symmetric(kf->n, Qc))
        return DT_EINVAL;
    memcpy(kf->Q, Qc, sq(kf->n) * sizeof *Qc);
    kf->f = f;
    kf->f_user = user;
    kf->mode = MODE_NONLIN;
    return DT_OK;
}

int dt_kf_set_state(dt_kf *kf, const double *x, const double *P)
{
    if (kf == NULL || x == NULL || P == NULL)
        return DT_EINVAL;
    size_t n = kf->n;
    if (!dt__kf_finite_all(x, n) || !dt__kf_finite_all(P, sq(n)) || !dt__symmetric(n, P))
        return DT_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (P[i * n + i] < 0)
            return DT_EINVAL;
    memcpy(kf->x, x, n * sizeof *x);
    memcpy(kf->P, P, sq(n) * sizeof *P);
    dt_mat_symmetrize(n, kf->P);
    return DT_OK;
}

const double *dt_kf_state(const dt_kf *kf) { return kf ? kf->x : NULL; }
const double *dt_kf_cov(const dt_kf *kf) { return kf ? kf->P : NULL; }

int dt_kf_set_input(dt_kf *kf, const double *u)
{
    if (kf == NULL || (kf->p > 0 && u == NULL) || (kf->p && !dt__kf_finite_all(u, kf->p)))
        return DT_EINVAL;
    if (kf->p)
        memcpy(kf->u, u, kf->p * sizeof *u);
    return DT_OK;
}

/* (Ad, Bd, Qd) for dt: from the cache, or Van Loan (and the augmented
 * exponential [[A, B], [0, 0]] dt for Bd). */
static int discretize(dt_kf *kf, double dt, const disc **out)
{
    for (int i = 0; i < CACHE; i++)
        if (kf->cache[i].valid && kf->cache[i].dt == dt) {
            kf->st.cache_hits++;
            *out = &kf->cache[i];
            return DT_OK;
        }
    disc *d = &kf->cache[kf->cache_next];
    size_t n = kf->n, p = kf->p, np = n + p;
    d->valid = 0;
    int rc = dt_vanloan_series(n, kf->A, kf->Q, dt, d->Ad, d->Qd, kf->work);
    if (rc == DT_OK && p > 0) {
        memset(kf->M, 0, sq(np) * sizeof *kf->M);
        for (size_t i = 0; i < n; i++) {
            for (size_t j = 0; j < n; j++)
                kf->M[i * np + j] = kf->A[i * n + j] * dt;
            for (size_t j = 0; j < p; j++)
                kf->M[i * np + n + j] = kf->B[i * p + j] * dt;
        }
        rc = dt_expm(np, kf->M, kf->E, kf->work);
        if (rc == DT_OK)
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < p; j++)
                    d->Bd[i * p + j] = kf->E[i * np + n + j];
    }
    if (rc != DT_OK)
        return rc;
    dt_mat_transpose(n, n, d->Ad, d->AdT);
    d->dt = dt;
    d->valid = 1;
    kf->cache_next = (kf->cache_next + 1) % CACHE;
    kf->st.discretizations++;
    *out = d;
    return DT_OK;
}

/* A predicted variance is Ad_i P Ad_i' + Qd_ii >= 0 exactly when P and Qd are
 * positive semi-definite; rounding can leave it slightly negative only when
 * its exact value is below its rounding error. It is then 0 to the accuracy
 * available, and so are its covariances (a zero variance with nonzero
 * covariances is not PSD). O(n) when nothing is negative. */
static void clear_negative_variances(size_t n, double *P)
{
    for (size_t i = 0; i < n; i++)
        if (P[i * n + i] < 0)
            for (size_t j = 0; j < n; j++)
                P[i * n + j] = P[j * n + i] = 0;
}

/* Pn = Ad P Ad' + Qd: returns a finiteness checksum. */
static double predict_cov(dt_kf *kf, const double *Ad, const double *AdT, const double *Qd)
{
    double chk = kf->predict_k != NULL
                     ? kf->predict_k(Ad, AdT, kf->P, Qd, kf->t1, kf->Pn)
                     : kf_predict_cov(kf->n, Ad, AdT, kf->P, Qd, kf->t1, kf->Pn);
    if (isfinite(chk))
        clear_negative_variances(kf->n, kf->Pn);
    return chk;
}

/* x <- Ad x + Bd u and P <- Ad P Ad' + Qd, computed into xn/Pn and swapped in
 * only if every value is finite (so a failure leaves x and P as they were). */
static int propagate(dt_kf *kf, const double *Ad, const double *AdT, const double *Bd,
                     const double *Qd)
{
    size_t n = kf->n, p = kf->p;
    double chk = 0;
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t j = 0; j < n; j++)
            s += Ad[i * n + j] * kf->x[j];
        for (size_t j = 0; j < p; j++)
            s += Bd[i * p + j] * kf->u[j];
        kf->xn[i] = s;
        chk += s;
    }
    chk += predict_cov(kf, Ad, AdT, Qd);
    if (!isfinite(chk))
        return DT_ENUMERIC;
    dt__kf_swap(&kf->x, &kf->xn);
    dt__kf_swap(&kf->P, &kf->Pn);
    return DT_OK;
}

int dt_kf_predict(dt_kf *kf, double dt)
{
    if (kf == NULL || !(dt >= 0) || !isfinite(dt) || kf->mode == MODE_NONE)
        return DT_EINVAL;
    kf->st.predicts++;
    if (dt == 0)
        return DT_OK;
    size_t n = kf->n;
    if (kf->mode == MODE_CONT) {
        const disc *d;
        int rc = discretize(kf, dt, &d);
        if (rc != DT_OK)
            return rc;
        return propagate(kf, d->Ad, d->AdT, d->Bd, d->Qd);
    }
    if (kf->mode == MODE_DISC)
        return propagate(kf, kf->A, kf->AdT_fixed, kf->B, kf->Q);
    /* EKF: the callback's x_next (in a) and Jacobian F (in t2) are checked
     * before anything is committed, as every other input is. */
    int rc = kf->f(kf->f_user, kf->x, kf->u, dt, kf->a, kf->t2);
    if (rc != DT_OK)
        return rc < 0 ? rc : DT_ENUMERIC; /* a positive return is not a DT_E* code */
    if (!dt__kf_finite_all(kf->a, n) || !dt__kf_finite_all(kf->t2, sq(n)))
        return DT_ENUMERIC;
    for (size_t i = 0; i < sq(n); i++)
        kf->E[i] = kf->Q[i] * dt;
    dt_mat_transpose(n, n, kf->t2, kf->AdT_fixed);
    if (!isfinite(predict_cov(kf, kf->t2, kf->AdT_fixed, kf->E)))
        return DT_ENUMERIC;
    memcpy(kf->xn, kf->a, n * sizeof *kf->xn);
    dt__kf_swap(&kf->x, &kf->xn);
    dt__kf_swap(&kf->P, &kf->Pn);
    return DT_OK;
}

/* Scalar update with row h against innovation y = z - hx, covariance by the
 * Joseph form P+ = (I - k h) P (I - k h)' + r k k' with a = P h', s = h a + r,
 * k = a / s, evaluated in that order: M = (I - k h) P = P - k a' first, then
 * P+ = M - (M h') k' + r k k'. Expanding it instead (P - k a' - a k' + s k k')
 * cancels terms of the size of P and loses digits when the prior is much
 * wider than the measurement; in this order M's rounding error is multiplied
 * by (I - k h), on the right only, so it can still exceed a posterior
 * variance that is tiny against its prior (ill-conditioned priors, r << P).
 * The result is therefore checked in O(n) (kf_trusted: every variance within
 * [2^-27 (1 + w) P_ii, P_ii]) and, when it fails, the same update is
 * evaluated in double-double (dt__kf_dd_*, O(n^2), ~15x the flops; errors
 * about 2^-104 (1 + w) of the prior's scale), variances in [0, P_ii]. No
 * factorization; upper triangle mirrored. exact: go to double-double
 * directly (the vector update's sequential form). */
static int scalar_core(dt_kf *kf, const double *h, double y, double r, double gate,
                       dt_kf_result *res, int exact)
{
    size_t n = kf->n;
    double *a = kf->a, *k = kf->k, *g = kf->y, *P = kf->P, *x = kf->x, *xn = kf->xn;
    if (!isfinite(y))
        return DT_ENUMERIC;
    double s = r + (kf->ph_k ? kf->ph_k(P, h, a) : kf_ph(n, P, h, a));
    if (exact || !(s > 0 && s <= DBL_MAX)) {
        /* h P h' may have cancelled below -r in binary64: decide on its
         * double-double value (non-finite stays non-finite). */
        s = dt__kf_dd_gain(n, P, h, r, kf->dd);
        if (!(s > 0 && s <= DBL_MAX))
            return DT_ENUMERIC;
        exact = 1;
    }
    double nis = y * y / s;
    if (res != NULL) {
        res->nis = nis;
        res->innovation = y;
        res->s = s;
        res->gated = 0;
    }
    if (gate > 0 && nis > gate) {
        if (res != NULL)
            res->gated = 1;
        return DT_OK;
    }
    double chk = 0;
    if (!exact) {
        double h1 = 0, w2 = 0;
        for (size_t i = 0; i < n; i++) {
            double ah = fabs(h[i]);
            k[i] = a[i] / s;
            xn[i] = x[i] + k[i] * y;
            chk += xn[i];
            h1 += ah;
            w2 += ah * P[i * n + i];
        }
        double thr = DT__KF_TRUST * (s + h1 * w2) / s;
        chk += kf->joseph_k ? kf->joseph_k(P, h, a, k, r, thr, g, kf->Pn)
                            : kf_scalar_joseph(n, P, h, a, k, r, thr, g, kf->Pn);
        if (isfinite(chk)) { /* finite and trusted */
            dt__kf_swap(&kf->x, &kf->xn);
            dt__kf_swap(&kf->P, &kf->Pn);
            return DT_OK;
        }
        double sd = dt__kf_dd_gain(n, P, h, r, kf->dd);
        if (!(sd > 0 && sd <= DBL_MAX))
            return DT_ENUMERIC;
    }
    chk = dt__kf_dd_update(n, P, h, r, kf->dd, k, kf->Pn);
    for (size_t i = 0; i < n; i++) {
        xn[i] = x[i] + k[i] * y;
        chk += xn[i];
    }
    if (!isfinite(chk))
        return DT_ENUMERIC; /* Pn and xn discarded: the belief is unchanged */
    dt__kf_swap(&kf->x, &kf->xn);
    dt__kf_swap(&kf->P, &kf->Pn);
    return DT_OK;
}

/* kf_update.c's sequential form calls the same core (kept static here so the
 * scalar update's code is what it was) */
int dt__kf_scalar_core(dt_kf *kf, const double *h, double y, double r, double gate,
                       dt_kf_result *res, int exact)
{
    return scalar_core(kf, h, y, r, gate, res, exact);
}

int dt_kf_update_scalar(dt_kf *kf, const double *h, double z, double r, double gate,
                        dt_kf_result *res)
{
    if (kf == NULL || h == NULL || !(r >= 0) || !isfinite(r) || !isfinite(z) || gate < 0)
        return DT_EINVAL;
    double hx = 0;
    for (size_t i = 0; i < kf->n; i++)
        hx += h[i] * kf->x[i];
    return scalar_core(kf, h, z - hx, r, gate, res, 0);
}

int dt_kf_update_nonlinear(dt_kf *kf, dt_kf_measure_fn hfn, void *user, double z, double r,
                           double gate, dt_kf_result *res)
{
    if (kf == NULL || hfn == NULL || !(r >= 0) || !isfinite(r) || !isfinite(z) || gate < 0)
        return DT_EINVAL;
    double hx;
    int rc = hfn(user, kf->x, &hx, kf->t2);
    if (rc != DT_OK)
        return rc < 0 ? rc : DT_ENUMERIC; /* a positive return is not a DT_E* code */
    if (!isfinite(hx) || !dt__kf_finite_all(kf->t2, kf->n))
        return DT_ENUMERIC;
    return scalar_core(kf, kf->t2, z - hx, r, gate, res, 0);
}

void dt_kf_stats_get(const dt_kf *kf, dt_kf_stats *out) { *out = kf->st; }

int dt_kf_peek(dt_kf *kf, double dt, double *x_out, double *P_out)
{
    if (kf == NULL || x_out == NULL || P_out == NULL)
        return DT_EINVAL;
    size_t n = kf->n;
    if (dt == 0) {
        memcpy(x_out, kf->x, n * sizeof *x_out);
        memcpy(P_out, kf->P, sq(n) * sizeof *P_out);
        return DT_OK;
    }
    /* Predict, read the result, and put the belief back. */
    memcpy(kf->k, kf->x, n * sizeof *kf->x);
    memcpy(kf->Pn, kf->P, sq(n) * sizeof *kf->P);
    memcpy(P_out, kf->P, sq(n) * sizeof *kf->P);
    int rc = dt_kf_predict(kf, dt);
    if (rc != DT_OK)
        return rc;
    memcpy(x_out, kf->x, n * sizeof *x_out);
    memcpy(kf->x, kf->k, n * sizeof *kf->x);
    for (size_t i = 0; i < sq(n); i++) {
        double v = kf->P[i];
        kf->P[i] = P_out[i];
        P_out[i] = v;
    }
    kf->st.predicts--; /* a peek is not a step */
    return DT_OK;
}

const double *dt_kf_model_A(const dt_kf *kf)
{
    return kf && kf->mode == MODE_CONT ? kf->A : NULL;
}

const double *dt_kf_model_Q(const dt_kf *kf)
{
    return kf && kf->mode == MODE_CONT ? kf->Q : NULL;
}

const double *dt_kf_model_B(const dt_kf *kf, size_t *p)
{
    int has = kf && kf->mode == MODE_CONT && kf->p > 0 && kf->B != NULL;
    if (p != NULL)
        *p = has ? kf->p : 0;
    return has ? kf->B : NULL;
}

int dt__kf_matrices(const dt_kf *kf, const double **A, const double **B, size_t *p)
{
    if (kf == NULL || (kf->mode != MODE_CONT && kf->mode != MODE_DISC))
        return -1;
    *A = kf->A;
    *B = kf->B;
    *p = kf->p;
    return kf->mode == MODE_DISC;
}
