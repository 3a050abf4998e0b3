/* An in-process bus engine for the unit tests, "ipe": up to IPE_INST
 * instances in one process route publishes to each other, no broker. Written
 * against the public table (dtwin/bus.h) alone, so the tests that use it show
 * that the bus layer depends only on the table.
 *
 * How it behaves (as the MQTT engine does, where it matters to the tests):
 * - a publish is queued for every other connected instance with a matching
 *   subscription and delivered at that instance's next poll or ready, in
 *   order, to every matching subscription, with the instance's `now`;
 * - a retained publish is kept (one per topic) and queued for an instance
 *   when it connects; it is not flagged as retained on delivery;
 * - an instance connects at its first poll (before_connect, then the state
 *   callbacks with up = 1); a test takes it down by clearing `connected`;
 * - the will is ignored.
 *
 * What a test steers or reads, on an instance: `connected`, `pub_rc`
 * (publish returns it when not 0), `now`, the counters `published` and
 * `refused_down`; and, for all instances, `ipe_tap` (called on each accepted
 * publish: a test records what it was handed) and IPE_EXTRA_FIELDS (defined
 * before the include: fields the tap fills, on each instance).
 *
 * Static functions in a header: each test executable has its own copy and
 * its own instances; call ipe_fresh() before each test. The test registers
 * the table under its own name with IPE_OPS(name, keys). */
#ifndef DTWIN_TESTS_INPROC_ENGINE_H
#define DTWIN_TESTS_INPROC_ENGINE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#include "dtwin/dtwin.h"
#include "engine_base.h"

#define IPE_INST 4
#define IPE_RET 8

#ifndef IPE_EXTRA_FIELDS
#define IPE_EXTRA_FIELDS
#endif

typedef struct ipe_msg {
    char topic[200];
    uint8_t *p;
    size_t len;
} ipe_msg;

typedef struct ipe ipe;
struct ipe {
    int connected;
    ipe_conn c; /* subscriptions, hooks */
    int pub_rc; /* publish returns this when not 0 */
    ipe_msg *inbox;
    size_t n_inbox, cap_inbox;
    dt_time now;
    uint64_t published, refused_down;
    IPE_EXTRA_FIELDS
};

/* the instances in the order they were opened (NULL once destroyed) */
static ipe *ipe_inst[IPE_INST];
static size_t n_ipe;
static struct {
    char topic[200];
    uint8_t *p;
    size_t len;
} ipe_ret[IPE_RET];
static size_t n_ipe_ret;
/* called on each publish the engine accepts, before it is routed */
static void (*ipe_tap)(ipe *e, const char *topic, const void *p, size_t len);

/* Runs every matching subscription's callback now (as the MQTT engine's
 * on_message); a test calls it to play a publisher message by message. */
static void ipe_deliver(ipe *e, const char *topic, const void *p, size_t len)
{
    for (size_t k = 0; k < e->c.n_sub; k++)
        if (ipe_topic_match(e->c.sub[k].filter, topic))
            e->c.sub[k].fn(e->c.sub[k].user, topic, p, len, e->now);
}

static void ipe_enqueue(ipe *e, const char *topic, const void *p, size_t len)
{
    if (e->n_inbox == e->cap_inbox) {
        e->cap_inbox = e->cap_inbox ? 2 * e->cap_inbox : 64;
        e->inbox = realloc(e->inbox, e->cap_inbox * sizeof *e->inbox);
        assert_non_null(e->inbox);
    }
    ipe_msg *m = &e->inbox[e->n_inbox++];
    snprintf(m->topic, sizeof m->topic, "%s", topic);
    m->p = malloc(len ? len : 1);
    assert_non_null(m->p);
    memcpy(m->p, p, len);
    m->len = len;
}

/* What the callbacks publish while this runs goes to the next flush. */
static void ipe_flush_inbox(ipe *e)
{
    size_t n = e->n_inbox;
    ipe_msg *box = e->inbox;
    e->inbox = NULL;
    e->n_inbox = e->cap_inbox = 0;
    for (size_t i = 0; i < n; i++) {
        ipe_deliver(e, box[i].topic, box[i].p, box[i].len);
        free(box[i].p);
    }
    free(box);
}

/* No instance, no retained copy: every test starts from here. */
static void ipe_fresh(void)
{
    memset(ipe_inst, 0, sizeof ipe_inst);
    n_ipe = 0;
    for (size_t r = 0; r < n_ipe_ret; r++)
        free(ipe_ret[r].p);
    memset(ipe_ret, 0, sizeof ipe_ret);
    n_ipe_ret = 0;
}

