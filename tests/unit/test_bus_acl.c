/* One broker identity per plane, held to the shipped ACL: a mosquitto
 * started with examples/bus/acl/mosquitto.conf and examples/bus/acl/acl as
 * they are in the source tree (the conf's placeholders replaced), the
 * certificates made by examples/bus/acl/make-certs.sh. A real twin tank1
 * (data plane, its own certificate) publishes its state, contract, beliefs
 * and samples and accepts commands; planner (control plane), ops
 * (management plane), tank2 (another twin's identity) and intruder (a
 * certificate from the same CA without a line in the ACL) are plain
 * libmosquitto clients over MQTT 5, driven as in test_broker_tls.c.
 * Refusals are seen twice: at the publisher (QoS 1 PUBACK 0x87) and as
 * nothing arriving (the twin's counters, the subscribers' counts), each
 * checked after an event that orders it: a PUBACK comes after the broker
 * decided the publish, a subscriber reads its messages in the order the
 * broker queued them. Bounded waits on conditions, never timings. */
#define _DEFAULT_SOURCE /* before any system header: kill, mkdtemp, nanosleep */
#include <poll.h>
#include <stdlib.h>
#include <time.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "broker_fixture.h"
#include "test_util.h"

#include "dtwin/dtwin.h"

#include "bus_twins.h"

#include "bus_issuer.h"

#define ACL_DIR DTT_SOURCE_DIR "/examples/bus/acl"
#define T1 "dt/v1/plant/tank1/"

/* tank1: a level estimated with its rate, published as the belief group
 * "level" and the sample stream "levels"; the commanded signal "valve"
 * accepted from other twins. The bus over TLS with tank1's certificate. */
static const char tank1_fmt[] =
    "{\"dtwin\":1,\"name\":\"tank1\",\"assets\":[{\"id\":\"tank\"}],\"signals\":["
    "{\"id\":\"level\",\"asset\":\"tank\",\"quantity\":\"length\",\"unit\":\"m\","
    " \"role\":\"measured\",\"noise\":{\"std\":0.01}},"
    "{\"id\":\"level_est\",\"asset\":\"tank\",\"quantity\":\"length\",\"unit\":\"m\","
    " \"role\":\"estimated\"},"
    "{\"id\":\"rate_est\",\"asset\":\"tank\",\"quantity\":\"velocity\",\"unit\":\"m/s\","
    " \"role\":\"estimated\"},"
    "{\"id\":\"valve\",\"asset\":\"tank\",\"quantity\":\"dimensionless\",\"unit\":\"1\","
    " \"role\":\"commanded\",\"limits\":{\"min\":0,\"max\":1}}],"
    "\"sources\":[{\"id\":\"plc\",\"kind\":\"memory\",\"timeout\":5,"
    "  \"mapping\":[{\"native\":\"level\",\"signal\":\"level\"}]}],"
    "\"sinks\":[{\"id\":\"k\",\"kind\":\"memory\",\"mapping\":[{\"signal\":\"valve\"}]}],"
    "\"estimator\":{\"states\":[\"level_est\",\"rate_est\"],\"A\":[[0,1],[0,0]],"
    "  \"Q\":[0.0001,0.001],\"x0\":[0,0],\"P0\":[1,1],"
    "  \"measurements\":[{\"signal\":\"level\",\"H\":{\"level_est\":1}}]},"
    "\"dispatcher\":{\"max_data_age\":5,\"safe\":{\"valve\":0}},"
    "\"bus\":{\"realm\":\"plant\",\"broker\":{\"host\":\"127.0.0.1\",\"port\":%d,"
    "  \"keepalive\":5,\"tls\":{\"ca\":\"%s/ca.crt\",\"cert\":\"%s/tank1.crt\","
    "  \"key\":\"%s/tank1.key\"}},\"reconnect\":{\"min\":0.02,\"max\":0.2},"
    "  \"beliefs\":[{\"group\":\"level\",\"states\":[\"level_est\",\"rate_est\"],\"every\":0}],"
    "  \"streams\":[{\"stream\":\"levels\",\"signals\":[\"level\"],\"batch\":1}],"
    "  \"accept\":[{\"signal\":\"valve\",\"deadline_max\":60}]},"
    "\"loop\":{\"period\":0.01}}";

/* ---- a plain client with one identity ---- */

