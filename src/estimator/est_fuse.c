/* Remote beliefs fused into the estimate (dt_est_fuse): another twin's
 * belief, aged with its sender's model to the fusion time, measures some of
 * this estimator's signals through its own measurement model; fused by
 * covariance intersection, or as an ordinary update when the sender declares
 * its errors independent. A fused belief is an event of the history
 * (EV_BELIEF) with its record kept, so a late local sample still goes before
 * it and the belief is fused again after it; at most BEL_EVENTS are kept,
 * and the history before the oldest is dropped to make room. Scratch and
 * records reserved once (dt_est_fuse_reserve). */
#include <math.h>
#include <string.h>

#include "est_internal.h"

#define RN DT_REMOTE_STATES_MAX
#define RM DT_REMOTE_MAPPED_MAX
#define GATED 1 /* apply_meas(): the innovation failed the gate */
#define KEPT 2  /* apply_meas(): w = 1, the estimate kept whole: nothing changed */
#define BEL_EVENTS 16

/* A fused belief as the history keeps it: the aged measurement it became
 * (z and R at the event's time, in the reader's units), enough to fuse it
 * again at that time. */
struct est_bel {
    int used;
    size_t m;
    dt_fuse_mode mode;
    uint32_t signal[RM];
    double z[RM], R[RM * RM];
};

void dt__est_bel_release(dt_est *e, const event *ev)
{
    if (ev->type == EV_BELIEF && e->bel != NULL && ev->sig < BEL_EVENTS)
        e->bel[ev->sig].used = 0;
}

void dt__est_bel_release_all(dt_est *e)
{
    for (size_t i = 0; e->bel != NULL && i < BEL_EVENTS; i++)
        e->bel[i].used = 0;
}

/* The scratch's layout, for an estimator of n states. */
typedef struct fuse_work {
    double *xa, *Pa, *age, *z, *zl, *y, *R, *H, *S, *v, *ci, *xo, *Po, *xs, *Ps, *xp, *Pp;
} fuse_work;

static size_t layout(size_t n, double *base, fuse_work *w)
{
    size_t sizes[] = {RN, RN * RN, DT_BELIEF_AGE_WORK(RN), RM, RM, RM, RM * RM, RM * n,
                      RM * RM, RM, DT_CI_UPDATE_WORK(n, RM), n, n * n, n, n * n, n, n * n};
    double **slot[] = {&w->xa, &w->Pa, &w->age, &w->z, &w->zl, &w->y, &w->R, &w->H,
                       &w->S, &w->v, &w->ci, &w->xo, &w->Po, &w->xs, &w->Ps, &w->xp, &w->Pp};
    size_t off = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        if (base != NULL)
            *slot[i] = base + off;
        off += sizes[i];
    }
    return off;
}

int dt_est_fuse_reserve(dt_est *e)
{
    if (e == NULL)
        return DT_EINVAL;
    if (e->fz != NULL)
        return DT_OK;
    fuse_work w;
    e->bel = dt__calloc(&e->alloc, BEL_EVENTS, sizeof *e->bel);
    e->fz = dt__calloc(&e->alloc, layout(e->n, NULL, &w), sizeof *e->fz);
    if (e->fz == NULL || e->bel == NULL) {
        dt__free(&e->alloc, e->fz);
        dt__free(&e->alloc, e->bel);
        e->fz = NULL;
        e->bel = NULL;
        return DT_ENOMEM;
    }
    return DT_OK;
}

/* The belief's shape and the mapping's numbers (not yet its matrices,
 * which dt_belief_age checks). */
static int check_belief(const dt_est *e, const dt_remote_belief *b)
{
    if (b->n < 1 || b->n > RN || b->m < 1 || b->m > RM || !b->x || !b->P || !b->A || !b->Q ||
        !b->index || !b->signal || !b->scale || !b->offset || !dt_time_valid(b->t) ||
        (b->t_data != 0 && (!dt_time_valid(b->t_data) || b->t_data > b->t)) ||
        (b->mode != DT_FUSE_CI_TRACE && b->mode != DT_FUSE_CI_DET &&
         b->mode != DT_FUSE_INDEPENDENT))
        return DT_EINVAL;
    for (size_t j = 0; j < b->m; j++) {
        if (b->index[j] >= b->n || !isfinite(b->scale[j]) || b->scale[j] == 0 ||
            !isfinite(b->offset[j]))
            return DT_EINVAL;
        if (b->signal[j] >= e->n_sig || e->meas[b->signal[j]].kind == 0)
            return DT_ENOTFOUND;
    }
    return DT_OK;
}

