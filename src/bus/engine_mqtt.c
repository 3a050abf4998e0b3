/* The built-in bus engine "mqtt": libmosquitto against an MQTT broker
 * (src/bus/mqtt.c), behind the engine table of dtwin/bus.h. Its settings
 * are the "bus" section's "broker" and "reconnect" (docs/bus.md). */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../desc/desc.h"
#include "../platform/internal.h"
#include "bus_internal.h"
#include "mqtt.h"

static const char *const mqtt_keys[] = {"broker", "reconnect", NULL};
static const char *const broker_keys[] = {"host",     "port",     "keepalive",     "client_id",
                                          "tls",      "username", "password_file", NULL};
static const char *const tls_keys[] = {"ca", "cert", "key", NULL};
static const char *const reconnect_keys[] = {"min", "max", NULL};

static int loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return 0;
}

static int ip_literal(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* A readable file named by member `key`, resolved against basedir. */
static int file_member(dt_diag *diag, const dt_config *obj, const char *path, const char *key,
                       int required, const char *basedir, char *out, size_t cap)
{
    char rel[512];
    int rc = dt__bus_str_member(diag, obj, path, key, required, rel, sizeof rel);
    if (rc != DT_OK || rel[0] == '\0') {
        out[0] = '\0';
        return rc;
    }
    if (dt__resolve_path(basedir, rel, out, cap) != DT_OK)
        return dt__diag(diag, DT_EPARSE, path, "%s: the path \"%s\" is too long", key, rel);
    FILE *f = fopen(out, "rb");
    if (f == NULL)
        return dt__diag(diag, DT_EIO, path, "%s: cannot read \"%s\": %s", key, out,
                        strerror(errno));
    (void)fclose(f); /* read only: nothing to lose */
    return DT_OK;
}

static int read_password(dt_diag *diag, const char *path, const char *file, char *out,
                         size_t cap)
{
    FILE *f = fopen(file, "rb");
    if (f == NULL)
        return dt__diag(diag, DT_EIO, path, "password_file: cannot read \"%s\": %s", file,
                        strerror(errno));
    size_t n = fread(out, 1, cap, f);
    (void)fclose(f); /* read only: nothing to lose */
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        n--;
    if (n == 0 || n >= cap)
        return dt__diag(diag, DT_EPARSE, path,
                        "password_file: \"%s\" must hold one line of 1..%zu bytes", file,
                        cap - 1);
    out[n] = '\0';
    if (memchr(out, '\0', n) != NULL || memchr(out, '\n', n) != NULL)
        return dt__diag(diag, DT_EPARSE, path,
                        "password_file: \"%s\" must hold one line without NUL bytes", file);
    return DT_OK;
}

static int read_tls(dt_diag *diag, const dt_config *broker, const char *basedir,
                    dt__mqtt_config *c)
{
    const dt_config *t = dt_config_get(broker, "tls");
    const char *s = dt__cfg_str(t);
    if (t == NULL)
        return dt__diag(diag, DT_EPARSE, "bus.broker.tls",
                        "required: an object with \"ca\" (and \"cert\" and \"key\" for a "
                        "client certificate), or \"none\" for plain TCP to a loopback broker");
    if (s != NULL) {
        if (strcmp(s, "none") != 0)
            return dt__diag(diag, DT_EPARSE, "bus.broker.tls",
                            "expected an object or \"none\", got \"%s\"", s);
        if (!loopback(c->host))
            return dt__diag(diag, DT_EPARSE, "bus.broker.tls",
                            "\"none\" is for a loopback broker only; %s is not one (a "
                            "loopback IP: 127.0.0.1, ::1): give \"tls\": {\"ca\": ..., "
                            "\"cert\": ..., \"key\": ...}",
                            c->host);
        c->tls = 0;
        return DT_OK;
    }
    char got[64];
    if (!dt__cfg_is_object(t))
        return dt__diag(diag, DT_EPARSE, "bus.broker.tls",
                        "expected an object or \"none\", got %s", dt__cfg_got(t, got, sizeof got));
    int rc = dt__cfg_check_keys(diag, t, "bus.broker.tls", tls_keys, NULL);
    if (rc == DT_OK)
        rc = file_member(diag, t, "bus.broker.tls", "ca", 1, basedir, c->ca, sizeof c->ca);
    if (rc == DT_OK)
        rc = file_member(diag, t, "bus.broker.tls", "cert", 0, basedir, c->cert, sizeof c->cert);
    if (rc == DT_OK)
        rc = file_member(diag, t, "bus.broker.tls", "key", 0, basedir, c->key, sizeof c->key);
    if (rc == DT_OK && (c->cert[0] == '\0') != (c->key[0] == '\0'))
        rc = dt__diag(diag, DT_EPARSE, "bus.broker.tls",
                      "\"cert\" and \"key\" go together (a client certificate and its key)");
    c->tls = 1;
    return rc;
}

static int read_broker(dt_diag *diag, const dt_config *b, const char *basedir,
                       dt__mqtt_config *c)
{
    const char *path = "bus.broker";
    char got[64];
    if (!dt__cfg_is_object(b))
        return dt__diag(diag, DT_EPARSE, path, "expected an object, got %s",
                        dt__cfg_got(b, got, sizeof got));
    int rc = dt__cfg_check_keys(diag, b, path, broker_keys, NULL);
    if (rc == DT_OK)
        rc = dt__bus_str_member(diag, b, path, "host", 1, c->host, sizeof c->host);
    if (rc != DT_OK)
        return rc;
    const dt_config *t = dt_config_get(b, "tls");
    int tls = t != NULL && dt__cfg_str(t) == NULL;
    double port = tls ? 8883 : 1883, keep = 10;
    rc = dt__bus_num_member(diag, b, path, "port", 1, 65535, 1, port, &port);
    if (rc == DT_OK)
        rc = dt__bus_num_member(diag, b, path, "keepalive", 5, 3600, 1, keep, &keep);
    if (rc == DT_OK)
        rc = dt__bus_str_member(diag, b, path, "client_id", 0, c->client_id, sizeof c->client_id);
    if (rc == DT_OK)
        rc = dt__bus_str_member(diag, b, path, "username", 0, c->username, sizeof c->username);
    if (rc == DT_OK)
        rc = read_tls(diag, b, basedir, c);
    char pwfile[512];
    if (rc == DT_OK)
        rc = file_member(diag, b, path, "password_file", 0, basedir, pwfile, sizeof pwfile);
    if (rc != DT_OK)
        return rc;
    if (pwfile[0] != '\0') {
        if (c->username[0] == '\0')
            return dt__diag(diag, DT_EPARSE, path,
                            "password_file: needs \"username\" (the password is its)");
        rc = read_password(diag, "bus.broker", pwfile, c->password, sizeof c->password);
        if (rc != DT_OK)
            return rc;
    }
    c->port = (int)port;
    c->keepalive_s = (int)keep;
    return DT_OK;
}

static int read_reconnect(dt_diag *diag, const dt_config *sec, dt__mqtt_config *c)
{
    double lo = 0.1, hi = 5;
    char got[64];
    const dt_config *r = dt_config_get(sec, "reconnect");
    int rc = DT_OK;
    if (r != NULL) {
        if (!dt__cfg_is_object(r))
            return dt__diag(diag, DT_EPARSE, "bus.reconnect", "expected an object, got %s",
                            dt__cfg_got(r, got, sizeof got));
        rc = dt__cfg_check_keys(diag, r, "bus.reconnect", reconnect_keys, NULL);
        if (rc == DT_OK)
            rc = dt__bus_num_member(diag, r, "bus.reconnect", "min", 0.01, 300, 0, lo, &lo);
        if (rc == DT_OK)
            rc = dt__bus_num_member(diag, r, "bus.reconnect", "max", 0.01, 300, 0, hi, &hi);
        if (rc == DT_OK && lo > hi)
            rc = dt__diag(diag, DT_EPARSE, "bus.reconnect",
                          "min (%g s) is above max (%g s)", lo, hi);
    }
    c->reconnect_min = dt_time_from_sec(lo);
    c->reconnect_max = dt_time_from_sec(hi);
    return rc;
}

/* The connection's counters as rows (its stats, by name). */
size_t dt__mqtt_counters(const dt__mqtt *m, dt_counter *out, size_t max)
{
    const dt__mqtt_stats *s = dt__mqtt_stats_get(m);
    const dt_counter c[] = {
        {"mqtt.connects", s->connects},
        {"mqtt.connect_refused", s->connect_refused},
        {"mqtt.connect_errors", s->connect_errors},
        {"mqtt.disconnects", s->disconnects},
        {"mqtt.received", s->received},
        {"mqtt.unrouted", s->unrouted},
        {"mqtt.published", s->published},
        {"mqtt.not_connected", s->not_connected},
        {"mqtt.publish_errors", s->publish_errors},
        {"mqtt.denied", s->denied},
        {"mqtt.puback_failed", s->puback_failed},
        {"mqtt.subscribe_refused", s->subscribe_refused},
        {"mqtt.read_bursts_cut", s->read_bursts_cut},
    };
    size_t n = sizeof c / sizeof c[0];
    for (size_t i = 0; out != NULL && i < n && i < max; i++)
        out[i] = c[i];
    return n;
}

static int eng_open(const dt_bus_engine_env *env, const dt_config *sec, void **self,
                    dt_diag *diag)
{
    const dt_config *b = dt_config_get(sec, "broker");
    if (b == NULL)
        return dt__diag(diag, DT_EPARSE, "bus", "broker: required, an object");
    dt__mqtt_config c;
    memset(&c, 0, sizeof c);
    int rc = read_broker(diag, b, env->basedir, &c);
    if (rc == DT_OK)
        rc = read_reconnect(diag, sec, &c);
    if (rc == DT_OK && !ip_literal(c.host))
        dt__log(env->log, DT_LOG_WARN, "bus",
                "bus.broker.host: \"%s\" is a name: libmosquitto resolves it at every "
                "connect with a blocking lookup, which stalls the twin's loop while it lasts "
                "(give an IP address)",
                c.host);
    if (rc == DT_OK && c.client_id[0] == '\0') /* unique with the identity */
        (void)snprintf(c.client_id, sizeof c.client_id, "dt-%.61s-%.61s", env->realm,
                       env->twin);
    if (rc == DT_OK && self != NULL) {
        char err[200];
        dt__mqtt *m = NULL;
        rc = dt__mqtt_create(env->alloc, env->log, c.client_id, &c, &m, err, sizeof err);
        if (rc != DT_OK)
            (void)dt__diag(diag, rc, "bus.broker", "%s", err);
        *self = m;
    }
    explicit_bzero(c.password, sizeof c.password); /* not optimized away as a memset may be */
    return rc;
}

static void eng_destroy(void *self) { dt__mqtt_destroy(self); }
static int eng_set_will(void *self, const char *topic, const void *p, size_t len)
{
    return dt__mqtt_set_will(self, topic, p, len, 1);
}
static void eng_before_connect(void *self, void (*fn)(void *user), void *user)
{
    dt__mqtt_before_connect(self, fn, user);
}
static int eng_on_state(void *self, dt_bus_state_fn fn, void *user)
{
    return dt__mqtt_on_state(self, fn, user);
}
static int eng_subscribe(void *self, const char *filter, dt_bus_delivery d,
                         dt_bus_message_fn fn, void *user)
{
    return dt__mqtt_subscribe(self, filter, d == DT_BUS_RELIABLE ? 1 : 0, fn, user);
}
static int eng_publish(void *self, const char *topic, const void *p, size_t len,
                       dt_bus_delivery d, int retain)
{
    return dt__mqtt_publish(self, topic, p, len, d == DT_BUS_RELIABLE ? 1 : 0, retain, NULL,
                            NULL, NULL);
}
static int eng_connected(const void *self) { return dt__mqtt_connected(self); }
static int eng_retained(const void *self) { return dt__mqtt_message_retained(self); }
static size_t eng_counters(const void *self, dt_counter *out, size_t max)
{
    return dt__mqtt_counters(self, out, max);
}

const dt_bus_engine_ops dt__mqtt_engine_ops = {
    DT_BUS_ENGINE_ABI, "mqtt",         mqtt_keys,     eng_open,         eng_destroy,
    eng_set_will,      eng_before_connect, eng_on_state, eng_subscribe, eng_publish,
    eng_connected,     eng_retained,   dt__mqtt_poll, dt__mqtt_watches, dt__mqtt_ready,
    dt__mqtt_wake_at,  dt__mqtt_wake,  eng_counters};
