/* The mqtt sink: commands published to MQTT topics on the twin's broker
 * connection (the description's "bus" section), one topic per commanded
 * signal (the mapping entry's native name), as a bare number or through a
 * JSON template (src/desc/payload.h). apply publishes at once and never
 * waits; it fails, and the dispatcher counts a sink error (a run of them
 * engages its safe state), when the connection is down (a command is never
 * queued to be sent late), when the value cannot be written, and while the
 * broker refuses the topic (its last QoS 1 answer was a refusal). A topic
 * may have an echo topic on which the device publishes the value it
 * applied: each echo is reported (dt_sink_report) for the signal's last
 * command published. docs/adapters.md, MQTT devices. */
#include <string.h>

#include "../adapters/adapters_internal.h"
#include "../desc/desc.h"
#include "../platform/internal.h"
#include "mqtt.h"
#include "mqtt_adapt.h"

/* A rendered command: the template's text and every placeholder's widest
 * number. */
#define CMD_MAX (DT__PAYLOAD_TPL_TEXT + DT__PAYLOAD_TPL_PARTS * DT__PAYLOAD_RENDER_NUM)

static const char *const mqsink_keys[] = {"qos", "retain", "template", "topics", NULL};
static const char *const entry_keys[] = {"template", "echo", NULL};
static const char *const echo_keys[] = {"topic", "format", "value", "booleans", NULL};

/* Refused echoes by reason, in the payload layer's order. */
static const char *const echo_names[] = {
#define DT__MQTT_ECHO_NAME(id, name, text) "echo_" name,
    DT__PAYLOAD_REASONS(DT__MQTT_ECHO_NAME)
#undef DT__MQTT_ECHO_NAME
};

struct mqsink;

/* One commanded signal: its topic, its template, its echo. */
typedef struct mq_cmd {
    struct mqsink *sink;
    const dt_mapping *map; /* map->native is the command topic (owned by the io) */
    dt__payload_template tpl;
    int has_echo;
    char echo_topic[DT__MQTT_TOPIC_MAX + 1];
    dt__payload_spec echo;
    uint64_t last_seq; /* the last command published, what an echo reports */
    int refused;       /* the broker's last answer on this topic was a refusal */
} mq_cmd;

typedef struct mqsink {
    dt_sink_ctx *ctx;
    dt__mqtt *bus; /* NULL when checked only */
    dt_allocator alloc;
    mq_cmd *cmd;
    size_t n;
    int qos, retain;
    uint64_t published, acked, denied, puback_failed, topic_refused, not_connected;
    uint64_t publish_errors, not_finite;
    uint64_t echo_messages, echo_reported, echo_retained, echo_no_command, unknown_topic;
    uint64_t echo_reason[DT__PAYLOAD_NREASONS];
    char buf[CMD_MAX];
} mqsink;

/* ---- the broker's answers and the echoes ---- */

static void on_puback(void *user, int mid, int reason)
{
    (void)mid;
    mq_cmd *c = user;
    mqsink *s = c->sink;
    if (reason < 0x80) { /* 0, or 0x10 no subscriber: delivered to the broker */
        s->acked++;
        if (c->refused)
            dt_sink_log(s->ctx, DT_LOG_INFO, "topic \"%s\": the broker takes commands again",
                        c->map->native);
        c->refused = 0;
        return;
    }
    uint64_t n = reason == 0x87 ? ++s->denied : ++s->puback_failed;
    c->refused = 1;
    if (dt__mqtt_log_now(n))
        dt_sink_log(s->ctx, DT_LOG_ERROR,
                    "topic \"%s\": the broker refused a command (PUBACK 0x%02x%s): the "
                    "device does not get it, and apply fails until the broker takes one "
                    "(%llu so far)",
                    c->map->native, (unsigned)reason, reason == 0x87 ? " not authorized" : "",
                    (unsigned long long)n);
}

static void echo_dropped(mqsink *s, const mq_cmd *c, uint64_t n, const char *why,
                         const uint8_t *p, size_t len)
{
    if (!dt__mqtt_log_now(n))
        return;
    char ex[64];
    dt__mqtt_excerpt(p, len, ex, sizeof ex);
    dt_sink_log(s->ctx, DT_LOG_WARN, "echo topic \"%s\": %s: \"%s\" (%llu so far)",
                c->echo_topic, why, ex, (unsigned long long)n);
}