/* The measurement rows at the estimate x and the innovation y = z - h(x). */
static int rows(dt_est *e, size_t nm, const uint32_t *signal, const double *x, fuse_work *w)
{
    size_t n = e->n;
    for (size_t j = 0; j < nm; j++) {
        const meas *m = &e->meas[signal[j]];
        double *Hj = w->H + j * n, pred;
        if (m->kind == 1) {
            memcpy(Hj, m->h, n * sizeof *Hj);
            pred = m->offset;
            for (size_t i = 0; i < n; i++)
                pred += Hj[i] * x[i];
        } else if (m->fn(m->user, x, &pred, Hj) > 0) {
            return DT_ENUMERIC;
        }
        w->y[j] = w->z[j] - pred;
        if (!isfinite(w->y[j]))
            return DT_ENUMERIC;
        for (size_t i = 0; i < n; i++)
            if (!isfinite(Hj[i]))
                return DT_ENUMERIC;
    }
    return DT_OK;
}

/* The innovation's NIS against S = H P H' + R, and whether the gate, at the
 * estimator's probability with m degrees of freedom, lets it pass. */
static int gate_passes(dt_est *e, size_t m, const double *P, fuse_work *w, int *pass)
{
    size_t n = e->n;
    for (size_t a = 0; a < m; a++)
        for (size_t c = a; c < m; c++) {
            double s = w->R[a * m + c];
            for (size_t i = 0; i < n; i++) {
                double t = 0;
                for (size_t k = 0; k < n; k++)
                    t += P[i * n + k] * w->H[c * n + k];
                s += w->H[a * n + i] * t;
            }
            w->S[a * m + c] = w->S[c * m + a] = s;
        }
    if (dt_chol(m, w->S, w->S) != DT_OK || dt_chol_solve(m, 1, w->S, w->y, w->v) != DT_OK)
        return DT_ENUMERIC;
    double nis = 0;
    for (size_t a = 0; a < m; a++)
        nis += w->y[a] * w->v[a];
    double thr = INFINITY;
    if (e->gate_p < 1 && dt_chi2_quantile(e->gate_p, (unsigned)m, &thr) != DT_OK)
        return DT_ENUMERIC;
    *pass = isfinite(nis) && nis <= thr;
    return DT_OK;
}

/* The belief aged from b->t to tf, as a measurement of the reader's
 * signals: z (m) and R (m x m) in w. */
static int measurement(const dt_remote_belief *b, dt_time tf, fuse_work *w)
{
    size_t m = b->m, k = b->n;
    int rc = dt_belief_age(k, b->x, b->P, b->A, b->Q, dt_time_to_sec(tf - b->t), w->xa, w->Pa,
                           w->age);
    if (rc != DT_OK)
        return rc == DT_EINVAL ? DT_ENUMERIC : rc;
    for (size_t j = 0; j < m; j++) {
        w->z[j] = b->scale[j] * w->xa[b->index[j]] + b->offset[j];
        for (size_t l = 0; l < m; l++)
            w->R[j * m + l] = b->scale[j] * b->scale[l] * w->Pa[b->index[j] * k + b->index[l]];
    }
    for (size_t j = 0; j < m * m; j++)
        if (!isfinite(w->R[j]))
            return DT_ERANGE;
    return DT_OK;
}

/* Fuses the measurement (z, R in w) of m signals into the estimate (x, P)
 * at the same time: the filter's own state, or a prediction of it (then set
 * into the filter only when the fusion succeeds). gate: apply the gate (a
 * replay repeats a fusion that passed it). DT_OK: the filter holds the fused
 * state; KEPT: w = 1, nothing changed; GATED. */
static int apply_meas(dt_est *e, size_t m, const uint32_t *signal, dt_fuse_mode mode,
                      const double *x, const double *P, int gate, double *omega, fuse_work *w)
{
    size_t n = e->n;
    int rc;
    if ((rc = rows(e, m, signal, x, w)) != DT_OK)
        return rc;
    if (gate) {
        int pass = 0;
        if ((rc = gate_passes(e, m, P, w, &pass)) != DT_OK)
            return rc;
        if (!pass)
            return GATED;
    }
    int predicted = x != dt_kf_state(e->kf);
    double wt = 1.0;
    if (mode == DT_FUSE_INDEPENDENT) {
        /* z' = y + H x: the filter's update forms the same innovation */
        for (size_t j = 0; j < m; j++) {
            double hx = 0;
            for (size_t i = 0; i < n; i++)
                hx += w->H[j * n + i] * x[i];
            w->zl[j] = w->y[j] + hx;
        }
        dt_kf_result res;
        if (predicted) { /* updated from the prediction: the estimate kept to restore */
            memcpy(w->xs, dt_kf_state(e->kf), n * sizeof *w->xs);
            memcpy(w->Ps, dt_kf_cov(e->kf), n * n * sizeof *w->Ps);
            if ((rc = dt_kf_set_state(e->kf, x, P)) != DT_OK)
                return rc;
        }
        rc = dt_kf_update(e->kf, m, w->zl, w->H, w->R, 0, &res);
        if (rc != DT_OK && predicted)
            (void)dt_kf_set_state(e->kf, w->xs, w->Ps);
    } else {
        dt_ci_criterion c = mode == DT_FUSE_CI_DET ? DT_CI_DET : DT_CI_TRACE;
        rc = dt_ci_update(n, m, x, P, w->H, w->y, w->R, c, w->xo, w->Po, &wt, w->ci);
        if (rc == DT_OK && wt == 1.0) {
            /* the reader's own belief kept whole: nothing of the remote one
             * was taken, so nothing changes (its time would be a data time
             * without data behind it) */
            if (omega != NULL)
                *omega = wt;
            return KEPT;
        }
        if (rc == DT_OK)
            rc = dt_kf_set_state(e->kf, w->xo, w->Po);
    }
    if (rc == DT_OK && omega != NULL)
        *omega = wt;
    return rc;
}

