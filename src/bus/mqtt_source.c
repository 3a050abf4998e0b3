/* The mqtt source: device values read from MQTT topics on the twin's broker
 * connection (the description's "bus" section), one topic per signal.
 * Each mapping entry's native name is a topic; the source subscribes to each
 * at open, and the connection hands it every message from the twin's loop
 * (the link's poll and loop hooks, which run before the sources' polls), so
 * the source has no poll of its own. A message's payload is read by the
 * payload layer (src/desc/payload.h) with its topic's spec: the source's
 * "payload" with the topic's entry of "topics" laid over it key by key.
 *
 * Every message ends in exactly one of: a sample pushed, the ring full, a
 * refusal by the payload's reason, an unknown topic, or a retained value
 * dropped. A retained message is the broker's stored last value, sent at
 * every subscribe, however old: stamped on arrival it would look fresh, so
 * it is taken only when its payload carries its time on a clock the twin
 * maps by a fixed rule; docs/adapters.md, MQTT devices. */
#include <string.h>

#include "../adapters/adapters_internal.h"
#include "../desc/desc.h"
#include "../platform/internal.h"
#include "mqtt.h"
#include "mqtt_adapt.h"

static const char *const mqsrc_keys[] = {"qos", "retained", "payload", "topics", NULL};
static const char *const spec_keys[] = {"format", "value", "time", "time_unit", "booleans", NULL};

/* The reasons' counter names, in the payload layer's order. */
static const char *const reason_names[] = {
#define DT__MQTT_REASON_NAME(id, name, text) name,
    DT__PAYLOAD_REASONS(DT__MQTT_REASON_NAME)
#undef DT__MQTT_REASON_NAME
};

enum { RETAINED_TIMED = 0, RETAINED_IGNORE };

struct mqsrc;

/* One subscribed topic: the user of its subscription. */
typedef struct mq_topic {
    struct mqsrc *src;
    const dt_mapping *map; /* map->native is the topic (owned by the io) */
    dt__payload_spec spec;
} mq_topic;

typedef struct mqsrc {
    dt_source_ctx *ctx;
    dt__mqtt *bus; /* NULL when checked only */
    dt_allocator alloc;
    mq_topic *topic;
    size_t n;
    int qos, retained, clock_estimate;
    uint64_t messages, samples, ring_full, unknown_topic, retained_seen, retained_dropped;
    uint64_t reason[DT__PAYLOAD_NREASONS];
} mqsrc;

/* ---- messages ---- */

static void refused(mqsrc *s, const mq_topic *t, int r, const uint8_t *p, size_t n)
{
    uint64_t c = ++s->reason[r];
    dt_source_count(s->ctx, DT_EV_MALFORMED, 1);
    if (dt__mqtt_log_now(c)) {
        char ex[64];
        dt__mqtt_excerpt(p, n, ex, sizeof ex);
        dt_source_log(s->ctx, DT_LOG_WARN,
                      "topic \"%s\": payload refused (%s: %s): \"%s\" (%llu so far)",
                      t->map->native, dt__payload_reason_name(r), dt__payload_reason_text(r),
                      ex, (unsigned long long)c);
    }
}

/* A retained message: taken only when it keeps its age (see the top). */
static int retained_dropped(mqsrc *s, const mq_topic *t)
{
    s->retained_seen++;
    const char *why = s->retained == RETAINED_IGNORE ? "\"retained\": \"ignore\""
                      : !t->spec.has_time ? "its payload has no time, and the time of arrival "
                                            "would make an old value look fresh"
                      : s->clock_estimate ? "the source's clock is estimated, which would map "
                                            "the first value onto its arrival"
                                          : NULL;
    if (why == NULL)
        return 0;
    uint64_t c = ++s->retained_dropped;
    dt_source_count(s->ctx, DT_EV_REFUSED, 1);
    if (dt__mqtt_log_now(c))
        dt_source_log(s->ctx, DT_LOG_INFO,
                      "topic \"%s\": the broker's retained value dropped: %s (%llu so far)",
                      t->map->native, why, (unsigned long long)c);
    return 1;
}

