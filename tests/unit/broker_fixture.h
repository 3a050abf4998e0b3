/* A real mosquitto broker for tests: started on a free loopback port with a
 * generated configuration, killed, paused, restarted on the same port,
 * stopped; optionally with a TLS listener that requires client certificates
 * (a test CA, a server certificate and client certificates generated with
 * the openssl command), bridged to another broker with the shipped
 * examples/bridge/edge.conf, or with the shipped listener and ACL of
 * examples/bus/acl.
 * Nothing here asserts time: waits are bounded by attempt counts that only
 * turn a hang into a failure. POSIX; the broker binary from Debian's
 * mosquitto package, the openssl command from Debian's openssl package
 * (scripts/install-deps.sh). */
#ifndef DTWIN_TEST_BROKER_FIXTURE_H
#define DTWIN_TEST_BROKER_FIXTURE_H

/* the including file defines _DEFAULT_SOURCE before its first system header */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct dtt_broker {
    pid_t pid;
    int port;       /* the plain listener, anonymous (picked when 0) */
    char dir[256];  /* its configuration, ACL, log and TLS files */
    char conf[300];
    char log[300];
    int tls_port;   /* the TLS listener when started with one (picked when 0) */
    int paused;     /* stopped with SIGSTOP, not yet continued */
} dtt_broker;

/* What dtt_broker_start_opts adds to the generated configuration. All zero:
 * the plain anonymous listener alone, as dtt_broker_start(b, NULL). */
typedef struct dtt_broker_opts {
    /* ACL file text (mosquitto's acl_file format), used by every listener;
     * NULL: no ACL, everything allowed */
    const char *acl;
    /* nonzero: a second listener on b->tls_port with TLS from the files
     * dtt_broker_make_certs wrote into b->dir: the client must present a
     * certificate signed by the test CA (require_certificate true), its
     * subject CN becomes the username the ACL keys on
     * (use_identity_as_username true), no anonymous client (allow_anonymous
     * false). */
    int tls;
    /* lines appended verbatim at the end of the configuration, after the
     * listeners (global options, or a bridge section); NULL: none */
    const char *extra;
} dtt_broker_opts;

/* Every broker this process started and has not stopped, so that a test
 * that fails half-way (cmocka leaves the test function by longjmp, past its
 * dtt_broker_stop) leaves no broker running and no directory behind: they
 * are stopped and removed when the process exits. */
#define DTT_MAX_BROKERS 16
static pid_t dtt__pids[DTT_MAX_BROKERS];
static char dtt__dirs[DTT_MAX_BROKERS][256];

static inline void dtt__rmdir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        char path[600];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

static void dtt__stop_all(void)
{
    for (int i = 0; i < DTT_MAX_BROKERS; i++) {
        if (dtt__pids[i] > 0) {
            kill(dtt__pids[i], SIGKILL);
            waitpid(dtt__pids[i], NULL, 0);
            dtt__pids[i] = 0;
        }
    }
    for (int i = 0; i < DTT_MAX_BROKERS; i++) {
        if (dtt__dirs[i][0] != '\0') {
            dtt__rmdir(dtt__dirs[i]);
            dtt__dirs[i][0] = '\0';
        }
    }
}

/* Records (add) or forgets a pid or a directory; 0, or -1 when full. */
static inline int dtt__track(pid_t pid, const char *dir, int add)
{
    static int registered;
    if (!registered) {
        atexit(dtt__stop_all);
        registered = 1;
    }
    for (int i = 0; i < DTT_MAX_BROKERS; i++) {
        if (pid > 0 && (add ? dtt__pids[i] == 0 : dtt__pids[i] == pid)) {
            dtt__pids[i] = add ? pid : 0;
            return 0;
        }
        if (dir != NULL && (add ? dtt__dirs[i][0] == '\0' : strcmp(dtt__dirs[i], dir) == 0)) {
            if (add)
                snprintf(dtt__dirs[i], sizeof dtt__dirs[i], "%s", dir);
            else
                dtt__dirs[i][0] = '\0';
            return 0;
        }
    }
    return add ? -1 : 0;
}

