/* Internal to the twin module: the twin's state and what its files share
 * (twin.c: lifecycle, step, stats; twin_load.c: the description;
 * dispatch.c: the dispatcher's rules; recorder.c: the flight recorder and
 * replay). */
#ifndef DTWIN_TWIN_INTERNAL_H
#define DTWIN_TWIN_INTERNAL_H

#include <stdint.h>

#include "dtwin/alloc.h"
#include "dtwin/error.h"
#include "dtwin/model.h"
#include "dtwin/plane.h"
#include "dtwin/twin.h"
#include "../control/control_internal.h"
#include "../control/dispatcher.h"

/* The description's memory estimate against its budget ("memory.max_bytes",
 * default DT_TWIN_MEMORY_DEFAULT), before anything is allocated; DT_ELIMIT
 * names the largest consumers. */
int dt__twin_memory_check(const dt_model *m, const dt_allocator *a, dt_diag *diag,
                          double *need, double *budget);

/* A command received from another twin over the bus (src/bus): queued for
 * the next dispatch as dt_twin_submit queues the host's, with origin
 * (DT_ORIGIN_REMOTE | index) kept. Allowed outside a step and inside its
 * Sense phase (the io's poll, before the dispatcher runs: it is dispatched
 * in the same step); *seq gets the twin's number for it (the command
 * events carry it). @retval DT_ESTATE later in a step, not started, or stopped.
 * @retval DT_EFULL 256 queued. @retval DT_EINVAL not a commanded signal. */
int dt__twin_submit_remote(dt_twin *t, const dt_command *cmd, uint16_t origin, uint64_t *seq);
/* cmd_auth.c: a signed command record from another twin for signal sig (the
 * topic's), queued as dt__twin_submit_remote queues an unsigned one; the
 * dispatcher verifies it. @retval DT_EPARSE not a record. @retval
 * DT_ENOTFOUND addressed to another twin or signal. @retval DT_EUNSUPPORTED
 * no dispatcher.auth. Others as dt__twin_submit_remote. Whether the twin
 * takes signed commands (has dispatcher.auth). */
int dt__twin_submit_remote_signed(dt_twin *t, const uint8_t *rec, size_t len, dt_signal_id sig,
                                  uint16_t origin, uint64_t *seq);
int dt__twin_takes_signed(const dt_twin *t);
/* recorder.c: a remote command taken, its origin kept: REC_REMOTE between
 * steps, REC_REMOTE_STEP in a step's Sense phase (a replay injects it
 * there). */
void dt__twin_rec_remote(dt_twin *t, const dt_command *cmd);

/* A tap on the samples the step releases (validated, mapped to the twin's
 * time base, in time order, as the estimator gets them): fn(user, s, n, now)
 * for each released batch, then fn(user, NULL, 0, now) once at the end of
 * the step's Understand phase, so a consumer that batches them (the bus's
 * sample streams) flushes in the step that received them. One tap; fn
 * NULL removes it. Set before dt_twin_start. */
typedef void (*dt__twin_sample_tap)(void *user, const dt_sample *s, size_t n, dt_time now);
int dt__twin_set_sample_tap(dt_twin *t, dt__twin_sample_tap fn, void *user);

#define RELEASE_BATCH 256
#define QUEUE_CAP 256
#define MAX_CONTROLLERS 64
#define HIST_BUCKETS 64

typedef struct ctrl {
    char *id;
    const dt_controller_ops *ops;
    void *self;
    dt_time last_run;
    int ran;
    /* the run-time setpoint (dt_control_setpoint): sp_next queued by the
     * host, taken as sp by the next step */
    int has_sp, sp_pending;
    double sp, sp_next;
} ctrl;

/* A plane handle (plane.c): lives in its twin. */
struct dt_plane {
    int kind; /* DT_PLANE_* */
    dt_twin *twin;
    uint64_t calls, plane_refused, range_refused, refused;
};

/* An observer: a host callback, or a queue the twin fills. */
typedef struct observer {
    dt_observer o;
    dt_event_queue *q; /* NULL: o.on_event */
    uint64_t seq;      /* events offered to it */
} observer;