static void on_echo(void *user, const char *topic, const uint8_t *p, size_t len, dt_time now)
{
    mq_cmd *c = user;
    mqsink *s = c->sink;
    s->echo_messages++;
    if (strcmp(topic, c->echo_topic) != 0) {
        echo_dropped(s, c, ++s->unknown_topic, "a message on another topic", p, len);
        return;
    }
    if (dt__mqtt_message_retained(s->bus)) {
        /* the broker's stored value, from before: it confirms no command of
         * this run */
        s->echo_retained++;
        return;
    }
    dt__payload_value v;
    int r = dt__payload_read(&c->echo, (const char *)p, len, &s->alloc, &v);
    if (r != DT__PAYLOAD_OK) {
        echo_dropped(s, c, ++s->echo_reason[r], dt__payload_reason_text(r), p, len);
        return;
    }
    if (c->last_seq == 0) {
        echo_dropped(s, c, ++s->echo_no_command, "an echo before any command", p, len);
        return;
    }
    /* the value read back in the signal's unit: the mapping converts the
     * other way */
    double canonical = (v.value - c->map->offset) / c->map->scale;
    if (dt_sink_report(s->ctx, c->map->signal, c->last_seq, canonical, now) != DT_OK) {
        echo_dropped(s, c, ++s->echo_reason[DT__PAYLOAD_NOT_FINITE],
                     "the value is not finite in the signal's unit", p, len);
        return;
    }
    s->echo_reported++;
}

/* ---- apply ---- */

static int mqsink_apply(void *self, const dt_command *cmd, const dt_mapping *map)
{
    mqsink *s = self;
    size_t i = (size_t)(map - dt_sink_mapping(s->ctx, 0));
    if (i >= s->n || s->bus == NULL)
        return DT_EINVAL;
    mq_cmd *c = &s->cmd[i];
    double v = cmd->value * map->scale + map->offset;
    size_t len = dt__payload_render(s->buf, sizeof s->buf, &c->tpl, v, cmd->t_issued, cmd->seq);
    if (len == 0) {
        uint64_t n = ++s->not_finite;
        if (dt__mqtt_log_now(n))
            dt_sink_log(s->ctx, DT_LOG_ERROR,
                        "topic \"%s\": command %llu is not finite in the native unit, not "
                        "published (%llu so far)",
                        map->native, (unsigned long long)cmd->seq, (unsigned long long)n);
        return DT_ERANGE;
    }
    int rc = dt__mqtt_publish(s->bus, map->native, s->buf, len, s->qos, s->retain,
                              s->qos == 1 ? on_puback : NULL, c, NULL);
    if (rc == DT_ESTATE) {
        uint64_t n = ++s->not_connected;
        if (dt__mqtt_log_now(n))
            dt_sink_log(s->ctx, DT_LOG_WARN,
                        "topic \"%s\": the broker connection is down: command %llu not sent "
                        "(never queued to be sent late; %llu so far)",
                        map->native, (unsigned long long)cmd->seq, (unsigned long long)n);
        return DT_EIO;
    }
    if (rc != DT_OK) {
        s->publish_errors++; /* the connection logs why */
        return DT_EIO;
    }
    s->published++;
    c->last_seq = cmd->seq;
    if (c->refused) {
        /* published (so a broker that takes the topic again is noticed), but
         * the last answer says the device gets nothing */
        s->topic_refused++;
        return DT_EIO;
    }
    return DT_OK;
}

/* ---- configuration ---- */

/* The template of obj into *tpl when obj has one (label: obj's path, "" for
 * the sink's own). */
static int template_read(mqsink *s, const dt_config *obj, const char *label,
                         dt__payload_template *tpl)
{
    const dt_config *v = dt_config_get(obj, "template");
    if (v == NULL && label[0] != '\0')
        return DT_OK; /* a topic without its own: the sink's */
    const char *text = NULL;
    char err[224];
    if (v != NULL && dt_config_string(v, &text) != DT_OK) {
        dt_sink_error(s->ctx, "%s%stemplate: expected a string", label, label[0] ? "." : "");
        return DT_EPARSE;
    }
    if (dt__payload_template_compile(text, &s->alloc, tpl, err, sizeof err) != 0) {
        dt_sink_error(s->ctx, "%s%stemplate: %s", label, label[0] ? "." : "", err);
        return DT_EPARSE;
    }
    return DT_OK;
}

