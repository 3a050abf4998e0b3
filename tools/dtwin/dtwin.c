/* dtwin: command-line front end. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "dtwin/dtwin.h"
#include "dtwin/uv.h"

/* Exit codes (docs/cli.md). */
enum { EXIT_OK = 0, EXIT_INVALID = 1, EXIT_USAGE = 2, EXIT_IO = 3, EXIT_RUNTIME = 4 };

static void usage(FILE *f)
{
    fputs("usage: dtwin <command> [options]\n"
          "\n"
          "commands:\n"
          "  check FILE.json   validate a twin description and print its signals\n"
          "  run FILE.json     run a twin (replaying its CSV sources at full speed)\n"
          "  replay LOG FILE   re-run a flight log bit-identically\n"
          "  margin LOOP.json  delay margin of a feedback loop\n"
          "  version           print the library version\n"
          "\n"
          "Run 'dtwin <command> --help' for a command's options.\n",
          f);
}

static void check_usage(FILE *f)
{
    fputs("usage: dtwin check [--quiet] FILE.json\n"
          "\n"
          "Loads and validates a twin description. On success prints the assets\n"
          "and the signal table and exits 0; on a bad description prints the\n"
          "JSON path and reason to stderr and exits 1 (3 if the file cannot be\n"
          "read).\n",
          f);
}

static void run_usage(FILE *f)
{
    fputs("usage: dtwin run [options] FILE.json\n"
          "\n"
          "Runs the twin on data time, stepping it as fast as it can at the loop period,\n"
          "until every CSV replay source has ended (or --duration).\n"
          "\n"
          "  --duration S       stop after S seconds of twin time\n"
          "  --fast             step as fast as possible (the default)\n"
          "  --realtime         step on a libuv timer at the loop period, on wall-clock\n"
          "                     time (live UDP sources; SIGINT/SIGTERM stop cleanly)\n"
          "  --stats-every S    print a stats line every S seconds of twin time\n"
          "  --json             print the final stats as JSON\n"
          "  --estimates F.csv  write every posterior (time, mean and variance per state)\n"
          "  --commands F.csv   write every dispatched command\n"
          "  --record LOG       write a flight log for dtwin replay\n"
          "  --quiet            no progress line and no summary\n",
          f);
}

static int parse_seconds(const char *opt, const char *v, double *out)
{
    char *end;
    double d = v ? strtod(v, &end) : NAN;
    if (v == NULL || *end != '\0' || !(d > 0) || d > 1e9) {
        fprintf(stderr, "dtwin run: %s needs a positive number of seconds\n", opt);
        return EXIT_USAGE;
    }
    *out = d;
    return EXIT_OK;
}

static int replay_done(dt_twin *t)
{
    dt_io *io = dt_twin_io(t);
    int any = 0;
    for (size_t i = 0; i < dt_io_source_count(io); i++) {
        if (strcmp(dt_io_source_kind(io, i), "csv") != 0)
            continue;
        any = 1;
        if (dt_io_source_events(io, i, DT_EV_END) == 0)
            return 0;
    }
    dt_ingest_stats st;
    dt_ingest_stats_get(dt_twin_ingest(t), &st);
    return any && st.total.pending_ring == 0 && st.total.pending_merge == 0;
}

static unsigned long long rejected_total(const dt_source_stats *g)
{
    return (unsigned long long)(g->rejected_nonfinite + g->rejected_bad_variance +
                                g->rejected_unknown_signal + g->rejected_wrong_role +
                                g->rejected_out_of_limits + g->rejected_future);
}

