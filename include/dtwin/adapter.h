/** @file
 * dtwin: sensor and actuator adapters. */
#ifndef DTWIN_ADAPTER_H
#define DTWIN_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

#include "dtwin/alloc.h"
#include "dtwin/export.h"
#include "dtwin/fusion.h"
#include "dtwin/ingest.h"
#include "dtwin/keys.h"
#include "dtwin/log.h"
#include "dtwin/model.h"
#include "dtwin/sample.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Versions of the plug-in tables, one number per kind of table. Tables
 *  only grow by appending members, and a new member bumps its kind's number.
 *  A table declares in `abi` the version it was written against: the
 *  library accepts every version from DT_ADAPTER_ABI_MIN to its own and
 *  treats the members a declared version does not have as absent (NULL). A
 *  table declaring a newer version than the library's is refused with
 *  DT_EABI (it may rely on members this library would never call).
 *  Sources: 2 added validate, counters and progress; 3 the loop hooks. The
 *  analytics tables' number, DT_ANALYTICS_ABI, is in estimator.h. */
#define DT_SOURCE_ABI 3u
/** The version of dt_sink_ops: 2 added validate and counters; 3 poll and the
 *  loop hooks. */
#define DT_SINK_ABI 3u
/** The version of dt_controller_ops. */
#define DT_CONTROLLER_ABI 1u
/** The version of dt_plant_ops. */
#define DT_PLANT_ABI 1u
/** The first version of every table, which every kind still accepts. Tables
 *  written before the per-kind numbers declare it. */
#define DT_ADAPTER_ABI 1u
/** The oldest table version still accepted, for every kind. */
#define DT_ADAPTER_ABI_MIN 1u

/** A file descriptor an adapter wants watched by the host's loop (version 3
 *  of the tables): `events` are DT_WATCH_READ and/or DT_WATCH_WRITE. `gen`
 *  changes when the adapter replaces the descriptor's object (a reconnect
 *  that gets the same number back), so that a loop registers it afresh. */
typedef struct dt_watch {
    int fd;          /**< the descriptor */
    unsigned events; /**< DT_WATCH_READ | DT_WATCH_WRITE */
    uint32_t gen;    /**< changes when fd names a new object */
} dt_watch;
/** Call ready() when the descriptor is readable. */
#define DT_WATCH_READ 1u
/** Call ready() when the descriptor is writable. */
#define DT_WATCH_WRITE 2u

/** One named counter of an adapter (for reports, e.g. `dtwin run --json`). */
typedef struct dt_counter {
    const char *name; /**< static, a snake_case identifier */
    uint64_t value;   /**< the count */
} dt_counter;

/** A read-only view of one JSON value of the description (an adapter's own
 *  object and what is inside it). Valid during open() only. */
typedef struct dt_config dt_config;

/** Member `key` of an object, NULL if absent or not an object. */
DT_API const dt_config *dt_config_get(const dt_config *c, const char *key);
/** Element i of an array, NULL if out of range or not an array. */
DT_API const dt_config *dt_config_at(const dt_config *c, size_t i);
/** Number of elements of an array or members of an object; 0 otherwise. */
DT_API size_t dt_config_len(const dt_config *c);
/** The string value (owned by the description, valid during open()).
 *  @retval DT_EPARSE not a string. @retval DT_ENOTFOUND c is NULL. */
DT_API int dt_config_string(const dt_config *c, const char **out);
/** The number value (finite).
 *  @retval DT_EPARSE not a finite number. @retval DT_ENOTFOUND c is NULL. */
DT_API int dt_config_number(const dt_config *c, double *out);
/** The boolean value (1 or 0).
 *  @retval DT_EPARSE not a boolean. @retval DT_ENOTFOUND c is NULL. */
DT_API int dt_config_bool(const dt_config *c, int *out);

/** What an adapter's open() gets: its mapping, its ring, its counters. */
typedef struct dt_source_ctx dt_source_ctx;
/** What a sink adapter's open() gets: its mapping and its counters. */
typedef struct dt_sink_ctx dt_sink_ctx;

