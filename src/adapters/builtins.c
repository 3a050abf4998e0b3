/* The built-in kinds: the one place that names them. Each is compiled in by
 * its CMake option (DTWIN_ADAPTER_MEMORY, _CSV, _UDP, _SIM, and the mqtt
 * kinds with the bus, DTWIN_WITH_MQTT); the host, the registry and the
 * drivers know none of them. */
#include "../control/control_internal.h"
#include "adapters_internal.h"
#include "dtwin/bus.h"
#include "dtwin/udp.h"

#ifdef DTWIN_ADAPTER_MEMORY
extern const dt_source_ops dt__memory_source_ops;
extern const dt_sink_ops dt__memory_sink_ops;
#endif
#ifdef DTWIN_ADAPTER_CSV
extern const dt_source_ops dt__csv_source_ops;
extern const dt_sink_ops dt__csvlog_sink_ops;
#endif
#ifdef DTWIN_ADAPTER_UDP
extern const dt_source_ops dt__udp_source_ops;
extern const dt_sink_ops dt__udp_sink_ops;
#endif
#ifdef DTWIN_ADAPTER_SIM
int dt__sim_register(dt_registry *reg);
#endif
extern const dt_source_ops dt__child_source_ops;
extern const dt_source_ops dt__twin_source_ops;
extern const dt_sink_ops dt__twin_sink_ops;
#ifdef DTWIN_WITH_MQTT
extern const dt_bus_engine_ops dt__mqtt_engine_ops;
extern const dt_source_ops dt__mqtt_source_ops;
extern const dt_sink_ops dt__mqtt_sink_ops;
#endif

int dt__io_push_native(dt_io *io, size_t source, const char *native, dt_time t_source,
                       double value)
{
    return dt_memory_source_push(io, source, native, t_source, value);
}

size_t dt__io_sink_take(dt_io *io, size_t sink, dt_command *out, size_t max)
{
    return dt_memory_sink_read(io, sink, out, max);
}

/* A kind left out of the build keeps its host API, which answers as for an
 * instance of another kind: the exported symbols do not depend on options. */
#ifndef DTWIN_ADAPTER_MEMORY
int dt_memory_source_push(dt_io *io, size_t i, const char *native, dt_time t_source,
                          double value)
{
    (void)io, (void)i, (void)native, (void)t_source, (void)value;
    return DT_EINVAL; /* no source is a memory source */
}

size_t dt_memory_sink_read(dt_io *io, size_t i, dt_command *out, size_t max)
{
    (void)io, (void)i, (void)out, (void)max;
    return 0;
}
#endif
#ifndef DTWIN_ADAPTER_CSV
int dt_csvlog_estimate(dt_io *io, size_t i, dt_time t, dt_signal_id sig, double mean,
                       double variance)
{
    (void)io, (void)i, (void)t, (void)sig, (void)mean, (void)variance;
    return DT_EINVAL;
}
#endif
#ifndef DTWIN_ADAPTER_UDP
int dt_udp_source_stats(const dt_io *io, size_t i, dt_udp_stats *out)
{
    (void)io, (void)i, (void)out;
    return DT_EINVAL;
}
#endif
#ifndef DTWIN_ADAPTER_SIM
int dt_registry_add_plant(dt_registry *r, const char *name, const dt_plant_ops *ops, void *self)
{
    (void)r, (void)name, (void)ops, (void)self;
    return DT_ENOTFOUND; /* no sim kind to drive a plant */
}
#endif

int dt__register_builtins(dt_registry *r)
{
    int rc = DT_OK;
#ifdef DTWIN_ADAPTER_MEMORY
    if (rc == DT_OK)
        rc = dt_registry_add_source(r, &dt__memory_source_ops);
    if (rc == DT_OK)
        rc = dt_registry_add_sink(r, &dt__memory_sink_ops);
#endif
#ifdef DTWIN_ADAPTER_CSV
    if (rc == DT_OK)
        rc = dt_registry_add_source(r, &dt__csv_source_ops);
    if (rc == DT_OK)
        rc = dt_registry_add_sink(r, &dt__csvlog_sink_ops);
#endif
#ifdef DTWIN_ADAPTER_UDP
    if (rc == DT_OK)
        rc = dt_registry_add_source(r, &dt__udp_source_ops);
    if (rc == DT_OK)
        rc = dt_registry_add_sink(r, &dt__udp_sink_ops);
#endif
#ifdef DTWIN_ADAPTER_SIM
    if (rc == DT_OK)
        rc = dt__sim_register(r); /* the plants are its kinds' shared context */
#endif
    /* a composite's children (the twin binds each one to its child) */
    if (rc == DT_OK)
        rc = dt_registry_add_source(r, &dt__child_source_ops);
    /* the bus's own kinds, on whichever engine the bus section names */
    if (rc == DT_OK)
        rc = dt_registry_add_source(r, &dt__twin_source_ops);
    if (rc == DT_OK)
        rc = dt_registry_add_sink(r, &dt__twin_sink_ops);
#ifdef DTWIN_WITH_MQTT
    if (rc == DT_OK)
        rc = dt_registry_add_bus_engine(r, &dt__mqtt_engine_ops);
    /* devices on the twin's broker connection (the bus section) */
    if (rc == DT_OK)
        rc = dt_registry_add_source(r, &dt__mqtt_source_ops);
    if (rc == DT_OK)
        rc = dt_registry_add_sink(r, &dt__mqtt_sink_ops);
#endif
    if (rc == DT_OK)
        rc = dt_registry_add_controller(r, &dt__pid_ops);
    if (rc == DT_OK)
        rc = dt_registry_add_controller(r, &dt__state_feedback_ops);
    if (rc == DT_OK)
        rc = dt_registry_add_controller(r, &dt__callback_ops);
    return rc;
}