static void print_stats_json(const dt_twin_stats *s)
{
    const dt_source_stats *g = &s->ingest.total;
    printf("{\"cycles\":%llu,\"samples\":{\"offered\":%llu,\"accepted\":%llu,"
           "\"released\":%llu,\"late\":%llu,\"dropped\":%llu,\"rejected\":%llu},"
           "\"estimator\":{\"updates\":%llu,\"gated\":%llu,\"too_old\":%llu,\"nis_mean\":%.6g,"
           "\"recoveries\":%llu,\"isolations\":%llu,\"excluded\":%llu,\"belief_lost\":%llu},"
           "\"commands\":{\"total\":%llu,\"sent\":%llu,\"clamped\":%llu,"
           "\"rate_limited\":%llu,\"interlocked\":%llu,\"expired\":%llu,"
           "\"safe_stated\":%llu,\"sink_errors\":%llu},\"safe_entries\":%llu,"
           "\"safe_state\":%s,\"belief_age_s\":%.6g,\"tau_max_s\":%.6g}\n",
           (unsigned long long)s->cycles, (unsigned long long)g->offered,
           (unsigned long long)g->accepted, (unsigned long long)g->released,
           (unsigned long long)g->late,
           (unsigned long long)(g->dropped_newest + g->dropped_oldest + g->dropped_too_late +
                                g->dropped_reorder_full),
           rejected_total(g), (unsigned long long)s->estimator.updates,
           (unsigned long long)s->estimator.gated, (unsigned long long)s->estimator.too_old,
           s->estimator.nis_mean, (unsigned long long)s->estimator.recoveries,
           (unsigned long long)s->estimator.isolations, (unsigned long long)s->estimator.excluded,
           (unsigned long long)s->estimator.belief_lost, (unsigned long long)s->commands,
           (unsigned long long)s->sent,
           (unsigned long long)s->clamped, (unsigned long long)s->rate_limited,
           (unsigned long long)s->interlocked, (unsigned long long)s->expired,
           (unsigned long long)s->safe_stated, (unsigned long long)s->sink_errors,
           (unsigned long long)s->safe_entries, s->safe_state ? "true" : "false",
           isinf(s->belief_age_s) ? -1.0 : s->belief_age_s,
           isinf(s->tau_max_s) ? -1.0 : s->tau_max_s);
}

static void print_stats_human(const dt_twin_stats *s, double t)
{
    const dt_source_stats *g = &s->ingest.total;
    printf("t = %.1f s: %llu cycles, %llu samples (%llu applied, %llu rejected, %llu dropped), "
           "%llu commands sent (%llu clamped, %llu rate-limited, %llu safe), %s\n",
           t, (unsigned long long)s->cycles, (unsigned long long)g->offered,
           (unsigned long long)s->estimator.updates, rejected_total(g),
           (unsigned long long)(g->dropped_newest + g->dropped_oldest + g->dropped_too_late +
                                g->dropped_reorder_full),
           (unsigned long long)s->sent, (unsigned long long)s->clamped,
           (unsigned long long)s->rate_limited, (unsigned long long)s->safe_stated,
           s->safe_state ? "SAFE STATE" : "normal");
}

/* --estimates / --commands writers, shared by run and replay. */
typedef struct outputs {
    FILE *fe, *fc;
    const dt_model *m;
    dt_est *est;
    size_t n;
    uint64_t version, seen_cmds;
} outputs;

static int outputs_open(outputs *o, dt_twin *t, const char *est_file, const char *cmd_file)
{
    memset(o, 0, sizeof *o);
    o->m = dt_twin_model(t);
    o->est = dt_twin_estimator(t);
    o->n = o->est ? dt_est_dim(o->est) : 0;
    o->fe = est_file ? fopen(est_file, "w") : NULL;
    o->fc = cmd_file ? fopen(cmd_file, "w") : NULL;
    if ((est_file && !o->fe) || (cmd_file && !o->fc)) {
        fprintf(stderr, "dtwin: cannot write %s\n", est_file && !o->fe ? est_file : cmd_file);
        return EXIT_IO;
    }
    if (o->fe != NULL) {
        dt_signal_id states[DT_LA_MAX];
        for (size_t s = 0; s < dt_model_signal_count(o->m); s++) {
            int i = dt_est_state_index(o->est, (dt_signal_id)s);
            if (i >= 0)
                states[i] = (dt_signal_id)s;
        }
        fprintf(o->fe, "time_s");
        for (size_t i = 0; i < o->n; i++)
            fprintf(o->fe, ",%s,%s.var", dt_model_signal(o->m, states[i])->id,
                    dt_model_signal(o->m, states[i])->id);
        fprintf(o->fe, "\n");
    }
    if (o->fc != NULL)
        fprintf(o->fc, "time_s,seq,signal,value,requested,decision\n");
    return EXIT_OK;
}

