/* The MQTT connection on the twin's loop (see mqtt.h). libmosquitto 2.0.11
 * in its external-loop mode; the traps it has there, and what this file
 * does about each:
 * - loop_read handles one packet when nothing is in flight: ready() reads
 *   until the socket says EAGAIN, within a budget per call of packets and
 *   of message bytes (a broker refills the socket as fast as it is read: a
 *   flood of the largest messages, 17 KB beliefs or 256 KiB contracts that
 *   take about 2 ms each to parse, otherwise held one call for 512 of them).
 * - A publish from inside a libmosquitto callback is only queued: the socket
 *   is watched for writing whenever want_write says so, re-read after every
 *   read and every publish.
 * - loop_misc does keepalive only, and needs calling about once a second:
 *   a wake time.
 * - The socket changes on every connect: the watch's generation changes with
 *   it, so a host loop registers the new descriptor.
 * - During a TLS handshake want_write stays true (the CONNECT packet waits):
 *   watching for writing then spins. The socket is watched for writing only
 *   until the TCP connection is made, then for reading, and every
 *   readiness during the handshake drives it with loop_read (which runs the
 *   handshake) followed by loop_write (which writes nothing until the
 *   handshake is done, then the CONNECT); a 50 ms wake keeps a handshake
 *   that wants to write moving.
 * - Every connect resolves a host name with a blocking getaddrinfo: use an
 *   IP address (a warning at load otherwise).
 * - Reconnecting is ours (reconnect_delay_set serves only the library's own
 *   loops): exponential backoff between the configured bounds, with jitter,
 *   started again only by a connection that held for a keepalive: a broker
 *   that accepts and then closes at once (another client took the client
 *   id over) is retried ever more slowly, and each closing is logged with
 *   its reason (rate-limited), not only counted.
 * - A QoS 1 publish made while down would be queued and sent, stale, after
 *   the next connect: publishes are refused while down and counted.
 * - Nagle's algorithm is on by default: a small publish waits for the ACK of
 *   the previous one, which a broker that just answered (a PINGRESP, a
 *   PUBACK) delays up to 40 ms, so a one-way stream of beliefs stalls that
 *   long after every keepalive. MOSQ_OPT_TCP_NODELAY turns it off on every
 *   socket the client opens (the broker's side is its set_tcp_nodelay). */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "../platform/internal.h"
#include "mqtt.h"

#define SUBS_MAX 64
#define STATE_FNS 8
/* The longest a clean close waits for the broker's answers (close_quietly) */
#define CLOSE_WAIT_MS 250
#define ACK_SLOTS 256        /* QoS 1 answers routed back; more in flight: counted only */
#define READ_BUDGET 512      /* packets one ready() reads */
#define READ_BYTES (256u * 1024u) /* message bytes one ready() reads (the last may overshoot) */
#define MISC_PERIOD (DT_NS_PER_S)
#define HANDSHAKE_POKE (50 * DT_NS_PER_MS)

enum { DOWN = 0, CONNECTING, UP };

typedef struct sub {
    char filter[256];
    int qos;
    dt__mqtt_message_fn fn;
    void *user;
} sub;

struct dt__mqtt {
    dt_allocator alloc;
    dt_logger log;
    char name[64];
    dt__mqtt_config cfg;
    struct mosquitto *mosq;
    int state;
    int fd;
    int tcp_up; /* CONNECTING: the TCP connection is made (TLS handshake next) */
    uint64_t refused_seen; /* connect_refused when the last attempt ended */
    int closing;           /* destroy's own DISCONNECT: no loss to report */
    int last_q1_mid;       /* the newest QoS 1 publish, and whether its PUBACK came */
    int last_q1_acked;
    int unsub_pending;     /* destroy: UNSUBACKs still to come */
    uint32_t gen;
    dt_time now, next_attempt, backoff, next_misc, connect_deadline, up_since;
    uint64_t rng;
    sub subs[SUBS_MAX];
    size_t n_subs;
    struct {
        dt__mqtt_state_fn fn;
        void *user;
    } on_state[STATE_FNS];
    size_t n_on_state;
    void (*before_connect)(void *user);
    void *before_user;
    struct {
        int mid;
        dt__mqtt_puback_fn fn;
        void *user;
    } acks[ACK_SLOTS];
    dt__mqtt_stats st;
    size_t burst_bytes; /* message bytes read by the current read_some */
    uint64_t logged_denied, logged_connect;
    int delivering_retained; /* on_message: the message handed to the subscribers */
};