static inline void dtt_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A loopback TCP port nobody listens on now (the kernel's choice). */
static inline int dtt_free_tcp_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(s, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (s >= 0)
        close(s);
    return port;
}

/* Whether something accepts TCP connections on the loopback port. The
 * connect is non-blocking and waited for at most 200 ms: a blocking one
 * to a listener whose queue is full (another test's listener that never
 * accepts, bound to a port this test had just released) waits for the
 * kernel's SYN retries, about two minutes. A connection that reaches
 * itself (the kernel chose the port itself as the source: possible on
 * loopback for a port in the ephemeral range) is no listener. */
static inline int dtt_port_accepts(int port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (s < 0)
        return 0;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    int ok = connect(s, (struct sockaddr *)&a, sizeof a) == 0;
    if (!ok && errno == EINPROGRESS) {
        struct pollfd pf = {s, POLLOUT, 0};
        int err = -1;
        socklen_t el = sizeof err;
        ok = poll(&pf, 1, 200) == 1 && getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el) == 0 &&
             err == 0;
    }
    struct sockaddr_in me;
    socklen_t ml = sizeof me;
    if (ok && getsockname(s, (struct sockaddr *)&me, &ml) == 0 && me.sin_port == a.sin_port)
        ok = 0; /* connected to itself */
    close(s);
    return ok;
}

/* Creates the broker's directory (once; world-readable: a broker started as
 * root drops to the user mosquitto) and names its files. 0 or -1. */
static inline int dtt_broker_mkdir(dtt_broker *b)
{
    if (b->dir[0] != '\0')
        return 0;
    snprintf(b->dir, sizeof b->dir, "/tmp/dtt-broker-XXXXXX");
    if (mkdtemp(b->dir) == NULL) {
        b->dir[0] = '\0';
        return -1;
    }
    chmod(b->dir, 0755);
    if (dtt__track(0, b->dir, 1) != 0) {
        rmdir(b->dir);
        b->dir[0] = '\0';
        return -1;
    }
    snprintf(b->conf, sizeof b->conf, "%s/mosquitto.conf", b->dir);
    snprintf(b->log, sizeof b->log, "%s/broker.log", b->dir);
    return 0;
}

/* out = b->dir/name; the pointer to out, or NULL when it does not fit. */
static inline char *dtt_broker_path(const dtt_broker *b, const char *name, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s", b->dir, name);
    return n > 0 && (size_t)n < cap ? out : NULL;
}

/* Prints the broker's log to stderr, each line prefixed with `tag`: what a
 * failing test shows to explain itself. */
static inline void dtt_broker_dump_log(const dtt_broker *b, const char *tag)
{
    FILE *f = b->log[0] != '\0' ? fopen(b->log, "r") : NULL;
    if (f == NULL)
        return;
    char line[512];
    while (fgets(line, sizeof line, f) != NULL)
        fprintf(stderr, "%s: %s", tag, line);
    fclose(f);
}

/* Runs argv (PATH lookup) with standard output and error appended to
 * dir/tools.log; its exit status, or -1. */
