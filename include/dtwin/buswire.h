/** @file
 * dtwin: the binary payloads of the MQTT bus (docs/wire.md, "Bus messages"):
 * sample batches, beliefs, commands and command outcomes (acks).
 *
 * Pure encoding and decoding: no I/O, no allocation, no state. Every function
 * works only on its arguments, so any thread may call any of them at any time.
 * Decoding is for hostile input: every field is range-checked before use and
 * nothing is read past the length given. An encoder refuses what a decoder
 * would refuse (the same checks run on both sides), so dtwin never publishes a
 * message a reader drops. */
#ifndef DTWIN_BUSWIRE_H
#define DTWIN_BUSWIRE_H

#include <stddef.h>
#include <stdint.h>

#include "dtwin/export.h"
#include "dtwin/time.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DT_BUSWIRE_MAGIC 0x42575444u     /**< the first 4 bytes: 'D' 'T' 'W' 'B' */
#define DT_BUSWIRE_VERSION 1u            /**< the format version written and read */
#define DT_BUSWIRE_HEADER 24u            /**< header bytes */
#define DT_BUSWIRE_SAMPLE_RECORD 32u     /**< bytes per sample record */
#define DT_BUSWIRE_COMMAND_RECORD 40u    /**< bytes per command record */
#define DT_BUSWIRE_ACK_RECORD 24u        /**< bytes per ack record */
#define DT_BUSWIRE_BELIEF_FIXED 16u      /**< belief bytes before the means */
#define DT_BUSWIRE_MAX_STATES 64u        /**< most states in a belief */
/** A belief's flags (the u32 after its n): its times follow the covariance. */
#define DT_BUSWIRE_BELIEF_TIMES 1u
/** Bytes of a belief's times (i64 t_data, i64 t_sent) when its flag is set. */
#define DT_BUSWIRE_BELIEF_TIMES_BYTES 16u
/** Largest message: 256 KiB. Managed MQTT brokers commonly cap a payload at
 *  128 to 256 KB; a reader bounds its buffer by this. */
#define DT_BUSWIRE_MAX_BYTES 262144u
/** Most sample records in a message (8191). */
#define DT_BUSWIRE_MAX_SAMPLES ((DT_BUSWIRE_MAX_BYTES - DT_BUSWIRE_HEADER) / DT_BUSWIRE_SAMPLE_RECORD)
/** Most command records in a message (6553). */
#define DT_BUSWIRE_MAX_COMMANDS ((DT_BUSWIRE_MAX_BYTES - DT_BUSWIRE_HEADER) / DT_BUSWIRE_COMMAND_RECORD)
/** Most ack records in a message (10921). */
#define DT_BUSWIRE_MAX_ACKS ((DT_BUSWIRE_MAX_BYTES - DT_BUSWIRE_HEADER) / DT_BUSWIRE_ACK_RECORD)
/** Covariance entries a belief of n states carries: its upper triangle. */
#define DT_BUSWIRE_COV_ENTRIES(n) ((size_t)(n) * ((size_t)(n) + 1u) / 2u)
/** Length of a belief message of n states (17192 bytes for 64). */
#define DT_BUSWIRE_BELIEF_BYTES(n)                                                         \
    (DT_BUSWIRE_HEADER + DT_BUSWIRE_BELIEF_FIXED + 8u * (size_t)(n) +                    \
     8u * DT_BUSWIRE_COV_ENTRIES(n))
/** The largest variance (a sample's, a belief's diagonal), the limit of a
 *  description's variances (docs/model.md): the product of two covariance
 *  entries, and a sum of 64 such products, stay finite for a reader. */
#define DT_BUSWIRE_VARIANCE_MAX 1e150
/** Scratch of dt_buswire_belief_check, in doubles. */
#define DT_BUSWIRE_BELIEF_WORK(n) DT_BUSWIRE_COV_ENTRIES(n)

/** What a message carries (the header's type). */
typedef enum dt_buswire_type {
    DT_BUSWIRE_SAMPLES = 1,  /**< a batch of samples of one stream */
    DT_BUSWIRE_BELIEF = 2,   /**< one belief: mean and covariance at a time */
    DT_BUSWIRE_COMMANDS = 3, /**< commands for one signal */
    DT_BUSWIRE_ACKS = 4      /**< outcomes of commands */
} dt_buswire_type;

/** Sample flag bits; any other bit set makes the record malformed. */
#define DT_BUSWIRE_F_VARIANCE 0x1u  /**< the variance is the sample's own */
#define DT_BUSWIRE_F_UNCERTAIN 0x2u /**< doubtful quality */
#define DT_BUSWIRE_F_KNOWN (DT_BUSWIRE_F_VARIANCE | DT_BUSWIRE_F_UNCERTAIN) /**< every defined bit */
/** Every decision bit an ack may carry: the dispatcher's DT_DISP_* flags
 *  (dtwin/control.h, 0x01 to 0x80); any other bit makes the record malformed. */