/* mosquitto_lib_init / _cleanup count their callers but are not thread-safe:
 * twins created on several threads serialize here. */
static pthread_mutex_t lib_lock = PTHREAD_MUTEX_INITIALIZER;

/* Logs the 1st, 2nd, 4th, 8th ... occurrence of a repeated event (count is
 * its counter, already incremented). */
static void say(dt__mqtt *m, dt_log_level lvl, uint64_t count, const char *fmt, ...)
    DT__PRINTF(4, 5);
static void say(dt__mqtt *m, dt_log_level lvl,
                                                      uint64_t count, const char *fmt, ...)
{
    if (count & (count - 1))
        return;
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    dt__log(&m->log, lvl, "bus", "%s (%llu so far)", msg, (unsigned long long)count);
}

static dt_time jitter(dt__mqtt *m, dt_time d)
{
    m->rng ^= m->rng << 13;
    m->rng ^= m->rng >> 7;
    m->rng ^= m->rng << 17;
    /* 75 % .. 125 %: twins that lost one broker do not return in step */
    return d - d / 4 + (dt_time)(m->rng % (uint64_t)(d / 2 + 1));
}

static void schedule_retry(dt__mqtt *m)
{
    m->backoff = m->backoff == 0 ? m->cfg.reconnect_min : m->backoff * 2;
    if (m->backoff > m->cfg.reconnect_max)
        m->backoff = m->cfg.reconnect_max;
    m->next_attempt = m->now + jitter(m, m->backoff);
}

static void notify(dt__mqtt *m, int up)
{
    /* while destroy drains the socket, the listeners (the bus, its
     * adapters) are being closed: nobody is told anything */
    for (size_t i = 0; !m->closing && i < m->n_on_state; i++)
        m->on_state[i].fn(m->on_state[i].user, up, m->now);
}

static void went_down(dt__mqtt *m)
{
    int was = m->state;
    m->state = DOWN;
    m->fd = -1;
    m->tcp_up = 0;
    m->gen++;
    if (was == UP && m->now - m->up_since >= (dt_time)m->cfg.keepalive_s * DT_NS_PER_S)
        m->backoff = 0; /* it held: retry soon */
    schedule_retry(m);
    if (was == UP) {
        m->st.disconnects++;
        notify(m, 0);
    } else if (was == CONNECTING && m->st.connect_refused == m->refused_seen) {
        /* closed before a CONNACK: a TLS handshake the broker refused (no
         * or a bad client certificate), or the TCP connection refused */
        m->st.connect_errors++;
        say(m, DT_LOG_WARN, m->st.connect_errors,
            "%s: the connection to %s:%d closed before the broker accepted it%s", m->name,
            m->cfg.host, m->cfg.port, m->cfg.tls ? " (a TLS handshake it refused?)" : "");
    }
    m->refused_seen = m->st.connect_refused;
}

static void on_connect(struct mosquitto *mq, void *obj, int rc, int flags,
                       const mosquitto_property *p)
{
    (void)mq, (void)flags, (void)p;
    dt__mqtt *m = obj;
    if (rc != 0) {
        m->st.connect_refused++;
        say(m, DT_LOG_ERROR, m->st.connect_refused,
            "%s: the broker refused the connection: %s (CONNACK 0x%02x)", m->name,
            mosquitto_reason_string(rc), (unsigned)rc);
        /* the library closes the socket; on_disconnect follows */
        return;
    }
    m->state = UP;
    m->up_since = m->now;
    m->st.connects++;
    for (size_t i = 0; i < m->n_subs; i++)
        (void)mosquitto_subscribe_v5(m->mosq, NULL, m->subs[i].filter, m->subs[i].qos, 0, NULL);
    notify(m, 1);
}

static void on_disconnect(struct mosquitto *mq, void *obj, int rc, const mosquitto_property *p)
{
    (void)mq, (void)p;
    dt__mqtt *m = obj;
    int was_up = m->state == UP;
    dt_time held = m->now - m->up_since;
    went_down(m);
    /* rc: the reason code of the broker's DISCONNECT (0x80 and above), or
     * libmosquitto's error for a connection lost */
    if (was_up && !m->closing)
        say(m, DT_LOG_WARN, m->st.disconnects,
            "%s: the connection to %s:%d ended after %.3f s: %s%s", m->name, m->cfg.host,
            m->cfg.port, dt_time_to_sec(held),
            rc >= 0x80 ? mosquitto_reason_string(rc) : mosquitto_strerror(rc),
            held < (dt_time)m->cfg.keepalive_s * DT_NS_PER_S
                ? " (so soon: is another client connected with this client id?)"
                : "");
}

