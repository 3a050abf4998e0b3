/* "sim" source and sink: a registered plant, integrated by the source at its
 * own step and sampled like a real sensor (noise, latency and jitter, clock
 * offset and skew, dropouts and dropout bursts), from a fixed seed. The sink
 * sets the plant's inputs. Twin and plant share only samples and commands. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../platform/internal.h"
#include "adapters_internal.h"

#define FLIGHT 4096 /* samples in flight (delayed) at most */
#define DT__PLANT_IO 64
#define MAX_PLANTS 16

/* A registered plant and its run-time state, shared by its sim source (which
 * integrates it) and sim sink (which sets its inputs). */
typedef struct dt__plant {
    char name[64];
    const dt_plant_ops *ops;
    void *self;
    double u[DT__PLANT_IO], y[DT__PLANT_IO];
    double t;    /* seconds, plant time */
    int stepped; /* a sim source drives it */
} dt__plant;

/* The plants of a registry: the "sim" kinds' shared context. */
typedef struct plantset {
    dt__plant p[MAX_PLANTS];
    size_t n;
} plantset;

static dt__plant *find_plant(plantset *ps, const char *name)
{
    for (size_t i = 0; ps != NULL && name != NULL && i < ps->n; i++)
        if (strcmp(ps->p[i].name, name) == 0)
            return &ps->p[i];
    return NULL;
}

static int simsrc_open(void *self, dt_source_ctx *ctx, const dt_config *cfg);

int dt_registry_add_plant(dt_registry *r, const char *name, const dt_plant_ops *ops, void *self)
{
    if (r == NULL || name == NULL || ops == NULL || ops->step == NULL || name[0] == '\0' ||
        strlen(name) >= sizeof ((dt__plant *)0)->name || ops->n_inputs > DT__PLANT_IO ||
        ops->n_outputs > DT__PLANT_IO || ops->n_outputs == 0 ||
        (ops->n_inputs > 0 && ops->inputs == NULL) || ops->outputs == NULL)
        return DT_EINVAL;
    if (ops->abi < DT_ADAPTER_ABI_MIN || ops->abi > DT_PLANT_ABI)
        return DT_EABI;
    /* the context of this file's "sim" kind only: a host's own kind of that
     * name (a build without the built-in) has a context of its own type */
    const dt_source_ops *sim = dt_registry_source(r, "sim");
    plantset *ps = dt_registry_source_ctx(r, "sim");
    if (sim == NULL || sim->open != simsrc_open || ps == NULL)
        return DT_ENOTFOUND;
    if (find_plant(ps, name) != NULL)
        return DT_EEXIST;
    if (ps->n == MAX_PLANTS)
        return DT_ELIMIT;
    dt__plant *p = &ps->p[ps->n++];
    memset(p, 0, sizeof *p);
    (void)snprintf(p->name, sizeof p->name, "%s", name);
    p->ops = ops;
    p->self = self;
    return DT_OK;
}

typedef struct inflight {
    dt_time arrive;
    dt_sample s;
} inflight;

typedef struct simsrc {
    dt_source_ctx *ctx;
    dt__plant *plant;
    dt_allocator alloc;
    const dt_mapping *map[DT__PLANT_IO]; /* per plant output, NULL if unmapped */
    double step, period, noise, latency, jitter, offset, skew, dropout;
    double burst_every, burst_length;
    uint64_t rng;
    double next_sample;
    inflight *fl;
    size_t nfl;
    int started;
} simsrc;

static const char *const simsrc_keys[] = {"plant", "step",   "rate",    "seed",   "noise",
                                          "latency", "jitter", "offset", "skew",   "dropout",
                                          "burst_every", "burst_length", NULL};

static double uniform(uint64_t *s) /* xorshift64*, (0, 1) */
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return ((double)((*s * 2685821657736338717ull) >> 11) + 0.5) * 0x1.0p-53;
}