static void on_message(void *user, const char *topic, const uint8_t *p, size_t n, dt_time now)
{
    mq_topic *t = user;
    mqsrc *s = t->src;
    s->messages++;
    if (strcmp(topic, t->map->native) != 0) {
        /* the subscription is this very topic: only a broker's misrouting
         * gets here */
        uint64_t c = ++s->unknown_topic;
        dt_source_count(s->ctx, DT_EV_UNMAPPED, 1);
        if (dt__mqtt_log_now(c))
            dt_source_log(s->ctx, DT_LOG_WARN,
                          "a message on topic \"%s\", which this source does not map (%llu so "
                          "far)",
                          topic, (unsigned long long)c);
        return;
    }
    if (dt__mqtt_message_retained(s->bus) && retained_dropped(s, t))
        return;
    dt__payload_value v;
    int r = dt__payload_read(&t->spec, (const char *)p, n, &s->alloc, &v);
    if (r != DT__PAYLOAD_OK) {
        refused(s, t, r, p, n);
        return;
    }
    /* the device's time, on its clock (the source's "clock" maps it), or the
     * arrival on the twin's */
    if (dt_source_emit(s->ctx, t->map, v.has_time ? v.t_ns : now, now, v.value) == DT_EFULL) {
        uint64_t c = ++s->ring_full; /* the ring counted it too */
        if (dt__mqtt_log_now(c))
            dt_source_log(s->ctx, DT_LOG_WARN,
                          "topic \"%s\": the ring is full, a sample dropped (%llu so far)",
                          t->map->native, (unsigned long long)c);
        return;
    }
    s->samples++;
}

/* ---- configuration ---- */

static int config_error(dt_source_ctx *ctx, int rc, const char *err)
{
    dt_source_error(ctx, "%s", err);
    return rc;
}

/* Checks the topics' entries: each names a mapped topic. */
static int check_topic_entries(dt_source_ctx *ctx, const dt_config *topics, char *err,
                               size_t errn)
{
    char got[64];
    if (!dt__cfg_is_object(topics)) {
        dt__fmt(err, errn,
                "topics: expected an object of topic -> payload keys, got %s",
                dt__mqtt_got(topics, got, sizeof got));
        return DT_EPARSE;
    }
    for (const dt_config *e = dt__cfg_child(topics); e != NULL; e = dt__cfg_next(e))
        if (dt_source_map_name(ctx, dt__cfg_key(e)) == NULL) {
            dt__fmt(err, errn,
                    "topics[\"%s\"]: not a mapped topic (the mapping's \"native\" names "
                    "the topics)",
                    dt__cfg_key(e));
            return DT_EPARSE;
        }
    return DT_OK;
}

/* Reads and checks cfg into s, with s->topic (n entries) filled; no I/O. */
static int mqsrc_config(mqsrc *s, dt_source_ctx *ctx, const dt_config *cfg)
{
    char err[256];
    int rc = dt__mqtt_adapter_bus(dt__source_io(ctx), "source", &s->bus, err, sizeof err);
    if (rc == DT_OK)
        rc = dt__mqtt_qos_read(cfg, 0, &s->qos, err, sizeof err);
    if (rc != DT_OK)
        return config_error(ctx, rc, err);
    const dt_config *v = dt_config_get(cfg, "retained");
    const char *str = NULL;
    if (v != NULL) {
        if (dt_config_string(v, &str) == DT_OK && strcmp(str, "ignore") == 0) {
            s->retained = RETAINED_IGNORE;
        } else if (str == NULL || strcmp(str, "timed") != 0) {
            char got[64];
            dt_source_error(ctx, "retained: \"timed\" (the default) or \"ignore\", got %s",
                            dt__mqtt_got(v, got, sizeof got));
            return DT_EPARSE;
        }
    }
    const dt_config *ck = dt_config_get(dt_config_get(cfg, "clock"), "mode");
    s->clock_estimate = dt_config_string(ck, &str) == DT_OK && strcmp(str, "estimate") == 0;
    if ((rc = dt__mqtt_mapping_topics(cfg, s->n, "source", err, sizeof err)) != DT_OK)
        return config_error(ctx, rc, err);
    dt__mqtt_spec_in base;
    dt__mqtt_spec_clear(&base);
    const dt_config *payload = dt_config_get(cfg, "payload");
    if (payload != NULL &&
        (rc = dt__mqtt_spec_read(payload, "payload", spec_keys, &base, err, sizeof err)) != DT_OK)
        return config_error(ctx, rc, err);
    const dt_config *topics = dt_config_get(cfg, "topics");
    if (topics != NULL && (rc = check_topic_entries(ctx, topics, err, sizeof err)) != DT_OK)
        return config_error(ctx, rc, err);
    int warned = 0;
    for (size_t i = 0; i < s->n; i++) {
        mq_topic *t = &s->topic[i];
        t->src = s;
        t->map = dt_source_mapping(ctx, i);
        char what[48], label[DT__MQTT_TOPIC_MAX + 16];
        dt__fmt(what, sizeof what, "mapping[%zu].native: topic", i);
        if ((rc = dt__mqtt_topic_check(t->map->native, what, err, sizeof err)) != DT_OK)
            return config_error(ctx, rc, err);
        dt__mqtt_topic_label(label, sizeof label, t->map->native);
        dt__mqtt_spec_in in = base;
        const dt_config *entry = dt_config_get(topics, t->map->native);
        if (entry != NULL &&
            (rc = dt__mqtt_spec_read(entry, label, spec_keys, &in, err, sizeof err)) != DT_OK)
            return config_error(ctx, rc, err);
        rc = dt__mqtt_spec_compile(&in, entry != NULL ? label : "payload", &t->spec, err,
                                   sizeof err);
        if (rc != DT_OK)
            return config_error(ctx, rc, err);
        if (t->spec.has_time && !s->clock_estimate && !warned++)
            dt_source_log(ctx, DT_LOG_WARN,
                          "topic \"%s\" carries the device's time: without \"clock\": "
                          "{\"mode\": \"estimate\"} it is read as the twin's own time (right "
                          "only for a host that steps the twin on the device's clock; dtwin "
                          "run's time starts at 0)",
                          t->map->native);
    }
    return DT_OK;
}

