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
#include "dtwin/twin.h"
#include "../control/control_internal.h"

/* The description's memory estimate against its budget ("memory.max_bytes",
 * default DT_TWIN_MEMORY_DEFAULT), before anything is allocated; DT_ELIMIT
 * names the largest consumers. */
int dt__twin_memory_check(const dt_model *m, const dt_allocator *a, dt_diag *diag);

#define RELEASE_BATCH 256
#define QUEUE_CAP 256
#define MAX_CONTROLLERS 64
#define MAX_INTERLOCKS 64
#define MAX_FORCED 8
#define HIST_BUCKETS 64

enum { OP_GT, OP_GE, OP_LT, OP_LE };

typedef struct ctrl {
    char *id;
    const dt_controller_ops *ops;
    void *self;
    dt_time last_run;
    int ran;
} ctrl;

typedef struct interlock {
    char name[64];
    dt_signal_id sig;
    int op;
    double value;
    size_t n_set;
    dt_signal_id set_sig[MAX_FORCED];
    double set_val[MAX_FORCED];
    int active;
} interlock;

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
    /* dispatcher, per signal */
    size_t n_sig;
    double *rate, *safe, *last_sent, *forced;
    dt_time *last_sent_t;
    uint64_t *last_sent_seq, *counted_seq; /* actuation outcome */
    uint32_t *fail_run;                    /* consecutive sink failures per signal */
    uint32_t sink_failures;                /* that many engage the safe state */
    size_t n_sink_faults;                  /* signals at or over sink_failures */
    dt_time confirm_timeout;               /* 0: not tracked */
    interlock *ilk;
    size_t n_ilk;
    dt_time deadline, period;
    dt_audit *audit;
    size_t audit_cap, audit_n, audit_head;
    /* runtime */
    int started, stopped, safe_mode;
    dt_time now, last_arrival_applied;
    uint64_t seq;
    dt_sample *rel;
    double *u; /* the estimator's inputs: the values last sent */
    dt_command *queue, *pending;
    size_t n_pending;
    double tau_min;  /* the data-age limit: min of the budgets and max_age */
    double max_age;  /* dispatcher.max_data_age, INFINITY when not given */
    dt_time data_t;  /* without an estimator: the newest sample released */
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
    dt_twin_stats st;
    uint64_t h_est[HIST_BUCKETS], h_cmd[HIST_BUCKETS];
};


/* flight-log record types */
enum { REC_START = 1, REC_STEP = 2, REC_SAMPLES = 3, REC_SUBMIT = 4, REC_SINK = 5 };

/* twin.c */
void dt__twin_hist_add(uint64_t *h, dt_latency_stats *s, dt_time ns);
void dt__twin_init_ctx(dt_twin *t, dt_ctrl_ctx *ctx);
/* dispatch.c: one command through the safety chain to the sinks; the
 * latency rule and the interlocks, once per cycle */
void dt__twin_dispatch(dt_twin *t, dt_command cmd, dt_time now);
void dt__twin_assess(dt_twin *t, dt_time now, dt_ctrl_ctx *ctx);
/* recorder.c */
void dt__twin_rec(dt_twin *t, const uint8_t *b, size_t n);
void dt__twin_rec_time(dt_twin *t, int type, dt_time now);
void dt__twin_rec_submit(dt_twin *t, const dt_command *cmd);
int dt__twin_sink_apply(dt_twin *t, const dt_command *cmd);

#endif
