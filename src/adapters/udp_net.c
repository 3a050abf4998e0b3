/* UDP addresses and sockets: endpoints from the description, non-blocking sockets, drops. */
#define _DEFAULT_SOURCE /* sockets, inet_pton, if_nametoindex under -std=c11 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "../platform/internal.h"
#include "udp_internal.h"

#ifdef __linux__
#include <linux/sock_diag.h> /* SK_MEMINFO_DROPS */
#endif

/* A numeric IPv4 or IPv6 address (with an optional %zone for a link-local
 * IPv6 one) and a port; -1 when host is not one. */
static int parse_ip(const char *host, int port, struct sockaddr_storage *addr)
{
    memset(addr, 0, sizeof *addr);
    if (strchr(host, ':') == NULL) {
        struct sockaddr_in *a4 = (struct sockaddr_in *)addr;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        return inet_pton(AF_INET, host, &a4->sin_addr) == 1 ? 0 : -1;
    }
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;
    char ip[INET6_ADDRSTRLEN];
    const char *zone = strchr(host, '%');
    size_t len = zone != NULL ? (size_t)(zone - host) : strlen(host);
    if (len >= sizeof ip)
        return -1;
    memcpy(ip, host, len);
    ip[len] = '\0';
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    if (zone != NULL)
        a6->sin6_scope_id = if_nametoindex(zone + 1); /* 0: an unknown interface */
    return inet_pton(AF_INET6, ip, &a6->sin6_addr) == 1 ? 0 : -1;
}

socklen_t dt__udp_addr_len(const struct sockaddr_storage *a)
{
    return a->ss_family == AF_INET6 ? (socklen_t)sizeof(struct sockaddr_in6)
                                    : (socklen_t)sizeof(struct sockaddr_in);
}

/* A non-blocking datagram socket of the address's family, closed on exec;
 * -1 with errno. */
int dt__udp_socket(int family)
{
#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC)
    return socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
#else
    int fd = socket(family, SOCK_DGRAM, 0);
    if (fd < 0)
        return -1;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
#endif
}

int dt__udp_parse_endpoint(const dt_config *cfg, const char *hostkey, const char *defhost,
                           int port_required, struct sockaddr_storage *addr, char *err,
                           size_t errcap)
{
    const char *host = defhost;
    double port = 0;
    const dt_config *v = dt_config_get(cfg, hostkey);
    if (v != NULL && dt_config_string(v, &host) != DT_OK) {
        dt__fmt(err, errcap, "%s: expected an address string", hostkey);
        return DT_EINVAL;
    }
    v = dt_config_get(cfg, "port");
    if ((v == NULL && port_required) ||
        (v != NULL && (dt_config_number(v, &port) != DT_OK || port < 0 || port > 65535 ||
                       port != (double)(int)port || (port_required && port == 0)))) {
        dt__fmt(err, errcap, "port: %s", port_required ? "required, 1..65535" : "0..65535");
        return DT_EINVAL;
    }
    if (parse_ip(host, (int)port, addr) != 0) {
        dt__fmt(err, errcap, "%s: \"%s\" is not an IP address", hostkey, host);
        return DT_EINVAL;
    }
    return DT_OK;
}

int dt__udp_parse_host(const char *host, struct sockaddr_storage *addr)
{
    return host != NULL && parse_ip(host, 0, addr) == 0 ? DT_OK : DT_EINVAL;
}

/* An IPv4-mapped IPv6 address (::ffff:a.b.c.d, how a dual-stack socket
 * sees an IPv4 sender) as the IPv4 address it is; others unchanged. */
static const struct sockaddr_storage *unmapped(const struct sockaddr_storage *a,
                                               struct sockaddr_storage *tmp)
{
    if (a->ss_family != AF_INET6 ||
        !IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)a)->sin6_addr))
        return a;
    memset(tmp, 0, sizeof *tmp);
    struct sockaddr_in *v4 = (struct sockaddr_in *)tmp;
    v4->sin_family = AF_INET;
    memcpy(&v4->sin_addr, ((const struct sockaddr_in6 *)a)->sin6_addr.s6_addr + 12, 4);
    return tmp;
}

