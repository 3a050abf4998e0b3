/** @file
 * dtwin: controllers and the command dispatcher. */
#ifndef DTWIN_CONTROL_H
#define DTWIN_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "dtwin/adapter.h"
#include "dtwin/export.h"
#include "dtwin/sample.h"
#include "dtwin/time.h"

#ifdef __cplusplus
extern "C" {
#endif

/** What a controller sees: the belief (values at the cycle's time) and a
 *  way to emit commands. Valid during the call only. */
typedef struct dt_ctrl_ctx dt_ctrl_ctx;

/** Value of a state or parameter signal's belief at the cycle's time.
 *  @retval DT_ENOTFOUND not an estimated or parameter signal. @retval DT_EINVAL NULL arguments.
 *  @retval DT_ENUMERIC the filter gave no finite value (value untouched). */
DT_API int dt_ctrl_value(dt_ctrl_ctx *ctx, dt_signal_id sig, double *value);
/** The signals of the belief vector, in its order: writes up to cap ids
 *  (ids may be NULL to ask for the count) and returns n; 0 when the twin's
 *  filter has no belief vector (or no estimator). */
DT_API size_t dt_ctrl_state_signals(const dt_ctrl_ctx *ctx, dt_signal_id *ids, size_t cap);
/** The commanded signals the model takes as inputs, in u's order (the
 *  columns of B): writes up to cap ids and returns p (ids may be NULL). */
DT_API size_t dt_ctrl_input_signals(const dt_ctrl_ctx *ctx, dt_signal_id *ids, size_t cap);
/** The belief vector x (n values) and its covariance P (n x n, row-major;
 *  NULL: not wanted) at the cycle's time, in dt_ctrl_state_signals' order.
 *  Allocates nothing (the "kf" filter propagates through its own scratch).
 *  @retval DT_EINVAL NULL ctx or x, no estimator, or n is not the filter's
 *          state dimension. @retval DT_EUNSUPPORTED the filter exposes no
 *          belief vector. @retval DT_ENUMERIC / DT_ERANGE the propagation to
 *          the cycle's time failed (x, P undefined). */
DT_API int dt_ctrl_belief(dt_ctrl_ctx *ctx, double *x, double *P, size_t n);
/** The filter's linear model: A (n x n) and B (n x p, NULL when p = 0),
 *  row-major, in the orders of dt_ctrl_state_signals and
 *  dt_ctrl_input_signals; *discrete = 0 for dx/dt = A x + B u (continuous,
 *  per second), 1 for x' = A x + B u once per step (a "discrete" process).
 *  @retval DT_EINVAL NULL arguments, no estimator, or n / p not the model's.
 *  @retval DT_EUNSUPPORTED the filter has no linear model (a nonlinear
 *          process, or a filter kind without the matrices slot). */
DT_API int dt_ctrl_model_matrices(const dt_ctrl_ctx *ctx, double *A, double *B, size_t n,
                                  size_t p, int *discrete);
/** Emits a command for a commanded signal; the dispatcher checks it.
 *  @retval DT_EINVAL not a commanded signal. @retval DT_EFULL 256 commands this cycle. */
DT_API int dt_ctrl_command(dt_ctrl_ctx *ctx, dt_signal_id sig, double value);
/** The run-time setpoint the host set for the running controller
 *  (dt_control_setpoint, include/dtwin/plane.h), for host and callback
 *  controllers; the built-in pid reads it in place of its configured one.
 *  @retval DT_EEMPTY none set yet (value untouched: keep the configured one).
 *  @retval DT_EINVAL NULL arguments. */
DT_API int dt_ctrl_setpoint(const dt_ctrl_ctx *ctx, double *value);
/** The cycle's time (common time base). */
DT_API dt_time dt_ctrl_now(const dt_ctrl_ctx *ctx);
/** Seconds since this controller last ran (0 on the first run). */
DT_API double dt_ctrl_dt(const dt_ctrl_ctx *ctx);
/** The twin's model (to resolve signal ids in init). */
DT_API const dt_model *dt_ctrl_model(const dt_ctrl_ctx *ctx);
/** Sets the message a failing init or compute reports (printf format); the
 *  twin puts it in its diag, e.g. "controllers[0]: K: expected 1 rows". */
DT_API void dt_ctrl_error(dt_ctrl_ctx *ctx, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/** A controller kind ("pid", "state_feedback", or the host's). The core
 *  allocates instance_size bytes per instance. init reads the configuration
 *  (at creation; it may call dt_ctrl_error and fail), compute runs once per
 *  cycle on the twin's thread and must not block or allocate, reset returns
 *  to the initial state without a bump (called when the dispatcher leaves the
 *  safe state). */
typedef struct dt_controller_ops {
    uint32_t abi; /**< DT_CONTROLLER_ABI */
    const char *kind;        /**< the description's "kind" */
    size_t instance_size;    /**< bytes of state per instance, zeroed */
    const char *const *keys; /**< keys beyond id and kind, NULL-terminated */
    /** Reads the configuration; 0 or a negative DT_E* (with dt_ctrl_error). */
    int (*init)(void *self, dt_ctrl_ctx *ctx, const dt_config *cfg);
    /** One cycle: reads the belief, emits commands; must not block or allocate. */
    int (*compute)(void *self, dt_ctrl_ctx *ctx);
    void (*reset)(void *self, dt_ctrl_ctx *ctx); /**< may be NULL */
    /* end of ABI 1 */
} dt_controller_ops;

/** A host callback controller: registered under kind "callback" by
 *  dt_twin_set_callback(); compute as above. */
typedef int (*dt_ctrl_fn)(void *user, dt_ctrl_ctx *ctx);

/** Registers a controller kind (ops must outlive the registry). Start-up only.
 *  @retval DT_EABI ops->abi outside DT_ADAPTER_ABI_MIN..DT_CONTROLLER_ABI.
 *  @retval DT_EEXIST the kind is taken.
 *  @retval DT_EINVAL NULL or incomplete ops. @retval DT_ELIMIT 64 kinds. */
DT_API int dt_registry_add_controller(dt_registry *reg, const dt_controller_ops *ops);
/** The controller kind registered under `kind`, or NULL. */
DT_API const dt_controller_ops *dt_registry_controller(const dt_registry *reg,
                                                       const char *kind);

/* ---- delay margin ---- */

/** A loop transfer function L(s) = num(s) / den(s) e^{-s dead_time};
 *  coefficients highest power first (num = {2, 1} is 2 s + 1). Proper:
 *  deg num <= deg den; degrees up to 32. */
typedef struct dt_loop_tf {
    const double *num; /**< numerator coefficients, highest power first */
    size_t num_len;    /**< their count (1..33) */
    const double *den; /**< denominator coefficients, highest power first */
    size_t den_len;    /**< their count (1..33), >= num_len */
    double dead_time; /**< known delay already in the loop, seconds (>= 0) */
} dt_loop_tf;

/** The result of dt_delay_margin. */
typedef struct dt_margin {
    double delay;      /**< largest added delay keeping the loop stable, s; INFINITY if |L| < 1 everywhere */
    double crossover;  /**< the gain crossover that sets it, rad/s (NAN when unbounded) */
    double phase;      /**< the phase margin there, rad */
    size_t crossovers; /**< gain crossovers found */
} dt_margin;

/** Delay margin of a feedback loop: checks that the closed loop without added
 *  delay is stable (Routh-Hurwitz on den + num for the rational part; with a
 *  dead time, every crossover must keep a positive margin), finds every gain
 *  crossover |L(jw)| = 1 (log-spaced scan over the roots' frequency range,
 *  each bracket refined by bisection to 1e-13 relative), and returns the
 *  smallest phase margin / crossover frequency over them.
 *  @retval DT_EUNSTABLE the closed loop is already unstable.
 *  @retval DT_EINVAL improper, degree > 32, non-finite, or zero denominator. */
DT_API int dt_delay_margin(const dt_loop_tf *loop, dt_margin *out);

/** Decisions the dispatcher takes on a command (bits in dt_audit.decision). */
#define DT_DISP_SENT 0x01u        /**< handed to at least one sink */
#define DT_DISP_CLAMPED 0x02u     /**< limited to the signal's hard limits */
#define DT_DISP_RATE_LIMITED 0x04u /**< limited by the signal's rate limit */
#define DT_DISP_INTERLOCKED 0x08u /**< replaced by an interlock's value */
#define DT_DISP_EXPIRED 0x10u     /**< past its deadline: not sent */
#define DT_DISP_SAFE_STATE 0x20u  /**< replaced by the safe value */
#define DT_DISP_SINK_ERROR 0x40u  /**< every sink refused it */
#define DT_DISP_REFUSED 0x80u     /**< the verify hook refused it: not sent */

/** The dispatcher's verify hook (dt_twin_set_verify): runs first, before any
 *  rule, for every command entering the dispatcher from a controller, the host
 *  or a remote twin (not for the dispatcher's own safe-state commands). Returns
 *  0 to admit the command, writing the authority it grants (kept in the
 *  command's `authority`; the rules do not read it yet); any other value
 *  refuses it (return a negative DT_E*: a positive value is recorded as
 *  DT_EINVAL): the command is counted `refused`, audited with
 *  DT_DISP_REFUSED and that status, and reaches no sink. It judges a copy of
 *  the command: nothing it writes there changes what the dispatcher sends.
 *  Runs on the twin's thread inside dt_twin_step; must not block, and may
 *  call back into the twin only through its read-only getters (dt_twin_step
 *  and dt_twin_submit return DT_ESTATE from there). */
typedef int (*dt_verify_fn)(void *user, const dt_command *cmd, dt_time now,
                            uint16_t *authority);

/** One dispatched command, as sent (or not), for the audit ring. */
typedef struct dt_audit {
    dt_command cmd;     /**< value as decided */
    double requested;   /**< value the controller asked for */
    uint32_t decision;  /**< DT_DISP_* */
    int sink_status;    /**< dt_io_apply's result; with DT_DISP_REFUSED the verify hook's */
} dt_audit;

#ifdef __cplusplus
}
#endif
#endif
