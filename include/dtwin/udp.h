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

/** Everything a UDP source saw. Every datagram ends in exactly one of:
 *  frames_ok, duplicate, or frames_rejected (= sum of rejected[] +
 *  wrong_type + wrong_source + kernel_truncated). */
typedef struct dt_udp_stats {
    uint64_t datagrams;          /**< received (excluding socket errors) */
    uint64_t frames_ok;          /**< accepted frames */
    uint64_t frames_rejected;    /**< malformed or foreign frames */
    uint64_t rejected[DT_WIRE__COUNT]; /**< by dt_wire_error (and too_many vs max_count) */
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
} dt_udp_stats;

/** Counters of source i, which must be of kind "udp". @retval DT_EINVAL otherwise. */
DT_API int dt_udp_source_stats(const dt_io *io, size_t source_index, dt_udp_stats *out);

#ifdef __cplusplus
}
#endif
#endif
