/** @file
 * dtwin: the twin runtime, one Sense -> Synchronize -> Understand -> Act cycle
 * per dt_twin_step(). */
#ifndef DTWIN_TWIN_H
#define DTWIN_TWIN_H

#include <stddef.h>
#include <stdint.h>

#include "dtwin/adapter.h"
#include "dtwin/cmdauth.h"
#include "dtwin/control.h"
#include "dtwin/estimator.h"
#include "dtwin/event.h"
#include "dtwin/export.h"
#include "dtwin/ingest.h"
#include "dtwin/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A twin: model, adapters, ingest, estimator, controllers and dispatcher
 *  from one description. The core reads no clock and does no I/O of its own:
 *  the host passes `now` to every step, so the same inputs give the same
 *  outputs. Thread rule: source producers may push from their own threads;
 *  every dt_twin_* call runs on the twin's thread. */
typedef struct dt_twin dt_twin;

/** A twin's memory budget when the description gives no "memory":
 *  {"max_bytes": N}: 256 MiB. The largest consumers (rings and reorder
 *  buffers of the sources, sink queues, the estimator's history, the audit)
 *  are estimated from the description before anything is allocated; a twin
 *  above its budget is refused (DT_ELIMIT) naming them. */
#define DT_TWIN_MEMORY_DEFAULT 268435456.0
#define DT_TWIN_MEMORY_MIN 1048576.0        /**< smallest memory.max_bytes: 1 MiB */
#define DT_TWIN_MEMORY_MAX 1099511627776.0  /**< largest memory.max_bytes: 1 TiB */

/** Options for building a twin; start from DT_TWIN_OPTIONS_INIT. */
typedef struct dt_twin_options {
    size_t size;                   /**< sizeof(dt_twin_options) */
    const dt_allocator *allocator; /**< NULL: default */
    const dt_logger *logger;       /**< NULL: stderr */
    dt_registry *registry;         /**< adapter and controller kinds; NULL: built-ins */
    const char *basedir;           /**< for relative paths; NULL: the file's directory */
    int replay;                    /**< build for dt_twin_replay: no adapter is opened */
    /** With replay: also run each adapter's validate slot (the files it would
     *  read, the addresses it would bind), so that loading finds what opening
     *  the adapters would refuse (`dtwin check`). Such a twin is for checking
     *  only: dt_twin_replay refuses it. Added after the first release: a
     *  caller built with the older, shorter options passes the older size. */
    int validate;
    /** The key store adapters load their keys from (dtwin/keys.h; the host
     *  keeps it open while the twin lives). NULL: the description's "keys"
     *  section, if any. Appended later: an older, shorter options struct
     *  passes its own size. */
    dt_keystore *keys;
} dt_twin_options;
/** Defaults for dt_twin_options. */
#define DT_TWIN_OPTIONS_INIT {sizeof(dt_twin_options), NULL, NULL, NULL, NULL, 0, 0, NULL}

/** Loads a description and builds every part of the twin (all allocation
 *  happens here). @retval DT_EPARSE etc. with diag naming the JSON path. */
DT_API int dt_twin_load_json(const char *text, size_t len, const dt_twin_options *opt,
                             dt_twin **out, dt_diag *diag);
/** dt_twin_load_json() for a file; relative paths in it are resolved against
 *  the file's directory unless opt->basedir says otherwise.
 *  @retval DT_EIO unreadable file. */
DT_API int dt_twin_load_file(const char *path, const dt_twin_options *opt, dt_twin **out,
                             dt_diag *diag);
/** Closes every adapter (flushing sinks) and frees the twin. NULL: no-op. */
DT_API void dt_twin_destroy(dt_twin *twin);

/** Registers a host callback as controller `id` (declared in the description
 *  with "kind": "callback"). Before dt_twin_start.
 *  @retval DT_ENOTFOUND no controller with that id. @retval DT_EINVAL it is not of kind "callback", or NULL fn. @retval DT_ESTATE started. */
DT_API int dt_twin_set_callback(dt_twin *twin, const char *id, dt_ctrl_fn fn, void *user);

