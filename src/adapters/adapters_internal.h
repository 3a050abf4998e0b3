/* Built-in adapter tables (not installed). */
#ifndef DTWIN_SRC_ADAPTERS_INTERNAL_H
#define DTWIN_SRC_ADAPTERS_INTERNAL_H

#include "dtwin/adapter.h"
#include "dtwin/udp.h"

extern const dt_source_ops dt__memory_source_ops;
extern const dt_sink_ops dt__memory_sink_ops;
extern const dt_source_ops dt__csv_source_ops;
extern const dt_sink_ops dt__csvlog_sink_ops;
extern const dt_source_ops dt__udp_source_ops;
extern const dt_sink_ops dt__udp_sink_ops;

/* memory adapters' host-side entry points, called by io.c */
int dt__memory_source_push(void *self, dt_source_ctx *ctx, const char *native,
                           dt_time t_source, double value);
size_t dt__memory_sink_read(void *self, dt_command *out, size_t max);
int dt__udp_source_stats(void *self, dt_udp_stats *out);
/* The UDP source's private loop, for embedding in a host loop: its backend
 * fd (readable when it has work) and one non-blocking turn. */
int dt__udp_source_backend_fd(void *self);
void dt__udp_source_turn(void *self);
int dt__csvlog_estimate(void *self, dt_time t, dt_signal_id sig, double mean, double var);

/* dt_io_create in a mode: open the adapters; or declare and map them (so
 * sources get their ingest ids) without ever opening, polling or applying
 * (replay); or that and run each one's validate slot (a twin built to be
 * checked). */
enum { DT__IO_OPEN = 0, DT__IO_REPLAY = 1, DT__IO_VALIDATE = 2 };
int dt__io_create(const dt_model *model, dt_ingest *ing, const dt_registry *reg,
                  const char *basedir, const dt_allocator *alloc, const dt_logger *logger,
                  int mode, dt_io **out, dt_diag *diag);

/* A registered plant and its run-time state, shared by its sim source (which
 * integrates it) and sim sink (which sets its inputs). */
#define DT__PLANT_IO 64
typedef struct dt__plant {
    char name[64];
    const dt_plant_ops *ops;
    void *self;
    double u[DT__PLANT_IO], y[DT__PLANT_IO];
    double t;    /* seconds, plant time */
    int stepped; /* a sim source drives it */
} dt__plant;

dt__plant *dt__registry_plant(const dt_registry *reg, const char *name);
/* Claims `what` for this source among the adapters of one twin, for a
 * validate slot (it keeps no instance): DT_EEXIST when another source of
 * the twin claimed it already. */
int dt__source_claim(dt_source_ctx *ctx, const void *what);
const dt_registry *dt__source_registry(const dt_source_ctx *ctx);
const dt_registry *dt__sink_registry(const dt_sink_ctx *ctx);
extern const dt_source_ops dt__sim_source_ops;
extern const dt_sink_ops dt__sim_sink_ops;

/* Joins basedir and a relative path into buf; absolute paths are copied. */
int dt__resolve_path(const char *basedir, const char *path, char *buf, size_t cap);

#endif
