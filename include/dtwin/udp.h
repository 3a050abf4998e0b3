/** @file
 * dtwin: counters of the built-in UDP source adapter. */
#ifndef DTWIN_UDP_H
#define DTWIN_UDP_H

#include <stdint.h>

#include "dtwin/export.h"
#include "dtwin/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @cond INTERNAL */
typedef struct dt_io dt_io; /* declared in adapter.h; repeated to keep this header light */
/** @endcond */

/** Everything a UDP source saw. Every datagram read ends in exactly one of:
 *  frames_ok, duplicate, or frames_rejected (= sum of rejected[] +
 *  wrong_type + wrong_source + kernel_truncated + too_old + stale_epoch +
 *  unconfirmed + bad_mac + unauthenticated + wrong_peer + replayed +
 *  state_write_errors). The records of accepted frames (records) end in exactly
 *  one of samples, bad_records, unmapped_records or records_dropped. Datagrams the kernel
 *  dropped before they were read are kernel_dropped (Linux). */
typedef struct dt_udp_stats {
    uint64_t datagrams;          /**< received (excluding socket errors) */
    uint64_t frames_ok;          /**< accepted frames */
    uint64_t frames_rejected;    /**< malformed, foreign or out-of-sequence frames */
    uint64_t rejected[DT_WIRE_V1_ERRORS]; /**< by dt_wire_error up to bad_crc (and too_many vs max_count) */
    uint64_t wrong_type;         /**< a command frame sent to a source */
    uint64_t wrong_source;       /**< source_id not the configured one (masquerade) */
    uint64_t kernel_truncated;   /**< datagram larger than the receive buffer */
    uint64_t lost;               /**< frames missing from the sequence */
    uint64_t duplicate;          /**< frames seen before (dropped) */
    uint64_t reordered;          /**< frames older than the newest seen (kept) */
    uint64_t bad_records;        /**< records with unknown flag bits (dropped) */
    uint64_t unmapped_records;   /**< records on a channel with no mapping (dropped) */
    uint64_t samples;            /**< records pushed to the ring */
    uint64_t recv_errors;        /**< socket errors */
    uint16_t port;               /**< the bound port (useful with "port": 0) */
    /* appended in 0.1: sequence attacks, restarts, floods (docs/wire.md) */
    uint64_t too_old;        /**< 64 frames or more behind the newest: a replay cannot be
                                  told from a late frame there, so refused */
    uint64_t stale_epoch;    /**< from an earlier epoch (a previous session's frames) */
    uint64_t unconfirmed;    /**< frames that would move the window (a jump of 64 frames or
                                  more, a new epoch, a restart) but no following frame
                                  confirmed them yet: refused */
    uint64_t jumps;          /**< confirmed jumps of the window (a gap of 64 frames or more) */
    uint64_t restarts;       /**< sender restarts recognised (new epoch, or version 1
                                  after restart_after seconds of silence) */
    uint64_t records;        /**< records in accepted frames */
    uint64_t records_dropped; /**< records of accepted frames not offered because the ring
                                   refused an earlier one (the ring counts that one) */
    uint64_t bytes;          /**< bytes of the datagrams read */
    uint64_t polls_limited;  /**< polls that stopped at poll_datagrams or poll_bytes (or a
                                  full ring), leaving the rest in the kernel's buffer */
    uint64_t kernel_dropped; /**< datagrams the kernel dropped, its buffer full, since open
                                  (Linux SO_MEMINFO; 0 elsewhere) */
    uint16_t epoch;          /**< the sender's current epoch (version 2 and 3 frames) */
    /* appended in 0.2: authenticated frames (docs/wire.md, docs/security.md) */
    uint64_t bad_mac;         /**< version 3 frames whose MAC does not verify under the
                                   source's key (forged, corrupted, another key's), or any
                                   version 3 frame to a source without a key */
    uint64_t unauthenticated; /**< version 1 or 2 frames to a source with a key (refused:
                                   no downgrade) */
    uint64_t wrong_peer;      /**< datagrams from another address than the pinned "peer" */
    /* appended in 0.3: replays across restarts of the twin (docs/wire.md) */
    uint64_t replayed;           /**< authentic frames below the persisted floor: frames of
                                      a session the source took, or could have taken, before
                                      it was opened (a replay, or an honest sender that did
                                      not restart, within the reserve): refused */
    uint64_t state_writes;       /**< durable writes of the floor to "replay_state" */
    uint64_t state_write_errors; /**< frames refused because the floor could not be written
                                      (the frame would have raised it) */
} dt_udp_stats;

/** Counters of source i, which must be of kind "udp". @retval DT_EINVAL otherwise. */
DT_API int dt_udp_source_stats(const dt_io *io, size_t source_index, dt_udp_stats *out);

#ifdef __cplusplus
}
#endif
#endif