int dt__udp_same_host(const struct sockaddr_storage *a0, const struct sockaddr_storage *b0)
{
    struct sockaddr_storage ta, tb;
    ta.ss_family = tb.ss_family = AF_UNSPEC; /* written by unmapped() when used */
    const struct sockaddr_storage *a = unmapped(a0, &ta), *b = unmapped(b0, &tb);
    if (a->ss_family != b->ss_family)
        return 0;
    if (a->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
    return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
           ((const struct sockaddr_in *)b)->sin_addr.s_addr;
}

int dt__udp_is_loopback(const struct sockaddr_storage *a)
{
    if (a->ss_family == AF_INET6) {
        const struct in6_addr *x = &((const struct sockaddr_in6 *)a)->sin6_addr;
        static const uint8_t lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        return memcmp(x, lo, sizeof lo) == 0;
    }
    /* 127.0.0.0/8 */
    return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
}

int dt__udp_auth(const dt_config *cfg, int loopback, const char *what, dt_key **key,
                 int (*load)(void *ctx, const char *name, dt_key **out), void *ctx, char *err,
                 size_t errcap)
{
    *key = NULL;
    const char *auth = NULL, *name = NULL;
    const dt_config *v = dt_config_get(cfg, "auth");
    const dt_config *k = dt_config_get(cfg, "key");
    if (v == NULL || dt_config_string(v, &auth) != DT_OK ||
        (strcmp(auth, "mac") != 0 && strcmp(auth, "none") != 0)) {
        dt__fmt(err, errcap, "auth: required: \"mac\" with \"key\": NAME (authenticated "
                "frames, wire version 3), or \"none\" (unauthenticated versions 1 and 2, "
                "loopback only)");
        return DT_EINVAL;
    }
    if (strcmp(auth, "none") == 0) {
        if (k != NULL) {
            dt__fmt(err, errcap, "key: given with \"auth\": \"none\"; say \"auth\": \"mac\"");
            return DT_EINVAL;
        }
        if (!loopback) {
            dt__fmt(err, errcap, "auth: \"none\" %s an address that is not loopback: anyone "
                    "on the network could forge frames; give it a key (\"auth\": \"mac\", "
                    "\"key\": NAME)", what);
            return DT_EINVAL;
        }
        return DT_OK;
    }
    if (k == NULL || dt_config_string(k, &name) != DT_OK || name[0] == '\0') {
        dt__fmt(err, errcap, "key: required with \"auth\": \"mac\": the name of a key in "
                "the twin's key store");
        return DT_EINVAL;
    }
    int rc = load(ctx, name, key);
    if (rc != DT_OK)
        err[0] = '\0'; /* load said why */
    return rc;
}

int dt__udp_get_id(const dt_config *cfg, uint32_t *out)
{
    double id;
    if (dt_config_number(dt_config_get(cfg, "source_id"), &id) != DT_OK || id < 1 ||
        id > 4294967295.0 || id != (double)(uint32_t)id)
        return DT_EINVAL;
    *out = (uint32_t)id;
    return DT_OK;
}

void dt__udp_close_fd(int *fd, int *have_fd)
{
    if (*have_fd) {
        (void)close(*fd); /* a datagram socket has nothing left to flush */
        *have_fd = 0;
        *fd = -1;
    }
}

void dt__udp_addr_text(const struct sockaddr_storage *a, char *buf, size_t cap)
{
    if (a->ss_family == AF_INET6)
        (void)inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)a)->sin6_addr, buf,
                        (socklen_t)cap);
    else
        (void)inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, buf,
                        (socklen_t)cap);
}

int dt__udp_bound_port(int fd, uint16_t *port)
{
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    if (getsockname(fd, (struct sockaddr *)&bound, &blen) != 0)
        return -1;
    *port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                              : ((struct sockaddr_in *)&bound)->sin_port);
    return 0;
}

/* Datagrams the kernel dropped on this socket, its buffer full (a flood the
 * budget leaves queued overflows there): counted, never silent. */
void dt__udp_read_kernel_drops(dt__udpsrc *s)
{
#if defined(__linux__) && defined(SO_MEMINFO)
    uint32_t mi[SK_MEMINFO_VARS];
    socklen_t len = sizeof mi;
    if (!s->have_fd || getsockopt(s->fd, SOL_SOCKET, SO_MEMINFO, mi, &len) != 0 ||
        len < (socklen_t)((SK_MEMINFO_DROPS + 1) * sizeof mi[0]))
        return;
    if (!s->have_kdrops) {
        s->have_kdrops = 1;
        s->kdrops0 = mi[SK_MEMINFO_DROPS];
    }
    s->st.kernel_dropped = (uint32_t)(mi[SK_MEMINFO_DROPS] - s->kdrops0);
#else
    (void)s;
#endif
}