static int ipe_open(const dt_bus_engine_env *env, const dt_config *bus, void **self,
                    dt_diag *diag)
{
    (void)env, (void)bus, (void)diag;
    if (self == NULL)
        return DT_OK;
    ipe *e = calloc(1, sizeof *e);
    assert_non_null(e);
    assert_true(n_ipe < IPE_INST);
    ipe_inst[n_ipe++] = e;
    *self = e;
    return DT_OK;
}

static void ipe_destroy(void *self)
{
    ipe *e = self;
    for (size_t i = 0; i < n_ipe; i++)
        if (ipe_inst[i] == e)
            ipe_inst[i] = NULL;
    for (size_t i = 0; i < e->n_inbox; i++)
        free(e->inbox[i].p);
    free(e->inbox);
    free(e);
}

static int ipe_set_will(void *self, const char *topic, const void *p, size_t len)
{
    (void)self, (void)topic, (void)p, (void)len;
    return DT_OK;
}

static void ipe_before(void *self, void (*fn)(void *), void *user)
{
    ipe_conn_before(&((ipe *)self)->c, fn, user);
}

static int ipe_on_state(void *self, dt_bus_state_fn fn, void *user)
{
    return ipe_conn_on_state(&((ipe *)self)->c, fn, user);
}

static int ipe_subscribe(void *self, const char *filter, dt_bus_delivery d, dt_bus_message_fn fn,
                         void *user)
{
    (void)d;
    return ipe_conn_subscribe(&((ipe *)self)->c, filter, fn, user);
}

static void ipe_keep_retained(const char *topic, const void *p, size_t len)
{
    size_t r = 0;
    while (r < n_ipe_ret && strcmp(ipe_ret[r].topic, topic) != 0)
        r++;
    assert_true(r < IPE_RET);
    if (r == n_ipe_ret)
        n_ipe_ret++;
    snprintf(ipe_ret[r].topic, sizeof ipe_ret[r].topic, "%s", topic);
    free(ipe_ret[r].p);
    ipe_ret[r].p = malloc(len ? len : 1);
    assert_non_null(ipe_ret[r].p);
    memcpy(ipe_ret[r].p, p, len);
    ipe_ret[r].len = len;
}

/* Queued once per instance, however many of its subscriptions match:
 * delivery runs them all. */
static void ipe_route(ipe *e, const char *topic, const void *p, size_t len)
{
    for (size_t k = 0; k < e->c.n_sub; k++)
        if (ipe_topic_match(e->c.sub[k].filter, topic)) {
            ipe_enqueue(e, topic, p, len);
            return;
        }
}

static int ipe_publish(void *self, const char *topic, const void *p, size_t len,
                       dt_bus_delivery d, int retain)
{
    (void)d;
    ipe *e = self;
    if (!e->connected) {
        e->refused_down++;
        return DT_ESTATE;
    }
    if (e->pub_rc != 0)
        return e->pub_rc;
    e->published++;
    if (ipe_tap != NULL)
        ipe_tap(e, topic, p, len);
    for (size_t i = 0; i < n_ipe; i++) {
        ipe *o = ipe_inst[i];
        if (o != NULL && o != e && o->connected)
            ipe_route(o, topic, p, len);
    }
    if (retain)
        ipe_keep_retained(topic, p, len);
    return DT_OK;
}

static int ipe_connected(const void *self) { return ((const ipe *)self)->connected; }

static int ipe_retained(const void *self)
{
    (void)self;
    return 0;
}

static int ipe_poll(void *self, dt_time now)
{
    ipe *e = self;
    e->now = now;
    if (!e->connected) {
        ipe_conn_up(&e->c, &e->connected, now);
        for (size_t r = 0; r < n_ipe_ret; r++) /* what the broker keeps, after the connect */
            ipe_route(e, ipe_ret[r].topic, ipe_ret[r].p, ipe_ret[r].len);
    }
    ipe_flush_inbox(e);
    return DT_OK;
}

static void ipe_ready(void *self, int fd, unsigned events, dt_time now)
{
    (void)fd, (void)events;
    ipe *e = self;
    e->now = now;
    ipe_flush_inbox(e);
}

/* The table under the name a test's documents give as "engine". */
#define IPE_OPS(name_, keys_)                                                                      \
    {                                                                                              \
        .abi = DT_BUS_ENGINE_ABI, .name = (name_), .keys = (keys_), .open = ipe_open,             \
        .destroy = ipe_destroy, .set_will = ipe_set_will, .before_connect = ipe_before,            \
        .on_state = ipe_on_state, .subscribe = ipe_subscribe, .publish = ipe_publish,              \
        .connected = ipe_connected, .message_retained = ipe_retained, .poll = ipe_poll,            \
        .ready = ipe_ready,                                                                        \
    }

#endif