static void on_publish(struct mosquitto *mq, void *obj, int mid, int reason,
                       const mosquitto_property *p)
{
    (void)mq, (void)p;
    dt__mqtt *m = obj;
    /* 0x10: no subscriber matched, which MQTT 5 reports and is no failure */
    if (reason == MQTT_RC_NOT_AUTHORIZED) {
        m->st.denied++;
        say(m, DT_LOG_ERROR, m->st.denied,
            "%s: the broker refused a publish: not authorized (PUBACK 0x%02x)", m->name,
            (unsigned)reason);
    } else if (reason >= 0x80) {
        m->st.puback_failed++;
        say(m, DT_LOG_ERROR, m->st.puback_failed,
            "%s: the broker refused a publish: %s (PUBACK 0x%02x)", m->name,
            mosquitto_reason_string(reason), (unsigned)reason);
    }
    if (mid == m->last_q1_mid)
        m->last_q1_acked = 1;
    size_t k = (size_t)mid % ACK_SLOTS;
    if (!m->closing && m->acks[k].fn != NULL && m->acks[k].mid == mid) {
        dt__mqtt_puback_fn fn = m->acks[k].fn;
        m->acks[k].fn = NULL;
        fn(m->acks[k].user, mid, reason);
    }
}

static void on_subscribe(struct mosquitto *mq, void *obj, int mid, int n, const int *granted,
                         const mosquitto_property *p)
{
    (void)mq, (void)mid, (void)p;
    dt__mqtt *m = obj;
    for (int i = 0; i < n; i++)
        if (granted[i] >= 0x80) {
            m->st.subscribe_refused++;
            say(m, DT_LOG_ERROR, m->st.subscribe_refused,
                "%s: the broker refused a subscription (SUBACK 0x%02x)", m->name,
                (unsigned)granted[i]);
        }
}

static void on_message(struct mosquitto *mq, void *obj, const struct mosquitto_message *msg,
                       const mosquitto_property *p)
{
    (void)mq, (void)p;
    dt__mqtt *m = obj;
    if (m->closing) /* destroy draining the socket: the subscribers are gone */
        return;
    int routed = 0;
    m->delivering_retained = msg->retain;
    for (size_t i = 0; i < m->n_subs; i++) {
        bool match = false;
        if (mosquitto_topic_matches_sub(m->subs[i].filter, msg->topic, &match) == 0 && match) {
            routed = 1;
            m->subs[i].fn(m->subs[i].user, msg->topic, msg->payload,
                          msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0, m->now);
        }
    }
    m->delivering_retained = 0;
    m->burst_bytes += strlen(msg->topic) + (msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0);
    m->st.received += (uint64_t)routed;
    m->st.unrouted += (uint64_t)!routed;
}