/* Whether the payload holds word (payloads here are short JSON or binary). */
static int holds(const char *p, size_t n, const char *word)
{
    char text[512];
    if (n >= sizeof text)
        return 0;
    memcpy(text, p, n);
    text[n] = '\0';
    return strstr(text, word) != NULL;
}

typedef struct ident {
    struct mosquitto *m;
    int connected, connects, last_connack, subscribed;
    int pubacks, last_reason;
    int received; /* every message */
    int forged;   /* a payload that starts with FORGED, on any topic */
    /* tank1's topics, by kind */
    int state, ready, stopped, contract, beliefs, samples, rebirths;
    int cmd_planner, cmd_other, acks, ack_records;
    int planner_state; /* planner's own $state (its last will) */
    char last_contract[2048];
} ident;

static void id_connect(struct mosquitto *m, void *obj, int rc, int flags,
                       const mosquitto_property *p)
{
    (void)m, (void)flags, (void)p;
    ident *c = obj;
    c->last_connack = rc;
    c->connected = rc == 0;
    c->connects += rc == 0;
}

static void id_publish(struct mosquitto *m, void *obj, int mid, int reason,
                       const mosquitto_property *p)
{
    (void)m, (void)mid, (void)p;
    ident *c = obj;
    c->pubacks++;
    c->last_reason = reason;
}

static void id_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *granted,
                         const mosquitto_property *p)
{
    (void)m, (void)mid, (void)n, (void)granted, (void)p;
    ((ident *)obj)->subscribed++;
}

static void id_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg,
                       const mosquitto_property *p)
{
    (void)m, (void)p;
    ident *c = obj;
    const char *pl = msg->payload;
    size_t n = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
    c->received++;
    if (n >= 6 && memcmp(pl, "FORGED", 6) == 0) {
        c->forged++;
        return;
    }
    c->planner_state += strcmp(msg->topic, "dt/v1/plant/planner/$state") == 0;
    if (strncmp(msg->topic, T1, strlen(T1)) != 0)
        return;
    const char *rest = msg->topic + strlen(T1);
    if (strcmp(rest, "$state") == 0) {
        c->state++;
        c->ready += holds(pl, n, "\"ready\"");
        c->stopped += holds(pl, n, "\"stopped\"");
    } else if (strcmp(rest, "$contract") == 0) {
        c->contract++;
        if (n < sizeof c->last_contract) {
            memcpy(c->last_contract, pl, n);
            c->last_contract[n] = '\0';
        }
    } else if (strncmp(rest, "b/", 2) == 0) {
        c->beliefs++;
    } else if (strncmp(rest, "s/", 2) == 0) {
        c->samples++;
    } else if (strcmp(rest, "ctl/rebirth") == 0) {
        c->rebirths++;
    } else if (strcmp(rest, "cmd/valve/planner") == 0) {
        c->cmd_planner++;
    } else if (strncmp(rest, "cmd/", 4) == 0) {
        c->cmd_other++;
    } else if (strncmp(rest, "ack/", 4) == 0) {
        dt_buswire_header h;
        c->acks++;
        if (dt_buswire_decode_header(msg->payload, n, &h) == DT_BUSWIRE_OK)
            c->ack_records += (int)h.count;
    }
}

/* A client over MQTT 5 that trusts the CA and presents the certificate of
 * `cn`, with a last will on will_topic (QoS 1, retained; NULL: none);
 * connected and, with a filter, subscribed to it. */
static void id_turn(ident *c, int wait_ms);

