#define _POSIX_C_SOURCE 200809L
#include "dtwin/time.h"

#include <math.h>
#include <time.h>

#include "dtwin/error.h"

/* 2^63 ns as a double; anything at or beyond it does not fit an int64. */
#define DT__NS_LIMIT 9223372036854775808.0

dt_time dt_time_from_sec(double seconds)
{
    if (isnan(seconds))
        return 0;
    double ns = nearbyint(seconds * 1e9);
    if (ns >= DT__NS_LIMIT)
        return DT_TIME_MAX;
    if (ns < -DT__NS_LIMIT)
        return DT_TIME_MIN;
    return (dt_time)ns;
}

int dt_time_from_sec_checked(double seconds, dt_time *out)
{
    if (out == NULL)
        return DT_EINVAL;
    if (!isfinite(seconds))
        return DT_ERANGE;
    double ns = nearbyint(seconds * 1e9);
    if (ns >= DT__NS_LIMIT || ns < -DT__NS_LIMIT)
        return DT_ERANGE;
    *out = (dt_time)ns;
    return DT_OK;
}

double dt_time_to_sec(dt_time t)
{
    /* Split so whole seconds and the fraction are each converted exactly. */
    dt_time whole = t / DT_NS_PER_S;
    dt_time frac = t % DT_NS_PER_S;
    return (double)whole + (double)frac * 1e-9;
}

dt_time dt_time_monotonic(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (dt_time)ts.tv_sec * DT_NS_PER_S + (dt_time)ts.tv_nsec;
}