struct dt_twin {
    dt_allocator alloc;
    dt_logger log;
    dt_model *model;
    dt_ingest *ing;
    dt_registry *reg;
    int own_reg;
    dt_io *io;
    dt__filter *est; /* the estimator, through its kind's dt_filter_ops; NULL: none */
    ctrl *ctl;
    size_t n_ctl;
    size_t n_sig;
    dt_time period;
    dt__disp disp; /* the dispatcher: its rules, state and audit */
    observer obs[DT_TWIN_OBSERVERS_MAX];
    size_t n_obs;
    uint32_t obs_mask; /* the union of the observers' masks */
    int belief_hook;   /* the estimator reports updates to the observers */
    double *bx;        /* another filter kind's state and covariance for them */
    size_t bn;
    uint64_t belief_version; /* updates reported from bx */
    uint64_t events_lost;
    double mem_need, mem_budget; /* the estimate at load (+ event queues), the budget */
    /* runtime */
    int started, stopped;
    int in_step; /* inside dt_twin_step: a nested step or submit is refused */
    int sensing; /* inside the step's dt_io_poll: a remote command may still be queued */
    dt_time now, last_arrival_applied;
    dt_sample *rel;
    double *u; /* the estimator's inputs: the values last sent */
    dt_command *queue, *pending;
    size_t n_pending;
    dt_time data_t;  /* the newest sample released: the belief's age without an
                        estimator, a cap on a filter's data time with one */
    char err[256];
    /* flight recorder */
    uint64_t desc_hash;
    dt_record_write_fn rec_write;
    void *rec_user;
    int replay;
    int check_only; /* built to validate adapters: never replayed */
    /* replay: this step's recorded batches and sink results */
    dt_sample *rp_s;
    uint32_t *rp_src, *rp_len, *rp_used;
    size_t rp_nb, rp_ns, rp_pos, rp_cap_b, rp_cap_s;
    int *rp_sink;
    size_t rp_nsink, rp_sink_pos, rp_cap_sink;
    int rp_mismatch;
    dt_command *rp_remote; /* remote commands the recorded step's Sense phase took */
    uint8_t (*rp_rrec)[DT_CMDAUTH_MAX]; /* their signed records (rp_rrec_len 0: none) */
    uint16_t *rp_rrec_len;
    size_t rp_nremote;
    struct dt__belief_copy *rp_bel; /* remote beliefs the recorded step fused */
    size_t rp_nbel;
    unsigned char *bel_seen; /* per io source: a belief of it was fused */
    uint64_t rp_offered;     /* a replay: the beliefs its log held */
    size_t n_bel_seen;
    dt_twin_stats st;
    uint64_t h_est[HIST_BUCKETS], h_cmd[HIST_BUCKETS];
    dt__twin_sample_tap rel_tap; /* the released samples' tap (the bus) */
    void *rel_tap_user;
    /* a composite (children.c): its children, or 1 for a child itself */
    struct dt__kid *kids;
    size_t n_kids;
    int depth;
    int rp_ready; /* replay: the log's header read, the buffers allocated */
    struct dt__twin_auth *auth; /* dispatcher.auth: signed commands (cmd_auth.c); NULL: none */
    size_t auth_slot;           /* the pending command being dispatched (SIZE_MAX: none) */
    /* the planes (plane.c): handed out once; from then on the raw submit and
     * accessors refuse (counted in raw_refused) */
    struct dt_plane planes[3];
    int partitioned;
    uint64_t raw_refused;
};


/* flight-log record types */
enum { REC_START = 1, REC_STEP = 2, REC_SAMPLES = 3, REC_SUBMIT = 4, REC_SINK = 5, REC_REMOTE = 6,
       REC_REMOTE_STEP = 7, REC_BELIEF = 8, REC_BELIEFS_ONLY = 9, REC_CHILD = 10,
       REC_SETPOINT = 11, REC_PARAM = 12, REC_SIGNED = 13, REC_REVOKE = 14, REC_REMOTE_SIGNED = 15,
       REC_REMOTE_SIGNED_STEP = 16 };

/* cmd_auth.c: signed commands ("dispatcher.auth"). Read the section (the
 * io's key store for MAC issuers); free. A command queued without a record
 * at `slot`. The dispatcher's first check of the pending command at slot
 * (SIZE_MAX: a controller's): 0, or DT_EAUTH / DT_ETIMEOUT (expired). */
int dt__twin_auth_read(dt_twin *t, const dt_config *j, dt_diag *diag);
void dt__twin_auth_free(dt_twin *t);
void dt__twin_auth_queued(dt_twin *t, size_t slot);
/* At start: records issued before now are refused from now on. */
void dt__twin_auth_start(dt_twin *t, dt_time now);
int dt__twin_auth_check(dt_twin *t, size_t slot, dt_command *cmd, dt_time now);
/* 1 when both twins take signed commands under one name (a composite
 * refuses that: each would carry out the other's records) */
int dt__twin_auth_name_clash(const dt_twin *a, const dt_twin *b);
/* dt_twin_submit_signed and dt_twin_revoke without the partition's check:
 * the planes' and a replay's way in */
int dt__twin_submit_signed(dt_twin *t, const void *record, size_t len);
int dt__twin_revoke(dt_twin *t, const char *key_id);
/* recorder.c: a signed record submitted, a key revoked (host inputs) */
void dt__twin_rec_signed(dt_twin *t, const void *record, size_t len);
void dt__twin_rec_revoke(dt_twin *t, const char *key_id);
/* a signed command from another twin: its command (origin kept) and record */
void dt__twin_rec_remote_signed(dt_twin *t, const dt_command *cmd, const uint8_t *rec, size_t len);