int dt__mqtt_create(const dt_allocator *alloc, const dt_logger *log, const char *name,
                    const dt__mqtt_config *cfg, dt__mqtt **out, char *err, size_t errn)
{
    dt__mqtt *m = dt__calloc(alloc, 1, sizeof *m);
    if (m == NULL) {
        (void)snprintf(err, errn, "out of memory");
        return DT_ENOMEM;
    }
    m->alloc = *alloc;
    m->log = *log;
    (void)snprintf(m->name, sizeof m->name, "%s", name);
    m->cfg = *cfg;
    m->fd = -1;
    m->rng = (uint64_t)(uintptr_t)m ^ 0x9E3779B97F4A7C15ull;
    pthread_mutex_lock(&lib_lock);
    int rc = mosquitto_lib_init();
    pthread_mutex_unlock(&lib_lock);
    if (rc != MOSQ_ERR_SUCCESS) {
        dt__free(alloc, m);
        (void)snprintf(err, errn, "libmosquitto did not initialize: %s", mosquitto_strerror(rc));
        return DT_EIO;
    }
    m->mosq = mosquitto_new(cfg->client_id[0] ? cfg->client_id : NULL, true, m);
    if (m->mosq == NULL) {
        dt__mqtt_destroy(m);
        (void)snprintf(err, errn, "libmosquitto could not create a client (%s)", strerror(errno));
        return DT_ENOMEM;
    }
    rc = mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_int_option(m->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    if (rc == MOSQ_ERR_SUCCESS && cfg->username[0])
        rc = mosquitto_username_pw_set(m->mosq, cfg->username,
                                       cfg->password[0] ? cfg->password : NULL);
    explicit_bzero(m->cfg.password, sizeof m->cfg.password); /* libmosquitto keeps its copy */
    if (rc == MOSQ_ERR_SUCCESS && cfg->tls)
        rc = mosquitto_tls_set(m->mosq, cfg->ca, NULL, cfg->cert[0] ? cfg->cert : NULL,
                               cfg->key[0] ? cfg->key : NULL, NULL);
    if (rc != MOSQ_ERR_SUCCESS) {
        (void)snprintf(err, errn, "libmosquitto refused the settings: %s", mosquitto_strerror(rc));
        dt__mqtt_destroy(m);
        return DT_EINVAL;
    }
    mosquitto_connect_v5_callback_set(m->mosq, on_connect);
    mosquitto_disconnect_v5_callback_set(m->mosq, on_disconnect);
    mosquitto_publish_v5_callback_set(m->mosq, on_publish);
    mosquitto_message_v5_callback_set(m->mosq, on_message);
    mosquitto_subscribe_v5_callback_set(m->mosq, on_subscribe);
    *out = m;
    return DT_OK;
}

static void on_unsubscribe(struct mosquitto *mq, void *obj, int mid, const mosquitto_property *p)
{
    (void)mq, (void)mid, (void)p;
    dt__mqtt *m = obj;
    if (m->unsub_pending > 0)
        m->unsub_pending--;
}

/* Before a clean DISCONNECT: unsubscribe everything and wait, at most
 * CLOSE_WAIT_MS, for the UNSUBACKs and the PUBACK of the newest QoS 1
 * publish (the "stopped" state). libmosquitto closes the socket as soon as
 * it has written the DISCONNECT; bytes still unread in it then make the
 * kernel send a reset instead of a close, the broker fails to write its
 * PUBACK and drops the client as lost, publishing its will: a twin that
 * stopped cleanly would read as lost. With nothing subscribed and every
 * answer read, no byte is left unread. Blocks the caller (once, at
 * destroy). Messages read meanwhile go to nobody. */
static void close_quietly(dt__mqtt *m)
{
    mosquitto_unsubscribe_v5_callback_set(m->mosq, on_unsubscribe);
    m->unsub_pending = 0;
    for (size_t i = 0; i < m->n_subs; i++)
        if (mosquitto_unsubscribe_v5(m->mosq, NULL, m->subs[i].filter, NULL) ==
            MOSQ_ERR_SUCCESS)
            m->unsub_pending++;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        int q1_waiting = m->last_q1_mid != 0 && !m->last_q1_acked;
        if (m->unsub_pending == 0 && !q1_waiting)
            break;
        clock_gettime(CLOCK_MONOTONIC, &t);
        long ms = (long)(t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        int fd = mosquitto_socket(m->mosq);
        if (ms >= CLOSE_WAIT_MS || fd < 0)
            break;
        struct pollfd pf = {fd, (short)(POLLIN | (mosquitto_want_write(m->mosq) ? POLLOUT : 0)),
                            0};
        if (poll(&pf, 1, (int)(CLOSE_WAIT_MS - ms)) <= 0)
            break;
        if ((pf.revents & POLLOUT) && mosquitto_loop_write(m->mosq, 1) != MOSQ_ERR_SUCCESS)
            break;
        if ((pf.revents & (POLLIN | POLLHUP | POLLERR)) &&
            mosquitto_loop_read(m->mosq, 1) != MOSQ_ERR_SUCCESS)
            break;
    }
}

void dt__mqtt_destroy(dt__mqtt *m)
{
    if (m == NULL)
        return;
    if (m->mosq != NULL) {
        if (m->state == UP) {
            /* a clean DISCONNECT: the broker drops the will (a twin that
             * stops is not lost); best effort, written now or never */
            m->closing = 1;
            close_quietly(m);
            (void)mosquitto_disconnect_v5(m->mosq, 0, NULL);
            (void)mosquitto_loop_write(m->mosq, 1);
        }
        mosquitto_destroy(m->mosq);
    }
    pthread_mutex_lock(&lib_lock);
    mosquitto_lib_cleanup();
    pthread_mutex_unlock(&lib_lock);
    dt_allocator a = m->alloc;
    dt__free(&a, m);
}

int dt__mqtt_set_will(dt__mqtt *m, const char *topic, const void *payload, size_t len,
                      int retain)
{
    if (len > 65535)
        return DT_EINVAL;
    int rc = mosquitto_will_set_v5(m->mosq, topic, (int)len, payload, 1, retain != 0, NULL);
    return rc == MOSQ_ERR_SUCCESS ? DT_OK : DT_EINVAL;
}

int dt__mqtt_subscribe(dt__mqtt *m, const char *filter, int qos, dt__mqtt_message_fn fn,
                       void *user)
{
    if (m->n_subs == SUBS_MAX)
        return DT_ELIMIT;
    if (strlen(filter) >= sizeof m->subs[0].filter || mosquitto_sub_topic_check(filter) != 0 ||
        qos < 0 || qos > 1 || fn == NULL)
        return DT_EINVAL;
    sub *s = &m->subs[m->n_subs++];
    (void)snprintf(s->filter, sizeof s->filter, "%s", filter);
    s->qos = qos;
    s->fn = fn;
    s->user = user;
    if (m->state == UP)
        (void)mosquitto_subscribe_v5(m->mosq, NULL, filter, qos, 0, NULL);
    return DT_OK;
}

void dt__mqtt_before_connect(dt__mqtt *m, void (*fn)(void *user), void *user)
{
    m->before_connect = fn;
    m->before_user = user;
}

int dt__mqtt_on_state(dt__mqtt *m, dt__mqtt_state_fn fn, void *user)
{
    if (m->n_on_state == STATE_FNS)
        return DT_ELIMIT;
    m->on_state[m->n_on_state].fn = fn;
    m->on_state[m->n_on_state].user = user;
    m->n_on_state++;
    return DT_OK;
}

int dt__mqtt_publish(dt__mqtt *m, const char *topic, const void *payload, size_t len, int qos,
                     int retain, dt__mqtt_puback_fn fn, void *user, int *mid)
{
    if (m->state != UP) {
        m->st.not_connected++;
        return DT_ESTATE;
    }
    if (len > (size_t)INT32_MAX || qos < 0 || qos > 1) {
        m->st.publish_errors++;
        return DT_EINVAL;
    }
    int id = 0;
    int rc = mosquitto_publish_v5(m->mosq, &id, topic, (int)len, payload, qos, retain != 0, NULL);
    if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST) {
        m->st.not_connected++;
        return DT_ESTATE;
    }
    if (rc != MOSQ_ERR_SUCCESS) {
        m->st.publish_errors++;
        say(m, DT_LOG_ERROR, m->st.publish_errors, "%s: libmosquitto refused a publish to %s: %s",
            m->name, topic, mosquitto_strerror(rc));
        return DT_EINVAL;
    }
    m->st.published++;
    if (qos == 1) {
        m->last_q1_mid = id;
        m->last_q1_acked = 0;
        size_t k = (size_t)id % ACK_SLOTS;
        m->acks[k].mid = id;
        m->acks[k].fn = fn;
        m->acks[k].user = user;
    }
    if (mid != NULL)
        *mid = id;
    return DT_OK;
}

