/* The estimator's state, shared by its modules: est_create.c (creation,
 * set-up), estimator.c (time, history, replay), est_health.c (gate recovery,
 * fault isolation, lost beliefs) and est_bounds.c (latency budgets, bound
 * checks, counters). */
#ifndef DT_EST_INTERNAL_H
#define DT_EST_INTERNAL_H

#include "../platform/internal.h"
#include "dtwin/estimator.h"

#define MAX_ANALYTICS 8
#define MAX_BOUNDS 16

enum { EV_MEAS = 1, EV_PREDICT = 2, EV_INPUT = 3, EV_PARAM = 4, EV_BELIEF = 5 };

/* Event flags, set when the event is first processed and honoured by every
 * replay, so a replay repeats the decisions taken in time order. */
enum {
    EVF_RECOVER = 1u, /* the gate recovery inflated P before this update */
    EVF_EXCLUDED = 2u /* the signal was isolated: evaluated, never applied */
};

typedef struct meas {
    int kind; /* 0 none, 1 linear, 2 callback */
    double *h;
    double offset;
    dt_kf_measure_fn fn;
    void *user;
    dt_est_signal_stats st;
    double nis_sum;
    uint32_t run;   /* consecutive gated innovations; isolated: consecutive consistent ones */
    dt_time run_t0;  /* the first gated innovation of the run */
    dt_time t_gated; /* the last gated innovation */
    dt_time t_ok;    /* the last accepted update (DT_TIME_MIN: none) */
    double z_ok, r_ok; /* its value and noise variance */
} meas;

typedef struct event {
    dt_time t;
    uint32_t type, sig; /* EV_PARAM: sig is the parameter index; EV_BELIEF: its record */
    double z, r;        /* EV_PARAM: z is the value written */
    uint32_t slot;      /* state after the event */
    uint32_t flags;     /* EVF_* */
} event;

typedef struct bound_rec {
    char name[64];
    double *w;
    int quadratic;
    double limit, tau;
    double reach; /* the bound metric of the steady-state posterior */
} bound_rec;

struct dt_est {
    dt_allocator alloc;
    dt_logger log;
    const dt_model *model;
    dt_kf *kf;
    size_t n, p, n_sig;
    dt_signal_id *states, *inputs;
    int *state_of; /* per signal: state index or -1 */
    int *param_of; /* per signal: parameter index or -1 */
    double *params;
    size_t n_params;
    unsigned char *param_dirty; /* written during an update: recorded after it */
    int in_apply;
    meas *meas;
    double gate, gate_p; /* the gate's threshold on a scalar NIS, and its probability */
    double *fz;          /* remote-belief scratch (dt_est_fuse_reserve); NULL: none */
    struct est_bel *bel; /* the fused beliefs the history holds (EV_BELIEF), to re-fuse
                            them when a late sample replays the events after it */
    uint32_t recover_after;
    int started;
    dt_time t, t_data;
    uint64_t version;
    /* history: ring of events, pool of state slots (H + 1: one is the base) */
    size_t H, count, head;
    event *ev;
    double *pool; /* (H + 1) x (n + n^2 + p + n_params) */
    uint32_t base_slot;
    dt_time base_t;
    uint32_t *free_slots;
    size_t n_free;
    double *x0, *P0; /* the initial belief, kept for a belief that is lost */
    double *u, *xb, *Pb, *work;
    dt_est_stats st;
    double nis_sum, nees_sum, nis_ewma;
    const dt_analytics_ops *an[MAX_ANALYTICS];
    void *an_self[MAX_ANALYTICS];
    size_t n_an;
    bound_rec bounds[MAX_BOUNDS];
    size_t n_bounds;
    dt_periodic_meas *rows; /* the budget's measurement rows */
    uint64_t rows_gen, budgets_gen; /* measurement/bound changes; the budgets' generation */
};

/* Doubles per history slot: x, P, u (at least 1), parameters. */
static inline size_t dt__est_slot_size(const dt_est *e)
{
    return e->n + e->n * e->n + (e->p ? e->p : 1) + e->n_params;
}

/* est_create.c */
/* Reads a caller's config (either known layout) into out. @retval DT_EABI. */
int dt__est_config_read(const dt_est_config *cfg, dt_est_config *out);
/* The history holds nothing: the filter's current belief at t is the base. */
void dt__est_rebase(dt_est *e, dt_time t);

/* est_health.c */
/* The innovation y and its variance s of a sample of signal sig against the
 * filter's current belief, without applying it. */
int dt__est_innovation(dt_est *e, uint32_t sig, double z, double r, double *y, double *s);
/* What dt__est_after_gated decided. */
enum { GATE_KEEP, GATE_ISOLATED, GATE_RECOVER };
/* Called after a gated innovation of sig processed in time order: counts the
 * run and, at recover_after, isolates the signal (GATE_ISOLATED) or inflates
 * P for a recovery (GATE_RECOVER: the caller applies the sample without the
 * gate and calls dt__est_recovered, or restores P from dt__est_saved_P). */
int dt__est_after_gated(dt_est *e, event *ev, double y, double s);
/* Inflates P along the direction the row of sig informs so that the
 * innovation y has NIS 1, saving the old P (dt__est_saved_P). DT_ERANGE: the
 * inflation is not representable; nothing changed. */
int dt__est_inflate(dt_est *e, uint32_t sig, double y, double s);
/* The covariance before the last inflation (n x n, in the scratch). */
const double *dt__est_saved_P(const dt_est *e);
/* A recovery's update succeeded: counts and logs it. */
void dt__est_recovered(dt_est *e, event *ev, double y, double s);
/* An isolated signal's sample, evaluated against the belief in time order:
 * re-admits the signal after recover_after consistent innovations. */
void dt__est_excluded(dt_est *e, const event *ev);
/* The prediction to t failed: the belief is lost; re-initialised at t. */
void dt__est_lose(dt_est *e, dt_time t, int why);

/* estimator.c */
void dt__est_snapshot(dt_est *e, uint32_t slot);
/* Appends an event at time t (>= the newest) with a free state slot (the
 * oldest event becomes the base when the history is full). */
event *dt__est_append(dt_est *e, dt_time t, uint32_t type);
/* The history through its oldest EV_BELIEF event becomes the base (a late
 * sample can no longer go before it). 0: the history holds none. */
int dt__est_drop_oldest_belief(dt_est *e);

/* est_fuse.c: a fused belief's event, re-applied by a replay of the history
 * (the filter predicted to ev->t; no gate, no counters; DT_OK or the
 * failure, which leaves the state). Its record is released when the event
 * leaves the history (evicted, or the history rebased). */
int dt__est_refuse(dt_est *e, const event *ev);
void dt__est_bel_release(dt_est *e, const event *ev);
void dt__est_bel_release_all(dt_est *e);

#endif
