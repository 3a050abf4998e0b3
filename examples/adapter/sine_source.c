/* A complete source adapter: a sine "sensor" of kind "sine", configured by the
 * description, registered by name, read through the pipeline (docs/adapters.md). */
#include <math.h>
#include <stdio.h>
#include <dtwin/dtwin.h>

typedef struct sine {              /* per-instance state, allocated by dtwin */
    dt_source_ctx *ctx;
    const dt_mapping *out;         /* where the values go */
    double amplitude, hz;
    dt_time period, next;
} sine;

static const char *const sine_keys[] = {"amplitude", "frequency", "rate", NULL};

static int sine_open(void *self, dt_source_ctx *ctx, const dt_config *cfg)
{
    sine *s = self;
    double rate = 100;
    *s = (sine){.ctx = ctx, .amplitude = 1, .hz = 1};
    dt_config_number(dt_config_get(cfg, "amplitude"), &s->amplitude);
    dt_config_number(dt_config_get(cfg, "frequency"), &s->hz);
    dt_config_number(dt_config_get(cfg, "rate"), &rate);
    if (!(rate > 0 && rate <= 1e6) || !(s->hz >= 0)) {
        dt_source_error(ctx, "rate must be in (0, 1e6] Hz and frequency >= 0");
        return DT_EINVAL;
    }
    if ((s->out = dt_source_map_name(ctx, "y")) == NULL) { /* native name "y" */
        dt_source_error(ctx, "mapping: map the native value \"y\" to a signal");
        return DT_EINVAL;
    }
    s->period = dt_time_from_sec(1.0 / rate);
    return DT_OK;
}

static int sine_poll(void *self, dt_time now) /* twin thread; never blocks */
{
    sine *s = self;
    for (; s->next <= now; s->next += s->period) {
        double y = s->amplitude * sin(6.283185307179586 * s->hz * dt_time_to_sec(s->next));
        dt_source_emit(s->ctx, s->out, s->next, now, y); /* converts the unit */
    }
    return DT_OK;
}

static const dt_source_ops sine_ops = {
    .abi = DT_SOURCE_ABI,
    .kind = "sine",
    .instance_size = sizeof(sine),
    .keys = sine_keys,
    .open = sine_open,
    .poll = sine_poll,
};

int main(int argc, char **argv)
{
    dt_model *m;
    dt_registry *reg;
    dt_ingest *ing;
    dt_io *io = NULL;
    dt_diag d;
    if (argc < 2 || dt_model_load_file(argv[1], NULL, &m, &d) != DT_OK)
        return fprintf(stderr, "%s\n", argc < 2 ? "usage: sine_source twin.json" : d.message), 1;
    dt_registry_create(NULL, &reg);
    dt_registry_add_source(reg, &sine_ops);
    dt_ingest_create(m, NULL, &ing);
    if (dt_io_create(m, ing, reg, NULL, NULL, NULL, &io, &d) != DT_OK)
        return fprintf(stderr, "%s\n", d.message), 1;
    dt_ingest_start(ing, 0);
    size_t n = 0, k;
    dt_sample out[64], last = {0};
    for (dt_time now = 0; now <= DT_NS_PER_S; now += 10 * DT_NS_PER_MS) {
        dt_io_poll(io, now);
        dt_ingest_poll(ing, now);
        for (; (k = dt_ingest_release(ing, out, 64)) > 0; n += k)
            last = out[k - 1];
    }
    printf("released %zu samples; at t = %.2f s %s = %.4f V\n", n,
           dt_time_to_sec(last.t_source), dt_model_signal(m, last.signal)->id, last.value);
    dt_io_destroy(io), dt_ingest_destroy(ing), dt_registry_destroy(reg), dt_model_destroy(m);
    return 0;
}
