/* The bus layer's entry points for the adapter host and the twin (not
 * installed). */
#ifndef DTWIN_SRC_BUS_BUS_H
#define DTWIN_SRC_BUS_BUS_H

#include "dtwin/adapter.h"
#include "dtwin/error.h"

/* The link name of the MQTT connection in an io. */
#define DT__BUS_MQTT "mqtt"

/* Reads the description's "bus" section (NULL: none) into io: checks it
 * and, when the io opens its adapters, creates the broker connection as the
 * io's link DT__BUS_MQTT (connected at the first poll). */
int dt__bus_read(dt_io *io, const dt_config *sec, dt_diag *diag);

struct dt__mqtt;
/* The twin's broker connection, for the mqtt sources and sinks: NULL when
 * the description has no bus section, or the twin is only checked or
 * replayed (dt__io_bus_declared tells those apart). Valid for the io's
 * life; the adapters are closed before it. */
struct dt__mqtt *dt__bus_mqtt(const dt_io *io);

#endif
