/* The description's "bus" section: the twin's broker connection. Read by the
 * adapter host before its sources and sinks, which share the connection;
 * checked fully when the twin is only validated (`dtwin check`: files
 * readable, settings in range), connected only when the twin runs. */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../adapters/adapters_internal.h"
#include "../desc/desc.h"
#include "../platform/internal.h"
#include "bus.h"
#include "bus_internal.h"
#include "mqtt.h"

static const char *const bus_keys[] = {"broker", "reconnect", "realm", "twin",
                                       "beliefs", "accept",    "streams", NULL};
static const char *const group_keys[] = {"group", "states", "every", "independent", NULL};
static const char *const broker_keys[] = {"host",     "port",          "keepalive", "client_id",
                                          "tls",      "username",      "password_file", NULL};
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

/* A string member: required or optional, at most cap - 1 bytes, printable. */
static int str_member(dt_diag *diag, const dt_config *obj, const char *path, const char *key,
                      int required, char *out, size_t cap)
{
    const dt_config *v = dt_config_get(obj, key);
    out[0] = '\0';
    if (v == NULL) {
        if (required)
            return dt__diag(diag, DT_EPARSE, path, "%s: required, a string", key);
        return DT_OK;
    }
    const char *s = dt__cfg_str(v);
    char got[64];
    if (s == NULL)
        return dt__diag(diag, DT_EPARSE, path, "%s: expected a string, got %s", key,
                        dt__cfg_got(v, got, sizeof got));
    size_t n = strlen(s);
    if (n == 0 || n >= cap)
        return dt__diag(diag, DT_EPARSE, path, "%s: 1..%zu bytes, got %zu", key, cap - 1, n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || s[i] == 0x7f)
            return dt__diag(diag, DT_EPARSE, path,
                            "%s: \"%s\" holds a space or control character (byte %zu)", key, s,
                            i);
    memcpy(out, s, n + 1);
    return DT_OK;
}

/* An optional number in [lo, hi] (integer when asked), def when absent. */
static int num_member(dt_diag *diag, const dt_config *obj, const char *path, const char *key,
                      double lo, double hi, int integer, double def, double *out)
{
    int present = 0;
    double v = def;
    int rc = dt__cfg_opt_number(diag, obj, path, key, &v, &present);
    if (rc != DT_OK)
        return rc;
    if (present && (!(v >= lo && v <= hi) || (integer && v != (double)(int64_t)v)))
        return dt__diag(diag, DT_EPARSE, path, "%s: %s %g..%g, got %.17g", key,
                        integer ? "an integer in" : "a number in", lo, hi, v);
    *out = v;
    return DT_OK;
}

/* A readable file named by member `key`, resolved against basedir. */
static int file_member(dt_diag *diag, const dt_config *obj, const char *path, const char *key,
                       int required, const char *basedir, char *out, size_t cap)
{
    char rel[512];
    int rc = str_member(diag, obj, path, key, required, rel, sizeof rel);
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
                       const char *twin_name, dt__mqtt_config *c)
{
    const char *path = "bus.broker";
    char got[64];
    if (!dt__cfg_is_object(b))
        return dt__diag(diag, DT_EPARSE, path, "expected an object, got %s",
                        dt__cfg_got(b, got, sizeof got));
    int rc = dt__cfg_check_keys(diag, b, path, broker_keys, NULL);
    if (rc == DT_OK)
        rc = str_member(diag, b, path, "host", 1, c->host, sizeof c->host);
    if (rc != DT_OK)
        return rc;
    const dt_config *t = dt_config_get(b, "tls");
    int tls = t != NULL && dt__cfg_str(t) == NULL;
    double port = tls ? 8883 : 1883, keep = 10;
    rc = num_member(diag, b, path, "port", 1, 65535, 1, port, &port);
    if (rc == DT_OK)
        rc = num_member(diag, b, path, "keepalive", 5, 3600, 1, keep, &keep);
    if (rc == DT_OK)
        rc = str_member(diag, b, path, "client_id", 0, c->client_id, sizeof c->client_id);
    if (rc == DT_OK)
        rc = str_member(diag, b, path, "username", 0, c->username, sizeof c->username);
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
    (void)twin_name;
    return DT_OK;
}