static int echo_read(mqsink *s, mq_cmd *c, const dt_config *echo, const char *label)
{
    char at[DT__MQTT_TOPIC_MAX + 24], err[256];
    dt__fmt(at, sizeof at, "%s.echo", label);
    dt__mqtt_spec_in in;
    dt__mqtt_spec_clear(&in);
    int rc = dt__mqtt_spec_read(echo, at, echo_keys, &in, err, sizeof err);
    if (rc == DT_OK)
        rc = dt__mqtt_spec_compile(&in, at, &c->echo, err, sizeof err);
    const char *topic = NULL;
    if (rc == DT_OK && dt_config_string(dt_config_get(echo, "topic"), &topic) != DT_OK) {
        dt__fmt(err, sizeof err, "%s.topic: required, the topic the device echoes on", at);
        rc = DT_EPARSE;
    }
    if (rc == DT_OK) {
        char what[DT__MQTT_TOPIC_MAX + 32];
        dt__fmt(what, sizeof what, "%s.topic", at);
        rc = dt__mqtt_topic_check(topic, what, err, sizeof err);
    }
    for (size_t k = 0; rc == DT_OK && k < s->n; k++) {
        if (strcmp(topic, s->cmd[k].map->native) == 0) {
            /* the sink would read its own commands back as the device's */
            dt__fmt(err, sizeof err, "%s.topic: \"%s\" is a command topic of this sink", at,
                    topic);
            rc = DT_EPARSE;
        } else if (s->cmd[k].has_echo && strcmp(topic, s->cmd[k].echo_topic) == 0) {
            /* one echo would confirm two signals */
            dt__fmt(err, sizeof err, "%s.topic: \"%s\" is already the echo of topics[\"%s\"]",
                    at, topic, s->cmd[k].map->native);
            rc = DT_EPARSE;
        }
    }
    if (rc != DT_OK) {
        dt_sink_error(s->ctx, "%s", err);
        return rc;
    }
    dt__fmt(c->echo_topic, sizeof c->echo_topic, "%s", topic);
    c->has_echo = 1;
    return DT_OK;
}

static int mqsink_config(mqsink *s, dt_sink_ctx *ctx, const dt_config *cfg)
{
    char err[256], got[64];
    int rc = dt__mqtt_adapter_bus(dt__sink_io(ctx), "sink", &s->bus, err, sizeof err);
    if (rc == DT_OK)
        rc = dt__mqtt_qos_read(cfg, 1, &s->qos, err, sizeof err);
    if (rc != DT_OK) {
        dt_sink_error(ctx, "%s", err);
        return rc;
    }
    const dt_config *v = dt_config_get(cfg, "retain");
    if (v != NULL && dt_config_bool(v, &s->retain) != DT_OK) {
        dt_sink_error(ctx, "retain: true or false, got %s", dt__mqtt_got(v, got, sizeof got));
        return DT_EPARSE;
    }
    if ((rc = dt__mqtt_mapping_topics(cfg, s->n, "sink", err, sizeof err)) != DT_OK) {
        dt_sink_error(ctx, "%s", err);
        return rc;
    }
    if ((rc = template_read(s, cfg, "", &s->cmd[0].tpl)) != DT_OK)
        return rc;
    const dt_config *topics = dt_config_get(cfg, "topics");
    if (topics != NULL && !dt__cfg_is_object(topics)) {
        dt_sink_error(ctx, "topics: expected an object of topic -> its keys, got %s",
                      dt__mqtt_got(topics, got, sizeof got));
        return DT_EPARSE;
    }
    for (size_t i = 0; i < s->n; i++) {
        s->cmd[i].sink = s;
        s->cmd[i].map = dt_sink_mapping(ctx, i);
        if (i > 0)
            s->cmd[i].tpl = s->cmd[0].tpl; /* the sink's; a topic's entry may replace it */
        char what[48];
        dt__fmt(what, sizeof what, "mapping[%zu].native: topic", i);
        if ((rc = dt__mqtt_topic_check(s->cmd[i].map->native, what, err, sizeof err)) != DT_OK) {
            dt_sink_error(ctx, "%s", err);
            return rc;
        }
    }
    for (const dt_config *e = dt__cfg_child(topics); e != NULL; e = dt__cfg_next(e)) {
        size_t i = 0;
        while (i < s->n && strcmp(s->cmd[i].map->native, dt__cfg_key(e)) != 0)
            i++;
        char label[DT__MQTT_TOPIC_MAX + 16];
        dt__mqtt_topic_label(label, sizeof label, dt__cfg_key(e));
        dt_diag d;
        if (i == s->n) {
            dt_sink_error(ctx, "%s: not a mapped topic (the mapping's \"native\" names the "
                               "topics)", label);
            return DT_EPARSE;
        }
        if (!dt__cfg_is_object(e)) {
            dt_sink_error(ctx, "%s: expected an object, got %s", label,
                          dt__mqtt_got(e, got, sizeof got));
            return DT_EPARSE;
        }
        if (dt__cfg_check_keys(&d, e, label, entry_keys, NULL) != DT_OK) {
            dt_sink_error(ctx, "%s (the keys here: template, echo)", d.message);
            return DT_EPARSE;
        }
        if ((rc = template_read(s, e, label, &s->cmd[i].tpl)) != DT_OK)
            return rc;
        const dt_config *echo = dt_config_get(e, "echo");
        if (echo != NULL && (rc = echo_read(s, &s->cmd[i], echo, label)) != DT_OK)
            return rc;
    }
    if (s->retain)
        dt_sink_log(ctx, DT_LOG_WARN,
                    "retain: true: the broker keeps each topic's last command and hands it to "
                    "a device whenever it subscribes (a restart), however old it is by then");
    return DT_OK;
}

