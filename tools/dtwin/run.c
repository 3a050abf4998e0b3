/* dtwin run and dtwin replay. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
/* --realtime needs the libuv driver (dtwin_uv): built with it when the build
 * has it (DTWIN_WITH_UV), else the option says it is not available. */
#ifdef DTWIN_CLI_REALTIME
#include "dtwin/uv.h"
#define REALTIME_HELP                                                                         \
    "  --realtime           step on a libuv timer at the loop period, on wall-clock\n"       \
    "                       time (live UDP sources; SIGINT/SIGTERM stop cleanly)\n"
#else
#define REALTIME_HELP                                                                         \
    "  --realtime           not available: this dtwin was built without libuv\n"
#endif

static void run_usage(FILE *f)
{
    fputs("usage: dtwin run [options] FILE.json\n"
          "\n"
          "Runs the twin on data time, stepping it as fast as it can at the loop period,\n"
          "until every CSV replay source (its children's too) has ended (or --duration).\n"
          "\n"
          "  --duration S         stop after S seconds of twin time\n"
          "  --fast               step as fast as possible (the default)\n"
          REALTIME_HELP
          "  --stats-every S      print a stats line every S seconds of twin time\n"
          "  --json               print the final figures as JSON\n"
          "  --estimates F.csv    write every posterior (time, mean and variance per state)\n"
          "  --covariance F.csv   write every posterior's full covariance (upper triangle)\n"
          "  --commands F.csv     write every dispatched command\n"
          "  --record LOG         write a flight log for dtwin replay\n"
          "  --strict             exit 5 when any data was lost or refused, or the twin\n"
          "                       spent more than --max-safe-share of the run in its safe state\n"
          "  --max-safe-share X   the share (0..1) allowed under --strict (default 0)\n"
          "  --verbose            log informational messages too\n"
          "  --quiet              no progress line and no summary (warnings still shown)\n",
          f);
}

static int parse_number(const char *opt, const char *v, double lo, double hi, int lo_open,
                        double *out)
{
    char *end;
    double d = v ? strtod(v, &end) : NAN;
    if (v == NULL || *end != '\0' || !(lo_open ? d > lo : d >= lo) || !(d <= hi)) {
        fprintf(stderr, "dtwin run: %s needs a number in %s%g, %g]\n", opt, lo_open ? "(" : "[",
                lo, hi);
        return EXIT_USAGE;
    }
    *out = d;
    return EXIT_OK;
}

static int is_csv(dt_io *io, size_t i) { return strcmp(dt_io_source_kind(io, i), "csv") == 0; }

/* The CSV replay sources of a twin and of its children (a composite's). */
static int csv_count(dt_twin *t)
{
    int n = 0;
    for (size_t i = 0; i < dt_io_source_count(dt_twin_io(t)); i++)
        n += is_csv(dt_twin_io(t), i);
    for (size_t k = 0; k < dt_twin_child_count(t); k++)
        n += csv_count(dt_twin_child(t, k));
    return n;
}

/* Every CSV source of t (and of its children) ended and drained: 1; one
 * still reading: 0; none at all: -1. */
static int csv_ended(dt_twin *t)
{
    dt_io *io = dt_twin_io(t);
    int any = -1;
    for (size_t i = 0; i < dt_io_source_count(io); i++) {
        if (!is_csv(io, i))
            continue;
        any = 1;
        if (dt_io_source_events(io, i, DT_EV_END) == 0)
            return 0;
    }
    dt_ingest_stats st;
    dt_ingest_stats_get(dt_twin_ingest(t), &st);
    if (any > 0 && (st.total.pending_ring != 0 || st.total.pending_merge != 0))
        return 0;
    for (size_t k = 0; k < dt_twin_child_count(t); k++) {
        int c = csv_ended(dt_twin_child(t, k));
        if (c == 0)
            return 0;
        if (c > 0)
            any = 1;
    }
    return any;
}

static int replay_done(dt_twin *t) { return csv_ended(t) > 0; }

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* How far the run is, 0..1, or -1 when unknown: the duration, else the
 * slowest replay source that knows its length. */
static double progress(dt_twin *t, double tsec, double duration)
{
    if (duration > 0)
        return tsec / duration < 1 ? tsec / duration : 1;
    dt_io *io = dt_twin_io(t);
    double f = -1;
    for (size_t i = 0; i < dt_io_source_count(io); i++) {
        double p = dt_io_source_progress(io, i);
        if (p >= 0 && (f < 0 || p < f))
            f = p;
    }
    for (size_t k = 0; k < dt_twin_child_count(t); k++) { /* a composite's children */
        double p = progress(dt_twin_child(t, k), tsec, duration);
        if (p >= 0 && (f < 0 || p < f))
            f = p;
    }
    return f;
}