int dt__mqtt_connected(const dt__mqtt *m) { return m->state == UP; }
int dt__mqtt_message_retained(const dt__mqtt *m) { return m->delivering_retained; }
const dt__mqtt_stats *dt__mqtt_stats_get(const dt__mqtt *m) { return &m->st; }

/* ---- the loop ---- */

static void attempt(dt__mqtt *m)
{
    /* an attempt lasts at most one keepalive: a broker that accepts TCP and
     * never answers does not hold the connection in CONNECTING */
    if (m->before_connect != NULL)
        m->before_connect(m->before_user);
    int rc = mosquitto_connect_async(m->mosq, m->cfg.host, m->cfg.port, m->cfg.keepalive_s);
    int fd = mosquitto_socket(m->mosq);
    if (rc != MOSQ_ERR_SUCCESS || fd < 0) {
        m->st.connect_errors++;
        say(m, DT_LOG_WARN, m->st.connect_errors, "%s: cannot connect to %s:%d: %s", m->name,
            m->cfg.host, m->cfg.port,
            rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
        if (fd >= 0)
            (void)mosquitto_disconnect(m->mosq);
        m->state = DOWN;
        schedule_retry(m);
        return;
    }
    m->state = CONNECTING;
    m->fd = fd;
    m->tcp_up = 0;
    m->gen++;
    m->connect_deadline = m->now + (dt_time)m->cfg.keepalive_s * DT_NS_PER_S;
}

/* Reads what the socket holds, packet by packet, within the budget. */
static void read_some(dt__mqtt *m)
{
    m->burst_bytes = 0;
    for (int k = 0; k < READ_BUDGET && m->burst_bytes < READ_BYTES; k++) {
        errno = 0;
        int rc = mosquitto_loop_read(m->mosq, 1);
        if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket(m->mosq) < 0)
            return; /* on_disconnect ran */
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        if (m->state == CONNECTING && m->cfg.tls)
            return; /* a handshake step: the next readiness drives the next */
    }
    m->st.read_bursts_cut++;
}

