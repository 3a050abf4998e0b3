/* Internals shared by the controllers, the dispatcher and the twin. */
#ifndef DTWIN_SRC_CONTROL_INTERNAL_H
#define DTWIN_SRC_CONTROL_INTERNAL_H

#include "dtwin/control.h"
#include "dtwin/estimator.h"
#include "../estimator/filter_internal.h"

struct dt_ctrl_ctx {
    const dt_model *model;
    dt__filter *est;    /* the estimator's filter; may be NULL (no estimator) */
    dt_time now;
    double dt;          /* seconds since this controller's previous run */
    /* emitted commands this cycle */
    dt_command *queue;
    size_t n_queue, cap;
    uint64_t *seq;
    dt_time deadline;   /* relative deadline of emitted commands */
    uint16_t origin;    /* DT_ORIGIN_CONTROLLER | the running controller's index */
    const double *last_sent; /* per signal: last value sent (NAN if none) */
    int has_sp;              /* the running controller has a run-time setpoint */
    double sp;               /* which (dt_ctrl_setpoint) */
    char *err;
    size_t errcap;
};

extern const dt_controller_ops dt__pid_ops;
extern const dt_controller_ops dt__state_feedback_ops;
extern const dt_controller_ops dt__callback_ops;

/* The callback controller's state: set by dt_twin_set_callback. */
typedef struct dt__callback_ctrl {
    dt_ctrl_fn fn;
    void *user;
} dt__callback_ctrl;

/* The signal a controller instance's setpoint is compared with (the pid's
 * input), to range-check a run-time setpoint against its limits: 1 and sig
 * set, or 0 when the kind has none the core knows. A state_feedback
 * controller takes none: -1. */
int dt__ctrl_setpoint_signal(const dt_controller_ops *ops, const void *self, dt_signal_id *sig);

/* Last value the dispatcher sent for sig (NAN if none). */
double dt__ctrl_last_sent(const dt_ctrl_ctx *ctx, dt_signal_id sig);

#endif