/* A free record, making room by dropping the history through the oldest
 * belief event when every record is held. */
static struct est_bel *free_record(dt_est *e, uint32_t *idx)
{
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t i = 0; i < BEL_EVENTS; i++)
            if (!e->bel[i].used) {
                *idx = i;
                return &e->bel[i];
            }
        if (!dt__est_drop_oldest_belief(e))
            dt__est_bel_release_all(e); /* records without events: none to keep */
    }
    *idx = 0; /* not reached: the second pass finds every record free */
    return &e->bel[0];
}

static int fuse(dt_est *e, const dt_remote_belief *b, double *omega)
{
    fuse_work w;
    (void)layout(e->n, e->fz, &w);
    dt_time tf = b->t > e->t ? b->t : e->t;
    size_t m = b->m;
    int rc = measurement(b, tf, &w);
    if (rc != DT_OK)
        return rc;
    /* the estimate at the fusion time, peeked: nothing changes before the
     * belief is known to be applied */
    const double *x = dt_kf_state(e->kf), *P = dt_kf_cov(e->kf);
    if (tf > e->t) {
        if ((rc = dt_kf_peek(e->kf, dt_time_to_sec(tf - e->t), w.xp, w.Pp)) != DT_OK) {
            if (rc == DT_ERANGE) {
                /* as dt_est_process: the belief is lost, re-initialised at
                 * tf (else every later belief needs the same prediction) */
                dt__est_lose(e, tf, rc);
                e->version++;
            }
            return rc == DT_EINVAL ? DT_ENUMERIC : rc;
        }
        x = w.xp;
        P = w.Pp;
    }
    if ((rc = apply_meas(e, m, b->signal, b->mode, x, P, 1, omega, &w)) != DT_OK)
        return rc; /* KEPT: the estimate kept whole, no event, no data time */
    /* an event of the history, with the measurement it fused for a replay */
    uint32_t idx = 0;
    struct est_bel *rec = free_record(e, &idx);
    event *ev = dt__est_append(e, tf, EV_BELIEF);
    rec->used = 1;
    rec->m = m;
    rec->mode = b->mode;
    memcpy(rec->signal, b->signal, m * sizeof *rec->signal);
    memcpy(rec->z, w.z, m * sizeof *rec->z);
    memcpy(rec->R, w.R, m * m * sizeof *rec->R);
    ev->sig = idx;
    ev->flags = 0;
    dt__est_snapshot(e, ev->slot);
    e->t = tf;
    dt_time td = b->t_data != 0 ? b->t_data : b->t; /* the data behind it, not its time */
    if (td > e->t_data)
        e->t_data = td;
    return DT_OK;
}

int dt__est_refuse(dt_est *e, const event *ev)
{
    if (e->bel == NULL || ev->sig >= BEL_EVENTS || !e->bel[ev->sig].used)
        return DT_ESTATE;
    const struct est_bel *r = &e->bel[ev->sig];
    fuse_work w;
    (void)layout(e->n, e->fz, &w);
    memcpy(w.z, r->z, r->m * sizeof *w.z);
    memcpy(w.R, r->R, r->m * r->m * sizeof *w.R);
    int rc = apply_meas(e, r->m, r->signal, r->mode, dt_kf_state(e->kf), dt_kf_cov(e->kf), 0,
                        NULL, &w);
    return rc == KEPT ? DT_OK : rc;
}

int dt_est_fuse(dt_est *e, const dt_remote_belief *b, double *omega)
{
    if (e == NULL || b == NULL)
        return DT_EINVAL;
    if (!e->started || e->fz == NULL)
        return DT_ESTATE;
    int rc = check_belief(e, b);
    if (rc == DT_OK)
        rc = fuse(e, b, omega);
    if (rc == DT_OK) {
        e->st.beliefs_fused++;
        e->version++;
    } else if (rc == KEPT) {
        e->st.beliefs_kept++;
        rc = DT_OK;
    } else if (rc == GATED) {
        e->st.beliefs_gated++;
        rc = DT_ERANGE;
    } else {
        e->st.beliefs_refused++;
    }
    return rc;
}
