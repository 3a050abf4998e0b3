/* The broker the bus benchmarks start (the tests' fixture with a
 * configuration of its own: no per-message log lines, Nagle's algorithm off
 * on the broker's side, extra lines from the caller), whether mosquitto is
 * installed, and its CPU time. Included by bench_bus.c and bench_society's
 * society_sys.h; needs broker_fixture.h (tests/unit) before it. */
#ifndef DTWIN_BENCH_BROKER_H
#define DTWIN_BENCH_BROKER_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static dtt_broker broker;

/* Starts the broker on a free loopback port; `extra`: configuration lines
 * before the listener ("" for none). 0, or -1 when it would not start. */
static int broker_start(const char *extra)
{
    if (dtt_broker_mkdir(&broker) != 0)
        return -1;
    for (int attempt = 0; attempt < 5; attempt++) {
        broker.port = dtt_free_tcp_port();
        FILE *f = fopen(broker.conf, "w");
        if (f == NULL || broker.port <= 0)
            return -1;
        fprintf(f, "persistence false\nlog_dest stderr\nsys_interval 0\nset_tcp_nodelay true\n"
                   "%slistener %d 127.0.0.1\nallow_anonymous true\n",
                extra, broker.port);
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

#endif