static void id_open_will(ident *c, const dtt_broker *b, const char *client_id, const char *cn,
                         const char *filter, const char *will_topic, const char *will)
{
    memset(c, 0, sizeof *c);
    c->last_reason = -1;
    assert_int_equal(mosquitto_lib_init(), MOSQ_ERR_SUCCESS);
    c->m = mosquitto_new(client_id, true, c);
    assert_non_null(c->m);
    assert_int_equal(mosquitto_int_option(c->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5),
                     MOSQ_ERR_SUCCESS);
    char ca[300], crt[300], key[300], file[80];
    assert_non_null(dtt_broker_path(b, "ca.crt", ca, sizeof ca));
    (void)snprintf(file, sizeof file, "%s.crt", cn);
    assert_non_null(dtt_broker_path(b, file, crt, sizeof crt));
    (void)snprintf(file, sizeof file, "%s.key", cn);
    assert_non_null(dtt_broker_path(b, file, key, sizeof key));
    assert_int_equal(mosquitto_tls_set(c->m, ca, NULL, crt, key, NULL), MOSQ_ERR_SUCCESS);
    mosquitto_connect_v5_callback_set(c->m, id_connect);
    mosquitto_publish_v5_callback_set(c->m, id_publish);
    mosquitto_subscribe_v5_callback_set(c->m, id_subscribe);
    mosquitto_message_v5_callback_set(c->m, id_message);
    if (will_topic != NULL)
        assert_int_equal(mosquitto_will_set_v5(c->m, will_topic, (int)strlen(will), will, 1, true,
                                               NULL),
                         MOSQ_ERR_SUCCESS);
    assert_int_equal(mosquitto_connect_bind_v5(c->m, "127.0.0.1", b->tls_port, 30, NULL, NULL),
                     MOSQ_ERR_SUCCESS);
    for (int i = 0; i < 3000 && c->connects == 0; i++)
        id_turn(c, 10);
    if (c->connects == 0) {
        dtt_broker_dump_log(b, "broker");
        fail_msg("%s: no CONNACK (last reason %d)", cn, c->last_connack);
    }
    if (filter != NULL) {
        assert_int_equal(mosquitto_subscribe_v5(c->m, NULL, filter, 1, 0, NULL), MOSQ_ERR_SUCCESS);
        for (int i = 0; i < 3000 && c->subscribed == 0; i++)
            id_turn(c, 10);
        assert_int_equal(c->subscribed, 1);
    }
}

static void id_open(ident *c, const dtt_broker *b, const char *client_id, const char *cn,
                    const char *filter)
{
    id_open_will(c, b, client_id, cn, filter, NULL, NULL);
}

static void id_close(ident *c)
{
    mosquitto_destroy(c->m);
    mosquitto_lib_cleanup();
}

/* One turn of the client's loop (test_broker_tls.c explains the loop_read
 * on POLLOUT before the CONNACK: libmosquitto 2.0.11's TLS handshake). */
static void id_turn(ident *c, int wait_ms)
{
    int fd = mosquitto_socket(c->m);
    if (fd < 0) {
        dtt_sleep_ms(wait_ms);
        return;
    }
    int handshake = !c->connected && c->last_connack == 0;
    struct pollfd p = {fd, (short)(POLLIN | (mosquitto_want_write(c->m) ? POLLOUT : 0)), 0};
    if (poll(&p, 1, wait_ms) > 0) {
        if ((p.revents & (POLLIN | POLLHUP | POLLERR)) || (handshake && (p.revents & POLLOUT))) {
            /* loop_read reads one packet: read until the socket is dry
             * (TLS may hold a decrypted packet poll cannot see), or a
             * subscriber of the whole realm falls behind tank1 */
            for (int k = 0; k < 256; k++) {
                errno = 0;
                if (mosquitto_loop_read(c->m, 1) != MOSQ_ERR_SUCCESS ||
                    mosquitto_socket(c->m) < 0 || errno == EAGAIN || errno == EWOULDBLOCK ||
                    !c->connected)
                    break;
            }
        }
        if (mosquitto_socket(c->m) >= 0 && mosquitto_want_write(c->m))
            (void)mosquitto_loop_write(c->m, 1);
    }
    (void)mosquitto_loop_misc(c->m);
}

/* ---- the rig: the broker, tank1, the other identities ---- */

enum { PLANNER, OPS, TANK2, INTRUDER, N_IDS };
static const char *const id_cn[N_IDS] = {"planner", "ops", "tank2", "intruder"};

typedef struct rig {
    dtt_broker b;
    dt_twin *t;
    ident id[N_IDS];
    double level;
} rig;

/* One turn of everything: tank1's ios (at most 10 ms of waiting), a fresh
 * level sample and a step (a belief and a sample each: "every": 0, batch 1),
 * then each client's ready input and output. */
static void rig_turn(rig *r)
{
    if (r->t != NULL) {
        dt_twin *one[1] = {r->t};
        turn(one, 1);
        r->level += 0.001;
        (void)dt_memory_source_push(dt_twin_io(r->t), 0, "level", mono(), r->level);
        assert_int_equal(dt_twin_step(r->t, mono()), 0);
    }
    for (int i = 0; i < N_IDS; i++)
        id_turn(&r->id[i], r->t != NULL ? 0 : 2);
}