static void outputs_step(outputs *o, dt_twin *t)
{
    if (o->fe != NULL && o->est != NULL && dt_est_version(o->est) != o->version) {
        o->version = dt_est_version(o->est);
        const double *x = dt_kf_state(dt_est_kf(o->est)), *P = dt_kf_cov(dt_est_kf(o->est));
        fprintf(o->fe, "%.9f", dt_time_to_sec(dt_est_time(o->est)));
        for (size_t i = 0; i < o->n; i++)
            fprintf(o->fe, ",%.17g,%.17g", x[i], P[i * o->n + i]);
        fprintf(o->fe, "\n");
    }
    if (o->fc != NULL) {
        dt_twin_stats st;
        dt_twin_stats_get(t, &st);
        if (st.commands > o->seen_cmds) {
            dt_audit au[64];
            size_t fresh = (size_t)(st.commands - o->seen_cmds);
            size_t got = dt_twin_audit(t, au, fresh < 64 ? fresh : 64);
            for (size_t i = 0; i < got; i++)
                fprintf(o->fc, "%.9f,%llu,%s,%.17g,%.17g,%u\n",
                        dt_time_to_sec(au[i].cmd.t_issued), (unsigned long long)au[i].cmd.seq,
                        dt_model_signal(o->m, au[i].cmd.signal)->id, au[i].cmd.value,
                        au[i].requested, au[i].decision);
            o->seen_cmds = st.commands;
        }
    }
}

static int outputs_close(outputs *o)
{
    int bad = 0;
    if (o->fe != NULL)
        bad |= fclose(o->fe) != 0;
    if (o->fc != NULL)
        bad |= fclose(o->fc) != 0;
    o->fe = o->fc = NULL;
    if (bad)
        fprintf(stderr, "dtwin: writing an output file failed\n");
    return bad ? EXIT_IO : EXIT_OK;
}

static int file_write(void *user, const void *data, size_t len)
{
    return fwrite(data, 1, len, user) == len ? DT_OK : DT_EIO;
}

static int file_read(void *user, void *data, size_t len)
{
    size_t got = fread(data, 1, len, user);
    if (got == len)
        return DT_OK;
    return got == 0 && feof((FILE *)user) ? DT_EEMPTY : DT_EIO;
}

typedef struct rt_state {
    dt_twin *twin;
    dt_uv *drv;
    double duration, every, next;
    int quiet;
} rt_state;

static void rt_check(uv_timer_t *h)
{
    rt_state *r = h->data;
    double tsec = dt_time_to_sec(dt_uv_now(r->drv));
    if (r->every > 0 && tsec >= r->next && !r->quiet) {
        dt_twin_stats st;
        dt_twin_stats_get(r->twin, &st);
        print_stats_human(&st, tsec);
        r->next += r->every;
    }
    if ((r->duration > 0 && tsec >= r->duration) || (r->duration == 0 && replay_done(r->twin)))
        dt_uv_stop(r->drv);
}

/* --realtime: the twin on a libuv loop until the duration, the end of the
 * replay, or SIGINT/SIGTERM. */