/** One mapping entry: native name (or channel) -> canonical signal, with the
 *  conversion value_canonical = value_native * scale + offset (the unit
 *  conversion composed with any extra scale/offset the description gives). */
typedef struct dt_mapping {
    dt_signal_id signal; /**< the canonical signal */
    double scale;        /**< value_canonical = value_native * scale + offset */
    double offset;       /**< see scale */
    const char *native; /**< the native name, or NULL when given by channel */
    int64_t channel;    /**< the native channel number, or -1 */
} dt_mapping;

/** A source adapter. The core allocates instance_size bytes (zeroed) for each
 *  instance and passes them as `self`. open and close run at start-up and
 *  shutdown; poll runs on the twin's thread each cycle, must not block, and
 *  pushes what is available (an adapter with its own producer thread pushes
 *  from there instead, and its poll may be NULL). */
typedef struct dt_source_ops {
    uint32_t abi;                /**< DT_SOURCE_ABI: the version written against */
    const char *kind;            /**< name used in the description's "kind" */
    size_t instance_size;        /**< bytes of state per instance (may be 0) */
    const char *const *keys;     /**< adapter-specific keys it accepts, NULL-terminated
                                      (any other key is an error); may be NULL */
    /** Reads cfg (the source's object) and prepares; 0 or a negative DT_E*
     *  with dt_source_error explaining it. */
    int (*open)(void *self, dt_source_ctx *ctx, const dt_config *cfg);
    int (*poll)(void *self, dt_time now); /**< may be NULL */
    void (*close)(void *self);            /**< may be NULL */
    /* end of ABI 1 */
    /** Checks cfg as open() would, without acquiring anything that lasts (it
     *  may read a file's header; it binds no socket): called instead of open
     *  when a twin is loaded to be checked (dt_twin_options.validate, `dtwin
     *  check`). 0 or a negative DT_E* with dt_source_error. NULL: nothing
     *  to validate beyond the keys. */
    int (*validate)(dt_source_ctx *ctx, const dt_config *cfg);
    /** Writes up to max of the adapter's own counters into out and returns how
     *  many it has (twin's thread). NULL: none. */
    size_t (*counters)(const void *self, dt_counter *out, size_t max);
    /** The share of a finite data set read so far, 0..1; negative when not
     *  known (twin's thread). NULL: not known. */
    double (*progress)(const void *self);
    /* end of version 2 */
    /** Loop hooks, all optional and all on the twin's thread. With a host loop
     *  attached (the libuv driver, or a host's own through dt_io_watches), the
     *  adapter is called when its descriptors are ready and when it asked to
     *  be woken, between steps; poll still runs every cycle, so an adapter
     *  works without any loop. watches: writes up to max descriptors it
     *  wants watched now, returns how many it has (asked again after every
     *  call into the adapter). */
    size_t (*watches)(const void *self, dt_watch *out, size_t max);
    /** A watched descriptor is ready (events: what is). now: the twin's time. */
    void (*ready)(void *self, int fd, unsigned events, dt_time now);
    /** When it next wants wake() (twin time); DT_TIME_MAX: no wish. */
    dt_time (*wake_at)(const void *self);
    /** The time asked by wake_at has come. */
    void (*wake)(void *self, dt_time now);
    /* end of version 3 */
} dt_source_ops;

/** An actuator adapter. apply runs on the twin's thread, must not block, and
 *  returns 0 when the command was handed on, a negative DT_E* otherwise. */