typedef struct run_state {
    dt_twin *twin;
#ifdef DTWIN_CLI_REALTIME
    dt_uv *drv; /* --realtime */
#endif
    cli_outputs *out;
    double duration, every, next_stats, t_end, wall0, next_progress;
    int quiet, json, tty, done;
} run_state;

/* After each step: outputs, the stats line, the progress line, the end. */
static void after_step(void *user, dt_twin *t, dt_time now)
{
    run_state *r = user;
    double tsec = dt_time_to_sec(now);
    r->t_end = tsec;
    double period = dt_twin_period_s(t);
    r->done = (r->duration > 0 && tsec + period > r->duration + 1e-12) ||
              (r->duration == 0 && replay_done(t));
    int talk = !r->quiet && !r->json;
    /* the summary follows the last step: its line is printed once, there */
    if (r->every > 0 && tsec >= r->next_stats - 1e-12) {
        r->next_stats += r->every;
        if (talk && !r->done) {
            if (r->tty)
                printf("\r\033[K");
            cli_print_line(stdout, t, tsec);
        }
    }
    double w = wall_s();
    if (r->tty && w >= r->next_progress) {
        r->next_progress = w + 0.2;
        double f = progress(t, tsec, r->duration), spent = w - r->wall0;
        printf("\r\033[K  t = %.1f s", tsec);
        if (f >= 0)
            printf(", %.0f %%", 100 * f);
        /* the rate is known after a second; before, an estimate would be noise */
        if (f > 0 && f < 1 && spent >= 1)
            printf(", about %.0f s left", spent * (1 - f) / f);
        fflush(stdout);
    }
#ifdef DTWIN_CLI_REALTIME
    if (r->done && r->drv != NULL)
        dt_uv_stop(r->drv);
#endif
}

#ifdef DTWIN_CLI_REALTIME

/* --realtime: the twin on a libuv loop until the duration, the end of the
 * replay, or SIGINT/SIGTERM. */
static int run_realtime(run_state *r)
{
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0)
        return EXIT_RUNTIME;
    int rc = dt_uv_attach(r->twin, &loop, 0, 1, &r->drv);
    if (rc != DT_OK) {
        fprintf(stderr, "dtwin run: the twin did not start: %s%s%s\n", dt_strerror(rc),
                dt_twin_errmsg(r->twin)[0] ? ": " : "", dt_twin_errmsg(r->twin));
        uv_loop_close(&loop);
        return EXIT_RUNTIME;
    }
    dt_uv_on_step(r->drv, after_step, r);
    uv_run(&loop, UV_RUN_DEFAULT);
    int signaled = 0, status = dt_uv_status(r->drv, &signaled);
    dt_uv_detach(r->drv);
    uv_run(&loop, UV_RUN_DEFAULT); /* let the handles close */
    uv_loop_close(&loop);
    if (signaled)
        fprintf(stderr, "dtwin run: stopped by a signal\n");
    if (status != DT_OK && status != DT_ENOTFOUND) {
        fprintf(stderr, "dtwin run: a step failed: %s%s%s\n", dt_strerror(status),
                dt_twin_errmsg(r->twin)[0] ? ": " : "", dt_twin_errmsg(r->twin));
        return EXIT_RUNTIME;
    }
    return EXIT_OK;
}
#else
static int run_realtime(run_state *r)
{
    (void)r;
    return EXIT_USAGE; /* refused by parse_run */
}
#endif

