/* What the mqtt source and sink kinds share (not installed): a payload spec
 * read from the description, topics checked, the bus found, payloads shown
 * in log lines. mqtt_spec.c; the kinds are mqtt_source.c and mqtt_sink.c. */
#ifndef DTWIN_SRC_BUS_MQTT_ADAPT_H
#define DTWIN_SRC_BUS_MQTT_ADAPT_H

#include <stddef.h>
#include <stdint.h>

#include "../desc/payload.h"
#include "dtwin/adapter.h"

/* The longest topic: the connection keeps a subscription's filter in 256
 * bytes with its NUL. */
#define DT__MQTT_TOPIC_MAX 255

/* A payload spec as the description gives it, one level at a time (the
 * source's "payload", then a topic's entry laid over it key by key): NULL
 * or -1 where a level said nothing, and for each key the level that said
 * it (a label such as "payload" or "topics[\"a/b\"]", owned by the caller,
 * for messages). */
typedef struct dt__mqtt_spec_in {
    const char *format, *value, *time, *time_unit;
    int booleans;
    const char *at_format, *at_value, *at_time, *at_time_unit, *at_booleans;
} dt__mqtt_spec_in;

/* What a message says was found: a string quoted (cut to 40 bytes), else as
 * dt__cfg_got. Returns buf. */
const char *dt__mqtt_got(const dt_config *v, char *buf, size_t cap);

/* Nothing given yet. */
void dt__mqtt_spec_clear(dt__mqtt_spec_in *in);

/* Lays the keys of obj (an object at label; the keys allowed are `keys`,
 * NULL-terminated, each one of format, value, time, time_unit, booleans
 * or `topic`, which is skipped here) over *in. 0, or DT_EPARSE with err
 * naming the key's path and what was wrong with its value. */
int dt__mqtt_spec_read(const dt_config *obj, const char *label, const char *const *keys,
                       dt__mqtt_spec_in *in, char *err, size_t errn);

/* Checks what *in says as a whole and compiles it: `format` "number"
 * (default) takes nothing else; "json" needs `value` and compiles the paths;
 * `time` and `time_unit` go together. label names the whole (a topic's
 * entry, or where the source's default lives) in a message about a key
 * that is missing. 0, or DT_EPARSE with err. */
int dt__mqtt_spec_compile(const dt__mqtt_spec_in *in, const char *label, dt__payload_spec *out,
                          char *err, size_t errn);

/* A topic a device publishes to or reads from: 1..DT__MQTT_TOPIC_MAX
 * bytes of UTF-8 that MQTT allows, no wildcard ('+' or '#': one topic is
 * one signal, so each signal's messages are counted exactly), not one of
 * the broker's ('$...'). what: "topic", "echo topic" (for the message).
 * 0, or DT_EPARSE with err. */
int dt__mqtt_topic_check(const char *topic, const char *what, char *err, size_t errn);

/* `"qos": 0 | 1` of obj, def when absent. 0, or DT_EPARSE with err. */
int dt__mqtt_qos_read(const dt_config *obj, int def, int *out, char *err, size_t errn);

/* The n entries of cfg's "mapping" each give "native", the topic, in so
 * many words (not a channel, not the signal id by default), and there is
 * one at least. what: "source" or "sink". 0, or DT_EPARSE with err. */
int dt__mqtt_mapping_topics(const dt_config *cfg, size_t n, const char *what, char *err,
                            size_t errn);

/* The label of a topic's entry: topics["a/b"] (cut to fit cap). */
void dt__mqtt_topic_label(char *buf, size_t cap, const char *topic);

/* The twin's connection for an adapter of io: 0 with *out (NULL when the
 * twin is only checked), or DT_EPARSE with err when the description has no
 * bus section. what: "source" or "sink". */
int dt__mqtt_adapter_bus(dt_io *io, const char *what, struct dt__mqtt **out, char *err,
                         size_t errn);

/* A payload's first bytes for a log line: printable ASCII as it is, other
 * bytes as \xHH, cut with "..." (cap >= 8). */
void dt__mqtt_excerpt(const uint8_t *p, size_t n, char *out, size_t cap);

/* Whether the count of a repeated event (already incremented) is one to log:
 * the 1st, 2nd, 4th, 8th ... */
static inline int dt__mqtt_log_now(uint64_t count) { return count != 0 && !(count & (count - 1)); }

#endif
