/** @file
 * dtwin: the twin's event stream. Every belief update, every command with its
 * outcome, every entry into and exit from the safe state, and counter
 * snapshots, delivered to observers (callbacks on the twin's thread) or into
 * bounded queues a reader drains (from another thread if it likes). Nothing
 * is lost silently: a full queue counts what it could not take. */
#ifndef DTWIN_EVENT_H
#define DTWIN_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "dtwin/control.h"
#include "dtwin/export.h"
#include "dtwin/model.h"
#include "dtwin/time.h"

#ifdef __cplusplus
extern "C" {
#endif

/** What happened (dt_event.kind). */
typedef enum dt_event_kind {
    DT_EVENT_BELIEF = 1,     /**< a sample was applied to the belief */
    DT_EVENT_COMMAND = 2,    /**< the dispatcher decided a command (sent, changed, expired
                                  or refused), with the sinks' result */
    DT_EVENT_SAFE_ENTER = 3, /**< the dispatcher engaged the safe state */
    DT_EVENT_SAFE_EXIT = 4,  /**< the dispatcher left the safe state */
    DT_EVENT_COUNTERS = 5    /**< a snapshot of the twin's main counters */
} dt_event_kind;

/** The mask bit of one kind (dt_observer.mask). */
#define DT_EVENT_BIT(kind) (1u << (unsigned)(kind))
/** Every kind. */
#define DT_EVENT_ALL 0x3Eu

/** Why the safe state was engaged (bits in dt_event_safe.reasons). */
#define DT_SAFE_LATENCY 0x1u  /**< the belief's data is older than its budget */
#define DT_SAFE_BOUND 0x2u    /**< an accuracy bound is exceeded */
#define DT_SAFE_DISPUTED 0x4u /**< sensors dispute the belief (gate recovery) */
#define DT_SAFE_SINKS 0x8u    /**< a signal's sinks keep refusing commands */

/** DT_EVENT_BELIEF: the belief after one applied sample. */
typedef struct dt_event_belief {
    dt_time t_valid;     /**< the belief's time: the sample's time on the common base
                              (a delayed sample's posterior at its own time); after a
                              remote belief was fused, the time it was fused at */
    uint64_t version;    /**< the estimator's version after the update */
    dt_signal_id signal; /**< the sample applied (a remote belief: the first signal
                              it measured) */
    uint32_t n;          /**< states in x */
    double value;        /**< the sample's value (NaN after a remote belief) */
    /** Callbacks only (NULL in a queue): the state, n values, and its
     *  covariance, n x n row-major, valid during the call. */
    const double *x;
    const double *P; /**< see x */
} dt_event_belief;

/** DT_EVENT_SAFE_ENTER and DT_EVENT_SAFE_EXIT: the dispatcher's view. */
typedef struct dt_event_safe {
    uint32_t reasons;     /**< DT_SAFE_* that hold (0 on exit) */
    uint32_t bounds;      /**< accuracy bounds exceeded */
    uint32_t disputed;    /**< signals disputing the belief */
    uint32_t sink_faults; /**< signals whose sinks keep failing */
    double age_s;         /**< the belief's data age, s (INFINITY before any data) */
    double budget_s;      /**< the data-age limit (smallest latency budget), s */
} dt_event_safe;

/** DT_EVENT_COUNTERS: the counters a monitor watches (the full set is
 *  dt_twin_stats_get's, on the twin's thread). */
typedef struct dt_event_counters {
    uint64_t cycles;       /**< steps run */
    uint64_t accepted;     /**< samples the ingest stage accepted */
    uint64_t rejected;     /**< samples refused at the boundary (every reason) */
    uint64_t dropped;      /**< samples lost in rings, reorder buffers or behind the
                                horizon */
    uint64_t updates;      /**< estimator updates applied */
    uint64_t gated;        /**< samples the estimator's gate refused */
    uint64_t commands;     /**< commands decided */
    uint64_t sent;         /**< commands handed to sinks */
    uint64_t expired;      /**< commands past their deadline */
    uint64_t refused;      /**< commands the verify hook refused */
    uint64_t sink_errors;  /**< commands every sink refused */
    uint64_t safe_entries; /**< safe-state entries */
    uint64_t events_lost;  /**< events the twin's queues could not take */
    double belief_age_s;   /**< the belief's data age at this step, s */
} dt_event_counters;

/** One event. */
typedef struct dt_event {
    uint32_t kind;  /**< dt_event_kind */
    uint32_t pad;   /**< 0 */
    uint64_t seq;   /**< this observer's or queue's event number, from 1: a gap
                         in what a queue's reader sees is exactly what was lost */
    dt_time t;      /**< the twin's time (the step's now) */
    /** The kind's payload. */
    union {
        dt_event_belief belief;     /**< DT_EVENT_BELIEF */
        dt_audit command;           /**< DT_EVENT_COMMAND: as the audit keeps it */
        dt_event_safe safe;         /**< DT_EVENT_SAFE_ENTER / _EXIT */
        dt_event_counters counters; /**< DT_EVENT_COUNTERS */
    } u;
} dt_event;

/** A callback observer (dt_twin_observe). */
typedef struct dt_observer {
    size_t size;     /**< sizeof(dt_observer) */
    uint32_t mask;   /**< DT_EVENT_BIT()s of the kinds wanted; 0 is refused */
    /** Counter snapshots every this many steps (1: every step; 0 with
     *  DT_EVENT_COUNTERS in mask is refused). */
    uint32_t counters_every;
    /** Runs on the twin's thread inside dt_twin_step (or dt_twin_replay),
     *  in the order things happen; must not block and must not call back
     *  into the twin except its read-only getters. */
    void (*on_event)(void *user, const dt_event *ev);
    void *user; /**< passed to on_event */
} dt_observer;
/** Defaults for dt_observer: every kind, counters every step, no callback. */
#define DT_OBSERVER_INIT {sizeof(dt_observer), DT_EVENT_ALL, 1, NULL, NULL}

/** A bounded queue of events (dt_twin_event_queue), owned by the twin: the
 *  twin writes on its thread, one reader (any thread) drains it. When it is
 *  full the newest event is not queued and counted lost. */
typedef struct dt_event_queue dt_event_queue;

/** Takes up to max events, oldest first; returns how many. Lock-free; one
 *  reader at a time. NULL queue or out: 0. */
DT_API size_t dt_event_queue_read(dt_event_queue *q, dt_event *out, size_t max);
/** Events this queue could not take because it was full. */
DT_API uint64_t dt_event_queue_lost(const dt_event_queue *q);

#ifdef __cplusplus
}
#endif
#endif