/* --fast: steps at k periods of data time until the duration or the end. */
static int run_fast(run_state *r, const char *file)
{
    dt_twin *t = r->twin;
    int rc = dt_twin_start(t, 0);
    if (rc != DT_OK) {
        fprintf(stderr, "dtwin run: %s: the twin did not start: %s%s%s\n", file, dt_strerror(rc),
                dt_twin_errmsg(t)[0] ? ": " : "", dt_twin_errmsg(t));
        return EXIT_RUNTIME;
    }
    double period = dt_twin_period_s(t);
    r->done = r->duration > 0 && period > r->duration + 1e-12;
    for (uint64_t k = 1; !r->done; k++) {
        dt_time now = (dt_time)((double)k * period * 1e9 + 0.5);
        rc = dt_twin_step(t, now);
        if (rc != DT_OK && rc != DT_ENOTFOUND) {
            fprintf(stderr, "dtwin run: step at %.9g s failed: %s%s%s\n", dt_time_to_sec(now),
                    dt_strerror(rc), dt_twin_errmsg(t)[0] ? ": " : "", dt_twin_errmsg(t));
            r->t_end = dt_time_to_sec(now);
            return EXIT_RUNTIME;
        }
        after_step(r, t, now);
    }
    dt_twin_stop(t);
    return EXIT_OK;
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

typedef struct run_opts {
    const char *file, *est, *cov, *cmd, *rec;
    double duration, every, max_safe;
    int json, quiet, realtime, strict, verbose;
} run_opts;

static int parse_run(int argc, char **argv, run_opts *o)
{
    int pace_given = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **file_opt = strcmp(a, "--estimates") == 0    ? &o->est
                                : strcmp(a, "--covariance") == 0 ? &o->cov
                                : strcmp(a, "--commands") == 0   ? &o->cmd
                                : strcmp(a, "--record") == 0     ? &o->rec
                                                                 : NULL;
        int rc = EXIT_OK;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            run_usage(stdout);
            return -1;
        } else if (file_opt != NULL) {
            if (v == NULL) {
                fprintf(stderr, "dtwin run: %s needs a file name\n", a);
                return EXIT_USAGE;
            }
            *file_opt = argv[++i];
        } else if (strcmp(a, "--duration") == 0 || strcmp(a, "--stats-every") == 0) {
            rc = parse_number(a, v, 0, 1e9, 1, a[2] == 'd' ? &o->duration : &o->every);
            i++;
        } else if (strcmp(a, "--max-safe-share") == 0) {
            rc = parse_number(a, v, 0, 1, 0, &o->max_safe);
            i++;
        } else if (strcmp(a, "--json") == 0) {
            o->json = 1;
        } else if (strcmp(a, "--strict") == 0) {
            o->strict = 1;
        } else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
            o->verbose = 1;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            o->quiet = 1;
        } else if (strcmp(a, "--fast") == 0 || strcmp(a, "--realtime") == 0) {
            int rt = strcmp(a, "--realtime") == 0;
            if (pace_given && rt != o->realtime) {
                fprintf(stderr, "dtwin run: --fast and --realtime exclude each other\n");
                return EXIT_USAGE;
            }
            o->realtime = rt;
            pace_given = 1;
        } else if (a[0] == '-') {
            fprintf(stderr, "dtwin run: unknown option '%s'\n", a);
            run_usage(stderr);
            return EXIT_USAGE;
        } else if (o->file != NULL) {
            fprintf(stderr, "dtwin run: more than one file given\n");
            return EXIT_USAGE;
        } else {
            o->file = a;
        }
        if (rc != EXIT_OK)
            return rc;
    }
#ifndef DTWIN_CLI_REALTIME
    if (o->realtime) {
        fprintf(stderr, "dtwin run: --realtime is not available: this dtwin was built without "
                        "libuv (DTWIN_WITH_UV=OFF); --fast steps on data time\n");
        return EXIT_USAGE;
    }
