/* What every bus engine written in the tests keeps the same way: MQTT's
 * topic filter match, the subscriptions, the before_connect hook and the
 * state callbacks, and the connect that runs them. An engine embeds an
 * ipe_conn and its table's slots call these; the engines differ only in
 * how they carry messages (inproc_engine.h routes them between instances,
 * test_bus_engine's hub queues them centrally, test_redteam_bus2's is
 * steered by the test). Inline: an engine may use only some of them. */
#ifndef DTWIN_TESTS_ENGINE_BASE_H
#define DTWIN_TESTS_ENGINE_BASE_H

#include <stdio.h>

#include "dtwin/dtwin.h"

#define IPE_SUBS 16

typedef struct ipe_conn {
    struct {
        char filter[200];
        dt_bus_message_fn fn;
        void *user;
    } sub[IPE_SUBS];
    size_t n_sub;
    void (*before)(void *);
    void *before_user;
    dt_bus_state_fn st_fn[8];
    void *st_user[8];
    size_t n_st;
} ipe_conn;

/* MQTT's filter match: '+' one level, '#' the rest. */
static inline int ipe_topic_match(const char *filter, const char *topic)
{
    while (*filter != '\0') {
        if (*filter == '#')
            return 1;
        if (*filter == '+') {
            while (*topic != '\0' && *topic != '/')
                topic++;
            filter++;
            continue;
        }
        if (*filter != *topic)
            return 0;
        filter++;
        topic++;
    }
    return *topic == '\0';
}

static inline void ipe_conn_before(ipe_conn *c, void (*fn)(void *), void *user)
{
    c->before = fn;
    c->before_user = user;
}

static inline int ipe_conn_on_state(ipe_conn *c, dt_bus_state_fn fn, void *user)
{
    if (c->n_st == 8)
        return DT_ELIMIT;
    c->st_fn[c->n_st] = fn;
    c->st_user[c->n_st++] = user;
    return DT_OK;
}

static inline int ipe_conn_subscribe(ipe_conn *c, const char *filter, dt_bus_message_fn fn,
                                     void *user)
{
    if (c->n_sub == IPE_SUBS)
        return DT_ELIMIT;
    snprintf(c->sub[c->n_sub].filter, sizeof c->sub[0].filter, "%s", filter);
    c->sub[c->n_sub].fn = fn;
    c->sub[c->n_sub++].user = user;
    return DT_OK;
}

/* The connect as the bus layer expects it: before_connect first, then up,
 * then the state callbacks. */
static inline void ipe_conn_up(ipe_conn *c, int *connected, dt_time now)
{
    if (c->before != NULL)
        c->before(c->before_user);
    *connected = 1;
    for (size_t i = 0; i < c->n_st; i++)
        c->st_fn[i](c->st_user[i], 1, now);
}

#endif
