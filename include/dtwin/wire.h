/** @file
 * dtwin: the UDP wire format (docs/wire.md). */
#ifndef DTWIN_WIRE_H
#define DTWIN_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "dtwin/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DT_WIRE_MAGIC 0x4E575444u  /**< the first 4 bytes: 'D' 'T' 'W' 'N' */
/** The newest format version this library speaks; it reads versions 1 and 2
 *  (docs/wire.md). dt_wire_encode_samples/_commands write version 1, the _v2
 *  encoders the version the header names. */
#define DT_WIRE_VERSION 2u
#define DT_WIRE_HEADER 20u         /**< header bytes */
#define DT_WIRE_TRAILER 4u         /**< trailer bytes (CRC-32) */
#define DT_WIRE_SAMPLE_RECORD 32u  /**< bytes per sample record */
#define DT_WIRE_COMMAND_RECORD 40u /**< bytes per command record */
/** Largest UDP payload over IPv4. */
#define DT_WIRE_MAX_DATAGRAM 65507u
/** Most sample records in one datagram (2046). */
#define DT_WIRE_MAX_SAMPLES ((DT_WIRE_MAX_DATAGRAM - DT_WIRE_HEADER - DT_WIRE_TRAILER) / DT_WIRE_SAMPLE_RECORD)
/** Most command records in one datagram (1637). */
#define DT_WIRE_MAX_COMMANDS ((DT_WIRE_MAX_DATAGRAM - DT_WIRE_HEADER - DT_WIRE_TRAILER) / DT_WIRE_COMMAND_RECORD)

/** What a frame carries. */
typedef enum dt_wire_type {
    DT_WIRE_SAMPLES = 1, /**< sensor samples, to a source */
    DT_WIRE_COMMANDS = 2 /**< actuator commands, from a sink */
} dt_wire_type;

/** Record flag bits; any other bit set makes the record malformed. */
#define DT_WIRE_F_VARIANCE 0x1u  /**< sample: variance is valid */
#define DT_WIRE_F_UNCERTAIN 0x2u /**< sample: doubtful quality */
#define DT_WIRE_F_KNOWN (DT_WIRE_F_VARIANCE | DT_WIRE_F_UNCERTAIN) /**< every defined bit */

/** A decoded frame header (docs/wire.md). */
typedef struct dt_wire_header {
    uint8_t version;    /**< 1 or 2 */
    uint8_t type;       /**< dt_wire_type */
    uint32_t source_id; /**< the sender's id (never 0) */
    uint32_t seq;       /**< the sender's frame counter (gaps: losses) */
    uint16_t count;     /**< records in the frame, >= 1 */
    /** Version 2: the sender's boot counter, +1 at each start (mod 2^16), so a
     *  restart is told from a replay; 0 in version 1. Appended in the struct's
     *  tail padding: its size is unchanged. */
    uint16_t epoch;
} dt_wire_header;

/** One sample record. */
typedef struct dt_wire_sample {
    uint32_t channel;  /**< mapped to a signal by the source's mapping */
    uint32_t flags;    /**< DT_WIRE_F_* */
    int64_t t_source;  /**< ns on the sender's clock */
    double value;      /**< in the mapping's native unit */
    double variance;   /**< valid with DT_WIRE_F_VARIANCE */
} dt_wire_sample;

/** One command record. */
typedef struct dt_wire_command {
    uint32_t channel;   /**< the sink mapping's channel */
    uint32_t flags;     /**< 0 */
    uint64_t seq;       /**< the twin's command sequence number */
    int64_t t_issued;   /**< ns, the twin's common time base */
    int64_t t_deadline; /**< ns: the receiver must not apply it later */
    double value;       /**< in the mapping's native unit */
} dt_wire_command;

/** Why a datagram was rejected. */
typedef enum dt_wire_error {
    DT_WIRE_OK = 0,
    DT_WIRE_SHORT,     /**< shorter than header + trailer */
    DT_WIRE_BAD_MAGIC,
    DT_WIRE_BAD_VERSION,
    DT_WIRE_BAD_TYPE,
    DT_WIRE_BAD_FLAGS, /**< header flags not zero */
    DT_WIRE_BAD_RESERVED,
    DT_WIRE_EMPTY,     /**< count is 0 */
    DT_WIRE_TOO_MANY,  /**< count above the type's maximum */
    DT_WIRE_TRUNCATED, /**< shorter than count records need */
    DT_WIRE_TRAILING,  /**< longer than count records need */
    DT_WIRE_BAD_CRC,   /**< corrupted */
    DT_WIRE__COUNT
} dt_wire_error;

/** Name of a reason ("ok", "bad_crc", ...); never NULL. */
DT_API const char *dt_wire_error_name(dt_wire_error e);
/** CRC-32 (IEEE 802.3, as zlib's crc32). */
DT_API uint32_t dt_wire_crc32(const uint8_t *p, size_t n);

/** Encodes a frame; returns its length, or 0 if n is 0, above the maximum, or
 *  the frame does not fit cap. */
DT_API size_t dt_wire_encode_samples(uint8_t *buf, size_t cap, uint32_t source_id,
                                     uint32_t seq, const dt_wire_sample *r, size_t n);
/** Encodes a command frame; as dt_wire_encode_samples. */
DT_API size_t dt_wire_encode_commands(uint8_t *buf, size_t cap, uint32_t source_id,
                                      uint32_t seq, const dt_wire_command *r, size_t n);

/** Encodes a frame with the version, source_id, seq and (version 2) epoch of
 *  h (h->type and h->count are ignored: the function and n give them).
 *  Returns its length, or 0 if n is 0, above the maximum, the frame does not
 *  fit cap, h is NULL, the version is not 1 or 2, or version 1 has an epoch. */
DT_API size_t dt_wire_encode_samples_v2(uint8_t *buf, size_t cap, const dt_wire_header *h,
                                        const dt_wire_sample *r, size_t n);
/** Encodes a command frame; as dt_wire_encode_samples_v2. */
DT_API size_t dt_wire_encode_commands_v2(uint8_t *buf, size_t cap, const dt_wire_header *h,
                                         const dt_wire_command *r, size_t n);

/** Checks a datagram completely (every field, length, CRC) and fills h.
 *  Returns DT_WIRE_OK or the first reason it is invalid. Never reads past len.
 *  Equivalent to dt_wire_decode_header followed by dt_wire_check_crc. */
DT_API dt_wire_error dt_wire_decode(const uint8_t *buf, size_t len, dt_wire_header *h);
/** Checks every header field and the length against count, but not the CRC,
 *  and fills h: constant time, so a receiver can refuse a frame by its type,
 *  source_id or count before paying for the CRC over up to 64 kB.
 *  Returns DT_WIRE_OK or the first reason it is invalid. */
DT_API dt_wire_error dt_wire_decode_header(const uint8_t *buf, size_t len, dt_wire_header *h);
/** The CRC check of a frame whose header dt_wire_decode_header accepted:
 *  DT_WIRE_OK or DT_WIRE_BAD_CRC (DT_WIRE_SHORT if len < 24). */
DT_API dt_wire_error dt_wire_check_crc(const uint8_t *buf, size_t len);
/** Record i of a frame dt_wire_decode accepted (i < h.count). */
DT_API void dt_wire_sample_at(const uint8_t *buf, size_t i, dt_wire_sample *out);
/** Command record i of a frame dt_wire_decode accepted (i < h.count). */
DT_API void dt_wire_command_at(const uint8_t *buf, size_t i, dt_wire_command *out);

#ifdef __cplusplus
}
#endif
#endif