static int read_identity(dt_diag *diag, const dt_config *sec, const char *name, dt__bus *b)
{
    int rc = str_member(diag, sec, "bus", "realm", 1, b->realm, sizeof b->realm);
    if (rc == DT_OK)
        rc = str_member(diag, sec, "bus", "twin", 0, b->twin, sizeof b->twin);
    if (rc != DT_OK)
        return rc;
    if (b->twin[0] == '\0') {
        if (strlen(name) >= sizeof b->twin || !dt__bus_name_ok(name))
            return dt__diag(diag, DT_EPARSE, "bus",
                            "twin: required here: the description's name \"%s\" is no topic "
                            "level (1..64 of A-Z a-z 0-9 _ -)",
                            name);
        memcpy(b->twin, name, strlen(name) + 1);
    }
    if (!dt__bus_name_ok(b->realm))
        return dt__diag(diag, DT_EPARSE, "bus", "realm: \"%s\": 1..64 of A-Z a-z 0-9 _ -",
                        b->realm);
    if (!dt__bus_name_ok(b->twin))
        return dt__diag(diag, DT_EPARSE, "bus", "twin: \"%s\": 1..64 of A-Z a-z 0-9 _ -",
                        b->twin);
    return DT_OK;
}

static int read_group(dt_diag *diag, const dt_config *o, const char *path, dt__bus *b,
                      dt__bus_group *g)
{
    char got[64];
    if (!dt__cfg_is_object(o))
        return dt__diag(diag, DT_EPARSE, path, "expected an object, got %s",
                        dt__cfg_got(o, got, sizeof got));
    int rc = dt__cfg_check_keys(diag, o, path, group_keys, NULL);
    if (rc == DT_OK)
        rc = str_member(diag, o, path, "group", 1, g->name, sizeof g->name);
    if (rc != DT_OK)
        return rc;
    if (!dt__bus_name_ok(g->name))
        return dt__diag(diag, DT_EPARSE, path, "group: \"%s\": 1..64 of A-Z a-z 0-9 _ -",
                        g->name);
    for (size_t k = 0; k < b->n_groups; k++)
        if (strcmp(b->group[k].name, g->name) == 0)
            return dt__diag(diag, DT_EPARSE, path, "group: \"%s\" twice", g->name);
    double every = 0.1;
    rc = num_member(diag, o, path, "every", 0, 3600, 0, every, &every);
    if (rc != DT_OK)
        return rc;
    g->every = dt_time_from_sec(every);
    const dt_config *ind = dt_config_get(o, "independent");
    if (ind != NULL && dt_config_bool(ind, &g->independent) != DT_OK)
        return dt__diag(diag, DT_EPARSE, path, "independent: expected true or false, got %s",
                        dt__cfg_got(ind, got, sizeof got));
    const dt_config *st = dt_config_get(o, "states");
    if (!dt__cfg_is_array(st) || dt__cfg_count(st) < 1 ||
        dt__cfg_count(st) > (int)DT_BUSWIRE_MAX_STATES)
        return dt__diag(diag, DT_EPARSE, path,
                        "states: required, an array of 1..%u estimated signals, got %s",
                        DT_BUSWIRE_MAX_STATES, dt__cfg_got(st, got, sizeof got));
    size_t i = 0;
    for (const dt_config *s = dt__cfg_child(st); s != NULL; s = dt__cfg_next(s), i++) {
        const char *id = dt__cfg_str(s);
        dt_signal_id sig;
        if (id == NULL || dt_model_find_signal(b->model, id, &sig) != DT_OK)
            return dt__diag(diag, DT_EPARSE, path, "states[%zu]: unknown signal %s", i,
                            id ? id : dt__cfg_got(s, got, sizeof got));
        if (dt_model_signal(b->model, sig)->role != DT_ROLE_ESTIMATED)
            return dt__diag(diag, DT_EPARSE, path, "states[%zu]: %s is not an estimated signal",
                            i, id);
        for (size_t j = 0; j < i; j++)
            if (g->sig[j] == sig)
                return dt__diag(diag, DT_EPARSE, path, "states[%zu]: %s twice", i, id);
        g->sig[i] = sig;
    }
    g->n = i;
    return DT_OK;
}

