/* The adapter host's state (not installed), shared by its three files:
 * host.c (an io's life: create, destroy, polling, routing commands,
 * reports), host_ctx.c (what an adapter calls on its context) and
 * host_config.c (reading the description's "sources" and "sinks"). */
#ifndef DTWIN_SRC_ADAPTERS_HOST_INTERNAL_H
#define DTWIN_SRC_ADAPTERS_HOST_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "adapters_internal.h"
#include "dtwin/adapter.h"

/* ---- contexts ---- */

typedef struct mapset {
    dt_mapping *m;
    size_t n;
    size_t *by_channel; /* indices sorted by channel (channels only) */
    size_t n_channel;
} mapset;

struct dt_source_ctx {
    dt_io *io;
    char *id;
    const dt_source_ops *ops;
    void *kind_ctx; /* shared by the kind's instances (dt_registry_add_source_kind) */
    void *self;
    int opened;
    dt_source_id ing_id;
    dt_ring *ring;
    mapset maps;
    _Atomic uint64_t ev[DT_EV__COUNT];
    struct io_belief *bel; /* dt_source_reserve_beliefs: the latest belief offered */
};

struct dt_sink_ctx {
    dt_io *io;
    char *id;
    const dt_sink_ops *ops;
    void *kind_ctx;
    void *self;
    int opened;
    mapset maps;
    dt_sink_stats st;
};

struct dt_io {
    int mode; /* DT__IO_*: open the adapters, or only declare (and validate) them */
    const dt_registry *reg;
    dt_registry *own_reg; /* created for a NULL registry: the built-ins */
    dt_allocator alloc;
    dt_logger log;
    const dt_model *model;
    char *basedir;
    dt_source_ctx *src;
    dt_sink_ctx *snk;
    size_t n_src, n_snk;
    /* open() error text, copied into the caller's diag */
    char err[256];
    /* what validating adapters claimed exclusively (a plant driven by one
     * sim source): validate keeps no instance, so the io remembers for it */
    const void *claimed[16];
    size_t n_claimed;
    /* signal -> sinks that map it: per-signal list in one array */
    /* actuation outcome, per signal */
    uint64_t *rep_seq;
    double *rep_value;
    dt_time *rep_t;
    size_t *route_start; /* n_signals + 1 */
    size_t *route;       /* (sink index, mapping index) pairs */
    /* links (the bus): read before the adapters that use them */
    struct {
        const char *name;
        const dt__io_link_ops *ops;
        void *self;
    } link[DT__IO_LINKS];
    size_t n_link;
    int bus_declared; /* the description has a bus section (any mode) */
    int partitioned; /* the twin's planes are taken: dt_io_apply refuses (plane.c) */
    uint64_t plane_refused; /* dt_io_apply calls refused so (the planes' raw_refused) */
    dt_ingest *ing;   /* the sources' clocks (remote beliefs' times) */
    dt_keystore *keys; /* the adapters' keys: the host's, or the "keys" section's */
    int own_keys;      /* opened here from the "keys" section: closed with the io */
    size_t n_bel;     /* sources that reserved beliefs */
};

/* A build of an io from the description: what its readers share. */
typedef struct build {
    dt_io *io;
    dt_ingest *ing;
    const dt_registry *reg;
    dt_diag *diag;
} build;

/* host_config.c: reads "sources" and "sinks" (the sections the host
 * registered) into b->io, opening (or validating) each adapter. */
int dt__io_read(build *b);
void dt__io_free_maps(const dt_allocator *a, mapset *ms);

#endif