#endif
    if (o->file == NULL) {
        run_usage(stderr);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* The summary, and --strict's verdict. */
static int finish(dt_twin *t, const run_opts *o, run_state *r, int code)
{
    cli_summary s = {r->t_end, cli_logger_finish()};
    if (r->tty)
        printf("\r\033[K");
    if (o->json)
        cli_print_json(stdout, t, &s);
    else if (!o->quiet)
        cli_print_text(stdout, t, &s);
    if (code == EXIT_OK && o->strict) {
        uint64_t lost = cli_data_lost(t);
        double share = cli_safe_share(t, r->t_end);
        if (lost > 0)
            fprintf(stderr, "dtwin run: --strict: %llu samples lost or refused\n",
                    (unsigned long long)lost);
        if (share > o->max_safe)
            fprintf(stderr, "dtwin run: --strict: %.10g of the run in the safe state (allowed: "
                            "%.10g)\n",
                    share, o->max_safe);
        if (lost > 0 || share > o->max_safe)
            code = EXIT_STRICT;
    }
    return code;
}

int cli_run(int argc, char **argv)
{
    run_opts o;
    memset(&o, 0, sizeof o);
    int rc = parse_run(argc, argv, &o);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    dt_twin_options to = DT_TWIN_OPTIONS_INIT;
    to.logger = cli_logger("dtwin run", o.verbose);
    dt_twin *t = NULL;
    dt_diag diag;
    rc = dt_twin_load_file(o.file, &to, &t, &diag);
    if (rc != DT_OK) {
        fprintf(stderr, "dtwin run: %s: %s\n", o.file,
                diag.message[0] ? diag.message : dt_strerror(rc));
        return rc == DT_EIO ? EXIT_IO : EXIT_INVALID;
    }
    if (o.duration == 0 && csv_count(t) == 0) {
        fprintf(stderr, "dtwin run: %s has no CSV replay source: give --duration\n", o.file);
        dt_twin_destroy(t);
        return EXIT_USAGE;
    }
    run_state r;
    memset(&r, 0, sizeof r);
    r.twin = t;
    r.duration = o.duration;
    r.every = r.next_stats = o.every;
    r.quiet = o.quiet;
    r.json = o.json;
    r.tty = isatty(STDOUT_FILENO) && !o.quiet && !o.json;
    cli_logger_progress(r.tty);
    r.wall0 = wall_s();
    FILE *frec = NULL;
    rc = cli_outputs_open(&r.out, t, o.est, o.cov, o.cmd);
    if (rc == EXIT_OK && o.rec != NULL) {
        frec = fopen(o.rec, "wb");
        if (frec == NULL || dt_twin_record(t, file_write, frec) != DT_OK) {
            fprintf(stderr, "dtwin run: cannot write %s\n", o.rec);
            rc = EXIT_IO;
        }
    }
    if (rc == EXIT_OK) {
        rc = o.realtime ? run_realtime(&r) : run_fast(&r, o.file);
        rc = finish(t, &o, &r, rc);
    }
    int orc = cli_outputs_close(r.out);
    if (frec != NULL && fclose(frec) != 0 && orc == EXIT_OK) {
        fprintf(stderr, "dtwin run: writing %s failed\n", o.rec);
        orc = EXIT_IO;
    }
    dt_twin_destroy(t);
    return rc != EXIT_OK ? rc : orc;
}

static void replay_usage(FILE *f)
{
    fputs("usage: dtwin replay [--json] [--estimates F.csv] [--covariance F.csv]\n"
          "                    [--commands F.csv] LOG FILE.json\n"
          "\n"
          "Re-runs a flight log written by 'dtwin run --record' on the description it\n"
          "was recorded with (no adapter is opened): the same estimates and commands,\n"
          "bit for bit.\n",
          f);
}

static void replay_step(void *user, dt_twin *t, dt_time now)
{
    run_state *r = user;
    (void)t;
    r->t_end = dt_time_to_sec(now);
}

int cli_replay(int argc, char **argv)
{
    const char *files[2] = {NULL, NULL}, *est = NULL, *cov = NULL, *cmd = NULL;
    int nf = 0;
    run_opts o;
    memset(&o, 0, sizeof o);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char **file_opt = strcmp(a, "--estimates") == 0    ? &est
                                : strcmp(a, "--covariance") == 0 ? &cov
                                : strcmp(a, "--commands") == 0   ? &cmd
                                                                 : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            replay_usage(stdout);
            return EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            o.json = 1;
        } else if (file_opt != NULL && i + 1 < argc) {
            *file_opt = argv[++i];
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
    dt_twin_options to = DT_TWIN_OPTIONS_INIT;
    to.logger = cli_logger("dtwin replay", 0);
    to.replay = 1;
    dt_twin *t = NULL;
    dt_diag diag;
    int rc = dt_twin_load_file(files[1], &to, &t, &diag);
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
    run_state r;
    memset(&r, 0, sizeof r);
    rc = cli_outputs_open(&r.out, t, est, cov, cmd);
    if (rc == EXIT_OK) {
        rc = dt_twin_replay(t, file_read, f, replay_step, &r);
        if (rc != DT_OK) {
            /* the twin's message says it all when there is one (DT_EABI's
             * "ABI version mismatch" reads wrong for another description) */
            if (dt_twin_errmsg(t)[0] != '\0')
                fprintf(stderr, "dtwin replay: %s: %s\n", files[0], dt_twin_errmsg(t));
            else
                fprintf(stderr, "dtwin replay: %s: %s\n", files[0], dt_strerror(rc));
            rc = rc == DT_EABI || rc == DT_EPARSE ? EXIT_INVALID : EXIT_RUNTIME;
        } else {
            rc = finish(t, &o, &r, EXIT_OK);
        }
    }
    fclose(f);
    int orc = cli_outputs_close(r.out);
    dt_twin_destroy(t);
    return rc != EXIT_OK ? rc : orc;
}
