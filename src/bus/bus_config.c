/* The description's "bus" section: the twin's identity on the bus, its
 * engine (the engine reads its own settings), the belief groups it
 * publishes and the commands it accepts. Read by the adapter host before
 * its sources and sinks, which share the connection; checked fully when the
 * twin is only validated (`dtwin check`), connected only when it runs. */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <string.h>

#include "../adapters/adapters_internal.h"
#include "../desc/desc.h"
#include "../platform/internal.h"
#include "bus.h"
#include "bus_internal.h"

/* the engine's own keys ("broker", "reconnect" for mqtt) are let through too */
static const char *const bus_keys[] = {"engine",  "realm",   "twin", "beliefs",
                                       "accept",  "streams", NULL};
static const char *const accept_keys[] = {"signal", "deadline_max", NULL};
static const char *const group_keys[] = {"group", "states", "every", "independent", NULL};

/* A string member: required or optional, at most cap - 1 bytes, printable. */
int dt__bus_str_member(dt_diag *diag, const dt_config *obj, const char *path, const char *key,
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
int dt__bus_num_member(dt_diag *diag, const dt_config *obj, const char *path, const char *key,
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

int dt__bus_signal_list(dt_diag *diag, const dt_config *o, const char *path, const char *key,
                        const dt_model *model, dt_role role, const char *one, const char *many,
                        dt_signal_id *out, size_t max, size_t *n)
{
    char got[64];
    const dt_config *arr = dt_config_get(o, key);
    if (!dt__cfg_is_array(arr) || dt__cfg_count(arr) < 1 || (size_t)dt__cfg_count(arr) > max)
        return dt__diag(diag, DT_EPARSE, path, "%s: required, an array of 1..%zu %s, got %s", key,
                        max, many, dt__cfg_got(arr, got, sizeof got));
    size_t i = 0;
    for (const dt_config *s = dt__cfg_child(arr); s != NULL; s = dt__cfg_next(s), i++) {
        const char *id = dt__cfg_str(s);
        dt_signal_id sig;
        if (id == NULL || dt_model_find_signal(model, id, &sig) != DT_OK)
            return dt__diag(diag, DT_EPARSE, path, "%s[%zu]: unknown signal %s", key, i,
                            id ? id : dt__cfg_got(s, got, sizeof got));
        if (dt_model_signal(model, sig)->role != role)
            return dt__diag(diag, DT_EPARSE, path, "%s[%zu]: %s is not %s", key, i, id, one);
        for (size_t j = 0; j < i; j++)
            if (out[j] == sig)
                return dt__diag(diag, DT_EPARSE, path, "%s[%zu]: %s twice", key, i, id);
        out[i] = sig;
    }
    *n = i;
    return DT_OK;
}

static int read_identity(dt_diag *diag, const dt_config *sec, const char *name, dt__bus *b)
{
    int rc = dt__bus_str_member(diag, sec, "bus", "realm", 1, b->realm, sizeof b->realm);
    if (rc == DT_OK)
        rc = dt__bus_str_member(diag, sec, "bus", "twin", 0, b->twin, sizeof b->twin);
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
        rc = dt__bus_str_member(diag, o, path, "group", 1, g->name, sizeof g->name);
    if (rc != DT_OK)
        return rc;
    if (!dt__bus_name_ok(g->name))
        return dt__diag(diag, DT_EPARSE, path, "group: \"%s\": 1..64 of A-Z a-z 0-9 _ -",
                        g->name);
    for (size_t k = 0; k < b->n_groups; k++)
        if (strcmp(b->group[k].name, g->name) == 0)
            return dt__diag(diag, DT_EPARSE, path, "group: \"%s\" twice", g->name);
    double every = 0.1;
    rc = dt__bus_num_member(diag, o, path, "every", 0, 3600, 0, every, &every);
    if (rc != DT_OK)
        return rc;
    g->every = dt_time_from_sec(every);
    const dt_config *ind = dt_config_get(o, "independent");
    if (ind != NULL && dt_config_bool(ind, &g->independent) != DT_OK)
        return dt__diag(diag, DT_EPARSE, path, "independent: expected true or false, got %s",
                        dt__cfg_got(ind, got, sizeof got));
    return dt__bus_signal_list(diag, o, path, "states", b->model, DT_ROLE_ESTIMATED,
                               "an estimated signal", "estimated signals", g->sig,
                               DT_BUSWIRE_MAX_STATES, &g->n);
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

/* "accept": the commanded signals other twins may command on
 * cmd/{signal}/{issuer}, each with the longest deadline an issuer may ask
 * for (required: an unbounded one would let a command wait for hours). */
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
    for (const dt_config *o = dt__cfg_child(arr); o != NULL; o = dt__cfg_next(o), i++) {
        char path[64];
        (void)snprintf(path, sizeof path, "bus.accept[%zu]", i);
        if (!dt__cfg_is_object(o))
            return dt__diag(diag, DT_EPARSE, path,
                            "expected {\"signal\": id, \"deadline_max\": seconds}, got %s",
                            dt__cfg_got(o, got, sizeof got));
        int rc = dt__cfg_check_keys(diag, o, path, accept_keys, NULL);
        if (rc == DT_OK && dt_config_get(o, "deadline_max") == NULL)
            return dt__diag(diag, DT_EPARSE, path,
                            "deadline_max: required, the longest deadline in seconds an "
                            "issuer may give a command (0.001..3600)");
        double dmax = 0;
        if (rc == DT_OK)
            rc = dt__bus_num_member(diag, o, path, "deadline_max", 0.001, 3600, 0, 0, &dmax);
        char id[DT__BUS_TOPIC_MAX];
        if (rc == DT_OK)
            rc = dt__bus_str_member(diag, o, path, "signal", 1, id, sizeof id);
        if (rc != DT_OK)
            return rc;
        dt_signal_id sig;
        if (dt_model_find_signal(b->model, id, &sig) != DT_OK)
            return dt__diag(diag, DT_EPARSE, path, "signal: unknown signal %s", id);
        if (dt_model_signal(b->model, sig)->role != DT_ROLE_COMMANDED)
            return dt__diag(diag, DT_EPARSE, path, "signal: %s is not a commanded signal", id);
        char topic[DT__BUS_TOPIC_MAX], rest[DT__BUS_TOPIC_MAX];
        int n = snprintf(rest, sizeof rest, "cmd/%s/%*s", id, DT__BUS_NAME_MAX, "");
        if (n <= 0 || (size_t)n >= sizeof rest || strpbrk(id, "+#/") != NULL ||
            dt__bus_topic(topic, sizeof topic, b->realm, b->twin, rest) != DT_OK)
            return dt__diag(diag, DT_EPARSE, path,
                            "signal: %s cannot be a topic level (too long, or it holds +, # "
                            "or /)", id);
        for (size_t j = 0; j < i; j++)
            if (b->accept[j].sig == sig)
                return dt__diag(diag, DT_EPARSE, path, "signal: %s twice", id);
        b->accept[i].sig = sig;
        b->accept[i].id = dt_model_signal(b->model, sig)->id;
        b->accept[i].deadline_max = dt_time_from_sec(dmax);
        b->n_accept = i + 1;
    }
    return DT_OK;
}

/* "bus.engine": the engine's name, "mqtt" when absent. */
static int read_engine(dt_io *io, dt_diag *diag, const dt_config *sec,
                       const dt_bus_engine_ops **out)
{
    const dt_config *e = dt_config_get(sec, "engine");
    const char *name = e != NULL ? dt__cfg_str(e) : "mqtt";
    char got[64];
    if (name == NULL)
        return dt__diag(diag, DT_EPARSE, "bus.engine", "expected a string, got %s",
                        dt__cfg_got(e, got, sizeof got));
    *out = dt_registry_bus_engine(dt__io_registry(io), name);
    if (*out != NULL)
        return DT_OK;
    if (strcmp(name, "mqtt") == 0)
        return dt__diag(diag, DT_EUNSUPPORTED, "bus.engine",
                        "this dtwin was built without the MQTT bus (DTWIN_WITH_MQTT=OFF); "
                        "name a registered engine");
    return dt__diag(diag, DT_EPARSE, "bus.engine",
                    "unknown engine \"%s\" (register it with dt_registry_add_bus_engine)",
                    name);
}

int dt__bus_read(dt_io *io, const dt_config *sec, dt_diag *diag)
{
    if (sec == NULL)
        return DT_OK;
    char got[64];
    if (!dt__cfg_is_object(sec))
        return dt__diag(diag, DT_EPARSE, "bus", "expected an object, got %s",
                        dt__cfg_got(sec, got, sizeof got));
    const dt_bus_engine_ops *eng = NULL;
    int rc = read_engine(io, diag, sec, &eng);
    if (rc != DT_OK || eng == NULL)
        return rc != DT_OK ? rc : DT_EINVAL;
    rc = dt__cfg_check_keys(diag, sec, "bus", bus_keys, eng->keys);
    if (rc != DT_OK)
        return rc;
    dt__io_declare_bus(io);
    const dt_allocator *a = dt__io_allocator(io);
    dt__bus *bus = dt__calloc(a, 1, sizeof *bus);
    if (bus == NULL)
        return dt__diag(diag, DT_ENOMEM, "bus", "out of memory");
    bus->alloc = *a;
    bus->log = *dt__io_logger(io);
    bus->model = dt__io_model(io);
    bus->eng = eng;
    const char *name = dt_model_name(dt__io_model(io));
    rc = read_identity(diag, sec, name ? name : "twin", bus);
    if (rc == DT_OK) {
        /* a check or a replay never connects: the engine only checks */
        dt_bus_engine_env env = {a, dt__io_logger(io), bus->realm, bus->twin,
                                 dt__io_basedir(io)};
        rc = eng->open(&env, sec, dt__io_mode(io) == DT__IO_OPEN ? &bus->es : NULL, diag);
    }
    if (rc == DT_OK)
        rc = read_groups(diag, sec, bus);
    if (rc == DT_OK)
        rc = read_accept(diag, sec, bus);
    if (rc == DT_OK)
        rc = dt__bus_streams_read(diag, sec, bus);
    if (rc == DT_OK && bus->es != NULL && (rc = dt__bus_start(bus)) != DT_OK)
        (void)dt__diag(diag, rc, "bus", "cannot start: %s", dt_strerror(rc));
    if (rc != DT_OK) {
        dt__bus_destroy(bus);
        return rc;
    }
    rc = dt__io_add_link(io, eng->name, &dt__bus_link_ops, bus);
    if (rc != DT_OK)
        return dt__diag(diag, rc, "bus", "cannot add the connection: %s", dt_strerror(rc));
    return DT_OK;
}

static dt__bus *bus_of(const dt_io *io)
{
    return dt__io_link_by_ops(io, &dt__bus_link_ops);
}

int dt__bus_attach_io(dt_io *io, dt_twin *twin, dt_diag *diag)
{
    dt__bus *b = bus_of(io);
    return b != NULL ? dt__bus_attach(b, twin, diag) : DT_OK;
}

const char *dt__bus_contract_text(const dt_io *io)
{
    const dt__bus *b = bus_of(io);
    return b != NULL ? b->contract : NULL;
}

struct dt__mqtt *dt__bus_mqtt(const dt_io *io)
{
#ifdef DTWIN_WITH_MQTT
    const dt__bus *b = bus_of(io);
    /* the registry holds a copy of the table: compared by a member */
    return b != NULL && b->eng->open == dt__mqtt_engine_ops.open ? b->es : NULL;
#else
    (void)io;
    return NULL;
#endif
}

const dt__bus *dt__bus_get(const dt_io *io) { return bus_of(io); }

int dt__bus_engine(const dt_io *io, const dt_bus_engine_ops **eng, void **self)
{
    const dt__bus *b = bus_of(io);
    if (b == NULL || b->es == NULL)
        return DT_ENOTFOUND;
    *eng = b->eng;
    *self = b->es;
    return DT_OK;
}

const char *dt__bus_realm(const dt_io *io)
{
    const dt__bus *b = bus_of(io);
    return b != NULL ? b->realm : "";
}
