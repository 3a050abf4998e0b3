/* The twin of bench_society: a node of a sensor network that estimates the
 * wind it shares with its neighbours. Six states: the wind's three
 * components and their rates (a constant-velocity model, A = [0 I; 0 0]);
 * its own anemometer measures the three components (a memory source the
 * host feeds at 100 Hz); it publishes the six states as the belief group
 * "wind" at most every 0.1 s and reads the same group of its two
 * neighbours in the ring (twin sources "left" and "right"), whose six
 * states measure its own six (H = 1 each): remote beliefs about the same
 * wind, fused by covariance intersection (they share information with its
 * own: each node fuses its neighbours', which fused theirs). All twins run
 * in one process on one time base, so the sources' clock is "fixed". */
#ifndef DTWIN_BENCH_SOCIETY_DESC_H
#define DTWIN_BENCH_SOCIETY_DESC_H

#include <stdio.h>

#define SOC_STATES "\"u_est\",\"v_est\",\"w_est\",\"du_est\",\"dv_est\",\"dw_est\""

/* Node i's anemometer measures the wind's component i % 3 better than the
 * other two (std 0.1 against 0.4 m/s): neighbours know different things
 * well, so covariance intersection gives their beliefs weight. */
static double soc_noise_std(int i, int axis) { return axis == i % 3 ? 0.1 : 0.4; }

/* A measured signal (noise std > 0) or an estimated one (std 0). */
static int soc_sig(char *b, size_t cap, const char *id, const char *q, const char *unit,
                   double std)
{
    char noise[48] = "";
    if (std > 0)
        snprintf(noise, sizeof noise, ",\"noise\":{\"std\":%g}", std);
    return snprintf(b, cap,
                    "{\"id\":\"%s\",\"asset\":\"site\",\"quantity\":\"%s\",\"unit\":\"%s\","
                    "\"role\":\"%s\"%s},",
                    id, q, unit, std > 0 ? "measured" : "estimated", noise);
}

/* A twin source reading neighbour `peer`'s group into the signals side_*. */
static int soc_src(char *b, size_t cap, const char *side, int peer)
{
    static const char *const st[6] = {"u", "v", "w", "du", "dv", "dw"};
    int n = snprintf(b, cap,
                     ",{\"id\":\"%s\",\"kind\":\"twin\",\"twin\":\"n%d\",\"belief\":\"wind\","
                     "\"clock\":{\"mode\":\"fixed\"},\"timeout\":5,\"mapping\":[",
                     side, peer);
    for (int k = 0; k < 6 && n > 0 && (size_t)n < cap; k++)
        n += snprintf(b + n, cap - (size_t)n, "%s{\"native\":\"%s_est\",\"signal\":\"%s_%s\"}",
                      k ? "," : "", st[k], side, st[k]);
    if (n > 0 && (size_t)n < cap)
        n += snprintf(b + n, cap - (size_t)n, "]}");
    return n;
}

/* The description of node i of n (n >= 3) on the broker at port, under
 * realm. Returns its length, or -1 when cap is too small. */
static int soc_desc(char *b, size_t cap, int i, int n, int port, const char *realm)
{
    static const char *const st[6] = {"u", "v", "w", "du", "dv", "dw"};
    size_t o = 0;
    int k;
#define SOC_PUT(expr)                                                                        \
    do {                                                                                     \
        k = (expr);                                                                          \
        if (k < 0 || o + (size_t)k >= cap)                                                   \
            return -1;                                                                       \
        o += (size_t)k;                                                                      \
    } while (0)
    SOC_PUT(snprintf(b + o, cap - o,
                     "{\"dtwin\":1,\"name\":\"n%d\",\"assets\":[{\"id\":\"site\"}],\"signals\":[",
                     i));
    for (int s = 0; s < 3; s++) { /* the anemometer */
        SOC_PUT(soc_sig(b + o, cap - o, st[s], "velocity", "m/s", soc_noise_std(i, s)));
    }
    for (int s = 0; s < 6; s++) { /* the estimate, then what the neighbours say of it */
        char id[16];
        snprintf(id, sizeof id, "%s_est", st[s]);
        SOC_PUT(soc_sig(b + o, cap - o, id, s < 3 ? "velocity" : "acceleration",
                        s < 3 ? "m/s" : "m/s2", 0.0));
    }
    for (int side = 0; side < 2; side++)
        for (int s = 0; s < 6; s++) {
            char id[16];
            snprintf(id, sizeof id, "%s_%s", side ? "right" : "left", st[s]);
            SOC_PUT(soc_sig(b + o, cap - o, id, s < 3 ? "velocity" : "acceleration",
                            s < 3 ? "m/s" : "m/s2", 0.2));
        }
    o--; /* the last comma */
    SOC_PUT(snprintf(b + o, cap - o,
                     "],\"sources\":[{\"id\":\"anemometer\",\"kind\":\"memory\",\"timeout\":5,"
                     "\"mapping\":[{\"native\":\"u\",\"signal\":\"u\"},{\"native\":\"v\","
                     "\"signal\":\"v\"},{\"native\":\"w\",\"signal\":\"w\"}]}"));
    SOC_PUT(soc_src(b + o, cap - o, "left", (i + n - 1) % n));
    SOC_PUT(soc_src(b + o, cap - o, "right", (i + 1) % n));
    SOC_PUT(snprintf(b + o, cap - o,
                     "],\"estimator\":{\"states\":[" SOC_STATES "],"
                     "\"A\":[[0,0,0,1,0,0],[0,0,0,0,1,0],[0,0,0,0,0,1],"
                     "[0,0,0,0,0,0],[0,0,0,0,0,0],[0,0,0,0,0,0]],"
                     "\"Q\":[0.0001,0.0001,0.0001,0.01,0.01,0.01],"
                     "\"x0\":[0,0,0,0,0,0],\"P0\":[25,25,25,1,1,1],\"measurements\":["));
    for (int s = 0; s < 3; s++) {
        SOC_PUT(snprintf(b + o, cap - o, "{\"signal\":\"%s\",\"H\":{\"%s_est\":1}},", st[s],
                         st[s]));
    }
    for (int side = 0; side < 2; side++)
        for (int s = 0; s < 6; s++) {
            SOC_PUT(snprintf(b + o, cap - o, "{\"signal\":\"%s_%s\",\"H\":{\"%s_est\":1}}%s",
                             side ? "right" : "left", st[s], st[s],
                             side == 1 && s == 5 ? "" : ","));
        }
    SOC_PUT(snprintf(b + o, cap - o,
                     "]},\"loop\":{\"period\":0.01},\"bus\":{\"realm\":\"%s\","
                     "\"broker\":{\"host\":\"127.0.0.1\",\"port\":%d,\"tls\":\"none\","
                     "\"keepalive\":10},\"reconnect\":{\"min\":0.1,\"max\":2},"
                     "\"beliefs\":[{\"group\":\"wind\",\"states\":[" SOC_STATES "],"
                     "\"every\":0.1}]}}",
                     realm, port));
#undef SOC_PUT
    return (int)o;
}

#endif