static int alloc_topics(mqsrc *s, dt_source_ctx *ctx)
{
    s->ctx = ctx;
    s->alloc = *dt_source_allocator(ctx);
    s->n = dt_source_mapping_count(ctx);
    s->topic = dt__calloc(&s->alloc, s->n ? s->n : 1, sizeof *s->topic);
    if (s->topic == NULL) {
        dt_source_error(ctx, "out of memory");
        return DT_ENOMEM;
    }
    return DT_OK;
}

static void mqsrc_close(void *self)
{
    /* the subscriptions stay with the connection, which the io closes after
     * its adapters without reading again: no message reaches a freed topic */
    mqsrc *s = self;
    dt__free(&s->alloc, s->topic);
    s->topic = NULL;
}

static int mqsrc_validate(dt_source_ctx *ctx, const dt_config *cfg)
{
    mqsrc s;
    memset(&s, 0, sizeof s);
    int rc = alloc_topics(&s, ctx);
    if (rc == DT_OK)
        rc = mqsrc_config(&s, ctx, cfg);
    mqsrc_close(&s);
    return rc;
}

static int mqsrc_open(void *self, dt_source_ctx *ctx, const dt_config *cfg)
{
    mqsrc *s = self;
    int rc = alloc_topics(s, ctx);
    if (rc == DT_OK)
        rc = mqsrc_config(s, ctx, cfg);
    for (size_t i = 0; rc == DT_OK && i < s->n; i++) {
        rc = dt__mqtt_subscribe(s->bus, s->topic[i].map->native, s->qos, on_message,
                                &s->topic[i]);
        if (rc == DT_ELIMIT)
            dt_source_error(ctx,
                            "mapping[%zu]: the twin's MQTT connection has 64 subscriptions "
                            "already (the topics of its mqtt sources and the echo topics of "
                            "its mqtt sinks)",
                            i);
        else if (rc != DT_OK)
            dt_source_error(ctx, "mapping[%zu]: cannot subscribe to \"%s\": %s", i,
                            s->topic[i].map->native, dt_strerror(rc));
    }
    if (rc != DT_OK)
        mqsrc_close(s);
    return rc;
}

/* Every message in exactly one of samples, ring_full, a reason,
 * unknown_topic or retained_dropped; retained counts the retained ones. */
static size_t mqsrc_counters(const void *self, dt_counter *out, size_t max)
{
    const mqsrc *s = self;
    dt_counter c[6 + DT__PAYLOAD_NREASONS];
    size_t n = 0;
    c[n++] = (dt_counter){"messages", s->messages};
    c[n++] = (dt_counter){"samples", s->samples};
    for (int r = 1; r < DT__PAYLOAD_NREASONS; r++)
        c[n++] = (dt_counter){reason_names[r], s->reason[r]};
    c[n++] = (dt_counter){"unknown_topic", s->unknown_topic};
    c[n++] = (dt_counter){"retained", s->retained_seen};
    c[n++] = (dt_counter){"retained_dropped", s->retained_dropped};
    c[n++] = (dt_counter){"ring_full", s->ring_full};
    return dt__counters_copy(out, max, c, n);
}

const dt_source_ops dt__mqtt_source_ops = {
    .abi = DT_SOURCE_ABI,
    .kind = "mqtt",
    .instance_size = sizeof(mqsrc),
    .keys = mqsrc_keys,
    .open = mqsrc_open,
    .close = mqsrc_close,
    .validate = mqsrc_validate,
    .counters = mqsrc_counters,
};
