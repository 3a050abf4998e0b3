/* The dispatcher: an object with its own state that takes every command
 * through the verify hook, the deadline, the safe state, the interlocks,
 * the limits and the rate limits to the sinks. It reaches the rest of the
 * twin only through the functions in dt__disp_env. */
#ifndef DTWIN_SRC_DISPATCHER_H
#define DTWIN_SRC_DISPATCHER_H

#include <stddef.h>
#include <stdint.h>

#include "dtwin/alloc.h"
#include "dtwin/control.h"
#include "dtwin/event.h"
#include "dtwin/log.h"
#include "dtwin/model.h"

#define DT__DISP_MAX_INTERLOCKS 64
#define DT__DISP_MAX_FORCED 8

enum { DT__OP_GT, DT__OP_GE, DT__OP_LT, DT__OP_LE };

typedef struct dt__interlock {
    char name[64];
    dt_signal_id sig;
    int op;
    double value;
    size_t n_set;
    dt_signal_id set_sig[DT__DISP_MAX_FORCED];
    double set_val[DT__DISP_MAX_FORCED];
    int active;
} dt__interlock;

/* What the dispatcher needs from the twin around it. */
typedef struct dt__disp_env {
    /* hands a decided command to the sinks: dt_io_apply's status */
    int (*send)(void *user, const dt_command *cmd);
    /* a command was sent: the estimator's input, the latency histogram */
    void (*sent)(void *user, const dt_command *cmd, dt_time now);
    /* a signal's belief at a time for the interlocks (NAN when unreadable);
     * NULL: no belief, no interlock runs */
    double (*belief)(void *user, dt_signal_id sig, dt_time now);
    /* leaving the safe state: controllers restart without a bump */
    void (*reset)(void *user);
    /* every decision and safe-state change (NULL: nobody listens) */
    void (*event)(void *user, const dt_event *ev);
    /* the newest sequence number a sink reported applied for sig */
    uint64_t (*reported)(void *user, dt_signal_id sig);
    /* signed commands: the first check of every command but the
     * dispatcher's own; 0 admits it (with the values its issuer signed
     * written into cmd), otherwise the status it is refused with. NULL:
     * the twin takes unsigned commands. */
    int (*authenticate)(void *user, dt_command *cmd, dt_time now);
    void *user;
} dt__disp_env;

/* What the twin measured about its belief this cycle. */
typedef struct dt__disp_health {
    double age_s;        /* data age, s; INFINITY before any data */
    size_t bounds;       /* accuracy bounds exceeded */
    size_t disputed;     /* signals disputing the belief */
} dt__disp_health;

typedef struct dt__disp_stats {
    uint64_t commands, sent, clamped, rate_limited, interlocked, expired, safe_stated,
        sink_errors, refused, unconfirmed, safe_entries, sink_fault_entries;
} dt__disp_stats;

typedef struct dt__disp {
    const dt_model *model;
    const dt_logger *log;
    size_t n_sig;
    /* per signal */
    double *rate, *safe, *last_sent, *forced;
    dt_time *last_sent_t;
    uint64_t *last_sent_seq, *counted_seq; /* actuation outcome */
    uint32_t *fail_run;                    /* consecutive sink failures */
    /* rules, from the description */
    uint32_t sink_failures;  /* that many in a row engage the safe state */
    dt_time confirm_timeout; /* 0: not tracked */
    dt_time deadline;        /* relative deadline of the twin's own commands */
    double tau_min;          /* the data-age limit: min of the budgets and max_age */
    double max_age;          /* dispatcher.max_data_age, INFINITY when not given */
    dt__interlock *ilk;
    size_t n_ilk;
    /* state */
    size_t n_sink_faults; /* signals at or over sink_failures */
    int safe_mode;
    uint64_t seq; /* the twin's command numbers */
    dt_audit *audit;
    size_t audit_cap, audit_n, audit_head;
    dt_verify_fn verify;
    void *verify_user;
    dt__disp_env env;
    dt__disp_stats st;
} dt__disp;

/* Allocates the per-signal state (every safe value and last sent NAN) and
 * sets the defaults; the audit comes with dt__disp_ready once its size is
 * known. DT_ENOMEM. */
int dt__disp_init(dt__disp *d, const dt_model *m, const dt_allocator *a, const dt_logger *lg);
int dt__disp_ready(dt__disp *d, const dt_allocator *a);
void dt__disp_free(dt__disp *d, const dt_allocator *a);
/* One command through the rules to the sinks. */
void dt__disp_command(dt__disp *d, dt_command cmd, dt_time now);
/* The latency rule and the interlocks, once per cycle before any command. */
void dt__disp_assess(dt__disp *d, dt_time now, const dt__disp_health *h);
/* Sent commands not reported applied within confirm_timeout, counted once. */
void dt__disp_confirm(dt__disp *d, dt_time now);
size_t dt__disp_audit(const dt__disp *d, dt_audit *out, size_t max);

#endif
