/* The mqtt kinds' shared reading of the description (see mqtt_adapt.h):
 * payload specs, topics, qos, the bus. */
#include <stdio.h>
#include <string.h>

#include <mosquitto.h>

#include "../adapters/adapters_internal.h"
#include "../desc/desc.h"
#include "../platform/internal.h"
#include "bus.h"
#include "mqtt_adapt.h"

const char *dt__mqtt_got(const dt_config *v, char *buf, size_t cap)
{
    const char *s = dt__cfg_str(v);
    if (s == NULL)
        return dt__cfg_got(v, buf, cap);
    dt__fmt(buf, cap, "\"%.40s%s\"", s, strlen(s) > 40 ? "..." : "");
    return buf;
}

void dt__mqtt_spec_clear(dt__mqtt_spec_in *in)
{
    memset(in, 0, sizeof *in);
    in->booleans = -1;
}

/* A string member (non-empty) into *out, with its level into *at. */
static int str_key(const dt_config *obj, const char *label, const char *key, const char **out,
                   const char **at, char *err, size_t errn)
{
    const dt_config *v = dt_config_get(obj, key);
    if (v == NULL)
        return DT_OK;
    const char *s = dt__cfg_str(v);
    char got[64];
    if (s == NULL || s[0] == '\0') {
        dt__fmt(err, errn, "%s.%s: expected a non-empty string, got %s", label, key,
                s == NULL ? dt__cfg_got(v, got, sizeof got) : "\"\"");
        return DT_EPARSE;
    }
    *out = s;
    *at = label;
    return DT_OK;
}

int dt__mqtt_spec_read(const dt_config *obj, const char *label, const char *const *keys,
                       dt__mqtt_spec_in *in, char *err, size_t errn)
{
    char got[64];
    if (!dt__cfg_is_object(obj)) {
        dt__fmt(err, errn, "%s: expected an object, got %s", label,
                dt__cfg_got(obj, got, sizeof got));
        return DT_EPARSE;
    }
    dt_diag d;
    if (dt__cfg_check_keys(&d, obj, label, keys, NULL) != DT_OK) {
        char list[96] = "";
        for (size_t i = 0; keys[i] != NULL; i++)
            dt__fmt(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                    keys[i]);
        dt__fmt(err, errn, "%s (the keys here: %s)", d.message, list);
        return DT_EPARSE;
    }
    int rc = str_key(obj, label, "format", &in->format, &in->at_format, err, errn);
    if (rc == DT_OK)
        rc = str_key(obj, label, "value", &in->value, &in->at_value, err, errn);
    if (rc == DT_OK)
        rc = str_key(obj, label, "time", &in->time, &in->at_time, err, errn);
    if (rc == DT_OK)
        rc = str_key(obj, label, "time_unit", &in->time_unit, &in->at_time_unit, err, errn);
    if (rc != DT_OK)
        return rc;
    const dt_config *b = dt_config_get(obj, "booleans");
    if (b != NULL) {
        int v = 0;
        if (dt_config_bool(b, &v) != DT_OK) {
            dt__fmt(err, errn, "%s.booleans: expected true or false, got %s", label,
                    dt__mqtt_got(b, got, sizeof got));
            return DT_EPARSE;
        }
        in->booleans = v;
        in->at_booleans = label;
    }
    return DT_OK;
}

/* A compiled path, or the payload layer's message prefixed by its key. */
static int path_key(const char *at, const char *key, const char *text, dt__payload_path *out,
                    char *err, size_t errn)
{
    char why[200];
    if (dt__payload_path_compile(text, out, why, sizeof why) == 0)
        return DT_OK;
    dt__fmt(err, errn, "%s.%s: %s", at, key, why);
    return DT_EPARSE;
}

int dt__mqtt_spec_compile(const dt__mqtt_spec_in *in, const char *label, dt__payload_spec *out,
                          char *err, size_t errn)
{
    memset(out, 0, sizeof *out);
    dt__payload_format f = DT__PAYLOAD_FMT_NUMBER;
    if (in->format != NULL && dt__payload_format_parse(in->format, &f) != 0) {
        dt__fmt(err, errn, "%s.format: \"%s\" is not \"number\" or \"json\"", in->at_format,
                in->format);
        return DT_EPARSE;
    }
    out->format = f;
    if (f == DT__PAYLOAD_FMT_NUMBER) {
        /* a bare number has nothing to find: a path here is a mistake */
        const char *key = in->value ? "value"
                          : in->time ? "time"
                          : in->time_unit ? "time_unit"
                          : in->booleans >= 0 ? "booleans"
                                              : NULL;
        if (key != NULL) {
            const char *at = in->value ? in->at_value
                             : in->time ? in->at_time
                             : in->time_unit ? in->at_time_unit
                                             : in->at_booleans;
            dt__fmt(err, errn,
                    "%s.%s: a \"number\" payload is the value alone (no paths, no time: it is "
                    "stamped on arrival); \"format\": \"json\" reads a document",
                    at, key);
            return DT_EPARSE;
        }
        return DT_OK;
    }
    if (in->value == NULL) {
        dt__fmt(err, errn, "%s: a \"json\" payload needs \"value\", the path of the value in the "
                           "document (such as \"temp\" or \"data.readings[0].v\")",
                label);
        return DT_EPARSE;
    }
    int rc = path_key(in->at_value, "value", in->value, &out->value, err, errn);
    if (rc != DT_OK)
        return rc;
    out->allow_bool = in->booleans > 0;
    if ((in->time == NULL) != (in->time_unit == NULL)) {
        dt__fmt(err, errn,
                in->time != NULL
                    ? "%s.time: needs \"time_unit\" (s, ms, us, ns or rfc3339): a device's time "
                      "in the wrong unit would be off by a factor of 1000"
                    : "%s.time_unit: there is no \"time\" path for it to apply to",
                in->time != NULL ? in->at_time : in->at_time_unit);
        return DT_EPARSE;
    }
    if (in->time == NULL)
        return DT_OK;
    rc = path_key(in->at_time, "time", in->time, &out->time, err, errn);
    if (rc != DT_OK)
        return rc;
    if (dt__payload_time_enc_parse(in->time_unit, &out->time_enc) != 0) {
        dt__fmt(err, errn, "%s.time_unit: \"%s\" is not s, ms, us, ns or rfc3339",
                in->at_time_unit, in->time_unit);
        return DT_EPARSE;
    }
    out->has_time = 1;
    return DT_OK;
}