static int run_realtime(dt_twin *t, double duration, double every, int quiet)
{
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0)
        return EXIT_RUNTIME;
    rt_state r = {t, NULL, duration, every, every, quiet};
    if (dt_uv_attach(t, &loop, 0, 1, &r.drv) != DT_OK) {
        uv_loop_close(&loop);
        return EXIT_RUNTIME;
    }
    uv_timer_t check;
    uv_timer_init(&loop, &check);
    check.data = &r;
    uv_timer_start(&check, rt_check, 50, 50);
    uv_run(&loop, UV_RUN_DEFAULT);
    int signaled = 0, status = dt_uv_status(r.drv, &signaled);
    uv_timer_stop(&check);
    uv_close((uv_handle_t *)&check, NULL);
    dt_uv_detach(r.drv);
    uv_run(&loop, UV_RUN_DEFAULT); /* let the handles close */
    uv_loop_close(&loop);
    if (signaled && !quiet)
        fprintf(stderr, "dtwin run: stopped by a signal\n");
    return status == DT_OK || status == DT_ENOTFOUND ? EXIT_OK : EXIT_RUNTIME;
}

static int cmd_run(int argc, char **argv)
{
    const char *file = NULL, *est_file = NULL, *cmd_file = NULL, *rec_file = NULL;
    double duration = 0, every = 0;
    int json = 0, quiet = 0, realtime = 0, pace_given = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = EXIT_OK;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            run_usage(stdout);
            return EXIT_OK;
        } else if (strcmp(a, "--duration") == 0) {
            rc = parse_seconds(a, v, &duration);
            i++;
        } else if (strcmp(a, "--stats-every") == 0) {
            rc = parse_seconds(a, v, &every);
            i++;
        } else if (strcmp(a, "--estimates") == 0 || strcmp(a, "--commands") == 0) {
            if (v == NULL) {
                fprintf(stderr, "dtwin run: %s needs a file name\n", a);
                return EXIT_USAGE;
            }
            *(a[2] == 'e' ? &est_file : &cmd_file) = v;
            i++;
        } else if (strcmp(a, "--record") == 0) {
            if (v == NULL) {
                fprintf(stderr, "dtwin run: --record needs a file name\n");
                return EXIT_USAGE;
            }
            rec_file = v;
            i++;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            quiet = 1;
        } else if (strcmp(a, "--fast") == 0 || strcmp(a, "--realtime") == 0) {
            int rt = strcmp(a, "--realtime") == 0;
            if (pace_given && rt != realtime) {
                fprintf(stderr, "dtwin run: --fast and --realtime exclude each other\n");
                return EXIT_USAGE;
            }
            realtime = rt;
            pace_given = 1;
        } else if (a[0] == '-') {
            fprintf(stderr, "dtwin run: unknown option '%s'\n", a);
            run_usage(stderr);
            return EXIT_USAGE;
        } else if (file != NULL) {
            fprintf(stderr, "dtwin run: more than one file given\n");
            return EXIT_USAGE;
        } else {
            file = a;
        }
        if (rc != EXIT_OK)
            return rc;
    }
    if (file == NULL) {
        run_usage(stderr);
        return EXIT_USAGE;
    }
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    dt_twin *t = NULL;
    dt_diag diag;
    int rc = dt_twin_load_file(file, &o, &t, &diag);
    if (rc != DT_OK) {
        fprintf(stderr, "dtwin run: %s: %s\n", file, diag.message[0] ? diag.message : dt_strerror(rc));
        return rc == DT_EIO ? EXIT_IO : EXIT_INVALID;
    }
    int csv_sources = 0;
    for (size_t i = 0; i < dt_io_source_count(dt_twin_io(t)); i++)
        csv_sources += strcmp(dt_io_source_kind(dt_twin_io(t), i), "csv") == 0;
    if (duration == 0 && csv_sources == 0) {
        fprintf(stderr, "dtwin run: %s has no CSV replay source: give --duration\n", file);
        dt_twin_destroy(t);
        return EXIT_USAGE;
    }
    outputs out;
    if (outputs_open(&out, t, est_file, cmd_file) != EXIT_OK) {
        outputs_close(&out);
        dt_twin_destroy(t);
        return EXIT_IO;
    }
    FILE *frec = NULL;
    if (rec_file != NULL) {
        frec = fopen(rec_file, "wb");
        if (frec == NULL || dt_twin_record(t, file_write, frec) != DT_OK) {
            fprintf(stderr, "dtwin run: cannot write %s\n", rec_file);
            if (frec)
                fclose(frec);
            outputs_close(&out);
            dt_twin_destroy(t);
            return EXIT_IO;
        }
    }
    double period = dt_twin_period_s(t); /* the description's loop period */
    int tty = isatty(STDOUT_FILENO) && !quiet && !json;
    if (realtime) {
        int rrc = run_realtime(t, duration, every, quiet || json);
        dt_twin_stats st;
        dt_twin_stats_get(t, &st);
        if (json)
            print_stats_json(&st);
        else if (!quiet)
            print_stats_human(&st, (double)st.cycles * period);
        int orc = outputs_close(&out);
        if (frec != NULL && fclose(frec) != 0)
            orc = EXIT_IO;
        dt_twin_destroy(t);
        return rrc != EXIT_OK ? rrc : orc;
    }
    rc = dt_twin_start(t, 0);
    if (rc != DT_OK) {
        /* not at the first step as "wrong state for this call" */
        fprintf(stderr, "dtwin run: %s: the twin did not start: %s%s%s\n", file, dt_strerror(rc),
                dt_twin_errmsg(t)[0] ? ": " : "", dt_twin_errmsg(t));
        outputs_close(&out);
        if (frec != NULL)
            (void)fclose(frec);
        dt_twin_destroy(t);
        return EXIT_RUNTIME;
    }
    double next_stats = every;
    dt_time now = 0, last = 0; /* last: the time of the last step that ran */
    int exit_code = EXIT_OK;
    for (uint64_t k = 1;; k++) {
        now = (dt_time)((double)k * period * 1e9 + 0.5);
        double tsec = dt_time_to_sec(now);
        if (duration > 0 && tsec > duration + 1e-12)
            break;
        last = now;
        rc = dt_twin_step(t, now);
        if (rc != DT_OK && rc != DT_ENOTFOUND) {
            fprintf(stderr, "dtwin run: step at %.3f s failed: %s%s%s\n", tsec, dt_strerror(rc),
                    dt_twin_errmsg(t)[0] ? ": " : "", dt_twin_errmsg(t));
            exit_code = EXIT_RUNTIME;
            break;
        }
        outputs_step(&out, t);
        dt_twin_stats st;
        dt_twin_stats_get(t, &st);
        if (every > 0 && tsec >= next_stats - 1e-12) {
            next_stats += every;
            if (!quiet && !json)
                print_stats_human(&st, tsec);
        } else if (tty && k % 100 == 0) {
            printf("\r  t = %.1f s, %llu cycles", tsec, (unsigned long long)st.cycles);
            fflush(stdout);
        }
        if (duration == 0 && replay_done(t))
            break;
    }
    if (tty)
        printf("\r");
    dt_twin_stop(t);
    dt_twin_stats st;
    dt_twin_stats_get(t, &st);
    if (json)
        print_stats_json(&st);
    else if (!quiet)
        print_stats_human(&st, dt_time_to_sec(last));
    int orc = outputs_close(&out);
    if (frec != NULL && fclose(frec) != 0)
        orc = EXIT_IO;
    dt_twin_destroy(t);
    return exit_code != EXIT_OK ? exit_code : orc;
}

