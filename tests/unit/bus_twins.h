/* What the bus tests share (test_bus_twins.c, test_redteam_bus.c): a
 * publisher twin of the belief group "tank", a reader twin whose "twin"
 * source reads it, a host loop over their ios, and a forger (a plain
 * libmosquitto client) that plays the publisher. Include after the system
 * headers, broker_fixture.h and test_util.h. */
#ifndef DTWIN_TEST_BUS_TWINS_H
#define DTWIN_TEST_BUS_TWINS_H

#include <poll.h>
#include <time.h>

#include <mosquitto.h>

#include "dtwin/dtwin.h"

static inline dt_time mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (dt_time)ts.tv_sec * DT_NS_PER_S + ts.tv_nsec;
}

#define BUS(port)                                                              \
  "\"bus\":{\"realm\":\"r\",\"broker\":{\"host\":\"127.0.0.1\",\"port\":" port \
  ",\"tls\":\"none\",\"keepalive\":5},\"reconnect\":{\"min\":0.02,\"max\":0."  \
  "2}"

/* the publisher: a tank level estimated with its rate, published as the
 * belief group "tank" */
static const char pub_fmt[] =
    "{\"dtwin\":1,\"name\":\"pub\",\"assets\":[{\"id\":\"tank\"}],\"signals\":["
    "{\"id\":\"y\",\"asset\":\"tank\",\"quantity\":\"length\",\"unit\":\"m\","
    "\"role\":\"measured\","
    " \"noise\":{\"std\":0.01}},"
    "{\"id\":\"level_est\",\"asset\":\"tank\",\"quantity\":\"length\",\"unit\":"
    "\"m\","
    " \"role\":\"estimated\"},"
    "{\"id\":\"rate_est\",\"asset\":\"tank\",\"quantity\":\"velocity\","
    "\"unit\":\"m/s\","
    " \"role\":\"estimated\"}],"
    "\"sources\":[{\"id\":\"sensor\",\"kind\":\"memory\",\"timeout\":5,"
    "  \"mapping\":[{\"native\":\"level\",\"signal\":\"y\"}]}],"
    "\"estimator\":{\"states\":[\"level_est\",\"rate_est\"],\"A\":[[0,1],[0,0]]"
    ","
    "  \"Q\":[0.0001,0.001],\"x0\":[0,0],\"P0\":[1,1],"
    "  \"measurements\":[{\"signal\":\"y\",\"H\":{\"level_est\":1}}]},"
    "%s,\"beliefs\":[{\"group\":\"tank\",\"states\":[\"level_est\",\"rate_"
    "est\"],"
    "  \"every\":0}]},\"loop\":{\"period\":0.01}}";

/* the reader: the publisher's level through a "twin" source */
static const char sub_fmt[] =
    "{\"dtwin\":1,\"name\":\"sub\",\"assets\":[{\"id\":\"site\"}],\"signals\":["
    "{\"id\":\"up\",\"asset\":\"site\",\"quantity\":\"length\",\"unit\":\"m\","
    "\"role\":\"measured\","
    " \"noise\":{\"std\":0.01}},"
    "{\"id\":\"up_est\",\"asset\":\"site\",\"quantity\":\"length\",\"unit\":"
    "\"m\","
    " \"role\":\"estimated\"}],"
    "\"sources\":[{\"id\":\"peer\",\"kind\":\"twin\",\"twin\":\"pub\","
    "\"belief\":\"tank\","
    "  \"clock\":{\"mode\":\"estimate\"},\"timeout\":5,"
    "  "
    "\"mapping\":[{\"native\":\"level_est\",\"signal\":\"up\",\"unit\":\"m\"}]}"
    "],"
    "\"estimator\":{\"states\":[\"up_est\"],\"A\":[[0]],\"Q\":[0.0001],\"x0\":["
    "0],\"P0\":[1],"
    "  \"measurements\":[{\"signal\":\"up\",\"H\":{\"up_est\":1}}]},"
    "%s},\"loop\":{\"period\":0.01}}";

/* the contract a forger announces when it plays the publisher */
static const char contract7[] =
    "{\"dtwin_contract\":1,\"realm\":\"r\",\"twin\":\"pub\",\"version\":7,"
    "\"beliefs\":[{"
    "\"group\":\"tank\",\"independent\":false,\"states\":[{\"signal\":\"level_"
    "est\","
    "\"quantity\":\"length\",\"unit\":\"m\"},{\"signal\":\"rate_est\","
    "\"quantity\":\"velocity\","
    "\"unit\":\"m/s\"}],\"A\":[[0,1],[0,0]],\"Q\":[[0.0001,0],[0,0.001]]}]}";

static inline dt_twin *load(const char *doc, const dt_allocator *alloc) {
  dt_twin_options o = DT_TWIN_OPTIONS_INIT;
  o.logger = dt_logger_silent();
  o.allocator = alloc;
  dt_twin *t = NULL;
  dt_diag d;
  int rc = dt_twin_load_json(doc, strlen(doc), &o, &t, &d);
  if (rc != DT_OK)
    fail_msg("load: %s", d.message);
  return t;
}

/* ---- a forger: a plain libmosquitto client ---- */

typedef struct forger {
  struct mosquitto *m;
  int connected, rebirths;
  char state[256]; /* the publisher's last $state */
} forger;