#define DT_BUSWIRE_DECISIONS_KNOWN 0xFFu

/** A message header. The encoders take epoch, contract and seq from it and
 *  write version, type and count themselves. */
typedef struct dt_buswire_header {
    uint8_t version;   /**< DT_BUSWIRE_VERSION */
    uint8_t type;      /**< dt_buswire_type */
    uint16_t count;    /**< records; 1 for a belief */
    uint32_t epoch;    /**< the publisher's connection epoch */
    uint32_t contract; /**< version of the publisher's contract the message follows, >= 1 */
    uint64_t seq;      /**< the message's sequence number on its topic */
} dt_buswire_header;

/** One sample record. */
typedef struct dt_buswire_sample {
    uint32_t channel; /**< index into the stream's signal list */
    uint32_t flags;   /**< DT_BUSWIRE_F_* */
    int64_t t_source; /**< ns on the publisher's time base, |t| <= DT_TIME_LIMIT */
    double value;     /**< finite */
    double variance;  /**< 0 .. DT_BUSWIRE_VARIANCE_MAX (0 when DT_BUSWIRE_F_VARIANCE is clear) */
} dt_buswire_sample;

/** One command record (the topic names the signal). */
typedef struct dt_buswire_command {
    uint64_t seq;       /**< the issuer's command number */
    int64_t t_issued;   /**< ns on the issuer's time base, |t| <= DT_TIME_LIMIT */
    int64_t t_deadline; /**< ns on the same base, >= t_issued, |t| <= DT_TIME_LIMIT */
    double value;       /**< finite */
    uint16_t origin;    /**< DT_ORIGIN_* as the issuer set it, carried as sent */
    uint16_t authority; /**< as the issuer set it, carried as sent */
} dt_buswire_command;

/** One ack record: what became of a command. */
typedef struct dt_buswire_ack {
    uint64_t seq;      /**< the command's seq */
    uint32_t decision; /**< DT_DISP_* bits, within DT_BUSWIRE_DECISIONS_KNOWN */
    int32_t status;    /**< 0 or a negative dtwin status (DT_E*) */
    int64_t t;         /**< ns when decided, on the decider's time base */
} dt_buswire_ack;

/** Why a message or a record was refused, or a call misused. */
typedef enum dt_buswire_error {
    DT_BUSWIRE_OK = 0,
    /* the message: the whole message is dropped */
    DT_BUSWIRE_SHORT,        /**< shorter than the header */
    DT_BUSWIRE_BAD_MAGIC,    /**< not 'D' 'T' 'W' 'B' */
    DT_BUSWIRE_BAD_VERSION,  /**< a version other than 1 */
    DT_BUSWIRE_BAD_TYPE,     /**< a type other than 1 to 4 (or not the one asked for) */
    DT_BUSWIRE_BAD_CONTRACT, /**< contract version 0 */
    DT_BUSWIRE_EMPTY,        /**< count 0 */
    DT_BUSWIRE_TOO_MANY,     /**< count above the type's maximum (1 for a belief) */
    DT_BUSWIRE_TRUNCATED,    /**< shorter than the count (or the states) need */
    DT_BUSWIRE_TRAILING,     /**< longer than the count (or the states) need */
    DT_BUSWIRE_BAD_RESERVED, /**< a reserved field (belief, command record) not 0 */
    DT_BUSWIRE_BAD_STATES,   /**< belief states 0 or above DT_BUSWIRE_MAX_STATES */
    /* a record (samples, commands, acks: that record is skipped) or a belief's values */
    DT_BUSWIRE_BAD_FLAGS,    /**< unknown sample flag or ack decision bits */
    DT_BUSWIRE_NOT_FINITE,   /**< a value, variance, mean or covariance NaN or infinite */
    DT_BUSWIRE_BAD_VARIANCE, /**< a variance (a belief's diagonal too) below 0 or above DT_BUSWIRE_VARIANCE_MAX */
    DT_BUSWIRE_BAD_TIME,     /**< a time outside +-DT_TIME_LIMIT */
    DT_BUSWIRE_DEADLINE_BEFORE_ISSUED, /**< a command's t_deadline < t_issued */
    DT_BUSWIRE_BAD_STATUS,   /**< an ack's status above 0 */
    DT_BUSWIRE_NOT_PSD,      /**< covariance not symmetric positive semi-definite */
    /* the caller */
    DT_BUSWIRE_CAPACITY,     /**< valid, but more states than the caller's buffers hold */
    DT_BUSWIRE_BAD_ARG,      /**< a NULL pointer, or a record index past count */
    DT_BUSWIRE__COUNT
} dt_buswire_error;