static inline int dtt_run(const char *dir, char *const argv[])
{
    char log[300];
    snprintf(log, sizeof log, "%s/tools.log", dir);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A client certificate's CN doubles as a file name and an ACL user. */
static inline int dtt_cn_ok(const char *cn)
{
    size_t n = strlen(cn);
    if (n == 0 || n > 64 || strcmp(cn, "ca") == 0 || strcmp(cn, "server") == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = cn[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

/* Generates into b->dir (created if needed) with the openssl command:
 *   ca.crt, ca.key          a test CA (self-signed, CA:TRUE)
 *   server.crt, server.key  the broker's certificate, signed by it, for
 *                           127.0.0.1 (subjectAltName IP:127.0.0.1)
 *   CN.crt, CN.key          a client certificate per name in cns[0..n-1],
 *                           subject CN=name, signed by the CA
 * Keys are EC P-256 (generated in milliseconds), certificates valid for two
 * days: made anew for each test, never reused. Every file is world-readable,
 * the keys too: a broker started as root reads them as the user mosquitto.
 * A name must be 1-64 characters of [A-Za-z0-9._-], not "ca" or "server".
 * Returns 0, or -1 (openssl's output is in b->dir/tools.log). */
static inline int dtt_broker_make_certs(dtt_broker *b, const char *const *cns, int n)
{
    if (dtt_broker_mkdir(b) != 0)
        return -1;
    for (int i = 0; i < n; i++)
        if (!dtt_cn_ok(cns[i]))
            return -1;
    char cnf[300], cakey[300], cacrt[300];
    if (dtt_broker_path(b, "openssl.cnf", cnf, sizeof cnf) == NULL ||
        dtt_broker_path(b, "ca.key", cakey, sizeof cakey) == NULL ||
        dtt_broker_path(b, "ca.crt", cacrt, sizeof cacrt) == NULL)
        return -1;
    /* our own configuration: the result does not depend on the system's
     * openssl.cnf */
    FILE *f = fopen(cnf, "w");
    if (f == NULL)
        return -1;
    fputs("[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n"
          "[ca_ext]\nbasicConstraints = critical,CA:TRUE\n"
          "keyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n"
          "[server_ext]\nbasicConstraints = critical,CA:FALSE\n"
          "keyUsage = critical,digitalSignature\nextendedKeyUsage = serverAuth\n"
          "subjectAltName = IP:127.0.0.1\n"
          "[client_ext]\nbasicConstraints = critical,CA:FALSE\n"
          "keyUsage = critical,digitalSignature\nextendedKeyUsage = clientAuth\n",
          f);
    fclose(f);
    char *ca[] = {"openssl", "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:P-256", "-nodes", "-keyout", cakey, "-out", cacrt,
                  "-days", "2", "-subj", "/CN=dtt-test-ca", "-config", cnf, "-extensions",
                  "ca_ext", NULL};
    if (dtt_run(b->dir, ca) != 0)
        return -1;
    /* the server, then each client: a key and a request, signed by the CA */
    for (int i = -1; i < n; i++) {
        const char *name = i < 0 ? "server" : cns[i];
        char key[300], csr[300], crt[300], file[80], subj[80], serial[16];
        snprintf(file, sizeof file, "%s.key", name);
        if (dtt_broker_path(b, file, key, sizeof key) == NULL)
            return -1;
        snprintf(file, sizeof file, "%s.csr", name);
        if (dtt_broker_path(b, file, csr, sizeof csr) == NULL)
            return -1;
        snprintf(file, sizeof file, "%s.crt", name);
        if (dtt_broker_path(b, file, crt, sizeof crt) == NULL)
            return -1;
        snprintf(subj, sizeof subj, "/CN=%s", i < 0 ? "127.0.0.1" : name);
        snprintf(serial, sizeof serial, "%d", i + 2);
        char *req[] = {"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                       "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr,
                       "-subj", subj, "-config", cnf, NULL};
        char *sign[] = {"openssl", "x509", "-req", "-in", csr, "-CA", cacrt, "-CAkey", cakey,
                        "-set_serial", serial, "-days", "2", "-extfile", cnf, "-extensions",
                        i < 0 ? "server_ext" : "client_ext", "-out", crt, NULL};
        if (dtt_run(b->dir, req) != 0 || dtt_run(b->dir, sign) != 0)
            return -1;
        unlink(csr);
        chmod(key, 0644);
        chmod(crt, 0644);
    }
    chmod(cakey, 0644);
    chmod(cacrt, 0644);
    return 0;
}

/* Writes b->conf from the options (ports picked when 0). 0 or -1. */
static inline int dtt_broker_write_conf(dtt_broker *b, const dtt_broker_opts *o)
{
    if (dtt_broker_mkdir(b) != 0)
        return -1;
    if (b->port == 0)
        b->port = dtt_free_tcp_port();
    if (o->tls && b->tls_port == 0)
        b->tls_port = dtt_free_tcp_port();
    if (b->port <= 0 || (o->tls && (b->tls_port <= 0 || b->tls_port == b->port)))
        return -1;
    char acl[300] = "";
    if (o->acl != NULL) {
        if (dtt_broker_path(b, "acl", acl, sizeof acl) == NULL)
            return -1;
        FILE *a = fopen(acl, "w");
        if (a == NULL)
            return -1;
        fputs(o->acl, a);
        fclose(a);
        chmod(acl, 0644);
    }
    FILE *f = fopen(b->conf, "w");
    if (f == NULL)
        return -1;
    /* per listener: the plain one anonymous, the TLS one not */
    fprintf(f, "per_listener_settings true\npersistence false\nlog_dest stderr\n"
               "log_type all\nsys_interval 0\n");
    fprintf(f, "listener %d 127.0.0.1\nallow_anonymous true\n", b->port);
    if (acl[0] != '\0')
        fprintf(f, "acl_file %s\n", acl);
    if (o->tls) {
        fprintf(f,
                "listener %d 127.0.0.1\ncafile %s/ca.crt\ncertfile %s/server.crt\n"
                "keyfile %s/server.key\nrequire_certificate true\n"
                "use_identity_as_username true\nallow_anonymous false\n",
                b->tls_port, b->dir, b->dir, b->dir);
        if (acl[0] != '\0')
            fprintf(f, "acl_file %s\n", acl);
    }
    if (o->extra != NULL)
        fprintf(f, "%s\n", o->extra);
    fclose(f);
    chmod(b->conf, 0644);
    return 0;
}

/* Starts mosquitto with the configuration already in b->conf; 0 when every
 * listener accepts connections, -1 when the broker exited (its log says
 * why) or did not listen within the bound. */
static inline int dtt_broker_spawn(dtt_broker *b)
{
    if (b->pid > 0 || b->conf[0] == '\0')
        return -1;
    b->pid = fork();
    if (b->pid < 0) {
        b->pid = 0;
        return -1;
    }
    if (b->pid == 0) {
        /* both outputs to the log: a broker must not hold the test's
         * standard output open (a pipe to ctest) */
        int fd = open(b->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execlp("mosquitto", "mosquitto", "-c", b->conf, (char *)NULL);
        /* Debian installs it in /usr/sbin, which a user's PATH may lack */
        execl("/usr/sbin/mosquitto", "mosquitto", "-c", b->conf, (char *)NULL);
        _exit(127);
    }
    b->paused = 0;
    if (dtt__track(b->pid, NULL, 1) != 0) {
        kill(b->pid, SIGKILL);
        waitpid(b->pid, NULL, 0);
        b->pid = 0;
        return -1;
    }
    /* at most about 30 s for a loaded machine: a bound, not a measurement */
    for (int i = 0; i < 3000; i++) {
        if (dtt_port_accepts(b->port) && (b->tls_port == 0 || dtt_port_accepts(b->tls_port)))
            return 0;
        int st;
        if (waitpid(b->pid, &st, WNOHANG) == b->pid) {
            dtt__track(b->pid, NULL, 0);
            b->pid = 0;
            return -1;
        }
        dtt_sleep_ms(10);
    }
    return -1;
}

/* Writes the configuration and starts the broker on b->port (and
 * b->tls_port with o->tls); a port left 0 is picked, and picked anew when
 * the broker could not bind it (another process took it meanwhile). A
 * broker started before on the same b is restarted on the same ports with
 * the new options. Returns 0 when every listener accepts connections. */
static inline int dtt_broker_start_opts(dtt_broker *b, const dtt_broker_opts *o)
{
    int pick = b->port == 0, pick_tls = o->tls && b->tls_port == 0;
    if (!o->tls)
        b->tls_port = 0;
    for (int attempt = 0; attempt < 5; attempt++) {
        if (dtt_broker_write_conf(b, o) != 0)
            return -1;
        if (dtt_broker_spawn(b) == 0)
            return 0;
        if (b->pid > 0 || !(pick || pick_tls))
            return -1; /* alive but not listening, or a port the caller chose */
        if (pick)
            b->port = 0;
        if (pick_tls)
            b->tls_port = 0;
    }
    return -1;
}

/* Starts mosquitto on b->port (picks one when 0), anonymous, with the ACL
 * text acl_text (NULL: no ACL). Returns 0 when the port accepts
 * connections. Called again after dtt_broker_signal, restarts the broker
 * on the same port. */
static inline int dtt_broker_start(dtt_broker *b, const char *acl_text)
{
    dtt_broker_opts o = {acl_text, 0, NULL};
    return dtt_broker_start_opts(b, &o);
}

/* Restarts a broker that was killed or stopped, with the configuration it
 * had (same ports, same TLS files, same bridge). 0 when it listens. */
static inline int dtt_broker_restart(dtt_broker *b)
{
    return dtt_broker_spawn(b);
}

/* Sends sig to the broker. SIGKILL (a crash) or SIGTERM (a clean stop):
 * waits for the process to end and reaps it. SIGSTOP (frozen: it reads,
 * writes and times nothing, its sockets stay open) and SIGCONT: returns at
 * once. */
static inline void dtt_broker_signal(dtt_broker *b, int sig)
{
    if (b->pid <= 0)
        return;
    if (sig == SIGSTOP || sig == SIGCONT) {
        kill(b->pid, sig);
        b->paused = sig == SIGSTOP;
        return;
    }
    kill(b->pid, sig);
    if (b->paused)
        kill(b->pid, SIGCONT); /* a stopped process handles SIGTERM only when continued */
    waitpid(b->pid, NULL, 0);
    dtt__track(b->pid, NULL, 0);
    b->pid = 0;
    b->paused = 0;
}

/* Stops the broker and removes its directory with every file in it. */
static inline void dtt_broker_stop(dtt_broker *b)
{
    dtt_broker_signal(b, SIGTERM);
    if (b->dir[0] != '\0') {
        dtt__rmdir(b->dir);
        dtt__track(0, b->dir, 0);
        b->dir[0] = '\0';
    }
}

/* Reads a whole text file (at most cap - 1 bytes) into out; its length, or
 * -1 when it cannot be read or is larger. */
static inline long dtt_read_file(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(out, 1, cap - 1, f);
    int more = fgetc(f) != EOF;
    fclose(f);
    if (more)
        return -1;
    out[n] = '\0';
    return (long)n;
}

/* Replaces every @NAME@ in text by its value from names/values[0..n-1]
 * into out. -1 when out is too small or a placeholder has no value (so a
 * placeholder added to a shipped file and not to the test fails loudly). */
static inline int dtt_substitute(const char *text, const char *const *names,
                                 const char *const *values, int n, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *p = text; *p != '\0';) {
        const char *end = p[0] == '@' ? strchr(p + 1, '@') : NULL;
        int k = -1;
        if (end != NULL && end > p + 1) {
            int placeholder = 1;
            for (const char *q = p + 1; q < end; q++)
                if (!((*q >= 'A' && *q <= 'Z') || *q == '_'))
                    placeholder = 0;
            if (placeholder) {
                for (int i = 0; i < n; i++)
                    if (strlen(names[i]) == (size_t)(end - p - 1) &&
                        strncmp(names[i], p + 1, (size_t)(end - p - 1)) == 0)
                        k = i;
                if (k < 0) {
                    fprintf(stderr, "dtt_substitute: no value for %.*s\n", (int)(end - p + 1), p);
                    return -1;
                }
            }
        }
        const char *piece = k >= 0 ? values[k] : p;
        size_t len = k >= 0 ? strlen(values[k]) : 1;
        if (o + len >= cap)
            return -1;
        memcpy(out + o, piece, len);
        o += len;
        p = k >= 0 ? end + 1 : p + 1;
    }
    out[o] = '\0';
    return 0;
}

/* Starts b with a shipped listener configuration (conf_path, such as
 * examples/bus/acl/mosquitto.conf) read from the file and used verbatim but
 * for its placeholders, and the ACL text acl (written to b->dir/acl):
 *   @PORT@          a free port: b->tls_port, and b->port too (the shipped
 *                   listener is the broker's only one)
 *   @BIND_ADDRESS@  127.0.0.1
 *   @CA_FILE@, @SERVER_CERT@, @SERVER_KEY@  b->dir's ca.crt, server.crt
 *                   and server.key, which must be there already
 *   @ACL_FILE@      b->dir/acl
 * The fixture's own global lines come first: no persistence, everything
 * logged to b->log. Returns 0 when the listener accepts connections; -1
 * when the file cannot be read, has a placeholder not listed here, or the
 * broker did not start (its log says why). */
static inline int dtt_broker_start_shipped(dtt_broker *b, const char *conf_path, const char *acl)
{
    static char text[32768], conf[40000];
    char port[16], ca[300], crt[300], key[300], aclf[300];
    if (dtt_broker_mkdir(b) != 0 || dtt_read_file(conf_path, text, sizeof text) < 0 ||
        dtt_broker_path(b, "ca.crt", ca, sizeof ca) == NULL ||
        dtt_broker_path(b, "server.crt", crt, sizeof crt) == NULL ||
        dtt_broker_path(b, "server.key", key, sizeof key) == NULL ||
        dtt_broker_path(b, "acl", aclf, sizeof aclf) == NULL)
        return -1;
    FILE *a = fopen(aclf, "w");
    if (a == NULL)
        return -1;
    fputs(acl, a);
    fclose(a);
    chmod(aclf, 0644);
    /* a port another process takes between the pick and the bind: again */
    for (int attempt = 0; attempt < 5; attempt++) {
        b->port = b->tls_port = dtt_free_tcp_port();
        if (b->port <= 0)
            return -1;
        snprintf(port, sizeof port, "%d", b->port);
        const char *names[] = {"PORT", "BIND_ADDRESS", "CA_FILE", "SERVER_CERT", "SERVER_KEY",
                               "ACL_FILE"};
        const char *values[] = {port, "127.0.0.1", ca, crt, key, aclf};
        static const char head[] = "persistence false\nlog_dest stderr\nlog_type all\n"
                                   "sys_interval 0\n";
        memcpy(conf, head, sizeof head);
        if (dtt_substitute(text, names, values, 6, conf + sizeof head - 1,
                           sizeof conf - sizeof head) != 0)
            return -1;
        FILE *f = fopen(b->conf, "w");
        if (f == NULL)
            return -1;
        fputs(conf, f);
        fclose(f);
        chmod(b->conf, 0644);
        if (dtt_broker_spawn(b) == 0)
            return 0;
        if (b->pid > 0)
            return -1; /* alive but not listening */
    }
    return -1;
}

/* Starts `edge`, a broker of its own (plain anonymous listener on
 * edge->port, options eo as for dtt_broker_start_opts, eo->extra must be
 * NULL), with the shipped bridge configuration at conf_path appended to its
 * configuration, read from the file and used verbatim but for its
 * placeholders:
 *   @CENTRAL_HOST@  127.0.0.1
 *   @CENTRAL_PORT@  central->tls_port (the bridge connects over TLS)
 *   @CA_FILE@       central's ca.crt
 *   @EDGE_NAME@     edge_cn (the bridge's client id at the central broker)
 *   @EDGE_CERT@, @EDGE_KEY@  central's edge_cn.crt and .key
 * central must run with a TLS listener and dtt_broker_make_certs must have
 * made a client certificate for edge_cn in its directory. `tail`, when not
 * NULL, is appended after the shipped file: more lines of its bridge
 * section, which override the shipped ones (mosquitto keeps the last value).
 * Returns what dtt_broker_start_opts returns; -1 when the file cannot be
 * read or has a placeholder not listed here. */
static inline int dtt_broker_start_bridge(dtt_broker *edge, const dtt_broker *central,
                                          const char *conf_path, const char *edge_cn,
                                          const char *tail, const dtt_broker_opts *eo)
{
    static char text[32768], conf[40000];
    char port[16], ca[300], cert[300], key[300], file[80];
    if (eo->extra != NULL || central->tls_port <= 0 || !dtt_cn_ok(edge_cn) ||
        dtt_read_file(conf_path, text, sizeof text) < 0)
        return -1;
    snprintf(port, sizeof port, "%d", central->tls_port);
    snprintf(file, sizeof file, "%s.crt", edge_cn);
    if (dtt_broker_path(central, "ca.crt", ca, sizeof ca) == NULL ||
        dtt_broker_path(central, file, cert, sizeof cert) == NULL)
        return -1;
    snprintf(file, sizeof file, "%s.key", edge_cn);
    if (dtt_broker_path(central, file, key, sizeof key) == NULL)
        return -1;
    const char *names[] = {"CENTRAL_HOST", "CENTRAL_PORT", "CA_FILE",
                           "EDGE_NAME",    "EDGE_CERT",    "EDGE_KEY"};
    const char *values[] = {"127.0.0.1", port, ca, edge_cn, cert, key};
    if (dtt_substitute(text, names, values, 6, conf, sizeof conf - 2048) != 0)
        return -1;
    if (tail != NULL) {
        size_t len = strlen(conf);
        if (len + strlen(tail) + 2 >= sizeof conf)
            return -1;
        snprintf(conf + len, sizeof conf - len, "\n%s", tail);
    }
    dtt_broker_opts o = *eo;
    o.extra = conf;
    return dtt_broker_start_opts(edge, &o);
}

#endif
