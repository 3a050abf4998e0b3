/* The trucks' descriptions and the link proxy's control connection. */
#define _POSIX_C_SOURCE 200809L
#include "platoon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>


/* ---- descriptions ---- */

typedef struct sb {
    char *p;
    size_t cap, len;
    int overflow;
} sb;

static void put(sb *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= b->cap - b->len)
        b->overflow = 1;
    else
        b->len += (size_t)n;
}

static void signal_json(sb *b, const char *id, const char *q, const char *unit, const char *role,
                        double std)
{
    put(b, "{\"id\":\"%s\",\"asset\":\"truck\",\"quantity\":\"%s\",\"unit\":\"%s\",\"role\":\"%s\"", id,
        q, unit, role);
    if (std > 0)
        put(b, ",\"noise\":{\"std\":%g}", std);
    put(b, "},");
}

/* The model every truck's filter shares: own speed and acceleration, the gap
 * to what is ahead, its speed and acceleration, and (followers) the hazard's
 * speed and acceleration as the lead sees it. An acceleration is a random
 * walk (white jerk): a belief aged with it keeps its acceleration and moves
 * its speed on, as a braking truck does. The jerk's intensity is a truck's
 * (QA_TRUCK, (m/s3)^2 s) or a braking obstacle's (QA_HAZARD): generous,
 * and the consistency check measures whether it is enough. */
#define QA_TRUCK 0.5
#define QA_HAZARD 30.0