static void replay_usage(FILE *f)
{
    fputs("usage: dtwin replay [--json] [--estimates F.csv] [--commands F.csv] LOG FILE.json\n"
          "\n"
          "Re-runs a flight log written by 'dtwin run --record' on the description it\n"
          "was recorded with (no adapter is opened): the same estimates and commands,\n"
          "bit for bit.\n",
          f);
}

static void replay_step(void *user, dt_twin *t, dt_time now)
{
    (void)now;
    outputs_step(user, t);
}

static int cmd_replay(int argc, char **argv)
{
    const char *files[2] = {NULL, NULL}, *est_file = NULL, *cmd_file = NULL;
    int nf = 0, json = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            replay_usage(stdout);
            return EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if ((strcmp(a, "--estimates") == 0 || strcmp(a, "--commands") == 0) &&
                   i + 1 < argc) {
            *(a[2] == 'e' ? &est_file : &cmd_file) = argv[++i];
        } else if (a[0] == '-' || nf == 2) {
            fprintf(stderr, "dtwin replay: unexpected argument '%s'\n", a);
            replay_usage(stderr);
            return EXIT_USAGE;
        } else {
            files[nf++] = a;
        }
    }
    if (nf != 2) {
        replay_usage(stderr);
        return EXIT_USAGE;
    }
    dt_twin_options o = DT_TWIN_OPTIONS_INIT;
    o.logger = dt_logger_silent();
    o.replay = 1;
    dt_twin *t = NULL;
    dt_diag diag;
    int rc = dt_twin_load_file(files[1], &o, &t, &diag);
    if (rc != DT_OK) {
        fprintf(stderr, "dtwin replay: %s: %s\n", files[1],
                diag.message[0] ? diag.message : dt_strerror(rc));
        return rc == DT_EIO ? EXIT_IO : EXIT_INVALID;
    }
    FILE *f = fopen(files[0], "rb");
    if (f == NULL) {
        fprintf(stderr, "dtwin replay: cannot open %s\n", files[0]);
        dt_twin_destroy(t);
        return EXIT_IO;
    }
    outputs out;
    if (outputs_open(&out, t, est_file, cmd_file) != EXIT_OK) {
        outputs_close(&out);
        fclose(f);
        dt_twin_destroy(t);
        return EXIT_IO;
    }
    rc = dt_twin_replay(t, file_read, f, replay_step, &out);
    fclose(f);
    int exit_code = EXIT_OK;
    if (rc != DT_OK) {
        fprintf(stderr, "dtwin replay: %s: %s%s%s\n", files[0], dt_strerror(rc),
                dt_twin_errmsg(t)[0] ? ": " : "", dt_twin_errmsg(t));
        exit_code = rc == DT_EABI || rc == DT_EPARSE ? EXIT_INVALID : EXIT_RUNTIME;
    } else {
        dt_twin_stats st;
        dt_twin_stats_get(t, &st);
        if (json)
            print_stats_json(&st);
        else
            print_stats_human(&st, (double)st.cycles * dt_twin_period_s(t));
    }
    int orc = outputs_close(&out);
    dt_twin_destroy(t);
    return exit_code != EXIT_OK ? exit_code : orc;
}

