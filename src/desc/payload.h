/* MQTT device payloads (internal, not installed): a message's bytes to a
 * sample (value, optional time) and a command to a message's bytes. Functions
 * for the mqtt source and sink adapters: no I/O, no clock, no global state of
 * their own.
 *
 * Allocation: a JSON payload is parsed by cJSON (payload_json.c), which
 * allocates while it parses (15 times for a typical 6-value payload),
 * through the allocator given here; so does checking a template once when it
 * is compiled. A `number` payload, paths, and rendering a command allocate
 * nothing.
 *
 * A payload is bytes, not a C string: every reader takes (buf, n) and never
 * reads buf[n]; a JSON payload holding a NUL byte is refused.
 *
 * Locale: nothing here depends on LC_NUMERIC. Number text is read and
 * written by src/platform/numtext.c, which does not; cJSON swaps the '.' of
 * a JSON number for the locale's decimal point itself before its strtod. */
#ifndef DTWIN_SRC_PAYLOAD_H
#define DTWIN_SRC_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "dtwin/alloc.h"

/* ---- why a payload was refused ---- */

/* Every refusal has one reason, so an adapter counts malformed payloads by
 * reason (one counter each, named by dt__payload_reason_name). */
#define DT__PAYLOAD_REASONS(X)                                                                 \
    X(OK, "ok", "accepted")                                                                    \
    X(EMPTY, "empty", "the payload is empty or only whitespace")                              \
    X(TOO_LONG, "too_long", "a number payload over 64 bytes, or a JSON one over 65536")       \
    X(NOT_NUMBER, "not_number", "the payload is not a decimal number")                        \
    X(NOT_FINITE, "not_finite", "the number is nan, inf, or overflows a double")              \
    X(BAD_JSON, "bad_json", "the payload is not one valid JSON document")                     \
    X(NO_VALUE, "no_value", "the value's path is not in the document")                        \
    X(VALUE_NOT_NUMBER, "value_not_number", "the value at the path is not a number")          \
    X(NO_TIME, "no_time", "the time's path is not in the document")                           \
    X(BAD_TIME, "bad_time", "the time is not of its encoding")                                \
    X(TIME_RANGE, "time_range", "the time is beyond +-DT_TIME_LIMIT ns")                      \
    X(NO_MEMORY, "no_memory", "out of memory while parsing the JSON")

typedef enum dt__payload_reason {
#define DT__PAYLOAD_ENUM(id, name, text) DT__PAYLOAD_##id,
    DT__PAYLOAD_REASONS(DT__PAYLOAD_ENUM)
#undef DT__PAYLOAD_ENUM
        DT__PAYLOAD_NREASONS
} dt__payload_reason;

/* "empty", "too_long", ... (snake_case, for counter names); "unknown" out
 * of range. */
const char *dt__payload_reason_name(int reason);
/* A sentence for a log line. */
const char *dt__payload_reason_text(int reason);

/* ---- limits ---- */

#define DT__PAYLOAD_NUM_MAX 64       /* bytes of a number's text */
#define DT__PAYLOAD_JSON_MAX 65536   /* bytes of a JSON payload */
#define DT__PAYLOAD_JSON_DEPTH 64    /* nesting of [ and { in a JSON payload */
#define DT__PAYLOAD_PATH_DEPTH 8     /* steps of a path */
#define DT__PAYLOAD_PATH_TEXT 128    /* bytes of a path's text */
#define DT__PAYLOAD_TIME_TEXT 64     /* bytes of an RFC 3339 string */
#define DT__PAYLOAD_TPL_TEXT 1024    /* bytes of a template's text */
#define DT__PAYLOAD_TPL_PARTS 64     /* literal runs and placeholders */
#define DT__PAYLOAD_RENDER_NUM 32    /* bytes of any rendered number, NUL included */

/* ---- paths into a JSON payload ---- */

/* One step: a member of an object (key) or an element of an array (index). */
typedef struct dt__payload_step {
    uint8_t is_index;
    uint8_t key_len;  /* bytes of the key in the path's keys[] */
    uint16_t key_off; /* where the key starts in keys[] */
    uint32_t index;   /* the element, when is_index */
} dt__payload_step;

