/** @file
 * dtwin: the data, control and management planes of a twin.
 *
 * A twin hands out three handles once (dt_twin_planes), each with its own
 * capabilities, so that a host can give each component only what it needs:
 * the data plane to the acquisition component (push samples, read beliefs
 * and counters), the control plane to the planner (commands, setpoints,
 * parameters), and keep the management plane (lifecycle, recording, the
 * description) with the raw twin pointer in its supervisor. An entry point
 * called through a handle of another plane returns DT_EPLANE and is counted
 * on that handle (dt_plane_stats_get). Once the planes are taken the twin is
 * partitioned: dt_twin_submit returns DT_EPLANE and dt_twin_ingest,
 * dt_twin_estimator and dt_twin_io return NULL (docs/security.md, "Planes",
 * lists what stays reachable through the raw pointer and why).
 *
 * Every plane entry point checks the handle's kind first, before any other
 * argument; a NULL handle is DT_EINVAL. Each entry point's plane is tagged
 * in its comment (tests/gen_plane_matrix.py reads the tags). Thread rule:
 * as every dt_twin_* call, plane calls run on the twin's thread (a data-plane
 * producer on another thread pushes through its source's ring from a
 * dt_io_source_ctx, as before). */
#ifndef DTWIN_PLANE_H
#define DTWIN_PLANE_H

#include <stddef.h>
#include <stdint.h>

#include "dtwin/adapter.h"
#include "dtwin/clock.h"
#include "dtwin/estimator.h"
#include "dtwin/export.h"
#include "dtwin/twin.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A plane handle: owned by its twin, valid while the twin lives. */
typedef struct dt_plane dt_plane;

/** The kinds of plane. */
typedef enum dt_plane_kind {
    DT_PLANE_DATA = 1,    /**< samples in, beliefs and counters out */
    DT_PLANE_CONTROL = 2, /**< commands, setpoints, parameters */
    DT_PLANE_MGMT = 3     /**< lifecycle, recording, description export */
} dt_plane_kind;

/** The three handles of a twin (dt_twin_planes; the type cannot share the
 *  function's name in C). */
typedef struct dt_planes {
    dt_plane *data;    /**< the data plane */
    dt_plane *control; /**< the control plane */
    dt_plane *mgmt;    /**< the management plane */
} dt_planes;

/** Counters of one plane handle. */
typedef struct dt_plane_stats {
    uint64_t calls;         /**< plane entry points called through this handle, refused
                                 or not (the two read-only ones not counted) */
    uint64_t plane_refused; /**< refused with DT_EPLANE: an entry point of another plane */
    uint64_t range_refused; /**< refused with DT_ERANGE: a value out of range (a
                                 setpoint or parameter not finite or outside its
                                 signal's limits, a time outside the limit) */
    uint64_t refused;       /**< refused for their arguments or the twin's state:
                                 DT_EINVAL, DT_ENOTFOUND, DT_EUNSUPPORTED, DT_ESTATE,
                                 DT_EFULL (256 commands queued), DT_EPARSE (not a
                                 signed record) */
    uint64_t raw_refused;   /**< the twin's: raw calls refused since partitioning
                                 (dt_twin_submit, the raw accessors, a second
                                 dt_twin_planes, dt_io_apply on the twin's or a
                                 child's io); the same on every handle */
} dt_plane_stats;

/** Hands out the twin's three plane handles, once, and partitions the twin
 *  (see the file's comment). Allocates nothing: the handles live in the twin.
 *  Allowed before or after dt_twin_start, not from inside a step.
 *  @retval DT_EINVAL NULL twin or out. @retval DT_EPERM the planes were taken
 *  already (a second caller gets none of them).
 *  @retval DT_ESTATE called from inside a step, or on a composite's child
 *  (its parent steps it: take the parent's planes). */
DT_API int dt_twin_planes(dt_twin *twin, dt_planes *out);

/** The kind of a handle; 0 for NULL. @plane any */
DT_API int dt_plane_kind_of(const dt_plane *p);
/** A snapshot of the handle's counters. @plane any
 *  @retval DT_EINVAL NULL p or out. */
DT_API int dt_plane_stats_get(const dt_plane *p, dt_plane_stats *out);

/* ---- data plane ---- */

/** Pushes a native value into the memory source `source_id` (as
 *  dt_memory_source_push: by mapping name, or a signal id when the source
 *  maps nothing). @plane data
 *  @retval DT_ENOTFOUND no source with that id, or no mapping for the name
 *  (counted by the source). @retval DT_EINVAL NULL arguments or not a memory
 *  source. @retval DT_EFULL the ring refused it (counted). */
DT_API int dt_data_push(dt_plane *p, const char *source_id, const char *native,
                        dt_time t_source, double value);
/** The belief about a state or parameter signal at time t (any filter kind).
 *  @plane data
 *  @retval DT_EINVAL NULL out. @retval DT_EUNSUPPORTED no estimator.
 *  @retval DT_ENOTFOUND sig is not a state or parameter signal.
 *  @retval DT_ERANGE t outside the time limit. */
DT_API int dt_data_belief(dt_plane *p, dt_signal_id sig, dt_time t, dt_belief *out);
/** A snapshot of every counter of the twin (dt_twin_stats_get; the ingest
 *  stage's in out's ingest member). @plane data @retval DT_EINVAL NULL out. */
DT_API int dt_data_stats(dt_plane *p, dt_twin_stats *out);
/** The named counters of source `source_id` (dt_io_source_counters): writes
 *  up to max, sets n to how many it has. @plane data
 *  @retval DT_EINVAL NULL source_id or n. @retval DT_ENOTFOUND no such source. */