int pl_describe(char *buf, size_t cap, int i, int own, const char *realm, int port)
{
    sb b = {buf, cap, 0, 0};
    int follower = i > 0, remote = follower && !own;
    size_t n = remote ? 7 : 5;
    put(&b, "{\"dtwin\":1,\"name\":\"truck%d%s\",\"assets\":[{\"id\":\"truck\"}],\"signals\":[", i,
        own ? "-own" : "");
    signal_json(&b, "v", "velocity", "m/s", "measured", 0.05);
    signal_json(&b, "acc", "acceleration", "m/s2", "measured", 0.15);
    signal_json(&b, "gap", "length", "m", "measured", 0.25);
    signal_json(&b, "rr", "velocity", "m/s", "measured", 0.1);
    if (remote) {
        signal_json(&b, "p_v", "velocity", "m/s", "measured", 1);
        signal_json(&b, "p_a", "acceleration", "m/s2", "measured", 1);
        signal_json(&b, "h_v", "velocity", "m/s", "measured", 1);
        signal_json(&b, "h_a", "acceleration", "m/s2", "measured", 1);
    }
    static const char *const st[7] = {"v_est", "a_est", "g_est", "pv_est", "pa_est", "hv_est", "ha_est"};
    static const char *const sq[7] = {"velocity", "acceleration", "length", "velocity",
                                      "acceleration", "velocity", "acceleration"};
    static const char *const su[7] = {"m/s", "m/s2", "m", "m/s", "m/s2", "m/s", "m/s2"};
    for (size_t k = 0; k < n; k++)
        signal_json(&b, st[k], sq[k], su[k], "estimated", 0);
    if (!own)
        put(&b, "{\"id\":\"u\",\"asset\":\"truck\",\"quantity\":\"acceleration\",\"unit\":\"m/s2\","
                "\"role\":\"commanded\",\"limits\":{\"min\":-8,\"max\":2.5}}");
    else
        b.len--; /* the last comma */
    put(&b, "],\"sources\":[{\"id\":\"sensors\",\"kind\":\"memory\",\"timeout\":1,\"mapping\":["
            "{\"native\":\"v\",\"signal\":\"v\"},{\"native\":\"acc\",\"signal\":\"acc\"},"
            "{\"native\":\"gap\",\"signal\":\"gap\"},{\"native\":\"rr\",\"signal\":\"rr\"}]}");
    if (remote) {
        /* An estimated clock learns the offset plus the link's fastest
         * transit (one-way times cannot tell them apart): it learns on the
         * nominal link (the first T_LINK s, 8 windows of 1 s) and keeps 64
         * windows, so the latency added later shows as age; the fit still
         * starts to read part of a slower link as skew (at most 1 %), which
         * is why a run is short (docs/examples.md) */
        const char *clk = "\"clock\":{\"mode\":\"estimate\",\"window\":1,\"windows\":64},\"timeout\":2";
        put(&b,
            ",{\"id\":\"pred\",\"kind\":\"twin\",\"twin\":\"truck%d\",\"belief\":\"motion\",%s,"
            "\"criterion\":\"det\",\"mapping\":[{\"native\":\"v_est\",\"signal\":\"p_v\",\"unit\":\"m/s\"},"
            "{\"native\":\"a_est\",\"signal\":\"p_a\",\"unit\":\"m/s2\"}]}",
            i - 1, clk);
        put(&b,
            ",{\"id\":\"lead\",\"kind\":\"twin\",\"twin\":\"truck0\",\"belief\":\"hazard\",%s,"
            "\"mapping\":[{\"native\":\"pv_est\",\"signal\":\"h_v\",\"unit\":\"m/s\"},"
            "{\"native\":\"pa_est\",\"signal\":\"h_a\",\"unit\":\"m/s2\"}]}",
            clk);
    }
    put(&b, "],");
    if (!own)
        put(&b, "\"sinks\":[{\"id\":\"drive\",\"kind\":\"memory\",\"mapping\":[{\"signal\":\"u\","
                "\"native\":\"u\"}]}],");
    /* A: v' = a, a' = 0 (+ noise), g' = pv - v, pv' = pa, pa' = 0, hv' = ha, ha' = 0 */
    double A[7][7] = {{0}};
    A[0][1] = 1;
    A[2][3] = 1;
    A[2][0] = -1;
    A[3][4] = 1;
    A[5][6] = 1;
    put(&b, "\"estimator\":{\"states\":[");
    for (size_t k = 0; k < n; k++)
        put(&b, "%s\"%s\"", k ? "," : "", st[k]);
    put(&b, "],\"A\":[");
    for (size_t r = 0; r < n; r++) {
        put(&b, "%s[", r ? "," : "");
        for (size_t c = 0; c < n; c++)
            put(&b, "%s%g", c ? "," : "", A[r][c]);
        put(&b, "]");
    }
    const double q[7] = {0.01, QA_TRUCK, 0.01, 0.01, i == 0 ? QA_HAZARD : QA_TRUCK, 0.01, QA_HAZARD};
    static const double x0[7] = {22, 0, 18.2, 22, 0, 22, 0};
    static const double p0[7] = {1, 1, 4, 1, 1, 4, 4};
    put(&b, "],\"Q\":[");
    for (size_t k = 0; k < n; k++)
        put(&b, "%s%g", k ? "," : "", q[k]);
    put(&b, "],\"x0\":[");
    for (size_t k = 0; k < n; k++)
        put(&b, "%s%g", k ? "," : "", i == 0 && k == 2 ? 38.0 : x0[k]);
    put(&b, "],\"P0\":[");
    for (size_t k = 0; k < n; k++)
        put(&b, "%s%g", k ? "," : "", p0[k]);
    put(&b, "],\"measurements\":[{\"signal\":\"v\",\"H\":{\"v_est\":1}},"
            "{\"signal\":\"acc\",\"H\":{\"a_est\":1}},{\"signal\":\"gap\",\"H\":{\"g_est\":1}},"
            "{\"signal\":\"rr\",\"H\":{\"pv_est\":1,\"v_est\":-1}}");
    if (remote)
        put(&b, ",{\"signal\":\"p_v\",\"H\":{\"pv_est\":1}},{\"signal\":\"p_a\",\"H\":{\"pa_est\":1}},"
                "{\"signal\":\"h_v\",\"H\":{\"hv_est\":1}},{\"signal\":\"h_a\",\"H\":{\"ha_est\":1}}");
    put(&b, "]},\"loop\":{\"period\":%g}", FRAME_S);
    if (!own) {
        /* safety in the dispatcher: the command's hard limits (the signal's),
         * a jerk limit, and a braking safe state when its own data is old */
        put(&b, ",\"controllers\":[{\"id\":\"gap\",\"kind\":\"callback\"}],"
                "\"dispatcher\":{\"safe\":{\"u\":-3},\"rate_limits\":{\"u\":40},"
                "\"max_data_age\":0.5}");
        put(&b,
            ",\"bus\":{\"realm\":\"%s\",\"broker\":{\"host\":\"127.0.0.1\",\"port\":%d,"
            "\"tls\":\"none\",\"keepalive\":5},\"reconnect\":{\"min\":0.05,\"max\":0.5},"
            "\"beliefs\":[{\"group\":\"motion\",\"states\":[\"v_est\",\"a_est\"],\"every\":0.1}",
            realm, port);
        if (i == 0)
            put(&b, ",{\"group\":\"hazard\",\"states\":[\"pv_est\",\"pa_est\"],\"every\":0.1}");
        put(&b, "]}");
    }
    put(&b, "}");
    return b.overflow ? -1 : 0;
}

/* ---- the link proxy ---- */

/* Sends one command to linkproxy.py's control port and waits (at most 5 s)
 * for its `ok` answer. */
int pl_proxy_command(int port, const char *line)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char ans[512];
    size_t got = 0;
    int rc = -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        write(fd, line, strlen(line)) == (ssize_t)strlen(line) && write(fd, "\n", 1) == 1) {
        while (got < sizeof ans - 1) {
            ssize_t r = read(fd, ans + got, sizeof ans - 1 - got);
            if (r <= 0)
                break;
            got += (size_t)r;
            ans[got] = '\0';
            if (strchr(ans, '\n') != NULL) {
                rc = strncmp(ans, "ok", 2) == 0 ? 0 : -1;
                break;
            }
        }
    }
    if (rc != 0)
        fprintf(stderr, "platoon: linkproxy did not take '%s' (%.*s)\n", line, (int)got, ans);
    close(fd);
    return rc;
}
