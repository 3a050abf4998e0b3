/** @file
 * dtwin: the bus engine interface (docs/bus.md, "Engines").
 *
 * A twin with a "bus" section takes a place in the namespace
 * dt/v1/{realm}/{twin}/ and exchanges its state, contract, beliefs, sample
 * streams and commands there. The twin's bus layer speaks to the
 * distributed engine underneath only through a dt_bus_engine_ops table:
 * the built-in engine "mqtt" is libmosquitto against an MQTT broker; a host
 * registers another (DDS, Zenoh, a site's own message bus) with
 * dt_registry_add_bus_engine and names it in the description:
 * "bus": {"engine": "name", ...}.
 *
 * What the bus layer relies on from an engine, and nothing more:
 * - topics are strings of '/'-separated levels; a subscription filter may
 *   use '+' for one whole level and '#' as its last level for the rest
 *   (MQTT's wildcards; an engine without them expands the few filters the
 *   layer uses: ".../cmd/#" and exact topics);
 * - messages of one publisher on one topic arrive in order; nothing is
 *   assumed across topics;
 * - DT_BUS_BEST_EFFORT may lose messages (the layer counts the loss by
 *   sequence number); DT_BUS_RELIABLE delivers while the connection holds,
 *   possibly twice (the layer drops repeats by sequence number);
 * - a retained message is kept per topic and delivered to a later
 *   subscriber, flagged so (message_retained); it may be stale or only
 *   eventually consistent: the layer takes it as a hint, never as data;
 * - a will is published by the engine when the connection is lost without
 *   a clean close (a broker's last will);
 * - a publish while the connection is down fails (DT_ESTATE) and is never
 *   queued to be sent late.
 *
 * Everything runs on the twin's thread: the engine is driven by the same
 * loop hooks as an adapter (poll, watches, ready, wake_at, wake), never by
 * a thread of its own that calls back. */
#ifndef DTWIN_BUS_H
#define DTWIN_BUS_H

#include <stddef.h>
#include <stdint.h>

#include "dtwin/adapter.h"
#include "dtwin/export.h"
#include "dtwin/time.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Version of dt_bus_engine_ops this library reads (the table's first member). */
#define DT_BUS_ENGINE_ABI 1u

/** How a message must travel. */
typedef enum dt_bus_delivery {
    DT_BUS_BEST_EFFORT = 0, /**< may be lost (MQTT QoS 0): samples, beliefs */
    DT_BUS_RELIABLE = 1     /**< at least once while connected (QoS 1): state, contract, commands, acks */
} dt_bus_delivery;

/** A received message: its topic, its bytes (not NUL-terminated; valid for
 *  the call), the twin's time it was read. */
typedef void (*dt_bus_message_fn)(void *user, const char *topic, const uint8_t *payload,
                                  size_t len, dt_time now);
/** The connection came up (up 1) or went down (0). */
typedef void (*dt_bus_state_fn)(void *user, int up, dt_time now);

/** What an engine is opened with. */
typedef struct dt_bus_engine_env {
    const dt_allocator *alloc; /**< the twin's: allocate in open only */
    const dt_logger *log;      /**< the twin's logger */
    const char *realm;   /**< the twin's realm on the bus */
    const char *twin;    /**< the twin's name on the bus */
    const char *basedir; /**< the description's directory, for relative paths */
} dt_bus_engine_env;

/** An engine. Every member is required unless it says otherwise. */
typedef struct dt_bus_engine_ops {
    uint32_t abi;     /**< DT_BUS_ENGINE_ABI */
    const char *name; /**< the description's "engine" ("mqtt" is built in) */
    /** The engine's own keys in the "bus" section (NULL-terminated), which
     *  the bus layer lets through its key check. */
    const char *const *keys;
    /** Checks the engine's settings in the "bus" section `bus` (errors name
     *  the JSON path, "bus.{key}") and, when self is not NULL, creates the
     *  engine without connecting: the first connect is attempted at the
     *  first poll. With self NULL (dtwin check, a replay) nothing may
     *  connect or open a socket. */
    int (*open)(const dt_bus_engine_env *env, const dt_config *bus, void **self, dt_diag *diag);
    /** Closes the connection without a will and frees self. */
    void (*destroy)(void *self);
    /** Before the first poll: the will (DT_BUS_RELIABLE, retained) for the
     *  next connect. Called again from before_connect's callback. */
    int (*set_will)(void *self, const char *topic, const void *payload, size_t len);
    /** fn runs just before every connect attempt (one per engine). */
    void (*before_connect)(void *self, void (*fn)(void *user), void *user);
    /** fn runs on every connect and loss; at least 8 per engine. */
    int (*on_state)(void *self, dt_bus_state_fn fn, void *user);
    /** Subscribes for the connection's life (again after every reconnect);
     *  at least 64 per engine. @retval DT_ELIMIT no room. */
    int (*subscribe)(void *self, const char *filter, dt_bus_delivery d, dt_bus_message_fn fn,
                     void *user);
    /** Publishes now. @retval DT_ESTATE not connected (never queued).
     *  @retval DT_EINVAL refused (size, topic). */
    int (*publish)(void *self, const char *topic, const void *payload, size_t len,
                   dt_bus_delivery d, int retain);
    /** 1 while connected. */
    int (*connected)(const void *self);
    /** Inside a dt_bus_message_fn: 1 when the message is a retained copy,
     *  0 for a live one; 0 outside a callback. */
    int (*message_retained)(const void *self);
    /** The loop hooks, as an adapter's (dtwin/adapter.h): the engine calls
     *  its message and state callbacks from these (and from nothing else,
     *  not from inside publish or subscribe). poll: once a cycle, and when
     *  no loop watches the engine; returns 0 or a DT_E* status. */
    int (*poll)(void *self, dt_time now);
    /** The descriptors to watch now (may be NULL: an engine polled once a cycle). */
    size_t (*watches)(const void *self, dt_watch *out, size_t max);
    /** A watched descriptor is ready. */
    void (*ready)(void *self, int fd, unsigned events, dt_time now);
    /** When to be woken (DT_TIME_MAX: never; may be NULL). */
    dt_time (*wake_at)(const void *self);
    /** Woken at its time (may be NULL). */
    void (*wake)(void *self, dt_time now);
    /** The engine's counters (may be NULL); names stay valid for its life. */
    size_t (*counters)(const void *self, dt_counter *out, size_t max);
} dt_bus_engine_ops;

/** Registers a bus engine. The registry keeps a copy of the table.
 *  @retval DT_EABI abi other than DT_BUS_ENGINE_ABI. @retval DT_EEXIST name
 *  taken. @retval DT_EINVAL no name, or a required member NULL.
 *  @retval DT_ELIMIT 8 engines. */
DT_API int dt_registry_add_bus_engine(dt_registry *reg, const dt_bus_engine_ops *ops);
/** The engine registered under `name`, or NULL. */
DT_API const dt_bus_engine_ops *dt_registry_bus_engine(const dt_registry *reg, const char *name);

#ifdef __cplusplus
}
#endif

#endif
