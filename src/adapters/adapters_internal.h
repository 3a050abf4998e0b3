/* The adapter host's internal interface (not installed): what the host, the
 * registry and the built-in adapters share. It names no adapter. */
#ifndef DTWIN_SRC_ADAPTERS_INTERNAL_H
#define DTWIN_SRC_ADAPTERS_INTERNAL_H

#include "dtwin/adapter.h"
#include "dtwin/keys.h"

/* dt_io_create in a mode: open the adapters; or declare and map them (so
 * sources get their ingest ids) without ever opening, polling or applying
 * (replay); or that and run each one's validate slot (a twin built to be
 * checked). */
enum { DT__IO_OPEN = 0, DT__IO_REPLAY = 1, DT__IO_VALIDATE = 2 };
int dt__io_create(const dt_model *model, dt_ingest *ing, const dt_registry *reg,
                  const char *basedir, const dt_allocator *alloc, const dt_logger *logger,
                  dt_keystore *keys, int mode, dt_io **out, dt_diag *diag);
/* The key store the adapters load from (the host's or the "keys" section's;
 * NULL: none), for the twin's other users of keys. */
dt_keystore *dt__io_keystore(dt_io *io);

/* The table of adapter i (NULL out of range): a built-in's host API checks
 * that instance i is of its kind by comparing a function of the table. */
const dt_source_ops *dt__io_source_ops(const dt_io *io, size_t i);
const dt_sink_ops *dt__io_sink_ops(const dt_io *io, size_t i);

/* Claims `what` for this source among the adapters of one twin, for a
 * validate slot (it keeps no instance): DT_EEXIST when another source of
 * the twin claimed it already. */
int dt__source_claim(dt_source_ctx *ctx, const void *what);

/* Registered by builtins.c, the only file naming the built-in kinds; called
 * by dt_registry_create. */
int dt__register_builtins(dt_registry *reg);
/* "csv, memory, udp": the kinds of a role, for a message. */
const char *dt__registry_kinds(const dt_registry *reg, int sink, char *buf, size_t cap);
/* Runs fn(arg, allocator) when the registry is destroyed (a kind's shared
 * context the registry owns). @retval DT_ELIMIT 8 already. */
int dt__registry_on_destroy(dt_registry *reg, void (*fn)(void *arg, const dt_allocator *alloc),
                            void *arg);
const dt_allocator *dt__registry_allocator(const dt_registry *reg);

/* A counters slot's answer: copies up to max of the n counters c into out
 * and returns n (how many the adapter has). */
size_t dt__counters_copy(dt_counter *out, size_t max, const dt_counter *c, size_t n);

/* A link: a connection the io holds for its adapters and the twin (the MQTT
 * bus), shared by every source and sink that uses it. It is driven by the
 * same loop hooks as the adapters (its watches are reported with
 * DT_IO_LINK | index), polled before the sources, closed after the sinks. */
typedef struct dt__io_link_ops {
    int (*poll)(void *self, dt_time now);
    size_t (*watches)(const void *self, dt_watch *out, size_t max);
    void (*ready)(void *self, int fd, unsigned events, dt_time now);
    dt_time (*wake_at)(const void *self);
    void (*wake)(void *self, dt_time now);
    void (*destroy)(void *self); /* frees self */
    size_t (*counters)(const void *self, dt_counter *out, size_t max); /* may be NULL */
} dt__io_link_ops;
/* Most links per io. */
#define DT__IO_LINKS 4
/* Adds a link named `name` (a string that outlives the io); the io owns self
 * from now on (destroy), also on failure. @retval DT_ELIMIT @retval DT_EEXIST */
int dt__io_add_link(dt_io *io, const char *name, const dt__io_link_ops *ops, void *self);
/* The link named `name`, or NULL. */
void *dt__io_link(const dt_io *io, const char *name);
/* The first link with this table, or NULL. */
void *dt__io_link_by_ops(const dt_io *io, const dt__io_link_ops *ops);
/* The registry the io was built with (its kinds, the bus engines). */
const dt_registry *dt__io_registry(const dt_io *io);
/* The io's mode (DT__IO_*), its allocator, logger and directory: for a link
 * built while the io reads the description. */
int dt__io_mode(const dt_io *io);
const dt_allocator *dt__io_allocator(const dt_io *io);
const dt_logger *dt__io_logger(const dt_io *io);
const char *dt__io_basedir(const dt_io *io);
const dt_model *dt__io_model(const dt_io *io);
/* Whether the description declared the bus (set by its reader in every
 * mode: a checked or replayed twin has the section but no connection). */
void dt__io_declare_bus(dt_io *io);
int dt__io_bus_declared(const dt_io *io);
/* The twin's planes are taken: the public dt_io_apply refuses from now on
 * (a pointer kept from dt_twin_io would reach the sinks past the
 * dispatcher); the twin's own dispatch goes through dt__io_apply. */
void dt__io_partition(dt_io *io);
uint64_t dt__io_plane_refused(const dt_io *io);
int dt__io_apply(dt_io *io, const dt_command *cmd);
/* The io of an adapter's context. */
dt_io *dt__source_io(const dt_source_ctx *ctx);
dt_io *dt__sink_io(const dt_sink_ctx *ctx);

/* A remote belief's copy (the io's slots, a replay's records). */
typedef struct dt__belief_copy {
    size_t n, m;
    dt_time t, t_data, arrival; /* on the twin's base; arrival: when the source offered it */
    uint32_t source;    /* the io's source index (a replay's record) */
    dt_fuse_mode mode;
    double x[DT_REMOTE_STATES_MAX], P[DT_REMOTE_STATES_MAX * DT_REMOTE_STATES_MAX];
    double A[DT_REMOTE_STATES_MAX * DT_REMOTE_STATES_MAX];
    double Q[DT_REMOTE_STATES_MAX * DT_REMOTE_STATES_MAX];
    uint32_t index[DT_REMOTE_MAPPED_MAX], signal[DT_REMOTE_MAPPED_MAX];
    double scale[DT_REMOTE_MAPPED_MAX], offset[DT_REMOTE_MAPPED_MAX];
} dt__belief_copy;
/* b's sizes checked by the caller; t replaces b->t. */
void dt__belief_store(dt__belief_copy *s, const dt_remote_belief *b, dt_time t);
void dt__belief_view(const dt__belief_copy *s, dt_remote_belief *out);

/* host_belief.c: the sources that reserved a remote-belief slot; the next
 * pending belief from *cursor on (1, its source in *source, when it was
 * offered in *arrival, the view valid until that source offers again; 0:
 * none left); the counts over all. */
size_t dt__io_belief_sources(const dt_io *io);
int dt__io_take_belief(dt_io *io, size_t *cursor, size_t *source, dt_remote_belief *out,
                       dt_time *arrival);
void dt__io_belief_counts(const dt_io *io, uint64_t *offered, uint64_t *superseded,
                          uint64_t *refused_time);

/* builtins.c: the memory source's push and the memory sink's read without
 * naming the kind, for the twin's data plane (the twin's layer names no
 * adapter kind). As dt_memory_source_push and dt_memory_sink_read. */
int dt__io_push_native(dt_io *io, size_t source, const char *native, dt_time t_source,
                       double value);
size_t dt__io_sink_take(dt_io *io, size_t sink, dt_command *out, size_t max);

/* Joins basedir and a relative path into buf; absolute paths are copied. */
int dt__resolve_path(const char *basedir, const char *path, char *buf, size_t cap);

#endif