/* A compiled path: fixed size, no pointers (copy it freely). */
typedef struct dt__payload_path {
    uint8_t n; /* steps, 1..DT__PAYLOAD_PATH_DEPTH */
    dt__payload_step step[DT__PAYLOAD_PATH_DEPTH];
    char keys[DT__PAYLOAD_PATH_TEXT]; /* the keys, unescaped, back to back */
} dt__payload_path;

/* Compiles spec: `value`, `data.temp`, `readings[2].v`, `a.b[0][1]`,
 * `["key with.dots"].v`. A key is [A-Za-z0-9_-]+ after the start or a '.',
 * or any text in ["..."] (\" and \\ escape a quote and a backslash; control
 * bytes refused); an index is [digits] without leading zeros, at most
 * 999999999. At most DT__PAYLOAD_PATH_DEPTH steps and
 * DT__PAYLOAD_PATH_TEXT - 1 bytes of text.
 * Returns 0, or -1 with err (errn bytes, may be 0) saying the spec and the
 * offending character: `path "a..b": at character 3: a key after '.'
 * (letters, digits, '_', '-'), or ["..."]`; *out is then unspecified. */
int dt__payload_path_compile(const char *spec, dt__payload_path *out, char *err, size_t errn);

/* ---- reading a payload ---- */

typedef enum dt__payload_format {
    DT__PAYLOAD_FMT_NUMBER = 0, /* the payload is a number as text */
    DT__PAYLOAD_FMT_JSON        /* a JSON document: the value (and time) at paths */
} dt__payload_format;

typedef enum dt__payload_time_enc {
    DT__PAYLOAD_TIME_S = 0, /* a JSON number of seconds (may be fractional) */
    DT__PAYLOAD_TIME_MS,    /* milliseconds */
    DT__PAYLOAD_TIME_US,    /* microseconds */
    DT__PAYLOAD_TIME_NS,    /* nanoseconds */
    DT__PAYLOAD_TIME_RFC3339 /* a JSON string, 2026-12-02T00:26:41.123Z */
} dt__payload_time_enc;

/* "number"/"json" and "s"/"ms"/"us"/"ns"/"rfc3339": 0, or -1 for any other
 * name (NULL included). */
int dt__payload_format_parse(const char *name, dt__payload_format *out);
int dt__payload_time_enc_parse(const char *name, dt__payload_time_enc *out);
const char *dt__payload_time_enc_name(dt__payload_time_enc enc);

typedef struct dt__payload_spec {
    dt__payload_format format;
    int allow_bool;              /* json: true reads as 1, false as 0 */
    dt__payload_path value;      /* json: where the value is */
    int has_time;                /* json: the payload carries the time */
    dt__payload_path time;       /* where the time is (has_time) */
    dt__payload_time_enc time_enc;
} dt__payload_spec;

typedef struct dt__payload_value {
    double value;  /* finite */
    int has_time;  /* the spec's has_time */
    int64_t t_ns;  /* ns since the Unix epoch (time encodings scaled as they are), when has_time */
} dt__payload_value;

/* Reads a payload of n bytes (buf may be NULL when n is 0). Returns
 * DT__PAYLOAD_OK with *out set, or the reason it was refused with *out
 * unchanged. Never reads past n. A JSON payload allocates while cJSON parses
 * it, through alloc (NULL: dt_allocator_default()), and frees it all before
 * returning; DT__PAYLOAD_NO_MEMORY when an allocation failed. */
int dt__payload_read(const dt__payload_spec *spec, const char *buf, size_t n,
                     const dt_allocator *alloc, dt__payload_value *out);

/* ---- the text arithmetic inside (payload.c, payload_tpl.c), for the tests ---- */

/* Number text of n bytes (leading/trailing ASCII whitespace allowed) to a
 * finite double, correctly rounded (dt__num_parse, with the 64-byte limit).
 * Accepts [+-]digits[.digits][(e|E)[+-]digits] (also "5." and ".5");
 * refuses hex, nan, inf and anything else.
 * DT__PAYLOAD_OK, EMPTY, TOO_LONG, NOT_NUMBER or NOT_FINITE. */
int dt__payload_number(const char *s, size_t n, double *out);
/* A decimal number's text (dt__num_split's grammar) in the unit of enc (s,
 * ms, us, ns) to ns, exactly, rounded to the nearest ns with ties away from
 * zero. DT__PAYLOAD_OK, BAD_TIME (not that grammar, or text over
 * DT__PAYLOAD_NUM_MAX bytes) or TIME_RANGE (beyond +-DT_TIME_LIMIT). */
