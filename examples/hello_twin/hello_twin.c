/* The smallest host program: load a twin, start it, step it on the host's own
 * timer, push a few readings, read the belief and the counters, send one
 * command, stop. `hello_twin [--fast] [twin.json]`: --fast steps without
 * sleeping. The output is the same either way: the twin's time is the step
 * count times the period (the core reads no clock), the timer only paces it. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <dtwin/dtwin.h>

static int fail(dt_twin *tw, const char *what, int rc)
{
    (void)fprintf(stderr, "hello_twin: %s: %s (%s)\n", what, dt_strerror(rc), dt_twin_errmsg(tw));
    dt_twin_destroy(tw);
    return 1;
}

int main(int argc, char **argv)
{
    int fast = argc > 1 && strcmp(argv[1], "--fast") == 0, rc;
    const char *path = argc > 1 + fast ? argv[1 + fast] : "examples/hello_twin/twin.json";
    dt_twin *tw = NULL;
    dt_diag diag;
    if (dt_twin_load_file(path, NULL, &tw, &diag) != DT_OK)
        return fprintf(stderr, "%s: %s\n", path, diag.message), 1; /* names the JSON path */
    dt_signal_id temp = 0, heater = 0;
    size_t src = 0, relay = 0;
    dt_io *io = dt_twin_io(tw);
    dt_model_find_signal(dt_twin_model(tw), "room.temp_est", &temp);
    dt_model_find_signal(dt_twin_model(tw), "heater.power", &heater);
    dt_io_find_source(io, "host", &src);  /* a memory source: the host pushes */
    dt_io_find_sink(io, "relay", &relay); /* a memory sink: the host reads */

    const dt_time period = dt_time_from_sec(dt_twin_period_s(tw)); /* loop.period */
    const double readings[] = {21.0, 21.2, 20.9};                  /* degC */
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    if ((rc = dt_twin_start(tw, 0)) != DT_OK)
        return fail(tw, "start", rc);
    for (int k = 1; k <= 10; k++) {
        dt_time now = k * period;
        if (!fast) { /* the host's timer: sleep until the next period begins */
            next.tv_nsec += (long)period;
            next.tv_sec += next.tv_nsec / 1000000000L;
            next.tv_nsec %= 1000000000L;
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        }
        if (k <= 3) /* a reading taken now, in the source's native name and unit */
            dt_memory_source_push(io, src, "T1", now, readings[k - 1]);
        if (k == 5) { /* 2500 W, above the signal's limit: the dispatcher clamps it */
            dt_command cmd = {.signal = heater, .seq = 0, .t_issued = now, .t_deadline = now + period, .value = 2500.0};
            dt_twin_submit(tw, &cmd);
        }
        if ((rc = dt_twin_step(tw, now)) != DT_OK)
            return fail(tw, "step", rc);
        dt_belief b;
        if ((k <= 3 || k == 10) &&
            dt_est_belief(dt_twin_estimator(tw), temp, now, &b) == DT_OK)
            printf("t = %.1f s: room.temp_est = %.4f degC, variance %.6f degC^2, age %.1f s\n",
                   dt_time_to_sec(now), b.value, b.variance, dt_time_to_sec(b.age));
    }
    dt_command got[4];
    size_t n = dt_memory_sink_read(io, relay, got, 4); /* values in the sink's unit, kW */
    for (size_t i = 0; i < n; i++)
        printf("relay: command #%llu heater.power = %.3f kW\n", (unsigned long long)got[i].seq,
               got[i].value);
    dt_twin_stats st;
    dt_twin_stats_get(tw, &st);
    printf("cycles %llu, updates %llu, commands %llu (clamped %llu), safe-state entries %llu\n",
           (unsigned long long)st.cycles, (unsigned long long)st.estimator.updates,
           (unsigned long long)st.commands, (unsigned long long)st.clamped,
           (unsigned long long)st.safe_entries);
    dt_twin_stop(tw);
    dt_twin_destroy(tw);
    return 0;
}