/* dtwin margin LOOP.json: {"num": [...], "den": [...], "dead_time": s} */
static int read_coeffs(const cJSON *o, const char *key, double *out, size_t *n)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) < 1 || cJSON_GetArraySize(a) > 33)
        return -1;
    size_t i = 0;
    for (const cJSON *e = a->child; e; e = e->next, i++) {
        if (!cJSON_IsNumber(e))
            return -1;
        out[i] = e->valuedouble;
    }
    *n = i;
    return 0;
}

static int cmd_margin(int argc, char **argv)
{
    if (argc != 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
        fputs("usage: dtwin margin LOOP.json\n"
              "\n"
              "Delay margin of a feedback loop L(s) = num(s)/den(s) e^{-s dead_time}:\n"
              "{\"num\": [...], \"den\": [...], \"dead_time\": 0}, coefficients highest\n"
              "power first. Prints the largest added delay that keeps the loop stable.\n",
              argc == 1 ? stdout : stderr);
        return argc == 1 ? EXIT_OK : EXIT_USAGE;
    }
    FILE *f = fopen(argv[0], "rb");
    if (f == NULL) {
        fprintf(stderr, "dtwin margin: cannot open %s\n", argv[0]);
        return EXIT_IO;
    }
    char text[65536];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    cJSON *o = cJSON_Parse(text);
    double num[33], den[33];
    size_t nn = 0, nd = 0;
    const cJSON *dt = o ? cJSON_GetObjectItemCaseSensitive(o, "dead_time") : NULL;
    if (o == NULL || read_coeffs(o, "num", num, &nn) != 0 || read_coeffs(o, "den", den, &nd) != 0 ||
        (dt != NULL && !cJSON_IsNumber(dt))) {
        fprintf(stderr, "dtwin margin: %s: expected {\"num\": [...], \"den\": [...], "
                        "\"dead_time\": seconds} with at most 33 coefficients each\n",
                argv[0]);
        cJSON_Delete(o);
        return EXIT_INVALID;
    }
    dt_loop_tf L = {num, nn, den, nd, dt ? dt->valuedouble : 0};
    cJSON_Delete(o);
    dt_margin m;
    int rc = dt_delay_margin(&L, &m);
    if (rc != DT_OK) {
        fprintf(stderr, "dtwin margin: %s: %s\n", argv[0],
                rc == DT_EUNSTABLE ? "the closed loop is unstable without added delay"
                                   : "not a proper loop transfer function");
        return EXIT_INVALID;
    }
    if (isinf(m.delay))
        printf("delay margin: unbounded (|L(jw)| < 1 at every frequency)\n");
    else
        printf("delay margin: %.6g s (gain crossover %.6g rad/s, phase margin %.4g deg, "
               "%zu crossover%s)\n",
               m.delay, m.crossover, m.phase * 180 / 3.14159265358979323846, m.crossovers,
               m.crossovers == 1 ? "" : "s");
    return EXIT_OK;
}

