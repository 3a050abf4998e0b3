/** @file
 * dtwin: the filter interface. The twin reaches its estimator only through a
 * dt_filter_ops table, so another filter (a particle filter, an alpha-beta
 * tracker, a host's own) plugs in like an adapter kind. The built-in Kalman
 * estimator (dt_est) is the kind "kf". docs/estimation.md, "Plugging in
 * another filter". */
#ifndef DTWIN_FILTER_H
#define DTWIN_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "dtwin/adapter.h"
#include "dtwin/alloc.h"
#include "dtwin/error.h"
#include "dtwin/estimator.h"
#include "dtwin/export.h"
#include "dtwin/fusion.h"
#include "dtwin/log.h"
#include "dtwin/model.h"
#include "dtwin/sample.h"
#include "dtwin/time.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The version of dt_filter_ops (tables declaring 1..DT_FILTER_ABI are
 *  accepted; see DT_SOURCE_ABI in adapter.h for the rule). */
#define DT_FILTER_ABI 2u

/** The most latency budgets a filter kind may declare (budget_count): a
 *  twin refuses to start with more. */
#define DT_FILTER_BUDGETS_MAX 64

/** What a filter's init gets besides its configuration. Valid during init
 *  only, except model, which outlives the instance. */
typedef struct dt_filter_env {
    const dt_model *model;         /**< the twin's model (signal ids, roles, noise) */
    const dt_allocator *allocator; /**< the twin's allocator: allocate with it, in init only */
    const dt_logger *logger;       /**< the twin's logger (may be NULL: stderr) */
} dt_filter_env;

/** A filter kind. The core allocates instance_size zeroed bytes per instance
 *  and passes them as self. Every slot runs on the twin's thread; after init
 *  none may allocate or block. Slots marked optional may be NULL: the
 *  registry fills them with the default named at each slot, so the core never
 *  checks for NULL on the hot path. Times are on the common time base.
 *
 *  The latency rule: a filter with budget slots (budgets, budget_count,
 *  budget) gives the twin a latency budget per accuracy bound; the twin then
 *  holds its safe state once the data behind the belief is older than the
 *  smallest budget or dispatcher.max_data_age. A filter without them declares
 *  none, and a twin that dispatches commands must then give
 *  dispatcher.max_data_age (loading fails otherwise: never "no limit"). */