typedef struct dt_sink_ops {
    uint32_t abi;            /**< DT_SINK_ABI: the version written against */
    const char *kind;        /**< name used in the description's "kind" */
    size_t instance_size;    /**< bytes of state per instance (may be 0) */
    const char *const *keys; /**< adapter-specific keys, NULL-terminated; may be NULL */
    /** Reads cfg and prepares; 0 or a negative DT_E* with dt_sink_error. */
    int (*open)(void *self, dt_sink_ctx *ctx, const dt_config *cfg);
    /** Hands one command on (value converted by map); never blocks. */
    int (*apply)(void *self, const dt_command *cmd, const dt_mapping *map);
    void (*close)(void *self); /**< may be NULL */
    /* end of ABI 1 */
    /** As dt_source_ops.validate, with dt_sink_error. NULL: nothing to validate. */
    int (*validate)(dt_sink_ctx *ctx, const dt_config *cfg);
    /** As dt_source_ops.counters. NULL: none. */
    size_t (*counters)(const void *self, dt_counter *out, size_t max);
    /* end of version 2 */
    /** Runs every cycle before the commands of the cycle (twin's thread):
     *  an asynchronous sink reports what was applied (dt_sink_report). NULL:
     *  none. */
    int (*poll)(void *self, dt_time now);
    /** Loop hooks, as dt_source_ops. */
    size_t (*watches)(const void *self, dt_watch *out, size_t max);
    /** As dt_source_ops.ready. */
    void (*ready)(void *self, int fd, unsigned events, dt_time now);
    /** As dt_source_ops.wake_at. */
    dt_time (*wake_at)(const void *self);
    /** As dt_source_ops.wake. */
    void (*wake)(void *self, dt_time now);
    /* end of version 3 */
} dt_sink_ops;

/* ---- inside an adapter ---- */

/** Number of mapping entries of this adapter, and entry i. */
DT_API size_t dt_source_mapping_count(const dt_source_ctx *ctx);
/** Mapping entry i (NULL if out of range). */
DT_API const dt_mapping *dt_source_mapping(const dt_source_ctx *ctx, size_t i);
/** Mapping entry by native name; NULL if unmapped. */
DT_API const dt_mapping *dt_source_map_name(const dt_source_ctx *ctx, const char *native);
/** Mapping entry by channel number (binary search); NULL if unmapped. */
DT_API const dt_mapping *dt_source_map_channel(const dt_source_ctx *ctx, int64_t channel);
/** Converts a native value with a mapping and pushes it as a sample (t_source
 *  on the source clock; t_arrival 0 = stamped when drained). Producer side:
 *  callable from the adapter's own thread. Returns dt_ring_push's result. */
DT_API int dt_source_emit(dt_source_ctx *ctx, const dt_mapping *map, dt_time t_source,
                          dt_time t_arrival, double native_value);
/** Pushes a canonical sample as is.
 *  @retval 0 stored. @retval DT_EFULL the ring refused it (counted). */
DT_API int dt_source_push(dt_source_ctx *ctx, const dt_sample *s);

/** Adapter-level events, counted per source in dt_source_stats. */
typedef enum dt_source_event {
    DT_EV_MALFORMED = 0, /**< a record/row/frame that could not be decoded */
    DT_EV_LOST,          /**< records known lost (e.g. sequence gaps) */
    DT_EV_DUPLICATE,     /**< a record seen twice */
    DT_EV_REORDERED,     /**< a record older than one already seen */
    DT_EV_UNMAPPED,      /**< a native value with no mapping entry */
    DT_EV_END,           /**< a replay source reached the end of its data (once) */
    DT_EV_REFUSED,       /**< a well-formed record refused by the adapter's own rules
                              (e.g. a UDP frame outside the sequence window) */
    DT_EV__COUNT
} dt_source_event;
/** dt_source_reserve_beliefs: the source pushes no samples (only beliefs),
 *  so the merge never waits for it. */
#define DT_SOURCE_BELIEFS_ONLY 1u
/** Reserves the source's remote-belief slot (dtwin/fusion.h), in open():
 *  the twin then fuses what dt_source_offer_belief offers.
 *  @param ctx the source's context. @param flags 0 or DT_SOURCE_BELIEFS_ONLY.
 *  @retval DT_ENOMEM out of memory. @retval DT_EINVAL an unknown flag. */