static double gauss(uint64_t *s)
{
    double u = uniform(s), v = uniform(s);
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

static int num(const dt_config *cfg, const char *key, double *out, double lo, double hi,
               dt_source_ctx *ctx)
{
    const dt_config *v = dt_config_get(cfg, key);
    if (v == NULL)
        return DT_OK;
    if (dt_config_number(v, out) != DT_OK || !(*out >= lo && *out <= hi)) {
        dt_source_error(ctx, "%s: a number in [%g, %g]", key, lo, hi);
        return DT_EINVAL;
    }
    return DT_OK;
}

static void simsrc_close(void *self)
{
    simsrc *s = self;
    dt__free(&s->alloc, s->fl);
    s->fl = NULL;
    if (s->plant != NULL)
        s->plant->stepped = 0;
}

static int simsrc_open(void *self, dt_source_ctx *ctx, const dt_config *cfg)
{
    simsrc *s = self;
    s->ctx = ctx;
    s->alloc = *dt_source_allocator(ctx);
    const char *name;
    if (dt_config_string(dt_config_get(cfg, "plant"), &name) != DT_OK) {
        dt_source_error(ctx, "plant: required name of a registered plant");
        return DT_EINVAL;
    }
    s->plant = find_plant(dt_source_kind_ctx(ctx), name);
    if (s->plant == NULL) {
        dt_source_error(ctx, "plant: no plant \"%s\" is registered (dt_registry_add_plant)",
                        name);
        return DT_ENOTFOUND;
    }
    if (s->plant->stepped) {
        dt_source_error(ctx, "plant: \"%s\" is already driven by another sim source", name);
        return DT_EINVAL;
    }
    double rate = 0, seed = 1;
    s->step = 0.001;
    int rc = DT_OK;
    if (dt_config_get(cfg, "rate") == NULL) {
        dt_source_error(ctx, "rate: required sensor rate in Hz");
        return DT_EINVAL;
    }
    rc |= num(cfg, "rate", &rate, 1e-3, 1e6, ctx);
    rc |= num(cfg, "step", &s->step, 1e-6, 10, ctx);
    rc |= num(cfg, "seed", &seed, 1, 4294967295.0, ctx);
    rc |= num(cfg, "noise", &s->noise, 0, 1e12, ctx);
    rc |= num(cfg, "latency", &s->latency, 0, 3600, ctx);
    rc |= num(cfg, "jitter", &s->jitter, 0, 3600, ctx);
    rc |= num(cfg, "offset", &s->offset, -1e9, 1e9, ctx);
    rc |= num(cfg, "skew", &s->skew, -0.01, 0.01, ctx);
    rc |= num(cfg, "dropout", &s->dropout, 0, 1, ctx);
    rc |= num(cfg, "burst_every", &s->burst_every, 0, 1e9, ctx);
    rc |= num(cfg, "burst_length", &s->burst_length, 0, 1e9, ctx);
    if (rc != DT_OK)
        return DT_EINVAL;
    s->period = 1.0 / rate;
    s->rng = (uint64_t)seed * 0x9E3779B97F4A7C15ull + 1;
    const dt_plant_ops *ops = s->plant->ops;
    for (size_t i = 0; i < dt_source_mapping_count(ctx); i++) {
        const dt_mapping *m = dt_source_mapping(ctx, i);
        size_t k = 0;
        while (k < ops->n_outputs && (m->native == NULL || strcmp(ops->outputs[k], m->native) != 0))
            k++;
        if (k == ops->n_outputs) {
            dt_source_error(ctx, "mapping[%zu].native: \"%s\" is not an output of plant \"%s\"",
                            i, m->native ? m->native : "(channel)", name);
            return DT_EINVAL;
        }
        s->map[k] = m;
    }
    s->fl = dt__calloc(&s->alloc, FLIGHT, sizeof *s->fl);
    if (s->fl == NULL) {
        dt_source_error(ctx, "out of memory");
        return DT_ENOMEM;
    }
    /* A plant is at rest when a twin takes it: the inputs and outputs a
     * destroyed twin of the same registry left are not this twin's (the
     * host resets its own state, ops' self; it cannot reset these). */
    memset(s->plant->u, 0, sizeof s->plant->u);
    memset(s->plant->y, 0, sizeof s->plant->y);
    s->plant->t = 0;
    s->plant->stepped = 1;
    return DT_OK;
}

static int in_burst(const simsrc *s, double t)
{
    return s->burst_every > 0 && fmod(t, s->burst_every) < s->burst_length;
}

/* one reading of every mapped output at plant time t */
static void sample(simsrc *s, double t)
{
    const dt_plant_ops *ops = s->plant->ops;
    for (size_t k = 0; k < ops->n_outputs; k++) {
        if (s->map[k] == NULL)
            continue;
        double noise = s->noise > 0 ? s->noise * gauss(&s->rng) : 0;
        double delay = s->latency + (s->jitter > 0 ? -s->jitter * log(uniform(&s->rng)) : 0);
        if ((s->dropout > 0 && uniform(&s->rng) < s->dropout) || in_burst(s, t)) {
            dt_source_count(s->ctx, DT_EV_LOST, 1); /* known lost: counted, never silent */
            continue;
        }
        if (s->nfl == FLIGHT) {
            dt_source_count(s->ctx, DT_EV_LOST, 1);
            continue;
        }
        dt_sample smp;
        smp.signal = s->map[k]->signal;
        smp.flags = 0;
        /* the sensor's clock: offset and skew against true time */
        smp.t_source = dt_time_from_sec(t * (1 + s->skew) + s->offset);
        smp.value = (s->plant->y[k] + noise) * s->map[k]->scale + s->map[k]->offset;
        smp.variance = 0;
        dt_time arrive = dt_time_from_sec(t + delay);
        smp.t_arrival = arrive;
        /* keep the in-flight list sorted by arrival */
        size_t pos = s->nfl;
        while (pos > 0 && s->fl[pos - 1].arrive > arrive) {
            s->fl[pos] = s->fl[pos - 1];
            pos--;
        }
        s->fl[pos] = (inflight){arrive, smp};
        s->nfl++;
    }
}

static int simsrc_poll(void *self, dt_time now)
{
    simsrc *s = self;
    dt__plant *p = s->plant;
    double tnow = dt_time_to_sec(now);
    if (!s->started) {
        s->started = 1;
        p->t = tnow;
        s->next_sample = tnow;
        int rc = p->ops->step(p->self, p->t, 0, p->u, p->y); /* outputs at t0 */
        if (rc != DT_OK)
            return rc;
    }
    while (p->t + s->step <= tnow + 1e-12) {
        int rc = p->ops->step(p->self, p->t, s->step, p->u, p->y);
        if (rc != DT_OK)
            return rc;
        p->t += s->step;
        while (s->next_sample <= p->t + 1e-12) {
            sample(s, p->t); /* the value belongs to the plant time */
            s->next_sample += s->period;
        }
    }
    size_t sent = 0;
    while (sent < s->nfl && s->fl[sent].arrive <= now) {
        (void)dt_source_push(s->ctx, &s->fl[sent].s);
        sent++;
    }
    if (sent > 0) {
        memmove(s->fl, s->fl + sent, (s->nfl - sent) * sizeof *s->fl);
        s->nfl -= sent;
    }
    return DT_OK;
}

/* What open checks (the plant, its outputs, the numbers), on an instance
 * closed again at once: the plant is left as it was. */
static int simsrc_validate(dt_source_ctx *ctx, const dt_config *cfg)
{
    simsrc *s = dt__calloc(dt_source_allocator(ctx), 1, sizeof *s);
    if (s == NULL)
        return DT_ENOMEM;
    int rc = simsrc_open(s, ctx, cfg);
    if (rc == DT_OK) {
        /* open claims the plant in the registry; validating, the twin does */
        if (dt__source_claim(ctx, s->plant) != DT_OK) {
            dt_source_error(ctx, "plant: \"%s\" is already driven by another sim source",
                            s->plant->name);
            rc = DT_EINVAL;
        }
        simsrc_close(s);
    }
    dt__free(dt_source_allocator(ctx), s);
    return rc;
}

static const dt_source_ops sim_source_ops = {
    .abi = DT_SOURCE_ABI,
    .kind = "sim",
    .instance_size = sizeof(simsrc),
    .keys = simsrc_keys,
    .open = simsrc_open,
    .poll = simsrc_poll,
    .close = simsrc_close,
    .validate = simsrc_validate,
};

/* ---- sink: commands become plant inputs ---- */

typedef struct simsink {
    dt__plant *plant;
    int input[DT__PLANT_IO]; /* per mapping entry: plant input index */
    size_t n;
    const dt_mapping *maps;
} simsink;

static const char *const simsink_keys[] = {"plant", NULL};

static int simsink_open(void *self, dt_sink_ctx *ctx, const dt_config *cfg)
{
    simsink *s = self;
    const char *name;
    if (dt_config_string(dt_config_get(cfg, "plant"), &name) != DT_OK) {
        dt_sink_error(ctx, "plant: required name of a registered plant");
        return DT_EINVAL;
    }
    s->plant = find_plant(dt_sink_kind_ctx(ctx), name);
    if (s->plant == NULL) {
        dt_sink_error(ctx, "plant: no plant \"%s\" is registered (dt_registry_add_plant)", name);
        return DT_ENOTFOUND;
    }
    const dt_plant_ops *ops = s->plant->ops;
    for (size_t i = 0; i < dt_sink_mapping_count(ctx) && i < DT__PLANT_IO; i++) {
        const dt_mapping *m = dt_sink_mapping(ctx, i);
        size_t k = 0;
        while (k < ops->n_inputs && (m->native == NULL || strcmp(ops->inputs[k], m->native) != 0))
            k++;
        if (k == ops->n_inputs) {
            dt_sink_error(ctx, "mapping[%zu].native: \"%s\" is not an input of plant \"%s\"", i,
                          m->native ? m->native : "(channel)", name);
            return DT_EINVAL;
        }
        s->input[i] = (int)k;
    }
    s->n = dt_sink_mapping_count(ctx);
    s->maps = dt_sink_mapping(ctx, 0);
    return DT_OK;
}

static int simsink_apply(void *self, const dt_command *cmd, const dt_mapping *map)
{
    simsink *s = self;
    size_t i = (size_t)(map - s->maps);
    if (i >= s->n)
        return DT_EINVAL;
    s->plant->u[s->input[i]] = cmd->value * map->scale + map->offset;
    return DT_OK;
}

/* open has no effect outside its instance: validating is opening a copy. */
static int simsink_validate(dt_sink_ctx *ctx, const dt_config *cfg)
{
    simsink s;
    memset(&s, 0, sizeof s);
    return simsink_open(&s, ctx, cfg);
}

static const dt_sink_ops sim_sink_ops = {
    .abi = DT_SINK_ABI,
    .kind = "sim",
    .instance_size = sizeof(simsink),
    .keys = simsink_keys,
    .open = simsink_open,
    .apply = simsink_apply,
    .validate = simsink_validate,
};

int dt__sim_register(dt_registry *r); /* called by builtins.c */

static void free_plants(void *arg, const dt_allocator *alloc) { dt__free(alloc, arg); }

/* Registers the "sim" kinds with a plant set the registry owns. */
int dt__sim_register(dt_registry *r)
{
    plantset *ps = dt__calloc(dt__registry_allocator(r), 1, sizeof *ps);
    if (ps == NULL)
        return DT_ENOMEM;
    int rc = dt__registry_on_destroy(r, free_plants, ps);
    if (rc != DT_OK) {
        free_plants(ps, dt__registry_allocator(r));
        return rc;
    }
    rc = dt_registry_add_source_kind(r, &sim_source_ops, ps);
    return rc == DT_OK ? dt_registry_add_sink_kind(r, &sim_sink_ops, ps) : rc;
}