typedef struct dt_filter_ops {
    uint32_t abi;         /**< DT_FILTER_ABI: the version written against */
    const char *kind;     /**< the description's "estimator": {"kind": ...} */
    size_t instance_size; /**< bytes of state per instance (>= 1), zeroed */
    /** Reads the description's "estimator" section (cfg, with its "kind";
     *  env->model holds the signals). Required. On failure: a negative DT_E*
     *  with diag naming the JSON path ("estimator.alpha") and the value;
     *  deinit is then still called. */
    int (*init)(void *self, const dt_filter_env *env, const dt_config *cfg, dt_diag *diag);
    /** Frees what init allocated. Optional (default: nothing). */
    void (*deinit)(void *self);
    /** The initial belief holds at t0 (the twin's start). Optional (default:
     *  DT_OK). A negative DT_E* fails the twin's start; diag may explain. */
    int (*start)(void *self, dt_time t0, dt_diag *diag);
    /** Predicts the belief forward to t (no-op when t is not later). Required,
     *  but the twin's cycle does not call it: update, belief and state
     *  predict to their own times. */
    int (*predict)(void *self, dt_time t);
    /** Applies one released sample (t_source on the common time base; the
     *  filter predicts to it itself, and may take a delayed one). DT_OK when
     *  it was applied (counted in the twin's arrival-to-estimate latency),
     *  else a negative DT_E* (skipped, not an error: unmodelled signal,
     *  gated, too old). Required. */
    int (*update)(void *self, const dt_sample *s);
    /** One signal's belief at time t (value, variance, t_data, age).
     *  DT_ENOTFOUND: not a signal this filter estimates. An interlock reads
     *  a value returned with any error, or NaN, as engaged. Required. */
    int (*belief)(void *self, dt_signal_id sig, dt_time t, dt_belief *out);
    /** The time of the newest data behind the belief (DT_TIME_MIN before
     *  any): the twin's latency rule measures the belief's age from it,
     *  holding it to the newest sample the twin released (a later time is
     *  not believed) and reading a time outside dt_time_valid as no data.
     *  Required. */
    dt_time (*data_time)(const void *self);
    /** The state's signals in the belief vector's order: writes up to cap
     *  ids, returns n (0: no belief vector). Optional (default: 0). */
    size_t (*states)(const void *self, dt_signal_id *ids, size_t cap);
    /** The belief vector x (n) and its covariance P (n x n, row-major; may be
     *  NULL) propagated to t; n as states() returns. Optional (default:
     *  DT_EUNSUPPORTED). */
    int (*state)(void *self, dt_time t, double *x, double *P);
    /** The commanded signals the model takes as inputs, in u's order: writes
     *  up to cap ids, returns p (at most DT_LA_MAX: loading refuses more).
     *  Optional (default: 0). */
    size_t (*inputs)(const void *self, dt_signal_id *ids, size_t cap);
    /** The index of sig among the inputs, or -1. Optional (default: -1).
     *  An index at or past inputs()' count is ignored. */
    int (*input_index)(const void *self, dt_signal_id sig);
    /** The values last sent for the inputs (p values, in inputs() order),
     *  holding from now on: the dispatcher calls it when a sent value
     *  changes. Optional (default: DT_EUNSUPPORTED, ignored). */
    int (*set_input)(void *self, dt_time now, const double *u);
    /** The linear model: A (n x n) and B (n x p), row-major; *discrete = 0
     *  for dx/dt = A x + B u, 1 for x' = A x + B u per step. Optional
     *  (default: DT_EUNSUPPORTED, e.g. a nonlinear model). */
    int (*matrices)(const void *self, double *A, double *B, int *discrete);
    /** Counters for dt_twin_stats (fill what applies; zeroed first).
     *  Optional (default: all zero). */
    void (*stats)(const void *self, dt_est_stats *out);
    /** Computes the latency budgets, at load (a kind whose budgets change
     *  when it starts recomputes them in its start slot: the twin reads
     *  budget_count and budget again after start). Optional: NULL together
     *  with budget_count and budget means no budget. A negative DT_E* with
     *  diag refuses the description. */
    int (*budgets)(void *self, dt_diag *diag);
    /** The number of budgets (at most DT_FILTER_BUDGETS_MAX). Optional
     *  (default: 0). */
    size_t (*budget_count)(const void *self);
    /** Budget i in seconds (NaN: unknown, which fails the start closed) and
     *  its name. At load and after start each must be at least one loop
     *  period, and a twin that dispatches commands needs a finite one (or
     *  dispatcher.max_data_age). Optional (with budget_count). */
    int (*budget)(const void *self, size_t i, double *tau_max, const char **name);
    /** How many accuracy bounds the belief propagated to t breaks (the twin
     *  holds its safe state while any is). Optional (default: 0). */
    size_t (*bounds_violated_at)(void *self, dt_time t);
    /** How many signals dispute the belief (the twin holds its safe state
     *  while any does). Optional (default: 0). */
    size_t (*disputed)(const void *self);
    /* end of ABI 1 */
    /** Allocates what fuse needs, once, before the twin starts (the twin
     *  calls it when a source offers remote beliefs). Optional (with fuse). */
    int (*fuse_reserve)(void *self);
    /** Fuses a remote belief (dtwin/fusion.h: another twin's, aged with its
     *  sender's model to the fusion time, by covariance intersection or, when
     *  declared independent, as an ordinary update); omega receives the CI
     *  weight of the filter's own belief (1 for an independent update). The
     *  data time must not become later than b->t_data (b->t when 0). The
     *  twin hands it only beliefs whose time is not after the step's now,
     *  whose t_data is not after their time, whose mapped states are within
     *  the group and whose signals are the model's (a replayed log's too);
     *  their numbers (finite, symmetric PSD) are the kind's to check. DT_OK
     *  when fused, else a negative status (refused, not an error). Optional
     *  (default:
     *  DT_EUNSUPPORTED: the twin counts every belief offered as refused). */
    int (*fuse)(void *self, const dt_remote_belief *b, double *omega);
    /* end of ABI 2 */
} dt_filter_ops;

/** Registers a filter kind (ops is copied, but not the kind string it
 *  points to, which must outlive the registry; members beyond its declared
 *  abi read as the defaults). Start-up only; twins built before keep their
 *  own copy. The built-in "kf" is registered by
 *  dt_registry_create.
 *  @retval DT_EABI ops->abi outside 1..DT_FILTER_ABI.
 *  @retval DT_EEXIST the kind is taken.
 *  @retval DT_EINVAL NULL, no kind, instance_size 0, or a required slot
 *          (init, predict, update, belief, data_time) missing; or budget_count
 *          given without budget. @retval DT_ELIMIT 16 kinds. */
DT_API int dt_registry_add_filter(dt_registry *reg, const dt_filter_ops *ops);
/** The filter kind registered under `kind` (the registry's copy, defaults
 *  filled), or NULL. */
DT_API const dt_filter_ops *dt_registry_filter(const dt_registry *reg, const char *kind);

#ifdef __cplusplus
}
#endif
#endif
