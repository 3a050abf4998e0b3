/* The ingest pipeline's state, shared by ingest.c, ingest_poll.c and ingest_merge.c only. */
#ifndef DTWIN_SRC_INGEST_STATE_H
#define DTWIN_SRC_INGEST_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "dtwin/clock.h"
#include "dtwin/ingest.h"
#include "dtwin/ring.h"
#include "ingest_internal.h"

/* Samples drained from a ring (or a feed) at a time. */
#define DRAIN_BATCH 256

typedef struct reorder {
    dt_sample *buf; /* sorted by t_source over [head, tail) */
    uint64_t mask, head, tail;
} reorder;

typedef struct source {
    /* hot: touched per sample */
    reorder rb;
    dt_ring *ring;
    dt_time lateness, timeout, last_arrival, newest;
    dt_time max_hold; /* 0: not declared */
    uint64_t fed;     /* samples a feed (flight-log replay) handed in place of the ring */
    int beliefs_only; /* pushes no samples: never holds the watermark */
    uint64_t ring_said[2]; /* ring overflows (newest refused, oldest overwritten) logged */
    dt_source_stats st; /* consumer-side counters */
    char *name;
    dt_clock clock; /* large (window history); hot fields stay before it */
} source;

typedef struct sig_info {
    uint8_t accept;     /* role may come from a source */
    uint8_t has_limits;
    double min, max, noise_var;
    dt_time period;
    dt_time stale_after; /* stale_factor x period, DT_TIME_MAX without a period */
} sig_info;

typedef struct snap_pt {
    dt_time t;
    double v, var;
    double inv_dt; /* 1 / (t_next - t), 0 for the newest: no division per query */
    double slope;  /* (v_next - v) / (t_next - t) */
} snap_pt;

/* A ring of the newest DT_SNAPSHOT_DEPTH samples, oldest at `start`. */
typedef struct snap {
    snap_pt p[DT_SNAPSHOT_DEPTH];
    uint32_t n, start;
} snap;
_Static_assert((DT_SNAPSHOT_DEPTH & (DT_SNAPSHOT_DEPTH - 1)) == 0,
               "DT_SNAPSHOT_DEPTH must be a power of two");
#define SNAP(sn, i) ((sn)->p[((sn)->start + (i)) & (DT_SNAPSHOT_DEPTH - 1)])

struct dt_ingest {
    dt_allocator alloc;
    dt_logger log;
    const dt_model *model;
    dt_limit_policy limits;
    dt_time future_tol, horizon;
    double stale_factor;
    uint32_t n_src, max_src;
    int started;
    source *src;
    size_t n_sig;
    sig_info *sig;
    snap *snaps;
    dt_sample *scratch;
    dt_time *head_t; /* per source: time of its oldest queued sample, MAX if none */
    dt_time watermark, released_until;
    int any_released;
    void (*tap)(void *user, dt_source_id src, const dt_sample *s, size_t n);
    void *tap_user;
    size_t (*feed)(void *user, dt_source_id src, dt_sample *out, size_t max);
    void *feed_user;
};

/* ingest_poll.c: counts a sample lost at ingest on *counter, and logs it at
 * the 1st, 2nd, 4th, 8th... */
void dt__ingest_lose(dt_ingest *g, const source *src, uint64_t *counter, const char *why);

#endif
