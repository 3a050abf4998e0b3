/* examples/aircraft: an edge twin and a cloud twin of one aircraft, each a
 * process of its own with its own broker connection (the descriptions' bus
 * sections).
 *
 *   aircraft edge EDGE.json OUTDIR [MAX_S]
 *   aircraft cloud CLOUD.json OUTDIR [MAX_S]
 *
 * Both drive their twin on their own frame time base: frame k runs
 * dt_twin_step at t = k x period, paced against CLOCK_MONOTONIC with absolute
 * sleeps; a late frame is run at once (catching up), none is ever skipped, and
 * how late each one ran is recorded. They stop on SIGTERM or SIGINT (or after
 * MAX_S seconds of twin time, default 600), stop the twin (its "stopped"
 * state goes out) and print one line `summary {JSON}` with their counters.
 *
 * edge: the pitch axis at 200 Hz (airframe.c, a "sim" plant), its pitch-rate
 * law (a callback controller), the engine's EGT margin trend published as the
 * health group; maintenance advisories accepted from the ground go to the
 * maintenance log (a csvlog sink). Writes OUTDIR/aircraft_edge.csv (one row
 * per frame) and OUTDIR/edge_advisories.csv (every advisory the dispatcher
 * decided, with its time and deadline).
 *
 * cloud: reads the health group, keeps its trend of the margin and its rate,
 * and once a second (its time) sends the edge the remaining useful life's
 * lower 95 % bound as an advisory (prognosis.c). Writes
 * OUTDIR/aircraft_cloud.csv (one row per cycle) and
 * OUTDIR/cloud_advisories.csv.
 *
 * On stdout, besides the summary: `origin_ns N` (the CLOCK_MONOTONIC time of
 * t = 0, so that a runner on the same machine can line the two time bases up)
 * and every 0.5 s of twin time `progress key=value ...` lines. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dtwin/dtwin.h>

#include "airframe.h"
#include "prognosis.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * DT_NS_PER_S + ts.tv_nsec;
}

/* Sleeps until the absolute CLOCK_MONOTONIC time `at` (not at all when it has
 * passed: the frame runs late, at once); returns how late it woke, s. */
static double pace(int64_t at)
{
    struct timespec ts = {(time_t)(at / DT_NS_PER_S), (long)(at % DT_NS_PER_S)};
    while (!g_stop && mono_ns() < at &&
           clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
    double late = (double)(mono_ns() - at) * 1e-9;
    return late > 0 ? late : 0;
}

static FILE *open_out(const char *dir, const char *name, const char *header)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        fprintf(stderr, "aircraft: cannot write %s\n", path);
    else
        fprintf(f, "%s\n", header);
    return f;
}

/* A counter of the twin's bus link by name (0 when absent). */
static uint64_t link_counter(dt_twin *tw, const char *name)
{
    dt_io *io = dt_twin_io(tw);
    dt_counter c[128];
    size_t n = dt_io_link_count(io) ? dt_io_link_counters(io, 0, c, 128) : 0;
    for (size_t i = 0; i < n && i < 128; i++)
        if (strcmp(c[i].name, name) == 0)
            return c[i].value;
    return 0;
}

static void print_counters(const dt_counter *c, size_t n)
{
    printf("{");
    for (size_t i = 0; i < n && i < 128; i++)
        printf("%s\"%s\": %llu", i ? ", " : "", c[i].name, (unsigned long long)c[i].value);
    printf("}");
}

/* The adapters' counters, as `"link": {...}, "sources": {id: {...}}, "sinks": ...`. */
static void print_io(dt_twin *tw)
{
    dt_io *io = dt_twin_io(tw);
    dt_counter c[128];
    printf("\"link\": ");
    print_counters(c, dt_io_link_count(io) ? dt_io_link_counters(io, 0, c, 128) : 0);
    printf(", \"sources\": {");
    for (size_t i = 0; i < dt_io_source_count(io); i++) {
        printf("%s\"%s\": ", i ? ", " : "", dt_io_source_id(io, i));
        print_counters(c, dt_io_source_counters(io, i, c, 128));
    }
    printf("}, \"sinks\": {");
    for (size_t i = 0; i < dt_io_sink_count(io); i++) {
        dt_sink_stats ss = {0, 0};
        dt_io_sink_stats(io, i, &ss);
        printf("%s\"%s\": {\"applied\": %llu, \"errors\": %llu, \"counters\": ", i ? ", " : "",
               dt_io_sink_id(io, i), (unsigned long long)ss.applied,
               (unsigned long long)ss.errors);
        print_counters(c, dt_io_sink_counters(io, i, c, 128));
        printf("}");
    }
    printf("}");
}