static int alloc_cmds(mqsink *s, dt_sink_ctx *ctx)
{
    s->ctx = ctx;
    s->alloc = *dt_sink_allocator(ctx);
    s->n = dt_sink_mapping_count(ctx);
    s->cmd = dt__calloc(&s->alloc, s->n ? s->n : 1, sizeof *s->cmd);
    if (s->cmd == NULL) {
        dt_sink_error(ctx, "out of memory");
        return DT_ENOMEM;
    }
    return DT_OK;
}

static void mqsink_close(void *self)
{
    mqsink *s = self; /* subscriptions: as the source's close says */
    dt__free(&s->alloc, s->cmd);
    s->cmd = NULL;
}

static int mqsink_validate(dt_sink_ctx *ctx, const dt_config *cfg)
{
    mqsink *s = dt__calloc(dt_sink_allocator(ctx), 1, sizeof *s);
    if (s == NULL)
        return DT_ENOMEM;
    int rc = alloc_cmds(s, ctx);
    if (rc == DT_OK)
        rc = mqsink_config(s, ctx, cfg);
    mqsink_close(s);
    dt__free(dt_sink_allocator(ctx), s);
    return rc;
}

static int mqsink_open(void *self, dt_sink_ctx *ctx, const dt_config *cfg)
{
    mqsink *s = self;
    int rc = alloc_cmds(s, ctx);
    if (rc == DT_OK)
        rc = mqsink_config(s, ctx, cfg);
    for (size_t i = 0; rc == DT_OK && i < s->n; i++) {
        if (!s->cmd[i].has_echo)
            continue;
        rc = dt__mqtt_subscribe(s->bus, s->cmd[i].echo_topic, 1, on_echo, &s->cmd[i]);
        if (rc != DT_OK)
            dt_sink_error(ctx, "topics[\"%s\"].echo: cannot subscribe to \"%s\": %s",
                          s->cmd[i].map->native, s->cmd[i].echo_topic,
                          rc == DT_ELIMIT ? "the twin's MQTT connection has 64 subscriptions "
                                            "already"
                                          : dt_strerror(rc));
    }
    if (rc != DT_OK)
        mqsink_close(s);
    return rc;
}

/* published + not_connected + publish_errors + not_finite = applies;
 * every echo message in exactly one of echo_reported, echo_retained,
 * echo_no_command, an echo_<reason> or unknown_topic. */
static size_t mqsink_counters(const void *self, dt_counter *out, size_t max)
{
    const mqsink *s = self;
    dt_counter c[13 + DT__PAYLOAD_NREASONS];
    size_t n = 0;
    c[n++] = (dt_counter){"published", s->published};
    c[n++] = (dt_counter){"acked", s->acked};
    c[n++] = (dt_counter){"denied", s->denied};
    c[n++] = (dt_counter){"puback_failed", s->puback_failed};
    c[n++] = (dt_counter){"topic_refused", s->topic_refused};
    c[n++] = (dt_counter){"not_connected", s->not_connected};
    c[n++] = (dt_counter){"publish_errors", s->publish_errors};
    c[n++] = (dt_counter){"not_finite", s->not_finite};
    c[n++] = (dt_counter){"echo_messages", s->echo_messages};
    c[n++] = (dt_counter){"echo_reported", s->echo_reported};
    c[n++] = (dt_counter){"echo_retained", s->echo_retained};
    c[n++] = (dt_counter){"echo_no_command", s->echo_no_command};
    for (int r = 1; r < DT__PAYLOAD_NREASONS; r++)
        c[n++] = (dt_counter){echo_names[r], s->echo_reason[r]};
    c[n++] = (dt_counter){"unknown_topic", s->unknown_topic};
    return dt__counters_copy(out, max, c, n);
}

const dt_sink_ops dt__mqtt_sink_ops = {
    .abi = DT_SINK_ABI,
    .kind = "mqtt",
    .instance_size = sizeof(mqsink),
    .keys = mqsink_keys,
    .open = mqsink_open,
    .apply = mqsink_apply,
    .close = mqsink_close,
    .validate = mqsink_validate,
    .counters = mqsink_counters,
};