DT_API int dt_source_reserve_beliefs(dt_source_ctx *ctx, unsigned flags);
/** Offers another twin's belief, to be fused in the twin's next Understand
 *  phase. The belief is copied. Its times (t, t_data, t_sent) are on the
 *  sender's clock: the source's clock observes t_sent (t when 0) with
 *  t_arrival and maps all three, as it maps its samples' times. From the
 *  twin's thread only (open, poll, ready, a link's callbacks). A newer
 *  belief replaces one not yet fused (counted superseded in the twin's
 *  stats).
 *  @param ctx the source's context. @param b the belief.
 *  @param t_arrival when it arrived, on the twin's time base.
 *  @retval DT_ESTATE no slot reserved.
 *  @retval DT_EINVAL sizes, a NULL pointer, an index past n.
 *  @retval DT_ESTALE the send time completed a clock step.
 *  @retval DT_ERANGE a time out of range, in the future, or out of order
 *  (t_data <= t <= t_sent); this and DT_ESTALE are counted in the twin's
 *  stats as beliefs_time_refused. */
DT_API int dt_source_offer_belief(dt_source_ctx *ctx, const dt_remote_belief *b,
                                  dt_time t_arrival);
/** Adds delta to an event count (producer side). A negative delta corrects an
 *  earlier count, e.g. a frame counted lost that arrives late after all. */