/** Starts the twin at time now: starts ingest and the estimator, computes the
 *  latency budgets; with a budget, the latency rule holds the safe state until
 *  the first data arrives.
 *  @retval DT_ESTATE already started.
 *  @retval DT_ENUMERIC a latency budget could not be computed (the twin
 *          never runs without a known budget).
 *  @retval DT_ERANGE now is outside DT_TIME_LIMIT, or a budget the filter
 *          gives at start is below one loop period or not finite where the
 *          twin commands. @retval DT_ELIMIT the filter declares more than
 *          DT_FILTER_BUDGETS_MAX budgets. Other codes: the estimator's start. */
DT_API int dt_twin_start(dt_twin *twin, dt_time now);
/** One cycle at time now (non-decreasing). Never allocates.
 *  @retval DT_ESTATE not started or stopped, or called from inside a step (an
 *  observer, the verify hook, a controller). @retval DT_ERANGE now went back. */
DT_API int dt_twin_step(dt_twin *twin, dt_time now);
/** Stops stepping (later steps return DT_ESTATE); the stats stay readable.
 *  @retval DT_ESTATE not started. */
DT_API int dt_twin_stop(dt_twin *twin);
/** Queues a command from the host for the next cycle's dispatcher (same checks
 *  as controller commands, including its deadline); the twin assigns its
 *  sequence number. @retval DT_EFULL 256 queued. @retval DT_ESTATE called from
 *  inside a step (an observer, the verify hook, a controller).
 *  @retval DT_EPLANE the twin's planes were taken (dtwin/plane.h): commands go
 *  through the control plane's dt_control_submit (counted raw_refused). */
DT_API int dt_twin_submit(dt_twin *twin, const dt_command *cmd);

/** Queues a signed command record (dtwin/cmdauth.h) for the next cycle's
 *  dispatcher, on a twin whose description has "dispatcher.auth". The
 *  record is routed by the address it names; the dispatcher verifies it
 *  before anything else (issuer, signature or MAC, address, replay window,
 *  times, belief token) and carries out only what the issuer signed. Every
 *  refusal is counted (dt_twin_cmdauth_stats).
 *  @param twin the twin. @param record the record. @param len its length.
 *  @retval DT_EPARSE not a record. @retval DT_ENOTFOUND addressed to no
 *  commanded signal of this twin. @retval DT_EFULL 256 queued.
 *  @retval DT_EUNSUPPORTED the twin takes no signed commands.
 *  @retval DT_ESTATE called from inside a step. */
DT_API int dt_twin_submit_signed(dt_twin *twin, const void *record, size_t len);
/** Revokes a command or estimator key by its fingerprint (dt_key_id): its
 *  queued commands are dropped now (counted `revoked_dropped`), and every
 *  later record it signed is refused (`revoked`).
 *  @param twin the twin. @param key_id DT_KEY_ID_CHARS hex digits.
 *  @retval DT_EPARSE not a fingerprint. @retval DT_ELIMIT 64 revoked keys.
 *  @retval DT_EUNSUPPORTED no "dispatcher.auth". @retval DT_ESTATE inside a step. */
DT_API int dt_twin_revoke(dt_twin *twin, const char *key_id);
/** The signed-command counters of a twin with "dispatcher.auth".
 *  @param twin the twin. @param out receives them (zeros without auth).
 *  @retval DT_EUNSUPPORTED no "dispatcher.auth". @retval DT_EINVAL NULL. */
DT_API int dt_twin_cmdauth_stats(const dt_twin *twin, dt_cmdauth_stats *out);

/* ---- observers and the verify hook ---- */

/** The most observers plus queues a twin takes. */
#define DT_TWIN_OBSERVERS_MAX 8
/** The largest event queue, in events. */
#define DT_EVENT_QUEUE_MAX 1048576u

/** Registers a callback observer (the struct is copied). Before
 *  dt_twin_start.
 *  @retval DT_EINVAL NULL, no callback, an empty or unknown mask, or counters
 *  wanted every 0 steps. @retval DT_EABI obs->size is not sizeof(dt_observer).
 *  @retval DT_ESTATE started. @retval DT_ELIMIT DT_TWIN_OBSERVERS_MAX already, or
 *  (belief events, Kalman filter) the estimator's analytics slots are all taken.
 *  @retval DT_ENOMEM (belief events, another filter kind) its state buffer.
 *  @retval DT_EUNSUPPORTED belief events on a twin without an estimator. */