/** Name of a reason ("ok", "not_psd", ...); "?" for a value out of range;
 *  never NULL. */
DT_API const char *dt_buswire_error_name(dt_buswire_error e);

/** Checks every header field, and the message's length against count (for a
 *  belief: its reserved field, its number of states and the length they
 *  need), in constant time; fills h (may be NULL) only when it passes.
 *  After DT_BUSWIRE_OK every record index below h->count lies inside buf.
 *  Never reads past len.
 *  @return DT_BUSWIRE_OK, or the first message reason it finds, in the order
 *          of docs/wire.md ("What a reader checks"). */
DT_API dt_buswire_error dt_buswire_decode_header(const uint8_t *buf, size_t len,
                                                 dt_buswire_header *h);

/** The sample record checks a decoder applies and an encoder requires.
 *  @return DT_BUSWIRE_OK, or the first failing of DT_BUSWIRE_BAD_FLAGS,
 *          DT_BUSWIRE_BAD_TIME, DT_BUSWIRE_NOT_FINITE, DT_BUSWIRE_BAD_VARIANCE;
 *          DT_BUSWIRE_BAD_ARG for a NULL r. */
DT_API dt_buswire_error dt_buswire_sample_check(const dt_buswire_sample *r);
/** The command record checks (the decoder checks the reserved bytes first).
 *  @return DT_BUSWIRE_OK, or the first failing of DT_BUSWIRE_BAD_TIME,
 *          DT_BUSWIRE_DEADLINE_BEFORE_ISSUED, DT_BUSWIRE_NOT_FINITE;
 *          DT_BUSWIRE_BAD_ARG for a NULL r. */
DT_API dt_buswire_error dt_buswire_command_check(const dt_buswire_command *r);
/** The ack record checks.
 *  @return DT_BUSWIRE_OK, or the first failing of DT_BUSWIRE_BAD_FLAGS,
 *          DT_BUSWIRE_BAD_STATUS, DT_BUSWIRE_BAD_TIME; DT_BUSWIRE_BAD_ARG for
 *          a NULL r. */
DT_API dt_buswire_error dt_buswire_ack_check(const dt_buswire_ack *r);
/** The belief checks: n states, mean (n) finite, P (n x n, row-major) finite,
 *  variances in 0 .. DT_BUSWIRE_VARIANCE_MAX, exactly symmetric (the message
 *  carries only its upper triangle) and positive semi-definite (docs/wire.md
 *  states the test). work:
 *  DT_BUSWIRE_BELIEF_WORK(n) doubles of scratch.
 *  @return DT_BUSWIRE_OK, or the first failing of DT_BUSWIRE_BAD_STATES,
 *          DT_BUSWIRE_BAD_TIME, DT_BUSWIRE_NOT_FINITE, DT_BUSWIRE_BAD_VARIANCE,
 *          DT_BUSWIRE_NOT_PSD (a non-symmetric P too); DT_BUSWIRE_BAD_ARG for
 *          a NULL pointer. */
DT_API dt_buswire_error dt_buswire_belief_check(dt_time t_valid, size_t n, const double *mean,
                                                const double *P, double *work);

/** Encodes n sample records with h's epoch, contract and seq.
 *  @return the message length, or 0 when buf, h or r is NULL, h->contract is
 *          0, n is 0 or above DT_BUSWIRE_MAX_SAMPLES, the message does not fit
 *          cap, or a record fails dt_buswire_sample_check. buf's content is
 *          unspecified after 0. */
DT_API size_t dt_buswire_encode_samples(uint8_t *buf, size_t cap, const dt_buswire_header *h,
                                        const dt_buswire_sample *r, size_t n);
/** Encodes n command records; as dt_buswire_encode_samples (maximum
 *  DT_BUSWIRE_MAX_COMMANDS, dt_buswire_command_check). Reserved bytes are 0. */
DT_API size_t dt_buswire_encode_commands(uint8_t *buf, size_t cap, const dt_buswire_header *h,
                                         const dt_buswire_command *r, size_t n);
/** Encodes n ack records; as dt_buswire_encode_samples (maximum
 *  DT_BUSWIRE_MAX_ACKS, dt_buswire_ack_check). */
DT_API size_t dt_buswire_encode_acks(uint8_t *buf, size_t cap, const dt_buswire_header *h,
                                     const dt_buswire_ack *r, size_t n);
