/* The built-in kinds: the one place that names them. Each is compiled in by
 * its CMake option (DTWIN_ADAPTER_MEMORY, _CSV, _UDP, _SIM); the host, the
 * registry and the drivers know none of them. */
#include "../control/control_internal.h"
#include "adapters_internal.h"

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
    if (rc == DT_OK)
        rc = dt_registry_add_controller(r, &dt__pid_ops);
    if (rc == DT_OK)
        rc = dt_registry_add_controller(r, &dt__state_feedback_ops);
    if (rc == DT_OK)
        rc = dt_registry_add_controller(r, &dt__callback_ops);
    return rc;
}