/* What a failing wait shows: the broker's log, every counter. */
static void rig_dump(const rig *r)
{
    dtt_broker_dump_log(&r->b, "broker");
    for (int k = 0; k < N_IDS; k++) {
        const ident *c = &r->id[k];
        (void)fprintf(stderr,
                      "%s: received %d forged %d state %d ready %d stopped %d contract %d "
                      "beliefs %d samples %d rebirths %d cmd_planner %d cmd_other %d acks %d "
                      "ack_records %d\n",
                      id_cn[k], c->received, c->forged, c->state, c->ready, c->stopped,
                      c->contract, c->beliefs, c->samples, c->rebirths, c->cmd_planner,
                      c->cmd_other, c->acks, c->ack_records);
    }
    if (r->t != NULL) {
        dt_counter cs[96];
        size_t n = dt_io_link_counters(dt_twin_io(r->t), 0, cs, 96);
        for (size_t i = 0; i < n && i < 96; i++)
            if (cs[i].value != 0)
                (void)fprintf(stderr, "tank1: %s %llu\n", cs[i].name,
                              (unsigned long long)cs[i].value);
    }
}

/* Turns until cond holds; the bound (tens of seconds on a loaded machine)
 * only turns a hang into a failure. */
#define RIG_UNTIL(r, cond)                                                                 \
    do {                                                                                   \
        for (int i_ = 0; i_ < 3000 && !(cond); i_++)                                       \
            rig_turn(r);                                                                   \
        if (!(cond)) {                                                                     \
            rig_dump(r);                                                                   \
            fail_msg("not reached: %s", #cond);                                            \
        }                                                                                  \
    } while (0)

/* Publishes on topic as client k and, at QoS 1, turns until its PUBACK;
 * the PUBACK's reason code (-1 at QoS 0). */
static int publish(rig *r, int k, const char *topic, const void *p, size_t n, int qos,
                   int retain)
{
    ident *c = &r->id[k];
    int want = c->pubacks + 1;
    assert_int_equal(mosquitto_publish_v5(c->m, NULL, topic, (int)n, p, qos, retain != 0, NULL),
                     MOSQ_ERR_SUCCESS);
    if (qos == 0)
        return -1;
    RIG_UNTIL(r, c->pubacks >= want);
    return c->last_reason;
}

/* The same forbidden message twice: at QoS 0 (nothing answers) and at QoS
 * 1, whose PUBACK must say "not authorized". The PUBACK also orders: the
 * broker has decided both when it comes. */
static void forbidden(rig *r, int k, const char *topic, const void *p, size_t n, int retain)
{
    (void)publish(r, k, topic, p, n, 0, retain);
    int reason = publish(r, k, topic, p, n, 1, retain);
    if (reason != MQTT_RC_NOT_AUTHORIZED)
        fail_msg("%s publishing %s: PUBACK reason 0x%x, not 0x87", id_cn[k], topic, reason);
}

/* Each line of the shipped ACL is one mosquitto 2.0 parses as meant: a
 * comment, a blank line, "user NAME", or "topic read|write TOPIC", with no
 * trailing blank (which would become part of the name or topic) and no
 * "pattern" (which would apply to every user). */
static void check_acl_lines(const char *acl)
{
    char line[512];
    for (const char *p = acl; *p != '\0';) {
        const char *end = strchr(p, '\n');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        assert_true(n < sizeof line);
        memcpy(line, p, n);
        line[n] = '\0';
        p += n + (end != NULL);
        if (n == 0 || line[0] == '#')
            continue;
        if (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r')
            fail_msg("acl: trailing blank in \"%s\"", line);
        if (strncmp(line, "user ", 5) == 0 && strchr(line + 5, ' ') == NULL)
            continue;
        if ((strncmp(line, "topic read ", 11) == 0 || strncmp(line, "topic write ", 12) == 0) &&
            strchr(strchr(line + 6, ' ') + 1, ' ') == NULL)
            continue;
        fail_msg("acl: a line this test does not expect: \"%s\"", line);
    }
}

static uint64_t refusals(dt_twin *t)
{
    static const char *const names[] = {
        "bus.cmd_malformed",    "bus.cmd_bad_records",    "bus.cmd_retained",
        "bus.cmd_bad_topic",    "bus.cmd_not_accepted",   "bus.cmd_issuers_full",
        "bus.cmd_stale_epoch",  "bus.cmd_future_epoch",   "bus.cmd_duplicate",
        "bus.cmd_seq_jump",     "bus.cmd_record_order",   "bus.cmd_clock_jump",
        "bus.cmd_deadline_too_far", "bus.cmd_expired",    "bus.cmd_queue_full",
        "bus.cmd_refused"};
    uint64_t sum = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        sum += bus_counter(t, names[i]);
    return sum;
}

static void rig_start(rig *r)
{
    memset(r, 0, sizeof *r);
    assert_int_equal(dtt_broker_mkdir(&r->b), 0);
    /* the shipped script makes the CA, the broker's and the clients'
     * certificates; a broker started as root reads them as the user
     * mosquitto, so the keys are made readable here (never in a real
     * deployment: the script leaves them mode 600) */
    static char script[] = ACL_DIR "/make-certs.sh";
    char *argv[] = {"sh", script, r->b.dir, "IP:127.0.0.1", "tank1", "tank2", "planner",
                    "ops", "intruder", NULL};
    if (dtt_run(r->b.dir, argv) != 0) {
        char log[300];
        (void)dtt_broker_path(&r->b, "tools.log", log, sizeof log);
        fail_msg("make-certs.sh failed: see %s", log);
    }
    const char *keys[] = {"server.key", "tank1.key",  "tank2.key",
                          "planner.key", "ops.key", "intruder.key"};
    for (size_t i = 0; i < 6; i++) {
        char path[300];
        assert_non_null(dtt_broker_path(&r->b, keys[i], path, sizeof path));
        assert_int_equal(chmod(path, 0644), 0);
    }
    static char acl[16384];
    assert_true(dtt_read_file(ACL_DIR "/acl", acl, sizeof acl) > 0);
    check_acl_lines(acl);
    if (dtt_broker_start_shipped(&r->b, ACL_DIR "/mosquitto.conf", acl) != 0) {
        dtt_broker_dump_log(&r->b, "broker");
        fail_msg("the broker did not start with the shipped configuration");
    }
    /* everyone subscribes to everything of the realm: what each receives
     * is what the ACL lets it read */
    id_open(&r->id[PLANNER], &r->b, "planner", "planner", "dt/v1/plant/#");
    id_open(&r->id[OPS], &r->b, "ops-console", "ops", "dt/v1/plant/#");
    id_open(&r->id[TANK2], &r->b, "dt-plant-tank2", "tank2", "dt/v1/plant/#");
    id_open(&r->id[INTRUDER], &r->b, "dt-plant-tank1-x", "intruder", "dt/v1/#");
}

static void rig_stop(rig *r)
{
    if (r->t != NULL)
        dt_twin_destroy(r->t);
    for (int k = 0; k < N_IDS; k++)
        id_close(&r->id[k]);
    dtt_broker_stop(&r->b);
}

static void test_acl_planes(void **state)
{
    (void)state;
    rig *r = calloc(1, sizeof *r);
    assert_non_null(r);
    rig_start(r);
    ident *planner = &r->id[PLANNER], *ops = &r->id[OPS], *tank2 = &r->id[TANK2],
          *intruder = &r->id[INTRUDER];

    char doc[4096];
    (void)snprintf(doc, sizeof doc, tank1_fmt, r->b.tls_port, r->b.dir, r->b.dir, r->b.dir);
    r->t = load(doc, NULL);
    assert_int_equal(dt_twin_start(r->t, mono()), 0);

    /* (a) tank1 writes its own data topics: ops reads them all, tank2 (a
     * reader of tank1) too, planner its state and contract */
    RIG_UNTIL(r, ops->ready >= 1 && ops->contract >= 1 && ops->beliefs >= 5 &&
                     ops->samples >= 5 && tank2->ready >= 1 && tank2->contract >= 1 &&
                     tank2->beliefs >= 5 && tank2->samples >= 5 && planner->ready >= 1 &&
                     planner->contract >= 1);
    assert_non_null(strstr(ops->last_contract, "\"accept\""));
    assert_int_equal(bus_counter(r->t, "mqtt.connects"), 1);

    /* (e) ops asks for a rebirth: taken, and tank1 announces itself again
     * (the first rebirth of the twin: never held back by its once a
     * second rule) */
    int contracts = ops->contract, readies = ops->ready;
    assert_int_equal(publish(r, OPS, T1 "ctl/rebirth", "1", 1, 1, 0), 0);
    RIG_UNTIL(r, bus_counter(r->t, "bus.rebirths") == 1 && ops->contract > contracts &&
                     ops->ready > readies);

    /* (b) planner commands tank1 in its own name: each taken and acked */
    uint8_t buf[256];
    const uint32_t E = wall_epoch_now();
    for (uint64_t seq = 1; seq <= 3; seq++) {
        size_t n = command_msg(buf, sizeof buf, E, seq, 100 + seq, 0.25, 10 * DT_NS_PER_S);
        assert_int_equal(publish(r, PLANNER, T1 "cmd/valve/planner", buf, n, 1, 0), 0);
    }
    RIG_UNTIL(r, bus_counter(r->t, "bus.cmd_submitted") == 3 && planner->ack_records >= 3);

    /* (c) commands from everyone else, and from planner in another's name:
     * each a command tank1 would take (a new issuer's first message, or
     * planner's next), each refused by the broker */
    const uint64_t received = bus_counter(r->t, "mqtt.received");
    static const struct {
        int who;
        const char *topic;
        uint64_t seq;
    } cmds[] = {
        {TANK2, T1 "cmd/valve/tank2", 1},       {TANK2, T1 "cmd/valve/planner", 4},
        {OPS, T1 "cmd/valve/ops", 1},           {OPS, T1 "cmd/valve/planner", 4},
        {PLANNER, T1 "cmd/valve/ops", 1},       {PLANNER, T1 "cmd/valve/tank2", 1},
        {INTRUDER, T1 "cmd/valve/intruder", 1}, {INTRUDER, T1 "cmd/valve/planner", 4},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        size_t n = command_msg(buf, sizeof buf, E, cmds[i].seq, 200 + i, 0.75, 10 * DT_NS_PER_S);
        forbidden(r, cmds[i].who, cmds[i].topic, buf, n, 0);
    }
    /* planner's next command, after every refusal was decided: the only
     * message tank1's connection received since, the only command taken */
    size_t n = command_msg(buf, sizeof buf, E, 4, 104, 0.25, 10 * DT_NS_PER_S);
    assert_int_equal(publish(r, PLANNER, T1 "cmd/valve/planner", buf, n, 1, 0), 0);
    RIG_UNTIL(r, bus_counter(r->t, "bus.cmd_submitted") >= 4 && planner->ack_records >= 4 &&
                     ops->cmd_planner >= 4);
    assert_int_equal(bus_counter(r->t, "mqtt.received") - received, 1);
    assert_int_equal(bus_counter(r->t, "bus.cmd_messages"), 4);
    assert_int_equal(bus_counter(r->t, "bus.cmd_records"), 4);
    assert_int_equal(bus_counter(r->t, "bus.cmd_submitted"), 4);
    assert_int_equal(refusals(r->t), 0);
    /* ops reads every command of the realm: planner's four, nothing else */
    assert_int_equal(ops->cmd_planner, 4);
    assert_int_equal(ops->cmd_other, 0);

    /* (d) tank1's data topics written by anyone else: refused, at QoS 0
     * and 1, retained or not */
    static const char *const data[] = {"$state", "$contract", "b/level", "s/levels", "b/x",
                                       "s/x"};
    static const int writers[] = {PLANNER, OPS, TANK2, INTRUDER};
    for (size_t w = 0; w < 4; w++) {
        for (size_t i = 0; i < 6; i++) {
            char topic[96];
            (void)snprintf(topic, sizeof topic, T1 "%s", data[i]);
            forbidden(r, writers[w], topic, "FORGED", 6, data[i][0] == '$');
        }
    }
    /* ... and another twin's: tank2's state is tank2's own connection's */
    forbidden(r, PLANNER, "dt/v1/plant/tank2/$state", "FORGED", 6, 1);
    forbidden(r, OPS, "dt/v1/plant/tank2/b/level", "FORGED", 6, 0);

    /* tank1 stops cleanly: its "stopped" is the last message of tank1 that
     * each reader of its state gets, queued after anything the broker took
     * before */
    assert_int_equal(dt_twin_stop(r->t), 0);
    assert_int_equal(bus_counter(r->t, "mqtt.denied"), 0); /* tank1 may write all it did */
    assert_int_equal(bus_counter(r->t, "mqtt.connect_refused"), 0);
    dt_twin_destroy(r->t);
    r->t = NULL;
    RIG_UNTIL(r, ops->stopped >= 1 && tank2->stopped >= 1 && planner->stopped >= 1);

    (void)printf("observation: ops read %d messages (%d states, %d contracts, %d beliefs, "
                 "%d sample batches, %d commands, %d acks); tank2 %d; planner %d; intruder %d\n",
           ops->received, ops->state, ops->contract, ops->beliefs, ops->samples,
           ops->cmd_planner, ops->acks, tank2->received, planner->received, intruder->received);
    /* nothing forged reached anyone */
    for (int k = 0; k < N_IDS; k++)
        if (r->id[k].forged != 0)
            fail_msg("%s read %d forged messages", id_cn[k], r->id[k].forged);
    /* what each identity may read: tank2 tank1's state, contract, beliefs
     * and samples, never its commands or acks; planner tank1's state,
     * contract and its own acks, never beliefs or samples (or the commands
     * themselves); intruder nothing (no message orders this one: it has
     * none to wait for) */
    assert_int_equal(tank2->cmd_planner + tank2->cmd_other + tank2->acks, 0);
    assert_int_equal(planner->beliefs + planner->samples, 0);
    assert_int_equal(planner->cmd_planner + planner->cmd_other + planner->rebirths, 0);
    assert_int_equal(planner->ack_records, 4);
    assert_int_equal(intruder->received, 0);

    /* a late reader gets tank1's retained contract, not a forged one */
    ident late;
    id_open(&late, &r->b, "ops-late", "ops", T1 "$contract");
    for (int i = 0; i < 3000 && late.contract == 0 && late.forged == 0; i++)
        id_turn(&late, 10);
    assert_int_equal(late.forged, 0);
    assert_int_equal(late.contract, 1);
    assert_non_null(strstr(late.last_contract, "\"dtwin_contract\""));
    id_close(&late);

    rig_stop(r);
    free(r);
}

/* Whether the broker's log has a line holding both a and b. */
static int log_has(const dtt_broker *b, const char *a, const char *c)
{
    FILE *f = fopen(b->log, "r");
    if (f == NULL)
        return 0;
    char line[512];
    int found = 0;
    while (!found && fgets(line, sizeof line, f) != NULL)
        found = strstr(line, a) != NULL && strstr(line, c) != NULL;
    (void)fclose(f);
    return found;
}

/* A last will is a publish too: mosquitto checks it against the ACL when
 * it would send it. tank2's identity with a will that says tank1 is lost
 * (retained, as a twin's own will) loses its connection: the will is
 * dropped. planner's identity with a will on its own $state, lost after
 * it: the will comes, and ops, who reads both topics, gets it and never
 * tank2's. The broker handled tank2's lost connection (and would have
 * queued its will to ops) before planner's closed. */
static void test_acl_forged_will(void **state)
{
    (void)state;
    rig *r = calloc(1, sizeof *r);
    assert_non_null(r);
    rig_start(r);
    ident *ops = &r->id[OPS];
    ident impostor, control;
    id_open_will(&impostor, &r->b, "forger-will", "tank2", NULL, T1 "$state",
                 "FORGED {\"state\":\"lost\",\"epoch\":1,\"contract\":0}");
    id_open_will(&control, &r->b, "planner-will", "planner", NULL,
                 "dt/v1/plant/planner/$state", "{\"state\":\"lost\"}");
    /* gone without a DISCONNECT: the broker sends (or drops) the will */
    mosquitto_destroy(impostor.m);
    mosquitto_lib_cleanup();
    RIG_UNTIL(r, log_has(&r->b, "Client forger-will ", "closed its connection"));
    mosquitto_destroy(control.m);
    mosquitto_lib_cleanup();
    RIG_UNTIL(r, ops->planner_state >= 1);
    assert_int_equal(ops->planner_state, 1);
    assert_int_equal(ops->forged, 0);
    assert_int_equal(ops->state, 0);
    rig_stop(r);
    free(r);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_acl_planes),
    cmocka_unit_test(test_acl_forged_will),
};

DTT_MAIN(tests)
