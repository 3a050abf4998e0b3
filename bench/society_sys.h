/* bench_society's system side: the broker it starts (the tests' fixture,
 * its own configuration), CPU time and resident memory of this process and
 * of the broker, the open-file limit, and an allocator that counts what
 * the twins allocate. Included once, by bench_society.c. */
#ifndef DTWIN_BENCH_SOCIETY_SYS_H
#define DTWIN_BENCH_SOCIETY_SYS_H

#include <errno.h>
#include <sched.h>
#include <math.h>
#include <string.h>
#include <sys/resource.h>

#include "broker_fixture.h"

#include "dtwin/dtwin.h"

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_society: %s\n", what);
    exit(1);
}

/* ---- the broker, CPU and memory ---- */

static dtt_broker broker;

static int broker_start(void)
{
    if (dtt_broker_mkdir(&broker) != 0)
        return -1;
    for (int attempt = 0; attempt < 5; attempt++) {
        broker.port = dtt_free_tcp_port();
        FILE *f = fopen(broker.conf, "w");
        if (f == NULL || broker.port <= 0)
            return -1;
        /* max_connections -1 (no limit but the open-file limit, raised
         * before the fork); no per-connection log lines */
        fprintf(f, "persistence false\nlog_dest stderr\nlog_type error\nlog_type warning\n"
                   "sys_interval 0\nset_tcp_nodelay true\nmax_connections -1\n"
                   "listener %d 127.0.0.1\nallow_anonymous true\n",
                broker.port);
        fclose(f);
        chmod(broker.conf, 0644);
        if (dtt_broker_spawn(&broker) == 0)
            return 0;
        if (broker.pid > 0)
            return -1;
    }
    return -1;
}

static int broker_binary_found(void)
{
    const char *path = getenv("PATH");
    char buf[4096], file[4200];
    snprintf(buf, sizeof buf, "%s:/usr/sbin:/sbin", path ? path : "/usr/bin:/bin");
    for (char *save = NULL, *d = strtok_r(buf, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(file, sizeof file, "%s/mosquitto", d);
        if (access(file, X_OK) == 0)
            return 1;
    }
    return 0;
}

/* The broker's CPU time so far, s (utime + stime of /proc/PID/stat). */
static double broker_cpu(void)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)broker.pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NAN;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    const char *p = strrchr(line, ')'); /* the command name may hold spaces */
    unsigned long ut = 0, st = 0;
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
                            &st) != 2)
        return NAN;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* This process's CPU time so far, s (every thread: user + system; *sys:
 * the system part). */
static double self_cpu(double *sys)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + *sys;
}

/* How long this process's thread has waited for a CPU while runnable, s
 * (/proc/self/schedstat, the second field: time on a runqueue): others'
 * work on a shared machine, which no figure of the bench's own explains. */
static double runqueue_wait(void)
{
    unsigned long long on = 0, wait = 0;
    FILE *f = fopen("/proc/self/schedstat", "r");
    if (f != NULL) {
        if (fscanf(f, "%llu %llu", &on, &wait) != 2)
            wait = 0;
        fclose(f);
    }
    return (double)wait * 1e-9;
}

/* --rt: round-robin real-time priority for this process and the broker, as
 * a host with 100 Hz loops would ask for, so that the machine's other work
 * waits for them and not the other way round (SCHED_RR, not SCHED_FIFO:
 * the two time-slice between them on one CPU; the kernel's real-time
 * throttling leaves 5 % to everything else). Says what it did. */
static void realtime(pid_t broker_pid)
{
    struct sched_param sp = {.sched_priority = 10};
    int self = sched_setscheduler(0, SCHED_RR, &sp);
    int err = errno;
    int brk = sched_setscheduler(broker_pid, SCHED_RR, &sp);
    if (self == 0 && brk == 0)
        printf("# society: SCHED_RR priority 10 for this process and the broker (--rt)\n");
    else
        printf("# society: --rt refused (%s): normal priority\n", strerror(self ? err : errno));
}

/* The machine's 1-minute load average (the figures' context: it is shared). */
static double loadavg(void)
{
    double l = NAN;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fscanf(f, "%lf", &l) != 1)
            l = NAN;
        fclose(f);
    }
    return l;
}

/* VmRSS of a process, KiB (0: unknown). */
static double rss_kib(pid_t pid)
{
    char path[64], line[256];
    if (pid > 0)
        snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    else
        snprintf(path, sizeof path, "/proc/self/status");
    FILE *f = fopen(path, "r");
    double kib = 0;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmRSS: %lf", &kib) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return kib;
}

/* Every twin has its connection's socket and libmosquitto's socketpair
 * here, and a connection at the broker: the soft open-file limit (often
 * 1024) would stop the sweep near 300 twins. Raised to the hard limit
 * before the broker is forked, which inherits it. */
static rlim_t raise_nofile(void)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0)
        return 0;
    rlim_t was = r.rlim_cur;
    if (r.rlim_cur != r.rlim_max) {
        r.rlim_cur = r.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &r) != 0) {
            printf("# society: RLIMIT_NOFILE stays %llu (setrlimit failed: %s)\n",
                   (unsigned long long)was, strerror(errno));
            return was;
        }
    }
    printf("# society: RLIMIT_NOFILE %llu -> %llu (the hard limit; this process and the "
           "broker it forks)\n",
           (unsigned long long)was, (unsigned long long)r.rlim_cur);
    return r.rlim_cur;
}

/* The twins' allocator: the default one, counting the bytes live (a
 * header before each block holds its size). libmosquitto allocates through
 * its own malloc, outside this count. */
static size_t g_live;

static void *cnt_malloc(void *user, size_t size)
{
    (void)user;
    size_t *p = malloc(size + 16);
    if (p == NULL)
        return NULL;
    p[0] = size;
    g_live += size;
    return (char *)p + 16;
}

static void cnt_free(void *user, void *ptr)
{
    (void)user;
    if (ptr == NULL)
        return;
    size_t *p = (size_t *)((char *)ptr - 16);
    g_live -= p[0];
    free(p);
}

static void *cnt_realloc(void *user, void *ptr, size_t size)
{
    if (ptr == NULL)
        return cnt_malloc(user, size);
    size_t *p = (size_t *)((char *)ptr - 16), old = p[0];
    size_t *q = realloc(p, size + 16);
    if (q == NULL)
        return NULL;
    q[0] = size;
    g_live += size - old;
    return (char *)q + 16;
}

static const dt_allocator g_alloc = {cnt_malloc, cnt_realloc, cnt_free, NULL};

#endif