DT_API int dt_twin_observe(dt_twin *twin, const dt_observer *obs);
/** Creates a bounded event queue of `capacity` events (rounded up to a power
 *  of two, at most DT_EVENT_QUEUE_MAX) for the kinds in `mask` (counter
 *  snapshots every `counters_every` steps), owned by the twin and freed with
 *  it. Belief events in a queue carry no x and P (see dt_event_belief). Before
 *  dt_twin_start; the only allocation is here. Errors as dt_twin_observe, and
 *  @retval DT_EINVAL capacity 0 or above the maximum. @retval DT_ENOMEM.
 *  @retval DT_ELIMIT the queue would take the twin above its memory budget
 *  (memory.max_bytes; the queues count with the rings and buffers). */
DT_API int dt_twin_event_queue(dt_twin *twin, size_t capacity, uint32_t mask,
                               uint32_t counters_every, dt_event_queue **out);

/** Sets the dispatcher's verify hook (see dt_verify_fn); NULL removes it.
 *  Before dt_twin_start. @retval DT_ESTATE started. */
DT_API int dt_twin_set_verify(dt_twin *twin, dt_verify_fn fn, void *user);

/* ---- flight recorder ---- */

/** Writes len bytes; returns 0, or a negative DT_E* (recording then stops). */
typedef int (*dt_record_write_fn)(void *user, const void *data, size_t len);
/** Reads exactly len bytes; returns 0, DT_EEMPTY at the end (nothing read),
 *  or another negative DT_E*. */
typedef int (*dt_record_read_fn)(void *user, void *data, size_t len);

/** Records every input the twin consumes from now on (start and step times,
 *  samples as drained, host-submitted commands, sink results) in a compact
 *  binary log (docs/cli.md). Before dt_twin_start. The write function runs on
 *  the twin's thread inside dt_twin_step.
 *  @retval DT_ESTATE already started. @retval DT_EIO the header write failed. */
DT_API int dt_twin_record(dt_twin *twin, dt_record_write_fn fn, void *user);
/** Re-runs a log on a twin loaded from the same description with
 *  options.replay set: the same estimates and commands, bit for bit (callback
 *  controllers must be registered again and be deterministic). on_step (may
 *  be NULL) runs after each replayed step.
 *  @retval DT_EPARSE not a log, or a corrupt one. @retval DT_EABI the log was
 *  recorded with another description. @retval DT_ESTATE twin not in replay mode. */
DT_API int dt_twin_replay(dt_twin *twin, dt_record_read_fn fn, void *user,
                          void (*on_step)(void *user, dt_twin *twin, dt_time now),
                          void *step_user);

/** The twin's model (owned by the twin). */
DT_API const dt_model *dt_twin_model(const dt_twin *twin);
/** The loop period the description gives ("loop": {"period"}), default 0.01 s. */
DT_API double dt_twin_period_s(const dt_twin *twin);
/** The contract the twin publishes on the bus ($contract, JSON text with its
 *  version; docs/bus.md), valid while the twin lives; built and checked when
 *  the twin is loaded, also for `dtwin check`. NULL without a bus section,
 *  or when the bus publishes nothing (no belief group, accept or stream). */
DT_API const char *dt_twin_contract(const dt_twin *twin);
/** The twin's ingest stage (owned by the twin; for stats and clocks). NULL
 *  once the twin's planes were taken (dtwin/plane.h; counted raw_refused):
 *  its counters are the data plane's dt_data_stats then. */
DT_API dt_ingest *dt_twin_ingest(dt_twin *twin);
/** The twin's Kalman estimator (owned by the twin) when its "estimator"
 *  section is of the built-in kind "kf" (the default); NULL without an
 *  "estimator" section or for another filter kind (include/dtwin/filter.h).
 *  Hosts may add EKF measurement callbacks before dt_twin_start (and before
 *  dt_twin_planes: NULL once the planes were taken, counted raw_refused;
 *  beliefs and parameters then go through dt_data_belief and
 *  dt_control_param). */
DT_API dt_est *dt_twin_estimator(dt_twin *twin);
/** The twin's adapters (owned by the twin): memory source pushes, sink reads.
 *  NULL once the twin's planes were taken (dtwin/plane.h; counted
 *  raw_refused): pushes and reads go through the data plane then. */
DT_API dt_io *dt_twin_io(dt_twin *twin);
/** The allocator the twin was created with (dt_twin_options.allocator, or the
 *  default): for host code that allocates on the twin's behalf, such as a
 *  loop driver. NULL twin: the default allocator. */