static void write_some(dt__mqtt *m)
{
    if (mosquitto_socket(m->mosq) >= 0 && mosquitto_want_write(m->mosq))
        (void)mosquitto_loop_write(m->mosq, 1);
}

/* The socket's state after anything ran: gone means down. */
static void check_socket(dt__mqtt *m)
{
    if (m->state != DOWN && mosquitto_socket(m->mosq) < 0)
        went_down(m);
}

static void step(dt__mqtt *m, dt_time now)
{
    if (now > m->now)
        m->now = now;
    if (m->state == DOWN) {
        if (m->now >= m->next_attempt)
            attempt(m);
        return;
    }
    if (m->state == CONNECTING && m->now >= m->connect_deadline) {
        m->st.connect_errors++;
        say(m, DT_LOG_WARN, m->st.connect_errors,
            "%s: %s:%d did not answer the connect within %d s", m->name, m->cfg.host,
            m->cfg.port, m->cfg.keepalive_s);
        (void)mosquitto_disconnect(m->mosq);
        check_socket(m);
        if (m->state != DOWN)
            went_down(m);
        return;
    }
    if (m->now >= m->next_misc) {
        m->next_misc = m->now + MISC_PERIOD;
        (void)mosquitto_loop_misc(m->mosq);
        check_socket(m);
    }
}

int dt__mqtt_poll(void *self, dt_time now)
{
    dt__mqtt *m = self;
    step(m, now);
    if (m->state != DOWN) {
        /* a host that watches nothing is served here, once a cycle */
        read_some(m);
        check_socket(m);
        /* during a TLS handshake loop_write writes nothing; once it is done
         * it sends the CONNECT that waited for it */
        if (m->state != DOWN)
            write_some(m);
        check_socket(m);
    }
    return DT_OK;
}

size_t dt__mqtt_watches(const void *self, dt_watch *out, size_t max)
{
    const dt__mqtt *m = self;
    if (m->state == DOWN || m->fd < 0)
        return 0;
    unsigned ev = DT_WATCH_READ;
    if (m->state == CONNECTING && m->cfg.tls)
        ev = m->tcp_up ? DT_WATCH_READ : DT_WATCH_WRITE; /* see the top of the file */
    else if (mosquitto_want_write(m->mosq))
        ev |= DT_WATCH_WRITE;
    if (max > 0)
        out[0] = (dt_watch){m->fd, ev, m->gen};
    return 1;
}

void dt__mqtt_ready(void *self, int fd, unsigned events, dt_time now)
{
    dt__mqtt *m = self;
    if (now > m->now)
        m->now = now;
    if (m->state == DOWN || fd != m->fd)
        return;
    if (m->state == CONNECTING && m->cfg.tls) {
        if (events & DT_WATCH_WRITE)
            m->tcp_up = 1;
        read_some(m); /* runs the handshake, then reads the CONNACK */
    } else if (events & DT_WATCH_READ) {
        read_some(m);
    }
    check_socket(m);
    if (m->state != DOWN)
        write_some(m);
    check_socket(m);
}

dt_time dt__mqtt_wake_at(const void *self)
{
    const dt__mqtt *m = self;
    if (m->state == DOWN)
        return m->next_attempt;
    dt_time t = m->next_misc < m->connect_deadline || m->state != CONNECTING
                    ? m->next_misc
                    : m->connect_deadline;
    if (m->state == CONNECTING && m->cfg.tls && m->now + HANDSHAKE_POKE < t)
        t = m->now + HANDSHAKE_POKE;
    return t;
}

void dt__mqtt_wake(void *self, dt_time now)
{
    dt__mqtt *m = self;
    step(m, now);
    if (m->state == CONNECTING && m->cfg.tls) {
        read_some(m);
        check_socket(m);
        if (m->state != DOWN)
            write_some(m);
        check_socket(m);
    }
}
