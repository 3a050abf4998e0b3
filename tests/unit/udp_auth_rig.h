/* A key store with two MAC keys ("link", "other") in a temporary directory,
 * and one UDP source of a model whose description names that store, polled
 * by the test itself (no twin): what the tests of authenticated frames share
 * (test_udp_auth, test_redteam_keys). The including file defines
 * _DEFAULT_SOURCE and includes test_util.h and dtwin/dtwin.h first. */
#ifndef DTWIN_TEST_UDP_AUTH_RIG_H
#define DTWIN_TEST_UDP_AUTH_RIG_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* the source_id of the rig's source */
#define ID 42

typedef struct keydir {
    char path[64];
    dt_keystore *ks;
    dt_key *link, *other;
} keydir;

static void keys_make(keydir *k)
{
    memset(k, 0, sizeof *k);
    snprintf(k->path, sizeof k->path, "/tmp/dtt-udpauth-XXXXXX");
    assert_non_null(mkdtemp(k->path));
    assert_int_equal(dt_key_generate(k->path, "link", DT_KEY_MAC, NULL), 0);
    assert_int_equal(dt_key_generate(k->path, "other", DT_KEY_MAC, NULL), 0);
    assert_int_equal(dt_keystore_file(k->path, &k->ks, NULL), 0);
    assert_int_equal(dt_key_load(k->ks, "link", DT_KEY_MAC, &k->link, NULL), 0);
    assert_int_equal(dt_key_load(k->ks, "other", DT_KEY_MAC, &k->other, NULL), 0);
}

static void keys_rm(keydir *k)
{
    dt_key_free(k->link);
    dt_key_free(k->other);
    dt_keystore_close(k->ks);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", k->path);
    assert_int_equal(system(cmd), 0);
}

typedef struct rig {
    dt_model *model;
    dt_ingest *ing;
    dt_io *io;
    dt_diag diag;
    int rc, sock;
    struct sockaddr_in to;
    dt_time now;
    uint64_t sent;
} rig;

/* A udp source with the key store in `dir` and the source's extra keys
 * (each starting with a comma); r->rc and r->diag say how loading went. A
 * keyed source ("auth":"mac") whose keys name neither "replay_state" nor
 * "replay_reserve" keeps its window in DIR/net.replay (the key store's
 * directory: 0700, this user's), so that two rigs in a row on one store are
 * a twin and its restart. */
static void rig_open(rig *r, const char *dir, const char *keys)
{
    memset(r, 0, sizeof *r);
    r->sock = -1;
    char extra[2048];
    if (strstr(keys, "\"auth\":\"mac\"") != NULL && strstr(keys, "\"replay_") == NULL)
        snprintf(extra, sizeof extra, "%s,\"replay_state\":\"%s/net.replay\"", keys, dir);
    else
        snprintf(extra, sizeof extra, "%s", keys);
    keys = extra;
    char doc[4096];
    snprintf(doc, sizeof doc,
             "{\"dtwin\":1,\"name\":\"auth\",\"assets\":[{\"id\":\"p\"}],\"signals\":["
             "{\"id\":\"level\",\"asset\":\"p\",\"quantity\":\"length\",\"unit\":\"m\","
             "\"role\":\"measured\",\"limits\":{\"min\":-100,\"max\":100}}],"
             "\"keys\":{\"dir\":\"%s\"},"
             "\"sources\":[{\"id\":\"net\",\"kind\":\"udp\",\"port\":0,\"source_id\":%d,"
             "\"timeout\":100,\"mapping\":[{\"channel\":1,\"signal\":\"level\"}]%s}]}",
             dir, ID, keys);
    dt_model_options o = DT_MODEL_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    assert_int_equal(dt_model_load_json(doc, strlen(doc), &o, &r->model, &r->diag), 0);
    dt_ingest_config ic = DT_INGEST_CONFIG_INIT;
    ic.logger = dt_logger_silent();
    assert_int_equal(dt_ingest_create(r->model, &ic, &r->ing), 0);
    r->rc = dt_io_create(r->model, r->ing, NULL, "", NULL, dt_logger_silent(), &r->io, &r->diag);
    if (r->rc != 0)
        return;
    assert_int_equal(dt_ingest_start(r->ing, 0), 0);
    dt_udp_stats st;
    assert_int_equal(dt_udp_source_stats(r->io, 0, &st), 0);
    r->sock = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(r->sock >= 0);
    r->to.sin_family = AF_INET;
    r->to.sin_port = htons(st.port);
    r->to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

static void rig_close(rig *r)
{
    if (r->sock >= 0)
        close(r->sock);
    dt_io_destroy(r->io);
    dt_ingest_destroy(r->ing);
    dt_model_destroy(r->model);
}

static dt_udp_stats stats(rig *r)
{
    dt_udp_stats st;
    assert_int_equal(dt_udp_source_stats(r->io, 0, &st), 0);
    return st;
}

/* One poll at the rig's time, then ingest drains its ring into `got` (the
 * released values, at most max; NULL: none kept), as a cycle would. */
static size_t cycle(rig *r, double *got, size_t max)
{
    assert_int_equal(dt_io_poll(r->io, r->now), 0);
    dt_ingest_poll(r->ing, r->now);
    dt_sample out[64];
    size_t n = 0, k;
    while ((k = dt_ingest_release(r->ing, out, 64)) > 0)
        for (size_t i = 0; i < k; i++)
            if (got != NULL && n < max)
                got[n++] = out[i].value;
    return n;
}

/* Polls until every datagram sent reached the reader (a bound, not a timing). */
static void settle(rig *r)
{
    for (int k = 0; k < 4000; k++) {
        cycle(r, NULL, 0);
        dt_udp_stats st = stats(r);
        if (st.datagrams + st.recv_errors + st.kernel_dropped >= r->sent)
            return;
        nanosleep(&(struct timespec){0, 500000}, NULL);
    }
    fail_msg("datagrams did not arrive: %llu sent", (unsigned long long)r->sent);
}

static void send_from(rig *r, int sock, const uint8_t *b, size_t n)
{
    assert_true(sendto(sock, b, n, 0, (const struct sockaddr *)&r->to, sizeof r->to) ==
                (ssize_t)n);
    r->sent++;
}

static void send_raw(rig *r, const uint8_t *b, size_t n)
{
    send_from(r, r->sock, b, n);
}

#endif