DT_API const dt_allocator *dt_twin_allocator(const dt_twin *twin);
/** Detail of the last failure of a call on this twin. */
DT_API const char *dt_twin_errmsg(const dt_twin *twin);

/** Latency histogram (log2 buckets of nanoseconds). */
typedef struct dt_latency_stats {
    uint64_t count; /**< observations */
    dt_time p50;    /**< median: upper bound of its bucket, ns */
    dt_time p99;    /**< 99th percentile: upper bound of its bucket, ns */
    dt_time max;    /**< exact maximum, ns */
} dt_latency_stats;

/** Everything a twin counts (dt_twin_stats_get). */
typedef struct dt_twin_stats {
    uint64_t cycles;                /**< dt_twin_step calls that ran */
    dt_time last_cycle_interval;    /**< now - previous now, ns */
    dt_time max_cycle_interval;     /**< the largest such interval, ns */
    dt_ingest_stats ingest;         /**< the ingest stage */
    dt_est_stats estimator;         /**< the estimator (zero without one) */
    /* dispatcher: every command ends as sent, expired, refused or sink_errors */
    uint64_t commands;     /**< commands the dispatcher received */
    uint64_t sent;         /**< handed to a sink (or to none mapping it) */
    uint64_t clamped;      /**< limited to hard limits */
    uint64_t rate_limited; /**< limited by a rate limit */
    uint64_t interlocked;  /**< replaced by an interlock's value */
    uint64_t expired;      /**< past their deadline: not sent */
    uint64_t safe_stated;  /**< replaced by the safe value */
    uint64_t sink_errors;  /**< refused by every sink */
    uint64_t unconfirmed;   /**< sent but not reported applied within confirm_timeout */
    uint64_t safe_entries;  /**< times the safe state was engaged (latency rule, broken
                                 bound, or failing sinks) */
    uint64_t sink_fault_entries; /**< a signal reached dispatcher.sink_failures
                                      consecutive sink failures */
    int safe_state;         /**< 1 while the safe state is engaged */
    double belief_age_s;    /**< data age at the last cycle */
    double tau_max_s;       /**< the smallest latency budget (INFINITY if none) */
    dt_latency_stats arrival_to_estimate; /**< sample arrival -> applied to the estimate */
    dt_latency_stats arrival_to_command;  /**< newest arrival -> a command sent */
    dt_time safe_time; /**< twin time spent in the safe state, ns: each interval
                            between two steps counts when the step that began it
                            left the twin in the safe state */
    uint64_t refused;     /**< commands the verify hook refused (not sent) */
    uint64_t events_lost; /**< events the twin's queues could not take (full) */
    /* remote beliefs (sources that offer other twins' beliefs) */
    uint64_t beliefs_offered;      /**< offered by the sources, times mapped (a replay:
                                        the beliefs its log holds) */
    uint64_t beliefs_superseded;   /**< replaced by a newer one before a step fused them */
    uint64_t beliefs_time_refused; /**< refused at the offer: a time out of range, in the
                                        future, or completing a clock step */
    uint64_t beliefs_fused;        /**< fused into the estimate */
    uint64_t beliefs_refused;      /**< not fused (the estimator's counters say why) */
    uint64_t beliefs_kept;         /**< given no weight by covariance intersection (the
                                        twin's own belief kept whole: nothing changed) */
    uint64_t beliefs_independent_as_ci; /**< declared independent, fused by covariance
                                             intersection: not their source's first (its
                                             earlier beliefs are in the estimate) */
} dt_twin_stats;

/** A snapshot of every counter. */
DT_API void dt_twin_stats_get(const dt_twin *twin, dt_twin_stats *out);
/** Desired (last sent) vs reported (dt_io_report) state of a commanded signal;
 *  confirmed when the newest sent command has been reported.
 *  @retval DT_EINVAL not a commanded signal. */
DT_API int dt_twin_actuation(const dt_twin *twin, dt_signal_id sig, double *desired,
                             double *reported, int *confirmed);
/** The newest audit records, oldest first; returns how many were written. */
DT_API size_t dt_twin_audit(const dt_twin *twin, dt_audit *out, size_t max);

#ifdef __cplusplus
}
#endif
#endif