static int read_groups(dt_diag *diag, const dt_config *sec, dt__bus *b)
{
    const dt_config *arr = dt_config_get(sec, "beliefs");
    char got[64];
    if (arr == NULL)
        return DT_OK;
    if (!dt__cfg_is_array(arr) || dt__cfg_count(arr) > DT__BUS_GROUPS)
        return dt__diag(diag, DT_EPARSE, "bus.beliefs", "expected an array of at most %d "
                        "groups, got %s", DT__BUS_GROUPS, dt__cfg_got(arr, got, sizeof got));
    size_t k = 0;
    for (const dt_config *o = dt__cfg_child(arr); o != NULL; o = dt__cfg_next(o), k++) {
        char path[64];
        (void)snprintf(path, sizeof path, "bus.beliefs[%zu]", k);
        int rc = read_group(diag, o, path, b, &b->group[k]);
        if (rc != DT_OK)
            return rc;
        b->n_groups = k + 1;
    }
    return DT_OK;
}

/* "accept": the commanded signals other twins may command on cmd/{signal}. */
static int read_accept(dt_diag *diag, const dt_config *sec, dt__bus *b)
{
    const dt_config *arr = dt_config_get(sec, "accept");
    char got[64];
    if (arr == NULL)
        return DT_OK;
    if (!dt__cfg_is_array(arr) || dt__cfg_count(arr) > DT__BUS_ACCEPT)
        return dt__diag(diag, DT_EPARSE, "bus.accept",
                        "expected an array of at most %d commanded signals, got %s",
                        DT__BUS_ACCEPT, dt__cfg_got(arr, got, sizeof got));
    size_t i = 0;
    for (const dt_config *s = dt__cfg_child(arr); s != NULL; s = dt__cfg_next(s), i++) {
        const char *id = dt__cfg_str(s);
        dt_signal_id sig;
        if (id == NULL || dt_model_find_signal(b->model, id, &sig) != DT_OK)
            return dt__diag(diag, DT_EPARSE, "bus.accept", "[%zu]: unknown signal %s", i,
                            id ? id : dt__cfg_got(s, got, sizeof got));
        if (dt_model_signal(b->model, sig)->role != DT_ROLE_COMMANDED)
            return dt__diag(diag, DT_EPARSE, "bus.accept",
                            "[%zu]: %s is not a commanded signal", i, id);
        char rest[DT__BUS_TOPIC_MAX];
        int n = snprintf(rest, sizeof rest, "cmd/%s", id);
        if (n <= 0 || (size_t)n >= sizeof rest || strchr(id, '+') != NULL ||
            strchr(id, '#') != NULL ||
            dt__bus_topic(b->accept[i].topic, sizeof b->accept[i].topic, b->realm, b->twin,
                          rest) != DT_OK)
            return dt__diag(diag, DT_EPARSE, "bus.accept",
                            "[%zu]: %s cannot be a topic level (too long, or it holds + or #)",
                            i, id);
        for (size_t j = 0; j < i; j++)
            if (b->accept[j].sig == sig)
                return dt__diag(diag, DT_EPARSE, "bus.accept", "[%zu]: %s twice", i, id);
        b->accept[i].sig = sig;
        b->accept[i].bus = b;
        b->n_accept = i + 1;
    }
    return DT_OK;
}

