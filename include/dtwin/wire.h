/** @file
 * dtwin: the UDP wire format (docs/wire.md). */
#ifndef DTWIN_WIRE_H
#define DTWIN_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "dtwin/export.h"
#include "dtwin/keys.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DT_WIRE_MAGIC 0x4E575444u  /**< the first 4 bytes: 'D' 'T' 'W' 'N' */
/** The newest format version this library speaks; it reads versions 1, 2
 *  and 3 (docs/wire.md). dt_wire_encode_samples/_commands write version 1,
 *  the _v2 encoders version 1 or 2 as the header names, the _auth encoders
 *  version 3. */
#define DT_WIRE_VERSION 3u
/** The authenticated version: a MAC under the link's key instead of the CRC. */
#define DT_WIRE_VERSION_AUTH 3u
#define DT_WIRE_HEADER 20u         /**< header bytes */
#define DT_WIRE_TRAILER 4u         /**< trailer bytes of versions 1 and 2 (CRC-32) */
#define DT_WIRE_MAC_TRAILER 16u    /**< trailer bytes of version 3 (keyed BLAKE2b-128) */
#define DT_WIRE_SAMPLE_RECORD 32u  /**< bytes per sample record */
#define DT_WIRE_COMMAND_RECORD 40u /**< bytes per command record */
/** Largest UDP payload over IPv4. */
#define DT_WIRE_MAX_DATAGRAM 65507u
/** Most sample records in one datagram (2046). */
#define DT_WIRE_MAX_SAMPLES ((DT_WIRE_MAX_DATAGRAM - DT_WIRE_HEADER - DT_WIRE_TRAILER) / DT_WIRE_SAMPLE_RECORD)
/** Most command records in one datagram (1637). */
#define DT_WIRE_MAX_COMMANDS ((DT_WIRE_MAX_DATAGRAM - DT_WIRE_HEADER - DT_WIRE_TRAILER) / DT_WIRE_COMMAND_RECORD)
/** Most sample records in one version 3 datagram (2045). */
#define DT_WIRE_MAX_SAMPLES_AUTH ((DT_WIRE_MAX_DATAGRAM - DT_WIRE_HEADER - DT_WIRE_MAC_TRAILER) / DT_WIRE_SAMPLE_RECORD)
/** Most command records in one version 3 datagram (1636). */
#define DT_WIRE_MAX_COMMANDS_AUTH ((DT_WIRE_MAX_DATAGRAM - DT_WIRE_HEADER - DT_WIRE_MAC_TRAILER) / DT_WIRE_COMMAND_RECORD)

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
    uint8_t version;    /**< 1, 2 or 3 (authenticated) */
    uint8_t type;       /**< dt_wire_type */
    uint32_t source_id; /**< the sender's id (never 0) */
    uint32_t seq;       /**< the sender's frame counter (gaps: losses) */
    uint16_t count;     /**< records in the frame, >= 1 */
    /** Versions 2 and 3: the sender's boot counter, +1 at each start (mod 2^16), so a
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
    DT_WIRE_BAD_MAC,   /**< version 3: the MAC does not verify under the key (or no key) */
    DT_WIRE__COUNT
} dt_wire_error;

/** The reasons dt_udp_stats.rejected[] counts (DT_WIRE_SHORT..DT_WIRE_BAD_CRC;
 *  its size is fixed, later reasons have counters of their own). */
#define DT_WIRE_V1_ERRORS 12

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

/** Encodes an authenticated (version 3) sample frame with the source_id,
 *  seq and epoch of h (h->version, h->type and h->count are ignored): header
 *  and records as version 2, then the DT_WIRE_MAC_TRAILER-byte MAC of every
 *  byte before it under `key` (a DT_KEY_MAC key shared with the receiver).
 *  Returns its length, or 0 if n is 0 or above DT_WIRE_MAX_SAMPLES_AUTH, the
 *  frame does not fit cap, or h or key is NULL or not a MAC key. */
DT_API size_t dt_wire_encode_samples_auth(uint8_t *buf, size_t cap, const dt_wire_header *h,
                                          const dt_wire_sample *r, size_t n, const dt_key *key);
/** Encodes an authenticated (version 3) command frame; as
 *  dt_wire_encode_samples_auth (at most DT_WIRE_MAX_COMMANDS_AUTH records). */
DT_API size_t dt_wire_encode_commands_auth(uint8_t *buf, size_t cap, const dt_wire_header *h,
                                           const dt_wire_command *r, size_t n,
                                           const dt_key *key);

/** Checks a version 1 or 2 datagram completely (every field, length, CRC)
 *  and fills h. Returns DT_WIRE_OK or the first reason it is invalid; a
 *  version 3 frame cannot be checked without its key: DT_WIRE_BAD_MAC (see
 *  dt_wire_decode_auth). Never reads past len. Equivalent to
 *  dt_wire_decode_header followed by dt_wire_check_crc. */
DT_API dt_wire_error dt_wire_decode(const uint8_t *buf, size_t len, dt_wire_header *h);
/** Checks a datagram completely and fills h (only when it is valid
 *  throughout). With a key: version 3 only, its MAC under `key`; a version 1
 *  or 2 frame, which anyone can make, is DT_WIRE_BAD_MAC (no downgrade).
 *  Without (NULL): versions 1 and 2 by their CRC, version 3 DT_WIRE_BAD_MAC.
 *  Never reads past len. */
DT_API dt_wire_error dt_wire_decode_auth(const uint8_t *buf, size_t len, const dt_key *key,
                                         dt_wire_header *h);
/** Checks every header field and the length against count, but not the CRC
 *  or MAC,
 *  and fills h: constant time, so a receiver can refuse a frame by its type,
 *  source_id or count before paying for the CRC over up to 64 kB.
 *  Returns DT_WIRE_OK or the first reason it is invalid. */
DT_API dt_wire_error dt_wire_decode_header(const uint8_t *buf, size_t len, dt_wire_header *h);
/** The CRC check of a version 1 or 2 frame whose header
 *  dt_wire_decode_header accepted: DT_WIRE_OK or DT_WIRE_BAD_CRC
 *  (DT_WIRE_SHORT if len < 24; a version 3 frame: DT_WIRE_BAD_MAC). */
DT_API dt_wire_error dt_wire_check_crc(const uint8_t *buf, size_t len);
/** The MAC check, in constant time, of a version 3 frame whose header
 *  dt_wire_decode_header accepted: DT_WIRE_OK or DT_WIRE_BAD_MAC (also for
 *  a NULL or non-MAC key, and for a frame of another version). */
DT_API dt_wire_error dt_wire_check_mac(const uint8_t *buf, size_t len, const dt_key *key);
/** Record i of a frame dt_wire_decode accepted (i < h.count). */
DT_API void dt_wire_sample_at(const uint8_t *buf, size_t i, dt_wire_sample *out);
/** Command record i of a frame dt_wire_decode accepted (i < h.count). */
DT_API void dt_wire_command_at(const uint8_t *buf, size_t i, dt_wire_command *out);

#ifdef __cplusplus
}
#endif
#endif