static void print_limits(const dt_signal_info *s)
{
    if (!s->has_limits) {
        printf(" %-21s", "-");
        return;
    }
    char lo[16] = "-inf", hi[16] = "inf", both[40];
    if (isfinite(s->min))
        snprintf(lo, sizeof lo, "%g", s->min);
    if (isfinite(s->max))
        snprintf(hi, sizeof hi, "%g", s->max);
    snprintf(both, sizeof both, "[%s, %s]", lo, hi);
    printf(" %-21s", both);
}

static int cmd_check(int argc, char **argv)
{
    const char *file = NULL;
    int quiet = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            check_usage(stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--quiet") == 0 || strcmp(argv[i], "-q") == 0) {
            quiet = 1;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "dtwin check: unknown option '%s'\n", argv[i]);
            check_usage(stderr);
            return EXIT_USAGE;
        } else if (file != NULL) {
            fprintf(stderr, "dtwin check: more than one file given\n");
            return EXIT_USAGE;
        } else {
            file = argv[i];
        }
    }
    if (file == NULL) {
        check_usage(stderr);
        return EXIT_USAGE;
    }
    dt_model_options opt = DT_MODEL_OPTIONS_INIT;
    opt.logger = dt_logger_silent();
    dt_model *m = NULL;
    dt_diag diag;
    int rc = dt_model_load_file(file, &opt, &m, &diag);
    if (rc != DT_OK) {
        fprintf(stderr, "dtwin check: %s: %s\n", file,
                diag.message[0] ? diag.message : dt_strerror(rc));
        return rc == DT_EIO ? EXIT_IO : EXIT_INVALID;
    }
    if (!quiet) {
        printf("twin \"%s\": %zu assets, %zu signals\n\n", dt_model_name(m),
               dt_model_asset_count(m), dt_model_signal_count(m));
        printf("assets\n");
        for (dt_asset_id a = 0; a < dt_model_asset_count(m); a++) {
            const dt_asset_info *ai = dt_model_asset(m, a);
            const dt_asset_info *pa = dt_model_asset(m, ai->parent);
            printf("  %-16s %-12s %s", ai->id, ai->kind, ai->name);
            if (pa != NULL)
                printf("  (part of %s)", pa->id);
            printf("\n");
        }
        printf("\nsignals\n");
        printf("  %-4s %-24s %-10s %-17s %-6s %-21s %-9s %s\n", "#", "signal", "role",
               "quantity", "unit", " limits", "period_s", "noise_std");
        for (dt_signal_id s = 0; s < dt_model_signal_count(m); s++) {
            const dt_signal_info *si = dt_model_signal(m, s);
            printf("  %-4u %-24s %-10s %-17s %-6s", (unsigned)s, si->id,
                   dt_role_name(si->role), dt_unit_class_name(si->quantity),
                   si->unit_symbol);
            print_limits(si);
            if (si->period > 0)
                printf(" %-9g", dt_time_to_sec(si->period));
            else
                printf(" %-9s", "-");
            if (si->noise_var > 0)
                printf(" %g\n", sqrt(si->noise_var));
            else
                printf(" -\n");
        }
    }
    /* The estimator, if the description declares one: dimensions and the
     * latency budget of each accuracy bound. */
    dt_est_config ec = DT_EST_CONFIG_INIT;
    ec.logger = dt_logger_silent();
    dt_est *est = NULL;
    rc = dt_est_create_json(m, &ec, &est, &diag);
    if (rc == DT_OK)
        rc = dt_est_budgets(est, &diag); /* the reason when a budget is refused */
    if (rc == DT_OK)
        rc = dt_est_start(est, 0);
    if (rc != DT_OK && rc != DT_ENOTFOUND) {
        fprintf(stderr, "dtwin check: %s: %s\n", file,
                diag.message[0] ? diag.message : dt_strerror(rc));
        dt_est_destroy(est);
        dt_model_destroy(m);
        return EXIT_INVALID;
    }
    if (est != NULL && !quiet) {
        printf("\nestimator: %zu states\n", dt_est_dim(est));
        for (size_t i = 0; i < dt_est_bound_count(est); i++) {
            double tau;
            const char *name;
            dt_est_latency_budget(est, i, &tau, &name);
            if (isinf(tau))
                printf("  latency budget %-16s unbounded\n", name);
            else if (isnan(tau))
                printf("  latency budget %-16s n/a (needs a continuous model)\n", name);
            else
                printf("  latency budget %-16s %.6g s\n", name, tau);
        }
    }
    dt_est_destroy(est);
    dt_model_destroy(m);
    /* Everything `dtwin run` would build, without opening an adapter (as a
     * flight-log replay does): sources, sinks, controllers, dispatcher and
     * loop are checked too, with their path-precise messages. */
    dt_twin_options to = DT_TWIN_OPTIONS_INIT;
    to.logger = dt_logger_silent();
    to.replay = 1;
    dt_twin *tw = NULL;
    rc = dt_twin_load_file(file, &to, &tw, &diag);
    if (rc != DT_OK) {
        fprintf(stderr, "dtwin check: %s: %s\n", file,
                diag.message[0] ? diag.message : dt_strerror(rc));
        return rc == DT_EIO ? EXIT_IO : EXIT_INVALID;
    }
    /* Legal but suspicious: a budget that leaves little room for late data. */
    dt_est *te = dt_twin_estimator(tw);
    double period = dt_twin_period_s(tw);
    for (size_t i = 0; te != NULL && i < dt_est_bound_count(te); i++) {
        double tau;
        const char *name;
        if (dt_est_latency_budget(te, i, &tau, &name) == DT_OK && tau < 10 * period)
            fprintf(stderr,
                    "dtwin check: %s: warning: latency budget \"%s\" (%.6g s) is shorter than "
                    "10 loop periods (%.6g s each): a few late samples put the twin in its "
                    "safe state\n",
                    file, name, tau, period);
    }
    dt_twin_destroy(tw);
    if (!quiet)
        printf("\nok\n");
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
        strcmp(cmd, "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("dtwin %s\n", dt_version());
        return EXIT_OK;
    }
    if (strcmp(cmd, "check") == 0)
        return cmd_check(argc - 2, argv + 2);
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 2, argv + 2);
    if (strcmp(cmd, "replay") == 0)
        return cmd_replay(argc - 2, argv + 2);
    if (strcmp(cmd, "margin") == 0)
        return cmd_margin(argc - 2, argv + 2);
    fprintf(stderr, "dtwin: unknown command '%s'\n", cmd);
    usage(stderr);
    return EXIT_USAGE;
}