static void print_stats(const dt_twin *tw)
{
    dt_twin_stats s;
    dt_twin_stats_get(tw, &s);
    printf("\"cycles\": %llu, \"commands\": %llu, \"sent\": %llu, \"expired\": %llu, "
           "\"safe_entries\": %llu, \"safe_state\": %d, \"rate_limited\": %llu, "
           "\"clamped\": %llu, \"remote_beliefs\": {\"offered\": %llu, \"superseded\": %llu, "
           "\"time_refused\": %llu, \"fused\": %llu, \"kept\": %llu, \"refused\": %llu}",
           (unsigned long long)s.cycles, (unsigned long long)s.commands,
           (unsigned long long)s.sent, (unsigned long long)s.expired,
           (unsigned long long)s.safe_entries, s.safe_state, (unsigned long long)s.rate_limited,
           (unsigned long long)s.clamped, (unsigned long long)s.beliefs_offered,
           (unsigned long long)s.beliefs_superseded, (unsigned long long)s.beliefs_time_refused,
           (unsigned long long)s.beliefs_fused, (unsigned long long)s.beliefs_kept,
           (unsigned long long)s.beliefs_refused);
}

/* ---- what both roles observe: the dispatcher's decisions ---- */

typedef struct watch {
    dt_signal_id elevator, advisory; /* elevator: edge only (else an impossible id) */
    FILE *adv;                       /* every advisory decided */
    uint64_t frame_cmds;             /* elevator commands decided in this frame */
    double elevator_sent;            /* the last elevator command as sent */
    uint64_t advisories, advisories_sent, advisories_late;
} watch;

static void on_event(void *user, const dt_event *ev)
{
    watch *w = user;
    if (ev->kind != DT_EVENT_COMMAND)
        return;
    const dt_audit *a = &ev->u.command;
    if (a->cmd.signal == w->elevator) {
        w->frame_cmds++;
        w->elevator_sent = a->cmd.value;
    } else if (a->cmd.signal == w->advisory) {
        int sent = (a->decision & DT_DISP_SENT) != 0;
        w->advisories++;
        w->advisories_sent += (uint64_t)sent;
        /* applied after its validity: the check says this never happens */
        w->advisories_late += (uint64_t)(sent && ev->t > a->cmd.t_deadline);
        if (w->adv != NULL)
            fprintf(w->adv, "%.6f,%.6f,%.6f,%.3f,%u,%u,%llu\n", dt_time_to_sec(ev->t),
                    dt_time_to_sec(a->cmd.t_issued), dt_time_to_sec(a->cmd.t_deadline),
                    a->cmd.value, (unsigned)a->decision, (unsigned)DT_ORIGIN_KIND(a->cmd.origin),
                    (unsigned long long)a->cmd.seq);
    }
}

static dt_twin *load(const char *path, dt_registry *reg)
{
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.registry = reg;
    dt_twin *tw = NULL;
    dt_diag d;
    if (dt_twin_load_file(path, &o, &tw, &d) != DT_OK) {
        fprintf(stderr, "aircraft: %s: %s\n", path, d.message);
        return NULL;
    }
    return tw;
}

static int find(const dt_twin *tw, const char *id, dt_signal_id *out)
{
    int rc = dt_model_find_signal(dt_twin_model(tw), id, out);
    if (rc != DT_OK)
        fprintf(stderr, "aircraft: the description has no signal %s\n", id);
    return rc;
}