static inline void forger_connect_cb(struct mosquitto *m, void *o, int rc) {
  (void)m;
  ((forger *)o)->connected = rc == 0;
}

static inline void forger_msg_cb(struct mosquitto *m, void *o,
                                 const struct mosquitto_message *msg) {
  (void)m;
  forger *f = o;
  if (strstr(msg->topic, "ctl/rebirth") != NULL) {
    f->rebirths++;
  } else if (msg->payloadlen > 0 && (size_t)msg->payloadlen < sizeof f->state) {
    memcpy(f->state, msg->payload, (size_t)msg->payloadlen);
    f->state[msg->payloadlen] = '\0';
  }
}

static inline void forger_start(forger *f, int port) {
  memset(f, 0, sizeof *f);
  assert_int_equal(mosquitto_lib_init(), 0);
  f->m = mosquitto_new(NULL, true, f);
  assert_non_null(f->m);
  mosquitto_connect_callback_set(f->m, forger_connect_cb);
  mosquitto_message_callback_set(f->m, forger_msg_cb);
  assert_int_equal(mosquitto_connect(f->m, "127.0.0.1", port, 30), 0);
  for (int i = 0; i < 3000 && !f->connected; i++)
    mosquitto_loop(f->m, 10, 1);
  assert_true(f->connected);
  assert_int_equal(
      mosquitto_subscribe(f->m, NULL, "dt/v1/r/pub/ctl/rebirth", 0), 0);
  assert_int_equal(mosquitto_subscribe(f->m, NULL, "dt/v1/r/pub/$state", 1), 0);
}

static inline void forger_stop(forger *f) {
  mosquitto_destroy(f->m);
  mosquitto_lib_cleanup();
}

static inline void forge(forger *f, const char *rest, const void *p, size_t n,
                         int retain) {
  char topic[128];
  snprintf(topic, sizeof topic, "dt/v1/r/pub/%s", rest);
  assert_int_equal(mosquitto_publish(f->m, NULL, topic, (int)n, p, 1, retain),
                   0);
  for (int i = 0; i < 5; i++)
    mosquitto_loop(f->m, 0, 1);
}

static inline void forge_text(forger *f, const char *rest, const char *text,
                              int retain) {
  forge(f, rest, text, strlen(text), retain);
}

static inline void forge_state(forger *f, const char *state, uint32_t epoch,
                               uint32_t contract) {
  char js[128];
  snprintf(js, sizeof js, "{\"state\":\"%s\",\"epoch\":%u,\"contract\":%u}",
           state, (unsigned)epoch, (unsigned)contract);
  forge_text(f, "$state", js, 1);
}

static inline void forge_belief(forger *f, uint32_t epoch, uint32_t contract,
                                uint64_t seq) {
  uint8_t buf[256];
  dt_buswire_header h = {
      DT_BUSWIRE_VERSION, DT_BUSWIRE_BELIEF, 1, epoch, contract, seq};
  const double x[2] = {1.5, 0.0}, P[4] = {0.01, 0, 0, 0.001};
  size_t n = dt_buswire_encode_belief(buf, sizeof buf, &h, mono(), 2, x, P);
  assert_true(n > 0);
  forge(f, "b/tank", buf, n, 0);
}

/* ---- the twins ---- */

/* Waits (10 ms at most) on what the twins' ios watch, hands readiness back,
 * wakes what is due. */
static inline void turn(dt_twin **tw, size_t n) {
  struct pollfd p[8];
  dt_io_watch w[8];
  size_t owner[8], k = 0;
  for (size_t i = 0; i < n; i++) {
    dt_io_watch wi[4];
    size_t m = dt_io_watches(dt_twin_io(tw[i]), wi, 4);
    for (size_t j = 0; j < m && k < 8; j++, k++) {
      w[k] = wi[j];
      owner[k] = i;
      p[k] = (struct pollfd){
          wi[j].fd,
          (short)((wi[j].events & DT_WATCH_READ ? POLLIN : 0) |
                  (wi[j].events & DT_WATCH_WRITE ? POLLOUT : 0)),
          0};
    }
  }
  if (k > 0 && poll(p, (nfds_t)k, 10) > 0) {
    for (size_t j = 0; j < k; j++) {
      unsigned ev =
          (p[j].revents & (POLLIN | POLLHUP | POLLERR) ? DT_WATCH_READ : 0) |
          (p[j].revents & POLLOUT ? DT_WATCH_WRITE : 0);
      if (ev)
        dt_io_ready(dt_twin_io(tw[owner[j]]), w[j].adapter, w[j].fd, ev,
                    mono());
    }
  } else if (k == 0) {
    dtt_sleep_ms(5);
  }
  for (size_t i = 0; i < n; i++)
    if (dt_io_wake_at(dt_twin_io(tw[i])) <= mono())
      dt_io_wake(dt_twin_io(tw[i]), mono());
}

/* A counter of the reader's twin source (0 when it has none of that name:
 * the caller's assertion says which). */
static inline uint64_t counter(dt_twin *t, const char *name) {
  dt_counter c[32];
  size_t n = dt_io_source_counters(dt_twin_io(t), 0, c, 32);
  for (size_t i = 0; i < n && i < 32; i++)
    if (strcmp(c[i].name, name) == 0)
      return c[i].value;
  fail_msg("no counter %s", name);
  return 0;
}

#endif