/* twin.c: the host's command queued (dt_twin_submit before partitioning,
 * dt_control_submit, a replayed REC_SUBMIT). */
int dt__twin_submit_host(dt_twin *t, const dt_command *cmd);
/* plane.c: a setpoint or parameter write checked, queued or applied and
 * recorded (the control plane's, and a replay's from its log: no counter
 * moves there). Controller by index. */
int dt__twin_setpoint(dt_twin *t, size_t ctl, double value);
int dt__twin_param(dt_twin *t, dt_signal_id sig, double value);
/* recorder.c: REC_SETPOINT, REC_PARAM */
void dt__twin_rec_setpoint(dt_twin *t, uint32_t ctl, double value);
void dt__twin_rec_param(dt_twin *t, dt_signal_id sig, double value);
/* twin.c */
void dt__twin_hist_add(uint64_t *h, dt_latency_stats *s, dt_time ns);
void dt__twin_init_ctx(dt_twin *t, dt_ctrl_ctx *ctx);
/* dispatch.c: the twin's side of the dispatcher (sinks, estimator input,
 * belief, reset); the latency rule's inputs, once per cycle */
void dt__twin_disp_env(dt_twin *t);
void dt__twin_assess(dt_twin *t, dt_time now);
/* The time of the newest data behind the belief, as the latency rule reads
 * it (the filter's word held to what the twin released or fused). */
dt_time dt__twin_data_time(const dt_twin *t);
/* events.c: hands an event to every observer that wants it (and to the
 * recorder); counter snapshots at the end of a step */
void dt__twin_emit(dt_twin *t, const dt_event *ev);
void dt__twin_emit_counters(dt_twin *t, dt_time now);
/* after an update a filter kind other than "kf" applied */
void dt__twin_belief_event(dt_twin *t, const dt_sample *applied);
void dt__twin_events_free(dt_twin *t);
/* beliefs.c: remote beliefs. At start: the filter's scratch when a source
 * offers beliefs (or a replay may hold some). In the step's Understand
 * phase, after the samples: fuses the pending ones (logged), or in a replay
 * the step's logged ones. A replay's REC_BELIEF record read (after its type
 * byte) into this step's list. */
int dt__twin_beliefs_start(dt_twin *t);
void dt__twin_fuse_beliefs(dt_twin *t);
/* In a replay's Sense phase: the step's logged beliefs refresh their
 * sources' arrival (the stale rule) as their offers did. */
void dt__twin_beliefs_sense(dt_twin *t);
int dt__twin_rp_belief(dt_twin *t, dt_record_read_fn fn, void *user);
/* events.c: the belief event after a remote belief was fused (the
 * posterior at the filter's time; sig the first signal it measured). */
void dt__twin_fused_event(dt_twin *t, dt_signal_id sig, dt_time t_data);
/* recorder.c */
void dt__twin_rec(dt_twin *t, const uint8_t *b, size_t n);
void dt__twin_rec_time(dt_twin *t, int type, dt_time now);
void dt__twin_rec_submit(dt_twin *t, const dt_command *cmd);
void dt__twin_rec_event(dt_twin *t, const dt_event *ev);
int dt__twin_sink_apply(dt_twin *t, const dt_command *cmd);
/* recorder.c: a replay fed in segments (a child's records, cut out of its
 * parent's log): the first one reads the log's header; each runs the records
 * until fn says DT_EEMPTY. Then the end of the replay (the ingest's feed
 * removed). */
int dt__twin_replay_segment(dt_twin *t, dt_record_read_fn fn, void *user);
void dt__twin_replay_end(dt_twin *t);

/* twin_load.c: loads a child twin (a description that may not have
 * children of its own). */
int dt__twin_load_child(const char *text, size_t len, const dt_twin_options *opt,
                        dt_twin **out, dt_diag *diag);
/* children.c: the composite. The "children" section read (each child
 * loaded), then every "child" source bound to its child (also without the
 * section, to refuse them). Start (the children not started yet), step,
 * stop and destroy them with the parent; a failed child's step explained in
 * the parent's message (returns rc). Recording: each child records into the
 * parent's log (REC_CHILD records). Replay: a REC_CHILD record read after
 * its type byte runs the child's segment; the end of the children's replay. */
struct dt__desc_use;
int dt__twin_children_read(dt_twin *t, const dt_config *section, const struct dt__desc_use *u,
                           dt_diag *diag);
int dt__twin_children_start(dt_twin *t, dt_time now);
int dt__twin_children_step(dt_twin *t, dt_time now);
int dt__twin_children_failed(dt_twin *t, int rc);
void dt__twin_children_stop(dt_twin *t);
void dt__twin_children_destroy(dt_twin *t);
int dt__twin_children_record(dt_twin *t);
int dt__twin_rp_child(dt_twin *t, dt_record_read_fn fn, void *user);
void dt__twin_children_replay_end(dt_twin *t);

#endif