int dt__payload_time_number(const char *s, size_t n, dt__payload_time_enc enc, int64_t *ns);
/* RFC 3339 date-time text of n bytes to ns since the Unix epoch: fields
 * checked (month, day of month with leap years, hour, minute, second 00-59:
 * a leap second :60 is refused), 'T'/'t' and 'Z'/'z', offsets +-hh:mm up to
 * 23:59, any number of fraction digits (beyond 9: rounded to the nearest ns,
 * half a ns up, to the later time). DT__PAYLOAD_OK, BAD_TIME or TIME_RANGE. */
int dt__payload_rfc3339(const char *s, size_t n, int64_t *ns);
/* Days since 1970-01-01 of a proleptic Gregorian date (m 1..12, d 1..31). */
int64_t dt__payload_days_from_civil(int64_t y, int m, int d);
/* Its inverse: the date of day z since 1970-01-01. */
void dt__payload_civil_from_days(int64_t z, int64_t *y, int *m, int *d);
/* Writes t as YYYY-MM-DDTHH:MM:SS.fffffffffZ (30 bytes + NUL; any int64);
 * returns the length, 0 when cap < 31. */
size_t dt__payload_fmt_rfc3339(char *buf, size_t cap, int64_t t);
/* Writes t ns as exact decimal seconds ("1764633601.5", "-0.000000001",
 * "12"); returns the length, 0 when cap < DT__PAYLOAD_RENDER_NUM. */
size_t dt__payload_fmt_seconds(char *buf, size_t cap, int64_t t);

/* Whether buf[0..n) is one JSON document as the reader takes one: cJSON
 * accepts it, whitespace at most after it, no NUL byte, no escape that cJSON
 * decodes into a NUL (\u0000, \u without four hex digits), nesting at most
 * DT__PAYLOAD_JSON_DEPTH, at most DT__PAYLOAD_JSON_MAX bytes.
 * DT__PAYLOAD_OK, EMPTY, TOO_LONG, BAD_JSON or NO_MEMORY (cJSON allocates
 * through alloc, NULL: the default); *at (may be NULL) the 1-based offset of
 * the fault, 0 when it has no one place (too deep, too long). */
int dt__payload_json_check(const char *buf, size_t n, const dt_allocator *alloc, size_t *at);

/* ---- rendering a command ---- */

typedef enum dt__payload_tpl_part_kind {
    DT__TPL_TEXT = 0,
    DT__TPL_VALUE,
    DT__TPL_T_NS,
    DT__TPL_T_S,
    DT__TPL_T_RFC3339,
    DT__TPL_SEQ
} dt__payload_tpl_part_kind;

typedef struct dt__payload_tpl_part {
    uint8_t kind;
    uint16_t off, len; /* DT__TPL_TEXT: bytes of text[] */
} dt__payload_tpl_part;

/* A compiled template: fixed size, no pointers. */
typedef struct dt__payload_template {
    uint16_t nparts; /* 0: the bare number */
    dt__payload_tpl_part part[DT__PAYLOAD_TPL_PARTS];
    char text[DT__PAYLOAD_TPL_TEXT]; /* literal text, escapes resolved */
} dt__payload_template;

/* Compiles text, or the bare number when text is NULL. Placeholders {value},
 * {t_ns}, {t_s}, {t_rfc3339}, {seq}; {{ and }} stand for { and }; anything
 * else in braces, and a lone } , is refused. The text rendered with sample
 * values (positive, negative, huge) must be one JSON document each time, as
 * dt__payload_json_check takes one (cJSON allocates through alloc, NULL: the
 * default). Returns 0, or -1 with err naming the template and the character
 * (or saying it ran out of memory). */
int dt__payload_template_compile(const char *text, const dt_allocator *alloc,
                                 dt__payload_template *tpl, char *err, size_t errn);

/* Writes the command into out (a NUL after it) and returns its length, or 0
 * when value is not finite or it does not fit in cap (NUL included).
 * t_ns is rendered for {t_ns}, {t_s} and {t_rfc3339} as it is (any int64).
 * Never allocates. */
size_t dt__payload_render(char *out, size_t cap, const dt__payload_template *tpl, double value,
                          int64_t t_ns, uint64_t seq);

#endif