DT_API int dt_data_source_counters(dt_plane *p, const char *source_id, dt_counter *out,
                                   size_t max, size_t *n);
/** Takes up to max commands from the memory sink `sink_id`
 *  (dt_memory_sink_read), setting n to how many. @plane data
 *  @retval DT_EINVAL NULL sink_id or n. @retval DT_ENOTFOUND no such sink. */
DT_API int dt_data_sink_read(dt_plane *p, const char *sink_id, dt_command *out, size_t max,
                             size_t *n);

/** The newest remote belief source `source_id` offered (a `twin` or `child`
 *  source), as dt_io_source_belief: the view is valid until the source
 *  offers the next one. arrival may be NULL. @plane data
 *  @retval DT_EINVAL NULL source_id or out, or a source that offers no
 *  beliefs. @retval DT_ENOTFOUND no such source. @retval DT_EEMPTY none
 *  offered yet. */
DT_API int dt_data_source_belief(dt_plane *p, const char *source_id, dt_remote_belief *out,
                                 dt_time *arrival);
/** The clock model of source `source_id` (dt_ingest_clock: its offset and
 *  skew against the twin's time base), read-only, valid while the twin
 *  lives; NULL when the source has none. @plane data
 *  @retval DT_EINVAL NULL source_id or out. @retval DT_ENOTFOUND no such
 *  source. */
DT_API int dt_data_source_clock(dt_plane *p, const char *source_id, const dt_clock **out);

/* ---- control plane ---- */

/** Queues a command for the next cycle's dispatcher, as dt_twin_submit did
 *  before partitioning (same checks, recorded the same way). @plane control
 *  @retval DT_EINVAL NULL cmd or not a commanded signal. @retval DT_EFULL 256
 *  queued. @retval DT_ESTATE from inside a step. */
DT_API int dt_control_submit(dt_plane *p, const dt_command *cmd);
/** Queues a signed command record, as dt_twin_submit_signed did before
 *  partitioning (a twin with "dispatcher.auth"). @plane control
 *  @retval DT_EPARSE not a record. @retval DT_ENOTFOUND addressed to no
 *  commanded signal of this twin. @retval DT_EFULL 256 queued.
 *  @retval DT_EUNSUPPORTED no "dispatcher.auth". @retval DT_ESTATE from
 *  inside a step. */
DT_API int dt_control_submit_signed(dt_plane *p, const void *record, size_t len);
/** Sets controller `controller_id`'s setpoint from the next dt_twin_step on
 *  (queued without allocating: the last value given before a step is the
 *  one it takes). The built-in pid uses it in place of its configured
 *  "setpoint"; a host or callback controller reads it with
 *  dt_ctrl_setpoint. A host input: the flight recorder logs it and a replay
 *  sets it again at the same point. @plane control
 *  @retval DT_EINVAL NULL controller_id. @retval DT_ENOTFOUND no such
 *  controller. @retval DT_EUNSUPPORTED a state_feedback controller (its
 *  reference is a vector, x_ref). @retval DT_ERANGE value not finite, or
 *  outside the limits of the controller's input signal when the model gives
 *  them (counted range_refused). @retval DT_ESTATE from inside a step. */
DT_API int dt_control_setpoint(dt_plane *p, const char *controller_id, double value);
/** Writes a parameter signal at run time through the "kf" estimator's
 *  parameter write (dt_est_set_param; it takes effect at once, in the
 *  filter's history at its time). A host input: recorded and replayed.
 *  @plane control
 *  @retval DT_EUNSUPPORTED no "kf" estimator. @retval DT_ENOTFOUND sig is not a
 *  parameter of it. @retval DT_ERANGE value not finite or outside the
 *  signal's limits (counted range_refused). @retval DT_ESTATE from inside a
 *  step. */
DT_API int dt_control_param(dt_plane *p, dt_signal_id sig, double value);

/* ---- management plane ---- */

/** dt_twin_start through the management plane. @plane mgmt
 *  Errors as dt_twin_start. */
DT_API int dt_mgmt_start(dt_plane *p, dt_time now);
/** dt_twin_stop through the management plane. @plane mgmt
 *  @retval DT_ESTATE not started. */
DT_API int dt_mgmt_stop(dt_plane *p);
/** dt_twin_record through the management plane. @plane mgmt
 *  @retval DT_EINVAL NULL fn. @retval DT_ESTATE started. @retval DT_EIO the
 *  header write failed. */
DT_API int dt_mgmt_record(dt_plane *p, dt_record_write_fn fn, void *user);
/** Exports the twin's description as JSON (dt_model_save_json: the model
 *  and every section it keeps) into buf. @plane mgmt
 *  @retval DT_EFULL buf too small (or NULL with cap 0): needed is set.
 *  @retval DT_ENOMEM. */
DT_API int dt_mgmt_export(dt_plane *p, char *buf, size_t cap, size_t *needed);
/** The contract the twin publishes on its bus (dt_twin_contract): out gets
 *  the text or NULL without one. @plane mgmt @retval DT_EINVAL NULL out. */
DT_API int dt_mgmt_contract(dt_plane *p, const char **out);
/** Revokes a command or estimator key by its fingerprint, as dt_twin_revoke
 *  did before partitioning: its queued commands are dropped. @plane mgmt
 *  @retval DT_EPARSE not a fingerprint. @retval DT_ELIMIT 64 revoked.
 *  @retval DT_EUNSUPPORTED no "dispatcher.auth". @retval DT_ESTATE inside a step. */
DT_API int dt_mgmt_revoke(dt_plane *p, const char *key_id);

#ifdef __cplusplus
}
#endif
#endif