/** Encodes a belief of n states: mean (n), P (n x n, row-major; its upper
 *  triangle is written). Uses the covariance's bytes in buf as the PSD test's
 *  scratch: it needs no other memory.
 *  @return DT_BUSWIRE_BELIEF_BYTES(n), or 0 when a pointer is NULL,
 *          h->contract is 0, the message does not fit cap, or
 *          dt_buswire_belief_check would refuse it. buf's content is
 *          unspecified after 0. */
DT_API size_t dt_buswire_encode_belief(uint8_t *buf, size_t cap, const dt_buswire_header *h,
                                       dt_time t_valid, size_t n, const double *mean,
                                       const double *P);

/** Encodes a belief as dt_buswire_encode_belief, with its times: t_data, the
 *  newest data behind it (an aged or fused belief holds at t_valid, but its
 *  data is no newer than t_data), and t_sent, the publisher's clock when it
 *  sent it (a reader's clock model learns from it), all on the publisher's
 *  time base, t_data <= t_valid <= t_sent, each within +-DT_TIME_LIMIT.
 *  @return DT_BUSWIRE_BELIEF_BYTES(n) + DT_BUSWIRE_BELIEF_TIMES_BYTES, or 0 as
 *          dt_buswire_encode_belief, or for times out of range or order. */
DT_API size_t dt_buswire_encode_belief_timed(uint8_t *buf, size_t cap, const dt_buswire_header *h,
                                             dt_time t_valid, dt_time t_data, dt_time t_sent,
                                             size_t n, const double *mean, const double *P);
/** The times of a belief message that dt_buswire_decode_belief accepted:
 *  with its times flag, t_data and t_sent as sent; without, both t_valid
 *  (a belief whose publisher did not say). @return DT_BUSWIRE_OK, a header
 *  reason, DT_BUSWIRE_BAD_TYPE, DT_BUSWIRE_BAD_TIME, DT_BUSWIRE_BAD_ARG for a
 *  NULL pointer. */
DT_API dt_buswire_error dt_buswire_belief_times(const uint8_t *buf, size_t len, dt_time *t_data,
                                                dt_time *t_sent);

/** Record i of a sample message, without copying the message. Checks the
 *  header first (as dt_buswire_decode_header, constant time), so it is safe on
 *  any input. out is filled whenever record i lies in the message, also when
 *  the record check fails (its fields as sent, for a log line).
 *  @return DT_BUSWIRE_OK when the record is valid; a record reason (as
 *          dt_buswire_sample_check) when it is not: skip this record, the
 *          others may be valid; a message reason of dt_buswire_decode_header
 *          when the message is invalid: drop all of it; DT_BUSWIRE_BAD_TYPE
 *          when the message holds another type; DT_BUSWIRE_BAD_ARG when out
 *          is NULL or i >= count. */
DT_API dt_buswire_error dt_buswire_sample_at(const uint8_t *buf, size_t len, size_t i,
                                             dt_buswire_sample *out);
/** Command record i; as dt_buswire_sample_at. A record whose reserved bytes
 *  are not 0 gives DT_BUSWIRE_BAD_RESERVED (a record reason here). */
DT_API dt_buswire_error dt_buswire_command_at(const uint8_t *buf, size_t len, size_t i,
                                              dt_buswire_command *out);
/** Ack record i; as dt_buswire_sample_at. */
DT_API dt_buswire_error dt_buswire_ack_at(const uint8_t *buf, size_t len, size_t i,
                                          dt_buswire_ack *out);
/** Decodes and checks a belief message completely. mean must hold max_n
 *  doubles and P max_n * max_n; P receives the full symmetric n x n matrix,
 *  row-major with row stride n. Allocates nothing: P's storage is the PSD
 *  test's scratch, so mean and P are unspecified after a failure; h, t_valid
 *  and n (each may be NULL) are set only on success.
 *  @return DT_BUSWIRE_OK when every check passed; else the first failing of:
 *          a message reason of dt_buswire_decode_header; DT_BUSWIRE_BAD_TYPE
 *          (not a belief); DT_BUSWIRE_BAD_ARG (mean or P NULL);
 *          DT_BUSWIRE_CAPACITY (more than max_n states); then the belief's
 *          values: DT_BUSWIRE_BAD_TIME, DT_BUSWIRE_NOT_FINITE,
 *          DT_BUSWIRE_BAD_VARIANCE, DT_BUSWIRE_NOT_PSD. */
DT_API dt_buswire_error dt_buswire_decode_belief(const uint8_t *buf, size_t len,
                                                 dt_buswire_header *h, dt_time *t_valid,
                                                 size_t *n, double *mean, double *P,
                                                 size_t max_n);

#ifdef __cplusplus
}
#endif
#endif
