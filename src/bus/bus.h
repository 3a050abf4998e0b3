/* The bus layer's entry points for the adapter host and the twin (not
 * installed). */
#ifndef DTWIN_SRC_BUS_BUS_H
#define DTWIN_SRC_BUS_BUS_H

#include "dtwin/adapter.h"
#include "dtwin/bus.h"
#include "dtwin/error.h"
#include "../adapters/adapters_internal.h"

/* Reads the description's "bus" section (NULL: none) into io: checks it
 * and, when the io opens its adapters, creates the broker connection as the
 * io's link named after its engine (connected at the first poll). */
int dt__bus_read(dt_io *io, const dt_config *sec, dt_diag *diag);

struct dt__mqtt;
struct dt__bus;
struct dt_twin;
/* The link's table (bus.c). */
extern const dt__io_link_ops dt__bus_link_ops;
/* Once the twin is built: resolves the belief groups against its
 * estimator, builds the contract, observes the twin's beliefs. */
int dt__bus_attach_io(dt_io *io, struct dt_twin *twin, dt_diag *diag);
/* The contract's JSON text of the io's bus (NULL: none). */
const char *dt__bus_contract_text(const dt_io *io);
int dt__bus_attach(struct dt__bus *b, struct dt_twin *twin, dt_diag *diag);
int dt__bus_start(struct dt__bus *b);
void dt__bus_destroy(struct dt__bus *b);
size_t dt__bus_counters(const struct dt__bus *b, dt_counter *out, size_t max);
/* The twin's broker connection, for the mqtt sources and sinks: NULL when
 * the description has no bus section, or the twin is only checked or
 * replayed (dt__io_bus_declared tells those apart). Valid for the io's
 * life; the adapters are closed before it. */
struct dt__mqtt *dt__bus_mqtt(const dt_io *io);
/* The twin's bus engine and its connection, for the bus's own adapters
 * (the twin source and sink). @retval DT_ENOTFOUND no bus section, or the
 * twin is only checked or replayed (no connection). */
int dt__bus_engine(const dt_io *io, const dt_bus_engine_ops **eng, void **self);
/* The twin's realm on the bus ("" without a bus section). */
const char *dt__bus_realm(const dt_io *io);
/* bus.c, for the twin sink: the epoch of the connection being made or up
 * (0 without a bus), the twin's name on the bus ("" without), its contract
 * version (0 before the twin is attached, or without beliefs and accept). */
uint32_t dt__bus_epoch(const dt_io *io);
const char *dt__bus_twin(const dt_io *io);
uint32_t dt__bus_contract_version(const dt_io *io);

#endif