DT_API void dt_source_count(dt_source_ctx *ctx, dt_source_event ev, int64_t delta);
/** The current count of an event. */
DT_API uint64_t dt_source_event_count(const dt_source_ctx *ctx, dt_source_event ev);
/** Sets the message that explains a failing open() (path-prefixed by the core). */
DT_API void dt_source_error(dt_source_ctx *ctx, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/** Logs through the twin's logger. */
DT_API void dt_source_log(dt_source_ctx *ctx, dt_log_level level, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/** The source's "id" in the description. */
DT_API const char *dt_source_name(const dt_source_ctx *ctx);
/** The twin's allocator: adapters allocate through it, in open() only. */
DT_API const dt_allocator *dt_source_allocator(const dt_source_ctx *ctx);
/** The twin's model. */
DT_API const dt_model *dt_source_model(const dt_source_ctx *ctx);
/** Directory of the description file ("" when loaded from text): relative
 *  paths in a configuration are resolved against it. */
DT_API const char *dt_source_basedir(const dt_source_ctx *ctx);
/** Loads key `name` of `kind` from the twin's key store (dt_twin_options.keys,
 *  or the description's "keys" section), for open() or validate(); the
 *  adapter frees it with dt_key_free when it closes. On failure the reason is
 *  already the open's error message (dt_source_error), naming the key.
 *  @retval DT_ENOTFOUND no key store, or no such key. Other codes: dt_key_load's. */
DT_API int dt_source_key(dt_source_ctx *ctx, const char *name, dt_key_kind kind, dt_key **out);

/** Number of mapping entries of this sink. */
DT_API size_t dt_sink_mapping_count(const dt_sink_ctx *ctx);
/** Mapping entry i (NULL if out of range). */
DT_API const dt_mapping *dt_sink_mapping(const dt_sink_ctx *ctx, size_t i);
/** Sets the message that explains a failing open() (path-prefixed by the core). */
DT_API void dt_sink_error(dt_sink_ctx *ctx, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/** Logs through the twin's logger (as dt_source_log). */
DT_API void dt_sink_log(dt_sink_ctx *ctx, dt_log_level level, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/** The sink's "id" in the description. */
DT_API const char *dt_sink_name(const dt_sink_ctx *ctx);
/** The twin's allocator: adapters allocate through it, in open() only. */
DT_API const dt_allocator *dt_sink_allocator(const dt_sink_ctx *ctx);
/** The twin's model. */
DT_API const dt_model *dt_sink_model(const dt_sink_ctx *ctx);
/** Directory for relative paths (as dt_source_basedir). */
DT_API const char *dt_sink_basedir(const dt_sink_ctx *ctx);
/** Loads a key for a sink (as dt_source_key). */
DT_API int dt_sink_key(dt_sink_ctx *ctx, const char *name, dt_key_kind kind, dt_key **out);

/* ---- registry: adapter kinds by name ---- */

/** Adapter, controller and plant kinds by name (opaque). */
typedef struct dt_registry dt_registry;
/** A registry holding the built-in kinds (sources "memory", "csv", "udp",
 *  "sim"; sinks "memory", "csvlog", "udp", "sim"; controllers "pid",
 *  "state_feedback", "callback"). Start-up only.
 *  @param alloc NULL: default. @param out receives it (dt_registry_destroy;
 *  it must outlive the twins built with it). @retval DT_ENOMEM. */
DT_API int dt_registry_create(const dt_allocator *alloc, dt_registry **out);
/** Frees a registry. NULL: no-op. */
DT_API void dt_registry_destroy(dt_registry *reg);
/** Registers a source kind. The registry keeps a copy of the table (members
 *  beyond its declared abi read as NULL).
 *  @retval DT_EABI abi outside DT_ADAPTER_ABI_MIN..DT_SOURCE_ABI. @retval DT_EEXIST kind taken.
 *  @retval DT_EINVAL no kind, no open, or (sink) no apply. @retval DT_ELIMIT 64 kinds. */
DT_API int dt_registry_add_source(dt_registry *reg, const dt_source_ops *ops);
/** Registers a sink kind; as dt_registry_add_source (versions up to DT_SINK_ABI).
 *  @retval DT_EABI, DT_EEXIST, DT_EINVAL, DT_ELIMIT as dt_registry_add_source. */
DT_API int dt_registry_add_sink(dt_registry *reg, const dt_sink_ops *ops);
/** Registers a source kind with a context shared by all its instances (one
 *  broker connection for many sources, one plant simulator, a parent twin);
 *  instances read it with dt_source_kind_ctx. kind_ctx (may be NULL) must
 *  outlive the registry; the twin's thread uses it.
 *  @retval DT_EABI, DT_EEXIST, DT_EINVAL, DT_ELIMIT as dt_registry_add_source. */
DT_API int dt_registry_add_source_kind(dt_registry *reg, const dt_source_ops *ops,
                                       void *kind_ctx);
/** Registers a sink kind with a shared context; as dt_registry_add_source_kind.
 *  @retval DT_EABI, DT_EEXIST, DT_EINVAL, DT_ELIMIT as dt_registry_add_source. */
DT_API int dt_registry_add_sink_kind(dt_registry *reg, const dt_sink_ops *ops, void *kind_ctx);
/** The source kind registered under `kind`, or NULL. */
DT_API const dt_source_ops *dt_registry_source(const dt_registry *reg, const char *kind);
/** The sink kind registered under `kind`, or NULL. */
DT_API const dt_sink_ops *dt_registry_sink(const dt_registry *reg, const char *kind);
/** The context a source kind was registered with (NULL: none, or no such kind). */
DT_API void *dt_registry_source_ctx(const dt_registry *reg, const char *kind);
/** The context a sink kind was registered with (NULL: none, or no such kind). */
DT_API void *dt_registry_sink_ctx(const dt_registry *reg, const char *kind);
/** Inside an adapter: its kind's shared context (dt_registry_add_source_kind). */
DT_API void *dt_source_kind_ctx(const dt_source_ctx *ctx);
/** Inside a sink adapter: its kind's shared context. */
DT_API void *dt_sink_kind_ctx(const dt_sink_ctx *ctx);

/* ---- simulated plants (the "sim" source and sink) ---- */

/** A physical model for simulation: integrates its own state over dt with
 *  inputs u held constant and writes its outputs y (at the end of the step).
 *  The twin and the plant share nothing but samples and commands. */
typedef struct dt_plant_ops {
    uint32_t abi; /**< DT_PLANT_ABI */
    size_t n_inputs;            /**< 0..64 */
    size_t n_outputs;           /**< 1..64 */
    const char *const *inputs;  /**< native names of the inputs (n_inputs) */
    const char *const *outputs; /**< native names of the outputs (n_outputs) */
    /** Integrates from t over dt seconds with inputs u; writes outputs y.
     *  0, or a negative DT_E* (the source reports it from its poll). */
    int (*step)(void *self, double t, double dt, const double *u, double *y);
} dt_plant_ops;

/** Registers a plant instance under `name` for "sim" sources and sinks
 *  (at most 16 per registry; inputs and outputs at most 64 each). ops and self
 *  must outlive the twins using them; step runs on the twin's thread. The
 *  plants are the "sim" kind's shared context. A plant is at rest (inputs,
 *  outputs and time 0) when a sim source takes it, so a twin never starts
 *  from what an earlier twin of the registry left.
 *  @retval DT_ENOTFOUND the registry has no "sim" kind (built without it).
 *  @retval DT_EABI ops->abi outside DT_ADAPTER_ABI_MIN..DT_PLANT_ABI.
 *  @retval DT_EEXIST a plant of that name exists.
 *  @retval DT_ELIMIT 16 plants already. @retval DT_EINVAL NULL or bad counts. */
DT_API int dt_registry_add_plant(dt_registry *reg, const char *name, const dt_plant_ops *ops,
                                 void *self);

/* ---- the adapters of one twin ---- */

/** The adapters of one twin (opaque). */
typedef struct dt_io dt_io;
/** Instantiates the description's "sources" and "sinks" (see docs/adapters.md):
 *  adds each source to `ing` (which must not be started yet), opens every
 *  adapter. On failure everything opened is closed again and diag names the
 *  path, e.g. `sources[1].mapping[0].signal: unknown signal "x"`. Start-up only.
 *  @param model the model (must outlive io). @param ing the ingest stage.
 *  @param reg the kinds (NULL: built-ins).
 *  @param basedir directory for relative paths; NULL or "" for the current one.
 *  @param alloc NULL: default. @param logger NULL: stderr.
 *  @param out receives the adapters (dt_io_destroy). @param diag may be NULL.
 *  @retval DT_EPARSE a bad section (diag). @retval DT_ENOTFOUND an unknown kind.
 *  @retval DT_EIO an adapter could not open its file or socket. @retval DT_ENOMEM.
 *  @retval DT_EINVAL model, ing or out NULL. */
DT_API int dt_io_create(const dt_model *model, dt_ingest *ing, const dt_registry *reg,
                        const char *basedir, const dt_allocator *alloc,
                        const dt_logger *logger, dt_io **out, dt_diag *diag);
/** Closes every adapter. */
DT_API void dt_io_destroy(dt_io *io);
/** Polls every link (the bus connection), then every source, then every
 *  sink, that has a poll (twin's thread).
 *  Returns the first error a poll reported (all are polled regardless). */
DT_API int dt_io_poll(dt_io *io, dt_time now);
/** One descriptor the adapters of a twin want watched: the adapter is a
 *  source index, a sink index with DT_IO_SINK set, or a link (a connection
 *  the twin's adapters share, such as its MQTT broker's) with DT_IO_LINK. */
typedef struct dt_io_watch {
    int fd;           /**< the descriptor */
    unsigned events;  /**< DT_WATCH_READ | DT_WATCH_WRITE */
    uint32_t gen;     /**< changes when fd names a new object: register it afresh */
    uint32_t adapter; /**< source index, sink index | DT_IO_SINK, link | DT_IO_LINK */
} dt_io_watch;
/** Marks a sink in dt_io_watch.adapter. */
#define DT_IO_SINK 0x80000000u
/** Marks a link (a shared connection, such as the MQTT bus) in
 *  dt_io_watch.adapter. */
#define DT_IO_LINK 0x40000000u
/** For a host loop: the descriptors every opened adapter wants watched now
 *  (writes up to max, returns how many there are). Ask again after each
 *  dt_io_ready, dt_io_wake and step: adapters change them (a reconnect). */
DT_API size_t dt_io_watches(const dt_io *io, dt_io_watch *out, size_t max);
/** For a host loop: a watched descriptor of `adapter` is ready (twin's thread,
 *  between steps; now: the twin's time). Unknown adapters are ignored. */
DT_API void dt_io_ready(dt_io *io, uint32_t adapter, int fd, unsigned events, dt_time now);
/** For a host loop: the earliest time an adapter asked to be woken
 *  (DT_TIME_MAX: none). */
DT_API dt_time dt_io_wake_at(const dt_io *io);
/** For a host loop: wakes every adapter whose time has come. */
DT_API void dt_io_wake(dt_io *io, dt_time now);
/** Hands a command to every sink that maps its signal. Returns 0 if at least
 *  one sink took it, DT_ENOTFOUND if no sink maps the signal, DT_ESTATE if
 *  none of those was opened (a replay or check twin's), else the error of the
 *  last sink that failed. Counted per sink. DT_EPLANE once the twin's planes
 *  are taken (dt_twin_planes): a command then goes through the control plane
 *  and the dispatcher, even from a pointer kept from before. */
DT_API int dt_io_apply(dt_io *io, const dt_command *cmd);

/** Number of links: connections the twin's adapters share (the MQTT bus:
 *  one, named "mqtt", when the description has a bus section). */
DT_API size_t dt_io_link_count(const dt_io *io);
/** Name of link i (NULL out of range). */
DT_API const char *dt_io_link_name(const dt_io *io, size_t i);
/** Link i's counters (as dt_io_source_counters: writes up to max, returns
 *  how many it has; 0 out of range). For the bus: "mqtt.*" (the connection)
 *  and "bus.*" (what the twin published). */
DT_API size_t dt_io_link_counters(const dt_io *io, size_t i, dt_counter *out, size_t max);
/** Number of source adapters. */
DT_API size_t dt_io_source_count(const dt_io *io);
/** Number of sink adapters. */
DT_API size_t dt_io_sink_count(const dt_io *io);
/** Index of a source by its "id" in the description. @retval DT_ENOTFOUND. */
DT_API int dt_io_find_source(const dt_io *io, const char *id, size_t *index);
/** Index of a sink by its "id" in the description. @retval DT_ENOTFOUND. */
DT_API int dt_io_find_sink(const dt_io *io, const char *id, size_t *index);
/** The ingest source id of source adapter i. */
DT_API dt_source_id dt_io_source_ingest_id(const dt_io *io, size_t i);
/** The newest remote belief source i offered (a `twin` or `child` source),
 *  whether the twin fused it yet or not: what the peer last said, its times
 *  (t, t_data) on the twin's time base as the source's clock mapped them. For
 *  a host policy that depends on a peer belief's age (now - out->t_data),
 *  or a comparison with the latest value received. The view's arrays are
 *  the source's own copy: valid until the source offers the next belief
 *  (read it on the twin's thread, between steps or in a controller).
 *  @param io the adapters. @param i the source's index.
 *  @param out receives the view. @param arrival may be NULL; receives when it
 *  was offered (the twin's time base).
 *  @retval DT_EEMPTY none offered yet. @retval DT_EINVAL NULL, i out of range,
 *  or a source that offers no beliefs. */
DT_API int dt_io_source_belief(const dt_io *io, size_t i, dt_remote_belief *out,
                               dt_time *arrival);
/** The instance state of adapter i (for built-ins with a host API). */
DT_API void *dt_io_source_instance(dt_io *io, size_t i);
/** The instance state of sink adapter i. */
DT_API void *dt_io_sink_instance(dt_io *io, size_t i);
/** The context of source adapter i (for host code emitting into it). */
DT_API dt_source_ctx *dt_io_source_ctx(dt_io *io, size_t i);
/** The kind of source adapter i, NULL if out of range. */
DT_API const char *dt_io_source_kind(const dt_io *io, size_t i);
/** The kind of sink adapter i, NULL if out of range. */
DT_API const char *dt_io_sink_kind(const dt_io *io, size_t i);

/** One sink's counters: applied = accepted + errors. */
typedef struct dt_sink_stats {
    uint64_t applied; /**< commands handed to apply() */
    uint64_t errors;  /**< apply() returned an error */
} dt_sink_stats;
/** Counters of sink i. @retval DT_EINVAL out of range. */
DT_API int dt_io_sink_stats(const dt_io *io, size_t i, dt_sink_stats *out);
/** Adapter event counts of source i (DT_EV_*). */
DT_API uint64_t dt_io_source_events(const dt_io *io, size_t i, dt_source_event ev);
/** The "id" of source i in the description, NULL if out of range. */
DT_API const char *dt_io_source_id(const dt_io *io, size_t i);
/** The "id" of sink i in the description, NULL if out of range. */
DT_API const char *dt_io_sink_id(const dt_io *io, size_t i);
/** Source i's own counters (its counters member): writes up to max, returns
 *  how many it has; 0 for an adapter without them, or one not opened. */
DT_API size_t dt_io_source_counters(const dt_io *io, size_t i, dt_counter *out, size_t max);
/** Sink i's own counters, as dt_io_source_counters. */
DT_API size_t dt_io_sink_counters(const dt_io *io, size_t i, dt_counter *out, size_t max);
/** The share of its data source i has read, 0..1; negative when not known. */
DT_API double dt_io_source_progress(const dt_io *io, size_t i);

/** Actuation outcome: reports that command `seq` for commanded signal sig was
 *  applied, with the value read back (canonical unit) at time t. Called by
 *  sinks (dt_sink_report) or by the host; twin's thread.
 *  @retval DT_EINVAL not a commanded signal, seq 0, or a non-finite value. */
DT_API int dt_io_report(dt_io *io, dt_signal_id sig, uint64_t seq, double value, dt_time t);
/** dt_io_report() for a sink adapter that reads back what it applied.
 *  @retval DT_EINVAL as dt_io_report. */
DT_API int dt_sink_report(dt_sink_ctx *ctx, dt_signal_id sig, uint64_t seq, double value,
                          dt_time t);
/** The newest report for sig: @retval DT_EEMPTY none yet. */
DT_API int dt_io_reported(const dt_io *io, dt_signal_id sig, uint64_t *seq, double *value,
                          dt_time *t);

/* ---- built-in adapters' host APIs ---- */

/** memory source: push a native value by mapping name (or a signal id if the
 *  source has no mapping: name is then the signal id).
 *  @retval 0 pushed. @retval DT_ENOTFOUND no mapping for the name (counted as DT_EV_UNMAPPED). @retval DT_EFULL the ring refused it (counted). @retval DT_EINVAL not a memory source. */
DT_API int dt_memory_source_push(dt_io *io, size_t source_index, const char *native,
                                 dt_time t_source, double value);
/** memory sink: copies up to max received commands (oldest first, values in
 *  the mapping's native unit) into out, removing them; returns how many. The
 *  sink holds up to "capacity" commands (default 256); when full it refuses
 *  new ones with DT_EFULL, counted as errors in dt_io_sink_stats. */
DT_API size_t dt_memory_sink_read(dt_io *io, size_t sink_index, dt_command *out,
                                  size_t max);

/** csvlog sink: writes an estimate row (time, signal, mean, variance).
 *  @retval DT_EINVAL sink i is not a csvlog sink. @retval DT_EIO write failed. */
DT_API int dt_csvlog_estimate(dt_io *io, size_t sink_index, dt_time t, dt_signal_id signal,
                              double mean, double variance);

#ifdef __cplusplus
}
#endif
#endif
