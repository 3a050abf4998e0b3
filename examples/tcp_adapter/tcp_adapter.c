/* The host program of the tcp_lines example: registers the adapter kinds, runs
 * the twin in real time on the monotonic clock until SIGINT or SIGTERM (or
 * --seconds S), and, as an operator would, sends three burner setpoints, each
 * once the belief is fresh and the previous command has been confirmed by the
 * device. At the end it prints every counter (test_server.py checks them).
 *
 *   tcp_adapter [--seconds S] twin.json */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tcp_lines.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void sleep_until(dt_time t)
{
    struct timespec ts = {(time_t)(t / DT_NS_PER_S), (long)(t % DT_NS_PER_S)};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL); /* EINTR: the loop checks */
}

#define U(x) ((unsigned long long)(x))

int main(int argc, char **argv)
{
    double seconds = 0;
    int a = 1;
    if (argc > 2 && strcmp(argv[1], "--seconds") == 0) {
        seconds = atof(argv[2]);
        a = 3;
    }
    if (a != argc - 1) {
        (void)fprintf(stderr, "usage: tcp_adapter [--seconds S] twin.json\n");
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: the sleep returns early */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    dt_registry *reg = NULL;
    dt_twin *tw = NULL;
    dt_diag diag;
    if (dt_registry_create(NULL, &reg) != DT_OK ||
        dt_registry_add_source(reg, &tcp_lines_source_ops) != DT_OK ||
        dt_registry_add_sink(reg, &tcp_lines_sink_ops) != DT_OK)
        return fprintf(stderr, "tcp_adapter: cannot register the adapter\n"), 1;
    dt_twin_options opt = DT_TWIN_OPTIONS_INIT;
    opt.registry = reg; /* must outlive the twin */
    if (dt_twin_load_file(argv[a], &opt, &tw, &diag) != DT_OK) {
        (void)fprintf(stderr, "%s: %s\n", argv[a], diag.message); /* e.g. sources[0]: port: ... */
        dt_registry_destroy(reg);
        return 2;
    }
    dt_io *io = dt_twin_io(tw);
    dt_signal_id temp = 0, burner = 0;
    size_t src = 0, snk = 0;
    if (dt_model_find_signal(dt_twin_model(tw), "boiler.temp_est", &temp) != DT_OK ||
        dt_model_find_signal(dt_twin_model(tw), "burner.power", &burner) != DT_OK ||
        dt_io_find_source(io, "plc", &src) != DT_OK ||
        dt_io_find_sink(io, "burner", &snk) != DT_OK) {
        (void)fprintf(stderr, "tcp_adapter: the description lacks boiler.temp_est, burner.power, "
                        "source \"plc\" or sink \"burner\"\n");
        dt_twin_destroy(tw);
        dt_registry_destroy(reg);
        return 2;
    }

    const double setpoints[] = {123.456, 600.0, 432.109}; /* kW; 600 is above the limit */
    size_t next_sp = 0;
    const dt_time period = dt_time_from_sec(dt_twin_period_s(tw));
    dt_time t0 = dt_time_monotonic(), now = t0, tick = t0;
    int rc = dt_twin_start(tw, t0);
    while (rc == DT_OK && !stop_requested &&
           (seconds <= 0 || now - t0 < dt_time_from_sec(seconds))) {
        sleep_until(tick += period);
        now = dt_time_monotonic();
        if ((rc = dt_twin_step(tw, now)) != DT_OK)
            break;
        tcp_lines_deliver(io, snk, now); /* read-backs -> dt_sink_report, this thread */
        dt_twin_stats st;
        int confirmed = 0;
        dt_twin_stats_get(tw, &st);
        dt_twin_actuation(tw, burner, NULL, NULL, &confirmed);
        if (next_sp < 3 && !st.safe_state && confirmed) {
            dt_command cmd = {.signal = burner, .seq = 0, .t_issued = now, .t_deadline = now + 10 * period, .value = setpoints[next_sp++]};
            dt_twin_submit(tw, &cmd);
        }
    }
    if (rc != DT_OK) {
        (void)fprintf(stderr, "tcp_adapter: %s (%s)\n", dt_strerror(rc), dt_twin_errmsg(tw));
    } else {
        /* One last cycle takes what the reader pushed before the signal. */
        now = dt_time_monotonic();
        dt_twin_step(tw, now);
        tcp_lines_deliver(io, snk, now);
    }

    tcp_lines_source_stats ss;
    tcp_lines_sink_stats ks;
    dt_twin_stats st;
    dt_belief b = {0};
    double desired = 0, reported = 0;
    int confirmed = 0;
    tcp_lines_source_stats_get(io, src, &ss);
    tcp_lines_sink_stats_get(io, snk, &ks);
    dt_twin_stats_get(tw, &st);
    dt_est_belief(dt_twin_estimator(tw), temp, now, &b);
    dt_twin_actuation(tw, burner, &desired, &reported, &confirmed);
    printf("source plc: records %llu, pushed %llu, malformed %llu, unmapped %llu, ring full %llu; "
           "connects %llu, disconnects %llu\n",
           U(ss.records), U(ss.pushed), U(ss.malformed), U(ss.unmapped), U(ss.ring_full),
           U(ss.connects), U(ss.disconnects));
    printf("ingest: accepted %llu, rejected out of limits %llu, rejected other %llu\n",
           U(st.ingest.total.accepted), U(st.ingest.total.rejected_out_of_limits),
           U(st.ingest.total.drained - st.ingest.total.accepted -
             st.ingest.total.rejected_out_of_limits));
    printf("estimator: updates %llu, gated %llu; boiler.temp_est = %.6f degC\n",
           U(st.estimator.updates), U(st.estimator.gated), b.value);
    printf("sink burner: queued %llu, sent %llu, acked %llu, refused %llu, expired %llu, "
           "bad replies %llu, reports %llu\n",
           U(ks.queued), U(ks.sent), U(ks.acked), U(ks.refused), U(ks.expired),
           U(ks.bad_replies), U(ks.reports));
    printf("dispatcher: commands %llu, sent %llu, clamped %llu, sink errors %llu, "
           "safe-state entries %llu, unconfirmed %llu\n",
           U(st.commands), U(st.sent), U(st.clamped), U(st.sink_errors), U(st.safe_entries),
           U(st.unconfirmed));
    if (isnan(reported)) /* the device has not answered yet */
        printf("burner.power: desired %.3f kW, no read-back\n", desired);
    else
        printf("burner.power: desired %.3f kW, reported %.3f kW, %s\n", desired, reported,
               confirmed ? "confirmed" : "not confirmed");
    dt_twin_stop(tw);
    dt_twin_destroy(tw); /* closes the adapters: wakes and joins their threads */
    dt_registry_destroy(reg);
    return rc == DT_OK ? 0 : 1;
}
