/* Benchmark helpers: wall-clock timing, median of repeated runs, one output
 * line per figure: "bench NAME VALUE UNIT". */
#ifndef DTWIN_BENCH_UTIL_H
#define DTWIN_BENCH_UTIL_H

#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int bench_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of n values (n <= 32). */
static inline double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static inline void bench_line(const char *name, double value, const char *unit)
{
    printf("bench %s %.4g %s\n", name, value, unit);
    fflush(stdout);
}

/* Keeps the optimizer from discarding a result. */
static volatile double bench_sink;

#define BENCH_REPS 7

#endif