int dt__bus_read(dt_io *io, const dt_config *sec, dt_diag *diag)
{
    if (sec == NULL)
        return DT_OK;
    char got[64];
    if (!dt__cfg_is_object(sec))
        return dt__diag(diag, DT_EPARSE, "bus", "expected an object, got %s",
                        dt__cfg_got(sec, got, sizeof got));
    int rc = dt__cfg_check_keys(diag, sec, "bus", bus_keys, NULL);
    if (rc != DT_OK)
        return rc;
    const dt_config *b = dt_config_get(sec, "broker");
    if (b == NULL)
        return dt__diag(diag, DT_EPARSE, "bus", "broker: required, an object");
    dt__mqtt_config c;
    memset(&c, 0, sizeof c);
    const char *name = dt_model_name(dt__io_model(io));
    rc = read_broker(diag, b, dt__io_basedir(io), name ? name : "twin", &c);
    double lo = 0.1, hi = 5;
    const dt_config *r = dt_config_get(sec, "reconnect");
    if (rc == DT_OK && r != NULL) {
        if (!dt__cfg_is_object(r))
            return dt__diag(diag, DT_EPARSE, "bus.reconnect", "expected an object, got %s",
                            dt__cfg_got(r, got, sizeof got));
        rc = dt__cfg_check_keys(diag, r, "bus.reconnect", reconnect_keys, NULL);
        if (rc == DT_OK)
            rc = num_member(diag, r, "bus.reconnect", "min", 0.01, 300, 0, lo, &lo);
        if (rc == DT_OK)
            rc = num_member(diag, r, "bus.reconnect", "max", 0.01, 300, 0, hi, &hi);
        if (rc == DT_OK && lo > hi)
            rc = dt__diag(diag, DT_EPARSE, "bus.reconnect",
                          "min (%g s) is above max (%g s)", lo, hi);
    }
    if (rc != DT_OK)
        return rc;
    dt__io_declare_bus(io);
    c.reconnect_min = dt_time_from_sec(lo);
    c.reconnect_max = dt_time_from_sec(hi);
    if (!ip_literal(c.host))
        dt__log(dt__io_logger(io), DT_LOG_WARN, "bus",
                "bus.broker.host: \"%s\" is a name: libmosquitto resolves it at every "
                "connect with a blocking lookup, which stalls the twin's loop while it lasts "
                "(give an IP address)",
                c.host);
#ifndef DTWIN_WITH_MQTT
    return dt__diag(diag, DT_EUNSUPPORTED, "bus",
                    "this dtwin was built without the MQTT bus (DTWIN_WITH_MQTT=OFF)");
#else
    const dt_allocator *a = dt__io_allocator(io);
    dt__bus *bus = dt__calloc(a, 1, sizeof *bus);
    if (bus == NULL)
        return dt__diag(diag, DT_ENOMEM, "bus", "out of memory");
    bus->alloc = *a;
    bus->log = *dt__io_logger(io);
    bus->model = dt__io_model(io);
    rc = read_identity(diag, sec, name ? name : "twin", bus);
    if (rc == DT_OK && c.client_id[0] == '\0') /* unique with the identity */
        (void)snprintf(c.client_id, sizeof c.client_id, "dt-%.61s-%.61s", bus->realm,
                       bus->twin);
    if (rc == DT_OK)
        rc = read_groups(diag, sec, bus);
    if (rc == DT_OK)
        rc = read_accept(diag, sec, bus);
    if (rc == DT_OK)
        rc = dt__bus_streams_read(diag, sec, bus);
    if (rc == DT_OK && dt__io_mode(io) == DT__IO_OPEN) {
        /* a check or a replay never connects */
        char err[200];
        rc = dt__mqtt_create(a, dt__io_logger(io), c.client_id, &c, &bus->mq, err, sizeof err);
        if (rc != DT_OK)
            (void)dt__diag(diag, rc, "bus.broker", "%s", err);
    }
    explicit_bzero(c.password, sizeof c.password); /* not optimized away as a memset may be */
    if (rc == DT_OK && bus->mq != NULL && (rc = dt__bus_start(bus)) != DT_OK)
        (void)dt__diag(diag, rc, "bus", "cannot start: %s", dt_strerror(rc));
    if (rc != DT_OK) {
        dt__bus_destroy(bus);
        return rc;
    }
    rc = dt__io_add_link(io, DT__BUS_MQTT, &dt__bus_link_ops, bus);
    if (rc != DT_OK)
        return dt__diag(diag, rc, "bus", "cannot add the connection: %s", dt_strerror(rc));
    return DT_OK;
#endif
}

int dt__bus_attach_io(dt_io *io, dt_twin *twin, dt_diag *diag)
{
#ifdef DTWIN_WITH_MQTT
    dt__bus *b = dt__io_link(io, DT__BUS_MQTT);
    return b != NULL ? dt__bus_attach(b, twin, diag) : DT_OK;
#else
    (void)io, (void)twin, (void)diag;
    return DT_OK;
#endif
}

struct dt__mqtt *dt__bus_mqtt(const dt_io *io)
{
    const dt__bus *b = dt__io_link(io, DT__BUS_MQTT);
    return b != NULL ? b->mq : NULL;
}

const char *dt__bus_realm(const dt_io *io)
{
#ifdef DTWIN_WITH_MQTT
    const dt__bus *b = dt__io_link(io, DT__BUS_MQTT);
    return b != NULL ? b->realm : "";
#else
    (void)io;
    return "";
#endif
}
