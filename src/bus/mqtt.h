/* The MQTT connection of a twin (not installed): libmosquitto in its
 * external-loop mode, driven by the twin's loop hooks, no library thread.
 * One per twin and broker, shared by the mqtt sources and sinks and the bus.
 * Everything runs on the twin's thread. */
#ifndef DTWIN_SRC_BUS_MQTT_H
#define DTWIN_SRC_BUS_MQTT_H

#include <stddef.h>
#include <stdint.h>

#include "dtwin/adapter.h"
#include "dtwin/bus.h"
#include "dtwin/log.h"
#include "dtwin/time.h"

/* What the description's "bus.broker" says (paths already resolved). */
typedef struct dt__mqtt_config {
    char host[256];      /* an IP literal, or a name libmosquitto resolves (blocking) */
    int port;            /* 1..65535 */
    int keepalive_s;     /* 5..3600 */
    char client_id[128]; /* MQTT 5 allows up to 65535 bytes; brokers often 23+ */
    char username[128];  /* "" none */
    char password[256];  /* read from password_file at load */
    int tls;             /* 0: "tls": "none" (loopback only) */
    char ca[512], cert[512], key[512];
    dt_time reconnect_min, reconnect_max; /* backoff bounds, ns */
} dt__mqtt_config;

typedef struct dt__mqtt dt__mqtt;

/* A received message: topic, payload bytes (not NUL-terminated), the twin's
 * time it was read. */
typedef dt_bus_message_fn dt__mqtt_message_fn;
/* Connection up (1) or down (0). */
typedef dt_bus_state_fn dt__mqtt_state_fn;
/* The broker's answer to a QoS 1 publish: mid, MQTT 5 reason code (0 and
 * 0x10 "no matching subscribers" are success). */
typedef void (*dt__mqtt_puback_fn)(void *user, int mid, int reason);

/* Counters of one connection (dt__mqtt_counters names them). */
typedef struct dt__mqtt_stats {
    uint64_t connects;         /* CONNACK success */
    uint64_t connect_refused;  /* CONNACK failure (credentials, not authorized) */
    uint64_t connect_errors;   /* a connect attempt that failed locally */
    uint64_t disconnects;      /* a connection lost or closed by the broker */
    uint64_t received;         /* messages delivered to a subscription */
    uint64_t unrouted;         /* messages no subscription matched */
    uint64_t published;        /* publishes handed to the connection */
    uint64_t not_connected;    /* publishes refused while down (never queued) */
    uint64_t publish_errors;   /* publishes libmosquitto refused (size, topic) */
    uint64_t denied;           /* QoS 1 PUBACK 0x87 not authorized */
    uint64_t puback_failed;    /* QoS 1 PUBACK with another failure reason */
    uint64_t subscribe_refused; /* SUBACK failure (an ACL) */
    uint64_t read_bursts_cut;  /* ready() stopped at its packet or byte budget */
} dt__mqtt_stats;

/* Creates the connection object (no I/O; the first connect is attempted at
 * the first poll). err gets a message on failure. */
int dt__mqtt_create(const dt_allocator *alloc, const dt_logger *log, const char *name,
                    const dt__mqtt_config *cfg, dt__mqtt **out, char *err, size_t errn);
void dt__mqtt_destroy(dt__mqtt *m);

/* Set before the first poll: the last will (QoS 1, retained or not). */
int dt__mqtt_set_will(dt__mqtt *m, const char *topic, const void *payload, size_t len,
                      int retain);
/* Subscribes to a filter for the connection's life (re-subscribed on every
 * connect). fn gets each matching message. @retval DT_ELIMIT 64 already. */
int dt__mqtt_subscribe(dt__mqtt *m, const char *filter, int qos, dt__mqtt_message_fn fn,
                       void *user);
/* Called just before every connect attempt (to set the will for the new
 * epoch); one. */
void dt__mqtt_before_connect(dt__mqtt *m, void (*fn)(void *user), void *user);
/* Called on every connect and loss. At most 8. */
int dt__mqtt_on_state(dt__mqtt *m, dt__mqtt_state_fn fn, void *user);
/* Publishes now (written at once when the socket takes it). QoS 1 answers
 * reach fn (may be NULL) with *mid. Refused while not connected (counted
 * not_connected; libmosquitto would queue a QoS 1 message and send it, stale,
 * after the next connect). @retval DT_ESTATE down @retval DT_EINVAL refused */
int dt__mqtt_publish(dt__mqtt *m, const char *topic, const void *payload, size_t len, int qos,
                     int retain, dt__mqtt_puback_fn fn, void *user, int *mid);

int dt__mqtt_connected(const dt__mqtt *m);
/* Inside a message callback: 1 when the message being delivered is a
 * retained one (the broker's stored last value, sent when a subscription is
 * made, so at every connect), 0 for a live publish (subscriptions are made
 * without retain-as-published, so a forwarded live message never has the
 * flag). 0 outside a callback. */
int dt__mqtt_message_retained(const dt__mqtt *m);
const dt__mqtt_stats *dt__mqtt_stats_get(const dt__mqtt *m);
/* The counters as dt_counter rows (names "mqtt.connects", ...). */
size_t dt__mqtt_counters(const dt__mqtt *m, dt_counter *out, size_t max);

/* The link's loop hooks (see dt__io_link_ops). */
int dt__mqtt_poll(void *self, dt_time now);
size_t dt__mqtt_watches(const void *self, dt_watch *out, size_t max);
void dt__mqtt_ready(void *self, int fd, unsigned events, dt_time now);
dt_time dt__mqtt_wake_at(const void *self);
void dt__mqtt_wake(void *self, dt_time now);

#endif