int dt__mqtt_topic_check(const char *topic, const char *what, char *err, size_t errn)
{
    size_t n = strlen(topic);
    if (n == 0 || n > DT__MQTT_TOPIC_MAX) {
        dt__fmt(err, errn, "%s \"%.64s%s\": 1..%d bytes, got %zu", what, topic,
                n > 64 ? "..." : "", DT__MQTT_TOPIC_MAX, n);
        return DT_EPARSE;
    }
    const char *w = strpbrk(topic, "+#");
    if (w != NULL) {
        dt__fmt(err, errn,
                "%s \"%s\": the wildcard '%c' is not allowed: each topic names one device "
                "value, so that every message of a signal is counted exactly (map each topic)",
                what, topic, *w);
        return DT_EPARSE;
    }
    if (topic[0] == '$') {
        dt__fmt(err, errn, "%s \"%s\": topics that begin with '$' are the broker's own", what,
                topic);
        return DT_EPARSE;
    }
    if (mosquitto_validate_utf8(topic, (int)n) != MOSQ_ERR_SUCCESS) {
        dt__fmt(err, errn,
                "%s \"%s\": not a topic MQTT allows (UTF-8 without control characters)", what,
                topic);
        return DT_EPARSE;
    }
    return DT_OK;
}

int dt__mqtt_qos_read(const dt_config *obj, int def, int *out, char *err, size_t errn)
{
    const dt_config *v = dt_config_get(obj, "qos");
    double q = def;
    char got[64];
    if (v != NULL && (dt_config_number(v, &q) != DT_OK || (q != 0 && q != 1))) {
        dt__fmt(err, errn, "qos: 0 or 1, got %s", dt__mqtt_got(v, got, sizeof got));
        return DT_EPARSE;
    }
    *out = (int)q;
    return DT_OK;
}

int dt__mqtt_mapping_topics(const dt_config *cfg, size_t n, const char *what, char *err,
                            size_t errn)
{
    if (n == 0) {
        dt__fmt(err, errn, "mapping: an mqtt %s maps topics (\"native\") to signals: give at "
                           "least one", what);
        return DT_EPARSE;
    }
    const dt_config *arr = dt_config_get(cfg, "mapping");
    for (size_t i = 0; i < n; i++)
        if (dt_config_get(dt_config_at(arr, i), "native") == NULL) {
            /* the signal id that would stand in for it is no topic anyone chose */
            dt__fmt(err, errn, "mapping[%zu]: an mqtt %s maps topics: give \"native\", the "
                               "topic", i, what);
            return DT_EPARSE;
        }
    return DT_OK;
}

void dt__mqtt_topic_label(char *buf, size_t cap, const char *topic)
{
    dt__fmt(buf, cap, "topics[\"%s\"]", topic);
}

int dt__mqtt_adapter_bus(dt_io *io, const char *what, struct dt__mqtt **out, char *err,
                         size_t errn)
{
    *out = dt__bus_mqtt(io);
    if (*out != NULL)
        return DT_OK;
    if (!dt__io_bus_declared(io)) {
        dt__fmt(err, errn,
                "an mqtt %s needs the description's \"bus\" section: the broker connection "
                "its topics go through (\"bus\": {\"broker\": {\"host\": ..., \"tls\": ...}})",
                what);
        return DT_EPARSE;
    }
    if (dt__io_mode(io) == DT__IO_OPEN) {
        dt__fmt(err, errn, "the bus connection is missing");
        return DT_ESTATE;
    }
    return DT_OK; /* checked, never connected */
}

void dt__mqtt_excerpt(const uint8_t *p, size_t n, char *out, size_t cap)
{
    size_t o = 0, i = 0;
    for (; i < n && o + 8 < cap; i++) {
        uint8_t c = p[i];
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
    }
    if (i < n)
        o += (size_t)snprintf(out + o, cap - o, "...");
    out[o] = '\0';
}