static double belief(dt_twin *tw, dt_signal_id s, dt_time now, double *std)
{
    dt_belief b;
    if (dt_est_belief(dt_twin_estimator(tw), s, now, &b) != DT_OK)
        return *std = NAN;
    *std = sqrt(b.variance);
    return b.value;
}

/* ---- the edge ---- */

static int run_edge(const char *desc, const char *out, double max_s)
{
    ac_airframe air;
    ac_engine eng;
    ac_pitch_law law;
    ac_airframe_init(&air);
    ac_engine_init(&eng);
    dt_registry *reg = NULL;
    if (dt_registry_create(NULL, &reg) != DT_OK ||
        dt_registry_add_plant(reg, "airframe", &ac_airframe_ops, &air) != DT_OK ||
        dt_registry_add_plant(reg, "engine", &ac_engine_ops, &eng) != DT_OK) {
        fprintf(stderr, "aircraft: cannot register the plants\n");
        dt_registry_destroy(reg);
        return 1;
    }
    dt_twin *tw = load(desc, reg);
    watch w;
    memset(&w, 0, sizeof w);
    dt_signal_id s_q, s_alpha, s_m, s_r;
    int rc = tw ? DT_OK : DT_EPARSE;
    if (rc == DT_OK)
        rc = ac_pitch_law_init(&law, dt_twin_model(tw));
    if (rc == DT_OK && (find(tw, "ac.q_est", &s_q) || find(tw, "ac.alpha_est", &s_alpha) ||
                        find(tw, "eng.egt_margin_est", &s_m) ||
                        find(tw, "eng.egt_margin_rate_est", &s_r) ||
                        find(tw, "ac.elevator_cmd", &w.elevator) ||
                        find(tw, "eng.inspect_within", &w.advisory)))
        rc = DT_ENOTFOUND;
    if (rc == DT_OK)
        rc = dt_twin_set_callback(tw, "pitch", ac_pitch_law_run, &law);
    dt_observer obs = DT_OBSERVER_INIT;
    obs.mask = DT_EVENT_BIT(DT_EVENT_COMMAND);
    obs.on_event = on_event;
    obs.user = &w;
    if (rc == DT_OK)
        rc = dt_twin_observe(tw, &obs);
    FILE *f = open_out(out, "aircraft_edge.csv",
                       "t_s,lag_s,q_ref,q,q_est,q_std,alpha,alpha_est,elevator_cmd,elevator,safe,"
                       "margin,margin_est,margin_std,rate_est,rate_std,cmds,step_s");
    w.adv = open_out(out, "edge_advisories.csv",
                     "t_s,t_issued_s,t_deadline_s,value_h,decision,origin,seq");
    if (f == NULL || w.adv == NULL)
        rc = DT_EIO;
    const double period = tw ? dt_twin_period_s(tw) : 0;
    const int64_t period_ns = (int64_t)llround(period * 1e9);
    int64_t origin = mono_ns();
    if (rc == DT_OK) {
        printf("origin_ns %lld\n", (long long)origin);
        fflush(stdout);
        rc = dt_twin_start(tw, 0);
        if (rc != DT_OK)
            fprintf(stderr, "aircraft: start: %s\n", dt_twin_errmsg(tw));
    }
    uint64_t frames = 0, frames_off = 0, safe_after = 0, first_free = 0;
    double max_lag = 0;
    dt_time next_progress = 0;
    for (int64_t k = 1; rc == DT_OK && !g_stop && (double)k * period <= max_s; k++) {
        double lag = pace(origin + k * period_ns);
        dt_time now = k * period_ns;
        w.frame_cmds = 0;
        int64_t t0 = mono_ns();
        rc = dt_twin_step(tw, now);
        double step_s = (double)(mono_ns() - t0) * 1e-9;
        if (rc != DT_OK) {
            fprintf(stderr, "aircraft: step %lld: %s\n", (long long)k, dt_twin_errmsg(tw));
            break;
        }
        frames++;
        max_lag = fmax(max_lag, lag);
        frames_off += w.frame_cmds != 1;
        dt_twin_stats st;
        dt_twin_stats_get(tw, &st);
        if (!st.safe_state && first_free == 0)
            first_free = frames;
        safe_after += first_free != 0 && st.safe_state;
        double t = dt_time_to_sec(now), qs, as, ms, rs;
        double q_est = belief(tw, s_q, now, &qs), a_est = belief(tw, s_alpha, now, &as);
        double m_est = belief(tw, s_m, now, &ms), r_est = belief(tw, s_r, now, &rs);
        fprintf(f, "%.3f,%.6f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%d,%.3f,%.3f,%.4f,%.5f,%.5f,%llu,%.6f\n",
                t, lag, ac_q_ref(t), air.q, q_est, qs, air.alpha, a_est, w.elevator_sent, air.de,
                st.safe_state, eng.margin, m_est, ms, r_est, rs,
                (unsigned long long)w.frame_cmds, step_s);
        if (now >= next_progress) {
            next_progress = now + DT_NS_PER_S / 2;
            fflush(w.adv);
            printf("progress t=%.3f frames=%llu advisories=%llu applied=%llu cmd_expired=%llu "
                   "cmd_not_accepted=%llu cmd_records=%llu beliefs_published=%llu\n",
                   t, (unsigned long long)frames, (unsigned long long)w.advisories,
                   (unsigned long long)w.advisories_sent,
                   (unsigned long long)link_counter(tw, "bus.cmd_expired"),
                   (unsigned long long)link_counter(tw, "bus.cmd_not_accepted"),
                   (unsigned long long)link_counter(tw, "bus.cmd_records"),
                   (unsigned long long)link_counter(tw, "bus.beliefs_published"));
            fflush(stdout);
        }
    }
    if (tw != NULL && rc == DT_OK)
        dt_twin_stop(tw);
    if (tw != NULL && rc == DT_OK) {
        printf("summary {\"role\": \"edge\", \"period_s\": %.6f, \"frames\": %llu, "
               "\"t_end_s\": %.6f, \"max_lag_s\": %.6f, \"frames_not_one_command\": %llu, "
               "\"first_free_frame\": %llu, \"safe_frames_after_start\": %llu, "
               "\"pitch_law_runs\": %llu, \"advisories\": %llu, \"advisories_applied\": %llu, "
               "\"advisories_applied_late\": %llu, ",
               period, (unsigned long long)frames, (double)frames * period, max_lag,
               (unsigned long long)frames_off, (unsigned long long)first_free,
               (unsigned long long)safe_after, (unsigned long long)law.runs,
               (unsigned long long)w.advisories, (unsigned long long)w.advisories_sent,
               (unsigned long long)w.advisories_late);
        print_stats(tw);
        printf(", ");
        print_io(tw);
        const char *contract = dt_twin_contract(tw);
        printf(", \"contract\": %s}\n", contract ? contract : "null");
        fflush(stdout);
    }
    if (f != NULL)
        fclose(f);
    dt_twin_destroy(tw); /* closes the maintenance log */
    if (w.adv != NULL)
        fclose(w.adv);
    dt_registry_destroy(reg);
    return rc == DT_OK ? 0 : 1;
}

