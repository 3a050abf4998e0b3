/* tcp_lines: a source and a sink adapter that speak a line protocol over TCP,
 * written against the public adapter API only (docs/adapters.md walks through
 * it). Each instance runs one thread around a blocking client:
 *
 *   source: reads "<name> <value> <time>\n" lines and pushes samples into its
 *           ring (the ring's one producer);
 *   sink:   sends "<name> <value> <seq>\n" for every command and waits for the
 *           device's "ok <seq> <value read back>" or "err <seq> <reason>".
 *
 * Everything else runs on the twin's thread. */
#ifndef TCP_LINES_H
#define TCP_LINES_H

#include <stdint.h>
#include <dtwin/dtwin.h>

/** The source kind "tcp_lines". */
extern const dt_source_ops tcp_lines_source_ops;
/** The sink kind "tcp_lines". */
extern const dt_sink_ops tcp_lines_sink_ops;

/** What a tcp_lines source counted. Every record (a line, or the fragment a
 *  disconnect cut off) ends in exactly one of pushed, malformed, unmapped or
 *  ring_full: records = pushed + malformed + unmapped + ring_full. */
typedef struct tcp_lines_source_stats {
    uint64_t records;          /* lines and cut-off fragments read */
    uint64_t pushed;           /* samples stored in the ring */
    uint64_t malformed;        /* refused: unreadable, too long, not finite, bad time */
    uint64_t unmapped;         /* refused: a name the mapping does not list */
    uint64_t ring_full;        /* refused by a full ring (the twin is not draining) */
    uint64_t connects;         /* connections made */
    uint64_t disconnects;      /* connections lost (closed by the peer or failed) */
    uint64_t connect_failures; /* attempts that failed */
} tcp_lines_source_stats;

/** What a tcp_lines sink counted. Every command apply() accepted ends in one
 *  of acked, refused or expired, or is still queued:
 *  queued = acked + refused + expired + (in the queue). */
typedef struct tcp_lines_sink_stats {
    uint64_t queued;           /* commands apply() accepted */
    uint64_t queue_full;       /* commands apply() refused (DT_EFULL) */
    uint64_t sent;             /* lines written (a command is sent again after a reconnect) */
    uint64_t acked;            /* "ok" replies */
    uint64_t refused;          /* "err" replies */
    uint64_t expired;          /* waited longer than "hold" for a connection: not sent */
    uint64_t bad_replies;      /* replies that did not parse or did not match (reconnects) */
    uint64_t reports;          /* read-backs handed to the twin (dt_sink_report) */
    uint64_t unreported;       /* read-backs lost: the host never called tcp_lines_deliver */
    uint64_t connects;         /* connections made */
    uint64_t disconnects;      /* connections lost */
    uint64_t connect_failures; /* attempts that failed */
} tcp_lines_sink_stats;

/** Counters of source i of io. Any thread.
 *  @retval DT_EINVAL source i is not a tcp_lines source. */
int tcp_lines_source_stats_get(dt_io *io, size_t i, tcp_lines_source_stats *out);
/** Counters of sink i of io. Any thread.
 *  @retval DT_EINVAL sink i is not a tcp_lines sink. */
int tcp_lines_sink_stats_get(dt_io *io, size_t i, tcp_lines_sink_stats *out);
/** Hands the read-backs that have arrived to the twin (dt_sink_report, time
 *  `now`). Twin's thread, once per cycle after dt_twin_step: a sink has no
 *  per-cycle slot of its own. Returns how many were reported. */
size_t tcp_lines_deliver(dt_io *io, size_t i, dt_time now);

#endif
