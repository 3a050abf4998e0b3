/* A real mosquitto broker for tests: started on a free loopback port with a
 * generated configuration, killed, restarted on the same port, stopped.
 * Nothing here asserts time: waits are bounded by attempt counts that only
 * turn a hang into a failure. POSIX; the broker binary from Debian's
 * mosquitto package (scripts/install-deps.sh). */
#ifndef DTWIN_TEST_BROKER_FIXTURE_H
#define DTWIN_TEST_BROKER_FIXTURE_H

/* the including file defines _DEFAULT_SOURCE before its first system header */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
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
    int port;
    char dir[256];  /* its configuration, ACL and log */
    char conf[300];
    char log[300];
} dtt_broker;

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

static inline int dtt_port_accepts(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    int ok = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0;
    if (s >= 0)
        close(s);
    return ok;
}

/* Starts mosquitto on b->port (picks one when 0) with `extra` appended to the
 * configuration (an ACL line set goes to acl_text, NULL: anonymous, no ACL).
 * Returns 0 when the port accepts connections. The files are world-readable:
 * a broker started as root drops to the user mosquitto. */
static inline int dtt_broker_start(dtt_broker *b, const char *acl_text)
{
    if (b->dir[0] == '\0') {
        snprintf(b->dir, sizeof b->dir, "/tmp/dtt-broker-XXXXXX");
        if (mkdtemp(b->dir) == NULL)
            return -1;
        chmod(b->dir, 0755);
        snprintf(b->conf, sizeof b->conf, "%s/mosquitto.conf", b->dir);
        snprintf(b->log, sizeof b->log, "%s/broker.log", b->dir);
    }
    if (b->port == 0)
        b->port = dtt_free_tcp_port();
    if (b->port <= 0)
        return -1;
    FILE *f = fopen(b->conf, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "per_listener_settings false\npersistence false\nlog_dest stderr\n"
               "log_type all\nsys_interval 0\nallow_anonymous true\n");
    if (acl_text != NULL) {
        char acl[300];
        snprintf(acl, sizeof acl, "%s/acl", b->dir);
        FILE *a = fopen(acl, "w");
        if (a == NULL) {
            fclose(f);
            return -1;
        }
        fputs(acl_text, a);
        fclose(a);
        chmod(acl, 0644);
        fprintf(f, "acl_file %s\n", acl);
    }
    fprintf(f, "listener %d 127.0.0.1\n", b->port);
    fclose(f);
    chmod(b->conf, 0644);
    b->pid = fork();
    if (b->pid < 0)
        return -1;
    if (b->pid == 0) {
        FILE *lf = freopen(b->log, "a", stderr);
        (void)lf;
        execlp("mosquitto", "mosquitto", "-c", b->conf, (char *)NULL);
        /* Debian installs it in /usr/sbin, which a user's PATH may lack */
        execl("/usr/sbin/mosquitto", "mosquitto", "-c", b->conf, (char *)NULL);
        _exit(127);
    }
    /* at most about 30 s for a loaded machine: a bound, not a measurement */
    for (int i = 0; i < 3000; i++) {
        if (dtt_port_accepts(b->port))
            return 0;
        int st;
        if (waitpid(b->pid, &st, WNOHANG) == b->pid) {
            b->pid = 0;
            return -1;
        }
        dtt_sleep_ms(10);
    }
    return -1;
}

/* SIGKILL (a crash) or SIGTERM (a clean stop), and reaped. */
static inline void dtt_broker_signal(dtt_broker *b, int sig)
{
    if (b->pid > 0) {
        kill(b->pid, sig);
        waitpid(b->pid, NULL, 0);
        b->pid = 0;
    }
}

/* Stops the broker and removes its files. */
static inline void dtt_broker_stop(dtt_broker *b)
{
    dtt_broker_signal(b, SIGTERM);
    if (b->dir[0] != '\0') {
        char path[300];
        const char *names[] = {"mosquitto.conf", "acl", "broker.log"};
        for (int i = 0; i < 3; i++) {
            snprintf(path, sizeof path, "%s/%s", b->dir, names[i]);
            unlink(path);
        }
        rmdir(b->dir);
        b->dir[0] = '\0';
    }
}

#endif