/* ---- the cloud ---- */

static int run_cloud(const char *desc, const char *out, double max_s)
{
    dt_twin *tw = load(desc, NULL);
    ac_prognosis prog;
    watch w;
    memset(&w, 0, sizeof w);
    w.elevator = UINT32_MAX; /* the cloud commands no control surface */
    int rc = tw ? ac_prognosis_init(&prog, tw) : DT_EPARSE;
    if (rc == DT_OK && find(tw, "eng.inspect_within", &w.advisory))
        rc = DT_ENOTFOUND;
    if (rc == DT_OK)
        rc = dt_twin_set_callback(tw, "prognosis", ac_prognosis_run, &prog);
    dt_observer obs = DT_OBSERVER_INIT;
    obs.mask = DT_EVENT_BIT(DT_EVENT_COMMAND);
    obs.on_event = on_event;
    obs.user = &w;
    if (rc == DT_OK)
        rc = dt_twin_observe(tw, &obs);
    FILE *f = open_out(out, "aircraft_cloud.csv",
                       "t_s,lag_s,margin_est,margin_std,rate_est,rate_std,rul_fh,rul_std_fh,"
                       "rul_lb_fh,belief_age_s,fused,safe");
    w.adv = open_out(out, "cloud_advisories.csv",
                     "t_s,t_issued_s,t_deadline_s,value_h,decision,origin,seq");
    if (f == NULL || w.adv == NULL)
        rc = DT_EIO;
    const double period = tw ? dt_twin_period_s(tw) : 0;
    const int64_t period_ns = (int64_t)llround(period * 1e9);
    int64_t origin = mono_ns();
    if (rc == DT_OK) {
        printf("origin_ns %lld\n", (long long)origin);
        fflush(stdout);
        rc = dt_twin_start(tw, 0);
        if (rc != DT_OK)
            fprintf(stderr, "aircraft: start: %s\n", dt_twin_errmsg(tw));
    }
    uint64_t cycles = 0;
    double max_lag = 0;
    dt_time next_progress = 0;
    for (int64_t k = 1; rc == DT_OK && !g_stop && (double)k * period <= max_s; k++) {
        double lag = pace(origin + k * period_ns);
        dt_time now = k * period_ns;
        rc = dt_twin_step(tw, now);
        if (rc != DT_OK) {
            fprintf(stderr, "aircraft: step %lld: %s\n", (long long)k, dt_twin_errmsg(tw));
            break;
        }
        cycles++;
        max_lag = fmax(max_lag, lag);
        dt_twin_stats st;
        dt_twin_stats_get(tw, &st);
        double t = dt_time_to_sec(now);
        const ac_prognosis_out *p = &prog.out;
        fprintf(f, "%.3f,%.6f,%.4f,%.4f,%.6f,%.6f,%.1f,%.1f,%.1f,%.4f,%llu,%d\n", t, lag, p->margin,
                p->margin_std, p->rate, p->rate_std, p->rul_fh, p->rul_std_fh, p->rul_lb_fh,
                st.belief_age_s, (unsigned long long)st.beliefs_fused, st.safe_state);
        if (now >= next_progress) {
            next_progress = now + DT_NS_PER_S / 2;
            fflush(f);
            fflush(w.adv);
            printf("progress t=%.3f fused=%llu age=%.3f advisories=%llu sent=%llu\n", t,
                   (unsigned long long)st.beliefs_fused, st.belief_age_s,
                   (unsigned long long)w.advisories, (unsigned long long)w.advisories_sent);
            fflush(stdout);
        }
    }
    if (tw != NULL && rc == DT_OK)
        dt_twin_stop(tw);
    if (tw != NULL && rc == DT_OK) {
        printf("summary {\"role\": \"cloud\", \"period_s\": %.6f, \"cycles_run\": %llu, "
               "\"max_lag_s\": %.6f, \"advisories\": %llu, \"advisories_sent\": %llu, ",
               period, (unsigned long long)cycles, max_lag, (unsigned long long)w.advisories,
               (unsigned long long)w.advisories_sent);
        print_stats(tw);
        printf(", ");
        print_io(tw);
        printf("}\n");
        fflush(stdout);
    }
    if (f != NULL)
        fclose(f);
    if (w.adv != NULL)
        fclose(w.adv);
    dt_twin_destroy(tw);
    return rc == DT_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5 || (strcmp(argv[1], "edge") != 0 && strcmp(argv[1], "cloud") != 0)) {
        fprintf(stderr, "usage: aircraft edge|cloud DESCRIPTION.json OUTDIR [MAX_S]\n");
        return 2;
    }
    double max_s = argc == 5 ? strtod(argv[4], NULL) : 600.0;
    if (!(max_s > 0 && max_s <= 86400)) {
        fprintf(stderr, "aircraft: MAX_S must be in (0, 86400] s\n");
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    return strcmp(argv[1], "edge") == 0 ? run_edge(argv[2], argv[3], max_s)
                                        : run_cloud(argv[2], argv[3], max_s);
}
